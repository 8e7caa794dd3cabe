//! Attacks on signing in, each refused: a deactivated person's operator key, a sign-out
//! undone by a request in flight, sign-in rows made with made-up cookies, and an admin who
//! acts as someone else without a trace in the audit log.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{Db, TestApp, create_key, spawn_app};
use crate::dashboard::{cookie_of, post_form, sign_in, text};
use crate::people::{close_with_a_key, path_of, set_password};

const PASSWORD: &str = "a long enough password";

/// Lines support and an operator op-1 on it; an admin key, with which the open mode is over.
async fn world(app: &TestApp) -> String {
    app.line("support", json!({"delay_seconds": 0})).await;
    let (status, body) = app
        .put(
            "/v1/people/op-1",
            json!({"name": "Olga", "role": "operator", "lines": ["support"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    close_with_a_key(app).await
}

/// An operator key acts as its person, and works only while they do: deactivated, the key
/// is refused on the API and for signing in to the dashboard, and a sign-in made with it
/// ends; turned back on, it works again.
async fn a_deactivated_persons_operator_key_stops_working(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let admin = world(&app).await;
    let olga = create_key(
        &app,
        &["--name", "Olga", "--role", "operator", "--person", "op-1"],
    );
    let stats = |key: String| {
        let app = &app;
        async move { app.call_as(Some(&key), "GET", "/v1/stats", None).await }
    };
    assert_eq!(stats(olga.clone()).await.0, 200);
    let (status, cookie) = sign_in(&app, &olga).await;
    assert_eq!(status, 303, "{cookie}");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    assert_eq!(text(&app, "/dashboard", Some(&cookie)).await.0, 200);

    let set_active = |active: bool| {
        let (app, admin) = (&app, &admin);
        async move {
            let change = Some(json!({"active": active}));
            let (status, body) = app
                .call_as(Some(admin), "PATCH", "/v1/people/op-1", change)
                .await;
            assert_eq!(status, 200, "{body}");
        }
    };
    set_active(false).await;
    let (status, body) = stats(olga.clone()).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "key_person_deactivated", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'op-1', who is deactivated"),
        "{body}"
    );
    let (status, page) = text(&app, "/dashboard", Some(&cookie)).await;
    assert_eq!(status, 401, "the sign-in made with the key ended: {page}");
    let (status, page) = sign_in(&app, &olga).await;
    assert_eq!(status, 401, "{page}");
    assert!(page.contains("deactivated"), "{page}");

    set_active(true).await;
    assert_eq!(stats(olga).await.0, 200);
}

/// A request that loaded its sign-in before the sign-out (here, a form whose body is held
/// back) ends after it: the sign-in stays ended.
async fn a_request_in_flight_cannot_undo_a_sign_out(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let admin = world(&app).await;
    let (status, cookie) = sign_in(&app, &admin).await;
    assert_eq!(status, 303, "{cookie}");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    assert_eq!(text(&app, "/dashboard", Some(&cookie)).await.0, 200);

    // A form sent slowly: its sign-in is read as soon as its head is in.
    let body = "time_zone=UTC";
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /dashboard/account/time-zone HTTP/1.1\r\nHost: {address}\r\n\
         Cookie: {cookie}\r\nSec-Fetch-Site: same-origin\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&body.as_bytes()[..4]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    sign_out(&app, &cookie).await;
    // The slow form ends now, after the sign-out.
    slow.write_all(&body.as_bytes()[4..]).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), slow.read(&mut answer))
        .await
        .expect("the slow form is answered")
        .unwrap();
    assert!(n > 0);
    let (status, page) = text(&app, "/dashboard", Some(&cookie)).await;
    assert_eq!(status, 401, "the sign-out was undone: {page}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sign_ins").await,
        0,
        "a sign-in row came back"
    );
}

/// Dashboard requests with cookies the store does not know, or with credentials that fail,
/// write no sign-in row; only a sign-in whose credential was checked does.
async fn made_up_cookies_store_no_sign_ins(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let admin = world(&app).await;
    for n in 0..10u8 {
        // The form of a real id (16 bytes as 22 characters of URL-safe base64, the last one
        // carrying no stray bits), never handed out.
        let made_up = format!("rateline_session=AAAAAAAAAAAAAAAAAAA{n:02}A");
        for path in [
            "/dashboard/login",
            "/dashboard/style.css",
            "/dashboard/inbox",
            "/dashboard/no-such-page",
        ] {
            let (status, _) = text(&app, path, Some(&made_up)).await;
            assert!(status < 500, "{path}: {status}");
        }
        let (status, _, _) = post_form(
            &app,
            "/dashboard/login",
            Some(&made_up),
            &[("sec-fetch-site", "same-origin")],
            &[(
                "key",
                "rl_00000000_0000000000000000000000000000000000000000000000000000000000000000",
            )],
        )
        .await;
        assert_eq!(status, 401);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM sign_ins").await, 0);
    let (status, _) = sign_in(&app, &admin).await;
    assert_eq!(status, 303);
    assert_eq!(app.count("SELECT COUNT(*) FROM sign_ins").await, 1);
}

/// Signs the browser with `cookie` out, from the dashboard's own page.
async fn sign_out(app: &TestApp, cookie: &str) {
    let (status, _, _) = post_form(
        app,
        "/dashboard/logout",
        Some(cookie),
        &[("sec-fetch-site", "same-origin")],
        &[],
    )
    .await;
    assert_eq!(status, 303);
}

/// The audit log's entries of `kind` for `subject`, newest first.
async fn audited(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let (status, body) = app
        .call_as(Some(key), "GET", &format!("/v1/audit?{query}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["entries"].as_array().unwrap().clone()
}

/// What someone did with a field's value, from an entry.
fn field<'a>(entry: &'a Value, name: &str) -> &'a Value {
    entry["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == name)
        .map_or(&Value::Null, |c| &c["after"])
}

/// An admin who makes someone's invitation, sets their password and acts as them leaves a
/// trace: the invitation made and used, the password set, each sign-in and sign-out, failed
/// sign-ins counted per person and day, and what was done while signed in (a response, a
/// flag, an evaluation, an appeal and its decision).
async fn what_people_do_is_audited(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let admin = world(&app).await;
    let olga_key = create_key(
        &app,
        &["--name", "Olga", "--role", "operator", "--person", "op-1"],
    );
    let (status, body) = app
        .call_as(Some(&admin), "POST", "/v1/people/op-1/invitation", None)
        .await;
    assert_eq!(status, 201, "{body}");
    let admin_id = admin.split('_').nth(1).unwrap();
    let path = path_of(body["url"].as_str().unwrap());
    let (status, headers, _) = set_password(&app, &path, PASSWORD, PASSWORD).await;
    assert_eq!(status, 303);
    let cookie = cookie_of(&headers).unwrap();
    for wrong in 0..3 {
        let (status, _, _) = post_form(
            &app,
            "/dashboard/login",
            None,
            &[("sec-fetch-site", "same-origin")],
            &[("person", "op-1"), ("password", &format!("wrong {wrong}"))],
        )
        .await;
        assert_eq!(status, 401);
    }
    let (status, _, _) = post_form(
        &app,
        "/dashboard/login",
        None,
        &[("sec-fetch-site", "same-origin")],
        &[("person", "<script>nobody"), ("password", "whatever it is")],
    )
    .await;
    assert_eq!(status, 401);
    sign_out(&app, &cookie).await;

    let entries = audited(&app, &admin, "kind=person&subject=op-1").await;
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap()))
        .collect();
    let by_key = format!("key {admin_id}");
    assert!(
        actions.contains(&(by_key.as_str(), "invited")),
        "{actions:?}"
    );
    let set = entries
        .iter()
        .find(|e| e["action"] == "password_set")
        .expect("the password set");
    assert_eq!(set["actor"], "op-1");
    assert_eq!(field(set, "invitation_made_by"), &json!(by_key));
    assert_eq!(field(set, "address"), "127.0.0.1");

    let sign_ins = audited(&app, &admin, "kind=sign_in").await;
    let seen: Vec<(&str, &str)> = sign_ins
        .iter()
        .map(|e| {
            (
                e["subject"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
            )
        })
        .collect();
    for expected in [
        ("op-1", "signed_in"),
        ("op-1", "signed_out"),
        ("op-1", "sign_in_failed"),
        ("no such person", "sign_in_failed"),
    ] {
        assert!(seen.contains(&expected), "{expected:?} in {seen:?}");
    }
    let failed = sign_ins
        .iter()
        .find(|e| e["subject"] == "op-1" && e["action"] == "sign_in_failed")
        .unwrap();
    assert_eq!(
        field(failed, "count"),
        3,
        "one entry counts the day's failures"
    );
    assert_eq!(field(failed, "last_address"), "127.0.0.1");
    let unknown = sign_ins
        .iter()
        .find(|e| e["subject"] == "no such person")
        .unwrap();
    assert_eq!(field(unknown, "count"), 1);
    // Nothing typed is kept: an id field may hold a password typed in the wrong box.
    let text = serde_json::to_string(&sign_ins).unwrap();
    for typed in ["wrong 0", PASSWORD, "<script>nobody"] {
        assert!(!text.contains(typed), "{typed} in {text}");
    }

    // What a supervisor and an operator do on a rating is recorded as theirs.
    app.use_key(&admin);
    let rating = app.rated("s-1", "support", "op-1", 0).await;
    for (key, method, path, body) in [
        (
            &admin,
            "PUT",
            format!("/v1/ratings/{rating}/response"),
            json!({"text": "Sorry"}),
        ),
        (
            &admin,
            "PUT",
            format!("/v1/ratings/{rating}/comment-flag"),
            json!({"abusive": true}),
        ),
        (
            &admin,
            "PUT",
            "/v1/sessions/s-1/evaluation".to_owned(),
            json!({"stars": 3}),
        ),
        (
            &olga_key,
            "POST",
            format!("/v1/ratings/{rating}/appeal"),
            json!({"reason": "not me"}),
        ),
    ] {
        let (status, body) = app.call_as(Some(key), method, &path, Some(body)).await;
        assert!(status == 200 || status == 201, "{method} {path}: {body}");
    }
    let appeal = &audited(&app, &admin, "kind=appeal").await[0];
    assert_eq!(
        (appeal["action"].as_str(), appeal["actor"].as_str()),
        (Some("appealed"), Some("op-1"))
    );
    let appeal_id = appeal["subject"].as_str().unwrap().to_owned();
    let (status, body) = app
        .call_as(
            Some(&admin),
            "POST",
            &format!("/v1/appeals/{appeal_id}/decision"),
            Some(json!({"approve": false, "note": "it was you"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let rated: Vec<String> = audited(&app, &admin, "kind=rating")
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(rated, ["comment_flagged", "responded"], "{rated:?}");
    let evaluated = &audited(&app, &admin, "kind=session&subject=s-1").await[0];
    assert_eq!(evaluated["action"], "evaluated");
    assert_eq!(field(evaluated, "stars"), 3);
    let decided = &audited(&app, &admin, "kind=appeal").await[0];
    assert_eq!(decided["action"], "rejected");
    assert_eq!(decided["actor"], json!(by_key));
}

crate::common::on_both_backends!(
    a_deactivated_persons_operator_key_stops_working,
    a_request_in_flight_cannot_undo_a_sign_out,
    made_up_cookies_store_no_sign_ins,
    what_people_do_is_audited,
);
