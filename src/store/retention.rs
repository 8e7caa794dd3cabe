//! Keeping less: sessions closed before a cutoff are purged with their requests, ratings
//! and follow-ups (`retention.days`).
//!
//! The report's rollup is kept by the triggers of migration 0008, which have no `DELETE`
//! trigger: a purged row's counts stay in `report_days` (and in `report_changes` until
//! folded), so a report over whole UTC days of a purged period reads as before. What is
//! read from the rows themselves is gone with them: the partial days at the ends of a
//! `from`/`to` that is not a midnight, the report by reason, supervisors' evaluations and
//! an operator's list of low ratings.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::base::Retention;
use super::error::Result;
use super::sql::ms;

/// Sessions purged per transaction: bounded, so a first purge of years of data never makes
/// one huge transaction or holds the writer for long.
const PURGE_BATCH: i64 = 500;

/// What a purge removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    /// Sessions purged.
    pub sessions: u64,
    /// Rating requests purged with them.
    pub requests: u64,
    /// Ratings purged with them.
    pub ratings: u64,
}

impl Retention<'_> {
    /// Purges every session closed before `cutoff`, with all that hangs on it, in batches;
    /// returns how much went. Running it again finds nothing more.
    pub async fn purge_closed_before(self, cutoff: DateTime<Utc>) -> Result<Purged> {
        let mut purged = Purged::default();
        loop {
            let mut tx = self.0.pool.begin().await?;
            let ids: Vec<String> = sqlx::query(
                "SELECT id FROM sessions WHERE closed_at IS NOT NULL AND closed_at < $1
                 ORDER BY closed_at LIMIT $2",
            )
            .bind(ms(cutoff))
            .bind(PURGE_BATCH)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<std::result::Result<_, _>>()?;
            if ids.is_empty() {
                // The Meta windows of clients who have not written since: nobody to ask.
                sqlx::query("DELETE FROM client_windows WHERE last_message_at < $1")
                    .bind(ms(cutoff))
                    .execute(&mut *tx)
                    .await?;
                // Operators' digests sent (or ended) that long ago: they name only ratings.
                sqlx::query(
                    "DELETE FROM operator_notices
                     WHERE created_at < $1 AND status NOT IN ('pending', 'sending')",
                )
                .bind(ms(cutoff))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(purged);
            }
            let list = super::sql::placeholders(0, ids.len());
            // Ratings through their requests: both lookups are indexed (requests by session,
            // ratings by request).
            let requests = format!("SELECT id FROM rating_requests WHERE session_id IN ({list})");
            let ratings = format!("SELECT id FROM ratings WHERE request_id IN ({requests})");
            // Children first: the foreign keys point from them to the rows below.
            let statements = [
                format!("DELETE FROM rating_reasons WHERE rating_id IN ({ratings})"),
                format!("DELETE FROM rating_history WHERE rating_id IN ({ratings})"),
                format!("DELETE FROM alerts WHERE rating_id IN ({ratings})"),
                format!("DELETE FROM rating_responses WHERE rating_id IN ({ratings})"),
                format!("DELETE FROM rating_handling WHERE rating_id IN ({ratings})"),
                format!("DELETE FROM appeals WHERE rating_id IN ({ratings})"),
                format!("DELETE FROM operator_notice_ratings WHERE rating_id IN ({ratings})"),
                format!("DELETE FROM ratings WHERE request_id IN ({requests})"),
                format!("DELETE FROM rating_reminders WHERE request_id IN ({requests})"),
                format!("DELETE FROM request_queue WHERE request_id IN ({requests})"),
                format!("DELETE FROM rating_requests WHERE session_id IN ({list})"),
                format!("DELETE FROM evaluations WHERE session_id IN ({list})"),
                format!("DELETE FROM event_deliveries WHERE session_id IN ({list})"),
                format!("DELETE FROM helpdesk_conversations WHERE session_id IN ({list})"),
                format!("DELETE FROM helpdesk_answer_tickets WHERE session_id IN ({list})"),
                format!("DELETE FROM sessions WHERE id IN ({list})"),
            ];
            for sql in &statements {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
                for id in &ids {
                    q = q.bind(id.clone());
                }
                let n = q.execute(&mut *tx).await?.rows_affected();
                // Counted by the table each statement deletes from.
                let table = sql.split_whitespace().nth(2).unwrap_or_default();
                match table {
                    "ratings" => purged.ratings += n,
                    "rating_requests" => purged.requests += n,
                    "sessions" => purged.sessions += n,
                    _ => {}
                }
            }
            tx.commit().await?;
        }
    }
}
