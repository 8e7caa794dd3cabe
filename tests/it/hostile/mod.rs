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

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::time::Duration;

use crate::common::{Db, TestApp, TestDb, create_key, rateline, spawn_app_with, start_time};
use rateline::settings::{MetaSettings, TelegramMode, TelegramSettings};
use rateline_testkit::meta::{APP_SECRET, FakeGraphApi, PAGE_ID, PAGE_TOKEN, VERSION};
use rateline_testkit::telegram::{FakeBotApi, TOKEN};
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
fn cards(bot: &FakeBotApi, chat: i64) -> Vec<rateline_testkit::telegram::StoredMessage> {
    bot.messages(chat)
        .into_iter()
        .filter(|m| m.text.starts_with("Please rate"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// The scenario.

mod bodies;
mod credentials;
mod limits;
mod open_mode;
mod platforms;
mod reports;
mod roles;
mod sign_ins;
mod texts;
mod urls;

use platforms::Legit;

/// The world the legitimate calls made, which every batch aims at.
pub(super) struct World {
    pub app: TestApp,
    pub admin: String,
    pub sup: String,
    pub olga: String,
    pub retired: String,
    pub requests: BTreeMap<&'static str, String>,
    pub tokens: BTreeMap<&'static str, String>,
    pub r1: String,
    pub r2: String,
    pub rw1: String,
    pub appeal: String,
    pub card: rateline_testkit::telegram::StoredMessage,
    pub ann_up: String,
    pub bot: FakeBotApi,
    pub graph: FakeGraphApi,
}

/// The server and what the legitimate calls make of it; `None` when PostgreSQL is wanted and
/// away.
async fn world(kind: Db) -> Option<World> {
    let bot = FakeBotApi::start().await;
    bot.add_chat(ANN, "Ann");
    bot.add_chat(BOB, "Bob");
    let graph = FakeGraphApi::start().await;
    graph.set_now(start_time());
    let (bot_url, graph_url) = (bot.url(), graph.url());
    let app = spawn_app_with(kind, |s| {
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
    .await?;

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
               "webhook": {"url": app.connector.url, "secret": crate::common::SECRET}}),
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

    Some(World {
        app,
        admin,
        sup,
        olga,
        retired,
        requests,
        tokens,
        r1,
        r2,
        rw1,
        appeal,
        card,
        ann_up,
        bot,
        graph,
    })
}

async fn a_hostile_run_leaves_only_what_legitimate_calls_wrote(kind: Db) {
    let Some(mut w) = world(kind).await else {
        return;
    };
    let batch = credentials::probes(&w);
    let before = settled_snapshot(&w.app).await;
    fire(&w.app, batch).await;
    assert_unchanged(&w.app, &before, "batch 1 (credentials)").await;

    // Still working: the integration closes s-3 and passes on its answer.
    let request = close_and_pass_on_a_thumbs_up(&w.app, &w.sup, &w.sup, "s-3", "client").await;
    w.requests.insert("s-3", request);

    let batch = roles::probes(&w);
    let before = settled_snapshot(&w.app).await;
    fire(&w.app, batch).await;
    assert_unchanged(&w.app, &before, "batch 2 (roles and lines)").await;

    // Still working: the admin decides the appeal; the rating is voided.
    let decided = ok(
        &w.app,
        &w.admin,
        "POST",
        &format!("/v1/appeals/{}/decision", w.appeal),
        json!({"approve": true, "note": "the courier's fault"}),
        200,
    )
    .await;
    assert_eq!(decided["status"], "approved", "{decided}");

    let batch = bodies::probes(&w);
    let before = settled_snapshot(&w.app).await;
    fire(&w.app, batch).await;
    assert_unchanged(&w.app, &before, "batch 3 (bodies, ids and values)").await;

    // Still working: op-1 closes her own session, the integration passes on the answer.
    let request = close_and_pass_on_a_thumbs_up(&w.app, &w.olga, &w.sup, "s-4", "operator").await;
    w.requests.insert("s-4", request);

    let (batch, legit) = platforms::probes(&w);
    let World {
        app,
        admin,
        tokens,
        card,
        bot,
        ..
    } = &w;
    let Legit {
        tap,
        meta_body,
        meta_signature,
        w3,
    } = legit;
    let before = settled_snapshot(app).await;
    let answered_before = bot.answered_callbacks().len();
    fire(app, batch).await;
    assert_eq!(
        bot.answered_callbacks().len(),
        answered_before,
        "a refused Telegram call reached the bot"
    );
    platforms::taps_that_are_not_anns(&w).await;
    assert_unchanged(app, &before, "batch 4 (webhooks and the widget)").await;
    assert_eq!(
        bot.button_data(ANN, card.message_id).len(),
        2,
        "Ann's card still has its buttons"
    );

    // Still working, and what the refusals kept out is what these write.
    let (status, body) = telegram(app, &tap, Some(WEBHOOK_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    let t1 = ok(app, admin, "GET", "/v1/sessions/t-1", Value::Null, 200).await;
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
        app,
        "/webchat/answer",
        json!({"token": tokens["w-3"], "request_id": w3, "value": 2}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let after = settled_snapshot(app).await;
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
    let line = ok(app, admin, "GET", "/v1/lines/support", Value::Null, 200).await;
    assert_eq!(line["name"], "Support");
    assert_eq!(line["webhook"]["url"], json!(app.connector.url));
    let s2 = ok(app, admin, "GET", "/v1/sessions/s-2", Value::Null, 200).await;
    assert_eq!(s2["rating"]["value"], 1);
    assert_eq!(s2["rating"]["appeal"], Value::Null);
    assert_eq!(s2["evaluation"]["stars"], 5);
    let s1 = ok(app, admin, "GET", "/v1/sessions/s-1", Value::Null, 200).await;
    assert_eq!(
        s1["rating"]["response"]["text"],
        "Sorry, we were short of staff."
    );
    assert_eq!(s1["rating"]["comment_flagged"], false);
    let (_, stats) = api(app, admin, "GET", "/v1/stats?by=line", Value::Null).await;
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
            app,
            admin,
            "GET",
            &format!("/v1/sessions/{id}"),
            Value::Null,
        )
        .await;
        assert_eq!(status, 404, "{id}");
    }
}

crate::common::on_both_backends!(a_hostile_run_leaves_only_what_legitimate_calls_wrote);
