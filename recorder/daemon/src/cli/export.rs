//! `moment-recorder export` (placeholder, being written).

use super::Outcome;
use anyhow::{bail, Result};

/// Options of `export`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `export`.
pub fn run(_args: Args) -> Result<Outcome> {
    bail!("export is not written yet")
}
