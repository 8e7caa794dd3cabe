//! The supervisor's workbench in a real headless Chromium, on both stores: an invitation
//! link sets the password; the low-rating alert's e-mail link leads through the sign-in to
//! the session's page; the response typed there, with "send it to the client", reaches the
//! contact center's connector; the inbox's unanswered count goes down. Screenshots go to
//! `target/screenshots/workbench-*.png`.

use crate::common::{Connector, Db, TestApp, TestDb, rateline, start_time, test_settings};
use crate::people::{PASSWORD, close_with_a_key, path_of};
use rateline::clock::ManualClock;
use rateline::settings::SmtpSettings;
use rateline_testkit::browser::{browser, save_screenshot};
use rateline_testkit::fantoccini::{Client, Locator};
use rateline_testkit::smtp::FakeSmtp;
use serde_json::json;

async fn fill(c: &Client, css: &str, text: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .send_keys(text)
        .await
        .unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Waits until the browser is at `path` and the page holds `css`; the page's text.
async fn arrive(c: &Client, path: &str, css: &str) -> String {
    for _ in 0..100 {
        let url = c.current_url().await.unwrap();
        if url.path() == path
            && let Ok(e) = c.find(Locator::Css(css)).await
        {
            let _ = e;
            return c.source().await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "never at {path} with {css}; at {}: {}",
        c.current_url().await.unwrap(),
        c.source().await.unwrap()
    );
}

async fn the_alert_leads_to_the_work(kind: Db) {
    let Some(b) = browser().await else { return };
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let smtp = FakeSmtp::start().await;
    let mut settings = test_settings(&db);
    settings.smtp = Some(SmtpSettings {
        url: smtp.url(),
        from: "Rateline <rateline@example.com>".into(),
    });
    let app = TestApp::start(
        db,
        settings,
        ManualClock::new(start_time()),
        Connector::start().await,
    )
    .await;
    let (status, body) = app
        .put(
            "/v1/people/sup-olga",
            json!({"name": "Olga", "role": "supervisor", "lines": ["support"],
                   "notify": {"email": "olga@example.com"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .put(
            "/v1/lines/support",
            json!({"name": "Support", "rating": {"delay_seconds": 0},
                   "webhook": {"url": app.connector.url, "secret": crate::common::SECRET},
                   "notify_low": [{"kind": "supervisor", "id": "sup-olga"}]}),
        )
        .await;
    assert!(status == 201, "{body}");
    app.open("s1", "support", "op-1").await;
    let request = app.close("s1").await;
    app.wait_for_status("s1", "sent").await;
    let (status, body) = app
        .post(
            "/v1/ratings",
            json!({"request_id": request, "value": 0, "comment": "nobody answered"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    close_with_a_key(&app).await;

    let c = &b.client;
    c.set_window_size(420, 1600).await.unwrap();
    // The invitation: Olga sets her password, and is in.
    let invitation = path_of(&rateline(&app, &["people", "invite", "sup-olga"]));
    c.goto(&app.url(&invitation)).await.unwrap();
    fill(c, "#password", PASSWORD).await;
    fill(c, "#repeat", PASSWORD).await;
    save_screenshot(&c.screenshot().await.unwrap(), "workbench-invitation.png");
    click(c, "button[type=submit]").await;
    arrive(c, "/dashboard", "#sign-out").await;
    click(c, "#sign-out").await;
    arrive(c, "/dashboard/login", "#person").await;

    // The alert's e-mail links the session's page; signing in comes back to it.
    let mail = smtp.wait_for(1).await;
    let link = mail[0]
        .body
        .lines()
        .find_map(|l| l.strip_prefix("Session: "))
        .unwrap_or_else(|| panic!("no link: {}", mail[0].body))
        .to_owned();
    let path = &link[link.find("/dashboard/sessions/").expect("a dashboard link")..];
    assert_eq!(path, "/dashboard/sessions/s1");
    c.goto(&app.url(path)).await.unwrap();
    // The page asks for a sign-in in place, and keeps where it was going.
    arrive(c, "/dashboard/sessions/s1", "#person").await;
    fill(c, "#person", "sup-olga").await;
    fill(c, "#password", PASSWORD).await;
    save_screenshot(&c.screenshot().await.unwrap(), "workbench-sign-in.png");
    click(c, "form[aria-label='Sign in'] button[type=submit]").await;
    let page = arrive(c, "/dashboard/sessions/s1", "#response-text").await;
    assert!(page.contains("nobody answered"), "{page}");
    assert_eq!(
        c.find(Locator::Css("#unanswered"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "1"
    );
    save_screenshot(&c.screenshot().await.unwrap(), "workbench-session.png");

    // Respond and send it to the client: the connector gets it.
    fill(c, "#response-text", "Sorry, we will call you today").await;
    click(c, "#send-to-client").await;
    click(c, "#respond").await;
    let page = arrive(c, "/dashboard/sessions/s1", "#flash").await;
    assert!(page.contains("on its way to the client"), "{page}");
    assert!(
        c.find(Locator::Css("#unanswered")).await.is_err(),
        "nothing unanswered any more"
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !app
        .connector
        .received()
        .iter()
        .any(|r| r.body["event"] == "response" && r.body["text"] == "Sorry, we will call you today")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the response never reached the connector"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    save_screenshot(&c.screenshot().await.unwrap(), "workbench-responded.png");
    click(c, "#nav-inbox").await;
    let page = arrive(c, "/dashboard/inbox", "article.rating").await;
    assert!(page.contains("Sorry, we will call you today"), "{page}");
    save_screenshot(&c.screenshot().await.unwrap(), "workbench-inbox.png");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_leads_to_the_work_sqlite() {
    the_alert_leads_to_the_work(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_leads_to_the_work_postgres() {
    the_alert_leads_to_the_work(Db::Postgres).await;
}
