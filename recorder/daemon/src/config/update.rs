//! `[update]`: firmware updates through RAUC (DESIGN.md section 9). On the camera the recorder
//! receives bundles from the web app and hands them to `rauc service` over D-Bus, and confirms a
//! freshly updated system only once it records; on a laptop (`off`, the default) the update API
//! says there is nothing to update.

use super::{key_error, seconds, ConfigError};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Largest bundle a configuration may allow: 4 GiB (a root filesystem slot is far smaller).
pub const MAX_BUNDLE_MIB_LIMIT: u64 = 4096;
/// Longest reboot command line accepted.
const MAX_REBOOT_ARGS: usize = 16;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpdateConfig {
    /// off | rauc
    pub backend: String,
    /// Which D-Bus RAUC is on: `system` (`DBUS_SYSTEM_BUS_ADDRESS` or the standard socket) or
    /// an address such as `unix:path=/run/dbus/system_bus_socket`.
    pub bus: String,
    /// Where an uploaded bundle is written before RAUC reads it (on /data: never in RAM).
    pub bundle_dir: PathBuf,
    /// Largest bundle accepted, MiB.
    pub max_bundle_mib: u64,
    /// Space left free on `bundle_dir`'s filesystem after a bundle is written, MiB (memories
    /// and the upload queue live there too).
    pub keep_free_mib: u64,
    /// How long the recorder must have recorded without a break (and the web answered) before
    /// the booted slot is marked good.
    pub health_s: f64,
    /// How long after start a freshly updated slot may take to become healthy; past that it is
    /// left unconfirmed and the recorder reboots, so the boot counter falls back to the old slot.
    pub health_limit_s: f64,
    /// The command that reboots the system (the web app's "Reboot now", a failed trial).
    pub reboot_command: Vec<String>,
    /// The file holding the kernel's boot id, which tells a reboot from a restart of the recorder.
    pub boot_id_file: PathBuf,
}

impl Default for UpdateConfig {
    fn default() -> Self {
        UpdateConfig {
            backend: "off".into(),
            bus: "system".into(),
            bundle_dir: PathBuf::from("/data/update"),
            max_bundle_mib: 1024,
            keep_free_mib: 64,
            health_s: 60.0,
            health_limit_s: 300.0,
            reboot_command: vec!["systemctl".into(), "reboot".into()],
            boot_id_file: PathBuf::from("/proc/sys/kernel/random/boot_id"),
        }
    }
}

/// The checked `[update]` values the updater runs with.
#[derive(Clone, Debug)]
pub struct UpdateSettings {
    pub bus: Option<String>,
    pub bundle_dir: PathBuf,
    pub max_bundle_bytes: u64,
    pub keep_free_bytes: u64,
    pub health: Duration,
    pub health_limit: Duration,
    pub reboot_command: Vec<String>,
    pub boot_id_file: PathBuf,
}

impl UpdateConfig {
    pub fn enabled(&self) -> bool {
        self.backend == "rauc"
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !["off", "rauc"].contains(&self.backend.as_str()) {
            return Err(key_error(
                "update.backend",
                format!("{:?} is not off or rauc", self.backend),
            ));
        }
        self.settings().map(|_| ())
    }

    pub fn settings(&self) -> Result<UpdateSettings, ConfigError> {
        if self.bus != "system" && !self.bus.contains(':') {
            return Err(key_error(
                "update.bus",
                "write \"system\" or a D-Bus address such as unix:path=/run/dbus/system_bus_socket",
            ));
        }
        if self.bundle_dir.is_relative() {
            return Err(key_error("update.bundle_dir", "must be an absolute path"));
        }
        if !(1..=MAX_BUNDLE_MIB_LIMIT).contains(&self.max_bundle_mib) {
            return Err(key_error(
                "update.max_bundle_mib",
                format!("choose 1 to {MAX_BUNDLE_MIB_LIMIT}"),
            ));
        }
        if self.keep_free_mib > 1 << 20 {
            return Err(key_error("update.keep_free_mib", "at most 1048576"));
        }
        let health = seconds("update.health_s", self.health_s)?;
        let health_limit = seconds("update.health_limit_s", self.health_limit_s)?;
        if health.is_zero() || health_limit < health + Duration::from_secs(5) {
            return Err(key_error(
                "update.health_limit_s",
                "health_s must be more than 0 and health_limit_s at least health_s + 5",
            ));
        }
        if self.reboot_command.is_empty() || self.reboot_command.len() > MAX_REBOOT_ARGS {
            return Err(key_error(
                "update.reboot_command",
                format!("give the program and its arguments (at most {MAX_REBOOT_ARGS})"),
            ));
        }
        Ok(UpdateSettings {
            bus: (self.bus != "system").then(|| self.bus.clone()),
            bundle_dir: self.bundle_dir.clone(),
            max_bundle_bytes: self.max_bundle_mib << 20,
            keep_free_bytes: self.keep_free_mib << 20,
            health,
            health_limit,
            reboot_command: self.reboot_command.clone(),
            boot_id_file: self.boot_id_file.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_off() {
        let config = UpdateConfig::default();
        assert!(!config.enabled());
        config.validate().unwrap();
        let settings = config.settings().unwrap();
        assert_eq!(settings.bus, None);
        assert_eq!(settings.max_bundle_bytes, 1 << 30);
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = [
            UpdateConfig {
                backend: "swupdate".into(),
                ..Default::default()
            },
            UpdateConfig {
                bus: "session".into(),
                ..Default::default()
            },
            UpdateConfig {
                bundle_dir: "data".into(),
                ..Default::default()
            },
            UpdateConfig {
                max_bundle_mib: 0,
                ..Default::default()
            },
            UpdateConfig {
                health_s: 60.0,
                health_limit_s: 61.0,
                ..Default::default()
            },
            UpdateConfig {
                reboot_command: vec![],
                ..Default::default()
            },
        ];
        let keys = [
            "backend",
            "bus",
            "bundle_dir",
            "max_bundle_mib",
            "health_limit_s",
            "reboot_command",
        ];
        for (config, key) in bad.iter().zip(keys) {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(&format!("update.{key}")), "{err}");
        }
    }
}
