//! The daemon's configuration (TOML, documented key by key in docs/config.md). Read and checked
//! once at start: an unknown key, a wrong type or a value out of range stops the daemon with a
//! message that names the key and says what to write instead, rather than a camera that
//! misbehaves later.

pub mod source;

use std::time::Duration;

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
