//! Rateline's words: channels, scales, clients, lines, people, sessions, ratings and their
//! statuses, with the rules that validate them. Plain types that are validated once, at
//! the edge, so the inside never re-checks: a value of these types is a value Rateline
//! accepts.
//!
//! This crate is below both the application and the channel adapters, and uses neither.

mod address;
mod alert_plan;
mod channel;
mod error_code;
mod followup;
mod helpdesk;
mod ids;
mod line;
mod pace;
mod person;
mod rating;
mod scale;
mod session;
#[cfg(feature = "sqlx")]
mod stored;
mod subscription;
mod survey;

pub use address::ClientAddress;
pub use alert_plan::{
    Listener, PlannedAlert, Served, Unsent, audience, operator_kept_from_ratings, reach,
};
pub use channel::{
    Channel, ClientRef, META_WINDOW, META_WINDOW_MARGIN, UnknownChannel, meta_window_open,
};
pub use error_code::ErrorCode;
pub use followup::{
    AppealBody, DecisionBody, EvaluationBody, FlagBody, InboxAction, InboxActionBody,
    MAX_RATINGS_PER_ACTION, ResponseBody,
};
pub use helpdesk::{
    ChatwootAccount, ChatwootSettings, Helpdesk, HelpdeskConversation, HelpdeskSettings,
    MAX_HELPDESK_MAP, RocketChatSettings, ZammadSettings,
};
pub use ids::{
    Id, LineId, Name, NameId, PersonId, RequestId, SECRET_MIN_CHARS, SessionId, check_http_url,
    check_id, check_line, check_name_id, check_secret, check_text, normalize_id,
    normalize_in_place, refusal_of, shown_url,
};
pub use line::{
    Across, LineSettings, LowReason, MAX_ALERTED_PEOPLE, MAX_ALLOWED_ORIGINS, MAX_LOW_REASONS,
    MAX_NOTIFY_LOW, MAX_REASON_CHARS, MAX_TAGS, ManagedBy, RatingSettings, Recipient, SurveyRules,
    WebchatSettings, WebhookSettings, WhatsappTemplate, check_tags,
};
pub use pace::{AlertPace, PaceMode, QuietHours, WEEKLY_REPORT_AT, report_week};
pub use person::{Group, MAX_GROUP_MEMBERS, MAX_PERSON_LINES, Notify, Person, Role, time_zone};
pub use rating::{MAX_COMMENT_CHARS, RatingAnswer, RequestStatus};
pub use scale::Scale;
pub use session::{ClosedBy, MessageFrom, NewSession};
pub use subscription::{EventType, MAX_SUBSCRIPTION_LINES, SubscriptionSettings};
pub use survey::SurveyedClose;

/// A secret held in memory: its `Debug` never shows it, so no log line can.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A value that failed validation: which field, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// The field as the API names it, e.g. `rating.delay_seconds` or `notify_low[2].id`.
    pub field: String,
    /// What is wrong with the value and how to put it right, for whoever sent it.
    pub message: String,
}

impl Invalid {
    /// The refusal of `field`, saying `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
