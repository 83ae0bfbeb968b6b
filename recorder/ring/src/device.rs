//! The one seam between the ring and storage. Everything the ring does to a medium goes through
//! `Device`, so the same engine runs on a raw partition, a file, an in-memory crash simulator and a
//! fault injector. The contract is the strictest of the real media (O_DIRECT): offsets, lengths and
//! buffer addresses are multiples of `BLOCK`, and every implementation enforces it so a test on a
//! simulated device catches what would be EINVAL on the SD card.
//!
//! A flush can run in the background (`sync_in_background`) so the writer streams the next
//! segment while the medium makes the previous one durable. Its contract is the weakest a real
//! medium gives: it covers the writes that completed before it started, nothing later. The ring's
//! I/O thread outlives each call into the ring, so it cannot borrow the device; `io_handle` gives
//! it an owned handle to the same medium.

mod aligned;
mod fault;
mod file;
mod flusher;
mod mem;

pub use aligned::AlignedBuf;
pub use fault::{FaultDevice, FaultPlan};
pub use file::{DirectIo, FileDevice};
pub use mem::{MemDevice, SplitMix64, SECTOR};

use std::io;
use std::sync::Arc;

/// The I/O unit of the ring: the minimum alignment of every offset, length and buffer.
pub const BLOCK: u64 = 4096;

/// Called once when a background sync has finished, with its result; may run on any thread.
pub type SyncDone = Box<dyn FnOnce(io::Result<()>) + Send + 'static>;

/// A block device as the ring sees it. Methods take `&self` so readers and the writer can use the
/// device at the same time (pread/pwrite semantics); implementations synchronise internally.
#[allow(clippy::len_without_is_empty)] // a device is never empty
pub trait Device: Send + Sync {
    /// Usable length in bytes (a multiple of `BLOCK` is not required; the ring rounds down).
    fn len(&self) -> u64;
    /// Reads exactly `buf.len()` bytes at `offset`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Writes all of `buf` at `offset`. Not durable until `sync` returns.
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()>;
    /// Makes every completed write durable (fdatasync / cache flush).
    fn sync(&self) -> io::Result<()>;
    /// A name for error messages ("/dev/mmcblk0p5", "memory").
    fn name(&self) -> String;

    /// Starts making durable every write that completed before this call and returns without
    /// waiting; `done` runs once that is so (or failed). Writes issued after this call are not
    /// covered. After a failure no later sync may report success for the same writes, so
    /// implementations keep the first error. The default syncs here and now.
    fn sync_in_background(&self, done: SyncDone) {
        done(self.sync());
    }

    /// Waits until every background sync started so far has finished (its `done` has run) and
    /// returns the first error any of them met.
    fn wait_background_syncs(&self) -> io::Result<()> {
        Ok(())
    }

    /// An owned handle to the same medium (same bytes, same durability, same fault plan), which
    /// the ring's I/O thread may keep after the call that asked for it returns. `None` (the
    /// default): the ring performs its device operations on the caller's thread instead, in the
    /// same order, without overlapping them with the caller's work.
    fn io_handle(&self) -> Option<Arc<dyn Device>> {
        None
    }
}

/// Checks the O_DIRECT contract; every implementation calls it first so misuse is caught in tests.
pub(crate) fn check_aligned(
    offset: u64,
    buf_ptr: *const u8,
    len: usize,
    dev_len: u64,
) -> io::Result<()> {
    let len64 = len as u64;
    if offset % BLOCK != 0 || len64 % BLOCK != 0 || (buf_ptr as usize) % (BLOCK as usize) != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unaligned device I/O: offset {offset}, length {len}"),
        ));
    }
    match offset.checked_add(len64) {
        Some(end) if end <= dev_len => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("device I/O past the end: offset {offset}, length {len}, device {dev_len}"),
        )),
    }
}

/// A shared or borrowed device is the device: every method goes to the one behind it.
macro_rules! forward_device {
    ($($target:ty),+) => {$(
        impl<D: Device + ?Sized> Device for $target {
            fn len(&self) -> u64 {
                (**self).len()
            }
            fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
                (**self).read_at(offset, buf)
            }
            fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
                (**self).write_at(offset, buf)
            }
            fn sync(&self) -> io::Result<()> {
                (**self).sync()
            }
            fn name(&self) -> String {
                (**self).name()
            }
            fn sync_in_background(&self, done: SyncDone) {
                (**self).sync_in_background(done)
            }
            fn wait_background_syncs(&self) -> io::Result<()> {
                (**self).wait_background_syncs()
            }
            fn io_handle(&self) -> Option<Arc<dyn Device>> {
                (**self).io_handle()
            }
        }
    )+};
}

forward_device!(Arc<D>, &D);
