//! Reading, listing and changing lines and people over the API: a `PATCH` (JSON Merge
//! Patch) changes what it names and keeps the rest, a `PUT` replaces the whole, every
//! answer carries the version as its `ETag`, and a write that names an old version in
//! `If-Match` is refused with 412 and changes nothing. Lists keep to the caller's reach.

use crate::common::{Db, SECRET, TestApp, create_key, spawn_app};
use serde_json::{Value, json};

/// A call that shows its `ETag`: (status, ETag, body).
pub(crate) async fn tagged(
    app: &TestApp,
    method: &str,
    path: &str,
    if_match: Option<&str>,
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = app.http.request(method, app.url(path));
    if let Some(tag) = if_match {
        req = req.header("if-match", tag);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/merge-patch+json")
            .body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let tag = resp
        .headers()
        .get("etag")
        .map(|t| t.to_str().unwrap().to_owned());
    (status, tag, resp.json().await.unwrap())
}

fn sales(app: &TestApp) -> Value {
    json!({
        "name": "Sales",
        "rating": {"delay_seconds": 5, "scale": "five_star"},
        "notify_low": [{"kind": "supervisor", "id": "sup-olga"}],
        "webhook": {"url": app.connector.url, "secret": SECRET},
    })
}

async fn a_patch_changes_what_it_names_and_keeps_the_rest(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (status, tag, _) = tagged(&app, "PUT", "/v1/lines/sales", None, Some(sales(&app))).await;
    assert_eq!((status, tag.as_deref()), (201, Some("\"1\"")));

    let patch = json!({"rating": {"delay_seconds": 7}});
    let (status, tag, line) = tagged(&app, "PATCH", "/v1/lines/sales", None, Some(patch)).await;
    assert_eq!(status, 200, "{line}");
    assert_eq!(tag.as_deref(), Some("\"2\""));
    assert_eq!(line["version"], 2);
    assert_eq!(line["rating"]["delay_seconds"], 7);
    assert_eq!(line["rating"]["scale"], "five_star", "kept: {line}");
    assert_eq!(line["notify_low"][0]["id"], "sup-olga", "kept: {line}");
    assert_eq!(line["webhook"]["url"], app.connector.url.as_str());
    assert!(!line.to_string().contains(SECRET), "never shown: {line}");
    // The secret was kept too: the line still takes webhook sessions, and signs to them.
    app.open("s1", "sales", "op-1").await;
    app.close("s1").await;
    app.advance(chrono::Duration::seconds(8));
    app.wait_for_status("s1", "sent").await;
    assert!(app.connector.received().iter().all(|r| r.signature_ok));

    // null puts a setting back to its default.
    let (status, _, line) = tagged(
        &app,
        "PATCH",
        "/v1/lines/sales",
        None,
        Some(json!({"notify_low": null})),
    )
    .await;
    assert_eq!(status, 200, "{line}");
    assert_eq!(line["notify_low"], json!([]));
    assert_eq!(line["rating"]["delay_seconds"], 7);

    // A bad value is refused as a PUT's is, and nothing changes.
    for (patch, want, field) in [
        (
            json!({"rating": {"delay_seconds": 99999}}),
            422,
            "rating.delay_seconds",
        ),
        (
            json!({"rating": {"delay_seconds": "soon"}}),
            400,
            "rating.delay_seconds",
        ),
        (json!({"ratting": {}}), 400, ""),
    ] {
        let (status, _, body) = tagged(&app, "PATCH", "/v1/lines/sales", None, Some(patch)).await;
        assert_eq!(status, want, "{body}");
        if !field.is_empty() {
            assert_eq!(body["error"]["field"], field, "{body}");
        }
    }
    let (status, _, body) = tagged(&app, "PATCH", "/v1/lines/sales", None, Some(json!([1]))).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("JSON Merge Patch"),
        "{body}"
    );
    let (_, tag, line) = tagged(&app, "GET", "/v1/lines/sales", None, None).await;
    assert_eq!(tag.as_deref(), Some("\"3\""), "nothing refused was written");
    assert_eq!(line["rating"]["delay_seconds"], 7);
    let (status, _, body) = tagged(
        &app,
        "PATCH",
        "/v1/lines/nowhere",
        None,
        Some(json!({"name": "X"})),
    )
    .await;
    assert_eq!(status, 404, "{body}");

    // A PUT replaces the whole: what it leaves out takes its default.
    let (status, _, line) = tagged(
        &app,
        "PUT",
        "/v1/lines/sales",
        None,
        Some(json!({"name": "Sales", "webhook": {"url": app.connector.url}})),
    )
    .await;
    assert_eq!(status, 200, "{line}");
    assert_eq!(line["rating"]["delay_seconds"], 3, "the default: {line}");

    // A person: the e-mail address changed, the rest kept.
    let (status, _, _) = tagged(
        &app,
        "PUT",
        "/v1/people/sup-olga",
        None,
        Some(
            json!({"name": "Olga", "role": "supervisor", "lines": ["sales"],
                    "notify": {"telegram_chat_id": 42}}),
        ),
    )
    .await;
    assert_eq!(status, 201);
    let (status, tag, person) = tagged(
        &app,
        "PATCH",
        "/v1/people/sup-olga",
        None,
        Some(json!({"notify": {"email": "olga@example.com"}})),
    )
    .await;
    assert_eq!(status, 200, "{person}");
    assert_eq!(tag.as_deref(), Some("\"2\""));
    assert_eq!(person["notify"]["email"], "olga@example.com");
    assert_eq!(person["notify"]["telegram_chat_id"], 42, "kept: {person}");
    assert_eq!(person["role"], "supervisor");
    assert_eq!(person["lines"], json!(["sales"]));
    let (status, _, body) = tagged(
        &app,
        "PATCH",
        "/v1/people/sup-olga",
        None,
        Some(json!({"notify": {"email": "not an address"}})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "notify.email");
}

async fn a_write_for_an_old_version_is_refused(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    tagged(&app, "PUT", "/v1/lines/sales", None, Some(sales(&app))).await;
    let (_, first, _) = tagged(&app, "GET", "/v1/lines/sales", None, None).await;
    let first = first.unwrap();
    // Two admins read version 1; the first change goes in…
    let (status, second, _) = tagged(
        &app,
        "PATCH",
        "/v1/lines/sales",
        Some(&first),
        Some(json!({"rating": {"delay_seconds": 7}})),
    )
    .await;
    assert_eq!((status, second.as_deref()), (200, Some("\"2\"")));
    // …the second, made on version 1, is refused and names the current version.
    for method in ["PATCH", "PUT"] {
        let body = if method == "PUT" {
            sales(&app)
        } else {
            json!({"rating": {"delay_seconds": 9}})
        };
        let (status, tag, error) =
            tagged(&app, method, "/v1/lines/sales", Some(&first), Some(body)).await;
        assert_eq!(status, 412, "{method}: {error}");
        assert_eq!(error["error"]["code"], "precondition_failed");
        assert_eq!(tag, second, "{method}: the current ETag");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("If-Match: \"2\""),
            "{error}"
        );
    }
    let (_, _, line) = tagged(&app, "GET", "/v1/lines/sales", None, None).await;
    assert_eq!(
        line["rating"]["delay_seconds"], 7,
        "nothing was overwritten"
    );
    // An If-Match that names no version, or a line that does not exist, matches nothing.
    let (status, _, _) = tagged(
        &app,
        "PATCH",
        "/v1/lines/sales",
        Some("W/\"2\""),
        Some(json!({"name": "X"})),
    )
    .await;
    assert_eq!(status, 412);
    let (status, _, _) = tagged(
        &app,
        "PUT",
        "/v1/lines/new",
        Some("\"1\""),
        Some(sales(&app)),
    )
    .await;
    assert_eq!(status, 412);
    let (status, _, _) = tagged(&app, "GET", "/v1/lines/new", None, None).await;
    assert_eq!(status, 404, "not created");
    // The current version goes in.
    let (status, tag, _) = tagged(
        &app,
        "PUT",
        "/v1/lines/sales",
        second.as_deref(),
        Some(sales(&app)),
    )
    .await;
    assert_eq!((status, tag.as_deref()), (200, Some("\"3\"")));

    // People the same way.
    let olga = json!({"name": "Olga", "role": "supervisor"});
    let (_, v1, _) = tagged(&app, "PUT", "/v1/people/sup-olga", None, Some(olga.clone())).await;
    tagged(
        &app,
        "PATCH",
        "/v1/people/sup-olga",
        v1.as_deref(),
        Some(json!({"name": "Olga K."})),
    )
    .await;
    let (status, tag, error) = tagged(
        &app,
        "PATCH",
        "/v1/people/sup-olga",
        v1.as_deref(),
        Some(json!({"name": "Olga B."})),
    )
    .await;
    assert_eq!(status, 412, "{error}");
    assert_eq!(tag.as_deref(), Some("\"2\""));
    let (_, _, person) = tagged(&app, "GET", "/v1/people/sup-olga", None, None).await;
    assert_eq!(person["name"], "Olga K.");
}

async fn lists_and_reads_keep_to_the_callers_reach(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    for line in ["sales", "support"] {
        app.line(line, json!({})).await;
    }
    for (id, body) in [
        (
            "sup-olga",
            json!({"name": "Olga", "role": "supervisor", "lines": ["sales"]}),
        ),
        (
            "op-1",
            json!({"name": "Ben", "role": "operator", "lines": ["sales"]}),
        ),
    ] {
        let (status, body) = app.put(&format!("/v1/people/{id}"), body).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = app
        .put(
            "/v1/groups/leads",
            json!({"name": "Leads", "members": ["sup-olga", "op-1"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let admin = create_key(&app, &["--name", "ops", "--role", "admin"]);
    let supervisor = create_key(
        &app,
        &["--name", "olga", "--role", "supervisor", "--lines", "sales"],
    );
    let operator = create_key(
        &app,
        &["--name", "ben", "--role", "operator", "--person", "op-1"],
    );
    let ids = |body: &Value| -> Vec<String> {
        body["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, all) = app.call_as(Some(&admin), "GET", "/v1/lines", None).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(ids(&all), ["sales", "support"]);
    assert_eq!(all["lines"][0]["version"], 1);
    let (_, mine) = app
        .call_as(Some(&supervisor), "GET", "/v1/lines", None)
        .await;
    assert_eq!(ids(&mine), ["sales"]);
    let (_, none) = app.call_as(Some(&operator), "GET", "/v1/lines", None).await;
    assert_eq!(ids(&none), Vec::<String>::new(), "{none}");
    // A person: admins read anyone, a person's own key reads them; nobody else.
    let (status, body) = app
        .call_as(Some(&operator), "GET", "/v1/people/op-1", None)
        .await;
    assert_eq!(
        (status, body["name"].clone()),
        (200, json!("Ben")),
        "{body}"
    );
    let (status, body) = app
        .call_as(Some(&operator), "GET", "/v1/people/sup-olga", None)
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = app
        .call_as(Some(&supervisor), "GET", "/v1/people/op-1", None)
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = app
        .call_as(Some(&admin), "GET", "/v1/people/nobody", None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("person_not_found"))
    );
    // Groups: admins read them, members by id.
    let (status, groups) = app.call_as(Some(&admin), "GET", "/v1/groups", None).await;
    assert_eq!(status, 200, "{groups}");
    assert_eq!(
        groups["groups"],
        json!([{"id": "leads", "name": "Leads", "members": ["op-1", "sup-olga"], "managed_by": "api"}])
    );
    let (status, group) = app
        .call_as(Some(&admin), "GET", "/v1/groups/leads", None)
        .await;
    assert_eq!(
        (status, group["name"].clone()),
        (200, json!("Leads")),
        "{group}"
    );
    let (status, body) = app
        .call_as(Some(&admin), "GET", "/v1/groups/nobody", None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("group_not_found"))
    );
    let (status, body) = app
        .call_as(Some(&supervisor), "GET", "/v1/groups", None)
        .await;
    assert_eq!(status, 403, "{body}");
    // Changing needs an admin.
    let (status, body) = app
        .call_as(
            Some(&supervisor),
            "PATCH",
            "/v1/lines/sales",
            Some(json!({"name": "Mine"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
}

/// A retired line takes no new session, a deactivated person hears of no low rating and
/// cannot sign in; history and the report stay as they were, and both come back.
async fn a_line_retires_and_a_person_is_deactivated(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (status, body) = app
        .put(
            "/v1/people/sup-olga",
            json!({"name": "Olga", "role": "supervisor", "lines": ["sales"],
                   "notify": {"webhook_url": app.connector.url, "webhook_secret": SECRET}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, _, line) = tagged(&app, "PUT", "/v1/lines/sales", None, Some(sales(&app))).await;
    assert_eq!(status, 201, "{line}");
    assert_eq!(line["active"], true);
    let no_delay = json!({"rating": {"delay_seconds": 0}});
    tagged(&app, "PATCH", "/v1/lines/sales", None, Some(no_delay)).await;
    app.rated("s1", "sales", "op-1", 1).await;
    let (_, before) = app.get("/v1/stats?line=sales").await;

    // Retired: no new session; the report is as it was.
    let (status, _, line) = tagged(
        &app,
        "PATCH",
        "/v1/lines/sales",
        None,
        Some(json!({"active": false})),
    )
    .await;
    assert_eq!(
        (status, line["active"].clone()),
        (200, json!(false)),
        "{line}"
    );
    let (status, body) = app
        .post(
            "/v1/sessions",
            json!({"id": "s2", "line_id": "sales", "channel": "webhook",
                   "client": {"id": "c-2"}, "operator_id": "op-1"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "line_retired");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"active\": true"),
        "{body}"
    );
    let (_, after) = app.get("/v1/stats?line=sales").await;
    assert_eq!(before, after, "history and reports stay");
    tagged(
        &app,
        "PATCH",
        "/v1/lines/sales",
        None,
        Some(json!({"active": true})),
    )
    .await;
    app.open("s3", "sales", "op-1").await;

    // Deactivated: the next low rating's alert skips her, and the line says why.
    let (status, _, olga) = tagged(
        &app,
        "PATCH",
        "/v1/people/sup-olga",
        None,
        Some(json!({"active": false})),
    )
    .await;
    assert_eq!(
        (status, olga["active"].clone()),
        (200, json!(false)),
        "{olga}"
    );
    let (_, line) = app.get("/v1/lines/sales").await;
    assert!(
        line["alerts"]["problems"]
            .to_string()
            .contains("person 'sup-olga' is deactivated"),
        "{line}"
    );
    app.close("s3").await;
    app.wait_for_status("s3", "sent").await;
    let (_, body) = app.get("/v1/sessions/s3").await;
    let request = body["rating_request"]["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post("/v1/ratings", json!({"request_id": request, "value": 1}))
        .await;
    assert_eq!(status, 201, "{body}");
    app.settle().await;
    let (_, alerts) = app.get("/v1/alerts?line=sales").await;
    let for_s3: Vec<_> = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["session_id"] == "s3")
        .map(|a| (a["status"].clone(), a["last_error"].clone()))
        .collect();
    assert_eq!(
        for_s3,
        [(json!("skipped"), json!("person 'sup-olga' is deactivated"))],
        "{alerts}"
    );

    // …and she cannot sign in, nor be invited, until she is turned back on.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rateline"))
        .args(["people", "invite", "sup-olga"])
        .env("RATELINE__DATABASE__URL", &app.db.url)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("is deactivated"),
        "{said}"
    );
    tagged(
        &app,
        "PATCH",
        "/v1/people/sup-olga",
        None,
        Some(json!({"active": true})),
    )
    .await;
    let link = crate::common::rateline(&app, &["people", "invite", "sup-olga"]);
    let path = crate::people::path_of(&link);
    let (status, headers, _) = crate::people::set_password(
        &app,
        &path,
        crate::people::PASSWORD,
        crate::people::PASSWORD,
    )
    .await;
    assert_eq!(status, 303);
    let cookie = crate::dashboard::cookie_of(&headers).unwrap();
    let admin = crate::people::close_with_a_key(&app).await;
    let (status, _) = crate::dashboard::text(&app, "/dashboard/inbox", Some(&cookie)).await;
    assert_eq!(status, 200);
    let (status, body) = app
        .call_as(
            Some(&admin),
            "PATCH",
            "/v1/people/sup-olga",
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = crate::dashboard::text(&app, "/dashboard/inbox", Some(&cookie)).await;
    assert_eq!(status, 401, "her sign-in ended");
    let (status, _, page) =
        crate::people::sign_in(&app, "sup-olga", crate::people::PASSWORD, "/dashboard").await;
    assert_eq!(status, 401, "{page}");
}

/// An admin makes a key over the API (shown once), lists it and revokes it; the key works
/// until then. Nobody else manages keys.
async fn keys_are_made_listed_and_revoked_over_the_api(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (status, body) = app
        .put(
            "/v1/people/op-1",
            json!({"name": "Ben", "role": "operator"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let admin = create_key(&app, &["--name", "ops", "--role", "admin"]);
    let (status, made) = app
        .call_as(
            Some(&admin),
            "POST",
            "/v1/keys",
            Some(json!({"name": "CRM sync", "role": "supervisor", "lines": ["sales"]})),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let key = made["key"].as_str().unwrap().to_owned();
    let id = made["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with(&format!("rl_{id}_")), "{made}");
    let (status, _) = app.call_as(Some(&key), "GET", "/v1/lines", None).await;
    assert_eq!(status, 200, "the new key works");
    // Listed without its secret; refused as it breaks a rule.
    let (_, list) = app.call_as(Some(&admin), "GET", "/v1/keys", None).await;
    assert!(!list.to_string().contains(&key[12..]), "{list}");
    let mut names: Vec<_> = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["CRM sync", "ops"]);
    for (body, field) in [
        (json!({"name": "x", "role": "operator"}), "person_id"),
        (
            json!({"name": "x", "role": "admin", "lines": ["a"]}),
            "lines",
        ),
        (
            json!({"name": "x", "role": "operator", "person_id": "ghost"}),
            "person_id",
        ),
        (json!({"name": " ", "role": "admin"}), "name"),
    ] {
        let (status, error) = app
            .call_as(Some(&admin), "POST", "/v1/keys", Some(body))
            .await;
        assert_eq!(
            (status, error["error"]["field"].clone()),
            (422, json!(field)),
            "{error}"
        );
    }
    let (status, body) = app
        .call_as(
            Some(&key),
            "POST",
            "/v1/keys",
            Some(json!({"name": "mine", "role": "admin"})),
        )
        .await;
    assert_eq!(status, 403, "a supervisor makes no keys: {body}");
    // Revoked: refused from then on, and marked in the list.
    let (status, revoked) = app
        .call_as(Some(&admin), "DELETE", &format!("/v1/keys/{id}"), None)
        .await;
    assert_eq!(status, 200, "{revoked}");
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    let (status, body) = app.call_as(Some(&key), "GET", "/v1/lines", None).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (401, json!("key_revoked"))
    );
    let (status, body) = app
        .call_as(Some(&admin), "DELETE", "/v1/keys/nope", None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("key_not_found"))
    );
}

/// A line that alerts the responsible manager names each of its operators who has none, or
/// whose manager cannot be reached: over the API and in `check-config`.
async fn the_check_names_operators_without_a_reachable_manager(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    for (id, body) in [
        (
            "mgr-quiet",
            json!({"name": "Mira", "role": "supervisor",
                             "notify": {"email": "mira@example.com"}, "notifications_enabled": false}),
        ),
        (
            "op-1",
            json!({"name": "Ben", "role": "operator", "lines": ["sales"]}),
        ),
        (
            "op-2",
            json!({"name": "Ada", "role": "operator", "lines": ["sales"], "manager_id": "mgr-quiet"}),
        ),
        (
            "op-3",
            json!({"name": "Cy", "role": "operator", "lines": ["support"]}),
        ),
    ] {
        let (status, body) = app.put(&format!("/v1/people/{id}"), body).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = app
        .put(
            "/v1/lines/sales",
            json!({"name": "Sales", "notify_low": [{"kind": "responsible_manager"}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, line) = app.get("/v1/lines/sales").await;
    let alerts = &line["alerts"];
    assert_eq!(alerts["operators"], json!(["op-1", "op-2"]), "{line}");
    let problems = alerts["problems"].to_string();
    assert!(
        problems.contains("operator 'op-1' has no manager_id"),
        "{problems}"
    );
    assert!(
        problems.contains(
            "the responsible manager of operator 'op-2': person 'mgr-quiet' has notifications switched off"
        ),
        "{problems}"
    );
    assert!(
        !problems.contains("op-3"),
        "another line's operator: {problems}"
    );
    let said = crate::common::rateline(&app, &["check-config"]);
    assert!(
        said.contains("warning: line 'sales': operator 'op-1' has no manager_id"),
        "{said}"
    );
}

/// People and groups from the config file are stored at the start and read-only over
/// HTTP, as the file's lines are.
async fn the_files_people_and_groups_are_read_only_over_http(db: Db) {
    let Some(app) = crate::common::spawn_app_with(db, |s| {
        s.people = vec![
            json!({"id": "sup-olga", "name": "Olga", "role": "supervisor",
                   "notify": {"email": "olga@example.com"}}),
            json!({"id": "op-1", "name": "Ben", "role": "operator", "manager_id": "sup-olga"}),
        ];
        s.groups = vec![json!({"id": "leads", "name": "Leads", "members": ["sup-olga"]})];
    })
    .await
    else {
        return;
    };
    let (status, olga) = app.get("/v1/people/sup-olga").await;
    assert_eq!(status, 200, "{olga}");
    assert_eq!(olga["managed_by"], "config");
    assert_eq!(olga["notify"]["email"], "olga@example.com");
    let (_, group) = app.get("/v1/groups/leads").await;
    assert_eq!(
        (group["managed_by"].clone(), group["members"].clone()),
        (json!("config"), json!(["sup-olga"]))
    );
    for (method, path, body, code) in [
        (
            "PUT",
            "/v1/people/op-1",
            json!({"name": "B", "role": "operator"}),
            "person_managed_by_config",
        ),
        (
            "PATCH",
            "/v1/people/op-1",
            json!({"name": "B"}),
            "person_managed_by_config",
        ),
        (
            "PUT",
            "/v1/people/op-1/time-zone",
            json!({"time_zone": "UTC"}),
            "person_managed_by_config",
        ),
        (
            "PUT",
            "/v1/groups/leads",
            json!({"name": "L", "members": []}),
            "group_managed_by_config",
        ),
    ] {
        let (status, error) = app.call(method, path, Some(body)).await;
        assert_eq!(
            (status, error["error"]["code"].clone()),
            (409, json!(code)),
            "{method} {path}"
        );
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("change it there and restart"),
            "{error}"
        );
    }
    let (_, ben) = app.get("/v1/people/op-1").await;
    assert_eq!(ben["name"], "Ben", "nothing changed");
    // People the API made stay the API's.
    let (status, body) = app
        .put(
            "/v1/people/op-2",
            json!({"name": "Ada", "role": "operator"}),
        )
        .await;
    assert_eq!((status, body["managed_by"].clone()), (201, json!("api")));
}

/// Every change to a line, a person or a key is in the audit log, with who made it and each
/// field before and after; a secret only as "(secret)". Admins read it, over the API and on
/// its page.
async fn every_change_is_in_the_audit_log(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let admin = create_key(&app, &["--name", "ops", "--role", "admin"]);
    let admin_id = admin[3..11].to_owned();
    let call = |method: &'static str, path: &'static str, body: Option<Value>| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let (status, body) = app.call_as(Some(&admin), method, path, body).await;
            assert!(status < 300, "{method} {path}: {status} {body}");
            body
        }
    };
    call("PUT", "/v1/lines/sales", Some(sales(&app))).await;
    call(
        "PATCH",
        "/v1/lines/sales",
        Some(json!({"rating": {"delay_seconds": 7}})),
    )
    .await;
    let hook = json!({"webhook_url": app.connector.url, "webhook_secret": "first secret of 20+"});
    call(
        "PUT",
        "/v1/people/sup-olga",
        Some(json!({"name": "Olga", "role": "supervisor", "notify": hook})),
    )
    .await;
    call(
        "PATCH",
        "/v1/people/sup-olga",
        Some(json!({"notify": {"webhook_secret": "second secret of 20+"}})),
    )
    .await;
    let made = call(
        "POST",
        "/v1/keys",
        Some(json!({"name": "CRM", "role": "supervisor"})),
    )
    .await;
    let key_id = made["id"].as_str().unwrap().to_owned();
    let revoke = format!("/v1/keys/{key_id}");
    let (status, _) = app.call_as(Some(&admin), "DELETE", &revoke, None).await;
    assert_eq!(status, 200);

    let log = call("GET", "/v1/audit", None).await;
    let text = log.to_string();
    assert!(
        !text.contains("secret of 20+") && !text.contains(SECRET),
        "no secret's value: {text}"
    );
    let entries = log["entries"].as_array().unwrap();
    let summary: Vec<_> = entries
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {}",
                e["actor"].as_str().unwrap(),
                e["kind"].as_str().unwrap(),
                e["subject"].as_str().unwrap(),
                e["action"].as_str().unwrap()
            )
        })
        .collect();
    let by = format!("key {admin_id}");
    // The admin key itself was made on the command line (its own clock, not the test's).
    assert!(
        summary.contains(&format!("no key key {admin_id} created")),
        "{summary:?}"
    );
    let entries: Vec<_> = entries.iter().filter(|e| e["actor"] != "no key").collect();
    let summary: Vec<_> = summary
        .into_iter()
        .filter(|s| !s.starts_with("no key"))
        .collect();
    assert_eq!(
        summary,
        [
            format!("{by} key {key_id} revoked"),
            format!("{by} key {key_id} created"),
            format!("{by} person sup-olga changed"),
            format!("{by} person sup-olga created"),
            format!("{by} line sales changed"),
            format!("{by} line sales created"),
        ]
    );
    // The line's change: only the delay, 5 → 7; the person's: the secret, masked.
    assert_eq!(
        entries[4]["changes"],
        json!([{"field": "rating.delay_seconds", "before": 5, "after": 7}])
    );
    assert_eq!(
        entries[2]["changes"],
        json!([{"field": "notify.webhook_secret", "before": "(secret)", "after": "(secret)"}])
    );
    let only = call("GET", "/v1/audit?kind=line&subject=sales&limit=1", None).await;
    assert_eq!(only["entries"].as_array().unwrap().len(), 1);
    assert_eq!(only["entries"][0]["action"], "changed");
    let (status, body) = app
        .call_as(Some(&admin), "GET", "/v1/audit?kind=moon", None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("invalid_parameter"))
    );
    let supervisor = create_key(&app, &["--name", "sam", "--role", "supervisor"]);
    let (status, _) = app
        .call_as(Some(&supervisor), "GET", "/v1/audit", None)
        .await;
    assert_eq!(status, 403);

    // The page, for an admin signed in.
    let (_, cookie) = crate::dashboard::sign_in(&app, &admin).await;
    let (status, page) = crate::dashboard::text(&app, "/dashboard/audit", Some(&cookie)).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("<code>rating.delay_seconds</code>: 5 → 7"),
        "{page}"
    );
    assert!(!page.contains("secret of 20+"), "{page}");
}

crate::common::on_both_backends!(
    every_change_is_in_the_audit_log,
    the_files_people_and_groups_are_read_only_over_http,
    the_check_names_operators_without_a_reachable_manager,
    keys_are_made_listed_and_revoked_over_the_api,
    a_line_retires_and_a_person_is_deactivated,
    a_patch_changes_what_it_names_and_keeps_the_rest,
    a_write_for_an_old_version_is_refused,
    lists_and_reads_keep_to_the_callers_reach,
);
