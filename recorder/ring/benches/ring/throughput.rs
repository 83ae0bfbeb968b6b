//! Append throughput against dd on the same target, and the appending process's peak RSS. Each
//! ring trial runs in a child process (this program again, with a hidden flag) so its RSS is its
//! own and not the parent's or dd's.

use crate::{
    append_segments, mb, median, print_geometry, random_bytes, Args, BenchResult, Row, TempPath,
    CHILD_FLAG, MIB,
};
use moment_ring::{
    detect_existing, format, Device, DirectIo, FileDevice, FormatOptions, OpenOptions, Ring, BLOCK,
};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// dd's block size (the engine writes at most 2 MiB at a time, ring.rs WRITE_CHUNK).
const DD_BLOCK: u64 = 4 * MIB;

/// How much each trial writes, derived from --bytes and --segment.
struct Plan {
    segment: u64,
    count: u64,
    /// Bytes the ring writes: per segment its extent (header block + padded payload) and one
    /// index block.
    ring_bytes: u64,
    dd_blocks: u64,
}

impl Plan {
    fn new(bytes: u64, segment: u64) -> Plan {
        let extent = BLOCK + segment.div_ceil(BLOCK) * BLOCK;
        let count = bytes / segment;
        let ring_bytes = count * (extent + BLOCK);
        Plan {
            segment,
            count,
            ring_bytes,
            dd_blocks: ring_bytes.div_ceil(DD_BLOCK),
        }
    }

    fn dd_bytes(&self) -> u64 {
        self.dd_blocks * DD_BLOCK
    }

    fn payload_bytes(&self) -> u64 {
        self.count * self.segment
    }
}

/// One ring trial as the child reported it and the kernel accounted it.
struct ChildRun {
    secs: f64,
    max_rss_kib: u64,
    vm_hwm_kib: u64,
}

pub(crate) fn throughput(args: &Args) -> BenchResult<Vec<Row>> {
    let plan = Plan::new(args.bytes, args.segment);
    let (target, _temp) = throughput_target(args, &plan)?;
    println!("\n## Append throughput\n");
    describe_target(&target)?;
    println!(
        "- per trial: {} segments of {} B payload = {:.1} MB payload, {:.1} MB written by the \
         ring; dd writes {} x 4 MiB = {:.1} MB",
        plan.count,
        plan.segment,
        mb(plan.payload_bytes()),
        mb(plan.ring_bytes),
        plan.dd_blocks,
        mb(plan.dd_bytes())
    );
    // The first write to a fresh file or loop backing file allocates blocks; no trial pays it.
    let warm = run_dd(&target, plan.dd_blocks, "direct")?;
    println!(
        "- warm-up dd (untimed): {:.1} MB/s",
        mb(plan.dd_bytes()) / warm
    );
    let mut trials = Trials::default();
    for trial in 1..=args.trials {
        run_trial(&target, &plan, trial, &mut trials)?;
    }
    verify_ring(&target, &plan)?;
    Ok(throughput_rows(&trials))
}

/// Every trial's figures, for the medians. `dd_dsync` (dd flushing after every 4 MiB block) is
/// not a goal: it shows what durable writes cost on this medium when nothing overlaps the flush,
/// since the ring flushes every segment (in the background) and plain dd never does.
#[derive(Default)]
struct Trials {
    dd: Vec<f64>,
    dd_dsync: Vec<f64>,
    ring: Vec<f64>,
    ring_written: Vec<f64>,
    rss_kib: Vec<u64>,
}

fn run_trial(target: &Path, plan: &Plan, trial: usize, trials: &mut Trials) -> BenchResult<()> {
    let dd = mb(plan.dd_bytes()) / run_dd(target, plan.dd_blocks, "direct")?;
    let dsync = mb(plan.dd_bytes()) / run_dd(target, plan.dd_blocks, "direct,dsync")?;
    let child = run_append_child(target, plan)?;
    let ring = mb(plan.payload_bytes()) / child.secs;
    let written = mb(plan.ring_bytes) / child.secs;
    println!(
        "- trial {trial}: dd {dd:.1} MB/s, dd dsync {dsync:.1} MB/s | ring {ring:.1} MB/s \
         payload ({written:.1} MB/s written) | ring/dd {:.3} | child max RSS {} KiB (VmHWM {} \
         KiB)",
        ring / dd,
        child.max_rss_kib,
        child.vm_hwm_kib
    );
    trials.dd.push(dd);
    trials.dd_dsync.push(dsync);
    trials.ring.push(ring);
    trials.ring_written.push(written);
    trials.rss_kib.push(child.max_rss_kib);
    Ok(())
}

fn throughput_rows(trials: &Trials) -> Vec<Row> {
    let (dd, dsync) = (median(&trials.dd), median(&trials.dd_dsync));
    let (ring, written) = (median(&trials.ring), median(&trials.ring_written));
    let ratio = ring / dd;
    let peak = trials.rss_kib.iter().copied().max().unwrap_or(0) as f64 / 1024.0;
    println!(
        "- medians: dd {dd:.1} MB/s, dd dsync {dsync:.1} MB/s, ring {ring:.1} MB/s payload \
         ({written:.1} MB/s written); ring/dd {ratio:.3}, ring/dd-dsync {:.3}; peak RSS {peak:.1} \
         MiB",
        ring / dsync
    );
    vec![
        Row {
            figure: "append throughput, ring payload / dd (medians)".into(),
            value: format!("{ratio:.3} ({ring:.0} / {dd:.0} MB/s)"),
            goal: ">= 0.95",
            pass: ratio >= 0.95,
        },
        Row {
            figure: "peak RSS while appending (max of trials)".into(),
            value: format!("{peak:.1} MiB"),
            goal: "< 16 MiB",
            pass: peak < 16.0,
        },
    ]
}

/// The given target (checked for size and for data worth keeping) or a temporary file.
fn throughput_target(args: &Args, plan: &Plan) -> BenchResult<(PathBuf, Option<TempPath>)> {
    let Some(target) = &args.target else {
        let path = args
            .dir
            .join(format!("moment-ring-bench-{}.img", std::process::id()));
        let file = File::options().write(true).create_new(true).open(&path)?;
        let temp = TempPath(path.clone());
        // Room for the ring's superblocks, index and alignment besides the segments.
        file.set_len(plan.dd_bytes() + 64 * MIB)?;
        return Ok((path, Some(temp)));
    };
    let dev = FileDevice::open(target, false, DirectIo::Off)
        .map_err(|e| format!("cannot open --target {}: {e}", target.display()))?;
    if dev.len() < plan.dd_bytes() {
        return Err(format!(
            "{} holds {} bytes; --bytes needs {}: pass a smaller --bytes",
            target.display(),
            dev.len(),
            plan.dd_bytes()
        )
        .into());
    }
    match detect_existing(&dev)? {
        Some(what) if what != "a moment ring" && !args.force => Err(format!(
            "{} holds {what}; the benchmark overwrites it: pass --force if that is intended",
            target.display()
        )
        .into()),
        _ => Ok((target.clone(), None)),
    }
}

fn describe_target(target: &Path) -> BenchResult<()> {
    let block = std::fs::metadata(target)?.file_type().is_block_device();
    let kind = if block {
        "block device"
    } else {
        "regular file"
    };
    println!(
        "- target: {} ({kind}, O_DIRECT for dd and the ring)",
        target.display()
    );
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    let sys = Path::new("/sys/block").join(name.as_ref()).join("loop");
    if let Ok(backing) = std::fs::read_to_string(sys.join("backing_file")) {
        let dio = std::fs::read_to_string(sys.join("dio")).unwrap_or_default();
        println!(
            "- loop device over {} (direct I/O: {})",
            backing.trim(),
            dio.trim()
        );
    }
    Ok(())
}

/// Runs `dd` once with `oflag` and returns its wall time in seconds.
fn run_dd(target: &Path, blocks: u64, oflag: &str) -> BenchResult<f64> {
    let started = Instant::now();
    let status = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", target.display()))
        .arg(format!("oflag={oflag}"))
        .args(["bs=4M", "conv=notrunc", "status=none"])
        .arg(format!("count={blocks}"))
        .status()?;
    let secs = started.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!("dd on {} failed: {status}", target.display()).into());
    }
    Ok(secs)
}

/// Re-runs this program as an appending child and collects its report and its peak RSS.
fn run_append_child(target: &Path, plan: &Plan) -> BenchResult<ChildRun> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg(CHILD_FLAG)
        .arg("--target")
        .arg(target)
        .args(["--segment", &plan.segment.to_string()])
        .args(["--count", &plan.count.to_string()])
        .args(["--bytes", &plan.payload_bytes().to_string()])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut out)?;
    let (status, usage) = wait_with_usage(child.id())?;
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("the appending child failed (wait status {status})").into());
    }
    let mut fields = out
        .split_whitespace()
        .skip_while(|w| *w != "appended")
        .skip(1);
    let mut next = || fields.next().ok_or("the appending child printed no result");
    Ok(ChildRun {
        secs: next()?.parse()?,
        vm_hwm_kib: next()?.parse()?,
        max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
    })
}

/// Reaps one child with `wait4`, whose usage covers that child alone (RUSAGE_CHILDREN would
/// include dd).
fn wait_with_usage(pid: u32) -> io::Result<(libc::c_int, libc::rusage)> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own unreaped child; both pointers are valid for the call.
    if unsafe { libc::wait4(pid, &mut status, 0, &mut usage) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok((status, usage))
}

/// The child: format the target, then append `--count` segments and report the time taken and
/// its own VmHWM. Nothing memory-heavy happens here besides what the recorder would do.
pub(crate) fn append_child(args: &Args) -> BenchResult<()> {
    let target = args
        .target
        .as_ref()
        .ok_or("--append-child needs --target")?;
    let mut payload = random_bytes(args.segment, 1);
    let dev = FileDevice::open(target, true, DirectIo::On)?;
    let options = FormatOptions {
        force: true,
        ..FormatOptions::default()
    };
    format(&dev, &options)?;
    let mut ring = Ring::open(dev, OpenOptions::default())?;
    let started = Instant::now();
    append_segments(&mut ring, &mut payload, 0, args.count)?;
    // Timed until the last segment is durable and indexed, as the dd it is compared with has
    // written everything.
    ring.flush()?;
    let secs = started.elapsed().as_secs_f64();
    if ring.durable_seq() != args.count {
        return Err(format!(
            "after flush only {} segments are durable",
            ring.durable_seq()
        )
        .into());
    }
    println!("appended {secs} {}", vm_hwm_kib()?);
    Ok(())
}

fn vm_hwm_kib() -> BenchResult<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"));
    let kib = line.and_then(|l| l.split_whitespace().nth(1));
    Ok(kib.ok_or("no VmHWM in /proc/self/status")?.parse()?)
}

/// Reopens the last trial's ring and checks every segment landed: a fast figure from a ring that
/// lost data would be worthless.
fn verify_ring(target: &Path, plan: &Plan) -> BenchResult<()> {
    let dev = FileDevice::open(target, false, DirectIo::On)?;
    let options = OpenOptions {
        read_only: true,
        ..OpenOptions::default()
    };
    let ring = Ring::open(dev, options)?;
    print_geometry(ring.geometry());
    let stats = ring.stats();
    if stats.newest_seq != Some(plan.count) || stats.failed.is_some() {
        return Err(format!("the ring after the last trial is wrong: {stats:?}").into());
    }
    println!(
        "- after the last trial: {} live segments, newest seq {}",
        stats.segment_count, plan.count
    );
    Ok(())
}
