//! Alerts a supervisor can live with: each person's pace (every low rating at once, a
//! digest every N minutes, or at once up to M an hour and then a digest), their quiet hours
//! in their own zone, and a line's burst folded into one "something is wrong" message.

use crate::common::{Connector, Db, SECRET, TestApp, spawn_app};
use chrono::Duration;
use serde_json::{Value, json};

/// A supervisor `sam` hearing through `hook`, at `pace`, of the low ratings of line
/// `support` (no delay, no wait for a comment, bursts past `burst_over`).
async fn setup(app: &TestApp, hook: &Connector, pace: Value, burst_over: u32) {
    let (status, body) = app
        .put(
            "/v1/people/sam",
            json!({"name": "Sam", "role": "supervisor", "lines": ["support"],
                   "notify": {"webhook_url": hook.url, "webhook_secret": SECRET}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app.put("/v1/people/sam/alert-pace", pace.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .put(
            "/v1/lines/support",
            json!({"name": "Support",
                   "rating": {"delay_seconds": 0, "alert_wait_seconds": 0,
                              "alert_burst_over": burst_over},
                   "webhook": {"url": app.connector.url, "secret": SECRET},
                   "notify_low": [{"kind": "supervisor", "id": "sam"}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// The `event` of each message `hook` received, in order.
fn events(hook: &Connector) -> Vec<String> {
    hook.received()
        .iter()
        .map(|r| r.body["event"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// The sessions a digest names, in order.
fn sessions_of(digest: &Value) -> Vec<String> {
    digest["digest"]["ratings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["session_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_digest_supervisor_hears_of_a_flood_in_a_few_messages(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    let hook = Connector::start().await;
    setup(
        &app,
        &hook,
        json!({"mode": "digest", "digest_minutes": 30}),
        10,
    )
    .await;

    // 40 low ratings over ten minutes, one every 15 seconds.
    for i in 0..40 {
        app.rated(&format!("s-{i}"), "support", "op-1", 0).await;
        app.advance(Duration::seconds(15));
    }
    // The first at once, in a digest of one; the rest wait for the next, 30 minutes on.
    let got = hook.wait_for(1).await;
    app.settle().await;
    assert_eq!(events(&hook), ["alert_digest"], "{:?}", hook.received());
    assert_eq!(got[0].body["digest"]["total"], 1);
    assert!(got[0].signature_ok, "signed with the supervisor's secret");
    assert_eq!(
        got[0].body["text"].as_str().unwrap().lines().next(),
        Some("1 low rating")
    );

    app.advance(Duration::minutes(21));
    let got = hook.wait_for(2).await;
    let second = &got[1].body;
    assert_eq!(second["digest"]["total"], 39, "{second}");
    assert_eq!(second["digest"]["recipient"], "sam");
    let listed = sessions_of(second);
    assert_eq!(listed.len(), 10, "ten named, the rest counted");
    assert_eq!(listed[0], "s-1", "oldest first");
    let text = second["text"].as_str().unwrap();
    assert!(text.starts_with("39 low ratings\n"), "{text}");
    assert!(
        text.contains("Operator: op-1 · Client: Ann · webhook"),
        "{text}"
    );
    assert!(text.contains("/dashboard/sessions/s-1\n"), "{text}");
    assert!(text.contains("\nand 29 more: http"), "{text}");
    assert!(text.trim_end().ends_with("/dashboard/inbox"), "{text}");

    // No burst message: a digest reader already hears of the line in one message.
    app.advance(Duration::hours(2));
    app.settle().await;
    assert_eq!(hook.received().len(), 2, "{:?}", events(&hook));

    // Every alert is on the record, saying which digest it went into.
    let (_, body) = app.get("/v1/alerts?state=digested&limit=100").await;
    let alerts = body["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 40, "{body}");
    assert!(alerts.iter().all(|a| a["digest_id"].is_string()), "{body}");
    let (_, body) = app.get("/v1/alerts?state=sent").await;
    assert_eq!(body["alerts"], json!([]), "none went alone");
}

crate::common::on_both_backends!(a_digest_supervisor_hears_of_a_flood_in_a_few_messages);

async fn capped_alerts_go_alone_up_to_the_hours_cap_then_in_a_digest(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    let hook = Connector::start().await;
    setup(
        &app,
        &hook,
        json!({"mode": "capped", "per_hour": 3, "digest_minutes": 15}),
        0,
    )
    .await;
    for i in 0..4 {
        app.rated(&format!("s-{i}"), "support", "op-1", 0).await;
    }
    hook.wait_for(4).await;
    assert_eq!(
        events(&hook),
        ["alert", "alert", "alert", "alert_digest"],
        "three alone, the fourth in a digest"
    );
    // Two more within the 15 minutes: together, when they end.
    app.rated("s-4", "support", "op-1", 0).await;
    app.rated("s-5", "support", "op-1", 0).await;
    app.settle().await;
    assert_eq!(hook.received().len(), 4);
    app.advance(Duration::minutes(15));
    let got = hook.wait_for(5).await;
    assert_eq!(sessions_of(&got[4].body), ["s-4", "s-5"]);

    // An hour after the first three, alerts go alone again.
    app.advance(Duration::minutes(50));
    app.rated("s-6", "support", "op-1", 0).await;
    let got = hook.wait_for(6).await;
    assert_eq!(got[5].body["event"], "alert");
    assert_eq!(got[5].body["alert"]["session_id"], "s-6");
}

crate::common::on_both_backends!(capped_alerts_go_alone_up_to_the_hours_cap_then_in_a_digest);

async fn a_burst_on_a_line_is_one_message_not_one_per_rating(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    let hook = Connector::start().await;
    setup(&app, &hook, json!({"mode": "each"}), 3).await;
    for i in 0..4 {
        app.rated(&format!("s-{i}"), "support", "op-1", 0).await;
    }
    let got = hook.wait_for(4).await;
    assert_eq!(events(&hook), ["alert", "alert", "alert", "alert_burst"]);
    let burst = &got[3].body;
    assert_eq!(burst["digest"]["line"]["id"], "support");
    assert_eq!(burst["digest"]["in_last_10_minutes"], 4);
    assert_eq!(
        burst["text"].as_str().unwrap().lines().next(),
        Some("Something is wrong on Support: 4 low ratings in 10 minutes")
    );
    // Ten more in the next minutes: one message when the ten minutes end.
    for i in 4..14 {
        app.rated(&format!("s-{i}"), "support", "op-1", 0).await;
        app.advance(Duration::seconds(20));
    }
    app.settle().await;
    assert_eq!(hook.received().len(), 4, "{:?}", events(&hook));
    app.advance(Duration::minutes(7));
    let got = hook.wait_for(5).await;
    assert_eq!(got[4].body["event"], "alert_burst");
    assert_eq!(got[4].body["digest"]["total"], 10);
    assert!(
        got[4].body["text"]
            .as_str()
            .unwrap()
            .contains("/dashboard/inbox?line=support"),
    );
    // Quiet again: the next low rating, an hour later, goes alone.
    app.advance(Duration::hours(1));
    app.rated("s-late", "support", "op-1", 0).await;
    let got = hook.wait_for(6).await;
    assert_eq!(got[5].body["event"], "alert");
}

crate::common::on_both_backends!(a_burst_on_a_line_is_one_message_not_one_per_rating);

async fn quiet_hours_in_the_persons_zone_hold_alerts_until_they_end(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    let hook = Connector::start().await;
    // The tests' clock starts at 09:00 UTC: 10:00 in Berlin, inside 08:00–11:30 there.
    setup(
        &app,
        &hook,
        json!({"mode": "each", "quiet_hours": {"from": "08:00", "to": "11:30"}}),
        0,
    )
    .await;
    let (status, body) = app
        .put(
            "/v1/people/sam/time-zone",
            json!({"time_zone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.rated("s-1", "support", "op-1", 0).await;
    app.advance(Duration::minutes(30));
    app.rated("s-2", "support", "op-1", 0).await;
    app.settle().await;
    assert!(hook.received().is_empty(), "{:?}", events(&hook));
    // 11:30 in Berlin: both, in one message.
    app.advance(Duration::minutes(61));
    let got = hook.wait_for(1).await;
    assert_eq!(got[0].body["event"], "alert_digest");
    assert_eq!(sessions_of(&got[0].body), ["s-1", "s-2"]);
    // Awake: alone again.
    app.rated("s-3", "support", "op-1", 0).await;
    let got = hook.wait_for(2).await;
    assert_eq!(got[1].body["event"], "alert");
}

crate::common::on_both_backends!(quiet_hours_in_the_persons_zone_hold_alerts_until_they_end);

async fn a_pace_is_the_persons_own_and_a_bad_one_changes_nothing(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    let hook = Connector::start().await;
    setup(&app, &hook, json!({"mode": "each"}), 10).await;
    let (status, body) = app.get("/v1/people/sam/alert-pace").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"mode": "each", "digest_minutes": 30, "per_hour": 10, "weekly_report": false})
    );
    for (pace, field) in [
        (
            json!({"mode": "digest", "digest_minutes": 1}),
            "digest_minutes",
        ),
        (json!({"mode": "capped", "per_hour": 0}), "per_hour"),
        (
            json!({"quiet_hours": {"from": "10pm", "to": "07:00"}}),
            "quiet_hours.from",
        ),
    ] {
        let (status, body) = app.put("/v1/people/sam/alert-pace", pace).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    let (status, body) = app
        .put("/v1/people/sam/alert-pace", json!({"mode": "sometimes"}))
        .await;
    assert_eq!(status, 400, "{body}");
    let (_, body) = app.get("/v1/people/sam/alert-pace").await;
    assert_eq!(body["mode"], "each", "unchanged");
    let (status, body) = app.get("/v1/people/nobody/alert-pace").await;
    assert_eq!(status, 404, "{body}");
    let (_, log) = app.get("/v1/audit?kind=alert_pace").await;
    assert_eq!(log["entries"], json!([]), "nothing changed: {log}");
    let (status, body) = app
        .put("/v1/people/sam/alert-pace", json!({"mode": "digest"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, log) = app.get("/v1/audit?kind=alert_pace").await;
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{log}");
    assert_eq!(entries[0]["subject"], "sam");
}

crate::common::on_both_backends!(a_pace_is_the_persons_own_and_a_bad_one_changes_nothing);

/// The benchmark of docs/performance.md ("Alerts at volume"): 5,000 low ratings in ten
/// minutes reach a supervisor who reads a digest every 30 minutes as at most 10 messages.
/// Slow (every rating goes through a real close and send), so it runs on demand:
/// `cargo test --test it -- --ignored flood`.
async fn flood(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    let hook = Connector::start().await;
    setup(&app, &hook, json!({"mode": "digest"}), 10).await;
    let started = std::time::Instant::now();
    for i in 0..5_000 {
        app.rated(&format!("s-{i}"), "support", "op-1", 0).await;
        // 5,000 in ten minutes: one every 120 ms of the server's clock.
        app.advance(Duration::milliseconds(120));
    }
    app.advance(Duration::minutes(30));
    hook.wait_for(2).await;
    app.settle().await;
    let got = hook.received();
    let total: i64 = got
        .iter()
        .map(|r| r.body["digest"]["total"].as_i64().unwrap())
        .sum();
    eprintln!(
        "{kind:?}: 5,000 low ratings: {} messages, naming {total}, in {:?}",
        got.len(),
        started.elapsed()
    );
    assert_eq!(total, 5_000, "every rating told");
    assert!(got.len() <= 10, "{} messages", got.len());
}

#[tokio::test]
#[ignore = "a benchmark: run on demand"]
async fn flood_of_5000_low_ratings_reaches_a_digest_reader_in_at_most_10_messages_sqlite() {
    flood(Db::Sqlite).await;
}

#[tokio::test]
#[ignore = "a benchmark: run on demand"]
async fn flood_of_5000_low_ratings_reaches_a_digest_reader_in_at_most_10_messages_postgres() {
    flood(Db::Postgres).await;
}
