//! `moment-recorder export` end to end: the real binary exports from a ring file filled the way the
//! recorder fills it (ffmpeg-made MPEG-TS through the segmenter into
//! `Ring::append_with_keyframes`), with a time zone set, and every file it writes is checked with
//! ffmpeg: cut at the keyframes (one a second) around the range. Failures must say what to do
//! and leave nothing behind.

mod support;

use moment_media::{Clock, Segmenter, SegmenterConfig};
use moment_ring::{DirectIo, FileDevice, OpenOptions, Ring};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use support::{finish, format_64m, have_ffmpeg, s, Run, BIN};

/// 2026-11-29T10:00:00Z, where the test recording starts.
const START_US: i64 = 1_795_946_400_000_000;
/// A time zone three hours east of UTC that needs no tzdata.
const TZ: &str = "XYZ-3";

/// 30 s of 320x240 H.264 (GOP 1 s) and AAC, encoded once per build directory.
fn fixture() -> &'static [u8] {
    static FIXTURE: OnceLock<Vec<u8>> = OnceLock::new();
    FIXTURE.get_or_init(make_fixture)
}

fn make_fixture() -> Vec<u8> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("export-cli-30s.ts");
    if !path.exists() {
        let tmp = dir.join(format!("export-cli-30s.{}.tmp", std::process::id()));
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc2=size=320x240:rate=30")
            .args(["-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "30"])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-g",
                "30",
                "-bf",
                "0",
            ])
            .args(["-sc_threshold", "0", "-c:a", "aac", "-f", "mpegts"])
            .arg(&tmp)
            .status()
            .unwrap();
        assert!(status.success(), "ffmpeg could not make the fixture");
        std::fs::rename(&tmp, &path).unwrap();
    }
    std::fs::read(&path).unwrap()
}

/// A formatted ring file holding the fixture, segments back to back from `start_us`, with their
/// keyframe positions.
fn ring(dir: &Path, start_us: i64, synced: bool) -> PathBuf {
    let path = dir.join("ring.img");
    format_64m(&path);
    let dev = FileDevice::open(&path, true, DirectIo::Auto).unwrap();
    let mut ring = Ring::open(dev, OpenOptions::default()).unwrap();
    let clock = Clock {
        utc_us: start_us,
        utc_synced: synced,
        mono_us: 0,
    };
    let mut segmenter = Segmenter::new(SegmenterConfig::default()).unwrap();
    let mut segments = Vec::new();
    for piece in fixture().chunks(64 << 10) {
        segments.extend(segmenter.push(piece, clock));
    }
    segments.extend(segmenter.finish(clock));
    let mut utc = start_us;
    for segment in segments {
        let mut meta = segment.meta;
        meta.utc_start_us = utc;
        utc += meta.duration_us as i64;
        ring.append_with_keyframes(&meta, &segment.payload, &segment.keyframes)
            .unwrap();
    }
    path
}

/// Runs `moment-recorder export ARGS…` with TZ set and, if given, a PATH.
fn export(args: &[&str], path_var: Option<&str>) -> Run {
    let mut command = Command::new(BIN);
    command.arg("export").args(args).env("TZ", TZ);
    if let Some(path) = path_var {
        command.env("PATH", path);
    }
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child, &format!("moment-recorder export {}", args.join(" ")))
}

/// The path after "wrote " in the output.
fn written(run: &Run) -> PathBuf {
    let text = run.text();
    let line = text.lines().find_map(|l| l.strip_prefix("wrote "));
    PathBuf::from(line.unwrap_or_else(|| panic!("no 'wrote' line: {text}")))
}

/// The file decodes without one error, starts on a keyframe and lasts `seconds`.
fn check_mp4(path: &Path, seconds: f64) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v",
            "-read_intervals",
            "%+#1",
        ])
        .args([
            "-show_entries",
            "frame=key_frame:format=duration",
            "-of",
            "default=nw=1",
        ])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("key_frame=1"), "{text}");
    let duration: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("duration="))
        .and_then(|d| d.parse().ok())
        .unwrap();
    assert!(
        (duration - seconds).abs() < 0.07,
        "{duration} s, expected {seconds}"
    );
}

/// The MP4's creation time as ffprobe reports it (RFC 3339).
fn creation_time(path: &Path) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format_tags=creation_time"])
        .args(["-of", "default=nw=1:nk=1"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn last_minutes_into_a_directory_named_in_local_time() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ring = ring(dir.path(), START_US, true);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // A recorder holding the ring open for writing does not stop a read-only export.
    let writer = Ring::open(
        FileDevice::open(&ring, true, DirectIo::Auto).unwrap(),
        OpenOptions::default(),
    )
    .unwrap();
    let run = export(
        &["--device", s(&ring), "--last", "12s", "--dir", s(&out)],
        None,
    );
    let run = run.expect_code(0);
    drop(writer);
    // The ring ends at 10:00:30Z; 13:00:30 three hours east.
    let path = written(&run);
    assert_eq!(path, out.join("2026-11-29_13-00-30-MEMORY.mp4"));
    check_mp4(&path, 12.0);
    assert_eq!(creation_time(&path), "2026-11-29T10:00:18Z");
    let text = run.text();
    assert!(
        text.contains("12.0s (2026-11-29T10:00:18Z to 2026-11-29T10:00:30Z)"),
        "{text}"
    );
    assert!(text.contains("segments  3 (#4..=#6"), "{text}");
    assert!(text.contains("clipped   no"), "{text}");
    // The same moment again gets a suffix, never overwriting the first.
    let again = export(
        &["--device", s(&ring), "--last", "12s", "--dir", s(&out)],
        None,
    );
    assert_eq!(
        written(&again.expect_code(0)),
        out.join("2026-11-29_13-00-30-MEMORY_2.mp4")
    );
    assert_eq!(files(&out).len(), 2);
}

#[test]
fn a_utc_range_to_a_file_and_clipping() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ring = ring(dir.path(), START_US, true);
    let file = dir.path().join("moment.mp4");
    let args = ["--device", s(&ring), "--from", "2026-11-29T10:00:06Z"];
    let run = export(
        &[&args[..], &["--to", "2026-11-29T10:00:14Z", "-o", s(&file)]].concat(),
        None,
    );
    assert_eq!(written(&run.expect_code(0)), file);
    check_mp4(&file, 8.0);
    assert_eq!(creation_time(&file), "2026-11-29T10:00:06Z");
    // Beyond the end: clipped, and said so.
    let clipped = dir.path().join("clipped.mp4");
    let run = export(
        &[
            "--device",
            s(&ring),
            "--from",
            "2026-11-29T10:00:26+00:00",
            "--to",
            "2026-11-29T12:00:00+01:00",
            "-o",
            s(&clipped),
        ],
        None,
    );
    let text = run.expect_code(0).text();
    assert!(
        text.contains("clipped   yes: the ring holds nothing after 2026-11-29T10:00:30Z"),
        "{text}"
    );
    check_mp4(&clipped, 4.0);
    // -o never replaces a file.
    let run = export(
        &[&args[..], &["--to", "2026-11-29T10:00:14Z", "-o", s(&file)]].concat(),
        None,
    );
    assert!(run.expect_code(2).stderr.contains("already exists"));
}

#[test]
fn an_empty_range_says_what_the_ring_holds() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ring = ring(dir.path(), START_US, true);
    let run = export(
        &[
            "--device",
            s(&ring),
            "--from",
            "2026-11-29T11:00:00Z",
            "--to",
            "2026-11-29T11:05:00Z",
        ],
        None,
    );
    let stderr = run.expect_code(2).stderr;
    assert!(
        stderr.contains(&format!("{}: the ring holds nothing between", s(&ring))),
        "{stderr}"
    );
    assert!(
        stderr.contains("it holds 2026-11-29T10:00:00Z to 2026-11-29T10:00:30Z"),
        "{stderr}"
    );
}

#[test]
fn bad_options_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("ring.img");
    format_64m(&ring);
    let run = export(
        &["--device", s(&ring), "--from", "yesterday", "--to", "now"],
        None,
    );
    assert!(run
        .expect_code(2)
        .stderr
        .contains("such as 2026-11-29T10:00:00Z"));
    let run = export(&["--device", s(&ring), "--last", "3 minutes"], None);
    assert!(run
        .expect_code(2)
        .stderr
        .contains("such as 90s, 3m or 1h30m"));
    let run = export(&["--device", s(&ring)], None).expect_code(2);
    assert!(
        run.stderr.contains("--from") && run.stderr.contains("--last"),
        "{}",
        run.stderr
    );
    let run = export(&["--device", s(&ring), "--last", "3m"], None).expect_code(2);
    assert!(
        run.stderr.contains("the ring holds no segments yet"),
        "{}",
        run.stderr
    );
    let missing = dir.path().join("missing.img");
    let run = export(&["--device", s(&missing), "--last", "3m"], None).expect_code(2);
    assert!(
        run.stderr.contains("no such file or device"),
        "{}",
        run.stderr
    );
}

#[test]
fn without_ffmpeg_nothing_is_left_behind() {
    if !have_ffmpeg() {
        return; // the ring's fixture is made with ffmpeg
    }
    let dir = tempfile::tempdir().unwrap();
    let ring = ring(dir.path(), START_US, true);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let run = export(
        &["--device", s(&ring), "--last", "5s", "--dir", s(&out)],
        Some("/nonexistent"),
    );
    let stderr = run.expect_code(2).stderr;
    assert!(stderr.contains("ffmpeg (ffmpeg) was not found"), "{stderr}");
    assert!(stderr.contains("apt-get install ffmpeg"), "{stderr}");
    assert!(files(&out).is_empty(), "{:?}", files(&out));
}

/// A directory nothing can be written to: a read-only tmpfs as root (root ignores permission
/// bits), mode 0555 otherwise. Unmounted on drop.
struct ReadOnlyDir {
    path: PathBuf,
    mounted: bool,
}

impl ReadOnlyDir {
    fn new(path: PathBuf) -> Option<ReadOnlyDir> {
        std::fs::create_dir(&path).unwrap();
        if support::effective_uid() == Some(0) {
            let run = support::program(
                "mount",
                &["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", s(&path)],
            )?;
            return (run.code == Some(0)).then_some(ReadOnlyDir {
                path,
                mounted: true,
            });
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o555)).unwrap();
        Some(ReadOnlyDir {
            path,
            mounted: false,
        })
    }
}

impl Drop for ReadOnlyDir {
    fn drop(&mut self) {
        if self.mounted {
            let _ = support::program("umount", &[s(&self.path)]);
        }
    }
}

#[test]
fn a_read_only_directory_is_a_clear_error() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ring = ring(dir.path(), START_US, true);
    let Some(out) = ReadOnlyDir::new(dir.path().join("ro")) else {
        eprintln!("SKIPPED: could not make a read-only directory");
        return;
    };
    let run = export(
        &["--device", s(&ring), "--last", "5s", "--dir", s(&out.path)],
        None,
    );
    let stderr = run.expect_code(2).stderr;
    assert!(stderr.contains(s(&out.path)), "{stderr}");
    assert!(stderr.contains("cannot create the file"), "{stderr}");
    assert!(
        stderr.contains("read-only") || stderr.contains("no permission"),
        "{stderr}"
    );
    assert!(files(&out.path).is_empty());
}

#[test]
fn an_unset_clock_never_names_a_file_1970() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Recorded at boot without a clock: 1970-01-01T00:01:00Z.
    let ring = ring(dir.path(), 60_000_000, false);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let run = export(
        &["--device", s(&ring), "--last", "5s", "--dir", s(&out)],
        None,
    );
    match run.code {
        // The system clock is not synchronised (as in most containers): refused.
        Some(2) => {
            assert!(
                run.stderr.contains("give a file name with -o FILE"),
                "{}",
                run.stderr
            );
            assert!(files(&out).is_empty());
        }
        // Synchronised: named after the export time, never 1970.
        _ => {
            let run = run.expect_code(0);
            let name = written(&run);
            assert!(
                !name.to_string_lossy().contains("/1970-"),
                "{}",
                name.display()
            );
            assert!(
                run.text().contains("after the time of this export"),
                "{}",
                run.text()
            );
        }
    }
    let file = out.join("boot.mp4");
    export(
        &["--device", s(&ring), "--last", "5s", "-o", s(&file)],
        None,
    )
    .expect_code(0);
    check_mp4(&file, 5.0);
}

/// A stand-in for ffmpeg that reads nothing for `secs` seconds, then drains its input.
fn slow_ffmpeg(dir: &Path, secs: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let path = bin.join("ffmpeg");
    std::fs::write(
        &path,
        format!("#!/bin/sh\nsleep {secs}\nexec cat >/dev/null\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn a_segment_the_recorder_overwrites_meanwhile_is_a_clear_error() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ring = ring(dir.path(), START_US, true);
    let bin = slow_ffmpeg(dir.path(), 3);
    let path_var = format!("{}:/usr/bin:/bin", bin.display());
    let out = dir.path().join("out.mp4");
    // The export reads a few segments ahead into ffmpeg's pipe, then waits for ffmpeg; meanwhile
    // the "recorder" (this process) wraps the ring over the segments it has not read yet.
    let child = Command::new(BIN)
        .args([
            "export",
            "--device",
            s(&ring),
            "--last",
            "1h",
            "-o",
            s(&out),
        ])
        .env("PATH", &path_var)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let dev = FileDevice::open(&ring, true, DirectIo::Auto).unwrap();
    let mut writer = Ring::open(dev, OpenOptions::default()).unwrap();
    let segments = writer.reader().segments();
    let (payload_len, mut utc) = (
        segments[0].payload_len as usize,
        segments.last().unwrap().utc_end_us(),
    );
    let payload = vec![0x47u8; payload_len];
    for _ in 0..(80 << 20) / payload_len {
        let mut meta = segments[0].meta.clone();
        meta.utc_start_us = utc;
        utc += meta.duration_us as i64;
        writer.append(&meta, &payload).unwrap();
    }
    drop(writer);
    let run = finish(child, "moment-recorder export while the ring wraps");
    let stderr = run.expect_code(2).stderr;
    assert!(
        stderr.contains("was overwritten by the recorder while it was being exported"),
        "{stderr}"
    );
    assert!(stderr.contains("export a later range"), "{stderr}");
    assert!(!out.exists());
    assert!(
        files(dir.path()).iter().all(|n| !n.ends_with(".partial")),
        "{:?}",
        files(dir.path())
    );
}
