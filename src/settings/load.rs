//! The whole of a deployment's settings: loaded from the defaults, a TOML file, the
//! environment and `…_FILE` variables, and checked section by section.

use std::path::Path;

use config::{Config, Environment, File, FileFormat};
use serde::{Deserialize, Serialize};

use super::outbound::{AlertSettings, OutboundSettings, SmtpSettings};
use super::platforms::{MetaSettings, TelegramSettings, WebchatSettings};
use super::scheduler::SchedulerSettings;
use super::server::{
    DashboardSettings, DatabaseSettings, LimitSettings, LogSettings, RetentionSettings,
    ServerSettings,
};

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
    /// Where the server listens and how it treats connections (`[server]`).
    #[serde(default)]
    pub server: ServerSettings,
    /// Which database holds everything, and how it is reached (`[database]`).
    #[serde(default)]
    pub database: DatabaseSettings,
    /// How the queue of requests, alerts and events is claimed, sent and retried (`[scheduler]`).
    #[serde(default)]
    pub scheduler: SchedulerSettings,
    /// What is logged, and how (`[log]`).
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
    /// The Rocket.Chat servers whose Omnichannel chats are rated (`[[rocketchat]]`,
    /// docs/channels/rocketchat.md): `server` and the fields of
    /// `PUT /v1/connectors/rocketchat/{server}`.
    #[serde(default)]
    pub rocketchat: Vec<serde_json::Value>,
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
        problems.extend(self.alerts.problems());
        problems.extend(self.server.problems());
        problems.extend(self.database.problems());
        problems.extend(self.scheduler.problems());
        if let Some(t) = &self.telegram {
            problems.append(&mut t.problems());
        }
        if let Some(m) = &self.meta {
            problems.append(&mut m.problems());
        }
        if let Some(smtp) = &self.smtp {
            problems.extend(smtp.problems());
        }
        problems.extend(self.webchat.problems());
        problems.extend(self.retention.problems());
        problems.extend(self.dashboard.problems());
        if let Err(mut p) = self.configured_lines() {
            problems.append(&mut p);
        }
        if let Err(mut p) = self.configured_helpdesks() {
            problems.append(&mut p);
        }
        if let Err(mut p) = self.configured_people() {
            problems.append(&mut p);
        }
        problems
    }
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

    /// The problems of the settings a TOML file holds.
    fn problems(toml: &str) -> Vec<String> {
        Config::builder()
            .add_source(File::from_str(toml, FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize::<Settings>()
            .unwrap()
            .problems()
    }

    #[test]
    fn the_writers_are_one_to_sixteen_or_left_to_the_default() {
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
    fn a_postgresql_pool_leaves_connections_beside_the_writers() {
        let pg = |host: &str, rest: &str| {
            problems(&format!(
                "[database]\nurl = \"postgres://rateline@{host}/rateline\"\n{rest}"
            ))
        };
        assert!(pg("127.0.0.1", "max_connections = 3").is_empty());
        assert_eq!(
            pg("db.example.com", "max_connections = 4"),
            vec![
                "database.max_connections (4) must be more than database.writers (4): each busy \
                 writer keeps a connection and every read needs one of the rest; raise \
                 max_connections"
                    .to_owned()
            ]
        );
        assert_eq!(pg("127.0.0.1", "writers = 16").len(), 1);
        // SQLite's pool is not this setting's.
        assert!(problems("[database]\nmax_connections = 1").is_empty());
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
