//! The supervisors' dashboard (`/dashboard`) and the public badge
//! (`/public/lines/{id}/badge.svg`).
//!
//! Server-rendered HTML (maud) with SVG charts (plotters): no front-end build, no script.
//! Filters are a plain GET form, so every view has a URL to share and the browser's back
//! button works; sorting the operator table is a link. The numbers are the report's
//! (`GET /v1/stats`), with the 95% Wilson interval beside each CSAT.
//!
//! Who sees what follows the API keys: with keys, the dashboard asks for one once and
//! keeps it in an HttpOnly, SameSite=Strict cookie; a supervisor sees their lines, an
//! operator their own numbers.

mod charts;
mod page;

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};

use crate::auth::Caller;
use crate::domain::{Channel, Scale};
use crate::http::{ApiError, AppState};
use crate::store::{Breakdown, StatsFilter, StatsGroup, StatsGrouping};

const COOKIE: &str = "rateline_key";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(dashboard))
        .route("/dashboard/login", axum::routing::post(login))
        .route("/dashboard/export.csv", get(export))
        .route("/dashboard/sessions/{id}", get(session_page))
        .route("/dashboard/operators/{id}", get(operator_page))
        .route("/public/lines/{id}/badge.svg", get(badge))
}

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
    pub total: Option<StatsGroup>,
    pub periods: Vec<StatsGroup>,
    pub operators: Vec<StatsGroup>,
    pub funnel: crate::store::Funnel,
    pub distribution: std::collections::BTreeMap<(Scale, i64), i64>,
    /// An operator key sees only its own numbers.
    pub operator_only: bool,
}

/// The caller of a dashboard request: its cookie (or Authorization header) checked like an
/// API key. `Err` is the login page, saying why.
async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, Response> {
    let from_cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            c.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_owned)
        })
        .and_then(|k| HeaderValue::from_str(&format!("Bearer {k}")).ok());
    let authorization = from_cookie.or_else(|| headers.get(header::AUTHORIZATION).cloned());
    let had_key = authorization.is_some();
    crate::auth::caller(state, authorization)
        .await
        .map_err(|e| login_page(e, had_key))
}

fn login_page(e: ApiError, had_key: bool) -> Response {
    if e.status != StatusCode::UNAUTHORIZED {
        return e.into_response();
    }
    let problem = had_key.then_some(e.message);
    (StatusCode::UNAUTHORIZED, page::login(problem.as_deref())).into_response()
}

#[derive(serde::Deserialize)]
struct LoginForm {
    key: String,
}

/// `POST /dashboard/login`: checks the key and keeps it in a cookie for the dashboard.
async fn login(State(state): State<AppState>, Form(form): Form<LoginForm>) -> Response {
    let key = form.key.trim().to_owned();
    let value = HeaderValue::from_str(&format!("Bearer {key}")).ok();
    if let Err(e) = crate::auth::caller(&state, value).await {
        return login_page(e, true);
    }
    // Only the dashboard's own paths carry it; scripts on the page cannot read it.
    let secure = if state.webchat.public_url().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("{COOKIE}={key}; Path=/dashboard; HttpOnly; SameSite=Strict{secure}");
    let mut resp = Redirect::to("/dashboard").into_response();
    match HeaderValue::from_str(&cookie) {
        Ok(v) => {
            resp.headers_mut().insert(header::SET_COOKIE, v);
            resp
        }
        Err(_) => login_page(
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_key",
                "that is not an API key",
            ),
            true,
        ),
    }
}

/// The view a dashboard request asks for, or what to answer instead (the sign-in page, or
/// the error that names a bad filter).
async fn requested_view(
    state: &AppState,
    headers: &HeaderMap,
    filters: Filters,
) -> Result<View, Response> {
    let caller = caller(state, headers).await?;
    view(state, &caller, filters)
        .await
        .map_err(IntoResponse::into_response)
}

async fn dashboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filters): Query<Filters>,
) -> Response {
    match requested_view(&state, &headers, filters).await {
        Ok(v) => page::dashboard(&v).into_response(),
        Err(answer) => answer,
    }
}

/// `GET /dashboard/export.csv?…&table=operators|periods`: the table shown, as CSV.
async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filters): Query<Filters>,
) -> Response {
    let table = filters.table.clone();
    let v = match requested_view(&state, &headers, filters).await {
        Ok(v) => v,
        Err(answer) => return answer,
    };
    let rows = match table.as_str() {
        "periods" => v.periods,
        _ => sorted(v.operators, &v.filters.sort),
    };
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"rateline.csv\"",
            ),
        ],
        crate::report::csv(&rows),
    )
        .into_response()
}

/// `GET /dashboard/sessions/{id}`: one conversation's rating at the end of its history, the
/// request's journey and the alerts, for whoever may see the session.
async fn session_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let caller = match caller(&state, &headers).await {
        Ok(c) => c,
        Err(login) => return login,
    };
    let view = match state.engine.session_view(&id).await {
        Ok(v) => v,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let s = &view.session;
    // A session the caller may not see is answered as one that does not exist.
    if !caller.sees_session(&s.line_id, s.operator_id.as_deref()) {
        return ApiError::from(crate::engine::session_not_found(&id)).into_response();
    }
    page::session(&view).into_response()
}

/// `GET /dashboard/operators/{id}?from=&to=`: an operator's average and CSAT for the period,
/// and their recent low ratings with comments and responses. Scope as
/// `GET /v1/operators/{id}/summary`: the operator themselves, or a key over every line.
async fn operator_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(filters): Query<Filters>,
) -> Response {
    let caller = match caller(&state, &headers).await {
        Ok(c) => c,
        Err(login) => return login,
    };
    let result = async {
        caller.operator_numbers(&id, "an operator's profile")?;
        crate::domain::check_id("operator", &id).map_err(|e| bad(e.to_string()))?;
        let filter = StatsFilter {
            operator: Some(id.clone()),
            from: date("from", &filters.from, false)?,
            to: date("to", &filters.to, true)?,
            ..StatsFilter::default()
        };
        let total = state
            .engine
            .stats(&filter, StatsGrouping::All)
            .await?
            .into_iter()
            .next();
        let low = state.engine.store().low_ratings(&filter, 20).await?;
        Ok::<_, ApiError>(page::operator(&id, &filters, total.as_ref(), &low))
    };
    match result.await {
        Ok(markup) => markup.into_response(),
        Err(e) => e.into_response(),
    }
}

/// The operator table in the order asked for. `csat` (the default) ranks by the lower
/// bound of the 95% interval, so five lucky ratings do not outrank five hundred.
pub fn sorted(mut rows: Vec<StatsGroup>, by: &str) -> Vec<StatsGroup> {
    let lower = |g: &StatsGroup| page::interval(g).map_or(-1.0, |(lo, _)| lo);
    match by {
        "volume" => rows.sort_by_key(|g| std::cmp::Reverse(g.answered)),
        "low" => rows.sort_by_key(|g| std::cmp::Reverse(g.low)),
        _ => rows.sort_by(|a, b| lower(b).total_cmp(&lower(a))),
    }
    rows
}

fn bad(message: String) -> ApiError {
    ApiError::bad_request("invalid_parameter", message)
}

fn date(name: &str, value: &str, next_day: bool) -> Result<Option<DateTime<Utc>>, ApiError> {
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
    Ok(Some(
        day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc(),
    ))
}

async fn view(state: &AppState, caller: &Caller, mut filters: Filters) -> Result<View, ApiError> {
    let store = state.engine.store();
    let lines: Vec<(String, String)> = store
        .list_lines()
        .await?
        .into_iter()
        // An operator key lists none: lines are a supervisor's to see.
        .filter(|l| caller.line(&l.id).is_ok())
        .map(|l| (l.id, l.settings.name))
        .collect();
    let mut filter = StatsFilter {
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
        from: date("from", &filters.from, false)?,
        to: date("to", &filters.to, true)?,
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
                        StatusCode::FORBIDDEN,
                        "forbidden",
                        "this key covers no line that exists yet",
                    )
                })?;
                filters.line = first.clone();
                filter.line = Some(first);
            }
        }
        false
    };
    let period = match filters.period.as_str() {
        "" | "day" => StatsGrouping::Day,
        "week" => StatsGrouping::Week,
        other => return Err(bad(format!("period: {other:?} is not day or week"))),
    };
    if !matches!(filters.sort.as_str(), "" | "csat" | "volume" | "low") {
        return Err(bad(format!(
            "sort: {:?} is not csat, volume or low",
            filters.sort
        )));
    }
    let engine = &state.engine;
    let total = engine
        .stats(&filter, StatsGrouping::All)
        .await?
        .into_iter()
        .next();
    let periods = engine.stats(&filter, period).await?;
    let operators = engine.stats(&filter, StatsGrouping::Operator).await?;
    let Breakdown {
        funnel,
        distribution,
    } = store.breakdown(&filter, engine.now()).await?;
    Ok(View {
        filters,
        lines,
        total,
        periods,
        operators,
        funnel,
        distribution,
        operator_only,
    })
}

/// `GET /public/lines/{id}/badge.svg`: "4.8 ★ · 1,234 ratings" for a line whose
/// `public_badge` is on; 404 otherwise, the same as for a line that does not exist.
async fn badge(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "badge_not_found",
            format!("line '{id}' has no public badge (its public_badge setting is off, or it does not exist)"),
        )
        .into_response()
    };
    let line = match state.engine.store().get_line(&id).await {
        Ok(Some(l)) if l.settings.public_badge => l,
        Ok(_) => return not_found(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let filter = StatsFilter {
        line: Some(id.clone()),
        ..StatsFilter::default()
    };
    let total = match state.engine.stats(&filter, StatsGrouping::All).await {
        Ok(groups) => groups.into_iter().next(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let svg = page::badge(line.settings.rating.scale, total.as_ref());
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        svg,
    )
        .into_response()
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

    fn group(key: &str, positive: i64, answered: i64, low: i64) -> StatsGroup {
        StatsGroup {
            key: key.into(),
            sent: answered,
            answered,
            response_rate: Some(1.0),
            average: None,
            csat: Some(positive as f64 / answered as f64),
            low,
            evaluated: 0,
            evaluation_average: None,
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
        let keys = |rows: Vec<StatsGroup>| rows.into_iter().map(|g| g.key).collect::<Vec<_>>();
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
