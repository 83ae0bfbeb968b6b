//! The read-only media part of the web API (`web::media_routes`) against a real ring file holding
//! ffmpeg-made H.264 cut by the segmenter, and a real memories directory. Most requests go through
//! the router directly (`oneshot`); one test serves it on a TCP port and lets ffmpeg be the client.

mod router_support;
mod support;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use moment_media::{Clock, Segment, Segmenter, SegmenterConfig};
use moment_recorder::memories::{MemoryStore, Sidecar};
use moment_recorder::web::{format_program_date_time, media_routes, WebState};
use moment_ring::{flags, FileDevice, Ring, SegmentInfo};
use router_support::{memories, new_ring, send, Reply};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;
use support::have_ffmpeg;

/// 2026-11-29T10:00:00Z, where the test recording starts.
const START_US: i64 = 1_795_946_400_000_000;
const MEMORY: &str = "2026-11-29_10-00-00-MEMORY.mp4";

/// 6 s of 320x240 H.264 at 25 fps with a keyframe every second, cut into 2 s segments.
fn fixture() -> &'static [Segment] {
    static FIXTURE: OnceLock<Vec<Segment>> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-f", "lavfi", "-i"])
            .arg("testsrc2=size=320x240:rate=25")
            .args(["-t", "6", "-c:v", "libx264", "-preset", "ultrafast"])
            .args(["-g", "25", "-f", "mpegts", "-"])
            .output()
            .expect("run ffmpeg");
        assert!(out.status.success(), "ffmpeg could not make the fixture");
        let clock = Clock {
            utc_us: START_US,
            utc_synced: true,
            mono_us: 0,
        };
        let config = SegmenterConfig::with_target(Duration::from_secs(2));
        let mut segmenter = Segmenter::new(config).unwrap();
        let mut segments = Vec::new();
        for piece in out.stdout.chunks(64 << 10) {
            segments.extend(segmenter.push(piece, clock));
        }
        segments.extend(segmenter.finish(clock));
        assert!(segments.len() >= 3, "{} segments", segments.len());
        segments
    })
}

/// A ring file of `size` bytes, open for writing.
/// Appends the fixture `loops` times back to back in time; the first segment of every loop is a
/// source restart (its timestamps start over), so it is flagged DISCONTINUITY.
fn append_loops(ring: &mut Ring<FileDevice>, loops: usize) -> Vec<SegmentInfo> {
    let mut utc = ring
        .reader()
        .segments()
        .last()
        .map_or(START_US, SegmentInfo::utc_end_us);
    let mut infos = Vec::new();
    for _ in 0..loops {
        for (i, segment) in fixture().iter().enumerate() {
            let mut meta = segment.meta.clone();
            meta.utc_start_us = utc;
            if i == 0 {
                meta.flags |= flags::DISCONTINUITY;
            }
            utc += meta.duration_us as i64;
            infos.push(ring.append(&meta, &segment.payload).unwrap());
        }
    }
    ring.flush().unwrap();
    infos
}

async fn call(router: &Router, method: Method, uri: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(router, request.body(Body::empty()).unwrap()).await
}

async fn get(router: &Router, uri: &str) -> Reply {
    call(router, Method::GET, uri, &[]).await
}

fn ffprobe_ok(input: &str) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name,width"])
        .args(["-of", "default=nw=1", input])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn live_playlist_is_a_sliding_window() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut ring = new_ring(dir.path(), 64 << 20);
    let router = media_routes(WebState::new(ring.reader(), memories(dir.path())));
    get(&router, "/hls/live.m3u8")
        .await
        .expect_error(StatusCode::SERVICE_UNAVAILABLE, "nothing has been recorded");

    let infos = append_loops(&mut ring, 3);
    let per_loop = fixture().len();
    let reply = get(&router, "/hls/live.m3u8").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header(header::CONTENT_TYPE),
        "application/vnd.apple.mpegurl"
    );
    assert_eq!(reply.header(header::CACHE_CONTROL), "no-cache");
    let text = reply.text();
    let window = &infos[infos.len() - 6..];
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[..3], ["#EXTM3U", "#EXT-X-VERSION:3", lines[2]]);
    let max_us = window.iter().map(|s| s.meta.duration_us).max().unwrap();
    assert_eq!(
        lines[2],
        format!("#EXT-X-TARGETDURATION:{}", max_us.div_ceil(1_000_000))
    );
    assert_eq!(lines[3], format!("#EXT-X-MEDIA-SEQUENCE:{}", window[0].seq));
    let dropped_restarts = infos[..infos.len() - 6]
        .iter()
        .filter(|s| s.meta.flags & flags::DISCONTINUITY != 0)
        .count();
    assert!(dropped_restarts > 0);
    assert!(text.contains(&format!(
        "#EXT-X-DISCONTINUITY-SEQUENCE:{dropped_restarts}\n"
    )));
    assert!(!text.contains("ENDLIST"));
    for info in window {
        let mut entry = String::new();
        if info.meta.flags & flags::DISCONTINUITY != 0 {
            entry.push_str("#EXT-X-DISCONTINUITY\n");
        }
        entry.push_str(&format!(
            "#EXT-X-PROGRAM-DATE-TIME:{}\n#EXTINF:{:.3},\n/hls/segment/{}.ts\n",
            format_program_date_time(info.meta.utc_start_us),
            info.meta.duration_us as f64 / 1e6,
            info.seq
        ));
        assert!(text.contains(&entry), "{entry} missing from\n{text}");
    }
    assert_eq!(text.matches("/hls/segment/").count(), 6);
    // Both restarts inside the window are marked, and nothing else.
    let restarts_in_window = window
        .iter()
        .filter(|s| s.meta.flags & flags::DISCONTINUITY != 0)
        .count();
    assert!(restarts_in_window > 0 && restarts_in_window < 6 / per_loop + 2);
    assert_eq!(
        text.matches("#EXT-X-DISCONTINUITY\n").count(),
        restarts_in_window
    );
    assert!(text.contains("#EXT-X-PROGRAM-DATE-TIME:2026-11-29T10:00:"));
}

#[tokio::test]
async fn range_playlist_covers_what_the_ring_holds() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut ring = new_ring(dir.path(), 64 << 20);
    let infos = append_loops(&mut ring, 2);
    let router = media_routes(WebState::new(ring.reader(), memories(dir.path())));
    let (a, b) = (&infos[1], &infos[3]);
    let from_ms = a.meta.utc_start_us / 1000;
    let to_ms = b.utc_end_us() / 1000;
    let reply = get(
        &router,
        &format!("/hls/range.m3u8?from={from_ms}&to={to_ms}"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        reply.header(header::CONTENT_TYPE),
        "application/vnd.apple.mpegurl"
    );
    let text = reply.text();
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"));
    assert!(text.ends_with("#EXT-X-ENDLIST\n"));
    assert!(text.contains(&format!("#EXT-X-MEDIA-SEQUENCE:{}\n", a.seq)));
    let urls: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let expected: Vec<String> = (a.seq..=b.seq)
        .map(|s| format!("/hls/segment/{s}.ts"))
        .collect();
    assert_eq!(urls, expected);

    // RFC 3339 gives the same, with an offset whose '+' arrived unencoded or encoded.
    let from = format_program_date_time(a.meta.utc_start_us);
    let to = "2026-11-29T12:00:00.000+01:00";
    for to in [to.replace('+', "%2B"), to.to_string()] {
        let reply = get(&router, &format!("/hls/range.m3u8?from={from}&to={to}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert!(reply.text().contains(&format!("/hls/segment/{}.ts", a.seq)));
    }

    get(&router, "/hls/range.m3u8?from=yesterday&to=1")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "from=");
    get(&router, &format!("/hls/range.m3u8?from={from_ms}&to=soon"))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "to=");
    get(&router, &format!("/hls/range.m3u8?from={from_ms}"))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "to is missing");
    get(
        &router,
        &format!("/hls/range.m3u8?from={to_ms}&to={from_ms}"),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "later than");
    get(&router, "/hls/range.m3u8?from=1000&to=2000")
        .await
        .expect_error(StatusCode::NOT_FOUND, "holds nothing");
}

#[tokio::test]
async fn segments_come_straight_from_the_ring() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut ring = new_ring(dir.path(), 64 << 20);
    let infos = append_loops(&mut ring, 1);
    let reader = ring.reader();
    let router = media_routes(WebState::new(reader.clone(), memories(dir.path())));
    for info in &infos {
        let reply = get(&router, &format!("/hls/segment/{}.ts", info.seq)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.header(header::CONTENT_TYPE), "video/mp2t");
        let (_, payload) = reader.read(info.seq).unwrap();
        assert_eq!(reply.body, payload[..], "segment {}", info.seq);
        let file = dir.path().join(format!("{}.ts", info.seq));
        std::fs::write(&file, &reply.body).unwrap();
        let probe = ffprobe_ok(file.to_str().unwrap());
        assert!(probe.contains("codec_name=h264") && probe.contains("width=320"));
    }
    let next = infos.last().unwrap().seq + 1;
    get(&router, &format!("/hls/segment/{next}.ts"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not been recorded yet");
    for bad in [
        "abc.ts",
        "1.mp4",
        "-1.ts",
        ".ts",
        "1",
        "99999999999999999999999.ts",
    ] {
        get(&router, &format!("/hls/segment/{bad}"))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "/hls/segment/42.ts");
    }
}

#[tokio::test]
async fn overwritten_segments_are_gone() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut ring = new_ring(dir.path(), 4 << 20);
    let router = media_routes(WebState::new(ring.reader(), memories(dir.path())));
    let first = append_loops(&mut ring, 1)[0].seq;
    assert_eq!(
        get(&router, &format!("/hls/segment/{first}.ts"))
            .await
            .status,
        StatusCode::OK
    );
    for _ in 0..50 {
        if ring.stats().oldest_seq > first {
            break;
        }
        append_loops(&mut ring, 1);
    }
    assert!(ring.stats().oldest_seq > first, "the ring never wrapped");
    get(&router, &format!("/hls/segment/{first}.ts"))
        .await
        .expect_error(StatusCode::GONE, "no longer in the ring");
    let oldest = ring.stats().oldest_seq;
    assert_eq!(
        get(&router, &format!("/hls/segment/{oldest}.ts"))
            .await
            .status,
        StatusCode::OK
    );
}

/// ffmpeg as a real HTTP client: probes a segment and decodes a range playlist without errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_plays_over_http() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut ring = new_ring(dir.path(), 64 << 20);
    let infos = append_loops(&mut ring, 2);
    let router = media_routes(WebState::new(ring.reader(), memories(dir.path())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let url = format!("{base}/hls/segment/{}.ts", infos[0].seq);
    let probe = tokio::task::spawn_blocking(move || ffprobe_ok(&url))
        .await
        .unwrap();
    assert!(probe.contains("codec_name=h264"), "{probe}");
    let from = infos[0].meta.utc_start_us / 1000;
    let to = infos.last().unwrap().utc_end_us() / 1000;
    let url = format!("{base}/hls/range.m3u8?from={from}&to={to}");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-v", "error", "-i", &url])
            .args(["-f", "null", "-"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
    server.abort();
}

/// A memory of `len` patterned bytes, recorded in the store.
fn add_memory(store: &MemoryStore, name: &str, len: usize) -> Vec<u8> {
    let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(store.dir().join(name), &bytes).unwrap();
    let end = START_US + 30_000_000;
    let sidecar = Sidecar::new_memory(START_US, end, 30_000_000, len as u64, false);
    store.add(name, &sidecar).unwrap();
    bytes
}

#[tokio::test]
async fn memories_list_download_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let ring = new_ring(dir.path(), 4 << 20);
    let store = memories(dir.path());
    let bytes = add_memory(&store, MEMORY, (3 << 20) + 12_345);
    let len = bytes.len();
    let router = media_routes(WebState::new(ring.reader(), store.clone()));

    let list = get(&router, "/api/memories").await;
    assert_eq!(list.status, StatusCode::OK);
    let list = list.json();
    let only = &list.as_array().unwrap()[..];
    assert_eq!(only.len(), 1, "{list}");
    assert_eq!(only[0]["name"], MEMORY);
    assert_eq!(only[0]["size"], len as u64);
    assert_eq!(only[0]["from"], "2026-11-29T10:00:00.000Z");
    assert_eq!(only[0]["to"], "2026-11-29T10:00:30.000Z");
    assert_eq!(only[0]["duration_s"], 30.0);
    assert_eq!(only[0]["upload"], "pending");
    assert_eq!(only[0]["usb_exported"], false);

    let uri = format!("/api/memories/{MEMORY}");
    let full = get(&router, &uri).await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.header(header::CONTENT_TYPE), "video/mp4");
    assert_eq!(full.header(header::ACCEPT_RANGES), "bytes");
    assert_eq!(full.header(header::CONTENT_LENGTH), len.to_string());
    assert!(full.body == bytes, "the whole file differs");

    let ranges = [
        ("bytes=10-19", 10, 19),
        ("bytes=1000000-", 1_000_000, len - 1),
        ("bytes=-100", len - 100, len - 1),
        ("bytes=5-999999999", 5, len - 1),
    ];
    for (range, start, end) in ranges {
        let part = call(&router, Method::GET, &uri, &[("range", range)]).await;
        assert_eq!(part.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            part.header(header::CONTENT_RANGE),
            format!("bytes {start}-{end}/{len}")
        );
        assert_eq!(
            part.header(header::CONTENT_LENGTH),
            (end - start + 1).to_string()
        );
        assert!(part.body == bytes[start..=end], "{range}: wrong bytes");
    }
    let past = call(
        &router,
        Method::GET,
        &uri,
        &[("range", &format!("bytes={len}-"))],
    )
    .await;
    past.expect_error(StatusCode::RANGE_NOT_SATISFIABLE, "bytes");
    assert_eq!(past.header(header::CONTENT_RANGE), format!("bytes */{len}"));
    let several = call(&router, Method::GET, &uri, &[("range", "bytes=0-1,4-5")]).await;
    assert_eq!(several.status, StatusCode::OK);
    assert_eq!(several.body.len(), len);

    // Nothing outside the directory, no dot files, nothing but memory names.
    std::fs::write(store.dir().join(".secret.partial"), b"x").unwrap();
    for bad in [
        "..%2F..%2Fetc%2Fpasswd",
        "%2Fetc%2Fpasswd",
        "..",
        ".secret.partial",
        "2026-11-29_10-00-00-MEMORY.mp4.json",
        "2026-11-29_10-00-00-MEMORY.mp4%2F..%2F..%2Fring.img",
        "2026-11-29_10-00-01-MEMORY.mp4",
    ] {
        for method in [Method::GET, Method::DELETE] {
            call(&router, method, &format!("/api/memories/{bad}"), &[])
                .await
                .expect_error(StatusCode::NOT_FOUND, "GET /api/memories");
        }
    }
    assert!(dir.path().join("ring.img").exists());

    let deleted = call(&router, Method::DELETE, &uri, &[]).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text());
    assert!(!store.dir().join(MEMORY).exists());
    get(&router, &uri)
        .await
        .expect_error(StatusCode::NOT_FOUND, "no memory called");
    call(&router, Method::DELETE, &uri, &[])
        .await
        .expect_error(StatusCode::NOT_FOUND, "no memory called");
    assert_eq!(
        get(&router, "/api/memories").await.json(),
        serde_json::json!([])
    );
}
