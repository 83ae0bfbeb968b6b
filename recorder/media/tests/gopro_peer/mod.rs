//! A GoPro stand-in for the `gopro` source's tests, on real sockets bound to 127.0.0.1: an HTTP
//! server answering the start, keep-alive and stop requests of one protocol (404 for anything
//! else), and a UDP streamer that behaves like the camera's: it streams real MPEG-TS once started,
//! to the address the keep-alives come from (legacy) or to the requesting host's asked-for port
//! (Open GoPro), and stops when keep-alives lapse. Everything it saw is recorded for the tests to
//! check. Threads poll a stop flag and a hard deadline, so a failing test cannot leave them running.

use moment_media::source::gopro::{Protocol, STREAM_PORT};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// TS packets per datagram, as cameras (and ffmpeg's udp output) send them.
pub const PACKETS_PER_DATAGRAM: usize = 7;
pub const DATAGRAM: usize = PACKETS_PER_DATAGRAM * 188;
/// No peer thread outlives this, whatever the test does.
const LIFETIME: Duration = Duration::from_secs(60);
/// How often the threads look at their sockets and flags.
const POLL: Duration = Duration::from_millis(2);
/// The most datagrams sent in one poll (bounds a burst after a stall).
const MAX_BURST: u64 = 64;

/// How the stand-in behaves.
#[derive(Clone)]
pub struct PeerConfig {
    pub protocol: Protocol,
    /// Status answered to the start request.
    pub start_status: u16,
    /// The keep-alive interval the client uses; streaming stops after 3 of them without one.
    pub keepalive: Duration,
    /// The stream, sent in a loop.
    pub ts: Arc<Vec<u8>>,
    /// Its play time, for pacing.
    pub ts_duration: Duration,
    /// Pace as a multiple of real time.
    pub speed: f64,
    /// Prefix each datagram with a 12-byte RTP header.
    pub rtp: bool,
    /// Answer the stop request but keep streaming (a camera that misses it).
    pub ignore_stop: bool,
}

impl PeerConfig {
    pub fn new(protocol: Protocol, ts: Vec<u8>, ts_duration: Duration) -> Self {
        PeerConfig {
            protocol,
            start_status: 200,
            keepalive: Duration::from_millis(200),
            ts: Arc::new(ts),
            ts_duration,
            speed: 4.0,
            rtp: false,
            ignore_stop: false,
        }
    }
}

/// Why streaming stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopCause {
    StopRequest,
    KeepAliveLapsed,
}

/// One HTTP request the peer answered.
#[derive(Clone, Debug)]
pub struct Request {
    pub at: Instant,
    pub path: String,
    pub status: u16,
}

/// One datagram received on the camera's UDP port.
#[derive(Clone, Debug)]
pub struct KeepAlive {
    pub at: Instant,
    pub payload: Vec<u8>,
    pub from: SocketAddr,
}

#[derive(Default)]
struct State {
    requests: Vec<Request>,
    keepalives: Vec<KeepAlive>,
    /// Started and not stopped.
    streaming: bool,
    /// Where the stream goes, once known.
    target: Option<SocketAddr>,
    /// The last sign of life from the client (start, or a keep-alive).
    last_alive: Option<Instant>,
    /// When the current streaming run began, and datagrams sent in it (for pacing).
    run_start: Option<Instant>,
    run_sent: u64,
    /// Position in `ts`, in datagrams.
    next_datagram: usize,
    datagrams_sent: u64,
    last_sent: Option<Instant>,
    stopped: Option<(Instant, StopCause)>,
    /// Stop sending but stay alive otherwise (a hung camera).
    silent: bool,
}

pub struct Peer {
    config: PeerConfig,
    state: Arc<Mutex<State>>,
    quit: Arc<AtomicBool>,
    http_addr: SocketAddr,
    udp_addr: SocketAddr,
    threads: Vec<JoinHandle<()>>,
}

impl Peer {
    pub fn start(config: PeerConfig) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind peer http");
        listener.set_nonblocking(true).expect("nonblocking");
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind peer udp");
        udp.set_read_timeout(Some(POLL)).expect("udp timeout");
        let http_addr = listener.local_addr().expect("http addr");
        let udp_addr = udp.local_addr().expect("udp addr");
        let state = Arc::new(Mutex::new(State::default()));
        let quit = Arc::new(AtomicBool::new(false));
        let born = Instant::now();
        let threads = vec![
            {
                let (config, state, quit) = (config.clone(), state.clone(), quit.clone());
                thread::spawn(move || serve_http(listener, &config, &state, &quit, born))
            },
            {
                let (config, state, quit) = (config.clone(), state.clone(), quit.clone());
                thread::spawn(move || stream_udp(udp, &config, &state, &quit, born))
            },
        ];
        Peer {
            config,
            state,
            quit,
            http_addr,
            udp_addr,
            threads,
        }
    }

    pub fn http_port(&self) -> u16 {
        self.http_addr.port()
    }

    pub fn udp_port(&self) -> u16 {
        self.udp_addr.port()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state().requests.clone()
    }

    /// Paths of the requests, in order.
    pub fn paths(&self) -> Vec<String> {
        self.state()
            .requests
            .iter()
            .map(|r| r.path.clone())
            .collect()
    }

    pub fn keepalives(&self) -> Vec<KeepAlive> {
        self.state().keepalives.clone()
    }

    pub fn datagrams_sent(&self) -> u64 {
        self.state().datagrams_sent
    }

    pub fn last_sent(&self) -> Option<Instant> {
        self.state().last_sent
    }

    pub fn stopped(&self) -> Option<(Instant, StopCause)> {
        self.state().stopped
    }

    pub fn streaming(&self) -> bool {
        self.state().streaming
    }

    pub fn set_silent(&self, silent: bool) {
        self.state().silent = silent;
    }

    pub fn config(&self) -> &PeerConfig {
        &self.config
    }

    /// Polls `cond` until it holds or `timeout` passes; returns whether it held.
    pub fn wait_for(&self, timeout: Duration, mut cond: impl FnMut(&Peer) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.quit.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn done(quit: &AtomicBool, born: Instant) -> bool {
    quit.load(Ordering::Relaxed) || born.elapsed() > LIFETIME
}

fn serve_http(
    listener: TcpListener,
    config: &PeerConfig,
    state: &Mutex<State>,
    quit: &AtomicBool,
    born: Instant,
) {
    while !done(quit, born) {
        match listener.accept() {
            Ok((stream, from)) => answer(stream, from, config, state),
            Err(_) => thread::sleep(POLL),
        }
    }
}

/// Reads one request (bounded in size and time) and answers it.
fn answer(mut stream: TcpStream, from: SocketAddr, config: &PeerConfig, state: &Mutex<State>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(2);
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        if Instant::now() >= deadline {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut words = head.split_whitespace();
    let (Some("GET"), Some(path)) = (words.next(), words.next()) else {
        return;
    };
    let path = path.to_string();
    let (route, query) = path.split_once('?').unwrap_or((&path, ""));
    let now = Instant::now();
    let mut st = lock(state);
    let status = match (config.protocol, route, query) {
        (Protocol::Legacy, "/gp/gpControl/execute", "p1=gpStream&c1=restart")
        | (Protocol::OpenGoPro, "/gopro/webcam/start" | "/gopro/camera/stream/start", _) => {
            if config.start_status == 200 {
                st.streaming = true;
                st.stopped = None;
                st.last_alive = Some(now);
                st.run_start = None;
                if config.protocol == Protocol::OpenGoPro {
                    // Open GoPro streams to the requesting host, on the port it asked for.
                    let port = query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix("port="))
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(STREAM_PORT);
                    st.target = Some(SocketAddr::new(from.ip(), port));
                }
            }
            config.start_status
        }
        (Protocol::OpenGoPro, "/gopro/camera/keep_alive", "") => {
            st.last_alive = Some(now);
            200
        }
        (Protocol::Legacy, "/gp/gpControl/execute", "p1=gpStream&c1=stop")
        | (Protocol::OpenGoPro, "/gopro/webcam/stop" | "/gopro/camera/stream/stop", "") => {
            if !config.ignore_stop && st.streaming {
                st.streaming = false;
                st.stopped = Some((now, StopCause::StopRequest));
            }
            200
        }
        _ => 404,
    };
    st.requests.push(Request {
        at: now,
        path: path.clone(),
        status,
    });
    drop(st);
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Error",
    };
    let body = if status == 200 {
        "{}"
    } else {
        "{\"error\":\"test\"}"
    };
    let reply = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes());
}

fn stream_udp(
    socket: UdpSocket,
    config: &PeerConfig,
    state: &Mutex<State>,
    quit: &AtomicBool,
    born: Instant,
) {
    let datagrams = config.ts.len() / DATAGRAM;
    let rate = datagrams as f64 / config.ts_duration.as_secs_f64() * config.speed;
    let mut buf = vec![0u8; 65_536];
    let mut out = Vec::with_capacity(DATAGRAM + 12);
    while !done(quit, born) {
        // Keep-alives (legacy): the stream goes to whoever sends them.
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            let mut st = lock(state);
            st.keepalives.push(KeepAlive {
                at: Instant::now(),
                payload: buf[..n].to_vec(),
                from,
            });
            if config.protocol == Protocol::Legacy {
                st.target = Some(from);
                st.last_alive = Some(Instant::now());
            }
        }
        let now = Instant::now();
        let mut st = lock(state);
        if !st.streaming {
            continue;
        }
        if st
            .last_alive
            .is_some_and(|t| now.duration_since(t) > config.keepalive * 3)
        {
            st.streaming = false;
            st.stopped = Some((now, StopCause::KeepAliveLapsed));
            continue;
        }
        let Some(target) = st.target else { continue };
        if st.silent || datagrams == 0 {
            continue;
        }
        let run_start = *st.run_start.get_or_insert(now);
        let due = (now.duration_since(run_start).as_secs_f64() * rate) as u64;
        let burst = due.saturating_sub(st.run_sent).min(MAX_BURST);
        for _ in 0..burst {
            let i = st.next_datagram % datagrams;
            out.clear();
            if config.rtp {
                let seq = (st.datagrams_sent as u16).to_be_bytes();
                out.extend_from_slice(&[0x80, 33, seq[0], seq[1], 0, 0, 0, 0, 1, 2, 3, 4]);
            }
            out.extend_from_slice(&config.ts[i * DATAGRAM..(i + 1) * DATAGRAM]);
            // Losses are the client's problem, as with a real camera.
            let _ = socket.send_to(&out, target);
            st.next_datagram += 1;
            st.run_sent += 1;
            st.datagrams_sent += 1;
            st.last_sent = Some(Instant::now());
        }
    }
}
