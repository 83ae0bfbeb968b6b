//! `GET /api/thumbnail` on the real daemon with the `test` source: a JPEG of the keyframe at or
//! before the moment asked for, the same picture for two moments of one GOP and another for the
//! next GOP (so the keyframe list in the ring's headers is what picks it), a picture ffmpeg reads
//! at the thumbnail's width, clear errors for a moment the ring does not hold or cannot read, and a
//! memory's first picture from its MP4.

mod daemon_support;
mod support;

use daemon_support::web::{free_port, login, request};
use daemon_support::{at, have_tools, now_us, Recorder, Settings, SAVE};
use std::time::Duration;

const PASSWORD: &str = "thumbnail test password";

/// What ffprobe reads in `picture` (written to `path`): "codec,width".
fn codec_and_width(path: &std::path::Path, picture: &[u8]) -> String {
    std::fs::write(path, picture).unwrap();
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name,width"])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&probe.stdout).trim().to_string()
}

#[test]
fn thumbnails_of_moments_are_their_keyframes_and_of_memories_their_first_picture() {
    let test = "thumbnails_of_moments_are_their_keyframes_and_of_memories_their_first_picture";
    if !have_tools(test) {
        return;
    }
    let port = free_port();
    let hash = moment_recorder::web::hash_password(PASSWORD);
    let recorder = Recorder::new(&Settings {
        web: format!("listen = \"127.0.0.1:{port}\"\npassword_hash = {hash:?}\nhls_js = \"\"\n"),
        ..Settings::default()
    });
    let mut daemon = recorder.start();
    // 14 s recorded: the 2 s segments up to 7 s after the oldest are closed and readable.
    let status = daemon.wait_history(Duration::from_secs(14));
    let oldest_ms = status["ring"]["oldest_utc_us"].as_i64().unwrap() / 1000;
    let cookie = login(port, PASSWORD);
    let get = |at: String| {
        request(
            port,
            "GET",
            &format!("/api/thumbnail?at={at}"),
            Some(&cookie),
            "",
        )
    };

    // Keyframes every second (the test source's GOP): 100 ms and 600 ms after one keyframe share
    // it; 1.1 s later is the next one.
    let base = oldest_ms + 1000;
    let first = get(base.to_string());
    assert_eq!(first.status, 200, "{}", first.head);
    assert!(
        first
            .head
            .to_ascii_lowercase()
            .contains("content-type: image/jpeg"),
        "{}",
        first.head
    );
    assert!(first.body.starts_with(&[0xFF, 0xD8]), "a JPEG");
    let mut same = 0;
    let mut different = 0;
    for step in 0..6 {
        let a = get((base + step * 1000 + 100).to_string());
        let b = get((base + step * 1000 + 600).to_string());
        let c = get((base + step * 1000 + 1100).to_string());
        assert_eq!((a.status, b.status, c.status), (200, 200, 200));
        // A keyframe's capture time is not exactly on our grid: count, then judge.
        same += usize::from(a.body == b.body);
        different += usize::from(a.body != c.body);
    }
    assert!(
        same >= 4,
        "moments 0.5 s apart shared a picture only {same} of 6 times"
    );
    assert!(
        different >= 4,
        "moments 1 s apart differed only {different} of 6 times"
    );

    let path = recorder.root().join("thumb.jpg");
    assert_eq!(codec_and_width(&path, &first.body), "mjpeg,160");

    let before = get((oldest_ms - 60_000).to_string());
    assert_eq!(before.status, 404, "{}", before.text());
    let future = get((now_us() / 1000 + 3_600_000).to_string());
    assert_eq!(future.status, 404, "{}", future.text());
    let bad = get("yesterday".into());
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("RFC 3339"), "{}", bad.text());
    let missing = request(port, "GET", "/api/thumbnail", Some(&cookie), "");
    assert_eq!(missing.status, 400);
    let anonymous = request(port, "GET", &format!("/api/thumbnail?at={base}"), None, "");
    assert_eq!(anonymous.status, 401);

    // A memory's thumbnail is its first picture, at the same width.
    daemon.press(&["save"]);
    let status = daemon.wait(SAVE, "a memory", |s| at(s, "/saves/completed") >= 1);
    let name = status["saves"]["last_memory"]
        .as_str()
        .expect("last_memory");
    let memory = request(
        port,
        "GET",
        &format!("/api/memories/{name}/thumbnail"),
        Some(&cookie),
        "",
    );
    assert_eq!(memory.status, 200, "{}", memory.text());
    assert_eq!(codec_and_width(&path, &memory.body), "mjpeg,160");
    for bad in [
        "2020-01-01_00-00-00-MEMORY.mp4",
        "..%2Fconfig.toml",
        "x.mp4",
    ] {
        let answer = request(
            port,
            "GET",
            &format!("/api/memories/{bad}/thumbnail"),
            Some(&cookie),
            "",
        );
        assert_eq!(answer.status, 404, "{bad}: {}", answer.text());
    }
}
