//! The web app itself: a few static files compiled into the binary (no build step, nothing to
//! lose on a read-only root) and the two players, which are installed from their npm packages at
//! build time (never committed): hls.js (`web.hls_js`, scroll-back and the live fallback) and
//! mpegts.js (`web.mpegts_js`, the low-latency live view). These are the only routes served
//! without a session: the app must load to show the login form. When a player is missing the app
//! still loads and shows the status; the live view falls back to the other player, or to
//! Safari's native HLS.

use super::error::ApiError;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use tokio_util::io::ReaderStream;

/// The path of hls.js on the server, where the app's `<script>` asks for it.
pub const HLS_JS_URL: &str = "/vendor/hls.min.js";
/// The path of mpegts.js on the server.
pub const MPEGTS_JS_URL: &str = "/vendor/mpegts.js";
/// Largest player file served (the builds are 300 to 500 KiB).
const MAX_PLAYER_BYTES: u64 = 4 << 20;

/// Where the players' files are on this recorder (`None`: not installed).
#[derive(Clone, Debug, Default)]
pub struct Players {
    pub hls_js: Option<PathBuf>,
    pub mpegts_js: Option<PathBuf>,
}

/// What the browser may do with our pages: only this server's scripts, styles and media (hls.js
/// feeds the video element and its worker through blob: URLs), never inside another site's frame.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!("../../ui/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the app; `index.html` is served at `/`, the rest under `/ui/`.
static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("live.js", JS),
    asset!("timeline.js", JS),
    asset!("thumbs.js", JS),
    asset!("memories.js", JS),
    asset!("status.js", JS),
    asset!("settings.js", JS),
    asset!("firmware.js", JS),
    asset!("format.js", JS),
    asset!("setup.js", JS),
    asset!("remote-form.js", JS),
    asset!("icon.svg", "image/svg+xml"),
];

/// Paths [`routes`] serves; the session guard lets these through.
pub fn is_public(path: &str) -> bool {
    path == "/"
        || path == HLS_JS_URL
        || path == MPEGTS_JS_URL
        || path
            .strip_prefix("/ui/")
            .is_some_and(|name| find(name).is_some())
}

fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// `/`, `/ui/{file}`, [`HLS_JS_URL`] and [`MPEGTS_JS_URL`] (from `players`).
pub fn routes(players: Players) -> Router {
    let players = Arc::new(players);
    Router::new()
        .route("/", get(index))
        .route("/ui/{file}", get(file))
        .route(HLS_JS_URL, get(hls))
        .route(MPEGTS_JS_URL, get(mpegts))
        .with_state(players)
}

async fn index(headers: HeaderMap) -> Response {
    serve(
        find("index.html").expect("index.html is an asset"),
        &headers,
    )
}

async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match find(&name) {
        Some(asset) => serve(asset, &headers),
        None => ApiError::not_found("no such file in the web app").into_response(),
    }
}

/// An asset with an ETag, so a phone revalidates in one small request instead of downloading the
/// app again over a weak Wi-Fi link, and sees a new firmware's app at once.
fn serve(asset: &'static Asset, headers: &HeaderMap) -> Response {
    let etag = etag_of(asset);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.bytes).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, etag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if asset.name.ends_with(".html") {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

/// A quoted FNV-1a hash of the asset, computed once per asset.
fn etag_of(asset: &'static Asset) -> HeaderValue {
    static TAGS: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let hash = a.bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                });
                HeaderValue::from_str(&format!("\"{hash:016x}\"")).expect("hex is a header")
            })
            .collect()
    });
    let index = ASSETS
        .iter()
        .position(|a| std::ptr::eq(a, asset))
        .expect("assets come from ASSETS");
    tags[index].clone()
}

/// `GET /vendor/hls.min.js`: streamed from `web.hls_js`; 404 when it is not installed.
async fn hls(State(players): State<Arc<Players>>) -> Response {
    player(
        players.hls_js.as_ref(),
        "hls.js is not installed on this recorder; the live view needs a browser with \
         native HLS (Safari) or mpegts.js",
    )
    .await
}

/// `GET /vendor/mpegts.js`: streamed from `web.mpegts_js`; 404 when it is not installed.
async fn mpegts(State(players): State<Arc<Players>>) -> Response {
    player(
        players.mpegts_js.as_ref(),
        "mpegts.js is not installed on this recorder; the live view plays HLS instead, a few \
         seconds further behind",
    )
    .await
}

/// A player's file, streamed; 404 with `missing_message` when it cannot be served.
async fn player(path: Option<&PathBuf>, missing_message: &'static str) -> Response {
    let missing = || ApiError::not_found(missing_message).into_response();
    let Some(path) = path else {
        return missing();
    };
    let file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "web: a player cannot be read");
            return missing();
        }
    };
    let len = match file.metadata().await {
        Ok(meta) if meta.is_file() && meta.len() <= MAX_PLAYER_BYTES => meta.len(),
        _ => {
            tracing::warn!(path = %path.display(), "web: a player is not a file of sane size");
            return missing();
        }
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(JS)),
            (header::CONTENT_LENGTH, HeaderValue::from(len)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        Body::from_stream(ReaderStream::new(tokio::io::AsyncReadExt::take(file, len))),
    )
        .into_response()
}
