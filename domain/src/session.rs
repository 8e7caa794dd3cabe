//! Sessions: one conversation of a client with an operator on a line.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Channel, ClientRef, Invalid, check_id, check_line, check_name_id, normalize_in_place};

/// `POST /v1/sessions`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    #[schema(value_type = super::Id)]
    pub id: String,
    #[schema(value_type = super::Id)]
    pub line_id: String,
    pub channel: Channel,
    pub client: ClientRef,
    /// The operator the rating will be credited to.
    #[schema(value_type = Option<super::Id>)]
    pub operator_id: Option<String>,
    pub opened_at: Option<DateTime<Utc>>,
}

impl NewSession {
    /// Composes the ids (see [`super::normalize_id`]) and checks every field.
    pub fn validate(&mut self) -> Result<(), Invalid> {
        for id in [&mut self.id, &mut self.line_id, &mut self.client.id]
            .into_iter()
            .chain(self.operator_id.as_mut())
        {
            normalize_in_place(id);
        }
        check_id("id", &self.id)?;
        check_name_id("line_id", &self.line_id)?;
        check_id("client.id", &self.client.id)?;
        if let Some(op) = &self.operator_id {
            check_name_id("operator_id", op)?;
        }
        if let Some(name) = &self.client.name {
            check_line("client.name", name)?;
            if name.chars().count() > 200 {
                return Err(Invalid::new(
                    "client.name",
                    "must be at most 200 characters",
                ));
            }
        }
        Ok(())
    }
}

/// Who ended a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClosedBy {
    Operator,
    Timeout,
    Client,
}

impl ClosedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ClosedBy::Operator => "operator",
            ClosedBy::Timeout => "timeout",
            ClosedBy::Client => "client",
        }
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageFrom {
    Client,
    Operator,
}
