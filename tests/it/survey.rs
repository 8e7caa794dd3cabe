//! Who gets asked: a line's `survey` rules (at most once per N days on the line or on all
//! lines, a sample, a least number of client messages, tags that skip). A skipped request
//! is a row with status `skipped` and the rule that skipped it; it is never sent, never
//! counted as requested or sent, and the funnel names it.

use crate::common::{Db, TestApp, spawn_app};
use crate::dashboard::text;
use chrono::Duration;
use serde_json::{Value, json};

/// Opens a webhook session of `client` on `line`, with `messages` from the client.
async fn open(app: &TestApp, session: &str, line: &str, client: &str, messages: usize) {
    let (status, body) = app
        .post(
            "/v1/sessions",
            json!({"id": session, "line_id": line, "channel": "webhook",
                   "client": {"id": client}, "operator_id": "op-1"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // Each a second apart: a message no newer than the client's last does not count again.
    for _ in 0..messages {
        app.advance(Duration::seconds(1));
        let (status, body) = app
            .post(
                &format!("/v1/sessions/{session}/messages"),
                json!({"from": "client"}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
    }
    // An operator's message is not the client's.
    let (status, body) = app
        .post(
            &format!("/v1/sessions/{session}/messages"),
            json!({"from": "operator"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
}

/// Closes with `tags`; the request the close made.
async fn close(app: &TestApp, session: &str, tags: Value) -> Value {
    let (status, body) = app
        .post(
            &format!("/v1/sessions/{session}/close"),
            json!({"closed_by": "operator", "tags": tags}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    body["rating_request"].clone()
}

/// Whether the close's request was skipped, and by which rule.
fn skipped_by(request: &Value) -> Option<String> {
    (request["status"] == "skipped").then(|| {
        let why = request["skipped_by"].as_str().unwrap_or_default();
        why.split(':').next().unwrap_or_default().to_owned()
    })
}

async fn each_rule_skips_a_request_and_says_which(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    let patch = |line: &str, survey: Value| {
        let app = &app;
        let path = format!("/v1/lines/{line}");
        async move {
            let (status, body) = app
                .call("PATCH", &path, Some(json!({"survey": survey})))
                .await;
            assert_eq!(status, 200, "{body}");
        }
    };
    patch("support", json!({"min_days_between": 7})).await;
    app.line("sales", json!({"delay_seconds": 0})).await;
    app.line("billing", json!({"delay_seconds": 0})).await;
    patch("billing", json!({"min_days_between": 7, "across": "all"})).await;

    // Ann is asked on support; again on support within 7 days she is not, on sales she
    // is (support's rule looks at support), on billing not (its rule looks at every line).
    open(&app, "s-1", "support", "ann", 1).await;
    assert_eq!(skipped_by(&close(&app, "s-1", json!([])).await), None);
    app.wait_for_status("s-1", "sent").await;
    app.advance(Duration::days(3));
    open(&app, "s-2", "support", "ann", 1).await;
    let second = close(&app, "s-2", json!([])).await;
    assert_eq!(
        skipped_by(&second).as_deref(),
        Some("skipped by survey.min_days_between"),
        "{second}"
    );
    assert!(
        second["skipped_by"]
            .as_str()
            .unwrap()
            .contains("2026-11-21T09:00:01Z"),
        "names the earlier close: {second}"
    );
    open(&app, "s-3", "sales", "ann", 1).await;
    assert_eq!(skipped_by(&close(&app, "s-3", json!([])).await), None);
    app.wait_for_status("s-3", "sent").await;
    open(&app, "s-4", "billing", "ann", 1).await;
    assert_eq!(
        skipped_by(&close(&app, "s-4", json!([])).await).as_deref(),
        Some("skipped by survey.min_days_between")
    );
    // Eight days after the first, support asks her again.
    app.advance(Duration::days(5));
    open(&app, "s-5", "support", "ann", 1).await;
    assert_eq!(skipped_by(&close(&app, "s-5", json!([])).await), None);

    // Tags, and the client's messages (the operator's do not count).
    patch(
        "sales",
        json!({"skip_tags": ["spam", "internal"], "min_client_messages": 2}),
    )
    .await;
    open(&app, "t-1", "sales", "bob", 2).await;
    let tagged = close(&app, "t-1", json!(["vip", "spam"])).await;
    assert_eq!(
        tagged["skipped_by"],
        "skipped by survey.skip_tags: the close is tagged 'spam'"
    );
    open(&app, "t-2", "sales", "carl", 1).await;
    assert_eq!(
        close(&app, "t-2", json!(["vip"])).await["skipped_by"],
        "skipped by survey.min_client_messages: the client wrote 1 message(s), fewer than 2"
    );
    open(&app, "t-3", "sales", "dana", 2).await;
    assert_eq!(skipped_by(&close(&app, "t-3", json!(["vip"])).await), None);

    // A sample: some in, some out, each session decided by its id.
    app.line("sampled", json!({"delay_seconds": 0})).await;
    patch("sampled", json!({"sample_percent": 50})).await;
    let mut asked = 0;
    for i in 0..40 {
        let session = format!("p-{i}");
        open(&app, &session, "sampled", &format!("client-{i}"), 1).await;
        if skipped_by(&close(&app, &session, json!([])).await).is_none() {
            asked += 1;
        }
    }
    assert!((8..=32).contains(&asked), "{asked} of 40 asked at 50%");

    // Nothing skipped was ever sent; the session says why it was skipped.
    app.wait_for_status("t-3", "sent").await;
    app.settle().await;
    let s = app.session("s-2").await;
    assert_eq!(s["rating_request"]["status"], "skipped", "{s}");
    assert_eq!(s["rating_request"]["attempts"], 0, "{s}");
    assert!(
        s["rating_request"]["last_error"]
            .as_str()
            .unwrap()
            .starts_with("skipped by survey.min_days_between"),
        "{s}"
    );
    let sent_sessions: Vec<String> = app
        .connector
        .received()
        .iter()
        .map(|r| r.body["session_id"].as_str().unwrap().to_owned())
        .collect();
    for skipped in ["s-2", "s-4", "t-1", "t-2"] {
        assert!(
            !sent_sessions.iter().any(|s| s == skipped),
            "{skipped} was sent"
        );
    }

    // Counted apart: not requested, not sent; the funnel names them. The rollup folds
    // them like every other status.
    let store = rateline::store::Store::connect(&app.db.url, 1)
        .await
        .expect("the test's database");
    store.reports().fold_rollup().await.unwrap();
    let (_, sales) = app.get("/v1/stats?line=sales").await;
    assert_eq!(sales["groups"][0]["sent"], 2, "s-3 and t-3: {sales}");
    let (_, page) = text(&app, "/dashboard?line=sales", None).await;
    assert!(page.contains("<td>skipped</td><td>2</td>"), "{page}");
}

/// Bad rules and bad tags are refused, naming the field, and change nothing.
async fn bad_rules_and_tags_are_named_and_change_nothing(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    // An unknown word is a 400, as every body that does not parse; a value out of range
    // a 422.
    for (survey, field, want) in [
        (json!({"sample_percent": 0}), "survey.sample_percent", 422),
        (
            json!({"min_days_between": 366}),
            "survey.min_days_between",
            422,
        ),
        (json!({"across": "galaxy"}), "survey.across", 400),
        (json!({"skip_tags": [""]}), "survey.skip_tags[0]", 422),
    ] {
        let (status, body) = app
            .call(
                "PATCH",
                "/v1/lines/support",
                Some(json!({"survey": survey})),
            )
            .await;
        assert_eq!(status, want, "{survey}: {body}");
        assert!(
            body["error"]["field"]
                .as_str()
                .unwrap_or_default()
                .starts_with(field),
            "{survey}: {body}"
        );
    }
    let (_, line) = app.get("/v1/lines/support").await;
    assert_eq!(
        line["survey"],
        json!({"min_days_between": 0, "across": "line", "sample_percent": 100,
               "min_client_messages": 0, "skip_tags": []})
    );
    open(&app, "s-1", "support", "ann", 1).await;
    let (status, body) = app
        .post(
            "/v1/sessions/s-1/close",
            json!({"closed_by": "operator", "tags": ["x".repeat(65)]}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "tags[0]", "{body}");
    assert_eq!(app.session("s-1").await["closed_at"], Value::Null);
}

crate::common::on_both_backends!(
    each_rule_skips_a_request_and_says_which,
    bad_rules_and_tags_are_named_and_change_nothing,
);
