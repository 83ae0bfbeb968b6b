//! Everything an export can report. These reach a person through the CLI, the web UI and the LED,
//! so each message says what happened to which file or range and what to do about it.

use super::time::format_utc;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Why an export failed. Whatever the reason, no file with a final name was left behind.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// `from` is not before `to`.
    #[error("the range {} to {} is empty: the start must be before the end", format_utc(*.from_us), format_utc(*.to_us))]
    InvalidRange { from_us: i64, to_us: i64 },
    /// No segment overlaps the range.
    #[error("the ring holds nothing between {} and {}; {}", format_utc(*.from_us), format_utc(*.to_us), describe_holds(.holds))]
    NothingInRange {
        from_us: i64,
        to_us: i64,
        /// Start of the oldest and end of the newest segment, if the ring holds any.
        holds: Option<(i64, i64)>,
    },
    /// Reading or pinning the ring failed (a segment was overwritten, is corrupt, I/O error).
    #[error("reading segment {seq} from the ring: {source}")]
    Ring {
        seq: u64,
        #[source]
        source: moment_ring::Error,
    },
    /// The ffmpeg program is not installed (or not on PATH).
    #[error(
        "ffmpeg ({program}) was not found; install it (apt-get install ffmpeg) or put it on PATH"
    )]
    FfmpegMissing { program: PathBuf },
    /// ffmpeg could not be started for another reason.
    #[error("cannot start ffmpeg ({program}): {source}")]
    FfmpegStart {
        program: PathBuf,
        #[source]
        source: io::Error,
    },
    /// ffmpeg ended with an error (its standard error, trimmed, is included).
    #[error("ffmpeg failed ({status}): {stderr}")]
    FfmpegFailed { status: String, stderr: String },
    /// ffmpeg did not finish within the time allowed and was killed.
    #[error("ffmpeg did not finish within {} s and was stopped; the system may be overloaded or the disk too slow{}", .after.as_secs(), stderr_suffix(.stderr))]
    FfmpegTimeout { after: Duration, stderr: String },
    /// The thread reading the ring ended without a reason (a bug).
    #[error("the ring reader stopped unexpectedly")]
    ReaderStopped,
    /// Feeding ffmpeg failed for a reason other than ffmpeg exiting.
    #[error("writing to ffmpeg: {0}")]
    FfmpegPipe(#[source] io::Error),
    /// Creating, syncing or renaming the output failed.
    #[error("{}: cannot {op}: {source}{}", .path.display(), output_advice(.source))]
    Output {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// The file asked for with `-o` is already there (memories are never overwritten).
    #[error("{}: already exists; choose another name or remove it first (memories are never overwritten)", .path.display())]
    Exists { path: PathBuf },
    /// Someone else is writing the same temporary file, or an export was interrupted.
    #[error("{}: another export is writing this file, or one was interrupted; if none is running, remove it", .path.display())]
    PartialExists { path: PathBuf },
    /// Every candidate name in the directory is taken.
    #[error("{}: {tried} names for this moment are already taken; clean up the directory or use -o", .dir.display())]
    NoFreeName { dir: PathBuf, tried: u32 },
    /// No trustworthy time to name the file after.
    #[error("cannot name the file after the recording time: the camera's clock was not set when it was recorded (it says {}) and the system clock is not synchronised either; give a file name with -o FILE", format_utc(*.recorded_end_us))]
    UnknownTime { recorded_end_us: i64 },
    /// The local time of the name could not be computed.
    #[error("converting {} to local time: {source}", format_utc(*.utc_us))]
    LocalTime {
        utc_us: i64,
        #[source]
        source: io::Error,
    },
}

fn describe_holds(holds: &Option<(i64, i64)>) -> String {
    match holds {
        None => "the ring is empty (is the recorder running?)".to_string(),
        Some((from, to)) => format!(
            "it holds {} to {}; choose a range inside it",
            format_utc(*from),
            format_utc(*to)
        ),
    }
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

fn output_advice(err: &io::Error) -> &'static str {
    match err.raw_os_error() {
        Some(libc::EROFS) => "; the file system is read-only: choose another directory",
        Some(libc::EACCES) | Some(libc::EPERM) => {
            "; no permission to write there: choose another directory or fix its permissions"
        }
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => "; the disk is full: free some space",
        Some(libc::ENOENT) => "; the directory does not exist: create it first",
        Some(libc::ENOTDIR) => "; part of the path is not a directory",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_to_do() {
        let err = ExportError::NothingInRange {
            from_us: 0,
            to_us: 1_000_000,
            holds: Some((1_700_000_000_000_000, 1_700_000_060_000_000)),
        };
        assert_eq!(
            err.to_string(),
            "the ring holds nothing between 1970-01-01T00:00:00Z and 1970-01-01T00:00:01Z; it \
             holds 2023-11-14T22:13:20Z to 2023-11-14T22:14:20Z; choose a range inside it"
        );
        let err = ExportError::Output {
            path: "/data/x.mp4".into(),
            op: "create the file",
            source: io::Error::from_raw_os_error(libc::EROFS),
        };
        assert!(err
            .to_string()
            .starts_with("/data/x.mp4: cannot create the file: "));
        assert!(err.to_string().ends_with("choose another directory"));
    }
}
