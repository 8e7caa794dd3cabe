//! The HTTP API: one router per module, merged here, sharing one [`AppState`].

mod audit;
mod auth;
mod clients;
mod connectors;
mod error;
pub mod export;
mod extract;
mod followup;
mod keys;
mod limits;
mod lines;
mod open_mode;
mod openapi;
mod ops;
mod people;
mod platforms;
mod ratings;
mod report;
mod serve;
mod sessions;
mod subscriptions;
mod versions;
mod webchat;

use rateline_domain::ErrorCode;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use tower_http::trace::TraceLayer;

pub use audit::audit_filter;
pub use auth::caller;
pub use error::{ApiError, Explained, documented_status, status_of};
pub use extract::{ApiJson, ApiPath, ApiQuery, ClientIp};
pub use lines::ConnectorTest;
pub use open_mode::{OpenMode, allows as open_mode_allows};
use openapi::ApiDoc;
pub use openapi::ErrorBody;
pub use ratings::{INBOX_PARAMS, ReadFilter, inbox_filter};
pub use report::parse_time;
pub use sessions::visible_session;
pub use versions::merged;

use crate::engine::Engine;
use crate::metrics::Metrics;

pub type ApiResult<T> = Result<T, ApiError>;

/// What every handler shares, behind one `Arc`: axum gives every middleware and extractor of
/// every request a clone of it, and a clone of the parts themselves (the engine's and the
/// store's handles, the outbound policy, the sinks) took a dozen of the server's CPU per
/// hundred on the API path (see the performance log, 2026-11-26).
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    pub fn new(parts: AppParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct AppParts {
    pub engine: Engine,
    pub metrics: Arc<Metrics>,
    /// The Telegram channel, when `[telegram]` is configured.
    pub telegram: Option<Arc<crate::channels::telegram::Telegram>>,
    /// The Meta channels, when `[meta]` is configured.
    pub meta: Option<Arc<crate::channels::meta::Meta>>,
    /// The Chatwoot connector: every connected account.
    pub chatwoot: Arc<crate::channels::chatwoot::Chatwoot>,
    /// The Zammad connector: every connected instance.
    pub zammad: Arc<crate::channels::zammad::Zammad>,
    /// The web chat widget's endpoints.
    pub webchat: Arc<crate::channels::webchat::Webchat>,
    /// Whether the server is still in the open mode (no credential yet).
    pub open_mode: Arc<OpenMode>,
    pub limits: Arc<limits::Limits>,
    /// How long a dashboard sign-in lasts unused (`dashboard.sign_in_idle_minutes`).
    pub sign_in_idle_minutes: u32,
    /// The dashboard's zone for people without their own (`server.time_zone`).
    pub time_zone: chrono_tz::Tz,
}

impl AppState {
    /// The address people reach `path` at: `server.public_url` and the path.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.webchat.public_url().trim_end_matches('/'))
    }
}

pub use limits::{LimitError, Limits, client_ip};
pub use serve::{ClientAddr, ConnectionLimits, fit_per_address, fit_to_file_limit, serve};

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
        .merge(connectors::router())
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
            limits::limit_public,
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

/// 201 for what a call made, 200 for what it replaced.
fn created_or_ok(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
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
