//! API keys, made and checked. A key is `rl_<id>_<secret>`: the id finds the stored key,
//! the secret is compared with the stored SHA-256 in constant time. Only the hash is
//! stored; the key's text is shown once, when it is made.

use chrono::{DateTime, Utc};
use rateline_domain::{ErrorCode, Invalid, PersonId, Role};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::base::Engine;
use super::error::EngineError;
use super::ids::known_person;
use crate::policy::Caller;
use crate::store::{KeyRecord, NewKey, Result, StoredKey};

/// The most lines a supervisor key names.
pub const MAX_KEY_LINES: usize = 100;

/// A key asked for: by the command line or `POST /v1/keys`.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// Who or what uses it, for the list (1 to 200 characters).
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// What the key may do: an `operator` key acts as `person_id` on that person's lines, a
    /// `supervisor` key on `lines`, an `admin` key on everything.
    pub role: Role,
    /// The operator an `operator` key acts as (required for those, refused for others).
    #[serde(default)]
    pub person_id: Option<String>,
    /// The lines a `supervisor` key covers; every line when absent. Only for supervisors.
    #[serde(default)]
    pub lines: Option<Vec<String>>,
}

/// A new key: what to store, and the one time its full text is known.
pub struct Minted {
    /// The key's record and its secret's hash: what the store keeps.
    pub key: NewKey,
    /// `rl_<id>_<secret>`: shown once, never stored.
    pub text: String,
}

/// Makes a key; `lines` only for supervisors, `person_id` only (and always) for operators.
pub fn mint(
    name: &str,
    role: Role,
    person_id: Option<PersonId>,
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
                last_used_at: None,
            },
            secret_hash: hash(&secret),
        },
    }
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
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

/// Why a key's text was not taken.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyRefusal {
    /// Not a key's form at all (nothing was looked up).
    Malformed,
    /// No such key, or the secret is wrong (the two are not told apart).
    Unknown,
    /// The key was revoked at this time.
    Revoked {
        /// The key's id.
        id: String,
        /// When it was revoked.
        at: DateTime<Utc>,
    },
    /// An operator key whose person is deactivated (or gone): a key acts as its person and
    /// works only while they do.
    PersonInactive {
        /// The key's id.
        id: String,
        /// The person the key acts as.
        person: String,
    },
}

impl KeyRefusal {
    /// The reason as the auth-failure metric names it.
    pub fn reason(&self) -> &'static str {
        match self {
            KeyRefusal::Malformed => "malformed",
            KeyRefusal::Unknown => "unknown",
            KeyRefusal::Revoked { .. } => "revoked",
            KeyRefusal::PersonInactive { .. } => "person_deactivated",
        }
    }
}

impl Engine {
    /// The key `text` names, if it is one of this server's and not revoked; with its
    /// operator's lines.
    pub async fn check_key(
        &self,
        text: &str,
    ) -> Result<std::result::Result<StoredKey, KeyRefusal>> {
        let Some((id, secret)) = key_parts(text) else {
            return Ok(Err(KeyRefusal::Malformed));
        };
        let Some(stored) = self.store.keys().get(id).await? else {
            return Ok(Err(KeyRefusal::Unknown));
        };
        if !bool::from(hash(secret).as_bytes().ct_eq(stored.secret_hash.as_bytes())) {
            return Ok(Err(KeyRefusal::Unknown));
        }
        if let Some(at) = stored.record.revoked_at {
            return Ok(Err(KeyRefusal::Revoked {
                id: stored.record.id,
                at,
            }));
        }
        if !stored.person_active {
            return Ok(Err(KeyRefusal::PersonInactive {
                id: stored.record.id,
                person: stored
                    .record
                    .person_id
                    .map(String::from)
                    .unwrap_or_default(),
            }));
        }
        self.key_used(&stored.record.id);
        Ok(Ok(stored))
    }

    /// Notes that key `id` was used now, in memory: [`Engine::write_key_uses`] writes it.
    fn key_used(&self, id: &str) {
        let now = self.now();
        let mut uses = self.key_uses.lock().unwrap_or_else(|e| e.into_inner());
        // Every call of a key passes here: its id is copied only on its first call of a minute.
        match uses.get_mut(id) {
            Some(at) => *at = now,
            None => {
                uses.insert(id.to_owned(), now);
            }
        }
    }

    /// Writes the key uses noted since the last time (the scheduler calls it every minute):
    /// a call never waits on a write of its own. Uses that could not be written are kept
    /// for the next time.
    pub async fn write_key_uses(&self) -> Result<()> {
        let uses: Vec<(String, chrono::DateTime<chrono::Utc>)> = {
            let mut held = self.key_uses.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut *held).into_iter().collect()
        };
        if uses.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.store.keys().note_uses(&uses).await {
            let mut held = self.key_uses.lock().unwrap_or_else(|e| e.into_inner());
            for (id, at) in uses {
                let noted = held.entry(id).or_insert(at);
                *noted = (*noted).max(at);
            }
            return Err(e);
        }
        Ok(())
    }

    /// Key `id` with its operator's lines, unless it was revoked or its person deactivated
    /// (a dashboard sign-in made with a key lasts only as long as the key works).
    pub async fn active_key(&self, id: &str) -> Result<Option<StoredKey>> {
        let key = self
            .store
            .keys()
            .get(id)
            .await?
            .filter(|k| k.record.revoked_at.is_none() && k.person_active);
        if key.is_some() {
            self.key_used(id);
        }
        Ok(key)
    }

    /// Whether any API key was ever made or any person's password set: from then on the open
    /// mode is over, and every `/v1` call needs a key.
    pub async fn any_credential(&self) -> Result<bool> {
        self.store.keys().any_credential().await
    }

    /// Makes and stores a key (its secret's hash only): admins (the command line is
    /// [`Caller::Open`]). The key's full text is in what this returns, and nowhere else.
    pub async fn make_key(
        &self,
        caller: &Caller,
        asked: KeyRequest,
    ) -> std::result::Result<Minted, EngineError> {
        caller.admin("making an API key")?;
        let name = asked.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(Invalid::new("name", "must be 1 to 200 characters").into());
        }
        match (asked.role, &asked.person_id, &asked.lines) {
            (Role::Operator, None, _) => {
                return Err(Invalid::new(
                    "person_id",
                    "is required: an operator key acts as an operator (a person's id)",
                )
                .into());
            }
            (Role::Operator | Role::Admin, _, Some(_)) => {
                return Err(Invalid::new("lines", "is for supervisor keys only").into());
            }
            (Role::Supervisor | Role::Admin, Some(_), _) => {
                return Err(Invalid::new("person_id", "is for operator keys only").into());
            }
            _ => {}
        }
        if asked
            .lines
            .as_ref()
            .is_some_and(|l| l.len() > MAX_KEY_LINES)
        {
            return Err(
                Invalid::new("lines", format!("names at most {MAX_KEY_LINES} lines")).into(),
            );
        }
        let person = match asked.person_id.as_deref() {
            None => None,
            Some(p) => match known_person(p) {
                Ok(id) if self.person_exists(&id).await? => Some(id),
                _ => {
                    return Err(Invalid::new(
                        "person_id",
                        format!(
                            "person '{p}' does not exist: create them with PUT /v1/people/{p} first"
                        ),
                    )
                    .into());
                }
            },
        };
        let minted = mint(name, asked.role, person, asked.lines, self.now());
        self.store.keys().create(&minted.key).await?;
        let made = &minted.key.record;
        self.record(
            &super::audit::actor(caller),
            "key",
            &made.id,
            None,
            made,
            None,
        )
        .await?;
        Ok(minted)
    }

    /// Every key, oldest first, revoked ones included: admins.
    pub async fn keys(&self, caller: &Caller) -> std::result::Result<Vec<KeyRecord>, EngineError> {
        caller.admin("listing API keys")?;
        let mut keys = self.store.keys().list().await?;
        // Uses not written yet count: the list is exact, not a minute behind.
        let held = self.key_uses.lock().unwrap_or_else(|e| e.into_inner());
        for k in &mut keys {
            if let Some(at) = held.get(&k.id) {
                k.last_used_at = k.last_used_at.max(Some(*at));
            }
        }
        Ok(keys)
    }

    /// Revokes key `id` (it stays in the list, revoked): admins. Revoking it again changes
    /// nothing.
    pub async fn revoke_key(
        &self,
        caller: &Caller,
        id: &str,
    ) -> std::result::Result<KeyRecord, EngineError> {
        caller.admin("revoking an API key")?;
        let not_found = || EngineError::NotFound {
            code: ErrorCode::KeyNotFound,
            message: format!("there is no key '{id}'; GET /v1/keys lists them"),
        };
        let keys = self.store.keys();
        let before = keys.get(id).await?.ok_or_else(not_found)?.record;
        if !keys.revoke(id, self.now()).await? {
            return Err(not_found());
        }
        let after = keys.get(id).await?.ok_or_else(not_found)?.record;
        let actor = super::audit::actor(caller);
        self.record(&actor, "key", id, Some(&before), &after, Some("revoked"))
            .await?;
        Ok(after)
    }
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
}
