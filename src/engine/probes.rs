//! Test sends people ask for while setting Rateline up: a test request to a line's
//! connector, so a wrong URL, secret or parser shows before the first client is asked, and
//! a test alert to one of a person's addresses, so "I never get alerts" shows before the
//! first low rating.

use std::sync::Arc;

use rateline_adapters::webhook::TestAnswer;
use rateline_adapters::{ChannelAdapter, OutgoingRequest, SendOutcome, WebhookTarget};
use rateline_domain::{ClientRef, Id, Invalid, LineId, PersonId, RequestId, SessionId};

use super::base::{AlertSending, Engine};
use super::error::{Result, line_not_found, person_not_found};
use super::passwords::deactivated;
use crate::alerts::AlertSinks;
use crate::policy::Caller;
use crate::store::AlertDelivery;

/// The client a test request names: nobody a connector should show it to.
const TEST_CLIENT: &str = "rateline-test";

impl Engine {
    /// Sends line `id`'s connector a test request: the body of a rating request with `"test":
    /// true` and `X-Rateline-Event: test_request`, signed with the line's secret, under the
    /// outbound policy and send timeout of a real one. Nothing is stored; what the connector
    /// answered (or why it could not be reached) comes back. Admins only.
    pub async fn test_connector(
        &self,
        caller: &Caller,
        id: &LineId,
        answer_url: &str,
    ) -> Result<TestAnswer> {
        caller.admin("testing a line's connector")?;
        let line = self
            .store
            .lines()
            .get(id)
            .await?
            .ok_or_else(|| line_not_found(id))?;
        let test = format!("test-{}", uuid::Uuid::now_v7());
        let request = OutgoingRequest {
            // Made here, never read back: a test request is not stored.
            request_id: RequestId::stored(test.clone()),
            // A test names no session: its id stands in for one, as the connector sees it.
            session_id: SessionId::stored(test),
            line_id: line.id.clone(),
            client: ClientRef {
                id: Id::stored(TEST_CLIENT.to_owned()),
                name: Some("Rateline test".into()),
            },
            scale: line.settings.rating.scale,
            text: line.settings.rating.request_text.clone(),
            language: line.settings.rating.language.clone(),
            answer_url: answer_url.to_owned(),
            attempt: 1,
            last_client_message_at: None,
            now: self.now(),
            whatsapp_template: None,
            webhook: line.settings.webhook.as_ref().map(|w| WebhookTarget {
                url: w.url.clone(),
                secret: w.secret.clone().unwrap_or_default(),
            }),
            follow_ups: rateline_adapters::FollowUps::of(
                &line.settings.rating,
                line.settings.rating.scale,
            ),
            reminder: false,
        };
        Ok(self.connector.test(&request).await)
    }
}

/// What became of a person's test alert.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TestAlert {
    /// `email`, `telegram` or `webhook`.
    pub sink: String,
    /// The address it went to.
    pub address: String,
    /// Whether the sink took it (the SMTP server, the Bot API or the webhook said yes).
    pub delivered: bool,
    /// Why not, as an alert's `last_error` says it.
    pub error: Option<String>,
}

impl Engine {
    /// Gives the engine the alert sinks, for test alerts; once, at start.
    pub fn set_alert_sinks(
        &self,
        sinks: Arc<AlertSinks>,
        telegram: Option<Arc<dyn ChannelAdapter>>,
    ) {
        if self
            .alert_sinks
            .set(AlertSending { sinks, telegram })
            .is_err()
        {
            tracing::warn!("the alert sinks were given twice; the first are kept");
        }
    }

    /// Sends person `id` a test alert at their `sink` address (`email`, `telegram` or
    /// `webhook`), now, and says whether it arrived: the person themselves, or an admin.
    /// Nothing is stored.
    pub async fn test_alert(
        &self,
        caller: &Caller,
        id: &PersonId,
        sink: &str,
    ) -> Result<TestAlert> {
        if caller.person_id() != Some(id) {
            caller.admin("sending another person a test alert")?;
        }
        let person = self
            .store
            .people()
            .person_reachability(id)
            .await?
            .ok_or_else(|| person_not_found(id))?;
        if !person.active {
            return Err(deactivated(id));
        }
        let n = &person.notify;
        let Some((_, field, address)) = n.addresses().into_iter().find(|(s, _, _)| *s == sink)
        else {
            return Err(Invalid::new(
                "sink",
                format!("must be email, telegram or webhook, got '{sink}'"),
            )
            .into());
        };
        let Some(address) = address else {
            return Err(Invalid::new(
                "sink",
                format!("person '{id}' has no notify.{field}: set it first, then try it"),
            )
            .into());
        };
        let now = self.now();
        let delivery = AlertDelivery {
            id: format!("test-{}", uuid::Uuid::now_v7()),
            sink: sink.to_owned(),
            address: Some(address.clone()),
            rating_id: String::new(),
            session_id: SessionId::stored(String::new()),
            line_id: String::new(),
            line_name: String::new(),
            channel: String::new(),
            operator_id: None,
            operator_name: None,
            client_id: String::new(),
            client_name: None,
            scale: rateline_domain::Scale::Binary,
            value: 0,
            comment: None,
            reasons: None,
            rated_at: now,
            webhook_secret: n.webhook_secret.clone().map(rateline_domain::Secret),
            test: true,
            low: true,
            thread: None,
        };
        let outcome = match self.alert_sinks.get() {
            Some(s) => s.sinks.send(&delivery, s.telegram.as_ref(), now).await,
            None => SendOutcome::Failed {
                reason: "this process sends no alerts".into(),
            },
        };
        Ok(TestAlert {
            sink: sink.to_owned(),
            address,
            delivered: matches!(outcome, SendOutcome::Accepted { .. }),
            error: outcome.reason().map(str::to_owned),
        })
    }
}
