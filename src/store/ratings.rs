//! Answers: the first one, permitted changes, and the history of every version.

use chrono::{DateTime, Duration, Utc};
use rateline_domain::{
    Channel, EventType, LineSettings, RatingAnswer, RequestId, RequestStatus, Scale, SessionId,
};
use sqlx::Row;

use super::alerts::{self, AlertPlan};
use super::base::{Backend, Ratings};
use super::error::{Result, StoreError};
use super::outbox;
use super::rows::{
    Counted, LEASED, RATING_COLUMNS, RatingRecord, read_rating, read_reasons, read_request,
    request_view, shown_status, stored_reasons,
};
use super::sql::{SetRows, id_set, ms, time};

/// `counts_from` of a rating that counts whenever the report is made (no grace period):
/// the epoch, so no clock, a test's or a `rateline stats` run's, can disagree about it.
const COUNTS_AT_ONCE: DateTime<Utc> = DateTime::UNIX_EPOCH;

/// When a lowered rating starts to count: after the grace period, or at once without one.
fn graced(now: DateTime<Utc>, grace: Duration) -> DateTime<Utc> {
    if grace > Duration::zero() {
        now + grace
    } else {
        COUNTS_AT_ONCE
    }
}

impl RatingRecord {
    /// What the report counts at `now`, if anything.
    fn counted(&self, now: DateTime<Utc>) -> Option<Counted> {
        if self.counts_from <= now {
            Some(Counted {
                value: self.value,
                positive: self.positive,
                low: self.low,
            })
        } else {
            self.prior
        }
    }
}

/// One version of a rating.
#[derive(Debug, Clone)]
pub struct RatingRevision {
    /// Its number: 0 for the first answer, one more for each change after.
    pub revision: i64,
    /// The value then.
    pub value: i64,
    /// The comment then.
    pub comment: Option<String>,
    /// The answer to "Was your issue resolved?" then.
    pub resolved: Option<bool>,
    /// The reasons then; `None` while not answered.
    pub reasons: Option<Vec<String>>,
    /// When this version was stored.
    pub recorded_at: DateTime<Utc>,
}

/// The line's rules an answer is judged by.
#[derive(Debug, Clone, Copy)]
pub struct RatingPolicy {
    /// The scale the request was made on, which the value must be on.
    pub scale: Scale,
    /// Stars at or below this are low (five-star lines).
    pub low_threshold: i64,
    /// How many times the client may change the value.
    pub max_changes: u32,
    /// For how long after the first answer a change is allowed.
    pub change_window: Duration,
    /// How long a low first answer or a lowered rating waits before the report counts it.
    pub grace: Duration,
}

/// What an answer did, or why it changed nothing. The rating comes with every version.
#[derive(Debug, Clone)]
pub enum RatingOutcome {
    /// The first answer: the rating, and its one version.
    Created(RatingRecord, Vec<RatingRevision>),
    /// A change: the rating as it is now, and every version.
    Changed(RatingRecord, Vec<RatingRevision>),
    /// The same answer again: a no-op.
    Unchanged(RatingRecord, Vec<RatingRevision>),
    /// No request has this id.
    NotFound,
    /// The request was never sent, or ended without being answerable.
    NotAnswerable(RequestStatus),
    /// The answer window had passed.
    WindowClosed(DateTime<Utc>),
    /// The line's `max_changes` were used up; the number is the limit.
    ChangeLimitReached(u32),
    /// The line's `change_window_days` ended at this time.
    ChangeWindowClosed(DateTime<Utc>),
}

impl Ratings<'_> {
    /// What an answer to `request_id` is judged by: the request's scale and its line's
    /// settings, in one read. `None` when the request does not exist. Read on the readers'
    /// connections: on SQLite the pool's one connection is the writer's, and a read there
    /// waits for the batch it runs and makes the next one wait.
    pub async fn answer_context(
        self,
        request_id: &RequestId,
    ) -> Result<Option<(Scale, LineSettings)>> {
        let Some(row) = sqlx::query(
            "SELECT r.scale, r.line_id, l.settings
             FROM rating_requests r JOIN lines l ON l.id = r.line_id WHERE r.id = $1",
        )
        .bind(request_id)
        .fetch_optional(&self.0.reads)
        .await?
        else {
            return Ok(None);
        };
        let corrupt = |e: String| StoreError::Corrupt(format!("request {request_id}: {e}"));
        let scale: Scale = row.try_get("scale")?;
        let line: LineSettings = serde_json::from_str(&row.try_get::<String, _>("settings")?)
            .map_err(|e| corrupt(e.to_string()))?;
        Ok(Some((scale, line)))
    }

    /// Stores an answer (already checked against the scale) under the line's change policy.
    /// A rating that becomes low makes its alerts (see [`AlertPlan`]) in the same
    /// transaction.
    #[tracing::instrument(skip(self, answer, policy, alerts), fields(request_id = %answer.request_id))]
    pub async fn submit(
        self,
        answer: &RatingAnswer,
        policy: RatingPolicy,
        alerts: &AlertPlan,
        now: DateTime<Utc>,
    ) -> Result<RatingOutcome> {
        let queued = Answer {
            answer: answer.clone(),
            policy,
            alerts: alerts.clone(),
            now,
            backend: self.0.backend,
            events: self.0.events().wanted().await,
        };
        let outcome = self
            .0
            .writer
            .write(&answer.request_id, queued, submit_ratings)
            .await?;
        // A low rating's alerts may have gone into a digest: the scheduler looks for it.
        if let RatingOutcome::Created(r, _) | RatingOutcome::Changed(r, _) = &outcome
            && r.low
        {
            self.0.digests.forget();
        }
        Ok(outcome)
    }
}

/// An answer, queued for the writer.
struct Answer {
    answer: RatingAnswer,
    policy: RatingPolicy,
    alerts: AlertPlan,
    now: DateTime<Utc>,
    backend: Backend,
    /// Whether any subscription is active (see the `outbox` module).
    events: bool,
}

/// Takes the requests `which` (over `$1`) that an answer ended out of the scheduler's
/// queue: those waiting for a retry. One being sent keeps its lease; the send's outcome
/// takes it out (and keeps the request answered).
async fn dequeue(conn: &mut sqlx::AnyConnection, which: &str, ids: &str) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM request_queue WHERE {which} AND lease_owner IS NULL"
    )))
    .bind(ids)
    .persistent(false) // planned for each run: see `text_array`
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The columns [`Unanswered::read`] reads, of a request `r`.
fn unanswered_columns() -> String {
    format!(
        "r.id, r.status, r.expires_at, r.session_id, r.attempts, r.line_id, r.operator_id,
         r.channel, CASE WHEN r.status = 'scheduled' AND {LEASED} THEN 1 ELSE 0 END AS leased"
    )
}

/// What a first answer is judged by: the request as the answer found it (no rating yet).
struct Unanswered {
    status: RequestStatus,
    expires_at: Option<i64>,
    attempts: i64,
    session_id: String,
    /// The request's line, operator and channel, which the rating carries for the inbox.
    line_id: String,
    operator_id: Option<String>,
    channel: String,
}

impl Unanswered {
    /// Reads a row selected with [`unanswered_columns`].
    fn read(row: &sqlx::any::AnyRow) -> Result<Self> {
        Ok(Self {
            status: shown_status(
                &row.try_get::<String, _>("status")?,
                row.try_get::<i64, _>("leased")? == 1,
            )?,
            expires_at: row.try_get("expires_at")?,
            attempts: row.try_get("attempts")?,
            session_id: row.try_get("session_id")?,
            line_id: row.try_get("line_id")?,
            operator_id: row.try_get("operator_id")?,
            channel: row.try_get("channel")?,
        })
    }

    /// Why a first answer at `now` is refused, if it is.
    fn refuses(&self, now: DateTime<Utc>) -> Option<RatingOutcome> {
        // An expired request is answered too late, whether or not the sweep ran yet.
        if let Some(end) = self.expires_at.filter(|end| ms(now) > *end) {
            return Some(RatingOutcome::WindowClosed(time(end)));
        }
        (!self.status.takes_answer(self.attempts))
            .then_some(RatingOutcome::NotAnswerable(self.status))
    }
}

/// A first answer being stored, as the one-row and the set statements both write it.
struct First {
    id: String,
    session_id: String,
    line_id: String,
    operator_id: Option<String>,
    channel: String,
    positive: i64,
    low: i64,
    counts_from: DateTime<Utc>,
    now: DateTime<Utc>,
}

impl First {
    fn new(a: &Answer, request: Unanswered) -> Self {
        let (scale, threshold) = (a.policy.scale, a.policy.low_threshold);
        let low = scale.is_low(a.answer.value, threshold);
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            session_id: request.session_id,
            line_id: request.line_id,
            operator_id: request.operator_id,
            channel: request.channel,
            positive: i64::from(scale.is_positive(a.answer.value)),
            low: i64::from(low),
            counts_from: if low {
                graced(a.now, a.policy.grace)
            } else {
                COUNTS_AT_ONCE
            },
            now: a.now,
        }
    }

    fn revision(&self, answer: &RatingAnswer) -> RatingRevision {
        RatingRevision {
            revision: 0,
            value: answer.value,
            comment: answer.comment.clone(),
            resolved: answer.resolved,
            reasons: answer.reasons.clone(),
            recorded_at: self.now,
        }
    }

    /// What follows a stored first answer only where it applies: its reasons, the alerts
    /// of a low one, the operator's digest and the event.
    async fn follow(&self, conn: &mut sqlx::AnyConnection, a: &Answer) -> Result<()> {
        let answer = &a.answer;
        index_reasons(&mut *conn, &self.id, None, answer.reasons.as_deref()).await?;
        if self.low == 1 {
            let complete = a
                .alerts
                .complete(answer.comment.is_some(), answer.reasons.is_some());
            let due = a.alerts.due(self.now, complete);
            alerts::plan_alerts(
                &mut *conn,
                &self.id,
                &answer.request_id,
                &a.alerts,
                due,
                self.now,
            )
            .await?;
        }
        if a.alerts.notify_operator {
            super::digests::note_rating(&mut *conn, &self.id, &answer.request_id, self.now).await?;
        }
        outbox::emit_rating(conn, a.events, EventType::RatingCreated, &self.id, self.now).await
    }

    fn outcome(self, answer: &RatingAnswer, after_reminder: bool) -> RatingOutcome {
        let first = self.revision(answer);
        RatingOutcome::Created(
            RatingRecord {
                id: self.id,
                // The answer named a stored request, or nothing was written.
                request_id: RequestId::stored(answer.request_id.clone()),
                value: answer.value,
                positive: self.positive == 1,
                low: self.low == 1,
                comment: answer.comment.clone(),
                resolved: answer.resolved,
                reasons: answer.reasons.clone(),
                after_reminder,
                changes: 0,
                created_at: self.now,
                updated_at: self.now,
                voided_at: None,
                comment_flagged: false,
                comment_flagged_by: None,
                counts_from: self.counts_from,
                prior: None,
            },
            vec![first],
        )
    }
}

/// Answers, one or many: first answers to requests found answerable stored as one set (the
/// requests locked and their ratings read in one statement each, then one statement each for
/// the ratings, their first versions and the requests); what follows a first answer only
/// where it applies (reasons, alerts, the digest, the event) row by row. A change or a
/// refusal goes row by row in [`change_or_refuse`]; a request's later answers in one set run
/// as a set of their own after this one, so they see the answers before them.
///
/// Two answers racing for one request are serialised on the request's row. The ratings are
/// read in a statement of their own, after the lock: on PostgreSQL a statement that waited
/// for the lock still sees the snapshot it started with, which would miss the rating the
/// other answer just stored.
///
/// One piece: the set's transaction, its statements in the order the guarantees rest on.
fn submit_ratings<'c>(
    conn: &'c mut sqlx::AnyConnection,
    answers: &'c [&'c Answer],
) -> super::writer::BoxFuture<'c, Result<Vec<RatingOutcome>>> {
    Box::pin(async move {
        // A request answered twice in one set: the later answer runs after the set.
        let first_of_key = super::writer::first_of_each(answers, |a| &a.answer.request_id);
        let firsts: Vec<&str> = answers
            .iter()
            .zip(&first_of_key)
            .filter(|(_, first_of_key)| **first_of_key)
            .map(|(a, _)| a.answer.request_id.as_str())
            .collect();
        let sqlite = answers
            .first()
            .is_some_and(|a| a.backend == Backend::Sqlite);
        let (which, ids) = id_set(sqlite, "r.id", firsts.iter().copied());
        // Locked in one order, then read after the lock.
        let lock = if sqlite { "" } else { " FOR UPDATE OF r" };
        let locked = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM rating_requests r WHERE {which} ORDER BY r.id{lock}",
            unanswered_columns()
        )))
        .bind(&ids)
        .persistent(sqlite) // PostgreSQL plans it for each run: see `text_array`
        .fetch_all(&mut *conn)
        .await?;
        let (which, ids) = id_set(sqlite, "request_id", firsts.iter().copied());
        let rated = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT request_id FROM ratings WHERE {which}"
        )))
        .bind(ids)
        .persistent(sqlite)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| row.try_get::<String, _>("request_id"))
        .collect::<std::result::Result<std::collections::HashSet<_>, _>>()?;
        let mut unanswered = std::collections::HashMap::new();
        for row in &locked {
            let id: String = row.try_get("id")?;
            if !rated.contains(&id) {
                unanswered.insert(id, Unanswered::read(row)?);
            }
        }
        // Each request's first answer in the set, where it is stored as the first: taken
        // out of `unanswered`, so a second answer to the same request is left for later.
        let mut waiting = Vec::new();
        let together: Vec<Option<First>> = answers
            .iter()
            .map(|a| {
                let request = unanswered.remove(&a.answer.request_id)?;
                if request.refuses(a.now).is_some() {
                    return None;
                }
                if request.status == RequestStatus::Scheduled {
                    waiting.push(a.answer.request_id.as_str());
                }
                Some(First::new(a, request))
            })
            .collect();
        if !waiting.is_empty() {
            let (which, ids) = id_set(sqlite, "request_id", waiting.iter().copied());
            dequeue(&mut *conn, &which, &ids).await?;
        }
        let stored: Vec<(&Answer, &First)> = answers
            .iter()
            .zip(&together)
            .filter_map(|(a, first)| Some((*a, first.as_ref()?)))
            .collect();
        let mut after_reminder = std::collections::HashMap::new();
        if !stored.is_empty() {
            let reasons: Vec<Option<String>> = stored
                .iter()
                .map(|(a, _)| stored_reasons(a.answer.reasons.as_deref()))
                .collect();
            let ids = || stored.iter().map(|(_, f)| Some(f.id.as_str()));
            let values = || stored.iter().map(|(a, _)| Some(a.answer.value));
            let comments = || stored.iter().map(|(a, _)| a.answer.comment.as_deref());
            let resolved = || stored.iter().map(|(a, _)| a.answer.resolved.map(i64::from));
            let nows = || stored.iter().map(|(_, f)| Some(ms(f.now)));
            let requests = || {
                stored
                    .iter()
                    .map(|(a, _)| Some(a.answer.request_id.as_str()))
            };
            let rows = SetRows::new(conn, FIRST_RATING_COLUMNS)
                .text(ids())
                .text(requests())
                .text(stored.iter().map(|(_, f)| Some(f.session_id.as_str())))
                .text(stored.iter().map(|(_, f)| Some(f.line_id.as_str())))
                .text(stored.iter().map(|(_, f)| f.operator_id.as_deref()))
                .text(stored.iter().map(|(_, f)| Some(f.channel.as_str())))
                .int(values())
                .int(stored.iter().map(|(_, f)| Some(f.positive)))
                .int(stored.iter().map(|(_, f)| Some(f.low)))
                .text(comments())
                .int(resolved())
                .int(nows())
                .int(stored.iter().map(|(_, f)| Some(ms(f.counts_from))))
                .text(reasons.iter().map(Option::as_deref));
            let sql = format!(
                "INSERT INTO ratings (id, request_id, session_id, line_id, operator_id, channel,
                                      value, positive, low, comment,
                                      resolved, changes, created_at, updated_at, counts_from,
                                      reasons, after_reminder)
                 SELECT x.id, x.request_id, x.session_id, x.line_id, x.operator_id, x.channel,
                        x.value, x.positive, x.low, x.comment,
                        x.resolved, 0, x.now, x.now, x.counts_from, x.reasons,
                        (SELECT COUNT(*) FROM rating_reminders m
                         WHERE m.request_id = x.request_id AND m.status IN ('sending', 'sent'))
                 FROM {}
                 RETURNING id, after_reminder",
                rows.source("x")
            );
            let rows = rows
                .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
                .persistent(sqlite) // PostgreSQL plans it each run: see `text_array`
                .fetch_all(&mut *conn)
                .await?;
            for row in &rows {
                let reminded = row.try_get::<i64, _>("after_reminder")? > 0;
                after_reminder.insert(row.try_get::<String, _>("id")?, reminded);
            }
            let rows = SetRows::new(
                conn,
                &["id", "value", "comment", "resolved", "reasons", "now"],
            )
            .text(ids())
            .int(values())
            .text(comments())
            .int(resolved())
            .text(reasons.iter().map(Option::as_deref))
            .int(nows());
            let sql = format!(
                "INSERT INTO rating_history (rating_id, revision, value, comment, resolved,
                                             reasons, recorded_at)
                 SELECT x.id, 0, x.value, x.comment, x.resolved, x.reasons, x.now FROM {}",
                rows.source("x")
            );
            rows.bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
                // Only inserts the arrays' rows: kept prepared (see `text_array`).
                .execute(&mut *conn)
                .await?;
            let rows = SetRows::new(conn, &["id", "now"])
                .text(requests())
                .int(nows());
            let sql = format!(
                "UPDATE rating_requests AS r
                 SET status = 'answered', answered_at = x.now, run_at = NULL,
                     finished_at = x.now, sent_at = COALESCE(r.sent_at, x.now),
                     updated_at = x.now
                 FROM {}
                 WHERE r.id = x.id",
                rows.source("x")
            );
            rows.bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
                .persistent(sqlite)
                .execute(&mut *conn)
                .await?;
            for (a, first) in &stored {
                first.follow(&mut *conn, a).await?;
            }
        }
        let mut outcomes = Vec::with_capacity(answers.len());
        for ((a, first), first_of_key) in answers.iter().zip(together).zip(&first_of_key) {
            let outcome = match first {
                Some(first) => {
                    let Some(reminded) = after_reminder.get(&first.id) else {
                        return Err(StoreError::Corrupt(format!(
                            "the rating of request {} was not stored with its set",
                            a.answer.request_id
                        )));
                    };
                    first.outcome(&a.answer, *reminded)
                }
                None if *first_of_key => change_or_refuse(&mut *conn, a).await?,
                None => RatingOutcome::NotFound, // answered by the set below
            };
            outcomes.push(outcome);
        }
        // A request's later answers in the set, now that its first stands.
        super::writer::run_later(conn, answers, &first_of_key, &mut outcomes, submit_ratings)
            .await?;
        Ok(outcomes)
    })
}

/// The columns of a first rating's row in [`submit_ratings`].
const FIRST_RATING_COLUMNS: &[&str] = &[
    "id",
    "request_id",
    "session_id",
    "line_id",
    "operator_id",
    "channel",
    "value",
    "positive",
    "low",
    "comment",
    "resolved",
    "now",
    "counts_from",
    "reasons",
];

/// An answer [`submit_ratings`] did not store as a first one, row by row: the request is
/// gone, refuses answers, or has its rating, which the answer may change under the line's
/// policy. Runs in the set's transaction, after the set locked the request.
///
/// One piece: a change's statements in the order the guarantees rest on (the rating read,
/// then updated, its version, its reasons, the alerts a lowered rating makes).
fn change_or_refuse<'c>(
    conn: &'c mut sqlx::AnyConnection,
    a: &'c Answer,
) -> super::writer::BoxFuture<'c, Result<RatingOutcome>> {
    Box::pin(async move {
        let Answer {
            answer,
            policy,
            alerts,
            now,
            ..
        } = a;
        let (policy, now) = (*policy, *now);
        let sql = format!(
            "SELECT {} FROM rating_requests r WHERE r.id = $1",
            unanswered_columns()
        );
        let Some(req) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&answer.request_id)
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Ok(RatingOutcome::NotFound);
        };
        let Some(old) = rating_of(&mut *conn, &answer.request_id).await? else {
            return match Unanswered::read(&req)?.refuses(now) {
                Some(refused) => Ok(refused),
                None => Err(StoreError::Corrupt(format!(
                    "the first answer to request {} was left out of its set",
                    answer.request_id
                ))),
            };
        };
        let resolved = |r: Option<bool>| r.map(i64::from);

        let positive = i64::from(policy.scale.is_positive(answer.value));
        let low = i64::from(policy.scale.is_low(answer.value, policy.low_threshold));
        // A follow-up may add a comment or "resolved" without repeating them all.
        let comment = answer.comment.clone().or_else(|| old.comment.clone());
        let resolved_now = answer.resolved.or(old.resolved);
        let reasons = answer.reasons.clone().or_else(|| old.reasons.clone());
        let mut history = revisions(&mut *conn, &old.id).await?;
        if answer.value == old.value
            && comment == old.comment
            && resolved_now == old.resolved
            && reasons == old.reasons
        {
            return Ok(RatingOutcome::Unchanged(old, history));
        }
        // Only a new value counts against the change limit; a comment added later does not.
        let value_changed = answer.value != old.value;
        if value_changed {
            if old.changes >= i64::from(policy.max_changes) {
                return Ok(RatingOutcome::ChangeLimitReached(policy.max_changes));
            }
            let until = old.created_at + policy.change_window;
            if now > until {
                return Ok(RatingOutcome::ChangeWindowClosed(until));
            }
        }
        let changes = old.changes + i64::from(value_changed);
        // A lowered rating waits out the grace period, counted meanwhile as it was; a
        // raised one counts at once.
        let (counts_from, prior) = if !value_changed {
            (old.counts_from, old.prior)
        } else if answer.value < old.value && policy.grace > Duration::zero() {
            (graced(now, policy.grace), old.counted(now))
        } else {
            (COUNTS_AT_ONCE, None)
        };
        sqlx::query(
            "UPDATE ratings SET value = $2, positive = $3, low = $4, comment = $5, resolved = $6,
                                changes = $7, updated_at = $8, counts_from = $9,
                                prior_value = $10, prior_positive = $11, prior_low = $12,
                                reasons = $13
             WHERE id = $1",
        )
        .bind(&old.id)
        .bind(answer.value)
        .bind(positive)
        .bind(low)
        .bind(comment.clone())
        .bind(resolved(resolved_now))
        .bind(changes)
        .bind(ms(now))
        .bind(ms(counts_from))
        .bind(prior.map(|p| p.value))
        .bind(prior.map(|p| i64::from(p.positive)))
        .bind(prior.map(|p| i64::from(p.low)))
        .bind(stored_reasons(reasons.as_deref()))
        .execute(&mut *conn)
        .await?;
        index_reasons(
            &mut *conn,
            &old.id,
            old.reasons.as_deref(),
            reasons.as_deref(),
        )
        .await?;
        let complete = alerts.complete(comment.is_some(), reasons.is_some());
        if low == 1 && !old.low {
            // Made once per rating: lowered again, the alerts of its first time stand.
            alerts::plan_alerts(
                &mut *conn,
                &old.id,
                &answer.request_id,
                alerts,
                alerts.due(now, complete),
                now,
            )
            .await?;
        }
        // All the line asks has come (now, or while the rating was not low): alerts still
        // waiting leave now, or when the line's delay after the rating ends.
        let was_complete = old.low && alerts.complete(old.comment.is_some(), old.reasons.is_some());
        if low == 1 && complete && !was_complete {
            alerts::release_alerts(&mut *conn, &old.id, alerts.delay, now).await?;
        }
        // A comment the alerts have not said yet follows those that left without it
        // (unless they said it).
        if low == 1 && comment.is_some() && (old.comment.is_none() || !old.low) {
            alerts::follow_with_comment(&mut *conn, &old.id, now).await?;
        }
        let revision = RatingRevision {
            revision: history.len() as i64,
            value: answer.value,
            comment: comment.clone(),
            resolved: resolved_now,
            reasons: reasons.clone(),
            recorded_at: now,
        };
        insert_revision(&mut *conn, &old.id, &revision).await?;
        history.push(revision);
        // Only the comment came or changed: `rating.commented`; anything else `changed`.
        let kind = if !value_changed && resolved_now == old.resolved && reasons == old.reasons {
            EventType::RatingCommented
        } else {
            EventType::RatingChanged
        };
        outbox::emit_rating(&mut *conn, a.events, kind, &old.id, now).await?;
        Ok(RatingOutcome::Changed(
            RatingRecord {
                value: answer.value,
                positive: positive == 1,
                low: low == 1,
                comment,
                resolved: resolved_now,
                reasons,
                changes,
                updated_at: now,
                counts_from,
                prior,
                ..old
            },
            history,
        ))
    })
}

/// The rating of a request and all its versions, oldest first.
pub(crate) async fn rating_with_history(
    conn: &mut sqlx::AnyConnection,
    request_id: &str,
) -> Result<Option<(RatingRecord, Vec<RatingRevision>)>> {
    let Some(rating) = rating_of(conn, request_id).await? else {
        return Ok(None);
    };
    let history = revisions(conn, &rating.id).await?;
    Ok(Some((rating, history)))
}

/// The rating of a request, without its history.
async fn rating_of(
    conn: &mut sqlx::AnyConnection,
    request_id: &str,
) -> Result<Option<RatingRecord>> {
    let sql = format!("SELECT {RATING_COLUMNS} FROM ratings WHERE request_id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(request_id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(read_rating)
        .transpose()
}

/// Every version of a rating, oldest first.
async fn revisions(conn: &mut sqlx::AnyConnection, rating_id: &str) -> Result<Vec<RatingRevision>> {
    sqlx::query(
        "SELECT revision, value, comment, resolved, reasons, recorded_at FROM rating_history
         WHERE rating_id = $1 ORDER BY revision",
    )
    .bind(rating_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| {
        Ok(RatingRevision {
            revision: row.try_get("revision")?,
            value: row.try_get("value")?,
            comment: row.try_get("comment")?,
            resolved: row.try_get::<Option<i64>, _>("resolved")?.map(|r| r == 1),
            reasons: read_reasons(row.try_get("reasons")?),
            recorded_at: time(row.try_get("recorded_at")?),
        })
    })
    .collect()
}

async fn insert_revision(
    tx: &mut sqlx::AnyConnection,
    rating_id: &str,
    r: &RatingRevision,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO rating_history (rating_id, revision, value, comment, resolved, reasons,
                                     recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(rating_id)
    .bind(r.revision)
    .bind(r.value)
    .bind(r.comment.clone())
    .bind(r.resolved.map(i64::from))
    .bind(stored_reasons(r.reasons.as_deref()))
    .bind(ms(r.recorded_at))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Keeps `rating_reasons` (what the report groups by) to the rating's reasons, from
/// `old` to `new`: rows only when they changed.
async fn index_reasons(
    tx: &mut sqlx::AnyConnection,
    rating_id: &str,
    old: Option<&[String]>,
    new: Option<&[String]>,
) -> Result<()> {
    if old == new {
        return Ok(());
    }
    if old.is_some_and(|o| !o.is_empty()) {
        sqlx::query("DELETE FROM rating_reasons WHERE rating_id = $1")
            .bind(rating_id)
            .execute(&mut *tx)
            .await?;
    }
    for reason in new.unwrap_or_default() {
        sqlx::query("INSERT INTO rating_reasons (rating_id, reason) VALUES ($1, $2)")
            .bind(rating_id)
            .bind(reason)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// A request as a channel sees it when a client answers in the chat: who it was sent to,
/// the line it follows, and the rating so far.
#[derive(Debug, Clone)]
pub struct AnswerTarget {
    /// The request, as people see it.
    pub request: super::rows::RequestRecord,
    /// The client it was sent to, by their id on the channel: only they may answer.
    pub client_id: String,
    /// The line's settings now, which the answer follows.
    pub line: LineSettings,
    /// The rating so far; `None` before the first answer.
    pub rating: Option<RatingRecord>,
}

impl Ratings<'_> {
    /// The request `request_id` with its client, line and rating.
    pub async fn answer_target(self, request_id: &RequestId) -> Result<Option<AnswerTarget>> {
        self.answer_target_where("r.id = $1", &[request_id]).await
    }

    /// The newest request that reached `client_id` on `channel` (sent, or answered and so
    /// perhaps awaiting a comment): the one a text reply in that chat is about. A newer
    /// request still waiting for its due time does not count.
    pub async fn latest_answer_target(
        self,
        channel: Channel,
        client_id: &str,
    ) -> Result<Option<AnswerTarget>> {
        self.answer_target_where(
            &format!(
                "r.channel = $1 AND r.client_id = $2 AND r.channel <> 'webhook'
             AND (r.status IN ('sent', 'delivered', 'answered')
                  OR r.status = 'scheduled' AND {LEASED})
             ORDER BY r.created_at DESC, r.id DESC LIMIT 1"
            ),
            &[channel.as_str(), client_id],
        )
        .await
    }

    /// The newest request of session `session_id` that reached its client (sent, or
    /// answered and so perhaps awaiting a follow-up): what a reply in that conversation is
    /// about.
    pub async fn session_answer_target(
        self,
        session_id: &SessionId,
    ) -> Result<Option<AnswerTarget>> {
        self.answer_target_where(
            &format!(
                "r.session_id = $1
             AND (r.status IN ('sent', 'delivered', 'answered')
                  OR r.status = 'scheduled' AND {LEASED})
             ORDER BY r.created_at DESC, r.id DESC LIMIT 1"
            ),
            &[session_id],
        )
        .await
    }

    pub(super) async fn answer_target_where(
        self,
        filter: &str,
        binds: &[&str],
    ) -> Result<Option<AnswerTarget>> {
        let columns = request_view();
        let sql = format!(
            "SELECT {columns}, r.client_id, l.settings
             FROM rating_requests r JOIN lines l ON l.id = r.line_id WHERE {filter}"
        );
        // On the readers' connections (on a SQLite file): a tap on Telegram or Meta, a widget's
        // card and a text reply read here first, and must neither wait for the writer's one
        // connection nor hold it.
        let mut conn = self.0.reads.acquire().await?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(*b);
        }
        let Some(row) = q.fetch_optional(&mut *conn).await? else {
            return Ok(None);
        };
        let request = read_request(&row)?;
        let line: LineSettings = serde_json::from_str(&row.try_get::<String, _>("settings")?)
            .map_err(|e| {
                StoreError::Corrupt(format!("settings of line '{}': {e}", request.line_id))
            })?;
        let rating = rating_of(&mut conn, &request.id).await?;
        Ok(Some(AnswerTarget {
            client_id: row.try_get("client_id")?,
            request,
            line,
            rating,
        }))
    }
}
