//! A local Chatwoot for the Chatwoot channel's tests: the part of its Application API that
//! Rateline calls, and the account webhooks Chatwoot would post to Rateline.
//!
//! A real Chatwoot needs Rails, PostgreSQL, Redis and Sidekiq, too much for CI, and it would
//! still not tell Rateline that a rating prompt it accepted never rendered: Chatwoot stores an
//! `input_select` message on any inbox and leaves it to the channel to show or drop it. This
//! fake serves on `127.0.0.1:0`:
//!
//! - `GET /api/v1/profile` and `GET /api/v1/accounts/{ACCOUNT_ID}/inboxes`;
//! - `GET /api/v1/accounts/{ACCOUNT_ID}/conversations/{display_id}` (the conversations
//!   partial, with `can_reply` as `Conversations::MessageWindowService` decides it);
//! - `GET /api/v1/accounts/{ACCOUNT_ID}/conversations` (`status`, `page`, the latest activity
//!   first; `ConversationFinder`) and `GET …/conversations/{display_id}/messages` (the
//!   latest 20 or those `before` a message; `MessageFinder`), in the API's shapes, which are
//!   not the webhooks' (the conversations partial and the message model partial);
//! - `POST /api/v1/accounts/{ACCOUNT_ID}/conversations/{display_id}/messages`;
//! - `POST /api/v1/accounts/{ACCOUNT_ID}/conversations/{display_id}/toggle_status`;
//! - `GET` and `POST /api/v1/accounts/{ACCOUNT_ID}/webhooks` and `DELETE …/webhooks/{id}`,
//!   for administrators only (`app/policies/webhook_policy.rb`: an agent's token is 401 `You
//!   are not authorized to do this action`), as `Api::V1::Accounts::WebhooksController`
//!   and its views answer: `{"payload": {"webhooks": […]}}`, `{"payload": {"webhook": …}}`
//!   (200), 200 with no body for a delete. A webhook's `url` must be http(s) and unique in
//!   the account, its `subscriptions` a non-empty list of `Webhook::ALLOWED_WEBHOOK_EVENTS`
//!   (`app/models/webhook.rb`; 422 `{"message", "attributes"}` otherwise, as
//!   `RequestExceptionHandler#render_record_invalid` writes it); each gets a `secret`
//!   (`has_secure_token`, Chatwoot 4.11.2 and later; [`FakeChatwoot::release_before_secrets`]
//!   plays an earlier one, whose views have no `secret`);
//!
//! each behind the `api_access_token` header ([`API_TOKEN`]; a missing or wrong one, a revoked
//! one, or another account is 401). It is strict where Chatwoot is: an unknown conversation is
//! 404; a message Chatwoot refuses (`message_type: "incoming"` outside an API inbox, an
//! `input_select` without items or with item keys other than `title` and `value`, an unknown
//! `content_type`) is 422, as the messages controller answers any error: `{"error": "…"}`.
//! Where Chatwoot is lenient the fake refuses too, since what it would store is broken
//! anyway: an empty `content`, an item without a non-empty string `title` or a string
//! `value`, a `content_type` or `message_type` other than the ones modelled (text and
//! `input_select`, outgoing). And where Chatwoot accepts what the channel then truncates or
//! fails, the fake answers 200 and lists a rule violation: on WhatsApp an `input_select`
//! becomes an interactive message whose body (the `content`) is at most 1,024 characters,
//! with reply buttons (at most 3, titles of at most 20 characters) or a list (at most 10
//! rows, titles of at most 24); on Telegram inline buttons whose `value` is `callback_data`
//! (at most 64 bytes); on other channels (e-mail, API) nothing the client could tap. A private
//! note is never shown to the client, so no rendering rule applies to it.
//! [`FakeChatwoot::rule_violations`] lists every call that broke a rule, refused or not.
//!
//! Account webhooks made over the API get the events
//! [`FakeChatwoot::post_to_account_webhooks`] is given, as Chatwoot posts them: to each
//! webhook subscribed, signed with its secret, once, within `WEBHOOK_TIMEOUT` (5 s), lost on
//! any failure. Otherwise the fake never calls Rateline. Tests play the client and the
//! agents with
//! [`FakeChatwoot::client_writes`], [`FakeChatwoot::agent_writes`], [`FakeChatwoot::assign`],
//! [`FakeChatwoot::resolve`] and [`FakeChatwoot::tap`], which change the conversation and
//! return the [`Webhook`]s Chatwoot would post, for the test to post to Rateline; those that
//! `toggle_status` produced wait in [`FakeChatwoot::take_status_webhooks`]. As in Chatwoot, a
//! client's message reopens a resolved conversation (the `conversation_status_changed` comes
//! first) on the web widget, on e-mail and on an inbox locked to a single conversation, but
//! opens a new one on WhatsApp, Telegram and SMS inboxes with the lock off, Chatwoot's default
//! ([`FakeChatwoot::lock_to_single_conversation`], [`FakeChatwoot::latest`]). An outgoing
//! message reopens nothing, and a tapped `input_select` comes back as the inbox returns it: on
//! the web widget the same message is updated with `submitted_values`; on WhatsApp a new
//! incoming message carries the item's title, on Telegram its value.
//!
//! Shapes come from chatwoot/chatwoot's source: `Conversations::EventDataPresenter#push_data`
//! (a conversation event's top level, and `conversation` in a message event),
//! `Message#webhook_data` and `#push_event_data`, `WebhookListener`, the conversations and
//! messages controllers and `ContentAttributeValidator`; the channel limits from WhatsApp's
//! and Telegram's documentation, as in [`crate::meta`] and [`crate::telegram`]. Webhooks are
//! signed as Chatwoot releases since early 2026 sign them (`X-Chatwoot-Signature`,
//! `X-Chatwoot-Timestamp`, `X-Chatwoot-Delivery`); [`Webhook::unsigned`] gives what older
//! releases send. Bodies are serialized as Rails serializes JSON, which escapes `<`, `>` and
//! `&`, so a receiver that checks the signature over its own re-serialization fails here as it
//! would against Chatwoot.
//!
//! Time is the fake's own, set with [`FakeChatwoot::set_now`] to follow a test's manual clock
//! (until then the real clock): it dates messages, conversations and `X-Chatwoot-Timestamp`.

use std::collections::{BTreeMap, BTreeSet};

pub use crate::scaffold::{Call, Fault};
use crate::scaffold::{
    Clock, Fake, Helpdesk, Log, Platform, delivery_id, header, post, post_call, rails_escape,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The one account the fake serves; a call to another is 401.
pub const ACCOUNT_ID: u64 = 1;
/// The access token of [`API_USER`], the only one the fake takes (`api_access_token`).
pub const API_TOKEN: &str = "cw-test-api-token";
/// What every [`Webhook`] the tests post is signed with: the account's `webhook_secret` in
/// Rateline's settings.
pub const WEBHOOK_SECRET: &str = "cw-test-webhook-secret";

/// `Channel::WebWidget`, "Website".
pub const WIDGET_INBOX: u64 = 1;
/// `Channel::Whatsapp`.
pub const WHATSAPP_INBOX: u64 = 2;
/// `Channel::Telegram`.
pub const TELEGRAM_INBOX: u64 = 3;
/// `Channel::Email`: no buttons.
pub const EMAIL_INBOX: u64 = 4;
/// A second `Channel::WebWidget`, "Unmapped", for an inbox no line of Rateline's names.
pub const OTHER_INBOX: u64 = 5;
/// `Channel::Sms`: no buttons.
pub const SMS_INBOX: u64 = 6;
/// `Channel::TwilioSms` with `medium: "whatsapp"`: WhatsApp through Twilio, no buttons.
pub const TWILIO_WHATSAPP_INBOX: u64 = 7;

/// Anna Agent, an agent of the account (a user id).
pub const ANNA: u64 = 7;
/// Boris Agent, another agent of the account (a user id).
pub const BORIS: u64 = 8;
/// An AgentBot of the account, with the same id as [`ANNA`]: bots and users are numbered
/// apart (`agent_bots` and `users` tables), so a bot's id says nothing of a user's.
pub const FAQ_BOT: u64 = 7;
const FAQ_BOT_NAME: &str = "FAQ Bot";
/// The user [`API_TOKEN`] belongs to, the sender of what Rateline posts. An administrator, as
/// an integration's user usually is: Chatwoot assigns a conversation that an *agent* reopens
/// through `toggle_status` to that agent, and an integration should not take conversations.
pub const API_USER: u64 = 1;

const ACCOUNT_NAME: &str = "Rateline Test Co";

const WEB_WIDGET: &str = "Channel::WebWidget";
const WHATSAPP: &str = "Channel::Whatsapp";
const TELEGRAM: &str = "Channel::Telegram";
const EMAIL: &str = "Channel::Email";
const SMS: &str = "Channel::Sms";
const TWILIO: &str = "Channel::TwilioSms";

struct InboxDef {
    id: u64,
    name: &'static str,
    channel_type: &'static str,
}

const INBOXES: [InboxDef; 7] = [
    InboxDef {
        id: WIDGET_INBOX,
        name: "Website",
        channel_type: WEB_WIDGET,
    },
    InboxDef {
        id: WHATSAPP_INBOX,
        name: "WhatsApp",
        channel_type: WHATSAPP,
    },
    InboxDef {
        id: TELEGRAM_INBOX,
        name: "Telegram",
        channel_type: TELEGRAM,
    },
    InboxDef {
        id: EMAIL_INBOX,
        name: "Support e-mail",
        channel_type: EMAIL,
    },
    InboxDef {
        id: OTHER_INBOX,
        name: "Unmapped",
        channel_type: WEB_WIDGET,
    },
    InboxDef {
        id: SMS_INBOX,
        name: "SMS",
        channel_type: SMS,
    },
    InboxDef {
        id: TWILIO_WHATSAPP_INBOX,
        name: "WhatsApp (Twilio)",
        channel_type: TWILIO,
    },
];

/// The channels whose incoming service picks the contact's conversation by the inbox's
/// `lock_to_single_conversation`: locked, the last one, reopened if resolved; unlocked (the
/// default, `db/schema.rb`), the last one not resolved, else a new one. `set_conversation` in
/// `app/services/whatsapp/incoming_message_base_service.rb`,
/// `app/services/telegram/incoming_message_service.rb` (releases of 2025 on; before, the
/// first conversation, reopened, as when locked), `app/services/sms/incoming_message_service.rb`
/// and `app/services/twilio/incoming_message_service.rb`.
/// The web widget keeps writing into its conversation, and e-mail threads by its headers.
const NEW_CONVERSATION_UNLESS_LOCKED: [&str; 4] = [WHATSAPP, TELEGRAM, SMS, TWILIO];

/// The channels that render an `input_select` as something to tap.
const BUTTON_CHANNELS: [&str; 3] = [WEB_WIDGET, WHATSAPP, TELEGRAM];

struct UserDef {
    id: u64,
    name: &'static str,
    email: &'static str,
    role: &'static str,
}

const USERS: [UserDef; 3] = [
    UserDef {
        id: API_USER,
        name: "Rateline Integration",
        email: "integration@rateline.test",
        role: "administrator",
    },
    UserDef {
        id: ANNA,
        name: "Anna Agent",
        email: "anna@rateline.test",
        role: "agent",
    },
    UserDef {
        id: BORIS,
        name: "Boris Agent",
        email: "boris@rateline.test",
        role: "agent",
    },
];

/// Up to 3 items WhatsApp shows reply buttons, past that a list.
const WA_MAX_BUTTONS: usize = 3;
const WA_BUTTON_TITLE_CHARS: usize = 20;
const WA_MAX_ROWS: usize = 10;
const WA_ROW_TITLE_CHARS: usize = 24;
/// An interactive message's body: Chatwoot sends the `input_select`'s `content` as it
/// (`Whatsapp::Providers::BaseService#create_payload_based_on_items`, `body: {text:}`), and
/// WhatsApp refuses a body of more characters, after Chatwoot took the message.
const WA_INTERACTIVE_BODY_CHARS: usize = 1024;
const TELEGRAM_CALLBACK_DATA_BYTES: usize = 64;
/// WhatsApp lets a business write freely for 24 hours after the client's last message; Chatwoot
/// says so in a conversation's `can_reply`.
const WA_WINDOW: TimeDelta = TimeDelta::hours(24);

/// Ids of each kind start far apart, so that a test sees Rateline mixing them up (a contact id
/// used as a conversation's) instead of it working by coincidence.
const FIRST_CONVERSATION: u64 = 41;
const FIRST_CONTACT: u64 = 301;
const FIRST_CONTACT_INBOX: u64 = 801;
const FIRST_MESSAGE: u64 = 5001;
/// `CONVERSATION_RESULTS_PER_PAGE`'s default (`ConversationFinder`).
const CONVERSATIONS_PAGE: usize = 25;
/// Messages a page holds (`MessageFinder`).
const MESSAGES_PAGE: usize = 20;

const INVALID_TOKEN: &str = "Invalid Access Token";
const NOT_FOUND: &str = "Resource could not be found";

/// A conversation of the fake, as tests name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Conversation {
    /// The display id: the one the API's URLs and the webhooks' `id` carry.
    pub id: u64,
    /// The contact's id.
    pub contact: u64,
}

/// A webhook as Chatwoot posts it: the raw body and the headers, signed with
/// [`WEBHOOK_SECRET`] at the fake's now. The methods return changed copies for the tests of
/// Rateline's check; copies keep the delivery id, as a replay of the same delivery would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The raw body, as Rails serializes it: post these bytes as they are, or the signature breaks.
    pub body: Vec<u8>,
    /// The headers Chatwoot sends with it, the signature's among them.
    pub headers: Vec<(String, String)>,
    /// Unix seconds: the `X-Chatwoot-Timestamp` it was signed with, or would have been.
    timestamp: i64,
    delivery: String,
}

const SIGNATURE: &str = "X-Chatwoot-Signature";
const TIMESTAMP: &str = "X-Chatwoot-Timestamp";
const DELIVERY: &str = "X-Chatwoot-Delivery";

impl Webhook {
    fn new(payload: &Value, timestamp: i64) -> Self {
        let mut webhook = Webhook {
            body: rails_json(payload).into_bytes(),
            headers: Vec::new(),
            timestamp,
            delivery: delivery_id(),
        };
        webhook.sign(WEBHOOK_SECRET);
        webhook
    }

    fn sign(&mut self, secret: &str) {
        self.headers = vec![
            ("Content-Type".into(), "application/json".into()),
            (DELIVERY.into(), self.delivery.clone()),
            (TIMESTAMP.into(), self.timestamp.to_string()),
            (SIGNATURE.into(), sign(secret, self.timestamp, &self.body)),
        ];
    }

    /// The body, parsed.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the fake's webhooks are JSON")
    }

    /// The value of header `name`, whatever its case.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Without the signature, timestamp and delivery headers, as releases before 2026 post.
    pub fn unsigned(&self) -> Webhook {
        let mut copy = self.clone();
        copy.headers
            .retain(|(n, _)| ![SIGNATURE, TIMESTAMP, DELIVERY].contains(&n.as_str()));
        copy
    }

    /// Signed with `secret` instead, at the same timestamp.
    pub fn signed_with(&self, secret: &str) -> Webhook {
        let mut copy = self.clone();
        copy.sign(secret);
        copy
    }

    /// Dated `seconds` before the time it was made and signed correctly (with
    /// [`WEBHOOK_SECRET`]) for that date: a replay, or a delivery held up that long.
    pub fn stale(&self, seconds: u64) -> Webhook {
        let mut copy = self.clone();
        copy.timestamp -= i64::try_from(seconds).expect("a sane number of seconds");
        copy.sign(WEBHOOK_SECRET);
        copy
    }

    /// The body changed after signing, headers kept: a message's `content` gets " (altered)"
    /// appended, as a forger would change a rating; any other event gets
    /// `additional_attributes.tampered`. Still valid JSON, still a processable event.
    pub fn tampered(&self) -> Webhook {
        let mut payload = self.json();
        if let Some(content) = payload["content"].as_str() {
            payload["content"] = format!("{content} (altered)").into();
        } else {
            payload["additional_attributes"]["tampered"] = true.into();
        }
        let mut copy = self.clone();
        copy.body = rails_json(&payload).into_bytes();
        copy
    }

    /// Posts it to `url` as Chatwoot would (headers and raw body as they are).
    pub async fn post_to(&self, url: &str) -> reqwest::Response {
        post(url, &self.body, &self.headers).await
    }
}

/// `sha256=<hex HMAC-SHA256 keyed with secret over "{timestamp}.{body}">`, as in
/// `X-Chatwoot-Signature`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// `payload` as Rails serializes it.
fn rails_json(payload: &Value) -> String {
    rails_escape(&payload.to_string())
}

/// The handle tests hold; clones share one server. Calls go to `{url}/api/v1/…`.
pub type FakeChatwoot = Fake<Chatwoot>;

impl FakeChatwoot {
    /// Starts the fake on a free loopback port, on the real clock, with no conversations yet.
    pub async fn start() -> Self {
        Fake::serve(serve).await
    }

    /// A new contact named `contact_name` opens a conversation in `inbox`: status open, no
    /// assignee, no message yet. Its `conversation_created` is [`FakeChatwoot::created`].
    pub fn open(&self, inbox_id: u64, contact_name: &str) -> Conversation {
        inbox(inbox_id);
        let mut s = self.lock();
        let contact = s.add_contact(contact_name);
        s.open(inbox_id, contact)
    }

    /// [`FakeChatwoot::open`] for a contact the fake already has, in any inbox. In an inbox
    /// where they had a conversation before, it keeps their `contact_inbox`, as Chatwoot does.
    pub fn open_for(&self, inbox: u64, contact: u64) -> Conversation {
        let mut s = self.lock();
        assert!(
            s.contacts.contains_key(&contact),
            "contact {contact} was never created by the fake"
        );
        s.open(inbox, contact)
    }

    /// Sets inbox `inbox`'s `lock_to_single_conversation` (off by default, as in Chatwoot's
    /// `db/schema.rb`): see [`NEW_CONVERSATION_UNLESS_LOCKED`].
    pub fn lock_to_single_conversation(&self, inbox_id: u64, on: bool) {
        inbox(inbox_id);
        let mut s = self.lock();
        if on {
            s.locked.insert(inbox_id);
        } else {
            s.locked.remove(&inbox_id);
        }
    }

    /// The newest conversation of `c`'s contact in `c`'s inbox: where the client's messages
    /// went, when a message after the resolve opened a new one.
    pub fn latest(&self, c: &Conversation) -> Conversation {
        *self.all(c).last().expect("c itself")
    }

    /// Every conversation of `c`'s contact in `c`'s inbox, oldest first.
    pub fn all(&self, c: &Conversation) -> Vec<Conversation> {
        let s = self.lock();
        let inbox = s.conversation(c).inbox;
        s.conversations_of(c.contact, inbox)
            .into_iter()
            .map(|id| Conversation {
                id,
                contact: c.contact,
            })
            .collect()
    }

    /// The `conversation_created` webhook of `c`, as it is now.
    pub fn created(&self, c: &Conversation) -> Webhook {
        let s = self.lock();
        let mut payload = s.conversation_payload(s.conversation(c));
        payload["event"] = "conversation_created".into();
        s.webhook(&payload)
    }

    /// The client writes `text`: its `message_created`, preceded by a
    /// `conversation_status_changed` when it reopened the resolved conversation.
    pub fn client_writes(&self, c: &Conversation, text: &str) -> Vec<Webhook> {
        let mut s = self.lock();
        s.conversation(c);
        s.client_message(c.id, text)
    }

    /// `agent` answers `text` in the dashboard: an outgoing `message_created`. It reopens
    /// nothing.
    pub fn agent_writes(&self, c: &Conversation, agent: u64, text: &str) -> Webhook {
        let mut s = self.lock();
        s.conversation(c);
        user(agent);
        let id = s.add_message(c.id, Msg::outgoing(text, agent));
        s.message_webhook(c.id, id, "message_created")
    }

    /// `agent` takes the conversation: `conversation_updated` with the `assignee_id` change.
    /// A bot holding it lets go (`Conversation#reset_agent_bot_when_assignee_present`).
    pub fn assign(&self, c: &Conversation, agent: u64) -> Webhook {
        let mut s = self.lock();
        s.conversation(c);
        user(agent);
        let now = s.now();
        let conv = s.conversation_mut(c.id);
        let previous = conv.assignee.replace(agent);
        let previous_bot = conv.agent_bot.take();
        conv.updated_at = now;
        let mut payload = s.conversation_payload(s.conversation(c));
        payload["event"] = "conversation_updated".into();
        let mut changed =
            vec![json!({"assignee_id": {"previous_value": previous, "current_value": agent}})];
        if previous_bot.is_some() {
            changed.push(json!({"assignee_agent_bot_id":
                {"previous_value": previous_bot, "current_value": null}}));
        }
        payload["changed_attributes"] = changed.into();
        s.webhook(&payload)
    }

    /// AgentBot [`FAQ_BOT`] takes the conversation, and the agent holding it lets go:
    /// `conversation_updated` with the `assignee_agent_bot_id` and `assignee_id` changes
    /// (`Conversation#list_of_keys`, `BaseListener#extract_changed_attributes`). The payload's
    /// `meta.assignee` is the bot (`Conversation#assigned_entity` is `assignee_agent_bot ||
    /// assignee`), with `meta.assignee_type: "AgentBot"` (`EventDataPresenter#push_meta`).
    pub fn assign_bot(&self, c: &Conversation) -> Webhook {
        let mut s = self.lock();
        s.conversation(c);
        let now = s.now();
        let conv = s.conversation_mut(c.id);
        let previous_bot = conv.agent_bot.replace(FAQ_BOT);
        let previous = conv.assignee.take();
        conv.updated_at = now;
        let mut payload = s.conversation_payload(s.conversation(c));
        payload["event"] = "conversation_updated".into();
        payload["changed_attributes"] = json!([
            {"assignee_agent_bot_id": {"previous_value": previous_bot, "current_value": FAQ_BOT}},
            {"assignee_id": {"previous_value": previous, "current_value": null}},
        ]);
        s.webhook(&payload)
    }

    /// The conversation's agent is taken off it: `conversation_updated` with the
    /// `assignee_id` change to none.
    pub fn unassign(&self, c: &Conversation) -> Webhook {
        let mut s = self.lock();
        s.conversation(c);
        let now = s.now();
        let conv = s.conversation_mut(c.id);
        let previous = conv.assignee.take();
        assert!(
            previous.is_some(),
            "conversation {} has no assignee: Chatwoot would emit nothing",
            c.id
        );
        conv.updated_at = now;
        let mut payload = s.conversation_payload(s.conversation(c));
        payload["event"] = "conversation_updated".into();
        payload["changed_attributes"] =
            json!([{"assignee_id": {"previous_value": previous, "current_value": null}}]);
        s.webhook(&payload)
    }

    /// An agent resolves the conversation: `conversation_status_changed`.
    pub fn resolve(&self, c: &Conversation) -> Webhook {
        self.change_status(c, "resolved")
    }

    /// An agent reopens the conversation: `conversation_status_changed`.
    pub fn reopen(&self, c: &Conversation) -> Webhook {
        self.change_status(c, "open")
    }

    fn change_status(&self, c: &Conversation, status: &'static str) -> Webhook {
        let mut s = self.lock();
        s.conversation(c);
        let payload = s.set_status(c.id, status).unwrap_or_else(|| {
            panic!(
                "conversation {} is {status} already: Chatwoot would emit nothing",
                c.id
            )
        });
        s.webhook(&payload)
    }

    /// The bodies of the messages posted through the API to `c` and taken (200), in order,
    /// private notes included.
    pub fn sent(&self, c: &Conversation) -> Vec<Value> {
        let s = self.lock();
        let conv = s.conversation(c);
        conv.messages
            .iter()
            .filter_map(|m| m.posted.clone())
            .collect()
    }

    /// The ids of the messages of [`FakeChatwoot::sent`], in the same order: what
    /// [`FakeChatwoot::tap`] takes.
    pub fn sent_ids(&self, c: &Conversation) -> Vec<u64> {
        let s = self.lock();
        let conv = s.conversation(c);
        conv.messages
            .iter()
            .filter(|m| m.posted.is_some())
            .map(|m| m.id)
            .collect()
    }

    /// The `message_created` Chatwoot posts for a message Rateline itself posted through the
    /// API (outgoing, sent by [`API_USER`]): Rateline hears its own messages back.
    pub fn echo(&self, c: &Conversation, message_id: u64) -> Webhook {
        let s = self.lock();
        s.posted_message(c, message_id);
        s.message_webhook(c.id, message_id, "message_created")
    }

    /// The conversation's status: "open", "resolved", "pending" or "snoozed".
    pub fn status(&self, c: &Conversation) -> String {
        self.lock().conversation(c).status.into()
    }

    /// The client taps item `item` (from 0) of the `input_select` message `message_id` that was
    /// posted through the API, and the inbox returns it: on the web widget a `message_updated`
    /// of that message with `content_attributes.submitted_values` (the widget offers the
    /// options once, so a second tap panics); on WhatsApp an incoming message whose content is
    /// the item's title, on Telegram its value, which reopen a resolved conversation as any
    /// client message does. Panics if the client could not have tapped it: no such message or
    /// item, a private note, a message that broke a rendering rule (the channel refused or
    /// mangled it), an inbox that renders no buttons.
    pub fn tap(&self, c: &Conversation, message_id: u64, item: usize) -> Vec<Webhook> {
        let mut s = self.lock();
        let channel = inbox(s.conversation(c).inbox).channel_type;
        let message = s.posted_message(c, message_id);
        assert_eq!(
            message.content_type, "input_select",
            "message {message_id} is no input_select"
        );
        assert!(
            !message.private,
            "message {message_id} is a private note: the client never saw it"
        );
        assert!(
            message.rendered,
            "message {message_id} broke a rendering rule on {channel}: the client could not tap \
             it as posted"
        );
        let items = message.content_attributes["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let chosen = items.get(item).unwrap_or_else(|| {
            panic!(
                "message {message_id} has {} items, no item {item}",
                items.len()
            )
        });
        let title = chosen["title"].as_str().unwrap_or_default().to_owned();
        let value = chosen["value"].as_str().unwrap_or_default().to_owned();
        match channel {
            WEB_WIDGET => {
                let now = s.now();
                let message = s.message_mut(c.id, message_id);
                assert!(
                    message.content_attributes.get("submitted_values").is_none(),
                    "message {message_id} was answered already: the widget offers its options once"
                );
                message.content_attributes["submitted_values"] =
                    json!([{"title": title, "value": value}]);
                message.updated_at = now;
                vec![s.message_webhook(c.id, message_id, "message_updated")]
            }
            WHATSAPP => s.client_message(c.id, &title),
            TELEGRAM => s.client_message(c.id, &value),
            other => {
                unreachable!("no input_select is rendered on {other}, so none passed the checks")
            }
        }
    }

    /// Takes the `conversation_status_changed` webhooks that `toggle_status` calls produced,
    /// oldest first.
    pub fn take_status_webhooks(&self) -> Vec<Webhook> {
        std::mem::take(&mut self.lock().status_webhooks)
    }

    /// The account's webhooks, as a person or Rateline made them.
    pub fn webhooks(&self) -> Vec<AccountWebhook> {
        self.lock().webhooks.values().cloned().collect()
    }

    /// Adds an account webhook as a person would in Chatwoot's settings; its id.
    pub fn add_webhook(&self, url: &str, subscriptions: &[&str]) -> u64 {
        let raw = json!({"url": url, "subscriptions": subscriptions}).to_string();
        let answer = self.lock().add_webhook(raw.as_bytes());
        answer.body["payload"]["webhook"]["id"]
            .as_u64()
            .expect("the fake takes the webhook")
    }

    /// Makes the token's user an agent of the account (an administrator by default).
    pub fn make_token_an_agent(&self) {
        self.lock().role = "agent";
    }

    /// Plays a Chatwoot before 4.11.2, whose webhooks have no secret and sign nothing.
    pub fn release_before_secrets(&self) {
        self.lock().no_secrets = true;
    }

    /// Plays a Chatwoot whose conversations list names the user assignee only, never the
    /// AgentBot holding a conversation (the partial before `assigned_entity` came to it).
    pub fn release_before_bot_assignees(&self) {
        self.lock().no_bot_assignees = true;
    }

    /// Sets `WEBHOOK_TIMEOUT` (5 seconds unless Chatwoot's installation sets it:
    /// `Webhooks::Trigger#webhook_timeout`).
    pub fn set_webhook_timeout(&self, timeout: std::time::Duration) {
        self.lock().webhook_timeout = timeout;
    }

    /// Posts `events` to the account webhooks made over the API (or
    /// [`FakeChatwoot::add_webhook`]) as Chatwoot does: each event to each webhook subscribed
    /// to it (`WebhookListener#deliver_account_webhooks`; a webhook's `inbox_id` filters
    /// nothing), with a delivery id of its own, signed at the fake's now with that webhook's
    /// secret, or unsigned without one (`Webhooks::Trigger#request_headers`), once: a
    /// refusal, an error or no answer within `WEBHOOK_TIMEOUT` is logged and the event is
    /// lost (`Webhooks::Trigger#execute` rescues it; `WebhookJob` has no `retry_on`), and
    /// [`FakeChatwoot::lost_webhooks`] keeps it. The statuses, in order (0: no answer).
    pub async fn post_to_account_webhooks(
        &self,
        events: impl IntoIterator<Item = Webhook>,
    ) -> Vec<u16> {
        let (calls, timeout) = {
            let s = self.lock();
            let now = s.now().timestamp();
            let mut calls = Vec::new();
            for event in events {
                let name = event.json()["event"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                for hook in s
                    .webhooks
                    .values()
                    .filter(|h| h.subscriptions.contains(&name))
                {
                    let mut call = event.clone();
                    call.delivery = delivery_id();
                    call.timestamp = now;
                    match &hook.secret {
                        Some(secret) if !s.no_secrets => call.sign(secret),
                        _ => call = call.unsigned(),
                    }
                    calls.push((hook.url.clone(), call));
                }
            }
            (calls, s.webhook_timeout)
        };
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .expect("a client");
        let mut statuses = Vec::new();
        for (url, call) in calls {
            let status = post_call(&client, &url, &call.body, &call.headers).await;
            statuses.push(status);
            if !(200..300).contains(&status) {
                self.lock().lost.push(call);
            }
        }
        statuses
    }

    /// The events an account webhook's one call did not deliver.
    pub fn lost_webhooks(&self) -> Vec<Webhook> {
        self.lock().lost.clone()
    }
}

/// A test naming an inbox the fake does not have has a bug: fail it loudly.
fn inbox(id: u64) -> &'static InboxDef {
    INBOXES
        .iter()
        .find(|i| i.id == id)
        .unwrap_or_else(|| panic!("the fake Chatwoot has no inbox {id}"))
}

fn user(id: u64) -> &'static UserDef {
    USERS
        .iter()
        .find(|u| u.id == id)
        .unwrap_or_else(|| panic!("the fake Chatwoot has no user {id} (ANNA, BORIS, API_USER)"))
}

/// Rails writes times in JSON as ISO 8601 with milliseconds.
fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `updated_at.to_f`: seconds with their fraction.
fn float_seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_micros() as f64 / 1e6
}

struct Contact {
    id: u64,
    name: String,
    email: Option<String>,
    phone_number: Option<String>,
    created_at: DateTime<Utc>,
}

#[derive(Clone)]
struct ContactInbox {
    id: u64,
    source_id: String,
    created_at: DateTime<Utc>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Incoming,
    Outgoing,
}

#[derive(Clone, Copy)]
enum Sender {
    Contact(u64),
    User(u64),
}

struct Msg {
    id: u64,
    kind: Kind,
    content: String,
    content_type: &'static str,
    content_attributes: Value,
    private: bool,
    sender: Sender,
    source_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// The request body, for a message posted through the API.
    posted: Option<Value>,
    /// False when the channel would refuse or mangle it.
    rendered: bool,
}

impl Msg {
    /// An outgoing text by `user`; ids and times are set by [`Chatwoot::add_message`].
    fn outgoing(content: &str, user: u64) -> Self {
        Msg {
            id: 0,
            kind: Kind::Outgoing,
            content: content.into(),
            content_type: "text",
            content_attributes: json!({}),
            private: false,
            sender: Sender::User(user),
            source_id: None,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
            posted: None,
            rendered: true,
        }
    }
}

struct Conv {
    id: u64,
    inbox: u64,
    contact: u64,
    contact_inbox: ContactInbox,
    status: &'static str,
    assignee: Option<u64>,
    /// The AgentBot holding it (`assignee_agent_bot_id`), which wins over `assignee`.
    agent_bot: Option<u64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_activity_at: DateTime<Utc>,
    waiting_since: Option<DateTime<Utc>>,
    first_reply_created_at: Option<DateTime<Utc>>,
    messages: Vec<Msg>,
}

/// An answer, and how to record the call.
struct Answer {
    status: u16,
    body: Value,
    retry_after: Option<u64>,
    broke: Option<String>,
}

impl Answer {
    fn ok(body: Value) -> Self {
        Answer {
            status: 200,
            body,
            retry_after: None,
            broke: None,
        }
    }

    /// Chatwoot's `{"error": …}` envelope, for a fact of the world.
    fn error(status: u16, message: &str) -> Self {
        Answer {
            status,
            body: json!({"error": message}),
            retry_after: None,
            broke: None,
        }
    }

    /// A body Chatwoot (or the fake, where it is stricter) refuses: 422, and a violation.
    fn unprocessable(message: String) -> Self {
        Answer {
            broke: Some(message.clone()),
            ..Answer::error(422, &message)
        }
    }
}

/// What a path asks for; ids stay strings until the call is authorized, as in Chatwoot, where
/// a bad id is a 404 only to a caller who may look.
enum Route<'a> {
    Profile,
    Inboxes(&'a str),
    Conversations(&'a str),
    ListMessages(&'a str, &'a str),
    Messages(&'a str, &'a str),
    ToggleStatus(&'a str, &'a str),
    ShowConversation(&'a str, &'a str),
    Webhooks(&'a str),
    AddWebhook(&'a str),
    RemoveWebhook(&'a str, &'a str),
}

impl<'a> Route<'a> {
    fn of(method: &Method, path: &'a str) -> Option<Self> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method.as_str(), segments.as_slice()) {
            ("GET", ["api", "v1", "profile"]) => Some(Route::Profile),
            ("GET", ["api", "v1", "accounts", account, "inboxes"]) => Some(Route::Inboxes(account)),
            ("GET", ["api", "v1", "accounts", account, "conversations", id]) => {
                Some(Route::ShowConversation(account, id))
            }
            ("GET", ["api", "v1", "accounts", account, "webhooks"]) => {
                Some(Route::Webhooks(account))
            }
            ("POST", ["api", "v1", "accounts", account, "webhooks"]) => {
                Some(Route::AddWebhook(account))
            }
            ("DELETE", ["api", "v1", "accounts", account, "webhooks", id]) => {
                Some(Route::RemoveWebhook(account, id))
            }
            ("GET", ["api", "v1", "accounts", account, "conversations"]) => {
                Some(Route::Conversations(account))
            }
            (
                "GET",
                [
                    "api",
                    "v1",
                    "accounts",
                    account,
                    "conversations",
                    id,
                    "messages",
                ],
            ) => Some(Route::ListMessages(account, id)),
            (
                "POST",
                [
                    "api",
                    "v1",
                    "accounts",
                    account,
                    "conversations",
                    id,
                    "messages",
                ],
            ) => Some(Route::Messages(account, id)),
            (
                "POST",
                [
                    "api",
                    "v1",
                    "accounts",
                    account,
                    "conversations",
                    id,
                    "toggle_status",
                ],
            ) => Some(Route::ToggleStatus(account, id)),
            _ => None,
        }
    }

    fn account(&self) -> Option<&'a str> {
        match self {
            Route::Profile => None,
            Route::Inboxes(account)
            | Route::Conversations(account)
            | Route::ListMessages(account, _)
            | Route::Messages(account, _)
            | Route::ToggleStatus(account, _)
            | Route::ShowConversation(account, _)
            | Route::Webhooks(account)
            | Route::AddWebhook(account)
            | Route::RemoveWebhook(account, _) => Some(*account),
        }
    }
}

/// A message body that passed the checks.
struct NewMessage {
    content: String,
    content_type: &'static str,
    content_attributes: Value,
    private: bool,
    /// `(title, value)` of an `input_select`'s items.
    items: Vec<(String, String)>,
}

/// The fake Chatwoot's state, which tests reach through a [`FakeChatwoot`]: the account's
/// records, the calls so far and the faults to come, and the clock.
pub struct Chatwoot {
    clock: Clock,
    contacts: BTreeMap<u64, Contact>,
    conversations: BTreeMap<u64, Conv>,
    /// The calls so far, the faults to come and the token's fate.
    log: Log,
    status_webhooks: Vec<Webhook>,
    next_conversation: u64,
    next_contact: u64,
    /// By `(contact, inbox)`: one per contact in each inbox they write in.
    contact_inboxes: BTreeMap<(u64, u64), ContactInbox>,
    next_contact_inbox: u64,
    next_message: u64,
    /// The inboxes with `lock_to_single_conversation` on.
    locked: BTreeSet<u64>,
    /// The account webhooks, by id.
    webhooks: BTreeMap<u64, AccountWebhook>,
    next_webhook: u64,
    /// The token user's role in the account.
    role: &'static str,
    /// A release before 4.11.2: webhooks have no secret.
    no_secrets: bool,
    /// A release whose conversations list names no AgentBot assignee.
    no_bot_assignees: bool,
    /// `WEBHOOK_TIMEOUT`: how long a webhook's call may take.
    webhook_timeout: std::time::Duration,
    /// The events an account webhook's one call did not deliver.
    lost: Vec<Webhook>,
}

/// An account webhook (`app/models/webhook.rb`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountWebhook {
    /// Its id, numbered from 1 in the order the webhooks were made.
    pub id: u64,
    /// The name it was given, if any.
    pub name: Option<String>,
    /// Where it posts the events.
    pub url: String,
    /// The events it posts, from `Webhook::ALLOWED_WEBHOOK_EVENTS`.
    pub subscriptions: Vec<String>,
    /// What it signs its calls with; `None` on a release before 4.11.2
    /// ([`FakeChatwoot::release_before_secrets`]).
    pub secret: Option<String>,
}

/// `Webhook::ALLOWED_WEBHOOK_EVENTS` (`app/models/webhook.rb`).
const ALLOWED_WEBHOOK_EVENTS: [&str; 12] = [
    "conversation_status_changed",
    "conversation_updated",
    "conversation_created",
    "contact_created",
    "contact_updated",
    "message_created",
    "message_updated",
    "webwidget_triggered",
    "inbox_created",
    "inbox_updated",
    "conversation_typing_on",
    "conversation_typing_off",
];

/// Pundit's refusal (`RequestExceptionHandler#handle_with_exception`).
const NOT_AUTHORIZED: &str = "You are not authorized to do this action";

impl Default for Chatwoot {
    fn default() -> Self {
        Chatwoot {
            clock: Clock::default(),
            contacts: BTreeMap::new(),
            conversations: BTreeMap::new(),
            log: Log::default(),
            status_webhooks: Vec::new(),
            next_conversation: FIRST_CONVERSATION,
            next_contact: FIRST_CONTACT,
            contact_inboxes: BTreeMap::new(),
            next_contact_inbox: FIRST_CONTACT_INBOX,
            next_message: FIRST_MESSAGE,
            locked: BTreeSet::new(),
            webhooks: BTreeMap::new(),
            next_webhook: 1,
            role: "administrator",
            no_secrets: false,
            no_bot_assignees: false,
            webhook_timeout: std::time::Duration::from_secs(5),
            lost: Vec::new(),
        }
    }
}

impl Platform for Chatwoot {
    fn clock(&mut self) -> &mut Clock {
        &mut self.clock
    }
}

/// Chatwoot answers a [`Fault`] as Rack::Attack's throttle (429, `Retry-After`, `Retry
/// later`), Rails' 500 for an error nothing handled, or 401 `{"error":"Invalid Access
/// Token"}` for a token deleted since the call before. A call refused for its path, its token
/// or its account does not use up a fault; one to an unknown conversation does, as
/// Rack::Attack and the server fail before any lookup.
///
/// [`FakeChatwoot::rule_violations`] lists a message Chatwoot or the fake refuses (422, or
/// 400 for a body that is not JSON), an invalid status, and a message taken but not rendered
/// as posted (see the module docs). Refusals that only reflect the world (a token, an
/// account, an unknown conversation, an injected fault) are not listed.
impl Helpdesk for Chatwoot {
    const NAME: &'static str = "Chatwoot";

    fn log(&mut self) -> &mut Log {
        &mut self.log
    }
}

impl Chatwoot {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn webhook(&self, payload: &Value) -> Webhook {
        Webhook::new(payload, self.now().timestamp())
    }

    fn add_contact(&mut self, name: &str) -> u64 {
        let id = self.next_contact;
        self.next_contact += 1;
        let created_at = self.now();
        self.contacts.insert(
            id,
            Contact {
                id,
                name: name.into(),
                email: None,
                phone_number: None,
                created_at,
            },
        );
        id
    }

    fn open(&mut self, inbox_id: u64, contact_id: u64) -> Conversation {
        let now = self.now();
        let contact_inbox = match self.contact_inboxes.get(&(contact_id, inbox_id)) {
            Some(known) => known.clone(),
            None => {
                let new = self.new_contact_inbox(inbox_id, contact_id);
                self.contact_inboxes
                    .insert((contact_id, inbox_id), new.clone());
                new
            }
        };
        let id = self.next_conversation;
        self.next_conversation += 1;
        self.conversations.insert(
            id,
            Conv {
                id,
                inbox: inbox_id,
                contact: contact_id,
                contact_inbox,
                status: "open",
                assignee: None,
                agent_bot: None,
                created_at: now,
                updated_at: now,
                last_activity_at: now,
                waiting_since: None,
                first_reply_created_at: None,
                messages: Vec::new(),
            },
        );
        Conversation {
            id,
            contact: contact_id,
        }
    }

    /// The contact's first `contact_inbox` in the inbox: their address on its channel, as the
    /// channel names them.
    fn new_contact_inbox(&mut self, inbox_id: u64, contact_id: u64) -> ContactInbox {
        let channel = inbox(inbox_id).channel_type;
        let now = self.now();
        let contact = self.contacts.get_mut(&contact_id).expect("a known contact");
        let source_id = match channel {
            WHATSAPP => contact
                .phone_number
                .get_or_insert_with(|| format!("+1555010{contact_id:04}"))
                .trim_start_matches('+')
                .to_owned(),
            TELEGRAM => (700_000_000 + contact_id).to_string(),
            SMS => contact
                .phone_number
                .get_or_insert_with(|| format!("+1555010{contact_id:04}"))
                .clone(),
            EMAIL => contact
                .email
                .get_or_insert_with(|| format!("contact{contact_id}@example.test"))
                .clone(),
            // The widget makes up a UUID for each visitor it meets.
            _ => {
                let h = hex::encode(Sha256::digest(
                    format!("widget:{inbox_id}:{contact_id}").as_bytes(),
                ));
                format!(
                    "{}-{}-{}-{}-{}",
                    &h[0..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..32]
                )
            }
        };
        let contact_inbox = ContactInbox {
            id: self.next_contact_inbox,
            source_id,
            created_at: now,
        };
        self.next_contact_inbox += 1;
        contact_inbox
    }

    /// The ids of contact `contact`'s conversations in inbox `inbox_id`, oldest first.
    fn conversations_of(&self, contact: u64, inbox_id: u64) -> Vec<u64> {
        self.conversations
            .values()
            .filter(|v| v.contact == contact && v.inbox == inbox_id)
            .map(|v| v.id)
            .collect()
    }

    /// A test naming a conversation the fake does not have has a bug: fail it loudly.
    fn conversation(&self, c: &Conversation) -> &Conv {
        let conv = self
            .conversations
            .get(&c.id)
            .unwrap_or_else(|| panic!("the fake Chatwoot has no conversation {}", c.id));
        assert_eq!(
            conv.contact, c.contact,
            "conversation {} is contact {}'s, not {}'s",
            c.id, conv.contact, c.contact
        );
        conv
    }

    fn conversation_mut(&mut self, id: u64) -> &mut Conv {
        self.conversations
            .get_mut(&id)
            .expect("a known conversation")
    }

    fn message_mut(&mut self, conversation: u64, id: u64) -> &mut Msg {
        self.conversation_mut(conversation)
            .messages
            .iter_mut()
            .find(|m| m.id == id)
            .expect("a known message")
    }

    /// Message `id` of `c`, which must have been posted through the API.
    fn posted_message(&self, c: &Conversation, id: u64) -> &Msg {
        self.conversation(c)
            .messages
            .iter()
            .find(|m| m.id == id && m.posted.is_some())
            .unwrap_or_else(|| {
                panic!(
                    "conversation {} has no message {id} posted through the API",
                    c.id
                )
            })
    }

    /// Dates and numbers `message`, adds it to the conversation and updates what a message
    /// updates there; returns its id.
    fn add_message(&mut self, conversation: u64, mut message: Msg) -> u64 {
        let id = self.next_message;
        self.next_message += 1;
        let now = self.now();
        message.id = id;
        message.created_at = now;
        message.updated_at = now;
        let conv = self.conversation_mut(conversation);
        conv.last_activity_at = now;
        conv.updated_at = now;
        match (message.kind, message.private, message.sender) {
            (Kind::Incoming, ..) => {
                conv.waiting_since.get_or_insert(now);
            }
            // A human's public reply is the one Chatwoot's reporting counts.
            (Kind::Outgoing, false, Sender::User(_)) => {
                conv.first_reply_created_at.get_or_insert(now);
                conv.waiting_since = None;
            }
            _ => {}
        }
        conv.messages.push(message);
        id
    }

    /// The client's message with `content`: the `conversation_status_changed` of the reopening
    /// first, if it reopened the conversation (Chatwoot reopens in the message's `after_create`
    /// and emits the status change before the message's own event), then `message_created`.
    /// On a channel of [`NEW_CONVERSATION_UNLESS_LOCKED`] whose inbox is not locked, a message
    /// after the resolve goes into a new conversation instead: its `conversation_created`
    /// (`WebhookListener#conversation_created`), then the message's.
    fn client_message(&mut self, conversation: u64, content: &str) -> Vec<Webhook> {
        let mut webhooks = Vec::new();
        let conv = &self.conversations[&conversation];
        let (inbox_id, contact) = (conv.inbox, conv.contact);
        let conversation = if NEW_CONVERSATION_UNLESS_LOCKED.contains(&inbox(inbox_id).channel_type)
        {
            // The contact's conversation in the inbox, whichever the test named.
            let theirs = self.conversations_of(contact, inbox_id);
            let found = if self.locked.contains(&inbox_id) {
                theirs.last().copied()
            } else {
                theirs
                    .iter()
                    .rev()
                    .copied()
                    .find(|id| self.conversations[id].status != "resolved")
            };
            match found {
                Some(id) => id,
                None => {
                    let new = self.open(inbox_id, contact);
                    let mut payload = self.conversation_payload(&self.conversations[&new.id]);
                    payload["event"] = "conversation_created".into();
                    webhooks.push(self.webhook(&payload));
                    new.id
                }
            }
        } else {
            conversation
        };
        let n = self.next_message;
        let channel = inbox(inbox_id).channel_type;
        let (content_type, source_id) = match channel {
            WHATSAPP => ("text", Some(format!("wamid.HBgLMTU1NTAx{n:010}"))),
            TELEGRAM => ("text", Some(n.to_string())),
            // Chatwoot keeps the mail as is and says so in the content type.
            EMAIL => ("incoming_email", Some(format!("<{n}@mail.example.test>"))),
            SMS => ("text", Some(format!("SM{n:032}"))),
            _ => ("text", None),
        };
        let id = self.add_message(
            conversation,
            Msg {
                kind: Kind::Incoming,
                content_type,
                sender: Sender::Contact(contact),
                source_id,
                ..Msg::outgoing(content, 0)
            },
        );
        if self.conversations[&conversation].status == "resolved" {
            let payload = self
                .set_status(conversation, "open")
                .expect("resolved to open is a change");
            webhooks.push(self.webhook(&payload));
        }
        webhooks.push(self.message_webhook(conversation, id, "message_created"));
        webhooks
    }

    /// Sets the status; the `conversation_status_changed` payload if it changed.
    fn set_status(&mut self, conversation: u64, status: &'static str) -> Option<Value> {
        let now = self.now();
        let conv = self.conversation_mut(conversation);
        let previous = conv.status;
        if previous == status {
            return None;
        }
        conv.status = status;
        conv.updated_at = now;
        // The change writes an activity message (`Conversation#create_activity`, after the
        // update's commit), and each message moves `last_activity_at`
        // (`Message#set_conversation_activity`).
        conv.last_activity_at = now;
        let mut payload = self.conversation_payload(&self.conversations[&conversation]);
        payload["event"] = "conversation_status_changed".into();
        payload["changed_attributes"] =
            json!([{"status": {"previous_value": previous, "current_value": status}}]);
        Some(payload)
    }

    /// `Conversations::EventDataPresenter#push_data`.
    fn conversation_payload(&self, conv: &Conv) -> Value {
        let now = self.now();
        let channel = inbox(conv.inbox).channel_type;
        let last_chat = conv
            .messages
            .iter()
            .rfind(|m| !m.private)
            .map(|m| self.message_push_data(conv, m));
        let last_incoming = conv
            .messages
            .iter()
            .rfind(|m| m.kind == Kind::Incoming)
            .map(|m| m.created_at);
        // `Conversations::MessageWindowService`: WhatsApp's 24 hours, on a Twilio inbox too
        // (its `medium` is `whatsapp`: `twilio_messaging_window`).
        let windowed = channel == WHATSAPP || channel == TWILIO;
        let can_reply = !windowed || last_incoming.is_some_and(|t| now - t <= WA_WINDOW);
        let unread = conv
            .messages
            .iter()
            .filter(|m| m.kind == Kind::Incoming)
            .count();
        let contact_inbox = &conv.contact_inbox;
        json!({
            "additional_attributes": {},
            "can_reply": can_reply,
            "channel": channel,
            "contact_inbox": {
                "id": contact_inbox.id,
                "contact_id": conv.contact,
                "inbox_id": conv.inbox,
                "source_id": contact_inbox.source_id,
                "created_at": iso(contact_inbox.created_at),
                "updated_at": iso(contact_inbox.created_at),
                "hmac_verified": false,
                "pubsub_token": format!("pubsub-{}", contact_inbox.id),
            },
            "id": conv.id,
            "inbox_id": conv.inbox,
            "messages": last_chat.into_iter().collect::<Vec<_>>(),
            "labels": [],
            "meta": {
                "sender": self.contact_push_data(conv.contact),
                // `Conversation#assigned_entity&.push_event_data` and `#assignee_type`.
                "assignee": conv.agent_bot.map(agent_bot_push_data)
                    .or_else(|| conv.assignee.map(user_push_data)),
                "assignee_type": match (conv.agent_bot, conv.assignee) {
                    (Some(_), _) => Some("AgentBot"),
                    (None, Some(_)) => Some("User"),
                    (None, None) => None,
                },
                "team": null,
                "hmac_verified": false,
            },
            "status": conv.status,
            "custom_attributes": {},
            "snoozed_until": null,
            "unread_count": unread,
            "first_reply_created_at": conv.first_reply_created_at.map(iso),
            "priority": null,
            "waiting_since": conv.waiting_since.map_or(0, |t| t.timestamp()),
            "agent_last_seen_at": 0,
            "contact_last_seen_at": 0,
            "last_activity_at": conv.last_activity_at.timestamp(),
            "timestamp": conv.last_activity_at.timestamp(),
            "created_at": conv.created_at.timestamp(),
            "updated_at": float_seconds(conv.updated_at),
        })
    }

    /// `Message#push_event_data`: the message inside a conversation's `messages`.
    fn message_push_data(&self, conv: &Conv, m: &Msg) -> Value {
        let (sender_type, sender_id, sender) = match m.sender {
            Sender::Contact(id) => ("Contact", id, self.contact_push_data(id)),
            Sender::User(id) => ("User", id, user_push_data(id)),
        };
        json!({
            "id": m.id,
            "content": m.content,
            "account_id": ACCOUNT_ID,
            "inbox_id": conv.inbox,
            "conversation_id": conv.id,
            "message_type": message_type_number(m.kind),
            "created_at": m.created_at.timestamp(),
            "updated_at": iso(m.updated_at),
            "private": m.private,
            "status": "sent",
            "source_id": m.source_id,
            "content_type": m.content_type,
            "content_attributes": m.content_attributes,
            "sender_type": sender_type,
            "sender_id": sender_id,
            "external_source_ids": {},
            "additional_attributes": {},
            "processed_message_content": m.content,
            "sentiment": {},
            "sender": sender,
        })
    }

    /// `Message#webhook_data` with its `event`.
    fn message_webhook(&self, conversation: u64, id: u64, event: &str) -> Webhook {
        let conv = &self.conversations[&conversation];
        let m = conv
            .messages
            .iter()
            .find(|m| m.id == id)
            .expect("a known message");
        let sender = match m.sender {
            Sender::Contact(id) => self.contact_webhook_data(id),
            Sender::User(id) => {
                let u = user(id);
                json!({"id": u.id, "name": u.name, "email": u.email, "type": "user"})
            }
        };
        let i = inbox(conv.inbox);
        let payload = json!({
            "account": {"id": ACCOUNT_ID, "name": ACCOUNT_NAME},
            "additional_attributes": {},
            "content_attributes": m.content_attributes,
            "content_type": m.content_type,
            "content": m.content,
            "conversation": self.conversation_payload(conv),
            "created_at": iso(m.created_at),
            "id": m.id,
            "inbox": {"id": i.id, "name": i.name},
            "message_type": match m.kind {
                Kind::Incoming => "incoming",
                Kind::Outgoing => "outgoing",
            },
            "private": m.private,
            "sender": sender,
            "source_id": m.source_id,
            "event": event,
        });
        self.webhook(&payload)
    }

    fn contact_push_data(&self, id: u64) -> Value {
        let c = &self.contacts[&id];
        json!({
            "additional_attributes": {},
            "custom_attributes": {},
            "email": c.email,
            "id": c.id,
            "identifier": null,
            "name": c.name,
            "phone_number": c.phone_number,
            "thumbnail": "",
            "blocked": false,
            "type": "contact",
        })
    }

    fn contact_webhook_data(&self, id: u64) -> Value {
        let mut data = self.contact_push_data(id);
        data["account"] = json!({"id": ACCOUNT_ID, "name": ACCOUNT_NAME});
        data["avatar"] = "".into();
        data["created_at"] = iso(self.contacts[&id].created_at).into();
        data
    }

    /// Answers an API call.
    fn answer(&mut self, method: &Method, uri: &Uri, headers: &HeaderMap, raw: &[u8]) -> Answer {
        let path = uri.path();
        // Query values here are numbers and plain words: no decoding needed.
        let param = |name: &str| {
            uri.query()?
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_owned())
        };
        let Some(route) = Route::of(method, path) else {
            // Rails' routing error: no JSON envelope.
            return Answer {
                body: Value::Null,
                ..Answer::error(404, "")
            };
        };
        // Chatwoot reads the token from this header, underscore and all (proxies that drop
        // such headers, as nginx does by default, make every call a 401).
        let token = headers
            .get("api_access_token")
            .and_then(|h| h.to_str().ok());
        if self.log.revoked || token != Some(API_TOKEN) {
            return Answer::error(401, INVALID_TOKEN);
        }
        if let Some(account) = route.account() {
            match account.parse::<u64>() {
                Ok(ACCOUNT_ID) => {}
                // Another account exists, but the token's user is not in it.
                Ok(_) => {
                    return Answer::error(401, "You are not authorized to access this account");
                }
                Err(_) => return Answer::error(404, NOT_FOUND),
            }
        }
        if let Some(fault) = self.log.faults.pop_front() {
            return match fault {
                Fault::RateLimited { retry_after } => Answer {
                    status: 429,
                    body: "Retry later\n".into(),
                    retry_after: Some(retry_after),
                    broke: None,
                },
                Fault::ServerError => Answer {
                    body: json!({"status": 500, "error": "Internal Server Error"}),
                    ..Answer::error(500, "")
                },
                Fault::Unauthorized => Answer::error(401, INVALID_TOKEN),
            };
        }
        match route {
            Route::Webhooks(_) | Route::AddWebhook(_) | Route::RemoveWebhook(..)
                if self.role != "administrator" =>
            {
                Answer::error(401, NOT_AUTHORIZED)
            }
            Route::Webhooks(_) => {
                let list: Vec<Value> = self
                    .webhooks
                    .values()
                    .map(|w| self.webhook_json(w))
                    .collect();
                Answer::ok(json!({"payload": {"webhooks": list}}))
            }
            Route::AddWebhook(_) => self.add_webhook(raw),
            // `ConversationsController#show`: the conversations partial.
            Route::ShowConversation(_, id) => match id
                .parse::<u64>()
                .ok()
                .and_then(|id| self.conversations.get(&id))
            {
                Some(conv) => Answer::ok(self.conversation_json(conv)),
                None => Answer::error(404, NOT_FOUND),
            },
            Route::RemoveWebhook(_, id) => {
                match id
                    .parse::<u64>()
                    .ok()
                    .and_then(|id| self.webhooks.remove(&id))
                {
                    Some(_) => Answer::ok(Value::Null),
                    None => Answer::error(404, NOT_FOUND),
                }
            }
            Route::Profile => Answer::ok(self.profile()),
            Route::Inboxes(_) => {
                let inboxes = INBOXES
                    .iter()
                    .map(|i| inbox_json(i, self.locked.contains(&i.id)))
                    .collect::<Vec<_>>();
                Answer::ok(json!({ "payload": inboxes }))
            }
            Route::Conversations(_) => self.list_conversations(
                param("status").as_deref(),
                param("sort_by").as_deref(),
                param("page").and_then(|p| p.parse().ok()).unwrap_or(1),
            ),
            Route::ListMessages(_, id) => {
                match id
                    .parse::<u64>()
                    .ok()
                    .and_then(|id| self.conversations.get(&id))
                {
                    Some(conv) => {
                        let before = param("before").and_then(|b| b.parse().ok());
                        self.list_messages(conv, before)
                    }
                    None => Answer::error(404, NOT_FOUND),
                }
            }
            Route::Messages(_, id) | Route::ToggleStatus(_, id) => {
                let Some(id) = id
                    .parse::<u64>()
                    .ok()
                    .filter(|id| self.conversations.contains_key(id))
                else {
                    return Answer::error(404, NOT_FOUND);
                };
                let body = if raw.is_empty() {
                    Value::Object(Default::default())
                } else {
                    match serde_json::from_slice::<Value>(raw) {
                        Ok(body) => body,
                        Err(e) => {
                            let what = format!("the body is not JSON: {e}");
                            return Answer {
                                broke: Some(what.clone()),
                                ..Answer::error(400, &what)
                            };
                        }
                    }
                };
                if matches!(route, Route::Messages(..)) {
                    self.post_message(id, &body)
                } else {
                    self.toggle_status(id, &body)
                }
            }
        }
    }

    /// `GET …/conversations` (`ConversationFinder`): `status` `open` by default, `all` for
    /// every status; the latest activity first (`last_activity_at_desc`, the default and the
    /// only order modelled); 25 a page (`CONVERSATION_RESULTS_PER_PAGE`). The API user is an
    /// administrator, who sees every inbox. The body is `index.json.jbuilder`'s.
    fn list_conversations(&self, status: Option<&str>, sort: Option<&str>, page: usize) -> Answer {
        if sort.is_some_and(|s| s != "last_activity_at_desc") {
            return Answer::unprocessable(format!(
                "the fake lists conversations only by last_activity_at_desc, not {sort:?}"
            ));
        }
        let status = status.unwrap_or("open");
        let mut matching: Vec<&Conv> = self
            .conversations
            .values()
            .filter(|c| status == "all" || c.status == status)
            .collect();
        matching.sort_by_key(|c| std::cmp::Reverse((c.last_activity_at, c.id)));
        let payload: Vec<Value> = matching
            .iter()
            .skip(page.saturating_sub(1) * CONVERSATIONS_PAGE)
            .take(CONVERSATIONS_PAGE)
            .map(|c| self.conversation_json(c))
            .collect();
        let count = |s: &str| {
            self.conversations
                .values()
                .filter(|c| c.status == s)
                .count()
        };
        Answer::ok(json!({"data": {
            "meta": {
                "mine_count": 0,
                "assigned_count": 0,
                "unassigned_count": 0,
                "all_count": count("open") + count("pending"),
            },
            "payload": payload,
        }}))
    }

    /// `GET …/conversations/{id}/messages` (`MessageFinder`): the latest 20, or the 20 before
    /// message `before`, oldest first; `messages/index.json.jbuilder`'s body.
    fn list_messages(&self, conv: &Conv, before: Option<u64>) -> Answer {
        let older: Vec<&Msg> = conv
            .messages
            .iter()
            .filter(|m| before.is_none_or(|b| m.id < b))
            .collect();
        let page = &older[older.len().saturating_sub(MESSAGES_PAGE)..];
        Answer::ok(json!({
            "meta": {
                "labels": [],
                "additional_attributes": {},
                "contact": self.contact_push_data(conv.contact),
                "assignee": conv.assignee.map(user_push_data),
                "agent_last_seen_at": null,
                "assignee_last_seen_at": null,
            },
            "payload": page.iter().map(|m| self.message_json(conv, m)).collect::<Vec<_>>(),
        }))
    }

    /// A conversation as the API lists it (`api/v1/conversations/partials/_conversation`):
    /// unlike a webhook's, the channel is in `meta`. Current releases name the assigned
    /// entity (`conversation.assigned_entity`): an AgentBot as `agent_bot_slim` with
    /// `meta.assignee_type: "AgentBot"`, a user as the agent partial with `"User"`. Earlier
    /// ones ([`FakeChatwoot::release_before_bot_assignees`]) name the *user* assignee only
    /// (`conversation.assignee`, never the AgentBot holding it, and no `assignee_type`).
    fn conversation_json(&self, conv: &Conv) -> Value {
        let mut c = self.conversation_payload(conv);
        let object = c.as_object_mut().expect("an object");
        let channel = object.remove("channel").unwrap_or(Value::Null);
        object.remove("contact_inbox");
        object.insert("uuid".into(), format!("uuid-{}", conv.id).into());
        object.insert("account_id".into(), ACCOUNT_ID.into());
        object.insert("muted".into(), false.into());
        let meta = object["meta"].as_object_mut().expect("meta");
        meta.insert("channel".into(), channel);
        meta.remove("assignee_type");
        meta.remove("assignee");
        match (conv.agent_bot, conv.assignee) {
            (Some(bot), _) if !self.no_bot_assignees => {
                meta.insert("assignee".into(), agent_bot_slim(bot));
                meta.insert("assignee_type".into(), "AgentBot".into());
            }
            (_, Some(id)) => {
                meta.insert("assignee".into(), agent_json(id));
                if !self.no_bot_assignees {
                    meta.insert("assignee_type".into(), "User".into());
                }
            }
            _ => {}
        }
        c
    }

    /// A message as the API lists it (`api/v1/models/_message`): `message_type` its
    /// number (`message_type_before_type_cast`), `created_at` unix seconds.
    fn message_json(&self, conv: &Conv, m: &Msg) -> Value {
        let sender = match m.sender {
            Sender::Contact(id) => self.contact_push_data(id),
            Sender::User(id) => user_push_data(id),
        };
        json!({
            "id": m.id,
            "content": m.content,
            "inbox_id": conv.inbox,
            "conversation_id": conv.id,
            "message_type": message_type_number(m.kind),
            "content_type": m.content_type,
            "status": "sent",
            "content_attributes": m.content_attributes,
            "created_at": m.created_at.timestamp(),
            "private": m.private,
            "source_id": m.source_id,
            "sender": sender,
        })
    }

    fn post_message(&mut self, conversation: u64, body: &Value) -> Answer {
        let new = match check_message(body) {
            Ok(new) => new,
            Err(what) => return Answer::unprocessable(what),
        };
        let channel = inbox(self.conversations[&conversation].inbox).channel_type;
        let broken = if new.private {
            Vec::new()
        } else {
            rendering_violations(channel, &new)
        };
        self.add_message(
            conversation,
            Msg {
                content_type: new.content_type,
                content_attributes: new.content_attributes,
                private: new.private,
                posted: Some(body.clone()),
                rendered: broken.is_empty(),
                ..Msg::outgoing(&new.content, API_USER)
            },
        );
        let conv = &self.conversations[&conversation];
        let m = conv.messages.last().expect("the message just added");
        // The API answers with the enum's number where webhooks give its name.
        let mut body = self.message_json(conv, m);
        body["sender_type"] = "User".into();
        body["sender_id"] = API_USER.into();
        let mut answer = Answer::ok(body);
        if !broken.is_empty() {
            answer.broke = Some(broken.join("; "));
        }
        answer
    }

    fn toggle_status(&mut self, conversation: u64, body: &Value) -> Answer {
        let status: &'static str = match &body["status"] {
            // Without a status, Chatwoot toggles between open and resolved.
            Value::Null => {
                if self.conversations[&conversation].status == "open" {
                    "resolved"
                } else {
                    "open"
                }
            }
            Value::String(s) => match s.as_str() {
                "open" => "open",
                "resolved" => "resolved",
                "pending" => "pending",
                "snoozed" => "snoozed",
                other => {
                    return Answer::unprocessable(format!("'{other}' is not a valid status"));
                }
            },
            other => {
                return Answer::unprocessable(format!("status must be a string, got {other}"));
            }
        };
        if let Some(payload) = self.set_status(conversation, status) {
            let webhook = self.webhook(&payload);
            self.status_webhooks.push(webhook);
        }
        Answer::ok(json!({
            "meta": {},
            "payload": {
                "success": true,
                "conversation_id": conversation,
                "current_status": status,
            },
        }))
    }
}

/// A posted message's body checked: what Chatwoot refuses with 422, and what the fake refuses
/// because Chatwoot would store it broken or the fake does not model it.
fn check_message(body: &Value) -> Result<NewMessage, String> {
    if !body.is_object() {
        return Err(format!("the body must be a JSON object, got {body}"));
    }
    match &body["message_type"] {
        Value::Null => {}
        Value::String(kind) => match kind.as_str() {
            "outgoing" => {}
            "incoming" => return Err("Incoming messages are only allowed in Api inboxes".into()),
            "activity" | "template" => {
                return Err(format!(
                    "message_type \"{kind}\": the fake Chatwoot takes outgoing messages only"
                ));
            }
            other => return Err(format!("'{other}' is not a valid message_type")),
        },
        other => return Err(format!("message_type must be a string, got {other}")),
    }
    let content = match &body["content"] {
        Value::String(c) if !c.trim().is_empty() => c.clone(),
        other => {
            return Err(format!(
                "content must be a non-empty string, got {other}: the client would get an empty \
                 message"
            ));
        }
    };
    let private = match &body["private"] {
        Value::Null => false,
        Value::Bool(p) => *p,
        other => return Err(format!("private must be true or false, got {other}")),
    };
    let content_type = match &body["content_type"] {
        Value::Null => "text",
        Value::String(t) => match t.as_str() {
            "text" => "text",
            "input_select" => "input_select",
            "input_text" | "input_textarea" | "input_email" | "cards" | "form" | "article"
            | "incoming_email" | "integrations" | "sticker" | "voice_call" => {
                return Err(format!(
                    "content_type \"{t}\": the fake Chatwoot models text and input_select only"
                ));
            }
            other => return Err(format!("'{other}' is not a valid content_type")),
        },
        other => return Err(format!("content_type must be a string, got {other}")),
    };
    let content_attributes = match &body["content_attributes"] {
        Value::Null => json!({}),
        attributes @ Value::Object(_) => attributes.clone(),
        other => return Err(format!("content_attributes must be an object, got {other}")),
    };
    let mut items = Vec::new();
    if content_type == "input_select" {
        let list = match &content_attributes["items"] {
            Value::Array(list) if !list.is_empty() => list,
            _ => {
                return Err(
                    "Validation failed: Content attributes At least one item is required.".into(),
                );
            }
        };
        for (n, item) in list.iter().enumerate() {
            let Some(fields) = item.as_object() else {
                return Err(format!("content_attributes.items[{n}] must be an object"));
            };
            if fields.keys().any(|k| k != "title" && k != "value") {
                return Err(
                    "Validation failed: Content attributes contains invalid keys for items".into(),
                );
            }
            let title = match &item["title"] {
                Value::String(t) if !t.trim().is_empty() => t.clone(),
                other => {
                    return Err(format!(
                        "content_attributes.items[{n}].title must be a non-empty string, got \
                         {other}"
                    ));
                }
            };
            let Some(value) = item["value"].as_str() else {
                return Err(format!(
                    "content_attributes.items[{n}].value must be a string, got {}",
                    item["value"]
                ));
            };
            items.push((title, value.to_owned()));
        }
    }
    Ok(NewMessage {
        content,
        content_type,
        content_attributes,
        private,
        items,
    })
}

/// What the channel of `channel` would refuse or mangle in a message shown to the client.
fn rendering_violations(channel: &str, message: &NewMessage) -> Vec<String> {
    if message.content_type != "input_select" {
        return Vec::new();
    }
    if !BUTTON_CHANNELS.contains(&channel) {
        return vec![format!(
            "input_select on a {channel} inbox: only {} render it, a client here has nothing to \
             tap",
            BUTTON_CHANNELS.join(", ")
        )];
    }
    let mut broken = Vec::new();
    let items = &message.items;
    match channel {
        WHATSAPP => {
            let body = message.content.chars().count();
            if body > WA_INTERACTIVE_BODY_CHARS {
                broken.push(format!(
                    "input_select on WhatsApp: the interactive message's body is at most \
                     {WA_INTERACTIVE_BODY_CHARS} characters, the content has {body}"
                ));
            }
            if items.len() > WA_MAX_ROWS {
                broken.push(format!(
                    "input_select on WhatsApp has {} items: a list holds at most \
                     {WA_MAX_ROWS} rows",
                    items.len()
                ));
            }
            let (max, what) = if items.len() <= WA_MAX_BUTTONS {
                (WA_BUTTON_TITLE_CHARS, "a reply button title")
            } else {
                (WA_ROW_TITLE_CHARS, "a list row title")
            };
            for (n, (title, _)) in items.iter().enumerate() {
                let chars = title.chars().count();
                if chars > max {
                    broken.push(format!(
                        "input_select item {n} on WhatsApp: {what} is at most {max} characters, \
                         \"{title}\" has {chars}"
                    ));
                }
            }
        }
        TELEGRAM => {
            for (n, (_, value)) in items.iter().enumerate() {
                if value.len() > TELEGRAM_CALLBACK_DATA_BYTES {
                    broken.push(format!(
                        "input_select item {n} on Telegram: its value becomes callback_data, at \
                         most {TELEGRAM_CALLBACK_DATA_BYTES} bytes, \"{value}\" has {}",
                        value.len()
                    ));
                }
            }
        }
        _ => {}
    }
    broken
}

fn message_type_number(kind: Kind) -> u8 {
    match kind {
        Kind::Incoming => 0,
        Kind::Outgoing => 1,
    }
}

/// `AgentBot#push_event_data` (`app/models/agent_bot.rb`), as a conversation's assignee: no
/// avatar attached gives an empty `avatar_url` (`Avatarable#avatar_url`).
fn agent_bot_push_data(id: u64) -> Value {
    assert_eq!(id, FAQ_BOT, "the fake account has one AgentBot");
    json!({"id": id, "name": FAQ_BOT_NAME, "avatar_url": "", "type": "agent_bot"})
}

/// An AgentBot as `api/v1/models/_agent_bot_slim` writes one: the conversations list's
/// assignee where a bot holds the conversation.
fn agent_bot_slim(id: u64) -> Value {
    assert_eq!(id, FAQ_BOT, "the fake account has one AgentBot");
    json!({"id": id, "name": FAQ_BOT_NAME, "description": "", "thumbnail": "",
           "outgoing_url": "http://127.0.0.1:9/bot", "bot_type": "webhook",
           "assignee_type": "AgentBot"})
}

/// A user as the API's `api/v1/models/_agent` partial writes one: the conversations list's
/// assignee.
fn agent_json(id: u64) -> Value {
    let u = user(id);
    json!({
        "id": u.id,
        "account_id": ACCOUNT_ID,
        "availability_status": "online",
        "auto_offline": true,
        "confirmed": true,
        "email": u.email,
        "available_name": u.name,
        "name": u.name,
        "role": u.role,
        "thumbnail": "",
    })
}

/// `User#push_event_data`: an assignee, or a message's sender inside a conversation.
fn user_push_data(id: u64) -> Value {
    let u = user(id);
    json!({
        "id": u.id,
        "name": u.name,
        "available_name": u.name,
        "avatar_url": "",
        "type": "user",
        "availability_status": "online",
        "thumbnail": "",
    })
}

impl Chatwoot {
    fn profile(&self) -> Value {
        let mut p = profile();
        p["role"] = self.role.into();
        p["accounts"][0]["role"] = self.role.into();
        p
    }

    /// `_webhook.json.jbuilder`.
    fn webhook_json(&self, w: &AccountWebhook) -> Value {
        let mut v = json!({
            "id": w.id,
            "name": w.name,
            "url": w.url,
            "account_id": ACCOUNT_ID,
            "subscriptions": w.subscriptions,
        });
        if !self.no_secrets {
            v["secret"] = w.secret.clone().into();
        }
        v
    }

    /// `WebhooksController#create`: `params.require(:webhook).permit(:inbox_id, :name, :url,
    /// subscriptions: [])`, a flat body wrapped as `wrap_parameters` does; the model's
    /// validations; the database's default subscriptions when none are given.
    fn add_webhook(&mut self, raw: &[u8]) -> Answer {
        let body: Value = serde_json::from_slice(raw).unwrap_or(Value::Null);
        let w = body.get("webhook").unwrap_or(&body);
        let url = w.get("url").and_then(Value::as_str).unwrap_or_default();
        let invalid = |message: &str, attribute: &str| Answer {
            body: json!({"message": message, "attributes": [attribute]}),
            ..Answer::error(422, message)
        };
        let http = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .is_some_and(|rest| !rest.is_empty() && !rest.contains(' '));
        if !http {
            return invalid("Url is invalid", "url");
        }
        if self.webhooks.values().any(|h| h.url == url) {
            return invalid("Url has already been taken", "url");
        }
        let subscriptions: Vec<String> = match w.get("subscriptions") {
            None | Some(Value::Null) => ALLOWED_WEBHOOK_EVENTS[..8]
                .iter()
                .map(|e| (*e).to_owned())
                .collect(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|e| e.as_str().unwrap_or("?").to_owned())
                .collect(),
            Some(_) => Vec::new(),
        };
        if subscriptions.is_empty()
            || subscriptions
                .iter()
                .any(|e| !ALLOWED_WEBHOOK_EVENTS.contains(&e.as_str()))
        {
            return invalid("Subscriptions Invalid events", "subscriptions");
        }
        let id = self.next_webhook;
        self.next_webhook += 1;
        let hook = AccountWebhook {
            id,
            name: w.get("name").and_then(Value::as_str).map(str::to_owned),
            url: url.to_owned(),
            subscriptions,
            secret: (!self.no_secrets).then(|| format!("cwsecret{id:016}")),
        };
        let body = json!({"payload": {"webhook": self.webhook_json(&hook)}});
        self.webhooks.insert(id, hook);
        Answer::ok(body)
    }
}

fn profile() -> Value {
    let u = user(API_USER);
    json!({
        "id": u.id,
        "name": u.name,
        "available_name": u.name,
        "display_name": u.name,
        "email": u.email,
        "account_id": ACCOUNT_ID,
        "role": u.role,
        "confirmed": true,
        "accounts": [{"id": ACCOUNT_ID, "name": ACCOUNT_NAME, "role": u.role, "status": "active"}],
    })
}

fn inbox_json(i: &InboxDef, locked: bool) -> Value {
    let mut inbox = json!({
        "id": i.id,
        "name": i.name,
        "channel_id": i.id,
        "channel_type": i.channel_type,
        "csat_survey_enabled": false,
        "lock_to_single_conversation": locked,
        "allow_messages_after_resolved": true,
        "enable_auto_assignment": true,
        "greeting_enabled": false,
        "working_hours_enabled": false,
        "avatar_url": "",
    });
    // `json.medium resource.channel.try(:medium) if resource.twilio?` (`_inbox.json.jbuilder`).
    if i.channel_type == TWILIO {
        inbox["medium"] = "whatsapp".into();
    }
    inbox
}

async fn serve(
    State(fake): State<FakeChatwoot>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let answer = {
        let mut s = fake.lock();
        let answer = s.answer(&method, &uri, &headers, &body);
        s.log.record(
            method.as_str(),
            path,
            &body,
            answer.status,
            answer.broke.clone(),
        );
        answer
    };
    let status = StatusCode::from_u16(answer.status).expect("a valid HTTP status");
    let mut response = match answer.body {
        Value::Null => status.into_response(),
        Value::String(text) => (status, [(CONTENT_TYPE, "text/plain")], text).into_response(),
        body => (status, axum::Json(body)).into_response(),
    };
    if let Some(seconds) = answer.retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, seconds.to_string().parse().expect("digits"));
    }
    response
}
