//! Event subscriptions, for admins: list, read, create or replace (which also switches a
//! switched-off one back on), delete. Every change is audited, never with the secret.

use rateline_domain::{ErrorCode, Invalid, LineId, NameId, SubscriptionSettings};
use serde::Serialize;

use super::base::Engine;
use super::error::{EngineError, Result};
use crate::policy::Caller;
use crate::store::SubscriptionRecord;

/// What the audit log keeps of a subscription: everything but its secret, of which only
/// that one was given (the log shows it as `"(secret)"`, never its value).
#[derive(Serialize)]
struct Audited<'a> {
    url: &'a str,
    events: Vec<&'static str>,
    lines: Option<&'a [String]>,
    active: bool,
    secret: Option<&'static str>,
}

impl<'a> Audited<'a> {
    fn of(r: &'a SubscriptionRecord, secret_given: bool) -> Self {
        Self {
            url: &r.url,
            events: r.events.iter().map(|e| e.as_str()).collect(),
            lines: r.lines.as_deref(),
            active: r.active,
            secret: secret_given.then_some("given"),
        }
    }
}

/// The answer for a subscription that does not exist: `404 subscription_not_found`, saying how to
/// create it.
pub fn subscription_not_found(id: &str) -> EngineError {
    EngineError::NotFound {
        code: ErrorCode::SubscriptionNotFound,
        message: format!(
            "subscription '{id}' does not exist; create it with PUT /v1/subscriptions/{id}"
        ),
    }
}

impl Engine {
    /// Every subscription, or the one with `id`: admins.
    pub async fn subscriptions(
        &self,
        caller: &Caller,
        id: Option<&str>,
    ) -> Result<Vec<SubscriptionRecord>> {
        caller.admin("reading event subscriptions")?;
        let found = self.store.events().subscriptions(id).await?;
        match id {
            Some(id) if found.is_empty() => Err(subscription_not_found(id)),
            _ => Ok(found),
        }
    }

    /// Wakes the scheduler for the events a change (or a send's outcome) may just have
    /// queued, when any subscription is active (a change with none queued none).
    pub async fn events_queued(&self) {
        if self.store.events().wanted().await {
            self.wake.due_at(self.now());
        }
    }

    /// Subscriptions failing now or switched off, for the admins' pages to say so.
    pub async fn troubled_subscriptions(&self) -> Result<Vec<SubscriptionRecord>> {
        Ok(self.store.events().troubled_subscriptions().await?)
    }

    /// Creates or replaces subscription `id`, switched on; returns it and whether it is new.
    pub async fn put_subscription(
        &self,
        caller: &Caller,
        id: &NameId,
        mut settings: SubscriptionSettings,
    ) -> Result<(SubscriptionRecord, bool)> {
        caller.admin("changing event subscriptions")?;
        settings.validate()?;
        self.check_destination("url", &settings.url)?;
        for (i, line) in settings.lines.iter().flatten().enumerate() {
            let exists = match LineId::parse("line", line) {
                Ok(id) => self.store.lines().get(&id).await?.is_some(),
                Err(_) => false,
            };
            if !exists {
                return Err(Invalid::new(
                    format!("lines[{i}]"),
                    format!("line '{line}' does not exist; name lines that GET /v1/lines lists"),
                )
                .into());
            }
        }
        let secret_given = settings.secret.is_some();
        let before = self
            .store
            .events()
            .put_subscription(id, &settings, self.now())
            .await??;
        let after = self
            .store
            .events()
            .subscriptions(Some(id))
            .await?
            .pop()
            .ok_or_else(|| subscription_not_found(id))?;
        self.record(
            &super::audit::actor(caller),
            "subscription",
            id,
            before.as_ref().map(|b| Audited::of(b, false)).as_ref(),
            &Audited::of(&after, secret_given),
            None,
        )
        .await?;
        // Events it was waiting to send may go now.
        self.wake.due_at(self.now());
        Ok((after, before.is_none()))
    }

    /// Deletes subscription `id` and the events waiting for it: admins.
    pub async fn delete_subscription(&self, caller: &Caller, id: &str) -> Result<()> {
        caller.admin("deleting event subscriptions")?;
        let before = self
            .store
            .events()
            .subscriptions(Some(id))
            .await?
            .pop()
            .ok_or_else(|| subscription_not_found(id))?;
        self.store.events().delete_subscription(id).await?;
        self.record(
            &super::audit::actor(caller),
            "subscription",
            id,
            Some(&Some(Audited::of(&before, false))),
            &None,
            Some("deleted"),
        )
        .await
    }
}
