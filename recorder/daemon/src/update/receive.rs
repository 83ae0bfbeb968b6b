//! Receiving an update bundle from the web: streamed straight to a file on /data (never held in
//! RAM: the Pi has 512 MiB and a bundle is hundreds of MiB), after checking its announced size
//! against the limit and the free space, written under a temporary name and renamed once whole
//! and synced. Whatever goes wrong, no partial bundle is left behind.

use futures_util::{Stream, StreamExt};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// No byte from the client for this long ends the upload.
pub const STALL_LIMIT: Duration = Duration::from_secs(60);
/// The finished bundle's name in the bundle directory.
const BUNDLE_NAME: &str = "update.raucb";
const PART_NAME: &str = "update.raucb.part";

/// Why a bundle was not received; `status` is the HTTP status to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveError {
    pub status: u16,
    pub message: String,
}

impl ReceiveError {
    fn new(status: u16, message: impl Into<String>) -> ReceiveError {
        ReceiveError {
            status,
            message: message.into(),
        }
    }
}

/// The limits of one upload.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_bytes: u64,
    pub keep_free_bytes: u64,
}

fn mib(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

/// Removes what an earlier upload or install left in `dir` (a crash, a power cut).
pub fn clean(dir: &Path) {
    for name in [PART_NAME, BUNDLE_NAME] {
        let _ = std::fs::remove_file(dir.join(name));
    }
}

/// Checks `length` (the request's Content-Length) and writes `body` to `dir`; the bundle's path.
pub async fn receive<S, E>(
    dir: &Path,
    limits: &Limits,
    length: Option<u64>,
    body: S,
) -> Result<PathBuf, ReceiveError>
where
    S: Stream<Item = Result<axum::body::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let length =
        length.ok_or_else(|| ReceiveError::new(411, "send the bundle with a Content-Length"))?;
    if length == 0 {
        return Err(ReceiveError::new(400, "the bundle is empty"));
    }
    if length > limits.max_bytes {
        return Err(ReceiveError::new(
            413,
            format!(
                "the bundle is {} MiB; at most {} MiB are accepted",
                mib(length),
                mib(limits.max_bytes)
            ),
        ));
    }
    create_dir(dir).await?;
    clean(dir);
    let free = crate::memories::free_bytes(dir).map_err(|e| {
        tracing::error!(error = %e, dir = %dir.display(), "update: statvfs failed");
        ReceiveError::new(500, "cannot tell how much space is free for the bundle")
    })?;
    let needed = length.saturating_add(limits.keep_free_bytes);
    if free < needed {
        return Err(ReceiveError::new(
            507,
            format!(
                "not enough free space for this bundle: it needs {} MiB ({} MiB with the {} MiB kept free), {} MiB are free",
                mib(length),
                mib(needed),
                mib(limits.keep_free_bytes),
                free >> 20
            ),
        ));
    }
    let part = dir.join(PART_NAME);
    let result = write(&part, length, body).await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&part).await;
        return result.map(|_| PathBuf::new());
    }
    let bundle = dir.join(BUNDLE_NAME);
    tokio::fs::rename(&part, &bundle).await.map_err(|e| {
        tracing::error!(error = %e, "update: cannot rename the bundle");
        ReceiveError::new(500, "cannot store the bundle")
    })?;
    Ok(bundle)
}

async fn create_dir(dir: &Path) -> Result<(), ReceiveError> {
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true).mode(0o700);
    builder.create(dir).await.map_err(|e| {
        tracing::error!(error = %e, dir = %dir.display(), "update: cannot create the bundle directory");
        ReceiveError::new(500, "cannot create the directory for the bundle")
    })
}

async fn write<S, E>(part: &Path, length: u64, mut body: S) -> Result<(), ReceiveError>
where
    S: Stream<Item = Result<axum::body::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let io_error = |e: std::io::Error| {
        if e.raw_os_error() == Some(libc::ENOSPC) {
            ReceiveError::new(
                507,
                "the disk filled up while the bundle was written; nothing was installed",
            )
        } else {
            tracing::error!(error = %e, "update: writing the bundle failed");
            ReceiveError::new(500, "writing the bundle failed; nothing was installed")
        }
    };
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(part)
        .await
        .map_err(io_error)?;
    let mut received: u64 = 0;
    loop {
        let chunk = match tokio::time::timeout(STALL_LIMIT, body.next()).await {
            Err(_) => {
                return Err(ReceiveError::new(
                    408,
                    format!("the upload stalled after {received} of {length} bytes"),
                ))
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                tracing::warn!(error = %e, received, length, "update: the upload broke off");
                return Err(ReceiveError::new(
                    400,
                    format!("the upload broke off after {received} of {length} bytes; nothing was installed"),
                ));
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        received = received.saturating_add(chunk.len() as u64);
        if received > length {
            return Err(ReceiveError::new(
                400,
                "the upload is longer than its Content-Length",
            ));
        }
        file.write_all(&chunk).await.map_err(io_error)?;
    }
    if received != length {
        return Err(ReceiveError::new(
            400,
            format!("the upload ended after {received} of {length} bytes; nothing was installed"),
        ));
    }
    file.sync_all().await.map_err(io_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;

    fn chunks(
        parts: Vec<Result<&'static [u8], &'static str>>,
    ) -> impl Stream<Item = Result<Bytes, &'static str>> + Unpin {
        futures_util::stream::iter(parts.into_iter().map(|p| p.map(Bytes::from_static)))
    }

    const LIMITS: Limits = Limits {
        max_bytes: 1 << 20,
        keep_free_bytes: 0,
    };

    #[tokio::test]
    async fn a_whole_upload_becomes_the_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let path = receive(
            dir.path(),
            &LIMITS,
            Some(6),
            chunks(vec![Ok(b"abc"), Ok(b"def")]),
        )
        .await
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abcdef");
        assert!(!dir.path().join(PART_NAME).exists());
    }

    #[tokio::test]
    async fn bad_uploads_are_refused_and_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        type Case = (Option<u64>, Vec<Result<&'static [u8], &'static str>>, u16);
        let cases: Vec<Case> = vec![
            (None, vec![Ok(b"abc")], 411),
            (Some(0), vec![], 400),
            (Some(2 << 20), vec![Ok(b"abc")], 413),
            (Some(10), vec![Ok(b"abc")], 400),
            (Some(10), vec![Ok(b"abc"), Err("reset")], 400),
            (Some(2), vec![Ok(b"abc")], 400),
            (Some(1 << 20), vec![Ok(b"abc")], 400),
        ];
        for (length, parts, status) in cases {
            let err = receive(dir.path(), &LIMITS, length, chunks(parts))
                .await
                .unwrap_err();
            assert_eq!(err.status, status, "{length:?}: {}", err.message);
            let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
            assert!(left.is_empty(), "{length:?} left {left:?}");
        }
    }

    #[tokio::test]
    async fn too_little_free_space_is_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let free = crate::memories::free_bytes(dir.path()).unwrap();
        let limits = Limits {
            max_bytes: u64::MAX,
            keep_free_bytes: free,
        };
        let err = receive(dir.path(), &limits, Some(1), chunks(vec![Ok(b"a")]))
            .await
            .unwrap_err();
        assert_eq!(err.status, 507);
        assert!(err.message.contains("MiB are free"), "{}", err.message);
    }
}
