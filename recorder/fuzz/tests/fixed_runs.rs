//! CI's fuzz run: every target over its whole corpus plus a fixed number of mutated inputs from a
//! fixed seed, so every build exercises the decoders on the same inputs and a failure reproduces.
//! Longer runs: `cargo run --release -p moment-fuzz -- run --runs 1000000` (docs/fuzzing.md).

use moment_fuzz::corpus::crash_dir;
use moment_fuzz::runner::replay_command;
use moment_fuzz::{run_target, RunOptions, TARGETS};

/// Mutated inputs per target for the ring targets (each opens and checks a 1 MiB ring several
/// times) and for the others; sized so the whole test stays well under a minute in the test
/// profile on two cores.
const RING_RUNS: u64 = 500;
const OTHER_RUNS: u64 = 10_000;
const SEED: u64 = 0x6D6F_6D65_6E74;

#[test]
fn every_target_survives_its_corpus_and_fixed_mutations() {
    let mut failures = Vec::new();
    for target in TARGETS {
        let runs = if target.name.starts_with("ring_") {
            RING_RUNS
        } else {
            OTHER_RUNS
        };
        let options = RunOptions {
            runs,
            seed: SEED,
            save: false,
            crash_dir: Some(crash_dir()),
        };
        let started = std::time::Instant::now();
        let report = run_target(target, &options).expect("the corpus is readable");
        eprintln!(
            "{}: {} corpus inputs + {} mutants in {:.1?}, {} outcome classes",
            target.name,
            report.corpus_inputs,
            report.executed - report.corpus_inputs as u64,
            started.elapsed(),
            report.classes
        );
        assert!(
            report.corpus_inputs > 0,
            "{} has no corpus: run `cargo run -p moment-fuzz -- seed`",
            target.name
        );
        if let Some(failure) = report.failure {
            let replay = failure
                .path
                .map(|p| replay_command(target.name, &p))
                .unwrap_or_default();
            failures.push(format!("{}: {}\n  {replay}", target.name, failure.message));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The generated corpus matches what `seed` makes from the code now: a format change that
/// leaves stale ring blocks in the repository fails here, with the command that fixes it.
#[test]
fn the_generated_corpus_is_current() {
    for target in TARGETS {
        for (name, bytes) in moment_fuzz::seed::generate(target.name).expect("seeds generate") {
            let path = moment_fuzz::corpus::dir(target.name).join(&name);
            let stored = std::fs::read(&path).unwrap_or_default();
            assert!(
                stored == bytes,
                "{} is stale or missing: run `cargo run -p moment-fuzz -- seed` and commit",
                path.display()
            );
        }
    }
}
