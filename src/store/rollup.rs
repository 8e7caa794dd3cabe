//! The rollup: the report's counts per day, kept as ratings and requests change, so a
//! report sums days rather than every row.
//!
//! `migrations/*/0008_report_rollup.sql` keeps it in two tables: triggers append every
//! change to `report_changes`, and [`Reports::fold_rollup`](super::Reports::fold_rollup)
//! folds those into `report_days`. A change row has `report_days`' columns, its counters
//! the differences one statement (PostgreSQL) or one row (SQLite) made to one key
//! (`0037_report_changes_by_key.sql`).
//! A report sums, in one statement (so one snapshot):
//!
//! - `report_days` and the not yet folded `report_changes`, for the whole days the filter
//!   covers;
//! - a correction for ratings held back by a grace period: the rollup counts a rating at
//!   its current value, the report counts it as it was before until `counts_from`;
//! - the rows themselves for the partial days at either end of a `from`/`to` that is not a
//!   UTC midnight.
//!
//! Every branch yields the same columns ([`counters`]); the report, the funnel and the
//! distribution are each put together from the sums in Rust.
//!
//! The rollup's days are UTC days. Days and weeks in another zone take a second statement
//! in the same snapshot: the rows between each UTC midnight and the nearest local midnight,
//! by the quarter hour, which move to the local day they belong to ([`bands`],
//! [`in_zone`]).

use chrono::{DateTime, Utc};
use rateline_domain::{RequestStatus, Scale};
use sqlx::Row;

use super::base::{Backend, Reports};
use super::error::Result;
use super::filter::{Bind, Grouping, Params, ReportFilter, Who, bind_all, group_key, where_};
use super::sql::ms;

const DAY_MS: i64 = 86_400_000;

/// A quarter of an hour: the stretch a report by day or week in another zone than UTC
/// counts the rows by, since every zone's midnight falls on one.
pub(super) const QUARTER_MS: i64 = 900_000;

/// Changes folded per statement: bounded, so a backlog (the migration's, say) never makes
/// one huge transaction.
const FOLD_BATCH: i64 = 50_000;

/// The counts of one group, apart for channels that report delivery and those that do not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Counts {
    pub key: String,
    /// Sent on a channel that reports delivery (WhatsApp, web chat).
    pub knowable: bool,
    pub closed: i64,
    /// Requests by status, in [`RequestStatus::ALL`]'s order.
    pub statuses: [i64; RequestStatus::ALL.len()],
    pub sent: i64,
    pub delivered: i64,
    /// Binary ratings counted: 👎, 👍.
    pub binary: [i64; 2],
    /// Five-star ratings counted, by stars 1..=5.
    pub stars: [i64; 5],
    pub positive: i64,
    pub low: i64,
}

impl Counts {
    /// Adds `other`'s counts, times `sign` (−1 takes them away).
    fn add(&mut self, other: &Counts, sign: i64) {
        self.closed += sign * other.closed;
        for (a, b) in self.statuses.iter_mut().zip(other.statuses) {
            *a += sign * b;
        }
        self.sent += sign * other.sent;
        self.delivered += sign * other.delivered;
        for (a, b) in self
            .binary
            .iter_mut()
            .chain(self.stars.iter_mut())
            .zip(other.binary.iter().chain(other.stars.iter()))
        {
            *a += sign * b;
        }
        self.positive += sign * other.positive;
        self.low += sign * other.low;
    }

    /// Requests made for the closes: every status but `skipped` (a rule chose not to ask).
    pub fn requested(&self) -> i64 {
        self.statuses.iter().sum::<i64>() - self.status(RequestStatus::Skipped)
    }

    pub fn status(&self, s: RequestStatus) -> i64 {
        RequestStatus::ALL
            .iter()
            .position(|x| *x == s)
            .map_or(0, |i| self.statuses[i])
    }

    pub fn answered(&self) -> i64 {
        self.binary.iter().sum::<i64>() + self.stars.iter().sum::<i64>()
    }

    /// Each value's count per scale, as the distribution shows them.
    pub fn values(&self) -> impl Iterator<Item = (Scale, i64, i64)> + '_ {
        let binary = (0..).zip(self.binary).map(|(v, n)| (Scale::Binary, v, n));
        let stars = (1..).zip(self.stars).map(|(v, n)| (Scale::FiveStar, v, n));
        binary.chain(stars)
    }
}

/// The counter columns every branch yields, after `day, line_id, operator_id, channel`,
/// in the order of `report_days`; `report_changes` has each of them too, so a counter
/// (a status, say) is added to both tables.
fn counters() -> Vec<String> {
    let mut c = vec!["closed".to_owned()];
    c.extend(
        RequestStatus::ALL
            .iter()
            .map(|s| format!("in_{}", s.as_str())),
    );
    c.extend(["sent".into(), "delivered".into()]);
    c.extend((0..=1).map(|v| format!("b{v}")));
    c.extend((1..=5).map(|v| format!("s{v}")));
    c.extend(["positive".into(), "low".into()]);
    c
}

/// A value counter's scale and value: `b1` is (binary, 1), `s4` (five_star, 4).
fn value_counter(c: &str) -> Option<(&'static str, &str)> {
    if let Some(v) = c.strip_prefix('b') {
        Some(("binary", v))
    } else {
        c.strip_prefix('s').map(|v| ("five_star", v))
    }
    .filter(|(_, v)| v.parse::<u8>().is_ok())
}

/// One branch's select list: the key columns, then each counter's expression from `expr`.
fn select<K: AsRef<str>>(keys: [K; 4], expr: impl Fn(&str) -> String) -> String {
    let keys = ["day", "line_id", "operator_id", "channel"]
        .iter()
        .zip(keys)
        .map(|(name, e)| format!("{} AS {name}", e.as_ref()));
    let counters = counters()
        .into_iter()
        .map(|c| format!("{} AS {c}", expr(&c)));
    keys.chain(counters).collect::<Vec<_>>().join(", ")
}

/// A rating's counters from value, positive and low expressions (NULL: not counted), on
/// a request `r`.
fn rating_counter(c: &str, value: &str, positive: &str, low: &str) -> Option<String> {
    if let Some((scale, v)) = value_counter(c) {
        Some(format!(
            "CASE WHEN r.scale = '{scale}' AND {value} = {v} THEN 1 ELSE 0 END"
        ))
    } else if c == "positive" {
        Some(format!("COALESCE({positive}, 0)"))
    } else if c == "low" {
        Some(format!("COALESCE({low}, 0)"))
    } else {
        None
    }
}

/// A request row `r` and its rating `g` as counters, the rating as counted at `$1`.
fn request_counter(c: &str) -> String {
    let at =
        |col: &str| format!("CASE WHEN g.counts_from <= $1 THEN g.{col} ELSE g.prior_{col} END");
    if let Some(e) = rating_counter(c, &at("value"), &at("positive"), &at("low")) {
        e
    } else if let Some(status) = c.strip_prefix("in_") {
        format!("CASE WHEN r.status = '{status}' THEN 1 ELSE 0 END")
    } else if c == "closed" {
        "0".into()
    } else {
        format!("CASE WHEN r.{c}_at IS NOT NULL THEN 1 ELSE 0 END")
    }
}

/// Which days the rollup answers for, and which stretches the rows must.
#[derive(Debug, PartialEq, Eq)]
struct Span {
    /// Whole days `[first, end)` (days since the epoch; `None`: unbounded), or `None` when
    /// no whole day is inside the filter.
    days: Option<(Option<i64>, Option<i64>)>,
    /// `[from, to)` in ms: the partial days at the ends.
    edges: Vec<(i64, i64)>,
}

fn span(from: Option<i64>, to: Option<i64>) -> Span {
    let first = from.map(|f| f.div_euclid(DAY_MS) + i64::from(f.rem_euclid(DAY_MS) != 0));
    let end = to.map(|t| t.div_euclid(DAY_MS));
    if let (Some(f), Some(t), Some(a), Some(b)) = (from, to, first, end)
        && a >= b
    {
        // No whole day inside: all of it from the rows.
        let edges = if f < t { vec![(f, t)] } else { vec![] };
        return Span { days: None, edges };
    }
    let mut edges = Vec::new();
    if let (Some(f), Some(first)) = (from, first)
        && f < first * DAY_MS
    {
        edges.push((f, first * DAY_MS));
    }
    if let (Some(t), Some(end)) = (to, end)
        && end * DAY_MS < t
    {
        edges.push((end * DAY_MS, t));
    }
    Span {
        days: Some((first, end)),
        edges,
    }
}

impl Reports<'_> {
    /// The counts for `f`, grouped `by`, with ratings as counted at `now`, in one snapshot.
    ///
    /// Days and weeks in another zone than UTC: each UTC day of the rollup goes to the local
    /// day that holds most of it (the day of its noon), and the rows between each UTC
    /// midnight and the nearest local midnight, which belong to the day on the other side,
    /// are read by the quarter hour and moved there. So a zone `h` hours from UTC reads
    /// `min(h, 24 − h)` hours of rows a day, not all of them.
    pub(super) async fn rollup_counts(
        self,
        f: &ReportFilter,
        by: Grouping,
        now: DateTime<Utc>,
    ) -> Result<Vec<Counts>> {
        let mut tx = self.0.reads.begin().await?;
        if self.0.backend == Backend::Postgres {
            // A zone's days take two statements, which must see the same rows.
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *tx)
                .await?;
            // The sum groups up to a row per line, operator, channel and day. PostgreSQL's
            // default 4 MB of working memory makes it sort those on disk rather than hash
            // them; this transaction alone may use more.
            sqlx::query("SET LOCAL work_mem = '32MB'")
                .execute(&mut *tx)
                .await?;
        }
        let whole = span(f.from.map(ms), f.to.map(ms));
        let counts = match days_of(f, by) {
            None => counts_over(&mut tx, f, by, whole, DAY_MS, now).await?,
            Some(zone) => {
                let days = counts_over(&mut tx, f, Grouping::Day, whole, DAY_MS, now).await?;
                let (first, end) = extent(&mut tx, f, now).await?;
                let bands = bands(zone, first, end);
                // A query per BANDS days: each band is an `OR` of the query's, and SQLite
                // refuses an expression over 1,000 deep (rows spread over years, a zone).
                let mut moved = Vec::new();
                for chunk in bands.chunks(BANDS) {
                    let edges = Span {
                        days: None,
                        edges: chunk.to_vec(),
                    };
                    moved.extend(
                        counts_over(&mut tx, f, Grouping::Day, edges, QUARTER_MS, now).await?,
                    );
                }
                in_zone(zone, by, days, moved)
            }
        };
        tx.commit().await?;
        Ok(counts)
    }

    /// Folds the changes the triggers appended into `report_days`; returns how many.
    ///
    /// Safe to run from several processes at once: on PostgreSQL each change is taken out
    /// and added in one statement, and an advisory lock lets one process fold at a time;
    /// SQLite has one writer.
    pub async fn fold_rollup(self) -> Result<u64> {
        let names = counters();
        let columns = names.join(", ");
        let pivot = names
            .iter()
            .map(|c| format!("CAST(SUM({c}) AS BIGINT)"))
            .collect::<Vec<_>>()
            .join(", ");
        let add = names
            .iter()
            .map(|c| format!("{c} = report_days.{c} + excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let keys = "day, line_id, operator_id, channel";
        let mut folded = 0;
        loop {
            let mut tx = self.0.pool.begin().await?;
            let n = match self.0.backend {
                Backend::Postgres => {
                    let locked: bool = sqlx::query("SELECT pg_try_advisory_xact_lock(8011970)")
                        .fetch_one(&mut *tx)
                        .await?
                        .try_get(0)?;
                    if !locked {
                        return Ok(folded);
                    }
                    let sql = format!(
                        "WITH moved AS (
                             DELETE FROM report_changes WHERE id IN
                                 (SELECT id FROM report_changes ORDER BY id LIMIT {FOLD_BATCH})
                             RETURNING *),
                         added AS (
                             INSERT INTO report_days ({keys}, {columns})
                             SELECT {keys}, {pivot} FROM moved GROUP BY {keys}
                             ON CONFLICT ({keys}) DO UPDATE SET {add})
                         SELECT COUNT(*) AS n FROM moved"
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .fetch_one(&mut *tx)
                        .await?
                        .try_get::<i64, _>("n")?
                }
                Backend::Sqlite => {
                    let last: Option<i64> = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT MAX(id) AS last FROM
                             (SELECT id FROM report_changes ORDER BY id LIMIT {FOLD_BATCH})"
                    )))
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("last")?;
                    let Some(last) = last else {
                        return Ok(folded);
                    };
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO report_days ({keys}, {columns})
                         SELECT {keys}, {pivot} FROM report_changes WHERE id <= $1
                         GROUP BY {keys}
                         ON CONFLICT ({keys}) DO UPDATE SET {add}"
                    )))
                    .bind(last)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("DELETE FROM report_changes WHERE id <= $1")
                        .bind(last)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected() as i64
                }
            };
            tx.commit().await?;
            folded += n as u64;
            if n < FOLD_BATCH {
                return Ok(folded);
            }
        }
    }
}

/// A request row `r`'s key columns, its period by the close.
/// A request's key columns, its day counted in stretches of `unit` ms.
fn request_keys(unit: i64) -> [String; 4] {
    [
        format!("r.created_at / {unit}"),
        "r.line_id".into(),
        "COALESCE(r.operator_id, '')".into(),
        "r.channel".into(),
    ]
}

/// The counts for `f` grouped `by`: whole days of `span` from the rollup, its edges from
/// the rows, these counted by stretches of `unit` ms (their `day`).
///
/// One piece: one query built from the filter, its grouping and the span's edges; split, the
/// statement's text would be spread over helpers.
async fn counts_over(
    conn: &mut sqlx::AnyConnection,
    f: &ReportFilter,
    by: Grouping,
    span: Span,
    unit: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Counts>> {
    // $1 is now; the filter's parameters follow, each bound once and used by every
    // branch.
    let mut p = Params::after(1);
    let who = Who::bind(f, &mut p);
    let mut branches = Vec::new();
    if let Some((first, end)) = span.days {
        let first = first.map(|d| p.push(Bind::Int(d)));
        let end = end.map(|d| p.push(Bind::Int(d)));
        // The filter over alias `t`, whose day is `day`.
        let days = |t: &str, day: &str| {
            let mut c = who.on(t);
            c.extend(first.iter().map(|d| format!("{day} >= {d}")));
            c.extend(end.iter().map(|d| format!("{day} < {d}")));
            c
        };
        let key = ["d.day", "d.line_id", "d.operator_id", "d.channel"];
        branches.push(format!(
            "SELECT {} FROM report_days d{}",
            select(key, |c| format!("d.{c}")),
            where_(days("d", "d.day"))
        ));
        branches.push(format!(
            "SELECT {} FROM report_changes d{}",
            select(key, |c| format!("d.{c}")),
            where_(days("d", "d.day"))
        ));
        // Ratings in their grace period (found through `counts_from`): out goes what
        // the rollup counted, in what the report counts.
        let mut c = days("r", "r.created_at / 86400000");
        c.push("g.counts_from > $1 AND g.voided_at IS NULL".into());
        branches.push(format!(
            "SELECT {} FROM ratings g JOIN rating_requests r ON r.id = g.request_id{}",
            select(request_keys(DAY_MS), |c| {
                match (
                    rating_counter(c, "g.prior_value", "g.prior_positive", "g.prior_low"),
                    rating_counter(c, "g.value", "g.positive", "g.low"),
                ) {
                    (Some(was), Some(is)) => format!("({was}) - ({is})"),
                    _ => "0".into(),
                }
            }),
            where_(c)
        ));
    }
    if !span.edges.is_empty() {
        let ranges: Vec<(String, String)> = span
            .edges
            .iter()
            .map(|(a, b)| (p.push(Bind::Int(*a)), p.push(Bind::Int(*b))))
            .collect();
        let within = |column: &str| {
            let any = ranges
                .iter()
                .map(|(a, b)| format!("({column} >= {a} AND {column} < {b})"))
                .collect::<Vec<_>>()
                .join(" OR ");
            format!("({any})")
        };
        let mut c = who.on("r");
        c.push(within("r.created_at"));
        branches.push(format!(
            "SELECT {} FROM rating_requests r
                  LEFT JOIN ratings g ON g.request_id = r.id AND g.voided_at IS NULL{}",
            select(request_keys(unit), request_counter),
            where_(c)
        ));
        let mut c = who.on("s");
        c.push(within("s.closed_at"));
        branches.push(format!(
            "SELECT {} FROM sessions s{}",
            select(
                [
                    &format!("s.closed_at / {unit}"),
                    "s.line_id",
                    "COALESCE(s.operator_id, '')",
                    "s.channel",
                ],
                |c| if c == "closed" { "1" } else { "0" }.into()
            ),
            where_(c)
        ));
    }
    if branches.is_empty() {
        return Ok(Vec::new());
    }
    let sums = counters()
        .iter()
        .map(|c| format!("CAST(SUM(u.{c}) AS BIGINT) AS {c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {key} AS k,
                CAST(CASE WHEN u.channel IN ('whatsapp', 'webchat') THEN 1 ELSE 0 END
                     AS BIGINT) AS knowable,
                {sums}
         FROM ({union}) u
         GROUP BY 1, 2",
        key = group_key(by),
        union = branches.join(" UNION ALL "),
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ms(now));
    let rows = bind_all(q, &p.binds).fetch_all(&mut *conn).await?;
    let names = counters();
    rows.iter()
        .map(|row| {
            let get = |i: usize| row.try_get::<i64, _>(names[i].as_str());
            let mut t = Counts {
                key: row.try_get("k")?,
                knowable: row.try_get::<i64, _>("knowable")? == 1,
                closed: get(0)?,
                ..Counts::default()
            };
            let mut i = 1;
            for s in &mut t.statuses {
                *s = get(i)?;
                i += 1;
            }
            t.sent = get(i)?;
            t.delivered = get(i + 1)?;
            i += 2;
            for v in t.binary.iter_mut().chain(t.stars.iter_mut()) {
                *v = get(i)?;
                i += 1;
            }
            t.positive = get(i)?;
            t.low = get(i + 1)?;
            Ok(t)
        })
        .collect()
}

/// The first and last instant (ms) a report for `f` may count: its bounds, or the first
/// request or close in the store and the day after `now`.
async fn extent(
    conn: &mut sqlx::AnyConnection,
    f: &ReportFilter,
    now: DateTime<Utc>,
) -> Result<(i64, i64)> {
    let end = f.to.map_or(ms(now) + DAY_MS, ms);
    if let Some(from) = f.from {
        return Ok((ms(from), end));
    }
    let first: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(t) FROM (SELECT MIN(created_at) AS t FROM rating_requests
                             UNION ALL SELECT MIN(closed_at) FROM sessions) u",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((first.unwrap_or(end), end))
}

/// The zone a report's days are counted in, when it is not UTC and the report is by day or
/// week.
pub(super) fn days_of(f: &ReportFilter, by: Grouping) -> Option<chrono_tz::Tz> {
    f.other_zone()
        .filter(|_| matches!(by, Grouping::Day | Grouping::Week))
}

/// Days since the epoch of the local date at `at` (ms) in `zone`.
pub(super) fn local_day(zone: chrono_tz::Tz, at: i64) -> Option<i64> {
    use chrono::Datelike;
    let t = DateTime::<Utc>::from_timestamp_millis(at)?;
    Some(i64::from(
        t.with_timezone(&zone).date_naive().num_days_from_ce() - 719_163,
    ))
}

/// A day (days since the epoch) as the key of its group `by`: itself, or its week's number
/// (day 0, 1970-01-01, was a Thursday: +3 starts each week on a Monday).
pub(super) fn period_number(by: Grouping, day: i64) -> i64 {
    match by {
        Grouping::Week => (day + 3).div_euclid(7),
        _ => day,
    }
}

/// The most bands one query reads (see `rollup_counts`).
const BANDS: usize = 200;

/// The stretches `[from, to)` (ms) within `[first, end)` between each UTC midnight and the
/// local midnight nearest it: their rows lie in one UTC day and belong to the local day
/// on the other side of the local midnight.
fn bands(zone: chrono_tz::Tz, first: i64, end: i64) -> Vec<(i64, i64)> {
    let mut bands = Vec::new();
    let mut k = first.div_euclid(DAY_MS);
    while k * DAY_MS < end + DAY_MS {
        let midnight = k * DAY_MS;
        let nearest = DateTime::<Utc>::from_timestamp_millis(midnight)
            .map(|t| t.with_timezone(&zone).date_naive())
            .into_iter()
            .flat_map(|d| [d, d.succ_opt().unwrap_or(d)])
            .map(|d| crate::clock::midnight(zone, d).timestamp_millis())
            .min_by_key(|m| (m - midnight).abs());
        if let Some(m) = nearest {
            let (a, b) = (m.min(midnight).max(first), m.max(midnight).min(end));
            if a < b {
                bands.push((a, b));
            }
        }
        k += 1;
    }
    bands
}

/// The rollup's UTC `days` (keyed by day number) and the rows of the bands (`moved`, keyed
/// by quarter hour) as counts per local day or week in `zone`.
fn in_zone(
    zone: chrono_tz::Tz,
    by: Grouping,
    days: Vec<Counts>,
    moved: Vec<Counts>,
) -> Vec<Counts> {
    let key = |day: i64| period_number(by, day).to_string();
    // A UTC day's local day: the one of its noon.
    let of_day = |u: i64| local_day(zone, u * DAY_MS + DAY_MS / 2);
    let mut out: std::collections::BTreeMap<(String, bool), Counts> = Default::default();
    let mut add = |day: i64, c: &Counts, sign: i64| {
        let k = key(day);
        out.entry((k.clone(), c.knowable))
            .or_insert_with(|| Counts {
                key: k,
                knowable: c.knowable,
                ..Counts::default()
            })
            .add(c, sign);
    };
    for c in &days {
        if let Some(day) = c.key.parse().ok().and_then(of_day) {
            add(day, c, 1);
        }
    }
    for c in &moved {
        let Ok(q) = c.key.parse::<i64>() else {
            continue;
        };
        let at = q * QUARTER_MS;
        if let (Some(counted), Some(belongs)) = (of_day(at.div_euclid(DAY_MS)), local_day(zone, at))
            && counted != belongs
        {
            add(counted, c, -1);
            add(belongs, c, 1);
        }
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bands_lie_between_each_utc_midnight_and_the_nearest_local_one() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis();
        let day = |zone| bands(zone, at("2026-11-21T00:00:00Z"), at("2026-11-22T00:00:00Z"));
        // Berlin is an hour ahead in November: the hour before UTC midnight is tomorrow there.
        assert_eq!(
            day(chrono_tz::Europe::Berlin),
            [(at("2026-11-21T23:00:00Z"), at("2026-11-22T00:00:00Z"))]
        );
        // New York, five hours behind: the first five hours of a UTC day are yesterday there.
        assert_eq!(
            day(chrono_tz::America::New_York),
            [(at("2026-11-21T00:00:00Z"), at("2026-11-21T05:00:00Z"))]
        );
        // Tokyo, nine ahead: nine hours before UTC midnight, not fifteen after.
        assert_eq!(
            day(chrono_tz::Asia::Tokyo),
            [(at("2026-11-21T15:00:00Z"), at("2026-11-22T00:00:00Z"))]
        );
        // Kathmandu, 5:45 ahead.
        assert_eq!(
            day(chrono_tz::Asia::Kathmandu),
            [(at("2026-11-21T18:15:00Z"), at("2026-11-22T00:00:00Z"))]
        );
    }

    #[test]
    fn rows_of_a_band_move_to_their_local_day() {
        let counts = |key: &str, low: i64| Counts {
            key: key.into(),
            low,
            ..Counts::default()
        };
        // UTC day 20778 (2026-11-21) has 5 low ratings; 2 of them came at 23:30 UTC, which
        // is the 22nd in Berlin.
        let quarter = (20_778 * DAY_MS + 23 * 3_600_000 + 1_800_000) / QUARTER_MS;
        let got = in_zone(
            chrono_tz::Europe::Berlin,
            Grouping::Day,
            vec![counts("20778", 5)],
            vec![counts(&quarter.to_string(), 2)],
        );
        let got: Vec<_> = got.iter().map(|c| (c.key.as_str(), c.low)).collect();
        assert_eq!(got, [("20778", 3), ("20779", 2)]);
    }

    const D: i64 = DAY_MS;

    #[test]
    fn whole_days_come_from_the_rollup_and_the_ends_from_the_rows() {
        assert_eq!(
            span(None, None),
            Span {
                days: Some((None, None)),
                edges: vec![]
            }
        );
        assert_eq!(
            span(Some(10 * D), Some(12 * D)),
            Span {
                days: Some((Some(10), Some(12))),
                edges: vec![]
            }
        );
        assert_eq!(
            span(Some(10 * D + 5), Some(12 * D + 7)),
            Span {
                days: Some((Some(11), Some(12))),
                edges: vec![(10 * D + 5, 11 * D), (12 * D, 12 * D + 7)]
            }
        );
        assert_eq!(
            span(Some(10 * D + 5), None),
            Span {
                days: Some((Some(11), None)),
                edges: vec![(10 * D + 5, 11 * D)]
            }
        );
    }

    #[test]
    fn a_stretch_inside_one_day_is_all_rows() {
        assert_eq!(
            span(Some(10 * D + 5), Some(10 * D + 9)),
            Span {
                days: None,
                edges: vec![(10 * D + 5, 10 * D + 9)]
            }
        );
        // From one midnight to the next but one partial day: rows only.
        assert_eq!(
            span(Some(10 * D + 5), Some(11 * D + 9)),
            Span {
                days: None,
                edges: vec![(10 * D + 5, 11 * D + 9)]
            }
        );
        assert_eq!(
            span(Some(10 * D), Some(10 * D)),
            Span {
                days: None,
                edges: vec![]
            }
        );
    }
}
