//! Lines and their settings.

use chrono::{DateTime, Utc};
use rateline_domain::{LineId, LineSettings, ManagedBy};
use sqlx::Row;

use super::base::Lines;
use super::error::{Result, StoreError};
use super::sql::{ms, time};

/// A stored line.
#[derive(Debug, Clone)]
pub struct LineRecord {
    /// The line's id, as its creator chose it.
    pub id: LineId,
    /// The line's settings, checked when they were written.
    pub settings: LineSettings,
    /// Whether the config file or the API owns it; the file's lines are read-only over HTTP.
    pub managed_by: ManagedBy,
    /// When it was last written.
    pub updated_at: DateTime<Utc>,
    /// Raised by every write (the API's `ETag`).
    pub version: i64,
}

fn read_line(row: &sqlx::any::AnyRow) -> Result<LineRecord> {
    let id: LineId = row.try_get("id")?;
    let settings: String = row.try_get("settings")?;
    let settings = serde_json::from_str(&settings)
        .map_err(|e| StoreError::Corrupt(format!("settings of line '{id}': {e}")))?;
    Ok(LineRecord {
        id,
        settings,
        managed_by: row.try_get("managed_by")?,
        updated_at: time(row.try_get("updated_at")?),
        version: row.try_get("version")?,
    })
}

const LINE_COLUMNS: &str = "id, settings, managed_by, updated_at, version";

impl Lines<'_> {
    /// Creates or replaces a line's settings. With `expected`, only the line at that
    /// version is replaced (none is created); `false` when it is not at that version.
    pub async fn upsert(
        self,
        id: &str,
        settings: &LineSettings,
        managed_by: ManagedBy,
        expected: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let json = serde_json::to_string(settings).expect("line settings serialise");
        let sql = if expected.is_some() {
            "UPDATE lines SET settings = $2, managed_by = $3, updated_at = $4,
                              version = version + 1
             WHERE id = $1 AND version = $5"
        } else {
            "INSERT INTO lines (id, settings, managed_by, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE
             SET settings = excluded.settings, managed_by = excluded.managed_by,
                 updated_at = excluded.updated_at, version = lines.version + 1"
        };
        let mut query = sqlx::query(sql)
            .bind(id)
            .bind(json)
            .bind(managed_by)
            .bind(ms(now));
        if let Some(v) = expected {
            query = query.bind(v);
        }
        Ok(query.execute(&self.0.pool).await?.rows_affected() == 1)
    }

    /// Line `id` as last committed. Every open reads it: on the readers' connections, off
    /// SQLite's one writer connection (see `answer_context`).
    pub async fn get(self, id: &LineId) -> Result<Option<LineRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LINE_COLUMNS} FROM lines WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.0.reads)
        .await?
        .as_ref()
        .map(read_line)
        .transpose()
    }

    /// Every line, by id.
    pub async fn list(self) -> Result<Vec<LineRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LINE_COLUMNS} FROM lines ORDER BY id"
        )))
        .fetch_all(&self.0.pool)
        .await?
        .iter()
        .map(read_line)
        .collect()
    }
}
