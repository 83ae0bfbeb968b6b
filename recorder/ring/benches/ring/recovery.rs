//! Open (recovery) time of a full 8 GiB ring, the camera's partition size: after a clean stop
//! with cold and warm cache, with O_DIRECT as on the camera, and after a simulated power cut that
//! leaves one segment for recovery to roll forward. The fixture is a sparse file filled until the
//! index is full and the data area has wrapped, so recovery does its whole job.

use crate::{
    append_segments, mb, median, print_geometry, random_bytes, Args, BenchResult, Row, TempPath,
    GIB,
};
use moment_ring::{
    format, Device, DirectIo, FileDevice, FormatOptions, Geometry, OpenOptions, RecoveryReport,
    Ring, Stats, BLOCK,
};
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The camera's partition: the recovery figure is about this size.
const FULL_RING_BYTES: u64 = 8 * GIB;
/// 5 s at 400 kbit/s: the smallest segments the default geometry plans for (one per slot), so
/// the index fills before the data area does.
const FULL_RING_PAYLOAD: u64 = 250_000;
/// The full-ring fill writes ~8.8 GB; refuse to start without room for it.
const FULL_RING_FREE: u64 = 10 * GIB;

/// A file device for building the fixture. It skips syncs (the fixture is synced once at the
/// end: 34,000 fsyncs would make the fill take minutes without changing what is on disk) and can
/// lose every index write, which is what a power cut between the data sync and the index write
/// leaves behind.
struct FixtureDevice {
    file: FileDevice,
    lost_index: Option<std::ops::Range<u64>>,
}

impl Device for FixtureDevice {
    fn len(&self) -> u64 {
        self.file.len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_at(offset, buf)
    }
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        match &self.lost_index {
            Some(index) if index.contains(&offset) => Ok(()),
            _ => self.file.write_at(offset, buf),
        }
    }
    fn sync(&self) -> io::Result<()> {
        Ok(())
    }
    fn name(&self) -> String {
        self.file.name()
    }
}

/// The opens timed on the cleanly stopped ring: label, read-only, O_DIRECT, cold cache, runs.
/// O_DIRECT is what the camera uses on its partition; buffered opens show the page cache's part.
const CLEAN_OPENS: [(&str, bool, DirectIo, bool, usize); 4] = [
    (
        "clean stop, writable, buffered, cold cache",
        false,
        DirectIo::Off,
        true,
        3,
    ),
    (
        "clean stop, writable, O_DIRECT",
        false,
        DirectIo::On,
        false,
        5,
    ),
    (
        "clean stop, read-only, O_DIRECT",
        true,
        DirectIo::On,
        false,
        5,
    ),
    (
        "clean stop, writable, buffered, warm cache",
        false,
        DirectIo::Off,
        false,
        5,
    ),
];
const POWER_CUT_RUNS: usize = 3;

pub(crate) fn recovery(args: &Args) -> BenchResult<Vec<Row>> {
    println!(
        "\n## Recovery of a full {} GiB ring\n",
        FULL_RING_BYTES / GIB
    );
    let (path, _temp) = full_ring_file(args)?;
    let geometry = fill_full_ring(&path)?;
    println!("\n| open | runs | min ms | median ms | from_index | rolled_forward | repaired |");
    println!("|---|---|---|---|---|---|---|");
    let mut medians = Vec::new();
    for (label, read_only, direct, cold, runs) in CLEAN_OPENS {
        let open = || timed_open(&path, read_only, direct, cold);
        medians.push(measure(label, runs, open)?);
    }
    let mut payload = random_bytes(args.segment.min(geometry.max_payload_bytes()), 3);
    let label = format!(
        "after a power cut ({} B segment to roll forward), writable, O_DIRECT",
        payload.len()
    );
    let cut = measure(&label, POWER_CUT_RUNS, || {
        cut_power_after_one_append(&path, &geometry, &mut payload)?;
        let (ms, report) = timed_open(&path, false, DirectIo::On, true)?;
        if report.rolled_forward != 1 || !report.repaired {
            return Err(format!("the power cut was not recovered as expected: {report:?}").into());
        }
        Ok((ms, report))
    })?;
    let row = |figure: &str, median_ms: f64| Row {
        figure: format!("open full 8 GiB ring, {figure} (median)"),
        value: format!("{median_ms:.1} ms"),
        goal: "< 200 ms",
        pass: median_ms < 200.0,
    };
    Ok(vec![
        row("clean stop, cold cache", medians[0]),
        row("clean stop, O_DIRECT", medians[1]),
        row("after power cut, O_DIRECT", cut),
    ])
}

/// Runs `open` `runs` times, prints a table row (the report is the last run's) and returns the
/// median in milliseconds.
fn measure(
    label: &str,
    runs: usize,
    mut open: impl FnMut() -> BenchResult<(f64, RecoveryReport)>,
) -> BenchResult<f64> {
    let mut times = Vec::new();
    let mut report = RecoveryReport::default();
    for _ in 0..runs {
        let (ms, last) = open()?;
        times.push(ms);
        report = last;
    }
    let min = times.iter().copied().fold(f64::MAX, f64::min);
    let median = median(&times);
    println!(
        "| {label} | {runs} | {min:.1} | {median:.1} | {} | {} | {} |",
        report.from_index, report.rolled_forward, report.repaired
    );
    Ok(median)
}

/// A new sparse 8 GiB file, after checking the disk has room for filling it.
fn full_ring_file(args: &Args) -> BenchResult<(PathBuf, Option<TempPath>)> {
    let (path, temp) = match &args.full_ring_path {
        Some(path) => (path.clone(), None),
        None => {
            let path = args
                .dir
                .join(format!("moment-ring-full-{}.img", std::process::id()));
            (path.clone(), Some(TempPath(path)))
        }
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let free = free_bytes(dir)?;
    if free < FULL_RING_FREE {
        return Err(format!(
            "{} has {:.1} GiB free; the full-ring test writes ~8.8 GB and needs {} GiB: pass \
             --full-ring-path on a bigger disk or --skip-recovery",
            dir.display(),
            free as f64 / GIB as f64,
            FULL_RING_FREE / GIB
        )
        .into());
    }
    let file = File::options().write(true).create_new(true).open(&path)?;
    file.set_len(FULL_RING_BYTES)?;
    Ok((path, temp))
}

pub(crate) fn free_bytes(dir: &Path) -> BenchResult<u64> {
    let c_path = CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: statvfs is plain old data; all-zero is a valid value.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is NUL-terminated and stat is a valid out pointer for the call.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(io::Error::last_os_error().into());
    }
    // The field types are u32 on some 32-bit targets (the camera's is aarch64, but not every CI).
    #[allow(clippy::useless_conversion)]
    Ok(u64::from(stat.f_bavail) * u64::from(stat.f_frsize))
}

/// Formats with defaults and appends until the index is full and the data area has wrapped.
fn fill_full_ring(path: &Path) -> BenchResult<Geometry> {
    let started = Instant::now();
    let file = FileDevice::open(path, true, DirectIo::Off)?;
    let dev = FixtureDevice {
        file,
        lost_index: None,
    };
    let options = FormatOptions {
        force: true,
        ..FormatOptions::default()
    };
    let geometry = format(&dev, &options)?;
    print_geometry(&geometry);
    let extent = BLOCK + FULL_RING_PAYLOAD.div_ceil(BLOCK) * BLOCK;
    let count =
        (geometry.data_len.div_ceil(extent)).max(geometry.slot_count) + geometry.slot_count / 32;
    let mut ring = Ring::open(dev, OpenOptions::default())?;
    append_segments(&mut ring, &mut random_bytes(FULL_RING_PAYLOAD, 2), 0, count)?;
    ring.flush()?;
    let stats = ring.stats();
    drop(ring);
    drop_cache(path)?;
    println!(
        "- fill: {count} segments of {FULL_RING_PAYLOAD} B ({:.1} GB, the data area wrapped) in \
         {:.1} s with page cache and one final fdatasync",
        mb(count * extent) / 1000.0,
        started.elapsed().as_secs_f64()
    );
    check_full(&stats, &geometry)?;
    Ok(geometry)
}

fn check_full(stats: &Stats, geometry: &Geometry) -> BenchResult<()> {
    println!(
        "- live segments: {} of {} slots",
        stats.segment_count, geometry.slot_count
    );
    if stats.segment_count != geometry.slot_count || stats.failed.is_some() {
        return Err(format!("the fixture is not a full ring: {stats:?}").into());
    }
    Ok(())
}

/// Writes back and evicts the file's cached pages, so the next buffered open reads the disk.
fn drop_cache(path: &Path) -> BenchResult<()> {
    let file = File::options().read(true).write(true).open(path)?;
    file.sync_data()?;
    // SAFETY: the descriptor is open for the duration of the call.
    let err = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if err != 0 {
        return Err(io::Error::from_raw_os_error(err).into());
    }
    Ok(())
}

/// Times one open, device open included, after evicting the file from the page cache if `cold`.
fn timed_open(
    path: &Path,
    read_only: bool,
    direct: DirectIo,
    cold: bool,
) -> BenchResult<(f64, RecoveryReport)> {
    if cold {
        drop_cache(path)?;
    }
    let options = OpenOptions {
        read_only,
        ..OpenOptions::default()
    };
    let started = Instant::now();
    let ring = Ring::open(FileDevice::open(path, !read_only, direct)?, options)?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let report = ring.recovery().clone();
    if ring.stats().segment_count + 64 < ring.geometry().slot_count {
        return Err(format!("the ring is no longer full after this open: {report:?}").into());
    }
    Ok((ms, report))
}

/// Appends one segment whose index write is lost while its data and the tail pointer land (its
/// slot is written by the flush when the ring is dropped): the usual state after a power cut,
/// the newest durable segment unindexed. The next writable open must roll it forward and repair
/// the index.
fn cut_power_after_one_append(path: &Path, g: &Geometry, payload: &mut [u8]) -> BenchResult<()> {
    let file = FileDevice::open(path, true, DirectIo::Off)?;
    let lost_index = Some(g.index_off..g.data_off);
    let mut ring = Ring::open(FixtureDevice { file, lost_index }, OpenOptions::default())?;
    let next = ring.stats().newest_seq.unwrap_or(0) + 1;
    append_segments(&mut ring, payload, next, 1)?;
    Ok(())
}
