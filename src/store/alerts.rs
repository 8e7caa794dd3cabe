//! Low-rating alerts: who gets one (decided with the rating, in its transaction), what
//! each says when it is sent, and where each one stands.
//!
//! An alert is made for every way a recipient can be reached (e-mail, Telegram chat,
//! webhook), once per rating: `alerts_once` makes a rating that is changed back and forth
//! alert nobody twice. A recipient who cannot be reached is not silently dropped: the
//! alert row says so (`failed`, sink `none`), and one who switched notifications off gets a
//! `skipped` row, so `GET /v1/alerts` shows why someone heard nothing.

use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

use rateline_domain::{
    AlertPace, Listener, Notify, PaceMode, PlannedAlert, Recipient, Scale, Served, SessionId,
    audience, reach,
};
use serde::Serialize;
use sqlx::Row;

use super::base::{Alerts, Backend};
use super::digests::BURST_WINDOW;
use super::error::{Result, StoreError};
use super::inbox::HANDLING_JOIN;
use super::sql::{ms, opt_time, time};

/// Who hears about a rating that becomes low, and when.
#[derive(Debug, Clone, Default)]
pub struct AlertPlan {
    /// The line's `notify_low`: who hears of the rating.
    pub recipients: Vec<rateline_domain::Recipient>,
    /// The line's `rating.alert_delay_seconds`: the least time between the rating and its alerts.
    pub delay: Duration,
    /// How long the alerts wait for what the line asks after a low rating (the comment,
    /// the reasons): they leave when it has all come, or when the wait ends.
    pub wait: Duration,
    /// The line asks for a comment on a low rating.
    pub awaits_comment: bool,
    /// The line asks for reasons after a low rating.
    pub awaits_reasons: bool,
    /// The line's `rating.operators_see_ratings`: when off, a recipient who is an operator
    /// is skipped, since the alert carries the rating and the comment.
    pub operators_see_ratings: bool,
    /// The line's `rating.notify_operator`: a first answer is noted for the operator's
    /// digest (see [`super::digests`]), whatever its value.
    pub notify_operator: bool,
    /// The line's `rating.alert_burst_over` (0: never).
    pub burst_over: u32,
    /// The zone of the people without their own (`server.time_zone`): their quiet hours'.
    pub zone: chrono_tz::Tz,
}

impl AlertPlan {
    /// Whether a rating with (or without) a comment and reasons has all the line asks.
    pub fn complete(&self, has_comment: bool, has_reasons: bool) -> bool {
        (has_comment || !self.awaits_comment) && (has_reasons || !self.awaits_reasons)
    }

    /// When the alerts of a rating that became low at `now` are due: after the line's
    /// delay, and not before what it asks for has come (`complete`) or the wait ended.
    pub fn due(&self, now: DateTime<Utc>, complete: bool) -> DateTime<Utc> {
        if complete {
            now + self.delay
        } else {
            now + self.delay.max(self.wait)
        }
    }
}

/// One alert as `GET /v1/alerts` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertRecord {
    /// The alert's id; a webhook alert's `Idempotency-Key`.
    pub id: String,
    /// The low rating it is about.
    pub rating_id: String,
    /// The rating's session.
    pub session_id: SessionId,
    /// The session's line, whose `notify_low` named the recipient.
    pub line_id: String,
    /// The session's operator; `null` when the session names none.
    pub operator_id: Option<String>,
    /// The person it is for, by id.
    pub recipient: String,
    /// How it reaches them: `email`, `telegram` or `webhook`; `none` on a row that only says
    /// why nobody is reached (`failed` or `skipped`).
    pub sink: String,
    /// `pending` (waiting for its time or a retry), `sending`, `sent`, `failed`, `skipped` (not to
    /// be sent, `last_error` says why) or `digested` (gone into the digest `digest_id`).
    pub status: String,
    /// Tries made to send it.
    pub attempts: i64,
    /// Why the last try failed, or why it is not sent.
    pub last_error: Option<String>,
    /// When it was made: with the rating for an alert, with the late comment for a `comment`.
    pub created_at: DateTime<Utc>,
    /// When its sink took it; `null` until then.
    pub sent_at: Option<DateTime<Utc>>,
    /// `alert`, or `comment`: the client's comment, which came after the alert left,
    /// following it to the same recipient and sink.
    pub kind: String,
    /// For a `comment`: the alert it follows.
    pub thread_of: Option<String>,
    /// For a `digested` alert: the digest it went into (by the recipient's pace, their
    /// quiet hours, or the line's burst).
    pub digest_id: Option<String>,
}

/// Which alerts to list.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Only alerts in this status.
    pub status: Option<String>,
    /// Only alerts of this line.
    pub line: Option<String>,
    /// Only alerts about this operator's sessions.
    pub operator: Option<String>,
    /// Only alerts about this rating.
    pub rating: Option<String>,
    /// The most alerts listed.
    pub limit: i64,
}

/// Everything an alert's message says, read when it is sent (so a comment the client
/// added after the rating is in it).
#[derive(Debug, Clone)]
pub struct AlertDelivery {
    /// The alert's id: its e-mail's `Message-ID` and its webhook's `Idempotency-Key` are made from
    /// it.
    pub id: String,
    /// `email`, `telegram` or `webhook`.
    pub sink: String,
    /// Where the sink sends it: an e-mail address, a Telegram chat id or a webhook URL.
    pub address: Option<String>,
    /// The low rating it is about.
    pub rating_id: String,
    /// The rating's session, whose dashboard page the message links to.
    pub session_id: SessionId,
    /// The session's line.
    pub line_id: String,
    /// The line's name, as the message shows it.
    pub line_name: String,
    /// The session's channel, as the message names it.
    pub channel: String,
    /// The session's operator, when it names one.
    pub operator_id: Option<String>,
    /// The operator's name, when they are a person Rateline knows.
    pub operator_name: Option<String>,
    /// The client, as the session names them.
    pub client_id: String,
    /// The client's name, when the session gave one.
    pub client_name: Option<String>,
    /// The rating's scale, to show its value.
    pub scale: Scale,
    /// The rating's value when the alert is sent.
    pub value: i64,
    /// `None` when there is none, or it was flagged as abusive.
    pub comment: Option<String>,
    /// The reasons the client picked (id and text; empty when they picked none or have
    /// not answered); `None` when the line asks for none and none were given.
    pub reasons: Option<Vec<rateline_domain::LowReason>>,
    /// When the client last changed the rating: its value, comment, reasons or "resolved?".
    pub rated_at: DateTime<Utc>,
    /// The recipient's own `notify.webhook_secret`, which signs a webhook alert.
    pub webhook_secret: Option<rateline_domain::Secret>,
    /// A test a person asked for to see an alert reach them: about no rating at all.
    pub test: bool,
    /// The rating is low now (it may have been raised since the alert was made).
    pub low: bool,
    /// For a comment's follow-up: the alert it follows.
    pub thread: Option<Thread>,
}

/// The alert a follow-up follows.
#[derive(Debug, Clone)]
pub struct Thread {
    /// Its id: the e-mail's `In-Reply-To`, the webhook's `alert.id`.
    pub alert_id: String,
    /// The id its sink gave it (Telegram's message id), which the follow-up replies to.
    pub reply_to: Option<String>,
    /// Its status now: the follow-up waits while it is on its way.
    pub status: String,
    /// It said the comment already.
    pub carried_comment: bool,
}

/// An alert row about to be made: recipient, sink, address, status, why it will not be
/// sent, and the digest it went into (`digested`).
type AlertRow = (
    String,
    &'static str,
    Option<String>,
    &'static str,
    Option<String>,
    Option<String>,
);

/// Sends a rating's comment, which came after its alerts left, to their recipients as a
/// follow-up of each (once per alert, however often the comment is edited); returns how
/// many. Alerts still waiting carry the comment themselves, and one that said it needs none;
/// one in the middle of its send gets one, which waits for it and then decides.
pub(crate) async fn follow_with_comment(
    tx: &mut sqlx::AnyConnection,
    rating_id: &str,
    now: DateTime<Utc>,
) -> Result<usize> {
    let left = sqlx::query(
        "SELECT id, session_id, line_id, operator_id, recipient, sink, address FROM alerts
         WHERE rating_id = $1 AND kind = 'alert' AND status IN ('sent', 'sending')
           AND carried_comment = 0
         ORDER BY created_at, id",
    )
    .bind(rating_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut made = 0;
    for a in &left {
        made += sqlx::query(
            "INSERT INTO alerts (id, rating_id, session_id, line_id, operator_id, recipient, sink,
                                 address, status, run_at, created_at, updated_at, kind, thread_of)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $9, $9, 'comment', $10)
             ON CONFLICT (rating_id, recipient, sink, kind) DO NOTHING",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(rating_id)
        .bind(a.try_get::<String, _>("session_id")?)
        .bind(a.try_get::<String, _>("line_id")?)
        .bind(a.try_get::<Option<String>, _>("operator_id")?)
        .bind(a.try_get::<String, _>("recipient")?)
        .bind(a.try_get::<String, _>("sink")?)
        .bind(a.try_get::<Option<String>, _>("address")?)
        .bind(ms(now))
        .bind(a.try_get::<String, _>("id")?)
        .execute(&mut *tx)
        .await?
        .rows_affected() as usize;
    }
    Ok(made)
}

/// Sends the pending alerts of rating `rating_id` that still wait (for its comment) now,
/// or when `delay` after they were made ends, whichever is later. One already tried keeps
/// its backoff.
pub(crate) async fn release_alerts(
    tx: &mut sqlx::AnyConnection,
    rating_id: &str,
    delay: Duration,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE alerts
         SET run_at = CASE WHEN created_at + $2 > $3 THEN created_at + $2 ELSE $3 END,
             updated_at = $3
         WHERE rating_id = $1 AND status = 'pending' AND attempts = 0 AND run_at > $3
           AND run_at > created_at + $2",
    )
    .bind(rating_id)
    .bind(delay.num_milliseconds())
    .bind(ms(now))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Makes the alerts of a rating that just became low, in the rating's transaction: they
/// exist exactly when the rating does. Returns how many will be sent.
///
/// One piece: the facts the plan needs read in the rating's transaction, the domain's plan
/// (`audience`, `reach`), then each row's pace and its insert, in the order the transaction
/// takes them.
pub(crate) async fn plan_alerts(
    tx: &mut sqlx::AnyConnection,
    rating_id: &str,
    request_id: &str,
    plan: &AlertPlan,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<usize> {
    let req = sqlx::query(
        "SELECT r.session_id, r.line_id, r.operator_id, o.manager_id
         FROM rating_requests r LEFT JOIN people o ON o.id = r.operator_id WHERE r.id = $1",
    )
    .bind(request_id)
    .fetch_one(&mut *tx)
    .await?;
    let session_id: String = req.try_get("session_id")?;
    let line_id: String = req.try_get("line_id")?;
    let operator_id: Option<String> = req.try_get("operator_id")?;
    let manager_id: Option<String> = req.try_get("manager_id")?;

    let served = Served {
        session_id: &session_id,
        operator_id: operator_id.as_deref(),
        manager_id: manager_id.as_deref(),
    };
    let mut members = BTreeMap::new();
    for r in &plan.recipients {
        if let Recipient::Group { id } = r {
            let rows = sqlx::query("SELECT person_id FROM group_members WHERE group_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
            let ids = rows
                .iter()
                .map(|m| m.try_get("person_id"))
                .collect::<std::result::Result<Vec<String>, _>>()?;
            members.insert(id.clone(), ids);
        }
    }
    let (people, nobody) = audience(&plan.recipients, served, &members);
    let mut listeners = BTreeMap::new();
    for id in &people {
        if let Some(l) = listener(&mut *tx, id, plan.zone).await? {
            listeners.insert(id.clone(), l);
        }
    }

    // Rows that say why nobody hears of it are written first, then those to send, each in
    // its turn.
    let mut rows: Vec<AlertRow> = Vec::new();
    let mut paced = Vec::new();
    for row in nobody
        .into_iter()
        .chain(reach(&people, &listeners, plan.operators_see_ratings))
    {
        match row {
            PlannedAlert::Unsent {
                recipient,
                unsent,
                why,
            } => rows.push((recipient, "none", None, unsent.status(), Some(why), None)),
            // `reach` sends only to the listeners it was given.
            PlannedAlert::Send {
                recipient,
                sink,
                address,
            } => {
                if let Some(l) = listeners.get(&recipient) {
                    paced.push((recipient, sink, address, l.pace.clone(), l.zone));
                }
            }
        }
    }

    let mut pending = 0;
    let backend = Backend::of_connection(&*tx);
    // The line's low ratings in the burst window, this one included; read once, if needed.
    let mut burst: Option<i64> = None;
    for (recipient, sink, address, pace, zone) in paced {
        let fold = match pace_of(&mut *tx, &pace, &zone, &recipient, sink, due, now).await? {
            Some(fold) => Some(fold),
            None if plan.burst_over > 0 && pace.mode != PaceMode::Digest => {
                let seen = match burst {
                    Some(n) => n,
                    None => {
                        let n =
                            super::digests::burst_count(&mut *tx, &line_id, Some(rating_id), now)
                                .await?
                                + 1;
                        *burst.insert(n)
                    }
                };
                (seen > i64::from(plan.burst_over)).then_some(("burst", BURST_WINDOW, due))
            }
            None => None,
        };
        let Some((kind, every, not_before)) = fold else {
            rows.push((recipient, sink, Some(address), "pending", None, None));
            continue;
        };
        let fold = super::digests::Fold {
            person: &recipient,
            sink,
            address: &address,
            kind,
            line_id: (kind == "burst").then_some(line_id.as_str()),
            every,
            not_before,
        };
        let digest =
            super::digests::add_to_digest(&mut *tx, backend, &fold, &[rating_id.to_owned()], now)
                .await?;
        rows.push((
            recipient,
            sink,
            Some(address),
            "digested",
            None,
            Some(digest),
        ));
    }
    for (recipient, sink, address, status, error, digest) in rows {
        let run_at = (status == "pending").then(|| ms(due));
        let made = sqlx::query(
            "INSERT INTO alerts (id, rating_id, session_id, line_id, operator_id, recipient, sink,
                                 address, status, run_at, last_error, created_at, updated_at,
                                 digest_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13)
             ON CONFLICT (rating_id, recipient, sink, kind) DO NOTHING",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(rating_id)
        .bind(&session_id)
        .bind(&line_id)
        .bind(operator_id.clone())
        .bind(recipient)
        .bind(sink)
        .bind(address)
        .bind(status)
        .bind(run_at)
        .bind(error)
        .bind(ms(now))
        .bind(digest)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if status == "pending" && made == 1 {
            pending += 1;
        }
    }
    Ok(pending)
}

/// Whether an alert to `recipient`'s `sink`, due at `due`, goes into a digest by their
/// pace or quiet hours ([`AlertPace::holds`]), and which: its kind, the least time between
/// two, and the earliest it may be due. `None`: it goes alone (unless the line's burst
/// folds it).
async fn pace_of(
    tx: &mut sqlx::AnyConnection,
    pace: &AlertPace,
    zone: &chrono_tz::Tz,
    recipient: &str,
    sink: &str,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<(&'static str, chrono::Duration, DateTime<Utc>)>> {
    let sent_alone: i64 = if pace.mode == PaceMode::Capped {
        // Those sent alone (or on their way) to this address in the last hour.
        sqlx::query(
            "SELECT COUNT(*) AS n FROM alerts
             WHERE recipient = $1 AND sink = $2 AND created_at > $3 AND kind = 'alert'
               AND status IN ('pending', 'sending', 'sent')",
        )
        .bind(recipient)
        .bind(sink)
        .bind(ms(now - chrono::Duration::hours(1)))
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?
    } else {
        0
    };
    Ok(pace
        .holds(due, zone, sent_alone)
        .map(|not_before| ("alerts", pace.digest_every(), not_before)))
}

/// A person named for an alert, as [`reach`] weighs them; `None` when no such person exists.
async fn listener(
    tx: &mut sqlx::AnyConnection,
    id: &str,
    server_zone: chrono_tz::Tz,
) -> Result<Option<Listener>> {
    let Some(row) = sqlx::query(
        "SELECT role, notify, notifications_enabled, active, alert_pace, time_zone
         FROM people WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    let notify = serde_json::from_str::<Notify>(&row.try_get::<String, _>("notify")?)
        .map_err(|e| StoreError::Corrupt(format!("notify of person '{id}': {e}")))?;
    let zone = row
        .try_get::<Option<String>, _>("time_zone")?
        .and_then(|own| own.parse().ok())
        .unwrap_or(server_zone);
    Ok(Some(Listener {
        role: row.try_get("role")?,
        notify,
        active: row.try_get::<i64, _>("active")? != 0,
        notifications_enabled: row.try_get::<i64, _>("notifications_enabled")? != 0,
        pace: super::digests::read_pace(id, row.try_get("alert_pace")?),
        zone,
    }))
}

const ALERT_COLUMNS: &str = "a.id, a.rating_id, a.session_id, a.line_id, a.operator_id, \
    a.recipient, a.sink, a.status, a.attempts, a.last_error, a.created_at, a.sent_at, a.kind, \
    a.thread_of, a.digest_id";

fn read_alert(row: &sqlx::any::AnyRow) -> Result<AlertRecord> {
    Ok(AlertRecord {
        id: row.try_get("id")?,
        rating_id: row.try_get("rating_id")?,
        session_id: row.try_get("session_id")?,
        line_id: row.try_get("line_id")?,
        operator_id: row.try_get("operator_id")?,
        recipient: row.try_get("recipient")?,
        sink: row.try_get("sink")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        created_at: time(row.try_get("created_at")?),
        sent_at: opt_time(row.try_get("sent_at")?),
        kind: row.try_get("kind")?,
        thread_of: row.try_get("thread_of")?,
        digest_id: row.try_get("digest_id")?,
    })
}

/// A rating's alerts, oldest first.
pub(crate) async fn alerts_of(
    conn: &mut sqlx::AnyConnection,
    rating_id: &str,
) -> Result<Vec<AlertRecord>> {
    let sql = format!(
        "SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.rating_id = $1 ORDER BY a.created_at, a.id"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(rating_id)
        .fetch_all(conn)
        .await?
        .iter()
        .map(read_alert)
        .collect()
}

/// Low ratings nobody has responded to, counted per line and per operator.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Unanswered {
    /// How many low ratings have no response.
    pub total: i64,
    /// The count for each line, by line id.
    pub by_line: Vec<Count>,
    /// The count for each operator, by person id (`""` for sessions without an operator).
    pub by_operator: Vec<Count>,
    /// The newest of them, up to the filter's limit.
    pub ratings: Vec<UnansweredRating>,
}

/// How many low ratings without a response one line or operator has.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Count {
    /// The line's or operator's id.
    pub key: String,
    /// How many low ratings without a response it has.
    pub count: i64,
}

/// A low rating nobody has responded to.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnansweredRating {
    /// The rating's id.
    pub rating_id: String,
    /// Its session.
    pub session_id: SessionId,
    /// The session's line.
    pub line_id: String,
    /// The session's operator; `null` when it names none.
    pub operator_id: Option<String>,
    /// The rating's value: 0 (👎) or 1 to 5 stars.
    pub value: i64,
    /// `null` when there is none, or it was flagged as abusive.
    pub comment: Option<String>,
    /// When the client last changed the rating: its value, comment, reasons or "resolved?".
    pub rated_at: DateTime<Utc>,
}

impl Alerts<'_> {
    /// Alerts, newest first.
    pub async fn list(self, f: &AlertFilter) -> Result<Vec<AlertRecord>> {
        let mut conditions = vec!["1 = 1".to_owned()];
        let mut binds = Vec::new();
        for (column, value) in [
            ("a.status", &f.status),
            ("a.line_id", &f.line),
            ("a.operator_id", &f.operator),
            ("a.rating_id", &f.rating),
        ] {
            if let Some(v) = value {
                binds.push(v.clone());
                conditions.push(format!("{column} = ${}", binds.len()));
            }
        }
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts a WHERE {}
             ORDER BY a.created_at DESC, a.id DESC LIMIT {}",
            conditions.join(" AND "),
            f.limit
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(b);
        }
        q.fetch_all(&self.0.pool)
            .await?
            .iter()
            .map(read_alert)
            .collect()
    }

    /// Low ratings with no response: not voided, and including those still in their grace
    /// period (that is when a response matters most).
    pub async fn unanswered_low(self, f: &AlertFilter) -> Result<Unanswered> {
        let mut conditions = vec![
            "g.low = 1".to_owned(),
            super::inbox::InboxState::Unanswered.condition().to_owned(),
        ];
        let mut binds = Vec::new();
        for (column, value) in [("r.line_id", &f.line), ("r.operator_id", &f.operator)] {
            if let Some(v) = value {
                binds.push(v.clone());
                conditions.push(format!("{column} = ${}", binds.len()));
            }
        }
        let from = format!(
            "FROM ratings g JOIN rating_requests r ON r.id = g.request_id
                  LEFT JOIN rating_responses p ON p.rating_id = g.id
                  {HANDLING_JOIN}
             WHERE {}",
            conditions.join(" AND ")
        );
        let run = |sql: String| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for b in &binds {
                q = q.bind(b.clone());
            }
            q
        };
        let counts = |rows: Vec<sqlx::any::AnyRow>| -> Result<Vec<Count>> {
            let mut out: Vec<Count> = rows
                .iter()
                .map(|r| {
                    Ok(Count {
                        key: r.try_get("k")?,
                        count: r.try_get("n")?,
                    })
                })
                .collect::<Result<_>>()?;
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        };
        let by_line = counts(
            run(format!(
                "SELECT r.line_id AS k, COUNT(*) AS n {from} GROUP BY r.line_id"
            ))
            .fetch_all(&self.0.pool)
            .await?,
        )?;
        let by_operator = counts(
            run(format!(
                "SELECT COALESCE(r.operator_id, '') AS k, COUNT(*) AS n {from}
                 GROUP BY COALESCE(r.operator_id, '')"
            ))
            .fetch_all(&self.0.pool)
            .await?,
        )?;
        let ratings = run(format!(
            "SELECT g.id, g.session_id, r.line_id, r.operator_id, g.value,
                    CASE WHEN g.comment_flagged_at IS NULL THEN g.comment END AS comment,
                    g.updated_at
             {from} ORDER BY g.updated_at DESC, g.id DESC LIMIT {}",
            f.limit
        ))
        .fetch_all(&self.0.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(UnansweredRating {
                rating_id: r.try_get("id")?,
                session_id: r.try_get("session_id")?,
                line_id: r.try_get("line_id")?,
                operator_id: r.try_get("operator_id")?,
                value: r.try_get("value")?,
                comment: r.try_get("comment")?,
                rated_at: time(r.try_get("updated_at")?),
            })
        })
        .collect::<Result<_>>()?;
        Ok(Unanswered {
            total: by_line.iter().map(|c| c.count).sum(),
            by_line,
            by_operator,
            ratings,
        })
    }

    /// What alert `id` says and where it goes.
    pub async fn delivery(self, id: &str) -> Result<Option<AlertDelivery>> {
        let Some(row) = sqlx::query(
            "SELECT a.id, a.sink, a.address, a.rating_id, a.session_id, a.line_id, a.operator_id,
                    a.thread_of, t.platform_message_id AS reply_to, t.status AS thread_status,
                    t.carried_comment AS thread_carried, g.low,
                    o.name AS operator_name, s.client_id, s.client_name, s.channel, r.scale,
                    g.value, CASE WHEN g.comment_flagged_at IS NULL THEN g.comment END AS comment,
                    g.reasons, g.updated_at, l.settings, rp.notify AS recipient_notify
             FROM alerts a JOIN ratings g ON g.id = a.rating_id
                  JOIN rating_requests r ON r.id = g.request_id
                  JOIN sessions s ON s.id = a.session_id
                  JOIN lines l ON l.id = a.line_id
                  LEFT JOIN people o ON o.id = a.operator_id
                  LEFT JOIN people rp ON rp.id = a.recipient
                  LEFT JOIN alerts t ON t.id = a.thread_of
             WHERE a.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.0.pool)
        .await?
        else {
            return Ok(None);
        };
        let corrupt = |e: String| StoreError::Corrupt(format!("alert {id}: {e}"));
        let line: rateline_domain::LineSettings =
            serde_json::from_str(&row.try_get::<String, _>("settings")?)
                .map_err(|e| corrupt(e.to_string()))?;
        let reasons = super::rows::read_reasons(row.try_get("reasons")?).map(|ids| {
            ids.into_iter()
                .map(|id| rateline_domain::LowReason {
                    text: line.rating.reason_text(&id).to_owned(),
                    id,
                })
                .collect()
        });
        let asks_reasons = !line.rating.low_reasons.is_empty();
        Ok(Some(AlertDelivery {
            id: row.try_get("id")?,
            sink: row.try_get("sink")?,
            address: row.try_get("address")?,
            rating_id: row.try_get("rating_id")?,
            session_id: row.try_get("session_id")?,
            line_id: row.try_get("line_id")?,
            line_name: line.name,
            channel: row.try_get("channel")?,
            operator_id: row.try_get("operator_id")?,
            operator_name: row.try_get("operator_name")?,
            client_id: row.try_get("client_id")?,
            client_name: row.try_get("client_name")?,
            scale: row.try_get("scale")?,
            value: row.try_get("value")?,
            comment: row.try_get("comment")?,
            reasons: reasons.or_else(|| asks_reasons.then(Vec::new)),
            rated_at: time(row.try_get("updated_at")?),
            webhook_secret: row
                .try_get::<Option<String>, _>("recipient_notify")?
                .and_then(|n| serde_json::from_str::<Notify>(&n).ok())
                .and_then(|n| n.webhook_secret)
                .map(rateline_domain::Secret),
            test: false,
            low: row.try_get::<i64, _>("low")? == 1,
            thread: match row.try_get::<Option<String>, _>("thread_of")? {
                Some(alert_id) => Some(Thread {
                    alert_id,
                    reply_to: row.try_get("reply_to")?,
                    status: row.try_get("thread_status")?,
                    carried_comment: row.try_get::<i64, _>("thread_carried")? == 1,
                }),
                None => None,
            },
        }))
    }
}
