//! The ring's benchmark program, not a timed test: the goals for the storage engine (append about
//! as fast as the medium takes raw writes, open a full 8 GiB ring quickly after a power cut, stay
//! small in the camera's 512 MB) only mean something on a real disk, so this prints figures for a
//! person to judge and record in docs/performance.md. ci/bench-ring.sh runs it on a loop device.
//!
//! Run: `cargo bench -p moment-ring --bench ring -- [options]` (see `USAGE`). It measures:
//! - append throughput against `dd oflag=direct bs=4M` on the same target, trials interleaved
//!   so a noisy machine hurts both alike, medians reported;
//! - peak RSS of a child process that does nothing but append (its own `wait4` usage, so nothing
//!   the parent or dd did counts);
//! - open (recovery) time of a full 8 GiB ring on a sparse file: clean stop, cold and warm cache,
//!   O_DIRECT as on the camera, and after a simulated power cut that loses one index write;
//! - write amplification and metadata wear of one hour of 10 Mbit/s recording on a real 8 GiB
//!   ring, first after format and again once the ring wraps: bytes per region, index and tail
//!   writes, syncs, and how the tail and index writes spread over blocks.

// One module per measurement keeps each file short (DESIGN.md §11); `#[path]` keeps them out of
// Cargo's bench auto-discovery, which would build every benches/*.rs as a bench of its own.
#[path = "ring/recovery.rs"]
mod recovery;
#[path = "ring/throughput.rs"]
mod throughput;
#[path = "ring/wear.rs"]
mod wear;

use moment_ring::device::SplitMix64;
use moment_ring::{flags, Device, Geometry, Ring, SegmentMeta};
use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

type BenchResult<T> = Result<T, Box<dyn Error>>;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// Hidden flag: this process is the appending child whose peak RSS the parent measures.
const CHILD_FLAG: &str = "--append-child";
const SEGMENT_DURATION_US: u64 = 5_000_000;

const USAGE: &str = "\
usage: cargo bench -p moment-ring --bench ring -- [options]
  --target PATH          file or block device to OVERWRITE for the throughput figures
                         (default: a temporary file in --dir)
  --dir DIR              where temporary files go (default /var/tmp); they are removed at
                         the end, but a killed run leaves moment-ring-*.img behind
  --bytes N              payload to append per trial, K/M/G suffixes (default 2G)
  --segment N            payload bytes per segment (default 6250000: 5 s at 10 Mbit/s)
  --trials N             interleaved dd and ring trials (default 3)
  --full-ring-path PATH  new file for the 8 GiB recovery test (default: temporary in --dir)
  --only LIST            run only these parts, comma-separated: throughput, recovery, wear
                         (e.g. `--only wear`, about 15 s on the dev VM; the wear test fills an 8 GiB
                         file in --dir)
  --skip-throughput      leave out the throughput and RSS test
  --skip-recovery        leave out the full-ring recovery test
  --skip-wear            leave out the write amplification and wear test
  --force                overwrite a --target that holds a filesystem or other data";

/// Command-line options; cargo's own `--bench` is accepted and ignored.
struct Args {
    target: Option<PathBuf>,
    dir: PathBuf,
    bytes: u64,
    segment: u64,
    trials: usize,
    full_ring_path: Option<PathBuf>,
    skip_throughput: bool,
    skip_recovery: bool,
    skip_wear: bool,
    force: bool,
    child: bool,
    count: u64,
}

impl Args {
    fn parse(mut argv: impl Iterator<Item = String>) -> BenchResult<Args> {
        let mut args = Args {
            target: None,
            dir: PathBuf::from("/var/tmp"),
            bytes: 2 * GIB,
            segment: 6_250_000,
            trials: 3,
            full_ring_path: None,
            skip_throughput: false,
            skip_recovery: false,
            skip_wear: false,
            force: false,
            child: false,
            count: 0,
        };
        while let Some(flag) = argv.next() {
            let mut value = || argv.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
            match flag.as_str() {
                "--bench" => {}
                "--target" => args.target = Some(value()?.into()),
                "--dir" => args.dir = value()?.into(),
                "--bytes" => args.bytes = parse_size(&value()?)?,
                "--segment" => args.segment = parse_size(&value()?)?,
                "--trials" => args.trials = parse_size(&value()?)?.clamp(1, 99) as usize,
                "--full-ring-path" => args.full_ring_path = Some(value()?.into()),
                "--skip-throughput" => args.skip_throughput = true,
                "--skip-recovery" => args.skip_recovery = true,
                "--skip-wear" => args.skip_wear = true,
                "--only" => args.only(&value()?)?,
                "--force" => args.force = true,
                CHILD_FLAG => args.child = true,
                "--count" => args.count = parse_size(&value()?)?,
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown option {other}\n{USAGE}").into()),
            }
        }
        if args.segment == 0 || args.bytes < args.segment {
            return Err("--segment must be at least 1 and at most --bytes".into());
        }
        Ok(args)
    }

    /// `--only a,b`: every part not named is skipped.
    fn only(&mut self, list: &str) -> BenchResult<()> {
        let parts: Vec<&str> = list.split(',').map(str::trim).collect();
        if let Some(unknown) = parts
            .iter()
            .find(|p| !["throughput", "recovery", "wear"].contains(p))
        {
            return Err(format!("--only: unknown part {unknown}\n{USAGE}").into());
        }
        self.skip_throughput = !parts.contains(&"throughput");
        self.skip_recovery = !parts.contains(&"recovery");
        self.skip_wear = !parts.contains(&"wear");
        Ok(())
    }
}

/// "6250000", "4K", "256M", "2G" (binary multiples).
fn parse_size(text: &str) -> BenchResult<u64> {
    let (digits, shift) = match text.trim_end_matches("iB").trim_end_matches('B') {
        t if t.ends_with(['k', 'K']) => (&t[..t.len() - 1], 10),
        t if t.ends_with('M') => (&t[..t.len() - 1], 20),
        t if t.ends_with('G') => (&t[..t.len() - 1], 30),
        t => (t, 0),
    };
    let n: u64 = digits.parse().map_err(|_| format!("not a size: {text}"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("size too large: {text}").into())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench ring: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> BenchResult<()> {
    let args = Args::parse(std::env::args().skip(1))?;
    if args.child {
        return throughput::append_child(&args);
    }
    print_machine();
    let mut summary = Vec::new();
    if !args.skip_throughput {
        summary.extend(throughput::throughput(&args)?);
    }
    if !args.skip_recovery {
        summary.extend(recovery::recovery(&args)?);
    }
    if !args.skip_wear {
        summary.extend(wear::wear(&args)?);
    }
    print_summary(&summary);
    Ok(())
}

/// One line of the final table.
struct Row {
    figure: String,
    value: String,
    goal: &'static str,
    pass: bool,
}

fn print_summary(rows: &[Row]) {
    println!("\n## Summary\n");
    println!("| figure | value | goal | result |\n|---|---|---|---|");
    for row in rows {
        let result = if row.pass { "PASS" } else { "MISS" };
        println!(
            "| {} | {} | {} | {result} |",
            row.figure, row.value, row.goal
        );
    }
}

/// What the figures depend on besides the code, so runs on different machines are comparable.
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
        "- cpu: {} x {}",
        cpus,
        field(&read("/proc/cpuinfo"), "model name")
    );
    println!("- memory: {}", field(&read("/proc/meminfo"), "MemTotal"));
    println!("- kernel: {}", read("/proc/sys/kernel/osrelease").trim());
}

/// A file removed when the benchmark ends, however it ends.
struct TempPath(PathBuf);

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Appends segments `first..first + count`; each payload differs in its first bytes so no two
/// segments are identical, without refilling the buffer inside the timed loop.
fn append_segments<D: Device>(
    ring: &mut Ring<D>,
    payload: &mut [u8],
    first: u64,
    count: u64,
) -> BenchResult<()> {
    for i in first..first + count {
        let stamp = i.to_le_bytes();
        let n = stamp.len().min(payload.len());
        payload[..n].copy_from_slice(&stamp[..n]);
        ring.append(&meta_for(i), payload)?;
    }
    Ok(())
}

fn meta_for(i: u64) -> SegmentMeta {
    let start = i * SEGMENT_DURATION_US;
    let pts = start * 9 / 100 % (1 << 33);
    SegmentMeta {
        utc_start_us: 1_700_000_000_000_000 + start as i64,
        mono_start_us: start,
        duration_us: SEGMENT_DURATION_US,
        pts_first: Some(pts),
        pts_last: Some(pts + SEGMENT_DURATION_US * 9 / 100),
        flags: flags::TIME_SYNCED | flags::KEYFRAME_START,
        continuity_errors: 0,
    }
}

/// Pseudo-random bytes: zeros would flatter any layer that compresses or dedups.
fn random_bytes(len: u64, seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64(seed);
    let mut bytes = vec![0u8; len as usize];
    for chunk in bytes.chunks_mut(8) {
        let word = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
    bytes
}

fn print_geometry(g: &Geometry) {
    println!(
        "- geometry: device {:.1} MiB, data area {:.1} MiB at {} KiB, {} index slots, largest \
         segment {} MiB",
        g.device_len as f64 / MIB as f64,
        g.data_len as f64 / MIB as f64,
        g.data_off / 1024,
        g.slot_count,
        g.max_segment_bytes / MIB
    );
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn median<T: Copy + PartialOrd>(values: &[T]) -> T {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    sorted[sorted.len() / 2]
}
