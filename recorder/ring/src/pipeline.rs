//! The ring's I/O thread: it performs the writer's device operations in the order they were
//! queued, so the writer can copy and checksum the next chunk (and return to the caller) while
//! the medium writes and flushes the previous one. Order is the crash-safety argument, so the
//! thread never reorders, and it stops at the first error (fail closed): after one, no job touches
//! the device again, but buffers still come back and barriers still pass, so nobody waits forever.
//! The thread works on the device's owned handle (`Device::io_handle`); a device without one gets
//! the same jobs performed at once on the caller's thread (`Mode::Inline`).
//!
//! `Progress` is what the writer, the readers and the flush callbacks share: which segment is
//! durable (readers see nothing newer) and why the ring failed, if it did. It never holds the
//! device, so a flush callback that outlives the ring keeps nothing alive but these counters.

use crate::device::{AlignedBuf, Device, SyncDone, BLOCK};
use crate::error::{Error, Result};
use crate::layout::Geometry;
use crate::state::{write_data, Shared};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// Jobs queued ahead of the I/O thread at most: a segment's chunks plus its index and sync jobs.
/// Memory is bounded by the buffers, not by this.
const JOB_QUEUE: usize = 8;
/// Bounce buffers: the I/O thread writes one while the writer fills the other.
pub(crate) const BUFFERS: usize = 2;
/// The I/O thread keeps no large locals; device calls need little stack.
const STACK: usize = 256 << 10;

/// One device operation for the I/O thread.
pub(crate) enum Job {
    /// Write `len` bytes of `buf` at logical position `pos` of the data area (wrapping), then hand
    /// the buffer back for reuse.
    Data {
        pos: u64,
        buf: AlignedBuf,
        len: usize,
    },
    /// Write one block at a device offset (the tail pointer).
    Block { offset: u64, buf: AlignedBuf },
    /// Wait for every flush started so far, then write an index block: a slot is written only
    /// once the data it describes is durable.
    Slot { offset: u64, buf: AlignedBuf },
    /// Start a flush of everything written so far; once it finishes, `seq` is durable.
    StartFlush { seq: u64 },
    /// Wait for running flushes, flush again and wait; then `seq` is durable. Before overwriting
    /// evicted space (the tail pointer must be durable first) and in `Ring::flush`.
    Flush { seq: u64 },
    /// Report that every job before this one has been dealt with.
    Barrier(u64),
}

#[derive(Default)]
struct Counters {
    /// Why the ring stopped writing; set once, by the first error.
    failed: Option<String>,
    /// The first error itself, handed to the first caller who asks, as `Error::Io`.
    error: Option<Error>,
    /// The newest barrier the I/O thread has passed.
    barrier: u64,
}

/// Durability and failure, shared by the writer, the readers and flush callbacks.
#[derive(Default)]
pub(crate) struct Progress {
    /// Highest sequence number that survives a power cut; readers see nothing newer.
    durable: AtomicU64,
    inner: Mutex<Counters>,
    changed: Condvar,
}

impl Progress {
    pub fn new(durable: u64) -> Progress {
        Progress {
            durable: AtomicU64::new(durable),
            ..Progress::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, Counters> {
        // Plain fields, each updated in one statement: a panic cannot leave them inconsistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// Segment `seq` (and so every one before it) is durable.
    fn publish(&self, seq: u64) {
        self.durable.fetch_max(seq, Ordering::AcqRel);
        let _guard = self.lock();
        self.changed.notify_all();
    }

    /// Records the first write-side error; the ring fails closed from here on.
    pub fn fail(&self, device: String, op: &'static str, source: io::Error) {
        let mut inner = self.lock();
        if inner.failed.is_none() {
            let error = Error::io(device, op, source);
            inner.failed = Some(error.to_string());
            inner.error = Some(error);
        }
        drop(inner);
        self.changed.notify_all();
    }

    pub fn failed(&self) -> Option<String> {
        self.lock().failed.clone()
    }

    /// `Ok` while the ring works; the I/O error the first time a caller asks after a failure,
    /// `FailedClosed` every time after that.
    pub fn check(&self) -> Result<()> {
        let mut inner = self.lock();
        match (inner.error.take(), &inner.failed) {
            (Some(error), _) => Err(error),
            (None, Some(reason)) => Err(Error::FailedClosed(reason.clone())),
            (None, None) => Ok(()),
        }
    }

    fn pass(&self, barrier: u64) {
        self.lock().barrier = barrier;
        self.changed.notify_all();
    }

    /// Blocks until the I/O thread has passed `barrier`. It passes barriers even after a
    /// failure, so this ends as long as the device calls return.
    fn wait_for(&self, barrier: u64) {
        let mut inner = self.lock();
        while inner.barrier < barrier {
            inner = match self.changed.wait(inner) {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
        }
    }
}

/// How jobs are performed.
enum Mode {
    /// On the I/O thread, in queue order.
    Thread {
        jobs: Option<SyncSender<Job>>,
        free: Receiver<AlignedBuf>,
        thread: Option<JoinHandle<()>>,
    },
    /// At once, on the caller's thread, with one buffer (nothing to overlap with).
    Inline { free: Vec<AlignedBuf> },
}

/// The writer's end of the I/O thread: where jobs go, where buffers come back.
pub(crate) struct Pipeline {
    mode: Mode,
    progress: Arc<Progress>,
    next_barrier: u64,
}

impl Pipeline {
    /// Starts the I/O thread on the device's owned handle, with `BUFFERS` bounce buffers of
    /// `chunk` bytes; without a handle, performs jobs inline.
    pub fn start<D: Device>(shared: &Shared<D>, chunk: usize) -> Result<Pipeline> {
        let progress = Arc::clone(&shared.progress);
        let mode = match shared.dev.io_handle() {
            Some(handle) => spawn(handle, shared.geometry.clone(), &progress, chunk)?,
            None => Mode::Inline {
                free: vec![AlignedBuf::new(chunk)],
            },
        };
        Ok(Pipeline {
            mode,
            progress,
            next_barrier: 0,
        })
    }

    /// Queues a job (waiting while the queue is full), unless the ring has failed. Inline, `dev`
    /// performs it now.
    pub fn submit(&mut self, job: Job, dev: &dyn Device, geometry: &Geometry) -> Result<()> {
        self.progress.check()?;
        match &mut self.mode {
            Mode::Thread { jobs, .. } => match jobs.as_ref().map(|jobs| jobs.send(job)) {
                Some(Ok(())) => Ok(()),
                _ => Err(self.thread_gone()),
            },
            Mode::Inline { free } => {
                execute(dev, geometry, &self.progress, job, &mut |buf| {
                    free.push(buf)
                });
                Ok(())
            }
        }
    }

    /// A bounce buffer, once the I/O thread has finished with one.
    pub fn buffer(&mut self) -> Result<AlignedBuf> {
        self.progress.check()?;
        match &mut self.mode {
            Mode::Thread { free, .. } => free.recv().map_err(|_| self.thread_gone()),
            Mode::Inline { free } => Ok(free.pop().expect("inline jobs hand their buffer back")),
        }
    }

    /// Waits until every job queued so far has been dealt with.
    pub fn drain(&mut self, dev: &dyn Device, geometry: &Geometry) -> Result<()> {
        self.next_barrier += 1;
        self.submit(Job::Barrier(self.next_barrier), dev, geometry)?;
        self.progress.wait_for(self.next_barrier);
        self.progress.check()
    }

    fn thread_gone(&self) -> Error {
        // Only a panic on the I/O thread ends it early; the ring cannot go on writing.
        let reason = "the ring's I/O thread stopped".to_string();
        self.progress.lock().failed.get_or_insert(reason.clone());
        Error::FailedClosed(reason)
    }
}

/// The I/O thread, with `BUFFERS` buffers handed to the writer.
fn spawn(
    handle: Arc<dyn Device>,
    geometry: Geometry,
    progress: &Arc<Progress>,
    chunk: usize,
) -> Result<Mode> {
    let (jobs, queue) = sync_channel::<Job>(JOB_QUEUE);
    let (give_back, free) = sync_channel::<AlignedBuf>(BUFFERS);
    for _ in 0..BUFFERS {
        give_back
            .try_send(AlignedBuf::new(chunk))
            .expect("room for every buffer");
    }
    let progress = Arc::clone(progress);
    let name = handle.name();
    let thread = std::thread::Builder::new()
        .name("moment-ring-io".into())
        .stack_size(STACK)
        .spawn(move || {
            // Never blocks: only `BUFFERS` buffers exist and the channel holds that many.
            let mut recycle = |buf| {
                let _ = give_back.try_send(buf);
            };
            for job in queue {
                execute(&*handle, &geometry, &progress, job, &mut recycle);
            }
        })
        .map_err(|e| Error::io(name, "starting the I/O thread", e))?;
    Ok(Mode::Thread {
        jobs: Some(jobs),
        free,
        thread: Some(thread),
    })
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        if let Mode::Thread { jobs, thread, .. } = &mut self.mode {
            drop(jobs.take());
            if let Some(thread) = thread.take() {
                // A panic there was already reported as a failed ring to whoever asked.
                let _ = thread.join();
            }
        }
    }
}

/// Runs one job. After a failure only buffers and barriers are handled.
fn execute(
    dev: &dyn Device,
    geometry: &Geometry,
    progress: &Arc<Progress>,
    job: Job,
    recycle: &mut dyn FnMut(AlignedBuf),
) {
    let working = progress.failed().is_none();
    let result = match job {
        Job::Data { pos, buf, len } => {
            let result = if working {
                write_data(dev, geometry, pos, &buf.blocks(len)[..len])
            } else {
                Ok(())
            };
            recycle(buf);
            result
        }
        Job::Barrier(n) => {
            progress.pass(n);
            Ok(())
        }
        _ if !working => Ok(()),
        Job::Block { offset, buf } => dev.write_at(offset, buf.blocks(BLOCK as usize)),
        Job::Slot { offset, buf } => dev
            .wait_background_syncs()
            .and_then(|()| dev.write_at(offset, buf.blocks(BLOCK as usize))),
        Job::StartFlush { seq } => {
            dev.sync_in_background(on_flushed(progress, dev.name(), seq));
            Ok(())
        }
        Job::Flush { seq } => dev
            .wait_background_syncs()
            .and_then(|()| dev.sync())
            .map(|()| progress.publish(seq)),
    };
    if let Err(e) = result {
        progress.fail(dev.name(), "writing a segment", e);
    }
}

/// The callback of a background flush: publish `seq` as durable, or fail the ring.
fn on_flushed(progress: &Arc<Progress>, device: String, seq: u64) -> SyncDone {
    let progress = Arc::clone(progress);
    Box::new(move |result| match result {
        Ok(()) => progress.publish(seq),
        Err(e) => progress.fail(device, "flushing a segment", e),
    })
}
