//! Test sends an admin asks for while setting a line up: a test request to the line's
//! connector, so a wrong URL, secret or parser shows before the first client is asked.

use rateline_adapters::webhook::TestAnswer;
use rateline_adapters::{OutgoingRequest, WebhookTarget};
use rateline_domain::{ClientRef, Id};

use super::{Engine, Result, line_not_found};
use crate::policy::Caller;

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
        id: &str,
        answer_url: &str,
    ) -> Result<TestAnswer> {
        caller.admin("testing a line's connector")?;
        let line = self
            .store
            .get_line(id)
            .await?
            .ok_or_else(|| line_not_found(id))?;
        let test = format!("test-{}", uuid::Uuid::now_v7());
        let request = OutgoingRequest {
            request_id: test.clone(),
            session_id: test,
            line_id: id.to_owned(),
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
        };
        Ok(self.connector.test(&request).await)
    }
}
