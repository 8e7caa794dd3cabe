//! The helpdesks (a Chatwoot account, a Zammad instance): their settings as JSON, secrets
//! included, where they come from, and their versions, in the `connectors` table. Every
//! write here raises the store's helpdesk generation, so this process's Chatwoot and Zammad
//! channels read them again at once.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use rateline_domain::{Helpdesk, ManagedBy};
use sqlx::Row;

use super::base::Helpdesks;
use super::error::{Result, StoreError};
use super::sql::{ms, time};

/// A stored helpdesk; `settings` holds its token and secret.
#[derive(Debug, Clone)]
pub struct StoredHelpdesk {
    /// Chatwoot or Zammad.
    pub helpdesk: Helpdesk,
    /// The helpdesk's id: a Chatwoot account's number, or a Zammad instance's name.
    pub id: String,
    /// The settings as JSON, in the helpdesk's own shape, token and secret included.
    pub settings: serde_json::Value,
    /// Whether the config file or the API owns it.
    pub managed_by: ManagedBy,
    /// Raised by every write (the API's `ETag`).
    pub version: i64,
    /// When it was last written.
    pub updated_at: DateTime<Utc>,
}

fn read(row: &sqlx::any::AnyRow) -> Result<StoredHelpdesk> {
    let helpdesk: Helpdesk = row.try_get("helpdesk")?;
    let id: String = row.try_get("id")?;
    let settings: String = row.try_get("settings")?;
    Ok(StoredHelpdesk {
        helpdesk,
        settings: serde_json::from_str(&settings)
            .map_err(|e| StoreError::Corrupt(format!("settings of {helpdesk} '{id}': {e}")))?,
        id,
        managed_by: row.try_get("managed_by")?,
        version: row.try_get("version")?,
        updated_at: time(row.try_get("updated_at")?),
    })
}

impl Helpdesks<'_> {
    /// The helpdesks of kind `helpdesk` by id, or the one with `id`.
    pub async fn list(self, helpdesk: Helpdesk, id: Option<&str>) -> Result<Vec<StoredHelpdesk>> {
        sqlx::query(
            "SELECT helpdesk, id, settings, managed_by, version, updated_at FROM connectors
             WHERE helpdesk = $1 AND ($2 IS NULL OR id = $2) ORDER BY id",
        )
        .bind(helpdesk)
        .bind(id)
        .fetch_all(&self.0.pool)
        .await?
        .iter()
        .map(read)
        .collect()
    }

    /// Creates or replaces a helpdesk. With `expected`, only the helpdesk at that version
    /// is replaced (none is created); `false` when it is not at that version.
    pub async fn upsert(
        self,
        helpdesk: Helpdesk,
        id: &str,
        settings: &serde_json::Value,
        managed_by: ManagedBy,
        expected: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let sql = if expected.is_some() {
            "UPDATE connectors SET settings = $3, managed_by = $4, updated_at = $5,
                                   version = version + 1
             WHERE helpdesk = $1 AND id = $2 AND version = $6"
        } else {
            "INSERT INTO connectors (helpdesk, id, settings, managed_by, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (helpdesk, id) DO UPDATE
             SET settings = excluded.settings, managed_by = excluded.managed_by,
                 updated_at = excluded.updated_at, version = connectors.version + 1"
        };
        let mut query = sqlx::query(sql)
            .bind(helpdesk)
            .bind(id)
            .bind(settings.to_string())
            .bind(managed_by)
            .bind(ms(now));
        if let Some(v) = expected {
            query = query.bind(v);
        }
        let done = query.execute(&self.0.pool).await?.rows_affected() == 1;
        self.0.helpdesks_changed.fetch_add(1, Ordering::Relaxed);
        Ok(done)
    }

    /// Deletes a helpdesk, where its catch-up had read to (connected again, it starts
    /// afresh rather than read what came while it was away) and the record of what it made
    /// in the helpdesk; with `expected`, only at that version. `false` when nothing was deleted.
    pub async fn delete(self, helpdesk: Helpdesk, id: &str, expected: Option<i64>) -> Result<bool> {
        let mut tx = self.0.pool.begin().await?;
        let done = sqlx::query(
            "DELETE FROM connectors WHERE helpdesk = $1 AND id = $2
             AND ($3 IS NULL OR version = $3)",
        )
        .bind(helpdesk)
        .bind(id)
        .bind(expected)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if done {
            for forget in [
                "DELETE FROM helpdesk_catch_ups WHERE helpdesk = $1 AND account = $2",
                "DELETE FROM helpdesk_setups WHERE helpdesk = $1 AND account = $2",
            ] {
                sqlx::query(forget)
                    .bind(helpdesk)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        self.0.helpdesks_changed.fetch_add(1, Ordering::Relaxed);
        Ok(done)
    }

    /// How many helpdesk writes this store has made: a change since a reading makes it
    /// stale in this process (other processes' changes are read after a while).
    pub fn helpdesks_generation(self) -> u64 {
        self.0.helpdesks_changed.load(Ordering::Relaxed)
    }
}
