//! A closed session becomes a delayed, signed rating request; the client's answer comes back.

use crate::common::{Db, Reply, SECRET, create_key, spawn_app, spawn_app_with};
use chrono::Duration;
use serde_json::json;

async fn a_closed_session_is_asked_for_a_rating_after_the_delay(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 3})).await;
    app.open("s-1", "support", "op-1").await;

    let (status, body) = app
        .post("/v1/sessions/s-1/close", json!({"closed_by": "operator"}))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["rating_request"]["status"], "scheduled");
    assert_eq!(body["rating_request"]["due_at"], "2026-11-21T09:00:03Z");
    let request_id = body["rating_request"]["id"].as_str().unwrap().to_owned();

    app.advance(Duration::seconds(2));
    app.settle().await;
    assert!(app.connector.received().is_empty(), "sent before its delay");
    assert_eq!(app.request_status("s-1").await, "scheduled");

    app.advance(Duration::seconds(1));
    let got = app.wait_for_received(1).await;
    assert!(
        got[0].signature_ok,
        "the signature must verify with the line's secret"
    );
    assert_eq!(got[0].idempotency_key.as_deref(), Some(request_id.as_str()));
    let b = &got[0].body;
    assert_eq!(b["request_id"], request_id);
    assert_eq!(b["session_id"], "s-1");
    assert_eq!(b["line_id"], "support");
    assert_eq!(b["client"], json!({"id": "client-s-1", "name": "Ann"}));
    assert_eq!(b["scale"], "binary");
    assert_eq!(b["text"], "Please rate the quality of service");
    assert_eq!(b["answer_url"], app.url("/v1/ratings"));
    // Everything a connector needs to run the card itself, in a versioned shape.
    assert_eq!(b["v"], 1);
    assert_eq!(b["language"], "en");
    assert_eq!(
        b["choices"],
        json!([{"value": 1, "label": "👍"}, {"value": 0, "label": "👎"}])
    );
    assert_eq!(b["thanks_text"], "Thank you for your rating!");
    assert_eq!(
        b["follow_ups"],
        json!({"resolved": null, "reasons": null, "comment": null}),
        "the line asks no follow-up"
    );
    let s = app.wait_for_status("s-1", "sent").await;
    assert_eq!(s["rating_request"]["sent_at"], "2026-11-21T09:00:03Z");
    assert_eq!(s["rating_request"]["expires_at"], "2026-11-24T09:00:03Z");

    let (status, rating) = app
        .post(
            "/v1/ratings",
            json!({"request_id": request_id, "value": 1, "comment": "quick and kind", "resolved": true}),
        )
        .await;
    assert_eq!(status, 201, "{rating}");
    let s = app.session("s-1").await;
    assert_eq!(s["rating_request"]["status"], "answered");
    assert_eq!(s["rating"]["value"], 1);
    assert_eq!(s["rating"]["comment"], "quick and kind");
    assert_eq!(s["rating"]["resolved"], true);
    assert_eq!(s["rating"]["low"], false);
    assert_eq!(app.connector.received().len(), 1);
}

async fn closing_twice_schedules_nothing_more(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    app.open("s-1", "support", "op-1").await;
    let first = app.close("s-1").await;
    let second = app.close("s-1").await;
    assert_eq!(first, second);
    let (status, _) = app
        .post("/v1/sessions/s-1/close", json!({"closed_by": "timeout"}))
        .await;
    assert_eq!(status, 202);
    app.wait_for_status("s-1", "sent").await;
    app.advance(Duration::seconds(10));
    app.settle().await;
    assert_eq!(app.connector.received().len(), 1);
    assert_eq!(app.session("s-1").await["closed_by"], "operator");
}

async fn a_client_who_writes_again_before_the_due_time_cancels_the_request(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 5})).await;
    app.open("s-1", "support", "op-1").await;
    let first = app.close("s-1").await;

    app.advance(Duration::seconds(1));
    let (status, body) = app
        .post("/v1/sessions/s-1/messages", json!({"from": "client"}))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["cancelled_request_id"], first);
    let s = app.session("s-1").await;
    assert_eq!(s["rating_request"]["status"], "cancelled");
    assert_eq!(
        s["closed_at"],
        serde_json::Value::Null,
        "the conversation goes on"
    );
    assert_eq!(s["last_client_message_at"], "2026-11-21T09:00:01Z");

    app.advance(Duration::seconds(10));
    app.settle().await;
    assert!(
        app.connector.received().is_empty(),
        "a cancelled request is never sent"
    );

    // The operator closes again: a new request, sent after the delay.
    let second = app.close("s-1").await;
    assert_ne!(first, second);
    app.advance(Duration::seconds(5));
    let got = app.wait_for_received(1).await;
    assert_eq!(got[0].body["request_id"], second);
}

async fn a_message_from_before_the_close_does_not_cancel(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 5})).await;
    app.open("s-1", "support", "op-1").await;
    app.advance(Duration::seconds(2));
    app.close("s-1").await;
    // A late-delivered event stamped before the close, and an operator message: no cancel.
    let (_, body) = app
        .post(
            "/v1/sessions/s-1/messages",
            json!({"from": "client", "at": "2026-11-21T09:00:01Z"}),
        )
        .await;
    assert_eq!(body["cancelled_request_id"], serde_json::Value::Null);
    let (_, body) = app
        .post("/v1/sessions/s-1/messages", json!({"from": "operator"}))
        .await;
    assert_eq!(body["cancelled_request_id"], serde_json::Value::Null);
    assert_eq!(app.request_status("s-1").await, "scheduled");
}

async fn answers_outside_the_scale_are_refused_and_change_nothing(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("thumbs", json!({"delay_seconds": 0})).await;
    app.line("stars", json!({"delay_seconds": 0, "scale": "five_star"}))
        .await;
    app.open("s-1", "thumbs", "op-1").await;
    app.open("s-2", "stars", "op-1").await;
    let r1 = app.close("s-1").await;
    let r2 = app.close("s-2").await;
    app.wait_for_status("s-1", "sent").await;
    app.wait_for_status("s-2", "sent").await;

    let (status, body) = app
        .post("/v1/ratings", json!({"request_id": r1, "value": 5}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_field");
    assert_eq!(body["error"]["field"], "value");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1 (👍) or 0 (👎)"),
        "{body}"
    );
    let (status, body) = app
        .post("/v1/ratings", json!({"request_id": r2, "value": 0}))
        .await;
    assert_eq!(status, 422);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1, 2, 3, 4 or 5"),
        "{body}"
    );
    let (status, _) = app
        .post("/v1/ratings", json!({"request_id": r2, "value": "5"}))
        .await;
    assert_eq!(status, 400, "a string is not a number");

    for s in ["s-1", "s-2"] {
        let v = app.session(s).await;
        assert_eq!(v["rating"], serde_json::Value::Null);
        assert_eq!(v["rating_request"]["status"], "sent");
    }
    let (status, _) = app
        .post("/v1/ratings", json!({"request_id": r2, "value": 4}))
        .await;
    assert_eq!(status, 201);
    let (status, body) = app
        .post("/v1/ratings", json!({"request_id": "nope", "value": 1}))
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "request_not_found");
    // With a key, the request's line is looked up first: text no id can be (a NUL, which
    // PostgreSQL refuses outright) is the same 404, not a server error.
    let key = create_key(&app, &["--name", "integration", "--role", "supervisor"]);
    for bad in ["a\u{0}b", "nope"] {
        let (status, body) = app
            .call_as(
                Some(&key),
                "POST",
                "/v1/ratings",
                Some(json!({"request_id": bad, "value": 1})),
            )
            .await;
        assert_eq!(status, 404, "{bad:?}: {body}");
        assert_eq!(body["error"]["code"], "request_not_found");
    }
}

async fn an_answer_after_the_answer_window_is_gone_and_the_request_expires(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line(
        "support",
        json!({"delay_seconds": 0, "answer_window_hours": 1}),
    )
    .await;
    app.open("s-1", "support", "op-1").await;
    let r = app.close("s-1").await;
    app.wait_for_status("s-1", "sent").await;

    app.advance(Duration::minutes(61));
    let (status, body) = app
        .post("/v1/ratings", json!({"request_id": r, "value": 1}))
        .await;
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["error"]["code"], "answer_window_closed");
    let s = app.wait_for_status("s-1", "expired").await;
    assert_eq!(s["rating"], serde_json::Value::Null);
}

async fn an_unsent_request_takes_no_answer(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 60})).await;
    app.open("s-1", "support", "op-1").await;
    let r = app.close("s-1").await;
    let (status, body) = app
        .post("/v1/ratings", json!({"request_id": r, "value": 1}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "request_not_answerable");
    assert_eq!(app.request_status("s-1").await, "scheduled");
}

/// A try that failed on our side (a timeout, a 5xx from a proxy) may still have reached
/// the client: their answer proves it did, is taken, and the retry is not sent.
async fn an_answer_after_a_failed_try_is_taken_and_the_retry_dropped(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.connector.reply_with([Reply::Status(503)]);
    app.line("support", json!({"delay_seconds": 0})).await;
    app.open("s-1", "support", "op-1").await;
    let r = app.close("s-1").await;
    app.wait_for_received(1).await;
    let s = app.wait_for_status("s-1", "scheduled").await;
    assert_eq!(s["rating_request"]["attempts"], 1, "{s}");
    let (status, body) = app
        .post("/v1/ratings", json!({"request_id": r, "value": 1}))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(app.request_status("s-1").await, "answered");
    app.advance(Duration::minutes(10));
    app.settle().await;
    assert_eq!(app.connector.received().len(), 1, "the retry was not sent");
    assert_eq!(app.request_status("s-1").await, "answered");
}

async fn a_client_may_change_a_rating_twice_and_every_version_is_kept(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("stars", json!({"delay_seconds": 0, "scale": "five_star"}))
        .await;
    app.open("s-1", "stars", "op-1").await;
    let r = app.close("s-1").await;
    app.wait_for_status("s-1", "sent").await;

    let (status, _) = app
        .post("/v1/ratings", json!({"request_id": r, "value": 2}))
        .await;
    assert_eq!(status, 201);
    // The same answer again is a no-op, not a change.
    let (status, body) = app
        .post("/v1/ratings", json!({"request_id": r, "value": 2}))
        .await;
    assert_eq!((status, body["changes"].clone()), (200, json!(0)));
    // A comment added later is not a change of the rating either.
    let (status, body) = app
        .post(
            "/v1/ratings",
            json!({"request_id": r, "value": 2, "comment": "slow"}),
        )
        .await;
    assert_eq!((status, body["changes"].clone()), (200, json!(0)));
    app.advance(Duration::days(30));
    let (status, body) = app
        .post("/v1/ratings", json!({"request_id": r, "value": 4}))
        .await;
    assert_eq!((status, body["changes"].clone()), (200, json!(1)));
    assert_eq!(
        body["comment"], "slow",
        "a change keeps the comment unless it sends one"
    );
    let (status, _) = app
        .post("/v1/ratings", json!({"request_id": r, "value": 5}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = app
        .post("/v1/ratings", json!({"request_id": r, "value": 1}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "change_limit_reached");

    let s = app.session("s-1").await;
    assert_eq!(s["rating"]["value"], 5);
    assert_eq!(s["rating"]["changes"], 2);
    let values: Vec<_> = s["rating"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["value"].as_i64().unwrap())
        .collect();
    assert_eq!(values, vec![2, 2, 4, 5]);
}

async fn a_change_after_the_change_window_is_refused(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    app.open("s-1", "support", "op-1").await;
    let r = app.close("s-1").await;
    app.wait_for_status("s-1", "sent").await;
    let (status, _) = app
        .post("/v1/ratings", json!({"request_id": r, "value": 0}))
        .await;
    assert_eq!(status, 201);
    app.advance(Duration::days(91));
    let (status, body) = app
        .post("/v1/ratings", json!({"request_id": r, "value": 1}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "change_window_closed");
    assert_eq!(app.session("s-1").await["rating"]["value"], 0);
}

async fn transient_failures_are_retried_with_backoff_and_refusals_are_not(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;

    // 503 twice, then accepted.
    app.connector
        .reply_with([Reply::Status(503), Reply::Status(503)]);
    app.open("s-1", "support", "op-1").await;
    app.close("s-1").await;
    app.wait_for_received(1).await;
    let s = app.wait_for_status("s-1", "scheduled").await;
    assert_eq!(
        s["rating_request"]["last_error"],
        "the connector answered HTTP 503"
    );
    // Backoff starts at 1 s (with jitter up to 2 s) and doubles.
    app.advance(Duration::seconds(2));
    app.wait_for_received(2).await;
    app.wait_for_status("s-1", "scheduled").await;
    app.advance(Duration::seconds(4));
    let s = app.wait_for_status("s-1", "sent").await;
    assert_eq!(s["rating_request"]["attempts"], 3);

    // A refusal for good is never retried.
    app.connector.reply_with([Reply::Status(410)]);
    app.open("s-2", "support", "op-1").await;
    app.close("s-2").await;
    let s = app.wait_for_status("s-2", "undeliverable").await;
    assert_eq!(
        s["rating_request"]["last_error"],
        "the connector answered HTTP 410"
    );
    app.advance(Duration::minutes(10));
    app.settle().await;
    let id = s["rating_request"]["id"].as_str().unwrap();
    assert_eq!(app.connector.count_for(id), 1);
}

async fn a_429_is_retried_no_sooner_than_retry_after(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    app.connector.reply_with([Reply::RetryAfter(30)]);
    app.open("s-1", "support", "op-1").await;
    app.close("s-1").await;
    app.wait_for_received(1).await;
    app.wait_for_status("s-1", "scheduled").await;
    app.advance(Duration::seconds(29));
    app.settle().await;
    assert_eq!(
        app.connector.received().len(),
        1,
        "retried before Retry-After"
    );
    app.advance(Duration::seconds(1));
    app.wait_for_status("s-1", "sent").await;
}

async fn a_request_not_sent_by_its_deadline_fails_instead_of_arriving_late(db: Db) {
    let Some(app) = spawn_app_with(db, |s| s.scheduler.send_deadline_seconds = 3).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    app.connector
        .reply_with(std::iter::repeat_n(Reply::Status(502), 20));
    app.open("s-1", "support", "op-1").await;
    app.close("s-1").await;
    app.wait_for_received(1).await;
    app.wait_for_status("s-1", "scheduled").await;
    app.advance(Duration::seconds(2));
    app.wait_for_received(2).await;
    // The second backoff waits 2–4 s (jitter adds up to the delay itself): past the 3 s deadline.
    let s = app.wait_for_status("s-1", "failed").await;
    let error = s["rating_request"]["last_error"].as_str().unwrap();
    assert!(error.contains("send deadline"), "{error}");
    app.advance(Duration::minutes(5));
    app.settle().await;
    assert_eq!(app.connector.received().len(), 2);
}

async fn the_request_credits_the_operator_of_the_close(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    app.open("s-1", "support", "op-1").await;
    let r = app.close("s-1").await;
    let s = app.wait_for_status("s-1", "sent").await;
    assert_eq!(s["rating_request"]["operator_id"], "op-1");
    let (status, _) = app
        .post("/v1/ratings", json!({"request_id": r, "value": 1}))
        .await;
    assert_eq!(status, 201);
    let (_, stats) = app.get("/v1/stats?by=operator").await;
    assert_eq!(stats["groups"][0]["key"], "op-1");
}

async fn an_idle_session_is_closed_by_timeout_and_rated(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (status, body) = app
        .put(
            "/v1/lines/support",
            json!({"name": "Support", "auto_close_minutes": 30, "rating": {"delay_seconds": 3},
                   "webhook": {"url": app.connector.url, "secret": SECRET}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    app.open("s-1", "support", "op-1").await;
    app.advance(Duration::minutes(20));
    app.post("/v1/sessions/s-1/messages", json!({"from": "operator"}))
        .await;
    app.advance(Duration::minutes(29));
    app.settle().await;
    assert_eq!(
        app.session("s-1").await["closed_at"],
        serde_json::Value::Null
    );

    app.advance(Duration::minutes(1));
    let s = app.wait_for_status("s-1", "scheduled").await;
    assert_eq!(s["closed_by"], "timeout");
    assert_eq!(s["closed_at"], "2026-11-21T09:50:00Z");
    app.advance(Duration::seconds(3));
    app.wait_for_status("s-1", "sent").await;
    assert_eq!(app.connector.received().len(), 1);
}

async fn a_line_with_ratings_off_asks_nothing(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("quiet", json!({"enabled": false})).await;
    app.open("s-1", "quiet", "op-1").await;
    let (status, body) = app
        .post("/v1/sessions/s-1/close", json!({"closed_by": "operator"}))
        .await;
    assert_eq!(status, 202);
    assert_eq!(body["rating_request"], serde_json::Value::Null);
    app.advance(Duration::minutes(1));
    app.settle().await;
    assert!(app.connector.received().is_empty());
}

async fn an_answer_that_arrives_before_the_send_is_recorded_is_kept(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    app.connector.reply_with([Reply::AnswerFirst(1)]);
    app.open("s-1", "support", "op-1").await;
    app.close("s-1").await;
    let s = app.wait_for_status("s-1", "answered").await;
    assert_eq!(*app.connector.answer_statuses.lock().unwrap(), vec![201]);
    assert_eq!(s["rating"]["value"], 1);
    assert_ne!(s["rating_request"]["sent_at"], serde_json::Value::Null);
    app.settle().await;
    let s = app.session("s-1").await;
    assert_eq!(
        s["rating_request"]["status"], "answered",
        "the late 'sent' record keeps it answered"
    );
    let (_, stats) = app.get("/v1/stats").await;
    assert_eq!(stats["groups"][0]["sent"], 1);
    assert_eq!(stats["groups"][0]["answered"], 1);
}

async fn two_first_answers_at_once_store_one_rating(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("stars", json!({"delay_seconds": 0, "scale": "five_star"}))
        .await;
    for i in 0..5 {
        let id = format!("s-{i}");
        app.open(&id, "stars", "op-1").await;
        let r = app.close(&id).await;
        app.wait_for_status(&id, "sent").await;
        let (a, b) = tokio::join!(
            app.post("/v1/ratings", json!({"request_id": r, "value": 5})),
            app.post("/v1/ratings", json!({"request_id": r, "value": 4})),
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [200, 201],
            "one first answer and one change: {a:?} {b:?}"
        );
        let s = app.session(&id).await;
        assert_eq!(s["rating"]["history"].as_array().unwrap().len(), 2);
        assert_eq!(s["rating"]["changes"], 1);
    }
}

async fn an_absurd_retry_after_ends_the_request_instead_of_crashing_the_send(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    app.connector
        .reply_with([Reply::RetryAfter(10_000_000_000_000)]);
    app.open("s-1", "support", "op-1").await;
    app.close("s-1").await;
    let s = app.wait_for_status("s-1", "failed").await;
    let error = s["rating_request"]["last_error"].as_str().unwrap();
    assert!(error.contains("send deadline"), "{error}");
    app.advance(Duration::minutes(20));
    app.settle().await;
    assert_eq!(app.connector.received().len(), 1, "never sent again");
}

/// Times are consistent for every caller: a close dated before the session's last
/// message (or its open), or a message dated before the open, is refused with a 422 naming
/// `at`, and changes nothing.
async fn events_dated_before_what_the_session_holds_are_refused(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 60})).await;
    app.open("s-1", "support", "op-1").await;
    let (status, body) = app
        .post(
            "/v1/sessions/s-1/messages",
            json!({"from": "client", "at": "2026-11-21T08:00:00Z"}),
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
            .contains("before the session opened (2026-11-21T09:00:00.000Z)"),
        "{body}"
    );
    let (status, body) = app
        .post(
            "/v1/sessions/s-1/close",
            json!({"closed_by": "operator", "at": "2026-11-21T08:59:59Z"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, json!("at")),
        "{body}"
    );
    assert_eq!(app.session("s-1").await["closed_at"], json!(null));

    app.advance(Duration::minutes(10));
    let first = app.close("s-1").await;
    app.advance(Duration::seconds(1));
    app.post("/v1/sessions/s-1/messages", json!({"from": "client"}))
        .await;
    // The client wrote again at 09:10:01; a close reported as 09:05 would precede it.
    let (status, body) = app
        .post(
            "/v1/sessions/s-1/close",
            json!({"closed_by": "operator", "at": "2026-11-21T09:05:00Z"}),
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
            .contains("before the session's last message (2026-11-21T09:10:01.000Z)"),
        "{body}"
    );
    let s = app.session("s-1").await;
    assert_eq!(
        s["closed_at"],
        json!(null),
        "the refused close closed the session"
    );
    assert_eq!(s["rating_request"]["id"], first);
    assert_eq!(s["rating_request"]["status"], "cancelled");
    // Dated after it, or not dated at all, the close is taken.
    let second = app.close("s-1").await;
    assert_ne!(second, first);
    assert_eq!(app.session("s-1").await["rating_request"]["id"], second);
}

/// The connector's `message_id` is kept when it is plain text; one that could not be
/// stored (NUL, which PostgreSQL refuses) is dropped instead of failing the record of a
/// send that happened, which would send the request again.
async fn the_connectors_message_id_is_kept_unless_it_cannot_be_stored(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    app.connector.reply_with([
        Reply::Body(r#"{"message_id": "m-1"}"#),
        Reply::Body(r#"{"message_id": "m\u0000x"}"#),
    ]);
    for s in ["s-1", "s-2"] {
        app.open(s, "support", "op-1").await;
        app.close(s).await;
        app.wait_for_received(if s == "s-1" { 1 } else { 2 }).await;
    }
    let first = app.wait_for_status("s-1", "sent").await;
    assert_eq!(first["rating_request"]["platform_message_id"], "m-1");
    let second = app.wait_for_status("s-2", "sent").await;
    assert_eq!(second["rating_request"]["platform_message_id"], json!(null));
    assert_eq!(second["rating_request"]["attempts"], 1);
    // A lease later, nothing is sent again.
    app.advance(Duration::minutes(5));
    app.settle().await;
    assert_eq!(app.connector.received().len(), 2);
}

/// A line that asks "resolved?" and for a comment on a low rating tells its connector so,
/// in the line's language, with the scale's buttons.
async fn the_connector_is_told_the_cards_follow_ups(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line(
        "support",
        json!({"delay_seconds": 0, "scale": "five_star", "low_threshold": 3, "language": "ru",
               "ask_resolved": true, "ask_comment_on_low": true, "thanks_text": "Спасибо!",
               "low_reasons": [{"id": "slow", "text": "Долго ждал"}, {"id": "rude", "text": "Грубо"}]}),
    )
    .await;
    app.open("s-1", "support", "op-1").await;
    app.close("s-1").await;
    let got = app.wait_for_received(1).await;
    let b = &got[0].body;
    assert_eq!(b["v"], 1);
    assert_eq!(b["language"], "ru");
    assert_eq!(b["choices"].as_array().unwrap().len(), 5);
    assert_eq!(b["choices"][4], json!({"value": 5, "label": "5 ★"}));
    assert_eq!(b["thanks_text"], "Спасибо!");
    assert_eq!(
        b["follow_ups"]["resolved"],
        json!({"question": "Ваш вопрос решён?", "yes": "Да", "no": "Нет"})
    );
    assert_eq!(b["follow_ups"]["comment"]["when_at_or_below"], 3);
    assert_eq!(
        b["follow_ups"]["comment"]["prompt"],
        "Нам жаль. Что пошло не так?"
    );
    assert_eq!(
        b["follow_ups"]["reasons"],
        json!({"prompt": "Нам жаль. Что пошло не так? Выберите всё, что подходит.",
               "when_at_or_below": 3,
               "choices": [{"id": "slow", "text": "Долго ждал"}, {"id": "rude", "text": "Грубо"}]})
    );
}

/// A send in flight: the request shows `sending` with the attempt being made, and a client
/// message then does not take it back (it may be on the client's screen already).
async fn a_request_in_flight_shows_sending_and_a_message_does_not_cancel_it(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.connector
        .reply_with([Reply::Slow(std::time::Duration::from_secs(2))]);
    app.line("support", json!({"delay_seconds": 0})).await;
    app.open("s-1", "support", "op-1").await;
    app.close("s-1").await;
    app.wait_for_received(1).await;
    let s = app.session("s-1").await;
    assert_eq!(s["rating_request"]["status"], "sending", "{s}");
    assert_eq!(s["rating_request"]["attempts"], 1, "{s}");
    app.advance(Duration::seconds(1));
    let (status, body) = app
        .post("/v1/sessions/s-1/messages", json!({"from": "client"}))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        body["cancelled_request_id"],
        serde_json::Value::Null,
        "{body}"
    );
    let s = app.wait_for_status("s-1", "sent").await;
    assert_eq!(s["rating_request"]["attempts"], 1, "{s}");
    assert_eq!(queued(&app).await, 0, "a sent request leaves the queue");
}

/// A sender that died mid-send after the client answered leaves its lease behind: when the
/// lease runs out the request is not sent again, and the scheduler does not keep waking
/// for it.
async fn a_lease_left_behind_after_the_answer_is_dropped_not_sent(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 3600})).await;
    app.open("s-1", "support", "op-1").await;
    let r = app.close("s-1").await;
    assert_eq!(
        queued(&app).await,
        1,
        "a scheduled request waits in the queue"
    );
    // Another process claimed it (a lease of a minute from now) and died while sending.
    app.sql(
        "UPDATE request_queue
         SET lease_owner = 'gone', attempts = 1, run_at = run_at - 3540000",
    )
    .await;
    assert_eq!(app.request_status("s-1").await, "sending");
    // Its message reached the client, who answers.
    let (status, body) = app
        .post("/v1/ratings", json!({"request_id": r, "value": 1}))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(queued(&app).await, 1, "the lease stays until it runs out");
    // Past the lease and the due time this scheduler planned to wake at before the lease
    // was taken behind its back.
    app.advance(Duration::hours(2));
    app.settle().await;
    assert!(
        app.connector.received().is_empty(),
        "an answered request is not sent"
    );
    assert_eq!(queued(&app).await, 0, "the claim that found it dropped it");
    assert_eq!(app.request_status("s-1").await, "answered");
}

/// The requests in the scheduler's queue.
async fn queued(app: &crate::common::TestApp) -> i64 {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.db.url).await.unwrap();
    let n = sqlx::query("SELECT COUNT(*) AS n FROM request_queue")
        .fetch_one(&pool)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    pool.close().await;
    n
}

crate::common::on_both_backends!(
    a_request_in_flight_shows_sending_and_a_message_does_not_cancel_it,
    a_lease_left_behind_after_the_answer_is_dropped_not_sent,
    the_connector_is_told_the_cards_follow_ups,
    the_connectors_message_id_is_kept_unless_it_cannot_be_stored,
    an_answer_after_a_failed_try_is_taken_and_the_retry_dropped,
    a_closed_session_is_asked_for_a_rating_after_the_delay,
    closing_twice_schedules_nothing_more,
    a_client_who_writes_again_before_the_due_time_cancels_the_request,
    a_message_from_before_the_close_does_not_cancel,
    answers_outside_the_scale_are_refused_and_change_nothing,
    an_answer_after_the_answer_window_is_gone_and_the_request_expires,
    an_unsent_request_takes_no_answer,
    a_client_may_change_a_rating_twice_and_every_version_is_kept,
    a_change_after_the_change_window_is_refused,
    transient_failures_are_retried_with_backoff_and_refusals_are_not,
    a_429_is_retried_no_sooner_than_retry_after,
    a_request_not_sent_by_its_deadline_fails_instead_of_arriving_late,
    the_request_credits_the_operator_of_the_close,
    an_idle_session_is_closed_by_timeout_and_rated,
    a_line_with_ratings_off_asks_nothing,
    an_answer_that_arrives_before_the_send_is_recorded_is_kept,
    two_first_answers_at_once_store_one_rating,
    an_absurd_retry_after_ends_the_request_instead_of_crashing_the_send,
    events_dated_before_what_the_session_holds_are_refused,
);
