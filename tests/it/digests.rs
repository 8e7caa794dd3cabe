//! The operator's digest (`rating.notify_operator`): each operator hears of every rating of
//! their sessions through their own address, the first at once and the rest at most once a
//! minute, together; nobody with notifications off, and no line that keeps its ratings from
//! its operators.

use crate::common::{Connector, Db, SECRET, spawn_app};
use chrono::Duration;
use serde_json::json;

/// The ratings noted for a digest and not yet gathered into one.
const UNGATHERED: &str = "SELECT COUNT(*) FROM operator_notice_ratings WHERE gathered = 0";

async fn each_operator_hears_of_every_rating_at_most_once_a_minute(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    let olga = Connector::start().await;
    for (id, name, enabled) in [("op-1", "Olga", true), ("op-2", "Oleg", false)] {
        let (status, body) = app
            .put(
                &format!("/v1/people/{id}"),
                json!({"name": name, "role": "operator", "notifications_enabled": enabled,
                       "notify": {"webhook_url": olga.url, "webhook_secret": SECRET}}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = app
        .put(
            "/v1/lines/support",
            json!({"name": "Support",
                   "rating": {"notify_operator": true, "operators_see_ratings": false}}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "rating.notify_operator");
    app.line(
        "support",
        json!({"delay_seconds": 0, "scale": "five_star", "notify_operator": true}),
    )
    .await;
    app.line("sales", json!({"delay_seconds": 0})).await;

    // The first rating: at once.
    app.rated("s-1", "support", "op-1", 5).await;
    let got = olga.wait_for(1).await;
    let first = &got[0].body;
    assert!(got[0].signature_ok, "signed with the operator's secret");
    assert_eq!(first["event"], "rating_notice");
    assert_eq!(first["notice"]["operator_id"], "op-1");
    assert_eq!(first["notice"]["total"], 1);
    assert_eq!(first["notice"]["ratings"][0]["value"], 5);
    assert_eq!(first["notice"]["ratings"][0]["session_id"], "s-1");
    let text = first["text"].as_str().unwrap();
    assert!(text.starts_with("1 new rating of your chats"), "{text}");
    assert!(text.contains("★★★★★ (5/5) on support"), "{text}");
    assert!(text.contains("/dashboard/sessions/s-1"), "{text}");

    // Two more within the minute: together, a minute after the first.
    let request = app.sent_request("s-2", "support", "op-1").await;
    let (status, body) = app
        .post(
            "/v1/ratings",
            json!({"request_id": request, "value": 2, "comment": "It took an hour"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    app.rated("s-3", "support", "op-1", 4).await;
    // Oleg has notifications off; the sales line tells nobody.
    app.rated("s-4", "support", "op-2", 1).await;
    app.rated("s-5", "sales", "op-1", 1).await;
    // Each is gathered into the digest waiting for the minute before the clock moves.
    app.wait_count(UNGATHERED, 0).await;
    app.settle().await;
    assert_eq!(olga.received().len(), 1, "not before the minute is over");
    app.advance(Duration::seconds(61));
    let got = olga.wait_for(2).await;
    let second = &got[1].body;
    assert_eq!(second["notice"]["total"], 2, "{second}");
    let values: Vec<i64> = second["notice"]["ratings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_i64().unwrap())
        .collect();
    assert_eq!(values, [2, 4]);
    assert_eq!(second["notice"]["ratings"][0]["low"], true);
    assert_eq!(second["notice"]["ratings"][0]["comment"], "It took an hour");
    let text = second["text"].as_str().unwrap();
    assert!(text.starts_with("2 new ratings of your chats"), "{text}");
    assert!(text.contains("Comment:\n> It took an hour"), "{text}");
    assert_ne!(got[0].idempotency_key, got[1].idempotency_key);

    // Nothing more: one digest per minute with something to say, nothing for the others.
    app.advance(Duration::minutes(5));
    app.settle().await;
    assert_eq!(olga.received().len(), 2, "{:?}", olga.received());

    // A digest waiting when its address is removed is not sent.
    app.advance(Duration::seconds(10));
    app.rated("s-6", "support", "op-1", 3).await;
    let got = olga.wait_for(3).await;
    assert_eq!(got[2].body["notice"]["total"], 1, "the first at once");
    // The next is gathered into a digest of its own, waiting for its minute, before the
    // address goes.
    app.rated("s-7", "support", "op-1", 3).await;
    app.wait_count(UNGATHERED, 0).await;
    app.wait_count(
        "SELECT COUNT(*) FROM operator_notices WHERE kind = 'ratings' AND status = 'pending'",
        1,
    )
    .await;
    let (status, body) = app
        .put(
            "/v1/people/op-1",
            json!({"name": "Olga", "role": "operator", "notify": {"email": "olga@example.com"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.advance(Duration::minutes(2));
    app.settle().await;
    assert_eq!(olga.received().len(), 3, "withdrawn: {:?}", olga.received());
}

crate::common::on_both_backends!(each_operator_hears_of_every_rating_at_most_once_a_minute);
