//! The helpdesks' settings: a Chatwoot account, a Zammad instance or a Rocket.Chat server
//! whose conversations Rateline rates, where it is, how it is reached and signed, and which
//! of its inboxes (groups, departments) and agents are which lines and people. One shape for
//! the config file (`[[chatwoot]]`, `[[zammad]]`, `[[rocketchat]]`), the API and the
//! Helpdesks page.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::ids::{http_url_schema, id_schema};
use crate::{Invalid, check_http_url, check_line, check_name_id};

/// The most entries a helpdesk's inbox (group) or agent map holds.
pub const MAX_HELPDESK_MAP: usize = 500;

/// The longest token, secret or URL a helpdesk takes, in bytes.
const MAX_SETTING_BYTES: usize = 2048;

/// A helpdesk Rateline connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Helpdesk {
    /// Chatwoot: one helpdesk is an account, whose inboxes are lines and whose agents are
    /// people.
    Chatwoot,
    /// Zammad: one helpdesk is an instance, whose groups are lines and whose agents are
    /// people.
    Zammad,
    /// Rocket.Chat Omnichannel: one helpdesk is a server, whose departments are lines and
    /// whose agents are people.
    #[serde(rename = "rocketchat")]
    RocketChat,
}

impl Helpdesk {
    /// Every helpdesk Rateline connects to.
    pub const ALL: [Helpdesk; 3] = [Helpdesk::Chatwoot, Helpdesk::Zammad, Helpdesk::RocketChat];

    /// Its name in URLs, the store and the config file (`chatwoot`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Helpdesk::Chatwoot => "chatwoot",
            Helpdesk::Zammad => "zammad",
            Helpdesk::RocketChat => "rocketchat",
        }
    }

    /// Its name for people (`Chatwoot`).
    pub fn title(self) -> &'static str {
        match self {
            Helpdesk::Chatwoot => "Chatwoot",
            Helpdesk::Zammad => "Zammad",
            Helpdesk::RocketChat => "Rocket.Chat",
        }
    }

    /// What one helpdesk is: a Chatwoot `account`, a Zammad `instance`.
    pub fn unit(self) -> &'static str {
        match self {
            Helpdesk::Chatwoot => "account",
            Helpdesk::Zammad => "instance",
            Helpdesk::RocketChat => "server",
        }
    }

    /// One of its helpdesks as messages name it: `Chatwoot account '3'`.
    pub fn named(self, id: &str) -> String {
        format!("{} {} '{id}'", self.title(), self.unit())
    }

    /// The settings field of the webhook's signing secret.
    pub fn secret_field(self) -> &'static str {
        match self {
            Helpdesk::Chatwoot => "webhook_secret",
            Helpdesk::Zammad | Helpdesk::RocketChat => "webhook_token",
        }
    }

    /// The settings field that maps where conversations arrive (inboxes, groups) to lines.
    pub fn places_field(self) -> &'static str {
        match self {
            Helpdesk::Chatwoot => "inboxes",
            Helpdesk::Zammad => "groups",
            Helpdesk::RocketChat => "departments",
        }
    }

    /// Where the helpdesk's webhook calls go, on this server.
    pub fn webhook_path(self, id: &str) -> String {
        format!("/connectors/{}/{id}/webhook", self.as_str())
    }

    /// Checks a helpdesk's id: a Chatwoot account's is its number in Chatwoot's URLs, a
    /// Zammad instance's or a Rocket.Chat server's a name of letters, digits, `-` and `_`.
    pub fn check_id(self, field: &str, id: &str) -> Result<(), Invalid> {
        match self {
            Helpdesk::Chatwoot if id.parse::<u64>().is_ok_and(|n| n.to_string() == id) => Ok(()),
            Helpdesk::Chatwoot => Err(Invalid::new(
                field,
                format!(
                    "'{id}' is not a Chatwoot account id: the number in Chatwoot's URLs \
                     (/app/accounts/1/...)"
                ),
            )),
            Helpdesk::Zammad | Helpdesk::RocketChat => check_name_id(field, id),
        }
    }
}

impl std::fmt::Display for Helpdesk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Helpdesk {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "chatwoot" => Ok(Helpdesk::Chatwoot),
            "zammad" => Ok(Helpdesk::Zammad),
            "rocketchat" => Ok(Helpdesk::RocketChat),
            other => Err(format!("unknown helpdesk '{other}'")),
        }
    }
}

/// A session's conversation in a helpdesk: where the Chatwoot or Zammad channel posts the
/// session's messages. The store keeps it from the webhook that opened the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpdeskConversation {
    /// `chatwoot` or `zammad`.
    pub helpdesk: String,
    /// The account (Chatwoot) or instance the conversation is in.
    pub account: String,
    /// The conversation's id in the helpdesk's API.
    pub conversation: String,
    /// The helpdesk's channel of the conversation, e.g. Chatwoot's `Channel::Whatsapp`,
    /// Zammad's `email`.
    pub medium: String,
    /// Where a message to the client is addressed, when the helpdesk needs it (a Zammad
    /// e-mail's `to`).
    pub address: Option<String>,
}

/// What every helpdesk's settings say, under the names each helpdesk's docs use.
pub trait HelpdeskSettings:
    Serialize + DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static
{
    /// The helpdesk these settings are for.
    const HELPDESK: Helpdesk;

    /// The helpdesk's address.
    fn url(&self) -> &str;
    /// The token Rateline calls the helpdesk's API with (write-only).
    fn api_token(&self) -> Option<&str>;
    /// The webhook's signing secret (write-only).
    fn secret(&self) -> Option<&str>;
    /// Whether webhook calls are taken unsigned while there is no secret (see `signed`); anyone
    /// who can reach the URL could then forge them.
    fn allow_unsigned(&self) -> bool;
    /// Inbox (Chatwoot) or group (Zammad) id → line id.
    fn places(&self) -> &BTreeMap<String, String>;
    /// Agent id → person id.
    fn agents(&self) -> &BTreeMap<String, String>;
    /// Each rating is written into its conversation as a note for agents.
    fn note_for_agents(&self) -> bool;
    /// A conversation the client's answer reopened is closed again.
    fn closed_again(&self) -> bool;
    /// The token and secret, for setting: `(api_token, secret)`.
    fn secrets_mut(&mut self) -> (&mut Option<String>, &mut Option<String>);

    /// Takes the stored token and secret where these settings leave them out: both are
    /// write-only, so a write without them keeps them.
    fn keep_secrets(&mut self, stored: &Self) {
        let (token, secret) = self.secrets_mut();
        if token.is_none() {
            *token = stored.api_token().map(str::to_owned);
        }
        if secret.is_none() {
            *secret = stored.secret().map(str::to_owned);
        }
    }

    /// These settings as shown: without the token and secret.
    fn shown(&self) -> Self {
        let mut shown = self.clone();
        let (token, secret) = shown.secrets_mut();
        *token = None;
        *secret = None;
        shown
    }

    /// Whether every webhook call must be signed: with a secret, always (`allow_unsigned`
    /// only lets one without a secret take calls at all). Without a secret and without
    /// `allow_unsigned`, every call is refused until the secret is set (by hand, or by the
    /// setup Rateline makes in the helpdesk).
    fn signed(&self) -> bool {
        self.secret().is_some() || !self.allow_unsigned()
    }

    /// The line an inbox's (group's, department's) conversations go to: its entry, else
    /// `{helpdesk}-{id}`.
    fn line_of(&self, place: impl std::fmt::Display) -> String {
        let place = place.to_string();
        self.places()
            .get(&place)
            .cloned()
            .unwrap_or_else(|| format!("{}-{place}", Self::HELPDESK))
    }

    /// The person an agent's ratings are credited to: their entry, else
    /// [`Self::unmapped_agent`].
    fn operator_of(&self, agent: impl std::fmt::Display) -> String {
        let agent = agent.to_string();
        match self.agents().get(&agent) {
            Some(person) => person.clone(),
            None => self.unmapped_agent(&agent),
        }
    }

    /// The person an agent without an entry is credited as: `{helpdesk}-{id}`.
    fn unmapped_agent(&self, agent: &str) -> String {
        format!("{}-{agent}", Self::HELPDESK)
    }

    /// Checks a key of the places' or agents' map (`field`): by default the helpdesk's id
    /// of it, a number as in its URLs.
    fn check_key(&self, field: &str, key: &str) -> Result<(), Invalid> {
        if key.parse::<u64>().is_ok_and(|n| n.to_string() == key) {
            return Ok(());
        }
        Err(Invalid::new(
            field,
            format!(
                "key '{key}' is not an id (a number, as in the {} URLs)",
                Self::HELPDESK.title()
            ),
        ))
    }

    /// What only this helpdesk's settings hold, checked after the rest.
    fn check_more(&self) -> Result<(), Invalid> {
        Ok(())
    }

    /// Checks every field, naming the one that is wrong and how to put it right. The token
    /// and secret are checked as they will be stored (after [`Self::keep_secrets`]).
    fn validate(&self) -> Result<(), Invalid> {
        let helpdesk = Self::HELPDESK;
        check_http_url("url", self.url())?;
        limit("url", self.url())?;
        match self.api_token() {
            Some(t) if !t.trim().is_empty() => {
                check_line("api_token", t)?;
                limit("api_token", t)?;
            }
            _ => {
                return Err(Invalid::new(
                    "api_token",
                    match helpdesk {
                        Helpdesk::Chatwoot => {
                            "is required: an agent's or agent bot's access token (Chatwoot: \
                             Profile settings → Access token)"
                        }
                        Helpdesk::Zammad => {
                            "is required: an agent's token with ticket.agent (Zammad: Profile \
                             → Token Access)"
                        }
                        Helpdesk::RocketChat => {
                            "is required: the Ratings user's personal access token (Rocket.Chat: \
                             My Account → Personal Access Tokens)"
                        }
                    },
                ));
            }
        }
        let secret_field = helpdesk.secret_field();
        // Without a secret, calls are refused until one is set (unless `allow_unsigned`).
        if let Some(s) = self.secret() {
            if s.trim().is_empty() {
                return Err(Invalid::new(
                    secret_field,
                    "is empty: paste the webhook's secret as the helpdesk shows it, or leave \
                     it out for Rateline's setup to set",
                ));
            }
            check_line(secret_field, s)?;
            limit(secret_field, s)?;
        }
        for (field, map, what) in [
            (helpdesk.places_field(), self.places(), "line"),
            ("agents", self.agents(), "person"),
        ] {
            if map.len() > MAX_HELPDESK_MAP {
                return Err(Invalid::new(
                    field,
                    format!("has {} entries, at most {MAX_HELPDESK_MAP}", map.len()),
                ));
            }
            for (id, target) in map {
                self.check_key(field, id)?;
                check_name_id(&format!("{field}.{id}"), target).map_err(|e| {
                    Invalid::new(e.field, format!("must name a {what}: {}", e.message))
                })?;
            }
        }
        self.check_more()
    }
}

/// A Chatwoot account's id as [`Helpdesk::check_id`] takes it, as a pattern: a number
/// written without sign or leading zero. Up to 19 digits, each of which fits; of the
/// 20-digit numbers only some do, so the pattern leaves them all out.
const CHATWOOT_ACCOUNT: &str = r"^(0|[1-9][0-9]{0,18})$";

/// A Chatwoot account's id in the OpenAPI description (a path's `{account}`).
pub struct ChatwootAccount;

impl utoipa::PartialSchema for ChatwootAccount {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(CHATWOOT_ACCOUNT))
            .into()
    }
}

impl utoipa::ToSchema for ChatwootAccount {}

fn limit(field: &str, value: &str) -> Result<(), Invalid> {
    if value.len() > MAX_SETTING_BYTES {
        return Err(Invalid::new(
            field,
            format!("is {} bytes long, at most {MAX_SETTING_BYTES}", value.len()),
        ));
    }
    Ok(())
}

fn yes() -> bool {
    true
}

/// One Chatwoot account Rateline rates the conversations of (docs/channels/chatwoot.md).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatwootSettings {
    /// Chatwoot's address, e.g. `https://chatwoot.example.com`.
    #[schema(schema_with = http_url_schema)]
    pub url: String,
    /// An agent's or an agent bot's access token (Profile settings → Access token).
    /// Write-only: never shown; a write without it keeps the stored one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_token: Option<String>,
    /// The account webhook's secret: every call must be signed with it. Write-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    /// Takes unsigned webhooks when there is no secret, for Chatwoot releases that sign
    /// none. Anyone who can reach the webhook's URL can then forge events: less safe.
    #[serde(default)]
    pub allow_unsigned: bool,
    /// Inbox id → line id. Without an entry an inbox goes to the line `chatwoot-{inbox}`,
    /// when that line exists; otherwise its conversations are not rated.
    #[serde(default)]
    pub inboxes: BTreeMap<String, String>,
    /// Agent id → person id, for the operator a rating is credited to. Without an entry an
    /// agent is credited as `chatwoot-{agent}`.
    #[serde(default)]
    pub agents: BTreeMap<String, String>,
    /// Writes each rating into its conversation as a private note, for agents to see.
    #[serde(default)]
    pub private_note: bool,
    /// Resolves the conversation again when the client's answer reopened it.
    #[serde(default = "yes")]
    pub resolve_after_answer: bool,
    /// Asks the client of a conversation an AgentBot held at the resolve. Its rating is the
    /// bot's (`chatwoot-bot-{id}`), never a person's; with `false` the request is skipped.
    #[serde(default = "yes")]
    pub rate_bot_conversations: bool,
}

impl std::fmt::Debug for ChatwootSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token and secret never reach a log line through a Debug print; the URL may
        // carry a password, so it is left out too.
        f.debug_struct("ChatwootSettings")
            .field("inboxes", &self.inboxes)
            .field("agents", &self.agents)
            .finish_non_exhaustive()
    }
}

impl HelpdeskSettings for ChatwootSettings {
    const HELPDESK: Helpdesk = Helpdesk::Chatwoot;

    fn url(&self) -> &str {
        &self.url
    }
    fn api_token(&self) -> Option<&str> {
        self.api_token.as_deref()
    }
    fn secret(&self) -> Option<&str> {
        self.webhook_secret.as_deref()
    }
    fn allow_unsigned(&self) -> bool {
        self.allow_unsigned
    }
    fn places(&self) -> &BTreeMap<String, String> {
        &self.inboxes
    }
    fn agents(&self) -> &BTreeMap<String, String> {
        &self.agents
    }
    fn note_for_agents(&self) -> bool {
        self.private_note
    }
    fn closed_again(&self) -> bool {
        self.resolve_after_answer
    }
    fn secrets_mut(&mut self) -> (&mut Option<String>, &mut Option<String>) {
        (&mut self.api_token, &mut self.webhook_secret)
    }
}

/// One Zammad instance Rateline rates the tickets of (docs/channels/zammad.md).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZammadSettings {
    /// Zammad's address, e.g. `https://zammad.example.com`.
    #[schema(schema_with = http_url_schema)]
    pub url: String,
    /// An access token of an agent (Profile → Token Access) with `ticket.agent`.
    /// Write-only: never shown; a write without it keeps the stored one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_token: Option<String>,
    /// The webhook's HMAC-SHA1 signature token: every call must be signed with it.
    /// Write-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_token: Option<String>,
    /// Takes unsigned webhooks when there is no token. Anyone who can reach the URL can
    /// then forge events: less safe.
    #[serde(default)]
    pub allow_unsigned: bool,
    /// Group id → line id. Without an entry a group goes to the line `zammad-{group}`, when
    /// that line exists; otherwise its tickets are not rated.
    #[serde(default)]
    pub groups: BTreeMap<String, String>,
    /// Agent (user) id → person id, for the operator a rating is credited to. Without an
    /// entry an agent is credited as `zammad-{user}`.
    #[serde(default)]
    pub agents: BTreeMap<String, String>,
    /// Writes each rating into its ticket as an internal note, for agents to see.
    #[serde(default)]
    pub internal_note: bool,
    /// Closes the ticket again when the customer's answer reopened it.
    #[serde(default = "yes")]
    pub close_after_answer: bool,
}

impl std::fmt::Debug for ZammadSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token never reaches a log line through a Debug print, nor the URL's password.
        f.debug_struct("ZammadSettings")
            .field("groups", &self.groups)
            .field("agents", &self.agents)
            .finish_non_exhaustive()
    }
}

impl HelpdeskSettings for ZammadSettings {
    const HELPDESK: Helpdesk = Helpdesk::Zammad;

    fn url(&self) -> &str {
        &self.url
    }
    fn api_token(&self) -> Option<&str> {
        self.api_token.as_deref()
    }
    fn secret(&self) -> Option<&str> {
        self.webhook_token.as_deref()
    }
    fn allow_unsigned(&self) -> bool {
        self.allow_unsigned
    }
    fn places(&self) -> &BTreeMap<String, String> {
        &self.groups
    }
    fn agents(&self) -> &BTreeMap<String, String> {
        &self.agents
    }
    fn note_for_agents(&self) -> bool {
        self.internal_note
    }
    fn closed_again(&self) -> bool {
        self.close_after_answer
    }
    fn secrets_mut(&mut self) -> (&mut Option<String>, &mut Option<String>) {
        (&mut self.api_token, &mut self.webhook_token)
    }
}

/// One Rocket.Chat server Rateline rates the Omnichannel chats of, driving its Ratings user
/// (docs/channels/rocketchat.md).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RocketChatSettings {
    /// Rocket.Chat's address, e.g. `https://chat.example.com`.
    #[schema(schema_with = http_url_schema)]
    pub url: String,
    /// The Ratings user's id (`X-User-Id`), shown beside its personal access token.
    #[schema(schema_with = id_schema)]
    pub user_id: String,
    /// The Ratings user's personal access token (My Account → Personal Access Tokens).
    /// Write-only: never shown; a write without it keeps the stored one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_token: Option<String>,
    /// The Secret Token of Omnichannel → Webhooks: every call must carry it. Write-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_token: Option<String>,
    /// Takes calls without the token when none is set. Anyone who can reach the URL can then
    /// forge events: less safe.
    #[serde(default)]
    pub allow_unsigned: bool,
    /// Department id → line id. Without an entry a department goes to the line
    /// `rocketchat-{department}`, and a chat without a department to `rocketchat-{server}`,
    /// when that line exists; otherwise its chats are not rated.
    #[serde(default)]
    pub departments: BTreeMap<String, String>,
    /// Agent username → person id, for the operator a rating is credited to. Without an
    /// entry an agent is credited as the person named by their username.
    #[serde(default)]
    pub agents: BTreeMap<String, String>,
}

impl std::fmt::Debug for RocketChatSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token never reaches a log line through a Debug print, nor the URL's password.
        f.debug_struct("RocketChatSettings")
            .field("user_id", &self.user_id)
            .field("departments", &self.departments)
            .field("agents", &self.agents)
            .finish_non_exhaustive()
    }
}

impl HelpdeskSettings for RocketChatSettings {
    const HELPDESK: Helpdesk = Helpdesk::RocketChat;

    fn url(&self) -> &str {
        &self.url
    }
    fn api_token(&self) -> Option<&str> {
        self.api_token.as_deref()
    }
    fn secret(&self) -> Option<&str> {
        self.webhook_token.as_deref()
    }
    fn allow_unsigned(&self) -> bool {
        self.allow_unsigned
    }
    fn places(&self) -> &BTreeMap<String, String> {
        &self.departments
    }
    fn agents(&self) -> &BTreeMap<String, String> {
        &self.agents
    }
    /// An Omnichannel room has no note only agents see.
    fn note_for_agents(&self) -> bool {
        false
    }
    /// The Ratings user closes the room once the rating is in.
    fn closed_again(&self) -> bool {
        true
    }
    fn secrets_mut(&mut self) -> (&mut Option<String>, &mut Option<String>) {
        (&mut self.api_token, &mut self.webhook_token)
    }
    /// Agents are known by username: one without an entry is the person of that id.
    fn unmapped_agent(&self, agent: &str) -> String {
        agent.to_owned()
    }
    /// Departments and usernames are Rocket.Chat's own text ids.
    fn check_key(&self, field: &str, key: &str) -> Result<(), Invalid> {
        crate::check_id(&format!("{field}.{key}"), key).map_err(|e| {
            Invalid::new(
                field,
                format!(
                    "key '{}' is not a Rocket.Chat id: {}",
                    key.chars().take(64).collect::<String>(),
                    e.message
                ),
            )
        })
    }
    fn check_more(&self) -> Result<(), Invalid> {
        crate::check_id("user_id", &self.user_id).map_err(|e| {
            Invalid::new(
                "user_id",
                format!(
                    "must be the Ratings user's id, shown with its personal access token: {}",
                    e.message
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::pattern_states_the_rule;

    /// The description's pattern for a Chatwoot account takes what `check_id` takes.
    #[test]
    fn the_account_pattern_states_the_rule_it_describes() {
        pattern_states_the_rule(
            CHATWOOT_ACCOUNT,
            |id| Helpdesk::Chatwoot.check_id("account", id).is_ok(),
            &[
                "0",
                "1",
                "42",
                "01",
                "-1",
                "+1",
                " 1",
                "1 ",
                "1a",
                "",
                "٣",
                "9999999999999999999",
            ],
        );
    }

    fn chatwoot() -> ChatwootSettings {
        serde_json::from_value(serde_json::json!({
            "url": "https://chatwoot.example.com",
            "api_token": "tok",
            "webhook_secret": "sec",
            "inboxes": {"3": "support"},
        }))
        .unwrap()
    }

    #[test]
    fn an_unmapped_inbox_and_agent_are_named_after_the_helpdesk() {
        let c = chatwoot();
        assert_eq!(c.line_of(3), "support");
        assert_eq!(c.line_of(4), "chatwoot-4");
        assert_eq!(c.operator_of(7), "chatwoot-7");
    }

    #[test]
    fn a_write_without_secrets_keeps_the_stored_ones_and_showing_drops_them() {
        let stored = chatwoot();
        let mut new = stored.shown();
        assert_eq!((new.api_token(), new.secret()), (None, None));
        new.keep_secrets(&stored);
        assert_eq!(new, stored);
    }

    #[test]
    fn each_rule_names_its_field() {
        let mut c = chatwoot();
        c.webhook_secret = Some(" ".into());
        assert_eq!(c.validate().unwrap_err().field, "webhook_secret");
        // Without a secret, for the setup to set: every call is refused until then.
        c.webhook_secret = None;
        assert!(c.validate().is_ok());
        assert!(c.signed());
        c.allow_unsigned = true;
        assert!(c.validate().is_ok());
        assert!(!c.signed());
        c.inboxes.insert("x".into(), "support".into());
        assert_eq!(c.validate().unwrap_err().field, "inboxes");
        c.inboxes.clear();
        c.agents.insert("7".into(), "Not An Id!".into());
        assert_eq!(c.validate().unwrap_err().field, "agents.7");
        c.agents.clear();
        c.api_token = None;
        assert_eq!(c.validate().unwrap_err().field, "api_token");
        c.api_token = Some("tok".into());
        c.url = "ftp://x".into();
        assert_eq!(c.validate().unwrap_err().field, "url");
    }

    #[test]
    fn a_chatwoot_id_is_its_account_number() {
        assert!(Helpdesk::Chatwoot.check_id("account", "12").is_ok());
        for bad in ["012", "x", "", "-1"] {
            assert!(
                Helpdesk::Chatwoot.check_id("account", bad).is_err(),
                "{bad}"
            );
        }
        assert!(Helpdesk::Zammad.check_id("instance", "main").is_ok());
        assert!(Helpdesk::RocketChat.check_id("server", "chat-1").is_ok());
    }

    #[test]
    fn rocketchat_maps_by_department_and_credits_agents_by_username() {
        let mut r: RocketChatSettings = serde_json::from_value(serde_json::json!({
            "url": "https://chat.example.com",
            "user_id": "u-ratings",
            "api_token": "pat",
            "departments": {"Ge3kx8h2YQ3hR9Fkx": "support"},
            "agents": {"boris.k": "boris"},
        }))
        .unwrap();
        assert!(r.validate().is_ok());
        assert_eq!(r.line_of("Ge3kx8h2YQ3hR9Fkx"), "support");
        assert_eq!(r.line_of("other"), "rocketchat-other");
        assert_eq!(r.operator_of("boris.k"), "boris");
        assert_eq!(r.operator_of("anna"), "anna");
        r.departments.insert("a b".into(), "support".into());
        assert_eq!(r.validate().unwrap_err().field, "departments");
        r.departments.clear();
        r.user_id = String::new();
        assert_eq!(r.validate().unwrap_err().field, "user_id");
    }
}
