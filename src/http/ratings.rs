//! `POST /v1/ratings`: answer intake for the `webhook` channel and custom connectors.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;

use super::{ApiJson, ApiResult, AppState};
use crate::auth::Caller;
use crate::domain::RatingAnswer;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/ratings", post(submit))
}

/// 201 for the first answer, 200 for a permitted change or the same answer again.
async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(answer): ApiJson<RatingAnswer>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    // Clients' answers come through a contact center's integration: a supervisor's key.
    if !caller.is_open()
        && let Some((line, _)) = state
            .engine
            .store()
            .request_scope(&answer.request_id)
            .await?
    {
        caller.line(&line)?;
    }
    let submitted = state.engine.submit_rating(answer).await?;
    let status = if submitted.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = super::sessions::rating_json(&submitted.rating, &submitted.history);
    Ok((status, Json(body)))
}
