//! Forgetting a client: their personal data erased, the counts kept.
//!
//! `DELETE /v1/clients/{channel}/{id}` replaces the client's id with a pseudonym made for
//! the erasure (random, so it cannot be recomputed from the id), drops their name, their
//! comments (in every version) and the texts of responses to their ratings, their address
//! in a helpdesk, and forgets when they last wrote. Sessions, requests and ratings stay as rows with their values,
//! times, lines, operators and channels, so every report reads as before.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::base::Retention;
use super::error::Result;
use super::sql::ms;

/// How a pseudonym starts: no client's own id may (sessions refuse one that does).
pub const ERASED_PREFIX: &str = "erased-";

/// What an erasure changed; all zero when there was nothing (left) to erase.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Erased {
    /// The client's sessions, now under a pseudonym and without a name.
    pub sessions: u64,
    /// Their rating requests, now under the pseudonym; those still waiting to be sent are
    /// cancelled.
    pub requests: u64,
    /// Comments erased, counting each version of a rating that had one.
    pub comments: u64,
    /// Responses to their ratings whose text was erased (one on its way is not sent), and
    /// notes that closed their ratings in the inbox, erased likewise.
    pub responses: u64,
    /// Events about them that no subscriber had taken yet: dropped, as they carry their id,
    /// name and comments (see docs/events.md).
    pub events: u64,
}

impl Erased {
    /// Whether the erasure changed anything at all.
    pub fn anything(&self) -> bool {
        self.sessions + self.requests + self.comments + self.responses + self.events > 0
    }
}

/// The client's ratings, as a subquery over `$1` (channel) and `$2` (client id).
const THEIR_RATINGS: &str = "SELECT g.id FROM ratings g JOIN sessions s ON s.id = g.session_id
                             WHERE s.channel = $1 AND s.client_id = $2";

impl Retention<'_> {
    /// Erases client `client_id` of `channel` in one transaction, their rows taking
    /// `pseudonym`; see the module's docs. Erasing again changes nothing.
    ///
    /// One piece: one transaction's statements, one per table a client's data is in; split,
    /// what the erasure covers would be spread over helpers.
    pub async fn erase_client(
        self,
        channel: &str,
        client_id: &str,
        pseudonym: &str,
        now: DateTime<Utc>,
    ) -> Result<Erased> {
        let mut tx = self.0.pool.begin().await?;
        let mut erased = Erased::default();
        let run = |sql: String| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(channel)
                .bind(client_id)
        };
        erased.comments += run(format!(
            "UPDATE ratings SET comment = NULL
             WHERE comment IS NOT NULL AND id IN ({THEIR_RATINGS})"
        ))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        erased.comments += run(format!(
            "UPDATE rating_history SET comment = NULL
             WHERE comment IS NOT NULL AND rating_id IN ({THEIR_RATINGS})"
        ))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        erased.responses = run(format!(
            "UPDATE rating_responses
             SET text = '(erased)',
                 delivery_status = CASE WHEN delivery_status IN ('pending', 'sending')
                                        THEN 'skipped' ELSE delivery_status END,
                 last_error = CASE WHEN delivery_status IN ('pending', 'sending')
                                   THEN 'not sent: the client was erased' ELSE last_error END,
                 run_at = NULL, lease_owner = NULL
             WHERE text <> '(erased)' AND rating_id IN ({THEIR_RATINGS})"
        ))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // A note closing one of their ratings may tell of them as a response does.
        erased.responses += run(format!(
            "UPDATE rating_handling SET close_note = '(erased)'
             WHERE close_note IS NOT NULL AND close_note <> '(erased)'
               AND rating_id IN ({THEIR_RATINGS})"
        ))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Reminders still to come would go to the pseudonym: they end here.
        run("UPDATE rating_reminders
             SET status = 'skipped', run_at = NULL, lease_owner = NULL, updated_at = $3,
                 last_error = 'not sent: the client was erased'
             WHERE status IN ('pending', 'sending') AND request_id IN
                 (SELECT id FROM rating_requests WHERE channel = $1 AND client_id = $2)"
            .to_owned())
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
        // Requests still waiting would go to the pseudonym: they end here.
        run("UPDATE rating_requests
             SET status = 'cancelled', run_at = NULL, finished_at = $3, updated_at = $3,
                 last_error = 'the client was erased before it was sent'
             WHERE channel = $1 AND client_id = $2 AND status = 'scheduled'"
            .to_owned())
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
        // And leave the scheduler's queue; a send in flight then records nothing.
        run("DELETE FROM request_queue WHERE request_id IN
                 (SELECT id FROM rating_requests WHERE channel = $1 AND client_id = $2)"
            .to_owned())
        .execute(&mut *tx)
        .await?;
        erased.requests = run(
            "UPDATE rating_requests SET client_id = $3 WHERE channel = $1 AND client_id = $2"
                .to_owned(),
        )
        .bind(pseudonym)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        erased.events = run("DELETE FROM event_deliveries WHERE session_id IN
                 (SELECT id FROM sessions WHERE channel = $1 AND client_id = $2)"
            .to_owned())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        run(
            "UPDATE helpdesk_conversations SET address = NULL WHERE session_id IN
                 (SELECT id FROM sessions WHERE channel = $1 AND client_id = $2)"
                .to_owned(),
        )
        .execute(&mut *tx)
        .await?;
        erased.sessions = run("UPDATE sessions SET client_id = $3, client_name = NULL
             WHERE channel = $1 AND client_id = $2"
            .to_owned())
        .bind(pseudonym)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        run("DELETE FROM client_windows WHERE channel = $1 AND client_id = $2".to_owned())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(erased)
    }
}
