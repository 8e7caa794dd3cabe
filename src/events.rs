//! Where events go: a POST of the event's JSON to its subscription's URL (docs/events.md).
//!
//! Signed like a connector's request (`X-Rateline-Signature: sha256=<hex>` of the body,
//! keyed with the subscription's secret), with the event's id as `Idempotency-Key` (the
//! same on every try, so a subscriber that saw it already can say 2xx and drop it), its
//! type as `X-Rateline-Event` and the subscription as `X-Rateline-Subscription`. It goes
//! under the outbound policy like every other call. Any 2xx delivers it; anything else,
//! or no answer, is tried again (the scheduler decides when).

use std::time::Duration;

use rateline_adapters::SendOutcome;
use rateline_adapters::http::outcome_of_post;
use rateline_adapters::outbound::Policy;
use rateline_adapters::webhook::{EVENT_HEADER, SIGNATURE_HEADER, sign};

use crate::store::EventDelivery;

/// Names the subscription an event is sent for.
pub const SUBSCRIPTION_HEADER: &str = "X-Rateline-Subscription";

/// Posts events to subscribers.
pub struct EventPoster {
    http: reqwest::Client,
    policy: Policy,
}

impl EventPoster {
    /// Posts under `policy`, waiting at most `timeout` for each answer.
    pub fn new(policy: &Policy, timeout: Duration) -> Self {
        Self {
            http: policy
                .client(timeout)
                .build()
                .expect("the HTTP client builds with static settings"),
            policy: policy.clone(),
        }
    }

    /// Sends one event once.
    pub async fn post(&self, d: &EventDelivery) -> SendOutcome {
        // A literal address is never resolved, so it is checked here, at every send.
        if let Err(refused) = self.policy.check_url(&d.url) {
            return SendOutcome::Failed {
                reason: format!("the call to the subscription's URL was {refused}"),
            };
        }
        let body = d.payload.clone().into_bytes();
        let sent = self
            .http
            .post(&d.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", &d.event_id)
            .header(EVENT_HEADER, &d.kind)
            .header(SUBSCRIPTION_HEADER, &d.subscription_id)
            .header(SIGNATURE_HEADER, sign(d.secret.0.as_bytes(), &body))
            .body(body)
            .send()
            .await;
        outcome_of_post(sent, "the subscriber")
    }
}
