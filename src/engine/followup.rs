//! The follow-up loop on the engine: alerts listed, responses, appeals and decisions,
//! abusive comments, and supervisors' evaluations.

use rateline_domain::{
    AppealBody, DecisionBody, EvaluationBody, FlagBody, Invalid, PersonId, ResponseBody, check_id,
};
use rateline_domain::{ErrorCode, SessionId};

use super::audit::actor;
use super::base::Engine;
use super::error::{EngineError, Result};
use crate::policy::Caller;
use crate::store::{
    AlertFilter, AlertRecord, AppealFilter, AppealOutcome, AppealRecord, EvaluationRecord,
    RatingRecord, ResponseRecord, ResponseWrite, Unanswered,
};

impl Engine {
    /// The alerts `filter` asks for, newest first.
    pub async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertRecord>> {
        Ok(self.store.alerts().list(filter).await?)
    }

    /// The low ratings `filter` covers that have no response: voided ones left out, those still in
    /// their grace period kept.
    pub async fn unanswered(&self, filter: &AlertFilter) -> Result<Unanswered> {
        Ok(self.store.alerts().unanswered_low(filter).await?)
    }

    /// Whether `caller` may see rating `id`: a rating of a session it may not see is
    /// answered exactly as one that does not exist.
    async fn visible_rating(&self, caller: &Caller, id: &str) -> Result<()> {
        known_rating(id)?;
        if caller.is_open() {
            return Ok(());
        }
        match self.store.keys().rating_scope(id).await? {
            Some((line, operator)) => {
                let hidden = self.ratings_hidden_from(caller).await?;
                if sees_rating(caller, &line, operator.as_deref(), &hidden) {
                    Ok(())
                } else {
                    Err(rating_not_found(id))
                }
            }
            None => Ok(()),
        }
    }

    /// Writes the one response to a rating; returns it and whether it was new. Supervisors
    /// and admins of the rating's line; recorded under the caller's person, if any.
    ///
    /// No reply reaches the client twice unknowingly: a write against a version of the
    /// response that is no longer current (`guard.expected`; 0 when the writer saw none) is
    /// refused, and so is a write that would send a response already sent to the client
    /// unless `guard.second_message` confirms that the client gets a second message. The
    /// write itself is conditional on the version read here, so of two at once the second
    /// is refused even when neither named a version.
    pub async fn put_response(
        &self,
        caller: &Caller,
        rating_id: &str,
        mut body: ResponseBody,
        guard: ResponseGuard,
    ) -> Result<(ResponseRecord, bool)> {
        caller.not_operator("responding to a rating")?;
        self.visible_rating(caller, rating_id).await?;
        body.author_id = caller
            .author("author_id", body.author_id.as_deref())?
            .map(PersonId::stored);
        body.validate()?;
        self.known_person("author_id", body.author_id.as_ref())
            .await?;
        if body.send_to_client && self.store.webchat().rated_on_webchat(rating_id).await? {
            return Err(EngineError::Conflict {
                code: ErrorCode::CannotSendToClient,
                message: format!(
                    "rating '{rating_id}' came from the web chat widget, which shows rating cards \
                     only; write the response in your chat and send it without send_to_client"
                ),
            });
        }
        let existing = self.store.follow_ups().response(rating_id).await?;
        let version = existing.as_ref().map_or(0, |r| r.version);
        if guard.expected.is_some_and(|v| v != version) {
            return Err(response_changed(rating_id, existing.as_ref()));
        }
        if let Some(sent) = existing.as_ref().filter(|r| r.with_client().is_some())
            && body.send_to_client
            && !guard.second_message
        {
            return Err(EngineError::Conflict {
                code: ErrorCode::ResponseSentAlready,
                message: format!(
                    "the response to rating '{rating_id}' reached the client or is on its way \
                     (version \"{v}\"); sending it again gives them a second message: confirm \
                     it with If-Match: \"{v}\"",
                    v = sent.version
                ),
            });
        }
        let now = self.now();
        let written = match self
            .store
            .follow_ups()
            .put_response(
                rating_id,
                version,
                &body.text,
                body.author_id.as_deref(),
                body.send_to_client,
                now,
            )
            .await?
        {
            ResponseWrite::Written(record, created) => (record, created),
            ResponseWrite::NoRating => return Err(rating_not_found(rating_id)),
            ResponseWrite::Stale(current) => {
                return Err(response_changed(rating_id, current.as_ref()));
            }
        };
        if body.send_to_client {
            self.wake.due_at(now);
        }
        self.events_queued().await;
        let action = if written.1 {
            "responded"
        } else {
            "response_changed"
        };
        self.note(
            &actor(caller),
            "rating",
            rating_id,
            action,
            &[
                ("text", body.text.as_str().into()),
                ("send_to_client", body.send_to_client.into()),
            ],
        )
        .await;
        Ok(written)
    }

    /// The version of rating `id`'s response (0: none yet), for a caller who may see it:
    /// the `ETag` a refused write answers with.
    pub async fn response_version(&self, caller: &Caller, rating_id: &str) -> Result<i64> {
        self.visible_rating(caller, rating_id).await?;
        Ok(self
            .store
            .follow_ups()
            .response(rating_id)
            .await?
            .map_or(0, |r| r.version))
    }

    /// Appeals a rating the caller sees (its operator, or a supervisor of its line).
    pub async fn appeal(
        &self,
        caller: &Caller,
        rating_id: &str,
        body: AppealBody,
    ) -> Result<AppealRecord> {
        self.visible_rating(caller, rating_id).await?;
        body.validate()?;
        let made_by = caller.recorded_as();
        let deciders = self.appeal_deciders(rating_id, made_by.as_deref()).await?;
        match self
            .store
            .follow_ups()
            .create_appeal(
                rating_id,
                body.reason.trim(),
                made_by.as_deref(),
                &deciders,
                self.now(),
            )
            .await?
        {
            AppealOutcome::Done(a) => {
                let fields = [
                    ("rating_id", a.rating_id.as_str().into()),
                    ("reason", a.reason.as_str().into()),
                ];
                self.note(&actor(caller), "appeal", &a.id, "appealed", &fields)
                    .await;
                // Its deciders' digests are due: the scheduler sends them.
                self.wake.due_at(self.now());
                Ok(a)
            }
            AppealOutcome::NotFound => Err(rating_not_found(rating_id)),
            AppealOutcome::Already(a) => Err(EngineError::Conflict {
                code: ErrorCode::AlreadyAppealed,
                message: format!(
                    "rating '{rating_id}' was appealed already (appeal '{}', {}); a rating is appealed once",
                    a.id, a.status
                ),
            }),
        }
    }

    /// Decides an appeal: admins, and the line's supervisors where the line lets them
    /// (never who made it); recorded under the caller's person, if any.
    pub async fn decide_appeal(
        &self,
        caller: &Caller,
        id: &str,
        mut body: DecisionBody,
    ) -> Result<AppealRecord> {
        // Operators never decide: refused before anything about the appeal is told.
        caller.not_operator("deciding an appeal")?;
        check_id("appeal_id", id).map_err(|_| appeal_not_found(id))?;
        let appeal = self
            .store
            .follow_ups()
            .appeal(id)
            .await?
            .ok_or_else(|| appeal_not_found(id))?;
        self.may_decide(caller, &appeal).await?;
        body.decided_by = caller
            .author("decided_by", body.decided_by.as_deref())?
            .map(PersonId::stored);
        body.validate()?;
        self.known_person("decided_by", body.decided_by.as_ref())
            .await?;
        match self
            .store
            .follow_ups()
            .decide_appeal(
                id,
                body.approve,
                body.note.as_deref(),
                body.decided_by.as_deref(),
                self.now(),
            )
            .await?
        {
            AppealOutcome::Done(a) => {
                self.events_queued().await;
                let fields = [
                    ("rating_id", a.rating_id.as_str().into()),
                    ("note", a.note.clone().into()),
                ];
                self.note(&actor(caller), "appeal", id, &a.status, &fields)
                    .await;
                Ok(a)
            }
            AppealOutcome::NotFound => Err(appeal_not_found(id)),
            AppealOutcome::Already(a) => Err(EngineError::Conflict {
                code: ErrorCode::AppealDecided,
                message: format!(
                    "appeal '{id}' was {} already; a decision is final",
                    a.status
                ),
            }),
        }
    }

    /// Who hears of a new appeal of rating `rating_id` made by `made_by`: each active person
    /// with notifications on who may decide it (see [`Caller::decides_appeal`]), at most
    /// [`rateline_domain::MAX_ALERTED_PEOPLE`], in id order.
    async fn appeal_deciders(&self, rating_id: &str, made_by: Option<&str>) -> Result<Vec<String>> {
        let Some((line, _)) = self.store.keys().rating_scope(rating_id).await? else {
            return Ok(Vec::new());
        };
        let allowed = self
            .store
            .lines()
            .get(&line)
            .await?
            .is_some_and(|l| l.settings.rating.supervisors_decide_appeals);
        let mut people = self.store.people().list().await?;
        people.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(people
            .into_iter()
            .filter(|p| p.person.active && p.person.notifications_enabled)
            .filter(|p| {
                let lines = p
                    .person
                    .lines
                    .iter()
                    .map(|l| l.as_str().to_owned())
                    .collect();
                Caller::person(&p.id, &p.person.name, p.person.role, lines)
                    .decides_appeal(&line, allowed, made_by)
                    .is_ok()
            })
            .map(|p| p.id.into())
            .take(rateline_domain::MAX_ALERTED_PEOPLE)
            .collect())
    }

    /// Whether `caller` may decide `appeal` (see [`Caller::decides_appeal`]).
    pub async fn may_decide(&self, caller: &Caller, appeal: &AppealRecord) -> Result<()> {
        let allowed = match self.store.lines().get(&appeal.line_id).await? {
            Some(line) => line.settings.rating.supervisors_decide_appeals,
            None => false,
        };
        Ok(caller.decides_appeal(&appeal.line_id, allowed, appeal.made_by.as_deref())?)
    }

    /// How many open appeals `caller` may decide: the count the header shows them.
    pub async fn appeals_to_decide(&self, caller: &Caller) -> Result<i64> {
        if caller.operator().is_some() {
            return Ok(0);
        }
        let filter = AppealFilter {
            status: Some("open".to_owned()),
            limit: 1000,
            ..AppealFilter::default()
        };
        let open = self.appeals(caller, filter).await?;
        Ok(self.decidable(caller, &open).await?.len() as i64)
    }

    /// Which of `appeals` `caller` may decide (see [`Caller::decides_appeal`]), by id: open
    /// ones, judged with one read of the lines.
    pub async fn decidable(
        &self,
        caller: &Caller,
        appeals: &[AppealRecord],
    ) -> Result<std::collections::HashSet<String>> {
        let lines = self.store.lines().list().await?;
        let allowed = |line: &str| {
            lines
                .iter()
                .any(|l| l.id == line && l.settings.rating.supervisors_decide_appeals)
        };
        Ok(appeals
            .iter()
            .filter(|a| a.status == "open")
            .filter(|a| {
                caller
                    .decides_appeal(&a.line_id, allowed(&a.line_id), a.made_by.as_deref())
                    .is_ok()
            })
            .map(|a| a.id.clone())
            .collect())
    }

    /// The appeals `filter` asks for within `caller`'s reach (a supervisor's lines, an
    /// operator's own), oldest first (the order to decide them in).
    pub async fn appeals(
        &self,
        caller: &Caller,
        mut filter: AppealFilter,
    ) -> Result<Vec<AppealRecord>> {
        filter.lines = caller.supervisor_lines().map(<[String]>::to_vec);
        filter.operator = caller.operator().map(str::to_owned);
        filter.except_lines = self.ratings_hidden_from(caller).await?;
        Ok(self.store.follow_ups().appeals(&filter).await?)
    }

    /// Flags (or unflags) a rating's comment as abusive: supervisors and admins of its line.
    pub async fn flag_comment(
        &self,
        caller: &Caller,
        rating_id: &str,
        body: FlagBody,
    ) -> Result<RatingRecord> {
        caller.not_operator("flagging a comment")?;
        self.visible_rating(caller, rating_id).await?;
        let rating = self
            .store
            .follow_ups()
            .flag_comment(
                rating_id,
                body.abusive,
                caller.recorded_as().as_deref(),
                self.now(),
            )
            .await?
            .ok_or_else(|| rating_not_found(rating_id))?;
        let action = if body.abusive {
            "comment_flagged"
        } else {
            "comment_unflagged"
        };
        self.note(&actor(caller), "rating", rating_id, action, &[])
            .await;
        Ok(rating)
    }

    /// A supervisor's own evaluation of a session of their line, recorded under the caller's
    /// person, if any.
    pub async fn put_evaluation(
        &self,
        caller: &Caller,
        session_id: &SessionId,
        mut body: EvaluationBody,
    ) -> Result<(EvaluationRecord, bool)> {
        caller.not_operator("evaluating a session")?;
        if !caller.is_open() {
            let s = self.session(session_id).await?;
            if !caller.sees_session(&s.line_id, s.operator_id.as_deref()) {
                return Err(super::error::session_not_found(session_id));
            }
        }
        body.author_id = caller
            .author("author_id", body.author_id.as_deref())?
            .map(PersonId::stored);
        body.validate()?;
        self.known_person("author_id", body.author_id.as_ref())
            .await?;
        let written = self
            .store
            .follow_ups()
            .put_evaluation(
                session_id,
                body.stars,
                body.comment.as_deref(),
                body.author_id.as_deref(),
                self.now(),
            )
            .await?
            .ok_or_else(|| super::error::session_not_found(session_id))?;
        let fields = [
            ("stars", body.stars.into()),
            ("comment", body.comment.clone().into()),
        ];
        self.note(&actor(caller), "session", session_id, "evaluated", &fields)
            .await;
        Ok(written)
    }

    /// A person named in a body must exist: a typo would credit nobody.
    async fn known_person(&self, field: &str, id: Option<&PersonId>) -> Result<()> {
        let Some(id) = id else { return Ok(()) };
        if self.store.people().person_reachability(id).await?.is_none() {
            return Err(Invalid::new(
                field,
                format!("person '{id}' does not exist; create them with PUT /v1/people/{id}"),
            )
            .into());
        }
        Ok(())
    }
}

/// What a response's write was written against, so that it reaches the client once.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponseGuard {
    /// The response's version the writer saw (0: none); `None` takes the current one.
    pub expected: Option<i64>,
    /// The writer knows the response was sent to the client already, and means to send a
    /// second message.
    pub second_message: bool,
}

/// The refusal of a response written against a version that is no longer current: who
/// answered meanwhile, when and what, so the writer can read it before writing again.
fn response_changed(rating_id: &str, current: Option<&ResponseRecord>) -> EngineError {
    EngineError::Conflict {
        code: ErrorCode::PreconditionFailed,
        message: match current {
            Some(r) => format!(
                "rating '{rating_id}' was answered meanwhile by {who} at {at}: \"{text}\" \
                 (version \"{v}\"); nothing was saved or sent: read it, then write again with \
                 If-Match: \"{v}\"",
                who = r.author_id.as_deref().unwrap_or("someone"),
                at = r.updated_at.to_rfc3339(),
                text = r.text,
                v = r.version,
            ),
            None => format!(
                "rating '{rating_id}' has no response, so it is not at the version named; \
                 write it with If-Match: \"0\""
            ),
        },
    }
}

/// Whether `caller` may see a rating of line `line` handled by `operator`, `hidden` being
/// the lines that keep ratings from them ([`Engine::ratings_hidden_from`]): one rule for a
/// single rating and for an action on many.
pub(super) fn sees_rating(
    caller: &Caller,
    line: &str,
    operator: Option<&str>,
    hidden: &[String],
) -> bool {
    caller.is_open() || (caller.sees_session(line, operator) && !hidden.iter().any(|h| h == line))
}

fn known_rating(id: &str) -> Result<()> {
    check_id("rating_id", id).map_err(|_| rating_not_found(id))
}

/// The answer for a rating that does not exist, or that the caller may not see.
pub fn rating_not_found(id: &str) -> EngineError {
    EngineError::NotFound {
        code: ErrorCode::RatingNotFound,
        message: format!(
            "rating '{id}' does not exist; use the rating's id from GET /v1/sessions/{{id}} or GET /v1/alerts"
        ),
    }
}

fn appeal_not_found(id: &str) -> EngineError {
    EngineError::NotFound {
        code: ErrorCode::AppealNotFound,
        message: format!("appeal '{id}' does not exist; list appeals with GET /v1/appeals"),
    }
}
