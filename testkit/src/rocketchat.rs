//! A local Rocket.Chat for the Rocket.Chat Omnichannel channel's tests: the part of its
//! REST API an integration calls, and the Omnichannel webhook it posts.
//!
//! A real Rocket.Chat needs Meteor and MongoDB, too much for CI. This fake serves on
//! `127.0.0.1:0`, built from Rocket.Chat's source (RocketChat/Rocket.Chat; each behaviour
//! names its file):
//!
//! - `GET /api/v1/me` (the caller, with `roles`);
//! - `POST /api/v1/chat.sendMessage` `{message: {rid, msg}}`: an agent's message. No check
//!   that the room is open exists (`apps/meteor/app/lib/server/methods/sendMessage.ts`), so a
//!   closed room takes it: an SMS room's visitor is texted it, while the website widget has
//!   dropped the room at the close and shows nothing (`packages/livechat/src/lib/room.ts`),
//!   which [`FakeRocketChat::shown_to_visitor`] tells. A user who neither serves the room
//!   nor holds `view-livechat-rooms` is refused `error-not-allowed`;
//! - `POST /api/v1/livechat/room.closeByUser` `{rid, comment, tags}`: a comment is required
//!   while `Livechat_request_comment_when_closing_conversation` is on, its default
//!   (`error-comment-is-required`); a closed room is `error-room-already-closed`; a user
//!   who does not serve the room needs `close-others-livechat-room`
//!   (`apps/meteor/app/livechat/imports/server/rest/rooms.ts`, `lib/closeRoom.ts`). The
//!   REST close is a `clientAction`, so in a department that asks for tags before the close
//!   (`requestTagBeforeClosingChat`) it needs tags of its own, and the department closing
//!   tags to add, or it is `error-tags-must-be-assigned-before-closing-chat`; the room keeps
//!   its tags and the department's (`apps/meteor/app/livechat/server/lib/LivechatTyped.ts`,
//!   `resolveChatTags`);
//! - `GET /api/v1/livechat/department/:_id`, for holders of `view-livechat-departments` or
//!   `view-l-room`: `{department}`, `null` for an id it does not have
//!   (`apps/meteor/app/livechat/imports/server/rest/departments.ts`);
//! - `POST /api/v1/livechat/room.forward` `{roomId, userId | departmentId, comment}`: needs
//!   `transfer-livechat-guest`, which the `livechat-agent` and `bot` roles lack by default
//!   (403); a closed room is `This_conversation_is_already_closed`; an agent who is not
//!   available is `error-user-is-offline` (a bot need only be available); the room's own
//!   agent is `error-selected-agent-room-agent-are-same`. To a department without an
//!   available agent it is `error-no-agents-online-in-department`, unless
//!   `Livechat_allow_forward_inquiry_to_offline_department_agents` is on (off by default);
//!   with one, Auto_Selection gives it the chat
//!   (`apps/meteor/app/livechat/server/api/v1/room.ts`, `lib/Helper.ts`,
//!   `forwardRoomToAgent`, `forwardRoomToDepartment`);
//! - `GET /api/v1/livechat/rooms?open=…&closedAt={"start":…}`, for holders of
//!   `view-livechat-rooms` (managers, monitors and admins): `{rooms, count, offset, total}`
//!   (`apps/meteor/app/livechat/imports/server/rest/rooms.ts`);
//! - `GET /api/v1/rooms.info?roomId=…`;
//! - `GET /api/v1/settings/:_id`, for holders of `view-privileged-setting` (admins only):
//!   `{_id, value}` (developer.rocket.chat, "Get Setting");
//! - `GET /api/v1/livechat/integrations.settings`, for holders of `view-livechat-manager`:
//!   the webhook's URL, secret, timeout and switches, whole
//!   (`apps/meteor/app/livechat/server/api/lib/integrations.ts`);
//!
//! each behind `X-User-Id` and `X-Auth-Token` (a personal access token; anything else is 401
//! `You must be logged in to do this.`, `apps/meteor/app/api/server/router.ts`). Refusals are
//! 400 `{"success": false, "error": "<code>"}`, a missing permission 403 `… [error-unauthorized]`.
//!
//! **The rate limit** (`apps/meteor/app/api/server/api.ts`): each route takes 10 calls a
//! minute per client address (`API_Enable_Rate_Limiter_Limit_Calls_Default`,
//! `…_Time_Default`: 60,000 ms); the 11th is 429 with `X-RateLimit-Limit`, `-Remaining` and
//! `-Reset` (epoch ms) and `… [error-too-many-requests]`. Holders of
//! `api-bypass-rate-limit` (the `admin`, `bot` and `app` roles) are not counted. Every
//! call here comes from 127.0.0.1, so the count is per route.
//!
//! **The webhook** (`apps/meteor/app/livechat/server/hooks/sendToCRM.ts`,
//! `lib/webhooks.ts`): the agents, visitors and bots are played by tests
//! ([`FakeRocketChat::open_widget`], [`FakeRocketChat::visitor_writes`],
//! [`FakeRocketChat::agent_takes`], [`FakeRocketChat::agent_writes`],
//! [`FakeRocketChat::agent_forwards`], [`FakeRocketChat::agent_closes`]), and what they do
//! becomes the events Rocket.Chat would post, in the shape
//! `rateline_adapters::rocketchat` documents, each only where its switch is on: every
//! switch is off by default, and so is `Livechat_webhookUrl` (empty: nothing is sent)
//! ([`FakeRocketChat::set_setting`]). [`FakeRocketChat::deliver`] posts what is waiting, in
//! order, as `sendRequest` does: a JSON `POST`, `X-RocketChat-Livechat-Token` only when
//! the secret is set, within `Livechat_http_timeout` (5,000 ms). Only a 200 counts, and its
//! body becomes the room's `crmData`, sent back in later events; a 5xx, a 429 or no answer
//! is tried again after four times the timeout on the fake's clock, five tries in all; any
//! other status drops the event. The retries live in memory: [`FakeRocketChat::restart`]
//! loses them, as a restart of Rocket.Chat does. Calls are not awaited there, so a test
//! that wants them out of order takes them ([`FakeRocketChat::take_pending`]) and posts
//! them as it likes.
//!
//! **A closed room stays closed** (`apps/meteor/app/livechat/server/lib/rooms.ts`): the
//! visitor's next message opens a new room with a new inquiry in the queue.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

pub use crate::scaffold::{Call, Fault};
use crate::scaffold::{Clock, Fake, Helpdesk, Log, Platform};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Value, json};

/// The administrator (`admin` role): bypasses the rate limit, holds every permission.
pub const ADMIN: &str = "u-admin";
/// Anna, an agent (`livechat-agent`), available.
pub const ANNA: &str = "u-anna";
/// Boris, an agent (`livechat-agent`), offline.
pub const BORIS: &str = "u-boris";
/// The "Ratings" user Rateline drives: `bot` and `livechat-agent`, available.
pub const RATINGS: &str = "u-ratings";

/// The department every room starts in.
pub const SUPPORT: &str = "dep-support";
/// A second department.
pub const SALES: &str = "dep-sales";

/// Where `settings/:_id` is served.
const SETTING_PATH: &str = "/api/v1/settings/";

/// Where `livechat/department/:_id` is served.
const DEPARTMENT_PATH: &str = "/api/v1/livechat/department/";

/// What Rocket.Chat answers a user who is not signed in (`apps/meteor/app/api/server/router.ts`).
const NOT_LOGGED_IN: &str = "You must be logged in to do this.";

/// The calls a route takes a minute from one address (`API_Enable_Rate_Limiter_Limit_Calls_Default`).
const RATE_LIMIT_CALLS: usize = 10;

/// The five tries `sendToCRM` gives an event (`sendRequest(responseData, 5, cb)`).
const WEBHOOK_TRIES: u32 = 5;

/// The settings `livechat/integrations.settings` lists (`findIntegrationSettings`).
const INTEGRATION_SETTINGS: [&str; 11] = [
    "Livechat_webhookUrl",
    "Livechat_secret_token",
    "Livechat_http_timeout",
    "Livechat_webhook_on_start",
    "Livechat_webhook_on_close",
    "Livechat_webhook_on_chat_taken",
    "Livechat_webhook_on_chat_queued",
    "Livechat_webhook_on_forward",
    "Livechat_webhook_on_offline_msg",
    "Livechat_webhook_on_visitor_message",
    "Livechat_webhook_on_agent_message",
];

/// A user of the fake: id, username, name, roles, and whether they are available for chats.
struct User {
    id: &'static str,
    username: &'static str,
    name: &'static str,
    token: String,
    roles: Vec<String>,
    available: bool,
}

fn users() -> Vec<User> {
    let user = |id, username, name, roles: &[&str], available| User {
        id,
        username,
        name,
        token: format!("token-of-{username}"),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        available,
    };
    vec![
        user(ADMIN, "admin", "Admin", &["admin", "user"], true),
        user(
            ANNA,
            "anna",
            "Anna Agent",
            &["livechat-agent", "user"],
            true,
        ),
        user(
            BORIS,
            "boris",
            "Boris Agent",
            &["livechat-agent", "user"],
            false,
        ),
        user(
            RATINGS,
            "ratings",
            "Ratings",
            &["bot", "livechat-agent", "user"],
            true,
        ),
    ]
}

/// The roles holding each permission the fake checks, by default
/// (`apps/meteor/app/authorization/server/constant/permissions.ts`).
fn roles_holding(permission: &str) -> &'static [&'static str] {
    match permission {
        "transfer-livechat-guest" => &["livechat-manager", "livechat-monitor", "admin"],
        "view-livechat-rooms" => &["livechat-manager", "livechat-monitor", "admin"],
        "view-livechat-manager" => &["livechat-manager", "livechat-monitor", "admin"],
        "close-others-livechat-room" => &["livechat-manager", "livechat-monitor", "admin"],
        "view-livechat-departments" => &["livechat-manager", "livechat-monitor", "admin"],
        "view-l-room" => &[
            "livechat-agent",
            "livechat-manager",
            "livechat-monitor",
            "admin",
        ],
        "api-bypass-rate-limit" => &["admin", "bot", "app"],
        _ => &["admin"],
    }
}

/// Where a room's visitor came from (`room.source.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The website widget.
    Widget,
    /// An SMS gateway: agents' messages are texted to the visitor's number.
    Sms,
}

/// A room, as a test names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRef {
    /// The room's id.
    pub id: String,
    /// Its visitor's token (a credential in the real thing).
    pub visitor_token: String,
}

struct Visitor {
    id: String,
    token: String,
    username: String,
    name: String,
    phone: Option<String>,
}

struct Msg {
    id: String,
    from: String,
    username: String,
    text: String,
    ts: DateTime<Utc>,
    /// A message from anyone but the visitor.
    agent: bool,
    closing: bool,
}

/// A department: its name, its agents, whether it asks for tags before the close, and the
/// tags it adds at the close (**Omnichannel → Departments**).
struct Department {
    id: &'static str,
    name: &'static str,
    agents: Vec<&'static str>,
    request_tags: bool,
    closing_tags: Vec<String>,
}

struct Room {
    id: String,
    /// The tags given at the close, with the department's.
    tags: Vec<String>,
    visitor: usize,
    source: Source,
    open: bool,
    department: Option<String>,
    served_by: Option<(&'static str, DateTime<Utc>)>,
    created_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    closed_by: Option<(String, String)>,
    closer: Option<&'static str>,
    messages: Vec<Msg>,
    crm_data: Option<String>,
}

/// An event waiting to be posted: its body, its room, and the tries left.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The body, as `sendRequest` sends it.
    pub body: Value,
    room: String,
    tries_left: u32,
    due: DateTime<Utc>,
}

impl Pending {
    /// The event's `type`.
    pub fn kind(&self) -> &str {
        self.body["type"].as_str().unwrap_or_default()
    }
}

/// The fake's records.
pub struct RocketChat {
    clock: Clock,
    log: Log,
    users: Vec<User>,
    settings: BTreeMap<&'static str, Value>,
    visitors: Vec<Visitor>,
    departments: Vec<Department>,
    rooms: Vec<Room>,
    next: u64,
    pending: VecDeque<Pending>,
    /// Every try to post an event: its type and the status (0: no answer in time).
    tries: Vec<(String, u16)>,
    rate: HashMap<String, VecDeque<DateTime<Utc>>>,
}

impl Default for RocketChat {
    fn default() -> Self {
        // `apps/meteor/server/settings/omnichannel.ts`: the CRM integration's defaults.
        let settings = BTreeMap::from([
            ("Livechat_webhookUrl", json!("")),
            ("Livechat_secret_token", json!("")),
            ("Livechat_http_timeout", json!(5000)),
            ("Livechat_webhook_on_start", json!(false)),
            ("Livechat_webhook_on_chat_taken", json!(false)),
            ("Livechat_webhook_on_forward", json!(false)),
            ("Livechat_webhook_on_close", json!(false)),
            ("Livechat_webhook_on_visitor_message", json!(false)),
            ("Livechat_webhook_on_agent_message", json!(false)),
            (
                "Livechat_request_comment_when_closing_conversation",
                json!(true),
            ),
            (
                "Livechat_allow_forward_inquiry_to_offline_department_agents",
                json!(false),
            ),
        ]);
        RocketChat {
            clock: Clock::default(),
            log: Log::default(),
            users: users(),
            settings,
            visitors: Vec::new(),
            // A new department asks for no tags (`requestTagBeforeClosingChat` unset).
            departments: [
                (SUPPORT, "Support", vec![ANNA, BORIS]),
                (SALES, "Sales", vec![]),
            ]
            .into_iter()
            .map(|(id, name, agents)| Department {
                id,
                name,
                agents,
                request_tags: false,
                closing_tags: Vec::new(),
            })
            .collect(),
            rooms: Vec::new(),
            next: 0,
            pending: VecDeque::new(),
            tries: Vec::new(),
            rate: HashMap::new(),
        }
    }
}

impl Platform for RocketChat {
    fn clock(&mut self) -> &mut Clock {
        &mut self.clock
    }
}

/// Rocket.Chat answers a [`Fault`] as its rate limiter (429 `… [error-too-many-requests]`),
/// an unhandled error (500 `{"success": false, "error": "Internal server error"}`) or a
/// token revoked since the call before (401 `You must be logged in to do this.`).
///
/// [`FakeRocketChat::rule_violations`] lists a body Rocket.Chat refuses for its shape
/// (`invalid-params`) and a close without the comment the default asks for. Refusals
/// that only reflect the world (a token, a permission, a room, an agent offline, the rate
/// limit, an injected fault) are not listed.
impl Helpdesk for RocketChat {
    const NAME: &'static str = "Rocket.Chat";

    fn log(&mut self) -> &mut Log {
        &mut self.log
    }
}

/// The fake's handle.
pub type FakeRocketChat = Fake<RocketChat>;

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

struct Answer {
    status: u16,
    body: Value,
    headers: Vec<(&'static str, String)>,
    broke: Option<String>,
}

impl Answer {
    fn ok(mut body: Value) -> Self {
        body["success"] = json!(true);
        Answer {
            status: 200,
            body,
            headers: Vec::new(),
            broke: None,
        }
    }

    /// `API.v1.failure`: 400 `{"success": false, "error": code}`.
    fn failure(code: &str) -> Self {
        Answer {
            status: 400,
            body: json!({"success": false, "error": code}),
            headers: Vec::new(),
            broke: None,
        }
    }

    /// A body Rocket.Chat refuses for its shape: 400 `invalid-params`, and a violation.
    fn invalid(what: &str) -> Self {
        Answer {
            broke: Some(what.to_owned()),
            body: json!({"success": false, "error": format!("{what} [invalid-params]"), "errorType": "invalid-params"}),
            ..Answer::failure("invalid-params")
        }
    }

    fn unauthorized() -> Self {
        Answer {
            status: 401,
            body: json!({"success": false, "status": "error", "error": NOT_LOGGED_IN, "message": NOT_LOGGED_IN}),
            headers: Vec::new(),
            broke: None,
        }
    }

    fn forbidden() -> Self {
        Answer {
            status: 403,
            body: json!({"success": false, "error": "User does not have the permissions required for this action [error-unauthorized]"}),
            headers: Vec::new(),
            broke: None,
        }
    }
}

impl RocketChat {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}-{}", self.next)
    }

    fn user(&self, id: &str) -> &User {
        self.users
            .iter()
            .find(|u| u.id == id)
            .unwrap_or_else(|| panic!("the fake has no user {id}"))
    }

    fn holds(&self, user: &str, permission: &str) -> bool {
        let roles = &self.user(user).roles;
        roles_holding(permission)
            .iter()
            .any(|r| roles.iter().any(|have| have == r))
    }

    fn on(&self, setting: &str) -> bool {
        self.settings.get(setting) == Some(&json!(true))
    }

    fn room(&self, id: &str) -> Option<usize> {
        self.rooms.iter().position(|r| r.id == id)
    }

    fn new_room(&mut self, visitor: usize, source: Source) -> String {
        let id = self.id("room");
        let now = self.now();
        self.rooms.push(Room {
            id: id.clone(),
            tags: Vec::new(),
            visitor,
            source,
            open: true,
            department: Some(SUPPORT.to_owned()),
            served_by: None,
            created_at: now,
            closed_at: None,
            closed_by: None,
            closer: None,
            messages: Vec::new(),
            crm_data: None,
        });
        if self.on("Livechat_webhook_on_start") {
            self.queue(&id, "LivechatSessionStart", Extra::None, true);
        }
        id
    }

    fn room_ref(&self, room: usize) -> RoomRef {
        let r = &self.rooms[room];
        RoomRef {
            id: r.id.clone(),
            visitor_token: self.visitors[r.visitor].token.clone(),
        }
    }

    /// `lib/guests.ts`, `getLivechatRoomGuestInfo`, with `sendToCRM`'s `type`, messages and
    /// extra fields (`getAdditionalFieldsByType`).
    fn event(&self, room: usize, kind: &str, extra: &Extra, history: bool) -> Value {
        let r = &self.rooms[room];
        let v = &self.visitors[r.visitor];
        let mut visitor =
            json!({"_id": v.id, "token": v.token, "name": v.name, "username": v.username});
        if let Some(phone) = &v.phone {
            visitor["phone"] = json!([{"phoneNumber": phone}]);
        }
        let mut body = json!({
            "_id": r.id,
            "label": v.name,
            "createdAt": iso(r.created_at),
            "lastMessageAt": r.messages.last().map(|m| iso(m.ts)),
            "visitor": visitor,
            "type": kind,
            "messages": [],
        });
        if let Some((agent, _)) = r.served_by {
            let a = self.user(agent);
            body["agent"] = json!({"_id": a.id, "username": a.username, "name": a.name});
        }
        if let Some(crm) = r.crm_data.as_ref().filter(|c| !c.is_empty()) {
            body["crmData"] = json!(crm);
        }
        let messages: Vec<&Msg> = match extra {
            Extra::Message(i) => vec![&r.messages[*i]],
            _ if history => r.messages.iter().collect(),
            _ => Vec::new(),
        };
        body["messages"] = messages
            .into_iter()
            .map(|m| {
                let mut item = json!({
                    "u": {"_id": m.from, "username": m.username},
                    "_id": m.id, "username": m.username, "msg": m.text,
                    "ts": iso(m.ts), "rid": r.id, "_updatedAt": iso(m.ts),
                });
                if m.agent {
                    item["agentId"] = json!(m.from);
                }
                if m.closing {
                    item["closingMessage"] = json!(true);
                }
                item
            })
            .collect();
        let served_by = r.served_by.map(|(agent, ts)| {
            json!({"_id": agent, "username": self.user(agent).username, "ts": iso(ts)})
        });
        match kind {
            "LivechatSessionStart" | "LivechatSessionQueued" => {
                body["departmentId"] = json!(r.department);
            }
            "LivechatSessionTaken" => body["servedBy"] = json!(served_by),
            "LivechatSessionForwarded" => {
                body["departmentId"] = json!(r.department);
                body["servedBy"] = json!(served_by);
                match extra {
                    Extra::FromAgent(old) => body["oldServedBy"] = old.clone(),
                    Extra::FromDepartment(old) => body["oldDepartmentId"] = json!(old),
                    _ => {}
                }
            }
            "LivechatSession" => {
                body["departmentId"] = json!(r.department);
                body["servedBy"] = json!(served_by);
                body["closedAt"] = json!(r.closed_at.map(iso));
                body["closedBy"] = json!(
                    r.closed_by
                        .as_ref()
                        .map(|(id, username)| json!({"_id": id, "username": username}))
                );
                body["closer"] = json!(r.closer);
            }
            _ => {}
        }
        body
    }

    /// Queues an event for `room`, unless no URL is set (`sendToCRM`: "if
    /// (!settings.get('Livechat_webhookUrl')) return room").
    fn queue(&mut self, room_id: &str, kind: &str, extra: Extra, history: bool) {
        if self.settings["Livechat_webhookUrl"] == json!("") {
            return;
        }
        let room = self.room(room_id).expect("a room of the fake");
        let body = self.event(room, kind, &extra, history);
        let due = self.now();
        self.pending.push_back(Pending {
            body,
            room: room_id.to_owned(),
            tries_left: WEBHOOK_TRIES,
            due,
        });
    }

    /// A message saved in an omnichannel room, from agent `from` or (`agent` false) the
    /// room's visitor: `afterOmnichannelSaveMessage` in `sendToCRM.ts` posts it where its
    /// switch (the visitor's or the agents') is on.
    fn save_message(&mut self, room: usize, from: &str, text: &str, agent: bool) {
        let id = self.id("msg");
        let now = self.now();
        // A visitor's message is sent as the visitor: `u` is their id and username.
        let visitor = &self.visitors[self.rooms[room].visitor];
        let (from, username) = if agent {
            (from.to_owned(), self.user(from).username.to_owned())
        } else {
            (visitor.id.clone(), visitor.username.clone())
        };
        let r = &mut self.rooms[room];
        r.messages.push(Msg {
            id,
            from,
            username,
            text: text.to_owned(),
            ts: now,
            agent,
            closing: false,
        });
        let index = r.messages.len() - 1;
        let room_id = r.id.clone();
        let switch = if agent {
            "Livechat_webhook_on_agent_message"
        } else {
            "Livechat_webhook_on_visitor_message"
        };
        if self.on(switch) {
            self.queue(&room_id, "Message", Extra::Message(index), false);
        }
    }

    /// `lib/closeRoom.ts`: closed by agent `by`, or (`None`) by the room's visitor from the
    /// widget's menu (`closer: 'visitor'`, `closedBy` the visitor).
    fn close(&mut self, room: usize, by: Option<&str>, comment: &str) {
        let now = self.now();
        let id = self.id("msg");
        let (by_id, username, closer) = match by {
            Some(agent) => {
                let user = self.user(agent);
                (user.id.to_owned(), user.username.to_owned(), "user")
            }
            None => {
                let v = &self.visitors[self.rooms[room].visitor];
                (v.id.clone(), v.username.clone(), "visitor")
            }
        };
        let r = &mut self.rooms[room];
        r.open = false;
        r.closed_at = Some(now);
        r.closed_by = Some((by_id.clone(), username.clone()));
        r.closer = Some(closer);
        // `lib/closeRoom.ts`: the comment is the closing system message (`livechat-close`),
        // which only the close's history carries.
        r.messages.push(Msg {
            id,
            from: by_id,
            username,
            text: comment.to_owned(),
            ts: now,
            agent: true,
            closing: true,
        });
        let room_id = r.id.clone();
        if self.on("Livechat_webhook_on_close") {
            self.queue(&room_id, "LivechatSession", Extra::None, true);
        }
    }

    /// `forwardRoomToAgent`: the checks, then `livechat.afterForwardChatToAgent`.
    fn forward_to_agent(&mut self, room: usize, to: &str) -> Result<(), &'static str> {
        let Some(target) = self.users.iter().find(|u| u.id == to) else {
            return Err("error-invalid-agent");
        };
        let is_agent = target.roles.iter().any(|r| r == "livechat-agent");
        if !is_agent || !target.available {
            return Err("error-user-is-offline");
        }
        let target_id = target.id;
        let r = &self.rooms[room];
        if r.served_by.map(|(a, _)| a) == Some(target_id) {
            return Err("error-selected-agent-room-agent-are-same");
        }
        let old = r.served_by.map(|(agent, ts)| {
            json!({"_id": agent, "username": self.user(agent).username, "ts": iso(ts)})
        });
        let now = self.now();
        let r = &mut self.rooms[room];
        r.served_by = Some((target_id, now));
        let room_id = r.id.clone();
        if self.on("Livechat_webhook_on_chat_taken") {
            self.queue(&room_id, "LivechatSessionTaken", Extra::None, true);
        }
        if self.on("Livechat_webhook_on_forward") {
            let extra = old.map_or(Extra::None, Extra::FromAgent);
            self.queue(&room_id, "LivechatSessionForwarded", extra, true);
        }
        Ok(())
    }

    fn limited(&mut self, route: &str, user: &str) -> Option<Answer> {
        if self.holds(user, "api-bypass-rate-limit") {
            return None;
        }
        let now = self.now();
        let window = self.rate.entry(route.to_owned()).or_default();
        while window
            .front()
            .is_some_and(|t| now - *t >= TimeDelta::seconds(60))
        {
            window.pop_front();
        }
        let reset = window
            .front()
            .map_or(now, |t| *t + TimeDelta::seconds(60))
            .timestamp_millis();
        if window.len() >= RATE_LIMIT_CALLS {
            let wait = (reset - now.timestamp_millis()).div_euclid(1000).max(1);
            return Some(Answer {
                status: 429,
                body: json!({"success": false, "error": format!("Error, too many requests. Please slow down. You must wait {wait} seconds before trying this endpoint again. [error-too-many-requests]")}),
                headers: vec![
                    ("x-ratelimit-limit", RATE_LIMIT_CALLS.to_string()),
                    ("x-ratelimit-remaining", "0".to_owned()),
                    ("x-ratelimit-reset", reset.to_string()),
                ],
                broke: None,
            });
        }
        window.push_back(now);
        None
    }

    fn fault(fault: Fault) -> Answer {
        match fault {
            Fault::RateLimited { .. } => Answer {
                status: 429,
                body: json!({"success": false, "error": "Error, too many requests. Please slow down. [error-too-many-requests]"}),
                headers: Vec::new(),
                broke: None,
            },
            Fault::ServerError => Answer {
                status: 500,
                body: json!({"success": false, "error": "Internal server error"}),
                headers: Vec::new(),
                broke: None,
            },
            Fault::Unauthorized => Answer::unauthorized(),
        }
    }

    fn answer(&mut self, method: &Method, uri: &Uri, headers: &HeaderMap, raw: &[u8]) -> Answer {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let caller = match (header("x-user-id"), header("x-auth-token")) {
            (Some(id), Some(token)) if !self.log.revoked => self
                .users
                .iter()
                .find(|u| u.id == id && u.token == token)
                .map(|u| u.id),
            _ => None,
        };
        let route = (method.as_str(), uri.path());
        let known = matches!(
            route,
            ("GET", "/api/v1/me")
                | ("POST", "/api/v1/chat.sendMessage")
                | ("POST", "/api/v1/livechat/room.closeByUser")
                | ("POST", "/api/v1/livechat/room.forward")
                | ("GET", "/api/v1/livechat/rooms")
                | ("GET", "/api/v1/rooms.info")
                | ("GET", "/api/v1/livechat/integrations.settings")
        ) || (method == Method::GET
            && (uri.path().starts_with(DEPARTMENT_PATH) || uri.path().starts_with(SETTING_PATH)));
        if !known {
            return Answer {
                status: 404,
                body: json!({"success": false, "error": "Not found"}),
                headers: Vec::new(),
                broke: None,
            };
        }
        let Some(caller) = caller else {
            return Answer::unauthorized();
        };
        if let Some(limited) = self.limited(uri.path(), caller) {
            return limited;
        }
        if let Some(fault) = self.log.faults.pop_front() {
            return Self::fault(fault);
        }
        let body: Value = if raw.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(raw) {
                Ok(v) => v,
                Err(_) => return Answer::invalid("the body is not JSON"),
            }
        };
        let query: HashMap<String, String> = uri
            .query()
            .map(|q| {
                url_pairs(q)
                    .into_iter()
                    .collect::<HashMap<String, String>>()
            })
            .unwrap_or_default();
        match route {
            ("GET", "/api/v1/me") => {
                let u = self.user(caller);
                Answer::ok(json!({
                    "_id": u.id, "username": u.username, "name": u.name, "roles": u.roles,
                    "status": if u.available { "online" } else { "offline" },
                    "statusLivechat": if u.available { "available" } else { "not-available" },
                }))
            }
            ("POST", "/api/v1/chat.sendMessage") => self.send_message(caller, &body),
            ("POST", "/api/v1/livechat/room.closeByUser") => self.close_by_user(caller, &body),
            ("POST", "/api/v1/livechat/room.forward") => self.forward(caller, &body),
            ("GET", "/api/v1/livechat/rooms") => self.list_rooms(caller, &query),
            ("GET", "/api/v1/livechat/integrations.settings") => self.integration_settings(caller),
            ("GET", "/api/v1/rooms.info") => self.room_info(&query),
            (_, path) if path.starts_with(SETTING_PATH) => {
                self.setting(caller, &path[SETTING_PATH.len()..])
            }
            (_, path) => self.department(caller, &path[DEPARTMENT_PATH.len()..]),
        }
    }

    fn send_message(&mut self, caller: &str, body: &Value) -> Answer {
        let (Some(rid), Some(msg)) = (
            body["message"]["rid"].as_str(),
            body["message"]["msg"].as_str(),
        ) else {
            return Answer::invalid("message.rid and message.msg are required");
        };
        let Some(room) = self.room(rid) else {
            return Answer::failure("error-invalid-room");
        };
        let serves = self.rooms[room].served_by.map(|(a, _)| a) == Some(caller);
        if !serves && !self.holds(caller, "view-livechat-rooms") {
            return Answer::failure("error-not-allowed");
        }
        self.save_message(room, caller, msg, true);
        let m = self.rooms[room].messages.last().expect("just saved");
        let u = self.user(caller);
        Answer::ok(json!({"message": {
            "_id": m.id, "rid": rid, "msg": m.text, "ts": iso(m.ts),
            "u": {"_id": u.id, "username": u.username, "name": u.name},
        }}))
    }

    fn close_by_user(&mut self, caller: &str, body: &Value) -> Answer {
        let Some(rid) = body["rid"].as_str() else {
            return Answer::invalid("must have required property 'rid'");
        };
        let Some(room) = self.room(rid) else {
            return Answer::failure("error-invalid-room");
        };
        if !self.rooms[room].open {
            return Answer::failure("error-room-already-closed");
        }
        let serves = self.rooms[room].served_by.map(|(a, _)| a) == Some(caller);
        if !serves && !self.holds(caller, "close-others-livechat-room") {
            return Answer::failure("error-not-authorized");
        }
        let comment = body["comment"]
            .as_str()
            .unwrap_or_default()
            .trim()
            .to_owned();
        if comment.is_empty() && self.on("Livechat_request_comment_when_closing_conversation") {
            return Answer {
                broke: Some("a close without the comment Rocket.Chat asks for by default".into()),
                ..Answer::failure("error-comment-is-required")
            };
        }
        // `resolveChatTags`: the department's rule, for a close made by a user (a
        // `clientAction`).
        let given: Vec<String> = body["tags"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let department = self.rooms[room]
            .department
            .as_deref()
            .and_then(|d| self.departments.iter().find(|x| x.id == d));
        let mut tags = given.clone();
        if let Some(d) = department {
            if d.request_tags && (given.is_empty() || d.closing_tags.is_empty()) {
                return Answer::failure("error-tags-must-be-assigned-before-closing-chat");
            }
            tags.extend(
                d.closing_tags
                    .iter()
                    .filter(|t| !given.contains(t))
                    .cloned(),
            );
        }
        self.rooms[room].tags = tags;
        self.close(room, Some(caller), &comment);
        Answer::ok(json!({}))
    }

    /// `GET /api/v1/settings/:_id`: for holders of `view-privileged-setting` (admins), the
    /// setting's value; a setting it does not have is 404.
    fn setting(&self, caller: &str, id: &str) -> Answer {
        if !self.holds(caller, "view-privileged-setting") {
            return Answer::forbidden();
        }
        match self.settings.get(id) {
            Some(value) => Answer::ok(json!({"_id": id, "value": value})),
            None => Answer {
                status: 404,
                body: json!({"success": false, "error": "Not found"}),
                headers: Vec::new(),
                broke: None,
            },
        }
    }

    fn department(&self, caller: &str, id: &str) -> Answer {
        if !self.holds(caller, "view-livechat-departments") && !self.holds(caller, "view-l-room") {
            return Answer::forbidden();
        }
        let found = self.departments.iter().find(|d| d.id == id).map(|d| {
            json!({
                "_id": d.id, "name": d.name, "enabled": true,
                "requestTagBeforeClosingChat": d.request_tags,
                "chatClosingTags": d.closing_tags,
            })
        });
        Answer::ok(json!({"department": found}))
    }

    fn forward(&mut self, caller: &str, body: &Value) -> Answer {
        let Some(rid) = body["roomId"].as_str() else {
            return Answer::invalid("must have required property 'roomId'");
        };
        if !self.holds(caller, "transfer-livechat-guest") {
            return Answer::forbidden();
        }
        let Some(room) = self.room(rid) else {
            return Answer::failure("error-invalid-room");
        };
        if !self.rooms[room].open {
            return Answer::failure("This_conversation_is_already_closed");
        }
        // `RoutingManager.transferRoom`: a department wins over an agent.
        if let Some(department) = body["departmentId"].as_str() {
            // `forwardRoomToDepartment` (`lib/Helper.ts`): without an available agent in the
            // department, refused unless offline agents may take forwarded chats; with one,
            // Auto_Selection (the default routing) gives it the chat, else it waits in the
            // queue.
            let current = self.rooms[room].served_by.map(|(a, _)| a);
            let online = self
                .departments
                .iter()
                .find(|d| d.id == department)
                .into_iter()
                .flat_map(|d| d.agents.iter().copied())
                .find(|a| Some(*a) != current && self.user(a).available);
            let offline_ok = self.on("Livechat_allow_forward_inquiry_to_offline_department_agents");
            if online.is_none() && !offline_ok {
                return Answer::failure("error-no-agents-online-in-department");
            }
            let now = self.now();
            let old = self.rooms[room].department.replace(department.to_owned());
            self.rooms[room].served_by = online.map(|a| (a, now));
            if self.on("Livechat_webhook_on_forward") {
                let extra = old.map_or(Extra::None, Extra::FromDepartment);
                self.queue(rid, "LivechatSessionForwarded", extra, true);
            }
            return Answer::ok(json!({}));
        }
        let Some(to) = body["userId"].as_str() else {
            return Answer::failure("error-forwarding-chat");
        };
        match self.forward_to_agent(room, to) {
            Ok(()) => Answer::ok(json!({})),
            Err(code) => Answer::failure(code),
        }
    }

    fn list_rooms(&self, caller: &str, query: &HashMap<String, String>) -> Answer {
        if !self.holds(caller, "view-livechat-rooms") {
            return Answer::forbidden();
        }
        let open = query.get("open").map(|o| o == "true");
        let closed_since = query
            .get("closedAt")
            .and_then(|c| serde_json::from_str::<Value>(c).ok())
            .and_then(|c| c["start"].as_str().map(str::to_owned))
            .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map(|t| t.with_timezone(&Utc));
        // `agents[]`: the rooms one of these agents serves (`rooms.ts`, `findRooms`).
        let agent = query.get("agents[]");
        let offset: usize = query
            .get("offset")
            .and_then(|o| o.parse().ok())
            .unwrap_or(0);
        let count: usize = query
            .get("count")
            .and_then(|c| c.parse().ok())
            .unwrap_or(50);
        let all: Vec<Value> = self
            .rooms
            .iter()
            .enumerate()
            // `open=true` also needs an agent (`servedBy` exists): queued rooms are left out.
            .filter(|(_, r)| open.is_none_or(|o| o == r.open && (!o || r.served_by.is_some())))
            .filter(|(_, r)| closed_since.is_none_or(|s| r.closed_at.is_some_and(|c| c >= s)))
            .filter(|(_, r)| agent.is_none_or(|a| r.served_by.is_some_and(|(s, _)| s == a)))
            .map(|(i, _)| self.room_json(i))
            .collect();
        let total = all.len();
        let rooms: Vec<Value> = all.into_iter().skip(offset).take(count).collect();
        Answer::ok(json!({"rooms": rooms, "count": rooms.len(), "offset": offset, "total": total}))
    }

    /// `apps/meteor/app/livechat/server/api/lib/integrations.ts`, `findIntegrationSettings`:
    /// the CRM integration's settings, whole, for holders of `view-livechat-manager`.
    fn integration_settings(&self, caller: &str) -> Answer {
        if !self.holds(caller, "view-livechat-manager") {
            return Answer::forbidden();
        }
        let settings: Vec<Value> = INTEGRATION_SETTINGS
            .iter()
            .map(|id| {
                let value = self.settings.get(id).cloned().unwrap_or(json!(false));
                let kind = match &value {
                    Value::Bool(_) => "boolean",
                    Value::Number(_) => "int",
                    _ => "string",
                };
                json!({"_id": id, "value": value, "type": kind})
            })
            .collect();
        Answer::ok(json!({"settings": settings}))
    }

    fn room_info(&self, query: &HashMap<String, String>) -> Answer {
        let Some(room) = query.get("roomId").and_then(|id| self.room(id)) else {
            return Answer::failure("error-room-not-found");
        };
        Answer::ok(json!({"room": self.room_json(room)}))
    }

    fn room_json(&self, room: usize) -> Value {
        let r = &self.rooms[room];
        let v = &self.visitors[r.visitor];
        json!({
            "_id": r.id, "t": "l", "open": r.open, "fname": v.name,
            "v": {"_id": v.id, "username": v.username, "token": v.token},
            "source": {"type": match r.source { Source::Widget => "widget", Source::Sms => "sms" }},
            "departmentId": r.department,
            "servedBy": r.served_by.map(|(agent, ts)| json!({"_id": agent, "username": self.user(agent).username, "ts": iso(ts)})),
            "ts": iso(r.created_at),
            "closedAt": r.closed_at.map(iso),
            "closedBy": r.closed_by.as_ref().map(|(id, username)| json!({"_id": id, "username": username})),
            "closer": r.closer,
        })
    }
}

/// A query string's pairs, decoded.
fn url_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// What an event carries besides the room.
enum Extra {
    None,
    Message(usize),
    FromAgent(Value),
    FromDepartment(String),
}

impl FakeRocketChat {
    /// Serves a fresh Rocket.Chat on a free loopback port, every setting at its default.
    pub async fn start() -> Self {
        Fake::serve(serve).await
    }

    /// The personal access token of user `id`, as `X-Auth-Token`.
    pub fn token_of(&self, id: &str) -> String {
        self.lock().user(id).token.clone()
    }

    /// Sets an Omnichannel setting, as an admin does in Administration → Settings.
    pub fn set_setting(&self, name: &'static str, value: Value) {
        self.lock().settings.insert(name, value);
    }

    /// Makes department `id` ask for tags before the close (or not), with `closing_tags`
    /// as its **Conversation closing tags**.
    pub fn set_department_tags(&self, id: &str, request_tags: bool, closing_tags: &[&str]) {
        let mut s = self.lock();
        let d = s
            .departments
            .iter_mut()
            .find(|d| d.id == id)
            .expect("a department of the fake");
        d.request_tags = request_tags;
        d.closing_tags = closing_tags.iter().map(|t| (*t).to_owned()).collect();
    }

    /// The tags `room` was closed with.
    pub fn tags_of(&self, room: &RoomRef) -> Vec<String> {
        let s = self.lock();
        s.rooms[s.room(&room.id).expect("a room of the fake")]
            .tags
            .clone()
    }

    /// Makes agent `id` available for chats, or not (their Omnichannel status).
    pub fn set_available(&self, id: &str, available: bool) {
        let mut s = self.lock();
        let user = s.users.iter_mut().find(|u| u.id == id).expect("a user");
        user.available = available;
    }

    /// Gives user `id` exactly `roles`.
    pub fn set_roles(&self, id: &str, roles: &[&str]) {
        let mut s = self.lock();
        let user = s.users.iter_mut().find(|u| u.id == id).expect("a user");
        user.roles = roles.iter().map(|r| (*r).to_owned()).collect();
    }

    /// A visitor opens the website widget and writes `text`: a new room in the queue.
    pub fn open_widget(&self, name: &str, text: &str) -> RoomRef {
        self.open(name, None, Source::Widget, text)
    }

    /// A visitor texts `text` from `phone` to the SMS gateway: a new room in the queue.
    pub fn open_sms(&self, phone: &str, text: &str) -> RoomRef {
        self.open(phone, Some(phone), Source::Sms, text)
    }

    fn open(&self, name: &str, phone: Option<&str>, source: Source, text: &str) -> RoomRef {
        let mut s = self.lock();
        let n = s.next + 1;
        let visitor = Visitor {
            id: s.id("visitor"),
            token: format!("visitor-token-{n}"),
            username: format!("guest-{n}"),
            name: name.to_owned(),
            phone: phone.map(str::to_owned),
        };
        s.visitors.push(visitor);
        let v = s.visitors.len() - 1;
        let id = s.new_room(v, source);
        let room = s.room(&id).expect("just made");
        s.save_message(room, "", text, false);
        s.room_ref(room)
    }

    /// The visitor of `room` writes `text`. In an open room it is a message there; once the
    /// room is closed it opens a new room (`livechat/room` without a `rid`), whose ref is
    /// returned: the widget dropped the closed one, and an SMS has no room to name.
    pub fn visitor_writes(&self, room: &RoomRef, text: &str) -> RoomRef {
        let mut s = self.lock();
        let i = s.room(&room.id).expect("a room of the fake");
        let target = if s.rooms[i].open {
            i
        } else {
            let (visitor, source) = (s.rooms[i].visitor, s.rooms[i].source);
            let id = s.new_room(visitor, source);
            s.room(&id).expect("just made")
        };
        s.save_message(target, "", text, false);
        s.room_ref(target)
    }

    /// Agent `agent` takes `room` from the queue.
    pub fn agent_takes(&self, room: &RoomRef, agent: &'static str) {
        let mut s = self.lock();
        let i = s.room(&room.id).expect("a room of the fake");
        let now = s.now();
        s.rooms[i].served_by = Some((agent, now));
        if s.on("Livechat_webhook_on_chat_taken") {
            s.queue(&room.id, "LivechatSessionTaken", Extra::None, true);
        }
    }

    /// Agent `agent` writes `text` in `room`, from Rocket.Chat's own client.
    pub fn agent_writes(&self, room: &RoomRef, agent: &str, text: &str) {
        let mut s = self.lock();
        let i = s.room(&room.id).expect("a room of the fake");
        s.save_message(i, agent, text, true);
    }

    /// The room's agent forwards it to agent `to` from the room's menu (an agent with
    /// `transfer-livechat-guest`, as managers have); the error code when Rocket.Chat refuses.
    pub fn agent_forwards(&self, room: &RoomRef, to: &str) -> Result<(), &'static str> {
        let mut s = self.lock();
        let i = s.room(&room.id).expect("a room of the fake");
        if !s.rooms[i].open {
            return Err("This_conversation_is_already_closed");
        }
        s.forward_to_agent(i, to)
    }

    /// Agent `agent` closes `room` with `comment` from the room's menu.
    pub fn agent_closes(&self, room: &RoomRef, agent: &str, comment: &str) {
        let mut s = self.lock();
        let i = s.room(&room.id).expect("a room of the fake");
        assert!(s.rooms[i].open, "the room is open");
        s.close(i, Some(agent), comment);
    }

    /// The visitor of `room` ends the chat from the widget's menu.
    pub fn visitor_closes(&self, room: &RoomRef) {
        let mut s = self.lock();
        let i = s.room(&room.id).expect("a room of the fake");
        assert!(s.rooms[i].open, "the room is open");
        s.close(i, None, "");
    }

    /// Whether `room` is open.
    pub fn is_open(&self, room: &RoomRef) -> bool {
        let s = self.lock();
        s.rooms[s.room(&room.id).expect("a room of the fake")].open
    }

    /// Who serves `room`, if anyone.
    pub fn served_by(&self, room: &RoomRef) -> Option<&'static str> {
        let s = self.lock();
        s.rooms[s.room(&room.id).expect("a room of the fake")]
            .served_by
            .map(|(a, _)| a)
    }

    /// The rooms visitor of `room` has had, oldest first.
    pub fn rooms_of_visitor(&self, room: &RoomRef) -> Vec<RoomRef> {
        let s = self.lock();
        let v = s.rooms[s.room(&room.id).expect("a room of the fake")].visitor;
        (0..s.rooms.len())
            .filter(|i| s.rooms[*i].visitor == v)
            .map(|i| s.room_ref(i))
            .collect()
    }

    /// The closing comment of `room`, once closed.
    pub fn closing_comment(&self, room: &RoomRef) -> Option<String> {
        let s = self.lock();
        s.rooms[s.room(&room.id).expect("a room of the fake")]
            .messages
            .iter()
            .find(|m| m.closing)
            .map(|m| m.text.clone())
    }

    /// What the visitor of `room` was shown of the agents' messages, oldest first: on the
    /// widget, what was written while the room was open (it drops the room at the close);
    /// by SMS, every agent message but the closing comment.
    pub fn shown_to_visitor(&self, room: &RoomRef) -> Vec<String> {
        let s = self.lock();
        let r = &s.rooms[s.room(&room.id).expect("a room of the fake")];
        r.messages
            .iter()
            .filter(|m| m.agent && !m.closing)
            .filter(|m| r.source == Source::Sms || r.closed_at.is_none_or(|c| m.ts < c))
            .map(|m| m.text.clone())
            .collect()
    }

    /// The room's `crmData`: the body of the last 200 the receiver answered for it.
    pub fn crm_data(&self, room: &RoomRef) -> Option<String> {
        let s = self.lock();
        s.rooms[s.room(&room.id).expect("a room of the fake")]
            .crm_data
            .clone()
    }

    /// The events waiting to be posted, taken out of the fake: a test posts them itself
    /// ([`FakeRocketChat::post_event`]), in any order.
    pub fn take_pending(&self) -> Vec<Pending> {
        self.lock().pending.drain(..).collect()
    }

    /// The events waiting, left where they are.
    pub fn pending(&self) -> Vec<Pending> {
        self.lock().pending.iter().cloned().collect()
    }

    /// Every try to post an event so far: its type and the status (0: no answer in time).
    pub fn tries(&self) -> Vec<(String, u16)> {
        self.lock().tries.clone()
    }

    /// A restart of Rocket.Chat: the retries held in memory are lost.
    pub fn restart(&self) {
        self.lock().pending.clear();
    }

    /// Posts every event due by the fake's now, in order, as `sendRequest` does (see the
    /// module's docs); the statuses, in order (0: no answer in time). A retry is due four
    /// timeouts after the try that failed: move the fake's clock to reach it.
    pub async fn deliver(&self) -> Vec<u16> {
        let mut statuses = Vec::new();
        loop {
            let next = {
                let mut s = self.lock();
                let now = s.now();
                match s.pending.iter().position(|p| p.due <= now) {
                    Some(i) => s.pending.remove(i),
                    None => None,
                }
            };
            let Some(event) = next else {
                return statuses;
            };
            statuses.push(self.post_event(event).await);
        }
    }

    /// Posts one event, once, and applies what `sendRequest` makes of the answer: `crmData`
    /// kept from a 200, a retry queued after a 5xx, a 429 or no answer, while tries are left.
    pub async fn post_event(&self, event: Pending) -> u16 {
        let (url, secret, timeout) = {
            let s = self.lock();
            (
                s.settings["Livechat_webhookUrl"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                s.settings["Livechat_secret_token"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                s.settings["Livechat_http_timeout"].as_u64().unwrap_or(5000),
            )
        };
        // `server-fetch` forces `Content-Type: application/json` on an object body.
        let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        if !secret.is_empty() {
            headers.push(("X-RocketChat-Livechat-Token".to_owned(), secret));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(timeout))
            .build()
            .expect("a client");
        let body = serde_json::to_vec(&event.body).expect("JSON");
        let response = crate::scaffold::post_response(&client, &url, &body, &headers).await;
        let status = response.as_ref().map_or(0, |(s, _)| *s);
        let mut s = self.lock();
        s.tries.push((event.kind().to_owned(), status));
        match response {
            Some((200, text)) => {
                if let Some(room) = s.room(&event.room) {
                    s.rooms[room].crm_data = Some(text);
                }
            }
            // `isRetryable`: a 5xx or a 429; and a timeout or a network error, thrown.
            Some((status, _)) if status < 500 && status != 429 => {}
            _ if event.tries_left > 1 => {
                let due = s.now() + TimeDelta::milliseconds(4 * timeout as i64);
                s.pending.push_back(Pending {
                    tries_left: event.tries_left - 1,
                    due,
                    ..event
                });
            }
            _ => {}
        }
        status
    }
}

async fn serve(
    State(fake): State<FakeRocketChat>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = {
        let mut s = fake.lock();
        let answer = s.answer(&method, &uri, &headers, &body);
        let path = uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), ToString::to_string);
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
    let mut response = (status, axum::Json(answer.body)).into_response();
    for (name, value) in answer.headers {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_str(&value).expect("a header value"));
    }
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
