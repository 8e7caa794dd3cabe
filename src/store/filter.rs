//! The report's filter and grouping, and the SQL they become: the `WHERE` over a table's
//! line, operator, channel and period, its parameters, and the key each grouping groups
//! by. A leaf shared by the report, the rollup's sums and the dashboard's breakdown.

use chrono::{DateTime, Utc};
use rateline_domain::Channel;
use serde::{Deserialize, Serialize};

use super::sql::ms;

/// What to count.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    /// Only sessions of this line.
    pub line: Option<String>,
    /// Only sessions of this operator.
    pub operator: Option<String>,
    /// Only sessions on this channel.
    pub channel: Option<Channel>,
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    /// Only low ratings that give this reason (a `rating.low_reasons` id): the report
    /// then counts low ratings alone (see [`Grouping::Reason`]).
    pub reason: Option<String>,
    /// Days and weeks are counted in this zone (`None`: UTC, the rollup's own days).
    pub zone: Option<chrono_tz::Tz>,
}

impl ReportFilter {
    /// The zone days are counted in, when it is not UTC: then a report by day or week reads
    /// the rows, since the rollup keeps UTC days (see `Reports::report`).
    pub fn other_zone(&self) -> Option<chrono_tz::Tz> {
        self.zone
            .filter(|z| *z != chrono_tz::UTC && *z != chrono_tz::Etc::UTC)
    }
}

/// How to group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Grouping {
    /// One group, keyed `all`.
    #[default]
    All,
    /// By the session's operator, keyed by their id.
    Operator,
    /// By the session's line, keyed by its id.
    Line,
    /// By the session's channel, keyed by its name.
    Channel,
    /// By UTC day of the close, keyed `YYYY-MM-DD`.
    Day,
    /// By the week (Monday to Sunday, UTC) of the close, keyed by its Monday `YYYY-MM-DD`.
    Week,
    /// By the reason given for a low rating, keyed by the reason's id: counts low ratings
    /// alone, each once under every reason it gives.
    Reason,
}

impl std::str::FromStr for Grouping {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(Self::All),
            "operator" => Ok(Self::Operator),
            "line" => Ok(Self::Line),
            "channel" => Ok(Self::Channel),
            "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            "reason" => Ok(Self::Reason),
            other => Err(format!(
                "unknown grouping '{other}': use operator, line, channel, day, week or reason"
            )),
        }
    }
}

pub(super) enum Bind {
    Text(String),
    Int(i64),
}

/// A statement's parameters after the `taken` ones it binds first: each pushed value
/// comes back as its placeholder, which any number of conditions may then use.
pub(super) struct Params {
    pub binds: Vec<Bind>,
    taken: usize,
}

impl Params {
    pub fn after(taken: usize) -> Self {
        Self {
            binds: Vec::new(),
            taken,
        }
    }

    pub fn push(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len() + self.taken)
    }
}

/// The placeholders of a filter's line, operator and channel, bound once.
pub(super) struct Who {
    line: Option<String>,
    operator: Option<String>,
    channel: Option<String>,
}

impl Who {
    pub fn bind(f: &ReportFilter, p: &mut Params) -> Self {
        Self {
            line: f.line.clone().map(|l| p.push(Bind::Text(l))),
            operator: f.operator.clone().map(|o| p.push(Bind::Text(o))),
            channel: f.channel.map(|c| p.push(Bind::Text(c.as_str().into()))),
        }
    }

    /// The conditions over table alias `t`.
    pub fn on(&self, t: &str) -> Vec<String> {
        [
            ("line_id", &self.line),
            ("operator_id", &self.operator),
            ("channel", &self.channel),
        ]
        .into_iter()
        .filter_map(|(column, p)| p.as_ref().map(|p| format!("{t}.{column} = {p}")))
        .collect()
    }
}

/// The filter as a `WHERE` over table alias `t` (period by its column `at`), with its
/// parameters numbered after the `taken` ones the statement binds first, and `extra` when
/// given.
pub(super) fn conditions(
    f: &ReportFilter,
    t: &str,
    at: &str,
    extra: Option<&str>,
    taken: usize,
) -> (String, Vec<Bind>) {
    let mut p = Params::after(taken);
    let mut conditions: Vec<String> = extra.into_iter().map(str::to_owned).collect();
    conditions.extend(Who::bind(f, &mut p).on(t));
    if let Some(from) = f.from {
        conditions.push(format!("{t}.{at} >= {}", p.push(Bind::Int(ms(from)))));
    }
    if let Some(to) = f.to {
        conditions.push(format!("{t}.{at} < {}", p.push(Bind::Int(ms(to)))));
    }
    (where_(conditions), p.binds)
}

/// ` WHERE` and the conditions joined, or nothing when there are none.
pub(super) fn where_(conditions: Vec<String>) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
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

/// The group key over the summed rows `u`.
pub(super) fn group_key(by: Grouping) -> &'static str {
    match by {
        Grouping::All => "'all'",
        Grouping::Operator => "u.operator_id",
        Grouping::Line => "u.line_id",
        Grouping::Channel => "u.channel",
        Grouping::Day => "CAST(u.day AS TEXT)",
        // Day 0 (1970-01-01) was a Thursday: +3 starts each week on a Monday.
        Grouping::Week => "CAST((u.day + 3) / 7 AS TEXT)",
        Grouping::Reason => "u.reason",
    }
}
