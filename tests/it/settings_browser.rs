//! An admin sets a line up in a real headless Chromium, on both stores: a line made from
//! nothing on the lines page (five stars, its question, a webhook connector, a supervisor
//! as recipient), the connector tried with "Send a test request", a session closed through
//! the API and rated low, and the alert at the supervisor's webhook. Then one field edited
//! with nothing else changed, and a bad value refused with the message next to its field.
//! Screenshots go to `target/screenshots/settings-*.png`.

use crate::common::{Db, SECRET, TestApp, rateline, spawn_app_with, wait_until};
use crate::people::{PASSWORD, close_with_a_key, path_of};
use rateline_testkit::browser::{browser, save_screenshot};
use rateline_testkit::fantoccini::{Client, Locator};
use serde_json::{Value, json};

async fn element(c: &Client, css: &str) -> rateline_testkit::fantoccini::elements::Element {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
}

/// Replaces what field `css` holds with `text`.
async fn type_in(c: &Client, css: &str, text: &str) {
    let e = element(c, css).await;
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    element(c, css).await.click().await.unwrap();
}

/// Waits until the browser is at `path` and the page holds `css`; the page's source.
async fn arrive(c: &Client, path: &str, css: &str) -> String {
    arrive_saying(c, path, css, "").await
}

/// Waits until the browser is at `path` and the page holds `css` and says `text`.
async fn arrive_saying(c: &Client, path: &str, css: &str, text: &str) -> String {
    for _ in 0..100 {
        let url = c.current_url().await.unwrap();
        if url.path() == path && c.find(Locator::Css(css)).await.is_ok() {
            let source = c.source().await.unwrap();
            if source.contains(text) {
                return source;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "never at {path} with {css}; at {}: {}",
        c.current_url().await.unwrap(),
        c.source().await.unwrap()
    );
}

/// `person` follows an invitation the command line made, sets a password and is in.
async fn set_password(c: &Client, app: &TestApp, person: &str) {
    let invitation = path_of(&rateline(app, &["people", "invite", person]));
    c.goto(&app.url(&invitation)).await.unwrap();
    type_in(c, "#password", PASSWORD).await;
    type_in(c, "#repeat", PASSWORD).await;
    click(c, "button[type=submit]").await;
    arrive(c, "/dashboard/inbox", "#sign-out").await;
}

async fn call(app: &TestApp, key: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, body) = app.call_as(Some(key), method, path, body).await;
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {body}"
    );
    body
}

/// A line as the API shows it, less what every save changes.
fn settings_of(mut line: Value) -> Value {
    for changes in ["version", "updated_at"] {
        line.as_object_mut().unwrap().remove(changes);
    }
    line
}

async fn an_admin_sets_up_a_line_in_the_browser(kind: Db) {
    let Some(b) = browser().await else { return };
    let Some(app) = spawn_app_with(kind, |_| {}).await else {
        return;
    };
    for (id, body) in [
        (
            "sup-olga",
            json!({"name": "Olga", "role": "supervisor", "lines": ["support"],
                   "notify": {"webhook_url": app.connector.url, "webhook_secret": SECRET}}),
        ),
        ("adm", json!({"name": "Ada", "role": "admin"})),
    ] {
        let (status, body) = app.put(&format!("/v1/people/{id}"), body).await;
        assert_eq!(status, 201, "{body}");
    }
    let key = close_with_a_key(&app).await;
    let c = &b.client;
    c.set_window_size(900, 2400).await.unwrap();

    // Ada sets her password and opens the lines page.
    set_password(c, &app, "adm").await;
    click(c, "#nav-lines").await;
    arrive(c, "/dashboard/lines", "#create-line").await;

    // A line from nothing.
    type_in(c, "#f-id", "support").await;
    type_in(c, "#f-name", "Support").await;
    click(c, "#create-line").await;
    let page = arrive(c, "/dashboard/lines/support", "#settings").await;
    assert!(page.contains("The line is made"), "{page}");
    element(c, "#f-rating-scale")
        .await
        .select_by_value("five_star")
        .await
        .unwrap();
    type_in(c, "#f-rating-request_text", "How did we do today?").await;
    type_in(c, "#f-rating-delay_seconds", "0").await;
    type_in(c, "#f-webhook-url", &app.connector.url).await;
    type_in(c, "#f-webhook-secret", SECRET).await;
    click(c, "#r-supervisor-sup-olga").await;
    c.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
    save_screenshot(&c.screenshot().await.unwrap(), "settings-line.png");
    click(c, "#save").await;
    arrive_saying(
        c,
        "/dashboard/lines/support",
        ".notice",
        "Saved: the line is at version 2",
    )
    .await;
    let line = call(&app, &key, "GET", "/v1/lines/support", None).await;
    assert_eq!(line["rating"]["scale"], "five_star", "{line}");
    assert_eq!(line["rating"]["request_text"], "How did we do today?");
    assert_eq!(line["webhook"]["url"], app.connector.url.as_str());
    assert_eq!(
        line["notify_low"],
        json!([{"kind": "supervisor", "id": "sup-olga"}])
    );
    assert_eq!(line["alerts"]["recipients"][0]["reachable"], true, "{line}");

    // "Send a test request": the connector gets it, signed, and the page shows its answer.
    click(c, "#send-test").await;
    let page = arrive(c, "/dashboard/lines/support/test-request", "#test-answer").await;
    assert!(
        page.contains("The connector accepted the test request"),
        "{page}"
    );
    assert!(page.contains("It answered HTTP 200."), "{page}");
    let got = app.connector.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].signature_ok);
    assert_eq!(got[0].body["test"], true);
    assert_eq!(got[0].body["text"], "How did we do today?");
    save_screenshot(
        &c.screenshot().await.unwrap(),
        "settings-connector-test.png",
    );

    // A session closed through the API, rated 2 ★: Olga's webhook hears of it.
    call(
        &app,
        &key,
        "POST",
        "/v1/sessions",
        Some(
            json!({"id": "s1", "line_id": "support", "channel": "webhook",
                    "client": {"id": "ann", "name": "Ann"}, "operator_id": "op-1"}),
        ),
    )
    .await;
    let closed = call(
        &app,
        &key,
        "POST",
        "/v1/sessions/s1/close",
        Some(json!({"closed_by": "operator"})),
    )
    .await;
    let request = closed["rating_request"]["id"].as_str().unwrap().to_owned();
    wait_until(
        || {
            app.connector
                .received()
                .iter()
                .any(|r| r.body["request_id"] == request.as_str())
        },
        || "the rating request never reached the connector".into(),
    )
    .await;
    call(
        &app,
        &key,
        "POST",
        "/v1/ratings",
        Some(json!({"request_id": request, "value": 2, "comment": "slow"})),
    )
    .await;
    wait_until(
        || {
            app.connector
                .received()
                .iter()
                .any(|r| r.body["alert"]["session_id"] == "s1")
        },
        || "Olga's webhook never got the alert".into(),
    )
    .await;

    // One field edited: nothing else changes.
    c.goto(&app.url("/dashboard/lines/support")).await.unwrap();
    arrive(c, "/dashboard/lines/support", "#settings").await;
    let before = call(&app, &key, "GET", "/v1/lines/support", None).await;
    type_in(c, "#f-rating-alert_delay_seconds", "30").await;
    click(c, "#save").await;
    arrive_saying(
        c,
        "/dashboard/lines/support",
        ".notice",
        "Saved: the line is at version 3",
    )
    .await;
    let after = call(&app, &key, "GET", "/v1/lines/support", None).await;
    assert_eq!(after["rating"]["alert_delay_seconds"], 30);
    let mut expected = settings_of(before);
    expected["rating"]["alert_delay_seconds"] = json!(30);
    assert_eq!(settings_of(after.clone()), expected);

    // A bad value: refused, the message next to its field, nothing saved.
    type_in(c, "#f-rating-delay_seconds", "9999").await;
    click(c, "#save").await;
    let page = arrive(
        c,
        "/dashboard/lines/support",
        "#f-rating-delay_seconds-error",
    )
    .await;
    assert!(
        page.contains("rating.delay_seconds: must be 0..=3600, got 9999"),
        "{page}"
    );
    let described = element(c, "#f-rating-delay_seconds")
        .await
        .attr("aria-describedby")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        described.contains("f-rating-delay_seconds-error"),
        "{described}"
    );
    save_screenshot(&c.screenshot().await.unwrap(), "settings-refused.png");
    assert_eq!(
        call(&app, &key, "GET", "/v1/lines/support", None).await,
        after
    );

    // The list: the line, active, its alerts reachable.
    click(c, "#nav-lines").await;
    let page = arrive(c, "/dashboard/lines", "#line-support").await;
    assert!(page.contains("every recipient reachable"), "{page}");
    save_screenshot(&c.screenshot().await.unwrap(), "settings-lines.png");

    // Olga's page: a test alert to her webhook, at a phone's width.
    c.set_window_size(420, 1400).await.unwrap();
    click(c, "#nav-people").await;
    arrive(c, "/dashboard/people", "#people").await;
    click(c, "a[href='/dashboard/people/sup-olga']").await;
    arrive(c, "/dashboard/people/sup-olga", "#test-webhook").await;
    click(c, "#test-webhook").await;
    // Said on her page, which the browser came back to: a refresh sends nothing again.
    let page = arrive(c, "/dashboard/people/sup-olga", "#flash").await;
    assert!(page.contains("The test alert went to"), "{page}");
    assert!(
        app.connector
            .received()
            .iter()
            .any(|r| r.body["test"] == true && r.body.get("alert").is_some()),
        "the test alert reached Olga's webhook"
    );
    c.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
    save_screenshot(&c.screenshot().await.unwrap(), "settings-person.png");

    // A key for a program, shown once.
    click(c, "#nav-keys").await;
    arrive(c, "/dashboard/keys", "#create-key").await;
    type_in(c, "#f-name", "CRM export").await;
    element(c, "#f-role")
        .await
        .select_by_value("supervisor")
        .await
        .unwrap();
    click(c, "#f-lines-support").await;
    click(c, "#create-key").await;
    let page = arrive(c, "/dashboard/keys", "#key-text").await;
    assert!(page.contains("Copy it now"), "{page}");
    c.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
    save_screenshot(&c.screenshot().await.unwrap(), "settings-keys.png");
}

/// An admin connects a Chatwoot account in the browser, from nothing: the Helpdesks page's
/// form, then the account's page where an inbox is mapped to a line, and the webhook URL to
/// paste. Chatwoot's next resolved conversation on that inbox is rated on that line.
async fn an_admin_connects_chatwoot_in_the_browser(kind: Db) {
    use rateline_testkit::chatwoot::{API_TOKEN, FakeChatwoot, WEBHOOK_SECRET, WIDGET_INBOX};
    let Some(b) = browser().await else { return };
    let Some(app) = spawn_app_with(kind, |_| {}).await else {
        return;
    };
    let fake = FakeChatwoot::start().await;
    let (status, body) = app
        .put("/v1/people/adm", json!({"name": "Ada", "role": "admin"}))
        .await;
    assert_eq!(status, 201, "{body}");
    app.line("support", json!({"delay_seconds": 0})).await;
    let key = close_with_a_key(&app).await;
    let c = &b.client;
    c.set_window_size(900, 2000).await.unwrap();
    set_password(c, &app, "adm").await;
    click(c, "#nav-connectors").await;
    arrive(c, "/dashboard/connectors", "#connect").await;

    element(c, "#f-helpdesk")
        .await
        .select_by_value("chatwoot")
        .await
        .unwrap();
    type_in(c, "#f-id", "1").await;
    type_in(c, "#f-url", &fake.url()).await;
    type_in(c, "#f-api_token", API_TOKEN).await;
    type_in(c, "#f-secret", WEBHOOK_SECRET).await;
    click(c, "#connect").await;
    arrive_saying(
        c,
        "/dashboard/connectors/chatwoot/1",
        "#settings",
        "Connected.",
    )
    .await;
    type_in(c, "#f-inboxes", &format!("{WIDGET_INBOX}: support")).await;
    click(c, "#save").await;
    let page = arrive_saying(c, "/dashboard/connectors/chatwoot/1", ".notice", "Saved").await;
    let webhook = app.url("/connectors/chatwoot/1/webhook");
    assert!(page.contains(&webhook), "{page}");
    assert!(!page.contains(API_TOKEN) && !page.contains(WEBHOOK_SECRET));
    c.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
    save_screenshot(&c.screenshot().await.unwrap(), "settings-chatwoot.png");

    // Chatwoot's webhook, pointed at that URL: the resolved conversation is rated.
    fake.set_now(crate::common::start_time());
    let conversation = fake.open(WIDGET_INBOX, "Ann Client");
    for hook in [fake.created(&conversation), fake.resolve(&conversation)] {
        let resp = hook.post_to(&webhook).await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    }
    let session = format!("/v1/sessions/chatwoot-1-{}", conversation.id);
    let s = call(&app, &key, "GET", &session, None).await;
    assert_eq!(s["line_id"], "support", "{s}");
    assert!(s["closed_at"].is_string(), "{s}");
}

crate::common::on_both_backends!(
    an_admin_sets_up_a_line_in_the_browser,
    an_admin_connects_chatwoot_in_the_browser
);
