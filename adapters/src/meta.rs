//! The Graph API as the Meta channels (`messenger`, `instagram`, `whatsapp`) call it, and
//! the webhook's events as they read them.
//!
//! Meta allows free-form messages only within 24 hours of the client's **last** message.
//! An automated rating request outside that window is never sent on Messenger or Instagram
//! (the HUMAN_AGENT tag forbids automated messages, the other tags forbid survey prompts):
//! it ends `window_closed`. WhatsApp may send an approved template outside the window, when
//! the line names one, and never inside it (a template costs money). A send Meta refuses
//! for the window (Messenger 10/2018278, WhatsApp 131047) ends `window_closed` too.
//!
//! The buttons are native: quick replies on Messenger and Instagram, reply buttons (binary)
//! or a list (five stars) on WhatsApp, each carrying a signed payload ([`crate::signed`]).
//! The token goes in the `Authorization` header, never in a URL, so no error can carry it.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::phrases::Phrases;
use crate::signed::{CallbackSigner, CardAction, rating_label};
use crate::{Channel, OutgoingRequest, Scale, SendOutcome, clip};
use rateline_domain::meta_window_open;

/// Error codes Meta uses for throttling: try again later.
const THROTTLED: [i64; 7] = [4, 17, 613, 80007, 130429, 131048, 131056];

/// One Meta account Rateline sends from: a Page (Messenger), an Instagram professional
/// account, or a WhatsApp business phone number.
pub struct MetaAccount {
    channel: Channel,
    /// The Page, Instagram account or phone number id.
    account: String,
    http: reqwest::Client,
    /// `{graph_url}/{version}/{id}/messages`.
    endpoint: String,
    token: String,
    signer: CallbackSigner,
}

impl std::fmt::Debug for MetaAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaAccount")
            .field("channel", &self.channel)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl MetaAccount {
    /// `id` is the Page id, the Instagram account id or the WhatsApp phone number id.
    pub fn new(
        channel: Channel,
        graph_url: &str,
        version: &str,
        id: &str,
        token: &str,
        http: reqwest::Client,
        signer: CallbackSigner,
    ) -> Self {
        Self {
            channel,
            account: id.to_owned(),
            http,
            endpoint: format!(
                "{}/{version}/{id}/messages",
                graph_url.trim_end_matches('/')
            ),
            token: token.to_owned(),
            signer,
        }
    }

    /// The channel it sends on: Messenger, Instagram or WhatsApp.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// The account it sends from: events written to another are not its business.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Sends a plain text message (a thank-you after an answer); the client just wrote, so
    /// the window is open.
    pub async fn post_text(&self, recipient: &str, text: &str) -> SendOutcome {
        let body = match self.channel {
            Channel::Whatsapp => json!({
                "messaging_product": "whatsapp", "recipient_type": "individual",
                "to": recipient, "type": "text", "text": {"body": clip(text, 4096)},
            }),
            _ => json!({
                "recipient": {"id": recipient}, "messaging_type": "RESPONSE",
                "message": {"text": clip(text, self.text_limit())},
            }),
        };
        self.post(&body).await
    }

    /// Asks a question with choices, each `(title, payload)`, the client just wrote so the
    /// window is open: quick replies on Messenger and Instagram (at most 13, titles cut to
    /// 20 characters); on WhatsApp reply buttons for up to 3, a list for more (at most 10
    /// rows, titles cut to 24 characters), opened by a button labelled `list_button`.
    pub async fn post_choices(
        &self,
        recipient: &str,
        text: &str,
        choices: &[(String, String)],
        list_button: &str,
    ) -> SendOutcome {
        let text = clip(text, self.text_limit());
        let body = match self.channel {
            Channel::Whatsapp => {
                let interactive = if choices.len() <= 3 {
                    json!({
                        "type": "button",
                        "body": {"text": text},
                        "action": {"buttons": choices.iter().map(|(title, id)| json!({
                            "type": "reply", "reply": {"id": id, "title": clip(title, 20)}
                        })).collect::<Vec<_>>()},
                    })
                } else {
                    json!({
                        "type": "list",
                        "body": {"text": text},
                        "action": {
                            "button": clip(list_button, 20),
                            "sections": [{
                                "rows": choices.iter().take(10).map(|(title, id)| json!({
                                    "id": id, "title": clip(title, 24)
                                })).collect::<Vec<_>>(),
                            }],
                        },
                    })
                };
                json!({
                    "messaging_product": "whatsapp", "recipient_type": "individual",
                    "to": recipient, "type": "interactive", "interactive": interactive,
                })
            }
            _ => json!({
                "recipient": {"id": recipient}, "messaging_type": "RESPONSE",
                "message": {"text": text, "quick_replies": choices.iter().take(13).map(|(title, payload)| {
                    json!({"content_type": "text", "title": clip(title, 20), "payload": payload})
                }).collect::<Vec<_>>()},
            }),
        };
        self.post(&body).await
    }

    fn text_limit(&self) -> usize {
        match self.channel {
            Channel::Instagram => 1000,
            Channel::Whatsapp => 1024,
            _ => 2000,
        }
    }

    /// The buttons' `(title, payload)`, or `None` if a payload cannot be signed.
    fn buttons(&self, r: &OutgoingRequest) -> Option<Vec<(String, String)>> {
        r.scale
            .buttons()
            .into_iter()
            .map(|v| {
                let payload = self.signer.encode(&r.request_id, CardAction::Rate(v))?;
                Some((rating_label(r.scale, v), payload))
            })
            .collect()
    }

    /// The request as Meta wants it, or the outcome when it must not be sent.
    pub fn request_body(&self, r: &OutgoingRequest) -> Result<Value, SendOutcome> {
        let buttons = self.buttons(r).ok_or_else(|| SendOutcome::Failed {
            reason: "the request id is too long for a signed button payload".into(),
        })?;
        let text = clip(&r.text, self.text_limit());
        let inside = r
            .last_client_message_at
            .is_some_and(|last| meta_window_open(last, r.now));
        let closed = || window_closed(r.last_client_message_at);
        match self.channel {
            Channel::Messenger | Channel::Instagram => {
                if !inside {
                    return Err(closed());
                }
                let quick: Vec<Value> = buttons
                    .iter()
                    .map(|(title, payload)| {
                        json!({"content_type": "text", "title": title, "payload": payload})
                    })
                    .collect();
                Ok(json!({
                    "recipient": {"id": r.client.id},
                    "messaging_type": "RESPONSE",
                    "message": {"text": text, "quick_replies": quick},
                }))
            }
            Channel::Whatsapp if inside => {
                let interactive = match r.scale {
                    Scale::Binary => json!({
                        "type": "button",
                        "body": {"text": text},
                        "action": {"buttons": buttons.iter().map(|(title, id)| json!({
                            "type": "reply", "reply": {"id": id, "title": title}
                        })).collect::<Vec<_>>()},
                    }),
                    Scale::FiveStar => {
                        let p = Phrases::for_language(&r.language);
                        json!({
                            "type": "list",
                            "body": {"text": text},
                            "action": {
                                "button": p.rate_button,
                                "sections": [{
                                    "title": p.your_rating,
                                    "rows": buttons.iter().map(|(title, id)| json!({
                                        "id": id, "title": title
                                    })).collect::<Vec<_>>(),
                                }],
                            },
                        })
                    }
                };
                Ok(json!({
                    "messaging_product": "whatsapp", "recipient_type": "individual",
                    "to": r.client.id, "type": "interactive", "interactive": interactive,
                }))
            }
            Channel::Whatsapp => {
                let Some(template) = &r.whatsapp_template else {
                    return Err(closed());
                };
                // Each of the template's quick-reply buttons, in order, gets the signed
                // payload of the answer the line says it gives.
                let components = template
                    .values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let payload = self.signer.encode(&r.request_id, CardAction::Rate(*v))?;
                        Some(json!({"type": "button", "sub_type": "quick_reply", "index": i.to_string(),
                                    "parameters": [{"type": "payload", "payload": payload}]}))
                    })
                    .collect::<Option<Vec<Value>>>()
                    .ok_or_else(|| SendOutcome::Failed {
                        reason: "the request id is too long for a signed button payload".into(),
                    })?;
                Ok(json!({
                    "messaging_product": "whatsapp", "recipient_type": "individual",
                    "to": r.client.id, "type": "template",
                    "template": {"name": template.name, "language": {"code": template.language},
                                 "components": components},
                }))
            }
            other => Err(SendOutcome::Failed {
                reason: format!("a Meta account does not send on {other}"),
            }),
        }
    }

    /// One call of the Messages API with `body`, its answer as a [`SendOutcome`].
    pub async fn post(&self, body: &Value) -> SendOutcome {
        let what = format!("the Graph API ({})", self.channel);
        let response = match self
            .http
            .post(&self.endpoint)
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return crate::http::outcome_for_transport_error(&e, &what),
        };
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            let id = json["message_id"]
                .as_str()
                .or_else(|| json["messages"][0]["id"].as_str())
                .map(str::to_owned);
            return SendOutcome::Accepted {
                platform_message_id: id,
            };
        }
        classify(status, &json, crate::http::retry_after(&headers))
    }
}

/// What a Graph API refusal means for the request.
pub fn classify(status: StatusCode, body: &Value, retry_after: Option<Duration>) -> SendOutcome {
    let error = &body["error"];
    let code = error["code"].as_i64();
    let subcode = error["error_subcode"].as_i64();
    let message = error["message"].as_str().unwrap_or("no message");
    let reason = match (code, subcode) {
        (Some(c), Some(s)) => format!("Meta error {c}/{s}: {message}"),
        (Some(c), None) => format!("Meta error {c}: {message}"),
        _ => format!("the Graph API answered HTTP {}", status.as_u16()),
    };
    match (code, subcode) {
        (Some(10), Some(2018278)) | (Some(131047), _) => SendOutcome::WindowClosed { reason },
        // The person blocked the business, turned messages off, or cannot be found.
        (Some(551 | 131026 | 131050), _) | (Some(100), Some(2018001)) => {
            SendOutcome::Undeliverable { reason }
        }
        (Some(c), _) if THROTTLED.contains(&c) => SendOutcome::Retry {
            after: retry_after,
            reason,
        },
        (Some(190), _) => {
            tracing::error!(%reason, "Meta refused the access token: check the [meta] tokens");
            SendOutcome::Failed { reason }
        }
        (Some(1 | 2), _) => SendOutcome::Retry {
            after: retry_after,
            reason,
        },
        _ if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS => {
            SendOutcome::Retry {
                after: retry_after,
                reason,
            }
        }
        // A request Meta will never take (a parameter it refuses): retrying cannot help.
        _ => SendOutcome::Failed { reason },
    }
}

/// Why a message may not go out: the client's 24-hour window is closed.
pub fn window_closed(last: Option<DateTime<Utc>>) -> SendOutcome {
    let last = last.map_or_else(
        || "the client never wrote on this channel".to_owned(),
        |t| format!("the client's last message was at {}", t.to_rfc3339()),
    );
    SendOutcome::WindowClosed {
        reason: format!("{last}; Meta allows automated messages only within 24 hours of it"),
    }
}

/// One thing a Meta webhook tells Rateline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaEvent {
    /// A client wrote or tapped: `payload` is a tapped button's, `text` what they typed.
    /// `account` is the Page, Instagram account or phone number id it was written to.
    Message {
        /// The channel, by the webhook's `object`: Messenger, Instagram or WhatsApp.
        channel: Channel,
        /// The Page, Instagram account or WhatsApp phone number id written to; events for others
        /// are not Rateline's.
        account: String,
        /// The client, by Meta's id for them on the channel (PSID, IGSID, or WhatsApp number): a
        /// session's `client.id`.
        sender: String,
        /// When Meta says the client wrote: it opens the 24-hour window.
        at: DateTime<Utc>,
        /// A tapped button's payload: a quick reply, a postback, a WhatsApp reply, list row or
        /// template button.
        payload: Option<String>,
        /// What the client typed; `None` for a tap, media or a reaction.
        text: Option<String>,
    },
    /// WhatsApp's news about a message Rateline sent.
    Status {
        /// The WhatsApp phone number id the message was sent from.
        account: String,
        /// WhatsApp's id of the message, as the send's answer gave it.
        message_id: String,
        /// What became of the message, as WhatsApp writes it: `sent`, `delivered`, `read` or
        /// `failed`.
        status: String,
        /// WhatsApp's first error code and its title (or message), when it reports one.
        error: Option<(i64, String)>,
    },
}

/// Every event in a webhook payload (several entries, several events each); echoes of
/// the business's own messages and kinds Rateline does not use are left out.
pub fn parse_webhook(body: &Value) -> Vec<MetaEvent> {
    let channel = match body["object"].as_str() {
        Some("page") => Channel::Messenger,
        Some("instagram") => Channel::Instagram,
        Some("whatsapp_business_account") => Channel::Whatsapp,
        _ => return Vec::new(),
    };
    let mut events = Vec::new();
    for entry in body["entry"].as_array().into_iter().flatten() {
        if channel == Channel::Whatsapp {
            for change in entry["changes"].as_array().into_iter().flatten() {
                whatsapp_events(&change["value"], &mut events);
            }
        } else {
            let account = id_text(&entry["id"]);
            for m in entry["messaging"].as_array().into_iter().flatten() {
                if let Some(e) = messaging_event(channel, &account, m) {
                    events.push(e);
                }
            }
        }
    }
    events
}

/// Meta writes ids as strings, but an integer must not lose an event.
fn id_text(v: &Value) -> String {
    v.as_str()
        .map(str::to_owned)
        .or_else(|| v.as_u64().map(|n| n.to_string()))
        .unwrap_or_default()
}

fn messaging_event(channel: Channel, account: &str, m: &Value) -> Option<MetaEvent> {
    let sender = m["sender"]["id"].as_str()?.to_owned();
    let at = m["timestamp"]
        .as_i64()
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())?;
    let (payload, text) = if let Some(msg) = m.get("message") {
        if msg["is_echo"].as_bool() == Some(true) {
            return None;
        }
        (
            msg["quick_reply"]["payload"].as_str().map(str::to_owned),
            msg["text"].as_str().map(str::to_owned),
        )
    } else if let Some(postback) = m.get("postback") {
        (postback["payload"].as_str().map(str::to_owned), None)
    } else {
        return None;
    };
    Some(MetaEvent::Message {
        channel,
        account: account.to_owned(),
        sender,
        at,
        payload,
        text,
    })
}

fn whatsapp_events(value: &Value, events: &mut Vec<MetaEvent>) {
    let account = id_text(&value["metadata"]["phone_number_id"]);
    for m in value["messages"].as_array().into_iter().flatten() {
        let Some(sender) = m["from"].as_str() else {
            continue;
        };
        let at = m["timestamp"]
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .and_then(|s| Utc.timestamp_opt(s, 0).single());
        let Some(at) = at else { continue };
        let (payload, text) = match m["type"].as_str() {
            Some("interactive") => {
                let i = &m["interactive"];
                let reply = i.get("button_reply").or_else(|| i.get("list_reply"));
                (
                    reply.and_then(|r| r["id"].as_str()).map(str::to_owned),
                    None,
                )
            }
            Some("button") => (m["button"]["payload"].as_str().map(str::to_owned), None),
            Some("text") => (None, m["text"]["body"].as_str().map(str::to_owned)),
            // Media, reactions, locations: the client wrote (the window opens), no answer.
            _ => (None, None),
        };
        events.push(MetaEvent::Message {
            channel: Channel::Whatsapp,
            account: account.clone(),
            sender: sender.to_owned(),
            at,
            payload,
            text,
        });
    }
    for s in value["statuses"].as_array().into_iter().flatten() {
        let (Some(id), Some(status)) = (s["id"].as_str(), s["status"].as_str()) else {
            continue;
        };
        let error = s["errors"][0]["code"].as_i64().map(|code| {
            let title = s["errors"][0]["title"]
                .as_str()
                .or_else(|| s["errors"][0]["message"].as_str())
                .unwrap_or("");
            (code, title.to_owned())
        });
        events.push(MetaEvent::Status {
            account: account.clone(),
            message_id: id.to_owned(),
            status: status.to_owned(),
            error,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: u16, code: i64, subcode: Option<i64>) -> SendOutcome {
        let mut error = json!({"message": "m", "type": "OAuthException", "code": code});
        if let Some(s) = subcode {
            error["error_subcode"] = json!(s);
        }
        classify(
            StatusCode::from_u16(status).unwrap(),
            &json!({ "error": error }),
            None,
        )
    }

    #[test]
    fn graph_errors_map_to_what_the_scheduler_must_do() {
        assert!(matches!(
            outcome(400, 10, Some(2018278)),
            SendOutcome::WindowClosed { .. }
        ));
        assert!(matches!(
            outcome(400, 131047, None),
            SendOutcome::WindowClosed { .. }
        ));
        assert!(matches!(
            outcome(400, 551, Some(1545041)),
            SendOutcome::Undeliverable { .. }
        ));
        assert!(matches!(
            outcome(400, 131026, None),
            SendOutcome::Undeliverable { .. }
        ));
        for code in [4, 613, 80007, 130429] {
            assert!(
                matches!(outcome(429, code, None), SendOutcome::Retry { .. }),
                "{code}"
            );
        }
        assert!(matches!(
            outcome(401, 190, None),
            SendOutcome::Failed { .. }
        ));
        assert!(matches!(outcome(500, 2, None), SendOutcome::Retry { .. }));
        assert!(matches!(
            outcome(400, 100, None),
            SendOutcome::Failed { .. }
        ));
    }

    #[test]
    fn echoes_and_unknown_objects_are_left_out() {
        let echo = json!({"object": "page", "entry": [{"id": "1", "time": 1, "messaging": [
            {"sender": {"id": "1"}, "recipient": {"id": "2"}, "timestamp": 1,
             "message": {"is_echo": true, "mid": "m", "text": "hi"}}]}]});
        assert!(parse_webhook(&echo).is_empty());
        assert!(parse_webhook(&json!({"object": "user", "entry": []})).is_empty());
    }
}
