//! Changing the camera's settings while recording. The capture thread owns the supervisor, so
//! another thread (the daemon's settings page) cannot call it; instead it hands a new source to
//! this one-slot mailbox. The supervisor looks at it on every poll, ends the running session (a
//! gap, so the ring shows a DISCONTINUITY as for any restart) and opens the new source at once.
//! A newer request replaces one not yet taken, so nothing queues up and the requester never
//! waits on the capture thread. [`SwapStatus`] then tells the requester whether the new source
//! works (sessions, failures, bytes), so it can go back to the old settings if it does not.

use super::Source;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// What the supervisor has done with the requests so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwapStatus {
    /// The newest request's number (1, 2, ...); 0 before any.
    pub requested: u64,
    /// The request whose source is in use; 0 while it is still the supervisor's first source
    /// (whose sessions, failures and bytes the fields below count until a request is applied).
    pub applied: u64,
    /// Sessions the source in use has opened since it was applied.
    pub sessions: u64,
    /// Its sessions that ended, fell silent or failed to open since it was applied.
    pub failures: u64,
    /// Whether it has delivered any bytes since it was applied.
    pub got_data: bool,
}

/// The shared mailbox; clone it freely. Made by the supervisor (`Supervisor::swap_handle`).
#[derive(Clone, Default)]
pub struct SourceSwap {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The source waiting to be taken. `requested` only changes while this lock is held.
    pending: Mutex<Option<Box<dyn Source>>>,
    requested: AtomicU64,
    applied: AtomicU64,
    sessions: AtomicU64,
    failures: AtomicU64,
    got_data: AtomicBool,
}

impl SourceSwap {
    /// Asks the supervisor to switch to `source` at its next poll; returns the request's number
    /// (compare it with [`SwapStatus::applied`]). Never waits for the capture thread.
    pub fn request(&self, source: Box<dyn Source>) -> u64 {
        let mut pending = self.lock();
        *pending = Some(source);
        self.inner.requested.fetch_add(1, Ordering::AcqRel) + 1
    }

    pub fn status(&self) -> SwapStatus {
        let inner = &self.inner;
        // `applied` first: the counters were reset before it was stored.
        let applied = inner.applied.load(Ordering::Acquire);
        SwapStatus {
            requested: inner.requested.load(Ordering::Acquire),
            applied,
            sessions: inner.sessions.load(Ordering::Relaxed),
            failures: inner.failures.load(Ordering::Relaxed),
            got_data: inner.got_data.load(Ordering::Relaxed),
        }
    }

    /// The source waiting to be used, if any (the supervisor's side). A cheap atomic comparison
    /// when there is none, so it can run on every poll.
    pub(crate) fn take(&self) -> Option<Box<dyn Source>> {
        let inner = &self.inner;
        if inner.requested.load(Ordering::Acquire) == inner.applied.load(Ordering::Acquire) {
            return None;
        }
        let mut pending = self.lock();
        let source = pending.take()?;
        inner.sessions.store(0, Ordering::Relaxed);
        inner.failures.store(0, Ordering::Relaxed);
        inner.got_data.store(false, Ordering::Relaxed);
        let requested = inner.requested.load(Ordering::Acquire);
        inner.applied.store(requested, Ordering::Release);
        Some(source)
    }

    pub(crate) fn opened(&self) {
        self.inner.sessions.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self) {
        self.inner.failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn got_data(&self) {
        self.inner.got_data.store(true, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Box<dyn Source>>> {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for SourceSwap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SourceSwap").field(&self.status()).finish()
    }
}
