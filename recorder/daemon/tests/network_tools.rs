//! The configuration files the network manager writes, read by the real tools: `dnsmasq --test`,
//! and hostapd and wpa_supplicant started on them (there is no radio here, so they stop at the
//! driver, after parsing; a file they cannot parse makes them print `Line N: ...`). A broken file
//! of each kind proves the check can fail.

mod support;

use moment_recorder::network::config_files::{
    dnsmasq_conf, hostapd_conf, wpa_supplicant_conf, ApSettings, Passphrase, Ssid, StationSettings,
};
use std::path::Path;

fn have(tool: &str, test: &str) -> bool {
    let found = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .any(|dir| Path::new(dir).join(tool).exists());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is missing: run ci/install-deps.sh"
        );
        eprintln!("SKIPPED {test}: {tool} is missing (fails when CI is set)");
    }
    found
}

/// Runs the tool to its end (bounded by the support's limit); (exit code, stdout then stderr).
fn run(program: &str, args: &[&str]) -> (Option<i32>, String) {
    let run = support::program(program, args).unwrap_or_else(|| panic!("cannot start {program}"));
    (run.code, format!("{}{}", run.text(), run.stderr))
}

/// What wpa_supplicant says reading `conf` for an interface that does not exist (it parses the
/// file before it needs the radio).
fn wpa_supplicant_reads(conf: &std::path::Path) -> String {
    let conf = conf.to_str().unwrap();
    run(
        "wpa_supplicant",
        &["-i", "nosuchif0", "-D", "nl80211", "-c", conf],
    )
    .1
}

fn parse_errors(output: &str) -> Vec<&str> {
    output
        .lines()
        .filter(|l| l.starts_with("Line ") || l.contains("errors found in configuration"))
        .collect()
}

fn ap() -> ApSettings {
    ApSettings {
        interface: "wlan0".into(),
        ssid: Ssid::new("Moment-AB0C").unwrap(),
        passphrase: Passphrase::new("a \"quoted\" pass#word").unwrap(),
        channel: 6,
        country: "DE".into(),
        ctrl_dir: "/run/moment-test/hostapd".into(),
    }
}

#[test]
fn dnsmasq_accepts_its_configuration() {
    if !have("dnsmasq", "dnsmasq_accepts_its_configuration") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("dnsmasq.conf");
    std::fs::write(
        &conf,
        dnsmasq_conf("wlan0", dir.path().join("leases").to_str().unwrap(), 80).unwrap(),
    )
    .unwrap();
    let (code, out) = run("dnsmasq", &["--test", "-C", conf.to_str().unwrap()]);
    assert_eq!(code, Some(0), "dnsmasq --test refused the file:\n{out}");
    assert!(out.contains("syntax check OK"), "{out}");
    // The check can fail.
    std::fs::write(&conf, "dhcp-range=not-an-address\n").unwrap();
    let (code, _) = run("dnsmasq", &["--test", "-C", conf.to_str().unwrap()]);
    assert_ne!(code, Some(0));
}

#[test]
fn hostapd_parses_its_configuration() {
    if !have("hostapd", "hostapd_parses_its_configuration") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("hostapd.conf");
    std::fs::write(&conf, hostapd_conf(&ap()).unwrap()).unwrap();
    let (_, out) = run("hostapd", &[conf.to_str().unwrap()]);
    assert!(parse_errors(&out).is_empty(), "hostapd:\n{out}");
    // Parsed, then stopped at the missing radio.
    assert!(
        out.contains("driver") || out.contains("interface state"),
        "hostapd did not get past its configuration:\n{out}"
    );
    let broken = hostapd_conf(&ap())
        .unwrap()
        .replace("wpa_passphrase=", "wpa_passphrase=x\nchannel=abc\n#");
    std::fs::write(&conf, broken).unwrap();
    let (_, out) = run("hostapd", &[conf.to_str().unwrap()]);
    assert!(!parse_errors(&out).is_empty(), "{out}");
}

#[test]
fn wpa_supplicant_parses_its_configuration() {
    if !have("wpa_supplicant", "wpa_supplicant_parses_its_configuration") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("wpa.conf");
    for station in [
        StationSettings {
            ssid: Ssid::new("Home \"Net\" ☕").unwrap(),
            passphrase: Some(Passphrase::new("pw\" } network={ x").unwrap()),
            hidden: true,
        },
        StationSettings {
            ssid: Ssid::new("Cafe").unwrap(),
            passphrase: None,
            hidden: false,
        },
    ] {
        let ctrl = dir.path().join("ctrl");
        std::fs::write(
            &conf,
            wpa_supplicant_conf(&station, ctrl.to_str().unwrap()).unwrap(),
        )
        .unwrap();
        let out = wpa_supplicant_reads(&conf);
        assert!(parse_errors(&out).is_empty(), "wpa_supplicant:\n{out}");
        assert!(out.contains("Successfully initialized"), "{out}");
    }
    std::fs::write(&conf, "network={\n\tssid=zz\n\tpsk=\"short\"\n}\n").unwrap();
    let out = wpa_supplicant_reads(&conf);
    assert!(!parse_errors(&out).is_empty(), "{out}");
}
