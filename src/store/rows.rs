//! The records several parts of the store read, with their column lists and the readers
//! that turn a row into one: a leaf, so that the modules that read requests and ratings
//! (sessions, ratings, the follow-up loop, the scheduler's queue) need not use each other.

use chrono::{DateTime, Utc};
use rateline_domain::{
    Channel, LineId, LineSettings, ManagedBy, RequestId, RequestStatus, Scale, SessionId,
};
use sqlx::Row;

use super::error::{Result, StoreError};
use super::sql::{opt_time, time};

/// A stored line.
#[derive(Debug, Clone)]
pub struct LineRecord {
    /// The line's id, as its creator chose it.
    pub id: LineId,
    /// The line's settings, checked when they were written.
    pub settings: LineSettings,
    /// Whether the config file or the API owns it; the file's lines are read-only over HTTP.
    pub managed_by: ManagedBy,
    /// When it was last written.
    pub updated_at: DateTime<Utc>,
    /// Raised by every write (the API's `ETag`).
    pub version: i64,
}

pub(crate) fn read_line(row: &sqlx::any::AnyRow) -> Result<LineRecord> {
    let id: LineId = row.try_get("id")?;
    let settings: String = row.try_get("settings")?;
    let settings = serde_json::from_str(&settings)
        .map_err(|e| StoreError::Corrupt(format!("settings of line '{id}': {e}")))?;
    Ok(LineRecord {
        id,
        settings,
        managed_by: row.try_get("managed_by")?,
        updated_at: time(row.try_get("updated_at")?),
        version: row.try_get("version")?,
    })
}

pub(crate) const LINE_COLUMNS: &str = "id, settings, managed_by, updated_at, version";

/// The columns [`read_request`] reads.
pub(crate) const REQUEST_COLUMNS: &str = "id, session_id, line_id, channel, operator_id, scale, \
    status, due_at, attempts, last_error, platform_message_id, created_at, sent_at, \
    delivered_at, answered_at, expires_at, finished_at";

/// [`REQUEST_COLUMNS`] of a request `r` as people see it: `sending` while its queue row
/// holds a lease (the status is stored `scheduled`; see migration 0025), and the attempts
/// counting the send in flight.
pub(crate) fn request_view() -> String {
    REQUEST_COLUMNS
        .split(", ")
        .map(|c| match c {
            "status" => format!(
                "CASE WHEN r.status = 'scheduled' AND {LEASED} THEN 'sending'
                      ELSE r.status END AS status"
            ),
            "attempts" => "CASE WHEN r.status = 'scheduled'
                                THEN COALESCE((SELECT q.attempts FROM request_queue q
                                               WHERE q.request_id = r.id), r.attempts)
                                ELSE r.attempts END AS attempts"
                .to_owned(),
            c => format!("r.{c}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// That request `r` is being sent: its queue row holds a lease.
pub(crate) const LEASED: &str = "EXISTS (SELECT 1 FROM request_queue q \
    WHERE q.request_id = r.id AND q.lease_owner IS NOT NULL)";

/// A request's status as people see it, from its stored status and whether its queue row
/// holds a lease: the rule [`request_view`] writes in SQL, for rows read without it.
pub(crate) fn shown_status(stored: &str, leased: bool) -> Result<RequestStatus> {
    match stored {
        "scheduled" if leased => Ok(RequestStatus::Sending),
        s => s.parse().map_err(StoreError::Corrupt),
    }
}

/// A stored rating request.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// The request's id: what its buttons carry and its answer names.
    pub id: RequestId,
    /// The session whose close made it.
    pub session_id: SessionId,
    /// The session's line.
    pub line_id: LineId,
    /// The session's channel, which the request goes through.
    pub channel: Channel,
    /// The session's operator, credited with the rating; `None` when it names none.
    pub operator_id: Option<String>,
    /// The line's scale when the request was made, which its answer is judged on.
    pub scale: Scale,
    /// Where it is in its life.
    pub status: RequestStatus,
    /// When it falls due: the close plus the line's delay.
    pub due_at: DateTime<Utc>,
    /// Tries made to send it.
    pub attempts: i64,
    /// Why the last try failed, why it ended, or which rule skipped it.
    pub last_error: Option<String>,
    /// The platform's id of the message sent, by which it is edited and its news matched.
    pub platform_message_id: Option<String>,
    /// When it was made: at the close.
    pub created_at: DateTime<Utc>,
    /// When a platform accepted it; `None` until then.
    pub sent_at: Option<DateTime<Utc>>,
    /// When the channel confirmed the client has it; `None` until then, or where the channel never
    /// says.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When the client first answered; `None` until then.
    pub answered_at: Option<DateTime<Utc>>,
    /// When the answer window ends; `None` until it was sent (or, on the web chat widget, until it
    /// was made).
    pub expires_at: Option<DateTime<Utc>>,
    /// When it ended, answered or not; `None` while it is still under way.
    pub finished_at: Option<DateTime<Utc>>,
}

pub(crate) fn read_request(row: &sqlx::any::AnyRow) -> Result<RequestRecord> {
    Ok(RequestRecord {
        id: row.try_get("id")?,
        session_id: row.try_get("session_id")?,
        line_id: row.try_get("line_id")?,
        channel: row.try_get("channel")?,
        operator_id: row.try_get("operator_id")?,
        scale: row.try_get("scale")?,
        status: row.try_get("status")?,
        due_at: time(row.try_get("due_at")?),
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        platform_message_id: row.try_get("platform_message_id")?,
        created_at: time(row.try_get("created_at")?),
        sent_at: opt_time(row.try_get("sent_at")?),
        delivered_at: opt_time(row.try_get("delivered_at")?),
        answered_at: opt_time(row.try_get("answered_at")?),
        expires_at: opt_time(row.try_get("expires_at")?),
        finished_at: opt_time(row.try_get("finished_at")?),
    })
}

/// A stored rating.
#[derive(Debug, Clone)]
pub struct RatingRecord {
    /// The rating's id.
    pub id: String,
    /// The request it answers: one rating per request.
    pub request_id: RequestId,
    /// The client's answer on the line's scale: 0 (👎) or 1 (👍), or 1 to 5 stars.
    pub value: i64,
    /// Whether the value counts towards CSAT: 👍, or 4–5 stars.
    pub positive: bool,
    /// Whether the value is low on its line.
    pub low: bool,
    /// What the client wrote, kept even when flagged as abusive.
    pub comment: Option<String>,
    /// The client's answer to "Was your issue resolved?", when they gave one.
    pub resolved: Option<bool>,
    /// The reasons given for a low rating, in the line's order; `None` while not answered.
    pub reasons: Option<Vec<String>>,
    /// Given after the request's reminder was sent: credited to the reminder.
    pub after_reminder: bool,
    /// How many times the client changed the value after the first answer.
    pub changes: i64,
    /// When the client first answered.
    pub created_at: DateTime<Utc>,
    /// When the client last changed the rating: its value, comment, reasons or "resolved?".
    pub updated_at: DateTime<Utc>,
    /// Set when an approved appeal took the rating out of the report.
    pub voided_at: Option<DateTime<Utc>>,
    /// The comment was flagged as abusive: hidden from reports and alerts.
    pub comment_flagged: bool,
    /// Who flagged it: a person's id, or `key <id>`.
    pub comment_flagged_by: Option<String>,
    /// The report counts this value from then on (a lowered rating's grace period); until
    /// then they count `prior`, the value before (none for a first answer).
    pub counts_from: DateTime<Utc>,
    /// The value the report counts until `counts_from`; `None` when it counts the value at once.
    pub prior: Option<Counted>,
}

/// A value as the report counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// The value counted.
    pub value: i64,
    /// Whether it counts towards CSAT.
    pub positive: bool,
    /// Whether it counts as low.
    pub low: bool,
}

/// The columns [`read_rating`] reads.
pub(crate) const RATING_COLUMNS: &str = "id, request_id, value, positive, low, comment, resolved, \
    changes, created_at, updated_at, voided_at, comment_flagged_at, comment_flagged_by, \
    counts_from, prior_value, prior_positive, prior_low, reasons, after_reminder";

/// Reasons as stored: ids joined by commas, `''` for none picked, NULL when not answered.
pub(crate) fn stored_reasons(reasons: Option<&[String]>) -> Option<String> {
    reasons.map(|r| r.join(","))
}

/// Reasons as [`stored_reasons`] wrote them.
pub(crate) fn read_reasons(stored: Option<String>) -> Option<Vec<String>> {
    stored.map(|s| {
        s.split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

pub(crate) fn read_rating(row: &sqlx::any::AnyRow) -> Result<RatingRecord> {
    Ok(RatingRecord {
        id: row.try_get("id")?,
        request_id: row.try_get("request_id")?,
        value: row.try_get("value")?,
        positive: row.try_get::<i64, _>("positive")? == 1,
        low: row.try_get::<i64, _>("low")? == 1,
        comment: row.try_get("comment")?,
        resolved: row.try_get::<Option<i64>, _>("resolved")?.map(|r| r == 1),
        reasons: read_reasons(row.try_get("reasons")?),
        after_reminder: row.try_get::<i64, _>("after_reminder")? == 1,
        changes: row.try_get("changes")?,
        created_at: time(row.try_get("created_at")?),
        updated_at: time(row.try_get("updated_at")?),
        voided_at: opt_time(row.try_get("voided_at")?),
        comment_flagged: row
            .try_get::<Option<i64>, _>("comment_flagged_at")?
            .is_some(),
        comment_flagged_by: row.try_get("comment_flagged_by")?,
        counts_from: time(row.try_get("counts_from")?),
        prior: match (
            row.try_get::<Option<i64>, _>("prior_value")?,
            row.try_get::<Option<i64>, _>("prior_positive")?,
            row.try_get::<Option<i64>, _>("prior_low")?,
        ) {
            (Some(value), Some(positive), Some(low)) => Some(Counted {
                value,
                positive: positive == 1,
                low: low == 1,
            }),
            _ => None,
        },
    })
}
