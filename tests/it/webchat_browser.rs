//! The web chat widget in a real browser: Debian's headless Chromium driven through
//! chromedriver (WebDriver), on the example page (`examples/webchat/index.html`) served
//! from an origin of its own, as a customer's site would be.
//!
//! Without chromedriver these tests say so and pass, except under CI, where `.ci/run`
//! installs it and its absence is a failure.

use std::time::Duration;

use crate::common::{Db, TestApp, spawn_app};
use rateline_testkit::browser::{browser, save_screenshot};
use rateline_testkit::fantoccini::elements::Element;
use rateline_testkit::fantoccini::{Client, Locator};
use serde_json::{Value, json};

/// Serves the example page from its own origin; returns that origin.
async fn example_site() -> String {
    let page = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/webchat/index.html"),
    )
    .unwrap();
    crate::common::another_site(page).await
}

/// A web chat line that lets the example site embed the widget, and a session on it;
/// returns the example page's URL for that session.
async fn chat(app: &TestApp, session: &str, rating: Value) -> String {
    let site = example_site().await;
    let (status, body) = app
        .put(
            "/v1/lines/chat",
            json!({"name": "Chat", "rating": rating, "webchat": {"allowed_origins": [site]}}),
        )
        .await;
    assert!(status == 201 || status == 200, "{body}");
    let (status, body) = app
        .post(
            "/v1/sessions",
            json!({"id": session, "line_id": "chat", "channel": "webchat",
                   "client": {"id": "visitor-1"}, "operator_id": "op-1"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .post(&format!("/v1/sessions/{session}/webchat-token"), json!({}))
        .await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap();
    format!("{site}/?token={token}&rateline={}", app.base)
}

/// Waits until the widget is in `state` (its host's `data-state`).
async fn widget_in(client: &Client, state: &str) {
    client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(&format!(
            "rateline-rating[data-state=\"{state}\"]"
        )))
        .await
        .unwrap_or_else(|e| panic!("the widget never reached {state:?}: {e}"));
}

/// An element inside the widget's shadow root.
async fn in_widget(client: &Client, css: &str) -> Element {
    let host = client
        .find(Locator::Css("rateline-rating"))
        .await
        .expect("the widget's host element");
    host.shadow_root()
        .await
        .expect("the widget's shadow root")
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} in the widget: {e}"))
}

/// The client is on the page when the operator closes: the card appears in the chat
/// window, is answered with the keyboard, and the rating is what the API shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_on_the_page_rates_with_the_keyboard() {
    let Some(b) = browser().await else { return };
    let Some(app) = spawn_app(Db::Sqlite).await else {
        return;
    };
    let page = chat(
        &app,
        "s-1",
        json!({"scale": "five_star", "delay_seconds": 3, "ask_resolved": true}),
    )
    .await;
    let c = &b.client;
    c.goto(&page).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        c.find(Locator::Css("rateline-rating[data-state=\"ask\"]"))
            .await
            .is_err(),
        "no card while the chat is open"
    );

    app.close("s-1").await;
    app.advance(chrono::Duration::seconds(3));
    widget_in(c, "ask").await;
    let star = in_widget(c, "button[data-value=\"4\"]").await;
    assert_eq!(
        star.attr("aria-label").await.unwrap().as_deref(),
        Some("4 of 5 stars")
    );
    // The page's loud `button { background: hotpink }` does not reach the card.
    let background = c
        .execute(
            "return getComputedStyle(arguments[0]).backgroundColor",
            vec![serde_json::to_value(&star).unwrap()],
        )
        .await
        .unwrap();
    assert_ne!(background, json!("rgb(255, 105, 180)"));
    save_screenshot(&c.screenshot().await.unwrap(), "webchat-card.png");
    app.wait_for_status("s-1", "delivered").await;

    // Enter on the focused star: keyboard operable.
    star.send_keys("\u{E007}").await.unwrap();
    widget_in(c, "followup").await;
    in_widget(c, "button[data-resolved=\"true\"]")
        .await
        .click()
        .await
        .unwrap();
    widget_in(c, "thanks").await;
    save_screenshot(&c.screenshot().await.unwrap(), "webchat-thanks.png");

    let s = app.session("s-1").await;
    assert_eq!(s["rating_request"]["status"], "answered", "{s}");
    assert_eq!(
        (&s["rating"]["value"], &s["rating"]["resolved"]),
        (&json!(4), &json!(true)),
        "{s}"
    );
}

/// An element inside the widget's shadow root, once it is there.
async fn soon_in_widget(client: &Client, css: &str) -> Element {
    for _ in 0..150 {
        let host = client.find(Locator::Css("rateline-rating")).await;
        if let Ok(host) = host
            && let Ok(root) = host.shadow_root().await
            && let Ok(found) = root.find(Locator::Css(css)).await
        {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never appeared in the widget");
}

/// The client closed the tab before the request was due; back an hour later, they see
/// the card, rate 👎, pick the reasons as chips and leave a comment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_client_sees_the_card_and_comments() {
    let Some(b) = browser().await else { return };
    let Some(app) = spawn_app(Db::Sqlite).await else {
        return;
    };
    let page = chat(
        &app,
        "s-2",
        json!({"scale": "binary", "delay_seconds": 3, "ask_comment_on_low": true,
               "low_reasons": [{"id": "slow", "text": "Waited too long"},
                               {"id": "rude", "text": "Rude"},
                               {"id": "unsolved", "text": "Not solved"}]}),
    )
    .await;
    app.close("s-2").await;
    app.advance(chrono::Duration::hours(1));
    app.settle().await;
    assert_eq!(
        app.request_status("s-2").await,
        "scheduled",
        "no widget, no send"
    );

    let c = &b.client;
    c.goto(&page).await.unwrap();
    widget_in(c, "ask").await;
    in_widget(c, "button[data-value=\"0\"]")
        .await
        .click()
        .await
        .unwrap();
    widget_in(c, "followup").await;
    // The reasons first: tick two, untick one, and send; the comment form follows.
    for reason in ["slow", "rude", "unsolved", "rude"] {
        in_widget(c, &format!("button[data-reason=\"{reason}\"]"))
            .await
            .click()
            .await
            .unwrap();
    }
    let slow = in_widget(c, "button[data-reason=\"slow\"]").await;
    assert_eq!(
        slow.attr("aria-pressed").await.unwrap().as_deref(),
        Some("true")
    );
    let rude = in_widget(c, "button[data-reason=\"rude\"]").await;
    assert_eq!(
        rude.attr("aria-pressed").await.unwrap().as_deref(),
        Some("false")
    );
    save_screenshot(&c.screenshot().await.unwrap(), "webchat-reasons.png");
    assert!(
        app.session("s-2").await["rating"]["reasons"].is_null(),
        "nothing is stored until Done"
    );
    in_widget(c, "[data-action=\"send-reasons\"]")
        .await
        .click()
        .await
        .unwrap();
    soon_in_widget(c, "textarea")
        .await
        .send_keys("Nobody answered for an hour")
        .await
        .unwrap();
    in_widget(c, "[data-action=\"send-comment\"]")
        .await
        .click()
        .await
        .unwrap();
    widget_in(c, "thanks").await;

    let s = app.session("s-2").await;
    assert_eq!(
        (&s["rating"]["value"], &s["rating"]["comment"]),
        (&json!(0), &json!("Nobody answered for an hour")),
        "{s}"
    );
    assert_eq!(s["rating"]["reasons"], json!(["slow", "unsolved"]), "{s}");
    assert!(s["rating_request"]["delivered_at"].is_string(), "{s}");
}
