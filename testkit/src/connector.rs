//! A local contact center on the `webhook` channel: it receives Rateline's signed POSTs
//! (rating requests, responses to clients, alerts), checks each signature with an HMAC of
//! its own (not Rateline's code), records what it got, and answers as a test tells it.
//! [`serve`] and [`signed`] are the pieces the load generator's connector shares.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// The secret the tests' lines sign their connector's requests with.
pub const SECRET: &str = "test-connector-secret-0123";

/// Whether `headers` carry `X-Rateline-Signature: sha256=<hex HMAC-SHA256 of body>` keyed
/// with `secret`, as the webhook channel's documentation says a connector checks it.
pub fn signed(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(hex_sig) = headers
        .get("x-rateline-signature")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("sha256="))
    else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// Serves `handler` for POSTs to `/rating-requests` on a free loopback port; returns the
/// URL to give a line's `webhook.url`.
pub async fn serve<S, F, Fut>(state: S, handler: F) -> String
where
    S: Clone + Send + Sync + 'static,
    F: Fn(S, HeaderMap, Bytes) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!(
        "http://{}/rating-requests",
        listener.local_addr().expect("a bound address")
    );
    let app = Router::new()
        .route(
            "/rating-requests",
            post(move |State(s): State<S>, headers: HeaderMap, body: Bytes| {
                let handler = handler.clone();
                async move { handler(s, headers, body).await }
            }),
        )
        .with_state(state);
    tokio::spawn(axum::serve(listener, app).into_future());
    url
}

/// What the connector answers with next.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status, with no body.
    Status(u16),
    /// A 429 with this `Retry-After` in seconds.
    RetryAfter(u64),
    /// Hold the request this long, then 200.
    Slow(Duration),
    /// Post the client's answer to `answer_url` first, then 200: the fastest connector there is.
    AnswerFirst(i64),
    /// 200 with this body.
    Body(&'static str),
}

/// A request the connector received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The JSON body as posted; `Null` when it was not JSON.
    pub body: Value,
    /// Whether `X-Rateline-Signature` checked out against [`SECRET`].
    pub signature_ok: bool,
    /// The `Idempotency-Key` header, when one came.
    pub idempotency_key: Option<String>,
}

/// A local contact center: receives signed rating requests and answers as told.
#[derive(Clone, Default)]
pub struct Connector {
    /// Every request received, in order; the clones share it.
    pub received: Arc<Mutex<Vec<Received>>>,
    /// The statuses Rateline gave the answers posted by [`Reply::AnswerFirst`].
    pub answer_statuses: Arc<Mutex<Vec<u16>>>,
    replies: Arc<Mutex<VecDeque<Reply>>>,
    /// Where it takes the requests: the URL to give a line's `webhook.url`.
    pub url: String,
}

impl Connector {
    /// Starts the connector on a free loopback port; it answers 200 until told otherwise
    /// ([`Connector::reply_with`]).
    pub async fn start() -> Self {
        let mut c = Connector::default();
        c.url = serve(c.clone(), receive).await;
        c
    }

    /// The next replies, in order; after them, 200.
    pub fn reply_with(&self, replies: impl IntoIterator<Item = Reply>) {
        self.replies.lock().unwrap().extend(replies);
    }

    /// Every request received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (in real time, up to 10 s) until it has received `n` requests in all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "received {} requests, expected {n}: {got:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many of the requests received carry `request_id`: a retry and a reminder count again.
    pub fn count_for(&self, request_id: &str) -> usize {
        self.received()
            .iter()
            .filter(|r| r.body["request_id"] == request_id)
            .count()
    }
}

async fn receive(c: Connector, headers: HeaderMap, body: Bytes) -> Response {
    let signature_ok = signed(SECRET, &headers, &body);
    let reply = c.replies.lock().unwrap().pop_front();
    c.received.lock().unwrap().push(Received {
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        signature_ok,
        idempotency_key: headers
            .get("idempotency-key")
            .and_then(|h| h.to_str().ok())
            .map(String::from),
    });
    match reply {
        None => (StatusCode::OK, "{}").into_response(),
        Some(Reply::Status(s)) => StatusCode::from_u16(s).unwrap().into_response(),
        Some(Reply::Body(b)) => (StatusCode::OK, b).into_response(),
        Some(Reply::RetryAfter(secs)) => {
            let mut r = StatusCode::TOO_MANY_REQUESTS.into_response();
            r.headers_mut().insert(
                "retry-after",
                HeaderValue::from_str(&secs.to_string()).unwrap(),
            );
            r
        }
        Some(Reply::Slow(d)) => {
            tokio::time::sleep(d).await;
            (StatusCode::OK, "{}").into_response()
        }
        Some(Reply::AnswerFirst(value)) => {
            let request: Value = serde_json::from_slice(&body).unwrap();
            let status = reqwest::Client::new()
                .post(request["answer_url"].as_str().unwrap())
                .json(&json!({"request_id": request["request_id"], "value": value}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            c.answer_statuses.lock().unwrap().push(status);
            (StatusCode::OK, "{}").into_response()
        }
    }
}
