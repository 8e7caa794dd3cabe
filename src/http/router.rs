//! The whole application's routes: the API with its description, the platforms' webhooks,
//! the web chat widget, the dashboard's pages, and the middleware every request passes.

use rateline_domain::ErrorCode;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::openapi::{self, ApiDoc};
use super::state::AppState;
use super::{
    audit, auth, clients, followup, helpdesks, keys, limits, lines, ops, people, platforms,
    ratings, report, sessions, subscriptions, webchat,
};

/// The `/v1` routes and their OpenAPI description, built together so neither lacks a route.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (routes, mut description) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(lines::router())
        .merge(people::router())
        .merge(keys::router())
        .merge(audit::router())
        .merge(sessions::router())
        .merge(ratings::router())
        .merge(report::router())
        .merge(followup::router())
        .merge(clients::router())
        .merge(subscriptions::router())
        .merge(helpdesks::router())
        .routes(routes!(webchat::mint_token))
        .split_for_parts();
    utoipa::Modify::modify(&openapi::CommonErrors, &mut description);
    (routes, description)
}

/// The whole application: the API, its description, the platforms' webhooks and the web
/// chat widget's endpoints, with `pages` (the dashboard) merged in, under the middleware
/// every request passes: authentication, rate limits, the request timeout, metrics.
pub fn router(
    state: AppState,
    pages: Router<AppState>,
    body_limit: usize,
    request_timeout: std::time::Duration,
) -> Router {
    let (v1, description) = api();
    let description = axum::body::Bytes::from(
        description
            .to_pretty_json()
            .expect("the OpenAPI description serialises"),
    );
    let app = Router::new()
        .merge(ops::router())
        .merge(v1)
        .merge(pages)
        .route(
            "/openapi.json",
            get(move || async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    description,
                )
            }),
        )
        .route("/channels/telegram/webhook", post(platforms::telegram))
        .route(
            "/channels/meta/webhook",
            get(platforms::meta_verify).post(platforms::meta),
        )
        .route(
            "/connectors/chatwoot/{account}/webhook",
            post(platforms::chatwoot),
        )
        .route(
            "/connectors/zammad/{instance}/webhook",
            post(platforms::zammad),
        )
        .route(
            "/connectors/rocketchat/{server}/webhook",
            // Every event but a message carries the room's whole history: a long chat's
            // hand-over is far above `server.body_limit_bytes`, and a 413 is dropped. The
            // handler reads the body itself, bounded, once the token is checked.
            post(platforms::rocketchat).layer(DefaultBodyLimit::disable()),
        )
        .route("/widget.js", get(webchat::script))
        .route("/webchat/events", get(webchat::events))
        .route(
            "/webchat/ack",
            post(webchat::ack).options(webchat::preflight),
        )
        .route(
            "/webchat/answer",
            post(webchat::answer).options(webchat::preflight),
        );
    app.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limit_public,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_responses,
        ))
        .layer(middleware::from_fn_with_state(
            request_timeout,
            within_request_timeout,
        ))
        // Spans name the path only: a query may hold a web chat token.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            tracing::debug_span!("request", method = %req.method(), path = %loggable_path(req.uri().path()))
        }))
        .with_state(state)
}

/// A request's path as logs may show it: an erasure's names the client it forgets, so its
/// route stands in for it.
pub fn loggable_path(path: &str) -> &str {
    if path.starts_with("/v1/clients/") {
        "/v1/clients/{channel}/{id}"
    } else {
        path
    }
}

/// Middleware: a request's body and handling must reach the response's start within
/// `server.request_timeout_seconds` (a slow body, a stuck handler), or the client gets a
/// `408`. A streamed response (the widget's live connection) has started by then.
async fn within_request_timeout(
    State(limit): State<std::time::Duration>,
    req: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            ErrorCode::RequestTimeout,
            format!(
                "the request's body and its handling took longer than {} s \
                 (server.request_timeout_seconds); send it again",
                limit.as_secs()
            ),
        )
        .into_response(),
    }
}
async fn count_responses(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    state
        .metrics
        .http_responses
        .get_or_create(&vec![("status", resp.status().as_u16().to_string())])
        .inc();
    resp
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        ErrorCode::NoSuchEndpoint,
        format!(
            "there is no {} {}; GET /openapi.json describes every endpoint",
            req.method(),
            req.uri().path()
        ),
    )
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!(
            "{} is not allowed on {}; GET /openapi.json describes every endpoint",
            req.method(),
            req.uri().path()
        ),
    )
}

/// Middleware: the per-address limit on public endpoints.
async fn limit_public(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if limits::public(request.uri().path())
        && let Some(ip) = limits::client_ip(&request)
        && let Err(e) = state.limits.address(ip)
    {
        tracing::info!(%ip, path = %loggable_path(request.uri().path()), "rate limited");
        return e.into_response();
    }
    next.run(request).await
}
