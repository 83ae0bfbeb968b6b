//! The data area describes itself: every segment has a header naming its ring, sequence number and
//! position. This module reads the whole data area to rebuild a destroyed index, and checks a ring
//! end to end (`fsck`). Slow by nature (it reads every byte), so it runs only when asked or when
//! the index is unusable.

use crate::device::{AlignedBuf, Device, BLOCK};
use crate::error::{Error, Result};
use crate::format::read_superblock;
use crate::layout::Geometry;
use crate::records::{decode_header, SegmentInfo};
use crate::recovery::{self, header_plausible, payload_ok, IndexRepair, Recovered};
use crate::ring::{OpenOptions, Ring};
use crate::state::State;
use std::collections::BTreeMap;

const SCAN_CHUNK: u64 = 4 << 20;
/// Corrupt segments listed by name in a report; more are only counted.
const MAX_LISTED: usize = 100;

/// A header found by the scan: the segment, and the epoch of the one written before it.
struct Found {
    info: SegmentInfo,
    prev_epoch: u64,
}

/// Builds the live index from segment headers alone: the longest run of adjacent segments, each
/// written right after the one before it (the previous sequence number, of the epoch its header
/// names), ending at the newest one by (epoch, seq) whose payload checks out. A sequence number
/// given again after a cut thus belongs to the later open, and headers an earlier open left
/// behind are never joined to the chain. Segments below `lower` (the tail pointer) stay dead;
/// headers of an epoch past `newest_epoch` cannot be ours.
pub(crate) fn rebuild<D: Device>(
    dev: &D,
    geometry: &Geometry,
    lower: u64,
    generation: u64,
    newest_epoch: u64,
) -> Result<State> {
    let io = |e| Error::io(dev.name(), "scanning the data area", e);
    let candidates = scan_headers(dev, geometry, newest_epoch).map_err(io)?;
    let mut verify = AlignedBuf::new(SCAN_CHUNK.min(geometry.max_segment_bytes) as usize);
    let head_of = |e: &SegmentInfo| (e.pos + e.extent()) % geometry.data_len;
    for top in candidates
        .values()
        .rev()
        .filter(|c| c.info.seq >= lower.max(1))
    {
        if !payload_ok(dev, geometry, &top.info, &mut verify).map_err(io)? {
            continue;
        }
        let mut state = State::empty(head_of(&top.info), top.info.seq + 1, generation);
        state.used = top.info.extent();
        state.entries.push_back(top.info.clone());
        let mut want = (top.prev_epoch, top.info.seq - 1);
        while want.1 >= lower.max(1) && (state.entries.len() as u64) < geometry.slot_count {
            let Some(found) = candidates.get(&want) else {
                break;
            };
            let next = state.entries.front().expect("chain has a top");
            if head_of(&found.info) != next.pos
                || state.used + found.info.extent() > geometry.data_len
            {
                break;
            }
            state.used += found.info.extent();
            state.entries.push_front(found.info.clone());
            want = (found.prev_epoch, want.1 - 1);
        }
        return Ok(state);
    }
    Ok(State::empty(0, lower.max(1), generation))
}

/// Every valid header in the data area, by (epoch, seq); only the newest `2 * slot_count` are
/// kept so memory stays bounded whatever the device holds.
fn scan_headers<D: Device>(
    dev: &D,
    geometry: &Geometry,
    newest_epoch: u64,
) -> std::io::Result<BTreeMap<(u64, u64), Found>> {
    let keep = (2 * geometry.slot_count) as usize;
    let mut found = BTreeMap::new();
    let mut buf = AlignedBuf::new(SCAN_CHUNK.min(geometry.data_len) as usize);
    let mut pos = 0;
    while pos < geometry.data_len {
        let n = (geometry.data_len - pos).min(buf.capacity() as u64);
        dev.read_at(geometry.data_off + pos, buf.blocks_mut(n as usize))?;
        for (i, block) in buf.blocks(n as usize).chunks(BLOCK as usize).enumerate() {
            if &block[..3] != b"MOM" {
                continue; // cheap test before the CRC: no frame of ours starts otherwise
            }
            let at = pos + i as u64 * BLOCK;
            let Some(header) = decode_header(block) else {
                continue;
            };
            if header_plausible(geometry, &header, at) && header.info.epoch <= newest_epoch {
                let key = (header.info.epoch, header.info.seq);
                let prev_epoch = header.prev_epoch;
                found.insert(
                    key,
                    Found {
                        info: header.info,
                        prev_epoch,
                    },
                );
                if found.len() > keep {
                    found.pop_first();
                }
            }
        }
        pos += n;
    }
    Ok(found)
}

/// What `fsck` found.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct FsckReport {
    /// Live segments according to the index at open.
    pub segments: u64,
    /// Segments whose header and payload checked out.
    pub verified: u64,
    /// Segments that failed (first 100 listed as "seq: reason").
    pub corrupt: Vec<String>,
    /// Total corrupt segments.
    pub corrupt_count: u64,
    /// Live segments according to a scan of the data area.
    pub scanned_segments: u64,
    /// Index and scan describe the same segments.
    pub index_matches_scan: bool,
    /// What the open found (superblock, tail, roll-forward).
    pub recovery: recovery::RecoveryReport,
    /// The index was rewritten from the scan.
    pub repaired: bool,
}

impl FsckReport {
    /// True when nothing is wrong.
    pub fn clean(&self) -> bool {
        self.corrupt_count == 0
            && self.index_matches_scan
            && self.recovery.superblocks_damaged == 0
            && !self.recovery.tail_lost
            && self.recovery.lost == 0
    }
}

/// Checks every superblock, index record and segment CRC of the ring on `dev`; with `repair`,
/// rewrites the index and tail from a scan of the data area.
pub fn fsck<D: Device>(dev: &D, repair: bool) -> Result<FsckReport> {
    let ring = Ring::open(
        dev,
        OpenOptions {
            read_only: true,
            ..OpenOptions::default()
        },
    )?;
    let reader = ring.reader();
    let segments = reader.segments();
    let mut report = FsckReport {
        segments: segments.len() as u64,
        recovery: ring.recovery().clone(),
        ..FsckReport::default()
    };
    let mut buf = AlignedBuf::new(0);
    for info in &segments {
        let result = reader
            .pin(info.seq, info.seq)
            .and_then(|pin| pin.read(info.seq, &mut buf));
        match result {
            Ok(_) => report.verified += 1,
            Err(e) => {
                report.corrupt_count += 1;
                if report.corrupt.len() < MAX_LISTED {
                    report.corrupt.push(format!("{}: {e}", info.seq));
                }
            }
        }
    }
    let geometry = ring.geometry().clone();
    let (generation, epoch) = {
        let state = ring.shared.lock();
        (state.tail_generation, state.epoch)
    };
    // Segments the index lost (recovery's `lost`) are still candidates for the scan.
    let lower = ring.stats().oldest_seq - ring.recovery().lost;
    let mut scanned = rebuild(dev, &geometry, lower, generation, epoch)?;
    // The repair writes the tail with the epoch the read-only open would have used: newer than
    // every record on the medium.
    scanned.epoch = epoch;
    report.scanned_segments = scanned.entries.len() as u64;
    report.index_matches_scan = scanned.entries.iter().eq(segments.iter());
    drop(reader);
    drop(ring);
    if repair {
        let (_, health) = read_superblock(dev)?;
        let mut recovered = Recovered {
            state: scanned,
            report: report.recovery.clone(),
            health,
            write_tail: true,
            index: IndexRepair::Whole,
        };
        recovered.state.check(&geometry);
        recovery::apply_repairs(dev, &geometry, &mut recovered)?;
        report.repaired = true;
    }
    Ok(report)
}
