//! Firmware updates against the real RAUC (tests/rauc_support). The tests here first prove the
//! test system itself with the rauc CLI, which talks to `rauc service` over the same D-Bus API
//! the daemon uses: a good bundle lands in the other slot and becomes primary, bad bundles
//! change nothing, and boot counting falls back to the old slot as the board's boot script does.

mod rauc_support;

use rauc_support::{output_text, BundleSpec, RaucSystem, Signer, ATTEMPTS};
use std::collections::BTreeMap;
use std::time::Instant;

fn vars(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
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
    let refused = [
        (
            "signed by another key",
            system.bundle(&BundleSpec {
                signer: Signer::Other,
                ..BundleSpec::default()
            }),
            "signature verification failed",
        ),
        (
            "tampered",
            system.tampered(&good),
            "signature verification failed",
        ),
        (
            "for another board",
            system.bundle(&BundleSpec {
                compatible: "other-board".to_owned(),
                ..BundleSpec::default()
            }),
            "Compatible mismatch",
        ),
        ("truncated", system.truncated(&good), "Invalid bundle"),
    ];
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
