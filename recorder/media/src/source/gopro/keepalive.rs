//! Telling the camera we are still there. A GoPro stops streaming (legacy) or goes to sleep (Open
//! GoPro) when the client falls silent, so keep-alives must leave on time whatever the stream does.
//!
//! The two protocols need different machinery. The legacy keep-alive is one UDP datagram, which
//! never blocks, so `Session::read` sends it when due and bounds its own waiting by the next due
//! time. The Open GoPro keep-alive is an HTTP request, which can take as long as its timeout on a
//! struggling camera; doing it inside `read` would stall the stream (and overflow the socket's
//! receive buffer), so a small thread sends it instead.

use super::http;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Counters for `Session::end_reason`: a camera that stops answering keep-alives explains a stream
/// that went silent.
#[derive(Clone, Debug, Default)]
pub(super) struct Tally {
    pub sent: u64,
    pub failed: u64,
    pub last_error: Option<String>,
}

impl Tally {
    fn record(&mut self, result: Result<(), String>) {
        self.sent += 1;
        if let Err(e) = result {
            self.failed += 1;
            self.last_error = Some(e);
        }
    }
}

/// Legacy keep-alives, sent from the stream's own socket: the camera streams to the address they
/// come from.
pub(super) struct Datagrams {
    to: SocketAddr,
    message: &'static [u8],
    every: Duration,
    next: Instant,
    tally: Tally,
}

impl Datagrams {
    /// The first keep-alive is due at once: the camera does not know where to stream before it.
    pub fn new(to: SocketAddr, message: &'static [u8], every: Duration) -> Self {
        Datagrams {
            to,
            message,
            every,
            next: Instant::now(),
            tally: Tally::default(),
        }
    }

    /// Sends the keep-alive if it is due at `now`; returns when the next one is due.
    pub fn tick(&mut self, socket: &UdpSocket, now: Instant) -> Instant {
        if now >= self.next {
            let result = match socket.send_to(self.message, self.to) {
                Ok(n) if n == self.message.len() => Ok(()),
                Ok(n) => Err(format!("sent {n} of {} bytes", self.message.len())),
                Err(e) => Err(e.to_string()),
            };
            self.tally.record(result);
            // Keep the schedule (no drift from late reads), but after a stall start afresh rather
            // than sending a burst of catch-up keep-alives.
            self.next += self.every;
            if self.next <= now {
                self.next = now + self.every;
            }
        }
        self.next
    }

    pub fn tally(&self) -> Tally {
        self.tally.clone()
    }
}

/// Open GoPro keep-alives: a thread sending `GET path` every `every` until dropped.
pub(super) struct HttpKeeper {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    tally: Arc<Mutex<Tally>>,
}

impl HttpKeeper {
    /// `timeout` bounds each request, and so how long dropping the keeper can take.
    pub fn spawn(
        addr: SocketAddr,
        path: String,
        every: Duration,
        timeout: Duration,
    ) -> io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let tally = Arc::new(Mutex::new(Tally::default()));
        let shared = Arc::clone(&tally);
        let thread = thread::Builder::new()
            .name("gopro-keepalive".into())
            .spawn(move || {
                let mut next = Instant::now() + every;
                // Ends when the keeper is dropped (the channel disconnects); every wait is bounded
                // by `every` and every request by `timeout`.
                loop {
                    let wait = next.saturating_duration_since(Instant::now());
                    match stopped.recv_timeout(wait) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                    }
                    let result = match http::get(addr, &path, timeout) {
                        Ok(r) if r.is_success() => Ok(()),
                        Ok(r) => Err(format!("camera answered {}", r.summary())),
                        Err(e) => Err(e.to_string()),
                    };
                    shared
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .record(result);
                    next += every;
                    let now = Instant::now();
                    if next <= now {
                        next = now + every;
                    }
                }
            })?;
        Ok(HttpKeeper {
            stop: Some(stop),
            thread: Some(thread),
            tally,
        })
    }

    pub fn tally(&self) -> Tally {
        self.tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops the thread and waits for it (at most one request's timeout), so no keep-alive can
    /// follow the stop request the session sends next.
    pub fn shutdown(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // A panic in the thread has nothing left to clean up; the session is ending anyway.
            let _ = thread.join();
        }
    }
}

impl Drop for HttpKeeper {
    fn drop(&mut self) {
        self.shutdown();
    }
}
