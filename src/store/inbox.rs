//! The inbox of low ratings, what a supervisor acts on: unanswered first, then newest. The
//! dashboard's inbox and `GET /v1/ratings` read it a page at a time, with a cursor that
//! names the last rating shown (keyset pagination: a page costs the same however deep it
//! is, and a rating given meanwhile does not shift the next page). The order is by state
//! and time, which change: a rating answered or changed while someone pages through may
//! show again on a later page, or not at all; the first page is always current.

use chrono::{DateTime, Utc};
use rateline_domain::Scale;
use serde::Serialize;
use sqlx::Row;

use super::{Result, Store, StoreError, ms, opt_time, time};

/// Which low ratings: the inbox's filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InboxState {
    /// No response yet (not voided).
    Unanswered,
    /// Responded to (not voided).
    Responded,
    /// Appealed, whatever the decision (not voided).
    Appealed,
    /// Voided by an approved appeal.
    Voided,
}

impl InboxState {
    pub const ALL: [InboxState; 4] = [
        InboxState::Unanswered,
        InboxState::Responded,
        InboxState::Appealed,
        InboxState::Voided,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InboxState::Unanswered => "unanswered",
            InboxState::Responded => "responded",
            InboxState::Appealed => "appealed",
            InboxState::Voided => "voided",
        }
    }

    fn condition(self) -> &'static str {
        match self {
            InboxState::Unanswered => "p.rating_id IS NULL AND g.voided_at IS NULL",
            InboxState::Responded => "p.rating_id IS NOT NULL AND g.voided_at IS NULL",
            InboxState::Appealed => "a.id IS NOT NULL AND g.voided_at IS NULL",
            InboxState::Voided => "g.voided_at IS NOT NULL",
        }
    }
}

impl std::str::FromStr for InboxState {
    type Err = ();
    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        InboxState::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or(())
    }
}

/// Where the last page ended: the last rating shown, in the inbox's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    responded: bool,
    rated_at_ms: i64,
    rating_id: String,
}

impl Cursor {
    /// The opaque text a client sends back as `cursor`.
    pub fn encode(&self) -> String {
        hex::encode(format!(
            "{}.{}.{}",
            u8::from(self.responded),
            self.rated_at_ms,
            self.rating_id
        ))
    }

    /// A cursor this server made; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        let raw = String::from_utf8(hex::decode(text).ok()?).ok()?;
        let mut parts = raw.splitn(3, '.');
        let responded = match parts.next()? {
            "0" => false,
            "1" => true,
            _ => return None,
        };
        Some(Cursor {
            responded,
            rated_at_ms: parts.next()?.parse().ok()?,
            rating_id: parts.next()?.to_owned(),
        })
    }
}

/// The inbox's filters and page.
#[derive(Debug, Clone, Default)]
pub struct InboxFilter {
    /// The caller's reach: only these lines; every line when `None`.
    pub lines: Option<Vec<String>>,
    /// Lines whose ratings the caller may not see one by one.
    pub except_lines: Vec<String>,
    pub line: Option<String>,
    pub operator: Option<String>,
    pub channel: Option<String>,
    /// Rated (last changed) at or after.
    pub from: Option<DateTime<Utc>>,
    /// Rated before.
    pub to: Option<DateTime<Utc>>,
    /// Any state but voided when `None`.
    pub state: Option<InboxState>,
    pub after: Option<Cursor>,
    pub limit: i64,
}

/// The response to a low rating, as the inbox shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InboxResponse {
    pub text: String,
    pub author_id: Option<String>,
    pub edits: i64,
    pub updated_at: DateTime<Utc>,
    /// Its delivery to the client when it was sent to them: pending, sending, sent,
    /// window_closed, undeliverable or failed; `null` when it was not sent.
    pub delivery_status: Option<String>,
}

/// An appeal of a low rating, as the inbox shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InboxAppeal {
    pub id: String,
    /// open, approved or rejected.
    pub status: String,
}

/// How a low rating's alerts went.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct AlertCounts {
    pub sent: i64,
    /// pending or sending.
    pub pending: i64,
    pub failed: i64,
    pub skipped: i64,
}

/// One low rating in the inbox.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InboxItem {
    pub rating_id: String,
    pub session_id: String,
    pub line_id: String,
    pub operator_id: Option<String>,
    /// The operator's name, when they are a known person.
    pub operator_name: Option<String>,
    pub client_id: String,
    pub client_name: Option<String>,
    pub channel: String,
    pub scale: Scale,
    pub value: i64,
    /// Whether the client said the issue was resolved; `null` when not asked.
    pub resolved: Option<bool>,
    /// `null` when there is none, or it was flagged as abusive (`comment_flagged`).
    pub comment: Option<String>,
    pub comment_flagged: bool,
    /// When the rating got its current value.
    pub rated_at: DateTime<Utc>,
    pub voided: bool,
    /// Until when the rating is in its grace period (not yet in the report); `null` when it
    /// counts already.
    pub grace_until: Option<DateTime<Utc>>,
    pub response: Option<InboxResponse>,
    pub appeal: Option<InboxAppeal>,
    pub alerts: AlertCounts,
}

/// One page of the inbox, and the cursor of the next when there is one.
#[derive(Debug, Clone)]
pub struct InboxPage {
    pub items: Vec<InboxItem>,
    pub next: Option<Cursor>,
}

/// `0` for a rating without a response, `1` with one: the inbox's first sort key.
const RESPONDED: &str = "CASE WHEN p.rating_id IS NULL THEN 0 ELSE 1 END";

impl Store {
    /// A page of low ratings, unanswered first, then the newest.
    pub async fn inbox(&self, f: &InboxFilter, now: DateTime<Utc>) -> Result<InboxPage> {
        let Some((conditions, binds)) = where_clause(f) else {
            return Ok(InboxPage {
                items: Vec::new(),
                next: None,
            });
        };
        // One more than the page, to know whether another follows.
        // The page's ids first, over the narrow join the filters need; then everything
        // shown, for those rows only (the alerts' counts are not worked out for every low
        // rating in the store). One more than the page, to know whether another follows.
        let (appeals, requests) = (appeals_join(f), requests_join(f));
        let sql = format!(
            "WITH page AS (
                 SELECT g.id, {RESPONDED} AS responded, g.updated_at
                 FROM ratings g
                 {requests}
                 LEFT JOIN rating_responses p ON p.rating_id = g.id
                 {appeals}
                 WHERE {conditions}
                 ORDER BY responded, g.updated_at DESC, g.id DESC
                 LIMIT {}
             )
             SELECT g.id, g.session_id, r.line_id, r.operator_id, o.name AS operator_name,
                    r.client_id, s.client_name, r.channel, r.scale, g.value, g.resolved,
                    g.comment, g.comment_flagged_at, g.updated_at, g.voided_at, g.counts_from,
                    p.text AS response_text, p.author_id, p.edits,
                    p.updated_at AS response_updated_at, p.delivery_status,
                    a.id AS appeal_id, a.status AS appeal_status,
                    (SELECT COUNT(*) FROM alerts x WHERE x.rating_id = g.id
                                                     AND x.kind = 'alert' AND x.status = 'sent') AS alerts_sent,
                    (SELECT COUNT(*) FROM alerts x WHERE x.rating_id = g.id
                                                     AND x.kind = 'alert' AND x.status IN ('pending', 'sending')) AS alerts_pending,
                    (SELECT COUNT(*) FROM alerts x WHERE x.rating_id = g.id
                                                     AND x.kind = 'alert' AND x.status = 'failed') AS alerts_failed,
                    (SELECT COUNT(*) FROM alerts x WHERE x.rating_id = g.id
                                                     AND x.kind = 'alert' AND x.status = 'skipped') AS alerts_skipped
             FROM page
             JOIN ratings g ON g.id = page.id
             JOIN rating_requests r ON r.id = g.request_id
             JOIN sessions s ON s.id = g.session_id
             LEFT JOIN people o ON o.id = r.operator_id
             LEFT JOIN rating_responses p ON p.rating_id = g.id
             LEFT JOIN appeals a ON a.rating_id = g.id
             ORDER BY page.responded, page.updated_at DESC, page.id DESC",
            f.limit + 1
        );
        let rows = bound(&sql, binds).fetch_all(&self.reads).await?;
        let mut items = rows
            .iter()
            .map(|r| read_item(r, now))
            .collect::<Result<Vec<_>>>()?;
        let next = if items.len() as i64 > f.limit {
            items.truncate(f.limit as usize);
            items.last().map(|last| Cursor {
                responded: last.response.is_some(),
                rated_at_ms: ms(last.rated_at),
                rating_id: last.rating_id.clone(),
            })
        } else {
            None
        };
        Ok(InboxPage { items, next })
    }

    /// How many low ratings `f` matches (its cursor and limit aside).
    pub async fn inbox_count(&self, f: &InboxFilter) -> Result<i64> {
        let f = InboxFilter {
            after: None,
            ..f.clone()
        };
        let Some((conditions, binds)) = where_clause(&f) else {
            return Ok(0);
        };
        let (appeals, requests) = (appeals_join(&f), requests_join(&f));
        let sql = format!(
            "SELECT COUNT(*) AS n FROM ratings g
             {requests}
             LEFT JOIN rating_responses p ON p.rating_id = g.id
             {appeals}
             WHERE {conditions}"
        );
        Ok(bound(&sql, binds)
            .fetch_one(&self.reads)
            .await?
            .try_get("n")?)
    }
}

/// The join to appeals, only when the filter asks about them (it costs a look-up per low
/// rating).
fn appeals_join(f: &InboxFilter) -> &'static str {
    if f.state == Some(InboxState::Appealed) {
        "LEFT JOIN appeals a ON a.rating_id = g.id"
    } else {
        ""
    }
}

/// The join to the requests, only when a filter is about them (line, operator, channel):
/// a whole-store count or page need not look up a request per low rating.
fn requests_join(f: &InboxFilter) -> &'static str {
    if f.lines.is_some()
        || !f.except_lines.is_empty()
        || f.line.is_some()
        || f.operator.is_some()
        || f.channel.is_some()
    {
        "JOIN rating_requests r ON r.id = g.request_id"
    } else {
        ""
    }
}

/// A value bound to the inbox's query.
enum Bind {
    Text(String),
    Int(i64),
}

fn bound(
    sql: &str,
    binds: Vec<Bind>,
) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        query = match b {
            Bind::Text(t) => query.bind(t),
            Bind::Int(i) => query.bind(i),
        };
    }
    query
}

/// The `WHERE` of `f` (over `g` ratings, `p` responses, and `r` requests and `a` appeals
/// when [`requests_join`] and [`appeals_join`] join them) and the
/// values it binds; `None` when it can match nothing (a reach of no lines).
fn where_clause(f: &InboxFilter) -> Option<(String, Vec<Bind>)> {
    let mut conditions = vec!["g.low = 1".to_owned()];
    let mut binds: Vec<Bind> = Vec::new();
    // Binds a value; its placeholder.
    let mut bind = |b: Bind| {
        binds.push(b);
        format!("${}", binds.len())
    };
    if let Some(lines) = &f.lines {
        if lines.is_empty() {
            return None;
        }
        let each: Vec<String> = lines.iter().map(|l| bind(Bind::Text(l.clone()))).collect();
        conditions.push(format!("r.line_id IN ({})", each.join(", ")));
    }
    if !f.except_lines.is_empty() {
        let each: Vec<String> = f
            .except_lines
            .iter()
            .map(|l| bind(Bind::Text(l.clone())))
            .collect();
        conditions.push(format!("r.line_id NOT IN ({})", each.join(", ")));
    }
    for (column, value) in [
        ("r.line_id", &f.line),
        ("r.operator_id", &f.operator),
        ("r.channel", &f.channel),
    ] {
        if let Some(v) = value {
            let p = bind(Bind::Text(v.clone()));
            conditions.push(format!("{column} = {p}"));
        }
    }
    if let Some(from) = f.from {
        let p = bind(Bind::Int(ms(from)));
        conditions.push(format!("g.updated_at >= {p}"));
    }
    if let Some(to) = f.to {
        let p = bind(Bind::Int(ms(to)));
        conditions.push(format!("g.updated_at < {p}"));
    }
    conditions.push(
        f.state
            .map_or("g.voided_at IS NULL", InboxState::condition)
            .to_owned(),
    );
    if let Some(c) = &f.after {
        let responded = bind(Bind::Int(i64::from(c.responded)));
        let at = bind(Bind::Int(c.rated_at_ms));
        let id = bind(Bind::Text(c.rating_id.clone()));
        conditions.push(format!(
            "({RESPONDED} > {responded} OR ({RESPONDED} = {responded} AND \
             (g.updated_at < {at} OR (g.updated_at = {at} AND g.id < {id}))))"
        ));
    }
    Some((conditions.join(" AND "), binds))
}

fn read_item(r: &sqlx::any::AnyRow, now: DateTime<Utc>) -> Result<InboxItem> {
    let scale: String = r.try_get("scale")?;
    let id: String = r.try_get("id")?;
    let counts_from = time(r.try_get("counts_from")?);
    let response = match r.try_get::<Option<String>, _>("response_text")? {
        Some(text) => Some(InboxResponse {
            text,
            author_id: r.try_get("author_id")?,
            edits: r.try_get("edits")?,
            updated_at: time(r.try_get("response_updated_at")?),
            delivery_status: r.try_get("delivery_status")?,
        }),
        None => None,
    };
    let appeal = match r.try_get::<Option<String>, _>("appeal_id")? {
        Some(id) => Some(InboxAppeal {
            id,
            status: r.try_get("appeal_status")?,
        }),
        None => None,
    };
    let flagged = r.try_get::<Option<i64>, _>("comment_flagged_at")?.is_some();
    Ok(InboxItem {
        session_id: r.try_get("session_id")?,
        line_id: r.try_get("line_id")?,
        operator_id: r.try_get("operator_id")?,
        operator_name: r.try_get("operator_name")?,
        client_id: r.try_get("client_id")?,
        client_name: r.try_get("client_name")?,
        channel: r.try_get("channel")?,
        scale: scale
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("scale of rating '{id}': {e}")))?,
        value: r.try_get("value")?,
        resolved: r.try_get::<Option<i64>, _>("resolved")?.map(|v| v == 1),
        comment: if flagged { None } else { r.try_get("comment")? },
        comment_flagged: flagged,
        rated_at: time(r.try_get("updated_at")?),
        voided: opt_time(r.try_get("voided_at")?).is_some(),
        grace_until: (counts_from > now).then_some(counts_from),
        response,
        appeal,
        alerts: AlertCounts {
            sent: r.try_get("alerts_sent")?,
            pending: r.try_get("alerts_pending")?,
            failed: r.try_get("alerts_failed")?,
            skipped: r.try_get("alerts_skipped")?,
        },
        rating_id: id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_nothing_else_does() {
        let c = Cursor {
            responded: true,
            rated_at_ms: 1_763_000_000_123,
            rating_id: "g-01.x".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in ["", "zz", &hex::encode("2.1.x"), &hex::encode("0.x.y")] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
