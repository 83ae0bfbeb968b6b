//! The captive portal with the real tools, between two network namespaces joined by a veth pair:
//! on the "recorder" side dnsmasq runs with the configuration the network manager generates and
//! the real daemon (simulated radio, so in access-point mode) serves the web; on the "phone" side
//! a DHCP client gets a lease with the portal's address, any made-up name resolves to the
//! recorder, and an HTTP connectivity probe to a made-up host is redirected to the wizard, which
//! then loads. Needs root (namespaces); skipped without, except under CI.

mod daemon_support;
mod support;

use daemon_support::web::free_port;
use daemon_support::{have_root, have_tools, Recorder, Settings};
use moment_recorder::network::config_files::dnsmasq_conf;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// Two namespaces and what runs in them; everything is removed on drop.
struct Net {
    ap: String,
    phone: String,
    ap_if: String,
    phone_if: String,
    resolv_dir: PathBuf,
    dnsmasq: Option<Child>,
}

fn sh(args: &[&str]) -> std::process::Output {
    Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn must(args: &[&str]) -> String {
    let out = sh(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Net {
    fn new() -> Net {
        let id = std::process::id() % 100_000;
        let net = Net {
            ap: format!("mr-ap-{id}"),
            phone: format!("mr-ph-{id}"),
            ap_if: format!("mra{id}"),
            phone_if: format!("mrp{id}"),
            resolv_dir: PathBuf::from(format!("/etc/netns/mr-ph-{id}")),
            dnsmasq: None,
        };
        must(&["ip", "netns", "add", &net.ap]);
        must(&["ip", "netns", "add", &net.phone]);
        must(&[
            "ip",
            "link",
            "add",
            &net.ap_if,
            "type",
            "veth",
            "peer",
            "name",
            &net.phone_if,
        ]);
        must(&["ip", "link", "set", &net.ap_if, "netns", &net.ap]);
        must(&["ip", "link", "set", &net.phone_if, "netns", &net.phone]);
        must(&[
            "ip",
            "-n",
            &net.ap,
            "addr",
            "add",
            "192.168.4.1/24",
            "dev",
            &net.ap_if,
        ]);
        for (ns, dev) in [(&net.ap, &net.ap_if), (&net.phone, &net.phone_if)] {
            must(&["ip", "-n", ns, "link", "set", dev, "up"]);
            must(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        // `ip netns exec` gives the phone this resolv.conf: the phone asks the recorder.
        std::fs::create_dir_all(&net.resolv_dir).unwrap();
        std::fs::write(
            net.resolv_dir.join("resolv.conf"),
            "nameserver 192.168.4.1\n",
        )
        .unwrap();
        net
    }

    fn in_phone<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec!["ip", "netns", "exec", self.phone.as_str()];
        all.extend_from_slice(args);
        all
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        if let Some(mut child) = self.dnsmasq.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = sh(&["ip", "netns", "del", &self.ap]);
        let _ = sh(&["ip", "netns", "del", &self.phone]);
        let _ = std::fs::remove_dir_all(&self.resolv_dir);
    }
}

fn tools_present(test: &str) -> bool {
    let present = ["dnsmasq", "udhcpc", "busybox", "curl"].iter().all(|tool| {
        ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(tool).exists())
    });
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "dnsmasq, udhcpc, busybox or curl missing: run ci/install-deps.sh"
        );
        eprintln!("SKIPPED {test}: dnsmasq, udhcpc, busybox or curl missing");
    }
    present
}

#[test]
fn a_phone_on_the_access_point_is_sent_to_the_wizard() {
    let test = "a_phone_on_the_access_point_is_sent_to_the_wizard";
    if !have_root(test) || !have_tools(test) || !tools_present(test) {
        return;
    }
    let mut net = Net::new();
    let dir = tempfile::tempdir().unwrap();

    // The recorder's side: dnsmasq as the network manager configures it, and the daemon.
    let port = free_port();
    let conf = dir.path().join("dnsmasq.conf");
    let leases = dir.path().join("leases");
    std::fs::write(
        &conf,
        dnsmasq_conf(&net.ap_if, leases.to_str().unwrap(), port).unwrap(),
    )
    .unwrap();
    net.dnsmasq = Some(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &net.ap,
                "dnsmasq",
                "--keep-in-foreground",
                "--log-facility=-",
                "--user=root",
                "-C",
            ])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dnsmasq"),
    );
    let recorder = Recorder::new(&Settings {
        web: format!("listen = \"0.0.0.0:{port}\"\nhls_js = \"\"\n"),
        network: format!(
            "backend = \"simulated\"\nrun_dir = \"{ROOT}/run-net\"\navahi_dir = \"\"\npreseed = \"\"\n",
            ROOT = daemon_support::ROOT
        ),
        ..Settings::default()
    });
    let mut daemon = recorder.start_under(&["ip", "netns", "exec", &net.ap]);
    daemon.wait_recording();

    // The phone's side: a DHCP lease with the recorder as router, DNS server and portal.
    let script = dir.path().join("lease.sh");
    let lease = dir.path().join("lease.env");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = bound ] && env > {}\nexit 0\n",
            lease.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let started = Instant::now();
    must(&net.in_phone(&[
        "busybox",
        "udhcpc",
        "-i",
        &net.phone_if,
        "-n",
        "-q",
        "-t",
        "5",
        "-T",
        "1",
        "-O",
        "114",
        "-s",
        script.to_str().unwrap(),
    ]));
    let env = std::fs::read_to_string(&lease).expect("the DHCP client got a lease");
    let var = |name: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} missing from the lease:\n{env}"))
            .to_string()
    };
    let ip = var("ip");
    assert!(ip.starts_with("192.168.4."), "{ip}");
    assert_eq!(var("router"), "192.168.4.1");
    assert_eq!(var("dns"), "192.168.4.1");
    let portal = format!("http://192.168.4.1:{port}/");
    let portal_hex: String = portal.bytes().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        var("opt114"),
        portal_hex,
        "the RFC 8910 captive portal option"
    );
    println!("DHCP lease {ip} in {:?}", started.elapsed());
    must(&[
        "ip",
        "-n",
        &net.phone,
        "addr",
        "add",
        &format!("{ip}/24"),
        "dev",
        &net.phone_if,
    ]);

    // Any name is the recorder.
    for name in [
        "connectivitycheck.gstatic.com",
        "captive.apple.com",
        "made-up.example",
    ] {
        let answer = must(&net.in_phone(&["busybox", "nslookup", name, "192.168.4.1"]));
        assert!(answer.contains("Address: 192.168.4.1"), "{name}: {answer}");
    }

    // The probe of an Android phone, to a made-up host, lands on the wizard.
    let probe = format!("http://connectivitycheck.gstatic.com:{port}/generate_204");
    let answer = must(&net.in_phone(&[
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "--max-time",
        "10",
        "-w",
        "%{http_code} %{redirect_url}",
        &probe,
    ]));
    assert_eq!(answer, format!("302 {portal}"), "the probe's answer");
    let page = must(&net.in_phone(&[
        "curl",
        "-s",
        "-L",
        "--max-time",
        "10",
        &format!("http://made-up.example:{port}/anything"),
    ]));
    assert!(
        page.contains("<title>Moment</title>"),
        "the wizard's page:\n{page}"
    );
    let setup = must(&net.in_phone(&[
        "curl",
        "-s",
        "--max-time",
        "10",
        &format!("{portal}api/setup"),
    ]));
    assert!(setup.contains("\"ap_ssid\":\"Moment-DE30\""), "{setup}");
    drop(daemon);
}
