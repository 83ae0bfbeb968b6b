//! The ring's front door: open a formatted device (running recovery), hand out readers, report
//! statistics, close. The write path lives in writer.rs (its device operations run on the I/O
//! thread of pipeline.rs), recovery in recovery.rs, reads in reader.rs.

use crate::device::{AlignedBuf, Device, BLOCK};
use crate::error::Result;
use crate::format::read_superblock;
use crate::layout::Geometry;
use crate::pipeline::{Pipeline, Progress};
use crate::reader::RingReader;
use crate::recovery::{self, RecoveryReport};
use crate::state::{Shared, State};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Largest single device write the writer issues, and the size of each of its two bounce
/// buffers: 2 x 2 MiB keeps peak memory where one 4 MiB buffer had it.
pub(crate) const WRITE_CHUNK: u64 = 2 << 20;

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
    /// Bytes held by the live segments counted above (headers and padding included).
    pub used_bytes: u64,
    /// Live segments readers can see (durable ones; see `Ring::durable_seq`).
    pub segment_count: u64,
    /// Most segments the index can hold.
    pub slot_count: u64,
    /// Oldest live sequence number (the next one when empty).
    pub oldest_seq: u64,
    /// Newest live sequence number readers can see (the newest durable one), if any.
    pub newest_seq: Option<u64>,
    /// Start of the oldest segment, microseconds since the epoch.
    pub oldest_utc_us: Option<i64>,
    /// End of the newest segment, microseconds since the epoch.
    pub newest_utc_end_us: Option<i64>,
    /// Why the ring stopped writing, if it did.
    pub failed: Option<String>,
}

/// The writer's handle. One per ring; readers come from `reader()`.
///
/// Appends are pipelined: `append` returns once the segment is queued for the ring's I/O thread,
/// which writes it and starts its flush while the caller goes on. Learn when a segment survives a
/// power cut from `durable_seq`, or wait for everything with `flush`. Dropping the ring flushes
/// (best effort) and stops the I/O thread; `close` does the same and reports errors. The thread
/// works on the device's `Device::io_handle` (files, block devices and the in-memory devices
/// have one); for a device without, the ring performs the same operations in the same order on
/// the caller's thread.
pub struct Ring<D: Device> {
    pub(crate) shared: Arc<Shared<D>>,
    pub(crate) read_only: bool,
    pub(crate) pin_wait: Duration,
    /// One aligned block for headers (built on the writer's side).
    pub(crate) block: AlignedBuf,
    /// The I/O thread, started by the first append.
    pub(crate) pipeline: Option<Pipeline>,
    /// Highest sequence number whose index slot has been queued (or was durable at open).
    pub(crate) slot_queued: u64,
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
        // Everything recovery kept is on the medium, and its repairs were synced.
        let newest = state.next_seq - 1;
        Ring {
            shared: Arc::new(Shared {
                dev,
                geometry,
                state: Mutex::new(state),
                progress: Arc::new(Progress::new(newest)),
                unpinned: Condvar::new(),
                max_readers: options.max_readers,
            }),
            read_only: options.read_only,
            pin_wait: options.pin_wait,
            block: AlignedBuf::new(BLOCK as usize),
            pipeline: None,
            slot_queued: newest,
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

    /// Current statistics, as readers see them (durable segments only).
    pub fn stats(&self) -> Stats {
        stats(&self.shared)
    }

    /// Highest sequence number that survives a power cut (0 if none): its data is flushed and it
    /// is reachable from the durable index. Every segment up to it stays until evicted. Segments
    /// `append` returned after it may still be lost; readers do not see them yet.
    pub fn durable_seq(&self) -> u64 {
        self.shared.durable()
    }

    /// Waits until every appended segment is durable and indexed: writes the last index slot and
    /// flushes. Afterwards `durable_seq` is the newest sequence number and a reopen needs no
    /// roll-forward. Returns the I/O error (then `FailedClosed`) if the ring has failed.
    pub fn flush(&mut self) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        self.shared.progress.check()?;
        if self.pipeline.is_none() {
            return Ok(()); // nothing appended since open: all of it is durable
        }
        let newest = self.shared.lock().next_seq - 1;
        let slot = newest > self.slot_queued;
        if slot {
            self.queue_slot(newest)?;
        }
        // The slot just queued needs a flush of its own even if its segment is durable already.
        if slot || newest > self.shared.progress.durable() {
            self.submit(crate::pipeline::Job::Flush { seq: newest })?;
        }
        let shared = &self.shared;
        let pipeline = self.pipeline.as_mut().expect("checked above");
        pipeline.drain(&shared.dev, &shared.geometry)
    }

    /// Flushes, stops the I/O thread and reports what went wrong, if anything did.
    pub fn close(mut self) -> Result<()> {
        let result = self.flush();
        self.pipeline = None;
        result
    }
}

impl<D: Device> Drop for Ring<D> {
    /// Best effort: a ring that failed has nothing more to write, and an error here has nobody
    /// to go to (use `close` to see it). Joining the I/O thread ends its use of the device.
    fn drop(&mut self) {
        if self.pipeline.is_some() {
            let _ = self.flush();
        }
        self.pipeline = None;
    }
}

pub(crate) fn stats<D: Device>(shared: &Shared<D>) -> Stats {
    let durable = shared.durable();
    let state = shared.lock();
    let (hidden, hidden_bytes) = state
        .hidden_entries(durable)
        .fold((0, 0), |(n, bytes), e| (n + 1, bytes + e.extent()));
    // From the back: past the few hidden ones, not through the whole index.
    let newest = state.entries.iter().rev().find(|e| e.seq <= durable);
    let oldest_utc_us = state
        .visible_entries(durable)
        .next()
        .map(|e| e.meta.utc_start_us);
    Stats {
        capacity_bytes: shared.geometry.data_len,
        used_bytes: state.used - hidden_bytes,
        segment_count: state.entries.len() as u64 - hidden,
        slot_count: shared.geometry.slot_count,
        oldest_seq: state.oldest_seq(),
        newest_seq: newest.map(|e| e.seq),
        oldest_utc_us,
        newest_utc_end_us: newest.map(|e| e.utc_end_us()),
        failed: shared.progress.failed(),
    }
}
