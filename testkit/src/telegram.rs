//! A local Telegram Bot API for the Telegram channel's tests.
//!
//! The real API cannot be used from CI, and the community mocks for teloxide drive a dispatch
//! tree in-process and serialise tests behind a global lock, so neither exercises Rateline's own
//! HTTP client against the wire protocol. This fake speaks that protocol on `127.0.0.1:0` and is
//! strict where Telegram is strict (text and keyboard limits, "message is not modified", stale
//! callback queries, flood control, one poller at a time), so a scenario passing here has kept
//! Telegram's rules: [`FakeBotApi::rule_violations`] lists every call that broke one.
//!
//! Point teloxide at it with `Bot::new(TOKEN).set_api_url(fake.url().parse()?)`; teloxide then
//! posts to `{url}/bot{TOKEN}/{MethodName}`, with a JSON body, or a multipart one for methods
//! that could upload a file (`setWebhook`). Tests play the user with [`FakeBotApi::tap`],
//! [`FakeBotApi::text`] and [`FakeBotApi::raw_update`], which queue updates for `getUpdates`
//! and also hand them back for posting to a webhook endpoint. The fake never pushes to webhooks.
//!
//! Everything is real time: Telegram's `date`s and flood control know nothing of a test's
//! manual clock.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::watch;

/// The bot's token, the only one the fake answers (`/bot{TOKEN}/…`).
pub const TOKEN: &str = "123456:TEST-fake-bot-token-abcdefghij";
/// The bot's user id, the number before the colon in [`TOKEN`], as in every real token.
pub const BOT_ID: i64 = 123456;
/// The bot's username, as `getMe` and its messages' `from` give it.
pub const BOT_USERNAME: &str = "rateline_test_bot";
const BOT_FIRST_NAME: &str = "Rateline Test";

const MAX_TEXT_CHARS: usize = 4096;
const MAX_CALLBACK_DATA_BYTES: usize = 64;
const MAX_BUTTONS_PER_ROW: usize = 8;
const MAX_BUTTONS: usize = 100;
const MAX_ANSWER_TEXT_CHARS: usize = 200;
/// Bot FAQ: "avoid sending more than one message per second" to a chat. The 50 ms of slack
/// keeps jitter on a loaded machine from turning a well-paced sender into a violator.
const PER_CHAT_GAP: Duration = Duration::from_millis(950);
/// Bot FAQ, on bulk notifications: "not allow more than 30 messages per second or so".
const MAX_SENDS_PER_SECOND: usize = 30;
const FIRST_UPDATE_ID: i64 = 1000;
/// Callback query ids are opaque numeric strings; real ones run to 19 digits.
const FIRST_QUERY_ID: u64 = 4_382_107_000_000_000_001;

/// What the user on the other side of a private chat has done to the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatState {
    /// The user talks to the bot: sends reach them.
    Active,
    /// The user blocked the bot: every send is 403 `Forbidden: bot was blocked by the user`.
    Blocked,
    /// The user deleted their account: every send is 403 `Forbidden: user is deactivated`.
    Deactivated,
    /// The user never pressed Start: Telegram lets no bot speak first.
    NeverStarted,
}

/// A refusal forced on the next call of a method, whatever the call carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answers with Telegram's error envelope (`ok: false`).
    Api {
        /// The HTTP status, which is also the envelope's `error_code`.
        status: u16,
        /// The envelope's `description`.
        description: String,
        /// `parameters.retry_after`, in seconds, as flood control gives it.
        retry_after: Option<u32>,
    },
    /// Never answers, like a request lost in a network partition.
    Hang,
}

impl Fault {
    /// An outage in front of the Bot API. Note that teloxide sleeps 10 s before returning a 5xx.
    pub fn server_error() -> Self {
        Fault::Api {
            status: 502,
            description: "Bad Gateway".into(),
            retry_after: None,
        }
    }

    /// Flood control, shaped exactly like Telegram's own.
    pub fn too_many(retry_after: u32) -> Self {
        Fault::Api {
            status: 429,
            description: format!("Too Many Requests: retry after {retry_after}"),
            retry_after: Some(retry_after),
        }
    }
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    /// As documented (`sendMessage`), however the caller spelled it; unknown ones as sent.
    pub method: String,
    /// The JSON body; a body that is not JSON is kept as a string.
    pub body: Value,
    /// 0 while unanswered: a long poll still waiting, a [`Fault::Hang`], or a client that left.
    pub status: u16,
    /// The `description` of a refusal; `None` when the call succeeded or was not answered.
    pub description: Option<String>,
    /// When it arrived.
    pub at: Instant,
}

/// A bot message as it stands now, after any edits.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    /// Its id in the chat, as the send answered.
    pub message_id: i64,
    /// Its text, after any edits.
    pub text: String,
    /// Its inline keyboard, after any edits; `None` when it has none.
    pub reply_markup: Option<Value>,
    /// The message this one replies to (`reply_parameters.message_id`), if it was found.
    pub reply_to: Option<i64>,
}

/// The handle tests hold; clones share one server.
#[derive(Clone)]
pub struct FakeBotApi {
    url: String,
    state: Arc<Mutex<Inner>>,
    /// Ticks whenever a long poll may have something new to say: an update was queued, a newer
    /// poll superseded it, or a webhook was set.
    changed: Arc<watch::Sender<()>>,
}

impl FakeBotApi {
    /// Starts the fake on a free loopback port, with no chats yet.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeBotApi {
            url: format!("http://{}", listener.local_addr().unwrap()),
            state: Arc::new(Mutex::new(Inner::new())),
            changed: Arc::new(watch::channel(()).0),
        };
        // Telegram takes any HTTP verb on any path and answers in its envelope, so one catch-all
        // handler routes by hand.
        let app = Router::new().fallback(serve).with_state(fake.clone());
        tokio::spawn(axum::serve(listener, app).into_future());
        fake
    }

    /// The base URL for `Bot::set_api_url`, without a trailing slash.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Registers a private chat: in those the chat id is the user's id.
    pub fn add_chat(&self, chat_id: i64, first_name: &str) {
        let mut s = self.lock();
        let chat = s.chats.entry(chat_id).or_insert_with(|| Chat {
            first_name: String::new(),
            state: ChatState::Active,
            next_message_id: 1,
            messages: Vec::new(),
            last_send: None,
        });
        chat.first_name = first_name.into();
    }

    /// Sets what the user of chat `chat_id` (added before) has done to the bot, for the sends to
    /// come.
    pub fn set_chat_state(&self, chat_id: i64, state: ChatState) {
        self.lock().chat_mut(chat_id).state = state;
    }

    /// Queues `fault` for the next call of `method`, after any queued before it. Names are
    /// matched as Telegram matches them, ignoring case.
    pub fn fail_next(&self, method: &str, fault: Fault) {
        self.lock()
            .faults
            .entry(method.to_ascii_lowercase())
            .or_default()
            .push_back(fault);
    }

    /// The chat's user taps a button under a bot message. `callback_data` is taken as given,
    /// not checked against the keyboard: double taps and stale clients do send data for
    /// buttons that are already gone.
    pub fn tap(&self, chat_id: i64, message_id: i64, callback_data: &str) -> Value {
        let first_name = self.lock().chat(chat_id).first_name.clone();
        self.tap_as(chat_id, &first_name, chat_id, message_id, callback_data)
    }

    /// Someone other than the chat's user taps a button under a bot message.
    pub fn tap_as(
        &self,
        user_id: i64,
        first_name: &str,
        chat_id: i64,
        message_id: i64,
        callback_data: &str,
    ) -> Value {
        let update = {
            let mut s = self.lock();
            let chat = s.chat(chat_id);
            let message = chat
                .messages
                .iter()
                .find(|m| m.message_id == message_id)
                .map(|m| message_json(chat_id, &chat.first_name, m))
                .unwrap_or_else(|| panic!("no bot message {message_id} in chat {chat_id} to tap"));
            let id = (FIRST_QUERY_ID + s.queries_issued).to_string();
            s.queries_issued += 1;
            s.open_queries.insert(id.clone());
            s.queue(json!({"callback_query": {
                "id": id,
                "from": user_json(user_id, first_name),
                "message": message,
                "chat_instance": chat_instance(chat_id),
                "data": callback_data,
            }}))
        };
        self.touch();
        update
    }

    /// The chat's user writes to the bot.
    pub fn text(&self, chat_id: i64, text: &str) -> Value {
        let update = {
            let mut s = self.lock();
            let chat = s.chat_mut(chat_id);
            // Both sides of a private chat draw message ids from one counter.
            let message_id = chat.next_message_id;
            chat.next_message_id += 1;
            let first_name = chat.first_name.clone();
            s.queue(json!({"message": {
                "message_id": message_id,
                "from": user_json(chat_id, &first_name),
                "chat": {"id": chat_id, "type": "private", "first_name": first_name},
                "date": unix_now(),
                "text": text,
            }}))
        };
        self.touch();
        update
    }

    /// Queues any update kind, e.g. `{"my_chat_member": {..}}`, under a fresh `update_id`.
    pub fn raw_update(&self, kind_json: Value) -> Value {
        let update = self.lock().queue(kind_json);
        self.touch();
        update
    }

    /// The `(text, callback_data)` of each callback button under a bot message, row by row.
    pub fn button_data(&self, chat_id: i64, message_id: i64) -> Vec<(String, String)> {
        let message = self
            .messages(chat_id)
            .into_iter()
            .find(|m| m.message_id == message_id)
            .unwrap_or_else(|| panic!("no bot message {message_id} in chat {chat_id}"));
        let Some(markup) = message.reply_markup else {
            return Vec::new();
        };
        markup["inline_keyboard"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(|b| {
                Some((
                    b["text"].as_str()?.into(),
                    b["callback_data"].as_str()?.into(),
                ))
            })
            .collect()
    }

    /// Every call so far, in order of arrival, refused ones included.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.iter().map(|r| r.call.clone()).collect()
    }

    /// The calls refused for breaking a rule the caller is expected to know: malformed
    /// parameters, text and keyboard limits, flood control, "not modified", stale callback
    /// queries. Refusals that only reflect the world (unknown chat or message, a user's block,
    /// an injected fault, a second poller) are not listed.
    pub fn rule_violations(&self) -> Vec<Call> {
        self.lock()
            .calls
            .iter()
            .filter(|r| r.broke_a_rule)
            .map(|r| r.call.clone())
            .collect()
    }

    /// The bot's messages in a chat, as they stand now.
    pub fn messages(&self, chat_id: i64) -> Vec<StoredMessage> {
        self.lock()
            .chat(chat_id)
            .messages
            .iter()
            .map(|m| StoredMessage {
                message_id: m.message_id,
                text: m.text.clone(),
                reply_markup: m.reply_markup.clone(),
                reply_to: m.reply_to,
            })
            .collect()
    }

    /// `(callback_query_id, text)` of each accepted `answerCallbackQuery`, in order.
    pub fn answered_callbacks(&self) -> Vec<(String, Option<String>)> {
        self.lock().answered.clone()
    }

    /// The webhook's `(url, secret_token)` while one is set.
    pub fn webhook(&self) -> Option<(String, Option<String>)> {
        self.lock().webhook.clone()
    }

    /// Waits (in real time, up to 10 s) until `what` holds.
    pub async fn wait_for(&self, what: impl Fn(&FakeBotApi) -> bool) {
        crate::wait_until(
            || what(self),
            || {
                format!(
                    "the fake Bot API did not reach the awaited state within 10 s; calls so far:\n{}",
                    self.call_log()
                )
            },
        )
        .await
    }

    fn call_log(&self) -> String {
        let mut log = String::new();
        for c in self.calls() {
            let answer = c.description.as_deref().unwrap_or("");
            let _ = writeln!(log, "  {} -> {} {answer} {}", c.method, c.status, c.body);
        }
        log
    }

    /// The state stays usable after a panicking test thread held it: the server keeps
    /// answering the service under test either way.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn touch(&self) {
        self.changed.send_replace(());
    }

    async fn dispatch(&self, method: Method, body: &Value) -> Answer {
        match method {
            Method::GetMe => Ok(json!({
                "id": BOT_ID,
                "is_bot": true,
                "first_name": BOT_FIRST_NAME,
                "username": BOT_USERNAME,
                "can_join_groups": true,
                "can_read_all_group_messages": false,
                "supports_inline_queries": false,
                "can_connect_to_business": false,
                "has_main_web_app": false,
            })),
            Method::SendMessage => self.lock().send_message(body),
            Method::EditMessageText => self.lock().edit(body, true),
            Method::EditMessageReplyMarkup => self.lock().edit(body, false),
            Method::AnswerCallbackQuery => self.lock().answer_callback_query(body),
            Method::GetUpdates => self.get_updates(body).await,
            Method::SetWebhook => {
                let answer = self.lock().set_webhook(body);
                self.touch();
                answer
            }
            Method::DeleteWebhook => Ok(self.lock().delete_webhook(body)),
            Method::GetWebhookInfo => Ok(self.lock().webhook_info()),
        }
    }

    async fn get_updates(&self, body: &Value) -> Answer {
        let offset = int_arg(body, "offset")?.unwrap_or(0);
        // Telegram clamps these rather than refusing them.
        let limit = int_arg(body, "limit")?.unwrap_or(100).clamp(1, 100) as usize;
        let wait = int_arg(body, "timeout")?.unwrap_or(0).max(0) as u64;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
        // Subscribed before the poll registers, so no tick between the two is missed.
        let mut changed = self.changed.subscribe();
        let poll = self.lock().start_poll(offset)?;
        self.touch();
        let _done = PollDone { fake: self, poll };
        loop {
            let expired = tokio::time::Instant::now() >= deadline;
            if let Some(answer) = self.lock().poll_answer(poll, limit, expired) {
                return answer;
            }
            // On timeout the next round answers with whatever there is.
            let _ = tokio::time::timeout_at(deadline, changed.changed()).await;
        }
    }
}

/// Ends a long poll's claim to be the current one, even when its client hangs up mid-wait.
struct PollDone<'a> {
    fake: &'a FakeBotApi,
    poll: u64,
}

impl Drop for PollDone<'_> {
    fn drop(&mut self) {
        let mut s = self.fake.lock();
        if s.active_poll == Some(self.poll) {
            s.active_poll = None;
        }
    }
}

#[derive(Clone, Copy)]
enum Method {
    GetMe,
    SendMessage,
    EditMessageText,
    EditMessageReplyMarkup,
    AnswerCallbackQuery,
    GetUpdates,
    SetWebhook,
    DeleteWebhook,
    /// teloxide's default polling asks for it before its first `getUpdates`.
    GetWebhookInfo,
}

impl Method {
    const ALL: [Method; 9] = [
        Method::GetMe,
        Method::SendMessage,
        Method::EditMessageText,
        Method::EditMessageReplyMarkup,
        Method::AnswerCallbackQuery,
        Method::GetUpdates,
        Method::SetWebhook,
        Method::DeleteWebhook,
        Method::GetWebhookInfo,
    ];

    /// Telegram ignores the case of method names, and teloxide relies on it: it posts to
    /// `SendMessage`, `GetUpdates`, ...
    fn parse(name: &str) -> Option<Self> {
        Method::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }

    /// The documented spelling, under which calls are recorded and faults queued.
    fn name(self) -> &'static str {
        match self {
            Method::GetMe => "getMe",
            Method::SendMessage => "sendMessage",
            Method::EditMessageText => "editMessageText",
            Method::EditMessageReplyMarkup => "editMessageReplyMarkup",
            Method::AnswerCallbackQuery => "answerCallbackQuery",
            Method::GetUpdates => "getUpdates",
            Method::SetWebhook => "setWebhook",
            Method::DeleteWebhook => "deleteWebhook",
            Method::GetWebhookInfo => "getWebhookInfo",
        }
    }
}

/// A refused call, as Telegram words it.
struct Refusal {
    status: u16,
    description: String,
    retry_after: Option<u32>,
    broke_a_rule: bool,
}

impl Refusal {
    /// The caller broke a documented rule.
    fn bad_request(what: impl std::fmt::Display) -> Self {
        Refusal {
            status: 400,
            description: format!("Bad Request: {what}"),
            retry_after: None,
            broke_a_rule: true,
        }
    }

    /// The caller could not have known: a fact of the world, not a mistake.
    fn world(status: u16, description: &str) -> Self {
        Refusal {
            status,
            description: description.into(),
            retry_after: None,
            broke_a_rule: false,
        }
    }

    fn flood() -> Self {
        Refusal {
            status: 429,
            description: "Too Many Requests: retry after 1".into(),
            retry_after: Some(1),
            broke_a_rule: true,
        }
    }

    fn cant_parse_button(why: &str) -> Self {
        Refusal::bad_request(format_args!("can't parse inline keyboard button: {why}"))
    }

    fn chat_not_found() -> Self {
        Refusal::world(400, "Bad Request: chat not found")
    }
}

type Answer = Result<Value, Refusal>;

struct Chat {
    first_name: String,
    state: ChatState,
    next_message_id: i64,
    messages: Vec<BotMessage>,
    last_send: Option<Instant>,
}

struct BotMessage {
    message_id: i64,
    text: String,
    reply_markup: Option<Value>,
    date: i64,
    edit_date: Option<i64>,
    /// The bot's message this one replies to.
    reply_to: Option<i64>,
}

struct Recorded {
    call: Call,
    broke_a_rule: bool,
}

#[derive(Default)]
struct Inner {
    chats: HashMap<i64, Chat>,
    calls: Vec<Recorded>,
    faults: HashMap<String, VecDeque<Fault>>,
    /// When each accepted `sendMessage` of the last second went out; refused ones sent nothing.
    recent_sends: VecDeque<Instant>,
    /// Unconfirmed updates, oldest first.
    updates: VecDeque<Value>,
    next_update_id: i64,
    queries_issued: u64,
    /// Issued callback query ids not answered yet.
    open_queries: HashSet<String>,
    answered: Vec<(String, Option<String>)>,
    webhook: Option<(String, Option<String>)>,
    polls_started: u64,
    /// The `getUpdates` entitled to an answer; any earlier one still waiting gets a 409.
    active_poll: Option<u64>,
}

impl Inner {
    fn new() -> Self {
        Inner {
            next_update_id: FIRST_UPDATE_ID,
            ..Default::default()
        }
    }

    /// A test naming a chat it never added has a bug: fail it loudly.
    fn chat(&self, chat_id: i64) -> &Chat {
        self.chats
            .get(&chat_id)
            .unwrap_or_else(|| panic!("chat {chat_id} was never added to the fake Bot API"))
    }

    fn chat_mut(&mut self, chat_id: i64) -> &mut Chat {
        self.chats
            .get_mut(&chat_id)
            .unwrap_or_else(|| panic!("chat {chat_id} was never added to the fake Bot API"))
    }

    fn queue(&mut self, kind_json: Value) -> Value {
        let Value::Object(mut update) = kind_json else {
            panic!(
                "an update kind must be a JSON object like {{\"message\": ..}}, got {kind_json}"
            );
        };
        update.insert("update_id".into(), self.next_update_id.into());
        self.next_update_id += 1;
        let update = Value::Object(update);
        self.updates.push_back(update.clone());
        update
    }

    fn send_message(&mut self, body: &Value) -> Answer {
        let chat_id = chat_id_arg(body)?;
        let text = text_arg(body)?;
        let reply_markup = markup_arg(body)?;
        let chat = reachable(&mut self.chats, chat_id)?;
        let reply_to = reply_arg(body, chat)?;
        admit(&mut self.recent_sends, chat)?;
        let message = BotMessage {
            message_id: chat.next_message_id,
            text: text.into(),
            reply_markup,
            date: unix_now(),
            edit_date: None,
            reply_to,
        };
        chat.next_message_id += 1;
        let mut answer = message_json(chat_id, &chat.first_name, &message);
        if let Some(original) =
            reply_to.and_then(|id| chat.messages.iter().find(|m| m.message_id == id))
        {
            answer["reply_to_message"] = message_json(chat_id, &chat.first_name, original);
        }
        chat.messages.push(message);
        Ok(answer)
    }

    /// `editMessageText` when `with_text`, else `editMessageReplyMarkup`. Either way a missing
    /// `reply_markup` leaves the message without a keyboard.
    fn edit(&mut self, body: &Value, with_text: bool) -> Answer {
        let chat_id = chat_id_arg(body)?;
        let message_id = int_arg(body, "message_id")?
            .ok_or_else(|| Refusal::bad_request("message identifier is not specified"))?;
        let text = if with_text {
            Some(text_arg(body)?)
        } else {
            None
        };
        let reply_markup = markup_arg(body)?;
        // Assumed, to be on the safe side: a user who blocked the bot stops its edits too.
        let Chat {
            first_name,
            next_message_id,
            messages,
            ..
        } = reachable(&mut self.chats, chat_id)?;
        let Some(message) = messages.iter_mut().find(|m| m.message_id == message_id) else {
            return Err(if (1..*next_message_id).contains(&message_id) {
                // The id exists but the user wrote that message.
                Refusal::bad_request("message can't be edited")
            } else {
                Refusal::world(400, "Bad Request: message to edit not found")
            });
        };
        let text = text.unwrap_or(&message.text).to_owned();
        if text == message.text && reply_markup == message.reply_markup {
            return Err(Refusal::bad_request(
                "message is not modified: specified new message content and reply markup are \
                 exactly the same as a current content and reply markup of the message",
            ));
        }
        message.text = text;
        message.reply_markup = reply_markup;
        message.edit_date = Some(unix_now());
        Ok(message_json(chat_id, first_name, message))
    }

    fn answer_callback_query(&mut self, body: &Value) -> Answer {
        let id = body["callback_query_id"].as_str().unwrap_or_default();
        let text = body["text"].as_str().map(String::from);
        // Checked first: a refused answer must leave the query answerable.
        if text
            .as_ref()
            .is_some_and(|t| t.chars().count() > MAX_ANSWER_TEXT_CHARS)
        {
            return Err(Refusal::bad_request("MESSAGE_TOO_LONG"));
        }
        if !self.open_queries.remove(id) {
            return Err(Refusal::bad_request(
                "query is too old and response timeout expired or query ID is invalid",
            ));
        }
        self.answered.push((id.into(), text));
        Ok(Value::Bool(true))
    }

    /// Registers a `getUpdates`, confirming updates below `offset` and superseding any poll
    /// still waiting.
    fn start_poll(&mut self, offset: i64) -> Result<u64, Refusal> {
        if self.webhook.is_some() {
            return Err(webhook_conflict());
        }
        if offset < 0 {
            // "-N": only the last N updates survive, everything before is forgotten.
            let keep = usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX);
            let drop = self.updates.len().saturating_sub(keep);
            self.updates.drain(..drop);
        } else {
            self.updates
                .retain(|u| u["update_id"].as_i64().is_some_and(|id| id >= offset));
        }
        self.polls_started += 1;
        self.active_poll = Some(self.polls_started);
        Ok(self.polls_started)
    }

    /// `None` while the poll should keep waiting.
    fn poll_answer(&self, poll: u64, limit: usize, expired: bool) -> Option<Answer> {
        if self.active_poll != Some(poll) {
            return Some(Err(Refusal::world(
                409,
                "Conflict: terminated by other getUpdates request; make sure that only one bot \
                 instance is running",
            )));
        }
        if self.webhook.is_some() {
            return Some(Err(webhook_conflict()));
        }
        let batch: Vec<Value> = self.updates.iter().take(limit).cloned().collect();
        (!batch.is_empty() || expired).then_some(Ok(Value::Array(batch)))
    }

    fn set_webhook(&mut self, body: &Value) -> Answer {
        let url = body["url"].as_str().unwrap_or_default();
        let secret = body["secret_token"].as_str().map(String::from);
        let secret_ok = |s: &String| {
            (1..=256).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        if secret.as_ref().is_some_and(|s| !secret_ok(s)) {
            return Err(Refusal::bad_request(
                "secret token contains unallowed characters",
            ));
        }
        // The docs: an empty URL removes the webhook.
        if !url.is_empty() {
            let parsed = reqwest::Url::parse(url)
                .map_err(|_| Refusal::bad_request("bad webhook: Failed to resolve host"))?;
            if parsed.scheme() != "https" {
                return Err(Refusal::bad_request(
                    "bad webhook: An HTTPS URL must be provided for webhook",
                ));
            }
            if !matches!(parsed.port_or_known_default(), Some(80 | 88 | 443 | 8443)) {
                return Err(Refusal::bad_request(
                    "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
                ));
            }
        }
        self.drop_pending_if_asked(body);
        self.webhook = (!url.is_empty()).then(|| (url.into(), secret));
        Ok(Value::Bool(true))
    }

    fn delete_webhook(&mut self, body: &Value) -> Value {
        self.drop_pending_if_asked(body);
        self.webhook = None;
        Value::Bool(true)
    }

    fn drop_pending_if_asked(&mut self, body: &Value) {
        // Multipart bodies carry booleans as text.
        let flag = &body["drop_pending_updates"];
        if *flag == true || *flag == "true" {
            self.updates.clear();
        }
    }

    fn webhook_info(&self) -> Value {
        let url = self.webhook.as_ref().map_or("", |(url, _)| url.as_str());
        json!({
            "url": url,
            "has_custom_certificate": false,
            "pending_update_count": self.updates.len(),
        })
    }
}

fn webhook_conflict() -> Refusal {
    Refusal::world(
        409,
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to \
         delete the webhook first",
    )
}

/// The chat, if the bot may write to it.
fn reachable(chats: &mut HashMap<i64, Chat>, chat_id: i64) -> Result<&mut Chat, Refusal> {
    let chat = chats
        .get_mut(&chat_id)
        .ok_or_else(Refusal::chat_not_found)?;
    let refusal = match chat.state {
        ChatState::Active => return Ok(chat),
        ChatState::Blocked => "Forbidden: bot was blocked by the user",
        ChatState::Deactivated => "Forbidden: user is deactivated",
        ChatState::NeverStarted => "Forbidden: bot can't initiate conversation with a user",
    };
    Err(Refusal::world(403, refusal))
}

/// Flood control: counts the send against both limits, or refuses it.
fn admit(recent_sends: &mut VecDeque<Instant>, chat: &mut Chat) -> Result<(), Refusal> {
    let now = Instant::now();
    if chat
        .last_send
        .is_some_and(|last| now.duration_since(last) < PER_CHAT_GAP)
    {
        return Err(Refusal::flood());
    }
    while recent_sends
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
    {
        recent_sends.pop_front();
    }
    if recent_sends.len() >= MAX_SENDS_PER_SECOND {
        return Err(Refusal::flood());
    }
    recent_sends.push_back(now);
    chat.last_send = Some(now);
    Ok(())
}

/// Telegram reads integers from JSON numbers and from strings holding them alike.
fn int_arg(body: &Value, name: &str) -> Result<Option<i64>, Refusal> {
    let value = match &body[name] {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    value
        .map(Some)
        .ok_or_else(|| Refusal::bad_request(format_args!("field \"{name}\" must be an Integer")))
}

/// A private chat has no @username to address it by, so any string that is not a number
/// names a chat that does not exist.
fn chat_id_arg(body: &Value) -> Result<i64, Refusal> {
    match &body["chat_id"] {
        Value::Null => Err(Refusal::bad_request("chat_id is empty")),
        Value::String(s) if s.is_empty() => Err(Refusal::bad_request("chat_id is empty")),
        Value::Number(n) => n.as_i64().ok_or_else(Refusal::chat_not_found),
        Value::String(s) => s.parse().map_err(|_| Refusal::chat_not_found()),
        _ => Err(Refusal::chat_not_found()),
    }
}

/// The limit counts characters as sent: `parse_mode` markup is not stripped first, which only
/// makes the fake stricter than Telegram.
fn text_arg(body: &Value) -> Result<&str, Refusal> {
    let text = body["text"].as_str().unwrap_or_default();
    // Telegram trims surrounding whitespace, so a blank text is an empty one.
    if text.trim().is_empty() {
        return Err(Refusal::bad_request("message text is empty"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(Refusal::bad_request("message is too long"));
    }
    Ok(text)
}

/// The message a `sendMessage` replies to (`reply_parameters`), as Telegram takes it: one of
/// the chat's messages; a missing one is refused unless `allow_sending_without_reply`, which
/// sends the message as no reply at all.
fn reply_arg(body: &Value, chat: &Chat) -> Result<Option<i64>, Refusal> {
    let asked = &body["reply_parameters"];
    if asked.is_null() {
        return Ok(None);
    }
    let Some(id) = asked["message_id"].as_i64() else {
        return Err(Refusal::bad_request(
            "can't parse reply parameters JSON object",
        ));
    };
    if chat.messages.iter().any(|m| m.message_id == id) {
        Ok(Some(id))
    } else if asked["allow_sending_without_reply"].as_bool() == Some(true) {
        Ok(None)
    } else {
        Err(Refusal::bad_request("message to be replied not found"))
    }
}

/// The keyboard to store: `None` when absent or without a single button, since Telegram treats
/// an empty inline keyboard as none (the usual way to remove one).
fn markup_arg(body: &Value) -> Result<Option<Value>, Refusal> {
    let markup = &body["reply_markup"];
    if markup.is_null() {
        return Ok(None);
    }
    // Telegram also takes reply keyboards here; Rateline has no use for them, and edits
    // accept inline keyboards only, so the fake knows no other kind.
    let Some(rows) = markup.get("inline_keyboard") else {
        return Err(Refusal::bad_request(
            "can't parse reply keyboard markup JSON object",
        ));
    };
    let not_rows = || {
        Refusal::bad_request(
            "Field \"inline_keyboard\" of the InlineKeyboardMarkup should be an Array of Arrays",
        )
    };
    let mut buttons = 0;
    for row in rows.as_array().ok_or_else(not_rows)? {
        let row = row.as_array().ok_or_else(not_rows)?;
        if row.len() > MAX_BUTTONS_PER_ROW {
            return Err(Refusal::bad_request("BUTTONS_TOO_MUCH"));
        }
        row.iter().try_for_each(check_button)?;
        buttons += row.len();
    }
    if buttons > MAX_BUTTONS {
        return Err(Refusal::bad_request("BUTTONS_TOO_MUCH"));
    }
    Ok((buttons > 0).then(|| markup.clone()))
}

/// What a button does, by field name and the JSON type it must have.
const BUTTON_ACTIONS: &[(&str, &str)] = &[
    ("url", "String"),
    ("callback_data", "String"),
    ("web_app", "Object"),
    ("login_url", "Object"),
    ("switch_inline_query", "String"),
    ("switch_inline_query_current_chat", "String"),
    ("switch_inline_query_chosen_chat", "Object"),
    ("copy_text", "Object"),
    ("callback_game", "Object"),
    ("pay", "Boolean"),
];

fn check_button(button: &Value) -> Result<(), Refusal> {
    let Some(button) = button.as_object() else {
        return Err(Refusal::cant_parse_button(
            "InlineKeyboardButton should be an Object",
        ));
    };
    match button.get("text").and_then(Value::as_str) {
        None => {
            return Err(Refusal::cant_parse_button(
                "Field \"text\" must be of type String",
            ));
        }
        Some(text) if text.trim().is_empty() => {
            return Err(Refusal::bad_request("BUTTON_TEXT_INVALID"));
        }
        Some(_) => {}
    }
    let actions: Vec<_> = BUTTON_ACTIONS
        .iter()
        .filter(|(name, _)| button.contains_key(*name))
        .collect();
    let &[&(name, kind)] = actions.as_slice() else {
        return Err(Refusal::cant_parse_button(if actions.is_empty() {
            "Text buttons are unallowed in the inline keyboard"
        } else {
            // Telegram quietly picks one; the docs demand "exactly one", and so does the fake.
            "exactly one of the optional fields must be used to specify type of the button"
        }));
    };
    let value = &button[name];
    let typed = match kind {
        "String" => value.is_string(),
        "Object" => value.is_object(),
        _ => value.is_boolean(),
    };
    if !typed {
        // A `null` counts as present: serialising an unset Option this way is a classic bug.
        return Err(Refusal::cant_parse_button(&format!(
            "Field \"{name}\" must be of type {kind}"
        )));
    }
    if name == "callback_data" {
        let bytes = value.as_str().map_or(0, str::len);
        if !(1..=MAX_CALLBACK_DATA_BYTES).contains(&bytes) {
            return Err(Refusal::bad_request("BUTTON_DATA_INVALID"));
        }
    }
    Ok(())
}

/// A bot message the way Telegram renders it in results and in callback queries.
fn message_json(chat_id: i64, first_name: &str, m: &BotMessage) -> Value {
    let mut message = json!({
        "message_id": m.message_id,
        "from": {"id": BOT_ID, "is_bot": true, "first_name": BOT_FIRST_NAME, "username": BOT_USERNAME},
        "chat": {"id": chat_id, "type": "private", "first_name": first_name},
        "date": m.date,
        "text": m.text,
    });
    if let Some(edit_date) = m.edit_date {
        message["edit_date"] = edit_date.into();
    }
    if let Some(markup) = &m.reply_markup {
        message["reply_markup"] = markup.clone();
    }
    message
}

fn user_json(user_id: i64, first_name: &str) -> Value {
    json!({"id": user_id, "is_bot": false, "first_name": first_name, "language_code": "en"})
}

/// Opaque like Telegram's, stable per chat, and distinct between chats (an odd multiplier is
/// a bijection on i64).
fn chat_instance(chat_id: i64) -> String {
    chat_id.wrapping_mul(6_364_136_223_846_793_005).to_string()
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn serve(
    State(fake): State<FakeBotApi>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (name, route) = route(uri.path());
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let body = parse_body(content_type, &body)
        .ok_or_else(|| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let index = {
        let mut s = fake.lock();
        s.calls.push(Recorded {
            call: Call {
                method: name.clone(),
                body: body.clone().unwrap_or_else(|raw| raw),
                status: 0,
                description: None,
                at: Instant::now(),
            },
            broke_a_rule: false,
        });
        s.calls.len() - 1
    };
    let answer = match (route, body) {
        (Err(refusal), _) => Err(refusal),
        // URL-encoded forms are valid Telegram but unused by teloxide: refuse them loudly.
        (Ok(_), Err(_)) => Err(Refusal::bad_request(
            "the fake Bot API only reads JSON and multipart bodies",
        )),
        (Ok(method), Ok(body)) => {
            let fault = fake
                .lock()
                .faults
                .get_mut(&name.to_ascii_lowercase())
                .and_then(VecDeque::pop_front);
            match fault {
                Some(Fault::Hang) => std::future::pending().await,
                Some(Fault::Api {
                    status,
                    description,
                    retry_after,
                }) => Err(Refusal {
                    status,
                    description,
                    retry_after,
                    broke_a_rule: false,
                }),
                None => fake.dispatch(method, &body).await,
            }
        }
    };
    let (status, envelope) = match &answer {
        Ok(result) => (200, json!({"ok": true, "result": result})),
        Err(refusal) => {
            let mut envelope = json!({
                "ok": false,
                "error_code": refusal.status,
                "description": refusal.description,
            });
            if let Some(retry_after) = refusal.retry_after {
                envelope["parameters"] = json!({"retry_after": retry_after});
            }
            (refusal.status, envelope)
        }
    };
    {
        let mut s = fake.lock();
        let recorded = &mut s.calls[index];
        recorded.call.status = status;
        if let Err(refusal) = answer {
            recorded.call.description = Some(refusal.description);
            recorded.broke_a_rule = refusal.broke_a_rule;
        }
    }
    let status = StatusCode::from_u16(status).expect("a fault's status is a valid HTTP status");
    (status, axum::Json(envelope)).into_response()
}

/// The parameters of a call, as a JSON object.
fn parse_body(content_type: &str, body: &[u8]) -> Option<Value> {
    if body.is_empty() {
        // teloxide sends `{}` to methods without parameters, but a bare call is just as valid.
        return Some(json!({}));
    }
    if content_type.starts_with("multipart/form-data") {
        return form_fields(content_type, body);
    }
    serde_json::from_slice(body).ok()
}

/// The fields of a multipart body, which teloxide sends to every method that could upload a
/// file (`setWebhook` among them, for its certificate). Every value is a string, as Telegram
/// reads them; file contents are kept as (lossy) text, since no test needs them.
fn form_fields(content_type: &str, body: &[u8]) -> Option<Value> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let body = String::from_utf8_lossy(body);
    let mut fields = serde_json::Map::new();
    // The preamble and the closing `--` have no header block, so they drop out here.
    for part in body.split(&format!("--{boundary}")) {
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
        let name = disposition
            .split(';')
            .find_map(|p| p.trim().strip_prefix("name="))?
            .trim_matches('"');
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        fields.insert(name.into(), value.into());
    }
    Some(Value::Object(fields))
}

/// Splits `/bot{token}/{method}` into the method's documented name (the name as sent, when
/// unknown) and what to do with it.
fn route(path: &str) -> (String, Result<Method, Refusal>) {
    let Some((token, name)) = path.strip_prefix("/bot").and_then(|p| p.split_once('/')) else {
        return (path.into(), Err(Refusal::world(404, "Not Found")));
    };
    let method = Method::parse(name);
    let route = if token != TOKEN {
        Err(Refusal::world(401, "Unauthorized"))
    } else {
        method.ok_or_else(|| Refusal::world(404, "Not Found: method not found"))
    };
    (
        method.map_or_else(|| name.into(), |m| m.name().into()),
        route,
    )
}
