//! `[network]`: who runs the Wi-Fi. On the camera the recorder does (`backend = "linux"`: hostapd,
//! dnsmasq, wpa_supplicant, udhcpc); on a laptop nobody (`off`, the default, so running the
//! recorder never touches a machine's network) or a pretend radio (`simulated`, the demo and the
//! tests of the setup wizard).

use super::{key_error, seconds, ConfigError};
use crate::network::config_files::Passphrase;
use crate::network::machine::Timing;
use crate::network::manager::NetworkSettings;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The access point's passphrase when neither the pre-seed file nor the configuration gives one
/// (printed in the README and on the setup page's help).
pub const DEFAULT_AP_PASSPHRASE: &str = "moment-setup";

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// off | linux | simulated
    pub backend: String,
    pub interface: String,
    pub ap_passphrase: String,
    pub ap_channel: u8,
    /// ISO 3166 country code for the radio's rules; empty = the driver's default.
    pub country: String,
    pub join_limit_s: f64,
    pub retry_s: f64,
    /// The tools' generated files.
    pub run_dir: PathBuf,
    /// The pre-seed file on the boot partition (src/preseed.rs), imported at start; empty = none.
    pub preseed: PathBuf,
    /// Where the mDNS (avahi) service file goes while on the home network; empty = none.
    pub avahi_dir: PathBuf,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            backend: "off".into(),
            interface: "wlan0".into(),
            ap_passphrase: DEFAULT_AP_PASSPHRASE.into(),
            ap_channel: 6,
            country: String::new(),
            join_limit_s: 60.0,
            retry_s: 300.0,
            run_dir: PathBuf::from("/run/moment-recorder/network"),
            preseed: PathBuf::from("/boot/moment.toml"),
            avahi_dir: PathBuf::from("/run/moment-recorder/avahi"),
        }
    }
}

impl NetworkConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !["off", "linux", "simulated"].contains(&self.backend.as_str()) {
            return Err(key_error(
                "network.backend",
                format!("{:?} is not off, linux or simulated", self.backend),
            ));
        }
        self.settings(Path::new("/"), 80)?;
        Ok(())
    }

    pub fn enabled(&self) -> bool {
        self.backend != "off"
    }

    /// The manager's settings; the saved network lives in `state_dir`; `web_port` is announced.
    pub fn settings(
        &self,
        state_dir: &Path,
        web_port: u16,
    ) -> Result<NetworkSettings, ConfigError> {
        let passphrase = Passphrase::new(&self.ap_passphrase)
            .map_err(|e| key_error("network.ap_passphrase", e))?;
        if !(1..=13).contains(&self.ap_channel) {
            return Err(key_error(
                "network.ap_channel",
                "choose a channel from 1 to 13",
            ));
        }
        let join_limit = seconds("network.join_limit_s", self.join_limit_s)?;
        let retry_every = seconds("network.retry_s", self.retry_s)?;
        if join_limit.as_secs() < 5 || retry_every.as_secs() < 10 {
            return Err(key_error(
                "network.join_limit_s",
                "join_limit_s must be at least 5 and retry_s at least 10",
            ));
        }
        if !self.preseed.as_os_str().is_empty() && self.preseed.is_relative() {
            return Err(key_error(
                "network.preseed",
                "must be an absolute path or empty",
            ));
        }
        if self.run_dir.is_relative() {
            return Err(key_error("network.run_dir", "must be an absolute path"));
        }
        Ok(NetworkSettings {
            interface: self.interface.clone(),
            ap_passphrase: passphrase,
            ap_channel: self.ap_channel,
            country: self.country.clone(),
            timing: Timing {
                join_limit,
                retry_every,
            },
            saved_network: state_dir.join("wifi.json"),
            run_dir: self.run_dir.clone(),
            avahi_dir: (!self.avahi_dir.as_os_str().is_empty()).then(|| self.avahi_dir.clone()),
            web_port,
        })
    }
}
