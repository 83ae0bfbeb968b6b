//! Turning a SAVE (a button, `press save`, later the web app) into a memory: wait until the
//! segment that was being recorded at the press has closed (the press time is part of the clip),
//! make room on /data under the memories' rules, export the range from the ring to MP4 and record
//! its sidecar. Runs on a blocking thread: the export reads the ring and waits on ffmpeg.

use crate::memories::{Memory, MemoryStore, Sidecar, SpaceError};
use moment_media::export::{self, ExportError, Request, Target};
use moment_ring::{FileDevice, RingReader};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the saver looks whether the segment in flight has closed.
const CLOSE_POLL: Duration = Duration::from_millis(100);
/// MP4 is a little smaller than the TS it comes from; budget the TS size plus this margin.
const SIZE_MARGIN: u64 = 1 << 20;

/// What to save.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaveRequest {
    /// The end of the clip: the moment of the press (UTC microseconds).
    pub end_utc_us: i64,
    /// How far back from the end.
    pub length: Duration,
}

/// Why a save failed; the message says what to do.
#[derive(Debug)]
pub enum SaveError {
    Space(SpaceError),
    Export(ExportError),
    Memories(std::io::Error),
}

impl std::fmt::Display for SaveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SaveError::Space(e) => write!(f, "{e}"),
            SaveError::Export(e) => write!(f, "export failed: {e}"),
            SaveError::Memories(e) => write!(f, "recording the memory failed: {e}"),
        }
    }
}

impl std::error::Error for SaveError {}

/// What the saver needs, shared by every save.
pub struct Saver {
    pub reader: RingReader<FileDevice>,
    pub memories: Arc<MemoryStore>,
    pub ffmpeg: PathBuf,
    /// Longest a segment can stay open (the segmenter's hard maximum), plus slack: past it, the
    /// camera has stalled and the clip ends with what the ring has.
    pub close_wait: Duration,
}

impl Saver {
    /// Saves `request` (blocking). `progress` hears bytes done and total.
    pub fn save(
        &self,
        request: SaveRequest,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Memory, SaveError> {
        self.wait_for_close(request.end_utc_us);
        let from_us = request
            .end_utc_us
            .saturating_sub(request.length.as_micros() as i64);
        let estimate = self.ts_bytes(from_us, request.end_utc_us) + SIZE_MARGIN;
        let deleted = self
            .memories
            .make_room(estimate)
            .map_err(SaveError::Space)?;
        if !deleted.is_empty() {
            tracing::info!(?deleted, "saver: made room");
        }
        let export_request = Request::new(
            from_us,
            request.end_utc_us,
            Target::Dir(self.memories.dir().to_path_buf()),
        );
        let export_request = Request {
            ffmpeg: self.ffmpeg.clone(),
            ..export_request
        };
        let report = export::export(&self.reader, &export_request, &mut |p| {
            progress(p.bytes_done, p.bytes_total)
        })
        .map_err(SaveError::Export)?;
        let name = report
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let sidecar = Sidecar::new_memory(
            report.utc_start_us,
            report.utc_end_us,
            report.duration_us,
            report.mp4_bytes,
            report.clipped_start || report.clipped_end,
        );
        self.memories
            .add(&name, &sidecar)
            .map_err(SaveError::Memories)
    }

    /// Waits (bounded) until the ring holds a segment ending at or after `end_utc_us`.
    fn wait_for_close(&self, end_utc_us: i64) {
        let deadline = Instant::now() + self.close_wait;
        while Instant::now() < deadline {
            if self
                .reader
                .stats()
                .newest_utc_end_us
                .is_some_and(|end| end >= end_utc_us)
            {
                return;
            }
            std::thread::sleep(CLOSE_POLL);
        }
        tracing::warn!("saver: the segment in flight did not close in time; saving what exists");
    }

    fn ts_bytes(&self, from_us: i64, to_us: i64) -> u64 {
        self.reader
            .segments_between(from_us, to_us)
            .iter()
            .map(|s| u64::from(s.payload_len))
            .sum()
    }
}
