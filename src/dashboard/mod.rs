//! The dashboard (`/dashboard`): the supervisors' workbench, the quality report, the
//! admins' settings pages, and the public badge (`/public/lines/{id}/badge.svg`). This file
//! is the router and the handlers of the report's pages; each other page has its module.
//!
//! Server-rendered HTML (maud) with SVG charts (plotters): no front-end build, no script.
//! Filters are a plain GET form, so every view has a URL to share and the browser's back
//! button works; sorting the operator table is a link. The numbers are the report's
//! (`GET /v1/stats`), with the 95% Wilson interval beside each CSAT.
//!
//! Who sees what follows the caller's role: once keys exist, the dashboard asks for a
//! person's id and password (or a key) at `/dashboard/login` and keeps a server-side
//! sign-in ([`sign_in`]); a supervisor sees their lines, an operator their own numbers,
//! admins everything and the settings. Every form posted to the dashboard must
//! come from Rateline's own pages (tower-http's cross-origin check: `Sec-Fetch-Site`, else
//! `Origin` against `Host` or `server.public_url`), and every page and the badge carry
//! security headers (a Content-Security-Policy that allows no script and no framing).

mod actions;
mod charts;
mod form;
mod layout;
mod pages;
mod quality;
pub mod sign_in;
mod viewer;
mod visit;
mod words;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rateline_domain::ErrorCode;

use quality::{Filters, bad, date, sorted, view};
use visit::{Visit, abilities, take_flash, viewer};

use crate::engine::EngineError;
use crate::http::{ApiError, AppState};
use crate::store::{Grouping, ReportFilter};
use pages::operator;
use pages::report;
use pages::session;
use pages::{
    account, appeals, audit, groups, helpdesks, inbox, keys, lines, people, subscriptions,
};

/// The dashboard's routes, with their sign-in sessions, the cross-origin check on forms and
/// the security headers.
///
/// One piece: the list of the dashboard's routes, one line a route, read as a table.
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
            "/dashboard/account/alert-pace",
            post(account::set_alert_pace),
        )
        .route(
            "/dashboard/account/password",
            post(account::change_password),
        )
        .route(
            "/dashboard/invitation",
            get(account::invitation_form).post(account::accept_invitation),
        )
        .route("/dashboard/style.css", get(style))
        .route("/dashboard/export.csv", get(export))
        .route("/dashboard/inbox", get(inbox::inbox_page))
        .route("/dashboard/inbox/actions", post(inbox::act))
        .route("/dashboard/inbox/export", get(inbox::export))
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
        .route(
            "/dashboard/subscriptions",
            get(subscriptions::list).post(subscriptions::create),
        )
        .route(
            "/dashboard/connectors",
            get(helpdesks::list).post(helpdesks::create),
        )
        .route(
            "/dashboard/connectors/{helpdesk}/{id}",
            get(helpdesks::show).post(helpdesks::save),
        )
        .route(
            "/dashboard/connectors/{helpdesk}/{id}/delete",
            post(helpdesks::delete),
        )
        .route(
            "/dashboard/connectors/{helpdesk}/{id}/setup",
            get(helpdesks::check_setup).post(helpdesks::set_up),
        )
        .route(
            "/dashboard/subscriptions/{id}/on",
            post(subscriptions::switch_on),
        )
        .route(
            "/dashboard/subscriptions/{id}/delete",
            post(subscriptions::delete),
        )
        .route("/dashboard/people/{id}/invitation", post(people::invite))
        // The check's bare 403 is explained by the layer around it.
        .layer(middleware::from_fn(visit::keep_form))
        .layer(csrf)
        .layer(axum::Extension(people::Invitations::default()))
        .layer(middleware::from_fn_with_state(state.clone(), explain))
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
/// exist, a filter that is not a date, a page that is not the visitor's) is shown in the
/// pages' words ([`words`]), under the visitor's own header, with its status and
/// `Retry-After` kept.
async fn explain(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let seen = visit::Seen::default();
    request.extensions_mut().insert(seen.clone());
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
            layout::problem(
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
        _ if let Some(layout::Titled(title)) = response.extensions().get() => title,
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not yours to see",
        StatusCode::TOO_MANY_REQUESTS => "Too many tries",
        s if s.is_server_error() => "Something went wrong",
        _ => "Check what was asked",
    };
    let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
    let viewer = match seen.caller() {
        Some(caller) => viewer(&state, caller).await,
        None => Default::default(),
    };
    let message = words::for_people(explained.code, &explained.message, &viewer);
    let mut page = (status, layout::problem_page(title, &message, &viewer)).into_response();
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
        layout::STYLE,
    )
        .into_response()
}

async fn dashboard(
    State(state): State<AppState>,
    Visit { caller, .. }: Visit,
    Query(filters): Query<Filters>,
) -> Response {
    let viewer = viewer(&state, &caller).await;
    match view(&state, &caller, &viewer, filters).await {
        Ok(v) => report::dashboard(&v, &viewer).into_response(),
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
    if !matches!(table.as_str(), "" | "operators" | "periods") {
        let e = ApiError::new(
            ErrorCode::InvalidParameter,
            format!(
                "There is no table “{table}” to export: the Quality page exports “operators” or \
                 “periods”. Use the CSV link under the table you want."
            ),
        );
        return layout::refused("Export", e);
    }
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
        crate::report::csv(&rows, crate::report::Columns::All),
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
    let view = match crate::engine::known_session(&id) {
        Ok(session) => state.engine.session_view_for(&caller, &session).await,
        Err(e) => Err(e),
    };
    let (view, hidden) = match view {
        Ok(v) => v,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let s = &view.session;
    // A session the caller may not see is answered as one that does not exist.
    if !caller.sees_session(&s.line_id, s.operator_id.as_deref()) {
        return ApiError::from(crate::engine::session_not_found(&id)).into_response();
    }
    let flash = take_flash(&session).await;
    let can = session::Abilities {
        ratings_hidden: hidden,
        ..abilities(&state, &caller, &view).await
    };
    session::session(
        &view,
        &visit::line_rating(&state, &view.session.line_id).await,
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
        rateline_domain::check_id("operator", &id).map_err(|e| bad(e.to_string()))?;
        let filter = ReportFilter {
            operator: Some(id.clone()),
            from: date(&viewer, "from", &filters.from, false)?,
            to: date(&viewer, "to", &filters.to, true)?,
            ..ReportFilter::default()
        };
        // A supervisor of some lines sees the operator's numbers on each of them, and the
        // low ratings there; the operator themselves and those covering every line, the
        // whole.
        if caller
            .operator_numbers(&id, "an operator's profile")
            .is_err()
            && let Some(lines) = caller.supervisor_lines()
        {
            let mut per_line = Vec::new();
            let mut low = Vec::new();
            for line in lines {
                let on_line = ReportFilter {
                    line: Some(line.clone()),
                    ..filter.clone()
                };
                let report = state.engine.report(&on_line, Grouping::All).await?;
                if let Some(g) = report
                    .into_iter()
                    .next()
                    .filter(|g| g.sent + g.answered > 0)
                {
                    per_line.push((line.clone(), g));
                }
                low.extend(state.engine.low_ratings(&caller, &on_line, 20).await?);
            }
            low.sort_by_key(|r| std::cmp::Reverse(r.rated_at));
            low.truncate(20);
            let seen = operator::Profile::OnLines(&per_line);
            return Ok::<_, ApiError>(operator::operator(&id, &filters, seen, &low, &viewer));
        }
        caller.operator_numbers(&id, "an operator's profile")?;
        // The numbers as the operator may read them; the low ratings listed are of lines
        // that show them one by one anyway.
        let window = state.engine.report_window(&caller, filter.clone()).await?;
        let total = state
            .engine
            .report(&window, Grouping::All)
            .await?
            .into_iter()
            .next();
        let low = state.engine.low_ratings(&caller, &filter, 20).await?;
        let seen = operator::Profile::Whole(total.as_ref());
        Ok::<_, ApiError>(operator::operator(&id, &filters, seen, &low, &viewer))
    };
    match result.await {
        Ok(markup) => markup.into_response(),
        Err(e) => e.into_response(),
    }
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
    let line = match crate::engine::known_line(&id) {
        Ok(id) => state.engine.line(&id).await,
        Err(e) => Err(e),
    };
    let line = match line {
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
    let svg = report::badge(line.settings.rating.scale, total.as_ref());
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        svg,
    )
        .into_response()
}
