//! Digests: one message to one address that names several ratings.
//!
//! - **An operator's notice** of every rating of their chats (`rating.notify_operator`,
//!   docs/alerts.md). A first answer on a line that asks for it is noted in the answer's
//!   transaction, one row per rating, so answers never wait on one another. The scheduler
//!   gathers what was noted into one digest per operator and address, due at once or a
//!   minute after that address's digest before it was due: at most one message a minute.
//! - **A person's low-rating alerts** gathered by their pace or their quiet hours (see
//!   [`rateline_domain::AlertPace`]), and **a line's burst**: its low ratings past
//!   `rating.alert_burst_over` in [`BURST_WINDOW`]. The rating's transaction puts each such
//!   alert into the digest waiting for its address ([`fold_alert`]), or makes the next one.
//!
//! - **New appeals**, to each person who may decide them, at most one message a minute.
//!
//! A digest is then a durable job ([`super::jobs::JobKind::Digest`]) like an alert, held back by
//! the person's quiet hours, and reads its ratings as they stand when it is sent.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rateline_domain::{AlertPace, LineId, Notify, PersonId, Scale, Secret, SessionId};
use sqlx::Row;

use super::base::{Backend, Digests};
use super::error::{Result, StoreError};
use super::filter::{Grouping, ReportFilter};
use super::report::ReportGroup;
use super::sql::{ms, opt_time, placeholders, time};

/// The least time between two digests to one address.
pub const DIGEST_EVERY: Duration = Duration::minutes(1);

/// The window a line's burst is counted in, and the least time between two of its digests
/// to one address.
pub const BURST_WINDOW: Duration = Duration::minutes(10);

/// The most ratings one gathering takes; the rest wait for the next pass, right after.
const GATHER_BATCH: i64 = 500;

/// The most ratings one digest lists one by one; it counts the rest. With comments cut
/// to [`DIGEST_COMMENT_CHARS`], a digest fits in one Telegram message (4,096 characters).
pub const DIGEST_LISTS: usize = 10;

/// The most characters of a comment a digest says (the session's page has it whole).
pub const DIGEST_COMMENT_CHARS: usize = 200;

/// Notes rating `rating_id` of request `request_id` for its operator's next digest, in the
/// answer's transaction; a session without an operator notes nothing.
pub(crate) async fn note_rating(
    conn: &mut sqlx::AnyConnection,
    rating_id: &str,
    request_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO operator_notice_ratings (rating_id, operator_id, noted_at)
         SELECT $1, operator_id, $2 FROM rating_requests
         WHERE id = $3 AND operator_id IS NOT NULL
         ON CONFLICT (rating_id) DO NOTHING",
    )
    .bind(rating_id)
    .bind(ms(now))
    .bind(request_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// What a digest is about (`operator_notices.kind`).
#[derive(Debug, Clone, PartialEq)]
pub enum DigestKind {
    /// A supervisor's or admin's weekly report (`weekly`): the week `[from, to)` in their
    /// zone, against the week before, for each of their lines.
    Weekly {
        /// The week's start: a Monday's midnight in `zone`.
        from: DateTime<Utc>,
        /// The week's end: the next Monday's midnight, itself not in the week.
        to: DateTime<Utc>,
        /// The person's zone, which the week is counted in.
        zone: chrono_tz::Tz,
        /// Each line the report covers: a supervisor's own, or every line for an admin.
        lines: Vec<WeekOfLine>,
    },
    /// An operator's digest of every rating of their chats (`ratings`).
    Ratings,
    /// A person's low-rating alerts, gathered by their pace or quiet hours (`alerts`).
    Alerts,
    /// New appeals of these ratings, to a person who may decide them (`appeals`).
    Appeals,
    /// Line `line_id`'s low ratings past its burst threshold (`burst`): `in_window` of
    /// them came in the [`BURST_WINDOW`] before the digest was sent.
    Burst {
        /// The line whose burst it is.
        line_id: String,
        /// The line's name, as the message shows it.
        line_name: String,
        /// How many of the line's low ratings came in the window before the digest was sent.
        in_window: i64,
    },
}

/// One line's week in a weekly report: the line as a whole and each operator who had
/// requests on it, each this week and the week before (`None`: nothing then).
#[derive(Debug, Clone, PartialEq)]
pub struct WeekOfLine {
    /// The line's id.
    pub id: String,
    /// The line's name, as the report shows it.
    pub name: String,
    /// The line as a whole this week; `None` when it had nothing.
    pub now: Option<ReportGroup>,
    /// The line as a whole the week before; `None` when it had nothing.
    pub before: Option<ReportGroup>,
    /// By name: (name, this week, the week before).
    pub operators: Vec<(String, Option<ReportGroup>, Option<ReportGroup>)>,
}

/// A digest on its way to a person.
#[derive(Debug, Clone)]
pub struct DigestDelivery {
    /// The digest's id: its e-mail's `Message-ID` and its webhook's `Idempotency-Key` are made from
    /// it.
    pub id: String,
    /// What it is about, and the facts of its kind.
    pub kind: DigestKind,
    /// The person it goes to (an operator, for [`DigestKind::Ratings`]).
    pub operator_id: String,
    /// The person's name, as the message addresses them.
    pub operator_name: Option<String>,
    /// `email`, `telegram` or `webhook`.
    pub sink: String,
    /// Where the sink sends it: an e-mail address, a Telegram chat id or a webhook URL.
    pub address: String,
    /// The operator's own `notify.webhook_secret`, which signs a webhook digest.
    pub webhook_secret: Option<Secret>,
    /// The ratings it lists (at most [`DIGEST_LISTS`]), oldest first; those gone since
    /// (purged) are left out.
    pub ratings: Vec<DigestRating>,
    /// How many ratings it is about in all.
    pub total: usize,
    /// Why it is not to be sent any more, if it is not: the operator was deactivated,
    /// switched notifications off or no longer has this address.
    pub withdrawn: Option<String>,
    /// When the digest of its kind before it reached the same address (now, when one
    /// ahead of it is being sent): the next waits [`DigestDelivery::every`].
    pub last_sent_at: Option<DateTime<Utc>>,
    /// The least time between two digests of its kind to the address.
    pub every: Duration,
    /// When the person's quiet hours end, if they are in them now.
    pub quiet_until: Option<DateTime<Utc>>,
}

/// A rating as a digest says it.
#[derive(Debug, Clone)]
pub struct DigestRating {
    /// The rating's id.
    pub rating_id: String,
    /// Its session, whose dashboard page the message links to.
    pub session_id: SessionId,
    /// The session's line, by name.
    pub line_name: String,
    /// The session's operator by name (by id when they are no person Rateline knows); `None` when
    /// the session names none.
    pub operator_name: Option<String>,
    /// The client's name, when the session gave one.
    pub client_name: Option<String>,
    /// The session's channel, as the message names it.
    pub channel: String,
    /// The line's scale, to show the value.
    pub scale: Scale,
    /// The rating's value when the digest is sent.
    pub value: i64,
    /// Whether that value is low.
    pub low: bool,
    /// `None` when there is none, or it was flagged as abusive.
    pub comment: Option<String>,
    /// The texts of the reasons the client picked.
    pub reasons: Vec<String>,
    /// When the client last changed the rating: its value, comment, reasons or "resolved?".
    pub rated_at: DateTime<Utc>,
}

impl Digests<'_> {
    /// Whether any digest is queued (as read at most [`super::gate::GATE_TTL`] ago, and at once
    /// after this process made one): when not, the scheduler does not look for one to send.
    /// When the store cannot say, it answers yes.
    pub async fn pending(self) -> bool {
        self.0.digests
            .read(
                &self.0.pool,
                "SELECT COUNT(*) AS n FROM
                     (SELECT 1 FROM operator_notices WHERE status IN ('pending', 'sending') LIMIT 1) q",
            )
            .await
    }

    /// Gathers the ratings noted for operators into digests (see the module's docs);
    /// returns how many it gathered. Several processes may run it at once: a rating is
    /// gathered once, and an operator's digests are made by one of them at a time.
    pub async fn gather(self, now: DateTime<Utc>) -> Result<usize> {
        let (skip_locked, lock) = match self.0.backend {
            Backend::Postgres => (" FOR UPDATE SKIP LOCKED", " FOR UPDATE"),
            Backend::Sqlite => ("", ""),
        };
        let mut tx = self.0.pool.begin().await?;
        let sql = format!(
            "SELECT rating_id, operator_id FROM operator_notice_ratings WHERE gathered = 0
             ORDER BY noted_at LIMIT $1{skip_locked}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(GATHER_BATCH)
            .fetch_all(&mut *tx)
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        // By operator, in id order: processes lock operators in one order, so never in a cycle.
        let mut by_operator: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for row in &rows {
            by_operator
                .entry(row.try_get("operator_id")?)
                .or_default()
                .push(row.try_get("rating_id")?);
        }
        for (operator, ratings) in &by_operator {
            let sql = format!(
                "SELECT notify, notifications_enabled, active FROM people WHERE id = $1{lock}"
            );
            let Some(person) = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(operator)
                .fetch_optional(&mut *tx)
                .await?
            else {
                continue;
            };
            // Deactivated, or notifications off: the rating is gathered into nothing.
            if person.try_get::<i64, _>("active")? == 0
                || person.try_get::<i64, _>("notifications_enabled")? == 0
            {
                continue;
            }
            // One unreadable person must not hold up every digest: theirs is skipped.
            let notify: Notify = match serde_json::from_str(&person.try_get::<String, _>("notify")?)
            {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(operator = %operator, error = %e,
                            "an operator's notify cannot be read; their digest is skipped");
                    continue;
                }
            };
            let to = PersonDigests {
                person: operator,
                notify: &notify,
                kind: "ratings",
            };
            to.add(&mut tx, self.0.backend, ratings, now).await?;
        }
        let ids: Vec<String> = by_operator.into_values().flatten().collect();
        let sql = format!(
            "UPDATE operator_notice_ratings SET gathered = 1 WHERE rating_id IN ({})",
            placeholders(0, ids.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in &ids {
            q = q.bind(id.clone());
        }
        q.execute(&mut *tx).await?;
        tx.commit().await?;
        // A digest may be queued now: the scheduler looks for it.
        self.0.digests.forget();
        Ok(ids.len())
    }

    /// A digest and its ratings, for its send; `None` when it is gone. `zone` is the zone
    /// of people without their own, for their quiet hours.
    ///
    /// One piece: the digest's row, then its ratings, then who may still be told of
    /// each, one read after another.
    pub async fn delivery(
        self,
        id: &str,
        zone: chrono_tz::Tz,
        now: DateTime<Utc>,
    ) -> Result<Option<DigestDelivery>> {
        // Digests of one kind (and line) to one address pace each other; the others do not.
        let same = "o.operator_id = n.operator_id AND o.sink = n.sink AND o.address = n.address
                    AND o.kind = n.kind AND COALESCE(o.line_id, '') = COALESCE(n.line_id, '')";
        let sql = format!(
            "SELECT n.id, n.kind, n.line_id, n.operator_id, n.sink, n.address, n.ratings, n.week_of,
                    p.name,
                    p.notify, p.active, p.notifications_enabled, p.alert_pace, p.time_zone,
                    (SELECT MAX(o.sent_at) FROM operator_notices o WHERE {same} AND o.id <> n.id)
                        AS last_sent,
                    (SELECT COUNT(*) FROM operator_notices o
                     WHERE {same} AND o.status = 'sending'
                       AND (o.slot_at < n.slot_at OR (o.slot_at = n.slot_at AND o.id < n.id)))
                        AS ahead
             FROM operator_notices n LEFT JOIN people p ON p.id = n.operator_id
             WHERE n.id = $1"
        );
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.0.pool)
            .await?
        else {
            return Ok(None);
        };
        let corrupt = |e: String| StoreError::Corrupt(format!("notice {id}: {e}"));
        let all: Vec<String> = serde_json::from_str(&row.try_get::<String, _>("ratings")?)
            .map_err(|e| corrupt(e.to_string()))?;
        let listed: Vec<&String> = all.iter().take(DIGEST_LISTS).collect();
        let operator: PersonId = row.try_get("operator_id")?;
        let pace = read_pace(&operator, row.try_get("alert_pace")?);
        let kind_name: String = row.try_get("kind")?;
        let sql = format!(
            "SELECT g.id, g.value, g.low, g.reasons, g.updated_at, q.scale, q.session_id,
                    CASE WHEN g.comment_flagged_at IS NULL THEN g.comment END AS comment,
                    l.settings, s.client_name, s.channel,
                    COALESCE(o.name, q.operator_id) AS operator_name
             FROM ratings g JOIN rating_requests q ON q.id = g.request_id
                  JOIN lines l ON l.id = q.line_id
                  JOIN sessions s ON s.id = q.session_id
                  LEFT JOIN people o ON o.id = q.operator_id
             WHERE g.id IN ({})",
            placeholders(0, listed.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in &listed {
            q = q.bind((*r).clone());
        }
        let mut found = BTreeMap::new();
        // A weekly report lists no ratings (and `IN ()` is no SQL to PostgreSQL).
        let rows = if listed.is_empty() {
            Vec::new()
        } else {
            q.fetch_all(&self.0.pool).await?
        };
        for r in rows {
            let line: rateline_domain::LineSettings =
                serde_json::from_str(&r.try_get::<String, _>("settings")?)
                    .map_err(|e| corrupt(e.to_string()))?;
            // A line that keeps its ratings from its operators since: not told.
            if kind_name == "ratings" && !line.rating.operators_see_ratings {
                continue;
            }
            let reasons = super::rows::read_reasons(r.try_get("reasons")?)
                .unwrap_or_default()
                .iter()
                .map(|id| line.rating.reason_text(id).to_owned())
                .collect();
            let rating = DigestRating {
                rating_id: r.try_get("id")?,
                session_id: r.try_get("session_id")?,
                line_name: line.name,
                operator_name: r.try_get("operator_name")?,
                client_name: r.try_get("client_name")?,
                channel: r.try_get("channel")?,
                scale: r.try_get("scale")?,
                value: r.try_get("value")?,
                low: r.try_get::<i64, _>("low")? == 1,
                comment: r.try_get("comment")?,
                reasons,
                rated_at: time(r.try_get("updated_at")?),
            };
            found.insert(rating.rating_id.clone(), rating);
        }
        // In the order they came.
        let ratings = listed.iter().filter_map(|id| found.remove(*id)).collect();
        let (kind, every) = match kind_name.as_str() {
            "alerts" => (DigestKind::Alerts, pace.digest_every()),
            "appeals" => (DigestKind::Appeals, DIGEST_EVERY),
            "burst" => {
                let line_id: LineId = row
                    .try_get::<Option<LineId>, _>("line_id")?
                    .ok_or_else(|| corrupt("a burst names no line".into()))?;
                let line_name = self
                    .0
                    .lines()
                    .get(&line_id)
                    .await?
                    .map_or_else(|| line_id.to_string(), |l| l.settings.name);
                let in_window = burst_count(&self.0.pool, &line_id, None, now).await?;
                let kind = DigestKind::Burst {
                    line_id: line_id.into_string(),
                    line_name,
                    in_window,
                };
                (kind, BURST_WINDOW)
            }
            "weekly" => {
                let zone = own_zone(&row, zone)?;
                let to = row
                    .try_get::<Option<i64>, _>("week_of")?
                    .map(time)
                    .ok_or_else(|| corrupt("a weekly report names no week".into()))?;
                let from = to - Duration::days(7);
                let lines = self.weeks_of_lines(&operator, zone, from, to, now).await?;
                let kind = DigestKind::Weekly {
                    from,
                    to,
                    zone,
                    lines,
                };
                // One a week by its slot: nothing paces it.
                (kind, Duration::zero())
            }
            _ => (DigestKind::Ratings, DIGEST_EVERY),
        };
        let (sink, address): (String, String) = (row.try_get("sink")?, row.try_get("address")?);
        let notify: Option<Notify> = row
            .try_get::<Option<String>, _>("notify")?
            .and_then(|n| serde_json::from_str(&n).ok());
        let withdrawn = match (&notify, row.try_get::<Option<i64>, _>("active")?) {
            (None, _) | (_, None) => Some(format!("person '{operator}' is gone")),
            (_, Some(0)) => Some(format!("person '{operator}' is deactivated")),
            _ if row.try_get::<Option<i64>, _>("notifications_enabled")? == Some(0) => Some(
                format!("person '{operator}' has notifications switched off"),
            ),
            (Some(n), _)
                if !n
                    .addresses()
                    .iter()
                    .any(|(s, _, a)| *s == sink && a.as_deref() == Some(address.as_str())) =>
            {
                Some(format!(
                    "person '{operator}' no longer has this {sink} address"
                ))
            }
            _ => None,
        };
        let zone = own_zone(&row, zone)?;
        Ok(Some(DigestDelivery {
            id: row.try_get("id")?,
            kind,
            operator_id: operator.into_string(),
            operator_name: row.try_get("name")?,
            sink,
            address,
            webhook_secret: notify.and_then(|n| n.webhook_secret).map(Secret),
            ratings,
            total: all.len(),
            withdrawn,
            // One claimed in the same batch ahead of it goes first: it counts as sent now.
            last_sent_at: if row.try_get::<i64, _>("ahead")? > 0 {
                Some(now)
            } else {
                opt_time(row.try_get("last_sent")?)
            },
            every,
            quiet_until: pace.quiet_until(now, &zone),
        }))
    }
}

impl Digests<'_> {
    /// Queues the weekly report of each supervisor and admin who asked for one (their
    /// pace's `weekly_report`) and has an e-mail address, once this week's is due in their
    /// zone (`zone` for people without their own), one per person and week whoever plans
    /// it; when the next one falls due.
    pub async fn plan_weekly_reports(
        self,
        zone: chrono_tz::Tz,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let rows = sqlx::query(
            "SELECT id, notify, alert_pace, time_zone FROM people
             WHERE alert_pace IS NOT NULL AND active = 1 AND notifications_enabled = 1
               AND role <> 'operator'",
        )
        .fetch_all(&self.0.reads)
        .await?;
        let (mut next, mut queued): (Option<DateTime<Utc>>, u64) = (None, 0);
        for row in rows {
            let id: String = row.try_get("id")?;
            if !read_pace(&id, row.try_get("alert_pace")?).weekly_report {
                continue;
            }
            let email = serde_json::from_str::<Notify>(&row.try_get::<String, _>("notify")?)
                .ok()
                .and_then(|n| n.email);
            let Some(email) = email else { continue };
            let zone = own_zone(&row, zone)?;
            let (_, monday, due) = rateline_domain::report_week(now, zone);
            let upcoming = if now >= due {
                queued += sqlx::query(
                    "INSERT INTO operator_notices (id, operator_id, sink, address, ratings,
                                                   week_of, slot_at, status, run_at,
                                                   created_at, updated_at, kind)
                     VALUES ($1, $2, 'email', $3, '[]', $4, $5, 'pending', $5, $5, $5,
                             'weekly')
                     ON CONFLICT DO NOTHING",
                )
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(&id)
                .bind(&email)
                .bind(ms(monday))
                .bind(ms(now))
                .execute(&self.0.pool)
                .await?
                .rows_affected();
                rateline_domain::report_week(now + Duration::days(7), zone).2
            } else {
                due
            };
            next = Some(next.map_or(upcoming, |n| n.min(upcoming)));
        }
        if queued > 0 {
            self.0.digests.forget();
        }
        Ok(next)
    }

    /// Each line a weekly report to `person` covers (a supervisor's, or every line for an
    /// admin), the week `[from, to)` against the one before.
    async fn weeks_of_lines(
        self,
        person: &PersonId,
        zone: chrono_tz::Tz,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<WeekOfLine>> {
        let Some(who) = self.0.people().person(person).await? else {
            return Ok(Vec::new());
        };
        let mut lines = self.0.lines().list().await?;
        if who.person.role != rateline_domain::Role::Admin {
            lines.retain(|l| who.person.lines.contains(&l.id));
        }
        let names = self.0.people().directory().await?;
        let mut weeks = Vec::with_capacity(lines.len());
        for line in lines {
            let week = |from: DateTime<Utc>, to: DateTime<Utc>| ReportFilter {
                line: Some(line.id.to_string()),
                from: Some(from),
                to: Some(to),
                zone: Some(zone),
                ..ReportFilter::default()
            };
            let (this, last) = (week(from, to), week(from - Duration::days(7), from));
            let first = |g: Vec<ReportGroup>| g.into_iter().next();
            let mut before: BTreeMap<String, ReportGroup> = self
                .0
                .reports()
                .report(&last, Grouping::Operator, now)
                .await?
                .into_iter()
                .map(|g| (g.key.clone(), g))
                .collect();
            let mut operators: Vec<_> = self
                .0
                .reports()
                .report(&this, Grouping::Operator, now)
                .await?
                .into_iter()
                .map(|g| {
                    let was = before.remove(&g.key);
                    (names.name_of(&g.key), Some(g), was)
                })
                .collect();
            operators.extend(
                before
                    .into_iter()
                    .map(|(key, g)| (names.name_of(&key), None, Some(g))),
            );
            operators.sort_by(|a, b| a.0.cmp(&b.0));
            weeks.push(WeekOfLine {
                now: first(self.0.reports().report(&this, Grouping::All, now).await?),
                before: first(self.0.reports().report(&last, Grouping::All, now).await?),
                id: line.id.into(),
                name: line.settings.name,
                operators,
            });
        }
        Ok(weeks)
    }
}

/// A person's stored pace; an unreadable one is the default (every alert at once), said
/// in the log, so one bad row never stops their alerts.
pub(crate) fn read_pace(person: &str, stored: Option<String>) -> AlertPace {
    let Some(stored) = stored else {
        return AlertPace::default();
    };
    serde_json::from_str(&stored).unwrap_or_else(|e| {
        tracing::warn!(person = %person, error = %e,
            "a person's alert pace cannot be read; every alert goes at once");
        AlertPace::default()
    })
}

/// How many ratings of line `line_id` made alerts in the [`BURST_WINDOW`] up to `now`,
/// leaving out `but` (the rating being planned).
pub(crate) async fn burst_count<'c, E>(
    conn: E,
    line_id: &str,
    but: Option<&str>,
    now: DateTime<Utc>,
) -> Result<i64>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let row = sqlx::query(
        "SELECT COUNT(DISTINCT rating_id) AS n FROM alerts
         WHERE line_id = $1 AND kind = 'alert' AND created_at > $2 AND rating_id <> $3",
    )
    .bind(line_id)
    .bind(ms(now - BURST_WINDOW))
    .bind(but.unwrap_or(""))
    .fetch_one(conn)
    .await?;
    Ok(row.try_get("n")?)
}

/// Where an alert (or a rating for an operator's digest) goes into a digest.
pub(crate) struct Fold<'a> {
    pub person: &'a str,
    pub sink: &'a str,
    pub address: &'a str,
    /// `operator_notices.kind`: `ratings`, `alerts`, `burst` or `appeals`.
    pub kind: &'static str,
    /// For a `burst`: its line.
    pub line_id: Option<&'a str>,
    /// The least time between two such digests to the address.
    pub every: Duration,
    /// A new digest is due no earlier than this (the alert's own due time).
    pub not_before: DateTime<Utc>,
}

/// One person's digests of one kind with a minute between two, at each of their addresses:
/// an operator's digests, and a decider's new appeals.
pub(crate) struct PersonDigests<'a> {
    pub person: &'a str,
    pub notify: &'a Notify,
    /// `operator_notices.kind`: `ratings` or `appeals`.
    pub kind: &'static str,
}

impl PersonDigests<'_> {
    /// Adds `ratings` to the digest waiting at each address, or makes the next (see
    /// [`add_to_digest`]).
    pub(crate) async fn add(
        &self,
        tx: &mut sqlx::AnyConnection,
        backend: Backend,
        ratings: &[String],
        now: DateTime<Utc>,
    ) -> Result<()> {
        for (sink, _, address) in self.notify.addresses() {
            let Some(address) = address else { continue };
            let fold = Fold {
                person: self.person,
                sink,
                address: &address,
                kind: self.kind,
                line_id: None,
                every: DIGEST_EVERY,
                not_before: now,
            };
            add_to_digest(&mut *tx, backend, &fold, ratings, now).await?;
        }
        Ok(())
    }
}

/// Adds `ratings` to the digest of `fold`'s kind still waiting for its address (not tried
/// yet, and locked against a claim), or makes the next one: due at `fold.not_before`, or
/// `fold.every` after the last one to the address was due, sent, or is to be tried again.
/// Returns the digest's id.
pub(crate) async fn add_to_digest(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    fold: &Fold<'_>,
    ratings: &[String],
    now: DateTime<Utc>,
) -> Result<String> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let line = fold.line_id.unwrap_or("");
    let sql = format!(
        "SELECT id, ratings FROM operator_notices
         WHERE operator_id = $1 AND sink = $2 AND address = $3 AND kind = $4
           AND COALESCE(line_id, '') = $5 AND status = 'pending' AND attempts = 0
         ORDER BY slot_at LIMIT 1{lock}"
    );
    let waiting = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(fold.person)
        .bind(fold.sink)
        .bind(fold.address)
        .bind(fold.kind)
        .bind(line)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(w) = waiting {
        let id: String = w.try_get("id")?;
        let mut listed: Vec<String> = serde_json::from_str(&w.try_get::<String, _>("ratings")?)
            .map_err(|e| StoreError::Corrupt(format!("notice ratings: {e}")))?;
        listed.extend(ratings.iter().cloned());
        let joined = sqlx::query(
            "UPDATE operator_notices SET ratings = $2, updated_at = $3
             WHERE id = $1 AND status = 'pending' AND attempts = 0",
        )
        .bind(&id)
        .bind(serde_json::to_string(&listed).expect("ids serialise"))
        .bind(ms(now))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if joined {
            return Ok(id);
        }
    }
    let last = sqlx::query(
        "SELECT MAX(slot_at) AS slot, MAX(sent_at) AS sent,
                MAX(CASE WHEN status IN ('pending', 'sending') THEN run_at END) AS next
         FROM operator_notices
         WHERE operator_id = $1 AND sink = $2 AND address = $3 AND kind = $4
           AND COALESCE(line_id, '') = $5",
    )
    .bind(fold.person)
    .bind(fold.sink)
    .bind(fold.address)
    .bind(fold.kind)
    .bind(line)
    .fetch_one(&mut *tx)
    .await?;
    let latest = ["slot", "sent", "next"]
        .into_iter()
        .map(|c| last.try_get::<Option<i64>, _>(c))
        .collect::<std::result::Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .max();
    let slot = latest
        .map(|l| time(l) + fold.every)
        .filter(|next| *next > fold.not_before)
        .unwrap_or(fold.not_before);
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO operator_notices (id, operator_id, sink, address, ratings, slot_at, status,
                                       run_at, created_at, updated_at, kind, line_id)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $6, $7, $7, $8, $9)",
    )
    .bind(&id)
    .bind(fold.person)
    .bind(fold.sink)
    .bind(fold.address)
    .bind(serde_json::to_string(ratings).expect("ids serialise"))
    .bind(ms(slot))
    .bind(ms(now))
    .bind(fold.kind)
    .bind(fold.line_id)
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

/// The zone of the person on `row` (its `time_zone`), or `team`'s when they have none (or
/// one that no longer parses).
fn own_zone(row: &sqlx::any::AnyRow, team: chrono_tz::Tz) -> Result<chrono_tz::Tz> {
    let own: Option<String> = row.try_get("time_zone")?;
    Ok(own.and_then(|z| z.parse().ok()).unwrap_or(team))
}
