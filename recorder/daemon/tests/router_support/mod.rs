//! What the tests that drive the web router in-process (`tower::ServiceExt::oneshot`, no socket)
//! share: a formatted ring file, an empty memories directory, and the answer read whole with
//! helpers for its JSON error shape.

#![allow(dead_code)] // each test binary uses its own subset

use axum::body::{to_bytes, Body};
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use moment_recorder::memories::MemoryStore;
use moment_ring::{format, DirectIo, FileDevice, FormatOptions, OpenOptions, Ring};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use tower::ServiceExt;

/// Largest answer body read (a few test segments).
const MAX_BODY: usize = 64 << 20;

/// A new ring of `size` bytes in `dir/ring.img`, open for writing.
pub fn new_ring(dir: &Path, size: u64) -> Ring<FileDevice> {
    let path = dir.join("ring.img");
    std::fs::File::create(&path).unwrap().set_len(size).unwrap();
    let dev = FileDevice::open(&path, true, DirectIo::Auto).unwrap();
    format(&dev, &FormatOptions::default()).unwrap();
    let dev = FileDevice::open(&path, true, DirectIo::Auto).unwrap();
    Ring::open(dev, OpenOptions::default()).unwrap()
}

/// An empty memories directory `dir/memories`.
pub fn memories(dir: &Path) -> Arc<MemoryStore> {
    Arc::new(MemoryStore::open(&dir.join("memories"), 0).unwrap().0)
}

/// An answer, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    pub fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(&name)
            .unwrap_or_else(|| panic!("no {name}"))
            .to_str()
            .unwrap()
    }

    /// A JSON error with the given status whose message mentions `needle`.
    pub fn expect_error(&self, status: StatusCode, needle: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        let message = self.json()["error"].as_str().unwrap().to_string();
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
}

/// Sends `request` through `router` and reads the answer.
pub async fn send(router: &Router, request: Request<Body>) -> Reply {
    let response = router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: to_bytes(body, MAX_BODY).await.unwrap().to_vec(),
    }
}
