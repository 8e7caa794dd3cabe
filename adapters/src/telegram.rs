//! Telegram's Bot API as the `telegram` channel calls it, through teloxide: a rating
//! request is a `sendMessage` with an inline keyboard (👍/👎 or 1–5 ★).
//!
//! Every button carries callback data that names the request and the answer and ends in a
//! MAC, so a client (or anyone who can craft a callback) cannot answer another request or
//! pick a value the card never offered. The engine turns taps and text replies into
//! answers, and its `ChannelAdapter` sends (see the server's `channels::telegram`); this
//! module owns the Bot API side: a send, keyboards, error classification, rate limits, and
//! reading updates.
//!
//! teloxide classifies Bot API errors by their description text and lets some real ones
//! fall through to `Unknown` (e.g. "Forbidden: bot can't initiate conversation with a
//! user"), so [`classify`] also reads the description's prefix: anything `Forbidden:` is a
//! refusal for good. teloxide waits 10 s after a 5xx before it returns; the adapter's own
//! timeout cuts that short and the engine retries with backoff.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::clock::Clock as _;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use teloxide_core::errors::{ApiError, RequestError};
use teloxide_core::prelude::*;
use teloxide_core::types::{
    AllowedUpdate, CallbackQueryId, InlineKeyboardButton, InlineKeyboardMarkup,
    MaybeInaccessibleMessage, Me, MessageId, ReplyParameters, Update, UpdateKind,
};

pub use crate::signed::{CallbackError, CallbackSigner, CardAction, rating_label};
use crate::{Scale, SendOutcome, clip};

/// Telegram's limit on a message's text, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;

/// Telegram's limit on a callback answer's toast, in characters.
const MAX_TOAST_CHARS: usize = 200;

/// The keyboard of a new request: one row of 👍 👎, or of 1–5 ★.
pub fn rating_keyboard(
    signer: &CallbackSigner,
    scale: Scale,
    request_id: &str,
) -> Option<InlineKeyboardMarkup> {
    let row = scale
        .buttons()
        .into_iter()
        .map(|v| {
            let data = signer.encode(request_id, CardAction::Rate(v))?;
            Some(InlineKeyboardButton::callback(rating_label(scale, v), data))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(InlineKeyboardMarkup::new([row]))
}

/// The keyboard of the "Was your issue resolved?" follow-up.
pub fn resolved_keyboard(
    signer: &CallbackSigner,
    request_id: &str,
    yes: &str,
    no: &str,
) -> Option<InlineKeyboardMarkup> {
    Some(InlineKeyboardMarkup::new([[
        InlineKeyboardButton::callback(yes, signer.encode(request_id, CardAction::Resolved(true))?),
        InlineKeyboardButton::callback(no, signer.encode(request_id, CardAction::Resolved(false))?),
    ]]))
}

/// The keyboard of the reasons for a low rating: a button per reason, ✓ on those picked
/// (a tap shows the card again with that one switched), and one that answers with them.
pub fn reasons_keyboard(
    signer: &CallbackSigner,
    request_id: &str,
    reasons: &[&str],
    picked: u8,
    done: &str,
) -> Option<InlineKeyboardMarkup> {
    let mut rows = reasons
        .iter()
        .take(8)
        .enumerate()
        .map(|(i, text)| {
            let bit = 1u8 << i;
            let label = if picked & bit != 0 {
                format!("✓ {text}")
            } else {
                (*text).to_owned()
            };
            let toggle = CardAction::Reasons {
                picked: picked ^ bit,
                done: false,
            };
            Some(vec![InlineKeyboardButton::callback(
                label,
                signer.encode(request_id, toggle)?,
            )])
        })
        .collect::<Option<Vec<_>>>()?;
    let answer = CardAction::Reasons { picked, done: true };
    rows.push(vec![InlineKeyboardButton::callback(
        done,
        signer.encode(request_id, answer)?,
    )]);
    Some(InlineKeyboardMarkup::new(rows))
}

/// Sends at most one message per chat per second and `global_per_second` in all, as the
/// Bot FAQ asks; Telegram answers 429 beyond that.
pub struct SendLimits {
    per_chat: DefaultKeyedRateLimiter<i64>,
    global: DefaultDirectRateLimiter,
}

/// Past this many remembered chats, the per-chat limiter forgets the idle ones.
const LIMITER_CHATS_KEPT: usize = 10_000;

impl SendLimits {
    /// One message a second per chat, and `global_per_second` in all.
    pub fn new(global_per_second: NonZeroU32) -> Self {
        // Bursts of one: sends are spread evenly, never a burst that Telegram may refuse.
        let global = Quota::with_period(Duration::from_secs(1) / global_per_second.get())
            .expect("a positive period")
            .allow_burst(NonZeroU32::MIN);
        Self {
            per_chat: RateLimiter::keyed(Quota::per_second(NonZeroU32::MIN)),
            global: RateLimiter::direct(global),
        }
    }

    /// Waits for a slot for `chat` until `deadline`; `Err(wait)` when none comes by then,
    /// with how long until one would.
    ///
    /// The global slot is taken first and the chat's checked right after, so the send
    /// follows both at once; when the chat is not ready the global slot is let go (a
    /// little throughput lost, only for a chat with several requests due together).
    async fn acquire(&self, chat: i64, deadline: Instant) -> Result<(), Duration> {
        if self.per_chat.len() > LIMITER_CHATS_KEPT {
            self.per_chat.retain_recent();
        }
        loop {
            while let Err(not_until) = self.global.check() {
                let now = self.global.clock().now();
                wait_until(not_until.wait_time_from(now), deadline).await?;
            }
            match self.per_chat.check_key(&chat) {
                Ok(()) => return Ok(()),
                Err(not_until) => {
                    let now = self.per_chat.clock().now();
                    wait_until(not_until.wait_time_from(now), deadline).await?
                }
            }
        }
    }
}

async fn wait_until(wait: Duration, deadline: Instant) -> Result<(), Duration> {
    if Instant::now() + wait > deadline {
        return Err(wait);
    }
    // At least a millisecond, and a real yield: a zero wait must not spin on a worker thread.
    tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
    Ok(())
}

/// The least a reply waits for a send slot. A reply usually follows the card or its edit in
/// the same chat within a second, so it must be able to wait out one per-chat slot (a
/// second) with room for the clock's granularity, however short the send timeout is set.
pub const REPLY_PATIENCE_FLOOR: Duration = Duration::from_secs(2);

/// One bot as Rateline calls it: its token, its limits, and the key its buttons are signed
/// with.
pub struct TelegramBot {
    bot: Bot,
    token: Arc<str>,
    signer: CallbackSigner,
    limits: SendLimits,
    send_timeout: Duration,
}

impl std::fmt::Debug for TelegramBot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramBot")
            .field("api_url", &self.bot.api_url().as_str())
            .finish_non_exhaustive()
    }
}

/// What went wrong talking to the Bot API, with the token cut out of every word of it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct BotApiError {
    /// What went wrong, with the token cut out: safe to log and to show.
    pub message: String,
    /// Telegram refused the token itself.
    pub invalid_token: bool,
    /// The same content was sent again (a repeated tap): nothing to do.
    pub not_modified: bool,
    /// A network failure or timeout, not an answer from Telegram.
    pub transient: bool,
}

impl TelegramBot {
    /// `client` carries the send timeout; `signer` signs the buttons.
    pub fn new(
        token: &str,
        api_url: url::Url,
        client: reqwest::Client,
        signer: CallbackSigner,
        limits: SendLimits,
        send_timeout: Duration,
    ) -> Self {
        Self {
            bot: Bot::with_client(token, client).set_api_url(api_url),
            token: token.into(),
            signer,
            limits,
            send_timeout,
        }
    }

    /// What the bot's buttons are signed with, and so what a tap is checked with.
    pub fn signer(&self) -> &CallbackSigner {
        &self.signer
    }

    /// A copy of the bot on another HTTP client (long polling needs a longer timeout).
    pub fn bot_with_client(&self, client: reqwest::Client) -> Bot {
        Bot::with_client(&*self.token, client).set_api_url(self.bot.api_url())
    }

    /// Checks the token: `getMe`.
    pub async fn get_me(&self) -> Result<Me, BotApiError> {
        self.call(self.bot.get_me().send()).await
    }

    /// Points the bot's webhook at `url` with `secret` as its `secret_token`, asking for
    /// the update kinds Rateline reads.
    pub async fn set_webhook(&self, url: url::Url, secret: &str) -> Result<(), BotApiError> {
        self.call(
            self.bot
                .set_webhook(url)
                .secret_token(secret)
                .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
                .send(),
        )
        .await
        .map(drop)
    }

    /// Shows a short toast to the client who tapped; failures are the caller's to log.
    pub async fn answer_callback(&self, id: &str, text: &str) -> Result<(), BotApiError> {
        let text = clip(text, MAX_TOAST_CHARS);
        self.call(
            self.bot
                .answer_callback_query(CallbackQueryId(id.to_owned()))
                .text(text)
                .send(),
        )
        .await
        .map(drop)
    }

    /// Replaces a card's text and buttons (`None` removes them).
    pub async fn edit_card(
        &self,
        chat: i64,
        message_id: i32,
        text: &str,
        keyboard: Option<InlineKeyboardMarkup>,
    ) -> Result<(), BotApiError> {
        let text = clip(text, MAX_TEXT_CHARS);
        let request = self
            .bot
            .edit_message_text(ChatId(chat), MessageId(message_id), text);
        let result = match keyboard {
            Some(k) => self.call(request.reply_markup(k).send()).await,
            None => self.call(request.send()).await,
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.not_modified => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Sends a plain message (a reply to a client's text), optionally with buttons, within
    /// the same rate limits as requests. It waits for a slot up to half the send timeout,
    /// and never less than [`REPLY_PATIENCE_FLOOR`].
    pub async fn send_text(
        &self,
        chat: i64,
        text: &str,
        keyboard: Option<InlineKeyboardMarkup>,
    ) -> Result<i32, BotApiError> {
        let patience = (self.send_timeout / 2).max(REPLY_PATIENCE_FLOOR);
        if let Err(wait) = self.limits.acquire(chat, Instant::now() + patience).await {
            return Err(BotApiError {
                message: format!(
                    "Telegram's send rate limit: no slot for {} s",
                    wait.as_secs_f64()
                ),
                invalid_token: false,
                not_modified: false,
                transient: true,
            });
        }
        let request = self
            .bot
            .send_message(ChatId(chat), clip(text, MAX_TEXT_CHARS));
        let sent = match keyboard {
            Some(k) => self.call(request.reply_markup(k).send()).await,
            None => self.call(request.send()).await,
        }?;
        Ok(sent.id.0)
    }

    /// Runs one Bot API call under the send timeout, with the token cut out of any error.
    async fn call<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, RequestError>>,
    ) -> Result<T, BotApiError> {
        match tokio::time::timeout(self.send_timeout, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(describe(&e, &self.token)),
            Err(_) => Err(BotApiError {
                message: format!(
                    "the Bot API timed out (no answer within {} s)",
                    self.send_timeout.as_secs_f64()
                ),
                invalid_token: false,
                not_modified: false,
                transient: true,
            }),
        }
    }
}

/// The description Telegram gave, or what happened on the way to it; never the token.
fn describe(e: &RequestError, token: &str) -> BotApiError {
    let (message, transient) = match e {
        RequestError::Api(ApiError::Unknown(text)) => (text.clone(), false),
        RequestError::Api(api) => (api.to_string(), false),
        RequestError::RetryAfter(s) => (
            format!("Too Many Requests: retry after {}", s.seconds()),
            true,
        ),
        RequestError::MigrateToChatId(_) => (
            "the group chat was migrated to a supergroup".to_owned(),
            false,
        ),
        RequestError::Network(err) if crate::outbound::refusal(err).is_some() => (
            "the call to the Bot API was refused by policy: telegram.api_url's address is \
             not public; list its network in outbound.allowed_networks"
                .to_owned(),
            false,
        ),
        RequestError::Network(err) => {
            let kind = if err.is_timeout() {
                "timed out"
            } else if err.is_connect() {
                "could not be reached"
            } else {
                "failed to answer"
            };
            (format!("the Bot API {kind}"), true)
        }
        RequestError::InvalidJson { .. } => (
            "the Bot API answered something that is not its JSON (a proxy error page?)".to_owned(),
            true,
        ),
        RequestError::Io(_) => ("an I/O error talking to the Bot API".to_owned(), true),
    };
    BotApiError {
        // Belt and braces: nothing above should hold the token, and nothing will.
        message: message.replace(token, "[token]"),
        invalid_token: matches!(e, RequestError::Api(ApiError::InvalidToken)),
        not_modified: matches!(e, RequestError::Api(ApiError::MessageNotModified)),
        transient,
    }
}

/// How long a request waits before it is tried again after the token was refused.
const TOKEN_REFUSED_PAUSE: Duration = Duration::from_secs(60);

/// What a failed `sendMessage` means for the request.
pub fn classify(e: &RequestError, token: &str) -> SendOutcome {
    let described = describe(e, token);
    let reason = described.message.clone();
    if let RequestError::RetryAfter(s) = e {
        return SendOutcome::Retry {
            after: Some(s.duration()),
            reason,
        };
    }
    if let RequestError::Network(err) = e
        && crate::outbound::refusal(err).is_some()
    {
        return SendOutcome::Failed { reason };
    }
    if described.invalid_token {
        // The whole channel is down, not this request: hold it back until the token is
        // fixed (or the send deadline passes) instead of failing the queue in seconds.
        tracing::error!("the Bot API refused the bot token (Unauthorized): check telegram.token");
        return SendOutcome::Defer {
            after: TOKEN_REFUSED_PAUSE,
            reason: "the Bot API refused the bot token (Unauthorized): check telegram.token"
                .to_owned(),
        };
    }
    if described.transient {
        return SendOutcome::Retry {
            after: None,
            reason,
        };
    }
    if is_refusal_for_good(&reason) || matches!(e, RequestError::MigrateToChatId(_)) {
        return SendOutcome::Undeliverable { reason };
    }
    if reason.starts_with("Bad Request:") {
        // Our request was wrong (text, keyboard): sending it again cannot help.
        return SendOutcome::Failed { reason };
    }
    // An answer teloxide does not know, e.g. a 5xx's "Bad Gateway": try again later.
    SendOutcome::Retry {
        after: None,
        reason,
    }
}

/// The client or chat will not take messages from this bot: blocked, deactivated, never
/// started the bot, chat gone. teloxide spells some of these "Unauthorized: …" while
/// Telegram says "Forbidden: …", so both prefixes count.
fn is_refusal_for_good(description: &str) -> bool {
    let d = description.to_ascii_lowercase();
    d.starts_with("forbidden:")
        || (d.starts_with("unauthorized:") && d.contains("bot"))
        || d.contains("chat not found")
        || d.contains("user not found")
        || d.contains("peer_id_invalid")
}

impl TelegramBot {
    /// One `sendMessage` under the rate limits, as a [`SendOutcome`].
    pub async fn deliver(
        &self,
        chat: i64,
        text: &str,
        keyboard: Option<InlineKeyboardMarkup>,
        reply: Option<ReplyParameters>,
    ) -> SendOutcome {
        // A quarter of the send timeout may go to waiting for a rate-limit slot; past that
        // the message goes back to the queue without using up an attempt.
        let started = Instant::now();
        if let Err(wait) = self
            .limits
            .acquire(chat, started + self.send_timeout / 4)
            .await
        {
            // Spread the held-back messages: deferred to the same instant they would all
            // come back together and most be held back again.
            let spread = self.send_timeout.mul_f64(rand::random::<f64>() / 2.0);
            return SendOutcome::Defer {
                after: wait + spread,
                reason: "Telegram's send rate limit".into(),
            };
        }
        let mut request = self
            .bot
            .send_message(ChatId(chat), clip(text, MAX_TEXT_CHARS));
        if let Some(reply) = reply {
            request = request.reply_parameters(reply);
        }
        let send = async {
            match keyboard {
                Some(k) => request.reply_markup(k).send().await,
                None => request.send().await,
            }
        };
        let left = self.send_timeout.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, send).await {
            Ok(Ok(message)) => SendOutcome::Accepted {
                platform_message_id: Some(message.id.0.to_string()),
            },
            Ok(Err(e)) => classify(&e, &self.token),
            Err(_) => SendOutcome::Retry {
                after: None,
                reason: format!(
                    "the Bot API timed out (no answer within {} s)",
                    self.send_timeout.as_secs_f64()
                ),
            },
        }
    }
}

/// What an update asks of Rateline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A button was tapped.
    Tap {
        /// The callback query's id: `answerCallbackQuery` (the toast) names it.
        callback_id: String,
        /// Who tapped.
        from: i64,
        /// The chat and message the button is on, when Telegram still has them.
        message: Option<(i64, i32)>,
        /// The button's callback data: a signed payload ([`crate::signed`]) when the button is
        /// Rateline's.
        data: Option<String>,
    },
    /// A client wrote a text message in a private chat, at `date` (Telegram's clock,
    /// whole seconds).
    Text {
        /// The private chat written in: the client's chat id.
        chat: i64,
        /// Who wrote (their user id, the same as `chat` in a private chat).
        from: i64,
        /// What they wrote.
        text: String,
        /// When it was sent, by Telegram's clock (whole seconds).
        date: chrono::DateTime<chrono::Utc>,
    },
    /// Anything else: a kind Rateline does not use, a group chat, a bot.
    Ignored(&'static str),
}

impl Inbound {
    /// What `update` asks of Rateline; an update it does not use is [`Inbound::Ignored`], saying
    /// why.
    pub fn from_update(update: &Update) -> Inbound {
        match &update.kind {
            UpdateKind::CallbackQuery(q) => Inbound::Tap {
                callback_id: q.id.0.clone(),
                from: q.from.id.0 as i64,
                message: q.message.as_ref().map(|m| match m {
                    MaybeInaccessibleMessage::Regular(msg) => (msg.chat.id.0, msg.id.0),
                    MaybeInaccessibleMessage::Inaccessible(i) => (i.chat.id.0, i.message_id.0),
                }),
                data: q.data.clone(),
            },
            UpdateKind::Message(m) => {
                let Some(from) = m.from.as_ref() else {
                    return Inbound::Ignored("a message without a sender");
                };
                if from.is_bot {
                    return Inbound::Ignored("a message from a bot");
                }
                if !m.chat.is_private() {
                    return Inbound::Ignored("a message outside a private chat");
                }
                match m.text() {
                    Some(text) => Inbound::Text {
                        chat: m.chat.id.0,
                        from: from.id.0 as i64,
                        text: text.to_owned(),
                        date: m.date,
                    },
                    None => Inbound::Ignored("a message without text"),
                }
            }
            UpdateKind::Error(raw) => {
                // A kind newer than teloxide's model, or a tap missing a required field: it
                // cannot be answered, but it must not vanish without a trace either.
                tracing::warn!(update_id = update.id.0, update = %raw, "an update Rateline cannot read");
                Inbound::Ignored("an update kind this version cannot read")
            }
            _ => Inbound::Ignored("an update kind Rateline does not use"),
        }
    }
}

/// Telegram's HTTP client for long polling: its timeout must outlast the poll itself.
pub fn polling_client(policy: &crate::outbound::Policy, poll: Duration) -> reqwest::Client {
    // The policy follows no redirect: one would carry the token in its path.
    policy
        .client(poll + Duration::from_secs(10))
        .build()
        .expect("the HTTP client builds with static settings")
}

/// One long poll: the updates after `offset`, waiting up to `poll` for the first.
pub async fn get_updates(
    bot: &Bot,
    token: &str,
    offset: i32,
    poll: Duration,
) -> Result<Vec<Update>, BotApiError> {
    bot.get_updates()
        .offset(offset)
        .timeout(poll.as_secs() as u32)
        // An earlier setWebhook may have narrowed the kinds; Rateline needs these two.
        .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
        .send()
        .await
        .map_err(|e| describe(&e, token))
}

/// Turns the bot's webhook off, which Telegram requires before `getUpdates` works.
pub async fn delete_webhook(bot: &Bot, token: &str) -> Result<(), BotApiError> {
    bot.delete_webhook()
        .send()
        .await
        .map(drop)
        .map_err(|e| describe(&e, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_for_good_are_told_from_faults_and_hiccups() {
        let token = "123:secret-token";
        let api = |text: &str| {
            RequestError::Api(serde_json::from_value(serde_json::json!(text)).unwrap())
        };
        for text in [
            "Forbidden: bot was blocked by the user",
            "Forbidden: user is deactivated",
            "Forbidden: bot can't initiate conversation with a user",
            "Bad Request: chat not found",
        ] {
            assert!(
                matches!(
                    classify(&api(text), token),
                    SendOutcome::Undeliverable { .. }
                ),
                "{text}"
            );
        }
        // A refused token is the channel's outage, not the request's fault: held back.
        assert!(matches!(
            classify(&api("Unauthorized"), token),
            SendOutcome::Defer { .. }
        ));
        assert!(matches!(
            classify(&api("Bad Request: message is too long"), token),
            SendOutcome::Failed { .. }
        ));
        assert!(matches!(
            classify(&api("Bad Gateway"), token),
            SendOutcome::Retry { after: None, .. }
        ));
        assert_eq!(
            classify(
                &RequestError::RetryAfter(teloxide_core::types::Seconds::from_seconds(7)),
                token
            ),
            SendOutcome::Retry {
                after: Some(Duration::from_secs(7)),
                reason: "Too Many Requests: retry after 7".into()
            }
        );
    }
}
