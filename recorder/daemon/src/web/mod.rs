//! The daemon's web API, read-only media part: HLS playlists and segments served straight from the
//! ring, and the memories directory (list, download with byte ranges, delete). The rest of the API
//! (status, buttons, saves, settings, login) and the UI are not here yet.
//!
//! **No authentication yet**: whoever reaches these routes may watch the ring and delete memories.
//! The admin session (DESIGN.md section 8) must wrap this router before it listens on anything but
//! loopback.
//!
//! Recording never waits on the web: segments are read through the ring's bounded, revocable pins
//! on blocking threads, a few at a time, and every request has a time limit and a body limit.

mod error;
mod hls;
mod memories;
mod playlist;
mod range;

pub use error::ApiError;
pub use playlist::{format_program_date_time, parse_time_param, LIVE_WINDOW, MAX_RANGE_SEGMENTS};
pub use range::{parse_range, ByteRange, RangeRequest};

use crate::memories::MemoryStore;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{BoxError, Router};
use moment_ring::{FileDevice, RingReader};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Largest request body these routes accept (none of them takes one).
pub const BODY_LIMIT: usize = 64 << 10;
/// Longest a request may take until its response starts (a download's body may stream longer).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Segment reads at once: each holds a whole segment in memory (a few MiB on a 512 MiB Pi).
pub const MAX_SEGMENT_READS: usize = 4;

/// What the handlers share; cheap to clone.
#[derive(Clone)]
pub struct WebState {
    pub(crate) ring: RingReader<FileDevice>,
    pub(crate) memories: Arc<MemoryStore>,
    pub(crate) segment_reads: Arc<Semaphore>,
}

impl WebState {
    pub fn new(ring: RingReader<FileDevice>, memories: Arc<MemoryStore>) -> WebState {
        WebState {
            ring,
            memories,
            segment_reads: Arc::new(Semaphore::new(MAX_SEGMENT_READS)),
        }
    }
}

/// `/hls/*` and the memories part of `/api`, with their limits.
pub fn media_routes(state: WebState) -> Router {
    let timeout = tower::ServiceBuilder::new()
        .layer(HandleErrorLayer::new(timed_out))
        .timeout(REQUEST_TIMEOUT);
    Router::new()
        .route("/hls/live.m3u8", get(hls::live))
        .route("/hls/range.m3u8", get(hls::range))
        .route("/hls/segment/{file}", get(hls::segment))
        .route("/api/memories", get(memories::list))
        .route(
            "/api/memories/{name}",
            get(memories::download).delete(memories::delete),
        )
        .with_state(state)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(timeout)
}

async fn timed_out(err: BoxError) -> ApiError {
    if err.is::<tower::timeout::error::Elapsed>() {
        ApiError::unavailable(format!(
            "the request took longer than {} s; try again",
            REQUEST_TIMEOUT.as_secs()
        ))
    } else {
        tracing::warn!(error = %err, "web: request failed in a layer");
        ApiError::internal("the request failed inside the server; try again")
    }
}
