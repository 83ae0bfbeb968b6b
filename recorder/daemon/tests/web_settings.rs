//! The settings page against the real daemon (`moment-recorder run` with the ffmpeg test source,
//! the web API on 127.0.0.1): a shorter save step makes the next SAVE's memory that long, a new
//! upload policy shows in the status, new video settings restart the camera without stopping the
//! ring (the live segments then have the new size), everything is still there after a restart,
//! and video settings the camera cannot deliver are reverted while recording goes on.

mod daemon_support;
mod support;

use daemon_support::web::{free_port, login, request};
use daemon_support::{at, have_tools, Daemon, Recorder, Settings, SAVE, STARTUP, STOP};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const PASSWORD: &str = "settings page";
/// A video trial lasts `source.silence_s` plus a little; then its verdict is in the status.
const TRIAL: Duration = Duration::from_secs(60);

fn web_settings(port: u16) -> Settings {
    let hash = moment_recorder::web::hash_password(PASSWORD);
    Settings {
        web: format!("listen = \"127.0.0.1:{port}\"\npassword_hash = {hash:?}\n"),
        ..Settings::default()
    }
}

fn put(port: u16, cookie: &str, body: Value) -> daemon_support::web::Answer {
    request(
        port,
        "PUT",
        "/api/settings",
        Some(cookie),
        &body.to_string(),
    )
}

/// Whether an event in the status mentions every one of `words`.
fn has_event(status: &Value, words: &[&str]) -> bool {
    status["events"].as_array().is_some_and(|events| {
        events.iter().any(|e| {
            let message = e["message"].as_str().unwrap_or("");
            words.iter().all(|w| message.contains(w))
        })
    })
}

fn newest_seq(status: &Value) -> u64 {
    at(status, "/ring/newest_seq")
}

/// Until the ring has `more` segments beyond `seq`.
fn wait_segments_after(daemon: &mut Daemon, seq: u64, more: u64) -> Value {
    daemon.wait(STARTUP, &format!("{more} segments after {seq}"), |s| {
        s.pointer("/ring/newest_seq")
            .and_then(Value::as_u64)
            .is_some_and(|n| n >= seq + more)
    })
}

/// Width and height of the video in a segment fetched from the live API.
fn segment_size(port: u16, cookie: &str, seq: u64, dir: &Path) -> (u64, u64) {
    let answer = request(
        port,
        "GET",
        &format!("/hls/segment/{seq}.ts"),
        Some(cookie),
        "",
    );
    assert_eq!(answer.status, 200, "{}", answer.head);
    let path = dir.join(format!("segment-{seq}.ts"));
    std::fs::write(&path, &answer.body).unwrap();
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["stream=width,height", "-of", "json"])
        .arg(&path)
        .output()
        .expect("run ffprobe");
    assert!(out.status.success(), "ffprobe: {out:?}");
    let probe: Value = serde_json::from_slice(&out.stdout).expect("ffprobe JSON");
    let stream = &probe["streams"][0];
    (at(stream, "/width"), at(stream, "/height"))
}

#[test]
fn settings_apply_live_and_survive_a_restart() {
    if !have_tools("settings_apply_live_and_survive_a_restart") {
        return;
    }
    let port = free_port();
    let recorder = Recorder::new(&web_settings(port));
    let mut daemon = recorder.start();
    daemon.wait_recording();
    let cookie = login(port, PASSWORD);

    let settings = request(port, "GET", "/api/settings", Some(&cookie), "").ok();
    assert_eq!(
        settings["video"],
        json!({ "width": 320, "height": 240, "fps": 30, "bitrate_kbps": 300 })
    );
    assert_eq!(settings["memories"]["hold_step_s"], json!(1.0));

    // Half a minute per SAVE, from the next press on.
    let settings = put(
        port,
        &cookie,
        json!({ "memories": { "save_minutes": 0.5 } }),
    )
    .ok();
    assert_eq!(settings["memories"]["save_minutes"], json!(0.5));
    daemon.wait_history(Duration::from_secs(36));
    let answer = request(port, "POST", "/api/buttons/save", Some(&cookie), "{}");
    assert_eq!(answer.status, 200, "{}", answer.text());
    daemon.wait(SAVE, "the 30 s memory", |s| at(s, "/saves/completed") == 1);
    let memories = request(port, "GET", "/api/memories", Some(&cookie), "").ok();
    let duration = memories[0]["duration_s"].as_f64().expect("a duration");
    assert!(
        (26.0..=40.0).contains(&duration),
        "a SAVE after save_minutes = 0.5 kept {duration} s: {memories}"
    );

    // A new upload policy shows in the status.
    put(port, &cookie, json!({ "upload": { "policy": "manual" } })).ok();
    daemon.wait(SAVE, "the manual policy", |s| {
        s["uploads"]["policy"] == json!("manual")
    });

    // New video settings: the camera restarts, the ring goes on, new segments have the new size.
    let before = daemon.status();
    let settings = put(
        port,
        &cookie,
        json!({ "video": { "width": 640, "height": 480, "fps": 15 } }),
    )
    .ok();
    assert_eq!(
        settings["video"],
        json!({ "width": 640, "height": 480, "fps": 15, "bitrate_kbps": 300 })
    );
    let kept = daemon.wait(TRIAL, "the video trial's verdict", |s| {
        has_event(s, &["video settings 640x480@15", "work"])
    });
    assert!(!has_event(&kept, &["reverted"]), "{kept:#}");
    assert!(
        at(&kept, "/recording/source_restarts") > at(&before, "/recording/source_restarts"),
        "the change is a restart of the source (a gap in the ring)"
    );
    assert!(
        kept["recording"]["source"]
            .as_str()
            .unwrap()
            .contains("640x480@15"),
        "{kept:#}"
    );
    let after = wait_segments_after(&mut daemon, newest_seq(&kept), 2);
    assert_eq!(
        segment_size(port, &cookie, newest_seq(&after), recorder.root()),
        (640, 480)
    );

    // The overlay file: private to the daemon, with what the person changed.
    let file = recorder.state.join("settings.json");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let overlay: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(overlay["memories"]["save_minutes"], json!(0.5));
    assert_eq!(overlay["upload"]["policy"], json!("manual"));
    assert_eq!(overlay["video"]["width"], json!(640));

    // After a restart: the same settings, and the camera runs with them from the start.
    let settings = request(port, "GET", "/api/settings", Some(&cookie), "").ok();
    let last_before_restart = newest_seq(&daemon.status());
    daemon.terminate(STOP);
    let mut daemon = recorder.start();
    daemon.wait_recording();
    // Segments of this run, not the ring's older ones.
    let status = wait_segments_after(&mut daemon, last_before_restart, 2);
    assert!(
        status["recording"]["source"]
            .as_str()
            .unwrap()
            .contains("640x480@15"),
        "{status:#}"
    );
    let cookie = login(port, PASSWORD);
    let again = request(port, "GET", "/api/settings", Some(&cookie), "").ok();
    assert_eq!(again, settings);
    assert_eq!(
        segment_size(port, &cookie, newest_seq(&status), recorder.root()),
        (640, 480)
    );
}

#[test]
fn video_settings_the_camera_cannot_deliver_are_reverted() {
    if !have_tools("video_settings_the_camera_cannot_deliver_are_reverted") {
        return;
    }
    let port = free_port();
    let settings = Settings {
        source: "silence_s = 8\n".into(),
        test_source: format!("program = \"{}/camera.sh\"\n", daemon_support::ROOT),
        ..web_settings(port)
    };
    let recorder = Recorder::new(&settings);
    // A camera without a 640x480 mode: it gives up after a second for that size, as rpicam-vid
    // would, so the trial ends by the count of failed starts, well before its deadline.
    let camera = recorder.root().join("camera.sh");
    std::fs::write(
        &camera,
        "#!/bin/sh\ncase \"$*\" in *size=640x480*) sleep 1; echo 'no 640x480 mode' >&2; exit 1;; \
         esac\nexec ffmpeg \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&camera, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut daemon = recorder.start();
    daemon.wait_recording();
    let cookie = login(port, PASSWORD);

    let answer = put(
        port,
        &cookie,
        json!({ "video": { "width": 640, "height": 480 } }),
    );
    assert_eq!(
        answer.ok()["video"]["width"],
        json!(640),
        "accepted, on trial"
    );
    // One video change at a time.
    let busy = put(port, &cookie, json!({ "video": { "fps": 10 } }));
    assert_eq!(busy.status, 409, "{}", busy.text());
    assert_eq!(busy.json()["field"], json!("video"));

    let reverted = daemon.wait(TRIAL, "the revert", |s| {
        has_event(
            s,
            &[
                "video settings 640x480@30",
                "did not work",
                "reverted to 320x240@30",
            ],
        )
    });
    assert!(
        has_event(&reverted, &["failed to start 3 times"]),
        "{:#}",
        reverted["events"]
    );
    let settings = request(port, "GET", "/api/settings", Some(&cookie), "").ok();
    assert_eq!(settings["video"]["width"], json!(320));
    assert!(
        !recorder.state.join("settings.json").exists(),
        "the failed settings were never written"
    );
    // Recording goes on with the old settings.
    wait_segments_after(&mut daemon, newest_seq(&reverted), 2);
    let status = daemon.status();
    assert!(
        status["recording"]["source"]
            .as_str()
            .unwrap()
            .contains("320x240@30"),
        "{status:#}"
    );

    // The trial is over: the next change is taken, and this one works.
    put(port, &cookie, json!({ "video": { "fps": 15 } })).ok();
    daemon.wait(TRIAL, "the second trial's verdict", |s| {
        has_event(s, &["video settings 320x240@15", "work"])
    });
    let overlay: Value =
        serde_json::from_slice(&std::fs::read(recorder.state.join("settings.json")).unwrap())
            .unwrap();
    assert_eq!(overlay, json!({ "video": { "fps": 15 } }));
}
