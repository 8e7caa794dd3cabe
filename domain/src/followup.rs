//! What supervisors, operators and admins send in the follow-up loop.

use serde::Deserialize;
use utoipa::openapi::{RefOr, schema::Schema};

use super::ids::id_list_schema;
use super::{Invalid, NameId, PersonId, check_text};

/// The longest response, appeal reason, note or evaluation comment, in characters
/// (Telegram's message limit, as a response may be sent to the client there).
pub const MAX_FOLLOWUP_CHARS: usize = 4096;

/// The OpenAPI schema of a text that must say something: 1 to [`MAX_FOLLOWUP_CHARS`]
/// characters, one at least not blank, and no control character but line breaks and tabs
/// (the rules [`check_said`] enforces).
fn said_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_FOLLOWUP_CHARS))
        .pattern(Some(SAID))
        .into()
}

/// Some character that is neither blank nor a control character, among characters that
/// are not control characters except line breaks and tabs.
const SAID: &str = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$";

/// Checks a free text that must say something.
fn check_said(field: &str, text: &str) -> Result<(), Invalid> {
    check_text(field, text)?;
    let n = text.trim().chars().count();
    if n == 0 || text.chars().count() > MAX_FOLLOWUP_CHARS {
        return Err(Invalid::new(
            field,
            format!("must be 1 to {MAX_FOLLOWUP_CHARS} characters"),
        ));
    }
    Ok(())
}

fn check_optional(field: &str, text: &Option<String>) -> Result<(), Invalid> {
    text.as_deref().map_or(Ok(()), |t| check_said(field, t))
}

/// `PUT /v1/ratings/{id}/response`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseBody {
    /// The response: 1 to 4096 characters, not all blank. Sent to the client as written when
    /// `send_to_client` is set.
    #[schema(schema_with = said_schema)]
    pub text: String,
    /// Send this text to the client through the session's channel.
    #[serde(default)]
    pub send_to_client: bool,
    /// The supervisor who wrote it (a person id).
    #[serde(default)]
    pub author_id: Option<PersonId>,
}

impl ResponseBody {
    /// Checks the text's length, naming `text`.
    pub fn validate(&self) -> Result<(), Invalid> {
        check_said("text", &self.text)
    }
}

/// `POST /v1/ratings/{id}/appeal`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppealBody {
    /// What outside the operator's control caused the rating: 1 to 4096 characters, not
    /// all blank.
    #[schema(schema_with = said_schema)]
    pub reason: String,
}

impl AppealBody {
    /// Checks the reason's length, naming `reason`.
    pub fn validate(&self) -> Result<(), Invalid> {
        check_said("reason", &self.reason)
    }
}

/// `POST /v1/appeals/{id}/decision`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// True voids the rating: out of the report, kept in the history.
    pub approve: bool,
    /// Why it was decided so, kept with the appeal: 1 to 4096 characters when given.
    #[serde(default)]
    #[schema(schema_with = said_schema)]
    pub note: Option<String>,
    /// The admin who decided (a person id).
    #[serde(default)]
    pub decided_by: Option<PersonId>,
}

impl DecisionBody {
    /// Checks the note's length, when there is one.
    pub fn validate(&self) -> Result<(), Invalid> {
        check_optional("note", &self.note)
    }
}

/// `PUT /v1/ratings/{id}/comment-flag`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagBody {
    /// True hides the comment from reports and alerts; false shows it again.
    pub abusive: bool,
}

/// `PUT /v1/sessions/{id}/evaluation`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluationBody {
    /// The supervisor's own mark for the session: 1 to 5, whatever the line's scale.
    #[schema(minimum = 1, maximum = 5)]
    pub stars: i64,
    /// What the supervisor has to say about the session: 1 to 4096 characters when given.
    #[serde(default)]
    #[schema(schema_with = said_schema)]
    pub comment: Option<String>,
    /// The supervisor who evaluated (a person id).
    #[serde(default)]
    pub author_id: Option<PersonId>,
}

impl EvaluationBody {
    /// Checks the stars and the comment's length.
    pub fn validate(&self) -> Result<(), Invalid> {
        if !(1..=5).contains(&self.stars) {
            return Err(Invalid::new(
                "stars",
                format!("{} is not allowed: send 1, 2, 3, 4 or 5", self.stars),
            ));
        }
        check_optional("comment", &self.comment)
    }
}

/// The most ratings one inbox action takes: a page of the inbox at its largest.
pub const MAX_RATINGS_PER_ACTION: usize = 200;

/// What an inbox action does to each rating it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboxAction {
    /// Gives the ratings to `assignee_id` (a supervisor of their lines, or an admin).
    Assign,
    /// Gives them back to nobody.
    Unassign,
    /// Handled with no follow-up needed, with an optional `note`.
    Close,
    /// Undoes a close: unanswered (or assigned) again.
    Reopen,
}

/// The OpenAPI schema of an action's ratings: 1 to [`MAX_RATINGS_PER_ACTION`], as
/// [`InboxActionBody::validate`] checks.
fn action_ratings() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    id_list_schema(1, MAX_RATINGS_PER_ACTION)
}

/// `POST /v1/ratings/actions`: one action on several ratings, all or none. Its OpenAPI
/// schema is written by hand (below), as one form per action, so that it states which field
/// goes with which action as [`InboxActionBody::validate`] checks it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxActionBody {
    /// 1 to 200 ratings.
    pub rating_ids: Vec<NameId>,
    /// What is done to each rating named.
    pub action: InboxAction,
    /// Whom `assign` gives them to (a person id); the caller's own person when absent.
    #[serde(default)]
    pub assignee_id: Option<PersonId>,
    /// Why no follow-up is needed, for `close`.
    #[serde(default)]
    pub note: Option<String>,
}

/// The body's description: one of four forms, one per action, each naming its action and
/// taking only its own fields (`assignee_id` with `assign`, `note` with `close`), so that a
/// client generated from the description cannot send what `validate` refuses.
impl utoipa::PartialSchema for InboxActionBody {
    fn schema() -> RefOr<Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Type};
        let form = |action: &str, what: &str, extra: Option<(&str, RefOr<Schema>)>| {
            let mut object = ObjectBuilder::new()
                .description(Some(what))
                .property("rating_ids", action_ratings())
                .required("rating_ids")
                .property(
                    "action",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some([action])),
                )
                .required("action")
                .additional_properties(Some(AdditionalProperties::FreeForm(false)));
            if let Some((field, schema)) = extra {
                object = object.property(field, schema);
            }
            object
        };
        let mut note = said_schema();
        if let RefOr::T(Schema::Object(o)) = &mut note {
            o.description = Some("Why no follow-up is needed.".to_owned());
        }
        OneOfBuilder::new()
            .item(form(
                "assign",
                "Gives the ratings to `assignee_id` (a supervisor of their lines, or an \
                 admin); to the caller's own person when it is absent.",
                Some(("assignee_id", PersonId::schema())),
            ))
            .item(form("unassign", "Gives the ratings back to nobody.", None))
            .item(form(
                "close",
                "Marks the ratings handled with no follow-up needed.",
                Some(("note", note)),
            ))
            .item(form(
                "reopen",
                "Undoes a close: the ratings are unanswered (or assigned) again.",
                None,
            ))
            .into()
    }
}

impl utoipa::ToSchema for InboxActionBody {}

impl InboxActionBody {
    /// Checks what needs no lookup: 1 to [`MAX_RATINGS_PER_ACTION`] ratings, a `note` only with
    /// `close`, an `assignee_id` only with `assign`, and the note's length.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.rating_ids.is_empty() || self.rating_ids.len() > MAX_RATINGS_PER_ACTION {
            return Err(Invalid::new(
                "rating_ids",
                format!(
                    "name 1 to {MAX_RATINGS_PER_ACTION} ratings, not {}",
                    self.rating_ids.len()
                ),
            ));
        }
        if self.note.is_some() && self.action != InboxAction::Close {
            return Err(Invalid::new("note", "a note goes with close only"));
        }
        if self.assignee_id.is_some() && self.action != InboxAction::Assign {
            return Err(Invalid::new(
                "assignee_id",
                "an assignee goes with assign only",
            ));
        }
        check_optional("note", &self.note)
    }
}

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema;

    use super::*;
    use crate::ids::pattern_states_the_rule;

    /// The description's pattern for a said text accepts what `check_said` accepts (lengths
    /// aside, which the description states as lengths).
    #[test]
    fn the_said_pattern_states_the_rule_it_describes() {
        pattern_states_the_rule(
            SAID,
            |text| check_said("text", text).is_ok(),
            &[
                "",
                " ",
                "\n\t ",
                "a",
                " a ",
                "line one\nline two\r\n",
                "\u{7}bell",
                "ok\u{85}",
                "\u{0}",
                "tab\there",
                "\u{a0}",
                "é",
            ],
        );
    }

    #[test]
    fn empty_or_overlong_texts_and_stars_off_the_scale_are_named() {
        let r = ResponseBody {
            text: "  ".into(),
            send_to_client: false,
            author_id: None,
        };
        assert_eq!(r.validate().unwrap_err().field, "text");
        let e = EvaluationBody {
            stars: 6,
            comment: None,
            author_id: None,
        };
        assert!(
            e.validate()
                .unwrap_err()
                .message
                .contains("1, 2, 3, 4 or 5")
        );
        let a = AppealBody {
            reason: "x".repeat(MAX_FOLLOWUP_CHARS + 1),
        };
        assert_eq!(a.validate().unwrap_err().field, "reason");
        // An author's id is refused as it is read, with the rule it breaks.
        let (read, refused) = crate::refusal_of(|| {
            serde_json::from_str::<DecisionBody>(r#"{"approve": true, "decided_by": "a b"}"#)
        });
        assert!(read.is_err());
        assert!(refused.unwrap().message.contains("whitespace"));
    }

    /// Each form of the description takes a field exactly when `validate` takes it with that
    /// form's action, and the forms name every action once.
    #[test]
    fn the_inbox_action_forms_take_the_fields_validate_takes() {
        let described = serde_json::to_value(InboxActionBody::schema()).expect("a schema");
        let forms = described["oneOf"].as_array().expect("one form per action");
        let mut actions = Vec::new();
        for form in forms {
            assert_eq!(form["additionalProperties"], false, "{form}");
            let action = form["properties"]["action"]["enum"][0].clone();
            actions.push(action.as_str().expect("an action name").to_owned());
            for (field, value) in [("assignee_id", "ann"), ("note", "no need")] {
                let body = serde_json::json!({
                    "rating_ids": ["r1"], "action": action, field: value,
                });
                let read: InboxActionBody = serde_json::from_value(body).expect("a body");
                assert_eq!(
                    read.validate().is_ok(),
                    form["properties"].get(field).is_some(),
                    "{field} with {action}"
                );
            }
        }
        assert_eq!(actions, ["assign", "unassign", "close", "reopen"]);
    }
}
