//! The inbox of low ratings: `GET /v1/ratings` and `/dashboard/inbox` list them unanswered
//! first, then the newest, with names, state, alerts and responses; filter them; page
//! through them with a cursor; keep to the caller's reach; and every page's header counts
//! the unanswered ones.

use crate::common::{Db, TestApp, create_key, spawn_app};
use crate::dashboard::text;
use chrono::Duration;
use serde_json::{Value, json};

/// Opens, closes and answers a session with a comment; the rating's id.
async fn rated_with_comment(
    app: &TestApp,
    session: &str,
    line: &str,
    operator: &str,
    value: i64,
    comment: &str,
) -> String {
    app.open(session, line, operator).await;
    let request = app.close(session).await;
    app.wait_for_status(session, "sent").await;
    let (status, body) = app
        .post(
            "/v1/ratings",
            json!({"request_id": request, "value": value, "comment": comment, "resolved": false}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Support (👍/👎) and sales (★, a day's grace for low ratings), rated a minute apart:
///
/// | session | line | operator | rating | then |
/// | --- | --- | --- | --- | --- |
/// | s1 | support | op-1 (Ben) | 👎 "slow" | |
/// | s2 | support | op-1 | 👎 | responded |
/// | s3 | support | op-2 | 👍 | (not low) |
/// | s4 | sales | op-2 | 1 ★ "rude" | comment flagged |
/// | s5 | sales | op-1 | 2 ★ | |
///
/// Returns the ratings' ids by session.
async fn fixture(app: &TestApp) -> std::collections::HashMap<&'static str, String> {
    app.line("support", json!({"delay_seconds": 0})).await;
    app.line(
        "sales",
        json!({"delay_seconds": 0, "scale": "five_star", "lowered_grace_hours": 24}),
    )
    .await;
    let (status, body) = app
        .put(
            "/v1/people/op-1",
            json!({"name": "Ben", "role": "operator", "lines": ["support", "sales"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut ids = std::collections::HashMap::new();
    ids.insert(
        "s1",
        rated_with_comment(app, "s1", "support", "op-1", 0, "slow").await,
    );
    app.advance(Duration::minutes(1));
    ids.insert("s2", app.rated("s2", "support", "op-1", 0).await);
    app.advance(Duration::minutes(1));
    ids.insert("s3", app.rated("s3", "support", "op-2", 1).await);
    app.advance(Duration::minutes(1));
    ids.insert(
        "s4",
        rated_with_comment(app, "s4", "sales", "op-2", 1, "rude").await,
    );
    app.advance(Duration::minutes(1));
    ids.insert("s5", app.rated("s5", "sales", "op-1", 2).await);
    app.advance(Duration::minutes(1));
    let (status, body) = app
        .put(
            &format!("/v1/ratings/{}/response", ids["s2"]),
            json!({"text": "Sorry, we will call you back"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .put(
            &format!("/v1/ratings/{}/comment-flag", ids["s4"]),
            json!({"abusive": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    ids
}

/// `GET /v1/ratings?query` with `key` (none: the open mode): the status and the body.
async fn list(app: &TestApp, key: Option<&str>, query: &str) -> (u16, Value) {
    let mut req = app.http.get(app.url(&format!("/v1/ratings{query}")));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn sessions(body: &Value) -> Vec<String> {
    body["ratings"]
        .as_array()
        .unwrap_or_else(|| panic!("no ratings: {body}"))
        .iter()
        .map(|r| r["session_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn the_inbox_lists_low_ratings_unanswered_first(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let ids = fixture(&app).await;
    let (status, body) = list(&app, None, "").await;
    assert_eq!(status, 200, "{body}");
    // Unanswered, newest first; then the responded one. The 👍 is not low.
    assert_eq!(sessions(&body), ["s5", "s4", "s1", "s2"], "{body}");
    let by_session = |s: &str| {
        body["ratings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["session_id"] == s)
            .unwrap()
            .clone()
    };
    let s1 = by_session("s1");
    assert_eq!(s1["rating_id"], ids["s1"].as_str());
    assert_eq!(s1["operator_name"], "Ben");
    assert_eq!(s1["line_name"], "support");
    assert_eq!(s1["client_name"], "Ann");
    assert_eq!(s1["comment"], "slow");
    assert_eq!(s1["resolved"], false);
    assert_eq!(s1["response"], Value::Null);
    assert_eq!(s1["grace_until"], Value::Null, "support has no grace");
    let s4 = by_session("s4");
    assert_eq!(s4["comment"], Value::Null, "flagged: hidden");
    assert_eq!(s4["comment_flagged"], true);
    assert!(s4["operator_name"].is_null(), "op-2 is not a person");
    assert!(
        s4["grace_until"].is_string(),
        "sales keeps low ratings a day in grace: {s4}"
    );
    let s2 = by_session("s2");
    assert_eq!(s2["response"]["text"], "Sorry, we will call you back");

    // Filters.
    for (query, want) in [
        ("?state=unanswered", vec!["s5", "s4", "s1"]),
        ("?state=responded", vec!["s2"]),
        ("?operator=op-2", vec!["s4"]),
        ("?line=sales", vec!["s5", "s4"]),
        ("?channel=telegram", vec![]),
        ("?channel=webhook&line=support", vec!["s1", "s2"]),
    ] {
        let (status, body) = list(&app, None, query).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(sessions(&body), want, "{query}");
    }
    for (query, names) in [
        ("?state=lost", "state"),
        ("?cursor=nope", "cursor"),
        ("?limit=0", "limit"),
        ("?channel=fax", "channel"),
        ("?from=yesterday", "from"),
        ("?color=red", "color"),
    ] {
        let (status, body) = list(&app, None, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(names),
            "{query}: {body}"
        );
    }

    // Pages: two at a time, nothing twice, nothing left out.
    let (_, first) = list(&app, None, "?limit=2").await;
    assert_eq!(sessions(&first), ["s5", "s4"]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let (_, second) = list(&app, None, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(sessions(&second), ["s1", "s2"]);
    assert_eq!(second["next_cursor"], Value::Null);

    // Voided by an approved appeal: out of the list, unless asked for.
    let (status, appeal) = app
        .post(
            &format!("/v1/ratings/{}/appeal", ids["s4"]),
            json!({"reason": "the client wrote to the wrong shop"}),
        )
        .await;
    assert_eq!(status, 201, "{appeal}");
    let (_, body) = list(&app, None, "?state=appealed").await;
    assert_eq!(sessions(&body), ["s4"]);
    let (status, _) = app
        .post(
            &format!("/v1/appeals/{}/decision", appeal["id"].as_str().unwrap()),
            json!({"approve": true}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, body) = list(&app, None, "").await;
    assert_eq!(sessions(&body), ["s5", "s1", "s2"]);
    let (_, body) = list(&app, None, "?state=voided").await;
    assert_eq!(sessions(&body), ["s4"]);
}

async fn the_inbox_keeps_to_the_callers_reach(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    fixture(&app).await;
    let sales = create_key(
        &app,
        &["--name", "Sam", "--role", "supervisor", "--lines", "sales"],
    );
    let ben = create_key(
        &app,
        &["--name", "Ben", "--role", "operator", "--person", "op-1"],
    );
    let (status, body) = list(&app, Some(&sales), "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sessions(&body), ["s5", "s4"]);
    let (status, body) = list(&app, Some(&sales), "?line=support").await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = list(&app, Some(&ben), "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sessions(&body), ["s5", "s1", "s2"], "Ben's own");
    let (status, body) = list(&app, Some(&ben), "?operator=op-2").await;
    assert_eq!(status, 403, "{body}");
}

/// The dashboard's inbox shows the same list with names, and every page's header counts
/// the unanswered low ratings, down by one after a response.
async fn the_inbox_page_and_the_unanswered_count(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let ids = fixture(&app).await;
    let (status, page) = text(&app, "/dashboard/inbox", None).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(r#"<span id="unanswered">3</span>"#), "{page}");
    for part in [
        r#"href="/dashboard/sessions/s1""#,
        "👎 thumbs down from Ann",
        "Ben",
        "slow",
        "Comment hidden: flagged as abusive",
        "Sorry, we will call you back",
        "Resolved: no",
        "In its grace period until",
        "Unanswered",
    ] {
        assert!(page.contains(part), "{part} missing: {page}");
    }
    // The filters as a form: state and line.
    let (_, page) = text(&app, "/dashboard/inbox?state=responded&line=", None).await;
    assert!(page.contains(r#"href="/dashboard/sessions/s2""#), "{page}");
    assert!(!page.contains(r#"href="/dashboard/sessions/s1""#), "{page}");
    // The day in `to` counts whole.
    let today = crate::common::start_time().format("%Y-%m-%d").to_string();
    let (_, page) = text(
        &app,
        &format!("/dashboard/inbox?from={today}&to={today}"),
        None,
    )
    .await;
    assert!(page.contains(r#"href="/dashboard/sessions/s1""#), "{page}");
    // The dashboard's low-ratings card leads here.
    let (_, page) = text(&app, "/dashboard?line=sales", None).await;
    assert!(
        page.contains(r#"href="/dashboard/inbox?line=sales""#),
        "{page}"
    );
    // A response takes one off the count, on every page.
    let (status, _) = app
        .put(
            &format!("/v1/ratings/{}/response", ids["s1"]),
            json!({"text": "We are on it"}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, page) = text(&app, "/dashboard/sessions/s5", None).await;
    assert!(page.contains(r#"<span id="unanswered">2</span>"#), "{page}");
}

crate::common::on_both_backends!(
    the_inbox_lists_low_ratings_unanswered_first,
    the_inbox_keeps_to_the_callers_reach,
    the_inbox_page_and_the_unanswered_count,
);
