//! Where button edges enter the daemon. Hardware callbacks run on rppal's interrupt thread and
//! injected presses come from async code; both hand edges to a bounded channel that never
//! blocks the sender. A full channel means the buttons task is stuck, and then losing an edge
//! (counted) is better than stalling the interrupt thread: the recogniser's caps on held buttons
//! recover from a lost release.

use super::{ButtonsError, Edge};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Edges waiting for the buttons task; a person makes a few per second.
pub const EDGE_QUEUE: usize = 64;

/// A source of debounced button edges: the Pi's GPIO or the simulator.
pub trait ButtonInput: Send {
    /// For logs and status: "gpio" or "simulated".
    fn backend(&self) -> &'static str;

    /// Starts delivering edges to `edges` until the input is dropped.
    fn start(&mut self, edges: EdgeSink) -> Result<(), ButtonsError>;
}

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    dropped: AtomicU64,
}

/// The sending side; cloned into every producer. Never blocks.
#[derive(Clone, Debug)]
pub struct EdgeSink {
    tx: mpsc::Sender<Edge>,
    counters: Arc<Counters>,
}

/// Why an edge was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The queue is full (the buttons task is not keeping up); the edge was dropped and counted.
    Full,
    /// The buttons task has stopped.
    Closed,
}

impl EdgeSink {
    /// Queues `edge` if there is room; otherwise drops it and counts the drop.
    pub fn send(&self, edge: Edge) -> Result<(), SendError> {
        match self.tx.try_send(edge) {
            Ok(()) => {
                self.counters.sent.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                Err(SendError::Full)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SendError::Closed),
        }
    }
}

/// The receiving side, read by the buttons task.
#[derive(Debug)]
pub struct EdgeReceiver {
    rx: mpsc::Receiver<Edge>,
    counters: Arc<Counters>,
}

impl EdgeReceiver {
    pub async fn recv(&mut self) -> Option<Edge> {
        self.rx.recv().await
    }

    /// The next queued edge, if one is waiting.
    pub fn try_recv(&mut self) -> Option<Edge> {
        self.rx.try_recv().ok()
    }

    /// Edges queued and edges dropped because the queue was full, since the channel was made.
    pub fn counts(&self) -> EdgeCounts {
        EdgeCounts {
            sent: self.counters.sent.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn counter_handle(&self) -> EdgeCountsHandle {
        EdgeCountsHandle(self.counters.clone())
    }
}

/// Edge counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EdgeCounts {
    pub sent: u64,
    pub dropped: u64,
}

/// Reads the counters after the receiver has moved into the task.
#[derive(Clone, Debug)]
pub(crate) struct EdgeCountsHandle(Arc<Counters>);

impl EdgeCountsHandle {
    pub(crate) fn get(&self) -> EdgeCounts {
        EdgeCounts {
            sent: self.0.sent.load(Ordering::Relaxed),
            dropped: self.0.dropped.load(Ordering::Relaxed),
        }
    }
}

/// A bounded edge channel of `capacity` (at least 1).
pub fn edge_channel(capacity: usize) -> (EdgeSink, EdgeReceiver) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let counters = Arc::new(Counters::default());
    (
        EdgeSink {
            tx,
            counters: counters.clone(),
        },
        EdgeReceiver { rx, counters },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buttons::Button;
    use std::time::Instant;

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        let (sink, rx) = edge_channel(2);
        let edge = Edge {
            button: Button::Save,
            pressed: true,
            at: Instant::now(),
        };
        assert_eq!(sink.send(edge), Ok(()));
        assert_eq!(sink.send(edge), Ok(()));
        assert_eq!(sink.send(edge), Err(SendError::Full));
        assert_eq!(
            rx.counts(),
            EdgeCounts {
                sent: 2,
                dropped: 1
            }
        );
        drop(rx);
        assert_eq!(sink.send(edge), Err(SendError::Closed));
    }
}
