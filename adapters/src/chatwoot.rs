//! Chatwoot's application API, as the Chatwoot channel uses it: messages posted into a
//! conversation the client already sees, the conversation resolved again, and the token
//! and inboxes checked. What Chatwoot's webhooks mean is the application's to decide
//! (`src/channels/chatwoot/` there); this module only speaks the API.
//!
//! A request goes as an `input_select` message (buttons) where the inbox renders one: the
//! web widget, WhatsApp and Telegram. Each button's value is a signed payload
//! ([`crate::signed`]) that fits Telegram's 64-byte `callback_data`; its title is the
//! rating's label (`👍`, `4 ★`), which is what WhatsApp sends back. Elsewhere (e-mail, SMS,
//! the API channel) it goes as text that says which digit to reply.
//!
//! The token goes in the `api_access_token` header, never in a URL, so no error can carry it.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpdesk::{Callee, Removed, call_json, outcome_of, remove};
use crate::phrases::Phrases;
use crate::signed::{CallbackSigner, CardAction, rating_label};
use crate::{OutgoingRequest, Scale, SendOutcome, clip};

/// The longest message Rateline posts; Chatwoot's own limit is far above it, WhatsApp's
/// and Telegram's are 4,096 characters.
const MAX_TEXT: usize = 4096;

/// The longest question with buttons on a WhatsApp inbox: Chatwoot sends an `input_select`
/// as an interactive message whose body is the content
/// (`Whatsapp::Providers::BaseService#create_payload_based_on_items`), and WhatsApp allows
/// 1,024 characters there. Chatwoot takes a longer one and WhatsApp then refuses it, after
/// Rateline counted the request sent.
const MAX_WHATSAPP_BUTTONS_TEXT: usize = 1024;

/// The events Rateline's account webhook subscribes to: the resolve
/// (`conversation_status_changed`), who holds a conversation (`conversation_created`,
/// `conversation_updated`), and what the client writes or taps (`message_created`,
/// `message_updated`). From `Webhook::ALLOWED_WEBHOOK_EVENTS` (`app/models/webhook.rb`).
pub const WEBHOOK_EVENTS: [&str; 5] = [
    "conversation_created",
    "conversation_status_changed",
    "conversation_updated",
    "message_created",
    "message_updated",
];

/// An account webhook as `…/webhooks` shows it (`_webhook.json.jbuilder`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountWebhook {
    /// Chatwoot's id of the webhook, as its URLs name it.
    pub id: u64,
    /// Where Chatwoot posts: Rateline's own webhook URL when the webhook is Rateline's.
    pub url: String,
    /// The events it posts; Rateline needs each of [`WEBHOOK_EVENTS`].
    pub subscriptions: Vec<String>,
    /// What it signs calls with: Chatwoot 4.11.2 and later make one for every webhook;
    /// earlier releases sign nothing and have no `secret`.
    pub secret: Option<String>,
}

impl AccountWebhook {
    fn read(v: &Value) -> Option<Self> {
        Some(Self {
            id: v.get("id")?.as_u64()?,
            url: v.get("url")?.as_str()?.to_owned(),
            subscriptions: v
                .get("subscriptions")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            secret: v
                .get("secret")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        })
    }
}

/// One Chatwoot account, reached with one access token.
#[derive(Clone)]
pub struct ChatwootApi {
    base: String,
    account: u64,
    token: String,
    http: reqwest::Client,
}

/// An inbox as `GET …/inboxes` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbox {
    /// The inbox's id, as Chatwoot's URLs name it: the key of the account's `inboxes` map.
    pub id: u64,
    /// The inbox's name, as Chatwoot's agents see it.
    pub name: String,
    /// What kind of inbox it is (`Channel::WebWidget`, `Channel::Whatsapp`, …): whether it shows
    /// buttons, and whether a client's message after the resolve opens a new conversation.
    pub channel_type: String,
    /// Chatwoot's own survey is on: the client would be asked twice.
    pub csat_survey_enabled: bool,
    /// "Lock to single conversation": whether a client message after the resolve reopens the
    /// conversation (on) or opens a new one (off, Chatwoot's default) on the channels that
    /// honour it. `None` where Chatwoot does not say.
    pub lock_to_single_conversation: Option<bool>,
}

/// Account `id`'s number and its API, called with its token. (Account ids are checked as
/// numbers before they are stored.)
pub fn api_of(
    id: &str,
    s: &rateline_domain::ChatwootSettings,
    http: &reqwest::Client,
) -> (u64, ChatwootApi) {
    let id = id.parse().unwrap_or_default();
    let token = s.api_token.as_deref().unwrap_or_default();
    (id, ChatwootApi::new(&s.url, id, token, http.clone()))
}

impl ChatwootApi {
    /// Account `account` of the Chatwoot at `base`, called with `token` over `http`.
    pub fn new(base: &str, account: u64, token: &str, http: reqwest::Client) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            account,
            token: token.to_owned(),
            http,
        }
    }

    /// The account's id, as Chatwoot's URLs name it.
    pub fn account(&self) -> u64 {
        self.account
    }

    fn what(&self) -> String {
        format!("Chatwoot account {}", self.account)
    }

    fn callee<'a>(&self, what: &'a str, addressed: &'a str) -> Callee<'a> {
        Callee {
            what,
            addressed,
            token_fix: "set a valid chatwoot.api_token (an agent's access token in Chatwoot's \
                        profile settings)",
        }
    }

    /// Posts `message` into conversation `conversation` (its id in Chatwoot's URLs); the
    /// answer maps as [`crate::helpdesk`] says.
    pub async fn post_message(&self, conversation: &str, message: &Value) -> SendOutcome {
        let url = format!(
            "{}/api/v1/accounts/{}/conversations/{conversation}/messages",
            self.base, self.account
        );
        let sent = self
            .http
            .post(url)
            .header("api_access_token", &self.token)
            .json(message)
            .send()
            .await;
        let (what, addressed) = (self.what(), format!("conversation {conversation}"));
        outcome_of(sent, &self.callee(&what, &addressed)).await
    }

    /// Resolves conversation `conversation` (after the client's answer reopened it).
    pub async fn resolve(&self, conversation: &str) -> SendOutcome {
        let url = format!(
            "{}/api/v1/accounts/{}/conversations/{conversation}/toggle_status",
            self.base, self.account
        );
        let sent = self
            .http
            .post(url)
            .header("api_access_token", &self.token)
            .json(&json!({"status": "resolved"}))
            .send()
            .await;
        let (what, addressed) = (self.what(), format!("conversation {conversation}"));
        outcome_of(sent, &self.callee(&what, &addressed)).await
    }

    /// The token's user, as `GET /api/v1/profile` names them, once the token is checked to
    /// belong to this account.
    pub async fn profile(&self) -> Result<String, String> {
        let body = self.get("/api/v1/profile").await?;
        let member = body
            .get("accounts")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter()
                    .any(|a| a.get("id").and_then(Value::as_u64) == Some(self.account))
            });
        if !member {
            return Err(format!(
                "the api_token's user is not a member of Chatwoot account {}: use a token of \
                 one of its agents",
                self.account
            ));
        }
        Ok(body
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("(no name)")
            .to_owned())
    }

    /// The token's role in this account (`GET /api/v1/profile`, its `accounts` entry):
    /// `administrator` or `agent`. Only an administrator may manage webhooks
    /// (`app/policies/webhook_policy.rb`).
    pub async fn role(&self) -> Result<String, String> {
        let body = self.get("/api/v1/profile").await?;
        body.get("accounts")
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .find(|a| a.get("id").and_then(Value::as_u64) == Some(self.account))
            })
            .and_then(|a| a.get("role").and_then(Value::as_str))
            .map(str::to_owned)
            .ok_or_else(|| {
                format!(
                    "the api_token's user is not a member of Chatwoot account {}",
                    self.account
                )
            })
    }

    /// The account's webhooks (`GET …/webhooks`: `payload.webhooks`); administrators only.
    pub async fn webhooks(&self) -> Result<Vec<AccountWebhook>, String> {
        let body = self
            .get(&format!("/api/v1/accounts/{}/webhooks", self.account))
            .await?;
        Ok(list(&body, "/payload/webhooks", &self.what())?
            .iter()
            .filter_map(AccountWebhook::read)
            .collect())
    }

    /// Adds an account webhook to `url` for [`WEBHOOK_EVENTS`] (`POST …/webhooks`, which
    /// answers `payload.webhook`); administrators only.
    pub async fn add_webhook(&self, url: &str) -> Result<AccountWebhook, String> {
        let path = format!("/api/v1/accounts/{}/webhooks", self.account);
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("api_access_token", &self.token)
            .json(&json!({"webhook": {
                "name": "Rateline",
                "url": url,
                "subscriptions": WEBHOOK_EVENTS,
            }}));
        let what = self.what();
        let body = call_json(request, &format!("POST {path}"), &self.callee(&what, "")).await?;
        body.pointer("/payload/webhook")
            .and_then(AccountWebhook::read)
            .ok_or_else(|| format!("{what} answered POST {path} without the webhook"))
    }

    /// Removes account webhook `id` (`DELETE …/webhooks/{id}`).
    pub async fn remove_webhook(&self, id: &str) -> Result<Removed, String> {
        let path = format!("/api/v1/accounts/{}/webhooks/{id}", self.account);
        let request = self
            .http
            .delete(format!("{}{path}", self.base))
            .header("api_access_token", &self.token);
        let what = self.what();
        remove(request, &format!("DELETE {path}"), &self.callee(&what, "")).await
    }

    /// Whether Chatwoot lets a message be written into conversation `conversation` now
    /// (`GET …/conversations/{id}`, its `can_reply`: `Conversations::MessageWindowService`).
    pub async fn can_reply(&self, conversation: &str) -> Result<bool, String> {
        let body = self
            .get(&format!(
                "/api/v1/accounts/{}/conversations/{conversation}",
                self.account
            ))
            .await?;
        Ok(body
            .get("can_reply")
            .and_then(Value::as_bool)
            .unwrap_or(true))
    }

    /// The account's inboxes.
    pub async fn inboxes(&self) -> Result<Vec<Inbox>, String> {
        let body = self
            .get(&format!("/api/v1/accounts/{}/inboxes", self.account))
            .await?;
        let list = body
            .get("payload")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{} listed no inboxes (no payload)", self.what()))?;
        Ok(list
            .iter()
            .filter_map(|i| {
                Some(Inbox {
                    id: i.get("id")?.as_u64()?,
                    name: i.get("name")?.as_str()?.to_owned(),
                    channel_type: i.get("channel_type")?.as_str()?.to_owned(),
                    csat_survey_enabled: i
                        .get("csat_survey_enabled")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    lock_to_single_conversation: i
                        .get("lock_to_single_conversation")
                        .and_then(Value::as_bool),
                })
            })
            .collect())
    }

    /// Page `page` (from 1) of the account's conversations in every status, the latest
    /// activity first: `GET /api/v1/accounts/{id}/conversations` with `status=all` and
    /// `sort_by=last_activity_at_desc` (`ConversationFinder`: 25 a page, the caller sees
    /// those of the inboxes they are a member of, an administrator all). Each as the
    /// conversations partial writes it (`data.payload`).
    pub async fn conversations(&self, page: u32) -> Result<Vec<Value>, String> {
        let body = self
            .get(&format!(
                "/api/v1/accounts/{}/conversations?status=all&assignee_type=all\
                 &sort_by=last_activity_at_desc&page={page}",
                self.account
            ))
            .await?;
        list(&body, "/data/payload", &self.what())
    }

    /// Messages of conversation `conversation`, oldest first: the latest 20, or the 20
    /// before message `before` (`MessageFinder`). Each as the message model partial writes
    /// it: `message_type` a number, `created_at` unix seconds.
    pub async fn messages(
        &self,
        conversation: u64,
        before: Option<u64>,
    ) -> Result<Vec<Value>, String> {
        let before = before.map_or_else(String::new, |id| format!("?before={id}"));
        let body = self
            .get(&format!(
                "/api/v1/accounts/{}/conversations/{conversation}/messages{before}",
                self.account
            ))
            .await?;
        list(&body, "/payload", &self.what())
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        let request = self
            .http
            .get(format!("{}{path}", self.base))
            .header("api_access_token", &self.token);
        let what = self.what();
        call_json(request, &format!("GET {path}"), &self.callee(&what, "")).await
    }
}

/// The list at `pointer` of an API answer.
fn list(body: &Value, pointer: &str, what: &str) -> Result<Vec<Value>, String> {
    body.pointer(pointer)
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| format!("{what} answered without a list at {pointer}"))
}

/// Whether an inbox of this `channel_type` shows an `input_select` as buttons.
pub fn renders_buttons(medium: &str) -> bool {
    matches!(
        medium,
        "Channel::WebWidget" | "Channel::Whatsapp" | "Channel::Telegram"
    )
}

/// Whether an inbox of this `channel_type` opens a new conversation for a client message
/// after the resolve unless it is locked to a single conversation (`set_conversation` in
/// Chatwoot's incoming services for these channels).
pub fn new_conversation_unless_locked(medium: &str) -> bool {
    matches!(
        medium,
        "Channel::Whatsapp"
            | "Channel::Telegram"
            | "Channel::Sms"
            | "Channel::TwilioSms"
            | "Channel::FacebookPage"
            | "Channel::Instagram"
            | "Channel::Line"
            | "Channel::Api"
    )
}

/// Whether only Chatwoot knows if a conversation of an inbox of this `channel_type` may be
/// written to now (`Conversations::MessageWindowService`): a Twilio inbox is WhatsApp, with
/// 24 hours, or SMS, with none, by its `medium`; an API inbox may set an
/// `agent_reply_time_window`; TikTok allows 48 hours. Rateline asks the conversation's
/// `can_reply` before it posts there.
pub fn window_known_to_chatwoot(medium: &str) -> bool {
    matches!(
        medium,
        "Channel::TwilioSms" | "Channel::Api" | "Channel::Tiktok"
    )
}

/// Whether an inbox of this `channel_type` is one of Meta's, where messages are allowed
/// only within 24 hours of the client's last one.
pub fn is_meta(medium: &str) -> bool {
    matches!(
        medium,
        "Channel::Whatsapp" | "Channel::FacebookPage" | "Channel::Instagram"
    )
}

/// The rating request as a message into a conversation of `medium`.
pub fn request_message(r: &OutgoingRequest, medium: &str, signer: &CallbackSigner) -> Value {
    let values: Vec<i64> = match r.scale {
        Scale::Binary => vec![1, 0],
        Scale::FiveStar => vec![5, 4, 3, 2, 1],
    };
    let choices: Option<Vec<(String, String)>> = values
        .iter()
        .map(|&v| {
            let payload = signer.encode(&r.request_id, CardAction::Rate(v))?;
            Some((rating_label(r.scale, v), payload))
        })
        .collect();
    match choices {
        Some(choices) if renders_buttons(medium) => choices_message(&r.text, &choices, medium),
        _ => {
            let p = Phrases::for_language(&r.language);
            let how = match r.scale {
                Scale::Binary => p.reply_binary,
                Scale::FiveStar => p.reply_five_star,
            };
            text_message(&format!("{}\n{how}", r.text))
        }
    }
}

/// `text` with a choice per `(label, payload)`: buttons where `medium` shows them; elsewhere
/// the labels are written out (unless the text lists them already), to be typed back.
pub fn choices_message(text: &str, choices: &[(String, String)], medium: &str) -> Value {
    if renders_buttons(medium) {
        let items: Vec<Value> = choices
            .iter()
            .map(|(title, value)| json!({"title": title, "value": value}))
            .collect();
        let max = if medium == "Channel::Whatsapp" {
            MAX_WHATSAPP_BUTTONS_TEXT
        } else {
            MAX_TEXT
        };
        return json!({
            "content": clip(text, max),
            "message_type": "outgoing",
            "private": false,
            "content_type": "input_select",
            "content_attributes": {"items": items},
        });
    }
    if choices
        .iter()
        .all(|(label, _)| text.contains(label.as_str()))
    {
        return text_message(text);
    }
    let labels: Vec<&str> = choices.iter().map(|(l, _)| l.as_str()).collect();
    text_message(&format!("{text}\n{}", labels.join(" / ")))
}

/// Plain text the client reads.
pub fn text_message(text: &str) -> Value {
    json!({
        "content": clip(text, MAX_TEXT),
        "message_type": "outgoing",
        "private": false,
    })
}

/// A private note: agents see it in the conversation, the client never does.
pub fn private_note(text: &str) -> Value {
    json!({
        "content": clip(text, MAX_TEXT),
        "message_type": "outgoing",
        "private": true,
    })
}

/// Whether `header` (`X-Chatwoot-Signature`) signs `body` sent at `timestamp`
/// (`X-Chatwoot-Timestamp`) with `secret`: `sha256=` and the hex HMAC-SHA256 of
/// `"{timestamp}.{body}"`, compared in constant time.
pub fn signed(secret: &[u8], timestamp: &str, body: &[u8], header: &str) -> bool {
    let Some(sig) = header
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) else {
        return false;
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// Whether a webhook sent at `timestamp` (unix seconds) is fresh at `now`: within 5 minutes
/// either way, so a captured call cannot be replayed later.
pub fn fresh(timestamp: &str, now: DateTime<Utc>) -> bool {
    timestamp
        .trim()
        .parse::<i64>()
        .is_ok_and(|t| (now.timestamp() - t).abs() <= 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_over_the_timestamp_and_the_body() {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"secret").unwrap();
        mac.update(b"1700000000.{\"a\":1}");
        let header = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(signed(b"secret", "1700000000", b"{\"a\":1}", &header));
        assert!(!signed(b"secret", "1700000001", b"{\"a\":1}", &header));
        assert!(!signed(b"other", "1700000000", b"{\"a\":1}", &header));
        assert!(!signed(b"secret", "1700000000", b"{\"a\":2}", &header));
        assert!(!signed(b"secret", "1700000000", b"{\"a\":1}", "garbage"));
    }

    #[test]
    fn buttons_show_only_where_the_inbox_renders_them() {
        let choices = vec![
            ("Yes".to_owned(), "p1".to_owned()),
            ("No".to_owned(), "p2".to_owned()),
        ];
        let widget = choices_message("Resolved?", &choices, "Channel::WebWidget");
        assert_eq!(widget["content_type"], "input_select");
        assert_eq!(widget["content_attributes"]["items"][1]["value"], "p2");
        let email = choices_message("Resolved?", &choices, "Channel::Email");
        assert_eq!(email["content"], "Resolved?\nYes / No");
        assert!(email.get("content_type").is_none());
    }

    #[test]
    fn a_whatsapp_question_with_buttons_fits_an_interactive_body() {
        let choices = vec![("Yes".to_owned(), "p1".to_owned())];
        let long = "é".repeat(1500);
        let chars = |m: &Value| m["content"].as_str().unwrap().chars().count();
        assert_eq!(
            chars(&choices_message(&long, &choices, "Channel::Whatsapp")),
            1024
        );
        assert_eq!(
            chars(&choices_message(&long, &choices, "Channel::Telegram")),
            1500
        );
    }
}
