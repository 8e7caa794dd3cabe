//! The Chatwoot channel's [`ChannelAdapter`]: a request or a response posted into the
//! session's conversation, as a message the conversation's inbox renders, once Meta's
//! window (and Chatwoot's own `can_reply`) allows it.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rateline_adapters::chatwoot::{self as api, ChatwootApi};
use rateline_adapters::signed::CallbackSigner;
use rateline_adapters::{ChannelAdapter, OutgoingRequest, OutgoingText, SendOutcome};
use rateline_domain::{Channel, ChatwootSettings, Helpdesk, HelpdeskConversation, SessionId};
use serde_json::Value;

use crate::channels::helpdesk::{Registry, route, window_closed};

/// One Chatwoot account, as the channel works with it: its number, settings and API.
pub struct Account {
    /// The account's number in Chatwoot's URLs.
    pub id: u64,
    /// The account's settings, as stored.
    pub settings: ChatwootSettings,
    /// Its API, called with its token.
    pub api: ChatwootApi,
}

impl Account {
    /// Account `id` with `settings`, calling Chatwoot through `http`.
    pub fn new(id: &str, settings: ChatwootSettings, http: &reqwest::Client) -> Self {
        let (id, api) = api::api_of(id, &settings, http);
        Self { id, settings, api }
    }
}

/// Posts a session's messages into its Chatwoot conversation.
pub struct ChatwootAdapter {
    accounts: Arc<Registry<ChatwootSettings, Account>>,
    signer: CallbackSigner,
}

impl ChatwootAdapter {
    /// Finds sessions' conversations and accounts in `accounts`; signs the buttons with `signer`.
    pub fn new(accounts: Arc<Registry<ChatwootSettings, Account>>, signer: CallbackSigner) -> Self {
        Self { accounts, signer }
    }

    /// Posts the message `message` makes for the conversation's medium into session
    /// `session_id`'s conversation, when one may go now.
    async fn post(
        &self,
        session_id: &SessionId,
        last: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        message: impl FnOnce(&str) -> Value,
    ) -> SendOutcome {
        match self.reachable(session_id, last, now).await {
            Ok((a, c)) => {
                a.api
                    .post_message(&c.conversation, &message(&c.medium))
                    .await
            }
            Err(outcome) => outcome,
        }
    }

    /// The account and conversation a session's messages go to, when a message may go now:
    /// on a Meta inbox, only within 24 hours of the client's `last` message.
    async fn reachable(
        &self,
        session_id: &SessionId,
        last: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(Arc<Account>, HelpdeskConversation), SendOutcome> {
        let (a, conversation) = route(&self.accounts, Helpdesk::Chatwoot, session_id).await?;
        let inbox = format!("the Chatwoot inbox is {}", conversation.medium);
        if let Some(closed) = window_closed(api::is_meta(&conversation.medium), &inbox, last, now) {
            return Err(closed);
        }
        if !api::window_known_to_chatwoot(&conversation.medium) {
            return Ok((a, conversation));
        }
        match a.api.can_reply(&conversation.conversation).await {
            Ok(true) => Ok((a, conversation)),
            Ok(false) => Err(SendOutcome::WindowClosed {
                reason: format!(
                    "Chatwoot says conversation {} can no longer be written to (can_reply is \
                     false): its {} inbox allows messages only within a time after the \
                     client's last one, a WhatsApp one 24 hours",
                    conversation.conversation, conversation.medium
                ),
            }),
            Err(e) => Err(SendOutcome::Retry {
                after: None,
                reason: format!("whether the conversation may be written to: {e}"),
            }),
        }
    }
}

#[async_trait]
impl ChannelAdapter for ChatwootAdapter {
    fn channel(&self) -> Channel {
        Channel::Chatwoot
    }

    #[tracing::instrument(skip_all, fields(request_id = %request.request_id, session_id = %request.session_id))]
    async fn send(&self, request: &OutgoingRequest) -> SendOutcome {
        let r = request;
        self.post(&r.session_id, r.last_client_message_at, r.now, |medium| {
            api::request_message(r, medium, &self.signer)
        })
        .await
    }

    async fn send_text(&self, message: &OutgoingText) -> SendOutcome {
        let m = message;
        self.post(&m.session_id, m.last_client_message_at, m.now, |_| {
            api::text_message(&m.text)
        })
        .await
    }
}
