//! Two SAVE requests close together are one moment: a double tap, or the physical button and a tap
//! in the web app for the same thing. A request that arrives while the previous save is still
//! waiting or being cut, or within [`JOIN_WINDOW`] of the previous request, joins that save: its
//! range grows to cover both, and the saver cuts it again, so one memory comes out instead of two.
//! This is the bookkeeping only (pure, on injected time); the service runs the cuts.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long after a request a later one still joins it.
pub const JOIN_WINDOW: Duration = Duration::from_secs(10);
/// Requests one save takes in; the next one starts a new memory, so a finger tapping every few
/// seconds cannot keep one save open (and re-cut) for ever.
pub const MAX_JOINS: u32 = 16;

/// A UTC range in microseconds, `[from, to]`.
pub type Range = (i64, i64);

/// What became of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// It joined the open save, whose range is now this.
    Joined(Range),
    /// It is a new save with this id: run it.
    New(u64),
}

/// What the save's runner does after a cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterCut {
    /// A request joined while it was cut: cut this range again.
    Recut(Range),
    /// Nothing new, but a request may still join until then: look again by then.
    WaitUntil(Instant),
    /// The save is closed: later requests make a new memory.
    Closed,
}

#[derive(Debug)]
struct Open {
    id: u64,
    range: Range,
    last_request: Instant,
    joins: u32,
    /// Cut (or waiting to be) right now: every request joins.
    busy: bool,
    /// UPLOAD was pressed while the save was open: stop waiting for joins, and upload the memory
    /// once it is queued (a press before the memory exists must not be lost).
    upload: bool,
}

/// The one save that requests may still join.
#[derive(Debug, Default)]
pub struct Joiner {
    /// The last id given, the open save, and the closed save whose memory UPLOAD asked for.
    state: Mutex<(u64, Option<Open>, Option<u64>)>,
}

impl Joiner {
    /// A request for `range` at `now`: joins the open save or opens a new one.
    pub fn offer(&self, range: Range, now: Instant) -> Offer {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(open) = &mut state.1 {
            let recent = now.saturating_duration_since(open.last_request) <= JOIN_WINDOW;
            if open.joins < MAX_JOINS && (open.busy || recent) {
                open.range = (open.range.0.min(range.0), open.range.1.max(range.1));
                open.last_request = now;
                open.joins += 1;
                return Offer::Joined(open.range);
            }
        }
        state.0 += 1;
        let id = state.0;
        state.1 = Some(Open {
            id,
            range,
            last_request: now,
            joins: 0,
            busy: true,
            upload: false,
        });
        Offer::New(id)
    }

    /// The range save `id` cuts now (it counts as busy until [`Joiner::after_cut`]); `None` once
    /// it is closed.
    pub fn range(&self, id: u64) -> Option<Range> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let open = state.1.as_mut().filter(|o| o.id == id)?;
        open.busy = true;
        Some(open.range)
    }

    /// Save `id` finished cutting `cut` at `now`: cut again, wait for late requests, or close.
    pub fn after_cut(&self, id: u64, cut: Range, now: Instant) -> AfterCut {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(open) = state.1.as_mut().filter(|o| o.id == id) else {
            return AfterCut::Closed;
        };
        if open.range != cut {
            open.busy = true;
            return AfterCut::Recut(open.range);
        }
        open.busy = false;
        let until = open.last_request + JOIN_WINDOW;
        if now < until && open.joins < MAX_JOINS && !open.upload {
            return AfterCut::WaitUntil(until);
        }
        if open.upload {
            state.2 = Some(id);
        }
        state.1 = None;
        AfterCut::Closed
    }

    /// UPLOAD was pressed: an open save stops taking joins once its cut is done, and its memory
    /// is to be uploaded when queued. False when no save is open.
    pub fn request_upload(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match state.1.as_mut() {
            Some(open) => {
                open.upload = true;
                true
            }
            None => false,
        }
    }

    /// Whether UPLOAD asked for save `id`'s memory (once: the answer is consumed).
    pub fn take_upload(&self, id: u64) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.2 == Some(id) {
            state.2 = None;
            return true;
        }
        false
    }

    /// Closes save `id` at once (it failed, or was refused): later requests start anew.
    pub fn close(&self, id: u64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.1.as_ref().is_some_and(|o| o.id == id) {
            state.1 = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    #[test]
    fn a_request_while_cutting_or_soon_after_joins_and_grows_the_range() {
        let joiner = Joiner::default();
        let t0 = Instant::now();
        let Offer::New(id) = joiner.offer((0, 180 * S), t0) else {
            panic!("the first request is a new save")
        };
        assert_eq!(joiner.range(id), Some((0, 180 * S)));
        // A second tap a second later, while the first is cut.
        let joined = joiner.offer((S, 181 * S), t0 + Duration::from_secs(1));
        assert_eq!(joined, Offer::Joined((0, 181 * S)));
        let next = joiner.after_cut(id, (0, 180 * S), t0 + Duration::from_secs(3));
        assert_eq!(next, AfterCut::Recut((0, 181 * S)));
        // Cut again; a third tap 9 s after the second still joins, though nothing is cut.
        let next = joiner.after_cut(id, (0, 181 * S), t0 + Duration::from_secs(5));
        assert_eq!(next, AfterCut::WaitUntil(t0 + Duration::from_secs(11)));
        let joined = joiner.offer((9 * S, 190 * S), t0 + Duration::from_secs(10));
        assert_eq!(joined, Offer::Joined((0, 190 * S)));
        let next = joiner.after_cut(id, (0, 181 * S), t0 + Duration::from_secs(10));
        assert_eq!(next, AfterCut::Recut((0, 190 * S)));
        let next = joiner.after_cut(id, (0, 190 * S), t0 + Duration::from_secs(21));
        assert_eq!(next, AfterCut::Closed);
        // Closed: the next request is a new memory.
        assert!(matches!(
            joiner.offer((30 * S, 210 * S), t0 + Duration::from_secs(30)),
            Offer::New(n) if n != id
        ));
    }

    #[test]
    fn a_request_after_the_window_of_a_finished_save_is_a_new_memory() {
        let joiner = Joiner::default();
        let t0 = Instant::now();
        let Offer::New(first) = joiner.offer((0, 10 * S), t0) else {
            panic!()
        };
        let late = t0 + JOIN_WINDOW + Duration::from_millis(1);
        assert_eq!(joiner.after_cut(first, (0, 10 * S), late), AfterCut::Closed);
        let Offer::New(second) = joiner.offer((20 * S, 30 * S), late) else {
            panic!("a request after the window must not join")
        };
        // Idle past the window but not yet told: still a new memory, and the old one closes.
        let later = late + JOIN_WINDOW + Duration::from_secs(1);
        assert_eq!(
            joiner.after_cut(second, (20 * S, 30 * S), late),
            AfterCut::WaitUntil(late + JOIN_WINDOW)
        );
        assert!(matches!(
            joiner.offer((40 * S, 50 * S), later),
            Offer::New(_)
        ));
        assert_eq!(
            joiner.after_cut(second, (20 * S, 30 * S), later),
            AfterCut::Closed
        );
    }

    #[test]
    fn upload_pressed_while_a_save_is_open_ends_its_wait_and_asks_for_its_upload() {
        let joiner = Joiner::default();
        let t0 = Instant::now();
        assert!(!joiner.request_upload(), "nothing open");
        let Offer::New(id) = joiner.offer((0, S), t0) else {
            panic!("a new save")
        };
        assert!(joiner.request_upload());
        assert!(!joiner.take_upload(id), "not before the save closes");
        // Within the join window, but the person moved on to UPLOAD: no more waiting.
        assert_eq!(joiner.after_cut(id, (0, S), t0), AfterCut::Closed);
        assert!(joiner.take_upload(id));
        assert!(!joiner.take_upload(id), "asked once");
    }

    #[test]
    fn joins_are_bounded_and_a_closed_save_takes_none() {
        let joiner = Joiner::default();
        let t0 = Instant::now();
        let Offer::New(id) = joiner.offer((0, S), t0) else {
            panic!()
        };
        for i in 0..MAX_JOINS {
            let at = t0 + Duration::from_millis(u64::from(i) * 100);
            assert!(matches!(joiner.offer((0, S), at), Offer::Joined(_)));
        }
        let Offer::New(next) = joiner.offer((0, S), t0) else {
            panic!("a save full of joins takes no more")
        };
        assert_ne!(next, id);
        assert_eq!(joiner.after_cut(id, (0, S), t0), AfterCut::Closed);
        // A save that failed closes: the next request, however soon, is a new one.
        joiner.close(next);
        let Offer::New(failed) = joiner.offer((5 * S, 6 * S), t0 + Duration::from_secs(60)) else {
            panic!()
        };
        joiner.close(failed);
        assert_eq!(joiner.range(failed), None);
        assert!(matches!(
            joiner.offer((5 * S, 6 * S), t0 + Duration::from_secs(61)),
            Offer::New(_)
        ));
    }
}
