//! A device wrapper that lets the simulation arm the fault plan at any moment (after the ring is
//! open, so crash points are counted from the first append) and learn from the outside what the
//! power cut interrupted: whether the in-flight segment's data had been synced, and which kind of
//! operation the cut hit. The engine is not asked; the model must not trust it.

use moment_ring::{Device, FaultDevice, FaultPlan, Geometry, MemDevice};
use std::io;
use std::sync::{Mutex, OnceLock};

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
}

#[derive(Default)]
struct Seen {
    data_written: bool,
    data_synced: bool,
    failed: Option<Op>,
}

/// `MemDevice` until armed, then the same memory behind a `FaultDevice`.
pub struct Probe {
    mem: MemDevice,
    fault: OnceLock<FaultDevice>,
    tail_off: u64,
    index_off: u64,
    data_off: u64,
    data_end: u64,
    seen: Mutex<Seen>,
}

impl Probe {
    pub fn new(mem: MemDevice, geometry: &Geometry) -> Probe {
        Probe {
            mem,
            fault: OnceLock::new(),
            tail_off: geometry.tail_off,
            index_off: geometry.index_off,
            data_off: geometry.data_off,
            data_end: geometry.data_off + geometry.data_len,
            seen: Mutex::new(Seen::default()),
        }
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

    /// Call before each append: the durability flags then describe that append alone.
    pub fn begin_append(&self) {
        let mut seen = self.lock();
        seen.data_written = false;
        seen.data_synced = false;
    }

    /// The current append's segment data reached a completed sync (so it must survive).
    pub fn data_durable(&self) -> bool {
        self.lock().data_synced
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
        match self.fault.get() {
            Some(fault) => fault,
            None => &self.mem,
        }
    }

    fn note(&self, op: Op, result: &io::Result<()>) {
        let mut seen = self.lock();
        match (op, result) {
            (_, Err(_)) => seen.failed = seen.failed.or(Some(op)),
            (Op::Write(Area::Data), Ok(())) => seen.data_written = true,
            (Op::Sync, Ok(())) if seen.data_written => seen.data_synced = true,
            _ => {}
        }
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
        let result = self.device().write_at(offset, buf);
        self.note(Op::Write(self.area(offset)), &result);
        result
    }

    fn sync(&self) -> io::Result<()> {
        let result = self.device().sync();
        self.note(Op::Sync, &result);
        result
    }

    fn name(&self) -> String {
        "crash-sim".to_string()
    }
}
