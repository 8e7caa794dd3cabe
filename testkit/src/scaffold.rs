//! What the fakes share, so that each holds only what its platform does.
//!
//! Every fake on an HTTP port is a [`Fake`]: the handle tests hold, clones of which share one
//! state with the server answering on it, and its own clock ([`Clock`]). The helpdesk fakes
//! ([`crate::chatwoot`], [`crate::zammad`]) also share, through [`Helpdesk`], the log of the
//! calls they were made (each with the rule it broke, if any), the faults a test queues for
//! the next calls, a revoked token, and the webhook call they make to the service under test.
//! How a fault or a refusal looks, and which rules are listed, is each platform's, and its
//! fake's docs say it.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::handler::Handler;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A fake's handle, which tests hold: its base URL and its state `S` (the platform's
/// records), which clones share with the server answering on that URL. Each fake names its
/// own ([`crate::chatwoot::FakeChatwoot`], [`crate::zammad::FakeZammad`],
/// [`crate::meta::FakeGraphApi`]) and adds what its platform does.
pub struct Fake<S> {
    url: String,
    state: Arc<Mutex<S>>,
}

impl<S> Clone for Fake<S> {
    fn clone(&self) -> Self {
        Fake {
            url: self.url.clone(),
            state: Arc::clone(&self.state),
        }
    }
}

impl<S: Platform> Fake<S> {
    /// Serves `handler` on a free loopback port, on the real clock, with a fresh state.
    pub(crate) async fn serve<H, T>(handler: H) -> Self
    where
        H: Handler<T, Self>,
        T: 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = Fake {
            url: format!("http://{}", listener.local_addr().unwrap()),
            state: Arc::new(Mutex::new(S::default())),
        };
        // One catch-all handler routes by hand: every call, whatever its path, passes the
        // platform's one check of the token and one queue of faults, and a path the platform
        // does not serve gets the platform's own answer.
        let app = Router::new().fallback(handler).with_state(fake.clone());
        tokio::spawn(axum::serve(listener, app).into_future());
        fake
    }

    /// The base URL, without a trailing slash; the fake's docs say the paths below it.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The fake's now: the last [`Fake::set_now`], else the real clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.lock().clock().now()
    }

    /// Stops the fake's clock at `t`, to follow a test's manual clock.
    pub fn set_now(&self, t: DateTime<Utc>) {
        self.lock().clock().set(t);
    }

    /// The state stays usable after a panicking test thread held it: the server keeps
    /// answering the service under test either way.
    pub(crate) fn lock(&self) -> MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The state behind a [`Fake`]: the platform's records, fresh by `Default`, with the clock.
pub trait Platform: Default + Send + 'static {
    /// The fake's clock.
    fn clock(&mut self) -> &mut Clock;
}

/// A fake's time: the real clock until a test sets it, then stopped there.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    /// `None` follows the real clock.
    set: Option<DateTime<Utc>>,
}

impl Clock {
    /// The time it was set to, else the real clock's.
    pub fn now(&self) -> DateTime<Utc> {
        self.set.unwrap_or_else(Utc::now)
    }

    /// Stops it at `t`.
    pub fn set(&mut self, t: DateTime<Utc>) {
        self.set = Some(t);
    }
}

/// The state of a helpdesk fake: a [`Platform`] that logs its calls in a [`Log`]. Its impl's
/// docs say how the platform answers a [`Fault`] and which rules
/// [`Fake::rule_violations`] lists.
pub trait Helpdesk: Platform {
    /// The platform's name, as messages give it.
    const NAME: &'static str;

    /// The calls so far, the faults to come and the token's fate.
    fn log(&mut self) -> &mut Log;
}

impl<S: Helpdesk> Fake<S> {
    /// Answers the next API call with `fault`, as the platform would (its [`Helpdesk`] impl
    /// says how). Faults queue: each after any queued before it.
    pub fn fail_next(&self, fault: Fault) {
        self.lock().log().faults.push_back(fault);
    }

    /// Deletes the API token (the fake's `API_TOKEN`): every call is 401 from now on.
    pub fn revoke_token(&self) {
        self.lock().log().revoked = true;
    }

    /// Every call so far, in order of arrival, refused ones included.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().log().calls.clone()
    }

    /// The calls that broke a rule the caller is expected to know, each as
    /// `"{METHOD} {path}: {what}"`: the platform's [`Helpdesk`] impl lists which. Refusals
    /// that only reflect the world (credentials, an unknown record, an injected fault) are
    /// not listed.
    pub fn rule_violations(&self) -> Vec<String> {
        self.lock().log().violations()
    }

    /// Waits (in real time, up to 10 s) until `what` holds.
    pub async fn wait_for(&self, what: impl Fn(&Self) -> bool) {
        crate::wait_until(|| what(self), || self.lock().log().timed_out(S::NAME)).await
    }
}

/// A failure to answer the next call with, whatever it asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429, `Retry-After: {retry_after}` and `Retry later`.
    RateLimited {
        /// The seconds `Retry-After` asks the caller to wait.
        retry_after: u64,
    },
    /// 500, as the platform answers an error nothing handled.
    ServerError,
    /// 401, as for a token deleted since the call before.
    Unauthorized,
}

/// A call the fake was made, as it answered it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The HTTP method, as sent.
    pub method: String,
    /// The path, with the query where the fake keeps it.
    pub path: String,
    /// The JSON body (`Null` when empty); a body that is not JSON is kept as a string.
    pub body: Value,
    /// The status the fake answered with.
    pub status: u16,
    /// The rules the call broke, if any.
    pub broke: Option<String>,
}

/// The calls so far, the faults to come and the token's fate.
#[derive(Debug, Default)]
pub struct Log {
    /// Every call so far, in the order they came.
    pub calls: Vec<Call>,
    /// The faults the next calls are answered with, the first queued first.
    pub faults: VecDeque<Fault>,
    /// The API token was deleted ([`Fake::revoke_token`]): the platform's check of the token
    /// refuses every call from then on.
    pub revoked: bool,
}

impl Log {
    /// Keeps a call and how it was answered.
    pub fn record(
        &mut self,
        method: &str,
        path: String,
        raw: &[u8],
        status: u16,
        broke: Option<String>,
    ) {
        let body = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(raw)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(raw).into_owned()))
        };
        self.calls.push(Call {
            method: method.to_owned(),
            path,
            body,
            status,
            broke,
        });
    }

    /// The calls that broke a rule, each as `"{METHOD} {path}: {what}"`.
    pub fn violations(&self) -> Vec<String> {
        self.calls
            .iter()
            .filter_map(|c| {
                c.broke
                    .as_ref()
                    .map(|what| format!("{} {}: {what}", c.method, c.path))
            })
            .collect()
    }

    /// Why a wait on fake `name` failed: every call so far.
    pub fn timed_out(&self, name: &str) -> String {
        let mut log = String::new();
        for c in &self.calls {
            let _ = writeln!(log, "  {} {} -> {} {}", c.method, c.path, c.status, c.body);
        }
        format!("the fake {name} did not reach the awaited state within 10 s; calls so far:\n{log}")
    }
}

/// The value of header `name` among a webhook's `headers`, whatever its case.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A webhook's call to `url` with `client`: its raw body and headers as they are, or the
/// signature breaks.
fn request(
    client: &reqwest::Client,
    url: &str,
    body: &[u8],
    headers: &[(String, String)],
) -> reqwest::RequestBuilder {
    let mut request = client.post(url).body(body.to_vec());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request
}

/// Posts a webhook a test holds to `url`, as the platform would; panics if nothing answers.
pub async fn post(url: &str, body: &[u8], headers: &[(String, String)]) -> reqwest::Response {
    request(&reqwest::Client::new(), url, body, headers)
        .send()
        .await
        .expect("the receiver answers")
}

/// Posts a webhook call (its raw body and headers as they are) with `client`, whose timeouts
/// are the platform's: the status, or 0 for no answer in time.
pub async fn post_call(
    client: &reqwest::Client,
    url: &str,
    body: &[u8],
    headers: &[(String, String)],
) -> u16 {
    post_response(client, url, body, headers)
        .await
        .map_or(0, |(status, _)| status)
}

/// Posts a webhook call as [`post_call`] does: the status and the body's text, or `None` for
/// no answer (or no whole body) in time.
pub async fn post_response(
    client: &reqwest::Client,
    url: &str,
    body: &[u8],
    headers: &[(String, String)],
) -> Option<(u16, String)> {
    let response = request(client, url, body, headers).send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// JSON as ActiveSupport writes it (Chatwoot and Zammad are Rails applications): compact,
/// with `<`, `>`, `&` (and U+2028, U+2029) escaped. They only ever occur inside strings, so
/// escaping the serialized text is safe.
pub fn rails_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// A fresh UUID-shaped id, as a platform gives each delivery of a webhook. The counter is the
/// process's, not a fake's, so two fakes in one test binary never hand out the same id;
/// hashing it with the pid spreads ids across runs.
pub fn delivery_id() -> String {
    static DELIVERIES: AtomicU64 = AtomicU64::new(0);
    let n = DELIVERIES.fetch_add(1, Ordering::Relaxed);
    let digest = Sha256::digest(format!("{}:{n}", std::process::id()).as_bytes());
    let h = hex::encode(&digest[..16]);
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}
