//! `GET /api/settings` and `PUT /api/settings`: the settings page's view of the runtime settings
//! (docs/api.md, Settings). The body is read and checked here (400 naming the field); keeping and
//! applying the change is the daemon's, through [`super::Control`], on a blocking thread because
//! it writes the overlay file. Session, CSRF and body limit are those of the other control routes.

use super::api::{body_bytes, json_object, ApiState};
use super::ApiError;
use crate::settings::{ErrorKind, Patch, SettingsError};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;

/// `GET /api/settings`. Off the async threads: a `PUT` may hold the settings while it writes.
pub(crate) async fn get(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let control = state.control;
    let settings = tokio::task::spawn_blocking(move || control.settings())
        .await
        .map_err(super::error::join_failed)?;
    Ok(Json(settings))
}

/// `PUT /api/settings` with a partial settings object: 200 and the full new settings.
pub(crate) async fn put(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = json_object(&body_bytes(body)?)?;
    let patch = Patch::from_json(&Value::Object(body)).map_err(refused)?;
    let control = state.control;
    let settings = tokio::task::spawn_blocking(move || control.put_settings(patch))
        .await
        .map_err(super::error::join_failed)?
        .map_err(refused)?;
    Ok(Json(settings))
}

fn refused(e: SettingsError) -> ApiError {
    let status = match e.kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::Busy => StatusCode::CONFLICT,
        ErrorKind::Failed => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let error = ApiError::new(status, e.message);
    match e.field {
        Some(field) => error.with_field(field),
        None => error,
    }
}
