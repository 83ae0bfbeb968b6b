//! The moving parts both fault modes share: formatting a seed's ring, running appends against the
//! model until the power fails, and turning what the device held into the image found at power-up.

use super::check::{self, Pending};
use super::content;
use super::model::{Model, Planned};
use super::probe::{Op, Probe};
use super::workload::Setup;
use moment_ring::device::SplitMix64;
use moment_ring::{format, FormatOptions, Geometry, MemDevice, Ring};

/// What a seed exercised, summed over all seeds for the final report.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub crashes: u64,
    pub torn_writes: u64,
    pub cut_syncs: u64,
    pub cut_reads: u64,
    pub in_open: u64,
    pub after_last_sync: u64,
    pub appends: u64,
    pub rolled_forward: u64,
    pub big_rings: u64,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.crashes += other.crashes;
        self.torn_writes += other.torn_writes;
        self.cut_syncs += other.cut_syncs;
        self.cut_reads += other.cut_reads;
        self.in_open += other.in_open;
        self.after_last_sync += other.after_last_sync;
        self.appends += other.appends;
        self.rolled_forward += other.rolled_forward;
        self.big_rings += other.big_rings;
    }

    /// Counts one power cut by the operation it hit (none: the run ended first).
    pub fn crash(&mut self, cut: Option<Op>) {
        self.crashes += 1;
        match cut {
            Some(Op::Write(_)) => self.torn_writes += 1,
            Some(Op::Sync) => self.cut_syncs += 1,
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

/// Appends `run.lens` in order, checking each acknowledgement against the model, until an append
/// fails. Returns the interrupted append, if any; `written` sees every version before it is sent.
pub fn append_until_cut(
    ring: &mut Ring<&Probe>,
    probe: &Probe,
    model: &mut Model,
    run: &Run<'_>,
    mut written: impl FnMut(&Planned),
) -> Result<Option<Pending>, String> {
    let mut payload = Vec::new();
    for &len in run.lens {
        let planned = model.plan(len, run.attempt);
        let seq = planned.seg.seq;
        let salt = content::salt(run.seed, seq, run.attempt);
        content::fill(&mut payload, len as usize, salt);
        written(&planned);
        probe.begin_append();
        match ring.append(&content::meta(salt, seq), &payload) {
            Ok(info) => {
                check::acknowledged(ring, &info, &planned)?;
                model.commit(&planned);
                ensure!(
                    ring.stats().used_bytes == model.used(),
                    "after appending {seq} the ring uses {} bytes, the model {}",
                    ring.stats().used_bytes,
                    model.used()
                );
            }
            Err(e) => {
                ensure!(
                    probe.powered_off(),
                    "append of {seq} failed without a power cut: {e}"
                );
                let data_durable = probe.data_durable();
                if run.verbose {
                    eprintln!(
                        "  power cut in append {seq} at {:?} (op {}), data synced: {data_durable}",
                        probe.failed_op(),
                        probe.ops() - 1
                    );
                }
                return Ok(Some(Pending {
                    planned,
                    data_durable,
                }));
            }
        }
    }
    Ok(None)
}
