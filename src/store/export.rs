//! Every rating an inbox filter matches, one by one, for an export: the rows come as the
//! database sends them and are handed on one at a time, so a million of them never sit in
//! memory. Oldest first, with what a person reading the file needs beside each (names, the
//! response, the appeal, the evaluation).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use tokio_stream::StreamExt;

use super::base::Reports;
use super::error::Result;
use super::inbox::{
    APPEALS_JOIN, HANDLING_JOIN, InboxFilter, RESPONSE_JOIN, bound, state_of, where_clause,
};
use super::rows::read_reasons;
use super::sql::time;

/// One rating as an export writes it.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedRating {
    /// The rating's id.
    pub rating_id: String,
    /// Its session.
    pub session_id: String,
    /// When the client last changed the rating: its value, comment, reasons or "resolved?".
    pub rated_at: DateTime<Utc>,
    /// The session's line.
    pub line_id: String,
    /// The session's operator; empty when it names none.
    pub operator_id: Option<String>,
    /// The operator's name, when they are a person Rateline knows.
    pub operator_name: Option<String>,
    /// The client, as the session names them (`erased-…` once erased).
    pub client_id: String,
    /// The client's name, when the session gave one.
    pub client_name: Option<String>,
    /// The session's channel.
    pub channel: String,
    /// `binary` or `five_star`.
    pub scale: String,
    /// 0 (👎) or 1 (👍), or 1 to 5 stars.
    pub value: i64,
    /// Whether the value is low on its line.
    pub low: bool,
    /// The client's answer to "Was your issue resolved?", when they gave one.
    pub resolved: Option<bool>,
    /// The ids of the reasons the client picked after a low rating.
    pub reasons: Vec<String>,
    /// `None` when there is none or it is flagged as abusive (`comment_flagged`).
    pub comment: Option<String>,
    /// Whether a supervisor flagged the comment as abusive.
    pub comment_flagged: bool,
    /// unanswered, assigned, handled or voided; `none` for a rating that is not low.
    pub state: &'static str,
    /// Whom the rating is given to in the inbox (a person id).
    pub assignee_id: Option<String>,
    /// Why it needs no follow-up, when it was closed in the inbox with a note.
    pub closed_note: Option<String>,
    /// The response to the client, as written.
    pub response: Option<String>,
    /// Who wrote the response (a person id).
    pub response_by: Option<String>,
    /// open, approved or rejected.
    pub appeal: Option<String>,
    /// A supervisor's own stars for the session.
    pub evaluation: Option<i64>,
}

impl Reports<'_> {
    /// Sends every rating `f` matches (its page aside) to `out`, oldest first, as the
    /// database sends them; stops early when `out` is closed (the reader has gone). How many
    /// it sent.
    pub async fn each_rating(
        self,
        f: &InboxFilter,
        out: &tokio::sync::mpsc::Sender<ExportedRating>,
    ) -> Result<u64> {
        let Some((conditions, binds)) = where_clause(f) else {
            return Ok(0);
        };
        let sql = format!(
            "SELECT g.id, g.session_id, g.updated_at, g.value, g.low, g.resolved, g.reasons,
                    g.comment, g.comment_flagged_at, g.state_rank,
                    r.line_id, r.operator_id, o.name AS operator_name, r.client_id,
                    s.client_name, r.channel, r.scale, h.assignee_id, h.close_note,
                    p.text AS response, p.author_id AS response_by, a.status AS appeal,
                    e.stars AS evaluation
             FROM ratings g
             JOIN rating_requests r ON r.id = g.request_id
             JOIN sessions s ON s.id = g.session_id
             LEFT JOIN people o ON o.id = r.operator_id
             {RESPONSE_JOIN}
             {HANDLING_JOIN}
             {APPEALS_JOIN}
             LEFT JOIN evaluations e ON e.session_id = g.session_id
             WHERE {conditions}
             ORDER BY g.updated_at, g.id"
        );
        let query = bound(&sql, binds);
        let mut rows = query.fetch(&self.0.reads);
        let mut handed = 0;
        while let Some(row) = rows.next().await {
            let row = row?;
            if out.send(read_exported(&row)?).await.is_err() {
                break;
            }
            handed += 1;
        }
        Ok(handed)
    }
}

fn read_exported(r: &sqlx::any::AnyRow) -> Result<ExportedRating> {
    let flagged = r.try_get::<Option<i64>, _>("comment_flagged_at")?.is_some();
    Ok(ExportedRating {
        rating_id: r.try_get("id")?,
        session_id: r.try_get("session_id")?,
        rated_at: time(r.try_get("updated_at")?),
        line_id: r.try_get("line_id")?,
        operator_id: r.try_get("operator_id")?,
        operator_name: r.try_get("operator_name")?,
        client_id: r.try_get("client_id")?,
        client_name: r.try_get("client_name")?,
        channel: r.try_get("channel")?,
        scale: r.try_get("scale")?,
        value: r.try_get("value")?,
        low: r.try_get::<i64, _>("low")? == 1,
        resolved: r.try_get::<Option<i64>, _>("resolved")?.map(|v| v == 1),
        reasons: read_reasons(r.try_get("reasons")?).unwrap_or_default(),
        comment: if flagged { None } else { r.try_get("comment")? },
        comment_flagged: flagged,
        state: state_of(r)?,
        assignee_id: r.try_get("assignee_id")?,
        closed_note: r.try_get("close_note")?,
        response: r.try_get("response")?,
        response_by: r.try_get("response_by")?,
        appeal: r.try_get("appeal")?,
        evaluation: r.try_get("evaluation")?,
    })
}
