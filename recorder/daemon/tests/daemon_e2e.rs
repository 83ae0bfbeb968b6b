//! The daemon end to end: the real `moment-recorder run` records a real ffmpeg test camera into a
//! ring file, and the tests use it as a person would, through `moment-recorder press` and
//! `moment-recorder status` on its control socket, with simulated buttons. Uploads go through real
//! rclone to a real `rclone serve webdav` on 127.0.0.1. Covered: a SAVE press and a held SAVE
//! become memories of the right length that decode; uploads (immediate, and the UPLOAD button
//! under the manual policy); a crash (SIGKILL) during an export and during an upload; a full
//! memories disk (a loop-mounted ext4); a memory copied to a USB stick (a loop device) and, once
//! uploaded too, deleted from the camera; SIGTERM; a bad configuration. Each test has its own
//! directory, ring and daemon, so nextest runs them in parallel.

mod daemon_support;
mod support;
mod upload_support;

use daemon_support::{
    assert_decodes, at, duration_s, have_root, have_tools, now_us, Daemon, Recorder, Settings,
    SmallDisk, MIB, SAVE, STOP, UPLOAD,
};
use moment_ring::{DirectIo, FileDevice, OpenOptions, Ring, SegmentInfo};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};
use support::s;
use support::stick::Stick;
use upload_support::{write_rclone_conf, WebDav};

/// The press reaches the buttons a little after `press` returns; slack for comparing times.
const PRESS_SLACK_US: i64 = 500_000;
/// One segment (`segments.target_s = 2`): a memory is cut at the keyframes around its window, never
/// more than the whole segments around it.
const SEGMENT_S: f64 = 2.0;
/// Consecutive segments' UTC times overlap or leave a gap of up to ~0.1 s (the capture clock read
/// as bytes arrive): a window may start in such a gap, after the end of the segment before it.
const JITTER_S: f64 = 0.25;

/// Saves completed so far, per the status.
fn completed(status: &Value) -> u64 {
    at(status, "/saves/completed")
}

/// Waits for save number `n` and returns the new memory's name (checked against the directory).
fn wait_saved(daemon: &mut Daemon, rec: &Recorder, n: u64) -> String {
    let status = daemon.wait(SAVE, &format!("save {n}"), |s| {
        completed(s) >= n || at(s, "/saves/failed") > 0
    });
    assert_eq!(at(&status, "/saves/failed"), 0, "{status:#}");
    assert_eq!(completed(&status), n, "{status:#}");
    let name = status["saves"]["last_memory"]
        .as_str()
        .expect("last_memory")
        .to_owned();
    assert!(rec.memory_files().contains(&name), "{name} on disk");
    assert!(rec.partial_files().is_empty(), "{:?}", rec.partial_files());
    name
}

/// A new memory: decodes, lasts the window rounded out to keyframes, covers the press
/// (made between `before_us` and `after_us`), and has a sidecar saying it is not uploaded.
fn check_memory(rec: &Recorder, name: &str, window_s: f64, before_us: i64, after_us: i64) {
    let path = rec.memory(name);
    assert_decodes(&path);
    let duration = duration_s(&path);
    // Cut at keyframes inside the window's first and last segment: the window, at most one
    // segment more (split between both ends), plus the last frame's and audio's few
    // milliseconds; less only by the jitter of segment times.
    assert!(
        duration >= window_s - JITTER_S && duration <= window_s + SEGMENT_S + 0.5,
        "{name} lasts {duration} s for a {window_s} s window"
    );
    let sidecar = rec.sidecar(name);
    assert_eq!(sidecar["upload"], "pending", "{sidecar:#}");
    assert_eq!(sidecar["clipped"], false, "{sidecar:#}");
    assert_eq!(
        sidecar["size"].as_u64(),
        Some(std::fs::metadata(&path).unwrap().len())
    );
    let start = sidecar["utc_start_us"].as_i64().unwrap();
    let end = sidecar["utc_end_us"].as_i64().unwrap();
    let window_us = (window_s * 1e6) as i64;
    assert!(
        start <= after_us + PRESS_SLACK_US - window_us,
        "the memory starts {} ms after the window",
        (start - (after_us - window_us)) / 1000
    );
    assert!(
        end >= before_us - PRESS_SLACK_US,
        "the memory ends {} ms before the press",
        (before_us - end) / 1000
    );
}

#[test]
fn a_save_press_keeps_the_last_save_step() {
    if !have_tools("a_save_press_keeps_the_last_save_step") {
        return;
    }
    let rec = Recorder::new(&Settings::default());
    let mut daemon = rec.start();
    daemon.wait_recording();
    daemon.wait_history(Duration::from_secs(6));
    let before = now_us();
    daemon.press(&["save"]);
    let after = now_us();
    let name = wait_saved(&mut daemon, &rec, 1);
    assert_eq!(rec.memory_files(), [name.as_str()]);
    check_memory(&rec, &name, 4.0, before, after);
    // The memory is queued for upload once no later press can join its save (10 s after it).
    let status = daemon.wait(
        Duration::from_secs(20),
        "the memory queued for upload",
        |s| at(s, "/uploads/pending") == 1,
    );
    assert_eq!(at(&status, "/memories"), 1);
    assert_eq!(at(&status, "/uploads/pending"), 1, "queued, uploads off");
    assert_eq!(status["uploads"]["activity"], "disabled");
}

#[test]
fn a_held_save_adds_a_save_step_per_hold_step() {
    if !have_tools("a_held_save_adds_a_save_step_per_hold_step") {
        return;
    }
    let rec = Recorder::new(&Settings::default());
    let mut daemon = rec.start();
    daemon.wait_recording();
    // 4 s * (1 + 2 steps) = 12 s must be in the ring before the press.
    let status = daemon.wait_history(Duration::from_secs(14));
    let flashes = at(&status, "/led/flashes");
    let before = now_us();
    daemon.press(&["save", "--hold", "2500ms"]);
    let after = now_us();
    let name = wait_saved(&mut daemon, &rec, 1);
    check_memory(&rec, &name, 12.0, before, after);
    let status = daemon.wait(Duration::from_secs(10), "two flashes", |s| {
        at(s, "/led/flashes") >= flashes + 2
    });
    assert_eq!(
        at(&status, "/led/flashes"),
        flashes + 2,
        "one flash per hold step"
    );
    let events = status["events"].to_string();
    assert!(events.contains("held 2 steps"), "{events}");
}

/// `[upload]` for the WebDAV server, with short backoff; rclone.conf is in the recorder's directory.
fn webdav_upload(policy: &str, bwlimit: &str) -> String {
    format!(
        "remote = \"dav:memories\"\npolicy = \"{policy}\"\nrclone_config = \"{ROOT}/rclone.conf\"\n\
         backoff_min_s = 1\nbackoff_max_s = 2\ntimeout_s = 120\nbwlimit = \"{bwlimit}\"\n",
        ROOT = daemon_support::ROOT,
    )
}

/// A recorder uploading to a fresh WebDAV server (`dav:memories` is `ROOT/served/memories`).
fn with_webdav(settings: Settings, policy: &str, bwlimit: &str) -> (Recorder, WebDav) {
    let rec = Recorder::new(&Settings {
        upload: webdav_upload(policy, bwlimit),
        ..settings
    });
    let server = WebDav::start(&rec.root().join("served"));
    write_rclone_conf(&rec.root().join("rclone.conf"), &server.url());
    (rec, server)
}

/// What the WebDAV server holds under `memories`.
fn remote_names(server: &WebDav) -> Vec<String> {
    daemon_support::names_in(&server.dir.join("memories"), |_| true)
}

/// The memory is on the server under its own name only, byte for byte, and marked done.
fn assert_uploaded(rec: &Recorder, server: &WebDav, name: &str) {
    assert_eq!(remote_names(server), [name], "no .partial left");
    let local = std::fs::read(rec.memory(name)).unwrap();
    let remote = std::fs::read(server.dir.join("memories").join(name)).unwrap();
    assert!(local == remote, "the uploaded copy differs");
    assert_eq!(rec.sidecar(name)["upload"], "done");
}

#[test]
fn a_saved_memory_is_uploaded_to_webdav() {
    if !have_tools("a_saved_memory_is_uploaded_to_webdav") {
        return;
    }
    let (rec, server) = with_webdav(Settings::default(), "immediate", "");
    let mut daemon = rec.start();
    daemon.wait_recording();
    daemon.wait_history(Duration::from_secs(5));
    daemon.press(&["save"]);
    let name = wait_saved(&mut daemon, &rec, 1);
    let status = daemon.wait(UPLOAD, "the upload", |s| {
        at(s, "/uploads/done") == 1 && rec.upload_state(&name) == "done"
    });
    assert_eq!(at(&status, "/uploads/pending"), 0, "{status:#}");
    assert_eq!(status["uploads"]["last_done"]["name"], name.as_str());
    assert_uploaded(&rec, &server, &name);
}

#[test]
fn the_upload_button_uploads_under_the_manual_policy() {
    if !have_tools("the_upload_button_uploads_under_the_manual_policy") {
        return;
    }
    let (rec, server) = with_webdav(Settings::default(), "manual", "");
    let mut daemon = rec.start();
    daemon.wait_recording();
    daemon.wait_history(Duration::from_secs(5));
    daemon.press(&["save"]);
    let name = wait_saved(&mut daemon, &rec, 1);
    daemon.wait(Duration::from_secs(20), "the memory queued", |s| {
        at(s, "/uploads/pending") == 1 && s["uploads"]["activity"] == "waiting-for-button"
    });
    // Give a wrong policy time to upload anyway.
    std::thread::sleep(Duration::from_secs(3));
    let status = daemon.status();
    assert_eq!(at(&status, "/uploads/done"), 0, "{status:#}");
    assert!(
        remote_names(&server).is_empty(),
        "{:?}",
        remote_names(&server)
    );
    assert_eq!(rec.upload_state(&name), "pending");
    daemon.press(&["upload"]);
    daemon.wait(UPLOAD, "the upload", |s| {
        at(s, "/uploads/done") == 1 && rec.upload_state(&name) == "done"
    });
    assert_uploaded(&rec, &server, &name);
}

/// The ring's segments, read-only (no daemon may be running).
fn ring_segments(ring: &Path) -> Vec<SegmentInfo> {
    let dev = FileDevice::open(ring, false, DirectIo::Auto).expect("open the ring file");
    let options = OpenOptions {
        read_only: true,
        ..OpenOptions::default()
    };
    Ring::open(dev, options)
        .expect("open the ring")
        .reader()
        .segments()
}

#[test]
fn a_crash_during_an_export_leaves_no_partial_memory() {
    if !have_tools("a_crash_during_an_export_leaves_no_partial_memory") {
        return;
    }
    let rec = Recorder::new(&Settings {
        bitrate: 1_000_000,
        ..Settings::default()
    });
    let mut daemon = rec.start();
    daemon.wait_recording();
    let before = daemon.wait_history(Duration::from_secs(6));
    // Kill at the first sight of the export's `.partial` file; a press whose export finished
    // before the poll saw it is simply tried again.
    let mut caught = None;
    for attempt in 1..=8 {
        let saved = rec.memory_files();
        daemon.press(&["save"]);
        let deadline = Instant::now() + SAVE;
        loop {
            let partial = rec.partial_files();
            if !partial.is_empty() {
                daemon.kill9();
                caught = Some(partial);
                break;
            }
            if rec.memory_files().len() > saved.len() {
                daemon.wait(SAVE, "the save to be recorded", |s| completed(s) == attempt);
                break;
            }
            assert!(Instant::now() < deadline, "no export after the press");
            std::thread::sleep(Duration::from_millis(1));
        }
        if caught.is_some() {
            break;
        }
    }
    let caught = caught.expect("no SIGKILL landed during an export in 8 presses");
    // The crash left the unfinished export behind for the next start to clean up.
    assert_eq!(
        rec.partial_files(),
        caught,
        "the export finished before SIGKILL"
    );
    let finished_before = rec.memory_files();

    let mut daemon = rec.start();
    let status = daemon.wait_recording();
    assert!(rec.partial_files().is_empty(), "{:?}", rec.partial_files());
    // The interrupted export left no memory; earlier presses' memories (exports that finished
    // before the poll saw them) are whole and keep their sidecars.
    let memories = rec.memory_files();
    assert_eq!(memories, finished_before);
    assert_eq!(at(&status, "/memories"), memories.len() as u64);
    for name in &memories {
        assert_decodes(&rec.memory(name));
        assert!(rec.memory(&format!("{name}.json")).exists());
    }
    // The ring kept every segment that was durable before the crash.
    assert_eq!(
        at(&status, "/ring/oldest_seq"),
        at(&before, "/ring/oldest_seq")
    );
    assert!(at(&status, "/ring/newest_seq") >= at(&before, "/ring/newest_seq"));
    // And the recorder works: a new save succeeds.
    daemon.press(&["save"]);
    let name = wait_saved(&mut daemon, &rec, 1);
    assert_decodes(&rec.memory(&name));
    let (exit, _) = daemon.terminate(STOP);
    assert!(exit.success(), "{exit}");
    rec.fsck().expect_code(0);
}

#[test]
fn a_crash_during_an_upload_resumes_and_uploads_once() {
    if !have_tools("a_crash_during_an_upload_resumes_and_uploads_once") {
        return;
    }
    let settings = Settings {
        bitrate: 1_500_000,
        ..Settings::default()
    };
    let (rec, server) = with_webdav(settings, "immediate", "200k");
    let mut daemon = rec.start();
    daemon.wait_recording();
    daemon.wait_history(Duration::from_secs(5));
    daemon.press(&["save"]);
    let name = wait_saved(&mut daemon, &rec, 1);
    let size = std::fs::metadata(rec.memory(&name)).unwrap().len();
    assert!(
        size >= 800_000,
        "a memory of {size} bytes uploads too quickly"
    );
    daemon.wait(UPLOAD, "bytes uploading", |s| {
        let current = &s["uploads"]["current"];
        current["phase"] == "uploading" && current["bytes_done"].as_u64().unwrap_or(0) > 0
    });
    daemon.kill9();
    // The crash left the unverified upload under its temporary name only.
    assert_eq!(remote_names(&server), [format!("{name}.partial")]);

    let mut daemon = rec.start();
    let status = daemon.wait(UPLOAD, "the resumed upload", |s| {
        at(s, "/uploads/done") == 1 && rec.upload_state(&name) == "done"
    });
    assert_eq!(at(&status, "/uploads/pending"), 0, "{status:#}");
    assert_uploaded(&rec, &server, &name);
    let queue: Value = serde_json::from_slice(
        &std::fs::read(rec.state.join(moment_recorder::upload::QUEUE_FILE)).unwrap(),
    )
    .unwrap();
    let entries = queue["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{queue:#}");
    assert_eq!(entries[0]["state"], "done", "{queue:#}");
}

/// Writes a memory that is only bytes (the store does not look inside) and its sidecar.
fn fake_memory(dir: &Path, name: &str, size: u64, upload: &str) {
    let bytes = upload_support::pseudo_random(size as usize, size);
    std::fs::write(dir.join(name), bytes).unwrap();
    let sidecar = serde_json::json!({
        "version": 1,
        "utc_start_us": 1_795_000_000_000_000i64,
        "utc_end_us": 1_795_000_180_000_000i64,
        "duration_us": 180_000_000u64,
        "saved_utc_us": 1_795_000_181_000_000i64,
        "size": size,
        "upload": upload,
        "usb_exported": false,
        "clipped": false,
    });
    std::fs::write(
        dir.join(format!("{name}.json")),
        serde_json::to_vec_pretty(&sidecar).unwrap(),
    )
    .unwrap();
}

const OLDEST: &str = "2026-01-01_10-00-00-MEMORY.mp4";
const MIDDLE: &str = "2026-01-02_10-00-00-MEMORY.mp4";
const NEWEST: &str = "2026-01-03_10-00-00-MEMORY.mp4";

/// Free bytes on the file system holding `dir`, as the daemon counts them.
fn free(dir: &Path) -> u64 {
    moment_recorder::memories::free_bytes(dir).expect("statvfs")
}

#[test]
fn a_full_disk_refuses_a_save_and_keeps_unuploaded_memories() {
    let test = "a_full_disk_refuses_a_save_and_keeps_unuploaded_memories";
    if !have_tools(test) || !have_root(test) {
        return;
    }
    let disk = SmallDisk::new("24M");
    let dir = disk.mountpoint.clone();
    fake_memory(&dir, OLDEST, 6 * MIB, "pending");
    fake_memory(&dir, MIDDLE, 6 * MIB, "pending");
    // Keep more free than there is: no save fits, and nothing may be deleted for one.
    let min_free_mib = free(&dir) / MIB + 1;
    let rec = Recorder::new(&Settings {
        memories_dir: Some(dir.clone()),
        min_free_mib,
        ..Settings::default()
    });
    let mut daemon = rec.start();
    daemon.wait_recording();
    daemon.wait_history(Duration::from_secs(5));
    daemon.press(&["save"]);
    let status = daemon.wait(SAVE, "the refusal", |s| at(s, "/saves/failed") == 1);
    let error = status["saves"]["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("not enough space") && error.contains("upload"),
        "{error}"
    );
    assert_eq!(completed(&status), 0);
    daemon.wait(Duration::from_secs(5), "the error on the LED", |s| {
        s["led"]["pattern"] == "error"
    });
    assert_eq!(rec.memory_files(), [OLDEST, MIDDLE]);
    assert!(rec.partial_files().is_empty());
    // Recording goes on.
    let bytes = at(&status, "/recording/bytes");
    daemon.wait(Duration::from_secs(20), "more bytes recorded", |s| {
        at(s, "/recording/bytes") > bytes + 100_000 && s["recording"]["running"] == true
    });
}

#[test]
fn a_full_disk_deletes_the_oldest_uploaded_memory_to_save() {
    let test = "a_full_disk_deletes_the_oldest_uploaded_memory_to_save";
    if !have_tools(test) || !have_root(test) {
        return;
    }
    let disk = SmallDisk::new("24M");
    let dir = disk.mountpoint.clone();
    fake_memory(&dir, OLDEST, 6 * MIB, "done");
    fake_memory(&dir, MIDDLE, 4 * MIB, "pending");
    fake_memory(&dir, NEWEST, 4 * MIB, "done");
    // Short by a little more than the new memory: deleting the oldest uploaded one is enough.
    let min_free_mib = free(&dir) / MIB + 1;
    let rec = Recorder::new(&Settings {
        memories_dir: Some(dir.clone()),
        min_free_mib,
        ..Settings::default()
    });
    let mut daemon = rec.start();
    daemon.wait_recording();
    daemon.wait_history(Duration::from_secs(5));
    daemon.press(&["save"]);
    let name = wait_saved(&mut daemon, &rec, 1);
    assert_eq!(rec.memory_files(), [MIDDLE, NEWEST, &name]);
    assert!(!dir.join(format!("{OLDEST}.json")).exists());
    assert_decodes(&rec.memory(&name));
    assert_eq!(at(&daemon.status(), "/memories"), 3);
    drop(daemon);
    drop(disk);
}

#[test]
fn sigterm_stops_cleanly_and_keeps_the_last_segment() {
    if !have_tools("sigterm_stops_cleanly_and_keeps_the_last_segment") {
        return;
    }
    let rec = Recorder::new(&Settings::default());
    let mut daemon = rec.start();
    daemon.wait_recording();
    let status = daemon.wait_history(Duration::from_secs(3));
    // Stop about a second into a segment, so the one in progress is visibly cut short.
    let seq = at(&status, "/ring/newest_seq");
    daemon.wait(Duration::from_secs(30), "the next segment", |s| {
        at(s, "/ring/newest_seq") > seq
    });
    std::thread::sleep(Duration::from_millis(800));
    let sent = at(&daemon.status(), "/recording/segments_sent");
    let (exit, took) = daemon.terminate(STOP);
    assert!(exit.success(), "{exit}\n{}", daemon.log_tail());
    eprintln!("stopped {} ms after SIGTERM", took.as_millis());
    let segments = ring_segments(&rec.ring);
    assert!(
        segments.len() as u64 > sent,
        "{} segments stored, {sent} sent before SIGTERM",
        segments.len()
    );
    let last = segments.last().unwrap();
    let previous = &segments[segments.len() - 2];
    assert!(
        last.meta.duration_us > 0 && last.meta.duration_us < 1_950_000,
        "the last segment is the one cut short: {:?}",
        last.meta
    );
    let gap =
        last.meta.utc_start_us - (previous.meta.utc_start_us + previous.meta.duration_us as i64);
    assert!(
        gap.abs() < 100_000,
        "{gap} us between the last two segments"
    );
    rec.fsck().expect_code(0);
}

#[test]
fn a_bad_configuration_exits_2_naming_the_key() {
    let cases = [
        ("[segments]\ntarget_s = 1\n", "segments.target_s"),
        (
            "[buttons]\nbackend = \"simulated\"\nsave_pn = 5\n",
            "save_pn",
        ),
        ("[upload]\nwindow = \"late\"\n", "upload.window"),
        ("[memories]\ndir = \"memories\"\n", "memories.dir"),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (text, key)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad-{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let run = support::cli(&["run", "--config", path.to_str().unwrap()]);
        assert_eq!(run.code, Some(2), "{text:?}: {}", run.stderr);
        assert!(run.stderr.contains(key), "{text:?} gave: {}", run.stderr);
    }
}

#[test]
fn a_memory_on_a_stick_and_uploaded_leaves_the_camera() {
    let test = "a_memory_on_a_stick_and_uploaded_leaves_the_camera";
    if !have_tools(test) || !have_root(test) {
        return;
    }
    let usb = format!(
        "backend = \"manual\"\nmount_dir = \"{}/usb\"\ndelete_after_export = true\n",
        daemon_support::ROOT
    );
    let (rec, server) = with_webdav(
        Settings {
            usb,
            ..Settings::default()
        },
        "manual",
        "",
    );
    let mut daemon = rec.start();
    daemon.wait_recording();
    daemon.wait_history(Duration::from_secs(5));
    daemon.press(&["save"]);
    let name = wait_saved(&mut daemon, &rec, 1);
    let local = std::fs::read(rec.memory(&name)).unwrap();

    let stick_dir = tempfile::tempdir().unwrap();
    let stick = Stick::ext4(stick_dir.path(), "64M");
    let refused = support::cli(&["usb", "attach", "/dev/../sda", "--socket", s(&rec.socket)]);
    assert_ne!(
        refused.code,
        Some(0),
        "a path that is not a disk name is refused"
    );
    let segments = at(&daemon.status(), "/recording/segments_sent");
    support::cli(&["usb", "attach", &stick.device, "--socket", s(&rec.socket)]).expect_code(0);
    let status = daemon.wait(Duration::from_secs(30), "the stick ejected", |s| {
        s["usb"]["sticks"][0]["state"] != "copying"
    });
    let view = &status["usb"]["sticks"][0];
    assert_eq!(view["state"], "ejected", "{view:#}");
    assert_eq!(
        (at(view, "/copied"), at(view, "/memories")),
        (1, 1),
        "{view:#}"
    );
    assert_eq!(view["filesystem"], "ext4");
    assert_eq!(
        stick.contents(&stick_dir.path().join("check")),
        [(name.clone(), local)]
    );
    // On the stick but not uploaded: still on the camera, marked.
    assert!(rec.memory_files().contains(&name));
    assert_eq!(rec.sidecar(&name)["usb_exported"], true);
    // Recording went on throughout.
    daemon.wait(Duration::from_secs(20), "segments after the copy", |s| {
        at(s, "/recording/segments_sent") > segments + 1
    });

    // Uploaded too: now it leaves the camera.
    daemon.press(&["upload"]);
    let status = daemon.wait(UPLOAD, "the upload and the deletion", |s| {
        at(s, "/uploads/done") == 1 && at(s, "/memories") == 0
    });
    assert_eq!(remote_names(&server), [name.as_str()]);
    assert!(rec.memory_files().is_empty(), "{:?}", rec.memory_files());
    let events = status["events"].to_string();
    assert!(
        events.contains("it is uploaded and on a USB stick"),
        "{events}"
    );
}
