//! API keys and roles: keys made and revoked with the real `rateline keys` command, each
//! role against the endpoints it may and may not use, and the refusal to serve a network
//! without keys.

use std::process::{Command, Output};

use crate::common::{Db, TestApp, spawn_app};
use serde_json::{Value, json};

fn rateline(db_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rateline"))
        .args(args)
        .env("RATELINE__DATABASE__URL", db_url)
        .env_remove("RUST_LOG")
        .output()
        .expect("rateline runs")
}

/// `rateline keys create …`; returns the key's text.
fn create_key(app: &TestApp, args: &[&str]) -> String {
    let mut all = vec!["keys", "create"];
    all.extend_from_slice(args);
    let out = rateline(&app.db.url, &all);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "keys create {args:?}: {stderr}");
    assert!(stderr.contains("it is shown only now"), "{stderr}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn call(
    app: &TestApp,
    key: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = app.http.request(method, app.url(path));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Two lines, an operator and a closed, rated session on each line (op-1 on `sales`,
/// op-2 on `support`), all made before any key exists (the open mode). Returns the
/// ratings' ids.
async fn world(app: &TestApp) -> (String, String) {
    for line in ["sales", "support"] {
        let (status, body) = app
            .put(
                &format!("/v1/lines/{line}"),
                json!({"name": line, "rating": {"delay_seconds": 0},
                       "webhook": {"url": app.connector.url, "secret": crate::common::SECRET}}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    for (op, line) in [("op-1", "sales"), ("op-2", "support")] {
        app.put(
            &format!("/v1/people/{op}"),
            json!({"name": op, "role": "operator", "lines": [line]}),
        )
        .await;
    }
    let mut ratings = Vec::new();
    for (session, line, op) in [
        ("s-sales", "sales", "op-1"),
        ("s-support", "support", "op-2"),
    ] {
        app.open(session, line, op).await;
        let request = app.close(session).await;
        app.wait_for_status(session, "sent").await;
        let (status, body) = app
            .post("/v1/ratings", json!({"request_id": request, "value": 0}))
            .await;
        assert_eq!(status, 201, "{body}");
        ratings.push(body["id"].as_str().unwrap().to_owned());
    }
    (ratings.remove(0), ratings.remove(0))
}

async fn every_call_needs_a_valid_key_once_one_exists(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    world(&app).await;
    let admin = create_key(&app, &["--name", "ops", "--role", "admin"]);
    assert!(admin.starts_with("rl_"), "{admin}");

    // The running server notices the first key within a second.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while call(&app, None, "GET", "/v1/stats", None).await.0 != 401 {
        assert!(tokio::time::Instant::now() < deadline, "still open");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (status, body) = call(&app, None, "GET", "/v1/sessions/s-sales", None).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("key_required"))
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer")
    );
    // The right id with another secret: the last hex digit changed.
    let last = if admin.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &admin[..admin.len() - 1]);
    for bad in [forged.as_str(), "rl_nope", "not-a-key"] {
        let (status, body) = call(&app, Some(bad), "GET", "/v1/sessions/s-sales", None).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (401, &json!("invalid_key")),
            "{bad}"
        );
    }
    let (status, _) = call(&app, Some(&admin), "GET", "/v1/sessions/s-sales", None).await;
    assert_eq!(status, 200);
    // What is not the API stays public: health, metrics, the widget's script.
    for path in ["/healthz", "/metrics", "/widget.js"] {
        let r = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }

    // Revoked mid-run: refused from the next call on.
    let id = admin.split('_').nth(1).unwrap();
    let out = rateline(&app.db.url, &["keys", "revoke", id]);
    assert!(out.status.success());
    let (status, body) = call(&app, Some(&admin), "GET", "/v1/sessions/s-sales", None).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("key_revoked")),
        "{body}"
    );
    // Revoking the only key does not open the server again.
    let (status, _) = call(&app, None, "GET", "/v1/sessions/s-sales", None).await;
    assert_eq!(status, 401);
    let list = String::from_utf8(rateline(&app.db.url, &["keys", "list"]).stdout).unwrap();
    assert!(list.contains(id) && list.contains("admin"), "{list}");
    assert!(
        !list.contains(admin.rsplit('_').next().unwrap()),
        "the secret is never shown again"
    );
}

async fn each_role_reaches_what_it_may_and_nothing_else(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    let (sales_rating, support_rating) = world(&app).await;
    let admin = create_key(&app, &["--name", "ops", "--role", "admin"]);
    let sales = create_key(
        &app,
        &["--name", "Sam", "--role", "supervisor", "--lines", "sales"],
    );
    let olga = create_key(
        &app,
        &["--name", "Olga", "--role", "operator", "--person", "op-1"],
    );

    // (key, method, path, body, expected status)
    let cases: Vec<(&str, &str, String, Option<Value>, u16)> = vec![
        // Configuration: admins only.
        (
            &admin,
            "PUT",
            "/v1/people/p-9".into(),
            Some(json!({"name": "P", "role": "supervisor"})),
            201,
        ),
        (
            &sales,
            "PUT",
            "/v1/people/p-9".into(),
            Some(json!({"name": "P", "role": "supervisor"})),
            403,
        ),
        (
            &olga,
            "PUT",
            "/v1/groups/g-1".into(),
            Some(json!({"name": "G", "members": []})),
            403,
        ),
        (
            &sales,
            "PUT",
            "/v1/lines/sales".into(),
            Some(json!({"name": "sales"})),
            403,
        ),
        (&sales, "GET", "/v1/lines/sales".into(), None, 200),
        (&sales, "GET", "/v1/lines/support".into(), None, 403),
        (&olga, "GET", "/v1/lines/sales".into(), None, 403),
        // Sessions: the supervisor's lines, the operator's own.
        (&sales, "GET", "/v1/sessions/s-sales".into(), None, 200),
        // Another line's session is answered as one that does not exist.
        (&sales, "GET", "/v1/sessions/s-support".into(), None, 404),
        (&olga, "GET", "/v1/sessions/s-sales".into(), None, 200),
        (&olga, "GET", "/v1/sessions/s-support".into(), None, 404),
        (
            &sales,
            "POST",
            "/v1/sessions".into(),
            Some(
                json!({"id": "s-new", "line_id": "sales", "channel": "webhook", "client": {"id": "c"}}),
            ),
            201,
        ),
        (
            &sales,
            "POST",
            "/v1/sessions".into(),
            Some(
                json!({"id": "s-new2", "line_id": "support", "channel": "webhook", "client": {"id": "c"}}),
            ),
            403,
        ),
        // An existing session's id under a line or operator the key has: still not theirs,
        // and the answer names no line.
        (
            &sales,
            "POST",
            "/v1/sessions".into(),
            Some(
                json!({"id": "s-support", "line_id": "sales", "channel": "webhook", "client": {"id": "c"}}),
            ),
            409,
        ),
        (
            &olga,
            "POST",
            "/v1/sessions".into(),
            Some(
                json!({"id": "s-support", "line_id": "support", "channel": "webhook",
                       "client": {"id": "c"}, "operator_id": "op-1"}),
            ),
            403,
        ),
        (
            &olga,
            "POST",
            "/v1/sessions/s-support/close".into(),
            Some(json!({"closed_by": "operator"})),
            404,
        ),
        // Stats: one of the supervisor's lines; the operator's own numbers.
        (&sales, "GET", "/v1/stats?line=sales".into(), None, 200),
        (&sales, "GET", "/v1/stats".into(), None, 403),
        (&sales, "GET", "/v1/stats?line=support".into(), None, 403),
        (&olga, "GET", "/v1/stats?operator=op-2".into(), None, 403),
        (&olga, "GET", "/v1/operators/op-1/summary".into(), None, 200),
        (&olga, "GET", "/v1/operators/op-2/summary".into(), None, 403),
        (&admin, "GET", "/v1/stats".into(), None, 200),
        // The follow-up loop.
        (&sales, "GET", "/v1/alerts?line=sales".into(), None, 200),
        (&sales, "GET", "/v1/alerts".into(), None, 403),
        (&olga, "GET", "/v1/alerts?line=sales".into(), None, 403),
        (
            &sales,
            "PUT",
            format!("/v1/ratings/{sales_rating}/response"),
            Some(json!({"text": "Sorry"})),
            201,
        ),
        (
            &sales,
            "PUT",
            format!("/v1/ratings/{support_rating}/response"),
            Some(json!({"text": "Sorry"})),
            404,
        ),
        (
            &olga,
            "PUT",
            format!("/v1/ratings/{sales_rating}/comment-flag"),
            Some(json!({"abusive": true})),
            403,
        ),
        (
            &olga,
            "POST",
            format!("/v1/ratings/{support_rating}/appeal"),
            Some(json!({"reason": "not mine"})),
            404,
        ),
        (
            &olga,
            "POST",
            format!("/v1/ratings/{sales_rating}/appeal"),
            Some(json!({"reason": "the courier was late"})),
            201,
        ),
        (&sales, "GET", "/v1/appeals".into(), None, 200),
        (&admin, "GET", "/v1/appeals".into(), None, 200),
        (
            &olga,
            "PUT",
            "/v1/sessions/s-sales/evaluation".into(),
            Some(json!({"stars": 5})),
            403,
        ),
        (
            &sales,
            "PUT",
            "/v1/sessions/s-sales/evaluation".into(),
            Some(json!({"stars": 4})),
            201,
        ),
        (
            &sales,
            "PUT",
            "/v1/sessions/s-support/evaluation".into(),
            Some(json!({"stars": 4})),
            404,
        ),
    ];
    for (key, method, path, body, want) in cases {
        let who = if key == admin {
            "admin"
        } else if key == sales {
            "sales supervisor"
        } else {
            "operator op-1"
        };
        let (status, got) = call(&app, Some(key), method, &path, body).await;
        assert_eq!(status, want, "{who} {method} {path}: {got}");
        if status == 403 {
            assert_eq!(got["error"]["code"], "forbidden");
            assert!(
                got["error"]["message"].as_str().unwrap().contains("key '"),
                "a refusal names the key: {got}"
            );
        }
    }
    // Appeals are listed within the key's reach: a supervisor's lines, an operator's own.
    let support = create_key(
        &app,
        &[
            "--name",
            "Sue",
            "--role",
            "supervisor",
            "--lines",
            "support",
        ],
    );
    for (key, who, seen) in [
        (&sales, "sales", 1),
        (&olga, "op-1", 1),
        (&support, "support", 0),
    ] {
        let (status, list) = call(&app, Some(key), "GET", "/v1/appeals", None).await;
        assert_eq!(status, 200, "{who}: {list}");
        assert_eq!(
            list["appeals"].as_array().unwrap().len(),
            seen,
            "{who}: {list}"
        );
    }
    // The appeal decision is the admin's.
    let (_, appeals) = call(&app, Some(&admin), "GET", "/v1/appeals", None).await;
    let appeal = appeals["appeals"][0]["id"].as_str().unwrap().to_owned();
    let decision = json!({"approve": false, "note": "checked"});
    let path = format!("/v1/appeals/{appeal}/decision");
    let (status, _) = call(&app, Some(&sales), "POST", &path, Some(decision.clone())).await;
    assert_eq!(status, 403);
    let (status, body) = call(&app, Some(&admin), "POST", &path, Some(decision)).await;
    assert_eq!(status, 200, "{body}");

    // The operator's stats are their own whatever they ask for.
    let (_, stats) = call(&app, Some(&olga), "GET", "/v1/stats?by=operator", None).await;
    let keys: Vec<&str> = stats["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["op-1"], "{stats}");

    // Nothing a refused call asked for happened.
    let (status, _) = call(&app, Some(&admin), "GET", "/v1/sessions/s-new2", None).await;
    assert_eq!(status, 404);
    let (_, s) = call(&app, Some(&admin), "GET", "/v1/sessions/s-support", None).await;
    assert_eq!(s["rating"]["response"], Value::Null, "{s}");
    assert_eq!(s["closed_by"], "operator");
}

/// An operator key never changes what is counted for its own person: no client message
/// (which cancels the rating request), no answer, no line but its person's, no operator
/// but itself, and no time backdated past a little skew.
async fn an_operator_key_cannot_change_what_is_counted_for_its_person(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    world(&app).await;
    let admin = create_key(&app, &["--name", "ops", "--role", "admin"]);
    let sales = create_key(
        &app,
        &["--name", "Sam", "--role", "supervisor", "--lines", "sales"],
    );
    let olga = create_key(
        &app,
        &["--name", "Olga", "--role", "operator", "--person", "op-1"],
    );
    let open = |id: &str, line: &str, op: &str, extra: Value| {
        let mut body = json!({"id": id, "line_id": line, "channel": "webhook",
                              "client": {"id": "c-9"}, "operator_id": op});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let refused = [
        (
            open("s-x1", "support", "op-1", json!({})),
            "works on lines sales, not line 'support'",
        ),
        (
            open("s-x2", "sales", "op-2", json!({})),
            "acts only as that operator",
        ),
        (
            open(
                "s-x3",
                "sales",
                "op-1",
                json!({"opened_at": "2026-11-21T07:00:00Z"}),
            ),
            "reports events as they happen",
        ),
    ];
    for (body, why) in refused {
        let (status, got) = call(&app, Some(&olga), "POST", "/v1/sessions", Some(body)).await;
        assert_eq!(status, 403, "{got}");
        assert!(
            got["error"]["message"].as_str().unwrap().contains(why),
            "{got}"
        );
    }
    let (status, got) = call(
        &app,
        Some(&olga),
        "POST",
        "/v1/sessions",
        Some(open("s-o1", "sales", "op-1", json!({}))),
    )
    .await;
    assert_eq!(status, 201, "{got}");
    let close_at = |at: &str| json!({"closed_by": "operator", "at": at});
    let (status, got) = call(
        &app,
        Some(&olga),
        "POST",
        "/v1/sessions/s-o1/close",
        Some(close_at("2026-11-21T08:00:00Z")),
    )
    .await;
    assert_eq!(
        status, 403,
        "a close backdated past the send deadline: {got}"
    );
    let (status, got) = call(
        &app,
        Some(&olga),
        "POST",
        "/v1/sessions/s-o1/close",
        Some(json!({"closed_by": "operator"})),
    )
    .await;
    assert_eq!(status, 202, "{got}");
    let request = got["rating_request"]["id"].as_str().unwrap().to_owned();
    app.wait_for_status("s-o1", "sent").await;
    // The client's message and the client's answer are not the operator's to report.
    let (status, got) = call(
        &app,
        Some(&olga),
        "POST",
        "/v1/sessions/s-o1/messages",
        Some(json!({"from": "client"})),
    )
    .await;
    assert_eq!(status, 403, "{got}");
    let (status, got) = call(
        &app,
        Some(&olga),
        "POST",
        "/v1/ratings",
        Some(json!({"request_id": request, "value": 1})),
    )
    .await;
    assert_eq!(status, 403, "{got}");
    let (status, _) = call(
        &app,
        Some(&olga),
        "POST",
        "/v1/sessions/s-o1/messages",
        Some(json!({"from": "operator"})),
    )
    .await;
    assert_eq!(status, 202, "an operator's own message is theirs to report");
    let (_, s) = call(&app, Some(&admin), "GET", "/v1/sessions/s-o1", None).await;
    assert_eq!(s["rating_request"]["status"], "sent", "{s}");
    assert_eq!(s["rating"], Value::Null, "{s}");
    for refused in ["s-x1", "s-x2", "s-x3"] {
        let (status, _) = call(
            &app,
            Some(&admin),
            "GET",
            &format!("/v1/sessions/{refused}"),
            None,
        )
        .await;
        assert_eq!(status, 404, "{refused} was opened");
    }
    // The integration's supervisor key reports clients as before.
    let (status, _) = call(
        &app,
        Some(&sales),
        "POST",
        "/v1/sessions/s-o1/messages",
        Some(json!({"from": "client"})),
    )
    .await;
    assert_eq!(status, 202);
}

/// A key gets the same answer for an id it may not see as for one that does not exist,
/// and no refusal names another line.
async fn a_key_cannot_tell_an_unseen_id_from_a_missing_one(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    let (_, support_rating) = world(&app).await;
    let sales = create_key(
        &app,
        &["--name", "Sam", "--role", "supervisor", "--lines", "sales"],
    );
    let olga = create_key(
        &app,
        &["--name", "Olga", "--role", "operator", "--person", "op-1"],
    );
    let ghost_rating = "019a0000-0000-7000-8000-000000000000";
    for (key, method, unseen, missing, body) in [
        (
            &sales,
            "GET",
            "/v1/sessions/s-support".to_owned(),
            "/v1/sessions/s-ghost".to_owned(),
            None,
        ),
        (
            &sales,
            "POST",
            "/v1/sessions/s-support/close".to_owned(),
            "/v1/sessions/s-ghost/close".to_owned(),
            Some(json!({"closed_by": "operator"})),
        ),
        (
            &sales,
            "PUT",
            format!("/v1/ratings/{support_rating}/response"),
            format!("/v1/ratings/{ghost_rating}/response"),
            Some(json!({"text": "Sorry"})),
        ),
        (
            &sales,
            "PUT",
            format!("/v1/ratings/{support_rating}/comment-flag"),
            format!("/v1/ratings/{ghost_rating}/comment-flag"),
            Some(json!({"abusive": true})),
        ),
        (
            &olga,
            "POST",
            format!("/v1/ratings/{support_rating}/appeal"),
            format!("/v1/ratings/{ghost_rating}/appeal"),
            Some(json!({"reason": "not mine"})),
        ),
        (
            &sales,
            "POST",
            "/v1/sessions/s-support/webchat-token".to_owned(),
            "/v1/sessions/s-ghost/webchat-token".to_owned(),
            None,
        ),
    ] {
        let (s1, b1) = call(&app, Some(key), method, &unseen, body.clone()).await;
        let (s2, b2) = call(&app, Some(key), method, &missing, body).await;
        assert_eq!((s1, s2), (404, 404), "{unseen}: {b1} / {missing}: {b2}");
        let same = |b: &Value, id: &str| b.to_string().replace(id, "ID");
        assert_eq!(
            same(
                &b1,
                if unseen.contains("sessions") {
                    "s-support"
                } else {
                    &support_rating
                }
            ),
            same(
                &b2,
                if missing.contains("sessions") {
                    "s-ghost"
                } else {
                    ghost_rating
                }
            ),
            "{unseen} is told apart from {missing}"
        );
        assert!(!b1.to_string().contains("'support'"), "{b1}");
    }
}

crate::common::on_both_backends!(
    an_operator_key_cannot_change_what_is_counted_for_its_person,
    a_key_cannot_tell_an_unseen_id_from_a_missing_one,
    every_call_needs_a_valid_key_once_one_exists,
    each_role_reaches_what_it_may_and_nothing_else,
);

#[test]
fn keys_are_checked_when_made() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    assert!(rateline(&url, &["migrate"]).status.success());
    for (args, error) in [
        (
            vec!["--name", "x", "--role", "operator"],
            "--person is required",
        ),
        (
            vec!["--name", "x", "--role", "operator", "--person", "ghost"],
            "person 'ghost' does not exist",
        ),
        (
            vec!["--name", "x", "--role", "admin", "--lines", "a"],
            "--lines is for supervisor keys only",
        ),
        (
            vec!["--name", " ", "--role", "admin"],
            "--name must be 1 to 200 characters",
        ),
    ] {
        let mut all = vec!["keys", "create"];
        all.extend(args);
        let out = rateline(&url, &all);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(error), "{stderr}");
    }
    let out = rateline(&url, &["keys", "revoke", "nope"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no key 'nope'"));
}

#[test]
fn serve_refuses_a_network_address_without_keys() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_rateline"))
        .arg("serve")
        .env("RATELINE__DATABASE__URL", &url)
        .env("RATELINE__SERVER__ADDR", "0.0.0.0:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is not a loopback address and no API key or password exists"),
        "{stderr}"
    );
    // check-config says so before anyone tries.
    let out = Command::new(env!("CARGO_BIN_EXE_rateline"))
        .arg("check-config")
        .env("RATELINE__DATABASE__URL", &url)
        .env("RATELINE__SERVER__ADDR", "0.0.0.0:8080")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("`serve` will refuse to start"), "{all}");
    // With a key, it starts there.
    let key = rateline(
        &url,
        &["keys", "create", "--name", "ops", "--role", "admin"],
    );
    assert!(key.status.success());
    let out = Command::new(env!("CARGO_BIN_EXE_rateline"))
        .arg("check-config")
        .env("RATELINE__DATABASE__URL", &url)
        .env("RATELINE__SERVER__ADDR", "0.0.0.0:8080")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
