//! Helpers for the CLI tests: run the real binary with a time bound, put segments into a ring
//! through the moment-ring API (as the recorder will), and damage ring files on purpose.

#![allow(dead_code)] // each test binary uses its own subset

pub mod loop_device;
pub mod stick;

use moment_ring::{flags, DirectIo, FileDevice, OpenOptions, Ring, SegmentInfo, SegmentMeta};
use serde_json::Value;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_moment-recorder");
pub const MIB: u64 = 1 << 20;
/// The segment header block before each payload in the data area.
pub const BLOCK: u64 = 4096;
/// Start of the first test segment: 2023-11-14T22:13:20Z.
pub const BASE_UTC_US: i64 = 1_700_000_000_000_000;
pub const SEGMENT_US: u64 = 2_000_000;
/// Longest any one command may take; a 64 MiB ring is checked in well under a second.
const COMMAND_LIMIT: Duration = Duration::from_secs(120);

/// A finished command: exit code, standard output, standard error.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Asserts the exit code, showing both streams when it differs.
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code,
            Some(code),
            "exit status\nstdout:\n{}\nstderr:\n{}",
            self.text(),
            self.stderr
        );
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout).expect("inspect --json prints one JSON object")
    }
}

/// True when ffmpeg runs. With `CI` set its absence fails the test instead of skipping it.
pub fn have_ffmpeg() -> bool {
    let ok = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "ffmpeg missing: install it (ci/install-deps.sh)"
    );
    ok
}

/// Runs `moment-recorder ARGS…` to completion (bounded by `COMMAND_LIMIT`).
pub fn cli(args: &[&str]) -> Run {
    let child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start moment-recorder");
    finish(child, &format!("moment-recorder {}", args.join(" ")))
}

/// Runs an arbitrary program (losetup) with the same bound.
pub fn program(name: &str, args: &[&str]) -> Option<Run> {
    let child = Command::new(name)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    Some(finish(child, &format!("{name} {}", args.join(" "))))
}

/// Waits for `child` at most `COMMAND_LIMIT`, killing it (by its pid) if it hangs.
pub fn finish(child: Child, what: &str) -> Run {
    finish_within(child, what, COMMAND_LIMIT)
}

/// [`finish`] with its own limit (a browser scenario takes minutes).
pub fn finish_within(child: Child, what: &str, limit: Duration) -> Run {
    let pid = child.id();
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let output: Output = match result.recv_timeout(limit) {
        Ok(output) => output.expect("wait for the command"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("`{what}` did not finish within {limit:?}");
        }
    };
    Run {
        code: output.status.code(),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Starts `moment-recorder ARGS…` with its standard output as a pipe the test reads itself.
pub fn spawn_piped(args: &[&str]) -> (Child, impl Read) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start moment-recorder");
    let stdout = child.stdout.take().expect("piped stdout");
    (child, stdout)
}

/// MPEG-TS-like bytes: 188-byte packets with the sync byte, then a per-segment pattern.
pub fn payload(seq: u64, len: usize) -> Vec<u8> {
    let mut state = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|i| {
            if i % 188 == 0 {
                return 0x47;
            }
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// The metadata of test segment `i` (0-based): back to back, two seconds each.
pub fn meta(i: u64) -> SegmentMeta {
    SegmentMeta {
        utc_start_us: BASE_UTC_US + i as i64 * SEGMENT_US as i64,
        mono_start_us: i * SEGMENT_US,
        duration_us: SEGMENT_US,
        flags: flags::TIME_SYNCED | flags::KEYFRAME_START,
        ..SegmentMeta::default()
    }
}

/// Appends `payloads` to the ring on `path` through the library, as the recorder does.
pub fn append(path: &Path, payloads: &[Vec<u8>]) -> Vec<SegmentInfo> {
    let dev = FileDevice::open(path, true, DirectIo::Auto).expect("open the ring device");
    let mut ring = Ring::open(dev, OpenOptions::default()).expect("open the ring");
    let first = ring.stats().oldest_seq + ring.stats().segment_count - 1;
    payloads
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let info = ring.append(&meta(i as u64), p).expect("append");
            assert_eq!(info.seq, first + 1 + i as u64);
            info
        })
        .collect()
}

/// Formats a fresh sparse 64 MiB ring file at `path` through the CLI.
pub fn format_64m(path: &Path) {
    cli(&["ring", "format", s(path), "--size", "64M"]).expect_code(0);
}

/// `ring inspect --json` of `path`.
pub fn inspect_json(path: &Path) -> Value {
    cli(&["ring", "inspect", s(path), "--json"])
        .expect_code(0)
        .json()
}

pub fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

pub fn u64_at(json: &Value, pointer: &str) -> u64 {
    json.pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{pointer} in {json}"))
}

pub fn write_bytes(path: &Path, offset: u64, bytes: &[u8]) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, offset).unwrap();
    file.sync_all().unwrap();
}

pub fn read_bytes(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    let file = std::fs::File::open(path).unwrap();
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, offset).unwrap();
    buf
}

/// CRC-32/ISO-HDLC, as the ring's frames use (docs/ring-format.md, "The frame").
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// The effective user id, from /proc (no libc call needed in a test).
pub fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}
