//! The web chat channel: tokens for the widget, the widget's script, its live connection,
//! acknowledgements and answers, and the CORS rules that keep it on the sites a line names.
//!
//! Nothing is pushed at a due time by the scheduler. A web chat request stays `scheduled`
//! until a widget of its session is connected and the request is due; the widget's live
//! connection (server-sent events) then gets the card, and its acknowledgement makes the
//! request `delivered` (sent and delivered at once: a widget really showed it). A client who
//! closed the tab gets the card when they come back within the answer window; after it the
//! request ends `expired`.
//!
//! A connection wakes when its session's signal is raised in this process (a close, a
//! client message, an answer from another tab), when the request falls due on the engine's
//! clock, and every [`KEEP_ALIVE`] to send a keep-alive and look again, which is how it
//! learns of a close made by another process sharing the database.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use rateline_adapters::webchat::{
    AckMessage, AnswerMessage, Card, CardRating, CardTexts, TokenError, TokenSigner, WIDGET_JS,
};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::domain::{Channel, RatingAnswer, RequestStatus};
use crate::engine::Engine;
use crate::http::{ApiError, ApiJson, ApiPath, ApiResult, AppState};
use crate::store::AnswerTarget;

/// How often an idle live connection sends a keep-alive and looks at its request again.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The name the token key is kept under in the store when none is configured.
const KEY_NAME: &str = "webchat_token";

/// The web chat channel's shared state.
pub struct Webchat {
    engine: Engine,
    signer: TokenSigner,
    ttl: chrono::Duration,
    public_url: String,
    /// The origin of `public_url`: Rateline's own pages need no CORS.
    own_origin: String,
    /// Cancelled when the server stops: live connections end so shutdown is not held up.
    closing: CancellationToken,
    /// The live connections open now, per token and per client address, and their caps.
    streams: Arc<Streams>,
}

/// The widget's live connections open now, counted per token and per client address so
/// that one token or one address cannot hold thousands (each holds a connection, a task
/// and a little memory).
#[derive(Debug, Default)]
struct Streams {
    per_token: Mutex<HashMap<String, usize>>,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    max_per_token: usize,
    max_per_address: usize,
}

/// A live connection's place under the caps, given back when the connection ends.
struct StreamPlace {
    streams: Arc<Streams>,
    token: String,
    address: Option<IpAddr>,
}

impl Drop for StreamPlace {
    fn drop(&mut self) {
        release(&self.streams.per_token, &self.token);
        if let Some(a) = &self.address {
            release(&self.streams.per_address, a);
        }
    }
}

fn release<K: std::hash::Hash + Eq>(counts: &Mutex<HashMap<K, usize>>, key: &K) {
    let mut counts = counts.lock().expect("streams lock");
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

/// Takes a place for `key` unless `max` are taken.
fn take_place<K: std::hash::Hash + Eq>(
    counts: &Mutex<HashMap<K, usize>>,
    key: K,
    max: usize,
) -> bool {
    let mut counts = counts.lock().expect("streams lock");
    let n = counts.entry(key).or_insert(0);
    if *n >= max {
        return false;
    }
    *n += 1;
    true
}

impl Streams {
    /// A place for a new live connection with `token` from `address`, or the 429 that
    /// says which cap is full.
    fn admit(self: &Arc<Self>, token: &str, address: Option<IpAddr>) -> ApiResult<StreamPlace> {
        let refused = |what: &str, max: usize, setting: &str| {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_streams",
                format!(
                    "{what} holds the most live widget connections it may ({max}, \
                     webchat.{setting}); close a tab or try again shortly"
                ),
            );
            e.retry_after = Some(KEEP_ALIVE.as_secs());
            e
        };
        if !take_place(&self.per_token, token.to_owned(), self.max_per_token) {
            return Err(refused(
                "this token",
                self.max_per_token,
                "max_streams_per_token",
            ));
        }
        if let Some(a) = address
            && !take_place(&self.per_address, a, self.max_per_address)
        {
            release(&self.per_token, &token.to_owned());
            return Err(refused(
                "this address",
                self.max_per_address,
                "max_streams_per_address",
            ));
        }
        Ok(StreamPlace {
            streams: self.clone(),
            token: token.to_owned(),
            address,
        })
    }
}

impl Webchat {
    /// Where clients and browsers reach this server.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The channel, signing with `secret` or, when none is configured, with the key the
    /// store keeps for every process (made at the first start).
    pub async fn new(
        engine: Engine,
        settings: &crate::settings::WebchatSettings,
        public_url: &str,
    ) -> Result<Self, crate::store::StoreError> {
        let (secret, ttl_hours) = (settings.token_secret.as_deref(), settings.token_ttl_hours);
        let key = match secret {
            Some(s) => s.to_owned(),
            None => {
                let candidate = hex::encode(rand::random::<[u8; 32]>());
                engine
                    .store()
                    .server_key(KEY_NAME, &candidate, engine.now())
                    .await?
            }
        };
        Ok(Self {
            engine,
            signer: TokenSigner::new(key.as_bytes()),
            ttl: chrono::Duration::hours(i64::from(ttl_hours)),
            public_url: public_url.trim_end_matches('/').to_owned(),
            own_origin: reqwest::Url::parse(public_url)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default(),
            closing: CancellationToken::new(),
            streams: Arc::new(Streams {
                max_per_token: settings.max_streams_per_token,
                max_per_address: settings.max_streams_per_address,
                ..Streams::default()
            }),
        })
    }

    /// Ends every live connection (the server is stopping).
    pub fn close_connections(&self) {
        self.closing.cancel();
    }

    /// The session a token names, its newest request, and the CORS header the answer must
    /// carry; refused when the token is bad or the page's origin is not one the line allows.
    async fn authorize(
        &self,
        token: &str,
        headers: &HeaderMap,
    ) -> ApiResult<(String, Option<AnswerTarget>, Option<HeaderValue>)> {
        let session_id = self
            .signer
            .verify(token, self.engine.now())
            .map_err(token_refused)?;
        // The session's line decides, also before the session has a request.
        let session = self.engine.session(&session_id).await?;
        let line = self.engine.line(&session.line_id).await?;
        let cors = allowed_origin(
            headers,
            &self.own_origin,
            &line.settings.webchat.allowed_origins,
        )?;
        let target = self.engine.store().webchat_target(&session_id).await?;
        Ok((session_id, target, cors))
    }
}

fn token_refused(e: TokenError) -> ApiError {
    let code = match e {
        TokenError::Expired(_) => "token_expired",
        TokenError::Malformed | TokenError::Forged => "invalid_token",
    };
    ApiError::new(StatusCode::UNAUTHORIZED, code, e.to_string())
}

/// The `Access-Control-Allow-Origin` an answer carries: none for a call without an `Origin`
/// (not from a browser) or from Rateline's own pages (`own`, the origin of
/// `server.public_url`, or the `Host` the call came to), the origin itself when the line
/// allows it; any other origin is refused before anything is written.
fn allowed_origin(
    headers: &HeaderMap,
    own: &str,
    allowed: &[String],
) -> ApiResult<Option<HeaderValue>> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(None);
    };
    let origin_str = origin.to_str().unwrap_or("");
    let same_site = origin_str == own
        || headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|host| {
                origin_str.strip_prefix("http://") == Some(host)
                    || origin_str.strip_prefix("https://") == Some(host)
            });
    if same_site {
        return Ok(None);
    }
    if allowed.iter().any(|a| a == origin_str) {
        return Ok(Some(origin.clone()));
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "origin_not_allowed",
        format!(
            "the widget may not run on {origin_str}: add it to the line's webchat.allowed_origins"
        ),
    ))
}

/// `response` with the CORS headers of an allowed origin.
fn with_cors(mut response: Response, cors: Option<HeaderValue>) -> Response {
    let h = response.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = cors {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response
}

fn webchat(state: &AppState) -> &Webchat {
    &state.webchat
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
    params(("id" = crate::domain::Id, Path, description = "The session (opened with `\"channel\": \"webchat\"`).")),
    responses(
        (status = 201, description = "A new token.", body = WidgetToken),
        (status = 404, description = "No such session.", body = crate::http::ErrorBody),
        (status = 409, description = "The session is on another channel (`not_a_webchat_session`).", body = crate::http::ErrorBody),
    ),
)]
pub async fn mint_token(
    State(state): State<AppState>,
    caller: crate::auth::Caller,
    ApiPath(session_id): ApiPath,
) -> ApiResult<(StatusCode, Json<WidgetToken>)> {
    let w = webchat(&state);
    caller.not_operator("a web chat token")?;
    crate::http::visible_session(&state, &caller, &session_id).await?;
    let session = w.engine.session(&session_id).await?;
    if session.channel != Channel::Webchat {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_a_webchat_session",
            format!(
                "session '{session_id}' is on the {} channel; web chat tokens are for sessions opened with \"channel\": \"webchat\"",
                session.channel
            ),
        ));
    }
    let expires_at = w.engine.now() + w.ttl;
    let token = w.signer.mint(&session_id, expires_at);
    let embed = format!(
        "<script src=\"{}/widget.js\" data-token=\"{token}\" async></script>",
        w.public_url
    );
    Ok((
        StatusCode::CREATED,
        Json(WidgetToken {
            token,
            expires_at: expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            embed,
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

/// What a live connection shows for its session's newest request.
#[derive(Debug, Clone, PartialEq)]
enum View {
    /// Nothing yet: the session is open, or has no request.
    Nothing,
    /// A request that falls due at this moment.
    DueAt(DateTime<Utc>),
    Card(Box<Card>),
    /// The request ended unanswered (`expired`, `cancelled`, …): its card goes away.
    Gone {
        request_id: String,
        status: String,
    },
}

fn view(target: Option<&AnswerTarget>, now: DateTime<Utc>) -> View {
    let Some(t) = target else {
        return View::Nothing;
    };
    let r = &t.request;
    let gone = |status: &str| View::Gone {
        request_id: r.id.clone(),
        status: status.to_owned(),
    };
    // The sweep may not have run yet; a passed answer window is passed all the same.
    if r.status != RequestStatus::Answered && r.expires_at.is_some_and(|end| end <= now) {
        return gone(RequestStatus::Expired.as_str());
    }
    match r.status {
        RequestStatus::Scheduled if r.due_at > now => View::DueAt(r.due_at),
        RequestStatus::Scheduled
        | RequestStatus::Sending
        | RequestStatus::Sent
        | RequestStatus::Delivered
        | RequestStatus::Answered => View::Card(Box::new(card(t, now))),
        other => gone(other.as_str()),
    }
}

fn card(t: &AnswerTarget, now: DateTime<Utc>) -> Card {
    let settings = &t.line.rating;
    let can_change = t.rating.as_ref().is_none_or(|r| {
        r.changes < i64::from(settings.max_changes)
            && now < r.created_at + chrono::Duration::days(i64::from(settings.change_window_days))
    });
    Card {
        request_id: t.request.id.clone(),
        scale: t.request.scale,
        language: settings.language.clone(),
        ask_resolved: settings.ask_resolved,
        ask_comment_on_low: settings.ask_comment_on_low,
        rating: t.rating.as_ref().map(|r| CardRating {
            value: r.value,
            low: r.low,
            comment: r.comment.clone(),
            resolved: r.resolved,
        }),
        can_change,
        texts: CardTexts::new(
            &settings.language,
            &settings.request_text,
            &settings.thanks_text,
        ),
    }
}

/// `GET /webchat/events?token=…`: the widget's live connection (server-sent events).
/// Events: `card` (the card to show, again after a reconnection) and `gone`.
pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::http::ClientIp(ip): crate::http::ClientIp,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Response> {
    let w = webchat(&state);
    let (session_id, _, cors) = w.authorize(&q.token, &headers).await?;
    let place = w.streams.admit(&q.token, ip)?;
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        follow(state.clone(), session_id, tx).await;
        drop(place);
    });
    let stream =
        Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE));
    let mut response = stream.into_response();
    // nginx buffers responses by default, which would hold events back.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(with_cors(response, cors))
}

/// Feeds one live connection until the widget goes away or the server stops.
async fn follow(state: AppState, session_id: String, tx: mpsc::Sender<Result<Event, Infallible>>) {
    let w = webchat(&state);
    let mut signal = w.engine.signals().subscribe(&session_id);
    let mut shown: Option<View> = None;
    loop {
        let now = w.engine.now();
        let current = match w.engine.store().webchat_target(&session_id).await {
            Ok(t) => view(t.as_ref(), now),
            Err(e) => {
                // The database is away: keep the connection, look again at the next tick.
                tracing::warn!(error = %e, "web chat: cannot read the session's request");
                shown.clone().unwrap_or(View::Nothing)
            }
        };
        let event = match &current {
            _ if shown.as_ref() == Some(&current) => None,
            View::Card(c) => Some(Event::default().event("card").json_data(c)),
            // Only a card that was shown is taken away.
            View::Gone { request_id, status } if matches!(&shown, Some(View::Card(_))) => Some(
                Event::default()
                    .event("gone")
                    .json_data(json!({"request_id": request_id, "status": status})),
            ),
            _ => None,
        };
        if let Some(event) = event {
            let event = event.expect("a card serializes");
            if tx.send(Ok(event)).await.is_err() {
                return;
            }
        }
        let due = match current {
            View::DueAt(at) => Some(at),
            _ => None,
        };
        shown = Some(current);
        tokio::select! {
            _ = signal.changed() => {}
            () = async {
                match due {
                    Some(at) => w.engine.clock().sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {}
            () = tokio::time::sleep(KEEP_ALIVE) => {}
            () = tx.closed() => return,
            () = w.closing.cancelled() => return,
        }
    }
}

/// The request a widget message names, if it is the token's session's current request.
fn named_request<'a>(
    session_id: &str,
    target: Option<&'a AnswerTarget>,
    request_id: &str,
) -> ApiResult<&'a AnswerTarget> {
    target
        .filter(|t| t.request.id == request_id)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "not_this_session",
                format!(
                    "request '{request_id}' is not the rating request of session '{session_id}', the session this token is for"
                ),
            )
        })
}

/// `POST /webchat/ack`: the widget showed the card.
pub async fn ack(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(msg): ApiJson<AckMessage>,
) -> ApiResult<Response> {
    let w = webchat(&state);
    let (session_id, target, cors) = w.authorize(&msg.token, &headers).await?;
    let run = async {
        named_request(&session_id, target.as_ref(), &msg.request_id)?;
        let status = w
            .engine
            .widget_showed(&msg.request_id, &session_id)
            .await?
            .unwrap_or(RequestStatus::Scheduled);
        Ok::<_, ApiError>(Json(
            json!({"request_id": msg.request_id, "status": status.as_str()}),
        ))
    };
    Ok(with_cors(run.await.into_response(), cors))
}

/// `POST /webchat/answer`: a rating, a follow-up or a change of mind from the card.
/// Answers with the card as it now stands.
pub async fn answer(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(msg): ApiJson<AnswerMessage>,
) -> ApiResult<Response> {
    let w = webchat(&state);
    let (session_id, target, cors) = w.authorize(&msg.token, &headers).await?;
    let run = async {
        let named = named_request(&session_id, target.as_ref(), &msg.request_id)?;
        let answer = RatingAnswer {
            request_id: msg.request_id.clone(),
            value: msg.value,
            comment: msg.comment.clone(),
            resolved: msg.resolved,
        };
        // Checked before the card counts as shown: a refused answer changes nothing.
        answer
            .validate(named.request.scale)
            .map_err(|i| ApiError::from(crate::engine::EngineError::Invalid(i)))?;
        // A card answered is a card shown, should its acknowledgement have been lost.
        w.engine.widget_showed(&msg.request_id, &session_id).await?;
        let submitted = w.engine.submit_rating(answer).await?;
        // Other tabs of the same client show the new state.
        w.engine.signals().raise(&session_id);
        let target = w
            .engine
            .store()
            .webchat_target(&session_id)
            .await?
            .ok_or_else(|| {
                ApiError::from(crate::store::StoreError::Corrupt(
                    "a rated web chat request vanished".into(),
                ))
            })?;
        let status = if submitted.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok::<_, ApiError>((status, Json(card(&target, w.engine.now()))))
    };
    Ok(with_cors(run.await.into_response(), cors))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    const OWN: &str = "https://rateline.example";

    fn allowed_origin_test(h: &HeaderMap, allowed: &[String]) -> ApiResult<Option<HeaderValue>> {
        allowed_origin(h, OWN, allowed)
    }

    #[test]
    fn live_connections_are_capped_per_token_and_per_address_and_give_places_back() {
        let streams = Arc::new(Streams {
            max_per_token: 2,
            max_per_address: 3,
            ..Streams::default()
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let first = streams.admit("t1", Some(a)).unwrap();
        let _second = streams.admit("t1", Some(a)).unwrap();
        let e = streams.admit("t1", Some(a)).err().unwrap();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::TOO_MANY_REQUESTS, "too_many_streams")
        );
        let _third = streams.admit("t2", Some(a)).unwrap();
        let e = streams.admit("t3", Some(a)).err().unwrap();
        assert!(e.message.contains("this address"), "{}", e.message);
        // A refusal by the address gives back the token's place it took.
        assert_eq!(streams.per_token.lock().unwrap().get("t3"), None);
        drop(first);
        assert!(
            streams.admit("t1", Some(a)).is_ok(),
            "a closed connection's place is free"
        );
    }

    #[test]
    fn origins_are_the_lines_own_or_rateline_itself() {
        // Behind a proxy the Host may differ; the public URL's origin is Rateline's own.
        assert_eq!(
            allowed_origin_test(&headers(&[("origin", OWN), ("host", "10.0.0.5:8080")]), &[])
                .unwrap(),
            None
        );
        let allowed = ["https://shop.example".to_owned()];
        assert_eq!(allowed_origin_test(&headers(&[]), &allowed).unwrap(), None);
        assert_eq!(
            allowed_origin_test(
                &headers(&[
                    ("origin", "http://rateline.local:8080"),
                    ("host", "rateline.local:8080")
                ]),
                &allowed
            )
            .unwrap(),
            None
        );
        assert_eq!(
            allowed_origin_test(&headers(&[("origin", "https://shop.example")]), &allowed).unwrap(),
            Some(HeaderValue::from_static("https://shop.example"))
        );
        for other in [
            "https://evil.example",
            "http://shop.example",
            "https://shop.example:444",
        ] {
            let e = allowed_origin_test(&headers(&[("origin", other)]), &allowed).unwrap_err();
            assert_eq!(
                (e.status, e.code),
                (StatusCode::FORBIDDEN, "origin_not_allowed")
            );
        }
    }
}
