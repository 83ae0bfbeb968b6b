//! The first-boot wizard end to end: the real daemon with a simulated Wi-Fi (`network.backend =
//! "simulated"`) and no admin password, the real rclone against `rclone serve webdav`, driven by
//! headless Chromium (web/tests/wizard.mjs): the wizard opens by itself, a wrong Wi-Fi password
//! comes back as a message, the test upload works, the second try joins and closes setup.

mod daemon_support;
mod support;
mod upload_support;

use daemon_support::web::free_port;
use daemon_support::{have_tools, Recorder, Settings, ROOT};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(240);

#[test]
fn a_new_user_completes_the_wizard_in_a_real_browser() {
    let test = "a_new_user_completes_the_wizard_in_a_real_browser";
    if !have_tools(test) {
        return;
    }
    if !daemon_support::web::have_browser(test) {
        return;
    }
    let repo = daemon_support::web::repo_root();
    let dir = tempfile::tempdir().unwrap();
    let server = upload_support::WebDav::start(&dir.path().join("served"));
    let port = free_port();
    let recorder = Recorder::new(&Settings {
        web: format!("listen = \"127.0.0.1:{port}\"\nhls_js = \"\"\n"),
        network: format!(
            "backend = \"simulated\"\njoin_limit_s = 10\nrun_dir = \"{ROOT}/run-net\"\n\
             avahi_dir = \"{ROOT}/avahi\"\npreseed = \"\"\n"
        ),
        upload: format!("remote = \"\"\nrclone_config = \"{ROOT}/rclone/rclone.conf\"\n"),
        ..Settings::default()
    });
    let mut daemon = recorder.start();
    daemon.wait_recording();

    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-artifacts");
    let child = Command::new("node")
        .current_dir(repo.join("web"))
        .args([
            "tests/wizard.mjs",
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "--webdav",
            &server.url(),
            "--artifacts",
            artifacts.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node");
    let run = support::finish_within(child, "node tests/wizard.mjs", LIMIT);
    let output = format!("{}{}", run.text(), run.stderr);
    let status_ok = run.code == Some(0);
    println!("{output}\nscreenshots: {}", artifacts.display());
    assert!(
        status_ok && output.contains("\nPASSED"),
        "the wizard scenario failed:\n{output}\ndaemon log:\n{}",
        daemon.log_tail()
    );
    // What the wizard left on the recorder: the network (private), the remote, the admin hash.
    let wifi = recorder.state.join("wifi.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&wifi).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let conf = std::fs::read_to_string(recorder.root().join("rclone/rclone.conf")).unwrap();
    assert!(
        conf.contains("[moment]") && conf.contains("type = webdav"),
        "{conf}"
    );
    assert!(recorder.state.join("admin.json").is_file());
    let status = daemon.status();
    assert_eq!(status["network"]["mode"], "station", "{status}");
    let service = std::fs::read_to_string(recorder.root().join("avahi/moment-recorder.service"))
        .expect("the web app is announced over mDNS on the home network");
    assert!(
        service.contains(&format!("<port>{port}</port>")),
        "{service}"
    );
    assert_eq!(status["recording"]["segments_dropped"], 0, "{status}");
}
