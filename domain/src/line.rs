//! Line settings: how and when a line asks for ratings, and who hears about low ones.
//!
//! The same shape comes from `PUT /v1/lines/{id}` and from `[[lines]]` in the config file.
//! Unknown fields are refused, so a misspelt setting is an error instead of a silent default.

use serde::{Deserialize, Serialize};

use super::{
    Invalid, Scale, check_http_url, check_line, check_name_id, check_secret, check_text,
    normalize_in_place,
};

/// Everything a line is configured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineSettings {
    /// What people see the line called: one line of 1 to 200 characters.
    #[schema(value_type = super::Name)]
    pub name: String,
    /// How and when the line asks for a rating, what counts as low, and what follows a rating.
    #[serde(default)]
    pub rating: RatingSettings,
    /// Who gets asked: rules that skip a closed session's request.
    #[serde(default)]
    pub survey: SurveyRules,
    /// Who hears about a low rating.
    #[serde(default)]
    pub notify_low: Vec<Recipient>,
    /// Close a session after this many minutes without a message; `null` never does.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 10080)]
    pub auto_close_minutes: Option<u32>,
    /// The connector of a `webhook` line.
    #[serde(default)]
    pub webhook: Option<WebhookSettings>,
    /// WhatsApp's fallback outside the 24-hour window.
    #[serde(default)]
    pub whatsapp_template: Option<WhatsappTemplate>,
    /// The web chat widget of this line's sessions.
    #[serde(default)]
    pub webchat: WebchatSettings,
    /// Serve this line's rating as a public badge (`GET /public/lines/{id}/badge.svg`).
    /// Off unless set: a line's numbers are not public by default.
    #[serde(default)]
    pub public_badge: bool,
    /// `false` retires the line: it takes no new sessions; its history and reports stay.
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// Where the web chat widget may run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WebchatSettings {
    /// The sites (`scheme://host[:port]`) whose pages may embed the widget. Browsers refuse
    /// the widget's calls from any other origin; an empty list allows none but Rateline's own.
    pub allowed_origins: Vec<String>,
}

/// How a line asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RatingSettings {
    /// Whether a session's close asks for a rating at all; off, no request is made.
    pub enabled: bool,
    /// What the client answers with: 👍/👎 (`binary`) or 1 to 5 stars (`five_star`).
    pub scale: Scale,
    /// The question sent with the answer buttons: 1 to 4096 characters.
    pub request_text: String,
    /// Seconds between the close and the request; 0..=3600.
    #[schema(minimum = 0, maximum = 3600)]
    pub delay_seconds: u32,
    /// How long after it was sent a request may still be answered.
    #[schema(minimum = 1, maximum = 2160)]
    pub answer_window_hours: u32,
    /// One reminder this many minutes after the request was sent, if it is still not
    /// answered (and, on Meta's channels, their 24-hour window is still open); `null`
    /// sends none. It must come before the answer window ends. Not on the web chat
    /// widget, whose card stays in the page.
    #[schema(minimum = 1)]
    pub reminder_after_minutes: Option<u32>,
    /// Stars at or below this are low: 1 to 4 on a `five_star` line (refused otherwise,
    /// 422), and ignored on a `thumbs` line, where 👎 is low. The range hangs on `scale`,
    /// which a schema cannot say, so it is stated here.
    pub low_threshold: i64,
    /// What the client is told once they answered: 1 to 4096 characters.
    pub thanks_text: String,
    /// After the rating, ask the client "Was your issue resolved?" (yes or no).
    pub ask_resolved: bool,
    /// After a low rating, ask the client what went wrong; the reply is the rating's comment,
    /// and its alerts wait for it (see `alert_wait_seconds`).
    pub ask_comment_on_low: bool,
    /// On the web chat widget, show the card at the close, while the chat window is still open,
    /// instead of after `delay_seconds`.
    pub rate_before_close: bool,
    /// The language of the words Rateline adds to the line's texts (follow-up questions, button
    /// labels, refusals): a tag such as `en` or `pt-BR`, English where it has no words of its
    /// own.
    pub language: String,
    /// How many times a client may change a rating.
    #[schema(minimum = 0, maximum = 10)]
    pub max_changes: u32,
    /// For how many days after the first answer a change is allowed.
    #[schema(minimum = 1, maximum = 3650)]
    pub change_window_days: u32,
    /// Seconds between a low rating and its alerts (0..=3600). 0 sends them at once, or
    /// as soon as the comment the line asks for has come (see `alert_wait_seconds`).
    #[schema(minimum = 0, maximum = 3600)]
    pub alert_delay_seconds: u32,
    /// Where the line asks for a comment on a low rating (`ask_comment_on_low`), how long
    /// its alerts wait for that comment (0..=3600): they leave when it comes, or when the
    /// wait ends without it.
    #[schema(minimum = 0, maximum = 3600)]
    pub alert_wait_seconds: u32,
    /// A burst: when more than this many low ratings of the line come within ten minutes,
    /// a recipient who hears of each one at once hears of the rest as one "something is
    /// wrong on this line" message every ten minutes instead (0..=1000; 0 never folds).
    #[schema(minimum = 0, maximum = 1000)]
    pub alert_burst_over: u32,
    /// Hours a low first answer or a lowered rating waits before it counts in the report
    /// (0..=720), so the team can resolve the case first; a raised rating counts at once.
    #[schema(minimum = 0, maximum = 720)]
    pub lowered_grace_hours: u32,
    /// Whether the line's operators see their clients' ratings one by one (values,
    /// comments, responses: in the inbox, on their profile and on their sessions' pages).
    /// Off, an operator sees only their numbers; supervisors and admins see everything.
    pub operators_see_ratings: bool,
    /// Whether each of the line's operators hears of every rating of their sessions, through
    /// their own addresses (`notify`), at most one message a minute (a digest of the ratings
    /// that came meanwhile). Needs `operators_see_ratings`.
    pub notify_operator: bool,
    /// Whether the line's supervisors decide the appeals of its ratings, as admins do (an
    /// appeal is never decided by the person who made it). Off, admins alone decide.
    pub supervisors_decide_appeals: bool,
    /// The reasons a client may pick after a low rating (at most 8), in the order they
    /// are offered. Empty: the line asks for none.
    pub low_reasons: Vec<LowReason>,
}

/// Who gets asked. Each rule that holds skips the close's request: it is stored with
/// status `skipped` and the rule's name, and never sent. The defaults ask everyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SurveyRules {
    /// Ask the same client at most once in this many days (0..=365; 0: no limit). A
    /// request counts as asking when it was sent, or is on its way.
    #[schema(minimum = 0, maximum = 365)]
    pub min_days_between: u32,
    /// Where `min_days_between` looks: the line's own requests, or every line's.
    pub across: Across,
    /// Ask this share of closed sessions, 1..=100 (100: all). Which ones is decided by
    /// the session's id, so closing one again decides the same way.
    #[schema(minimum = 1, maximum = 100)]
    pub sample_percent: u32,
    /// Skip a session in which the client wrote fewer messages than this (0..=1000; 0: no
    /// minimum), as `POST /v1/sessions/{id}/messages` counted them.
    #[schema(minimum = 0, maximum = 1000)]
    pub min_client_messages: u32,
    /// Skip a session whose close carries any of these tags (at most 20).
    pub skip_tags: Vec<String>,
}

impl Default for SurveyRules {
    fn default() -> Self {
        Self {
            min_days_between: 0,
            across: Across::Line,
            sample_percent: 100,
            min_client_messages: 0,
            skip_tags: Vec::new(),
        }
    }
}

/// Where `survey.min_days_between` looks for an earlier request to the same client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Across {
    /// The same line's requests.
    #[default]
    Line,
    /// Every line's requests on the same channel.
    All,
}

/// The most tags `survey.skip_tags` and a close take.
pub const MAX_TAGS: usize = 20;

/// The longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;

/// Checks a list of tags (`survey.skip_tags`, a close's `tags`): at most [`MAX_TAGS`], each
/// 1 to [`MAX_TAG_CHARS`] characters on one line.
pub fn check_tags(field: &str, tags: &[String]) -> Result<(), Invalid> {
    if tags.len() > MAX_TAGS {
        return Err(Invalid::new(
            field,
            format!("lists {} tags; at most {MAX_TAGS} are taken", tags.len()),
        ));
    }
    for (i, tag) in tags.iter().enumerate() {
        let field = format!("{field}[{i}]");
        check_line(&field, tag)?;
        let n = tag.trim().chars().count();
        if n == 0 || tag.chars().count() > MAX_TAG_CHARS {
            return Err(Invalid::new(
                field,
                format!("must be 1 to {MAX_TAG_CHARS} characters"),
            ));
        }
    }
    Ok(())
}

/// One reason a client may give for a low rating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LowReason {
    /// Stable, so reports keep counting under it when the text is reworded: 1 to 32
    /// lowercase ASCII letters, digits, `-` or `_`, e.g. `waited_too_long`.
    pub id: String,
    /// What the client sees on the button: 1 to 20 characters, the most Messenger's and
    /// Instagram's quick replies show.
    pub text: String,
}

/// The most reasons a line may list (`rating.low_reasons`).
pub const MAX_LOW_REASONS: usize = 8;

/// The longest reason text, in characters (Meta's quick-reply titles).
pub const MAX_REASON_CHARS: usize = 20;

/// The longest reason id, in bytes.
pub const MAX_REASON_ID: usize = 32;

impl RatingSettings {
    /// Checks each `rating.*` field's range, naming the field as the API does.
    ///
    /// One piece: one check per `rating.*` field, each naming its field as the API does.
    fn validate(&self) -> Result<(), Invalid> {
        if self.delay_seconds > 3600 {
            return Err(Invalid::new(
                "rating.delay_seconds",
                format!("must be 0..=3600, got {}", self.delay_seconds),
            ));
        }
        if !(1..=24 * 90).contains(&self.answer_window_hours) {
            return Err(Invalid::new(
                "rating.answer_window_hours",
                format!(
                    "must be 1..=2160 (90 days), got {}",
                    self.answer_window_hours
                ),
            ));
        }
        if self.scale == Scale::FiveStar && !(1..=4).contains(&self.low_threshold) {
            return Err(Invalid::new(
                "rating.low_threshold",
                format!(
                    "must be 1..=4 on a five_star line, got {}",
                    self.low_threshold
                ),
            ));
        }
        for (field, text) in [
            ("rating.request_text", &self.request_text),
            ("rating.thanks_text", &self.thanks_text),
        ] {
            check_text(field, text)?;
            let n = text.trim().chars().count();
            if n == 0 || n > MAX_TEXT_CHARS {
                return Err(Invalid::new(
                    field,
                    format!("must be 1 to {MAX_TEXT_CHARS} characters"),
                ));
            }
        }
        if !(2..=8).contains(&self.language.len())
            || !self
                .language
                .chars()
                .all(|c| c.is_ascii_alphabetic() || c == '-')
        {
            return Err(Invalid::new(
                "rating.language",
                "must be a language tag such as \"en\" or \"pt-BR\"",
            ));
        }
        if self.max_changes > 10 {
            return Err(Invalid::new("rating.max_changes", "must be 0..=10"));
        }
        if !(1..=3650).contains(&self.change_window_days) {
            return Err(Invalid::new(
                "rating.change_window_days",
                "must be 1..=3650",
            ));
        }
        if self.alert_delay_seconds > 3600 {
            return Err(Invalid::new(
                "rating.alert_delay_seconds",
                format!("must be 0..=3600, got {}", self.alert_delay_seconds),
            ));
        }
        if self.alert_wait_seconds > 3600 {
            return Err(Invalid::new(
                "rating.alert_wait_seconds",
                format!("must be 0..=3600, got {}", self.alert_wait_seconds),
            ));
        }
        if self.alert_burst_over > 1000 {
            return Err(Invalid::new(
                "rating.alert_burst_over",
                format!(
                    "must be 0..=1000 (0 never folds), got {}",
                    self.alert_burst_over
                ),
            ));
        }
        if self.lowered_grace_hours > 720 {
            return Err(Invalid::new(
                "rating.lowered_grace_hours",
                format!(
                    "must be 0..=720 (30 days), got {}",
                    self.lowered_grace_hours
                ),
            ));
        }
        check_reasons(&self.low_reasons)?;
        if self.notify_operator && !self.operators_see_ratings {
            return Err(Invalid::new(
                "rating.notify_operator",
                "needs rating.operators_see_ratings: this line keeps ratings from its operators; \
                 switch that on, or this off",
            ));
        }
        if let Some(m) = self.reminder_after_minutes
            && (m == 0 || i64::from(m) >= i64::from(self.answer_window_hours) * 60)
        {
            return Err(Invalid::new(
                "rating.reminder_after_minutes",
                format!(
                    "must be 1 minute or more and end before the answer window \
                     ({} hours = {} minutes), or null for no reminder; got {m}",
                    self.answer_window_hours,
                    i64::from(self.answer_window_hours) * 60
                ),
            ));
        }
        Ok(())
    }

    /// When the request for a session closed at `closed_at` on `channel` falls due:
    /// `delay_seconds` after the close, or at the close for a web chat card the line shows
    /// while the client's chat window is still open (`rate_before_close`).
    pub fn due_at(
        &self,
        channel: super::Channel,
        closed_at: chrono::DateTime<chrono::Utc>,
    ) -> chrono::DateTime<chrono::Utc> {
        let delay = if channel == super::Channel::Webchat && self.rate_before_close {
            0
        } else {
            self.delay_seconds
        };
        closed_at + chrono::Duration::seconds(i64::from(delay))
    }

    /// The reason ids in `given`, checked against the line's list and put in its order,
    /// each once; names the first that the line does not list.
    pub fn reasons_of(&self, field: &str, given: &[String]) -> Result<Vec<String>, Invalid> {
        if self.low_reasons.is_empty() && !given.is_empty() {
            return Err(Invalid::new(
                field,
                "this line lists no rating.low_reasons: send none",
            ));
        }
        if let Some((i, unknown)) = given
            .iter()
            .enumerate()
            .find(|(_, g)| !self.low_reasons.iter().any(|r| &r.id == *g))
        {
            let known: Vec<&str> = self.low_reasons.iter().map(|r| r.id.as_str()).collect();
            return Err(Invalid::new(
                format!("{field}[{i}]"),
                format!(
                    "'{unknown}' is not one of the line's reasons: use {}",
                    known.join(", ")
                ),
            ));
        }
        Ok(self
            .low_reasons
            .iter()
            .filter(|r| given.contains(&r.id))
            .map(|r| r.id.clone())
            .collect())
    }

    /// The text of reason `id`, or the id itself when the line no longer lists it.
    pub fn reason_text<'a>(&'a self, id: &'a str) -> &'a str {
        self.low_reasons
            .iter()
            .find(|r| r.id == id)
            .map_or(id, |r| r.text.as_str())
    }
}

impl Default for RatingSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            scale: Scale::Binary,
            request_text: "Please rate the quality of service".into(),
            delay_seconds: 3,
            answer_window_hours: 72,
            reminder_after_minutes: None,
            low_threshold: 2,
            thanks_text: "Thank you for your rating!".into(),
            ask_resolved: false,
            ask_comment_on_low: false,
            rate_before_close: false,
            language: "en".into(),
            max_changes: 2,
            change_window_days: 90,
            alert_delay_seconds: 0,
            alert_wait_seconds: 120,
            alert_burst_over: 10,
            lowered_grace_hours: 0,
            operators_see_ratings: true,
            notify_operator: false,
            supervisors_decide_appeals: false,
            low_reasons: Vec::new(),
        }
    }
}

/// One recipient of low-rating alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Recipient {
    /// A named person, e.g. the line's supervisor.
    Supervisor {
        /// The person alerted, by id.
        #[schema(value_type = super::Id)]
        id: String,
    },
    /// The manager of the session's operator.
    ResponsibleManager,
    /// Every member of a group.
    Group {
        /// The group whose members are alerted, by id.
        #[schema(value_type = super::Id)]
        id: String,
    },
}

/// A custom connector's URL and signing secret.
#[derive(Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Where each of the line's rating requests is POSTed, signed with `secret`: an absolute
    /// http(s) URL without a user name or password, public or in `outbound.allowed_networks`.
    pub url: String,
    /// Write-only: never shown by `GET /v1/lines/{id}`; a `PUT` without it keeps the stored one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 16)]
    pub secret: Option<String>,
}

impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// An approved WhatsApp template for requests outside the 24-hour window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatsappTemplate {
    /// The template's name, as approved in WhatsApp.
    pub name: String,
    /// The template's language code, as approved in WhatsApp (e.g. `en` or `en_US`).
    pub language: String,
    /// The answer each of the template's quick-reply buttons gives, in the buttons' order;
    /// `[1, 0]` (👍, 👎) or `[1, 2, 3, 4, 5]` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buttons: Option<Vec<i64>>,
}

impl WhatsappTemplate {
    /// Checks the template that stands in past Meta's window, against the line's `scale`.
    fn validate(&self, scale: Scale) -> Result<(), Invalid> {
        check_line("whatsapp_template.name", &self.name)?;
        check_line("whatsapp_template.language", &self.language)?;
        if self.name.is_empty() || self.language.is_empty() {
            return Err(Invalid::new(
                "whatsapp_template",
                "needs both name and language",
            ));
        }
        if let Some(values) = &self.buttons {
            let mut seen = std::collections::HashSet::new();
            if values.is_empty()
                || values.len() > 10
                || values
                    .iter()
                    .any(|v| !scale.allowed().contains(v) || !seen.insert(*v))
            {
                return Err(Invalid::new(
                    "whatsapp_template.buttons",
                    format!(
                        "must list the answer of each quick-reply button in order, 1 to 10 distinct values of the {} scale ({}..={}), e.g. [1, 0]",
                        scale.as_str(),
                        scale.allowed().start(),
                        scale.allowed().end()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The values of the buttons, in order.
    pub fn values(&self, scale: Scale) -> Vec<i64> {
        self.buttons.clone().unwrap_or_else(|| scale.buttons())
    }
}

/// The longest text a line may send, in characters (Telegram's message limit).
const MAX_TEXT_CHARS: usize = 4096;

/// Where a line's settings come from, and so where they are changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ManagedBy {
    /// Made and changed through the API (`PUT /v1/lines/{id}`).
    Api,
    /// Defined in the configuration file's `[[lines]]`, which wins at every start; read-only
    /// over HTTP.
    Config,
}

impl ManagedBy {
    /// Its name in the API and the store (`api`, `config`).
    pub fn as_str(self) -> &'static str {
        match self {
            ManagedBy::Api => "api",
            ManagedBy::Config => "config",
        }
    }
}

impl std::str::FromStr for ManagedBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "api" => Ok(ManagedBy::Api),
            "config" => Ok(ManagedBy::Config),
            other => Err(format!("unknown managed_by '{other}'")),
        }
    }
}

/// The most entries `notify_low` takes; a low rating alerts at most
/// [`MAX_ALERTED_PEOPLE`] people, however many its groups hold.
pub const MAX_NOTIFY_LOW: usize = 20;

/// The most people one low rating alerts (after groups are expanded).
pub const MAX_ALERTED_PEOPLE: usize = 100;

/// The most origins `webchat.allowed_origins` takes.
pub const MAX_ALLOWED_ORIGINS: usize = 50;

impl LineSettings {
    /// Composes the ids it names, then checks every setting and names the first that is
    /// wrong.
    pub fn validate(&mut self) -> Result<(), Invalid> {
        for rcpt in &mut self.notify_low {
            if let Recipient::Supervisor { id } | Recipient::Group { id } = rcpt {
                normalize_in_place(id);
            }
        }
        check_line("name", &self.name)?;
        let name_len = self.name.trim().chars().count();
        if name_len == 0 || name_len > 200 {
            return Err(Invalid::new("name", "must be 1 to 200 characters"));
        }
        self.rating.validate()?;
        self.survey.validate()?;
        if let Some(m) = self.auto_close_minutes
            && !(1..=7 * 24 * 60).contains(&m)
        {
            return Err(Invalid::new(
                "auto_close_minutes",
                format!("must be 1..=10080 (a week) or null, got {m}"),
            ));
        }
        if self.notify_low.len() > MAX_NOTIFY_LOW {
            return Err(Invalid::new(
                "notify_low",
                format!(
                    "lists {} recipients; it takes at most {MAX_NOTIFY_LOW} (name a group for more people)",
                    self.notify_low.len()
                ),
            ));
        }
        for (i, rcpt) in self.notify_low.iter().enumerate() {
            if let Recipient::Supervisor { id } | Recipient::Group { id } = rcpt {
                check_name_id(&format!("notify_low[{i}].id"), id)?;
            }
        }
        if let Some(w) = &self.webhook {
            w.validate()?;
        }
        self.webchat.validate()?;
        if let Some(t) = &self.whatsapp_template {
            t.validate(self.rating.scale)?;
        }
        Ok(())
    }
}

/// Checks `rating.low_reasons`: at most [`MAX_LOW_REASONS`], ids well formed and distinct,
/// texts short enough for every channel's buttons.
fn check_reasons(reasons: &[LowReason]) -> Result<(), Invalid> {
    if reasons.len() > MAX_LOW_REASONS {
        return Err(Invalid::new(
            "rating.low_reasons",
            format!(
                "lists {} reasons; a line takes at most {MAX_LOW_REASONS}, so that every channel \
                 shows them as buttons",
                reasons.len()
            ),
        ));
    }
    for (i, r) in reasons.iter().enumerate() {
        let field = |f: &str| format!("rating.low_reasons[{i}].{f}");
        if r.id.is_empty()
            || r.id.len() > MAX_REASON_ID
            || !r
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(Invalid::new(
                field("id"),
                format!(
                    "'{}' is not a reason id: use 1 to {MAX_REASON_ID} lowercase letters, digits, \
                     '-' or '_', e.g. \"waited_too_long\"",
                    r.id
                ),
            ));
        }
        if reasons[..i].iter().any(|o| o.id == r.id) {
            return Err(Invalid::new(
                field("id"),
                format!("'{}' is listed twice: each reason needs its own id", r.id),
            ));
        }
        check_line(&field("text"), &r.text)?;
        let n = r.text.trim().chars().count();
        if n == 0 || r.text.chars().count() > MAX_REASON_CHARS {
            return Err(Invalid::new(
                field("text"),
                format!(
                    "must be 1 to {MAX_REASON_CHARS} characters (Messenger and Instagram cut \
                     longer buttons), got {}",
                    r.text.chars().count()
                ),
            ));
        }
    }
    Ok(())
}

impl SurveyRules {
    /// Checks each `self.*` field's range.
    fn validate(&self) -> Result<(), Invalid> {
        if self.min_days_between > 365 {
            return Err(Invalid::new(
                "survey.min_days_between",
                format!(
                    "must be 0..=365 (0: no limit), got {}",
                    self.min_days_between
                ),
            ));
        }
        if !(1..=100).contains(&self.sample_percent) {
            return Err(Invalid::new(
                "survey.sample_percent",
                format!(
                    "must be 1..=100 (100 asks every session; to ask none, set rating.enabled \
                     to false), got {}",
                    self.sample_percent
                ),
            ));
        }
        if self.min_client_messages > 1000 {
            return Err(Invalid::new(
                "survey.min_client_messages",
                format!("must be 0..=1000, got {}", self.min_client_messages),
            ));
        }
        check_tags("survey.skip_tags", &self.skip_tags)?;
        Ok(())
    }
}

impl WebhookSettings {
    /// Checks the line's own connector: its URL and signing secret.
    fn validate(&self) -> Result<(), Invalid> {
        check_http_url("webhook.url", &self.url)?;
        if let Some(secret) = &self.secret {
            check_secret("webhook.secret", secret, "every request")?;
        }
        Ok(())
    }
}

impl WebchatSettings {
    /// Checks the origins the widget may be embedded on.
    fn validate(&self) -> Result<(), Invalid> {
        if self.allowed_origins.len() > MAX_ALLOWED_ORIGINS {
            return Err(Invalid::new(
                "webchat.allowed_origins",
                format!("must list at most {MAX_ALLOWED_ORIGINS} origins"),
            ));
        }
        for (i, origin) in self.allowed_origins.iter().enumerate() {
            // An origin is exactly what a browser sends in `Origin`: no path, no slash.
            let ok = url::Url::parse(origin).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.origin().ascii_serialization() == *origin
            });
            if !ok {
                return Err(Invalid::new(
                    format!("webchat.allowed_origins[{i}]"),
                    format!(
                        "'{origin}' is not an origin: write scheme, host and port only, e.g. \"https://shop.example\""
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The description states the ranges `validate` takes, so a generated client sends none
    /// it refuses: each bound is taken and the number past it is not.
    #[test]
    fn the_description_states_the_ranges_validate_takes() {
        use serde_json::{Value, json};
        use utoipa::PartialSchema;
        let schemas = [
            ("", LineSettings::schema()),
            ("rating", RatingSettings::schema()),
            ("survey", SurveyRules::schema()),
        ];
        let mut stated = 0;
        for (section, schema) in schemas {
            let described = serde_json::to_value(schema).expect("a schema");
            let properties = described["properties"].as_object().expect("properties");
            for (field, property) in properties {
                let Some(min) = property["minimum"].as_i64() else {
                    continue;
                };
                stated += 1;
                let max = property["maximum"].as_i64();
                let mut tries = vec![(min, true)];
                if min > 0 {
                    tries.push((min - 1, false));
                }
                if let Some(max) = max {
                    tries.extend([(max, true), (max + 1, false)]);
                }
                for (n, taken) in tries {
                    let mut body = json!({"name": "Support"});
                    let at = if section.is_empty() {
                        &mut body
                    } else {
                        body[section] = json!({});
                        &mut body[section]
                    };
                    at[field] = Value::from(n);
                    let mut line: LineSettings = serde_json::from_value(body).expect("a line");
                    assert_eq!(line.validate().is_ok(), taken, "{section}.{field} = {n}");
                }
            }
        }
        assert!(stated >= 13, "only {stated} ranges are stated");
    }

    #[test]
    fn a_request_is_due_its_delay_after_the_close_except_a_card_shown_before_it() {
        let closed = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let rating = RatingSettings {
            delay_seconds: 5,
            rate_before_close: true,
            ..RatingSettings::default()
        };
        let five_later = closed + chrono::Duration::seconds(5);
        assert_eq!(
            rating.due_at(super::super::Channel::Telegram, closed),
            five_later
        );
        assert_eq!(
            rating.due_at(super::super::Channel::Webchat, closed),
            closed
        );
        let after_close = RatingSettings {
            rate_before_close: false,
            ..rating
        };
        assert_eq!(
            after_close.due_at(super::super::Channel::Webchat, closed),
            five_later
        );
    }

    #[test]
    fn reasons_are_few_short_and_distinct_and_answers_name_only_listed_ones() {
        let reason = |id: &str, text: &str| LowReason {
            id: id.into(),
            text: text.into(),
        };
        let mut l = line(serde_json::json!({"name": "Support"})).unwrap();
        l.rating.low_reasons = vec![reason("slow", "Waited too long"), reason("rude", "Rude")];
        assert!(l.validate().is_ok());
        assert_eq!(
            l.rating
                .reasons_of("reasons", &["rude".into(), "slow".into(), "rude".into()])
                .unwrap(),
            ["slow", "rude"],
            "in the line's order, each once"
        );
        let e = l
            .rating
            .reasons_of("reasons", &["late".into()])
            .unwrap_err();
        assert_eq!(e.field, "reasons[0]");
        assert!(e.message.contains("slow, rude"), "{}", e.message);
        for (bad, field) in [
            (reason("Slow", "x"), "rating.low_reasons[2].id"),
            (reason("slow", "x"), "rating.low_reasons[2].id"),
            (
                reason("long", &"x".repeat(21)),
                "rating.low_reasons[2].text",
            ),
            (reason("blank", "  "), "rating.low_reasons[2].text"),
        ] {
            let mut l = l.clone();
            l.rating.low_reasons.push(bad);
            assert_eq!(l.validate().unwrap_err().field, field);
        }
        let mut many = l.clone();
        many.rating.low_reasons = (0..9).map(|i| reason(&format!("r{i}"), "x")).collect();
        assert_eq!(many.validate().unwrap_err().field, "rating.low_reasons");
        let none = RatingSettings::default();
        assert!(none.reasons_of("reasons", &["slow".into()]).is_err());
        assert_eq!(
            none.reasons_of("reasons", &[]).unwrap(),
            Vec::<String>::new()
        );
    }

    fn line(json: serde_json::Value) -> Result<LineSettings, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn the_contract_example_is_accepted() {
        let mut l = line(serde_json::json!({
          "name": "Support",
          "rating": {"enabled": true, "scale": "binary", "request_text": "Please rate the quality of service",
            "delay_seconds": 3, "answer_window_hours": 72, "low_threshold": 2,
            "thanks_text": "Thank you for your rating!", "ask_resolved": false, "ask_comment_on_low": false,
            "rate_before_close": false, "language": "en"},
          "notify_low": [{"kind": "supervisor", "id": "p-7"}, {"kind": "responsible_manager"}, {"kind": "group", "id": "g-1"}],
          "auto_close_minutes": 30,
          "webhook": {"url": "https://connector.example/rating-requests", "secret": "0123456789abcdef"},
          "whatsapp_template": {"name": "service_rating", "language": "en"}
        }))
        .unwrap();
        l.validate().unwrap();
        assert_eq!(l.notify_low.len(), 3);
    }

    #[test]
    fn a_name_alone_takes_the_defaults() {
        let mut l = line(serde_json::json!({"name": "Sales"})).unwrap();
        l.validate().unwrap();
        assert_eq!(l.rating, RatingSettings::default());
    }

    #[test]
    fn a_misspelt_setting_is_refused() {
        let err =
            line(serde_json::json!({"name": "x", "rating": {"delay_second": 3}})).unwrap_err();
        assert!(err.to_string().contains("delay_second"), "{err}");
    }

    #[test]
    fn out_of_range_settings_name_their_field() {
        let mut l = line(serde_json::json!({"name": "x"})).unwrap();
        l.rating.delay_seconds = 3601;
        assert_eq!(l.validate().unwrap_err().field, "rating.delay_seconds");
        l.rating.delay_seconds = 0;
        l.webhook = Some(WebhookSettings {
            url: "ftp://x".into(),
            secret: Some("0123456789abcdef".into()),
        });
        assert_eq!(l.validate().unwrap_err().field, "webhook.url");
    }
}
