//! The `moment-fuzz` command: `run` the targets for a number of mutated inputs, `replay` one
//! saved input, `seed` the generated corpus, `list` the targets. Arguments are parsed by hand to
//! keep the crate's dependencies to what it fuzzes.

use moment_fuzz::corpus::crash_dir;
use moment_fuzz::runner::{replay_command, run_one};
use moment_fuzz::{find, run_target, RunOptions, Target, TARGETS};
use std::process::ExitCode;

const USAGE: &str = "usage:
  moment-fuzz run [TARGET...] [--runs N] [--seed S] [--save]
  moment-fuzz replay TARGET FILE
  moment-fuzz seed
  moment-fuzz list";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("replay") => replay(&args[1..]),
        Some("seed") => seed(),
        Some("list") => {
            for t in TARGETS {
                println!("{:16} {}", t.name, t.about);
            }
            Ok(true)
        }
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

fn seed() -> Result<bool, String> {
    let written = moment_fuzz::seed::write_all()?;
    println!("wrote {written} generated corpus files");
    let ring = moment_fuzz::targets::ring::base()?;
    if !ring.envelope_confirmed {
        println!(
            "warning: the ring's records no longer look like [magic][len][body][crc32]; the ring \
             targets run without re-framing until recorder/fuzz/src/targets/ring.rs follows"
        );
    }
    Ok(true)
}

/// Runs the named targets (all without names); false when one failed.
fn run(args: &[String]) -> Result<bool, String> {
    let mut options = RunOptions {
        runs: 10_000,
        seed: 1,
        save: false,
        crash_dir: Some(crash_dir()),
    };
    let mut targets: Vec<&Target> = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => options.runs = number(args.next(), "--runs")?,
            "--seed" => options.seed = number(args.next(), "--seed")?,
            "--save" => options.save = true,
            name => targets.push(find(name).ok_or_else(|| format!("no target {name:?}"))?),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.iter().collect();
    }
    let mut clean = true;
    for target in targets {
        let started = std::time::Instant::now();
        let report = run_target(target, &options).map_err(|e| format!("{}: {e}", target.name))?;
        println!(
            "{:16} {} corpus + {} runs in {:.1?}: {} outcome classes, {} inputs kept",
            target.name,
            report.corpus_inputs,
            report.executed - report.corpus_inputs as u64,
            started.elapsed(),
            report.classes,
            report.kept
        );
        if let Some(failure) = report.failure {
            clean = false;
            println!("  FAILED: {}", failure.message);
            if let Some(path) = failure.path {
                println!("  replay: {}", replay_command(target.name, &path));
            }
        }
    }
    Ok(clean)
}

fn replay(args: &[String]) -> Result<bool, String> {
    let [name, file] = args else {
        return Err(USAGE.to_string());
    };
    let target = find(name).ok_or_else(|| format!("no target {name:?}"))?;
    let input = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
    match run_one(target, &input) {
        Ok(class) => {
            println!("{name}: passed (outcome class {class:016x})");
            Ok(true)
        }
        Err(message) => {
            println!("{name}: FAILED: {message}");
            Ok(false)
        }
    }
}

fn number(value: Option<&String>, flag: &str) -> Result<u64, String> {
    value
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{flag} takes a number\n{USAGE}"))
}
