//! The follow-up loop: a supervisor's response to a rating (and its delivery to the
//! client), an operator's appeal and an admin's decision, an abusive comment's flag, and a
//! supervisor's own evaluation of a session.

use chrono::{DateTime, Utc};
use rateline_domain::{Channel, ClientRef, EventType, LineId, LineSettings, SessionId};
use serde::Serialize;
use sqlx::Row;

use super::base::{Backend, FollowUps};
use super::error::{Result, StoreError};
use super::rows::{RATING_COLUMNS, read_rating};
use super::sql::{WINDOW_JOIN, WINDOW_START, ms, opt_time, time};

/// The one response to a rating.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResponseRecord {
    /// The rating it answers.
    pub rating_id: String,
    /// The response, as its author wrote it last.
    pub text: String,
    /// Who wrote it (a person id); `null` when written without a person, as with a supervisor key.
    pub author_id: Option<String>,
    /// How many times the text was changed after it was first written.
    pub edits: i64,
    /// 1 when written, one more at each write that changes the text or sends it: the
    /// response's `ETag`, and the version a form or `If-Match` names.
    pub version: i64,
    /// When it was first written.
    pub created_at: DateTime<Utc>,
    /// When it was last written.
    pub updated_at: DateTime<Utc>,
    /// Its way to the client; `null` when it was never sent to them.
    pub delivery: Option<Delivery>,
}

impl ResponseRecord {
    /// The delivery of a response that reached the client or is on its way there (not one
    /// that failed or found the window closed): sending again gives them a second message.
    pub fn with_client(&self) -> Option<&Delivery> {
        self.delivery
            .as_ref()
            .filter(|d| matches!(d.status.as_str(), "pending" | "sending" | "sent"))
    }
}

/// Where the response's way to the client stands.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// pending, sending, sent, window_closed, undeliverable or failed.
    pub status: String,
    /// Tries made to send it.
    pub attempts: i64,
    /// Why the last try failed, or why it will not be sent.
    pub last_error: Option<String>,
    /// When the client's channel took it; `null` until then.
    pub sent_at: Option<DateTime<Utc>>,
}

/// What the scheduler needs to send a response to the client.
#[derive(Debug, Clone)]
pub struct ResponseDelivery {
    /// The rating the response answers.
    pub rating_id: String,
    /// The idempotency key connectors see: the same text sent again keeps it.
    pub key: String,
    /// The response, as sent.
    pub text: String,
    /// The rating's session.
    pub session_id: SessionId,
    /// The session's line.
    pub line_id: LineId,
    /// The session's channel, which the response goes through.
    pub channel: Channel,
    /// The client, whose id on the channel is where it goes.
    pub client: ClientRef,
    /// When the client last wrote, which Meta's 24-hour window counts from.
    pub last_client_message_at: Option<DateTime<Utc>>,
    /// The line's settings, for a `webhook` line's connector.
    pub line: LineSettings,
}

/// An operator's appeal of a rating.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AppealRecord {
    /// The appeal's id.
    pub id: String,
    /// The rating appealed.
    pub rating_id: String,
    /// The session the rating is of.
    pub session_id: SessionId,
    /// The operator the rating is credited to; `null` when its session names none.
    pub operator_id: Option<String>,
    /// What outside the operator's control caused the rating, in the appellant's words.
    pub reason: String,
    /// Who appealed: a person's id, or `key <id>` for a key without a person; `null` in
    /// the open mode and on appeals older than this field.
    pub made_by: Option<String>,
    /// open, approved or rejected.
    pub status: String,
    /// Who decided (a person id); `null` while open, or when decided without a person.
    pub decided_by: Option<String>,
    /// The decider's note, if they wrote one.
    pub note: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was decided; `null` while open.
    pub decided_at: Option<DateTime<Utc>>,
    /// The rating's line: whose supervisors may decide it (`supervisors_decide_appeals`).
    pub line_id: LineId,
    /// What the decider weighs: the rating as it stands, its client and its response.
    pub rating: AppealedRating,
}

/// The rating an appeal is about, as its decider sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AppealedRating {
    /// The line's scale.
    pub scale: rateline_domain::Scale,
    /// The rating's value now: 0 (👎) or 1 to 5 stars.
    pub value: i64,
    /// `null` when there is none, or it is flagged as abusive.
    pub comment: Option<String>,
    /// The client, as the session names them.
    pub client_id: String,
    /// The client's name, when the session gave one.
    pub client_name: Option<String>,
    /// The response to the client, if there is one.
    pub response: Option<String>,
}

/// Which appeals to list.
#[derive(Debug, Clone, Default)]
pub struct AppealFilter {
    /// open, approved or rejected; any when `None`.
    pub status: Option<String>,
    /// Not the appeals of ratings on these lines (they are hidden from the caller).
    pub except_lines: Vec<String>,
    /// Only appeals of ratings on these lines; every line when `None`.
    pub lines: Option<Vec<String>>,
    /// Only this operator's appeals.
    pub operator: Option<String>,
    /// The most appeals listed.
    pub limit: i64,
}

/// A supervisor's evaluation of a session.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EvaluationRecord {
    /// The session evaluated.
    pub session_id: SessionId,
    /// The supervisor's own mark: 1 to 5, whatever the line's scale.
    pub stars: i64,
    /// What the supervisor wrote about the session, if anything.
    pub comment: Option<String>,
    /// Who evaluated (a person id); `null` when done without a person, as with a supervisor key.
    pub author_id: Option<String>,
    /// When the session was first evaluated.
    pub created_at: DateTime<Utc>,
    /// When the evaluation last changed.
    pub updated_at: DateTime<Utc>,
}

/// What a response's write did, or why it changed nothing.
#[derive(Debug, Clone)]
pub enum ResponseWrite {
    /// Written; `true` when it is the rating's first response.
    Written(ResponseRecord, bool),
    /// The rating does not exist.
    NoRating,
    /// The response was not at the version the write expected: it is this now (`None`:
    /// there is none, though the write expected one).
    Stale(Option<ResponseRecord>),
}

/// What an appeal or a decision did, or why it changed nothing.
#[derive(Debug, Clone)]
pub enum AppealOutcome {
    /// Made or decided: the appeal as it is now.
    Done(AppealRecord),
    /// The rating (for an appeal) or the appeal (for a decision) does not exist.
    NotFound,
    /// The rating was appealed already, or the appeal decided already.
    Already(AppealRecord),
}

const RESPONSE_COLUMNS: &str = "rating_id, text, author_id, edits, version, created_at, \
    updated_at, delivery_status, attempts, last_error, sent_at";

fn read_response(row: &sqlx::any::AnyRow) -> Result<ResponseRecord> {
    let status: Option<String> = row.try_get("delivery_status")?;
    Ok(ResponseRecord {
        rating_id: row.try_get("rating_id")?,
        text: row.try_get("text")?,
        author_id: row.try_get("author_id")?,
        edits: row.try_get("edits")?,
        version: row.try_get("version")?,
        created_at: time(row.try_get("created_at")?),
        updated_at: time(row.try_get("updated_at")?),
        delivery: match status {
            Some(status) => Some(Delivery {
                status,
                attempts: row.try_get("attempts")?,
                last_error: row.try_get("last_error")?,
                sent_at: opt_time(row.try_get("sent_at")?),
            }),
            None => None,
        },
    })
}

/// An appeal's columns, with its rating's (one look-up each, by primary key, per appeal).
const APPEAL_COLUMNS: &str =
    "id, rating_id, (SELECT g.session_id FROM ratings g WHERE g.id = appeals.rating_id) AS session_id,
     operator_id, reason, made_by, status, decided_by, note, created_at, decided_at,
     (SELECT r.line_id FROM ratings g JOIN rating_requests r ON r.id = g.request_id
      WHERE g.id = appeals.rating_id) AS line_id,
     (SELECT r.scale FROM ratings g JOIN rating_requests r ON r.id = g.request_id
      WHERE g.id = appeals.rating_id) AS scale,
     (SELECT g.value FROM ratings g WHERE g.id = appeals.rating_id) AS value,
     (SELECT CASE WHEN g.comment_flagged_at IS NULL THEN g.comment END FROM ratings g
      WHERE g.id = appeals.rating_id) AS comment,
     (SELECT r.client_id FROM ratings g JOIN rating_requests r ON r.id = g.request_id
      WHERE g.id = appeals.rating_id) AS client_id,
     (SELECT s.client_name FROM ratings g JOIN sessions s ON s.id = g.session_id
      WHERE g.id = appeals.rating_id) AS client_name,
     (SELECT p.text FROM rating_responses p WHERE p.rating_id = appeals.rating_id) AS response";

fn read_appeal(row: &sqlx::any::AnyRow) -> Result<AppealRecord> {
    Ok(AppealRecord {
        id: row.try_get("id")?,
        rating_id: row.try_get("rating_id")?,
        session_id: row.try_get("session_id")?,
        operator_id: row.try_get("operator_id")?,
        reason: row.try_get("reason")?,
        made_by: row.try_get("made_by")?,
        status: row.try_get("status")?,
        decided_by: row.try_get("decided_by")?,
        note: row.try_get("note")?,
        created_at: time(row.try_get("created_at")?),
        decided_at: opt_time(row.try_get("decided_at")?),
        line_id: row.try_get("line_id")?,
        rating: AppealedRating {
            scale: row.try_get("scale")?,
            value: row.try_get("value")?,
            comment: row.try_get("comment")?,
            client_id: row.try_get("client_id")?,
            client_name: row.try_get("client_name")?,
            response: row.try_get("response")?,
        },
    })
}

fn read_evaluation(row: &sqlx::any::AnyRow) -> Result<EvaluationRecord> {
    Ok(EvaluationRecord {
        session_id: row.try_get("session_id")?,
        stars: row.try_get("stars")?,
        comment: row.try_get("comment")?,
        author_id: row.try_get("author_id")?,
        created_at: time(row.try_get("created_at")?),
        updated_at: time(row.try_get("updated_at")?),
    })
}

/// Reads one row by key with the given columns and reader.
async fn one<T>(
    conn: &mut sqlx::AnyConnection,
    sql: String,
    key: &str,
    read: fn(&sqlx::any::AnyRow) -> Result<T>,
) -> Result<Option<T>> {
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(key)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(read)
        .transpose()
}

pub(crate) async fn response_of(
    conn: &mut sqlx::AnyConnection,
    rating_id: &str,
) -> Result<Option<ResponseRecord>> {
    let sql = format!("SELECT {RESPONSE_COLUMNS} FROM rating_responses WHERE rating_id = $1");
    one(conn, sql, rating_id, read_response).await
}

pub(crate) async fn appeal_of(
    conn: &mut sqlx::AnyConnection,
    rating_id: &str,
) -> Result<Option<AppealRecord>> {
    let sql = format!("SELECT {APPEAL_COLUMNS} FROM appeals WHERE rating_id = $1");
    one(conn, sql, rating_id, read_appeal).await
}

pub(crate) async fn evaluation_of(
    conn: &mut sqlx::AnyConnection,
    session_id: &str,
) -> Result<Option<EvaluationRecord>> {
    one(
        conn,
        "SELECT session_id, stars, comment, author_id, created_at, updated_at
         FROM evaluations WHERE session_id = $1"
            .to_owned(),
        session_id,
        read_evaluation,
    )
    .await
}

/// Puts a new appeal of rating `rating_id` into the next "appeals to decide" digest of each
/// of `deciders` (the engine says who may decide it), at each of their addresses, in the
/// appeal's transaction.
async fn tell_deciders(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    rating_id: &str,
    deciders: &[String],
    now: DateTime<Utc>,
) -> Result<()> {
    for id in deciders {
        let Some(row) = sqlx::query("SELECT notify FROM people WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            continue;
        };
        let Ok(notify) =
            serde_json::from_str::<rateline_domain::Notify>(&row.try_get::<String, _>("notify")?)
        else {
            continue;
        };
        let to = super::digests::PersonDigests {
            person: id,
            notify: &notify,
            kind: "appeals",
        };
        to.add(&mut *tx, backend, &[rating_id.to_owned()], now)
            .await?;
    }
    Ok(())
}

impl FollowUps<'_> {
    /// The response to rating `rating_id`, if it has one.
    pub async fn response(self, rating_id: &str) -> Result<Option<ResponseRecord>> {
        let mut conn = self.0.pool.acquire().await?;
        response_of(&mut conn, rating_id).await
    }

    /// Writes the response to a rating (the first, or an edit), only when the response is
    /// at version `expected` (0: there is none yet), so two people answering at once cannot
    /// both reach the client. With `send_to_client` its (new) text is queued for the client
    /// at once.
    pub async fn put_response(
        self,
        rating_id: &str,
        expected: i64,
        text: &str,
        author_id: Option<&str>,
        send_to_client: bool,
        now: DateTime<Utc>,
    ) -> Result<ResponseWrite> {
        let events = self.0.events().wanted().await;
        let mut tx = self.0.pool.begin().await?;
        if sqlx::query("SELECT 1 FROM ratings WHERE id = $1")
            .bind(rating_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_none()
        {
            return Ok(ResponseWrite::NoRating);
        }
        let send = i64::from(send_to_client);
        // Each write is conditional on the version, so that of two written at once the
        // second changes nothing, whichever reached the database first.
        let written = if expected == 0 {
            sqlx::query(
                "INSERT INTO rating_responses (rating_id, text, author_id, edits, version,
                                               created_at, updated_at, delivery_status, run_at)
                 VALUES ($1, $2, $3, 0, 1, $4, $4,
                         CASE WHEN $5 = 1 THEN 'pending' END, CASE WHEN $5 = 1 THEN $4 END)
                 ON CONFLICT (rating_id) DO NOTHING",
            )
            .bind(rating_id)
            .bind(text)
            .bind(author_id)
            .bind(ms(now))
            .bind(send)
            .execute(&mut *tx)
            .await?
        } else {
            // A new send starts over: attempts from zero, any lease of an earlier send
            // given up (its outcome, when it comes, no longer matches and is dropped).
            sqlx::query(
                "UPDATE rating_responses
                 SET author_id = COALESCE($3, author_id),
                     edits = edits + CASE WHEN text <> $2 THEN 1 ELSE 0 END,
                     version = version + CASE WHEN text <> $2 OR $5 = 1 THEN 1 ELSE 0 END,
                     text = $2, updated_at = $4,
                     delivery_status = CASE WHEN $5 = 1 THEN 'pending' ELSE delivery_status END,
                     run_at = CASE WHEN $5 = 1 THEN $4 ELSE run_at END,
                     attempts = CASE WHEN $5 = 1 THEN 0 ELSE attempts END,
                     lease_owner = CASE WHEN $5 = 1 THEN NULL ELSE lease_owner END,
                     last_error = CASE WHEN $5 = 1 THEN NULL ELSE last_error END,
                     sent_at = CASE WHEN $5 = 1 THEN NULL ELSE sent_at END
                 WHERE rating_id = $1 AND version = $6",
            )
            .bind(rating_id)
            .bind(text)
            .bind(author_id)
            .bind(ms(now))
            .bind(send)
            .bind(expected)
            .execute(&mut *tx)
            .await?
        };
        let current = response_of(&mut tx, rating_id).await?;
        if written.rows_affected() == 0 {
            return Ok(ResponseWrite::Stale(current));
        }
        if expected == 0 {
            super::inbox::restate(&mut tx, rating_id).await?;
            let kind = EventType::ResponseCreated;
            super::outbox::emit_response(&mut tx, events, kind, rating_id, now).await?;
        }
        let record = current.ok_or_else(|| StoreError::Corrupt("a response vanished".into()))?;
        tx.commit().await?;
        Ok(ResponseWrite::Written(record, expected == 0))
    }

    /// What sending the response to rating `rating_id` takes.
    pub async fn response_delivery(self, rating_id: &str) -> Result<Option<ResponseDelivery>> {
        let sql = format!(
            "SELECT p.rating_id, p.edits, p.text, s.id AS session_id, s.line_id, s.channel, s.client_id,
                    s.client_name, {window_start} AS last_client_message_at, l.settings
             FROM rating_responses p JOIN ratings g ON g.id = p.rating_id
                  JOIN sessions s ON s.id = g.session_id
                  {window_join}
                  JOIN lines l ON l.id = s.line_id
             WHERE p.rating_id = $1",
            window_start = WINDOW_START,
            window_join = WINDOW_JOIN,
        );
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(rating_id)
            .fetch_optional(&self.0.pool)
            .await?
        else {
            return Ok(None);
        };
        let corrupt = |e: String| StoreError::Corrupt(format!("response {rating_id}: {e}"));
        Ok(Some(ResponseDelivery {
            key: format!("{rating_id}.response.{}", row.try_get::<i64, _>("edits")?),
            rating_id: row.try_get("rating_id")?,
            text: row.try_get("text")?,
            session_id: row.try_get("session_id")?,
            line_id: row.try_get("line_id")?,
            channel: row.try_get("channel")?,
            client: ClientRef {
                id: row.try_get("client_id")?,
                name: row.try_get("client_name")?,
            },
            last_client_message_at: opt_time(row.try_get("last_client_message_at")?),
            line: serde_json::from_str(&row.try_get::<String, _>("settings")?)
                .map_err(|e| corrupt(e.to_string()))?,
        }))
    }

    /// An appeal of rating `rating_id`, credited to its operator, made by `made_by`.
    pub async fn create_appeal(
        self,
        rating_id: &str,
        reason: &str,
        made_by: Option<&str>,
        deciders: &[String],
        now: DateTime<Utc>,
    ) -> Result<AppealOutcome> {
        let mut tx = self.0.pool.begin().await?;
        let Some(row) = sqlx::query(
            "SELECT r.operator_id FROM ratings g JOIN rating_requests r ON r.id = g.request_id
             WHERE g.id = $1",
        )
        .bind(rating_id)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(AppealOutcome::NotFound);
        };
        if let Some(existing) = appeal_of(&mut tx, rating_id).await? {
            return Ok(AppealOutcome::Already(existing));
        }
        let operator_id: Option<String> = row.try_get("operator_id")?;
        let id = uuid::Uuid::now_v7().to_string();
        // Two appeals racing: the unique rating_id lets one in; the other reads it back.
        let made = sqlx::query(
            "INSERT INTO appeals (id, rating_id, operator_id, reason, made_by, status, created_at)
             VALUES ($1, $2, $3, $4, $5, 'open', $6) ON CONFLICT (rating_id) DO NOTHING",
        )
        .bind(&id)
        .bind(rating_id)
        .bind(operator_id)
        .bind(reason)
        .bind(made_by)
        .bind(ms(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if made == 1 {
            tell_deciders(&mut tx, self.0.backend, rating_id, deciders, now).await?;
        }
        let appeal = appeal_of(&mut tx, rating_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("an appeal vanished".into()))?;
        tx.commit().await?;
        // A digest to a decider may be queued now: the scheduler looks for it.
        self.0.digests.forget();
        Ok(if made == 1 {
            AppealOutcome::Done(appeal)
        } else {
            AppealOutcome::Already(appeal)
        })
    }

    /// An admin's decision on an open appeal; approving voids the rating.
    pub async fn decide_appeal(
        self,
        id: &str,
        approve: bool,
        note: Option<&str>,
        decided_by: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<AppealOutcome> {
        let events = self.0.events().wanted().await;
        let mut tx = self.0.pool.begin().await?;
        let decided = sqlx::query(
            "UPDATE appeals SET status = $2, note = $3, decided_by = $4, decided_at = $5
             WHERE id = $1 AND status = 'open'",
        )
        .bind(id)
        .bind(if approve { "approved" } else { "rejected" })
        .bind(note)
        .bind(decided_by)
        .bind(ms(now))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let sql = format!("SELECT {APPEAL_COLUMNS} FROM appeals WHERE id = $1");
        let Some(appeal) = one(&mut tx, sql, id, read_appeal).await? else {
            return Ok(AppealOutcome::NotFound);
        };
        if !decided {
            return Ok(AppealOutcome::Already(appeal));
        }
        if approve {
            sqlx::query("UPDATE ratings SET voided_at = $2 WHERE id = $1")
                .bind(&appeal.rating_id)
                .bind(ms(now))
                .execute(&mut *tx)
                .await?;
            super::inbox::restate(&mut tx, &appeal.rating_id).await?;
            let kind = EventType::RatingVoided;
            super::outbox::emit_rating(&mut tx, events, kind, &appeal.rating_id, now).await?;
        }
        tx.commit().await?;
        Ok(AppealOutcome::Done(appeal))
    }

    /// Appeal `id`, if it exists.
    pub async fn appeal(self, id: &str) -> Result<Option<AppealRecord>> {
        let mut conn = self.0.pool.acquire().await?;
        let sql = format!("SELECT {APPEAL_COLUMNS} FROM appeals WHERE id = $1");
        one(&mut conn, sql, id, read_appeal).await
    }

    /// Appeals, oldest first, optionally only those with `status`.
    pub async fn appeals(self, filter: &AppealFilter) -> Result<Vec<AppealRecord>> {
        // Scoped by line: the appeals of ratings whose session is on one of the lines ($3…).
        let lines = match &filter.lines {
            Some(lines) if lines.is_empty() => return Ok(Vec::new()),
            Some(lines) => format!(
                " AND rating_id IN (SELECT r.id FROM ratings r JOIN sessions s ON s.id = r.session_id
                                    WHERE s.line_id IN ({}))",
                super::sql::placeholders(2, lines.len())
            ),
            None => String::new(),
        };
        let first_hidden = 2 + filter.lines.as_ref().map_or(0, Vec::len);
        let hidden = if filter.except_lines.is_empty() {
            String::new()
        } else {
            format!(
                " AND rating_id NOT IN (SELECT r.id FROM ratings r JOIN sessions s ON s.id = r.session_id
                                        WHERE s.line_id IN ({}))",
                super::sql::placeholders(first_hidden, filter.except_lines.len())
            )
        };
        let sql = format!(
            "SELECT {APPEAL_COLUMNS} FROM appeals
             WHERE ($1 = '' OR status = $1) AND ($2 = '' OR operator_id = $2){lines}{hidden}
             ORDER BY created_at, id LIMIT {}",
            filter.limit
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(filter.status.as_deref().unwrap_or(""))
            .bind(filter.operator.as_deref().unwrap_or(""));
        for line in filter.lines.iter().flatten().chain(&filter.except_lines) {
            query = query.bind(line.as_str());
        }
        query
            .fetch_all(&self.0.pool)
            .await?
            .iter()
            .map(read_appeal)
            .collect()
    }

    /// Flags (or unflags) a rating's comment as abusive. `None` when there is no such rating.
    pub async fn flag_comment(
        self,
        rating_id: &str,
        abusive: bool,
        by: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<super::rows::RatingRecord>> {
        let mut tx = self.0.pool.begin().await?;
        // Flagging again keeps the first flag's time and author; unflagging clears both.
        sqlx::query(
            "UPDATE ratings
             SET comment_flagged_by = CASE WHEN $2 = 1 THEN
                     CASE WHEN comment_flagged_at IS NULL THEN $4 ELSE comment_flagged_by END
                 END,
                 comment_flagged_at = CASE WHEN $2 = 1 THEN COALESCE(comment_flagged_at, $3) END
             WHERE id = $1",
        )
        .bind(rating_id)
        .bind(i64::from(abusive))
        .bind(ms(now))
        .bind(by)
        .execute(&mut *tx)
        .await?;
        let sql = format!("SELECT {RATING_COLUMNS} FROM ratings WHERE id = $1");
        let rating = one(&mut tx, sql, rating_id, read_rating).await?;
        tx.commit().await?;
        Ok(rating)
    }

    /// Writes a supervisor's evaluation of a session. `None` when there is no such session;
    /// otherwise the evaluation and whether it was new.
    pub async fn put_evaluation(
        self,
        session_id: &SessionId,
        stars: i64,
        comment: Option<&str>,
        author_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<(EvaluationRecord, bool)>> {
        let mut tx = self.0.pool.begin().await?;
        let Some(session) = sqlx::query(
            "SELECT line_id, operator_id, channel, COALESCE(closed_at, opened_at) AS closed_at
             FROM sessions WHERE id = $1",
        )
        .bind(session_id)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let existed = evaluation_of(&mut tx, session_id).await?.is_some();
        sqlx::query(
            "INSERT INTO evaluations (session_id, line_id, operator_id, channel, closed_at, stars,
                                      comment, author_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
             ON CONFLICT (session_id) DO UPDATE
             SET stars = excluded.stars, comment = excluded.comment,
                 author_id = excluded.author_id, updated_at = excluded.updated_at",
        )
        .bind(session_id)
        .bind(session.try_get::<String, _>("line_id")?)
        .bind(session.try_get::<Option<String>, _>("operator_id")?)
        .bind(session.try_get::<String, _>("channel")?)
        .bind(session.try_get::<i64, _>("closed_at")?)
        .bind(stars)
        .bind(comment)
        .bind(author_id)
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
        let evaluation = evaluation_of(&mut tx, session_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("an evaluation vanished".into()))?;
        tx.commit().await?;
        Ok(Some((evaluation, !existed)))
    }
}
