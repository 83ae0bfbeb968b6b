//! A device that misbehaves on purpose, the way SD cards and power cuts do: the power fails in the
//! middle of a write (some sectors land, later operations fail), an I/O error at operation N, a
//! write that lands at the wrong offset, bits that flip on the way back from a read. Every choice
//! comes from the plan's seed so a failure replays.

use super::mem::{MemDevice, SplitMix64, SECTOR};
use super::{Device, BLOCK};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// What goes wrong, and when. Operations (reads, writes, syncs) are numbered from 0.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    /// Seed for every random choice below.
    pub seed: u64,
    /// Power is cut at this operation: a write lands only in part, and every later operation fails.
    pub power_cut_at: Option<u64>,
    /// This operation fails with EIO; later ones succeed (the caller must fail closed itself).
    pub io_error_at: Option<u64>,
    /// This write lands at another block-aligned offset and reports success.
    pub misdirect_at: Option<u64>,
    /// Each read flips one bit with this probability, in parts per million.
    pub read_bitflip_ppm: u32,
}

/// A `MemDevice` behind a `FaultPlan`.
#[derive(Debug)]
pub struct FaultDevice {
    inner: MemDevice,
    plan: FaultPlan,
    ops: AtomicU64,
    powered_off: AtomicBool,
    rng: Mutex<SplitMix64>,
}

impl FaultDevice {
    /// Wraps `inner`; keep a clone of it to take the crash image afterwards.
    pub fn new(inner: MemDevice, plan: FaultPlan) -> FaultDevice {
        let rng = Mutex::new(SplitMix64(plan.seed ^ 0x5EED_FA17));
        FaultDevice {
            inner,
            plan,
            ops: AtomicU64::new(0),
            powered_off: AtomicBool::new(false),
            rng,
        }
    }

    /// Operations issued so far.
    pub fn ops(&self) -> u64 {
        self.ops.load(Ordering::SeqCst)
    }

    /// True once the planned power cut has happened.
    pub fn powered_off(&self) -> bool {
        self.powered_off.load(Ordering::SeqCst)
    }

    fn random(&self) -> u64 {
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_u64()
    }

    /// Numbers this operation and decides its fate.
    fn begin(&self) -> io::Result<(u64, bool)> {
        if self.powered_off() {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "power is off"));
        }
        let op = self.ops.fetch_add(1, Ordering::SeqCst);
        if self.plan.io_error_at == Some(op) {
            return Err(io::Error::other("injected I/O error"));
        }
        let cut = self.plan.power_cut_at == Some(op);
        if cut {
            self.powered_off.store(true, Ordering::SeqCst);
        }
        Ok((op, cut))
    }
}

impl Device for FaultDevice {
    fn len(&self) -> u64 {
        self.inner.len()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let (_, cut) = self.begin()?;
        if cut {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "power cut"));
        }
        self.inner.read_at(offset, buf)?;
        if self.plan.read_bitflip_ppm > 0
            && !buf.is_empty()
            && self.random() % 1_000_000 < u64::from(self.plan.read_bitflip_ppm)
        {
            let bit = self.random() % (buf.len() as u64 * 8);
            buf[(bit / 8) as usize] ^= 1 << (bit % 8);
        }
        Ok(())
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        let (op, cut) = self.begin()?;
        if cut {
            super::check_aligned(offset, buf.as_ptr(), buf.len(), self.len())?;
            debug_assert_eq!(buf.len() as u64 % SECTOR, 0);
            self.inner.write_torn(offset, buf, self.random());
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "power cut during write",
            ));
        }
        if self.plan.misdirect_at == Some(op) {
            let blocks = self.len() / BLOCK;
            let span = buf.len() as u64 / BLOCK;
            if blocks > span {
                let target = (self.random() % (blocks - span + 1)) * BLOCK;
                return self.inner.write_at(target, buf);
            }
        }
        self.inner.write_at(offset, buf)
    }

    fn sync(&self) -> io::Result<()> {
        let (_, cut) = self.begin()?;
        if cut {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "power cut during sync",
            ));
        }
        self.inner.sync()
    }

    fn name(&self) -> String {
        "fault-injecting memory".to_string()
    }
}
