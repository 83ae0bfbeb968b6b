//! Helpers for the uploader tests: a real `rclone serve webdav` on 127.0.0.1 (killed by PID when
//! dropped), an rclone.conf pointing at it, memory files with known bytes, a clock whose time of day
//! the test sets, and bounded waits on the uploader's status.

#![allow(dead_code)] // each test binary uses its own subset

use moment_recorder::upload::{Clock, SystemClock, UploadConfig, UploadHandle, UploadStatus};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

pub const MIB: usize = 1 << 20;
/// The WebDAV server's credentials (the password goes into rclone.conf obscured).
const USER: &str = "u";
const PASS: &str = "p";
/// Longest wait for the server to accept connections.
const SERVER_START: Duration = Duration::from_secs(10);

/// A free port on 127.0.0.1: bind port 0, read it, close.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// `rclone serve webdav DIR` on a fixed port, restartable on the same port and directory.
pub struct WebDav {
    pub dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl WebDav {
    pub fn start(dir: &Path) -> WebDav {
        let mut server = WebDav {
            dir: dir.to_owned(),
            port: free_port(),
            child: None,
        };
        server.restart();
        server
    }

    /// Starts the server (again) on the same port and directory and waits until it accepts.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "server already running");
        std::fs::create_dir_all(&self.dir).expect("served dir");
        let child = Command::new("rclone")
            .arg("serve")
            .arg("webdav")
            .arg(&self.dir)
            .args(["--addr", &format!("127.0.0.1:{}", self.port)])
            .args(["--user", USER, "--pass", PASS])
            // The test looks at the served directory directly: no directory caching.
            .args(["--dir-cache-time", "0s"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rclone serve webdav (is rclone installed?)");
        self.child = Some(child);
        let deadline = Instant::now() + SERVER_START;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "rclone serve webdav did not start on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL by PID) and reaps it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for WebDav {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes an rclone.conf (mode 0600) with a WebDAV remote `dav` at `url` and a local remote
/// `disk` (a backend with hashes and server-side move).
pub fn write_rclone_conf(path: &Path, url: &str) {
    let obscured = Command::new("rclone")
        .args(["obscure", PASS])
        .output()
        .expect("rclone obscure");
    assert!(obscured.status.success(), "rclone obscure failed");
    let pass = String::from_utf8(obscured.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    let text = format!(
        "[dav]\ntype = webdav\nurl = {url}\nvendor = other\nuser = {USER}\npass = {pass}\n\n\
         [disk]\ntype = local\n"
    );
    std::fs::write(path, text).expect("write rclone.conf");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 0600");
}

/// Runs rclone with `conf` synchronously (for setting up or inspecting the remote).
pub fn rclone(conf: &Path, args: &[&str]) -> std::process::Output {
    Command::new("rclone")
        .args(args)
        .arg("--config")
        .arg(conf)
        .output()
        .expect("run rclone")
}

/// A test's directories: memories, uploader state, the served WebDAV root, rclone.conf.
pub struct Dirs {
    pub tmp: tempfile::TempDir,
    pub memories: PathBuf,
    pub state: PathBuf,
    pub served: PathBuf,
    pub conf: PathBuf,
}

impl Dirs {
    pub fn new() -> Dirs {
        let tmp = tempfile::tempdir().expect("tempdir");
        let memories = tmp.path().join("memories");
        std::fs::create_dir_all(&memories).expect("memories dir");
        Dirs {
            memories,
            state: tmp.path().join("state"),
            served: tmp.path().join("served"),
            conf: tmp.path().join("rclone.conf"),
            tmp,
        }
    }

    /// Where the server keeps a memory uploaded to `dav:memories`.
    pub fn remote_file(&self, name: &str) -> PathBuf {
        self.served.join("memories").join(name)
    }

    /// File names in the served `memories` folder, sorted.
    pub fn remote_names(&self) -> Vec<String> {
        let Ok(read) = std::fs::read_dir(self.served.join("memories")) else {
            return Vec::new();
        };
        let mut names: Vec<String> = read
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Writes a memory of `len` pseudo-random bytes (seeded, so every file differs).
    pub fn memory(&self, name: &str, len: usize, seed: u64) -> Vec<u8> {
        let bytes = pseudo_random(len, seed);
        std::fs::write(self.memories.join(name), &bytes).expect("write memory");
        bytes
    }
}

/// Incompressible, reproducible bytes (xorshift64*), fast enough for 64 MiB.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The uploader configuration the tests start from: the WebDAV remote, short backoff.
pub fn config(dirs: &Dirs, remote: &str) -> UploadConfig {
    UploadConfig {
        remote: remote.to_owned(),
        rclone_config: dirs.conf.clone(),
        backoff_min_s: 1,
        backoff_max_s: 2,
        timeout_s: 60,
        ..UploadConfig::default()
    }
}

/// Real UTC, but a local time of day the test sets.
pub struct TestClock {
    minute: AtomicU16,
}

impl TestClock {
    pub fn at(hh: u16, mm: u16) -> TestClock {
        TestClock {
            minute: AtomicU16::new(hh * 60 + mm),
        }
    }

    pub fn set(&self, hh: u16, mm: u16) {
        self.minute.store(hh * 60 + mm, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now_utc_ms(&self) -> i64 {
        SystemClock.now_utc_ms()
    }

    fn local_minute_of_day(&self) -> u16 {
        self.minute.load(Ordering::SeqCst)
    }
}

/// Waits (at most `limit`) until the status satisfies `pred`; panics with the status otherwise.
pub async fn wait_status(
    handle: &UploadHandle,
    limit: Duration,
    what: &str,
    pred: impl Fn(&UploadStatus) -> bool,
) -> UploadStatus {
    let mut rx = handle.subscribe();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let status = rx.borrow_and_update().clone();
        if pred(&status) {
            return status;
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!("uploader stopped waiting for {what}: {:?}", handle.status()),
            Err(_) => panic!("no {what} within {limit:?}; status {:#?}", handle.status()),
        }
    }
}
