//! Low-rating alerts and the follow-up loop end to end: the real server and database, a
//! real SMTP server on loopback (`rateline_testkit::smtp`), the fake Bot API for Telegram alerts, and
//! the local connector as the recipients' webhook.

use crate::common::{Db, TestApp, start_time, test_settings, wait_until};
use rateline::clock::ManualClock;
use rateline::settings::{Settings, SmtpSettings, TelegramMode, TelegramSettings};
use rateline_testkit::smtp::FakeSmtp;
use rateline_testkit::telegram::{FakeBotApi, TOKEN};
use serde_json::{Value, json};

const MANAGER_CHAT: i64 = 700_100_200;

struct AlertApp {
    app: TestApp,
    smtp: FakeSmtp,
    bot: FakeBotApi,
}

async fn spawn(kind: Db) -> Option<AlertApp> {
    spawn_with(kind, |_| {}).await
}

async fn spawn_with(kind: Db, tweak: impl FnOnce(&mut Settings)) -> Option<AlertApp> {
    let db = crate::common::TestDb::new(kind).await?;
    let smtp = FakeSmtp::start().await;
    let bot = FakeBotApi::start().await;
    bot.add_chat(MANAGER_CHAT, "Mira");
    let mut settings = test_settings(&db);
    settings.smtp = Some(SmtpSettings {
        url: smtp.url(),
        from: "Rateline <rateline@example.com>".into(),
    });
    settings.telegram = Some(TelegramSettings {
        token: TOKEN.into(),
        api_url: bot.url(),
        webhook_secret: Some("alerts-test-webhook-secret".into()),
        webhook_url: None,
        mode: TelegramMode::Webhook,
        callback_secret: None,
        max_per_second: 25,
        poll_timeout_seconds: 1,
    });
    settings.scheduler.send_timeout_seconds = 2;
    settings.server.public_url = Some("https://rateline.example".into());
    tweak(&mut settings);
    let clock = ManualClock::new(start_time());
    let connector = crate::common::Connector::start().await;
    let app = TestApp::start(db, settings, clock, connector).await;
    Some(AlertApp { app, smtp, bot })
}

/// People: a supervisor with e-mail and webhook, a manager on Telegram, the operator who
/// reports to the manager, one person with notifications off and one with no address; a
/// group holding the supervisor again and the last two.
async fn people(app: &TestApp) {
    let hook = app.connector.url.clone();
    for (id, body) in [
        (
            "sup",
            json!({"name": "Sam", "role": "supervisor",
                   "notify": {"email": "sam@example.com", "webhook_url": hook,
                              "webhook_secret": crate::common::SECRET}}),
        ),
        (
            "mgr",
            json!({"name": "Mira", "role": "supervisor",
                   "notify": {"telegram_chat_id": MANAGER_CHAT}}),
        ),
        (
            "op-1",
            json!({"name": "Olga", "role": "operator", "manager_id": "mgr"}),
        ),
        (
            "quiet",
            json!({"name": "Quinn", "role": "supervisor",
                   "notify": {"email": "quinn@example.com"}, "notifications_enabled": false}),
        ),
        ("nowhere", json!({"name": "Nora", "role": "supervisor"})),
    ] {
        let (status, body) = app.put(&format!("/v1/people/{id}"), body).await;
        assert!(status == 201 || status == 200, "{id}: {body}");
    }
    let (status, body) = app
        .put(
            "/v1/groups/g-1",
            json!({"name": "Leads", "members": ["sup", "quiet", "nowhere"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// A webhook line that alerts the supervisor, the responsible manager and the group.
async fn alerting_line(app: &TestApp, id: &str, rating: Value) {
    let mut r = json!({"delay_seconds": 0});
    if let (Some(r), Some(extra)) = (r.as_object_mut(), rating.as_object()) {
        r.extend(extra.clone());
    }
    let (status, body) = app
        .put(
            &format!("/v1/lines/{id}"),
            json!({
                "name": "Support",
                "rating": r,
                "webhook": {"url": app.connector.url, "secret": crate::common::SECRET},
                "notify_low": [
                    {"kind": "supervisor", "id": "sup"},
                    {"kind": "responsible_manager"},
                    {"kind": "group", "id": "g-1"},
                ],
            }),
        )
        .await;
    assert!(status == 201 || status == 200, "{body}");
}

/// Opens, closes and sends one session's request; returns its id.
async fn sent_request(app: &TestApp, session: &str, line: &str) -> String {
    app.open(session, line, "op-1").await;
    let request = app.close(session).await;
    app.wait_for_status(session, "sent").await;
    request
}

async fn rate(app: &TestApp, request: &str, value: i64, comment: Option<&str>) -> Value {
    let (status, body) = app
        .post(
            "/v1/ratings",
            json!({"request_id": request, "value": value, "comment": comment}),
        )
        .await;
    assert!(status == 201 || status == 200, "rating: {status} {body}");
    body
}

async fn alerts(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/v1/alerts{query}")).await;
    assert_eq!(status, 200, "{body}");
    body["alerts"].as_array().unwrap().clone()
}

/// The (recipient, sink, status) of every alert, sorted.
async fn alert_states(app: &TestApp) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = alerts(app, "")
        .await
        .iter()
        .map(|a| {
            (
                a["recipient"].as_str().unwrap().to_owned(),
                a["sink"].as_str().unwrap().to_owned(),
                a["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

fn alert_posts(app: &TestApp) -> Vec<Value> {
    signed_alert_posts(app)
        .into_iter()
        .map(|(b, _)| b)
        .collect()
}

/// The alerts posted to the webhook, each with whether it was signed with
/// `crate::common::SECRET`.
fn signed_alert_posts(app: &TestApp) -> Vec<(Value, bool)> {
    app.connector
        .received()
        .into_iter()
        .filter(|r| r.body.get("alert").is_some())
        .map(|r| (r.body, r.signature_ok))
        .collect()
}

async fn a_low_rating_alerts_every_kind_of_recipient_once(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let app = &t.app;
    people(app).await;
    alerting_line(app, "support", json!({})).await;
    let good = sent_request(app, "s-good", "support").await;
    rate(app, &good, 1, None).await;
    let bad = sent_request(app, "s-bad", "support").await;
    rate(app, &bad, 0, Some("rude and slow")).await;

    // E-mail to the supervisor, once although the group names them again.
    let mail = t.smtp.wait_for(1).await;
    assert_eq!(mail[0].to, vec!["sam@example.com".to_owned()]);
    assert_eq!(mail[0].subject, "Low rating 👎 on Support: Olga (op-1)");
    for part in [
        "line Support (support)",
        "Operator: Olga (op-1)",
        "Client: Ann (client-s-bad) via webhook",
        "Comment:\n> rude and slow",
        "Session: https://rateline.example/dashboard/sessions/s-bad",
    ] {
        assert!(
            mail[0].body.contains(part),
            "{part} missing: {}",
            mail[0].body
        );
    }
    // The supervisor's webhook: Slack's `text`, and the fields for programs.
    wait_until(
        || alert_posts(app).len() == 1,
        || format!("alert webhooks: {:?}", alert_posts(app)),
    )
    .await;
    let post = &alert_posts(app)[0];
    assert!(
        post["text"]
            .as_str()
            .unwrap()
            .starts_with("Low rating 👎 on line Support")
    );
    assert_eq!(post["alert"]["session_id"], "s-bad");
    assert_eq!(post["alert"]["comment"], "rude and slow");
    assert_eq!(
        post["alert"]["page_url"],
        "https://rateline.example/dashboard/sessions/s-bad"
    );
    assert_eq!(
        post["alert"]["session_url"],
        "https://rateline.example/v1/sessions/s-bad"
    );
    assert!(
        signed_alert_posts(app)[0].1,
        "the alert was not signed with the supervisor's notify.webhook_secret"
    );
    // The responsible manager (the operator's manager_id) on Telegram.
    wait_until(
        || !t.bot.messages(MANAGER_CHAT).is_empty(),
        || "no Telegram alert to the manager".into(),
    )
    .await;
    let tg = &t.bot.messages(MANAGER_CHAT)[0];
    assert!(tg.text.contains("Operator: Olga (op-1)"), "{}", tg.text);
    assert!(tg.reply_markup.is_none(), "an alert has no rating buttons");

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let states = alert_states(app).await;
        if states
            .iter()
            .all(|(_, _, s)| s != "pending" && s != "sending")
        {
            assert_eq!(
                states,
                vec![
                    ("mgr".into(), "telegram".into(), "sent".into()),
                    ("nowhere".into(), "none".into(), "failed".into()),
                    ("quiet".into(), "none".into(), "skipped".into()),
                    ("sup".into(), "email".into(), "sent".into()),
                    ("sup".into(), "webhook".into(), "sent".into()),
                ]
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{states:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let why = alerts(app, "?state=skipped").await;
    assert_eq!(
        why[0]["last_error"],
        "person 'quiet' has notifications switched off"
    );
    let failed = alerts(app, "?state=failed").await;
    assert!(
        failed[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("notify.email"),
        "{failed:?}"
    );

    // Changed up and down again: still one alert per recipient.
    rate(app, &bad, 1, None).await;
    rate(app, &bad, 0, None).await;
    app.settle().await;
    assert_eq!(t.smtp.messages().len(), 1);
    assert_eq!(alert_posts(app).len(), 1);
    assert_eq!(t.bot.messages(MANAGER_CHAT).len(), 1);
    assert_eq!(alerts(app, "").await.len(), 5);
    // The session view shows the rating's alerts.
    let view = app.session("s-bad").await;
    assert_eq!(view["rating"]["alerts"].as_array().unwrap().len(), 5);
}

async fn a_refused_alert_is_retried_with_backoff_and_delivered_once(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let app = &t.app;
    people(app).await;
    alerting_line(app, "support", json!({})).await;
    t.smtp.fail_next(1);
    let bad = sent_request(app, "s-1", "support").await;
    rate(app, &bad, 0, None).await;
    wait_until(
        || t.smtp.refused() == 1,
        || "the first try never came".into(),
    )
    .await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let email = loop {
        let a = alerts(app, "?state=pending").await;
        if let Some(a) = a.into_iter().find(|a| a["sink"] == "email") {
            break a;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no e-mail alert back in the queue"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(email["attempts"], 1);
    assert!(
        email["last_error"].as_str().unwrap().contains("451"),
        "{email}"
    );
    assert!(t.smtp.messages().is_empty());
    // The backoff is on the engine's clock.
    app.advance(chrono::Duration::minutes(2));
    let mail = t.smtp.wait_for(1).await;
    assert_eq!(mail.len(), 1);
    app.settle().await;
    assert_eq!(t.smtp.messages().len(), 1, "sent twice");
    let sent = alerts(app, "?state=sent").await;
    let email = sent.iter().find(|a| a["sink"] == "email").unwrap();
    assert_eq!(email["attempts"], 2);
}

async fn a_delayed_alert_survives_a_restart(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    people(&t.app).await;
    alerting_line(&t.app, "support", json!({"alert_delay_seconds": 60})).await;
    let bad = sent_request(&t.app, "s-1", "support").await;
    rate(&t.app, &bad, 0, None).await;
    t.app.settle().await;
    assert!(t.smtp.messages().is_empty(), "the delay was not kept");
    let smtp = t.smtp;
    let (db, clock, connector) = t.app.stop().await;
    let mut settings = test_settings(&db);
    settings.smtp = Some(SmtpSettings {
        url: smtp.url(),
        from: "rateline@example.com".into(),
    });
    let app = TestApp::start(db, settings, clock, connector).await;
    app.advance(chrono::Duration::seconds(61));
    let mail = smtp.wait_for(1).await;
    assert_eq!(mail[0].to, vec!["sam@example.com".to_owned()]);
    app.settle().await;
    assert_eq!(smtp.messages().len(), 1);
}

async fn responses_appeals_flags_and_evaluations_change_what_reports_show(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let app = &t.app;
    people(app).await;
    alerting_line(app, "support", json!({"scale": "five_star"})).await;
    let r1 = sent_request(app, "s-1", "support").await;
    let g1 = rate(app, &r1, 1, Some("you are all idiots")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r2 = sent_request(app, "s-2", "support").await;
    rate(app, &r2, 5, None).await;
    let stats = |q: &'static str| async move {
        let (status, body) = app.get(&format!("/v1/stats{q}")).await;
        assert_eq!(status, 200, "{body}");
        body["groups"][0].clone()
    };
    let before = stats("").await;
    assert_eq!(
        (before["answered"].as_i64(), before["low"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(before["average"], 3.0);

    // Unanswered low ratings, per line and operator.
    let (_, body) = app.get("/v1/alerts?state=unanswered").await;
    assert_eq!(body["unanswered"]["total"], 1);
    assert_eq!(
        body["unanswered"]["by_line"],
        json!([{"key": "support", "count": 1}])
    );
    assert_eq!(
        body["unanswered"]["by_operator"],
        json!([{"key": "op-1", "count": 1}])
    );
    assert_eq!(
        body["unanswered"]["ratings"][0]["comment"],
        "you are all idiots"
    );

    // The comment is flagged: hidden from the list, kept on the rating.
    let (status, body) = app
        .put(
            &format!("/v1/ratings/{g1}/comment-flag"),
            json!({"abusive": true}),
        )
        .await;
    assert_eq!((status, &body["comment_flagged"]), (200, &json!(true)));
    let (_, body) = app.get("/v1/alerts?state=unanswered").await;
    assert_eq!(body["unanswered"]["ratings"][0]["comment"], Value::Null);
    assert_eq!(
        app.session("s-1").await["rating"]["comment"],
        "you are all idiots"
    );

    // One response, edited, then sent to the client through the line's connector.
    let path = format!("/v1/ratings/{g1}/response");
    let (status, body) = app
        .put(
            &path,
            json!({"text": "Sorry, we'll call you.", "author_id": "sup"}),
        )
        .await;
    assert_eq!((status, &body["delivery"]), (201, &Value::Null), "{body}");
    let (status, body) = app
        .put(
            &path,
            json!({"text": "Sorry — we will call you today.", "send_to_client": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["edits"].as_i64(), &body["author_id"]),
        (Some(1), &json!("sup"))
    );
    wait_until(
        || {
            app.connector
                .received()
                .iter()
                .any(|r| r.body["event"] == "response")
        },
        || format!("{:?}", app.connector.received()),
    )
    .await;
    let sent = app
        .connector
        .received()
        .into_iter()
        .find(|r| r.body["event"] == "response")
        .unwrap();
    assert!(sent.signature_ok, "the response was not signed");
    assert_eq!(sent.body["text"], "Sorry — we will call you today.");
    assert_eq!(sent.body["client"]["id"], "client-s-1");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.session("s-1").await["rating"]["response"]["delivery"]["status"] != "sent" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivery never recorded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (_, body) = app.get("/v1/alerts?state=unanswered").await;
    assert_eq!(body["unanswered"]["total"], 0);

    // The operator appeals; a second appeal is refused; the admin approves: voided.
    let (status, appeal) = app
        .post(
            &format!("/v1/ratings/{g1}/appeal"),
            json!({"reason": "the client was angry about prices"}),
        )
        .await;
    assert_eq!(
        (status, &appeal["status"]),
        (201, &json!("open")),
        "{appeal}"
    );
    assert_eq!(appeal["operator_id"], "op-1");
    let (status, body) = app
        .post(
            &format!("/v1/ratings/{g1}/appeal"),
            json!({"reason": "again"}),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("already_appealed"))
    );
    let decision = format!("/v1/appeals/{}/decision", appeal["id"].as_str().unwrap());
    let (status, body) = app
        .post(
            &decision,
            json!({"approve": true, "note": "pricing, not service"}),
        )
        .await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("approved")),
        "{body}"
    );
    let (status, body) = app.post(&decision, json!({"approve": false})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("appeal_decided"))
    );
    let after = stats("").await;
    assert_eq!(
        (
            after["sent"].as_i64(),
            after["answered"].as_i64(),
            after["low"].as_i64()
        ),
        (Some(2), Some(1), Some(0)),
        "{after}"
    );
    assert_eq!(after["average"], 5.0);
    let view = app.session("s-1").await;
    assert_eq!(view["rating"]["voided"], true);
    assert_eq!(
        view["rating"]["history"][0]["value"], 1,
        "the audit trail is kept"
    );

    // A supervisor's own evaluation, reported beside the client's rating.
    let (status, body) = app
        .put(
            "/v1/sessions/s-1/evaluation",
            json!({"stars": 4, "comment": "handled well", "author_id": "sup"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = app
        .put("/v1/sessions/s-2/evaluation", json!({"stars": 3}))
        .await;
    assert_eq!(status, 201);
    let (status, _) = app
        .put("/v1/sessions/s-2/evaluation", json!({"stars": 2}))
        .await;
    assert_eq!(status, 200, "an evaluation is replaced, not added");
    let s = stats("?by=operator").await;
    assert_eq!(
        (s["key"].as_str(), s["evaluated"].as_i64()),
        (Some("op-1"), Some(2))
    );
    assert_eq!(s["evaluation_average"], 3.0);
    assert_eq!(app.session("s-1").await["evaluation"]["stars"], 4);
}

async fn a_lowered_rating_waits_out_the_grace_period(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let app = &t.app;
    people(app).await;
    alerting_line(
        app,
        "support",
        json!({"scale": "five_star", "lowered_grace_hours": 24}),
    )
    .await;
    let r1 = sent_request(app, "s-1", "support").await;
    rate(app, &r1, 5, None).await;
    let r2 = sent_request(app, "s-2", "support").await;
    rate(app, &r2, 1, None).await;
    let report = || async {
        let (_, body) = app.get("/v1/stats").await;
        let g = &body["groups"][0];
        (
            g["answered"].as_i64(),
            g["average"].as_f64(),
            g["low"].as_i64(),
        )
    };
    // The new low rating does not count yet; the alert went out at once all the same.
    assert_eq!(report().await, (Some(1), Some(5.0), Some(0)));
    t.smtp.wait_for(1).await;
    // Lowered 5 → 2: counted as 5 during the grace period.
    rate(app, &r1, 2, None).await;
    assert_eq!(report().await, (Some(1), Some(5.0), Some(0)));
    app.advance(chrono::Duration::hours(24) + chrono::Duration::seconds(1));
    assert_eq!(report().await, (Some(2), Some(1.5), Some(2)));
    // Raised 2 → 4: counts at once.
    rate(app, &r1, 4, None).await;
    assert_eq!(report().await, (Some(2), Some(2.5), Some(1)));
}

async fn bad_follow_up_input_is_named_and_changes_nothing(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let app = &t.app;
    people(app).await;
    alerting_line(app, "support", json!({})).await;
    let r = sent_request(app, "s-1", "support").await;
    let g = rate(app, &r, 0, None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (method, path, body, status, code) in [
        (
            "PUT",
            "/v1/sessions/s-1/evaluation",
            json!({"stars": 6}),
            422,
            "invalid_field",
        ),
        (
            "PUT",
            "/v1/sessions/nope/evaluation",
            json!({"stars": 3}),
            404,
            "session_not_found",
        ),
        (
            "PUT",
            "/v1/ratings/nope/response",
            json!({"text": "hi"}),
            404,
            "rating_not_found",
        ),
        (
            "PUT",
            &format!("/v1/ratings/{g}/response"),
            json!({"text": "hi", "author_id": "ghost"}),
            422,
            "invalid_field",
        ),
        (
            "PUT",
            &format!("/v1/ratings/{g}/response"),
            json!({"text": " "}),
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/v1/appeals/nope/decision",
            json!({"approve": true}),
            404,
            "appeal_not_found",
        ),
        (
            "GET",
            "/v1/alerts?state=lost",
            Value::Null,
            400,
            "invalid_parameter",
        ),
        (
            "GET",
            "/v1/alerts?sate=sent",
            Value::Null,
            400,
            "unknown_parameter",
        ),
        (
            "GET",
            "/v1/alerts?limit=0",
            Value::Null,
            400,
            "invalid_parameter",
        ),
    ] {
        let body = (!body.is_null()).then_some(body);
        let (got, answer) = app.call(method, path, body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{method} {path}: {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.len() > 10),
            "{answer}"
        );
    }
    let view = app.session("s-1").await;
    assert_eq!(view["evaluation"], Value::Null);
    assert_eq!(view["rating"]["response"], Value::Null);
}

/// A person without a secret of their own gets alerts signed with the server's
/// `alerts.webhook_secret`; the secret is never shown back.
async fn alert_webhooks_without_a_persons_secret_are_signed_with_the_servers(kind: Db) {
    let Some(t) = spawn_with(kind, |s| {
        s.alerts.webhook_secret = Some(crate::common::SECRET.into());
    })
    .await
    else {
        return;
    };
    let app = &t.app;
    let (status, body) = app
        .put(
            "/v1/people/sup",
            json!({"name": "Sam", "role": "supervisor",
                   "notify": {"webhook_url": app.connector.url}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["notify"].get("webhook_secret").is_none(), "{body}");
    let (status, body) = app
        .put(
            "/v1/lines/support",
            json!({"name": "Support", "rating": {"delay_seconds": 0},
                   "webhook": {"url": app.connector.url, "secret": crate::common::SECRET},
                   "notify_low": [{"kind": "supervisor", "id": "sup"}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let bad = sent_request(app, "s-1", "support").await;
    rate(app, &bad, 0, None).await;
    wait_until(
        || signed_alert_posts(app).len() == 1,
        || format!("alert webhooks: {:?}", signed_alert_posts(app)),
    )
    .await;
    assert!(
        signed_alert_posts(app)[0].1,
        "not signed with the server's secret"
    );
}

/// A line that keeps its ratings from its operators alerts no operator, even one its
/// `notify_low` names, and its check says so before a low rating comes.
async fn a_line_that_hides_ratings_from_operators_alerts_none_of_them(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let app = &t.app;
    people(app).await;
    let (status, body) = app
        .put(
            "/v1/people/op-2",
            json!({"name": "Otto", "role": "operator", "manager_id": "mgr",
                   "notify": {"email": "otto@example.com"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .put(
            "/v1/lines/support",
            json!({
                "name": "Support",
                "rating": {"delay_seconds": 0, "operators_see_ratings": false},
                "webhook": {"url": app.connector.url, "secret": crate::common::SECRET},
                "notify_low": [{"kind": "supervisor", "id": "sup"},
                               {"kind": "supervisor", "id": "op-2"}],
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let problems = body["alerts"]["problems"].to_string();
    assert!(
        problems.contains("person 'op-2' is an operator")
            && problems.contains("operators_see_ratings"),
        "the check names the operator it would skip: {body}"
    );

    let request = sent_request(app, "s1", "support").await;
    rate(app, &request, 0, Some("rude")).await;
    let mail = t.smtp.wait_for(1).await;
    assert_eq!(mail[0].to, vec!["sam@example.com".to_owned()]);
    let otto: Vec<_> = alerts(app, "")
        .await
        .into_iter()
        .filter(|a| a["recipient"] == "op-2")
        .collect();
    assert!(!otto.is_empty(), "Otto's alert is recorded as skipped");
    for a in &otto {
        assert_eq!(a["status"], "skipped", "{a}");
        assert!(
            a["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("keeps clients' ratings from its operators")),
            "{a}"
        );
    }
    assert!(
        t.smtp
            .messages()
            .iter()
            .all(|m| !m.to.iter().any(|to| to.contains("otto@example.com"))),
        "no e-mail reached Otto"
    );

    // With the setting back on, the same check finds nothing to say about him.
    let (status, body) = app
        .call(
            "PATCH",
            "/v1/lines/support",
            Some(json!({"rating": {"operators_see_ratings": true}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !body["alerts"]["problems"].to_string().contains("op-2"),
        "{body}"
    );
}

/// Where the line asks for a comment on a low rating, its alerts wait for it: they leave
/// as soon as it comes, with it, or when the wait ends without one. (The wait is the
/// alert's due time in the store, which `a_delayed_alert_survives_a_restart` restarts.)
async fn a_low_ratings_alert_waits_for_the_comment_the_line_asks_for(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let app = &t.app;
    people(app).await;
    alerting_line(app, "support", json!({"ask_comment_on_low": true})).await;

    // The comment comes 30 s after the rating: the alert leaves then, carrying it.
    let first = sent_request(app, "s-1", "support").await;
    rate(app, &first, 0, None).await;
    app.settle().await;
    assert!(
        t.smtp.messages().is_empty(),
        "the alert left without the comment"
    );
    assert!(
        alert_states(app).await.iter().all(|(_, _, s)| s != "sent"),
        "{:?}",
        alert_states(app).await
    );
    app.advance(chrono::Duration::seconds(30));
    rate(app, &first, 0, Some("nobody answered for an hour")).await;
    let mail = t.smtp.wait_for(1).await;
    assert!(
        mail[0]
            .body
            .contains("Comment:\n> nobody answered for an hour"),
        "{}",
        mail[0].body
    );

    // No comment comes: the alert leaves when the 120 s wait ends, saying so.
    let second = sent_request(app, "s-2", "support").await;
    rate(app, &second, 0, None).await;
    app.advance(chrono::Duration::seconds(100));
    app.settle().await;
    assert_eq!(t.smtp.messages().len(), 1, "left before the wait ended");
    app.advance(chrono::Duration::seconds(21));
    let mail = t.smtp.wait_for(2).await;
    assert!(mail[1].body.contains("Comment: (none)"), "{}", mail[1].body);

    // A line that asks for no comment alerts at once.
    alerting_line(app, "sales", json!({})).await;
    let third = sent_request(app, "s-3", "sales").await;
    rate(app, &third, 0, None).await;
    t.smtp.wait_for(3).await;
}

/// Where the line lists reasons for a low rating, its alerts wait for them too, and say
/// them by their text: they leave when all the line asks has come, or when the wait ends.
async fn a_low_ratings_alert_waits_for_the_reasons_and_says_them(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let app = &t.app;
    people(app).await;
    let reasons =
        json!([{"id": "slow", "text": "Waited too long"}, {"id": "rude", "text": "Rude"}]);
    alerting_line(
        app,
        "support",
        json!({"low_reasons": reasons, "ask_comment_on_low": true}),
    )
    .await;
    let first = sent_request(app, "s-1", "support").await;
    rate(app, &first, 0, None).await;
    let (status, body) = app
        .post(
            "/v1/ratings",
            json!({"request_id": first, "value": 0, "reasons": ["rude", "slow"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.settle().await;
    assert!(t.smtp.messages().is_empty(), "left before the comment came");
    rate(app, &first, 0, Some("put on hold twice")).await;
    let mail = t.smtp.wait_for(1).await;
    assert!(
        mail[0]
            .body
            .contains("Reasons: Waited too long, Rude\nSession: ")
            && mail[0].body.contains("Comment:\n> put on hold twice"),
        "{}",
        mail[0].body
    );
    wait_until(
        || !alert_posts(app).is_empty(),
        || "no alert reached the webhook".into(),
    )
    .await;
    let posted = alert_posts(app);
    assert_eq!(
        posted[0]["alert"]["reasons"],
        json!([{"id": "slow", "text": "Waited too long"}, {"id": "rude", "text": "Rude"}])
    );

    // Neither comes: the alert leaves when the wait ends, saying none were given.
    let second = sent_request(app, "s-2", "support").await;
    rate(app, &second, 0, None).await;
    app.advance(chrono::Duration::seconds(121));
    let mail = t.smtp.wait_for(2).await;
    assert!(
        mail[1].body.contains("Reasons: (none)\nSession: ")
            && mail[1].body.contains("Comment: (none)"),
        "{}",
        mail[1].body
    );
}

/// A comment that comes after the alerts left follows each of them once, threaded where
/// the sink can: an e-mail in reply to the alert's, a Telegram reply to the alert's
/// message, a webhook post with the alert's own id.
async fn a_comment_after_the_alert_left_follows_it_threaded(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let app = &t.app;
    people(app).await;
    alerting_line(app, "support", json!({})).await;
    let request = sent_request(app, "s-1", "support").await;
    rate(app, &request, 0, None).await;
    t.smtp.wait_for(1).await;
    t.bot
        .wait_for(|b| !b.messages(MANAGER_CHAT).is_empty())
        .await;
    wait_until(
        || alert_posts(app).len() == 1,
        || format!("alert webhooks: {:?}", alert_posts(app)),
    )
    .await;
    let first: Vec<Value> = alerts(app, "").await;
    let id_of = |sink: &str| {
        first
            .iter()
            .find(|a| a["sink"] == sink && a["kind"] == "alert")
            .unwrap_or_else(|| panic!("no {sink} alert: {first:?}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (mail_alert, webhook_alert) = (id_of("email"), id_of("webhook"));

    // Past Telegram's one message a second to a chat, then the comment.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    rate(app, &request, 0, Some("it took an hour")).await;
    app.advance(chrono::Duration::seconds(5));

    let mail = t.smtp.wait_for(2).await;
    assert_eq!(mail[1].subject, "Re: Low rating 👎 on Support: Olga (op-1)");
    assert!(
        mail[1].body.contains("Comment:\n> it took an hour"),
        "{}",
        mail[1].body
    );
    for header in ["In-Reply-To", "References"] {
        assert!(
            mail[1]
                .raw
                .contains(&format!("{header}: <alert.{mail_alert}@example.com>")),
            "{header} missing: {}",
            mail[1].raw
        );
    }
    t.bot
        .wait_for(|b| b.messages(MANAGER_CHAT).len() == 2)
        .await;
    let tg = t.bot.messages(MANAGER_CHAT);
    assert_eq!(
        tg[1].reply_to,
        Some(tg[0].message_id),
        "a reply to the alert"
    );
    assert!(
        tg[1].text.contains("Comment:\n> it took an hour"),
        "{}",
        tg[1].text
    );
    wait_until(
        || alert_posts(app).len() == 2,
        || format!("alert webhooks: {:?}", alert_posts(app)),
    )
    .await;
    let post = &alert_posts(app)[1];
    assert_eq!(post["event"], "alert_comment");
    assert_eq!(post["alert"]["id"], webhook_alert.as_str());
    assert_eq!(post["alert"]["comment"], "it took an hour");
    assert!(signed_alert_posts(app)[1].1, "signed");
    // A sink may have its message before Rateline records the send: wait for the records.
    let mut follow_ups: Vec<Value> = Vec::new();
    for _ in 0..200 {
        follow_ups = alerts(app, "")
            .await
            .into_iter()
            .filter(|a| a["kind"] == "comment")
            .collect();
        if follow_ups.iter().all(|a| a["status"] == "sent") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(follow_ups.len(), 3, "{follow_ups:?}");
    assert!(
        follow_ups
            .iter()
            .all(|a| a["status"] == "sent" && a["thread_of"].is_string()),
        "{follow_ups:?}"
    );

    // An edited comment does not follow again.
    rate(app, &request, 0, Some("it took two hours")).await;
    app.advance(chrono::Duration::seconds(5));
    app.settle().await;
    assert_eq!(t.smtp.messages().len(), 2);

    // A comment given while the rating was raised follows when it is lowered again.
    let second = sent_request(app, "s-2", "support").await;
    rate(app, &second, 0, None).await;
    t.smtp.wait_for(3).await;
    rate(app, &second, 1, Some("well, the parcel came")).await;
    rate(app, &second, 0, Some("well, the parcel came")).await;
    app.advance(chrono::Duration::seconds(5));
    let mail = t.smtp.wait_for(4).await;
    assert!(
        mail[3].subject.starts_with("Re: ") && mail[3].body.contains("the parcel came"),
        "{}",
        mail[3].body
    );

    // An alert that said the comment is not followed by it, however the rating moves.
    let third = sent_request(app, "s-3", "support").await;
    rate(app, &third, 0, Some("rude")).await;
    t.smtp.wait_for(5).await;
    rate(app, &third, 1, None).await;
    rate(app, &third, 0, None).await;
    app.advance(chrono::Duration::seconds(5));
    let follow_ups = || async {
        alerts(app, "")
            .await
            .into_iter()
            .filter(|a| a["kind"] == "comment" && a["session_id"] == "s-3" && a["sink"] == "email")
            .collect::<Vec<Value>>()
    };
    app.settle().await;
    assert_eq!(t.smtp.messages().len(), 5, "the comment was not repeated");
    assert!(follow_ups().await.is_empty(), "{:?}", follow_ups().await);
}

/// A supervisor who asks for the weekly report gets last week's at once, then each Monday
/// at 08:00 in their zone the week before, line by line and operator by operator, once.
async fn a_supervisor_gets_the_weekly_report_on_monday_morning(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let app = &t.app;
    let (status, body) = app
        .put(
            "/v1/lines/support",
            json!({"name": "Support", "rating": {"delay_seconds": 0},
                   "webhook": {"url": app.connector.url, "secret": crate::common::SECRET}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for (id, body) in [
        (
            "sam",
            json!({"name": "Sam", "role": "supervisor", "lines": ["support"],
                   "notify": {"email": "sam@example.com"}}),
        ),
        ("op-1", json!({"name": "Olga", "role": "operator"})),
    ] {
        let (status, body) = app.put(&format!("/v1/people/{id}"), body).await;
        assert_eq!(status, 201, "{body}");
    }
    // Saturday the 21st: this Monday's report (of the 9th to the 15th) is due already.
    let (status, body) = app
        .put("/v1/people/sam/alert-pace", json!({"weekly_report": true}))
        .await;
    assert_eq!(status, 200, "{body}");
    let mail = t.smtp.wait_for(1).await;
    assert_eq!(mail[0].to, vec!["sam@example.com".to_owned()]);
    assert_eq!(
        mail[0].subject,
        "Your week in ratings: 2026-11-09 to 2026-11-15"
    );
    // This week: 👍 and 👎 on Saturday, 👍 on Sunday.
    app.rated("s1", "support", "op-1", 1).await;
    app.rated("s2", "support", "op-1", 0).await;
    app.advance(chrono::Duration::days(1));
    app.rated("s3", "support", "op-1", 1).await;
    // Sunday 09:00 to Monday 07:59: nothing yet.
    app.advance(chrono::Duration::hours(22) + chrono::Duration::minutes(59));
    app.settle().await;
    assert_eq!(t.smtp.messages().len(), 1);
    app.advance(chrono::Duration::minutes(1));
    let mail = t.smtp.wait_for(2).await;
    assert_eq!(
        mail[1].subject,
        "Your week in ratings: 2026-11-16 to 2026-11-22"
    );
    for part in [
        "Support\nCSAT 66.7% (was —), 3 answered (was 0), 1 low (was 0); too few ratings to compare",
        "- Olga: CSAT 66.7% (was —), 3 answered (was 0), 1 low (was 0)",
        "https://rateline.example/dashboard?line=support&from=2026-11-16&to=2026-11-22",
    ] {
        assert!(
            mail[1].body.contains(part),
            "{part} missing: {}",
            mail[1].body
        );
    }
    // Once a week.
    app.advance(chrono::Duration::hours(2));
    app.settle().await;
    assert_eq!(t.smtp.messages().len(), 2);
}

crate::common::on_both_backends!(
    a_supervisor_gets_the_weekly_report_on_monday_morning,
    a_comment_after_the_alert_left_follows_it_threaded,
    a_low_ratings_alert_waits_for_the_comment_the_line_asks_for,
    a_low_ratings_alert_waits_for_the_reasons_and_says_them,
    a_low_rating_alerts_every_kind_of_recipient_once,
    a_line_that_hides_ratings_from_operators_alerts_none_of_them,
    alert_webhooks_without_a_persons_secret_are_signed_with_the_servers,
    a_refused_alert_is_retried_with_backoff_and_delivered_once,
    a_delayed_alert_survives_a_restart,
    responses_appeals_flags_and_evaluations_change_what_reports_show,
    a_lowered_rating_waits_out_the_grace_period,
    bad_follow_up_input_is_named_and_changes_nothing,
);
