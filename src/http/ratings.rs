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

use super::error::{ApiError, ApiResult, created_or_ok};
use super::extract::{ApiJson, ApiQuery};
use super::openapi::ErrorBody;
use super::report::{id_param, time_param};
use super::sessions::RatingOut;
use super::state::AppState;
use crate::engine::request_not_found;
use crate::policy::Caller;
use crate::store::{Assignee, InboxFilter, InboxItem, InboxSort, InboxState, RatingKind};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(submit, list))
        .routes(routes!(export))
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
    /// How many ratings match, on every page.
    total: i64,
    /// This page, from 1.
    page: i64,
    /// How many pages the matches fill (1 when there are none).
    pages: i64,
}

/// The inbox's query parameters.
pub const INBOX_PARAMS: [&str; 15] = [
    "show",
    "line",
    "operator",
    "channel",
    "from",
    "to",
    "state",
    "value",
    "reason",
    "has_comment",
    "q",
    "assignee",
    "sort",
    "page",
    "limit",
];

/// The inbox's query read field by field: the filter of what could be read, and each field
/// that could not, with why (the dashboard shows each next to its field and keeps the rest;
/// the API refuses the request with the first).
pub struct ReadFilter {
    /// What could be read, with the fields that could not left out.
    pub filter: InboxFilter,
    /// (field, message), the message starting with the field's name.
    pub problems: Vec<(&'static str, String)>,
}

impl ReadFilter {
    /// The filter, or the API's refusal of the first field that could not be read.
    pub fn or_refuse(self) -> ApiResult<InboxFilter> {
        match self.problems.into_iter().next() {
            Some((_, message)) => Err(ApiError::new(ErrorCode::InvalidParameter, message)),
            None => Ok(self.filter),
        }
    }
}

/// The inbox's query, parsed. `me` is the caller's person, for `assignee=me`.
///
/// One piece: one check per query parameter, each naming its parameter in its refusal.
pub fn inbox_filter(
    params: &std::collections::HashMap<String, String>,
    me: Option<&str>,
) -> ReadFilter {
    let mut problems = Vec::new();
    let mut keep = |field: &'static str, e: ApiError| problems.push((field, e.message));
    macro_rules! read {
        ($field:literal, $parsed:expr) => {
            match $parsed {
                Ok(v) => v,
                Err(e) => {
                    keep($field, e);
                    None
                }
            }
        };
    }
    let channels: Vec<(&str, Channel)> = Channel::ALL.iter().map(|c| (c.as_str(), *c)).collect();
    let states: Vec<(&str, InboxState)> =
        InboxState::ALL.iter().map(|s| (s.as_str(), *s)).collect();
    let assignee = read!(
        "assignee",
        params
            .get("assignee")
            .map(|a| match a.as_str() {
                "nobody" => Ok(Assignee::Nobody),
                "me" => me.map(|m| Assignee::Person(m.to_owned())).ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidParameter,
                        "assignee: 'me' is a person signed in, and this key has none; name the person's id",
                    )
                }),
                _ => id_param(params, "assignee").map(|id| Assignee::Person(id.unwrap_or_default())),
            })
            .transpose()
    );
    let text = params.get("q").map(|q| q.trim()).filter(|q| !q.is_empty());
    let kinds: Vec<(&str, RatingKind)> = RatingKind::ALL.iter().map(|k| (k.as_str(), *k)).collect();
    let show = read!("show", super::report::choice(params, "show", &kinds)).unwrap_or_default();
    if show != RatingKind::Low {
        for field in ["state", "assignee"] {
            if params.contains_key(field) {
                let why = format!(
                    "{field}: only low ratings are answered, assigned and closed; \
                     leave {field} out, or list show=low"
                );
                keep(field, ApiError::new(ErrorCode::InvalidParameter, why));
            }
        }
    }
    let filter = InboxFilter {
        show,
        lines: None,
        except_lines: Vec::new(),
        line: read!("line", id_param(params, "line")),
        operator: read!("operator", id_param(params, "operator")),
        channel: read!(
            "channel",
            super::report::choice(params, "channel", &channels)
        )
        .map(|c| c.as_str().to_owned()),
        from: read!("from", time_param(params, "from")),
        to: read!("to", time_param(params, "to")),
        state: read!("state", super::report::choice(params, "state", &states)),
        value: read!(
            "value",
            params
                .get("value")
                .map(|v| {
                    v.parse::<i64>()
                        .ok()
                        .filter(|n| (0..=5).contains(n))
                        .ok_or_else(|| {
                            ApiError::new(
                                ErrorCode::InvalidParameter,
                                format!("value: '{v}' is no rating: use 0 for 👎, or 1 to 5 stars"),
                            )
                        })
                })
                .transpose()
        ),
        reason: read!("reason", id_param(params, "reason")),
        has_comment: read!(
            "has_comment",
            super::report::choice(
                params,
                "has_comment",
                &[
                    ("yes", true),
                    ("no", false),
                    ("true", true),
                    ("false", false)
                ]
            )
        ),
        text: match text {
            Some(q) if q.chars().count() > 200 => {
                let why = "q: search for at most 200 characters";
                keep("q", ApiError::new(ErrorCode::InvalidParameter, why));
                None
            }
            Some(q) => match rateline_domain::check_text("q", q) {
                Ok(()) => Some(q.to_owned()),
                Err(e) => {
                    keep(
                        "q",
                        ApiError::new(ErrorCode::InvalidParameter, e.to_string()),
                    );
                    None
                }
            },
            None => None,
        },
        assignee,
        sort: read!(
            "sort",
            super::report::choice(
                params,
                "sort",
                &[("oldest", InboxSort::Oldest), ("newest", InboxSort::Newest)]
            )
        ),
        page: read!(
            "page",
            super::report::count_param(params, "page", 1..=1_000_000, 1, "a page number").map(Some)
        )
        .unwrap_or(1),
        limit: read!(
            "limit",
            super::report::count_param(params, "limit", 1..=200, 50, "a number").map(Some)
        )
        .unwrap_or(50),
    };
    let filter = match show {
        RatingKind::Low => filter,
        _ => InboxFilter {
            state: None,
            assignee: None,
            ..filter
        },
    };
    ReadFilter { filter, problems }
}

/// The filters of the list of ratings and of their export, as the OpenAPI description
/// gives them ([`inbox_filter`] reads them, each refusal naming its parameter).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct InboxQuery {
    /// low (the default), praise (👍, 4–5 ★) or all.
    show: Option<String>,
    /// Only this line.
    line: Option<rateline_domain::Id>,
    /// Only this operator's ratings.
    operator: Option<rateline_domain::Id>,
    /// Only this channel.
    channel: Option<String>,
    /// Rated at or after (RFC 3339, or a date: its midnight UTC).
    from: Option<String>,
    /// Rated before.
    to: Option<String>,
    /// unanswered, assigned, handled, voided; or responded, appealed (parts of handled and of
    /// any state). Any but voided when absent. For low ratings only.
    state: Option<InboxState>,
    /// Only this value: 0 for 👎, 1–5 stars.
    #[param(minimum = 0, maximum = 5)]
    value: Option<i64>,
    /// Only ratings that gave this low-rating reason (its id).
    reason: Option<rateline_domain::Id>,
    /// yes: with a comment; no: without.
    has_comment: Option<String>,
    /// Words in the comment, any case (a comment flagged as abusive is not searched); up to
    /// 200 characters.
    q: Option<String>,
    /// A person's id, me, or nobody. For low ratings only.
    assignee: Option<String>,
}

/// The low ratings the caller may see, a numbered page at a time: open work first
/// (unanswered, assigned, then handled), oldest first unless `sort=newest`. A supervisor
/// sees their lines, an operator their own.
#[utoipa::path(
    get, path = "/v1/ratings", tag = "follow-up", operation_id = "list_low_ratings",
    params(
        InboxQuery,
        ("sort" = Option<String>, Query, description = "oldest or newest within each state; oldest when absent, newest for handled, responded, appealed and voided."),
        ("page" = Option<i64>, Query, minimum = 1, description = "The page, from 1."),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Ratings a page; 50 when absent."),
    ),
    responses(
        (status = 200, description = "A page of low ratings, with the total.", body = RatingList),
        (status = 400, description = "A filter that cannot be read (`invalid_parameter`), or one this list does not have (`unknown_parameter`).", body = ErrorBody),
        (status = 403, description = "A line or operator outside the caller's reach.", body = ErrorBody),
    ),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: ApiQuery,
) -> ApiResult<Json<RatingList>> {
    query.only(&INBOX_PARAMS.join(", "))?;
    let filter = inbox_filter(&query.0, caller.person_id().map(|me| me.as_str())).or_refuse()?;
    let inbox = state.engine.inbox(&caller, filter).await?;
    Ok(Json(RatingList {
        total: inbox.page.total,
        page: inbox.page.page,
        pages: inbox.page.pages(),
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

/// Every rating the filters match, one by one, as a file: CSV (the default) or NDJSON,
/// oldest first, streamed, named for what it holds. The filters are the list's; `show=all`
/// or `show=praise` exports more than the low ratings.
#[utoipa::path(
    get, path = "/v1/ratings/export", tag = "follow-up", operation_id = "export_ratings",
    params(
        ("format" = Option<String>, Query, description = "csv (the default) or ndjson."),
        InboxQuery,
    ),
    responses(
        (status = 200, description = "The file: a header row and one row a rating (CSV), or one JSON object a line (NDJSON); `rated_at` in the caller's zone.", content(
            (String = "text/csv"),
            (String = "application/x-ndjson"),
        )),
        (status = 400, description = "A filter that cannot be read, or a format that is not csv or ndjson.", body = ErrorBody),
        (status = 403, description = "A line or operator outside the caller's reach.", body = ErrorBody),
    ),
)]
async fn export(
    State(state): State<AppState>,
    caller: Caller,
    query: ApiQuery,
) -> ApiResult<axum::response::Response> {
    let mut known: Vec<&str> = INBOX_PARAMS
        .iter()
        .copied()
        .filter(|p| !matches!(*p, "page" | "limit" | "sort"))
        .collect();
    known.push("format");
    query.only(&known.join(", "))?;
    let params = query.0;
    let format = match params.get("format").map(String::as_str) {
        None => super::export::Format::Csv,
        Some(f) => super::export::Format::parse(f).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidParameter,
                format!("format: '{f}' is not one of csv, ndjson"),
            )
        })?,
    };
    let filter = inbox_filter(&params, caller.person_id().map(|me| me.as_str())).or_refuse()?;
    let export = state.engine.export(&caller, filter).await?;
    let names = state.engine.directory().await?;
    let zone = names
        .zone_of(caller.person_id().map(|me| me.as_str()))
        .unwrap_or(state.time_zone);
    let file = super::export::file_name(&params);
    Ok(super::export::streamed(export, format, zone, names, &file))
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
    // Typed before the store is asked: text no request id can be (a NUL, say) names no
    // request, and PostgreSQL would refuse it outright.
    let request_id = crate::engine::known_request(&answer.request_id)?;
    if !caller.is_open()
        && let Some((line, _)) = state.engine.request_scope(&request_id).await?
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
