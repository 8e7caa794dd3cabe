//! The supervisor's workbench over HTTP, as a browser's forms send it: respond (sent to the
//! client), flag, appeal, decide in the appeals queue, evaluate, each recorded under the
//! person signed in, each answered with the page and a message; and what is refused
//! (another site's form, an expired sign-in, an operator, another line's supervisor).

use crate::common::{Db, TestApp, rateline, spawn_app};
use crate::dashboard::{cookie_of, post_form, text};
use crate::people::{PASSWORD, close_with_a_key, path_of, set_password};
use serde_json::{Value, json};

/// Signs `person` in through an invitation; the cookie.
pub(crate) async fn signed_in(app: &TestApp, person: &str) -> String {
    let path = path_of(&rateline(app, &["people", "invite", person]));
    let (status, headers, page) = set_password(app, &path, PASSWORD, PASSWORD).await;
    assert_eq!(status, 303, "{page}");
    cookie_of(&headers).unwrap()
}

/// A form from the dashboard's own page (as a browser sends it) with `cookie`.
pub(crate) async fn post(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let own = app.base.clone();
    let (status, headers, page) = post_form(
        app,
        path,
        Some(cookie),
        &[("origin", &own), ("sec-fetch-site", "same-origin")],
        form,
    )
    .await;
    if status == 303 {
        let to = headers["location"].to_str().unwrap().to_owned();
        let (status, page) = text(app, &to, Some(cookie)).await;
        assert_eq!(status, 200, "{to}: {page}");
        return (303, page);
    }
    (status, page)
}

async fn with_key(app: &TestApp, key: &str, path: &str) -> Value {
    let (status, body) = app.call_as(Some(key), "GET", path, None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn a_supervisor_works_a_low_rating_from_the_browser(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    app.line("sales", json!({"delay_seconds": 0})).await;
    app.open("s1", "support", "op-1").await;
    let request = app.close("s1").await;
    app.wait_for_status("s1", "sent").await;
    let (status, body) = app
        .post(
            "/v1/ratings",
            json!({"request_id": request, "value": 0, "comment": "nobody answered", "resolved": false}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for (id, body) in [
        (
            "sup-olga",
            json!({"name": "Olga", "role": "supervisor", "lines": ["support"],
                   "time_zone": "Asia/Tokyo"}),
        ),
        (
            "sup-sam",
            json!({"name": "Sam", "role": "supervisor", "lines": ["sales"]}),
        ),
        ("admin-ann", json!({"name": "Ann", "role": "admin"})),
        (
            "op-1",
            json!({"name": "Ben", "role": "operator", "lines": ["support"]}),
        ),
    ] {
        let (status, body) = app.put(&format!("/v1/people/{id}"), body).await;
        assert_eq!(status, 201, "{body}");
    }
    let admin_key = close_with_a_key(&app).await;
    let olga = signed_in(&app, "sup-olga").await;

    // The page shows the rating and the forms; the header counts one unanswered.
    let (status, page) = text(&app, "/dashboard/sessions/s1", Some(&olga)).await;
    assert_eq!(status, 200, "{page}");
    for part in [
        "Resolved: no",
        r#"action="/dashboard/sessions/s1/response""#,
        r#"action="/dashboard/sessions/s1/flag""#,
        r#"action="/dashboard/sessions/s1/appeal""#,
        r#"action="/dashboard/sessions/s1/evaluation""#,
        r#"<span id="unanswered">1</span>"#,
        "Olga",
        // People and lines by name, their ids on hover.
        r#"<span title="op-1">Ben</span>"#,
    ] {
        assert!(page.contains(part), "{part} missing: {page}");
    }
    // Olga's times are in her zone, Tokyo (UTC+9, no summer time).
    let session = with_key(&app, &admin_key, "/v1/sessions/s1").await;
    let opened: chrono::DateTime<chrono::Utc> =
        session["opened_at"].as_str().unwrap().parse().unwrap();
    let in_tokyo = (opened + chrono::Duration::hours(9))
        .format("%Y-%m-%d %H:%M JST")
        .to_string();
    assert!(page.contains(&in_tokyo), "{in_tokyo} missing: {page}");
    assert!(!page.contains(" UTC<"), "{page}");
    assert!(!page.contains("Decide the appeal"), "only admins decide");

    // Respond, sent to the client: the connector gets it, signed; Olga is its author.
    let (status, page) = post(
        &app,
        &olga,
        "/dashboard/sessions/s1/response",
        &[
            ("text", "Sorry, we will call you today"),
            ("send_to_client", "true"),
        ],
    )
    .await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("on its way to the client"), "{page}");
    assert!(
        !page.contains(r#"id="unanswered""#),
        "none unanswered: {page}"
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let sent = loop {
        if let Some(r) = app
            .connector
            .received()
            .into_iter()
            .find(|r| r.body["event"] == "response")
        {
            break r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no response reached the connector"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(sent.signature_ok);
    assert_eq!(sent.body["text"], "Sorry, we will call you today");
    let list = with_key(&app, &admin_key, "/v1/ratings?state=responded").await;
    assert_eq!(
        list["ratings"][0]["response"]["author_id"], "sup-olga",
        "{list}"
    );

    // Flag the comment: hidden in the inbox.
    let (status, page) = post(
        &app,
        &olga,
        "/dashboard/sessions/s1/flag",
        &[("abusive", "true")],
    )
    .await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("hidden as abusive"), "{page}");
    assert!(
        page.contains(r#"(comment hidden as abusive by <span title="sup-olga">Olga</span>)"#),
        "{page}"
    );
    let session = with_key(&app, &admin_key, "/v1/sessions/s1").await;
    assert_eq!(
        session["rating"]["comment_flagged_by"], "sup-olga",
        "{session}"
    );
    let (_, inbox) = text(&app, "/dashboard/inbox?state=responded", Some(&olga)).await;
    assert!(
        inbox.contains("Comment hidden: flagged as abusive"),
        "{inbox}"
    );
    assert!(!inbox.contains("nobody answered"), "{inbox}");

    // Evaluate: nothing is chosen for her; sent unchosen, it is named and nothing saved.
    let (_, page) = text(&app, "/dashboard/sessions/s1", Some(&olga)).await;
    assert!(
        page.contains(r#"<option value="" selected>choose…</option>"#),
        "{page}"
    );
    let (status, page) = post(
        &app,
        &olga,
        "/dashboard/sessions/s1/evaluation",
        &[("stars", ""), ("comment", "slow to pick up")],
    )
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("choose how many stars you give"), "{page}");
    let (status, page) = post(
        &app,
        &olga,
        "/dashboard/sessions/s1/evaluation",
        &[("stars", "2"), ("comment", "slow to pick up")],
    )
    .await;
    assert_eq!(status, 303, "{page}");
    assert!(
        page.contains(r#"evaluation: 2 ★ by <span title="sup-olga">Olga</span>"#),
        "{page}"
    );

    // Appeal; a second one is refused by the rule, named next to the form.
    let (status, page) = post(
        &app,
        &olga,
        "/dashboard/sessions/s1/appeal",
        &[("reason", "the client wrote to the wrong shop")],
    )
    .await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("appeals queue"), "{page}");
    let (status, page) = post(
        &app,
        &olga,
        "/dashboard/sessions/s1/appeal",
        &[("reason", "again")],
    )
    .await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains(r#"id="appeal-problem""#), "{page}");
    assert!(page.contains("appealed already"), "{page}");

    // The admin decides it in the queue: the rating is voided.
    let ann = signed_in(&app, "admin-ann").await;
    let (status, queue) = text(&app, "/dashboard/appeals", Some(&ann)).await;
    assert_eq!(status, 200, "{queue}");
    assert!(
        queue.contains("the client wrote to the wrong shop"),
        "{queue}"
    );
    assert!(
        queue.contains(r#"appealed by <span title="sup-olga">Olga</span>"#),
        "{queue}"
    );
    let appeals = with_key(&app, &admin_key, "/v1/appeals?status=open").await;
    assert_eq!(appeals["appeals"][0]["made_by"], "sup-olga", "{appeals}");
    let appeal = appeals["appeals"][0]["id"].as_str().unwrap().to_owned();
    // A decision that says neither approve nor reject decides nothing.
    let (_, page) = post(
        &app,
        &ann,
        &format!("/dashboard/appeals/{appeal}/decision"),
        &[("note", "?")],
    )
    .await;
    assert!(
        page.contains("Nothing changed") && page.contains("choose approve"),
        "{page}"
    );
    let (status, page) = post(
        &app,
        &ann,
        &format!("/dashboard/appeals/{appeal}/decision"),
        &[("approve", "yes"), ("note", "checked the chat")],
    )
    .await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("approved"), "{page}");
    let (_, page) = text(&app, "/dashboard/sessions/s1", Some(&ann)).await;
    for part in [
        r#"decided by <span title="admin-ann">Ann</span>"#,
        r#"appeal approved by <span title="admin-ann">Ann</span>"#,
        r#"appealed by <span title="sup-olga">Olga</span>"#,
    ] {
        assert!(page.contains(part), "{part} missing: {page}");
    }
    let appeals = with_key(&app, &admin_key, "/v1/appeals?status=approved").await;
    assert_eq!(
        appeals["appeals"][0]["decided_by"], "admin-ann",
        "{appeals}"
    );
    let voided = with_key(&app, &admin_key, "/v1/ratings?state=voided").await;
    assert_eq!(voided["ratings"][0]["session_id"], "s1", "{voided}");
    let stats = with_key(&app, &admin_key, "/v1/stats").await;
    assert_eq!(
        stats["groups"][0]["answered"], 0,
        "voided: out of the report: {stats}"
    );
}

async fn the_workbench_refuses_what_the_api_refuses(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    app.rated("s1", "support", "op-1", 0).await;
    for (id, body) in [
        (
            "sup-sam",
            json!({"name": "Sam", "role": "supervisor", "lines": ["sales"]}),
        ),
        (
            "op-1",
            json!({"name": "Ben", "role": "operator", "lines": ["support"]}),
        ),
        (
            "sup-olga",
            json!({"name": "Olga", "role": "supervisor", "lines": ["support"]}),
        ),
    ] {
        let (status, body) = app.put(&format!("/v1/people/{id}"), body).await;
        assert_eq!(status, 201, "{body}");
    }
    let admin_key = close_with_a_key(&app).await;
    let respond = [("text", "Sorry"), ("send_to_client", "true")];
    // An operator: no response form, and a posted one is refused with the rule.
    let ben = signed_in(&app, "op-1").await;
    let (_, page) = text(&app, "/dashboard/sessions/s1", Some(&ben)).await;
    assert!(!page.contains("/dashboard/sessions/s1/response"), "{page}");
    let (status, page) = post(&app, &ben, "/dashboard/sessions/s1/response", &respond).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains(r#"id="respond-problem""#), "{page}");
    assert!(page.contains("needs a supervisor or admin"), "{page}");
    // An operator deciding an appeal from the queue: back to it, saying why nothing changed.
    let (_, page) = post(
        &app,
        &ben,
        "/dashboard/appeals/some-appeal/decision",
        &[("approve", "yes")],
    )
    .await;
    assert!(
        page.contains("Nothing changed") && page.contains("needs a supervisor or admin"),
        "{page}"
    );
    // Another line's supervisor: as if the session did not exist.
    let sam = signed_in(&app, "sup-sam").await;
    let (status, _) = post(&app, &sam, "/dashboard/sessions/s1/response", &respond).await;
    assert_eq!(status, 404);
    // Nor does a form refused for another reason show a session beyond reach.
    let (status, page) = post(
        &app,
        &sam,
        "/dashboard/appeals/any/decision",
        &[("approve", "yes"), ("session", "s1")],
    )
    .await;
    assert_eq!(status, 404, "{page}");
    assert!(
        !page.contains("client-s1") && !page.contains("Ann"),
        "{page}"
    );
    // Another site's form: refused before anything is read.
    let olga = signed_in(&app, "sup-olga").await;
    let (status, _, page) = post_form(
        &app,
        "/dashboard/sessions/s1/response",
        Some(&olga),
        &[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        &respond,
    )
    .await;
    assert_eq!(status, 403, "{page}");
    // An expired sign-in: the sign-in page, nothing written.
    app.expire_sign_ins().await;
    let (status, page) = post(&app, &olga, "/dashboard/sessions/s1/response", &respond).await;
    assert_eq!(status, 401, "{page}");
    assert!(page.contains(r#"name="password""#), "{page}");
    // Signing in again comes back to the session's page, not to the form's address.
    assert!(
        page.contains(r#"name="next" value="/dashboard/sessions/s1""#),
        "{page}"
    );
    let list = with_key(&app, &admin_key, "/v1/ratings?state=responded").await;
    assert_eq!(list["ratings"], json!([]), "nothing was written: {list}");
}

async fn an_operator_sees_their_feedback_unless_the_line_hides_it(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    app.low_rating("s1", "support", "op-1", "nobody answered")
        .await;
    let (status, body) = app
        .put(
            "/v1/people/op-1",
            json!({"name": "Ben", "role": "operator", "lines": ["support"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let admin_key = close_with_a_key(&app).await;
    let operator_key = crate::common::create_key(
        &app,
        &[
            "--name",
            "Ben's tool",
            "--role",
            "operator",
            "--person",
            "op-1",
        ],
    );

    // Ben signs in to his own feedback: his numbers, the comment, the way to appeal.
    let ben = signed_in(&app, "op-1").await;
    let (status, page) = text(&app, "/dashboard/home", Some(&ben)).await;
    assert_eq!(status, 200, "{page}");
    for part in [
        "<title>Ben · Rateline</title>",
        r#"id="nav-me""#,
        "nobody answered",
    ] {
        assert!(page.contains(part), "{part} missing: {page}");
    }
    let (_, inbox) = text(&app, "/dashboard/inbox", Some(&ben)).await;
    assert!(inbox.contains("nobody answered"), "{inbox}");
    let (_, page) = text(&app, "/dashboard/sessions/s1", Some(&ben)).await;
    assert!(page.contains("nobody answered"), "{page}");
    assert!(page.contains(r#"id="appeal""#), "{page}");

    // An appeal Ben sees while the line shows him its ratings.
    let rating = with_key(&app, &admin_key, "/v1/ratings").await["ratings"][0]["rating_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = app
        .call_as(
            Some(&admin_key),
            "POST",
            &format!("/v1/ratings/{rating}/appeal"),
            Some(json!({"reason": "wrong shop"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let appeals = with_key(&app, &operator_key, "/v1/appeals").await;
    assert_eq!(appeals["appeals"].as_array().unwrap().len(), 1, "{appeals}");

    // The line shows its ratings to supervisors only: Ben sees his numbers, not the ratings.
    let (status, body) = app
        .call_as(
        Some(&admin_key),
        "PUT",
        "/v1/lines/support",
        Some(json!({"name": "Support", "webhook": {"url": app.connector.url, "secret": crate::common::SECRET},
               "rating": {"delay_seconds": 0, "operators_see_ratings": false}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // His numbers then count whole days that have ended: the next day, his rating's.
    app.advance(chrono::Duration::days(1));
    let (_, page) = text(&app, "/dashboard/home", Some(&ben)).await;
    assert!(!page.contains("nobody answered"), "{page}");
    assert!(page.contains("None in this period"), "{page}");
    assert!(
        page.contains(r#"<div class="n">1</div>"#),
        "his low rating still counts in his numbers: {page}"
    );
    let (_, inbox) = text(&app, "/dashboard/inbox", Some(&ben)).await;
    assert!(!inbox.contains("nobody answered"), "{inbox}");
    assert!(inbox.contains("No ratings match"), "{inbox}");
    let (_, page) = text(&app, "/dashboard/sessions/s1", Some(&ben)).await;
    assert!(!page.contains("nobody answered"), "{page}");
    assert!(page.contains(r#"id="ratings-hidden""#), "{page}");
    // The same through the API with his key.
    let session = with_key(&app, &operator_key, "/v1/sessions/s1").await;
    assert_eq!(session["rating"], Value::Null, "{session}");
    assert_eq!(session["rating_hidden"], true, "{session}");
    let ratings = with_key(&app, &operator_key, "/v1/ratings").await;
    assert_eq!(ratings["ratings"], json!([]), "{ratings}");
    let appeals = with_key(&app, &operator_key, "/v1/appeals").await;
    assert_eq!(appeals["appeals"], json!([]), "{appeals}");
    // A supervisor still sees everything.
    let session = with_key(&app, &admin_key, "/v1/sessions/s1").await;
    assert_eq!(session["rating"]["comment"], "nobody answered", "{session}");
    assert_eq!(session["rating_hidden"], false, "{session}");
}

crate::common::on_both_backends!(
    a_supervisor_works_a_low_rating_from_the_browser,
    the_workbench_refuses_what_the_api_refuses,
    an_operator_sees_their_feedback_unless_the_line_hides_it,
);

/// A form sent when its sign-in had ended is kept on the sign-in page, without any
/// credential it held, and changes nothing until it is sent again.
async fn a_form_sent_after_the_sign_in_ended_is_kept_without_its_secrets(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (status, body) = app
        .put(
            "/v1/people/sup-olga",
            json!({"name": "Olga", "role": "supervisor", "lines": ["support"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let olga = signed_in(&app, "sup-olga").await;
    app.expire_sign_ins().await;
    let (status, page) = post(
        &app,
        &olga,
        "/dashboard/account/password",
        &[
            ("current", "the old one, long"),
            ("password", "a new one, long enough"),
            ("repeat", "a new one, long enough"),
        ],
    )
    .await;
    assert_eq!(status, 401, "{page}");
    assert!(page.contains("was not saved or sent"), "{page}");
    assert!(
        page.contains(r#"name="kept_action" value="/dashboard/account/password""#),
        "{page}"
    );
    for secret in ["the old one", "a new one", "kept:current", "kept:password"] {
        assert!(!page.contains(secret), "{secret} kept: {page}");
    }
    let (status, page) = post(
        &app,
        &olga,
        "/dashboard/account/alert-pace",
        &[
            ("mode", "digest"),
            ("digest_minutes", "45"),
            ("per_hour", "10"),
        ],
    )
    .await;
    assert_eq!(status, 401, "{page}");
    assert!(
        page.contains(r#"name="kept:digest_minutes" value="45""#),
        "{page}"
    );
    let n = app
        .count("SELECT COUNT(*) FROM people WHERE id = 'sup-olga' AND alert_pace IS NULL")
        .await;
    assert_eq!(n, 1, "nothing changed");
}

crate::common::on_both_backends!(a_form_sent_after_the_sign_in_ended_is_kept_without_its_secrets);

/// Refusals on the pages speak the pages' words: no endpoint to call, no raw instant, the
/// visitor's own header, and a hint in the pages' terms.
async fn error_pages_speak_the_pages_words(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    app.rated("s1", "support", "op-1", 0).await;
    for (id, body) in [
        (
            "sup-olga",
            json!({"name": "Olga", "role": "supervisor", "lines": ["support"]}),
        ),
        ("sup-nil", json!({"name": "Nil", "role": "supervisor"})),
    ] {
        let (status, body) = app.put(&format!("/v1/people/{id}"), body).await;
        assert_eq!(status, 201, "{body}");
    }
    let _admin = close_with_a_key(&app).await;
    let olga = signed_in(&app, "sup-olga").await;
    let nil = signed_in(&app, "sup-nil").await;
    let rfc3339 = |page: &str| {
        page.split(|c: char| c.is_whitespace() || "<>\"'(),;".contains(c))
            .any(|w| chrono::DateTime::parse_from_rfc3339(w.trim_end_matches('.')).is_ok())
    };
    for (cookie, path, status, says) in [
        (
            &olga,
            "/dashboard/sessions/nope",
            404,
            "Session 'nope' does not exist. It may have been removed",
        ),
        (
            &nil,
            "/dashboard",
            403,
            "an admin adds lines to you on your page under People",
        ),
        (&olga, "/dashboard/export.csv?table=nope", 400, "no table"),
    ] {
        let (got, page) = text(&app, path, Some(cookie)).await;
        assert_eq!(got, status, "{path}: {page}");
        assert!(page.contains(says), "{path}: {page}");
        assert!(!page.contains("/v1/"), "{path} names the API: {page}");
        assert!(!rfc3339(&page), "{path} shows a raw instant: {page}");
        assert!(
            page.contains("sign-out"),
            "{path} without its header: {page}"
        );
    }
}

crate::common::on_both_backends!(error_pages_speak_the_pages_words);
