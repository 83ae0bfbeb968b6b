//! The web app's accessibility in a real browser: web/tests/a11y.mjs runs axe-core in Debian's
//! Chromium on every page of the app served by the real daemon, fails on serious or critical
//! findings, and walks the pages by keyboard alone.

mod daemon_support;
mod support;

use daemon_support::browser::{have_browser, repo, web_section};
use daemon_support::web::free_port;
use daemon_support::{have_tools, Recorder, Settings};
use std::process::{Command, Stdio};
use std::time::Duration;

const PASSWORD: &str = "a11y test password";

#[test]
fn every_page_passes_axe_and_works_by_keyboard() {
    let test = "every_page_passes_axe_and_works_by_keyboard";
    if !have_tools(test) || !have_browser(test) {
        return;
    }
    if !repo()
        .join("web/node_modules/axe-core/axe.min.js")
        .is_file()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "axe-core is missing: run ci/install-deps.sh"
        );
        eprintln!("SKIPPED {test}: axe-core is missing (fails when CI is set)");
        return;
    }
    let port = free_port();
    let recorder = Recorder::new(&Settings {
        web: web_section(port, PASSWORD),
        ..Settings::default()
    });
    let mut daemon = recorder.start();
    daemon.wait_recording();
    let mut node = Command::new("node");
    node.current_dir(repo().join("web"))
        .args([
            "tests/a11y.mjs",
            "--url",
            &format!("http://127.0.0.1:{port}"),
        ])
        .args(["--password", PASSWORD])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let run = support::finish_within(
        node.spawn().expect("start node"),
        "node tests/a11y.mjs",
        Duration::from_secs(180),
    );
    let output = format!("{}{}", run.text(), run.stderr);
    println!("{output}");
    assert!(
        run.code == Some(0) && output.contains("\nPASSED"),
        "the accessibility scenario failed:\n{output}"
    );
}
