//! The Meta channels' [`ChannelAdapter`]: one per channel (Messenger, Instagram, WhatsApp),
//! each sending from its account through the Graph API, inside the client's 24-hour
//! window (or, on WhatsApp, as the line's template outside it).

use std::sync::Arc;

use async_trait::async_trait;
use rateline_adapters::meta::{MetaAccount, window_closed};
use rateline_adapters::{ChannelAdapter, OutgoingRequest, OutgoingText, SendOutcome};
use rateline_domain::{Channel, meta_window_open};

/// Sends one Meta channel's requests and responses from its account.
pub struct MetaAdapter {
    account: Arc<MetaAccount>,
}

impl MetaAdapter {
    /// Sends from `account`.
    pub fn new(account: Arc<MetaAccount>) -> Self {
        Self { account }
    }
}

#[async_trait]
impl ChannelAdapter for MetaAdapter {
    fn channel(&self) -> Channel {
        self.account.channel()
    }

    async fn send(&self, request: &OutgoingRequest) -> SendOutcome {
        match self.account.request_body(request) {
            Ok(body) => self.account.post(&body).await,
            Err(outcome) => outcome,
        }
    }

    /// Free-form text, so only inside the window: no template carries a response.
    async fn send_text(&self, message: &OutgoingText) -> SendOutcome {
        let last = message.last_client_message_at;
        if !last.is_some_and(|last| meta_window_open(last, message.now)) {
            return window_closed(last);
        }
        self.account.post_text(&message.to.id, &message.text).await
    }
}
