//! Keeping less: with `retention.days`, sessions closed longer ago go with their requests,
//! ratings and follow-ups, at the start and every hour; the report over whole days reads as
//! before, and the purge is audited.

use crate::common::{Db, TestApp, test_settings};
use chrono::Duration;
use rateline::clock::ManualClock;
use serde_json::json;

/// The reports that must not change, as text.
async fn reports(app: &TestApp) -> Vec<String> {
    let mut all = Vec::new();
    for query in ["", "?by=operator", "?by=day", "?by=week", "?by=channel"] {
        let (status, body) = app.get(&format!("/v1/stats{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
        all.push(body.to_string());
    }
    all
}

async fn old_sessions_go_and_their_counts_stay(kind: Db) {
    let Some(db) = crate::common::TestDb::new(kind).await else {
        return;
    };
    let mut settings = test_settings(&db);
    settings.retention.days = Some(121);
    let clock = ManualClock::new(crate::common::start_time());
    let connector = crate::common::Connector::start().await;
    let app = TestApp::start(db, settings.clone(), clock, connector).await;
    app.line("support", json!({"delay_seconds": 0})).await;
    app.rated("s-1", "support", "op-1", 1).await;
    app.rated("s-2", "support", "op-2", 0).await;
    app.sent_request("s-3", "support", "op-1").await;
    let rating = app.rated("s-4", "support", "op-1", 0).await;
    // s-2's low rating closed in the inbox: its handling goes with it.
    let s2 = app.session("s-2").await["rating"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = app
        .post(
            "/v1/ratings/actions",
            json!({"rating_ids": [s2], "action": "close", "note": "called back"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .put(
            &format!("/v1/ratings/{rating}/response"),
            json!({"text": "We are sorry"}),
        )
        .await;
    assert!(status == 201 || status == 200, "{body}");
    app.open("still-open", "support", "op-1").await;

    // 130 days on, one more conversation; then a restart purges what is older than 121 days.
    app.advance(Duration::days(130));
    app.rated("s-new", "support", "op-2", 1).await;
    let before = reports(&app).await;
    let (db, clock, connector) = app.stop().await;
    let app = TestApp::start(db, settings, clock, connector).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.get("/v1/sessions/s-1").await.0 != 404 {
        assert!(tokio::time::Instant::now() < deadline, "s-1 was not purged");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for gone in ["s-2", "s-3", "s-4"] {
        assert_eq!(
            app.get(&format!("/v1/sessions/{gone}")).await.0,
            404,
            "{gone}"
        );
    }
    for kept in ["s-new", "still-open"] {
        assert_eq!(
            app.get(&format!("/v1/sessions/{kept}")).await.0,
            200,
            "{kept}"
        );
    }
    assert_eq!(
        reports(&app).await,
        before,
        "the report over whole days is the same"
    );

    // Audited once, with what went.
    let (_, log) = app.get("/v1/audit?kind=retention").await;
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{log}");
    assert_eq!(entries[0]["action"], "purged");
    assert_eq!(entries[0]["actor"], "retention.days");
    let counts: Vec<_> = entries[0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["field"].as_str().unwrap().to_owned(), c["after"].clone()))
        .collect();
    assert_eq!(
        counts,
        [
            ("ratings".to_owned(), json!(3)),
            ("requests".to_owned(), json!(4)),
            ("sessions".to_owned(), json!(4)),
        ]
    );
}

crate::common::on_both_backends!(old_sessions_go_and_their_counts_stay);
