//! The Meta channels end to end: the real server and database, a fake Graph API that
//! enforces Meta's rules (the 24-hour window above all, quick-reply, button and list limits,
//! templates, tokens), and webhooks shaped like Meta's, signed in the test.
//!
//! The fake's clock follows the server's manual clock, so the window's edges (23 h 59 m
//! sends, 24 h 01 m does not) are exact.

use crate::common::{Db, TestApp, start_time, test_settings};
use chrono::Duration;
use rateline::clock::ManualClock;
use rateline::settings::{MetaSettings, Settings};
use rateline_testkit::meta::{
    APP_SECRET, FakeGraphApi, Fault, IG_ID, IG_TOKEN, MetaChannel, PAGE_ID, PAGE_TOKEN, VERSION,
    WA_PHONE_ID, WA_TOKEN, messenger_batch,
};
use serde_json::{Value, json};

const VERIFY_TOKEN: &str = "rateline-verify-token";
const ANN: &str = "1134343043305865";
const BOB: &str = "2245454154416976";
const WA_ANN: &str = "250788123456";
const WA_BOB: &str = "250788654321";

struct MetaApp {
    app: TestApp,
    graph: FakeGraphApi,
}

async fn spawn(kind: Db) -> Option<MetaApp> {
    spawn_with(kind, |_| {}).await
}

async fn spawn_with(kind: Db, tweak: impl FnOnce(&mut Settings)) -> Option<MetaApp> {
    let db = crate::common::TestDb::new(kind).await?;
    let graph = FakeGraphApi::start().await;
    graph.set_now(start_time());
    let mut settings = test_settings(&db);
    settings.meta = Some(MetaSettings {
        graph_url: graph.url(),
        graph_version: VERSION.into(),
        app_secret: Some(APP_SECRET.into()),
        verify_token: Some(VERIFY_TOKEN.into()),
        page_id: Some(PAGE_ID.into()),
        page_token: Some(PAGE_TOKEN.into()),
        instagram_id: Some(IG_ID.into()),
        instagram_token: Some(IG_TOKEN.into()),
        whatsapp_phone_number_id: Some(WA_PHONE_ID.into()),
        whatsapp_token: Some(WA_TOKEN.into()),
        callback_secret: None,
    });
    settings.scheduler.send_timeout_seconds = 2;
    tweak(&mut settings);
    let clock = ManualClock::new(start_time());
    let connector = crate::common::Connector::start().await;
    let app = TestApp::start(db, settings, clock, connector).await;
    Some(MetaApp { app, graph })
}

impl MetaApp {
    /// Moves both clocks: the server's and the fake Graph API's.
    fn advance(&self, d: Duration) {
        self.app.advance(d);
        self.graph.set_now(self.graph.now() + d);
    }

    async fn line(&self, id: &str, extra: Value) {
        let mut body = json!({"name": id, "rating": {"delay_seconds": 0}});
        for (k, v) in extra.as_object().unwrap() {
            if k == "rating" {
                for (rk, rv) in v.as_object().unwrap() {
                    body["rating"][rk] = rv.clone();
                }
            } else {
                body[k] = v.clone();
            }
        }
        let (status, b) = self.app.put(&format!("/v1/lines/{id}"), body).await;
        assert!(status == 200 || status == 201, "{b}");
    }

    async fn open(&self, session: &str, line: &str, channel: &str, client: &str) {
        let (status, body) = self
            .app
            .post(
                "/v1/sessions",
                json!({"id": session, "line_id": line, "channel": channel,
                       "client": {"id": client}, "operator_id": "op-1"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    /// Posts a webhook as Meta does: the raw body and its signature header.
    async fn deliver(&self, (body, signature): &(String, String)) -> (u16, Value) {
        self.deliver_signed(body, Some(signature)).await
    }

    async fn deliver_signed(&self, body: &str, signature: Option<&str>) -> (u16, Value) {
        let mut req = self
            .app
            .http
            .post(self.app.url("/channels/meta/webhook"))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(s) = signature {
            req = req.header("X-Hub-Signature-256", s);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The client writes on `channel` (opening Meta's window), as Meta's webhook reports it.
    async fn client_writes(&self, channel: MetaChannel, user: &str) {
        let hook = match channel {
            MetaChannel::Messenger => self.graph.inbound().messenger_text(user, "hi"),
            MetaChannel::Instagram => self.graph.inbound().instagram_text(user, "hi"),
            MetaChannel::Whatsapp => self.graph.inbound().whatsapp_text(user, "hi"),
        };
        let (status, body) = self.deliver(&hook).await;
        assert_eq!(status, 200, "{body}");
    }

    /// Opens a session, lets the client write, closes it and waits for the request to go
    /// out; returns the session.
    async fn asked(&self, session: &str, line: &str, channel: MetaChannel, user: &str) -> Value {
        let name = match channel {
            MetaChannel::Messenger => "messenger",
            MetaChannel::Instagram => "instagram",
            MetaChannel::Whatsapp => "whatsapp",
        };
        self.open(session, line, name, user).await;
        self.client_writes(channel, user).await;
        self.app.close(session).await;
        self.app.wait_for_status(session, "sent").await
    }

    async fn rating(&self, session: &str) -> Value {
        self.app.session(session).await["rating"].clone()
    }

    /// The payload of the button titled `title` in the last request sent to `user`.
    fn payload(&self, channel: MetaChannel, user: &str, title: &str) -> String {
        let sent = self.graph.sent(channel, user);
        let body = sent
            .iter()
            .rev()
            .find(|b| is_request(b))
            .expect("a request was sent");
        buttons(body)
            .into_iter()
            .find(|(t, _)| t == title)
            .unwrap_or_else(|| panic!("no button {title:?} in {body}"))
            .1
    }

    fn violations(&self) -> Vec<String> {
        self.graph
            .rule_violations()
            .into_iter()
            .map(|c| format!("{} {:?}", c.path, c.error_message))
            .collect()
    }
}

/// Whether a sent body is a rating request (buttons, a list or a template), not a thank-you.
fn is_request(body: &Value) -> bool {
    body["message"]["quick_replies"].is_array()
        || body["interactive"].is_object()
        || body["template"].is_object()
}

/// `(title, payload)` of every button of a sent request, whatever its shape.
fn buttons(body: &Value) -> Vec<(String, String)> {
    let pair = |t: &Value, p: &Value| {
        (
            t.as_str().unwrap().to_owned(),
            p.as_str().unwrap().to_owned(),
        )
    };
    if let Some(q) = body["message"]["quick_replies"].as_array() {
        return q.iter().map(|b| pair(&b["title"], &b["payload"])).collect();
    }
    if let Some(b) = body["interactive"]["action"]["buttons"].as_array() {
        return b
            .iter()
            .map(|b| pair(&b["reply"]["title"], &b["reply"]["id"]))
            .collect();
    }
    if let Some(sections) = body["interactive"]["action"]["sections"].as_array() {
        return sections
            .iter()
            .flat_map(|s| s["rows"].as_array().unwrap().clone())
            .map(|r| pair(&r["title"], &r["id"]))
            .collect();
    }
    Vec::new()
}

async fn messenger_quick_replies_are_answered_once(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("support", json!({})).await;
    let s = t.asked("s-1", "support", MetaChannel::Messenger, ANN).await;
    let sent = t.graph.sent(MetaChannel::Messenger, ANN);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0]["messaging_type"], "RESPONSE",
        "no message tag for a survey"
    );
    assert_eq!(
        buttons(&sent[0])
            .iter()
            .map(|(t, _)| t.as_str())
            .collect::<Vec<_>>(),
        ["👍", "👎"]
    );
    assert_eq!(
        s["rating_request"]["platform_message_id"],
        json!(
            t.graph
                .last_message_id(MetaChannel::Messenger, ANN)
                .unwrap()
        )
    );

    let up = t.payload(MetaChannel::Messenger, ANN, "👍");
    let tap = t.graph.inbound().messenger_quick_reply(ANN, "👍", &up);
    assert_eq!(t.deliver(&tap).await.0, 200);
    assert_eq!(t.rating("s-1").await["value"], 1);
    let sent = t.graph.sent(MetaChannel::Messenger, ANN);
    assert_eq!(
        sent.last().unwrap()["message"]["text"],
        "Thank you for your rating!"
    );

    // Meta delivers again: nothing changes, no second thank-you.
    assert_eq!(t.deliver(&tap).await.0, 200);
    assert_eq!(
        t.rating("s-1").await["history"].as_array().unwrap().len(),
        1
    );
    assert_eq!(t.graph.sent(MetaChannel::Messenger, ANN).len(), 2);
    // The Page's echo of its own message is not an answer.
    assert_eq!(
        t.deliver(&t.graph.inbound().messenger_echo(ANN, "0"))
            .await
            .0,
        200
    );
    assert_eq!(t.rating("s-1").await["value"], 1);
    // A postback (a button template's button) answers too: here a change of mind.
    let down = t.payload(MetaChannel::Messenger, ANN, "👎");
    let postback = t.graph.inbound().messenger_postback(ANN, "👎", &down);
    assert_eq!(t.deliver(&postback).await.0, 200);
    let rating = t.rating("s-1").await;
    assert_eq!(
        (rating["value"].clone(), rating["changes"].clone()),
        (json!(0), json!(1))
    );
    assert_eq!(t.violations(), Vec::<String>::new());
}

/// After a low rating the client is asked why: quick replies on Messenger (one tap gives
/// that reason), a list on WhatsApp when there are more than three, and numbers typed for
/// several. Only then comes the thanks; the same tap delivered again changes nothing.
async fn reasons_are_asked_after_a_low_rating(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let three = json!([{"id": "slow", "text": "Waited too long"}, {"id": "rude", "text": "Rude"},
                       {"id": "unsolved", "text": "Not solved"}]);
    let mut four = three.clone();
    four.as_array_mut()
        .unwrap()
        .push(json!({"id": "wrong", "text": "Wrong answer given"}));
    t.line("support", json!({"rating": {"low_reasons": three}}))
        .await;
    t.line("wa", json!({"rating": {"low_reasons": four}})).await;

    t.asked("s-1", "support", MetaChannel::Messenger, ANN).await;
    let down = t.payload(MetaChannel::Messenger, ANN, "👎");
    let tap = t.graph.inbound().messenger_quick_reply(ANN, "👎", &down);
    assert_eq!(t.deliver(&tap).await.0, 200);
    let asked = t
        .graph
        .sent(MetaChannel::Messenger, ANN)
        .last()
        .unwrap()
        .clone();
    let text = asked["message"]["text"].as_str().unwrap();
    assert!(
        text.contains("Choose all that apply")
            && text.contains("1. Waited too long\n2. Rude\n3. Not solved")
            && text.contains("e.g. 1 3"),
        "{text}"
    );
    assert_eq!(
        buttons(&asked)
            .iter()
            .map(|(t, _)| t.as_str())
            .collect::<Vec<_>>(),
        ["Waited too long", "Rude", "Not solved"]
    );
    let rude = t.payload(MetaChannel::Messenger, ANN, "Rude");
    let pick = t.graph.inbound().messenger_quick_reply(ANN, "Rude", &rude);
    assert_eq!(t.deliver(&pick).await.0, 200);
    assert_eq!(t.rating("s-1").await["reasons"], json!(["rude"]));
    let sent = t.graph.sent(MetaChannel::Messenger, ANN);
    assert_eq!(
        sent.last().unwrap()["message"]["text"],
        "Thank you for your rating!"
    );
    // Delivered again: nothing changes, no second thank-you.
    assert_eq!(t.deliver(&pick).await.0, 200);
    assert_eq!(t.graph.sent(MetaChannel::Messenger, ANN).len(), sent.len());

    // WhatsApp, four reasons: a list; two picked by typing their numbers.
    t.asked("s-2", "wa", MetaChannel::Whatsapp, WA_ANN).await;
    let wamid = t
        .graph
        .last_message_id(MetaChannel::Whatsapp, WA_ANN)
        .unwrap();
    let down = t.payload(MetaChannel::Whatsapp, WA_ANN, "👎");
    let reply = t
        .graph
        .inbound()
        .whatsapp_button_reply(WA_ANN, &down, "👎", &wamid);
    assert_eq!(t.deliver(&reply).await.0, 200);
    let list = t
        .graph
        .sent(MetaChannel::Whatsapp, WA_ANN)
        .last()
        .unwrap()
        .clone();
    assert_eq!(list["interactive"]["type"], "list", "{list}");
    assert_eq!(buttons(&list).len(), 4);
    let typed = t.graph.inbound().whatsapp_text(WA_ANN, "4 1");
    assert_eq!(t.deliver(&typed).await.0, 200);
    assert_eq!(t.rating("s-2").await["reasons"], json!(["slow", "wrong"]));
    // Once given, digits are conversation again.
    let typed = t.graph.inbound().whatsapp_text(WA_ANN, "2");
    assert_eq!(t.deliver(&typed).await.0, 200);
    assert_eq!(t.rating("s-2").await["reasons"], json!(["slow", "wrong"]));
    assert_eq!(t.violations(), Vec::<String>::new());
}

/// Where the line asks "resolved?" and a comment on a low rating, Meta's channels ask them
/// in turn as Telegram's card does: "resolved?" by two quick replies, then the reasons, then
/// the comment, taken from the client's next message; only then the thanks.
async fn the_follow_ups_are_asked_in_turn(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line(
        "support",
        json!({"rating": {"ask_resolved": true, "ask_comment_on_low": true,
                          "low_reasons": [{"id": "slow", "text": "Waited too long"},
                                          {"id": "rude", "text": "Rude"}]}}),
    )
    .await;
    t.asked("s-1", "support", MetaChannel::Messenger, ANN).await;
    let last_text = || {
        t.graph.sent(MetaChannel::Messenger, ANN).last().unwrap()["message"]["text"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let down = t.payload(MetaChannel::Messenger, ANN, "👎");
    let tap = t.graph.inbound().messenger_quick_reply(ANN, "👎", &down);
    assert_eq!(t.deliver(&tap).await.0, 200);
    assert_eq!(last_text(), "Was your issue resolved?");
    let no = t.payload(MetaChannel::Messenger, ANN, "No");
    let tap = t.graph.inbound().messenger_quick_reply(ANN, "No", &no);
    assert_eq!(t.deliver(&tap).await.0, 200);
    assert_eq!(t.rating("s-1").await["resolved"], false);
    assert!(
        last_text().contains("Choose all that apply"),
        "{}",
        last_text()
    );
    let rude = t.payload(MetaChannel::Messenger, ANN, "Rude");
    let tap = t.graph.inbound().messenger_quick_reply(ANN, "Rude", &rude);
    assert_eq!(t.deliver(&tap).await.0, 200);
    assert_eq!(t.rating("s-1").await["reasons"], json!(["rude"]));
    assert_eq!(
        last_text(),
        "We are sorry. What went wrong? Reply with a message to tell us."
    );
    // The client writes a moment later: that is the comment.
    t.advance(Duration::seconds(20));
    let said = t
        .graph
        .inbound()
        .messenger_text(ANN, "Nobody answered for an hour");
    assert_eq!(t.deliver(&said).await.0, 200);
    let rating = t.rating("s-1").await;
    assert_eq!(rating["comment"], "Nobody answered for an hour");
    assert_eq!(rating["resolved"], false, "kept: {rating}");
    assert_eq!(last_text(), "Thank you, your comment was passed on.");
    // Then the conversation is the client's again: no second comment, nothing sent.
    let sent = t.graph.sent(MetaChannel::Messenger, ANN).len();
    let more = t.graph.inbound().messenger_text(ANN, "and also the price");
    assert_eq!(t.deliver(&more).await.0, 200);
    assert_eq!(
        t.rating("s-1").await["comment"],
        "Nobody answered for an hour"
    );
    assert_eq!(t.graph.sent(MetaChannel::Messenger, ANN).len(), sent);
    assert_eq!(t.violations(), Vec::<String>::new());
}

/// A reminder goes through the channel while Meta's 24-hour window is open, with the
/// same quick replies, and never after it closed.
async fn a_reminder_keeps_to_the_24_hour_window(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("support", json!({"rating": {"reminder_after_minutes": 30}}))
        .await;
    // Ann writes at 0:00 and Bob at 0:15, so their windows end at 24:00 and 24:15.
    t.open("s-1", "support", "messenger", ANN).await;
    t.client_writes(MetaChannel::Messenger, ANN).await;
    t.advance(Duration::minutes(15));
    t.open("s-2", "support", "messenger", BOB).await;
    t.client_writes(MetaChannel::Messenger, BOB).await;
    // Ann's request goes at 23:00: her reminder at 23:30 is inside her window.
    t.advance(Duration::hours(23) - Duration::minutes(15));
    t.app.close("s-1").await;
    t.app.wait_for_status("s-1", "sent").await;
    t.advance(Duration::minutes(31));
    t.app.settle().await;
    // Bob's goes at 24:05, inside his window; his reminder at 24:35 would not be.
    t.advance(Duration::minutes(34));
    t.app.close("s-2").await;
    t.app.wait_for_status("s-2", "sent").await;
    t.advance(Duration::minutes(31));
    t.app.settle().await;
    let ann = t.graph.sent(MetaChannel::Messenger, ANN);
    assert_eq!(ann.len(), 2, "the request and its reminder: {ann:?}");
    assert_eq!(buttons(&ann[1]), buttons(&ann[0]));
    assert_eq!(
        t.graph.sent(MetaChannel::Messenger, BOB).len(),
        1,
        "no reminder outside the window"
    );
    assert_eq!(t.violations(), Vec::<String>::new());
}

/// 23 h 59 m after the client's last message a request goes out; 24 h 01 m after, it never
/// does, whether the window had closed by the close or closed while the request waited.
async fn the_24_hour_window_is_kept(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("support", json!({})).await;
    t.line("slow", json!({"rating": {"delay_seconds": 120}}))
        .await;
    for (session, line, user) in [
        ("in", "support", ANN),
        ("out", "support", BOB),
        ("late", "slow", "3000"),
    ] {
        t.open(session, line, "messenger", user).await;
        t.client_writes(MetaChannel::Messenger, user).await;
    }
    t.advance(Duration::hours(23) + Duration::minutes(59));
    t.app.close("in").await;
    t.app.wait_for_status("in", "sent").await;

    // Due at 23 h 59 m + 2 min: past the window already at the close.
    let (_, body) = t
        .app
        .post("/v1/sessions/late/close", json!({"closed_by": "operator"}))
        .await;
    assert_eq!(body["rating_request"]["status"], "window_closed", "{body}");

    t.advance(Duration::minutes(2));
    t.app.close("out").await;
    let s = t.app.wait_for_status("out", "window_closed").await;
    assert!(
        s["rating_request"]["last_error"]
            .as_str()
            .unwrap()
            .contains("24 hours"),
        "{s}"
    );
    assert!(t.graph.sent(MetaChannel::Messenger, BOB).is_empty());
    assert_eq!(t.violations(), Vec::<String>::new());
}

/// Open at the close, closed by the time the request is sent: the adapter checks again.
async fn the_window_is_checked_again_right_before_sending(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("slow", json!({"rating": {"delay_seconds": 60}}))
        .await;
    t.open("s-1", "slow", "instagram", ANN).await;
    t.client_writes(MetaChannel::Instagram, ANN).await;
    t.advance(Duration::hours(23) + Duration::minutes(58));
    t.app.close("s-1").await;
    assert_eq!(t.app.request_status("s-1").await, "scheduled");
    // The scheduler wakes only after the window has passed (a busy or stopped server).
    t.advance(Duration::minutes(3));
    t.app.wait_for_status("s-1", "window_closed").await;
    assert!(t.graph.sent(MetaChannel::Instagram, ANN).is_empty());
}

async fn instagram_five_stars_by_quick_reply_and_by_text(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("stars", json!({"rating": {"scale": "five_star"}}))
        .await;
    t.open("s-1", "stars", "instagram", ANN).await;
    t.open("s-2", "stars", "instagram", BOB).await;
    for user in [ANN, BOB] {
        t.client_writes(MetaChannel::Instagram, user).await;
    }
    t.app.close("s-1").await;
    t.app.close("s-2").await;
    t.app.wait_for_status("s-1", "sent").await;
    t.app.wait_for_status("s-2", "sent").await;
    let titles: Vec<String> = buttons(&t.graph.sent(MetaChannel::Instagram, ANN)[0])
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(titles, ["1 ★", "2 ★", "3 ★", "4 ★", "5 ★"]);

    let four = t.payload(MetaChannel::Instagram, ANN, "4 ★");
    assert_eq!(
        t.deliver(&t.graph.inbound().instagram_quick_reply(ANN, "4 ★", &four))
            .await
            .0,
        200
    );
    assert_eq!(t.rating("s-1").await["value"], 4);
    // Bob types instead of tapping.
    let typed = t.graph.inbound().instagram_text(BOB, "5");
    assert_eq!(t.deliver(&typed).await.0, 200);
    assert_eq!(t.rating("s-2").await["value"], 5);
    assert_eq!(t.violations(), Vec::<String>::new());
}

async fn whatsapp_buttons_lists_and_statuses(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("binary", json!({})).await;
    t.line("stars", json!({"rating": {"scale": "five_star"}}))
        .await;
    // The contact center writes the number its own way; WhatsApp's webhooks use digits.
    t.open("s-bin", "binary", "whatsapp", "+250-788-123-456")
        .await;
    assert_eq!(t.app.session("s-bin").await["client"]["id"], WA_ANN);
    t.client_writes(MetaChannel::Whatsapp, WA_ANN).await;
    t.app.close("s-bin").await;
    let s = t.app.wait_for_status("s-bin", "sent").await;
    let wamid = s["rating_request"]["platform_message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = t.graph.sent(MetaChannel::Whatsapp, WA_ANN);
    assert_eq!(sent[0]["interactive"]["type"], "button");

    // Statuses: delivered (and read) move the request on; a repeat changes nothing.
    for status in ["sent", "delivered", "read", "delivered"] {
        let hook = t
            .graph
            .inbound()
            .whatsapp_status(&wamid, status, WA_ANN, None);
        assert_eq!(t.deliver(&hook).await.0, 200);
    }
    let s = t.app.session("s-bin").await;
    assert_eq!(s["rating_request"]["status"], "delivered", "{s}");
    assert!(s["rating_request"]["delivered_at"].is_string());
    let down = t.payload(MetaChannel::Whatsapp, WA_ANN, "👎");
    let reply = t
        .graph
        .inbound()
        .whatsapp_button_reply(WA_ANN, &down, "👎", &wamid);
    assert_eq!(t.deliver(&reply).await.0, 200);
    assert_eq!(t.rating("s-bin").await["value"], 0);

    // Five stars as a list of five rows. The session opens after the client's message:
    // the window is the client's, not one conversation's.
    t.open("s-stars", "stars", "whatsapp", WA_ANN).await;
    t.app.close("s-stars").await;
    let s = t.app.wait_for_status("s-stars", "sent").await;
    let wamid = s["rating_request"]["platform_message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = t
        .graph
        .sent(MetaChannel::Whatsapp, WA_ANN)
        .last()
        .unwrap()
        .clone();
    assert_eq!(list["interactive"]["type"], "list");
    assert_eq!(buttons(&list).len(), 5);
    let five = t.payload(MetaChannel::Whatsapp, WA_ANN, "5 ★");
    let pick = t
        .graph
        .inbound()
        .whatsapp_list_reply(WA_ANN, &five, "5 ★", &wamid);
    assert_eq!(t.deliver(&pick).await.0, 200);
    assert_eq!(t.rating("s-stars").await["value"], 5);
    assert_eq!(t.violations(), Vec::<String>::new());
}

/// Outside the window WhatsApp may send the line's approved template, and only there.
async fn whatsapp_uses_the_template_only_outside_the_window(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.graph.add_template("service_rating", "en", 2);
    // A template's buttons must name answers of the line's scale, each once.
    let (status, body) = t
        .app
        .put(
            "/v1/lines/support",
            json!({"name": "Support", "whatsapp_template":
                   {"name": "service_rating", "language": "en", "buttons": [1, 7]}}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "whatsapp_template.buttons");
    // This template was approved with 👎 first, then 👍.
    t.line(
        "support",
        json!({"whatsapp_template": {"name": "service_rating", "language": "en", "buttons": [0, 1]}}),
    )
    .await;
    t.asked("inside", "support", MetaChannel::Whatsapp, WA_ANN)
        .await;
    assert_eq!(
        t.graph.sent(MetaChannel::Whatsapp, WA_ANN)[0]["type"],
        "interactive",
        "inside the window the free (interactive) message, never the paid template"
    );

    t.open("outside", "support", "whatsapp", WA_ANN).await;
    t.advance(Duration::hours(24) + Duration::minutes(1));
    t.app.close("outside").await;
    let s = t.app.wait_for_status("outside", "sent").await;
    let template = t
        .graph
        .sent(MetaChannel::Whatsapp, WA_ANN)
        .last()
        .unwrap()
        .clone();
    assert_eq!(template["type"], "template", "{template}");
    assert_eq!(template["template"]["name"], "service_rating");
    // The second button is 👍.
    let payload = template["template"]["components"][1]["parameters"][0]["payload"]
        .as_str()
        .unwrap()
        .to_owned();
    let wamid = s["rating_request"]["platform_message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tap = t
        .graph
        .inbound()
        .whatsapp_template_button(WA_ANN, &payload, "👍", &wamid);
    assert_eq!(t.deliver(&tap).await.0, 200);
    assert_eq!(t.rating("outside").await["value"], 1);
    assert_eq!(t.violations(), Vec::<String>::new());
}

/// Outside the window, without a template, WhatsApp gets nothing either.
async fn whatsapp_without_a_template_ends_window_closed(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("support", json!({})).await;
    t.open("s-1", "support", "whatsapp", WA_ANN).await;
    t.client_writes(MetaChannel::Whatsapp, WA_ANN).await;
    t.advance(Duration::hours(24) + Duration::minutes(1));
    let (_, body) = t
        .app
        .post("/v1/sessions/s-1/close", json!({"closed_by": "timeout"}))
        .await;
    assert_eq!(body["rating_request"]["status"], "window_closed", "{body}");
    t.app.settle().await;
    assert!(t.graph.sent(MetaChannel::Whatsapp, WA_ANN).is_empty());
}

/// A request that the close already knows would be due after the window ends (the line's
/// delay passes it) ends `window_closed` at once; a CRM hears of it, and of a request the
/// platform failed later for the window, as `request.window_closed`.
async fn a_crm_hears_of_requests_the_window_closed(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.graph.whatsapp_window_errors_async(true);
    t.graph.add_user(MetaChannel::Whatsapp, WA_ANN);
    t.graph.add_user(MetaChannel::Whatsapp, WA_BOB);
    t.line("support", json!({"rating": {"delay_seconds": 120}}))
        .await;
    let crm = crate::common::Connector::start().await;
    let (status, body) = t
        .app
        .put(
            "/v1/subscriptions/crm",
            json!({"url": crm.url, "secret": crate::common::SECRET,
                   "events": ["request.window_closed"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    t.open("s-1", "support", "whatsapp", WA_ANN).await;
    t.client_writes(MetaChannel::Whatsapp, WA_ANN).await;
    t.advance(Duration::hours(24) - Duration::minutes(1));
    let (_, body) = t
        .app
        .post("/v1/sessions/s-1/close", json!({"closed_by": "timeout"}))
        .await;
    assert_eq!(body["rating_request"]["status"], "window_closed", "{body}");
    let event = &crm.wait_for(1).await[0];
    assert!(event.signature_ok);
    assert_eq!(event.body["type"], "request.window_closed");
    assert_eq!(event.body["session"]["channel"], "whatsapp");
    assert_eq!(event.body["request"]["status"], "window_closed");
    assert_eq!(event.body["request_id"], body["rating_request"]["id"]);

    // Accepted, then failed by WhatsApp for the window (131047).
    t.line("support", json!({"rating": {"delay_seconds": 0}}))
        .await;
    t.open("s-2", "support", "whatsapp", WA_BOB).await;
    let (status, _) = t
        .app
        .post("/v1/sessions/s-2/messages", json!({"from": "client"}))
        .await;
    assert_eq!(status, 202);
    let request = t.app.close("s-2").await;
    t.app.wait_for_status("s-2", "sent").await;
    let statuses = t.graph.take_async_statuses();
    assert_eq!(t.deliver(&statuses[0]).await.0, 200);
    let got = crm.wait_for(2).await;
    assert_eq!(got[1].body["request_id"], request.as_str());
    assert_eq!(got[1].body["type"], "request.window_closed");
    assert!(
        got[1].body["request"]["error"]
            .as_str()
            .unwrap()
            .contains("131047"),
        "{}",
        got[1].body
    );
}

/// WhatsApp may accept a message and fail it later for the window (131047), when the
/// contact center reported a client message Meta does not count.
async fn a_late_window_failure_ends_the_request_window_closed(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.graph.whatsapp_window_errors_async(true);
    t.graph.add_user(MetaChannel::Whatsapp, WA_ANN);
    t.line("support", json!({})).await;
    t.open("s-1", "support", "whatsapp", WA_ANN).await;
    let (status, _) = t
        .app
        .post("/v1/sessions/s-1/messages", json!({"from": "client"}))
        .await;
    assert_eq!(status, 202);
    t.app.close("s-1").await;
    t.app.wait_for_status("s-1", "sent").await;
    let statuses = t.graph.take_async_statuses();
    assert_eq!(statuses.len(), 1);
    assert_eq!(t.deliver(&statuses[0]).await.0, 200);
    let s = t.app.session("s-1").await;
    assert_eq!(s["rating_request"]["status"], "window_closed", "{s}");
    assert!(
        s["rating_request"]["last_error"]
            .as_str()
            .unwrap()
            .contains("131047"),
        "{s}"
    );
}

async fn unsigned_and_missigned_webhooks_store_nothing(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("support", json!({})).await;
    t.asked("s-1", "support", MetaChannel::Messenger, ANN).await;
    let up = t.payload(MetaChannel::Messenger, ANN, "👍");
    let (body, signature) = t.graph.inbound().messenger_quick_reply(ANN, "👍", &up);

    let (status, err) = t.deliver_signed(&body, None).await;
    assert_eq!(status, 401, "{err}");
    assert_eq!(err["error"]["code"], "bad_signature");
    let forged = rateline_testkit::meta::sign_with("not-the-app-secret", &body);
    assert_eq!(t.deliver_signed(&body, Some(&forged)).await.0, 401);
    // The right signature over other bytes (one space added) does not pass either.
    assert_eq!(
        t.deliver_signed(&format!("{body} "), Some(&signature))
            .await
            .0,
        401
    );
    assert_eq!(t.rating("s-1").await, Value::Null, "nothing stored");
    assert_eq!(t.deliver_signed(&body, Some(&signature)).await.0, 200);
    assert_eq!(t.rating("s-1").await["value"], 1);

    // Meta's subscription check.
    let verify = |token: &str| {
        format!(
            "/channels/meta/webhook?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
        )
    };
    let resp = t
        .app
        .http
        .get(t.app.url(&verify(VERIFY_TOKEN)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "1158201444");
    let resp = t
        .app
        .http
        .get(t.app.url(&verify("wrong")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

/// One payload, two entries, several events: all handled; an answer from another sender
/// than the request's client stores nothing.
async fn every_event_of_a_batch_is_handled_and_only_the_client_answers(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("support", json!({})).await;
    t.open("s-ann", "support", "messenger", ANN).await;
    t.open("s-bob", "support", "messenger", BOB).await;
    for user in [ANN, BOB] {
        t.client_writes(MetaChannel::Messenger, user).await;
    }
    t.app.close("s-ann").await;
    t.app.close("s-bob").await;
    t.app.wait_for_status("s-ann", "sent").await;
    t.app.wait_for_status("s-bob", "sent").await;
    let ann_up = t.payload(MetaChannel::Messenger, ANN, "👍");

    // Bob sends Ann's payload: refused. Then a batch: Ann taps 👍, Bob types "0".
    let stolen = t.graph.inbound().messenger_quick_reply(BOB, "👍", &ann_up);
    assert_eq!(t.deliver(&stolen).await.0, 200);
    assert_eq!(t.rating("s-ann").await, Value::Null);
    assert_eq!(t.rating("s-bob").await, Value::Null);

    let batch = messenger_batch(vec![
        t.graph
            .inbound()
            .messenger_quick_reply_event(ANN, "👍", &ann_up),
        t.graph.inbound().messenger_text_event(BOB, "0"),
    ]);
    let (status, body) = t.deliver(&batch).await;
    assert_eq!((status, body["events"].clone()), (200, json!(2)));
    assert_eq!(t.rating("s-ann").await["value"], 1);
    assert_eq!(t.rating("s-bob").await["value"], 0);
}

async fn graph_errors_map_to_statuses(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("support", json!({})).await;
    let users = ["4001", "4002", "4003", "4004"];
    for (i, user) in users.iter().enumerate() {
        t.open(&format!("s-{i}"), "support", "messenger", user)
            .await;
        t.client_writes(MetaChannel::Messenger, user).await;
    }
    // 551: the person is unavailable.
    t.graph
        .set_user_unavailable(MetaChannel::Messenger, users[0], true);
    t.app.close("s-0").await;
    let s = t.app.wait_for_status("s-0", "undeliverable").await;
    assert!(
        s["rating_request"]["last_error"]
            .as_str()
            .unwrap()
            .contains("551"),
        "{s}"
    );

    // 613: throttled, retried.
    t.graph
        .fail_next(MetaChannel::Messenger, Fault::rate_limited(613));
    t.app.close("s-1").await;
    t.graph
        .wait_for(|g| g.calls().iter().any(|c| c.error_code == Some(613)))
        .await;
    t.app.wait_for_status("s-1", "scheduled").await;
    t.advance(Duration::seconds(2));
    t.app.wait_for_status("s-1", "sent").await;

    // 5xx: retried with backoff.
    t.graph
        .fail_next(MetaChannel::Messenger, Fault::server_error());
    t.app.close("s-2").await;
    t.graph
        .wait_for(|g| g.calls().iter().any(|c| c.status == 500))
        .await;
    t.app.wait_for_status("s-2", "scheduled").await;
    t.advance(Duration::seconds(2));
    t.app.wait_for_status("s-2", "sent").await;

    // 190: the token is refused: failed, never retried.
    t.graph
        .fail_next(MetaChannel::Messenger, Fault::invalid_token());
    t.app.close("s-3").await;
    let s = t.app.wait_for_status("s-3", "failed").await;
    let error = s["rating_request"]["last_error"].as_str().unwrap();
    assert!(error.contains("190"), "{s}");
    assert!(!error.contains(PAGE_TOKEN), "the token reached an error");
}

/// The window belongs to the client: a message that arrives before the contact center has
/// opened the session still opens it, and only messages to our own account count.
async fn the_window_opens_before_the_session_and_only_for_our_account(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("support", json!({})).await;
    t.client_writes(MetaChannel::Messenger, ANN).await;
    t.advance(Duration::minutes(5));
    t.open("s-ann", "support", "messenger", ANN).await;
    t.app.close("s-ann").await;
    t.app.wait_for_status("s-ann", "sent").await;

    // Bob writes to another Page of the same app: not ours, the window stays closed.
    let (body, _) = t.graph.inbound().messenger_text(BOB, "hi");
    let other_page = body.replace(PAGE_ID, "999000111222333");
    let signed = rateline_testkit::meta::sign(&other_page);
    assert_eq!(t.deliver_signed(&other_page, Some(&signed)).await.0, 200);
    t.open("s-bob", "support", "messenger", BOB).await;
    t.app.close("s-bob").await;
    t.app.wait_for_status("s-bob", "window_closed").await;
}

/// Meta may deliver an old tap again after the client changed their mind: the newer answer
/// stays.
async fn an_old_tap_delivered_again_does_not_undo_a_newer_one(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("support", json!({})).await;
    t.asked("s-1", "support", MetaChannel::Messenger, ANN).await;
    let down = t.payload(MetaChannel::Messenger, ANN, "👎");
    let up = t.payload(MetaChannel::Messenger, ANN, "👍");
    let first = t.graph.inbound().messenger_quick_reply(ANN, "👎", &down);
    assert_eq!(t.deliver(&first).await.0, 200);
    t.advance(Duration::minutes(1));
    let second = t.graph.inbound().messenger_quick_reply(ANN, "👍", &up);
    assert_eq!(t.deliver(&second).await.0, 200);
    assert_eq!(t.deliver(&first).await.0, 200);
    let rating = t.rating("s-1").await;
    assert_eq!(
        (rating["value"].clone(), rating["changes"].clone()),
        (json!(1), json!(1))
    );
}

/// A response goes to a Meta client only inside the 24-hour window: sent while the client's
/// last message is recent, `window_closed` (and nothing sent) once it is not.
async fn a_response_to_a_meta_client_keeps_the_24_hour_window(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("support", json!({})).await;
    t.asked("s-1", "support", MetaChannel::Messenger, ANN).await;
    let down = t.payload(MetaChannel::Messenger, ANN, "👎");
    let tap = t.graph.inbound().messenger_quick_reply(ANN, "👎", &down);
    assert_eq!(t.deliver(&tap).await.0, 200);
    let rating = t.rating("s-1").await["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/ratings/{rating}/response");
    let delivered = async |want: &str| {
        for _ in 0..500 {
            let d = t.rating("s-1").await["response"]["delivery"].clone();
            if d["status"] == want {
                return d;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the response's delivery never became {want}");
    };

    let before = t.graph.sent(MetaChannel::Messenger, ANN).len();
    let (status, body) = t
        .app
        .put(
            &path,
            json!({"text": "We are sorry. Your refund is on its way.", "send_to_client": true}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    delivered("sent").await;
    let sent = t.graph.sent(MetaChannel::Messenger, ANN);
    assert_eq!(sent.len(), before + 1);
    assert_eq!(
        sent.last().unwrap()["message"]["text"],
        "We are sorry. Your refund is on its way."
    );
    assert!(
        !is_request(sent.last().unwrap()),
        "a response has no buttons"
    );

    // A day later the window has closed: the edited response, sent as a second message
    // (`If-Match` confirms it), is kept but not sent.
    t.advance(Duration::hours(24) + Duration::minutes(1));
    let resp = t
        .app
        .request(reqwest::Method::PUT, &path)
        .header("if-match", "\"1\"")
        .json(&json!({"text": "The refund was sent today.", "send_to_client": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let d = delivered("window_closed").await;
    assert!(
        d["last_error"].as_str().unwrap().contains("24 hours"),
        "{d}"
    );
    assert_eq!(t.graph.sent(MetaChannel::Messenger, ANN).len(), before + 1);
    assert_eq!(
        t.rating("s-1").await["response"]["text"],
        "The refund was sent today."
    );
    assert_eq!(t.violations(), Vec::<String>::new());
}

crate::common::on_both_backends!(
    a_reminder_keeps_to_the_24_hour_window,
    reasons_are_asked_after_a_low_rating,
    the_follow_ups_are_asked_in_turn,
    a_response_to_a_meta_client_keeps_the_24_hour_window,
    whatsapp_without_a_template_ends_window_closed,
    a_crm_hears_of_requests_the_window_closed,
    the_window_opens_before_the_session_and_only_for_our_account,
    an_old_tap_delivered_again_does_not_undo_a_newer_one,
    messenger_quick_replies_are_answered_once,
    the_24_hour_window_is_kept,
    the_window_is_checked_again_right_before_sending,
    instagram_five_stars_by_quick_reply_and_by_text,
    whatsapp_buttons_lists_and_statuses,
    whatsapp_uses_the_template_only_outside_the_window,
    a_late_window_failure_ends_the_request_window_closed,
    unsigned_and_missigned_webhooks_store_nothing,
    every_event_of_a_batch_is_handled_and_only_the_client_answers,
    graph_errors_map_to_statuses,
);
