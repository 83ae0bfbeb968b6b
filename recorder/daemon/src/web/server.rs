//! The daemon's HTTP server: the accept loop that serves [`super::router`] on a TCP listener.
//!
//! Why not `axum::serve`: it accepts every connection and keeps it as long as the client likes.
//! It has no limit on open connections and no way to set hyper's header-read timeout. A phone on
//! the same Wi-Fi could then exhaust the daemon's file descriptors and memory with idle or
//! slow-header (slowloris) connections. The ring writer would survive that, but the web would not.
//! This loop drives hyper's HTTP/1 connection directly, with [`ServerLimits`]:
//!
//! - at most `max_connections` open at once; a connection accepted beyond that is closed at once
//!   (the kernel's listen backlog is the only queue, and it is bounded);
//! - `header_timeout` from the moment the server waits for a request until its whole head has
//!   arrived. hyper starts that timer when a connection begins to wait for its next request, so it
//!   also closes a keep-alive connection left idle that long;
//! - `stall_timeout`: a connection on which not one byte moved either way for that long is closed
//!   (a client that stops reading a response, or dribbles a body no handler reads);
//! - a request's head bounded by [`MAX_HEAD_BYTES`] and [`MAX_HEADERS`], buffers by
//!   [`MAX_BUF_BYTES`];
//! - every request's own time and body limits are the router's (30 s, 16/64 KiB).
//!
//! Connections live in a `JoinSet` owned by the loop: aborting the task that runs [`serve`] (the
//! daemon's shutdown) drops the set, which aborts every connection with it.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::{Service, ServiceExt};

/// Open connections at once (each costs a file descriptor, a task and up to two buffers).
pub const MAX_CONNECTIONS: usize = 128;
/// From waiting for a request until its head (request line and headers) has arrived; also how
/// long an idle keep-alive connection stays open.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// No byte in either direction for this long closes a connection. Longer than the router's 30 s
/// request timeout, so a request still being handled is answered first.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest read or write buffer per connection.
pub const MAX_BUF_BYTES: usize = 64 << 10;
/// Largest request head (request line and headers); a browser's are a few hundred bytes.
pub const MAX_HEAD_BYTES: usize = 16 << 10;
/// Most header lines in one request.
pub const MAX_HEADERS: usize = 64;
/// After a failed accept (out of file descriptors, say), wait this long before the next one.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// At most one warning per this long about refused connections or failed accepts.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The limits [`serve`] applies; the defaults are the constants above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub stall_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> ServerLimits {
        ServerLimits {
            max_connections: MAX_CONNECTIONS,
            header_timeout: HEADER_TIMEOUT,
            stall_timeout: STALL_TIMEOUT,
        }
    }
}

/// Serves `router` on `listener` with `limits` until the task running it is aborted. Requests
/// carry the peer's `ConnectInfo<SocketAddr>`, as with `into_make_service_with_connect_info`.
pub async fn serve(listener: TcpListener, router: Router, limits: ServerLimits) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_BUF_BYTES)
        .max_header_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    let epoch = Instant::now();
    let mut connections = JoinSet::new();
    let mut refused = Warner::default();
    let mut accept_failed = Warner::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            // Reap finished connections so the set holds only live ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                if accept_failed.due() {
                    tracing::warn!(error = %e, times = accept_failed.take(), "web: accept failed");
                }
                tokio::time::sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Full: closed at once. A legitimate client retries; a flood costs one accept each.
            drop(stream);
            if refused.due() {
                tracing::warn!(
                    max = limits.max_connections,
                    refused = refused.take(),
                    "web: connections refused, too many open"
                );
            }
            continue;
        };
        let service = match ServiceExt::<SocketAddr>::ready(&mut make_service).await {
            Ok(make) => make.call(peer).await,
            Err(never) => match never {},
        };
        let Ok(service) = service;
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(AtomicU64::new(0));
        let io = TokioIo::new(Tracked {
            stream,
            epoch,
            activity: activity.clone(),
        });
        touch(&activity, epoch);
        let connection = http.serve_connection(io, TowerToHyperService::new(service));
        let stall_timeout = limits.stall_timeout;
        connections.spawn(async move {
            let _slot = slot;
            tokio::select! {
                result = connection => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "web: connection ended");
                    }
                }
                () = stalled(&activity, epoch, stall_timeout) => {
                    tracing::debug!(%peer, "web: connection closed, nothing moved");
                }
            }
        });
    }
}

/// Counts events and says when one may be logged (at most once per [`WARN_EVERY`]).
#[derive(Default)]
struct Warner {
    last: Option<Instant>,
    count: u64,
}

impl Warner {
    fn due(&mut self) -> bool {
        self.count += 1;
        let now = Instant::now();
        let due = self
            .last
            .is_none_or(|t| now.duration_since(t) >= WARN_EVERY);
        if due {
            self.last = Some(now);
        }
        due
    }

    /// The events since the last warning.
    fn take(&mut self) -> u64 {
        std::mem::take(&mut self.count)
    }
}

/// Milliseconds since `epoch` of the connection's last byte, read or written.
fn touch(activity: &AtomicU64, epoch: Instant) {
    activity.store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
}

/// Returns once no byte has moved for `limit`; wakes about once per `limit`.
async fn stalled(activity: &AtomicU64, epoch: Instant, limit: Duration) {
    loop {
        let last = epoch + Duration::from_millis(activity.load(Ordering::Relaxed));
        let deadline = last + limit;
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline).await;
    }
}

/// The TCP stream, noting the time of every byte that moves.
struct Tracked {
    stream: TcpStream,
    epoch: Instant,
    activity: Arc<AtomicU64>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            touch(&self.activity, self.epoch);
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            touch(&self.activity, self.epoch);
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            touch(&self.activity, self.epoch);
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
