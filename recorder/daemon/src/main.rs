//! The recorder's one binary: the daemon (`run`) and the command-line tools (`ring …`, `record`,
//! `export`, `press`). This file only parses, dispatches, and turns the result into a message and
//! an exit status; everything else lives in the library (src/lib.rs) so tests can reach it.

use clap::{Parser, Subcommand};
use moment_recorder::cli::{self, Outcome};
use std::process::ExitCode;

/// `fsck` found problems and did not (or could not) fix them.
const EXIT_PROBLEMS: u8 = 1;
/// The command failed; clap also exits with 2 on a usage error.
const EXIT_ERROR: u8 = 2;

/// A camera that never misses a moment.
#[derive(Debug, Parser)]
#[command(
    name = "moment-recorder",
    version,
    after_help = "Exit status: 0 success, 1 `ring fsck` found problems, 2 error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Format, inspect, check and read the segment ring.
    #[command(subcommand)]
    Ring(cli::ring::RingCommand),
    /// Run the recorder service (records, buttons, saves, uploads).
    Run(cli::daemon::RunArgs),
    /// Run the whole recorder on this machine: ring file, test camera, simulated buttons.
    Demo(cli::demo::DemoArgs),
    /// Press a button of a running recorder, as the physical button would.
    Press(cli::daemon::PressArgs),
    /// Read a password on standard input; print the hash for [web] password_hash.
    HashPassword(cli::daemon::HashPasswordArgs),
    /// Print a running recorder's status as JSON.
    Status(cli::daemon::StatusArgs),
    /// Tell a running recorder to copy memories to a disk (attach) or that it is gone (detach).
    Usb(cli::daemon::UsbArgs),
    /// Record from a camera source into the ring until stopped (SIGINT/SIGTERM).
    Record(cli::record::Args),
    /// Save a time range of the ring as an MP4 file.
    Export(cli::export::Args),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Ring(command) => cli::ring::run(command),
        Command::Run(args) => cli::daemon::run(args),
        Command::Demo(args) => cli::demo::run(args),
        Command::Press(args) => cli::daemon::press(args),
        Command::Status(args) => cli::daemon::status(args),
        Command::Usb(args) => cli::daemon::usb(args),
        Command::HashPassword(args) => cli::daemon::hash_password(args),
        Command::Record(args) => cli::record::run(args),
        Command::Export(args) => cli::export::run(args),
    };
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::ProblemsFound) => ExitCode::from(EXIT_PROBLEMS),
        Err(err) => {
            eprintln!("moment-recorder: error: {}", render(&err));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// The error and its causes on one line, without repeating a cause the message already quotes
/// (the ring's I/O errors include their source in their own text).
fn render(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let message = cause.to_string();
        if text.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn causes_are_not_repeated() {
        let io = std::io::Error::other("disk on fire");
        let ring = moment_ring::Error::Io {
            device: "/dev/x".into(),
            op: "reading",
            source: io,
        };
        let err = anyhow::Error::new(ring).context("inspecting");
        assert_eq!(
            render(&err),
            "inspecting: /dev/x: I/O error while reading: disk on fire"
        );
    }
}
