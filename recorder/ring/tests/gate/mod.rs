//! A device for tests that must decide when background flushes finish: it holds each one until
//! the test releases it (or the ring waits for it), and can fail the next one. Clones share
//! everything, so a test keeps a handle after giving one to the ring.

use moment_ring::{Device, MemDevice, SyncDone};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Default)]
struct Inner {
    held: Vec<SyncDone>,
    fail_next: bool,
    failed: bool,
    writes_after_failure: u64,
}

#[derive(Clone)]
pub struct Gate {
    mem: MemDevice,
    inner: Arc<Mutex<Inner>>,
}

impl Gate {
    pub fn new(mem: MemDevice) -> Gate {
        Gate {
            mem,
            inner: Arc::default(),
        }
    }

    /// The memory behind it, for reopening without the gate.
    pub fn mem(&self) -> MemDevice {
        self.mem.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Background flushes started and not yet finished.
    pub fn held(&self) -> usize {
        self.lock().held.len()
    }

    /// Finishes every held flush (successfully).
    pub fn release(&self) {
        let held = std::mem::take(&mut self.lock().held);
        self.mem.sync().expect("memory syncs");
        for done in held {
            done(Ok(()));
        }
    }

    /// The next background flush fails with EIO.
    pub fn fail_next_flush(&self) {
        self.lock().fail_next = true;
    }

    /// Writes issued after a flush failed: the ring must issue none.
    pub fn writes_after_failure(&self) -> u64 {
        self.lock().writes_after_failure
    }
}

impl Device for Gate {
    fn len(&self) -> u64 {
        self.mem.len()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.mem.read_at(offset, buf)
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        let mut inner = self.lock();
        if inner.failed {
            inner.writes_after_failure += 1;
        }
        drop(inner);
        self.mem.write_at(offset, buf)
    }

    fn sync(&self) -> io::Result<()> {
        self.mem.sync()
    }

    fn sync_in_background(&self, done: SyncDone) {
        let mut inner = self.lock();
        if inner.fail_next {
            inner.fail_next = false;
            inner.failed = true;
            drop(inner);
            return done(Err(io::Error::from_raw_os_error(libc_eio())));
        }
        inner.held.push(done);
    }

    fn wait_background_syncs(&self) -> io::Result<()> {
        self.release();
        Ok(())
    }

    fn name(&self) -> String {
        "gate".to_string()
    }

    fn io_handle(&self) -> Option<Arc<dyn Device>> {
        Some(Arc::new(self.clone()))
    }
}

/// EIO, without a libc dependency in the tests.
fn libc_eio() -> i32 {
    5
}
