//! Forgetting a client: `DELETE /v1/clients/{channel}/{id}` erases their id, name,
//! comments and the responses to them, keeps every count, is audited and idempotent.

use crate::common::{Db, TestApp, spawn_app};
use serde_json::{Value, json};

/// `GET path` with `key` (none: no key).
async fn get(app: &TestApp, key: Option<&str>, path: &str) -> Value {
    let (status, body) = app.call_as(key, "GET", path, None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// Every report the API gives, as text: what must not change.
async fn reports(app: &TestApp, key: Option<&str>) -> Vec<String> {
    let mut all = Vec::new();
    for query in [
        "",
        "?by=operator",
        "?by=line",
        "?by=channel",
        "?by=day",
        "?by=reason",
        "?by=operator&format=csv",
    ] {
        all.push(
            get(app, key, &format!("/v1/stats{query}"))
                .await
                .to_string(),
        );
    }
    all
}

async fn rate(app: &TestApp, session: &str, client: &str, value: i64, comment: Option<&str>) {
    let (status, body) = app
        .post(
            "/v1/sessions",
            json!({"id": session, "line_id": "support", "channel": "webhook",
                   "client": {"id": client, "name": "Ann Example"}, "operator_id": "op-1"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let request = app.close(session).await;
    app.wait_for_status(session, "sent").await;
    let (status, body) = app
        .post(
            "/v1/ratings",
            json!({"request_id": request, "value": value, "comment": comment,
                   "reasons": if value == 0 { json!(["slow"]) } else { Value::Null }}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn an_erased_client_leaves_only_anonymous_counts(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    app.line(
        "support",
        json!({"delay_seconds": 0, "low_reasons": [{"id": "slow", "text": "Waited too long"}]}),
    )
    .await;
    rate(
        &app,
        "s-1",
        "ann@example.com",
        0,
        Some("Ann here, call me on +1 555 0100"),
    )
    .await;
    rate(&app, "s-2", "ann@example.com", 1, None).await;
    rate(
        &app,
        "s-3",
        "bob@example.com",
        0,
        Some("Bob's comment stays"),
    )
    .await;
    let rating = app.session("s-1").await["rating"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = app
        .put(
            &format!("/v1/ratings/{rating}/response"),
            json!({"text": "Sorry Ann, we will call you back"}),
        )
        .await;
    assert!(status == 201 || status == 200, "{body}");
    // Closed in the inbox too, with a note that names her.
    let (status, body) = app
        .post(
            "/v1/ratings/actions",
            json!({"rating_ids": [rating], "action": "close", "note": "Called Ann Example back"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let before = reports(&app, None).await;

    // Admins only: a supervisor of the line is refused, and nothing changes.
    let sam = crate::common::create_key(
        &app,
        &[
            "--name",
            "Sam",
            "--role",
            "supervisor",
            "--lines",
            "support",
        ],
    );
    let (status, body) = app
        .call_as(
            Some(&sam),
            "DELETE",
            "/v1/clients/webhook/ann@example.com",
            None,
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let admin = crate::common::create_key(&app, &["--name", "ops", "--role", "admin"]);
    let admin = Some(admin.as_str());
    let session = |id: &str| {
        let path = format!("/v1/sessions/{id}");
        let app = &app;
        async move { get(app, admin, &path).await }
    };
    assert_eq!(session("s-1").await["client"]["id"], "ann@example.com");

    let (status, body) = app
        .call_as(admin, "DELETE", "/v1/clients/webhook/ann@example.com", None)
        .await;
    assert_eq!(status, 200, "{body}");
    let pseudonym = body["erased_as"].as_str().unwrap().to_owned();
    assert!(pseudonym.starts_with("erased-"), "{body}");
    assert_eq!(
        (
            &body["sessions"],
            &body["requests"],
            &body["comments"],
            &body["responses"]
        ),
        (&json!(2), &json!(2), &json!(2), &json!(2)),
        "one comment in the rating and one in its history; the response and the close's note: {body}"
    );
    let handled = get(&app, admin, "/v1/ratings?state=handled").await;
    assert_eq!(
        handled["ratings"][0]["closed"]["note"], "(erased)",
        "{handled}"
    );

    // Nothing of Ann is left; Bob is untouched; the reports read as before.
    let s1 = session("s-1").await;
    let text = s1.to_string();
    for said in ["ann@example.com", "Ann Example", "555 0100", "Sorry Ann"] {
        assert!(!text.contains(said), "{said} is still there: {text}");
    }
    assert_eq!(s1["client"]["id"], pseudonym.as_str());
    assert_eq!(s1["rating"]["value"], 0);
    assert_eq!(s1["rating"]["reasons"], json!(["slow"]));
    assert_eq!(
        session("s-3").await["rating"]["comment"],
        "Bob's comment stays"
    );
    assert_eq!(reports(&app, admin).await, before);
    let inbox = get(&app, admin, "/v1/ratings").await;
    assert!(!inbox.to_string().contains("555 0100"), "{inbox}");

    // Audited under the pseudonym, never the id; a second erasure finds nothing.
    let audit = get(&app, admin, "/v1/audit?kind=client").await;
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["subject"], pseudonym.as_str());
    assert_eq!(entries[0]["action"], "erased");
    assert!(!audit.to_string().contains("ann@example.com"), "{audit}");
    let (status, again) = app
        .call_as(admin, "DELETE", "/v1/clients/webhook/ann@example.com", None)
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["erased_as"], Value::Null);
    assert_eq!(again["sessions"], 0);
    let audit = get(&app, admin, "/v1/audit?kind=client").await;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 1);

    // A new session may not take a pseudonym's place.
    let (status, body) = app
        .call_as(
            admin,
            "POST",
            "/v1/sessions",
            Some(
                json!({"id": "s-9", "line_id": "support", "channel": "webhook",
                        "client": {"id": pseudonym}}),
            ),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "client.id", "{body}");

    // Refused: an unknown channel, an id no WhatsApp client can have.
    let (status, body) = app
        .call_as(admin, "DELETE", "/v1/clients/sms/ann", None)
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = app
        .call_as(admin, "DELETE", "/v1/clients/whatsapp/not-a-number", None)
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "client.id", "{body}");
}

crate::common::on_both_backends!(an_erased_client_leaves_only_anonymous_counts);
