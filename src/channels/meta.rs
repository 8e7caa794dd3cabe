//! The Meta channels' inbound side: `GET /channels/meta/webhook` answers Meta's
//! verification; `POST` takes Messenger, Instagram and WhatsApp events.
//!
//! A POST is checked against `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the
//! app secret, in constant time) before anything is parsed: a bad or missing signature is
//! a 401 and nothing is stored. Every client message reopens Meta's 24-hour window for
//! that client; a tapped button (quick reply, postback, reply button, list row, template
//! quick reply) or a text reply answers the client's request; WhatsApp statuses move a
//! request to `delivered`, or end it when the message failed after it was accepted.
//! Handling is idempotent, so Meta's redeliveries change nothing.

use rateline_domain::ErrorCode;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rateline_adapters::meta::{MetaAdapter, MetaEvent};
use rateline_adapters::phrases::Phrases;
use rateline_adapters::signed::{CallbackSigner, CardAction};
use rateline_adapters::text::parse_text_answer;
use rateline_adapters::{SendOutcome, webhook};
use rateline_domain::{Channel, RatingAnswer, RequestStatus};

use crate::engine::{Engine, EngineError};
use crate::settings::MetaSettings;
use crate::store::{AnswerTarget, PlatformStatus, RatingRecord, StoreError};

/// WhatsApp's code for a message sent outside the 24-hour window.
const WHATSAPP_WINDOW_CLOSED: i64 = 131047;

/// The Meta channels of one server.
pub struct Meta {
    engine: Engine,
    app_secret: String,
    verify_token: String,
    adapters: HashMap<Channel, Arc<MetaAdapter>>,
    signer: CallbackSigner,
}

impl Meta {
    /// The settings were checked at load: the app secret and verify token are set.
    pub fn new(
        settings: &MetaSettings,
        send_timeout: Duration,
        engine: Engine,
        policy: &rateline_adapters::outbound::Policy,
    ) -> Self {
        let app_secret = settings.app_secret.clone().unwrap_or_default();
        let signer =
            CallbackSigner::new(settings.callback_secret.as_deref().unwrap_or(&app_secret));
        let http = policy
            .client(send_timeout)
            .build()
            .expect("the HTTP client builds with static settings");
        let adapters = settings
            .accounts()
            .into_iter()
            .map(|(channel, id, token)| {
                let adapter = MetaAdapter::new(
                    channel,
                    &settings.graph_url,
                    &settings.graph_version,
                    id,
                    token,
                    http.clone(),
                    signer.clone(),
                );
                (channel, Arc::new(adapter))
            })
            .collect();
        Self {
            engine,
            app_secret,
            verify_token: settings.verify_token.clone().unwrap_or_default(),
            adapters,
            signer,
        }
    }

    pub fn adapters(&self) -> impl Iterator<Item = Arc<MetaAdapter>> + '_ {
        self.adapters.values().cloned()
    }

    /// Handles every event of one webhook call, each on its own. Only an unreachable
    /// database is an error: the call is then refused with a 503 and Meta delivers it again
    /// (the events already handled change nothing the second time). Any other failure would
    /// repeat on every delivery, so it is logged and that event let go.
    pub async fn handle(&self, events: Vec<MetaEvent>) -> Result<(), StoreError> {
        for event in events {
            match self.handle_one(event).await {
                Err(StoreError::Unavailable(e)) => return Err(StoreError::Unavailable(e)),
                Err(e) => {
                    tracing::error!(error = %e, "a Meta event could not be handled; it is skipped")
                }
                Ok(()) => {}
            }
        }
        Ok(())
    }

    fn ours(&self, channel: Channel, account: &str) -> bool {
        // Events for another Page or number of the same app are not ours.
        self.adapters
            .get(&channel)
            .is_some_and(|a| a.account() == account)
    }

    async fn handle_one(&self, event: MetaEvent) -> Result<(), StoreError> {
        match event {
            MetaEvent::Message {
                channel,
                account,
                sender,
                at,
                payload,
                text,
            } => {
                if !self.ours(channel, &account) {
                    tracing::debug!(%channel, %account, "an event for an account not configured here");
                    return Ok(());
                }
                // A timestamp from the future cannot stretch the window.
                let at = at.min(self.engine.now());
                self.engine.client_wrote(channel, &sender, at).await?;
                if let Some(payload) = payload {
                    self.on_payload(channel, &sender, &payload, at).await
                } else if let Some(text) = text {
                    self.on_text(channel, &sender, &text, at).await
                } else {
                    Ok(())
                }
            }
            MetaEvent::Status {
                account,
                message_id,
                status,
                error,
            } if self.ours(Channel::Whatsapp, &account) => {
                self.on_status(&message_id, &status, error).await
            }
            MetaEvent::Status { .. } => Ok(()),
        }
    }

    async fn on_payload(
        &self,
        channel: Channel,
        sender: &str,
        payload: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        // Payloads of the contact center's own buttons are not Rateline's to judge.
        // Meta's buttons rate or give one reason; a toggle is Telegram's alone.
        let Ok((request_id, action)) = self.signer.decode(payload) else {
            tracing::debug!(%channel, "a button payload Rateline did not sign: ignored");
            return Ok(());
        };
        let Some(target) = self.engine.answer_target(&request_id).await? else {
            return Ok(());
        };
        if target.request.channel != channel || target.client_id != sender {
            tracing::warn!(%request_id, %channel, "an answer from another sender: refused, nothing stored");
            return Ok(());
        }
        // A tap older than the rating's last version is an old delivery coming again
        // after a newer answer: it must not undo it.
        if target.rating.as_ref().is_some_and(|r| at < r.updated_at) {
            tracing::info!(%request_id, "an answer older than the rating's last change: ignored");
            return Ok(());
        }
        match action {
            CardAction::Reasons { picked, done: true } => {
                let ids = super::picked_reasons(&target.line.rating, picked);
                self.give_reasons(channel, sender, &target, ids).await
            }
            CardAction::Rate(value) => {
                self.answer(channel, sender, &request_id, value, &target.line.rating)
                    .await
            }
            CardAction::Resolved(resolved) => {
                self.give_resolved(channel, sender, &target, resolved).await
            }
            CardAction::Reasons { done: false, .. } => Ok(()),
        }
    }

    /// Stores the "resolved?" answer of the target's rating, once, and asks what follows.
    async fn give_resolved(
        &self,
        channel: Channel,
        sender: &str,
        target: &AnswerTarget,
        resolved: bool,
    ) -> Result<(), StoreError> {
        let Some(r) = target
            .rating
            .as_ref()
            .filter(|r| r.resolved.is_none() && target.line.rating.ask_resolved)
        else {
            // Answered already (Meta delivers again), or not asked.
            return Ok(());
        };
        let answer = RatingAnswer {
            request_id: r.request_id.clone(),
            value: r.value,
            comment: None,
            resolved: Some(resolved),
            reasons: None,
        };
        match self.engine.submit_rating(answer).await {
            Ok(s) => {
                self.follow_up(channel, sender, &target.line.rating, &s.rating)
                    .await
            }
            Err(EngineError::Store(e)) => return Err(e),
            Err(e) => tracing::info!(error = %e, "a \"resolved?\" answer was not stored"),
        }
        Ok(())
    }

    /// What follows an answer, as on Telegram's card: "resolved?" where the line asks it,
    /// then a low rating's reasons, then its comment, then the thanks.
    async fn follow_up(
        &self,
        channel: Channel,
        sender: &str,
        line: &rateline_domain::RatingSettings,
        r: &RatingRecord,
    ) {
        let p = Phrases::for_language(&line.language);
        if line.ask_resolved && r.resolved.is_none() {
            let choices: Vec<(String, String)> = [(p.yes, true), (p.no, false)]
                .into_iter()
                .filter_map(|(label, v)| {
                    let payload = self.signer.encode(&r.request_id, CardAction::Resolved(v))?;
                    Some((label.to_owned(), payload))
                })
                .collect();
            if let Some(adapter) = self.adapters.get(&channel) {
                match adapter
                    .post_choices(sender, p.resolved_question, &choices, p.resolved_question)
                    .await
                {
                    SendOutcome::Accepted { .. } => {}
                    other => {
                        tracing::warn!(outcome = ?other, "could not ask whether it was resolved")
                    }
                }
            }
        } else if awaits_reasons(line, r) {
            self.ask_reasons(channel, sender, &r.request_id, line).await;
        } else if awaits_comment(line, r) {
            self.reply(channel, sender, p.comment_prompt).await;
        } else {
            self.reply(channel, sender, &line.thanks_text).await;
        }
    }

    /// A low rating on a line that lists reasons, their reasons not yet given.
    fn awaits_reasons(target: &AnswerTarget) -> Option<&RatingRecord> {
        target
            .rating
            .as_ref()
            .filter(|r| awaits_reasons(&target.line.rating, r))
    }

    /// Stores the reasons of the target's low rating, once, and thanks the client.
    async fn give_reasons(
        &self,
        channel: Channel,
        sender: &str,
        target: &AnswerTarget,
        reasons: Vec<String>,
    ) -> Result<(), StoreError> {
        let Some(r) = Self::awaits_reasons(target) else {
            // Given already (Meta delivers again), or the rating is no longer low.
            return Ok(());
        };
        let answer = RatingAnswer {
            request_id: r.request_id.clone(),
            value: r.value,
            comment: None,
            resolved: None,
            reasons: Some(reasons),
        };
        match self.engine.submit_rating(answer).await {
            Ok(s) => {
                self.follow_up(channel, sender, &target.line.rating, &s.rating)
                    .await
            }
            Err(EngineError::Store(e)) => return Err(e),
            Err(e) => tracing::info!(error = %e, "reasons were not stored"),
        }
        Ok(())
    }

    /// Asks for the reasons of a low rating: a choice per reason (one tap gives one), and
    /// their numbers typed for several.
    async fn ask_reasons(
        &self,
        channel: Channel,
        sender: &str,
        request_id: &str,
        line: &rateline_domain::RatingSettings,
    ) {
        let p = Phrases::for_language(&line.language);
        let mut text = p.reasons_prompt.to_owned();
        let mut choices = Vec::new();
        for (i, reason) in line.low_reasons.iter().take(8).enumerate() {
            text.push_str(&format!("\n{}. {}", i + 1, reason.text));
            let picked = CardAction::Reasons {
                picked: 1u8 << i,
                done: true,
            };
            if let Some(payload) = self.signer.encode(request_id, picked) {
                choices.push((reason.text.clone(), payload));
            }
        }
        text.push_str(&format!("\n{}", p.reasons_by_number));
        if let Some(adapter) = self.adapters.get(&channel) {
            match adapter
                .post_choices(sender, &text, &choices, p.reasons)
                .await
            {
                SendOutcome::Accepted { .. } => {}
                other => tracing::warn!(outcome = ?other, "could not ask the client for reasons"),
            }
        }
    }

    async fn reply(&self, channel: Channel, sender: &str, text: &str) {
        if let Some(adapter) = self.adapters.get(&channel) {
            match adapter.post_text(sender, text).await {
                SendOutcome::Accepted { .. } => {}
                other => tracing::warn!(outcome = ?other, "could not reply to the client"),
            }
        }
    }

    async fn on_text(
        &self,
        channel: Channel,
        sender: &str,
        text: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let Some(target) = self.engine.latest_answer_target(channel, sender).await? else {
            return Ok(());
        };
        // Reasons typed by their numbers, soon after the low rating.
        if let Some(r) = Self::awaits_reasons(&target)
            && at >= r.updated_at
            && at - r.updated_at <= super::FOLLOW_UP_WINDOW
            && let Some(ids) = super::typed_reasons(&target.line.rating, text)
        {
            return self.give_reasons(channel, sender, &target, ids).await;
        }
        // A comment, where the line asks for one on a low rating: a message written after
        // the rating (not the text that gave it, delivered again), soon after.
        if let Some(r) = target.rating.as_ref().filter(|r| {
            awaits_comment(&target.line.rating, r)
                && at > r.updated_at
                && at - r.updated_at <= super::FOLLOW_UP_WINDOW
        }) {
            let answer = RatingAnswer {
                request_id: r.request_id.clone(),
                value: r.value,
                comment: Some(super::comment_of(text)),
                resolved: None,
                reasons: None,
            };
            let p = Phrases::for_language(&target.line.rating.language);
            match self.engine.submit_rating(answer).await {
                Ok(_) => self.reply(channel, sender, p.comment_thanks).await,
                Err(EngineError::Store(e)) => return Err(e),
                Err(e) => tracing::info!(error = %e, "a comment was not stored"),
            }
            return Ok(());
        }
        // Only a text written after the request was sent can answer it.
        let open = target.rating.is_none()
            && target.request.sent_at.is_none_or(|sent| at >= sent)
            && matches!(
                target.request.status,
                RequestStatus::Sending | RequestStatus::Sent | RequestStatus::Delivered
            );
        let Some(value) = parse_text_answer(target.request.scale, text).filter(|_| open) else {
            return Ok(());
        };
        self.answer(
            channel,
            sender,
            &target.request.id,
            value,
            &target.line.rating,
        )
        .await
    }

    /// Stores the answer and thanks the client; a repeat (Meta redelivers) is silent.
    async fn answer(
        &self,
        channel: Channel,
        sender: &str,
        request_id: &str,
        value: i64,
        line: &rateline_domain::RatingSettings,
    ) -> Result<(), StoreError> {
        let answer = RatingAnswer {
            request_id: request_id.to_owned(),
            value,
            comment: None,
            resolved: None,
            reasons: None,
        };
        let p = Phrases::for_language(&line.language);
        let reply = match self.engine.submit_rating(answer).await {
            // What the line asks after an answer comes before the thanks.
            Ok(s) if s.changed => {
                self.follow_up(channel, sender, line, &s.rating).await;
                return Ok(());
            }
            Ok(_) => return Ok(()),
            Err(EngineError::Store(e)) => return Err(e),
            Err(EngineError::Gone { .. }) => p.window_closed,
            Err(EngineError::Conflict {
                code: ErrorCode::ChangeLimitReached | ErrorCode::ChangeWindowClosed,
                ..
            }) => p.change_refused,
            Err(e) => {
                tracing::info!(error = %e, %request_id, "an answer was not stored");
                return Ok(());
            }
        };
        self.reply(channel, sender, reply).await;
        Ok(())
    }

    async fn on_status(
        &self,
        message_id: &str,
        status: &str,
        error: Option<(i64, String)>,
    ) -> Result<(), StoreError> {
        let news = match (status, error) {
            ("delivered" | "read", _) => PlatformStatus::Delivered,
            ("failed", Some((WHATSAPP_WINDOW_CLOSED, title))) => PlatformStatus::Failed {
                status: RequestStatus::WindowClosed,
                error: format!("WhatsApp error {WHATSAPP_WINDOW_CLOSED}: {title}"),
            },
            // The client cannot be reached: the same codes as a refused send.
            ("failed", Some((code @ (131026 | 131049 | 131050), title))) => {
                PlatformStatus::Failed {
                    status: RequestStatus::Undeliverable,
                    error: format!("WhatsApp error {code}: {title}"),
                }
            }
            ("failed", Some((code, title))) => PlatformStatus::Failed {
                status: RequestStatus::Failed,
                error: format!("WhatsApp error {code}: {title}"),
            },
            ("failed", None) => PlatformStatus::Failed {
                status: RequestStatus::Failed,
                error: "WhatsApp reported the message failed, without a code".into(),
            },
            _ => return Ok(()),
        };
        let changed = self.engine.platform_status(message_id, &news).await?;
        if let Some((request_id, status)) = changed {
            tracing::info!(%request_id, %status, "WhatsApp status applied");
        }
        Ok(())
    }
}

impl Meta {
    /// Whether `token` is `meta.verify_token` (Meta's subscription check).
    pub fn verify_token_matches(&self, token: &str) -> bool {
        super::secret_matches(&self.verify_token, token.as_bytes())
    }

    /// Whether `signature` (`X-Hub-Signature-256`) signs `body` with the app secret.
    pub fn signed(&self, body: &[u8], signature: &str) -> bool {
        webhook::verify(self.app_secret.as_bytes(), body, signature)
    }
}

/// A low rating on a line that lists reasons, its reasons not yet given.
fn awaits_reasons(line: &rateline_domain::RatingSettings, r: &RatingRecord) -> bool {
    r.low && r.reasons.is_none() && !line.low_reasons.is_empty()
}

/// A low rating on a line that asks for a comment, not yet commented, its reasons (where the
/// line lists any) given.
fn awaits_comment(line: &rateline_domain::RatingSettings, r: &RatingRecord) -> bool {
    r.low
        && line.ask_comment_on_low
        && r.comment.is_none()
        && (r.reasons.is_some() || line.low_reasons.is_empty())
}
