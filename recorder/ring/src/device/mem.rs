//! An in-memory device that knows what a power cut would leave behind. It keeps two images: what
//! has been written and what is durable (synced). `crash` builds the post-power-loss image: the
//! durable bytes plus, for every sector written since the last sync, either the old or the new
//! contents, chosen by a seeded generator so a failing crash replays exactly.

use super::{check_aligned, Device};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

/// The unit a power cut cannot tear: one 512-byte sector is either old or new, never mixed.
pub const SECTOR: u64 = 512;

#[derive(Debug)]
struct Images {
    written: Vec<u8>,
    durable: Vec<u8>,
    /// Sector ranges (start, end) written since the last sync, in write order.
    unsynced: Vec<(u64, u64)>,
}

/// Cloning shares the same images, so a test can keep a handle after giving one to the ring.
#[derive(Clone, Debug)]
pub struct MemDevice {
    images: Arc<Mutex<Images>>,
    len: u64,
}

impl MemDevice {
    /// A zero-filled device of `len` bytes.
    pub fn new(len: u64) -> MemDevice {
        MemDevice::from_image(vec![0; len as usize])
    }

    /// A device whose durable and written contents are `image`.
    pub fn from_image(image: Vec<u8>) -> MemDevice {
        let len = image.len() as u64;
        let images = Images {
            written: image.clone(),
            durable: image,
            unsynced: Vec::new(),
        };
        MemDevice {
            images: Arc::new(Mutex::new(images)),
            len,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Images> {
        // A panic while holding the lock cannot leave the images half-updated in a way that
        // matters to a simulation that is failing anyway.
        self.images.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Everything written so far, synced or not (what a reader sees while the power stays on).
    pub fn written_image(&self) -> Vec<u8> {
        self.lock().written.clone()
    }

    /// What power loss now would leave: durable bytes, plus each unsynced sector old or new
    /// according to `seed`.
    pub fn crash_image(&self, seed: u64) -> Vec<u8> {
        let images = self.lock();
        let mut image = images.durable.clone();
        let mut rng = SplitMix64(seed);
        for &(start, end) in &images.unsynced {
            let mut sector = start;
            while sector < end {
                let (a, b) = (sector as usize, (sector + SECTOR) as usize);
                if rng.next_u64() & 1 == 1 {
                    image[a..b].copy_from_slice(&images.written[a..b]);
                }
                sector += SECTOR;
            }
        }
        image
    }

    /// A failed flush: each unsynced sector reached the medium or not (by `seed`), and what
    /// did not is gone for good, as Linux drops the dirty pages of a failed fsync. Readers see
    /// what the medium holds from now on, and no later sync brings the lost sectors back.
    pub(crate) fn lose_unsynced(&self, seed: u64) {
        let image = self.crash_image(seed);
        let mut images = self.lock();
        images.written.copy_from_slice(&image);
        images.durable = image;
        images.unsynced.clear();
    }

    /// Applies only some sectors of a write (a write cut short by power loss). Used by the fault
    /// device to crash in the middle of a write.
    pub(crate) fn write_torn(&self, offset: u64, buf: &[u8], seed: u64) {
        let mut rng = SplitMix64(seed);
        let mut images = self.lock();
        let mut at = 0u64;
        while at < buf.len() as u64 {
            if rng.next_u64() & 1 == 1 {
                let dst = (offset + at) as usize;
                let src = at as usize;
                images.written[dst..dst + SECTOR as usize]
                    .copy_from_slice(&buf[src..src + SECTOR as usize]);
            }
            at += SECTOR;
        }
        images.unsynced.push((offset, offset + buf.len() as u64));
    }

    /// How many writes are not yet durable: a background sync started now covers these.
    pub(crate) fn unsynced_writes(&self) -> usize {
        self.lock().unsynced.len()
    }

    /// Makes the first `count` unsynced writes durable (a background sync that covered them
    /// finished); later writes stay unsynced. If a later write overwrote the same sectors, its
    /// bytes become durable with them, which a real medium may also do.
    pub(crate) fn sync_first(&self, count: usize) {
        let mut guard = self.lock();
        let images = &mut *guard;
        let count = count.min(images.unsynced.len());
        for &(start, end) in &images.unsynced[..count] {
            let (a, b) = (start as usize, end as usize);
            images.durable[a..b].copy_from_slice(&images.written[a..b]);
        }
        images.unsynced.drain(..count);
    }

    /// Overwrites bytes in both images, as a stray writer or bit rot would (tests only).
    pub fn corrupt(&self, offset: u64, bytes: &[u8]) {
        let mut images = self.lock();
        let (a, b) = (offset as usize, offset as usize + bytes.len());
        images.written[a..b].copy_from_slice(bytes);
        images.durable[a..b].copy_from_slice(bytes);
    }
}

impl Device for MemDevice {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        check_aligned(offset, buf.as_ptr(), buf.len(), self.len)?;
        let images = self.lock();
        let a = offset as usize;
        buf.copy_from_slice(&images.written[a..a + buf.len()]);
        Ok(())
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        check_aligned(offset, buf.as_ptr(), buf.len(), self.len)?;
        let mut images = self.lock();
        let a = offset as usize;
        images.written[a..a + buf.len()].copy_from_slice(buf);
        images.unsynced.push((offset, offset + buf.len() as u64));
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        let mut guard = self.lock();
        let images = &mut *guard;
        for &(start, end) in &images.unsynced {
            let (a, b) = (start as usize, end as usize);
            images.durable[a..b].copy_from_slice(&images.written[a..b]);
        }
        images.unsynced.clear();
        Ok(())
    }

    fn name(&self) -> String {
        "memory".to_string()
    }

    fn io_handle(&self) -> Option<Arc<dyn Device>> {
        Some(Arc::new(self.clone()))
    }
}

/// A tiny deterministic generator (SplitMix64) so crash images replay from a seed without a
/// dependency.
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0);
        self.next_u64() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{AlignedBuf, BLOCK};

    #[test]
    fn crash_keeps_synced_and_tears_unsynced_by_sector() {
        let dev = MemDevice::new(4 * BLOCK);
        let mut buf = AlignedBuf::new(BLOCK as usize);
        buf.fill(1);
        dev.write_at(0, &buf).unwrap();
        dev.sync().unwrap();
        buf.fill(2);
        dev.write_at(BLOCK, &buf).unwrap();
        let mut saw_old = false;
        let mut saw_new = false;
        for seed in 0..8 {
            let image = dev.crash_image(seed);
            assert!(
                image[..BLOCK as usize].iter().all(|&b| b == 1),
                "synced data survives"
            );
            for sector in image[BLOCK as usize..2 * BLOCK as usize].chunks(SECTOR as usize) {
                assert!(
                    sector.iter().all(|&b| b == sector[0]),
                    "a sector is never mixed"
                );
                saw_old |= sector[0] == 0;
                saw_new |= sector[0] == 2;
            }
        }
        assert!(saw_old && saw_new, "unsynced sectors land or not, by seed");
        assert_eq!(dev.crash_image(3), dev.crash_image(3), "a seed replays");
    }

    #[test]
    fn rejects_unaligned_io() {
        let dev = MemDevice::new(4 * BLOCK);
        let buf = AlignedBuf::new(BLOCK as usize);
        assert!(dev.write_at(1, &buf).is_err());
        assert!(dev.write_at(0, &buf[..100]).is_err());
        assert!(dev.write_at(4 * BLOCK, &buf).is_err());
    }
}
