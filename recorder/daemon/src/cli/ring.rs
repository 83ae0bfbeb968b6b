//! `moment-recorder ring …`: format, inspect, check and read a ring from a shell, on the camera
//! (`/dev/mmcblk0p5`) or on a file. Everything but `format` and `fsck --repair` opens the ring
//! read-only, so looking at a ring never changes it.

use super::device::{self, explain, FormatTarget};
use super::units::{human_bytes, parse_size};
use super::{emit, show, Outcome};
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use moment_ring::{AlignedBuf, Device, FileDevice, FormatOptions, OpenOptions, Ring};
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};

/// The ring subcommands. DEVICE is a block device (opened with O_DIRECT) or a regular file.
#[derive(Debug, Subcommand)]
pub enum RingCommand {
    /// Lay out a new, empty ring on DEVICE, erasing what it holds.
    Format {
        /// Block device or file; a missing file is created (sparse) when --size is given.
        device: PathBuf,
        /// Use only this many bytes (4096, 64K, 64M, 8G, 8GiB: powers of 1024).
        #[arg(long, value_name = "BYTES", value_parser = parse_size)]
        size: Option<u64>,
        /// Format even if DEVICE holds a filesystem, a ring or other data.
        #[arg(long)]
        force: bool,
        /// Keep DEVICE as it is when it already holds a moment ring; otherwise format it, erasing
        /// what it holds (a new card's ring partition holds whatever the card held before).
        #[arg(long, conflicts_with = "force")]
        unless_ring: bool,
    },
    /// Show the geometry, segments, times and what recovery found (read-only).
    Inspect {
        /// Block device or file.
        device: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check every superblock, index record and segment CRC; exit status 1 if anything is wrong.
    Fsck {
        /// Block device or file.
        device: PathBuf,
        /// Rewrite the index and tail pointer from a scan of the data area.
        #[arg(long)]
        repair: bool,
    },
    /// Write the raw MPEG-TS of segments --from to --to (inclusive) to standard output.
    Cat {
        /// Block device or file.
        device: PathBuf,
        /// First segment (sequence number, see `ring inspect`).
        #[arg(long, value_name = "SEQ")]
        from: u64,
        /// Last segment, included.
        #[arg(long, value_name = "SEQ")]
        to: u64,
    },
}

/// Runs one ring subcommand.
pub fn run(command: RingCommand) -> Result<Outcome> {
    match command {
        RingCommand::Format {
            device,
            size,
            force,
            unless_ring,
        } => format(&device, size, force, unless_ring),
        RingCommand::Inspect { device, json } => inspect(&device, json),
        RingCommand::Fsck { device, repair } => fsck(&device, repair),
        RingCommand::Cat { device, from, to } => cat(&device, from, to),
    }
}

fn format(path: &Path, size: Option<u64>, force: bool, unless_ring: bool) -> Result<Outcome> {
    let target = FormatTarget::open(path, size)?;
    if unless_ring {
        // An I/O error here stops before anything is written.
        let existing = moment_ring::detect_existing(&target.device).map_err(explain)?;
        if existing.as_deref() == Some("a moment ring") {
            let name = target.device.name();
            target.keep();
            emit(&format!("{name}: already a moment ring; left as it is\n"))?;
            return Ok(Outcome::Success);
        }
    }
    let options = FormatOptions {
        force: force || unless_ring,
        size,
        ..FormatOptions::default()
    };
    let geometry = moment_ring::format(&target.device, &options).map_err(explain)?;
    let name = target.device.name();
    target.keep();
    emit(&format!(
        "{name}: formatted a moment ring of {} (format version {})\n{}",
        human_bytes(geometry.device_len),
        geometry.version,
        show::geometry_lines(&geometry)
    ))?;
    Ok(Outcome::Success)
}

fn inspect(path: &Path, json: bool) -> Result<Outcome> {
    let dev = device::open(path, false)?;
    let ring = open_read_only(&dev)?;
    let view = show::Inspection::new(&dev, &ring);
    let text = if json {
        serde_json::to_string_pretty(&view).context("encoding the report as JSON")? + "\n"
    } else {
        view.human()
    };
    emit(&text)?;
    Ok(Outcome::Success)
}

fn fsck(path: &Path, repair: bool) -> Result<Outcome> {
    let dev = device::open(path, repair)?;
    let name = dev.name();
    let report = moment_ring::fsck(&dev, repair).map_err(explain)?;
    let mut text = format!("{name}: checked every superblock, index record and segment\n");
    text.push_str(&show::fsck_lines(&report));
    let problems = show::problems(&report);
    let after = if report.repaired {
        // Check again, so the verdict is about the ring as it is now, not as it was.
        let after = moment_ring::fsck(&dev, false).map_err(explain)?;
        text.push_str(
            "repaired: index and tail pointer rewritten from the data area; checked again\n",
        );
        text.push_str(&show::fsck_lines(&after));
        show::problems(&after)
    } else {
        problems.clone()
    };
    text.push_str(&verdict(&name, repair, &problems, &after));
    emit(&text)?;
    Ok(if after.is_empty() {
        Outcome::Success
    } else {
        Outcome::ProblemsFound
    })
}

/// The last line of `fsck`: clean, repaired, or what is left and what to do about it.
fn verdict(name: &str, repair: bool, before: &[String], after: &[String]) -> String {
    match (after.is_empty(), repair) {
        (true, false) => "result: clean\n".to_string(),
        (true, true) if before.is_empty() => "result: clean (nothing to repair)\n".to_string(),
        (true, true) => format!("result: repaired ({})\n", before.join("; ")),
        (false, false) => format!(
            "result: PROBLEMS: {}\nrun `moment-recorder ring fsck {name} --repair` to rebuild the \
             index from the data area\n",
            after.join("; ")
        ),
        (false, true) => format!(
            "result: PROBLEMS REMAIN after repair: {}\ncorrupt segments cannot be repaired: \
             reading them fails (damaged data is never returned) and they leave the ring as new \
             recordings wrap over them\n",
            after.join("; ")
        ),
    }
}

fn cat(path: &Path, from: u64, to: u64) -> Result<Outcome> {
    let dev = device::open(path, false)?;
    let ring = open_read_only(&dev)?;
    let reader = ring.reader();
    check_range(&dev.name(), &reader.stats(), from, to)?;
    let pin = reader.pin(from, to).map_err(explain)?;
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let mut buf = AlignedBuf::new(0);
    for seq in from..=to {
        pin.read(seq, &mut buf).map_err(explain)?;
        if let Err(e) = out.write_all(&buf) {
            return quiet_broken_pipe(e);
        }
    }
    if let Err(e) = out.flush() {
        return quiet_broken_pipe(e);
    }
    Ok(Outcome::Success)
}

/// A reader that stopped reading (`| head -c 1000`) ends `cat` successfully; other errors do not.
fn quiet_broken_pipe(err: std::io::Error) -> Result<Outcome> {
    if err.kind() == ErrorKind::BrokenPipe {
        return Ok(Outcome::Success);
    }
    Err(err).context("writing to standard output")
}

fn check_range(name: &str, stats: &moment_ring::Stats, from: u64, to: u64) -> Result<()> {
    if from > to {
        bail!("--from {from} is after --to {to}; give the older sequence number first");
    }
    let Some(newest) = stats.newest_seq else {
        bail!("{name}: the ring holds no segments yet");
    };
    let oldest = stats.oldest_seq;
    if from < oldest || to > newest {
        bail!(
            "{name}: segments {from}..={to} are not all in the ring; it holds {oldest}..={newest} \
             (see `moment-recorder ring inspect {name}`)"
        );
    }
    Ok(())
}

fn open_read_only(dev: &FileDevice) -> Result<Ring<&FileDevice>> {
    let options = OpenOptions {
        read_only: true,
        ..OpenOptions::default()
    };
    Ring::open(dev, options).map_err(explain)
}
