//! What the uploader shows to the web UI and the LED: one small value, replaced on every change and
//! published through a `watch` channel so readers never wait on the uploader and never queue up.

use super::config::Policy;
use serde::Serialize;

/// What the uploader is doing.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Activity {
    /// Nothing to upload.
    #[default]
    Idle,
    /// A transfer is running (see `current`).
    Uploading,
    /// Memories wait for the upload window.
    WaitingForWindow,
    /// Memories wait for a retry after a failure (see `next_try_unix_ms`).
    WaitingToRetry,
    /// Memories wait for the UPLOAD button (`policy = "manual"`).
    WaitingForButton,
    /// No remote is set up: memories are queued but not sent.
    Disabled,
    /// The uploader task has ended.
    Stopped,
}

/// The step of the running transfer.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Looking at the memory file and the remote.
    #[default]
    Checking,
    /// Computing the local hash the remote will be compared with.
    Hashing,
    Uploading,
    /// Reading the remote copy back (size, hash).
    Verifying,
    /// Renaming `NAME.partial` to `NAME` on the remote.
    Moving,
}

/// The transfer in progress.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Progress {
    pub name: String,
    pub phase: Phase,
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// Bytes per second, as rclone measures it.
    pub rate_bps: u64,
    pub eta_s: Option<u64>,
    /// Whether the UPLOAD button (not the policy) started it.
    pub forced: bool,
}

/// The last confirmed upload.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct DoneInfo {
    pub name: String,
    pub bytes: u64,
    /// How it was checked (`size+md5`, `size`, `...,found`).
    pub verified: String,
    pub seconds: f64,
    pub at_unix_ms: i64,
}

/// Everything the UI shows about uploads.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct UploadStatus {
    pub activity: Activity,
    pub policy: Policy,
    pub current: Option<Progress>,
    /// Memories not yet uploaded (pending, waiting to retry, or in progress).
    pub pending: u32,
    /// Of those, the ones whose last attempt failed.
    pub failed: u32,
    pub done: u32,
    pub last_error: Option<String>,
    pub last_error_unix_ms: Option<i64>,
    /// Earliest retry of a failed memory (UTC milliseconds).
    pub next_try_unix_ms: Option<i64>,
    pub last_done: Option<DoneInfo>,
    /// Failed attempts in a row, across memories (drives the global backoff).
    pub consecutive_failures: u32,
}
