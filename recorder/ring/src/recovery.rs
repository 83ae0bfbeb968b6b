//! Rebuilding the in-memory index at open, after a clean stop or a power cut. The durable state is
//! trusted in this order: superblock (geometry), tail pointer (nothing older is live), index slots
//! (the chain of live segments, newest first), then the data area itself (roll forward over
//! segments whose index write was lost). If the index is gone entirely, a scan of the data area
//! rebuilds it. Every step is bounded by the geometry, and nothing here panics on bad input.

use crate::codec;
use crate::device::{AlignedBuf, Device, BLOCK};
use crate::error::{Error, Result};
use crate::format::SuperblockHealth;
use crate::layout::{Geometry, FORMAT_VERSION, SLOT_SIZE, SUPERBLOCK_MAGIC};
use crate::records::{
    decode_header, decode_slot, decode_tail, HeaderRecord, SegmentInfo, SegmentRecord, TailRecord,
    MAX_EPOCH,
};
use crate::scan;
use crate::state::State;
use crate::writer::{encode_slot_block, write_tail_record};
use std::time::Duration;

/// Slot table bytes read per device request (bounds memory at open).
const INDEX_READ_CHUNK: u64 = 1 << 20;
/// Payload bytes checked per device request while rolling forward.
const VERIFY_CHUNK: u64 = 4 << 20;
/// How far the epoch jumps when both tail blocks are lost and the newest epoch the medium may
/// hold is unknown: an open that crashed before any of its segments became durable leaves its
/// epoch only in the tail, so the epochs seen in the index may be behind by the number of such
/// opens in a row. A million boots without one durable segment is beyond any real device.
const EPOCH_SKIP_AFTER_TAIL_LOSS: u64 = 1 << 20;

/// What recovery found and what it repaired (or, read-only, would repair).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RecoveryReport {
    /// Superblock copies that failed their checks (rewritten from the good copy).
    pub superblocks_damaged: u32,
    /// The ring was of an older format version (docs/ring-format.md "Version log"); a writable
    /// open rewrote its superblocks as this version, its old records stay readable.
    pub migrated: bool,
    /// Neither tail block was valid.
    pub tail_lost: bool,
    /// Live segments found through the index.
    pub from_index: u64,
    /// Segments found past the index (written, but their index slots were lost). After a power
    /// cut usually one or two: the newest durable segment, whose slot is written only with the
    /// next flush, and one in flight whose bytes all happened to land; at most three.
    pub rolled_forward: u64,
    /// Segments the tail said were live but that could not be recovered (damaged index).
    pub lost: u64,
    /// The index was unusable and was rebuilt by scanning the data area.
    pub rebuilt_by_scan: bool,
    /// Repairs were written to the device.
    pub repaired: bool,
    /// Time taken by open.
    #[serde(serialize_with = "serialize_millis")]
    pub duration: Duration,
}

fn serialize_millis<S: serde::Serializer>(
    d: &Duration,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// Recovery's result: the state to run with, and what must be written to make the device agree.
pub(crate) struct Recovered {
    pub state: State,
    pub report: RecoveryReport,
    pub health: SuperblockHealth,
    /// Write a tail pointer at the state's oldest seq.
    pub write_tail: bool,
    /// Index slots to write from the state.
    pub index: IndexRepair,
}

/// Which index slots recovery writes.
pub(crate) enum IndexRepair {
    /// The slots of these rolled-forward segments, in sequence order, each block written with no
    /// slot newer than the one it adds and synced before the next: as in appending, a torn write
    /// can damage only the slot being added, so a cut leaves the slots of a prefix.
    Rolled(Vec<u64>),
    /// Every block, after a rebuild by scan (the old index was unusable anyway).
    Whole,
}

pub(crate) fn recover<D: Device>(
    dev: &D,
    geometry: &Geometry,
    health: SuperblockHealth,
) -> Result<Recovered> {
    let name = dev.name();
    let io = |op: &'static str| {
        let device = name.clone();
        move |e| Error::io(device, op, e)
    };
    let tail = read_tail(dev, geometry).map_err(io("reading the tail pointer"))?;
    let mut slots = read_slots(dev, geometry).map_err(io("reading the index"))?;
    let mut report = RecoveryReport {
        superblocks_damaged: health.good.iter().filter(|g| !**g).count() as u32,
        migrated: health.migrating(),
        tail_lost: tail.is_none(),
        ..RecoveryReport::default()
    };
    // Every writable open syncs its epoch into the tail before any segment carries it, so no
    // record on the medium has a newer epoch than the tail's; without a tail, any is possible.
    let epochs = match &tail {
        Some(t) => Epochs {
            newest_on_disk: t.epoch,
            next: t.epoch + 1,
        },
        None => Epochs {
            newest_on_disk: MAX_EPOCH,
            next: 0,
        },
    };
    for slot in slots.iter_mut() {
        *slot = slot
            .take()
            .filter(|info| info.epoch <= epochs.newest_on_disk);
    }
    let newest = slots.iter().flatten().map(|r| r.seq).max();
    let generation = tail.as_ref().map_or(0, |t| t.generation);
    let mut state = match (&tail, newest) {
        (Some(t), Some(n)) if n + 1 >= t.oldest_seq => {
            chain(geometry, &slots, n, t.oldest_seq, generation)
        }
        (Some(t), None) if t.oldest_seq == 1 => State::empty(0, 1, generation),
        (None, Some(n)) => chain(geometry, &slots, n, 1, generation),
        _ => {
            // The index is gone but the ring has held data: only the data area can tell.
            report.rebuilt_by_scan = true;
            let lower = tail.as_ref().map_or(1, |t| t.oldest_seq);
            let mut state = scan::rebuild(dev, geometry, lower, generation, epochs.newest_on_disk)?;
            state.epoch = epochs.next_after(&state);
            report.from_index = state.entries.len() as u64;
            return Ok(Recovered {
                state,
                report,
                health,
                write_tail: true,
                index: IndexRepair::Whole,
            });
        }
    };
    report.from_index = state.entries.len() as u64;
    if let Some(t) = &tail {
        report.lost = state.oldest_seq().saturating_sub(t.oldest_seq.max(1));
    }
    let evicted_before = state.oldest_seq();
    let rolled = roll_forward(dev, geometry, &mut state, epochs.newest_on_disk)
        .map_err(io("rolling forward"))?;
    state.epoch = epochs.next_after(&state);
    report.rolled_forward = rolled.len() as u64;
    let write_tail = tail.is_none() || report.lost > 0 || state.oldest_seq() != evicted_before;
    Ok(Recovered {
        state,
        report,
        health,
        write_tail,
        index: IndexRepair::Rolled(rolled),
    })
}

/// Writes what recovery decided: the damaged superblock copy, the tail pointer, index blocks.
pub(crate) fn apply_repairs<D: Device>(
    dev: &D,
    geometry: &Geometry,
    recovered: &mut Recovered,
) -> Result<()> {
    let name = dev.name();
    let io = |op: &'static str| {
        let device = name.clone();
        move |e| Error::io(device, op, e)
    };
    let mut block = AlignedBuf::new(BLOCK as usize);
    let rewrite = recovered.health.copies_to_rewrite();
    if rewrite.contains(&true) {
        assert_eq!(geometry.version, FORMAT_VERSION, "superblock version");
        codec::encode(SUPERBLOCK_MAGIC, geometry, block.blocks_mut(BLOCK as usize));
        for (copy, offset) in geometry.superblock_offsets().into_iter().enumerate() {
            if rewrite[copy] {
                dev.write_at(offset, block.blocks(BLOCK as usize))
                    .map_err(io("repairing a superblock"))?;
            }
        }
        dev.sync().map_err(io("repairing a superblock"))?;
        recovered.report.repaired = true;
    }
    let state = &mut recovered.state;
    // Written by every writable open, repair or not: it carries the open's epoch, which must be
    // durable before any segment does (docs/ring-format.md "Epochs").
    let generation = state.tail_generation.wrapping_add(1);
    write_tail_record(
        dev,
        geometry,
        &mut block,
        &TailRecord {
            ring_tag: geometry.ring_tag(),
            generation,
            oldest_seq: state.oldest_seq(),
            epoch: state.epoch,
        },
    )
    .map_err(io("writing the tail pointer"))?;
    state.tail_generation = generation;
    if recovered.write_tail {
        recovered.report.repaired = true;
    }
    let per_block = BLOCK / SLOT_SIZE;
    let mut write_block = |index: u64, upto: u64| {
        encode_slot_block(
            geometry,
            state,
            upto,
            index,
            block.blocks_mut(BLOCK as usize),
        );
        dev.write_at(
            geometry.index_off + index * BLOCK,
            block.blocks(BLOCK as usize),
        )
        .map_err(io("repairing the index"))
    };
    match &recovered.index {
        IndexRepair::Rolled(seqs) => {
            for &seq in seqs {
                write_block(seq % geometry.slot_count / per_block, seq)?;
                dev.sync().map_err(io("repairing the index"))?;
            }
            recovered.report.repaired |= !seqs.is_empty();
        }
        IndexRepair::Whole => {
            for index in 0..geometry.index_len() / BLOCK {
                write_block(index, u64::MAX)?;
            }
            dev.sync().map_err(io("repairing the index"))?;
            recovered.report.repaired = true;
        }
    }
    Ok(())
}

/// The newer valid tail record of the two blocks.
fn read_tail<D: Device>(dev: &D, geometry: &Geometry) -> std::io::Result<Option<TailRecord>> {
    let mut block = AlignedBuf::new(BLOCK as usize);
    let mut best: Option<TailRecord> = None;
    for n in 0..2 {
        dev.read_at(geometry.tail_block(n), block.blocks_mut(BLOCK as usize))?;
        let Some(tail) = decode_tail(&block) else {
            continue;
        };
        // `oldest_seq` is bounded like segment seqs (`plausible`): the writer counts on from it,
        // so a corrupt but CRC-valid record near u64::MAX must not be trusted.
        if tail.ring_tag == geometry.ring_tag()
            && tail.oldest_seq >= 1
            && tail.oldest_seq < u64::MAX / 2
            && tail.epoch < MAX_EPOCH
            && best.as_ref().is_none_or(|b| tail.newer_than(b))
        {
            best = Some(tail);
        }
    }
    Ok(best)
}

/// Every slot's record if it is valid and belongs in that slot.
fn read_slots<D: Device>(
    dev: &D,
    geometry: &Geometry,
) -> std::io::Result<Vec<Option<SegmentInfo>>> {
    let total = geometry.index_len();
    let mut slots = Vec::with_capacity(geometry.slot_count as usize);
    let mut buf = AlignedBuf::new(INDEX_READ_CHUNK.min(total) as usize);
    let mut offset = 0;
    while offset < total {
        let n = (total - offset).min(INDEX_READ_CHUNK) as usize;
        dev.read_at(geometry.index_off + offset, buf.blocks_mut(n))?;
        for area in buf.blocks(n)[..n].chunks(SLOT_SIZE as usize) {
            let slot = slots.len() as u64;
            let record = decode_slot(area);
            slots.push(
                record
                    .filter(|r| plausible(geometry, r) && r.info.seq % geometry.slot_count == slot)
                    .map(|r| r.info),
            );
        }
        offset += n as u64;
    }
    Ok(slots)
}

/// A record that could describe a segment of this ring: ours, in bounds, sized within limits.
pub(crate) fn plausible(geometry: &Geometry, record: &SegmentRecord) -> bool {
    info_plausible(geometry, record.ring_tag, &record.info)
}

/// `plausible` for a record's parts, so a header is checked without building a slot record.
fn info_plausible(geometry: &Geometry, ring_tag: u64, info: &SegmentInfo) -> bool {
    ring_tag == geometry.ring_tag()
        && info.seq >= 1
        && info.seq < u64::MAX / 2
        && info.epoch <= MAX_EPOCH
        && info.pos % BLOCK == 0
        && info.pos < geometry.data_len
        && info.payload_len >= 1
        && info.extent() <= geometry.max_segment_bytes
}

/// Walks the index back from `newest` while records are present and adjacent, stopping at `lower`,
/// the slot count or the data length.
fn chain(
    geometry: &Geometry,
    slots: &[Option<SegmentInfo>],
    newest: u64,
    lower: u64,
    generation: u64,
) -> State {
    let head_of = |e: &SegmentInfo| (e.pos + e.extent()) % geometry.data_len;
    let top = &slots[(newest % geometry.slot_count) as usize];
    let top = top.as_ref().expect("newest comes from a valid slot");
    let mut state = State::empty(head_of(top), newest + 1, generation);
    let mut seq = newest;
    while seq >= lower.max(1) && (state.entries.len() as u64) < geometry.slot_count {
        let Some(info) = &slots[(seq % geometry.slot_count) as usize] else {
            break;
        };
        // Epochs never decrease from one segment to the next (docs/ring-format.md "Epochs").
        let adjacent = state
            .entries
            .front()
            .is_none_or(|next| head_of(info) == next.pos && info.epoch <= next.epoch);
        if info.seq != seq || !adjacent || state.used + info.extent() > geometry.data_len {
            break;
        }
        state.used += info.extent();
        state.entries.push_front(info.clone());
        seq -= 1;
    }
    state
}

/// Accepts segments past the index whose header and payload check out, in sequence order from the
/// head; returns their sequence numbers.
fn roll_forward<D: Device>(
    dev: &D,
    geometry: &Geometry,
    state: &mut State,
    newest_epoch: u64,
) -> std::io::Result<Vec<u64>> {
    let mut found = Vec::new();
    let mut header = AlignedBuf::new(BLOCK as usize);
    let mut payload = AlignedBuf::new(VERIFY_CHUNK.min(geometry.max_segment_bytes) as usize);
    for _ in 0..geometry.slot_count {
        let info = match read_header(dev, geometry, state.head, &mut header)? {
            Some(h)
                if h.info.seq == state.next_seq
                    && h.info.epoch <= newest_epoch
                    && state.entries.back().is_none_or(|last| follows(last, &h)) =>
            {
                h.info
            }
            _ => break,
        };
        if !payload_ok(dev, geometry, &info, &mut payload)? {
            break;
        }
        while state.entries.len() as u64 >= geometry.slot_count
            || state.used + info.extent() > geometry.data_len
        {
            let gone = state.entries.pop_front().expect("a full ring has segments");
            state.used -= gone.extent();
        }
        state.head = (info.pos + info.extent()) % geometry.data_len;
        state.used += info.extent();
        state.next_seq += 1;
        found.push(info.seq);
        state.entries.push_back(info);
    }
    Ok(found)
}

/// The segment header at logical position `pos`, if one of ours is there and says it is there.
pub(crate) fn read_header<D: Device>(
    dev: &D,
    geometry: &Geometry,
    pos: u64,
    buf: &mut AlignedBuf,
) -> std::io::Result<Option<HeaderRecord>> {
    dev.read_at(geometry.data_off + pos, buf.blocks_mut(BLOCK as usize))?;
    Ok(decode_header(buf.blocks(BLOCK as usize)).filter(|h| header_plausible(geometry, h, pos)))
}

/// A header block that could be ours at `pos`.
pub(crate) fn header_plausible(geometry: &Geometry, header: &HeaderRecord, pos: u64) -> bool {
    info_plausible(geometry, header.ring_tag, &header.info) && header.info.pos == pos
}

/// Whether the segment of header `next` was written right after `prev`: the next sequence
/// number, and written by an open whose previous segment had `prev`'s epoch. A header some
/// other open left behind fails this even where its position and number happen to fit.
pub(crate) fn follows(prev: &SegmentInfo, next: &HeaderRecord) -> bool {
    prev.seq + 1 == next.info.seq && next.prev_epoch == prev.epoch
}

/// The newest epoch a record on the medium may carry, and the one the next writable open uses.
struct Epochs {
    newest_on_disk: u64,
    /// 0 when the tail was lost: derived from what recovery found (`next_after`).
    next: u64,
}

impl Epochs {
    fn next_after(&self, state: &State) -> u64 {
        if self.next != 0 {
            return self.next;
        }
        let seen = state.entries.iter().map(|e| e.epoch).max().unwrap_or(0);
        (seen + EPOCH_SKIP_AFTER_TAIL_LOSS + 1).min(MAX_EPOCH)
    }
}

/// Reads the payload of `info` in chunks and checks its CRC.
pub(crate) fn payload_ok<D: Device>(
    dev: &D,
    geometry: &Geometry,
    info: &SegmentInfo,
    buf: &mut AlignedBuf,
) -> std::io::Result<bool> {
    let mut hasher = crc32fast::Hasher::new();
    let len = u64::from(info.payload_len);
    let mut done = 0;
    while done < len {
        let n = (len - done).min(buf.capacity() as u64);
        let mut pos = (info.pos + BLOCK + done) % geometry.data_len;
        // Read at most up to the wrap in one request.
        let mut read = 0;
        while read < n {
            let part = (n - read).min(geometry.data_len - pos);
            let blocks = part.div_ceil(BLOCK) * BLOCK;
            let part_buf = &mut buf.blocks_mut(n as usize)[read as usize..];
            dev.read_at(geometry.data_off + pos, &mut part_buf[..blocks as usize])?;
            read += part;
            pos = (pos + part) % geometry.data_len;
        }
        hasher.update(&buf.blocks(n as usize)[..n as usize]);
        done += n;
    }
    Ok(hasher.finalize() == info.payload_crc)
}
