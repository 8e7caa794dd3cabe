//! Sessions: open, messages, close — and the rating request a close schedules, written in
//! the same transaction so a close is never accepted without its request.

use chrono::{DateTime, Duration, Utc};
use rateline_domain::{
    Channel, ClientRef, ClosedBy, LineId, LineSettings, MessageFrom, NewSession, PersonId,
    RequestStatus, SessionId,
};
use sqlx::Row;

use super::base::{Backend, Sessions};
use super::error::{Result, StoreError};
use super::ratings::{RatingRevision, rating_with_history};
use super::rows::{REQUEST_COLUMNS, RatingRecord, RequestRecord, read_request, request_view};
use super::sql::{SetRows, WINDOW_JOIN, WINDOW_START, ms, opt_time, time};
use super::writer::BoxFuture;

/// A stored session.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// The session's id, as the contact center or a helpdesk named it.
    pub id: SessionId,
    /// The line it belongs to.
    pub line_id: LineId,
    /// The channel the conversation uses.
    pub channel: Channel,
    /// The client, as the session names them (`erased-…` once erased).
    pub client: ClientRef,
    /// The operator credited with its rating; `None` when it names none.
    pub operator_id: Option<PersonId>,
    /// When the conversation started.
    pub opened_at: DateTime<Utc>,
    /// The latest message of either side, or the open: a close may not come before it.
    pub last_message_at: DateTime<Utc>,
    /// The client's latest message, which Meta's 24-hour window counts from; `None` before the
    /// first.
    pub last_client_message_at: Option<DateTime<Utc>>,
    /// When it closed; `None` while open.
    pub closed_at: Option<DateTime<Utc>>,
    /// Who closed it; `None` while open.
    pub closed_by: Option<ClosedBy>,
}

/// A session with its newest request and rating: the chat-history view.
#[derive(Debug, Clone)]
pub struct SessionView {
    /// The session itself.
    pub session: SessionRecord,
    /// Its newest rating request; `None` before its first close, or where the line does not ask.
    pub request: Option<RequestRecord>,
    /// The rating of that request, with every version, oldest first; `None` before an answer.
    pub rating: Option<(RatingRecord, Vec<RatingRevision>)>,
    /// The follow-up of the rating: its response, appeal and alerts.
    pub response: Option<super::followup::ResponseRecord>,
    /// The rating's appeal, if any.
    pub appeal: Option<super::followup::AppealRecord>,
    /// The rating's alerts, oldest first.
    pub alerts: Vec<super::alerts::AlertRecord>,
    /// A supervisor's own evaluation of the session.
    pub evaluation: Option<super::followup::EvaluationRecord>,
}

impl SessionView {
    /// The view without the client's rating and what follows it (for an operator of a line
    /// that shows ratings to supervisors only).
    pub fn without_rating(self) -> Self {
        Self {
            rating: None,
            response: None,
            appeal: None,
            alerts: Vec::new(),
            ..self
        }
    }
}

/// What a close did.
#[derive(Debug, Clone)]
pub struct CloseResult {
    /// False when the session was closed already: nothing changed.
    pub newly_closed: bool,
    /// The session's request: the new one, or the one an earlier close scheduled.
    pub request: Option<RequestRecord>,
}

/// What a message did.
#[derive(Debug, Clone, Default)]
pub struct MessageResult {
    /// The request cancelled because the client wrote again before it was due.
    pub cancelled_request: Option<String>,
}

/// An event dated before what the session already holds: changed nothing.
#[derive(Debug, Clone, Copy)]
pub struct BeforeStored {
    /// When the session opened.
    pub opened_at: DateTime<Utc>,
    /// The session's last message (a close must not come before it).
    pub last_message_at: DateTime<Utc>,
}

/// When to send a new request, and until when it may still be sent.
#[derive(Debug, Clone, Copy)]
pub struct CloseTiming {
    /// When the session closed, as the caller dated it: the line's delay counts from here.
    pub closed_at: DateTime<Utc>,
    /// The engine's clock at the close: an idle close is judged by it, and a request that ends at
    /// once is dated with it.
    pub now: DateTime<Utc>,
    /// How long after its due time a request may still be sent (`scheduler.send_deadline_seconds`).
    pub send_deadline: Duration,
}

/// The columns [`read_session`] reads.
const SESSION_COLUMNS: &str = "id, line_id, channel, client_id, client_name, operator_id, \
    opened_at, last_message_at, last_client_message_at, closed_at, closed_by";

fn read_session(row: &sqlx::any::AnyRow) -> Result<SessionRecord> {
    Ok(SessionRecord {
        id: row.try_get("id")?,
        line_id: row.try_get("line_id")?,
        channel: row.try_get("channel")?,
        client: ClientRef {
            id: row.try_get("client_id")?,
            name: row.try_get("client_name")?,
        },
        operator_id: row.try_get("operator_id")?,
        opened_at: time(row.try_get("opened_at")?),
        last_message_at: time(row.try_get("last_message_at")?),
        last_client_message_at: opt_time(row.try_get("last_client_message_at")?),
        closed_at: opt_time(row.try_get("closed_at")?),
        closed_by: row.try_get("closed_by")?,
    })
}

impl Sessions<'_> {
    /// Opens a session; `None` (and nothing changed) when the id exists already.
    pub async fn insert(
        self,
        s: &NewSession,
        opened_at: DateTime<Utc>,
        auto_close_minutes: Option<u32>,
    ) -> Result<Option<SessionRecord>> {
        let open = Open {
            session: s.clone(),
            opened_at,
            auto_close_minutes,
        };
        self.0.writer.write(&s.id, open, open_sessions).await
    }

    /// The session `id`, if there is one.
    pub async fn get(self, id: &SessionId) -> Result<Option<SessionRecord>> {
        let mut conn = self.0.pool.acquire().await?;
        session_by_id(&mut conn, id).await
    }

    /// Records a message; `None` when the session does not exist, `Err(BeforeStored)` (and
    /// nothing changed) when it is dated before the session opened.
    ///
    /// Times only move forward, so a late or repeated event changes nothing. A client
    /// message after the close cancels a request that is still waiting for its due time
    /// and reopens the session: the conversation was not over.
    pub async fn record_message(
        self,
        session_id: &SessionId,
        from: MessageFrom,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<std::result::Result<MessageResult, BeforeStored>>> {
        let mut tx = self.0.pool.begin().await?;
        let from_client = i64::from(from == MessageFrom::Client);
        let row = sqlx::query(
            "UPDATE sessions SET
                last_message_at = CASE WHEN last_message_at < $2 THEN $2 ELSE last_message_at END,
                last_client_message_at = CASE
                    WHEN $3 = 1 AND (last_client_message_at IS NULL OR last_client_message_at < $2)
                    THEN $2 ELSE last_client_message_at END,
                client_messages = client_messages + CASE
                    WHEN $3 = 1 AND (last_client_message_at IS NULL OR last_client_message_at < $2)
                    THEN 1 ELSE 0 END,
                auto_close_at = CASE
                    WHEN closed_at IS NULL AND auto_close_minutes IS NOT NULL
                    THEN (CASE WHEN last_message_at < $2 THEN $2 ELSE last_message_at END)
                         + auto_close_minutes * 60000
                    ELSE auto_close_at END
             WHERE id = $1 AND opened_at <= $2
             RETURNING closed_at",
        )
        .bind(session_id)
        .bind(ms(at))
        .bind(from_client)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(before_stored(&mut tx, session_id).await?.map(Err));
        };
        let closed_at: Option<i64> = row.try_get("closed_at")?;
        let mut result = MessageResult::default();
        if from == MessageFrom::Client && closed_at.is_some_and(|c| ms(at) > c) {
            // A web chat request stays `scheduled` while it waits for the widget: once due,
            // the client writing again (perhaps from the very tab that shows the card) does
            // not take it back. Nor does it take back a request being sent (its queue row
            // holds a lease).
            let cancelled = sqlx::query(
                "UPDATE rating_requests
                 SET status = 'cancelled', run_at = NULL, finished_at = $2, updated_at = $2
                 WHERE session_id = $1 AND status = 'scheduled'
                   AND (channel <> 'webchat' OR due_at > $3)
                   AND NOT EXISTS (SELECT 1 FROM request_queue q
                                   WHERE q.request_id = rating_requests.id
                                     AND q.lease_owner IS NOT NULL)
                 RETURNING id",
            )
            .bind(session_id)
            .bind(ms(now))
            .bind(ms(at))
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(c) = cancelled {
                let id: String = c.try_get("id")?;
                sqlx::query("DELETE FROM request_queue WHERE request_id = $1")
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
                result.cancelled_request = Some(id);
                reopen(&mut tx, session_id).await?;
            }
        }
        tx.commit().await?;
        Ok(Some(Ok(result)))
    }

    /// Ends the session's request that waits for an answer (`sent` or `delivered`) as
    /// `cancelled`, and reopens the session: the client wrote something other than an
    /// answer, so the conversation was not over (a helpdesk that handed the chat to
    /// Rateline gets it back). The request's id, when one was waiting.
    pub async fn withdraw_request(
        self,
        session_id: &SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<String>> {
        let mut tx = self.0.pool.begin().await?;
        let withdrawn = sqlx::query(
            "UPDATE rating_requests
             SET status = 'cancelled', run_at = NULL, finished_at = $2, updated_at = $2
             WHERE session_id = $1 AND status IN ('sent', 'delivered')
             RETURNING id",
        )
        .bind(session_id)
        .bind(ms(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = withdrawn else {
            return Ok(None);
        };
        let id: String = row.try_get("id")?;
        reopen(&mut tx, session_id).await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Closes a session and schedules its rating request; `None` when it does not exist,
    /// `Err(BeforeStored)` (and nothing changed) when the close is dated before the session
    /// opened or before its last message.
    ///
    /// Closing a closed session changes nothing and returns the request it already has.
    /// With `only_if_idle`, the close happens only if the session's inactivity deadline
    /// has passed: a message that arrived meanwhile keeps it open.
    pub async fn close(
        self,
        session_id: &SessionId,
        by: ClosedBy,
        timing: CloseTiming,
        only_if_idle: bool,
        tags: &[String],
        skip: Option<&str>,
    ) -> Result<Closing> {
        let close = Close {
            session_id: session_id.to_string(),
            by,
            timing,
            only_if_idle,
            tags: tags.to_vec(),
            skip: skip.map(str::to_owned),
            events: self.0.events().wanted().await,
        };
        self.0.writer.write(session_id, close, close_sessions).await
    }

    /// Sessions whose inactivity deadline has passed, oldest first.
    pub async fn idle(self, now: DateTime<Utc>, limit: i64) -> Result<Vec<SessionId>> {
        let rows = sqlx::query(
            "SELECT id FROM sessions WHERE auto_close_at IS NOT NULL AND auto_close_at <= $1
             ORDER BY auto_close_at LIMIT $2",
        )
        .bind(ms(now))
        .bind(limit)
        .fetch_all(&self.0.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
    }

    /// The session, its newest request and that request's rating, read as one snapshot so
    /// the view never shows a request on a session that is not closed yet.
    pub async fn view(self, id: &SessionId) -> Result<Option<SessionView>> {
        let mut tx = self.0.pool.begin().await?;
        if self.0.backend == Backend::Postgres {
            // READ COMMITTED would give each statement its own snapshot.
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        let Some(session) = session_by_id(&mut tx, id).await? else {
            return Ok(None);
        };
        let request = latest_request(&mut tx, id).await?;
        let rating = match &request {
            Some(r) => rating_with_history(&mut tx, &r.id).await?,
            None => None,
        };
        let (mut response, mut appeal, mut alerts) = (None, None, Vec::new());
        if let Some((g, _)) = &rating {
            response = super::followup::response_of(&mut tx, &g.id).await?;
            appeal = super::followup::appeal_of(&mut tx, &g.id).await?;
            alerts = super::alerts::alerts_of(&mut tx, &g.id).await?;
        }
        let evaluation = super::followup::evaluation_of(&mut tx, id).await?;
        tx.commit().await?;
        Ok(Some(SessionView {
            session,
            request,
            rating,
            response,
            appeal,
            alerts,
            evaluation,
        }))
    }
}

/// The arguments of an open, queued for the writer.
struct Open {
    session: NewSession,
    opened_at: DateTime<Utc>,
    auto_close_minutes: Option<u32>,
}

impl Open {
    fn auto_close_at(&self) -> Option<i64> {
        self.auto_close_minutes
            .map(|m| ms(self.opened_at + Duration::minutes(i64::from(m))))
    }
}

/// Opens as one statement over all their rows; an id given twice is opened by the first and
/// found existing by the others, as one after the other would be.
fn open_sessions<'c>(
    conn: &'c mut sqlx::AnyConnection,
    opens: &'c [&'c Open],
) -> BoxFuture<'c, Result<Vec<Option<SessionRecord>>>> {
    Box::pin(async move {
        let text = |f: fn(&Open) -> Option<&str>| opens.iter().map(move |a| f(a));
        let int = |f: fn(&Open) -> Option<i64>| opens.iter().map(move |a| f(a));
        let rows = SetRows::new(conn, OPEN_COLUMNS)
            .text(text(|a| Some(a.session.id.as_str())))
            .text(text(|a| Some(a.session.line_id.as_str())))
            .text(text(|a| Some(a.session.channel.as_str())))
            .text(text(|a| Some(a.session.client.id.as_str())))
            .text(text(|a| a.session.client.name.as_deref()))
            .text(text(|a| a.session.operator_id.as_deref()))
            .int(int(|a| Some(ms(a.opened_at))))
            .int(int(|a| a.auto_close_minutes.map(i64::from)))
            .int(int(Open::auto_close_at));
        // `WHERE true`: without it SQLite would read `ON CONFLICT` as the join's `ON`.
        let sql = format!(
            "INSERT INTO sessions (id, line_id, channel, client_id, client_name, operator_id,
                                   opened_at, last_message_at, auto_close_minutes, auto_close_at)
             SELECT id, line_id, channel, client_id, client_name, operator_id,
                    opened_at, opened_at, auto_close_minutes, auto_close_at
             FROM {} WHERE true
             ON CONFLICT (id) DO NOTHING
             RETURNING {SESSION_COLUMNS}",
            rows.source("x")
        );
        let mut opened: std::collections::HashMap<SessionId, SessionRecord> = rows
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            // Only inserts the arrays' rows: kept prepared (see `text_array`).
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row| read_session(row).map(|s| (s.id.clone(), s)))
            .collect::<Result<_>>()?;
        Ok(opens
            .iter()
            .map(|a| opened.remove(a.session.id.as_str()))
            .collect())
    })
}

/// The columns of an open's row in [`open_sessions`].
const OPEN_COLUMNS: &[&str] = &[
    "id",
    "line_id",
    "channel",
    "client_id",
    "client_name",
    "operator_id",
    "opened_at",
    "auto_close_minutes",
    "auto_close_at",
];

/// What one close comes to: `None` when the session does not exist, `Err` when the close is
/// dated before what it holds.
type Closing = Option<std::result::Result<CloseResult, BeforeStored>>;

/// The arguments of a close, queued for the writer.
struct Close {
    session_id: String,
    by: ClosedBy,
    timing: CloseTiming,
    only_if_idle: bool,
    /// The close's tags, for `survey.skip_tags`.
    tags: Vec<String>,
    /// Why the caller's own rule skips the request, before the line's.
    skip: Option<String>,
    /// Whether an event subscription is active (a request the window ends is an event).
    events: bool,
}

/// Inserts the request a close made, unless the session has one live or answered: one
/// survey per conversation (`rating_requests_one_live_per_session`, whose predicate holds
/// `answered`; a session whose request was answered is never closed again, so nothing
/// else needs a look).
async fn insert_request(
    conn: &mut sqlx::AnyConnection,
    p: &NewRequest<'_>,
) -> Result<Option<RequestRecord>> {
    let sql = format!(
        "INSERT INTO rating_requests
            (id, session_id, line_id, channel, operator_id, client_id, scale, status,
             due_at, run_at, send_deadline_at, created_at, updated_at, expires_at,
             finished_at, last_error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         ON CONFLICT DO NOTHING
         RETURNING {REQUEST_COLUMNS}"
    );
    let inserted = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(p.id.as_str())
        .bind(p.session_id)
        .bind(p.line_id)
        .bind(p.channel)
        .bind(p.operator_id)
        .bind(p.client_id)
        .bind(p.scale)
        .bind(p.status)
        .bind(p.due_at)
        .bind(p.run_at)
        .bind(p.send_deadline_at)
        .bind(p.created_at)
        .bind(p.updated_at)
        .bind(p.expires_at)
        .bind(p.finished_at)
        .bind(p.last_error.as_deref())
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(read_request)
        .transpose()?;
    if let Some(r) = inserted.as_ref().filter(|r| queued(r)) {
        sqlx::query("INSERT INTO request_queue (request_id, run_at) VALUES ($1, $2)")
            .bind(r.id.as_str())
            .bind(ms(r.due_at))
            .execute(&mut *conn)
            .await?;
    }
    Ok(inserted)
}

/// Whether a request just made waits in the scheduler's queue (`request_queue`): a
/// scheduled one, but for the web chat's, which wait for their widget instead.
fn queued(r: &RequestRecord) -> bool {
    r.status == RequestStatus::Scheduled && r.channel != Channel::Webchat
}

/// Closes, one or many, as one `UPDATE` of their sessions (which brings back each line's
/// settings: one round trip fewer on the hot path) and one `INSERT` of their requests. What
/// the rules decide for each request, and the rare cases, go row by row: a close that
/// closed nothing (the session closed already, dated too early, or gone), a request whose
/// line's `survey.min_days_between` reads the client's earlier ones, and a request the
/// window ended (its event). A session closed twice in one set is closed again by a set of
/// its own after this one, as it would be one close after the other.
///
/// One piece: the set's transaction, its statements in the order the guarantees rest on.
fn close_sessions<'c>(
    conn: &'c mut sqlx::AnyConnection,
    closes: &'c [&'c Close],
) -> BoxFuture<'c, Result<Vec<Closing>>> {
    Box::pin(async move {
        // A session closed twice in one set: the second runs after the set, as it would
        // after the first alone.
        let first_of_key = super::writer::first_of_each(closes, |a| &a.session_id);
        let firsts: Vec<&Close> = closes
            .iter()
            .zip(&first_of_key)
            .filter(|(_, first_of_key)| **first_of_key)
            .map(|(a, _)| *a)
            .collect();
        let text = |f: fn(&Close) -> &str| firsts.iter().map(move |a| Some(f(a)));
        let int = |f: fn(&Close) -> i64| firsts.iter().map(move |a| Some(f(a)));
        let rows = SetRows::new(
            conn,
            &["id", "closed_at", "closed_by", "only_if_idle", "now"],
        )
        .text(text(|a| a.session_id.as_str()))
        .int(int(|a| ms(a.timing.closed_at)))
        .text(text(|a| a.by.as_str()))
        .int(int(|a| i64::from(a.only_if_idle)))
        .int(int(|a| ms(a.timing.now)));
        let sql = format!(
            // The table keeps its name, no alias: SQLite's `RETURNING` knows no alias.
            "UPDATE sessions SET closed_at = x.closed_at, closed_by = x.closed_by,
                                 auto_close_at = NULL
             FROM {}
             WHERE sessions.id = x.id AND sessions.closed_at IS NULL
               AND sessions.opened_at <= x.closed_at AND sessions.last_message_at <= x.closed_at
               AND (x.only_if_idle = 0 OR (sessions.auto_close_at IS NOT NULL
                                           AND sessions.auto_close_at <= x.now))
             RETURNING sessions.id, sessions.line_id, sessions.channel, sessions.client_id,
                       sessions.operator_id, sessions.client_messages,
                       (SELECT settings FROM lines WHERE lines.id = sessions.line_id) AS settings",
            rows.source("x")
        );
        let sqlite = rows.sqlite();
        let mut closed: std::collections::HashMap<String, Closed> = rows
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .persistent(sqlite) // PostgreSQL plans it for each run: see `text_array`
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row| Closed::read(row).map(|c| (c.id.clone(), c)))
            .collect::<Result<_>>()?;
        let closed: Vec<Option<Closed>> = closes
            .iter()
            .zip(&first_of_key)
            .map(|(a, first_of_key)| {
                if *first_of_key {
                    closed.remove(a.session_id.as_str())
                } else {
                    None
                }
            })
            .collect();
        // A request whose line asks at most once in some days is inserted at once, so that
        // the rule of a later close in the set sees it, as it would one after the other.
        let mut plans = Vec::with_capacity(closes.len());
        let mut inserted: std::collections::HashMap<SessionId, RequestRecord> = Default::default();
        for (a, c) in closes.iter().zip(&closed) {
            let plan = match c {
                Some(c) => Some(plan_request(conn, a, c).await?),
                None => None,
            };
            if let Some(Some(p)) = &plan
                && p.seen_by_rules
                && let Some(r) = insert_request(conn, p).await?
            {
                inserted.insert(r.session_id.clone(), r);
            }
            plans.push(plan);
        }
        let new: Vec<&NewRequest> = plans
            .iter()
            .flatten()
            .flatten()
            .filter(|p| !p.seen_by_rules)
            .collect();
        let set: std::collections::HashMap<SessionId, RequestRecord> = if new.is_empty() {
            Default::default()
        } else {
            let text = |f: for<'n> fn(&'n NewRequest<'n>) -> Option<&'n str>| {
                new.iter().map(move |p| f(p))
            };
            let int = |f: fn(&NewRequest<'_>) -> Option<i64>| new.iter().map(move |p| f(p));
            let rows = SetRows::new(conn, REQUEST_INSERT_COLUMNS)
                .text(text(|p| Some(p.id.as_str())))
                .text(text(|p| Some(p.session_id)))
                .text(text(|p| Some(p.line_id)))
                .text(text(|p| Some(p.channel)))
                .text(text(|p| p.operator_id))
                .text(text(|p| Some(p.client_id)))
                .text(text(|p| Some(p.scale)))
                .text(text(|p| Some(p.status)))
                .int(int(|p| Some(p.due_at)))
                .int(int(|p| p.run_at))
                .int(int(|p| Some(p.send_deadline_at)))
                .int(int(|p| Some(p.created_at)))
                .int(int(|p| Some(p.updated_at)))
                .int(int(|p| p.expires_at))
                .int(int(|p| p.finished_at))
                .text(text(|p| p.last_error.as_deref()));
            let columns = REQUEST_INSERT_COLUMNS.join(", ");
            // `WHERE true`: without it SQLite would read `ON CONFLICT` as the join's `ON`.
            let sql = format!(
                "INSERT INTO rating_requests ({columns})
                 SELECT {columns} FROM {} WHERE true
                 ON CONFLICT DO NOTHING
                 RETURNING {REQUEST_COLUMNS}",
                rows.source("x")
            );
            rows.bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
                // Only inserts the arrays' rows: kept prepared (see `text_array`).
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|row| read_request(row).map(|r| (r.session_id.clone(), r)))
                .collect::<Result<_>>()?
        };
        let queue: Vec<&RequestRecord> = set.values().filter(|r| queued(r)).collect();
        if !queue.is_empty() {
            let rows = SetRows::new(conn, &["request_id", "run_at"])
                .text(queue.iter().map(|r| Some(r.id.as_str())))
                .int(queue.iter().map(|r| Some(ms(r.due_at))));
            let sql = format!(
                "INSERT INTO request_queue (request_id, run_at) SELECT request_id, run_at FROM {}",
                rows.source("x")
            );
            rows.bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
                // Only inserts the arrays' rows: kept prepared (see `text_array`).
                .execute(&mut *conn)
                .await?;
        }
        inserted.extend(set);
        let mut results = Vec::with_capacity(closes.len());
        for ((a, first_of_key), plan) in closes.iter().zip(&first_of_key).zip(plans) {
            results.push(match plan {
                Some(planned) => {
                    let request = inserted.remove(a.session_id.as_str());
                    finish_close(conn, a, planned.is_some(), request).await?
                }
                None if *first_of_key => not_closed(conn, a).await?,
                None => None,
            });
        }
        // Those closed twice, now that the first close of each stands.
        super::writer::run_later(conn, closes, &first_of_key, &mut results, close_sessions).await?;
        Ok(results)
    })
}

/// The columns of a request's row in [`close_sessions`], as `rating_requests` names them.
const REQUEST_INSERT_COLUMNS: &[&str] = &[
    "id",
    "session_id",
    "line_id",
    "channel",
    "operator_id",
    "client_id",
    "scale",
    "status",
    "due_at",
    "run_at",
    "send_deadline_at",
    "created_at",
    "updated_at",
    "expires_at",
    "finished_at",
    "last_error",
];

/// A session a close's `UPDATE` closed, as the request is made from it.
struct Closed {
    id: String,
    line_id: String,
    channel: Channel,
    client_id: String,
    operator_id: Option<String>,
    client_messages: i64,
    /// The line's settings, as stored.
    settings: String,
}

impl Closed {
    fn read(row: &sqlx::any::AnyRow) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            line_id: row.try_get("line_id")?,
            channel: row.try_get("channel")?,
            client_id: row.try_get("client_id")?,
            operator_id: row.try_get("operator_id")?,
            client_messages: row.try_get("client_messages")?,
            settings: row.try_get("settings")?,
        })
    }
}

/// A request a close makes, as inserted.
struct NewRequest<'a> {
    id: String,
    session_id: &'a str,
    line_id: &'a str,
    channel: &'a str,
    operator_id: Option<&'a str>,
    client_id: &'a str,
    scale: &'static str,
    status: &'static str,
    due_at: i64,
    run_at: Option<i64>,
    send_deadline_at: i64,
    created_at: i64,
    updated_at: i64,
    expires_at: Option<i64>,
    finished_at: Option<i64>,
    last_error: Option<String>,
    /// Its line's `survey.min_days_between` reads the client's earlier requests.
    seen_by_rules: bool,
}

/// The request the close of `c` makes, as the line's settings and `survey` rules say (a
/// skipped or window-closed one is a row too, ended at once: the funnel says why); `None`
/// where the line does not rate.
async fn plan_request<'a>(
    conn: &mut sqlx::AnyConnection,
    a: &'a Close,
    c: &'a Closed,
) -> Result<Option<NewRequest<'a>>> {
    let line: LineSettings = serde_json::from_str(&c.settings)
        .map_err(|e| StoreError::Corrupt(format!("settings of line '{}': {e}", c.line_id)))?;
    if !line.rating.enabled {
        return Ok(None);
    }
    let timing = a.timing;
    let channel = c.channel;
    let webchat = channel == Channel::Webchat;
    let due = line.rating.due_at(channel, timing.closed_at);
    // A web chat request waits for its widget until the answer window ends, and the
    // scheduler looks at it only then (to expire it); see migration 0006.
    let widget_until =
        webchat.then(|| due + Duration::hours(i64::from(line.rating.answer_window_hours)));
    let asked = Asked {
        close: rateline_domain::SurveyedClose {
            session_id: &a.session_id,
            client_erased: c.client_id.starts_with(super::erasure::ERASED_PREFIX),
            client_messages: c.client_messages,
            tags: &a.tags,
            skip: a.skip.as_deref(),
            closed_at: timing.closed_at,
        },
        line_id: &c.line_id,
        channel,
        client_id: &c.client_id,
    };
    let skipped = skip_reason(&mut *conn, &line.survey, &asked).await?;
    // Decided here, in the close's transaction, so the scheduler never sees a request that
    // the window has already ended.
    let window_closed = match skipped {
        Some(_) => None,
        None => window_passes(&mut *conn, &line, &asked, due).await?,
    };
    let (status, run_at, finished_at, last_error) = match (skipped, window_closed) {
        (Some(why), _) => ("skipped", None, Some(ms(timing.now)), Some(why)),
        (None, Some(why)) => ("window_closed", None, Some(ms(timing.now)), Some(why)),
        (None, None) => (
            "scheduled",
            Some(ms(widget_until.unwrap_or(due))),
            None,
            None,
        ),
    };
    Ok(Some(NewRequest {
        id: uuid::Uuid::now_v7().to_string(),
        session_id: &a.session_id,
        line_id: &c.line_id,
        channel: c.channel.as_str(),
        operator_id: c.operator_id.as_deref(),
        client_id: &c.client_id,
        scale: line.rating.scale.as_str(),
        status,
        due_at: ms(due),
        run_at,
        send_deadline_at: ms(due + timing.send_deadline),
        created_at: ms(timing.closed_at),
        updated_at: ms(timing.now),
        expires_at: widget_until.map(ms),
        finished_at,
        last_error,
        seen_by_rules: line.survey.min_days_between > 0,
    }))
}

/// What a close that closed its session did: the request it made (with its event, when the
/// window ended it), or the one the session has already; nothing when the line does not
/// rate (`planned` false).
async fn finish_close(
    conn: &mut sqlx::AnyConnection,
    a: &Close,
    planned: bool,
    mut request: Option<RequestRecord>,
) -> Result<Closing> {
    if let Some(r) = &request
        && r.status == RequestStatus::WindowClosed
    {
        let kind = rateline_domain::EventType::RequestWindowClosed;
        super::outbox::emit_request(conn, a.events, kind, &r.id, a.timing.now).await?;
    }
    if planned && request.is_none() {
        request = latest_request(conn, &a.session_id).await?;
    }
    Ok(Some(Ok(CloseResult {
        newly_closed: true,
        request,
    })))
}

/// A close that closed nothing: the session is gone (`None`), the close is dated too early
/// (`BeforeStored`), or it was closed already, or (idle closes) is not idle after all: its
/// request as it stands.
async fn not_closed(conn: &mut sqlx::AnyConnection, a: &Close) -> Result<Closing> {
    let Some(row) =
        sqlx::query("SELECT closed_at, opened_at, last_message_at FROM sessions WHERE id = $1")
            .bind(a.session_id.as_str())
            .fetch_optional(&mut *conn)
            .await?
    else {
        return Ok(None);
    };
    let closed_at: Option<i64> = row.try_get("closed_at")?;
    let stored = BeforeStored {
        opened_at: time(row.try_get("opened_at")?),
        last_message_at: time(row.try_get("last_message_at")?),
    };
    let at = a.timing.closed_at;
    if closed_at.is_none() && (at < stored.opened_at || at < stored.last_message_at) {
        return Ok(Some(Err(stored)));
    }
    let request = latest_request(conn, &a.session_id).await?;
    Ok(Some(Ok(CloseResult {
        newly_closed: false,
        request,
    })))
}

/// The close a request would be made for, as the `survey` rules judge it.
struct Asked<'a> {
    /// What the rules that need no more than the close judge it by.
    close: rateline_domain::SurveyedClose<'a>,
    line_id: &'a str,
    channel: Channel,
    client_id: &'a str,
}

/// Why a Meta request due at `due` could not be sent: the client's 24-hour window will
/// have closed by then, and no WhatsApp template may stand in. `None` when it can be
/// sent. (The adapter checks again right before sending.)
async fn window_passes(
    conn: &mut sqlx::AnyConnection,
    line: &LineSettings,
    a: &Asked<'_>,
    due: DateTime<Utc>,
) -> Result<Option<String>> {
    let channel = a.channel;
    if !channel.is_meta() || (channel == Channel::Whatsapp && line.whatsapp_template.is_some()) {
        return Ok(None);
    }
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {WINDOW_START} AS at FROM sessions s {WINDOW_JOIN} WHERE s.id = $1"
    )))
    .bind(a.close.session_id)
    .fetch_one(&mut *conn)
    .await?;
    let last = opt_time(row.try_get("at")?);
    if last.is_some_and(|last| rateline_domain::meta_window_open(last, due)) {
        return Ok(None);
    }
    Ok(Some(match last {
        Some(t) => format!(
            "the client's last message ({}) is more than 24 hours before the due time; \
             Meta allows automated messages only within 24 hours of it",
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        None => "no message from the client is known, so Meta's 24-hour window is closed; \
                 report client messages with POST /v1/sessions/{id}/messages"
            .to_owned(),
    }))
}

/// The first of the line's `survey` rules that skips this close's request, by name and
/// with what it saw ([`SurveyRules::skips`](rateline_domain::SurveyRules)); `None` asks.
/// The client's earlier asks are read only when the close passes the others and
/// `min_days_between` is on.
async fn skip_reason(
    conn: &mut sqlx::AnyConnection,
    rules: &rateline_domain::SurveyRules,
    a: &Asked<'_>,
) -> Result<Option<String>> {
    if let Some(why) = rules.skips(&a.close) {
        return Ok(Some(why));
    }
    let Some(since) = rules.asks_since(a.close.closed_at) else {
        return Ok(None);
    };
    let same_line = match rules.across {
        rateline_domain::Across::Line => "AND line_id = $5",
        rateline_domain::Across::All => "AND $5 = $5",
    };
    // The partial index of the client's channel, named by its predicate as written.
    let indexed = if a.channel == Channel::Webhook {
        "channel = 'webhook'"
    } else {
        "channel <> 'webhook'"
    };
    // A request sent, or on its way, asked (or will ask) the client.
    let sql = format!(
        "SELECT created_at FROM rating_requests
         WHERE {indexed} AND channel = $1 AND client_id = $2 AND created_at > $3
           AND session_id <> $4 {same_line}
           AND (sent_at IS NOT NULL OR status IN ('scheduled', 'sending'))
         ORDER BY created_at DESC LIMIT 1"
    );
    let earlier = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(a.channel)
        .bind(a.client_id)
        .bind(ms(since))
        .bind(a.close.session_id)
        .bind(a.line_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match earlier {
        Some(row) => Some(rules.skipped_as_asked(time(row.try_get("created_at")?))),
        None => None,
    })
}

/// Why a message or close matched no row: `None` when the session does not exist, else the
/// times it was dated before.
async fn before_stored(
    conn: &mut sqlx::AnyConnection,
    session_id: &str,
) -> Result<Option<BeforeStored>> {
    let row = sqlx::query("SELECT opened_at, last_message_at FROM sessions WHERE id = $1")
        .bind(session_id)
        .fetch_optional(conn)
        .await?;
    row.map(|r| {
        Ok(BeforeStored {
            opened_at: time(r.try_get("opened_at")?),
            last_message_at: time(r.try_get("last_message_at")?),
        })
    })
    .transpose()
}

/// Opens a closed session again, its idle close counted from its last message: the
/// conversation was not over.
async fn reopen(conn: &mut sqlx::AnyConnection, session_id: &SessionId) -> Result<()> {
    sqlx::query(
        "UPDATE sessions SET closed_at = NULL, closed_by = NULL,
            auto_close_at = CASE WHEN auto_close_minutes IS NULL THEN NULL
                                 ELSE last_message_at + auto_close_minutes * 60000 END
         WHERE id = $1",
    )
    .bind(session_id)
    .execute(conn)
    .await?;
    Ok(())
}

async fn session_by_id(conn: &mut sqlx::AnyConnection, id: &str) -> Result<Option<SessionRecord>> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(read_session)
        .transpose()
}

async fn latest_request(
    conn: &mut sqlx::AnyConnection,
    session_id: &str,
) -> Result<Option<RequestRecord>> {
    let sql = format!(
        // Ids are time-ordered (UUIDv7) and made by the server; `created_at` is the close
        // time a client may have sent, so it cannot tell which request is newest.
        "SELECT {} FROM rating_requests r WHERE r.session_id = $1
         ORDER BY r.id DESC LIMIT 1",
        request_view()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(session_id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(read_request)
        .transpose()
}

impl Sessions<'_> {
    /// Notes a client's message that reached Rateline from the platform itself (a Meta
    /// webhook): Meta's 24-hour window is the client's, whatever session they are in, and
    /// they often write before the contact center opens one. It does not cancel a
    /// scheduled request; the contact center reports the conversation's messages through
    /// `POST /v1/sessions/{id}/messages`.
    pub async fn touch_client_message(
        self,
        channel: Channel,
        client_id: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO client_windows (channel, client_id, last_message_at) VALUES ($1, $2, $3)
             ON CONFLICT (channel, client_id) DO UPDATE SET last_message_at = $3
             WHERE client_windows.last_message_at < $3",
        )
        .bind(channel)
        .bind(client_id)
        .bind(ms(at))
        .execute(&self.0.pool)
        .await?;
        Ok(())
    }
}
