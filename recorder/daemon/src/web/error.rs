//! One error shape for the whole API: a status and `{"error": "..."}` whose message says what to
//! do, plus `"field"` where one field of the request is at fault (the settings page shows the
//! message next to it), and `"setting"` where the fix is a place in the settings (the page links
//! to it). Details that would leak internals (device paths, OS errors) go to the
//! log, not the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds, for 503s the client may retry.
    pub retry_after: Option<u32>,
    /// The request's field at fault (`memories.save_minutes`), sent as `"field"`.
    pub field: Option<String>,
    /// The place in the app's settings where the cause is fixed (`upload-target`), sent as
    /// `"setting"` so the page can open it.
    pub setting: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
            field: None,
            setting: None,
        }
    }

    /// The same error, naming the request's field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    /// The same error, naming the settings section that fixes it.
    pub fn with_setting(mut self, setting: &'static str) -> ApiError {
        self.setting = Some(setting);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn gone(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::GONE, message)
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.message });
        if let Some(field) = self.field {
            body["field"] = serde_json::Value::String(field);
        }
        if let Some(setting) = self.setting {
            body["setting"] = serde_json::Value::from(setting);
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A blocking task that panicked or was cancelled (the runtime shutting down).
pub(crate) fn join_failed(err: tokio::task::JoinError) -> ApiError {
    tracing::error!(error = %err, "web: blocking task failed");
    ApiError::internal("the server failed while handling this request; try again")
}
