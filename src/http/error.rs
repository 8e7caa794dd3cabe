//! Every error the API answers with, and the one place that maps errors to statuses.
//!
//! Errors are `{"error": {"code", "message", "field"?}}`: a stable snake_case code to
//! branch on and a message that says what is wrong and how to fix it. Unexpected errors
//! are logged with their cause and answered as an opaque 500.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::domain::Invalid;
use crate::engine::EngineError;
use crate::policy::Forbidden;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds for `Retry-After` (a 429 or a 503 that knows when to come back).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn invalid(i: Invalid) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_field",
            message: i.to_string(),
            field: Some(i.field),
            retry_after: None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "the database is unavailable; nothing was changed, try again shortly",
                )
            }
            other => {
                tracing::error!(error = ?other, "unexpected store error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "an unexpected error occurred; it has been logged",
                )
            }
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound { code, message } => {
                ApiError::new(StatusCode::NOT_FOUND, code, message)
            }
            EngineError::Invalid(i) => ApiError::invalid(i),
            EngineError::Conflict { code, message } => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            EngineError::Gone { code, message } => ApiError::new(StatusCode::GONE, code, message),
            EngineError::Store(s) => s.into(),
        }
    }
}

impl From<Forbidden> for ApiError {
    fn from(e: Forbidden) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(f) = self.field {
            error["field"] = f.into();
        }
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}
