//! The sessions opened from helpdesks' conversations: which conversation of which account a
//! session is, and the helpdesk's own channel of it, for the Chatwoot or Zammad channel that
//! posts into it.

use chrono::{DateTime, Utc};
use rateline_domain::{HelpdeskConversation, SessionId};
use sqlx::Row;

use super::base::Helpdesks;
use super::error::Result;
use super::sql::ms;

impl Helpdesks<'_> {
    /// Notes which conversation session `session_id` is; noting it again changes nothing.
    pub async fn note_conversation(
        self,
        session_id: &SessionId,
        c: &HelpdeskConversation,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO helpdesk_conversations
                (session_id, helpdesk, account, conversation, medium, address, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (session_id) DO NOTHING",
        )
        .bind(session_id)
        .bind(&c.helpdesk)
        .bind(&c.account)
        .bind(&c.conversation)
        .bind(&c.medium)
        .bind(&c.address)
        .bind(ms(now))
        .execute(&self.0.pool)
        .await?;
        Ok(())
    }

    /// Notes that session `session_id`'s conversation, noted as `from`, is now `to` (a
    /// Rocket.Chat chat the Ratings user held that its visitor then closed); false, changing
    /// nothing, when it was not `from`.
    pub async fn change_medium(self, session_id: &SessionId, from: &str, to: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE helpdesk_conversations SET medium = $3 WHERE session_id = $1 AND medium = $2",
        )
        .bind(session_id)
        .bind(from)
        .bind(to)
        .execute(&self.0.pool)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    /// The conversation session `session_id` is, if it came from a helpdesk.
    pub async fn conversation_of(
        self,
        session_id: &SessionId,
    ) -> Result<Option<HelpdeskConversation>> {
        let row = sqlx::query(
            "SELECT helpdesk, account, conversation, medium, address
             FROM helpdesk_conversations WHERE session_id = $1",
        )
        .bind(session_id)
        .fetch_optional(&self.0.pool)
        .await?;
        row.map(|r| {
            Ok(HelpdeskConversation {
                helpdesk: r.try_get("helpdesk")?,
                account: r.try_get("account")?,
                conversation: r.try_get("conversation")?,
                medium: r.try_get("medium")?,
                address: r.try_get("address")?,
            })
        })
        .transpose()
    }

    /// Notes that an event carrying the helpdesk's state of session `session_id`'s
    /// conversation as of `updated_at` is applied. Returns false, noting nothing, when a
    /// newer state was applied already: the event is stale. The same time again is fresh (a
    /// redelivery applies again, harmlessly).
    pub async fn note_seen(
        self,
        session_id: &SessionId,
        updated_at: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE helpdesk_conversations SET seen_until = $2
             WHERE session_id = $1 AND (seen_until IS NULL OR seen_until <= $2)",
        )
        .bind(session_id)
        .bind(ms(updated_at))
        .execute(&self.0.pool)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    /// Whether `item` (a message or article) of `helpdesk` `account` was applied already,
    /// by its webhook or by a catch-up.
    pub async fn applied_item(self, helpdesk: &str, account: &str, item: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM helpdesk_applied_items
             WHERE helpdesk = $1 AND account = $2 AND item = $3",
        )
        .bind(helpdesk)
        .bind(account)
        .bind(item)
        .fetch_optional(&self.0.reads)
        .await?;
        Ok(row.is_some())
    }

    /// Notes that `item` of `helpdesk` `account` was applied; noting it again changes nothing.
    pub async fn note_applied_item(
        self,
        helpdesk: &str,
        account: &str,
        item: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO helpdesk_applied_items (helpdesk, account, item, applied_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (helpdesk, account, item) DO NOTHING",
        )
        .bind(helpdesk)
        .bind(account)
        .bind(item)
        .bind(ms(now))
        .execute(&self.0.pool)
        .await?;
        Ok(())
    }

    /// Holds webhook call `body` of `helpdesk` `account` until `conversation`'s hand-over is
    /// applied; holding the same `item` again changes nothing.
    pub async fn hold_event(
        self,
        helpdesk: &str,
        account: &str,
        conversation: &str,
        item: &str,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO helpdesk_held_events
                (helpdesk, account, conversation, item, body, held_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (helpdesk, account, item) DO NOTHING",
        )
        .bind(helpdesk)
        .bind(account)
        .bind(conversation)
        .bind(item)
        .bind(body)
        .bind(ms(now))
        .execute(&self.0.pool)
        .await?;
        Ok(())
    }

    /// The calls held for `conversation`, oldest first: `(item, body)`.
    pub async fn held_events(
        self,
        helpdesk: &str,
        account: &str,
        conversation: &str,
    ) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT item, body FROM helpdesk_held_events
             WHERE helpdesk = $1 AND account = $2 AND conversation = $3
             ORDER BY held_at, item",
        )
        .bind(helpdesk)
        .bind(account)
        .bind(conversation)
        .fetch_all(&self.0.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("item")?, r.try_get("body")?)))
            .collect()
    }

    /// Lets go of a held call, once applied.
    pub async fn release_event(self, helpdesk: &str, account: &str, item: &str) -> Result<()> {
        sqlx::query(
            "DELETE FROM helpdesk_held_events WHERE helpdesk = $1 AND account = $2 AND item = $3",
        )
        .bind(helpdesk)
        .bind(account)
        .bind(item)
        .execute(&self.0.pool)
        .await?;
        Ok(())
    }

    /// How far `helpdesk` `account` is caught up, if a catch-up ever ran for it.
    pub async fn caught_up_until(
        self,
        helpdesk: &str,
        account: &str,
    ) -> Result<Option<DateTime<Utc>>> {
        let row = sqlx::query(
            "SELECT caught_up_until FROM helpdesk_catch_ups WHERE helpdesk = $1 AND account = $2",
        )
        .bind(helpdesk)
        .bind(account)
        .fetch_optional(&self.0.reads)
        .await?;
        row.map(|r| Ok(super::sql::time(r.try_get("caught_up_until")?)))
            .transpose()
    }

    /// Notes that `helpdesk` `account` is caught up until `until`, and forgets the items it
    /// applied before `forget_before`, which no catch-up reads again.
    pub async fn note_caught_up(
        self,
        helpdesk: &str,
        account: &str,
        until: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO helpdesk_catch_ups (helpdesk, account, caught_up_until)
             VALUES ($1, $2, $3)
             ON CONFLICT (helpdesk, account) DO UPDATE SET caught_up_until = $3",
        )
        .bind(helpdesk)
        .bind(account)
        .bind(ms(until))
        .execute(&self.0.pool)
        .await?;
        for forget in [
            "DELETE FROM helpdesk_applied_items
             WHERE helpdesk = $1 AND account = $2 AND applied_at < $3",
            "DELETE FROM helpdesk_held_events
             WHERE helpdesk = $1 AND account = $2 AND held_at < $3",
        ] {
            sqlx::query(forget)
                .bind(helpdesk)
                .bind(account)
                .bind(ms(forget_before))
                .execute(&self.0.pool)
                .await?;
        }
        Ok(())
    }

    /// Notes that `conversation` of `helpdesk` `account` was opened for an answer to session
    /// `session_id`'s request, so it is never rated itself.
    pub async fn note_answer_ticket(
        self,
        helpdesk: &str,
        account: &str,
        conversation: &str,
        session_id: &SessionId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO helpdesk_answer_tickets
                (helpdesk, account, conversation, session_id, created_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (helpdesk, account, conversation) DO NOTHING",
        )
        .bind(helpdesk)
        .bind(account)
        .bind(conversation)
        .bind(session_id)
        .bind(ms(now))
        .execute(&self.0.pool)
        .await?;
        Ok(())
    }

    /// The session whose answer `conversation` carries, if it was opened for one.
    pub async fn answer_ticket_of(
        self,
        helpdesk: &str,
        account: &str,
        conversation: &str,
    ) -> Result<Option<SessionId>> {
        let row = sqlx::query(
            "SELECT session_id FROM helpdesk_answer_tickets
             WHERE helpdesk = $1 AND account = $2 AND conversation = $3",
        )
        .bind(helpdesk)
        .bind(account)
        .bind(conversation)
        .fetch_optional(&self.0.pool)
        .await?;
        row.map(|r| Ok(r.try_get("session_id")?)).transpose()
    }

    /// Credits an open session to `operator_id` (nobody with `None`: a helpdesk's assignee
    /// changed or was removed); a closed session keeps the operator of its close. Returns
    /// whether it changed.
    pub async fn assign_operator(
        self,
        session_id: &SessionId,
        operator_id: Option<&str>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET operator_id = $2
             WHERE id = $1 AND closed_at IS NULL
               AND COALESCE(operator_id, '') <> COALESCE($2, '')",
        )
        .bind(session_id)
        .bind(operator_id)
        .execute(&self.0.pool)
        .await?
        .rows_affected();
        Ok(done == 1)
    }
}

/// Something Rateline made in a helpdesk when it set up the helpdesk's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadeInHelpdesk {
    /// `webhook` or `trigger`.
    pub kind: String,
    /// The helpdesk's id of it.
    pub remote_id: String,
    /// When Rateline made it.
    pub made_at: DateTime<Utc>,
}

impl Helpdesks<'_> {
    /// Notes that Rateline made `kind` `remote_id` in `helpdesk` `account`.
    pub async fn note_made(
        self,
        helpdesk: &str,
        account: &str,
        kind: &str,
        remote_id: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO helpdesk_setups (helpdesk, account, kind, remote_id, made_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (helpdesk, account, kind, remote_id) DO NOTHING",
        )
        .bind(helpdesk)
        .bind(account)
        .bind(kind)
        .bind(remote_id)
        .bind(ms(at))
        .execute(&self.0.pool)
        .await?;
        Ok(())
    }

    /// What Rateline made in `helpdesk` `account`, oldest first.
    pub async fn made(self, helpdesk: &str, account: &str) -> Result<Vec<MadeInHelpdesk>> {
        let rows = sqlx::query(
            "SELECT kind, remote_id, made_at FROM helpdesk_setups
             WHERE helpdesk = $1 AND account = $2 ORDER BY made_at, kind, remote_id",
        )
        .bind(helpdesk)
        .bind(account)
        .fetch_all(&self.0.reads)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MadeInHelpdesk {
                    kind: r.try_get("kind")?,
                    remote_id: r.try_get("remote_id")?,
                    made_at: super::sql::time(r.try_get("made_at")?),
                })
            })
            .collect()
    }

    /// Forgets `kind` `remote_id` of `helpdesk` `account`: removed, or gone from the helpdesk.
    pub async fn forget_made(
        self,
        helpdesk: &str,
        account: &str,
        kind: &str,
        remote_id: &str,
    ) -> Result<()> {
        sqlx::query(
            "DELETE FROM helpdesk_setups
             WHERE helpdesk = $1 AND account = $2 AND kind = $3 AND remote_id = $4",
        )
        .bind(helpdesk)
        .bind(account)
        .bind(kind)
        .bind(remote_id)
        .execute(&self.0.pool)
        .await?;
        Ok(())
    }
}
