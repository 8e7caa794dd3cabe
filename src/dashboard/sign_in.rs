//! Signing in to the dashboard: server-side sessions (tower-sessions) kept in the store,
//! and the caller a signed-in browser acts as.
//!
//! The cookie (`rateline_session`: HttpOnly, SameSite=Lax, Secure behind https, path
//! `/dashboard`) holds only a random 128-bit id; the store keeps the sign-in under the id's
//! SHA-256, with what it grants: a person's id with a fingerprint of their password hash,
//! or the id of the API key that signed in, never the key or the password. A sign-in unused
//! for `dashboard.sign_in_idle_minutes` is gone, and signing out deletes it. The person (or
//! key) is read again on every request, so a new password, a deactivation or a revoked key
//! ends every sign-in made before it at once.
//!
//! A row is written only when a request changed its sign-in: a sign-in made after its
//! credential was checked (inserted), a sign-in used (its idle expiry moved on) or a message
//! kept for the next page (updated). A request with a cookie the store does not know writes
//! nothing, and an update never inserts: a request that loaded its sign-in before a
//! sign-out cannot bring it back when it ends. (The one row written without a credential is
//! the open mode's, which has none to check, carrying a page's message after an action.)
//!
//! SameSite is Lax, not Strict, so that a link in an alert e-mail opens the page signed in;
//! cross-site forms are refused by the origin check on every dashboard POST (the router's
//! CSRF layer).

use rateline_domain::ErrorCode;
use std::net::IpAddr;

use async_trait::async_trait;
use axum::http::{HeaderMap, header};
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions::{Expiry, Session, SessionManagerLayer};

use crate::http::{ApiError, AppState};
use crate::policy::Caller;
use crate::store::SignIns;

/// The sign-in cookie's name.
pub const COOKIE: &str = "rateline_session";

/// The session value that says who signed in.
const SIGNED_IN: &str = "signed_in";

/// Who a sign-in acts as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "with", rename_all = "snake_case")]
pub enum SignedIn {
    /// An API key, by its id.
    Key {
        /// The key's id; the sign-in ends when the key is revoked.
        key_id: String,
    },
    /// A person with their password; the sign-in lasts while that password does
    /// (`password` is its fingerprint, see `Engine::signed_in_person`).
    Person {
        /// The person signed in.
        person_id: String,
        /// A fingerprint of their password's stored hash at sign-in: a new password changes it.
        password: String,
    },
}

/// The session layer of the dashboard's routes.
pub fn layer(
    sign_ins: SignIns,
    secure: bool,
    idle_minutes: u32,
) -> SessionManagerLayer<SignInStore> {
    SessionManagerLayer::new(SignInStore { sign_ins })
        .with_name(COOKIE)
        .with_path("/dashboard")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(secure)
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::minutes(i64::from(idle_minutes)),
        ))
        // Saved only when changed ([`caller`] moves a sign-in's idle expiry on when it is
        // used): saving every request would make a row for any cookie sent.
        .with_always_save(false)
}

/// Moves a sign-in's idle expiry on: it is written when the request ends.
fn used(session: &Session) {
    session.set_expiry(session.expiry());
}

/// Signs `signed_in` in on `session`, under a new id (the one the browser had before,
/// perhaps planted by someone else, is dropped).
pub async fn sign_in(session: &Session, signed_in: SignedIn) -> Result<(), ApiError> {
    session.cycle_id().await.map_err(session_error)?;
    session
        .insert(SIGNED_IN, signed_in)
        .await
        .map_err(session_error)
}

/// Who the sign-in on `session` is, as the audit log names them (a person's id, or
/// `key <id>`); `None` when nobody is signed in.
pub async fn signed_in_as(session: &Session) -> Option<String> {
    match session.get::<SignedIn>(SIGNED_IN).await.ok()?? {
        SignedIn::Key { key_id } => Some(format!("key {key_id}")),
        SignedIn::Person { person_id, .. } => Some(person_id),
    }
}

/// Ends the sign-in: the stored session is deleted and the cookie cleared.
pub async fn sign_out(session: &Session) -> Result<(), ApiError> {
    session.flush().await.map_err(session_error)
}

/// The caller of a dashboard request, or the refusal that sends it to the sign-in page:
/// an `Authorization` header as on `/v1` (for programs), else the signed-in session (a
/// person or a key), else (no key exists yet) the open mode.
pub async fn caller(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
) -> Result<Caller, ApiError> {
    if let Some(authorization) = headers.get(header::AUTHORIZATION) {
        return crate::http::caller(state, Some(authorization.clone()), Ok(()), ip).await;
    }
    let nobody = || crate::http::caller(state, None, crate::http::open_mode_allows(headers), ip);
    match session
        .get::<SignedIn>(SIGNED_IN)
        .await
        .map_err(session_error)?
    {
        Some(SignedIn::Key { key_id }) => {
            match state.engine.active_key(&key_id).await? {
                Some(k) => {
                    used(session);
                    Ok(Caller::with_key(k.record, k.person_lines))
                }
                // The key was revoked (or is gone): so is every sign-in made with it.
                _ => {
                    sign_out(session).await?;
                    nobody().await
                }
            }
        }
        Some(SignedIn::Person {
            person_id,
            password,
        }) => {
            match state.engine.signed_in_person(&person_id, &password).await? {
                Some(caller) => {
                    used(session);
                    Ok(caller)
                }
                // The person is gone, or their password was set again since.
                None => {
                    sign_out(session).await?;
                    nobody().await
                }
            }
        }
        None => nobody().await,
    }
}

fn session_error(e: tower_sessions::session::Error) -> ApiError {
    tracing::error!(error = %e, "the sign-in could not be read or written");
    match e {
        tower_sessions::session::Error::Store(session_store::Error::Backend(_)) => ApiError::new(
            ErrorCode::DatabaseUnavailable,
            "the database is unavailable; nothing was changed, try again shortly",
        ),
        _ => ApiError::new(
            ErrorCode::InternalError,
            "an unexpected error occurred; it has been logged",
        ),
    }
}

/// Sign-ins in the store, keyed by the SHA-256 of their id.
#[derive(Debug, Clone)]
pub struct SignInStore {
    sign_ins: SignIns,
}

fn id_hash(id: &Id) -> String {
    hex::encode(Sha256::digest(id.to_string().as_bytes()))
}

fn utc(t: OffsetDateTime) -> DateTime<Utc> {
    Utc.timestamp_millis_opt((t.unix_timestamp_nanos() / 1_000_000) as i64)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn backend(e: crate::store::StoreError) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn encode(record: &Record) -> session_store::Result<String> {
    serde_json::to_string(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))
}

#[async_trait]
impl SessionStore for SignInStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = encode(record)?;
        // A new id until one is free: 128 random bits make a second try all but unheard of.
        while !self
            .sign_ins
            .insert_sign_in(&id_hash(&record.id), &data, utc(record.expiry_date))
            .await
            .map_err(backend)?
        {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.sign_ins
            .update_sign_in(
                &id_hash(&record.id),
                &encode(record)?,
                utc(record.expiry_date),
            )
            .await
            .map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some((data, expires_at)) = self
            .sign_ins
            .sign_in(&id_hash(id), Utc::now())
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let data =
            serde_json::from_str(&data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date = OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(expires_at.timestamp_millis()) * 1_000_000,
        )
        .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.sign_ins
            .delete_sign_in(&id_hash(id))
            .await
            .map_err(backend)
    }
}
