//! A hostile run leaves the database exactly as the legitimate calls left it.
//!
//! One server with every surface switched on (API keys of each role, a `webhook` line, a web
//! chat line, a Telegram line against the fake Bot API, Meta's webhook) is given a small
//! world by legitimate calls. Then, batch after batch, every table is dumped, a volley of
//! hostile calls is fired — bad or missing credentials, keys reaching past their role or
//! lines, oversized, malformed and mistyped bodies, control characters, odd and SQL-looking
//! ids, forged platform webhooks and web chat tokens — each must get its refusal, and the
//! dump taken after the server has settled must equal the one before, row for row. A
//! legitimate step between batches shows the server still works, and the next batch starts
//! from what that step wrote.
//!
//! The clock never moves during a batch, so nothing the scheduler does can hide or explain a
//! change: any difference is a hostile call that wrote something.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::time::Duration;

use common::meta::{APP_SECRET, FakeGraphApi, PAGE_ID, PAGE_TOKEN, VERSION};
use common::telegram::{FakeBotApi, TOKEN};
use common::{Db, TestApp, TestDb, create_key, rateline, spawn_app_with, start_time};
use rateline::settings::{MetaSettings, TelegramMode, TelegramSettings};
use serde_json::{Value, json};
use sqlx::{ConnectOptions, Connection};

const WEBHOOK_SECRET: &str = "hostile-test-webhook-secret_1";
const SHOP: &str = "https://shop.example";
/// Small, so that oversized bodies are cheap to send.
const BODY_LIMIT: usize = 4096;
const ANN: i64 = 436_432_850;
const BOB: i64 = 512_004_311;
/// A Messenger user who writes to the Page: a signed message of theirs opens a 24-hour window.
const MALLORY_PSID: &str = "7712004000000001";

// ---------------------------------------------------------------------------------------
// The database, dumped.

/// Every table's rows as JSON text, sorted: `_sqlx_migrations` aside, the whole state.
/// The report's rollup (`report_days`, `report_changes`) is left out: triggers derive it
/// from the tables compared here, and the server folds one into the other on its own
/// schedule, which would show as a change nobody made.
type Snapshot = BTreeMap<String, Vec<String>>;

fn quoted(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

async fn snapshot(db: &TestDb) -> Snapshot {
    let mut dump = Snapshot::new();
    match db.kind {
        Db::Sqlite => {
            // A reader of its own: the server's writer is never held up by the dump.
            let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url)
                .expect("a SQLite URL")
                .read_only(true)
                .connect()
                .await
                .expect("open the SQLite file");
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table'
                 AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'
                 AND name NOT LIKE 'report_%'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            for table in tables {
                let columns: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                        .bind(&table)
                        .fetch_all(&mut conn)
                        .await
                        .unwrap();
                let list = columns
                    .iter()
                    .map(|c| quoted(c))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!("SELECT json_array({list}) FROM {}", quoted(&table));
                let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
                dump.insert(table, rows);
            }
            conn.close().await.unwrap();
        }
        Db::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables
                 WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
                 AND table_name <> '_sqlx_migrations' AND table_name NOT LIKE 'report_%'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            for table in tables {
                let sql = format!("SELECT row_to_json(t)::text FROM {} t", quoted(&table));
                let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
                dump.insert(table, rows);
            }
            conn.close().await.unwrap();
        }
    }
    for rows in dump.values_mut() {
        rows.sort();
    }
    dump
}

/// The dump once background work has stopped: two dumps a settle apart agree. With the
/// clock still, the scheduler has nothing left to do once the last send is recorded.
async fn settled_snapshot(app: &TestApp) -> Snapshot {
    let mut last = snapshot(&app.db).await;
    for _ in 0..30 {
        app.settle().await;
        let now = snapshot(&app.db).await;
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the database kept changing with the clock stopped");
}

/// The rows one dump has and the other lacks, table by table.
fn differences(before: &Snapshot, after: &Snapshot) -> String {
    let mut out = String::new();
    let tables: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for table in tables {
        let empty = Vec::new();
        let b: BTreeSet<&String> = before.get(table).unwrap_or(&empty).iter().collect();
        let a: BTreeSet<&String> = after.get(table).unwrap_or(&empty).iter().collect();
        for row in b.difference(&a) {
            out.push_str(&format!("  - {table} {row}\n"));
        }
        for row in a.difference(&b) {
            out.push_str(&format!("  + {table} {row}\n"));
        }
    }
    out
}

/// After a batch: once settled, the database is the one dumped before it.
async fn assert_unchanged(app: &TestApp, before: &Snapshot, batch: &str) {
    app.settle().await;
    let after = snapshot(&app.db).await;
    assert_eq!(
        before,
        &after,
        "{batch} changed the database:\n{}",
        differences(before, &after)
    );
}

// ---------------------------------------------------------------------------------------
// Calls.

/// One hostile call and the refusal it must get.
struct Probe {
    method: reqwest::Method,
    path: String,
    authorization: Option<String>,
    headers: Vec<(&'static str, String)>,
    body: Option<(&'static str, Vec<u8>)>,
    status: u16,
    code: Option<&'static str>,
}

fn probe(method: &str, path: impl Into<String>) -> Probe {
    Probe {
        method: reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
        path: path.into(),
        authorization: None,
        headers: Vec::new(),
        body: None,
        status: 0,
        code: None,
    }
}

impl Probe {
    fn key(self, key: &str) -> Self {
        self.authorization(&format!("Bearer {key}"))
    }

    /// The `Authorization` header exactly as given.
    fn authorization(mut self, value: &str) -> Self {
        self.authorization = Some(value.to_owned());
        self
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn json(self, body: &Value) -> Self {
        self.raw(body.to_string())
    }

    /// A body sent byte for byte, as JSON.
    fn raw(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(("application/json", body.into()));
        self
    }

    fn refused(mut self, status: u16, code: &'static str) -> Self {
        self.status = status;
        self.code = Some(code);
        self
    }

    /// A refusal that does not come in the API's error shape (the body limit on the
    /// platforms' webhooks is axum's own).
    fn refused_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    fn describe(&self) -> String {
        let auth = self
            .authorization
            .as_deref()
            .map_or("no key".to_owned(), |a| {
                let short: String = a.chars().take(40).collect();
                format!("Authorization: {short}")
            });
        let body = self.body.as_ref().map_or(String::new(), |(_, b)| {
            let text = String::from_utf8_lossy(b);
            let short: String = text.chars().take(160).collect();
            format!(" {short:?}")
        });
        format!("{} {} ({auth}){body}", self.method, self.path)
    }
}

/// Fires every probe; panics listing each that was not refused as expected.
async fn fire(app: &TestApp, probes: Vec<Probe>) {
    assert!(!probes.is_empty());
    let mut wrong = Vec::new();
    let count = probes.len();
    for p in probes {
        assert!(
            p.status >= 400,
            "a probe without its refusal: {}",
            p.describe()
        );
        let mut req = app
            .http
            .request(p.method.clone(), app.url(&p.path))
            .timeout(Duration::from_secs(30));
        if let Some(a) = &p.authorization {
            req = req.header("authorization", a);
        }
        for (name, value) in &p.headers {
            req = req.header(*name, value);
        }
        if let Some((content_type, bytes)) = &p.body {
            req = req
                .header("content-type", *content_type)
                .body(bytes.clone());
        }
        let resp = req.send().await.expect("the server answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        let code_ok = p.code.is_none_or(|c| body["error"]["code"] == c);
        if status != p.status || !code_ok {
            wrong.push(format!(
                "{}\n    expected {} {}, got {status} {body}",
                p.describe(),
                p.status,
                p.code.unwrap_or("")
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {count} hostile calls were not refused as expected:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// A legitimate `/v1` call with `key`.
async fn api(app: &TestApp, key: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = app.http.request(method, app.url(path)).bearer_auth(key);
    if !body.is_null() {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("the server answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A legitimate call that must succeed with `want`; its answer.
async fn ok(app: &TestApp, key: &str, method: &str, path: &str, body: Value, want: u16) -> Value {
    let (status, got) = api(app, key, method, path, body).await;
    assert_eq!(status, want, "{method} {path}: {got}");
    got
}

/// Waits (in real time, up to 10 s) until the session's request has `status`.
async fn wait_for_status(app: &TestApp, key: &str, session: &str, status: &str) -> Value {
    let path = format!("/v1/sessions/{session}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = ok(app, key, "GET", &path, Value::Null, 200).await;
        if s["rating_request"]["status"] == status {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the request of {session} never became {status}: {s:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A legitimate step: `closer` closes `session`, the request reaches the connector, and
/// the integration (`sup`'s key) passes on the client's 👍. Returns the request's id.
async fn close_and_pass_on_a_thumbs_up(
    app: &TestApp,
    closer: &str,
    sup: &str,
    session: &str,
    closed_by: &str,
) -> String {
    let closed = ok(
        app,
        closer,
        "POST",
        &format!("/v1/sessions/{session}/close"),
        json!({"closed_by": closed_by}),
        202,
    )
    .await;
    let request = closed["rating_request"]["id"].as_str().unwrap().to_owned();
    wait_for_status(app, sup, session, "sent").await;
    let body = json!({"request_id": request, "value": 1});
    ok(app, sup, "POST", "/v1/ratings", body, 201).await;
    request
}

/// A widget call from the shop's page.
async fn widget(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let resp = app
        .http
        .post(app.url(path))
        .header("origin", SHOP)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A Telegram update posted as Telegram's webhook call would be.
async fn telegram(app: &TestApp, update: &Value, secret: Option<&str>) -> (u16, Value) {
    let mut req = app
        .http
        .post(app.url("/channels/telegram/webhook"))
        .json(update);
    if let Some(s) = secret {
        req = req.header("X-Telegram-Bot-Api-Secret-Token", s);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn key_id(key: &str) -> &str {
    key.split('_').nth(1).expect("rl_<id>_<secret>")
}

/// The bot's rating cards in a chat.
fn cards(bot: &FakeBotApi, chat: i64) -> Vec<common::telegram::StoredMessage> {
    bot.messages(chat)
        .into_iter()
        .filter(|m| m.text.starts_with("Please rate"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// The scenario.

async fn a_hostile_run_leaves_only_what_legitimate_calls_wrote(kind: Db) {
    let bot = FakeBotApi::start().await;
    bot.add_chat(ANN, "Ann");
    bot.add_chat(BOB, "Bob");
    let graph = FakeGraphApi::start().await;
    graph.set_now(start_time());
    let (bot_url, graph_url) = (bot.url(), graph.url());
    let Some(app) = spawn_app_with(kind, |s| {
        s.server.body_limit_bytes = BODY_LIMIT;
        // Hundreds of calls from one address and three keys: no batch may meet a limit.
        s.limits.public_burst = 100_000;
        s.limits.key_burst = 100_000;
        // Each bad key must meet its own 401 here; holding a guesser off is tested apart
        // (tests/dashboard.rs).
        s.limits.failed_auth_per_minute = 0;
        s.telegram = Some(TelegramSettings {
            token: TOKEN.into(),
            api_url: bot_url,
            webhook_secret: Some(WEBHOOK_SECRET.into()),
            webhook_url: None,
            mode: TelegramMode::Webhook,
            callback_secret: None,
            max_per_second: 25,
            poll_timeout_seconds: 1,
        });
        s.meta = Some(MetaSettings {
            graph_url,
            graph_version: VERSION.into(),
            app_secret: Some(APP_SECRET.into()),
            verify_token: Some("hostile-verify-token".into()),
            page_id: Some(PAGE_ID.into()),
            page_token: Some(PAGE_TOKEN.into()),
            instagram_id: None,
            instagram_token: None,
            whatsapp_phone_number_id: None,
            whatsapp_token: None,
            callback_secret: None,
        });
        s.scheduler.send_timeout_seconds = 2;
    })
    .await
    else {
        return;
    };

    // ---- The world, by legitimate calls. -------------------------------------------------
    let admin = create_key(&app, &["--name", "ops", "--role", "admin"]);
    // The open mode looks for keys at most once a second; from here on every /v1 call
    // needs one.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.get("/v1/stats").await.0 != 401 {
        assert!(tokio::time::Instant::now() < deadline, "still open");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (id, role, enabled) in [
        ("op-1", "operator", true),
        ("op-2", "operator", true),
        // Notifications off: a low rating's alert for them is written, `skipped`.
        ("sup-1", "supervisor", false),
    ] {
        ok(
            &app,
            &admin,
            "PUT",
            &format!("/v1/people/{id}"),
            json!({"name": id, "role": role, "notifications_enabled": enabled,
                   "lines": ["support"]}),
            201,
        )
        .await;
    }
    ok(
        &app,
        &admin,
        "PUT",
        "/v1/lines/support",
        json!({"name": "Support", "rating": {"delay_seconds": 0},
               "notify_low": [{"kind": "supervisor", "id": "sup-1"}],
               "webhook": {"url": app.connector.url, "secret": common::SECRET}}),
        201,
    )
    .await;
    ok(
        &app,
        &admin,
        "PUT",
        "/v1/lines/chat",
        json!({"name": "Chat", "rating": {"delay_seconds": 0, "scale": "five_star"},
               "webchat": {"allowed_origins": [SHOP]}}),
        201,
    )
    .await;
    ok(
        &app,
        &admin,
        "PUT",
        "/v1/lines/tg",
        json!({"name": "Telegram", "rating": {"delay_seconds": 0}}),
        201,
    )
    .await;
    let sup = create_key(
        &app,
        &["--name", "cc", "--role", "supervisor", "--lines", "support"],
    );
    let olga = create_key(
        &app,
        &["--name", "Olga", "--role", "operator", "--person", "op-1"],
    );
    let retired = create_key(&app, &["--name", "retired", "--role", "admin"]);
    rateline(&app, &["keys", "revoke", key_id(&retired)]);

    // The contact center's integration (the supervisor key) runs the support line.
    for (id, op) in [
        ("s-1", "op-1"),
        ("s-2", "op-2"),
        ("s-3", "op-1"),
        ("s-4", "op-1"),
    ] {
        ok(
            &app,
            &sup,
            "POST",
            "/v1/sessions",
            json!({"id": id, "line_id": "support", "channel": "webhook",
                   "client": {"id": format!("client-{id}"), "name": "Ann"}, "operator_id": op}),
            201,
        )
        .await;
    }
    let mut requests = BTreeMap::new();
    for id in ["s-1", "s-2"] {
        let closed = ok(
            &app,
            &sup,
            "POST",
            &format!("/v1/sessions/{id}/close"),
            json!({"closed_by": "operator"}),
            202,
        )
        .await;
        requests.insert(
            id,
            closed["rating_request"]["id"].as_str().unwrap().to_owned(),
        );
        wait_for_status(&app, &admin, id, "sent").await;
    }
    let r1 = ok(
        &app,
        &sup,
        "POST",
        "/v1/ratings",
        json!({"request_id": requests["s-1"], "value": 0, "comment": "waited an hour"}),
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r2 = ok(
        &app,
        &sup,
        "POST",
        "/v1/ratings",
        json!({"request_id": requests["s-2"], "value": 1}),
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        &app,
        &sup,
        "PUT",
        &format!("/v1/ratings/{r1}/response"),
        json!({"text": "Sorry, we were short of staff."}),
        201,
    )
    .await;
    let appeal = ok(
        &app,
        &olga,
        "POST",
        &format!("/v1/ratings/{r1}/appeal"),
        json!({"reason": "the courier was late, not me"}),
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        &app,
        &sup,
        "PUT",
        "/v1/sessions/s-2/evaluation",
        json!({"stars": 5}),
        201,
    )
    .await;

    // Web chat: w-1 rated through its widget, w-2 and w-3 closed and waiting for theirs,
    // w-4 still open.
    let mut tokens = BTreeMap::new();
    for id in ["w-1", "w-2", "w-3", "w-4"] {
        ok(
            &app,
            &admin,
            "POST",
            "/v1/sessions",
            json!({"id": id, "line_id": "chat", "channel": "webchat",
                   "client": {"id": format!("visitor-{id}")}, "operator_id": "op-1"}),
            201,
        )
        .await;
        let minted = ok(
            &app,
            &admin,
            "POST",
            &format!("/v1/sessions/{id}/webchat-token"),
            json!({}),
            201,
        )
        .await;
        tokens.insert(id, minted["token"].as_str().unwrap().to_owned());
    }
    for id in ["w-1", "w-2", "w-3"] {
        let closed = ok(
            &app,
            &admin,
            "POST",
            &format!("/v1/sessions/{id}/close"),
            json!({"closed_by": "operator"}),
            202,
        )
        .await;
        requests.insert(
            id,
            closed["rating_request"]["id"].as_str().unwrap().to_owned(),
        );
    }
    let (status, body) = widget(
        &app,
        "/webchat/ack",
        json!({"token": tokens["w-1"], "request_id": requests["w-1"]}),
    )
    .await;
    assert_eq!((status, &body["status"]), (200, &json!("delivered")));
    let (status, card) = widget(
        &app,
        "/webchat/answer",
        json!({"token": tokens["w-1"], "request_id": requests["w-1"], "value": 4}),
    )
    .await;
    assert_eq!(status, 201, "{card}");
    let rw1 = ok(&app, &admin, "GET", "/v1/sessions/w-1", Value::Null, 200).await["rating"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Telegram: Ann's card is out, unanswered; the session is op-2's.
    ok(
        &app,
        &admin,
        "POST",
        "/v1/sessions",
        json!({"id": "t-1", "line_id": "tg", "channel": "telegram",
               "client": {"id": ANN.to_string(), "name": "Ann"}, "operator_id": "op-2"}),
        201,
    )
    .await;
    ok(
        &app,
        &admin,
        "POST",
        "/v1/sessions/t-1/close",
        json!({"closed_by": "operator"}),
        202,
    )
    .await;
    bot.wait_for(|b| !cards(b, ANN).is_empty()).await;
    wait_for_status(&app, &admin, "t-1", "sent").await;
    let card = cards(&bot, ANN).pop().unwrap();
    let ann_up = bot
        .button_data(ANN, card.message_id)
        .into_iter()
        .find(|(label, _)| label == "👍")
        .expect("a 👍 button")
        .1;

    // ---- Batch 1: who is calling. ------------------------------------------------------
    // Every call here would change something with the admin key.
    let writes: Vec<(&str, String, Value)> = vec![
        (
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Hijacked", "webhook": {"url": "http://evil.example/", "secret": "0123456789abcdef-evil"}}),
        ),
        (
            "PUT",
            "/v1/people/op-1".into(),
            json!({"name": "Olga", "role": "admin"}),
        ),
        (
            "PUT",
            "/v1/groups/g-evil".into(),
            json!({"name": "Evil", "members": ["op-1"]}),
        ),
        (
            "POST",
            "/v1/sessions".into(),
            json!({"id": "evil-1", "line_id": "support", "channel": "webhook", "client": {"id": "c"}}),
        ),
        (
            "POST",
            "/v1/sessions/s-3/close".into(),
            json!({"closed_by": "operator"}),
        ),
        (
            "POST",
            "/v1/sessions/s-3/messages".into(),
            json!({"from": "client"}),
        ),
        (
            "POST",
            "/v1/ratings".into(),
            json!({"request_id": requests["s-2"], "value": 0}),
        ),
        (
            "PUT",
            format!("/v1/ratings/{r1}/response"),
            json!({"text": "hijacked"}),
        ),
        (
            "PUT",
            format!("/v1/ratings/{r1}/comment-flag"),
            json!({"abusive": true}),
        ),
        (
            "POST",
            format!("/v1/ratings/{r2}/appeal"),
            json!({"reason": "hijacked"}),
        ),
        (
            "POST",
            format!("/v1/appeals/{appeal}/decision"),
            json!({"approve": true}),
        ),
        (
            "PUT",
            "/v1/sessions/s-2/evaluation".into(),
            json!({"stars": 1}),
        ),
    ];
    // The admin's id with another secret: the last hex digit changed.
    let last = if admin.ends_with('0') { '1' } else { '0' };
    let wrong_secret = format!("{}{last}", &admin[..admin.len() - 1]);
    let credentials: Vec<(Option<String>, &str)> = vec![
        (None, "key_required"),
        (
            Some(format!("Bearer rl_00000000_{}", "ab".repeat(32))),
            "invalid_key",
        ),
        (Some(format!("Bearer {wrong_secret}")), "invalid_key"),
        (Some(format!("Bearer {admin}x")), "invalid_key"),
        (Some(format!("Bearer {admin} {admin}")), "invalid_key"),
        (Some(format!("Token {admin}")), "invalid_key"),
        (Some(format!("Basic {admin}")), "invalid_key"),
        (Some(admin.clone()), "invalid_key"),
        (Some("Bearer not-a-key".into()), "invalid_key"),
        (Some("Bearer rl_".into()), "invalid_key"),
        (Some("Bearer".into()), "invalid_key"),
        (Some("Bearer rl_'OR'1'='1_x".into()), "invalid_key"),
        (Some("Bearer rl_x' OR 1=1; --_y".into()), "invalid_key"),
        (Some(format!("Bearer {retired}")), "key_revoked"),
    ];
    let mut batch = Vec::new();
    for (method, path, body) in &writes {
        for (credential, code) in &credentials {
            let mut p = probe(method, path.clone()).json(body).refused(401, code);
            if let Some(c) = credential {
                p = p.authorization(c);
            }
            batch.push(p);
        }
    }
    // The key check guards paths under `/v1/`; spellings of that path that skip the check
    // must not reach a handler either.
    for path in [
        "//v1/lines/support",
        "/V1/lines/support",
        "/v1%2Flines%2Fsupport",
    ] {
        batch.push(
            probe("PUT", path)
                .json(&json!({"name": "Hijacked"}))
                .refused(404, "no_such_endpoint"),
        );
    }
    batch.push(
        probe("PUT", "/v1/lines/support/")
            .json(&json!({"name": "Hijacked"}))
            .refused(401, "key_required"),
    );
    let before = settled_snapshot(&app).await;
    fire(&app, batch).await;
    assert_unchanged(&app, &before, "batch 1 (credentials)").await;

    // Still working: the integration closes s-3 and passes on its answer.
    let request = close_and_pass_on_a_thumbs_up(&app, &sup, &sup, "s-3", "client").await;
    requests.insert("s-3", request);

    // ---- Batch 2: keys reaching past their role or their lines. ------------------------
    let forbidden = |key: &str, method: &str, path: String, body: Value| {
        probe(method, path)
            .key(key)
            .json(&body)
            .refused(403, "forbidden")
    };
    // An object the key may not see is answered as one that does not exist.
    let unseen = |key: &str, method: &str, path: String, body: Value, code: &'static str| {
        probe(method, path).key(key).json(&body).refused(404, code)
    };
    let webchat_open = json!({"id": "evil-2", "line_id": "chat", "channel": "webchat",
                              "client": {"id": "v"}});
    let mut batch = vec![
        // The support supervisor on the chat and Telegram lines.
        forbidden(&sup, "POST", "/v1/sessions".into(), webchat_open.clone()),
        // An existing session of the chat line under the supervisor's own line's name.
        probe("POST", "/v1/sessions")
            .key(&sup)
            .json(&json!({"id": "w-4", "line_id": "support", "channel": "webhook", "client": {"id": "v"}}))
            .refused(409, "session_id_taken"),
        unseen(
            &sup,
            "POST",
            "/v1/sessions/w-4/close".into(),
            json!({"closed_by": "operator"}),
            "session_not_found",
        ),
        unseen(
            &sup,
            "POST",
            "/v1/sessions/w-4/messages".into(),
            json!({"from": "client"}),
            "session_not_found",
        ),
        unseen(
            &sup,
            "POST",
            "/v1/sessions/w-4/webchat-token".into(),
            json!({}),
            "session_not_found",
        ),
        unseen(
            &sup,
            "POST",
            "/v1/ratings".into(),
            json!({"request_id": requests["w-1"], "value": 1}),
            "request_not_found",
        ),
        unseen(
            &sup,
            "POST",
            "/v1/ratings".into(),
            json!({"request_id": requests["w-3"], "value": 5}),
            "request_not_found",
        ),
        unseen(
            &sup,
            "PUT",
            format!("/v1/ratings/{rw1}/response"),
            json!({"text": "not my line"}),
            "rating_not_found",
        ),
        unseen(
            &sup,
            "PUT",
            format!("/v1/ratings/{rw1}/comment-flag"),
            json!({"abusive": true}),
            "rating_not_found",
        ),
        unseen(
            &sup,
            "POST",
            format!("/v1/ratings/{rw1}/appeal"),
            json!({"reason": "not my line"}),
            "rating_not_found",
        ),
        unseen(
            &sup,
            "PUT",
            "/v1/sessions/w-1/evaluation".into(),
            json!({"stars": 1}),
            "session_not_found",
        ),
        unseen(
            &sup,
            "POST",
            "/v1/sessions/t-1/messages".into(),
            json!({"from": "client"}),
            "session_not_found",
        ),
        // Configuration and decisions are the admin's, on its own line too.
        forbidden(
            &sup,
            "PUT",
            "/v1/lines/chat".into(),
            json!({"name": "Chat", "webchat": {"allowed_origins": ["https://evil.example"]}}),
        ),
        forbidden(
            &sup,
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Mine"}),
        ),
        forbidden(
            &sup,
            "PUT",
            "/v1/people/sup-1".into(),
            json!({"name": "sup-1", "role": "admin"}),
        ),
        forbidden(
            &sup,
            "PUT",
            "/v1/groups/g-1".into(),
            json!({"name": "G", "members": ["sup-1"]}),
        ),
        forbidden(
            &sup,
            "POST",
            format!("/v1/appeals/{appeal}/decision"),
            json!({"approve": false}),
        ),
        // Operator op-1 on op-2's sessions and ratings.
        unseen(
            &olga,
            "POST",
            "/v1/sessions/s-2/messages".into(),
            json!({"from": "client"}),
            "session_not_found",
        ),
        unseen(
            &olga,
            "POST",
            "/v1/sessions/s-2/close".into(),
            json!({"closed_by": "operator"}),
            "session_not_found",
        ),
        unseen(
            &olga,
            "POST",
            "/v1/sessions/t-1/close".into(),
            json!({"closed_by": "operator"}),
            "session_not_found",
        ),
        // op-1 on her own session: no client message, no close backdated an hour.
        forbidden(
            &olga,
            "POST",
            "/v1/sessions/s-4/messages".into(),
            json!({"from": "client"}),
        ),
        forbidden(
            &olga,
            "POST",
            "/v1/sessions/s-4/close".into(),
            json!({"closed_by": "operator", "at": "2026-11-21T08:00:00Z"}),
        ),
        forbidden(
            &olga,
            "POST",
            "/v1/sessions".into(),
            json!({"id": "evil-3", "line_id": "support", "channel": "webhook",
                   "client": {"id": "c"}, "operator_id": "op-2"}),
        ),
        forbidden(
            &olga,
            "POST",
            "/v1/sessions".into(),
            json!({"id": "evil-4", "line_id": "support", "channel": "webhook", "client": {"id": "c"}}),
        ),
        probe("POST", "/v1/sessions")
            .key(&olga)
            .json(&json!({"id": "s-2", "line_id": "support", "channel": "webhook",
                          "client": {"id": "c"}, "operator_id": "op-1"}))
            .refused(409, "session_id_taken"),
        forbidden(
            &olga,
            "POST",
            "/v1/sessions".into(),
            json!({"id": "evil-5", "line_id": "chat", "channel": "webchat",
                   "client": {"id": "c"}, "operator_id": "op-1"}),
        ),
        unseen(
            &olga,
            "POST",
            format!("/v1/ratings/{r2}/appeal"),
            json!({"reason": "not even mine"}),
            "rating_not_found",
        ),
        // An operator passes on no answers, responds to nothing, evaluates nothing, not
        // even on their own sessions.
        forbidden(
            &olga,
            "POST",
            "/v1/ratings".into(),
            json!({"request_id": requests["s-1"], "value": 1}),
        ),
        forbidden(
            &olga,
            "POST",
            "/v1/ratings".into(),
            json!({"request_id": requests["s-2"], "value": 0}),
        ),
        forbidden(
            &olga,
            "PUT",
            format!("/v1/ratings/{r1}/response"),
            json!({"text": "all fine"}),
        ),
        forbidden(
            &olga,
            "PUT",
            format!("/v1/ratings/{r1}/comment-flag"),
            json!({"abusive": true}),
        ),
        forbidden(
            &olga,
            "PUT",
            "/v1/sessions/s-1/evaluation".into(),
            json!({"stars": 5}),
        ),
        forbidden(
            &olga,
            "POST",
            "/v1/sessions/w-4/webchat-token".into(),
            json!({}),
        ),
        forbidden(
            &olga,
            "POST",
            format!("/v1/appeals/{appeal}/decision"),
            json!({"approve": true, "note": "approved by myself"}),
        ),
        forbidden(
            &olga,
            "PUT",
            "/v1/people/op-1".into(),
            json!({"name": "Olga", "role": "admin"}),
        ),
        forbidden(
            &olga,
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Mine"}),
        ),
        forbidden(
            &olga,
            "PUT",
            "/v1/groups/g-1".into(),
            json!({"name": "G", "members": ["op-1"]}),
        ),
    ];
    // Reads change nothing either, and show nothing: still refused.
    for path in ["/v1/sessions/s-2", "/v1/sessions/t-1"] {
        batch.push(
            probe("GET", path)
                .key(&olga)
                .refused(404, "session_not_found"),
        );
    }
    batch.push(
        probe("GET", "/v1/lines/support")
            .key(&olga)
            .refused(403, "forbidden"),
    );
    batch.push(
        probe("GET", "/v1/sessions/w-1")
            .key(&sup)
            .refused(404, "session_not_found"),
    );
    for path in ["/v1/lines/chat", "/v1/stats?line=chat"] {
        batch.push(probe("GET", path).key(&sup).refused(403, "forbidden"));
    }
    let before = settled_snapshot(&app).await;
    fire(&app, batch).await;
    assert_unchanged(&app, &before, "batch 2 (roles and lines)").await;

    // Still working: the admin decides the appeal; the rating is voided.
    let decided = ok(
        &app,
        &admin,
        "POST",
        &format!("/v1/appeals/{appeal}/decision"),
        json!({"approve": true, "note": "the courier's fault"}),
        200,
    )
    .await;
    assert_eq!(decided["status"], "approved", "{decided}");

    // ---- Batch 3: what the body and the path carry. ------------------------------------
    // With the admin key every call passes the key check: only validation stands between
    // these and the database.
    let big = "x".repeat(BODY_LIMIT * 2);
    let invalid = |method: &str, path: String, body: Value, status: u16, code: &'static str| {
        probe(method, path)
            .key(&admin)
            .json(&body)
            .refused(status, code)
    };
    let rate = |request: &str, value: Value| json!({"request_id": request, "value": value});
    let session = |id: &str| {
        json!({"id": id, "line_id": "support", "channel": "webhook",
               "client": {"id": "c-9", "name": "Ann"}, "operator_id": "op-1"})
    };
    let with = |mut base: Value, field: &str, value: Value| {
        base[field] = value;
        base
    };
    let s2 = requests["s-2"].clone();
    let w1 = requests["w-1"].clone();
    let mut batch = vec![
        // Larger than server.body_limit_bytes.
        invalid(
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": big}),
            413,
            "body_too_large",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(session("evil-5"), "padding", json!(big)),
            413,
            "body_too_large",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            json!({"request_id": s2, "value": 1, "comment": big}),
            413,
            "body_too_large",
        ),
        invalid(
            "PUT",
            format!("/v1/ratings/{r2}/response"),
            json!({"text": big}),
            413,
            "body_too_large",
        ),
        probe("POST", "/webchat/answer")
            .header("origin", SHOP)
            .json(&json!({"token": tokens["w-1"], "request_id": w1, "value": 5, "comment": big}))
            .refused(413, "body_too_large"),
        // Not JSON, or not whole, or a whole value with more after it.
        probe("POST", "/v1/sessions")
            .key(&admin)
            .raw(format!("{} trailing", session("evil-5b")))
            .refused(400, "malformed_json"),
        probe("POST", "/v1/sessions")
            .key(&admin)
            .raw(format!("{}{}", session("evil-5c"), session("evil-5d")))
            .refused(400, "malformed_json"),
        probe("POST", "/v1/sessions")
            .key(&admin)
            .raw(r#"{"id": "evil-6", "line_id": "support", "#)
            .refused(400, "malformed_json"),
        probe("POST", "/v1/sessions")
            .key(&admin)
            .raw("id=evil-7&line_id=support")
            .refused(400, "malformed_json"),
        probe("POST", "/v1/sessions")
            .key(&admin)
            .raw("")
            .refused(400, "malformed_json"),
        probe("POST", "/v1/sessions")
            .key(&admin)
            .raw(b"{\"id\": \"evil-\xff\xfe\", \"line_id\": \"support\"}".to_vec())
            .refused(400, "malformed_json"),
        probe("POST", "/v1/ratings")
            .key(&admin)
            .raw(format!(r#"{{"request_id": "{s2}", "value": 0"#))
            .refused(400, "malformed_json"),
        probe("PUT", "/v1/people/op-1")
            .key(&admin)
            .raw(r#"{"name": "Olga", "role": "admin",}"#)
            .refused(400, "malformed_json"),
        // The wrong shape or types.
        invalid(
            "POST",
            "/v1/sessions".into(),
            json!([session("evil-8")]),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(session("evil-9"), "id", json!(9)),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(session("evil-10"), "client", json!("c-9")),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(session("evil-11"), "channel", json!("sms")),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(session("evil-12"), "opened_at", json!("yesterday")),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions/s-4/close".into(),
            json!({"closed_by": "admin"}),
            400,
            "invalid_field",
        ),
        // serde_json calls anything but a string or an object where an enum belongs a
        // syntax error, so this one is `malformed_json`: a 400 all the same.
        probe("POST", "/v1/sessions/s-4/messages")
            .key(&admin)
            .json(&json!({"from": ["client"]}))
            .refused_status(400),
        invalid(
            "POST",
            "/v1/ratings".into(),
            rate(&s2, json!("0")),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            rate(&s2, json!(0.5)),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            rate(&s2, json!(1e100)),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            rate(&s2, json!(null)),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            json!({"request_id": [s2], "value": 0}),
            400,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/sessions/s-2/evaluation".into(),
            json!({"stars": "1"}),
            400,
            "invalid_field",
        ),
        invalid(
            "PUT",
            format!("/v1/ratings/{r2}/comment-flag"),
            json!({"abusive": "yes"}),
            400,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Support", "rating": {"delay_seconds": -1}}),
            400,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Support", "rating": {"delay_seconds": 4_294_967_296_u64}}),
            400,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/people/op-1".into(),
            json!({"name": "Olga", "role": "root"}),
            400,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/people/op-1".into(),
            json!({"name": null, "role": "operator"}),
            400,
            "invalid_field",
        ),
        // Fields the API does not have.
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(session("evil-13"), "is_admin", json!(true)),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(
                session("evil-13b"),
                "client",
                json!({"id": "c-9", "is_vip": true}),
            ),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions/s-4/close".into(),
            json!({"closed_by": "operator", "rating_request": {"status": "answered"}}),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            json!({"request_id": s2, "value": 0, "changes": 0}),
            400,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Support", "managed_by": "config"}),
            400,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Support", "rating": {"delay_second": 600}}),
            400,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/people/op-1".into(),
            json!({"name": "Olga", "role": "operator", "api_key": "rl_x_y"}),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            format!("/v1/appeals/{appeal}/decision"),
            json!({"approve": false, "status": "open"}),
            400,
            "invalid_field",
        ),
        probe("POST", "/webchat/answer")
            .header("origin", SHOP)
            .json(
                &json!({"token": tokens["w-1"], "request_id": w1, "value": 5,
                          "session_id": "w-3"}),
            )
            .refused(400, "invalid_field"),
        probe("POST", "/webchat/ack")
            .header("origin", SHOP)
            .json(
                &json!({"token": tokens["w-3"], "request_id": requests["w-3"],
                          "status": "answered"}),
            )
            .refused(400, "invalid_field"),
        // NUL and other control characters in text.
        invalid(
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Support", "webhook": {"url": "http://a.example/\u{0}x", "secret": "0123456789abcdef"}}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/people/op-1".into(),
            json!({"name": "Olga", "role": "operator", "notify": {"webhook_url": "http://a.example/\u{0}x"}}),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(
                session("evil-14"),
                "client",
                json!({"id": "c-9", "name": "Ann\u{0}"}),
            ),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(
                session("evil-15"),
                "client",
                json!({"id": "c-9", "name": "Ann\u{1b}[2J"}),
            ),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            json!({"request_id": s2, "value": 1, "comment": "fine\u{0}"}),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            json!({"request_id": s2, "value": 1, "comment": "fine\u{7}\u{8}"}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            format!("/v1/ratings/{r2}/response"),
            json!({"text": "Thanks\u{0}"}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            format!("/v1/ratings/{r2}/response"),
            json!({"text": "Thanks", "author_id": "sup\u{0}1"}),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            format!("/v1/ratings/{r2}/appeal"),
            json!({"reason": "late\u{0}"}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/sessions/s-4/evaluation".into(),
            json!({"stars": 3, "comment": "ok\u{1f}"}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/people/op-1".into(),
            json!({"name": "Olga\u{0}", "role": "operator"}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/people/op-1".into(),
            json!({"name": "Olga", "role": "operator", "notify": {"email": "o@x.example\u{0}"}}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/groups/g-1".into(),
            json!({"name": "G\u{85}", "members": []}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Support\u{0}"}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Support", "rating": {"request_text": "Rate us\u{0}"}}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Support", "webhook": {"url": app.connector.url,
                   "secret": "0123456789abcdef\n"}}),
            422,
            "invalid_field",
        ),
        probe("POST", "/webchat/answer")
            .header("origin", SHOP)
            .json(
                &json!({"token": tokens["w-1"], "request_id": w1, "value": 4,
                          "comment": "nice\u{0}"}),
            )
            .refused(422, "invalid_field"),
        // Ids with '/', whitespace or control characters, or over 128 bytes: in the path...
        invalid(
            "PUT",
            "/v1/lines/a%2Fb".into(),
            json!({"name": "A"}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/lines/a%20b".into(),
            json!({"name": "A"}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            format!("/v1/lines/{}", "l".repeat(129)),
            json!({"name": "A"}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/people/a%00b".into(),
            json!({"name": "A", "role": "operator"}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/people/a%09b".into(),
            json!({"name": "A", "role": "operator"}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            format!("/v1/groups/{}", "%E2%82%AC".repeat(43)),
            json!({"name": "G"}),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions/s-4%2F..%2Fs-3/close".into(),
            json!({"closed_by": "operator"}),
            404,
            "session_not_found",
        ),
        invalid(
            "POST",
            format!("/v1/sessions/{}/close", "s".repeat(129)),
            json!({"closed_by": "operator"}),
            404,
            "session_not_found",
        ),
        invalid(
            "POST",
            "/v1/sessions/s-4%00/messages".into(),
            json!({"from": "client"}),
            404,
            "session_not_found",
        ),
        invalid(
            "POST",
            "/v1/sessions/%FF%FE/close".into(),
            json!({"closed_by": "operator"}),
            400,
            "invalid_path",
        ),
        // ... and in the body.
        invalid(
            "POST",
            "/v1/sessions".into(),
            session("evil/16"),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            session("evil 17"),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            session("evil\u{a0}18"),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            session(""),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            session(&"e".repeat(129)),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            session(&"€".repeat(43)),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(session("evil-19"), "line_id", json!("sup port")),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(session("evil-20"), "operator_id", json!("op/1")),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(session("evil-21"), "client", json!({"id": "c\u{0}9"})),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Support", "notify_low": [{"kind": "supervisor", "id": "sup 1"}]}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/groups/g-1".into(),
            json!({"name": "G", "members": ["op-1", "op/2"]}),
            422,
            "invalid_field",
        ),
        // Ratings off the line's scale: binary on support, five stars on chat.
        invalid(
            "POST",
            "/v1/ratings".into(),
            rate(&s2, json!(2)),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            rate(&s2, json!(-1)),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            rate(&s2, json!(i64::MAX)),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            rate(&w1, json!(0)),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            rate(&w1, json!(6)),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/sessions/s-4/evaluation".into(),
            json!({"stars": 0}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/sessions/s-2/evaluation".into(),
            json!({"stars": 6}),
            422,
            "invalid_field",
        ),
        probe("POST", "/webchat/answer")
            .header("origin", SHOP)
            .json(&json!({"token": tokens["w-1"], "request_id": w1, "value": 9}))
            .refused(422, "invalid_field"),
        // A time more than five minutes ahead of the server's.
        invalid(
            "POST",
            "/v1/sessions/s-4/close".into(),
            json!({"closed_by": "operator", "at": "2030-01-01T00:00:00Z"}),
            422,
            "invalid_field",
        ),
    ];
    // SQL in ids: names of nothing, so simply not found.
    for sql in [
        "s-1'--",
        "s-1' OR '1'='1",
        "'OR'1'='1",
        "x';DROP TABLE sessions;--",
        "'||(SELECT(id)FROM(sessions)LIMIT(1))||'",
        "s-1\"; DELETE FROM ratings; --",
        "$1",
    ] {
        let enc: String = sql
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'-' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        batch.extend([
            invalid(
                "POST",
                format!("/v1/sessions/{enc}/close"),
                json!({"closed_by": "operator"}),
                404,
                "session_not_found",
            ),
            invalid(
                "POST",
                format!("/v1/sessions/{enc}/messages"),
                json!({"from": "client"}),
                404,
                "session_not_found",
            ),
            invalid(
                "PUT",
                format!("/v1/sessions/{enc}/evaluation"),
                json!({"stars": 1}),
                404,
                "session_not_found",
            ),
            invalid(
                "POST",
                format!("/v1/sessions/{enc}/webchat-token"),
                json!({}),
                404,
                "session_not_found",
            ),
            invalid(
                "POST",
                "/v1/ratings".into(),
                rate(sql, json!(0)),
                404,
                "request_not_found",
            ),
            invalid(
                "PUT",
                format!("/v1/ratings/{enc}/response"),
                json!({"text": "x"}),
                404,
                "rating_not_found",
            ),
            invalid(
                "POST",
                format!("/v1/ratings/{enc}/appeal"),
                json!({"reason": "x"}),
                404,
                "rating_not_found",
            ),
            invalid(
                "PUT",
                format!("/v1/ratings/{enc}/comment-flag"),
                json!({"abusive": true}),
                404,
                "rating_not_found",
            ),
            invalid(
                "POST",
                format!("/v1/appeals/{enc}/decision"),
                json!({"approve": true}),
                404,
                "appeal_not_found",
            ),
            invalid(
                "POST",
                "/v1/sessions".into(),
                with(session("evil-22"), "line_id", json!(sql)),
                if sql.contains(' ') { 422 } else { 404 },
                if sql.contains(' ') {
                    "invalid_field"
                } else {
                    "line_not_found"
                },
            ),
            probe("GET", format!("/v1/sessions/{enc}"))
                .key(&admin)
                .refused(404, "session_not_found"),
            probe("GET", format!("/v1/lines/{enc}"))
                .key(&admin)
                .refused(404, "line_not_found"),
        ]);
    }
    let before = settled_snapshot(&app).await;
    fire(&app, batch).await;
    assert_unchanged(&app, &before, "batch 3 (bodies, ids and values)").await;

    // Still working: op-1 closes her own session, the integration passes on the answer.
    let request = close_and_pass_on_a_thumbs_up(&app, &olga, &sup, "s-4", "operator").await;
    requests.insert("s-4", request);

    // ---- Batch 4: the platforms' webhooks and the widget. ------------------------------
    let tap = bot.tap(ANN, card.message_id, &ann_up);
    let (meta_body, meta_signature) = graph.inbound().messenger_text(MALLORY_PSID, "hi");
    let w3 = requests["w-3"].clone();
    // A token is `rlw1.<expiry>.<session hex>.<MAC>`.
    let parts = |t: &str| -> Vec<String> { t.split('.').map(str::to_owned).collect() };
    let t2 = parts(&tokens["w-2"]);
    let t3 = parts(&tokens["w-3"]);
    let forged_tokens = [
        // w-2's MAC under w-3's name.
        format!("rlw1.{}.{}.{}", t2[1], hex::encode("w-3"), t2[3]),
        // w-3's own token, a second longer.
        format!(
            "rlw1.{}.{}.{}",
            t3[1].parse::<i64>().unwrap() + 1,
            t3[2],
            t3[3]
        ),
        // w-3's own token with its MAC cut short, or gone.
        format!("rlw1.{}.{}.{}", t3[1], t3[2], &t3[3][..16]),
        format!("rlw1.{}.{}.", t3[1], t3[2]),
        // Signed with a key of our own.
        format!("rlw1.{}.{}.{}", t3[1], t3[2], "0".repeat(64)),
    ];
    let malformed_tokens = [
        "rlw1.garbage".to_owned(),
        String::new(),
        format!("rlw2.{}.{}.{}", t3[1], t3[2], t3[3]),
        format!("rlw1.{}.zz.{}", t3[1], t3[3]),
        "rlw1.1.2.3.4".to_owned(),
    ];
    let mut batch = Vec::new();
    // Telegram: Ann's real tap, without the secret or with a wrong one.
    for secret in [
        None,
        Some(""),
        Some("hostile-test-webhook-secret_2"),
        Some("HOSTILE-TEST-WEBHOOK-SECRET_1"),
    ] {
        let mut p = probe("POST", "/channels/telegram/webhook")
            .json(&tap)
            .refused(401, "bad_webhook_secret");
        if let Some(s) = secret {
            p = p.header("X-Telegram-Bot-Api-Secret-Token", s);
        }
        batch.push(p);
    }
    batch.extend([
        probe("POST", "/channels/telegram/webhook")
            .header("X-Telegram-Bot-Api-Secret-Token", WEBHOOK_SECRET)
            .json(&json!({"callback_query": {"data": ann_up}}))
            .refused(400, "invalid_update"),
        probe("POST", "/channels/telegram/webhook")
            .header("X-Telegram-Bot-Api-Secret-Token", WEBHOOK_SECRET)
            .raw(big.clone())
            .refused_status(413),
    ]);
    // Meta: a client's message (it would open their 24-hour window) without a valid
    // signature.
    let other_signature = common::meta::sign_with("not-the-app-secret", &meta_body);
    let sha1 = meta_signature.replacen("sha256=", "sha1=", 1);
    for signature in [
        None,
        Some(""),
        Some("sha256="),
        Some(other_signature.as_str()),
        Some(sha1.as_str()),
        Some(&meta_signature[..meta_signature.len() - 2]),
    ] {
        let mut p = probe("POST", "/channels/meta/webhook")
            .raw(meta_body.clone())
            .refused(401, "bad_signature");
        if let Some(s) = signature {
            p = p.header("X-Hub-Signature-256", s);
        }
        batch.push(p);
    }
    // The right signature over other bytes.
    batch.extend([
        probe("POST", "/channels/meta/webhook")
            .header("X-Hub-Signature-256", &meta_signature)
            .raw(format!("{meta_body} "))
            .refused(401, "bad_signature"),
        probe("POST", "/channels/meta/webhook")
            .header(
                "X-Hub-Signature-256",
                &common::meta::sign(&format!("{meta_body}{big}")),
            )
            .raw(format!("{meta_body}{big}"))
            .refused_status(413),
    ]);
    // The widget: forged and malformed tokens, on w-3's request that waits to be shown.
    let widget_probe_from = |origin: &str, path: &str, token: &str, request: &str| {
        let mut body = json!({"token": token, "request_id": request});
        if path == "/webchat/answer" {
            body["value"] = json!(1);
        }
        probe("POST", path).header("origin", origin).json(&body)
    };
    let widget_probe =
        |path: &str, token: &str, request: &str| widget_probe_from(SHOP, path, token, request);
    for path in ["/webchat/ack", "/webchat/answer"] {
        for t in forged_tokens.iter().chain(&malformed_tokens) {
            batch.push(widget_probe(path, t, &w3).refused(401, "invalid_token"));
        }
        // Valid tokens of other sessions.
        for other in ["w-1", "w-2", "w-4"] {
            batch.push(widget_probe(path, &tokens[other], &w3).refused(403, "not_this_session"));
        }
        // w-3's own token, naming another session's request, or none.
        for request in [w1.as_str(), requests["s-2"].as_str(), "'OR'1'='1", ""] {
            batch
                .push(widget_probe(path, &tokens["w-3"], request).refused(403, "not_this_session"));
        }
        // w-3's own token and request, with an answer the line refuses: the card must not
        // count as shown either.
        if path == "/webchat/answer" {
            for bad in [
                json!({"value": 9}),
                json!({"value": 0}),
                json!({"value": 5, "comment": "a\u{0}b"}),
            ] {
                let mut body = json!({"token": tokens["w-3"], "request_id": w3});
                body.as_object_mut()
                    .unwrap()
                    .extend(bad.as_object().unwrap().clone());
                batch.push(
                    probe("POST", path)
                        .header("origin", SHOP)
                        .json(&body)
                        .refused(422, "invalid_field"),
                );
            }
        }
        // From a page the line does not list.
        batch.push(
            widget_probe_from("https://evil.example", path, &tokens["w-3"], &w3)
                .refused(403, "origin_not_allowed"),
        );
    }
    for t in forged_tokens.iter().chain(&malformed_tokens) {
        let q: String = url::form_urlencoded::byte_serialize(t.as_bytes()).collect();
        batch.push(
            probe("GET", format!("/webchat/events?token={q}"))
                .header("origin", SHOP)
                .refused(401, "invalid_token"),
        );
    }
    let before = settled_snapshot(&app).await;
    let answered_before = bot.answered_callbacks().len();
    fire(&app, batch).await;
    assert_eq!(
        bot.answered_callbacks().len(),
        answered_before,
        "a refused Telegram call reached the bot"
    );
    // Taps with the right secret that are still not Ann's answer: each gets its toast.
    let forged = ann_up.replacen(":1:", ":0:", 1);
    assert_ne!(forged, ann_up);
    for (update, toast) in [
        // Ann's button data with another value: the MAC no longer matches.
        (
            bot.tap(ANN, card.message_id, &forged),
            "This button is no longer valid.",
        ),
        // Data that is not Rateline's at all.
        (
            bot.tap(ANN, card.message_id, "rl1:'OR'1'='1:1:0000000000000000"),
            "This button is no longer valid.",
        ),
        // Bob, on Ann's card.
        (
            bot.tap_as(BOB, "Bob", ANN, card.message_id, &ann_up),
            "This rating request is not yours.",
        ),
    ] {
        let (status, body) = telegram(&app, &update, Some(WEBHOOK_SECRET)).await;
        assert_eq!(status, 200, "{body}");
        let last = bot.answered_callbacks().last().cloned();
        assert_eq!(last.and_then(|(_, t)| t).as_deref(), Some(toast));
    }
    assert_unchanged(&app, &before, "batch 4 (webhooks and the widget)").await;
    assert_eq!(
        bot.button_data(ANN, card.message_id).len(),
        2,
        "Ann's card still has its buttons"
    );

    // Still working, and what the refusals kept out is what these write.
    let (status, body) = telegram(&app, &tap, Some(WEBHOOK_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    let t1 = ok(&app, &admin, "GET", "/v1/sessions/t-1", Value::Null, 200).await;
    assert_eq!(t1["rating"]["value"], 1, "{t1}");
    let resp = app
        .http
        .post(app.url("/channels/meta/webhook"))
        .header("content-type", "application/json")
        .header("X-Hub-Signature-256", &meta_signature)
        .body(meta_body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (status, body) = widget(
        &app,
        "/webchat/answer",
        json!({"token": tokens["w-3"], "request_id": w3, "value": 2}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let after = settled_snapshot(&app).await;
    let windows = &after["client_windows"];
    assert!(
        windows.len() == 1 && windows[0].contains(MALLORY_PSID),
        "the signed message opened Mallory's window: {windows:?}"
    );

    // What users see is what the legitimate calls made.
    assert_eq!(
        app.connector.received().len(),
        4,
        "one request per legitimate close of a support session"
    );
    let line = ok(&app, &admin, "GET", "/v1/lines/support", Value::Null, 200).await;
    assert_eq!(line["name"], "Support");
    assert_eq!(line["webhook"]["url"], json!(app.connector.url));
    let s2 = ok(&app, &admin, "GET", "/v1/sessions/s-2", Value::Null, 200).await;
    assert_eq!(s2["rating"]["value"], 1);
    assert_eq!(s2["rating"]["appeal"], Value::Null);
    assert_eq!(s2["evaluation"]["stars"], 5);
    let s1 = ok(&app, &admin, "GET", "/v1/sessions/s-1", Value::Null, 200).await;
    assert_eq!(
        s1["rating"]["response"]["text"],
        "Sorry, we were short of staff."
    );
    assert_eq!(s1["rating"]["comment_flagged"], false);
    let (_, stats) = api(&app, &admin, "GET", "/v1/stats?by=line", Value::Null).await;
    let answered: BTreeMap<String, i64> = stats["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().to_owned(),
                g["answered"].as_i64().unwrap(),
            )
        })
        .collect();
    // s-1's rating is voided by the approved appeal.
    assert_eq!(
        answered,
        BTreeMap::from([
            ("chat".to_owned(), 2),
            ("support".to_owned(), 3),
            ("tg".to_owned(), 1)
        ]),
        "{stats}"
    );
    for id in [
        "evil-1", "evil-2", "evil-3", "evil-5", "evil-5b", "evil-5c", "evil-13", "evil-13b",
    ] {
        let (status, _) = api(
            &app,
            &admin,
            "GET",
            &format!("/v1/sessions/{id}"),
            Value::Null,
        )
        .await;
        assert_eq!(status, 404, "{id}");
    }
}

on_both_backends!(a_hostile_run_leaves_only_what_legitimate_calls_wrote);
