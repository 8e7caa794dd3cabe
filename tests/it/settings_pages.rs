//! The admin's settings pages over HTTP, on both stores: the lines list, a new line, a
//! line's settings form (saved as a `PATCH` with `If-Match` would be, refused values shown
//! next to their field and nothing changed, a stale form refused), the "who will hear about
//! a low rating" panel, the connector's test request, and who may see or change what.

use crate::common::{Db, Reply, SECRET, TestApp, spawn_app_with};
use crate::dashboard::text;
use crate::people::close_with_a_key;
use crate::workbench::{post as send, signed_in};
use serde_json::{Value, json};

/// The settings form as the page fills it for a new line ("Support", the defaults), with
/// `changes` put in place of a field's values (an empty list leaves a box unchecked).
pub(crate) fn form<'a>(
    version: &'a str,
    changes: &[(&'a str, &[&'a str])],
) -> Vec<(&'a str, &'a str)> {
    let defaults: &[(&str, &[&str])] = &[
        ("version", &[version]),
        ("name", &["Support"]),
        ("active", &["on"]),
        ("rating.enabled", &["on"]),
        ("rating.scale", &["binary"]),
        (
            "rating.request_text",
            &["Please rate the quality of service"],
        ),
        ("rating.thanks_text", &["Thank you for your rating!"]),
        ("rating.language", &["en"]),
        ("rating.delay_seconds", &["3"]),
        ("auto_close_minutes", &[""]),
        ("survey.min_days_between", &["0"]),
        ("survey.across", &["line"]),
        ("survey.sample_percent", &["100"]),
        ("survey.min_client_messages", &["0"]),
        ("survey.skip_tags", &[""]),
        ("rating.answer_window_hours", &["72"]),
        ("rating.max_changes", &["2"]),
        ("rating.change_window_days", &["90"]),
        ("rating.low_threshold", &["2"]),
        ("rating.lowered_grace_hours", &["0"]),
        ("rating.operators_see_ratings", &["on"]),
        ("webhook.url", &[""]),
        ("webhook.secret", &[""]),
        ("whatsapp_template.name", &[""]),
        ("whatsapp_template.language", &[""]),
        ("whatsapp_template.buttons", &[""]),
        ("webchat.allowed_origins", &[""]),
        ("rating.alert_wait_seconds", &["120"]),
        ("rating.alert_delay_seconds", &["0"]),
        ("rating.alert_burst_over", &["10"]),
    ];
    let mut fields = Vec::new();
    for (name, values) in defaults {
        let values = changes
            .iter()
            .find(|(n, _)| n == name)
            .map_or(*values, |(_, v)| *v);
        fields.extend(values.iter().map(|v| (*name, *v)));
    }
    for (name, values) in changes {
        if !defaults.iter().any(|(n, _)| n == name) {
            fields.extend(values.iter().map(|v| (*name, *v)));
        }
    }
    fields
}

async fn line(app: &TestApp, key: &str) -> Value {
    let (status, body) = app
        .call_as(Some(key), "GET", "/v1/lines/support", None)
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The people the line's alerts may name: a supervisor with a webhook, an admin, and an
/// operator of the line without a manager.
async fn people(app: &TestApp) {
    for (id, body) in [
        (
            "sup-olga",
            json!({"name": "Olga", "role": "supervisor", "lines": ["support"],
                   "notify": {"webhook_url": app.connector.url, "webhook_secret": SECRET}}),
        ),
        ("adm", json!({"name": "Ada", "role": "admin"})),
        (
            "op-1",
            json!({"name": "Ben", "role": "operator", "lines": ["support"]}),
        ),
        (
            "sup-sam",
            json!({"name": "Sam", "role": "supervisor", "lines": ["sales"]}),
        ),
    ] {
        let (status, body) = app.put(&format!("/v1/people/{id}"), body).await;
        assert_eq!(status, 201, "{id}: {body}");
    }
}

async fn an_admin_makes_and_changes_a_line_from_its_page(db: Db) {
    let Some(app) = spawn_app_with(db, |_| {}).await else {
        return;
    };
    people(&app).await;
    let key = close_with_a_key(&app).await;
    let ada = signed_in(&app, "adm").await;

    // A new line from the list's form, then the same id again.
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/lines",
        &[("id", "support"), ("name", "Support")],
    )
    .await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("The line is made"), "{page}");
    assert!(page.contains(r#"id="f-rating-delay_seconds""#), "{page}");
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/lines",
        &[("id", "support"), ("name", "Other")],
    )
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(
        page.contains(
            r#"<p class="problem" id="f-id-error" role="alert">id: line 'support' exists already"#
        ),
        "the message is next to the id: {page}"
    );
    assert_eq!(line(&app, &key).await["name"], "Support");
    let (_, list) = text(&app, "/dashboard/lines", Some(&ada)).await;
    assert!(list.contains(r#"id="line-support""#), "{list}");
    assert!(list.contains("nobody is alerted"), "{list}");

    // The form, saved: the connector, five stars, Olga as recipient.
    let before = line(&app, &key).await;
    let version = before["version"].to_string();
    let url = app.connector.url.clone();
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/lines/support",
        &form(
            &version,
            &[
                ("rating.scale", &["five_star"]),
                ("rating.delay_seconds", &["0"]),
                ("webhook.url", &[url.as_str()]),
                ("webhook.secret", &[SECRET]),
                (
                    "notify_low",
                    &["supervisor:sup-olga", "responsible_manager"],
                ),
            ],
        ),
    )
    .await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("Saved: the line is at version"), "{page}");
    let after = line(&app, &key).await;
    assert_eq!(after["rating"]["scale"], "five_star");
    assert_eq!(after["webhook"]["url"], url.as_str());
    assert_eq!(
        after["notify_low"],
        json!([{"kind": "supervisor", "id": "sup-olga"}, {"kind": "responsible_manager"}])
    );
    for unchanged in [
        "rating/answer_window_hours",
        "rating/request_text",
        "active",
    ] {
        let p = format!("/{unchanged}");
        assert_eq!(before.pointer(&p), after.pointer(&p), "{unchanged}");
    }
    assert!(!page.contains(SECRET), "the secret is never shown");
    // The audit names Ada as the author of the change, the secret as changed only.
    let (_, audit) = app
        .call_as(
            Some(&key),
            "GET",
            "/v1/audit?kind=line&subject=support",
            None,
        )
        .await;
    let newest = &audit["entries"][0];
    assert_eq!(newest["actor"], "adm", "{audit}");
    let changes = newest["changes"].to_string();
    assert!(changes.contains("rating.scale"), "{audit}");
    assert!(!changes.contains(SECRET), "{audit}");
    // The panel: Olga is reached; Ben, the line's operator, has no manager.
    assert!(page.contains(r#"id="reach-recipients""#), "{page}");
    assert!(page.contains("operator 'op-1' has no manager_id"), "{page}");

    // A value out of range and one that is not a number: the message next to the field,
    // and nothing saved.
    let version = after["version"].to_string();
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/lines/support",
        &form(
            &version,
            &[
                ("rating.scale", &["five_star"]),
                ("rating.delay_seconds", &["5000"]),
                ("webhook.url", &[url.as_str()]),
            ],
        ),
    )
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(
        page.contains(r#"id="f-rating-delay_seconds-error" role="alert">rating.delay_seconds: must be 0..=3600, got 5000"#),
        "{page}"
    );
    assert!(
        page.contains(r#"value="5000""#),
        "what was typed is kept: {page}"
    );
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/lines/support",
        &form(&version, &[("rating.answer_window_hours", &["soon"])]),
    )
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(
        page.contains("rating.answer_window_hours: must be a whole number, got &#39;soon&#39;")
            || page.contains("rating.answer_window_hours: must be a whole number, got 'soon'"),
        "{page}"
    );
    assert_eq!(line(&app, &key).await, after, "nothing changed");

    // A form opened before someone else saved is refused, and shows the line as it is.
    let (status, body) = app
        .call_as(
            Some(&key),
            "PATCH",
            "/v1/lines/support",
            Some(json!({"rating": {"delay_seconds": 7}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/lines/support",
        &form(&version, &[("name", &["Help desk"])]),
    )
    .await;
    assert_eq!(status, 412, "{page}");
    assert!(
        page.contains("Someone changed this line since you opened it"),
        "{page}"
    );
    assert!(
        page.contains(r#"value="7""#),
        "the line as it is now: {page}"
    );
    assert_eq!(line(&app, &key).await["name"], "Support");

    // A stale form refused for a bad value still carries the version it was opened at, so
    // fixing the value does not undo the other admin's change.
    let opened = line(&app, &key).await["version"].to_string();
    let (status, _) = app
        .call_as(
            Some(&key),
            "PATCH",
            "/v1/lines/support",
            Some(json!({"rating": {"delay_seconds": 8}})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/lines/support",
        &form(&opened, &[("rating.delay_seconds", &["nine"])]),
    )
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(
        page.contains(&format!(r#"name="version" value="{opened}""#)),
        "{page}"
    );
    let (status, _) = send(
        &app,
        &ada,
        "/dashboard/lines/support",
        &form(&opened, &[("rating.delay_seconds", &["9"])]),
    )
    .await;
    assert_eq!(status, 412);
    assert_eq!(line(&app, &key).await["rating"]["delay_seconds"], 8);
    // A form without its version changes nothing.
    let mut unversioned = form("", &[("name", &["No version"])]);
    unversioned.retain(|(n, _)| *n != "version");
    let (status, _) = send(&app, &ada, "/dashboard/lines/support", &unversioned).await;
    assert_eq!(status, 412);
    assert_eq!(line(&app, &key).await["name"], "Support");
}

async fn the_connector_test_shows_what_the_connector_answered(db: Db) {
    let Some(app) = spawn_app_with(db, |_| {}).await else {
        return;
    };
    people(&app).await;
    let (status, body) = app
        .put(
            "/v1/lines/support",
            json!({"name": "Support", "webhook": {"url": app.connector.url, "secret": SECRET}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let key = close_with_a_key(&app).await;
    let ada = signed_in(&app, "adm").await;

    app.connector
        .reply_with([Reply::Body(r#"{"ok": true, "shown": "no"}"#)]);
    let (status, page) = send(&app, &ada, "/dashboard/lines/support/test-request", &[]).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("The connector accepted the test request"),
        "{page}"
    );
    assert!(page.contains("It answered HTTP 200."), "{page}");
    assert!(page.contains("&quot;shown&quot;: &quot;no&quot;"), "{page}");
    let got = app.connector.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].signature_ok, "signed with the line's secret");
    assert_eq!(got[0].body["test"], true);
    assert_eq!(got[0].body["line_id"], "support");
    assert_eq!(got[0].body["text"], "Please rate the quality of service");

    // A connector that fails says so, as a request's last_error would; the API says the same.
    app.connector.reply_with([Reply::Status(500)]);
    let (_, page) = send(&app, &ada, "/dashboard/lines/support/test-request", &[]).await;
    assert!(
        page.contains("The connector did not accept the test request"),
        "{page}"
    );
    assert!(page.contains("the connector answered HTTP 500"), "{page}");
    app.connector.reply_with([Reply::Status(404)]);
    let (status, body) = app
        .call_as(Some(&key), "POST", "/v1/lines/support/test-request", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], false, "{body}");
    assert_eq!(body["status"], 404, "{body}");
    assert_eq!(app.connector.received().len(), 3);
    // Nothing was stored: no session, no request.
    let (_, report) = app.call_as(Some(&key), "GET", "/v1/stats", None).await;
    assert_eq!(report["groups"], json!([]), "{report}");
    let (_, alerts) = app.call_as(Some(&key), "GET", "/v1/alerts", None).await;
    assert_eq!(alerts["alerts"], json!([]), "{alerts}");
}

async fn who_sees_and_who_changes_a_line(db: Db) {
    let Some(app) = spawn_app_with(db, |s| {
        s.lines = vec![json!({"id": "sales", "name": "Sales"})];
    })
    .await
    else {
        return;
    };
    people(&app).await;
    let (status, body) = app
        .put("/v1/lines/support", json!({"name": "Support"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let key = close_with_a_key(&app).await;

    // Olga supervises support: she sees its settings, read-only, and not sales'.
    let olga = signed_in(&app, "sup-olga").await;
    let (status, page) = text(&app, "/dashboard/lines/support", Some(&olga)).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Only admins change a line's settings"),
        "{page}"
    );
    assert!(!page.contains(r#"id="save""#), "{page}");
    assert!(!page.contains(r#"id="send-test""#), "{page}");
    let (status, _) = text(&app, "/dashboard/lines/sales", Some(&olga)).await;
    assert_eq!(status, 403);
    let (_, list) = text(&app, "/dashboard/lines", Some(&olga)).await;
    assert!(list.contains(r#"id="line-support""#), "{list}");
    assert!(!list.contains(r#"id="line-sales""#), "{list}");
    assert!(!list.contains(r#"id="create-line""#), "{list}");
    // Her save is refused by the engine's rule, and nothing changes.
    let before = line(&app, &key).await;
    let version = before["version"].to_string();
    let (status, page) = send(
        &app,
        &olga,
        "/dashboard/lines/support",
        &form(&version, &[("name", &["Mine"])]),
    )
    .await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("Changing a line needs"), "{page}");
    assert_eq!(line(&app, &key).await, before);
    let (status, _) = send(&app, &olga, "/dashboard/lines/support/test-request", &[]).await;
    assert_eq!(status, 403);
    assert!(app.connector.received().is_empty());

    // An operator has no lines page.
    let ben = signed_in(&app, "op-1").await;
    let (status, _) = text(&app, "/dashboard/lines", Some(&ben)).await;
    assert_eq!(status, 403);

    // A line from the config file is read-only, saying where it is defined.
    let ada = signed_in(&app, "adm").await;
    let (status, page) = text(&app, "/dashboard/lines/sales", Some(&ada)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("defined in the configuration file"), "{page}");
    assert!(!page.contains(r#"id="save""#), "{page}");
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/lines/sales",
        &form("1", &[("name", &["Sales 2"])]),
    )
    .await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("config file"), "{page}");
}

/// A person's form as their page fills it for Olga (`people`), with `changes` put in place.
fn person_form<'a>(
    version: &'a str,
    hook: &'a str,
    changes: &[(&'a str, &[&'a str])],
) -> Vec<(&'a str, &'a str)> {
    let defaults: &[(&str, &[&str])] = &[
        ("version", &[version]),
        ("name", &["Olga"]),
        ("role", &["supervisor"]),
        ("lines", &["support"]),
        ("manager_id", &[""]),
        ("time_zone", &[""]),
        ("notifications_enabled", &["on"]),
        ("notify.email", &[""]),
        ("notify.telegram_chat_id", &[""]),
        ("notify.webhook_url", &[hook]),
        ("notify.webhook_secret", &[""]),
    ];
    let mut fields = Vec::new();
    for (name, values) in defaults {
        let values = changes
            .iter()
            .find(|(n, _)| n == name)
            .map_or(*values, |(_, v)| *v);
        fields.extend(values.iter().map(|v| (*name, *v)));
    }
    fields
}

async fn person(app: &TestApp, key: &str, id: &str) -> Value {
    let (status, body) = app
        .call_as(Some(key), "GET", &format!("/v1/people/{id}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn an_admin_changes_a_person_from_their_page(db: Db) {
    let Some(app) = spawn_app_with(db, |s| {
        s.people = vec![json!({"id": "sup-file", "name": "Fay", "role": "supervisor"})];
    })
    .await
    else {
        return;
    };
    people(&app).await;
    let key = close_with_a_key(&app).await;
    let ada = signed_in(&app, "adm").await;
    let hook = app.connector.url.clone();

    // Olga's page: a test alert to her webhook, signed with her secret, saying it is a test.
    let (status, page) = text(&app, "/dashboard/people/sup-olga", Some(&ada)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(r#"id="test-webhook""#), "{page}");
    assert!(
        !page.contains(r#"id="test-email""#),
        "no e-mail, no button: {page}"
    );
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/people/sup-olga/test-alert",
        &[("sink", "webhook")],
    )
    .await;
    assert_eq!(status, 303, "sent, then her page: {page}");
    assert!(
        page.contains("The test alert went to their webhook"),
        "{page}"
    );
    // Her page again (a refresh): said no more, and nothing sent again.
    let (_, again) = text(&app, "/dashboard/people/sup-olga", Some(&ada)).await;
    assert!(!again.contains("The test alert went to"), "{again}");
    let got = app.connector.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].signature_ok, "signed with Olga's secret");
    assert_eq!(got[0].body["test"], true);
    assert!(
        got[0].body["text"]
            .as_str()
            .unwrap()
            .starts_with("Test alert from Rateline"),
        "{:?}",
        got[0].body
    );
    // An address she does not have: said so, nothing sent.
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/people/sup-olga/test-alert",
        &[("sink", "email")],
    )
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(
        page.contains("person &#39;sup-olga&#39; has no notify.email")
            || page.contains("person 'sup-olga' has no notify.email"),
        "{page}"
    );
    assert_eq!(app.connector.received().len(), 1);

    // Her form: an e-mail and a manager added, the rest kept (the webhook secret too).
    let before = person(&app, &key, "sup-olga").await;
    let version = before["version"].to_string();
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/people/sup-olga",
        &person_form(
            &version,
            &hook,
            &[
                ("notify.email", &["olga@example.com"]),
                ("manager_id", &["adm"]),
            ],
        ),
    )
    .await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("Saved: the person is at version"), "{page}");
    let after = person(&app, &key, "sup-olga").await;
    assert_eq!(after["notify"]["email"], "olga@example.com");
    assert_eq!(after["manager_id"], "adm");
    assert_eq!(after["notify"]["webhook_url"], hook.as_str());
    assert_eq!(after["lines"], json!(["support"]));
    send(
        &app,
        &ada,
        "/dashboard/people/sup-olga/test-alert",
        &[("sink", "webhook")],
    )
    .await;
    assert!(
        app.connector.received()[1].signature_ok,
        "the secret left blank is kept"
    );

    // Bad values, each next to its field; nothing saved.
    let version = after["version"].to_string();
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/people/sup-olga",
        &person_form(&version, &hook, &[("notify.email", &["not an address"])]),
    )
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(
        page.contains(
            r#"id="f-notify-email-error" role="alert">notify.email: must be an e-mail address"#
        ),
        "{page}"
    );
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/people/sup-olga",
        &person_form(&version, &hook, &[("notify.telegram_chat_id", &["@olga"])]),
    )
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(
        page.contains(r#"id="f-notify-telegram_chat_id-error""#),
        "{page}"
    );
    assert_eq!(person(&app, &key, "sup-olga").await, after);

    // Deactivated only when confirmed, then back.
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/people/sup-olga/active",
        &[("active", "false"), ("version", &version)],
    )
    .await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("Nothing changed: tick “I am sure”"), "{page}");
    assert_eq!(person(&app, &key, "sup-olga").await["active"], true);
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/people/sup-olga/active",
        &[
            ("active", "false"),
            ("version", &version),
            ("confirm", "yes"),
        ],
    )
    .await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("Olga is deactivated"), "{page}");
    assert!(page.contains(r#"id="reactivate""#), "{page}");
    assert_eq!(person(&app, &key, "sup-olga").await["active"], false);
    let version = person(&app, &key, "sup-olga").await["version"].to_string();
    let (status, _) = send(
        &app,
        &ada,
        "/dashboard/people/sup-olga/active",
        &[("active", "true"), ("version", &version)],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(person(&app, &key, "sup-olga").await["active"], true);

    // The invitation from her page, shown there.
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/people/sup-olga/invitation",
        &[("from", "person")],
    )
    .await;
    assert_eq!(status, 303, "made, then her page showing it: {page}");
    assert!(page.contains(r#"id="invitation-url""#), "{page}");
    assert!(page.contains(r#"id="test-alerts""#), "her page: {page}");

    // A new person from the list; the same id again refused next to it.
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/people",
        &[("id", "op-2"), ("name", "Kim"), ("role", "operator")],
    )
    .await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("The person is added"), "{page}");
    assert_eq!(person(&app, &key, "op-2").await["role"], "operator");
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/people",
        &[("id", "op-2"), ("name", "Kim 2"), ("role", "operator")],
    )
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains(r#"id="f-id-error""#), "{page}");

    // A manager not known yet is offered, so a save that changes something else keeps it.
    let (status, body) = app
        .call_as(
            Some(&key),
            "PATCH",
            "/v1/people/op-2",
            Some(json!({"manager_id": "boss-later"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, page) = text(&app, "/dashboard/people/op-2", Some(&ada)).await;
    assert!(
        page.contains(r#"<option value="boss-later" selected>boss-later (not known to Rateline)"#),
        "{page}"
    );

    // A person from the config file: read-only, saying where.
    let (_, page) = text(&app, "/dashboard/people/sup-file", Some(&ada)).await;
    assert!(page.contains("defined in the configuration file"), "{page}");
    assert!(!page.contains(r#"id="save""#), "{page}");

    // Olga sees her own page read-only and may test her own addresses; not another's.
    let olga = signed_in(&app, "sup-olga").await;
    let (status, page) = text(&app, "/dashboard/people/sup-olga", Some(&olga)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Send me a test alert"), "{page}");
    assert!(!page.contains(r#"id="save""#), "{page}");
    assert!(
        !page.contains("sup-sam") && !page.contains("op-2"),
        "other people are an admin's to list: {page}"
    );
    let (status, _) = send(
        &app,
        &olga,
        "/dashboard/people/sup-olga/test-alert",
        &[("sink", "webhook")],
    )
    .await;
    assert_eq!(status, 303);
    let (status, _) = text(&app, "/dashboard/people/adm", Some(&olga)).await;
    assert_eq!(status, 403);
    let version = person(&app, &key, "sup-olga").await["version"].to_string();
    let (status, _) = send(
        &app,
        &olga,
        "/dashboard/people/sup-olga",
        &person_form(&version, &hook, &[("role", &["admin"])]),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(person(&app, &key, "sup-olga").await["role"], "supervisor");
    // The same test over the API, with her key's rules: an admin's key may test anyone.
    let (status, body) = app
        .call_as(
            Some(&key),
            "POST",
            "/v1/people/sup-olga/test-alert",
            Some(json!({"sink": "webhook"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["delivered"], true, "{body}");
}

async fn groups_and_keys_from_their_pages(db: Db) {
    let Some(app) = spawn_app_with(db, |_| {}).await else {
        return;
    };
    people(&app).await;
    let (status, body) = app
        .put("/v1/lines/support", json!({"name": "Support"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let key = close_with_a_key(&app).await;
    let ada = signed_in(&app, "adm").await;

    // A group made, its members chosen by name.
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/groups",
        &[("id", "leads"), ("name", "Leads")],
    )
    .await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("The group is made"), "{page}");
    assert!(page.contains("Olga (sup-olga)"), "{page}");
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/groups/leads",
        &[
            ("name", "Leads"),
            ("members", "sup-olga"),
            ("members", "sup-sam"),
        ],
    )
    .await;
    assert_eq!(status, 303, "{page}");
    let (_, group) = app
        .call_as(Some(&key), "GET", "/v1/groups/leads", None)
        .await;
    assert_eq!(group["members"], json!(["sup-olga", "sup-sam"]), "{group}");
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/groups/leads",
        &[("name", " "), ("members", "sup-olga")],
    )
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains(r#"id="f-name-error""#), "{page}");
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/groups",
        &[("id", "leads"), ("name", "Again")],
    )
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains(r#"id="f-id-error""#), "{page}");
    let (_, page) = text(&app, "/dashboard/groups", Some(&ada)).await;
    assert!(page.contains(r#"id="group-leads""#), "{page}");
    let (_, group) = app
        .call_as(Some(&key), "GET", "/v1/groups/leads", None)
        .await;
    assert_eq!(
        group["members"],
        json!(["sup-olga", "sup-sam"]),
        "unchanged: {group}"
    );

    // A key made on the page, shown once (and kept by no cache), working; then revoked, and
    // refused.
    let resp = app
        .http
        .get(app.url("/dashboard/keys"))
        .header("cookie", &ada)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let (_, page) = text(&app, "/dashboard/keys", Some(&ada)).await;
    assert!(page.contains("ops"), "the admin key is listed: {page}");
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/keys",
        &[
            ("name", "CRM export"),
            ("role", "supervisor"),
            ("lines", "support"),
        ],
    )
    .await;
    assert_eq!(status, 201, "{page}");
    let at = page.find(r#"id="key-text""#).expect("the key is shown");
    let made = &page[at..];
    let made = &made[made.find("value=\"").unwrap() + 7..];
    let made = made[..made.find('"').unwrap()].to_owned();
    assert!(made.starts_with("rl_"), "{made}");
    let id = made.split('_').nth(1).unwrap();
    // "Last used": never, until it opens a call; then when (kept in memory, written by
    // the scheduler every minute and at the stop, so the call itself writes nothing).
    let last_used = |page: &str| {
        let row = &page[page.find(&format!(r#"id="key-{id}""#)).unwrap()..];
        let cell = &row[row.find(r#"class="last-used""#).unwrap()..];
        cell[cell.find('>').unwrap() + 1..cell.find("</td>").unwrap()].to_owned()
    };
    let (_, page) = text(&app, "/dashboard/keys", Some(&ada)).await;
    assert_eq!(last_used(&page), "never");
    let (status, lines) = app.call_as(Some(&made), "GET", "/v1/lines", None).await;
    assert_eq!(status, 200, "{lines}");
    assert_eq!(lines["lines"][0]["id"], "support");
    let (_, page) = text(&app, "/dashboard/keys", Some(&ada)).await;
    assert!(!page.contains(&made), "shown only once");
    assert!(
        last_used(&page).contains("2026-11-21"),
        "{}",
        last_used(&page)
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM api_keys WHERE id = '{id}' AND last_used_at IS NOT NULL"
        ))
        .await,
        0,
        "the call wrote nothing"
    );
    let (status, page) = send(&app, &ada, &format!("/dashboard/keys/{id}/revoke"), &[]).await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("Nothing changed: tick “I am sure”"), "{page}");
    let (status, _) = app.call_as(Some(&made), "GET", "/v1/lines", None).await;
    assert_eq!(status, 200, "not revoked without the box ticked");
    let revoke = format!("/dashboard/keys/{id}/revoke");
    let (status, page) = send(&app, &ada, &revoke, &[("confirm", "yes")]).await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("is revoked"), "{page}");
    let (status, _) = app.call_as(Some(&made), "GET", "/v1/lines", None).await;
    assert_eq!(status, 401);
    // An operator key needs its operator: said next to the field, nothing made.
    let (status, page) = send(
        &app,
        &ada,
        "/dashboard/keys",
        &[
            ("name", "Ben's tool"),
            ("role", "operator"),
            ("person_id", ""),
        ],
    )
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains(r#"id="f-person_id-error""#), "{page}");
    let (_, keys) = app.call_as(Some(&key), "GET", "/v1/keys", None).await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2, "{keys}");

    // Neither page is a supervisor's.
    let olga = signed_in(&app, "sup-olga").await;
    for page in ["/dashboard/groups", "/dashboard/keys"] {
        let (status, _) = text(&app, page, Some(&olga)).await;
        assert_eq!(status, 403, "{page}");
    }
    let (status, _) = send(
        &app,
        &olga,
        "/dashboard/keys",
        &[("name", "mine"), ("role", "admin")],
    )
    .await;
    assert_eq!(status, 403);
}

crate::common::on_both_backends!(
    groups_and_keys_from_their_pages,
    an_admin_changes_a_person_from_their_page,
    an_admin_makes_and_changes_a_line_from_its_page,
    the_connector_test_shows_what_the_connector_answered,
    who_sees_and_who_changes_a_line,
);

/// When a key was last used reaches the store when the server stops, as it does every
/// minute: a restart loses at most a minute of it, never the whole.
async fn a_keys_last_use_is_written_when_the_server_stops(db: Db) {
    let Some(app) = spawn_app_with(db, |_| {}).await else {
        return;
    };
    let key = crate::people::close_with_a_key(&app).await;
    app.use_key(&key);
    let (status, body) = app.get("/v1/keys").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["keys"][0]["last_used_at"], "2026-11-21T09:00:00Z",
        "{body}"
    );
    let (db, _, _) = app.stop().await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    let written: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM api_keys WHERE last_used_at IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert_eq!(written, 1);
}

crate::common::on_both_backends!(a_keys_last_use_is_written_when_the_server_stops);
