//! The report: requests sent and answered, average, CSAT and low ratings, grouped.
//!
//! Periods are counted by the close (the request's `created_at`): a chat closed on Monday
//! and rated on Tuesday counts for Monday, so a period's numbers stop moving once its
//! answer windows have passed.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Result, Store, ms};
use crate::domain::Channel;

/// What to count.
#[derive(Debug, Clone, Default)]
pub struct StatsFilter {
    pub line: Option<String>,
    pub operator: Option<String>,
    pub channel: Option<Channel>,
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
}

/// How to group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatsGrouping {
    /// One group, keyed `all`.
    #[default]
    All,
    Operator,
    Line,
    Channel,
    /// By UTC day of the close, keyed `YYYY-MM-DD`.
    Day,
    /// By the week (Monday to Sunday, UTC) of the close, keyed by its Monday `YYYY-MM-DD`.
    Week,
}

impl std::str::FromStr for StatsGrouping {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(Self::All),
            "operator" => Ok(Self::Operator),
            "line" => Ok(Self::Line),
            "channel" => Ok(Self::Channel),
            "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            other => Err(format!(
                "unknown grouping '{other}': use operator, line, channel, day or week"
            )),
        }
    }
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StatsGroup {
    pub key: String,
    /// Requests a platform accepted, whatever happened to them after.
    pub sent: i64,
    /// Requests with a rating.
    pub answered: i64,
    /// answered / sent; `null` when nothing was sent.
    pub response_rate: Option<f64>,
    /// Mean stars of five-star ratings; `null` when the group has none (binary ratings
    /// count in `csat`, not here).
    pub average: Option<f64>,
    /// Share of 👍 or 4–5★ among answered, 0..=1; `null` when nothing was answered.
    pub csat: Option<f64>,
    /// Low ratings: 👎 or stars at or below the line's threshold.
    pub low: i64,
    /// Sessions a supervisor evaluated (their own 1–5 stars, apart from the client's).
    pub evaluated: i64,
    /// Mean of the supervisors' stars; `null` when none were given.
    pub evaluation_average: Option<f64>,
}

impl Store {
    /// The report at `now`: a voided rating does not count, and one in its grace period
    /// counts as it was before (or not at all, when it is a first answer).
    #[tracing::instrument(skip(self))]
    pub async fn stats(
        &self,
        f: &StatsFilter,
        by: StatsGrouping,
        now: DateTime<Utc>,
    ) -> Result<Vec<StatsGroup>> {
        let (filter, binds) = conditions(f, "r", "created_at", None, 1);
        let group = if by == StatsGrouping::All {
            ""
        } else {
            "GROUP BY 1"
        };
        // $1 is now; the filter's parameters follow.
        let (value, positive, low) = (counted("value"), counted("positive"), counted("low"));
        let sql = format!(
            "SELECT {key} AS k,
                    COUNT(r.sent_at) AS sent,
                    COUNT({value}) AS answered,
                    CAST(SUM(CASE WHEN r.scale = 'five_star' THEN {value} END) AS BIGINT) AS star_sum,
                    COUNT(CASE WHEN r.scale = 'five_star' THEN {value} END) AS star_n,
                    CAST(COALESCE(SUM({positive}), 0) AS BIGINT) AS positive,
                    CAST(COALESCE(SUM({low}), 0) AS BIGINT) AS low
             FROM rating_requests r
                  LEFT JOIN ratings g ON g.request_id = r.id AND g.voided_at IS NULL
             {filter} {group}",
            key = group_key(by, "r", "created_at"),
        );
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ms(now)), &binds)
            .fetch_all(&self.pool)
            .await?;
        // Evaluations are per session, not per request: counted apart, grouped alike.
        let (filter, binds) = conditions(f, "e", "closed_at", Some("e.created_at <= $1"), 1);
        let sql = format!(
            "SELECT {key} AS k, COUNT(*) AS n, CAST(SUM(e.stars) AS BIGINT) AS stars
             FROM evaluations e {filter} {group}",
            key = group_key(by, "e", "closed_at"),
        );
        let mut evaluations = std::collections::HashMap::new();
        for row in bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ms(now)), &binds)
            .fetch_all(&self.pool)
            .await?
        {
            let n: i64 = row.try_get("n")?;
            if n > 0 {
                let stars: i64 = row.try_get("stars")?;
                evaluations.insert(row.try_get::<String, _>("k")?, (n, stars));
            }
        }
        let mut groups = Vec::with_capacity(rows.len());
        for row in rows {
            let sent: i64 = row.try_get("sent")?;
            let answered: i64 = row.try_get("answered")?;
            if by == StatsGrouping::All && sent == 0 && answered == 0 {
                // An empty report says so with an empty list, not a row of zeros.
                continue;
            }
            let star_sum: Option<i64> = row.try_get("star_sum")?;
            let star_n: i64 = row.try_get("star_n")?;
            let positive: i64 = row.try_get("positive")?;
            let raw: String = row.try_get("k")?;
            let (evaluated, stars) = evaluations.remove(&raw).unwrap_or((0, 0));
            let key = period_key(by, raw);
            groups.push(StatsGroup {
                evaluated,
                evaluation_average: ratio(stars, evaluated),
                key,
                sent,
                answered,
                response_rate: ratio(answered, sent),
                average: star_sum.and_then(|s| ratio(s, star_n)),
                csat: ratio(positive, answered),
                low: row.try_get("low")?,
            });
        }
        // Evaluated sessions whose group has no request (rating off on the line).
        for (raw, (evaluated, stars)) in evaluations {
            groups.push(StatsGroup {
                key: period_key(by, raw),
                sent: 0,
                answered: 0,
                response_rate: None,
                average: None,
                csat: None,
                low: 0,
                evaluated,
                evaluation_average: ratio(stars, evaluated),
            });
        }
        // Sorted here, by bytes: the databases' collations would order keys differently.
        groups.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(groups)
    }
}

pub(super) enum Bind {
    Text(String),
    Int(i64),
}

/// A rating's `column` (`value`, `positive`, `low`) over alias `g` as the report counts it
/// at `$1` (now): as it was before, while a grace period holds a lowered rating back.
pub(super) fn counted(column: &str) -> String {
    format!("CASE WHEN g.counts_from <= $1 THEN g.{column} ELSE g.prior_{column} END")
}

/// The group key over table alias `t`, whose period is counted by its column `at`.
fn group_key(by: StatsGrouping, t: &str, at: &str) -> String {
    match by {
        StatsGrouping::All => "'all'".into(),
        StatsGrouping::Operator => format!("COALESCE({t}.operator_id, '')"),
        StatsGrouping::Line => format!("{t}.line_id"),
        StatsGrouping::Channel => format!("{t}.channel"),
        StatsGrouping::Day => format!("CAST({t}.{at} / 86400000 AS TEXT)"),
        // Day 0 (1970-01-01) was a Thursday: +3 starts each week on a Monday.
        StatsGrouping::Week => format!("CAST(({t}.{at} / 86400000 + 3) / 7 AS TEXT)"),
    }
}

/// The filter as a `WHERE` over table alias `t` (period by its column `at`), with its
/// parameters numbered after the `taken` ones the statement binds first, and `extra` when
/// given.
pub(super) fn conditions(
    f: &StatsFilter,
    t: &str,
    at: &str,
    extra: Option<&str>,
    taken: usize,
) -> (String, Vec<Bind>) {
    let mut conditions: Vec<String> = extra.into_iter().map(str::to_owned).collect();
    let mut binds: Vec<Bind> = Vec::new();
    let mut push = |cond: String, b: Bind| {
        binds.push(b);
        conditions.push(cond.replace('?', &format!("${}", binds.len() + taken)));
    };
    if let Some(l) = &f.line {
        push(format!("{t}.line_id = ?"), Bind::Text(l.clone()));
    }
    if let Some(o) = &f.operator {
        push(format!("{t}.operator_id = ?"), Bind::Text(o.clone()));
    }
    if let Some(c) = f.channel {
        push(format!("{t}.channel = ?"), Bind::Text(c.as_str().into()));
    }
    if let Some(from) = f.from {
        push(format!("{t}.{at} >= ?"), Bind::Int(ms(from)));
    }
    if let Some(to) = f.to {
        push(format!("{t}.{at} < ?"), Bind::Int(ms(to)));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    (filter, binds)
}

pub(super) fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    binds: &[Bind],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s.clone()),
            Bind::Int(i) => q.bind(*i),
        };
    }
    q
}

fn ratio(n: i64, d: i64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// Days since the epoch, as stored, to `YYYY-MM-DD`.
/// A day or week group's key as its date; other keys as they are.
fn period_key(by: StatsGrouping, raw: String) -> String {
    match by {
        StatsGrouping::Day => day_key(&raw),
        StatsGrouping::Week => raw
            .parse::<i64>()
            .map_or(raw, |w| day_key(&(w * 7 - 3).to_string())),
        _ => raw,
    }
}

/// Days since 1970-01-01 as their date.
fn day_key(days: &str) -> String {
    days.parse::<i64>()
        .ok()
        .and_then(|d| NaiveDate::from_num_days_from_ce_opt(719_163 + d as i32))
        .map(|d| d.to_string())
        .unwrap_or_else(|| days.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_read_as_dates() {
        assert_eq!(day_key("0"), "1970-01-01");
        assert_eq!(day_key("20000"), "2024-10-04");
    }

    #[test]
    fn week_numbers_read_as_their_mondays() {
        // 2026-11-21 is a Saturday, day 20778; its week began on Monday 2026-11-16.
        let week = (20778 + 3) / 7;
        assert_eq!(
            period_key(StatsGrouping::Week, week.to_string()),
            "2026-11-16"
        );
        assert_eq!(period_key(StatsGrouping::Week, "0".into()), "1969-12-29");
    }
}
