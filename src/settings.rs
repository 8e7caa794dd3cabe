//! Settings: built-in defaults, then a TOML file, then `RATELINE__SECTION__KEY` variables
//! (the `config` crate's convention), deserialised into typed structs. Any setting can
//! also come from a file of its own, `RATELINE__SECTION__KEY_FILE=/path`: the way container
//! platforms hand secrets out, kept out of the environment and the config file.
//!
//! With no file and no variables, Rateline runs on SQLite at `./rateline.db` and listens on
//! `127.0.0.1:8080`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use serde::{Deserialize, Serialize};

use rateline_domain::{ChatwootSettings, ConnectorSettings, LineSettings, ZammadSettings};

/// The settings named by `RATELINE__…_FILE` variables, read from their files: each as
/// (`section.key`, the file's text without its final line break). Errors name the variable
/// and the path, never the contents.
fn settings_from_files() -> Result<Vec<(String, String)>, config::ConfigError> {
    let mut found = Vec::new();
    for (name, path) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let Some(key) = name
            .strip_prefix("RATELINE__")
            .and_then(|k| k.strip_suffix("_FILE"))
        else {
            continue;
        };
        let direct = &name[..name.len() - "_FILE".len()];
        if std::env::var_os(direct).is_some() {
            return Err(config::ConfigError::Message(format!(
                "both {direct} and {name} are set; keep one"
            )));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| {
            config::ConfigError::Message(format!(
                "{name}: cannot read {}: {e}",
                std::path::Path::new(&path).display()
            ))
        })?;
        let value = text.strip_suffix('\n').unwrap_or(&text);
        let value = value.strip_suffix('\r').unwrap_or(value);
        found.push((key.to_lowercase().replace("__", "."), value.to_owned()));
    }
    Ok(found)
}

/// Everything a deployment sets. An unknown section is an error, not a silent default.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub database: DatabaseSettings,
    #[serde(default)]
    pub scheduler: SchedulerSettings,
    #[serde(default)]
    pub log: LogSettings,
    /// Lines defined in the file; the same fields as `PUT /v1/lines/{id}` plus `id`.
    #[serde(default)]
    pub lines: Vec<serde_json::Value>,
    /// People defined in the file; the same fields as `PUT /v1/people/{id}` plus `id`.
    #[serde(default)]
    pub people: Vec<serde_json::Value>,
    /// Groups defined in the file; the same fields as `PUT /v1/groups/{id}` plus `id`.
    #[serde(default)]
    pub groups: Vec<serde_json::Value>,
    /// Enables the `telegram` channel.
    #[serde(default)]
    pub telegram: Option<TelegramSettings>,
    /// Enables the Meta channels whose ids and tokens are set.
    #[serde(default)]
    pub meta: Option<MetaSettings>,
    /// The Chatwoot accounts whose conversations are rated (`[[chatwoot]]`,
    /// docs/channels/chatwoot.md): `account` and the fields of
    /// `PUT /v1/connectors/chatwoot/{account}`.
    #[serde(default)]
    pub chatwoot: Vec<serde_json::Value>,
    /// The Zammad instances whose tickets are rated (`[[zammad]]`, docs/channels/zammad.md):
    /// `instance` and the fields of `PUT /v1/connectors/zammad/{instance}`.
    #[serde(default)]
    pub zammad: Vec<serde_json::Value>,
    /// Enables e-mail alerts.
    #[serde(default)]
    pub smtp: Option<SmtpSettings>,
    /// The web chat widget's tokens.
    #[serde(default)]
    pub webchat: WebchatSettings,
    /// Request rate limits.
    #[serde(default)]
    pub limits: LimitSettings,
    /// Where outbound calls may go.
    #[serde(default)]
    pub outbound: OutboundSettings,
    /// How low-rating alerts are sent.
    #[serde(default)]
    pub alerts: AlertSettings,
    /// The dashboard's sign-ins.
    #[serde(default)]
    pub dashboard: DashboardSettings,
    /// How long conversations are kept.
    #[serde(default)]
    pub retention: RetentionSettings,
}

/// How long conversations are kept.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// Purge sessions closed more than this many days ago, with their requests, ratings and
    /// follow-ups, keeping their counts in the report (121..=36500); unset keeps everything.
    pub days: Option<u32>,
}

/// The fewest `retention.days`: past the longest answer window (90 days) and the grace
/// period after it (30 days), so nothing still answerable or waiting to count is purged.
pub const MIN_RETENTION_DAYS: u32 = 121;

/// The dashboard's sign-ins.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardSettings {
    /// A sign-in unused this long is gone (1..=43200, a month); every page moves it on.
    pub sign_in_idle_minutes: u32,
}

impl Default for DashboardSettings {
    fn default() -> Self {
        // A working day's pause (lunch, a meeting) does not sign anyone out; a night does.
        Self {
            sign_in_idle_minutes: 8 * 60,
        }
    }
}

/// The outbound policy: Rateline calls public addresses only, and these networks besides.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundSettings {
    /// Networks (CIDRs such as `10.20.0.0/16`, or single addresses) that connectors, alert
    /// webhooks and platform APIs may be reached at although they are not public: an
    /// on-premises connector, a local Bot API server. In the environment, a
    /// comma-separated list: `RATELINE__OUTBOUND__ALLOWED_NETWORKS=10.20.0.0/16,fd00::/8`.
    pub allowed_networks: Vec<String>,
}

/// How low-rating alerts are sent.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertSettings {
    /// Signs alert webhooks (`X-Rateline-Signature`) for people without a
    /// `notify.webhook_secret` of their own; unset, a key made at the first start and kept
    /// in the database signs them.
    pub webhook_secret: Option<String>,
}

impl std::fmt::Debug for AlertSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertSettings")
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// Calls per minute and bursts: per client address on the public endpoints (platform
/// webhooks, the widget), per API key on `/v1`. 0 switches a limit off.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    pub public_per_minute: u32,
    pub public_burst: u32,
    pub key_per_minute: u32,
    pub key_burst: u32,
    /// Refused credentials (wrong API keys, wrong sign-ins) per client address: past the
    /// burst, the address gets `429` without its credential being looked up.
    pub failed_auth_per_minute: u32,
    pub failed_auth_burst: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        // Generous: a busy bot's updates come from a few Telegram addresses, and a widget
        // makes a handful of calls per client.
        Self {
            public_per_minute: 6000,
            public_burst: 500,
            key_per_minute: 60_000,
            key_burst: 2000,
            // A person mistyping or a program misconfigured gets a few dozen tries; a
            // guesser gets ten a minute.
            failed_auth_per_minute: 10,
            failed_auth_burst: 30,
        }
    }
}

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

/// The mail server low-rating alerts are sent through.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// `smtp://host:port` (no TLS: a relay on the same machine), `smtp://host:587?tls=required`
    /// (STARTTLS), `smtps://host` (TLS from the start); `user:password@host` to log in.
    pub url: String,
    /// The sender, e.g. `Rateline <rateline@example.com>`.
    pub from: String,
}

impl SmtpSettings {
    /// What is wrong with the mail server's settings, as sentences.
    fn problems(&self) -> Vec<String> {
        use lettre::{AsyncSmtpTransport, Tokio1Executor, message::Mailbox};
        let mut problems = Vec::new();
        // lettre's message names the URL's part it could not read, never the password.
        if let Err(e) = AsyncSmtpTransport::<Tokio1Executor>::from_url(&self.url) {
            problems.push(format!("smtp.url: {e}"));
        }
        if self.from.parse::<Mailbox>().is_err() {
            problems.push(format!(
                "smtp.from: '{}' is not an e-mail address",
                self.from
            ));
        }
        problems
    }
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("url", &crate::store::redact_url(&self.url))
            .field("from", &self.from)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    pub addr: String,
    /// The address clients and connectors reach this server at, for `answer_url`;
    /// `http://{addr}` when unset.
    pub public_url: Option<String>,
    /// The largest request body accepted.
    pub body_limit_bytes: usize,
    /// Connections open at once, in all (lowered at start to fit the open-file limit).
    pub max_connections: usize,
    /// Connections open at once from one client address (an IPv6 /64).
    pub max_connections_per_address: usize,
    /// Time to send a request's headers: from the connection's start, or from a
    /// request's first byte.
    pub header_timeout_seconds: u64,
    /// How long a kept-alive connection may sit idle between requests.
    pub keep_alive_seconds: u64,
    /// Time for a request's body and its handling, up to the start of the response.
    pub request_timeout_seconds: u64,
    /// Networks of reverse proxies and load balancers (CIDRs): their connections count only
    /// towards `max_connections`, and their `X-Forwarded-For` names the client that the
    /// per-address limits count. In the environment, comma-separated.
    pub trusted_proxies: Vec<String>,
    /// The zone the dashboard shows times and reads dates in for people without their own
    /// (`time_zone` on the person) and for keys: an IANA name; UTC when unset.
    pub time_zone: Option<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8080".into(),
            public_url: None,
            body_limit_bytes: 64 * 1024,
            max_connections: 10_000,
            // A browser opens six or so; an office or a mobile carrier's NAT puts many
            // clients behind one address.
            max_connections_per_address: 256,
            header_timeout_seconds: 10,
            // Above the 60 s idle timeout of common load balancers, so the balancer, not
            // Rateline, closes an idle connection and never sends on a closed one.
            keep_alive_seconds: 75,
            request_timeout_seconds: 60,
            trusted_proxies: Vec::new(),
            time_zone: None,
        }
    }
}

impl ServerSettings {
    /// Where people and programs reach this server: `public_url`, else `http://{addr}`;
    /// without a trailing slash.
    pub fn base_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.addr))
            .trim_end_matches('/')
            .to_owned()
    }

    /// The dashboard's zone for people without their own: `time_zone`, else UTC (a name
    /// that is not a zone is reported by `problems`, and read as UTC).
    pub fn zone(&self) -> chrono_tz::Tz {
        self.time_zone
            .as_deref()
            .and_then(|z| z.parse().ok())
            .unwrap_or(chrono_tz::UTC)
    }

    /// Whether `addr` listens only on this machine (a loopback address).
    pub fn loopback_only(&self) -> bool {
        self.addr
            .parse::<SocketAddr>()
            .is_ok_and(|a| a.ip().is_loopback())
    }

    /// The trusted proxies' networks.
    pub fn trusted_proxies(&self) -> Result<Vec<ipnet::IpNet>, String> {
        rateline_adapters::outbound::Policy::parse_networks(&self.trusted_proxies)
            .map_err(|e| format!("server.trusted_proxies: {e}"))
    }
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://FILE` or `postgres://USER@HOST/DB`.
    pub url: String,
    /// PostgreSQL pool size (SQLite always writes through one connection).
    pub max_connections: u32,
    /// PostgreSQL writer tasks; unset: two for a server on this machine, four across a
    /// network (`store::default_writers`). SQLite always has one.
    pub writers: Option<usize>,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://rateline.db".into(),
            max_connections: 16,
            writers: None,
        }
    }
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &crate::store::redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("writers", &self.writers)
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
    fn problems(&self) -> Vec<String> {
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
    #[serde(default = "default_graph_url")]
    pub graph_url: String,
    #[serde(default = "default_graph_version")]
    pub graph_version: String,
    /// Verifies `X-Hub-Signature-256` on every webhook call.
    #[serde(default)]
    pub app_secret: Option<String>,
    /// Answers Meta's `hub.verify_token` when the webhook is set up.
    #[serde(default)]
    pub verify_token: Option<String>,
    #[serde(default)]
    pub page_id: Option<String>,
    #[serde(default)]
    pub page_token: Option<String>,
    #[serde(default)]
    pub instagram_id: Option<String>,
    #[serde(default)]
    pub instagram_token: Option<String>,
    #[serde(default)]
    pub whatsapp_phone_number_id: Option<String>,
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

    fn problems(&self) -> Vec<String> {
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

/// How the scheduler sends: see docs/delivery.md.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerSettings {
    /// The most requests claimed in one batch.
    pub batch_size: u32,
    /// The most sends in flight at once in this process.
    pub concurrency: u32,
    /// How long a claim lasts; a crashed holder's requests are sent again after it.
    pub lease_seconds: u64,
    /// A send that takes longer is abandoned and retried.
    pub send_timeout_seconds: u64,
    /// A request not sent this long after its due time ends `failed` instead of arriving late.
    pub send_deadline_seconds: u64,
    /// Tries before a request ends `failed`.
    pub max_attempts: u32,
    /// The first backoff; it doubles with each retry, with jitter.
    pub retry_min_millis: u64,
    /// The longest backoff.
    pub retry_max_seconds: u64,
    /// How often the report's change log is folded into its per-day rollup. Reports read
    /// both, so this bounds how many unfolded changes a report sums, not how fresh it is.
    pub report_fold_seconds: u64,
    /// How often the helpdesks' conversations (tickets) are read through their APIs, for
    /// events their webhooks did not bring; once at the start too.
    pub helpdesk_catch_up_seconds: u64,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            batch_size: 128,
            concurrency: 256,
            lease_seconds: 60,
            send_timeout_seconds: 10,
            send_deadline_seconds: 900,
            max_attempts: 10,
            retry_min_millis: 1000,
            retry_max_seconds: 300,
            report_fold_seconds: 5,
            helpdesk_catch_up_seconds: 180,
        }
    }
}

impl SchedulerSettings {
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds)
    }
    pub fn send_timeout(&self) -> Duration {
        Duration::from_secs(self.send_timeout_seconds)
    }
    pub fn send_deadline(&self) -> Duration {
        Duration::from_secs(self.send_deadline_seconds)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `rateline=debug,sqlx=warn`; `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// A line from the config file, validated.
#[derive(Debug, Clone)]
pub struct ConfiguredLine {
    pub id: String,
    pub settings: LineSettings,
}

/// People and groups from the config file, validated.
#[derive(Debug, Clone, Default)]
pub struct ConfiguredPeople {
    pub people: Vec<(rateline_domain::NameId, rateline_domain::Person)>,
    pub groups: Vec<(rateline_domain::NameId, rateline_domain::Group)>,
}

/// The helpdesk connectors of the config file, checked.
#[derive(Debug, Clone, Default)]
pub struct ConfiguredConnectors {
    /// Account id → settings.
    pub chatwoot: Vec<(String, ChatwootSettings)>,
    /// Instance name → settings.
    pub zammad: Vec<(String, ZammadSettings)>,
}

/// Each `[[chatwoot]]` (`[[zammad]]`) entry with its `account` (`instance`) taken out,
/// checked as its `PUT` would be, or the problem with it.
fn connectors_of<S: ConnectorSettings>(
    list: &[serde_json::Value],
    policy: &rateline_adapters::outbound::Policy,
    problems: &mut Vec<String>,
) -> Vec<(String, S)> {
    let helpdesk = S::HELPDESK;
    let (what, unit) = (helpdesk.as_str(), helpdesk.unit());
    let mut found: Vec<(String, S)> = Vec::new();
    for (i, raw) in list.iter().enumerate() {
        let mut raw = raw.clone();
        let id = match raw.as_object_mut().and_then(|o| o.remove(unit)) {
            Some(serde_json::Value::String(s)) => s,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => {
                problems.push(format!("{what}[{i}]: needs `{unit}`"));
                continue;
            }
        };
        let at = format!("{what} ({unit} {id:?})");
        if let Err(e) = helpdesk.check_id(unit, &id) {
            problems.push(format!("{at}: {e}"));
            continue;
        }
        if found.iter().any(|(other, _)| *other == id) {
            problems.push(format!(
                "{at} is configured twice: one [[{what}]] per {unit}"
            ));
            continue;
        }
        let checked = serde_json::from_value::<S>(raw)
            .map_err(|e| e.to_string())
            .and_then(|s| {
                s.validate().map_err(|e| e.to_string())?;
                policy.check_url(s.url()).map_err(|refused| {
                    format!("url {:?} is {refused}", crate::store::redact_url(s.url()))
                })?;
                Ok(s)
            });
        match checked {
            Ok(s) => found.push((id, s)),
            Err(e) => problems.push(format!("{at}: {e}")),
        }
    }
    found
}

/// Each entry of a file's list (`lines`, `people`, `groups`) with its `id` taken out and
/// checked, or the problem with it.
fn with_ids(
    list: &[serde_json::Value],
    what: &str,
    problems: &mut Vec<String>,
) -> Vec<(String, serde_json::Value)> {
    let mut entries = Vec::new();
    for (i, raw) in list.iter().enumerate() {
        let mut raw = raw.clone();
        let id = raw
            .as_object_mut()
            .and_then(|o| o.remove("id"))
            .and_then(|v| v.as_str().map(String::from));
        let Some(id) = id else {
            problems.push(format!("{what}[{i}]: needs an `id`"));
            continue;
        };
        let id = rateline_domain::normalize_id(&id);
        if let Err(e) = rateline_domain::check_name_id(&format!("{what}[{i}].id"), &id) {
            problems.push(e.to_string());
            continue;
        }
        entries.push((id, raw));
    }
    entries
}

/// The name of every setting (`section.key`), for the checks that the sample configuration
/// and the configuration page name them all. Read from the settings types themselves, with
/// each optional section present.
pub fn every_key() -> Vec<String> {
    let all = "[telegram]\ntoken = \"0:x\"\n[meta]\n[smtp]\nurl = \"smtp://localhost\"\nfrom = \"a@b.c\"\n";
    let settings: Settings = Config::builder()
        .add_source(File::from_str(all, FileFormat::Toml))
        .build()
        .and_then(Config::try_deserialize)
        .expect("every optional section with its required keys reads");
    let value = serde_json::to_value(&settings).expect("the settings serialise");
    let mut keys = Vec::new();
    for (section, fields) in value.as_object().expect("settings are an object") {
        if let Some(fields) = fields.as_object() {
            keys.extend(fields.keys().map(|k| format!("{section}.{k}")));
        }
    }
    keys.sort();
    keys
}

impl Settings {
    /// Defaults, then `file` (if any), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, config::ConfigError> {
        let mut builder = Config::builder();
        if let Some(path) = file {
            builder = builder.add_source(File::from(path).format(FileFormat::Toml).required(true));
        }
        // `…_FILE` variables name files, not values: they are read below.
        let variables = std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .filter(|(name, _)| !name.ends_with("_FILE"))
            .collect();
        builder = builder.add_source(
            Environment::with_prefix("RATELINE")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                // Lists in the environment are comma-separated.
                .list_separator(",")
                .with_list_parse_key("outbound.allowed_networks")
                .with_list_parse_key("server.trusted_proxies")
                .source(Some(variables)),
        );
        for (key, value) in settings_from_files()? {
            builder = builder.set_override(key, value)?;
        }
        builder.build()?.try_deserialize()
    }

    /// The lines of the config file, each checked like a `PUT /v1/lines/{id}` body.
    pub fn configured_lines(&self) -> Result<Vec<ConfiguredLine>, Vec<String>> {
        let mut lines = Vec::new();
        let mut problems = Vec::new();
        for (id, raw) in with_ids(&self.lines, "lines", &mut problems) {
            match serde_json::from_value::<LineSettings>(raw) {
                Ok(mut settings) => match settings.validate().and_then(|()| {
                    let policy = self.outbound_policy().unwrap_or_default();
                    match &settings.webhook {
                        Some(w) => policy.check_url(&w.url).map_err(|r| {
                            rateline_domain::Invalid::new("webhook.url", r.to_string())
                        }),
                        None => Ok(()),
                    }
                }) {
                    Ok(())
                        if settings
                            .webhook
                            .as_ref()
                            .is_some_and(|w| w.secret.is_none()) =>
                    {
                        problems.push(format!("line '{id}': webhook.secret is required"));
                    }
                    Ok(()) => lines.push(ConfiguredLine { id, settings }),
                    Err(e) => problems.push(format!("line '{id}': {e}")),
                },
                Err(e) => problems.push(format!("line '{id}': {e}")),
            }
        }
        if problems.is_empty() {
            Ok(lines)
        } else {
            Err(problems)
        }
    }

    /// The helpdesk connectors of the config file (`[[chatwoot]]` with its `account`,
    /// `[[zammad]]` with its `instance`), each checked like its `PUT` body, the outbound
    /// policy included.
    pub fn configured_connectors(&self) -> Result<ConfiguredConnectors, Vec<String>> {
        let mut problems = Vec::new();
        let policy = self.outbound_policy().unwrap_or_default();
        let found = ConfiguredConnectors {
            chatwoot: connectors_of(&self.chatwoot, &policy, &mut problems),
            zammad: connectors_of(&self.zammad, &policy, &mut problems),
        };
        if problems.is_empty() {
            Ok(found)
        } else {
            Err(problems)
        }
    }

    /// The people and groups of the config file, each checked like its `PUT` body.
    pub fn configured_people(&self) -> Result<ConfiguredPeople, Vec<String>> {
        let mut problems = Vec::new();
        let mut found = ConfiguredPeople::default();
        let policy = self.outbound_policy().unwrap_or_default();
        for (id, raw) in with_ids(&self.people, "people", &mut problems) {
            let id = rateline_domain::NameId::stored(id);
            let checked = serde_json::from_value::<rateline_domain::Person>(raw)
                .map_err(|e| e.to_string())
                .and_then(|mut p| {
                    p.validate(&id).map_err(|e| e.to_string())?;
                    if let Some(url) = &p.notify.webhook_url {
                        policy
                            .check_url(url)
                            .map_err(|r| format!("notify.webhook_url: {r}"))?;
                    }
                    Ok(p)
                });
            match checked {
                Ok(p) => found.people.push((id, p)),
                Err(e) => problems.push(format!("person '{id}': {e}")),
            }
        }
        for (id, raw) in with_ids(&self.groups, "groups", &mut problems) {
            let id = rateline_domain::NameId::stored(id);
            let checked = serde_json::from_value::<rateline_domain::Group>(raw)
                .map_err(|e| e.to_string())
                .and_then(|g| g.validate().map(|()| g).map_err(|e| e.to_string()));
            match checked {
                Ok(g) => found.groups.push((id, g)),
                Err(e) => problems.push(format!("group '{id}': {e}")),
            }
        }
        if problems.is_empty() {
            Ok(found)
        } else {
            Err(problems)
        }
    }

    /// The outbound policy these settings describe.
    pub fn outbound_policy(&self) -> Result<rateline_adapters::outbound::Policy, String> {
        rateline_adapters::outbound::Policy::parse_networks(&self.outbound.allowed_networks)
            .map(rateline_adapters::outbound::Policy::new)
            .map_err(|e| format!("outbound.allowed_networks: {e}"))
    }

    /// Every problem that would stop `serve` or make it misbehave, as sentences.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let policy = self.outbound_policy().unwrap_or_else(|e| {
            problems.push(e);
            Default::default()
        });
        // Platform APIs are called under the same policy as every other destination.
        let platform_urls = self
            .telegram
            .iter()
            .map(|t| ("telegram.api_url", t.api_url.as_str()))
            .chain(
                self.meta
                    .iter()
                    .map(|m| ("meta.graph_url", m.graph_url.as_str())),
            );
        for (key, url) in platform_urls {
            if let Err(refused) = policy.check_url(url) {
                problems.push(format!("{key} {url:?} is {refused}"));
            }
        }
        if self
            .alerts
            .webhook_secret
            .as_ref()
            .is_some_and(|s| s.chars().count() < 16)
        {
            problems.push(
                "alerts.webhook_secret must be at least 16 characters: it signs alert webhooks"
                    .into(),
            );
        }
        if self.server.addr.parse::<SocketAddr>().is_err() {
            problems.push(format!(
                "server.addr {:?} is not an address such as 127.0.0.1:8080",
                self.server.addr
            ));
        }
        if let Some(u) = &self.server.public_url
            && reqwest::Url::parse(u).is_err()
        {
            problems.push(format!("server.public_url {u:?} is not a URL"));
        }
        if let Err(e) = self.server.trusted_proxies() {
            problems.push(e);
        }
        if let Some(zone) = &self.server.time_zone
            && let Err(e) = rateline_domain::time_zone("server.time_zone", zone)
        {
            problems.push(e.to_string());
        }
        let sv = &self.server;
        for (key, value, range) in [
            (
                "server.max_connections",
                sv.max_connections as u64,
                16..=1_000_000,
            ),
            (
                "server.max_connections_per_address",
                sv.max_connections_per_address as u64,
                1..=1_000_000,
            ),
            (
                "server.header_timeout_seconds",
                sv.header_timeout_seconds,
                1..=600,
            ),
            ("server.keep_alive_seconds", sv.keep_alive_seconds, 1..=3600),
            (
                "server.request_timeout_seconds",
                sv.request_timeout_seconds,
                1..=3600,
            ),
        ] {
            if !range.contains(&value) {
                problems.push(format!(
                    "{key} must be {}..={}, got {value}",
                    range.start(),
                    range.end()
                ));
            }
        }
        if let Some(w) = self.database.writers
            && !(1..=16).contains(&w)
        {
            problems.push(format!(
                "database.writers must be 1..=16, got {w}; leave it unset for the default"
            ));
        }
        let url = &self.database.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres:")
            || url.starts_with("postgresql:"))
        {
            problems.push("database.url must start with sqlite:// or postgres://".into());
        }
        let s = &self.scheduler;
        if s.lease_seconds <= s.send_timeout_seconds {
            problems.push(format!(
                "scheduler.lease_seconds ({}) must exceed scheduler.send_timeout_seconds ({}), \
                 or a slow send would be claimed twice",
                s.lease_seconds, s.send_timeout_seconds
            ));
        }
        if s.batch_size == 0
            || s.concurrency == 0
            || s.max_attempts == 0
            || s.report_fold_seconds == 0
            || s.helpdesk_catch_up_seconds == 0
        {
            problems.push(
                "scheduler.batch_size, scheduler.concurrency, scheduler.max_attempts, \
                 scheduler.report_fold_seconds and scheduler.helpdesk_catch_up_seconds must be \
                 at least 1"
                    .into(),
            );
        }
        if let Some(t) = &self.telegram {
            problems.append(&mut t.problems());
        }
        if let Some(m) = &self.meta {
            problems.append(&mut m.problems());
        }
        if let Some(smtp) = &self.smtp {
            problems.extend(smtp.problems());
        }
        if self
            .webchat
            .token_secret
            .as_ref()
            .is_some_and(|s| s.chars().count() < 32)
        {
            problems.push(
                "webchat.token_secret must be at least 32 characters: it signs every web chat token"
                    .into(),
            );
        }
        if let Some(days) = self.retention.days
            && !(MIN_RETENTION_DAYS..=36_500).contains(&days)
        {
            problems.push(format!(
                "retention.days must be {MIN_RETENTION_DAYS}..=36500 (past the longest answer \
                 window and grace period), or unset to keep everything; got {days}"
            ));
        }
        if !(1..=43_200).contains(&self.dashboard.sign_in_idle_minutes) {
            problems.push(format!(
                "dashboard.sign_in_idle_minutes must be 1..=43200 (a month), got {}",
                self.dashboard.sign_in_idle_minutes
            ));
        }
        if self.webchat.max_streams_per_token == 0 || self.webchat.max_streams_per_address == 0 {
            problems.push(
                "webchat.max_streams_per_token and webchat.max_streams_per_address must be at least 1"
                    .into(),
            );
        }
        if !(1..=2400).contains(&self.webchat.token_ttl_hours) {
            problems.push(format!(
                "webchat.token_ttl_hours must be 1..=2400, got {}",
                self.webchat.token_ttl_hours
            ));
        }
        if let Err(mut p) = self.configured_lines() {
            problems.append(&mut p);
        }
        if let Err(mut p) = self.configured_connectors() {
            problems.append(&mut p);
        }
        if let Err(mut p) = self.configured_people() {
            problems.append(&mut p);
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn telegram(extra: &str) -> Vec<String> {
        let toml = format!("[telegram]\ntoken = \"123:abc\"\nwebhook_secret = \"s3cret\"\n{extra}");
        let settings: Settings = Config::builder()
            .add_source(File::from_str(&toml, FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        settings.problems()
    }

    #[test]
    fn the_dashboards_zone_is_an_iana_name() {
        let settings = |zone: &str| -> Settings {
            Config::builder()
                .add_source(File::from_str(
                    &format!("[server]\ntime_zone = \"{zone}\""),
                    FileFormat::Toml,
                ))
                .build()
                .unwrap()
                .try_deserialize()
                .unwrap()
        };
        let berlin = settings("Europe/Berlin");
        assert!(berlin.problems().is_empty(), "{:?}", berlin.problems());
        assert_eq!(berlin.server.zone(), chrono_tz::Europe::Berlin);
        let wrong = settings("CEST+2");
        assert!(
            wrong.problems().join("\n").contains("server.time_zone"),
            "{:?}",
            wrong.problems()
        );
        assert_eq!(ServerSettings::default().zone(), chrono_tz::UTC);
    }

    #[test]
    fn the_writers_are_one_to_sixteen_or_left_to_the_default() {
        let problems = |toml: &str| -> Vec<String> {
            Config::builder()
                .add_source(File::from_str(toml, FileFormat::Toml))
                .build()
                .unwrap()
                .try_deserialize::<Settings>()
                .unwrap()
                .problems()
        };
        assert!(problems("").is_empty());
        assert!(problems("[database]\nwriters = 2").is_empty());
        for wrong in ["0", "17"] {
            let p = problems(&format!("[database]\nwriters = {wrong}"));
            assert_eq!(
                p,
                vec![format!(
                    "database.writers must be 1..=16, got {wrong}; leave it unset for the default"
                )]
            );
        }
    }

    #[test]
    fn loopback_addresses() {
        let listens = |addr: &str| {
            ServerSettings {
                addr: addr.to_owned(),
                ..ServerSettings::default()
            }
            .loopback_only()
        };
        assert!(listens("127.0.0.1:8080") && listens("[::1]:80"));
        assert!(!listens("0.0.0.0:8080") && !listens("192.168.1.5:80"));
    }

    #[test]
    fn telegram_urls_are_checked() {
        assert_eq!(telegram(""), Vec::<String>::new());
        let p = telegram("webhook_url = \"http://rateline.example/hook\"").join("\n");
        assert!(p.contains("must be an https URL"), "{p}");
        let p = telegram("api_url = \"http://api.example\"").join("\n");
        assert!(p.contains("plain http"), "{p}");
        // A local Bot API server is fine over http, once its network is allowed.
        let p = telegram("api_url = \"http://127.0.0.1:8081\"").join("\n");
        assert!(
            p.contains("telegram.api_url") && p.contains("refused by policy"),
            "{p}"
        );
        assert_eq!(
            telegram(
                "api_url = \"http://127.0.0.1:8081\"\n[outbound]\nallowed_networks = [\"127.0.0.0/8\"]"
            ),
            Vec::<String>::new()
        );
        let p = telegram("mode = \"polling\"\nwebhook_url = \"https://r.example/hook\"").join("\n");
        assert!(p.contains("choose one"), "{p}");
        let p = telegram("max_per_second = 31").join("\n");
        assert!(p.contains("1..=30"), "{p}");
    }
}
