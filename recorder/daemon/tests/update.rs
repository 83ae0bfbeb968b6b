//! Firmware updates against the real RAUC (tests/rauc_support). The first tests prove the test
//! system itself with the rauc CLI, which talks to `rauc service` over the same D-Bus API the
//! daemon uses: a good bundle lands in the other slot and becomes primary, bad bundles change
//! nothing, and boot counting falls back to the old slot as the board's boot script does. The
//! rest drive the real daemon through `/api/update`: install, reboot, confirmation once healthy;
//! refused bundles and uploads that change nothing; a new system that does not record, left
//! unconfirmed until the boot counter rolls back, and the old system saying so.

mod daemon_support;
mod rauc_support;
mod support;

use daemon_support::web::{exchange, free_port, login, request, run_scenario};
use daemon_support::{have_tools, Daemon, Recorder, Settings, SmallDisk, ROOT};
use rauc_support::{output_text, BundleSpec, RaucSystem, Signer, ATTEMPTS};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn vars(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Bundles RAUC must refuse, with a fragment of its reason: another signer, a flipped byte in
/// `good`, another board's `compatible`.
fn refused_bundles(system: &RaucSystem, good: &Path) -> Vec<(&'static str, PathBuf, &'static str)> {
    let signed_by_other = BundleSpec {
        signer: Signer::Other,
        ..BundleSpec::default()
    };
    let other_board = BundleSpec {
        compatible: "other-board".to_owned(),
        ..BundleSpec::default()
    };
    vec![
        (
            "signed by another key",
            system.bundle(&signed_by_other),
            "signature verification failed",
        ),
        (
            "tampered",
            system.tampered(good),
            "signature verification failed",
        ),
        (
            "for another board",
            system.bundle(&other_board),
            "Compatible mismatch",
        ),
    ]
}

fn report(name: &str, started: Instant) {
    eprintln!("{name}: {:.2?}", started.elapsed());
}

#[test]
fn fixture_installs_a_good_bundle_into_the_other_slot() {
    let started = Instant::now();
    let system = RaucSystem::start();
    let slot_a = system.slot_bytes("A");
    let spec = BundleSpec::default();
    let bundle = system.bundle(&spec);

    let output = system.install(&bundle);

    assert!(
        output.status.success(),
        "install failed: {}\n{}",
        output_text(&output),
        system.logs()
    );
    let slot_b = system.slot_bytes("B");
    assert!(
        slot_b[..spec.payload.len()] == spec.payload[..],
        "slot B does not start with the payload"
    );
    assert!(system.slot_bytes("A") == slot_a, "slot A changed");
    let vars = system.vars();
    assert!(vars["BOOT_ORDER"].starts_with('B'), "{vars:?}");
    assert_eq!(vars["BOOT_B_LEFT"], ATTEMPTS.to_string(), "{vars:?}");
    // RAUC takes the target out of the boot order before writing it and makes it primary after.
    let calls = system.bootloader_calls();
    let position = |call: &str| calls.iter().position(|c| c == call);
    let (bad, primary) = (position("set-state B bad"), position("set-primary B"));
    assert!(bad.is_some() && primary > bad, "{calls:?}");
    let status = system.rauc_status_json();
    assert_eq!(status["booted"], "A", "{status}");
    assert_eq!(status["boot_primary"], "rootfs.1", "{status}");
    assert_eq!(
        system.slot_status("B")["slot_status"]["bundle"]["version"],
        "2.0.0"
    );
    report("install_good_bundle", started);
}

#[test]
fn fixture_refuses_foreign_tampered_and_incompatible_bundles() {
    let started = Instant::now();
    let system = RaucSystem::start();
    let good = system.bundle(&BundleSpec::default());
    let mut refused = refused_bundles(&system, &good);
    refused.push(("truncated", system.truncated(&good), "Invalid bundle"));
    let before = (
        system.slot_bytes("A"),
        system.slot_bytes("B"),
        system.vars(),
    );

    for (what, bundle, reason) in refused {
        let output = system.install(&bundle);

        let text = output_text(&output);
        assert!(!output.status.success(), "{what}: installed: {text}");
        assert!(text.contains(reason), "{what}: no {reason:?} in: {text}");
        let after = (
            system.slot_bytes("A"),
            system.slot_bytes("B"),
            system.vars(),
        );
        assert!(after.0 == before.0, "{what}: slot A changed");
        assert!(after.1 == before.1, "{what}: slot B changed");
        assert_eq!(after.2, before.2, "{what}: boot variables changed");
    }
    report("refuse_bad_bundles", started);
}

#[test]
fn fixture_counts_boots_and_falls_back_to_the_old_slot() {
    let started = Instant::now();
    let mut system = RaucSystem::start();
    let bundle = system.bundle(&BundleSpec::default());
    let output = system.install(&bundle);
    assert!(output.status.success(), "{}", output_text(&output));
    assert_eq!(
        system.vars(),
        vars(&[
            ("BOOT_ORDER", "B A"),
            ("BOOT_A_LEFT", "3"),
            ("BOOT_B_LEFT", "3")
        ])
    );

    // The first boot of the update takes one of its three attempts...
    assert_eq!(system.reboot(), "B");
    assert_eq!(system.vars()["BOOT_B_LEFT"], "2");
    let status = system.rauc_status_json();
    assert_eq!(status["booted"], "B", "{status}");

    // ...and the healthy recorder's mark-good gives them back.
    let output = system.run_rauc(&["status", "mark-good"]);
    assert!(output.status.success(), "{}", output_text(&output));
    assert_eq!(
        system.bootloader_calls().last().map(String::as_str),
        Some("set-state B good")
    );
    assert_eq!(
        system.vars(),
        vars(&[
            ("BOOT_ORDER", "B A"),
            ("BOOT_A_LEFT", "3"),
            ("BOOT_B_LEFT", "3")
        ])
    );
    let b = system.slot_status("B");
    assert_eq!(b["state"], "booted", "{b}");
    assert_eq!(b["boot_status"], "good", "{b}");

    // A slot that never gets marked good again boots three times, then the board falls back.
    let mut seen = Vec::new();
    for _ in 0..4 {
        let slot = system.reboot();
        let vars = system.vars();
        seen.push(format!(
            "{slot} A={} B={}",
            vars["BOOT_A_LEFT"], vars["BOOT_B_LEFT"]
        ));
    }
    assert_eq!(seen, ["B A=3 B=2", "B A=3 B=1", "B A=3 B=0", "A A=2 B=0"]);
    let status = system.rauc_status_json();
    assert_eq!(status["booted"], "A", "{status}");
    assert_eq!(status["boot_primary"], "rootfs.0", "{status}");
    assert_eq!(system.slot_status("B")["boot_status"], "bad", "{status}");
    assert_eq!(system.vars()["BOOT_ORDER"], "B A");
    report("boot_counting", started);
}

#[test]
fn fixture_boot_script_resets_both_slots_when_all_attempts_are_spent() {
    let mut vars = vars(&[
        ("BOOT_ORDER", "B A"),
        ("BOOT_A_LEFT", "0"),
        ("BOOT_B_LEFT", "0"),
    ]);
    assert_eq!(rauc_support::boot_script(&mut vars), "B");
    assert_eq!(
        vars,
        self::vars(&[
            ("BOOT_ORDER", "B A"),
            ("BOOT_A_LEFT", "3"),
            ("BOOT_B_LEFT", "2")
        ])
    );

    let mut empty = BTreeMap::new();
    assert_eq!(rauc_support::boot_script(&mut empty), "A");
    assert_eq!(
        empty,
        self::vars(&[
            ("BOOT_ORDER", "A B"),
            ("BOOT_A_LEFT", "2"),
            ("BOOT_B_LEFT", "3")
        ])
    );
}

const PASSWORD: &str = "update owner password";
/// From a request until the install it started has ended (a few MiB into a file slot).
const INSTALL_LIMIT: Duration = Duration::from_secs(60);
/// From a daemon's start until it has confirmed or given up on its slot (health_s 2,
/// health_limit_s 8 below, plus start-up).
const HEALTH_LIMIT: Duration = Duration::from_secs(40);

/// A recorder whose updater talks to `rauc`, with a camera that fails while
/// `ROOT/camera-broken` exists, a reboot command that leaves `ROOT/rebooted`, and the boot id
/// in `ROOT/boot_id` (a simulated reboot changes it).
fn updating_recorder(rauc: &RaucSystem, port: u16, bundle_dir: Option<&Path>) -> Recorder {
    let hash = moment_recorder::web::hash_password(PASSWORD);
    let bundle_dir =
        bundle_dir.map_or_else(|| format!("{ROOT}/bundles"), |d| d.display().to_string());
    let recorder = Recorder::new(&Settings {
        web: format!("listen = \"127.0.0.1:{port}\"\npassword_hash = {hash:?}\nhls_js = \"\"\n"),
        source: "silence_s = 2\n".into(),
        test_source: format!("program = \"{ROOT}/camera.sh\"\n"),
        update: format!(
            "backend = \"rauc\"\nbus = {bus:?}\nbundle_dir = {bundle_dir:?}\nmax_bundle_mib = 64\n\
             keep_free_mib = 0\nhealth_s = 2\nhealth_limit_s = 8\n\
             reboot_command = [\"touch\", \"{ROOT}/rebooted\"]\nboot_id_file = \"{ROOT}/boot_id\"\n",
            bus = rauc.bus_address(),
        ),
        ..Settings::default()
    });
    let root = recorder.root();
    std::fs::write(
        root.join("camera.sh"),
        format!("#!/bin/sh\nif [ -e {r}/camera-broken ]; then sleep 1; exit 1; fi\nexec ffmpeg \"$@\"\n", r = root.display()),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let camera = root.join("camera.sh");
        std::fs::set_permissions(&camera, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(root.join("boot_id"), "boot-1\n").unwrap();
    recorder
}

/// [`updating_recorder`] on a free port, started, recording, its updater connected to RAUC.
fn start_updating(rauc: &RaucSystem, bundle_dir: Option<&Path>) -> (u16, Recorder, Daemon) {
    let port = free_port();
    let recorder = updating_recorder(rauc, port, bundle_dir);
    let mut daemon = recorder.start();
    daemon.wait_recording();
    wait_available(&mut daemon);
    (port, recorder, daemon)
}

/// `POST /api/update` with `bytes` as the body, announced as `length`; with `hang_up` the client
/// then closes its side, as a phone that lost the Wi-Fi would. The status and the JSON answer,
/// or `None` if the server closed without one.
fn post_bundle(
    port: u16,
    cookie: &str,
    bytes: &[u8],
    length: u64,
    hang_up: bool,
) -> Option<(u16, Value)> {
    let head = format!(
        "POST /api/update HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nX-Moment: 1\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {length}\r\nCookie: {cookie}\r\n\r\n"
    );
    match exchange(port, &head, bytes, hang_up) {
        Ok(answer) if answer.status != 0 => Some((
            answer.status,
            serde_json::from_slice(&answer.body).unwrap_or(Value::Null),
        )),
        Ok(_) => None,
        Err(e) => {
            eprintln!("POST /api/update: no answer: {e}");
            None
        }
    }
}

/// Polls `done` every 100 ms until it holds; panics naming `what` after `limit`.
fn wait_for(limit: Duration, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "no {what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn update_view(port: u16, cookie: &str) -> Value {
    request(port, "GET", "/api/update", Some(cookie), "").ok()
}

/// Until the daemon's updater reaches RAUC.
fn wait_available(daemon: &mut Daemon) {
    daemon.wait(HEALTH_LIMIT, "the updater to reach RAUC", |s| {
        s["update"]["available"] == true
    });
}

/// Until an install ends after `since_ms`; its outcome.
fn wait_outcome(daemon: &mut Daemon, since_ms: i64, what: &str) -> Value {
    let status = daemon.wait(INSTALL_LIMIT, what, |s| {
        s["update"]["operation"] == "idle"
            && s["update"]["last"]["at_ms"]
                .as_i64()
                .is_some_and(|t| t > since_ms)
    });
    status["update"].clone()
}

fn last_at(daemon: &Daemon) -> i64 {
    daemon.status()["update"]["last"]["at_ms"]
        .as_i64()
        .unwrap_or(0)
}

/// A reboot as the board does it: the daemon stops, the boot script picks a slot and the boot id
/// changes; the booted slot. The caller starts the daemon again when the test needs it.
fn reboot(recorder: &Recorder, rauc: &mut RaucSystem, daemon: Daemon, boot: u32) -> String {
    let mut daemon = daemon;
    daemon.terminate(Duration::from_secs(30));
    let _ = std::fs::remove_file(recorder.root().join("rebooted"));
    std::fs::write(recorder.root().join("boot_id"), format!("boot-{boot}\n")).unwrap();
    rauc.reboot()
}

#[test]
fn a_bundle_uploaded_in_the_web_app_installs_and_the_healthy_new_system_is_confirmed() {
    let test = "a_bundle_uploaded_in_the_web_app_installs_and_the_healthy_new_system_is_confirmed";
    if !have_tools(test) {
        return;
    }
    let started = Instant::now();
    let mut rauc = RaucSystem::start();
    let spec = BundleSpec::default();
    let bundle = std::fs::read(rauc.bundle(&spec)).unwrap();
    let slot_a = rauc.slot_bytes("A");
    let (port, recorder, mut daemon) = start_updating(&rauc, None);
    let cookie = login(port, PASSWORD);
    let view = update_view(port, &cookie);
    assert_eq!(
        (view["booted_slot"].as_str(), view["compatible"].as_str()),
        (Some("A"), Some("moment-test")),
        "{view:#}"
    );

    let (status, answer) =
        post_bundle(port, &cookie, &bundle, bundle.len() as u64, false).expect("an answer");
    assert_eq!(status, 202, "{answer}");
    let update = wait_outcome(&mut daemon, 0, "the install to end");

    assert_eq!(
        update["last"]["result"],
        "installed",
        "{update:#}\n{}",
        daemon.log_tail()
    );
    assert_eq!(update["last"]["version"], "2.0.0");
    assert_eq!(update["last"]["slot"], "B");
    assert_eq!(update["progress"]["percent"], 100, "{update:#}");
    assert_eq!(update["reboot_needed"], true);
    assert_eq!(
        &rauc.slot_bytes("B")[..spec.payload.len()],
        &spec.payload[..],
        "slot B holds the update"
    );
    assert!(rauc.slot_bytes("A") == slot_a, "slot A is untouched");
    assert_eq!(
        rauc.vars(),
        vars(&[
            ("BOOT_ORDER", "B A"),
            ("BOOT_A_LEFT", "3"),
            ("BOOT_B_LEFT", "3")
        ])
    );
    let view = update_view(port, &cookie);
    assert_eq!(view["primary_slot"], "B", "{view:#}");
    let slot_b = view["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["bootname"] == "B")
        .unwrap();
    assert_eq!(slot_b["version"], "2.0.0", "{view:#}");
    assert_eq!(
        std::fs::read_dir(recorder.root().join("bundles"))
            .unwrap()
            .count(),
        0,
        "the bundle is removed"
    );
    assert_eq!(
        std::fs::read_to_string(recorder.state.join("update-trial-slot")).unwrap(),
        "B"
    );
    // Recording went on through the install.
    assert!(daemon.status()["recording"]["seconds_since_data"]
        .as_f64()
        .is_some_and(|s| s < 3.0));

    let (status, answer) = {
        let a = request(port, "POST", "/api/update/reboot", Some(&cookie), "");
        (a.status, a.text())
    };
    assert_eq!(status, 202, "{answer}");
    wait_for(Duration::from_secs(10), "the reboot command", || {
        recorder.root().join("rebooted").exists()
    });

    assert_eq!(reboot(&recorder, &mut rauc, daemon, 2), "B");
    assert_eq!(
        rauc.vars()["BOOT_B_LEFT"],
        "2",
        "the new system's first boot took an attempt"
    );
    let mut daemon = recorder.start();
    let status = daemon.wait(HEALTH_LIMIT, "the new system confirmed", |s| {
        s["update"]["last"]["result"] == "updated"
    });

    assert_eq!(status["update"]["last"]["version"], "2.0.0");
    assert_eq!(
        rauc.vars()["BOOT_B_LEFT"],
        "3",
        "marked good: its attempts are back"
    );
    assert_eq!(
        rauc.slot_status("B")["boot_status"],
        "good",
        "{}",
        rauc.rauc_status_json()
    );
    assert!(
        !recorder.state.join("update-trial-slot").exists(),
        "no trial left for the boot backstop"
    );
    assert!(
        !recorder.root().join("rebooted").exists(),
        "a healthy system is not rebooted"
    );
    report(test, started);
}

#[test]
fn refused_bundles_and_broken_uploads_change_nothing() {
    let test = "refused_bundles_and_broken_uploads_change_nothing";
    if !have_tools(test) || !daemon_support::have_root(test) {
        return;
    }
    let started = Instant::now();
    let rauc = RaucSystem::start();
    let good = rauc.bundle(&BundleSpec::default());
    let refused = refused_bundles(&rauc, &good);
    let disk = SmallDisk::new("8M");
    let (port, _recorder, mut daemon) = start_updating(&rauc, Some(&disk.mountpoint));
    let cookie = login(port, PASSWORD);
    let before = (rauc.slot_bytes("A"), rauc.slot_bytes("B"), rauc.vars());
    let unchanged = |what: &str| {
        let after = (rauc.slot_bytes("A"), rauc.slot_bytes("B"), rauc.vars());
        assert!(
            after.0 == before.0 && after.1 == before.1,
            "{what}: a slot changed"
        );
        assert_eq!(after.2, before.2, "{what}: the boot variables changed");
        let left: Vec<_> = std::fs::read_dir(&disk.mountpoint)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n != "lost+found")
            .collect();
        assert!(left.is_empty(), "{what}: left {left:?}");
    };

    for (what, path, reason) in refused {
        let bytes = std::fs::read(&path).unwrap();
        let since = last_at(&daemon);
        let (status, answer) =
            post_bundle(port, &cookie, &bytes, bytes.len() as u64, false).expect("an answer");
        assert_eq!(status, 202, "{what}: {answer}");
        let update = wait_outcome(&mut daemon, since, what);
        assert_eq!(update["last"]["result"], "failed", "{what}: {update:#}");
        let message = update["last"]["message"].as_str().unwrap();
        assert!(
            message.contains(reason),
            "{what}: {message:?} lacks {reason:?}"
        );
        assert_eq!(update["reboot_needed"], false, "{what}");
        unchanged(what);
    }

    // An upload cut off halfway: refused, nothing kept.
    let bytes = std::fs::read(&good).unwrap();
    let answer = post_bundle(
        port,
        &cookie,
        &bytes[..bytes.len() / 2],
        bytes.len() as u64,
        true,
    );
    // The client is gone, so the answer may never arrive; the status says what happened.
    if let Some((status, answer)) = answer {
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .contains("nothing was installed"),
            "{answer}"
        );
    }
    wait_for(Duration::from_secs(10), "the updater idle again", || {
        daemon.status()["update"]["operation"] == "idle"
    });
    let events = daemon.status()["events"].to_string();
    assert!(events.contains("bundle refused: the upload"), "{events}");
    unchanged("truncated upload");

    // A bundle larger than the free space: refused before a byte is written.
    let (status, answer) =
        post_bundle(port, &cookie, &[0; 4096], 32 << 20, false).expect("an answer");
    assert_eq!(status, 507, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("MiB are free"),
        "{answer}"
    );
    unchanged("too large for the free space");

    // After all that, a good bundle still installs.
    let since = last_at(&daemon);
    let (status, _) =
        post_bundle(port, &cookie, &bytes, bytes.len() as u64, false).expect("an answer");
    assert_eq!(status, 202);
    assert_eq!(
        wait_outcome(&mut daemon, since, "the good install")["last"]["result"],
        "installed"
    );
    daemon.terminate(Duration::from_secs(30));
    report(test, started);
}

#[test]
fn a_new_system_that_does_not_record_is_not_confirmed_and_the_old_one_says_so() {
    let test = "a_new_system_that_does_not_record_is_not_confirmed_and_the_old_one_says_so";
    if !have_tools(test) {
        return;
    }
    let started = Instant::now();
    let mut rauc = RaucSystem::start();
    let bundle = std::fs::read(rauc.bundle(&BundleSpec::default())).unwrap();
    let (port, recorder, mut daemon) = start_updating(&rauc, None);
    let cookie = login(port, PASSWORD);
    let (status, _) =
        post_bundle(port, &cookie, &bundle, bundle.len() as u64, false).expect("an answer");
    assert_eq!(status, 202);
    assert_eq!(
        wait_outcome(&mut daemon, 0, "the install")["last"]["result"],
        "installed"
    );

    // The new system's camera does not work: no confirmation, a reboot request instead.
    std::fs::write(recorder.root().join("camera-broken"), "").unwrap();
    assert_eq!(reboot(&recorder, &mut rauc, daemon, 2), "B");
    let daemon = recorder.start();
    wait_for(HEALTH_LIMIT, "the failed trial's reboot", || {
        recorder.root().join("rebooted").exists()
    });
    assert_eq!(rauc.vars()["BOOT_B_LEFT"], "2", "not marked good");
    let status = daemon.status();
    let record: Value =
        serde_json::from_slice(&std::fs::read(recorder.state.join("update.json")).unwrap())
            .unwrap();
    let failure = record["trial"]["failures"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(failure.contains("no video"), "{record:#}\n{status:#}");

    // Two more boots that never get confirmed use up B's attempts; the boot script goes back to A.
    assert_eq!(reboot(&recorder, &mut rauc, daemon, 3), "B");
    assert_eq!(rauc.reboot(), "B");
    assert_eq!(rauc.vars()["BOOT_B_LEFT"], "0");
    assert_eq!(rauc.reboot(), "A", "the boot counter rolled back");
    std::fs::write(recorder.root().join("boot_id"), "boot-5\n").unwrap();
    std::fs::remove_file(recorder.root().join("camera-broken")).unwrap();

    let mut daemon = recorder.start();
    let status = daemon.wait(HEALTH_LIMIT, "the roll-back reported", |s| {
        s["update"]["last"]["result"] == "rolled_back"
    });
    let message = status["update"]["last"]["message"].as_str().unwrap();
    assert!(
        message.contains("slot A") && message.contains("no video"),
        "{message}"
    );
    assert_eq!(status["update"]["last"]["version"], "2.0.0");
    wait_for(HEALTH_LIMIT, "the old slot confirmed", || {
        rauc.vars()["BOOT_A_LEFT"] == "3"
    });
    let view = update_view(port, &login(port, PASSWORD));
    assert_eq!(
        (
            view["booted_slot"].as_str(),
            view["last"]["result"].as_str()
        ),
        (Some("A"), Some("rolled_back")),
        "{view:#}"
    );
    assert!(!recorder.state.join("update-trial-slot").exists());
    report(test, started);
}

#[test]
fn the_update_page_installs_a_bundle_in_a_real_browser() {
    let test = "the_update_page_installs_a_bundle_in_a_real_browser";
    if !have_tools(test) {
        return;
    }
    if !daemon_support::web::have_browser(test) {
        return;
    }
    let started = Instant::now();
    let rauc = RaucSystem::start();
    let spec = BundleSpec::default();
    let bundle = rauc.bundle(&spec);
    let (port, _recorder, daemon) = start_updating(&rauc, None);

    let url = format!("http://127.0.0.1:{port}");
    let bundle = bundle.to_str().unwrap();
    let args = ["--url", &url, "--password", PASSWORD, "--bundle", bundle];
    let args = [&args[..], &["--timeout-s", "90"]].concat();
    run_scenario("tests/update.mjs", &args, Duration::from_secs(180), || {
        format!("daemon log:\n{}", daemon.log_tail())
    });
    // What the page showed is what happened.
    assert_eq!(daemon.status()["update"]["last"]["result"], "installed");
    assert_eq!(
        &rauc.slot_bytes("B")[..spec.payload.len()],
        &spec.payload[..]
    );
    assert_eq!(rauc.vars()["BOOT_ORDER"], "B A");
    report(test, started);
}
