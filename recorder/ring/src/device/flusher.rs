//! A background fdatasync for `FileDevice`, so the medium flushes one segment while the ring's
//! I/O thread already writes the next. It owns a duplicate of the file descriptor (same open file,
//! so the same device and flags) and one thread, which runs the syncs in the order they were
//! asked for. The first error sticks: later syncs are refused, never retried, because a retried
//! fsync can report success for writes that were lost (the "fsyncgate" lesson).

use super::SyncDone;
use std::fs::File;
use std::io;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// Syncs queued at most; `start` blocks beyond that (the ring has one or two outstanding).
const QUEUE: usize = 4;
/// The thread only calls fdatasync and the completion callbacks: a small stack suffices.
const STACK: usize = 128 << 10;

#[derive(Debug, Default)]
struct Counts {
    started: u64,
    finished: u64,
    /// The first failure, kept so every later sync and wait reports it.
    error: Option<(io::ErrorKind, String)>,
}

#[derive(Debug, Default)]
struct Status {
    counts: Mutex<Counts>,
    finished: Condvar,
}

impl Status {
    fn lock(&self) -> MutexGuard<'_, Counts> {
        // Counters only: a panic elsewhere cannot leave them half-updated.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn sticky(error: &(io::ErrorKind, String)) -> io::Error {
    io::Error::new(error.0, format!("an earlier sync failed: {}", error.1))
}

/// The thread and its queue; dropping it finishes the queued syncs and joins the thread.
#[derive(Debug)]
pub(super) struct Flusher {
    requests: Option<SyncSender<SyncDone>>,
    status: Arc<Status>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    pub(super) fn spawn(file: File) -> io::Result<Flusher> {
        let (requests, queue) = sync_channel::<SyncDone>(QUEUE);
        let status = Arc::new(Status::default());
        let shared = Arc::clone(&status);
        let thread = std::thread::Builder::new()
            .name("moment-ring-flush".into())
            .stack_size(STACK)
            .spawn(move || {
                for done in queue {
                    run_one(&file, &shared, done);
                }
            })?;
        Ok(Flusher {
            requests: Some(requests),
            status,
            thread: Some(thread),
        })
    }

    /// Queues a sync of every write completed so far.
    pub(super) fn start(&self, done: SyncDone) {
        self.status.lock().started += 1;
        let sent = self.requests.as_ref().map(|r| r.send(done));
        if let Some(Err(returned)) = sent {
            // The thread is gone (it panicked): report instead of losing the callback.
            let mut counts = self.status.lock();
            counts.finished += 1;
            let error = io::Error::other("the flush thread stopped");
            counts
                .error
                .get_or_insert((error.kind(), error.to_string()));
            drop(counts);
            (returned.0)(Err(error));
        }
    }

    /// Waits until every queued sync has finished; the first error of any of them.
    pub(super) fn wait(&self) -> io::Result<()> {
        let mut counts = self.status.lock();
        while counts.finished < counts.started {
            counts = match self.status.finished.wait(counts) {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
        }
        counts.error.as_ref().map_or(Ok(()), |e| Err(sticky(e)))
    }
}

/// One sync, unless an earlier one failed; then the callback, then the count.
fn run_one(file: &File, status: &Status, done: SyncDone) {
    let earlier = status.lock().error.clone();
    let result = match earlier {
        Some(error) => Err(sticky(&error)),
        None => file.sync_data(),
    };
    if let Err(e) = &result {
        status
            .lock()
            .error
            .get_or_insert_with(|| (e.kind(), e.to_string()));
    }
    done(result);
    status.lock().finished += 1;
    status.finished.notify_all();
}

impl Drop for Flusher {
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(thread) = self.thread.take() {
            // A panic in a callback already reported itself; nothing more to do here.
            let _ = thread.join();
        }
    }
}
