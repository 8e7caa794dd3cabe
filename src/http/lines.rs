//! `PUT /v1/lines/{id}` and `GET /v1/lines/{id}`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use rateline_domain::{
    LineSettings, ManagedBy, NameId, RatingSettings, Recipient, WebchatSettings, WhatsappTemplate,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ApiPath, ApiResult, AppState, ErrorBody, created_or_ok};
use crate::engine::AlertReach;
use crate::policy::Caller;
use crate::store::LineRecord;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_line, put_line))
}

/// A line as the API shows it: its settings without the webhook secret, and whom its
/// low-rating alerts can reach.
#[derive(Serialize, ToSchema)]
struct LineView {
    id: String,
    name: String,
    rating: RatingSettings,
    notify_low: Vec<Recipient>,
    auto_close_minutes: Option<u32>,
    webhook: Option<WebhookView>,
    whatsapp_template: Option<WhatsappTemplate>,
    webchat: WebchatSettings,
    public_badge: bool,
    /// `api`, or `config` for a line from the config file (which the API cannot change).
    managed_by: ManagedBy,
    updated_at: DateTime<Utc>,
    alerts: AlertReach,
}

/// The connector's URL; the secret is write-only.
#[derive(Serialize, ToSchema)]
struct WebhookView {
    url: String,
}

/// Creates or replaces a line's settings. A `webhook` without `secret` keeps the stored one.
#[utoipa::path(
    put, path = "/v1/lines/{line_id}", tag = "lines", operation_id = "put_line",
    params(("line_id" = rateline_domain::Id, Path, description = "The line.")),
    request_body = LineSettings,
    responses(
        (status = 201, description = "Created.", body = LineView),
        (status = 200, description = "Replaced.", body = LineView),
        (status = 409, description = "The line is defined in the config file (`line_managed_by_config`).", body = ErrorBody),
        (status = 422, description = "A setting breaks a rule; the message names it and the allowed range.", body = ErrorBody),
    ),
)]
async fn put_line(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    ApiJson(settings): ApiJson<LineSettings>,
) -> ApiResult<(StatusCode, Json<LineView>)> {
    caller.admin("changing a line")?;
    let (line, created) = state
        .engine
        .put_line(&NameId::parse("line_id", &id)?, settings)
        .await?;
    let status = created_or_ok(created);
    Ok((status, Json(view(&state, line).await?)))
}

/// Shows a line.
#[utoipa::path(
    get, path = "/v1/lines/{line_id}", tag = "lines", operation_id = "get_line",
    params(("line_id" = rateline_domain::Id, Path, description = "The line.")),
    responses(
        (status = 200, description = "The line.", body = LineView),
        (status = 404, description = "No such line.", body = ErrorBody),
    ),
)]
async fn get_line(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> ApiResult<Json<LineView>> {
    caller.line(&id)?;
    let line = state.engine.line(&id).await?;
    Ok(Json(view(&state, line).await?))
}

async fn view(state: &AppState, line: LineRecord) -> ApiResult<LineView> {
    let alerts = state.engine.alert_reach(&line.settings).await?;
    let LineSettings {
        name,
        rating,
        notify_low,
        auto_close_minutes,
        webhook,
        whatsapp_template,
        webchat,
        public_badge,
    } = line.settings;
    Ok(LineView {
        id: line.id,
        name,
        rating,
        notify_low,
        auto_close_minutes,
        webhook: webhook.map(|w| WebhookView { url: w.url }),
        whatsapp_template,
        webchat,
        public_badge,
        managed_by: line.managed_by,
        updated_at: line.updated_at,
        alerts,
    })
}
