//! Who is calling: API keys, their roles and line scopes, and the check each `/v1`
//! endpoint makes.
//!
//! A key is `rl_<id>_<secret>`: the id finds the stored key, the secret is compared with
//! the stored SHA-256 in constant time. Roles:
//! - `admin`: everything, including configuration (lines, people, groups) and appeal
//!   decisions;
//! - `supervisor`: the sessions, ratings, alerts, responses, evaluations and stats of the
//!   lines the key covers (all lines when it names none). A contact center's integration,
//!   which opens and closes sessions and passes on answers, uses a supervisor key;
//! - `operator`: the sessions the operator handled, their own stats, and appeals of their
//!   own ratings.
//!
//! With no key at all Rateline is open, for local development; `serve` then refuses to
//! listen anywhere but a loopback address. Once any key exists (revoked ones count, so
//! revoking the last key never opens the server), every `/v1` call needs one.

use std::sync::Arc;
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

/// The caller of one `/v1` request, put there by [`authenticate`].
#[derive(Debug, Clone)]
pub enum Caller {
    /// No key exists (local development): everything is allowed.
    Open,
    Key(Arc<KeyRecord>),
}

fn forbidden(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

impl Caller {
    fn describe(key: &KeyRecord) -> String {
        format!(
            "key '{}' ({}) is a {} key",
            key.id,
            key.name,
            key.role.as_str()
        )
    }

    /// Configuration and decisions: admins only.
    pub fn admin(&self, what: &str) -> Result<(), ApiError> {
        match self {
            Caller::Open => Ok(()),
            Caller::Key(k) if k.role == Role::Admin => Ok(()),
            Caller::Key(k) => Err(forbidden(format!(
                "{what} needs an admin key; {}",
                Self::describe(k)
            ))),
        }
    }

    /// Whether the key covers every line (admins, and supervisors naming no lines).
    pub fn all_lines(&self) -> bool {
        match self {
            Caller::Open => true,
            Caller::Key(k) => match k.role {
                Role::Admin => true,
                Role::Supervisor => k.lines.is_none(),
                Role::Operator => false,
            },
        }
    }

    /// Work on line `line_id`: admins, and supervisors whose key covers it.
    pub fn line(&self, line_id: &str) -> Result<(), ApiError> {
        match self {
            Caller::Key(k) if k.role == Role::Operator => Err(forbidden(format!(
                "this needs a supervisor or admin key; {}",
                Self::describe(k)
            ))),
            Caller::Key(k)
                if k.role == Role::Supervisor
                    && k.lines
                        .as_ref()
                        .is_some_and(|l| !l.iter().any(|l| l == line_id)) =>
            {
                Err(forbidden(format!(
                    "{} covering lines {}, not line '{line_id}'",
                    Self::describe(k),
                    k.lines.as_deref().unwrap_or_default().join(", ")
                )))
            }
            _ => Ok(()),
        }
    }

    /// Work on a session of line `line_id` handled by `operator_id`: what [`Caller::line`]
    /// allows, and an operator's own sessions.
    pub fn session(&self, line_id: &str, operator_id: Option<&str>) -> Result<(), ApiError> {
        match self {
            Caller::Key(k) if k.role == Role::Operator => {
                if operator_id.is_some() && operator_id == k.person_id.as_deref() {
                    Ok(())
                } else {
                    Err(forbidden(format!(
                        "{} for operator '{}'; this session is not theirs",
                        Self::describe(k),
                        k.person_id.as_deref().unwrap_or("?")
                    )))
                }
            }
            _ => self.line(line_id),
        }
    }

    /// No key exists: nothing to check (callers skip the lookups checks would need).
    pub fn is_open(&self) -> bool {
        matches!(self, Caller::Open)
    }

    /// Reports over several lines (`GET /v1/stats` without `line`, an operator's summary,
    /// the appeals list): admins and supervisors covering every line.
    /// `what` names the report; `hint` says how to ask for one line instead, if one can.
    pub fn every_line(&self, what: &str, hint: &str) -> Result<(), ApiError> {
        match self {
            _ if self.all_lines() => Ok(()),
            Caller::Key(k) if k.role == Role::Supervisor => Err(forbidden(format!(
                "{what} spans every line, and {} covering lines {}{hint}",
                Self::describe(k),
                k.lines.as_deref().unwrap_or_default().join(", ")
            ))),
            Caller::Key(k) => Err(forbidden(format!(
                "{what} needs a supervisor or admin key; {}",
                Self::describe(k)
            ))),
            Caller::Open => Ok(()),
        }
    }

    /// An operator key's stats filter: its own operator, refused when `asked` names another.
    /// `None` for other callers.
    pub fn own_operator(&self, asked: Option<&str>) -> Result<Option<String>, ApiError> {
        let Caller::Key(k) = self else {
            return Ok(None);
        };
        let Some(me) = k.person_id.as_deref().filter(|_| k.role == Role::Operator) else {
            return Ok(None);
        };
        match asked {
            Some(other) if other != me => Err(forbidden(format!(
                "{} for operator '{me}': it sees that operator's numbers only, not '{other}'",
                Self::describe(k)
            ))),
            _ => Ok(Some(me.to_owned())),
        }
    }

    /// One operator's numbers across lines (`GET /v1/operators/{id}/summary`, the
    /// dashboard's profile): the operator themselves, or a key covering every line.
    pub fn operator_numbers(&self, operator_id: &str, what: &str) -> Result<(), ApiError> {
        if self.operator() == Some(operator_id) {
            Ok(())
        } else {
            self.every_line(what, "")
        }
    }

    /// The operator an operator key acts as.
    pub fn operator(&self) -> Option<&str> {
        match self {
            Caller::Key(k) if k.role == Role::Operator => k.person_id.as_deref(),
            _ => None,
        }
    }
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

/// The key a request names, checked: the caller, or the 401 that says why not.
pub async fn caller(
    state: &AppState,
    authorization: Option<header::HeaderValue>,
) -> Result<Caller, ApiError> {
    let unauthorized =
        |code, message: &str| ApiError::new(StatusCode::UNAUTHORIZED, code, message.to_owned());
    let Some(value) = authorization else {
        return if state.keys_exist.check(state.engine.store()).await? {
            Err(unauthorized(
                "key_required",
                "this server requires an API key: send Authorization: Bearer <key> (an admin creates keys with `rateline keys create`)",
            ))
        } else {
            Ok(Caller::Open)
        };
    };
    let malformed = "the Authorization header must be `Bearer rl_<id>_<secret>`, a key made by `rateline keys create`";
    let text = value
        .to_str()
        .ok()
        // The scheme is case-insensitive (RFC 9110).
        .and_then(|v| {
            v.get(..7)
                .filter(|s| s.eq_ignore_ascii_case("bearer "))
                .map(|_| &v[7..])
        })
        .ok_or_else(|| unauthorized("invalid_key", malformed))?;
    let (id, secret) = text
        .trim()
        .strip_prefix("rl_")
        .and_then(|rest| rest.split_once('_'))
        .ok_or_else(|| unauthorized("invalid_key", malformed))?;
    let unknown =
        "this API key is not known to this server (a typo, or a key of another deployment)";
    let Some((key, stored)) = state.engine.store().key(id).await? else {
        return Err(unauthorized("invalid_key", unknown));
    };
    if !bool::from(hash(secret).as_bytes().ct_eq(stored.as_bytes())) {
        return Err(unauthorized("invalid_key", unknown));
    }
    if let Some(at) = key.revoked_at {
        return Err(unauthorized(
            "key_revoked",
            &format!(
                "API key '{}' was revoked at {}; ask an admin for a new one",
                key.id,
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        ));
    }
    Ok(Caller::Key(Arc::new(key)))
}

/// Middleware: every `/v1` request carries its [`Caller`], or is refused with a 401.
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
    match caller(&state, authorization).await {
        Ok(c) => {
            if let Caller::Key(k) = &c
                && let Err(limited) = state.limits.key(&k.id)
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

    fn key(role: Role, person: Option<&str>, lines: Option<&[&str]>) -> Caller {
        let lines = lines.map(|l| l.iter().map(|s| (*s).to_owned()).collect());
        Caller::Key(Arc::new(
            mint("k", role, person.map(str::to_owned), lines, Utc::now())
                .key
                .record,
        ))
    }

    #[test]
    fn roles_and_scopes() {
        let admin = key(Role::Admin, None, None);
        let all = key(Role::Supervisor, None, None);
        let sales = key(Role::Supervisor, None, Some(&["sales"]));
        let olga = key(Role::Operator, Some("op-1"), None);
        assert!(admin.admin("x").is_ok() && Caller::Open.admin("x").is_ok());
        for k in [&all, &sales, &olga] {
            assert_eq!(k.admin("x").unwrap_err().status, StatusCode::FORBIDDEN);
        }
        assert!(all.line("support").is_ok() && sales.line("sales").is_ok());
        let e = sales.line("support").unwrap_err();
        assert!(e.message.contains("covering lines sales"), "{}", e.message);
        assert!(olga.line("sales").is_err());
        assert!(olga.session("sales", Some("op-1")).is_ok());
        assert!(olga.session("sales", Some("op-2")).is_err());
        assert!(olga.session("sales", None).is_err());
        assert!(sales.session("sales", Some("op-2")).is_ok());
        assert!(admin.all_lines() && all.all_lines() && !sales.all_lines() && !olga.all_lines());
        let e = sales
            .every_line("the report", "; name one of them with ?line=")
            .unwrap_err();
        assert_eq!(
            e.message,
            format!(
                "the report spans every line, and {} covering lines sales; name one of them with ?line=",
                Caller::describe(match &sales {
                    Caller::Key(k) => k,
                    Caller::Open => unreachable!(),
                })
            )
        );
    }

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
    fn loopback_addresses() {
        assert!(is_loopback("127.0.0.1:8080") && is_loopback("[::1]:80"));
        assert!(!is_loopback("0.0.0.0:8080") && !is_loopback("192.168.1.5:80"));
    }
}
