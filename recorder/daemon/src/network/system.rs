//! What the network manager needs from the machine, as a small trait: scan, bring up the access
//! point or the station, stop both, and say what is happening. `LinuxWifi` (linux.rs) runs the
//! real tools; `SimulatedWifi` here stands in on machines without a radio (the demo, the tests).

use super::config_files::{ApSettings, StationSettings};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Networks kept from one scan.
pub const MAX_SCAN_RESULTS: usize = 50;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScanResult {
    /// The name as text (lossy for names that are not UTF-8).
    pub ssid: String,
    /// dBm, e.g. -45 (strong) to -90 (weak).
    pub signal_dbm: i32,
    /// Needs a password.
    pub secured: bool,
}

/// How the station is doing, as the tools report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StationState {
    /// Not started.
    Idle,
    /// Associating or waiting for an address.
    Joining,
    /// Associated with an address.
    Connected { address: String },
    /// Gave up with a reason a person can act on (wrong password).
    Failed(String),
    /// Still trying, but its scans do not hear the network (the reason says so).
    Missing(String),
}

/// What the wizard shows when no scan hears the network it was given.
pub fn missing_reason(ssid: &str) -> String {
    format!(
        "no network named \"{ssid}\" answered: it is out of range, switched off, or its name is \
         spelt differently"
    )
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub station: StationState,
    /// Phones on the access point (0 when it is down).
    pub ap_clients: u32,
}

pub trait WifiSystem: Send + 'static {
    /// The Wi-Fi interface's MAC address (names the access point).
    fn mac(&self) -> Option<[u8; 6]>;
    /// Scans for networks; both modes must be stopped. Bounded in time by the implementation.
    fn scan(&mut self) -> Result<Vec<ScanResult>, String>;
    fn start_ap(&mut self, ap: &ApSettings) -> Result<(), String>;
    fn start_station(&mut self, station: &StationSettings) -> Result<(), String>;
    /// Stops whichever mode runs; idempotent.
    fn stop(&mut self);
    /// What is happening now; cheap, called every second.
    fn observe(&mut self) -> Observation;
}

/// A pretend radio: networks with their passwords, reachable or not; joining takes `join_delay`.
/// Phones on the AP are set by the test or the demo.
pub struct SimulatedWifi {
    pub networks: BTreeMap<String, SimulatedNetwork>,
    pub join_delay: Duration,
    pub ap_clients: u32,
    mac: [u8; 6],
    running: Option<Running>,
}

#[derive(Clone, Debug)]
pub struct SimulatedNetwork {
    /// None: open.
    pub password: Option<String>,
    pub signal_dbm: i32,
    pub reachable: bool,
}

enum Running {
    Ap,
    Station {
        ssid: String,
        password: Option<String>,
        since: Instant,
    },
}

impl SimulatedWifi {
    pub fn new(mac: [u8; 6]) -> SimulatedWifi {
        SimulatedWifi {
            networks: BTreeMap::new(),
            join_delay: Duration::from_secs(2),
            ap_clients: 0,
            mac,
            running: None,
        }
    }

    /// The demo's neighbourhood: a home network (password `moment-home`) and two others.
    pub fn demo() -> SimulatedWifi {
        let mut wifi = SimulatedWifi::new([0x02, 0x00, 0x00, 0x00, 0xde, 0x30]);
        for (ssid, password, signal) in [
            ("HomeNet", Some("moment-home"), -48),
            ("Neighbours 5G", Some("not-yours-123"), -71),
            ("Cafe Free Wi-Fi", None, -80),
        ] {
            wifi.networks.insert(
                ssid.into(),
                SimulatedNetwork {
                    password: password.map(str::to_string),
                    signal_dbm: signal,
                    reachable: true,
                },
            );
        }
        wifi
    }
}

impl WifiSystem for SimulatedWifi {
    fn mac(&self) -> Option<[u8; 6]> {
        Some(self.mac)
    }

    fn scan(&mut self) -> Result<Vec<ScanResult>, String> {
        Ok(self
            .networks
            .iter()
            .filter(|(_, n)| n.reachable)
            .map(|(ssid, n)| ScanResult {
                ssid: ssid.clone(),
                signal_dbm: n.signal_dbm,
                secured: n.password.is_some(),
            })
            .take(MAX_SCAN_RESULTS)
            .collect())
    }

    fn start_ap(&mut self, _ap: &ApSettings) -> Result<(), String> {
        self.running = Some(Running::Ap);
        Ok(())
    }

    fn start_station(&mut self, station: &StationSettings) -> Result<(), String> {
        self.running = Some(Running::Station {
            ssid: String::from_utf8_lossy(station.ssid.as_bytes()).into_owned(),
            password: station.passphrase.as_ref().map(|p| p.expose().to_string()),
            since: Instant::now(),
        });
        Ok(())
    }

    fn stop(&mut self) {
        self.running = None;
    }

    fn observe(&mut self) -> Observation {
        let station = match &self.running {
            None | Some(Running::Ap) => StationState::Idle,
            Some(Running::Station {
                ssid,
                password,
                since,
            }) => match self.networks.get(ssid) {
                Some(n) if n.reachable && since.elapsed() >= self.join_delay => {
                    if n.password == *password || n.password.is_none() {
                        StationState::Connected {
                            address: "192.168.1.50".into(),
                        }
                    } else {
                        StationState::Failed(format!("wrong password for {ssid}"))
                    }
                }
                _ if since.elapsed() >= self.join_delay => {
                    StationState::Missing(missing_reason(ssid))
                }
                _ => StationState::Joining,
            },
        };
        let ap_clients = match self.running {
            Some(Running::Ap) => self.ap_clients,
            _ => 0,
        };
        Observation {
            station,
            ap_clients,
        }
    }
}
