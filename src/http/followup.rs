//! The follow-up loop over HTTP: `GET /v1/alerts`, responses, appeals and decisions,
//! abusive comments, and evaluations.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rateline_domain::{
    AppealBody, DecisionBody, EvaluationBody, FlagBody, InboxActionBody, ResponseBody, SessionId,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, created_or_ok};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::openapi::{ETagParam, ErrorBody};
use super::report::id_param;
use super::state::AppState;
use super::versions::{answered, if_match, tagged};
use crate::engine::ResponseGuard;
use crate::policy::Caller;
use crate::store::{
    AlertFilter, AlertRecord, AppealFilter, AppealRecord, EvaluationRecord, ResponseRecord,
    Unanswered,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(alerts))
        .routes(routes!(response))
        .routes(routes!(act_on_ratings))
        .routes(routes!(appeal))
        .routes(routes!(flag))
        .routes(routes!(appeals))
        .routes(routes!(decide))
        .routes(routes!(evaluation))
}

/// `GET /v1/alerts`: the alerts, or with `state=unanswered` the unanswered low ratings.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum AlertList {
    Alerts { alerts: Vec<AlertRecord> },
    Unanswered { unanswered: Unanswered },
}

#[derive(Serialize, ToSchema)]
struct AppealList {
    appeals: Vec<AppealRecord>,
}

/// A rating's comment flag.
#[derive(Serialize, ToSchema)]
struct Flagged {
    rating_id: String,
    comment_flagged: bool,
    /// Who flagged it (a person's id, or `key <id>`); `null` while it is not flagged.
    comment_flagged_by: Option<String>,
}

const ALERT_PARAMS: &str = "state, line, operator, rating, limit";
const ALERT_STATES: [&str; 7] = [
    "pending",
    "sending",
    "sent",
    "failed",
    "skipped",
    "digested",
    "unanswered",
];

/// The newest alerts (`state` = their delivery), or with `state=unanswered` the low
/// ratings nobody has responded to, counted per line and per operator.
#[utoipa::path(
    get, path = "/v1/alerts", tag = "follow-up", operation_id = "list_alerts",
    params(
        ("state" = Option<String>, Query, description = "pending, sending, sent, failed, skipped, digested (gathered into a digest: see its `digest_id`), or unanswered."),
        ("line" = Option<rateline_domain::Id>, Query, description = "Only this line."),
        ("operator" = Option<rateline_domain::Id>, Query, description = "Only this operator's ratings."),
        ("rating" = Option<rateline_domain::Id>, Query, description = "Only this rating's alerts."),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "At most this many, newest first; 100 when absent."),
    ),
    responses((status = 200, description = "`{alerts}`, or `{unanswered}` with `state=unanswered`.", body = AlertList)),
)]
async fn alerts(
    State(state): State<AppState>,
    caller: Caller,
    query: ApiQuery,
) -> ApiResult<Json<AlertList>> {
    query.only(ALERT_PARAMS)?;
    let params = query.0;
    let wanted = one_of(&params, "state", &ALERT_STATES)?;
    let filter = AlertFilter {
        status: wanted.filter(|s| *s != "unanswered").map(str::to_owned),
        line: id_param(&params, "line")?,
        operator: id_param(&params, "operator")?,
        rating: id_param(&params, "rating")?,
        limit: limit_param(&params)?,
    };
    match &filter.line {
        Some(line) => caller.line(line)?,
        None => caller.every_line("the alert list", "; name one of them with ?line=")?,
    }
    if wanted == Some("unanswered") {
        let unanswered = state.engine.unanswered(&filter).await?;
        return Ok(Json(AlertList::Unanswered { unanswered }));
    }
    Ok(Json(AlertList::Alerts {
        alerts: state.engine.alerts(&filter).await?,
    }))
}

/// Writes (or rewrites) the one response to a rating; `send_to_client` also sends it to
/// the client through the session's channel. The answer's `ETag` is the response's version.
#[utoipa::path(
    put, path = "/v1/ratings/{id}/response", tag = "follow-up", operation_id = "put_response",
    params(
        ("id" = rateline_domain::Id, Path, description = "The rating."),
        ("If-Match" = Option<ETagParam>, Header, description = "The response's version the text was written against (`\"0\"`: none yet); refused with 412 if someone answered since. Needed to send a response already sent to the client a second time."),
    ),
    request_body = ResponseBody,
    responses(
        (status = 201, description = "Written.", body = ResponseRecord, headers(("ETag" = String, description = "The response's version."))),
        (status = 200, description = "Rewritten.", body = ResponseRecord, headers(("ETag" = String, description = "The response's version."))),
        (status = 404, description = "No such rating.", body = ErrorBody),
        (status = 409, description = "`send_to_client` on a rating from the web chat widget (`cannot_send_to_client`).", body = ErrorBody),
        (status = 412, description = "Someone answered since the `If-Match` version (`precondition_failed`): the message says who, when and what; `ETag` is the current version.", body = ErrorBody),
        (status = 422, description = "A field breaks a rule, or names a person who does not exist.", body = ErrorBody),
        (status = 428, description = "`send_to_client` on a response the client got already, without `If-Match` (`response_sent_already`).", body = ErrorBody),
    ),
)]
async fn response(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ResponseBody>,
) -> Response {
    let result = async {
        let expected = if_match(&headers, &format!("the response to rating '{id}'"))?;
        let guard = ResponseGuard {
            expected,
            second_message: expected.is_some(),
        };
        let (response, created) = state.engine.put_response(&caller, &id, body, guard).await?;
        Ok(tagged(
            response.version,
            (created_or_ok(created), Json(response)),
        ))
    };
    let current = async { state.engine.response_version(&caller, &id).await.ok() };
    answered(result.await, current).await
}

/// What an inbox action did.
#[derive(Serialize, ToSchema)]
struct Acted {
    /// How many of the ratings it changed (one already in the state asked for is not).
    changed: u64,
}

/// One action on up to 200 low ratings at once, all or none: `assign` them (to
/// `assignee_id`, a supervisor of their lines or an admin; the caller's own person when
/// absent), `unassign` them, `close` them as handled with no follow-up needed (with an
/// optional `note`), or `reopen` them.
#[utoipa::path(
    post, path = "/v1/ratings/actions", tag = "follow-up", operation_id = "act_on_ratings",
    request_body = InboxActionBody,
    responses(
        (status = 200, description = "Done.", body = Acted),
        (status = 403, description = "An operator's key (`forbidden`).", body = ErrorBody),
        (status = 404, description = "A rating that does not exist or the caller may not see (`rating_not_found`, naming it); nothing changed.", body = ErrorBody),
        (status = 409, description = "A voided rating (`rating_voided`, naming it); nothing changed.", body = ErrorBody),
        (status = 422, description = "No ratings or more than 200, a note without close, or an assignee who is not a supervisor of every rating's line nor an admin.", body = ErrorBody),
    ),
)]
async fn act_on_ratings(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<InboxActionBody>,
) -> ApiResult<Json<Acted>> {
    let changed = state.engine.act_on_ratings(&caller, body).await?;
    Ok(Json(Acted { changed }))
}

/// An operator's appeal of a rating, for an admin to decide.
#[utoipa::path(
    post, path = "/v1/ratings/{id}/appeal", tag = "follow-up", operation_id = "appeal_rating",
    params(("id" = rateline_domain::Id, Path, description = "The rating.")),
    request_body = AppealBody,
    responses(
        (status = 201, description = "Appealed.", body = AppealRecord),
        (status = 404, description = "No such rating.", body = ErrorBody),
        (status = 409, description = "The rating was appealed already (`already_appealed`).", body = ErrorBody),
        (status = 422, description = "The reason is empty or breaks a rule.", body = ErrorBody),
    ),
)]
async fn appeal(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    ApiJson(body): ApiJson<AppealBody>,
) -> ApiResult<(StatusCode, Json<AppealRecord>)> {
    let appeal = state.engine.appeal(&caller, &id, body).await?;
    Ok((StatusCode::CREATED, Json(appeal)))
}

/// An admin's decision: approving voids the rating (out of the report, kept in history).
#[utoipa::path(
    post, path = "/v1/appeals/{id}/decision", tag = "follow-up", operation_id = "decide_appeal",
    params(("id" = rateline_domain::Id, Path, description = "The appeal.")),
    request_body = DecisionBody,
    responses(
        (status = 200, description = "Decided.", body = AppealRecord),
        (status = 404, description = "No such appeal.", body = ErrorBody),
        (status = 409, description = "The appeal was decided already (`appeal_decided`).", body = ErrorBody),
        (status = 422, description = "A field breaks a rule, or names a person who does not exist.", body = ErrorBody),
    ),
)]
async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    ApiJson(body): ApiJson<DecisionBody>,
) -> ApiResult<Json<AppealRecord>> {
    Ok(Json(state.engine.decide_appeal(&caller, &id, body).await?))
}

/// The appeals the caller may see, oldest first (the order to decide them in): every
/// appeal for admins and supervisors over every line, those of a supervisor's lines, an
/// operator's own.
#[utoipa::path(
    get, path = "/v1/appeals", tag = "follow-up", operation_id = "list_appeals",
    params(
        ("status" = Option<String>, Query, description = "open, approved or rejected."),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "At most this many; 100 when absent."),
    ),
    responses((status = 200, description = "The appeals.", body = AppealList)),
)]
async fn appeals(
    State(state): State<AppState>,
    caller: Caller,
    query: ApiQuery,
) -> ApiResult<Json<AppealList>> {
    query.only("status, limit")?;
    let params = query.0;
    let filter = AppealFilter {
        status: one_of(&params, "status", &["open", "approved", "rejected"])?.map(str::to_owned),
        limit: limit_param(&params)?,
        ..AppealFilter::default()
    };
    let list = state.engine.appeals(&caller, filter).await?;
    Ok(Json(AppealList { appeals: list }))
}

/// Flags a rating's comment as abusive (hidden from reports and alerts), or clears the flag.
#[utoipa::path(
    put, path = "/v1/ratings/{id}/comment-flag", tag = "follow-up", operation_id = "flag_comment",
    params(("id" = rateline_domain::Id, Path, description = "The rating.")),
    request_body = FlagBody,
    responses(
        (status = 200, description = "The flag as it stands.", body = Flagged),
        (status = 404, description = "No such rating.", body = ErrorBody),
    ),
)]
async fn flag(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    ApiJson(body): ApiJson<FlagBody>,
) -> ApiResult<Json<Flagged>> {
    let rating = state.engine.flag_comment(&caller, &id, body).await?;
    Ok(Json(Flagged {
        rating_id: rating.id,
        comment_flagged: rating.comment_flagged,
        comment_flagged_by: rating.comment_flagged_by,
    }))
}

/// A supervisor's own evaluation of a session (1–5 stars), apart from the client's rating.
#[utoipa::path(
    put, path = "/v1/sessions/{id}/evaluation", tag = "follow-up", operation_id = "put_evaluation",
    params(("id" = rateline_domain::Id, Path, description = "The session.")),
    request_body = EvaluationBody,
    responses(
        (status = 201, description = "Written.", body = EvaluationRecord),
        (status = 200, description = "Rewritten.", body = EvaluationRecord),
        (status = 404, description = "No such session.", body = ErrorBody),
        (status = 422, description = "Stars outside 1..5, a comment that breaks a rule, or an `author_id` who does not exist.", body = ErrorBody),
    ),
)]
async fn evaluation(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<SessionId>,
    ApiJson(body): ApiJson<EvaluationBody>,
) -> ApiResult<(StatusCode, Json<EvaluationRecord>)> {
    let (evaluation, created) = state.engine.put_evaluation(&caller, &id, body).await?;
    Ok((created_or_ok(created), Json(evaluation)))
}

/// Parameter `name`, which must be one of `allowed` when present.
fn one_of(
    params: &std::collections::HashMap<String, String>,
    name: &str,
    allowed: &[&'static str],
) -> ApiResult<Option<&'static str>> {
    let pairs: Vec<(&str, &'static str)> = allowed.iter().map(|a| (*a, *a)).collect();
    super::report::choice(params, name, &pairs)
}

/// `limit`: 1..=1000, 100 when absent.
fn limit_param(params: &std::collections::HashMap<String, String>) -> ApiResult<i64> {
    super::report::count_param(params, "limit", 1..=1000, 100, "a number")
}
