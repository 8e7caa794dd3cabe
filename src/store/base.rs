//! The store itself: its pools (the writer's and the readers'), which database is behind
//! it, the migrations, and the connection URL's handling. Every table family stands on it.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

use super::error::{Result, StoreError};
use super::gate::{Cached, Gate};
use super::rows::LineRecord;
use super::writer;

/// Writer tasks on a PostgreSQL on this machine and across a network (see the `writer`
/// module and [`default_writers`]); measured with examples/loadgen, docs/operations.md.
const LOCAL_WRITERS: usize = 2;
const REMOTE_WRITERS: usize = 4;

/// Read-only connections beside SQLite's one writer connection (see the module's docs).
/// Reads are short; four let a page's parallel queries and a few callers run at once.
const READERS: u32 = 4;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Which database sits behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (or memory): the embedded default.
    Sqlite,
    /// PostgreSQL: the production store, shared by several processes.
    Postgres,
}

impl Backend {
    /// The database behind a connection.
    pub(crate) fn of_connection(conn: &sqlx::AnyConnection) -> Self {
        if conn.backend_name() == "PostgreSQL" {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// The database behind Rateline.
#[derive(Debug, Clone)]
pub struct Store {
    pub(super) pool: AnyPool,
    /// Where reads go that need not see a transaction of their own: the reports and other
    /// read-only pages, and the reads around the writes (an open's line, an answer's
    /// request, the scheduler's looks). Read-only connections of their own on a SQLite file,
    /// so they neither wait for the writer's one connection nor hold it; `pool` itself
    /// otherwise.
    pub(super) reads: AnyPool,
    pub(super) backend: Backend,
    /// It may hold the password: never printed.
    pub(super) url: rateline_domain::Secret,
    /// Group commit for the writes every close makes (see [`writer`]).
    pub(super) writer: writer::Writer,
    /// Whether any event subscription is active, as last read (see the `outbox` module).
    pub(super) events: std::sync::Arc<Gate>,
    /// Whether any operator's digest is queued, as last read (see the `digests` module).
    pub(super) digests: std::sync::Arc<Gate>,
    /// Raised by every helpdesk write made here (see the `helpdesks` module).
    pub(super) helpdesks_changed: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The lines as opens last read them (see the `lines` module).
    pub(super) open_lines: std::sync::Arc<Cached<rateline_domain::LineId, LineRecord>>,
}

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`). A SQLite file is created when missing.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        Self::connect_with(url, max_connections, None).await
    }

    /// As [`Store::connect`], with `writers` writer tasks on PostgreSQL (`None`: as
    /// `default_writers` says for the URL). SQLite always has one.
    pub async fn connect_with(
        url: &str,
        max_connections: u32,
        writers: Option<usize>,
    ) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if url.starts_with("sqlite:") {
            (Backend::Sqlite, sqlite_url(url))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(StoreError::Corrupt(format!(
                "database.url must start with sqlite:// or postgres://, got {:?}",
                redact_url(url)
            )));
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    // A connection to a file in this process has no far end to lose.
                    .test_before_acquire(false)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            // WAL keeps readers off the writer's back; FULL makes every
                            // commit durable before the API answers 2xx.
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options.clone())
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(max_connections)
                    // A request waits at most this long for a connection, then gets a 503.
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options.clone())
                    .await?
            }
        };
        // The writer's connection has made the file and set WAL (which the file keeps), so
        // the readers only open it. An in-memory database is one per connection: it is read
        // where it is written.
        let reads = match backend {
            Backend::Sqlite if sqlite_file(&url).is_some() => AnyPoolOptions::new()
                .max_connections(READERS)
                .acquire_timeout(Duration::from_secs(10))
                .test_before_acquire(false)
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        // Mapped, the file's pages are read where the OS cache holds them
                        // rather than copied into each connection's small page cache: a
                        // count over the inbox's 300,000 low ratings reads each row.
                        conn.execute(
                            "PRAGMA query_only = ON; PRAGMA busy_timeout = 5000; \
                             PRAGMA mmap_size = 1073741824;",
                        )
                        .await?;
                        Ok(())
                    })
                })
                .connect_lazy_with(options),
            _ => pool.clone(),
        };
        // SQLite has one writer connection.
        let writers = match backend {
            Backend::Sqlite => 1,
            Backend::Postgres => writers.unwrap_or_else(|| default_writers(&url)),
        };
        // SQLite's writer pool is its one connection, which the writes outside the writer share.
        let writer = writer::Writer::start(pool.clone(), writers, backend == Backend::Postgres);
        Ok(Self {
            pool,
            reads,
            backend,
            url: rateline_domain::Secret(url),
            writer,
            events: Default::default(),
            digests: Default::default(),
            helpdesks_changed: Default::default(),
            open_lines: Default::default(),
        })
    }

    /// Applies the migrations of this backend that are not applied yet.
    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => StoreError::from(e),
            other => StoreError::Corrupt(format!("migrations failed: {other}")),
        })
    }

    /// Which database is behind the store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Writes handed to the writers and not yet answered, queued or in a batch being
    /// committed (see the `writer` module).
    pub fn unfinished_writes(&self) -> usize {
        self.writer.unfinished()
    }

    /// Batches of writes that failed as a whole and had each write run again alone, since
    /// the store was opened: a write the database refused (its own error), or a set
    /// statement that failed, which costs throughput but loses nothing.
    pub fn rerun_batches(&self) -> usize {
        self.writer.rerun()
    }

    /// Sets of two or more writes of one kind that ran as one statement each (see the
    /// `writer` module), since the store was opened.
    pub fn write_sets(&self) -> usize {
        self.writer.sets()
    }

    /// Whether the database answers now.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pools: waits for the connections in use, then closes every one.
    pub async fn close(&self) {
        self.reads.close().await;
        self.pool.close().await;
    }
}

/// The file a `sqlite:` URL names, or `None` for another database (or SQLite in memory).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.contains(":memory:")).then(|| std::path::PathBuf::from(path))
}

/// How many writers a PostgreSQL store gets unless `database.writers` says:
/// [`LOCAL_WRITERS`] when the server is on this machine (a Unix socket, `localhost`, a
/// loopback address), where a round trip costs little and fewer writers' larger batches
/// save PostgreSQL CPU (one writer saves the most but leaves the machine idle between its
/// round trips); [`REMOTE_WRITERS`] across a network, where each writer's batch runs its
/// statements one round trip at a time and several keep the server busy.
pub fn default_writers(url: &str) -> usize {
    let Ok(u) = reqwest::Url::parse(url) else {
        return REMOTE_WRITERS;
    };
    // libpq's `host` parameter overrides the URL's host; a path there is a socket directory.
    let host = u
        .query_pairs()
        .find(|(k, _)| k == "host")
        .map(|(_, v)| v.into_owned())
        .or_else(|| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let local = host.is_empty()
        || host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if local { LOCAL_WRITERS } else { REMOTE_WRITERS }
}

/// Adds `mode=rwc` so sqlx creates a missing SQLite file, as the contract promises.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// A URL fit for a log line or an error: a password is replaced wherever it sits, in the
/// user part (`postgres://app:pw@db/rateline`) or in the query (`?password=pw`, and any
/// parameter whose name holds "password", "secret" or "token").
pub fn redact_url(url: &str) -> String {
    let Ok(mut u) = reqwest::Url::parse(url) else {
        return "<unparseable url>".into();
    };
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let name = k.to_ascii_lowercase();
                let secret = ["password", "secret", "token"]
                    .iter()
                    .any(|s| name.contains(s));
                let v = if secret { "***".into() } else { v.into_owned() };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// Declares the store's doors: for each table family a page of operations
/// (`store.sessions().close(…)`), borrowed from the store, and its method on
/// [`Store`]. The operations are in the family's own module.
macro_rules! doors {
    ($($(#[$doc:meta])* $door:ident $method:ident;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub struct $door<'s>(pub(super) &'s Store);
        )*
        impl Store {
            $(
                $(#[$doc])*
                pub fn $method(&self) -> $door<'_> {
                    $door(self)
                }
            )*
        }
    };
}

doors! {
    /// The sessions: opened, closed, their messages.
    Sessions sessions;
    /// The rating requests: due, sent, expired.
    Requests requests;
    /// The answers: a rating, its changes, where an answer goes.
    Ratings ratings;
    /// The web chat widget's requests and its server key.
    WebChat webchat;
    /// The jobs queue: alerts, digests, helpdesk writes due to run.
    Jobs jobs;
    /// The event subscriptions and their deliveries.
    Events events;
    /// The reports: the quality report, its breakdown, the daily roll-up and the export.
    Reports reports;
    /// The low-rating alerts: sent, unanswered, to be delivered.
    Alerts alerts;
    /// The operators' digests and the weekly reports.
    Digests digests;
    /// The supervisors' inbox of low ratings and its handling.
    Inbox inbox;
    /// The follow-ups of a rating: responses, appeals, flags and evaluations.
    FollowUps follow_ups;
    /// The helpdesk accounts and what Rateline knows of their conversations.
    Helpdesks helpdesks;
    /// The people and groups, their sign-in and invitations.
    People people;
    /// The API keys and their scopes.
    Keys keys;
    /// The lines and their settings.
    Lines lines;
    /// The audit log of every change made through the API or the pages.
    AuditLog audit_log;
    /// What is kept and for how long: the retention purge and a client's erasure.
    Retention retention;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_create_the_file_unless_told_otherwise() {
        assert_eq!(
            sqlite_url("sqlite://rateline.db"),
            "sqlite://rateline.db?mode=rwc"
        );
        assert_eq!(sqlite_url("sqlite://x.db?mode=ro"), "sqlite://x.db?mode=ro");
    }

    #[test]
    fn a_postgresql_on_this_machine_gets_fewer_writers_than_one_across_a_network() {
        for local in [
            "postgres://rateline@localhost/rateline",
            "postgres://postgres@127.0.0.1:5432/postgres",
            "postgres://postgres@127.3.2.1/postgres",
            "postgres://postgres@[::1]:5432/postgres",
            "postgres://rateline@localhost/rateline?host=/var/run/postgresql",
            "postgresql:///rateline?host=/var/run/postgresql",
        ] {
            assert_eq!(default_writers(local), LOCAL_WRITERS, "{local}");
        }
        for remote in [
            "postgres://rateline:secret@db.internal:5432/rateline",
            "postgres://rateline@10.0.0.5/rateline",
            // libpq's host parameter wins over the URL's host.
            "postgres://rateline@localhost/rateline?host=db.internal",
        ] {
            assert_eq!(default_writers(remote), REMOTE_WRITERS, "{remote}");
        }
    }

    #[test]
    fn a_sqlite_url_names_its_file() {
        let file = |u| sqlite_file(u).map(|p| p.display().to_string());
        assert_eq!(file("sqlite://rateline.db").as_deref(), Some("rateline.db"));
        assert_eq!(
            file("sqlite:///var/lib/r.db?mode=rwc").as_deref(),
            Some("/var/lib/r.db")
        );
        assert_eq!(file("sqlite::memory:"), None);
        assert_eq!(file("postgres://db/x"), None);
    }

    #[test]
    fn passwords_never_reach_a_log_line() {
        let shown = redact_url("postgres://app:hunter2@db:5432/rateline");
        assert!(!shown.contains("hunter2"), "{shown}");
        let shown = redact_url(
            "postgres://app@db/rateline?sslmode=require&password=hunter2&PassWord=x%20y&sslpassword=z",
        );
        assert_eq!(
            shown,
            "postgres://app@db/rateline?sslmode=require&password=***&PassWord=***&sslpassword=***"
        );
    }
}
