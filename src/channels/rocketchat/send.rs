//! The Rocket.Chat channel's [`ChannelAdapter`]: a request or a response written into the
//! session's room by the Ratings user. A closed room is written into only where it still
//! reaches the visitor (SMS).

use std::sync::Arc;

use async_trait::async_trait;
use rateline_adapters::rocketchat::{RocketChatApi, Source};
use rateline_adapters::{ChannelAdapter, OutgoingRequest, OutgoingText, SendOutcome};
use rateline_domain::{Channel, Helpdesk, HelpdeskSettings, RocketChatSettings, SessionId};

use crate::channels::helpdesk::{Registry, route};

/// One Rocket.Chat server, as the channel works with it: its name, settings and API.
pub struct Server {
    /// The server's name in Rateline.
    pub id: String,
    /// The server's settings, as stored.
    pub settings: RocketChatSettings,
    /// Its API, called as the Ratings user.
    pub api: RocketChatApi,
}

impl Server {
    /// Server `id` with `settings`, calling Rocket.Chat through `http`.
    pub fn new(id: &str, settings: RocketChatSettings, http: &reqwest::Client) -> Self {
        Self {
            api: RocketChatApi::new(
                settings.url(),
                id,
                &settings.user_id,
                settings.api_token().unwrap_or_default(),
                http.clone(),
            ),
            id: id.to_owned(),
            settings,
        }
    }
}

/// Writes a session's messages into its Rocket.Chat room.
pub struct RocketChatAdapter {
    servers: Arc<Registry<RocketChatSettings, Server>>,
}

impl RocketChatAdapter {
    /// Finds sessions' rooms and servers in `servers`.
    pub fn new(servers: Arc<Registry<RocketChatSettings, Server>>) -> Self {
        Self { servers }
    }

    async fn post(&self, session_id: &SessionId, text: &str) -> SendOutcome {
        let (server, room) = match route(&self.servers, Helpdesk::RocketChat, session_id).await {
            Ok(found) => found,
            Err(outcome) => return outcome,
        };
        if room.medium == super::receive::HANDED_OVER {
            // The Ratings user holds the room: it is open, no need to look (each look is
            // one more call under Rocket.Chat's rate limit).
            return server.api.send_message(&room.conversation, text).await;
        }
        let left = room.medium == super::receive::CLOSED_BY_VISITOR;
        to_visitor(&server.api, &room.conversation, text, left).await
    }
}

/// Writes `text` in room `room` for its visitor: at once while the room is open; once it
/// is closed, only on SMS, which texts an agent's message in a closed room
/// (`apps/meteor/app/livechat/server/hooks/sendMessageBySMS.ts`), while
/// the website widget drops the room at its close and shows nothing
/// (`packages/livechat/src/lib/room.ts`). `left`: the visitor closed the room.
pub async fn to_visitor(api: &RocketChatApi, room: &str, text: &str, left: bool) -> SendOutcome {
    let info = match api.room(room).await {
        Ok(info) => info,
        Err(reason) => {
            return SendOutcome::Retry {
                after: None,
                reason,
            };
        }
    };
    if !info.open {
        let why = match info.source {
            Source::Sms => None,
            Source::Widget if left => Some(
                "the visitor closed the chat on the website widget, which then shows \
                 nothing written in the room: there is nobody to ask",
            ),
            Source::Widget => Some(
                "the chat was closed on the website widget, which drops a closed room and \
                 shows nothing written there: agents hand the chat to the Ratings user \
                 instead of closing it",
            ),
            _ => Some(
                "the chat was closed, and only SMS is known to reach a visitor after the \
                 close: agents hand the chat to the Ratings user instead of closing it",
            ),
        };
        if let Some(why) = why {
            return SendOutcome::Undeliverable {
                reason: why.to_owned(),
            };
        }
    }
    api.send_message(room, text).await
}

#[async_trait]
impl ChannelAdapter for RocketChatAdapter {
    fn channel(&self) -> Channel {
        Channel::RocketChat
    }

    #[tracing::instrument(skip_all, fields(request_id = %request.request_id, session_id = %request.session_id))]
    async fn send(&self, request: &OutgoingRequest) -> SendOutcome {
        let text = rateline_adapters::text::request_text(request);
        self.post(&request.session_id, &text).await
    }

    async fn send_text(&self, message: &OutgoingText) -> SendOutcome {
        self.post(&message.session_id, &message.text).await
    }
}
