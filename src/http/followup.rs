//! The follow-up loop over HTTP: `GET /v1/alerts`, responses, appeals and decisions,
//! abusive comments, and evaluations.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::stats::id_param;
use super::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, AppState};
use crate::auth::Caller;
use crate::domain::{AppealBody, DecisionBody, EvaluationBody, FlagBody, ResponseBody};
use crate::store::AlertFilter;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/alerts", get(alerts))
        .route("/v1/ratings/{id}/response", put(response))
        .route("/v1/ratings/{id}/appeal", post(appeal))
        .route("/v1/ratings/{id}/comment-flag", put(flag))
        .route("/v1/appeals", get(appeals))
        .route("/v1/appeals/{id}/decision", post(decide))
        .route("/v1/sessions/{id}/evaluation", put(evaluation))
}

const ALERT_PARAMS: &str = "state, line, operator, rating, limit";
const ALERT_STATES: [&str; 6] = [
    "pending",
    "sending",
    "sent",
    "failed",
    "skipped",
    "unanswered",
];

/// The newest alerts (`state` = their delivery), or with `state=unanswered` the low
/// ratings nobody has responded to, counted per line and per operator.
async fn alerts(
    State(state): State<AppState>,
    caller: Caller,
    query: ApiQuery,
) -> ApiResult<Json<Value>> {
    query.only(ALERT_PARAMS)?;
    let params = query.0;
    let wanted = params.get("state").map(String::as_str);
    if let Some(s) = wanted
        && !ALERT_STATES.contains(&s)
    {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!(
                "state: unknown state '{s}': use one of {}",
                ALERT_STATES.join(", ")
            ),
        ));
    }
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
        return Ok(Json(json!({ "unanswered": unanswered })));
    }
    Ok(Json(
        json!({ "alerts": state.engine.alerts(&filter).await? }),
    ))
}

/// Whether `caller` may work on rating `id`: on its line, or (`operator_too`) as the
/// operator it rates. A missing rating is the handler's 404.
async fn may_rating(
    state: &AppState,
    caller: &Caller,
    id: &str,
    operator_too: bool,
) -> ApiResult<()> {
    if caller.is_open() {
        return Ok(());
    }
    match state.engine.store().rating_scope(id).await? {
        Some((line, operator)) if operator_too => caller.session(&line, operator.as_deref()),
        Some((line, _)) => caller.line(&line),
        None => Ok(()),
    }
}

async fn response(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    ApiJson(body): ApiJson<ResponseBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    may_rating(&state, &caller, &id, false).await?;
    let (response, created) = state.engine.put_response(&id, body).await?;
    Ok((created_or_ok(created), Json(json!(response))))
}

async fn appeal(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    ApiJson(body): ApiJson<AppealBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    may_rating(&state, &caller, &id, true).await?;
    let appeal = state.engine.appeal(&id, body).await?;
    Ok((StatusCode::CREATED, Json(json!(appeal))))
}

async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    ApiJson(body): ApiJson<DecisionBody>,
) -> ApiResult<Json<Value>> {
    caller.admin("deciding an appeal")?;
    Ok(Json(json!(state.engine.decide_appeal(&id, body).await?)))
}

async fn appeals(
    State(state): State<AppState>,
    caller: Caller,
    query: ApiQuery,
) -> ApiResult<Json<Value>> {
    query.only("status, limit")?;
    caller.every_line("the appeals list", "")?;
    let params = query.0;
    let list = state
        .engine
        .appeals(
            params.get("status").map(String::as_str),
            limit_param(&params)?,
        )
        .await?;
    Ok(Json(json!({ "appeals": list })))
}

async fn flag(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    ApiJson(body): ApiJson<FlagBody>,
) -> ApiResult<Json<Value>> {
    may_rating(&state, &caller, &id, false).await?;
    let rating = state.engine.flag_comment(&id, body).await?;
    Ok(Json(json!({
        "rating_id": rating.id,
        "comment_flagged": rating.comment_flagged,
    })))
}

async fn evaluation(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    ApiJson(body): ApiJson<EvaluationBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if !caller.is_open() {
        caller.line(&state.engine.session(&id).await?.line_id)?;
    }
    let (evaluation, created) = state.engine.put_evaluation(&id, body).await?;
    Ok((created_or_ok(created), Json(json!(evaluation))))
}

fn created_or_ok(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

/// `limit`: 1..=1000, 100 when absent.
fn limit_param(params: &std::collections::HashMap<String, String>) -> ApiResult<i64> {
    match params.get("limit") {
        None => Ok(100),
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_parameter",
                    format!("limit: '{l}' is not a number from 1 to 1000"),
                )
            }),
    }
}
