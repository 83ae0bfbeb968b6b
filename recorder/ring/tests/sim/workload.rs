//! Drawing a seed's scenario: the ring's geometry, the segment sizes of each run between crashes,
//! and where in that run the power fails. Everything comes from the seed's generator in a fixed
//! order, so a seed replays exactly.

use super::model::Model;
use moment_ring::device::SplitMix64;
use moment_ring::{Geometry, BLOCK};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
/// One seed in this many uses the large ring with segments up to 16 MiB (one costs as much as
/// about fifty small seeds, so they are kept rare).
const BIG_EVERY: u64 = 200;
/// The writer's largest single write; used only to estimate how many operations a run issues.
const WRITE_CHUNK: u64 = 2 * MIB;
/// Upper bound on appends in one run, whatever the sizes drawn.
const MAX_APPENDS: usize = 20_000;

/// A seed's ring and how many crash/reopen cycles it goes through.
#[derive(Clone, Debug)]
pub struct Setup {
    pub device_len: u64,
    pub max_segment_bytes: u64,
    pub slot_count: u64,
    pub big: bool,
    pub cycles: u32,
}

/// Most seeds: a small ring (1-8 MiB) that wraps many times per run. Some: a ring of four
/// 16 MiB segments, the largest segment the recorder writes.
pub fn draw_setup(rng: &mut SplitMix64, allow_big: bool) -> Setup {
    if allow_big && rng.below(BIG_EVERY) == 0 {
        return Setup {
            // Four segments of 16 MiB + header, plus superblocks, index and alignment.
            device_len: 68 * MIB,
            max_segment_bytes: 16 * MIB + BLOCK,
            slot_count: 8 + rng.below(121),
            big: true,
            cycles: 1,
        };
    }
    // Cost grows with the device, wrap-arounds do not need a big one: mostly 1-3 MiB, up to 8.
    let unit = rng.next_u64() as f64 / u64::MAX as f64;
    let device_len = (MIB as f64 * 8f64.powf(unit * unit)) as u64 / BLOCK * BLOCK;
    // The data area must hold four largest segments; leave room for the index and alignment.
    let cap = (device_len - 256 * KIB) / 4 / BLOCK * BLOCK;
    Setup {
        device_len,
        max_segment_bytes: log_uniform(rng, 64 * KIB, 512 * KIB).min(cap),
        slot_count: 8 + rng.below(121),
        big: false,
        cycles: if rng.below(4) == 0 {
            2 + rng.below(3) as u32
        } else {
            1
        },
    }
}

/// `lo..=hi`, uniform in the logarithm, so small and large sizes are both common.
pub fn log_uniform(rng: &mut SplitMix64, lo: u64, hi: u64) -> u64 {
    let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let value = lo as f64 * (hi as f64 / lo as f64).powf(unit);
    (value as u64).clamp(lo, hi)
}

/// A payload length from 1 KiB to the ring's largest, with the block and limit edges over-drawn.
pub fn draw_len(rng: &mut SplitMix64, max_payload: u64) -> u64 {
    if rng.below(16) != 0 {
        return log_uniform(rng, KIB, max_payload);
    }
    let blocks = 1 + rng.below(max_payload / BLOCK);
    match rng.below(4) {
        0 => max_payload,
        1 => blocks * BLOCK,
        2 => (blocks * BLOCK + 1).min(max_payload),
        _ => (blocks * BLOCK - 1).max(KIB),
    }
}

/// The sizes of one run: enough payload to fill `quarters` quarters of the data area.
pub fn draw_run(rng: &mut SplitMix64, geometry: &Geometry, quarters: u64) -> Vec<u64> {
    let volume = quarters * (geometry.data_len / 4);
    let mut lens = Vec::new();
    let mut total = 0;
    while total < volume && lens.len() < MAX_APPENDS {
        let len = draw_len(rng, geometry.max_payload_bytes());
        total += len;
        lens.push(len);
    }
    lens
}

/// About how many device operations the run issues once the ring is open: tail write, wait and
/// flush when evicting, the data writes (one more where a chunk wraps), the wait for the previous
/// flush, the previous segment's slot write and the start of this segment's flush.
/// Only used to spread crash points over the run; the checks never rely on it.
pub fn estimate_ops(model: &Model, geometry: &Geometry, lens: &[u64]) -> u64 {
    let mut model = model.clone();
    let chunk = WRITE_CHUNK.min(geometry.max_segment_bytes);
    let mut ops = 0;
    for &len in lens {
        let planned = model.plan(len, 0);
        let extent = planned.seg.extent();
        let wraps = planned.seg.pos + extent > geometry.data_len;
        ops += 3 * u64::from(planned.evicts) + extent.div_ceil(chunk) + u64::from(wraps) + 3;
        model.commit(&planned);
    }
    ops
}
