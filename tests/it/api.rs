//! The API's edges: bad input gets a clear error and changes nothing; duplicates are no-ops.

use crate::common::{Db, SECRET, spawn_app};
use chrono::Duration;
use serde_json::{Value, json};

async fn unknown_lines_and_sessions_are_404_with_a_hint(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (status, body) = app
        .post(
            "/v1/sessions",
            json!({"id": "s-1", "line_id": "nope", "channel": "webhook", "client": {"id": "c"}}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "line_not_found");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("PUT /v1/lines/nope")
    );
    for path in ["/v1/sessions/nope/close", "/v1/sessions/nope/messages"] {
        let payload = if path.ends_with("close") {
            json!({"closed_by": "operator"})
        } else {
            json!({"from": "client"})
        };
        let (status, body) = app.post(path, payload).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "session_not_found");
    }
    let (status, body) = app.get("/v1/sessions/nope").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("session_not_found"))
    );
    let (status, body) = app.get("/v1/lines/nope").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("line_not_found"))
    );
}

async fn malformed_bodies_are_400_naming_the_field_and_store_nothing(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({})).await;
    let raw = app
        .http
        .post(app.url("/v1/sessions"))
        .header("content-type", "application/json")
        .body("{\"id\": \"s-1\", ")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let body: Value = raw.json().await.unwrap();
    assert_eq!(body["error"]["code"], "malformed_json");

    let cases = [
        (
            json!({"id": "s-1", "line_id": "support", "channel": "webhook", "client": {"id": 7}}),
            "client.id",
        ),
        (
            json!({"id": "s-1", "line_id": "support", "channel": "fax", "client": {"id": "c"}}),
            "channel",
        ),
        (
            json!({"id": "s-1", "line_id": "support", "channel": "webhook", "client": {"id": "c"}, "opened": 1}),
            "opened",
        ),
        (
            json!({"id": "s-1", "line_id": "support", "channel": "webhook"}),
            "client",
        ),
    ];
    for (payload, field) in cases {
        let (status, body) = app.post("/v1/sessions", payload).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "invalid_field");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(field),
            "{field}: {body}"
        );
    }
    let (status, body) = app
        .post("/v1/sessions", json!({"id": "has space", "line_id": "support", "channel": "webhook", "client": {"id": "c"}}))
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, json!("id")),
        "{body}"
    );
    let (status, body) = app
        .post("/v1/sessions", json!({"id": "s-1", "line_id": "support", "channel": "telegram", "client": {"id": "c"}}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("enabled: webhook"),
        "{body}"
    );
    let (status, _) = app.get("/v1/sessions/s-1").await;
    assert_eq!(status, 404, "nothing was stored");

    let (status, body) = app
        .post(
            "/v1/sessions",
            json!({"id": "s-1", "line_id": "support", "channel": "webhook",
                                     "client": {"id": "c"}, "opened_at": "2030-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, json!("opened_at")),
        "{body}"
    );

    // A close before 1970 is no event Rateline could have heard of: refused, still open.
    app.open("s-2", "support", "op").await;
    let (status, body) = app
        .post(
            "/v1/sessions/s-2/close",
            json!({"closed_by": "operator", "at": "1969-12-31T23:59:59Z"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, json!("at")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("before 1970-01-01"),
        "{body}"
    );
    assert_eq!(app.session("s-2").await["closed_at"], Value::Null);
}

async fn a_repeated_session_or_event_changes_nothing(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 30})).await;
    app.open("s-1", "support", "op-1").await;
    let (status, body) = app
        .post(
            "/v1/sessions",
            json!({"id": "s-1", "line_id": "support", "channel": "webhook",
                                     "client": {"id": "someone-else"}, "operator_id": "op-2"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["operator_id"], "op-1");
    assert_eq!(body["client"]["id"], "client-s-1");

    app.advance(Duration::seconds(10));
    for _ in 0..2 {
        let (status, _) = app
            .post(
                "/v1/sessions/s-1/messages",
                json!({"from": "client", "at": "2026-11-21T09:00:05Z"}),
            )
            .await;
        assert_eq!(status, 202);
    }
    // An older event arriving late does not move the window back.
    app.post(
        "/v1/sessions/s-1/messages",
        json!({"from": "client", "at": "2026-11-21T09:00:02Z"}),
    )
    .await;
    let s = app.session("s-1").await;
    assert_eq!(s["last_client_message_at"], "2026-11-21T09:00:05Z");
}

async fn line_settings_are_validated_and_the_secret_is_never_shown(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (status, body) = app
        .put(
            "/v1/lines/l-1",
            json!({"name": "L", "rating": {"delay_seconds": 4000}}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "rating.delay_seconds");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("0..=3600")
    );
    let (status, body) = app
        .put(
            "/v1/lines/l-1",
            json!({"name": "L", "rating": {"delay": 4}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("delay"),
        "{body}"
    );
    let (status, body) = app
        .put(
            "/v1/lines/l-1",
            json!({"name": "L", "webhook": {"url": "https://cc.example/r"}}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, json!("webhook.secret")),
        "{body}"
    );
    let (status, _) = app.get("/v1/lines/l-1").await;
    assert_eq!(status, 404, "a refused PUT stores nothing");

    let (status, body) = app
        .put(
            "/v1/lines/l-1",
            json!({"name": "L", "webhook": {"url": "https://cc.example/r", "secret": SECRET}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(
        !body.to_string().contains(SECRET),
        "the secret must not be echoed: {body}"
    );
    assert_eq!(body["rating"]["delay_seconds"], 3, "defaults are filled in");
    // A PUT without the secret keeps the stored one.
    let (status, body) = app
        .put(
            "/v1/lines/l-1",
            json!({"name": "L2", "webhook": {"url": "https://cc.example/r2"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, line) = app.get("/v1/lines/l-1").await;
    assert_eq!(line["name"], "L2");
    assert_eq!(line["webhook"], json!({"url": "https://cc.example/r2"}));
    assert_eq!(line["managed_by"], "api");
}

async fn people_and_groups_are_stored_and_validated(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let person =
        json!({"name": "Sam", "role": "supervisor", "notify": {"email": "sam@example.com"}});
    let (status, body) = app.put("/v1/people/p-7", person.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["notifications_enabled"], true);
    let (status, _) = app.put("/v1/people/p-7", person).await;
    assert_eq!(status, 200);
    let (status, body) = app
        .put(
            "/v1/people/p-8",
            json!({"name": "X", "role": "operator", "notify": {"email": "nope"}}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, json!("notify.email"))
    );
    let (status, body) = app
        .put(
            "/v1/people/p-8",
            json!({"name": "X", "role": "operator", "time_zone": "Mars/Olympus"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "time_zone");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("an IANA name such as Europe/Berlin"),
        "{body}"
    );
    let (status, body) = app
        .put(
            "/v1/people/p-8",
            json!({"name": "X", "role": "operator", "time_zone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["time_zone"], "Europe/Berlin");
    let (status, body) = app
        .put("/v1/people/p-8", json!({"name": "X", "role": "boss"}))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = app
        .put(
            "/v1/groups/g-1",
            json!({"name": "Leads", "members": ["p-7"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn unknown_routes_methods_and_large_bodies_answer_in_the_error_shape(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (status, body) = app.get("/v1/nothing").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("no_such_endpoint"))
    );
    let (status, body) = app.call("DELETE", "/v1/sessions", None).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (405, json!("method_not_allowed"))
    );
    let big = "x".repeat(100 * 1024);
    let (status, body) = app
        .post(
            "/v1/sessions",
            json!({"id": "s", "line_id": "l", "channel": "webhook", "client": {"id": big}}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (413, json!("body_too_large"))
    );
}

/// Every `$ref` in a JSON value, depth first.
fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(r)) => found.push(r.clone()),
                    _ => references(inner, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, found)),
        _ => {}
    }
}

/// `GET /openapi.json` describes every `/v1` route the server answers, each with the
/// errors any call may get, and names no route the server does not have.
async fn the_openapi_description_covers_every_v1_route(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let resp = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    // Every reference names a schema the description holds: a client generator (and the
    // property-based run) would otherwise skip the part it describes.
    let mut refs = Vec::new();
    references(&doc, &mut refs);
    assert!(refs.len() > 50, "too few references read: {}", refs.len());
    for reference in refs {
        let name = reference.strip_prefix("#/components/schemas/").unwrap();
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{reference} names no schema"
        );
    }
    let mut described = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            described.push(format!("{} {path}", method.to_uppercase()));
            let responses = op["responses"].as_object().unwrap();
            for status in ["400", "401", "403", "429", "503"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path}: no {status}"
                );
            }
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path}: no success"
            );
            assert_eq!(op["requestBody"].is_object(), responses.contains_key("413"));
            // A header is sent or left out, never null: a client generated from the
            // description would send the text `null`.
            for param in op["parameters"].as_array().into_iter().flatten() {
                if param["in"] == "header" {
                    assert!(
                        !param["schema"].to_string().contains(r#""null""#),
                        "{method} {path}: header {} may be null",
                        param["name"]
                    );
                }
            }
            // The server has the route: a call reaches the handler, not the fallback.
            let concrete = path.replace(['{', '}'], "");
            let body = (method != "get").then(|| json!({}));
            let (status, answer) = app.call(&method.to_uppercase(), &concrete, body).await;
            assert!(
                status != 405 && answer["error"]["code"] != "no_such_endpoint",
                "{method} {path} is described but not routed: {status} {answer}"
            );
        }
    }
    described.sort();
    let expected = [
        "DELETE /v1/clients/{channel}/{id}",
        "DELETE /v1/connectors/chatwoot/{account}",
        "DELETE /v1/connectors/rocketchat/{server}",
        "DELETE /v1/connectors/zammad/{instance}",
        "DELETE /v1/keys/{key_id}",
        "DELETE /v1/subscriptions/{subscription_id}",
        "GET /v1/alerts",
        "GET /v1/appeals",
        "GET /v1/audit",
        "GET /v1/connectors",
        "GET /v1/connectors/chatwoot/{account}",
        "GET /v1/connectors/rocketchat/{server}",
        "GET /v1/connectors/zammad/{instance}",
        "GET /v1/connectors/{helpdesk}/{id}/setup",
        "GET /v1/groups",
        "GET /v1/groups/{group_id}",
        "GET /v1/keys",
        "GET /v1/lines",
        "GET /v1/lines/{line_id}",
        "GET /v1/operators/{id}/summary",
        "GET /v1/people",
        "GET /v1/people/{person_id}",
        "GET /v1/people/{person_id}/alert-pace",
        "GET /v1/ratings",
        "GET /v1/ratings/export",
        "GET /v1/sessions/{id}",
        "GET /v1/stats",
        "GET /v1/stats/hand-overs",
        "GET /v1/stats/trend",
        "GET /v1/subscriptions",
        "GET /v1/subscriptions/{subscription_id}",
        "PATCH /v1/connectors/chatwoot/{account}",
        "PATCH /v1/connectors/rocketchat/{server}",
        "PATCH /v1/connectors/zammad/{instance}",
        "PATCH /v1/lines/{line_id}",
        "PATCH /v1/people/{person_id}",
        "PATCH /v1/subscriptions/{subscription_id}",
        "POST /v1/appeals/{id}/decision",
        "POST /v1/connectors/{helpdesk}/{id}/setup",
        "POST /v1/keys",
        "POST /v1/lines/{line_id}/test-request",
        "POST /v1/people/{person_id}/invitation",
        "POST /v1/people/{person_id}/test-alert",
        "POST /v1/ratings",
        "POST /v1/ratings/actions",
        "POST /v1/ratings/{id}/appeal",
        "POST /v1/sessions",
        "POST /v1/sessions/{id}/close",
        "POST /v1/sessions/{id}/messages",
        "POST /v1/sessions/{id}/webchat-token",
        "PUT /v1/connectors/chatwoot/{account}",
        "PUT /v1/connectors/rocketchat/{server}",
        "PUT /v1/connectors/zammad/{instance}",
        "PUT /v1/groups/{group_id}",
        "PUT /v1/lines/{line_id}",
        "PUT /v1/people/{person_id}",
        "PUT /v1/people/{person_id}/alert-pace",
        "PUT /v1/people/{person_id}/time-zone",
        "PUT /v1/ratings/{id}/comment-flag",
        "PUT /v1/ratings/{id}/response",
        "PUT /v1/sessions/{id}/evaluation",
        "PUT /v1/subscriptions/{subscription_id}",
    ];
    assert_eq!(described, expected);
    // Every schema a description names exists.
    let text = doc.to_string();
    for name in text.split("#/components/schemas/").skip(1) {
        let name = name.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{name} is named but not described"
        );
    }
}

async fn health_readiness_and_metrics_are_served(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    assert_eq!(app.get("/healthz").await.0, 200);
    assert_eq!(app.get("/readyz").await, (200, json!({"status": "ready"})));
    // The server's own address leads a browser to the dashboard.
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/dashboard");
    app.line("support", json!({"delay_seconds": 0})).await;
    app.open("s-1", "support", "op-1").await;
    app.close("s-1").await;
    app.wait_for_status("s-1", "sent").await;
    let (status, metrics) = app.get("/metrics").await;
    assert_eq!(status, 200);
    let text = metrics.as_str().unwrap();
    for needle in [
        "rateline_rating_requests_total{status=\"sent\"} 1",
        "rateline_send_outcomes_total{channel=\"webhook\",outcome=\"accepted\"} 1",
        "rateline_send_lateness_seconds_count 1",
        "rateline_send_duration_seconds_count{channel=\"webhook\"} 1",
        "rateline_queue_depth 0",
        "rateline_http_responses_total{status=\"202\"}",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

async fn control_characters_are_refused_and_impossible_ids_are_not_found(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    let (status, body) = app
        .post(
            "/v1/sessions",
            json!({"id": "s-1", "line_id": "support", "channel": "webhook",
                                     "client": {"id": "c", "name": "A\u{0}B"}}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, json!("client.name")),
        "{body}"
    );
    for path in ["/v1/sessions/a%00b", "/v1/lines/a%00b"] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, body) = app
        .post("/v1/sessions/a%00b/close", json!({"closed_by": "operator"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("session_not_found"))
    );
    let (status, body) = app.get("/v1/stats?operator=a%00b").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("invalid_parameter")),
        "{body}"
    );
    let (status, body) = app.get("/v1/stats?from=%ZZ").await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["code"], "invalid_parameter",
        "the error shape, not plain text: {body}"
    );

    app.open("s-1", "support", "op-1").await;
    let r = app.close("s-1").await;
    app.wait_for_status("s-1", "sent").await;
    let (status, body) = app
        .post(
            "/v1/ratings",
            json!({"request_id": r, "value": 1, "comment": "fine\u{0}"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, json!("comment")),
        "{body}"
    );
    let (status, _) = app
        .post("/v1/ratings", json!({"request_id": "x\u{0}", "value": 1}))
        .await;
    assert_eq!(status, 404);
    assert_eq!(app.session("s-1").await["rating"], Value::Null);
    let (status, _) = app
        .post(
            "/v1/ratings",
            json!({"request_id": r, "value": 1, "comment": "fine,\nthanks"}),
        )
        .await;
    assert_eq!(status, 201, "line breaks are welcome in a comment");
}

/// An id in a path that no line, session or person could have (a control character, a
/// '/', too long) names nothing, whoever asks and whatever the call: the thing's own 404, as
/// for a well-formed id that is not there. Only the `PUT` that makes a line or a person reads
/// it as the new id, and says with a 422 what is wrong with it.
async fn a_malformed_id_in_a_path_is_the_things_404(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let long = "x".repeat(129);
    for bad in ["a%00b", "a%2Fb", "a%20b", long.as_str()] {
        for (method, path, code) in [
            ("GET", format!("/v1/sessions/{bad}"), "session_not_found"),
            (
                "POST",
                format!("/v1/sessions/{bad}/messages"),
                "session_not_found",
            ),
            (
                "POST",
                format!("/v1/sessions/{bad}/close"),
                "session_not_found",
            ),
            (
                "PUT",
                format!("/v1/sessions/{bad}/evaluation"),
                "session_not_found",
            ),
            (
                "POST",
                format!("/v1/sessions/{bad}/webchat-token"),
                "session_not_found",
            ),
            ("GET", format!("/v1/lines/{bad}"), "line_not_found"),
            ("PATCH", format!("/v1/lines/{bad}"), "line_not_found"),
            (
                "POST",
                format!("/v1/lines/{bad}/test-request"),
                "line_not_found",
            ),
            ("GET", format!("/v1/people/{bad}"), "person_not_found"),
            ("PATCH", format!("/v1/people/{bad}"), "person_not_found"),
            (
                "PUT",
                format!("/v1/people/{bad}/time-zone"),
                "person_not_found",
            ),
            (
                "GET",
                format!("/v1/people/{bad}/alert-pace"),
                "person_not_found",
            ),
            (
                "PUT",
                format!("/v1/people/{bad}/alert-pace"),
                "person_not_found",
            ),
            (
                "POST",
                format!("/v1/people/{bad}/test-alert"),
                "person_not_found",
            ),
            (
                "POST",
                format!("/v1/people/{bad}/invitation"),
                "person_not_found",
            ),
        ] {
            let (status, body) = app.call(method, &path, Some(json!({}))).await;
            assert_eq!(
                (status, body["error"]["code"].clone()),
                (404, json!(code)),
                "{method} {path}: {body}"
            );
        }
        for (path, field, made) in [
            (format!("/v1/lines/{bad}"), "line_id", json!({"name": "A"})),
            (
                format!("/v1/people/{bad}"),
                "person_id",
                json!({"name": "A", "role": "operator"}),
            ),
        ] {
            let (status, body) = app.put(&path, made).await;
            assert_eq!(
                (status, body["error"]["field"].clone()),
                (422, json!(field)),
                "PUT {path}: {body}"
            );
        }
    }
    let (_, lines) = app.get("/v1/lines").await;
    assert_eq!(lines["lines"], json!([]), "nothing was made: {lines}");
}

/// Ids that would look like another on screen are refused with a 422 naming the
/// character, composed and decomposed spellings are one id, and every list a setting takes
/// has a maximum.
async fn lookalike_ids_are_refused_and_lists_are_bounded(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    for (path, body, field, named) in [
        (
            "/v1/people/olga\u{200B}",
            json!({"name": "Olga", "role": "operator"}),
            "person_id",
            "U+200B (ZERO WIDTH SPACE)",
        ),
        (
            "/v1/lines/sup\u{202E}port",
            json!({"name": "Spoof"}),
            "line_id",
            "U+202E (RIGHT-TO-LEFT OVERRIDE)",
        ),
        (
            "/v1/people/\u{043E}lga",
            json!({"name": "Olga", "role": "operator"}),
            "person_id",
            "mixes the Cyrillic and Latin scripts",
        ),
        (
            "/v1/people/sam",
            json!({"name": "Sam", "role": "supervisor", "manager_id": "b\u{043E}ss"}),
            "manager_id",
            "Cyrillic and Latin",
        ),
        (
            "/v1/groups/leads",
            json!({"name": "Leads", "members": ["sam", "ol\u{200D}ga"]}),
            "members[1]",
            "U+200D (ZERO WIDTH JOINER)",
        ),
    ] {
        let url = app.url(path);
        let r = app.http.put(url).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 422, "{path}: {body}");
        assert_eq!(body["error"]["field"], field, "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{path}: {message}");
    }
    let (status, body) = app
        .post(
            "/v1/sessions",
            json!({"id": "s-1", "line_id": "support", "channel": "webhook",
                   "client": {"id": "c"}, "operator_id": "op\u{2066}1"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, json!("operator_id")),
        "{body}"
    );
    // A session id typed decomposed is stored composed, and found either way.
    let (status, body) = app
        .post(
            "/v1/sessions",
            json!({"id": "sesio\u{0301}n", "line_id": "support", "channel": "webhook",
                   "client": {"id": "c"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["id"], "sesi\u{00F3}n");
    for spelling in ["sesi%C3%B3n", "sesio%CC%81n"] {
        let (status, body) = app.get(&format!("/v1/sessions/{spelling}")).await;
        assert_eq!(status, 200, "{spelling}: {body}");
    }
    // Lists.
    let many: Vec<Value> = (0..21)
        .map(|i| json!({"kind": "supervisor", "id": format!("p-{i}")}))
        .collect();
    let (status, body) = app
        .put(
            "/v1/lines/wide",
            json!({"name": "Wide", "notify_low": many}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, json!("notify_low")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 20"),
        "{body}"
    );
    let members: Vec<String> = (0..201).map(|i| format!("p-{i}")).collect();
    let (status, body) = app
        .put("/v1/groups/all", json!({"name": "All", "members": members}))
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, json!("members")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 200"),
        "{body}"
    );
    let origins: Vec<String> = (0..51).map(|i| format!("https://s{i}.example")).collect();
    let (status, body) = app
        .put(
            "/v1/lines/wide",
            json!({"name": "Wide", "webchat": {"allowed_origins": origins}}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "webchat.allowed_origins");
    let (status, _) = app.get("/v1/lines/wide").await;
    assert_eq!(status, 404, "a refused line was stored");
}

/// The scheduler's passes, from `/metrics`.
async fn passes(app: &crate::common::TestApp) -> u64 {
    let (_, text) = app.get("/metrics").await;
    let text = text.as_str().unwrap().to_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("rateline_scheduler_passes_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the pass counter is exported")
}

async fn an_idle_scheduler_sleeps_instead_of_polling(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 60})).await;
    app.open("s-1", "support", "op-1").await;
    app.close("s-1").await;
    app.settle().await;
    let before = passes(&app).await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(
        passes(&app).await,
        before,
        "the scheduler looked while nothing was due"
    );
    // Time reaching the due moment wakes it, once or twice, not in a loop.
    app.advance(chrono::Duration::seconds(60));
    app.wait_for_status("s-1", "sent").await;
    app.settle().await;
    let after = passes(&app).await;
    assert!(
        after > before && after <= before + 4,
        "{before} → {after} passes"
    );
}

/// "I never get alerts": a line shows whom its low-rating alerts reach and names each gap.
async fn a_line_names_every_alert_recipient_it_cannot_reach(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let line = |notify: serde_json::Value| {
        json!({"name": "Support", "notify_low": notify,
               "webhook": {"url": app.connector.url, "secret": crate::common::SECRET}})
    };
    let (status, body) = app
        .put(
            "/v1/lines/support",
            line(json!([{"kind": "supervisor", "id": "p-7"}, {"kind": "group", "id": "g-1"}])),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["alerts"]["reaches_someone"], false, "{body}");
    let problems = body["alerts"]["problems"].to_string();
    assert!(
        problems.contains("person 'p-7' does not exist"),
        "{problems}"
    );
    assert!(
        problems.contains("group 'g-1', which does not exist"),
        "{problems}"
    );

    // p-7 exists but has no address; the group has a member with notifications off.
    app.put(
        "/v1/people/p-7",
        json!({"name": "Vera", "role": "supervisor"}),
    )
    .await;
    app.put(
        "/v1/people/p-8",
        json!({"name": "Ivan", "role": "supervisor", "notify": {"email": "ivan@example.com"},
               "notifications_enabled": false}),
    )
    .await;
    app.put(
        "/v1/groups/g-1",
        json!({"name": "Leads", "members": ["p-8"]}),
    )
    .await;
    let (_, body) = app.get("/v1/lines/support").await;
    assert_eq!(body["alerts"]["reaches_someone"], false, "{body}");
    let problems = body["alerts"]["problems"].to_string();
    assert!(
        problems.contains("person 'p-7' has no address"),
        "{problems}"
    );
    assert!(
        problems.contains("in group 'g-1': person 'p-8' has notifications switched off"),
        "{problems}"
    );

    // A Telegram chat for p-7, but this server has no [telegram]: still nobody.
    app.put(
        "/v1/people/p-7",
        json!({"name": "Vera", "role": "supervisor", "notify": {"telegram_chat_id": 436432850}}),
    )
    .await;
    let (_, body) = app.get("/v1/lines/support").await;
    assert_eq!(body["alerts"]["reaches_someone"], false, "{body}");
    assert!(
        body["alerts"]["problems"].to_string().contains(
            "person 'p-7' has no address this server can send to: a Telegram chat needs [telegram]"
        ),
        "{body}"
    );

    // A webhook for p-7 (always usable): the line reaches someone; the group's gap is
    // still named.
    app.put(
        "/v1/people/p-7",
        json!({"name": "Vera", "role": "supervisor",
               "notify": {"telegram_chat_id": 436432850, "webhook_url": app.connector.url}}),
    )
    .await;
    let (_, body) = app.get("/v1/lines/support").await;
    assert_eq!(body["alerts"]["reaches_someone"], true, "{body}");
    assert_eq!(
        body["alerts"]["problems"].as_array().unwrap().len(),
        1,
        "{body}"
    );
}

crate::common::on_both_backends!(
    a_malformed_id_in_a_path_is_the_things_404,
    lookalike_ids_are_refused_and_lists_are_bounded,
    the_openapi_description_covers_every_v1_route,
    a_line_names_every_alert_recipient_it_cannot_reach,
    unknown_lines_and_sessions_are_404_with_a_hint,
    malformed_bodies_are_400_naming_the_field_and_store_nothing,
    a_repeated_session_or_event_changes_nothing,
    line_settings_are_validated_and_the_secret_is_never_shown,
    people_and_groups_are_stored_and_validated,
    unknown_routes_methods_and_large_bodies_answer_in_the_error_shape,
    health_readiness_and_metrics_are_served,
    control_characters_are_refused_and_impossible_ids_are_not_found,
    an_idle_scheduler_sleeps_instead_of_polling,
);
