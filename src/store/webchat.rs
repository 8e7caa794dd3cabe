//! What the web chat widget reads and writes: the session's request as a card, the
//! widget's acknowledgement that it showed it, and the key its tokens are signed with.

use chrono::{DateTime, Utc};
use rateline_domain::{RequestId, RequestStatus, SessionId};
use sqlx::Row;

use super::base::WebChat;
use super::error::Result;
use super::ratings::AnswerTarget;
use super::sql::ms;

impl WebChat<'_> {
    /// The newest request of a web chat session, with its line and rating.
    pub async fn webchat_target(self, session_id: &SessionId) -> Result<Option<AnswerTarget>> {
        self.0
            .ratings()
            .answer_target_where(
                "r.session_id = $1 AND r.channel = 'webchat' ORDER BY r.id DESC LIMIT 1",
                &[session_id],
            )
            .await
    }

    /// Records that a widget showed request `id` of session `session_id`: a web chat
    /// request waiting for its widget (and due) becomes `delivered`, sent and delivered at
    /// `now`. Acknowledging again changes nothing. Returns the request's status after and
    /// whether this call changed it, or `None` when the session has no such request.
    pub async fn widget_showed(
        self,
        id: &RequestId,
        session_id: &SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<(RequestStatus, bool)>> {
        // Its run_at stays the end of the answer window: the expiry sweep's moment.
        let shown = sqlx::query(
            "UPDATE rating_requests
             SET status = 'delivered', sent_at = $3, delivered_at = $3, attempts = attempts + 1,
                 updated_at = $3
             WHERE id = $1 AND session_id = $2 AND channel = 'webchat' AND status = 'scheduled'
               AND due_at <= $3 AND expires_at > $3",
        )
        .bind(id)
        .bind(session_id)
        .bind(ms(now))
        .execute(&self.0.pool)
        .await?
        .rows_affected()
            == 1;
        let Some(row) = sqlx::query(
            "SELECT status FROM rating_requests
             WHERE id = $1 AND session_id = $2 AND channel = 'webchat'",
        )
        .bind(id)
        .bind(session_id)
        .fetch_optional(&self.0.pool)
        .await?
        else {
            return Ok(None);
        };
        let status = row.try_get("status")?;
        Ok(Some((status, shown)))
    }

    /// Whether rating `id` answered a web chat request.
    pub async fn rated_on_webchat(self, id: &str) -> Result<bool> {
        Ok(sqlx::query(
            "SELECT 1 FROM ratings g JOIN rating_requests r ON r.id = g.request_id
             WHERE g.id = $1 AND r.channel = 'webchat'",
        )
        .bind(id)
        .fetch_optional(&self.0.reads)
        .await?
        .is_some())
    }

    /// The key named `name`: `candidate` if none was kept yet, otherwise the one the first
    /// process to ask kept. Every process of a deployment thus signs with the same key.
    pub async fn server_key(
        self,
        name: &str,
        candidate: &str,
        now: DateTime<Utc>,
    ) -> Result<String> {
        sqlx::query(
            "INSERT INTO server_keys (name, value, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(ms(now))
        .execute(&self.0.pool)
        .await?;
        let row = sqlx::query("SELECT value FROM server_keys WHERE name = $1")
            .bind(name)
            .fetch_one(&self.0.pool)
            .await?;
        Ok(row.try_get("value")?)
    }
}
