//! A local Graph API for the Meta channels' tests (Messenger, Instagram, WhatsApp Cloud API),
//! and the webhooks Meta would post to Rateline.
//!
//! The real Graph API cannot be used from CI, and the fakes around (whatsapp-dev and the like)
//! know neither interactive lists nor status webhooks nor the 24-hour window, which is the rule
//! a rating engine is most likely to break: it asks for a rating some time after the chat, and
//! Meta lets a business write freely only within 24 hours of the customer's last message. This
//! fake serves `POST /{VERSION}/{id}/messages` on `127.0.0.1:0` and is strict where Meta is
//! strict (text, quick reply, button and list limits, the window, templates, tokens), so a
//! scenario passing here has kept Meta's rules: [`FakeGraphApi::rule_violations`] lists every
//! call that broke one. Where Meta is lenient in ways it does not promise (Instagram truncates
//! a quick reply title past 20 characters rather than refusing it), the fake refuses: a
//! truncated star label is a broken rating button.
//!
//! Three accounts exist: the Page [`PAGE_ID`] (Messenger), the Instagram professional account
//! [`IG_ID`] and the WhatsApp phone number [`WA_PHONE_ID`], each with its own token, which the
//! fake reads from `Authorization: Bearer`. Graph also takes an `access_token` query parameter;
//! the fake does not, keeping tokens out of URLs and the logs that record them.
//!
//! Time is the fake's own, set by the test with [`FakeGraphApi::set_now`] to follow its manual
//! clock (until then it is the real clock). The window counts from the last message recorded
//! with [`FakeGraphApi::user_wrote`] or built by [`FakeGraphApi::inbound`]: a user writing
//! opens it, as on Meta, and our own messages never refresh it.
//!
//! The fake never calls Rateline. Tests post what [`Inbound`] builds (and, for WhatsApp sends
//! failed after the fact, [`FakeGraphApi::take_async_statuses`]) to Rateline's webhook route:
//! each is the raw body with its `X-Hub-Signature-256`, shaped like payloads captured from Meta
//! (nyaruka/courier's and david-lev/pywa's fixtures) and signed with [`APP_SECRET`] over the
//! exact bytes.
//!
//! The fake cannot see what a message is for: it takes a Messenger message tag whenever Meta
//! would, though Meta's policy forbids rating prompts under every tag. Tests that care assert
//! the `messaging_type` of what was [`FakeGraphApi::sent`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::ops::RangeInclusive;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::scaffold::{Clock, Fake, Platform};

/// The Graph API version the fake serves, in the path of every send: Rateline's `graph_version`
/// must name it.
pub const VERSION: &str = "v25.0";
/// The Messenger Page: the account of Messenger sends and webhooks (`page_id`).
pub const PAGE_ID: &str = "1691462197845448";
/// The Page's token, the only one Messenger sends take (`page_token`).
pub const PAGE_TOKEN: &str = "EAAG-test-page-token";
/// The Instagram professional account: the account of Instagram sends and webhooks
/// (`instagram_id`).
pub const IG_ID: &str = "17841400000000001";
/// The Instagram account's token, the only one Instagram sends take (`instagram_token`).
pub const IG_TOKEN: &str = "IGAA-test-ig-token";
/// The WhatsApp phone number id: the account of WhatsApp sends, and the `phone_number_id` of
/// WhatsApp webhooks (`whatsapp_phone_number_id`).
pub const WA_PHONE_ID: &str = "1234567890";
/// The WhatsApp number's token, the only one WhatsApp sends take (`whatsapp_token`).
pub const WA_TOKEN: &str = "EAAG-test-wa-token";
/// The WhatsApp Business Account, the `entry` id of WhatsApp webhooks.
pub const WA_BUSINESS_ID: &str = "8856996819413533";
/// The app secret every webhook is signed with (`X-Hub-Signature-256`): Rateline's
/// `meta.app_secret`.
pub const APP_SECRET: &str = "test-meta-app-secret";

/// The business's own number, as WhatsApp shows it in `metadata` and in replies' `context`.
const WA_DISPLAY_NUMBER: &str = "15550001234";
/// The app that sent the Page's messages, as Messenger names it in echoes.
const APP_ID: i64 = 1_517_776_481_860_111;
/// The WhatsApp profile name of every user: Rateline has no use for it.
const WA_PROFILE_NAME: &str = "Ann Tester";
/// Meta's support reference for a call; nobody reads it in tests.
const FBTRACE_ID: &str = "A1b2C3";

/// The standard messaging window of all three channels.
const WINDOW: TimeDelta = TimeDelta::hours(24);
/// Messenger and Instagram let a human agent answer for 7 days under the `HUMAN_AGENT` tag.
const HUMAN_AGENT_WINDOW: TimeDelta = TimeDelta::days(7);
const MESSENGER_TAGS: [&str; 4] = [
    "CONFIRMED_EVENT_UPDATE",
    "POST_PURCHASE_UPDATE",
    "ACCOUNT_UPDATE",
    "HUMAN_AGENT",
];
/// Instagram takes none of Messenger's other tags.
const INSTAGRAM_TAGS: [&str; 1] = ["HUMAN_AGENT"];

// Lengths are counted in characters (Unicode scalar values), as the documentation states them.
const MESSENGER_TEXT_CHARS: usize = 2000;
const INSTAGRAM_TEXT_CHARS: usize = 1000;
const MAX_QUICK_REPLIES: usize = 13;
const QUICK_REPLY_TITLE_CHARS: usize = 20;
/// Quick reply, postback and template button payloads alike.
const PAYLOAD_CHARS: usize = 1000;
const WA_TEXT_CHARS: usize = 4096;
const WA_BUTTON_BODY_CHARS: usize = 1024;
const WA_MAX_BUTTONS: usize = 3;
const WA_BUTTON_ID_CHARS: usize = 256;
const WA_BUTTON_TITLE_CHARS: usize = 20;
const WA_HEADER_FOOTER_CHARS: usize = 60;
const WA_LIST_LABEL_CHARS: usize = 20;
const WA_MAX_SECTIONS: usize = 10;
/// For all sections together.
const WA_MAX_ROWS: usize = 10;
const WA_ROW_ID_CHARS: usize = 200;
/// Row and section titles alike.
const WA_ROW_TITLE_CHARS: usize = 24;
const WA_ROW_DESCRIPTION_CHARS: usize = 72;

const RE_ENGAGEMENT_DETAILS: &str = "Message failed to send because more than 24 hours have passed \
                                     since the customer last replied to this number";
const UNDELIVERABLE_DETAILS: &str = "Unable to deliver message. Reasons can include: the \
                                     recipient's phone number is not a WhatsApp phone number, or \
                                     the recipient cannot receive messages";

/// The three channels the fake serves, each an account with a token of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetaChannel {
    /// Messenger, through the Page [`PAGE_ID`].
    Messenger,
    /// Instagram, through the professional account [`IG_ID`].
    Instagram,
    /// WhatsApp, through the phone number [`WA_PHONE_ID`].
    Whatsapp,
}

impl MetaChannel {
    /// The account id in the path of a send, and in webhooks.
    fn account(self) -> &'static str {
        match self {
            MetaChannel::Messenger => PAGE_ID,
            MetaChannel::Instagram => IG_ID,
            MetaChannel::Whatsapp => WA_PHONE_ID,
        }
    }

    fn token(self) -> &'static str {
        match self {
            MetaChannel::Messenger => PAGE_TOKEN,
            MetaChannel::Instagram => IG_TOKEN,
            MetaChannel::Whatsapp => WA_TOKEN,
        }
    }

    fn of_account(id: &str) -> Option<Self> {
        [
            MetaChannel::Messenger,
            MetaChannel::Instagram,
            MetaChannel::Whatsapp,
        ]
        .into_iter()
        .find(|c| c.account() == id)
    }
}

/// A refusal forced on the next send to a channel, whatever the call carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answers with Meta's error envelope.
    Graph {
        /// The HTTP status of the answer.
        status: u16,
        /// Meta's error `code`: 190 for a bad token, 4, 613, 80007, 130429 or 131056 for
        /// throttling.
        code: i64,
        /// Meta's `error_subcode`, where the error has one.
        subcode: Option<i64>,
        /// The error's `message`, as Meta words it.
        message: String,
    },
    /// Never answers, like a request lost in a network partition.
    Hang,
}

impl Fault {
    /// Throttling, as Meta words it. Meta's HTTP status for these varies (400 for the app-level
    /// limit, 429 for the others in the field reports), so Rateline should go by the code.
    pub fn rate_limited(code: i64) -> Self {
        let (status, message) = match code {
            4 => (400, "(#4) Application request limit reached"),
            613 => (
                429,
                "(#613) Calls to this API have exceeded the rate limit.",
            ),
            80007 => (429, "(#80007) Rate limit issues"),
            130429 => (429, "(#130429) Rate limit hit"),
            131056 => (
                429,
                "(#131056) (Business Account, Consumer Account) pair rate limit hit",
            ),
            other => panic!(
                "{other} is not one of Meta's rate-limit codes (4, 613, 80007, 130429, 131056)"
            ),
        };
        Fault::Graph {
            status,
            code,
            subcode: None,
            message: message.into(),
        }
    }

    /// Meta's catch-all for a transient failure on its side.
    pub fn server_error() -> Self {
        Fault::Graph {
            status: 500,
            code: 2,
            subcode: None,
            message: "An unexpected error has occurred. Please retry your request later.".into(),
        }
    }

    /// A token revoked or expired since Rateline was configured.
    pub fn invalid_token() -> Self {
        Fault::Graph {
            status: 401,
            code: 190,
            subcode: None,
            message: "Invalid OAuth access token - Cannot parse access token".into(),
        }
    }
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    /// The account the path names, even when the call was refused; `None` for other paths.
    pub channel: Option<MetaChannel>,
    /// The path called, e.g. `/v25.0/1691462197845448/messages`.
    pub path: String,
    /// The JSON body; a body that is not JSON is kept as a string.
    pub body: Value,
    /// 0 while unanswered: a [`Fault::Hang`], or a client that left.
    pub status: u16,
    /// The Graph error code of the answer. A WhatsApp send taken outside the window (see
    /// [`FakeGraphApi::whatsapp_window_errors_async`]) has status 200 and the 131047 that its
    /// `failed` status carries.
    pub error_code: Option<i64>,
    /// The error's `message`, or what went wrong with a send that fails later.
    pub error_message: Option<String>,
    /// When it arrived.
    pub at: Instant,
}

/// The handle tests hold; clones share one server. Sends go to
/// `{url}/{VERSION}/{id}/messages`; the fake's clock dates the window and inbound timestamps.
pub type FakeGraphApi = Fake<GraphApi>;

impl FakeGraphApi {
    /// Starts the fake on a free loopback port, on the real clock, with no users yet. Graph
    /// answers every path and verb in its own envelope, and so does the fake.
    pub async fn start() -> Self {
        Fake::serve(serve).await
    }

    /// Registers a user who has never written: Meta knows them (a PSID, an IGSID, a WhatsApp
    /// number), but the window is closed. WhatsApp users are phone numbers, matched by digits.
    pub fn add_user(&self, channel: MetaChannel, user: &str) {
        self.lock()
            .users
            .entry(user_key(channel, user))
            .or_default();
    }

    /// Records a message from the user at `at`, registering them if need be. The window counts
    /// from the latest message recorded, however they were recorded.
    pub fn user_wrote(&self, channel: MetaChannel, user: &str, at: DateTime<Utc>) {
        self.lock().user_wrote(channel, user, at);
    }

    /// An unavailable user has blocked the business or can no longer receive messages.
    pub fn set_user_unavailable(&self, channel: MetaChannel, user: &str, unavailable: bool) {
        self.lock().user_mut(channel, user).unavailable = unavailable;
    }

    /// Registers an approved WhatsApp template in `language` (a code such as `en_US`) whose
    /// first `quick_replies` buttons are quick replies.
    pub fn add_template(&self, name: &str, language: &str, quick_replies: usize) {
        self.lock()
            .templates
            .insert((name.into(), language.into()), quick_replies);
    }

    /// Off (the default): a free-form WhatsApp message outside the window is refused on the
    /// spot with 131047. On: it is taken (200, with a wamid) and fails later, as often happens
    /// in the field, with a `failed` status webhook queued for
    /// [`FakeGraphApi::take_async_statuses`]. Either way it breaks the window rule.
    pub fn whatsapp_window_errors_async(&self, on: bool) {
        self.lock().window_errors_async = on;
    }

    /// Queues `fault` for the next send to `channel`, after any queued before it. A call
    /// refused for its path or token does not use up a fault.
    pub fn fail_next(&self, channel: MetaChannel, fault: Fault) {
        self.lock()
            .faults
            .entry(channel)
            .or_default()
            .push_back(fault);
    }

    /// Every call so far, in order of arrival, refused ones included.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.iter().map(|r| r.call.clone()).collect()
    }

    /// The calls that broke a rule the caller is expected to know: malformed or over-long
    /// messages, too many buttons, a send outside the window (also one WhatsApp takes and fails
    /// later). Refusals that only reflect the world (an unknown or unavailable user, a template
    /// Meta does not have, a wrong token or path, an injected fault) are not listed.
    pub fn rule_violations(&self) -> Vec<Call> {
        self.lock()
            .calls
            .iter()
            .filter(|r| r.broke_a_rule)
            .map(|r| r.call.clone())
            .collect()
    }

    /// The bodies of the sends that reached `user`, in order. A WhatsApp send that was taken
    /// but failed later never reached anyone.
    pub fn sent(&self, channel: MetaChannel, user: &str) -> Vec<Value> {
        let s = self.lock();
        s.user(channel, user)
            .sent
            .iter()
            .map(|(_, body)| body.clone())
            .collect()
    }

    /// The id (`m_…` or `wamid.…`) of the last send that reached `user`, for building replies.
    pub fn last_message_id(&self, channel: MetaChannel, user: &str) -> Option<String> {
        let s = self.lock();
        s.user(channel, user).sent.last().map(|(id, _)| id.clone())
    }

    /// Takes the `failed` status webhooks queued for WhatsApp sends that failed after the fact,
    /// oldest first, as `(body, X-Hub-Signature-256)`.
    pub fn take_async_statuses(&self) -> Vec<(String, String)> {
        std::mem::take(&mut self.lock().async_statuses)
    }

    /// Builds the webhooks Meta posts when users act, at the fake's now unless told otherwise.
    pub fn inbound(&self) -> Inbound<'_> {
        Inbound {
            fake: self,
            at: None,
            id: None,
        }
    }

    /// Waits (in real time, up to 10 s) until `what` holds.
    pub async fn wait_for(&self, what: impl Fn(&FakeGraphApi) -> bool) {
        crate::wait_until(
            || what(self),
            || {
                format!(
                    "the fake Graph API did not reach the awaited state within 10 s; calls so far:\n{}",
                    self.call_log()
                )
            },
        )
        .await
    }

    fn call_log(&self) -> String {
        let mut log = String::new();
        for c in self.calls() {
            let answer = c.error_message.as_deref().unwrap_or("");
            let _ = writeln!(log, "  {} -> {} {answer} {}", c.path, c.status, c.body);
        }
        log
    }
}

/// Webhook builders, from [`FakeGraphApi::inbound`]. Each returns `(raw JSON body,
/// X-Hub-Signature-256 value)`, or a bare messaging event for [`messenger_batch`]. A user's
/// message (not an echo, not a status) registers the user and opens their window at its time.
pub struct Inbound<'a> {
    fake: &'a FakeGraphApi,
    at: Option<DateTime<Utc>>,
    id: Option<String>,
}

impl Inbound<'_> {
    /// Dates the event, for a message written before or after the fake's now.
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = Some(at);
        self
    }

    /// Gives the message this `mid` (a wamid on WhatsApp) instead of a fresh one, to replay a
    /// delivery as Meta does.
    pub fn with_mid(mut self, mid: &str) -> Self {
        self.id = Some(mid.into());
        self
    }

    /// A text message from `user` to the Page.
    pub fn messenger_text(self, user: &str, text: &str) -> (String, String) {
        messenger_payload(vec![vec![self.messenger_text_event(user, text)]])
    }

    /// A tap on a quick reply: Messenger sends the title as the text, with the payload.
    pub fn messenger_quick_reply(self, user: &str, title: &str, payload: &str) -> (String, String) {
        messenger_payload(vec![vec![
            self.messenger_quick_reply_event(user, title, payload),
        ]])
    }

    /// A tap on a postback button (button template, persistent menu).
    pub fn messenger_postback(self, user: &str, title: &str, payload: &str) -> (String, String) {
        messenger_payload(vec![vec![
            self.messenger_postback_event(user, title, payload),
        ]])
    }

    /// The Page's own message, sent by Rateline or by an agent, echoed back to the webhook.
    pub fn messenger_echo(self, user: &str, text: &str) -> (String, String) {
        messenger_payload(vec![vec![self.messenger_echo_event(user, text)]])
    }

    /// [`Inbound::messenger_text`]'s event alone, for [`messenger_batch`].
    pub fn messenger_text_event(self, user: &str, text: &str) -> Value {
        self.user_event(
            MetaChannel::Messenger,
            user,
            "message",
            json!({"text": text}),
        )
    }

    /// [`Inbound::messenger_quick_reply`]'s event alone, for [`messenger_batch`].
    pub fn messenger_quick_reply_event(self, user: &str, title: &str, payload: &str) -> Value {
        self.user_event(
            MetaChannel::Messenger,
            user,
            "message",
            json!({"text": title, "quick_reply": {"payload": payload}}),
        )
    }

    /// [`Inbound::messenger_postback`]'s event alone, for [`messenger_batch`].
    pub fn messenger_postback_event(self, user: &str, title: &str, payload: &str) -> Value {
        self.user_event(
            MetaChannel::Messenger,
            user,
            "postback",
            json!({"title": title, "payload": payload}),
        )
    }

    /// Sent by the Page, so it neither registers the user nor opens the window.
    pub fn messenger_echo_event(self, user: &str, text: &str) -> Value {
        let (at, mid) = self.stamp();
        json!({
            "sender": {"id": PAGE_ID},
            "recipient": {"id": user},
            "timestamp": at.timestamp_millis(),
            "message": {"mid": mid, "is_echo": true, "app_id": APP_ID, "text": text},
        })
    }

    /// A text message from `user` to the Instagram account.
    pub fn instagram_text(self, user: &str, text: &str) -> (String, String) {
        let event = self.user_event(
            MetaChannel::Instagram,
            user,
            "message",
            json!({"text": text}),
        );
        messaging_payload(MetaChannel::Instagram, vec![vec![event]])
    }

    /// A tap on a quick reply on Instagram: the title as the text, with the payload.
    pub fn instagram_quick_reply(self, user: &str, title: &str, payload: &str) -> (String, String) {
        let event = self.user_event(
            MetaChannel::Instagram,
            user,
            "message",
            json!({"text": title, "quick_reply": {"payload": payload}}),
        );
        messaging_payload(MetaChannel::Instagram, vec![vec![event]])
    }

    /// A text message from `from` (a phone number, written any way: its digits count) to the
    /// WhatsApp number.
    pub fn whatsapp_text(self, from: &str, text: &str) -> (String, String) {
        self.whatsapp_message(from, "text", json!({"body": text}), None)
    }

    /// A tap on a reply button of our interactive message `context_wamid`.
    pub fn whatsapp_button_reply(
        self,
        from: &str,
        id: &str,
        title: &str,
        context_wamid: &str,
    ) -> (String, String) {
        self.whatsapp_message(
            from,
            "interactive",
            json!({"type": "button_reply", "button_reply": {"id": id, "title": title}}),
            Some(context_wamid),
        )
    }

    /// A choice from the list of our interactive message `context_wamid`.
    pub fn whatsapp_list_reply(
        self,
        from: &str,
        id: &str,
        title: &str,
        context_wamid: &str,
    ) -> (String, String) {
        self.whatsapp_message(
            from,
            "interactive",
            json!({"type": "list_reply", "list_reply": {"id": id, "title": title}}),
            Some(context_wamid),
        )
    }

    /// A tap on a quick-reply button of our template message `context_wamid`: WhatsApp reports
    /// it as a `button` message, not an `interactive` one.
    pub fn whatsapp_template_button(
        self,
        from: &str,
        payload: &str,
        text: &str,
        context_wamid: &str,
    ) -> (String, String) {
        self.whatsapp_message(
            from,
            "button",
            json!({"payload": payload, "text": text}),
            Some(context_wamid),
        )
    }

    /// A status of our message `wamid` to `recipient`: `sent`, `delivered`, `read`, or `failed`
    /// with `error_code` (and only then).
    pub fn whatsapp_status(
        self,
        wamid: &str,
        status: &str,
        recipient: &str,
        error_code: Option<i64>,
    ) -> (String, String) {
        let at = self.at.unwrap_or_else(|| self.fake.now());
        whatsapp_status_payload(wamid, status, &wa_id(recipient), error_code, at)
    }

    /// The event's time and message id, drawing a fresh id unless one was given.
    fn stamp(self) -> (DateTime<Utc>, String) {
        let mut s = self.fake.lock();
        let at = self.at.unwrap_or_else(|| s.now());
        let id = self.id.unwrap_or_else(|| format!("m_{}", s.next_id()));
        (at, id)
    }

    /// A messaging event from `user` carrying `content` (plus its `mid`) under `kind`.
    fn user_event(self, channel: MetaChannel, user: &str, kind: &str, mut content: Value) -> Value {
        let fake = self.fake;
        let (at, mid) = self.stamp();
        fake.lock().user_wrote(channel, user, at);
        content["mid"] = mid.into();
        json!({
            "sender": {"id": user},
            "recipient": {"id": channel.account()},
            "timestamp": at.timestamp_millis(),
            kind: content,
        })
    }

    /// A message of `kind` from `from`, replying to our message `context` if any.
    fn whatsapp_message(
        self,
        from: &str,
        kind: &str,
        content: Value,
        context: Option<&str>,
    ) -> (String, String) {
        let fake = self.fake;
        let at = self.at.unwrap_or_else(|| fake.now());
        let from = wa_id(from);
        let wamid = {
            let mut s = fake.lock();
            s.user_wrote(MetaChannel::Whatsapp, &from, at);
            self.id.unwrap_or_else(|| format!("wamid.{}", s.next_id()))
        };
        let mut message = json!({
            "from": from,
            "id": wamid,
            // WhatsApp dates messages in seconds, as a string.
            "timestamp": at.timestamp().to_string(),
            "type": kind,
            kind: content,
        });
        if let Some(context) = context {
            message["context"] = json!({"from": WA_DISPLAY_NUMBER, "id": context});
        }
        whatsapp_payload(json!({
            "contacts": [{"profile": {"name": WA_PROFILE_NAME}, "wa_id": from}],
            "messages": [message],
        }))
    }
}

/// Several Messenger events (from the `_event` builders) in one delivery, split in order across
/// two entries of the Page, as Meta batches them. Needs at least two events.
pub fn messenger_batch(events: Vec<Value>) -> (String, String) {
    assert!(
        events.len() >= 2,
        "a batch across two entries needs two events at least, got {}",
        events.len()
    );
    let mut first = events;
    let second = first.split_off(first.len().div_ceil(2));
    messenger_payload(vec![first, second])
}

/// `sha256=<hex HMAC-SHA256 of body>` keyed with [`APP_SECRET`], as in `X-Hub-Signature-256`.
pub fn sign(body: &str) -> String {
    sign_with(APP_SECRET, body)
}

/// [`sign`] with another key, e.g. to check a known vector or send a forged signature.
pub fn sign_with(key: &str, body: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn signed(payload: &Value) -> (String, String) {
    let body = payload.to_string();
    let signature = sign(&body);
    (body, signature)
}

fn messenger_payload(entries: Vec<Vec<Value>>) -> (String, String) {
    messaging_payload(MetaChannel::Messenger, entries)
}

/// One entry per group of events, dated (in ms, like the events) by its latest event.
fn messaging_payload(channel: MetaChannel, entries: Vec<Vec<Value>>) -> (String, String) {
    let object = match channel {
        MetaChannel::Instagram => "instagram",
        _ => "page",
    };
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|events| {
            let time = events
                .iter()
                .filter_map(|e| e["timestamp"].as_i64())
                .max()
                .unwrap_or_default();
            json!({"id": channel.account(), "time": time, "messaging": events})
        })
        .collect();
    signed(&json!({"object": object, "entry": entries}))
}

/// A `messages` change of the business account, around `value`'s messages or statuses.
fn whatsapp_payload(mut value: Value) -> (String, String) {
    value["messaging_product"] = "whatsapp".into();
    value["metadata"] = json!({
        "display_phone_number": WA_DISPLAY_NUMBER,
        "phone_number_id": WA_PHONE_ID,
    });
    signed(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": WA_BUSINESS_ID, "changes": [{"value": value, "field": "messages"}]}],
    }))
}

fn whatsapp_status_payload(
    wamid: &str,
    status: &str,
    recipient: &str,
    error_code: Option<i64>,
    at: DateTime<Utc>,
) -> (String, String) {
    let mut entry = json!({
        "id": wamid,
        "status": status,
        "timestamp": at.timestamp().to_string(),
        "recipient_id": recipient,
    });
    match (status, error_code) {
        ("failed", Some(code)) => {
            let (title, details) = whatsapp_error_text(code);
            entry["errors"] = json!([{
                "code": code,
                "title": title,
                "message": title,
                "error_data": {"details": details},
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
            }]);
        }
        ("sent" | "delivered", None) => {
            // Billing details ride along; Rateline should not need them.
            entry["conversation"] =
                json!({"id": format!("conversation-{recipient}"), "origin": {"type": "service"}});
            entry["pricing"] =
                json!({"billable": false, "pricing_model": "PMP", "category": "service"});
        }
        ("read", None) => {}
        _ => panic!(
            "a WhatsApp status is sent, delivered, read, or failed with an error code; got \
             {status:?} with {error_code:?}"
        ),
    }
    whatsapp_payload(json!({"statuses": [entry]}))
}

/// The `title` and `error_data.details` WhatsApp gives an error code in a status.
fn whatsapp_error_text(code: i64) -> (&'static str, &'static str) {
    match code {
        131047 => ("Re-engagement message", RE_ENGAGEMENT_DETAILS),
        131026 => ("Message undeliverable", UNDELIVERABLE_DETAILS),
        131049 => (
            "This message was not delivered to maintain healthy ecosystem engagement.",
            "In order to maintain a healthy ecosystem engagement, the message failed to be \
             delivered.",
        ),
        131050 => (
            "User has stopped marketing messages",
            "Unable to deliver the message. This recipient has chosen to stop receiving \
             marketing messages on WhatsApp from your business",
        ),
        _ => (
            "Something went wrong",
            "Message failed to send because of an unknown error.",
        ),
    }
}

/// WhatsApp users are phone numbers, matched by their digits: `+1 555-0100` is `15550100`.
fn wa_id(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

/// How the fake files a user the test names.
fn user_key(channel: MetaChannel, user: &str) -> (MetaChannel, String) {
    let id = match channel {
        MetaChannel::Whatsapp => wa_id(user),
        _ => user.into(),
    };
    assert!(!id.is_empty(), "{user:?} is no {channel:?} user id");
    (channel, id)
}

/// A refused call, as Meta words it.
struct Refusal {
    status: u16,
    code: i64,
    subcode: Option<i64>,
    message: String,
    /// WhatsApp's `error_data.details`.
    details: Option<String>,
    broke_a_rule: bool,
}

impl Refusal {
    /// A Send API parameter breaks a documented rule (and any missing WhatsApp parameter).
    fn param(what: impl std::fmt::Display) -> Self {
        Refusal {
            status: 400,
            code: 100,
            subcode: None,
            message: format!("(#100) {what}"),
            details: None,
            broke_a_rule: true,
        }
    }

    fn missing(field: &str) -> Self {
        Refusal::param(format_args!("The parameter {field} is required"))
    }

    /// A WhatsApp parameter breaks a documented rule; `details` says which.
    fn wa_invalid(details: String) -> Self {
        Refusal {
            status: 400,
            code: 131009,
            subcode: None,
            message: "(#131009) Parameter value is not valid".into(),
            details: Some(details),
            broke_a_rule: true,
        }
    }

    /// The caller could not have known: a fact of the world, not a mistake.
    fn world(status: u16, code: i64, subcode: Option<i64>, message: &str) -> Self {
        Refusal {
            status,
            code,
            subcode,
            message: message.into(),
            details: None,
            broke_a_rule: false,
        }
    }

    /// The path names no account, version or edge the fake serves.
    fn unsupported(method: &Method, id: &str) -> Self {
        Refusal::world(
            400,
            100,
            Some(33),
            &format!(
                "Unsupported {} request. Object with ID '{id}' does not exist, cannot be loaded \
                 due to missing permissions, or does not support this operation. Please read the \
                 Graph API documentation at https://developers.facebook.com/docs/graph-api",
                method.as_str().to_ascii_lowercase()
            ),
        )
    }

    fn invalid_token() -> Self {
        Refusal::world(
            401,
            190,
            None,
            "Invalid OAuth access token - Cannot parse access token",
        )
    }

    fn no_matching_user() -> Self {
        Refusal::world(400, 100, Some(2018001), "(#100) No matching user found")
    }

    fn unavailable() -> Self {
        Refusal::world(
            400,
            551,
            Some(1545041),
            "This person isn't available right now.",
        )
    }

    fn outside_window() -> Self {
        Refusal {
            broke_a_rule: true,
            ..Refusal::world(
                400,
                10,
                Some(2018278),
                "(#10) This message is sent outside of allowed window.",
            )
        }
    }

    fn re_engagement() -> Self {
        Refusal {
            broke_a_rule: true,
            details: Some(RE_ENGAGEMENT_DETAILS.into()),
            ..Refusal::world(400, 131047, None, "(#131047) Re-engagement message")
        }
    }

    fn undeliverable() -> Self {
        Refusal {
            details: Some(UNDELIVERABLE_DETAILS.into()),
            ..Refusal::world(400, 131026, None, "(#131026) Message Undeliverable.")
        }
    }

    /// Templates live in Meta's business manager, not in Rateline: a missing one is a
    /// configuration fact.
    fn no_template(name: &str, language: &str) -> Self {
        Refusal {
            details: Some(format!(
                "template name ({name}) does not exist in {language}"
            )),
            ..Refusal::world(
                400,
                132001,
                None,
                "(#132001) Template name does not exist in the translation",
            )
        }
    }
}

/// An answer, and how to record the call.
struct Outcome {
    status: u16,
    body: Value,
    error_code: Option<i64>,
    error_message: Option<String>,
    broke_a_rule: bool,
}

impl Outcome {
    fn ok(body: Value) -> Self {
        Outcome {
            status: 200,
            body,
            error_code: None,
            error_message: None,
            broke_a_rule: false,
        }
    }
}

impl From<Refusal> for Outcome {
    fn from(r: Refusal) -> Self {
        let mut error = json!({
            "message": r.message,
            "type": "OAuthException",
            "code": r.code,
            "fbtrace_id": FBTRACE_ID,
        });
        if let Some(subcode) = r.subcode {
            error["error_subcode"] = subcode.into();
        }
        if let Some(details) = r.details {
            error["error_data"] = json!({"messaging_product": "whatsapp", "details": details});
        }
        Outcome {
            status: r.status,
            body: json!({"error": error}),
            error_code: Some(r.code),
            error_message: Some(r.message),
            broke_a_rule: r.broke_a_rule,
        }
    }
}

#[derive(Default)]
struct User {
    unavailable: bool,
    last_wrote: Option<DateTime<Utc>>,
    /// `(message id, request body)` of each send that reached the user.
    sent: Vec<(String, Value)>,
}

struct Recorded {
    call: Call,
    broke_a_rule: bool,
}

/// The fake Graph API's state, which tests reach through a [`FakeGraphApi`]: the users and
/// templates, the calls so far and the faults to come, and the clock.
#[derive(Default)]
pub struct GraphApi {
    clock: Clock,
    users: HashMap<(MetaChannel, String), User>,
    /// Quick-reply buttons by `(name, language)`.
    templates: HashMap<(String, String), usize>,
    window_errors_async: bool,
    faults: HashMap<MetaChannel, VecDeque<Fault>>,
    calls: Vec<Recorded>,
    async_statuses: Vec<(String, String)>,
    /// One counter for every id the fake makes up, so none repeats.
    last_id: u64,
}

impl Platform for GraphApi {
    fn clock(&mut self) -> &mut Clock {
        &mut self.clock
    }
}

impl GraphApi {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn next_id(&mut self) -> u64 {
        self.last_id += 1;
        self.last_id
    }

    fn user_wrote(&mut self, channel: MetaChannel, user: &str, at: DateTime<Utc>) {
        let user = self.users.entry(user_key(channel, user)).or_default();
        user.last_wrote = user.last_wrote.max(Some(at));
    }

    /// A test naming a user it never added has a bug: fail it loudly.
    fn user(&self, channel: MetaChannel, user: &str) -> &User {
        self.users
            .get(&user_key(channel, user))
            .unwrap_or_else(|| panic!("{channel:?} user {user} was never added to the fake"))
    }

    fn user_mut(&mut self, channel: MetaChannel, user: &str) -> &mut User {
        self.users
            .get_mut(&user_key(channel, user))
            .unwrap_or_else(|| panic!("{channel:?} user {user} was never added to the fake"))
    }

    fn send(&mut self, channel: MetaChannel, body: &Value) -> Outcome {
        let answer = match channel {
            MetaChannel::Whatsapp => self.send_whatsapp(body),
            _ => self.send_page_message(channel, body),
        };
        answer.unwrap_or_else(Outcome::from)
    }

    /// A Messenger or Instagram Send API call.
    fn send_page_message(
        &mut self,
        channel: MetaChannel,
        body: &Value,
    ) -> Result<Outcome, Refusal> {
        let recipient =
            id_arg(&body["recipient"]["id"]).ok_or_else(|| Refusal::missing("recipient[id]"))?;
        let window = messaging_window(channel, body)?;
        check_page_message(channel, &body["message"])?;
        let now = self.now();
        let user = self
            .users
            .get(&(channel, recipient.clone()))
            .ok_or_else(Refusal::no_matching_user)?;
        // Before availability: a send outside the window is Rateline's mistake either way.
        if let Some(window) = window
            && !within(user.last_wrote, now, window)
        {
            return Err(Refusal::outside_window());
        }
        if user.unavailable {
            return Err(Refusal::unavailable());
        }
        let mid = format!("m_{}", self.next_id());
        self.user_mut(channel, &recipient)
            .sent
            .push((mid.clone(), body.clone()));
        Ok(Outcome::ok(
            json!({"recipient_id": recipient, "message_id": mid}),
        ))
    }

    fn send_whatsapp(&mut self, body: &Value) -> Result<Outcome, Refusal> {
        match &body["messaging_product"] {
            Value::Null => return Err(Refusal::missing("messaging_product")),
            product if product == "whatsapp" => {}
            product => {
                return Err(Refusal::wa_invalid(format!(
                    "messaging_product must be \"whatsapp\", got {product}"
                )));
            }
        }
        let recipient_type = &body["recipient_type"];
        if !recipient_type.is_null() && recipient_type != "individual" {
            return Err(Refusal::wa_invalid(format!(
                "recipient_type must be \"individual\" (the fake knows no groups), got \
                 {recipient_type}"
            )));
        }
        let to = id_arg(&body["to"]).ok_or_else(|| Refusal::missing("to"))?;
        // The API takes a message without `type` as text.
        let kind = match &body["type"] {
            Value::Null => "text",
            Value::String(kind) => kind.as_str(),
            other => {
                return Err(Refusal::wa_invalid(format!(
                    "type must be a string, got {other}"
                )));
            }
        };
        match kind {
            "text" => check_wa_text(body)?,
            "interactive" => check_interactive(&body["interactive"])?,
            "template" => self.check_template(&body["template"])?,
            _ => {
                return Err(Refusal::wa_invalid(format!(
                    "type \"{kind}\" is not one the fake Graph API models: text, interactive or \
                     template"
                )));
            }
        }
        let wa_id = wa_id(&to);
        let now = self.now();
        let user = self
            .users
            .get(&(MetaChannel::Whatsapp, wa_id.clone()))
            .ok_or_else(Refusal::undeliverable)?;
        // Templates are what WhatsApp allows outside the window.
        let inside = kind == "template" || within(user.last_wrote, now, WINDOW);
        if !inside && !self.window_errors_async {
            return Err(Refusal::re_engagement());
        }
        if user.unavailable {
            return Err(Refusal::undeliverable());
        }
        let wamid = format!("wamid.{}", self.next_id());
        let answer = json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": wa_id}],
            "messages": [{"id": wamid}],
        });
        if inside {
            self.user_mut(MetaChannel::Whatsapp, &wa_id)
                .sent
                .push((wamid, body.clone()));
            return Ok(Outcome::ok(answer));
        }
        self.async_statuses.push(whatsapp_status_payload(
            &wamid,
            "failed",
            &wa_id,
            Some(131047),
            now,
        ));
        Ok(Outcome {
            error_code: Some(131047),
            error_message: Some(
                "(#131047) Re-engagement message, reported in a failed status webhook".into(),
            ),
            broke_a_rule: true,
            ..Outcome::ok(answer)
        })
    }

    /// Only quick-reply buttons are checked; header and body parameters are taken as sent.
    fn check_template(&self, template: &Value) -> Result<(), Refusal> {
        if !template.is_object() {
            return Err(Refusal::missing("template"));
        }
        let name = template["name"]
            .as_str()
            .ok_or_else(|| Refusal::missing("template.name"))?;
        let language = template["language"]["code"]
            .as_str()
            .ok_or_else(|| Refusal::missing("template.language.code"))?;
        let quick_replies = *self
            .templates
            .get(&(name.into(), language.into()))
            .ok_or_else(|| Refusal::no_template(name, language))?;
        let components = match &template["components"] {
            Value::Null => &[][..],
            Value::Array(components) => components.as_slice(),
            _ => {
                return Err(Refusal::wa_invalid(
                    "template.components must be an array".into(),
                ));
            }
        };
        let mut indices = HashSet::new();
        for (n, component) in components.iter().enumerate() {
            if component["type"] != "button" {
                continue;
            }
            let at = format!("template.components[{n}]");
            if component["sub_type"] != "quick_reply" {
                return Err(Refusal::wa_invalid(format!(
                    "{at}.sub_type must be \"quick_reply\": the fake models no other buttons"
                )));
            }
            let index = match &component["index"] {
                Value::String(i) => i.parse::<usize>().ok(),
                Value::Number(i) => i.as_u64().and_then(|i| usize::try_from(i).ok()),
                _ => None,
            }
            .ok_or_else(|| {
                Refusal::wa_invalid(format!("{at}.index must be a button position like \"0\""))
            })?;
            if index >= quick_replies {
                return Err(Refusal::wa_invalid(format!(
                    "{at}.index {index} is past the {quick_replies} quick-reply buttons of \
                     template {name} ({language})"
                )));
            }
            if !indices.insert(index) {
                return Err(Refusal::wa_invalid(format!(
                    "{at}.index {index} is given twice"
                )));
            }
            let parameters = component["parameters"].as_array().map(Vec::as_slice);
            let Some([parameter]) = parameters else {
                return Err(Refusal::wa_invalid(format!(
                    "{at}.parameters must hold exactly one payload parameter"
                )));
            };
            if parameter["type"] != "payload" {
                return Err(Refusal::wa_invalid(format!(
                    "{at}.parameters[0].type must be \"payload\""
                )));
            }
            text_field(
                &format!("{at}.parameters[0].payload"),
                &parameter["payload"],
                1..=PAYLOAD_CHARS,
                Refusal::wa_invalid,
            )?;
        }
        Ok(())
    }
}

/// Whether a user's last message at `last` still lets the business write at `now`.
fn within(last: Option<DateTime<Utc>>, now: DateTime<Utc>, window: TimeDelta) -> bool {
    last.is_some_and(|last| now - last <= window)
}

/// Graph ids are strings, though it reads a bare number just as well.
fn id_arg(value: &Value) -> Option<String> {
    match value {
        Value::String(id) if !id.is_empty() => Some(id.clone()),
        Value::Number(id) => Some(id.to_string()),
        _ => None,
    }
}

/// The window a Messenger or Instagram send needs, by its `messaging_type` and `tag`; `None`
/// when none applies.
fn messaging_window(channel: MetaChannel, body: &Value) -> Result<Option<TimeDelta>, Refusal> {
    let kind = &body["messaging_type"];
    // Instagram's own examples omit it; Messenger requires it.
    if kind.is_null() && channel == MetaChannel::Instagram {
        return Ok(Some(WINDOW));
    }
    match kind.as_str() {
        None => Err(Refusal::missing("messaging_type")),
        Some("RESPONSE" | "UPDATE") => Ok(Some(WINDOW)),
        Some("MESSAGE_TAG") => {
            let tags: &[&str] = match channel {
                MetaChannel::Instagram => &INSTAGRAM_TAGS,
                _ => &MESSENGER_TAGS,
            };
            match body["tag"].as_str() {
                None => Err(Refusal::param(
                    "Param tag is required when messaging_type is MESSAGE_TAG",
                )),
                Some(tag) if !tags.contains(&tag) => Err(Refusal::param(format_args!(
                    "Param tag must be one of {{{}}} on {channel:?} - got \"{tag}\"",
                    tags.join(", ")
                ))),
                Some("HUMAN_AGENT") => Ok(Some(HUMAN_AGENT_WINDOW)),
                Some(_) => Ok(None),
            }
        }
        Some(other) => Err(Refusal::param(format_args!(
            "Param messaging_type must be one of {{RESPONSE, UPDATE, MESSAGE_TAG}} - got \
             \"{other}\""
        ))),
    }
}

fn check_page_message(channel: MetaChannel, message: &Value) -> Result<(), Refusal> {
    let Some(fields) = message.as_object() else {
        return Err(Refusal::missing("message"));
    };
    if fields.contains_key("attachment") {
        return Err(Refusal::param(
            "message[attachment]: the fake Graph API models text messages only",
        ));
    }
    let limit = match channel {
        MetaChannel::Instagram => INSTAGRAM_TEXT_CHARS,
        _ => MESSENGER_TEXT_CHARS,
    };
    text_field("message[text]", &message["text"], 1..=limit, Refusal::param)?;
    let quick_replies = match &message["quick_replies"] {
        Value::Null => return Ok(()),
        Value::Array(quick_replies) => quick_replies,
        _ => {
            return Err(Refusal::param(
                "Param message[quick_replies] must be an array",
            ));
        }
    };
    if quick_replies.len() > MAX_QUICK_REPLIES {
        return Err(Refusal::param(format_args!(
            "Param message[quick_replies] must have at most {MAX_QUICK_REPLIES} elements, got {}",
            quick_replies.len()
        )));
    }
    for (n, quick_reply) in quick_replies.iter().enumerate() {
        let at = format!("message[quick_replies][{n}]");
        match quick_reply["content_type"].as_str() {
            Some("text") => {
                text_field(
                    &format!("{at}[title]"),
                    &quick_reply["title"],
                    1..=QUICK_REPLY_TITLE_CHARS,
                    Refusal::param,
                )?;
                text_field(
                    &format!("{at}[payload]"),
                    &quick_reply["payload"],
                    1..=PAYLOAD_CHARS,
                    Refusal::param,
                )?;
            }
            // Messenger can also ask for the user's contact details; Instagram cannot.
            Some("user_phone_number" | "user_email") if channel == MetaChannel::Messenger => {}
            _ => {
                return Err(Refusal::param(format_args!(
                    "Param {at}[content_type] is not valid on {channel:?}: {}",
                    quick_reply["content_type"]
                )));
            }
        }
    }
    Ok(())
}

fn check_wa_text(body: &Value) -> Result<(), Refusal> {
    if !body["text"].is_object() {
        return Err(Refusal::missing("text"));
    }
    text_field(
        "text.body",
        &body["text"]["body"],
        1..=WA_TEXT_CHARS,
        Refusal::wa_invalid,
    )
    .map(drop)
}

fn check_interactive(interactive: &Value) -> Result<(), Refusal> {
    if !interactive.is_object() {
        return Err(Refusal::missing("interactive"));
    }
    let (is_list, body_chars) = match interactive["type"].as_str() {
        None => return Err(Refusal::missing("interactive.type")),
        Some("button") => (false, WA_BUTTON_BODY_CHARS),
        Some("list") => (true, WA_TEXT_CHARS),
        Some(other) => {
            return Err(Refusal::wa_invalid(format!(
                "interactive.type \"{other}\" is not one the fake Graph API models: button or list"
            )));
        }
    };
    let header = &interactive["header"];
    if !header.is_null() {
        // Lists take text headers only; buttons may take media, which Rateline never sends.
        if header["type"] != "text" {
            return Err(Refusal::wa_invalid(
                "interactive.header.type must be \"text\"".into(),
            ));
        }
        optional_text(
            "interactive.header.text",
            &header["text"],
            WA_HEADER_FOOTER_CHARS,
        )?;
    }
    optional_text(
        "interactive.footer.text",
        &interactive["footer"]["text"],
        WA_HEADER_FOOTER_CHARS,
    )?;
    text_field(
        "interactive.body.text",
        &interactive["body"]["text"],
        1..=body_chars,
        Refusal::wa_invalid,
    )?;
    let action = &interactive["action"];
    if !action.is_object() {
        return Err(Refusal::missing("interactive.action"));
    }
    if is_list {
        check_list(action)
    } else {
        check_reply_buttons(action)
    }
}

fn check_reply_buttons(action: &Value) -> Result<(), Refusal> {
    let buttons = action["buttons"]
        .as_array()
        .ok_or_else(|| Refusal::missing("interactive.action.buttons"))?;
    if !(1..=WA_MAX_BUTTONS).contains(&buttons.len()) {
        return Err(Refusal::wa_invalid(format!(
            "interactive.action.buttons must hold 1 to {WA_MAX_BUTTONS} buttons, got {}",
            buttons.len()
        )));
    }
    let (mut ids, mut titles) = (HashSet::new(), HashSet::new());
    for (n, button) in buttons.iter().enumerate() {
        let at = format!("interactive.action.buttons[{n}]");
        if button["type"] != "reply" {
            return Err(Refusal::wa_invalid(format!("{at}.type must be \"reply\"")));
        }
        let id = text_field(
            &format!("{at}.reply.id"),
            &button["reply"]["id"],
            1..=WA_BUTTON_ID_CHARS,
            Refusal::wa_invalid,
        )?;
        let title = text_field(
            &format!("{at}.reply.title"),
            &button["reply"]["title"],
            1..=WA_BUTTON_TITLE_CHARS,
            Refusal::wa_invalid,
        )?;
        if !ids.insert(id) {
            return Err(Refusal::wa_invalid(format!(
                "{at}.reply.id \"{id}\" is not unique"
            )));
        }
        if !titles.insert(title) {
            return Err(Refusal::wa_invalid(format!(
                "{at}.reply.title \"{title}\" is not unique"
            )));
        }
    }
    Ok(())
}

fn check_list(action: &Value) -> Result<(), Refusal> {
    text_field(
        "interactive.action.button",
        &action["button"],
        1..=WA_LIST_LABEL_CHARS,
        Refusal::wa_invalid,
    )?;
    let sections = action["sections"]
        .as_array()
        .ok_or_else(|| Refusal::missing("interactive.action.sections"))?;
    if !(1..=WA_MAX_SECTIONS).contains(&sections.len()) {
        return Err(Refusal::wa_invalid(format!(
            "interactive.action.sections must hold 1 to {WA_MAX_SECTIONS} sections, got {}",
            sections.len()
        )));
    }
    let rows: usize = sections
        .iter()
        .filter_map(|s| s["rows"].as_array())
        .map(Vec::len)
        .sum();
    if rows > WA_MAX_ROWS {
        return Err(Refusal::wa_invalid(format!(
            "a list holds at most {WA_MAX_ROWS} rows in all its sections, got {rows}"
        )));
    }
    let mut ids = HashSet::new();
    for (s, section) in sections.iter().enumerate() {
        let at = format!("interactive.action.sections[{s}]");
        // A title is required once there are several sections.
        if sections.len() > 1 || !section["title"].is_null() {
            text_field(
                &format!("{at}.title"),
                &section["title"],
                1..=WA_ROW_TITLE_CHARS,
                Refusal::wa_invalid,
            )?;
        }
        let rows = section["rows"]
            .as_array()
            .ok_or_else(|| Refusal::missing(&format!("{at}.rows")))?;
        if rows.is_empty() {
            return Err(Refusal::wa_invalid(format!("{at}.rows is empty")));
        }
        for (r, row) in rows.iter().enumerate() {
            let at = format!("{at}.rows[{r}]");
            let id = text_field(
                &format!("{at}.id"),
                &row["id"],
                1..=WA_ROW_ID_CHARS,
                Refusal::wa_invalid,
            )?;
            if !ids.insert(id) {
                return Err(Refusal::wa_invalid(format!(
                    "{at}.id \"{id}\" is not unique"
                )));
            }
            text_field(
                &format!("{at}.title"),
                &row["title"],
                1..=WA_ROW_TITLE_CHARS,
                Refusal::wa_invalid,
            )?;
            optional_text(
                &format!("{at}.description"),
                &row["description"],
                WA_ROW_DESCRIPTION_CHARS,
            )?;
        }
    }
    Ok(())
}

/// `value` as a string whose length in characters is within `chars`. Missing, it is refused
/// like any missing parameter; too short or too long, by `invalid`, the channel's way.
fn text_field<'a>(
    field: &str,
    value: &'a Value,
    chars: RangeInclusive<usize>,
    invalid: fn(String) -> Refusal,
) -> Result<&'a str, Refusal> {
    let text = match value {
        Value::Null => return Err(Refusal::missing(field)),
        Value::String(text) => text,
        other => return Err(invalid(format!("{field} must be a string, got {other}"))),
    };
    let n = text.chars().count();
    if !chars.contains(&n) {
        return Err(invalid(format!(
            "{field} must be {} to {} characters long, got {n}",
            chars.start(),
            chars.end()
        )));
    }
    Ok(text)
}

/// A WhatsApp text that may be left out, but not empty or too long.
fn optional_text(field: &str, value: &Value, max_chars: usize) -> Result<(), Refusal> {
    if value.is_null() {
        return Ok(());
    }
    text_field(field, value, 1..=max_chars, Refusal::wa_invalid).map(drop)
}

/// The account a path names, if any: `/{version}/{id}/…`.
fn addressed(path: &str) -> Option<MetaChannel> {
    path.split('/').nth(2).and_then(MetaChannel::of_account)
}

/// The channel of a send to `/{VERSION}/{id}/messages`.
fn route(method: &Method, path: &str) -> Result<MetaChannel, Refusal> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let id = segments.get(1).copied().unwrap_or_default();
    match (segments.as_slice(), MetaChannel::of_account(id)) {
        ([VERSION, _, "messages"], Some(channel)) if method == Method::POST => Ok(channel),
        _ => Err(Refusal::unsupported(method, id)),
    }
}

fn authorize(channel: MetaChannel, headers: &HeaderMap) -> Result<(), Refusal> {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    if token == Some(channel.token()) {
        Ok(())
    } else {
        Err(Refusal::invalid_token())
    }
}

async fn serve(
    State(fake): State<FakeGraphApi>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let body: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let index = {
        let mut s = fake.lock();
        s.calls.push(Recorded {
            call: Call {
                channel: addressed(&path),
                path: path.clone(),
                body: body.clone(),
                status: 0,
                error_code: None,
                error_message: None,
                at: Instant::now(),
            },
            broke_a_rule: false,
        });
        s.calls.len() - 1
    };
    let admitted = route(&method, &path).and_then(|c| authorize(c, &headers).map(|()| c));
    let outcome = match admitted {
        Err(refusal) => Outcome::from(refusal),
        Ok(channel) => {
            let fault = fake
                .lock()
                .faults
                .get_mut(&channel)
                .and_then(VecDeque::pop_front);
            match fault {
                Some(Fault::Hang) => std::future::pending().await,
                Some(Fault::Graph {
                    status,
                    code,
                    subcode,
                    message,
                }) => Outcome::from(Refusal::world(status, code, subcode, &message)),
                None => fake.lock().send(channel, &body),
            }
        }
    };
    {
        let mut s = fake.lock();
        let recorded = &mut s.calls[index];
        recorded.call.status = outcome.status;
        recorded.call.error_code = outcome.error_code;
        recorded.call.error_message = outcome.error_message;
        recorded.broke_a_rule = outcome.broke_a_rule;
    }
    let status =
        StatusCode::from_u16(outcome.status).expect("a fault's status is a valid HTTP status");
    (status, axum::Json(outcome.body)).into_response()
}
