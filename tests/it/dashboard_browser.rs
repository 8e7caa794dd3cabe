//! The dashboard in a real headless Chromium: rendered, filtered by clicking the form,
//! sorted by clicking a column, a session's page opened, and photographed
//! (`target/screenshots/dashboard*.png`).

use crate::common::{Db, spawn_app};
use rateline_testkit::browser::{browser, save_screenshot};
use rateline_testkit::fantoccini::{Client, Locator};
use serde_json::json;

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Chooses `value` in one of the form's selects.
async fn choose(c: &Client, select: &str, value: &str) {
    c.find(Locator::Css(select))
        .await
        .unwrap()
        .select_by_value(value)
        .await
        .unwrap();
}

/// Submits the filter form.
async fn apply(c: &Client) {
    let button = c.find(Locator::Css("#apply")).await.unwrap();
    button.click().await.unwrap();
}

/// Waits for the navigation a click started: the page's query holds `needle`.
async fn wait_for_query(c: &Client, needle: &str) -> String {
    for _ in 0..100 {
        let url = c.current_url().await.unwrap();
        if let Some(q) = url.query().filter(|q| q.contains(needle)) {
            // The new page is in: its form is there.
            c.find(Locator::Css("#apply")).await.unwrap();
            return q.to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the page never became ?{needle}");
}

/// The first operator in the table as shown.
async fn first_operator(c: &Client) -> String {
    text_of(c, "#operator-table tbody tr:first-child td:first-child").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_filters_and_sorts_the_dashboard() {
    let Some(b) = browser().await else { return };
    let Some(app) = spawn_app(Db::Sqlite).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    app.line("sales", json!({"delay_seconds": 0, "scale": "five_star"}))
        .await;
    // op-1: many ratings on support, mostly 👍; op-2: two 5★ on sales.
    for (i, v) in [1, 1, 1, 0, 1, 1].into_iter().enumerate() {
        app.rated(&format!("a{i}"), "support", "op-1", v).await;
    }
    app.rated("b1", "sales", "op-2", 5).await;
    app.rated("b2", "sales", "op-2", 4).await;
    app.rated("b3", "sales", "op-1", 2).await;

    let c = &b.client;
    c.set_window_size(1280, 1700).await.unwrap();
    c.goto(&app.url("/dashboard")).await.unwrap();
    // Everything: 7 positive of 9.
    assert!(text_of(c, "#csat").await.contains("77.8%"));
    save_screenshot(&c.screenshot().await.unwrap(), "dashboard.png");

    // Choose the sales line in the form and apply.
    choose(c, "#line", "sales").await;
    apply(c).await;
    wait_for_query(c, "line=sales").await;
    let csat = text_of(c, "#csat").await;
    assert!(csat.contains("66.7%") && csat.contains("n = 3"), "{csat}");
    assert!(text_of(c, "#average").await.contains("3.67 ★"));

    // Sorted by CSAT's lower bound op-2 (2 of 2) leads; by low ratings, op-1 does.
    assert_eq!(first_operator(c).await, "op-2");
    c.find(Locator::LinkText("low"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let query = wait_for_query(c, "sort=low").await;
    assert!(query.contains("line=sales"), "{query}");
    assert_eq!(first_operator(c).await, "op-1");

    // Back to every line, per week.
    choose(c, "#line", "").await;
    choose(c, "#period", "week").await;
    apply(c).await;
    wait_for_query(c, "period=week").await;
    assert!(text_of(c, "#chart-csat").await.contains("CSAT per week"));
    assert!(text_of(c, "#csat").await.contains("77.8%"));
    save_screenshot(&c.screenshot().await.unwrap(), "dashboard-by-week.png");

    // One conversation: its rating and its journey.
    c.goto(&app.url("/dashboard/sessions/b3")).await.unwrap();
    assert!(text_of(c, "#rating-now").await.contains("2 ★"));
    assert!(text_of(c, "#journey-table").await.contains("rated 2 ★"));
    save_screenshot(&c.screenshot().await.unwrap(), "dashboard-session.png");
}
