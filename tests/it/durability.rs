//! Nothing accepted is lost: not on a crash, a stop, a second process or a database outage.
//!
//! The crash tests run the real `rateline` binary and kill it with SIGKILL.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{Connector, Db, Reply, SECRET, TestApp, TestDb, spawn_app, test_settings};
use rateline::startup::Application;
use rateline_testkit::smtp::FakeSmtp;
use serde_json::{Value, json};
use sqlx::Connection;
use tokio_util::sync::CancellationToken;

/// `rateline serve` in a child process, on the wall clock.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGKILL (std's kill) and reap, also when a test panics.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn start(db_url: &str, env: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rateline"));
        cmd.arg("serve")
            .env("RATELINE__DATABASE__URL", db_url)
            .env("RATELINE__SERVER__ADDR", format!("127.0.0.1:{port}"))
            .env("RATELINE__LOG__LEVEL", "warn")
            // The connector and SMTP server of these tests listen on loopback.
            .env("RATELINE__OUTBOUND__ALLOWED_NETWORKS", "127.0.0.0/8")
            .stdout(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let server = Self {
            child: cmd.spawn().expect("rateline serve starts"),
            base: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("{}/readyz", server.base)).send().await
                && r.status() == 200
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("rateline serve did not become ready");
    }

    /// SIGKILL: the process gets no chance to finish anything.
    fn kill9(self) {}

    fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM");
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = reqwest::Client::new().request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn line(&self, connector: &Connector, delay: u32) {
        let (status, body) = self
            .call(
                reqwest::Method::PUT,
                "/v1/lines/support",
                Some(
                    json!({"name": "Support", "rating": {"delay_seconds": delay},
                            "webhook": {"url": connector.url, "secret": SECRET}}),
                ),
            )
            .await;
        assert!(status == 201 || status == 200, "{body}");
    }

    async fn open_and_close(&self, id: &str) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/v1/sessions",
                Some(json!({"id": id, "line_id": "support", "channel": "webhook", "client": {"id": id}})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &format!("/v1/sessions/{id}/close"),
                Some(json!({"closed_by": "operator"})),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        body["rating_request"]["id"].as_str().unwrap().to_owned()
    }

    async fn status(&self, id: &str) -> Value {
        self.call(reqwest::Method::GET, &format!("/v1/sessions/{id}"), None)
            .await
            .1["rating_request"]
            .clone()
    }
}

async fn wait_until(what: &str, mut f: impl AsyncFnMut() -> bool) {
    for _ in 0..300 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

async fn requests_scheduled_before_a_crash_are_each_sent_once_after_the_restart(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let connector = Connector::start().await;
    let server = Server::start(&db.url, &[]).await;
    server.line(&connector, 2).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(server.open_and_close(&format!("s-{i}")).await);
    }
    server.kill9();
    assert!(
        connector.received().is_empty(),
        "nothing was due before the crash"
    );

    let server = Server::start(&db.url, &[]).await;
    wait_until("every request reached the connector", async || {
        connector.received().len() >= 20
    })
    .await;
    for id in &ids {
        assert_eq!(connector.count_for(id), 1, "request {id}");
    }
    wait_until("every request is recorded as sent", async || {
        let mut all = true;
        for i in 0..20 {
            all &= server.status(&format!("s-{i}")).await["status"] == "sent";
        }
        all
    })
    .await;

    // A second crash after the sends resends nothing.
    server.kill9();
    let server = Server::start(&db.url, &[]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(connector.received().len(), 20);
    server.kill9();
}

async fn a_send_in_flight_at_a_crash_is_sent_again_after_its_lease(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let connector = Connector::start().await;
    connector.reply_with([Reply::Slow(Duration::from_secs(30))]);
    let env = [
        ("RATELINE__SCHEDULER__LEASE_SECONDS", "3"),
        ("RATELINE__SCHEDULER__SEND_TIMEOUT_SECONDS", "2"),
    ];
    let server = Server::start(&db.url, &env).await;
    server.line(&connector, 0).await;
    let id = server.open_and_close("s-1").await;
    wait_until("the send is in flight", async || {
        connector.received().len() == 1
    })
    .await;
    server.kill9();

    let server = Server::start(&db.url, &env).await;
    wait_until("the request was sent again", async || {
        connector.count_for(&id) == 2
    })
    .await;
    wait_until("it is recorded as sent", async || {
        server.status("s-1").await["status"] == "sent"
    })
    .await;
    let got = connector.received();
    assert!(
        got.iter()
            .all(|r| r.idempotency_key.as_deref() == Some(id.as_str()))
    );
    assert_eq!(server.status("s-1").await["attempts"], 2);
    server.kill9();
}

async fn sigterm_finishes_the_send_in_flight_then_exits(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let connector = Connector::start().await;
    connector.reply_with([Reply::Slow(Duration::from_millis(1500))]);
    let mut server = Server::start(&db.url, &[]).await;
    server.line(&connector, 0).await;
    server.open_and_close("s-1").await;
    wait_until("the send is in flight", async || {
        connector.received().len() == 1
    })
    .await;
    server.sigterm();
    let exit = tokio::task::spawn_blocking(move || server.child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "exit status {exit}");

    let server = Server::start(&db.url, &[]).await;
    assert_eq!(
        server.status("s-1").await["status"],
        "sent",
        "the outcome was recorded before exiting"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(connector.received().len(), 1);
    server.kill9();
}

/// A low rating's alert, made in the rating's transaction and due after a delay, outlives a
/// SIGKILL: the restarted process sends it, once, and a later crash sends nothing again.
async fn an_alert_pending_at_a_crash_is_sent_once_after_the_restart(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let connector = Connector::start().await;
    let smtp = FakeSmtp::start().await;
    let smtp_url = smtp.url();
    let env = [
        ("RATELINE__SMTP__URL", smtp_url.as_str()),
        ("RATELINE__SMTP__FROM", "Rateline <rateline@example.com>"),
    ];
    let server = Server::start(&db.url, &env).await;
    let (status, body) = server
        .call(
            reqwest::Method::PUT,
            "/v1/people/sup",
            Some(json!({"name": "Sam", "role": "supervisor",
                        "notify": {"email": "sam@example.com"}})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = server
        .call(
            reqwest::Method::PUT,
            "/v1/lines/support",
            Some(json!({"name": "Support",
                        "rating": {"delay_seconds": 0, "alert_delay_seconds": 2},
                        "webhook": {"url": connector.url, "secret": SECRET},
                        "notify_low": [{"kind": "supervisor", "id": "sup"}]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let request = server.open_and_close("s-1").await;
    wait_until("the request is sent", async || {
        server.status("s-1").await["status"] == "sent"
    })
    .await;
    let (status, body) = server
        .call(
            reqwest::Method::POST,
            "/v1/ratings",
            Some(json!({"request_id": request, "value": 0, "comment": "nobody helped"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, alerts) = server.call(reqwest::Method::GET, "/v1/alerts", None).await;
    assert_eq!(alerts["alerts"][0]["status"], "pending", "{alerts}");
    server.kill9();
    assert!(
        smtp.messages().is_empty(),
        "the alert was not due before the crash"
    );

    let server = Server::start(&db.url, &env).await;
    let mail = smtp.wait_for(1).await;
    assert_eq!(mail[0].to, vec!["sam@example.com".to_owned()]);
    assert!(
        mail[0].body.contains("Comment:\n> nobody helped"),
        "{}",
        mail[0].body
    );
    wait_until("the alert is recorded as sent", async || {
        let (_, alerts) = server.call(reqwest::Method::GET, "/v1/alerts", None).await;
        alerts["alerts"][0]["status"] == "sent"
    })
    .await;

    server.kill9();
    let server = Server::start(&db.url, &env).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.messages().len(), 1, "no alert is sent twice");
    let (_, alerts) = server.call(reqwest::Method::GET, "/v1/alerts", None).await;
    assert_eq!(alerts["alerts"].as_array().unwrap().len(), 1, "{alerts}");
    server.kill9();
}

/// `db` with the migrations before `version` run, as a store an older Rateline left, and
/// a line `support` in it.
async fn migrated_before(db: &TestDb, kind: Db, version: i64) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let (dir, url) = match kind {
        Db::Sqlite => ("migrations/sqlite", format!("{}?mode=rwc", db.url)),
        Db::Postgres => ("migrations/postgres", db.url.clone()),
    };
    let mut before =
        sqlx::migrate::Migrator::new(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
            .await
            .unwrap();
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < version)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    before.run(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO lines (id, settings, managed_by, updated_at)
         VALUES ('support', '{\"name\": \"Support\"}', 'api', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool
}

/// Upgrading a store with low ratings in every state (migration 0035 moves the inbox's
/// state onto the rating): each is listed in its state afterwards, by its line, and the
/// counts the header shows are those of before.
async fn an_upgrade_keeps_each_low_ratings_state(kind: Db) {
    use rateline::store::{InboxFilter, InboxState};
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let pool = migrated_before(&db, kind, 35).await;
    for (n, state) in [
        "unanswered",
        "assigned",
        "closed",
        "responded",
        "voided",
        "praise",
    ]
    .into_iter()
    .enumerate()
    {
        let (session, request, rating) = (format!("s-{n}"), format!("r-{n}"), format!("g-{n}"));
        sqlx::query(
            "INSERT INTO sessions (id, line_id, channel, client_id, operator_id, opened_at,
                                   last_message_at, closed_at, closed_by)
             VALUES ($1, 'support', 'webhook', $1, 'olga', 0, 0, 0, 'operator')",
        )
        .bind(&session)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO rating_requests (id, session_id, line_id, channel, client_id,
                 operator_id, scale, status, due_at, send_deadline_at, attempts, created_at,
                 updated_at)
             VALUES ($1, $2, 'support', 'webhook', $2, 'olga', 'binary', 'answered', 0, 0, 1,
                     0, 0)",
        )
        .bind(&request)
        .bind(&session)
        .execute(&pool)
        .await
        .unwrap();
        let low = i64::from(state != "praise");
        sqlx::query(
            "INSERT INTO ratings (id, request_id, session_id, value, positive, low, changes,
                                  created_at, updated_at, counts_from, voided_at)
             VALUES ($1, $2, $3, $4, $4, $5, 0, $6, $6, $6, $7)",
        )
        .bind(&rating)
        .bind(&request)
        .bind(&session)
        .bind(1 - low)
        .bind(low)
        .bind(1000 + i64::try_from(n).unwrap())
        .bind((state == "voided").then_some(5000_i64))
        .execute(&pool)
        .await
        .unwrap();
        let handling = match state {
            "assigned" => Some(
                "INSERT INTO rating_handling (rating_id, assignee_id, assigned_by, assigned_at)
                 VALUES ($1, 'sam', 'sam', 2000)",
            ),
            "closed" => Some(
                "INSERT INTO rating_handling (rating_id, assignee_id, closed_at, closed_by)
                 VALUES ($1, 'sam', 2000, 'sam')",
            ),
            "responded" => Some(
                "INSERT INTO rating_responses (rating_id, text, edits, version, created_at,
                                               updated_at)
                 VALUES ($1, 'Sorry about that', 0, 1, 2000, 2000)",
            ),
            _ => None,
        };
        if let Some(sql) = handling {
            sqlx::query(sql).bind(&rating).execute(&pool).await.unwrap();
        }
    }
    pool.close().await;

    let store = rateline::store::Store::connect_with(&db.url, 4, None)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let listed = |state: Option<InboxState>| {
        let store = store.clone();
        async move {
            let filter = InboxFilter {
                line: Some("support".into()),
                operator: Some("olga".into()),
                channel: Some("webhook".into()),
                state,
                page: 1,
                limit: 50,
                ..InboxFilter::default()
            };
            let page = store
                .inbox()
                .page(&filter, chrono::Utc::now())
                .await
                .unwrap();
            assert_eq!(page.total, i64::try_from(page.items.len()).unwrap());
            page.items
                .into_iter()
                .map(|i| (i.rating_id, i.state))
                .collect::<Vec<_>>()
        }
    };
    let pair = |id: &str, state: &str| (id.to_owned(), state.to_owned());
    assert_eq!(
        listed(None).await,
        vec![
            pair("g-0", "unanswered"),
            pair("g-1", "assigned"),
            pair("g-2", "handled"),
            pair("g-3", "handled"),
        ],
        "open work first, then by time; the voided and the praise are not listed"
    );
    assert_eq!(
        listed(Some(InboxState::Voided)).await,
        vec![pair("g-4", "voided")]
    );
    assert_eq!(
        listed(Some(InboxState::Responded)).await,
        vec![pair("g-3", "handled")]
    );
}

/// Upgrading a store whose report changes are not folded yet (migration 0037 writes them
/// one row per key): the report reads the same from the rollup as from the rows, before
/// and after the fold, with changes of every kind in the log (a close, a request's send
/// and answer, a rating changed and one voided, a failed and a skipped request), and with
/// a session stored closed after it.
async fn an_upgrade_keeps_the_reports_unfolded_changes(kind: Db) {
    use rateline::store::{Grouping, ReportFilter};
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let pool = migrated_before(&db, kind, 37).await;
    let day = 20_000_i64;
    let at = day * 86_400_000 + 36_000_000; // 10:00 UTC
    let run = |sql: &'static str, binds: Vec<Option<i64>>| {
        let pool = pool.clone();
        async move {
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(b);
            }
            q.execute(&pool).await.unwrap();
        }
    };
    for (n, operator, closed) in [
        (1, Some("olga"), true),
        (2, Some("olga"), true),
        (3, Some("ivan"), true),
        (4, Some("ivan"), true),
        (5, None, true),
        (6, Some("ivan"), false),
    ] {
        sqlx::query(
            "INSERT INTO sessions (id, line_id, channel, client_id, operator_id, opened_at,
                                   last_message_at, closed_at, closed_by)
             VALUES ($1, 'support', 'webhook', $1, $2, $3, $3, $4, 'operator')",
        )
        .bind(format!("s-{n}"))
        .bind(operator)
        .bind(at)
        .bind(closed.then_some(at))
        .execute(&pool)
        .await
        .unwrap();
    }
    // The last session closes by an update.
    run(
        "UPDATE sessions SET closed_at = $1 WHERE id = 's-6'",
        vec![Some(at)],
    )
    .await;
    for (n, operator, scale, status, sent) in [
        (1, "olga", "binary", "scheduled", false),
        (2, "olga", "five_star", "sent", true),
        (3, "ivan", "binary", "failed", false),
        (4, "ivan", "binary", "skipped", false),
    ] {
        sqlx::query(
            "INSERT INTO rating_requests (id, session_id, line_id, channel, client_id,
                 operator_id, scale, status, due_at, send_deadline_at, attempts, created_at,
                 sent_at, updated_at)
             VALUES ($1, $2, 'support', 'webhook', $2, $3, $4, $5, $6, $6, 1, $6, $7, $6)",
        )
        .bind(format!("r-{n}"))
        .bind(format!("s-{n}"))
        .bind(operator)
        .bind(scale)
        .bind(status)
        .bind(at)
        .bind(sent.then_some(at))
        .execute(&pool)
        .await
        .unwrap();
    }
    // r-1 is sent, then answered 👎, and the client changes it to 👍.
    run(
        "UPDATE rating_requests SET status = 'sent', sent_at = $1 WHERE id = 'r-1'",
        vec![Some(at)],
    )
    .await;
    let rating = "INSERT INTO ratings (id, request_id, session_id, value, positive, low,
                                       changes, created_at, updated_at, counts_from)
                  VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7, $7)";
    for (n, value, positive, low) in [(1, 0, 0, 1), (2, 4, 1, 0)] {
        sqlx::query(rating)
            .bind(format!("g-{n}"))
            .bind(format!("r-{n}"))
            .bind(format!("s-{n}"))
            .bind(value)
            .bind(positive)
            .bind(low)
            .bind(at)
            .execute(&pool)
            .await
            .unwrap();
    }
    run(
        "UPDATE rating_requests SET status = 'answered', answered_at = $1
         WHERE id IN ('r-1', 'r-2')",
        vec![Some(at)],
    )
    .await;
    run(
        "UPDATE ratings SET value = 1, positive = 1, low = 0 WHERE id = 'g-1'",
        vec![],
    )
    .await;
    run(
        "UPDATE ratings SET voided_at = $1 WHERE id = 'g-2'",
        vec![Some(at)],
    )
    .await;
    pool.close().await;

    let store = rateline::store::Store::connect_with(&db.url, 4, None)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let after = sqlx::AnyPool::connect(&db.url).await.unwrap();
    let unfolded: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM report_changes")
        .fetch_one(&after)
        .await
        .unwrap();
    assert!(unfolded > 0, "the upgrade left no changes to fold");
    // A session stored already closed (an import) counts too.
    sqlx::query(
        "INSERT INTO sessions (id, line_id, channel, client_id, operator_id, opened_at,
                               last_message_at, closed_at, closed_by)
         VALUES ('s-7', 'support', 'webhook', 's-7', 'olga', $1, $1, $1, 'operator')",
    )
    .bind(at)
    .execute(&after)
    .await
    .unwrap();
    let now = chrono::Utc::now();
    let from = |ms: i64| chrono::DateTime::from_timestamp_millis(day * 86_400_000 + ms);
    // The whole day from the rollup, or from 1 ms past midnight from the rows.
    let read = |start: i64| {
        let store = store.clone();
        async move {
            let f = ReportFilter {
                from: from(start),
                to: from(86_400_000),
                ..Default::default()
            };
            let mut out = Vec::new();
            for by in [Grouping::All, Grouping::Operator] {
                out.push(format!(
                    "{by:?} {:?}",
                    store.reports().report(&f, by, now).await.unwrap()
                ));
            }
            let breakdown = store.reports().breakdown(&f, now).await.unwrap();
            out.push(format!("{breakdown:?}"));
            (out, breakdown.funnel)
        }
    };
    for round in ["in the log", "folded"] {
        let (rollup, funnel) = read(0).await;
        assert_eq!(rollup, read(1).await.0, "{round}");
        assert_eq!(
            (funnel.closed, funnel.answered),
            (7, 2),
            "{round}: seven closed, two answered"
        );
        store.reports().fold_rollup().await.unwrap();
    }
}

/// Upgrading a store with requests on their way (migration 0025 moves the scheduler's queue
/// into a table of its own): the request being sent keeps its lease and shows `sending`,
/// the one waiting keeps its due time, and those the scheduler does not send stay out of
/// the queue.
async fn an_upgrade_keeps_the_queue_and_its_leases(kind: Db) {
    use rateline_domain::RequestStatus;
    use sqlx::Row;
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let pool = migrated_before(&db, kind, 25).await;
    let (lease_end, due) = (1_800_000_000_000_i64, 1_800_000_060_000_i64);
    for (n, channel, status, run_at, lease) in [
        (1, "webhook", "sending", lease_end, Some("old-process")),
        (2, "webhook", "scheduled", due, None),
        (3, "webchat", "scheduled", due, None),
        (4, "webhook", "sent", due, None),
    ] {
        sqlx::query(
            "INSERT INTO sessions (id, line_id, channel, client_id, opened_at, last_message_at,
                                   closed_at, closed_by)
             VALUES ($1, 'support', $2, $1, 0, 0, 0, 'operator')",
        )
        .bind(format!("s-{n}"))
        .bind(channel)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO rating_requests (id, session_id, line_id, channel, client_id, scale,
                 status, due_at, run_at, send_deadline_at, attempts, lease_owner, created_at,
                 updated_at)
             VALUES ($1, $2, 'support', $3, $2, 'binary', $4, 0, $5, $6, $7, $8, 0, 0)",
        )
        .bind(format!("r-{n}"))
        .bind(format!("s-{n}"))
        .bind(channel)
        .bind(status)
        .bind(run_at)
        .bind(due + 3_600_000)
        .bind(i64::from(lease.is_some()))
        .bind(lease)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let store = rateline::store::Store::connect_with(&db.url, 4, None)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let queue: Vec<(String, i64, Option<String>, i64)> = sqlx::query(
        "SELECT request_id, run_at, lease_owner, attempts FROM request_queue
         ORDER BY request_id",
    )
    .fetch_all(&sqlx::AnyPool::connect(&db.url).await.unwrap())
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get("request_id"),
            r.get("run_at"),
            r.get("lease_owner"),
            r.get("attempts"),
        )
    })
    .collect();
    assert_eq!(
        queue,
        vec![
            (
                "r-1".to_owned(),
                lease_end,
                Some("old-process".to_owned()),
                1
            ),
            ("r-2".to_owned(), due, None, 0),
        ]
    );
    let status = |s: &'static str| {
        let store = store.clone();
        async move {
            let view = store
                .sessions()
                .view(&rateline_domain::SessionId::stored(s.into()))
                .await
                .unwrap()
                .unwrap();
            view.request.unwrap().status
        }
    };
    assert_eq!(status("s-1").await, RequestStatus::Sending);
    assert_eq!(status("s-2").await, RequestStatus::Scheduled);
    assert_eq!(status("s-3").await, RequestStatus::Scheduled);
    assert_eq!(status("s-4").await, RequestStatus::Sent);
    assert_eq!(store.requests().queue_depth().await.unwrap(), 2);
    // Once the old process's lease has run out, both are claimed; the one it held is
    // known to be a second try.
    let at = chrono::DateTime::from_timestamp_millis(due).unwrap();
    let claimed = store
        .requests()
        .claim_due("new-process", at, chrono::Duration::minutes(1), 10)
        .await
        .unwrap();
    let claimed: Vec<(String, bool, u32)> = claimed
        .into_iter()
        .map(|c| (c.id.into_string(), c.reclaimed, c.attempts))
        .collect();
    assert_eq!(
        claimed,
        vec![("r-1".to_owned(), true, 2), ("r-2".to_owned(), false, 1)]
    );
}

crate::common::on_both_backends!(
    an_upgrade_keeps_the_reports_unfolded_changes,
    an_upgrade_keeps_the_queue_and_its_leases,
    an_upgrade_keeps_each_low_ratings_state,
    requests_scheduled_before_a_crash_are_each_sent_once_after_the_restart,
    a_send_in_flight_at_a_crash_is_sent_again_after_its_lease,
    sigterm_finishes_the_send_in_flight_then_exits,
    an_alert_pending_at_a_crash_is_sent_once_after_the_restart,
);

async fn admin() -> sqlx::PgConnection {
    sqlx::PgConnection::connect(&crate::common::admin_pg_url())
        .await
        .unwrap()
}

/// Two servers on one PostgreSQL database, in this process, sharing a manual clock.
async fn two_servers() -> Option<(TestApp, String, CancellationToken)> {
    let app = spawn_app(Db::Postgres).await?;
    let settings = test_settings(&app.db);
    let second = Application::build_with_clock(settings, Arc::new(app.clock.clone()))
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", second.port());
    let stop = CancellationToken::new();
    tokio::spawn(second.run_until_stopped(stop.clone()));
    Some((app, base, stop))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_send_each_request_once() {
    let Some((app, second, stop)) = two_servers().await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 1})).await;
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..100 {
        // Alternate the servers, as a load balancer would.
        let base = if i % 2 == 0 {
            app.base.clone()
        } else {
            second.clone()
        };
        let id = format!("s-{i}");
        let r = http
            .post(format!("{base}/v1/sessions"))
            .json(&json!({"id": id, "line_id": "support", "channel": "webhook", "client": {"id": id}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let r: Value = http
            .post(format!("{base}/v1/sessions/{id}/close"))
            .json(&json!({"closed_by": "operator"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(r["rating_request"]["id"].as_str().unwrap().to_owned());
    }
    app.advance(chrono::Duration::seconds(1));
    app.wait_for_received(100).await;
    app.settle().await;
    for id in &ids {
        assert_eq!(app.connector.count_for(id), 1, "request {id}");
    }
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_from_another_process_wakes_a_sleeping_scheduler() {
    let Some(app) = spawn_app(Db::Postgres).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 3600})).await;
    app.open("s-1", "support", "op-1").await;
    app.close("s-1").await;
    // Let the pass the close woke finish, so the scheduler sleeps until the hour is up.
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Another process made it due now, behind this one's back.
    let mut conn = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    sqlx::query("UPDATE request_queue SET run_at = run_at - 3600000")
        .execute(&mut conn)
        .await
        .unwrap();
    app.settle().await;
    assert!(
        app.connector.received().is_empty(),
        "woken without a notification"
    );
    sqlx::query("SELECT pg_notify('rateline_wake', 'another-process')")
        .execute(&mut conn)
        .await
        .unwrap();
    app.wait_for_received(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_notifies_the_other_processes() {
    let Some(app) = spawn_app(Db::Postgres).await else {
        return;
    };
    let mut listener = sqlx::postgres::PgListener::connect(&app.db.url)
        .await
        .unwrap();
    listener.listen("rateline_wake").await.unwrap();
    // Due at once: sooner than anything the scheduler may already plan to wake for, so the
    // close is always one to pass on (a later due time is passed on only when it is the
    // soonest).
    app.line("support", json!({"delay_seconds": 0})).await;
    app.open("s-1", "support", "op-1").await;
    app.close("s-1").await;
    let n = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("a NOTIFY within 5 s")
        .unwrap();
    assert_eq!(n.channel(), "rateline_wake");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_writes_nothing_and_recovers() {
    let Some(app) = spawn_app(Db::Postgres).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    app.open("s-1", "support", "op-1").await;
    let name = app.db.pg_name.clone().unwrap();
    let mut admin = admin().await;
    for sql in [
        format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
        format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await
            .unwrap();
    }

    let (status, body) = app
        .post("/v1/sessions/s-1/close", json!({"closed_by": "operator"}))
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "database_unavailable");
    let (status, _) = app
        .post(
            "/v1/sessions",
            json!({"id": "s-2", "line_id": "support", "channel": "webhook", "client": {"id": "c"}}),
        )
        .await;
    assert_eq!(status, 503);
    assert_eq!(app.get("/readyz").await.0, 503);

    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {name} ALLOW_CONNECTIONS true"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    let s = app.session("s-1").await;
    assert_eq!(
        s["closed_at"],
        Value::Null,
        "the refused close left nothing behind"
    );
    assert_eq!(s["rating_request"], Value::Null);
    assert_eq!(app.get("/v1/sessions/s-2").await.0, 404);

    // Back to normal: the close goes through and the scheduler sends.
    app.close("s-1").await;
    app.wait_for_status("s-1", "sent").await;
    assert!(app.connector.received().len() == 1);
}

/// A writer keeps its connection between batches while writes keep coming (100 ms). A
/// restart that drops it right after a write costs the next write nothing: its `BEGIN`
/// fails, and the batch runs again on a connection the pool checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writers_kept_connection_dropped_by_a_restart_costs_no_503() {
    let Some(app) = spawn_app(Db::Postgres).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    let name = app.db.pg_name.clone().unwrap();
    let mut admin = admin().await;
    for i in 0..5 {
        let id = format!("s-{i}");
        app.open(&id, "support", "op-1").await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        )))
        .execute(&mut admin)
        .await
        .unwrap();
        let (status, body) = app
            .post(
                &format!("/v1/sessions/{id}/close"),
                json!({"closed_by": "operator"}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
    }
    for i in 0..5 {
        app.wait_for_status(&format!("s-{i}"), "sent").await;
    }
}

/// A database restart drops every connection. Those that sat idle through it are replaced
/// before their next use (the pool tests an idle connection before it hands it out): the
/// first close afterwards is not a 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_a_restart_dropped_while_idle_are_replaced_without_a_503() {
    let Some(app) = spawn_app(Db::Postgres).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    app.open("s-1", "support", "op-1").await;
    // Idle for a while, as a quiet server would be.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let name = app.db.pg_name.clone().unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    )))
    .execute(&mut admin().await)
    .await
    .unwrap();

    let (status, body) = app
        .post("/v1/sessions/s-1/close", json!({"closed_by": "operator"}))
        .await;
    assert_eq!(status, 202, "{body}");
    app.wait_for_status("s-1", "sent").await;
    assert_eq!(app.connector.received().len(), 1);
}
