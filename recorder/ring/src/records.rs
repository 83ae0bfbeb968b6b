//! The records the ring stores about segments, shared by the index slots and the segment headers
//! in the data area. Keeping the same record in both places is what lets recovery cross-check them
//! and lets a scan rebuild a lost index.

use crate::device::BLOCK;
use serde::{Deserialize, Serialize};

pub(crate) const SLOT_MAGIC: &[u8; 8] = b"MOMINDEX";
pub(crate) const HEADER_MAGIC: &[u8; 8] = b"MOMSEGMT";
pub(crate) const TAIL_MAGIC: &[u8; 8] = b"MOMTAIL1";

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
    /// Sequence number: contiguous, starting at 1, never reused.
    pub seq: u64,
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

/// The tail pointer: every segment below `oldest_seq` is gone. Written (to alternating blocks)
/// before the writer overwrites old segments, so recovery never trusts data that may be half
/// overwritten.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub(crate) struct TailRecord {
    pub ring_tag: u64,
    pub generation: u64,
    pub oldest_seq: u64,
}

impl TailRecord {
    /// Generations compare as serial numbers (RFC 1982): the one written after `u64::MAX` (0)
    /// is still newer, so a corrupt but CRC-valid generation near the top can neither overflow
    /// the counter nor outrank every tail written after it.
    pub(crate) fn newer_than(&self, other: &TailRecord) -> bool {
        (self.generation.wrapping_sub(other.generation) as i64) > 0
    }
}
