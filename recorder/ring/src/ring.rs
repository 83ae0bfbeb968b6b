//! The ring's front door: open a formatted device (running recovery), hand out readers, report
//! statistics. The write path lives in writer.rs, recovery in recovery.rs, reads in reader.rs.

use crate::device::{AlignedBuf, Device, BLOCK};
use crate::error::Result;
use crate::format::read_superblock;
use crate::layout::Geometry;
use crate::reader::RingReader;
use crate::recovery::{self, RecoveryReport};
use crate::state::{Shared, State};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Largest single device write the writer issues; also its bounce buffer size (peak RSS).
pub(crate) const WRITE_CHUNK: u64 = 4 << 20;

/// How to open a ring.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Never write: recovery runs in memory only, repairs are reported but not applied.
    pub read_only: bool,
    /// How long the writer waits for a reader holding a segment it must overwrite.
    pub pin_wait: Duration,
    /// Most readers (pins) at once.
    pub max_readers: usize,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            read_only: false,
            pin_wait: Duration::from_secs(2),
            max_readers: 64,
        }
    }
}

/// A point-in-time summary of the ring.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Bytes of the data area.
    pub capacity_bytes: u64,
    /// Bytes held by live segments (headers and padding included).
    pub used_bytes: u64,
    /// Live segments.
    pub segment_count: u64,
    /// Most segments the index can hold.
    pub slot_count: u64,
    /// Oldest live sequence number (the next one when empty).
    pub oldest_seq: u64,
    /// Newest live sequence number, if any.
    pub newest_seq: Option<u64>,
    /// Start of the oldest segment, microseconds since the epoch.
    pub oldest_utc_us: Option<i64>,
    /// End of the newest segment, microseconds since the epoch.
    pub newest_utc_end_us: Option<i64>,
    /// Why the ring stopped writing, if it did.
    pub failed: Option<String>,
}

/// The writer's handle. One per ring; readers come from `reader()`.
pub struct Ring<D: Device> {
    pub(crate) shared: Arc<Shared<D>>,
    pub(crate) read_only: bool,
    pub(crate) pin_wait: Duration,
    /// Aligned bounce buffer for payload writes (O_DIRECT needs aligned memory).
    pub(crate) bounce: AlignedBuf,
    /// One aligned block for headers, slots and tail records.
    pub(crate) block: AlignedBuf,
    report: RecoveryReport,
}

impl<D: Device> Ring<D> {
    /// Opens the ring on `dev`: finds the superblock, recovers the index (rolling forward over
    /// segments whose index write was lost), and, unless read-only, writes the repairs.
    pub fn open(dev: D, options: OpenOptions) -> Result<Ring<D>> {
        let started = Instant::now();
        let (geometry, health) = read_superblock(&dev)?;
        let mut recovered = recovery::recover(&dev, &geometry, health)?;
        if !options.read_only {
            recovery::apply_repairs(&dev, &geometry, &mut recovered)?;
        }
        recovered.state.check(&geometry);
        recovered.report.duration = started.elapsed();
        Ok(Self::from_parts(
            dev,
            geometry,
            recovered.state,
            recovered.report,
            &options,
        ))
    }

    pub(crate) fn from_parts(
        dev: D,
        geometry: Geometry,
        state: State,
        report: RecoveryReport,
        options: &OpenOptions,
    ) -> Ring<D> {
        let bounce_len = WRITE_CHUNK.min(geometry.max_segment_bytes) as usize;
        Ring {
            shared: Arc::new(Shared {
                dev,
                geometry,
                state: Mutex::new(state),
                unpinned: Condvar::new(),
                max_readers: options.max_readers,
            }),
            read_only: options.read_only,
            pin_wait: options.pin_wait,
            bounce: AlignedBuf::new(if options.read_only {
                BLOCK as usize
            } else {
                bounce_len
            }),
            block: AlignedBuf::new(BLOCK as usize),
            report,
        }
    }

    /// What recovery found and repaired when this ring was opened.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.report
    }

    /// The layout from the superblock.
    pub fn geometry(&self) -> &Geometry {
        &self.shared.geometry
    }

    /// A handle for reading, usable from other threads at the same time as `append`.
    pub fn reader(&self) -> RingReader<D> {
        RingReader::new(Arc::clone(&self.shared))
    }

    /// Current statistics.
    pub fn stats(&self) -> Stats {
        stats(&self.shared)
    }
}

pub(crate) fn stats<D: Device>(shared: &Shared<D>) -> Stats {
    let state = shared.lock();
    Stats {
        capacity_bytes: shared.geometry.data_len,
        used_bytes: state.used,
        segment_count: state.entries.len() as u64,
        slot_count: shared.geometry.slot_count,
        oldest_seq: state.oldest_seq(),
        newest_seq: state.entries.back().map(|e| e.seq),
        oldest_utc_us: state.entries.front().map(|e| e.meta.utc_start_us),
        newest_utc_end_us: state.entries.back().map(|e| e.utc_end_us()),
        failed: state.failed.clone(),
    }
}
