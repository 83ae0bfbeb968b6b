//! One seed of the hostile simulation: on top of a power cut, one write lands at the wrong place,
//! the recoveries of that image may be cut in turn (nested, as in the power-cut mode), and reads
//! flip bits while the ring recovers and is read back. Segments may be lost here, so the
//! checks are the ones no fault may break: nothing panics, the ring stays contiguous, and every
//! read that succeeds returns bytes that really were written as that segment.

use super::content;
use super::model::{Model, Seg};
use super::probe::Probe;
use super::run::{self, Run, Tally};
use super::workload;
use crate::common;
use moment_ring::device::SplitMix64;
use moment_ring::{Error, FaultPlan, Geometry, MemDevice, OpenOptions, Ring, SegmentInfo};
use std::collections::HashMap;
use std::sync::Arc;

/// Every version ever sent for each seq (a crash can leave an older one valid on the medium).
type History = HashMap<u64, Vec<Seg>>;

/// Runs seed `seed`; `Err` says which check failed.
pub fn run_seed(seed: u64, verbose: bool) -> Result<Tally, String> {
    let mut rng = SplitMix64(seed ^ 0x0BAD_5EC7_0125);
    let setup = workload::Setup {
        cycles: 1, // one faulty run, one hostile reopen
        ..workload::draw_setup(&mut rng, false)
    };
    let (mem, geometry) = run::formatted(&setup, &mut rng)?;
    if verbose {
        eprintln!("seed {seed} (hostile): {setup:?}\n  {geometry:?}");
    }
    let mut history = History::new();
    let mut tally = Tally::default();
    let sim = Hostile {
        seed,
        geometry: &geometry,
        verbose,
    };
    let mem = sim.append_and_crash(&mut rng, mem, &mut history, &mut tally)?;
    // Recoveries cut while they repair the misdirected image, up to three in a row.
    let mem = run::cut_opens(mem, &geometry, &mut rng, &mut tally, verbose, true)?;
    if sim.reopen_with_flips(&mut rng, &mem, &mut history)? {
        // The repairs and the extra segment were written without faults: audit them again.
        let ring = Ring::open(mem, OpenOptions::default())
            .map_err(|e| format!("clean reopen after the hostile one failed: {e}"))?;
        audit(&ring, seed, &history)?;
    }
    Ok(tally)
}

struct Hostile<'a> {
    seed: u64,
    geometry: &'a Geometry,
    verbose: bool,
}

impl Hostile<'_> {
    /// Opens with bits flipping on every read, audits what it finds and appends one more segment.
    /// Returns false if open refused the device (allowed: the superblocks may read back damaged).
    fn reopen_with_flips(
        &self,
        rng: &mut SplitMix64,
        mem: &MemDevice,
        history: &mut History,
    ) -> Result<bool, String> {
        let ppm = [0, 20_000, 100_000, 300_000][rng.below(4) as usize];
        let probe = Probe::new(mem.clone(), self.geometry);
        probe.arm(FaultPlan {
            seed: rng.next_u64(),
            read_bitflip_ppm: ppm,
            ..FaultPlan::default()
        });
        let ring = match Ring::open(Arc::clone(&probe), OpenOptions::default()) {
            Ok(ring) => ring,
            Err(Error::Io { .. }) => {
                return Err("open failed with an I/O error nobody injected".into())
            }
            Err(e) => {
                if self.verbose {
                    eprintln!("  open with {ppm} ppm bit flips refused: {e}");
                }
                return Ok(false);
            }
        };
        if self.verbose {
            eprintln!(
                "  recovered ({ppm} ppm flips) {:?}\n  {:?}",
                ring.stats(),
                ring.recovery()
            );
        }
        let newest = audit(&ring, self.seed, history)?;
        append_one(ring, self.seed, history, newest)?;
        Ok(true)
    }

    /// Appends with one misdirected write and (usually) a power cut, and powers up the image.
    fn append_and_crash(
        &self,
        rng: &mut SplitMix64,
        mem: MemDevice,
        history: &mut History,
        tally: &mut Tally,
    ) -> Result<MemDevice, String> {
        let (seed, geometry) = (self.seed, self.geometry);
        let probe = Probe::new(mem.clone(), geometry);
        let mut ring =
            Ring::open(Arc::clone(&probe), OpenOptions::default()).map_err(|e| e.to_string())?;
        let mut model = Model::new(geometry);
        // Two to four times round the data area, in quarters.
        let quarters = 8 + 4 * rng.below(3);
        let lens = workload::draw_run(rng, geometry, quarters);
        let total = workload::estimate_ops(&model, geometry, &lens).max(1);
        let plan = FaultPlan {
            seed: rng.next_u64(),
            power_cut_at: (rng.below(4) != 0).then(|| rng.below(total)),
            misdirect_at: Some(rng.below(total)),
            sync_lag_ops: 4,
            ..FaultPlan::default()
        };
        if self.verbose {
            eprintln!("  {} appends, ~{total} ops, {plan:?}", lens.len());
        }
        probe.arm(plan);
        let run = Run {
            seed,
            attempt: 0,
            lens: &lens,
            verbose: self.verbose,
        };
        let out = run::append_until_cut(&mut ring, &probe, &mut model, &run, |planned| {
            history
                .entry(planned.seg.seq)
                .or_default()
                .push(planned.seg.clone());
        })?;
        tally.appends += out.sent.len() as u64;
        tally.crash(probe.failed_op());
        drop(ring);
        Ok(run::power_up(&mem, rng))
    }
}

/// Whatever survived must be a contiguous ring whose readable segments are genuine. Returns the
/// newest seq.
fn audit<D: moment_ring::Device>(
    ring: &Ring<D>,
    seed: u64,
    history: &History,
) -> Result<Option<u64>, String> {
    let listed = common::consistent(ring)?;
    let newest_sent = history.keys().max().copied();
    let newest = listed.last().map(|s| s.seq);
    ensure!(
        newest <= newest_sent,
        "the ring holds seq {newest:?}, but the newest ever sent is {newest_sent:?}"
    );
    common::check_reads(ring, &listed, |info, data| {
        genuine(seed, history, info, data)
    })?;
    Ok(newest)
}

/// The bytes and record match some version that was sent as this seq.
fn genuine(seed: u64, history: &History, info: &SegmentInfo, data: &[u8]) -> Result<(), String> {
    let versions = history.get(&info.seq).map_or(&[][..], Vec::as_slice);
    let found = versions.iter().any(|seg| {
        let salt = content::salt(seed, seg.seq, seg.attempt);
        info.pos == seg.pos
            && u64::from(info.payload_len) == seg.len
            && info.meta == content::meta(salt, seg.seq)
            && content::matches(data, salt)
    });
    ensure!(
        found,
        "seq {} read back as {info:?}, which was never written as that segment",
        info.seq
    );
    Ok(())
}

/// The writer keeps working on whatever recovery settled on.
fn append_one<D: moment_ring::Device>(
    mut ring: Ring<D>,
    seed: u64,
    history: &mut History,
    newest: Option<u64>,
) -> Result<(), String> {
    let expected = newest.map_or(ring.stats().oldest_seq, |n| n + 1);
    let len = 3000;
    let salt = content::salt(seed, expected, 1);
    let mut payload = Vec::new();
    content::fill(&mut payload, len, salt);
    let info = ring
        .append(&content::meta(salt, expected), &payload)
        .map_err(|e| format!("append after the hostile open failed: {e}"))?;
    ensure!(
        info.seq == expected,
        "append after the hostile open got seq {}, expected {expected}",
        info.seq
    );
    history.entry(info.seq).or_default().push(Seg {
        seq: info.seq,
        pos: info.pos,
        len: len as u64,
        attempt: 1,
    });
    Ok(())
}
