//! A rating asked as a conversation, one message at a time: the rating, then "resolved?"
//! where the line asks it, then a low rating's reasons, then its comment, then the thanks.
//! Meta's channels, Chatwoot's and Zammad's ask this way; each says its messages through
//! a [`Chat`] of its own (a Graph API call, a message in a helpdesk's conversation), and
//! the answers come back as a tapped choice ([`CardAction`]) or typed text.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rateline_adapters::SendOutcome;
use rateline_adapters::phrases::Phrases;
use rateline_adapters::signed::{CallbackSigner, CardAction};
use rateline_adapters::text::parse_text_answer;
use rateline_domain::{ErrorCode, RatingAnswer, RatingSettings, RequestId, RequestStatus};

use crate::engine::{Engine, EngineError};
use crate::store::{AnswerTarget, RatingRecord, StoreError};

/// One client's conversation, as a dialogue speaks into it.
#[async_trait]
pub trait Chat: Send + Sync {
    /// `text` with a choice per `(label, payload)`; `list_label` names the button that opens
    /// a list where the platform shows one.
    async fn choices(
        &self,
        text: &str,
        choices: &[(String, String)],
        list_label: &str,
    ) -> SendOutcome;

    /// Plain text.
    async fn say(&self, text: &str) -> SendOutcome;
}

/// The dialogue of one server: the engine the answers go to, and the key buttons are
/// signed with.
pub struct Dialogue {
    engine: Engine,
    signer: CallbackSigner,
}

impl Dialogue {
    /// The dialogue that answers into `engine`, its buttons signed with `signer`.
    pub fn new(engine: Engine, signer: CallbackSigner) -> Self {
        Self { engine, signer }
    }

    /// What the buttons are signed with, and so what a tap is checked with.
    pub fn signer(&self) -> &CallbackSigner {
        &self.signer
    }

    /// A tapped choice, its payload checked and its sender found to be the request's client
    /// by the caller. A tap older than the rating's last version is an old delivery coming
    /// again after a newer answer: it must not undo it.
    pub async fn on_action(
        &self,
        chat: &dyn Chat,
        target: &AnswerTarget,
        action: CardAction,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if target.rating.as_ref().is_some_and(|r| at < r.updated_at) {
            tracing::info!(request_id = %target.request.id, "an answer older than the rating's last change: ignored");
            return Ok(());
        }
        match action {
            CardAction::Reasons { picked, done: true } => {
                let ids = super::picked_reasons(&target.line.rating, picked);
                self.give_reasons(chat, target, ids).await
            }
            CardAction::Rate(value) => self.answer(chat, target, value).await,
            CardAction::Resolved(resolved) => self.give_resolved(chat, target, resolved).await,
            // A toggle is Telegram's card alone.
            CardAction::Reasons { done: false, .. } => Ok(()),
        }
    }

    /// A client's text in the conversation of `target`'s request, written at `at`. Returns
    /// whether it answered something (the rating, "resolved?", the reasons, the comment);
    /// text that answers nothing is the client's own and is left to the conversation.
    pub async fn on_text(
        &self,
        chat: &dyn Chat,
        target: &AnswerTarget,
        text: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let line = &target.line.rating;
        let p = Phrases::for_language(&line.language);
        let recent = |r: &RatingRecord| recent(r, at);
        // "Resolved?" answered by typing (or tapping, where a tap comes back as its label).
        if target
            .rating
            .as_ref()
            .is_some_and(|r| line.ask_resolved && r.resolved.is_none() && recent(r))
            && let Some(resolved) = yes_or_no(p, text)
        {
            self.give_resolved(chat, target, resolved).await?;
            return Ok(true);
        }
        // Reasons by their numbers or their labels, soon after the low rating.
        if let Some(r) = target.rating.as_ref().filter(|r| awaits_reasons(line, r))
            && recent(r)
            && let Some(ids) =
                super::typed_reasons(line, text).or_else(|| labelled_reason(line, text))
        {
            self.give_reasons(chat, target, ids).await?;
            return Ok(true);
        }
        // A comment, where the line asks for one on a low rating: a message written after
        // the rating (not the text that gave it, delivered again), soon after.
        if let Some(r) = target.rating.as_ref().filter(|r| comment_due(line, r, at)) {
            let answer = RatingAnswer {
                request_id: r.request_id.to_string(),
                value: r.value,
                comment: Some(super::comment_of(text)),
                resolved: None,
                reasons: None,
            };
            match self.engine.submit_rating(answer).await {
                Ok(_) => say(chat, p.comment_thanks).await,
                Err(EngineError::Store(e)) => return Err(e),
                Err(e) => tracing::info!(error = %e, "a comment was not stored"),
            }
            return Ok(true);
        }
        let open = target.rating.is_none() && takes_rating(target, at);
        let Some(value) = parse_text_answer(target.request.scale, text).filter(|_| open) else {
            return Ok(false);
        };
        self.answer(chat, target, value).await?;
        Ok(true)
    }

    /// Whether the target's request waits for something at `at`: the rating (sent, not yet
    /// answered), or, soon after it, "resolved?", the reasons or the comment.
    pub fn waits(&self, target: &AnswerTarget, at: DateTime<Utc>) -> bool {
        match &target.rating {
            None => unrated(target),
            Some(r) => !finished(&target.line.rating, r) && recent(r, at),
        }
    }

    /// Whether [`Dialogue::on_text`] would take `text` written at `at` as an answer: to one of
    /// the questions, or as the comment a low rating waits for, written soon after it.
    pub fn answers(&self, target: &AnswerTarget, text: &str, at: DateTime<Utc>) -> bool {
        self.answers_a_question(target, text, at)
            || target
                .rating
                .as_ref()
                .is_some_and(|r| comment_due(&target.line.rating, r, at))
    }

    /// Whether `text` written at `at` answers one of the target's questions: the rating,
    /// "resolved?" or the reasons (not the comment, which any text could be).
    pub fn answers_a_question(&self, target: &AnswerTarget, text: &str, at: DateTime<Utc>) -> bool {
        let line = &target.line.rating;
        let p = Phrases::for_language(&line.language);
        let recent = |r: &RatingRecord| recent(r, at);
        match &target.rating {
            Some(r) if line.ask_resolved && r.resolved.is_none() => {
                recent(r) && yes_or_no(p, text).is_some()
            }
            Some(r) if awaits_reasons(line, r) => {
                recent(r)
                    && (super::typed_reasons(line, text).is_some()
                        || labelled_reason(line, text).is_some())
            }
            Some(_) => false,
            None => {
                takes_rating(target, at) && parse_text_answer(target.request.scale, text).is_some()
            }
        }
    }

    /// Stores the "resolved?" answer of the target's rating, once, and asks what follows.
    async fn give_resolved(
        &self,
        chat: &dyn Chat,
        target: &AnswerTarget,
        resolved: bool,
    ) -> Result<(), StoreError> {
        let Some(r) = target
            .rating
            .as_ref()
            .filter(|r| r.resolved.is_none() && target.line.rating.ask_resolved)
        else {
            // Answered already (a platform delivers again), or not asked.
            return Ok(());
        };
        let answer = RatingAnswer {
            request_id: r.request_id.to_string(),
            value: r.value,
            comment: None,
            resolved: Some(resolved),
            reasons: None,
        };
        match self.engine.submit_rating(answer).await {
            Ok(s) => self.follow_up(chat, &target.line.rating, &s.rating).await,
            Err(EngineError::Store(e)) => return Err(e),
            Err(e) => tracing::info!(error = %e, "a \"resolved?\" answer was not stored"),
        }
        Ok(())
    }

    /// Stores the reasons of the target's low rating, once, and asks what follows.
    async fn give_reasons(
        &self,
        chat: &dyn Chat,
        target: &AnswerTarget,
        reasons: Vec<String>,
    ) -> Result<(), StoreError> {
        let Some(r) = target
            .rating
            .as_ref()
            .filter(|r| awaits_reasons(&target.line.rating, r))
        else {
            // Given already (a platform delivers again), or the rating is no longer low.
            return Ok(());
        };
        let answer = RatingAnswer {
            request_id: r.request_id.to_string(),
            value: r.value,
            comment: None,
            resolved: None,
            reasons: Some(reasons),
        };
        match self.engine.submit_rating(answer).await {
            Ok(s) => self.follow_up(chat, &target.line.rating, &s.rating).await,
            Err(EngineError::Store(e)) => return Err(e),
            Err(e) => tracing::info!(error = %e, "reasons were not stored"),
        }
        Ok(())
    }

    /// Stores the answer and asks what follows; a repeat (a platform redelivers) is silent.
    async fn answer(
        &self,
        chat: &dyn Chat,
        target: &AnswerTarget,
        value: i64,
    ) -> Result<(), StoreError> {
        let request_id = &target.request.id;
        let line = &target.line.rating;
        let answer = RatingAnswer {
            request_id: request_id.to_string(),
            value,
            comment: None,
            resolved: None,
            reasons: None,
        };
        let p = Phrases::for_language(&line.language);
        let reply = match self.engine.submit_rating(answer).await {
            // What the line asks after an answer comes before the thanks.
            Ok(s) if s.changed => {
                self.follow_up(chat, line, &s.rating).await;
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
        say(chat, reply).await;
        Ok(())
    }

    /// What follows an answer, as on Telegram's card: "resolved?" where the line asks it,
    /// then a low rating's reasons, then its comment, then the thanks.
    async fn follow_up(&self, chat: &dyn Chat, line: &RatingSettings, r: &RatingRecord) {
        let p = Phrases::for_language(&line.language);
        if line.ask_resolved && r.resolved.is_none() {
            let choices: Vec<(String, String)> = [(p.yes, true), (p.no, false)]
                .into_iter()
                .filter_map(|(label, v)| {
                    let payload = self.signer.encode(&r.request_id, CardAction::Resolved(v))?;
                    Some((label.to_owned(), payload))
                })
                .collect();
            match chat
                .choices(p.resolved_question, &choices, p.resolved_question)
                .await
            {
                SendOutcome::Accepted { .. } => {}
                other => tracing::warn!(outcome = ?other, "could not ask whether it was resolved"),
            }
        } else if awaits_reasons(line, r) {
            self.ask_reasons(chat, &r.request_id, line).await;
        } else if awaits_comment(line, r) {
            say(chat, p.comment_prompt).await;
        } else {
            say(chat, &line.thanks_text).await;
        }
    }

    /// Asks for the reasons of a low rating: a choice per reason (one tap gives one), and
    /// their numbers typed for several.
    async fn ask_reasons(&self, chat: &dyn Chat, request_id: &RequestId, line: &RatingSettings) {
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
        match chat.choices(&text, &choices, p.reasons).await {
            SendOutcome::Accepted { .. } => {}
            other => tracing::warn!(outcome = ?other, "could not ask the client for reasons"),
        }
    }
}

async fn say(chat: &dyn Chat, text: &str) {
    match chat.say(text).await {
        SendOutcome::Accepted { .. } => {}
        other => tracing::warn!(outcome = ?other, "could not reply to the client"),
    }
}

/// "Yes" or "no" in the line's language, as a label tapped or typed; `None` for other text.
fn yes_or_no(p: &Phrases, text: &str) -> Option<bool> {
    let t = text.trim().to_lowercase();
    if t == p.yes.to_lowercase() {
        Some(true)
    } else if t == p.no.to_lowercase() {
        Some(false)
    } else {
        None
    }
}

/// The one reason whose label is `text` (a tapped choice that comes back as its label).
fn labelled_reason(line: &RatingSettings, text: &str) -> Option<Vec<String>> {
    let t = text.trim();
    line.low_reasons
        .iter()
        .find(|r| r.text.trim() == t)
        .map(|r| vec![r.id.clone()])
}

/// Whether the dialogue has nothing more to ask about rating `r`.
pub fn finished(line: &RatingSettings, r: &RatingRecord) -> bool {
    (!line.ask_resolved || r.resolved.is_some())
        && !awaits_reasons(line, r)
        && !awaits_comment(line, r)
}

/// A low rating on a line that lists reasons, its reasons not yet given.
pub fn awaits_reasons(line: &RatingSettings, r: &RatingRecord) -> bool {
    r.low && r.reasons.is_none() && !line.low_reasons.is_empty()
}

/// Whether the target's request was sent (or is being sent) and not yet rated.
fn unrated(target: &AnswerTarget) -> bool {
    matches!(
        target.request.status,
        RequestStatus::Sending | RequestStatus::Sent | RequestStatus::Delivered
    )
}

/// Whether a text written at `at` can give the target's rating: the request waits for one,
/// and the text was written after it was sent.
fn takes_rating(target: &AnswerTarget, at: DateTime<Utc>) -> bool {
    target.request.sent_at.is_none_or(|sent| at >= sent) && unrated(target)
}

/// Whether `at` is soon enough after the rating for an answer to its follow-up questions.
fn recent(r: &RatingRecord, at: DateTime<Utc>) -> bool {
    at >= r.updated_at && at - r.updated_at <= super::FOLLOW_UP_WINDOW
}

/// Whether a text written at `at` is the comment a low rating waits for: written after the
/// rating (not the text that gave it, delivered again), soon after.
fn comment_due(line: &RatingSettings, r: &RatingRecord, at: DateTime<Utc>) -> bool {
    awaits_comment(line, r) && at > r.updated_at && recent(r, at)
}

/// A low rating on a line that asks for a comment, not yet commented, its reasons (where the
/// line lists any) given.
pub fn awaits_comment(line: &RatingSettings, r: &RatingRecord) -> bool {
    r.low
        && line.ask_comment_on_low
        && r.comment.is_none()
        && (r.reasons.is_some() || line.low_reasons.is_empty())
}
