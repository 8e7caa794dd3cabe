//! The supervisor's workbench in a real headless Chromium, on both stores: an invitation
//! link sets the password; the low-rating alert's e-mail link leads through the sign-in to
//! the session's page; the response typed there, with "send it to the client", reaches the
//! contact center's connector; the inbox's unanswered count goes down. Flags, appeals and
//! their decision, the operator's view, and the refusals of forms from another site or
//! after the sign-in expired, as people meet them. Screenshots go to
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

/// A server that e-mails its alerts to a fake SMTP server.
async fn with_smtp(kind: Db) -> Option<(TestApp, FakeSmtp)> {
    let db = TestDb::new(kind).await?;
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
    Some((app, smtp))
}

async fn the_alert_leads_to_the_work(kind: Db) {
    let Some(b) = browser().await else { return };
    let Some((app, smtp)) = with_smtp(kind).await else {
        return;
    };
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
    app.low_rating("s1", "support", "op-1", "nobody answered")
        .await;
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
    // A supervisor's first page is the inbox.
    arrive(c, "/dashboard/inbox", "#sign-out").await;
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

/// Sets the password behind a fresh invitation for `person` in the browser (signed in after).
async fn invited(c: &Client, app: &TestApp, person: &str) {
    let invitation = path_of(&rateline(app, &["people", "invite", person]));
    c.goto(&app.url(&invitation)).await.unwrap();
    fill(c, "#password", PASSWORD).await;
    fill(c, "#repeat", PASSWORD).await;
    click(c, "button[type=submit]").await;
}

async fn sign_out(c: &Client) {
    click(c, "#sign-out").await;
    arrive(c, "/dashboard/login", "#person").await;
}

/// Everyone's part after a low rating, in the browser: the supervisor flags an abusive
/// comment (hidden in the inbox and in the alert that follows) and appeals another rating;
/// the admin decides the appeal in the queue (the rating leaves the report); the operator
/// sees their own feedback, then only their numbers once the line hides ratings from
/// operators. Forms from another site and after the sign-in expired are refused.
async fn flag_appeal_decide_and_the_operators_view(kind: Db) {
    let Some(b) = browser().await else { return };
    let Some((app, smtp)) = with_smtp(kind).await else {
        return;
    };
    for (id, body) in [
        (
            "sup-olga",
            json!({"name": "Olga", "role": "supervisor", "lines": ["support"],
                   "notify": {"email": "olga@example.com"}, "time_zone": "Europe/Berlin"}),
        ),
        ("admin-ann", json!({"name": "Ann", "role": "admin"})),
        (
            "sup-sam",
            json!({"name": "Sam", "role": "supervisor", "lines": ["sales"]}),
        ),
        (
            "op-1",
            json!({"name": "Ben", "role": "operator", "lines": ["support"]}),
        ),
    ] {
        let (status, body) = app.put(&format!("/v1/people/{id}"), body).await;
        assert_eq!(status, 201, "{body}");
    }
    let line = |see: bool| {
        json!({"name": "Support",
               "rating": {"delay_seconds": 0, "alert_delay_seconds": 60, "operators_see_ratings": see},
               "webhook": {"url": app.connector.url, "secret": crate::common::SECRET},
               "notify_low": [{"kind": "supervisor", "id": "sup-olga"}]})
    };
    let (status, body) = app.put("/v1/lines/support", line(true)).await;
    assert_eq!(status, 201, "{body}");
    app.low_rating("s1", "support", "op-1", "you are all idiots")
        .await;
    app.low_rating("s2", "support", "op-1", "nobody answered")
        .await;
    let admin_key = close_with_a_key(&app).await;
    let c = &b.client;
    c.set_window_size(420, 1600).await.unwrap();

    // Olga flags the abusive comment before its alert leaves: hidden in the inbox…
    invited(c, &app, "sup-olga").await;
    arrive(c, "/dashboard/inbox", "article.rating").await;
    click(c, "a[href='/dashboard/sessions/s1']").await;
    arrive(c, "/dashboard/sessions/s1", "#flag").await;
    click(c, "#flag").await;
    let page = arrive(c, "/dashboard/sessions/s1", "#flash").await;
    assert!(page.contains("hidden as abusive"), "{page}");
    click(c, "#nav-inbox").await;
    let page = arrive(c, "/dashboard/inbox", "article.rating").await;
    assert!(
        page.contains("Comment hidden: flagged as abusive"),
        "{page}"
    );
    assert!(!page.contains("you are all idiots"), "{page}");
    assert!(page.contains("nobody answered"), "{page}");
    // …and in the alert that follows.
    app.advance(chrono::Duration::seconds(61));
    let mail = smtp.wait_for(2).await;
    assert!(
        mail.iter().all(|m| !m.body.contains("you are all idiots")),
        "{mail:?}"
    );
    assert!(mail.iter().any(|m| m.body.contains("nobody answered")));

    // She appeals the other rating.
    click(c, "a[href='/dashboard/sessions/s2']").await;
    arrive(c, "/dashboard/sessions/s2", "#appeal-reason").await;
    fill(c, "#appeal-reason", "the client wrote to the wrong shop").await;
    click(c, "#appeal").await;
    let page = arrive(c, "/dashboard/sessions/s2", "#flash").await;
    assert!(page.contains("appeals queue"), "{page}");

    // Her account: she chooses her time zone, and the page's times follow it.
    click(c, "#nav-account").await;
    arrive(c, "/dashboard/account", "#time_zone").await;
    c.find(Locator::Css("#time_zone option[value='Asia/Tokyo']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    save_screenshot(&c.screenshot().await.unwrap(), "workbench-account.png");
    click(c, "#save-zone").await;
    let page = arrive(c, "/dashboard/account", "#flash").await;
    assert!(page.contains("now shown in Asia/Tokyo"), "{page}");
    // And how often she hears of low ratings: a digest, with quiet hours. Half of the
    // quiet hours is named next to the other half, and the choice is kept.
    click(c, "input[name=mode][value=digest]").await;
    fill(c, "#quiet_from", "22:00").await;
    click(c, "#save-pace").await;
    let page = arrive(
        c,
        "/dashboard/account/alert-pace",
        "#quiet_hours\\.to-problem",
    )
    .await;
    assert!(page.contains("say when they end"), "{page}");
    assert!(
        c.find(Locator::Css("input[name=mode][value=digest]"))
            .await
            .unwrap()
            .prop("checked")
            .await
            .unwrap()
            .as_deref()
            == Some("true"),
        "the choice is kept"
    );
    fill(c, "#quiet_to", "07:00").await;
    click(c, "#weekly_report").await;
    click(c, "#save-pace").await;
    let page = arrive(c, "/dashboard/account", "#flash").await;
    assert!(page.contains("one message every 30 minutes"), "{page}");
    assert!(
        page.contains("Your weekly report comes by e-mail"),
        "{page}"
    );
    assert!(
        page.contains(r#"id="weekly_report" checked"#),
        "the box stays ticked: {page}"
    );
    assert!(
        page.contains(r#"id="quiet_from" value="22:00""#),
        "the page shows what is kept: {page}"
    );
    c.goto(&app.url("/dashboard/sessions/s2")).await.unwrap();
    let page = arrive(c, "/dashboard/sessions/s2", "#journey-table").await;
    assert!(page.contains(" JST</time>"), "{page}");

    // A form sent from another site is refused, and changes nothing.
    let other = other_site(&app.url("/dashboard/sessions/s2/response")).await;
    c.goto(&other).await.unwrap();
    click(c, "#send").await;
    let page = arrive(c, "/dashboard/sessions/s2/response", "main").await;
    assert!(page.contains("sent from another site"), "{page}");
    // A sign-in that has expired: the reply typed meanwhile is not lost. Signing in again
    // shows it, unsent, and offers to send it now.
    c.goto(&app.url("/dashboard/sessions/s2")).await.unwrap();
    arrive(c, "/dashboard/sessions/s2", "#response-text").await;
    app.expire_sign_ins().await;
    fill(c, "#response-text", "Sorry, we were too slow").await;
    click(c, "#respond").await;
    let page = arrive(c, "/dashboard/sessions/s2/response", "#person").await;
    assert!(page.contains("was not saved or sent"), "{page}");
    fill(c, "#person", "sup-olga").await;
    fill(c, "#password", PASSWORD).await;
    click(c, "form[aria-label='Sign in'] button[type=submit]").await;
    let page = arrive(c, "/dashboard/login", "#send-kept").await;
    assert!(page.contains("Sorry, we were too slow"), "{page}");
    let (_, s2) = app
        .call_as(Some(&admin_key), "GET", "/v1/sessions/s2", None)
        .await;
    assert!(
        s2["rating"]["response"].is_null(),
        "not sent before she says so: {s2}"
    );
    click(c, "#send-kept").await;
    let page = arrive(c, "/dashboard/sessions/s2", "#response").await;
    assert!(page.contains("Sorry, we were too slow"), "{page}");
    sign_out(c).await;

    // Ann decides the appeal in the queue: the rating leaves the report.
    invited(c, &app, "admin-ann").await;
    arrive(c, "/dashboard/inbox", "#sign-out").await;
    click(c, "#nav-people").await;
    let page = arrive(c, "/dashboard/people", "#people").await;
    assert!(page.contains("Olga"), "{page}");
    save_screenshot(&c.screenshot().await.unwrap(), "workbench-people.png");
    click(c, "a[href='/dashboard/appeals']").await;
    let page = arrive(c, "/dashboard/appeals", "input[name=approve]").await;
    assert!(
        page.contains("the client wrote to the wrong shop"),
        "{page}"
    );
    assert!(
        page.contains(r#"by <span title="sup-olga">Olga</span>"#),
        "{page}"
    );
    click(c, "input[name=approve][value=yes]").await;
    save_screenshot(&c.screenshot().await.unwrap(), "workbench-appeals.png");
    click(c, "form[action$='/decision'] button[type=submit]").await;
    let page = arrive(c, "/dashboard/appeals", "#flash").await;
    assert!(page.contains("The appeal was approved"), "{page}");
    let (_, stats) = app
        .call_as(Some(&admin_key), "GET", "/v1/stats", None)
        .await;
    assert_eq!(stats["groups"][0]["answered"], 1, "{stats}");
    sign_out(c).await;

    // Ben sees his own feedback: the low rating left, its abusive comment hidden.
    invited(c, &app, "op-1").await;
    let page = arrive(c, "/dashboard/operators/op-1", "#low-ratings").await;
    assert!(page.contains("<title>Ben · Rateline</title>"), "{page}");
    assert!(!page.contains("you are all idiots"), "{page}");
    assert!(!page.contains("/dashboard/sessions/s2"), "voided: {page}");
    save_screenshot(&c.screenshot().await.unwrap(), "workbench-operator.png");
    click(c, "a[href='/dashboard/sessions/s1']").await;
    let page = arrive(c, "/dashboard/sessions/s1", "#rating-now").await;
    assert!(
        !page.contains("response-text"),
        "operators do not respond: {page}"
    );

    // The line shows ratings to supervisors only: Ben sees his numbers, not the ratings.
    let (status, body) = app
        .call_as(
            Some(&admin_key),
            "PUT",
            "/v1/lines/support",
            Some(line(false)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    c.refresh().await.unwrap();
    let page = arrive(c, "/dashboard/sessions/s1", "#ratings-hidden").await;
    assert!(!page.contains("rating-now"), "{page}");
    click(c, "#nav-me").await;
    let page = arrive(c, "/dashboard/operators/op-1", "#recent").await;
    assert!(page.contains("None in this period"), "{page}");
    sign_out(c).await;

    // Another line's supervisor: the session is not there for him, on a page that says so.
    invited(c, &app, "sup-sam").await;
    arrive(c, "/dashboard/inbox", "#sign-out").await;
    c.goto(&app.url("/dashboard/sessions/s1")).await.unwrap();
    let page = arrive(c, "/dashboard/sessions/s1", "p.problem").await;
    assert!(
        page.contains("<title>Not found · Rateline</title>"),
        "{page}"
    );
    assert!(page.contains("does not exist"), "{page}");
    assert!(!page.contains("nobody answered"), "{page}");
}

/// A page on another site (another origin on this machine) with a form that posts to
/// A supervisor empties her inbox in the browser: filters it to one operator chosen by name,
/// ticks two ratings, closes them with a note, and takes the third; the header's count goes
/// down with each, and a filter typed wrong into the address is named next to its field.
async fn a_supervisor_empties_the_inbox(kind: Db) {
    let Some(b) = browser().await else { return };
    let Some(app) = crate::common::spawn_app(kind).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    for (id, body) in [
        (
            "sup-olga",
            json!({"name": "Olga", "role": "supervisor", "lines": ["support"]}),
        ),
        (
            "op-1",
            json!({"name": "Ben", "role": "operator", "lines": ["support"]}),
        ),
        (
            "op-2",
            json!({"name": "Eve", "role": "operator", "lines": ["support"]}),
        ),
    ] {
        let (status, body) = app.put(&format!("/v1/people/{id}"), body).await;
        assert_eq!(status, 201, "{body}");
    }
    app.low_rating("s1", "support", "op-1", "waited an hour")
        .await;
    app.low_rating("s2", "support", "op-1", "test chat, ignore")
        .await;
    app.low_rating("s3", "support", "op-2", "rude").await;
    let key = close_with_a_key(&app).await;
    app.use_key(&key);

    let c = &b.client;
    c.set_window_size(1000, 1400).await.unwrap();
    invited(c, &app, "sup-olga").await;
    let page = arrive(c, "/dashboard/inbox", "article.rating").await;
    assert!(page.contains(r#"<span id="unanswered">3</span>"#), "{page}");
    // Ben's ratings, chosen by his name.
    c.find(Locator::Css("#f-operator option[value='op-1']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(c, "#apply").await;
    // Only the filtered page has Ben chosen: the page before it also has the field.
    let page = arrive(
        c,
        "/dashboard/inbox",
        "#f-operator option[value='op-1'][selected]",
    )
    .await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .query()
            .unwrap()
            .contains("operator=op-1")
    );
    assert!(
        page.contains("waited an hour") && !page.contains("rude"),
        "{page}"
    );
    // Both ticked and closed with a note.
    for s in ["s1", "s2"] {
        let rating = app.session(s).await["rating"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        click(c, &format!("#tick-{rating}")).await;
    }
    c.find(Locator::Css("#bulk-action option[value='close']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    fill(c, "#bulk-note", "called the client back").await;
    save_screenshot(&c.screenshot().await.unwrap(), "workbench-inbox-bulk.png");
    click(c, "#bulk-apply").await;
    let page = arrive(c, "/dashboard/inbox", "#flash").await;
    assert!(page.contains("2 of 2 ticked ratings closed"), "{page}");
    assert!(page.contains(r#"<span id="unanswered">1</span>"#), "{page}");
    assert_eq!(
        page.matches("Closed: no follow-up needed").count(),
        2,
        "{page}"
    );
    assert!(page.contains("called the client back"), "{page}");
    // The last one, taken: nothing left for anyone else, still Olga's to handle.
    c.goto(&app.url("/dashboard/inbox?state=unanswered"))
        .await
        .unwrap();
    arrive(c, "/dashboard/inbox", "article.rating").await;
    let s3 = app.session("s3").await["rating"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    click(c, &format!("#tick-{s3}")).await;
    click(c, "#bulk-apply").await;
    let page = arrive(c, "/dashboard/inbox", "#flash").await;
    assert!(page.contains("1 of 1 ticked ratings assigned"), "{page}");
    assert!(page.contains(r#"id="empty""#), "nothing unanswered: {page}");
    assert!(
        page.contains(r#"<span id="unanswered">1</span>"#),
        "hers: {page}"
    );
    // A value typed wrong into the address: named next to its field.
    c.goto(&app.url("/dashboard/inbox?value=9")).await.unwrap();
    let page = arrive(c, "/dashboard/inbox", "#f-value-problem").await;
    assert!(page.contains("rude"), "the rest still applies: {page}");
    save_screenshot(
        &c.screenshot().await.unwrap(),
        "workbench-inbox-filters.png",
    );
}

/// `action`; the page's address.
async fn other_site(action: &str) -> String {
    let page = format!(
        r#"<!doctype html><title>Another site</title>
<form method="post" action="{action}"><input type="hidden" name="text" value="spam">
<input type="hidden" name="send_to_client" value="true"><button id="send">Send</button></form>"#
    );
    format!("{}/", crate::common::another_site(page).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flag_appeal_decide_and_the_operators_view_sqlite() {
    flag_appeal_decide_and_the_operators_view(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flag_appeal_decide_and_the_operators_view_postgres() {
    flag_appeal_decide_and_the_operators_view(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_leads_to_the_work_sqlite() {
    the_alert_leads_to_the_work(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_leads_to_the_work_postgres() {
    the_alert_leads_to_the_work(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_empties_the_inbox_sqlite() {
    a_supervisor_empties_the_inbox(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_empties_the_inbox_postgres() {
    a_supervisor_empties_the_inbox(Db::Postgres).await;
}
