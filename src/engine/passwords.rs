//! People sign in to the dashboard as themselves: an admin makes an invitation link, the
//! person sets a password with it, and signs in with their id and that password.
//!
//! - Passwords are hashed with Argon2id (the `argon2` crate's defaults: 19 MiB, two
//!   passes, one lane, as OWASP recommends), on a blocking thread so a sign-in never holds
//!   up the server's other work.
//! - An invitation is 256 random bits; only their SHA-256 is stored. It works once, until
//!   it expires, and a newer link for the same person replaces it. Setting a password
//!   with a link is also how a forgotten one is reset; every sign-in made before it ends.
//! - A sign-in for an unknown person, or one without a password, costs the same hash as a
//!   wrong password, so the time taken does not tell which ids exist.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, password_hash::rand_core::OsRng};
use chrono::{DateTime, Duration, Utc};
use rateline_domain::{ClientAddress, ErrorCode, Invalid, PersonId, check_id};
use sha2::{Digest, Sha256};

use super::base::Engine;
use super::error::{EngineError, Result, person_not_found};
use crate::policy::Caller;
use crate::store::Invitation;

/// The fewest characters a password has.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The most: a bound on the work one sign-in can ask for.
pub const MAX_PASSWORD_CHARS: usize = 256;
/// How long an invitation link works when its maker does not say.
pub const INVITATION_HOURS: i64 = 72;

/// The path and query of an invitation link on the dashboard (the link is
/// `server.public_url` and this). The token is in the query, which request logs never
/// show, not in the path, which they may.
pub fn invitation_path(token: &str) -> String {
    format!("/dashboard/invitation?token={token}")
}

/// A new invitation link's token, shown once, and when it stops working.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    /// The person invited, who sets their password with the link.
    pub person_id: String,
    /// The link's secret: shown once, only its hash is stored.
    pub token: String,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// What a sign-in remembers of the password it was made with: a digest of the stored hash,
/// which a new password (a new salt) always changes. It tells nothing of the password.
fn fingerprint(password_hash: &str) -> String {
    hex::encode(&Sha256::digest(password_hash.as_bytes())[..16])
}

/// A hash to verify against when there is no person or no password, so that refusing
/// costs what a wrong password costs.
static DECOY: LazyLock<String> = LazyLock::new(|| hash("not a password of anyone's"));

/// The cores: at most this many hashes at a time, in all and per address.
static CORES: LazyLock<usize> =
    LazyLock::new(|| std::thread::available_parallelism().map_or(2, |n| n.get()));

/// At most one hash at a time per core: a burst of sign-ins waits its turn instead of
/// taking every core (and Argon2's memory) at once. The semaphore is fair (first come, first
/// served), and [`TURNS`] lets each address wait for it with few hashes at a time.
static HASHING: LazyLock<Arc<tokio::sync::Semaphore>> =
    LazyLock::new(|| Arc::new(tokio::sync::Semaphore::new(*CORES)));

/// Each address's turns at [`HASHING`]: as many hashes at a time per address (an IPv6 client
/// by its /64) as there are cores, so an office behind one address signs in at the
/// machine's speed, while a guesser with a hundred sign-ins in flight holds a core's worth
/// of places in the queue, not a hundred: a real sign-in waits behind at most that many
/// hashes of each other address.
static TURNS: LazyLock<std::sync::Mutex<HashMap<ClientAddress, Arc<tokio::sync::Semaphore>>>> =
    LazyLock::new(Default::default);

/// The address's turn, made when it first asks.
fn turn_of(address: ClientAddress) -> Arc<tokio::sync::Semaphore> {
    let mut turns = TURNS.lock().unwrap_or_else(|e| e.into_inner());
    // Turns left behind by requests given up on go once many addresses have asked.
    if turns.len() > 10_000 {
        turns.retain(|_, t| Arc::strong_count(t) > 1);
    }
    turns
        .entry(address)
        .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(*CORES)))
        .clone()
}

/// Forgets an address's turns once nobody holds or waits for them.
fn forget_turn(address: ClientAddress) {
    let mut turns = TURNS.lock().unwrap_or_else(|e| e.into_inner());
    if turns
        .get(&address)
        .is_some_and(|t| Arc::strong_count(t) == 1)
    {
        turns.remove(&address);
    }
}

/// Runs `work` (a hash or a verification) for a request from `from` on a blocking thread,
/// within the address's turn and [`HASHING`]. The turns go with the work, so a request given
/// up on (a timeout, a closed connection) does not free them while the hash still runs.
async fn hashing<T: Send + 'static>(
    from: Option<IpAddr>,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    let address = from.map(ClientAddress::of);
    let own_turn = match address {
        Some(a) => {
            let turn = turn_of(a);
            Some(
                turn.acquire_owned()
                    .await
                    .expect("the semaphore is never closed"),
            )
        }
        None => None,
    };
    let turn = HASHING
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    let done = tokio::task::spawn_blocking(move || {
        let done = work();
        drop(turn);
        drop(own_turn);
        done
    })
    .await
    .expect("hashing does not panic");
    if let Some(a) = address {
        forget_turn(a);
    }
    done
}

fn hash(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .expect("Argon2id hashes any password of bounded length")
        .to_string()
}

fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Checks a new password: its length, and that both fields say the same.
pub fn check_password(password: &str, repeated: &str) -> std::result::Result<(), Invalid> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(Invalid::new(
            "password",
            format!("has {n} characters; use at least {MIN_PASSWORD_CHARS}"),
        ));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(Invalid::new(
            "password",
            format!("has {n} characters; use at most {MAX_PASSWORD_CHARS}"),
        ));
    }
    if password.trim().is_empty() {
        return Err(Invalid::new("password", "cannot be only spaces"));
    }
    if password != repeated {
        return Err(Invalid::new(
            "repeat",
            "differs from the password; type the same password twice",
        ));
    }
    Ok(())
}

pub(super) fn deactivated(id: &str) -> EngineError {
    EngineError::Conflict {
        code: ErrorCode::PersonDeactivated,
        message: format!(
            "person '{id}' is deactivated; an admin turns them back on with PATCH \
             /v1/people/{id} {{\"active\": true}} first"
        ),
    }
}

fn invitation_not_found() -> EngineError {
    EngineError::NotFound {
        code: ErrorCode::InvitationNotFound,
        message: "this invitation link is not known: it was mistyped, or a newer link for the \
                  same person replaced it; ask an admin for a new one"
            .into(),
    }
}

impl Engine {
    /// Makes an invitation link for person `person_id`, working for `valid` (the person's
    /// earlier unused links stop working): admins only (the command line is
    /// [`Caller::Open`]). Who asked is kept for the record.
    pub async fn invite(
        &self,
        caller: &Caller,
        person_id: &PersonId,
        valid: Duration,
    ) -> Result<NewInvitation> {
        caller.admin("inviting a person")?;
        let created_by = caller.recorded_as();
        let created_by = created_by.as_deref();
        match self.store.people().person_sign_in(person_id).await? {
            None => return Err(person_not_found(person_id)),
            Some(p) if !p.active => return Err(deactivated(person_id)),
            Some(_) => {}
        }
        let now = self.now();
        let token = hex::encode(rand::random::<[u8; 32]>());
        let expires_at = now + valid;
        self.store
            .people()
            .create_invitation(&token_hash(&token), person_id, created_by, now, expires_at)
            .await?;
        let expires = serde_json::Value::from(expires_at.to_rfc3339());
        self.note(
            &super::audit::actor(caller),
            "person",
            person_id,
            "invited",
            &[("invitation_expires_at", expires)],
        )
        .await;
        Ok(NewInvitation {
            person_id: person_id.to_string(),
            token,
            expires_at,
        })
    }

    /// The invitation behind `token`, if it still works; else why not.
    pub async fn invitation(&self, token: &str) -> Result<Invitation> {
        // A token is 64 hex digits; anything else is not looked up.
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invitation_not_found());
        }
        let invitation = self
            .store
            .people()
            .invitation(&token_hash(token))
            .await?
            .ok_or_else(invitation_not_found)?;
        if let Some(at) = invitation.used_at {
            return Err(EngineError::Gone {
                code: ErrorCode::InvitationUsed,
                message: format!(
                    "this invitation link set {}'s password at {}; sign in with it, or ask an \
                     admin for a new link",
                    invitation.person_name,
                    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            });
        }
        if invitation.expires_at <= self.now() {
            return Err(EngineError::Gone {
                code: ErrorCode::InvitationExpired,
                message: format!(
                    "this invitation link expired at {}; ask an admin for a new one",
                    invitation
                        .expires_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            });
        }
        Ok(invitation)
    }

    /// Sets the password of the person invited by `token` (the browser at `from`); returns
    /// their id and the password's fingerprint, for the sign-in it makes. The link then stops
    /// working, and every earlier sign-in of the person ends. The audit log records the
    /// password set (naming who made the link) and the sign-in.
    pub async fn accept_invitation(
        &self,
        token: &str,
        password: &str,
        repeated: &str,
        from: Option<IpAddr>,
    ) -> Result<(String, String)> {
        let invitation = self.invitation(token).await?;
        if self
            .store
            .people()
            .person_sign_in(&invitation.person_id)
            .await?
            .is_some_and(|p| !p.active)
        {
            return Err(deactivated(&invitation.person_id));
        }
        check_password(password, repeated)?;
        let password = password.to_owned();
        let hashed = hashing(from, move || hash(&password)).await;
        let now = self.now();
        match self
            .store
            .people()
            .use_invitation(&token_hash(token), &hashed, now)
            .await?
        {
            Some(person_id) => {
                let made_by = invitation.created_by.as_deref().unwrap_or("no key");
                self.note(
                    &person_id,
                    "person",
                    &person_id,
                    "password_set",
                    &[
                        ("with", "invitation".into()),
                        ("invitation_made_by", made_by.into()),
                        ("address", from.map(|ip| ip.to_string()).into()),
                    ],
                )
                .await;
                self.audit_sign_in(&person_id, "invitation", from).await;
                Ok((person_id, fingerprint(&hashed)))
            }
            // Used or expired between the check and the write (another tab): say which.
            None => Err(self
                .invitation(token)
                .await
                .err()
                .unwrap_or_else(invitation_not_found)),
        }
    }

    /// The fingerprint of person `id`'s password, for their sign-in, if `password` is
    /// theirs; `None` otherwise (no such person, no password set, or a wrong one: not told
    /// apart to the caller). Either way the audit log hears of it: a sign-in, or a failed one
    /// counted for the person (or for ids that are nobody's), from address `from`.
    pub async fn sign_in_person(
        &self,
        id: &str,
        password: &str,
        from: Option<IpAddr>,
    ) -> Result<Option<String>> {
        let person =
            if check_id("person_id", id).is_ok() && password.len() <= 4 * MAX_PASSWORD_CHARS {
                self.store.people().person_sign_in(id).await?
            } else {
                None
            };
        let stored = person.as_ref().and_then(|p| p.password_hash.clone());
        let typed = password.to_owned();
        // The decoy is made (once) on the blocking thread too.
        let matches = hashing(from, move || {
            verify(&typed, stored.as_deref().unwrap_or(&DECOY))
        })
        .await;
        // A deactivated person's right password is refused as a wrong one is.
        let signed_in = person
            .as_ref()
            .filter(|p| matches && p.active)
            .and_then(|p| p.password_hash.as_deref().map(fingerprint));
        match &signed_in {
            Some(_) => self.audit_sign_in(id, "password", from).await,
            None => {
                let known = person.as_ref().map(|p| p.id.as_str());
                self.audit_failed_sign_in(known, from).await;
            }
        }
        Ok(signed_in)
    }

    /// A person's own change of their password: `current` must be theirs (a wrong one is
    /// named, and counted as a failed sign-in), the new one typed twice and long enough.
    /// Every other sign-in of theirs ends (the fingerprint changes); the new fingerprint is
    /// returned for the sign-in this change is made from. Audited as `password_changed`.
    pub async fn change_password(
        &self,
        caller: &Caller,
        current: &str,
        new: &str,
        repeated: &str,
        from: Option<IpAddr>,
    ) -> Result<(String, String)> {
        let Some(me) = caller.person_id().cloned() else {
            return Err(Invalid::new(
                "current",
                "an API key has no password: people change theirs when signed in as themselves",
            )
            .into());
        };
        let person = self
            .store
            .people()
            .person_sign_in(&me)
            .await?
            .filter(|p| p.active)
            .ok_or_else(|| person_not_found(&me))?;
        let stored = person.password_hash.clone().unwrap_or_default();
        let typed = current.to_owned();
        let check = stored.clone();
        let matches = current.len() <= 4 * MAX_PASSWORD_CHARS
            && !stored.is_empty()
            && hashing(from, move || verify(&typed, &check)).await;
        if !matches {
            self.audit_failed_sign_in(Some(&me), from).await;
            return Err(Invalid::new(
                "current",
                "this is not your current password; nothing was changed",
            )
            .into());
        }
        check_password(new, repeated)?;
        let password = new.to_owned();
        let hashed = hashing(from, move || hash(&password)).await;
        if !self
            .store
            .people()
            .change_password(&me, &stored, &hashed, self.now())
            .await?
        {
            return Err(Invalid::new(
                "current",
                "your password was changed meanwhile (another tab?); sign in again",
            )
            .into());
        }
        self.note(
            &me,
            "person",
            &me,
            "password_changed",
            &[("address", from.map(|ip| ip.to_string()).into())],
        )
        .await;
        Ok((me.into_string(), fingerprint(&hashed)))
    }

    /// The caller a sign-in made with the password of fingerprint `password` is: person
    /// `id` with their role and lines as they are now, read again on every request; `None`
    /// when they are gone or deactivated, or their password was set again since (every older
    /// sign-in ends).
    pub async fn signed_in_person(&self, id: &str, password: &str) -> Result<Option<Caller>> {
        Ok(self
            .store
            .people()
            .person_sign_in(id)
            .await?
            .filter(|p| p.active)
            .filter(|p| p.password_hash.as_deref().map(fingerprint).as_deref() == Some(password))
            .map(|p| Caller::person(&p.id, &p.name, p.role, p.lines)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_hashed_with_argon2id_and_verified() {
        let h = hash("correct horse battery");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("correct horse"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterY", &h));
        assert!(!verify("anything", "not a hash"));
    }

    #[test]
    fn a_new_password_is_long_enough_and_typed_twice() {
        assert!(check_password("0123456789", "0123456789").is_ok());
        let e = check_password("short", "short").unwrap_err();
        assert_eq!(e.field, "password");
        assert!(e.message.contains("at least 10"), "{}", e.message);
        let e = check_password("0123456789", "0123456780").unwrap_err();
        assert_eq!(e.field, "repeat");
        assert!(check_password("          ", "          ").is_err());
    }
}
