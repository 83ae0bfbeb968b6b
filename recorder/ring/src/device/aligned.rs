//! A heap buffer aligned to `BLOCK`, because O_DIRECT rejects buffers at arbitrary addresses and
//! `Vec<u8>` promises only byte alignment.

use super::BLOCK;
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// Zero-initialised, `BLOCK`-aligned bytes. `len` is the logical length the caller sees; the
/// allocation is rounded up to whole blocks so the whole of it can be handed to the device.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    capacity: usize,
    len: usize,
}

// SAFETY: AlignedBuf owns its allocation exclusively, like Vec<u8>.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared access only hands out &[u8].
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// A zeroed buffer of `len` bytes (capacity rounded up to whole blocks, at least one).
    pub fn new(len: usize) -> Self {
        let block = BLOCK as usize;
        let capacity = len.max(1).div_ceil(block) * block;
        let layout = Layout::from_size_align(capacity, block).expect("buffer layout");
        // SAFETY: layout has a non-zero size.
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        AlignedBuf { ptr, capacity, len }
    }

    /// Whole-block capacity, the most `set_len` accepts.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Changes the logical length without touching the bytes; grows the allocation if needed
    /// (new bytes are zero).
    pub fn set_len(&mut self, len: usize) {
        if len > self.capacity {
            let mut bigger = AlignedBuf::new(len);
            bigger[..self.len].copy_from_slice(&self[..]);
            *self = bigger;
        }
        self.len = len;
    }

    /// The first `n` bytes rounded up to whole blocks: what may be passed to a device.
    pub fn blocks_mut(&mut self, n: usize) -> &mut [u8] {
        let block = BLOCK as usize;
        let n = n.div_ceil(block) * block;
        assert!(n <= self.capacity, "block view beyond the allocation");
        // SAFETY: n <= capacity, the allocation is initialised (zeroed at creation).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), n) }
    }

    /// Read-only view of the first `n` bytes rounded up to whole blocks.
    pub fn blocks(&self, n: usize) -> &[u8] {
        let block = BLOCK as usize;
        let n = n.div_ceil(block) * block;
        assert!(n <= self.capacity, "block view beyond the allocation");
        // SAFETY: as in blocks_mut.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), n) }
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: len <= capacity and the memory is initialised.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in deref, with exclusive access through &mut self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        let layout = Layout::from_size_align(self.capacity, BLOCK as usize).expect("buffer layout");
        // SAFETY: allocated in new() with this exact layout.
        unsafe { dealloc(self.ptr.as_ptr(), layout) }
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlignedBuf({} bytes)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_zeroed_and_grows() {
        let mut b = AlignedBuf::new(10);
        assert_eq!(b.as_ptr() as usize % BLOCK as usize, 0);
        assert_eq!(b.capacity(), BLOCK as usize);
        assert!(b.iter().all(|&x| x == 0));
        b[3] = 7;
        b.set_len(3 * BLOCK as usize);
        assert_eq!(b[3], 7);
        assert_eq!(b.len(), 3 * BLOCK as usize);
        assert_eq!(b.blocks(1).len(), BLOCK as usize);
    }
}
