//! How fast the web serves HLS segments, against reading them from the ring in-process: the cost
//! of HTTP, the server and its copies on top of the ring's own checked reads. A benchmark program,
//! not a test: it prints figures for docs/performance.md ("Web") and asserts nothing about time,
//! because a shared machine's figures are not the camera's.
//!
//! It writes `--segments` segments of `--segment-bytes` (TS-like bytes) into a ring file in
//! `--dir`, serves the daemon's router (`web::router`, `web::serve`, the admin password set) on
//! 127.0.0.1 on a runtime like the daemon's (2 workers), logs in, and then for `--seconds` each:
//!
//! - reads the segments with `RingReader` in-process (pin, read into a reused buffer, as the
//!   segment handler does), on 1 and on 4 threads;
//! - GETs `/hls/segment/{seq}.ts` over keep-alive HTTP/1.1 connections, 1 and 4 clients at once,
//!   each client on its own thread, every body read to the end.
//!
//! Every pass walks the segments in order, so after the first pass everything is in the page
//! cache for both: the figures compare CPU and copying, not the disk.
//!
//! Run: `cargo bench -p moment-recorder --bench web -- [options]` (ci/bench-web.sh).

use moment_recorder::control::ButtonName;
use moment_recorder::memories::MemoryStore;
use moment_recorder::web::{self, AuthConfig, Control, ServerLimits, WebState};
use moment_ring::{format, AlignedBuf, DirectIo, FileDevice, FormatOptions, OpenOptions, Ring};
use moment_ring::{RingReader, SegmentMeta};
use std::error::Error;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

const USAGE: &str = "\
usage: cargo bench -p moment-recorder --bench web -- [options]
  --seconds N         how long each measurement runs (default 5)
  --segments N        segments in the ring (default 32)
  --segment-bytes N   bytes per segment (default 6250000: 5 s at 10 Mbit/s)
  --dir DIR           where the ring file goes (default /var/tmp)";
const PASSWORD: &str = "bench password";
/// Where the segments' timestamps start (2026-01-01T00:00:00Z); each lasts 5 s.
const START_US: i64 = 1_767_225_600_000_000;
const SEGMENT_US: u64 = 5_000_000;
/// Every network wait of a client.
const IO_LIMIT: Duration = Duration::from_secs(30);

struct Options {
    seconds: u64,
    segments: u64,
    segment_bytes: usize,
    dir: PathBuf,
}

fn parse(mut argv: impl Iterator<Item = String>) -> BenchResult<Options> {
    let mut o = Options {
        seconds: 5,
        segments: 32,
        segment_bytes: 6_250_000,
        dir: PathBuf::from("/var/tmp"),
    };
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            // cargo bench passes --bench to every benchmark program.
            "--bench" => {}
            "--seconds" => o.seconds = value()?.parse::<u64>()?.clamp(1, 600),
            "--segments" => o.segments = value()?.parse::<u64>()?.clamp(4, 4096),
            "--segment-bytes" => {
                o.segment_bytes = value()?.parse::<usize>()?.clamp(188, 32 << 20);
            }
            "--dir" => o.dir = value()?.into(),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other}\n{USAGE}").into()),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    match parse(std::env::args().skip(1)).and_then(|o| run(&o)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench web: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The daemon's side for the control routes: nothing to control, an empty status.
struct Idle;

impl Control for Idle {
    fn status_json(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn press(&self, _: ButtonName, _: Duration) -> Result<(), String> {
        Err("no buttons in the benchmark".into())
    }
    fn set_time(&self, _: i64) -> Result<bool, String> {
        Ok(false)
    }
    fn save_range(&self, _: i64, _: i64) -> Result<(), String> {
        Err("no saves in the benchmark".into())
    }
    fn upload_memory(&self, _: &str) -> Result<(), String> {
        Err("no uploads in the benchmark".into())
    }
    fn settings(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn put_settings(
        &self,
        _: moment_recorder::settings::Patch,
    ) -> Result<serde_json::Value, moment_recorder::settings::SettingsError> {
        Err(moment_recorder::settings::SettingsError::failed(
            "no settings in the benchmark",
        ))
    }
}

/// What one measurement moved.
#[derive(Clone, Copy, Default)]
struct Moved {
    segments: u64,
    bytes: u64,
    seconds: f64,
}

impl Moved {
    fn add(self, other: Moved) -> Moved {
        Moved {
            segments: self.segments + other.segments,
            bytes: self.bytes + other.bytes,
            seconds: self.seconds.max(other.seconds),
        }
    }

    fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.seconds
    }

    fn segments_per_s(&self) -> f64 {
        self.segments as f64 / self.seconds
    }
}

fn run(o: &Options) -> BenchResult<()> {
    let work = tempfile::Builder::new()
        .prefix("moment-web-bench.")
        .tempdir_in(&o.dir)?;
    let ring = fill_ring(o, work.path())?;
    let seqs: Vec<u64> = ring.reader().segments().iter().map(|s| s.seq).collect();
    println!(
        "web benchmark: {} segments of {} bytes in a ring file in {}, {} s per figure, {} CPUs, \
         load average {}",
        seqs.len(),
        o.segment_bytes,
        o.dir.display(),
        o.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    let memories = Arc::new(MemoryStore::open(&work.path().join("memories"), 0)?.0);
    let router = web::router(
        WebState::new(ring.reader(), memories),
        Arc::new(Idle),
        AuthConfig::new(web::hash_password(PASSWORD)),
    );
    // Like the daemon's runtime: 2 workers, a bounded blocking pool.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(8)
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let server = runtime.spawn(web::serve(listener, router, ServerLimits::default()));
    let cookie = login(addr)?;
    let limit = Duration::from_secs(o.seconds);

    // A first pass of each puts every segment in the page cache and checks the bytes agree.
    check_same_bytes(&ring.reader(), addr, &cookie, &seqs)?;

    let from_ring = |n: usize| {
        let readers = (0..n).map(|i| {
            let reader = ring.reader();
            let seqs = &seqs;
            move || read_ring(&reader, seqs, limit, i)
        });
        in_threads(readers.collect())
    };
    let over_http = |n: usize| {
        let clients = (0..n).map(|i| {
            let (cookie, seqs) = (&cookie, &seqs);
            move || fetch(addr, cookie, seqs, limit, i)
        });
        in_threads(clients.collect())
    };
    let ring_1 = from_ring(1)?;
    let ring_4 = from_ring(4)?;
    let http_1 = over_http(1)?;
    let http_4 = over_http(4)?;

    println!("{:<38} {:>9} {:>12}", "", "MB/s", "segments/s");
    for (what, moved) in [
        ("RingReader in-process, 1 thread", ring_1),
        ("RingReader in-process, 4 threads", ring_4),
        ("GET /hls/segment over HTTP, 1 client", http_1),
        ("GET /hls/segment over HTTP, 4 clients", http_4),
    ] {
        println!(
            "{what:<38} {:>9.0} {:>12.1}",
            moved.mb_per_s(),
            moved.segments_per_s()
        );
    }
    println!(
        "HTTP / in-process: 1 client / 1 thread {:.2}, 4 clients / 4 threads {:.2}, 4 clients / \
         1 thread {:.2}",
        http_1.mb_per_s() / ring_1.mb_per_s(),
        http_4.mb_per_s() / ring_4.mb_per_s(),
        http_4.mb_per_s() / ring_1.mb_per_s(),
    );
    println!("load average at the end {}", loadavg());
    server.abort();
    Ok(())
}

/// A fresh ring file with the segments, flushed.
fn fill_ring(o: &Options, dir: &std::path::Path) -> BenchResult<Ring<FileDevice>> {
    let path = dir.join("ring.img");
    // Room for every segment with headers and padding, the index and some spare.
    let size = (o.segment_bytes as u64 + (64 << 10)) * (o.segments + 4) + (64 << 20);
    std::fs::File::create(&path)?.set_len(size)?;
    let dev = FileDevice::open(&path, true, DirectIo::Auto)?;
    format(&dev, &FormatOptions::default())?;
    let dev = FileDevice::open(&path, true, DirectIo::Auto)?;
    let mut ring = Ring::open(dev, OpenOptions::default())?;
    for i in 0..o.segments {
        let meta = SegmentMeta {
            utc_start_us: START_US + (i * SEGMENT_US) as i64,
            mono_start_us: i * SEGMENT_US,
            duration_us: SEGMENT_US,
            pts_first: None,
            pts_last: None,
            flags: 0,
            continuity_errors: 0,
        };
        ring.append(&meta, &payload(i, o.segment_bytes))?;
    }
    ring.flush()?;
    Ok(ring)
}

/// TS-like bytes: a sync byte every 188, pseudo-random in between (so nothing compresses away).
fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|i| {
            if i % 188 == 0 {
                return 0x47;
            }
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Runs every piece of `work` on its own thread, all at once, and adds up what they moved.
fn in_threads<F>(work: Vec<F>) -> BenchResult<Moved>
where
    F: FnOnce() -> BenchResult<Moved> + Send,
{
    std::thread::scope(|scope| {
        let threads: Vec<_> = work.into_iter().map(|w| scope.spawn(w)).collect();
        let mut total = Moved::default();
        for thread in threads {
            total = total.add(thread.join().map_err(|_| "a benchmark thread panicked")??);
        }
        Ok(total)
    })
}

/// Reads segment after segment (starting at the `first`th, so threads do not move in step) for
/// `limit`, as the segment handler does: pin one, read it into a buffer, unpin.
fn read_ring(
    reader: &RingReader<FileDevice>,
    seqs: &[u64],
    limit: Duration,
    first: usize,
) -> BenchResult<Moved> {
    let mut buf = AlignedBuf::new(0);
    let mut moved = Moved::default();
    let start = Instant::now();
    let mut i = first * seqs.len() / 4;
    while start.elapsed() < limit {
        let seq = seqs[i % seqs.len()];
        i += 1;
        let pin = reader.pin(seq, seq)?;
        let info = pin.read(seq, &mut buf)?;
        drop(pin);
        moved.segments += 1;
        moved.bytes += u64::from(info.payload_len);
    }
    moved.seconds = start.elapsed().as_secs_f64();
    Ok(moved)
}

/// GETs segment after segment on one keep-alive connection for `limit`.
fn fetch(
    addr: SocketAddr,
    cookie: &str,
    seqs: &[u64],
    limit: Duration,
    first: usize,
) -> BenchResult<Moved> {
    let mut stream = connect(addr)?;
    let mut body = Vec::new();
    let mut moved = Moved::default();
    let start = Instant::now();
    let mut i = first * seqs.len() / 4;
    while start.elapsed() < limit {
        let seq = seqs[i % seqs.len()];
        i += 1;
        let status = get(
            &mut stream,
            &format!("/hls/segment/{seq}.ts"),
            cookie,
            &mut body,
        )?;
        if status != 200 {
            return Err(format!("segment {seq}: HTTP {status}").into());
        }
        moved.segments += 1;
        moved.bytes += body.len() as u64;
    }
    moved.seconds = start.elapsed().as_secs_f64();
    Ok(moved)
}

/// Every segment once through both paths; the bytes must be the same.
fn check_same_bytes(
    reader: &RingReader<FileDevice>,
    addr: SocketAddr,
    cookie: &str,
    seqs: &[u64],
) -> BenchResult<()> {
    let mut stream = connect(addr)?;
    let mut body = Vec::new();
    let mut buf = AlignedBuf::new(0);
    for &seq in seqs {
        let pin = reader.pin(seq, seq)?;
        let info = pin.read(seq, &mut buf)?;
        drop(pin);
        let status = get(
            &mut stream,
            &format!("/hls/segment/{seq}.ts"),
            cookie,
            &mut body,
        )?;
        if status != 200 || body[..] != buf[..info.payload_len as usize] {
            return Err(format!("segment {seq}: HTTP {status}, or its bytes differ").into());
        }
    }
    Ok(())
}

fn connect(addr: SocketAddr) -> BenchResult<TcpStream> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(IO_LIMIT))?;
    stream.set_write_timeout(Some(IO_LIMIT))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

fn login(addr: SocketAddr) -> BenchResult<String> {
    let mut stream = connect(addr)?;
    let body = format!("{{\"password\":{PASSWORD:?}}}");
    write!(
        stream,
        "POST /api/login HTTP/1.1\r\nHost: bench\r\nX-Moment: 1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let (status, head) = read_head(&mut stream)?;
    if status != 200 {
        return Err(format!("login: HTTP {status}").into());
    }
    head.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("set-cookie: ")
                .map(str::to_owned)
        })
        .and_then(|c| c.split(';').next().map(str::to_owned))
        .ok_or_else(|| "login: no session cookie".into())
}

/// One keep-alive GET; the body replaces `body`'s contents. Returns the status.
fn get(stream: &mut TcpStream, path: &str, cookie: &str, body: &mut Vec<u8>) -> BenchResult<u16> {
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: bench\r\nCookie: {cookie}\r\n\r\n"
    )?;
    let (status, head) = read_head(stream)?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .ok_or("no content-length")?
        .parse()?;
    body.clear();
    body.resize(length, 0);
    stream.read_exact(body)?;
    Ok(status)
}

/// Reads a response head byte by byte up to the blank line (heads are a few hundred bytes; the
/// body is then read in one go). Returns the status and the head.
fn read_head(stream: &mut TcpStream) -> BenchResult<(u16, String)> {
    let mut head = Vec::with_capacity(512);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 << 10 {
            return Err("response head too long".into());
        }
        stream.read_exact(&mut byte)?;
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status line")?;
    Ok((status, head))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
