//! Rocket.Chat Omnichannel: its webhook ("CRM integration"), parsed into the facts Rateline
//! acts on, and the REST calls Rateline makes as the "Ratings" user ([`RocketChatApi`]).
//!
//! This module is what the platform sends and takes, unit-tested and fuzzed alone; the
//! channel that acts on it (the hand-over to the Ratings user, the questions in the room,
//! the close) is `src/channels/rocketchat/`.
//!
//! What follows is read from Rocket.Chat's source (RocketChat/Rocket.Chat); each fact names
//! its file.
//!
//! - **One URL for every event.** `Livechat_webhookUrl` receives a JSON `POST`
//!   (`apps/meteor/app/livechat/server/lib/webhooks.ts`, `sendRequest`; the
//!   `Content-Type: application/json` comes from `packages/server-fetch/src/parsers.ts`).
//!   Each "Send request on…" switch (`Livechat_webhook_on_close`, `…_on_forward`,
//!   `…_on_visitor_message`, `…_on_agent_message`, …) is off by default
//!   (`apps/meteor/server/settings/omnichannel.ts`).
//! - **The secret** (`Livechat_secret_token`, empty by default) travels as it is in
//!   `X-RocketChat-Livechat-Token` ([`TOKEN_HEADER`]), only when it is set: no signature,
//!   no timestamp, so the receiver compares it in constant time and nothing more.
//! - **The body** is the room flattened to the top level, not nested
//!   (`apps/meteor/app/livechat/server/lib/guests.ts`, `getLivechatRoomGuestInfo`): `_id`
//!   is the room's id; `visitor` carries the visitor's `_id`, `token`, `username`, `name`,
//!   `email: [{address}]` and `phone: [{phoneNumber}]`; `agent` is whoever serves the room
//!   now; `crmData` is the text this receiver last answered, sent back as a string; `type`
//!   names the event. Dates are ISO 8601 strings (`JSON.stringify`).
//! - **The extra fields per type** (`apps/meteor/app/livechat/server/hooks/sendToCRM.ts`,
//!   `getAdditionalFieldsByType`): `LivechatSessionStart` and `LivechatSessionQueued` add
//!   `departmentId`; `LivechatSessionTaken` adds `servedBy`; `LivechatSessionForwarded`
//!   adds `departmentId`, `servedBy` (the new agent) and either `oldServedBy` (a hand-over to
//!   an agent: the previous `servedBy`, `{_id, username, ts}`) or `oldDepartmentId` (to a
//!   department), never both; the close, `LivechatSession`, adds `servedBy`, `closedAt`,
//!   `closedBy: {_id, username}` and `closer` (`"user"` or `"visitor"`). There is no
//!   `LivechatSessionClosed`.
//! - **Messages** (`sendToCRM.ts`): a `Message` event carries only the one new message;
//!   the other events carry the room's whole visible history, oldest first, with system
//!   messages left out except the closing one (`closingMessage: true`); `LeadCapture`
//!   carries none. A message from anyone but the visitor carries `agentId` (the sender's
//!   user id), a bot's as an agent's: there is no bot flag.
//! - **Delivery** (`webhooks.ts`): only status 200 counts; a 5xx, a 429, a timeout
//!   (`Livechat_http_timeout`, 5,000 ms) or a network error is tried again after four times
//!   the timeout (20 s), five tries in all, held in the server's memory; any other status is
//!   dropped. Calls are not awaited, so they may arrive out of order. The body of the 200 is
//!   kept as the room's `crmData`.
//!
//! - **The REST API** (`apps/meteor/app/api/server/`): every call carries `X-User-Id` and
//!   `X-Auth-Token` (a personal access token); a missing or wrong one is 401. A refusal is
//!   400 `{"success": false, "error": "<code>"}`, a missing permission 403. Each route takes
//!   10 calls a minute unless the user's role holds `api-bypass-rate-limit` (the `bot`
//!   role does); the 11th is 429 with `X-RateLimit-Reset` in epoch milliseconds
//!   (`apps/meteor/app/api/server/api.ts`).
//!
//! The visitor's `token` lets whoever holds it write as the visitor, so it is a secret:
//! [`VisitorToken`]'s `Debug` never shows it. The personal access token goes in a header,
//! never in a URL, so no error carries it.

use std::fmt;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::helpdesk::HOLD_ON_UNAUTHORIZED;
use crate::http::{outcome_for_status, outcome_for_transport_error, retry_after};
use crate::{SendOutcome, clip};

/// The header Rocket.Chat sends `Livechat_secret_token` in, when one is set.
pub const TOKEN_HEADER: &str = "X-RocketChat-Livechat-Token";

/// The largest webhook body read: a room's whole history rides on most events, so this is
/// far above a Telegram update's limit, yet bounded.
pub const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

/// One webhook call, as `sendToCRM` builds it; fields Rateline does not act on are ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Event {
    /// The room's id (`rid`).
    #[serde(rename = "_id")]
    pub room_id: String,
    /// What happened: see [`Event::kind`].
    #[serde(rename = "type")]
    pub type_name: String,
    /// When the room was opened (`createdAt`).
    #[serde(default, rename = "createdAt")]
    pub created_at: Option<DateTime<Utc>>,
    /// The visitor of the room.
    pub visitor: Visitor,
    /// Who serves the room now, when someone does.
    #[serde(default)]
    pub agent: Option<Agent>,
    /// The room's department, when it has one.
    #[serde(default, rename = "departmentId")]
    pub department_id: Option<String>,
    /// Who serves the room (on a hand-over: the new agent).
    #[serde(default, rename = "servedBy")]
    pub served_by: Option<ServedBy>,
    /// A hand-over to an agent: who served the room before.
    #[serde(default, rename = "oldServedBy")]
    pub old_served_by: Option<ServedBy>,
    /// A hand-over to a department: the department before.
    #[serde(default, rename = "oldDepartmentId")]
    pub old_department_id: Option<String>,
    /// When the room was closed (the close only).
    #[serde(default, rename = "closedAt")]
    pub closed_at: Option<DateTime<Utc>>,
    /// Who closed it (the close only).
    #[serde(default, rename = "closedBy")]
    pub closed_by: Option<ClosedBy>,
    /// Whether an agent (`user`) or the visitor closed it (the close only).
    #[serde(default)]
    pub closer: Option<Closer>,
    /// The messages the event carries (see the module's docs), oldest first.
    #[serde(default)]
    pub messages: Vec<Message>,
    /// What this receiver last answered for the room, as Rocket.Chat kept it.
    #[serde(default, rename = "crmData")]
    pub crm_data: Option<String>,
}

/// What a webhook call is about: its `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `LivechatSessionStart`: a room was made.
    Start,
    /// `LivechatSessionQueued`: the room waits in the queue.
    Queued,
    /// `LivechatSessionTaken`: an agent took the room.
    Taken,
    /// `LivechatSessionForwarded`: the room was handed to another agent or department.
    Forwarded,
    /// `LivechatSession`: the room was closed.
    Closed,
    /// `Message`: someone wrote in the room.
    Message,
    /// `LivechatEdit`: a closed room's details were changed.
    Edited,
    /// `LeadCapture`: the visitor's details were captured from a message.
    LeadCapture,
    /// A type this module does not know, from a later release: ignored, not refused.
    Other,
}

impl Event {
    /// What the call is about.
    pub fn kind(&self) -> Kind {
        match self.type_name.as_str() {
            "LivechatSessionStart" => Kind::Start,
            "LivechatSessionQueued" => Kind::Queued,
            "LivechatSessionTaken" => Kind::Taken,
            "LivechatSessionForwarded" => Kind::Forwarded,
            "LivechatSession" => Kind::Closed,
            "Message" => Kind::Message,
            "LivechatEdit" => Kind::Edited,
            "LeadCapture" => Kind::LeadCapture,
            _ => Kind::Other,
        }
    }

    /// Where a hand-over came from: the agent who served the room, or the department it
    /// was in. `None` for any other event, and for a hand-over that names neither.
    pub fn handed_over_from(&self) -> Option<HandedOverFrom<'_>> {
        if self.kind() != Kind::Forwarded {
            return None;
        }
        match (&self.old_served_by, &self.old_department_id) {
            (Some(agent), _) => Some(HandedOverFrom::Agent(agent)),
            (None, Some(department)) => Some(HandedOverFrom::Department(department)),
            (None, None) => None,
        }
    }

    /// The last message an agent wrote, among those the event carries: on a hand-over to a
    /// department, who served the visitor last.
    pub fn last_agent_message(&self) -> Option<&Message> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.agent_id.is_some() && !m.closing)
    }
}

/// Where a hand-over came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandedOverFrom<'a> {
    /// From this agent (`oldServedBy`).
    Agent(&'a ServedBy),
    /// From this department (`oldDepartmentId`).
    Department(&'a str),
}

/// A room's visitor, as the webhook names them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Visitor {
    /// The visitor's id.
    #[serde(rename = "_id")]
    pub id: String,
    /// The visitor's token: it lets its holder write as the visitor.
    pub token: VisitorToken,
    /// The visitor's username (`guest-12`), which their messages carry.
    #[serde(default)]
    pub username: Option<String>,
    /// The visitor's name, when they gave one.
    #[serde(default)]
    pub name: Option<String>,
    /// Their e-mail addresses.
    #[serde(default)]
    pub email: Vec<Email>,
    /// Their phone numbers (an SMS room's visitor has one).
    #[serde(default)]
    pub phone: Vec<Phone>,
}

/// A visitor's token: a credential, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct VisitorToken(String);

impl VisitorToken {
    /// The token, for the one call that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for VisitorToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VisitorToken(..)")
    }
}

/// One of a visitor's e-mail addresses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Email {
    /// The address.
    pub address: String,
}

/// One of a visitor's phone numbers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Phone {
    /// The number, as the SMS gateway gave it.
    #[serde(rename = "phoneNumber")]
    pub number: String,
}

/// The agent serving a room (`agent`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Agent {
    /// The agent's user id.
    #[serde(rename = "_id")]
    pub id: String,
    /// The agent's username.
    #[serde(default)]
    pub username: Option<String>,
    /// The agent's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The agent's first e-mail address.
    #[serde(default)]
    pub email: Option<String>,
}

/// `servedBy` and `oldServedBy`: an agent, and since when.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServedBy {
    /// The agent's user id.
    #[serde(rename = "_id")]
    pub id: String,
    /// The agent's username.
    #[serde(default)]
    pub username: Option<String>,
    /// Since when the agent serves the room: for the new agent of a hand-over, its time.
    #[serde(default)]
    pub ts: Option<DateTime<Utc>>,
}

/// `closedBy`: the agent or the visitor who closed the room.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ClosedBy {
    /// Their id (a user's, or the visitor's).
    #[serde(rename = "_id")]
    pub id: String,
    /// Their username.
    #[serde(default)]
    pub username: Option<String>,
}

/// Who closed a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Closer {
    /// An agent, a manager or an integration's user.
    User,
    /// The visitor, from the widget.
    Visitor,
}

/// A message as the webhook carries it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Message {
    /// The message's id.
    #[serde(rename = "_id")]
    pub id: String,
    /// Its text (a message of UiKit blocks only has them here as JSON).
    #[serde(default)]
    pub msg: Option<String>,
    /// When it was written.
    pub ts: DateTime<Utc>,
    /// The sender's username.
    #[serde(default)]
    pub username: Option<String>,
    /// The sender's user id, on a message from anyone but the visitor (an agent, a bot, an
    /// integration's user).
    #[serde(default, rename = "agentId")]
    pub agent_id: Option<String>,
    /// The message that closed the room, with the closing comment.
    #[serde(default, rename = "closingMessage")]
    pub closing: bool,
}

impl Message {
    /// Whether the visitor wrote it.
    pub fn from_visitor(&self) -> bool {
        self.agent_id.is_none()
    }
}

/// A webhook body read, or why not (naming the field, never the values).
pub fn parse_event(body: &[u8]) -> Result<Event, String> {
    if body.len() > MAX_EVENT_BYTES {
        return Err(format!(
            "the body is {} bytes, more than the {MAX_EVENT_BYTES} read",
            body.len()
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        // serde's message can quote the value it could not read, which may be the token.
        let what = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "is not JSON",
            _ => "is not a Rocket.Chat Omnichannel webhook",
        };
        format!("the body {what} (line {}, column {})", e.line(), e.column())
    })
}

/// One Rocket.Chat server, called as one user with a personal access token.
#[derive(Clone)]
pub struct RocketChatApi {
    base: String,
    server: String,
    user_id: String,
    token: String,
    http: reqwest::Client,
}

/// The user a token belongs to, as `GET /api/v1/me` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    /// The user's id.
    pub id: String,
    /// The user's username.
    pub username: String,
    /// The user's roles (`bot`, `livechat-agent`, `livechat-manager`, …).
    pub roles: Vec<String>,
}

/// A page of rooms, as `GET /api/v1/livechat/rooms` answers.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomPage {
    /// The rooms of this page, as Rocket.Chat lists them.
    pub rooms: Vec<Value>,
    /// How many rooms match in all.
    pub total: u64,
}

/// A room as `rooms.info` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo {
    /// Whether the room is open.
    pub open: bool,
    /// Where its visitor came from.
    pub source: Source,
    /// Its department's id, if it has one.
    pub department: Option<String>,
}

/// A department as `livechat/department/:_id` shows it: what its rule for the close asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    /// Its name, as **Omnichannel → Departments** lists it.
    pub name: String,
    /// "Request tag(s) before closing the conversation" (`requestTagBeforeClosingChat`).
    pub requests_tags: bool,
    /// Its "Conversation closing tags" (`chatClosingTags`), which every close adds.
    pub closing_tags: Vec<String>,
}

impl Department {
    /// Whether a close made through the API can meet the department's rule: tags are asked
    /// for, and the department has none to give (`resolveChatTags` in
    /// `apps/meteor/app/livechat/server/lib/LivechatTyped.ts` refuses every close then).
    pub fn refuses_every_close(&self) -> bool {
        self.requests_tags && self.closing_tags.is_empty()
    }
}

/// The setting that lets a chat be forwarded to a department whose agents are all offline
/// (`forwardRoomToDepartment`, `apps/meteor/app/livechat/server/lib/Helper.ts`).
pub const OFFLINE_FORWARD: &str = "Livechat_allow_forward_inquiry_to_offline_department_agents";

/// The code Rocket.Chat refuses a forward with when the agent is not available.
pub const AGENT_OFFLINE: &str = "error-user-is-offline";

/// The code Rocket.Chat refuses a close with when the department asks for tags.
const TAGS_REQUIRED: &str = "error-tags-must-be-assigned-before-closing-chat";

/// Where a room's visitor came from (`room.source.type`,
/// `packages/core-typings/src/IRoom.ts`, `OmnichannelSourceType`): what an agent's message
/// after the close reaches depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The website widget (`widget`), which drops the room at the close.
    Widget,
    /// An SMS gateway (`sms`), which texts an agent's message even after the close.
    Sms,
    /// E-mail (`email`).
    Email,
    /// A Rocket.Chat App (`app`), such as a WhatsApp connector.
    App,
    /// The Livechat REST API (`api`).
    Api,
    /// Anything else (`other`, or a source this module does not know).
    Other,
}

impl Source {
    /// The source `source.type` names.
    pub fn of(name: &str) -> Self {
        match name {
            "widget" => Source::Widget,
            "sms" => Source::Sms,
            "email" => Source::Email,
            "app" => Source::App,
            "api" => Source::Api,
            _ => Source::Other,
        }
    }
}

/// The webhook switches the channel needs on: each setting, the option that turns it on
/// under "Send Request on" on Rocket.Chat's Omnichannel → Webhooks page
/// (`apps/meteor/client/views/omnichannel/webhooks/WebhooksPage.tsx`), and what it tells
/// Rateline.
pub const NEEDED_SWITCHES: [(&str, &str, &str); 3] = [
    (
        "Livechat_webhook_on_forward",
        "Forwarding",
        "of a chat handed to the Ratings user",
    ),
    (
        "Livechat_webhook_on_visitor_message",
        "Visitor message",
        "of the client's answer",
    ),
    (
        "Livechat_webhook_on_close",
        "Chat close",
        "of a chat closed without the hand-over",
    ),
];

/// The webhook's settings, as `livechat/integrations.settings` lists them.
#[derive(Clone)]
pub struct WebhookSettings {
    /// `Livechat_webhookUrl`: where Rocket.Chat posts; empty posts nothing.
    pub url: String,
    /// `Livechat_secret_token`, compared, never shown.
    secret: String,
    /// Each `Livechat_webhook_on_…` switch and whether it is on.
    pub switches: std::collections::BTreeMap<String, bool>,
}

impl fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("url", &self.url)
            .field("secret", &"..")
            .field("switches", &self.switches)
            .finish()
    }
}

impl WebhookSettings {
    /// What stands between these settings and what the channel needs, each a step for the
    /// Rocket.Chat administrator, in order: the URL Rateline listens on, the secret it
    /// checks (`expected_secret`), and each of [`NEEDED_SWITCHES`]. Empty when nothing does.
    pub fn steps(&self, expected_url: &str, expected_secret: &str) -> Vec<String> {
        // The page's fields, as `WebhooksPage.tsx` labels them (`Webhook_URL`,
        // `Secret_token`, `Send_request_on` in `en.i18n.json`).
        let place = "In Rocket.Chat, Omnichannel → Webhooks";
        let mut steps = Vec::new();
        if self.url.trim() != expected_url {
            let now = match self.url.trim() {
                "" => "empty".to_owned(),
                other => format!("'{}'", clip(other, 200)),
            };
            steps.push(format!(
                "{place}: set Webhook URL to {expected_url} (it is {now})."
            ));
        }
        let same = <subtle::Choice as Into<bool>>::into(subtle::ConstantTimeEq::ct_eq(
            self.secret.as_bytes(),
            expected_secret.as_bytes(),
        ));
        if !same {
            let now = if self.secret.is_empty() {
                "it is empty"
            } else {
                "it differs"
            };
            steps.push(format!(
                "{place}: set Secret Token to the webhook token set for this server in \
                 Rateline ({now})."
            ));
        }
        for (switch, label, what) in NEEDED_SWITCHES {
            if self.switches.get(switch) != Some(&true) {
                steps.push(format!(
                    "{place}: under Send Request on, add {label}, so that Rocket.Chat tells \
                     Rateline {what}."
                ));
            }
        }
        steps
    }
}

/// Rocket.Chat's rate-limit window (`API_Enable_Rate_Limiter_Limit_Time_Default`): how long
/// a limited send waits when the answer names no reset.
const RATE_LIMIT_WINDOW: Duration = Duration::from_secs(60);

/// The rooms a page of [`RocketChatApi::rooms_closed_since`] holds.
pub const ROOMS_PAGE: usize = 50;

impl RocketChatApi {
    /// Server `server` (Rateline's name for it, in messages) at `base`, called as user
    /// `user_id` with `token` over `http`.
    pub fn new(
        base: &str,
        server: &str,
        user_id: &str,
        token: &str,
        http: reqwest::Client,
    ) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            server: server.to_owned(),
            user_id: user_id.to_owned(),
            token: token.to_owned(),
            http,
        }
    }

    fn what(&self) -> String {
        format!("Rocket.Chat server '{}'", self.server)
    }

    fn call(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}/api/v1/{path}", self.base))
            .header("X-User-Id", &self.user_id)
            .header("X-Auth-Token", &self.token)
    }

    /// Who the token belongs to, or what went wrong as a sentence.
    pub async fn me(&self) -> Result<Me, String> {
        let body = self
            .read(self.call(Method::GET, "me"), "GET /api/v1/me")
            .await?;
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
        let (Some(id), Some(username)) = (text("_id"), text("username")) else {
            return Err(format!(
                "{} sent an unreadable answer to GET /api/v1/me",
                self.what()
            ));
        };
        let roles = strings(body.get("roles"));
        Ok(Me {
            id,
            username,
            roles,
        })
    }

    /// Writes `text` in room `room_id` as the token's user (`chat.sendMessage`); accepted
    /// with the message's id.
    pub async fn send_message(&self, room_id: &str, text: &str) -> SendOutcome {
        let body = json!({"message": {"rid": room_id, "msg": text}});
        let sent = self
            .call(Method::POST, "chat.sendMessage")
            .json(&body)
            .send()
            .await;
        self.outcome(sent, room_id).await
    }

    /// Closes room `room_id` with `comment` (`livechat/room.closeByUser`; Rocket.Chat asks
    /// for a comment by default). A room closed already is as asked: accepted. In a
    /// department that asks for tags before the close, the close is made again with the
    /// department's own closing tags, which it would add anyway; one that has none refuses
    /// every close made through the API, which the failure says how to mend.
    pub async fn close_room(&self, room_id: &str, comment: &str) -> SendOutcome {
        match self.close_tagged(room_id, comment, &[]).await {
            SendOutcome::Failed { reason } if reason.contains(TAGS_REQUIRED) => {
                let department = match self.room(room_id).await {
                    Ok(RoomInfo {
                        department: Some(d),
                        ..
                    }) => self.department(&d).await,
                    Ok(_) => return SendOutcome::Failed { reason },
                    Err(e) => Err(e),
                };
                match department {
                    Ok(Some(d)) if !d.refuses_every_close() => {
                        self.close_tagged(room_id, comment, &d.closing_tags).await
                    }
                    Ok(Some(d)) => SendOutcome::Failed {
                        reason: format!("{reason}; {}", tags_fix(&d.name)),
                    },
                    Ok(None) => SendOutcome::Failed { reason },
                    Err(e) => SendOutcome::Retry {
                        after: None,
                        reason: e,
                    },
                }
            }
            other => other,
        }
    }

    async fn close_tagged(&self, room_id: &str, comment: &str, tags: &[String]) -> SendOutcome {
        let mut body = json!({"rid": room_id, "comment": comment});
        if !tags.is_empty() {
            body["tags"] = json!(tags);
        }
        let sent = self
            .call(Method::POST, "livechat/room.closeByUser")
            .json(&body)
            .send()
            .await;
        match self.outcome(sent, room_id).await {
            SendOutcome::Failed { reason } if reason.contains("error-room-already-closed") => {
                SendOutcome::Accepted {
                    platform_message_id: None,
                }
            }
            other => other,
        }
    }

    /// The value of setting `id` (`settings/:_id`), or `None` when the token's user may not
    /// read it: that takes `view-privileged-setting`, an administrator's right.
    pub async fn setting(&self, id: &str) -> Result<Option<Value>, String> {
        let call = self.call(Method::GET, &format!("settings/{}", segment(id)));
        match self.read(call, "GET /api/v1/settings/:_id").await {
            Ok(body) => Ok(Some(body.get("value").cloned().unwrap_or(Value::Null))),
            Err(e) if e.contains("(HTTP 403)") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Department `id` (`livechat/department/:_id`; needs `view-l-room`, which agents
    /// hold), `None` when Rocket.Chat has none by that id, or what went wrong as a sentence.
    pub async fn department(&self, id: &str) -> Result<Option<Department>, String> {
        let path = format!("livechat/department/{}", segment(id));
        let call = "GET /api/v1/livechat/department/:_id";
        let body = self.read(self.call(Method::GET, &path), call).await?;
        let Some(d) = body.get("department").filter(|d| d.is_object()) else {
            return Ok(None);
        };
        Ok(Some(Department {
            name: d
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(id)
                .to_owned(),
            requests_tags: d
                .get("requestTagBeforeClosingChat")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            closing_tags: strings(d.get("chatClosingTags")),
        }))
    }

    /// Hands room `room_id` to agent `user_id` (`livechat/room.forward`): the token's user
    /// needs `transfer-livechat-guest`, and the agent must be available.
    pub async fn forward(&self, room_id: &str, user_id: &str) -> SendOutcome {
        self.forward_as(room_id, json!({"roomId": room_id, "userId": user_id}))
            .await
    }

    /// Hands room `room_id` to department `department_id` (`livechat/room.forward`), whose
    /// routing gives it to an available agent. Without one it is refused
    /// (`error-no-agents-online-in-department`) unless offline agents may take forwarded
    /// chats (`forwardRoomToDepartment`, `apps/meteor/app/livechat/server/lib/Helper.ts`).
    pub async fn forward_to_department(&self, room_id: &str, department_id: &str) -> SendOutcome {
        self.forward_as(
            room_id,
            json!({"roomId": room_id, "departmentId": department_id}),
        )
        .await
    }

    async fn forward_as(&self, room_id: &str, body: Value) -> SendOutcome {
        let sent = self
            .call(Method::POST, "livechat/room.forward")
            .json(&body)
            .send()
            .await;
        self.outcome(sent, room_id).await
    }

    /// The webhook's settings (`livechat/integrations.settings`; needs
    /// `view-livechat-manager`), or what went wrong as a sentence.
    pub async fn webhook_settings(&self) -> Result<WebhookSettings, String> {
        let call = "GET /api/v1/livechat/integrations.settings";
        let body = self
            .read(
                self.call(Method::GET, "livechat/integrations.settings"),
                call,
            )
            .await?;
        let listed = body
            .get("settings")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{} listed no settings for {call}", self.what()))?;
        let value = |id: &str| {
            listed
                .iter()
                .find(|s| s.get("_id").and_then(Value::as_str) == Some(id))
                .and_then(|s| s.get("value"))
        };
        let text = |id: &str| {
            value(id)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let switches = listed
            .iter()
            .filter_map(|s| {
                let id = s.get("_id").and_then(Value::as_str)?;
                id.starts_with("Livechat_webhook_on_")
                    .then(|| (id.to_owned(), s.get("value") == Some(&Value::Bool(true))))
            })
            .collect();
        Ok(WebhookSettings {
            url: text("Livechat_webhookUrl"),
            secret: text("Livechat_secret_token"),
            switches,
        })
    }

    /// Room `room_id` as `rooms.info` shows it: whether it is open, and where its visitor
    /// came from, which the webhook does not say (`getLivechatRoomGuestInfo` copies no
    /// `source`).
    pub async fn room(&self, room_id: &str) -> Result<RoomInfo, String> {
        let request = self
            .call(Method::GET, "rooms.info")
            .query(&[("roomId", room_id)]);
        let body = self.read(request, "GET /api/v1/rooms.info").await?;
        let room = body
            .get("room")
            .ok_or_else(|| format!("{} sent no room to GET /api/v1/rooms.info", self.what()))?;
        Ok(RoomInfo {
            open: room.get("open").and_then(Value::as_bool).unwrap_or(false),
            source: room
                .pointer("/source/type")
                .and_then(Value::as_str)
                .map_or(Source::Other, Source::of),
            department: room
                .get("departmentId")
                .and_then(Value::as_str)
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
        })
    }

    /// A page of the rooms closed since `since`, from `offset` (`livechat/rooms`; needs
    /// `view-livechat-rooms`), or what went wrong as a sentence.
    pub async fn rooms_closed_since(
        &self,
        since: DateTime<Utc>,
        offset: usize,
    ) -> Result<RoomPage, String> {
        let closed_at = json!({"start": since.to_rfc3339()}).to_string();
        let offset = offset.to_string();
        let count = ROOMS_PAGE.to_string();
        let request = self.call(Method::GET, "livechat/rooms").query(&[
            ("open", "false"),
            ("closedAt", closed_at.as_str()),
            ("offset", offset.as_str()),
            ("count", count.as_str()),
            ("sort", r#"{"closedAt":1}"#),
        ]);
        let body = self.read(request, "GET /api/v1/livechat/rooms").await?;
        let rooms = body
            .get("rooms")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| format!("{} listed no rooms", self.what()))?;
        let total = body.get("total").and_then(Value::as_u64).unwrap_or(0);
        Ok(RoomPage { rooms, total })
    }

    /// The open rooms agent `user_id` serves (`livechat/rooms?open=true&agents[]=…`; needs
    /// `view-livechat-rooms`), at most one page: the chats handed to the Ratings user.
    pub async fn rooms_served_by(&self, user_id: &str) -> Result<Vec<Value>, String> {
        let count = ROOMS_PAGE.to_string();
        let request = self.call(Method::GET, "livechat/rooms").query(&[
            ("open", "true"),
            ("agents[]", user_id),
            ("count", count.as_str()),
            ("sort", r#"{"ts":1}"#),
        ]);
        let body = self.read(request, "GET /api/v1/livechat/rooms").await?;
        body.get("rooms")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| format!("{} listed no rooms", self.what()))
    }

    /// A read's JSON answer, or what went wrong as a sentence for `check-config` and the logs.
    async fn read(&self, request: reqwest::RequestBuilder, call: &str) -> Result<Value, String> {
        let what = self.what();
        let r = request.send().await.map_err(|e| {
            outcome_for_transport_error(&e, &what)
                .reason()
                .unwrap_or("the call failed")
                .to_owned()
        })?;
        let status = r.status();
        if status.is_success() {
            return r
                .json()
                .await
                .map_err(|_| format!("{what} sent an unreadable answer to {call}"));
        }
        let said = said(r).await;
        Err(match status {
            StatusCode::UNAUTHORIZED => {
                format!(
                    "{what} refused the personal access token on {call} (HTTP 401){said}; {TOKEN_FIX}"
                )
            }
            StatusCode::FORBIDDEN => {
                format!("{what} refused {call} (HTTP 403){said}; {PERMISSION_FIX}")
            }
            s => format!("{what} answered {call} with HTTP {}{said}", s.as_u16()),
        })
    }

    /// A write's answer as the scheduler knows it: a 429 or a 5xx retried (a 429 when the
    /// route's minute is over), a 401 holds sends back without using an attempt, a room
    /// Rocket.Chat does not have ends it undeliverable, another refusal fails it with
    /// Rocket.Chat's code.
    async fn outcome(
        &self,
        sent: Result<reqwest::Response, reqwest::Error>,
        room_id: &str,
    ) -> SendOutcome {
        let what = self.what();
        let r = match sent {
            Ok(r) => r,
            Err(e) => return outcome_for_transport_error(&e, &what),
        };
        let status = r.status();
        if status.is_success() {
            let id = r.json::<Value>().await.ok().and_then(|b| {
                b.pointer("/message/_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
            return SendOutcome::Accepted {
                platform_message_id: id,
            };
        }
        let headers = r.headers().clone();
        let said = said(r).await;
        match status {
            StatusCode::UNAUTHORIZED => {
                let reason = format!(
                    "{what} refused the personal access token (HTTP 401){said}; {TOKEN_FIX}"
                );
                tracing::error!(%reason, "Rocket.Chat refused its token: sends are held back");
                SendOutcome::Defer {
                    after: HOLD_ON_UNAUTHORIZED,
                    reason,
                }
            }
            StatusCode::FORBIDDEN => SendOutcome::Failed {
                reason: format!("{what} refused the call (HTTP 403){said}; {PERMISSION_FIX}"),
            },
            // Nothing was done, so no attempt is used: the send waits for the route's
            // minute to end. At least a second, so that a reset already past on this
            // server's clock (the two clocks disagree) is no busy loop.
            StatusCode::TOO_MANY_REQUESTS => SendOutcome::Defer {
                after: rate_limit_reset(&headers, SystemTime::now())
                    .unwrap_or(RATE_LIMIT_WINDOW)
                    .max(Duration::from_secs(1)),
                reason: format!(
                    "{what} is rate limiting (HTTP 429); give the Ratings user the bot role, \
                     which Rocket.Chat does not limit"
                ),
            },
            StatusCode::BAD_REQUEST
                if said.contains("error-invalid-room") || said.contains("error-room-not-found") =>
            {
                SendOutcome::Undeliverable {
                    reason: format!("{what} has no room {room_id} (HTTP 400){said}"),
                }
            }
            s if s.is_client_error() && s != StatusCode::REQUEST_TIMEOUT => SendOutcome::Failed {
                reason: format!("{what} refused the call (HTTP {}){said}", s.as_u16()),
            },
            s => outcome_for_status(s, &headers, &what),
        }
    }
}

/// How to fix a refused personal access token.
const TOKEN_FIX: &str = "make a new personal access token for the Ratings user (My Account → \
                         Personal Access Tokens) and set it in Rateline";

/// `id` as one path segment, whatever it holds.
fn segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The texts of a JSON array of texts; none when it is not one.
fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// How to mend a department that asks for tags before the close and has none to give.
pub fn tags_fix(department: &str) -> String {
    format!(
        "department '{department}' asks for tags before a chat is closed and has no closing \
         tags for the Ratings user's close: in Rocket.Chat, Omnichannel → Departments → \
         {department}, add a tag under Conversation closing tags, or turn off Request tag(s) \
         before closing the conversation"
    )
}

/// How to fix a missing permission.
const PERMISSION_FIX: &str = "give the Ratings user the livechat-manager role beside bot and \
                              livechat-agent (Administration → Users)";

/// Rocket.Chat's own code in a refusal's body (`error`), as `": …"`, cut and without control
/// characters; empty when it gave none.
async fn said(r: reqwest::Response) -> String {
    r.json::<Value>()
        .await
        .ok()
        .and_then(|b| b.get("error").and_then(Value::as_str).map(str::to_owned))
        .map(|m| format!(": {}", clip(&m.replace(|c: char| c.is_control(), " "), 200)))
        .unwrap_or_default()
}

/// When a rate-limited route takes calls again: `X-RateLimit-Reset` (epoch milliseconds),
/// else a `Retry-After`; `None` when neither is there.
pub fn rate_limit_reset(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let reset = headers
        .get("x-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match reset {
        Some(ms) => {
            let at = SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
            Some(at.duration_since(now).unwrap_or_default())
        }
        None => retry_after(headers),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-over to the Ratings agent, as `sendToCRM` builds it after
    /// `livechat.afterForwardChatToAgent` (`oldServedBy` is the room's `servedBy` before).
    const FORWARDED_TO_AGENT: &str = r#"{
        "_id": "room-1", "label": "Ada", "createdAt": "2026-11-27T10:00:00.000Z",
        "lastMessageAt": "2026-11-27T10:05:00.000Z",
        "visitor": {"_id": "v-1", "token": "visitor-secret-token", "name": "Ada",
                    "username": "guest-12", "email": [{"address": "ada@example.com"}]},
        "agent": {"_id": "u-ratings", "username": "ratings", "name": "Ratings"},
        "type": "LivechatSessionForwarded",
        "messages": [
            {"u": {"_id": "v-1", "username": "guest-12"}, "_id": "m-1", "username": "guest-12",
             "msg": "my order is late", "ts": "2026-11-27T10:01:00.000Z", "rid": "room-1",
             "_updatedAt": "2026-11-27T10:01:00.000Z"},
            {"u": {"_id": "u-anna", "username": "anna"}, "_id": "m-2", "username": "anna",
             "msg": "it ships today", "ts": "2026-11-27T10:02:00.000Z", "rid": "room-1",
             "agentId": "u-anna", "_updatedAt": "2026-11-27T10:02:00.000Z"}
        ],
        "departmentId": "dep-sales",
        "servedBy": {"_id": "u-ratings", "username": "ratings", "ts": "2026-11-27T10:05:00.000Z"},
        "oldServedBy": {"_id": "u-anna", "username": "anna", "ts": "2026-11-27T10:00:30.000Z"}
    }"#;

    #[test]
    fn a_hand_over_to_an_agent_names_the_agent_before() {
        let e = parse_event(FORWARDED_TO_AGENT.as_bytes()).unwrap();
        assert_eq!(e.kind(), Kind::Forwarded);
        assert_eq!(e.room_id, "room-1");
        assert_eq!(e.department_id.as_deref(), Some("dep-sales"));
        assert_eq!(
            e.served_by.as_ref().map(|s| s.id.as_str()),
            Some("u-ratings")
        );
        let Some(HandedOverFrom::Agent(before)) = e.handed_over_from() else {
            panic!("a hand-over from an agent: {:?}", e.handed_over_from());
        };
        assert_eq!(before.id, "u-anna");
        assert_eq!(before.username.as_deref(), Some("anna"));
        assert!(e.messages[0].from_visitor());
        assert!(!e.messages[1].from_visitor());
        assert_eq!(e.visitor.email[0].address, "ada@example.com");
    }

    #[test]
    fn a_hand_over_to_a_department_names_the_department_and_the_last_agent_who_wrote() {
        let body = FORWARDED_TO_AGENT.replace(
            r#""oldServedBy": {"_id": "u-anna", "username": "anna", "ts": "2026-11-27T10:00:30.000Z"}"#,
            r#""oldDepartmentId": "dep-support""#,
        );
        let e = parse_event(body.as_bytes()).unwrap();
        assert_eq!(
            e.handed_over_from(),
            Some(HandedOverFrom::Department("dep-support"))
        );
        assert_eq!(
            e.last_agent_message().and_then(|m| m.agent_id.as_deref()),
            Some("u-anna")
        );
    }

    #[test]
    fn a_close_says_who_closed_and_when() {
        // `LivechatSession` after `livechat.closeRoom`: the history ends with the closing
        // message, which carries the comment (`lib/closeRoom.ts`, `doCloseRoom`).
        let body = r#"{
            "_id": "room-2", "type": "LivechatSession",
            "visitor": {"_id": "v-2", "token": "t-2", "username": "guest-13",
                        "phone": [{"phoneNumber": "+250788123456"}]},
            "messages": [
                {"_id": "m-1", "username": "guest-13", "msg": "hi", "ts": "2026-11-27T10:01:00.000Z"},
                {"_id": "m-2", "username": "anna", "msg": "Solved", "ts": "2026-11-27T10:09:00.000Z",
                 "agentId": "u-anna", "closingMessage": true}
            ],
            "departmentId": null,
            "servedBy": {"_id": "u-anna", "username": "anna", "ts": "2026-11-27T10:00:30.000Z"},
            "closedAt": "2026-11-27T10:09:00.000Z",
            "closedBy": {"_id": "u-anna", "username": "anna"},
            "closer": "user",
            "crmData": "{\"kept\":true}"
        }"#;
        let e = parse_event(body.as_bytes()).unwrap();
        assert_eq!(e.kind(), Kind::Closed);
        assert_eq!(e.closer, Some(Closer::User));
        assert_eq!(e.closed_by.as_ref().map(|c| c.id.as_str()), Some("u-anna"));
        assert_eq!(e.closed_at.map(|t| t.timestamp()), Some(1_795_774_140));
        assert_eq!(e.department_id, None);
        assert_eq!(e.handed_over_from(), None);
        assert!(e.messages[1].closing);
        // The closing message is not what the agent last wrote to the visitor.
        assert!(e.last_agent_message().is_none());
        assert_eq!(e.visitor.phone[0].number, "+250788123456");
        assert_eq!(e.crm_data.as_deref(), Some(r#"{"kept":true}"#));
    }

    #[test]
    fn a_message_event_carries_the_one_message() {
        let body = r#"{"_id": "room-1", "type": "Message",
            "visitor": {"_id": "v-1", "token": "t", "username": "guest-12"},
            "messages": [{"_id": "m-9", "username": "guest-12", "msg": "4",
                          "ts": "2026-11-27T10:11:00.000Z", "rid": "room-1"}]}"#;
        let e = parse_event(body.as_bytes()).unwrap();
        assert_eq!(e.kind(), Kind::Message);
        assert_eq!(e.messages.len(), 1);
        assert_eq!(e.messages[0].msg.as_deref(), Some("4"));
        assert!(e.messages[0].from_visitor());
    }

    #[test]
    fn every_type_rocket_chat_sends_is_known_and_a_later_one_is_other() {
        for (name, kind) in [
            ("LivechatSessionStart", Kind::Start),
            ("LivechatSessionQueued", Kind::Queued),
            ("LivechatSessionTaken", Kind::Taken),
            ("LivechatSessionForwarded", Kind::Forwarded),
            ("LivechatSession", Kind::Closed),
            ("Message", Kind::Message),
            ("LivechatEdit", Kind::Edited),
            ("LeadCapture", Kind::LeadCapture),
            ("LivechatSessionClosed", Kind::Other),
        ] {
            let body = format!(
                r#"{{"_id": "r", "type": "{name}", "visitor": {{"_id": "v", "token": "t"}}}}"#
            );
            assert_eq!(parse_event(body.as_bytes()).unwrap().kind(), kind, "{name}");
        }
    }

    #[test]
    fn the_visitor_token_is_never_shown() {
        let e = parse_event(FORWARDED_TO_AGENT.as_bytes()).unwrap();
        assert_eq!(e.visitor.token.expose(), "visitor-secret-token");
        assert!(!format!("{e:?}").contains("visitor-secret-token"));
        // Nor by a refusal: a token where a room id belongs is not quoted back.
        let wrong = r#"{"_id": ["visitor-secret-token"], "type": "Message",
                        "visitor": {"_id": "v", "token": "t"}}"#;
        let refused = parse_event(wrong.as_bytes()).unwrap_err();
        assert!(!refused.contains("visitor-secret-token"), "{refused}");
        assert!(
            refused.contains("not a Rocket.Chat Omnichannel webhook"),
            "{refused}"
        );
    }

    #[test]
    fn what_is_not_a_webhook_is_refused_saying_so() {
        assert!(parse_event(b"{").unwrap_err().contains("is not JSON"));
        assert!(
            parse_event(br#"{"type": "Message"}"#)
                .unwrap_err()
                .contains("not a Rocket.Chat Omnichannel webhook")
        );
        let huge = vec![b' '; MAX_EVENT_BYTES + 1];
        assert!(parse_event(&huge).unwrap_err().contains("more than"));
    }

    #[test]
    fn a_rate_limit_waits_until_the_reset_rocket_chat_names() {
        let mut headers = HeaderMap::new();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        headers.insert("x-ratelimit-reset", "1042500".parse().unwrap());
        assert_eq!(
            rate_limit_reset(&headers, now),
            Some(Duration::from_millis(42_500))
        );
        // A reset already past: at once.
        headers.insert("x-ratelimit-reset", "999000".parse().unwrap());
        assert_eq!(rate_limit_reset(&headers, now), Some(Duration::ZERO));
        // Without it, a Retry-After; without both, the engine's backoff.
        let mut other = HeaderMap::new();
        assert_eq!(rate_limit_reset(&other, now), None);
        other.insert("retry-after", "7".parse().unwrap());
        assert_eq!(rate_limit_reset(&other, now), Some(Duration::from_secs(7)));
    }
}
