//! The ring targets: one fuzzed block spliced into a real ring, then everything that reads a
//! device (open read-only and writable, fsck checking and repairing). The ring is built through
//! the public API and the blocks are found through its `Geometry` and segment list, never from a
//! copy of the on-disk layout, so these targets (and `seed`) follow format changes by themselves.

use super::{class, ensure, Outcome};
use moment_ring::audit::{append_after_open, check_reads, consistent};
use moment_ring::{
    format, fsck, Error, FormatOptions, Geometry, MemDevice, OpenOptions, RecoveryReport, Ring,
    SegmentInfo, SegmentMeta, BLOCK, MIN_DEVICE_BYTES,
};
use std::sync::OnceLock;

/// Bytes of one device block: a ring input is at most one block.
pub const BLOCK_LEN: usize = BLOCK as usize;
/// Appends into the base ring: enough to wrap its data area once.
const BASE_APPENDS: u64 = 40;

/// A small real ring after a clean close, and where its blocks are.
pub struct BaseRing {
    pub image: Vec<u8>,
    pub geometry: Geometry,
    /// Live segments, oldest first.
    pub segments: Vec<SegmentInfo>,
    /// Every real record checked out as `[magic 8][len u32 LE][body][crc32 LE]`.
    pub envelope_confirmed: bool,
}

/// The base ring, built once per process.
pub fn base() -> Result<&'static BaseRing, String> {
    static BASE: OnceLock<Result<BaseRing, String>> = OnceLock::new();
    BASE.get_or_init(build).as_ref().map_err(Clone::clone)
}

fn build() -> Result<BaseRing, String> {
    let mem = MemDevice::new(MIN_DEVICE_BYTES);
    let options = FormatOptions {
        slot_count: Some(32),
        max_segment_bytes: Some(64 << 10),
        ring_id: Some([0x5A; 16]),
        ..FormatOptions::default()
    };
    let geometry = format(&mem, &options).map_err(|e| format!("format: {e}"))?;
    let mut ring =
        Ring::open(mem.clone(), OpenOptions::default()).map_err(|e| format!("open: {e}"))?;
    for i in 0..BASE_APPENDS {
        let len = 10_000 + (i as usize * 7_919) % 30_000;
        let payload: Vec<u8> = (0..len).map(|j| (j as u64 * 31 + i) as u8).collect();
        let meta = SegmentMeta {
            utc_start_us: 1_800_000_000_000_000 + i as i64 * 5_000_000,
            mono_start_us: i * 5_000_000,
            duration_us: 5_000_000,
            pts_first: Some(i * 450_000),
            pts_last: Some(i * 450_000 + 447_000),
            ..SegmentMeta::default()
        };
        ring.append(&meta, &payload)
            .map_err(|e| format!("append {i}: {e}"))?;
    }
    ring.close().map_err(|e| format!("close: {e}"))?;
    let image = mem.written_image();
    let read_only = OpenOptions {
        read_only: true,
        ..OpenOptions::default()
    };
    let ring = Ring::open(MemDevice::from_image(image.clone()), read_only)
        .map_err(|e| format!("reopen: {e}"))?;
    let segments = ring.reader().segments();
    let mut base = BaseRing {
        image,
        geometry,
        segments,
        envelope_confirmed: false,
    };
    base.envelope_confirmed = base.confirm_envelope();
    Ok(base)
}

impl BaseRing {
    /// Device offsets of the index blocks.
    pub fn index_blocks(&self) -> Vec<u64> {
        let g = &self.geometry;
        (g.index_off
            ..g.data_off
                .min(g.index_off + g.slot_count * moment_ring::SLOT_SIZE))
            .step_by(BLOCK_LEN)
            .collect()
    }

    /// Device offsets of the two tail blocks (they sit between the tail and index offsets).
    pub fn tail_blocks(&self) -> Vec<u64> {
        let g = &self.geometry;
        (g.tail_off..g.index_off).step_by(BLOCK_LEN).collect()
    }

    /// Device offset of `info`'s header block.
    pub fn header_block(&self, info: &SegmentInfo) -> u64 {
        self.geometry.data_off + info.pos
    }

    /// Device offset of the block right after the newest segment, where roll-forward looks.
    pub fn after_newest(&self) -> Option<u64> {
        let newest = self.segments.last()?;
        let g = &self.geometry;
        Some(g.data_off + (newest.pos + newest.extent()) % g.data_len)
    }

    /// Whether every live record (both tails, the live slots, the live headers) is a frame whose
    /// CRC `frame_crc` would leave unchanged.
    fn confirm_envelope(&self) -> bool {
        let mut areas: Vec<(u64, usize)> = self
            .tail_blocks()
            .iter()
            .map(|&at| (at, BLOCK_LEN))
            .collect();
        let slot = moment_ring::SLOT_SIZE;
        areas.extend(self.segments.iter().map(|s| {
            (
                self.geometry.index_off + s.seq % self.geometry.slot_count * slot,
                slot as usize,
            )
        }));
        areas.extend(
            self.segments
                .iter()
                .map(|s| (self.header_block(s), BLOCK_LEN)),
        );
        areas.iter().all(|&(at, len)| {
            let area = &self.image[at as usize..at as usize + len];
            let mut copy = area.to_vec();
            frame_crc(&mut copy) && copy == area
        })
    }

    /// The header block the next append would write (at `after_newest`): what roll-forward
    /// looks for after a power cut between a segment's data and its index slot.
    pub fn next_header(&self) -> Result<Option<Vec<u8>>, String> {
        let Some(at) = self.after_newest() else {
            return Ok(None);
        };
        let mem = MemDevice::from_image(self.image.clone());
        let mut ring =
            Ring::open(mem.clone(), OpenOptions::default()).map_err(|e| format!("open: {e}"))?;
        ring.append(&SegmentMeta::default(), &[0x3C; 1000])
            .map_err(|e| format!("append: {e}"))?;
        ring.close().map_err(|e| format!("close: {e}"))?;
        let image = mem.written_image();
        Ok(Some(image[at as usize..at as usize + BLOCK_LEN].to_vec()))
    }

    /// The block at device offset `at`.
    pub fn block(&self, at: u64) -> &[u8] {
        &self.image[at as usize..at as usize + BLOCK_LEN]
    }
}

/// The input over the first index block.
pub fn index(input: &[u8]) -> Result<Outcome, String> {
    let base = base()?;
    let at = *base.index_blocks().first().ok_or("the ring has no index")?;
    exercise(base, &[at], moment_ring::SLOT_SIZE as usize, input)
}

/// The input over each tail block in turn.
pub fn tail(input: &[u8]) -> Result<Outcome, String> {
    let base = base()?;
    exercise(base, &base.tail_blocks(), BLOCK_LEN, input)
}

/// The input over the newest segment's header, then over the block after the newest segment.
pub fn header(input: &[u8]) -> Result<Outcome, String> {
    let base = base()?;
    let newest = base.segments.last().ok_or("the base ring is empty")?;
    let mut places = vec![base.header_block(newest)];
    places.extend(base.after_newest());
    exercise(base, &places, BLOCK_LEN, input)
}

/// Puts `input` at each of `places` in turn (one place per image), as it is and re-framed, and
/// runs every reader. `unit` is the size of one record's area within the block.
fn exercise(base: &BaseRing, places: &[u64], unit: usize, input: &[u8]) -> Result<Outcome, String> {
    let mut parts = Vec::new();
    for &at in places {
        let mut image = base.image.clone();
        // Shorter inputs keep the rest of the real block: a splice, not a zeroed block.
        let at = at as usize;
        let len = input.len().min(BLOCK_LEN);
        image[at..at + len].copy_from_slice(&input[..len]);
        parts.push(readers(&image)?);
        if base.envelope_confirmed {
            let framed = image[at..at + BLOCK_LEN]
                .chunks_mut(unit)
                .fold(false, |any, area| frame_crc(area) | any);
            if framed {
                parts.push(readers(&image)?);
            }
        }
    }
    Ok(class(&parts))
}

fn readers(image: &[u8]) -> Result<Outcome, String> {
    Ok(class(&[
        opened(image, true)?,
        opened(image, false)?,
        checked(image)?,
        repaired(image)?,
    ]))
}

/// Gives the frame at the start of `area` a correct CRC if its length field fits the area;
/// returns whether it did.
fn frame_crc(area: &mut [u8]) -> bool {
    const HEAD: usize = 12;
    let Some(len) = area
        .get(8..HEAD)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    else {
        return false;
    };
    let end = HEAD + len as usize;
    if len == 0 || end + 4 > area.len() {
        return false;
    }
    let crc = crc32fast::hash(&area[..end]);
    area[end..end + 4].copy_from_slice(&crc.to_le_bytes());
    true
}

/// Opens the image; whatever opens must hold together and read back CRC-checked segments, and a
/// writable ring must take an append. The class: the error kind, or the segments listed.
fn opened(image: &[u8], read_only: bool) -> Result<u64, String> {
    let options = OpenOptions {
        read_only,
        ..OpenOptions::default()
    };
    let mut ring = match Ring::open(MemDevice::from_image(image.to_vec()), options) {
        Ok(ring) => ring,
        Err(e) => return Ok(error_class(&e)),
    };
    let listed = consistent(&ring)?;
    let corrupt = check_reads(&ring, &listed, |_, _| Ok(()))?;
    let seen = class(&[
        listed.len() as u64,
        corrupt,
        recovery_class(ring.recovery()),
    ]);
    if read_only {
        return Ok(seen);
    }
    append_after_open(&mut ring)?;
    Ok(seen)
}

/// fsck without repair must account for every segment it was given.
fn checked(image: &[u8]) -> Result<u64, String> {
    let report = match fsck(&MemDevice::from_image(image.to_vec()), false) {
        Ok(report) => report,
        Err(e) => return Ok(error_class(&e)),
    };
    ensure!(
        report.verified + report.corrupt_count == report.segments,
        "fsck report does not add up: {report:?}"
    );
    Ok(class(&[
        report.segments,
        report.corrupt_count,
        u64::from(report.index_matches_scan),
        recovery_class(&report.recovery),
    ]))
}

/// After a successful repair the ring opens, holds together and agrees with a new scan.
fn repaired(image: &[u8]) -> Result<u64, String> {
    let dev = MemDevice::from_image(image.to_vec());
    if let Err(e) = fsck(&dev, true) {
        return Ok(error_class(&e));
    }
    let ring = Ring::open(dev.clone(), OpenOptions::default())
        .map_err(|e| format!("open after fsck --repair failed: {e}"))?;
    let listed = consistent(&ring)?;
    check_reads(&ring, &listed, |_, _| Ok(()))?;
    drop(ring);
    let again = fsck(&dev, false).map_err(|e| format!("fsck after --repair failed: {e}"))?;
    ensure!(
        again.index_matches_scan,
        "the index fsck --repair wrote does not match a new scan: {again:?}"
    );
    Ok(2 + listed.len() as u64)
}

/// Which recovery paths the open took (not how long it took).
fn recovery_class(r: &RecoveryReport) -> u64 {
    class(&[
        u64::from(r.superblocks_damaged),
        u64::from(r.tail_lost),
        r.rolled_forward.min(4),
        r.lost.min(4),
        u64::from(r.rebuilt_by_scan),
        u64::from(r.repaired),
    ])
}

/// The error's variant name, as a class: which check refused the image.
fn error_class(e: &Error) -> u64 {
    let debug = format!("{e:?}");
    let variant = debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default();
    crate::rng::fnv1a(variant.as_bytes()) | 1 << 63
}
