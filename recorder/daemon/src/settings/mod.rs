//! Runtime settings: what a person changes from the phone (how much a SAVE keeps, when uploads
//! run, the camera's size and rate) without editing the configuration file. The file stays the
//! base, read once at start; the person's changes are an overlay on top of it, kept in
//! `state.dir/settings.json` (overlay.rs) and applied over the configuration at start, and live by
//! the daemon (service/settings.rs).
//!
//! This module is the model only: the JSON shape of `GET/PUT /api/settings` (docs/api.md), its
//! checks with errors that name the field and the allowed values, and how a change becomes a new
//! [`Config`]. The settings page's ranges are narrower than the file's; after them, the file's
//! own checks (`ButtonsConfig::validate`, `UploadConfig::validate`, `SourceConfig::validate`) run
//! on the result, so no rule of those is written twice.

mod overlay;
mod parse;

pub use overlay::{load, save, Loaded, MAX_SETTINGS_BYTES, SETTINGS_FILE};

use crate::buttons::ButtonsConfig;
use crate::config::source::{SourceConfig, SourceKind};
use crate::config::Config;
use crate::upload::config::Window;
use crate::upload::{Policy, UploadConfig};
use serde::Serialize;

/// `memories.save_minutes`: what a quick SAVE keeps and each hold step adds.
pub const SAVE_MINUTES: (f64, f64) = (0.5, 30.0);
/// `memories.hold_step_s`: how long SAVE is held for each extra step.
pub const HOLD_STEP_S: (f64, f64) = (1.0, 10.0);
/// `video.width` x `video.height`: the sizes the Pi camera and the test pattern both make well.
pub const VIDEO_SIZES: [(u32, u32); 3] = [(1920, 1080), (1280, 720), (640, 480)];
/// `video.fps`.
pub const MAX_FPS: u32 = 60;
/// The Pi's hardware H.264 encoder (which rpicam-vid uses) stops at 1080p30.
pub const PICAM_1080P_MAX_FPS: u32 = 30;
/// `video.bitrate_kbps`.
pub const BITRATE_KBPS: (u32, u32) = (200, 25_000);

/// Every field, as `section.name`.
pub const FIELDS: [&str; 10] = [
    "memories.save_minutes",
    "memories.hold_step_s",
    "upload.policy",
    "upload.window",
    "upload.bwlimit",
    "upload.remote",
    "video.width",
    "video.height",
    "video.fps",
    "video.bitrate_kbps",
];

/// The settings as `GET /api/settings` answers them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SettingsView {
    pub memories: MemoriesView,
    pub upload: UploadView,
    /// `None` for sources without these knobs (gopro, ffmpeg, stdin).
    pub video: Option<VideoView>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemoriesView {
    pub save_minutes: f64,
    pub hold_step_s: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UploadView {
    pub policy: Policy,
    pub window: String,
    pub bwlimit: String,
    /// rclone destination `remote:path`; empty = uploads off (the wizard sets it).
    pub remote: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct VideoView {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
}

impl SettingsView {
    pub fn of(config: &Config) -> SettingsView {
        SettingsView {
            memories: MemoriesView {
                save_minutes: config.buttons.save_step_s / 60.0,
                hold_step_s: config.buttons.hold_step_s,
            },
            upload: UploadView {
                policy: config.upload.policy,
                window: config.upload.window.clone(),
                bwlimit: config.upload.bwlimit.clone(),
                remote: config.upload.remote.clone(),
            },
            video: VideoView::of(&config.source),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|e| {
            // Plain numbers and strings always serialise; this is only a guard.
            tracing::error!(error = %e, "settings: cannot serialise");
            serde_json::Value::Null
        })
    }
}

impl VideoView {
    /// The selected source's video settings, if it has them.
    pub fn of(source: &SourceConfig) -> Option<VideoView> {
        let (width, height, fps, bitrate) = match source.kind {
            SourceKind::Picam => {
                let p = &source.picam;
                (p.width, p.height, p.fps, p.bitrate)
            }
            SourceKind::Test => {
                let t = &source.test;
                (t.width, t.height, t.fps, t.bitrate)
            }
            SourceKind::Gopro | SourceKind::Ffmpeg | SourceKind::Stdin => return None,
        };
        Some(VideoView {
            width,
            height,
            fps,
            bitrate_kbps: bitrate / 1000,
        })
    }
}

impl std::fmt::Display for VideoView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}x{}@{} {} kbit/s",
            self.width, self.height, self.fps, self.bitrate_kbps
        )
    }
}

/// A change: only the fields given. Also the overlay file's contents (only what the person set).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Patch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memories: Option<MemoriesPatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<UploadPatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video: Option<VideoPatch>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MemoriesPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub save_minutes: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_step_s: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct UploadPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bwlimit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VideoPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fps: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bitrate_kbps: Option<u32>,
}

impl Patch {
    /// Reads a `PUT /api/settings` body or the overlay file: an object of sections, each an
    /// object of fields; `null` (a section or a field) changes nothing. Unknown fields are an
    /// error naming them; a value of the wrong type names its field and what it takes.
    pub fn from_json(value: &serde_json::Value) -> Result<Patch, SettingsError> {
        parse::patch(value)
    }

    pub fn is_empty(&self) -> bool {
        self.memories.is_none() && self.upload.is_none() && self.video.is_none()
    }

    /// Only the fields whose value differs from `current`: setting a value to what it already is
    /// changes nothing, and is accepted even when the configuration file holds a value outside
    /// the settings page's ranges (a page that sends back the whole form must not fail on it).
    pub fn changes_from(&self, current: &SettingsView) -> Patch {
        fn differs<T: PartialEq + Clone>(new: &Option<T>, now: T) -> Option<T> {
            new.clone().filter(|v| *v != now)
        }
        let memories = self.memories.as_ref().map(|m| MemoriesPatch {
            save_minutes: differs(&m.save_minutes, current.memories.save_minutes),
            hold_step_s: differs(&m.hold_step_s, current.memories.hold_step_s),
        });
        let upload = self.upload.as_ref().map(|u| UploadPatch {
            policy: differs(&u.policy, current.upload.policy),
            window: differs(&u.window, current.upload.window.clone()),
            bwlimit: differs(&u.bwlimit, current.upload.bwlimit.clone()),
            remote: differs(&u.remote, current.upload.remote.clone()),
        });
        let video = self.video.map(|v| match current.video {
            Some(now) => VideoPatch {
                width: differs(&v.width, now.width),
                height: differs(&v.height, now.height),
                fps: differs(&v.fps, now.fps),
                bitrate_kbps: differs(&v.bitrate_kbps, now.bitrate_kbps),
            },
            // Kept whole so `apply` says the source has no such settings.
            None => v,
        });
        Patch {
            memories: memories.filter(|m| *m != MemoriesPatch::default()),
            upload: upload.filter(|u| *u != UploadPatch::default()),
            video: video.filter(|v| *v != VideoPatch::default()),
        }
    }

    /// `self` with every field that `newer` gives replaced by it.
    pub fn merged(&self, newer: &Patch) -> Patch {
        fn pick<T: Clone>(newer: &Option<T>, older: &Option<T>) -> Option<T> {
            newer.clone().or_else(|| older.clone())
        }
        let memories = match (&self.memories, &newer.memories) {
            (old, None) => old.clone(),
            (old, Some(new)) => {
                let old = old.clone().unwrap_or_default();
                Some(MemoriesPatch {
                    save_minutes: pick(&new.save_minutes, &old.save_minutes),
                    hold_step_s: pick(&new.hold_step_s, &old.hold_step_s),
                })
            }
        };
        let upload = match (&self.upload, &newer.upload) {
            (old, None) => old.clone(),
            (old, Some(new)) => {
                let old = old.clone().unwrap_or_default();
                Some(UploadPatch {
                    policy: pick(&new.policy, &old.policy),
                    window: pick(&new.window, &old.window),
                    bwlimit: pick(&new.bwlimit, &old.bwlimit),
                    remote: pick(&new.remote, &old.remote),
                })
            }
        };
        let video = match (self.video, newer.video) {
            (old, None) => old,
            (old, Some(new)) => {
                let old = old.unwrap_or_default();
                Some(VideoPatch {
                    width: new.width.or(old.width),
                    height: new.height.or(old.height),
                    fps: new.fps.or(old.fps),
                    bitrate_kbps: new.bitrate_kbps.or(old.bitrate_kbps),
                })
            }
        };
        Patch {
            memories,
            upload,
            video,
        }
    }
}

/// Why a change was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingsError {
    pub kind: ErrorKind,
    /// The field at fault (`memories.save_minutes`), or the section.
    pub field: Option<String>,
    /// Names the field and what it takes.
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A value the settings do not take (HTTP 400).
    Invalid,
    /// Not now: a video change is still being tried (HTTP 409).
    Busy,
    /// The daemon could not keep the change (HTTP 500); details in the log.
    Failed,
}

impl SettingsError {
    pub fn invalid(field: &str, message: impl Into<String>) -> SettingsError {
        SettingsError {
            kind: ErrorKind::Invalid,
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    pub fn busy(field: &str, message: impl Into<String>) -> SettingsError {
        SettingsError {
            kind: ErrorKind::Busy,
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    pub fn failed(message: impl Into<String>) -> SettingsError {
        SettingsError {
            kind: ErrorKind::Failed,
            field: None,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SettingsError {}

/// What each field takes, for error messages.
pub fn rule(field: &str) -> &'static str {
    match field {
        "memories.save_minutes" => "a number of minutes from 0.5 to 30",
        "memories.hold_step_s" => "a number of seconds from 1 to 10",
        "upload.policy" => "one of immediate, window, manual",
        "upload.window" => "HH:MM-HH:MM in local time, such as 01:00-05:00",
        "upload.bwlimit" => "an rclone --bwlimit value such as 1M, or \"\" for no limit",
        "upload.remote" => {
            "an rclone destination remote:path such as moment:memories, or \"\" for none"
        }
        "video.width" | "video.height" => {
            "a whole number; width x height one of 1920x1080, 1280x720, 640x480"
        }
        "video.fps" => {
            "a whole number of frames per second from 1 to 60 (the Pi camera: at most 30 at \
             1920x1080)"
        }
        "video.bitrate_kbps" => "a whole number of kbit/s from 200 to 25000",
        _ => "see docs/api.md",
    }
}

/// `current` with `patch` applied and checked. Every field given is checked against the
/// settings page's ranges, so pass [`Patch::changes_from`] to leave unchanged values alone.
pub fn apply(current: &Config, patch: &Patch) -> Result<Config, SettingsError> {
    let mut next = current.clone();
    if let Some(m) = &patch.memories {
        apply_memories(&mut next.buttons, m)?;
    }
    if let Some(u) = &patch.upload {
        apply_upload(&mut next.upload, u)?;
    }
    if let Some(v) = &patch.video {
        apply_video(&mut next.source, v)?;
    }
    Ok(next)
}

fn out_of_range(field: &str, got: impl std::fmt::Display) -> SettingsError {
    SettingsError::invalid(
        field,
        format!("{field} must be {} (got {got})", rule(field)),
    )
}

fn apply_memories(buttons: &mut ButtonsConfig, m: &MemoriesPatch) -> Result<(), SettingsError> {
    let within = |(min, max): (f64, f64), v: f64| (min..=max).contains(&v);
    if let Some(minutes) = m.save_minutes {
        if !within(SAVE_MINUTES, minutes) {
            return Err(out_of_range("memories.save_minutes", minutes));
        }
        buttons.save_step_s = minutes * 60.0;
    }
    if let Some(seconds) = m.hold_step_s {
        if !within(HOLD_STEP_S, seconds) {
            return Err(out_of_range("memories.hold_step_s", seconds));
        }
        buttons.hold_step_s = seconds;
    }
    buttons.validate().map(drop).map_err(|e| {
        let field = if e.0.starts_with("buttons.save_step_s") {
            "memories.save_minutes"
        } else if e.0.starts_with("buttons.hold_step_s") {
            "memories.hold_step_s"
        } else {
            "memories"
        };
        SettingsError::invalid(field, format!("{field} cannot be used: {e}"))
    })
}

fn apply_upload(upload: &mut UploadConfig, u: &UploadPatch) -> Result<(), SettingsError> {
    if let Some(policy) = u.policy {
        upload.policy = policy;
    }
    if let Some(window) = &u.window {
        upload.window = window.trim().to_owned();
    }
    if let Some(bwlimit) = &u.bwlimit {
        upload.bwlimit = bwlimit.trim().to_owned();
    }
    if let Some(remote) = &u.remote {
        upload.remote = remote.trim().to_owned();
    }
    upload.validate().map_err(|e| {
        let field = match e.key {
            "upload.policy" | "upload.window" | "upload.bwlimit" | "upload.remote" => e.key,
            _ => "upload",
        };
        SettingsError::invalid(field, e.to_string())
    })?;
    // One spelling (`01:00-05:00`) whatever spaces were sent; it parsed just above.
    if let Ok(window) = Window::parse(&upload.window) {
        upload.window = window.to_string();
    }
    Ok(())
}

fn apply_video(source: &mut SourceConfig, v: &VideoPatch) -> Result<(), SettingsError> {
    let Some(now) = VideoView::of(source) else {
        return Err(SettingsError::invalid(
            "video",
            format!(
                "the source (source.kind = {}) has no video settings; only the picam and test \
                 sources have them",
                kind_name(source.kind)
            ),
        ));
    };
    let (width, height) = (v.width.unwrap_or(now.width), v.height.unwrap_or(now.height));
    let size_changed = (width, height) != (now.width, now.height);
    if size_changed && !VIDEO_SIZES.contains(&(width, height)) {
        let field = if v.width.is_some() {
            "video.width"
        } else {
            "video.height"
        };
        return Err(SettingsError::invalid(
            field,
            format!(
                "video.width x video.height must be one of 1920x1080, 1280x720, 640x480 (got \
                 {width}x{height})"
            ),
        ));
    }
    let fps = v.fps.unwrap_or(now.fps);
    if v.fps.is_some() || size_changed {
        let max = match (source.kind, width, height) {
            (SourceKind::Picam, 1920, 1080) => PICAM_1080P_MAX_FPS,
            _ => MAX_FPS,
        };
        if !(1..=max).contains(&fps) {
            return Err(SettingsError::invalid(
                "video.fps",
                format!(
                    "video.fps must be 1 to {max} frames per second at {width}x{height} for this \
                     source (got {fps})"
                ),
            ));
        }
    }
    let bitrate = match v.bitrate_kbps {
        Some(kbps) if !(BITRATE_KBPS.0..=BITRATE_KBPS.1).contains(&kbps) => {
            return Err(out_of_range("video.bitrate_kbps", kbps));
        }
        // At most 25 000 000: fits the u32 the sources take.
        Some(kbps) => Some(kbps * 1000),
        None => None,
    };
    let (w, h, f, b) = match source.kind {
        SourceKind::Picam => {
            let p = &mut source.picam;
            (&mut p.width, &mut p.height, &mut p.fps, &mut p.bitrate)
        }
        // Only picam and test have a view (checked above).
        _ => {
            let t = &mut source.test;
            (&mut t.width, &mut t.height, &mut t.fps, &mut t.bitrate)
        }
    };
    (*w, *h, *f) = (width, height, fps);
    if let Some(bitrate) = bitrate {
        *b = bitrate;
    }
    source
        .validate()
        .map_err(|e| SettingsError::invalid("video", format!("video cannot be used: {e}")))
}

fn kind_name(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Picam => "picam",
        SourceKind::Gopro => "gopro",
        SourceKind::Ffmpeg => "ffmpeg",
        SourceKind::Test => "test",
        SourceKind::Stdin => "stdin",
    }
}

#[cfg(test)]
mod tests;
