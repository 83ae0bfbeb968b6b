//! The power-cut contract, checked after every reopen: every segment reported durable (or whose
//! data a finished sync covered) and kept by the eviction rule comes back byte-identical; the
//! segments appended after it come back as a prefix, whole or not at all; eviction is neither too
//! eager nor too lazy; and recovery never needs its heavier tools (scan, loss) for a plain power
//! cut.

use super::content;
use super::model::{Model, Planned};
use crate::common;
use moment_ring::{Device, Error, Ring, SegmentInfo};

/// The most segments a power cut leaves for roll-forward: the newest durable one (its slot is
/// written with the next flush), and two in flight (the one being flushed and the one being
/// written) if all their sectors happened to land.
const MAX_ROLLED_FORWARD: u64 = 3;

/// Checks an acknowledged append against the model's plan, before the model commits it.
pub fn acknowledged<D: Device>(
    ring: &Ring<D>,
    info: &SegmentInfo,
    planned: &Planned,
) -> Result<(), String> {
    let seg = &planned.seg;
    ensure!(
        info.seq == seg.seq && info.pos == seg.pos && u64::from(info.payload_len) == seg.len,
        "append returned {info:?}; the model placed it at {seg:?}"
    );
    let oldest = ring.stats().oldest_seq;
    ensure!(
        oldest == planned.oldest_after,
        "after appending {} the ring keeps {oldest}.. but the eviction rule keeps {}..",
        seg.seq,
        planned.oldest_after
    );
    Ok(())
}

/// Checks a ring reopened after a crash and brings the model (the durable state before the cut)
/// to the state it recovered. `pending` were appended after the model's newest; `must` is the
/// newest segment that had to survive (0: none beyond the model).
pub fn recovered<D: Device>(
    ring: &Ring<D>,
    model: &mut Model,
    pending: &[Planned],
    must: u64,
    seed: u64,
) -> Result<(), String> {
    let report = ring.recovery();
    ensure!(
        report.superblocks_damaged == 0
            && !report.tail_lost
            && report.lost == 0
            && !report.rebuilt_by_scan
            && report.rolled_forward <= MAX_ROLLED_FORWARD,
        "a power cut needed more than a roll-forward of {MAX_ROLLED_FORWARD} segments: {report:?}"
    );
    let stats = ring.stats();
    let newest = stats.newest_seq.unwrap_or(0);
    let floor = must.max(model.newest().unwrap_or(0));
    let top = pending.last().map_or(floor, |p| p.seg.seq);
    ensure!(
        floor <= newest && newest <= top,
        "recovered up to {newest}; segments up to {floor} were durable, {top} the newest sent"
    );
    let lost: Vec<&Planned> = pending.iter().filter(|p| p.seg.seq > newest).collect();
    for p in pending.iter().filter(|p| p.seg.seq <= newest) {
        model.commit(p);
    }
    // The tail pointer may have moved for a lost segment before the cut (it is written first).
    let mut allowed: Vec<u64> = lost.iter().map(|p| p.oldest_after).collect();
    allowed.push(model.oldest());
    ensure!(
        allowed.contains(&stats.oldest_seq),
        "recovered oldest {}; the eviction rule keeps one of {allowed:?}",
        stats.oldest_seq
    );
    model.drop_before(stats.oldest_seq);
    contents(ring, model, seed)
}

/// Every live segment reads back exactly as written, and nothing outside the range reads at all.
fn contents<D: Device>(ring: &Ring<D>, model: &Model, seed: u64) -> Result<(), String> {
    let listed = common::consistent(ring)?;
    let stats = ring.stats();
    ensure!(
        listed.len() == model.live().count() && stats.used_bytes == model.used(),
        "ring lists {} segments of {} bytes, the model {} of {}",
        listed.len(),
        stats.used_bytes,
        model.live().count(),
        model.used()
    );
    for (info, seg) in listed.iter().zip(model.live()) {
        let salt = content::salt(seed, seg.seq, seg.attempt);
        ensure!(
            info.seq == seg.seq
                && info.pos == seg.pos
                && u64::from(info.payload_len) == seg.len
                && info.meta == content::meta(salt, seg.seq),
            "segment {} is {info:?}; the model wrote {seg:?}",
            seg.seq
        );
    }
    let segs: Vec<_> = model.live().collect();
    let corrupt = common::check_reads(ring, &listed, |info, data| {
        let seg = segs[(info.seq - segs[0].seq) as usize];
        let salt = content::salt(seed, seg.seq, seg.attempt);
        ensure!(
            content::matches(data, salt),
            "segment {} read back different bytes",
            seg.seq
        );
        Ok(())
    })?;
    ensure!(corrupt == 0, "{corrupt} live segments read back corrupt");
    nothing_outside(ring)
}

/// Reads just outside the live range fail cleanly.
fn nothing_outside<D: Device>(ring: &Ring<D>) -> Result<(), String> {
    let stats = ring.stats();
    let reader = ring.reader();
    let above = stats.newest_seq.map_or(stats.oldest_seq, |n| n + 1);
    let mut outside = vec![above];
    if stats.oldest_seq > 1 {
        outside.push(stats.oldest_seq - 1);
    }
    for seq in outside {
        ensure!(
            matches!(reader.read(seq), Err(Error::NoSuchSegment { .. })),
            "seq {seq}, outside {}..={:?}, did not fail with NoSuchSegment",
            stats.oldest_seq,
            stats.newest_seq
        );
    }
    Ok(())
}
