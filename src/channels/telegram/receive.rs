//! The Telegram channel's way in: taps on rating buttons and text replies become answers.

use rateline_domain::ErrorCode;
use std::sync::Arc;
use std::time::Duration;

use rateline_adapters::outbound::Policy;
use rateline_adapters::phrases::Phrases;
use rateline_adapters::telegram::{
    self as tg, BotApiError, CardAction, Inbound, TelegramBot, rating_label,
};
use rateline_adapters::text::parse_text_answer;
use rateline_domain::{Channel, RatingAnswer, RequestStatus};
use teloxide_core::types::{InlineKeyboardMarkup, Update};
use tokio_util::sync::CancellationToken;

use super::send::TelegramAdapter;
use crate::engine::{Engine, EngineError};
use crate::settings::{TelegramMode, TelegramSettings};
use crate::store::{AnswerTarget, RatingRecord, StoreError};

/// The Telegram channel of one server: its bot and what it needs to take answers.
pub struct Telegram {
    engine: Engine,
    bot: Arc<TelegramBot>,
    token: String,
    webhook_secret: Option<String>,
    webhook_url: Option<String>,
    mode: TelegramMode,
    poll: Duration,
    policy: Policy,
}

impl Telegram {
    /// The Telegram channel as `settings` set it: sends under `policy`, each within `send_timeout`,
    /// and answers into `engine`.
    pub fn new(
        settings: &TelegramSettings,
        send_timeout: Duration,
        engine: Engine,
        policy: &Policy,
    ) -> Self {
        Self {
            engine,
            bot: Arc::new(bot(settings, send_timeout, policy)),
            policy: policy.clone(),
            token: settings.token.clone(),
            webhook_secret: settings.webhook_secret.clone(),
            webhook_url: settings.webhook_url.clone(),
            mode: settings.mode,
            poll: Duration::from_secs(settings.poll_timeout_seconds),
        }
    }

    /// The adapter that sends through the bot.
    pub fn adapter(&self) -> Arc<TelegramAdapter> {
        Arc::new(TelegramAdapter::new(self.bot.clone()))
    }

    /// How updates reach the server: Telegram's webhook, or long polling.
    pub fn mode(&self) -> TelegramMode {
        self.mode
    }

    /// Registers the configured webhook URL with Telegram, so updates start arriving. A
    /// failure is logged, not fatal: Telegram keeps the previous webhook, if any.
    pub async fn register_webhook(&self) {
        let (Some(url), Some(secret)) = (&self.webhook_url, &self.webhook_secret) else {
            return;
        };
        let Ok(parsed) = url::Url::parse(url) else {
            return;
        };
        match self.bot.set_webhook(parsed, secret).await {
            Ok(()) => tracing::info!(%url, "telegram webhook registered"),
            Err(e) => tracing::error!(error = %e, %url, "could not register the telegram webhook"),
        }
    }

    /// Asks the Bot API who the bot is: see [`check_token`].
    pub async fn check_token(&self) -> Result<Option<String>, String> {
        check_token(&self.bot).await
    }

    /// Whether a webhook call's `X-Telegram-Bot-Api-Secret-Token` (`given`) is the
    /// configured secret (compared in constant time).
    pub fn authorized(&self, given: Option<&[u8]>) -> bool {
        let (Some(expected), Some(given)) = (&self.webhook_secret, given) else {
            return false;
        };
        crate::channels::secret_matches(expected, given)
    }

    /// Handles one update. Only an unreachable database is an error: the update is then
    /// refused and comes again. Any other store failure would fail the same way every
    /// time, so it is logged and the update let go rather than block every one after it.
    /// A Bot API failure after the answer was stored is logged.
    pub async fn handle(&self, update: &Update) -> Result<(), StoreError> {
        match self.dispatch(update).await {
            Err(StoreError::Unavailable(e)) => Err(StoreError::Unavailable(e)),
            Err(e) => {
                tracing::error!(update_id = update.id.0, error = %e, "a telegram update could not be handled; it is skipped");
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }

    async fn dispatch(&self, update: &Update) -> Result<(), StoreError> {
        match Inbound::from_update(update) {
            Inbound::Tap {
                callback_id,
                from,
                message,
                data,
            } => {
                self.on_tap(&callback_id, from, message, data.as_deref())
                    .await
            }
            Inbound::Text {
                chat,
                from,
                text,
                date,
            } if chat == from => self.on_text(chat, &text, date).await,
            Inbound::Text { .. } => Ok(()),
            Inbound::Ignored(why) => {
                tracing::debug!(update_id = update.id.0, why, "telegram update ignored");
                Ok(())
            }
        }
    }

    async fn toast(&self, callback_id: &str, text: &str) {
        if let Err(e) = self.bot.answer_callback(callback_id, text).await {
            // Telegram forgets a query after about 15 s; the answer itself is stored.
            tracing::info!(error = %e, "could not answer a callback query");
        }
    }

    async fn on_tap(
        &self,
        callback_id: &str,
        from: i64,
        message: Option<(i64, i32)>,
        data: Option<&str>,
    ) -> Result<(), StoreError> {
        let english = Phrases::for_language("en");
        let decoded = data.map(|d| self.bot.signer().decode(d));
        let Some(Ok((request_id, action))) = decoded else {
            tracing::warn!(
                from,
                "a tap with callback data Rateline did not sign: refused"
            );
            self.toast(callback_id, english.invalid_button).await;
            return Ok(());
        };
        let Some(target) = self.engine.answer_target(&request_id).await? else {
            self.toast(callback_id, english.invalid_button).await;
            return Ok(());
        };
        let p = Phrases::for_language(&target.line.rating.language);
        let client = target.client_id.as_str();
        let in_its_chat = message.is_none_or(|(chat, _)| chat.to_string() == client);
        if target.request.channel != Channel::Telegram || from.to_string() != client || !in_its_chat
        {
            tracing::warn!(%request_id, from, "a tap from another user or chat: refused, nothing stored");
            self.toast(callback_id, p.not_yours).await;
            return Ok(());
        }
        let answer = match (action, &target.rating) {
            (CardAction::Rate(value), _) => RatingAnswer {
                request_id: request_id.to_string(),
                value,
                comment: None,
                resolved: None,
                reasons: None,
            },
            (CardAction::Resolved(resolved), Some(r)) => RatingAnswer {
                request_id: request_id.to_string(),
                value: r.value,
                comment: None,
                resolved: Some(resolved),
                reasons: None,
            },
            // A reason switched on or off: only the card changes, nothing is stored.
            (
                CardAction::Reasons {
                    picked,
                    done: false,
                },
                Some(r),
            ) if self.awaits_reasons(&target, r) => {
                self.toast(callback_id, "").await;
                if let Some((chat, message_id)) = message {
                    let (text, keyboard) = self.card(&target, r, picked);
                    self.edit(chat, message_id, &text, keyboard).await;
                }
                return Ok(());
            }
            (CardAction::Reasons { picked, done: true }, Some(r))
                if self.awaits_reasons(&target, r) =>
            {
                RatingAnswer {
                    request_id: request_id.to_string(),
                    value: r.value,
                    comment: None,
                    resolved: None,
                    reasons: Some(crate::channels::picked_reasons(&target.line.rating, picked)),
                }
            }
            (CardAction::Resolved(_) | CardAction::Reasons { .. }, _) => {
                self.toast(callback_id, p.not_answerable).await;
                return Ok(());
            }
        };
        let (toast, rating) = match self.engine.submit_rating(answer).await {
            Ok(s) => (target.line.rating.thanks_text.as_str(), Some(s.rating)),
            Err(EngineError::Store(e)) => return Err(e),
            Err(e) => (refusal(p, &e), target.rating.clone()),
        };
        self.toast(callback_id, toast).await;
        if let Some((chat, message_id)) = message {
            let (text, keyboard) = match &rating {
                Some(r) => self.card(&target, r, 0),
                // Never answered and no longer answerable: the buttons go.
                None => (target.line.rating.request_text.clone(), None),
            };
            self.edit(chat, message_id, &text, keyboard).await;
        }
        Ok(())
    }

    /// One piece: one match over what the typed message answers (the reasons, the comment, or
    /// the rating itself), each arm the answer it submits and the reply it gets.
    async fn on_text(
        &self,
        chat: i64,
        text: &str,
        date: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let Some(target) = self
            .engine
            .latest_answer_target(Channel::Telegram, &chat.to_string())
            .await?
        else {
            return Ok(());
        };
        let p = Phrases::for_language(&target.line.rating.language);
        let request_id = target.request.id.clone();
        match &target.rating {
            // Reasons typed as their numbers; other text, where the line asks for a comment,
            // is the comment, and the reasons are left unpicked. (Only a message written
            // after the rating, as below.)
            Some(r)
                if self.awaits_reasons(&target, r)
                    && date.timestamp() > r.updated_at.timestamp() =>
            {
                let typed = crate::channels::typed_reasons(&target.line.rating, text);
                if typed.is_none() && !target.line.rating.ask_comment_on_low {
                    return Ok(());
                }
                let answer = RatingAnswer {
                    request_id: request_id.into(),
                    value: r.value,
                    comment: typed.is_none().then(|| crate::channels::comment_of(text)),
                    resolved: None,
                    reasons: Some(typed.unwrap_or_default()),
                };
                let commented = answer.comment.is_some();
                match self.engine.submit_rating(answer).await {
                    Ok(_) if commented => self.reply(chat, p.comment_thanks, None).await,
                    Ok(s) => {
                        let (text, keyboard) = self.card(&target, &s.rating, 0);
                        self.reply(chat, &text, keyboard).await;
                    }
                    Err(EngineError::Store(e)) => return Err(e),
                    Err(e) => tracing::info!(error = %e, "reasons were not stored"),
                }
            }
            // Only a message written after the rating: the text that gave the rating,
            // delivered again, must not become its comment. (Telegram dates messages in
            // whole seconds, hence the rating's time is cut to its second.)
            Some(r)
                if self.awaits_comment(&target, r)
                    && date.timestamp() > r.updated_at.timestamp() =>
            {
                let answer = RatingAnswer {
                    request_id: request_id.into(),
                    value: r.value,
                    comment: Some(crate::channels::comment_of(text)),
                    resolved: None,
                    reasons: None,
                };
                match self.engine.submit_rating(answer).await {
                    Ok(_) => self.reply(chat, p.comment_thanks, None).await,
                    Err(EngineError::Store(e)) => return Err(e),
                    Err(e) => tracing::info!(error = %e, "a comment was not stored"),
                }
            }
            None if matches!(
                target.request.status,
                RequestStatus::Sending | RequestStatus::Sent | RequestStatus::Delivered
            ) =>
            {
                let Some(value) = parse_text_answer(target.request.scale, text) else {
                    return Ok(());
                };
                let answer = RatingAnswer {
                    request_id: request_id.into(),
                    value,
                    comment: None,
                    resolved: None,
                    reasons: None,
                };
                let rating = match self.engine.submit_rating(answer).await {
                    Ok(s) => s.rating,
                    Err(EngineError::Store(e)) => return Err(e),
                    Err(e) => {
                        self.reply(chat, refusal(p, &e), None).await;
                        return Ok(());
                    }
                };
                // The card's buttons go, and the follow-up (or the thanks) comes as a reply
                // right under the client's text, where they are looking.
                if let Some(message_id) = target
                    .request
                    .platform_message_id
                    .as_deref()
                    .and_then(|m| m.parse().ok())
                {
                    let rated = format!(
                        "{}\n\n{}: {}",
                        target.line.rating.request_text,
                        p.your_rating,
                        rating_label(target.request.scale, rating.value)
                    );
                    self.edit(chat, message_id, &rated, None).await;
                }
                let (text, keyboard) = self.card(&target, &rating, 0);
                self.reply(chat, &text, keyboard).await;
            }
            // A message that is not about a rating: the conversation's, not ours.
            _ => {}
        }
        Ok(())
    }

    /// A low rating on a line that lists reasons, their reasons not yet picked, recent
    /// enough.
    fn awaits_reasons(&self, target: &AnswerTarget, r: &RatingRecord) -> bool {
        r.low
            && !target.line.rating.low_reasons.is_empty()
            && r.reasons.is_none()
            && self.engine.now() - r.updated_at <= crate::channels::FOLLOW_UP_WINDOW
    }

    /// A low rating on a line that asks for a comment, not yet commented, its reasons (if
    /// the line lists any) picked, recent enough.
    fn awaits_comment(&self, target: &AnswerTarget, r: &RatingRecord) -> bool {
        r.low
            && target.line.rating.ask_comment_on_low
            && r.comment.is_none()
            && (r.reasons.is_some() || target.line.rating.low_reasons.is_empty())
            && self.engine.now() - r.updated_at <= crate::channels::FOLLOW_UP_WINDOW
    }

    /// A rated card: the question, the answers so far, and the next follow-up (with the
    /// reasons in `picked` ticked, when it is the reasons) or the thanks.
    fn card(
        &self,
        target: &AnswerTarget,
        r: &RatingRecord,
        picked: u8,
    ) -> (String, Option<InlineKeyboardMarkup>) {
        let settings = &target.line.rating;
        let p = Phrases::for_language(&settings.language);
        let mut text = format!(
            "{}\n\n{}: {}",
            settings.request_text,
            p.your_rating,
            rating_label(target.request.scale, r.value)
        );
        if let Some(resolved) = r.resolved {
            let answer = if resolved { p.yes } else { p.no };
            text.push_str(&format!("\n{} {answer}", p.resolved_question));
        }
        if let Some(reasons) = r.reasons.as_ref().filter(|r| !r.is_empty()) {
            let texts: Vec<&str> = reasons.iter().map(|id| settings.reason_text(id)).collect();
            text.push_str(&format!("\n{}: {}", p.reasons, texts.join(", ")));
        }
        let mut keyboard = None;
        if settings.ask_resolved && r.resolved.is_none() {
            text.push_str(&format!("\n\n{}", p.resolved_question));
            keyboard = tg::resolved_keyboard(self.bot.signer(), &r.request_id, p.yes, p.no);
        } else if self.awaits_reasons(target, r) {
            text.push_str(&format!("\n\n{}", p.reasons_prompt));
            let texts: Vec<&str> = settings
                .low_reasons
                .iter()
                .map(|r| r.text.as_str())
                .collect();
            keyboard =
                tg::reasons_keyboard(self.bot.signer(), &r.request_id, &texts, picked, p.done);
        } else if self.awaits_comment(target, r) {
            text.push_str(&format!("\n\n{}", p.comment_prompt));
        } else {
            text.push_str(&format!("\n\n{}", settings.thanks_text));
        }
        (text, keyboard)
    }

    async fn edit(
        &self,
        chat: i64,
        message_id: i32,
        text: &str,
        keyboard: Option<InlineKeyboardMarkup>,
    ) {
        if let Err(e) = self.bot.edit_card(chat, message_id, text, keyboard).await {
            tracing::warn!(error = %e, "could not update the rating card");
        }
    }

    async fn reply(&self, chat: i64, text: &str, keyboard: Option<InlineKeyboardMarkup>) {
        if let Err(e) = self.bot.send_text(chat, text, keyboard).await {
            tracing::warn!(error = %e, "could not reply in the chat");
        }
    }

    /// Long polling: asks for updates, handles each, and confirms it by asking past it.
    /// An update whose answer could not be stored is asked for again.
    pub async fn poll(self: Arc<Self>, stop: CancellationToken) {
        let bot = self
            .bot
            .bot_with_client(tg::polling_client(&self.policy, self.poll));
        if let Err(e) = tg::delete_webhook(&bot, &self.token).await {
            tracing::warn!(error = %e, "could not remove the bot's webhook before polling");
        }
        tracing::info!("telegram: polling for updates");
        let mut offset = 0;
        let mut pause = Duration::from_secs(1);
        while !stop.is_cancelled() {
            let updates = tokio::select! {
                u = tg::get_updates(&bot, &self.token, offset, self.poll) => u,
                _ = stop.cancelled() => break,
            };
            let wait = match updates {
                Ok(updates) => match self.handle_batch(&updates, &mut offset).await {
                    Ok(()) => {
                        pause = Duration::from_secs(1);
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not store a telegram update; asking for it again");
                        pause
                    }
                },
                Err(e) => {
                    log_poll_error(&e);
                    pause
                }
            };
            pause = (pause * 2).min(Duration::from_secs(30));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.cancelled() => break,
            }
        }
        // Confirm what was handled, or the last batch comes again after a restart.
        if offset > 0
            && let Err(e) = tg::get_updates(&bot, &self.token, offset, Duration::ZERO).await
        {
            tracing::warn!(error = %e, "could not confirm the last telegram updates");
        }
        tracing::info!("telegram: polling stopped");
    }

    async fn handle_batch(&self, updates: &[Update], offset: &mut i32) -> Result<(), StoreError> {
        for update in updates {
            self.handle(update).await?;
            *offset = (*offset).max(update.id.0 as i32 + 1);
        }
        Ok(())
    }
}

/// The bot the settings describe; its HTTP client times out with the sends.
pub fn bot(settings: &TelegramSettings, send_timeout: Duration, policy: &Policy) -> TelegramBot {
    // The policy follows no redirect: one would carry the token in its path.
    let client = policy
        .client(send_timeout)
        .build()
        .expect("the HTTP client builds with static settings");
    let signer = tg::CallbackSigner::new(
        settings
            .callback_secret
            .as_deref()
            .unwrap_or(&settings.token),
    );
    let rate =
        std::num::NonZeroU32::new(settings.max_per_second).unwrap_or(std::num::NonZeroU32::MIN);
    let api_url = url::Url::parse(settings.api_url.trim_end_matches('/'))
        .expect("telegram.api_url was checked when the settings were loaded");
    TelegramBot::new(
        &settings.token,
        api_url,
        client,
        signer,
        tg::SendLimits::new(rate),
        send_timeout,
    )
}

/// Asks the Bot API who the bot is (`getMe`) and returns its username. A refused token
/// is an error; Telegram being unreachable is not (sends are retried anyway), only a
/// warning.
pub async fn check_token(bot: &TelegramBot) -> Result<Option<String>, String> {
    match bot.get_me().await {
        Ok(me) => Ok(me.user.username),
        Err(e) if e.invalid_token => Err(format!(
            "telegram.token was refused by the Bot API (getMe: {e}); copy the token from @BotFather again"
        )),
        Err(e) => {
            tracing::warn!(error = %e, "could not check the Telegram bot token; sends will be retried");
            Ok(None)
        }
    }
}

fn log_poll_error(e: &BotApiError) {
    if e.message.contains("webhook is active") {
        tracing::error!(error = %e, "the bot has a webhook again: remove it, or use telegram.mode = \"webhook\"");
    } else if e.message.starts_with("Conflict") {
        tracing::error!(error = %e, "another process polls this bot: only one may (use webhook mode with several servers)");
    } else {
        tracing::warn!(error = %e, "telegram getUpdates failed; trying again");
    }
}

/// What a client is told when an answer was refused.
fn refusal(p: &'static Phrases, e: &EngineError) -> &'static str {
    match e {
        EngineError::Gone { .. } => p.window_closed,
        EngineError::Conflict {
            code: ErrorCode::ChangeLimitReached | ErrorCode::ChangeWindowClosed,
            ..
        } => p.change_refused,
        EngineError::Conflict { .. } => p.not_answerable,
        _ => p.invalid_button,
    }
}
