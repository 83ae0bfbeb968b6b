//! `GET /live/stream.ts`: the live view as one MPEG-TS stream over HTTP, for a player that feeds
//! Media Source Extensions (mpegts.js in the web app). Segment-based HLS cannot show a moment
//! before its segment closes (seconds later); this sends each read from the camera as soon as the
//! segmenter has committed it, the same bytes the ring stores when the segment closes.
//!
//! The capture thread publishes into a `LiveHub` without ever waiting (a broadcast channel that
//! drops for a viewer who falls behind, and a bounded copy of the current GOP). A viewer starts
//! with that GOP (the program's tables, then the bytes since the last keyframe), so the first
//! picture comes at once, then follows the broadcast. The stream ends, and the player connects
//! again, when the source starts over, when the viewer falls behind, and when nothing arrives
//! for `LIVE_IDLE` (no camera): a clean start beats a player fed a broken timeline.

use super::error::ApiError;
use super::WebState;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use moment_media::{LiveChunk, LiveMark, LiveSink};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Live streams open at once; one more is a 503 (each costs a copy of every byte captured).
pub const MAX_LIVE_VIEWERS: usize = 4;
/// Messages a viewer may fall behind before it is cut off (about one per read of the camera's
/// pipe: several seconds of video).
const FEED_MESSAGES: usize = 256;
/// The copy of the current GOP kept for viewers who join: more than this (a camera without
/// keyframes) and joiners wait for the next keyframe instead.
const MAX_GOP_BYTES: usize = 8 << 20;
/// The capture time (ms since the epoch) of the stream's first frame, a response header.
pub const CAPTURE_START_HEADER: &str = "x-moment-capture-start-ms";
/// A stream with nothing to send for this long ends: the camera stopped.
pub const LIVE_IDLE: Duration = Duration::from_secs(5);

#[derive(Clone)]
enum Feed {
    Bytes(Bytes),
    /// The timeline starts over: viewers end their stream and connect again.
    Restart,
}

/// The copy of the current GOP a joining viewer starts with.
struct Gop {
    /// The program's tables, then the bytes since the keyframe.
    bytes: Vec<u8>,
    /// When the keyframe arrived from the camera (wall clock, ms since the epoch).
    utc_ms: i64,
}

/// Fans the capture thread's live chunks out to the viewers.
pub struct LiveHub {
    /// `None` before the first keyframe, after a restart and when it grew past `MAX_GOP_BYTES`.
    gop: Mutex<Option<Gop>>,
    sender: broadcast::Sender<Feed>,
    viewers: Arc<Semaphore>,
}

impl Default for LiveHub {
    fn default() -> Self {
        LiveHub {
            gop: Mutex::new(None),
            sender: broadcast::channel(FEED_MESSAGES).0,
            viewers: Arc::new(Semaphore::new(MAX_LIVE_VIEWERS)),
        }
    }
}

impl LiveHub {
    /// A new viewer: the GOP so far and the feed from right after it (taken under the same lock
    /// the publisher holds, so nothing is lost or sent twice). `None` until a keyframe arrived.
    /// Also the keyframe's capture time (ms since the epoch).
    fn subscribe(&self) -> Option<(Vec<u8>, i64, broadcast::Receiver<Feed>)> {
        let gop = self.gop.lock().unwrap_or_else(|e| e.into_inner());
        let start = gop.as_ref()?;
        Some((start.bytes.clone(), start.utc_ms, self.sender.subscribe()))
    }

    fn forward(&self, gop: &mut Option<Gop>, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some(kept) = gop.as_mut() {
            if kept.bytes.len().saturating_add(bytes.len()) > MAX_GOP_BYTES {
                *gop = None;
            } else {
                kept.bytes.extend_from_slice(bytes);
            }
        }
        // No viewers is not an error: the bytes are simply not sent.
        let _ = self.sender.send(Feed::Bytes(Bytes::copy_from_slice(bytes)));
    }
}

impl LiveSink for LiveHub {
    fn publish(&self, chunk: &LiveChunk) {
        let mut gop = self.gop.lock().unwrap_or_else(|e| e.into_inner());
        let mut at = 0;
        for mark in &chunk.marks {
            let offset = mark.offset().clamp(at, chunk.bytes.len());
            self.forward(&mut gop, &chunk.bytes[at..offset]);
            at = offset;
            match mark {
                LiveMark::Keyframe { tables, utc_us, .. } => {
                    *gop = Some(Gop {
                        bytes: tables.clone(),
                        utc_ms: utc_us.div_euclid(1000),
                    })
                }
                LiveMark::Restart { .. } => {
                    *gop = None;
                    let _ = self.sender.send(Feed::Restart);
                }
            }
        }
        self.forward(&mut gop, &chunk.bytes[at..]);
    }
}

/// One viewer's stream state.
struct Viewer {
    start: Option<Bytes>,
    feed: broadcast::Receiver<Feed>,
    _permit: OwnedSemaphorePermit,
}

impl Viewer {
    /// The next bytes to send, or `None` to end the stream.
    async fn next(&mut self) -> Option<Bytes> {
        if let Some(start) = self.start.take() {
            return Some(start);
        }
        match tokio::time::timeout(LIVE_IDLE, self.feed.recv()).await {
            Ok(Ok(Feed::Bytes(bytes))) => Some(bytes),
            Ok(Ok(Feed::Restart)) | Ok(Err(RecvError::Closed)) => None,
            Ok(Err(RecvError::Lagged(missed))) => {
                tracing::info!(missed, "web: a live viewer fell behind; its stream ends");
                None
            }
            Err(_) => None,
        }
    }
}

/// `GET /live/stream.ts`.
pub async fn stream(State(state): State<WebState>) -> Result<Response, ApiError> {
    let Some(hub) = state.live.clone() else {
        return Err(ApiError::not_found(
            "this recorder has no live stream; the live view plays the HLS playlist instead",
        ));
    };
    let permit = hub.viewers.clone().try_acquire_owned().map_err(|_| {
        ApiError::unavailable(format!(
            "too many live views are open (at most {MAX_LIVE_VIEWERS}); close one and try again"
        ))
    })?;
    let Some((start, start_utc_ms, feed)) = hub.subscribe() else {
        return Err(ApiError::unavailable(
            "no picture from the camera yet; the live view tries again in a moment",
        ));
    };
    let viewer = Viewer {
        start: Some(Bytes::from(start)),
        feed,
        _permit: permit,
    };
    let body = futures_util::stream::unfold(viewer, |mut viewer| async move {
        let bytes = viewer.next().await?;
        Some((Ok::<_, Infallible>(bytes), viewer))
    });
    let mut response = (
        [
            (header::CONTENT_TYPE, "video/mp2t"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(body),
    )
        .into_response();
    // The player maps its media time to the camera's clock from this: the stream's first frame
    // was captured then.
    response
        .headers_mut()
        .insert(CAPTURE_START_HEADER, HeaderValue::from(start_utc_ms));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets(n: usize, fill: u8) -> Vec<u8> {
        let mut bytes = vec![fill; n * 188];
        for p in bytes.chunks_mut(188) {
            p[0] = 0x47;
        }
        bytes
    }

    #[tokio::test]
    async fn a_viewer_starts_at_the_last_keyframe_with_the_tables_and_ends_at_a_restart() {
        let hub = LiveHub::default();
        assert!(hub.subscribe().is_none(), "nothing before a keyframe");
        let tables = packets(2, 0);
        let before = packets(3, 1);
        let gop = packets(4, 2);
        let mut bytes = before.clone();
        bytes.extend_from_slice(&gop);
        hub.publish(&LiveChunk {
            bytes,
            marks: vec![LiveMark::Keyframe {
                offset: before.len(),
                tables: tables.clone(),
                utc_us: 1_795_946_400_123_456,
            }],
        });
        let (start, utc_ms, mut feed) = hub.subscribe().expect("a keyframe arrived");
        assert_eq!(start, [tables, gop].concat(), "tables, then the GOP");
        assert_eq!(utc_ms, 1_795_946_400_123);
        let more = packets(1, 3);
        hub.publish(&LiveChunk {
            bytes: more.clone(),
            marks: vec![LiveMark::Restart { offset: more.len() }],
        });
        assert!(matches!(feed.recv().await, Ok(Feed::Bytes(b)) if b == more));
        assert!(matches!(feed.recv().await, Ok(Feed::Restart)));
        assert!(
            hub.subscribe().is_none(),
            "after a restart, wait for a keyframe"
        );
    }

    #[test]
    fn a_gop_too_large_to_keep_is_dropped_until_the_next_keyframe() {
        let hub = LiveHub::default();
        let big = vec![0x47; MAX_GOP_BYTES];
        hub.publish(&LiveChunk {
            bytes: big,
            marks: vec![LiveMark::Keyframe {
                offset: 0,
                tables: packets(2, 0),
                utc_us: 0,
            }],
        });
        assert!(hub.subscribe().is_none());
        hub.publish(&LiveChunk {
            bytes: packets(1, 5),
            marks: vec![LiveMark::Keyframe {
                offset: 0,
                tables: packets(2, 0),
                utc_us: 0,
            }],
        });
        assert!(hub.subscribe().is_some());
    }
}
