//! The web chat channel: tokens for the widget, its live connection, acknowledgements and
//! answers, and the CORS rules that keep it on the sites a line names. The HTTP endpoints
//! that carry them are `crate::http`'s (its `webchat` module).
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
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rateline_adapters::webchat::{
    AnswerMessage, Card, CardRating, CardTexts, TokenError, TokenSigner,
};
use rateline_domain::{Channel, ClientAddress, RatingAnswer, RequestStatus, SessionId};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::engine::{Engine, EngineError, Submitted};
use crate::store::AnswerTarget;

/// How often an idle live connection sends a keep-alive and looks at its request again.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The name the token key is kept under in the store when none is configured.
const KEY_NAME: &str = "webchat_token";

/// Why a widget's call was refused; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum WidgetError {
    /// A token that is malformed, forged or expired.
    #[error("{0}")]
    Token(TokenError),
    /// A page whose origin the line does not list.
    #[error("the widget may not run on {0}: add it to the line's webchat.allowed_origins")]
    OriginNotAllowed(String),
    /// A request that is not the token's session's current one.
    #[error(
        "request '{request_id}' is not the rating request of session '{session_id}', the session this token is for"
    )]
    NotThisSession {
        /// The request the widget named.
        request_id: String,
        /// The session the token is for.
        session_id: String,
    },
    /// A session on another channel.
    #[error(
        "session '{session_id}' is on the {channel} channel; web chat tokens are for sessions opened with \"channel\": \"webchat\""
    )]
    NotWebchat {
        /// The session the token would be for.
        session_id: String,
        /// The channel that session is on.
        channel: Channel,
    },
    /// One of the live connections' caps is full.
    #[error(
        "{what} holds the most live widget connections it may ({max}, webchat.{setting}); close a tab or try again shortly"
    )]
    TooManyStreams {
        /// What holds the connections: `this token` or `this address`.
        what: &'static str,
        /// The cap it reached.
        max: usize,
        /// The setting under `webchat` that sets the cap.
        setting: &'static str,
    },
    /// The engine refused the call, or the store failed: answered as the API answers it.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<crate::store::StoreError> for WidgetError {
    fn from(e: crate::store::StoreError) -> Self {
        WidgetError::Engine(e.into())
    }
}

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

/// A token minted for a session.
#[derive(Debug, Clone)]
pub struct Minted {
    /// The token: its holder may read and answer the session's request until `expires_at`.
    pub token: String,
    /// When the token stops working: `webchat.token_ttl_hours` after it was minted.
    pub expires_at: DateTime<Utc>,
    /// The tag that embeds the widget with the token.
    pub embed: String,
}

/// Who a widget's call is from: the session its token names, the session's current
/// request, and the origin the answer may name in `Access-Control-Allow-Origin`.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The session the token names.
    pub session_id: SessionId,
    /// The session's request, with its line and rating; `None` while it has none.
    pub target: Option<AnswerTarget>,
    /// `None` for a call from no browser page, or from Rateline's own.
    pub cors: Option<String>,
}

/// The widget's live connections open now, counted per token and per client address so
/// that one token or one address cannot hold thousands (each holds a connection, a task
/// and a little memory).
#[derive(Debug, Default)]
struct Streams {
    per_token: Mutex<HashMap<String, usize>>,
    /// By [`ClientAddress`]: an IPv6 client by its /64.
    per_address: Mutex<HashMap<ClientAddress, usize>>,
    max_per_token: usize,
    max_per_address: usize,
}

/// A live connection's place under the caps, given back when the connection ends.
pub struct StreamPlace {
    streams: Arc<Streams>,
    token: String,
    address: Option<ClientAddress>,
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
    /// A place for a new live connection with `token` from `address`, or which cap is full.
    fn admit(
        self: &Arc<Self>,
        token: &str,
        address: Option<IpAddr>,
    ) -> Result<StreamPlace, WidgetError> {
        if !take_place(&self.per_token, token.to_owned(), self.max_per_token) {
            return Err(WidgetError::TooManyStreams {
                what: "this token",
                max: self.max_per_token,
                setting: "max_streams_per_token",
            });
        }
        let address = address.map(ClientAddress::of);
        if let Some(a) = address
            && !take_place(&self.per_address, a, self.max_per_address)
        {
            release(&self.per_token, &token.to_owned());
            return Err(WidgetError::TooManyStreams {
                what: "this address",
                max: self.max_per_address,
                setting: "max_streams_per_address",
            });
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
                engine.server_key(KEY_NAME, &candidate).await?
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

    /// A token for the widget of web chat session `session_id`.
    pub async fn mint(&self, session_id: &SessionId) -> Result<Minted, WidgetError> {
        let session = self.engine.session(session_id).await?;
        if session.channel != Channel::Webchat {
            return Err(WidgetError::NotWebchat {
                session_id: session_id.to_string(),
                channel: session.channel,
            });
        }
        let expires_at = self.engine.now() + self.ttl;
        let token = self.signer.mint(session_id, expires_at);
        let embed = format!(
            "<script src=\"{}/widget.js\" data-token=\"{token}\" async></script>",
            self.public_url
        );
        Ok(Minted {
            token,
            expires_at,
            embed,
        })
    }

    /// The session a token names, its newest request, and the origin the answer names;
    /// refused when the token is bad or the page's origin (`origin`, with the `host` the
    /// call came to) is not one the line allows.
    pub async fn authorize(
        &self,
        token: &str,
        origin: Option<&str>,
        host: Option<&str>,
    ) -> Result<Caller, WidgetError> {
        // A token names a session Rateline itself signed: an id already checked.
        let session_id = self
            .signer
            .verify(token, self.engine.now())
            .map(SessionId::stored)
            .map_err(WidgetError::Token)?;
        // The session's line decides, also before the session has a request.
        let session = self.engine.session(&session_id).await?;
        let line = self.engine.line(&session.line_id).await?;
        let cors = allowed_origin(
            origin,
            host,
            &self.own_origin,
            &line.settings.webchat.allowed_origins,
        )?;
        let target = self.engine.webchat_target(&session_id).await?;
        Ok(Caller {
            session_id,
            target,
            cors,
        })
    }

    /// A place for a new live connection with `token` from `address` (see the caps).
    pub fn admit_stream(
        &self,
        token: &str,
        address: Option<IpAddr>,
    ) -> Result<StreamPlace, WidgetError> {
        self.streams.admit(token, address)
    }

    /// The widget showed the card of `request_id`: the request's status now.
    pub async fn ack(
        &self,
        caller: &Caller,
        request_id: &str,
    ) -> Result<RequestStatus, WidgetError> {
        let named = named_request(caller, request_id)?;
        Ok(self
            .engine
            .widget_showed(&named.request.id, &caller.session_id)
            .await?
            .unwrap_or(RequestStatus::Scheduled))
    }

    /// A rating, a follow-up or a change of mind from the card: the rating as stored and the
    /// card as it now stands.
    pub async fn answer(
        &self,
        caller: &Caller,
        msg: &AnswerMessage,
    ) -> Result<(Submitted, Card), WidgetError> {
        let named = named_request(caller, &msg.request_id)?;
        let answer = RatingAnswer {
            request_id: msg.request_id.clone(),
            value: msg.value,
            comment: msg.comment.clone(),
            resolved: msg.resolved,
            reasons: msg.reasons.clone(),
        };
        // Checked before the card counts as shown: a refused answer changes nothing.
        answer
            .validate(named.request.scale)
            .map_err(|i| WidgetError::Engine(EngineError::Invalid(i)))?;
        // A card answered is a card shown, should its acknowledgement have been lost.
        self.engine
            .widget_showed(&named.request.id, &caller.session_id)
            .await?;
        let submitted = self.engine.submit_rating(answer).await?;
        // Other tabs of the same client show the new state.
        self.engine.signals().raise(&caller.session_id);
        let target = self
            .engine
            .webchat_target(&caller.session_id)
            .await?
            .ok_or_else(|| {
                WidgetError::Engine(EngineError::Store(crate::store::StoreError::Corrupt(
                    "a rated web chat request vanished".into(),
                )))
            })?;
        Ok((submitted, card(&target, self.engine.now())))
    }

    /// Feeds one live connection with what its widget should show, until the widget goes
    /// away (`tx` closes) or the server stops.
    pub async fn follow(&self, session_id: SessionId, tx: mpsc::Sender<WidgetEvent>) {
        let mut signal = self.engine.signals().subscribe(&session_id);
        let mut shown: Option<View> = None;
        loop {
            let now = self.engine.now();
            let current = match self.engine.webchat_target(&session_id).await {
                Ok(t) => view(t.as_ref(), now),
                Err(e) => {
                    // The database is away: keep the connection, look again at the next tick.
                    tracing::warn!(error = %e, "web chat: cannot read the session's request");
                    shown.clone().unwrap_or(View::Nothing)
                }
            };
            let event = match &current {
                _ if shown.as_ref() == Some(&current) => None,
                View::Card(c) => Some(WidgetEvent::Card(c.clone())),
                // Only a card that was shown is taken away.
                View::Gone { request_id, status } if matches!(&shown, Some(View::Card(_))) => {
                    Some(WidgetEvent::Gone {
                        request_id: request_id.clone(),
                        status: status.clone(),
                    })
                }
                _ => None,
            };
            if let Some(event) = event
                && tx.send(event).await.is_err()
            {
                return;
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
                        Some(at) => self.engine.clock().sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => {}
                () = tokio::time::sleep(KEEP_ALIVE) => {}
                () = tx.closed() => return,
                () = self.closing.cancelled() => return,
            }
        }
    }
}

/// What a live connection tells its widget.
#[derive(Debug, Clone, PartialEq)]
pub enum WidgetEvent {
    /// The card to show (again after a reconnection).
    Card(Box<Card>),
    /// The request ended unanswered: its card goes away.
    Gone {
        /// The request whose card goes away.
        request_id: String,
        /// How it ended: `expired`, `cancelled`, ….
        status: String,
    },
}

/// The origin an answer names in `Access-Control-Allow-Origin`: none for a call without an
/// `Origin` (not from a browser) or from Rateline's own pages (`own`, the origin of
/// `server.public_url`, or the `host` the call came to), the origin itself when the line
/// allows it; any other origin is refused before anything is written.
fn allowed_origin(
    origin: Option<&str>,
    host: Option<&str>,
    own: &str,
    allowed: &[String],
) -> Result<Option<String>, WidgetError> {
    let Some(origin) = origin else {
        return Ok(None);
    };
    let same_site = origin == own
        || host.is_some_and(|host| {
            origin.strip_prefix("http://") == Some(host)
                || origin.strip_prefix("https://") == Some(host)
        });
    if same_site {
        return Ok(None);
    }
    if allowed.iter().any(|a| a == origin) {
        return Ok(Some(origin.to_owned()));
    }
    Err(WidgetError::OriginNotAllowed(origin.to_owned()))
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
        request_id: r.id.to_string(),
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
        request_id: t.request.id.to_string(),
        scale: t.request.scale,
        language: settings.language.clone(),
        ask_resolved: settings.ask_resolved,
        ask_comment_on_low: settings.ask_comment_on_low,
        low_reasons: settings.low_reasons.clone(),
        rating: t.rating.as_ref().map(|r| CardRating {
            value: r.value,
            low: r.low,
            comment: r.comment.clone(),
            resolved: r.resolved,
            reasons: r.reasons.clone(),
        }),
        can_change,
        texts: CardTexts::new(
            &settings.language,
            &settings.request_text,
            &settings.thanks_text,
        ),
    }
}

/// The request a widget message names, if it is the token's session's current request.
fn named_request<'a>(
    caller: &'a Caller,
    request_id: &str,
) -> Result<&'a AnswerTarget, WidgetError> {
    caller
        .target
        .as_ref()
        .filter(|t| t.request.id == request_id)
        .ok_or_else(|| WidgetError::NotThisSession {
            request_id: request_id.to_owned(),
            session_id: caller.session_id.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "https://rateline.example";

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
        assert!(e.to_string().contains("this token"), "{e}");
        let _third = streams.admit("t2", Some(a)).unwrap();
        let e = streams.admit("t3", Some(a)).err().unwrap();
        assert!(e.to_string().contains("this address"), "{e}");
        // A refusal by the address gives back the token's place it took.
        assert_eq!(streams.per_token.lock().unwrap().get("t3"), None);
        drop(first);
        assert!(
            streams.admit("t1", Some(a)).is_ok(),
            "a closed connection's place is free"
        );
        // An IPv6 client counts by its /64.
        let v6 = |last: u16| IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, last]);
        let _held: Vec<_> = (1..=3)
            .map(|n| streams.admit(&format!("v6-{n}"), Some(v6(n))).unwrap())
            .collect();
        let e = streams.admit("v6-4", Some(v6(4))).err().unwrap();
        assert!(e.to_string().contains("this address"), "{e}");
    }

    #[test]
    fn origins_are_the_lines_own_or_rateline_itself() {
        let allowed = |origin, host, list: &[String]| allowed_origin(origin, host, OWN, list);
        // Behind a proxy the Host may differ; the public URL's origin is Rateline's own.
        assert_eq!(
            allowed(Some(OWN), Some("10.0.0.5:8080"), &[]).unwrap(),
            None
        );
        let list = ["https://shop.example".to_owned()];
        assert_eq!(allowed(None, None, &list).unwrap(), None);
        assert_eq!(
            allowed(
                Some("http://rateline.local:8080"),
                Some("rateline.local:8080"),
                &list
            )
            .unwrap(),
            None
        );
        assert_eq!(
            allowed(Some("https://shop.example"), None, &list).unwrap(),
            Some("https://shop.example".to_owned())
        );
        for other in [
            "https://evil.example",
            "http://shop.example",
            "https://shop.example:444",
        ] {
            let e = allowed(Some(other), None, &list).unwrap_err();
            assert!(matches!(e, WidgetError::OriginNotAllowed(_)), "{other}");
        }
    }
}
