//! A real RAUC A/B system in a temporary directory, so the firmware update tests exercise the
//! same `rauc service` (Debian's rauc 1.8) and D-Bus API the camera runs, instead of a mock that
//! would agree with whatever the daemon expects. Only the hardware is simulated: the two root
//! partitions are 4 MiB files, the U-Boot environment is a file that `bootloader.sh` (RAUC's
//! custom bootloader backend, with the U-Boot backend's semantics) edits, the system bus is a
//! private `dbus-daemon`, and a reboot is `RaucSystem::reboot`, which runs the algorithm of
//! `board/zero2w/boot.cmd` over that file. The machines have no device-mapper, so bundles are in
//! RAUC's `plain` format, which the camera refuses (the format does not change the D-Bus API, the
//! signature check or the boot counting these tests are about).
//!
//! Every test gets its own directory, bus and service, so tests run in parallel. Nothing waits
//! without a time limit, and dropping a `RaucSystem` stops its service and bus.
//!
//! ```text
//! let mut rauc = RaucSystem::start();                  // booted from A, A and B good
//! let bundle = rauc.bundle(&BundleSpec::default());    // 2.0.0, signed by the keyring's CA
//! // run the daemon with DBUS_SYSTEM_BUS_ADDRESS=rauc.bus_address(); it installs `bundle`
//! assert_eq!(rauc.reboot(), "B");                      // one of B's 3 attempts taken
//! // the daemon marks B good (Mark "good" "booted"): rauc.vars()["BOOT_B_LEFT"] == "3"
//! ```

#![allow(dead_code)] // not every test uses every helper

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The `compatible` of the test system (and the default of `BundleSpec`).
pub const COMPATIBLE: &str = "moment-test";
/// Size of each slot file.
pub const SLOT_SIZE: usize = 4 << 20;
/// The attempts RAUC's U-Boot backend gives a slot it marks primary or good, and boot.cmd's
/// default.
pub const ATTEMPTS: u32 = 3;
/// Size of `BundleSpec::default()`'s payload.
pub const PAYLOAD_SIZE: usize = 2 << 20;

/// From spawning `rauc service` (or `dbus-daemon`) until it answers.
const START: Duration = Duration::from_secs(10);
/// From SIGTERM until a child has exited; then SIGKILL.
const STOP: Duration = Duration::from_secs(5);
/// Any one command (openssl, `rauc bundle`, `rauc install` of a few MiB, `rauc status`).
const COMMAND: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(25);

/// The bootloader backend RAUC calls; see the script's header.
const BOOTLOADER_SH: &str = include_str!("bootloader.sh");

/// Who signs a bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signer {
    /// The CA in the system's keyring: RAUC accepts the bundle.
    Good,
    /// An unrelated self-signed key: RAUC must refuse the bundle.
    Other,
}

/// What goes into a bundle made by `RaucSystem::bundle`.
#[derive(Clone, Debug)]
pub struct BundleSpec {
    pub compatible: String,
    pub version: String,
    pub signer: Signer,
    /// The rootfs image, written to the start of the target slot (at most `SLOT_SIZE` bytes).
    pub payload: Vec<u8>,
}

impl Default for BundleSpec {
    /// A bundle the system accepts: its compatible, version 2.0.0, the good signer and
    /// `update_payload()`.
    fn default() -> Self {
        Self {
            compatible: COMPATIBLE.to_owned(),
            version: "2.0.0".to_owned(),
            signer: Signer::Good,
            payload: update_payload(),
        }
    }
}

/// `len` bytes of `text` repeated: contents that are easy to tell apart in a failed assertion.
pub fn pattern(text: &str, len: usize) -> Vec<u8> {
    text.bytes().cycle().take(len).collect()
}

/// What slot A holds at `start()`: the running firmware.
pub fn installed_slot_a() -> Vec<u8> {
    pattern("moment slot A 1.0.0 ", SLOT_SIZE)
}

/// The default bundle's rootfs image (`PAYLOAD_SIZE` bytes, unlike anything in the slots).
pub fn update_payload() -> Vec<u8> {
    pattern("moment update 2.0.0 ", PAYLOAD_SIZE)
}

/// stdout and stderr of a command as one text. The rauc CLI prints its `LastError:` line (the
/// reason an install failed) on stdout and only "Installing ... failed" on stderr.
pub fn output_text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A running RAUC test system: keys, slots, `system.conf`, boot variables, a private system bus
/// and `rauc service` on it, all under one temporary directory.
pub struct RaucSystem {
    // Declared before `dir` so that the children are stopped before the directory goes.
    service: Option<Child>,
    bus: Option<Child>,
    booted: String,
    bundles_made: std::cell::Cell<u32>,
    dir: tempfile::TempDir,
}

impl RaucSystem {
    /// Builds the system and starts its bus and `rauc service`.
    ///
    /// The system starts as a camera that has been running from slot A for a while: A booted
    /// and already marked good, so the boot variables are the defaults (`BOOT_ORDER=A B`,
    /// `BOOT_A_LEFT=3`, `BOOT_B_LEFT=3`) with no attempt taken. Slot A holds
    /// `installed_slot_a()`, slot B zeros.
    ///
    /// Panics (naming the Debian package) if rauc, dbus-daemon, openssl or mksquashfs is
    /// missing: the update tests must not pass by skipping.
    pub fn start() -> Self {
        for (program, package) in [
            ("rauc", "rauc"),
            ("dbus-daemon", "dbus"),
            ("openssl", "openssl"),
            ("mksquashfs", "squashfs-tools"),
        ] {
            assert!(
                find_program(program).is_some(),
                "{program} is not installed: the RAUC tests need Debian's {package} package \
                 (ci/install-deps.sh installs it)"
            );
        }

        let dir = tempfile::Builder::new()
            .prefix("moment-rauc-")
            .tempdir()
            .expect("temporary directory");
        let root = dir.path();
        for sub in ["keys", "rauc-data", "mnt", "bundles"] {
            fs::create_dir(root.join(sub)).expect("create test system directory");
        }

        make_key_pair(&root.join("keys"), "ca", "moment-test CA");
        make_key_pair(&root.join("keys"), "other", "someone else");

        fs::write(root.join("slot-a.img"), installed_slot_a()).expect("write slot A");
        fs::write(root.join("slot-b.img"), vec![0u8; SLOT_SIZE]).expect("write slot B");

        let script = root.join("bootloader.sh");
        fs::write(&script, BOOTLOADER_SH).expect("write bootloader.sh");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
        let mut vars = BTreeMap::new();
        vars.insert("BOOT_ORDER".to_owned(), "A B".to_owned());
        vars.insert("BOOT_A_LEFT".to_owned(), ATTEMPTS.to_string());
        vars.insert("BOOT_B_LEFT".to_owned(), ATTEMPTS.to_string());
        write_vars(&root.join("bootvars"), &vars);
        fs::write(root.join("booted"), "A\n").expect("write booted");

        fs::write(root.join("system.conf"), system_conf(root)).expect("write system.conf");
        fs::write(root.join("bus.conf"), bus_conf(root)).expect("write bus.conf");

        let mut system = Self {
            service: None,
            bus: None,
            booted: "A".to_owned(),
            bundles_made: std::cell::Cell::new(0),
            dir,
        };
        system.start_bus();
        system.start_service();
        system
    }

    /// The temporary directory everything lives in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The private system bus, for `DBUS_SYSTEM_BUS_ADDRESS` of the daemon under test (zbus's
    /// system connection reads that variable). Anyone may own and call anything on it.
    pub fn bus_address(&self) -> String {
        format!("unix:path={}", self.dir().join("bus.sock").display())
    }

    /// The bootname ("A" or "B") the system last booted from.
    pub fn booted(&self) -> &str {
        &self.booted
    }

    /// A simulated power cycle: stops `rauc service`, runs `board/zero2w/boot.cmd`'s slot choice
    /// over the boot variables (taking one attempt from the slot it boots), records the booted
    /// slot and starts `rauc service` again as booted from it. Returns that bootname.
    pub fn reboot(&mut self) -> String {
        self.stop_service();
        let path = self.dir().join("bootvars");
        let mut vars = read_vars(&path);
        let slot = boot_script(&mut vars);
        write_vars(&path, &vars);
        fs::write(self.dir().join("booted"), format!("{slot}\n")).expect("write booted");
        self.booted = slot.clone();
        self.start_service();
        slot
    }

    /// Starts `rauc service` as booted from `booted()` and waits until it answers on the bus.
    /// Only needed after `stop_service`; `start` and `reboot` start it themselves.
    pub fn start_service(&mut self) {
        assert!(self.service.is_none(), "rauc service is already running");
        let mut log = self.log_file("rauc.log");
        // One log across reboots; this line tells the boots apart.
        writeln!(log, "=== rauc service, booted from {} ===", self.booted).expect("write log");
        let child = Command::new("rauc")
            .arg("service")
            .arg(format!(
                "--conf={}",
                self.dir().join("system.conf").display()
            ))
            .arg(format!("--override-boot-slot={}", self.booted))
            .env("DBUS_SYSTEM_BUS_ADDRESS", self.bus_address())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("spawn rauc service");
        self.service = Some(child);

        let deadline = Instant::now() + START;
        loop {
            if let Some(status) = self
                .service
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.service = None;
                panic!(
                    "rauc service exited ({status}) while starting\n{}",
                    self.logs()
                );
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let probe = self.run_rauc_within(&["status", "--output-format=json"], left + POLL);
            if probe.status.success() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "rauc service did not answer within {START:?}: {}\n{}",
                    output_text(&probe),
                    self.logs()
                );
            }
            thread::sleep(POLL);
        }
    }

    /// Stops `rauc service` (SIGTERM, then SIGKILL), e.g. to test a daemon that finds RAUC
    /// gone. The bus stays up.
    pub fn stop_service(&mut self) {
        if let Some(child) = self.service.take() {
            stop_child(child, "rauc service");
        }
    }

    /// Makes a signed bundle in `<dir>/bundles` and returns its path.
    pub fn bundle(&self, spec: &BundleSpec) -> PathBuf {
        assert!(
            spec.payload.len() <= SLOT_SIZE,
            "payload larger than a slot"
        );
        let n = self.bundles_made.get() + 1;
        self.bundles_made.set(n);
        let name = format!("bundle-{n}-{}", spec.version);
        let content = self.dir().join("bundles").join(format!("{name}.d"));
        fs::create_dir(&content).expect("bundle content directory");
        fs::write(
            content.join("manifest.raucm"),
            format!(
                "[update]\ncompatible={}\nversion={}\n\n[bundle]\nformat=plain\n\n\
                 [image.rootfs]\nfilename=rootfs.img\n",
                spec.compatible, spec.version
            ),
        )
        .expect("write manifest");
        fs::write(content.join("rootfs.img"), &spec.payload).expect("write rootfs.img");

        let key_name = match spec.signer {
            Signer::Good => "ca",
            Signer::Other => "other",
        };
        let keys = self.dir().join("keys");
        let out = self.dir().join("bundles").join(format!("{name}.raucb"));
        let mut command = Command::new("rauc");
        command
            .arg("bundle")
            .arg("--cert")
            .arg(keys.join(format!("{key_name}.cert.pem")))
            .arg("--key")
            .arg(keys.join(format!("{key_name}.key.pem")))
            .arg(&content)
            .arg(&out);
        let output = run_within(&mut command, COMMAND);
        assert!(
            output.status.success(),
            "rauc bundle failed: {}",
            output_text(&output)
        );
        out
    }

    /// A copy of `bundle` with one byte of its squashfs (the signed payload area) inverted, so
    /// that its signature no longer matches.
    pub fn tampered(&self, bundle: &Path) -> PathBuf {
        let mut bytes = fs::read(bundle).expect("read bundle");
        // A plain bundle is squashfs, then the CMS signature, then the signature's size as a
        // big-endian u64.
        let len = bytes.len();
        assert!(len > 8, "not a bundle: {}", bundle.display());
        let mut size = [0u8; 8];
        size.copy_from_slice(&bytes[len - 8..]);
        let signature = u64::from_be_bytes(size) as usize;
        let squashfs = len
            .checked_sub(8 + signature)
            .expect("signature size larger than the bundle");
        bytes[squashfs / 2] ^= 0xff;
        let out = sibling(bundle, "tampered");
        fs::write(&out, bytes).expect("write tampered bundle");
        out
    }

    /// A copy of `bundle` cut to half its length (a download that stopped).
    pub fn truncated(&self, bundle: &Path) -> PathBuf {
        let bytes = fs::read(bundle).expect("read bundle");
        let out = sibling(bundle, "truncated");
        fs::write(&out, &bytes[..bytes.len() / 2]).expect("write truncated bundle");
        out
    }

    /// The boot variables (the simulated U-Boot environment).
    pub fn vars(&self) -> BTreeMap<String, String> {
        read_vars(&self.dir().join("bootvars"))
    }

    /// Sets one boot variable, as `fw_setenv` on the board would; an empty value removes it.
    pub fn set_var(&self, key: &str, value: &str) {
        let path = self.dir().join("bootvars");
        let mut vars = read_vars(&path);
        if value.is_empty() {
            vars.remove(key);
        } else {
            vars.insert(key.to_owned(), value.to_owned());
        }
        write_vars(&path, &vars);
    }

    /// The slot file of bootname "A" or "B".
    pub fn slot_path(&self, bootname: &str) -> PathBuf {
        match bootname {
            "A" => self.dir().join("slot-a.img"),
            "B" => self.dir().join("slot-b.img"),
            _ => panic!("no slot with bootname {bootname:?}"),
        }
    }

    /// The whole contents of the slot of `bootname` (`SLOT_SIZE` bytes).
    pub fn slot_bytes(&self, bootname: &str) -> Vec<u8> {
        fs::read(self.slot_path(bootname)).expect("read slot")
    }

    /// Runs `rauc ARGS` against this system's service (the bus set, within a minute).
    pub fn run_rauc(&self, args: &[&str]) -> Output {
        self.run_rauc_within(args, COMMAND)
    }

    /// `rauc install BUNDLE` through the service, as the camera's operator would.
    pub fn install(&self, bundle: &Path) -> Output {
        let path = bundle.to_str().expect("bundle path is UTF-8");
        self.run_rauc(&["install", path])
    }

    /// `rauc status --detailed --output-format=json`, parsed. Its `booted` is the bootname,
    /// `boot_primary` a slot name ("rootfs.1"), and `slots` a list of one-key objects.
    pub fn rauc_status_json(&self) -> serde_json::Value {
        let output = self.run_rauc(&["status", "--detailed", "--output-format=json"]);
        assert!(
            output.status.success(),
            "rauc status failed: {}\n{}",
            output_text(&output),
            self.logs()
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "rauc status printed no JSON ({e}): {}",
                output_text(&output)
            )
        })
    }

    /// The entry of `rauc_status_json()`'s `slots` whose bootname is `bootname` (with `state`,
    /// `boot_status`, `slot_status`, ...).
    pub fn slot_status(&self, bootname: &str) -> serde_json::Value {
        let status = self.rauc_status_json();
        status["slots"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.as_object())
            .flat_map(|entry| entry.values())
            .find(|slot| slot["bootname"] == bootname)
            .cloned()
            .unwrap_or_else(|| panic!("no slot {bootname} in rauc status: {status}"))
    }

    /// What RAUC asked of the bootloader backend so far, one call a line ("set-primary B").
    pub fn bootloader_calls(&self) -> Vec<String> {
        fs::read_to_string(self.dir().join("bootloader.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The tails of the service's and the bus's logs, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "--- rauc.log (tail) ---\n{}\n--- bus.log (tail) ---\n{}",
            tail(&self.dir().join("rauc.log"), 40),
            tail(&self.dir().join("bus.log"), 10)
        )
    }

    fn run_rauc_within(&self, args: &[&str], limit: Duration) -> Output {
        let mut command = Command::new("rauc");
        command
            .args(args)
            .env("DBUS_SYSTEM_BUS_ADDRESS", self.bus_address());
        run_within(&mut command, limit)
    }

    fn start_bus(&mut self) {
        let log = self.log_file("bus.log");
        let child = Command::new("dbus-daemon")
            .arg(format!(
                "--config-file={}",
                self.dir().join("bus.conf").display()
            ))
            .arg("--nofork")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("spawn dbus-daemon");
        self.bus = Some(child);

        let socket = self.dir().join("bus.sock");
        let deadline = Instant::now() + START;
        while UnixStream::connect(&socket).is_err() {
            if let Some(status) = self.bus.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                self.bus = None;
                panic!(
                    "dbus-daemon exited ({status}) while starting\n{}",
                    self.logs()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "dbus-daemon did not listen within {START:?}\n{}",
                    self.logs()
                );
            }
            thread::sleep(POLL);
        }
    }

    fn log_file(&self, name: &str) -> File {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir().join(name))
            .expect("open log file")
    }
}

impl Drop for RaucSystem {
    fn drop(&mut self) {
        // The service first: it is a client of the bus.
        if let Some(child) = self.service.take() {
            stop_child(child, "rauc service");
        }
        if let Some(child) = self.bus.take() {
            stop_child(child, "dbus-daemon");
        }
    }
}

/// The slot `board/zero2w/boot.cmd` boots with these variables, which it updates as the script
/// does before its `saveenv`: missing or empty variables get their defaults; the first slot of
/// BOOT_ORDER with attempts left loses one and boots; if none has any, both get 3 again and the
/// board resets, which runs the script once more.
pub fn boot_script(vars: &mut BTreeMap<String, String>) -> String {
    for (key, default) in [
        ("BOOT_ORDER", "A B"),
        ("BOOT_A_LEFT", "3"),
        ("BOOT_B_LEFT", "3"),
    ] {
        let value = vars.entry(key.to_owned()).or_default();
        if value.is_empty() {
            *value = default.to_owned();
        }
    }
    if let Some(slot) = take_attempt(vars) {
        return slot;
    }
    vars.insert("BOOT_A_LEFT".to_owned(), ATTEMPTS.to_string());
    vars.insert("BOOT_B_LEFT".to_owned(), ATTEMPTS.to_string());
    take_attempt(vars).unwrap_or_else(|| {
        panic!("BOOT_ORDER names neither A nor B: the board would reset forever ({vars:?})")
    })
}

/// One pass of boot.cmd's loop over BOOT_ORDER; None when no slot there has attempts left.
fn take_attempt(vars: &mut BTreeMap<String, String>) -> Option<String> {
    let order = vars["BOOT_ORDER"].clone();
    for slot in order.split_whitespace() {
        if slot != "A" && slot != "B" {
            continue; // the script has no branch for other names
        }
        let key = format!("BOOT_{slot}_LEFT");
        let left = leading_number(&vars[&key]);
        if left > 0 {
            vars.insert(key, (left - 1).to_string());
            return Some(slot.to_owned());
        }
    }
    None
}

/// U-Boot's `test N -gt 0` reads the leading digits; anything else is 0.
fn leading_number(value: &str) -> u64 {
    let digits: String = value.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

fn read_vars(path: &Path) -> BTreeMap<String, String> {
    let text = fs::read_to_string(path).expect("read bootvars");
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

/// Written whole and renamed, as bootloader.sh does, so neither ever reads half a file.
fn write_vars(path: &Path, vars: &BTreeMap<String, String>) {
    let text: String = vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text).expect("write bootvars");
    fs::rename(&tmp, path).expect("rename bootvars");
}

fn system_conf(root: &Path) -> String {
    let at = |name: &str| root.join(name).display().to_string();
    // mountprefix: RAUC's default (/mnt/rauc) is one directory for every test running at once.
    format!(
        "[system]\n\
         compatible={COMPATIBLE}\n\
         bootloader=custom\n\
         bundle-formats=plain\n\
         mountprefix={mnt}\n\
         data-directory={data}\n\
         \n\
         [handlers]\n\
         bootloader-custom-backend={script}\n\
         \n\
         [keyring]\n\
         path={keyring}\n\
         \n\
         [slot.rootfs.0]\n\
         device={a}\n\
         type=raw\n\
         bootname=A\n\
         \n\
         [slot.rootfs.1]\n\
         device={b}\n\
         type=raw\n\
         bootname=B\n",
        mnt = at("mnt"),
        data = at("rauc-data"),
        script = at("bootloader.sh"),
        keyring = at("keys/ca.cert.pem"),
        a = at("slot-a.img"),
        b = at("slot-b.img"),
    )
}

/// A system bus that lets anyone own and call anything: the tests run as root and only the
/// test's own processes know the socket.
fn bus_conf(root: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
</busconfig>
"#,
        root.join("bus.sock").display()
    )
}

/// A self-signed EC certificate and key, `<name>.cert.pem` and `<name>.key.pem` in `dir`
/// (EC: milliseconds, where RSA 4096 takes seconds).
fn make_key_pair(dir: &Path, name: &str, common_name: &str) {
    let mut command = Command::new("openssl");
    command
        .args(["req", "-x509", "-newkey", "ec"])
        .args(["-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-nodes", "-days", "3650"])
        .arg("-subj")
        .arg(format!("/O=moment-recorder tests/CN={common_name}"))
        .arg("-keyout")
        .arg(dir.join(format!("{name}.key.pem")))
        .arg("-out")
        .arg(dir.join(format!("{name}.cert.pem")));
    let output = run_within(&mut command, COMMAND);
    assert!(
        output.status.success(),
        "openssl req failed: {}",
        output_text(&output)
    );
}

/// Runs `command` to its end, killing it after `limit`. Output goes through unnamed files
/// rather than pipes, so a grandchild that keeps a pipe open cannot hold the test.
fn run_within(command: &mut Command, limit: Duration) -> Output {
    let mut stdout = tempfile::tempfile().expect("stdout file");
    let mut stderr = tempfile::tempfile().expect("stderr file");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(stdout.try_clone().expect("stdout file"))
        .stderr(stderr.try_clone().expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {command:?}: {e}"));
    let status = wait_within(&mut child, limit);
    if status.is_none() {
        let _ = child.kill();
        let _ = wait_within(&mut child, STOP);
    }
    let stdout = read_to_end(&mut stdout);
    let stderr = read_to_end(&mut stderr);
    let Some(status) = status else {
        panic!(
            "{command:?} did not finish within {limit:?}: {}{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    };
    Output {
        status,
        stdout,
        stderr,
    }
}

fn read_to_end(file: &mut File) -> Vec<u8> {
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0)).expect("seek output");
    file.read_to_end(&mut bytes).expect("read output");
    bytes
}

fn wait_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
            Ok(None) => return None,
            Err(e) => panic!("wait for child {}: {e}", child.id()),
        }
    }
}

/// SIGTERM (RAUC unmounts and releases its bus name), SIGKILL if that takes longer than STOP,
/// then reaps the child. Never panics: it runs in Drop, possibly while a test is failing.
fn stop_child(mut child: Child, what: &str) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    // SAFETY: kill(2) on the pid of our own child, not yet reaped, so not reused.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    if wait_within(&mut child, STOP).is_some() {
        return;
    }
    let _ = child.kill();
    if wait_within(&mut child, STOP).is_none() {
        eprintln!("rauc_support: {what} (pid {pid}) survived SIGKILL for {STOP:?}");
    }
}

fn sibling(bundle: &Path, what: &str) -> PathBuf {
    let stem = bundle
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("bundle file name");
    bundle.with_file_name(format!("{stem}-{what}.raucb"))
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| format!("({}: {e})", path.display()));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
