//! The `webhook` channel's posts: any contact center plugs in by receiving a signed POST.
//!
//! Each request is `POST {line.webhook.url}` with the JSON body (shape `v: 1`; fields are
//! only ever added within a version) `{v, request_id, session_id, line_id, client, scale,
//! text, answer_url, language, choices, thanks_text, follow_ups}`: everything a connector
//! needs to run the whole card itself (the buttons' values and labels, the thanks, and the
//! "resolved?", reasons and comment questions the line asks, in its language), and the header
//! `X-Rateline-Signature: sha256=<hex HMAC-SHA256 of the raw body with the line's secret>`.
//! `Idempotency-Key` carries the request id: a request whose send was in flight when
//! Rateline stopped may be posted again, and the connector can drop the repeat.
//! The connector shows the question to the client and posts the answer to `answer_url`.
//!
//! An admin's test request ([`ConnectorClient::test`]) has the same body with `"test": true`
//! and `X-Rateline-Event: test_request`, so a connector can check its signature and parsing
//! without showing anything to a client.

use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::http::{outcome_for_status, outcome_for_transport_error};
use crate::outbound::Policy;
use crate::phrases::Phrases;
use crate::signed::rating_label;
use crate::{ClientRef, OutgoingRequest, OutgoingText, Scale, SendOutcome, WebhookTarget};

/// The header that carries the body's signature.
pub const SIGNATURE_HEADER: &str = "X-Rateline-Signature";

/// The shape of the body a connector receives; raised only by a change that is not an
/// addition.
pub const BODY_VERSION: u32 = 1;

/// The body a connector receives.
#[derive(Debug, Serialize)]
struct WebhookBody<'a> {
    v: u32,
    request_id: &'a str,
    session_id: &'a str,
    line_id: &'a str,
    client: &'a ClientRef,
    scale: Scale,
    text: &'a str,
    answer_url: &'a str,
    language: &'a str,
    /// The buttons, in order: each answer's value and its label.
    choices: Vec<Choice>,
    thanks_text: &'a str,
    follow_ups: FollowUpQuestions<'a>,
    /// Only on a test request: no client is to see it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    test: bool,
    /// Only on the request's reminder: the same question again, still open.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    reminder: bool,
}

#[derive(Debug, Serialize)]
struct Choice {
    value: i64,
    label: String,
}

/// The questions that follow an answer, in the line's language; `null` when not asked.
#[derive(Debug, Serialize)]
struct FollowUpQuestions<'a> {
    /// Asked after any answer; answered as `resolved: true|false`.
    resolved: Option<ResolvedQuestion<'a>>,
    /// Asked after an answer at or below `when_at_or_below`, before the comment; answered
    /// as `reasons: [id, …]` (any number of them, `[]` for none).
    reasons: Option<ReasonsQuestion<'a>>,
    /// Asked after an answer at or below `when_at_or_below`; answered as `comment`.
    comment: Option<CommentQuestion<'a>>,
}

#[derive(Debug, Serialize)]
struct ReasonsQuestion<'a> {
    prompt: &'a str,
    when_at_or_below: i64,
    choices: &'a [rateline_domain::LowReason],
}

#[derive(Debug, Serialize)]
struct ResolvedQuestion<'a> {
    question: &'a str,
    yes: &'a str,
    no: &'a str,
}

#[derive(Debug, Serialize)]
struct CommentQuestion<'a> {
    prompt: &'a str,
    when_at_or_below: i64,
}

/// The body of a rating request, or of a test one.
fn request_body(request: &OutgoingRequest, test: bool) -> Vec<u8> {
    let words = Phrases::for_language(&request.language);
    let f = &request.follow_ups;
    serde_json::to_vec(&WebhookBody {
        v: BODY_VERSION,
        request_id: &request.request_id,
        session_id: &request.session_id,
        line_id: &request.line_id,
        client: &request.client,
        scale: request.scale,
        text: &request.text,
        answer_url: &request.answer_url,
        language: &request.language,
        choices: request
            .scale
            .buttons()
            .into_iter()
            .map(|value| Choice {
                value,
                label: rating_label(request.scale, value),
            })
            .collect(),
        thanks_text: &f.thanks_text,
        follow_ups: FollowUpQuestions {
            resolved: f.ask_resolved.then_some(ResolvedQuestion {
                question: words.resolved_question,
                yes: words.yes,
                no: words.no,
            }),
            reasons: (!f.reasons.is_empty()).then(|| ReasonsQuestion {
                prompt: words.reasons_prompt,
                when_at_or_below: f.low_at_or_below,
                choices: &f.reasons,
            }),
            comment: f
                .comment_at_or_below
                .map(|when_at_or_below| CommentQuestion {
                    prompt: words.widget.comment_prompt,
                    when_at_or_below,
                }),
        },
        test,
        reminder: request.reminder,
    })
    .expect("the webhook body serialises")
}

/// What a connector answered a test request: its status and the start of its body, or why
/// there was no answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestAnswer {
    /// Whether a rating request sent now would count as delivered (a 2xx).
    pub accepted: bool,
    /// The connector's HTTP status; `None` when it did not answer.
    pub status: Option<u16>,
    /// The start of the connector's body (at most 1,000 characters, control characters
    /// removed); `None` without an answer.
    pub body: Option<String>,
    /// What went wrong, as the rating request's `last_error` would say it.
    pub error: Option<String>,
}

/// The most of a connector's answer a test shows, in characters, and reads, in bytes.
const TEST_ANSWER_CHARS: usize = 1000;
const TEST_ANSWER_BYTES: usize = 4 * TEST_ANSWER_CHARS;

/// A plain message for the client (a supervisor's response), told apart from a rating
/// request by its `event` field and the `X-Rateline-Event` header.
#[derive(Debug, Serialize)]
struct TextBody<'a> {
    event: &'a str,
    id: &'a str,
    session_id: &'a str,
    line_id: &'a str,
    client: &'a ClientRef,
    text: &'a str,
}

/// Names what a POST carries: `rating_request` or a plain message's kind.
pub const EVENT_HEADER: &str = "X-Rateline-Event";

/// Posts the `webhook` channel's requests and responses, signed, to their line's connector
/// URL, under the outbound policy.
#[derive(Debug, Clone)]
pub struct ConnectorClient {
    http: reqwest::Client,
    policy: Policy,
}

impl ConnectorClient {
    /// Sends under `policy`, with its client and the deployment's send timeout.
    pub fn new(policy: &Policy, send_timeout: std::time::Duration) -> Self {
        Self {
            http: policy
                .client(send_timeout)
                .build()
                .expect("the HTTP client builds with static settings"),
            policy: policy.clone(),
        }
    }
}

/// `sha256=<hex>` of `body` keyed with `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret, body).finalize().into_bytes())
    )
}

fn mac(secret: &[u8], body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    mac
}

/// Checks a `sha256=<hex>` signature of `body` in constant time.
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(sig) = header
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    mac(secret, body).verify_slice(&sig).is_ok()
}

impl ConnectorClient {
    /// POSTs `request` to its line's connector: the card as a `rating_request` (or a
    /// `rating_reminder`, a post of its own).
    #[tracing::instrument(skip_all, fields(request_id = %request.request_id, line_id = %request.line_id))]
    pub async fn send_request(&self, request: &OutgoingRequest) -> SendOutcome {
        let body = request_body(request, false);
        // A reminder is a post of its own: the connector must not drop it as a repeat.
        let (event, key) = if request.reminder {
            (
                "rating_reminder",
                format!("reminder-{}", request.request_id),
            )
        } else {
            ("rating_request", request.request_id.to_string())
        };
        self.post(
            request.webhook.as_ref(),
            &request.line_id,
            event,
            &key,
            body,
        )
        .await
    }

    /// POSTs `message` (a supervisor's response) to its line's connector.
    pub async fn send_text(&self, message: &OutgoingText) -> SendOutcome {
        let body = serde_json::to_vec(&TextBody {
            event: message.kind.as_str(),
            id: &message.id,
            session_id: &message.session_id,
            line_id: &message.line_id,
            client: &message.to,
            text: &message.text,
        })
        .expect("the webhook body serialises");
        self.post(
            message.webhook.as_ref(),
            &message.line_id,
            message.kind.as_str(),
            &message.id,
            body,
        )
        .await
    }

    /// Sends `request` as a test (`"test": true`, `X-Rateline-Event: test_request`) and
    /// says what the connector answered, under the same policy and timeout as a real send.
    pub async fn test(&self, request: &OutgoingRequest) -> TestAnswer {
        let body = request_body(request, true);
        let failed = |error: String| TestAnswer {
            accepted: false,
            status: None,
            body: None,
            error: Some(error),
        };
        let target = match self.checked(request.webhook.as_ref(), &request.line_id) {
            Ok(t) => t,
            Err(refused) => return failed(refused.reason().unwrap_or_default().to_owned()),
        };
        match self
            .request(target, "test_request", &request.request_id, body)
            .send()
            .await
        {
            Ok(mut r) => {
                let status = r.status();
                let headers = r.headers().clone();
                // Only the start is shown, so only the start is read: a connector that
                // answers endlessly is cut off there.
                let mut read = Vec::new();
                while read.len() < TEST_ANSWER_BYTES {
                    match r.chunk().await {
                        Ok(Some(chunk)) => read.extend_from_slice(&chunk),
                        _ => break,
                    }
                }
                read.truncate(TEST_ANSWER_BYTES);
                let shown: String = String::from_utf8_lossy(&read)
                    .chars()
                    .filter(|c| !c.is_control() || *c == '\n')
                    .take(TEST_ANSWER_CHARS)
                    .collect();
                let error = (!status.is_success()).then(|| {
                    outcome_for_status(status, &headers, "the connector")
                        .reason()
                        .unwrap_or_default()
                        .to_owned()
                });
                TestAnswer {
                    accepted: status.is_success(),
                    status: Some(status.as_u16()),
                    body: Some(shown),
                    error,
                }
            }
            Err(e) => failed(
                outcome_for_transport_error(&e, "the connector")
                    .reason()
                    .unwrap_or_default()
                    .to_owned(),
            ),
        }
    }

    /// The line's connector, if it has one the outbound policy lets Rateline call.
    fn checked<'t>(
        &self,
        target: Option<&'t WebhookTarget>,
        line_id: &str,
    ) -> Result<&'t WebhookTarget, SendOutcome> {
        let Some(target) = target else {
            return Err(SendOutcome::Failed {
                reason: format!(
                    "line '{line_id}' has no webhook.url; set it with PUT /v1/lines/{line_id}"
                ),
            });
        };
        // A literal address is never resolved, so it is checked here, at every send.
        if let Err(refused) = self.policy.check_url(&target.url) {
            return Err(SendOutcome::Failed {
                reason: format!("the call to the connector was {refused}"),
            });
        }
        Ok(target)
    }

    /// The signed POST of `body` to `target`.
    fn request(
        &self,
        target: &WebhookTarget,
        event: &str,
        idempotency_key: &str,
        body: Vec<u8>,
    ) -> reqwest::RequestBuilder {
        let signature = sign(target.secret.as_bytes(), &body);
        self.http
            .post(&target.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(EVENT_HEADER, event)
            .header("Idempotency-Key", idempotency_key)
            .body(body)
    }

    /// POSTs a signed body to the line's connector.
    async fn post(
        &self,
        target: Option<&WebhookTarget>,
        line_id: &str,
        event: &str,
        idempotency_key: &str,
        body: Vec<u8>,
    ) -> SendOutcome {
        let target = match self.checked(target, line_id) {
            Ok(t) => t,
            Err(refused) => return refused,
        };
        let response = self
            .request(target, event, idempotency_key, body)
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => {
                let platform_message_id = r.json::<serde_json::Value>().await.ok().and_then(|v| {
                    v.get("message_id")
                        .and_then(|m| m.as_str())
                        // Kept only if storable and readable: PostgreSQL text cannot hold
                        // NUL, and a refused write would leave the request to be sent again.
                        .filter(|m| {
                            (1..=256).contains(&m.len()) && !m.chars().any(char::is_control)
                        })
                        .map(String::from)
                });
                SendOutcome::Accepted {
                    platform_message_id,
                }
            }
            Ok(r) => outcome_for_status(r.status(), r.headers(), "the connector"),
            Err(e) => outcome_for_transport_error(&e, "the connector"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_hmac_sha256_vector() {
        // HMAC-SHA256(key "sesame", "hello world"), checked with openssl.
        assert_eq!(
            sign(b"sesame", b"hello world"),
            "sha256=f39034b29165ec6a5104d9aef27266484ab26c8caa7bca8bcb2dd02e8be61b17"
        );
    }

    #[test]
    fn verify_accepts_its_own_signature_and_refuses_others() {
        let sig = sign(b"k", b"body");
        assert!(verify(b"k", b"body", &sig));
        assert!(!verify(b"k", b"body2", &sig));
        assert!(!verify(b"other", b"body", &sig));
        assert!(!verify(b"k", b"body", "sha256=zz"));
        assert!(!verify(b"k", b"body", sig.trim_start_matches("sha256=")));
    }
}
