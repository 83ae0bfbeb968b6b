//! Keeps a capture source running: a source that exits, fails or falls silent for too long is
//! stopped and opened again after a backoff that grows while it keeps failing (bounded) and
//! resets once it has run for a while. Every end of a session is reported as a gap so the
//! segmenter closes the segment and flags the next one DISCONTINUITY: a restart is visible in the
//! ring and in the status, never a silent hole. A new source handed over through [`SourceSwap`]
//! (new camera settings) replaces the running one the same way.

use super::swap::SourceSwap;
use super::{ReadOutcome, Session, Source};
use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

/// Events kept for the status until the caller takes them.
const MAX_PENDING_EVENTS: usize = 64;

/// How the supervisor reacts to a failing source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SupervisorConfig {
    /// No bytes for this long: the source is hung and is restarted.
    pub silence: Duration,
    /// First wait before reopening a source that ended or failed to open.
    pub backoff_min: Duration,
    /// The wait never grows beyond this.
    pub backoff_max: Duration,
    /// A session that delivered bytes for this long resets the backoff.
    pub stable_after: Duration,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            silence: Duration::from_secs(10),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            stable_after: Duration::from_secs(30),
        }
    }
}

impl SupervisorConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.silence < Duration::from_millis(100) || self.silence > Duration::from_secs(600) {
            return Err("silence must be 100 ms to 10 min".into());
        }
        if self.backoff_min.is_zero() || self.backoff_min > self.backoff_max {
            return Err("backoff_min must be above zero and at most backoff_max".into());
        }
        if self.backoff_max > Duration::from_secs(600) {
            return Err("backoff_max must be at most 10 min".into());
        }
        Ok(())
    }
}

/// Something that happened to the source, for logs and the status page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceEvent {
    /// A session started; `attempt` counts sessions since the supervisor was made, from 1.
    Started { attempt: u64 },
    /// The session ended by itself (process exit, stream closed) or with an error.
    Ended { reason: String },
    /// No bytes for `after`: the session was stopped.
    Silent { after: Duration },
    /// Opening failed; the next try is in `retry_in`.
    OpenFailed { error: String, retry_in: Duration },
    /// A new source (new settings, through [`SourceSwap`]) replaced the running one.
    Replaced { by: String },
}

/// What one `poll` brought.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Polled {
    /// Bytes at the start of the buffer.
    Data(usize),
    /// Nothing this time (waiting for bytes or for the backoff).
    Idle,
    /// The session ended: whatever comes next is a new stream.
    Gap,
    /// The source ended and cannot be restarted (standard input).
    Finished,
}

/// A source, its running session and its restart policy.
pub struct Supervisor {
    source: Box<dyn Source>,
    config: SupervisorConfig,
    session: Option<Box<dyn Session>>,
    started_at: Instant,
    last_data: Option<Instant>,
    next_open: Instant,
    backoff: Duration,
    attempts: u64,
    finished: bool,
    events: VecDeque<(SystemTime, SourceEvent)>,
    dropped_events: u64,
    swap: SourceSwap,
}

impl Supervisor {
    pub fn new(source: Box<dyn Source>, config: SupervisorConfig) -> Self {
        let now = Instant::now();
        Supervisor {
            source,
            config,
            session: None,
            started_at: now,
            last_data: None,
            next_open: now,
            backoff: config.backoff_min,
            attempts: 0,
            finished: false,
            events: VecDeque::new(),
            dropped_events: 0,
            swap: SourceSwap::default(),
        }
    }

    /// The mailbox through which another thread hands this supervisor a new source.
    pub fn swap_handle(&self) -> SourceSwap {
        self.swap.clone()
    }

    pub fn describe(&self) -> String {
        self.source.describe()
    }

    /// Sessions started so far; more than one means the source was restarted.
    pub fn attempts(&self) -> u64 {
        self.attempts
    }

    /// When bytes last arrived (for the watchdog: notify only while bytes flow).
    pub fn last_data(&self) -> Option<Instant> {
        self.last_data
    }

    pub fn is_running(&self) -> bool {
        self.session.is_some()
    }

    /// Events since the last call, oldest first, and how many were dropped for lack of room.
    pub fn take_events(&mut self) -> (Vec<(SystemTime, SourceEvent)>, u64) {
        let dropped = std::mem::take(&mut self.dropped_events);
        (self.events.drain(..).collect(), dropped)
    }

    /// Waits at most about `wait` for bytes, opening or restarting the source as needed.
    pub fn poll(&mut self, buf: &mut [u8], wait: Duration) -> Polled {
        if self.finished {
            return Polled::Finished;
        }
        if let Some(source) = self.swap.take() {
            return self.replace(source);
        }
        if self.session.is_none() {
            return self.try_open(wait);
        }
        let silence_left = self.config.silence.saturating_sub(self.silent_for());
        let session = self.session.as_mut().expect("checked above");
        let outcome = session.read(buf, wait.min(silence_left));
        let end_reason = match &outcome {
            Ok(ReadOutcome::Data(_) | ReadOutcome::Idle) => None,
            _ => session.end_reason(),
        };
        match outcome {
            Ok(ReadOutcome::Data(n)) => {
                debug_assert!(n > 0 && n <= buf.len());
                self.last_data = Some(Instant::now());
                self.swap.got_data();
                Polled::Data(n)
            }
            Ok(ReadOutcome::Idle) if self.silent_for() < self.config.silence => Polled::Idle,
            Ok(ReadOutcome::Idle) => self.end_session(SourceEvent::Silent {
                after: self.config.silence,
            }),
            Ok(ReadOutcome::Ended) => {
                let reason = end_reason.unwrap_or_else(|| "the source ended".into());
                self.end_session(SourceEvent::Ended { reason })
            }
            Err(e) => {
                let detail = end_reason.map(|r| format!(" ({r})")).unwrap_or_default();
                self.end_session(SourceEvent::Ended {
                    reason: format!("read error: {e}{detail}"),
                })
            }
        }
    }

    /// Time since the last bytes of the current session (or since it started).
    fn silent_for(&self) -> Duration {
        let since = match self.last_data {
            Some(t) if t > self.started_at => t,
            _ => self.started_at,
        };
        since.elapsed()
    }

    fn try_open(&mut self, wait: Duration) -> Polled {
        let now = Instant::now();
        if now < self.next_open {
            std::thread::sleep(wait.min(self.next_open - now));
            return Polled::Idle;
        }
        match self.source.open() {
            Ok(session) => {
                self.attempts += 1;
                self.swap.opened();
                self.session = Some(session);
                self.started_at = Instant::now();
                self.push_event(SourceEvent::Started {
                    attempt: self.attempts,
                });
                Polled::Idle
            }
            Err(e) if !self.source.restartable() => {
                self.finished = true;
                self.push_event(SourceEvent::Ended {
                    reason: e.to_string(),
                });
                Polled::Finished
            }
            Err(e) => {
                self.swap.failed();
                let retry_in = self.schedule_retry(false);
                self.push_event(SourceEvent::OpenFailed {
                    error: e.to_string(),
                    retry_in,
                });
                Polled::Idle
            }
        }
    }

    fn end_session(&mut self, event: SourceEvent) -> Polled {
        // Dropping the session stops the process or tells the camera to stop.
        self.session = None;
        self.swap.failed();
        let stable = self.last_data.is_some_and(|t| t >= self.started_at)
            && self.started_at.elapsed() >= self.config.stable_after;
        self.push_event(event);
        if !self.source.restartable() {
            self.finished = true;
            return Polled::Finished;
        }
        self.schedule_retry(stable);
        Polled::Gap
    }

    /// Stops the running session (a gap, like any restart) and opens `source` without waiting
    /// for a backoff: the old source did nothing wrong.
    fn replace(&mut self, source: Box<dyn Source>) -> Polled {
        let by = source.describe();
        // Dropping the session stops the process or tells the camera to stop.
        let had_session = self.session.take().is_some();
        self.source = source;
        self.backoff = self.config.backoff_min;
        self.next_open = Instant::now();
        self.push_event(SourceEvent::Replaced { by });
        if had_session {
            Polled::Gap
        } else {
            // The last session's end was already a gap; nothing since.
            Polled::Idle
        }
    }

    /// Sets the next open time; returns the wait. The wait doubles per failure up to the
    /// maximum and starts over after a stable session.
    fn schedule_retry(&mut self, stable: bool) -> Duration {
        if stable {
            self.backoff = self.config.backoff_min;
        }
        let wait = self.backoff;
        self.next_open = Instant::now() + wait;
        self.backoff = (self.backoff * 2).min(self.config.backoff_max);
        wait
    }

    fn push_event(&mut self, event: SourceEvent) {
        if self.events.len() >= MAX_PENDING_EVENTS {
            self.events.pop_front();
            self.dropped_events += 1;
        }
        self.events.push_back((SystemTime::now(), event));
    }
}

#[cfg(test)]
#[path = "supervise_tests.rs"]
mod tests;
