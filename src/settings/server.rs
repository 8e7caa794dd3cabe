//! The server's own sections: `[server]`, `[database]`, `[limits]`, `[log]`, `[dashboard]`
//! and `[retention]`.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// How long conversations are kept.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// Purge sessions closed more than this many days ago, with their requests, ratings and
    /// follow-ups, keeping their counts in the report (121..=36500); unset keeps everything.
    pub days: Option<u32>,
}

impl RetentionSettings {
    /// What is wrong with `[retention]`, as sentences.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(days) = self.days
            && !(MIN_RETENTION_DAYS..=36_500).contains(&days)
        {
            problems.push(format!(
                "retention.days must be {MIN_RETENTION_DAYS}..=36500 (past the longest answer \
                 window and grace period), or unset to keep everything; got {days}"
            ));
        }
        problems
    }
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

impl DashboardSettings {
    /// What is wrong with `[dashboard]`, as sentences.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(1..=43_200).contains(&self.sign_in_idle_minutes) {
            problems.push(format!(
                "dashboard.sign_in_idle_minutes must be 1..=43200 (a month), got {}",
                self.sign_in_idle_minutes
            ));
        }
        problems
    }
}

impl Default for DashboardSettings {
    fn default() -> Self {
        // A working day's pause (lunch, a meeting) does not sign anyone out; a night does.
        Self {
            sign_in_idle_minutes: 8 * 60,
        }
    }
}

/// Calls per minute and bursts: per client address on the public endpoints (platform
/// webhooks, the widget), per API key on `/v1`. 0 switches a limit off.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Calls a minute from one client address to the public endpoints (platform webhooks, the
    /// widget).
    pub public_per_minute: u32,
    /// How many public calls from one address are taken at once before the rate applies.
    pub public_burst: u32,
    /// Calls a minute with one API key to `/v1`.
    pub key_per_minute: u32,
    /// How many calls with one key are taken at once before the rate applies.
    pub key_burst: u32,
    /// Refused credentials (wrong API keys, wrong sign-ins) per client address: past the
    /// burst, the address gets `429` without its credential being looked up.
    pub failed_auth_per_minute: u32,
    /// How many refused credentials from one address are taken at once before the rate applies.
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

/// Where the server listens, where it is reached, and how it treats connections (`[server]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// The address and port to listen on, e.g. `127.0.0.1:8080` (port 0 picks a free one).
    /// Listening beyond this machine needs an API key or a password to exist first: the open mode
    /// stays on loopback.
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
    /// What is wrong with `[server]`, as sentences.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.addr.parse::<SocketAddr>().is_err() {
            problems.push(format!(
                "server.addr {:?} is not an address such as 127.0.0.1:8080",
                self.addr
            ));
        }
        if let Some(u) = &self.public_url
            && reqwest::Url::parse(u).is_err()
        {
            problems.push(format!("server.public_url {u:?} is not a URL"));
        }
        if let Err(e) = self.trusted_proxies() {
            problems.push(e);
        }
        if let Some(zone) = &self.time_zone
            && let Err(e) = rateline_domain::time_zone("server.time_zone", zone)
        {
            problems.push(e.to_string());
        }
        let sv = self;
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
        problems
    }

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

/// The database Rateline keeps everything in (`[database]`).
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

impl DatabaseSettings {
    /// What is wrong with `[database]`, as sentences.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(w) = self.writers
            && !(1..=16).contains(&w)
        {
            problems.push(format!(
                "database.writers must be 1..=16, got {w}; leave it unset for the default"
            ));
        }
        let url = &self.url;
        let postgres = url.starts_with("postgres:") || url.starts_with("postgresql:");
        let writers = self
            .writers
            .unwrap_or_else(|| crate::store::default_writers(url));
        if postgres && self.max_connections as usize <= writers {
            problems.push(format!(
                "database.max_connections ({}) must be more than database.writers ({writers}): \
                 each busy writer keeps a connection and every read needs one of the rest; \
                 raise max_connections",
                self.max_connections
            ));
        }
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres:")
            || url.starts_with("postgresql:"))
        {
            problems.push("database.url must start with sqlite:// or postgres://".into());
        }
        problems
    }
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

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event, coloured on a terminal.
    #[default]
    Text,
    /// One JSON object per line, its fields flattened, for a log collector.
    Json,
}

/// What is logged, and how (`[log]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// Readable text (the default) or JSON lines.
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
