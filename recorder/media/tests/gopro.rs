//! The `gopro` source against a GoPro stand-in (`gopro_peer`) on 127.0.0.1: real HTTP and UDP, real
//! MPEG-TS from ffmpeg. Covers both protocols' start, keep-alive and stop requests, the stream
//! feeding the segmenter, what happens when keep-alives stop, a camera that cannot be reached or
//! refuses, RTP-wrapped datagrams and a camera that hangs. Short keep-alive intervals keep each
//! test to a few seconds; timing bounds are loose so a slow, busy machine passes.

mod common;
mod gopro_peer;

use common::{clock, pid, Spec};
use gopro_peer::{Peer, PeerConfig, StopCause, DATAGRAM};
use moment_media::source::gopro::{GoPro, GoProConfig, Mode, Protocol, LEGACY_KEEPALIVE};
use moment_media::source::{ReadOutcome, Session, Source, READ_CHUNK};
use moment_media::{Segmenter, SegmenterConfig};
use std::collections::HashSet;
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

const KEEPALIVE: Duration = Duration::from_millis(200);
const FIXTURE: Spec = Spec::new(640, 360, 6, 30);
const FIXTURE_DURATION: Duration = Duration::from_secs(6);
/// Generous bound for anything that should take well under a second.
const PATIENCE: Duration = Duration::from_secs(10);
/// ffmpeg's default PMT PID.
const PMT_PID: u16 = 0x1000;

/// The stream, or `None` (test skipped) without ffmpeg.
fn ts() -> Option<Vec<u8>> {
    common::have_ffmpeg().then(|| common::fixture(&FIXTURE))
}

fn peer(protocol: Protocol, ts: Vec<u8>) -> PeerConfig {
    let mut c = PeerConfig::new(protocol, ts, FIXTURE_DURATION);
    c.keepalive = KEEPALIVE;
    c
}

/// The source's settings for talking to `peer`: everything on 127.0.0.1, ephemeral ports.
fn client(protocol: Protocol, mode: Mode, http_port: u16, camera_udp_port: u16) -> GoProConfig {
    let mut c = match protocol {
        Protocol::Legacy => GoProConfig::legacy(),
        Protocol::OpenGoPro => GoProConfig::open_gopro(mode),
    };
    c.host = Ipv4Addr::LOCALHOST.into();
    c.local_bind = Ipv4Addr::LOCALHOST.into();
    c.http_port = http_port;
    c.udp_port = 0;
    c.camera_udp_port = camera_udp_port;
    c.keepalive = KEEPALIVE;
    c.http_timeout = Duration::from_secs(2);
    c
}

fn open_for(peer: &Peer, mode: Mode) -> Box<dyn Session> {
    let c = client(
        peer.config().protocol,
        mode,
        peer.http_port(),
        peer.udp_port(),
    );
    match GoPro::new(c).expect("valid config").open() {
        Ok(s) => s,
        Err(e) => panic!("open failed: {e}"),
    }
}

fn open_err(config: GoProConfig) -> io::Error {
    match GoPro::new(config).expect("valid config").open() {
        Ok(_) => panic!("open succeeded against a camera that should fail"),
        Err(e) => e,
    }
}

/// Reads until `min` bytes arrived; panics after `PATIENCE`.
fn read_bytes(session: &mut dyn Session, min: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; READ_CHUNK];
    let deadline = Instant::now() + PATIENCE;
    while out.len() < min {
        assert!(
            Instant::now() < deadline,
            "only {} of {min} bytes arrived",
            out.len()
        );
        match session.read(&mut buf, Duration::from_millis(100)) {
            Ok(ReadOutcome::Data(n)) => out.extend_from_slice(&buf[..n]),
            Ok(ReadOutcome::Idle) => {}
            other => panic!("unexpected read result {other:?}"),
        }
    }
    out
}

/// Gaps between consecutive instants.
fn gaps(times: &[Instant]) -> Vec<Duration> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

/// How many keep-alives fit in `span`, give or take a slow machine: at least a third, and never
/// more than one per interval (plus the one sent at once).
fn assert_keepalive_count(count: usize, span: Duration) {
    let expected = span.as_secs_f64() / KEEPALIVE.as_secs_f64();
    assert!(
        count as f64 >= (expected / 3.0).max(1.0),
        "{count} keep-alives in {span:?}, expected about {expected:.1}"
    );
    assert!(
        count as f64 <= expected + 2.0,
        "{count} keep-alives in {span:?}, more than one per {KEEPALIVE:?}"
    );
}

#[test]
fn legacy_stream_feeds_the_segmenter_and_keepalives_go_out() {
    let Some(ts) = ts() else { return };
    let peer = Peer::start(peer(Protocol::Legacy, ts));
    let opened = Instant::now();
    let mut session = open_for(&peer, Mode::Webcam);

    let mut segmenter = Segmenter::new(SegmenterConfig::default()).unwrap();
    let mut segments = Vec::new();
    let mut buf = vec![0u8; READ_CHUNK];
    let deadline = opened + Duration::from_secs(30);
    let mut pushes = 0;
    while segments.is_empty() {
        assert!(Instant::now() < deadline, "no segment within 30 s");
        match session.read(&mut buf, Duration::from_millis(100)).unwrap() {
            ReadOutcome::Data(n) => {
                segments.extend(segmenter.push(&buf[..n], clock(pushes)));
                pushes += 1;
            }
            ReadOutcome::Idle => {}
            ReadOutcome::Ended => panic!("a GoPro stream does not end"),
        }
    }
    let span = opened.elapsed();
    drop(session);

    let first = &segments[0];
    assert!(first.payload.len() >= 2 * 188);
    assert_eq!(pid(&first.payload[..188]), 0, "segment starts with a PAT");
    assert_eq!(pid(&first.payload[188..376]), PMT_PID, "then the PMT");

    let paths = peer.paths();
    assert_eq!(paths[0], "/gp/gpControl/execute?p1=gpStream&c1=restart");
    assert_eq!(
        paths.last().map(String::as_str),
        Some("/gp/gpControl/execute?p1=gpStream&c1=stop")
    );
    let keepalives = peer.keepalives();
    assert!(
        keepalives.iter().all(|k| k.payload == LEGACY_KEEPALIVE),
        "keep-alive payloads: {:?}",
        keepalives
            .iter()
            .map(|k| String::from_utf8_lossy(&k.payload).into_owned())
            .collect::<Vec<_>>()
    );
    assert_keepalive_count(keepalives.len(), span);
    // All from the socket the stream arrives on: that is where the camera sends it.
    assert!(keepalives.iter().all(|k| k.from == keepalives[0].from));
    // The first goes out with the start, so the camera knows where to stream.
    let start = peer.requests()[0].at;
    assert!(keepalives[0].at.duration_since(start) < KEEPALIVE);
    let times: Vec<Instant> = keepalives.iter().map(|k| k.at).collect();
    for gap in gaps(&times) {
        assert!(
            gap < KEEPALIVE * 3,
            "keep-alive gap {gap:?} while streaming"
        );
    }
}

#[test]
fn open_gopro_webcam_starts_keeps_alive_and_streams() {
    let Some(ts) = ts() else { return };
    let peer = Peer::start(peer(Protocol::OpenGoPro, ts));
    let opened = Instant::now();
    let mut session = open_for(&peer, Mode::Webcam);
    let bytes = read_bytes(session.as_mut(), 200 * DATAGRAM);
    assert_eq!(bytes[0], 0x47);
    // Keep reading until a few keep-alives went out, as a recorder would.
    let keepalives = |p: &Peer| {
        p.requests()
            .into_iter()
            .filter(|r| r.path == "/gopro/camera/keep_alive")
            .collect::<Vec<_>>()
    };
    let mut buf = vec![0u8; READ_CHUNK];
    while keepalives(&peer).len() < 3 {
        assert!(opened.elapsed() < PATIENCE, "too few keep-alives");
        session.read(&mut buf, Duration::from_millis(50)).unwrap();
    }
    let span = opened.elapsed();
    let before_drop = Instant::now();
    drop(session);
    assert!(
        before_drop.elapsed() < Duration::from_secs(2),
        "drop blocked"
    );

    let requests = peer.requests();
    assert!(
        requests[0].path.starts_with("/gopro/webcam/start?port="),
        "start request {:?} names our ephemeral port",
        requests[0].path
    );
    assert!(requests.iter().all(|r| r.status == 200), "{requests:?}");
    let kept = keepalives(&peer);
    assert_keepalive_count(kept.len(), span);
    let last = requests.last().expect("requests");
    assert_eq!(last.path, "/gopro/webcam/stop");
    assert!(
        kept.iter().all(|k| k.at <= last.at),
        "no keep-alive after stop"
    );
    assert!(
        peer.keepalives().is_empty(),
        "no UDP keep-alives in Open GoPro"
    );
}

#[test]
fn open_gopro_preview_uses_the_stream_requests() {
    let Some(ts) = ts() else { return };
    let peer = Peer::start(peer(Protocol::OpenGoPro, ts));
    let mut session = open_for(&peer, Mode::Preview);
    read_bytes(session.as_mut(), 50 * DATAGRAM);
    drop(session);
    let paths = peer.paths();
    assert!(paths[0].starts_with("/gopro/camera/stream/start?port="));
    assert_eq!(
        paths.last().map(String::as_str),
        Some("/gopro/camera/stream/stop")
    );
}

/// Drop the session of a camera that ignores the stop request: it must stop once keep-alives lapse.
fn stream_stops_without_keepalives(protocol: Protocol, ts: Vec<u8>) {
    let mut config = peer(protocol, ts);
    config.ignore_stop = true;
    let peer = Peer::start(config);
    let mut session = open_for(&peer, Mode::Webcam);
    read_bytes(session.as_mut(), 50 * DATAGRAM);
    let dropped = Instant::now();
    drop(session);
    let drop_took = dropped.elapsed();
    assert!(
        drop_took < Duration::from_secs(2),
        "drop took {drop_took:?}"
    );
    let stop = match protocol {
        Protocol::Legacy => "/gp/gpControl/execute?p1=gpStream&c1=stop",
        Protocol::OpenGoPro => "/gopro/webcam/stop",
    };
    assert!(peer.paths().iter().any(|p| p == stop), "{:?}", peer.paths());

    assert!(
        peer.wait_for(PATIENCE, |p| p.stopped().is_some()),
        "{protocol:?}: the peer still streams {PATIENCE:?} after the session was dropped"
    );
    let (stopped_at, cause) = peer.stopped().expect("stopped");
    assert_eq!(cause, StopCause::KeepAliveLapsed);
    // Three intervals without keep-alive, plus slack for a slow machine.
    let after = stopped_at.duration_since(dropped);
    assert!(
        after < Duration::from_secs(3),
        "stopped {after:?} after drop"
    );
    assert!(!peer.streaming());
    assert!(peer.last_sent().is_some_and(|t| t <= stopped_at));
    let sent = peer.datagrams_sent();
    std::thread::sleep(KEEPALIVE * 2);
    assert_eq!(peer.datagrams_sent(), sent, "streaming resumed");
    // Nothing kept the camera alive after the drop.
    let alive_after: Vec<_> = match protocol {
        Protocol::Legacy => peer
            .keepalives()
            .iter()
            .map(|k| k.at)
            .filter(|&t| t > dropped)
            .collect(),
        Protocol::OpenGoPro => peer
            .requests()
            .iter()
            .filter(|r| r.path == "/gopro/camera/keep_alive" && r.at > dropped)
            .map(|r| r.at)
            .collect(),
    };
    assert!(alive_after.is_empty(), "keep-alives after drop");
}

#[test]
fn legacy_stream_stops_when_keepalives_stop() {
    let Some(ts) = ts() else { return };
    stream_stops_without_keepalives(Protocol::Legacy, ts);
}

#[test]
fn open_gopro_stream_stops_when_keepalives_stop() {
    let Some(ts) = ts() else { return };
    stream_stops_without_keepalives(Protocol::OpenGoPro, ts);
}

#[test]
fn unreachable_camera_is_an_error_naming_the_url() {
    // A port nobody listens on: bound, then released.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let started = Instant::now();
    let err = open_err(client(Protocol::Legacy, Mode::Webcam, port, 9));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    let msg = err.to_string();
    let url = format!("http://127.0.0.1:{port}/gp/gpControl/execute?p1=gpStream&c1=restart");
    assert!(msg.contains("gopro 127.0.0.1"), "{msg}");
    assert!(msg.contains(&url), "{msg}");
    assert!(msg.contains("Wi-Fi"), "{msg}");

    let err = open_err(client(Protocol::OpenGoPro, Mode::Webcam, port, 9));
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("http://127.0.0.1:{port}/gopro/webcam/start?port=")),
        "{msg}"
    );
}

#[test]
fn camera_that_never_answers_times_out() {
    // Connections complete in the kernel's backlog, but nobody ever reads or answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut config = client(Protocol::Legacy, Mode::Webcam, port, 9);
    config.http_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = open_err(config);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(250), "gave up after {took:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(err.to_string().contains("no answer"), "{err}");
}

#[test]
fn camera_refusing_to_start_is_an_error() {
    for protocol in [Protocol::Legacy, Protocol::OpenGoPro] {
        let mut config = PeerConfig::new(protocol, Vec::new(), FIXTURE_DURATION);
        config.start_status = 500;
        let peer = Peer::start(config);
        let err = open_err(client(
            protocol,
            Mode::Webcam,
            peer.http_port(),
            peer.udp_port(),
        ));
        let msg = err.to_string();
        assert!(msg.contains("500"), "{msg}");
        assert!(
            msg.contains(&format!("http://127.0.0.1:{}/", peer.http_port())),
            "{msg}"
        );
        assert!(msg.contains("refused"), "{msg}");
        // Nothing was started, so nothing is kept alive or stopped.
        std::thread::sleep(KEEPALIVE * 2);
        assert_eq!(peer.paths().len(), 1, "{:?}", peer.paths());
        assert!(peer.keepalives().is_empty());
    }
}

#[test]
fn rtp_wrapped_datagrams_are_unwrapped() {
    let Some(ts) = ts() else { return };
    let chunks: HashSet<&[u8]> = ts.chunks_exact(DATAGRAM).collect();
    let mut config = peer(Protocol::Legacy, ts.clone());
    config.rtp = true;
    let peer = Peer::start(config);
    let mut session = open_for(&peer, Mode::Webcam);
    let mut buf = vec![0u8; READ_CHUNK];
    let deadline = Instant::now() + PATIENCE;
    let mut datagrams = 0;
    while datagrams < 200 {
        assert!(Instant::now() < deadline, "only {datagrams} datagrams");
        if let ReadOutcome::Data(n) = session.read(&mut buf, Duration::from_millis(100)).unwrap() {
            assert_eq!(n, DATAGRAM, "one datagram's TS, without the 12-byte header");
            assert!(
                chunks.contains(&buf[..n]),
                "datagram {datagrams} is not a piece of the stream"
            );
            datagrams += 1;
        }
    }
}

#[test]
fn silent_camera_gives_idle_reads_on_time_and_keepalives_continue() {
    let Some(ts) = ts() else { return };
    let peer = Peer::start(peer(Protocol::Legacy, ts));
    let mut session = open_for(&peer, Mode::Webcam);
    read_bytes(session.as_mut(), 20 * DATAGRAM);

    peer.set_silent(true);
    // Drain what was already on its way.
    let mut buf = vec![0u8; READ_CHUNK];
    let deadline = Instant::now() + PATIENCE;
    while session.read(&mut buf, Duration::from_millis(50)).unwrap() != ReadOutcome::Idle {
        assert!(Instant::now() < deadline, "the stream did not go quiet");
    }

    // Waits shorter and longer than the keep-alive interval.
    for wait in [
        Duration::ZERO,
        Duration::from_millis(50),
        Duration::from_millis(300),
        Duration::from_millis(1200),
    ] {
        let before = peer.keepalives().len();
        let started = Instant::now();
        let outcome = session.read(&mut buf, wait).unwrap();
        let took = started.elapsed();
        assert_eq!(outcome, ReadOutcome::Idle);
        assert!(
            took >= wait,
            "Idle after {took:?}, before the wait of {wait:?}"
        );
        assert!(
            took < wait + Duration::from_millis(300),
            "a read of {wait:?} took {took:?}"
        );
        if wait >= Duration::from_millis(1200) {
            // About 6 keep-alives went out during this one read.
            let during = peer.keepalives().len() - before;
            assert!(during >= 3, "{during} keep-alives during a {wait:?} read");
        }
    }
    let times: Vec<Instant> = peer.keepalives().iter().map(|k| k.at).collect();
    for gap in gaps(&times) {
        assert!(gap < KEEPALIVE * 3, "keep-alive gap {gap:?} while idle");
    }
    assert_eq!(peer.stopped(), None, "the camera kept being kept alive");

    // The camera recovers: bytes flow again in the same session.
    peer.set_silent(false);
    read_bytes(session.as_mut(), 10 * DATAGRAM);
}

#[test]
fn small_buffers_get_each_datagram_in_pieces() {
    let Some(ts) = ts() else { return };
    let chunks: HashSet<&[u8]> = ts.chunks_exact(DATAGRAM).collect();
    let peer = Peer::start(peer(Protocol::Legacy, ts.clone()));
    let mut session = open_for(&peer, Mode::Webcam);
    // 500 does not divide 1316: pieces of 500, 500 and 316 make up each datagram.
    let mut buf = [0u8; 500];
    let mut bytes = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while bytes.len() < 50 * DATAGRAM {
        assert!(Instant::now() < deadline, "only {} bytes", bytes.len());
        if let ReadOutcome::Data(n) = session.read(&mut buf, Duration::from_millis(100)).unwrap() {
            assert!(n <= buf.len());
            bytes.extend_from_slice(&buf[..n]);
        }
    }
    for (i, d) in bytes.chunks_exact(DATAGRAM).enumerate() {
        assert!(chunks.contains(d), "datagram {i} was cut or reordered");
    }
}
