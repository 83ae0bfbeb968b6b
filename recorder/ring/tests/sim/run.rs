//! The moving parts the fault modes share: formatting a seed's ring, running appends against the
//! model until the power fails, and turning what the device held into the image found at power-up.
//!
//! Appends are pipelined: `append` returns before the segment is durable. The model therefore
//! keeps two states: `base`, what must survive (segments the ring reported durable), and the
//! segments appended since (`Outcome::pending`), which a power cut may take, newest first.

use super::check;
use super::content;
use super::model::{Model, Planned};
use super::probe::{Op, Probe};
use super::workload::Setup;
use moment_ring::device::SplitMix64;
use moment_ring::{
    format, Error, FaultPlan, FormatOptions, Geometry, MemDevice, OpenOptions, Ring,
};
use std::sync::Arc;

/// Operations drawn from when cutting the power during open: its reads plus the repair writes
/// (superblock copies, the tail with the open's epoch, one slot block per rolled-forward segment,
/// each with its sync). An open that rolls three segments forward takes about 18.
const OPEN_OPS: u64 = 20;
/// Most power cuts during one power-up's recoveries, each cutting the repair of the last.
const NESTED_OPEN_CUTS: u32 = 3;

/// What a seed exercised, summed over all seeds for the final report.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub crashes: u64,
    pub torn_writes: u64,
    pub cut_syncs: u64,
    pub cut_reads: u64,
    pub in_open: u64,
    /// Cuts during an open that recovered what an earlier cut open left.
    pub nested_in_open: u64,
    pub after_last_sync: u64,
    pub appends: u64,
    pub rolled_forward: u64,
    pub big_rings: u64,
    /// Cuts while a background flush was running and later writes had gone out.
    pub flush_cuts: u64,
    /// Runs in which a sync failed (EIO) and the ring failed closed.
    pub sync_failures: u64,
    /// The most segments one recovery rolled forward.
    pub most_rolled_forward: u64,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.crashes += other.crashes;
        self.torn_writes += other.torn_writes;
        self.cut_syncs += other.cut_syncs;
        self.cut_reads += other.cut_reads;
        self.in_open += other.in_open;
        self.nested_in_open += other.nested_in_open;
        self.after_last_sync += other.after_last_sync;
        self.appends += other.appends;
        self.rolled_forward += other.rolled_forward;
        self.big_rings += other.big_rings;
        self.flush_cuts += other.flush_cuts;
        self.sync_failures += other.sync_failures;
        self.most_rolled_forward = self.most_rolled_forward.max(other.most_rolled_forward);
    }

    /// Counts one power cut by the operation it hit (none: the run ended first).
    pub fn crash(&mut self, cut: Option<Op>) {
        self.crashes += 1;
        match cut {
            Some(Op::Write(_)) => self.torn_writes += 1,
            Some(Op::Sync | Op::StartSync | Op::WaitSync) => self.cut_syncs += 1,
            Some(Op::Read) => self.cut_reads += 1,
            None => self.after_last_sync += 1,
        }
    }
}

/// A freshly formatted in-memory ring for `setup`, with an identity drawn from the seed so the
/// bytes on the device replay exactly.
pub fn formatted(setup: &Setup, rng: &mut SplitMix64) -> Result<(MemDevice, Geometry), String> {
    let mem = MemDevice::new(setup.device_len);
    let mut ring_id = [0u8; 16];
    ring_id[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    ring_id[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    let options = FormatOptions {
        slot_count: Some(setup.slot_count),
        max_segment_bytes: Some(setup.max_segment_bytes),
        ring_id: Some(ring_id),
        ..FormatOptions::default()
    };
    let geometry = format(&mem, &options).map_err(|e| format!("format {setup:?}: {e}"))?;
    Ok((mem, geometry))
}

/// The image a power cut leaves: synced bytes, plus each unsynced sector old or new.
pub fn power_up(mem: &MemDevice, rng: &mut SplitMix64) -> MemDevice {
    MemDevice::from_image(mem.crash_image(rng.next_u64()))
}

/// One run between crashes: which seed's bytes, which attempt at each seq.
pub struct Run<'a> {
    pub seed: u64,
    pub attempt: u32,
    pub lens: &'a [u64],
    pub verbose: bool,
}

/// One append in this many is followed by `flush()`.
const FLUSH_EVERY: u64 = 16;
/// The salt's attempt number for the flush draw, so it never collides with a payload's.
const FLUSH_ATTEMPT: u32 = u32::MAX;

/// What a run left for the checks after the power cut.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Segments appended but not reported durable, in order; the last may be the append that
    /// failed (partly written, or not at all).
    pub pending: Vec<Planned>,
    /// Every segment of the run, durable or not, in order (to map durable bytes to segments).
    pub sent: Vec<Planned>,
    /// The highest `durable_seq` the ring reported.
    pub durable: u64,
}

impl Outcome {
    /// The newest segment of the run whose data a finished sync covered (`durable_bytes` of data
    /// written since the run began): recovery must return it. Segments go out in order, so the
    /// bytes of the first k segments are the first bytes written.
    pub fn must_survive(&self, durable_bytes: u64) -> Option<u64> {
        let mut total = 0;
        let mut newest = None;
        for planned in &self.sent {
            total += planned.seg.extent();
            if total > durable_bytes {
                break;
            }
            newest = Some(planned.seg.seq);
        }
        newest
    }
}

/// Appends `run.lens` in order, checking each acknowledgement against the model, until an append
/// (or a flush, drawn now and then) fails. `base` follows the ring's `durable_seq`; `written`
/// sees every version before it is sent.
///
/// The device operations, and so the crash image, replay exactly by seed: the I/O thread issues
/// them in queue order and the fault plan counts them. When the writer notices a cut (which
/// append fails) and what `durable_seq` says in between depend on thread timing; the checks hold
/// for every such observation.
pub fn append_until_cut(
    ring: &mut Ring<Arc<Probe>>,
    probe: &Probe,
    base: &mut Model,
    run: &Run<'_>,
    mut written: impl FnMut(&Planned),
) -> Result<Outcome, String> {
    let mut ahead = base.clone();
    let mut out = Outcome {
        durable: ring.durable_seq(),
        ..Outcome::default()
    };
    let mut payload = Vec::new();
    for &len in run.lens {
        let planned = ahead.plan(len, run.attempt);
        let seq = planned.seg.seq;
        let salt = content::salt(run.seed, seq, run.attempt);
        content::fill(&mut payload, len as usize, salt);
        written(&planned);
        out.sent.push(planned.clone());
        out.pending.push(planned.clone());
        let result = ring.append(&content::meta(salt, seq), &payload);
        let result = match result {
            Ok(info) => {
                check::acknowledged(ring, &info, &planned)?;
                ahead.commit(&planned);
                // Now and then the recorder waits for everything (a deterministic observation).
                let flush = content::salt(run.seed, seq, FLUSH_ATTEMPT) % FLUSH_EVERY == 0;
                if flush {
                    ring.flush().map(|()| true)
                } else {
                    Ok(false)
                }
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(flushed) => {
                settle(ring, base, &ahead, &mut out)?;
                ensure!(
                    !flushed || out.durable == seq,
                    "after flush() durable_seq is {}, not the newest {seq}",
                    out.durable
                );
            }
            Err(e) => {
                ensure!(
                    probe.powered_off() || probe.sync_failed(),
                    "append of {seq} failed without a power cut or a failed sync: {e}"
                );
                if run.verbose {
                    eprintln!(
                        "  append {seq} failed: {e}; cut at {:?} (op {}), reported durable {}",
                        probe.failed_op(),
                        probe.ops().saturating_sub(1),
                        out.durable
                    );
                }
                return Ok(out);
            }
        }
    }
    Ok(out)
}

/// Reads what the ring reports after an append: readers see exactly the segments up to a
/// durable one, and segments reported durable move from pending to `base`.
fn settle(
    ring: &Ring<Arc<Probe>>,
    base: &mut Model,
    ahead: &Model,
    out: &mut Outcome,
) -> Result<(), String> {
    let stats = ring.stats();
    let listed = ring.reader().segments();
    // Read last: it only grows, so what readers saw above must be within it.
    let durable = ring.durable_seq();
    let newest = ahead.newest().unwrap_or(0);
    ensure!(
        out.durable <= durable && durable <= newest,
        "durable_seq went from {} to {durable} with {newest} appended",
        out.durable
    );
    let visible = stats.newest_seq.unwrap_or(0);
    let listed_newest = listed.last().map_or(0, |s| s.seq);
    ensure!(
        listed_newest <= durable,
        "readers list segment {listed_newest}, but only {durable} is durable"
    );
    ensure!(
        visible <= durable && stats.used_bytes == ahead.used_upto(visible),
        "readers see up to {visible} using {} bytes; durable {durable}, the model has {} bytes \
         up to {visible}",
        stats.used_bytes,
        ahead.used_upto(visible)
    );
    out.durable = durable;
    while out.pending.first().is_some_and(|p| p.seg.seq <= durable) {
        base.commit(&out.pending.remove(0));
    }
    Ok(())
}

/// Sometimes cuts the power while a reopen recovers and repairs, then powers up again; up to
/// `NESTED_OPEN_CUTS` times in a row, so a recovery can be cut while it repairs what a cut
/// recovery left. With `may_refuse` (a hostile image), an open may also refuse the device for
/// what it holds, never for an I/O error nobody injected.
pub fn cut_opens(
    mut mem: MemDevice,
    geometry: &Geometry,
    rng: &mut SplitMix64,
    tally: &mut Tally,
    verbose: bool,
    may_refuse: bool,
) -> Result<MemDevice, String> {
    for depth in 0..NESTED_OPEN_CUTS {
        if rng.below(4) != 0 {
            break;
        }
        let probe = Probe::new(mem.clone(), geometry);
        let cut = rng.below(OPEN_OPS);
        probe.arm(FaultPlan {
            seed: rng.next_u64(),
            power_cut_at: Some(cut),
            ..FaultPlan::default()
        });
        if let Err(e) = Ring::open(Arc::clone(&probe), OpenOptions::default()) {
            let refused = may_refuse && !matches!(e, Error::Io { .. });
            ensure!(
                probe.powered_off() || refused,
                "open failed without a power cut: {e}"
            );
        }
        if !probe.powered_off() {
            break;
        }
        if verbose {
            eprintln!(
                "  power cut during open (depth {depth}) at op {cut}: {:?}",
                probe.failed_op()
            );
        }
        tally.crash(probe.failed_op());
        tally.in_open += 1;
        if depth > 0 {
            tally.nested_in_open += 1;
        }
        mem = power_up(&mem, rng);
    }
    Ok(mem)
}
