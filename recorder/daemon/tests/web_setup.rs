//! The setup wizard's API and the captive portal through the whole router (`web::
//! router_with_setup`), with a recording double of the daemon's `Setup`: closed setup is a 404,
//! open setup needs no session until an admin password exists, the form's checks name their field,
//! a good form sets the admin password once the daemon says it joined and saved it (not before:
//! a wrong Wi-Fi password keeps the wizard open), and in access-point mode every other host and every
//! connectivity probe is redirected to the portal.

mod router_support;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use moment_recorder::control::ButtonName;
use moment_recorder::network::manager::SavedNetwork;
use moment_recorder::settings::{Patch, SettingsError};
use moment_recorder::upload::remote_setup::RemoteSpec;
use moment_recorder::web::{
    router_with_setup, AuthConfig, Control, Pending, Setup, SetupError, SetupForm, WebState,
};
use moment_ring::{FileDevice, Ring};
use router_support::{memories, new_ring, send};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceExt;

struct NoControl;

impl Control for NoControl {
    fn status_json(&self) -> Value {
        json!({})
    }
    fn press(&self, _: ButtonName, _: Duration) -> Result<(), String> {
        Ok(())
    }
    fn set_time(&self, _: i64) -> Result<bool, String> {
        Ok(false)
    }
    fn save_range(&self, _: i64, _: i64) -> Result<(), String> {
        Ok(())
    }
    fn upload_memory(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
    fn settings(&self) -> Value {
        json!({})
    }
    fn put_settings(&self, _: Patch) -> Result<Value, SettingsError> {
        Err(SettingsError::failed("none"))
    }
}

#[derive(Default)]
struct FakeSetup {
    open: AtomicBool,
    captive: AtomicBool,
    submitted: Mutex<Vec<(String, bool, Option<String>)>>,
    joined: Mutex<Vec<String>>,
    /// The submitted admin password and whom to tell once "saved" (the daemon: once joined).
    admin: Mutex<Option<(String, moment_recorder::web::AdminSaved)>>,
}

impl FakeSetup {
    /// What the daemon does once the wizard's network has connected: saves the admin password.
    fn join_succeeds(&self) {
        let (hash, saved) = self
            .admin
            .lock()
            .unwrap()
            .take()
            .expect("a submitted password");
        saved(hash);
    }
}

impl Setup for FakeSetup {
    fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }
    fn captive(&self) -> bool {
        self.captive.load(Ordering::SeqCst)
    }
    fn portal_url(&self) -> String {
        "http://192.168.4.1:8080/".into()
    }
    fn view(&self) -> Value {
        json!({ "ap_ssid": "Moment-AB0C", "networks": [] })
    }
    fn rescan(&self) -> Result<(), String> {
        Ok(())
    }
    fn test_upload(&self, _: RemoteSpec) -> Pending<Result<(), SetupError>> {
        Box::pin(async {
            Err(SetupError::failed(
                502,
                "the test upload failed: unreachable",
            ))
        })
    }
    fn network(&self) -> Value {
        json!({ "mode": "station", "station_ssid": "HomeNet", "networks": [] })
    }
    fn join(&self, wifi: SavedNetwork) -> Result<(), SetupError> {
        self.joined.lock().unwrap().push(wifi.ssid);
        Ok(())
    }
    fn submit(&self, form: SetupForm) -> Pending<Result<String, SetupError>> {
        self.submitted.lock().unwrap().push((
            form.wifi.ssid.clone(),
            form.admin_password_hash.is_some(),
            form.upload.map(|u| u.kind),
        ));
        if let (Some(hash), Some(saved)) = (form.admin_password_hash, form.admin_saved) {
            *self.admin.lock().unwrap() = Some((hash, saved));
        }
        Box::pin(async move { Ok(form.wifi.ssid) })
    }
}

struct Fixture {
    router: Router,
    setup: Arc<FakeSetup>,
    _ring: Ring<FileDevice>,
    _dir: tempfile::TempDir,
}

fn fixture(hash: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ring = new_ring(dir.path(), 4 << 20);
    let memories = memories(dir.path());
    let setup = Arc::new(FakeSetup::default());
    setup.open.store(true, Ordering::SeqCst);
    let router = router_with_setup(
        WebState::new(ring.reader(), memories),
        Arc::new(NoControl),
        AuthConfig::new(hash),
        Some(setup.clone() as Arc<dyn Setup>),
    );
    Fixture {
        router,
        setup,
        _ring: ring,
        _dir: dir,
    }
}

async fn call(
    router: &Router,
    method: Method,
    uri: &str,
    host: &str,
    cookie: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, host)
        .header("x-moment", "1");
    if let Some(c) = cookie {
        request = request.header(header::COOKIE, c);
    }
    let body = body.map(|b| Body::from(b.to_string())).unwrap_or_default();
    let reply = send(router, request.body(body).unwrap()).await;
    let json = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    (reply.status, reply.headers, json)
}

const HOST: &str = "192.168.4.1:8080";

fn form() -> Value {
    json!({
        "wifi": { "ssid": "HomeNet", "password": "moment-home" },
        "admin_password": "a good password",
        "time_utc_ms": 1_795_000_000_000_i64,
        "upload": null,
        "policy": "immediate",
    })
}

#[tokio::test]
async fn closed_setup_is_not_found() {
    let f = fixture("");
    f.setup.open.store(false, Ordering::SeqCst);
    for (method, uri) in [
        (Method::GET, "/api/setup"),
        (Method::POST, "/api/setup"),
        (Method::POST, "/api/setup/scan"),
    ] {
        let (status, _, body) = call(&f.router, method, uri, HOST, None, Some(form())).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {body}");
        assert!(body["error"]
            .as_str()
            .unwrap()
            .contains("setup is finished"));
    }
    assert!(f.setup.submitted.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_new_recorder_is_set_up_without_a_session_and_then_needs_the_password() {
    let f = fixture("");
    let (status, _, view) = call(&f.router, Method::GET, "/api/setup", HOST, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["ap_ssid"], "Moment-AB0C");
    assert_eq!(view["admin_password_set"], false);
    // Everything else still waits for a password.
    let (status, _, _) = call(&f.router, Method::GET, "/api/status", HOST, None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Each check names its field; nothing reaches the daemon.
    let cases = [
        (
            json!({ "wifi": { "ssid": "" }, "admin_password": "a good password" }),
            "wifi.ssid",
        ),
        (json!({ "admin_password": "a good password" }), "wifi.ssid"),
        (
            json!({ "wifi": { "ssid": "HomeNet", "password": "short" }, "admin_password": "a good password" }),
            "wifi.password",
        ),
        (
            json!({ "wifi": { "ssid": "HomeNet", "password": "moment-home" } }),
            "admin_password",
        ),
        (
            json!({ "wifi": { "ssid": "HomeNet", "password": "moment-home" }, "admin_password": "1234567" }),
            "admin_password",
        ),
        (
            json!({ "wifi": { "ssid": "HomeNet" }, "admin_password": "a good password", "time_utc_ms": 5 }),
            "time_utc_ms",
        ),
        (
            json!({ "wifi": { "ssid": "HomeNet" }, "admin_password": "a good password", "upload": { "kind": "x", "colour": 1 } }),
            "upload",
        ),
    ];
    for (body, field) in cases {
        let (status, _, answer) = call(
            &f.router,
            Method::POST,
            "/api/setup",
            HOST,
            None,
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}: {answer}");
    }
    assert!(f.setup.submitted.lock().unwrap().is_empty());

    let (status, _, answer) = call(
        &f.router,
        Method::POST,
        "/api/setup",
        HOST,
        None,
        Some(form()),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["joining"], "HomeNet");
    assert_eq!(
        *f.setup.submitted.lock().unwrap(),
        vec![("HomeNet".to_string(), true, None)]
    );
    // Not joined yet: nothing is taken, the wizard stays open without a session (a wrong Wi-Fi
    // password brings the owner back here).
    let (status, _, view) = call(&f.router, Method::GET, "/api/setup", HOST, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["admin_password_set"], false);
    // Joined and saved: setup (open until the daemon closes it) needs a session now.
    f.setup.join_succeeds();
    let (status, _, _) = call(&f.router, Method::GET, "/api/setup", HOST, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, headers, _) = call(
        &f.router,
        Method::POST,
        "/api/login",
        HOST,
        None,
        Some(json!({ "password": "a good password" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let cookie = headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let (status, _, view) = call(
        &f.router,
        Method::GET,
        "/api/setup",
        HOST,
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["admin_password_set"], true);
    // The test upload's failure comes back as the daemon said it.
    let (status, _, answer) = call(
        &f.router,
        Method::POST,
        "/api/setup/test-upload",
        HOST,
        Some(&cookie),
        Some(json!({ "upload": { "kind": "webdav", "fields": { "url": "http://x" } } })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{answer}");
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .contains("test upload failed"));
}

#[tokio::test]
async fn a_cross_site_form_is_refused() {
    let f = fixture("");
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/setup")
        .header(header::HOST, HOST)
        .header("origin", "http://evil.example")
        .body(Body::from(form().to_string()))
        .unwrap();
    let response = f.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(f.setup.submitted.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_captive_portal_sends_every_other_host_and_the_probes_to_the_wizard() {
    let f = fixture("");
    f.setup.captive.store(true, Ordering::SeqCst);
    for (host, path) in [
        ("connectivitycheck.gstatic.com", "/generate_204"),
        ("captive.apple.com", "/hotspot-detect.html"),
        ("www.msftconnecttest.com", "/connecttest.txt"),
        ("www.msftncsi.com", "/ncsi.txt"),
        ("made-up.example", "/"),
        ("made-up.example", "/some/page?x=1"),
        (HOST, "/generate_204"),
    ] {
        let (status, headers, _) = call(&f.router, Method::GET, path, host, None, None).await;
        assert_eq!(status, StatusCode::FOUND, "{host}{path}");
        assert_eq!(
            headers[header::LOCATION],
            "http://192.168.4.1:8080/",
            "{host}{path}"
        );
    }
    // The recorder's own names get the app.
    for host in [HOST, "192.168.4.1", "moment.local"] {
        let (status, _, _) = call(&f.router, Method::GET, "/api/setup", host, None, None).await;
        assert_eq!(status, StatusCode::OK, "{host}");
    }
    // Not an access point: no redirects.
    f.setup.captive.store(false, Ordering::SeqCst);
    let (status, _, _) = call(
        &f.router,
        Method::GET,
        "/generate_204",
        "connectivitycheck.gstatic.com",
        None,
        None,
    )
    .await;
    assert_ne!(status, StatusCode::FOUND);
}

#[tokio::test]
async fn the_settings_change_the_network_and_the_upload_target_behind_the_session() {
    let hash = moment_recorder::web::hash_password("owner password");
    let f = fixture(&hash);
    f.setup.open.store(false, Ordering::SeqCst);
    let join = json!({ "ssid": "Neighbours", "password": "their-password" });
    for (method, uri, body) in [
        (Method::GET, "/api/network", None),
        (Method::POST, "/api/network/join", Some(join.clone())),
        (
            Method::PUT,
            "/api/upload-target",
            Some(json!({ "kind": "webdav" })),
        ),
    ] {
        let (status, _, _) = call(&f.router, method, uri, HOST, None, body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
    }
    let (_, headers, _) = call(
        &f.router,
        Method::POST,
        "/api/login",
        HOST,
        None,
        Some(json!({ "password": "owner password" })),
    )
    .await;
    let cookie = headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let (status, _, net) = call(
        &f.router,
        Method::GET,
        "/api/network",
        HOST,
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(
        (status, net["station_ssid"].clone()),
        (StatusCode::OK, json!("HomeNet"))
    );
    let (status, _, answer) = call(
        &f.router,
        Method::POST,
        "/api/network/join",
        HOST,
        Some(&cookie),
        Some(json!({ "ssid": "Neighbours", "password": "short" })),
    )
    .await;
    assert_eq!(
        (status, answer["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("wifi.password"))
    );
    let (status, _, answer) = call(
        &f.router,
        Method::POST,
        "/api/network/join",
        HOST,
        Some(&cookie),
        Some(join),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(*f.setup.joined.lock().unwrap(), ["Neighbours"]);
    // The test double of the daemon has no uploads: the API says so instead of pretending.
    let (status, _, answer) = call(
        &f.router,
        Method::PUT,
        "/api/upload-target",
        HOST,
        Some(&cookie),
        Some(json!({ "kind": "webdav", "fields": { "url": "https://x" }, "path": "m" })),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{answer}");
    let (status, _, answer) = call(
        &f.router,
        Method::PUT,
        "/api/upload-target",
        HOST,
        Some(&cookie),
        Some(json!({ "kind": "webdav", "colour": "red" })),
    )
    .await;
    assert_eq!(
        (status, answer["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("upload"))
    );
}
