//! The web chat widget's endpoints: the token an integration asks for, the widget's
//! script, its live connection (server-sent events), its acknowledgements and answers. What
//! they do is [`crate::channels::webchat`]'s; this module reads requests, adds the CORS
//! headers an allowed origin needs, and maps refusals to statuses.

use rateline_domain::{ErrorCode, SessionId};
use std::convert::Infallible;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use rateline_adapters::webchat::{AckMessage, AnswerMessage, TokenError, WIDGET_JS};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::error::{ApiError, ApiResult, created_or_ok};
use super::extract::{ApiJson, ApiPath, ClientIp};
use super::state::AppState;
use crate::channels::webchat::{Caller, KEEP_ALIVE, WidgetError, WidgetEvent};
use crate::policy::Caller as ApiCaller;

impl From<WidgetError> for ApiError {
    fn from(e: WidgetError) -> Self {
        let message = e.to_string();
        let code = match e {
            WidgetError::Engine(e) => return e.into(),
            WidgetError::Token(TokenError::Expired(_)) => ErrorCode::TokenExpired,
            WidgetError::Token(TokenError::Malformed | TokenError::Forged) => {
                ErrorCode::InvalidToken
            }
            WidgetError::OriginNotAllowed(_) => ErrorCode::OriginNotAllowed,
            WidgetError::NotThisSession { .. } => ErrorCode::NotThisSession,
            WidgetError::NotWebchat { .. } => ErrorCode::NotAWebchatSession,
            WidgetError::TooManyStreams { .. } => {
                let mut refused = ApiError::new(ErrorCode::TooManyStreams, message);
                refused.retry_after = Some(KEEP_ALIVE.as_secs());
                return refused;
            }
        };
        ApiError::new(code, message)
    }
}

/// `response` with the CORS headers of an allowed origin.
fn with_cors(mut response: Response, caller: &Caller) -> Response {
    let h = response.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = caller
        .cors
        .as_deref()
        .and_then(|o| HeaderValue::from_str(o).ok())
    {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response
}

/// The widget's caller for `token`, judged by the page's `Origin` and the `Host` it called.
async fn authorize(state: &AppState, token: &str, headers: &HeaderMap) -> ApiResult<Caller> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    Ok(state
        .webchat
        .authorize(token, text(header::ORIGIN), text(header::HOST))
        .await?)
}

/// A web chat token and the tag that embeds the widget with it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct WidgetToken {
    /// Names one session; give it to that session's page only.
    token: String,
    expires_at: String,
    /// `<script src=".../widget.js" data-token="..." async></script>`
    embed: String,
}

/// A token for the widget of a web chat session: the page that embeds it shows the
/// session's rating card.
#[utoipa::path(
    post, path = "/v1/sessions/{id}/webchat-token", tag = "sessions", operation_id = "webchat_token",
    params(("id" = rateline_domain::Id, Path, description = "The session (opened with `\"channel\": \"webchat\"`).")),
    responses(
        (status = 201, description = "A new token.", body = WidgetToken),
        (status = 404, description = "No such session.", body = super::openapi::ErrorBody),
        (status = 409, description = "The session is on another channel (`not_a_webchat_session`).", body = super::openapi::ErrorBody),
    ),
)]
pub async fn mint_token(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiPath(session_id): ApiPath<SessionId>,
) -> ApiResult<(StatusCode, Json<WidgetToken>)> {
    caller.not_operator("a web chat token")?;
    super::sessions::visible_session(&state, &caller, &session_id).await?;
    let minted = state.webchat.mint(&session_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(WidgetToken {
            token: minted.token,
            expires_at: minted
                .expires_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            embed: minted.embed,
        }),
    ))
}

/// `GET /widget.js`.
pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            // Short: a fixed widget reaches every page within minutes.
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        WIDGET_JS,
    )
        .into_response()
}

/// The preflight of the widget's POSTs. The real call is checked against the session's
/// line; the preflight cannot be (it carries no token) and only says which method and
/// header the call may use.
pub async fn preflight(headers: HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    if let Some(origin) = headers.get(header::ORIGIN) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    response
}

#[derive(Deserialize)]
pub struct EventsQuery {
    token: String,
}

/// An event of the live connection: `card` (the card to show, again after a
/// reconnection) or `gone`.
fn sse(event: WidgetEvent) -> Result<Event, Infallible> {
    let event = match event {
        WidgetEvent::Card(card) => Event::default().event("card").json_data(card),
        WidgetEvent::Gone { request_id, status } => Event::default()
            .event("gone")
            .json_data(json!({"request_id": request_id, "status": status})),
    };
    Ok(event.expect("a widget event serializes"))
}

/// `GET /webchat/events?token=…`: the widget's live connection (server-sent events).
pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Response> {
    let caller = authorize(&state, &q.token, &headers).await?;
    let place = state.webchat.admit_stream(&q.token, ip)?;
    let (tx, rx) = mpsc::channel(4);
    let webchat = state.webchat.clone();
    let session_id = caller.session_id.clone();
    tokio::spawn(async move {
        webchat.follow(session_id, tx).await;
        drop(place);
    });
    let stream = Sse::new(ReceiverStream::new(rx).map(sse))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE));
    let mut response = stream.into_response();
    // nginx buffers responses by default, which would hold events back.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(with_cors(response, &caller))
}

/// `POST /webchat/ack`: the widget showed the card.
pub async fn ack(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(msg): ApiJson<AckMessage>,
) -> ApiResult<Response> {
    let caller = authorize(&state, &msg.token, &headers).await?;
    let answer = match state.webchat.ack(&caller, &msg.request_id).await {
        Ok(status) => {
            Json(json!({"request_id": msg.request_id, "status": status.as_str()})).into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    };
    Ok(with_cors(answer, &caller))
}

/// `POST /webchat/answer`: a rating, a follow-up or a change of mind from the card.
/// Answers with the card as it now stands: `201` for a first answer, `200` for a change.
pub async fn answer(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(msg): ApiJson<AnswerMessage>,
) -> ApiResult<Response> {
    let caller = authorize(&state, &msg.token, &headers).await?;
    let answer = match state.webchat.answer(&caller, &msg).await {
        Ok((submitted, card)) => (created_or_ok(submitted.created), Json(card)).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    };
    Ok(with_cors(answer, &caller))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_have_their_statuses_and_codes() {
        let cases = [
            (
                WidgetError::Token(TokenError::Forged),
                StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidToken,
            ),
            (
                WidgetError::OriginNotAllowed("https://evil.example".into()),
                StatusCode::FORBIDDEN,
                ErrorCode::OriginNotAllowed,
            ),
            (
                WidgetError::TooManyStreams {
                    what: "this token",
                    max: 8,
                    setting: "max_streams_per_token",
                },
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::TooManyStreams,
            ),
        ];
        for (e, status, code) in cases {
            let api = ApiError::from(e);
            assert_eq!((api.status, api.code), (status, code));
        }
    }
}
