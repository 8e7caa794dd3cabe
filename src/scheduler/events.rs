//! Posting a claimed event to its subscription, and recording what became of it.

use std::time::Instant;

use chrono::Duration;
use rateline_adapters::SendOutcome;

use crate::store::{ClaimedJob, EventResult, Recorded};

use super::retry::{EVENT_RETRY_MAX, rfc3339};
use super::run::{Inner, SEND_TIMEOUT_GRACE};

impl Inner {
    /// Posts one event to its subscription and records the outcome: delivered, or tried
    /// again after the backoff (never given up on: its subscription is switched off instead
    /// when it has failed for days, see [`crate::store::SWITCH_OFF_AFTER_DAYS`]).
    #[tracing::instrument(skip_all, fields(kind = "event", id = %job.id, attempt = job.attempts))]
    pub(super) async fn send_event(&self, job: ClaimedJob, claimed_at: Instant) {
        if job.reclaimed {
            tracing::warn!("the previous holder's lease ran out mid-send: sending again");
        }
        let delivery = match self.store.events().event_delivery(&job.id).await {
            Ok(Some(d)) => d,
            // Its subscription was deleted meanwhile, and the event with it.
            Ok(None) => return,
            Err(e) => {
                // Tried again when the lease runs out.
                tracing::warn!(error = %e, "could not read the event to send");
                return;
            }
        };
        let limit = self.settings.send_timeout() + SEND_TIMEOUT_GRACE;
        let outcome = tokio::time::timeout(limit, self.events.post(&delivery))
            .await
            .unwrap_or_else(|_| SendOutcome::Retry {
                after: None,
                reason: format!(
                    "the send took longer than {} s",
                    self.settings.send_timeout_seconds
                ),
            });
        self.metrics
            .job_outcomes
            .get_or_create(&vec![
                ("kind", "event".to_owned()),
                ("via", "webhook".to_owned()),
                ("outcome", outcome.label().to_owned()),
            ])
            .inc();
        let now = self.clock.now();
        let result = match outcome {
            SendOutcome::Accepted { .. } => EventResult::Delivered,
            other => {
                let (after, error) = match other {
                    SendOutcome::Retry { after, reason } => (after, reason),
                    SendOutcome::Defer { after, reason } => (Some(after), reason),
                    SendOutcome::Undeliverable { reason }
                    | SendOutcome::WindowClosed { reason }
                    | SendOutcome::Failed { reason }
                    | SendOutcome::Skipped { reason } => (None, reason),
                    unknown => (None, format!("unknown send outcome {unknown:?}")),
                };
                let wait = after
                    .map(|a| a.min(EVENT_RETRY_MAX))
                    .unwrap_or_else(|| self.retry.event_delay_after(job.attempts));
                let at = now + Duration::from_std(wait).unwrap_or(Duration::hours(1));
                tracing::warn!(
                    subscription = %delivery.subscription_id,
                    retry_at = %rfc3339(at),
                    %error,
                    "event not delivered; will retry"
                );
                EventResult::Failed { at, error }
            }
        };
        let recorded = self
            .persist(claimed_at, || {
                self.store.events().record_event_result(
                    &job,
                    &self.owner,
                    &delivery.subscription_id,
                    &result,
                    self.clock.now(),
                )
            })
            .await;
        match (recorded, &result) {
            (Some(Recorded::SwitchedOff), _) => tracing::warn!(
                subscription = %delivery.subscription_id,
                days = crate::store::SWITCH_OFF_AFTER_DAYS,
                "subscription switched off: it has failed for days without a success; \
                 a PUT of /v1/subscriptions/{{id}} switches it back on"
            ),
            (Some(Recorded::Done), EventResult::Failed { at, .. }) => self.wake.due_at(*at),
            // The next event of the same rating may be sent now.
            (Some(Recorded::Done), EventResult::Delivered) => self.wake.due_at(now),
            _ => {}
        }
    }
}
