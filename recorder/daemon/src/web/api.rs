//! The control part of the API: status (plain and as a live SSE stream), the two buttons exactly as
//! the physical ones, the time from the phone, and the settings (their handlers in settings.rs).
//! The daemon is reached through [`Control`], which the service implements; the auth middleware
//! (auth.rs) stands in front of all of it.
//!
//! The SSE stream sends the status when the daemon says something a person sees has changed
//! ([`Control::changes`]: a save, an upload, the LED, an event), at most one event per
//! [`SSE_MIN_GAP`], so a press shows at once without a flood; and every [`SSE_INTERVAL`] anyway,
//! because the ring's figures change all the time and a silent stream looks dead.

use super::auth::{self, AuthState};
use super::ApiError;
use crate::control::{ButtonName, MAX_HOLD};
use crate::settings::{Patch, SettingsError};
use axum::body::Bytes;
use axum::error_handling::HandleErrorLayer;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::Stream;
use serde_json::{Map, Value};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Interval, MissedTickBehavior};

/// Largest request body the API routes accept.
pub const API_BODY_LIMIT: usize = 16 << 10;
/// Live status streams open at once; one more is a 503.
pub const MAX_SSE_CLIENTS: usize = 16;
/// How often a live status stream sends the status when nothing else made it send.
pub const SSE_INTERVAL: Duration = Duration::from_secs(1);
/// Shortest time between two events of one stream: changes closer together are sent as one, so a
/// busy save or upload makes at most 5 events per second.
pub const SSE_MIN_GAP: Duration = Duration::from_millis(200);
/// The times `POST /api/time` accepts: 2020-01-01 to 2100-01-01 (ms since the epoch, UTC).
pub const EARLIEST_UTC_MS: i64 = 1_577_836_800_000;
pub const LATEST_UTC_MS: i64 = 4_102_444_800_000;

/// What the web needs from the daemon; the service implements it for its shared state.
pub trait Control: Send + Sync + 'static {
    /// The daemon's status, as `GET /api/status` sends it.
    fn status_json(&self) -> serde_json::Value;
    /// Presses `button` now and releases it after `hold`, like the physical button. Returns as soon
    /// as the press is under way; the error is a message for the user.
    fn press(&self, button: ButtonName, hold: Duration) -> Result<(), String>;
    /// A time from the user (µs since the epoch, UTC), taken only while the clock is not
    /// synchronised: `Ok(true)` when applied, `Ok(false)` when ignored because it is.
    fn set_time(&self, utc_us: i64) -> Result<bool, String>;
    /// Saves `[from_us, to_us)` of the ring as a memory, like a SAVE of that range. Returns once
    /// the save is under way (it shows in the status); the error is a message for the user.
    fn save_range(&self, from_us: i64, to_us: i64) -> Result<(), String>;
    /// Uploads the memory `name` now, ahead of the policy; the error is a message for the user.
    fn upload_memory(&self, name: &str) -> Result<(), String>;
    /// Whether an upload target is set up; without one the UPLOAD button and "upload this memory"
    /// are refused with a message that says so. The default: set up.
    fn has_upload_target(&self) -> bool {
        true
    }
    /// The runtime settings, as `GET /api/settings` sends them (`settings::SettingsView`).
    fn settings(&self) -> serde_json::Value;
    /// Applies a parsed change (`PUT /api/settings`): checks it, keeps it in the overlay file and
    /// applies it live; answers the full new settings. May write a file: call it off the async
    /// threads. Never waits on the recording threads.
    fn put_settings(&self, patch: Patch) -> Result<serde_json::Value, SettingsError>;
    /// A counter the daemon bumps whenever something a person sees in the status changes (a save
    /// or an upload starting, progressing or finishing, the LED, a new event), so that
    /// `/api/events` sends at once. `None` (the default): the stream sends every [`SSE_INTERVAL`]
    /// only.
    fn changes(&self) -> Option<watch::Receiver<u64>> {
        None
    }
    /// The firmware updater (`/api/update`); `None` (the default): the routes answer 501.
    fn updates(&self) -> Option<Arc<dyn super::Updates>> {
        None
    }
    /// Makes `spec` the upload target (the `moment` remote in rclone.conf and `upload.remote`);
    /// the remote it set. The default refuses: a daemon without uploads.
    fn set_upload_target(
        &self,
        _spec: crate::upload::remote_setup::RemoteSpec,
    ) -> super::Pending<Result<String, super::SetupError>> {
        Box::pin(async {
            Err(super::SetupError::failed(
                501,
                "this recorder has no uploads",
            ))
        })
    }
    /// Writes and deletes a small file with `spec`, leaving the configuration as it is.
    fn test_upload_target(
        &self,
        _spec: crate::upload::remote_setup::RemoteSpec,
    ) -> super::Pending<Result<(), super::SetupError>> {
        Box::pin(async {
            Err(super::SetupError::failed(
                501,
                "this recorder has no uploads",
            ))
        })
    }
}

/// The longest range `POST /api/memories` saves at once (the ring holds hours; a memory this long
/// is already gigabytes).
pub const MAX_SAVE_RANGE: Duration = Duration::from_secs(3 * 3600);

#[derive(Clone)]
pub(crate) struct ApiState {
    pub(crate) control: Arc<dyn Control>,
    sse: Arc<Semaphore>,
}

/// `/api/login`, `/api/logout`, `/api/session`, `/api/status`, `/api/events`, `/api/buttons/*`, `/api/time`,
/// `/api/memories` (POST), `/api/settings`, with their body limit and request timeout (the auth
/// middleware is added by [`super::router`]).
pub(crate) fn routes(control: Arc<dyn Control>, auth: Arc<AuthState>) -> Router {
    let timeout = tower::ServiceBuilder::new()
        .layer(HandleErrorLayer::new(super::timed_out))
        .timeout(super::REQUEST_TIMEOUT);
    let state = ApiState {
        control,
        sse: Arc::new(Semaphore::new(MAX_SSE_CLIENTS)),
    };
    let session = Router::new()
        .route("/api/login", post(auth::login))
        .route("/api/logout", post(auth::logout))
        .route("/api/session", get(auth::session))
        .with_state(auth);
    Router::new()
        .route("/api/status", get(status))
        .route("/api/events", get(events))
        .route("/api/buttons/save", post(save))
        .route("/api/buttons/upload", post(upload))
        .route("/api/time", post(set_time))
        .route("/api/memories", post(save_range))
        .route("/api/memories/{name}/upload", post(upload_memory))
        .route("/api/upload-target", axum::routing::put(set_upload_target))
        .route("/api/upload-target/test", post(test_upload_target))
        .route(
            "/api/settings",
            get(super::settings::get).put(super::settings::put),
        )
        .with_state(state)
        .merge(session)
        .layer(DefaultBodyLimit::max(API_BODY_LIMIT))
        .layer(timeout)
}

/// The request body, or a JSON error: 413 over [`API_BODY_LIMIT`], 400 when it cannot be read.
pub(crate) fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {} KiB", API_BODY_LIMIT >> 10),
        ),
        status => ApiError::new(status, "the body could not be read"),
    })
}

/// The body as a JSON object; an empty body is an empty object.
pub(crate) fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("the body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!(
            "the body is not valid JSON: {e}"
        ))),
    }
}

async fn status_of(control: Arc<dyn Control>) -> Result<Value, ApiError> {
    // The status may read the memories directory: off the async threads.
    tokio::task::spawn_blocking(move || control.status_json())
        .await
        .map_err(super::error::join_failed)
}

/// `GET /api/status`.
async fn status(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(status_of(state.control).await?))
}

/// `GET /api/events`: the status now, then on every change (at most one per [`SSE_MIN_GAP`]) and
/// at least every [`SSE_INTERVAL`], as unnamed SSE events.
async fn events(
    State(state): State<ApiState>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let permit = state.sse.clone().try_acquire_owned().map_err(|_| {
        ApiError::unavailable(format!(
            "too many live status streams are open (at most {MAX_SSE_CLIENTS}); close one and try again"
        ))
    })?;
    let mut heartbeat = tokio::time::interval_at(Instant::now() + SSE_INTERVAL, SSE_INTERVAL);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let feed = Feed {
        changes: state.control.changes(),
        control: state.control,
        heartbeat,
        last_sent: None,
        _permit: permit,
    };
    // The feed (and its permit) lives as long as the stream, which ends when the client goes.
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await;
        Some((Ok(event), feed))
    });
    Ok(Sse::new(stream))
}

/// One client's live status stream.
struct Feed {
    control: Arc<dyn Control>,
    changes: Option<watch::Receiver<u64>>,
    heartbeat: Interval,
    last_sent: Option<Instant>,
    _permit: OwnedSemaphorePermit,
}

impl Feed {
    /// Waits for the next reason to send (the first event, a change, the heartbeat), then reads
    /// the status.
    async fn next(&mut self) -> Event {
        if let Some(last) = self.last_sent {
            if self.wait_for_change_or_heartbeat().await {
                // Changes during the gap are sent as this one event.
                tokio::time::sleep_until(last + SSE_MIN_GAP).await;
            }
        }
        if let Some(changes) = &mut self.changes {
            changes.borrow_and_update();
        }
        let event = match status_of(self.control.clone()).await {
            Ok(status) => Event::default().data(status.to_string()),
            Err(e) => Event::default()
                .event("error")
                .data(serde_json::json!({ "error": e.message }).to_string()),
        };
        self.last_sent = Some(Instant::now());
        self.heartbeat.reset();
        event
    }

    /// True for a change, false for the heartbeat.
    async fn wait_for_change_or_heartbeat(&mut self) -> bool {
        loop {
            let Some(changes) = &mut self.changes else {
                self.heartbeat.tick().await;
                return false;
            };
            tokio::select! {
                _ = self.heartbeat.tick() => return false,
                changed = changes.changed() => match changed {
                    Ok(()) => return true,
                    // The daemon's side is gone: the heartbeat alone from now on.
                    Err(_) => self.changes = None,
                },
            }
        }
    }
}

/// `hold_ms` from the body: absent is 0 (a short press).
fn hold_of(body: &Map<String, Value>) -> Result<Duration, ApiError> {
    let max = MAX_HOLD.as_millis() as u64;
    match body.get("hold_ms") {
        None | Some(Value::Null) => Ok(Duration::ZERO),
        Some(value) => match value.as_u64() {
            Some(ms) if ms <= max => Ok(Duration::from_millis(ms)),
            _ => Err(ApiError::bad_request(format!(
                "hold_ms must be a whole number of milliseconds from 0 to {max}"
            ))),
        },
    }
}

fn press(
    control: &dyn Control,
    button: ButtonName,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let hold = hold_of(&json_object(&body_bytes(body)?)?)?;
    control
        .press(button, hold)
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, e))?;
    Ok(Json(serde_json::json!({
        "pressed": button,
        "hold_ms": hold.as_millis() as u64,
    })))
}

/// `POST /api/buttons/save {"hold_ms": N}`.
async fn save(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    press(&*state.control, ButtonName::Save, body)
}

/// The refusal of an upload while no upload target is set up: 409, naming the settings section.
fn no_upload_target() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "No upload target is set up, so there is nowhere to upload to. Choose one in Settings, under Upload target.",
    )
    .with_setting("upload-target")
}

/// `POST /api/buttons/upload {"hold_ms": N}` (the body is optional); 409 without an upload target.
async fn upload(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    if !state.control.has_upload_target() {
        return Err(no_upload_target());
    }
    press(&*state.control, ButtonName::Upload, body)
}

/// `POST /api/time {"utc_ms": N}`.
async fn set_time(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let body = json_object(&body_bytes(body)?)?;
    let utc_ms = body
        .get("utc_ms")
        .and_then(Value::as_i64)
        .filter(|ms| (EARLIEST_UTC_MS..LATEST_UTC_MS).contains(ms))
        .ok_or_else(|| {
            ApiError::bad_request(
                "utc_ms must be the time in whole milliseconds since 1970 (UTC), between 2020 and 2100",
            )
        })?;
    let control = state.control;
    let applied = tokio::task::spawn_blocking(move || control.set_time(utc_ms * 1000))
        .await
        .map_err(super::error::join_failed)?
        .map_err(|e| {
            tracing::warn!(error = %e, "web: setting the time failed");
            ApiError::internal("the clock could not be set; try again")
        })?;
    Ok(Json(serde_json::json!({ "applied": applied })))
}

/// `POST /api/memories {"from": T, "to": T}` (RFC 3339 or Unix milliseconds): 202 once the save
/// is under way; it shows in the status.
async fn save_range(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let body = json_object(&body_bytes(body)?)?;
    let time = |key: &str| -> Result<i64, ApiError> {
        let text = match body.get(key) {
            Some(Value::String(t)) => t.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "{key} is missing: give an RFC 3339 time or Unix milliseconds"
                )))
            }
        };
        super::parse_time_param(key, &text).map_err(ApiError::bad_request)
    };
    let (from_us, to_us) = (time("from")?, time("to")?);
    if to_us <= from_us {
        return Err(ApiError::bad_request("to must be after from"));
    }
    if (to_us - from_us) as u128 > MAX_SAVE_RANGE.as_micros() {
        return Err(ApiError::bad_request(format!(
            "the range is longer than {} hours: save it in parts",
            MAX_SAVE_RANGE.as_secs() / 3600
        )));
    }
    state
        .control
        .save_range(from_us, to_us)
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, e))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "saving": true })),
    ))
}

/// `POST /api/memories/{name}/upload`: 202 once the upload is queued ahead of the policy; 409
/// without an upload target.
async fn upload_memory(
    State(state): State<ApiState>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    if !crate::memories::is_memory_name(&name) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such memory"));
    }
    if !state.control.has_upload_target() {
        return Err(no_upload_target());
    }
    state
        .control
        .upload_memory(&name)
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, e))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "uploading": name })),
    ))
}

fn upload_spec(
    body: Result<Bytes, BytesRejection>,
) -> Result<crate::upload::remote_setup::RemoteSpec, ApiError> {
    let body = json_object(&body_bytes(body)?)?;
    serde_json::from_value(Value::Object(body)).map_err(|e| {
        ApiError::bad_request(format!(
            "the upload target must be {{\"kind\", \"fields\", \"path\"}}: {e}"
        ))
        .with_field("upload")
    })
}

/// `PUT /api/upload-target {"kind", "fields", "path"}`: the new target, written through rclone.
async fn set_upload_target(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let spec = upload_spec(body)?;
    let remote = state.control.set_upload_target(spec).await?;
    Ok(Json(serde_json::json!({ "remote": remote })))
}

/// `POST /api/upload-target/test {"kind", "fields", "path"}`: a small file written and deleted.
async fn test_upload_target(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let spec = upload_spec(body)?;
    state.control.test_upload_target(spec).await?;
    Ok(Json(serde_json::json!({ "ok": true })))
}
