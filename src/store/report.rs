//! The report: requests sent and answered, average, CSAT and low ratings, grouped.
//!
//! Periods are counted by the close (the request's `created_at`): a chat closed on Monday
//! and rated on Tuesday counts for Monday, so a period's numbers stop moving once its
//! answer windows have passed.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::Row;

use super::base::Reports;
use super::error::{Result, StoreError};
use super::filter::{
    Bind, Grouping, Params, ReportFilter, Who, bind_all, conditions, group_key, where_,
};
use super::sql::ms;

/// One row of the report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReportGroup {
    /// What the row counts, by the report's grouping: `all`, an operator's or a line's id, a
    /// channel, a day (`YYYY-MM-DD`), a week (its Monday), or a reason's id.
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
    /// Only in a report by reason or for one reason: the share of the group's low ratings
    /// that give the reason (0..=1). A rating may give several reasons, so the shares of
    /// one report may add up to more than 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_of_low: Option<f64>,
}

impl ReportGroup {
    /// A group that counts nothing yet: zeros, and ratios without a denominator.
    fn empty(key: String) -> Self {
        Self {
            key,
            sent: 0,
            answered: 0,
            response_rate: None,
            average: None,
            csat: None,
            low: 0,
            evaluated: 0,
            evaluation_average: None,
            share_of_low: None,
        }
    }
}

impl Reports<'_> {
    /// The report at `now`: a voided rating does not count, and one in its grace period
    /// counts as it was before (or not at all, when it is a first answer).
    #[tracing::instrument(skip(self))]
    pub async fn report(
        self,
        f: &ReportFilter,
        by: Grouping,
        now: DateTime<Utc>,
    ) -> Result<Vec<ReportGroup>> {
        if by == Grouping::Reason || f.reason.is_some() {
            return self.reason_report(f, by, now).await;
        }
        // Groups of the rollup's rollup_counts, one per key: scales and channels summed.
        // Days in another zone come from the rollup as their day or week; evaluations, read
        // from the rows by the quarter hour, are summed into theirs.
        let (zone, unit) = quarters_in(f, by);
        let raw_key = |raw: String| match zone {
            Some(zone) => zoned_key(by, zone, &raw),
            None => raw,
        };
        let mut sums: std::collections::BTreeMap<String, Sums> = Default::default();
        for t in self.rollup_counts(f, by, now).await? {
            let s = sums.entry(t.key.clone()).or_default();
            s.requested += t.requested();
            s.sent += t.sent;
            s.answered += t.answered();
            s.star_n += t.stars.iter().sum::<i64>();
            s.star_sum += (1..).zip(t.stars).map(|(v, n)| v * n).sum::<i64>();
            s.positive += t.positive;
            s.low += t.low;
        }
        // Evaluations are per session, not per request: counted apart, grouped alike.
        let (filter, binds) = conditions(f, "e", "closed_at", Some("e.created_at <= $1"), 1);
        let key = if zone.is_some() {
            group_key(Grouping::Day)
        } else {
            group_key(by)
        };
        let sql = format!(
            "SELECT {key} AS k, COUNT(*) AS n, CAST(SUM(u.stars) AS BIGINT) AS stars
             FROM (SELECT e.closed_at / {unit} AS day, e.line_id AS line_id,
                          COALESCE(e.operator_id, '') AS operator_id, e.channel AS channel,
                          e.stars AS stars
                   FROM evaluations e {filter}) u
             GROUP BY 1",
        );
        let mut evaluations = std::collections::HashMap::new();
        for row in bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ms(now)), &binds)
            .fetch_all(&self.0.reads)
            .await?
        {
            let n: i64 = row.try_get("n")?;
            if n > 0 {
                let stars: i64 = row.try_get("stars")?;
                let e = evaluations
                    .entry(raw_key(row.try_get::<String, _>("k")?))
                    .or_insert((0, 0));
                *e = (e.0 + n, e.1 + stars);
            }
        }
        let mut groups = Vec::with_capacity(sums.len());
        for (raw, s) in sums {
            // A group is there when it has requests; an empty report is an empty list,
            // not a row of zeros.
            if s.requested == 0 || (by == Grouping::All && s.sent == 0 && s.answered == 0) {
                continue;
            }
            let (evaluated, stars) = evaluations.remove(&raw).unwrap_or((0, 0));
            groups.push(ReportGroup {
                evaluated,
                evaluation_average: ratio(stars, evaluated),
                key: period_key(by, raw),
                sent: s.sent,
                answered: s.answered,
                response_rate: ratio(s.answered, s.sent),
                average: ratio(s.star_sum, s.star_n),
                csat: ratio(s.positive, s.answered),
                low: s.low,
                share_of_low: None,
            });
        }
        // Evaluated sessions whose group has no request (rating off on the line).
        for (raw, (evaluated, stars)) in evaluations {
            groups.push(ReportGroup {
                evaluated,
                evaluation_average: ratio(stars, evaluated),
                ..ReportGroup::empty(period_key(by, raw))
            });
        }
        // Sorted here, by bytes: the databases' collations would order keys differently.
        groups.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(groups)
    }
}

impl Reports<'_> {
    /// The report of low ratings and their reasons: per group, the low ratings (counted as
    /// the report counts them: voided ones out, one in its grace period as it was before)
    /// that give the filter's reason, or, grouped by reason, that give each reason; with
    /// their share of the group's low ratings. Read from the rows (through the index of
    /// reasons), not the rollup, which keeps no reasons.
    async fn reason_report(
        self,
        f: &ReportFilter,
        by: Grouping,
        now: DateTime<Utc>,
    ) -> Result<Vec<ReportGroup>> {
        // $1 is now; the filter's parameters follow.
        let mut p = Params::after(1);
        let mut c = Who::bind(f, &mut p).on("r");
        if let Some(from) = f.from {
            c.push(format!("r.created_at >= {}", p.push(Bind::Int(ms(from)))));
        }
        if let Some(to) = f.to {
            c.push(format!("r.created_at < {}", p.push(Bind::Int(ms(to)))));
        }
        c.push("g.voided_at IS NULL".into());
        c.push("(CASE WHEN g.counts_from <= $1 THEN g.low ELSE g.prior_low END) = 1".into());
        let reason = f.reason.clone().map(|r| p.push(Bind::Text(r)));
        let (zone, unit) = quarters_in(f, by);
        let rows = |with_reasons: bool, by: Grouping| {
            let by = if zone.is_some() { Grouping::Day } else { by };
            let mut c = c.clone();
            let join = if with_reasons {
                if let Some(reason) = &reason {
                    c.push(format!("x.reason = {reason}"));
                }
                " JOIN rating_reasons x ON x.rating_id = g.id"
            } else {
                ""
            };
            let reason_column = if with_reasons { "x.reason" } else { "''" };
            format!(
                "SELECT {key} AS k, COUNT(*) AS n
                 FROM (SELECT r.created_at / {unit} AS day, r.line_id AS line_id,
                              COALESCE(r.operator_id, '') AS operator_id, r.channel AS channel,
                              {reason_column} AS reason
                       FROM ratings g JOIN rating_requests r ON r.id = g.request_id{join}{w}) u
                 GROUP BY 1",
                key = group_key(by),
                w = where_(c),
            )
        };
        // Every low rating of each group, whatever its reasons: the share's denominator.
        let all_by = if by == Grouping::Reason {
            Grouping::All
        } else {
            by
        };
        let fetch = |sql: String| {
            let binds = &p.binds;
            async move {
                let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ms(now));
                let mut counts = std::collections::HashMap::new();
                for row in bind_all(q, binds).fetch_all(&self.0.reads).await? {
                    let raw = row.try_get::<String, _>("k")?;
                    let key = match zone {
                        Some(zone) => zoned_key(by, zone, &raw),
                        None => raw,
                    };
                    *counts.entry(key).or_insert(0) += row.try_get::<i64, _>("n")?;
                }
                Ok::<_, StoreError>(counts)
            }
        };
        let totals = fetch(rows(false, all_by)).await?;
        let given = fetch(rows(true, by)).await?;
        let mut groups: Vec<ReportGroup> = given
            .into_iter()
            .map(|(raw, low)| {
                let total = if by == Grouping::Reason {
                    totals.get("all")
                } else {
                    totals.get(&raw)
                };
                ReportGroup {
                    low,
                    share_of_low: total.and_then(|t| ratio(low, *t)),
                    ..ReportGroup::empty(period_key(by, raw))
                }
            })
            .collect();
        groups.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(groups)
    }
}

/// One operator's Rocket.Chat chats in a report's window: how many reached Rateline, and
/// how many of them the agent closed without the hand-over to the Ratings user (so that
/// the visitor could not be asked on the website widget). A chat its visitor closed first
/// counts among the chats only.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HandOvers {
    /// The operator credited; empty for chats credited to nobody.
    pub operator: String,
    /// Chats closed in the window: handed over, closed by the agent without the hand-over,
    /// or closed by the visitor.
    pub chats: i64,
    /// Of those, the chats the agent closed without the hand-over.
    pub closed_without_hand_over: i64,
    /// closed_without_hand_over / chats.
    pub share: Option<f64>,
}

impl Reports<'_> {
    /// Per operator, the Rocket.Chat chats closed in the filter's window (by the session's
    /// close) on its line or of its operator, and how many were closed without the
    /// hand-over; most closed without first.
    pub async fn hand_overs(self, f: &ReportFilter) -> Result<Vec<HandOvers>> {
        let rows = sqlx::query(
            "SELECT COALESCE(s.operator_id, '') AS operator, COUNT(*) AS chats,
                    SUM(CASE WHEN c.medium = 'closed_without_hand_over' THEN 1 ELSE 0 END)
                        AS without
             FROM helpdesk_conversations c JOIN sessions s ON s.id = c.session_id
             WHERE c.helpdesk = 'rocketchat' AND s.closed_at IS NOT NULL
               AND s.closed_at >= $1 AND s.closed_at < $2
               AND ($3 = '' OR s.line_id = $3) AND ($4 = '' OR s.operator_id = $4)
             GROUP BY COALESCE(s.operator_id, '')",
        )
        .bind(f.from.map_or(i64::MIN, ms))
        .bind(f.to.map_or(i64::MAX, ms))
        .bind(f.line.clone().unwrap_or_default())
        .bind(f.operator.clone().unwrap_or_default())
        .fetch_all(&self.0.reads)
        .await?;
        let mut found = rows
            .iter()
            .map(|r| {
                let chats: i64 = r.try_get("chats")?;
                let without: i64 = r.try_get("without")?;
                Ok(HandOvers {
                    operator: r.try_get("operator")?,
                    chats,
                    closed_without_hand_over: without,
                    share: ratio(without, chats),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        found.sort_by(|a, b| {
            b.closed_without_hand_over
                .cmp(&a.closed_without_hand_over)
                .then_with(|| a.operator.cmp(&b.operator))
        });
        Ok(found)
    }
}

/// A group's sums over its scales and channels.
#[derive(Default)]
struct Sums {
    requested: i64,
    sent: i64,
    answered: i64,
    star_sum: i64,
    star_n: i64,
    positive: i64,
    low: i64,
}

fn ratio(n: i64, d: i64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// The zone a report's days are counted in, when it is not UTC (see
/// [`super::rollup::days_of`]), and the stretch the rows it reads are counted by: a quarter
/// hour then, each given to its day by [`zoned_key`]; else a UTC day.
fn quarters_in(f: &ReportFilter, by: Grouping) -> (Option<chrono_tz::Tz>, i64) {
    match super::rollup::days_of(f, by) {
        Some(zone) => (Some(zone), super::rollup::QUARTER_MS),
        None => (None, 86_400_000),
    }
}

/// A quarter hour since the epoch (`raw`) as the day or week it falls in, in `zone`: the
/// number the rollup would give that day or week, so [`period_key`] reads it alike.
fn zoned_key(by: Grouping, zone: chrono_tz::Tz, raw: &str) -> String {
    raw.parse::<i64>()
        .ok()
        .and_then(|q| super::rollup::local_day(zone, q * super::rollup::QUARTER_MS))
        .map_or_else(
            || raw.to_owned(),
            |day| super::rollup::period_number(by, day).to_string(),
        )
}

/// A day or week group's key as its date; other keys as they are.
fn period_key(by: Grouping, raw: String) -> String {
    match by {
        Grouping::Day => day_key(&raw),
        Grouping::Week => raw
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
    fn quarter_hours_fall_in_their_day_in_the_zone() {
        let q = |at: &str| {
            (DateTime::parse_from_rfc3339(at).unwrap().timestamp_millis()
                / super::super::rollup::QUARTER_MS)
                .to_string()
        };
        let tokyo = chrono_tz::Asia::Tokyo;
        let day = |at: &str| period_key(Grouping::Day, zoned_key(Grouping::Day, tokyo, &q(at)));
        // 23:45 UTC on the 21st is 08:45 on the 22nd in Tokyo.
        assert_eq!(day("2026-11-21T23:45:00Z"), "2026-11-22");
        assert_eq!(day("2026-11-21T14:45:00Z"), "2026-11-21");
        assert_eq!(day("2026-11-21T15:00:00Z"), "2026-11-22");
        // Kathmandu is 5:45 ahead: its midnight is a quarter hour, 18:15 UTC.
        let nepal = chrono_tz::Asia::Kathmandu;
        let day = |at: &str| period_key(Grouping::Day, zoned_key(Grouping::Day, nepal, &q(at)));
        assert_eq!(day("2026-11-21T18:00:00Z"), "2026-11-21");
        assert_eq!(day("2026-11-21T18:15:00Z"), "2026-11-22");
        // Sunday 20:00 in New York is Monday 01:00 UTC: still the week of the 16th there.
        let week = zoned_key(
            Grouping::Week,
            chrono_tz::America::New_York,
            &q("2026-11-23T01:00:00Z"),
        );
        assert_eq!(period_key(Grouping::Week, week), "2026-11-16");
    }

    #[test]
    fn week_numbers_read_as_their_mondays() {
        // 2026-11-21 is a Saturday, day 20778; its week began on Monday 2026-11-16.
        let week = (20778 + 3) / 7;
        assert_eq!(period_key(Grouping::Week, week.to_string()), "2026-11-16");
        assert_eq!(period_key(Grouping::Week, "0".into()), "1969-12-29");
    }
}
