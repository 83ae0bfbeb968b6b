//! The USB export in the web app: the real daemon copies a saved memory to a stick (a loop
//! device named on the control socket), then `web/tests/usb.mjs` in Debian's Chromium checks
//! what a person sees: the "can be pulled out" banner, the Status page's USB card and the
//! memory marked "on USB".

mod daemon_support;
mod support;

use daemon_support::web::{free_port, have_browser, run_scenario};
use daemon_support::{have_root, have_tools, Settings, SAVE};
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

    let url = format!("http://127.0.0.1:{port}");
    let args = ["--url", &url, "--password", PASSWORD, "--memories", "1"];
    run_scenario("tests/usb.mjs", &args, Duration::from_secs(120), || {
        format!("daemon log:\n{}", daemon.log_tail())
    });
}
