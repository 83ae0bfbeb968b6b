//! Turning a SAVE (a button, `press save`, later the web app) into a memory: wait until the
//! segment that was being recorded at the press has closed (the press time is part of the clip),
//! make room on /data under the memories' rules, export the range from the ring to MP4 and record
//! its sidecar. Runs on a blocking thread: the export reads the ring and waits on ffmpeg.

use crate::memories::{Memory, MemoryStore, Sidecar, SpaceError};
use moment_media::export::{self, ExportError, Request, Target};
use moment_ring::{flags, FileDevice, RingReader};
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
            self.clipped(&report),
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

    /// Whether the ring really lacked part of the range. The export calls a range clipped when
    /// an end falls between two segments' UTC times, but on a continuous recording those times
    /// jitter around each other (by up to ~0.1 s measured on a loaded machine), so a range can
    /// start or end in a "gap" that lost nothing. Only a missing neighbour (evicted, not yet
    /// recorded) or a source restart there is a real clip.
    fn clipped(&self, report: &export::Report) -> bool {
        let starts_anew = |seq: u64| {
            self.reader
                .segment(seq)
                .is_none_or(|s| s.meta.flags & flags::DISCONTINUITY != 0)
        };
        let start = report.clipped_start
            && (report.first_seq == 0
                || self.reader.segment(report.first_seq - 1).is_none()
                || starts_anew(report.first_seq));
        let end = report.clipped_end && starts_anew(report.last_seq + 1);
        start || end
    }

    fn ts_bytes(&self, from_us: i64, to_us: i64) -> u64 {
        self.reader
            .segments_between(from_us, to_us)
            .iter()
            .map(|s| u64::from(s.payload_len))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moment_ring::{format, DirectIo, FormatOptions, OpenOptions, Ring, SegmentMeta};

    const T0_US: i64 = 1_795_000_000_000_000;
    const SEGMENT_US: u64 = 2_000_000;

    /// A saver over a ring holding four 2 s segments whose start times jitter by a few ms, as a
    /// live recording's do; the fourth follows a source restart.
    fn saver(dir: &std::path::Path) -> (Saver, Ring<FileDevice>) {
        let path = dir.join("ring.img");
        std::fs::File::create(&path)
            .and_then(|f| f.set_len(64 << 20))
            .unwrap();
        let dev = FileDevice::open(&path, true, DirectIo::Auto).unwrap();
        format(&dev, &FormatOptions::default()).unwrap();
        let mut ring = Ring::open(dev, OpenOptions::default()).unwrap();
        let jitter_us = [0, 5_000, 2_000, 60_000_000];
        for (i, jitter) in jitter_us.into_iter().enumerate() {
            let meta = SegmentMeta {
                utc_start_us: T0_US + i as i64 * SEGMENT_US as i64 + jitter,
                duration_us: SEGMENT_US,
                flags: if i == 3 { flags::DISCONTINUITY } else { 0 },
                ..SegmentMeta::default()
            };
            ring.append(&meta, &[0x47; 188 * 4]).unwrap();
        }
        ring.flush().unwrap();
        let (memories, _) = MemoryStore::open(&dir.join("memories"), 0).unwrap();
        let saver = Saver {
            reader: ring.reader(),
            memories: Arc::new(memories),
            ffmpeg: PathBuf::from("ffmpeg"),
            close_wait: Duration::from_secs(1),
        };
        (saver, ring)
    }

    fn report(first_seq: u64, last_seq: u64, start: bool, end: bool) -> export::Report {
        export::Report {
            path: PathBuf::new(),
            mp4_bytes: 0,
            ts_bytes: 0,
            first_seq,
            last_seq,
            utc_start_us: 0,
            utc_end_us: 0,
            duration_us: 0,
            requested_from_us: 0,
            requested_to_us: 0,
            clipped_start: start,
            clipped_end: end,
            discontinuities: 0,
            gaps_us: 0,
            name_source: None,
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn a_range_ending_between_jittered_segments_is_not_clipped() {
        let dir = tempfile::tempdir().unwrap();
        let (saver, _ring) = saver(dir.path());
        // The range starts in the 5 ms between #1 and #2, or ends in the 2 ms after #2.
        assert!(!saver.clipped(&report(2, 3, true, false)));
        assert!(!saver.clipped(&report(1, 2, false, true)));
        assert!(!saver.clipped(&report(2, 2, false, false)));
        // Before the oldest segment, after the newest and across a restart, time is missing.
        assert!(saver.clipped(&report(1, 2, true, false)));
        assert!(saver.clipped(&report(3, 4, false, true)));
        assert!(saver.clipped(&report(4, 4, true, false)));
        assert!(saver.clipped(&report(2, 3, false, true)));
    }
}
