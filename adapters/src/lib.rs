//! The channels' [`ChannelAdapter`] trait and each platform's protocol: how Rateline puts a
//! rating request in front of a client, and what the platforms send back, parsed.
//!
//! The engine owns *when* a request is sent, how often it is retried and what its status
//! becomes; an adapter owns *how* one send is done on one platform, and reports what
//! happened as a [`SendOutcome`] typed by what the scheduler must do next. Adapters never
//! retry themselves: a retry is a durable row in the engine's store, so it survives a
//! crash. (They may wait a moment for their platform's rate limit, no longer.)
//!
//! The adapters themselves live with the rest of their channel in the server's
//! `src/channels/<channel>/send.rs`; this crate holds what they call and what needs neither
//! the store nor the engine, so that it is unit-tested and fuzzed alone: a module per
//! platform (the Bot API, the Graph API and its webhook's events, Chatwoot's and Zammad's
//! APIs, Rocket.Chat's webhook, the connector's signed posts, the widget's tokens), signed
//! buttons ([`signed`]), text answers ([`text::parse_text_answer`]), the card's words
//! ([`phrases`]) and the outbound policy ([`outbound`]).

pub mod chatwoot;
pub mod helpdesk;
pub mod http;
pub mod markup;
pub mod meta;
pub mod outbound;
pub mod phrases;
pub mod rocketchat;
pub mod signed;
pub mod telegram;
pub mod text;
pub mod webchat;
pub mod webhook;
pub mod zammad;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rateline_domain::{Channel, ClientRef, LineId, RequestId, Scale, SessionId};

/// Where a `webhook` line posts its requests, and the secret it signs them with.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    /// Where the line's requests and responses are POSTed: the line's `webhook.url`.
    pub url: String,
    /// What every body is signed with (`X-Rateline-Signature`): the line's `webhook.secret`.
    pub secret: String,
}

impl fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret never reaches a log line through a Debug print.
        f.debug_struct("WebhookTarget")
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// An approved WhatsApp message template: its name and language code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRef {
    /// The template's name, as approved in WhatsApp.
    pub name: String,
    /// The template's language code, as approved in WhatsApp (e.g. `en_US`).
    pub language: String,
    /// The answer each quick-reply button gives, in the buttons' order.
    pub values: Vec<i64>,
}

/// Everything an adapter needs to put one rating request in front of one client.
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    /// The request's id: signed into its buttons and sent to connectors, so that the answer finds
    /// it.
    pub request_id: RequestId,
    /// The session the request is for, for connectors and the logs.
    pub session_id: SessionId,
    /// The session's line, for connectors and the logs.
    pub line_id: LineId,
    /// Whom to ask: their id on the channel is where the request goes.
    pub client: ClientRef,
    /// The answers the card offers: 👍 👎, or 1 to 5 stars.
    pub scale: Scale,
    /// The question, in the line's language.
    pub text: String,
    /// The line's language tag: the words Rateline adds to the card are in it.
    pub language: String,
    /// Where a custom connector posts the client's answer.
    pub answer_url: String,
    /// 1 for the first try.
    pub attempt: u32,
    /// The client's last message, which opens Meta's 24-hour window.
    pub last_client_message_at: Option<DateTime<Utc>>,
    /// The engine's clock at the send, which the window is judged by.
    pub now: DateTime<Utc>,
    /// The line's approved WhatsApp template, used only outside the 24-hour window.
    pub whatsapp_template: Option<TemplateRef>,
    /// The line's connector, for the `webhook` channel.
    pub webhook: Option<WebhookTarget>,
    /// What the card says after the answer, for a connector that shows the whole card.
    pub follow_ups: FollowUps,
    /// The request's one reminder: the same card again, the request still open.
    pub reminder: bool,
}

/// What follows a rating on the line's card: the thanks, and the questions it asks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowUps {
    /// The line's thanks, shown once the client answered.
    pub thanks_text: String,
    /// "Was your issue resolved?" follows the rating.
    pub ask_resolved: bool,
    /// A comment is asked for after a rating at or below this value (👎 is 0); `None` when
    /// the line asks for none.
    pub comment_at_or_below: Option<i64>,
    /// The reasons a client may pick after a low rating (id and text, in order); empty
    /// when the line lists none.
    pub reasons: Vec<rateline_domain::LowReason>,
    /// A rating at or below this value is low (👎 is 0).
    pub low_at_or_below: i64,
}

impl FollowUps {
    /// The follow-ups of a line with these settings, on `scale`.
    pub fn of(rating: &rateline_domain::RatingSettings, scale: Scale) -> Self {
        let low_at_or_below = match scale {
            Scale::Binary => 0,
            Scale::FiveStar => rating.low_threshold,
        };
        Self {
            thanks_text: rating.thanks_text.clone(),
            ask_resolved: rating.ask_resolved,
            comment_at_or_below: rating.ask_comment_on_low.then_some(low_at_or_below),
            reasons: rating.low_reasons.clone(),
            low_at_or_below,
        }
    }
}

/// What happened to one send, typed by what the scheduler must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendOutcome {
    /// The platform accepted the request (status `sent`), with its message id when it gave one.
    Accepted {
        /// The platform's id of the message, by which the card is edited and the platform's
        /// news about it (WhatsApp's statuses) is matched.
        platform_message_id: Option<String>,
    },
    /// A transient failure (5xx, timeout, rate limit): try again, at the platform's
    /// `retry_after` when it named one, otherwise after the engine's backoff.
    Retry {
        /// When the platform asked to be called again (`retry_after`); `None`: the engine's backoff
        /// decides.
        after: Option<Duration>,
        /// What failed, kept as `last_error`.
        reason: String,
    },
    /// The platform refused for good (bot blocked, chat not found, connector gone): never retried.
    Undeliverable {
        /// What the platform said, kept as `last_error`.
        reason: String,
    },
    /// The channel's messaging window had closed and no allowed fallback exists.
    WindowClosed {
        /// When the client last wrote, and why the window is closed; kept as `last_error`.
        reason: String,
    },
    /// A fault on our side that retrying cannot fix (bad credentials, missing settings).
    Failed {
        /// What is wrong and what to set, kept as `last_error`.
        reason: String,
    },
    /// Not tried: the channel's own send rate limit is reached. The request goes back to
    /// the queue for `after` without using up an attempt.
    Defer {
        /// How long until the limit has room again.
        after: Duration,
        /// Which limit held it back, kept as `last_error`.
        reason: String,
    },
    /// Not tried, and not to be: what it would say is said already, or no longer true.
    Skipped {
        /// Why nothing was sent, kept with what was not sent.
        reason: String,
    },
}

impl SendOutcome {
    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            SendOutcome::Accepted { .. } => "accepted",
            SendOutcome::Retry { .. } => "retry",
            SendOutcome::Undeliverable { .. } => "undeliverable",
            SendOutcome::WindowClosed { .. } => "window_closed",
            SendOutcome::Failed { .. } => "failed",
            SendOutcome::Defer { .. } => "deferred",
            SendOutcome::Skipped { .. } => "skipped",
        }
    }

    /// Why it was not accepted; `None` when it was.
    pub fn reason(&self) -> Option<&str> {
        match self {
            SendOutcome::Accepted { .. } => None,
            SendOutcome::Retry { reason, .. }
            | SendOutcome::Undeliverable { reason }
            | SendOutcome::WindowClosed { reason }
            | SendOutcome::Failed { reason }
            | SendOutcome::Defer { reason, .. }
            | SendOutcome::Skipped { reason } => Some(reason),
        }
    }
}

/// `text` cut to `chars` characters, so a long line text is sent rather than refused.
pub(crate) fn clip(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

/// What a plain message is, as connectors see it in `event` and `X-Rateline-Event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// A supervisor's response to a client's rating.
    Response,
    /// A low-rating alert to a supervisor's chat.
    Alert,
    /// A digest (an operator's of the ratings of their chats, or a person's of alerts);
    /// connectors have always seen it as `notice`.
    Digest,
}

impl TextKind {
    /// Its name in `event` and `X-Rateline-Event` (a digest's is `notice`).
    pub fn as_str(self) -> &'static str {
        match self {
            TextKind::Response => "response",
            TextKind::Alert => "alert",
            TextKind::Digest => "notice",
        }
    }
}

/// A plain message to one chat: a supervisor's response to a client's rating or, on
/// Telegram, a low-rating alert to a supervisor's chat. No buttons, nothing to answer.
#[derive(Debug, Clone)]
pub struct OutgoingText {
    /// The idempotency key connectors see (`Idempotency-Key`): the same message sent again
    /// after a crash carries the same one.
    pub id: String,
    /// What the message is, for connectors.
    pub kind: TextKind,
    /// The session the message concerns (a digest's first rating's), for connectors and refusals.
    pub session_id: SessionId,
    /// The session's line, for connectors; empty on a digest, which may cover several lines.
    pub line_id: String,
    /// The chat: the client for a response, the recipient's chat for an alert.
    pub to: ClientRef,
    /// The message as it is sent.
    pub text: String,
    /// Meta's window: when the client last wrote (`None`: not known to have written).
    pub last_client_message_at: Option<DateTime<Utc>>,
    /// The engine's clock at the send, which Meta's window is judged by.
    pub now: DateTime<Utc>,
    /// The line's connector, for the `webhook` channel.
    pub webhook: Option<WebhookTarget>,
    /// The platform's id of an earlier message this one answers (Telegram replies to it).
    pub reply_to: Option<String>,
}

/// One channel's way of sending a rating request.
#[async_trait]
pub trait ChannelAdapter: Send + Sync + 'static {
    /// The channel this adapter serves.
    fn channel(&self) -> Channel;

    /// Sends one request once. Must not retry: the engine schedules retries. It may wait
    /// briefly for its channel's rate limit, and answers [`SendOutcome::Defer`] rather
    /// than wait long.
    async fn send(&self, request: &OutgoingRequest) -> SendOutcome;

    /// Sends one plain message once, under the same rules as [`ChannelAdapter::send`]
    /// (Meta's 24-hour window included). Channels that cannot carry one refuse it.
    async fn send_text(&self, message: &OutgoingText) -> SendOutcome {
        SendOutcome::Failed {
            reason: format!(
                "the {} channel cannot send a plain message (session '{}')",
                self.channel(),
                message.session_id
            ),
        }
    }
}
