//! A device that misbehaves on purpose, the way SD cards and power cuts do: the power fails in the
//! middle of a write (some sectors land, later operations fail), an I/O error at operation N, a
//! sync that fails (EIO) and leaves what it covered unwritten, a write that lands at the wrong offset, bits that flip on the way back from a read, a background
//! flush still running when later writes go out (and when the power fails). Every choice comes
//! from the plan's seed and the operation count, never from timing, so a failure replays.

use super::mem::{MemDevice, SplitMix64, SECTOR};
use super::{Device, SyncDone, BLOCK};
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// What goes wrong, and when. Operations (reads, writes, syncs) are numbered from 0.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    /// Seed for every random choice below.
    pub seed: u64,
    /// Power is cut at this operation: a write lands only in part, and every later operation fails.
    pub power_cut_at: Option<u64>,
    /// This operation fails with EIO; later ones succeed (the caller must fail closed itself).
    pub io_error_at: Option<u64>,
    /// The sync with this number (each `sync` and each background sync counts, from 0) fails
    /// with EIO, as a card's flush can: of every write not yet durable, each sector reached the
    /// medium or is lost for good (Linux drops the dirty pages of a failed fsync), and
    /// background syncs still running fail with it. The device stays on; later syncs succeed.
    pub sync_error_at: Option<u64>,
    /// This write lands at another block-aligned offset and reports success.
    pub misdirect_at: Option<u64>,
    /// Each read flips one bit with this probability, in parts per million.
    pub read_bitflip_ppm: u32,
    /// A background sync finishes only after 0..=N further operations (drawn per sync from the
    /// seed), or when waited for; until then its writes are not durable. 0: it finishes at once.
    pub sync_lag_ops: u64,
}

/// A background sync that has started but not finished.
struct Pending {
    /// It finishes when an operation with this number (or a wait) begins.
    due: u64,
    /// The unsynced writes of the memory device it covers (those before it started).
    covers: usize,
    done: SyncDone,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pending(due {}, covers {})", self.due, self.covers)
    }
}

/// A `MemDevice` behind a `FaultPlan`. Its `io_handle` shares the plan, the operation count and
/// the power state, so the ring's I/O thread and its readers see one device.
#[derive(Debug)]
pub struct FaultDevice(Arc<FaultState>);

/// What a `FaultDevice` and its handles share; nothing of it is public.
#[derive(Debug)]
pub struct FaultState {
    inner: MemDevice,
    plan: FaultPlan,
    ops: AtomicU64,
    /// Syncs started so far (`sync` and background), for `sync_error_at`.
    syncs: AtomicU64,
    sync_failed: AtomicBool,
    powered_off: AtomicBool,
    rng: Mutex<SplitMix64>,
    /// Background syncs in the order they started; at most a few (the ring waits for them).
    pending: Mutex<VecDeque<Pending>>,
}

impl FaultDevice {
    /// Wraps `inner`; keep a clone of it to take the crash image afterwards.
    pub fn new(inner: MemDevice, plan: FaultPlan) -> FaultDevice {
        let rng = Mutex::new(SplitMix64(plan.seed ^ 0x5EED_FA17));
        FaultDevice(Arc::new(FaultState {
            inner,
            plan,
            ops: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            sync_failed: AtomicBool::new(false),
            powered_off: AtomicBool::new(false),
            rng,
            pending: Mutex::new(VecDeque::new()),
        }))
    }

    /// Operations issued so far.
    pub fn ops(&self) -> u64 {
        self.ops.load(Ordering::SeqCst)
    }

    /// True once the planned power cut has happened.
    pub fn powered_off(&self) -> bool {
        self.powered_off.load(Ordering::SeqCst)
    }

    /// True once the planned sync failure has happened.
    pub fn sync_failed(&self) -> bool {
        self.sync_failed.load(Ordering::SeqCst)
    }

    /// Numbers a sync; true when it is the one the plan fails, which fails the background syncs
    /// still running with it.
    fn sync_fails(&self) -> bool {
        let n = self.syncs.fetch_add(1, Ordering::SeqCst);
        if self.plan.sync_error_at != Some(n) {
            return false;
        }
        self.sync_failed.store(true, Ordering::SeqCst);
        self.fail_pending("a failed sync (EIO)");
        self.inner.lose_unsynced(self.random());
        true
    }

    fn random(&self) -> u64 {
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_u64()
    }

    /// Background syncs started and not yet finished.
    pub fn pending_syncs(&self) -> usize {
        self.pending().len()
    }

    fn pending(&self) -> MutexGuard<'_, VecDeque<Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Numbers this operation and decides its fate; as time passes, finishes the background
    /// syncs that are due, and a power cut fails those still running.
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
            self.fail_pending("power cut during a background sync");
        } else {
            self.finish_pending(Some(op));
        }
        Ok((op, cut))
    }

    /// Finishes the background syncs due by operation `op` (all of them for `None`), and every
    /// one started before them: the later sync covers the earlier one's writes.
    fn finish_pending(&self, op: Option<u64>) {
        let mut pending = self.pending();
        let due = pending
            .iter()
            .rposition(|p| op.is_none_or(|op| p.due <= op));
        let Some(last) = due else { return };
        let finished: Vec<Pending> = pending.drain(..=last).collect();
        let covers = finished.last().map_or(0, |p| p.covers);
        self.inner.sync_first(covers);
        for p in pending.iter_mut() {
            p.covers -= covers;
        }
        drop(pending);
        for p in finished {
            (p.done)(Ok(()));
        }
    }

    fn fail_pending(&self, why: &str) {
        let failed: Vec<Pending> = self.pending().drain(..).collect();
        for p in failed {
            (p.done)(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                why.to_string(),
            )));
        }
    }

    /// How many operations background sync number `op` takes to finish (from the seed).
    fn lag(&self, op: u64) -> u64 {
        if self.plan.sync_lag_ops == 0 {
            return 0;
        }
        let draw = SplitMix64(self.plan.seed ^ op.wrapping_mul(0xA24B_AED4_963E_E407)).next_u64();
        draw % (self.plan.sync_lag_ops + 1)
    }
}

fn sync_error() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

impl std::ops::Deref for FaultDevice {
    type Target = FaultState;
    fn deref(&self) -> &FaultState {
        &self.0
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
        if self.sync_fails() {
            return Err(sync_error());
        }
        self.inner.sync()?;
        // Everything written is durable now, so every running background sync is done too.
        self.finish_pending(None);
        Ok(())
    }

    fn sync_in_background(&self, done: SyncDone) {
        let op = match self.begin() {
            Ok((_, true)) => {
                let cut = io::Error::new(io::ErrorKind::BrokenPipe, "power cut starting a sync");
                return done(Err(cut));
            }
            Ok((op, false)) => op,
            Err(e) => return done(Err(e)),
        };
        if self.sync_fails() {
            return done(Err(sync_error()));
        }
        let lag = self.lag(op);
        let covers = self.inner.unsynced_writes();
        if lag == 0 {
            self.inner.sync_first(covers);
            return done(Ok(()));
        }
        self.pending().push_back(Pending {
            due: op + lag,
            covers,
            done,
        });
    }

    /// Waiting is an operation of its own, so the power can fail while a sync is running and
    /// nothing else is issued.
    fn wait_background_syncs(&self) -> io::Result<()> {
        match self.begin() {
            Ok((_, true)) => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "power cut waiting for a sync",
            )),
            Ok(_) => {
                self.finish_pending(None);
                Ok(())
            }
            Err(e) => {
                self.fail_pending("the wait for this sync failed");
                Err(e)
            }
        }
    }

    fn name(&self) -> String {
        "fault-injecting memory".to_string()
    }

    fn io_handle(&self) -> Option<Arc<dyn Device>> {
        Some(Arc::new(FaultDevice(Arc::clone(&self.0))))
    }
}
