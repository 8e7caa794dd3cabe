//! Lines: `GET /v1/lines`, `GET`, `PUT` and `PATCH /v1/lines/{id}`, each answer with the
//! line's version as its `ETag`; `POST /v1/lines/{id}/test-request` tries the connector.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, Utc};
use rateline_domain::{
    LineId, LineSettings, ManagedBy, RatingSettings, Recipient, WebchatSettings, WhatsappTemplate,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, created_or_ok};
use super::extract::{ApiJson, ApiPath};
use super::openapi::{ETagParam, ErrorBody};
use super::state::AppState;
use super::versions::{answered, if_match, merged, tagged};
use crate::engine::AlertReach;
use crate::policy::Caller;
use crate::store::LineRecord;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_lines))
        .routes(routes!(get_line, put_line, patch_line))
        .routes(routes!(test_request))
}

/// What the line's connector answered a test request.
#[derive(Serialize, ToSchema)]
pub struct ConnectorTest {
    /// Whether a rating request sent now would count as delivered (the connector answered 2xx).
    pub accepted: bool,
    /// The connector's HTTP status; `null` when it did not answer.
    pub status: Option<u16>,
    /// The start of the connector's body (at most 1,000 characters); `null` without an answer.
    pub body: Option<String>,
    /// Why it would not count as delivered, as a rating request's `last_error` says it.
    pub error: Option<String>,
}

impl From<rateline_adapters::webhook::TestAnswer> for ConnectorTest {
    fn from(a: rateline_adapters::webhook::TestAnswer) -> Self {
        Self {
            accepted: a.accepted,
            status: a.status,
            body: a.body,
            error: a.error,
        }
    }
}

/// Sends the line's connector a test request: a rating request's body with `"test": true`
/// and `X-Rateline-Event: test_request`, signed with the line's secret, under the outbound
/// policy. Nothing is stored, no client is asked; the answer says what the connector
/// answered. Admins only.
#[utoipa::path(
    post, path = "/v1/lines/{line_id}/test-request", tag = "lines", operation_id = "test_line_connector",
    params(("line_id" = rateline_domain::Id, Path, description = "The line.")),
    responses(
        (status = 200, description = "The connector's answer, or why it could not be reached (`accepted: false` with `error`).", body = ConnectorTest),
        (status = 403, description = "Only admins test connectors (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such line (`line_not_found`).", body = ErrorBody),
    ),
)]
async fn test_request(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<LineId>,
) -> ApiResult<Json<ConnectorTest>> {
    let answer = state
        .engine
        .test_connector(&caller, &id, &state.link("/v1/ratings"))
        .await?;
    Ok(Json(answer.into()))
}

/// A line as the API shows it: its settings without the webhook secret, and whom its
/// low-rating alerts can reach.
#[derive(Serialize, ToSchema)]
struct LineView {
    id: LineId,
    name: String,
    rating: RatingSettings,
    survey: rateline_domain::SurveyRules,
    notify_low: Vec<Recipient>,
    auto_close_minutes: Option<u32>,
    webhook: Option<WebhookView>,
    whatsapp_template: Option<WhatsappTemplate>,
    webchat: WebchatSettings,
    public_badge: bool,
    /// `false`: retired, it takes no new sessions.
    active: bool,
    /// `api`, or `config` for a line from the config file (which the API cannot change).
    managed_by: ManagedBy,
    updated_at: DateTime<Utc>,
    /// Raised by every change; the `ETag`, and what `If-Match` names.
    version: i64,
    alerts: AlertReach,
}

/// `GET /v1/lines`.
#[derive(Serialize, ToSchema)]
struct LineList {
    lines: Vec<LineView>,
}

/// The connector's URL (a user name and password in it, stored by an earlier version, shown
/// as `***`); the secret is write-only.
#[derive(Serialize, ToSchema)]
struct WebhookView {
    url: String,
}

/// Creates or replaces a line's settings: the whole of them (a setting left out takes its
/// default; `PATCH` changes only what it names). A `webhook` without `secret` keeps the stored
/// one. With `If-Match`, only the line at that version is replaced.
#[utoipa::path(
    put, path = "/v1/lines/{line_id}", tag = "lines", operation_id = "put_line",
    params(
        ("line_id" = rateline_domain::Id, Path, description = "The line."),
        ("If-Match" = Option<ETagParam>, Header, description = "The `ETag` the change is for; refused with 412 if the line has changed since."),
    ),
    request_body = LineSettings,
    responses(
        (status = 201, description = "Created.", body = LineView, headers(("ETag" = String, description = "The new version."))),
        (status = 200, description = "Replaced.", body = LineView, headers(("ETag" = String, description = "The new version."))),
        (status = 409, description = "The line is defined in the config file (`line_managed_by_config`).", body = ErrorBody),
        (status = 412, description = "Changed since the `If-Match` version (`precondition_failed`); `ETag` is the current one.", body = ErrorBody),
        (status = 422, description = "A setting breaks a rule; the message names it and the allowed range.", body = ErrorBody),
    ),
)]
async fn put_line(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    headers: HeaderMap,
    ApiJson(settings): ApiJson<LineSettings>,
) -> Response {
    let result = async {
        let expected = if_match(&headers, &format!("line '{id}'"))?;
        let (line, created) = state
            .engine
            .put_line(&caller, &LineId::parse("line_id", &id)?, settings, expected)
            .await?;
        let version = line.version;
        let body = (created_or_ok(created), Json(view(&state, line).await?));
        Ok::<_, ApiError>(tagged(version, body))
    };
    answered(result.await, current_version(&state, &id)).await
}

/// Changes the settings a JSON Merge Patch (RFC 7396) names and keeps every other: `{"rating":
/// {"delay_seconds": 5}}` changes the delay alone; `null` puts a setting back to its default.
/// The result is checked as a `PUT` is. With `If-Match`, only the line at that version is
/// changed; without it the change applies to the line as it is.
#[utoipa::path(
    patch, path = "/v1/lines/{line_id}", tag = "lines", operation_id = "patch_line",
    params(
        ("line_id" = rateline_domain::Id, Path, description = "The line."),
        ("If-Match" = Option<ETagParam>, Header, description = "The `ETag` the change is for; refused with 412 if the line has changed since."),
    ),
    request_body(content = Object, content_type = "application/merge-patch+json", description = "The settings to change, shaped as the line's settings."),
    responses(
        (status = 200, description = "Changed.", body = LineView, headers(("ETag" = String, description = "The new version."))),
        (status = 404, description = "No such line (`line_not_found`).", body = ErrorBody),
        (status = 409, description = "The line is defined in the config file (`line_managed_by_config`).", body = ErrorBody),
        (status = 412, description = "Changed since the `If-Match` version (`precondition_failed`); `ETag` is the current one.", body = ErrorBody),
        (status = 422, description = "The changed settings break a rule; the message names it.", body = ErrorBody),
    ),
)]
async fn patch_line(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<LineId>,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> Response {
    let result = async {
        caller.admin("changing a line")?;
        let asked = if_match(&headers, &format!("line '{id}'"))?;
        let stored = state.engine.line(&id).await?;
        let settings = merged(&stored.settings, &patch)?;
        // Without If-Match the change is to the line as read here; a write in between is
        // refused rather than silently undone.
        let expected = Some(asked.unwrap_or(stored.version));
        let (line, _) = state
            .engine
            .put_line(&caller, &LineId::parse("line_id", &id)?, settings, expected)
            .await?;
        let version = line.version;
        Ok::<_, ApiError>(tagged(version, Json(view(&state, line).await?)))
    };
    answered(result.await, current_version(&state, &id)).await
}

/// Shows a line.
#[utoipa::path(
    get, path = "/v1/lines/{line_id}", tag = "lines", operation_id = "get_line",
    params(("line_id" = rateline_domain::Id, Path, description = "The line.")),
    responses(
        (status = 200, description = "The line.", body = LineView, headers(("ETag" = String, description = "Its version, for If-Match."))),
        (status = 404, description = "No such line.", body = ErrorBody),
    ),
)]
async fn get_line(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<LineId>,
) -> ApiResult<Response> {
    caller.line(&id)?;
    let line = state.engine.line(&id).await?;
    let version = line.version;
    Ok(tagged(version, Json(view(&state, line).await?)))
}

/// Lists the lines the caller may see (a supervisor's own; every line for admins), by id.
#[utoipa::path(
    get, path = "/v1/lines", tag = "lines", operation_id = "list_lines",
    responses((status = 200, description = "The lines.", body = LineList)),
)]
async fn list_lines(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<LineList>> {
    let mut lines = Vec::new();
    for line in state.engine.lines().await? {
        if caller.line(&line.id).is_ok() {
            lines.push(view(&state, line).await?);
        }
    }
    Ok(Json(LineList { lines }))
}

async fn view(state: &AppState, line: LineRecord) -> ApiResult<LineView> {
    let alerts = state.engine.alert_reach(&line.id, &line.settings).await?;
    let LineSettings {
        name,
        rating,
        survey,
        notify_low,
        auto_close_minutes,
        webhook,
        whatsapp_template,
        webchat,
        public_badge,
        active,
    } = line.settings;
    Ok(LineView {
        id: line.id,
        name,
        rating,
        survey,
        notify_low,
        auto_close_minutes,
        webhook: webhook.map(|w| WebhookView {
            url: rateline_domain::shown_url(&w.url),
        }),
        whatsapp_template,
        webchat,
        public_badge,
        active,
        managed_by: line.managed_by,
        updated_at: line.updated_at,
        version: line.version,
        alerts,
    })
}

/// The line's version now, for the `ETag` of a refusal as stale.
async fn current_version(state: &AppState, id: &str) -> Option<i64> {
    let id = crate::engine::known_line(id).ok()?;
    state.engine.line(&id).await.ok().map(|l| l.version)
}
