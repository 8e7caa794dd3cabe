//! API keys, made and checked. A key is `rl_<id>_<secret>`: the id finds the stored key,
//! the secret is compared with the stored SHA-256 in constant time. Only the hash is
//! stored; the key's text is shown once, when it is made.

use chrono::{DateTime, Utc};
use rateline_domain::Role;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Engine;
use crate::store::{KeyRecord, NewKey, Result, StoredKey};

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
    Revoked { id: String, at: DateTime<Utc> },
}

impl KeyRefusal {
    /// The reason as the auth-failure metric names it.
    pub fn reason(&self) -> &'static str {
        match self {
            KeyRefusal::Malformed => "malformed",
            KeyRefusal::Unknown => "unknown",
            KeyRefusal::Revoked { .. } => "revoked",
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
        let Some(stored) = self.store.key(id).await? else {
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
        Ok(Ok(stored))
    }

    /// Key `id` with its operator's lines, unless it was revoked (a dashboard sign-in made
    /// with a key lasts only as long as the key).
    pub async fn active_key(&self, id: &str) -> Result<Option<StoredKey>> {
        Ok(self
            .store
            .key(id)
            .await?
            .filter(|k| k.record.revoked_at.is_none()))
    }

    /// Whether any API key was ever made: from then on every `/v1` call needs one.
    pub async fn any_key(&self) -> Result<bool> {
        self.store.any_key().await
    }

    /// Stores a new key (its secret's hash only).
    pub async fn create_key(&self, key: &NewKey) -> Result<()> {
        self.store.create_key(key).await
    }

    /// Every key, oldest first, revoked ones included.
    pub async fn keys(&self) -> Result<Vec<KeyRecord>> {
        self.store.list_keys().await
    }

    /// Revokes key `id`; false when there is no such key.
    pub async fn revoke_key(&self, id: &str) -> Result<bool> {
        self.store.revoke_key(id, self.now()).await
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
