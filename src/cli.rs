//! The command line: `rateline serve | migrate | check-config | stats | keys | demo`
//! (`stats` prints the report).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use rateline_domain::Channel;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::http::parse_time;
use crate::settings::{LogFormat, Settings};
use crate::startup::{Application, Create, open_store, stop_on_signals};
use crate::store::{Grouping, ReportFilter};

#[derive(Parser)]
#[command(
    name = "rateline",
    version,
    about = "Service-quality ratings for closed chats"
)]
struct Cli {
    /// Log as JSON lines instead of text.
    #[arg(long, global = true)]
    json_logs: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// HTTP API, scheduler and channel adapters in one process.
    Serve(ConfigArg),
    /// Apply the configured database's migrations and exit.
    Migrate(ConfigArg),
    /// Validate the configuration and name each problem; exit 1 on errors.
    CheckConfig(ConfigArg),
    /// Print the report from the database.
    Stats(StatsArgs),
    /// A self-contained end-to-end run on a temporary SQLite database.
    Demo(crate::demo::DemoArgs),
    /// API keys: create (shown once), list, revoke.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// People: invite one to sign in to the dashboard.
    #[command(subcommand)]
    People(PeopleCommand),
    /// Helpdesks: set up a connected Chatwoot account's, Zammad instance's or Rocket.Chat
    /// server's side.
    #[command(subcommand)]
    Helpdesks(HelpdesksCommand),
}

#[derive(Subcommand)]
enum HelpdesksCommand {
    /// Make the helpdesk's webhook (and Zammad's triggers) with the helpdesk's API token,
    /// as the Helpdesks page's "Set up" does, and print what was made (Rocket.Chat: the
    /// check, with the steps left to an administrator). The server's `public_url` is where
    /// the webhook points.
    SetUp {
        #[command(flatten)]
        config: ConfigArg,
        /// `chatwoot`, `zammad` or `rocketchat`.
        #[arg(value_parser = ["chatwoot", "zammad", "rocketchat"])]
        helpdesk: String,
        /// The Chatwoot account's id, or the Zammad instance's or Rocket.Chat server's name,
        /// as connected.
        id: String,
    },
}

#[derive(Subcommand)]
enum PeopleCommand {
    /// Print an invitation link with which the person sets their dashboard password (also
    /// how a forgotten one is reset). Their earlier unused links stop working.
    Invite {
        #[command(flatten)]
        config: ConfigArg,
        /// The person's id, as in PUT /v1/people/{id}.
        id: String,
        /// How long the link works, in hours (1 to 720).
        #[arg(long, default_value_t = crate::engine::INVITATION_HOURS,
              value_parser = clap::value_parser!(i64).range(1..=720))]
        hours: i64,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Make a key and print it once; only its hash is stored.
    Create(KeyCreateArgs),
    /// Every key, revoked ones included (never the secrets).
    List(ConfigArg),
    /// Revoke a key at once; calls with it get 401 `key_revoked`.
    Revoke {
        #[command(flatten)]
        config: ConfigArg,
        /// The key's id (the part after `rl_`, as `keys list` shows it).
        id: String,
    },
}

#[derive(Args)]
struct KeyCreateArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Who or what holds the key, e.g. "contact center integration".
    #[arg(long)]
    name: String,
    #[arg(long, value_parser = role_arg())]
    role: rateline_domain::Role,
    /// The operator an operator key acts as (a person id); required for operators.
    #[arg(long, value_parser = id_arg)]
    person: Option<String>,
    /// The lines a supervisor key covers, comma-separated (at most 100); all lines when
    /// absent.
    #[arg(long, value_delimiter = ',', value_parser = id_arg)]
    lines: Option<Vec<String>>,
}

#[derive(Args)]
struct ConfigArg {
    /// A TOML settings file; `RATELINE__SECTION__KEY` variables override it.
    #[arg(long, short, env = "RATELINE_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Args)]
struct StatsArgs {
    #[command(flatten)]
    config: ConfigArg,
    #[arg(long, value_parser = id_arg)]
    line: Option<String>,
    #[arg(long, value_parser = id_arg)]
    operator: Option<String>,
    #[arg(long)]
    channel: Option<Channel>,
    /// Closes at or after this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long, value_parser = time_arg)]
    from: Option<chrono::DateTime<chrono::Utc>>,
    /// Closes before this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long, value_parser = time_arg)]
    to: Option<chrono::DateTime<chrono::Utc>>,
    /// Group by operator, line, channel, day or week.
    #[arg(long)]
    by: Option<Grouping>,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

/// `--role`: one of the roles, listed in `--help`.
fn role_arg() -> impl clap::builder::TypedValueParser<Value = rateline_domain::Role> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(rateline_domain::Role::ALL.map(|r| r.as_str()))
        .map(|s| s.parse().expect("a listed role parses"))
}

/// A line or operator id, by the rules the API holds them to.
fn id_arg(value: &str) -> Result<String, String> {
    let value = rateline_domain::normalize_id(value);
    rateline_domain::check_name_id("id", &value)
        .map(|()| value)
        .map_err(|e| e.to_string())
}

fn time_arg(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    parse_time(s).ok_or_else(|| {
        format!("{s:?} is not RFC 3339 (2026-11-21T09:00:00Z) or a date (2026-11-21)")
    })
}

/// Runs `rateline`: parses the arguments, runs the command, and prints the error and exits with 1
/// when it fails.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(config: &ConfigArg, json_logs: bool) -> anyhow::Result<Settings> {
    let settings = Settings::load(config.config.as_deref())?;
    let format = if json_logs {
        LogFormat::Json
    } else {
        settings.log.format
    };
    crate::telemetry::init(format, &settings.log.level);
    Ok(settings)
}

/// The engine on an existing store, for a command that reads or changes it (the store is
/// not created: see [`Create::No`]).
async fn open_engine(settings: &Settings) -> anyhow::Result<Engine> {
    let store = open_store(settings, Create::No).await?;
    Engine::for_command(store, settings).map_err(anyhow::Error::msg)
}

/// One piece: one match over the commands, each arm short.
async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(c) => {
            let settings = load(&c, cli.json_logs)?;
            let app = Application::build(settings).await?;
            let stop = CancellationToken::new();
            stop_on_signals(stop.clone());
            app.run_until_stopped(stop).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate(c) => {
            let settings = load(&c, cli.json_logs)?;
            let store = open_store(&settings, Create::Yes).await?;
            store.close().await;
            println!(
                "migrations applied to {}",
                crate::store::redact_url(&settings.database.url)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig(c) => check_config(&c, cli.json_logs).await,
        Command::Stats(s) => {
            let settings = load(&s.config, cli.json_logs)?;
            let engine = open_engine(&settings).await?;
            let filter = ReportFilter {
                line: s.line,
                operator: s.operator,
                channel: s.channel,
                from: s.from,
                to: s.to,
                reason: None,
                // Days and weeks as the dashboard counts them for people without a zone.
                zone: Some(settings.server.zone()),
            };
            let by = s.by.unwrap_or_default();
            let columns = crate::report::Columns::of(by, None);
            let groups = engine.report(&filter, by).await?;
            engine.close_store().await;
            match s.format {
                Format::Table => print!("{}", crate::report::table(&groups, columns)),
                Format::Csv => print!("{}", crate::report::csv(&groups, columns)),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "groups": groups }))?
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(k) => keys(k, cli.json_logs).await,
        Command::People(PeopleCommand::Invite { config, id, hours }) => {
            let settings = load(&config, cli.json_logs)?;
            let engine = open_engine(&settings).await?;
            let invited = match crate::engine::known_person(&id) {
                Ok(person) => {
                    let valid = chrono::Duration::hours(hours);
                    engine
                        .invite(&crate::policy::Caller::Open, &person, valid)
                        .await
                }
                Err(e) => Err(e),
            };
            engine.close_store().await;
            let invited = invited?;
            println!(
                "{}{}",
                settings.server.base_url(),
                crate::engine::invitation_path(&invited.token)
            );
            eprintln!(
                "give this link to {id} only: it sets their password once, until {}",
                invited
                    .expires_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Helpdesks(HelpdesksCommand::SetUp {
            config,
            helpdesk,
            id,
        }) => {
            let settings = load(&config, cli.json_logs)?;
            let engine = open_engine(&settings).await?;
            let report = set_up_helpdesk(&settings, &engine, &helpdesk, &id).await;
            engine.close_store().await;
            let report = report?;
            for (heading, items) in [
                ("made", &report.made),
                ("found", &report.found),
                ("warning", &report.warnings),
                ("problem", &report.problems),
            ] {
                for item in items {
                    println!("{heading}: {item}");
                }
            }
            Ok(if report.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Demo(args) => {
            crate::telemetry::init(
                if cli.json_logs {
                    LogFormat::Json
                } else {
                    LogFormat::Text
                },
                "warn",
            );
            crate::demo::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Sets up helpdesk `id` of kind `helpdesk` from the command line, as an admin would on the
/// page.
async fn set_up_helpdesk(
    settings: &Settings,
    engine: &Engine,
    helpdesk: &str,
    id: &str,
) -> anyhow::Result<crate::channels::helpdesk::setup::SetupReport> {
    let (policy, timeout, public_url) = (
        settings.outbound_policy().unwrap_or_default(),
        settings.scheduler.send_timeout(),
        settings.server.base_url(),
    );
    let caller = crate::policy::Caller::Open;
    let report = if helpdesk == "chatwoot" {
        let key = engine
            .server_key(
                crate::channels::chatwoot::CALLBACK_KEY_NAME,
                &hex::encode(rand::random::<[u8; 32]>()),
            )
            .await?;
        crate::channels::chatwoot::Chatwoot::new(
            timeout,
            engine.clone(),
            &policy,
            rateline_adapters::signed::CallbackSigner::new(&key),
            &public_url,
        )
        .set_up(&caller, id)
        .await
    } else if helpdesk == "rocketchat" {
        crate::channels::rocketchat::RocketChat::new(timeout, engine.clone(), &policy, &public_url)
            .set_up(&caller, id)
            .await
    } else {
        crate::channels::zammad::Zammad::new(timeout, engine.clone(), &policy, &public_url)
            .set_up(&caller, id)
            .await
    };
    Ok(report?)
}

/// One piece: the checks `check-config` runs, in the order it prints them.
async fn check_config(c: &ConfigArg, json_logs: bool) -> anyhow::Result<ExitCode> {
    let settings = match Settings::load(c.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            println!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let format = if json_logs {
        LogFormat::Json
    } else {
        settings.log.format
    };
    crate::telemetry::init(format, "warn");
    let mut problems = settings.problems();
    if problems.is_empty() {
        match open_engine(&settings).await {
            Ok(engine) => {
                if !settings.server.loopback_only() && !engine.any_credential().await? {
                    problems.push(format!(
                        "server.addr {} is not a loopback address and no API key or password \
                         exists: `serve` will refuse to start; create a key with `rateline keys \
                         create`",
                        settings.server.addr
                    ));
                }
                let lines = engine.lines().await?;
                println!(
                    "database: {} reachable and migrated, {} line(s)",
                    crate::store::redact_url(&settings.database.url),
                    lines.len()
                );
                // The file's lines as they will be once `serve` applies them, then the rest.
                let configured = settings.configured_lines().unwrap_or_default();
                let mut all: Vec<(rateline_domain::LineId, rateline_domain::LineSettings)> =
                    configured.into_iter().map(|l| (l.id, l.settings)).collect();
                for l in lines {
                    if !all.iter().any(|(id, _)| *id == l.id) {
                        all.push((l.id, l.settings));
                    }
                }
                for (id, line) in &all {
                    let reach = engine.alert_reach(id, line).await?;
                    if !line.notify_low.is_empty() && !reach.reaches_someone {
                        problems.push(format!(
                            "line '{id}' alerts on low ratings but reaches nobody: {}",
                            reach.problems.join("; ")
                        ));
                    } else {
                        for p in &reach.problems {
                            println!("warning: line '{id}': {p}");
                        }
                    }
                }
                // The helpdesks' APIs, called once each: tokens and mappings, for the file's
                // helpdesks as `serve` will have them and those connected over the API.
                let ids: Vec<String> = all.iter().map(|(id, _)| id.to_string()).collect();
                let (policy, timeout) = (
                    settings.outbound_policy().unwrap_or_default(),
                    settings.scheduler.send_timeout(),
                );
                let file = settings.configured_helpdesks().unwrap_or_default();
                let chatwoot = with_stored(file.chatwoot, engine.helpdesk_settings().await?);
                let zammad = with_stored(file.zammad, engine.helpdesk_settings().await?);
                let rocketchat = with_stored(file.rocketchat, engine.helpdesk_settings().await?);
                let checks = [
                    crate::channels::chatwoot::Chatwoot::check_accounts(
                        &chatwoot,
                        &policy,
                        timeout,
                        &ids,
                        &settings.server.base_url(),
                    )
                    .await,
                    crate::channels::zammad::Zammad::check_instances(
                        &zammad,
                        &policy,
                        timeout,
                        &ids,
                        &settings.server.base_url(),
                    )
                    .await,
                    crate::channels::rocketchat::RocketChat::check_servers(
                        &rocketchat,
                        &policy,
                        timeout,
                        &ids,
                        &settings.server.base_url(),
                    )
                    .await,
                ];
                for (found, mut refused) in checks {
                    found.iter().for_each(|f| println!("{f}"));
                    problems.append(&mut refused);
                }
                engine.close_store().await;
            }
            Err(e) => problems.push(e.to_string()),
        }
        if let Some(t) = &settings.telegram {
            let bot = crate::channels::telegram::bot(
                t,
                settings.scheduler.send_timeout(),
                &settings.outbound_policy().unwrap_or_default(),
            );
            match crate::channels::telegram::check_token(&bot).await {
                Ok(Some(bot)) => println!("telegram: the token belongs to @{bot}"),
                Ok(None) => {
                    println!("telegram: the Bot API could not be reached to check the token")
                }
                Err(e) => problems.push(e),
            }
        }
    }
    if problems.is_empty() {
        println!("configuration is valid");
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &problems {
            println!("error: {p}");
        }
        Ok(ExitCode::FAILURE)
    }
}

async fn keys(command: KeysCommand, json_logs: bool) -> anyhow::Result<ExitCode> {
    use rateline_domain::Role;
    let config = match &command {
        KeysCommand::Create(a) => &a.config,
        KeysCommand::List(c) => c,
        KeysCommand::Revoke { config, .. } => config,
    };
    let settings = load(config, json_logs)?;
    let engine = open_engine(&settings).await?;
    let code = match command {
        KeysCommand::Create(a) => {
            let asked = crate::engine::KeyRequest {
                name: a.name,
                role: a.role,
                person_id: a.person,
                lines: a.lines,
            };
            let minted = match engine.make_key(&crate::policy::Caller::Open, asked).await {
                Ok(m) => m,
                // The engine's field names, as this command's flags.
                Err(crate::engine::EngineError::Invalid(i)) => {
                    let flag = match i.field.as_str() {
                        "person_id" => "--person",
                        "lines" => "--lines",
                        _ => "--name",
                    };
                    anyhow::bail!("{flag} {}", i.message)
                }
                Err(e) => return Err(e.into()),
            };
            println!("{}", minted.text);
            eprintln!(
                "key '{}' created; it is shown only now: store it, then send it as \
                 `Authorization: Bearer <key>`",
                minted.key.record.id
            );
            ExitCode::SUCCESS
        }
        KeysCommand::List(_) => {
            let mut table = comfy_table::Table::new();
            table.set_header([
                "id", "name", "role", "person", "lines", "created", "revoked",
            ]);
            for k in engine.keys(&crate::policy::Caller::Open).await? {
                let time = |t: chrono::DateTime<chrono::Utc>| {
                    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                };
                table.add_row([
                    k.id,
                    k.name,
                    k.role.as_str().to_owned(),
                    k.person_id.map(String::from).unwrap_or_default(),
                    match (k.role, k.lines) {
                        (Role::Supervisor, None) => "all".into(),
                        (_, Some(l)) => l.join(","),
                        (_, None) => "-".into(),
                    },
                    time(k.created_at),
                    k.revoked_at.map(time).unwrap_or_default(),
                ]);
            }
            println!("{table}");
            ExitCode::SUCCESS
        }
        KeysCommand::Revoke { id, .. } => {
            match engine.revoke_key(&crate::policy::Caller::Open, &id).await {
                Ok(_) => {
                    println!("key '{id}' revoked");
                    ExitCode::SUCCESS
                }
                Err(crate::engine::EngineError::NotFound { .. }) => {
                    eprintln!("error: there is no key '{id}'; `rateline keys list` shows them");
                    ExitCode::FAILURE
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    engine.close_store().await;
    Ok(code)
}

/// The config file's helpdesks of one kind, then the stored ones it does not name (those
/// connected over the API; one the file dropped is deleted at the next start, so it is left
/// out).
fn with_stored<S>(
    mut file: Vec<(String, S)>,
    stored: Vec<crate::engine::HelpdeskRecord<S>>,
) -> Vec<(String, S)> {
    for c in stored {
        if c.managed_by == rateline_domain::ManagedBy::Api
            && !file.iter().any(|(id, _)| *id == c.id)
        {
            file.push((c.id, c.settings));
        }
    }
    file
}
