//! The channels a conversation can use, and the client as the contact center names them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The channel a conversation used, and so the one its rating request goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A private chat with the server's Telegram bot: the request comes with inline buttons.
    Telegram,
    /// Rateline's web chat widget on the contact center's site: the request is a card in the
    /// page, shown once the client's widget is connected.
    Webchat,
    /// Facebook Messenger, through a Page: only within Meta's 24-hour window.
    Messenger,
    /// Instagram direct messages, through a professional account: only within Meta's 24-hour
    /// window.
    Instagram,
    /// WhatsApp, through the Cloud API: within Meta's 24-hour window, or after it through the
    /// line's approved template.
    Whatsapp,
    /// A custom connector: the request is POSTed, signed, to a URL the line names.
    Webhook,
    /// A conversation in a Chatwoot inbox: the request is posted into it through
    /// Chatwoot's API (docs/chatwoot.md).
    Chatwoot,
    /// A ticket in Zammad: the request is posted into it as an article in the ticket's
    /// channel, through Zammad's API (docs/channels/zammad.md).
    Zammad,
    /// A Rocket.Chat Omnichannel room: the request is written into it by the Ratings user
    /// the agent handed the chat to (docs/channels/rocketchat.md).
    #[serde(rename = "rocketchat")]
    RocketChat,
}

impl Channel {
    /// Every channel, for reading a name and for listing them.
    pub const ALL: [Channel; 9] = [
        Channel::Telegram,
        Channel::Webchat,
        Channel::Messenger,
        Channel::Instagram,
        Channel::Whatsapp,
        Channel::Webhook,
        Channel::Chatwoot,
        Channel::Zammad,
        Channel::RocketChat,
    ];

    /// Its name in the API, the store and events (`telegram`, `whatsapp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Telegram => "telegram",
            Channel::Webchat => "webchat",
            Channel::Messenger => "messenger",
            Channel::Instagram => "instagram",
            Channel::Whatsapp => "whatsapp",
            Channel::Webhook => "webhook",
            Channel::Chatwoot => "chatwoot",
            Channel::Zammad => "zammad",
            Channel::RocketChat => "rocketchat",
        }
    }

    /// The start of every session id a helpdesk makes for this channel (`chatwoot-`,
    /// `zammad-`), `None` for the channels whose sessions the contact center opens itself.
    /// Those sessions are the helpdesk's alone: `POST /v1/sessions` takes neither the
    /// channel nor an id with the prefix, so nobody can open a conversation's session before
    /// its helpdesk does (conversation ids are sequential and easy to guess).
    pub fn helpdesk_prefix(self) -> Option<&'static str> {
        match self {
            Channel::Chatwoot => Some("chatwoot-"),
            Channel::Zammad => Some("zammad-"),
            Channel::RocketChat => Some("rocketchat-"),
            _ => None,
        }
    }

    /// Messenger, Instagram and WhatsApp: Meta's channels, which allow a message only within
    /// 24 hours of the client's last one.
    pub fn is_meta(self) -> bool {
        matches!(
            self,
            Channel::Messenger | Channel::Instagram | Channel::Whatsapp
        )
    }
}

/// How long after the client's last message Meta allows free-form messages.
pub const META_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// The end of Meta's window Rateline leaves unused: the time it knows is when a message
/// reached it, a little after Meta's own timestamp, and a send takes a moment to arrive.
pub const META_WINDOW_MARGIN: chrono::Duration = chrono::Duration::seconds(30);

/// Whether a message sent at `at` is inside Meta's window opened by the client's message
/// at `last`, with [`META_WINDOW_MARGIN`] to spare.
pub fn meta_window_open(
    last: chrono::DateTime<chrono::Utc>,
    at: chrono::DateTime<chrono::Utc>,
) -> bool {
    at - last < META_WINDOW - META_WINDOW_MARGIN
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown channel name; the message lists the ones that exist, from [`Channel::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown channel '{0}': use one of {names}", names = channel_names())]
pub struct UnknownChannel(pub String);

/// Every channel's name, as the API takes it, separated by commas.
fn channel_names() -> String {
    Channel::ALL.map(Channel::as_str).join(", ")
}

impl FromStr for Channel {
    type Err = UnknownChannel;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownChannel(s.to_owned()))
    }
}

/// The client being asked, as the contact center named them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientRef {
    /// Who the client is on the channel, as its platform names them: the private chat id on
    /// Telegram, the PSID on Messenger, the IGSID on Instagram, the phone number on WhatsApp
    /// (kept as its digits); on the other channels the contact center's own id. Taps and replies
    /// are matched to the session by it.
    pub id: crate::Id,
    /// The client's name as people see it beside their ratings and in alerts; at most 200
    /// characters on one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_channel_names_every_channel_there_is() {
        let message = "sms".parse::<Channel>().unwrap_err().to_string();
        assert!(message.starts_with("unknown channel 'sms': use one of telegram, "));
        for channel in Channel::ALL {
            assert!(
                message.contains(channel.as_str()),
                "{channel} missing from: {message}"
            );
        }
    }
}
