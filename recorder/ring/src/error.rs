//! The ring's typed errors. Each message names the device and says what to do, because these reach
//! a person through the CLI and the daemon's status.

use std::io;

/// Everything the ring can report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The medium failed. The ring stops writing (fails closed) after this.
    #[error("{device}: I/O error while {op}: {source}")]
    Io {
        device: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// No valid superblock.
    #[error("{device}: not a moment ring (no valid superblock); format it with `moment-recorder ring format {device}`")]
    NotARing { device: String },
    /// A superblock from another format version.
    #[error("{device}: ring format version {found}, but this build reads version {supported}; update the recorder or reformat the ring")]
    UnsupportedVersion {
        device: String,
        found: u32,
        supported: u32,
    },
    /// The device is smaller than the superblock says (wrong partition, truncated file).
    #[error("{device}: the ring was formatted for {expected} bytes but the device has {actual}; is this the right partition?")]
    DeviceShrunk {
        device: String,
        expected: u64,
        actual: u64,
    },
    /// Too small to hold a ring.
    #[error("{device}: {len} bytes is too small for a ring (at least {min} bytes needed)")]
    TooSmall { device: String, len: u64, min: u64 },
    /// Format refused: something is already there.
    #[error("{device}: holds {what}; refusing to format it (pass --force to erase it)")]
    HoldsData { device: String, what: String },
    /// A format option that cannot work.
    #[error("invalid ring geometry: {0}")]
    InvalidGeometry(String),
    /// A previous I/O error closed the ring for writing.
    #[error("the ring stopped writing after an I/O error ({0}); reopen it to recover")]
    FailedClosed(String),
    /// Opened read-only.
    #[error("the ring is open read-only")]
    ReadOnly,
    /// The payload does not fit the segment limit fixed at format time.
    #[error("a segment of {len} bytes exceeds this ring's limit of {max} bytes per segment")]
    SegmentTooLarge { len: u64, max: u64 },
    /// Segment metadata that breaks an invariant (e.g. zero-length payload).
    #[error("invalid segment: {0}")]
    InvalidSegment(String),
    /// The sequence number is not (or no longer) in the ring.
    #[error("segment {seq} is not in the ring (it holds {oldest}..={newest})")]
    NoSuchSegment { seq: u64, oldest: u64, newest: u64 },
    /// The writer needed the space of a pinned segment and the reader did not finish in time.
    #[error(
        "segment {seq} was overwritten because this reader held it too long; read less at a time"
    )]
    ReaderTooSlow { seq: u64 },
    /// A pin was asked for a segment outside its range.
    #[error("segment {seq} is outside the pinned range {from}..={to}")]
    NotPinned { seq: u64, from: u64, to: u64 },
    /// Too many readers at once.
    #[error("too many concurrent readers (limit {0}); try again when one finishes")]
    TooManyReaders(usize),
    /// Stored data failed its checks; never returned as data.
    #[error("{device}: segment {seq} is corrupt ({what}); `moment-recorder ring fsck --repair` rebuilds the index")]
    Corrupt {
        device: String,
        seq: u64,
        what: &'static str,
    },
}

/// Shorthand for the ring's results.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(device: String, op: &'static str, source: io::Error) -> Error {
        Error::Io { device, op, source }
    }
}
