//! What the helpdesk fakes ([`crate::chatwoot`], [`crate::zammad`]) share, so that each
//! holds only what its platform does: the log of the calls they were made (each with the
//! rule it broke, if any), the faults a test queues for the next calls, and the webhook call
//! they make to the service under test. How a fault or a refusal looks is each platform's,
//! and each fake's docs say it.

use std::collections::VecDeque;
use std::fmt::Write as _;

use serde_json::Value;

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

/// The calls so far and the faults to come.
#[derive(Debug, Default)]
pub struct Log {
    /// Every call so far, in the order they came.
    pub calls: Vec<Call>,
    /// The faults the next calls are answered with, the first queued first.
    pub faults: VecDeque<Fault>,
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

/// Posts a webhook call (its raw body and headers as they are) with `client`, whose timeouts
/// are the platform's: the status, or 0 for no answer in time.
pub async fn post_call(
    client: &reqwest::Client,
    url: &str,
    body: &[u8],
    headers: &[(String, String)],
) -> u16 {
    let mut request = client.post(url).body(body.to_vec());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    match request.send().await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}
