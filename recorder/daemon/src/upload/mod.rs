//! The uploader: copies finished memories from /data to the user's cloud with the real `rclone`,
//! one at a time, from a queue on disk that survives crashes and power loss. It lives apart from
//! recording on purpose: it is a tokio task that only reads memory files, so a hung rclone, a dead
//! network or a corrupt queue file can cost uploads but never a recorded second.
//!
//! The parts: [`config`] (the `[upload]` settings and their checks), `queue` (the persistent
//! queue and its atomic writes), `policy` (clock, time window, backoff), `rclone` (running the
//! program with time and output bounds), `transfer` (one verified upload), `worker` (the loop) and
//! [`handle`] (what the rest of the daemon holds). docs/uploads.md describes the behaviour.

pub mod config;
pub mod handle;
mod policy;
mod queue;
mod rclone;
pub mod remote_setup;
pub mod status;
mod transfer;
mod worker;

pub use config::{ConfigError, Policy, UploadConfig};
pub use handle::{Enqueued, ReconcileReport, UploadDone, UploadHandle, Uploader, UploaderOptions};
pub use policy::{Clock, SystemClock};
pub use queue::{Entry, EntryState, DEFAULT_MAX_ENTRIES, QUEUE_FILE, QUEUE_VERSION};
pub use status::{Activity, DoneInfo, Phase, Progress, UploadStatus};

use std::fmt;
use std::path::PathBuf;

/// What can go wrong when talking to the uploader. Failed transfers are not errors of this kind:
/// they are recorded in the queue and in [`UploadStatus::last_error`] and retried.
#[derive(Debug)]
pub enum UploadError {
    /// A setting is wrong; the message names the key and the fix.
    Config(ConfigError),
    /// `Uploader::start` was called outside a tokio runtime.
    NoRuntime,
    /// The state directory or the queue file in it cannot be used.
    State { path: PathBuf, message: String },
    /// The queue holds its maximum number of entries.
    QueueFull { max: usize },
    /// A memory name the uploader refuses (it would be unsafe as a remote path).
    InvalidName { name: String, reason: &'static str },
    /// The change was made in memory but could not be written to disk; it is not durable yet.
    Save(String),
    /// The uploader task has stopped (shut down, or ended by a bug); uploads are off.
    NotRunning,
}

impl fmt::Display for UploadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UploadError::Config(e) => write!(f, "{e}"),
            UploadError::NoRuntime => {
                write!(f, "the uploader must be started inside a tokio runtime")
            }
            UploadError::State { path, message } => {
                write!(f, "upload state {}: {message}", path.display())
            }
            UploadError::QueueFull { max } => write!(
                f,
                "the upload queue is full ({max} memories); delete uploaded memories or wait for \
                 pending ones to upload"
            ),
            UploadError::InvalidName { name, reason } => {
                write!(f, "cannot upload a memory named {name:?}: {reason}")
            }
            UploadError::Save(message) => write!(f, "cannot save the upload queue: {message}"),
            UploadError::NotRunning => write!(f, "the uploader is not running"),
        }
    }
}

impl std::error::Error for UploadError {}

impl From<ConfigError> for UploadError {
    fn from(e: ConfigError) -> Self {
        UploadError::Config(e)
    }
}

/// Reads the bytes of a queue file (`QUEUE_FILE`) as the uploader does at start: the entries, or
/// why the file would be set aside. Public for the fuzzer (recorder/fuzz), which feeds it
/// arbitrary bytes without starting an uploader.
pub fn decode_queue(bytes: &[u8], max_entries: usize) -> Result<Vec<Entry>, String> {
    queue::decode(bytes, max_entries)
}

/// Cuts `text` to at most `max` characters (on a character boundary), so errors from rclone or
/// the file system cannot grow the queue file or the status without limit.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
