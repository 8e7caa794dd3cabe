//! Lines and their settings.

use chrono::{DateTime, Utc};
use rateline_domain::{LineSettings, ManagedBy};
use sqlx::Row;

use super::{Result, Store, StoreError, ms, time};

/// A stored line.
#[derive(Debug, Clone)]
pub struct LineRecord {
    pub id: String,
    pub settings: LineSettings,
    pub managed_by: ManagedBy,
    pub updated_at: DateTime<Utc>,
}

fn read_line(row: &sqlx::any::AnyRow) -> Result<LineRecord> {
    let id: String = row.try_get("id")?;
    let settings: String = row.try_get("settings")?;
    let settings = serde_json::from_str(&settings)
        .map_err(|e| StoreError::Corrupt(format!("settings of line '{id}': {e}")))?;
    Ok(LineRecord {
        id,
        settings,
        managed_by: row
            .try_get::<String, _>("managed_by")?
            .parse()
            .map_err(StoreError::Corrupt)?,
        updated_at: time(row.try_get("updated_at")?),
    })
}

impl Store {
    /// Creates or replaces a line's settings.
    pub async fn upsert_line(
        &self,
        id: &str,
        settings: &LineSettings,
        managed_by: ManagedBy,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let json = serde_json::to_string(settings).expect("line settings serialise");
        sqlx::query(
            "INSERT INTO lines (id, settings, managed_by, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE
             SET settings = excluded.settings, managed_by = excluded.managed_by,
                 updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(json)
        .bind(managed_by.as_str())
        .bind(ms(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn get_line(&self, id: &str) -> Result<Option<LineRecord>> {
        sqlx::query("SELECT id, settings, managed_by, updated_at FROM lines WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(read_line)
            .transpose()
    }

    pub async fn list_lines(&self) -> Result<Vec<LineRecord>> {
        sqlx::query("SELECT id, settings, managed_by, updated_at FROM lines ORDER BY id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(read_line)
            .collect()
    }
}
