//! The export's benchmark program, not a timed test: how our export of a 3-minute 10 Mbit/s clip
//! from the ring compares, on the same machine in one run, with the alternatives it replaced or
//! is bounded by. It prints figures for docs/performance.md; it does not fail on a missed goal.
//!
//! Run: `cargo bench -p moment-media --bench export -- [options]` (ci/bench-export.sh). Measured,
//! each as a child process whose `wait4` usage covers it and everything it ran:
//! - (a) our export: `moment_media::export` of the whole clip from a ring file, piped to ffmpeg;
//! - (b) the original plan: ffmpeg's concat demuxer over 5 s files written by its segment muxer;
//! - (c) `cat` of the same bytes (the contiguous TS) to /dev/null;
//! - (d) ffmpeg remuxing the contiguous TS file to MP4 (`ffmpeg -i clip.ts -map 0 -c copy …`);
//! - (e) `cat clip.ts | ffmpeg -f mpegts -i pipe:0 …`: exactly our ffmpeg command on plain bytes.
//!
//! Plus the segmenter's CPU per MB ingested, in-process, against cat's. Trials are interleaved so
//! a noisy machine hurts every contender alike; figures are medians of `--trials`.

#[path = "export/measure.rs"]
mod measure;
#[path = "export/setup.rs"]
mod setup;

use measure::{median, Cost};
use moment_media::export::{self, Request, Target};
use moment_ring::{DirectIo, FileDevice, OpenOptions, Ring};
use std::error::Error;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

type BenchResult<T> = Result<T, Box<dyn Error>>;

/// Hidden flag: this process is the export child (ring path, output path follow).
const CHILD_FLAG: &str = "--export-child";
const USAGE: &str = "\
usage: cargo bench -p moment-media --bench export -- [options]
  --dir DIR        where the ring, segment files and outputs go (default /var/tmp); removed after
  --cache DIR      where the clip is kept between runs (default: Cargo's target tmp dir)
  --trials N       interleaved trials (default 3)
  --seconds N      clip length (default 180)
  --size WxH       clip frame size (default 1280x720)
  --bitrate RATE   clip video bitrate, ffmpeg syntax (default 10M)";

/// Command-line options; cargo's own `--bench` is accepted and ignored.
pub struct Options {
    dir: PathBuf,
    cache: PathBuf,
    trials: usize,
    seconds: u32,
    size: String,
    bitrate: String,
}

impl Options {
    fn parse(mut argv: impl Iterator<Item = String>) -> BenchResult<Options> {
        let mut o = Options {
            dir: PathBuf::from("/var/tmp"),
            cache: PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
            trials: 3,
            seconds: 180,
            size: "1280x720".into(),
            bitrate: "10M".into(),
        };
        while let Some(flag) = argv.next() {
            let mut value = || argv.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
            match flag.as_str() {
                "--bench" => {}
                "--dir" => o.dir = value()?.into(),
                "--cache" => o.cache = value()?.into(),
                "--trials" => o.trials = value()?.parse::<usize>()?.clamp(1, 99),
                "--seconds" => o.seconds = value()?.parse::<u32>()?.clamp(10, 3600),
                "--size" => o.size = value()?,
                "--bitrate" => o.bitrate = value()?,
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown option {other}\n{USAGE}").into()),
            }
        }
        Ok(o)
    }
}

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1).peekable();
    let result = match argv.peek().map(String::as_str) {
        Some(CHILD_FLAG) => export_child(argv.skip(1).collect()),
        Some(measure::RUNNER_FLAG) => measure::runner(argv.skip(1).collect()),
        _ => Options::parse(argv).and_then(|o| run(&o)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench export: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The measured export: open the ring read-only (as the CLI does) and export all of it.
fn export_child(args: Vec<String>) -> BenchResult<()> {
    let [ring, out] = args.as_slice() else {
        return Err(format!("{CHILD_FLAG} RING OUT").into());
    };
    let dev = FileDevice::open(Path::new(ring), false, DirectIo::Auto)?;
    let options = OpenOptions {
        read_only: true,
        ..OpenOptions::default()
    };
    let ring = Ring::open(dev, options)?;
    let request = Request::new(0, i64::MAX, Target::File(out.into()));
    export::export(&ring.reader(), &request, &mut |_| {})?;
    // Our process alone: wait4's figure is the largest of it and ffmpeg.
    eprintln!("hwm {}", measure::vm_hwm_kib().unwrap_or(0));
    Ok(())
}

/// A directory removed when the benchmark ends, however it ends.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The contenders, in the order each trial runs them.
const NAMES: [&str; 6] = [
    "(a) our export: ring -> edit -> ffmpeg pipe, fsync",
    "(b) original plan: concat of 5 s files",
    "(c) cat clip.ts > /dev/null",
    "(d) ffmpeg -i clip.ts -c copy (file)",
    "(d+) (d), then fsync of the MP4 (as (a) does)",
    "(e) cat clip.ts | ffmpeg pipe:0 -c copy",
];
const A: usize = 0;
const B: usize = 1;
const CAT: usize = 2;
const D: usize = 3;
const D_SYNC: usize = 4;

fn run(o: &Options) -> BenchResult<()> {
    print_machine();
    let clip = setup::clip(o)?;
    let ts = std::fs::read(&clip)?;
    let work = WorkDir(
        o.dir
            .join(format!("moment-export-bench.{}", std::process::id())),
    );
    std::fs::create_dir_all(&work.0)?;
    println!(
        "- clip: {} ({:.1} MB, {} s)",
        clip.display(),
        mb(ts.len()),
        o.seconds
    );
    let segments = setup::segments(&ts)?;
    let ring = setup::ring(&work.0, &segments)?;
    println!("- ring: {} segments in {}", segments.len(), ring.display());
    drop(segments);
    let list = setup::segment_files(&work.0, &clip)?;
    let commands = contenders(&work.0, &ring, &list, &clip);
    // Everything is read once untimed, so every contender reads from the page cache.
    let warm = [ring.clone().into_os_string(), clip.clone().into_os_string()];
    measure::run(&"cat".into(), &warm, "warm-up")?;
    let mut costs: Vec<Vec<Cost>> = vec![Vec::new(); NAMES.len()];
    for trial in 1..=o.trials {
        for (i, (program, args)) in commands.iter().enumerate() {
            let cost = contender(i, program, args, &work.0.join("out.mp4"), o.seconds)?;
            let own = cost
                .own_hwm_kib
                .map_or(String::new(), |k| format!(" (exporter {k} KiB)"));
            println!(
                "trial {trial} {:<50} wall {:>6.2} s  cpu {:>6.2} s  max rss {:>7} KiB{own}",
                NAMES[i], cost.wall_s, cost.cpu_s, cost.max_rss_kib
            );
            costs[i].push(cost);
        }
    }
    let cpu = cpu_per_mb(&ts, &clip, o.trials)?;
    report(&costs, &cpu, ts.len());
    Ok(())
}

/// Each contender as a program and its arguments.
fn contenders(dir: &Path, ring: &Path, list: &Path, clip: &Path) -> Vec<(OsString, Vec<OsString>)> {
    let out = dir.join("out.mp4");
    let os = |s: &str| OsString::from(s);
    let words = |s: &str| s.split_whitespace().map(OsString::from).collect::<Vec<_>>();
    let copy = "-c copy -movflags +faststart -f mp4 -y";
    let ffmpeg = "-hide_banner -nostdin -v error";
    let file_remux = format!(
        "ffmpeg {ffmpeg} -i '{}' -map 0 {copy} '{}'",
        clip.display(),
        out.display()
    );
    let a = vec![os(CHILD_FLAG), ring.into(), out.clone().into()];
    let mut b = words(&format!("{ffmpeg} -f concat -safe 0 -i"));
    b.push(list.into());
    b.extend(words(&format!("-map 0 {copy}")));
    b.push(out.clone().into());
    let mut d = words(&format!("{ffmpeg} -i"));
    d.push(clip.into());
    d.extend(words(&format!("-map 0 {copy}")));
    d.push(out.clone().into());
    let pipe = format!(
        "cat '{}' | ffmpeg -hide_banner -v error -f mpegts -i pipe:0 -map 0:v -map '0:a?' {copy} '{}'",
        clip.display(),
        out.display()
    );
    vec![
        (
            std::env::current_exe().map(Into::into).unwrap_or_default(),
            a,
        ),
        (os("ffmpeg"), b),
        (os("cat"), vec![clip.into()]),
        (os("ffmpeg"), d),
        (
            os("sh"),
            vec![
                os("-c"),
                format!("{file_remux} && sync '{}'", out.display()).into(),
            ],
        ),
        (os("sh"), vec![os("-c"), pipe.into()]),
    ]
}

/// Runs contender `i` after flushing earlier writes (so no contender pays for another's
/// writeback), checks its MP4 is whole and removes it.
fn contender(
    i: usize,
    program: &OsString,
    args: &[OsString],
    out: &Path,
    seconds: u32,
) -> BenchResult<Cost> {
    let status = Command::new("sync").status()?;
    if !status.success() {
        return Err("sync failed".into());
    }
    let cost = measure::run(program, args, NAMES[i])?;
    if i != CAT {
        let got = setup::duration_s(out)?;
        if (got - f64::from(seconds)).abs() > 0.5 {
            return Err(format!("{}: the MP4 lasts {got} s, not {seconds}", NAMES[i]).into());
        }
        std::fs::remove_file(out)?;
    }
    Ok(cost)
}

/// CPU per MB ingested, medians of `trials` (ms/MB): the segmenter in-process on bytes in memory,
/// and reading the file in 64 KiB pieces (what getting the bytes into a process costs).
struct CpuPerMb {
    segmenter: f64,
    read: f64,
}

fn cpu_per_mb(ts: &[u8], clip: &Path, trials: usize) -> BenchResult<CpuPerMb> {
    let per_mb = |cpu_s: f64| cpu_s * 1e3 / mb(ts.len());
    let mut segmenter = Vec::new();
    let mut read = Vec::new();
    for _ in 0..trials {
        let started = measure::thread_cpu_s();
        let count = setup::segments(ts)?.len();
        segmenter.push(per_mb(measure::thread_cpu_s() - started));
        if count == 0 {
            return Err("the segmenter produced nothing".into());
        }
        let mut file = std::fs::File::open(clip)?;
        let mut buf = vec![0u8; 64 << 10];
        let started = measure::thread_cpu_s();
        while std::io::Read::read(&mut file, &mut buf)? > 0 {}
        read.push(per_mb(measure::thread_cpu_s() - started));
    }
    Ok(CpuPerMb {
        segmenter: median(&segmenter),
        read: median(&read),
    })
}

fn report(costs: &[Vec<Cost>], cpu: &CpuPerMb, bytes: usize) {
    let wall = |i: usize| median(&costs[i].iter().map(|c| c.wall_s).collect::<Vec<_>>());
    let cpu_s = |i: usize| median(&costs[i].iter().map(|c| c.cpu_s).collect::<Vec<_>>());
    let rss = |i: usize| costs[i].iter().map(|c| c.max_rss_kib).max().unwrap_or(0);
    println!("\n## Medians (peak RSS: largest of the trials)\n");
    println!("| contender | wall s | CPU s (user+sys) | peak RSS | wall / (d) | wall / (b) |");
    println!("|---|---|---|---|---|---|");
    for (i, name) in NAMES.iter().enumerate() {
        println!(
            "| {name} | {:.2} | {:.2} | {:.1} MiB | {:.2} | {:.2} |",
            wall(i),
            cpu_s(i),
            rss(i) as f64 / 1024.0,
            wall(i) / wall(D),
            wall(i) / wall(B)
        );
    }
    let own = costs[A]
        .iter()
        .filter_map(|c| c.own_hwm_kib)
        .max()
        .unwrap_or(0);
    println!(
        "\nThe exporter process alone (VmHWM, largest of the trials): {:.1} MiB",
        own as f64 / 1024.0
    );
    let cat = cpu_s(CAT) * 1e3 / mb(bytes);
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    let (a_d, a_ds, a_b) = (wall(A) / wall(D), wall(A) / wall(D_SYNC), wall(A) / wall(B));
    println!("\n## Goals\n\n| goal | figure | result |\n|---|---|---|");
    println!(
        "| (a) within 1.3x of (d), wall | {a_d:.2}x | {} |",
        verdict(a_d <= 1.3)
    );
    println!(
        "| (a) within 1.3x of (d+), wall | {a_ds:.2}x | {} |",
        verdict(a_ds <= 1.3)
    );
    println!(
        "| (a) no slower than (b), wall | {a_b:.2}x | {} |",
        verdict(a_b <= 1.0)
    );
    println!(
        "| segmenter CPU per MB ingested | {:.2} ms/MB; cat {cat:.2} ms/MB ({:.1}x); read(2) \
         64 KiB {:.2} ms/MB ({:.1}x) | info |",
        cpu.segmenter,
        cpu.segmenter / cat,
        cpu.read,
        cpu.segmenter / cpu.read
    );
}

fn print_machine() {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let field = |text: &str, key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split(':').nth(1))
            .map_or(String::from("?"), |v| v.trim().to_string())
    };
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("## Machine\n");
    println!(
        "- cpu: {cpus} x {}",
        field(&read("/proc/cpuinfo"), "model name")
    );
    println!("- memory: {}", field(&read("/proc/meminfo"), "MemTotal"));
    println!("- kernel: {}", read("/proc/sys/kernel/osrelease").trim());
    let ffmpeg = Command::new("ffmpeg").arg("-version").output();
    let version = ffmpeg.map(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    });
    println!("- {}", version.unwrap_or_else(|e| format!("ffmpeg: {e}")));
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}
