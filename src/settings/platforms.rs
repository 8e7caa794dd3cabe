//! The platforms' sections: `[telegram]`, `[meta]` and `[webchat]`.

use serde::{Deserialize, Serialize};

/// How web chat tokens are signed and how long they last.
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebchatSettings {
    /// The key tokens are signed with (at least 32 characters). Unset, Rateline makes one
    /// at first start and keeps it in the database, shared by every process; set it to
    /// rotate the key (tokens minted before stop working).
    pub token_secret: Option<String>,
    /// How long a token minted for a session lasts: enough for the chat, the delay and the
    /// line's answer window (1..=2400 hours; default 168, a week).
    pub token_ttl_hours: u32,
    /// Live widget connections open at once with one token (a client's tabs).
    pub max_streams_per_token: usize,
    /// Live widget connections open at once from one client address.
    pub max_streams_per_address: usize,
}

impl WebchatSettings {
    /// What is wrong with `[webchat]`, as sentences.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self
            .token_secret
            .as_ref()
            .is_some_and(|s| s.chars().count() < 32)
        {
            problems.push(
                "webchat.token_secret must be at least 32 characters: it signs every web chat token"
                    .into(),
            );
        }
        if self.max_streams_per_token == 0 || self.max_streams_per_address == 0 {
            problems.push(
                "webchat.max_streams_per_token and webchat.max_streams_per_address must be at least 1"
                    .into(),
            );
        }
        if !(1..=2400).contains(&self.token_ttl_hours) {
            problems.push(format!(
                "webchat.token_ttl_hours must be 1..=2400, got {}",
                self.token_ttl_hours
            ));
        }
        problems
    }
}

impl Default for WebchatSettings {
    fn default() -> Self {
        Self {
            token_secret: None,
            token_ttl_hours: 168,
            max_streams_per_token: 8,
            // Many clients can share an address behind an office's or a carrier's NAT.
            max_streams_per_address: 200,
        }
    }
}

impl std::fmt::Debug for WebchatSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebchatSettings")
            .field(
                "token_secret",
                &self.token_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("token_ttl_hours", &self.token_ttl_hours)
            .field("max_streams_per_token", &self.max_streams_per_token)
            .field("max_streams_per_address", &self.max_streams_per_address)
            .finish()
    }
}

/// How updates reach Rateline from Telegram.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TelegramMode {
    /// Telegram (or a contact center that owns the bot's webhook) POSTs updates to
    /// `/channels/telegram/webhook`.
    #[default]
    Webhook,
    /// Rateline asks for updates itself (`getUpdates`): for installs without a public URL.
    Polling,
}

/// The bot that sends rating requests to Telegram clients.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramSettings {
    /// The bot token from @BotFather.
    pub token: String,
    /// The Bot API's address: Telegram's own, or a local Bot API server; https unless on this
    /// machine.
    #[serde(default = "default_telegram_api_url")]
    pub api_url: String,
    /// Expected in `X-Telegram-Bot-Api-Secret-Token` on every webhook call.
    #[serde(default)]
    pub webhook_secret: Option<String>,
    /// In webhook mode, where Telegram reaches `/channels/telegram/webhook` (https); when
    /// set, `serve` registers it with `setWebhook` at start. Leave it unset when a contact
    /// center owns the bot's webhook and forwards updates.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// How updates reach Rateline: Telegram's webhook (the default), or long polling.
    #[serde(default)]
    pub mode: TelegramMode,
    /// Signs the rating buttons; defaults to a key derived from the token. Set it when the
    /// token may be rotated, so buttons already in clients' chats keep working.
    #[serde(default)]
    pub callback_secret: Option<String>,
    /// Messages per second across all chats (Telegram allows about 30).
    #[serde(default = "default_telegram_rate")]
    pub max_per_second: u32,
    /// How long one `getUpdates` long poll waits, in polling mode.
    #[serde(default = "default_telegram_poll")]
    pub poll_timeout_seconds: u64,
}

fn default_telegram_api_url() -> String {
    "https://api.telegram.org".into()
}
fn default_telegram_rate() -> u32 {
    25
}
fn default_telegram_poll() -> u64 {
    25
}

impl std::fmt::Debug for TelegramSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token and secrets never reach a log line through a Debug print.
        f.debug_struct("TelegramSettings")
            .field("api_url", &self.api_url)
            .field("mode", &self.mode)
            .field("max_per_second", &self.max_per_second)
            .finish_non_exhaustive()
    }
}

impl TelegramSettings {
    /// What is wrong with `[telegram]`, as sentences.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        // "123456:ABC-DEF…": the bot's id, a colon, and the secret part.
        let well_formed = self.token.split_once(':').is_some_and(|(id, rest)| {
            !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !rest.is_empty()
        });
        if !well_formed {
            problems.push(
                "telegram.token is not a bot token (\"<bot id>:<secret>\", as @BotFather gives it)"
                    .into(),
            );
        }
        match reqwest::Url::parse(self.api_url.trim_end_matches('/')) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base() => {
                let loopback = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
                if u.scheme() == "http" && !loopback {
                    problems.push(format!(
                        "telegram.api_url {:?} is plain http: the token would travel unencrypted; use https",
                        self.api_url
                    ));
                }
            }
            _ => problems.push(format!(
                "telegram.api_url {:?} is not an http(s) URL such as https://api.telegram.org",
                self.api_url
            )),
        }
        if let Some(u) = &self.webhook_url {
            match reqwest::Url::parse(u) {
                Ok(url) if url.scheme() == "https" => {}
                _ => problems.push(format!(
                    "telegram.webhook_url {u:?} must be an https URL: Telegram posts only to https"
                )),
            }
            if self.mode == TelegramMode::Polling {
                problems.push(
                    "telegram.webhook_url is set but telegram.mode is \"polling\": choose one"
                        .into(),
                );
            }
        }
        if self.callback_secret.as_ref().is_some_and(|s| s.len() < 16) {
            problems.push("telegram.callback_secret must be at least 16 characters".into());
        }
        match (&self.webhook_secret, self.mode) {
            (None, TelegramMode::Webhook) => problems.push(
                "telegram.webhook_secret is required in webhook mode: the secret_token you give \
                 setWebhook, so only Telegram can post updates (or set telegram.mode = \"polling\")"
                    .into(),
            ),
            (Some(s), _)
                if s.is_empty()
                    || s.len() > 256
                    || !s
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
            {
                problems.push(
                    "telegram.webhook_secret must be 1-256 characters of A-Z, a-z, 0-9, _ and - \
                     (Telegram's rule for secret_token)"
                        .into(),
                )
            }
            _ => {}
        }
        if !(1..=30).contains(&self.max_per_second) {
            problems.push(
                "telegram.max_per_second must be 1..=30: Telegram refuses more than about 30 \
                 messages a second (with several servers, divide it among them)"
                    .into(),
            );
        }
        if self.poll_timeout_seconds == 0 || self.poll_timeout_seconds > 50 {
            problems.push("telegram.poll_timeout_seconds must be between 1 and 50".into());
        }
        problems
    }
}

/// The Meta app and the accounts Rateline sends from: a Page (Messenger), an Instagram
/// professional account, a WhatsApp business phone number. Each channel is enabled when
/// its id and token are both set.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetaSettings {
    /// The Graph API's address; Meta's own unless a test or a proxy stands in.
    #[serde(default = "default_graph_url")]
    pub graph_url: String,
    /// The Graph API version every call names, e.g. `v25.0`.
    #[serde(default = "default_graph_version")]
    pub graph_version: String,
    /// Verifies `X-Hub-Signature-256` on every webhook call.
    #[serde(default)]
    pub app_secret: Option<String>,
    /// Answers Meta's `hub.verify_token` when the webhook is set up.
    #[serde(default)]
    pub verify_token: Option<String>,
    /// The Facebook Page Messenger requests are sent from; with `page_token`, enables `messenger`.
    #[serde(default)]
    pub page_id: Option<String>,
    /// The Page's access token.
    #[serde(default)]
    pub page_token: Option<String>,
    /// The Instagram professional account requests are sent from; with `instagram_token`, enables
    /// `instagram`.
    #[serde(default)]
    pub instagram_id: Option<String>,
    /// The Instagram account's access token.
    #[serde(default)]
    pub instagram_token: Option<String>,
    /// The WhatsApp business phone number's id (not the number); with `whatsapp_token`, enables
    /// `whatsapp`.
    #[serde(default)]
    pub whatsapp_phone_number_id: Option<String>,
    /// The access token WhatsApp requests are sent with.
    #[serde(default)]
    pub whatsapp_token: Option<String>,
    /// Signs the rating buttons; defaults to a key derived from the app secret.
    #[serde(default)]
    pub callback_secret: Option<String>,
}

fn default_graph_url() -> String {
    "https://graph.facebook.com".into()
}
fn default_graph_version() -> String {
    "v25.0".into()
}

impl std::fmt::Debug for MetaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens and secrets never reach a log line through a Debug print.
        f.debug_struct("MetaSettings")
            .field("graph_url", &self.graph_url)
            .field("graph_version", &self.graph_version)
            .field("page_id", &self.page_id)
            .field("instagram_id", &self.instagram_id)
            .field("whatsapp_phone_number_id", &self.whatsapp_phone_number_id)
            .finish_non_exhaustive()
    }
}

impl MetaSettings {
    /// `(channel, account id, token)` of every account configured.
    pub fn accounts(&self) -> Vec<(rateline_domain::Channel, &str, &str)> {
        use rateline_domain::Channel;
        [
            (Channel::Messenger, &self.page_id, &self.page_token),
            (
                Channel::Instagram,
                &self.instagram_id,
                &self.instagram_token,
            ),
            (
                Channel::Whatsapp,
                &self.whatsapp_phone_number_id,
                &self.whatsapp_token,
            ),
        ]
        .into_iter()
        .filter_map(|(c, id, token)| Some((c, id.as_deref()?, token.as_deref()?)))
        .collect()
    }

    /// What is wrong with `[meta]`, as sentences.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if reqwest::Url::parse(&self.graph_url).is_err() {
            problems.push(format!("meta.graph_url {:?} is not a URL", self.graph_url));
        }
        for (id, token, id_key, token_key) in [
            (&self.page_id, &self.page_token, "page_id", "page_token"),
            (
                &self.instagram_id,
                &self.instagram_token,
                "instagram_id",
                "instagram_token",
            ),
            (
                &self.whatsapp_phone_number_id,
                &self.whatsapp_token,
                "whatsapp_phone_number_id",
                "whatsapp_token",
            ),
        ] {
            if id.is_some() != token.is_some() {
                problems.push(format!(
                    "meta.{id_key} and meta.{token_key} go together: set both to enable the channel, or neither"
                ));
            }
        }
        if self.accounts().is_empty() {
            problems.push(
                "[meta] enables no channel: set page_id and page_token (Messenger), \
                 instagram_id and instagram_token, or whatsapp_phone_number_id and whatsapp_token"
                    .into(),
            );
        }
        if self.app_secret.as_deref().is_none_or(str::is_empty) {
            problems.push(
                "meta.app_secret is required: it verifies X-Hub-Signature-256 on Meta's webhooks \
                 (the app's secret in the Meta developer dashboard)"
                    .into(),
            );
        }
        if self.verify_token.as_deref().is_none_or(str::is_empty) {
            problems.push(
                "meta.verify_token is required: Meta sends it back when you subscribe the webhook"
                    .into(),
            );
        }
        problems
    }
}
