//! The web app in a real browser: Debian's Chromium driven by playwright-core (web/tests/
//! browser.mjs) against the real daemon with the `test` source. Logged-out access refused, login,
//! the live view plays, SAVE in the page makes a memory that plays, a memory is deleted after the
//! confirmation, a minute of scroll-back is marked and saved, the app works without hls.js, and
//! phone-size screenshots land in `<target tmp>/browser-artifacts/`. Also: ffmpeg as a second,
//! independent HLS client decodes the live playlist without errors.

mod daemon_support;
mod support;

use daemon_support::browser::{have_browser, repo, web_section};
use daemon_support::web::{free_port, login};
use daemon_support::{have_tools, Recorder, Settings};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const PASSWORD: &str = "browser test password";
/// The browser scenario's whole budget (it waits for a minute of recording to scrub back over).
const BROWSER_LIMIT: Duration = Duration::from_secs(300);

fn web_settings(port: u16) -> Settings {
    Settings {
        bitrate: 400_000,
        save_step_s: 10.0,
        web: web_section(port, PASSWORD),
        ..Settings::default()
    }
}

/// Runs `command` to completion within `limit`; (success, stdout then stderr).
fn run_bounded(mut command: Command, limit: Duration) -> (bool, String) {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the client");
    let run = support::finish_within(child, &format!("{command:?}"), limit);
    (run.code == Some(0), format!("{}{}", run.text(), run.stderr))
}

/// Runs web/tests/`script` against the daemon on `port` and asserts it passed; returns where its
/// screenshots are.
fn run_scenario(script: &str, port: u16, daemon: &daemon_support::Daemon) -> std::path::PathBuf {
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-artifacts");
    let mut node = Command::new("node");
    node.current_dir(repo().join("web")).args([
        &format!("tests/{script}"),
        "--url",
        &format!("http://127.0.0.1:{port}"),
        "--password",
        PASSWORD,
        "--artifacts",
        artifacts.to_str().unwrap(),
    ]);
    let (ok, output) = run_bounded(node, BROWSER_LIMIT);
    println!("{output}\nscreenshots: {}", artifacts.display());
    assert!(
        ok,
        "the browser scenario failed:\n{output}\ndaemon log:\n{}",
        daemon.log_tail()
    );
    assert!(output.contains("\nPASSED"), "{output}");
    artifacts
}

#[test]
fn the_web_app_works_in_a_real_browser() {
    let test = "the_web_app_works_in_a_real_browser";
    if !have_tools(test) || !have_browser(test) {
        return;
    }
    let port = free_port();
    let recorder = Recorder::new(&web_settings(port));
    let mut daemon = recorder.start();
    daemon.wait_recording();

    let artifacts = run_scenario("browser.mjs", port, &daemon);
    for shot in [
        "phone-live",
        "phone-memories",
        "phone-status",
        "phone-settings",
    ] {
        assert!(
            artifacts.join(format!("{shot}.png")).is_file(),
            "screenshot {shot} missing"
        );
    }
    let status = daemon.status();
    assert_eq!(status["recording"]["segments_dropped"], 0, "{status}");
}

/// The rough edges of issue 23 (web/tests/details.mjs): a double tap on SAVE makes one memory,
/// UPLOAD without an upload target says so and opens the setting, the status page speaks in words,
/// units and the camera's local time, and the app leaves no console error or failed request behind.
#[test]
fn the_apps_details_hold_in_a_real_browser() {
    let test = "the_apps_details_hold_in_a_real_browser";
    if !have_tools(test) || !have_browser(test) {
        return;
    }
    let port = free_port();
    let recorder = Recorder::new(&web_settings(port));
    let mut daemon = recorder.start();
    daemon.wait_recording();

    run_scenario("details.mjs", port, &daemon);
}

#[test]
fn ffmpeg_decodes_the_live_playlist_without_errors() {
    let test = "ffmpeg_decodes_the_live_playlist_without_errors";
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
    daemon.wait_history(Duration::from_secs(6));
    let cookie = login(port, PASSWORD);

    let mut ffmpeg = Command::new("ffmpeg");
    ffmpeg.args([
        "-hide_banner",
        "-nostdin",
        "-v",
        "error",
        "-headers",
        &format!("Cookie: {cookie}\r\n"),
        "-i",
        &format!("http://127.0.0.1:{port}/hls/live.m3u8"),
        "-t",
        "10",
        "-f",
        "null",
        "-",
    ]);
    let (ok, output) = run_bounded(ffmpeg, Duration::from_secs(90));
    assert!(ok, "ffmpeg failed:\n{output}");
    assert!(
        output.trim().is_empty(),
        "ffmpeg reported errors while decoding the live playlist:\n{output}"
    );
    let status = daemon.status();
    assert_eq!(status["recording"]["segments_dropped"], 0, "{status}");
}
