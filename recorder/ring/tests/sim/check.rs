//! The power-cut contract, checked after every reopen: every acknowledged segment the eviction
//! rule kept comes back byte-identical, the one in flight comes back whole or not at all (and must
//! come back if its data was synced), eviction is neither too eager nor too lazy, and recovery
//! never needs its heavier tools (scan, loss) for a plain power cut.

use super::content;
use super::model::{Model, Planned};
use crate::common;
use moment_ring::{Device, Error, Ring, SegmentInfo};

/// The append a power cut interrupted.
#[derive(Debug)]
pub struct Pending {
    pub planned: Planned,
    /// Its data had been synced before the cut (only the index write was missing).
    pub data_durable: bool,
}

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

/// Checks a ring reopened after a crash and brings the model to the state it recovered.
pub fn recovered<D: Device>(
    ring: &Ring<D>,
    model: &mut Model,
    pending: Option<&Pending>,
    seed: u64,
) -> Result<(), String> {
    let report = ring.recovery();
    ensure!(
        report.superblocks_damaged == 0
            && !report.tail_lost
            && report.lost == 0
            && !report.rebuilt_by_scan
            && report.rolled_forward <= 1,
        "a power cut needed more than a roll-forward of one segment: {report:?}"
    );
    let stats = ring.stats();
    let in_flight = pending.map(|p| p.planned.seg.seq);
    if stats.newest_seq.is_some() && stats.newest_seq == in_flight {
        let p = pending.expect("in flight");
        ensure!(
            stats.oldest_seq == p.planned.oldest_after,
            "in-flight {} recovered but the ring keeps {}.., the eviction rule keeps {}..",
            p.planned.seg.seq,
            stats.oldest_seq,
            p.planned.oldest_after
        );
        model.commit(&p.planned);
    } else {
        ensure!(
            report.rolled_forward == 0,
            "rolled forward, yet the newest is not the in-flight segment: {report:?}"
        );
        newest_is_acknowledged(ring, model, pending)?;
        model.drop_before(stats.oldest_seq);
    }
    contents(ring, model, seed)
}

/// The in-flight segment did not come back: the ring must end at the last acknowledged one, and
/// the oldest is where the eviction rule left it before or after the cut's tail write.
fn newest_is_acknowledged<D: Device>(
    ring: &Ring<D>,
    model: &Model,
    pending: Option<&Pending>,
) -> Result<(), String> {
    let stats = ring.stats();
    ensure!(
        stats.newest_seq == model.newest(),
        "recovered newest {:?}; acknowledged {:?}, in flight {:?}",
        stats.newest_seq,
        model.newest(),
        pending.map(|p| p.planned.seg.seq)
    );
    if let Some(p) = pending {
        ensure!(
            !p.data_durable,
            "segment {} was lost although its data was synced before the cut",
            p.planned.seg.seq
        );
    }
    let after = pending.map_or(model.oldest(), |p| p.planned.oldest_after);
    ensure!(
        stats.oldest_seq == model.oldest() || stats.oldest_seq == after,
        "recovered oldest {}; the eviction rule keeps {}.. (or {after}.. once the tail moved)",
        stats.oldest_seq,
        model.oldest()
    );
    Ok(())
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
