//! Rating requests and the answers to them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Invalid, Scale, check_text};

/// Where a rating request is in its life. See the README for the whole diagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Waiting for its due time (or its next retry).
    Scheduled,
    /// Claimed by a scheduler that is sending it now.
    Sending,
    /// The platform accepted it.
    Sent,
    /// The channel confirmed the client has it.
    Delivered,
    /// The client answered.
    Answered,
    /// The client wrote again before it was due.
    Cancelled,
    /// No answer within the line's answer window.
    Expired,
    /// A Meta channel's 24-hour window had passed and no fallback was allowed.
    WindowClosed,
    /// The platform refused it for good.
    Undeliverable,
    /// Retries exhausted, the send deadline passed, or a configuration fault.
    Failed,
    /// A rule of the line's `survey` chose not to ask (its name is in `last_error`); never
    /// sent, never counted as requested.
    Skipped,
}

impl RequestStatus {
    /// Every status, in the order of a request's life.
    pub const ALL: [RequestStatus; 11] = [
        RequestStatus::Scheduled,
        RequestStatus::Sending,
        RequestStatus::Sent,
        RequestStatus::Delivered,
        RequestStatus::Answered,
        RequestStatus::Cancelled,
        RequestStatus::Expired,
        RequestStatus::WindowClosed,
        RequestStatus::Undeliverable,
        RequestStatus::Failed,
        RequestStatus::Skipped,
    ];

    /// Its name in the API, the store and events (`window_closed`).
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Scheduled => "scheduled",
            RequestStatus::Sending => "sending",
            RequestStatus::Sent => "sent",
            RequestStatus::Delivered => "delivered",
            RequestStatus::Answered => "answered",
            RequestStatus::Cancelled => "cancelled",
            RequestStatus::Expired => "expired",
            RequestStatus::WindowClosed => "window_closed",
            RequestStatus::Undeliverable => "undeliverable",
            RequestStatus::Failed => "failed",
            RequestStatus::Skipped => "skipped",
        }
    }

    /// Whether a request in this status takes a client's first answer, after `attempts`
    /// tries to send it. `sending` does: a fast connector may answer before the scheduler
    /// has recorded the platform's acceptance (that record then keeps the status
    /// `answered`). `scheduled` does after a try: a send that timed out on Rateline's side
    /// may still have reached the client, and their answer proves it did; the retry is then
    /// moot. Answered, ended and never-sent requests do not.
    pub fn takes_answer(self, attempts: i64) -> bool {
        match self {
            RequestStatus::Sending | RequestStatus::Sent | RequestStatus::Delivered => true,
            RequestStatus::Scheduled => attempts > 0,
            RequestStatus::Answered
            | RequestStatus::Cancelled
            | RequestStatus::Expired
            | RequestStatus::WindowClosed
            | RequestStatus::Undeliverable
            | RequestStatus::Failed
            | RequestStatus::Skipped => false,
        }
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RequestStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RequestStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown request status '{s}'"))
    }
}

/// The OpenAPI schema of an answer's value: from the lowest to the highest value any
/// scale allows ([`Scale::allowed`]). Which of them a request takes depends on its line's
/// scale, which the request's id does not show; [`RatingAnswer::validate`] checks that.
fn answer_value() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    let ends = Scale::ALL.map(|s| s.allowed().into_inner());
    let lowest = ends.iter().map(|(low, _)| *low).min();
    let highest = ends.iter().map(|(_, high)| *high).max();
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Integer)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Int64,
        )))
        .minimum(lowest)
        .maximum(highest)
        .into()
}

/// `POST /v1/ratings`: a client's answer to a request.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingAnswer {
    /// The request being answered, by the id Rateline sent with it.
    #[schema(value_type = super::Id)]
    pub request_id: String,
    /// The answer on the line's scale: 1 (👍) or 0 (👎), or 1 to 5 stars. Another value later
    /// changes the rating, as far as the line's `max_changes` and `change_window_days` allow.
    #[schema(schema_with = answer_value)]
    pub value: i64,
    /// What the client wrote, at most 2000 characters. Absent, a stored comment stays.
    pub comment: Option<String>,
    /// The client's answer to "Was your issue resolved?". Absent, a stored answer stays.
    pub resolved: Option<bool>,
    /// After a low rating: the ids of the reasons the client picked from the line's
    /// `rating.low_reasons` (an empty list: they picked none). Absent: not answered yet.
    #[serde(default)]
    pub reasons: Option<Vec<String>>,
}

/// The longest comment kept, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;

impl RatingAnswer {
    /// Checks the value against the line's scale and the comment's length.
    pub fn validate(&self, scale: Scale) -> Result<(), Invalid> {
        if !scale.allowed().contains(&self.value) {
            let allowed = match scale {
                Scale::Binary => "1 (👍) or 0 (👎)",
                Scale::FiveStar => "1, 2, 3, 4 or 5",
            };
            return Err(Invalid::new(
                "value",
                format!(
                    "{} is not allowed on a {} line: send {allowed}",
                    self.value,
                    scale.as_str()
                ),
            ));
        }
        if let Some(comment) = &self.comment {
            check_text("comment", comment)?;
            if comment.chars().count() > MAX_COMMENT_CHARS {
                return Err(Invalid::new(
                    "comment",
                    format!("must be at most {MAX_COMMENT_CHARS} characters"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_request_takes_an_answer_once_it_may_have_reached_the_client() {
        let takes: Vec<(RequestStatus, bool, bool)> = RequestStatus::ALL
            .into_iter()
            .map(|s| (s, s.takes_answer(0), s.takes_answer(1)))
            .filter(|(_, before, after)| *before || *after)
            .collect();
        assert_eq!(
            takes,
            vec![
                (RequestStatus::Scheduled, false, true),
                (RequestStatus::Sending, true, true),
                (RequestStatus::Sent, true, true),
                (RequestStatus::Delivered, true, true),
            ]
        );
    }
    use super::*;

    fn answer(value: i64) -> RatingAnswer {
        RatingAnswer {
            request_id: "r".into(),
            value,
            comment: None,
            resolved: None,
            reasons: None,
        }
    }

    #[test]
    fn values_outside_the_scale_are_refused_with_the_allowed_ones_named() {
        let err = answer(2).validate(Scale::Binary).unwrap_err();
        assert_eq!(err.field, "value");
        assert!(err.message.contains("1 (👍) or 0 (👎)"), "{}", err.message);
        let err = answer(0).validate(Scale::FiveStar).unwrap_err();
        assert!(err.message.contains("1, 2, 3, 4 or 5"), "{}", err.message);
        assert!(answer(0).validate(Scale::Binary).is_ok());
        assert!(answer(5).validate(Scale::FiveStar).is_ok());
    }

    #[test]
    fn every_status_reads_back_from_its_name() {
        for st in RequestStatus::ALL {
            assert_eq!(st.as_str().parse::<RequestStatus>().unwrap(), st);
        }
    }
}
