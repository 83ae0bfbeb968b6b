//! The `[upload]` settings. Every key has a default so a device with no upload settings still
//! starts (uploads off until a remote is set), unknown keys are refused so a typo is not silently
//! ignored, and `validate` turns each bad value into a message that names the key and the fix.

use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// When uploads start.
#[derive(Clone, Copy, Debug, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// As soon as a memory is queued; an unreachable remote is found by trying (and backing off).
    #[default]
    Immediate,
    /// Only inside `window` (local time), e.g. at night on a metered link.
    Window,
    /// Only when asked: the UPLOAD button or the web UI.
    Manual,
}

/// The `[upload]` table as written in the configuration file.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct UploadConfig {
    /// rclone destination, `remote:path` (e.g. `moment:memories`); empty turns uploads off.
    pub remote: String,
    pub policy: Policy,
    /// `HH:MM-HH:MM` in local time; may wrap midnight (`22:00-06:00`). Used by `policy = "window"`.
    pub window: String,
    /// The rclone program: a path, or a name looked up on PATH.
    pub rclone: PathBuf,
    /// The device's own rclone.conf (kept at mode 0600: it holds credentials).
    pub rclone_config: PathBuf,
    /// First retry delay after a failure; doubles per failure up to `backoff_max_s`.
    pub backoff_min_s: u64,
    pub backoff_max_s: u64,
    /// Longest one rclone run (an upload, or hashing the local file) may take before it is killed.
    pub timeout_s: u64,
    /// Passed to rclone as `--bwlimit` (e.g. `1M`, or a timetable `08:00,512k 23:00,off`); empty
    /// means no limit.
    pub bwlimit: String,
}

impl Default for UploadConfig {
    fn default() -> Self {
        UploadConfig {
            remote: String::new(),
            policy: Policy::Immediate,
            window: "01:00-05:00".into(),
            rclone: "rclone".into(),
            rclone_config: "/data/rclone/rclone.conf".into(),
            backoff_min_s: 30,
            backoff_max_s: 3600,
            // Four hours: a long memory over a slow uplink is legitimately slow; rclone's own idle
            // timeout (5 min without progress) catches a stalled connection much earlier.
            timeout_s: 4 * 3600,
            bwlimit: String::new(),
        }
    }
}

/// A setting that cannot be used: which key, and what to write instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The full key, e.g. `upload.window`.
    pub key: &'static str,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

fn bad(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key,
        message: message.into(),
    }
}

/// A daily time range in minutes since local midnight; `end` may be before `start` (wraps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: u16,
    pub end: u16,
}

impl Window {
    /// Parses `HH:MM-HH:MM`. Equal ends are refused: "always" is `policy = "immediate"`.
    pub fn parse(text: &str) -> Result<Window, ConfigError> {
        let expected = "expected HH:MM-HH:MM such as 01:00-05:00";
        let (a, b) = text
            .trim()
            .split_once('-')
            .ok_or_else(|| bad("upload.window", format!("{expected} (got {text:?})")))?;
        let start = parse_hhmm(a.trim())
            .ok_or_else(|| bad("upload.window", format!("{expected} (got {text:?})")))?;
        let end = parse_hhmm(b.trim())
            .ok_or_else(|| bad("upload.window", format!("{expected} (got {text:?})")))?;
        if start == end {
            return Err(bad(
                "upload.window",
                format!(
                    "start and end are both {}; to upload at any time use policy = \"immediate\"",
                    a.trim()
                ),
            ));
        }
        Ok(Window { start, end })
    }

    /// Whether `minute` (0..1440, local) is inside the window; the start is inside, the end not.
    pub fn contains(&self, minute: u16) -> bool {
        if self.start < self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        write!(f, "{}-{}", hm(self.start), hm(self.end))
    }
}

fn parse_hhmm(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || !digits(m) {
        return None;
    }
    let (h, m) = (h.parse::<u16>().ok()?, m.parse::<u16>().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// The checked settings the uploader runs with.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// Empty: uploads are off (the queue is still kept).
    pub remote: String,
    pub policy: Policy,
    pub window: Window,
    pub rclone: PathBuf,
    pub rclone_config: PathBuf,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub timeout: Duration,
    pub bwlimit: Option<String>,
}

/// Longest accepted backoff and timeout: a day. Anything longer is a typo, and the bounds keep
/// the arithmetic on them far from overflow.
const MAX_SECONDS: u64 = 86_400;

impl UploadConfig {
    /// Checks every key; the first bad one is reported with its name and the fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.settings().map(|_| ())
    }

    pub(crate) fn settings(&self) -> Result<Settings, ConfigError> {
        let remote = self.remote.trim().to_owned();
        check_remote(&remote)?;
        let window = Window::parse(&self.window)?;
        if self.rclone.as_os_str().is_empty() {
            return Err(bad(
                "upload.rclone",
                "empty; set it to \"rclone\" or the program's full path",
            ));
        }
        if self.rclone_config.as_os_str().is_empty() || !self.rclone_config.is_absolute() {
            return Err(bad(
                "upload.rclone_config",
                format!(
                    "expected an absolute path such as /data/rclone/rclone.conf (got {:?})",
                    self.rclone_config
                ),
            ));
        }
        if !(1..=MAX_SECONDS).contains(&self.backoff_min_s) {
            return Err(bad(
                "upload.backoff_min_s",
                format!(
                    "expected 1 to {MAX_SECONDS} seconds (got {})",
                    self.backoff_min_s
                ),
            ));
        }
        if !(self.backoff_min_s..=MAX_SECONDS).contains(&self.backoff_max_s) {
            return Err(bad(
                "upload.backoff_max_s",
                format!(
                    "expected backoff_min_s ({}) to {MAX_SECONDS} seconds (got {})",
                    self.backoff_min_s, self.backoff_max_s
                ),
            ));
        }
        if !(10..=MAX_SECONDS).contains(&self.timeout_s) {
            return Err(bad(
                "upload.timeout_s",
                format!(
                    "expected 10 to {MAX_SECONDS} seconds (got {})",
                    self.timeout_s
                ),
            ));
        }
        let bwlimit = self.bwlimit.trim();
        if !plausible_bwlimit(bwlimit) {
            return Err(bad(
                "upload.bwlimit",
                "expected an rclone --bwlimit value such as 1M or \"08:00,512k 23:00,off\"",
            ));
        }
        Ok(Settings {
            remote,
            policy: self.policy,
            window,
            rclone: self.rclone.clone(),
            rclone_config: self.rclone_config.clone(),
            backoff_min: Duration::from_secs(self.backoff_min_s),
            backoff_max: Duration::from_secs(self.backoff_max_s),
            timeout: Duration::from_secs(self.timeout_s),
            bwlimit: (!bwlimit.is_empty()).then(|| bwlimit.to_owned()),
        })
    }
}

/// What rclone's `--bwlimit` is made of: sizes (`512k`, `1.5M`, `off`), `UP:DOWN` pairs and
/// timetables (`08:00,512k Mon-23:00,off`). rclone checks the rest; this keeps out what could
/// never be one, and a leading `-` that would read as another option.
fn plausible_bwlimit(text: &str) -> bool {
    text.len() <= 200
        && !text.starts_with('-')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".:,- ".contains(&b))
}

/// rclone destinations are `name:path`, `:backend,opts:path` or an absolute local path. Anything
/// else would be read by rclone as a path relative to the daemon's working directory.
fn check_remote(remote: &str) -> Result<(), ConfigError> {
    if remote.is_empty() {
        return Ok(());
    }
    let example = "expected an rclone destination such as moment:memories (a remote from \
                   rclone.conf, a colon, a folder)";
    if remote.len() > 1024 || remote.chars().any(char::is_control) {
        return Err(bad("upload.remote", example));
    }
    if remote.starts_with('/') || remote.contains(':') {
        Ok(())
    } else {
        Err(bad("upload.remote", format!("{example} (got {remote:?})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_and_wrap_midnight() {
        let night = Window::parse("22:30-06:00").expect("valid");
        assert_eq!((night.start, night.end), (22 * 60 + 30, 360));
        assert!(night.contains(23 * 60));
        assert!(night.contains(0));
        assert!(night.contains(359));
        assert!(!night.contains(360));
        assert!(!night.contains(12 * 60));
        assert!(night.contains(22 * 60 + 30));
        let day = Window::parse(" 01:00 - 05:00 ").expect("valid");
        assert!(day.contains(60) && day.contains(299) && !day.contains(300) && !day.contains(59));
        assert_eq!(day.to_string(), "01:00-05:00");
        for bad in [
            "",
            "1:00-05:00",
            "01:00",
            "24:00-01:00",
            "01:60-02:00",
            "01:00-01:00",
            "aa",
        ] {
            let e = Window::parse(bad).expect_err(bad);
            assert_eq!(e.key, "upload.window", "{bad}");
        }
    }

    #[test]
    fn defaults_are_valid_and_uploads_off() {
        let s = UploadConfig::default().settings().expect("defaults valid");
        assert!(s.remote.is_empty());
        assert_eq!(s.policy, Policy::Immediate);
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases: Vec<(&str, UploadConfig)> = vec![
            (
                "upload.remote",
                UploadConfig {
                    remote: "memories".into(),
                    ..Default::default()
                },
            ),
            (
                "upload.window",
                UploadConfig {
                    window: "late".into(),
                    ..Default::default()
                },
            ),
            (
                "upload.backoff_min_s",
                UploadConfig {
                    backoff_min_s: 0,
                    ..Default::default()
                },
            ),
            (
                "upload.backoff_max_s",
                UploadConfig {
                    backoff_min_s: 60,
                    backoff_max_s: 10,
                    ..Default::default()
                },
            ),
            (
                "upload.timeout_s",
                UploadConfig {
                    timeout_s: 1,
                    ..Default::default()
                },
            ),
            (
                "upload.rclone_config",
                UploadConfig {
                    rclone_config: "x.conf".into(),
                    ..Default::default()
                },
            ),
            (
                "upload.rclone",
                UploadConfig {
                    rclone: "".into(),
                    ..Default::default()
                },
            ),
        ];
        for (key, config) in cases {
            let e = config.validate().expect_err(key);
            assert_eq!(e.key, key);
            assert!(e.to_string().starts_with(key), "{e}");
        }
    }

    #[test]
    fn bwlimits_look_like_rclone_ones() {
        for good in [
            "",
            "1M",
            "1.5M",
            "512k",
            "10M:off",
            "08:00,512k 23:00,off",
            "Mon-10:00,1M",
        ] {
            let config = UploadConfig {
                bwlimit: good.into(),
                ..Default::default()
            };
            assert!(config.validate().is_ok(), "{good:?}");
        }
        for bad in [
            "-1M",
            "--config=/x",
            "1M;reboot",
            "1\tM",
            "ü",
            &"1".repeat(201),
        ] {
            let config = UploadConfig {
                bwlimit: bad.into(),
                ..Default::default()
            };
            let e = config.validate().expect_err(bad);
            assert_eq!(e.key, "upload.bwlimit", "{bad:?}");
        }
    }

    #[test]
    fn toml_unknown_keys_are_refused_and_missing_keys_defaulted() {
        let c: UploadConfig =
            toml::from_str("remote = \"m:x\"\npolicy = \"window\"").expect("parses");
        assert_eq!(c.policy, Policy::Window);
        assert_eq!(c.backoff_min_s, 30);
        let e = toml::from_str::<UploadConfig>("remot = \"m:x\"").expect_err("typo refused");
        assert!(e.to_string().contains("remot"), "{e}");
    }
}
