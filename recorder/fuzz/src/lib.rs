//! `moment-fuzz`: a mutation fuzzer for every decoder in the recorder that reads bytes it did not
//! write itself — the ring's index, tail and segment-header blocks, MPEG-TS from a camera's pipe,
//! memory file names, the settings and state files under /data, and the parts of HTTP requests
//! the web server interprets by hand. It exists because cargo-fuzz needs a nightly toolchain,
//! which Buildroot's Rust 1.82 world cannot have: this one runs on stable, without coverage
//! instrumentation. Its only novelty signal is each target's coarse "outcome class" (which
//! parser accepted, how many segments opened), so it is a deterministic mutation fuzzer seeded
//! by a corpus kept in the repository, not a coverage-guided one. CI runs a fixed number of
//! inputs per target (tests/fixed_runs.rs); docs/fuzzing.md says how to run longer and replay.

pub mod corpus;
pub mod mutate;
pub mod rng;
pub mod runner;
pub mod seed;
pub mod targets;

pub use runner::{run_target, Failure, RunOptions, RunReport};
pub use targets::{find, Outcome, Target, TARGETS};

/// Largest input any target is given; bigger inputs are truncated by the mutator.
pub const MAX_INPUT: usize = 64 << 10;
