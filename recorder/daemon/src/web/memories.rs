//! `/api/memories`: list, download (streamed from disk, with byte ranges so players can seek and
//! interrupted downloads resume) and delete. A name must look like a memory's file name
//! (`is_memory_name`), which rules out path separators and dot files before the disk is touched.

use super::error::{join_failed, ApiError};
use super::playlist::format_program_date_time;
use super::range::{parse_range, RangeRequest};
use super::WebState;
use crate::memories::{is_memory_name, Memory, UploadState};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::io;
use std::io::SeekFrom;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

/// Bytes read from disk per body chunk.
const CHUNK: usize = 64 << 10;

/// A memory as the API shows it.
#[derive(Serialize, Debug)]
pub struct MemoryView {
    pub name: String,
    pub size: u64,
    /// RFC 3339 UTC; null when unknown (a file recovered without its sidecar).
    pub from: Option<String>,
    pub to: Option<String>,
    pub duration_s: f64,
    pub saved: Option<String>,
    /// "pending" or "done".
    pub upload: UploadState,
    pub usb_exported: bool,
    /// The ring held less than was asked for.
    pub clipped: bool,
}

impl From<Memory> for MemoryView {
    fn from(m: Memory) -> MemoryView {
        let time = |us: i64| (us != 0).then(|| format_program_date_time(us));
        let s = &m.sidecar;
        MemoryView {
            from: time(s.utc_start_us),
            to: time(s.utc_end_us),
            duration_s: s.duration_us as f64 / 1e6,
            saved: time(s.saved_utc_us),
            upload: s.upload,
            usb_exported: s.usb_exported,
            clipped: s.clipped,
            size: m.size,
            name: m.name,
        }
    }
}

/// `GET /api/memories`: every memory, oldest first.
pub async fn list(State(state): State<WebState>) -> Result<Json<Vec<MemoryView>>, ApiError> {
    let store = state.memories.clone();
    let memories = tokio::task::spawn_blocking(move || store.list())
        .await
        .map_err(join_failed)?
        .map_err(|e| {
            tracing::error!(error = %e, "web: listing memories failed");
            ApiError::internal("the memories could not be listed; check the data partition")
        })?;
    Ok(Json(memories.into_iter().map(MemoryView::from).collect()))
}

fn unknown(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "there is no memory called {name:?}; list them with GET /api/memories"
    ))
}

fn io_error(name: &str, what: &str, e: io::Error) -> ApiError {
    if e.kind() == io::ErrorKind::NotFound {
        return unknown(name);
    }
    tracing::error!(memory = name, error = %e, "web: {what} failed");
    ApiError::internal(format!("{what} {name:?} failed; check the data partition"))
}

/// `GET /api/memories/{name}`: the MP4, whole or one byte range.
pub async fn download(
    State(state): State<WebState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !is_memory_name(&name) {
        return Err(unknown(&name));
    }
    let path = state.memories.dir().join(&name);
    let mut file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| io_error(&name, "opening memory", e))?;
    let len = file
        .metadata()
        .await
        .map_err(|e| io_error(&name, "reading memory", e))?
        .len();
    let wanted = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map_or(RangeRequest::Full, |v| parse_range(v, len));
    let mut response = match wanted {
        RangeRequest::Unsatisfiable => {
            let mut r = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("the memory has {len} bytes; ask for a range within them"),
            )
            .into_response();
            let value = format!("bytes */{len}");
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&value).expect("ASCII"),
            );
            r
        }
        RangeRequest::Full => {
            let body = Body::from_stream(ReaderStream::with_capacity(file.take(len), CHUNK));
            let mut r = (StatusCode::OK, body).into_response();
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            r
        }
        RangeRequest::Partial(range) => {
            file.seek(SeekFrom::Start(range.start))
                .await
                .map_err(|e| io_error(&name, "reading memory", e))?;
            let count = range.byte_count();
            let body = Body::from_stream(ReaderStream::with_capacity(file.take(count), CHUNK));
            let mut r = (StatusCode::PARTIAL_CONTENT, body).into_response();
            let value = format!("bytes {}-{}/{len}", range.start, range.end);
            let h = r.headers_mut();
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
            h.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&value).expect("ASCII"),
            );
            r
        }
    };
    let h = response.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if wanted != RangeRequest::Unsatisfiable {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
        // The name was checked to be plain ASCII without quotes.
        let disposition = format!("inline; filename=\"{name}\"");
        h.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&disposition).expect("memory names are ASCII"),
        );
    }
    Ok(response)
}

/// `DELETE /api/memories/{name}`.
pub async fn delete(
    State(state): State<WebState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !is_memory_name(&name) {
        return Err(unknown(&name));
    }
    let store = state.memories.clone();
    let target = name.clone();
    tokio::task::spawn_blocking(move || store.delete(&target))
        .await
        .map_err(join_failed)?
        .map_err(|e| io_error(&name, "deleting memory", e))?;
    tracing::info!(memory = %name, "web: memory deleted");
    Ok(StatusCode::NO_CONTENT)
}
