//! Who is calling: API keys, made and checked. What each role may do is
//! [`crate::policy`]'s to decide.
//!
//! A key is `rl_<id>_<secret>`: the id finds the stored key, the secret is compared with
//! the stored SHA-256 in constant time.
//!
//! With no key at all Rateline is open, for local development; `serve` then refuses to
//! listen anywhere but a loopback address. Once any key exists (revoked ones count, so
//! revoking the last key never opens the server), every `/v1` call needs one.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::Role;
use crate::http::{ApiError, AppState};
pub use crate::policy::Caller;
use crate::store::{KeyRecord, NewKey, Store, StoreError};

/// A new key: what to store, and the one time its full text is known.
pub struct Minted {
    pub key: NewKey,
    /// `rl_<id>_<secret>`: shown once, never stored.
    pub text: String,
}

/// Makes a key; `lines` only for supervisors, `person_id` only (and always) for operators.
pub fn mint(
    name: &str,
    role: Role,
    person_id: Option<String>,
    lines: Option<Vec<String>>,
    now: DateTime<Utc>,
) -> Minted {
    let id = hex::encode(rand::random::<[u8; 4]>());
    let secret = hex::encode(rand::random::<[u8; 32]>());
    Minted {
        text: format!("rl_{id}_{secret}"),
        key: NewKey {
            record: KeyRecord {
                id,
                name: name.to_owned(),
                role,
                person_id,
                lines,
                created_at: now,
                revoked_at: None,
            },
            secret_hash: hash(&secret),
        },
    }
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Missing only if a route escaped the middleware: refuse rather than allow.
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            tracing::error!(path = %parts.uri.path(), "a /v1 route without authentication");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "an unexpected error occurred; it has been logged",
            )
        })
    }
}

/// Remembers that keys exist: once one does, it always will (keys are revoked, not
/// deleted). The open mode asks the store again at most once a second, so the first key
/// made by `rateline keys create` closes a running server within a second without a
/// query on every call.
#[derive(Debug, Default)]
pub struct KeysExist {
    exist: AtomicBool,
    none_seen_at: std::sync::Mutex<Option<std::time::Instant>>,
}

const RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

impl KeysExist {
    async fn check(&self, store: &Store) -> Result<bool, StoreError> {
        if self.exist.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let recent = |at: &Option<std::time::Instant>| at.is_some_and(|t| t.elapsed() < RECHECK);
        if recent(&self.none_seen_at.lock().expect("keys lock")) {
            return Ok(false);
        }
        let any = store.any_key().await?;
        if any {
            self.exist.store(true, Ordering::Relaxed);
        } else {
            *self.none_seen_at.lock().expect("keys lock") = Some(std::time::Instant::now());
        }
        Ok(any)
    }
}

/// A key's parts, if `text` has a key's exact form: `rl_`, 8 lowercase hex digits, `_`, 64
/// lowercase hex digits. Anything else cannot be a key and is refused without a look-up.
fn key_parts(text: &str) -> Option<(&str, &str)> {
    let (id, secret) = text.strip_prefix("rl_")?.split_once('_')?;
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    (hex(id, 8) && hex(secret, 64)).then_some((id, secret))
}

/// The key a request names, checked: the caller, or the 401 that says why not.
///
/// `ip` is the client's address. An address that presented too many refused keys (or
/// sign-ins) is answered `429` before its key is even read, and every refusal counts
/// against it; a key that cannot exist (the wrong form) is refused without a look-up.
pub async fn caller(
    state: &AppState,
    authorization: Option<header::HeaderValue>,
    ip: Option<std::net::IpAddr>,
) -> Result<Caller, ApiError> {
    let Some(value) = authorization else {
        return if state.keys_exist.check(state.engine.store()).await? {
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "key_required",
                "this server requires an API key: send Authorization: Bearer <key> (an admin creates keys with `rateline keys create`)",
            ))
        } else {
            Ok(Caller::Open)
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
            if let Some(ip) = ip {
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
    let unauthorized = |reason, code, message: &str| {
        Refused::Key(
            reason,
            ApiError::new(StatusCode::UNAUTHORIZED, code, message.to_owned()),
        )
    };
    let malformed = "this is not an API key: a key is rl_<id>_<secret>, exactly as \
        `rateline keys create` printed it, sent as `Authorization: Bearer <key>`";
    let (id, secret) = value
        .to_str()
        .ok()
        // The scheme is case-insensitive (RFC 9110).
        .and_then(|v| {
            v.get(..7)
                .filter(|s| s.eq_ignore_ascii_case("bearer "))
                .map(|_| &v[7..])
        })
        .and_then(|text| key_parts(text.trim()))
        .ok_or_else(|| unauthorized("malformed", "invalid_key", malformed))?;
    let unknown =
        "this API key is not known to this server (a typo, or a key of another deployment)";
    let Some(stored) = state.engine.store().key(id).await.map_err(Refused::Store)? else {
        return Err(unauthorized("unknown", "invalid_key", unknown));
    };
    let key = stored.record;
    if !bool::from(hash(secret).as_bytes().ct_eq(stored.secret_hash.as_bytes())) {
        return Err(unauthorized("unknown", "invalid_key", unknown));
    }
    if let Some(at) = key.revoked_at {
        return Err(unauthorized(
            "revoked",
            "key_revoked",
            &format!(
                "API key '{}' was revoked at {}; ask an admin for a new one",
                key.id,
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        ));
    }
    Ok(Caller::with_key(key, stored.person_lines))
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
    let ip = crate::http::client_ip(&request);
    match caller(&state, authorization, ip).await {
        Ok(c) => {
            if let Caller::Key(k) = &c
                && let Err(limited) = state.limits.key(&k.key.id)
            {
                return limited.into_response();
            }
            request.extensions_mut().insert(c);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

/// Whether `addr` (`host:port`) listens only on this machine.
pub fn is_loopback(addr: &str) -> bool {
    addr.parse::<std::net::SocketAddr>()
        .is_ok_and(|a| a.ip().is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_are_random_and_only_hashed() {
        let a = mint("a", Role::Admin, None, None, Utc::now());
        let b = mint("b", Role::Admin, None, None, Utc::now());
        assert_ne!(a.text, b.text);
        let secret = a.text.rsplit('_').next().unwrap();
        assert_eq!(a.key.secret_hash, hash(secret));
        assert!(!a.key.secret_hash.contains(secret));
    }

    #[test]
    fn only_a_keys_exact_form_is_looked_up() {
        let minted = mint("a", Role::Admin, None, None, Utc::now());
        assert!(key_parts(&minted.text).is_some());
        for bad in [
            "rl_nope",
            "rl_0123456_ab",
            "rl_0123456G_0000000000000000000000000000000000000000000000000000000000000000",
            "rl_01234567_' OR 1=1 --",
            &minted.text.to_uppercase(),
            &format!("{}0", minted.text),
        ] {
            assert!(key_parts(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn loopback_addresses() {
        assert!(is_loopback("127.0.0.1:8080") && is_loopback("[::1]:80"));
        assert!(!is_loopback("0.0.0.0:8080") && !is_loopback("192.168.1.5:80"));
    }
}
