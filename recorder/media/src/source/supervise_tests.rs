//! The supervisor with scripted sources (no processes), for what the real-process tests in
//! tests/sources.rs cannot pin down: a source handed over through `SourceSwap` replaces the running
//! session with one gap and no backoff, and its sessions, failures and bytes are counted for the
//! requester that must decide whether to keep it.

use super::*;
use crate::source::SwapStatus;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Clone, Copy)]
enum Script {
    /// Every read brings bytes.
    Data,
    /// Opening fails.
    FailOpen,
}

struct Fake {
    label: &'static str,
    script: Script,
    /// Set when a session of this source is dropped (stopped).
    stopped: Arc<AtomicBool>,
}

struct FakeSession {
    stopped: Arc<AtomicBool>,
}

impl Source for Fake {
    fn open(&mut self) -> io::Result<Box<dyn Session>> {
        match self.script {
            Script::Data => Ok(Box::new(FakeSession {
                stopped: self.stopped.clone(),
            })),
            Script::FailOpen => Err(io::Error::other("no such camera mode")),
        }
    }

    fn describe(&self) -> String {
        self.label.into()
    }
}

impl Session for FakeSession {
    fn read(&mut self, buf: &mut [u8], _wait: Duration) -> io::Result<ReadOutcome> {
        buf[..188].fill(0x47);
        Ok(ReadOutcome::Data(188))
    }
}

impl Drop for FakeSession {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
    }
}

fn fake(label: &'static str, script: Script) -> (Box<dyn Source>, Arc<AtomicBool>) {
    let stopped = Arc::new(AtomicBool::new(false));
    let source = Fake {
        label,
        script,
        stopped: stopped.clone(),
    };
    (Box::new(source), stopped)
}

fn quick() -> SupervisorConfig {
    SupervisorConfig {
        silence: Duration::from_secs(60),
        backoff_min: Duration::from_millis(1),
        backoff_max: Duration::from_millis(4),
        stable_after: Duration::from_secs(60),
    }
}

fn events(supervisor: &mut Supervisor) -> Vec<SourceEvent> {
    supervisor
        .take_events()
        .0
        .into_iter()
        .map(|(_, e)| e)
        .collect()
}

const WAIT: Duration = Duration::from_millis(5);

#[test]
fn a_new_source_replaces_the_session_with_one_gap_and_no_backoff() {
    let (first, first_stopped) = fake("first", Script::Data);
    let mut supervisor = Supervisor::new(first, quick());
    let swap = supervisor.swap_handle();
    let mut buf = vec![0u8; 4096];
    assert_eq!(supervisor.poll(&mut buf, WAIT), Polled::Idle, "opens");
    assert_eq!(supervisor.poll(&mut buf, WAIT), Polled::Data(188));
    let before = swap.status();
    assert_eq!((before.requested, before.applied), (0, 0));
    assert!(
        before.got_data && before.sessions == 1,
        "the first source counts too"
    );

    let (second, second_stopped) = fake("second", Script::Data);
    assert_eq!(swap.request(second), 1);
    assert_eq!(swap.status().requested, 1);
    assert_eq!(swap.status().applied, 0, "not taken before the next poll");
    assert_eq!(supervisor.poll(&mut buf, WAIT), Polled::Gap);
    assert!(
        first_stopped.load(Ordering::SeqCst),
        "the old session is stopped"
    );
    assert_eq!(supervisor.describe(), "second");
    assert_eq!(
        events(&mut supervisor).last(),
        Some(&SourceEvent::Replaced {
            by: "second".into()
        })
    );
    // Opened at once (no backoff), then bytes.
    assert_eq!(supervisor.poll(&mut buf, WAIT), Polled::Idle);
    assert_eq!(supervisor.poll(&mut buf, WAIT), Polled::Data(188));
    assert_eq!(
        swap.status(),
        SwapStatus {
            requested: 1,
            applied: 1,
            sessions: 1,
            failures: 0,
            got_data: true,
        }
    );
    assert!(!second_stopped.load(Ordering::SeqCst));
    assert_eq!(supervisor.attempts(), 2);
}

#[test]
fn failures_of_the_new_source_are_counted_for_the_requester() {
    let (first, _) = fake("first", Script::Data);
    let mut supervisor = Supervisor::new(first, quick());
    let swap = supervisor.swap_handle();
    let mut buf = vec![0u8; 4096];
    for _ in 0..2 {
        supervisor.poll(&mut buf, WAIT);
    }
    let (bad, _) = fake("bad", Script::FailOpen);
    swap.request(bad);
    assert_eq!(supervisor.poll(&mut buf, WAIT), Polled::Gap);
    for _ in 0..500 {
        if swap.status().failures >= 3 {
            break;
        }
        assert_eq!(supervisor.poll(&mut buf, WAIT), Polled::Idle);
    }
    let status = swap.status();
    assert!(status.failures >= 3, "{status:?}");
    assert_eq!((status.applied, status.sessions), (1, 0));
    assert!(!status.got_data);

    // Going back works the same way, and the counters start over for it.
    let (good, _) = fake("good again", Script::Data);
    assert_eq!(swap.request(good), 2);
    assert_eq!(
        supervisor.poll(&mut buf, WAIT),
        Polled::Idle,
        "no session was running: no second gap"
    );
    let status = swap.status();
    assert_eq!((status.applied, status.failures), (2, 0));
    for _ in 0..3 {
        supervisor.poll(&mut buf, WAIT);
    }
    assert!(swap.status().got_data);
}

#[test]
fn a_newer_request_replaces_one_not_yet_taken() {
    let (first, _) = fake("first", Script::Data);
    let mut supervisor = Supervisor::new(first, quick());
    let swap = supervisor.swap_handle();
    let mut buf = vec![0u8; 4096];
    supervisor.poll(&mut buf, WAIT);
    let (b, _) = fake("b", Script::Data);
    let (c, _) = fake("c", Script::Data);
    swap.request(b);
    assert_eq!(swap.request(c), 2);
    assert_eq!(supervisor.poll(&mut buf, WAIT), Polled::Gap);
    assert_eq!(supervisor.describe(), "c");
    assert_eq!(swap.status().applied, 2);
    // Nothing more is pending.
    assert_eq!(supervisor.poll(&mut buf, WAIT), Polled::Idle);
    assert_eq!(supervisor.describe(), "c");
    let replaced = events(&mut supervisor)
        .into_iter()
        .filter(|e| matches!(e, SourceEvent::Replaced { .. }))
        .count();
    assert_eq!(replaced, 1);
}
