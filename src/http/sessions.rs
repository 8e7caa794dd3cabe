//! Sessions: open, messages, close, and the chat-history view with request and rating.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use rateline_domain::ErrorCode;
use rateline_domain::{
    Channel, ClientRef, ClosedBy, LineId, MessageFrom, NewSession, PersonId, RequestId,
    RequestStatus, Scale, SessionId,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, created_or_ok};
use super::extract::{ApiJson, ApiPath};
use super::openapi::ErrorBody;
use super::state::AppState;
use crate::engine::session_not_found;
use crate::policy::{Caller, SessionWrite};
use crate::store::{
    AlertRecord, AppealRecord, EvaluationRecord, RatingRecord, RatingRevision, RequestRecord,
    ResponseRecord, SessionRecord, SessionView,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(open))
        .routes(routes!(show))
        .routes(routes!(message))
        .routes(routes!(close))
}

/// A session as the API shows it.
#[derive(Serialize, ToSchema)]
pub(super) struct SessionOut {
    id: SessionId,
    line_id: LineId,
    channel: Channel,
    client: ClientRef,
    operator_id: Option<PersonId>,
    opened_at: DateTime<Utc>,
    last_message_at: DateTime<Utc>,
    /// The client's last message: Meta's 24-hour window runs from it.
    last_client_message_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    /// `operator`, `client` or `timeout`.
    closed_by: Option<ClosedBy>,
}

impl From<&SessionRecord> for SessionOut {
    fn from(s: &SessionRecord) -> Self {
        Self {
            id: s.id.clone(),
            line_id: s.line_id.clone(),
            channel: s.channel,
            client: s.client.clone(),
            operator_id: s.operator_id.clone(),
            opened_at: s.opened_at,
            last_message_at: s.last_message_at,
            last_client_message_at: s.last_client_message_at,
            closed_at: s.closed_at,
            closed_by: s.closed_by,
        }
    }
}

/// Opens a session, or with an id already known answers with the stored one (200).
#[utoipa::path(
    post, path = "/v1/sessions", tag = "sessions", operation_id = "open_session",
    request_body = NewSession,
    responses(
        (status = 201, description = "Opened.", body = SessionOut),
        (status = 200, description = "A session with this id exists; it is shown unchanged.", body = SessionOut),
        (status = 404, description = "No such line.", body = ErrorBody),
        (status = 409, description = "The id is taken by a session this key does not see (`session_id_taken`), or the line is retired (`line_retired`).", body = ErrorBody),
        (status = 422, description = "A field breaks a rule (an id's characters, a name's length), or names what only a helpdesk connector opens (the `chatwoot`, `zammad` and `rocketchat` channels, ids starting `chatwoot-`, `zammad-` or `rocketchat-`).", body = ErrorBody),
    ),
)]
async fn open(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewSession>,
) -> ApiResult<(StatusCode, Json<SessionOut>)> {
    // The helpdesks' conversations are theirs alone to open: checked before anything
    // else, so the answer is the same whether such a session exists or not.
    new.check_not_a_helpdesks()?;
    let write = SessionWrite::Open {
        opened_at: new.opened_at,
    };
    caller.may_write_session(
        &new.line_id,
        new.operator_id.as_deref(),
        write,
        state.engine.now(),
    )?;
    let (session, created) = state.engine.open_session(new).await?;
    // The same id again answers with the stored session: only if the caller may see it.
    if !created && !caller.sees_session(&session.line_id, session.operator_id.as_deref()) {
        return Err(ApiError::new(
            ErrorCode::SessionIdTaken,
            format!(
                "session id '{}' is taken by a session this key does not see; choose another id",
                session.id
            ),
        ));
    }
    let status = created_or_ok(created);
    Ok((status, Json((&session).into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MessageBody {
    from: MessageFrom,
    /// When it was written; now when absent.
    at: Option<DateTime<Utc>>,
}

/// What a message did.
#[derive(Serialize, ToSchema)]
struct MessageAccepted {
    /// The rating request a client's message cancelled (it was not due yet), if any.
    cancelled_request_id: Option<String>,
}

/// Records a message: the client's keeps Meta's 24-hour window open and cancels a request
/// not yet due.
#[utoipa::path(
    post, path = "/v1/sessions/{id}/messages", tag = "sessions", operation_id = "record_message",
    params(("id" = rateline_domain::Id, Path, description = "The session.")),
    request_body = MessageBody,
    responses(
        (status = 202, description = "Recorded.", body = MessageAccepted),
        (status = 404, description = "No such session.", body = ErrorBody),
        (status = 422, description = "A field breaks a rule.", body = ErrorBody),
    ),
)]
async fn message(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<SessionId>,
    ApiJson(body): ApiJson<MessageBody>,
) -> ApiResult<(StatusCode, Json<MessageAccepted>)> {
    let write = SessionWrite::Message {
        from: body.from,
        at: body.at,
    };
    may_write(&state, &caller, &id, write).await?;
    let result = state.engine.record_message(&id, body.from, body.at).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageAccepted {
            cancelled_request_id: result.cancelled_request,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CloseBody {
    closed_by: ClosedBy,
    /// When it closed; now when absent.
    at: Option<DateTime<Utc>>,
    /// Labels of the conversation (at most 20, each 1 to 64 characters): one the line's
    /// `survey.skip_tags` names skips the rating request.
    #[serde(default)]
    tags: Vec<String>,
}

/// What a close did.
#[derive(Serialize, ToSchema)]
struct CloseAccepted {
    /// The request the close scheduled; `null` when the line does not ask or the session
    /// was closed already.
    rating_request: Option<ScheduledRequest>,
}

#[derive(Serialize, ToSchema)]
struct ScheduledRequest {
    id: RequestId,
    /// `scheduled`, or `skipped` when a rule of the line's `survey` chose not to ask.
    status: RequestStatus,
    due_at: DateTime<Utc>,
    /// Why a skipped request is not sent: the rule, and what it saw.
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped_by: Option<String>,
}

/// Closes a session and schedules its rating request. Closing again changes nothing.
#[utoipa::path(
    post, path = "/v1/sessions/{id}/close", tag = "sessions", operation_id = "close_session",
    params(("id" = rateline_domain::Id, Path, description = "The session.")),
    request_body = CloseBody,
    responses(
        (status = 202, description = "Closed (or closed already).", body = CloseAccepted),
        (status = 404, description = "No such session.", body = ErrorBody),
        (status = 422, description = "A field breaks a rule.", body = ErrorBody),
    ),
)]
async fn close(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<SessionId>,
    ApiJson(body): ApiJson<CloseBody>,
) -> ApiResult<(StatusCode, Json<CloseAccepted>)> {
    may_write(&state, &caller, &id, SessionWrite::Close { at: body.at }).await?;
    let result = state
        .engine
        .close_session(&id, body.closed_by, body.at, &body.tags)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(CloseAccepted {
            rating_request: result.request.map(|r| ScheduledRequest {
                skipped_by: r.last_error.filter(|_| r.status == RequestStatus::Skipped),
                id: r.id,
                status: r.status,
                due_at: r.due_at,
            }),
        }),
    ))
}

/// Session `id`, if `caller` may see it: one it may not see is answered exactly as one that
/// does not exist. `None` without keys, where nothing is looked up.
pub async fn visible_session(
    state: &AppState,
    caller: &Caller,
    id: &SessionId,
) -> ApiResult<Option<SessionRecord>> {
    if caller.is_open() {
        return Ok(None);
    }
    let s = state.engine.session(id).await?;
    if caller.sees_session(&s.line_id, s.operator_id.as_deref()) {
        Ok(Some(s))
    } else {
        Err(session_not_found(id).into())
    }
}

/// Whether `caller` may make `write` to session `id` (see [`Caller::may_write_session`]).
async fn may_write(
    state: &AppState,
    caller: &Caller,
    id: &SessionId,
    write: SessionWrite,
) -> ApiResult<()> {
    match visible_session(state, caller, id).await? {
        Some(s) => Ok(caller.may_write_session(
            &s.line_id,
            s.operator_id.as_deref(),
            write,
            state.engine.now(),
        )?),
        None => Ok(()),
    }
}

/// A session with its rating request, its rating at the end of its history and the
/// rating's follow-up.
#[derive(Serialize, ToSchema)]
struct SessionDetail {
    #[serde(flatten)]
    session: SessionOut,
    rating_request: Option<RequestOut>,
    rating: Option<RatingDetail>,
    /// A supervisor's own evaluation of the session.
    evaluation: Option<EvaluationRecord>,
    /// The caller is an operator of a line that shows its ratings to supervisors only
    /// (`rating.operators_see_ratings` off): `rating` is `null` whatever the client
    /// answered.
    rating_hidden: bool,
}

#[derive(Serialize, ToSchema)]
struct RatingDetail {
    #[serde(flatten)]
    rating: RatingOut,
    response: Option<ResponseRecord>,
    appeal: Option<AppealRecord>,
    alerts: Vec<AlertRecord>,
}

/// Shows a session: the chat-history view.
#[utoipa::path(
    get, path = "/v1/sessions/{id}", tag = "sessions", operation_id = "show_session",
    params(("id" = rateline_domain::Id, Path, description = "The session.")),
    responses(
        (status = 200, description = "The session.", body = SessionDetail),
        (status = 404, description = "No such session.", body = ErrorBody),
    ),
)]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<SessionId>,
) -> ApiResult<Json<SessionDetail>> {
    visible_session(&state, &caller, &id).await?;
    let (
        SessionView {
            session,
            request,
            rating,
            response,
            appeal,
            alerts,
            evaluation,
        },
        rating_hidden,
    ) = state.engine.session_view_for(&caller, &id).await?;
    Ok(Json(SessionDetail {
        rating_hidden,
        session: (&session).into(),
        rating_request: request.as_ref().map(RequestOut::from),
        rating: rating.map(|(r, h)| RatingDetail {
            rating: RatingOut::new(&r, &h),
            response,
            appeal,
            alerts,
        }),
        evaluation,
    }))
}

/// A rating request and where it stands.
#[derive(Serialize, ToSchema)]
struct RequestOut {
    id: RequestId,
    status: RequestStatus,
    channel: Channel,
    /// The operator the rating is credited to: the one of the session at its close.
    operator_id: Option<String>,
    scale: Scale,
    due_at: DateTime<Utc>,
    attempts: i64,
    last_error: Option<String>,
    platform_message_id: Option<String>,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    answered_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

impl From<&RequestRecord> for RequestOut {
    fn from(r: &RequestRecord) -> Self {
        Self {
            id: r.id.clone(),
            status: r.status,
            channel: r.channel,
            operator_id: r.operator_id.clone(),
            scale: r.scale,
            due_at: r.due_at,
            attempts: r.attempts,
            last_error: r.last_error.clone(),
            platform_message_id: r.platform_message_id.clone(),
            created_at: r.created_at,
            sent_at: r.sent_at,
            delivered_at: r.delivered_at,
            answered_at: r.answered_at,
            expires_at: r.expires_at,
            finished_at: r.finished_at,
        }
    }
}

/// A rating, as it stands now, with every version the client gave.
#[derive(Serialize, ToSchema)]
pub(super) struct RatingOut {
    id: String,
    request_id: RequestId,
    /// 0/1 on a binary line, 1..5 on a five-star one.
    value: i64,
    low: bool,
    comment: Option<String>,
    resolved: Option<bool>,
    /// The ids of the reasons the client picked after a low rating, in the line's order
    /// (`[]`: none); `null` while not answered.
    reasons: Option<Vec<String>>,
    /// Given after the request's reminder was sent: the reminder brought it.
    after_reminder: bool,
    /// How many times the client changed it.
    changes: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// Voided by an approved appeal: out of the report, kept here.
    voided: bool,
    voided_at: Option<DateTime<Utc>>,
    comment_flagged: bool,
    /// Who flagged the comment (a person's id, or `key <id>`).
    comment_flagged_by: Option<String>,
    /// Set only while a grace period holds the rating out of the report.
    counts_from: Option<DateTime<Utc>>,
    history: Vec<RevisionOut>,
}

#[derive(Serialize, ToSchema)]
struct RevisionOut {
    revision: i64,
    value: i64,
    comment: Option<String>,
    resolved: Option<bool>,
    reasons: Option<Vec<String>>,
    recorded_at: DateTime<Utc>,
}

impl RatingOut {
    pub(super) fn new(r: &RatingRecord, history: &[RatingRevision]) -> Self {
        Self {
            id: r.id.clone(),
            request_id: r.request_id.clone(),
            value: r.value,
            low: r.low,
            comment: r.comment.clone(),
            resolved: r.resolved,
            reasons: r.reasons.clone(),
            after_reminder: r.after_reminder,
            changes: r.changes,
            created_at: r.created_at,
            updated_at: r.updated_at,
            voided: r.voided_at.is_some(),
            voided_at: r.voided_at,
            comment_flagged: r.comment_flagged,
            comment_flagged_by: r.comment_flagged_by.clone(),
            counts_from: (r.counts_from > r.created_at).then_some(r.counts_from),
            history: history
                .iter()
                .map(|h| RevisionOut {
                    revision: h.revision,
                    value: h.value,
                    comment: h.comment.clone(),
                    resolved: h.resolved,
                    reasons: h.reasons.clone(),
                    recorded_at: h.recorded_at,
                })
                .collect(),
        }
    }
}
