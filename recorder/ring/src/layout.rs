//! Where things live on the device, fixed at format time and stored in the superblock. The
//! numbers here are the format: docs/ring-format.md draws them.

use crate::device::BLOCK;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The on-disk format version this build writes (docs/ring-format.md, "Version log").
pub const FORMAT_VERSION: u32 = 2;
/// The oldest version this build reads; a writable open migrates it to `FORMAT_VERSION`.
pub const OLDEST_READABLE_VERSION: u32 = 1;
pub(crate) const SUPERBLOCK_MAGIC: &[u8; 8] = b"MOMRINGS";
/// Bytes of one index slot; 32 fit a block, each in its own sectors.
pub const SLOT_SIZE: u64 = 128;
/// Smallest device a ring can be formatted on.
pub const MIN_DEVICE_BYTES: u64 = 1 << 20;
/// Largest segment a ring can be formatted for (a u32 payload length stays valid).
pub const MAX_SEGMENT_LIMIT: u64 = 1 << 30;
const MAX_SLOTS: u64 = 1 << 22;
const TAIL_BLOCKS: u64 = 2;
/// Bytes of data per index slot when the slot count is not given: a segment of 5 s at 400 kbit/s.
const BYTES_PER_SLOT: u64 = 256 << 10;
const DEFAULT_MAX_SEGMENT: u64 = 64 << 20;
/// SD cards erase in allocation units of typically 4 MiB; aligning the data area to them keeps
/// large sequential writes from straddling two units.
const SD_ALLOCATION_UNIT: u64 = 4 << 20;
const SMALL_ALIGN: u64 = 64 << 10;

/// The ring's layout and identity, as stored in both superblocks.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// `FORMAT_VERSION` at format time.
    pub version: u32,
    /// Random identity; every record carries its first 8 bytes.
    pub ring_id: [u8; 16],
    /// Bytes of the device the ring uses (a multiple of `BLOCK`).
    pub device_len: u64,
    /// Offset of the two tail-pointer blocks.
    pub tail_off: u64,
    /// Offset of the index slot table.
    pub index_off: u64,
    /// Number of index slots; also the most segments the ring holds at once.
    pub slot_count: u64,
    /// Offset of the circular data area.
    pub data_off: u64,
    /// Length of the data area.
    pub data_len: u64,
    /// Largest extent (header block + padded payload) of one segment.
    pub max_segment_bytes: u64,
    /// When the ring was formatted, microseconds since the epoch.
    pub created_utc_us: i64,
}

/// Choices for `format`; `None` means the default derived from the device size.
#[derive(Clone, Debug, Default)]
pub struct FormatOptions {
    /// Format even if the device holds a filesystem, partition table, ring or other data.
    pub force: bool,
    /// Use only this many bytes of the device.
    pub size: Option<u64>,
    /// Index slots (the most segments held at once).
    pub slot_count: Option<u64>,
    /// Largest segment extent, in bytes.
    pub max_segment_bytes: Option<u64>,
    /// Identity; random when `None`.
    pub ring_id: Option<[u8; 16]>,
}

impl Geometry {
    /// Lays out a ring on `device_len` bytes.
    pub fn compute(
        device_len: u64,
        options: &FormatOptions,
        created_utc_us: i64,
    ) -> Result<Geometry> {
        let usable = round_down(options.size.unwrap_or(device_len).min(device_len), BLOCK);
        if usable < MIN_DEVICE_BYTES {
            return Err(Error::TooSmall {
                device: String::new(),
                len: usable,
                min: MIN_DEVICE_BYTES,
            });
        }
        let per_block = BLOCK / SLOT_SIZE;
        let slot_count = options
            .slot_count
            .unwrap_or_else(|| (usable / BYTES_PER_SLOT).clamp(64, MAX_SLOTS));
        if !(8..=MAX_SLOTS).contains(&slot_count) {
            return Err(Error::InvalidGeometry(format!(
                "slot count {slot_count} must be between 8 and {MAX_SLOTS}"
            )));
        }
        let slot_count = slot_count.div_ceil(per_block) * per_block;
        let align = if usable >= 256 << 20 {
            SD_ALLOCATION_UNIT
        } else {
            SMALL_ALIGN
        };
        let tail_off = BLOCK;
        let index_off = tail_off + TAIL_BLOCKS * BLOCK;
        let data_off = round_up(index_off + slot_count * SLOT_SIZE, align);
        // The last block holds the second superblock.
        let data_end = round_down(usable - BLOCK, align);
        let data_len = data_end.saturating_sub(data_off);
        let max_segment_bytes = match options.max_segment_bytes {
            Some(bytes) => round_up(bytes, BLOCK),
            None => DEFAULT_MAX_SEGMENT.min(round_down(data_len / 4, BLOCK)),
        };
        let geometry = Geometry {
            version: FORMAT_VERSION,
            ring_id: options.ring_id.unwrap_or([0; 16]),
            device_len: usable,
            tail_off,
            index_off,
            slot_count,
            data_off,
            data_len,
            max_segment_bytes,
            created_utc_us,
        };
        geometry.validate().map_err(Error::InvalidGeometry)?;
        Ok(geometry)
    }

    /// Checks every invariant the engine relies on. Run on computed geometries and on every
    /// superblock read back, so a corrupt-but-CRC-valid superblock cannot send I/O astray.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let aligned = [
            self.device_len,
            self.tail_off,
            self.index_off,
            self.data_off,
            self.data_len,
        ];
        if aligned.iter().any(|v| v % BLOCK != 0) {
            return Err("offsets and lengths must be multiples of 4096".into());
        }
        if self.slot_count < 8
            || self.slot_count > MAX_SLOTS
            || self.slot_count % (BLOCK / SLOT_SIZE) != 0
        {
            return Err(format!("slot count {} out of range", self.slot_count));
        }
        // Every value may come from a superblock on disk: sums are checked, an overflow is a
        // corrupt geometry, never a wrapped offset that passes.
        match self.tail_off.checked_add(TAIL_BLOCKS * BLOCK) {
            Some(tail_end) if self.tail_off >= BLOCK && self.index_off >= tail_end => {}
            _ => return Err("tail or index area overlaps the superblock".into()),
        }
        match self.index_off.checked_add(self.slot_count * SLOT_SIZE) {
            Some(index_end) if index_end <= self.data_off => {}
            _ => return Err("index area overlaps the data area".into()),
        }
        match self.data_off.checked_add(self.data_len) {
            Some(end) if end <= self.device_len.saturating_sub(BLOCK) => {}
            _ => {
                return Err(
                    "data area overlaps the second superblock or runs past the device".into(),
                )
            }
        }
        if self.max_segment_bytes < 2 * BLOCK || self.max_segment_bytes > MAX_SEGMENT_LIMIT {
            return Err(format!(
                "largest segment {} must be between 8 KiB and 1 GiB",
                self.max_segment_bytes
            ));
        }
        if self.data_len < 4 * self.max_segment_bytes {
            return Err(format!(
                "data area of {} bytes must hold at least 4 segments of {} bytes",
                self.data_len, self.max_segment_bytes
            ));
        }
        Ok(())
    }

    /// The 64-bit tag every record carries.
    pub fn ring_tag(&self) -> u64 {
        u64::from_le_bytes(self.ring_id[..8].try_into().expect("8 bytes"))
    }

    /// Offsets of the two superblock copies: first and last block.
    pub fn superblock_offsets(&self) -> [u64; 2] {
        [0, self.device_len - BLOCK]
    }

    /// Offset of tail block `n` (0 or 1).
    pub(crate) fn tail_block(&self, n: u64) -> u64 {
        debug_assert!(n < TAIL_BLOCKS);
        self.tail_off + n * BLOCK
    }

    /// Byte length of the slot table.
    pub(crate) fn index_len(&self) -> u64 {
        self.slot_count * SLOT_SIZE
    }

    /// Largest payload a segment may carry.
    pub fn max_payload_bytes(&self) -> u64 {
        self.max_segment_bytes - BLOCK
    }
}

pub(crate) fn round_up(value: u64, to: u64) -> u64 {
    value.div_ceil(to) * to
}

pub(crate) fn round_down(value: u64, to: u64) -> u64 {
    value / to * to
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_gib_layout_is_sd_aligned() {
        let g = Geometry::compute(8 << 30, &FormatOptions::default(), 0).unwrap();
        assert_eq!(g.data_off % SD_ALLOCATION_UNIT, 0);
        assert_eq!(g.data_len % SD_ALLOCATION_UNIT, 0);
        assert_eq!(g.slot_count, 32768);
        assert_eq!(g.max_segment_bytes, 64 << 20);
        assert!(g.data_len >= (8 << 30) - (16 << 20));
    }

    #[test]
    fn small_and_invalid_geometries() {
        let g = Geometry::compute(MIN_DEVICE_BYTES, &FormatOptions::default(), 0).unwrap();
        assert!(g.validate().is_ok());
        assert!(Geometry::compute(MIN_DEVICE_BYTES - BLOCK, &FormatOptions::default(), 0).is_err());
        let too_big = FormatOptions {
            max_segment_bytes: Some(1 << 20),
            ..FormatOptions::default()
        };
        assert!(Geometry::compute(2 << 20, &too_big, 0).is_err());
        let mut bad = g.clone();
        bad.data_len += BLOCK * 1000;
        assert!(bad.validate().is_err());
    }

    /// A superblock with a valid CRC can still hold anything: offsets near the top of u64 are
    /// refused, never wrapped into a layout that passes (or a panic in a checked build).
    #[test]
    fn offsets_that_overflow_are_refused() {
        let g = Geometry::compute(64 << 20, &FormatOptions::default(), 0).unwrap();
        let top = round_down(u64::MAX, BLOCK);
        let mut cases = Vec::new();
        // (A device_len past the device is the opener's to refuse: it knows the device's size.)
        for field in 0..4 {
            let mut bad = g.clone();
            match field {
                0 => bad.tail_off = top,
                1 => bad.index_off = top,
                2 => bad.data_off = top,
                _ => bad.data_len = top,
            }
            cases.push(bad);
        }
        for bad in cases {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
