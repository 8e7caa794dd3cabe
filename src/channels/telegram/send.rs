//! The Telegram channel's [`ChannelAdapter`]: a request as a message with the rating's
//! buttons, a response as a plain message (a reply to the client's, where it answers one),
//! both through the bot under Telegram's rate limits.

use std::sync::Arc;

use async_trait::async_trait;
use rateline_adapters::telegram::{TelegramBot, rating_keyboard};
use rateline_adapters::{ChannelAdapter, OutgoingRequest, OutgoingText, SendOutcome};
use rateline_domain::Channel;
use teloxide_core::types::{MessageId, ReplyParameters};

/// Sends the Telegram channel's requests and responses through its bot.
pub struct TelegramAdapter {
    bot: Arc<TelegramBot>,
}

impl TelegramAdapter {
    /// Sends through `bot`.
    pub fn new(bot: Arc<TelegramBot>) -> Self {
        Self { bot }
    }
}

#[async_trait]
impl ChannelAdapter for TelegramAdapter {
    fn channel(&self) -> Channel {
        Channel::Telegram
    }

    async fn send(&self, request: &OutgoingRequest) -> SendOutcome {
        let chat = match chat_id(&request.client.id) {
            Ok(chat) => chat,
            Err(outcome) => return outcome,
        };
        let Some(keyboard) = rating_keyboard(self.bot.signer(), request.scale, &request.request_id)
        else {
            return SendOutcome::Failed {
                reason: "the request id is too long for Telegram's 64-byte button data".into(),
            };
        };
        self.bot
            .deliver(chat, &request.text, Some(keyboard), None)
            .await
    }

    async fn send_text(&self, message: &OutgoingText) -> SendOutcome {
        // A reply to a message that is gone (deleted by the chat) is sent all the same.
        let reply = message
            .reply_to
            .as_deref()
            .and_then(|id| id.parse().ok())
            .map(|id| ReplyParameters::new(MessageId(id)).allow_sending_without_reply());
        match chat_id(&message.to.id) {
            Ok(chat) => self.bot.deliver(chat, &message.text, None, reply).await,
            Err(outcome) => outcome,
        }
    }
}

fn chat_id(id: &str) -> Result<i64, SendOutcome> {
    id.parse::<i64>().map_err(|_| SendOutcome::Failed {
        reason: format!("'{id}' is not a Telegram chat id (an integer)"),
    })
}
