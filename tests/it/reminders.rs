//! One reminder (`rating.reminder_after_minutes`): sent once through the request's channel
//! when the request is still unanswered, never after an answer nor outside the answer
//! window or Meta's 24-hour window; an answer after it is credited to it, and the funnel
//! counts both.

use crate::common::{Db, spawn_app};
use crate::dashboard::text;
use chrono::Duration;
use serde_json::json;

async fn one_reminder_goes_to_an_unanswered_request_only(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    let (status, body) = app
        .put(
            "/v1/lines/support",
            json!({"name": "Support",
                   "rating": {"delay_seconds": 0, "answer_window_hours": 1,
                              "reminder_after_minutes": 60},
                   "webhook": {"url": app.connector.url, "secret": crate::common::SECRET}}),
        )
        .await;
    assert_eq!(status, 422, "a reminder at the window's end: {body}");
    assert_eq!(body["error"]["field"], "rating.reminder_after_minutes");
    app.line(
        "support",
        json!({"delay_seconds": 0, "reminder_after_minutes": 30}),
    )
    .await;

    // s-1 is not answered: one reminder 30 minutes after the send, and no second.
    let first = app.sent_request("s-1", "support", "op-1").await;
    // s-2 is answered before its reminder is due: none.
    let second = app.sent_request("s-2", "support", "op-1").await;
    let (status, body) = app
        .post("/v1/ratings", json!({"request_id": second, "value": 1}))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["after_reminder"], false);
    app.advance(Duration::minutes(29));
    app.settle().await;
    assert_eq!(app.connector.received().len(), 2, "not due yet");
    app.advance(Duration::minutes(1));
    let got = app.wait_for_received(3).await;
    let reminder = &got[2];
    assert_eq!(reminder.body["request_id"], first.as_str());
    assert_eq!(reminder.body["reminder"], true, "{}", reminder.body);
    assert_eq!(reminder.body["choices"], got[0].body["choices"]);
    assert!(got[0].body.get("reminder").is_none(), "{}", got[0].body);
    assert!(reminder.signature_ok, "signed as every request");
    app.advance(Duration::hours(2));
    app.settle().await;
    assert_eq!(app.connector.received().len(), 3, "one reminder, once");

    // s-3 is answered after its reminder: the answer is credited to it.
    let third = app.sent_request("s-3", "support", "op-1").await;
    app.advance(Duration::minutes(30));
    app.wait_for_received(5).await;
    let (status, body) = app
        .post("/v1/ratings", json!({"request_id": third, "value": 0}))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["after_reminder"], true, "{body}");
    let (_, page) = text(&app, "/dashboard?line=support", None).await;
    assert!(
        page.contains("Reminded: 2 request(s), 1 answered after the reminder."),
        "{page}"
    );
}

crate::common::on_both_backends!(one_reminder_goes_to_an_unanswered_request_only);
