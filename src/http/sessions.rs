//! Sessions: open, messages, close, and the chat-history view with request and rating.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiJson, ApiPath, ApiResult, AppState};
use crate::auth::Caller;
use crate::domain::{ClosedBy, MessageFrom, NewSession};
use crate::store::{RatingRecord, RatingRevision, RequestRecord, SessionRecord, SessionView};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/sessions", post(open))
        .route("/v1/sessions/{id}", get(show))
        .route("/v1/sessions/{id}/messages", post(message))
        .route("/v1/sessions/{id}/close", post(close))
}

async fn open(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewSession>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.session(&new.line_id, new.operator_id.as_deref())?;
    let (session, created) = state.engine.open_session(new).await?;
    // The same id again answers with the stored session: only if the caller may see it.
    if !created {
        caller.session(&session.line_id, session.operator_id.as_deref())?;
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(session_json(&session))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageBody {
    from: MessageFrom,
    at: Option<DateTime<Utc>>,
}

async fn message(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    ApiJson(body): ApiJson<MessageBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    may_session(&state, &caller, &id).await?;
    let result = state.engine.record_message(&id, body.from, body.at).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "cancelled_request_id": result.cancelled_request })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseBody {
    closed_by: ClosedBy,
    at: Option<DateTime<Utc>>,
}

async fn close(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    ApiJson(body): ApiJson<CloseBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    may_session(&state, &caller, &id).await?;
    let result = state
        .engine
        .close_session(&id, body.closed_by, body.at)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "rating_request": result.request.as_ref().map(|r| json!({
                "id": r.id, "status": r.status, "due_at": r.due_at,
            })),
        })),
    ))
}

/// Whether `caller` may see or act on session `id` (a missing session is the handler's 404).
pub(super) async fn may_session(state: &AppState, caller: &Caller, id: &str) -> ApiResult<()> {
    if let Caller::Open = caller {
        return Ok(());
    }
    let s = state.engine.session(id).await?;
    caller.session(&s.line_id, s.operator_id.as_deref())
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> ApiResult<Json<Value>> {
    may_session(&state, &caller, &id).await?;
    let SessionView {
        session,
        request,
        rating,
        response,
        appeal,
        alerts,
        evaluation,
    } = state.engine.session_view(&id).await?;
    let mut v = session_json(&session);
    v["rating_request"] = request.as_ref().map_or(Value::Null, request_json);
    v["rating"] = rating.as_ref().map_or(Value::Null, |(r, h)| {
        let mut rating = rating_json(r, h);
        rating["response"] = json!(response);
        rating["appeal"] = json!(appeal);
        rating["alerts"] = json!(alerts);
        rating
    });
    v["evaluation"] = json!(evaluation);
    Ok(Json(v))
}

fn session_json(s: &SessionRecord) -> Value {
    json!({
        "id": s.id,
        "line_id": s.line_id,
        "channel": s.channel,
        "client": s.client,
        "operator_id": s.operator_id,
        "opened_at": s.opened_at,
        "last_message_at": s.last_message_at,
        "last_client_message_at": s.last_client_message_at,
        "closed_at": s.closed_at,
        "closed_by": s.closed_by,
    })
}

pub(super) fn request_json(r: &RequestRecord) -> Value {
    json!({
        "id": r.id,
        "status": r.status,
        "channel": r.channel,
        "operator_id": r.operator_id,
        "scale": r.scale,
        "due_at": r.due_at,
        "attempts": r.attempts,
        "last_error": r.last_error,
        "platform_message_id": r.platform_message_id,
        "created_at": r.created_at,
        "sent_at": r.sent_at,
        "delivered_at": r.delivered_at,
        "answered_at": r.answered_at,
        "expires_at": r.expires_at,
        "finished_at": r.finished_at,
    })
}

pub(super) fn rating_json(r: &RatingRecord, history: &[RatingRevision]) -> Value {
    json!({
        "id": r.id,
        "request_id": r.request_id,
        "value": r.value,
        "low": r.low,
        "comment": r.comment,
        "resolved": r.resolved,
        "changes": r.changes,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "voided": r.voided_at.is_some(),
        "voided_at": r.voided_at,
        "comment_flagged": r.comment_flagged,
        // Set only while a grace period holds the rating out of the report.
        "counts_from": (r.counts_from > r.created_at).then_some(r.counts_from),
        "history": history.iter().map(|h| json!({
            "revision": h.revision,
            "value": h.value,
            "comment": h.comment,
            "resolved": h.resolved,
            "recorded_at": h.recorded_at,
        })).collect::<Vec<_>>(),
    })
}
