//! The daemon's cost while it records, the figure that matters on a Pi that records all day
//! (goals: peak RSS under 32 MiB, CPU under 5% of one core). A benchmark program, not a test: it
//! prints figures for docs/performance.md and does not fail on a missed goal, because a shared
//! machine's figures are not the camera's.
//!
//! It runs the real `moment-recorder run` with `[source] kind = "ffmpeg"` reading a pre-encoded
//! 10 Mbit/s 1080p30 H.264 + AAC MPEG-TS file at its native pace (`realtime = true`, ffmpeg `-re`),
//! so ffmpeg plays the camera and the daemon does what it does on the device: segment, write the
//! ring (a file here, so buffered: the ring uses O_DIRECT on block devices), serve the status.
//! For `--seconds` it samples /proc: the daemon's own CPU time (utime + stime of its threads;
//! children are not included) and the camera ffmpeg's separately, and the daemon's VmRSS; VmHWM
//! gives the peak. Afterwards, one SAVE of 30 s shows the peak with an export running (no goal),
//! and SIGTERM the stop.
//!
//! Run: `cargo bench -p moment-recorder --bench daemon -- [options]` (ci/bench-daemon.sh). The
//! clip is made once with ffmpeg and cached. Press-to-LED latency is benches/press_latency.rs.

use moment_recorder::control::{self, ButtonName, Request};
use serde_json::Value;
use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

type BenchResult<T> = Result<T, Box<dyn Error>>;

const USAGE: &str = "\
usage: cargo bench -p moment-recorder --bench daemon -- [options]
  --seconds N   how long to measure (default 60)
  --bin PATH    the moment-recorder to run (default: the one cargo built for this benchmark)
  --dir DIR     where the ring file and the daemon's directories go (default /var/tmp)
  --cache DIR   where the clip is kept between runs (default: Cargo's target tmp dir)";
const RSS_GOAL_MIB: f64 = 32.0;
const CPU_GOAL_PERCENT: f64 = 5.0;
/// The clip outlasts the measurement by this much (start, the save afterwards).
const CLIP_SPARE_S: u64 = 40;
/// Longest wait for the daemon to answer and for bytes to flow.
const START_LIMIT: Duration = Duration::from_secs(60);
const SAVE_STEP_S: u64 = 30;
const SAVE_LIMIT: Duration = Duration::from_secs(120);
const STOP_LIMIT: Duration = Duration::from_secs(30);

struct Options {
    seconds: u64,
    bin: PathBuf,
    dir: PathBuf,
    cache: PathBuf,
}

fn parse(mut argv: impl Iterator<Item = String>) -> BenchResult<Options> {
    let mut o = Options {
        seconds: 60,
        bin: PathBuf::from(env!("CARGO_BIN_EXE_moment-recorder")),
        dir: PathBuf::from("/var/tmp"),
        cache: PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
    };
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            // cargo bench passes --bench to every benchmark program.
            "--bench" => {}
            "--seconds" => o.seconds = value()?.parse::<u64>()?.clamp(5, 3600),
            "--bin" => o.bin = value()?.into(),
            "--dir" => o.dir = value()?.into(),
            "--cache" => o.cache = value()?.into(),
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
            eprintln!("bench daemon: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(o: &Options) -> BenchResult<()> {
    // One clip serves every run up to the default length.
    let clip = clip(&o.cache, (o.seconds + CLIP_SPARE_S).max(100))?;
    let work = tempfile::Builder::new()
        .prefix("moment-daemon-bench.")
        .tempdir_in(&o.dir)?;
    let socket = work.path().join("control.sock");
    let config = setup(o, work.path(), &clip, &socket)?;
    println!(
        "daemon benchmark: {} on {}, {} s, load average {}",
        o.bin.display(),
        machine(),
        o.seconds,
        loadavg()
    );
    let mut daemon = Guard(
        Command::new(&o.bin)
            .args(["run", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(work.path().join("daemon.log"))?)
            .spawn()?,
    );
    let pid = daemon.0.id();
    wait_status(&socket, START_LIMIT, "bytes flowing", |s| {
        u(s, "/recording/bytes") > 0
    })?;
    let measured = measure(pid, o.seconds)?;
    let status = status(&socket)?;
    report(&measured, &status, o.seconds);
    save(&socket, pid)?;
    stop(&mut daemon)?;
    println!("load average at the end {}", loadavg());
    Ok(())
}

/// The cached clip: testsrc2 1920x1080 at 30 fps, libx264 CBR 10 Mbit/s, GOP 1 s, AAC 128 kbit/s.
fn clip(cache: &Path, seconds: u64) -> BenchResult<PathBuf> {
    let path = cache.join(format!("daemon-bench-1080p30-10M-{seconds}s.ts"));
    if path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(cache)?;
    println!("- making the clip {} (once; cached)", path.display());
    let tmp = path.with_extension("tmp");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &seconds.to_string(), "-map", "0:v", "-map", "1:a"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args([
            "-g",
            "30",
            "-keyint_min",
            "30",
            "-sc_threshold",
            "0",
            "-bf",
            "0",
        ])
        .args([
            "-b:v", "10M", "-minrate", "10M", "-maxrate", "10M", "-bufsize", "10M",
        ])
        .args(["-x264-params", "nal-hrd=cbr", "-c:a", "aac", "-b:a", "128k"])
        .args(["-f", "mpegts"])
        .arg(&tmp)
        .status()?;
    if !status.success() {
        return Err("ffmpeg could not make the clip".into());
    }
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Formats a 1 GiB ring file and writes the daemon's configuration; returns its path.
fn setup(o: &Options, dir: &Path, clip: &Path, socket: &Path) -> BenchResult<PathBuf> {
    let ring = dir.join("ring.img");
    let out = Command::new(&o.bin)
        .args(["ring", "format"])
        .arg(&ring)
        .args(["--size", "1G"])
        .output()?;
    if !out.status.success() {
        return Err(format!("ring format: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let path = |p: &Path| p.to_str().map(str::to_owned).ok_or("a non-UTF-8 path");
    let text = format!(
        "[ring]\ndevice = {ring:?}\n\n\
         [source]\nkind = \"ffmpeg\"\n\n[source.ffmpeg]\ninput = {clip:?}\nrealtime = true\n\n\
         [memories]\ndir = {memories:?}\nmin_free_mib = 64\n\n[state]\ndir = {state:?}\n\n\
         [control]\nsocket = {socket:?}\n\n\
         [buttons]\nbackend = \"simulated\"\nsave_step_s = {SAVE_STEP_S}\n\n\
         [upload]\nremote = \"\"\n",
        ring = path(&ring)?,
        clip = path(clip)?,
        memories = path(&dir.join("memories"))?,
        state = path(&dir.join("state"))?,
        socket = path(socket)?,
    );
    let config = dir.join("config.toml");
    std::fs::write(&config, text)?;
    Ok(config)
}

/// What the sampling saw.
struct Measured {
    wall: Duration,
    daemon_cpu_s: f64,
    /// The camera process(es): one unless ffmpeg was restarted.
    camera_cpu_s: f64,
    cameras: usize,
    rss_first_kib: u64,
    rss_max_kib: u64,
    rss_end_kib: u64,
    hwm_kib: u64,
    /// RssAnon and RssFile at the end: heap and stacks against the mapped program.
    anon_kib: u64,
    file_kib: u64,
}

/// Samples /proc once a second for `seconds`.
fn measure(pid: u32, seconds: u64) -> BenchResult<Measured> {
    let tick = clock_tick();
    let started = Instant::now();
    let daemon_start = cpu_ticks(pid).ok_or("the daemon is gone")?;
    // Per camera process: CPU ticks when first and last seen.
    let mut cameras: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    let see_cameras = |cameras: &mut BTreeMap<u32, (u64, u64)>| {
        for child in children(pid) {
            if let Some(t) = cpu_ticks(child) {
                cameras.entry(child).or_insert((t, t)).1 = t;
            }
        }
    };
    see_cameras(&mut cameras);
    let mut rss = Vec::new();
    for second in 1..=seconds {
        let next = started + Duration::from_secs(second);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        rss.push(proc_status_kib(pid, "VmRSS:").ok_or("the daemon died")?);
        see_cameras(&mut cameras);
    }
    let daemon_end = cpu_ticks(pid).ok_or("the daemon died")?;
    let wall = started.elapsed();
    Ok(Measured {
        wall,
        daemon_cpu_s: (daemon_end - daemon_start) as f64 / tick,
        camera_cpu_s: cameras.values().map(|(a, b)| b - a).sum::<u64>() as f64 / tick,
        cameras: cameras.len(),
        rss_first_kib: rss.first().copied().unwrap_or(0),
        rss_max_kib: rss.iter().copied().max().unwrap_or(0),
        rss_end_kib: rss.last().copied().unwrap_or(0),
        hwm_kib: proc_status_kib(pid, "VmHWM:").unwrap_or(0),
        anon_kib: proc_status_kib(pid, "RssAnon:").unwrap_or(0),
        file_kib: proc_status_kib(pid, "RssFile:").unwrap_or(0),
    })
}

fn report(m: &Measured, status: &Value, seconds: u64) {
    let wall = m.wall.as_secs_f64();
    let daemon_cpu = 100.0 * m.daemon_cpu_s / wall;
    let peak = m.hwm_kib as f64 / 1024.0;
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    println!("over {wall:.1} s of recording ({seconds} s asked):");
    println!(
        "  daemon CPU          {daemon_cpu:6.2} % of one core ({:.2} s)   goal < {CPU_GOAL_PERCENT} %  {}",
        m.daemon_cpu_s,
        verdict(daemon_cpu < CPU_GOAL_PERCENT)
    );
    println!(
        "  camera ffmpeg CPU   {:6.2} % of one core ({:.2} s, {} process(es); not the daemon's)",
        100.0 * m.camera_cpu_s / wall,
        m.camera_cpu_s,
        m.cameras
    );
    println!(
        "  daemon peak RSS     {peak:6.1} MiB (VmHWM)   goal < {RSS_GOAL_MIB} MiB  {}",
        verdict(peak < RSS_GOAL_MIB)
    );
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "  daemon VmRSS        {:.1} MiB after 1 s, {:.1} MiB largest sample, {:.1} MiB at the \
         end ({:.1} MiB anonymous, {:.1} MiB file-backed)",
        mib(m.rss_first_kib),
        mib(m.rss_max_kib),
        mib(m.rss_end_kib),
        mib(m.anon_kib),
        mib(m.file_kib)
    );
    println!(
        "  recorded            {:.1} MB, {} segments stored ({} sent, {} dropped), {} source restarts",
        u(status, "/recording/bytes") as f64 / 1e6,
        u(status, "/ring/segment_count"),
        u(status, "/recording/segments_sent"),
        u(status, "/recording/segments_dropped"),
        u(status, "/recording/source_restarts"),
    );
}

/// One SAVE (the last `SAVE_STEP_S` s) while recording: the peak RSS with an export (no goal).
fn save(socket: &Path, pid: u32) -> BenchResult<()> {
    let started = Instant::now();
    let press = Request::Press {
        button: ButtonName::Save,
        hold_ms: 100,
    };
    let answer = control::request(socket, &press)?;
    if !answer.ok {
        return Err(format!("press refused: {:?}", answer.error).into());
    }
    let status = wait_status(socket, SAVE_LIMIT, "the save", |s| {
        u(s, "/saves/completed") + u(s, "/saves/failed") > 0
    })?;
    if u(&status, "/saves/failed") > 0 {
        return Err(format!("the save failed: {}", status["saves"]["last_error"]).into());
    }
    println!(
        "  one {SAVE_STEP_S} s SAVE     {:.1} MB memory in {:.1} s from the press; daemon peak RSS \
         since start {:.1} MiB (VmHWM, with the export)",
        u(&status, "/saves/bytes_total") as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        proc_status_kib(pid, "VmHWM:").unwrap_or(0) as f64 / 1024.0
    );
    Ok(())
}

fn stop(daemon: &mut Guard) -> BenchResult<()> {
    let started = Instant::now();
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(daemon.0.id() as libc::pid_t, libc::SIGTERM) };
    while started.elapsed() < STOP_LIMIT {
        if let Some(exit) = daemon.0.try_wait()? {
            println!(
                "  SIGTERM             {exit} after {} ms",
                started.elapsed().as_millis()
            );
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("the daemon did not stop within {STOP_LIMIT:?}").into())
}

/// The daemon, killed (by PID, with its camera) if the benchmark ends early.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            for child in children(self.0.id()) {
                // SAFETY: kill(2) on the daemon's own child.
                unsafe { libc::kill(child as libc::pid_t, libc::SIGKILL) };
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn status(socket: &Path) -> BenchResult<Value> {
    let answer = control::request(socket, &Request::Status)?;
    if !answer.ok {
        return Err(format!("status refused: {:?}", answer.error).into());
    }
    Ok(answer.result)
}

/// Polls the status every 200 ms until `pred` holds, at most `limit`.
fn wait_status(
    socket: &Path,
    limit: Duration,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> BenchResult<Value> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(s) = status(socket) {
            if pred(&s) {
                return Ok(s);
            }
        }
        if Instant::now() > deadline {
            return Err(format!("no {what} within {limit:?}").into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn u(json: &Value, pointer: &str) -> u64 {
    json.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

fn clock_tick() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if tick > 0 {
        tick as f64
    } else {
        100.0
    }
}

/// The fields of /proc/PID/stat after the command name (which may contain anything).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// utime + stime of the process (all its threads; not its children), in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    // After the name: state(0) ppid(1) … utime(11) stime(12).
    let f = stat_fields(pid)?;
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Direct children of `pid` (the camera ffmpeg, and an export's ffmpeg during a save).
fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| {
            stat_fields(p).is_some_and(|f| f.get(1).and_then(|s| s.parse().ok()) == Some(pid))
        })
        .collect()
}

/// A `kB` line of /proc/PID/status.
fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU", str::trim)
        .to_owned();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpus} x {model}")
}
