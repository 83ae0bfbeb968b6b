//! The settings-files target: every file the daemon reads from /data (and the configuration and
//! preseed file a person edits) is parsed by its real entry point. Parse errors are answers, not
//! failures; only a panic is a bug. The class is which parsers accepted the input.

use super::{class, Outcome};
use moment_recorder::buttons::ButtonsConfig;
use moment_recorder::config::source::SourceKind;
use moment_recorder::config::Config;
use moment_recorder::memories::Sidecar;
use moment_recorder::network::manager::SavedNetwork;
use moment_recorder::preseed::{ap_passphrase, Preseed, AP_FILE};
use moment_recorder::settings::{apply, Patch, SettingsView};
use moment_recorder::update::record;
use moment_recorder::upload::config::Window;
use moment_recorder::upload::{decode_queue, DEFAULT_MAX_ENTRIES};
use std::path::PathBuf;

pub fn files(input: &[u8]) -> Result<Outcome, String> {
    let text = String::from_utf8_lossy(input);
    let queue = decode_queue(input, DEFAULT_MAX_ENTRIES).map(|e| e.len().min(4) as u64);
    let accepted = [
        queue.map_or(0, |n| n + 1),
        toml_files(&text),
        json_files(input),
        state_files(input)?,
        u64::from(Window::parse(&text).is_ok()),
    ];
    Ok(class(&accepted))
}

/// config.toml (copied to /data/etc and edited there), its `[buttons]` table, /boot/moment.toml.
fn toml_files(text: &str) -> u64 {
    let config = Config::parse(text).map(|c| SettingsView::of(&c).to_json());
    let buttons = ButtonsConfig::from_toml(text).map(|b| b.validate().is_ok());
    let preseed = toml::from_str::<Preseed>(text).is_ok();
    u64::from(config.is_ok())
        | u64::from(buttons.is_ok()) << 1
        | u64::from(buttons.unwrap_or(false)) << 2
        | u64::from(preseed) << 3
}

/// settings.json over the default camera and over the test source (which has video knobs), and
/// the saved Wi-Fi network, as the daemon reads them.
fn json_files(input: &[u8]) -> u64 {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(input) else {
        return 0;
    };
    let mut bits = 1;
    if let Ok(patch) = Patch::from_json(&value) {
        bits |= 2;
        let mut test = Config::default();
        test.source.kind = SourceKind::Test;
        for (i, base) in [Config::default(), test].iter().enumerate() {
            let changes = patch.changes_from(&SettingsView::of(base));
            if apply(base, &changes).is_ok() {
                bits |= 4 << i;
            }
        }
    }
    if let Ok(saved) = serde_json::from_value::<SavedNetwork>(value) {
        bits |= 16 | u64::from(saved.station().is_ok()) << 5;
    }
    bits
}

/// update.json, a memory's sidecar and the access point's ap.json, read by their own loaders.
fn state_files(input: &[u8]) -> Result<u64, String> {
    let dir = scratch_dir()?;
    let path = dir.join("update.json");
    std::fs::write(&path, input).map_err(|e| format!("scratch write: {e}"))?;
    let (_, problem) = record::load(&path);
    let sidecar = dir.join("2026-12-06_14-03-22-MEMORY.mp4.json");
    std::fs::write(&sidecar, input).map_err(|e| format!("scratch write: {e}"))?;
    let read = Sidecar::read(&sidecar).is_ok();
    std::fs::write(dir.join(AP_FILE), input).map_err(|e| format!("scratch write: {e}"))?;
    let ap = ap_passphrase(&dir).is_some();
    // The loaders set bad files aside (`.bad`): leave nothing behind in the temporary directory.
    std::fs::remove_dir_all(&dir).map_err(|e| format!("scratch cleanup: {e}"))?;
    Ok(u64::from(problem.is_none()) | u64::from(read) << 1 | u64::from(ap) << 2)
}

/// A directory of this process and thread for the file-reading parsers.
fn scratch_dir() -> Result<PathBuf, String> {
    thread_local! {
        static DIR: PathBuf = std::env::temp_dir().join(format!(
            "moment-fuzz-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ).replace(['(', ')'], ""));
    }
    let dir = DIR.with(Clone::clone);
    std::fs::create_dir_all(&dir).map_err(|e| format!("scratch dir {}: {e}", dir.display()))?;
    Ok(dir)
}
