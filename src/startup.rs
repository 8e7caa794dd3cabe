//! Building and running the server: the store, the HTTP API and the scheduler in one process.
//!
//! [`Application::build`] binds its own listener, so tests start it on port 0 and read the
//! port back; [`Application::run_until_stopped`] serves until the token is cancelled, then
//! stops taking requests, lets the scheduler finish the sends in flight, and returns.

use std::net::SocketAddr;
use std::sync::Arc;

use rateline_adapters::ChannelAdapter;
use rateline_adapters::outbound::Policy;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::alerts::AlertSinks;
use crate::channels::chatwoot::Chatwoot;
use crate::channels::meta::Meta;
use crate::channels::rocketchat::RocketChat;
use crate::channels::telegram::Telegram;
use crate::channels::webhook::WebhookAdapter;
use crate::channels::zammad::Zammad;
use crate::clock::{Clock, SystemClock};
use crate::engine::{Engine, EngineSettings, Wake};
use crate::http::{AppParts, AppState, router};
use crate::metrics::Metrics;
use crate::scheduler::{Adapters, Scheduler};
use crate::settings::{Settings, TelegramMode};
use crate::store::{Backend, Store, StoreError, redact_url};

/// Why the server could not start; each says what to put right.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The settings are wrong or unsafe: every problem found, each naming its setting.
    #[error("the configuration has problems:\n  - {}", .0.join("\n  - "))]
    Config(Vec<String>),
    /// A command other than `serve` and `migrate` found no SQLite file where the settings point.
    #[error(
        "there is no database at {0}: `rateline migrate` (or `rateline serve`) creates it; \
         or set database.url (RATELINE__DATABASE__URL) to the one you meant"
    )]
    NoDatabase(String),
    /// The database could not be opened or migrated.
    #[error("cannot open the database at {url}: {source}")]
    Database {
        /// The database's URL, its password left out.
        url: String,
        /// What the store said.
        #[source]
        source: StoreError,
    },
    /// A platform refused the server's credentials at the start (Telegram's bot token).
    #[error("{0}")]
    Channel(String),
    /// The server cannot listen where `server.addr` says.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why the system refused it: in use, or not allowed.
        #[source]
        source: std::io::Error,
    },
}

/// The name the alert webhooks' signing key is kept under when none is configured.
const ALERT_KEY_NAME: &str = "alert_webhook";

/// A built server, bound and migrated, not yet serving.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
    /// Kept to close its connections once everything else has stopped.
    store: Store,
    scheduler: Scheduler,
    /// How often the helpdesks are caught up.
    catch_up_every: std::time::Duration,
    body_limit: usize,
    request_timeout: std::time::Duration,
    connections: crate::http::ConnectionLimits,
}

/// Whether opening a store may create it: only `serve` and `migrate` make a new SQLite
/// file; the other commands refuse one that is missing rather than report on an empty
/// database made by mistake in the wrong folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Make a new SQLite file where there is none (`serve`, `migrate`).
    Yes,
    /// Refuse a missing SQLite file (every other command).
    No,
}

/// Opens the store named by the settings and applies its migrations.
pub async fn open_store(settings: &Settings, create: Create) -> Result<Store, StartupError> {
    if create == Create::No
        && let Some(path) = crate::store::sqlite_file(&settings.database.url)
        && !path.exists()
    {
        return Err(StartupError::NoDatabase(path.display().to_string()));
    }
    let db_error = database_error(settings);
    let db = &settings.database;
    let store = Store::connect_with(&db.url, db.max_connections, db.writers)
        .await
        .map_err(&db_error)?;
    store.migrate().await.map_err(&db_error)?;
    tracing::info!(database = %redact_url(&settings.database.url), "database ready, migrations applied");
    Ok(store)
}

/// A store error while starting, with the database named (its password left out).
fn database_error(settings: &Settings) -> impl Fn(StoreError) -> StartupError + '_ {
    |source| StartupError::Database {
        url: redact_url(&settings.database.url),
        source,
    }
}

/// Refuses to listen beyond this machine while no credential exists: without one anyone who
/// can connect may read and change everything. Warns when a public URL suggests a proxy.
async fn refuse_open_to_all(settings: &Settings, store: &Store) -> Result<(), StartupError> {
    let keys = store
        .keys()
        .any_credential()
        .await
        .map_err(database_error(settings))?;
    if !keys && !settings.server.loopback_only() {
        return Err(StartupError::Config(vec![format!(
            "server.addr {} is not a loopback address and no API key or password exists, so \
             anyone who can reach it could read and change every rating: create a key first \
             (`rateline keys create --name admin --role admin`), or listen on 127.0.0.1",
            settings.server.addr
        )]));
    }
    if !keys
        && let Some(public) = &settings.server.public_url
        && reqwest::Url::parse(public)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .is_some_and(|h| !matches!(h.as_str(), "localhost" | "127.0.0.1" | "[::1]"))
    {
        tracing::warn!(
            public_url = %public,
            "no API key exists, yet server.public_url is reachable from elsewhere: a proxy in \
             front of this server makes the API open to all; create a key with `rateline keys create`"
        );
    }
    Ok(())
}

/// The listener on `server.addr`, and the address it got (port 0 picks one).
async fn bind(settings: &Settings) -> Result<(TcpListener, SocketAddr), StartupError> {
    let bind_error = |source| StartupError::Bind {
        addr: settings.server.addr.clone(),
        source,
    };
    let listener = TcpListener::bind(&settings.server.addr)
        .await
        .map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    Ok((listener, addr))
}

/// Applies the file's people, lines and helpdesks to the store; the helpdesks, to name them
/// in the log.
async fn apply_the_file(
    settings: &Settings,
    engine: &Engine,
) -> Result<crate::settings::ConfiguredHelpdesks, StartupError> {
    let lines = settings.configured_lines().map_err(StartupError::Config)?;
    let people = settings.configured_people().map_err(StartupError::Config)?;
    let helpdesks = settings
        .configured_helpdesks()
        .map_err(StartupError::Config)?;
    let applied = async {
        engine.apply_configured(&people, &lines).await?;
        engine.apply_configured_helpdesks(&helpdesks).await
    };
    applied.await.map_err(|e| match e {
        crate::engine::EngineError::Store(source) => database_error(settings)(source),
        other => StartupError::Config(vec![other.to_string()]),
    })?;
    Ok(helpdesks)
}

/// The platforms' channels the settings turn on (Telegram, Meta's), added to `adapters`.
async fn platforms(
    settings: &Settings,
    engine: &Engine,
    policy: &Policy,
    mut adapters: Adapters,
    timeout: std::time::Duration,
) -> Result<(Adapters, Option<Arc<Telegram>>, Option<Arc<Meta>>), StartupError> {
    let telegram = match &settings.telegram {
        Some(t) => {
            let telegram = Telegram::new(t, timeout, engine.clone(), policy);
            let bot = telegram
                .check_token()
                .await
                .map_err(StartupError::Channel)?;
            tracing::info!(
                bot = bot.as_deref().unwrap_or("(not checked)"),
                mode = ?telegram.mode(),
                "telegram channel enabled"
            );
            telegram.register_webhook().await;
            adapters = adapters.with(telegram.adapter());
            Some(Arc::new(telegram))
        }
        None => None,
    };
    let mut meta = None;
    if let Some(m) = &settings.meta {
        let channels = Meta::new(m, timeout, engine.clone(), policy);
        for adapter in channels.adapters() {
            tracing::info!(channel = %adapter.channel(), "meta channel enabled");
            adapters = adapters.with(adapter);
        }
        meta = Some(Arc::new(channels));
    }
    Ok((adapters, telegram, meta))
}

/// Where alerts leave: e-mail when `smtp` is set, and webhooks signed with
/// `alerts.webhook_secret` or a key the store keeps.
async fn alert_sinks(
    settings: &Settings,
    engine: &Engine,
    policy: &Policy,
    public_url: &str,
    timeout: std::time::Duration,
) -> Result<Arc<AlertSinks>, StartupError> {
    let alert_secret = match &settings.alerts.webhook_secret {
        Some(s) => s.clone(),
        None => engine
            .server_key(ALERT_KEY_NAME, &hex::encode(rand::random::<[u8; 32]>()))
            .await
            .map_err(database_error(settings))?,
    };
    let sinks = AlertSinks::new(
        settings.smtp.as_ref(),
        policy,
        rateline_domain::Secret(alert_secret),
        public_url,
        timeout,
    )
    .map_err(|e| StartupError::Config(vec![e.to_string()]))?;
    Ok(Arc::new(sinks))
}

/// The Chatwoot, Zammad and Rocket.Chat channels.
type HelpdeskChannels = (Arc<Chatwoot>, Arc<Zammad>, Arc<RocketChat>);

/// The helpdesks' channels, which always run: their helpdesks are connected and
/// changed while the server runs (the file's, the API's, the Helpdesks page's). Their
/// adapters join `adapters`.
async fn helpdesks(
    settings: &Settings,
    engine: &Engine,
    policy: &Policy,
    from_file: &crate::settings::ConfiguredHelpdesks,
    (public_url, timeout): (&str, std::time::Duration),
    adapters: Adapters,
) -> Result<(Adapters, HelpdeskChannels), StartupError> {
    let key = engine
        .server_key(
            crate::channels::chatwoot::CALLBACK_KEY_NAME,
            &hex::encode(rand::random::<[u8; 32]>()),
        )
        .await
        .map_err(database_error(settings))?;
    let chatwoot = Arc::new(Chatwoot::new(
        timeout,
        engine.clone(),
        policy,
        rateline_adapters::signed::CallbackSigner::new(&key),
        public_url,
    ));
    let zammad = Arc::new(Zammad::new(timeout, engine.clone(), policy, public_url));
    let rocketchat = Arc::new(RocketChat::new(timeout, engine.clone(), policy, public_url));
    for (id, c) in &from_file.chatwoot {
        tracing::info!(account = %id, url = %redact_url(&c.url), "chatwoot account connected from the config file");
    }
    for (id, z) in &from_file.zammad {
        tracing::info!(instance = %id, url = %redact_url(&z.url), "zammad instance connected from the config file");
    }
    for (id, r) in &from_file.rocketchat {
        tracing::info!(server = %id, url = %redact_url(&r.url), "rocket.chat server connected from the config file");
    }
    let adapters = adapters
        .with(chatwoot.adapter())
        .with(zammad.adapter())
        .with(rocketchat.adapter());
    Ok((adapters, (chatwoot, zammad, rocketchat)))
}

/// Says where Rateline listens and stores, and where its pages are.
fn announce(settings: &Settings, store: &Store, addr: SocketAddr, public_url: &str) {
    let backend = match store.backend() {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    tracing::info!(
        "Rateline {} listening on http://{addr}, storing in {backend} at {}",
        env!("CARGO_PKG_VERSION"),
        redact_url(&settings.database.url)
    );
    let base = public_url.trim_end_matches('/');
    tracing::info!(
        "dashboard {base}/dashboard · API {base}/v1 · its description {base}/openapi.json"
    );
}

impl Application {
    /// Builds the server from `settings` on the wall clock: checks the settings, opens and migrates
    /// the store, binds, and sets up the channels, the sinks and the scheduler.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// [`Application::build`] on `clock`, which the engine and the scheduler go by (tests pass a
    /// [`crate::clock::ManualClock`]).
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        let problems = settings.problems();
        if !problems.is_empty() {
            return Err(StartupError::Config(problems));
        }
        let engine_settings =
            EngineSettings::of(&settings).map_err(|e| StartupError::Config(vec![e]))?;
        let policy = engine_settings.policy.clone();
        let store = open_store(&settings, Create::Yes).await?;
        refuse_open_to_all(&settings, &store).await?;
        let (listener, addr) = bind(&settings).await?;

        let connections = connection_limits(&settings)?;
        let metrics = Arc::new(Metrics::default());
        let wake = Arc::new(Wake::default());
        let engine = Engine::new(
            store.clone(),
            clock.clone(),
            wake.clone(),
            metrics.clone(),
            engine_settings,
        );
        let from_file = apply_the_file(&settings, &engine).await?;

        let timeout = settings.scheduler.send_timeout();
        let adapters = Adapters::default().with(Arc::new(WebhookAdapter::new(&policy, timeout)));
        let (adapters, telegram, meta) =
            platforms(&settings, &engine, &policy, adapters, timeout).await?;
        let public_url = settings
            .server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let sinks = alert_sinks(&settings, &engine, &policy, &public_url, timeout).await?;
        let (adapters, (chatwoot, zammad, rocketchat)) = helpdesks(
            &settings,
            &engine,
            &policy,
            &from_file,
            (&public_url, timeout),
            adapters,
        )
        .await?;
        let bot = telegram
            .as_ref()
            .map(|t| t.adapter() as Arc<dyn rateline_adapters::ChannelAdapter>);
        engine.set_alert_sinks(sinks.clone(), bot);
        if let Some(smtp) = &settings.smtp {
            tracing::info!(smtp = %crate::store::redact_url(&smtp.url), "e-mail alerts enabled");
        }
        let webchat =
            crate::channels::webchat::Webchat::new(engine.clone(), &settings.webchat, &public_url)
                .await
                .map_err(database_error(&settings))?;
        let scheduler = Scheduler::new(
            engine.clone(),
            store.clone(),
            clock,
            wake,
            metrics.clone(),
            adapters,
            sinks,
            crate::events::EventPoster::new(&policy, timeout),
            settings.scheduler.clone(),
            format!("{}/v1/ratings", public_url.trim_end_matches('/')),
        )
        .keeping(settings.retention.days);
        announce(&settings, &store, addr, &public_url);
        Ok(Self {
            listener,
            addr,
            state: AppState::new(AppParts {
                engine,
                metrics,
                telegram,
                meta,
                chatwoot,
                zammad,
                rocketchat,
                webchat: Arc::new(webchat),
                open_mode: Arc::default(),
                limits: Arc::new(crate::http::Limits::new(&settings.limits)),
                sign_in_idle_minutes: settings.dashboard.sign_in_idle_minutes,
                time_zone: settings.server.zone(),
            }),
            store,
            scheduler,
            catch_up_every: std::time::Duration::from_secs(
                settings.scheduler.helpdesk_catch_up_seconds,
            ),
            body_limit: settings.server.body_limit_bytes,
            request_timeout: std::time::Duration::from_secs(
                settings.server.request_timeout_seconds,
            ),
            connections,
        })
    }

    /// The port listened on: the one `server.addr` names, or the one the system picked for port 0.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address listened on, with the port the system picked for port 0.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `stop` is cancelled; then drains requests and sends in flight.
    pub async fn run_until_stopped(self, stop: CancellationToken) -> std::io::Result<()> {
        let store = self.store;
        let telegram = self.state.telegram.clone();
        let webchat = self.state.webchat.clone();
        let metrics = self.state.metrics.clone();
        let (chatwoot, zammad, rocketchat) = (
            self.state.chatwoot.clone(),
            self.state.zammad.clone(),
            self.state.rocketchat.clone(),
        );
        let pages = crate::dashboard::router(&self.state);
        let app = router(self.state, pages, self.body_limit, self.request_timeout);
        let scheduler = tokio::spawn(self.scheduler.run(stop.clone()));
        let catch_up = tokio::spawn(crate::channels::catch_up::run(
            chatwoot,
            zammad,
            rocketchat,
            self.catch_up_every,
            stop.clone(),
        ));
        let poller = telegram
            .filter(|t| t.mode() == TelegramMode::Polling)
            .map(|t| tokio::spawn(t.poll(stop.clone())));
        // Live widget connections never end by themselves: end them at the stop, or the
        // graceful shutdown would wait for them forever.
        let stopping = stop.clone();
        tokio::spawn(async move {
            stopping.cancelled().await;
            webchat.close_connections();
        });
        let served =
            crate::http::serve(self.listener, app, self.connections, metrics, stop.clone()).await;
        stop.cancel();
        if let Err(e) = scheduler.await {
            tracing::error!(error = %e, "the scheduler task failed");
        }
        if let Err(e) = catch_up.await {
            tracing::error!(error = %e, "the helpdesks' catch-up task failed");
        }
        if let Some(Err(e)) = match poller {
            Some(p) => Some(p.await),
            None => None,
        } {
            tracing::error!(error = %e, "the telegram poller failed");
        }
        store.close().await;
        tracing::info!("stopped");
        served
    }
}

/// The connection limits the settings describe, the total fitted to the open-file limit
/// (raised first to the most the system allows this process).
fn connection_limits(settings: &Settings) -> Result<crate::http::ConnectionLimits, StartupError> {
    let s = &settings.server;
    let file_limit = rlimit::increase_nofile_limit(u64::MAX).ok();
    // The database pool, the sends in flight, SQLite's files, logs: a margin over them.
    let reserved =
        settings.database.max_connections as usize + settings.scheduler.concurrency as usize + 64;
    let (max_connections, lowered) =
        crate::http::fit_to_file_limit(s.max_connections, file_limit, reserved);
    if let Some(why) = lowered {
        tracing::warn!("{why}");
    }
    let (max_per_address, lowered) =
        crate::http::fit_per_address(s.max_connections_per_address, max_connections);
    if let Some(why) = lowered {
        tracing::warn!("{why}");
    }
    Ok(crate::http::ConnectionLimits {
        max_connections,
        max_per_address,
        header_timeout: std::time::Duration::from_secs(s.header_timeout_seconds),
        keep_alive: std::time::Duration::from_secs(s.keep_alive_seconds),
        trusted_proxies: s
            .trusted_proxies()
            .map_err(|e| StartupError::Config(vec![e]))?
            .into(),
    })
}

/// Cancels `stop` on SIGTERM or Ctrl-C.
pub fn stop_on_signals(stop: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            _ = term => {}
        }
        tracing::info!("stop signal received: no new work; finishing what is in flight");
        stop.cancel();
    });
}
