//! The black-box test harness: the real server on port 0 against a fresh database (a SQLite
//! file in a temp dir, or a new PostgreSQL database), a manual clock, and a local connector
//! standing in for a contact center on the `webhook` channel.
//!
//! PostgreSQL is found at `RATELINE_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//! When it cannot be reached, PostgreSQL tests are skipped with a warning, except under CI
//! (`CI` set), where they fail.

pub use rateline_testkit::connector::{Connector, Received, Reply, SECRET};
pub use rateline_testkit::wait_until;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rateline::clock::ManualClock;
use rateline::settings::Settings;
use rateline::startup::Application;
use serde_json::{Value, json};
use sqlx::Connection;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Runs a scenario against SQLite and PostgreSQL, as `name::sqlite` and `name::postgres`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::common::Db::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::common::Db::Postgres).await
                }
            }
        )*
    };
}
pub(crate) use on_both_backends;

/// A helpdesk call's answer: taken (200), and not applied as older than one applied.
pub fn assert_stale((status, body): (u16, Value)) {
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["applied"], false, "{body}");
    assert!(
        body["ignored"]
            .as_str()
            .is_some_and(|why| why.contains("out of order")),
        "{body}"
    );
}

pub fn admin_pg_url() -> String {
    std::env::var("RATELINE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database for one test; the guard drops it (PostgreSQL) or its directory (SQLite).
pub struct TestDb {
    pub url: String,
    pub kind: Db,
    pub pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// `None` when PostgreSQL is wanted, unreachable, and this is not CI.
    pub async fn new(kind: Db) -> Option<Self> {
        match kind {
            Db::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("rateline.db").display());
                Some(Self {
                    url,
                    kind,
                    pg_name: None,
                    _dir: Some(dir),
                })
            }
            Db::Postgres => {
                let admin = admin_pg_url();
                let mut conn = match sqlx::PgConnection::connect(&admin).await {
                    Ok(c) => c,
                    Err(e) if std::env::var_os("CI").is_none() => {
                        eprintln!(
                            "warning: PostgreSQL at {admin} unreachable ({e}); skipping this PostgreSQL test"
                        );
                        return None;
                    }
                    Err(e) => panic!("PostgreSQL at {admin} is unreachable under CI: {e}"),
                };
                let name = format!("rateline_test_{}", uuid::Uuid::now_v7().simple());
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create the test database");
                let mut url = reqwest::Url::parse(&admin).expect("RATELINE_TEST_PG is a URL");
                url.set_path(&name);
                Some(Self {
                    url: url.to_string(),
                    kind,
                    pg_name: Some(name),
                    _dir: None,
                })
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Dropping needs a connection of its own; do it on a short-lived thread.
            let admin = admin_pg_url();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            )))
                            .execute(&mut c)
                            .await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

/// The moment every test's manual clock starts at.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap()
}

/// A running server with its clock, its connector and its database.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: ManualClock,
    pub connector: Connector,
    pub db: TestDb,
    /// The admin key the plain calls ([`TestApp::call`] and the helpers on it) send, once a
    /// test has ended the open mode and set one with [`TestApp::use_key`].
    key: std::sync::OnceLock<String>,
    stop: CancellationToken,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// A `[[chatwoot]]` or `[[zammad]]` entry of the config file: `settings` with the
/// helpdesk's `unit` (`account`, `instance`) set to `id`.
pub fn helpdesk_entry(
    unit: &str,
    id: impl Into<serde_json::Value>,
    settings: &impl serde::Serialize,
) -> serde_json::Value {
    let mut entry = serde_json::to_value(settings).expect("helpdesk settings serialise");
    entry[unit] = id.into();
    entry
}

/// Settings for a test server on `db`: port 0, fast retries.
pub fn test_settings(db: &TestDb) -> Settings {
    let mut s = Settings::load(None).expect("default settings");
    s.server.addr = "127.0.0.1:0".into();
    s.database.url = db.url.clone();
    s.database.max_connections = 5;
    s.scheduler.retry_min_millis = 1000;
    s.scheduler.retry_max_seconds = 60;
    // The local fakes (connector, Bot API, Graph API, alert webhooks) listen on loopback.
    s.outbound.allowed_networks = vec!["127.0.0.0/8".into()];
    s
}

/// `rateline ARGS…` against the app's database; its standard output, trimmed.
pub fn rateline(app: &TestApp, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rateline"))
        .args(args)
        .env("RATELINE__DATABASE__URL", &app.db.url)
        .env_remove("RUST_LOG")
        .output()
        .expect("rateline runs");
    assert!(
        out.status.success(),
        "rateline {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `rateline keys create ARGS`; the key it printed.
pub fn create_key(app: &TestApp, args: &[&str]) -> String {
    let mut all = vec!["keys", "create"];
    all.extend_from_slice(args);
    rateline(app, &all)
}

pub async fn spawn_app(kind: Db) -> Option<TestApp> {
    spawn_app_with(kind, |_| {}).await
}

pub async fn spawn_app_with(kind: Db, tweak: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    let db = TestDb::new(kind).await?;
    let mut settings = test_settings(&db);
    tweak(&mut settings);
    let clock = ManualClock::new(start_time());
    let connector = Connector::start().await;
    Some(TestApp::start(db, settings, clock, connector).await)
}

impl TestApp {
    pub async fn start(
        db: TestDb,
        settings: Settings,
        clock: ManualClock,
        connector: Connector,
    ) -> Self {
        let app = Application::build_with_clock(settings, Arc::new(clock.clone()))
            .await
            .expect("the application builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let stop = CancellationToken::new();
        let server = tokio::spawn(app.run_until_stopped(stop.clone()));
        TestApp {
            base,
            http: reqwest::Client::new(),
            clock,
            connector,
            db,
            key: std::sync::OnceLock::new(),
            stop,
            server: Some(server),
        }
    }

    /// From now on the plain calls send `key`: for a test whose first key or password ended
    /// the open mode while it goes on using the helpers.
    pub fn use_key(&self, key: &str) {
        self.key.set(key.to_owned()).expect("one key per test app");
    }

    /// Stops the server gracefully and hands back what a restart needs.
    pub async fn stop(mut self) -> (TestDb, ManualClock, Connector) {
        self.stop.cancel();
        if let Some(s) = self.server.take() {
            s.await.unwrap().unwrap();
        }
        let TestApp {
            db,
            clock,
            connector,
            ..
        } = self;
        (db, clock, connector)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(self.key.get().map(String::as_str), method, path, body)
            .await
    }

    /// A call with API key `key` (none without).
    pub async fn call_as(
        &self,
        key: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, self.url(path));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("the server answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A request to `path` with the app's key, for a call that needs its own headers.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, self.url(path));
        match self.key.get() {
            Some(key) => req.bearer_auth(key),
            None => req,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("PUT", path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None).await
    }

    /// Runs `statement` on the app's database, as another process (or an older version of
    /// Rateline) would.
    pub async fn sql(&self, statement: &str) {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&self.db.url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }

    /// The one number `query` answers on the app's database (a count).
    pub async fn count(&self, query: &str) -> i64 {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&self.db.url).await.unwrap();
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(query.to_owned()))
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        n
    }

    /// Ends every dashboard sign-in, as if each was left unused past its idle time.
    pub async fn expire_sign_ins(&self) {
        self.sql("UPDATE sign_ins SET expires_at = 0").await;
    }

    /// A webhook session closed by `operator` on `line`, rated 0 (low) with `comment`.
    pub async fn low_rating(&self, session: &str, line: &str, operator: &str, comment: &str) {
        let request = self.sent_request(session, line, operator).await;
        let (status, body) = self
            .post(
                "/v1/ratings",
                json!({"request_id": request, "value": 0, "comment": comment}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    /// A webhook line pointing at this test's connector, with `rating` settings merged in.
    pub async fn line(&self, id: &str, rating: Value) {
        let (status, body) = self
            .put(
                &format!("/v1/lines/{id}"),
                json!({
                    "name": id,
                    "rating": rating,
                    "webhook": {"url": self.connector.url, "secret": SECRET},
                }),
            )
            .await;
        assert!(status == 201 || status == 200, "PUT line: {status} {body}");
    }

    /// Opens a webhook session with a client message, as a contact center would.
    pub async fn open(&self, id: &str, line: &str, operator: &str) {
        let (status, body) = self
            .post(
                "/v1/sessions",
                json!({"id": id, "line_id": line, "channel": "webhook",
                       "client": {"id": format!("client-{id}"), "name": "Ann"},
                       "operator_id": operator}),
            )
            .await;
        assert_eq!(status, 201, "open session: {body}");
    }

    /// Opens `session`, closes it, waits for the send and answers `value` through
    /// `POST /v1/ratings`; returns the rating's id.
    pub async fn rated(&self, session: &str, line: &str, operator: &str, value: i64) -> String {
        let request = self.sent_request(session, line, operator).await;
        let (status, body) = self
            .post(
                "/v1/ratings",
                json!({"request_id": request, "value": value}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// A webhook session opened and closed by `operator` on `line`, its request sent; the
    /// request's id.
    pub async fn sent_request(&self, session: &str, line: &str, operator: &str) -> String {
        self.open(session, line, operator).await;
        let request = self.close(session).await;
        self.wait_for_status(session, "sent").await;
        request
    }

    /// Closes a session by the operator; returns the request's id.
    pub async fn close(&self, id: &str) -> String {
        let (status, body) = self
            .post(
                &format!("/v1/sessions/{id}/close"),
                json!({"closed_by": "operator"}),
            )
            .await;
        assert_eq!(status, 202, "close: {body}");
        body["rating_request"]["id"]
            .as_str()
            .expect("a request")
            .to_owned()
    }

    pub async fn session(&self, id: &str) -> Value {
        let (status, body) = self.get(&format!("/v1/sessions/{id}")).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn request_status(&self, session: &str) -> String {
        self.session(session).await["rating_request"]["status"]
            .as_str()
            .unwrap_or("none")
            .to_owned()
    }

    /// Waits (in real time, up to 10 s) until the session's request has `status`.
    /// Waits for the helpdesks' first catch-up, which runs at the start, to note where the
    /// next one begins.
    pub async fn wait_for_catch_up_mark(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.count("SELECT COUNT(*) FROM helpdesk_catch_ups").await == 0 {
            assert!(tokio::time::Instant::now() < deadline, "no catch-up ran");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (in real time, up to 10 s) until `query`, a `SELECT COUNT(*)`, counts `n`.
    pub async fn wait_count(&self, query: &str, n: i64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.count(query).await;
            if got == n {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{query} counts {got}, not {n}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until session `session` exists and is closed.
    pub async fn wait_closed(&self, session: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (_, s) = self.get(&format!("/v1/sessions/{session}")).await;
            if s["closed_at"].is_string() {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "not closed: {s:#}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn wait_for_status(&self, session: &str, status: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.session(session).await;
            if s["rating_request"]["status"] == status {
                return s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "request of {session} never became {status}: {s:#}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the connector has received `n` requests in all.
    pub async fn wait_for_received(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.connector.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the connector got {} requests, expected {n}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Gives the scheduler real time to act, for checks that something did NOT happen.
    pub async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    pub fn advance(&self, d: chrono::Duration) {
        self.clock.advance(d);
    }
}

/// Serves `html` at `/` from an origin of its own on this machine (another site, to the
/// browser); that origin.
pub async fn another_site(html: String) -> String {
    let site = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(html) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, site).await });
    origin
}
