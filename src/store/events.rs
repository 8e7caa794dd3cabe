//! Event subscriptions and the events on their way to them (docs/events.md).
//!
//! An event is written in the transaction of the change it tells about (an outbox): one
//! `event_deliveries` row per subscription that wants it, so a crash never loses one and
//! never tells of a change that did not commit. The scheduler claims them like its other
//! jobs, except that one is claimed only when no earlier event of its subscription and
//! request is still queued (events about one rating arrive in order), and that a
//! delivered event is deleted rather than kept.
//!
//! Writes on the hot path (answers, send outcomes) ask [`Store::events_wanted`] first: with
//! no subscription at all they run no statement for events. Each process reads that from
//! the store at most every [`GATE_TTL`], and at once after it changed a subscription itself.

use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Utc};
use rateline_domain::{EventType, Secret, SubscriptionSettings};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, StoreError, ms, opt_time, time};
use crate::store::jobs::ClaimedJob;

/// How long a process trusts what it last read about whether any subscription is active.
/// A subscription made through another process gets events from at most this long after.
pub const GATE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a subscription may fail without a single success before it is switched off.
pub const SWITCH_OFF_AFTER_DAYS: i64 = 3;

/// The `version` of every event's JSON: raised only by a change that breaks a reader.
pub const EVENT_VERSION: u32 = 1;

/// Whether any subscription is active (or, for [`super::digests`], any digest is queued), as
/// last read, and how many times a change made here has made that reading stale.
#[derive(Debug, Default)]
pub(crate) struct Gate(Mutex<GateState>);

#[derive(Debug, Default)]
struct GateState {
    read: Option<(Instant, bool)>,
    /// Raised by every change here: a reading started before it is not kept.
    generation: u64,
}

impl Gate {
    /// The fresh reading, or the generation a new one starts at.
    fn fresh(&self) -> Result<bool, u64> {
        let held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match held.read {
            Some((at, any)) if at.elapsed() < GATE_TTL => Ok(any),
            _ => Err(held.generation),
        }
    }

    /// Keeps a reading started at `generation`, unless a change came since.
    fn set(&self, any: bool, generation: u64) {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if held.generation == generation {
            held.read = Some((Instant::now(), any));
        }
    }

    /// The reading, fresh or else read now with `count` (a `SELECT` of one count `n`): true
    /// when it counts anything. When the store cannot say, it answers true.
    pub(crate) async fn read(&self, pool: &sqlx::AnyPool, count: &'static str) -> bool {
        let generation = match self.fresh() {
            Ok(any) => return any,
            Err(generation) => generation,
        };
        match sqlx::query(count)
            .fetch_one(pool)
            .await
            .and_then(|row| row.try_get::<i64, _>("n"))
        {
            Ok(n) => {
                self.set(n > 0, generation);
                n > 0
            }
            Err(_) => true,
        }
    }

    pub(crate) fn forget(&self) {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        held.read = None;
        held.generation += 1;
    }
}

/// A subscription as the API shows it: never its secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubscriptionRecord {
    pub id: String,
    pub url: String,
    pub events: Vec<EventType>,
    /// `null`: every line.
    pub lines: Option<Vec<String>>,
    /// `false`: switched off after failing for days; a `PUT` switches it back on.
    pub active: bool,
    /// When the first try of the oldest event still waiting after a failure failed: how
    /// long it has been failing. `null` when no waiting event has failed.
    pub failing_since: Option<DateTime<Utc>>,
    /// What that event's last try got (never the secret).
    pub last_error: Option<String>,
    pub last_delivered_at: Option<DateTime<Utc>>,
    pub switched_off_at: Option<DateTime<Utc>>,
    /// Events waiting for it.
    pub queued: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A claimed event with where it goes.
#[derive(Debug, Clone)]
pub struct EventDelivery {
    pub event_id: String,
    pub subscription_id: String,
    pub kind: String,
    pub url: String,
    pub secret: Secret,
    pub payload: String,
}

/// What became of a delivery.
#[derive(Debug, Clone)]
pub enum EventResult {
    Delivered,
    /// Failed; tried again at `at` unless the subscription has failed for too long.
    Failed {
        at: DateTime<Utc>,
        error: String,
    },
}

/// What recording a delivery's outcome did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// This claim no longer held the lease: nothing was written.
    Stale,
    Done,
    /// The subscription has failed for [`SWITCH_OFF_AFTER_DAYS`] and was switched off now.
    SwitchedOff,
}

/// A subscription's columns, and what its waiting events say: how many, and the oldest that
/// failed (derived, so an event that goes away takes its failure with it).
const SUBSCRIPTION_COLUMNS: &str = "s.id, s.url, s.events, s.lines, s.active, \
    s.last_delivered_at, s.switched_off_at, s.created_at, s.updated_at, \
    (SELECT COUNT(*) FROM event_deliveries d WHERE d.subscription_id = s.id) AS queued, \
    (SELECT MIN(d.first_failed_at) FROM event_deliveries d \
     WHERE d.subscription_id = s.id) AS failing_since, \
    (SELECT d.last_error FROM event_deliveries d \
     WHERE d.subscription_id = s.id AND d.first_failed_at IS NOT NULL \
     ORDER BY d.first_failed_at, d.seq LIMIT 1) AS last_error";

impl SubscriptionRecord {
    /// Its settings as a `PUT` would give them, the secret left out (so the stored one stays).
    pub fn settings(&self) -> SubscriptionSettings {
        SubscriptionSettings {
            url: self.url.clone(),
            secret: None,
            events: self.events.clone(),
            lines: self.lines.clone(),
        }
    }
}

fn read_subscription(row: &sqlx::any::AnyRow) -> Result<SubscriptionRecord> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("subscription: {e}"));
    Ok(SubscriptionRecord {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        events: serde_json::from_str(&row.try_get::<String, _>("events")?).map_err(corrupt)?,
        lines: row
            .try_get::<Option<String>, _>("lines")?
            .map(|l| serde_json::from_str(&l))
            .transpose()
            .map_err(corrupt)?,
        active: row.try_get::<i64, _>("active")? == 1,
        failing_since: opt_time(row.try_get("failing_since")?),
        last_error: row.try_get("last_error")?,
        last_delivered_at: opt_time(row.try_get("last_delivered_at")?),
        switched_off_at: opt_time(row.try_get("switched_off_at")?),
        queued: row.try_get("queued")?,
        created_at: time(row.try_get("created_at")?),
        updated_at: time(row.try_get("updated_at")?),
    })
}

/// `%"<member>"%` for a LIKE over a stored JSON array of ids or event names, with LIKE's
/// own wildcards (`_` in `window_closed`, in line ids) taken literally.
fn json_member(member: &str) -> String {
    let escaped = member
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%\"{escaped}\"%")
}

/// What an event says about its session: whose, where, with whom.
struct Subject {
    session_id: String,
    line_id: String,
    json: Value,
}

async fn subject(conn: &mut sqlx::AnyConnection, request_id: &str) -> Result<Option<Subject>> {
    // On PostgreSQL the request's row is locked until the change commits: events of one
    // request are numbered (`seq`) in the order their changes commit, and one told after
    // an erasure names the pseudonym.
    let lock = if conn.backend_name() == "PostgreSQL" {
        " FOR UPDATE OF r"
    } else {
        ""
    };
    let sql = format!(
        "SELECT s.id, s.line_id, s.channel, s.operator_id, s.client_id, s.client_name
         FROM rating_requests r JOIN sessions s ON s.id = r.session_id WHERE r.id = $1{lock}"
    );
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(request_id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let session_id: String = row.try_get("id")?;
    let line_id: String = row.try_get("line_id")?;
    let json = json!({
        "id": session_id,
        "line_id": line_id,
        "channel": row.try_get::<String, _>("channel")?,
        "operator_id": row.try_get::<Option<String>, _>("operator_id")?,
        "client": {
            "id": row.try_get::<String, _>("client_id")?,
            "name": row.try_get::<Option<String>, _>("client_name")?,
        },
    });
    Ok(Some(Subject {
        session_id,
        line_id,
        json,
    }))
}

/// Queues event `kind` about request `request_id` for every active subscription that
/// wants it, in the caller's transaction. `about` is the event's own part: its name
/// (`rating`, `response`, `request`, `alert`) and content. Does nothing unless `wanted`
/// (see [`Store::events_wanted`]).
pub(crate) async fn emit(
    conn: &mut sqlx::AnyConnection,
    wanted: bool,
    kind: EventType,
    request_id: &str,
    about: (&str, Value),
    now: DateTime<Utc>,
) -> Result<()> {
    if !wanted {
        return Ok(());
    }
    let Some(subject) = subject(&mut *conn, request_id).await? else {
        return Ok(());
    };
    let event_id = uuid::Uuid::now_v7().to_string();
    let mut payload = json!({
        "version": EVENT_VERSION,
        "id": event_id,
        "type": kind.as_str(),
        "occurred_at": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "request_id": request_id,
        "session": subject.json,
    });
    payload[about.0] = about.1;
    sqlx::query(
        "INSERT INTO event_deliveries (id, event_id, subscription_id, type, order_key, session_id,
                                       payload, status, run_at, attempts, created_at, updated_at)
         SELECT $1 || '.' || id, $1, id, $2, $3, $4, $5, 'pending', $6, 0, $6, $6
         FROM subscriptions
         WHERE active = 1 AND events LIKE $7 ESCAPE '\\'
           AND (lines IS NULL OR lines LIKE $8 ESCAPE '\\')",
    )
    .bind(&event_id)
    .bind(kind.as_str())
    .bind(request_id)
    .bind(&subject.session_id)
    .bind(payload.to_string())
    .bind(ms(now))
    .bind(json_member(kind.as_str()))
    .bind(json_member(&subject.line_id))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Queues `kind` about the row `sql` finds for `key` (its `$1`): the row names its
/// request as `request_id`, and `part` makes the event's own part, `name`, from it. Does
/// nothing unless `wanted`, or when the row is gone.
#[allow(clippy::too_many_arguments)]
async fn emit_about(
    conn: &mut sqlx::AnyConnection,
    wanted: bool,
    kind: EventType,
    sql: String,
    key: &str,
    name: &str,
    part: impl FnOnce(&AnyRow) -> Result<Value>,
    now: DateTime<Utc>,
) -> Result<()> {
    if !wanted {
        return Ok(());
    }
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(());
    };
    let request_id: String = row.try_get("request_id")?;
    let about = part(&row)?;
    emit(conn, true, kind, &request_id, (name, about), now).await
}

/// Queues `kind` (a `rating.*` event) about rating `rating_id` as it stands now.
pub(crate) async fn emit_rating(
    conn: &mut sqlx::AnyConnection,
    wanted: bool,
    kind: EventType,
    rating_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let columns = super::rows::RATING_COLUMNS
        .split(", ")
        .map(|c| format!("g.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {columns}, q.scale FROM ratings g JOIN rating_requests q ON q.id = g.request_id
         WHERE g.id = $1"
    );
    let part = |row: &AnyRow| {
        let r = super::rows::read_rating(row)?;
        Ok(json!({
            "id": r.id,
            "scale": row.try_get::<String, _>("scale")?,
            "value": r.value,
            "positive": r.positive,
            "low": r.low,
            // A comment flagged as abusive is not told, as alerts do not say it.
            "comment": r.comment.filter(|_| !r.comment_flagged),
            "comment_flagged": r.comment_flagged,
            "resolved": r.resolved,
            "reasons": r.reasons,
            "changes": r.changes,
            "after_reminder": r.after_reminder,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
            "voided_at": r.voided_at,
        }))
    };
    emit_about(conn, wanted, kind, sql, rating_id, "rating", part, now).await
}

/// Queues `kind` (a `response.*` event) about the response to rating `rating_id`.
pub(crate) async fn emit_response(
    conn: &mut sqlx::AnyConnection,
    wanted: bool,
    kind: EventType,
    rating_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let sql = "SELECT g.request_id, p.rating_id, p.text, p.author_id, p.created_at, p.sent_at
               FROM rating_responses p JOIN ratings g ON g.id = p.rating_id
               WHERE p.rating_id = $1";
    let part = |row: &AnyRow| {
        Ok(json!({
            "rating_id": row.try_get::<String, _>("rating_id")?,
            "text": row.try_get::<String, _>("text")?,
            "author_id": row.try_get::<Option<String>, _>("author_id")?,
            "created_at": time(row.try_get("created_at")?),
            "sent_at": opt_time(row.try_get("sent_at")?),
        }))
    };
    emit_about(
        conn,
        wanted,
        kind,
        sql.into(),
        rating_id,
        "response",
        part,
        now,
    )
    .await
}

/// The event of a request that ended with `status`, if that is one.
pub(crate) fn request_event(status: rateline_domain::RequestStatus) -> Option<EventType> {
    use rateline_domain::RequestStatus;
    match status {
        RequestStatus::Failed => Some(EventType::RequestFailed),
        RequestStatus::Undeliverable => Some(EventType::RequestUndeliverable),
        RequestStatus::WindowClosed => Some(EventType::RequestWindowClosed),
        _ => None,
    }
}

/// Queues `kind` (a `request.*` event) about request `request_id`: how it ended.
pub(crate) async fn emit_request(
    conn: &mut sqlx::AnyConnection,
    wanted: bool,
    kind: EventType,
    request_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let sql = "SELECT id AS request_id, status, attempts, last_error, scale, due_at
               FROM rating_requests WHERE id = $1";
    let part = |row: &AnyRow| {
        Ok(json!({
            "id": row.try_get::<String, _>("request_id")?,
            "status": row.try_get::<String, _>("status")?,
            "scale": row.try_get::<String, _>("scale")?,
            "attempts": row.try_get::<i64, _>("attempts")?,
            "error": row.try_get::<Option<String>, _>("last_error")?,
            "due_at": time(row.try_get("due_at")?),
        }))
    };
    emit_about(
        conn,
        wanted,
        kind,
        sql.into(),
        request_id,
        "request",
        part,
        now,
    )
    .await
}

/// Queues `alert.failed` about alert `alert_id`.
pub(crate) async fn emit_alert_failed(
    conn: &mut sqlx::AnyConnection,
    wanted: bool,
    alert_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let sql = "SELECT g.request_id, a.id, a.rating_id, a.recipient, a.sink, a.attempts,
                      a.last_error
               FROM alerts a JOIN ratings g ON g.id = a.rating_id WHERE a.id = $1";
    let part = |row: &AnyRow| {
        Ok(json!({
            "id": row.try_get::<String, _>("id")?,
            "rating_id": row.try_get::<String, _>("rating_id")?,
            "recipient": row.try_get::<String, _>("recipient")?,
            "sink": row.try_get::<String, _>("sink")?,
            "attempts": row.try_get::<i64, _>("attempts")?,
            "error": row.try_get::<Option<String>, _>("last_error")?,
        }))
    };
    let kind = EventType::AlertFailed;
    emit_about(conn, wanted, kind, sql.into(), alert_id, "alert", part, now).await
}

/// The claim's extra condition: the subscription is active, and no earlier event of the
/// same subscription and request is still queued.
pub(crate) const CLAIMABLE: &str =
    "subscription_id IN (SELECT id FROM subscriptions WHERE active = 1)
    AND NOT EXISTS (SELECT 1 FROM event_deliveries e
                    WHERE e.subscription_id = event_deliveries.subscription_id
                      AND e.order_key = event_deliveries.order_key
                      AND e.seq < event_deliveries.seq)";

impl Store {
    /// Whether any subscription is active (as read at most [`GATE_TTL`] ago): when not,
    /// writes skip their events. When the store cannot say, it answers yes. Read on the
    /// readers' connections: on SQLite the pool's one connection is the writer's, busy with
    /// the batch a write waits to join.
    pub async fn events_wanted(&self) -> bool {
        self.events
            .read(
                &self.reads,
                "SELECT COUNT(*) AS n FROM subscriptions WHERE active = 1",
            )
            .await
    }

    /// Every subscription, or the one with `id`, with how many events wait for each.
    pub async fn subscriptions(&self, id: Option<&str>) -> Result<Vec<SubscriptionRecord>> {
        let filter = if id.is_some() { "WHERE s.id = $1" } else { "" };
        let sql =
            format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s {filter} ORDER BY s.id");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(id) = id {
            q = q.bind(id.to_owned());
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(read_subscription)
            .collect()
    }

    /// Creates or replaces subscription `id` and switches it on; a `secret` left out keeps
    /// the stored one. Its waiting events are due at once; when it was switched off, their
    /// failures are forgotten (its days of failures count anew). Returns the record before
    /// the change (`None`: it is new), or an error naming `secret` when a new subscription
    /// has none. Two admins writing one subscription at once: the later write stands.
    pub async fn put_subscription(
        &self,
        id: &str,
        s: &SubscriptionSettings,
        now: DateTime<Utc>,
    ) -> Result<Result<Option<SubscriptionRecord>, rateline_domain::Invalid>> {
        let before = self.subscriptions(Some(id)).await?.pop();
        let events = serde_json::to_string(&s.events).expect("event names serialise");
        let lines = s
            .lines
            .as_ref()
            .map(|l| serde_json::to_string(l).expect("ids serialise"));
        let mut tx = self.pool.begin().await?;
        let written = match &s.secret {
            Some(secret) => sqlx::query(
                "INSERT INTO subscriptions (id, url, secret, events, lines, active, created_at,
                                            updated_at)
                 VALUES ($1, $2, $3, $4, $5, 1, $6, $6)
                 ON CONFLICT (id) DO UPDATE
                 SET url = $2, secret = $3, events = $4, lines = $5, active = 1,
                     switched_off_at = NULL, updated_at = $6",
            )
            .bind(id)
            .bind(&s.url)
            .bind(secret)
            .bind(&events)
            .bind(lines)
            .bind(ms(now)),
            None => sqlx::query(
                "UPDATE subscriptions
                 SET url = $2, events = $3, lines = $4, active = 1, switched_off_at = NULL,
                     updated_at = $5
                 WHERE id = $1",
            )
            .bind(id)
            .bind(&s.url)
            .bind(&events)
            .bind(lines)
            .bind(ms(now)),
        }
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if written == 0 {
            return Ok(Err(rateline_domain::Invalid::new(
                "secret",
                "is required for a new subscription: at least 16 characters that sign its events",
            )));
        }
        let was_off = before.as_ref().is_some_and(|b| !b.active);
        sqlx::query(
            "UPDATE event_deliveries
             SET run_at = $2, first_failed_at = CASE WHEN $3 = 1 THEN NULL ELSE first_failed_at END
             WHERE subscription_id = $1 AND status = 'pending'",
        )
        .bind(id)
        .bind(ms(now))
        .bind(i64::from(was_off))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.events.forget();
        Ok(Ok(before))
    }

    /// Deletes a subscription and the events waiting for it; whether it existed.
    pub async fn delete_subscription(&self, id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM event_deliveries WHERE subscription_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let gone = sqlx::query("DELETE FROM subscriptions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        tx.commit().await?;
        self.events.forget();
        Ok(gone)
    }

    /// A claimed delivery's event and where it goes; `None` when it is gone (its
    /// subscription was deleted meanwhile).
    pub async fn event_delivery(&self, id: &str) -> Result<Option<EventDelivery>> {
        let Some(row) = sqlx::query(
            "SELECT d.event_id, d.subscription_id, d.type, d.payload, s.url, s.secret
             FROM event_deliveries d JOIN subscriptions s ON s.id = d.subscription_id
             WHERE d.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(EventDelivery {
            event_id: row.try_get("event_id")?,
            subscription_id: row.try_get("subscription_id")?,
            kind: row.try_get("type")?,
            url: row.try_get("url")?,
            secret: Secret(row.try_get("secret")?),
            payload: row.try_get("payload")?,
        }))
    }

    /// Records a delivery's outcome if this claim still holds the lease: a delivered event
    /// is deleted; a failed one waits for its next try (and the later events of its request
    /// with it), and its subscription is switched off once one of its waiting events has
    /// failed for [`SWITCH_OFF_AFTER_DAYS`].
    pub async fn record_event_result(
        &self,
        job: &ClaimedJob,
        owner: &str,
        subscription_id: &str,
        result: &EventResult,
        now: DateTime<Utc>,
    ) -> Result<Recorded> {
        let mut tx = self.pool.begin().await?;
        const HELD: &str = "id = $1 AND status = 'sending' AND lease_owner = $2 AND attempts = $3";
        let recorded = match result {
            EventResult::Delivered => {
                let held = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM event_deliveries WHERE {HELD}"
                )))
                .bind(&job.id)
                .bind(owner)
                .bind(i64::from(job.attempts))
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !held {
                    return Ok(Recorded::Stale);
                }
                sqlx::query("UPDATE subscriptions SET last_delivered_at = $2 WHERE id = $1")
                    .bind(subscription_id)
                    .bind(ms(now))
                    .execute(&mut *tx)
                    .await?;
                Recorded::Done
            }
            EventResult::Failed { at, error } => {
                let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE event_deliveries
                     SET status = 'pending', run_at = $4, last_error = $5, lease_owner = NULL,
                         first_failed_at = COALESCE(first_failed_at, $6), updated_at = $6
                     WHERE {HELD}
                     RETURNING order_key, seq"
                )))
                .bind(&job.id)
                .bind(owner)
                .bind(i64::from(job.attempts))
                .bind(ms(*at))
                .bind(error)
                .bind(ms(now))
                .fetch_optional(&mut *tx)
                .await?
                else {
                    return Ok(Recorded::Stale);
                };
                // The request's later events wait for this one: not due before it, so no
                // pass looks at them meanwhile.
                sqlx::query(
                    "UPDATE event_deliveries SET run_at = $4
                     WHERE subscription_id = $1 AND order_key = $2 AND seq > $3
                       AND status = 'pending' AND run_at < $4",
                )
                .bind(subscription_id)
                .bind(row.try_get::<String, _>("order_key")?)
                .bind(row.try_get::<i64, _>("seq")?)
                .bind(ms(*at))
                .execute(&mut *tx)
                .await?;
                let cutoff = now - chrono::Duration::days(SWITCH_OFF_AFTER_DAYS);
                let off = sqlx::query(
                    "UPDATE subscriptions SET active = 0, switched_off_at = $2, updated_at = $2
                     WHERE id = $1 AND active = 1
                       AND EXISTS (SELECT 1 FROM event_deliveries
                                   WHERE subscription_id = $1 AND first_failed_at <= $3)",
                )
                .bind(subscription_id)
                .bind(ms(now))
                .bind(ms(cutoff))
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if off {
                    // Kept, not due: no pass looks at them until it is switched on.
                    sqlx::query(
                        "UPDATE event_deliveries SET run_at = NULL
                         WHERE subscription_id = $1 AND status = 'pending'",
                    )
                    .bind(subscription_id)
                    .execute(&mut *tx)
                    .await?;
                    Recorded::SwitchedOff
                } else {
                    Recorded::Done
                }
            }
        };
        tx.commit().await?;
        if recorded == Recorded::SwitchedOff {
            self.events.forget();
        }
        Ok(recorded)
    }

    /// Subscriptions that are switched off or failing now, for the dashboard.
    pub async fn troubled_subscriptions(&self) -> Result<Vec<SubscriptionRecord>> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s
             WHERE s.active = 0
                OR EXISTS (SELECT 1 FROM event_deliveries d
                           WHERE d.subscription_id = s.id AND d.first_failed_at IS NOT NULL)
             ORDER BY s.id"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(read_subscription)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_member_is_matched_literally() {
        assert_eq!(json_member("rating.created"), r#"%"rating.created"%"#);
        assert_eq!(
            json_member("request.window_closed"),
            r#"%"request.window\_closed"%"#
        );
        assert_eq!(json_member(r"a%b\c"), r#"%"a\%b\\c"%"#);
    }
}
