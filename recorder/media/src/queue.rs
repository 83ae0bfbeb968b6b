//! The hand-off from the capture thread (which must keep draining the camera's pipe) to the ring
//! writer thread (which may stall on a slow card). Bounded in segments and bytes; when full the
//! *new* segment is dropped, not an old one: what is queued is a contiguous run the writer will
//! store whole, and a gap at the newest end is one gap, marked on the next segment that gets in
//! (`DISCONTINUITY`), rather than holes punched into already-queued video. The producer never
//! waits for the consumer; the lock is held only to push or pop one entry.

use crate::segment::Segment;
use moment_ring::flags;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Counters shared by both ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Segments accepted.
    pub queued: u64,
    /// Segments taken by the consumer.
    pub delivered: u64,
    /// Segments dropped because the queue was full.
    pub dropped_segments: u64,
    /// Payload bytes of the dropped segments.
    pub dropped_bytes: u64,
    /// Segments waiting now.
    pub depth: usize,
    /// Payload bytes waiting now.
    pub depth_bytes: usize,
}

/// What `SegmentSender::send` did with a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    Queued,
    /// The queue was full; the segment was dropped and counted.
    Dropped,
    /// The receiver is gone; nothing will store the segment.
    Disconnected,
}

/// Why `SegmentReceiver::recv_timeout` returned nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvError {
    Timeout,
    /// The sender is gone and the queue is empty.
    Disconnected,
}

struct State {
    queue: VecDeque<Segment>,
    stats: QueueStats,
    /// A segment was dropped: flag the next one that gets in.
    gap: bool,
    sender_alive: bool,
    receiver_alive: bool,
}

struct Shared {
    state: Mutex<State>,
    ready: Condvar,
    capacity: usize,
    max_bytes: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The capture side.
pub struct SegmentSender {
    shared: Arc<Shared>,
}

/// The ring writer side.
pub struct SegmentReceiver {
    shared: Arc<Shared>,
}

/// A queue holding at most `capacity` segments and `max_bytes` payload bytes (a single segment is
/// accepted into an empty queue whatever its size, so progress never depends on the byte limit).
pub fn segment_queue(capacity: usize, max_bytes: usize) -> (SegmentSender, SegmentReceiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::with_capacity(capacity.max(1)),
            stats: QueueStats::default(),
            gap: false,
            sender_alive: true,
            receiver_alive: true,
        }),
        ready: Condvar::new(),
        capacity: capacity.max(1),
        max_bytes,
    });
    (
        SegmentSender {
            shared: shared.clone(),
        },
        SegmentReceiver { shared },
    )
}

impl SegmentSender {
    /// Queues the segment, or drops it if the queue is full. Never waits for the consumer.
    pub fn send(&self, mut segment: Segment) -> Sent {
        let mut state = self.shared.lock();
        if !state.receiver_alive {
            return Sent::Disconnected;
        }
        let len = segment.payload.len();
        let full = !state.queue.is_empty()
            && (state.queue.len() >= self.shared.capacity
                || state.stats.depth_bytes + len > self.shared.max_bytes);
        if full {
            state.gap = true;
            state.stats.dropped_segments += 1;
            state.stats.dropped_bytes += len as u64;
            return Sent::Dropped;
        }
        if std::mem::take(&mut state.gap) {
            segment.meta.flags |= flags::DISCONTINUITY;
        }
        state.queue.push_back(segment);
        state.stats.queued += 1;
        state.stats.depth += 1;
        state.stats.depth_bytes += len;
        drop(state);
        self.shared.ready.notify_one();
        Sent::Queued
    }

    pub fn stats(&self) -> QueueStats {
        self.shared.lock().stats
    }
}

impl Drop for SegmentSender {
    fn drop(&mut self) {
        self.shared.lock().sender_alive = false;
        self.shared.ready.notify_all();
    }
}

impl SegmentReceiver {
    /// The oldest queued segment, if any.
    pub fn try_recv(&self) -> Option<Segment> {
        pop(&mut self.shared.lock())
    }

    /// Waits up to `timeout` for a segment.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Segment, RecvError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if let Some(segment) = pop(&mut state) {
                return Ok(segment);
            }
            if !state.sender_alive {
                return Err(RecvError::Disconnected);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RecvError::Timeout);
            }
            state = self
                .shared
                .ready
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    pub fn stats(&self) -> QueueStats {
        self.shared.lock().stats
    }
}

impl Drop for SegmentReceiver {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_alive = false;
        state.queue.clear();
    }
}

fn pop(state: &mut State) -> Option<Segment> {
    let segment = state.queue.pop_front()?;
    state.stats.delivered += 1;
    state.stats.depth -= 1;
    state.stats.depth_bytes -= segment.payload.len();
    Some(segment)
}
