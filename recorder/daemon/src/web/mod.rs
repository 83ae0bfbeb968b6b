//! The daemon's web app and API (docs/api.md): the app's static files (ui.rs), HLS playlists and
//! segments served straight from the ring, the ring's timeline, the memories directory (list,
//! download with byte ranges, delete, save a range, upload), status (plain and live SSE), the
//! buttons, the time, the runtime settings, firmware updates, and login.
//!
//! [`router`] is what the daemon serves: every route but the app's files and login behind the
//! admin session, every state change behind the CSRF rule (auth.rs). [`media_routes`] alone has
//! **no authentication** and is for tests only. [`serve`] (server.rs) is the accept loop that
//! serves it with limits on connections and their timing.
//!
//! Recording never waits on the web: segments are read through the ring's bounded, revocable pins
//! on blocking threads, a few at a time, and every request has a time limit and a body limit.

mod api;
mod auth;
mod error;
mod hls;
mod live;
mod memories;
mod playlist;
mod range;
mod server;
mod settings;
mod setup;
mod thumbnail;
mod timeline;
mod ui;
mod update;

pub use api::{
    Control, API_BODY_LIMIT, EARLIEST_UTC_MS, LATEST_UTC_MS, MAX_SSE_CLIENTS, SSE_INTERVAL,
    SSE_MIN_GAP,
};
pub use auth::{
    csrf_allowed, hash_password, verify_password, AuthConfig, LoginClient, LoginLimiter, Sessions,
    LOGIN_BACKSTOP, LOGIN_FAILURES, LOGIN_LOCKOUT, LOGIN_WINDOW, MAX_LOGIN_CLIENTS,
    MAX_PASSWORD_BYTES, MAX_SESSIONS, SESSION_COOKIE, SESSION_IDLE, SESSION_MAX_AGE,
};
pub use error::ApiError;
pub use live::{LiveHub, LIVE_IDLE, MAX_LIVE_VIEWERS};
pub use playlist::{format_program_date_time, parse_time_param, LIVE_WINDOW, MAX_RANGE_SEGMENTS};
pub use range::{parse_range, ByteRange, RangeRequest};
pub use server::{
    serve, ServerLimits, HEADER_TIMEOUT, MAX_BUF_BYTES, MAX_CONNECTIONS, MAX_HEADERS,
    MAX_HEAD_BYTES, STALL_TIMEOUT,
};
pub use setup::{AdminSaved, Pending, Setup, SetupError, SetupForm, MIN_ADMIN_PASSWORD};
pub use thumbnail::THUMBNAIL_CACHE;
pub use timeline::{Timeline, MAX_TIMELINE_SPANS};
pub use ui::{Players, HLS_JS_URL, MPEGTS_JS_URL};
pub use update::Updates;

use crate::memories::MemoryStore;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::get;
use axum::{BoxError, Router};
use moment_ring::{FileDevice, RingReader};
use std::path::PathBuf;
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
    /// hls.js and mpegts.js, installed from their npm packages; the app works without them.
    pub(crate) players: Players,
    pub(crate) live: Option<Arc<LiveHub>>,
    pub(crate) thumbnails: Arc<thumbnail::Thumbnails>,
}

impl WebState {
    pub fn new(ring: RingReader<FileDevice>, memories: Arc<MemoryStore>) -> WebState {
        WebState {
            ring,
            memories,
            segment_reads: Arc::new(Semaphore::new(MAX_SEGMENT_READS)),
            players: Players::default(),
            live: None,
            thumbnails: Arc::new(thumbnail::Thumbnails::new(PathBuf::from("ffmpeg"))),
        }
    }

    /// Serves `/live/stream.ts` from what the recording publishes into `hub`.
    pub fn with_live(mut self, hub: Arc<LiveHub>) -> WebState {
        self.live = Some(hub);
        self
    }

    /// Serves `path` as hls.js at [`HLS_JS_URL`].
    pub fn with_hls_js(mut self, path: PathBuf) -> WebState {
        self.players.hls_js = Some(path);
        self
    }

    pub fn with_mpegts_js(mut self, path: PathBuf) -> WebState {
        self.players.mpegts_js = Some(path);
        self
    }
}

/// The whole web API as the daemon serves it: [`media_routes`] and the control routes, all behind
/// the admin session and the CSRF rule (see auth.rs and docs/api.md).
pub fn router(media: WebState, control: Arc<dyn Control>, auth: AuthConfig) -> Router {
    router_with_setup(media, control, auth, None)
}

/// [`router`] plus the setup wizard's API and the captive portal, for a daemon that runs the
/// network (setup.rs).
pub fn router_with_setup(
    media: WebState,
    control: Arc<dyn Control>,
    auth: AuthConfig,
    setup: Option<Arc<dyn Setup>>,
) -> Router {
    let auth = Arc::new(auth::AuthState::new(auth, setup.clone()));
    let ui = ui::routes(media.players.clone());
    let updates = control.updates();
    let mut router = media_routes(media)
        .merge(api::routes(control, auth.clone()))
        .merge(update::routes(updates))
        .merge(ui);
    if let Some(setup) = setup {
        router = router.merge(setup::routes(setup, auth.clone()));
    }
    router.layer(middleware::from_fn_with_state(auth, auth::guard))
}

/// `/hls/*` and the memories part of `/api`, with their limits, **without authentication**: serve
/// [`router`] instead.
pub fn media_routes(state: WebState) -> Router {
    let timeout = tower::ServiceBuilder::new()
        .layer(HandleErrorLayer::new(timed_out))
        .timeout(REQUEST_TIMEOUT);
    Router::new()
        .route("/hls/live.m3u8", get(hls::live))
        .route("/hls/range.m3u8", get(hls::range))
        .route("/hls/segment/{file}", get(hls::segment))
        .route("/live/stream.ts", get(live::stream))
        .route("/api/timeline", get(timeline::timeline))
        .route("/api/thumbnail", get(thumbnail::thumbnail))
        .route("/api/memories", get(memories::list))
        .route(
            "/api/memories/{name}",
            get(memories::download).delete(memories::delete),
        )
        .route(
            "/api/memories/{name}/thumbnail",
            get(thumbnail::memory_thumbnail),
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
