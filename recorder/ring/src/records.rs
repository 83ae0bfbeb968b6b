//! The records the ring stores about segments, shared by the index slots and the segment headers
//! in the data area. Keeping the same record in both places is what lets recovery cross-check them
//! and lets a scan rebuild a lost index.
//!
//! Version 2 records carry the open epoch; a ring formatted by version 1 still holds version 1
//! records until the ring wraps over them, so every decoder here also reads those, as epoch 0
//! (older than any epoch a version 2 build opens). Each version has its own magics, so a frame
//! is never decoded with the other version's layout.

use crate::codec;
use crate::device::BLOCK;
use serde::{Deserialize, Serialize};

pub(crate) const SLOT_MAGIC: &[u8; 8] = b"MOMINDX2";
pub(crate) const HEADER_MAGIC: &[u8; 8] = b"MOMSEGM2";
pub(crate) const TAIL_MAGIC: &[u8; 8] = b"MOMTAIL2";
/// Most keyframe positions one segment header holds: one per 20 ms of a 5 s segment, with room
/// to spare in the header block (each entry is at most 10 bytes on disk).
pub const MAX_KEYFRAMES: usize = 256;
/// Epochs, like sequence numbers, stay far below the top of u64: a CRC-valid record claiming
/// more is corrupt, and the counter can never wrap.
pub(crate) const MAX_EPOCH: u64 = u64::MAX / 2;

/// Bits of `SegmentMeta::flags`.
pub mod flags {
    /// The source restarted (or bytes were lost) before this segment: players must reset.
    pub const DISCONTINUITY: u32 = 1 << 0;
    /// `utc_start_us` comes from a synchronised clock (NTP or the phone), not a guess.
    pub const TIME_SYNCED: u32 = 1 << 1;
    /// Cut at the hard maximum length, not before a keyframe.
    pub const FORCED_CUT: u32 = 1 << 2;
    /// The payload starts with a keyframe (decodes alone).
    pub const KEYFRAME_START: u32 = 1 << 3;
}

/// What the recorder knows about a segment besides its bytes. Times are microseconds.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentMeta {
    /// Wall-clock start, microseconds since the Unix epoch (UTC).
    pub utc_start_us: i64,
    /// Monotonic clock at the start (CLOCK_MONOTONIC, microseconds), for ordering across clock jumps.
    pub mono_start_us: u64,
    /// Duration in microseconds.
    pub duration_us: u64,
    /// First presentation timestamp (90 kHz, 33 bits) if known.
    pub pts_first: Option<u64>,
    /// Last presentation timestamp (90 kHz, 33 bits) if known.
    pub pts_last: Option<u64>,
    /// `flags::*` bits.
    pub flags: u32,
    /// MPEG-TS continuity-counter errors seen while capturing this segment.
    pub continuity_errors: u32,
}

/// A segment as the ring knows it: where it lives and how to check it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Sequence number: contiguous, starting at 1. After a power cut a number that never became
    /// durable is given again; `(epoch, seq)` is what never repeats.
    pub seq: u64,
    /// The open epoch of the writer (one per writable open, docs/ring-format.md "Epochs"); 0 for
    /// segments written by a version 1 ring. Never decreases from one segment to the next.
    pub epoch: u64,
    /// Logical byte offset of the header within the data area (a multiple of `BLOCK`).
    pub pos: u64,
    /// Payload bytes (the TS data), without padding.
    pub payload_len: u32,
    /// CRC32 of the payload.
    pub payload_crc: u32,
    /// Times and flags.
    pub meta: SegmentMeta,
}

impl SegmentInfo {
    /// Bytes the segment occupies in the data area: one header block plus the padded payload.
    pub fn extent(&self) -> u64 {
        extent_for(u64::from(self.payload_len))
    }

    /// Wall-clock end, microseconds since the epoch.
    pub fn utc_end_us(&self) -> i64 {
        self.meta
            .utc_start_us
            .saturating_add(i64::try_from(self.meta.duration_us).unwrap_or(i64::MAX))
    }
}

/// Bytes in the data area for a payload of `payload_len` bytes.
pub(crate) fn extent_for(payload_len: u64) -> u64 {
    BLOCK + payload_len.div_ceil(BLOCK) * BLOCK
}

/// On disk in an index slot and in a segment's header block: the info plus the ring it belongs to,
/// so stale data from an earlier format is never taken for ours.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub(crate) struct SegmentRecord {
    pub ring_tag: u64,
    pub info: SegmentInfo,
}

/// Where a keyframe starts in a segment: its presentation time relative to the segment's first
/// (90 kHz ticks) and its byte offset in the payload. Written by `Ring::append_with_keyframes`
/// so a reader can start or cut a segment at a keyframe without parsing it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyframePos {
    /// 90 kHz ticks after the segment's `pts_first`.
    pub pts_offset: u32,
    /// Byte offset of the keyframe's first TS packet in the payload.
    pub byte_offset: u32,
}

/// A segment's header block: the same record as its index slot, plus what only the data area
/// has room for.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub(crate) struct HeaderRecord {
    pub ring_tag: u64,
    pub info: SegmentInfo,
    /// The epoch of the segment this one was written after (its own epoch when it had none).
    /// Recovery chains a header only after a segment of exactly that epoch, so a header left by
    /// one open can never be joined to segments another open wrote around it.
    pub prev_epoch: u64,
    /// At most `MAX_KEYFRAMES`, byte offsets increasing and inside the payload.
    pub keyframes: Vec<KeyframePos>,
}

/// The tail pointer: every segment below `oldest_seq` is gone. Written (to alternating blocks)
/// before the writer overwrites old segments, so recovery never trusts data that may be half
/// overwritten. It also holds the open epoch: written and synced by every writable open before
/// any segment carries that epoch, so no segment on the medium has an epoch above it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub(crate) struct TailRecord {
    pub ring_tag: u64,
    pub generation: u64,
    pub oldest_seq: u64,
    pub epoch: u64,
}

impl TailRecord {
    /// Generations compare as serial numbers (RFC 1982): the one written after `u64::MAX` (0)
    /// is still newer, so a corrupt but CRC-valid generation near the top can neither overflow
    /// the counter nor outrank every tail written after it.
    pub(crate) fn newer_than(&self, other: &TailRecord) -> bool {
        (self.generation.wrapping_sub(other.generation) as i64) > 0
    }
}

/// The version 1 records, read only: what a version 1 ring holds until it is overwritten.
mod v1 {
    use serde::Deserialize;

    pub(super) const SLOT_MAGIC: &[u8; 8] = b"MOMINDEX";
    pub(super) const HEADER_MAGIC: &[u8; 8] = b"MOMSEGMT";
    pub(super) const TAIL_MAGIC: &[u8; 8] = b"MOMTAIL1";

    #[derive(Deserialize)]
    pub(super) struct SegmentInfo {
        pub seq: u64,
        pub pos: u64,
        pub payload_len: u32,
        pub payload_crc: u32,
        pub meta: super::SegmentMeta,
    }

    #[derive(Deserialize)]
    pub(super) struct SegmentRecord {
        pub ring_tag: u64,
        pub info: SegmentInfo,
    }

    #[derive(Deserialize)]
    pub(super) struct TailRecord {
        pub ring_tag: u64,
        pub generation: u64,
        pub oldest_seq: u64,
    }

    impl SegmentRecord {
        pub(super) fn upgrade(self) -> super::SegmentRecord {
            let info = self.info;
            super::SegmentRecord {
                ring_tag: self.ring_tag,
                info: super::SegmentInfo {
                    seq: info.seq,
                    epoch: 0,
                    pos: info.pos,
                    payload_len: info.payload_len,
                    payload_crc: info.payload_crc,
                    meta: info.meta,
                },
            }
        }
    }
}

/// An index slot's record, of either version.
pub(crate) fn decode_slot(area: &[u8]) -> Option<SegmentRecord> {
    match codec::decode::<SegmentRecord>(SLOT_MAGIC, area) {
        Ok(record) => Some(record),
        Err(_) => codec::decode::<v1::SegmentRecord>(v1::SLOT_MAGIC, area)
            .ok()
            .map(v1::SegmentRecord::upgrade),
    }
}

/// A segment header block's record, of either version; a version 1 header has no keyframes. A
/// version 2 header whose keyframe list breaks its bounds is not a header.
pub(crate) fn decode_header(block: &[u8]) -> Option<HeaderRecord> {
    if let Ok(header) = codec::decode::<HeaderRecord>(HEADER_MAGIC, block) {
        let valid = header.prev_epoch <= header.info.epoch
            && keyframes_valid(&header.keyframes, header.info.payload_len);
        return valid.then_some(header);
    }
    let record = codec::decode::<v1::SegmentRecord>(v1::HEADER_MAGIC, block)
        .ok()?
        .upgrade();
    Some(HeaderRecord {
        ring_tag: record.ring_tag,
        info: record.info,
        prev_epoch: 0,
        keyframes: Vec::new(),
    })
}

/// A tail block's record, of either version (a version 1 tail is epoch 0).
pub(crate) fn decode_tail(block: &[u8]) -> Option<TailRecord> {
    if let Ok(tail) = codec::decode::<TailRecord>(TAIL_MAGIC, block) {
        return Some(tail);
    }
    let tail = codec::decode::<v1::TailRecord>(v1::TAIL_MAGIC, block).ok()?;
    Some(TailRecord {
        ring_tag: tail.ring_tag,
        generation: tail.generation,
        oldest_seq: tail.oldest_seq,
        epoch: 0,
    })
}

/// At most `MAX_KEYFRAMES` positions, byte offsets strictly increasing and inside the payload.
pub(crate) fn keyframes_valid(keyframes: &[KeyframePos], payload_len: u32) -> bool {
    keyframes.len() <= MAX_KEYFRAMES
        && keyframes.iter().all(|k| k.byte_offset < payload_len)
        && keyframes
            .windows(2)
            .all(|w| w[0].byte_offset < w[1].byte_offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::SLOT_SIZE;

    fn largest_info() -> SegmentInfo {
        SegmentInfo {
            seq: u64::MAX / 2 - 1,
            epoch: MAX_EPOCH,
            pos: u64::MAX,
            payload_len: u32::MAX,
            payload_crc: u32::MAX,
            meta: SegmentMeta {
                utc_start_us: i64::MIN,
                mono_start_us: u64::MAX,
                duration_us: u64::MAX,
                pts_first: Some(u64::MAX),
                pts_last: Some(u64::MAX),
                flags: u32::MAX,
                continuity_errors: u32::MAX,
            },
        }
    }

    /// The largest value of every field still fits a slot and, with the most keyframes, a
    /// header block: `codec::encode` panics otherwise.
    #[test]
    fn largest_records_fit_their_areas() {
        let record = SegmentRecord {
            ring_tag: u64::MAX,
            info: largest_info(),
        };
        let mut slot = [0u8; SLOT_SIZE as usize];
        codec::encode(SLOT_MAGIC, &record, &mut slot);
        assert_eq!(decode_slot(&slot), Some(record.clone()));
        let header = HeaderRecord {
            ring_tag: u64::MAX,
            info: record.info,
            prev_epoch: MAX_EPOCH,
            keyframes: (0..MAX_KEYFRAMES as u32)
                .map(|i| KeyframePos {
                    pts_offset: u32::MAX - i,
                    byte_offset: u32::MAX - MAX_KEYFRAMES as u32 + i,
                })
                .collect(),
        };
        let mut block = vec![0u8; BLOCK as usize];
        codec::encode(HEADER_MAGIC, &header, &mut block);
        assert_eq!(decode_header(&block), Some(header));
    }

    #[test]
    fn keyframe_lists_out_of_bounds_are_not_headers() {
        let mut header = HeaderRecord {
            ring_tag: 1,
            info: SegmentInfo {
                payload_len: 1000,
                ..largest_info()
            },
            prev_epoch: 0,
            keyframes: vec![KeyframePos {
                pts_offset: 0,
                byte_offset: 1000,
            }],
        };
        let mut block = vec![0u8; BLOCK as usize];
        codec::encode(HEADER_MAGIC, &header, &mut block);
        assert_eq!(decode_header(&block), None, "offset past the payload");
        header.keyframes = vec![KeyframePos::default(); 2];
        codec::encode(HEADER_MAGIC, &header, &mut block);
        assert_eq!(decode_header(&block), None, "offsets not increasing");
        header.keyframes = (0..=MAX_KEYFRAMES as u32)
            .map(|i| KeyframePos {
                pts_offset: 0,
                byte_offset: i,
            })
            .collect();
        codec::encode(HEADER_MAGIC, &header, &mut block);
        assert_eq!(decode_header(&block), None, "too many");
    }
}
