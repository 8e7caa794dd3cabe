//! The catch-up of the Chatwoot accounts: Chatwoot posts each webhook once (no retry, a 5 s
//! timeout), so an event posted while Rateline was stopped, or refused while its store was
//! unreachable, is never posted again. A catch-up reads, through the API, the conversations
//! active since the last one, and applies their messages and resolves as their webhooks
//! would have been. Reading again what a webhook or an earlier catch-up applied changes
//! nothing (see `handle_one`), and a resolve is applied only to a session still open.

use chrono::{DateTime, Utc};
use rateline_domain::Channel;
use serde_json::{Value, json};

use super::receive::{Chatwoot, HELPDESK, read_time};
use super::send::Account;
use crate::channels::helpdesk::{self, CaughtUp};

/// At most this many pages of conversations a catch-up reads (5,000 conversations); an
/// account busier than that over one outage is caught up as far as these go.
const MAX_PAGES: u32 = 200;

/// At most this many pages of one conversation's messages a catch-up reads.
const MAX_MESSAGE_PAGES: usize = 10;

impl Chatwoot {
    /// Catches up every connected account.
    pub async fn catch_up(&self) {
        helpdesk::catch_up_all(self, &self.accounts, HELPDESK, |me, a| {
            Box::pin(me.catch_up_account(a))
        })
        .await
    }

    async fn catch_up_account(&self, a: &Account) -> Result<CaughtUp, String> {
        let account = a.id.to_string();
        let started = self.engine.now();
        let Some(since) = helpdesk::catch_up_from(&self.engine, HELPDESK, &account)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(CaughtUp::default());
        };
        let active = self.active_since(a, since).await?;
        let mut caught = CaughtUp {
            conversations: active.len(),
            events: 0,
        };
        // Oldest first, as their webhooks would have come.
        for c in active.iter().rev() {
            caught.events += self.catch_up_conversation(a, c, since).await?;
        }
        helpdesk::caught_up(&self.engine, HELPDESK, &account, started).await?;
        Ok(caught)
    }

    /// The account's conversations with activity (a message, a status change: both move
    /// `last_activity_at`, as a status change writes an activity message) since `since`,
    /// the latest first.
    async fn active_since(&self, a: &Account, since: DateTime<Utc>) -> Result<Vec<Value>, String> {
        let mut active = Vec::new();
        for page in 1..=MAX_PAGES {
            let list = a.api.conversations(page).await?;
            for c in &list {
                let last = c
                    .get("last_activity_at")
                    .or_else(|| c.get("timestamp"))
                    .and_then(read_time);
                if last.is_some_and(|t| t < since) {
                    return Ok(active);
                }
                active.push(c.clone());
            }
            // An empty page ends the list whatever size Chatwoot's pages are.
            if list.is_empty() {
                return Ok(active);
            }
        }
        tracing::warn!(
            account = a.id,
            pages = MAX_PAGES,
            "a Chatwoot catch-up read as many conversations as it reads at once; older activity is not caught up"
        );
        Ok(active)
    }

    /// Applies conversation `c`'s messages written since `since`, then its resolve where
    /// its session is still open. A conversation opened before `since` that Rateline never
    /// saw is left alone. Returns how many events changed something.
    async fn catch_up_conversation(
        &self,
        a: &Account,
        c: &Value,
        since: DateTime<Utc>,
    ) -> Result<usize, String> {
        let Some(id) = c.get("id").and_then(Value::as_u64) else {
            return Ok(0);
        };
        let account = a.id.to_string();
        let session_id = helpdesk::session_id(Channel::Chatwoot, a.id, id);
        let opened = c.get("created_at").and_then(read_time);
        if opened.is_some_and(|o| o < since)
            && !helpdesk::known(
                &self.engine,
                HELPDESK,
                &account,
                &id.to_string(),
                &session_id,
            )
            .await?
        {
            return Ok(0);
        }
        let mut applied = 0;
        for m in &self.messages_since(a, id, since).await? {
            for event in message_events(m, c) {
                applied += usize::from(helpdesk::caught(
                    self.handle_one(a, &event).await,
                    HELPDESK,
                )?);
            }
        }
        if c.get("status").and_then(Value::as_str) == Some("resolved")
            && helpdesk::close_missed(&self.engine, &session_id, opened, since)
                .await
                .map_err(|e| e.to_string())?
        {
            let mut event = c.clone();
            event["event"] = "conversation_status_changed".into();
            applied += usize::from(helpdesk::caught(
                self.handle_one(a, &event).await,
                HELPDESK,
            )?);
        }
        Ok(applied)
    }

    /// Conversation `id`'s messages written since `since`, oldest first.
    async fn messages_since(
        &self,
        a: &Account,
        id: u64,
        since: DateTime<Utc>,
    ) -> Result<Vec<Value>, String> {
        let mut messages = a.api.messages(id, None).await?;
        for _ in 1..MAX_MESSAGE_PAGES {
            let Some(first) = messages.first() else { break };
            if written(first).is_none_or(|t| t < since) {
                break;
            }
            let before = first.get("id").and_then(Value::as_u64);
            let older = a.api.messages(id, before).await?;
            if older.is_empty() {
                break;
            }
            messages.splice(0..0, older);
        }
        messages.retain(|m| written(m).is_some_and(|t| t >= since));
        Ok(messages)
    }
}

/// When a message of the API was written.
fn written(m: &Value) -> Option<DateTime<Utc>> {
    m.get("created_at").and_then(read_time)
}

/// The webhook events a message of the API stands for, in conversation `c` (as the API
/// lists it): its `message_created`, and for a choice the client tapped on the web widget,
/// the `message_updated` that carried it. The API writes `message_type` as its number
/// (`message_type_before_type_cast` in the message partial); webhooks by its name. Activity
/// messages (a status change, an assignment) and templates stand for nothing Rateline uses.
fn message_events(m: &Value, c: &Value) -> Vec<Value> {
    let kind = match m.get("message_type").and_then(Value::as_u64) {
        Some(0) => "incoming",
        Some(1) => "outgoing",
        _ => return Vec::new(),
    };
    let event = |name: &str| {
        let mut e = m.clone();
        e["message_type"] = json!(kind);
        e["conversation"] = c.clone();
        e["event"] = json!(name);
        e
    };
    let tapped = m
        .pointer("/content_attributes/submitted_values")
        .and_then(Value::as_array)
        .is_some_and(|v| !v.is_empty());
    let mut events = vec![event("message_created")];
    if tapped {
        events.push(event("message_updated"));
    }
    events
}
