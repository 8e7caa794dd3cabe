//! The Zammad channel's [`ChannelAdapter`]: a request or a response posted into the
//! session's ticket as an article in the ticket's own channel, once Meta's window allows it
//! on WhatsApp.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rateline_adapters::zammad::{self as api, ArticleTo, ZammadApi};
use rateline_adapters::{ChannelAdapter, OutgoingRequest, OutgoingText, SendOutcome};
use rateline_domain::{Channel, Helpdesk, HelpdeskConversation, SessionId, ZammadSettings};

use crate::channels::helpdesk::{Registry, route, window_closed};

/// One Zammad instance, as the channel works with it: its name, settings and API.
pub struct Instance {
    /// The instance's name in Rateline.
    pub id: String,
    /// The instance's settings, as stored.
    pub settings: ZammadSettings,
    /// Its API, called with its token.
    pub api: ZammadApi,
}

impl Instance {
    /// Instance `id` with `settings`, calling Zammad through `http`.
    pub fn new(id: &str, settings: ZammadSettings, http: &reqwest::Client) -> Self {
        Self {
            api: api::api_of(id, &settings, http),
            id: id.to_owned(),
            settings,
        }
    }
}

/// Posts a session's messages into its Zammad ticket.
pub struct ZammadAdapter {
    instances: Arc<Registry<ZammadSettings, Instance>>,
}

impl ZammadAdapter {
    /// Finds sessions' tickets and instances in `instances`.
    pub fn new(instances: Arc<Registry<ZammadSettings, Instance>>) -> Self {
        Self { instances }
    }

    /// Posts `text` into session `session_id`'s ticket, in its channel; on WhatsApp only
    /// within Meta's 24 hours of the client's `last` message.
    async fn post(
        &self,
        session_id: &SessionId,
        text: &str,
        last: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> SendOutcome {
        let (z, conversation) = match route(&self.instances, Helpdesk::Zammad, session_id).await {
            Ok(found) => found,
            Err(outcome) => return outcome,
        };
        if conversation.medium == api::WHATSAPP {
            let channel = "the Zammad ticket is a WhatsApp one";
            if let Some(closed) = window_closed(true, channel, last, now) {
                return closed;
            }
        }
        to_customer(&z.api, &conversation, text).await
    }
}

#[async_trait]
impl ChannelAdapter for ZammadAdapter {
    fn channel(&self) -> Channel {
        Channel::Zammad
    }

    #[tracing::instrument(skip_all, fields(request_id = %request.request_id, session_id = %request.session_id))]
    async fn send(&self, request: &OutgoingRequest) -> SendOutcome {
        let r = request;
        let text = rateline_adapters::text::request_text(r);
        self.post(&r.session_id, &text, r.last_client_message_at, r.now)
            .await
    }

    async fn send_text(&self, message: &OutgoingText) -> SendOutcome {
        let m = message;
        self.post(&m.session_id, &m.text, m.last_client_message_at, m.now)
            .await
    }
}

/// Posts `text` for the customer into conversation `to`'s ticket, in its channel. Zammad
/// refuses an agent's WhatsApp reply on a ticket whose state is named `closed`
/// (`Validations::TicketArticleValidator::WhatsappMessage#validate_ticket_state`), so a
/// closed WhatsApp ticket is set to `open` for the message and closed again into the state it
/// had, as an agent would do.
pub async fn to_customer(zammad: &ZammadApi, to: &HelpdeskConversation, text: &str) -> SendOutcome {
    if to.medium != api::WHATSAPP {
        return zammad.post_article(&article_to(to), text, false).await;
    }
    let ticket = &to.conversation;
    let (state, name) = match zammad.ticket_state(ticket).await {
        Ok(state) => state,
        Err(reason) => {
            return SendOutcome::Retry {
                after: None,
                reason,
            };
        }
    };
    let closed = name == "closed";
    if closed {
        match zammad.reopen(ticket).await {
            SendOutcome::Accepted { .. } => {}
            refused => return refused,
        }
    }
    let sent = zammad.post_article(&article_to(to), text, false).await;
    if closed {
        match zammad.close(ticket, Some(state)).await {
            SendOutcome::Accepted { .. } => {}
            other => {
                tracing::warn!(outcome = ?other, ticket = %ticket, "a WhatsApp ticket opened for Rateline's message could not be closed again");
            }
        }
    }
    sent
}

/// Where an article to conversation `c`'s customer goes.
pub fn article_to(c: &HelpdeskConversation) -> ArticleTo<'_> {
    ArticleTo {
        ticket: &c.conversation,
        medium: &c.medium,
        address: c.address.as_deref(),
    }
}
