//! The real Wi-Fi on the Pi: hostapd and dnsmasq for the access point, wpa_supplicant and udhcpc
//! for the station, each started from a file generated under the run directory, watched through
//! their output (phones joining the AP, a wrong password), stopped before the other mode starts.
//! Compiled and type-checked everywhere; it needs a radio, so it runs only on the device.

use super::config_files::{
    dnsmasq_conf, hostapd_conf, wpa_supplicant_conf, ApSettings, StationSettings, AP_ADDRESS,
};
use super::system::{
    missing_reason, Observation, ScanResult, StationState, WifiSystem, MAX_SCAN_RESULTS,
};
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Longest a scan or an `ip` command may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(20);
/// Longest a tool gets to exit after SIGTERM before SIGKILL.
const STOP_LIMIT: Duration = Duration::from_secs(3);
/// Restarts of a tool that keeps dying, per mode start (then the mode is reported failed).
const MAX_TOOL_RESTARTS: u32 = 5;
/// Association refusals in a row for a security reason (wrong password, or a security the
/// network does not take) after which the join is reported failed instead of retried forever.
const MAX_SECURITY_REJECTS: u32 = 3;
/// Whether the station's network is heard at all: the kernel's list of what wpa_supplicant's own
/// scans found (`iw dev IF scan dump`; wpa_supplicant says "not found" only on its control
/// socket) is read this long after the station started, then every `HEARD_CHECK_EVERY`; absent
/// from `UNHEARD_CHECKS` lists in a row that each hold other networks, it is reported missing.
/// One scan can miss a beacon; two lists 4 s apart without it are an answer the wizard can give
/// within 20 s.
const HEARD_FIRST_CHECK: Duration = Duration::from_secs(6);
const HEARD_CHECK_EVERY: Duration = Duration::from_secs(4);
const UNHEARD_CHECKS: u32 = 2;
/// IEEE 802.11 status codes of a refusal for security reasons: 31 (robust management frame
/// policy violation) and 40 to 45 (invalid information element, group or pairwise cipher, AKMP,
/// RSN version or capabilities).
fn is_security_reject(status: u32) -> bool {
    status == 31 || (40..=45).contains(&status)
}

pub struct LinuxWifi {
    interface: String,
    run_dir: PathBuf,
    /// The web port, for the captive portal's DHCP option.
    web_port: u16,
    children: Vec<Tool>,
    events: Arc<Mutex<Events>>,
    mode: Option<Mode>,
    restarts: u32,
    /// Station mode: when it started, when the scan list was last read, lists in a row without
    /// the network.
    station_since: Option<Instant>,
    heard_checked: Option<Instant>,
    unheard: u32,
}

#[derive(Clone)]
enum Mode {
    Ap(ApSettings),
    Station(StationSettings),
}

struct Tool {
    name: &'static str,
    child: Child,
    /// The process itself, for signals from any thread (None on a kernel before 5.3).
    process: Option<Arc<Process>>,
}

/// A process by pidfd rather than by pid: a signal through it reaches that process or fails
/// (ESRCH once it has exited), never another one that reused its pid after it was reaped, which
/// a `kill(pid)` from an output thread could not promise.
struct Process(OwnedFd);

impl Process {
    /// Opens the child's pidfd; call before the child can be reaped (right after spawning).
    fn of(child: &Child) -> std::io::Result<Process> {
        let pid = libc::pid_t::try_from(child.id()).map_err(std::io::Error::other)?;
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = i32::try_from(fd).map_err(std::io::Error::other)?;
        // SAFETY: the descriptor was just returned to us and is owned by nobody else.
        Ok(Process(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn signal(&self, signal: libc::c_int) -> std::io::Result<()> {
        // SAFETY: pidfd_send_signal on a descriptor we own, no siginfo, no flags.
        let done = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                signal,
                std::ptr::null::<libc::siginfo_t>(),
                0u32,
            )
        };
        if done < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

/// What the tools printed that matters, gathered by their output threads.
#[derive(Default)]
struct Events {
    ap_clients: HashSet<String>,
    associated: bool,
    failure: Option<String>,
    /// Security refusals in a row (reset by a connection).
    security_rejects: u32,
    /// udhcpc in station mode: told to ask for a lease at once when the station associates
    /// (else it waits out its own retry interval).
    dhcp: Option<Arc<Process>>,
}

impl LinuxWifi {
    pub fn new(interface: &str, run_dir: PathBuf, web_port: u16) -> LinuxWifi {
        LinuxWifi {
            interface: interface.to_string(),
            run_dir,
            web_port,
            children: Vec::new(),
            events: Arc::default(),
            mode: None,
            restarts: 0,
            station_since: None,
            heard_checked: None,
            unheard: 0,
        }
    }

    /// Station mode, not associated: the network has been absent from the kernel's scan list
    /// `UNHEARD_CHECKS` times in a row (see `HEARD_FIRST_CHECK`).
    fn network_unheard(&mut self, ssid: &str) -> bool {
        let now = Instant::now();
        let due = self
            .station_since
            .is_some_and(|since| now.saturating_duration_since(since) >= HEARD_FIRST_CHECK)
            && self
                .heard_checked
                .is_none_or(|at| now.saturating_duration_since(at) >= HEARD_CHECK_EVERY);
        if due {
            self.heard_checked = Some(now);
            let dump =
                run_bounded(Command::new("iw").args(["dev", &self.interface, "scan", "dump"]));
            match dump {
                Ok((true, out)) if unheard_in(&out, ssid) == Some(true) => self.unheard += 1,
                _ => self.unheard = 0,
            }
        }
        self.unheard >= UNHEARD_CHECKS
    }

    fn file(&self, name: &str) -> PathBuf {
        self.run_dir.join(name)
    }

    fn write(&self, name: &str, text: &str) -> Result<PathBuf, String> {
        std::fs::create_dir_all(&self.run_dir)
            .map_err(|e| format!("cannot create {}: {e}", self.run_dir.display()))?;
        let path = self.file(name);
        crate::atomic_file::write_atomic(&path, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    }

    fn ip(&self, args: &[&str]) -> Result<(), String> {
        let out = run_bounded(Command::new("ip").args(args))?;
        if out.0 {
            Ok(())
        } else {
            Err(format!("ip {}: {}", args.join(" "), out.1.trim()))
        }
    }

    fn spawn(&mut self, name: &'static str, command: &mut Command) -> Result<(), String> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let events = self.events.clone();
            std::thread::Builder::new()
                .name(format!("net-{name}"))
                .spawn(move || watch_output(name, stream, &events))
                .map_err(|e| format!("cannot watch {name}: {e}"))?;
        }
        let process = match Process::of(&child) {
            Ok(process) => Some(Arc::new(process)),
            Err(e) => {
                tracing::warn!(tool = name, error = %e, "network: no pidfd for the tool");
                None
            }
        };
        self.children.push(Tool {
            name,
            child,
            process,
        });
        Ok(())
    }

    fn start_tools(&mut self) -> Result<(), String> {
        let iface = self.interface.clone();
        match self.mode.clone() {
            None => Ok(()),
            Some(Mode::Ap(ap)) => {
                let hostapd = self.write("hostapd.conf", &hostapd_conf(&ap)?)?;
                let leases = self.file("dnsmasq.leases");
                let dnsmasq = self.write(
                    "dnsmasq.conf",
                    &dnsmasq_conf(&iface, &leases.to_string_lossy(), self.web_port)?,
                )?;
                self.ip(&["addr", "flush", "dev", &iface])?;
                self.ip(&["addr", "add", &format!("{AP_ADDRESS}/24"), "dev", &iface])?;
                self.ip(&["link", "set", &iface, "up"])?;
                self.spawn("hostapd", Command::new("hostapd").arg(&hostapd))?;
                self.spawn(
                    "dnsmasq",
                    Command::new("dnsmasq")
                        .arg("--keep-in-foreground")
                        .arg("--log-facility=-")
                        .arg("-C")
                        .arg(&dnsmasq),
                )
            }
            Some(Mode::Station(station)) => {
                let ctrl = self.file("wpa_supplicant");
                let conf = self.write(
                    "wpa_supplicant.conf",
                    &wpa_supplicant_conf(&station, &ctrl.to_string_lossy())?,
                )?;
                self.ip(&["addr", "flush", "dev", &iface])?;
                self.ip(&["link", "set", &iface, "up"])?;
                self.spawn(
                    "wpa_supplicant",
                    Command::new("wpa_supplicant")
                        .args(["-i", &iface, "-D", "nl80211", "-c"])
                        .arg(&conf),
                )?;
                // udhcpc's default script sets the address, route and resolv.conf.
                self.spawn(
                    "udhcpc",
                    Command::new("udhcpc").args(["-f", "-R", "-t", "0", "-i", &iface]),
                )?;
                let dhcp = self.children.last().and_then(|t| t.process.clone());
                self.events
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .dhcp = dhcp;
                Ok(())
            }
        }
    }

    fn stop_tools(&mut self) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .dhcp = None;
        for tool in &mut self.children {
            // A tool `supervise` saw exit has been reaped: its pid may be another process's now.
            if !matches!(tool.child.try_wait(), Ok(None)) {
                continue;
            }
            match &tool.process {
                Some(process) => {
                    let _ = process.signal(libc::SIGTERM);
                }
                None => {
                    // Not reaped (just checked, and only this thread reaps): still our child.
                    // SAFETY: kill with a pid we own and a signal number.
                    unsafe {
                        libc::kill(tool.child.id() as libc::pid_t, libc::SIGTERM);
                    }
                }
            }
        }
        let deadline = Instant::now() + STOP_LIMIT;
        for mut tool in self.children.drain(..) {
            while Instant::now() < deadline {
                if !matches!(tool.child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if matches!(tool.child.try_wait(), Ok(None)) {
                tracing::warn!(
                    tool = tool.name,
                    "network: killed after SIGTERM was ignored"
                );
                let _ = tool.child.kill();
            }
            let _ = tool.child.wait();
        }
        *self.events.lock().unwrap_or_else(PoisonError::into_inner) = Events::default();
    }

    /// Starts the tools again when one died, a bounded number of times.
    fn supervise(&mut self) -> Option<String> {
        let died = self
            .children
            .iter_mut()
            .find_map(|t| t.child.try_wait().ok().flatten().map(|s| (t.name, s)));
        let (name, status) = died?;
        self.restarts += 1;
        if self.restarts > MAX_TOOL_RESTARTS {
            return Some(format!(
                "{name} keeps stopping ({status}); see the recorder's log"
            ));
        }
        tracing::warn!(tool = name, %status, "network: a tool stopped; starting the mode again");
        self.stop_tools();
        self.start_tools().err()
    }

    fn has_ipv4(&self) -> Option<String> {
        let (ok, out) = run_bounded(Command::new("ip").args([
            "-4",
            "-o",
            "addr",
            "show",
            "dev",
            &self.interface,
        ]))
        .ok()?;
        if !ok {
            return None;
        }
        out.split_whitespace()
            .skip_while(|w| *w != "inet")
            .nth(1)
            .map(|a| a.split('/').next().unwrap_or(a).to_string())
    }
}

impl WifiSystem for LinuxWifi {
    fn mac(&self) -> Option<[u8; 6]> {
        let text =
            std::fs::read_to_string(format!("/sys/class/net/{}/address", self.interface)).ok()?;
        let bytes: Vec<u8> = text
            .trim()
            .split(':')
            .filter_map(|h| u8::from_str_radix(h, 16).ok())
            .collect();
        bytes.try_into().ok()
    }

    fn scan(&mut self) -> Result<Vec<ScanResult>, String> {
        self.ip(&["link", "set", &self.interface.clone(), "up"])?;
        let (ok, out) = run_bounded(Command::new("iw").args(["dev", &self.interface, "scan"]))?;
        if !ok {
            return Err(format!("the Wi-Fi scan failed: {}", out.trim()));
        }
        Ok(parse_iw_scan(&out))
    }

    fn start_ap(&mut self, ap: &ApSettings) -> Result<(), String> {
        self.stop();
        self.mode = Some(Mode::Ap(ap.clone()));
        self.start_tools()
    }

    fn start_station(&mut self, station: &StationSettings) -> Result<(), String> {
        self.stop();
        self.mode = Some(Mode::Station(station.clone()));
        self.station_since = Some(Instant::now());
        self.start_tools()
    }

    fn stop(&mut self) {
        self.stop_tools();
        self.mode = None;
        self.restarts = 0;
        self.station_since = None;
        self.heard_checked = None;
        self.unheard = 0;
        let iface = self.interface.clone();
        if let Err(e) = self.ip(&["addr", "flush", "dev", &iface]) {
            tracing::warn!(error = %e, "network: flushing the interface's addresses failed");
        }
    }

    fn observe(&mut self) -> Observation {
        let died = self.supervise();
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        let ap_clients = events.ap_clients.len() as u32;
        let failure = events.failure.clone().or(died);
        let associated = events.associated;
        drop(events);
        let ssid = match &self.mode {
            Some(Mode::Station(station)) => {
                Some(String::from_utf8_lossy(station.ssid.as_bytes()).into_owned())
            }
            _ => None,
        };
        let station = match ssid {
            Some(ssid) => match failure {
                Some(reason) => StationState::Failed(reason),
                None if !associated && self.network_unheard(&ssid) => {
                    StationState::Missing(missing_reason(&ssid))
                }
                None if associated => match self.has_ipv4() {
                    Some(address) => StationState::Connected { address },
                    None => StationState::Joining,
                },
                None => StationState::Joining,
            },
            _ => StationState::Idle,
        };
        Observation {
            station,
            ap_clients: if matches!(self.mode, Some(Mode::Ap(_))) {
                ap_clients
            } else {
                0
            },
        }
    }
}

impl Drop for LinuxWifi {
    fn drop(&mut self) {
        self.stop_tools();
    }
}

/// Reads a tool's output line by line, each line bounded, and notes the events that matter.
fn watch_output(name: &'static str, stream: Box<dyn std::io::Read + Send>, events: &Mutex<Events>) {
    use std::io::Read as _;
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader).take(4096).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        tracing::debug!(tool = name, "{text}");
        let mut events = events.lock().unwrap_or_else(PoisonError::into_inner);
        if note_event(text, &mut events) == Noted::Associated {
            tracing::info!("network: associated; asking for a lease");
            if let Some(dhcp) = &events.dhcp {
                // SIGUSR1: udhcpc asks for a lease now. If it has exited meanwhile the signal
                // fails (a pidfd), and `supervise` starts the mode again.
                let _ = dhcp.signal(libc::SIGUSR1);
            }
        }
    }
}

/// What a line of a tool's output meant, when something must be done about it at once.
#[derive(Debug, PartialEq, Eq)]
enum Noted {
    /// The station associated: time to ask for a lease.
    Associated,
    Other,
}

fn note_event(line: &str, e: &mut Events) -> Noted {
    let word_after = |tag: &str| {
        line.split_once(tag)
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .map(str::to_string)
    };
    if let Some(mac) = word_after("AP-STA-CONNECTED") {
        e.ap_clients.insert(mac);
    } else if let Some(mac) = word_after("AP-STA-DISCONNECTED") {
        e.ap_clients.remove(&mac);
    } else if line.contains("CTRL-EVENT-CONNECTED") {
        e.associated = true;
        e.failure = None;
        e.security_rejects = 0;
        return Noted::Associated;
    } else if line.contains("CTRL-EVENT-DISCONNECTED") {
        e.associated = false;
    } else if line.contains("CTRL-EVENT-SSID-TEMP-DISABLED") && line.contains("WRONG_KEY") {
        e.failure = Some("the Wi-Fi password was refused by the network".into());
    } else if line.contains("CTRL-EVENT-ASSOC-REJECT") {
        let status = word_after("status_code=").and_then(|s| s.parse::<u32>().ok());
        match status {
            Some(code) if is_security_reject(code) => {
                e.security_rejects += 1;
                if e.security_rejects >= MAX_SECURITY_REJECTS {
                    e.failure = Some(format!(
                        "the network refused the recorder {} times for its security \
                         (wrong password, or a Wi-Fi security it does not offer; status {code})",
                        e.security_rejects
                    ));
                }
            }
            _ => e.security_rejects = 0,
        }
    }
    Noted::Other
}

/// Whether `ssid` is missing from an `iw dev IF scan dump`; None when the list is empty (nothing
/// heard at all, or no scan yet: no answer either way).
fn unheard_in(dump: &str, ssid: &str) -> Option<bool> {
    let heard = parse_iw_scan(dump);
    (!heard.is_empty()).then(|| heard.iter().all(|n| n.ssid != ssid))
}

/// Networks from `iw dev IF scan`, strongest first, one entry per name.
pub fn parse_iw_scan(text: &str) -> Vec<ScanResult> {
    let mut found: Vec<ScanResult> = Vec::new();
    let mut current: Option<ScanResult> = None;
    let mut flush = |current: &mut Option<ScanResult>| {
        if let Some(r) = current.take() {
            if r.ssid.is_empty() {
                return;
            }
            match found.iter_mut().find(|f| f.ssid == r.ssid) {
                Some(f) if f.signal_dbm >= r.signal_dbm => {}
                Some(f) => *f = r,
                None => found.push(r),
            }
        }
    };
    for line in text.lines() {
        let trimmed = line.trim();
        if line.starts_with("BSS ") {
            flush(&mut current);
            current = Some(ScanResult {
                ssid: String::new(),
                signal_dbm: -100,
                secured: false,
            });
        } else if let Some(r) = current.as_mut() {
            if let Some(v) = trimmed.strip_prefix("signal:") {
                let dbm = v.split_whitespace().next().unwrap_or("-100");
                r.signal_dbm = dbm.parse::<f64>().map(|d| d.round() as i32).unwrap_or(-100);
            } else if let Some(v) = trimmed.strip_prefix("SSID:") {
                r.ssid = unescape_iw(v.trim_start_matches(' '));
            } else if trimmed.starts_with("RSN:")
                || trimmed.starts_with("WPA:")
                || (trimmed.starts_with("capability:") && trimmed.contains("Privacy"))
            {
                r.secured = true;
            }
        }
    }
    flush(&mut current);
    found.sort_by_key(|r| std::cmp::Reverse(r.signal_dbm));
    found.truncate(MAX_SCAN_RESULTS);
    found
}

/// iw prints bytes outside printable ASCII as `\xNN`.
fn unescape_iw(text: &str) -> String {
    let mut bytes = Vec::with_capacity(text.len());
    let raw = text.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && raw.get(i + 1) == Some(&b'x') && i + 3 < raw.len() {
            if let Some(b) = std::str::from_utf8(&raw[i + 2..(i + 4).min(raw.len())])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                bytes.push(b);
                i += 4;
                continue;
            }
        }
        bytes.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Runs a short command with a time limit; (success, stdout and stderr).
fn run_bounded(command: &mut Command) -> Result<(bool, String), String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    let out = child.stdout.take();
    let err = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        for stream in [
            out.map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            err.map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let mut stream = stream;
            let _ = std::io::Read::read_to_string(
                &mut std::io::Read::take(&mut stream, 1 << 20),
                &mut text,
            );
        }
        text
    });
    let deadline = Instant::now() + COMMAND_LIMIT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let text = reader.join().unwrap_or_default();
    match status {
        Some(s) => Ok((s.success(), text)),
        None => Err(format!(
            "{:?} took longer than {} s",
            command.get_program(),
            COMMAND_LIMIT.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iw_scan_output_becomes_a_list_strongest_first() {
        let text = "BSS 11:22:33:44:55:66(on wlan0)\n\
            \tcapability: ESS Privacy ShortSlotTime (0x0411)\n\
            \tsignal: -71.00 dBm\n\
            \tSSID: Neighbours\n\
            \tRSN:\t * Version: 1\n\
            BSS aa:bb:cc:dd:ee:ff(on wlan0)\n\
            \tcapability: ESS (0x0401)\n\
            \tsignal: -80.00 dBm\n\
            \tSSID: Caf\\xc3\\xa9 Free\n\
            BSS 11:22:33:44:55:67(on wlan0)\n\
            \tsignal: -45.00 dBm\n\
            \tSSID: HomeNet\n\
            \tRSN:\t * Version: 1\n\
            BSS 11:22:33:44:55:68(on wlan0)\n\
            \tsignal: -60.00 dBm\n\
            \tSSID: HomeNet\n\
            BSS 11:22:33:44:55:69(on wlan0)\n\
            \tsignal: -30.00 dBm\n\
            \tSSID: \n";
        let found = parse_iw_scan(text);
        let names: Vec<_> = found.iter().map(|r| r.ssid.as_str()).collect();
        assert_eq!(names, ["HomeNet", "Neighbours", "Café Free"]);
        assert_eq!(found[0].signal_dbm, -45);
        assert!(found[0].secured && found[1].secured && !found[2].secured);
    }

    #[test]
    fn tool_output_tracks_phones_and_wrong_passwords() {
        let mut e = Events::default();
        note_event("wlan0: AP-STA-CONNECTED 02:00:00:00:00:01", &mut e);
        note_event("wlan0: AP-STA-CONNECTED 02:00:00:00:00:02", &mut e);
        note_event("wlan0: AP-STA-DISCONNECTED 02:00:00:00:00:01", &mut e);
        assert_eq!(e.ap_clients.len(), 1);
        note_event(
            "wlan0: CTRL-EVENT-SSID-TEMP-DISABLED id=0 ssid=\"HomeNet\" auth_failures=1 \
             duration=10 reason=WRONG_KEY",
            &mut e,
        );
        assert!(e.failure.as_deref().unwrap().contains("password"));
        note_event(
            "wlan0: CTRL-EVENT-CONNECTED - Connection to 11:22:33:44:55:66 completed",
            &mut e,
        );
        assert!(e.associated && e.failure.is_none());
    }

    #[test]
    fn a_network_is_unheard_only_when_the_scan_list_holds_others() {
        let dump = "BSS 11:22:33:44:55:66(on wlan0)\n\tsignal: -45.00 dBm\n\tSSID: HomeNet\n\
            BSS 11:22:33:44:55:67(on wlan0)\n\tsignal: -70.00 dBm\n\tSSID: Caf\\xc3\\xa9\n";
        assert_eq!(unheard_in(dump, "HomeNet"), Some(false));
        assert_eq!(unheard_in(dump, "Café"), Some(false));
        assert_eq!(unheard_in(dump, "HomeNet 5G"), Some(true));
        assert_eq!(
            unheard_in("", "HomeNet"),
            None,
            "an empty list says nothing"
        );
    }

    /// A signal through a pidfd reaches the live child, and fails once the child is reaped,
    /// where a `kill(pid)` could reach whatever process took its pid.
    #[test]
    fn signals_reach_only_the_process_itself() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let process = Process::of(&child).unwrap();
        process.signal(libc::SIGTERM).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGTERM)
        );
        let error = process.signal(libc::SIGUSR1).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ESRCH));
    }

    #[test]
    fn association_asks_for_a_lease_at_once() {
        let mut e = Events::default();
        assert_eq!(
            note_event(
                "wlan0: CTRL-EVENT-CONNECTED - Connection to 11:22:33:44:55:66 completed",
                &mut e
            ),
            Noted::Associated
        );
        assert_eq!(
            note_event(
                "wlan0: CTRL-EVENT-DISCONNECTED bssid=11:22:33:44:55:66",
                &mut e
            ),
            Noted::Other
        );
    }

    #[test]
    fn security_refusals_in_a_row_end_the_join() {
        let reject = |code: u32| {
            format!("wlan0: CTRL-EVENT-ASSOC-REJECT bssid=11:22:33:44:55:66 status_code={code}")
        };
        let mut e = Events::default();
        for _ in 1..MAX_SECURITY_REJECTS {
            note_event(&reject(43), &mut e);
        }
        assert!(e.failure.is_none(), "not yet");
        note_event(&reject(43), &mut e);
        let failure = e.failure.clone().expect("reported after the limit");
        assert!(
            failure.contains("security") && failure.contains("status 43"),
            "{failure}"
        );

        // Other refusals (the access point is full) break the run and are retried.
        let mut e = Events::default();
        for code in [31, 40, 17, 45, 44] {
            note_event(&reject(code), &mut e);
        }
        assert!(e.failure.is_none());
        note_event(&reject(41), &mut e);
        assert!(e.failure.is_some());
        // A connection starts the count again.
        let mut e = Events::default();
        note_event(&reject(43), &mut e);
        note_event(&reject(43), &mut e);
        note_event(
            "wlan0: CTRL-EVENT-CONNECTED - Connection to 11:22:33:44:55:66",
            &mut e,
        );
        note_event(&reject(43), &mut e);
        assert!(e.failure.is_none());
    }
}
