//! Rating requests as the scheduler's durable jobs: claim, record the outcome, expire,
//! and find when the next thing is due.
//!
//! The queue is a narrow table of its own, `request_queue`: one row per request waiting to
//! be sent by the scheduler, holding only what a claim changes (when to look next, the
//! lease, the attempts), so a claim does not rewrite the wide `rating_requests` row and its
//! indexes. A claim is a lease: the queue row gets an owner, with `run_at` moved to the
//! lease's end, and the request shows `sending`. If its holder dies, the lease runs out and
//! any scheduler claims the row again; nothing needs a rescuer. A send's outcome takes the
//! lease back by deleting the queue row (a retry puts a new one in), and writes the
//! request. On PostgreSQL the claim skips rows another process has locked (`FOR UPDATE
//! SKIP LOCKED`), so several `rateline serve` processes share the work without sending
//! anything twice.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rateline_domain::{
    Channel, ClientRef, LineId, LineSettings, RequestId, RequestStatus, Scale, SessionId,
};
use sqlx::Row;

use super::base::{Backend, Requests};
use super::error::{Result, StoreError};
use super::rows::shown_status;
use super::sql::{SetRows, WINDOW_JOIN, WINDOW_START, ms, opt_time, time};

/// A request this scheduler holds the lease on and must send now.
#[derive(Debug, Clone)]
pub struct ClaimedRequest {
    /// The settings of the request's line at the claim.
    pub line: Arc<LineSettings>,
    /// The request's id.
    pub id: RequestId,
    /// The session whose close made it.
    pub session_id: SessionId,
    /// The session's line.
    pub line_id: LineId,
    /// The channel it goes through.
    pub channel: Channel,
    /// The client it goes to.
    pub client: ClientRef,
    /// The buttons it offers: 👍 👎, or 1 to 5 stars.
    pub scale: Scale,
    /// When it was due.
    pub due_at: DateTime<Utc>,
    /// Past this it is not sent but ends `failed`: `scheduler.send_deadline_seconds` after it was
    /// due.
    pub send_deadline_at: DateTime<Utc>,
    /// Including this one.
    pub attempts: u32,
    /// True when an earlier holder's lease ran out: its send may or may not have happened.
    pub reclaimed: bool,
    /// When the client last wrote, which Meta's 24-hour window counts from.
    pub last_client_message_at: Option<DateTime<Utc>>,
}

/// The next moments the scheduler has work.
#[derive(Debug, Clone, Copy, Default)]
pub struct NextWake {
    /// The earliest send due (a request, an alert, a response, a reminder, an event or a digest) or
    /// lease ending.
    pub send: Option<DateTime<Utc>>,
    /// The earliest answer window ending, idle session closing, or ratings to gather for operators'
    /// digests.
    pub housekeeping: Option<DateTime<Utc>>,
}

/// What to record after a send.
#[derive(Debug, Clone)]
pub enum SendResult {
    /// The platform accepted it; it may be answered until `expires_at`.
    Sent {
        /// The platform's id of the message, if it gave one.
        platform_message_id: Option<String>,
        /// When its answer window ends: the line's `answer_window_hours` from now.
        expires_at: DateTime<Utc>,
        /// When its one reminder is due (`rating.reminder_after_minutes`); `None`: none.
        remind_at: Option<DateTime<Utc>>,
    },
    /// Try again at `at`.
    RetryAt {
        /// When to try again.
        at: DateTime<Utc>,
        /// What went wrong, kept as `last_error`.
        error: String,
    },
    /// Not tried (the channel's rate limit): back in the queue at `at`, the attempt
    /// given back.
    Deferred {
        /// When to try.
        at: DateTime<Utc>,
        /// Which limit held it back, kept as `last_error`.
        reason: String,
    },
    /// It ends here, with `status` (`undeliverable`, `window_closed` or `failed`).
    Final {
        /// The status it ends in.
        status: RequestStatus,
        /// Why, kept as `last_error`.
        error: String,
    },
}

impl Requests<'_> {
    /// Claims up to `limit` due requests for `owner` until `now + lease`.
    #[tracing::instrument(skip(self))]
    pub async fn claim_due(
        self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedRequest>> {
        let lock = match self.0.backend {
            Backend::Postgres => "FOR UPDATE OF q SKIP LOCKED",
            // One connection writes SQLite; the transaction alone keeps claims apart.
            Backend::Sqlite => "",
        };
        // The line's settings come with the claim, in its transaction: nothing can fail
        // between claiming a request and having all it takes to send it.
        let select = claim_select(
            "request_queue q LEFT JOIN rating_requests r ON r.id = q.request_id",
            &format!("WHERE q.run_at <= $1 ORDER BY q.run_at LIMIT $2 {lock}"),
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
        let mut stale = Vec::new();
        let mut lines: HashMap<LineId, Arc<LineSettings>> = HashMap::new();
        for row in &rows {
            // A queue row outlives its request's wait only when the client answered while
            // a send was in flight and its holder died before recording the outcome (or
            // when someone deleted the request by hand).
            if row.try_get::<Option<String>, _>("status")?.as_deref() == Some("scheduled") {
                claimed.push(read_claimed(row, &mut lines)?);
            } else {
                stale.push(row.try_get::<String, _>("queue_id")?);
            }
        }
        if !stale.is_empty() {
            let (which, ids) = self.id_set("request_id", stale.iter().map(String::as_str));
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM request_queue WHERE {which}"
            )))
            .bind(ids)
            .persistent(false) // planned for each run: see `text_array`
            .execute(&mut *tx)
            .await?;
        }
        if !claimed.is_empty() {
            let (which, ids) = self.id_set("request_id", claimed.iter().map(|c| c.id.as_str()));
            let update = format!(
                "UPDATE request_queue
                 SET lease_owner = $2, run_at = $3, attempts = attempts + 1
                 WHERE {which}"
            );
            sqlx::query(sqlx::AssertSqlSafe(update))
                .bind(ids)
                .bind(owner)
                .bind(ms(now + lease))
                .persistent(false) // planned for each run: see `text_array`
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// `column` among `ids` (see [`super::sql::id_set`]).
    fn id_set<'a>(self, column: &str, ids: impl Iterator<Item = &'a str>) -> (String, String) {
        super::sql::id_set(self.0.backend == Backend::Sqlite, column, ids)
    }

    /// What request `id`'s reminder needs: the request as a claim reads it (its line, its
    /// client, when they last wrote), its status now and when its answer window ends.
    pub async fn reminder_target(
        self,
        id: &str,
    ) -> Result<Option<(ClaimedRequest, RequestStatus, Option<DateTime<Utc>>)>> {
        let select = claim_select(
            "rating_requests r LEFT JOIN request_queue q ON q.request_id = r.id",
            "WHERE r.id = $1",
        );
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(select))
            .bind(id)
            .fetch_optional(&self.0.pool)
            .await?
        else {
            return Ok(None);
        };
        let request = read_claimed(&row, &mut HashMap::new())?;
        let status = shown_status(
            &row.try_get::<String, _>("status")?,
            row.try_get::<Option<String>, _>("lease_owner")?.is_some(),
        )?;
        Ok(Some((
            request,
            status,
            opt_time(row.try_get("expires_at")?),
        )))
    }

    /// Records a send's outcome, if this claim still holds the lease. Returns whether it did:
    /// false means the lease ran out and another scheduler has the request now, or the
    /// client answered while a send that then failed was in flight.
    #[tracing::instrument(skip_all, fields(request_id = %claim.id))]
    pub async fn record_send_result(
        self,
        claim: &ClaimedRequest,
        owner: &str,
        result: &SendResult,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let record = Record {
            id: claim.id.to_string(),
            attempts: claim.attempts,
            owner: owner.to_owned(),
            result: result.clone(),
            now,
            events: self.0.events().wanted().await,
        };
        self.0
            .writer
            .write(&claim.id, record, record_send_results)
            .await
    }

    /// The status of session `session_id`'s newest request and when it last changed.
    pub async fn status_of_session(
        self,
        session_id: &SessionId,
    ) -> Result<Option<(RequestStatus, DateTime<Utc>)>> {
        let row = sqlx::query(
            "SELECT status, updated_at FROM rating_requests WHERE session_id = $1
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(session_id)
        .fetch_optional(&self.0.reads)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let status: String = row.try_get("status")?;
        let status = status.parse().map_err(StoreError::Corrupt)?;
        Ok(Some((status, time(row.try_get("updated_at")?))))
    }

    /// Requests unanswered when their answer window ended become `expired`: those sent,
    /// and web chat requests no widget ever showed.
    pub async fn expire_unanswered(self, now: DateTime<Utc>) -> Result<u64> {
        let mut expired = 0;
        for waiting in [
            "status IN ('sent', 'delivered')",
            "status = 'scheduled' AND channel = 'webchat'",
        ] {
            let sql = format!(
                "UPDATE rating_requests
                 SET status = 'expired', run_at = NULL, finished_at = $1, updated_at = $1
                 WHERE {waiting} AND run_at <= $1"
            );
            expired += sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(ms(now))
                .execute(&self.0.pool)
                .await?
                .rows_affected();
        }
        Ok(expired)
    }

    /// When the scheduler must look next: for a send (a due request or a lease's end), and
    /// for housekeeping (an answer window's end or an idle session's close). Read on the
    /// readers' connections, off SQLite's one writer connection (see `answer_context`); a
    /// commit after the read wakes the scheduler anyway.
    pub async fn next_wake(self) -> Result<NextWake> {
        // Only the first queued event of a subscription and request counts: the others
        // wait for it, and would otherwise wake the scheduler for nothing.
        let sql = format!(
            "SELECT
                (SELECT MIN(run_at) FROM request_queue) AS send_at,
                (SELECT MIN(run_at) FROM event_deliveries
                 WHERE status IN ('pending', 'sending') AND {claimable}) AS event_at,
                (SELECT MIN(run_at) FROM alerts
                 WHERE status IN ('pending', 'sending')) AS alert_at,
                (SELECT MIN(run_at) FROM rating_responses
                 WHERE delivery_status IN ('pending', 'sending')) AS response_at,
                (SELECT MIN(run_at) FROM rating_reminders
                 WHERE status IN ('pending', 'sending')) AS reminder_at,
                (SELECT MIN(run_at) FROM operator_notices
                 WHERE status IN ('pending', 'sending')) AS notice_at,
                (SELECT MIN(noted_at) FROM operator_notice_ratings
                 WHERE gathered = 0) AS gather_at,
                (SELECT MIN(run_at) FROM rating_requests
                 WHERE status IN ('sent', 'delivered')) AS expire_at,
                (SELECT MIN(run_at) FROM rating_requests
                 WHERE status = 'scheduled' AND channel = 'webchat') AS widget_expire_at,
                (SELECT MIN(auto_close_at) FROM sessions
                 WHERE auto_close_at IS NOT NULL) AS close_at",
            claimable = super::jobs::EVENT_CLAIMABLE,
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_one(&self.0.reads)
            .await?;
        // Ratings noted for operators' digests are gathered with the housekeeping.
        let expire = [
            row.try_get::<Option<i64>, _>("expire_at")?,
            row.try_get("widget_expire_at")?,
            row.try_get("gather_at")?,
        ]
        .into_iter()
        .flatten()
        .min();
        let close: Option<i64> = row.try_get("close_at")?;
        // Alerts, responses, reminders, events and digests are sends too: the same claim
        // pass takes them.
        let send = [
            "send_at",
            "alert_at",
            "response_at",
            "reminder_at",
            "event_at",
            "notice_at",
        ]
        .into_iter()
        .map(|c| row.try_get::<Option<i64>, _>(c))
        .collect::<std::result::Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .min();
        Ok(NextWake {
            send: opt_time(send),
            housekeeping: opt_time(match (expire, close) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }),
        })
    }

    /// Requests waiting to be sent (scheduled or being sent): the queue depth. Web chat
    /// requests waiting for their widget are not in the scheduler's queue. Counted on the
    /// readers' connections: over millions of rows the count takes a while, and must not
    /// hold SQLite's one writer connection.
    pub async fn queue_depth(self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM request_queue")
            .fetch_one(&self.0.reads)
            .await?;
        Ok(row.try_get("n")?)
    }
}

/// What a platform reported about a message Rateline sent (WhatsApp's status webhooks).
#[derive(Debug, Clone)]
pub enum PlatformStatus {
    /// On the client's device (or read: reading implies delivery).
    Delivered,
    /// It failed after the platform had accepted it; the request ends with `status`.
    Failed {
        /// The status the request ends in: `window_closed`, `undeliverable` or `failed`, by
        /// WhatsApp's error code.
        status: RequestStatus,
        /// WhatsApp's error, kept as `last_error`.
        error: String,
    },
}

impl Requests<'_> {
    /// Applies a WhatsApp status to the request sent as `message_id` (only WhatsApp
    /// reports statuses). Returns the request's id and new status when something changed;
    /// statuses arriving late or twice change nothing.
    pub async fn record_whatsapp_status(
        self,
        message_id: &str,
        news: &PlatformStatus,
        now: DateTime<Utc>,
    ) -> Result<Option<(String, RequestStatus)>> {
        let q = match news {
            // An answered request keeps its status; only the delivery time is noted.
            PlatformStatus::Delivered => sqlx::query(
                "UPDATE rating_requests
                 SET status = CASE WHEN status = 'sent' THEN 'delivered' ELSE status END,
                     delivered_at = COALESCE(delivered_at, $2), updated_at = $2
                 WHERE channel = 'whatsapp' AND platform_message_id = $1
                   AND status IN ('sent', 'delivered', 'answered') AND delivered_at IS NULL
                 RETURNING id, status",
            )
            .bind(message_id)
            .bind(ms(now)),
            PlatformStatus::Failed { status, error } => sqlx::query(
                "UPDATE rating_requests
                 SET status = $3, run_at = NULL, finished_at = $2, last_error = $4, updated_at = $2
                 WHERE channel = 'whatsapp' AND platform_message_id = $1
                   AND status IN ('sent', 'delivered')
                 RETURNING id, status",
            )
            .bind(message_id)
            .bind(ms(now))
            .bind(status)
            .bind(error.clone()),
        };
        let read = |row: sqlx::any::AnyRow| -> Result<(String, RequestStatus)> {
            Ok((row.try_get("id")?, row.try_get("status")?))
        };
        let PlatformStatus::Failed { status, .. } = news else {
            return q.fetch_optional(&self.0.pool).await?.map(read).transpose();
        };
        // A failure ends the request: its event is written with it. It is rare, so it
        // needs no gate (with no subscription, the event's insert adds nothing).
        let mut tx = self.0.pool.begin().await?;
        let Some(row) = q.fetch_optional(&mut *tx).await? else {
            return Ok(None);
        };
        let (id, now_status) = read(row)?;
        if let Some(kind) = super::outbox::request_event(*status) {
            super::outbox::emit_request(&mut tx, true, kind, &id, now).await?;
        }
        tx.commit().await?;
        Ok(Some((id, now_status)))
    }
}

/// The select [`read_claimed`] reads: a request `r` and its queue row `q` (joined by
/// `from`, either way round), its session's client, their window and its line's settings,
/// then `rest` (the `WHERE` on).
fn claim_select(from: &str, rest: &str) -> String {
    format!(
        "SELECT r.id, r.session_id, r.line_id, r.channel, r.client_id, r.scale, r.status,
                r.due_at, r.send_deadline_at, r.expires_at, s.client_name,
                COALESCE(q.attempts, r.attempts) AS attempts, q.lease_owner,
                q.request_id AS queue_id,
                {WINDOW_START} AS last_client_message_at, l.settings
         FROM {from}
              LEFT JOIN sessions s ON s.id = r.session_id
              {WINDOW_JOIN}
              LEFT JOIN lines l ON l.id = r.line_id
         {rest}"
    )
}

/// A request row as the claim's select reads it (`lines` caches the lines' settings parsed
/// so far); `attempts` counts the send about to be made.
fn read_claimed(
    row: &sqlx::any::AnyRow,
    lines: &mut HashMap<LineId, Arc<LineSettings>>,
) -> Result<ClaimedRequest> {
    let corrupt = |e: String| StoreError::Corrupt(format!("claimed request: {e}"));
    let line_id: LineId = row.try_get("line_id")?;
    let line = match lines.get(&line_id) {
        Some(l) => l.clone(),
        None => {
            let settings: String = row.try_get("settings")?;
            let l = Arc::new(
                serde_json::from_str::<LineSettings>(&settings)
                    .map_err(|e| corrupt(format!("settings of line '{line_id}': {e}")))?,
            );
            lines.insert(line_id.clone(), l.clone());
            l
        }
    };
    Ok(ClaimedRequest {
        line,
        id: row.try_get("id")?,
        session_id: row.try_get("session_id")?,
        line_id,
        channel: row.try_get("channel")?,
        client: ClientRef {
            id: row.try_get("client_id")?,
            name: row.try_get("client_name")?,
        },
        scale: row.try_get("scale")?,
        due_at: time(row.try_get("due_at")?),
        send_deadline_at: time(row.try_get("send_deadline_at")?),
        attempts: u32::try_from(row.try_get::<i64, _>("attempts")? + 1).unwrap_or(u32::MAX),
        // A lease still on the row is an earlier holder's that ran out.
        reclaimed: row.try_get::<Option<String>, _>("lease_owner")?.is_some(),
        last_client_message_at: opt_time(row.try_get("last_client_message_at")?),
    })
}

/// A send's outcome, queued for the writer.
struct Record {
    id: String,
    attempts: u32,
    owner: String,
    result: SendResult,
    now: DateTime<Utc>,
    /// Whether any subscription is active (see the `outbox` module).
    events: bool,
}

/// Sends' outcomes, one or many: the platforms' acceptances as one `DELETE` of their leases
/// and one `UPDATE` over all their rows (with a reminder each where the line asks one). The
/// rare outcomes (a retry, a deferral, a final failure) go row by row in [`record_unsent`],
/// and a request's later outcomes in one set run as a set of their own after this one.
///
/// One piece: the set's transaction, its statements in the order the guarantees rest on.
fn record_send_results<'c>(
    conn: &'c mut sqlx::AnyConnection,
    records: &'c [&'c Record],
) -> super::writer::BoxFuture<'c, Result<Vec<bool>>> {
    Box::pin(async move {
        let first_of_key = super::writer::first_of_each(records, |a| &a.id);
        let together: Vec<bool> = records
            .iter()
            .zip(&first_of_key)
            .map(|(a, first_of_key)| *first_of_key && matches!(a.result, SendResult::Sent { .. }))
            .collect();
        let sent: Vec<(&Record, Option<&str>, i64)> = records
            .iter()
            .zip(&together)
            .filter(|(_, together)| **together)
            .filter_map(|(a, _)| match &a.result {
                SendResult::Sent {
                    platform_message_id,
                    expires_at,
                    ..
                } => Some((*a, platform_message_id.as_deref(), ms(*expires_at))),
                _ => None,
            })
            .collect();
        let mut recorded = std::collections::HashSet::new();
        if !sent.is_empty() {
            // As the one-row statements: the lease is taken back by deleting the queue row
            // this claim holds (the attempt number makes it this claim's own); an answer
            // that came while the send was in flight stays answered.
            const SENT: &str =
                "status = CASE WHEN r.status = 'scheduled' THEN 'sent' ELSE r.status END,
                     run_at = CASE WHEN r.status = 'scheduled' THEN x.expires_at ELSE NULL END,
                     sent_at = COALESCE(r.sent_at, x.now), expires_at = x.expires_at,
                     platform_message_id = x.message_id, attempts = x.attempts,
                     last_error = NULL, updated_at = x.now";
            let all: Vec<_> = sent.iter().collect();
            let rows = sent_rows(conn, &all);
            let updated = if rows.sqlite() {
                // SQLite has no `DELETE` inside a `WITH`: the leases first, then the
                // requests whose lease was this claim's.
                let sql = format!(
                    "DELETE FROM request_queue
                     WHERE (request_id, lease_owner, attempts)
                           IN (SELECT id, owner, attempts FROM {})
                     RETURNING request_id",
                    rows.source("l")
                );
                let mut leased = std::collections::HashSet::new();
                for row in rows
                    .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
                    .fetch_all(&mut *conn)
                    .await?
                {
                    leased.insert(row.try_get::<String, _>("request_id")?);
                }
                let held: Vec<_> = sent
                    .iter()
                    .filter(|(a, ..)| leased.contains(&a.id))
                    .collect();
                let rows = sent_rows(conn, &held);
                let sql = format!(
                    "UPDATE rating_requests AS r SET {SENT} FROM {}
                     WHERE r.id = x.id AND r.status IN ('scheduled', 'answered')
                     RETURNING id",
                    rows.source("x")
                );
                rows.bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
                    .fetch_all(&mut *conn)
                    .await?
            } else {
                let sql = format!(
                    "WITH x AS (
                         DELETE FROM request_queue q USING {}
                         WHERE q.request_id = l.id AND q.lease_owner = l.owner
                           AND q.attempts = l.attempts
                         RETURNING l.id, l.attempts, l.now, l.expires_at, l.message_id)
                     UPDATE rating_requests r SET {SENT} FROM x
                     WHERE r.id = x.id AND r.status IN ('scheduled', 'answered')
                     RETURNING r.id",
                    rows.source("l")
                );
                rows.bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
                    .persistent(false) // planned for each run: see `text_array`
                    .fetch_all(&mut *conn)
                    .await?
            };
            for row in &updated {
                recorded.insert(row.try_get::<String, _>("id")?);
            }
        }
        let mut results = Vec::with_capacity(records.len());
        for ((a, together), first_of_key) in records.iter().zip(&together).zip(&first_of_key) {
            if !*first_of_key {
                results.push(false); // recorded by the set below
                continue;
            }
            if !*together {
                results.push(record_unsent(conn, a).await?);
                continue;
            }
            let done = recorded.remove(a.id.as_str());
            if done
                && let SendResult::Sent {
                    remind_at: Some(at),
                    ..
                } = a.result
            {
                remind(conn, &a.id, at, a.now).await?;
            }
            results.push(done);
        }
        // A request's later outcomes, now that its first stands.
        super::writer::run_later(
            conn,
            records,
            &first_of_key,
            &mut results,
            record_send_results,
        )
        .await?;
        Ok(results)
    })
}

/// The columns of an acceptance's row in [`record_send_results`].
const SENT_COLUMNS: &[&str] = &["id", "owner", "attempts", "now", "expires_at", "message_id"];

/// Acceptances (a send's outcome, the platform's message id, when the answer window ends)
/// as the rows of [`record_send_results`]'s statements.
fn sent_rows<'a>(
    conn: &sqlx::AnyConnection,
    sent: &[&(&'a Record, Option<&'a str>, i64)],
) -> SetRows<'a> {
    SetRows::new(conn, SENT_COLUMNS)
        .text(sent.iter().map(|(a, ..)| Some(a.id.as_str())))
        .text(sent.iter().map(|(a, ..)| Some(a.owner.as_str())))
        .int(sent.iter().map(|(a, ..)| Some(i64::from(a.attempts))))
        .int(sent.iter().map(|(a, ..)| Some(ms(a.now))))
        .int(sent.iter().map(|(_, _, at)| Some(*at)))
        .text(sent.iter().map(|(_, id, _)| *id))
}

/// The reminder of a request just sent, made with the send in its transaction: durable
/// from the moment the request counts as sent. A send made twice makes it once.
async fn remind(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO rating_reminders (request_id, status, due_at, run_at, created_at,
                                       updated_at)
         VALUES ($1, 'pending', $2, $2, $3, $3)
         ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(id)
    .bind(ms(at))
    .bind(ms(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A retry's, a deferral's or a final failure's outcome, row by row: the rare outcomes of
/// [`record_send_results`]. One piece: a match over the outcomes, each arm its statements.
fn record_unsent<'c>(
    conn: &'c mut sqlx::AnyConnection,
    a: &'c Record,
) -> super::writer::BoxFuture<'c, Result<bool>> {
    Box::pin(async move {
        let Record {
            id,
            attempts,
            owner,
            result,
            now,
            events,
        } = a;
        let attempts = i64::from(*attempts);
        // A retry or a deferral goes back to the queue: when, with how many attempts (a
        // deferral gives its attempt back), and why it waits, which shows on the request.
        let (back, kept, why) = match result {
            SendResult::RetryAt { at, error } => (Some(*at), attempts, error),
            SendResult::Deferred { at, reason } => (Some(*at), attempts - 1, reason),
            SendResult::Final { error, .. } => (None, attempts, error),
            SendResult::Sent { .. } => {
                return Err(StoreError::Corrupt(format!(
                    "the acceptance of request {id} was left out of its set"
                )));
            }
        };
        // The lease is taken back by deleting the queue row; the attempt number makes it
        // this claim's own: a later claim of the same request, even by this process, is
        // never overwritten by an earlier send's outcome.
        let leased = sqlx::query(
            "DELETE FROM request_queue
             WHERE request_id = $1 AND lease_owner = $2 AND attempts = $3",
        )
        .bind(id)
        .bind(owner)
        .bind(attempts)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1;
        if !leased {
            return Ok(false);
        }
        let q = match result {
            SendResult::Final { status, .. } => sqlx::query(
                "UPDATE rating_requests
                 SET status = $4, run_at = NULL, finished_at = $3, last_error = $5,
                     attempts = $2, updated_at = $3
                 WHERE id = $1 AND status = 'scheduled'",
            )
            .bind(id)
            .bind(kept)
            .bind(ms(*now))
            .bind(status)
            .bind(why.clone()),
            _ => sqlx::query(
                "UPDATE rating_requests SET attempts = $2, updated_at = $3, last_error = $4
                 WHERE id = $1 AND status = 'scheduled'",
            )
            .bind(id)
            .bind(kept)
            .bind(ms(*now))
            .bind(why.clone()),
        };
        let recorded = q.execute(&mut *conn).await?.rows_affected() == 1;
        // Back in the queue, free of any lease.
        if recorded && let Some(at) = back {
            sqlx::query(
                "INSERT INTO request_queue (request_id, run_at, attempts) VALUES ($1, $2, $3)",
            )
            .bind(id)
            .bind(ms(at))
            .bind(kept)
            .execute(&mut *conn)
            .await?;
        }
        let ended = match result {
            SendResult::Final { status, .. } if recorded => super::outbox::request_event(*status),
            _ => None,
        };
        if let Some(kind) = ended {
            super::outbox::emit_request(&mut *conn, *events, kind, id, *now).await?;
        }
        Ok(recorded)
    })
}
