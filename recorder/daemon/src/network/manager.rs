//! Runs the Wi-Fi on its own thread, because scans and tool starts block for seconds: feeds the
//! state machine what the system reports, performs what it decides, keeps the network chosen in
//! the wizard on /data, and publishes a view for the status and the web. Commands arrive through a
//! small bounded queue; nothing here can stop recording.
//!
//! A network given by the wizard or the settings is a candidate until it connects: only then is it
//! written to /data (and the caller's `on_joined` run, which saves the rest of the wizard). A
//! wrong password or a network nobody hears is dropped with nothing saved, and the one saved
//! before, if any, stays the one the device goes back to.

use super::config_files::{ap_ssid, ApSettings, Passphrase, Ssid, StationSettings};
use super::machine::{Action, Input, Machine, Mode, Timing};
use super::system::{ScanResult, StationState, WifiSystem};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Commands waiting at once; one more is refused with "busy".
const COMMAND_QUEUE: usize = 8;
/// How often the manager looks at the system.
const TICK: Duration = Duration::from_secs(1);
/// Largest saved-network file read.
const MAX_SAVED_BYTES: u64 = 4096;
/// A network chosen on the access point is joined this long after it was given, so the answer
/// to the request that gave it reaches the phone before the access point goes away.
pub const JOIN_GRACE: Duration = Duration::from_millis(1500);

/// How the manager runs (from `[network]`, docs/config.md).
#[derive(Clone, Debug)]
pub struct NetworkSettings {
    pub interface: String,
    pub ap_passphrase: Passphrase,
    pub ap_channel: u8,
    pub country: String,
    pub timing: Timing,
    /// `wifi.json`: the network to join (mode 0600: it holds the password).
    pub saved_network: PathBuf,
    /// hostapd's control directory and the tools' files.
    pub run_dir: PathBuf,
    /// Where the avahi service file goes while on the home network (the image points avahi's
    /// services directory here); None = not published.
    pub avahi_dir: Option<PathBuf>,
    /// The web app's port, announced over mDNS.
    pub web_port: u16,
}

/// The network to join, as stored.
#[derive(Clone, Serialize, Deserialize)]
pub struct SavedNetwork {
    pub ssid: String,
    pub passphrase: Option<String>,
    #[serde(default)]
    pub hidden: bool,
}

impl SavedNetwork {
    /// Checked settings for wpa_supplicant; the error says what to change.
    pub fn station(&self) -> Result<StationSettings, String> {
        Ok(StationSettings {
            ssid: Ssid::new(&self.ssid)?,
            passphrase: match self.passphrase.as_deref() {
                None | Some("") => None,
                Some(p) => Some(Passphrase::new(p)?),
            },
            hidden: self.hidden,
        })
    }
}

/// Run on the network thread once a candidate network has connected and been saved.
pub type OnJoined = Box<dyn FnOnce() + Send>;

pub enum Command {
    /// Join this network (checked with `SavedNetwork::station` first); kept once it connects,
    /// when `on_joined` runs. Dropped, with `on_joined`, if it fails.
    Join {
        network: SavedNetwork,
        on_joined: Option<OnJoined>,
    },
    /// Forget the saved network: AP mode until a new one is set.
    Forget,
    /// Scan again (in AP mode the access point drops for a few seconds).
    Rescan,
    /// Both buttons held: the saved network forgotten, setup mode.
    Reset,
}

/// What the status and the web show.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkView {
    pub mode: Mode,
    /// The setup wizard is open (no network yet, a reset, or a new network not yet joined).
    pub setup: bool,
    /// The access point's name (shown on the wizard and the status).
    pub ap_ssid: String,
    pub station_ssid: Option<String>,
    pub address: Option<String>,
    pub ap_clients: u32,
    /// Why the last attempt to join failed, until a join succeeds.
    pub last_error: Option<String>,
    pub networks: Vec<ScanResult>,
    pub scanned_unix_ms: Option<i64>,
}

/// The running manager; stops its thread when dropped.
pub struct NetworkHandle {
    view: Arc<Mutex<NetworkView>>,
    commands: SyncSender<Command>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl NetworkHandle {
    pub fn view(&self) -> NetworkView {
        self.view
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The mode and whether setup is open, without copying the rest of the view (the web asks
    /// on every request while it may be a captive portal).
    pub fn mode(&self) -> (Mode, bool) {
        let view = self.view.lock().unwrap_or_else(PoisonError::into_inner);
        (view.mode, view.setup)
    }

    pub fn send(&self, command: Command) -> Result<(), String> {
        self.commands.try_send(command).map_err(|e| match e {
            TrySendError::Full(_) => "the network is busy; try again in a few seconds".to_string(),
            TrySendError::Disconnected(_) => "the network manager has stopped".to_string(),
        })
    }
}

impl Drop for NetworkHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the manager's thread with `system`.
pub fn start(
    settings: NetworkSettings,
    system: Box<dyn WifiSystem>,
) -> std::io::Result<NetworkHandle> {
    let saved = load_saved(&settings);
    let mac = system.mac().unwrap_or([0; 6]);
    let ap_name = String::from_utf8_lossy(ap_ssid(mac).as_bytes()).into_owned();
    let machine = Machine::new(settings.timing, saved.is_some());
    let view = Arc::new(Mutex::new(NetworkView {
        mode: machine.mode(),
        setup: machine.setup_open(),
        ap_ssid: ap_name,
        station_ssid: saved.as_ref().map(|s| s.ssid.clone()),
        address: None,
        ap_clients: 0,
        last_error: None,
        networks: Vec::new(),
        scanned_unix_ms: None,
    }));
    let (commands, receiver) = mpsc::sync_channel(COMMAND_QUEUE);
    let stop = Arc::new(AtomicBool::new(false));
    let mut worker = Worker {
        settings,
        system,
        machine,
        saved,
        view: view.clone(),
        connected: false,
        mac,
        join_due: None,
        candidate: None,
        save_failed: None,
    };
    let stop_flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("network".into())
        .spawn(move || {
            worker.act(Input::Start);
            while !stop_flag.load(Ordering::SeqCst) {
                let wait = worker
                    .join_due
                    .map_or(TICK, |due| due.saturating_duration_since(Instant::now()))
                    .min(TICK);
                match receiver.recv_timeout(wait) {
                    Ok(command) => worker.command(command),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                if worker.join_due.is_some_and(|due| Instant::now() >= due) {
                    worker.join_due = None;
                    worker.act(Input::Configured(true));
                }
                worker.observe();
                worker.act(Input::Tick);
            }
            worker.system.stop();
        })?;
    Ok(NetworkHandle {
        view,
        commands,
        stop,
        thread: Some(thread),
    })
}

fn load_saved(settings: &NetworkSettings) -> Option<SavedNetwork> {
    let path = &settings.saved_network;
    let read = || -> Result<Option<SavedNetwork>, String> {
        let Some(bytes) = crate::atomic_file::read_small(path, MAX_SAVED_BYTES)? else {
            return Ok(None);
        };
        let saved: SavedNetwork = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        saved.station()?;
        Ok(Some(saved))
    };
    read().unwrap_or_else(|e| {
        tracing::error!(path = %path.display(), error = %e, "network: the saved network is unusable; setup mode");
        None
    })
}

struct Worker {
    settings: NetworkSettings,
    system: Box<dyn WifiSystem>,
    machine: Machine,
    saved: Option<SavedNetwork>,
    view: Arc<Mutex<NetworkView>>,
    connected: bool,
    mac: [u8; 6],
    /// A network given while on the access point, joined at this time (`JOIN_GRACE`).
    join_due: Option<Instant>,
    /// The network being tried, not saved until it connects.
    candidate: Option<(SavedNetwork, Option<OnJoined>)>,
    /// A network joined but not written to the card, for the view until the next attempt.
    save_failed: Option<String>,
}

impl Worker {
    fn update(&self, change: impl FnOnce(&mut NetworkView)) {
        let mut view = self.view.lock().unwrap_or_else(PoisonError::into_inner);
        change(&mut view);
        view.mode = self.machine.mode();
        view.setup = self.machine.setup_open();
        view.last_error = self
            .machine
            .last_error()
            .map(str::to_string)
            .or_else(|| self.save_failed.clone());
        view.station_ssid = self.saved.as_ref().map(|s| s.ssid.clone());
    }

    /// The candidate connected: it becomes the saved network, then `on_joined` runs.
    fn keep_candidate(&mut self) {
        let Some((network, on_joined)) = self.candidate.take() else {
            return;
        };
        let text = serde_json::to_vec_pretty(&network).expect("plain data serialises");
        if let Err(e) = crate::atomic_file::write_atomic(&self.settings.saved_network, &text) {
            // Joined for now, but the next boot will not know it: say so; the wizard's other
            // answers are not applied either, so the owner runs it again.
            tracing::error!(error = %e, "network: cannot save the network");
            self.save_failed =
                Some("joined, but the network could not be saved on the card".into());
            self.update(|_| {});
            return;
        }
        tracing::info!(ssid = %network.ssid, "network: joined and saved");
        self.saved = Some(network);
        self.update(|_| {});
        if let Some(on_joined) = on_joined {
            on_joined();
        }
    }

    /// The candidate failed (the machine is back on the access point): nothing of it is kept,
    /// and without a saved network there is nothing to retry.
    fn drop_candidate(&mut self) {
        if let Some((network, _)) = self.candidate.take() {
            tracing::info!(ssid = %network.ssid, "network: not joined; nothing saved");
            if self.saved.is_none() {
                self.machine.step(Instant::now(), Input::Configured(false));
                self.update(|_| {});
            }
        }
    }

    fn forget_saved(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.settings.saved_network) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::error!(error = %e, "network: cannot forget the network");
            }
        }
        self.saved = None;
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Join { network, on_joined } => {
                self.candidate = Some((network, on_joined));
                self.machine.forget_error();
                self.save_failed = None;
                if self.machine.mode() == Mode::Ap {
                    self.join_due = Some(Instant::now() + JOIN_GRACE);
                    self.update(|_| {});
                } else {
                    self.act(Input::Configured(true));
                }
            }
            Command::Forget => {
                self.join_due = None;
                self.candidate = None;
                self.forget_saved();
                self.act(Input::Configured(false));
            }
            Command::Rescan => {
                if self.machine.mode() == Mode::Ap {
                    self.enter_ap();
                } else {
                    // Station mode: scanning would drop the connection; keep the old list.
                    tracing::info!("network: rescan ignored in station mode");
                }
            }
            Command::Reset => {
                self.join_due = None;
                self.candidate = None;
                self.forget_saved();
                self.act(Input::Reset);
            }
        }
    }

    fn observe(&mut self) {
        let seen = self.system.observe();
        let input = match seen.station {
            StationState::Connected { ref address } => {
                let address = address.clone();
                self.update(|v| v.address = Some(address));
                if !self.connected {
                    self.keep_candidate();
                    self.publish(true);
                }
                (!self.connected).then_some(Input::Connected)
            }
            StationState::Failed(ref reason) => Some(Input::Failed(reason.clone())),
            StationState::Missing(ref reason) => Some(Input::Missing(reason.clone())),
            StationState::Joining if self.connected => Some(Input::Disconnected),
            _ => None,
        };
        self.connected = matches!(seen.station, StationState::Connected { .. });
        if !self.connected {
            self.update(|v| v.address = None);
        }
        self.update(|v| v.ap_clients = seen.ap_clients);
        self.machine
            .step(Instant::now(), Input::ApClients(seen.ap_clients));
        if let Some(input) = input {
            self.act(input);
        }
    }

    fn act(&mut self, input: Input) {
        let before = self.machine.mode();
        let action = self.machine.step(Instant::now(), input);
        if self.machine.mode() != before {
            tracing::info!(from = ?before, to = ?self.machine.mode(), "network: mode");
            if self.machine.mode() == Mode::Ap {
                self.drop_candidate();
            }
        }
        match action {
            Some(Action::EnterAp) => self.enter_ap(),
            Some(Action::EnterStation) => self.enter_station(),
            None => self.update(|_| {}),
        }
    }

    /// Announces the web app over mDNS on the home network, or stops announcing it.
    fn publish(&self, on: bool) {
        let Some(dir) = &self.settings.avahi_dir else {
            return;
        };
        let path = dir.join("moment-recorder.service");
        let result = if on {
            std::fs::create_dir_all(dir).and_then(|()| {
                crate::atomic_file::write_atomic(
                    &path,
                    super::config_files::avahi_service(self.settings.web_port).as_bytes(),
                )
            })
        } else {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        };
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "network: mDNS announcement not updated");
        }
    }

    fn enter_ap(&mut self) {
        self.publish(false);
        self.system.stop();
        self.connected = false;
        match self.system.scan() {
            Ok(mut networks) => {
                networks.sort_by_key(|n| std::cmp::Reverse(n.signal_dbm));
                let now = moment_media::system_clock().utc_us / 1000;
                self.update(|v| {
                    v.networks = networks;
                    v.scanned_unix_ms = Some(now);
                });
            }
            Err(e) => tracing::warn!(error = %e, "network: scan failed; keeping the old list"),
        }
        let ap = ApSettings {
            interface: self.settings.interface.clone(),
            ssid: ap_ssid(self.mac),
            passphrase: self.settings.ap_passphrase.clone(),
            channel: self.settings.ap_channel,
            country: self.settings.country.clone(),
            ctrl_dir: self
                .settings
                .run_dir
                .join("hostapd")
                .to_string_lossy()
                .into_owned(),
        };
        if let Err(e) = self.system.start_ap(&ap) {
            tracing::error!(error = %e, "network: the access point did not start");
        }
        self.update(|v| v.address = None);
    }

    fn enter_station(&mut self) {
        self.publish(false);
        self.system.stop();
        self.connected = false;
        let network = self
            .candidate
            .as_ref()
            .map(|(network, _)| network)
            .or(self.saved.as_ref());
        let station = network.map(SavedNetwork::station);
        match station {
            Some(Ok(station)) => {
                if let Err(e) = self.system.start_station(&station) {
                    self.act(Input::Failed(e));
                    return;
                }
            }
            Some(Err(e)) => {
                self.act(Input::Failed(e));
                return;
            }
            None => {
                self.act(Input::Configured(false));
                return;
            }
        }
        self.update(|_| {});
    }
}

#[cfg(test)]
mod tests {
    use super::super::system::{SimulatedNetwork, SimulatedWifi};
    use super::*;

    fn settings(dir: &std::path::Path) -> NetworkSettings {
        NetworkSettings {
            interface: "wlan0".into(),
            ap_passphrase: Passphrase::new("moment-setup").unwrap(),
            ap_channel: 6,
            country: String::new(),
            timing: Timing {
                join_limit: Duration::from_secs(3),
                retry_every: Duration::from_secs(3600),
            },
            saved_network: dir.join("wifi.json"),
            run_dir: dir.join("run"),
            avahi_dir: Some(dir.join("avahi")),
            web_port: 8080,
        }
    }

    fn wait_for(
        handle: &NetworkHandle,
        what: &str,
        ok: impl Fn(&NetworkView) -> bool,
    ) -> NetworkView {
        for _ in 0..200 {
            let view = handle.view();
            if ok(&view) {
                return view;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("timed out waiting for {what}: {:?}", handle.view());
    }

    #[test]
    fn the_wizard_joins_a_network_and_a_wrong_password_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut wifi = SimulatedWifi::demo();
        wifi.join_delay = Duration::from_millis(100);
        let handle = start(settings(dir.path()), Box::new(wifi)).unwrap();
        let view = wait_for(&handle, "AP mode", |v| v.mode == Mode::Ap);
        assert!(view.setup);
        assert_eq!(view.ap_ssid, "Moment-DE30");
        assert_eq!(view.networks[0].ssid, "HomeNet", "strongest first");

        let joined = Arc::new(AtomicBool::new(false));
        let join = |ssid: &str, password: &str| {
            let joined = joined.clone();
            handle
                .send(Command::Join {
                    network: SavedNetwork {
                        ssid: ssid.into(),
                        passphrase: Some(password.into()),
                        hidden: false,
                    },
                    on_joined: Some(Box::new(move || joined.store(true, Ordering::SeqCst))),
                })
                .unwrap();
        };
        join("HomeNet", "wrong-password");
        // The access point stays a moment, for the answer to reach the phone.
        std::thread::sleep(JOIN_GRACE / 2);
        assert_eq!(
            handle.view().mode,
            Mode::Ap,
            "left before the answer went out"
        );
        let view = wait_for(&handle, "the failure", |v| {
            v.mode == Mode::Ap && v.last_error.is_some()
        });
        assert!(view.setup);
        assert!(view.last_error.unwrap().contains("wrong password"));
        // Nothing saved, nothing retried behind the wizard's back.
        assert!(!dir.path().join("wifi.json").exists());
        assert!(!joined.load(Ordering::SeqCst));
        assert_eq!(view.station_ssid, None);

        // A network nobody hears comes back at once, not after the join limit.
        join("Gone Away", "whatever-123");
        let view = wait_for(&handle, "the missing network", |v| {
            v.mode == Mode::Ap
                && v.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("Gone Away"))
        });
        assert!(view.last_error.unwrap().contains("no network named"));
        assert!(!dir.path().join("wifi.json").exists());

        join("HomeNet", "moment-home");
        let view = wait_for(&handle, "station mode", |v| v.mode == Mode::Station);
        assert!(!view.setup);
        assert!(
            joined.load(Ordering::SeqCst),
            "the rest of the wizard runs once joined"
        );
        // Announced over mDNS on the home network.
        let service = dir.path().join("avahi/moment-recorder.service");
        assert!(std::fs::read_to_string(&service)
            .unwrap()
            .contains("<port>8080</port>"));
        assert_eq!(view.address.as_deref(), Some("192.168.1.50"));
        assert_eq!(view.last_error, None);
        // Kept for the next boot, private.
        let saved: SavedNetwork =
            serde_json::from_slice(&std::fs::read(dir.path().join("wifi.json")).unwrap()).unwrap();
        assert_eq!(saved.passphrase.as_deref(), Some("moment-home"));
        drop(handle);

        // The next boot joins by itself.
        let handle = start(settings(dir.path()), Box::new(SimulatedWifi::demo())).unwrap();
        wait_for(&handle, "station mode at boot", |v| v.mode == Mode::Station);
        handle.send(Command::Reset).unwrap();
        let view = wait_for(&handle, "setup after a reset", |v| {
            v.mode == Mode::Ap && v.setup
        });
        // The reset forgets the network: the next boot is setup mode too.
        assert_eq!(view.station_ssid, None);
        assert!(!dir.path().join("wifi.json").exists());
    }

    #[test]
    fn an_unreachable_network_falls_back_to_the_access_point() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("wifi.json"),
            r#"{"ssid": "Gone", "passphrase": "whatever-123"}"#,
        )
        .unwrap();
        let mut wifi = SimulatedWifi::demo();
        wifi.networks.insert(
            "Gone".into(),
            SimulatedNetwork {
                password: Some("whatever-123".into()),
                signal_dbm: -60,
                reachable: false,
            },
        );
        let handle = start(settings(dir.path()), Box::new(wifi)).unwrap();
        wait_for(&handle, "joining", |v| v.mode == Mode::Joining);
        let view = wait_for(&handle, "AP after the join limit", |v| v.mode == Mode::Ap);
        assert!(view.last_error.unwrap().contains("could not join"));
        assert!(!view.setup, "a known network is not setup mode");
    }

    #[test]
    fn a_network_joined_but_not_saved_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = settings(dir.path());
        // Its parent is a file: the write fails as on a broken card.
        std::fs::write(dir.path().join("not-a-dir"), b"").unwrap();
        settings.saved_network = dir.path().join("not-a-dir/wifi.json");
        let mut wifi = SimulatedWifi::demo();
        wifi.join_delay = Duration::from_millis(100);
        let handle = start(settings, Box::new(wifi)).unwrap();
        wait_for(&handle, "AP mode", |v| v.mode == Mode::Ap);
        handle
            .send(Command::Join {
                network: SavedNetwork {
                    ssid: "HomeNet".into(),
                    passphrase: Some("moment-home".into()),
                    hidden: false,
                },
                on_joined: None,
            })
            .unwrap();
        let view = wait_for(&handle, "the reason", |v| {
            v.mode == Mode::Station && v.last_error.is_some()
        });
        assert!(view.last_error.unwrap().contains("could not be saved"));
    }

    #[test]
    fn a_corrupt_saved_network_means_setup_mode() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("wifi.json"), b"{not json").unwrap();
        let handle = start(settings(dir.path()), Box::new(SimulatedWifi::demo())).unwrap();
        let view = wait_for(&handle, "AP", |v| v.mode == Mode::Ap);
        assert!(view.setup);
    }
}
