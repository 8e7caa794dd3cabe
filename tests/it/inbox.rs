//! The inbox of low ratings: `GET /v1/ratings` and `/dashboard/inbox` list them open work
//! first (unanswered, assigned, handled), oldest first, with names, state, alerts and
//! responses; filter them; number their pages; keep to the caller's reach; empty them by
//! assigning and closing, one or many at once; and every page's header counts the
//! unanswered ones and the viewer's own assigned ones.

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
pub(crate) async fn fixture(app: &TestApp) -> std::collections::HashMap<&'static str, String> {
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
    // Unanswered, oldest first; then the responded one. The 👍 is not low.
    assert_eq!(sessions(&body), ["s1", "s4", "s5", "s2"], "{body}");
    assert_eq!(
        (body["total"].as_i64(), body["pages"].as_i64()),
        (Some(4), Some(1))
    );
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
    assert_eq!(s1["state"], "unanswered");
    assert_eq!(by_session("s2")["state"], "handled");
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
        ("?state=unanswered", vec!["s1", "s4", "s5"]),
        ("?state=unanswered&sort=newest", vec!["s5", "s4", "s1"]),
        ("?state=responded", vec!["s2"]),
        ("?state=handled", vec!["s2"]),
        ("?state=assigned", vec![]),
        ("?operator=op-2", vec!["s4"]),
        ("?line=sales", vec!["s4", "s5"]),
        ("?channel=telegram", vec![]),
        ("?channel=webhook&line=support", vec!["s1", "s2"]),
        ("?value=2", vec!["s5"]),
        ("?value=0", vec!["s1", "s2"]),
        ("?has_comment=yes", vec!["s1", "s4"]),
        ("?has_comment=no", vec!["s5", "s2"]),
        // Any case; a comment flagged as abusive is not searched.
        ("?q=SLO", vec!["s1"]),
        ("?q=rude", vec![]),
        ("?q=%25", vec![]),
        ("?assignee=nobody", vec!["s1", "s4", "s5", "s2"]),
    ] {
        let (status, body) = list(&app, None, query).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(sessions(&body), want, "{query}");
    }
    for (query, names) in [
        ("?state=lost", "state"),
        ("?cursor=nope", "cursor"),
        ("?limit=0", "limit"),
        ("?page=0", "page"),
        ("?value=9", "value"),
        ("?sort=up", "sort"),
        ("?has_comment=maybe", "has_comment"),
        ("?assignee=me", "assignee"),
        // A character no database takes in text is refused, not a server error.
        ("?q=a%00b", "q"),
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

    // Pages: two at a time, numbered, nothing twice, nothing left out.
    let (_, first) = list(&app, None, "?limit=2").await;
    assert_eq!(sessions(&first), ["s1", "s4"]);
    assert_eq!(
        (first["page"].as_i64(), first["pages"].as_i64()),
        (Some(1), Some(2))
    );
    let (_, second) = list(&app, None, "?limit=2&page=2").await;
    assert_eq!(sessions(&second), ["s5", "s2"]);
    assert_eq!(second["total"], 4);
    let (_, beyond) = list(&app, None, "?limit=2&page=3").await;
    assert_eq!(sessions(&beyond), Vec::<String>::new());

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
    assert_eq!(sessions(&body), ["s1", "s5", "s2"]);
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
    assert_eq!(sessions(&body), ["s4", "s5"]);
    let (status, body) = list(&app, Some(&sales), "?line=support").await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = list(&app, Some(&ben), "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sessions(&body), ["s1", "s5", "s2"], "Ben's own");
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

/// `POST /v1/ratings/actions` with the app's key.
async fn act(app: &TestApp, body: Value) -> (u16, Value) {
    app.post("/v1/ratings/actions", body).await
}

/// A team empties its inbox: ratings assigned (to oneself, or a supervisor of the line),
/// closed with no follow-up needed, reopened; one or many at once, all or none; from the
/// API and from the page's form; and the header counts what is left to the viewer.
async fn a_team_empties_the_inbox(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let ids = fixture(&app).await;
    for (id, body) in [
        (
            "sup-olga",
            json!({"name": "Olga", "role": "supervisor", "lines": ["support", "sales"]}),
        ),
        (
            "sup-sam",
            json!({"name": "Sam", "role": "supervisor", "lines": ["sales"]}),
        ),
    ] {
        let (status, body) = app.put(&format!("/v1/people/{id}"), body).await;
        assert_eq!(status, 201, "{body}");
    }
    let key = crate::people::close_with_a_key(&app).await;
    app.use_key(&key);
    let ben = create_key(
        &app,
        &["--name", "Ben", "--role", "operator", "--person", "op-1"],
    );

    // Olga takes s1 and s4.
    let (status, body) = act(
        &app,
        json!({"rating_ids": [ids["s1"], ids["s4"]], "action": "assign", "assignee_id": "sup-olga"}),
    )
    .await;
    assert_eq!((status, &body["changed"]), (200, &json!(2)), "{body}");
    let (_, body) = list(&app, Some(&key), "?state=assigned").await;
    assert_eq!(sessions(&body), ["s1", "s4"]);
    assert_eq!(body["ratings"][0]["assignee_id"], "sup-olga");
    let (_, body) = list(&app, Some(&key), "?assignee=sup-olga").await;
    assert_eq!(sessions(&body), ["s1", "s4"]);
    let (_, body) = list(&app, Some(&key), "?state=unanswered").await;
    assert_eq!(sessions(&body), ["s5"]);

    // All or none: an operator, or a supervisor of one rating's line but not the other's,
    // cannot be given them; an unknown rating refuses the whole list; nothing changed.
    for (body, status, names) in [
        (
            json!({"rating_ids": [ids["s5"]], "action": "assign", "assignee_id": "op-1"}),
            422,
            "op-1",
        ),
        (
            json!({"rating_ids": [ids["s5"], ids["s1"]], "action": "assign", "assignee_id": "sup-sam"}),
            422,
            "support",
        ),
        (
            json!({"rating_ids": [ids["s5"], "nope"], "action": "close"}),
            404,
            "nope",
        ),
        (
            json!({"rating_ids": [ids["s5"], ids["s3"]], "action": "close"}),
            422,
            "not low",
        ),
        (
            json!({"rating_ids": [], "action": "close"}),
            422,
            "rating_ids",
        ),
        (
            json!({"rating_ids": [ids["s5"]], "action": "assign", "note": "x"}),
            422,
            "note",
        ),
        (
            json!({"rating_ids": [ids["s5"]], "action": "archive"}),
            400,
            "action",
        ),
    ] {
        let (got, refused) = act(&app, body.clone()).await;
        assert_eq!(got, status, "{body}: {refused}");
        let message = refused["error"]["message"].as_str().unwrap();
        assert!(message.contains(names), "{body}: {message}");
    }
    let (_, body) = list(&app, Some(&key), "?state=unanswered").await;
    assert_eq!(sessions(&body), ["s5"], "nothing changed");
    let (status, body) = app
        .call_as(
            Some(&ben),
            "POST",
            "/v1/ratings/actions",
            Some(json!({"rating_ids": [ids["s1"]], "action": "close"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");

    // Closed with a note: handled, newest first; reopened, it is Olga's again.
    let (status, body) = act(
        &app,
        json!({"rating_ids": [ids["s1"]], "action": "close", "note": "the client called back, all fine"}),
    )
    .await;
    assert_eq!((status, &body["changed"]), (200, &json!(1)), "{body}");
    let (_, body) = list(&app, Some(&key), "?state=handled").await;
    assert_eq!(sessions(&body), ["s2", "s1"]);
    assert_eq!(
        body["ratings"][1]["closed"]["note"],
        "the client called back, all fine"
    );
    assert_eq!(body["ratings"][1]["state"], "handled");
    let (_, body) = act(&app, json!({"rating_ids": [ids["s1"]], "action": "close"})).await;
    assert_eq!(body["changed"], 0, "closed already: the first close stays");
    let (_, body) = act(&app, json!({"rating_ids": [ids["s1"]], "action": "reopen"})).await;
    assert_eq!(body["changed"], 1);
    let (_, body) = list(&app, Some(&key), "?state=assigned").await;
    assert_eq!(sessions(&body), ["s1", "s4"]);
    let (_, alerts) = app.get("/v1/alerts?state=unanswered").await;
    assert_eq!(alerts["unanswered"]["total"], 1, "{alerts}");

    // Olga's header: s5 nobody has, and her own s1 and s4.
    let olga = crate::workbench::signed_in(&app, "sup-olga").await;
    let (status, page) = text(&app, "/dashboard/inbox", Some(&olga)).await;
    assert_eq!(status, 200, "{page}");
    for part in [
        r#"<span id="unanswered">3</span>"#,
        r#"<span id="total">4</span>"#,
        r#"name="rating" value=""#,
        r#"action="/dashboard/inbox/actions""#,
        // The operator is chosen by name.
        r#"<option value="op-1">Ben</option>"#,
        r#"assigned to <span title="sup-olga">Olga</span>"#,
    ] {
        assert!(page.contains(part), "{part} missing: {page}");
    }
    // Sam's header: s5 on his line nobody has; none of his own.
    let sam = crate::workbench::signed_in(&app, "sup-sam").await;
    let (_, page) = text(&app, "/dashboard/inbox", Some(&sam)).await;
    assert!(page.contains(r#"<span id="unanswered">1</span>"#), "{page}");

    // The page's form: s5 closed from the unanswered view, back to that view, now empty.
    let (status, page) = crate::workbench::post(
        &app,
        &olga,
        "/dashboard/inbox/actions",
        &[
            ("rating", ids["s5"].as_str()),
            ("action", "close"),
            ("note", "a test chat"),
            ("back", "state=unanswered"),
        ],
    )
    .await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("1 of 1 ticked ratings closed"), "{page}");
    assert!(page.contains(r#"id="empty""#), "{page}");
    assert!(
        page.contains(r#"<option value="unanswered" selected>"#),
        "{page}"
    );
    // Take s1 from Olga's own view of it, with "me".
    let (status, page) = crate::workbench::post(
        &app,
        &sam,
        "/dashboard/inbox/actions",
        &[
            ("rating", ids["s4"].as_str()),
            ("action", "assign"),
            ("assignee", "me"),
        ],
    )
    .await;
    assert_eq!(status, 303, "{page}");
    let (_, body) = list(&app, Some(&key), "?assignee=sup-sam").await;
    assert_eq!(sessions(&body), ["s4"]);
    // Nothing ticked: said next to the form, the view kept, nothing changed.
    let (status, page) = crate::workbench::post(
        &app,
        &olga,
        "/dashboard/inbox/actions",
        &[("action", "close"), ("back", "line=sales")],
    )
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(
        page.contains(r#"id="bulk-problem""#) && page.contains("tick the ratings"),
        "{page}"
    );
    assert!(
        page.contains(r#"<option value="sales" selected>"#),
        "{page}"
    );

    // A filter that cannot be read is named next to its field; the others still apply.
    let (status, page) = text(
        &app,
        "/dashboard/inbox?value=9&line=sales&state=",
        Some(&olga),
    )
    .await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains(r#"id="f-value-problem""#), "{page}");
    assert!(page.contains(r#"href="/dashboard/sessions/s4""#), "{page}");
    assert!(
        !page.contains(r#"href="/dashboard/sessions/s1""#),
        "sales only: {page}"
    );
}

crate::common::on_both_backends!(
    a_team_empties_the_inbox,
    the_inbox_lists_low_ratings_unanswered_first,
    the_inbox_keeps_to_the_callers_reach,
    the_inbox_page_and_the_unanswered_count,
);
