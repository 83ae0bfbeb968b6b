//! The first-boot setup wizard's API and the captive portal. While the recorder is its own access
//! point, every web request for another host (and the phones' connectivity probes) is redirected to
//! the recorder, which makes a phone open the wizard by itself. The wizard's routes exist only in
//! setup mode; they are open without a session only while no admin password is set, because that
//! is when anyone in range of the access point is, by definition, the owner setting it up.

use super::api::{body_bytes, json_object};
use super::auth::{self, AuthState};
use super::ApiError;
use crate::network::manager::SavedNetwork;
use crate::upload::remote_setup::RemoteSpec;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Shortest admin password the wizard takes.
pub const MIN_ADMIN_PASSWORD: usize = 8;

/// A boxed future, for the trait's slow steps (rclone, the network).
pub type Pending<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A refusal from the daemon: which field of the form and why; `status` 400 unless given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupError {
    pub status: u16,
    pub field: Option<String>,
    pub message: String,
}

impl SetupError {
    pub fn field(field: &str, message: impl Into<String>) -> SetupError {
        SetupError {
            status: 400,
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    pub fn failed(status: u16, message: impl Into<String>) -> SetupError {
        SetupError {
            status,
            field: None,
            message: message.into(),
        }
    }
}

impl From<SetupError> for ApiError {
    fn from(e: SetupError) -> ApiError {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
        let error = ApiError::new(status, e.message);
        match e.field {
            Some(field) => error.with_field(field),
            None => error,
        }
    }
}

/// Told the admin password hash once the daemon has saved it (the web's logins take it then).
pub type AdminSaved = Arc<dyn Fn(String) + Send + Sync>;

/// The wizard's answers, checked by the web (shape, password) and then by the daemon.
#[derive(Clone)]
pub struct SetupForm {
    pub wifi: SavedNetwork,
    /// argon2 hash of a new admin password (None: keep the one set).
    pub admin_password_hash: Option<String>,
    /// Called with the hash once it is saved: only after the network has connected, so a wrong
    /// Wi-Fi password leaves the wizard open without a login.
    pub admin_saved: Option<AdminSaved>,
    pub time_utc_ms: Option<i64>,
    pub upload: Option<RemoteSpec>,
    pub policy: Option<String>,
    pub window: Option<String>,
}

/// What the web needs from the daemon for setup; the service implements it.
pub trait Setup: Send + Sync + 'static {
    /// The wizard is open (no network yet, a button reset, or a new network not joined yet).
    fn is_open(&self) -> bool;
    /// The recorder is an access point now: answer every host with the portal.
    fn captive(&self) -> bool;
    /// Where the portal sends phones, e.g. `http://192.168.4.1/`.
    fn portal_url(&self) -> String;
    /// The wizard's data: networks, the access point's name, the last failure, what is set.
    fn view(&self) -> Value;
    fn rescan(&self) -> Result<(), String>;
    /// Writes and deletes a small file with this upload target.
    fn test_upload(&self, spec: RemoteSpec) -> Pending<Result<(), SetupError>>;
    /// Checks the whole wizard, then joins its network; the rest is saved only once that network
    /// has connected. Answers the network it now tries.
    fn submit(&self, form: SetupForm) -> Pending<Result<String, SetupError>>;
    /// The network for the settings page: mode, networks seen, the one joined, its address.
    fn network(&self) -> Value;
    /// Joins another network (from the settings, behind the session); checked first.
    fn join(&self, wifi: SavedNetwork) -> Result<(), SetupError>;
}

#[derive(Clone)]
struct SetupState {
    setup: Arc<dyn Setup>,
    auth: Arc<AuthState>,
}

/// `/api/setup`, `/api/setup/scan`, `/api/setup/test-upload` (the guard decides who may).
pub(crate) fn routes(setup: Arc<dyn Setup>, auth: Arc<AuthState>) -> Router {
    Router::new()
        .route("/api/setup", get(view).post(submit))
        .route("/api/setup/scan", post(rescan))
        .route("/api/setup/test-upload", post(test_upload))
        .route("/api/network", get(network))
        .route("/api/network/join", post(join))
        .with_state(SetupState { setup, auth })
}

/// Paths of the setup API.
pub(crate) fn is_setup_path(path: &str) -> bool {
    path == "/api/setup" || path.starts_with("/api/setup/")
}

/// The answer when setup is closed.
pub(crate) fn closed() -> ApiError {
    ApiError::not_found(
        "setup is finished: log in and change the Wi-Fi or the upload target in the settings",
    )
}

/// Connectivity probes of Android, Apple and Windows: anything but their expected answer makes
/// the phone open the portal.
const PROBES: &[&str] = &[
    "/generate_204",
    "/gen_204",
    "/hotspot-detect.html",
    "/library/test/success.html",
    "/connecttest.txt",
    "/ncsi.txt",
    "/redirect",
    "/canonical.html",
    "/success.txt",
];

/// In access-point mode: a redirect to the portal for probes and for requests to any other host.
pub(crate) fn captive_redirect(
    setup: &dyn Setup,
    path: &str,
    headers: &HeaderMap,
) -> Option<Response> {
    if !setup.captive() {
        return None;
    }
    let portal = setup.portal_url();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let ours = is_our_host(host, &portal);
    if ours && !PROBES.contains(&path) {
        return None;
    }
    Some(
        (
            StatusCode::FOUND,
            [
                (header::LOCATION, portal),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            "",
        )
            .into_response(),
    )
}

fn is_our_host(host: &str, portal: &str) -> bool {
    let portal_host = portal
        .split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or(""))
        .unwrap_or("");
    let host = host_name(host);
    host == host_name(portal_host)
        || ["moment.local", "localhost", "127.0.0.1"].contains(&host.as_str())
}

/// A Host header's name without its port, lowercase.
fn host_name(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("").to_string();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_string(),
        _ => host,
    }
}

async fn view(State(s): State<SetupState>) -> Result<Json<Value>, ApiError> {
    if !s.setup.is_open() {
        return Err(closed());
    }
    let mut view = s.setup.view();
    if let Some(map) = view.as_object_mut() {
        map.insert("admin_password_set".into(), Value::Bool(s.auth.is_set()));
    }
    Ok(Json(view))
}

async fn rescan(State(s): State<SetupState>) -> Result<impl IntoResponse, ApiError> {
    if !s.setup.is_open() {
        return Err(closed());
    }
    s.setup
        .rescan()
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, e))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "scanning": true })),
    ))
}

fn remote_spec(value: &Value) -> Result<RemoteSpec, ApiError> {
    serde_json::from_value(value.clone()).map_err(|e| {
        ApiError::bad_request(format!(
            "upload must be {{\"kind\", \"fields\", \"path\"}}: {e}"
        ))
        .with_field("upload")
    })
}

async fn test_upload(
    State(s): State<SetupState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    if !s.setup.is_open() {
        return Err(closed());
    }
    let body = json_object(&body_bytes(body)?)?;
    let spec = remote_spec(body.get("upload").unwrap_or(&Value::Null))?;
    s.setup.test_upload(spec).await?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

fn text(body: &Map<String, Value>, key: &str, field: &str) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(format!("{field} must be text")).with_field(field)),
    }
}

/// `GET /api/network` (session): the network as the settings page shows it.
async fn network(State(s): State<SetupState>) -> Json<Value> {
    Json(s.setup.network())
}

/// The `wifi` part of a form, checked; the field at fault otherwise.
fn wifi_of(wifi: &Map<String, Value>) -> Result<SavedNetwork, ApiError> {
    let ssid = text(wifi, "ssid", "wifi.ssid")?.unwrap_or_default();
    let network = SavedNetwork {
        ssid: ssid.trim().to_string(),
        passphrase: text(wifi, "password", "wifi.password")?.filter(|p| !p.is_empty()),
        hidden: wifi.get("hidden").and_then(Value::as_bool).unwrap_or(false),
    };
    if let Err(e) = network.station() {
        let field = if network.ssid.is_empty() || e.contains("name") {
            "wifi.ssid"
        } else {
            "wifi.password"
        };
        return Err(ApiError::bad_request(e).with_field(field));
    }
    Ok(network)
}

/// Refuses an empty password for a network the last scan saw as secured (`view`'s `networks`):
/// saved, it could only fail to join, after the phone has lost the access point.
fn password_needed(view: &Value, network: &SavedNetwork) -> Result<(), ApiError> {
    if network.passphrase.is_some() {
        return Ok(());
    }
    let secured = view
        .get("networks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|n| {
            n.get("ssid").and_then(Value::as_str) == Some(network.ssid.as_str())
                && n.get("secured").and_then(Value::as_bool) == Some(true)
        });
    if secured {
        return Err(
            ApiError::bad_request(format!("{} needs its Wi-Fi password", network.ssid))
                .with_field("wifi.password"),
        );
    }
    Ok(())
}

/// `POST /api/network/join {"ssid", "password", "hidden"}` (session): 202, then the recorder
/// leaves the current network for this one (and comes back as an access point if it cannot).
async fn join(
    State(s): State<SetupState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let network = wifi_of(&json_object(&body_bytes(body)?)?)?;
    password_needed(&s.setup.network(), &network)?;
    let ssid = network.ssid.clone();
    s.setup.join(network)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "joining": ssid })),
    )
        .into_response())
}

/// `POST /api/setup`: checks the form, 202 `{"joining": SSID}`; the recorder then leaves its
/// access point for that network and saves the form once it has joined.
async fn submit(
    State(s): State<SetupState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if !s.setup.is_open() {
        return Err(closed());
    }
    let body = json_object(&body_bytes(body)?)?;
    let wifi = match body.get("wifi") {
        Some(Value::Object(w)) => w.clone(),
        _ => {
            return Err(
                ApiError::bad_request("choose the Wi-Fi network to join").with_field("wifi.ssid")
            )
        }
    };
    let network = wifi_of(&wifi)?;
    password_needed(&s.setup.view(), &network)?;
    let password = text(&body, "admin_password", "admin_password")?.filter(|p| !p.is_empty());
    let hash = match password {
        Some(p) if p.chars().count() < MIN_ADMIN_PASSWORD || p.len() > auth::MAX_PASSWORD_BYTES => {
            return Err(ApiError::bad_request(format!(
                "the admin password needs at least {MIN_ADMIN_PASSWORD} characters"
            ))
            .with_field("admin_password"))
        }
        Some(p) => Some(
            tokio::task::spawn_blocking(move || auth::hash_password(&p))
                .await
                .map_err(super::error::join_failed)?,
        ),
        None if !s.auth.is_set() => {
            return Err(
                ApiError::bad_request("choose an admin password for the web page")
                    .with_field("admin_password"),
            )
        }
        None => None,
    };
    let time_utc_ms = match body.get("time_utc_ms") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .filter(|ms| (super::EARLIEST_UTC_MS..super::LATEST_UTC_MS).contains(ms))
                .ok_or_else(|| {
                    ApiError::bad_request("time_utc_ms must be the phone's time in ms since 1970")
                        .with_field("time_utc_ms")
                })?,
        ),
    };
    let upload = match body.get("upload") {
        None | Some(Value::Null) => None,
        Some(v) => Some(remote_spec(v)?),
    };
    let auth = s.auth.clone();
    let form = SetupForm {
        wifi: network,
        admin_saved: hash
            .is_some()
            .then(|| Arc::new(move |hash| auth.set_password_hash(hash)) as AdminSaved),
        admin_password_hash: hash,
        time_utc_ms,
        upload,
        policy: text(&body, "policy", "upload.policy")?,
        window: text(&body, "window", "upload.window")?,
    };
    let joining = s.setup.submit(form).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "joining": joining })),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secured_network_needs_a_password() {
        let view = serde_json::json!({ "networks": [
            { "ssid": "HomeNet", "signal_dbm": -40, "secured": true },
            { "ssid": "Cafe", "signal_dbm": -60, "secured": false },
        ]});
        let network = |ssid: &str, password: Option<&str>| SavedNetwork {
            ssid: ssid.into(),
            passphrase: password.map(str::to_string),
            hidden: false,
        };
        let refused = password_needed(&view, &network("HomeNet", None)).unwrap_err();
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert_eq!(refused.field.as_deref(), Some("wifi.password"));
        assert!(refused.message.contains("HomeNet needs its Wi-Fi password"));
        assert!(password_needed(&view, &network("HomeNet", Some("moment-home"))).is_ok());
        assert!(
            password_needed(&view, &network("Cafe", None)).is_ok(),
            "open"
        );
        assert!(
            password_needed(&view, &network("Hidden", None)).is_ok(),
            "not seen"
        );
    }

    #[test]
    fn our_own_names_are_not_redirected() {
        let portal = "http://192.168.4.1:8080/";
        for host in [
            "192.168.4.1:8080",
            "192.168.4.1",
            "moment.local",
            "MOMENT.LOCAL:80",
            "localhost:8080",
        ] {
            assert!(is_our_host(host, portal), "{host}");
        }
        for host in [
            "connectivitycheck.gstatic.com",
            "captive.apple.com:80",
            "made-up.example",
            "",
        ] {
            assert!(!is_our_host(host, portal), "{host}");
        }
    }
}
