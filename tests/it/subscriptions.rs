//! Event subscriptions end to end: a local CRM (the test connector, checking signatures with
//! its own HMAC) subscribes; ratings, responses, appeals, failed requests and a failed
//! alert reach it as signed, versioned events, in order per rating, through a 503; a
//! subscription that fails for days is switched off, shown on the dashboard, and switched
//! back on; an erased client's waiting events are dropped.

use crate::common::{Connector, Db, SECRET, TestApp, spawn_app, wait_until};
use crate::dashboard::{post_form, text};
use chrono::Duration;
use rateline_testkit::connector::{Received, Reply};
use serde_json::{Value, json};

const EVERY_EVENT: [&str; 10] = [
    "rating.created",
    "rating.changed",
    "rating.voided",
    "rating.commented",
    "response.created",
    "response.sent",
    "request.failed",
    "request.undeliverable",
    "request.window_closed",
    "alert.failed",
];

/// The events `crm` received about the request of `request_id`, by type, in order.
fn types_for(crm: &Connector, request_id: &str) -> Vec<String> {
    crm.received()
        .iter()
        .filter(|r| r.body["request_id"] == request_id)
        .map(|r| r.body["type"].as_str().unwrap_or("?").to_owned())
        .collect()
}

async fn subscribe(app: &TestApp, id: &str, crm: &Connector, events: &[&str]) -> Value {
    let (status, body) = app
        .put(
            &format!("/v1/subscriptions/{id}"),
            json!({"url": crm.url, "secret": SECRET, "events": events}),
        )
        .await;
    assert!(status == 201 || status == 200, "{status} {body}");
    body
}

/// A webhook session on `line` closed and rated `value`; its request's id.
async fn rate(app: &TestApp, session: &str, line: &str, value: i64) -> String {
    let request = app.sent_request(session, line, "op-1").await;
    let (status, body) = app
        .post(
            "/v1/ratings",
            json!({"request_id": request, "value": value}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    request
}

async fn subscription(app: &TestApp, id: &str) -> Value {
    let (status, body) = app.get(&format!("/v1/subscriptions/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn a_subscription_hears_every_event_in_order(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    let crm = Connector::start().await;
    // The supervisor's alert webhook refuses every alert: the alert fails.
    let refusing = Connector::start().await;
    refusing.reply_with(std::iter::repeat_n(Reply::Status(400), 10));
    let (status, body) = app
        .put(
            "/v1/people/sup",
            json!({"name": "Sam", "role": "supervisor",
                   "notify": {"webhook_url": refusing.url, "webhook_secret": SECRET}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .put(
            "/v1/lines/support",
            json!({"name": "Support", "rating": {"delay_seconds": 0, "alert_wait_seconds": 0},
                   "webhook": {"url": app.connector.url, "secret": SECRET},
                   "notify_low": [{"kind": "supervisor", "id": "sup"}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    app.line("sales", json!({"delay_seconds": 0})).await;

    // What a subscription must be, each refused with its field and nothing stored.
    for (body, field) in [
        (
            json!({"url": crm.url, "events": ["rating.created"]}),
            "secret",
        ),
        (
            json!({"url": crm.url, "secret": SECRET, "events": []}),
            "events",
        ),
        (
            json!({"url": crm.url, "secret": "short", "events": ["rating.created"]}),
            "secret",
        ),
        (
            json!({"url": "ftp://crm.example/x", "secret": SECRET, "events": ["rating.created"]}),
            "url",
        ),
        (
            json!({"url": "https://10.1.2.3/hook", "secret": SECRET, "events": ["rating.created"]}),
            "url",
        ),
        (
            json!({"url": crm.url, "secret": SECRET, "events": ["rating.created"],
                   "lines": ["nowhere"]}),
            "lines[0]",
        ),
    ] {
        let (status, answer) = app.put("/v1/subscriptions/crm", body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    let (status, answer) = app
        .put(
            "/v1/subscriptions/crm",
            json!({"url": crm.url, "secret": SECRET, "events": ["rating.deleted"]}),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rating.deleted"),
        "{answer}"
    );
    let (status, answer) = app.get("/v1/subscriptions/crm").await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (404, &json!("subscription_not_found"))
    );

    // Rated before anyone subscribed: no event about it, ever.
    let before = rate(&app, "s-0", "support", 1).await;

    let made = subscribe(&app, "crm", &crm, &EVERY_EVENT).await;
    assert!(made.get("secret").is_none(), "{made}");
    assert_eq!(made["active"], true);
    // One field at a time: the lines, keeping the URL, the events and the secret.
    let (status, patched) = app
        .call(
            "PATCH",
            "/v1/subscriptions/crm",
            Some(json!({"lines": ["support"]})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["lines"], json!(["support"]));
    assert_eq!(patched["events"].as_array().unwrap().len(), 10);
    assert_eq!(patched["url"], crm.url.as_str());

    // The first event meets a 503: the rating's later events wait behind it.
    crm.reply_with([Reply::Status(503)]);
    let request = app.sent_request("s-1", "support", "op-1").await;
    let (status, rating) = app
        .post("/v1/ratings", json!({"request_id": request, "value": 0}))
        .await;
    assert_eq!(status, 201, "{rating}");
    let rating_id = rating["id"].as_str().unwrap().to_owned();
    crm.wait_for(1).await;
    for answer in [
        json!({"request_id": request, "value": 0, "comment": "It took an hour"}),
        json!({"request_id": request, "value": 1}),
    ] {
        let (status, body) = app.post("/v1/ratings", answer).await;
        assert_eq!(status, 200, "{body}");
    }
    app.settle().await;
    assert_eq!(
        types_for(&crm, &request),
        ["rating.created"],
        "one at a time"
    );
    app.advance(Duration::seconds(5));
    crm.wait_for(4).await;

    // A response, written then sent; an appeal approved: the rating is voided.
    let path = format!("/v1/ratings/{rating_id}/response");
    let (status, body) = app.put(&path, json!({"text": "Sorry."})).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .put(&path, json!({"text": "Sorry!", "send_to_client": true}))
        .await;
    assert_eq!(status, 200, "{body}");
    wait_until(
        || types_for(&crm, &request).contains(&"response.sent".to_owned()),
        || format!("{:?}", types_for(&crm, &request)),
    )
    .await;
    let (status, appeal) = app
        .post(
            &format!("/v1/ratings/{rating_id}/appeal"),
            json!({"reason": "the client rated the price"}),
        )
        .await;
    assert_eq!(status, 201, "{appeal}");
    let decision = format!("/v1/appeals/{}/decision", appeal["id"].as_str().unwrap());
    let (status, body) = app.post(&decision, json!({"approve": true})).await;
    assert_eq!(status, 200, "{body}");
    wait_until(
        || types_for(&crm, &request).contains(&"rating.voided".to_owned()),
        || format!("{:?}", types_for(&crm, &request)),
    )
    .await;
    let mut seen = types_for(&crm, &request);
    // The alert fails on its own time; it is told once, among the rating's events.
    let alert_failed = seen.iter().filter(|t| *t == "alert.failed").count();
    seen.retain(|t| t != "alert.failed");
    assert_eq!(
        seen,
        [
            "rating.created",
            "rating.created",
            "rating.commented",
            "rating.changed",
            "response.created",
            "response.sent",
            "rating.voided"
        ],
        "the 503 and its retry, then the rest in order"
    );
    wait_until(
        || types_for(&crm, &request).contains(&"alert.failed".to_owned()),
        || format!("{:?}", types_for(&crm, &request)),
    )
    .await;
    assert!(alert_failed <= 1);

    let got: Vec<Received> = crm
        .received()
        .into_iter()
        .filter(|r| r.body["request_id"] == request.as_str())
        .collect();
    for r in &got {
        assert!(r.signature_ok, "unsigned: {}", r.body);
        assert_eq!(r.idempotency_key.as_deref(), r.body["id"].as_str());
        assert_eq!(r.body["version"], 1);
        assert_eq!(r.body["session"]["id"], "s-1");
        assert_eq!(r.body["session"]["line_id"], "support");
        assert_eq!(r.body["session"]["operator_id"], "op-1");
        assert_eq!(r.body["session"]["client"]["id"], "client-s-1");
    }
    // The retry is the same event: its key, its body.
    let got: Vec<&Received> = got
        .iter()
        .filter(|r| r.body["type"] != "alert.failed")
        .collect();
    assert_eq!(got[0].body, got[1].body);
    let created = &got[0].body;
    assert_eq!(created["rating"]["id"], rating_id.as_str());
    assert_eq!(created["rating"]["value"], 0);
    assert_eq!(created["rating"]["low"], true);
    assert_eq!(got[2].body["rating"]["comment"], "It took an hour");
    assert_eq!(got[3].body["rating"]["value"], 1);
    assert_eq!(got[4].body["response"]["text"], "Sorry.");
    assert_eq!(got[5].body["response"]["text"], "Sorry!");
    assert!(
        got[5].body["response"]["sent_at"].is_string(),
        "{}",
        got[5].body
    );
    assert!(got[6].body["rating"]["voided_at"].is_string());
    let failed_alert = crm
        .received()
        .into_iter()
        .find(|r| r.body["type"] == "alert.failed")
        .unwrap();
    assert_eq!(failed_alert.body["alert"]["rating_id"], rating_id.as_str());
    assert!(
        failed_alert.body["alert"]["error"]
            .as_str()
            .unwrap()
            .contains("400"),
        "{}",
        failed_alert.body
    );
    assert_eq!(types_for(&crm, &before), Vec::<String>::new());

    // Requests that end without reaching the client.
    app.connector.reply_with([Reply::Status(404)]);
    app.open("s-2", "support", "op-1").await;
    let gone = app.close("s-2").await;
    app.wait_for_status("s-2", "undeliverable").await;
    app.connector.reply_with([Reply::Status(302)]);
    app.open("s-3", "support", "op-1").await;
    let failed = app.close("s-3").await;
    app.wait_for_status("s-3", "failed").await;
    // Another line's session: not this subscription's.
    app.connector.reply_with([Reply::Status(404)]);
    app.open("s-4", "sales", "op-1").await;
    let elsewhere = app.close("s-4").await;
    app.wait_for_status("s-4", "undeliverable").await;
    wait_until(
        || types_for(&crm, &failed).len() == 1 && types_for(&crm, &gone).len() == 1,
        || format!("{:?}", crm.received()),
    )
    .await;
    assert_eq!(types_for(&crm, &gone), ["request.undeliverable"]);
    assert_eq!(types_for(&crm, &failed), ["request.failed"]);
    let ended = crm
        .received()
        .into_iter()
        .find(|r| r.body["request_id"] == failed.as_str())
        .unwrap();
    assert_eq!(ended.body["request"]["status"], "failed");
    assert!(
        ended.body["request"]["error"]
            .as_str()
            .unwrap()
            .contains("302")
    );
    app.settle().await;
    assert!(types_for(&crm, &elsewhere).is_empty());

    let all = subscription(&app, "crm").await;
    assert_eq!(all["queued"], 0, "{all}");
    assert!(all["last_delivered_at"].is_string(), "{all}");
    assert_eq!(all["failing_since"], Value::Null, "{all}");

    // Deleted: nothing more, and the audit log kept every change without the secret.
    let (status, _) = app.call("DELETE", "/v1/subscriptions/crm", None).await;
    assert_eq!(status, 204);
    let (status, _) = app.call("DELETE", "/v1/subscriptions/crm", None).await;
    assert_eq!(status, 404);
    let (_, audit) = app.get("/v1/audit?kind=subscription").await;
    let entries = audit["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 3, "{audit}");
    assert!(!audit.to_string().contains(SECRET), "{audit}");
}

crate::common::on_both_backends!(a_subscription_hears_every_event_in_order);

async fn a_failing_subscription_is_switched_off_and_back_on(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    let crm = Connector::start().await;
    crm.reply_with(std::iter::repeat_n(Reply::Status(503), 3));
    app.line("support", json!({"delay_seconds": 0})).await;
    subscribe(&app, "crm", &crm, &["rating.created"]).await;

    let first = rate(&app, "s-1", "support", 1).await;
    crm.wait_for(1).await;
    let failing = crm_once(&app, "failing", |s| s["failing_since"].is_string()).await;
    assert_eq!(failing["active"], true);
    assert!(
        failing["last_error"].as_str().unwrap().contains("503"),
        "{failing}"
    );
    let (_, page) = text(&app, "/dashboard", None).await;
    assert!(page.contains(r#"id="events-trouble""#), "{page}");
    assert!(page.contains("is failing"), "{page}");

    // Two days on it still fails, and is still on; past three days of failures it is off.
    app.advance(Duration::days(2));
    crm.wait_for(2).await;
    assert_eq!(subscription(&app, "crm").await["active"], true);
    app.advance(Duration::days(1) + Duration::hours(1));
    crm.wait_for(3).await;
    let off = crm_once(&app, "off", |s| s["active"] == false).await;
    assert!(off["switched_off_at"].is_string(), "{off}");
    assert_eq!(off["queued"], 1, "the event is kept: {off}");
    let (_, page) = text(&app, "/dashboard", None).await;
    assert!(page.contains("is switched off"), "{page}");
    let (_, page) = text(&app, "/dashboard/subscriptions", None).await;
    assert!(page.contains("switched off"), "{page}");
    assert!(page.contains("after 3 days of failures"), "{page}");

    // While off, nothing new is queued for it, and nothing is tried.
    let second = rate(&app, "s-2", "support", 1).await;
    app.advance(Duration::hours(2));
    app.settle().await;
    assert_eq!(crm.received().len(), 3);
    assert_eq!(subscription(&app, "crm").await["queued"], 1);

    // The dashboard's button switches it on: the kept event goes, then new ones.
    let (status, page) = submit(&app, "/dashboard/subscriptions/crm/on", &[]).await;
    assert_eq!(status, 303, "{page}");
    crm.wait_for(4).await;
    assert_eq!(types_for(&crm, &first).len(), 4);
    assert!(types_for(&crm, &second).is_empty());
    let on = crm_once(&app, "delivered", |s| s["queued"] == 0).await;
    assert_eq!(
        (&on["active"], &on["queued"], &on["failing_since"]),
        (&json!(true), &json!(0), &Value::Null),
        "{on}"
    );
    let third = rate(&app, "s-3", "support", 1).await;
    crm.wait_for(5).await;
    assert_eq!(types_for(&crm, &third), ["rating.created"]);

    // An erased client's events that no one took yet are dropped with their data.
    crm.reply_with([Reply::Status(503)]);
    rate(&app, "s-4", "support", 1).await;
    crm.wait_for(6).await;
    let (status, erased) = app
        .call("DELETE", "/v1/clients/webhook/client-s-4", None)
        .await;
    assert_eq!(status, 200, "{erased}");
    assert_eq!(erased["events"], 1, "{erased}");
    app.advance(Duration::hours(2));
    app.settle().await;
    assert_eq!(
        crm.received().len(),
        6,
        "the erased client's event never went"
    );
    let after = subscription(&app, "crm").await;
    assert_eq!(
        (&after["queued"], &after["failing_since"], &after["active"]),
        (&json!(0), &Value::Null, &json!(true)),
        "its failure went with it: {after}"
    );
}

crate::common::on_both_backends!(a_failing_subscription_is_switched_off_and_back_on);

/// A form of the dashboard's own pages, posted as a browser does (no key: the open mode).
async fn submit(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let own = app.base.clone();
    let headers = [("origin", own.as_str()), ("sec-fetch-site", "same-origin")];
    let (status, _, page) = post_form(app, path, None, &headers, form).await;
    (status, page)
}

/// Subscription "crm" once `done` holds of it: the server records a delivery's outcome
/// only after the connector has answered, a moment after the connector saw it.
async fn crm_once(app: &TestApp, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let s = subscription(app, "crm").await;
        if done(&s) {
            return s;
        }
        assert!(tokio::time::Instant::now() < deadline, "never {what}: {s}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn the_subscriptions_page_makes_one_and_says_what_is_wrong(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    let crm = Connector::start().await;
    app.line("support", json!({"delay_seconds": 0})).await;
    let (status, page) = submit(
        &app,
        "/dashboard/subscriptions",
        &[
            ("id", "crm"),
            ("url", &crm.url),
            ("secret", "short"),
            ("events", "rating.created"),
        ],
    )
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains(r#"id="f-secret-error""#), "{page}");
    assert!(page.contains("at least 16 characters"), "{page}");
    assert!(page.contains(&crm.url), "what was typed stays: {page}");
    let (status, _) = app.get("/v1/subscriptions/crm").await;
    assert_eq!(status, 404, "nothing stored");

    let (status, page) = submit(
        &app,
        "/dashboard/subscriptions",
        &[
            ("id", "crm"),
            ("url", &crm.url),
            ("secret", SECRET),
            ("events", "rating.created"),
            ("events", "rating.changed"),
            ("lines", "support"),
        ],
    )
    .await;
    assert_eq!(status, 303, "{page}");
    let made = subscription(&app, "crm").await;
    assert_eq!(made["events"], json!(["rating.changed", "rating.created"]));
    assert_eq!(made["lines"], json!(["support"]));
    let (_, page) = text(&app, "/dashboard/subscriptions", None).await;
    assert!(page.contains(r#"id="subscription-crm""#), "{page}");
    let request = rate(&app, "s-1", "support", 1).await;
    crm.wait_for(1).await;
    assert_eq!(types_for(&crm, &request), ["rating.created"]);
}

crate::common::on_both_backends!(the_subscriptions_page_makes_one_and_says_what_is_wrong);
