//! The settings a person changed, kept across restarts in `state.dir/settings.json` (the
//! configuration file is read-only on the device and stays the base). Written whole and
//! atomically (atomic_file.rs, mode 0600); read once at start with a size bound. A file that
//! cannot be read, parsed or applied must never keep the recorder from starting: it is set aside
//! as `settings.json.bad`, reported, and the configuration file's values apply.

use super::{apply, Patch, SettingsView};
use crate::config::Config;
use std::path::Path;

/// The overlay's file name in `state.dir`.
pub const SETTINGS_FILE: &str = "settings.json";
/// Largest overlay read; a real one is a few hundred bytes.
pub const MAX_SETTINGS_BYTES: u64 = 64 << 10;

/// The configuration with the overlay applied.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub config: Config,
    /// What the file held (empty when there was none or it was set aside).
    pub overlay: Patch,
    /// Something the person should know (the file was set aside, or part of it no longer
    /// applies), for the log and the status.
    pub problem: Option<String>,
}

/// Reads `dir/settings.json` and applies it over `base`.
pub fn load(base: &Config, dir: &Path) -> Loaded {
    let path = dir.join(SETTINGS_FILE);
    match read(base, &path) {
        Ok(Some((config, overlay, problem))) => Loaded {
            config,
            overlay,
            problem,
        },
        Ok(None) => Loaded {
            config: base.clone(),
            overlay: Patch::default(),
            problem: None,
        },
        Err(why) => {
            let problem = match crate::atomic_file::set_aside(&path) {
                Ok(_) => format!(
                    "{SETTINGS_FILE} was not used ({why}); it is kept as {SETTINGS_FILE}.bad and \
                     the configuration file's values apply"
                ),
                Err(e) => format!(
                    "{SETTINGS_FILE} was not used ({why}) and could not be set aside ({e}); the \
                     configuration file's values apply"
                ),
            };
            Loaded {
                config: base.clone(),
                overlay: Patch::default(),
                problem: Some(problem),
            }
        }
    }
}

/// The applied configuration, the overlay as read, and a note for the person.
type Applied = (Config, Patch, Option<String>);

fn read(base: &Config, path: &Path) -> Result<Option<Applied>, String> {
    let Some(bytes) = crate::atomic_file::read_small(path, MAX_SETTINGS_BYTES)? else {
        return Ok(None);
    };
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("not valid JSON: {e}"))?;
    let mut overlay = Patch::from_json(&value).map_err(|e| e.message)?;
    let view = SettingsView::of(base);
    let mut problem = None;
    if overlay.video.is_some() && view.video.is_none() {
        // The configuration file changed to a source without these knobs: nothing wrong with the
        // rest of the person's settings.
        overlay.video = None;
        problem = Some(format!(
            "the video settings in {SETTINGS_FILE} were dropped: the configured source has none"
        ));
    }
    let config = apply(base, &overlay.changes_from(&view)).map_err(|e| e.message)?;
    Ok(Some((config, overlay, problem)))
}

/// Writes `overlay` as `dir/settings.json`, atomically and durably, readable only by the daemon.
pub fn save(dir: &Path, overlay: &Patch) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(overlay).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    if bytes.len() as u64 > MAX_SETTINGS_BYTES {
        // Cannot happen (every field is bounded); refuse rather than write what `load` refuses.
        return Err(std::io::Error::other("the settings are too large to save"));
    }
    crate::atomic_file::write_atomic(&dir.join(SETTINGS_FILE), &bytes)
}
