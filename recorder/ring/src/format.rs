//! Creating a ring and finding its superblock again. Formatting destroys what is on the device, so
//! it first looks for anything recognisable and refuses unless forced: pointing the recorder at the
//! wrong partition must not erase a filesystem.

use crate::codec;
use crate::device::{AlignedBuf, Device, BLOCK};
use crate::error::{Error, Result};
use crate::layout::{
    FormatOptions, Geometry, FORMAT_VERSION, OLDEST_READABLE_VERSION, SUPERBLOCK_MAGIC,
};
use crate::records::{TailRecord, TAIL_MAGIC};
use std::time::{SystemTime, UNIX_EPOCH};

/// Bytes at the start of a device inspected for signatures (covers btrfs at 64 KiB and ISO9660).
const PROBE_BYTES: usize = 128 << 10;
const ZERO_CHUNK: usize = 1 << 20;

/// Lays out a new, empty ring on `dev`. Returns the geometry written to the superblocks.
pub fn format<D: Device>(dev: &D, options: &FormatOptions) -> Result<Geometry> {
    let name = dev.name();
    let mut geometry =
        Geometry::compute(dev.len(), options, now_utc_us()).map_err(|e| match e {
            Error::TooSmall { len, min, .. } => Error::TooSmall {
                device: name.clone(),
                len,
                min,
            },
            other => other,
        })?;
    if !options.force {
        if let Some(what) = detect_existing(dev)? {
            return Err(Error::HoldsData { device: name, what });
        }
    }
    if options.ring_id.is_none() {
        geometry.ring_id = random_id();
    }
    let io = |op: &'static str| {
        let device = name.clone();
        move |e| Error::io(device, op, e)
    };
    let mut zeros = AlignedBuf::new(ZERO_CHUNK);
    // Invalidate any old superblocks first: a crash mid-format then leaves "not a ring", never an
    // old identity over a half-initialised index.
    for offset in geometry.superblock_offsets() {
        dev.write_at(offset, zeros.blocks(BLOCK as usize))
            .map_err(io("erasing old superblocks"))?;
    }
    dev.sync().map_err(io("erasing old superblocks"))?;
    write_zeros(
        dev,
        geometry.tail_off,
        geometry.data_off - geometry.tail_off,
        &zeros,
    )
    .map_err(io("clearing the index"))?;
    let tail = TailRecord {
        ring_tag: geometry.ring_tag(),
        generation: 1,
        oldest_seq: 1,
        epoch: 0,
    };
    codec::encode(TAIL_MAGIC, &tail, zeros.blocks_mut(BLOCK as usize));
    dev.write_at(geometry.tail_block(1), zeros.blocks(BLOCK as usize))
        .map_err(io("writing the tail"))?;
    codec::encode(
        SUPERBLOCK_MAGIC,
        &geometry,
        zeros.blocks_mut(BLOCK as usize),
    );
    for offset in geometry.superblock_offsets().into_iter().rev() {
        dev.write_at(offset, zeros.blocks(BLOCK as usize))
            .map_err(io("writing the superblock"))?;
    }
    dev.sync().map_err(io("syncing the new ring"))?;
    Ok(geometry)
}

fn write_zeros<D: Device>(
    dev: &D,
    mut offset: u64,
    len: u64,
    zeros: &AlignedBuf,
) -> std::io::Result<()> {
    let end = offset + len;
    while offset < end {
        let n = (end - offset).min(zeros.capacity() as u64) as usize;
        dev.write_at(offset, zeros.blocks(n))?;
        offset += n as u64;
    }
    Ok(())
}

/// Which superblock copies were readable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SuperblockHealth {
    /// The copy decoded and validated.
    pub good: [bool; 2],
    /// The copy is good and of this build's version (a good older one is to be migrated).
    pub current: [bool; 2],
}

impl SuperblockHealth {
    /// Copies the next writable open rewrites: damaged ones and older versions.
    pub fn copies_to_rewrite(&self) -> [bool; 2] {
        [!self.current[0], !self.current[1]]
    }

    /// A good copy is of an older version: the ring is being migrated.
    pub fn migrating(&self) -> bool {
        (0..2).any(|i| self.good[i] && !self.current[i])
    }
}

/// Finds the ring's geometry: the first copy that decodes and validates, checked against the
/// device size. A ring whose first copy is damaged is found through its last block.
pub(crate) fn read_superblock<D: Device>(dev: &D) -> Result<(Geometry, SuperblockHealth)> {
    let name = dev.name();
    let len = dev.len() / BLOCK * BLOCK;
    if len < 2 * BLOCK {
        return Err(Error::NotARing { device: name });
    }
    let mut version_seen = None;
    let first = read_copy(dev, 0, &mut version_seen)?;
    if let Some(g) = first.as_ref().filter(|g| g.device_len > dev.len()) {
        return Err(Error::DeviceShrunk {
            device: name,
            expected: g.device_len,
            actual: dev.len(),
        });
    }
    // The second copy ends the ring's own length, which is less than the device's after
    // `format --size`; without the first copy, the device's end is the only guess.
    let second_at = first.as_ref().map_or(len, |g| g.device_len) - BLOCK;
    let second = read_copy(dev, second_at, &mut version_seen)?;
    // A copy of an older readable version is migrated (rewritten by the next writable open, like
    // a damaged copy); a cut between the two rewrites leaves copies that differ in version only.
    let current = |g: &Option<Geometry>| g.as_ref().is_some_and(|g| g.version == FORMAT_VERSION);
    let health = SuperblockHealth {
        good: [first.is_some(), second.is_some()],
        current: [current(&first), current(&second)],
    };
    let normalised = |g: Option<Geometry>| {
        g.map(|mut g| {
            g.version = FORMAT_VERSION;
            g
        })
    };
    let geometry = match (normalised(first), normalised(second)) {
        // Both copies are written together at format: valid but different means damage that
        // kept a valid CRC. Trust neither silently.
        (Some(a), Some(b)) if a != b => return Err(Error::NotARing { device: name }),
        (Some(g), _) | (None, Some(g)) => g,
        (None, None) => {
            return Err(match version_seen {
                Some(found) => Error::UnsupportedVersion {
                    device: name,
                    found,
                    supported: FORMAT_VERSION,
                },
                None => Error::NotARing { device: name },
            })
        }
    };
    if geometry.device_len > dev.len() {
        return Err(Error::DeviceShrunk {
            device: name,
            expected: geometry.device_len,
            actual: dev.len(),
        });
    }
    Ok((geometry, health))
}

fn read_copy<D: Device>(
    dev: &D,
    offset: u64,
    version_seen: &mut Option<u32>,
) -> Result<Option<Geometry>> {
    let mut buf = AlignedBuf::new(BLOCK as usize);
    dev.read_at(offset, buf.blocks_mut(BLOCK as usize))
        .map_err(|e| Error::io(dev.name(), "reading the superblock", e))?;
    Ok(decode_superblock(&buf, version_seen))
}

fn decode_superblock(buf: &[u8], version_seen: &mut Option<u32>) -> Option<Geometry> {
    let geometry: Geometry = codec::decode(SUPERBLOCK_MAGIC, buf).ok()?;
    if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&geometry.version) {
        *version_seen = Some(geometry.version);
        return None;
    }
    geometry.validate().ok()?;
    Some(geometry)
}

/// Names what `dev` already holds, if anything: a ring, a filesystem, a partition table or any
/// non-zero data near the start.
pub fn detect_existing<D: Device>(dev: &D) -> Result<Option<String>> {
    if read_superblock(dev).is_ok() {
        return Ok(Some("a moment ring".to_string()));
    }
    let probe = (PROBE_BYTES as u64).min(dev.len() / BLOCK * BLOCK) as usize;
    let mut buf = AlignedBuf::new(probe);
    dev.read_at(0, buf.blocks_mut(probe))
        .map_err(|e| Error::io(dev.name(), "probing for existing data", e))?;
    Ok(identify(&buf))
}

/// Recognises common signatures in the first bytes of a device.
fn identify(head: &[u8]) -> Option<String> {
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    let signatures: [(usize, &[u8], &str); 11] = [
        (0x438, &[0x53, 0xEF], "an ext2/ext3/ext4 filesystem"),
        (0, b"hsqs", "a squashfs filesystem"),
        (0, b"XFSB", "an XFS filesystem"),
        (0x10040, b"_BHRfS_M", "a btrfs filesystem"),
        (0, b"LUKS\xba\xbe", "a LUKS encrypted volume"),
        (4086, b"SWAPSPACE2", "a swap area"),
        (0x400, &[0x10, 0x20, 0xF5, 0xF2], "an F2FS filesystem"),
        (0x8001, b"CD001", "an ISO 9660 filesystem"),
        (0x200, b"EFI PART", "a GPT partition table"),
        (0x36, b"FAT", "a FAT filesystem"),
        (0x52, b"FAT32", "a FAT32 filesystem"),
    ];
    for (offset, magic, what) in signatures {
        if at(offset, magic) {
            return Some(what.to_string());
        }
    }
    if at(510, &[0x55, 0xAA]) {
        return Some("a partition table or boot sector".to_string());
    }
    if head.iter().any(|&b| b != 0) {
        return Some("non-zero data in its first 128 KiB".to_string());
    }
    None
}

/// Microseconds since the epoch, from the system clock (0 if it is before 1970).
pub(crate) fn now_utc_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn random_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut id))
        .is_err()
    {
        // No urandom (unusual sandbox): time and pid still differ between formats.
        let seed = now_utc_us() as u64 ^ (u64::from(std::process::id()) << 32);
        let mut rng = crate::device::SplitMix64(seed);
        id[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
        id[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_filesystems_and_data() {
        let mut head = vec![0u8; PROBE_BYTES];
        assert_eq!(identify(&head), None);
        head[0x438] = 0x53;
        head[0x439] = 0xEF;
        assert_eq!(identify(&head).unwrap(), "an ext2/ext3/ext4 filesystem");
        let mut head = vec![0u8; PROBE_BYTES];
        head[510] = 0x55;
        head[511] = 0xAA;
        assert!(identify(&head).unwrap().contains("partition table"));
        let mut head = vec![0u8; PROBE_BYTES];
        head[70_000] = 1;
        assert!(identify(&head).unwrap().contains("non-zero"));
    }
}
