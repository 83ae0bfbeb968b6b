//! The harness of the daemon's end-to-end tests: a throwaway recorder (ring file, config, memories,
//! state and control socket under one temporary directory) running the real `moment-recorder run`
//! as a child; bounded waits on what `moment-recorder status` prints; a crash as SIGKILL of the
//! daemon and everything it started (as systemd kills a service's cgroup); a small loop-mounted
//! ext4 for the disk-full tests; ffprobe/ffmpeg checks of the memories; and plain HTTP/1.1 requests
//! to its web server. Every child is killed by its PID when its guard drops, so a failing test
//! leaves no recorder, camera or rclone behind.

#![allow(dead_code)] // not every test uses every helper

pub mod browser;
pub mod web;

use crate::support::{cli, effective_uid, program, s, Run, BIN};
use serde_json::Value;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

pub const MIB: u64 = 1 << 20;
/// How often the tests look at the status.
pub const POLL: Duration = Duration::from_millis(200);
/// From start until bytes flow into the ring (ffmpeg's start on a loaded 2-core machine).
pub const STARTUP: Duration = Duration::from_secs(60);
/// From a press until the memory is on disk.
pub const SAVE: Duration = Duration::from_secs(60);
/// From a memory until its upload is confirmed.
pub const UPLOAD: Duration = Duration::from_secs(90);
/// From SIGTERM until the daemon has exited.
pub const STOP: Duration = Duration::from_secs(20);

/// Stands for the recorder's temporary directory in `Settings::upload`.
pub const ROOT: &str = "@ROOT@";

/// What the tests vary in the daemon's configuration; the rest is fixed and small.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The test camera's video bitrate (bits per second).
    pub bitrate: u32,
    pub save_step_s: f64,
    pub hold_step_s: f64,
    /// `None`: `memories` in the temporary directory.
    pub memories_dir: Option<PathBuf>,
    pub min_free_mib: u64,
    /// The body of `[upload]`; `ROOT` in it becomes the recorder's directory.
    pub upload: String,
    /// The body of `[web]`; off unless a test serves the web API.
    pub web: String,
    /// More lines for `[source]` and `[source.test]` (`ROOT` in them becomes the recorder's
    /// directory).
    pub source: String,
    pub test_source: String,
    /// The body of `[network]` (`ROOT` becomes the recorder's directory); off by default.
    pub network: String,
    /// The body of `[update]` (`ROOT` becomes the recorder's directory); off by default.
    pub update: String,
    /// The body of `[usb]` (`ROOT` becomes the recorder's directory); off by default.
    pub usb: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bitrate: 300_000,
            save_step_s: 4.0,
            hold_step_s: 1.0,
            memories_dir: None,
            min_free_mib: 16,
            upload: "remote = \"\"\n".into(),
            web: "listen = \"\"\n".into(),
            source: String::new(),
            test_source: String::new(),
            network: String::new(),
            update: String::new(),
            usb: String::new(),
        }
    }
}

/// The ffmpeg, ffprobe and rclone the tests run. Missing ones skip the test, except under CI.
pub fn have_tools(test: &str) -> bool {
    for tool in ["ffmpeg", "ffprobe", "rclone"] {
        let ok = Command::new(tool)
            .arg(if tool == "rclone" {
                "version"
            } else {
                "-version"
            })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var_os("CI").is_none(),
                "{tool} is missing: install it (ci/install-deps.sh)"
            );
            eprintln!("SKIPPED {test}: {tool} is missing (fails when CI is set)");
            return false;
        }
    }
    true
}

/// Root is needed for loop devices and mounts: without it the test is skipped, except under CI.
pub fn have_root(test: &str) -> bool {
    let euid = effective_uid();
    if euid == Some(0) {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} needs root for a loop mount (effective uid {euid:?}), and CI must run it"
    );
    eprintln!("SKIPPED {test}: needs root for a loop mount (fails when CI is set)");
    false
}

/// The recorder's files, under one temporary directory.
pub struct Recorder {
    pub tmp: tempfile::TempDir,
    pub ring: PathBuf,
    pub config: PathBuf,
    pub memories: PathBuf,
    pub state: PathBuf,
    pub socket: PathBuf,
    /// The daemon's standard output and error, across restarts.
    pub log: PathBuf,
}

impl Recorder {
    /// Formats a 256 MiB ring file and writes the configuration.
    pub fn new(settings: &Settings) -> Recorder {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        let rec = Recorder {
            ring: root.join("ring.img"),
            config: root.join("config.toml"),
            memories: settings
                .memories_dir
                .clone()
                .unwrap_or_else(|| root.join("memories")),
            state: root.join("state"),
            socket: root.join("run").join("control.sock"),
            log: root.join("daemon.log"),
            tmp,
        };
        cli(&["ring", "format", s(&rec.ring), "--size", "256M"]).expect_code(0);
        std::fs::write(&rec.config, rec.config_text(settings)).expect("write config.toml");
        rec
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    fn config_text(&self, settings: &Settings) -> String {
        format!(
            "[ring]\ndevice = {ring:?}\n\n\
             [source]\nkind = \"test\"\n{source}\n\
             [source.test]\nwidth = 320\nheight = 240\nbitrate = {bitrate}\n{test_source}\n\
             [segments]\ntarget_s = 2\n\n\
             [memories]\ndir = {memories:?}\nmin_free_mib = {min_free}\n\n\
             [state]\ndir = {state:?}\n\n\
             [control]\nsocket = {socket:?}\n\n\
             [buttons]\nbackend = \"simulated\"\nsave_step_s = {save:?}\nhold_step_s = {hold:?}\n\n\
             [web]\n{web}\n\
             [network]\n{network}\n\
             [update]\n{update}\n\
             [usb]\n{usb}\n\
             [upload]\n{upload}",
            ring = s(&self.ring),
            bitrate = settings.bitrate,
            memories = s(&self.memories),
            min_free = settings.min_free_mib,
            state = s(&self.state),
            socket = s(&self.socket),
            save = settings.save_step_s,
            hold = settings.hold_step_s,
            upload = settings.upload.replace(ROOT, s(self.root())),
            web = settings.web,
            network = settings.network.replace(ROOT, s(self.root())),
            update = settings.update.replace(ROOT, s(self.root())),
            usb = settings.usb.replace(ROOT, s(self.root())),
            source = settings.source.replace(ROOT, s(self.root())),
            test_source = settings.test_source.replace(ROOT, s(self.root())),
        )
    }

    /// Starts `moment-recorder run --config …`.
    pub fn start(&self) -> Daemon {
        self.start_under(&[])
    }

    /// Starts it under `wrapper` (e.g. `ip netns exec NS`, which execs, so the pid stays the
    /// daemon's).
    pub fn start_under(&self, wrapper: &[&str]) -> Daemon {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the daemon log");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        let child = command
            .args(["run", "--config", s(&self.config)])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start moment-recorder run");
        Daemon {
            pid: child.id(),
            child: Some(child),
            socket: self.socket.clone(),
            log: self.log.clone(),
        }
    }

    /// The final-named memories (`*.mp4`, not the exports' hidden `.NAME.partial`), sorted.
    pub fn memory_files(&self) -> Vec<String> {
        names_in(&self.memories, |n| {
            !n.starts_with('.') && n.ends_with(".mp4")
        })
    }

    /// Unfinished exports (`.NAME.partial`).
    pub fn partial_files(&self) -> Vec<String> {
        names_in(&self.memories, |n| {
            n.starts_with('.') && n.ends_with(".partial")
        })
    }

    pub fn memory(&self, name: &str) -> PathBuf {
        self.memories.join(name)
    }

    /// A memory's sidecar (`NAME.mp4.json`).
    pub fn sidecar(&self, name: &str) -> Value {
        let path = self.memories.join(format!("{name}.json"));
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("sidecar {}: {e}", path.display()));
        serde_json::from_slice(&bytes).expect("the sidecar is JSON")
    }

    /// The sidecar's upload state, or "" while it cannot be read.
    pub fn upload_state(&self, name: &str) -> String {
        std::fs::read(self.memories.join(format!("{name}.json")))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["upload"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// `moment-recorder ring fsck` (only while no daemon runs).
    pub fn fsck(&self) -> Run {
        cli(&["ring", "fsck", s(&self.ring)])
    }
}

/// File names in `dir` that `keep` accepts, sorted; none if the directory cannot be read.
pub fn names_in(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| keep(n))
        .collect();
    names.sort();
    names
}

/// A running `moment-recorder run`, SIGKILLed with everything it started when dropped.
pub struct Daemon {
    pub pid: u32,
    child: Option<Child>,
    socket: PathBuf,
    log: PathBuf,
}

impl Daemon {
    /// `moment-recorder status` as JSON, or `None` while the daemon does not answer (starting).
    pub fn try_status(&self) -> Option<Value> {
        let run = cli(&["status", "--socket", s(&self.socket)]);
        (run.code == Some(0)).then(|| run.json())
    }

    /// The status; the daemon must answer.
    pub fn status(&self) -> Value {
        self.try_status()
            .unwrap_or_else(|| panic!("the daemon did not answer status\n{}", self.log_tail()))
    }

    /// Polls the status every `POLL` until `pred` holds; panics after `limit` or if the daemon
    /// exits, showing the last status and the end of the daemon's log.
    pub fn wait(&mut self, limit: Duration, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        let mut last = Value::Null;
        loop {
            if let Some(status) = self.try_status() {
                if pred(&status) {
                    return status;
                }
                last = status;
            }
            if let Some(exit) = self.exited() {
                panic!(
                    "the daemon exited ({exit}) while waiting for {what}\n{}",
                    self.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {limit:?}; last status:\n{last:#}\n{}",
                self.log_tail()
            );
            std::thread::sleep(POLL);
        }
    }

    /// Until bytes flow and the ring holds a segment.
    pub fn wait_recording(&mut self) -> Value {
        self.wait(STARTUP, "recording", |s| {
            at(s, "/recording/bytes") > 0 && at(s, "/ring/segment_count") > 0
        })
    }

    /// Until the ring holds at least `history` of recording before now.
    pub fn wait_history(&mut self, history: Duration) -> Value {
        let limit = STARTUP + history;
        self.wait(limit, &format!("{history:?} of recording"), |s| {
            let oldest = s.pointer("/ring/oldest_utc_us").and_then(Value::as_i64);
            oldest.is_some_and(|o| o <= now_us() - history.as_micros() as i64)
        })
    }

    /// `moment-recorder press ARGS… --socket …`, which must be accepted.
    pub fn press(&self, args: &[&str]) {
        let mut all = vec!["press"];
        all.extend_from_slice(args);
        all.extend(["--socket", s(&self.socket)]);
        let run = cli(&all);
        assert_eq!(
            run.code,
            Some(0),
            "press {args:?}: {}\n{}",
            run.stderr,
            self.log_tail()
        );
    }

    /// The exit status, if the daemon has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().expect("try_wait")
    }

    /// A crash: SIGKILL to the daemon and at once to every process it started (ffmpeg, rclone),
    /// as systemd does to the rest of the service's cgroup. Waits until all are gone.
    pub fn kill9(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let descendants = descendants(self.pid);
        signal(self.pid, libc::SIGKILL);
        for &pid in &descendants {
            signal(pid, libc::SIGKILL);
        }
        let _ = child.wait();
        let deadline = Instant::now() + STOP;
        while descendants.iter().any(|&p| alive(p)) {
            assert!(
                Instant::now() < deadline,
                "processes {descendants:?} outlived SIGKILL"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits (at most `limit`) for the exit.
    pub fn terminate(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        let sent = Instant::now();
        signal(self.pid, libc::SIGTERM);
        loop {
            if let Some(status) = self.exited() {
                self.child = None;
                return (status, sent.elapsed());
            }
            if sent.elapsed() > limit {
                self.kill9();
                panic!(
                    "the daemon did not exit within {limit:?} of SIGTERM\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last lines the daemon logged (for failure messages).
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("daemon log:\n{}", self.log_tail());
        }
        self.kill9();
    }
}

/// The end of a log file, at most 40 lines.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(40);
    format!("--- {} ---\n{}", path.display(), lines[from..].join("\n"))
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) on a process this test started (or one its daemon started).
    unsafe { libc::kill(pid as libc::pid_t, sig) };
}

/// (state, parent pid) of a process, from /proc/PID/stat.
fn proc_stat(pid: u32) -> Option<(char, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything: parse after the last ')'.
    let mut fields = text[text.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Alive and not a zombie.
fn alive(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

/// Every process below `root`, from /proc.
pub fn descendants(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Some((_, ppid)) = proc_stat(pid) {
            parents.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(parents.iter().filter(|p| p.1 == parent).map(|p| p.0));
        i += 1;
    }
    found.remove(0);
    found
}

/// A small ext4 file system on a loop device, mounted on a temporary directory; unmounted and
/// detached when dropped (declare it before the daemon that uses it, so it drops after).
pub struct SmallDisk {
    pub mountpoint: PathBuf,
    device: String,
    mounted: bool,
    _tmp: tempfile::TempDir,
}

impl SmallDisk {
    pub fn new(size: &str) -> SmallDisk {
        let tmp = tempfile::tempdir().expect("tempdir");
        let image = tmp.path().join("disk.img");
        let mountpoint = tmp.path().join("mnt");
        std::fs::create_dir(&mountpoint).expect("mount point");
        must(program("truncate", &["-s", size, s(&image)]), "truncate");
        must(program("mkfs.ext4", &["-q", "-F", s(&image)]), "mkfs.ext4");
        let attach = must(program("losetup", &["-f", "--show", s(&image)]), "losetup");
        let mut disk = SmallDisk {
            mountpoint,
            device: attach.text().trim().to_owned(),
            mounted: false,
            _tmp: tmp,
        };
        must(
            program("mount", &[&disk.device, s(&disk.mountpoint)]),
            "mount",
        );
        disk.mounted = true;
        disk
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if self.mounted {
            let ok = program("umount", &[s(&self.mountpoint)]).is_some_and(|r| r.code == Some(0));
            if !ok {
                let _ = program("umount", &["-l", s(&self.mountpoint)]);
            }
        }
        let _ = program("losetup", &["-d", &self.device]);
    }
}

fn must(run: Option<Run>, what: &str) -> Run {
    let run = run.unwrap_or_else(|| panic!("{what} is not installed"));
    assert_eq!(run.code, Some(0), "{what}: {}", run.stderr);
    run
}

/// The value at a JSON pointer as a number; panics naming it if absent.
pub fn at(json: &Value, pointer: &str) -> u64 {
    json.pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no number at {pointer} in {json:#}"))
}

pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_micros() as i64
}

/// The container's duration in seconds, from ffprobe.
pub fn duration_s(path: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration", "-of"])
        .args(["default=noprint_wrappers=1:nokey=1", s(path)])
        .output()
        .expect("run ffprobe");
    assert!(out.status.success(), "ffprobe {}: {out:?}", path.display());
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("ffprobe gave {text:?} for {}", path.display()))
}

/// The file decodes from end to end without a single error from ffmpeg.
pub fn assert_decodes(path: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i", s(path), "-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{} does not decode cleanly: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
