//! Ratings: a client's answer judged by the line's rules, what a widget showed, and the
//! report.

use chrono::Duration;
use rateline_domain::{ErrorCode, RatingAnswer, RequestId, SessionId};

use super::base::Engine;
use super::error::{EngineError, Result, request_not_found};
use crate::store::{
    AlertPlan, Grouping, RatingOutcome, RatingPolicy, RatingRecord, RatingRevision, ReportFilter,
    ReportGroup,
};

/// A rating the engine stored, with every version, and whether it was the first answer.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The rating as it stands now.
    pub rating: RatingRecord,
    /// Every version of it, oldest first.
    pub history: Vec<RatingRevision>,
    /// True for the request's first answer, false for a change.
    pub created: bool,
    /// False when the same answer came again: nothing was written.
    pub changed: bool,
}

impl Engine {
    /// Stores a client's answer under the line's scale, answer window and change policy.
    ///
    /// One piece: the answer checked, the one store call, then one match over its
    /// outcomes, each arm what the caller is told (and what wakes or is sent).
    #[tracing::instrument(skip(self, answer), fields(request_id = %answer.request_id))]
    pub async fn submit_rating(&self, mut answer: RatingAnswer) -> Result<Submitted> {
        let request_id = super::ids::known_request(&answer.request_id)?;
        let (scale, line) = self
            .store
            .ratings()
            .answer_context(&request_id)
            .await?
            .ok_or_else(|| request_not_found(&answer.request_id))?;
        answer.validate(scale)?;
        if let Some(given) = &answer.reasons {
            if !scale.is_low(answer.value, line.rating.low_threshold) {
                return Err(rateline_domain::Invalid::new(
                    "reasons",
                    "are given only with a low rating: send them with its value, or leave them out",
                )
                .into());
            }
            answer.reasons = Some(line.rating.reasons_of("reasons", given)?);
        }
        let policy = RatingPolicy {
            scale,
            low_threshold: line.rating.low_threshold,
            max_changes: line.rating.max_changes,
            change_window: Duration::days(i64::from(line.rating.change_window_days)),
            grace: Duration::hours(i64::from(line.rating.lowered_grace_hours)),
        };
        let notify_operator = line.rating.notify_operator;
        let alerts = AlertPlan {
            delay: Duration::seconds(i64::from(line.rating.alert_delay_seconds)),
            wait: Duration::seconds(i64::from(line.rating.alert_wait_seconds)),
            awaits_comment: line.rating.ask_comment_on_low,
            awaits_reasons: !line.rating.low_reasons.is_empty(),
            operators_see_ratings: line.rating.operators_see_ratings,
            notify_operator: line.rating.notify_operator,
            recipients: line.notify_low,
            burst_over: line.rating.alert_burst_over,
            zone: self.zone,
        };
        let id = &answer.request_id;
        let now = self.now();
        // A rating that became low made its alerts, and a comment may have released them:
        // the scheduler looks again, and sends them when due.
        let alert_due = |rating: &RatingRecord| {
            if rating.low {
                self.wake.due_at(now);
            }
        };
        let outcome = self
            .store
            .ratings()
            .submit(&answer, policy, &alerts, now)
            .await?;
        if matches!(
            outcome,
            RatingOutcome::Created(..) | RatingOutcome::Changed(..)
        ) {
            self.events_queued().await;
        }
        match outcome {
            RatingOutcome::Created(rating, history) => {
                self.metrics
                    .transition(rateline_domain::RequestStatus::Answered);
                // The operator's digest is gathered with the scheduler's housekeeping.
                if notify_operator {
                    self.wake.housekeeping_at(now);
                }
                alert_due(&rating);
                Ok(Submitted {
                    rating,
                    history,
                    created: true,
                    changed: true,
                })
            }
            RatingOutcome::Changed(rating, history) => {
                alert_due(&rating);
                Ok(Submitted {
                    rating,
                    history,
                    created: false,
                    changed: true,
                })
            }
            RatingOutcome::Unchanged(rating, history) => Ok(Submitted {
                rating,
                history,
                created: false,
                changed: false,
            }),
            RatingOutcome::NotFound => Err(request_not_found(id)),
            RatingOutcome::NotAnswerable(status) => Err(EngineError::Conflict {
                code: ErrorCode::RequestNotAnswerable,
                message: match status {
                    rateline_domain::RequestStatus::Scheduled => {
                        format!(
                            "request '{id}' has not been sent yet; answer it once the client has seen it"
                        )
                    }
                    other => format!("request '{id}' is {other} and takes no answer"),
                },
            }),
            RatingOutcome::WindowClosed(end) => Err(EngineError::Gone {
                code: ErrorCode::AnswerWindowClosed,
                message: format!(
                    "request '{id}' could be answered until {} (the line's answer_window_hours); the answer was not stored",
                    end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            }),
            RatingOutcome::ChangeLimitReached(max) => Err(EngineError::Conflict {
                code: ErrorCode::ChangeLimitReached,
                message: format!(
                    "the rating of request '{id}' was changed {max} time(s) already, the line's rating.max_changes"
                ),
            }),
            RatingOutcome::ChangeWindowClosed(until) => Err(EngineError::Conflict {
                code: ErrorCode::ChangeWindowClosed,
                message: format!(
                    "the rating of request '{id}' could be changed until {} (the line's rating.change_window_days)",
                    until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            }),
        }
    }

    /// A web chat widget showed request `id` of `session_id` (see `WebChat::widget_showed`).
    pub async fn widget_showed(
        &self,
        id: &RequestId,
        session_id: &SessionId,
    ) -> Result<Option<rateline_domain::RequestStatus>> {
        let outcome = self
            .store
            .webchat()
            .widget_showed(id, session_id, self.now())
            .await?;
        Ok(outcome.map(|(status, changed)| {
            if changed {
                // What this call did, whatever an answer made of it since.
                self.metrics
                    .transition(rateline_domain::RequestStatus::Delivered);
            }
            status
        }))
    }

    /// The report: `filter`'s ratings counted per `by` group.
    pub async fn report(&self, filter: &ReportFilter, by: Grouping) -> Result<Vec<ReportGroup>> {
        Ok(self.store.reports().report(filter, by, self.now()).await?)
    }

    /// Per operator, the Rocket.Chat chats closed in the filter's window and how many were
    /// closed without the hand-over to the Ratings user.
    pub async fn hand_overs(&self, filter: &ReportFilter) -> Result<Vec<crate::store::HandOvers>> {
        Ok(self.store.reports().hand_overs(filter).await?)
    }
}
