//! The `webhook` channel: any contact center plugs in by receiving a signed POST of each
//! request and response at its line's connector URL, and answers through
//! `POST /v1/ratings`. The posts themselves (body, signature, the connector's answer) are
//! `rateline_adapters::webhook`; this is the channel's [`ChannelAdapter`].

use std::time::Duration;

use async_trait::async_trait;
use rateline_adapters::outbound::Policy;
use rateline_adapters::webhook::ConnectorClient;
use rateline_adapters::{ChannelAdapter, OutgoingRequest, OutgoingText, SendOutcome};
use rateline_domain::Channel;

/// Sends the `webhook` channel's requests and responses to their lines' connectors.
pub struct WebhookAdapter {
    client: ConnectorClient,
}

impl WebhookAdapter {
    /// Posts under `policy`, each post within `send_timeout`.
    pub fn new(policy: &Policy, send_timeout: Duration) -> Self {
        Self {
            client: ConnectorClient::new(policy, send_timeout),
        }
    }
}

#[async_trait]
impl ChannelAdapter for WebhookAdapter {
    fn channel(&self) -> Channel {
        Channel::Webhook
    }

    async fn send(&self, request: &OutgoingRequest) -> SendOutcome {
        self.client.send_request(request).await
    }

    async fn send_text(&self, message: &OutgoingText) -> SendOutcome {
        self.client.send_text(message).await
    }
}
