//! `moment-recorder record` (placeholder, being written).

use super::Outcome;
use anyhow::{bail, Result};

/// Options of `record`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `record`.
pub fn run(_args: Args) -> Result<Outcome> {
    bail!("record is not written yet")
}
