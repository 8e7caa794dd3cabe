//! The web chat channel through its HTTP surface: tokens, the widget's live connection
//! (server-sent events read as a browser's EventSource would), acknowledgements, answers
//! and CORS. The same flows in a real browser are in `tests/webchat_browser.rs`.

use std::time::Duration;

use crate::common::{Db, TestApp, spawn_app};
use serde_json::{Value, json};

const SHOP: &str = "https://shop.example";

/// A web chat line; `rating` adds to its rating settings.
async fn line(app: &TestApp, id: &str, rating: Value) {
    let mut r = json!({"delay_seconds": 5});
    for (k, v) in rating.as_object().unwrap() {
        r[k] = v.clone();
    }
    let (status, body) = app
        .put(
            &format!("/v1/lines/{id}"),
            json!({"name": "Chat", "rating": r, "webchat": {"allowed_origins": [SHOP]}}),
        )
        .await;
    assert!(status == 201 || status == 200, "{body}");
}

async fn open(app: &TestApp, id: &str, line: &str) {
    let (status, body) = app
        .post(
            "/v1/sessions",
            json!({"id": id, "line_id": line, "channel": "webchat",
                   "client": {"id": format!("visitor-{id}")}, "operator_id": "op-1"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn token(app: &TestApp, session: &str) -> String {
    let (status, body) = app
        .post(&format!("/v1/sessions/{session}/webchat-token"), json!({}))
        .await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// A widget's live connection, read event by event.
struct Widget {
    response: reqwest::Response,
    buffer: String,
}

impl Widget {
    async fn connect(app: &TestApp, token: &str) -> Widget {
        let response = app
            .http
            .get(app.url("/webchat/events"))
            .query(&[("token", token)])
            .header("origin", SHOP)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            SHOP,
            "the line's origin may read the stream"
        );
        Widget {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (`name`, data), skipping keep-alives; `None` if none comes in `wait`.
    async fn next_within(&mut self, wait: Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = "message".to_owned();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if !data.is_empty() {
                    return Some((name, serde_json::from_str(&data).unwrap()));
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .unwrap()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    async fn next(&mut self) -> (String, Value) {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("an event within 10 s")
    }
}

/// A widget call (`ack` or `answer`) from the shop's page.
async fn widget_post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .http
        .post(app.url(path))
        .header("origin", SHOP)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The widget's acknowledgement that it showed `request`.
async fn ack(app: &TestApp, token: &str, request: impl serde::Serialize) -> (u16, Value) {
    widget_post(
        app,
        "/webchat/ack",
        json!({"token": token, "request_id": request}),
    )
    .await
}

async fn tokens_are_checked(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    line(&app, "chat", json!({})).await;
    open(&app, "s-1", "chat").await;
    open(&app, "s-2", "chat").await;
    let (status, body) = app.post("/v1/sessions/nope/webchat-token", json!({})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("session_not_found"))
    );
    let (status, body) = app
        .put(
            "/v1/lines/hook",
            json!({"name": "Hook", "webhook": {"url": app.connector.url, "secret": crate::common::SECRET}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .post(
            "/v1/sessions",
            json!({"id": "tg", "line_id": "hook", "channel": "webhook", "client": {"id": "c"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app.post("/v1/sessions/tg/webchat-token", json!({})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("not_a_webchat_session"))
    );

    let (status, minted) = app.post("/v1/sessions/s-1/webchat-token", json!({})).await;
    assert_eq!(status, 201);
    assert_eq!(
        minted["expires_at"], "2026-11-28T09:00:00Z",
        "a week by default"
    );
    let good = minted["token"].as_str().unwrap();
    assert!(
        minted["embed"]
            .as_str()
            .unwrap()
            .contains("/widget.js\" data-token="),
        "{minted}"
    );
    // A forged token: another session's name under this token's MAC.
    let mac = good.rsplit_once('.').unwrap().1;
    let forged = format!("rlw1.1795000000.{}.{mac}", hex::encode("s-2"));
    for (bad, code) in [
        (forged.as_str(), "invalid_token"),
        ("rlw1.garbage", "invalid_token"),
    ] {
        let r = app
            .http
            .get(app.url("/webchat/events"))
            .query(&[("token", bad)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{body}");
    }

    // Another session's token cannot acknowledge or answer this session's request.
    app.close("s-1").await;
    app.advance(chrono::Duration::seconds(5));
    let request = app.session("s-1").await["rating_request"]["id"].clone();
    let other = token(&app, "s-2").await;
    let (status, body) = widget_post(
        &app,
        "/webchat/answer",
        json!({"token": other, "request_id": request, "value": 1}),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (403, &json!("not_this_session")),
        "{body}"
    );
    let (status, body) = ack(&app, &other, &request).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (403, &json!("not_this_session"))
    );
    assert_eq!(
        app.request_status("s-1").await,
        "scheduled",
        "nothing changed"
    );

    // Expired: a week and a second later.
    app.advance(chrono::Duration::hours(168));
    let (status, body) = ack(&app, good, &request).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("token_expired")),
        "{body}"
    );
}

/// No widget at the due time: the request waits, `scheduled`; the client comes back a day
/// later, sees the card, and the acknowledgement makes it `delivered`.
async fn a_returning_client_gets_the_card_and_rates(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    line(
        &app,
        "chat",
        json!({"scale": "five_star", "ask_resolved": true}),
    )
    .await;
    open(&app, "s-1", "chat").await;
    let t = token(&app, "s-1").await;
    app.close("s-1").await;
    app.advance(chrono::Duration::hours(24));
    app.settle().await;
    let s = app.session("s-1").await;
    assert_eq!(s["rating_request"]["status"], "scheduled", "{s}");
    assert_eq!(s["rating_request"]["sent_at"], Value::Null);
    assert!(
        app.connector.received().is_empty(),
        "nothing was posted anywhere"
    );

    let mut widget = Widget::connect(&app, &t).await;
    let (event, card) = widget.next().await;
    assert_eq!(event, "card");
    let request = card["request_id"].as_str().unwrap().to_owned();
    assert_eq!(card["scale"], "five_star");
    assert_eq!(card["rating"], Value::Null);
    assert_eq!(
        card["texts"]["question"],
        "Please rate the quality of service"
    );
    assert_eq!(card["texts"]["star"], "{n} of 5 stars");

    let (status, body) = ack(&app, &t, &request).await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("delivered")),
        "{body}"
    );
    let s = app.session("s-1").await;
    assert_eq!(s["rating_request"]["status"], "delivered");
    assert_eq!(s["rating_request"]["sent_at"], "2026-11-22T09:00:00Z");
    assert_eq!(s["rating_request"]["delivered_at"], "2026-11-22T09:00:00Z");

    let (status, card) = widget_post(
        &app,
        "/webchat/answer",
        json!({"token": t, "request_id": request, "value": 4}),
    )
    .await;
    assert_eq!(status, 201, "{card}");
    assert_eq!(card["rating"]["value"], 4);
    assert_eq!(card["rating"]["resolved"], Value::Null);
    let (status, card) = widget_post(
        &app,
        "/webchat/answer",
        json!({"token": t, "request_id": request, "value": 4, "resolved": true}),
    )
    .await;
    assert_eq!((status, &card["rating"]["resolved"]), (200, &json!(true)));
    let rating = app.session("s-1").await["rating"].clone();
    assert_eq!(
        (&rating["value"], &rating["resolved"], &rating["changes"]),
        (&json!(4), &json!(true), &json!(0)),
        "a follow-up is not a change of mind"
    );
    // The open connection follows: the thank-you state.
    let (event, card) = widget.next().await;
    assert_eq!(event, "card");
    assert_eq!(card["rating"]["value"], 4);

    // A supervisor's response stays in Rateline: the widget shows rating cards only.
    let rating = app.session("s-1").await["rating"]["id"].clone();
    let (status, body) = app
        .put(
            &format!("/v1/ratings/{}/response", rating.as_str().unwrap()),
            json!({"text": "Thanks!", "send_to_client": true}),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("cannot_send_to_client")),
        "{body}"
    );

    // The report counts it sent and answered.
    let (_, stats) = app.get("/v1/stats?channel=webchat").await;
    assert_eq!(stats["groups"][0]["sent"], 1, "{stats}");
    assert_eq!(stats["groups"][0]["answered"], 1, "{stats}");
}

/// A widget connected at the close sees the card at once on a `rate_before_close` line,
/// before the line's delay; changes of mind follow the line's policy.
async fn rate_before_close_shows_the_card_at_the_close(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    line(
        &app,
        "chat",
        json!({"delay_seconds": 600, "rate_before_close": true, "max_changes": 1,
               "ask_comment_on_low": true}),
    )
    .await;
    open(&app, "s-1", "chat").await;
    let t = token(&app, "s-1").await;
    let mut widget = Widget::connect(&app, &t).await;
    assert!(
        widget
            .next_within(Duration::from_millis(300))
            .await
            .is_none(),
        "no card while the chat is open"
    );
    app.close("s-1").await;
    let (event, card) = widget.next().await;
    assert_eq!(event, "card", "no wait for the 600 s delay");
    let request = card["request_id"].as_str().unwrap().to_owned();
    let answer = async |body: Value| {
        let mut b = json!({"token": t, "request_id": request});
        for (k, v) in body.as_object().unwrap() {
            b[k] = v.clone();
        }
        widget_post(&app, "/webchat/answer", b).await
    };
    let (status, card) = answer(json!({"value": 0})).await;
    assert_eq!((status, &card["rating"]["low"]), (201, &json!(true)));
    let (status, card) = answer(json!({"value": 0, "comment": "waited an hour"})).await;
    assert_eq!(
        (status, &card["rating"]["comment"]),
        (200, &json!("waited an hour"))
    );
    assert_eq!(card["can_change"], true);
    let (status, card) = answer(json!({"value": 1})).await;
    assert_eq!((status, &card["rating"]["value"]), (200, &json!(1)));
    assert_eq!(card["can_change"], false, "max_changes 1 is used up");
    let (status, body) = answer(json!({"value": 0})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("change_limit_reached"))
    );
    assert_eq!(app.session("s-1").await["rating"]["value"], 1);
    let (status, body) = answer(json!({"value": 7})).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("send 1 (👍) or 0 (👎)"),
        "{body}"
    );
}

/// Nobody ever opens the widget: the request ends `expired` when the answer window ends,
/// and a widget connecting later shows nothing.
async fn an_unseen_request_expires_with_its_answer_window(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    line(&app, "chat", json!({"answer_window_hours": 2})).await;
    open(&app, "s-1", "chat").await;
    let t = token(&app, "s-1").await;
    app.close("s-1").await;
    app.advance(chrono::Duration::hours(2) + chrono::Duration::seconds(4));
    app.settle().await;
    assert_eq!(app.request_status("s-1").await, "scheduled");
    app.advance(chrono::Duration::seconds(2));
    app.wait_for_status("s-1", "expired").await;
    let mut widget = Widget::connect(&app, &t).await;
    assert!(
        widget
            .next_within(Duration::from_millis(500))
            .await
            .is_none()
    );
    // A late acknowledgement (a widget retrying) does not make it shown.
    let request = app.session("s-1").await["rating_request"]["id"].clone();
    let (status, body) = ack(&app, &t, &request).await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("expired")),
        "{body}"
    );
    let s = app.session("s-1").await;
    assert_eq!(s["rating_request"]["sent_at"], Value::Null, "{s}");
}

/// A client who writes again before the card is due takes the request back (the chat goes
/// on); once the card is due, a message from the client (perhaps from the very tab that
/// shows it) leaves it alone.
async fn a_message_cancels_only_a_card_not_yet_due(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    line(&app, "chat", json!({"delay_seconds": 60})).await;
    for id in ["early", "late"] {
        open(&app, id, "chat").await;
        app.close(id).await;
    }
    app.advance(chrono::Duration::seconds(1));
    let (_, body) = app
        .post("/v1/sessions/early/messages", json!({"from": "client"}))
        .await;
    assert!(body["cancelled_request_id"].is_string(), "{body}");
    assert_eq!(app.request_status("early").await, "cancelled");
    app.advance(chrono::Duration::seconds(60));
    let (_, body) = app
        .post("/v1/sessions/late/messages", json!({"from": "client"}))
        .await;
    assert_eq!(body["cancelled_request_id"], Value::Null, "{body}");
    assert_eq!(app.request_status("late").await, "scheduled");
    let t = token(&app, "late").await;
    let mut widget = Widget::connect(&app, &t).await;
    assert_eq!(widget.next().await.0, "card");
}

/// CORS: the line's origins only; a refused origin changes nothing.
async fn only_the_lines_origins_may_call(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    line(&app, "chat", json!({"delay_seconds": 0})).await;
    open(&app, "s-1", "chat").await;
    let t = token(&app, "s-1").await;
    app.close("s-1").await;
    let request = app.session("s-1").await["rating_request"]["id"].clone();

    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/webchat/answer"))
        .header("origin", SHOP)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-methods"], "POST");

    let r = app
        .http
        .post(app.url("/webchat/answer"))
        .header("origin", "https://evil.example")
        .json(&json!({"token": t, "request_id": request, "value": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "origin_not_allowed");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("webchat.allowed_origins")
    );
    assert_eq!(app.session("s-1").await["rating"], Value::Null);
    assert_eq!(app.request_status("s-1").await, "scheduled");

    let r = app
        .http
        .get(app.url("/webchat/events"))
        .query(&[("token", t.as_str())])
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let (status, body) = app
        .put(
            "/v1/lines/bad",
            json!({"name": "Bad", "webchat": {"allowed_origins": ["https://shop.example/chat"]}}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["field"], "webchat.allowed_origins[0]");

    // The widget's script itself is public.
    let r = app.http.get(app.url("/widget.js")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(r.text().await.unwrap().contains("/webchat/events"));
}

crate::common::on_both_backends!(
    tokens_are_checked,
    a_returning_client_gets_the_card_and_rates,
    rate_before_close_shows_the_card_at_the_close,
    an_unseen_request_expires_with_its_answer_window,
    only_the_lines_origins_may_call,
    a_message_cancels_only_a_card_not_yet_due,
);

/// `examples/webchat/run.sh`, copied out of the repository and run from another folder,
/// serves its page and walks the session to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_runs_from_a_copy_anywhere() {
    use std::io::{BufRead, Write};
    let Some(app) = crate::common::spawn_app(Db::Sqlite).await else {
        return;
    };
    let copy = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    for file in ["run.sh", "index.html"] {
        std::fs::copy(
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/webchat/").to_owned() + file,
            copy.path().join(file),
        )
        .unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut script = std::process::Command::new("bash")
        .arg(copy.path().join("run.sh"))
        .current_dir(elsewhere.path())
        .env("RATELINE", &app.base)
        .env("PAGE_PORT", port.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(script.stdout.take().unwrap());
    let page = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        loop {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                panic!("the script ended before printing the page's address");
            }
            if let Some(url) = line.trim().strip_prefix("http://127.0.0.1:") {
                return (format!("http://127.0.0.1:{url}"), out);
            }
        }
    })
    .await
    .unwrap();
    let (url, mut out) = page;
    // The page server takes a moment to start.
    let mut html = String::new();
    for _ in 0..50 {
        if let Ok(r) = reqwest::get(&url).await
            && r.status() == 200
        {
            html = r.text().await.unwrap();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        html.contains("Acme support"),
        "the page was not served: {html:?}"
    );
    let mut stdin = script.stdin.take().unwrap();
    stdin.write_all(b"\n\n").unwrap();
    drop(stdin);
    let rest = tokio::task::spawn_blocking(move || {
        let mut rest = String::new();
        let mut line = String::new();
        while out.read_line(&mut line).unwrap() > 0 {
            rest.push_str(&line);
            line.clear();
        }
        rest
    })
    .await
    .unwrap();
    assert!(script.wait().unwrap().success(), "{rest}");
    assert!(rest.contains("\"closed_by\": \"operator\""), "{rest}");
}
