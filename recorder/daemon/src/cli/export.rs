//! `moment-recorder export`: save a time range of the ring as an MP4 from a shell, the same export
//! the SAVE button and the web UI run. The ring is opened read-only, so it can run beside a
//! `record` writing the same ring from another process: every read is checked against the index
//! and its CRC, so a segment the recorder overwrites meanwhile is a clear error, never garbage.

use super::device::{self, explain};
use super::units::{human_bytes, rfc3339_utc};
use super::{emit, Outcome};
use anyhow::{anyhow, bail, Result};
use moment_media::export::{self, time, ExportError, NameSource, Report, Request, Target};
use moment_ring::{Device, FileDevice, OpenOptions, Ring};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Longest `--last` accepted: more than any ring holds (8 GiB at 400 kbit/s is ~2 days).
const MAX_LAST: Duration = Duration::from_secs(30 * 24 * 3600);

/// Options of `export`.
#[derive(Debug, clap::Args)]
#[command(
    group(clap::ArgGroup::new("range").required(true).args(["from", "last"])),
    after_help = "Times are RFC 3339 UTC, such as 2026-11-29T10:00:00Z. With --dir (the default is \
                  the current directory) the file is named YYYY-MM-DD_HH-MM-SS-MEMORY.mp4 after \
                  the local time (TZ) of the end of the range, with _2, _3, ... if taken. If the \
                  recording's clock was never set (before 2020), the export time is used when the \
                  system clock is synchronised; otherwise give a name with -o."
)]
pub struct Args {
    /// The ring: block device (/dev/mmcblk0p5) or file.
    #[arg(long, value_name = "RING")]
    device: PathBuf,
    /// Start of the range (RFC 3339 UTC).
    #[arg(long, value_name = "UTC", value_parser = time::parse_rfc3339, requires = "to")]
    from: Option<i64>,
    /// End of the range (RFC 3339 UTC).
    #[arg(long, value_name = "UTC", value_parser = time::parse_rfc3339, requires = "from")]
    to: Option<i64>,
    /// The last DURATION of the recording (90s, 3m, 1h30m), back from the newest segment's end.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "from")]
    last: Option<Duration>,
    /// Write exactly this file (it must not exist yet).
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        conflicts_with = "dir"
    )]
    output: Option<PathBuf>,
    /// Write a file named after the end of the range into this directory.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Runs `export`.
pub fn run(args: Args) -> Result<Outcome> {
    let dev = device::open(&args.device, false)?;
    let name = dev.name();
    let options = OpenOptions {
        read_only: true,
        ..OpenOptions::default()
    };
    let ring = Ring::open(&dev, options).map_err(explain)?;
    let reader = ring.reader();
    let (from_us, to_us) = range(&args, &reader.stats(), &name)?;
    let target = match (&args.output, &args.dir) {
        (Some(file), _) => Target::File(file.clone()),
        (None, dir) => Target::Dir(dir.clone().unwrap_or_else(|| PathBuf::from("."))),
    };
    let request = Request::new(from_us, to_us, target);
    let report = export::export(&reader, &request, &mut |_| {})
        .map_err(|err| describe_failure(err, &args.device, &name))?;
    emit(&summary(&report))?;
    Ok(Outcome::Success)
}

/// The UTC range from --from/--to, or --last counted back from the newest segment's end.
fn range(args: &Args, stats: &moment_ring::Stats, name: &str) -> Result<(i64, i64)> {
    if let (Some(from), Some(to)) = (args.from, args.to) {
        if from >= to {
            bail!(
                "--from {} is not before --to {}; give the earlier time first",
                rfc3339_utc(from),
                rfc3339_utc(to)
            );
        }
        return Ok((from, to));
    }
    let last = args
        .last
        .ok_or_else(|| anyhow!("give --from and --to, or --last"))?;
    let Some(end) = stats.newest_utc_end_us else {
        bail!("{name}: the ring holds no segments yet; is the recorder running?");
    };
    let span = i64::try_from(last.as_micros()).unwrap_or(i64::MAX);
    Ok((end.saturating_sub(span), end))
}

/// Adds the device and the next step to errors that lack them. A corrupt segment while a
/// recorder runs is almost always one it overwrote: the ring is reopened to tell.
fn describe_failure(err: ExportError, path: &Path, name: &str) -> anyhow::Error {
    match err {
        ExportError::Ring {
            seq,
            source: moment_ring::Error::Corrupt { .. } | moment_ring::Error::ReaderTooSlow { .. },
        } if overwritten(path, seq) => anyhow!(
            "{name}: segment {seq} was overwritten by the recorder while it was being exported \
             (it was among the oldest); export a later range"
        ),
        ExportError::Ring { .. } | ExportError::NothingInRange { .. } => {
            anyhow!("{name}: {err}")
        }
        other => anyhow::Error::new(other),
    }
}

/// True if `seq` is no longer in the ring as it is on disk now.
fn overwritten(path: &Path, seq: u64) -> bool {
    let Ok(dev) = FileDevice::open(path, false, moment_ring::DirectIo::Auto) else {
        return false;
    };
    let options = OpenOptions {
        read_only: true,
        ..OpenOptions::default()
    };
    Ring::open(&dev, options).is_ok_and(|ring| ring.stats().oldest_seq > seq)
}

/// What was written, for a person.
fn summary(r: &Report) -> String {
    let mut out = format!("wrote {}\n", r.path.display());
    let mut line = |label: &str, value: String| out.push_str(&format!("  {label:<9} {value}\n"));
    line(
        "duration",
        format!(
            "{} ({} to {})",
            human_duration(r.duration_us),
            rfc3339_utc(r.utc_start_us),
            rfc3339_utc(r.utc_end_us)
        ),
    );
    line(
        "size",
        format!("{} ({} bytes)", human_bytes(r.mp4_bytes), r.mp4_bytes),
    );
    line(
        "segments",
        format!(
            "{} (#{}..=#{}, {} of MPEG-TS)",
            r.segments(),
            r.first_seq,
            r.last_seq,
            human_bytes(r.ts_bytes)
        ),
    );
    line("clipped", clipping(r));
    if r.discontinuities > 0 || r.gaps_us > 0 {
        line(
            "restarts",
            format!(
                "{} source restart(s) joined; {} not recorded inside the range",
                r.discontinuities,
                human_duration(r.gaps_us)
            ),
        );
    }
    if let Some(source) = r.name_source {
        line("named", naming(source).to_string());
    }
    line("took", format!("{:.1} s", r.elapsed.as_secs_f64()));
    out
}

fn clipping(r: &Report) -> String {
    let mut parts = Vec::new();
    if r.clipped_start {
        parts.push(format!(
            "the ring holds nothing before {} (asked from {})",
            rfc3339_utc(r.utc_start_us),
            rfc3339_utc(r.requested_from_us)
        ));
    }
    if r.clipped_end {
        parts.push(format!(
            "the ring holds nothing after {} (asked to {})",
            rfc3339_utc(r.utc_end_us),
            rfc3339_utc(r.requested_to_us)
        ));
    }
    if parts.is_empty() {
        "no (cut at keyframes, or at segment boundaries in older recordings: the file may start \
         and end a little outside the range)"
            .into()
    } else {
        format!("yes: {}", parts.join("; "))
    }
}

fn naming(source: NameSource) -> &'static str {
    match source {
        NameSource::Recorded => "after the end of the range, local time",
        NameSource::RecordedUnsynced => {
            "after the end of the range by the camera's clock, which was NOT synchronised: the \
             time in the name may be off"
        }
        NameSource::ExportTime => {
            "after the time of this export: the recording's clock was never set"
        }
    }
}

/// "1h 2m 3.4s", "3m 0.0s", "12.5s".
fn human_duration(us: u64) -> String {
    let secs = us as f64 / 1e6;
    let (h, m) = (us / 3_600_000_000, us / 60_000_000 % 60);
    let s = secs - (us / 60_000_000 * 60) as f64;
    match (h, m) {
        (0, 0) => format!("{s:.1}s"),
        (0, _) => format!("{m}m {s:.1}s"),
        _ => format!("{h}h {m}m {s:.1}s"),
    }
}

/// Parses "90s", "3m", "1h30m", "2h5m10s" (whole numbers, units h, m, s, in that order).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration; give one such as 90s, 3m or 1h30m");
    if text.is_empty() {
        return Err(bad());
    }
    let mut total = 0u64;
    let mut rest = text;
    let mut last_unit = u64::MAX;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let value: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let unit = match rest[digits..].chars().next() {
            Some('h') => 3600,
            Some('m') => 60,
            Some('s') => 1,
            _ => return Err(bad()),
        };
        if unit >= last_unit {
            return Err(bad());
        }
        last_unit = unit;
        total = value
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        rest = &rest[digits + 1..];
    }
    let duration = Duration::from_secs(total);
    if duration.is_zero() {
        return Err("the duration must be more than 0 seconds".into());
    }
    if duration > MAX_LAST {
        return Err(format!(
            "{text} is longer than any ring holds (at most 30 days)"
        ));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let s = Duration::from_secs;
        assert_eq!(parse_duration("90s"), Ok(s(90)));
        assert_eq!(parse_duration("3m"), Ok(s(180)));
        assert_eq!(parse_duration("1h30m"), Ok(s(5400)));
        assert_eq!(parse_duration("2h5m10s"), Ok(s(7510)));
        for bad in ["", "3", "m", "3x", "1m1h", "3m3m", "-3m", "1.5m", "3 m"] {
            assert!(
                parse_duration(bad).unwrap_err().contains("1h30m"),
                "{bad:?}"
            );
        }
        assert!(parse_duration("0s").unwrap_err().contains("more than 0"));
        assert!(parse_duration("9999h").unwrap_err().contains("30 days"));
        assert!(parse_duration("99999999999999999999h").is_err());
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(12_500_000), "12.5s");
        assert_eq!(human_duration(180_000_000), "3m 0.0s");
        assert_eq!(human_duration(3_723_400_000), "1h 2m 3.4s");
    }
}
