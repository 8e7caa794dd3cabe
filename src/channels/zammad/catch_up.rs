//! The catch-up of the Zammad instances: Zammad's trigger webhook is tried five times, about
//! 10, 20, 30 and 40 s apart (`TriggerWebhookJob`, `retry_on … attempts: 5`), then dropped.
//! A close or an answer whose calls all failed (Rateline stopped for two minutes, its store
//! unreachable) is never posted again. A catch-up reads, through the API, the tickets
//! changed since the last one, and applies their articles and closes as the trigger's calls
//! would have been. Reading again what a call or an earlier catch-up applied changes
//! nothing, and a close is applied only to a session still open.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use chrono::{DateTime, Utc};
use rateline_adapters::zammad::TICKETS_PAGE;
use rateline_domain::Channel;
use serde_json::{Value, json};

use super::{HELPDESK, Instance, Zammad, read_time};
use crate::channels::helpdesk::{self, CaughtUp, Handled};
use crate::store::StoreError;

/// At most this many pages of tickets a catch-up reads (10,000 tickets); an instance busier
/// than that over one outage is caught up as far as these go.
const MAX_PAGES: u32 = 50;

impl Zammad {
    /// Catches up every connected instance; each one's outcome, by instance.
    pub async fn catch_up(&self) -> Vec<(String, Result<CaughtUp, String>)> {
        helpdesk::catch_up_all(self, &self.instances, HELPDESK, |me, z| {
            Box::pin(me.catch_up_instance(z))
        })
        .await
    }

    async fn catch_up_instance(&self, z: &Instance) -> Result<CaughtUp, String> {
        let started = self.engine.now();
        let Some(since) = helpdesk::catch_up_from(&self.engine, HELPDESK, &z.id)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(CaughtUp::default());
        };
        let mut tickets = Vec::new();
        for page in 1..=MAX_PAGES {
            let list = z.api.tickets_changed_since(since, page).await?;
            let last = list.len() < TICKETS_PAGE;
            tickets.extend(list);
            if last {
                break;
            }
        }
        let mut caught = CaughtUp {
            conversations: tickets.len(),
            events: 0,
        };
        let mut customers = HashMap::new();
        // The oldest change first, as the trigger's calls would have come.
        for t in &mut tickets {
            caught.events += self.catch_up_ticket(z, t, since, &mut customers).await?;
        }
        helpdesk::caught_up(&self.engine, HELPDESK, &z.id, started)
            .await
            .map_err(|e| e.to_string())?;
        Ok(caught)
    }

    /// Applies ticket `t`'s articles written since `since`, then its close where its session
    /// is still open. Returns how many calls it applied.
    async fn catch_up_ticket(
        &self,
        z: &Instance,
        t: &mut Value,
        since: DateTime<Utc>,
        customers: &mut HashMap<u64, Value>,
    ) -> Result<usize, String> {
        let Some(id) = t.get("id").and_then(Value::as_u64) else {
            return Ok(0);
        };
        let session_id = helpdesk::session_id(Channel::Zammad, &z.id, id);
        let opened = t.get("created_at").and_then(read_time);
        if opened.is_some_and(|o| o < since) && !self.known(z, id, &session_id).await? {
            // Opened before the last catch-up and never seen: no ticket Rateline knew.
            return Ok(0);
        }
        // A search names the customer by login; a call carries the customer's record.
        if let Some(customer) = t.get("customer_id").and_then(Value::as_u64) {
            let record = match customers.entry(customer) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(new) => new.insert(z.api.user(customer).await?),
            };
            t["customer"] = record.clone();
        }
        let articles = z.api.articles(id).await?;
        let mut applied = 0;
        let store = |e: StoreError| e.to_string();
        for a in articles
            .iter()
            .filter(|a| a.get("created_at").and_then(read_time) >= Some(since))
        {
            let call = json!({"ticket": t, "article": a});
            if self.handle_one(z, &call).await.map_err(store)? == Handled::Applied {
                applied += 1;
            }
        }
        if helpdesk::close_missed(&self.engine, &session_id, opened, since)
            .await
            .map_err(store)?
        {
            let call = json!({"ticket": t, "article": {}});
            if self.handle_one(z, &call).await.map_err(store)? == Handled::Applied {
                applied += 1;
            }
        }
        Ok(applied)
    }

    /// Whether ticket `id` is a session, or a ticket opened for an answer to one.
    async fn known(&self, z: &Instance, id: u64, session_id: &str) -> Result<bool, String> {
        let store = |e: StoreError| e.to_string();
        Ok(self
            .engine
            .conversation_of(session_id)
            .await
            .map_err(store)?
            .is_some()
            || self
                .engine
                .answer_ticket_of(HELPDESK, &z.id, &id.to_string())
                .await
                .map_err(store)?
                .is_some())
    }
}
