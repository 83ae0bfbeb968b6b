//! `moment-recorder record` end to end: the real binary records real MPEG-TS from ffmpeg into a
//! ring file, stops on its own, on SIGTERM and when standard input ends, marks source restarts as
//! discontinuities, and refuses bad options with a message that names them.

mod support;

use moment_ring::{flags, DirectIo, FileDevice, OpenOptions, Ring, SegmentInfo};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{cli, finish, format_64m, have_ffmpeg, s, BIN};

/// A small live test pattern: cheap enough for a slow CI machine.
const SMALL_TEST: [&str; 10] = [
    "--source",
    "test",
    "--width",
    "320",
    "--height",
    "240",
    "--bitrate",
    "300000",
    "--segment",
    "2s",
];

fn segments(ring: &Path) -> Vec<SegmentInfo> {
    let dev = FileDevice::open(ring, false, DirectIo::Auto).unwrap();
    let options = OpenOptions {
        read_only: true,
        ..OpenOptions::default()
    };
    let ring = Ring::open(dev, options).unwrap();
    ring.reader().segments()
}

/// A 2-second clip with video and audio, made once per test binary run.
fn clip(dir: &Path) -> PathBuf {
    let path = dir.join("clip.ts");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=320x240:rate=25")
        .args(["-f", "lavfi", "-i", "sine", "-t", "2", "-c:v", "libx264"])
        .args([
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-c:a",
            "aac",
            "-f",
            "mpegts",
        ])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

fn assert_clean(ring: &Path) {
    cli(&["ring", "fsck", s(ring)]).expect_code(0);
}

#[test]
fn records_the_test_pattern_for_a_duration() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("ring.img");
    format_64m(&ring);
    let mut args = vec!["record", "--device", s(&ring), "--duration", "7s"];
    args.extend(SMALL_TEST);
    let run = cli(&args).expect_code(0);
    assert!(run.stderr.contains("source started"), "{}", run.stderr);
    let stored = segments(&ring);
    assert!(
        stored.len() >= 2,
        "{} segments\n{}",
        stored.len(),
        run.stderr
    );
    let first = &stored[0];
    assert!(first.meta.flags & flags::KEYFRAME_START != 0);
    assert!(first.meta.duration_us >= 1_900_000, "{:?}", first.meta);
    assert_clean(&ring);
    // The stored bytes decode: `ring cat` of the first segment through ffmpeg.
    let seq = first.seq.to_string();
    let cat = cli(&["ring", "cat", s(&ring), "--from", &seq, "--to", &seq]).expect_code(0);
    let ts = dir.path().join("first.ts");
    std::fs::write(&ts, &cat.stdout).unwrap();
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(&ts)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
}

#[test]
fn sigterm_stores_the_segment_in_progress() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("ring.img");
    format_64m(&ring);
    let mut args = vec!["record", "--device", s(&ring)];
    args.extend(SMALL_TEST);
    let child = Command::new(BIN)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (bounded) until one whole segment is in the ring, then stop mid-segment.
    let deadline = Instant::now() + Duration::from_secs(60);
    while segments(&ring).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(1000));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let stopped = Instant::now();
    let run = finish(child, "record").expect_code(0);
    assert!(stopped.elapsed() < Duration::from_secs(10));
    let stored = segments(&ring);
    assert!(
        stored.len() >= 2,
        "the partial segment is kept: {}",
        run.stderr
    );
    let last = stored.last().unwrap();
    assert!(
        last.meta.duration_us < 2_000_000,
        "the last segment is the cut-short one: {:?}",
        last.meta
    );
    assert_clean(&ring);
}

#[test]
fn standard_input_records_until_it_ends() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("ring.img");
    format_64m(&ring);
    let clip = clip(dir.path());
    let child = Command::new(BIN)
        .args(["record", "--device", s(&ring), "--source", "stdin"])
        .stdin(std::fs::File::open(&clip).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let run = finish(child, "record --source stdin").expect_code(0);
    assert!(run.stderr.contains("cannot be restarted"), "{}", run.stderr);
    let stored = segments(&ring);
    assert_eq!(stored.len(), 1, "a 2 s clip is one segment");
    let bytes: u64 = stored.iter().map(|i| u64::from(i.payload_len)).sum();
    let clip_len = std::fs::metadata(&clip).unwrap().len();
    assert!(bytes >= clip_len, "all {clip_len} bytes stored ({bytes})");
}

#[test]
fn a_restarted_source_is_a_discontinuity_in_the_ring() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("ring.img");
    format_64m(&ring);
    let clip = clip(dir.path());
    let run = cli(&[
        "record",
        "--device",
        s(&ring),
        "--source",
        "ffmpeg",
        "--input",
        s(&clip),
        "--realtime",
        "--segment",
        "2s",
        "--duration",
        "6s",
    ])
    .expect_code(0);
    assert!(run.stderr.contains("source restarted"), "{}", run.stderr);
    let stored = segments(&ring);
    assert!(stored.len() >= 2, "{}", run.stderr);
    assert_eq!(stored[0].meta.flags & flags::DISCONTINUITY, 0);
    assert!(
        stored[1..]
            .iter()
            .all(|i| i.meta.flags & flags::DISCONTINUITY != 0),
        "each clip after a restart starts a discontinuity: {:?}",
        stored.iter().map(|i| i.meta.flags).collect::<Vec<_>>()
    );
    assert_clean(&ring);
}

#[test]
fn bad_options_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("ring.img");
    format_64m(&ring);
    let cases: [(&[&str], &str); 4] = [
        (&["--source", "ffmpeg"], "--input"),
        (&["--source", "test", "--segment", "1s"], "--segment"),
        (&["--source", "test", "--fps", "0"], "fps"),
        (&["--source", "ffmpeg", "--input=-f"], "input"),
    ];
    for (extra, named) in cases {
        let mut args = vec!["record", "--device", s(&ring)];
        args.extend(extra);
        let run = cli(&args).expect_code(2);
        assert!(run.stderr.contains(named), "{extra:?}: {}", run.stderr);
    }
    let missing = dir.path().join("missing.img");
    let run = cli(&["record", "--device", s(&missing), "--source", "test"]).expect_code(2);
    assert!(run.stderr.contains("missing.img"), "{}", run.stderr);
    assert!(segments(&ring).is_empty());
}
