//! The live view in a real browser through what a phone goes through: web/tests/live.mjs drives
//! Debian's Chromium against the real daemon (the `test` source, both players served) and checks
//! that live plays through the low-latency stream and comes back by itself after replay and
//! another page, the screen off and on, and a camera restart; when it asks, this test restarts the
//! recorder, and live must play again after the new login.

mod daemon_support;
mod support;

use daemon_support::browser::{have_browser, repo, web_section};
use daemon_support::web::free_port;
use daemon_support::{have_tools, Recorder, Settings, STOP};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "live test password";
/// The scenario's whole budget: half a minute of recording to go back over, a camera restart and
/// a recorder restart on a loaded 2-core machine.
const LIMIT: Duration = Duration::from_secs(420);

#[test]
fn live_plays_at_once_and_comes_back_after_replay_screen_off_and_restarts() {
    let test = "live_plays_at_once_and_comes_back_after_replay_screen_off_and_restarts";
    if !have_tools(test) || !have_browser(test) {
        return;
    }
    let port = free_port();
    let recorder = Recorder::new(&Settings {
        web: web_section(port, PASSWORD),
        ..Settings::default()
    });
    let mut daemon = recorder.start();
    daemon.wait_recording();

    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-artifacts");
    let mut node = Command::new("node")
        .current_dir(repo().join("web"))
        .args([
            "tests/live.mjs",
            "--url",
            &format!("http://127.0.0.1:{port}"),
        ])
        .args(["--password", PASSWORD, "--artifacts"])
        .arg(&artifacts)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node");
    let mut to_node = node.stdin.take().expect("node's stdin");
    let (lines_tx, lines) = mpsc::channel();
    let stdout = node.stdout.take().expect("node's stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + LIMIT;
    let mut output = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match lines.recv_timeout(left) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = node.kill();
                panic!("the live scenario did not finish within {LIMIT:?}:\n{output}");
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        println!("{line}");
        output.push_str(&line);
        output.push('\n');
        if line == "RESTART-RECORDER" {
            let (status, took) = daemon.terminate(STOP);
            println!("  the recorder stopped ({status}) in {took:?}; starting it again");
            daemon = recorder.start();
            daemon.wait_recording();
            writeln!(to_node, "restarted").expect("answer node");
        }
    }
    let status = node.wait().expect("node's exit");
    assert!(
        status.success() && output.contains("\nPASSED"),
        "the live scenario failed:\n{output}\ndaemon log:\n{}",
        daemon.log_tail()
    );
}
