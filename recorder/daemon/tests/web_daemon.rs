//! The web API as the running daemon serves it: the real `moment-recorder run` with `[web]` on a
//! free port of 127.0.0.1 and an admin password, driven over real HTTP/1.1 like a phone would:
//! refused without a session, login, status, SAVE and a range through the API becoming memories,
//! the memories listed and the live playlist served.

mod daemon_support;
mod support;

use daemon_support::web::{free_port, http, login};
use daemon_support::{at, have_tools, Recorder, Settings, SAVE};
use serde_json::Value;
use std::time::Duration;

const PASSWORD: &str = "correct horse battery";

#[test]
fn the_phone_logs_in_sees_status_and_saves_through_the_api() {
    if !have_tools("the_phone_logs_in_sees_status_and_saves_through_the_api") {
        return;
    }
    let port = free_port();
    let hash = moment_recorder::web::hash_password(PASSWORD);
    let settings = Settings {
        web: format!("listen = \"127.0.0.1:{port}\"\npassword_hash = {hash:?}\n"),
        ..Settings::default()
    };
    let recorder = Recorder::new(&settings);
    let mut daemon = recorder.start();
    daemon.wait_recording();

    let (status, _, _) = http(port, "GET", "/api/status", None, "");
    assert_eq!(status, 401, "no session, no status");
    let (status, _, _) = http(
        port,
        "POST",
        "/api/login",
        None,
        "{\"password\":\"wrong password\"}",
    );
    assert_eq!(status, 401);
    let cookie = login(port, PASSWORD);

    let (status, _, body) = http(port, "GET", "/api/status", Some(&cookie), "");
    assert_eq!(status, 200);
    let json: Value = serde_json::from_str(&body).unwrap();
    assert!(at(&json, "/recording/bytes") > 0, "{json}");

    // Enough recorded for the 4 s window, then the SAVE button through the API.
    daemon.wait_history(Duration::from_secs(6));
    let (status, _, body) = http(
        port,
        "POST",
        "/api/buttons/save",
        Some(&cookie),
        "{\"hold_ms\":0}",
    );
    assert_eq!(status, 200, "{body}");
    daemon.wait(SAVE, "a memory saved through the API", |s| {
        at(s, "/saves/completed") == 1
    });
    let (status, _, body) = http(port, "GET", "/api/memories", Some(&cookie), "");
    assert_eq!(status, 200);
    let names = recorder.memory_files();
    assert_eq!(names.len(), 1);
    assert!(body.contains(&names[0]), "{body}");

    // Any range still in the ring, as the timeline's "save this range" sends it.
    let now_ms = daemon_support::now_us() / 1000;
    let range = format!("{{\"from\":{},\"to\":{}}}", now_ms - 8_000, now_ms - 4_000);
    let (status, _, body) = http(port, "POST", "/api/memories", Some(&cookie), &range);
    assert_eq!(status, 202, "{body}");
    daemon.wait(SAVE, "a range saved through the API", |s| {
        at(s, "/saves/completed") == 2
    });
    assert_eq!(recorder.memory_files().len(), 2);

    let (status, head, body) = http(port, "GET", "/hls/live.m3u8", Some(&cookie), "");
    assert_eq!(status, 200, "{head}");
    assert!(
        body.starts_with("#EXTM3U") && body.contains("/hls/segment/"),
        "{body}"
    );
}

/// Two SAVE taps a second apart (a double tap, or the button and the app together) are one moment:
/// the second joins the first, and the one memory covers both presses' windows.
#[test]
fn two_saves_a_second_apart_make_one_memory_covering_both() {
    if !have_tools("two_saves_a_second_apart_make_one_memory_covering_both") {
        return;
    }
    let port = free_port();
    let hash = moment_recorder::web::hash_password(PASSWORD);
    let settings = Settings {
        web: format!("listen = \"127.0.0.1:{port}\"\npassword_hash = {hash:?}\n"),
        ..Settings::default()
    };
    let window_us = (settings.save_step_s * 1e6) as i64;
    let recorder = Recorder::new(&settings);
    let mut daemon = recorder.start();
    daemon.wait_recording();
    daemon.wait_history(Duration::from_secs(6));
    let cookie = login(port, PASSWORD);

    let press = || {
        let (status, _, body) = http(port, "POST", "/api/buttons/save", Some(&cookie), "{}");
        assert_eq!(status, 200, "{body}");
    };
    let first_us = daemon_support::now_us();
    press();
    std::thread::sleep(Duration::from_secs(1));
    press();
    let second_us = daemon_support::now_us();

    // The save, then the join window (10 s after the second press) for a second memory to show.
    daemon.wait(SAVE, "the joined save", |s| at(s, "/saves/completed") >= 1);
    std::thread::sleep(Duration::from_secs(11));
    let status = daemon.wait(SAVE, "the save to settle", |s| {
        !s["saves"]["in_progress"].as_bool().unwrap_or(true)
    });
    let names = recorder.memory_files();
    assert_eq!(names.len(), 1, "one memory for two taps: {names:?}");
    assert_eq!(at(&status, "/saves/failed"), 0, "{status:#}");
    assert_eq!(at(&status, "/saves/joined"), 1, "{status:#}");
    let sidecar = recorder.sidecar(&names[0]);
    let start = sidecar["utc_start_us"].as_i64().unwrap();
    let end = sidecar["utc_end_us"].as_i64().unwrap();
    // Cuts fall on segment boundaries, so the memory may reach a little further on either side,
    // never less far (the press is a few ms after the request time taken here).
    const SLACK_US: i64 = 300_000;
    assert!(
        start <= first_us - window_us + SLACK_US,
        "the memory starts {} ms after the first press's window",
        (start - (first_us - window_us)) / 1000
    );
    assert!(
        end >= second_us - SLACK_US,
        "the memory ends {} ms before the second press",
        (second_us - end) / 1000
    );
    let (_, _, body) = http(port, "GET", "/api/memories", Some(&cookie), "");
    let listed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{body}");
}
