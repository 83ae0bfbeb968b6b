//! The recording pipeline, shared by `moment-recorder record` and the daemon: a capture thread
//! (supervised source -> segmenter -> bounded queue) and a ring-writer thread (queue -> ring). Two
//! threads so a slow or failing SD card never stalls the camera's pipe: the queue drops and
//! counts instead, and the capture side keeps draining the source.

use moment_media::source::{SourceEvent, Supervisor};
use moment_media::{
    run_capture, segment_queue, system_clock, CaptureEnd, CaptureOutputs, CaptureProgress,
    CaptureTotals, LiveSink, RecvError, Segmenter, SegmenterConfig,
};
use moment_ring::{Device, Ring};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime};

/// Segments waiting for the ring writer: about 20 s of video at the default 5 s segments.
const QUEUE_SEGMENTS: usize = 4;
/// Bytes waiting for the ring writer; bounds the memory a stalled card can make us hold.
const QUEUE_BYTES: usize = 48 << 20;
/// The writer's longest wait before it looks again whether capture ended.
const WRITER_POLL: Duration = Duration::from_millis(200);

/// What the ring writer stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterTotals {
    pub segments: u64,
    pub payload_bytes: u64,
    pub discontinuities: u64,
}

/// How the recording went, once both threads have ended.
#[derive(Debug)]
pub struct Finished {
    pub capture_end: CaptureEnd,
    pub capture: CaptureTotals,
    pub writer: WriterTotals,
    /// The ring failed (it failed closed); recording stopped because of it.
    pub ring_error: Option<moment_ring::Error>,
}

/// A running recording.
pub struct Recording {
    stop: Arc<AtomicBool>,
    progress: Arc<CaptureProgress>,
    capture: JoinHandle<CaptureEnd>,
    writer: JoinHandle<(WriterTotals, Option<moment_ring::Error>)>,
}

/// Starts both threads. `on_event` runs on the capture thread for every source event; `live`,
/// when given, gets the bytes for the live view as they are captured.
pub fn start<D: Device + 'static>(
    mut ring: Ring<D>,
    mut supervisor: Supervisor,
    segmenter_config: SegmenterConfig,
    mut on_event: impl FnMut(SystemTime, SourceEvent) + Send + 'static,
    live: Option<Arc<dyn LiveSink>>,
) -> std::io::Result<Recording> {
    // A segment the ring cannot hold would stop the writer: cut before one slot is full.
    let segmenter_config = segmenter_config.fitting(ring.geometry().max_payload_bytes());
    let mut segmenter = Segmenter::new(segmenter_config)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let (sender, receiver) = segment_queue(QUEUE_SEGMENTS, QUEUE_BYTES);
    let stop = Arc::new(AtomicBool::new(false));
    let capture_stop = stop.clone();
    let progress = Arc::new(CaptureProgress::default());
    let capture_progress = progress.clone();
    let capture = thread::Builder::new()
        .name("capture".into())
        .spawn(move || {
            let outputs = CaptureOutputs {
                segments: &sender,
                progress: &capture_progress,
                live: live.as_deref(),
            };
            run_capture(
                &mut supervisor,
                &mut segmenter,
                outputs,
                &capture_stop,
                &system_clock,
                &mut on_event,
            )
        })?;
    let writer_stop = stop.clone();
    let writer = thread::Builder::new()
        .name("ring-writer".into())
        .spawn(move || {
            let result = write_segments(&mut ring, &receiver);
            if result.1.is_some() {
                // The ring failed closed: stop capturing, nothing can be stored.
                writer_stop.store(true, Ordering::Relaxed);
            }
            result
        })?;
    Ok(Recording {
        stop,
        progress,
        capture,
        writer,
    })
}

impl Recording {
    /// Asks both threads to finish: capture closes the current segment, the writer stores what
    /// is queued and flushes the ring.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// What capture has done so far (bytes, segments, when bytes last arrived).
    pub fn progress(&self) -> CaptureTotals {
        self.progress.snapshot()
    }

    /// The live counters, for a status reader that outlives a borrow of the recording.
    pub fn progress_handle(&self) -> Arc<CaptureProgress> {
        self.progress.clone()
    }

    /// True once the capture thread has ended (stop requested, source finished, ring failed).
    pub fn is_finished(&self) -> bool {
        self.capture.is_finished()
    }

    /// Waits for both threads.
    pub fn join(self) -> Finished {
        let capture_end = self.capture.join().unwrap_or(CaptureEnd::WriterGone);
        let capture = self.progress.snapshot();
        let (writer, ring_error) = self.writer.join().unwrap_or_default();
        Finished {
            capture_end,
            capture,
            writer,
            ring_error,
        }
    }
}

/// Appends segments until the capture side hangs up; then makes everything durable. Returns the
/// first ring error (the ring has failed closed; the caller reopens it to go on).
fn write_segments<D: Device>(
    ring: &mut Ring<D>,
    receiver: &moment_media::SegmentReceiver,
) -> (WriterTotals, Option<moment_ring::Error>) {
    let mut totals = WriterTotals::default();
    loop {
        match receiver.recv_timeout(WRITER_POLL) {
            Ok(segment) => {
                if let Err(e) =
                    ring.append_with_keyframes(&segment.meta, &segment.payload, &segment.keyframes)
                {
                    return (totals, Some(e));
                }
                totals.segments += 1;
                totals.payload_bytes += segment.payload.len() as u64;
                if segment.meta.flags & moment_ring::flags::DISCONTINUITY != 0 {
                    totals.discontinuities += 1;
                }
            }
            Err(RecvError::Timeout) => continue,
            Err(RecvError::Disconnected) => return (totals, ring.flush().err()),
        }
    }
}
