//! Running one target: every corpus input, then mutants of the corpus, each under
//! `catch_unwind`. Inputs whose outcome class is new join the in-memory corpus. The first
//! failure (a panic or a violated property) is written to `crashes/` and ends the target's run.

use crate::corpus::{self, MAX_CORPUS};
use crate::mutate::mutate;
use crate::rng::{fnv1a, Rng};
use crate::targets::{Outcome, Target};
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Mutated inputs after the corpus.
    pub runs: u64,
    pub seed: u64,
    /// Write inputs with a new outcome class to the corpus directory.
    pub save: bool,
    /// Where a failing input is written; `None` keeps it in memory only.
    pub crash_dir: Option<PathBuf>,
}

/// A failing input.
#[derive(Debug)]
pub struct Failure {
    pub input: Vec<u8>,
    pub message: String,
    /// Where it was written, if it was.
    pub path: Option<PathBuf>,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct RunReport {
    pub corpus_inputs: usize,
    pub executed: u64,
    pub classes: usize,
    /// Inputs added to the in-memory corpus for a new class.
    pub kept: usize,
    pub failure: Option<Failure>,
}

/// Runs `input` through `target`: `Err` for a violated property or a panic (with its message).
pub fn run_one(target: &Target, input: &[u8]) -> Result<Outcome, String> {
    let input = &input[..input.len().min(target.max_len)];
    match catch_unwind(AssertUnwindSafe(|| (target.check)(input))) {
        Ok(result) => result,
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            Err(format!("panicked: {text}"))
        }
    }
}

pub fn run_target(target: &Target, options: &RunOptions) -> std::io::Result<RunReport> {
    let files = corpus::load(target.name, target.max_len)?;
    let mut report = RunReport {
        corpus_inputs: files.len(),
        ..RunReport::default()
    };
    let mut pool: Vec<Vec<u8>> = files.into_iter().map(|(_, bytes)| bytes).collect();
    if pool.is_empty() {
        pool.push(Vec::new());
    }
    let mut classes = HashSet::new();
    for input in pool.clone() {
        report.executed += 1;
        match run_one(target, &input) {
            Ok(class) => {
                classes.insert(class);
            }
            Err(message) => {
                report.failure = Some(fail(target, options, input, message)?);
                report.classes = classes.len();
                return Ok(report);
            }
        }
    }
    let mut rng = Rng::new(options.seed ^ fnv1a(target.name.as_bytes()));
    for _ in 0..options.runs {
        let base = &pool[rng.below(pool.len())];
        let other = &pool[rng.below(pool.len())];
        let input = mutate(&mut rng, base, other, target.max_len);
        report.executed += 1;
        match run_one(target, &input) {
            Ok(class) => {
                if classes.insert(class) && pool.len() < MAX_CORPUS {
                    if options.save {
                        corpus::save(&corpus::dir(target.name), "new-", &input)?;
                    }
                    pool.push(input);
                    report.kept += 1;
                }
            }
            Err(message) => {
                report.failure = Some(fail(target, options, input, message)?);
                break;
            }
        }
    }
    report.classes = classes.len();
    Ok(report)
}

fn fail(
    target: &Target,
    options: &RunOptions,
    input: Vec<u8>,
    message: String,
) -> std::io::Result<Failure> {
    let path = match &options.crash_dir {
        Some(dir) => Some(corpus::save(dir, &format!("{}-", target.name), &input)?),
        None => None,
    };
    Ok(Failure {
        input,
        message,
        path,
    })
}

/// The command that replays a saved failure.
pub fn replay_command(target: &str, path: &std::path::Path) -> String {
    format!(
        "cargo run -p moment-fuzz -- replay {target} {}",
        path.display()
    )
}
