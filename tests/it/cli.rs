//! The command line: check-config, migrate, configured lines, environment overrides, demo.

use std::process::{Command, Output};

use crate::common::{Connector, Db, TestApp, TestDb, start_time};
use rateline::clock::ManualClock;
use serde_json::json;

fn rateline(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rateline"));
    cmd.args(args).env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("rateline runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn check_config_names_each_problem_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rateline.toml");
    std::fs::write(
        &file,
        r#"
[server]
addr = "localhost-8080"
[scheduler]
lease_seconds = 5
send_timeout_seconds = 10
[[lines]]
id = "support"
name = "Support"
rating = { delay_seconds = 9000 }
[[lines]]
name = "No id"
[telegram]
token = "123:SECRET-TOKEN"
"#,
    )
    .unwrap();
    let out = rateline(&["check-config", "--config", file.to_str().unwrap()], &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("server.addr \"localhost-8080\" is not an address"),
        "{t}"
    );
    assert!(t.contains("scheduler.lease_seconds (5) must exceed"), "{t}");
    assert!(
        t.contains("line 'support': rating.delay_seconds: must be 0..=3600, got 9000"),
        "{t}"
    );
    assert!(t.contains("lines[1]: needs an `id`"), "{t}");
    assert!(
        t.contains("telegram.webhook_secret is required in webhook mode"),
        "{t}"
    );
    assert!(
        !t.contains("SECRET-TOKEN"),
        "a secret reached the output: {t}"
    );
}

/// A configured connector, or a platform API, inside the network is named unless its
/// network is in `outbound.allowed_networks`.
#[test]
fn check_config_names_destinations_the_outbound_policy_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rateline.toml");
    let config = |allowed: &str| {
        format!(
            r#"
[database]
url = "sqlite://{}"
[outbound]
allowed_networks = [{allowed}]
[telegram]
token = "123:abc"
api_url = "http://127.0.0.1:8081"
webhook_secret = "s3cret"
[[lines]]
id = "support"
name = "Support"
webhook = {{ url = "http://169.254.169.254/hook", secret = "0123456789abcdef" }}
"#,
            dir.path().join("r.db").display()
        )
    };
    std::fs::write(&file, config("")).unwrap();
    let out = rateline(&["check-config", "--config", file.to_str().unwrap()], &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("line 'support': webhook.url: refused by policy"),
        "{t}"
    );
    assert!(
        t.contains("telegram.api_url \"http://127.0.0.1:8081\" is refused by policy"),
        "{t}"
    );
    std::fs::write(&file, config("\"127.0.0.0/8\", \"169.254.169.254/32\"")).unwrap();
    let t = text(&rateline(
        &["check-config", "--config", file.to_str().unwrap()],
        &[],
    ));
    assert!(!t.contains("refused by policy"), "{t}");
    std::fs::write(&file, config("\"127.0.0.0/33\"")).unwrap();
    let t = text(&rateline(
        &["check-config", "--config", file.to_str().unwrap()],
        &[],
    ));
    assert!(
        t.contains("outbound.allowed_networks: \"127.0.0.0/33\" is not a network"),
        "{t}"
    );
}

#[test]
fn check_config_fails_a_line_whose_alerts_reach_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rateline.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[database]
url = "sqlite://{}"
[[lines]]
id = "support"
name = "Support"
notify_low = [{{ kind = "supervisor", id = "p-7" }}]
webhook = {{ url = "https://connector.example/hook", secret = "0123456789abcdef" }}
[[lines]]
id = "sales"
name = "Sales"
webhook = {{ url = "https://connector.example/hook", secret = "0123456789abcdef" }}
"#,
            dir.path().join("r.db").display()
        ),
    )
    .unwrap();
    assert!(
        rateline(&["migrate", "--config", file.to_str().unwrap()], &[])
            .status
            .success()
    );
    let out = rateline(&["check-config", "--config", file.to_str().unwrap()], &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains(
            "line 'support' alerts on low ratings but reaches nobody: person 'p-7' does not exist"
        ),
        "{t}"
    );
    assert!(
        !t.contains("line 'sales'"),
        "a line without notify_low alerts nobody by choice: {t}"
    );
}

#[test]
fn check_config_checks_the_files_people_and_groups() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rateline.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[database]
url = "sqlite://{}"
[[people]]
id = "sup-olga"
name = "Olga"
role = "supervisor"
notify = {{ email = "not an address" }}
[[people]]
name = "Nobody"
role = "operator"
[[groups]]
id = "leads"
name = ""
members = ["sup-olga"]
"#,
            dir.path().join("r.db").display()
        ),
    )
    .unwrap();
    let out = rateline(&["check-config", "--config", file.to_str().unwrap()], &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    for problem in [
        "person 'sup-olga': notify.email: must be an e-mail address",
        "people[1]: needs an `id`",
        "group 'leads': name: must be 1 to 200 characters",
    ] {
        assert!(t.contains(problem), "{problem} missing: {t}");
    }
}

#[test]
fn a_report_filter_that_names_nothing_is_refused() {
    let out = rateline(&["stats", "--operator", ""], &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("invalid value '' for '--operator"), "{t}");
}

/// Only `serve` and `migrate` make a store: a command that reads one, run in the wrong
/// folder, says where it looked and how to make one, and makes nothing.
#[test]
fn commands_that_read_a_store_refuse_one_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.db");
    let db = format!("sqlite://{}", missing.display());
    for args in [
        vec!["stats"],
        vec!["check-config"],
        vec!["keys", "list"],
        vec!["keys", "create", "--name", "ops", "--role", "admin"],
    ] {
        let out = rateline(&args, &[("RATELINE__DATABASE__URL", &db)]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {t}");
        assert!(
            t.contains(&format!("there is no database at {}", missing.display()))
                && t.contains("`rateline migrate` (or `rateline serve`) creates it"),
            "{args:?}: {t}"
        );
        assert!(!missing.exists(), "{args:?} created the store");
    }
    assert!(
        rateline(&["migrate"], &[("RATELINE__DATABASE__URL", &db)])
            .status
            .success()
    );
    let out = rateline(&["stats"], &[("RATELINE__DATABASE__URL", &db)]);
    assert!(out.status.success(), "{}", text(&out));
}

/// `serve` says where to go: the dashboard, the API and its description.
#[test]
fn serve_prints_where_the_dashboard_and_the_api_are() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("r.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_rateline"))
        .arg("serve")
        .env_remove("RUST_LOG")
        .env("RATELINE__DATABASE__URL", &db)
        .env("RATELINE__SERVER__ADDR", "127.0.0.1:0")
        .env("RATELINE__SERVER__PUBLIC_URL", "https://ratings.example")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut seen = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("openapi.json") {
                break;
            }
        }
        seen
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !lines.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let seen = lines.join().unwrap();
    assert!(
        seen.contains("dashboard https://ratings.example/dashboard")
            && seen.contains("API https://ratings.example/v1")
            && seen.contains("https://ratings.example/openapi.json"),
        "{seen}"
    );
}

/// `deploy/rateline.toml` lists every setting Rateline has, and passes `check-config`.
#[test]
fn the_sample_configuration_names_every_setting_and_is_valid() {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/rateline.toml");
    let text_of_sample = std::fs::read_to_string(sample).unwrap();
    for key in rateline::settings::every_key() {
        let (section, name) = key.split_once('.').unwrap();
        let in_section = text_of_sample
            .split(&format!("[{section}]"))
            .nth(1)
            .is_some_and(|rest| rest.contains(&format!("{name} =")));
        assert!(in_section, "deploy/rateline.toml does not name {key}");
    }
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("r.db").display());
    let env = [("RATELINE__DATABASE__URL", db.as_str())];
    assert!(
        rateline(&["migrate", "--config", sample], &env)
            .status
            .success()
    );
    let out = rateline(&["check-config", "--config", sample], &env);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("configuration is valid"), "{t}");
}

#[test]
fn a_misspelt_section_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rateline.toml");
    std::fs::write(&file, "[schedular]\nbatch_size = 3\n").unwrap();
    let out = rateline(&["check-config", "--config", file.to_str().unwrap()], &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("unknown field `schedular`"), "{t}");
}

#[test]
fn check_config_passes_a_good_file_and_reports_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("r.db").display());
    assert!(
        rateline(&["migrate"], &[("RATELINE__DATABASE__URL", &db)])
            .status
            .success()
    );
    let out = rateline(&["check-config"], &[("RATELINE__DATABASE__URL", &db)]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("configuration is valid"), "{t}");
    assert!(t.contains("reachable and migrated, 0 line(s)"), "{t}");
}

#[test]
fn check_config_fails_when_the_database_cannot_be_reached() {
    let out = rateline(
        &["check-config"],
        &[(
            "RATELINE__DATABASE__URL",
            "postgres://nobody:hunter2@127.0.0.1:1/none",
        )],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("cannot open the database"), "{t}");
    assert!(
        !t.contains("hunter2"),
        "the password reached the output: {t}"
    );
}

#[tokio::test]
async fn migrate_creates_the_schema_on_both_backends() {
    for kind in [Db::Sqlite, Db::Postgres] {
        let Some(db) = TestDb::new(kind).await else {
            continue;
        };
        let out = rateline(&["migrate"], &[("RATELINE__DATABASE__URL", &db.url)]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("migrations applied"));
        // Applying again is a no-op.
        let out = rateline(&["migrate"], &[("RATELINE__DATABASE__URL", &db.url)]);
        assert!(out.status.success(), "{}", text(&out));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_from_the_config_file_are_served_and_read_only_over_http() {
    let Some(db) = TestDb::new(Db::Sqlite).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rateline.toml");
    std::fs::write(
        &file,
        r#"
[[lines]]
id = "support"
name = "Support"
auto_close_minutes = 30
rating = { scale = "five_star", delay_seconds = 5, low_threshold = 3 }
webhook = { url = "https://cc.example/rate", secret = "config-secret-0123456789" }
"#,
    )
    .unwrap();
    let mut settings = rateline::settings::Settings::load(Some(&file)).unwrap();
    settings.server.addr = "127.0.0.1:0".into();
    settings.database.url = db.url.clone();
    let app = TestApp::start(
        db,
        settings,
        ManualClock::new(start_time()),
        Connector::start().await,
    )
    .await;
    let (status, line) = app.get("/v1/lines/support").await;
    assert_eq!(status, 200);
    assert_eq!(line["managed_by"], "config");
    assert_eq!(line["rating"]["scale"], "five_star");
    assert_eq!(line["rating"]["low_threshold"], 3);
    assert_eq!(line["auto_close_minutes"], 30);
    assert!(!line.to_string().contains("config-secret"), "{line}");
    let (status, body) = app
        .put("/v1/lines/support", json!({"name": "Changed"}))
        .await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "line_managed_by_config");
    app.stop().await;
}

#[test]
fn environment_variables_override_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rateline.toml");
    std::fs::write(
        &file,
        "[server]\naddr = \"127.0.0.1:9000\"\n[scheduler]\nmax_attempts = 3\n",
    )
    .unwrap();
    // SAFETY: this test's process sets a variable no other test reads.
    unsafe { std::env::set_var("RATELINE__SCHEDULER__MAX_ATTEMPTS", "7") };
    let s = rateline::settings::Settings::load(Some(&file)).unwrap();
    unsafe { std::env::remove_var("RATELINE__SCHEDULER__MAX_ATTEMPTS") };
    assert_eq!(s.server.addr, "127.0.0.1:9000");
    assert_eq!(s.scheduler.max_attempts, 7);
    assert_eq!(s.database.url, "sqlite://rateline.db", "the default stays");
}

/// `RATELINE__DATABASE__URL_FILE` names a file holding the setting, as a container
/// platform's secret would be mounted; an unreadable file or both forms are refused.
#[test]
fn a_setting_can_come_from_a_file_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("from-file.db");
    let secret = dir.path().join("database-url");
    std::fs::write(&secret, format!("sqlite://{}\n", db.display())).unwrap();
    let out = rateline(
        &["migrate"],
        &[("RATELINE__DATABASE__URL_FILE", secret.to_str().unwrap())],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(db.exists(), "the database named in the file was made");

    let missing = dir.path().join("nowhere");
    let out = rateline(
        &["check-config"],
        &[("RATELINE__TELEGRAM__TOKEN_FILE", missing.to_str().unwrap())],
    );
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("RATELINE__TELEGRAM__TOKEN_FILE: cannot read") && t.contains("nowhere"),
        "{t}"
    );
    let out = rateline(
        &["check-config"],
        &[
            ("RATELINE__DATABASE__URL_FILE", secret.to_str().unwrap()),
            ("RATELINE__DATABASE__URL", "sqlite://other.db"),
        ],
    );
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("both RATELINE__DATABASE__URL and RATELINE__DATABASE__URL_FILE"),
        "{t}"
    );
    // The file's contents (a secret, in real use) are not repeated.
    assert!(!t.contains("from-file.db"), "{t}");
}

#[test]
fn the_demo_closes_sessions_collects_answers_and_prints_the_report() {
    let out = rateline(&["demo", "--sessions", "12"], &[]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("closed s-011 on sales by chloe"), "{t}");
    assert!(t.contains("clients answered"), "{t}");
    for heading in ["By operator:", "By line:", "Overall:"] {
        assert!(t.contains(heading), "{t}");
    }
    assert!(t.contains("│ ana"), "{t}");
}

#[test]
fn json_logs_are_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("r.db").display());
    let out = rateline(
        &["--json-logs", "migrate"],
        &[("RATELINE__DATABASE__URL", &db)],
    );
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<_> = stderr.lines().filter(|l| !l.is_empty()).collect();
    assert!(!lines.is_empty(), "expected log lines");
    assert!(stderr.contains("migrations applied"), "{stderr}");
    for l in lines {
        serde_json::from_str::<serde_json::Value>(l)
            .unwrap_or_else(|e| panic!("not JSON: {l}: {e}"));
    }
}

/// `check-config` calls each helpdesk once: the token, the mapped inboxes and groups, the
/// line each is rated on, Chatwoot's own survey; a refused token and a mapping to nothing
/// are errors, and no token is printed.
#[tokio::test]
async fn check_config_calls_each_helpdesk_once() {
    use rateline_testkit::{chatwoot, zammad};
    let cw = chatwoot::FakeChatwoot::start().await;
    let zm = zammad::FakeZammad::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rateline.toml");
    let config = |cw_token: &str, public_url: &str| {
        format!(
            r#"
[server]
public_url = "{public_url}"
[database]
url = "sqlite://{db}"
[outbound]
allowed_networks = ["127.0.0.0/8"]
[[lines]]
id = "web"
name = "Website"
[[lines]]
id = "support"
name = "Support"
[[chatwoot]]
account = {account}
url = "{cw}"
api_token = "{cw_token}"
webhook_secret = "{secret}"
inboxes = {{ "{widget}" = "web", "{whatsapp}" = "web", "99" = "web" }}
[[zammad]]
instance = "helpdesk"
url = "{zm}"
api_token = "{zm_token}"
webhook_token = "{zm_secret}"
groups = {{ "{group}" = "support" }}
"#,
            db = dir.path().join("r.db").display(),
            account = chatwoot::ACCOUNT_ID,
            cw = cw.url(),
            secret = chatwoot::WEBHOOK_SECRET,
            widget = chatwoot::WIDGET_INBOX,
            whatsapp = chatwoot::WHATSAPP_INBOX,
            zm = zm.url(),
            zm_token = zammad::API_TOKEN,
            zm_secret = zammad::WEBHOOK_TOKEN,
            group = zammad::SUPPORT_GROUP,
        )
    };
    std::fs::write(&file, config(chatwoot::API_TOKEN, "http://127.0.0.1:8080")).unwrap();
    let path = file.to_str().unwrap().to_owned();
    let run = |path: String| {
        tokio::task::spawn_blocking(move || rateline(&["check-config", "--config", &path], &[]))
    };
    let migrate = path.clone();
    let migrated =
        tokio::task::spawn_blocking(move || rateline(&["migrate", "--config", &migrate], &[]))
            .await
            .unwrap();
    assert!(migrated.status.success(), "{}", text(&migrated));
    let out = run(path.clone()).await.unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("chatwoot: account 1 reached as"), "{t}");
    assert!(
        t.contains(&format!(
            "inbox {} \"Website\" (Channel::WebWidget) is rated on line 'web' with buttons",
            chatwoot::WIDGET_INBOX
        )),
        "{t}"
    );
    assert!(
        t.contains("inboxes names inbox 99, which the account does not have"),
        "{t}"
    );
    // Chatwoot's defaults, said as they matter.
    assert!(
        t.contains(&format!(
            "inbox {} \"WhatsApp\" opens a new conversation for a message after the resolve",
            chatwoot::WHATSAPP_INBOX
        )),
        "{t}"
    );
    assert!(
        t.contains("127.0.0.1 is private or loopback")
            && t.contains("SAFE_FETCH_ALLOW_PRIVATE_NETWORK=true"),
        "{t}"
    );
    assert!(t.contains("zammad: instance 'helpdesk' reached as"), "{t}");
    assert!(t.contains("is rated on line 'support'"), "{t}");
    assert!(
        !t.contains(chatwoot::API_TOKEN) && !t.contains(zammad::API_TOKEN),
        "{t}"
    );
    assert_eq!(
        cw.calls()
            .iter()
            .filter(|c| c.path == "/api/v1/profile")
            .count(),
        1
    );

    // No webhook yet on either side: each is an error that says how to make it.
    assert!(
        t.contains(
            "no account webhook posts to http://127.0.0.1:8080/connectors/chatwoot/1/webhook"
        ),
        "{t}"
    );
    assert!(
        t.contains("no webhook posts to http://127.0.0.1:8080/connectors/zammad/helpdesk/webhook"),
        "{t}"
    );

    // Locked, the inbox reopens; a public address draws no warning (checked without a call).
    // The webhooks made by hand: Chatwoot's signs with a secret of its own, Zammad's is sent
    // by triggers that fire.
    cw.lock_to_single_conversation(chatwoot::WHATSAPP_INBOX, true);
    cw.add_webhook(
        "https://8.8.8.8/connectors/chatwoot/1/webhook",
        &[
            "conversation_created",
            "conversation_status_changed",
            "conversation_updated",
            "message_created",
            "message_updated",
        ],
    );
    let hook = zm.make(
        "webhooks",
        &json!({"name": "Rateline", "endpoint": "https://8.8.8.8/connectors/zammad/helpdesk/webhook",
                "signature_token": zammad::WEBHOOK_TOKEN}),
    );
    for action in ["create", "update"] {
        zm.make(
            "triggers",
            &json!({"name": action, "execution_condition_mode": "always",
                    "condition": {"ticket.action": {"operator": "is", "value": action}},
                    "perform": {"notification.webhook": {"webhook_id": hook["id"]}}}),
        );
    }
    std::fs::write(&file, config(chatwoot::API_TOKEN, "https://8.8.8.8")).unwrap();
    let t = text(&run(path.clone()).await.unwrap());
    assert!(t.contains("keeps one conversation per contact"), "{t}");
    assert!(
        t.contains("posts here with every event Rateline reads"),
        "{t}"
    );
    assert!(
        t.contains("signs with a secret other than the account's webhook secret"),
        "{t}"
    );
    assert!(
        t.contains("zammad: a trigger sends the webhook on every ticket update"),
        "{t}"
    );
    assert!(!t.contains("no webhook posts to"), "{t}");
    std::fs::write(&file, config("not-the-token", "https://8.8.8.8")).unwrap();
    let out = run(path).await.unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(!t.contains("SAFE_FETCH"), "{t}");
    assert!(t.contains("refused the api_token"), "{t}");
    assert!(!t.contains("not-the-token"), "{t}");
}

/// `rateline helpdesks set-up` makes a connected Zammad instance's webhook and triggers, as
/// the Helpdesks page does, and prints what it made (never a token); an instance that is not
/// connected is an error that says how to connect it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helpdesks_set_up_makes_the_webhook_and_triggers_from_the_command_line() {
    use rateline_testkit::zammad;
    let Some(db) = TestDb::new(Db::Sqlite).await else {
        return;
    };
    let zm = zammad::FakeZammad::start().await;
    let settings = crate::common::test_settings(&db);
    let app = TestApp::start(
        db,
        settings,
        ManualClock::new(start_time()),
        Connector::start().await,
    )
    .await;
    let (status, body) = app
        .put(
            "/v1/connectors/zammad/helpdesk",
            json!({"url": zm.url(), "api_token": zammad::API_TOKEN}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (db, _, _) = app.stop().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rateline.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\npublic_url = \"http://127.0.0.1:8080\"\n[database]\nurl = \"{}\"\n\
             [outbound]\nallowed_networks = [\"127.0.0.0/8\"]\n",
            db.url
        ),
    )
    .unwrap();
    let path = file.to_str().unwrap().to_owned();
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            rateline(&args, &[])
        })
    };
    let args = |helpdesk: &str, id: &str| {
        ["helpdesks", "set-up", "--config", &path, helpdesk, id]
            .map(str::to_owned)
            .to_vec()
    };
    let out = run(args("zammad", "helpdesk")).await.unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("made: webhook 1 to http://127.0.0.1:8080/connectors/zammad/helpdesk/webhook"),
        "{t}"
    );
    assert!(t.contains("Rateline (helpdesk): ticket updated"), "{t}");
    let hooks = zm.admin_records("webhooks");
    assert_eq!(hooks.len(), 1);
    let token = hooks[0]["signature_token"].as_str().unwrap();
    assert!(!t.contains(token) && !t.contains(zammad::API_TOKEN), "{t}");
    assert_eq!(zm.admin_records("triggers").len(), 2);

    let out = run(args("chatwoot", "7")).await.unwrap();
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("no Chatwoot account '7' is connected"), "{t}");
}
