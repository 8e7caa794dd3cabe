//! The calls the helpdesks' APIs (Chatwoot, Zammad) share: a call's answer as the
//! [`SendOutcome`] the scheduler knows, a call of JSON for `check-config`, the catch-up and
//! the setup, and a `DELETE`.
//!
//! A helpdesk's 429 and 5xx are retried (after `Retry-After`); a 401 holds sends back
//! without using an attempt, since a person must fix the token, and logs an error; a
//! 404 (the conversation or ticket is gone) ends the send undeliverable; any other refusal
//! fails it, with the helpdesk's own message.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::http::{outcome_for_status, outcome_for_transport_error, retry_after};
use crate::{SendOutcome, clip};

/// How long a 401 holds sends back: a token is fixed by a person, not by trying again.
pub const HOLD_ON_UNAUTHORIZED: Duration = Duration::from_secs(300);

/// Who is called and what a refusal means, for the reasons a call's outcome gives.
pub struct Callee<'a> {
    /// e.g. "Chatwoot account 1".
    pub what: &'a str,
    /// What was addressed, named for a 404: "conversation 41".
    pub addressed: &'a str,
    /// How to fix a refused token.
    pub token_fix: &'a str,
}

/// The outcome of one POST or PUT: any 2xx accepts, with the `id` the answer's body names.
pub async fn outcome_of(
    sent: Result<reqwest::Response, reqwest::Error>,
    callee: &Callee<'_>,
) -> SendOutcome {
    let r = match sent {
        Ok(r) => r,
        Err(e) => return outcome_for_transport_error(&e, callee.what),
    };
    let status = r.status();
    if status.is_success() {
        let id = r
            .json::<Value>()
            .await
            .ok()
            .and_then(|b| b.get("id").and_then(Value::as_u64));
        return SendOutcome::Accepted {
            platform_message_id: id.map(|id| id.to_string()),
        };
    }
    let headers = r.headers().clone();
    let said = said(r).await;
    let what = callee.what;
    match status {
        // A 403 is the token's rights for this conversation (a group it may not see): no
        // use holding it back, so it fails below with the helpdesk's message.
        StatusCode::UNAUTHORIZED => {
            let reason = format!(
                "{what} refused the API token (HTTP {}){said}; {}",
                status.as_u16(),
                callee.token_fix
            );
            tracing::error!(%reason, "a helpdesk refused its API token: sends are held back");
            SendOutcome::Defer {
                after: HOLD_ON_UNAUTHORIZED,
                reason,
            }
        }
        StatusCode::NOT_FOUND => SendOutcome::Undeliverable {
            reason: format!("{what} has no {} (HTTP 404){said}", callee.addressed),
        },
        StatusCode::TOO_MANY_REQUESTS => SendOutcome::Retry {
            after: retry_after(&headers),
            reason: format!("{what} is rate limiting (HTTP 429)"),
        },
        s if s.is_client_error() && s != StatusCode::REQUEST_TIMEOUT => SendOutcome::Failed {
            reason: format!("{what} refused the call (HTTP {}){said}", s.as_u16()),
        },
        s => outcome_for_status(s, &headers, what),
    }
}

/// The helpdesk's own message in a refusal's body, as `": …"`, cut and without control
/// characters; empty when it gave none.
async fn said(r: reqwest::Response) -> String {
    r.json::<Value>()
        .await
        .ok()
        .and_then(|b| {
            ["error_human", "message", "error"]
                .into_iter()
                .find_map(|k| b.get(k).and_then(Value::as_str).map(str::to_owned))
        })
        .map(|m| format!(": {}", clip(&m.replace(|c: char| c.is_control(), " "), 200)))
        .unwrap_or_default()
}

/// A read's JSON answer (`call` names it: `GET /api/v1/…`), or what went wrong as a
/// sentence for `check-config` and the logs.
pub async fn call_json(
    request: reqwest::RequestBuilder,
    call: &str,
    callee: &Callee<'_>,
) -> Result<Value, String> {
    let what = callee.what;
    let r = request.send().await.map_err(|e| {
        outcome_for_transport_error(&e, what)
            .reason()
            .unwrap_or("the call failed")
            .to_owned()
    })?;
    match r.status() {
        s if s.is_success() => r
            .json()
            .await
            .map_err(|_| format!("{what} sent an unreadable answer to {call}")),
        s @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => Err(format!(
            "{what} refused the api_token on {call} (HTTP {}){}; {}",
            s.as_u16(),
            said(r).await,
            callee.token_fix
        )),
        s => Err(format!(
            "{what} answered {call} with HTTP {}{}",
            s.as_u16(),
            said(r).await
        )),
    }
}

/// Whether a `DELETE` removed what it named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    /// The helpdesk removed it.
    Removed,
    /// The helpdesk has no such thing (404): removed by hand, say.
    Gone,
}

/// A `DELETE`'s outcome (`call` names it), or what went wrong as a sentence.
pub async fn remove(
    request: reqwest::RequestBuilder,
    call: &str,
    callee: &Callee<'_>,
) -> Result<Removed, String> {
    let answer = request.send().await;
    if let Ok(r) = &answer
        && r.status() == StatusCode::NOT_FOUND
    {
        return Ok(Removed::Gone);
    }
    let answered = answer.map_err(|e| {
        outcome_for_transport_error(&e, callee.what)
            .reason()
            .unwrap_or("the call failed")
            .to_owned()
    })?;
    match answered.status() {
        s if s.is_success() => Ok(Removed::Removed),
        s => Err(format!(
            "{} answered {call} with HTTP {}{}",
            callee.what,
            s.as_u16(),
            said(answered).await
        )),
    }
}
