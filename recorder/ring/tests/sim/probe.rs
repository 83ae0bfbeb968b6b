//! A device wrapper that lets the simulation arm the fault plan at any moment (after the ring is
//! open, so crash points are counted from the first append) and learn from the outside what the
//! power cut interrupted: how many bytes of segment data a finished sync had covered (so which
//! segments must survive), whether a background flush was still running when the power failed,
//! and which kind of operation the cut hit. The engine is not asked; the model must not trust it.
//! Its `io_handle` is a clone sharing everything, so the ring's I/O thread and the simulation see
//! one device; the writes and syncs all come from that one thread, in the order the writer queued
//! them, so the operation numbers replay by seed.

use moment_ring::{Device, FaultDevice, FaultPlan, Geometry, MemDevice, SyncDone};
use std::io;
use std::sync::{Arc, Mutex, OnceLock};

/// Where a write was aimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    Superblock,
    Tail,
    Index,
    Data,
}

/// One device operation, for describing the crash point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Read,
    Write(Area),
    Sync,
    /// Starting a background flush.
    StartSync,
    /// Waiting for background flushes to finish.
    WaitSync,
}

#[derive(Default)]
struct Seen {
    /// Bytes written into the data area since arming.
    data_written: u64,
    /// Of those, the bytes a finished sync had covered when it started.
    data_durable: u64,
    /// Background flushes that failed: those running when the power failed, and one whose start
    /// the cut hit (not counted, see `sync_in_background`).
    flushes_failed: u64,
    failed: Option<Op>,
}

/// `MemDevice` until armed, then the same memory behind a `FaultDevice`. Clones share all of it.
#[derive(Clone)]
pub struct Probe {
    mem: MemDevice,
    fault: Arc<OnceLock<FaultDevice>>,
    tail_off: u64,
    index_off: u64,
    data_off: u64,
    data_end: u64,
    seen: Arc<Mutex<Seen>>,
}

impl Probe {
    pub fn new(mem: MemDevice, geometry: &Geometry) -> Arc<Probe> {
        Arc::new(Probe {
            mem,
            fault: Arc::default(),
            tail_off: geometry.tail_off,
            index_off: geometry.index_off,
            data_off: geometry.data_off,
            data_end: geometry.data_off + geometry.data_len,
            seen: Arc::default(),
        })
    }

    /// From now on every operation goes through a fault device with `plan`; its operation
    /// numbers count from here.
    pub fn arm(&self, plan: FaultPlan) {
        let fresh = FaultDevice::new(self.mem.clone(), plan);
        assert!(self.fault.set(fresh).is_ok(), "probe armed twice");
    }

    /// Operations since arming.
    pub fn ops(&self) -> u64 {
        self.fault.get().map_or(0, FaultDevice::ops)
    }

    pub fn powered_off(&self) -> bool {
        self.fault.get().is_some_and(FaultDevice::powered_off)
    }

    /// The planned sync failure happened (the device stays on).
    pub fn sync_failed(&self) -> bool {
        self.fault.get().is_some_and(FaultDevice::sync_failed)
    }

    /// Bytes of segment data written since arming that a finished sync made durable.
    pub fn data_durable(&self) -> u64 {
        self.lock().data_durable
    }

    /// The power failed while a background flush was running (its writes were not durable and
    /// later writes had gone out).
    pub fn flush_cut(&self) -> bool {
        self.lock().flushes_failed > 0
    }

    /// The first operation that failed (the one the power cut hit).
    pub fn failed_op(&self) -> Option<Op> {
        self.lock().failed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn area(&self, offset: u64) -> Area {
        match offset {
            o if o < self.tail_off => Area::Superblock,
            o if o < self.index_off => Area::Tail,
            o if o < self.data_off => Area::Index,
            o if o < self.data_end => Area::Data,
            _ => Area::Superblock,
        }
    }

    fn device(&self) -> &dyn Device {
        match self.fault.as_ref().get() {
            Some(fault) => fault,
            None => &self.mem,
        }
    }

    fn note(&self, op: Op, result: &io::Result<()>) {
        let mut seen = self.lock();
        if result.is_err() {
            seen.failed = seen.failed.or(Some(op));
        }
    }

    /// The callback a sync started now reports through: on success, everything written so far
    /// is durable.
    fn watch(&self, done: SyncDone) -> SyncDone {
        let seen = Arc::clone(&self.seen);
        let covered = self.lock().data_written;
        Box::new(move |result| {
            {
                let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                match &result {
                    Ok(()) => seen.data_durable = seen.data_durable.max(covered),
                    Err(_) => seen.flushes_failed += 1,
                }
            }
            done(result)
        })
    }
}

impl Device for Probe {
    fn len(&self) -> u64 {
        self.mem.len()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let result = self.device().read_at(offset, buf);
        self.note(Op::Read, &result);
        result
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        let area = self.area(offset);
        let result = self.device().write_at(offset, buf);
        self.note(Op::Write(area), &result);
        if result.is_ok() && area == Area::Data {
            self.lock().data_written += buf.len() as u64;
        }
        result
    }

    fn sync(&self) -> io::Result<()> {
        let covered = self.lock().data_written;
        let result = self.device().sync();
        self.note(Op::Sync, &result);
        if result.is_ok() {
            let mut seen = self.lock();
            seen.data_durable = seen.data_durable.max(covered);
        }
        result
    }

    fn sync_in_background(&self, done: SyncDone) {
        let was_on = !self.powered_off();
        self.device().sync_in_background(self.watch(done));
        if was_on && self.powered_off() {
            // The cut hit this very start: that flush never ran, so it was not in flight.
            let cut: io::Result<()> = Err(io::ErrorKind::BrokenPipe.into());
            self.note(Op::StartSync, &cut);
            self.lock().flushes_failed -= 1;
        }
    }

    fn wait_background_syncs(&self) -> io::Result<()> {
        let result = self.device().wait_background_syncs();
        self.note(Op::WaitSync, &result);
        result
    }

    fn name(&self) -> String {
        "crash-sim".to_string()
    }

    fn io_handle(&self) -> Option<Arc<dyn Device>> {
        Some(Arc::new(self.clone()))
    }
}
