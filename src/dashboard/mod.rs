//! The supervisors' dashboard (`/dashboard`) and the public badge
//! (`/public/lines/{id}/badge.svg`).
//!
//! Server-rendered HTML (maud) with SVG charts (plotters): no front-end build, no script.
//! Filters are a plain GET form, so every view has a URL to share and the browser's back
//! button works; sorting the operator table is a link. The numbers are the report's
//! (`GET /v1/stats`), with the 95% Wilson interval beside each CSAT.
//!
//! Who sees what follows the API keys: with keys, the dashboard asks for one at
//! `/dashboard/login` and keeps a server-side sign-in ([`sign_in`]); a supervisor sees
//! their lines, an operator their own numbers. Every form posted to the dashboard must
//! come from Rateline's own pages (tower-http's cross-origin check: `Sec-Fetch-Site`, else
//! `Origin` against `Host` or `server.public_url`), and every page and the badge carry
//! security headers (a Content-Security-Policy that allows no script and no framing).

mod account;
mod actions;
mod appeals;
mod audit;
mod charts;
mod form;
mod groups;
mod inbox;
mod keys;
mod lines;
mod page;
mod people;
pub mod sign_in;

use rateline_domain::ErrorCode;
use std::collections::HashMap;

use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use rateline_domain::{Channel, Scale};
use tower_sessions::Session;

use crate::engine::EngineError;
use crate::http::{ApiError, AppState, ClientIp};
use crate::policy::Caller;
use crate::store::{Breakdown, Grouping, ReportFilter, ReportGroup};

/// The dashboard's routes, with their sign-in sessions, the cross-origin check on forms and
/// the security headers.
pub fn router(state: &AppState) -> Router<AppState> {
    let public_url = state.webchat.public_url();
    let mut csrf = tower_http::csrf::CsrfLayer::new();
    // Behind a proxy that rewrites Host, the browser's Origin is the public URL's.
    if let Ok(origin) = reqwest::Url::parse(public_url).map(|u| u.origin().ascii_serialization())
        && let Ok(with) = csrf.clone().add_trusted_origin(&origin)
    {
        csrf = with;
    }
    let pages = Router::new()
        .route("/dashboard", get(dashboard))
        .route(
            "/dashboard/login",
            get(account::login_form).post(account::login),
        )
        .route("/dashboard/home", get(account::home))
        .route("/dashboard/logout", post(account::logout))
        .route("/dashboard/account", get(account::account))
        .route("/dashboard/account/time-zone", post(account::set_time_zone))
        .route(
            "/dashboard/invitation",
            get(account::invitation_form).post(account::accept_invitation),
        )
        .route("/dashboard/style.css", get(style))
        .route("/dashboard/export.csv", get(export))
        .route("/dashboard/inbox", get(inbox::inbox_page))
        .route("/dashboard/sessions/{id}", get(session_page))
        .route("/dashboard/sessions/{id}/response", post(actions::respond))
        .route("/dashboard/sessions/{id}/flag", post(actions::flag))
        .route("/dashboard/sessions/{id}/appeal", post(actions::appeal))
        .route(
            "/dashboard/sessions/{id}/evaluation",
            post(actions::evaluate),
        )
        .route("/dashboard/appeals", get(appeals::queue))
        .route("/dashboard/appeals/{id}/decision", post(actions::decide))
        .route("/dashboard/operators/{id}", get(operator_page))
        .route("/dashboard/people", get(people::list).post(people::create))
        .route(
            "/dashboard/people/{id}",
            get(people::show).post(people::save),
        )
        .route("/dashboard/people/{id}/active", post(people::set_active))
        .route(
            "/dashboard/people/{id}/test-alert",
            post(people::test_alert),
        )
        .route("/dashboard/lines", get(lines::list).post(lines::create))
        .route("/dashboard/lines/{id}", get(lines::show).post(lines::save))
        .route(
            "/dashboard/lines/{id}/test-request",
            post(lines::test_request),
        )
        .route("/dashboard/groups", get(groups::list).post(groups::create))
        .route(
            "/dashboard/groups/{id}",
            get(groups::show).post(groups::save),
        )
        .route("/dashboard/keys", get(keys::list).post(keys::create))
        .route("/dashboard/keys/{id}/revoke", post(keys::revoke))
        .route("/dashboard/audit", get(audit::audit_page))
        .route("/dashboard/people/{id}/invitation", post(people::invite))
        // The check's bare 403 is explained by the layer around it.
        .layer(csrf)
        .layer(middleware::from_fn(explain))
        .layer(sign_in::layer(
            state.engine.sign_ins(),
            public_url.starts_with("https://"),
            state.sign_in_idle_minutes,
        ));
    Router::new()
        .merge(pages)
        .route("/public/lines/{id}/badge.svg", get(badge))
        .layer(middleware::from_fn(security_headers))
}

/// The headers every page and the badge carry: nothing runs, nothing frames them, nothing
/// is sniffed, and links out do not carry the page's address. A page that says no cache of
/// its own is kept by none (`no-store`): pages show what only the signed-in person may see,
/// and some (an invitation link, a new key) show a secret once.
async fn security_headers(request: Request, next: Next) -> Response {
    let badge = request.uri().path().starts_with("/public/");
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let csp = if badge {
        "default-src 'none'; frame-ancestors 'none'"
    } else {
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    };
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            // The badge is embedded in other sites' pages on purpose.
            if badge { "cross-origin" } else { "same-origin" },
        ),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Refusals and errors as pages people read, not JSON: the cross-origin check's bare 403
/// says why in the page's words, and an error any handler answered (a session that does not
/// exist, a filter that is not a date, a page that is not the visitor's) is shown with its
/// message, status and `Retry-After` kept.
async fn explain(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if status == StatusCode::FORBIDDEN
        && response
            .extensions()
            .get::<tower_http::csrf::ProtectionError>()
            .is_some()
    {
        return (
            StatusCode::FORBIDDEN,
            page::problem(
                "Refused",
                "This form was sent from another site, so it was refused and nothing changed. \
                 Open Rateline's own page and send it from there.",
            ),
        )
            .into_response();
    }
    let Some(explained) = response
        .extensions()
        .get::<crate::http::Explained>()
        .cloned()
    else {
        return response;
    };
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not yours to see",
        StatusCode::TOO_MANY_REQUESTS => "Too many tries",
        s if s.is_server_error() => "Something went wrong",
        _ => "Check what was asked",
    };
    let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
    let mut page = (status, page::problem(title, &explained.message)).into_response();
    if let Some(value) = retry_after {
        page.headers_mut().insert(header::RETRY_AFTER, value);
    }
    page
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        page::STYLE,
    )
        .into_response()
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
    pub total: Option<ReportGroup>,
    pub periods: Vec<ReportGroup>,
    pub operators: Vec<ReportGroup>,
    pub funnel: crate::store::Funnel,
    pub distribution: std::collections::BTreeMap<(Scale, i64), i64>,
    /// An operator key sees only its own numbers.
    pub operator_only: bool,
}

/// A dashboard request from someone signed in (in the open mode, from anyone): who asks,
/// and their sign-in session (which carries the message a page shows once). Where no one
/// is signed in, the request is answered with the sign-in page, which comes back to the
/// page asked for.
pub(super) struct Visit {
    pub caller: Caller,
    pub session: Session,
}

impl FromRequestParts<AppState> for Visit {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Ok(ClientIp(ip)) = ClientIp::from_request_parts(parts, state).await;
        match sign_in::caller(state, &session, &parts.headers, ip).await {
            Ok(caller) => Ok(Visit { caller, session }),
            Err(e) => Err(account::sign_in_page(
                e,
                page::Tried::Nothing,
                &come_back_to(&parts.method, &parts.uri),
            )),
        }
    }
}

/// The page to come back to after signing in: the page asked for, or for a form, the page
/// it is on (the session's page, or the list it belongs to).
fn come_back_to(method: &Method, uri: &Uri) -> String {
    if method == Method::GET {
        return uri
            .path_and_query()
            .map_or_else(|| "/dashboard".to_owned(), |p| p.as_str().to_owned());
    }
    let segments: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    let keep = if segments.get(1) == Some(&"sessions") {
        3
    } else {
        2
    };
    format!("/{}", segments[..keep.min(segments.len())].join("/"))
}

/// How `caller` sees the pages: the header's unanswered count (a page still shows when it
/// cannot be counted), their zone (their own, else `server.time_zone`), and the names.
async fn viewer(state: &AppState, caller: &Caller) -> page::Viewer {
    let (unanswered, directory) = tokio::join!(
        state.engine.unanswered_count(caller),
        state.engine.directory()
    );
    let unanswered = unanswered
        .inspect_err(
            |e| tracing::warn!(error = %e, "the unanswered low ratings could not be counted"),
        )
        .ok();
    let directory = directory
        .inspect_err(
            |e| tracing::warn!(error = %e, "the names of people and lines could not be read"),
        )
        .unwrap_or_default();
    let zone = caller
        .person_id()
        .and_then(|id| directory.people.get(id))
        .and_then(|(_, zone)| zone.as_deref()?.parse().ok())
        .unwrap_or(state.time_zone);
    page::Viewer {
        who: caller.display_name(),
        links: true,
        unanswered,
        me: caller.person_id().map(str::to_owned),
        operator: caller.operator().map(str::to_owned),
        admin: caller
            .role()
            .is_none_or(|r| r == rateline_domain::Role::Admin),
        zone,
        directory: std::sync::Arc::new(directory),
    }
}

/// Which of a session page's forms `caller` may use.
fn abilities(caller: &Caller) -> page::Abilities {
    let role = caller.role();
    page::Abilities {
        supervise: role != Some(rateline_domain::Role::Operator),
        decide: role.is_none_or(|r| r == rateline_domain::Role::Admin),
        ratings_hidden: false,
    }
}

async fn dashboard(
    State(state): State<AppState>,
    Visit { caller, .. }: Visit,
    Query(filters): Query<Filters>,
) -> Response {
    let viewer = viewer(&state, &caller).await;
    match view(&state, &caller, &viewer, filters).await {
        Ok(v) => page::dashboard(&v, &viewer).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /dashboard/export.csv?…&table=operators|periods`: the table shown, as CSV.
async fn export(
    State(state): State<AppState>,
    Visit { caller, .. }: Visit,
    Query(filters): Query<Filters>,
) -> Response {
    let table = filters.table.clone();
    let viewer = viewer(&state, &caller).await;
    let v = match view(&state, &caller, &viewer, filters).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
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
    Visit { caller, session }: Visit,
    Path(id): Path<String>,
) -> Response {
    let id = rateline_domain::normalize_id(&id);
    let (view, hidden) = match state.engine.session_view_for(&caller, &id).await {
        Ok(v) => v,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let s = &view.session;
    // A session the caller may not see is answered as one that does not exist.
    if !caller.sees_session(&s.line_id, s.operator_id.as_deref()) {
        return ApiError::from(crate::engine::session_not_found(&id)).into_response();
    }
    let flash = actions::take_flash(&session).await;
    let can = page::Abilities {
        ratings_hidden: hidden,
        ..abilities(&caller)
    };
    page::session(
        &view,
        &viewer(&state, &caller).await,
        &can,
        flash.as_deref(),
        None,
        state.engine.now(),
    )
    .into_response()
}

/// `GET /dashboard/operators/{id}?from=&to=`: an operator's average and CSAT for the period,
/// and their recent low ratings with comments and responses. Scope as
/// `GET /v1/operators/{id}/summary`: the operator themselves, or a key over every line.
async fn operator_page(
    State(state): State<AppState>,
    Visit { caller, .. }: Visit,
    Path(id): Path<String>,
    Query(filters): Query<Filters>,
) -> Response {
    let id = rateline_domain::normalize_id(&id);
    let viewer = viewer(&state, &caller).await;
    let result = async {
        caller.operator_numbers(&id, "an operator's profile")?;
        rateline_domain::check_id("operator", &id).map_err(|e| bad(e.to_string()))?;
        let filter = ReportFilter {
            operator: Some(id.clone()),
            from: date(&viewer, "from", &filters.from, false)?,
            to: date(&viewer, "to", &filters.to, true)?,
            ..ReportFilter::default()
        };
        let total = state
            .engine
            .report(&filter, Grouping::All)
            .await?
            .into_iter()
            .next();
        let low = state.engine.low_ratings(&caller, &filter, 20).await?;
        Ok::<_, ApiError>(page::operator(&id, &filters, total.as_ref(), &low, &viewer))
    };
    match result.await {
        Ok(markup) => markup.into_response(),
        Err(e) => e.into_response(),
    }
}

/// The operator table in the order asked for. `csat` (the default) ranks by the lower
/// bound of the 95% interval, so five lucky ratings do not outrank five hundred.
pub fn sorted(mut rows: Vec<ReportGroup>, by: &str) -> Vec<ReportGroup> {
    let lower = |g: &ReportGroup| page::interval(g).map_or(-1.0, |(lo, _)| lo);
    match by {
        "volume" => rows.sort_by_key(|g| std::cmp::Reverse(g.answered)),
        "low" => rows.sort_by_key(|g| std::cmp::Reverse(g.low)),
        _ => rows.sort_by(|a, b| lower(b).total_cmp(&lower(a))),
    }
    rows
}

fn bad(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameter, message)
}

/// A filter's date (`YYYY-MM-DD`, a day in the viewer's zone): its first instant, or with
/// `next_day` the next day's (an inclusive end).
fn date(
    viewer: &page::Viewer,
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

async fn view(
    state: &AppState,
    caller: &Caller,
    viewer: &page::Viewer,
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
                        "no line that exists is yours to see yet: an admin adds lines to your \
                         person (PUT /v1/people/{id}, \"lines\") or makes a key covering some",
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
    let total = engine
        .report(&filter, Grouping::All)
        .await?
        .into_iter()
        .next();
    let periods = engine.report(&filter, period).await?;
    let operators = engine.report(&filter, Grouping::Operator).await?;
    let Breakdown {
        funnel,
        distribution,
    } = engine.breakdown(&filter).await?;
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
        ApiError::new(ErrorCode::BadgeNotFound,
            format!("line '{id}' has no public badge (its public_badge setting is off, or it does not exist)"),
        )
        .into_response()
    };
    let line = match state.engine.line(&id).await {
        Ok(l) if l.settings.public_badge => l,
        Ok(_) | Err(EngineError::NotFound { .. }) => return not_found(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let filter = ReportFilter {
        line: Some(id.clone()),
        ..ReportFilter::default()
    };
    let total = match state.engine.report(&filter, Grouping::All).await {
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
