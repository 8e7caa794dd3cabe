//! `PUT /v1/lines/{id}` and `GET /v1/lines/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{ApiJson, ApiPath, ApiResult, AppState};
use crate::auth::Caller;
use crate::domain::LineSettings;
use crate::store::LineRecord;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/lines/{line_id}", get(get_line).put(put_line))
}

async fn put_line(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    ApiJson(settings): ApiJson<LineSettings>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.admin("changing a line")?;
    let (line, created) = state.engine.put_line(&id, settings).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(&state, &line).await?)))
}

async fn get_line(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> ApiResult<Json<Value>> {
    caller.line(&id)?;
    let line = state.engine.line(&id).await?;
    Ok(Json(view(&state, &line).await?))
}

/// The line as the API shows it: the settings without the webhook secret, and whom its
/// low-rating alerts can reach.
async fn view(state: &AppState, line: &LineRecord) -> ApiResult<Value> {
    let reach =
        crate::recipients::check(state.engine.store(), &line.settings, state.alert_sinks).await?;
    let mut v = settings_view(line);
    v["alerts"] = json!(reach);
    Ok(v)
}

fn settings_view(line: &LineRecord) -> Value {
    let mut settings = line.settings.clone();
    if let Some(w) = settings.webhook.as_mut() {
        w.secret = None;
    }
    let mut v = serde_json::to_value(&settings).expect("line settings serialise");
    v["id"] = json!(line.id);
    v["managed_by"] = json!(line.managed_by);
    v["updated_at"] = json!(line.updated_at);
    v
}
