//! Media handling for the recorder: capture sources and their supervision (`source`), MPEG-TS
//! parsing and keyframe segmentation from bytes arriving on a camera's pipe to self-contained
//! segments for the ring (`Segmenter`), the bounded hand-off between the capture and ring-writer
//! threads (`segment_queue`, `run_capture`), the live view's feed of committed bytes
//! (`LiveChunk`, `LiveSink`), and the export of a time range of the ring to MP4
//! (`export`).
//!
//! The layers, bottom up: `framer` (bytes to 188-byte packets, resync), `ts` (packet header,
//! continuity counters), `psi` (PAT/PMT), `pes` (timestamps), `h264` (IDR detection), `segment`
//! and `segmenter` (where to cut and what to record), `queue` (the hand-off), `capture` (the
//! capture loop), `export` (ring to MP4).

mod capture;
mod config;
mod crc;
pub mod export;
pub mod framer;
pub mod h264;
mod live;
pub mod pes;
pub mod psi;
mod queue;
mod segment;
mod segmenter;
pub mod source;
pub mod ts;

pub use capture::{
    monotonic_us, run_capture, system_clock, CaptureEnd, CaptureOutputs, CaptureProgress,
    CaptureTotals,
};
pub use config::{
    ConfigError, SegmenterConfig, MAX_HARD_MAX, MAX_SEGMENT_BYTES, MAX_TARGET, MIN_SEGMENT_BYTES,
    MIN_TARGET,
};
pub use crc::crc32_mpeg2;
pub use live::{LiveChunk, LiveMark, LiveSink};
pub use queue::{segment_queue, QueueStats, RecvError, SegmentReceiver, SegmentSender, Sent};
pub use segment::{Clock, Segment};
pub use segmenter::{Segmenter, Stats};
