//! The capture thread's loop: bytes from the supervised source into the segmenter, finished
//! segments into the bounded queue towards the ring writer. It never waits on the writer (the
//! queue drops and counts instead), so a stalled SD card cannot back up into the camera's pipe,
//! and it turns every source restart into a closed segment and a DISCONTINUITY flag.

use crate::live::LiveSink;
use crate::queue::{SegmentSender, Sent};
use crate::segment::{Clock, Segment};
use crate::segmenter::Segmenter;
use crate::source::{Polled, SourceEvent, Supervisor, READ_CHUNK};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// The longest the loop goes without looking at the stop flag.
const POLL_WAIT: Duration = Duration::from_millis(200);

/// What the capture loop did, for the status and the summary at exit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureTotals {
    pub bytes: u64,
    pub segments_sent: u64,
    pub segments_dropped: u64,
    pub gaps: u64,
    /// CLOCK_MONOTONIC (microseconds) when bytes last arrived; 0 before the first.
    pub last_data_mono_us: u64,
}

/// The capture loop's counters, readable from other threads while it runs (status, watchdog).
#[derive(Debug, Default)]
pub struct CaptureProgress {
    bytes: AtomicU64,
    segments_sent: AtomicU64,
    segments_dropped: AtomicU64,
    gaps: AtomicU64,
    last_data_mono_us: AtomicU64,
}

impl CaptureProgress {
    pub fn snapshot(&self) -> CaptureTotals {
        CaptureTotals {
            bytes: self.bytes.load(Ordering::Relaxed),
            segments_sent: self.segments_sent.load(Ordering::Relaxed),
            segments_dropped: self.segments_dropped.load(Ordering::Relaxed),
            gaps: self.gaps.load(Ordering::Relaxed),
            last_data_mono_us: self.last_data_mono_us.load(Ordering::Relaxed),
        }
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Why the loop returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureEnd {
    /// The stop flag was set.
    Stopped,
    /// The source cannot be restarted and ended (standard input).
    SourceFinished,
    /// The ring writer is gone; nothing would store what is captured.
    WriterGone,
}

/// Where the capture loop's results go.
pub struct CaptureOutputs<'a> {
    /// Finished segments, towards the ring writer.
    pub segments: &'a SegmentSender,
    /// The loop's counters, as it goes.
    pub progress: &'a CaptureProgress,
    /// When given, what each read committed, at once (the live view).
    pub live: Option<&'a dyn LiveSink>,
}

/// Runs until `stop` is set, the source finishes or the writer goes away; then closes the last
/// segment and hands it over. `clock` reads the clocks; `on_event` hears about restarts.
pub fn run_capture(
    supervisor: &mut Supervisor,
    segmenter: &mut Segmenter,
    outputs: CaptureOutputs,
    stop: &AtomicBool,
    clock: &dyn Fn() -> Clock,
    on_event: &mut dyn FnMut(SystemTime, SourceEvent),
) -> CaptureEnd {
    let CaptureOutputs {
        segments: sender,
        progress,
        live,
    } = outputs;
    if live.is_some() {
        segmenter.enable_live();
    }
    let publish = |segmenter: &mut Segmenter| {
        if let (Some(sink), Some(chunk)) = (live, segmenter.take_live()) {
            sink.publish(&chunk);
        }
    };
    let mut buf = vec![0u8; READ_CHUNK];
    let end = loop {
        if stop.load(Ordering::Relaxed) {
            break CaptureEnd::Stopped;
        }
        let polled = supervisor.poll(&mut buf, POLL_WAIT);
        let (events, _dropped) = supervisor.take_events();
        for (at, event) in events {
            on_event(at, event);
        }
        let segments = match polled {
            Polled::Data(n) => {
                let now = clock();
                CaptureProgress::add(&progress.bytes, n as u64);
                progress
                    .last_data_mono_us
                    .store(now.mono_us, Ordering::Relaxed);
                segmenter.push(&buf[..n], now)
            }
            Polled::Idle => continue,
            Polled::Gap => {
                CaptureProgress::add(&progress.gaps, 1);
                segmenter.mark_discontinuity(clock())
            }
            Polled::Finished => break CaptureEnd::SourceFinished,
        };
        publish(segmenter);
        if !hand_over(segments, sender, progress) {
            break CaptureEnd::WriterGone;
        }
    };
    let last = segmenter.finish(clock());
    publish(segmenter);
    hand_over(last, sender, progress);
    end
}

/// Queues the segments; false once the writer is gone.
fn hand_over(segments: Vec<Segment>, sender: &SegmentSender, progress: &CaptureProgress) -> bool {
    for segment in segments {
        match sender.send(segment) {
            Sent::Queued => CaptureProgress::add(&progress.segments_sent, 1),
            Sent::Dropped => CaptureProgress::add(&progress.segments_dropped, 1),
            Sent::Disconnected => return false,
        }
    }
    true
}

/// The system's clocks now: UTC, whether the kernel says it is synchronised (NTP, or set by the
/// phone through the daemon), and CLOCK_MONOTONIC.
pub fn system_clock() -> Clock {
    let utc_us = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    Clock {
        utc_us,
        utc_synced: kernel_clock_synced() && utc_us >= PLAUSIBLE_UTC_US,
        mono_us: monotonic_us(),
    }
}

/// 2020-01-01T00:00:00Z: a clock before this is a board that booted without a time source.
const PLAUSIBLE_UTC_US: i64 = 1_577_836_800_000_000;

/// CLOCK_MONOTONIC in microseconds, the clock `Clock::mono_us` and `CaptureTotals` use.
pub fn monotonic_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

/// adjtimex(2) with no changes: the kernel clears STA_UNSYNC once NTP (or chrony, or
/// systemd-timesyncd) disciplines the clock.
fn kernel_clock_synced() -> bool {
    // SAFETY: a zeroed timex with modes 0 only reads the kernel's state.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut tx) };
    state >= 0 && state != libc::TIME_ERROR && tx.status & libc::STA_UNSYNC == 0
}
