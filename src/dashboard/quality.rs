//! The quality dashboard's numbers (`/dashboard`, its CSV and an operator's profile): the
//! filters as the form sends them, what a view shows, computed once for the page and its
//! CSV, and the operator table's order.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rateline_domain::{Channel, ErrorCode, Scale};

use super::viewer::Viewer;
use crate::http::{ApiError, AppState};
use crate::policy::Caller;
use crate::store::{Breakdown, Grouping, ReportFilter, ReportGroup};

/// The dashboard's filters, as the form sends them (empty fields mean "any").
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(default)]
pub struct Filters {
    pub line: String,
    pub operator: String,
    pub channel: String,
    /// `YYYY-MM-DD`, inclusive.
    pub from: String,
    /// `YYYY-MM-DD`, inclusive (the report's `to` is the next midnight).
    pub to: String,
    /// `day` or `week`.
    pub period: String,
    /// `csat` (by the interval's lower bound), `volume` or `low`.
    pub sort: String,
    /// `operators` or `periods`, for the CSV export.
    pub table: String,
}

/// Everything a page shows, computed once for the page and its CSV.
pub struct View {
    pub filters: Filters,
    pub lines: Vec<(String, String)>,
    pub total: Option<ReportGroup>,
    pub periods: Vec<ReportGroup>,
    pub operators: Vec<ReportGroup>,
    /// Rocket.Chat chats per operator, and those closed without the hand-over.
    pub hand_overs: Vec<crate::store::HandOvers>,
    pub funnel: crate::store::Funnel,
    pub distribution: std::collections::BTreeMap<(Scale, i64), i64>,
    /// Why low: each reason clients gave (its text), how many low ratings give it, and
    /// their share of the low ratings; most given first.
    pub why_low: Vec<(String, i64, Option<f64>)>,
    /// An operator key sees only its own numbers.
    pub operator_only: bool,
    /// The numbers cover whole UTC days up to the last midnight (an operator kept from
    /// single ratings), whatever days were asked for.
    pub whole_days: bool,
    /// The period as long just before this one, when the filters name both ends.
    pub previous: Option<Previous>,
}

/// The period just before the one shown, as long, with the same line, operator and channel.
pub struct Previous {
    /// Its first and last day (inclusive), in the viewer's zone.
    pub from: chrono::NaiveDate,
    pub to: chrono::NaiveDate,
    /// This period against it.
    pub trend: crate::report::Trend,
}

/// The 95% Wilson interval of a group's CSAT.
pub fn interval(g: &ReportGroup) -> Option<(f64, f64)> {
    let positive = (g.csat? * g.answered as f64).round() as i64;
    crate::report::wilson(positive, g.answered)
}

/// The operator table in the order asked for. `csat` (the default) ranks by the lower
/// bound of the 95% interval, so five lucky ratings do not outrank five hundred.
pub fn sorted(mut rows: Vec<ReportGroup>, by: &str) -> Vec<ReportGroup> {
    let lower = |g: &ReportGroup| interval(g).map_or(-1.0, |(lo, _)| lo);
    match by {
        "volume" => rows.sort_by_key(|g| std::cmp::Reverse(g.answered)),
        "low" => rows.sort_by_key(|g| std::cmp::Reverse(g.low)),
        _ => rows.sort_by(|a, b| lower(b).total_cmp(&lower(a))),
    }
    rows
}

pub(super) fn bad(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameter, message)
}

/// A filter's date (`YYYY-MM-DD`, a day in the viewer's zone): its first instant, or with
/// `next_day` the next day's (an inclusive end).
pub(super) fn date(
    viewer: &Viewer,
    name: &str,
    value: &str,
    next_day: bool,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    if value.is_empty() {
        return Ok(None);
    }
    let day = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
        bad(format!(
            "{name}: {value:?} is not a date such as 2026-11-21"
        ))
    })?;
    let day = if next_day {
        day.succ_opt().unwrap_or(day)
    } else {
        day
    };
    Ok(Some(viewer.midnight(day)))
}

pub(super) async fn view(
    state: &AppState,
    caller: &Caller,
    viewer: &Viewer,
    mut filters: Filters,
) -> Result<View, ApiError> {
    // An operator key lists none: lines are a supervisor's to see.
    let lines = viewer.lines(|id| caller.line(id).is_ok());
    let mut filter = ReportFilter {
        line: (!filters.line.is_empty()).then(|| filters.line.clone()),
        operator: (!filters.operator.is_empty()).then(|| filters.operator.clone()),
        channel: if filters.channel.is_empty() {
            None
        } else {
            Some(
                filters
                    .channel
                    .parse::<Channel>()
                    .map_err(|e| bad(format!("channel: {e}")))?,
            )
        },
        from: date(viewer, "from", &filters.from, false)?,
        to: date(viewer, "to", &filters.to, true)?,
        reason: None,
        // The charts' days and weeks are the viewer's.
        zone: Some(viewer.zone),
    };
    // Scope as `GET /v1/stats`: an operator sees their own numbers; a supervisor of some
    // lines one of them (the first, until another is chosen).
    let operator_only = if let Some(me) = caller.own_operator(filter.operator.as_deref())? {
        filter.operator = Some(me.clone());
        filters.operator = me;
        true
    } else {
        match &filter.line {
            Some(line) => caller.line(line)?,
            None if caller.all_lines() => {}
            None => {
                let first = lines.first().map(|(id, _)| id.clone()).ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::Forbidden,
                        "no line that exists is yours to see yet: an admin adds lines to you on \
                         your page under People, or makes a key covering some",
                    )
                })?;
                filters.line = first.clone();
                filter.line = Some(first);
            }
        }
        false
    };
    let period = match filters.period.as_str() {
        "" | "day" => Grouping::Day,
        "week" => Grouping::Week,
        other => return Err(bad(format!("period: {other:?} is not day or week"))),
    };
    if !matches!(filters.sort.as_str(), "" | "csat" | "volume" | "low") {
        return Err(bad(format!(
            "sort: {:?} is not csat, volume or low",
            filters.sort
        )));
    }
    let engine = &state.engine;
    // An operator kept from single ratings reads whole days that have ended (as the API).
    let asked = (filter.from, filter.to);
    let filter = engine.report_window(caller, filter).await?;
    let whole_days = asked != (filter.from, filter.to);
    let total = engine
        .report(&filter, Grouping::All)
        .await?
        .into_iter()
        .next();
    let periods = engine.report(&filter, period).await?;
    let operators = engine.report(&filter, Grouping::Operator).await?;
    let hand_overs = match filter.channel {
        None | Some(rateline_domain::Channel::RocketChat) => engine.hand_overs(&filter).await?,
        Some(_) => Vec::new(),
    };
    let Breakdown {
        funnel,
        distribution,
    } = engine.breakdown(&filter).await?;
    let why_low = why_low(state, &filter).await?;
    let previous = previous(state, caller, viewer, &filters, &filter, total.as_ref()).await?;
    Ok(View {
        filters,
        lines,
        total,
        periods,
        operators,
        hand_overs,
        funnel,
        distribution,
        why_low,
        operator_only,
        whole_days,
        previous,
    })
}

/// The period before the one `filters` name (both ends given), as long, counted alike.
async fn previous(
    state: &AppState,
    caller: &Caller,
    viewer: &Viewer,
    filters: &Filters,
    filter: &ReportFilter,
    now: Option<&ReportGroup>,
) -> Result<Option<Previous>, ApiError> {
    let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    let (Some(first), Some(last)) = (day(&filters.from), day(&filters.to)) else {
        return Ok(None);
    };
    if last < first {
        return Ok(None);
    }
    let days = last.signed_duration_since(first).num_days() + 1;
    let from = first - chrono::Duration::days(days);
    let to = first - chrono::Duration::days(1);
    let before = ReportFilter {
        from: Some(viewer.midnight(from)),
        to: Some(viewer.midnight(first)),
        ..filter.clone()
    };
    let total = state.engine.report_total(caller, before).await?;
    let trend = crate::report::Trend::of(now.cloned(), total);
    Ok(Some(Previous { from, to, trend }))
}

/// The report by reason for `filter`, each reason by its text: the filtered line's, or
/// the first line's that lists it (a reason no line lists any more shows its id).
async fn why_low(
    state: &AppState,
    filter: &ReportFilter,
) -> Result<Vec<(String, i64, Option<f64>)>, ApiError> {
    let groups = state.engine.report(filter, Grouping::Reason).await?;
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let mut lines = state.engine.lines().await?;
    // The filtered line's own texts first.
    lines.sort_by_key(|l| filter.line.as_deref() != Some(l.id.as_str()));
    let text = |id: &str| {
        lines
            .iter()
            .flat_map(|l| &l.settings.rating.low_reasons)
            .find(|r| r.id == id)
            .map_or_else(|| id.to_owned(), |r| r.text.clone())
    };
    let mut rows: Vec<_> = groups
        .into_iter()
        .map(|g| (text(&g.key), g.low, g.share_of_low))
        .collect();
    rows.sort_by_key(|(_, low, _)| std::cmp::Reverse(*low));
    Ok(rows)
}

/// Query parameters of the current view, for links that change one of them.
pub fn query_with(f: &Filters, key: &str, value: &str) -> String {
    let mut pairs: HashMap<&str, &str> = HashMap::from([
        ("line", f.line.as_str()),
        ("operator", f.operator.as_str()),
        ("channel", f.channel.as_str()),
        ("from", f.from.as_str()),
        ("to", f.to.as_str()),
        ("period", f.period.as_str()),
        ("sort", f.sort.as_str()),
    ]);
    pairs.insert(key, value);
    let mut keys: Vec<_> = pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    keys.sort();
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(keys)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(key: &str, positive: i64, answered: i64, low: i64) -> ReportGroup {
        ReportGroup {
            key: key.into(),
            sent: answered,
            answered,
            response_rate: Some(1.0),
            average: None,
            csat: Some(positive as f64 / answered as f64),
            low,
            evaluated: 0,
            evaluation_average: None,
            share_of_low: None,
        }
    }

    #[test]
    fn csat_ranks_by_the_intervals_lower_bound_not_the_plain_share() {
        let rows = vec![
            group("lucky", 5, 5, 0),
            group("steady", 450, 500, 50),
            group("new", 1, 1, 0),
        ];
        // Plain CSAT would put lucky and new (100%) above steady (90%).
        let keys = |rows: Vec<ReportGroup>| rows.into_iter().map(|g| g.key).collect::<Vec<_>>();
        assert_eq!(
            keys(sorted(rows.clone(), "csat")),
            ["steady", "lucky", "new"]
        );
        assert_eq!(
            keys(sorted(rows.clone(), "volume")),
            ["steady", "lucky", "new"]
        );
        assert_eq!(keys(sorted(rows, "low"))[0], "steady");
    }
}
