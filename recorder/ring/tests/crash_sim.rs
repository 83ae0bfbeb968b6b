//! The deterministic crash simulation the ring's crash-safety claim rests on (DESIGN.md §3, §11;
//! docs/ring-format.md "Crash analysis"). Each seed draws a ring and a workload (segments from
//! 1 KiB to 16 MiB, many wrap-arounds), cuts the power at a drawn operation (mid-write, at a
//! sync, or while a background flush still runs and the next segment is being written), powers
//! up the torn image, reopens and checks the ring against an independent model. A failure names
//! its seed and the command that replays it (the device operations and the torn image replay
//! exactly; when the writer thread noticed the cut may differ); `MOMENT_CRASH_SEEDS=N` runs
//! longer.

#[macro_use]
mod common;
mod sim;

use sim::harness::{simulate, Mode};

/// CI's floor for the power-cut simulation: at least this many crashes per run.
const POWER_CUT_SEEDS: u64 = 10_000;
/// The hostile mode costs the same per seed but checks less; fewer seeds suffice.
const HOSTILE_SEEDS: u64 = 1_000;
/// Failed syncs: one per cycle, several cycles per seed.
const SYNC_FAILURE_SEEDS: u64 = 2_000;

#[test]
fn power_cuts() {
    simulate(Mode::PowerCuts, POWER_CUT_SEEDS);
}

/// A flush that returns EIO (and loses part of what it covered) while the device stays on: the
/// ring fails closed and the reopen recovers everything it had reported durable.
#[test]
fn sync_failures() {
    simulate(Mode::SyncFailures, SYNC_FAILURE_SEEDS);
}

#[test]
fn misdirected_writes_and_bit_flips() {
    simulate(Mode::Hostile, HOSTILE_SEEDS);
}
