//! systemd's view of the daemon, through a notification socket the test owns (as systemd would
//! set NOTIFY_SOCKET and WATCHDOG_USEC): READY=1 once bytes flow, WATCHDOG=1 only while they keep
//! flowing (a camera that hangs stops the pings so systemd restarts the service), STOPPING=1 on
//! SIGTERM. The camera is the real test source behind a wrapper that lets ffmpeg run for a few
//! seconds and then hangs, as a wedged camera driver would.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{cli, s, BIN};

/// How long the wrapped ffmpeg produces bytes before the camera "hangs".
const FLOWING: Duration = Duration::from_secs(4);
/// `source.silence_s`: the daemon calls bytes "flowing" for twice this after the last ones.
const SILENCE_S: f64 = 2.0;

#[test]
fn ready_watchdog_only_while_bytes_flow_and_stopping() {
    if Command::new("ffmpeg").arg("-version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "ffmpeg missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ring = root.join("ring.img");
    cli(&["ring", "format", s(&ring), "--size", "64M"]).expect_code(0);
    // First session: real ffmpeg for FLOWING, then silence; every later session: silence.
    let wrapper = root.join("camera.sh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nflag={flag}\nif [ -e \"$flag\" ]; then exec sleep 600; fi\n: > \"$flag\"\n\
             timeout {secs} ffmpeg \"$@\"\nexec sleep 600\n",
            flag = s(&root.join("ran-once")),
            secs = FLOWING.as_secs()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = root.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[ring]\ndevice = {ring:?}\n[source]\nkind = \"test\"\nsilence_s = {SILENCE_S:?}\n\
             [source.test]\nprogram = {wrapper:?}\nwidth = 320\nheight = 240\nbitrate = 300000\n\
             [segments]\ntarget_s = 2\n[memories]\ndir = {memories:?}\n[state]\ndir = {state:?}\n\
             [control]\nsocket = {socket:?}\n[buttons]\nbackend = \"simulated\"\n[web]\nlisten = \"\"\n",
            ring = s(&ring),
            wrapper = s(&wrapper),
            memories = s(&root.join("memories")),
            state = s(&root.join("state")),
            socket = s(&root.join("control.sock")),
        ),
    )
    .unwrap();
    let notify_path = root.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // systemd sets WATCHDOG_PID to the service's main PID: `exec` keeps the shell's PID.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("WATCHDOG_PID=$$ exec \"$0\" run --config \"$1\"")
        .arg(BIN)
        .arg(&config)
        .env("NOTIFY_SOCKET", &notify_path)
        .env("WATCHDOG_USEC", "1000000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // (seconds since start, message) for everything the daemon said, for 16 s.
    let mut heard: Vec<(f64, String)> = Vec::new();
    let listen = |heard: &mut Vec<(f64, String)>, until: Duration| {
        let mut buf = [0u8; 4096];
        while started.elapsed() < until {
            if let Ok(n) = notify.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                heard.push((started.elapsed().as_secs_f64(), text));
            }
        }
    };
    listen(&mut heard, Duration::from_secs(16));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    listen(&mut heard, Duration::from_secs(24));
    let status = child.wait().unwrap();
    let _ = Command::new("pkill").args(["-f", s(&wrapper)]).status();

    let at = |what: &str| -> Vec<f64> {
        heard
            .iter()
            .filter(|(_, m)| m.lines().any(|l| l == what))
            .map(|(t, _)| *t)
            .collect()
    };
    let ready = at("READY=1");
    let pings = at("WATCHDOG=1");
    let stopping = at("STOPPING=1");
    assert_eq!(ready.len(), 1, "{heard:?}");
    assert!(ready[0] < FLOWING.as_secs_f64() + 10.0, "{heard:?}");
    assert!(pings.len() >= 3, "pinged while bytes flowed: {heard:?}");
    // Bytes stop at about FLOWING after ffmpeg started; pings must end within the flowing window
    // (2 x silence) plus slack for a slow start, and never resume (every later session hangs).
    let last_ping = pings.last().copied().unwrap_or(0.0);
    let limit = ready[0] + FLOWING.as_secs_f64() + 2.0 * SILENCE_S + 3.0;
    assert!(
        last_ping < limit,
        "pings went on after the camera hung: {heard:?}"
    );
    assert!(
        last_ping < 16.0 - 2.0,
        "no pings in the last 2 s before SIGTERM: {heard:?}"
    );
    assert_eq!(stopping.len(), 1, "{heard:?}");
    assert!(status.success(), "{status:?}");
}
