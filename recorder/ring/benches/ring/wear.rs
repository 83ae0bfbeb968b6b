//! Write amplification and metadata wear of one hour of 10 Mbit/s recording (issue 22): how many
//! bytes the ring puts on the card per media byte, and how often each tail and index block is
//! rewritten, since a small block rewritten all day is what wears an SD card out. The device is
//! wrapped in a counter that sees only the public `Device` trait, so the figures stay honest
//! whatever the on-disk format becomes; the ring under it is a real one on an 8 GiB sparse file.

use crate::recovery::free_bytes;
use crate::{append_segments, mb, print_geometry, random_bytes, Args, BenchResult, Row, GIB};
use crate::{TempPath, SEGMENT_DURATION_US};
use moment_ring::{
    format, Device, DirectIo, FileDevice, FormatOptions, Geometry, OpenOptions, Ring, SyncDone,
    BLOCK, SLOT_SIZE,
};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// The camera's partition size, so the metadata areas are the camera's too.
const WEAR_RING_BYTES: u64 = 8 * GIB;
/// 5 s at 10 Mbit/s, the recorder's segment.
const SEGMENT_PAYLOAD: u64 = 6_250_000;
/// One hour of 5 s segments.
const HOUR_SEGMENTS: u64 = 3600 * 1_000_000 / SEGMENT_DURATION_US;
const WA_GOAL: f64 = 1.02;
/// 365.25 days, for the per-year extrapolation.
const HOURS_PER_YEAR: f64 = 8766.0;
/// The sparse file ends up fully written (the fill wraps the data area).
const WEAR_FREE: u64 = 9 * GIB;

/// The parts of the geometry a write can land in, in table order.
const REGIONS: [&str; 5] = [
    "superblocks",
    "tail blocks",
    "index slot table",
    "data area",
    "other (alignment gaps)",
];
const SUPERBLOCK: usize = 0;
const TAIL: usize = 1;
const INDEX: usize = 2;
const DATA: usize = 3;
const OTHER: usize = 4;

/// What the ring asked of the device during one phase.
#[derive(Clone, Debug, Default)]
struct Counts {
    /// Write calls per region (by the region of the call's first byte).
    calls: [u64; 5],
    /// Bytes written per region.
    bytes: [u64; 5],
    syncs: u64,
    background_syncs: u64,
    /// Writes per 4096-byte block of the metadata area [0, data_off), by block number: the
    /// tail and index blocks are rewritten in place, so their counts are the wear.
    meta_blocks: Vec<u64>,
}

impl Counts {
    fn total_bytes(&self) -> u64 {
        self.bytes.iter().sum()
    }

    fn total_syncs(&self) -> u64 {
        self.syncs + self.background_syncs
    }
}

/// The region boundaries (from the public `Geometry`) and the running counts, shared by the
/// counting device and every I/O handle it hands out.
struct Meter {
    /// Half-open byte ranges of each region but `OTHER`, which is whatever none of them holds.
    ranges: Vec<(usize, std::ops::Range<u64>)>,
    meta_end: u64,
    counts: Mutex<Counts>,
}

impl Meter {
    fn new(g: &Geometry) -> Meter {
        let [first, second] = g.superblock_offsets();
        let ranges = vec![
            (SUPERBLOCK, first..first + BLOCK),
            (SUPERBLOCK, second..second + BLOCK),
            (TAIL, g.tail_off..g.index_off),
            (INDEX, g.index_off..g.index_off + g.slot_count * SLOT_SIZE),
            (DATA, g.data_off..g.data_off + g.data_len),
        ];
        let counts = Counts {
            meta_blocks: vec![0; (g.data_off / BLOCK) as usize],
            ..Counts::default()
        };
        Meter {
            ranges,
            meta_end: g.data_off,
            counts: Mutex::new(counts),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        // Plain counters: a panic elsewhere cannot leave them in a state worth refusing.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record_write(&self, offset: u64, len: u64) {
        let end = offset + len;
        let mut counts = self.lock();
        let mut placed = 0;
        let mut call_region = OTHER;
        for (region, range) in &self.ranges {
            let overlap = end.min(range.end).saturating_sub(offset.max(range.start));
            counts.bytes[*region] += overlap;
            placed += overlap;
            if range.contains(&offset) {
                call_region = *region;
            }
        }
        counts.bytes[OTHER] += len - placed;
        counts.calls[call_region] += 1;
        // Only metadata blocks are counted one by one: the data area is written sequentially.
        let first = offset / BLOCK;
        let last = end.min(self.meta_end).div_ceil(BLOCK);
        for block in first..last {
            counts.meta_blocks[block as usize] += 1;
        }
    }

    /// The counts so far, and zero from here on.
    fn take(&self) -> Counts {
        let mut counts = self.lock();
        let blocks = counts.meta_blocks.len();
        std::mem::replace(
            &mut *counts,
            Counts {
                meta_blocks: vec![0; blocks],
                ..Counts::default()
            },
        )
    }
}

/// Forwards every call to `inner` and counts writes and syncs. Its I/O handle counts into the
/// same meter, so the ring's I/O thread (which does nearly all the writing) is counted too.
struct CountingDevice<D> {
    inner: D,
    meter: Arc<Meter>,
}

impl<D: Device> Device for CountingDevice<D> {
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_at(offset, buf)
    }
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.inner.write_at(offset, buf)?;
        self.meter.record_write(offset, buf.len() as u64);
        Ok(())
    }
    fn sync(&self) -> io::Result<()> {
        self.meter.lock().syncs += 1;
        self.inner.sync()
    }
    fn name(&self) -> String {
        self.inner.name()
    }
    fn sync_in_background(&self, done: SyncDone) {
        self.meter.lock().background_syncs += 1;
        self.inner.sync_in_background(done)
    }
    fn wait_background_syncs(&self) -> io::Result<()> {
        self.inner.wait_background_syncs()
    }
    fn io_handle(&self) -> Option<Arc<dyn Device>> {
        let inner = self.inner.io_handle()?;
        let meter = Arc::clone(&self.meter);
        Some(Arc::new(CountingDevice { inner, meter }))
    }
}

/// One counted phase.
struct Phase {
    counts: Counts,
    segments: u64,
    secs: f64,
}

impl Phase {
    fn payload(&self) -> u64 {
        self.segments * SEGMENT_PAYLOAD
    }

    fn amplification(&self) -> f64 {
        self.counts.total_bytes() as f64 / self.payload() as f64
    }
}

pub(crate) fn wear(args: &Args) -> BenchResult<Vec<Row>> {
    println!("\n## Write amplification and metadata wear, one hour at 10 Mbit/s\n");
    let (path, _temp) = wear_file(args)?;
    let file = FileDevice::open(&path, true, DirectIo::On)?;
    let options = FormatOptions {
        force: true,
        ..FormatOptions::default()
    };
    let geometry = format(&file, &options)?;
    print_geometry(&geometry);
    println!(
        "- device: a real {} GiB sparse file ({}) through `FileDevice` with O_DIRECT, as on the \
         camera, wrapped in a counter that forwards every call (data bytes really written)",
        WEAR_RING_BYTES / GIB,
        path.display()
    );
    println!(
        "- one hour: {HOUR_SEGMENTS} segments of {SEGMENT_PAYLOAD} B pseudo-random payload (5 s \
         at 10 Mbit/s) = {:.1} MB of media; each hour ends with `Ring::flush`, so its last index \
         slot is counted in it",
        mb(HOUR_SEGMENTS * SEGMENT_PAYLOAD)
    );
    let meter = Arc::new(Meter::new(&geometry));
    let dev = CountingDevice {
        inner: file,
        meter: Arc::clone(&meter),
    };
    let mut ring = Ring::open(dev, OpenOptions::default())?;
    let mut payload = random_bytes(SEGMENT_PAYLOAD, 4);
    let first = count_hour(&mut ring, &meter, &mut payload, 0)?;
    let filled = fill_until_evicting(&mut ring, &mut payload, HOUR_SEGMENTS)?;
    meter.take();
    let steady = count_hour(&mut ring, &meter, &mut payload, HOUR_SEGMENTS + filled)?;
    let stats = ring.stats();
    ring.close()?;
    if stats.failed.is_some() || stats.oldest_seq <= 1 {
        return Err(format!("the ring did not wrap as planned: {stats:?}").into());
    }
    check_reopen(&path, stats.newest_seq)?;
    println!(
        "- after the steady-state hour: {} live segments, oldest seq {}, newest {:?}; reopened \
         read-only with all of them",
        stats.segment_count, stats.oldest_seq, stats.newest_seq
    );
    print_phases(&[
        ("first hour after format", &first),
        ("steady-state hour", &steady),
    ]);
    print_breakdown(&steady);
    print_spread(&geometry, &steady.counts);
    let row = |label: &str, phase: &Phase| {
        let wa = phase.amplification();
        Row {
            figure: format!("write amplification, {label} (bytes written / media bytes)"),
            value: format!("{wa:.4}"),
            goal: "<= 1.02",
            pass: wa <= WA_GOAL,
        }
    };
    Ok(vec![
        row("first hour after format", &first),
        row("steady-state hour, ring wrapping", &steady),
    ])
}

/// A new sparse 8 GiB file in --dir, after checking the disk has room for filling it.
fn wear_file(args: &Args) -> BenchResult<(PathBuf, TempPath)> {
    let free = free_bytes(&args.dir)?;
    if free < WEAR_FREE {
        return Err(format!(
            "{} has {:.1} GiB free; the wear test fills an 8 GiB file and needs {} GiB: pass \
             --dir on a bigger disk or --skip-wear",
            args.dir.display(),
            free as f64 / GIB as f64,
            WEAR_FREE / GIB
        )
        .into());
    }
    let path = args
        .dir
        .join(format!("moment-ring-wear-{}.img", std::process::id()));
    let file = std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(&path)?;
    let temp = TempPath(path.clone());
    file.set_len(WEAR_RING_BYTES)?;
    Ok((path, temp))
}

/// Reopens the ring and checks the newest segment survived: write counts from a ring that lost
/// data would be worthless.
fn check_reopen(path: &Path, newest: Option<u64>) -> BenchResult<()> {
    let dev = FileDevice::open(path, false, DirectIo::On)?;
    let options = OpenOptions {
        read_only: true,
        ..OpenOptions::default()
    };
    let reopened = Ring::open(dev, options)?.stats();
    if reopened.newest_seq != newest || reopened.failed.is_some() {
        return Err(format!("the ring reopened differently: {reopened:?}").into());
    }
    Ok(())
}

/// Appends one hour of segments from `first` and returns what it wrote. The flush before the
/// counters are taken puts the previous phase's last index slot outside this hour.
fn count_hour<D: Device>(
    ring: &mut Ring<D>,
    meter: &Meter,
    payload: &mut [u8],
    first: u64,
) -> BenchResult<Phase> {
    ring.flush()?;
    meter.take();
    let started = Instant::now();
    append_segments(ring, payload, first, HOUR_SEGMENTS)?;
    ring.flush()?;
    let secs = started.elapsed().as_secs_f64();
    Ok(Phase {
        counts: meter.take(),
        segments: HOUR_SEGMENTS,
        secs,
    })
}

/// Appends (uncounted) until an append has had to evict the oldest segment, so the next hour
/// runs in the steady state the camera lives in: every segment frees room by moving the tail.
/// Returns how many segments it appended.
fn fill_until_evicting<D: Device>(
    ring: &mut Ring<D>,
    payload: &mut [u8],
    next: u64,
) -> BenchResult<u64> {
    let started = Instant::now();
    let extent = BLOCK + SEGMENT_PAYLOAD.div_ceil(BLOCK) * BLOCK;
    // The data area holds at most this many; one more must evict.
    let limit = ring.geometry().data_len / extent + 2;
    for n in 0..limit {
        append_segments(ring, payload, next + n, 1)?;
        if ring.stats().oldest_seq > 1 {
            println!(
                "- fill (not counted): {} more segments until the first eviction, {:.1} GB in \
                 {:.1} s",
                n + 1,
                mb((n + 1) * SEGMENT_PAYLOAD) / 1000.0,
                started.elapsed().as_secs_f64()
            );
            return Ok(n + 1);
        }
    }
    Err(format!("no eviction after {limit} more segments: the ring did not wrap").into())
}

/// The per-hour table, one column per phase.
fn print_phases(phases: &[(&str, &Phase)]) {
    let header: Vec<&str> = phases.iter().map(|(label, _)| *label).collect();
    println!("\n| per hour | {} |", header.join(" | "));
    println!("|---|{}", "---|".repeat(phases.len()));
    let line = |figure: &str, value: &dyn Fn(&Phase) -> String| {
        let cells: Vec<String> = phases.iter().map(|(_, p)| value(p)).collect();
        println!("| {figure} | {} |", cells.join(" | "));
    };
    line("media payload", &|p| {
        format!("{} B ({:.1} MB)", p.payload(), mb(p.payload()))
    });
    for (region, name) in REGIONS.iter().enumerate() {
        line(&format!("written to {name}"), &|p| {
            format!(
                "{} B in {} writes",
                p.counts.bytes[region], p.counts.calls[region]
            )
        });
    }
    line("written in all", &|p| {
        format!(
            "{} B ({:.1} MB)",
            p.counts.total_bytes(),
            mb(p.counts.total_bytes())
        )
    });
    line("**write amplification** (goal <= 1.02)", &|p| {
        format!("**{:.5}**", p.amplification())
    });
    line("index-slot writes", &|p| p.counts.calls[INDEX].to_string());
    line("tail writes", &|p| p.counts.calls[TAIL].to_string());
    line("syncs (fdatasync: foreground + background)", &|p| {
        format!(
            "{} ({} + {})",
            p.counts.total_syncs(),
            p.counts.syncs,
            p.counts.background_syncs
        )
    });
    line("wall time of the hour's appends here", &|p| {
        format!("{:.1} s", p.secs)
    });
}

/// Where the bytes beyond the media go, as parts of the amplification.
fn print_breakdown(phase: &Phase) {
    let payload = phase.payload() as f64;
    let bytes = &phase.counts.bytes;
    let overhead = bytes[DATA].saturating_sub(phase.payload());
    println!(
        "\nSteady-state amplification, part by part (bytes / media bytes): 1 (media) + {:.5} \
         (data area beyond the payload: header block and padding to 4096, {} B per segment) + \
         {:.5} (index slots) + {:.5} (tail) + {:.5} (superblocks) + {:.5} (other) = {:.5}",
        overhead as f64 / payload,
        overhead / phase.segments,
        bytes[INDEX] as f64 / payload,
        bytes[TAIL] as f64 / payload,
        bytes[SUPERBLOCK] as f64 / payload,
        bytes[OTHER] as f64 / payload,
        phase.amplification()
    );
}

/// How the steady-state hour's tail and index writes spread over blocks: an SD card remaps
/// logical blocks, but a block rewritten every few seconds still costs it an erase cycle
/// somewhere each time it must move.
fn print_spread(g: &Geometry, counts: &Counts) {
    println!(
        "\n| steady-state hour | blocks in area | blocks written | writes | max per block | mean \
         per written block | per block per year, spread over the area | hottest block per year \
         at this hour's rate |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let areas = [
        ("tail", g.tail_off..g.index_off),
        ("index", g.index_off..g.index_off + g.slot_count * SLOT_SIZE),
    ];
    for (name, range) in areas {
        let blocks = &counts.meta_blocks[(range.start / BLOCK) as usize..]
            [..(range.end - range.start).div_ceil(BLOCK) as usize];
        let written: Vec<u64> = blocks.iter().copied().filter(|&n| n > 0).collect();
        let writes: u64 = written.iter().sum();
        let max = written.iter().copied().max().unwrap_or(0);
        let mean = writes as f64 / written.len().max(1) as f64;
        println!(
            "| {name} | {} | {} | {writes} | {max} | {mean:.1} | {:.0} | {:.0} |",
            blocks.len(),
            written.len(),
            writes as f64 * HOURS_PER_YEAR / blocks.len() as f64,
            max as f64 * HOURS_PER_YEAR
        );
    }
    println!(
        "\n(\"Spread over the area\" assumes the writes rotate over every block of it in the long \
         run: true of the index, whose slot is seq mod {} slots, and of the two tail blocks, \
         which alternate. Per year = per hour x {HOURS_PER_YEAR} h of recording.)",
        g.slot_count
    );
}
