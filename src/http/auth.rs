//! Who is calling: the middleware that reads a `/v1` request's `Authorization` header
//! and puts its [`Caller`] on the request, and the extractor handlers take it with. Keys
//! are made and checked by [`crate::engine`]; what each role may do is
//! [`crate::policy`]'s to decide.
//!
//! With no credential at all Rateline is open, for a first look on one machine (see
//! [`super::open_mode`]). Once any key exists or any person has a password (revoked keys
//! and deactivated people count, so the server never opens again), every `/v1` call needs a
//! key.

use rateline_domain::ErrorCode;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::AppState;
use crate::engine::KeyRefusal;
pub use crate::policy::Caller;
use crate::store::StoreError;

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Missing only if a route escaped the middleware: refuse rather than allow.
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            tracing::error!(path = %parts.uri.path(), "a /v1 route without authentication");
            ApiError::new(
                ErrorCode::InternalError,
                "an unexpected error occurred; it has been logged",
            )
        })
    }
}

/// The key a request names, checked: the caller, or the 401 that says why not. With no
/// key named, the open mode's caller while no credential exists, if the open mode takes the
/// request: `open_allowed` is [`super::open_mode::allows`] of its headers (worked out only
/// for requests without a key).
///
/// `ip` is the client's address. An address that presented too many refused keys (or
/// sign-ins) is answered `429` before its key is even read, and every refusal counts
/// against it; a key that cannot exist (the wrong form) is refused without a look-up.
pub async fn caller(
    state: &AppState,
    authorization: Option<header::HeaderValue>,
    open_allowed: Result<(), ApiError>,
    ip: Option<std::net::IpAddr>,
) -> Result<Caller, ApiError> {
    let Some(value) = authorization else {
        return if state.open_mode.open(&state.engine).await? {
            open_allowed?;
            Ok(Caller::Open)
        } else {
            Err(ApiError::new(
                ErrorCode::KeyRequired,
                "this server requires an API key: send Authorization: Bearer <key> (an admin creates keys with `rateline keys create`)",
            ))
        };
    };
    if let Some(ip) = ip
        && let Err(limited) = state.limits.credential_allowed(ip)
    {
        state.metrics.auth_failure("throttled");
        return Err(limited.into());
    }
    match key_caller(state, &value).await {
        Ok(caller) => Ok(caller),
        Err(Refused::Key(reason, e)) => {
            state.metrics.auth_failure(reason);
            // Only a guess counts against the address: a revoked key or one whose person is
            // deactivated had its secret right, and an integration still sending it must
            // not hold off the address's other, valid keys.
            if let Some(ip) = ip
                && matches!(reason, "malformed" | "unknown")
            {
                state.limits.credential_refused(ip);
            }
            Err(e)
        }
        Err(Refused::Store(e)) => Err(e.into()),
    }
}

/// Why a key was not taken: the key itself (with the metric's reason), or the store.
enum Refused {
    Key(&'static str, ApiError),
    Store(StoreError),
}

async fn key_caller(state: &AppState, value: &header::HeaderValue) -> Result<Caller, Refused> {
    // The scheme is case-insensitive (RFC 9110).
    let text = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.get(..7)
                .filter(|s| s.eq_ignore_ascii_case("bearer "))
                .map(|_| v[7..].trim())
        })
        .unwrap_or("");
    let refusal = match state.engine.check_key(text).await.map_err(Refused::Store)? {
        Ok(stored) => return Ok(Caller::with_key(stored.record, stored.person_lines)),
        Err(refusal) => refusal,
    };
    let (code, message) = match &refusal {
        KeyRefusal::Malformed => (
            ErrorCode::InvalidKey,
            "this is not an API key: a key is rl_<id>_<secret>, exactly as \
             `rateline keys create` printed it, sent as `Authorization: Bearer <key>`"
                .to_owned(),
        ),
        KeyRefusal::Unknown => (
            ErrorCode::InvalidKey,
            "this API key is not known to this server (a typo, or a key of another deployment)"
                .to_owned(),
        ),
        KeyRefusal::Revoked { id, at } => (
            ErrorCode::KeyRevoked,
            format!(
                "API key '{id}' was revoked at {}; ask an admin for a new one",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        ),
        KeyRefusal::PersonInactive { id, person } => (
            ErrorCode::KeyPersonDeactivated,
            format!(
                "API key '{id}' acts as person '{person}', who is deactivated; it works again \
                 when an admin turns them back on"
            ),
        ),
    };
    Err(Refused::Key(refusal.reason(), ApiError::new(code, message)))
}

/// Middleware: every `/v1` request carries its [`Caller`], or is refused with a 401 (or a
/// 429, see [`caller`]).
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if !request.uri().path().starts_with("/v1/") {
        return next.run(request).await;
    }
    // The header is taken out first: the request itself cannot be held across an await.
    let authorization = request.headers().get(header::AUTHORIZATION).cloned();
    let ip = super::limits::client_ip(&request);
    let open_allowed = match authorization {
        None => super::open_mode::allows(request.headers()),
        Some(_) => Ok(()),
    };
    match caller(&state, authorization, open_allowed, ip).await {
        Ok(c) => {
            if let Some(key_id) = c.key_id()
                && let Err(limited) = state.limits.key(key_id)
            {
                return limited.into_response();
            }
            request.extensions_mut().insert(c);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}
