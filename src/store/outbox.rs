//! The outbox: an event is written in the transaction of the change it tells about, one
//! `event_deliveries` row per subscription that wants it, so a crash never loses one and
//! never tells of a change that did not commit (docs/events.md). The scheduler delivers
//! them (see the `events` module).
//!
//! Writes on the hot path (answers, send outcomes) ask [`Events::wanted`](super::Events::wanted) first: with
//! no subscription at all they run no statement for events. Each process reads that from
//! the store at most every [`GATE_TTL`](super::gate::GATE_TTL), and at once after it changed a subscription itself.

use chrono::{DateTime, Utc};
use rateline_domain::EventType;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::base::Events;
use super::error::Result;
use super::sql::{ms, opt_time, time};

/// The `version` of every event's JSON: raised only by a change that breaks a reader.
pub const EVENT_VERSION: u32 = 1;

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
/// (see [`Events::wanted`](super::Events::wanted)).
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

impl Events<'_> {
    /// Whether any subscription is active (as read at most [`GATE_TTL`](super::gate::GATE_TTL) ago): when not,
    /// writes skip their events. When the store cannot say, it answers yes. Read on the
    /// readers' connections: on SQLite the pool's one connection is the writer's, busy with
    /// the batch a write waits to join.
    pub async fn wanted(self) -> bool {
        self.0
            .events
            .read(
                &self.0.reads,
                "SELECT COUNT(*) AS n FROM subscriptions WHERE active = 1",
            )
            .await
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
