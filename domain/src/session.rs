//! Sessions: one conversation of a client with an operator on a line.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Channel, ClientRef, Invalid, LineId, PersonId, SessionId, check_line};

/// The OpenAPI schema of the channel a session is opened on: every channel but the
/// helpdesks', whose sessions their connectors open (the rule
/// [`NewSession::check_not_a_helpdesks`] enforces).
fn opened_channel() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    let names = Channel::ALL
        .into_iter()
        .filter(|c| c.helpdesk_prefix().is_none())
        .map(Channel::as_str);
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(names))
        .into()
}

/// `POST /v1/sessions`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    /// The conversation's id, as the contact center names it: opening the same id again returns
    /// the stored session unchanged. Ids starting with `chatwoot-`, `zammad-` or
    /// `rocketchat-` are the connectors'.
    pub id: SessionId,
    /// The line whose settings say whether and how the client is asked; it must exist and be
    /// active.
    pub line_id: LineId,
    /// The channel the conversation uses, and so the one the request goes through; it must be
    /// enabled on the server, and not `chatwoot`, `zammad` or `rocketchat`, whose sessions
    /// their connectors open.
    #[schema(schema_with = opened_channel)]
    pub channel: Channel,
    /// The client who will be asked.
    pub client: ClientRef,
    /// The operator the rating will be credited to.
    pub operator_id: Option<PersonId>,
    /// When the conversation started; now when absent. Up to five minutes in the future is taken
    /// as now; further is refused.
    pub opened_at: Option<DateTime<Utc>>,
}

impl NewSession {
    /// Checks what the ids' types do not: the client's name.
    pub fn validate(&self) -> Result<(), Invalid> {
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

    /// Refuses what only a helpdesk may open (see [`Channel::helpdesk_prefix`]): a session
    /// of a helpdesk's channel, or one whose id starts with a helpdesk's prefix.
    /// Ids are compared without regard to case, so `Chatwoot-1-7` is refused too.
    pub fn check_not_a_helpdesks(&self) -> Result<(), Invalid> {
        if self.channel.helpdesk_prefix().is_some() {
            return Err(Invalid::new(
                "channel",
                format!(
                    "sessions of the {} channel are opened by its helpdesk connector from the \
                     helpdesk's webhooks; open your own sessions on another channel",
                    self.channel.as_str()
                ),
            ));
        }
        let id = self.id.as_str().to_lowercase();
        if let Some(channel) = Channel::ALL
            .into_iter()
            .find(|c| c.helpdesk_prefix().is_some_and(|p| id.starts_with(p)))
        {
            return Err(Invalid::new(
                "id",
                format!(
                    "session ids starting with '{}' belong to the {} connector's conversations; \
                     choose an id without that prefix",
                    channel.helpdesk_prefix().unwrap_or_default(),
                    channel.as_str()
                ),
            ));
        }
        Ok(())
    }
}

/// Who ended a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClosedBy {
    /// The operator closed the conversation (a helpdesk's closes are this too).
    Operator,
    /// The conversation went quiet: Rateline closed it after the line's `auto_close_minutes`, or
    /// the contact center's own timer did.
    Timeout,
    /// The client ended the conversation.
    Client,
}

impl ClosedBy {
    /// Its name in the API and the store (`operator`, `timeout`, `client`).
    pub fn as_str(self) -> &'static str {
        match self {
            ClosedBy::Operator => "operator",
            ClosedBy::Timeout => "timeout",
            ClosedBy::Client => "client",
        }
    }
}

impl std::str::FromStr for ClosedBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [ClosedBy::Operator, ClosedBy::Timeout, ClosedBy::Client]
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown closed_by '{s}'"))
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageFrom {
    /// The client wrote it: it counts for `survey.min_client_messages`, and after the close it
    /// takes back a request still waiting to be sent, reopening the session.
    Client,
    /// An operator wrote it: it only moves the session's last activity, which
    /// `auto_close_minutes` counts from.
    Operator,
}
