//! Event subscriptions: where a CRM or a data warehouse hears about ratings, responses and
//! sends that failed, and which of those events it wants.

use serde::{Deserialize, Serialize};

use crate::ids::{http_url_schema, id_list_schema};
use crate::{Invalid, check_http_url, check_name_id, check_secret};

/// What happened, as an event's `type` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventType {
    /// A client rated a session for the first time.
    #[serde(rename = "rating.created")]
    RatingCreated,
    /// A rating's value, "resolved?" answer or reasons changed.
    #[serde(rename = "rating.changed")]
    RatingChanged,
    /// A supervisor voided a rating: it no longer counts.
    #[serde(rename = "rating.voided")]
    RatingVoided,
    /// Only the client's comment came or changed.
    #[serde(rename = "rating.commented")]
    RatingCommented,
    /// A supervisor wrote the first response to a rating.
    #[serde(rename = "response.created")]
    ResponseCreated,
    /// A response reached the client's channel.
    #[serde(rename = "response.sent")]
    ResponseSent,
    /// A rating request ended without reaching the client (retries used up, the send
    /// deadline passed, or the channel refused it for good).
    #[serde(rename = "request.failed")]
    RequestFailed,
    /// The client cannot be reached on the channel (blocked the bot, no such user).
    #[serde(rename = "request.undeliverable")]
    RequestUndeliverable,
    /// Meta's 24-hour window was closed and no template could stand in.
    #[serde(rename = "request.window_closed")]
    RequestWindowClosed,
    /// A low-rating alert could not reach its recipient.
    #[serde(rename = "alert.failed")]
    AlertFailed,
}

impl EventType {
    /// Every event type, for reading a name and for listing them.
    pub const ALL: [EventType; 10] = [
        EventType::RatingCreated,
        EventType::RatingChanged,
        EventType::RatingVoided,
        EventType::RatingCommented,
        EventType::ResponseCreated,
        EventType::ResponseSent,
        EventType::RequestFailed,
        EventType::RequestUndeliverable,
        EventType::RequestWindowClosed,
        EventType::AlertFailed,
    ];

    /// Its name in an event's `type` and a subscription's `events` (`rating.created`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::RatingCreated => "rating.created",
            EventType::RatingChanged => "rating.changed",
            EventType::RatingVoided => "rating.voided",
            EventType::RatingCommented => "rating.commented",
            EventType::ResponseCreated => "response.created",
            EventType::ResponseSent => "response.sent",
            EventType::RequestFailed => "request.failed",
            EventType::RequestUndeliverable => "request.undeliverable",
            EventType::RequestWindowClosed => "request.window_closed",
            EventType::AlertFailed => "alert.failed",
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The most lines one subscription may name.
pub const MAX_SUBSCRIPTION_LINES: usize = 100;

/// The OpenAPI schema of a subscription's lines: 1 to [`MAX_SUBSCRIPTION_LINES`], as
/// [`SubscriptionSettings::validate`] checks (left out, it is every line).
fn subscription_lines() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    id_list_schema(1, MAX_SUBSCRIPTION_LINES)
}

/// `PUT /v1/subscriptions/{id}`: where events go and which.
#[derive(Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSettings {
    /// Where each event is POSTed, under the outbound policy: an absolute `http://` or
    /// `https://` URL.
    #[schema(schema_with = http_url_schema)]
    pub url: String,
    /// Signs every event (`X-Rateline-Signature`), at least 16 characters. Write-only: a
    /// `PUT` without it keeps the stored one; a new subscription needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 16)]
    pub secret: Option<String>,
    /// The events it wants, at least one.
    #[schema(min_items = 1)]
    pub events: Vec<EventType>,
    /// Only events of sessions on these lines; every line when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = subscription_lines)]
    pub lines: Option<Vec<String>>,
}

impl std::fmt::Debug for SubscriptionSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionSettings")
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .field("events", &self.events)
            .field("lines", &self.lines)
            .finish()
    }
}

impl SubscriptionSettings {
    /// Checks every field and puts the lists in a stable order, without repeats.
    pub fn validate(&mut self) -> Result<(), Invalid> {
        check_http_url("url", &self.url)?;
        if let Some(secret) = &self.secret {
            check_secret("secret", secret, "every event")?;
        }
        if self.events.is_empty() {
            return Err(Invalid::new(
                "events",
                format!(
                    "must name at least one event: {}",
                    EventType::ALL.map(EventType::as_str).join(", ")
                ),
            ));
        }
        self.events.sort_by_key(|e| e.as_str());
        self.events.dedup();
        if let Some(lines) = &mut self.lines {
            if lines.is_empty() {
                return Err(Invalid::new(
                    "lines",
                    "must name at least one line, or be left out for every line",
                ));
            }
            if lines.len() > MAX_SUBSCRIPTION_LINES {
                return Err(Invalid::new(
                    "lines",
                    format!("must name at most {MAX_SUBSCRIPTION_LINES} lines"),
                ));
            }
            for (i, line) in lines.iter().enumerate() {
                check_name_id(&format!("lines[{i}]"), line)?;
            }
            lines.sort();
            lines.dedup();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(events: &str) -> Result<SubscriptionSettings, serde_json::Error> {
        serde_json::from_str(&format!(
            r#"{{"url": "https://crm.example/hook", "secret": "0123456789abcdef", "events": {events}}}"#
        ))
    }

    #[test]
    fn events_are_named_as_documented_and_unknown_ones_are_refused() {
        let s = settings(r#"["rating.created", "request.window_closed"]"#).unwrap();
        assert_eq!(
            s.events,
            [EventType::RatingCreated, EventType::RequestWindowClosed]
        );
        let e = settings(r#"["rating.deleted"]"#).unwrap_err().to_string();
        assert!(e.contains("rating.deleted"), "{e}");
        for kind in EventType::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }

    #[test]
    fn a_subscription_needs_events_a_long_secret_and_real_lines() {
        let mut s = settings("[]").unwrap();
        assert_eq!(s.validate().unwrap_err().field, "events");
        let mut s = settings(r#"["alert.failed", "alert.failed"]"#).unwrap();
        s.validate().unwrap();
        assert_eq!(s.events, [EventType::AlertFailed]);
        s.secret = Some("short".into());
        assert_eq!(s.validate().unwrap_err().field, "secret");
        s.secret = None;
        s.lines = Some(vec![]);
        assert_eq!(s.validate().unwrap_err().field, "lines");
        s.lines = Some(vec!["sales".into(), "Bad Id".into()]);
        assert_eq!(s.validate().unwrap_err().field, "lines[1]");
        s.lines = Some(vec!["support".into(), "sales".into()]);
        s.validate().unwrap();
        assert_eq!(s.lines.unwrap(), ["sales", "support"]);
    }
}
