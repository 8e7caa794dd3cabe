//! The dashboard's numbers against a fixture computed by hand (a changed rating, a voided
//! one, an expired and an undeliverable request), its CSV exports, filters and sorting,
//! the sign-in with a key, and the public badge.

use crate::common::{Db, Reply, SECRET, TestApp, spawn_app, spawn_app_with};
use chrono::Duration;
use serde_json::json;

pub(crate) async fn text(app: &TestApp, path: &str, cookie: Option<&str>) -> (u16, String) {
    let mut req = app.http.get(app.url(path));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The fixture, by hand:
///
/// | session | line (scale) | operator | what happened | counts as |
/// | --- | --- | --- | --- | --- |
/// | s1 | support (binary) | op-1 | 👍 | positive |
/// | s2 | support | op-1 | 👎 | low |
/// | s3 | support | op-2 | 👍 | positive |
/// | s4 | support | op-2 | sent, never answered | expired |
/// | s9 | support | op-2 | the connector refused it | undeliverable, not sent |
/// | s5 | sales (five-star) | op-1 | 5 ★ | positive |
/// | s6 | sales | op-1 | 2 ★, changed to 4 ★ | positive, not low |
/// | s7 | sales | op-1 | 1 ★, appeal approved | voided: not counted |
/// | s8 | sales | op-2 | 4 ★ | positive |
///
/// All: sent 8, answered 6, CSAT 5/6, average (5+4+4)/3, low 1.
/// op-1: sent 5, answered 4, CSAT 3/4, low 1. op-2: sent 3, answered 2, CSAT 2/2, low 0.
async fn fixture(app: &TestApp) {
    app.line("support", json!({"delay_seconds": 0})).await;
    app.line("sales", json!({"delay_seconds": 0, "scale": "five_star"}))
        .await;
    app.rated("s1", "support", "op-1", 1).await;
    app.rated("s2", "support", "op-1", 0).await;
    app.rated("s3", "support", "op-2", 1).await;
    app.rated("s5", "sales", "op-1", 5).await;
    app.rated("s6", "sales", "op-1", 2).await;
    let s6 = app.session("s6").await;
    let (status, body) = app
        .post(
            "/v1/ratings",
            json!({"request_id": s6["rating_request"]["id"], "value": 4}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let s7 = app.rated("s7", "sales", "op-1", 1).await;
    let (status, appeal) = app
        .post(
            &format!("/v1/ratings/{s7}/appeal"),
            json!({"reason": "the client meant another shop"}),
        )
        .await;
    assert_eq!(status, 201, "{appeal}");
    let (status, body) = app
        .post(
            &format!("/v1/appeals/{}/decision", appeal["id"].as_str().unwrap()),
            json!({"approve": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.rated("s8", "sales", "op-2", 4).await;
    app.open("s4", "support", "op-2").await;
    app.close("s4").await;
    app.wait_for_status("s4", "sent").await;
    app.connector.reply_with([Reply::Status(400)]);
    app.open("s9", "support", "op-2").await;
    app.close("s9").await;
    app.wait_for_status("s9", "undeliverable").await;
    // Past the answer window: s4 expires.
    app.advance(Duration::hours(73));
    app.wait_for_status("s4", "expired").await;
}

async fn the_dashboard_shows_the_fixture_as_computed_by_hand(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    fixture(&app).await;

    let (status, page) = text(&app, "/dashboard", None).await;
    assert_eq!(status, 200, "{page}");
    // The cards: CSAT 5/6 with its Wilson interval (43.6%–97.0%), average 13/3, response
    // rate 6/8, low 1.
    for shown in [
        "83.3%",
        "95% interval 44–97%",
        "n = 6",
        "4.33 ★",
        "75.0%",
        "6 of 8",
    ] {
        assert!(page.contains(shown), "no {shown:?} in the page");
    }
    // The funnel's reasons.
    assert!(page.contains("<td>expired</td><td>1</td>"), "{page}");
    assert!(page.contains("<td>undeliverable</td><td>1</td>"), "{page}");
    assert!(page.contains("<td>window_closed</td><td>0</td>"), "{page}");
    // Charts are SVG from the charting library, inline.
    assert_eq!(page.matches("<svg").count(), 5, "five charts");
    // Each day and each bar opens the ratings behind it.
    let day = crate::common::start_time().format("%Y-%m-%d").to_string();
    let link = format!(r#"href="/dashboard/inbox?show=all&amp;from={day}&amp;to={day}""#);
    assert!(page.contains(&link), "{link} missing: {page}");
    let five_stars = r#"href="/dashboard/inbox?show=all&amp;value=5">5 ★</a>"#;
    assert!(page.contains(five_stars), "{page}");
    let (status, list) = text(&app, "/dashboard/inbox?show=all&value=4", None).await;
    assert_eq!(status, 200, "{list}");
    assert!(list.contains(r#"href="/dashboard/sessions/s8""#), "{list}");
    assert!(list.contains("<title>Ratings · Rateline</title>"), "{list}");

    // The operator table as CSV, ranked by the CSAT interval's lower bound: op-2's 2 of 2
    // (34%) above op-1's 3 of 4 (30%), though op-1's CSAT is lower and volume higher.
    let (status, csv) = text(&app, "/dashboard/export.csv?table=operators", None).await;
    assert_eq!(status, 200, "{csv}");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "key,sent,answered,response_rate,average,csat,low,evaluated,evaluation_average"
    );
    assert!(
        rows[1].starts_with("op-2,3,2,0.6667,4.0000,1.0000,0,"),
        "{csv}"
    );
    assert!(
        rows[2].starts_with("op-1,5,4,0.8000,4.5000,0.7500,1,"),
        "{csv}"
    );
    let (_, csv) = text(
        &app,
        "/dashboard/export.csv?table=operators&sort=volume",
        None,
    )
    .await;
    assert!(csv.lines().nth(1).unwrap().starts_with("op-1,"), "{csv}");
    let (_, csv) = text(
        &app,
        "/dashboard/export.csv?table=periods&period=week",
        None,
    )
    .await;
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .starts_with("2026-11-16,8,6,0.7500,4.3333,0.8333,1,"),
        "{csv}"
    );

    // Filtered to one line and one operator.
    let (_, page) = text(&app, "/dashboard?line=support", None).await;
    assert!(page.contains("66.7%") && page.contains("3 of 4"), "{page}");
    let (_, csv) = text(
        &app,
        "/dashboard/export.csv?table=operators&line=sales&operator=op-1",
        None,
    )
    .await;
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains("op-1,3,2,0.6667,4.5000,1.0000,0,"), "{csv}");

    // A table that is not there is refused, not answered with another.
    let (status, body) = text(&app, "/dashboard/export.csv?table=people", None).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("There is no table “people”") && !body.contains("op-1,"),
        "{body}"
    );

    // Bad filters are named.
    let (status, body) = text(&app, "/dashboard?from=yesterday", None).await;
    assert_eq!(status, 400);
    // …on a page, not in JSON.
    assert!(
        body.contains("From: &quot;yesterday&quot; is not a date"),
        "{body}"
    );
    assert!(
        body.contains("<title>Check what was asked · Rateline</title>"),
        "{body}"
    );
}

async fn the_badge_is_off_until_a_line_turns_it_on(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    fixture(&app).await;
    let (status, body) = text(&app, "/public/lines/sales/badge.svg", None).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("badge_not_found"), "{body}");
    let (status, body) = app
        .put(
            "/v1/lines/sales",
            json!({"name": "sales", "public_badge": true,
                   "rating": {"delay_seconds": 0, "scale": "five_star"},
                   "webhook": {"url": app.connector.url, "secret": SECRET}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["public_badge"], true);
    let resp = app
        .http
        .get(app.url("/public/lines/sales/badge.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "image/svg+xml; charset=utf-8"
    );
    // Other sites embed it; nothing in it runs, and it is never sniffed as something else.
    assert_eq!(
        resp.headers()["cross-origin-resource-policy"],
        "cross-origin"
    );
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert!(
        resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let svg = resp.text().await.unwrap();
    assert!(svg.contains("4.33 ★ · 3 ratings"), "{svg}");
    let (status, _) = text(&app, "/public/lines/support/badge.svg", None).await;
    assert_eq!(status, 404);
    let (status, _) = text(&app, "/public/lines/nowhere/badge.svg", None).await;
    assert_eq!(status, 404);
}

async fn with_keys_the_dashboard_asks_for_one_and_keeps_to_its_lines(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    fixture(&app).await;
    // op-1 as a person, for an operator key below (made while the server is still open).
    let (status, body) = app
        .put(
            "/v1/people/op-1",
            json!({"name": "Olga", "role": "operator"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let key = crate::common::create_key(
        &app,
        &["--name", "sam", "--role", "supervisor", "--lines", "sales"],
    );
    // The running server notices the first key within a second.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let page = loop {
        let (status, page) = text(&app, "/dashboard", None).await;
        if status == 401 {
            break page;
        }
        assert!(tokio::time::Instant::now() < deadline, "still open");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(page.contains("name=\"key\""), "a sign-in form: {page}");

    let forged = format!("rl_00000000_{}", "0".repeat(64));
    let (status, page) = sign_in(&app, &forged).await;
    assert_eq!(status, 401);
    assert!(page.contains("not known"), "{page}");
    let (status, page) = sign_in(&app, "rl_forged").await;
    assert_eq!(status, 401);
    assert!(page.contains("this is not an API key"), "{page}");
    let (status, cookie) = sign_in(&app, &key).await;
    assert_eq!(status, 303);
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && cookie.contains("Path=/dashboard"),
        "{cookie}"
    );
    // The cookie names a server-side sign-in; it never holds the key.
    assert!(
        !cookie.contains(key.rsplit('_').next().unwrap()),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_owned();

    // The supervisor of sales sees sales, chosen for them, and may not ask for support.
    let (status, page) = text(&app, "/dashboard", Some(&cookie)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("100.0%") && page.contains("3 of 4"), "{page}");
    assert!(
        !page.contains("support (support)"),
        "another line offered: {page}"
    );
    let (status, body) = text(&app, "/dashboard?line=support", Some(&cookie)).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = text(&app, "/dashboard/sessions/s6", Some(&cookie)).await;
    assert_eq!(status, 200);
    // A session the key may not see is answered as one that does not exist.
    let (status, _) = text(&app, "/dashboard/sessions/s1", Some(&cookie)).await;
    assert_eq!(status, 404, "a support session");
    // An operator's profile shows them op-1's numbers on sales, and nothing of support.
    let (status, page) = text(&app, "/dashboard/operators/op-1", Some(&cookie)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(r#"id="per-line""#), "{page}");
    assert!(
        page.contains(">sales<") && !page.contains(">support<"),
        "{page}"
    );
    assert!(
        page.contains(r#"href="/dashboard/inbox?show=praise&amp;operator=op-1""#),
        "{page}"
    );

    // An operator sees their own numbers (op-1: 3 of 4 positive, 4 answered of 5 sent),
    // not another operator's, and no list of lines.
    let key = crate::common::create_key(
        &app,
        &["--name", "olga", "--role", "operator", "--person", "op-1"],
    );
    let (_, cookie) = sign_in(&app, &key).await;
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let (status, page) = text(&app, "/dashboard", Some(&cookie)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("75.0%") && page.contains("4 of 5"), "{page}");
    assert!(
        !page.contains("op-2") && !page.contains("(sales)"),
        "{page}"
    );
    let (status, body) = text(&app, "/dashboard?operator=op-2", Some(&cookie)).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = text(&app, "/dashboard/sessions/s1", Some(&cookie)).await;
    assert_eq!(status, 200, "op-1's own session");
    let (status, _) = text(&app, "/dashboard/sessions/s3", Some(&cookie)).await;
    assert_eq!(status, 404, "op-2's session");
    let (status, _) = text(&app, "/dashboard/operators/op-1", Some(&cookie)).await;
    assert_eq!(status, 200, "op-1's own profile");
    let (status, _) = text(&app, "/dashboard/operators/op-2", Some(&cookie)).await;
    assert_eq!(status, 403, "op-2's profile");
}

/// `POST /dashboard/login` with `key`: the status, and the cookie set (or the page shown).
pub(crate) async fn sign_in(app: &TestApp, key: &str) -> (u16, String) {
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirects
        .post(app.url("/dashboard/login"))
        .form(&[("key", key)])
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    match resp.headers().get("set-cookie") {
        Some(c) => (status, c.to_str().unwrap().to_owned()),
        None => (status, resp.text().await.unwrap()),
    }
}

async fn the_session_view_tells_each_journey(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    fixture(&app).await;
    let page = |id: &'static str| {
        let app = &app;
        async move {
            let (status, page) = text(app, &format!("/dashboard/sessions/{id}"), None).await;
            assert_eq!(status, 200, "{id}: {page}");
            page
        }
    };
    // The rating at the end of its history, and each step in time order.
    let s6 = page("s6").await;
    assert!(
        s6.contains("<strong>4 ★</strong> · changed 1 time(s)"),
        "{s6}"
    );
    let order = [
        "closed by operator",
        "rating request made",
        "sent to the client",
        "rated 2 ★",
        "changed to 4 ★",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|w| s6.find(w).unwrap_or_else(|| panic!("no {w:?}: {s6}")))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "out of order: {s6}");
    let s7 = page("s7").await;
    assert!(
        s7.contains("(voided: out of the report)") && s7.contains("Appeal (approved)"),
        "{s7}"
    );
    assert!(s7.contains("voided by an approved appeal"), "{s7}");
    let s2 = page("s2").await;
    assert!(s2.contains("<strong>thumbs down</strong> · low"), "{s2}");
    let s4 = page("s4").await;
    assert!(
        s4.contains("ended expired") && s4.contains("Not rated."),
        "{s4}"
    );
    let s9 = page("s9").await;
    assert!(s9.contains("undeliverable after 1 attempt(s)"), "{s9}");
    let (status, _) = text(&app, "/dashboard/sessions/nope", None).await;
    assert_eq!(status, 404);
}

async fn an_operators_profile_lists_their_recent_low_ratings(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    fixture(&app).await;
    let s2 = app.session("s2").await;
    let rating = s2["rating"]["id"].as_str().unwrap();
    let (status, body) = app
        .put(
            &format!("/v1/ratings/{rating}/response"),
            json!({"text": "Sorry, we will call you back"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // op-1: 3 of 4 positive; low now only s2 (s6 was raised to 4 ★, s7 is voided).
    let (status, page) = text(&app, "/dashboard/operators/op-1", None).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("75.0%") && page.contains("n = 4"), "{page}");
    assert!(page.contains("<td>thumbs down</td>"), "{page}");
    assert!(page.contains("Sorry, we will call you back"), "{page}");
    assert!(page.contains("href=\"/dashboard/sessions/s2\""), "{page}");
    for gone in ["sessions/s6", "sessions/s7"] {
        assert!(!page.contains(gone), "{gone} listed: {page}");
    }
    // A period without ratings.
    let (_, page) = text(&app, "/dashboard/operators/op-1?from=2026-11-22", None).await;
    assert!(page.contains("None in this period."), "{page}");
    // The dashboard's operator table links here.
    let (_, page) = text(&app, "/dashboard", None).await;
    assert!(
        page.contains("href=\"/dashboard/operators/op-1\""),
        "{page}"
    );
}

/// A POST to the dashboard, without following the redirect: the status, the headers and
/// the body.
pub(crate) async fn post_form(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
    form: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = no_redirects.post(app.url(path)).form(form);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

/// The cookie a response set, as a `Cookie` header would send it back.
pub(crate) fn cookie_of(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get("set-cookie")
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned())
}

/// A sign-in is server-side: it brings the visitor back to the page asked for (never to
/// another site), takes forms from Rateline's own pages only, and ends on sign-out, when it
/// expires, and when its key is revoked. Every page carries the security headers.
async fn a_sign_in_comes_back_to_the_page_and_ends_when_it_should(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    fixture(&app).await;
    let key = crate::common::create_key(&app, &["--name", "sam", "--role", "supervisor"]);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let page = loop {
        let (status, page) = text(&app, "/dashboard/sessions/s6", None).await;
        if status == 401 {
            break page;
        }
        assert!(tokio::time::Instant::now() < deadline, "still open");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        page.contains(r#"name="next" value="/dashboard/sessions/s6""#),
        "{page}"
    );
    // From another site: refused, nothing signed in.
    for (header, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let (status, headers, page) = post_form(
            &app,
            "/dashboard/login",
            None,
            &[(header, value)],
            &[("key", &key), ("next", "/dashboard")],
        )
        .await;
        assert_eq!(status, 403, "{header}: {page}");
        assert!(page.contains("sent from another site"), "{page}");
        assert!(cookie_of(&headers).is_none(), "signed in from another site");
    }
    // From the page itself: back to the page asked for.
    let own = app.base.clone();
    let (status, headers, _) = post_form(
        &app,
        "/dashboard/login",
        None,
        &[("origin", &own), ("sec-fetch-site", "same-origin")],
        &[("key", &key), ("next", "/dashboard/sessions/s6")],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(headers["location"], "/dashboard/sessions/s6");
    let cookie = cookie_of(&headers).expect("a sign-in cookie");
    for next in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "/v1/lines",
    ] {
        let (status, headers, _) = post_form(
            &app,
            "/dashboard/login",
            None,
            &[],
            &[("key", &key), ("next", next)],
        )
        .await;
        assert_eq!(status, 303);
        assert_eq!(headers["location"], "/dashboard/home", "{next}");
    }
    let resp = app
        .http
        .get(app.url("/dashboard/sessions/s6"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(resp.text().await.unwrap().contains("Sign out"));

    // Sign-out ends it for good: the same cookie is signed out.
    let (status, _, _) = post_form(&app, "/dashboard/logout", Some(&cookie), &[], &[]).await;
    assert_eq!(status, 303);
    let (status, _) = text(&app, "/dashboard", Some(&cookie)).await;
    assert_eq!(status, 401);

    // An expired sign-in, and one whose key was revoked, sign nobody in.
    let sign_in = || async {
        let (_, headers, _) = post_form(
            &app,
            "/dashboard/login",
            None,
            &[],
            &[("key", &key), ("next", "/dashboard")],
        )
        .await;
        cookie_of(&headers).unwrap()
    };
    let cookie = sign_in().await;
    assert_eq!(text(&app, "/dashboard", Some(&cookie)).await.0, 200);
    app.expire_sign_ins().await;
    assert_eq!(
        text(&app, "/dashboard", Some(&cookie)).await.0,
        401,
        "expired"
    );
    let cookie = sign_in().await;
    assert_eq!(text(&app, "/dashboard", Some(&cookie)).await.0, 200);
    crate::common::rateline(&app, &["keys", "revoke", key.split('_').nth(1).unwrap()]);
    assert_eq!(
        text(&app, "/dashboard", Some(&cookie)).await.0,
        401,
        "revoked"
    );
}

/// An address that keeps guessing keys, at the API or at the sign-in form, is held off
/// with a 429 before its guesses are even looked up; another address is not.
async fn an_address_that_keeps_guessing_keys_is_held_off(db: Db) {
    let Some(app) = spawn_app_with(db, |s| {
        s.limits.failed_auth_per_minute = 1;
        s.limits.failed_auth_burst = 5;
    })
    .await
    else {
        return;
    };
    let key = crate::common::create_key(&app, &["--name", "ops", "--role", "admin"]);
    let forged = format!("rl_00000000_{}", "0".repeat(64));
    let mut statuses = Vec::new();
    for i in 0..40 {
        let wrong = if i % 2 == 0 {
            forged.as_str()
        } else {
            "not-a-key"
        };
        let r = app
            .http
            .get(app.url("/v1/stats"))
            .bearer_auth(wrong)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(r.headers().get("retry-after").is_some());
        }
    }
    // The burst of five, and the one that found it spent; then held off.
    assert_eq!(&statuses[..6], &[401; 6], "{statuses:?}");
    assert!(statuses[6..].iter().all(|s| *s == 429), "{statuses:?}");
    // The sign-in form answers the same, and so does a right key from this address.
    let (status, headers, page) =
        post_form(&app, "/dashboard/login", None, &[], &[("key", &key)]).await;
    assert_eq!(status, 429, "{page}");
    assert!(headers.get("retry-after").is_some());
    assert!(page.contains("too many"), "{page}");
    // Another address is not held off.
    let other = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let r = other
        .get(app.url("/v1/stats"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Only the guesses within the burst were looked up.
    let metrics = app.get("/metrics").await.1;
    let metrics = metrics.as_str().unwrap();
    let count = |reason: &str| -> u64 {
        metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "rateline_auth_failures_total{{reason=\"{reason}\"}}"
                ))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(count("unknown") + count("malformed"), 6, "{metrics}");
    assert_eq!(count("throttled"), 35, "{metrics}");
}

/// The funnel tells a request waiting for its retry from one not due yet.
async fn the_funnel_tells_a_retry_from_a_request_not_due_yet(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.connector.reply_with([Reply::Status(503)]);
    app.line("support", json!({"delay_seconds": 0})).await;
    app.line("later", json!({"delay_seconds": 600})).await;
    app.open("s1", "support", "op-1").await;
    app.close("s1").await;
    app.wait_for_received(1).await;
    let s = app.wait_for_status("s1", "scheduled").await;
    assert_eq!(s["rating_request"]["attempts"], 1, "{s}");
    app.open("s2", "later", "op-1").await;
    app.close("s2").await;

    let (status, page) = text(&app, "/dashboard", None).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<td>retrying</td><td>1</td>"), "{page}");
    assert!(page.contains("<td>scheduled</td><td>1</td>"), "{page}");
}

crate::common::on_both_backends!(
    the_funnel_tells_a_retry_from_a_request_not_due_yet,
    a_sign_in_comes_back_to_the_page_and_ends_when_it_should,
    an_address_that_keeps_guessing_keys_is_held_off,
    an_operators_profile_lists_their_recent_low_ratings,
    the_session_view_tells_each_journey,
    the_dashboard_shows_the_fixture_as_computed_by_hand,
    the_badge_is_off_until_a_line_turns_it_on,
    with_keys_the_dashboard_asks_for_one_and_keeps_to_its_lines,
);

/// The charts and the CSV of periods count days in the viewer's zone (here the server's,
/// Pago Pago, UTC−11), and each day's link opens that day's ratings.
async fn the_charts_count_days_in_the_viewers_zone(db: Db) {
    let Some(app) = spawn_app_with(db, |s| {
        s.server.time_zone = Some("Pacific/Pago_Pago".into());
    })
    .await
    else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    // 09:00 UTC on the 21st is 22:00 on the 20th there; 21:00 UTC is 10:00 on the 21st.
    app.rated("s1", "support", "op-1", 1).await;
    app.advance(Duration::hours(12));
    app.rated("s2", "support", "op-1", 0).await;
    let (status, csv) = text(&app, "/dashboard/export.csv?table=periods", None).await;
    assert_eq!(status, 200, "{csv}");
    let days: Vec<_> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').take(3).collect::<Vec<_>>().join(","))
        .collect();
    assert_eq!(days, ["2026-11-20,1,1", "2026-11-21,1,1"], "{csv}");
    let (_, page) = text(&app, "/dashboard", None).await;
    let link = r#"href="/dashboard/inbox?show=all&amp;from=2026-11-20&amp;to=2026-11-20""#;
    assert!(page.contains(link), "{link} missing: {page}");
    // The week of both is the week of Monday the 16th there too.
    let (_, csv) = text(
        &app,
        "/dashboard/export.csv?table=periods&period=week",
        None,
    )
    .await;
    assert!(
        csv.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("2026-11-16,2,2,")),
        "{csv}"
    );
}

crate::common::on_both_backends!(the_charts_count_days_in_the_viewers_zone);

/// The Quality page compares a period with the one as long before it, and says whether
/// the change is beyond the noise.
async fn the_quality_page_compares_with_the_period_before(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    // The 21st: 2 of 10 👍. The 22nd: 9 of 10.
    for i in 0..10 {
        app.rated(&format!("a{i}"), "support", "op-1", i64::from(i < 2))
            .await;
    }
    app.advance(Duration::days(1));
    for i in 0..10 {
        app.rated(&format!("b{i}"), "support", "op-1", i64::from(i < 9))
            .await;
    }
    let (status, page) = text(&app, "/dashboard?from=2026-11-22&to=2026-11-22", None).await;
    assert_eq!(status, 200, "{page}");
    let trend = page
        .split(r#"<section id="trend">"#)
        .nth(1)
        .and_then(|t| t.split("</section>").next())
        .unwrap_or_else(|| panic!("no trend: {page}"));
    for said in [
        "Compared with 2026-11-21 to 2026-11-21",
        "CSAT 90.0% (was 20.0%): up 70.0 points <strong class=\"beyond\">beyond the noise",
        "Answered 10 (was 10)",
        "Low ratings 1 (was 8), 10.0% of the answered (was 80.0%): down 70.0 points",
    ] {
        assert!(trend.contains(said), "no {said:?} in {trend}");
    }
    // Two days against the two before, which had no ratings.
    let (_, page) = text(&app, "/dashboard?from=2026-11-21&to=2026-11-22", None).await;
    assert!(
        page.contains("Compared with 2026-11-19 to 2026-11-20"),
        "{page}"
    );
    assert!(page.contains("too few ratings to compare"), "{page}");
    // Without both dates there is nothing to compare.
    let (_, page) = text(&app, "/dashboard", None).await;
    assert!(
        page.contains("Choose both dates to compare the period with the one before it."),
        "{page}"
    );
}

crate::common::on_both_backends!(the_quality_page_compares_with_the_period_before);
