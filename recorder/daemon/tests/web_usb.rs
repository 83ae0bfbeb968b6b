//! The USB export in the web app: the real daemon copies a saved memory to a stick (a loop
//! device named on the control socket), then `web/tests/usb.mjs` in Debian's Chromium checks
//! what a person sees: the "can be pulled out" banner, the Status page's USB card and the
//! memory marked "on USB".

mod daemon_support;
mod support;

use daemon_support::web::{free_port, have_browser, repo_root};
use daemon_support::{have_root, have_tools, Settings, SAVE};
use serde_json::Value;
use std::time::Duration;
use support::s;
use support::stick::Stick;

const PASSWORD: &str = "usb test password";

#[test]
fn the_web_app_shows_the_stick_that_received_the_memories() {
    let test = "the_web_app_shows_the_stick_that_received_the_memories";
    if !have_tools(test) || !have_root(test) || !have_browser(test) {
        return;
    }
    let port = free_port();
    let hash = moment_recorder::web::hash_password(PASSWORD);
    let rec = daemon_support::Recorder::new(&Settings {
        web: format!("listen = \"127.0.0.1:{port}\"\npassword_hash = {hash:?}\nhls_js = \"\"\n"),
        usb: format!(
            "backend = \"manual\"\nmount_dir = \"{}/usb\"\n",
            daemon_support::ROOT
        ),
        ..Settings::default()
    });
    let mut daemon = rec.start();
    daemon.wait_recording();
    daemon.wait_history(Duration::from_secs(4));
    daemon.press(&["save"]);
    daemon.wait(SAVE, "the save", |s| s["saves"]["completed"] == 1);

    let stick_dir = tempfile::tempdir().unwrap();
    let stick = Stick::ext4(stick_dir.path(), "64M");
    support::cli(&["usb", "attach", &stick.device, "--socket", s(&rec.socket)]).expect_code(0);
    daemon.wait(Duration::from_secs(30), "the stick ejected", |s| {
        s["usb"]["sticks"][0]["state"] == "ejected"
    });

    let artifacts = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-artifacts");
    let child = std::process::Command::new("node")
        .current_dir(repo_root().join("web"))
        .args([
            "tests/usb.mjs",
            "--url",
            &format!("http://127.0.0.1:{port}"),
        ])
        .args(["--password", PASSWORD, "--memories", "1"])
        .args(["--artifacts", s(&artifacts)])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node");
    let run = support::finish_within(child, "node tests/usb.mjs", Duration::from_secs(120));
    let result: Value = serde_json::from_str(run.text().trim()).unwrap_or(Value::Null);
    println!(
        "{}\n{}\nscreenshots: {}",
        run.text(),
        run.stderr,
        artifacts.display()
    );
    assert!(
        run.code == Some(0) && result["ok"] == true,
        "the web app did not show the stick:\n{}\n{}\ndaemon log:\n{}",
        run.text(),
        run.stderr,
        daemon.log_tail()
    );
}
