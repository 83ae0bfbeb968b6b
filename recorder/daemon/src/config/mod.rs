//! The daemon's configuration (TOML, documented key by key in docs/config.md). Read and checked
//! once at start: an unknown key, a wrong type or a value out of range stops the daemon with a
//! message that names the key and says what to write instead, rather than a camera that
//! misbehaves later.

pub mod network;
pub mod source;
pub mod update;
pub mod usb;

use crate::buttons::ButtonsConfig;
use crate::upload::UploadConfig;
use moment_media::SegmenterConfig;
use serde::Deserialize;
use source::SourceConfig;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Largest configuration file read; a real one is a few KiB.
const MAX_CONFIG_BYTES: u64 = 256 << 10;

/// The whole file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub ring: RingConfig,
    pub source: SourceConfig,
    pub segments: SegmentsConfig,
    pub memories: MemoriesConfig,
    pub buttons: ButtonsConfig,
    pub upload: UploadConfig,
    pub state: StateConfig,
    pub control: ControlConfig,
    pub web: WebConfig,
    pub network: network::NetworkConfig,
    pub update: update::UpdateConfig,
    pub usb: usb::UsbConfig,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Address and port of the web app and API; empty turns the web server off.
    pub listen: String,
    /// The admin password as an argon2 PHC string (`moment-recorder hash-password`); empty refuses
    /// every request until one is set.
    pub password_hash: String,
    /// hls.js (`dist/hls.min.js` of its npm package) for browsers without native HLS; empty = none
    /// (the app still works, the live view then needs Safari).
    pub hls_js: PathBuf,
    /// mpegts.js (`dist/mpegts.js` of its npm package) for the live view under a second behind;
    /// empty = none (live then plays HLS, seconds further behind).
    pub mpegts_js: PathBuf,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: "0.0.0.0:80".into(),
            password_hash: String::new(),
            hls_js: PathBuf::from("/usr/share/moment-recorder/www/hls.min.js"),
            mpegts_js: PathBuf::from("/usr/share/moment-recorder/www/mpegts.js"),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RingConfig {
    /// The ring partition (or a file, for the demo).
    pub device: PathBuf,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            device: PathBuf::from("/dev/mmcblk0p5"),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SegmentsConfig {
    /// Target segment length in seconds (2 to 10); cuts land on the next keyframe.
    pub target_s: f64,
}

impl Default for SegmentsConfig {
    fn default() -> Self {
        SegmentsConfig { target_s: 5.0 }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoriesConfig {
    /// Where memories (MP4 files and their sidecars) live.
    pub dir: PathBuf,
    /// Keep at least this much free on the memories' filesystem (MiB).
    pub min_free_mib: u64,
}

impl Default for MemoriesConfig {
    fn default() -> Self {
        MemoriesConfig {
            dir: PathBuf::from("/data/memories"),
            min_free_mib: 256,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// The daemon's own state: upload queue, last known time.
    pub dir: PathBuf,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            dir: PathBuf::from("/data/state"),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    /// The local socket `moment-recorder press` talks to.
    pub socket: PathBuf,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            socket: crate::control::default_socket(),
        }
    }
}

impl Config {
    /// Reads, parses and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display();
        let meta = std::fs::metadata(path)
            .map_err(|e| ConfigError(format!("{shown}: cannot read the configuration: {e}")))?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError(format!(
                "{shown}: {} bytes is too large for a configuration (at most {MAX_CONFIG_BYTES})",
                meta.len()
            )));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{shown}: cannot read the configuration: {e}")))?;
        let config = Config::parse(&text).map_err(|e| ConfigError(format!("{shown}: {e}")))?;
        Ok(config)
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Every check that does not need the machine (files, devices) to exist.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.ring.device.as_os_str().is_empty() {
            return Err(key_error("ring.device", "give the ring partition or file"));
        }
        self.segmenter()?;
        self.source.validate()?;
        if self.memories.dir.is_relative() {
            return Err(key_error("memories.dir", "must be an absolute path"));
        }
        if self.state.dir.is_relative() {
            return Err(key_error("state.dir", "must be an absolute path"));
        }
        if !self.web.listen.is_empty() && self.web.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(key_error(
                "web.listen",
                format!(
                    "{:?} is not an address:port such as 0.0.0.0:80",
                    self.web.listen
                ),
            ));
        }
        if self.control.socket.is_relative() {
            return Err(key_error("control.socket", "must be an absolute path"));
        }
        self.buttons
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        self.upload
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        self.network.validate()?;
        self.update.validate()?;
        self.usb.validate()?;
        Ok(())
    }

    pub fn segmenter(&self) -> Result<SegmenterConfig, ConfigError> {
        let target = seconds("segments.target_s", self.segments.target_s)?;
        let config = SegmenterConfig::with_target(target);
        config
            .validate()
            .map_err(|e| key_error("segments.target_s", e))?;
        Ok(config)
    }
}

/// A configuration that cannot be used: names the file or key and what to write instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

pub(crate) fn key_error(key: &str, problem: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("{key}: {problem}"))
}

/// A whole number of milliseconds from a seconds value, refusing negative and absurd ones.
pub(crate) fn seconds(key: &str, value: f64) -> Result<Duration, ConfigError> {
    if !value.is_finite() || !(0.0..=86_400.0).contains(&value) {
        return Err(key_error(
            key,
            format!("{value} is not a number of seconds from 0 to 86400"),
        ));
    }
    Ok(Duration::from_millis((value * 1000.0).round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The TOML block of docs/config.md.
    fn documented() -> String {
        let doc = include_str!("../../../../docs/config.md");
        let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
        let end = start + doc[start..].find("```").expect("the block ends");
        doc[start..end].to_string()
    }

    #[test]
    fn the_documented_file_is_the_defaults() {
        let parsed = Config::parse(&documented()).expect("docs/config.md parses");
        let defaults = Config::default();
        assert_eq!(format!("{parsed:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("[segments]\ntarget_s = 1", "segments.target_s"),
            ("[source]\nsilence_s = -1", "source.silence_s"),
            ("[source]\nkind = \"webcam\"", "kind"),
            ("[ring]\ndevice = \"\"", "ring.device"),
            ("[memories]\ndir = \"relative\"", "memories.dir"),
            (
                "[source.gopro]\nhost = \"gopro.local\"",
                "source.gopro.host",
            ),
            ("[buttons]\nsave_pin = 99", "buttons.save_pin"),
            ("[upload]\nwindow = \"1-5\"", "upload.window"),
            ("[source.test]\nfps = 0", "source.test"),
            ("[nonsense]\nx = 1", "nonsense"),
            ("[web]\nlisten = \"localhost\"", "web.listen"),
        ];
        for (text, key) in cases {
            let err = Config::parse(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text:?} gave {err}");
        }
    }
}
