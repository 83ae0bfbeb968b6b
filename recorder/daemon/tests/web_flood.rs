//! Recording survives a flood of the web server (DESIGN.md section 2: "a flood of bad HTTP
//! requests ... leave the ring writer untouched"). The real daemon records the `test` source into
//! a ring file with the web on 127.0.0.1; the test measures ingest for a few seconds, then floods
//! the web from about 300 connections at once: slowloris header dribblers, idle sockets, malformed
//! request lines and headers, oversized bodies, unauthenticated playlist and segment requests,
//! wrong passwords from 20 addresses, and a few logged-in clients pulling segments. Every client
//! is a task with bounded waits, and the flood ends at a fixed time.
//!
//! What must hold: no segment dropped, no source restart, the ring's newest segment advancing
//! throughout (no gap between durable segments longer than 4 segment targets), at least 80% of
//! the flood's wall time recorded, and the server answering a logged-in client afterwards. The
//! figures (ingest with and without the flood, what the flood got) are printed.

mod daemon_support;
mod support;

use daemon_support::web::{free_port, login, try_http};
use daemon_support::{at, now_us, Daemon, Recorder, Settings};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;

const PASSWORD: &str = "flood-proof password";
/// The segment target the harness configures (`[segments] target_s`).
const TARGET_S: f64 = 2.0;
/// Recording measured before the flood.
const BASELINE: Duration = Duration::from_secs(6);
/// How long the flood lasts.
const FLOOD: Duration = Duration::from_secs(18);
/// How often the sampler asks the daemon's control socket for its status.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// The longest allowed time between two durable segments (or from the flood's start to the first,
/// or from the last to its end), in segment targets.
const MAX_GAP_TARGETS: f64 = 4.0;
/// The share of the flood's wall time that must be in the ring afterwards.
const MIN_RECORDED: f64 = 0.8;

/// The flood's clients, about 300 connections at once.
const SLOWLORIS: usize = 110;
const IDLE: usize = 100;
const MALFORMED: usize = 20;
const OVERSIZED: usize = 10;
const UNAUTHENTICATED: usize = 30;
/// Wrong-password clients, each from its own loopback address (127.0.0.2, ...).
const BAD_LOGINS: usize = 20;
const LOGGED_IN: usize = 3;
/// Every single network wait in the flood.
const IO_LIMIT: Duration = Duration::from_secs(5);
/// Pause before a client connects again after the server closed it (keeps the loops from
/// spinning when the server is full and closes new connections at once).
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);

/// One look at the daemon, from its control socket.
#[derive(Clone, Debug)]
struct Sample {
    at: Instant,
    newest_seq: Option<u64>,
    bytes: u64,
    segments_dropped: u64,
    source_restarts: u64,
}

/// The status from the control socket (one request line, one answer line), bounded by 5 s.
fn control_status(socket: &Path) -> Option<Value> {
    let mut stream = UnixStream::connect(socket).ok()?;
    stream.set_read_timeout(Some(IO_LIMIT)).ok()?;
    stream.set_write_timeout(Some(IO_LIMIT)).ok()?;
    stream.write_all(b"{\"request\":\"status\"}\n").ok()?;
    let mut line = String::new();
    // An answer is a few KiB; never more than 1 MiB is read.
    BufReader::new(Read::take(stream, 1 << 20))
        .read_line(&mut line)
        .ok()?;
    let answer: Value = serde_json::from_str(&line).ok()?;
    answer.get("result").cloned()
}

/// Samples the status every `SAMPLE_EVERY` on its own thread until `stop`.
fn start_sampler(socket: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<Sample>> {
    std::thread::spawn(move || {
        let mut samples = Vec::new();
        while !stop.load(Ordering::Relaxed) && samples.len() < 2000 {
            let asked = Instant::now();
            if let Some(status) = control_status(&socket) {
                samples.push(Sample {
                    at: asked,
                    newest_seq: status.pointer("/ring/newest_seq").and_then(Value::as_u64),
                    bytes: at(&status, "/recording/bytes"),
                    segments_dropped: at(&status, "/recording/segments_dropped"),
                    source_restarts: at(&status, "/recording/source_restarts"),
                });
            }
            std::thread::sleep(SAMPLE_EVERY.saturating_sub(asked.elapsed()));
        }
        samples
    })
}

/// What the flood's clients saw.
#[derive(Default)]
struct Counts {
    connections: AtomicU64,
    /// Connections the server closed before answering (refused over the cap, cut by a timeout).
    closed_unanswered: AtomicU64,
    answers: AtomicU64,
    unauthorized: AtomicU64,
    too_many: AtomicU64,
    too_large: AtomicU64,
    bad_request: AtomicU64,
    segments: AtomicU64,
    segment_bytes: AtomicU64,
    /// Answers to the wrong passwords: 401 (checked) and 429 (refused unchecked).
    wrong_password: AtomicU64,
    locked_out: AtomicU64,
}

impl Counts {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn answer(&self, status: u16) {
        Counts::add(&self.answers, 1);
        match status {
            400 => Counts::add(&self.bad_request, 1),
            401 => Counts::add(&self.unauthorized, 1),
            413 | 431 => Counts::add(&self.too_large, 1),
            429 => Counts::add(&self.too_many, 1),
            _ => {}
        }
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The flood's shared settings.
struct Target {
    port: u16,
    cookie: String,
    until: tokio::time::Instant,
    counts: Counts,
}

impl Target {
    fn over(&self) -> bool {
        tokio::time::Instant::now() >= self.until
    }

    /// A connection from `from` (127.0.0.1 when `None`), or `None` after a pause.
    async fn connect(&self, from: Option<Ipv4Addr>) -> Option<TcpStream> {
        let socket = TcpSocket::new_v4().ok()?;
        if let Some(ip) = from {
            socket.bind(SocketAddr::from((ip, 0))).ok()?;
        }
        let to = SocketAddr::from(([127, 0, 0, 1], self.port));
        match tokio::time::timeout(IO_LIMIT, socket.connect(to)).await {
            Ok(Ok(stream)) => {
                Counts::add(&self.counts.connections, 1);
                Some(stream)
            }
            _ => {
                self.pause().await;
                None
            }
        }
    }

    async fn pause(&self) {
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }

    /// Waits until the server closes `stream` (or the flood ends), ignoring what it sends.
    async fn until_closed(&self, stream: &mut TcpStream) {
        let mut sink = [0u8; 4096];
        loop {
            match tokio::time::timeout_at(self.until, stream.read(&mut sink)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                Ok(Ok(_)) => {}
            }
        }
    }
}

/// Reads one response: its status and body (at most `max_body` bytes kept; the rest counted).
/// `None` when the server closed the connection or did not answer in time.
async fn read_response(stream: &mut TcpStream, max_body: usize) -> Option<(u16, Vec<u8>, usize)> {
    let mut buffer = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buffer.len() > 64 << 10 {
            return None;
        }
        let n = tokio::time::timeout(IO_LIMIT, stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body: Vec<u8> = buffer[head_end..].to_vec();
    let mut total = body.len();
    while total < length {
        let n = tokio::time::timeout(IO_LIMIT, stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        total += n;
        if body.len() < max_body {
            body.extend_from_slice(&chunk[..n]);
        }
    }
    body.truncate(max_body.min(length));
    Some((status, body, total))
}

/// Sends the start of a request head, then one byte every half second, never finishing it.
async fn slowloris(target: Arc<Target>) {
    while !target.over() {
        let Some(mut stream) = target.connect(None).await else {
            continue;
        };
        if stream
            .write_all(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await
            .is_err()
        {
            continue;
        }
        let mut sink = [0u8; 1024];
        loop {
            tokio::select! {
                read = stream.read(&mut sink) => {
                    if matches!(read, Ok(0) | Err(_)) {
                        Counts::add(&target.counts.closed_unanswered, 1);
                        break;
                    }
                }
                () = tokio::time::sleep(Duration::from_millis(500)) => {
                    if target.over() || stream.write_all(b"a").await.is_err() {
                        break;
                    }
                }
            }
        }
        target.pause().await;
    }
}

/// Opens a connection and sends nothing.
async fn idle(target: Arc<Target>) {
    while !target.over() {
        if let Some(mut stream) = target.connect(None).await {
            target.until_closed(&mut stream).await;
            Counts::add(&target.counts.closed_unanswered, 1);
            target.pause().await;
        }
    }
}

/// Request heads no server should accept.
fn malformed_requests() -> Vec<Vec<u8>> {
    let many_headers: String = (0..200).map(|i| format!("X-{i}: {i}\r\n")).collect();
    vec![
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 a TLS hello\r\n\r\n".to_vec(),
        b"NONSENSE\r\n\r\n".to_vec(),
        b"GET /hls/live.m3u8 HTTP/1.1\r\nHost: a\r\nNo colon in this header\r\n\r\n".to_vec(),
        b"GET /hls/live.m3u8 HTTP/7.0\r\nHost: a\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_vec(),
        b"POST /api/login HTTP/1.1\r\nHost: a\r\nX-Moment: 1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nnot hex\r\n".to_vec(),
        b"GET /../../../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
        b"GET /hls/segment/99999999999999999999999999.ts HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
        b"GET /hls/range.m3u8?from=%ff%fe&to=\x01 HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
        format!("GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n", "b".repeat(40 << 10)).into_bytes(),
        format!("GET / HTTP/1.1\r\nHost: a\r\n{many_headers}\r\n").into_bytes(),
        vec![0u8; 8192],
    ]
}

/// Sends malformed requests, one per connection, and reads whatever comes back.
async fn malformed(target: Arc<Target>, first: usize) {
    let requests = malformed_requests();
    let mut i = first;
    while !target.over() {
        let request = &requests[i % requests.len()];
        i += 1;
        let Some(mut stream) = target.connect(None).await else {
            continue;
        };
        if stream.write_all(request).await.is_ok() {
            match read_response(&mut stream, 0).await {
                Some((status, _, _)) => target.counts.answer(status),
                None => Counts::add(&target.counts.closed_unanswered, 1),
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Announces a 100 MB body and sends as much of it as the server takes.
async fn oversized(target: Arc<Target>, n: usize) {
    let paths = [
        "/api/login",
        "/api/time",
        "/api/buttons/save",
        "/hls/live.m3u8",
    ];
    let junk = vec![b'{'; 64 << 10];
    let mut i = n;
    while !target.over() {
        let path = paths[i % paths.len()];
        i += 1;
        let Some(mut stream) = target.connect(None).await else {
            continue;
        };
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: a\r\nX-Moment: 1\r\nCookie: {}\r\n\
             Content-Length: 100000000\r\n\r\n",
            if i % 2 == 0 {
                target.cookie.as_str()
            } else {
                "none=1"
            }
        );
        if stream.write_all(head.as_bytes()).await.is_err() {
            continue;
        }
        // Write until the server stops taking it (or 2 s), then read its answer.
        let writing = async { while stream.write_all(&junk).await.is_ok() {} };
        let _ = tokio::time::timeout(Duration::from_secs(2), writing).await;
        match read_response(&mut stream, 0).await {
            Some((status, _, _)) => target.counts.answer(status),
            None => Counts::add(&target.counts.closed_unanswered, 1),
        }
        target.pause().await;
    }
}

/// Asks for playlists, segments and memories without a session, on a keep-alive connection.
async fn unauthenticated(target: Arc<Target>, n: usize) {
    let paths = [
        "/hls/live.m3u8",
        "/hls/segment/1.ts",
        "/hls/range.m3u8?from=0&to=4000000000000",
        "/api/memories",
        "/api/status",
        "/api/events",
    ];
    let mut i = n;
    while !target.over() {
        let Some(mut stream) = target.connect(None).await else {
            continue;
        };
        while !target.over() {
            let request = format!("GET {} HTTP/1.1\r\nHost: a\r\n\r\n", paths[i % paths.len()]);
            i += 1;
            if stream.write_all(request.as_bytes()).await.is_err() {
                break;
            }
            match read_response(&mut stream, 0).await {
                Some((status, _, _)) => target.counts.answer(status),
                None => {
                    Counts::add(&target.counts.closed_unanswered, 1);
                    break;
                }
            }
        }
        target.pause().await;
    }
}

/// Wrong passwords from its own loopback address, one login per connection.
async fn bad_logins(target: Arc<Target>, from: Ipv4Addr) {
    let body = r#"{"password":"guess"}"#;
    let request = format!(
        "POST /api/login HTTP/1.1\r\nHost: a\r\nX-Moment: 1\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    while !target.over() {
        let Some(mut stream) = target.connect(Some(from)).await else {
            continue;
        };
        if stream.write_all(request.as_bytes()).await.is_ok() {
            match read_response(&mut stream, 0).await {
                Some((status, _, _)) => {
                    target.counts.answer(status);
                    match status {
                        401 => Counts::add(&target.counts.wrong_password, 1),
                        429 => Counts::add(&target.counts.locked_out, 1),
                        _ => {}
                    }
                }
                None => Counts::add(&target.counts.closed_unanswered, 1),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A logged-in player: the live playlist, then its segments, over and over.
async fn logged_in(target: Arc<Target>) {
    let get = |path: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: a\r\nCookie: {}\r\n\r\n",
            target.cookie
        )
    };
    while !target.over() {
        let Some(mut stream) = target.connect(None).await else {
            continue;
        };
        'connection: while !target.over() {
            if stream
                .write_all(get("/hls/live.m3u8").as_bytes())
                .await
                .is_err()
            {
                break;
            }
            let Some((status, playlist, _)) = read_response(&mut stream, 64 << 10).await else {
                break;
            };
            target.counts.answer(status);
            let playlist = String::from_utf8_lossy(&playlist).into_owned();
            for uri in playlist.lines().filter(|l| l.starts_with("/hls/segment/")) {
                if stream.write_all(get(uri).as_bytes()).await.is_err() {
                    break 'connection;
                }
                let Some((status, _, bytes)) = read_response(&mut stream, 0).await else {
                    break 'connection;
                };
                target.counts.answer(status);
                if status == 200 {
                    Counts::add(&target.counts.segments, 1);
                    Counts::add(&target.counts.segment_bytes, bytes as u64);
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        target.pause().await;
    }
}

/// Runs every client until `target.until`, on a small runtime of its own.
fn flood(target: Arc<Target>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("the flood's runtime");
    runtime.block_on(async {
        let mut clients = JoinSet::new();
        for _ in 0..SLOWLORIS {
            clients.spawn(slowloris(target.clone()));
        }
        for _ in 0..IDLE {
            clients.spawn(idle(target.clone()));
        }
        for n in 0..MALFORMED {
            clients.spawn(malformed(target.clone(), n));
        }
        for n in 0..OVERSIZED {
            clients.spawn(oversized(target.clone(), n));
        }
        for n in 0..UNAUTHENTICATED {
            clients.spawn(unauthenticated(target.clone(), n));
        }
        for n in 0..BAD_LOGINS {
            clients.spawn(bad_logins(
                target.clone(),
                Ipv4Addr::new(127, 0, 0, 2 + n as u8),
            ));
        }
        for _ in 0..LOGGED_IN {
            clients.spawn(logged_in(target.clone()));
        }
        // Every client checks the time between bounded waits; this bounds the stragglers.
        let deadline = target.until + IO_LIMIT + Duration::from_secs(5);
        let all = async { while clients.join_next().await.is_some() {} };
        if tokio::time::timeout_at(deadline, all).await.is_err() {
            clients.abort_all();
        }
    });
    // Dropping the runtime closes every socket left.
}

/// The seconds of recording the ring holds within `[from_us, to_us)`, from the range playlist
/// (each segment's PROGRAM-DATE-TIME and EXTINF, clipped to the window).
fn recorded_within(port: u16, cookie: &str, from_us: i64, to_us: i64) -> f64 {
    let path = format!(
        "/hls/range.m3u8?from={}&to={}",
        from_us / 1000,
        to_us / 1000
    );
    let (status, head, body) =
        try_http(port, "GET", &path, Some(cookie), "").expect("the range playlist");
    assert_eq!(status, 200, "{head}\n{body}");
    let mut start_us = None;
    let mut seconds = 0.0;
    for line in body.lines() {
        if let Some(time) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            start_us = Some(
                moment_recorder::web::parse_time_param("from", time).expect("a playlist time"),
            );
        } else if let Some(extinf) = line.strip_prefix("#EXTINF:") {
            let duration: f64 = extinf.trim_end_matches(',').parse().expect("EXTINF");
            let start = start_us.take().expect("PROGRAM-DATE-TIME before EXTINF");
            let end = start + (duration * 1e6) as i64;
            let overlap = end.min(to_us) - start.max(from_us);
            seconds += overlap.max(0) as f64 / 1e6;
        }
    }
    seconds
}

/// Figures over `[from, to]` from the samples: (bytes per second, segments per second, the longest
/// time without a new durable segment, including from `from` to the first and the last to `to`).
fn window(samples: &[Sample], from: Instant, to: Instant) -> (f64, f64, Duration) {
    let inside: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at >= from && s.at <= to)
        .collect();
    assert!(inside.len() >= 2, "too few status samples in the window");
    let (first, last) = (inside[0], inside[inside.len() - 1]);
    let seconds = (last.at - first.at).as_secs_f64();
    let bytes = (last.bytes - first.bytes) as f64 / seconds;
    let segments = (last.newest_seq.unwrap_or(0) - first.newest_seq.unwrap_or(0)) as f64 / seconds;
    let mut longest = Duration::ZERO;
    let mut since = from;
    for pair in inside.windows(2) {
        if pair[1].newest_seq != pair[0].newest_seq {
            longest = longest.max(pair[1].at - since);
            since = pair[1].at;
        }
    }
    longest = longest.max(to - since);
    (bytes, segments, longest)
}

fn wait_for_ring_end(daemon: &mut Daemon, end_us: i64) {
    daemon.wait(
        Duration::from_secs(30),
        "the ring to hold the end of the window",
        |s| {
            s.pointer("/ring/newest_utc_end_us")
                .and_then(Value::as_i64)
                .is_some_and(|e| e >= end_us)
        },
    );
}

#[test]
fn recording_keeps_up_while_the_web_is_flooded() {
    if !support::have_ffmpeg() {
        eprintln!("SKIPPED recording_keeps_up_while_the_web_is_flooded: no ffmpeg");
        return;
    }
    let port = free_port();
    let hash = moment_recorder::web::hash_password(PASSWORD);
    let settings = Settings {
        web: format!("listen = \"127.0.0.1:{port}\"\npassword_hash = {hash:?}\n"),
        ..Settings::default()
    };
    let recorder = Recorder::new(&settings);
    let mut daemon = recorder.start();
    daemon.wait_recording();
    let cookie = login(port, PASSWORD);

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = start_sampler(recorder.socket.clone(), stop.clone());

    // Without load.
    let base_from = (Instant::now(), now_us());
    std::thread::sleep(BASELINE);
    let base_to = (Instant::now(), now_us());

    // The flood.
    let target = Arc::new(Target {
        port,
        cookie: cookie.clone(),
        until: tokio::time::Instant::now() + FLOOD,
        counts: Counts::default(),
    });
    let flood_from = (Instant::now(), now_us());
    let flooder = {
        let target = target.clone();
        std::thread::spawn(move || flood(target))
    };
    std::thread::sleep(FLOOD);
    let flood_to = (Instant::now(), now_us());
    flooder.join().expect("the flood's thread");
    let flood_ended = Instant::now();

    // Afterwards the server answers a logged-in client (once the flood's sockets are gone).
    let mut answer = None;
    let answer_deadline = Instant::now() + Duration::from_secs(15);
    while answer.is_none() && Instant::now() < answer_deadline {
        match try_http(port, "GET", "/api/status", Some(&cookie), "") {
            Ok((200, _, body)) => answer = Some(body),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    let answered_after = flood_ended.elapsed();
    let status: Value = serde_json::from_str(&answer.unwrap_or_else(|| {
        panic!(
            "no answer to GET /api/status within 15 s of the flood\n{}",
            daemon.log_tail()
        )
    }))
    .expect("the status is JSON");
    assert_eq!(status["network"]["mode"], "unmanaged", "{status:#}");
    assert!(status["system"].get("booted_slot").is_some(), "{status:#}");

    wait_for_ring_end(&mut daemon, flood_to.1);
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.join().expect("the sampler");
    let last = samples.last().expect("status samples").clone();

    let (base_bps, base_sps, base_gap) = window(&samples, base_from.0, base_to.0);
    let (flood_bps, flood_sps, flood_gap) = window(&samples, flood_from.0, flood_to.0);
    let base_recorded = recorded_within(port, &cookie, base_from.1, base_to.1);
    let flood_recorded = recorded_within(port, &cookie, flood_from.1, flood_to.1);
    let base_wall = (base_to.1 - base_from.1) as f64 / 1e6;
    let flood_wall = (flood_to.1 - flood_from.1) as f64 / 1e6;
    let c = &target.counts;
    println!(
        "without load: {:.1} kB/s in, {base_sps:.2} segments/s, {base_recorded:.1} s recorded of \
         {base_wall:.1} s ({:.0}%), longest wait for a segment {base_gap:.1?}",
        base_bps / 1e3,
        100.0 * base_recorded / base_wall
    );
    println!(
        "flooded:      {:.1} kB/s in, {flood_sps:.2} segments/s, {flood_recorded:.1} s recorded of \
         {flood_wall:.1} s ({:.0}%), longest wait for a segment {flood_gap:.1?}",
        flood_bps / 1e3,
        100.0 * flood_recorded / flood_wall
    );
    println!(
        "the flood: {} connections, {} closed unanswered, {} answers (401: {}, 429: {}, 413/431: \
         {}, 400: {}); wrong passwords: {} checked, {} refused as locked out; logged-in clients got \
         {} segments ({:.1} MB); GET /api/status answered {:.1?} after the flood",
        Counts::get(&c.connections),
        Counts::get(&c.closed_unanswered),
        Counts::get(&c.answers),
        Counts::get(&c.unauthorized),
        Counts::get(&c.too_many),
        Counts::get(&c.too_large),
        Counts::get(&c.bad_request),
        Counts::get(&c.wrong_password),
        Counts::get(&c.locked_out),
        Counts::get(&c.segments),
        Counts::get(&c.segment_bytes) as f64 / 1e6,
        answered_after,
    );

    assert_eq!(
        last.segments_dropped,
        0,
        "segments dropped\n{}",
        daemon.log_tail()
    );
    assert_eq!(
        last.source_restarts,
        0,
        "the source restarted\n{}",
        daemon.log_tail()
    );
    let max_gap = Duration::from_secs_f64(MAX_GAP_TARGETS * TARGET_S);
    assert!(
        flood_gap <= max_gap,
        "{flood_gap:?} without a new segment during the flood (at most {max_gap:?})"
    );
    assert!(
        flood_recorded >= MIN_RECORDED * flood_wall,
        "only {flood_recorded:.1} s of the flood's {flood_wall:.1} s recorded"
    );
    assert!(
        Counts::get(&c.connections) > 300,
        "the flood did not get going"
    );
}
