//! Saving a time range of the ring as an MP4 file: the "memory" a button press or the web UI asks
//! for. The segments covering the range are pinned (so the writer keeps them while they are read),
//! read in order, cut at the keyframes around the range where the ring knows them (see `cut`),
//! edited where a source restart or the range's edges need it (see `edit`), and piped into
//! `ffmpeg -c copy`, which remuxes without re-encoding. The MP4's `creation_time` is the capture
//! time of its first frame. The file is written under a temporary name, synced and renamed into
//! place, so a final name never holds a partial file.
//!
//! Naming: with a directory target the name is `YYYY-MM-DD_HH-MM-SS-MEMORY.mp4`, the local time
//! of the end of the range (the end asked for, or the end of the recording if the ring stops
//! earlier), with `_2`, `_3`, … when taken. A recorded time from before 2020 (the clock was never
//! set) is never used: the export time replaces it if the system clock is synchronised, otherwise
//! the export is refused and a name must be given (`time::name_time`).

mod adts;
mod cut;
mod edit;
mod error;
mod ffmpeg;
mod output;
mod plan;
mod pump;
mod rewrite;
mod scan;
#[cfg(test)]
mod synth;
pub mod time;

pub use error::ExportError;
pub use output::{Target, MAX_NAME_ATTEMPTS};
pub use plan::Plan;
pub use time::NameSource;

use crate::segment::Clock;
use ffmpeg::Ffmpeg;
use moment_ring::{Device, RingReader};
use output::Output;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The time ffmpeg is given: this much, plus one second per `MIN_RATE` bytes of input.
const BASE_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes per second an export must manage at least (an SD card on a Pi Zero reads ~20 MB/s).
const MIN_RATE: u64 = 2_000_000;

/// What to export and where.
#[derive(Clone, Debug)]
pub struct Request {
    /// The range, microseconds since the epoch (UTC): [from_us, to_us).
    pub from_us: i64,
    pub to_us: i64,
    pub target: Target,
    /// The wall clock now, used to name the file when the recording's clock was never set.
    pub now: Clock,
    /// The ffmpeg program (looked up on PATH unless it contains a slash).
    pub ffmpeg: PathBuf,
    /// Longest the whole export may take; by default a minute plus 1 s per 2 MB.
    pub timeout: Option<Duration>,
}

impl Request {
    /// A request with the system clock, `ffmpeg` from PATH and the default timeout.
    pub fn new(from_us: i64, to_us: i64, target: Target) -> Request {
        Request {
            from_us,
            to_us,
            target,
            now: crate::system_clock(),
            ffmpeg: PathBuf::from("ffmpeg"),
            timeout: None,
        }
    }
}

/// How far an export has come: MPEG-TS bytes handed to ffmpeg out of the total. When they are
/// all handed over, ffmpeg still finishes the file (index, fast start, sync): a moment more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// What an export wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub path: PathBuf,
    /// Bytes of the MP4 file.
    pub mp4_bytes: u64,
    /// Bytes of MPEG-TS from the ring that the file was made of.
    pub ts_bytes: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    /// Capture time of the first frame exported and end of the last one (UTC microseconds): the
    /// keyframes the first and last segment were cut at, or their own start and end.
    pub utc_start_us: i64,
    pub utc_end_us: i64,
    /// Media time exported (the segments' durations less what the cuts left out).
    pub duration_us: u64,
    /// The range asked for.
    pub requested_from_us: i64,
    pub requested_to_us: i64,
    /// The ring did not hold the start (end) of the range.
    pub clipped_start: bool,
    pub clipped_end: bool,
    /// Source restarts inside the range whose timeline was joined.
    pub discontinuities: u32,
    /// Wall-clock time inside the range that nothing was recorded for.
    pub gaps_us: u64,
    /// Where the file name's time came from (`None` when the name was given).
    pub name_source: Option<NameSource>,
    pub elapsed: Duration,
}

impl Report {
    pub fn segments(&self) -> u64 {
        self.last_seq - self.first_seq + 1
    }
}

/// Exports `request` from the ring behind `reader`, calling `progress` as bytes go to ffmpeg.
pub fn export<D: Device>(
    reader: &RingReader<D>,
    request: &Request,
    progress: &mut dyn FnMut(Progress),
) -> Result<Report, ExportError> {
    let started = Instant::now();
    let (plan, pin) = Plan::pinned(reader, request.from_us, request.to_us)?;
    let (dir, candidates, name_source) = destination(&plan, request)?;
    let output = Output::create(&dir, candidates)?;
    let timeout = request
        .timeout
        .unwrap_or(BASE_TIMEOUT + Duration::from_secs(plan.ts_bytes() / MIN_RATE));
    let args = ffmpeg::remux_args(output.partial(), plan.utc_start_us());
    let mut ffmpeg = Ffmpeg::spawn(&request.ffmpeg, &args, timeout)?;
    let junctions = pump::pump(&plan, &pin, &mut ffmpeg, progress)?;
    // Every byte is read: release the segments now rather than make the writer wait (up to its
    // pin_wait) for ffmpeg's finishing pass.
    drop(pin);
    ffmpeg.finish()?;
    let (path, mp4_bytes) = output.commit()?;
    Ok(Report {
        path,
        mp4_bytes,
        ts_bytes: plan.ts_bytes(),
        first_seq: plan.first_seq(),
        last_seq: plan.last_seq(),
        utc_start_us: plan.utc_start_us(),
        utc_end_us: plan.utc_end_us(),
        duration_us: plan.duration_us(),
        requested_from_us: plan.from_us,
        requested_to_us: plan.to_us,
        clipped_start: plan.clipped_start,
        clipped_end: plan.clipped_end,
        discontinuities: junctions,
        gaps_us: plan.gaps_us(),
        name_source,
        elapsed: started.elapsed(),
    })
}

/// The directory and the final names to try, and where the name's time came from.
fn destination(
    plan: &Plan,
    request: &Request,
) -> Result<(PathBuf, Vec<PathBuf>, Option<NameSource>), ExportError> {
    match &request.target {
        Target::File(path) => {
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            Ok((dir, vec![path.clone()], None))
        }
        Target::Dir(dir) => {
            let end_us = plan.name_end_us();
            let (utc_us, source) = time::name_time(end_us, plan.end_synced(), request.now).ok_or(
                ExportError::UnknownTime {
                    recorded_end_us: end_us,
                },
            )?;
            let local = time::local_time(utc_us)
                .map_err(|source| ExportError::LocalTime { utc_us, source })?;
            let names = (1..=MAX_NAME_ATTEMPTS)
                .map(|attempt| dir.join(time::memory_file_name(&local, attempt)))
                .collect();
            Ok((dir.clone(), names, Some(source)))
        }
    }
}

impl pump::Sink for Ffmpeg {
    fn send(&mut self, bytes: &[u8]) -> Result<(), ExportError> {
        self.write(bytes)
    }
}

/// The MPEG-TS an export would hand to ffmpeg, for tests and tools that check the edits.
pub fn edited_stream<D: Device>(
    reader: &RingReader<D>,
    from_us: i64,
    to_us: i64,
) -> Result<Vec<u8>, ExportError> {
    let (plan, pin) = Plan::pinned(reader, from_us, to_us)?;
    let mut out = Vec::new();
    pump::pump(&plan, &pin, &mut out, &mut |_| {})?;
    Ok(out)
}

/// The temporary name an export to `path` writes before renaming (`.NAME.partial`).
pub fn partial_name(path: &Path) -> PathBuf {
    output::partial_name(path)
}
