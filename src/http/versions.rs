//! Versions over HTTP: a line's or person's version is its `ETag`, a write may name the
//! version it expects in `If-Match` (a `412 precondition_failed` otherwise, with the current
//! `ETag`), and `PATCH` bodies are JSON Merge Patch (RFC 7396) over what is stored.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use rateline_domain::ErrorCode;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::extract::parse;

/// The `ETag` of version `v`.
pub fn etag(v: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{v}\"")).expect("a number is a header value")
}

/// `body` with its version's `ETag`.
pub fn tagged(v: i64, body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::ETAG, etag(v));
    response
}

/// The version `If-Match` expects; `None` without one. A value that names no version (not
/// an `ETag` Rateline gave) can match nothing: it is refused as a stale one is.
pub fn if_match(headers: &HeaderMap, what: &str) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().strip_prefix('"')?.strip_suffix('"')?.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::PreconditionFailed,
                format!(
                    "If-Match names no version of {what}: send the ETag a GET gave, quotes \
                     included (If-Match: \"3\")"
                ),
            )
        })
}

/// The answer to a write: what it made, or why not; refused as stale, with the current
/// `ETag` (`current` is asked then only), so the caller can read what changed and retry.
pub async fn answered(
    result: Result<Response, ApiError>,
    current: impl Future<Output = Option<i64>>,
) -> Response {
    match result {
        Ok(response) => response,
        Err(e) if e.code == ErrorCode::PreconditionFailed => {
            let current = current.await;
            let mut response = e.into_response();
            if let Some(v) = current {
                response.headers_mut().insert(header::ETAG, etag(v));
            }
            response
        }
        Err(e) => e.into_response(),
    }
}

/// `stored` with `patch` merged into it (RFC 7396: a member set to `null` is removed, one
/// left out stays as it is), read back as a whole `T` with the same checks as a `PUT`.
pub fn merged<T: Serialize + DeserializeOwned>(
    stored: &T,
    patch: &serde_json::Value,
) -> Result<T, ApiError> {
    if !patch.is_object() {
        return Err(ApiError::wrong_shape(
            "a PATCH body is a JSON object of the fields to change (JSON Merge Patch)",
            None,
        ));
    }
    let mut doc = serde_json::to_value(stored).expect("stored settings serialise");
    json_patch::merge(&mut doc, patch);
    parse(&serde_json::to_vec(&doc).expect("JSON serialises"))
}
