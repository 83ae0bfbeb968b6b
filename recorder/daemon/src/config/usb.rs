//! `[usb]`: copying memories to a USB stick (DESIGN.md section 1, step 7). On the camera the
//! recorder follows the kernel's uevents for USB disks; on a laptop (`off`, the default) it never
//! mounts anything by itself, so a developer's own sticks are left alone.

use super::{key_error, ConfigError};
use serde::Deserialize;
use std::path::PathBuf;

/// Longest folder name on the stick (FAT's long names allow 255; ours are short).
const MAX_FOLDER_CHARS: usize = 64;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UsbConfig {
    /// off | uevent | manual: `uevent` copies to every USB disk the kernel announces (and to a
    /// disk named through the control socket, `moment-recorder usb attach`); `manual` only to
    /// the latter; `off` never.
    pub backend: String,
    /// Where a stick is mounted while memories are copied (a directory per stick under it).
    pub mount_dir: PathBuf,
    /// The folder on the stick that receives the memories.
    pub folder: String,
    /// Power the stick off after it is unmounted (the LED then says it is safe to pull).
    pub power_off: bool,
    /// Delete a memory from the device once it is both uploaded and copied to a stick.
    pub delete_after_export: bool,
}

impl Default for UsbConfig {
    fn default() -> Self {
        UsbConfig {
            backend: "off".into(),
            mount_dir: PathBuf::from("/run/moment-recorder/usb"),
            folder: "MOMENTS".into(),
            power_off: true,
            delete_after_export: false,
        }
    }
}

impl UsbConfig {
    /// Whether the exporter runs at all.
    pub fn enabled(&self) -> bool {
        self.backend != "off"
    }

    /// Whether kernel uevents are followed (otherwise only the control socket names disks).
    pub fn follows_uevents(&self) -> bool {
        self.backend == "uevent"
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !["off", "uevent", "manual"].contains(&self.backend.as_str()) {
            return Err(key_error(
                "usb.backend",
                format!("{:?} is not off, uevent or manual", self.backend),
            ));
        }
        if self.mount_dir.is_relative() {
            return Err(key_error("usb.mount_dir", "must be an absolute path"));
        }
        let folder_ok = !self.folder.is_empty()
            && self.folder.chars().count() <= MAX_FOLDER_CHARS
            && !self.folder.starts_with('.')
            && self
                .folder
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_ ".contains(c));
        if !folder_ok {
            return Err(key_error(
                "usb.folder",
                format!(
                    "{:?} is not a folder name of 1 to {MAX_FOLDER_CHARS} letters, digits, '-', \
                     '_' or spaces",
                    self.folder
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_off() {
        let config = UsbConfig::default();
        config.validate().unwrap();
        assert!(!config.enabled());
    }

    #[test]
    fn bad_values_name_the_key() {
        let mut config = UsbConfig {
            backend: "udev".into(),
            ..UsbConfig::default()
        };
        assert!(config.validate().unwrap_err().0.starts_with("usb.backend"));
        config.backend = "uevent".into();
        for folder in ["", "../x", ".hidden", "a/b", &"x".repeat(65)] {
            config.folder = folder.into();
            assert!(
                config.validate().unwrap_err().0.starts_with("usb.folder"),
                "{folder:?}"
            );
        }
        config.folder = "My Moments".into();
        config.mount_dir = "run/usb".into();
        assert!(config
            .validate()
            .unwrap_err()
            .0
            .starts_with("usb.mount_dir"));
    }
}
