//! Lines and their settings.
//!
//! Every open needs its line's settings, which change rarely: a process keeps each line as it
//! last read it for opens, trusted for [`GATE_TTL`](super::gate::GATE_TTL). A write made through this process drops
//! them at once; one made through another process reaches opens here at most that long
//! after.

use chrono::{DateTime, Utc};
use rateline_domain::{LineId, LineSettings, ManagedBy};

use super::base::Lines;
use super::error::Result;
use super::rows::{LINE_COLUMNS, LineRecord, read_line};
use super::sql::ms;

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
        let written = query.execute(&self.0.pool).await?.rows_affected() == 1;
        self.0.open_lines.forget();
        Ok(written)
    }

    /// Line `id` for a new session: as an open read it less than [`GATE_TTL`](super::gate::GATE_TTL) ago, else as
    /// last committed (see the module's docs).
    pub async fn for_open(self, id: &LineId) -> Result<Option<LineRecord>> {
        let generation = match self.0.open_lines.fresh(id) {
            Ok(line) => return Ok(Some(line)),
            Err(generation) => generation,
        };
        let line = self.get(id).await?;
        if let Some(l) = &line {
            self.0.open_lines.keep(id, l, generation);
        }
        Ok(line)
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
