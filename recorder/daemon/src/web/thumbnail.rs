//! `GET /api/thumbnail?at=`: a small JPEG of the recording at a moment, for the timeline. It is the
//! keyframe at or before the moment (the ring's header lists where each starts), so one decode of
//! one frame makes it, and every moment of the same GOP shares it. `GET /api/memories/{name}/
//! thumbnail`: the first picture of a memory, for the memories list. Decoding is ffmpeg, one at a
//! time with a short queue (a busy recorder answers 503 rather than pile up work beside the
//! recording), and the results stay in a bounded cache keyed by segment and keyframe (whose bytes
//! never change while the segment exists) or by memory and size.

use super::error::{join_failed, ApiError};
use super::WebState;
use crate::memories::is_memory_name;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use moment_ring::{AlignedBuf, KeyframePos, SegmentInfo};
use serde::Deserialize;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

/// Thumbnails kept (about 5 KiB each at the width below).
pub const THUMBNAIL_CACHE: usize = 512;
/// Requests waiting for the decoder, at most; more are a 503 (the page asks again later).
const MAX_WAITING: usize = 8;
/// The thumbnail's width in pixels; the height keeps the picture's shape.
const WIDTH: u32 = 160;
/// Bytes of one GOP given to the decoder, at most: the keyframe is at its start.
const MAX_INPUT: usize = 4 << 20;
/// The largest JPEG accepted from ffmpeg.
const MAX_OUTPUT: u64 = 1 << 20;
/// One decode, start to end, at most.
const DECODE_LIMIT: Duration = Duration::from_secs(10);
/// The PAT and PMT every segment starts with.
const TABLES: usize = 2 * 188;

/// The decoder and its cache.
pub struct Thumbnails {
    ffmpeg: PathBuf,
    decoder: Semaphore,
    waiting: AtomicUsize,
    cache: Mutex<Cache>,
}

/// What a cached picture shows.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    /// A ring segment's keyframe, by sequence number and byte offset.
    Ring(u64, u32),
    /// A memory's first picture, by name and size (a name is never reused for other bytes while
    /// the file exists; the size guards against a file replaced by hand).
    Memory(String, u64),
}

/// What ffmpeg decodes.
enum Input {
    /// MPEG-TS starting with PAT, PMT and a keyframe, on its standard input.
    Ts(Vec<u8>),
    /// A file it opens itself (a memory's MP4).
    File(PathBuf),
}

/// A bounded map with first-in, first-out eviction.
#[derive(Default)]
struct Cache {
    map: HashMap<Key, Bytes>,
    order: VecDeque<Key>,
}

impl Cache {
    fn insert(&mut self, key: Key, jpeg: Bytes) {
        if self.map.insert(key.clone(), jpeg).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > THUMBNAIL_CACHE {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }
}

impl Thumbnails {
    pub fn new(ffmpeg: PathBuf) -> Thumbnails {
        Thumbnails {
            ffmpeg,
            decoder: Semaphore::new(1),
            waiting: AtomicUsize::new(0),
            cache: Mutex::new(Cache::default()),
        }
    }

    /// The picture for `key`, from the cache or decoded from `input` (called only on a miss).
    async fn picture(&self, key: Key, input: impl FnOnce() -> Input) -> Result<Bytes, ApiError> {
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.map.get(&key).cloned()
        };
        if let Some(jpeg) = cached {
            return Ok(jpeg);
        }
        let jpeg = self.decode(input()).await?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(key, jpeg.clone());
        Ok(jpeg)
    }

    /// Decodes the first picture of `input`.
    async fn decode(&self, input: Input) -> Result<Bytes, ApiError> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::unavailable(
                "the recorder is busy making thumbnails; try again shortly",
            ));
        }
        let permit = self.decoder.acquire().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let _permit = permit.map_err(|_| ApiError::unavailable("the server is shutting down"))?;
        let scale = format!("scale={WIDTH}:-2");
        let mut command = tokio::process::Command::new(&self.ffmpeg);
        command.args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-threads",
            "1",
        ]);
        let ts = match input {
            Input::Ts(ts) => {
                command.args(["-f", "mpegts", "-i", "pipe:0"]);
                ts
            }
            Input::File(path) => {
                command.arg("-i").arg(path);
                Vec::new()
            }
        };
        let mut child = command
            .args(["-frames:v", "1", "-vf", &scale])
            .args(["-q:v", "7", "-f", "image2pipe", "-c:v", "mjpeg", "pipe:1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                tracing::warn!(error = %e, "web: ffmpeg for a thumbnail did not start");
                ApiError::internal("thumbnails need ffmpeg, which did not start")
            })?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let work = async move {
            // ffmpeg stops reading after the first frame: a closed pipe then is not an error.
            let feed = async move {
                let _ = stdin.write_all(&ts).await;
            };
            let mut jpeg = Vec::new();
            let mut limited = stdout.take(MAX_OUTPUT);
            let read = limited.read_to_end(&mut jpeg);
            let ((), read) = tokio::join!(feed, read);
            let status = child.wait().await;
            (read.map(|_| jpeg), status)
        };
        match tokio::time::timeout(DECODE_LIMIT, work).await {
            Ok((Ok(jpeg), Ok(status))) if status.success() && jpeg.starts_with(&[0xFF, 0xD8]) => {
                Ok(Bytes::from(jpeg))
            }
            Ok(_) => Err(ApiError::internal(
                "that moment's picture could not be decoded",
            )),
            Err(_) => Err(ApiError::unavailable(
                "making the thumbnail took too long; try again shortly",
            )),
        }
    }
}

#[derive(Deserialize)]
pub struct ThumbnailQuery {
    at: Option<String>,
}

/// `GET /api/thumbnail?at=`.
pub async fn thumbnail(
    State(state): State<WebState>,
    Query(query): Query<ThumbnailQuery>,
) -> Result<Response, ApiError> {
    let at = query.at.as_deref().ok_or_else(|| {
        ApiError::bad_request("at is missing; give at= as an RFC 3339 time or Unix milliseconds")
    })?;
    let at_us = super::playlist::parse_time_param("at", at).map_err(ApiError::bad_request)?;
    let segment = state
        .ring
        .segments_between(at_us, at_us.saturating_add(1))
        .into_iter()
        .next()
        .ok_or_else(|| {
            ApiError::not_found("the ring holds nothing at that moment; pick one on the timeline")
        })?;
    let ring = state.ring.clone();
    let seq = segment.seq;
    let (offset, ts) = tokio::task::spawn_blocking(move || {
        let pin = ring.pin(seq, seq)?;
        let keyframes = pin.keyframes(seq)?;
        let mut buf = AlignedBuf::new(0);
        pin.read(seq, &mut buf)?;
        Ok::<_, moment_ring::Error>(gop_at(&segment, &keyframes, &buf[..], at_us))
    })
    .await
    .map_err(join_failed)?
    .map_err(|_| ApiError::gone("that moment was overwritten by newer recording; pick another"))?;
    let jpeg = state
        .thumbnails
        .picture(Key::Ring(seq, offset), || Input::Ts(ts))
        .await?;
    Ok(jpeg_response(jpeg))
}

/// `GET /api/memories/{name}/thumbnail`: the memory's first picture.
pub async fn memory_thumbnail(
    State(state): State<WebState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let unknown = || {
        ApiError::not_found(format!(
            "there is no memory called {name:?}; list them with GET /api/memories"
        ))
    };
    if !is_memory_name(&name) {
        return Err(unknown());
    }
    let path = state.memories.dir().join(&name);
    let size = tokio::fs::metadata(&path)
        .await
        .map_err(|_| unknown())?
        .len();
    let jpeg = state
        .thumbnails
        .picture(Key::Memory(name, size), || Input::File(path))
        .await?;
    Ok(jpeg_response(jpeg))
}

fn jpeg_response(jpeg: Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            // A moment keeps its picture for as long as the ring holds it, a memory for good.
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        jpeg,
    )
        .into_response()
}

/// The bytes to decode for the moment `at_us` of `segment`: its tables, then the GOP of the last
/// keyframe at or before the moment (the segment's start when none is listed or the list does not
/// fit the payload). Also the GOP's byte offset, which names the picture.
fn gop_at(
    segment: &SegmentInfo,
    keyframes: &[KeyframePos],
    payload: &[u8],
    at_us: i64,
) -> (u32, Vec<u8>) {
    let into_us = at_us.saturating_sub(segment.meta.utc_start_us).max(0);
    let fits = |k: &KeyframePos| {
        let at = k.byte_offset as usize;
        at >= TABLES && at < payload.len() && at % 188 == 0
    };
    let chosen = keyframes
        .iter()
        .enumerate()
        .rfind(|(_, k)| fits(k) && i64::from(k.pts_offset) * 100 / 9 <= into_us);
    let Some((i, keyframe)) = chosen else {
        let end = payload.len().min(MAX_INPUT);
        return (0, payload[..end].to_vec());
    };
    let start = keyframe.byte_offset as usize;
    let end = keyframes
        .get(i + 1)
        .map_or(payload.len(), |next| {
            (next.byte_offset as usize).min(payload.len())
        })
        .max(start)
        .min(start.saturating_add(MAX_INPUT));
    let mut ts = payload[..TABLES.min(payload.len())].to_vec();
    ts.extend_from_slice(&payload[start..end]);
    (keyframe.byte_offset, ts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use moment_ring::SegmentMeta;

    #[test]
    fn the_gop_of_the_last_keyframe_at_or_before_the_moment_with_the_tables() {
        let payload: Vec<u8> = (0..10 * 188).map(|i| (i / 188) as u8).collect();
        let segment = SegmentInfo {
            seq: 3,
            epoch: 1,
            pos: 0,
            payload_len: payload.len() as u32,
            payload_crc: 0,
            meta: SegmentMeta {
                utc_start_us: 1_000_000,
                ..SegmentMeta::default()
            },
        };
        let keyframes = [
            KeyframePos {
                pts_offset: 0,
                byte_offset: 2 * 188,
            },
            KeyframePos {
                pts_offset: 90_000,
                byte_offset: 5 * 188,
            },
            KeyframePos {
                pts_offset: 180_000,
                byte_offset: 8 * 188,
            },
        ];
        let (offset, ts) = gop_at(&segment, &keyframes, &payload, 2_500_000);
        assert_eq!(offset, 5 * 188);
        assert_eq!(ts.len(), 5 * 188, "tables, then packets 5..8");
        assert_eq!((ts[0], ts[188], ts[2 * 188], ts[4 * 188]), (0, 1, 5, 7));
        let (offset, _) = gop_at(&segment, &keyframes, &payload, 0);
        assert_eq!(offset, 2 * 188, "before the segment: its first keyframe");
        let bad = [KeyframePos {
            pts_offset: 0,
            byte_offset: 99_999,
        }];
        let (offset, ts) = gop_at(&segment, &bad, &payload, 9_000_000);
        assert_eq!(
            (offset, ts.len()),
            (0, payload.len()),
            "a list that does not fit is ignored"
        );
    }
}
