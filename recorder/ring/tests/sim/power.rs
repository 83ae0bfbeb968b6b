//! One seed of the power-cut simulation: format, then for each cycle reopen (sometimes cutting the
//! power again while recovery writes its repairs), check the recovered ring against the model, run
//! a workload and cut the power at a drawn operation. Only the faults of a real power cut apply
//! here, so the checks are exact. Background flushes lag behind a few operations (drawn from the
//! seed), so cuts land while a flush runs and the next segment is already being written.
//! The same cycle with a failed sync instead of the cut (`Fault::SyncError`): one flush returns
//! EIO and what it covered is partly lost for good while the device stays on; the ring must fail
//! closed (nothing more reported durable or served, its status says so), and the reopen on the
//! same device recovers everything reported durable before.

use super::check;
use super::model::{Model, Planned};
use super::probe::Probe;
use super::run::{self, Run, Tally};
use super::workload::{self, Setup};
use moment_ring::device::SplitMix64;
use moment_ring::{FaultPlan, Geometry, MemDevice, OpenOptions, Ring};
use std::sync::Arc;

/// A background flush finishes 0..=this many operations after it started (or when waited for).
const SYNC_LAG_OPS: u64 = 4;

/// What ends each cycle's workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The power fails at a drawn operation.
    PowerCut,
    /// A drawn sync fails (EIO), the device stays on, the ring is reopened on it.
    SyncError,
}

struct Sim {
    seed: u64,
    fault: Fault,
    rng: SplitMix64,
    setup: Setup,
    geometry: Geometry,
    /// What must survive: the durable state before the last cut.
    model: Model,
    /// Segments appended after it, which the cut may have taken.
    pending: Vec<Planned>,
    /// The newest segment whose data a finished sync covered (0: none beyond the model).
    must: u64,
    tally: Tally,
    verbose: bool,
}

/// Runs seed `seed`; `Err` says which check failed.
pub fn run_seed(seed: u64, verbose: bool, fault: Fault) -> Result<Tally, String> {
    let mut rng = SplitMix64(seed);
    let setup = workload::draw_setup(&mut rng, true);
    let (mut mem, geometry) = run::formatted(&setup, &mut rng)?;
    if verbose {
        eprintln!("seed {seed}: {setup:?}\n  {geometry:?}");
    }
    let mut sim = Sim {
        seed,
        fault,
        rng,
        model: Model::new(&geometry),
        geometry,
        pending: Vec::new(),
        must: 0,
        tally: Tally {
            big_rings: u64::from(setup.big),
            ..Tally::default()
        },
        setup,
        verbose,
    };
    for cycle in 0..sim.setup.cycles {
        if cycle > 0 {
            mem = sim.maybe_cut_open(mem)?;
        }
        sim.verify(&mem)?;
        mem = sim.workload(mem, cycle)?;
    }
    mem = sim.maybe_cut_open(mem)?;
    sim.verify(&mem)?;
    Ok(sim.tally)
}

impl Sim {
    fn maybe_cut_open(&mut self, mem: MemDevice) -> Result<MemDevice, String> {
        run::cut_opens(
            mem,
            &self.geometry,
            &mut self.rng,
            &mut self.tally,
            self.verbose,
            false,
        )
    }

    /// Opens the powered-up image and checks it against the model.
    fn verify(&mut self, mem: &MemDevice) -> Result<(), String> {
        let ring = Ring::open(mem.clone(), OpenOptions::default())
            .map_err(|e| format!("open after the crash failed: {e}"))?;
        if self.verbose {
            eprintln!("  recovered {:?}\n  {:?}", ring.stats(), ring.recovery());
        }
        let rolled = ring.recovery().rolled_forward;
        self.tally.rolled_forward += rolled;
        self.tally.most_rolled_forward = self.tally.most_rolled_forward.max(rolled);
        let pending = std::mem::take(&mut self.pending);
        let must = std::mem::take(&mut self.must);
        check::recovered(&ring, &mut self.model, &pending, must, self.seed)
    }

    /// Reopens (which must find nothing left to repair), appends until the drawn power cut and
    /// returns the image found at power-up.
    fn workload(&mut self, mem: MemDevice, cycle: u32) -> Result<MemDevice, String> {
        let probe = Probe::new(mem.clone(), &self.geometry);
        let mut ring = Ring::open(Arc::clone(&probe), OpenOptions::default())
            .map_err(|e| format!("second open after recovery failed: {e}"))?;
        let report = ring.recovery();
        ensure!(
            !report.repaired && report.rolled_forward == 0,
            "recovery left work for the next open: {report:?}"
        );
        // Quarters of the data area: a large ring runs just past one wrap-around and crashes
        // there (its bytes cost most); small ones go round two to four times.
        let quarters = match (self.setup.big, cycle) {
            (true, _) => 5,
            (false, 0) => 8 + 4 * self.rng.below(3),
            (false, _) => 4 + 4 * self.rng.below(2),
        };
        let lens = workload::draw_run(&mut self.rng, &self.geometry, quarters);
        let total = workload::estimate_ops(&self.model, &self.geometry, &lens).max(1);
        let skip = if self.setup.big { total * 4 / 5 } else { 0 };
        let cut = skip + self.rng.below(total - skip);
        // About one background flush per append, and one per flush() now and then.
        let failed_sync = self
            .rng
            .below(lens.len() as u64 + lens.len() as u64 / 8 + 1);
        let plan = match self.fault {
            Fault::PowerCut => FaultPlan {
                power_cut_at: Some(cut),
                ..FaultPlan::default()
            },
            Fault::SyncError => FaultPlan {
                sync_error_at: Some(failed_sync),
                ..FaultPlan::default()
            },
        };
        if self.verbose {
            eprintln!(
                "  cycle {cycle}: {} appends {lens:?}, ~{total} ops, {:?} at op {cut} / sync {failed_sync}",
                lens.len(),
                self.fault
            );
        }
        probe.arm(FaultPlan {
            seed: self.rng.next_u64(),
            sync_lag_ops: SYNC_LAG_OPS,
            ..plan
        });
        let run = Run {
            seed: self.seed,
            attempt: cycle,
            lens: &lens,
            verbose: self.verbose,
        };
        let before = self.model.newest().unwrap_or(0);
        let mut out = run::append_until_cut(&mut ring, &probe, &mut self.model, &run, |_| {})?;
        if probe.sync_failed() {
            fails_closed(&mut ring, &mut out)?;
            self.tally.sync_failures += 1;
        }
        // Dropping the ring flushes what the cut left running, if the power is still on.
        drop(ring);
        let must = out.must_survive(probe.data_durable()).unwrap_or(0);
        ensure!(
            out.durable <= must.max(before),
            "the ring reported {} durable, but finished syncs covered only up to {must}",
            out.durable
        );
        if self.verbose {
            eprintln!(
                "  cut at {:?}; reported durable {}, data synced up to {must}, flush in flight: {}",
                probe.failed_op(),
                out.durable,
                probe.flush_cut()
            );
        }
        self.tally.appends += out.sent.len() as u64;
        self.tally.flush_cuts += u64::from(probe.flush_cut());
        self.tally.crash(probe.failed_op());
        self.pending = out.pending;
        self.must = must;
        match self.fault {
            Fault::PowerCut => Ok(run::power_up(&mem, &mut self.rng)),
            // The device stayed on: the ring is reopened on what it holds.
            Fault::SyncError => Ok(mem),
        }
    }
}

/// After a failed sync the ring takes nothing more: a flush and then an append fail, readers list
/// nothing beyond what it reports durable, and its status shows the error. A flush that finished
/// before the failed one may still raise `durable_seq`: `out.durable` follows it, and the caller
/// checks it against what finished syncs covered.
fn fails_closed(ring: &mut Ring<Arc<Probe>>, out: &mut run::Outcome) -> Result<(), String> {
    // The I/O thread learns of the failure first; appends are pipelined, so the one after it
    // may still be queued. A flush waits for that thread: it must fail, and every append after.
    ensure!(
        ring.flush().is_err(),
        "flush() succeeded after a sync failed"
    );
    let next = out.sent.last().map_or(1, |p| p.seg.seq + 1);
    ensure!(
        ring.append(&super::content::meta(0, next), &[0u8; 4096])
            .is_err(),
        "an append succeeded after a failed sync made flush() fail"
    );
    let listed = ring.reader().segments().last().map_or(0, |s| s.seq);
    let durable = ring.durable_seq();
    ensure!(
        out.durable <= durable && listed <= durable,
        "after a sync failed durable_seq went from {} to {durable}, readers list {listed}",
        out.durable
    );
    out.durable = durable;
    ensure!(
        ring.stats().failed.is_some(),
        "the ring's status shows no error after a sync failed"
    );
    Ok(())
}
