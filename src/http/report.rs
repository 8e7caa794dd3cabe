//! `GET /v1/stats` and `GET /v1/operators/{id}/summary`.

use rateline_domain::ErrorCode;
use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiPath, ApiQuery};
use super::openapi::TimeParam;
use super::state::AppState;
use crate::policy::Caller;
use crate::report::Columns;
use crate::store::{Grouping, ReportFilter, ReportGroup};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(stats))
        .routes(routes!(trend))
        .routes(routes!(hand_overs))
        .routes(routes!(operator_summary))
}

/// The report: one row per group.
#[derive(Serialize, ToSchema)]
struct Report {
    groups: Vec<ReportGroup>,
}

/// An operator's numbers over a period.
#[derive(Serialize, ToSchema)]
struct OperatorSummary {
    operator_id: String,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    sent: i64,
    answered: i64,
    response_rate: Option<f64>,
    average: Option<f64>,
    csat: Option<f64>,
    low: i64,
}

const STATS_PARAMS: &str = "line, operator, channel, from, to, reason, by, time_zone, format";

/// The report: sent, answered, response rate, average, CSAT and low ratings, grouped, as
/// JSON or CSV (`format=csv` or `Accept: text/csv`). By reason, or for one reason, it
/// counts low ratings alone: `low` and `share_of_low` per group.
#[utoipa::path(
    get, path = "/v1/stats", tag = "reports", operation_id = "stats",
    params(
        ("line" = Option<rateline_domain::Id>, Query, description = "Only this line."),
        ("operator" = Option<rateline_domain::Id>, Query, description = "Only this operator."),
        ("channel" = Option<rateline_domain::Channel>, Query, description = "Only this channel."),
        ("from" = Option<TimeParam>, Query, description = "Closed at or after: RFC 3339 or a date (midnight UTC). An operator kept from single ratings reads from that day's midnight (UTC)."),
        ("to" = Option<TimeParam>, Query, description = "Closed before: RFC 3339 or a date (midnight UTC). An operator kept from single ratings reads to the next midnight (UTC), and never past the last one."),
        ("reason" = Option<String>, Query, description = "Only low ratings that give this reason \
            (an id of the lines' `rating.low_reasons`): each group then counts its low ratings \
            alone, with `share_of_low`."),
        ("by" = Option<Grouping>, Query, description = "Grouping; `all` when absent. `reason` \
            groups low ratings by the reasons they give, each counted once under every reason."),
        ("time_zone" = Option<String>, Query, description = "An IANA zone (`Europe/Berlin`) \
            whose days `by=day` and `by=week` count; UTC when absent. Days in another zone than \
            UTC are counted from the rows rather than the rollup, which is slower over a big \
            store."),
        ("format" = Option<String>, Query, description = "`csv` for CSV; JSON otherwise."),
    ),
    responses(
        (status = 200, description = "The report.", content(
            (Report = "application/json"),
            (String = "text/csv"),
        )),
    ),
)]
async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    query: ApiQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    query.only(STATS_PARAMS)?;
    let params = query.0;
    let filter = scoped_filter(&caller, &params)?;
    let by: Grouping = params
        .get("by")
        .map(|b| b.parse())
        .transpose()
        .map_err(|e: String| ApiError::new(ErrorCode::InvalidParameter, format!("by: {e}")))?
        .unwrap_or_default();
    let filter = state.engine.report_window(&caller, filter).await?;
    let groups = state.engine.report(&filter, by).await?;
    let wants_csv = params.get("format").is_some_and(|f| f == "csv")
        || headers
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("text/csv"));
    if wants_csv {
        let mut resp =
            crate::report::csv(&groups, Columns::of(by, filter.reason.as_deref())).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        return Ok(resp);
    }
    Ok(Json(Report { groups }).into_response())
}

/// The report's filter from the query, kept to what `caller` may see: an operator their own
/// numbers, a supervisor one of their lines at a time.
fn scoped_filter(caller: &Caller, params: &HashMap<String, String>) -> ApiResult<ReportFilter> {
    let mut filter = ReportFilter {
        line: id_param(params, "line")?,
        operator: id_param(params, "operator")?,
        channel: params
            .get("channel")
            .map(|c| c.parse())
            .transpose()
            .map_err(|e: rateline_domain::UnknownChannel| {
                ApiError::new(ErrorCode::InvalidParameter, format!("channel: {e}"))
            })?,
        from: time_param(params, "from")?,
        to: time_param(params, "to")?,
        reason: id_param(params, "reason")?,
        zone: params
            .get("time_zone")
            .map(|z| rateline_domain::time_zone("time_zone", z))
            .transpose()
            .map_err(|e| ApiError::new(ErrorCode::InvalidParameter, e.to_string()))?,
    };
    // An operator sees their own numbers; a supervisor one of their lines at a time.
    if let Some(me) = caller.own_operator(filter.operator.as_deref())? {
        filter.operator = Some(me);
    } else {
        match &filter.line {
            Some(line) => caller.line(line)?,
            None => caller.every_line("the report", "; name one of them with ?line=")?,
        }
    }
    Ok(filter)
}

const HAND_OVER_PARAMS: &str = "line, operator, from, to";

/// `GET /v1/stats/hand-overs`.
#[derive(Serialize, ToSchema)]
struct HandOverReport {
    /// Each operator with Rocket.Chat chats in the window, most closed without first.
    operators: Vec<crate::store::HandOvers>,
}

/// Per operator, the Rocket.Chat chats closed in the window (by the session's close) and
/// how many the agent closed without handing them to the Ratings user, where a website
/// widget's visitor cannot be asked (docs/channels/rocketchat.md). Scoped as `/v1/stats`.
#[utoipa::path(
    get, path = "/v1/stats/hand-overs", tag = "reports", operation_id = "stats_hand_overs",
    params(
        ("line" = Option<rateline_domain::Id>, Query, description = "Only this line."),
        ("operator" = Option<rateline_domain::Id>, Query, description = "Only this operator."),
        ("from" = Option<TimeParam>, Query, description = "Closed at or after: RFC 3339 or a date (midnight UTC)."),
        ("to" = Option<TimeParam>, Query, description = "Closed before: RFC 3339 or a date (midnight UTC)."),
    ),
    responses(
        (status = 200, description = "The chats per operator.", body = HandOverReport),
    ),
)]
async fn hand_overs(
    State(state): State<AppState>,
    caller: Caller,
    query: ApiQuery,
) -> ApiResult<Json<HandOverReport>> {
    query.only(HAND_OVER_PARAMS)?;
    let filter = scoped_filter(&caller, &query.0)?;
    let filter = state.engine.report_window(&caller, filter).await?;
    Ok(Json(HandOverReport {
        operators: state.engine.hand_overs(&filter).await?,
    }))
}

/// A period against the one as long just before it.
#[derive(Serialize, ToSchema)]
struct TrendReport {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    previous_from: DateTime<Utc>,
    previous_to: DateTime<Utc>,
    #[serde(flatten)]
    trend: crate::report::Trend,
}

const TREND_PARAMS: &str = "line, operator, channel, from, to";

/// A period (`from` and `to`, both needed) against the one as long just before it, as the
/// Quality page compares them: each period's numbers, and CSAT's and the low share's change
/// with its 95% interval (Newcombe's method from the two Wilson intervals), `beyond_noise`
/// when that interval leaves out zero.
#[utoipa::path(
    get, path = "/v1/stats/trend", tag = "reports", operation_id = "stats_trend",
    params(
        ("line" = Option<rateline_domain::Id>, Query, description = "Only this line."),
        ("operator" = Option<rateline_domain::Id>, Query, description = "Only this operator."),
        ("channel" = Option<rateline_domain::Channel>, Query, description = "Only this channel."),
        ("from" = TimeParam, Query, description = "The period's start, inclusive: RFC 3339 or a date (midnight UTC)."),
        ("to" = TimeParam, Query, description = "The period's end, exclusive: RFC 3339 or a date (midnight UTC). The period before ends at `from` and is as long."),
    ),
    responses(
        (status = 200, description = "The period against the one before.", body = TrendReport),
    ),
)]
async fn trend(
    State(state): State<AppState>,
    caller: Caller,
    query: ApiQuery,
) -> ApiResult<Json<TrendReport>> {
    query.only(TREND_PARAMS)?;
    let params = query.0;
    let filter = scoped_filter(&caller, &params)?;
    let (Some(from), Some(to)) = (filter.from, filter.to) else {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            "from and to: both are needed, to compare the period with the one as long before it",
        ));
    };
    if to <= from {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!("to: {to} is not after from ({from}); the period must have a length"),
        ));
    }
    let (previous_from, previous_to) = (from - (to - from), from);
    // Reports begin in 1970, and a time before year 0 has no RFC 3339 form to answer with.
    if previous_from < DateTime::UNIX_EPOCH {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!(
                "from: the period as long before it would start at {previous_from}, before \
                 1970-01-01, where reports begin; choose a later from or a shorter period"
            ),
        ));
    }
    let before = ReportFilter {
        from: Some(previous_from),
        to: Some(previous_to),
        ..filter.clone()
    };
    let now = state.engine.report_total(&caller, filter).await?;
    let was = state.engine.report_total(&caller, before).await?;
    Ok(Json(TrendReport {
        from,
        to,
        previous_from,
        previous_to,
        trend: crate::report::Trend::of(now, was),
    }))
}

/// An operator's average and CSAT over a period.
#[utoipa::path(
    get, path = "/v1/operators/{id}/summary", tag = "reports", operation_id = "operator_summary",
    params(
        ("id" = rateline_domain::Id, Path, description = "The operator."),
        ("from" = Option<TimeParam>, Query, description = "Closed at or after: RFC 3339 or a date."),
        ("to" = Option<TimeParam>, Query, description = "Closed before: RFC 3339 or a date."),
    ),
    responses((status = 200, description = "The operator's numbers.", body = OperatorSummary)),
)]
async fn operator_summary(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    query: ApiQuery,
) -> ApiResult<Json<OperatorSummary>> {
    query.only("from, to")?;
    caller.operator_numbers(&id, "an operator's summary")?;
    let params = query.0;
    rateline_domain::check_id("operator_id", &id)
        .map_err(|e| ApiError::new(ErrorCode::InvalidParameter, e.to_string()))?;
    let filter = ReportFilter {
        operator: Some(id.clone()),
        from: time_param(&params, "from")?,
        to: time_param(&params, "to")?,
        ..ReportFilter::default()
    };
    let filter = state.engine.report_window(&caller, filter).await?;
    let group = state
        .engine
        .report(&filter, Grouping::All)
        .await?
        .into_iter()
        .next();
    Ok(Json(OperatorSummary {
        operator_id: id,
        from: filter.from,
        to: filter.to,
        sent: group.as_ref().map_or(0, |g| g.sent),
        answered: group.as_ref().map_or(0, |g| g.answered),
        response_rate: group.as_ref().and_then(|g| g.response_rate),
        average: group.as_ref().and_then(|g| g.average),
        csat: group.as_ref().and_then(|g| g.csat),
        low: group.as_ref().map_or(0, |g| g.low),
    }))
}

/// `from`/`to`: an RFC 3339 time, or a date meaning its midnight UTC.
pub fn parse_time(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .ok()
                .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
        })
}

pub(super) fn id_param(params: &HashMap<String, String>, name: &str) -> ApiResult<Option<String>> {
    params
        .get(name)
        .map(|v| {
            let v = rateline_domain::normalize_id(v);
            rateline_domain::check_id(name, &v)
                .map(|()| v)
                .map_err(|e| ApiError::new(ErrorCode::InvalidParameter, e.to_string()))
        })
        .transpose()
}

/// One of `allowed` (its text, the value it stands for).
pub(super) fn choice<T: Copy>(
    params: &std::collections::HashMap<String, String>,
    name: &str,
    allowed: &[(&str, T)],
) -> ApiResult<Option<T>> {
    let Some(v) = params.get(name) else {
        return Ok(None);
    };
    match allowed.iter().find(|(text, _)| text == v) {
        Some((_, value)) => Ok(Some(*value)),
        None => Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!(
                "{name}: '{v}' is not one of {}",
                allowed
                    .iter()
                    .map(|(t, _)| *t)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// A whole-number parameter within `range`, `default` when absent; `unit` names what it
/// counts in the refusal ("a number", "a whole number of hours").
pub(super) fn count_param(
    params: &HashMap<String, String>,
    name: &str,
    range: std::ops::RangeInclusive<i64>,
    default: i64,
    unit: &str,
) -> ApiResult<i64> {
    match params.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidParameter,
                    format!(
                        "{name}: '{v}' is not {unit} from {} to {}",
                        range.start(),
                        range.end()
                    ),
                )
            }),
    }
}

pub(super) fn time_param(
    params: &HashMap<String, String>,
    name: &str,
) -> ApiResult<Option<DateTime<Utc>>> {
    params
        .get(name)
        .map(|v| {
            parse_time(v).ok_or_else(|| {
                ApiError::new(ErrorCode::InvalidParameter,
                    format!("{name}: {v:?} is not a time; use RFC 3339 (2026-11-21T09:00:00Z) or a date (2026-11-21)"),
                )
            })
        })
        .transpose()
}
