//! The deterministic crash simulation behind tests/crash_sim.rs: a model of what the ring must
//! hold (model.rs), the bytes written (content.rs), seeded scenarios (workload.rs), a device probe
//! that arms faults and watches syncs (probe.rs), the power-cut contract (check.rs, power.rs), the
//! hostile-fault checks (hostile.rs) and the seed runner (harness.rs).

mod check;
mod content;
pub mod harness;
mod hostile;
mod model;
mod power;
mod probe;
mod run;
mod workload;
