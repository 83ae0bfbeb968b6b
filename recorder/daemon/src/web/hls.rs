//! `/hls/*`: playlists built from the ring's index and segments read straight from the ring. A
//! segment read pins just that segment on a blocking thread, is checked (header and CRC) by the
//! ring, and is answered 410 Gone when the writer has overwritten it, before or during the read.

use super::error::{join_failed, ApiError};
use super::playlist::{self, parse_time_param, Kind, LIVE_WINDOW, MAX_RANGE_SEGMENTS};
use super::WebState;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use moment_ring::{flags, AlignedBuf, Error as RingError};
use serde::Deserialize;

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";

/// `GET /hls/live.m3u8`: the newest segments.
pub async fn live(State(state): State<WebState>) -> Result<Response, ApiError> {
    let all = state.ring.segments();
    if all.is_empty() {
        return Err(ApiError::unavailable(
            "nothing has been recorded yet; check that the camera is connected and try again",
        ));
    }
    let window = &all[all.len().saturating_sub(LIVE_WINDOW)..];
    let gone = &all[..all.len() - window.len()];
    let discontinuities = gone
        .iter()
        .filter(|s| s.meta.flags & flags::DISCONTINUITY != 0)
        .count() as u64;
    let text = playlist::render(window, Kind::Live, discontinuities);
    Ok(playlist_response(text))
}

#[derive(Deserialize)]
pub struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
}

/// `GET /hls/range.m3u8?from=&to=`: a VOD playlist over what the ring holds of the range.
pub async fn range(
    State(state): State<WebState>,
    Query(query): Query<RangeQuery>,
) -> Result<Response, ApiError> {
    let param = |name: &str, value: Option<&String>| match value {
        Some(text) => parse_time_param(name, text).map_err(ApiError::bad_request),
        None => Err(ApiError::bad_request(format!(
            "{name} is missing; give from= and to= as RFC 3339 times or Unix milliseconds"
        ))),
    };
    let from = param("from", query.from.as_ref())?;
    let to = param("to", query.to.as_ref())?;
    if to <= from {
        return Err(ApiError::bad_request("to must be later than from"));
    }
    let segments = state.ring.segments_between(from, to);
    if segments.is_empty() {
        return Err(ApiError::not_found(
            "the ring holds nothing in that range (it was overwritten or never recorded); \
             pick a range within the timeline",
        ));
    }
    if segments.len() > MAX_RANGE_SEGMENTS {
        return Err(ApiError::bad_request(format!(
            "the range covers {} segments, more than the {MAX_RANGE_SEGMENTS} one playlist may \
             hold; narrow the range",
            segments.len()
        )));
    }
    Ok(playlist_response(playlist::render(&segments, Kind::Vod, 0)))
}

fn playlist_response(text: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, PLAYLIST_TYPE),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        text,
    )
        .into_response()
}

/// `GET /hls/segment/{seq}.ts`.
pub async fn segment(
    State(state): State<WebState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let seq = file
        .strip_suffix(".ts")
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "{file:?} is not a segment; segment URLs look like /hls/segment/42.ts"
            ))
        })?;
    // Bounds the memory held by segment reads; the request timeout bounds the wait.
    let _permit = state
        .segment_reads
        .acquire()
        .await
        .map_err(|_| ApiError::unavailable("the server is shutting down; try again"))?;
    let ring = state.ring.clone();
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, RingError> {
        let pin = ring.pin(seq, seq)?;
        let mut buf = AlignedBuf::new(0);
        pin.read(seq, &mut buf)?;
        drop(pin);
        Ok(buf[..].to_vec())
    })
    .await
    .map_err(join_failed)?
    .map_err(|e| read_error(seq, e))?;
    Ok((
        [
            (header::CONTENT_TYPE, "video/mp2t"),
            // A sequence number is never reused, so its bytes never change.
            (header::CACHE_CONTROL, "private, max-age=86400, immutable"),
        ],
        bytes,
    )
        .into_response())
}

fn read_error(seq: u64, err: RingError) -> ApiError {
    match err {
        RingError::NoSuchSegment { newest, .. } if seq > newest => ApiError::not_found(format!(
            "segment {seq} has not been recorded yet; reload the playlist"
        )),
        RingError::NoSuchSegment { .. }
        | RingError::ReaderTooSlow { .. }
        | RingError::NotPinned { .. } => ApiError::gone(format!(
            "segment {seq} is no longer in the ring (it was overwritten by newer recording); \
             reload the playlist"
        )),
        RingError::TooManyReaders(_) => {
            ApiError::unavailable("too many readers of the ring right now; try again shortly")
        }
        other => {
            tracing::error!(seq, error = %other, "web: segment read failed");
            ApiError::internal(format!(
                "segment {seq} could not be read from storage (details are in the recorder's log)"
            ))
        }
    }
}
