//! The whole web router (`web::router`): login and sessions, the CSRF rule, the per-client login
//! rate limit, and the control routes (status, SSE pushed on change, buttons, time, settings). The
//! media routes run on a real (empty) ring file and memories directory; the daemon is a recording
//! test double of `web::Control` that keeps its settings with the real settings model (the
//! daemon's own `Control` is tested with the service).

mod router_support;

use axum::body::{to_bytes, Body};
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use futures_util::StreamExt;
use moment_recorder::config::Config;
use moment_recorder::control::ButtonName;
use moment_recorder::settings::{self, Patch, SettingsError, SettingsView};
use moment_recorder::web::{
    hash_password, router, AuthConfig, Control, WebState, API_BODY_LIMIT, LOGIN_FAILURES,
    MAX_SSE_CLIENTS, SESSION_COOKIE, SSE_INTERVAL, SSE_MIN_GAP,
};
use moment_ring::{FileDevice, Ring};
use router_support::{memories, new_ring, send, Reply};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::watch;
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery staple";

fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(PASSWORD))
}

/// The daemon's side, recorded.
#[derive(Default)]
struct FakeControl {
    presses: Mutex<Vec<(ButtonName, Duration)>>,
    times: Mutex<Vec<i64>>,
    status_calls: Mutex<u64>,
    ranges: Mutex<Vec<(i64, i64)>>,
    uploads: Mutex<Vec<String>>,
    settings: Mutex<Config>,
    settings_puts: Mutex<u64>,
    /// The answer of the next `put_settings`, instead of applying it.
    settings_refusal: Mutex<Option<SettingsError>>,
    /// The change counter the daemon would bump.
    changes: watch::Sender<u64>,
    /// A daemon without an upload target.
    no_upload_target: std::sync::atomic::AtomicBool,
}

impl Control for FakeControl {
    fn status_json(&self) -> Value {
        let mut calls = self.status_calls.lock().unwrap();
        *calls += 1;
        json!({ "recording": true, "version": "test", "calls": *calls })
    }

    fn press(&self, button: ButtonName, hold: Duration) -> Result<(), String> {
        self.presses.lock().unwrap().push((button, hold));
        Ok(())
    }

    fn set_time(&self, utc_us: i64) -> Result<bool, String> {
        self.times.lock().unwrap().push(utc_us);
        Ok(true)
    }

    fn save_range(&self, from_us: i64, to_us: i64) -> Result<(), String> {
        self.ranges.lock().unwrap().push((from_us, to_us));
        Ok(())
    }

    fn upload_memory(&self, name: &str) -> Result<(), String> {
        self.uploads.lock().unwrap().push(name.to_string());
        Ok(())
    }

    fn has_upload_target(&self) -> bool {
        !self
            .no_upload_target
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    fn settings(&self) -> Value {
        SettingsView::of(&self.settings.lock().unwrap()).to_json()
    }

    fn put_settings(&self, patch: Patch) -> Result<Value, SettingsError> {
        if let Some(refusal) = self.settings_refusal.lock().unwrap().take() {
            return Err(refusal);
        }
        let mut config = self.settings.lock().unwrap();
        let changes = patch.changes_from(&SettingsView::of(&config));
        *config = settings::apply(&config, &changes)?;
        *self.settings_puts.lock().unwrap() += 1;
        Ok(SettingsView::of(&config).to_json())
    }

    fn changes(&self) -> Option<watch::Receiver<u64>> {
        Some(self.changes.subscribe())
    }
}

struct Fixture {
    router: Router,
    control: Arc<FakeControl>,
    _ring: Ring<FileDevice>,
    _dir: tempfile::TempDir,
}

fn fixture_with(hash: &str) -> Fixture {
    fixture_serving(hash, None)
}

/// A fixture whose `web.hls_js` is `hls_js` (written into the fixture's directory).
fn fixture_serving(hash: &str, hls_js: Option<&[u8]>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ring = new_ring(dir.path(), 4 << 20);
    let memories = memories(dir.path());
    let control = Arc::new(FakeControl::default());
    let mut media = WebState::new(ring.reader(), memories);
    if let Some(bytes) = hls_js {
        let path = dir.path().join("hls.min.js");
        std::fs::write(&path, bytes).unwrap();
        media = media.with_hls_js(path);
    }
    let router = router(media, control.clone(), AuthConfig::new(hash));
    Fixture {
        router,
        control,
        _ring: ring,
        _dir: dir,
    }
}

fn fixture() -> Fixture {
    fixture_with(password_hash())
}

/// What this file asks of an answer besides the shared helpers.
impl Reply {
    fn expect_ok(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text());
        self.json()
    }

    /// The session id the reply's `Set-Cookie` sets (empty when it clears it).
    fn session_cookie(&self) -> String {
        let cookie = self
            .headers
            .get(header::SET_COOKIE)
            .expect("a Set-Cookie header")
            .to_str()
            .unwrap();
        let (pair, attributes) = cookie.split_once(';').unwrap();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(attributes.contains(attribute), "{cookie} lacks {attribute}");
        }
        let (name, value) = pair.split_once('=').unwrap();
        assert_eq!(name, SESSION_COOKIE);
        value.to_string()
    }
}

/// A request; `session` becomes the cookie. State-changing requests pass the CSRF rule with
/// `X-Moment: 1` unless `headers` says otherwise (an empty `x-moment` leaves it out).
async fn call(
    router: &Router,
    method: Method,
    uri: &str,
    session: Option<&str>,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(id) = session {
        request = request.header(header::COOKIE, format!("{SESSION_COOKIE}={id}"));
    }
    if !headers.iter().any(|(name, _)| *name == "x-moment") {
        request = request.header("x-moment", "1");
    }
    for (name, value) in headers {
        if !value.is_empty() {
            request = request.header(*name, *value);
        }
    }
    send(router, request.body(body.into()).unwrap()).await
}

async fn get(router: &Router, uri: &str, session: Option<&str>) -> Reply {
    call(router, Method::GET, uri, session, &[], Body::empty()).await
}

async fn post(router: &Router, uri: &str, session: Option<&str>, body: Value) -> Reply {
    call(router, Method::POST, uri, session, &[], body.to_string()).await
}

async fn login(router: &Router, password: &str) -> Reply {
    post(router, "/api/login", None, json!({ "password": password })).await
}

async fn logged_in(router: &Router) -> String {
    let reply = login(router, PASSWORD).await;
    assert_eq!(reply.expect_ok(), json!({ "ok": true }));
    reply.session_cookie()
}

#[tokio::test]
async fn login_wrong_password_is_401_and_right_one_sets_a_session_cookie() {
    let f = fixture();
    login(&f.router, "nope")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "wrong password");
    let reply = login(&f.router, PASSWORD).await;
    reply.expect_ok();
    let id = reply.session_cookie();
    assert_eq!(id.len(), 64);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    // Another login is another session.
    assert_ne!(logged_in(&f.router).await, id);

    post(&f.router, "/api/login", None, json!({}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "password");
    call(
        &f.router,
        Method::POST,
        "/api/login",
        None,
        &[],
        "{not json",
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "not valid JSON");
}

#[tokio::test]
async fn protected_routes_need_a_session() {
    let f = fixture();
    for uri in [
        "/api/status",
        "/api/memories",
        "/hls/live.m3u8",
        "/hls/segment/1.ts",
    ] {
        get(&f.router, uri, None)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "log in");
        get(&f.router, uri, Some(&"0".repeat(64)))
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "log in");
    }
    for uri in ["/api/buttons/save", "/api/buttons/upload", "/api/time"] {
        post(&f.router, uri, None, json!({}))
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "log in");
    }
    assert!(f.control.presses.lock().unwrap().is_empty());

    let id = logged_in(&f.router).await;
    let status = get(&f.router, "/api/status", Some(&id)).await.expect_ok();
    assert_eq!(status["recording"], json!(true));
    assert!(get(&f.router, "/api/memories", Some(&id))
        .await
        .expect_ok()
        .is_array());
    // Past the session check, the media routes answer for themselves.
    let live = get(&f.router, "/hls/live.m3u8", Some(&id)).await;
    assert_ne!(live.status, StatusCode::UNAUTHORIZED, "{}", live.text());
    // Unknown paths are behind the session too.
    get(&f.router, "/api/nothing", None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "log in");
}

#[tokio::test]
async fn logout_ends_the_session() {
    let f = fixture();
    let id = logged_in(&f.router).await;
    let other = logged_in(&f.router).await;
    let reply = post(&f.router, "/api/logout", Some(&id), json!({})).await;
    reply.expect_ok();
    assert_eq!(reply.session_cookie(), "", "the cookie is cleared");
    assert!(reply
        .headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    get(&f.router, "/api/status", Some(&id))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "log in");
    get(&f.router, "/api/status", Some(&other))
        .await
        .expect_ok();
    // Logging out without a session is fine.
    post(&f.router, "/api/logout", None, json!({}))
        .await
        .expect_ok();
}

#[tokio::test]
async fn repeated_wrong_passwords_are_rate_limited() {
    let f = fixture();
    for _ in 0..LOGIN_FAILURES {
        login(&f.router, "guess")
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "wrong password");
    }
    let reply = login(&f.router, "guess").await;
    reply.expect_error(StatusCode::TOO_MANY_REQUESTS, "too many wrong passwords");
    let retry: u64 = reply.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    // Locked out means the right password too.
    login(&f.router, PASSWORD)
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "try again");
}

/// A login from `peer`, as the server passes the peer address (`ConnectInfo`).
async fn login_from(router: &Router, peer: &str, password: &str) -> Reply {
    let peer: SocketAddr = peer.parse().unwrap();
    let request = Request::post("/api/login")
        .header("x-moment", "1")
        .extension(ConnectInfo(peer))
        .body(Body::from(json!({ "password": password }).to_string()))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: to_bytes(body, 1 << 20).await.unwrap().to_vec(),
    }
}

#[tokio::test]
async fn one_client_locked_out_does_not_lock_out_another() {
    let f = fixture();
    let (a, b) = ("192.168.4.20:51000", "192.168.4.21:51000");
    for _ in 0..LOGIN_FAILURES {
        login_from(&f.router, a, "guess")
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "wrong password");
    }
    // A is locked out, from any of its ports and with the right password too.
    login_from(&f.router, "192.168.4.20:51001", PASSWORD)
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "try again");
    // B (the owner) still logs in, and so do requests without a peer address.
    let reply = login_from(&f.router, b, PASSWORD).await;
    reply.expect_ok();
    get(&f.router, "/api/status", Some(&reply.session_cookie()))
        .await
        .expect_ok();
    login(&f.router, PASSWORD).await.expect_ok();
    // B's wrong password counts for B alone.
    login_from(&f.router, b, "typo")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "wrong password");
    login_from(&f.router, b, PASSWORD).await.expect_ok();
    login_from(&f.router, a, PASSWORD)
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "try again");
}

#[tokio::test]
async fn cross_origin_state_changes_are_refused() {
    let f = fixture();
    let id = logged_in(&f.router).await;
    let body = json!({ "hold_ms": 0 }).to_string();
    let save = |headers: &'static [(&'static str, &'static str)]| {
        call(
            &f.router,
            Method::POST,
            "/api/buttons/save",
            Some(&id),
            headers,
            body.clone(),
        )
    };
    // No proof of origin at all.
    save(&[("x-moment", "")])
        .await
        .expect_error(StatusCode::FORBIDDEN, "cross-site");
    // Another site's form or fetch.
    save(&[
        ("x-moment", ""),
        ("host", "moment.local"),
        ("origin", "http://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ])
    .await
    .expect_error(StatusCode::FORBIDDEN, "cross-site");
    // Same host, other port: another origin.
    save(&[
        ("x-moment", ""),
        ("host", "moment.local"),
        ("origin", "http://moment.local:8081"),
    ])
    .await
    .expect_error(StatusCode::FORBIDDEN, "cross-site");
    assert!(f.control.presses.lock().unwrap().is_empty());
    // Login is covered too (no login CSRF).
    call(
        &f.router,
        Method::POST,
        "/api/login",
        None,
        &[("x-moment", ""), ("origin", "http://evil.example")],
        json!({ "password": PASSWORD }).to_string(),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "cross-site");

    // Each accepted proof.
    save(&[("x-moment", ""), ("sec-fetch-site", "same-origin")])
        .await
        .expect_ok();
    save(&[
        ("x-moment", ""),
        ("host", "moment.local:8080"),
        ("origin", "http://moment.local:8080"),
    ])
    .await
    .expect_ok();
    save(&[]).await.expect_ok();
    assert_eq!(f.control.presses.lock().unwrap().len(), 3);
    // Reads need no proof.
    call(
        &f.router,
        Method::GET,
        "/api/status",
        Some(&id),
        &[("x-moment", "")],
        Body::empty(),
    )
    .await
    .expect_ok();
}

#[tokio::test]
async fn no_password_configured_refuses_everything() {
    let f = fixture_with("");
    for uri in [
        "/api/status",
        "/api/memories",
        "/hls/live.m3u8",
        "/api/events",
    ] {
        get(&f.router, uri, None)
            .await
            .expect_error(StatusCode::FORBIDDEN, "set an admin password first");
    }
    post(&f.router, "/api/buttons/save", None, json!({}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "set an admin password first");
    for password in ["", PASSWORD] {
        login(&f.router, password)
            .await
            .expect_error(StatusCode::FORBIDDEN, "set an admin password first");
    }
    assert!(f.control.presses.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_session_says_what_to_show_without_a_refusal() {
    let f = fixture();
    let anonymous = get(&f.router, "/api/session", None).await;
    assert_eq!(
        anonymous.expect_ok(),
        json!({ "logged_in": false, "password_set": true, "setup": false })
    );
    let id = logged_in(&f.router).await;
    let reply = get(&f.router, "/api/session", Some(&id)).await;
    assert_eq!(
        reply.expect_ok(),
        json!({ "logged_in": true, "password_set": true, "setup": false })
    );
}

#[tokio::test]
async fn uploads_without_a_target_are_refused_naming_the_setting() {
    let f = fixture();
    let id = logged_in(&f.router).await;
    f.control
        .no_upload_target
        .store(true, std::sync::atomic::Ordering::SeqCst);
    for uri in [
        "/api/buttons/upload",
        "/api/memories/2026-11-29_10-01-00-MEMORY.mp4/upload",
    ] {
        let reply = post(&f.router, uri, Some(&id), json!({})).await;
        reply.expect_error(StatusCode::CONFLICT, "No upload target is set up");
        assert_eq!(reply.json()["setting"], "upload-target", "{uri}");
    }
    assert!(f.control.presses.lock().unwrap().is_empty());
    assert!(f.control.uploads.lock().unwrap().is_empty());
}

#[tokio::test]
async fn buttons_reach_the_daemon() {
    let f = fixture();
    let id = logged_in(&f.router).await;
    let reply = post(
        &f.router,
        "/api/buttons/save",
        Some(&id),
        json!({ "hold_ms": 6000 }),
    )
    .await;
    assert_eq!(
        reply.expect_ok(),
        json!({ "pressed": "save", "hold_ms": 6000 })
    );
    post(
        &f.router,
        "/api/buttons/save",
        Some(&id),
        json!({ "hold_ms": 120000 }),
    )
    .await
    .expect_ok();
    // The upload button takes an optional hold; no body is a short press.
    call(
        &f.router,
        Method::POST,
        "/api/buttons/upload",
        Some(&id),
        &[],
        Body::empty(),
    )
    .await
    .expect_ok();
    post(
        &f.router,
        "/api/buttons/upload",
        Some(&id),
        json!({ "hold_ms": 1500 }),
    )
    .await
    .expect_ok();
    assert_eq!(
        *f.control.presses.lock().unwrap(),
        vec![
            (ButtonName::Save, Duration::from_secs(6)),
            (ButtonName::Save, Duration::from_secs(120)),
            (ButtonName::Upload, Duration::ZERO),
            (ButtonName::Upload, Duration::from_millis(1500)),
        ]
    );
}

#[tokio::test]
async fn bad_hold_ms_is_a_400_naming_it() {
    let f = fixture();
    let id = logged_in(&f.router).await;
    for bad in [
        json!(120001),
        json!(-1),
        json!(1.5),
        json!("6000"),
        json!(true),
    ] {
        post(
            &f.router,
            "/api/buttons/save",
            Some(&id),
            json!({ "hold_ms": bad }),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "hold_ms");
    }
    for body in ["{\"hold_ms\":", "[6000]"] {
        call(
            &f.router,
            Method::POST,
            "/api/buttons/save",
            Some(&id),
            &[],
            body,
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "body");
    }
    // Over the body limit.
    let big = format!(
        "{{\"hold_ms\":0,\"pad\":\"{}\"}}",
        "x".repeat(API_BODY_LIMIT)
    );
    let reply = call(
        &f.router,
        Method::POST,
        "/api/buttons/save",
        Some(&id),
        &[],
        big,
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.text()
    );
    assert!(f.control.presses.lock().unwrap().is_empty());
}

#[tokio::test]
async fn time_from_the_phone() {
    let f = fixture();
    let id = logged_in(&f.router).await;
    let utc_ms: i64 = 1_795_946_400_123;
    let reply = post(
        &f.router,
        "/api/time",
        Some(&id),
        json!({ "utc_ms": utc_ms }),
    )
    .await;
    assert_eq!(reply.expect_ok(), json!({ "applied": true }));
    assert_eq!(*f.control.times.lock().unwrap(), vec![utc_ms * 1000]);
    for bad in [
        json!({}),
        json!({ "utc_ms": "now" }),
        json!({ "utc_ms": 1.5e12 }),
        json!({ "utc_ms": 1_000 }),
        json!({ "utc_ms": i64::MAX }),
    ] {
        post(&f.router, "/api/time", Some(&id), bad)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "utc_ms");
    }
    assert_eq!(f.control.times.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn events_stream_the_status_and_are_bounded() {
    let f = fixture();
    let id = logged_in(&f.router).await;
    let request = |id: &str| {
        Request::get("/api/events")
            .header(header::COOKIE, format!("{SESSION_COOKIE}={id}"))
            .body(Body::empty())
            .unwrap()
    };
    let response = f.router.clone().oneshot(request(&id)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut body = response.into_body().into_data_stream();
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next())
            .await
            .expect("an event within 5 s")
            .expect("the stream goes on")
            .unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let data = text
        .lines()
        .find_map(|l| l.strip_prefix("data:"))
        .unwrap_or_else(|| panic!("no data line in {text:?}"));
    let status: Value = serde_json::from_str(data.trim()).unwrap();
    assert_eq!(status["recording"], json!(true));
    assert_eq!(status["version"], json!("test"));

    // The open stream holds one of the slots; fill the rest, then one more is refused.
    let mut open = Vec::new();
    for _ in 1..MAX_SSE_CLIENTS {
        let response = f.router.clone().oneshot(request(&id)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        open.push(response);
    }
    let reply = f.router.clone().oneshot(request(&id)).await.unwrap();
    assert_eq!(reply.status(), StatusCode::SERVICE_UNAVAILABLE);
    // A client going away frees its slot.
    drop(body);
    let response = f.router.clone().oneshot(request(&id)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    drop(open);
}

/// The events of one SSE body, one at a time.
struct Events {
    body: axum::body::BodyDataStream,
    buffer: String,
}

impl Events {
    /// The next event's data as JSON (a bounded wait, in the test's time).
    async fn next(&mut self) -> Value {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let data = event
                    .lines()
                    .find_map(|l| l.strip_prefix("data:"))
                    .unwrap_or_else(|| panic!("no data line in {event:?}"));
                return serde_json::from_str(data.trim()).unwrap();
            }
            let chunk = tokio::time::timeout(Duration::from_secs(5), self.body.next())
                .await
                .expect("an event within 5 s")
                .expect("the stream goes on")
                .unwrap();
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

/// Time is paused (it moves only when every task waits), so the figures are exact, not timing.
#[tokio::test(start_paused = true)]
async fn events_are_pushed_on_change_debounced_and_sent_on_a_heartbeat() {
    let f = fixture();
    let id = logged_in(&f.router).await;
    let request = Request::get("/api/events")
        .header(header::COOKIE, format!("{SESSION_COOKIE}={id}"))
        .body(Body::empty())
        .unwrap();
    let response = f.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut events = Events {
        body: response.into_body().into_data_stream(),
        buffer: String::new(),
    };
    let first = events.next().await;
    let calls = |v: &Value| v["calls"].as_u64().unwrap();

    // Nothing changes: the heartbeat, one interval later.
    let t0 = tokio::time::Instant::now();
    let beat = events.next().await;
    assert_eq!(t0.elapsed(), SSE_INTERVAL);
    assert_eq!(calls(&beat), calls(&first) + 1);

    // A change is sent without waiting for the heartbeat, once the minimum gap since the last
    // event has passed.
    let t1 = tokio::time::Instant::now();
    f.control.changes.send_modify(|n| *n += 1);
    let pushed = events.next().await;
    assert_eq!(t1.elapsed(), SSE_MIN_GAP);
    assert_eq!(calls(&pushed), calls(&beat) + 1);
    // Long after the last one, a change goes out at once.
    let quiet = events.next().await;
    let t2 = tokio::time::Instant::now();
    assert_eq!(calls(&quiet), calls(&pushed) + 1, "a heartbeat");
    tokio::time::sleep(SSE_MIN_GAP).await;
    let t3 = tokio::time::Instant::now();
    f.control.changes.send_modify(|n| *n += 1);
    events.next().await;
    assert_eq!(
        t3.elapsed(),
        Duration::ZERO,
        "{:?} after the heartbeat",
        t2.elapsed()
    );

    // A burst of changes (one every 20 ms for 2 s) makes at most one event per SSE_MIN_GAP.
    let changes = f.control.changes.clone();
    let bumper = tokio::spawn(async move {
        for _ in 0..100 {
            changes.send_modify(|n| *n += 1);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let start = tokio::time::Instant::now();
    let mut sent = 0;
    while start.elapsed() < Duration::from_secs(2) {
        events.next().await;
        sent += 1;
    }
    bumper.await.unwrap();
    let most = (2000 / SSE_MIN_GAP.as_millis() + 1) as usize;
    assert!((most - 1..=most).contains(&sent), "{sent} events in 2 s");
}

#[tokio::test]
async fn any_range_is_saved_and_any_memory_uploaded_on_request() {
    let f = fixture();
    let id = logged_in(&f.router).await;
    let reply = post(
        &f.router,
        "/api/memories",
        Some(&id),
        json!({ "from": "2026-11-29T10:00:00Z", "to": 1_795_946_460_000_i64 }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
    assert_eq!(
        *f.control.ranges.lock().unwrap(),
        vec![(1_795_946_400_000_000, 1_795_946_460_000_000)]
    );
    for (bad, named) in [
        (json!({ "to": "2026-11-29T10:00:00Z" }), "from"),
        (
            json!({ "from": "yesterday", "to": "2026-11-29T10:00:00Z" }),
            "from",
        ),
        (
            json!({ "from": "2026-11-29T10:00:00Z", "to": "2026-11-29T09:00:00Z" }),
            "after",
        ),
        (
            json!({ "from": "2026-11-29T00:00:00Z", "to": "2026-11-29T10:00:00Z" }),
            "hours",
        ),
    ] {
        post(&f.router, "/api/memories", Some(&id), bad)
            .await
            .expect_error(StatusCode::BAD_REQUEST, named);
    }
    assert_eq!(f.control.ranges.lock().unwrap().len(), 1);
    post(&f.router, "/api/memories", None, json!({}))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "log in");

    let name = "2026-11-29_10-01-00-MEMORY.mp4";
    let reply = post(
        &f.router,
        &format!("/api/memories/{name}/upload"),
        Some(&id),
        json!({}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
    assert_eq!(*f.control.uploads.lock().unwrap(), vec![name.to_string()]);
    post(
        &f.router,
        "/api/memories/..%2Fetc%2Fpasswd/upload",
        Some(&id),
        json!({}),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "no such memory");
}

async fn put_settings(router: &Router, session: Option<&str>, body: Value) -> Reply {
    call(
        router,
        Method::PUT,
        "/api/settings",
        session,
        &[],
        body.to_string(),
    )
    .await
}

impl Reply {
    /// A 400 whose `field` is `field` and whose message names it and mentions `needle`.
    fn expect_field_error(&self, field: &str, needle: &str) {
        self.expect_error(StatusCode::BAD_REQUEST, needle);
        let json = self.json();
        assert_eq!(json["field"], json!(field), "{json}");
        assert!(json["error"].as_str().unwrap().contains(field), "{json}");
    }
}

#[tokio::test]
async fn settings_need_a_session_and_changes_the_csrf_rule() {
    let f = fixture();
    get(&f.router, "/api/settings", None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "log in");
    put_settings(
        &f.router,
        None,
        json!({ "memories": { "save_minutes": 1 } }),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "log in");
    let id = logged_in(&f.router).await;
    let reply = call(
        &f.router,
        Method::PUT,
        "/api/settings",
        Some(&id),
        &[("x-moment", "")],
        json!({ "memories": { "save_minutes": 1 } }).to_string(),
    )
    .await;
    reply.expect_error(StatusCode::FORBIDDEN, "cross-site");
    assert_eq!(*f.control.settings_puts.lock().unwrap(), 0);

    let settings = get(&f.router, "/api/settings", Some(&id)).await.expect_ok();
    assert_eq!(
        settings,
        json!({
            "memories": { "save_minutes": 3.0, "hold_step_s": 3.0 },
            "upload": { "policy": "immediate", "window": "01:00-05:00", "bwlimit": "", "remote": "" },
            "video": { "width": 1920, "height": 1080, "fps": 30, "bitrate_kbps": 10000 },
        })
    );
}

#[tokio::test]
async fn a_partial_change_answers_the_full_new_settings() {
    let f = fixture();
    let id = logged_in(&f.router).await;
    let settings = put_settings(
        &f.router,
        Some(&id),
        json!({ "memories": { "save_minutes": 0.5 }, "upload": { "policy": "manual" } }),
    )
    .await
    .expect_ok();
    assert_eq!(
        settings["memories"],
        json!({ "save_minutes": 0.5, "hold_step_s": 3.0 })
    );
    assert_eq!(settings["upload"]["policy"], json!("manual"));
    assert_eq!(settings["upload"]["window"], json!("01:00-05:00"));
    assert_eq!(settings["video"]["width"], json!(1920));
    assert_eq!(
        get(&f.router, "/api/settings", Some(&id)).await.expect_ok(),
        settings
    );
    // What GET gave, sent back whole with one change, is that change.
    let mut form = settings.clone();
    form["video"]["fps"] = json!(25);
    let changed = put_settings(&f.router, Some(&id), form).await.expect_ok();
    assert_eq!(changed["video"]["fps"], json!(25));
    assert_eq!(changed["memories"], settings["memories"]);
    assert_eq!(*f.control.settings_puts.lock().unwrap(), 2);
}

#[tokio::test]
async fn bad_settings_are_a_400_naming_the_field() {
    let f = fixture();
    let id = logged_in(&f.router).await;
    let cases = [
        (
            json!({ "memories": { "save_minutes": 99 } }),
            "memories.save_minutes",
            "0.5 to 30",
        ),
        (
            json!({ "memories": { "hold_step_s": "3" } }),
            "memories.hold_step_s",
            "1 to 10",
        ),
        (
            json!({ "upload": { "policy": "often" } }),
            "upload.policy",
            "manual",
        ),
        (
            json!({ "upload": { "window": "nightly" } }),
            "upload.window",
            "HH:MM-HH:MM",
        ),
        (
            json!({ "upload": { "bwlimit": "--fast" } }),
            "upload.bwlimit",
            "--bwlimit",
        ),
        (
            json!({ "video": { "width": 800, "height": 600 } }),
            "video.width",
            "1280x720",
        ),
        (json!({ "video": { "fps": 45 } }), "video.fps", "1 to 30"),
        (
            json!({ "video": { "bitrate_kbps": 50 } }),
            "video.bitrate_kbps",
            "200 to 25000",
        ),
        (
            json!({ "memories": { "save_mins": 1 } }),
            "memories.save_mins",
            "unknown",
        ),
        (json!({ "brightness": 1 }), "brightness", "unknown"),
        (json!({ "video": [] }), "video", "object"),
    ];
    for (body, field, needle) in cases {
        put_settings(&f.router, Some(&id), body)
            .await
            .expect_field_error(field, needle);
    }
    assert_eq!(*f.control.settings_puts.lock().unwrap(), 0);
    call(
        &f.router,
        Method::PUT,
        "/api/settings",
        Some(&id),
        &[],
        "{nope",
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "not valid JSON");
    let big = json!({ "upload": { "bwlimit": "1".repeat(API_BODY_LIMIT) } });
    put_settings(&f.router, Some(&id), big)
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "larger");
    // Unchanged settings.
    let settings = get(&f.router, "/api/settings", Some(&id)).await.expect_ok();
    assert_eq!(settings["memories"]["save_minutes"], json!(3.0));
}

#[tokio::test]
async fn the_daemons_refusals_keep_their_field_and_status() {
    let f = fixture();
    let id = logged_in(&f.router).await;
    let body = json!({ "video": { "fps": 25 } });
    *f.control.settings_refusal.lock().unwrap() = Some(SettingsError::busy(
        "video",
        "the video settings are still being tried; try again in 5 s",
    ));
    let reply = put_settings(&f.router, Some(&id), body.clone()).await;
    reply.expect_error(StatusCode::CONFLICT, "still being tried");
    assert_eq!(reply.json()["field"], json!("video"));
    *f.control.settings_refusal.lock().unwrap() =
        Some(SettingsError::failed("the settings could not be saved"));
    let reply = put_settings(&f.router, Some(&id), body).await;
    reply.expect_error(StatusCode::INTERNAL_SERVER_ERROR, "could not be saved");
    assert_eq!(reply.json().get("field"), None, "no field for a failure");
    // Other errors keep their shape: no "field" member.
    let reply = get(&f.router, "/api/status", None).await;
    assert_eq!(
        reply.json().as_object().unwrap().len(),
        1,
        "{}",
        reply.text()
    );
}

#[tokio::test]
async fn the_app_loads_without_a_session_with_its_security_headers() {
    // Even before a password is set: the app must load to say what to do.
    for f in [fixture(), fixture_with("")] {
        let page = get(&f.router, "/", None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text());
        assert!(page.text().contains("<title>Moment</title>"));
        let h = &page.headers;
        assert!(h[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");

        let script = get(&f.router, "/ui/app.js", None).await;
        assert_eq!(script.status, StatusCode::OK);
        assert!(script.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript"));
        // A repeat visit revalidates in one small answer.
        let etag = script.headers[header::ETAG].to_str().unwrap().to_string();
        let again = call(
            &f.router,
            Method::GET,
            "/ui/app.js",
            None,
            &[("if-none-match", &etag)],
            Body::empty(),
        )
        .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        assert!(again.body.is_empty());
    }
}

#[tokio::test]
async fn every_file_of_the_app_is_served_without_a_session() {
    // A module left out of ui.rs's list would only break the app in a browser.
    let f = fixture();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.contains(&"firmware.js".to_string()), "{names:?}");
    for name in names {
        let reply = get(&f.router, &format!("/ui/{name}"), None).await;
        assert_eq!(reply.status, StatusCode::OK, "/ui/{name}: {}", reply.text());
    }
}

#[tokio::test]
async fn only_the_apps_own_files_are_open() {
    let f = fixture();
    // Unknown files, traversal and the API stay behind the session.
    for uri in [
        "/ui/secret.js",
        "/ui/../src/main.rs",
        "/ui/%2e%2e%2fCargo.toml",
        "/ui/",
        "/api/timeline",
    ] {
        get(&f.router, uri, None)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "log in first");
    }
    let session = logged_in(&f.router).await;
    get(&f.router, "/ui/secret.js", Some(&session))
        .await
        .expect_error(StatusCode::NOT_FOUND, "no such file");
}

#[tokio::test]
async fn hls_js_is_served_from_its_file_and_missing_is_a_clear_404() {
    let f = fixture();
    get(&f.router, "/vendor/hls.min.js", None)
        .await
        .expect_error(StatusCode::NOT_FOUND, "hls.js is not installed");
    let script = b"window.Hls = function () {};";
    let f = fixture_serving(password_hash(), Some(script));
    let reply = get(&f.router, "/vendor/hls.min.js", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.body, script);
    assert!(reply.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
}

#[tokio::test]
async fn the_timeline_of_an_empty_ring_is_empty() {
    let f = fixture();
    let session = logged_in(&f.router).await;
    let timeline = get(&f.router, "/api/timeline", Some(&session))
        .await
        .expect_ok();
    assert_eq!(
        timeline,
        json!({"from_ms": null, "to_ms": null, "segments": 0, "spans": []})
    );
}
