//! The catch-up of the Zammad instances: Zammad's trigger webhook is tried five times, about
//! 10, 20, 30 and 40 s apart (`TriggerWebhookJob`, `retry_on … attempts: 5`), then dropped.
//! A close or an answer whose calls all failed (Rateline stopped for two minutes, its store
//! unreachable) is never posted again. A catch-up reads, through the API, the tickets
//! changed since the last one, and applies their articles and closes as the trigger's calls
//! would have been. Reading again what a call or an earlier catch-up applied changes
//! nothing, and a close is applied only to a session still open.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rateline_domain::Channel;
use serde_json::{Value, json};

use super::receive::{HELPDESK, Zammad, read_time};
use super::send::Instance;
use crate::channels::helpdesk::{self, CaughtUp};

/// At most this many pages of tickets a catch-up reads (10,000 tickets); an instance busier
/// than that over one outage is caught up by the next catch-ups, from where this one ended.
const MAX_PAGES: u32 = 50;

impl Zammad {
    /// Catches up every connected instance.
    pub async fn catch_up(&self) {
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
        let mut caught = CaughtUp::default();
        let mut customers = HashMap::new();
        // By keyset, not by page number: a ticket changed while the pages are read moves
        // to the end, and would shift another one across a page's edge. Each page starts at
        // the last change read (`>=`), and what was read already is skipped.
        let mut from = since;
        let mut read = HashSet::new();
        let mut until = started;
        for turn in 0..MAX_PAGES {
            let list = z.api.tickets_changed_since(from, 1).await?;
            let mut fresh = 0;
            for mut t in list {
                let changed = t.get("updated_at").and_then(read_time);
                let key = (t.get("id").and_then(Value::as_u64), changed);
                if !read.insert(key) {
                    continue;
                }
                fresh += 1;
                caught.conversations += 1;
                // The oldest change first, as the trigger's calls would have come.
                caught.events += self
                    .catch_up_ticket(z, &mut t, since, &mut customers)
                    .await?;
                if let Some(changed) = changed {
                    from = from.max(changed);
                }
            }
            if fresh == 0 {
                break;
            }
            if turn + 1 == MAX_PAGES {
                // The rest is read by the next catch-up, from here.
                tracing::warn!(instance = %z.id, pages = MAX_PAGES, "a Zammad catch-up read as many tickets as it reads at once; the next one goes on from there");
                until = (from + helpdesk::CATCH_UP_MARGIN).min(started);
            }
        }
        helpdesk::caught_up(&self.engine, HELPDESK, &z.id, until).await?;
        Ok(caught)
    }

    /// Applies ticket `t`'s articles written since `since`, then its close where its session
    /// is still open. A ticket opened before `since` that Rateline never saw is left alone.
    /// Returns how many calls changed something.
    async fn catch_up_ticket(
        &self,
        z: &Instance,
        t: &mut Value,
        since: DateTime<Utc>,
        customers: &mut HashMap<u64, Option<Value>>,
    ) -> Result<usize, String> {
        let Some(id) = t.get("id").and_then(Value::as_u64) else {
            return Ok(0);
        };
        let session_id = helpdesk::session_id(Channel::Zammad, &z.id, id);
        let opened = t.get("created_at").and_then(read_time);
        if opened.is_some_and(|o| o < since)
            && !helpdesk::known(&self.engine, HELPDESK, &z.id, &id.to_string(), &session_id).await?
        {
            return Ok(0);
        }
        // A search names the customer by login; a call carries the customer's record. One
        // that cannot be read (deleted since) leaves the ticket without the customer's name
        // and address rather than stop the catch-up.
        if let Some(customer) = t.get("customer_id").and_then(Value::as_u64) {
            let record = match customers.entry(customer) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(new) => new.insert(match z.api.user(customer).await {
                    Ok(user) => Some(user),
                    Err(e) => {
                        tracing::warn!(instance = %z.id, ticket = id, error = %e, "a Zammad catch-up could not read a ticket's customer");
                        None
                    }
                }),
            };
            if let Some(record) = record {
                t["customer"] = record.clone();
            }
        }
        let articles = z.api.articles(id).await?;
        let mut applied = 0;
        for a in articles
            .iter()
            .filter(|a| a.get("created_at").and_then(read_time) >= Some(since))
        {
            let call = json!({"ticket": t, "article": a});
            applied += usize::from(helpdesk::caught(self.handle_one(z, &call).await, HELPDESK)?);
        }
        if helpdesk::close_missed(&self.engine, &session_id, opened, since)
            .await
            .map_err(|e| e.to_string())?
        {
            let call = json!({"ticket": t, "article": {}});
            applied += usize::from(helpdesk::caught(self.handle_one(z, &call).await, HELPDESK)?);
        }
        Ok(applied)
    }
}
