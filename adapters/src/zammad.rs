//! Zammad's REST API, as the Zammad channel uses it: articles posted into a ticket in the
//! ticket's own channel, the ticket closed again, and the token and groups checked. What
//! Zammad's webhooks mean is the application's to decide (`src/channels/zammad/` there).
//!
//! Zammad renders no buttons in any channel, so a request is text that says which digit to
//! reply; the answer is the customer's next article. An article goes out in the channel the
//! customer wrote in (its `type`: `email`, `telegram personal-message`, `sms`…), which is
//! how Zammad delivers it; an e-mail or SMS needs the customer's address as `to`, and an
//! SMS is cut at 160 characters. The customer portal (`web`) reads public notes.
//!
//! The token goes in the `Authorization` header, never in a URL, so no error can carry it.

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha1::Sha1;

use crate::helpdesk::{Callee, Removed, call_json, outcome_of, remove};
use crate::{SendOutcome, clip};

/// The longest article body Rateline posts (Telegram's limit, and Meta's for a WhatsApp text).
const MAX_TEXT: usize = 4096;

/// What Zammad's SMS channel sends of an article.
const MAX_SMS: usize = 160;

/// Tickets a page of [`ZammadApi::tickets_changed_since`] holds: the most Zammad's
/// `paginate_with` gives a search (`max: 200`).
pub const TICKETS_PAGE: usize = 200;

/// The article types an agent's article reaches the customer in: Zammad sends e-mail, SMS,
/// Telegram and WhatsApp, and the portal shows public notes of `web` tickets.
pub const REACHES_CUSTOMER: [&str; 5] =
    ["email", "sms", "telegram personal-message", WHATSAPP, "web"];

/// The article type of Zammad's WhatsApp channel (6.3 and later).
pub const WHATSAPP: &str = "whatsapp message";

/// One Zammad instance, reached with one token.
#[derive(Clone)]
pub struct ZammadApi {
    base: String,
    instance: String,
    token: String,
    http: reqwest::Client,
}

/// A ticket state as `GET /api/v1/ticket_states?expand=true` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketState {
    /// The state's id, as a ticket's `state_id` names it.
    pub id: u64,
    /// Its name: `closed`, `merged`, or one an admin made. A ticket is closed again into the state
    /// named `closed` where that one is of type `closed`.
    pub name: String,
    /// Its type is `closed`: a ticket in it is closed.
    pub closed: bool,
    /// Whether it is in use: failing a `closed` state named `closed`, a ticket is closed again into
    /// the first active state of type `closed`.
    pub active: bool,
}

/// Where an article goes: the ticket, its channel, the customer's address in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleTo<'a> {
    /// The ticket's id, as Zammad's URLs name it.
    pub ticket: &'a str,
    /// The article type the customer wrote in, e.g. `email`.
    pub medium: &'a str,
    /// The customer's e-mail address or mobile number, for an e-mail's or SMS's `to`.
    pub address: Option<&'a str>,
}

/// Instance `id`'s API, called with its token.
pub fn api_of(id: &str, s: &rateline_domain::ZammadSettings, http: &reqwest::Client) -> ZammadApi {
    let token = s.api_token.as_deref().unwrap_or_default();
    ZammadApi::new(&s.url, id, token, http.clone())
}

impl ZammadApi {
    /// Instance `instance` (Rateline's name for it, in messages) at `base`, called with `token`
    /// over `http`.
    pub fn new(base: &str, instance: &str, token: &str, http: reqwest::Client) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            instance: instance.to_owned(),
            token: token.to_owned(),
            http,
        }
    }

    fn what(&self) -> String {
        format!("Zammad instance '{}'", self.instance)
    }

    fn auth(&self) -> String {
        format!("Token token={}", self.token)
    }

    /// Posts `body` as an article the customer sees, in the ticket's channel; with `internal`
    /// an internal note agents see and the customer never does. Zammad's answer maps to what
    /// the scheduler knows: 429 and 5xx retried, a 401 holds sends back without using an
    /// attempt, a 404 (the ticket is gone) ends it undeliverable, another refusal fails it.
    pub async fn post_article(
        &self,
        to: &ArticleTo<'_>,
        body: &str,
        internal: bool,
    ) -> SendOutcome {
        if !internal && !REACHES_CUSTOMER.contains(&to.medium) {
            return SendOutcome::Failed {
                reason: format!(
                    "ticket {} is a {} ticket and Zammad knows no e-mail address of its \
                     customer: no article would reach them",
                    to.ticket, to.medium
                ),
            };
        }
        // The portal's customer reads public notes; an SMS gateway sends 160 characters.
        let (kind, limit) = match to.medium {
            _ if internal => ("note", MAX_TEXT),
            "web" => ("note", MAX_TEXT),
            "sms" => ("sms", MAX_SMS),
            other => (other, MAX_TEXT),
        };
        let mut article = json!({
            "ticket_id": to.ticket.parse::<u64>().ok(),
            "body": clip(body, limit),
            "content_type": "text/plain",
            "type": kind,
            "internal": internal,
            "sender": "Agent",
        });
        // E-mail and SMS go to the customer's address, which Zammad does not fill in.
        if matches!(kind, "email" | "sms") {
            article["to"] = json!(to.address);
        }
        let sent = self
            .http
            .post(format!("{}/api/v1/ticket_articles", self.base))
            .header("Authorization", self.auth())
            .json(&article)
            .send()
            .await;
        let (what, addressed) = (self.what(), format!("ticket {}", to.ticket));
        outcome_of(sent, &self.callee(&what, &addressed)).await
    }

    /// Closes ticket `ticket` (after the customer's answer reopened it): into the state
    /// `state_id` (a state of type `closed`), or, when no state is known, the one named
    /// `closed`.
    pub async fn close(&self, ticket: &str, state_id: Option<u64>) -> SendOutcome {
        let state = match state_id {
            Some(id) => json!({"state_id": id}),
            None => json!({"state": "closed"}),
        };
        self.put_state(ticket, &state).await
    }

    /// Sets ticket `ticket` to `open`.
    pub async fn reopen(&self, ticket: &str) -> SendOutcome {
        self.put_state(ticket, &json!({"state": "open"})).await
    }

    /// Ticket `ticket`'s state: its id and name (`GET /api/v1/tickets/{id}?expand=true`).
    pub async fn ticket_state(&self, ticket: &str) -> Result<(u64, String), String> {
        let body = self
            .get(&format!("/api/v1/tickets/{ticket}?expand=true"))
            .await?;
        match (
            body.get("state_id").and_then(Value::as_u64),
            body.get("state").and_then(Value::as_str),
        ) {
            (Some(id), Some(name)) => Ok((id, name.to_owned())),
            _ => Err(format!("{} named no state of ticket {ticket}", self.what())),
        }
    }

    async fn put_state(&self, ticket: &str, state: &Value) -> SendOutcome {
        let sent = self
            .http
            .put(format!("{}/api/v1/tickets/{ticket}", self.base))
            .header("Authorization", self.auth())
            .json(state)
            .send()
            .await;
        let (what, addressed) = (self.what(), format!("ticket {ticket}"));
        outcome_of(sent, &self.callee(&what, &addressed)).await
    }

    fn callee<'a>(&self, what: &'a str, addressed: &'a str) -> Callee<'a> {
        Callee {
            what,
            addressed,
            token_fix: "set a valid zammad.api_token (an agent's token, Profile → Token \
                        Access, with ticket.agent)",
        }
    }

    /// The token's user (`GET /api/v1/users/me`), by login.
    pub async fn me(&self) -> Result<String, String> {
        let body = self.get("/api/v1/users/me").await?;
        Ok(body
            .get("login")
            .and_then(Value::as_str)
            .unwrap_or("(no login)")
            .to_owned())
    }

    /// The instance's ticket states, with whether each is a close: its type (`state_type`,
    /// given by name with `expand=true`) is `closed`, as `Ticket::State.by_category(:closed)`
    /// counts it. A team may close tickets under a state of its own naming.
    pub async fn ticket_states(&self) -> Result<Vec<TicketState>, String> {
        let body = self.get("/api/v1/ticket_states?expand=true").await?;
        let list = body
            .as_array()
            .ok_or_else(|| format!("{} listed no ticket states", self.what()))?;
        Ok(list
            .iter()
            .filter_map(|s| {
                Some(TicketState {
                    id: s.get("id")?.as_u64()?,
                    name: s.get("name")?.as_str()?.to_owned(),
                    closed: s.get("state_type").and_then(Value::as_str) == Some("closed"),
                    active: s.get("active").and_then(Value::as_bool).unwrap_or(true),
                })
            })
            .collect())
    }

    /// The instance's groups: `(id, name)`.
    pub async fn groups(&self) -> Result<Vec<(u64, String)>, String> {
        let body = self.get("/api/v1/groups").await?;
        let list = body
            .as_array()
            .ok_or_else(|| format!("{} listed no groups", self.what()))?;
        Ok(list
            .iter()
            .filter_map(|g| Some((g.get("id")?.as_u64()?, g.get("name")?.as_str()?.to_owned())))
            .collect())
    }

    /// Page `page` (from 1) of the tickets changed at or after `since` (an article touches
    /// its ticket), the oldest change first, [`TICKETS_PAGE`] a page, each with its
    /// associations by name (`expand`). The condition form works without Elasticsearch:
    /// `CanSearch.search` reads the database when `query` is empty, and
    /// `Selector::Sql` makes `after (absolute)` a `>=` (`lib/selector/sql.rb`).
    pub async fn tickets_changed_since(
        &self,
        since: DateTime<Utc>,
        page: u32,
    ) -> Result<Vec<Value>, String> {
        let path = "/api/v1/tickets/search";
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Authorization", self.auth())
            .json(&json!({
                "condition": {"ticket.updated_at": {
                    "operator": "after (absolute)",
                    "value": since.to_rfc3339_opts(SecondsFormat::Millis, true),
                }},
                "sort_by": "updated_at",
                "order_by": "asc",
                "limit": TICKETS_PAGE,
                "page": page,
                "expand": true,
            }));
        let what = self.what();
        let body = call_json(request, &format!("POST {path}"), &self.callee(&what, "")).await?;
        body.as_array()
            .cloned()
            .ok_or_else(|| format!("{what} answered POST {path} without a list of tickets"))
    }

    /// Ticket `ticket`'s articles, oldest first (`GET /api/v1/ticket_articles/by_ticket`),
    /// each with its type and sender by name.
    pub async fn articles(&self, ticket: u64) -> Result<Vec<Value>, String> {
        let body = self
            .get(&format!("/api/v1/ticket_articles/by_ticket/{ticket}"))
            .await?;
        body.as_array()
            .cloned()
            .ok_or_else(|| format!("{} listed no articles of ticket {ticket}", self.what()))
    }

    /// User `id` (`GET /api/v1/users/{id}`): a ticket's customer, whose name, e-mail and
    /// mobile a search's ticket names only by login.
    pub async fn user(&self, id: u64) -> Result<Value, String> {
        self.get(&format!("/api/v1/users/{id}")).await
    }

    /// The instance's webhooks (`GET /api/v1/webhooks`, a list of records); needs
    /// `admin.webhook` (`app/policies/controllers/webhooks_controller_policy.rb`).
    pub async fn webhooks(&self) -> Result<Vec<Value>, String> {
        let body = self.get("/api/v1/webhooks").await?;
        body.as_array()
            .cloned()
            .ok_or_else(|| format!("{} listed no webhooks", self.what()))
    }

    /// The instance's triggers (`GET /api/v1/triggers`); needs `admin.trigger`.
    pub async fn triggers(&self) -> Result<Vec<Value>, String> {
        let body = self.get("/api/v1/triggers").await?;
        body.as_array()
            .cloned()
            .ok_or_else(|| format!("{} listed no triggers", self.what()))
    }

    /// Makes a webhook (`POST /api/v1/webhooks`) or a trigger (`POST /api/v1/triggers`):
    /// `what` is `webhooks` or `triggers`, `record` its attributes. Its id.
    pub async fn make(&self, what: &str, record: &Value) -> Result<u64, String> {
        let path = format!("/api/v1/{what}");
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Authorization", self.auth())
            .json(record);
        let who = self.what();
        let body = call_json(request, &format!("POST {path}"), &self.callee(&who, "")).await?;
        body.get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("{who} answered POST {path} without an id"))
    }

    /// Removes webhook or trigger `id` (`what` as for [`Self::make`]). Zammad refuses to
    /// remove a webhook a trigger still names (422, `EnsuresNoRelatedObjects`), so the
    /// triggers go first.
    pub async fn remove(&self, what: &str, id: &str) -> Result<Removed, String> {
        let path = format!("/api/v1/{what}/{id}");
        let request = self
            .http
            .delete(format!("{}{path}", self.base))
            .header("Authorization", self.auth());
        let who = self.what();
        remove(request, &format!("DELETE {path}"), &self.callee(&who, "")).await
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        let request = self
            .http
            .get(format!("{}{path}", self.base))
            .header("Authorization", self.auth());
        let what = self.what();
        call_json(request, &format!("GET {path}"), &self.callee(&what, "")).await
    }
}

/// Whether `header` (`X-Hub-Signature`) is `sha1=` and the hex HMAC-SHA1 of `body` keyed
/// with `token`, compared in constant time.
pub fn signed(token: &[u8], body: &[u8], header: &str) -> bool {
    let Some(sig) = header
        .strip_prefix("sha1=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(token) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// The reply a customer wrote in an article, without what it quotes: an e-mail answer
/// carries the question below it ("On … wrote:", "Am … schrieb:", Outlook's "-----Original
/// Message-----" or "From: ", lines starting with `>`). HTML is read as its text.
pub fn reply_of(body: &str, content_type: &str) -> String {
    let text = if content_type.contains("html") {
        html_text(body)
    } else {
        body.to_owned()
    };
    let mut kept = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        let header = (t.starts_with("On ") && t.ends_with("wrote:"))
            || (t.starts_with("Am ") && t.ends_with("schrieb:"))
            || t.starts_with("-----Original Message-----")
            || t.starts_with("From: ");
        if t.starts_with('>') || header {
            break;
        }
        kept.push(line);
    }
    kept.join("\n").trim().to_owned()
}

/// The text of an HTML body: tags dropped (`<br>` and block ends as line breaks), the few
/// entities e-mail clients use decoded. Enough for a digit or a comment; not a renderer.
fn html_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            rest = "";
            break;
        };
        let tag = rest[start + 1..start + end]
            .trim_start_matches('/')
            .to_ascii_lowercase();
        if ["br", "p", "div", "li", "blockquote"]
            .iter()
            .any(|t| tag == *t || tag.starts_with(&format!("{t} ")))
        {
            out.push('\n');
        }
        if tag.starts_with("blockquote") && !rest[start + 1..].starts_with('/') {
            // What the e-mail quotes is not the reply.
            out.push_str("> ");
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_over_the_raw_body() {
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(b"token").unwrap();
        mac.update(b"{\"ticket\":{}}");
        let header = format!("sha1={}", hex::encode(mac.finalize().into_bytes()));
        assert!(signed(b"token", b"{\"ticket\":{}}", &header));
        assert!(!signed(b"other", b"{\"ticket\":{}}", &header));
        assert!(!signed(b"token", b"{\"ticket\":{ }}", &header));
        assert!(!signed(b"token", b"{\"ticket\":{}}", "sha256=00"));
    }

    #[test]
    fn a_reply_is_read_without_what_it_quotes() {
        assert_eq!(
            reply_of(
                "4\n\nOn Mon, 1 Dec 2026, Support wrote:\n> Please rate\n> Reply 1 to 5",
                "text/plain"
            ),
            "4"
        );
        assert_eq!(
            reply_of(
                "<div>0</div><div><br></div><blockquote>Please rate</blockquote>",
                "text/html"
            ),
            "0"
        );
        assert_eq!(
            reply_of("Tom &amp; Jerry were <b>slow</b>", "text/html"),
            "Tom & Jerry were slow"
        );
        assert_eq!(
            reply_of(
                "4\r\n\r\nFrom: Support <s@example.com>\r\nSent: today",
                "text/plain"
            ),
            "4"
        );
    }
}
