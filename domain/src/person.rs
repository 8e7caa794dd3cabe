//! People (operators, supervisors, admins) and groups of them.

use serde::{Deserialize, Serialize};

use super::{Invalid, LineId, PersonId, check_http_url, check_line, check_secret};

/// What a person, or an API key, may do (docs/security.md has the whole table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Works sessions: opens, closes and reads their own on their lines, sees their own numbers
    /// and (where the line allows) ratings, and appeals them.
    Operator,
    /// Runs lines: the sessions, ratings, responses, evaluations and reports of their lines.
    Supervisor,
    /// Runs the service: everything a supervisor does on every line, and lines, people, groups,
    /// keys and appeal decisions.
    Admin,
}

impl Role {
    /// Every role, from the least allowed to the most.
    pub const ALL: [Role; 3] = [Role::Operator, Role::Supervisor, Role::Admin];

    /// The name the API, the store and `rateline keys` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role '{s}'"))
    }
}

/// Where a person receives notifications.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// The address alerts and reports are e-mailed to (needs the server's `[smtp]`).
    pub email: Option<String>,
    /// The Telegram chat the server's bot sends alerts to (needs the server's `[telegram]`).
    pub telegram_chat_id: Option<i64>,
    /// Where alerts are POSTed as JSON (`text` for chat tools, `alert` for programs): an
    /// absolute http(s) URL without a user name or password.
    pub webhook_url: Option<String>,
    /// Signs the alerts posted to `webhook_url` (`X-Rateline-Signature`), at least 16
    /// characters. Write-only: never shown; a `PUT` without it keeps the stored one, and
    /// without any, the server's `alerts.webhook_secret` signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 16)]
    pub webhook_secret: Option<String>,
}

impl Notify {
    /// Where alerts go, one per sink in the order alerts are made: the sink's name
    /// (`email`, `telegram`, `webhook`), the field that sets it, and its address if set.
    pub fn addresses(&self) -> [(&'static str, &'static str, Option<String>); 3] {
        [
            ("email", "email", self.email.clone()),
            (
                "telegram",
                "telegram_chat_id",
                self.telegram_chat_id.map(|c| c.to_string()),
            ),
            ("webhook", "webhook_url", self.webhook_url.clone()),
        ]
    }
}

impl std::fmt::Debug for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notify")
            .field("email", &self.email)
            .field("telegram_chat_id", &self.telegram_chat_id)
            .field("webhook_url", &self.webhook_url)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// `PUT /v1/people/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// What people see the person called: one line of 1 to 200 characters.
    #[schema(value_type = super::Name)]
    pub name: String,
    /// What the person may do once signed in to the dashboard.
    pub role: Role,
    /// The person's manager, by id: the one `responsible_manager` alerts reach for this
    /// person's sessions. Never the person themselves.
    #[serde(default)]
    pub manager_id: Option<PersonId>,
    /// Where the person's alerts and reports go; each address set is one way to reach them.
    #[serde(default)]
    pub notify: Notify,
    /// `false` stops every alert to the person: each is recorded as skipped, saying why.
    #[serde(default = "yes")]
    pub notifications_enabled: bool,
    /// The lines the person works on. An operator's API key acts only on sessions of these
    /// lines; at most [`MAX_PERSON_LINES`].
    #[serde(default)]
    pub lines: Vec<LineId>,
    /// The zone the dashboard shows this person's times and reads their dates in: an IANA
    /// name such as `Europe/Berlin`. Unset, the server's `server.time_zone` (UTC unless
    /// set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "Europe/Berlin")]
    pub time_zone: Option<String>,
    /// `false` deactivates the person: they cannot sign in and hear of no low rating; their
    /// history and numbers stay.
    #[serde(default = "yes")]
    pub active: bool,
}

/// The most lines a person works on.
pub const MAX_PERSON_LINES: usize = 100;

fn yes() -> bool {
    true
}

impl Person {
    /// Checks what the ids' types do not; sorts the lines and drops repeats.
    pub fn validate(&mut self, id: &str) -> Result<(), Invalid> {
        if self.lines.len() > MAX_PERSON_LINES {
            return Err(Invalid::new(
                "lines",
                format!(
                    "lists {} lines; a person works on at most {MAX_PERSON_LINES}",
                    self.lines.len()
                ),
            ));
        }
        self.lines.sort();
        self.lines.dedup();
        check_line("name", &self.name)?;
        let n = self.name.trim().chars().count();
        if n == 0 || n > 200 {
            return Err(Invalid::new("name", "must be 1 to 200 characters"));
        }
        if self.manager_id.as_ref().is_some_and(|m| m == id) {
            return Err(Invalid::new(
                "manager_id",
                "a person cannot manage themselves",
            ));
        }
        if let Some(e) = &self.notify.email
            && (!e.contains('@')
                || e.len() > 254
                || e.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(Invalid::new("notify.email", "must be an e-mail address"));
        }
        if let Some(u) = &self.notify.webhook_url {
            check_http_url("notify.webhook_url", u)?;
        }
        if let Some(zone) = &self.time_zone {
            time_zone("time_zone", zone)?;
        }
        if let Some(secret) = &self.notify.webhook_secret {
            check_secret(
                "notify.webhook_secret",
                secret,
                "every alert posted to webhook_url",
            )?;
        }
        Ok(())
    }
}

/// The time zone an IANA name such as `Europe/Berlin` or `UTC` names.
pub fn time_zone(field: &str, name: &str) -> Result<chrono_tz::Tz, Invalid> {
    name.parse().map_err(|_| {
        Invalid::new(
            field,
            format!(
                "{name:?} is not a time zone: use an IANA name such as Europe/Berlin, \
                 America/New_York or UTC"
            ),
        )
    })
}

/// `PUT /v1/groups/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// What people see the group called: one line of 1 to 200 characters.
    #[schema(value_type = super::Name)]
    pub name: String,
    /// The people in the group, by id: each hears of the low ratings of the lines whose
    /// `notify_low` names the group. At most 200.
    #[serde(default)]
    pub members: Vec<PersonId>,
}

/// The most people a group holds.
pub const MAX_GROUP_MEMBERS: usize = 200;

impl Group {
    /// Checks what the ids' types do not.
    pub fn validate(&self) -> Result<(), Invalid> {
        check_line("name", &self.name)?;
        let n = self.name.trim().chars().count();
        if n == 0 || n > 200 {
            return Err(Invalid::new("name", "must be 1 to 200 characters"));
        }
        if self.members.len() > MAX_GROUP_MEMBERS {
            return Err(Invalid::new(
                "members",
                format!(
                    "lists {} people; a group holds at most {MAX_GROUP_MEMBERS}",
                    self.members.len()
                ),
            ));
        }
        Ok(())
    }
}
