//! `/api/update`: firmware updates from the web app (docs/api.md "Firmware update"). The bundle
//! is the request body itself, streamed to the updater without the API's body limit or request
//! timeout (hundreds of MiB over Wi-Fi take minutes); the updater checks its size, the free
//! space and the stalls. Behind the admin session like every other route.

use super::ApiError;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;

/// What the web needs from the daemon's updater.
pub trait Updates: Send + Sync + 'static {
    /// `GET /api/update`.
    fn view(&self) -> super::Pending<serde_json::Value>;
    /// `POST /api/update`: receives `body` (`length` from Content-Length) and starts the
    /// install; the reply for a 202, or the error.
    fn receive(
        &self,
        length: Option<u64>,
        body: axum::body::BodyDataStream,
    ) -> super::Pending<Result<serde_json::Value, ApiError>>;
    /// `POST /api/update/reboot`.
    fn reboot(&self) -> Result<serde_json::Value, ApiError>;
}

type UpdateState = Option<Arc<dyn Updates>>;

pub(crate) fn routes(updates: UpdateState) -> Router {
    Router::new()
        .route("/api/update", get(view).post(install))
        .route("/api/update/reboot", post(reboot))
        .with_state(updates)
        .layer(DefaultBodyLimit::disable())
}

fn none() -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "this recorder has no firmware updates",
    )
}

async fn view(State(updates): State<UpdateState>) -> Result<Json<serde_json::Value>, ApiError> {
    let updates = updates.ok_or_else(none)?;
    Ok(Json(updates.view().await))
}

async fn install(
    State(updates): State<UpdateState>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let updates = updates.ok_or_else(none)?;
    let length = match headers.get(header::CONTENT_LENGTH) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| ApiError::bad_request("Content-Length is not a number"))?,
        ),
    };
    let reply = updates.receive(length, body.into_data_stream()).await?;
    Ok((StatusCode::ACCEPTED, Json(reply)))
}

async fn reboot(State(updates): State<UpdateState>) -> Result<impl IntoResponse, ApiError> {
    let updates = updates.ok_or_else(none)?;
    Ok((StatusCode::ACCEPTED, Json(updates.reboot()?)))
}
