//! Secrets never appear in what Rateline prints: one run of the real binary is given a
//! secret in every place one can go (a database password in the URL's query, the bot
//! token, Meta's secrets, the web chat and alert signing keys, an SMTP password, a
//! connector's and a person's webhook secret, a subscription's secret, a Chatwoot account's
//! token and secret given over the API, an API key, a widget token), is made to use them
//! all with debug logging on, and everything it printed is searched for each.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{Connector, Db, SECRET, TestDb};
use rateline_testkit::telegram::{FakeBotApi, TOKEN};
use serde_json::{Value, json};

const DB_PASSWORD: &str = "PG-pw-secret-0a1b";
const TG_WEBHOOK_SECRET: &str = "tg-hook-secret-2c3d";
const META_APP_SECRET: &str = "meta-app-secret-4e5f";
const META_VERIFY: &str = "meta-verify-secret-6a7b";
const META_PAGE_TOKEN: &str = "meta-page-token-8c9d";
const WEBCHAT_SECRET: &str = "webchat-signing-secret-0e1f-0123456789abcdef";
const ALERT_SECRET: &str = "alert-signing-secret-2a3b";
const SMTP_PASSWORD: &str = "smtp-pw-secret-4c5d";
const PERSON_SECRET: &str = "person-webhook-secret-6e7f";
const SUBSCRIPTION_SECRET: &str = "subscription-secret-8a9b";
const CHATWOOT_TOKEN: &str = "chatwoot-token-secret-0c1d";
const CHATWOOT_SECRET: &str = "chatwoot-webhook-secret-2e3f";
const TG_CHAT: i64 = 555_000_111;

fn env(db_url: &str, bot: &FakeBotApi, closed_port: u16) -> Vec<(String, String)> {
    [
        ("RATELINE__DATABASE__URL", db_url.to_owned()),
        ("RATELINE__LOG__LEVEL", "debug".to_owned()),
        ("RATELINE__OUTBOUND__ALLOWED_NETWORKS", "127.0.0.0/8".into()),
        ("RATELINE__TELEGRAM__TOKEN", TOKEN.into()),
        ("RATELINE__TELEGRAM__API_URL", bot.url()),
        (
            "RATELINE__TELEGRAM__WEBHOOK_SECRET",
            TG_WEBHOOK_SECRET.into(),
        ),
        (
            "RATELINE__META__GRAPH_URL",
            format!("http://127.0.0.1:{closed_port}"),
        ),
        ("RATELINE__META__APP_SECRET", META_APP_SECRET.into()),
        ("RATELINE__META__VERIFY_TOKEN", META_VERIFY.into()),
        ("RATELINE__META__PAGE_ID", "100200300".into()),
        ("RATELINE__META__PAGE_TOKEN", META_PAGE_TOKEN.into()),
        ("RATELINE__WEBCHAT__TOKEN_SECRET", WEBCHAT_SECRET.into()),
        ("RATELINE__ALERTS__WEBHOOK_SECRET", ALERT_SECRET.into()),
        (
            "RATELINE__SMTP__URL",
            format!("smtp://alerts:{SMTP_PASSWORD}@127.0.0.1:{closed_port}"),
        ),
        (
            "RATELINE__SMTP__FROM",
            "Rateline <rateline@example.com>".into(),
        ),
        ("RATELINE__SCHEDULER__SEND_TIMEOUT_SECONDS", "2".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// `rateline ARGS` with `env`; what it printed, on both streams.
fn run(args: &[&str], env: &[(String, String)]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rateline"))
        .args(args)
        .env_remove("RUST_LOG")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("rateline runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_anything_a_run_prints() {
    let Some(db) = TestDb::new(Db::Postgres).await else {
        return;
    };
    // Trust authentication ignores the password, so the run connects all the same.
    let db_url = format!("{}?password={DB_PASSWORD}", db.url);
    let bot = FakeBotApi::start().await;
    bot.add_chat(TG_CHAT, "Tanya");
    let connector = Connector::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let env = env(&db_url, &bot, closed_port);
    let mut printed = String::new();

    let (code, out, err) = run(&["migrate"], &env);
    assert_eq!(code, Some(0), "{out}{err}");
    printed += &(out + &err);
    let (code, key, err) = run(
        &["keys", "create", "--name", "ops", "--role", "admin"],
        &env,
    );
    assert_eq!(code, Some(0), "{err}");
    let key = key.trim().to_owned();
    printed += &err;
    let (_, out, err) = run(&["check-config"], &env);
    printed += &(out + &err);
    // A database that cannot be reached: the error names the URL, never its password.
    let mut unreachable = env.clone();
    unreachable[0].1 = format!(
        "postgres://rateline:{DB_PASSWORD}@127.0.0.1:{closed_port}/x?password={DB_PASSWORD}"
    );
    let (code, out, err) = run(&["check-config"], &unreachable);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.contains("127.0.0.1"),
        "the error names the database: {out}"
    );
    printed += &(out + &err);
    let (_, out, err) = run(&["migrate"], &unreachable);
    printed += &(out + &err);

    // The server, used in every way that touches a secret.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rateline"))
        .arg("serve")
        .env_remove("RUST_LOG")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RATELINE__SERVER__ADDR", format!("127.0.0.1:{port}"))
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path().join("serve.err")).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut r = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        async move {
            let r = r.send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let mut ready = false;
    for _ in 0..200 {
        if http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "rateline serve did not become ready");
    let put = reqwest::Method::PUT;
    let post = reqwest::Method::POST;
    let (status, body) = call(
        put.clone(),
        "/v1/people/sup",
        Some(json!({"name": "Sam", "role": "supervisor",
                    "notify": {"email": "sam@example.com", "webhook_url": connector.url,
                               "webhook_secret": PERSON_SECRET}})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        put.clone(),
        "/v1/lines/support",
        Some(json!({"name": "Support", "rating": {"delay_seconds": 0},
                    "webhook": {"url": connector.url, "secret": SECRET},
                    "notify_low": [{"kind": "supervisor", "id": "sup"}]})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // A CRM that cannot be reached: its events fail and are logged, as they are retried.
    let (status, body) = call(
        put.clone(),
        "/v1/subscriptions/crm",
        Some(
            json!({"url": format!("http://127.0.0.1:{closed_port}/events"),
                    "secret": SUBSCRIPTION_SECRET, "events": ["rating.created"]}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // A Chatwoot account connected over the API, with a token Chatwoot refuses: its webhook
    // is taken, and the send is held back with the refusal logged.
    let chatwoot = rateline_testkit::chatwoot::FakeChatwoot::start().await;
    chatwoot.set_now(chrono::Utc::now());
    let (status, body) = call(
        put.clone(),
        "/v1/connectors/chatwoot/1",
        Some(json!({"url": chatwoot.url(), "api_token": CHATWOOT_TOKEN,
                    "webhook_secret": CHATWOOT_SECRET, "inboxes": {"1": "support"}})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let conversation = chatwoot.open(rateline_testkit::chatwoot::WIDGET_INBOX, "Ann");
    for hook in [
        chatwoot.created(&conversation),
        chatwoot.resolve(&conversation),
    ] {
        let hook = hook.signed_with(CHATWOOT_SECRET);
        let resp = hook
            .post_to(&format!("{base}/connectors/chatwoot/1/webhook"))
            .await;
        assert_eq!(resp.status(), 200);
    }
    let forged = chatwoot
        .created(&conversation)
        .signed_with("not-the-secret");
    let _ = forged
        .post_to(&format!("{base}/connectors/chatwoot/1/webhook"))
        .await;
    let (status, audit) = call(reqwest::Method::GET, "/v1/audit?kind=connector", None).await;
    assert_eq!(status, 200, "{audit}");
    printed += &audit.to_string();
    for (id, channel, client) in [
        ("s-hook", "webhook", "c-1".to_owned()),
        ("s-tg", "telegram", TG_CHAT.to_string()),
        ("s-fb", "messenger", "4242".to_owned()),
        ("s-web", "webchat", "c-2".to_owned()),
    ] {
        let (status, body) = call(
            post.clone(),
            "/v1/sessions",
            Some(json!({"id": id, "line_id": "support", "channel": channel,
                        "client": {"id": client}, "operator_id": "op-1"})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        call(
            post.clone(),
            &format!("/v1/sessions/{id}/messages"),
            Some(json!({"from": "client"})),
        )
        .await;
        let (status, body) = call(
            post.clone(),
            &format!("/v1/sessions/{id}/close"),
            Some(json!({"closed_by": "operator"})),
        )
        .await;
        assert_eq!(status, 202, "{body}");
    }
    // A low answer through the connector's path: an alert by webhook and by e-mail.
    let mut request = None;
    for _ in 0..200 {
        if let Some(r) = connector.received().first() {
            request = Some(r.body["request_id"].as_str().unwrap().to_owned());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let request = request.expect("the connector got the request");
    let (status, body) = call(
        post.clone(),
        "/v1/ratings",
        Some(json!({"request_id": request, "value": 0, "comment": "slow"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // The widget's live connection, whose query holds its token.
    let (status, token) = call(post.clone(), "/v1/sessions/s-web/webchat-token", None).await;
    assert_eq!(status, 201, "{token}");
    let widget_token = token["token"].as_str().unwrap().to_owned();
    let _ = http
        .get(format!("{base}/webchat/events?token={widget_token}"))
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    // Wrong secrets from outside are refused and logged, and not echoed.
    let _ = http
        .post(format!("{base}/channels/telegram/webhook"))
        .header("X-Telegram-Bot-Api-Secret-Token", "not-the-secret")
        .body("{}")
        .send()
        .await;
    for _ in 0..100 {
        let alerted = connector
            .received()
            .iter()
            .any(|r| r.body.get("alert").is_some());
        if alerted && !bot.messages(TG_CHAT).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !bot.messages(TG_CHAT).is_empty(),
        "the Telegram request was never sent"
    );
    // Let the failing e-mail and Messenger sends log their errors once or twice.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    printed += &std::fs::read_to_string(&log).unwrap();
    printed += &std::fs::read_to_string(dir.path().join("serve.err")).unwrap();

    assert!(
        printed.contains("debug") || printed.contains("DEBUG"),
        "debug logs were not on"
    );
    let key_secret = key.rsplit('_').next().unwrap().to_owned();
    for secret in [
        DB_PASSWORD,
        TOKEN,
        TOKEN.split_once(':').unwrap().1,
        TG_WEBHOOK_SECRET,
        META_APP_SECRET,
        META_VERIFY,
        META_PAGE_TOKEN,
        WEBCHAT_SECRET,
        ALERT_SECRET,
        SMTP_PASSWORD,
        PERSON_SECRET,
        SUBSCRIPTION_SECRET,
        CHATWOOT_TOKEN,
        CHATWOOT_SECRET,
        SECRET,
        &key_secret,
        &widget_token,
    ] {
        assert!(
            !printed.contains(secret),
            "a secret was printed: …{}…",
            printed
                .find(secret)
                .map(|i| &printed[i.saturating_sub(200)..(i + secret.len() + 50).min(printed.len())])
                .unwrap_or_default()
        );
    }
}
