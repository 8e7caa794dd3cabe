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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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
            other => Err(format!(
                "unknown grouping '{other}': use operator, line, channel or day"
            )),
        }
    }
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
}

impl Store {
    #[tracing::instrument(skip(self))]
    pub async fn stats(&self, f: &StatsFilter, by: StatsGrouping) -> Result<Vec<StatsGroup>> {
        let key = match by {
            StatsGrouping::All => "'all'",
            StatsGrouping::Operator => "COALESCE(r.operator_id, '')",
            StatsGrouping::Line => "r.line_id",
            StatsGrouping::Channel => "r.channel",
            StatsGrouping::Day => "CAST(r.created_at / 86400000 AS TEXT)",
        };
        let mut conditions = Vec::new();
        let mut binds: Vec<Bind> = Vec::new();
        let mut push = |cond: &str, b: Bind| {
            binds.push(b);
            conditions.push(cond.replace('?', &format!("${}", binds.len())));
        };
        if let Some(l) = &f.line {
            push("r.line_id = ?", Bind::Text(l.clone()));
        }
        if let Some(o) = &f.operator {
            push("r.operator_id = ?", Bind::Text(o.clone()));
        }
        if let Some(c) = f.channel {
            push("r.channel = ?", Bind::Text(c.as_str().into()));
        }
        if let Some(t) = f.from {
            push("r.created_at >= ?", Bind::Int(ms(t)));
        }
        if let Some(t) = f.to {
            push("r.created_at < ?", Bind::Int(ms(t)));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let group = if by == StatsGrouping::All {
            ""
        } else {
            "GROUP BY 1"
        };
        let sql = format!(
            "SELECT {key} AS k,
                    COUNT(r.sent_at) AS sent,
                    COUNT(g.id) AS answered,
                    CAST(SUM(CASE WHEN r.scale = 'five_star' THEN g.value END) AS BIGINT) AS star_sum,
                    COUNT(CASE WHEN r.scale = 'five_star' THEN g.id END) AS star_n,
                    CAST(COALESCE(SUM(g.positive), 0) AS BIGINT) AS positive,
                    CAST(COALESCE(SUM(g.low), 0) AS BIGINT) AS low
             FROM rating_requests r LEFT JOIN ratings g ON g.request_id = r.id
             {filter} {group}"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in binds {
            q = match b {
                Bind::Text(s) => q.bind(s),
                Bind::Int(i) => q.bind(i),
            };
        }
        let rows = q.fetch_all(&self.pool).await?;
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
            let mut key: String = row.try_get("k")?;
            if by == StatsGrouping::Day {
                key = day_key(&key);
            }
            groups.push(StatsGroup {
                key,
                sent,
                answered,
                response_rate: ratio(answered, sent),
                average: star_sum.and_then(|s| ratio(s, star_n)),
                csat: ratio(positive, answered),
                low: row.try_get("low")?,
            });
        }
        // Sorted here, by bytes: the databases' collations would order keys differently.
        groups.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(groups)
    }
}

enum Bind {
    Text(String),
    Int(i64),
}

fn ratio(n: i64, d: i64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// Days since the epoch, as stored, to `YYYY-MM-DD`.
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
}
