//! CI's fuzz run: every target over its whole corpus plus a fixed number of mutated inputs from a
//! fixed seed, so every build exercises the decoders on the same inputs and a failure reproduces.
//! Longer runs: `cargo run --release -p moment-fuzz -- run --runs 1000000` (docs/fuzzing.md).

use moment_fuzz::corpus::crash_dir;
use moment_fuzz::runner::{replay_command, run_one};
use moment_fuzz::{run_target, RunOptions, TARGETS};

/// Mutated inputs per target: the ring targets open and check a 1 MiB ring several times per
/// input, the settings target writes its state files to a temporary directory; sized so the whole
/// test stays well under a minute in the test profile on two busy cores.
fn runs(target: &str) -> u64 {
    match target {
        _ if target.starts_with("ring_") => 1_000,
        "settings_files" => 10_000,
        _ => 30_000,
    }
}
const SEED: u64 = 0x6D6F_6D65_6E74;

#[test]
fn every_target_survives_its_corpus_and_fixed_mutations() {
    let mut failures = Vec::new();
    for target in TARGETS {
        let options = RunOptions {
            runs: runs(target.name),
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

/// The generated corpus still does what `seed` would make it do now: each stored `gen-*` input
/// gives the same outcome as a freshly generated one. Compared by outcome rather than by bytes so
/// a field that differs from build to build (a time, an epoch) does not matter, while a format
/// change that leaves stale ring blocks in the repository fails here, with the command to run.
#[test]
fn the_generated_corpus_is_current() {
    for target in TARGETS {
        for (name, fresh) in moment_fuzz::seed::generate(target.name).expect("seeds generate") {
            let path = moment_fuzz::corpus::dir(target.name).join(&name);
            let stale = || {
                format!(
                    "{} is stale or missing: run `cargo run -p moment-fuzz -- seed` and commit",
                    path.display()
                )
            };
            let stored = std::fs::read(&path).unwrap_or_else(|_| panic!("{}", stale()));
            let expected = run_one(target, &fresh);
            assert!(expected.is_ok(), "{name}: {expected:?}");
            assert_eq!(run_one(target, &stored), expected, "{}", stale());
        }
    }
}
