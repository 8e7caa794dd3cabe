//! `POST /v1/ratings`: answer intake for the `webhook` channel and custom connectors.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use rateline_domain::RatingAnswer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::sessions::RatingOut;
use super::{ApiJson, ApiResult, AppState, ErrorBody, created_or_ok};
use crate::engine::request_not_found;
use crate::policy::Caller;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(submit))
}

/// Records a client's answer to a rating request, or a permitted change of it.
#[utoipa::path(
    post, path = "/v1/ratings", tag = "ratings", operation_id = "submit_rating",
    request_body = RatingAnswer,
    responses(
        (status = 201, description = "The first answer.", body = RatingOut),
        (status = 200, description = "A permitted change, or the same answer again.", body = RatingOut),
        (status = 404, description = "No such rating request.", body = ErrorBody),
        (status = 409, description = "The request cannot be answered (`request_not_answerable`), \
            or the client may not change the rating again (`change_limit_reached`, \
            `change_window_closed`).", body = ErrorBody),
        (status = 410, description = "The line's answer window has closed (`answer_window_closed`).", body = ErrorBody),
        (status = 422, description = "A value outside the line's scale, or a comment too long; \
            the message names the allowed values.", body = ErrorBody),
    ),
)]
async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(answer): ApiJson<RatingAnswer>,
) -> ApiResult<(StatusCode, Json<RatingOut>)> {
    // Clients' answers come through a contact center's integration: a supervisor's key,
    // never an operator's (see `crate::policy`).
    caller.not_operator("answering a rating request")?;
    if !caller.is_open()
        && let Some((line, _)) = state.engine.request_scope(&answer.request_id).await?
        && !caller.covers_line(&line)
    {
        return Err(request_not_found(&answer.request_id).into());
    }
    let submitted = state.engine.submit_rating(answer).await?;
    let status = created_or_ok(submitted.created);
    Ok((
        status,
        Json(RatingOut::new(&submitted.rating, &submitted.history)),
    ))
}
