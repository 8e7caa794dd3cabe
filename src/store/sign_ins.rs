//! Dashboard sign-ins (server-side sessions), keyed by the SHA-256 of the id the browser's
//! cookie holds. What is kept is opaque JSON: the dashboard's session layer decides what
//! it says.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::base::Store;
use super::error::Result;
use super::sql::ms;

/// The store as the dashboard's sign-in sessions see it: the `sign_ins` table and nothing
/// else (see [`Store::sign_ins`]).
#[derive(Debug, Clone)]
pub struct SignIns(Store);

impl Store {
    /// A handle on the sign-ins alone.
    pub fn sign_ins(&self) -> SignIns {
        SignIns(self.clone())
    }
}

impl SignIns {
    /// Stores a new sign-in; false (nothing written) when the id is taken.
    pub async fn insert_sign_in(
        &self,
        id_hash: &str,
        data: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO sign_ins (id_hash, data, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (id_hash) DO NOTHING",
        )
        .bind(id_hash)
        .bind(data)
        .bind(ms(expires_at))
        .execute(&self.0.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Writes a sign-in's values and expiry, if it still exists: never brings back one that
    /// was ended (signed out) while the request writing it was in flight.
    pub async fn update_sign_in(
        &self,
        id_hash: &str,
        data: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query("UPDATE sign_ins SET data = $2, expires_at = $3 WHERE id_hash = $1")
            .bind(id_hash)
            .bind(data)
            .bind(ms(expires_at))
            .execute(&self.0.pool)
            .await?;
        Ok(())
    }

    /// A sign-in's values and expiry, unless it has expired by `now`.
    pub async fn sign_in(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(String, DateTime<Utc>)>> {
        let row = sqlx::query(
            "SELECT data, expires_at FROM sign_ins WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(ms(now))
        .fetch_optional(&self.0.pool)
        .await?;
        row.map(|r| {
            Ok((
                r.try_get("data")?,
                super::sql::time(r.try_get("expires_at")?),
            ))
        })
        .transpose()
    }

    /// Ends a sign-in (sign-out).
    pub async fn delete_sign_in(&self, id_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sign_ins WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.0.pool)
            .await?;
        Ok(())
    }

    /// Forgets sign-ins that expired before `now`; returns how many.
    pub async fn delete_expired_sign_ins(&self, now: DateTime<Utc>) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM sign_ins WHERE expires_at <= $1")
            .bind(ms(now))
            .execute(&self.0.pool)
            .await?
            .rows_affected())
    }
}
