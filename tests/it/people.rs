//! People sign in to the dashboard as themselves: an invitation link (from the command line
//! or the API) sets a password, stored with Argon2id; a sign-in comes back to the page asked
//! for, sees the person's own lines, and ends on sign-out and when the password is set again.

use crate::common::{Db, TestApp, create_key, rateline, spawn_app};
use crate::dashboard::{cookie_of, post_form, text};
use serde_json::json;

/// Lines support and sales, a low rating on each, and the people who work on them.
async fn fixture(app: &TestApp) {
    app.line("support", json!({"delay_seconds": 0})).await;
    app.line("sales", json!({"delay_seconds": 0})).await;
    app.rated("s-support", "support", "op-1", 0).await;
    app.rated("s-sales", "sales", "op-2", 0).await;
    for (id, body) in [
        (
            "sup-olga",
            json!({"name": "Olga", "role": "supervisor", "lines": ["support"]}),
        ),
        (
            "op-1",
            json!({"name": "Ben", "role": "operator", "lines": ["support"]}),
        ),
    ] {
        let (status, body) = app.put(&format!("/v1/people/{id}"), body).await;
        assert_eq!(status, 201, "{body}");
    }
}

/// Makes an admin key, and waits until the running server has seen it (it looks again at
/// most once a second while no key exists): from then on the dashboard asks for a sign-in.
pub(crate) async fn close_with_a_key(app: &TestApp) -> String {
    let key = create_key(app, &["--name", "ops", "--role", "admin"]);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while text(app, "/dashboard", None).await.0 != 401 {
        assert!(tokio::time::Instant::now() < deadline, "still open");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    key
}

/// The path and query of an invitation link.
pub(crate) fn path_of(link: &str) -> String {
    let at = link
        .find("/dashboard/invitation?token=")
        .unwrap_or_else(|| panic!("not an invitation link: {link}"));
    link[at..].to_owned()
}

fn token_of(path: &str) -> &str {
    path.rsplit('=').next().unwrap()
}

/// Sets a password with the invitation at `path`: the status, the headers and the page.
pub(crate) async fn set_password(
    app: &TestApp,
    path: &str,
    password: &str,
    repeat: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    post_form(
        app,
        "/dashboard/invitation",
        None,
        &[],
        &[
            ("token", token_of(path)),
            ("password", password),
            ("repeat", repeat),
        ],
    )
    .await
}

/// Gives person `person` the password `password` the way a person sets one: an invitation
/// (made with admin key `key`, or in the open mode), then the link's form.
pub(crate) async fn give_password(app: &TestApp, key: Option<&str>, person: &str, password: &str) {
    let path = format!("/v1/people/{person}/invitation");
    let (status, body) = app.call_as(key, "POST", &path, Some(json!({}))).await;
    assert_eq!(status, 201, "{body}");
    let link = path_of(body["url"].as_str().unwrap());
    let (status, _, page) = set_password(app, &link, password, password).await;
    assert_eq!(status, 303, "{page}");
}

/// Signs in with an id and a password: the status, the headers and the page.
pub(crate) async fn sign_in(
    app: &TestApp,
    person: &str,
    password: &str,
    next: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    post_form(
        app,
        "/dashboard/login",
        None,
        &[],
        &[("person", person), ("password", password), ("next", next)],
    )
    .await
}

pub(crate) const PASSWORD: &str = "blue kettle on the moon";

async fn an_invited_person_sets_a_password_and_signs_in_as_themselves(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    fixture(&app).await;
    // With a key, the dashboard is closed to whoever has not signed in.
    close_with_a_key(&app).await;
    let link = rateline(&app, &["people", "invite", "sup-olga"]);
    let path = path_of(&link);
    let (status, page) = text(&app, &path, None).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Welcome, Olga") && page.contains("sup-olga"),
        "{page}"
    );

    // A password too short, or typed differently twice: the form again, the problem next
    // to its field, nothing set.
    let (status, _, page) = set_password(&app, &path, "short", "short").await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains(r#"id="password-problem""#), "{page}");
    assert!(page.contains("at least 10"), "{page}");
    let (status, _, page) = set_password(&app, &path, PASSWORD, "blue kettle").await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains(r#"id="repeat-problem""#), "{page}");
    let (status, _, page) = sign_in(&app, "sup-olga", PASSWORD, "/dashboard").await;
    assert_eq!(status, 401, "no password is set yet: {page}");

    // The password set: signed in at once, as Olga, on her line only.
    let (status, headers, page) = set_password(&app, &path, PASSWORD, PASSWORD).await;
    assert_eq!(status, 303, "{page}");
    assert_eq!(headers["location"], "/dashboard/home");
    let cookie = cookie_of(&headers).expect("a sign-in cookie");
    // A supervisor's first page is their inbox.
    let (status, page) = text(&app, "/dashboard/home", Some(&cookie)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<title>Inbox · Rateline</title>"), "{page}");
    let (status, page) = text(&app, "/dashboard/sessions/s-support", Some(&cookie)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Sign out"), "{page}");
    let (status, _) = text(&app, "/dashboard/sessions/s-sales", Some(&cookie)).await;
    assert_eq!(status, 404, "another line's session is answered as none");

    // The link works once.
    let (status, page) = text(&app, &path, None).await;
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("set Olga's password"), "{page}");
    let (status, _, _) = set_password(&app, &path, "another password", "another password").await;
    assert_eq!(status, 410);

    // Only an Argon2id hash is stored.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.db.url).await.unwrap();
    let hash: String =
        sqlx::query_scalar("SELECT hash FROM person_passwords WHERE person_id = 'sup-olga'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(PASSWORD));

    // Signed out, then in again with the password: back to the page asked for.
    let (status, _, _) = post_form(&app, "/dashboard/logout", Some(&cookie), &[], &[]).await;
    assert_eq!(status, 303);
    assert_eq!(text(&app, "/dashboard", Some(&cookie)).await.0, 401);
    let (status, page) = text(&app, "/dashboard/sessions/s-support", None).await;
    assert_eq!(status, 401);
    assert!(
        page.contains(r#"name="person""#) && page.contains(r#"name="password""#),
        "{page}"
    );
    // A wrong password, and an unknown person, are refused alike, next to the field.
    for (person, password) in [("sup-olga", "blue kettle on mars"), ("nobody", PASSWORD)] {
        let (status, headers, page) = sign_in(&app, person, password, "/dashboard").await;
        assert_eq!(status, 401, "{page}");
        assert!(cookie_of(&headers).is_none());
        assert!(page.contains(r#"id="password-problem""#), "{page}");
        assert!(page.contains("do not match"), "{page}");
        assert!(page.contains(&format!(r#"value="{person}""#)), "{page}");
    }
    let (status, headers, _) =
        sign_in(&app, "sup-olga", PASSWORD, "/dashboard/sessions/s-support").await;
    assert_eq!(status, 303);
    assert_eq!(headers["location"], "/dashboard/sessions/s-support");
    let cookie = cookie_of(&headers).unwrap();
    assert_eq!(
        text(&app, "/dashboard/sessions/s-support", Some(&cookie))
            .await
            .0,
        200
    );
    for next in ["//evil.example/x", "https://evil.example/", "/v1/lines"] {
        let (status, headers, _) = sign_in(&app, "sup-olga", PASSWORD, next).await;
        assert_eq!(status, 303);
        assert_eq!(headers["location"], "/dashboard/home", "{next}");
    }

    // Setting the password again (a new link) ends every earlier sign-in.
    let link = rateline(&app, &["people", "invite", "sup-olga"]);
    let (status, _, _) =
        set_password(&app, &path_of(&link), "a new password", "a new password").await;
    assert_eq!(status, 303);
    assert_eq!(text(&app, "/dashboard", Some(&cookie)).await.0, 401);
    assert_eq!(
        sign_in(&app, "sup-olga", PASSWORD, "/dashboard").await.0,
        401
    );
    assert_eq!(
        sign_in(&app, "sup-olga", "a new password", "/dashboard")
            .await
            .0,
        303
    );
}

/// An operator signed in sees their own sessions and numbers, nothing of anyone else's.
async fn an_operator_signed_in_sees_only_their_own(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    fixture(&app).await;
    close_with_a_key(&app).await;
    let path = path_of(&rateline(&app, &["people", "invite", "op-1"]));
    let (status, headers, _) = set_password(&app, &path, PASSWORD, PASSWORD).await;
    assert_eq!(status, 303);
    let cookie = cookie_of(&headers).unwrap();
    assert_eq!(
        text(&app, "/dashboard/sessions/s-support", Some(&cookie))
            .await
            .0,
        200
    );
    assert_eq!(
        text(&app, "/dashboard/sessions/s-sales", Some(&cookie))
            .await
            .0,
        404
    );
    let (status, page) = text(&app, "/dashboard/operators/op-2", Some(&cookie)).await;
    assert_eq!(status, 403, "{page}");
    assert!(
        page.contains("Ben (op-1) is signed in as an operator"),
        "{page}"
    );
}

/// Invitations over the API: admins only, shown once, the newest link the one that works,
/// and each link expires.
async fn invitations_over_the_api(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    fixture(&app).await;
    let admin = close_with_a_key(&app).await;
    let supervisor = create_key(&app, &["--name", "sam", "--role", "supervisor"]);
    let invite = |key: String, person: &'static str, query: &'static str| {
        let app = &app;
        async move {
            let resp = app
                .http
                .post(app.url(&format!("/v1/people/{person}/invitation{query}")))
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, body) = invite(supervisor, "sup-olga", "").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, body) = invite(admin.clone(), "nobody", "").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "person_not_found");
    let (status, body) = invite(admin.clone(), "sup-olga", "?hours=0").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_parameter");

    let (status, first) = invite(admin.clone(), "sup-olga", "").await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["person_id"], "sup-olga");
    let first = path_of(first["url"].as_str().unwrap());
    let (status, second) = invite(admin.clone(), "sup-olga", "?hours=1").await;
    assert_eq!(status, 201, "{second}");
    let second = path_of(second["url"].as_str().unwrap());
    // The newer link replaced the older one.
    let (status, page) = text(&app, &first, None).await;
    assert_eq!(status, 404, "{page}");
    assert!(page.contains("newer link"), "{page}");
    assert_eq!(text(&app, &second, None).await.0, 200);
    // An hour later it has expired, and sets nothing.
    app.advance(chrono::Duration::minutes(61));
    let (status, page) = text(&app, &second, None).await;
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("expired"), "{page}");
    let (status, _, _) = set_password(&app, &second, PASSWORD, PASSWORD).await;
    assert_eq!(status, 410);
    assert_eq!(
        sign_in(&app, "sup-olga", PASSWORD, "/dashboard").await.0,
        401
    );
}

/// An admin makes invitation links from the people page; nobody else sees it. The API
/// lists the same people, secrets left out.
async fn admins_invite_people_from_the_people_page(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    fixture(&app).await;
    let (status, body) = app
        .put(
            "/v1/people/admin-ann",
            json!({"name": "Ann", "role": "admin",
                   "notify": {"webhook_url": "https://hooks.example/ann",
                              "webhook_secret": "a secret of twenty chars"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let admin_key = close_with_a_key(&app).await;
    let path = path_of(&rateline(&app, &["people", "invite", "admin-ann"]));
    let (status, headers, _) = set_password(&app, &path, PASSWORD, PASSWORD).await;
    assert_eq!(status, 303);
    let ann = cookie_of(&headers).unwrap();

    let (status, page) = text(&app, "/dashboard/people", Some(&ann)).await;
    assert_eq!(status, 200, "{page}");
    for part in [
        r#"id="nav-people""#,
        r#"<tr id="person-op-1"><td><a href="/dashboard/people/op-1">Ben</a>"#,
        r#"action="/dashboard/people/sup-olga/invitation""#,
        "not yet",
    ] {
        assert!(page.contains(part), "{part} missing: {page}");
    }
    // The button: a link for Olga, shown once, that sets her password.
    let own = app.base.clone();
    let (status, headers, page) = post_form(
        &app,
        "/dashboard/people/sup-olga/invitation",
        Some(&ann),
        &[("origin", &own), ("sec-fetch-site", "same-origin")],
        &[],
    )
    .await;
    assert_eq!(status, 303, "{page}");
    // Post, redirect, get: the page shows the link, and shows it again when refreshed,
    // without making another (which would kill this one).
    let shown = headers["location"].to_str().unwrap().to_owned();
    assert!(shown.starts_with("/dashboard/people?invited="), "{shown}");
    let (status, page) = text(&app, &shown, Some(&ann)).await;
    assert_eq!(status, 200, "{page}");
    let (_, again) = text(&app, &shown, Some(&ann)).await;
    let at = page
        .find(r#"id="invitation-url""#)
        .expect("the link is shown");
    let link = &page[at..];
    let link = &link[link.find("value=\"").unwrap() + 7..];
    let link = &link[..link.find('"').unwrap()];
    let (status, _, _) = set_password(&app, &path_of(link), PASSWORD, PASSWORD).await;
    assert_eq!(status, 303, "the page's link works");
    assert!(again.contains(link), "the same link on a refresh: {again}");
    let (_, page) = text(&app, "/dashboard/people", Some(&ann)).await;
    assert!(!page.contains(link), "shown only on its own page: {page}");
    let (_, stored) = app
        .call_as(Some(&admin_key), "GET", "/v1/people/sup-olga", None)
        .await;
    assert!(!stored.to_string().contains(link), "{stored}");

    // A supervisor has no people page, and no button works for them.
    let (_, headers, _) = sign_in(&app, "sup-olga", PASSWORD, "/dashboard").await;
    let olga = cookie_of(&headers).unwrap();
    let (status, page) = text(&app, "/dashboard/people", Some(&olga)).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("needs an admin"), "{page}");
    let (status, _, _) = post_form(
        &app,
        "/dashboard/people/op-1/invitation",
        Some(&olga),
        &[("origin", &own), ("sec-fetch-site", "same-origin")],
        &[],
    )
    .await;
    assert_eq!(status, 403);

    // GET /v1/people: every person, who signs in, never a secret.
    let (status, people) = app
        .call_as(Some(&admin_key), "GET", "/v1/people", None)
        .await;
    assert_eq!(status, 200, "{people}");
    assert!(
        !people.to_string().contains("a secret of twenty chars"),
        "{people}"
    );
    let ids: Vec<_> = people
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["signs_in"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        ids,
        [("admin-ann", true), ("op-1", false), ("sup-olga", true)]
    );
    let supervisor = create_key(&app, &["--name", "sam", "--role", "supervisor"]);
    let (status, body) = app
        .call_as(Some(&supervisor), "GET", "/v1/people", None)
        .await;
    assert_eq!(status, 403, "{body}");
}

/// A person chooses their own time zone on their account page (or over the API); times
/// follow it. Nobody but an admin sets another person's.
async fn a_person_sets_their_own_time_zone(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    fixture(&app).await;
    let admin_key = close_with_a_key(&app).await;
    let path = path_of(&rateline(&app, &["people", "invite", "sup-olga"]));
    let (_, headers, _) = set_password(&app, &path, PASSWORD, PASSWORD).await;
    let olga = cookie_of(&headers).unwrap();
    let own = app.base.clone();
    let from_our_page = [("origin", own.as_str()), ("sec-fetch-site", "same-origin")];

    let (status, page) = text(&app, "/dashboard/account", Some(&olga)).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(r#"<option value="" selected>The server's (UTC)"#),
        "{page}"
    );
    let (status, _, page) = post_form(
        &app,
        "/dashboard/account/time-zone",
        Some(&olga),
        &from_our_page,
        &[("time_zone", "Mars/Olympus")],
    )
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains(r#"id="time_zone-problem""#), "{page}");
    assert!(page.contains("is not a time zone"), "{page}");
    let (status, headers, _) = post_form(
        &app,
        "/dashboard/account/time-zone",
        Some(&olga),
        &from_our_page,
        &[("time_zone", "America/New_York")],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(headers["location"], "/dashboard/account");
    let (_, page) = text(&app, "/dashboard/account", Some(&olga)).await;
    assert!(page.contains("now shown in America/New_York"), "{page}");
    let (_, page) = text(&app, "/dashboard/sessions/s-support", Some(&olga)).await;
    // November in New York: Eastern Standard Time.
    assert!(page.contains(" EST</time>"), "{page}");

    // Over the API: the person's own key, or an admin's; another person's is refused.
    let ben_key = create_key(
        &app,
        &["--name", "ben", "--role", "operator", "--person", "op-1"],
    );
    let zone = |key: String, person: &'static str, body: serde_json::Value| {
        let app = &app;
        async move {
            app.call_as(
                Some(&key),
                "PUT",
                &format!("/v1/people/{person}/time-zone"),
                Some(body),
            )
            .await
        }
    };
    let (status, body) = zone(ben_key.clone(), "op-1", json!({"time_zone": "Asia/Tokyo"})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = zone(ben_key, "sup-olga", json!({"time_zone": "Asia/Tokyo"})).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = zone(admin_key.clone(), "sup-olga", json!({"time_zone": null})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = zone(admin_key.clone(), "nobody", json!({"time_zone": null})).await;
    assert_eq!(status, 404, "{body}");
    let (_, people) = app
        .call_as(Some(&admin_key), "GET", "/v1/people", None)
        .await;
    let zones: Vec<_> = people
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["time_zone"].clone())
        .collect();
    assert_eq!(zones, [json!("Asia/Tokyo"), json!(null)], "{people}");
    // A zone set this way is a change like any other: the version moved on.
    assert_eq!(people[1]["version"], 3, "{people}");
}

/// A person changes their own password on their account page: the current one must be
/// theirs (a wrong one is named and changes nothing), the new one typed twice; their other
/// sign-ins end, this one goes on, and the new password signs in.
async fn a_person_changes_their_own_password(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    fixture(&app).await;
    close_with_a_key(&app).await;
    let path = path_of(&rateline(&app, &["people", "invite", "sup-olga"]));
    let (_, headers, _) = set_password(&app, &path, PASSWORD, PASSWORD).await;
    let here = cookie_of(&headers).unwrap();
    let (_, other_headers, _) = sign_in(&app, "sup-olga", PASSWORD, "/dashboard").await;
    let elsewhere = cookie_of(&other_headers).unwrap();
    let own = app.base.clone();
    let from_our_page = [("origin", own.as_str()), ("sec-fetch-site", "same-origin")];
    let change = async |current: &str, new: &str, repeat: &str| {
        post_form(
            &app,
            "/dashboard/account/password",
            Some(&here),
            &from_our_page,
            &[("current", current), ("password", new), ("repeat", repeat)],
        )
        .await
    };
    let new = "a green kettle on mars";
    let (status, _, page) = change("not my password", new, new).await;
    assert_eq!(status, 422, "{page}");
    assert!(
        page.contains(r#"id="current-problem""#) && page.contains("not your current password"),
        "{page}"
    );
    let (status, _, page) = change(PASSWORD, new, "a green kettle").await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains(r#"id="repeat-problem""#), "{page}");
    assert!(
        !page.contains(new),
        "a password is never shown back: {page}"
    );
    // Nothing changed so far: the old password still signs in.
    assert_eq!(
        sign_in(&app, "sup-olga", PASSWORD, "/dashboard").await.0,
        303
    );

    let (status, headers, _) = change(PASSWORD, new, new).await;
    assert_eq!(status, 303);
    let to = headers["location"].to_str().unwrap().to_owned();
    // The sign-in goes on under a new cookie, as after any sign-in.
    let here = cookie_of(&headers).unwrap_or(here.clone());
    let (status, page) = text(&app, &to, Some(&here)).await;
    assert_eq!(status, 200, "this sign-in goes on: {page}");
    assert!(page.contains("Your password is changed"), "{page}");
    let (status, _) = text(&app, "/dashboard/account", Some(&elsewhere)).await;
    assert_eq!(status, 401, "the other sign-in ended");
    assert_eq!(
        sign_in(&app, "sup-olga", PASSWORD, "/dashboard").await.0,
        401
    );
    assert_eq!(sign_in(&app, "sup-olga", new, "/dashboard").await.0, 303);
}

crate::common::on_both_backends!(
    a_person_changes_their_own_password,
    a_person_sets_their_own_time_zone,
    an_invited_person_sets_a_password_and_signs_in_as_themselves,
    an_operator_signed_in_sees_only_their_own,
    invitations_over_the_api,
    admins_invite_people_from_the_people_page,
);
