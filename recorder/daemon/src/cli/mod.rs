//! The command-line tools built into the recorder binary. Each subcommand group lives in its own
//! module; the pieces they share (opening devices, units, printing) sit beside them.

pub mod daemon;
pub mod demo;
pub(crate) mod device;
pub mod export;
pub mod record;
pub mod ring;
mod show;
pub(crate) mod units;

use anyhow::{Context, Result};
use std::io::{ErrorKind, Write};

/// How a command that ran to the end went; errors are the `Err` side of its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// A check (`fsck`) found problems it did not fix.
    ProblemsFound,
}

/// Writes `text` to standard output. A reader that went away (`| head`) is not an error.
pub fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => Err(e).context("writing to standard output"),
        _ => Ok(()),
    }
}
