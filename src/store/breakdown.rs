//! What the dashboard shows besides the report: the funnel from closed sessions to
//! answers (with why requests did not reach clients), the distribution of values, and an
//! operator's recent low ratings.
//! Filters are the report's ([`ReportFilter`]) and count the same rows.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rateline_domain::{RequestStatus, Scale};
use sqlx::Row;

use super::base::Reports;
use super::error::Result;
use super::filter::{Grouping, ReportFilter, bind_all, conditions};
use super::sql::time;

/// Closed sessions → requests → sent → delivered → answered, and where the rest ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Funnel {
    /// Sessions closed in the period.
    pub closed: i64,
    /// Rating requests made for them.
    pub requested: i64,
    /// Requests a platform accepted.
    pub sent: i64,
    /// Of those, sent on a channel that reports delivery (WhatsApp, web chat).
    pub sent_where_delivery_is_known: i64,
    /// Requests the channel confirmed the client has.
    pub delivered: i64,
    /// Requests the client answered.
    pub answered: i64,
    /// Requests whose reminder was sent, and of those how many were answered after it
    /// (voided ratings left out).
    pub reminded: i64,
    /// Of the requests reminded, how many were answered after the reminder.
    pub answered_after_reminder: i64,
    /// Requests by their status, for the ones that did not reach an answer; `retrying` are
    /// the `scheduled` ones a send was tried for already.
    pub by_status: BTreeMap<String, i64>,
}

/// The funnel, and how many ratings gave each value per scale (voided ones left out, one
/// in its grace period as it was before).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Breakdown {
    /// From closed sessions to answers, and where the rest ended.
    pub funnel: Funnel,
    /// How many ratings gave each value, by scale and value.
    pub distribution: BTreeMap<(Scale, i64), i64>,
}

/// A low rating as an operator's profile lists it.
#[derive(Debug, Clone)]
pub struct LowRating {
    /// The rating's id.
    pub rating_id: String,
    /// Its session, whose page the profile links to.
    pub session_id: String,
    /// The line's scale, to show the value.
    pub scale: Scale,
    /// The rating's value: 0 (👎) or 1 to 5 stars.
    pub value: i64,
    /// `None` when there is none, or it was flagged as abusive.
    pub comment: Option<String>,
    /// When the client first rated.
    pub rated_at: DateTime<Utc>,
    /// The supervisor's response, if any.
    pub response: Option<String>,
}

impl Reports<'_> {
    /// The funnel and the distribution of the filter's sessions, requests and ratings
    /// (as the report counts them at `now`), from one sum.
    pub async fn breakdown(self, f: &ReportFilter, now: DateTime<Utc>) -> Result<Breakdown> {
        let mut b = Breakdown::default();
        let funnel = &mut b.funnel;
        for t in self.rollup_counts(f, Grouping::All, now).await? {
            funnel.closed += t.closed;
            funnel.requested += t.requested();
            funnel.sent += t.sent;
            if t.knowable {
                funnel.sent_where_delivery_is_known += t.sent;
            }
            funnel.delivered += t.delivered;
            funnel.answered += t.status(RequestStatus::Answered);
            for (status, n) in RequestStatus::ALL.iter().zip(t.statuses) {
                if *status != RequestStatus::Answered && n != 0 {
                    *funnel
                        .by_status
                        .entry(status.as_str().to_owned())
                        .or_default() += n;
                }
            }
            for (scale, value, n) in t.values() {
                if n != 0 {
                    *b.distribution.entry((scale, value)).or_default() += n;
                }
            }
        }
        // A scheduled request that was tried already waits for its retry: "retrying", not
        // "not due yet". The rollup counts by status only, so these few are read live.
        let scheduled = funnel.by_status.get("scheduled").copied().unwrap_or(0);
        if scheduled > 0 {
            let retrying = self.retrying(f).await?.min(scheduled);
            if retrying > 0 {
                funnel.by_status.insert("retrying".into(), retrying);
                if scheduled == retrying {
                    funnel.by_status.remove("scheduled");
                } else {
                    funnel
                        .by_status
                        .insert("scheduled".into(), scheduled - retrying);
                }
            }
        }
        (funnel.reminded, funnel.answered_after_reminder) = self.reminded(f).await?;
        Ok(b)
    }

    /// The filter's requests whose reminder was sent, and how many of them were answered
    /// after it. Read live: the rollup keeps no reminders.
    async fn reminded(self, f: &ReportFilter) -> Result<(i64, i64)> {
        let (filter, binds) = conditions(f, "r", "created_at", Some("m.status = 'sent'"), 0);
        let sql = format!(
            "SELECT COUNT(*) AS reminded,
                    CAST(COALESCE(SUM(CASE WHEN g.after_reminder = 1 THEN 1 ELSE 0 END), 0)
                         AS BIGINT) AS answered
             FROM rating_reminders m JOIN rating_requests r ON r.id = m.request_id
                  LEFT JOIN ratings g ON g.request_id = r.id AND g.voided_at IS NULL{filter}"
        );
        let row = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &binds)
            .fetch_one(&self.0.reads)
            .await?;
        Ok((row.try_get("reminded")?, row.try_get("answered")?))
    }

    /// The filter's scheduled requests that a send was tried for already.
    async fn retrying(self, f: &ReportFilter) -> Result<i64> {
        let (filter, binds) = conditions(
            f,
            "r",
            "created_at",
            Some("r.status = 'scheduled' AND r.attempts > 0"),
            0,
        );
        let sql = format!("SELECT COUNT(*) AS n FROM rating_requests r{filter}");
        Ok(bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &binds)
            .fetch_one(&self.0.reads)
            .await?
            .try_get("n")?)
    }

    /// The filter's newest low ratings (voided ones left out), with their comments and
    /// responses: what an operator's profile lists.
    /// Ratings on `except_lines` are left out.
    pub async fn low_ratings(
        self,
        f: &ReportFilter,
        except_lines: &[String],
        limit: i64,
    ) -> Result<Vec<LowRating>> {
        let (mut filter, mut binds) = conditions(
            f,
            "r",
            "created_at",
            Some("g.voided_at IS NULL AND g.low = 1"),
            1,
        );
        if !except_lines.is_empty() {
            let first = binds.len() + 2;
            let each: Vec<String> = (first..first + except_lines.len())
                .map(|n| format!("${n}"))
                .collect();
            filter.push_str(&format!(" AND r.line_id NOT IN ({})", each.join(", ")));
            binds.extend(except_lines.iter().cloned().map(super::filter::Bind::Text));
        }
        let sql = format!(
            "SELECT g.id AS rating_id, r.session_id AS session_id, r.scale AS scale,
                    g.value AS value,
                    CASE WHEN g.comment_flagged_at IS NULL THEN g.comment END AS comment,
                    g.created_at AS rated_at, p.text AS response
             FROM ratings g
                  JOIN rating_requests r ON r.id = g.request_id
                  LEFT JOIN rating_responses p ON p.rating_id = g.id
             {filter}
             ORDER BY g.created_at DESC, g.id
             LIMIT $1"
        );
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit), &binds)
            .fetch_all(&self.0.reads)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(LowRating {
                    rating_id: row.try_get("rating_id")?,
                    session_id: row.try_get("session_id")?,
                    scale: row.try_get("scale")?,
                    value: row.try_get("value")?,
                    comment: row.try_get("comment")?,
                    rated_at: time(row.try_get("rated_at")?),
                    response: row.try_get("response")?,
                })
            })
            .collect()
    }
}
