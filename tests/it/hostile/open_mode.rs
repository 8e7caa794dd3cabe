//! The open mode (no API key and no password yet) is for a first look on this machine: no
//! other web page can drive it, not with a form, not with a `text/plain` body that needs no
//! preflight, not through a DNS name rebound to 127.0.0.1; every page says it is open; and
//! it ends with the first key or the first password.

use serde_json::{Value, json};

use crate::common::{Db, TestApp, spawn_app};
use crate::dashboard::text;
use crate::people::give_password;

const PASSWORD: &str = "a long enough password";

/// A call to the open server as a web page would make it: with `headers`, and a JSON body
/// sent as `text/plain`.
async fn as_a_page(
    app: &TestApp,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = app
        .http
        .request(method, app.url(path))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn keys(app: &TestApp) -> Vec<Value> {
    let (status, body) = app.get("/v1/keys").await;
    assert_eq!(status, 200, "{body}");
    body["keys"].as_array().unwrap().clone()
}

async fn the_open_mode_takes_nothing_from_other_sites_and_ends_with_the_first_password(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let make_key = json!({"name": "evil", "role": "admin"});
    let subscribe = json!({"url": "https://evil.example/all", "secret": "0123456789abcdef-evil",
                           "events": ["rating.created"]});
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    let rebound = format!("rebind.evil.example:{port}");
    for (headers, why) in [
        (
            vec![("origin", "http://evil.example")],
            "another site's Origin",
        ),
        (vec![("sec-fetch-site", "cross-site")], "a cross-site fetch"),
        (
            vec![("sec-fetch-site", "same-site")],
            "a page on another port",
        ),
        (
            vec![("host", rebound.as_str())],
            "a name rebound to 127.0.0.1",
        ),
    ] {
        for (method, path, body) in [
            ("POST", "/v1/keys", &make_key),
            ("PUT", "/v1/subscriptions/evil", &subscribe),
        ] {
            let (status, answer) = as_a_page(&app, method, path, &headers, body.clone()).await;
            assert_eq!(status, 403, "{why}, {path}: {answer}");
            assert_eq!(answer["error"]["code"], "open_mode_refused", "{answer}");
        }
        let (status, _) = as_a_page(&app, "GET", "/v1/stats", &headers, Value::Null).await;
        assert_eq!(status, 403, "{why}: reading");
    }
    let page = app
        .http
        .get(app.url("/dashboard"))
        .header("host", &rebound)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 403);
    assert!(page.text().await.unwrap().contains("open mode"));
    assert!(keys(&app).await.is_empty(), "no key was made");
    let (_, subs) = app.get("/v1/subscriptions").await;
    assert_eq!(subs["subscriptions"], json!([]), "{subs}");

    // From this machine (no Origin, as curl) it works, and every page says it is open.
    let (status, page) = text(&app, "/dashboard", None).await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"id="open-mode""#), "{page}");
    assert!(
        page.contains("anyone who can reach this address acts as an admin"),
        "{page}"
    );

    // The first password ends it, for the API and the pages alike.
    let (status, body) = app
        .put("/v1/people/ann", json!({"name": "Ann", "role": "admin"}))
        .await;
    assert_eq!(status, 201, "{body}");
    give_password(&app, None, "ann", PASSWORD).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, body) = app.get("/v1/stats").await;
        if status == 401 {
            assert_eq!(body["error"]["code"], "key_required", "{body}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still open: {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (status, page) = text(&app, "/dashboard", None).await;
    assert_eq!(status, 401, "the sign-in page");
    assert!(!page.contains(r#"id="open-mode""#), "{page}");
}

crate::common::on_both_backends!(
    the_open_mode_takes_nothing_from_other_sites_and_ends_with_the_first_password,
);

/// A page in a real browser, on another origin of this machine, tries to make the first
/// admin key: with a `fetch` of a `text/plain` body and with a form posted as `text/plain`
/// whose one field spells JSON (neither needs a preflight). Nothing is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_page_in_a_browser_cannot_make_the_first_key() {
    let Some(app) = spawn_app(Db::Sqlite).await else {
        return;
    };
    let Some(browser) = rateline_testkit::browser::browser().await else {
        return;
    };
    let target = app.url("/v1/keys");
    // The form's body is `{"role":"admin","name":"evil` `=` `"}`: JSON naming the key
    // `evil=`.
    let page = format!(
        r#"<!doctype html><title>A page</title><p id="done">waiting</p>
<form id="f" method="post" enctype="text/plain" action="{target}">
<input type="hidden" name='{{"role":"admin","name":"evil' value='"}}'></form>
<script>
const done = () => {{
  document.getElementById("done").textContent = "sent";
  document.getElementById("f").submit();
}};
fetch("{target}", {{method: "POST", mode: "no-cors",
  headers: {{"Content-Type": "text/plain"}},
  body: JSON.stringify({{name: "evil", role: "admin"}})}}).then(done, done);
</script>"#
    );
    let site = format!("{}/", crate::common::another_site(page).await);
    let c = &browser.client;
    c.goto(&site).await.unwrap();
    // The form's post navigates the browser to Rateline's answer.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let answer = loop {
        let url = c.current_url().await.unwrap();
        if url.as_str().starts_with(&target) {
            break c.source().await.unwrap();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the page never posted: {url}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(answer.contains("open_mode_refused"), "{answer}");
    assert!(keys(&app).await.is_empty(), "the page made a key");
    // The admin's own view in the same browser shows the banner.
    c.goto(&app.url("/dashboard")).await.unwrap();
    let banner = c
        .find(rateline_testkit::fantoccini::Locator::Id("open-mode"))
        .await
        .expect("the open mode's banner")
        .text()
        .await
        .unwrap();
    assert!(banner.starts_with("Open mode"), "{banner}");
    let png = c.screenshot().await.unwrap();
    rateline_testkit::browser::save_screenshot(&png, "open-mode.png");
}
