//! `moment-ring`: the recorder's storage engine. A circular store of video segments on a raw
//! partition that survives power loss: redundant superblocks, a CRC-checked index written only
//! after the data it describes is durable, self-describing segment headers for roll-forward and
//! rebuild, and pins so readers and the writer share the ring without blocking each other beyond a
//! bound. No async runtime, no HTTP, no GPIO (see ARCHITECTURE.md): the API is blocking, and the
//! ring owns one I/O thread that overlaps its device writes and flushes with the caller's work.
//! The on-disk format is documented in docs/ring-format.md.

pub mod audit;
mod codec;
pub mod device;
mod error;
mod format;
mod layout;
mod pipeline;
mod reader;
mod records;
mod recovery;
mod ring;
mod scan;
mod state;
mod writer;

pub use device::{
    AlignedBuf, Device, DirectIo, FaultDevice, FaultPlan, FileDevice, MemDevice, SyncDone, BLOCK,
};
pub use error::{Error, Result};
pub use format::{detect_existing, format};
pub use layout::{
    FormatOptions, Geometry, FORMAT_VERSION, MIN_DEVICE_BYTES, OLDEST_READABLE_VERSION, SLOT_SIZE,
};
pub use reader::{Pin, RingReader};
pub use records::{flags, KeyframePos, SegmentInfo, SegmentMeta, MAX_KEYFRAMES};
pub use recovery::RecoveryReport;
pub use ring::{OpenOptions, Ring, Stats};
pub use scan::{fsck, FsckReport};
