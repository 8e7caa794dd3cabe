//! Alerts and responses to clients as the scheduler's durable jobs.
//!
//! They follow the rating requests' scheme (see [`super::requests`]): a row is the job,
//! `run_at` its due time while `pending` and its lease's end while `sending`, so a dead
//! holder's claim falls back by itself; an outcome is recorded only by the claim that
//! still holds the lease. Both kinds share this code; they differ in table and key.

use chrono::{DateTime, Duration, Utc};
use sqlx::Row;

use rateline_domain::EventType;

use super::base::{Backend, Jobs};
use super::error::Result;
use super::outbox;
use super::sql::{ms, placeholders, time};

/// Which job table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// A low-rating alert to one recipient (`alerts`).
    Alert,
    /// A supervisor's response on its way to the client (`rating_responses`).
    Response,
    /// A rating request's one reminder to the client (`rating_reminders`).
    Reminder,
    /// An event on its way to a subscription (`event_deliveries`, see [`super::events`]).
    Event,
    /// A digest (`operator_notices`, see [`super::digests`]): an operator's of their ratings,
    /// or a person's of alerts, a burst, appeals or the weekly report. Its `as_str` stays
    /// `notice`, the name the metrics and logs have used.
    Digest,
}

impl JobKind {
    /// Its name in the metrics and the logs (a digest is `notice`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Alert => "alert",
            JobKind::Response => "response",
            JobKind::Reminder => "reminder",
            JobKind::Event => "event",
            JobKind::Digest => "notice",
        }
    }

    fn table(self) -> &'static str {
        match self {
            JobKind::Alert => "alerts",
            JobKind::Response => "rating_responses",
            JobKind::Reminder => "rating_reminders",
            JobKind::Event => "event_deliveries",
            JobKind::Digest => "operator_notices",
        }
    }

    fn key(self) -> &'static str {
        match self {
            JobKind::Alert | JobKind::Event | JobKind::Digest => "id",
            JobKind::Response => "rating_id",
            JobKind::Reminder => "request_id",
        }
    }

    /// The status column; the partial indexes' predicates repeat it word for word.
    fn status(self) -> &'static str {
        match self {
            JobKind::Alert | JobKind::Reminder | JobKind::Event | JobKind::Digest => "status",
            JobKind::Response => "delivery_status",
        }
    }

    /// What else a due job must meet to be claimed.
    fn claimable(self) -> &'static str {
        match self {
            JobKind::Event => EVENT_CLAIMABLE,
            JobKind::Alert | JobKind::Response | JobKind::Reminder | JobKind::Digest => "TRUE",
        }
    }

    /// When the job was asked for: its send deadline counts from here.
    fn since(self) -> &'static str {
        match self {
            JobKind::Alert | JobKind::Event => "created_at",
            // A response's updated_at is its last edit, which (re)queues its delivery.
            JobKind::Response => "updated_at",
            // A reminder is asked for when it is due, long after it was made.
            JobKind::Reminder => "due_at",
            // A digest is due at its slot, up to a minute after it was made.
            JobKind::Digest => "slot_at",
        }
    }
}

/// An event's extra claim condition: its subscription is active, and no earlier event of
/// the same subscription and request is still queued (events about one rating arrive in
/// order).
pub(super) const EVENT_CLAIMABLE: &str =
    "subscription_id IN (SELECT id FROM subscriptions WHERE active = 1)
    AND NOT EXISTS (SELECT 1 FROM event_deliveries e
                    WHERE e.subscription_id = event_deliveries.subscription_id
                      AND e.order_key = event_deliveries.order_key
                      AND e.seq < event_deliveries.seq)";

/// A job this scheduler holds the lease on.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// Which table the job is in.
    pub kind: JobKind,
    /// Its key in that table.
    pub id: String,
    /// Including this one.
    pub attempts: u32,
    /// When the job was asked for: its send deadline counts from here.
    pub since: DateTime<Utc>,
    /// True when an earlier holder's lease ran out: its send may or may not have happened.
    pub reclaimed: bool,
}

/// What to record after a job's send.
#[derive(Debug, Clone)]
pub enum JobResult {
    /// Sent, with the id the sink gave it (Telegram's message id), kept for an alert so
    /// its follow-up can reply to it.
    Sent {
        /// The id the sink gave it, if any.
        platform_message_id: Option<String>,
        /// An alert that said the client's comment: no follow-up repeats it.
        carried_comment: bool,
    },
    /// Failed for now: back in the queue at `at`, the attempt used up.
    RetryAt {
        /// When to try again.
        at: DateTime<Utc>,
        /// What went wrong, kept as `last_error`.
        error: String,
    },
    /// Not tried (a rate limit): back in the queue at `at`, the attempt given back.
    Deferred {
        /// When to try.
        at: DateTime<Utc>,
    },
    /// It ends here with `status` (`failed`; for responses also `window_closed`,
    /// `undeliverable`).
    Final {
        /// The status it ends in.
        status: &'static str,
        /// Why, kept as `last_error`.
        error: String,
    },
}

impl Jobs<'_> {
    /// Claims up to `limit` due jobs of `kind` for `owner` until `now + lease`.
    ///
    /// Every scheduler pass asks for each kind, and most passes find none due. So it looks on
    /// the readers' connections first and takes a write transaction only when one is: an
    /// empty claim was a transaction of three round trips, and on SQLite it queued for the
    /// writer's one connection and made the writer's next batch wait behind it. A job that
    /// becomes due after the look is claimed in the next pass (its commit wakes the
    /// scheduler).
    pub async fn claim_due(
        self,
        kind: JobKind,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedJob>> {
        let lock = match self.0.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let (table, key, status, since) = (kind.table(), kind.key(), kind.status(), kind.since());
        let claimable = kind.claimable();
        // The look and the claim read the same rows.
        let due_rows = format!(
            "FROM {table} WHERE {status} IN ('pending', 'sending') AND run_at <= $1 AND {claimable}"
        );
        let any_due = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT 1 AS due {due_rows} LIMIT 1"
        )))
        .bind(ms(now))
        .fetch_optional(&self.0.reads)
        .await?;
        if any_due.is_none() {
            return Ok(Vec::new());
        }
        let select = format!(
            "SELECT {key} AS id, attempts, {status} AS status, {since} AS since {due_rows}
             ORDER BY run_at LIMIT $2 {lock}"
        );
        let mut tx = self.0.pool.begin().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(select))
            .bind(ms(now))
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            claimed.push(ClaimedJob {
                kind,
                id: row.try_get("id")?,
                attempts: u32::try_from(row.try_get::<i64, _>("attempts")? + 1).unwrap_or(u32::MAX),
                since: time(row.try_get("since")?),
                reclaimed: row.try_get::<String, _>("status")? == "sending",
            });
        }
        let update = format!(
            "UPDATE {table}
             SET {status} = 'sending', lease_owner = $1, run_at = $2, attempts = attempts + 1
             WHERE {key} IN ({})",
            placeholders(2, claimed.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(update))
            .bind(owner)
            .bind(ms(now + lease));
        for c in &claimed {
            q = q.bind(c.id.clone());
        }
        q.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records a job's outcome if this claim still holds the lease; returns whether it did.
    /// False means the lease ran out and another claim has it, or (a response) the text
    /// was edited and queued again while this send was in flight.
    pub async fn record_result(
        self,
        job: &ClaimedJob,
        owner: &str,
        result: &JobResult,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let (table, key, status) = (job.kind.table(), job.kind.key(), job.kind.status());
        // $1 key, $2 owner, $3 attempt number (the lease is this claim's own), $4 now.
        let (set, extra): (String, Vec<Extra>) = match result {
            JobResult::Sent {
                platform_message_id,
                carried_comment,
            } if job.kind == JobKind::Alert => (
                format!(
                    "{status} = 'sent', run_at = NULL, sent_at = $4, last_error = NULL, \
                     lease_owner = NULL, platform_message_id = $5, carried_comment = $6"
                ),
                vec![
                    Extra::OptText(platform_message_id.clone()),
                    Extra::Int(i64::from(*carried_comment)),
                ],
            ),
            JobResult::Sent { .. } => (
                format!(
                    "{status} = 'sent', run_at = NULL, sent_at = $4, last_error = NULL, lease_owner = NULL"
                ),
                vec![],
            ),
            JobResult::RetryAt { at, error } => (
                format!("{status} = 'pending', run_at = $5, last_error = $6, lease_owner = NULL"),
                vec![Extra::Int(ms(*at)), Extra::Text(error.clone())],
            ),
            JobResult::Deferred { at } => (
                format!(
                    "{status} = 'pending', run_at = $5, attempts = attempts - 1, lease_owner = NULL"
                ),
                vec![Extra::Int(ms(*at))],
            ),
            JobResult::Final { status: end, error } => (
                format!("{status} = $5, run_at = NULL, last_error = $6, lease_owner = NULL"),
                vec![Extra::Text((*end).to_owned()), Extra::Text(error.clone())],
            ),
        };
        let touch = match job.kind {
            JobKind::Alert | JobKind::Reminder | JobKind::Event | JobKind::Digest => {
                ", updated_at = $4"
            }
            JobKind::Response => "",
        };
        let sql = format!(
            "UPDATE {table} SET {set}{touch}
             WHERE {key} = $1 AND {status} = 'sending' AND lease_owner = $2 AND attempts = $3"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&job.id)
            .bind(owner)
            .bind(i64::from(job.attempts))
            .bind(ms(now));
        for e in extra {
            q = match e {
                Extra::Int(i) => q.bind(i),
                Extra::Text(t) => q.bind(t),
                Extra::OptText(t) => q.bind(t),
            };
        }
        // A response that reached the client and an alert that failed are events; they are
        // written with the outcome, in its transaction.
        let event = match (job.kind, result) {
            (JobKind::Response, JobResult::Sent { .. }) => Some(EventType::ResponseSent),
            // Only a failure: a follow-up skipped on purpose (it had nothing to add) is not.
            (
                JobKind::Alert,
                JobResult::Final {
                    status: "failed", ..
                },
            ) => Some(EventType::AlertFailed),
            _ => None,
        };
        let wanted = event.is_some() && self.0.events().wanted().await;
        if !wanted {
            return Ok(q.execute(&self.0.pool).await?.rows_affected() == 1);
        }
        let mut tx = self.0.pool.begin().await?;
        let recorded = q.execute(&mut *tx).await?.rows_affected() == 1;
        if recorded {
            match event {
                Some(EventType::AlertFailed) => {
                    outbox::emit_alert_failed(&mut tx, true, &job.id, now).await?
                }
                Some(kind) => outbox::emit_response(&mut tx, true, kind, &job.id, now).await?,
                None => {}
            }
        }
        tx.commit().await?;
        Ok(recorded)
    }
}

enum Extra {
    Int(i64),
    Text(String),
    OptText(Option<String>),
}
