//! `POST /v1/ratings`: answer intake for the `webhook` channel and custom connectors.
//! `GET /v1/ratings`: the inbox of low ratings, as the dashboard's inbox shows it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use rateline_domain::{Channel, ErrorCode, RatingAnswer};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::report::{id_param, time_param};
use super::sessions::RatingOut;
use super::{ApiError, ApiJson, ApiQuery, ApiResult, AppState, ErrorBody, created_or_ok};
use crate::engine::request_not_found;
use crate::policy::Caller;
use crate::store::{Cursor, InboxFilter, InboxItem, InboxState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(submit, list))
}

/// A low rating in the list, with its line's name.
#[derive(Serialize, ToSchema)]
struct ListedRating {
    #[serde(flatten)]
    item: InboxItem,
    line_name: String,
}

/// A page of low ratings.
#[derive(Serialize, ToSchema)]
struct RatingList {
    ratings: Vec<ListedRating>,
    /// Send it as `cursor` for the next page; `null` on the last.
    next_cursor: Option<String>,
}

/// The inbox's query, parsed: the filter it asks for.
pub fn inbox_filter(params: &std::collections::HashMap<String, String>) -> ApiResult<InboxFilter> {
    let channel = params
        .get("channel")
        .map(|c| {
            c.parse::<Channel>()
                .map(|c| c.as_str().to_owned())
                .map_err(|_| {
                    ApiError::new(
                        ErrorCode::InvalidParameter,
                        format!(
                            "channel: unknown channel '{c}'; use one of {}",
                            Channel::ALL.map(Channel::as_str).join(", ")
                        ),
                    )
                })
        })
        .transpose()?;
    let state = params
        .get("state")
        .map(|s| {
            s.parse::<InboxState>().map_err(|()| {
                ApiError::new(
                    ErrorCode::InvalidParameter,
                    format!(
                        "state: unknown state '{s}'; use one of {}",
                        InboxState::ALL.map(InboxState::as_str).join(", ")
                    ),
                )
            })
        })
        .transpose()?;
    let after = params
        .get("cursor")
        .map(|c| {
            Cursor::decode(c).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidParameter,
                    "cursor: not a cursor of this server; send back next_cursor exactly as it came",
                )
            })
        })
        .transpose()?;
    let limit = super::report::count_param(params, "limit", 1..=200, 50, "a number")?;
    Ok(InboxFilter {
        lines: None,
        except_lines: Vec::new(),
        line: id_param(params, "line")?,
        operator: id_param(params, "operator")?,
        channel,
        from: time_param(params, "from")?,
        to: time_param(params, "to")?,
        state,
        after,
        limit,
    })
}

/// The low ratings the caller may see, unanswered first, then the newest: the inbox a
/// supervisor works through. A supervisor sees their lines, an operator their own.
#[utoipa::path(
    get, path = "/v1/ratings", tag = "follow-up", operation_id = "list_low_ratings",
    params(
        ("line" = Option<rateline_domain::Id>, Query, description = "Only this line."),
        ("operator" = Option<rateline_domain::Id>, Query, description = "Only this operator's ratings."),
        ("channel" = Option<String>, Query, description = "Only this channel."),
        ("from" = Option<String>, Query, description = "Rated at or after (RFC 3339, or a date: its midnight UTC)."),
        ("to" = Option<String>, Query, description = "Rated before."),
        ("state" = Option<InboxState>, Query, description = "unanswered, responded, appealed or voided; any but voided when absent."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the page before."),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "At most this many; 50 when absent."),
    ),
    responses(
        (status = 200, description = "A page of low ratings.", body = RatingList),
        (status = 403, description = "A line or operator outside the caller's reach.", body = ErrorBody),
    ),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: ApiQuery,
) -> ApiResult<Json<RatingList>> {
    query.only("line, operator, channel, from, to, state, cursor, limit")?;
    let filter = inbox_filter(&query.0)?;
    let inbox = state.engine.inbox(&caller, filter).await?;
    Ok(Json(RatingList {
        next_cursor: inbox.page.next.as_ref().map(Cursor::encode),
        ratings: inbox
            .page
            .items
            .into_iter()
            .map(|item| ListedRating {
                line_name: inbox
                    .line_names
                    .get(&item.line_id)
                    .cloned()
                    .unwrap_or_else(|| item.line_id.clone()),
                item,
            })
            .collect(),
    }))
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
        (status = 422, description = "A value outside the line's scale, a comment too long, \
            or reasons the line does not list or given with a rating that is not low; the \
            message names the allowed values.", body = ErrorBody),
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
