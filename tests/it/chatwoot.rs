//! The Chatwoot channel end to end: the real server and database, a fake Chatwoot that
//! enforces its API's shapes, auth and errors and renders `input_select` as each inbox does,
//! and account webhooks shaped and signed like Chatwoot's.
//!
//! The fake's clock follows the server's manual clock, so signatures are fresh and the
//! line's delay is exact.

use crate::changes::tagged;
use crate::common::{Db, TestApp, helpdesk_entry, start_time, test_settings};
use chrono::Duration;
use rateline::clock::ManualClock;
use rateline_domain::ChatwootSettings;
use rateline_testkit::chatwoot::{
    ACCOUNT_ID, ANNA, API_TOKEN, BORIS, Conversation, EMAIL_INBOX, FakeChatwoot, Fault,
    OTHER_INBOX, SMS_INBOX, TELEGRAM_INBOX, TWILIO_WHATSAPP_INBOX, WEBHOOK_SECRET, WHATSAPP_INBOX,
    WIDGET_INBOX, Webhook,
};
use rateline_testkit::wait_until;
use serde_json::{Value, json};

struct Cw {
    app: TestApp,
    fake: FakeChatwoot,
}

async fn spawn(kind: Db) -> Option<Cw> {
    spawn_with(kind, |_| {}).await
}

async fn spawn_with(kind: Db, tweak: impl FnOnce(&mut ChatwootSettings)) -> Option<Cw> {
    start(kind, Some(tweak)).await
}

/// The account as the tests connect it: the fake's address, token and secret, five inboxes
/// mapped to lines, Anna credited as `anna`.
fn account_of(fake: &FakeChatwoot) -> ChatwootSettings {
    ChatwootSettings {
        url: fake.url(),
        api_token: Some(API_TOKEN.into()),
        webhook_secret: Some(WEBHOOK_SECRET.into()),
        allow_unsigned: false,
        inboxes: [
            (WIDGET_INBOX, "web"),
            (WHATSAPP_INBOX, "wa"),
            (TELEGRAM_INBOX, "tg"),
            (EMAIL_INBOX, "mail"),
            (SMS_INBOX, "sms"),
        ]
        .into_iter()
        .map(|(i, l)| (i.to_string(), l.to_owned()))
        .collect(),
        agents: [(ANNA.to_string(), "anna".to_owned())].into(),
        private_note: true,
        resolve_after_answer: true,
        rate_bot_conversations: true,
    }
}

/// A server with the lines `web`, `wa`, `tg`, `mail` and `sms` and a supervisor `sup` alerted on
/// each; with `file`, the account is in the config file, tweaked by it; without, no
/// account is connected.
async fn start(kind: Db, file: Option<impl FnOnce(&mut ChatwootSettings)>) -> Option<Cw> {
    let db = crate::common::TestDb::new(kind).await?;
    let fake = FakeChatwoot::start().await;
    fake.set_now(start_time());
    let mut settings = test_settings(&db);
    if let Some(tweak) = file {
        let mut account = account_of(&fake);
        tweak(&mut account);
        settings.chatwoot = vec![helpdesk_entry("account", ACCOUNT_ID, &account)];
    }
    settings.scheduler.send_timeout_seconds = 2;
    let clock = ManualClock::new(start_time());
    let connector = crate::common::Connector::start().await;
    let app = TestApp::start(db, settings, clock, connector).await;
    let t = Cw { app, fake };
    let (status, body) = t
        .app
        .put(
            "/v1/people/sup",
            json!({"name": "Sam", "role": "supervisor",
                   "notify": {"webhook_url": t.app.connector.url}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for line in ["web", "wa", "tg", "mail", "sms"] {
        let (status, body) = t
            .app
            .put(
                &format!("/v1/lines/{line}"),
                json!({"name": line, "rating": {"delay_seconds": 30, "alert_wait_seconds": 0},
                       "notify_low": [{"kind": "supervisor", "id": "sup"}]}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    Some(t)
}

fn session_of(c: &Conversation) -> String {
    format!("chatwoot-{ACCOUNT_ID}-{}", c.id)
}

impl Cw {
    /// Changes the rating settings of the line at `line` (`/v1/lines/{id}`) by `rating`.
    async fn set_rating(&self, line: &str, rating: Value) {
        let (status, body) = self
            .app
            .call("PATCH", line, Some(json!({ "rating": rating })))
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// Moves both clocks.
    fn advance(&self, d: Duration) {
        self.app.advance(d);
        self.fake.set_now(self.fake.now() + d);
    }

    /// Posts a webhook as Chatwoot does: the raw body and its headers.
    async fn deliver(&self, hook: &Webhook) -> (u16, Value) {
        let resp = hook
            .post_to(
                &self
                    .app
                    .url(&format!("/connectors/chatwoot/{ACCOUNT_ID}/webhook")),
            )
            .await;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Stops Rateline, lets `meanwhile` play Chatwoot (whose webhooks then reach nobody, and
    /// Chatwoot posts each only once), and starts Rateline again on the same database, with
    /// the account in its file.
    async fn restart(self, meanwhile: impl FnOnce(&FakeChatwoot)) -> Cw {
        self.restart_with(|_| {}, meanwhile).await
    }

    /// [`Cw::restart`], with the settings tweaked.
    async fn restart_with(
        self,
        tweak: impl FnOnce(&mut rateline::settings::Settings),
        meanwhile: impl FnOnce(&FakeChatwoot),
    ) -> Cw {
        let Cw { app, fake } = self;
        let (db, clock, connector) = app.stop().await;
        meanwhile(&fake);
        let mut settings = test_settings(&db);
        settings.chatwoot = vec![helpdesk_entry("account", ACCOUNT_ID, &account_of(&fake))];
        settings.scheduler.send_timeout_seconds = 2;
        tweak(&mut settings);
        let app = TestApp::start(db, settings, clock, connector).await;
        Cw { app, fake }
    }

    async fn deliver_ok(&self, hooks: impl IntoIterator<Item = Webhook>) {
        for hook in hooks {
            let (status, body) = self.deliver(&hook).await;
            assert_eq!(status, 200, "{body}");
        }
    }

    /// A conversation opened, written in by the client, assigned to `agent`, answered and
    /// resolved, as an agent works it.
    async fn worked_and_resolved(&self, inbox: u64, agent: u64) -> Conversation {
        let c = self.fake.open(inbox, "Ann Client");
        self.deliver_ok([self.fake.created(&c)]).await;
        self.deliver_ok(self.fake.client_writes(&c, "My order is late"))
            .await;
        self.deliver_ok([self.fake.assign(&c, agent)]).await;
        self.deliver_ok([self.fake.agent_writes(&c, agent, "It ships today")])
            .await;
        self.deliver_ok([self.fake.resolve(&c)]).await;
        c
    }

    /// The request's message in the conversation and its id, once it was posted.
    async fn request_in(&self, c: &Conversation) -> (u64, Value) {
        let fake = self.fake.clone();
        let conv = *c;
        wait_until(
            || fake.sent(&conv).iter().any(is_request),
            || {
                format!(
                    "no request in conversation {}: {:?}",
                    conv.id,
                    fake.sent(&conv)
                )
            },
        )
        .await;
        let sent = self.fake.sent(c);
        let ids = self.fake.sent_ids(c);
        let i = sent.iter().position(is_request).unwrap();
        (ids[i], sent[i].clone())
    }

    async fn rating(&self, c: &Conversation) -> Value {
        self.app.session(&session_of(c)).await["rating"].clone()
    }

    async fn wait_for_rating(&self, c: &Conversation, what: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let r = self.rating(c).await;
            if what(&r) {
                return r;
            }
            assert!(tokio::time::Instant::now() < deadline, "rating: {r:#}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    fn texts(&self, c: &Conversation) -> Vec<String> {
        self.fake
            .sent(c)
            .iter()
            .map(|m| m["content"].as_str().unwrap_or("").to_owned())
            .collect()
    }
}

/// Whether a posted message is the rating request: its question.
fn is_request(m: &Value) -> bool {
    m["content"]
        .as_str()
        .is_some_and(|c| c.starts_with("Please rate the quality of service"))
}

/// Whether a posted message asks for the thumbs as a typed digit.
fn asks_for_a_digit(m: &Value) -> bool {
    m["content"]
        .as_str()
        .is_some_and(|c| c.contains("Reply 1 for 👍 or 0 for 👎"))
}

fn titles(m: &Value) -> Vec<String> {
    m["content_attributes"]["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i["title"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The web widget: the request is posted after the line's delay as buttons; a tap comes
/// back as the message updated; the rating is the assignee's at the resolve, a low one
/// alerts, and agents see it as a private note.
async fn a_resolved_conversation_is_asked_in_it_and_a_tap_rates_the_assignee(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let c = t.worked_and_resolved(WIDGET_INBOX, BORIS).await;
    // An agent not mapped to a person is credited under their Chatwoot id.
    let session = t.app.session(&session_of(&c)).await;
    assert_eq!(
        session["rating_request"]["status"], "scheduled",
        "{session:#}"
    );
    assert_eq!(session["operator_id"], "chatwoot-8", "{session:#}");
    t.app.settle().await;
    assert!(
        !t.fake.sent(&c).iter().any(is_request),
        "asked before the line's delay"
    );
    t.advance(Duration::seconds(30));
    let (id, request) = t.request_in(&c).await;
    assert_eq!(request["content_type"], "input_select", "{request}");
    assert_eq!(titles(&request), ["👍", "👎"]);
    t.app.wait_for_status(&session_of(&c), "sent").await;

    t.deliver_ok(t.fake.tap(&c, id, 1)).await;
    let rating = t.wait_for_rating(&c, |r| r["value"] == 0).await;
    assert_eq!(rating["low"], true, "{rating:#}");
    let alerts = t
        .wait_for_rating(&c, |r| r["alerts"][0]["status"] == "sent")
        .await;
    assert_eq!(alerts["alerts"][0]["recipient"], "sup", "{alerts:#}");
    let note = t
        .fake
        .sent(&c)
        .into_iter()
        .find(|m| m["private"] == true)
        .expect("a private note");
    let text = note["content"].as_str().unwrap();
    assert!(text.contains("rated 👎"), "{text}");
    assert!(
        text.contains(&format!("/dashboard/sessions/{}", session_of(&c))),
        "{text}"
    );
    // A widget tap reopens nothing, and the thanks closes the card.
    assert_eq!(t.fake.status(&c), "resolved");
    assert!(
        t.texts(&c).iter().any(|m| m.starts_with("Thank you")),
        "{:?}",
        t.texts(&c)
    );
    assert_eq!(t.fake.rule_violations(), Vec::<String>::new());
}

/// WhatsApp with the inbox locked to one conversation: a tap comes back as the button's title
/// in a new client message, which reopens the conversation; Rateline resolves it again.
/// "Resolved?" and the comment follow by text; none of the answers counts as the client
/// writing again.
async fn whatsapp_answers_reopen_a_locked_inbox_and_it_is_resolved_again(kind: Db) {
    whatsapp_dialogue(kind, true).await;
}

/// WhatsApp with Chatwoot's default, no lock: each answer after a resolve comes in a new
/// conversation of the contact. The rating, "resolved?" and the comment all reach the resolved
/// conversation's session; each new conversation gets the next question, a note, and is
/// resolved; none is rated itself.
async fn whatsapp_answers_in_new_conversations_complete_one_rating(kind: Db) {
    whatsapp_dialogue(kind, false).await;
}

async fn whatsapp_dialogue(kind: Db, locked: bool) {
    let Some(t) = spawn(kind).await else { return };
    t.fake.lock_to_single_conversation(WHATSAPP_INBOX, locked);
    // A question longer than WhatsApp's 1,024 characters for a body with buttons.
    t.set_rating(
        "/v1/lines/wa",
        json!({"scale": "five_star", "ask_resolved": true, "ask_comment_on_low": true,
               "request_text": format!(
                   "Please rate the quality of service. {}", "We care. ".repeat(150))}),
    )
    .await;
    let c = t.worked_and_resolved(WHATSAPP_INBOX, ANNA).await;
    t.advance(Duration::seconds(30));
    let (id, request) = t.request_in(&c).await;
    assert_eq!(titles(&request), ["5 ★", "4 ★", "3 ★", "2 ★", "1 ★"]);
    t.app.wait_for_status(&session_of(&c), "sent").await;

    t.deliver_ok(t.fake.tap(&c, id, 3)).await; // "2 ★"
    t.wait_for_rating(&c, |r| r["value"] == 2).await;
    assert_eq!(t.app.session(&session_of(&c)).await["operator_id"], "anna");
    // The answer reopened it, or came in a new one; Rateline resolved it.
    let here = t.fake.latest(&c);
    assert_eq!(here == c, locked, "{here:?}");
    t.fake.wait_for(|f| f.status(&here) == "resolved").await;
    t.deliver_ok(t.fake.take_status_webhooks()).await;

    // "Resolved?" as buttons where the answer was; the tap comes back as "No".
    let (question, asked) = {
        let sent = t.fake.sent(&here);
        let ids = t.fake.sent_ids(&here);
        let i = sent
            .iter()
            .rposition(|m| titles(m) == ["Yes", "No"])
            .expect("resolved? asked");
        (ids[i], sent[i].clone())
    };
    assert_eq!(asked["content"], "Was your issue resolved?");
    t.deliver_ok(t.fake.tap(&here, question, 1)).await;
    t.wait_for_rating(&c, |r| r["resolved"] == false).await;
    t.deliver_ok(t.fake.take_status_webhooks()).await;
    // The comment is the client's next message.
    t.advance(Duration::seconds(20));
    t.deliver_ok(t.fake.client_writes(&c, "Nobody answered for an hour"))
        .await;
    let rating = t
        .wait_for_rating(&c, |r| r["comment"] == "Nobody answered for an hour")
        .await;
    assert_eq!(rating["value"], 2, "{rating:#}");
    t.deliver_ok(t.fake.take_status_webhooks()).await;
    let all = t.fake.all(&c);
    // Locked, one conversation; otherwise one more for each of the three answers.
    assert_eq!(all.len(), if locked { 1 } else { 4 }, "{all:?}");
    for conversation in &all {
        assert_eq!(t.fake.status(conversation), "resolved", "{conversation:?}");
    }
    // None of it reopened the session or made another request.
    let session = t.app.session(&session_of(&c)).await;
    assert!(session["closed_at"].is_string(), "{session:#}");
    assert_eq!(session["rating_request"]["status"], "answered");
    for answer in &all[1..] {
        let (status, body) = t
            .app
            .get(&format!("/v1/sessions/{}", session_of(answer)))
            .await;
        assert_eq!(
            status, 404,
            "an answer's conversation became a session: {body}"
        );
        let notes = private_notes(&t, answer);
        assert!(
            notes[0].contains(&format!("rating request of conversation #{}", c.id)),
            "{notes:?}"
        );
    }
    let rating_notes = all
        .iter()
        .flat_map(|conversation| private_notes(&t, conversation))
        .filter(|n| !n.contains("the client's answer to the rating request"))
        .collect::<Vec<_>>();
    assert_eq!(
        rating_notes.len(),
        1,
        "one note, when the rating is complete: {rating_notes:?}"
    );
    let text = &rating_notes[0];
    assert!(
        text.contains("2 ★") && text.contains("Resolved: no"),
        "{text}"
    );
    assert!(text.contains("Nobody answered for an hour"), "{text}");
    t.advance(Duration::seconds(60));
    t.app.settle().await;
    let requests: usize = all
        .iter()
        .map(|conversation| {
            t.fake
                .sent(conversation)
                .iter()
                .filter(|m| is_request(m))
                .count()
        })
        .sum();
    assert_eq!(requests, 1);
    assert_eq!(t.fake.rule_violations(), Vec::<String>::new());
}

/// The private notes posted into a conversation, in order.
fn private_notes(t: &Cw, c: &Conversation) -> Vec<String> {
    t.fake
        .sent(c)
        .into_iter()
        .filter(|m| m["private"] == true)
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// With Chatwoot's defaults, a WhatsApp list reply, a Telegram tap and an SMS digit each come
/// in a new conversation and rate the resolved one, credited to the agent who resolved it. A
/// new conversation whose first message answers nothing is a session of its own.
async fn with_chatwoots_defaults_answers_in_new_conversations_rate_the_resolved_one(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.set_rating("/v1/lines/wa", json!({"scale": "five_star"}))
        .await;
    let wa = t.worked_and_resolved(WHATSAPP_INBOX, ANNA).await;
    let tg = t.worked_and_resolved(TELEGRAM_INBOX, ANNA).await;
    let sms = t.worked_and_resolved(SMS_INBOX, ANNA).await;
    t.advance(Duration::seconds(30));
    for c in [&wa, &tg, &sms] {
        t.request_in(c).await;
        t.app.wait_for_status(&session_of(c), "sent").await;
    }
    let (_, question) = t.request_in(&sms).await;
    assert!(asks_for_a_digit(&question), "{question}");
    let (id, request) = t.request_in(&wa).await;
    assert_eq!(titles(&request).len(), 5, "a list: {request}");
    t.deliver_ok(t.fake.tap(&wa, id, 1)).await; // "4 ★"
    let (id, _) = t.request_in(&tg).await;
    t.deliver_ok(t.fake.tap(&tg, id, 0)).await; // 👍
    t.deliver_ok(t.fake.client_writes(&sms, "0")).await; // 👎
    for (c, value) in [(&wa, 4), (&tg, 1), (&sms, 0)] {
        let rating = t.wait_for_rating(c, |r| r["value"] == value).await;
        let session = t.app.session(&session_of(c)).await;
        assert_eq!(session["operator_id"], "anna", "{session:#}");
        assert_eq!(
            session["rating_request"]["status"], "answered",
            "{rating:#}"
        );
        let answer = t.fake.latest(c);
        assert_ne!(answer, *c, "Chatwoot opened no new conversation");
        t.fake.wait_for(|f| f.status(&answer) == "resolved").await;
        assert_eq!(t.fake.status(c), "resolved");
        let (status, body) = t
            .app
            .get(&format!("/v1/sessions/{}", session_of(&answer)))
            .await;
        assert_eq!(status, 404, "{body}");
        assert!(
            private_notes(&t, &answer)
                .iter()
                .any(|n| n.contains(&format!("conversation #{}", c.id))),
            "{:?}",
            private_notes(&t, &answer)
        );
    }
    // Rateline's own resolves come back as events and change nothing.
    t.deliver_ok(t.fake.take_status_webhooks()).await;

    // Later, a new problem in a new conversation is a session of its own, rated in its turn.
    t.advance(Duration::minutes(20));
    let before = t.fake.all(&tg).len();
    t.deliver_ok(t.fake.client_writes(&tg, "My second order is late too"))
        .await;
    let next = t.fake.latest(&tg);
    assert_eq!(t.fake.all(&tg).len(), before + 1);
    let session = t.app.session(&session_of(&next)).await;
    assert_eq!(session["line_id"], "tg", "{session:#}");
    t.deliver_ok([t.fake.assign(&next, ANNA)]).await;
    t.deliver_ok([t.fake.resolve(&next)]).await;
    t.advance(Duration::seconds(30));
    t.request_in(&next).await;
    assert_eq!(t.fake.rule_violations(), Vec::<String>::new());
}

/// Chatwoot's jobs may deliver events out of order. An event older than one applied neither
/// re-credits the conversation nor closes it again; a redelivery of the newest still applies.
async fn an_event_older_than_one_applied_changes_nothing(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let c = t.fake.open(WIDGET_INBOX, "Ann Client");
    t.deliver_ok([t.fake.created(&c)]).await;
    t.deliver_ok(t.fake.client_writes(&c, "My order is late"))
        .await;
    let to_anna = t.fake.assign(&c, ANNA);
    t.advance(Duration::seconds(1));
    let to_boris = t.fake.assign(&c, BORIS);
    t.deliver_ok([to_boris.clone()]).await;
    crate::common::assert_stale(t.deliver(&to_anna).await);
    assert_eq!(
        t.app.session(&session_of(&c)).await["operator_id"],
        "chatwoot-8"
    );
    t.deliver_ok([to_boris]).await;

    // Resolved, then reopened within the same second; the resolve arrives last.
    t.advance(Duration::milliseconds(300));
    let resolved = t.fake.resolve(&c);
    t.advance(Duration::milliseconds(300));
    let reopened = t.fake.reopen(&c);
    t.deliver_ok([reopened]).await;
    crate::common::assert_stale(t.deliver(&resolved).await);
    t.advance(Duration::seconds(60));
    t.app.settle().await;
    let session = t.app.session(&session_of(&c)).await;
    assert_eq!(
        session["closed_at"],
        Value::Null,
        "closed by a stale resolve: {session:#}"
    );
    assert!(!t.fake.sent(&c).iter().any(is_request));

    // The real resolve closes it, credited to Boris.
    t.deliver_ok([t.fake.resolve(&c)]).await;
    let session = t.app.session(&session_of(&c)).await;
    assert!(session["closed_at"].is_string(), "{session:#}");
    assert_eq!(session["operator_id"], "chatwoot-8");
    t.advance(Duration::seconds(30));
    t.request_in(&c).await;
}

/// A new conversation of the contact in another inbox of the same kind, rated on another
/// line (here none), is not taken for the answer: only the same kind of inbox on the same
/// line is.
async fn a_digit_in_another_inbox_is_not_the_answer(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let c = t.worked_and_resolved(WIDGET_INBOX, ANNA).await;
    t.advance(Duration::seconds(30));
    t.request_in(&c).await;
    t.app.wait_for_status(&session_of(&c), "sent").await;
    let elsewhere = t.fake.open_for(OTHER_INBOX, c.contact);
    t.deliver_ok([t.fake.created(&elsewhere)]).await;
    t.deliver_ok(t.fake.client_writes(&elsewhere, "1")).await;
    t.app.settle().await;
    assert!(t.rating(&c).await.is_null(), "answered from another inbox");
    assert_eq!(
        t.app.session(&session_of(&c)).await["rating_request"]["status"],
        "sent"
    );
    assert!(
        t.fake.sent(&elsewhere).is_empty(),
        "{:?}",
        t.fake.sent(&elsewhere)
    );
}

/// Telegram sends the button's value back; e-mail gets the question as text and takes a
/// typed digit.
async fn telegram_taps_and_typed_digits_both_answer(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let tg = t.worked_and_resolved(TELEGRAM_INBOX, ANNA).await;
    let mail = t.worked_and_resolved(EMAIL_INBOX, ANNA).await;
    t.advance(Duration::seconds(30));
    let (id, _) = t.request_in(&tg).await;
    t.app.wait_for_status(&session_of(&tg), "sent").await;
    t.deliver_ok(t.fake.tap(&tg, id, 0)).await;
    t.wait_for_rating(&tg, |r| r["value"] == 1).await;

    let (_, question) = t.request_in(&mail).await;
    assert!(
        question.get("content_type").is_none_or(|c| c == "text"),
        "{question}"
    );
    assert!(asks_for_a_digit(&question), "{question}");
    t.app.wait_for_status(&session_of(&mail), "sent").await;
    t.deliver_ok(t.fake.client_writes(&mail, "0")).await;
    t.wait_for_rating(&mail, |r| r["value"] == 0).await;
    assert_eq!(t.fake.rule_violations(), Vec::<String>::new());
}

/// The client writing again before the request is due cancels it; resolved again, the
/// conversation is asked then, and once: a third resolve asks nothing more.
async fn writing_again_cancels_and_a_conversation_is_asked_at_most_once(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let c = t.worked_and_resolved(WIDGET_INBOX, ANNA).await;
    t.advance(Duration::seconds(10));
    t.deliver_ok(t.fake.client_writes(&c, "One more thing"))
        .await;
    let session = t.app.session(&session_of(&c)).await;
    assert_eq!(
        session["rating_request"]["status"], "cancelled",
        "{session:#}"
    );
    t.advance(Duration::seconds(60));
    t.app.settle().await;
    assert!(!t.fake.sent(&c).iter().any(is_request));

    t.deliver_ok([t.fake.resolve(&c)]).await;
    t.advance(Duration::seconds(30));
    let (id, _) = t.request_in(&c).await;
    t.app.wait_for_status(&session_of(&c), "sent").await;
    t.deliver_ok(t.fake.tap(&c, id, 0)).await;
    t.wait_for_rating(&c, |r| r["value"] == 1).await;

    // Reopened, written in and resolved again: no second request.
    t.deliver_ok([t.fake.reopen(&c)]).await;
    t.deliver_ok(t.fake.client_writes(&c, "Thanks again!"))
        .await;
    t.deliver_ok([t.fake.resolve(&c)]).await;
    t.advance(Duration::seconds(60));
    t.app.settle().await;
    let requests = t.fake.sent(&c).iter().filter(|m| is_request(m)).count();
    assert_eq!(requests, 1, "{:?}", t.texts(&c));
    assert_eq!(
        t.app.session(&session_of(&c)).await["rating_request"]["status"],
        "answered"
    );
}

/// Forged, stale and unsigned calls, and calls for an account not configured, store
/// nothing; an unmapped inbox is let go with its reason; a tap from another conversation
/// and a message from another contact are not the answer.
async fn refused_and_foreign_events_store_nothing(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let c = t.fake.open(WIDGET_INBOX, "Ann Client");
    let created = t.fake.created(&c);
    for (hook, code) in [
        (created.signed_with("not-the-secret"), "bad_signature"),
        (created.tampered(), "bad_signature"),
        (created.unsigned(), "bad_signature"),
        (created.stale(600), "stale_webhook"),
    ] {
        let (status, body) = t.deliver(&hook).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
    }
    let resp = created
        .post_to(&t.app.url("/connectors/chatwoot/99/webhook"))
        .await;
    assert_eq!(resp.status().as_u16(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "connector_not_found", "{body}");
    let (status, _) = t.app.get(&format!("/v1/sessions/{}", session_of(&c))).await;
    assert_eq!(status, 404, "a refused call opened a session");

    let other = t.fake.open(OTHER_INBOX, "Olga Other");
    let (status, body) = t.deliver(&t.fake.created(&other)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["applied"], false, "{body}");
    assert!(
        body["ignored"].as_str().unwrap().contains("chatwoot-5"),
        "{body}"
    );

    // Two conversations asked; the first one's button tapped in the second is refused.
    let a = t.worked_and_resolved(WIDGET_INBOX, ANNA).await;
    let b = t.worked_and_resolved(TELEGRAM_INBOX, ANNA).await;
    t.advance(Duration::seconds(30));
    let (_, request_a) = t.request_in(&a).await;
    t.request_in(&b).await;
    t.app.wait_for_status(&session_of(&b), "sent").await;
    let foreign = request_a["content_attributes"]["items"][0]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    t.deliver_ok(t.fake.client_writes(&b, &foreign)).await;
    t.app.settle().await;
    assert!(t.rating(&a).await.is_null());
    assert!(t.rating(&b).await.is_null());
    assert_eq!(t.fake.rule_violations(), Vec::<String>::new());
}

/// Chatwoot's 429 and 5xx are retried; a 401 holds the request back without using its
/// attempts, and it goes once the token works again.
async fn chatwoot_errors_are_retried_or_held_back(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let c = t.worked_and_resolved(WIDGET_INBOX, ANNA).await;
    t.fake.fail_next(Fault::RateLimited { retry_after: 7 });
    t.advance(Duration::seconds(30));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let s = t.app.session(&session_of(&c)).await;
        if s["rating_request"]["attempts"] == 1 && s["rating_request"]["status"] == "scheduled" {
            assert!(
                s["rating_request"]["last_error"]
                    .as_str()
                    .unwrap()
                    .contains("429"),
                "{s:#}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{s:#}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    t.fake.fail_next(Fault::ServerError);
    t.advance(Duration::seconds(7));
    t.app.settle().await;
    t.advance(Duration::seconds(60));
    t.request_in(&c).await;
    let s = t.app.wait_for_status(&session_of(&c), "sent").await;
    assert_eq!(s["rating_request"]["attempts"], 3, "{s:#}");

    // A 401: held back, attempts untouched, sent once the token works.
    let d = t.worked_and_resolved(WIDGET_INBOX, ANNA).await;
    t.fake.fail_next(Fault::Unauthorized);
    t.advance(Duration::seconds(30));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let s = t.app.session(&session_of(&d)).await;
        if s["rating_request"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("api_token"))
        {
            assert_eq!(s["rating_request"]["status"], "scheduled", "{s:#}");
            assert_eq!(s["rating_request"]["attempts"], 0, "{s:#}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{s:#}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    t.advance(Duration::minutes(5));
    t.request_in(&d).await;
    t.app.wait_for_status(&session_of(&d), "sent").await;
}

/// A restart with requests pending loses nothing: the request due while the server was
/// down is posted after it comes back, once.
async fn a_restart_with_requests_pending_loses_nothing(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let c = t.worked_and_resolved(WIDGET_INBOX, ANNA).await;
    let Cw { app, fake } = t;
    let (db, clock, connector) = app.stop().await;
    clock.advance(Duration::seconds(45));
    fake.set_now(fake.now() + Duration::seconds(45));
    let mut settings = test_settings(&db);
    let account = ChatwootSettings {
        url: fake.url(),
        api_token: Some(API_TOKEN.into()),
        webhook_secret: Some(WEBHOOK_SECRET.into()),
        allow_unsigned: false,
        inboxes: [(WIDGET_INBOX.to_string(), "web".to_owned())].into(),
        agents: Default::default(),
        private_note: false,
        resolve_after_answer: true,
        rate_bot_conversations: true,
    };
    settings.chatwoot = vec![helpdesk_entry("account", ACCOUNT_ID, &account)];
    let app = TestApp::start(db, settings, clock, connector).await;
    let t = Cw { app, fake };
    let (id, _) = t.request_in(&c).await;
    t.app.wait_for_status(&session_of(&c), "sent").await;
    t.deliver_ok(t.fake.tap(&c, id, 0)).await;
    t.wait_for_rating(&c, |r| r["value"] == 1).await;
    t.app.settle().await;
    assert_eq!(t.fake.sent(&c).iter().filter(|m| is_request(m)).count(), 1);
}

/// An account that allows unsigned calls (a Chatwoot release that signs none) takes them;
/// a signed call is still checked.
async fn unsigned_calls_are_taken_only_where_allowed(kind: Db) {
    let Some(t) = spawn_with(kind, |a| {
        a.webhook_secret = None;
        a.allow_unsigned = true;
    })
    .await
    else {
        return;
    };
    let c = t.fake.open(WIDGET_INBOX, "Ann Client");
    let (status, body) = t.deliver(&t.fake.created(&c).unsigned()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["applied"], true, "{body}");
    assert_eq!(t.app.session(&session_of(&c)).await["line_id"], "web");
}

/// Admins see each connector, with the webhook URL to paste into Chatwoot, over the API
/// and on the Helpdesks page; no token or secret is shown, and a supervisor sees nothing.
async fn admins_see_the_connector_and_its_webhook_url(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let (status, body) = t.app.get("/v1/connectors").await;
    assert_eq!(status, 200, "{body}");
    let c = &body["chatwoot"][0];
    assert_eq!(c["helpdesk"], "chatwoot", "{body}");
    assert_eq!(c["id"], "1", "{body}");
    assert_eq!(c["signed"], true, "{body}");
    assert_eq!(c["has_api_token"], true, "{body}");
    assert_eq!(c["managed_by"], "config", "{body}");
    assert_eq!(c["inboxes"][WIDGET_INBOX.to_string()], "web", "{body}");
    assert_eq!(body["zammad"], json!([]), "{body}");
    let webhook = c["webhook_url"].as_str().unwrap().to_owned();
    assert!(
        webhook.ends_with("/connectors/chatwoot/1/webhook"),
        "{body}"
    );
    let listed = body.to_string();
    assert!(
        !listed.contains(API_TOKEN) && !listed.contains(WEBHOOK_SECRET),
        "{listed}"
    );

    let (status, page) = crate::dashboard::text(&t.app, "/dashboard/connectors", None).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&webhook), "{page}");
    assert!(page.contains("must be signed"), "{page}");
    assert!(
        !page.contains(API_TOKEN) && !page.contains(WEBHOOK_SECRET),
        "{page}"
    );

    let sam = crate::common::create_key(&t.app, &["--name", "Sam", "--role", "supervisor"]);
    let (status, body) = t
        .app
        .call_as(Some(&sam), "GET", "/v1/connectors", None)
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
}

/// With a secret set, allowing unsigned calls does not let one in.
async fn a_secret_makes_signing_required_even_where_unsigned_calls_are_allowed(kind: Db) {
    let Some(t) = spawn_with(kind, |a| a.allow_unsigned = true).await else {
        return;
    };
    let c = t.fake.open(WIDGET_INBOX, "Ann Client");
    let (status, body) = t.deliver(&t.fake.created(&c).unsigned()).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "bad_signature", "{body}");
    let (status, _) = t.app.get(&format!("/v1/sessions/{}", session_of(&c))).await;
    assert_eq!(status, 404);
    let (status, body) = t.deliver(&t.fake.created(&c)).await;
    assert_eq!(status, 200, "{body}");
}

const CONNECTOR: &str = "/v1/connectors/chatwoot/1";

/// An account connected over the API is used at once, with no restart: its webhook is
/// taken, its token calls Chatwoot, and a changed token or secret applies to the next call;
/// read back without the token or secret, each write a version; audited without them;
/// disconnected, its calls are refused.
async fn an_account_connected_over_the_api_is_used_at_once(kind: Db) {
    let Some(t) = start(kind, None::<fn(&mut ChatwootSettings)>).await else {
        return;
    };
    let c = t.fake.open(WIDGET_INBOX, "Ann Client");
    let (status, body) = t.deliver(&t.fake.created(&c)).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "connector_not_found", "{body}");

    // Connected with a token Chatwoot refuses.
    let mut account = account_of(&t.fake);
    account.api_token = Some("a-token-chatwoot-refuses".into());
    let body = serde_json::to_value(&account).unwrap();
    let (status, tag, body) = tagged(&t.app, "PUT", CONNECTOR, None, Some(body)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(tag.as_deref(), Some("\"1\""));
    assert_eq!(body["managed_by"], "api", "{body}");
    assert_eq!(body["has_api_token"], true, "{body}");
    assert_eq!(body["signed"], true, "{body}");
    assert_eq!(body["inboxes"][WIDGET_INBOX.to_string()], "web", "{body}");
    assert!(
        body["webhook_url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/connectors/chatwoot/1/webhook")),
        "{body}"
    );
    let (status, read) = t.app.get(CONNECTOR).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read, body);
    for shown in [&body, &read] {
        let text = shown.to_string();
        assert!(
            !text.contains("a-token-chatwoot-refuses") && !text.contains(WEBHOOK_SECRET),
            "{text}"
        );
    }

    // Its webhook is taken at once; the send is held back by the refused token.
    let c = t.worked_and_resolved(WIDGET_INBOX, ANNA).await;
    t.advance(Duration::seconds(30));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let s = t.app.session(&session_of(&c)).await;
        let error = s["rating_request"]["last_error"].as_str().unwrap_or("");
        if error.contains("api_token") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{s:#}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // The right token, one field changed: the request goes on the next try.
    let patch = json!({"api_token": API_TOKEN});
    let (status, tag, body) = tagged(&t.app, "PATCH", CONNECTOR, Some("\"1\""), Some(patch)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(tag.as_deref(), Some("\"2\""));
    assert_eq!(body["inboxes"][WIDGET_INBOX.to_string()], "web", "{body}");
    t.advance(Duration::minutes(5));
    t.request_in(&c).await;
    t.app.wait_for_status(&session_of(&c), "sent").await;

    // A stale version changes nothing and says which is current.
    let patch = json!({"private_note": false});
    let (status, tag, body) = tagged(&t.app, "PATCH", CONNECTOR, Some("\"1\""), Some(patch)).await;
    assert_eq!(status, 412, "{body}");
    assert_eq!(body["error"]["code"], "precondition_failed", "{body}");
    assert_eq!(tag.as_deref(), Some("\"2\""));

    // A new secret: calls signed with the old one are refused from the next call on.
    let (status, body) = t
        .app
        .call(
            "PATCH",
            CONNECTOR,
            Some(json!({"webhook_secret": "a-new-webhook-secret"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let d = t.fake.open(WIDGET_INBOX, "Dan Client");
    let (status, body) = t.deliver(&t.fake.created(&d)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "bad_signature", "{body}");
    let (status, body) = t
        .deliver(&t.fake.created(&d).signed_with("a-new-webhook-secret"))
        .await;
    assert_eq!(status, 200, "{body}");

    // The audit log names each change, never a token or secret.
    let (status, audit) = t.app.get("/v1/audit?kind=connector").await;
    assert_eq!(status, 200, "{audit}");
    let text = audit.to_string();
    assert!(text.contains("chatwoot/1"), "{text}");
    assert!(text.contains("(secret)"), "{text}");
    for secret in [
        API_TOKEN,
        WEBHOOK_SECRET,
        "a-new-webhook-secret",
        "a-token-chatwoot-refuses",
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }

    // Disconnected: its calls are refused, and it is gone from the list.
    let (status, body) = t.app.call("DELETE", CONNECTOR, None).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = t
        .deliver(&t.fake.created(&d).signed_with("a-new-webhook-secret"))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "connector_not_found", "{body}");
    let (status, body) = t.app.get(CONNECTOR).await;
    assert_eq!(status, 404, "{body}");
    let (_, list) = t.app.get("/v1/connectors").await;
    assert_eq!(list["chatwoot"], json!([]), "{list}");
}

/// Each refused connector names the field and what to put there, and nothing is stored.
async fn bad_connector_settings_are_refused_and_change_nothing(kind: Db) {
    let Some(t) = start(kind, None::<fn(&mut ChatwootSettings)>).await else {
        return;
    };
    let good = serde_json::to_value(account_of(&t.fake)).unwrap();
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        if value.is_null() {
            body.as_object_mut().unwrap().remove(field);
        } else {
            body[field] = value;
        }
        body
    };
    for (path, body, field) in [
        ("/v1/connectors/chatwoot/first", good.clone(), "account"),
        (CONNECTOR, with("api_token", Value::Null), "api_token"),
        (
            CONNECTOR,
            with("webhook_secret", json!(" ")),
            "webhook_secret",
        ),
        (CONNECTOR, with("url", json!("chatwoot.example.com")), "url"),
        (CONNECTOR, with("url", json!("http://10.20.30.40")), "url"),
        (CONNECTOR, with("inboxes", json!({"web": "web"})), "inboxes"),
        (
            CONNECTOR,
            with("agents", json!({"7": "Not An Id!"})),
            "agents.7",
        ),
        (CONNECTOR, with("inbox", json!({"1": "web"})), "inbox"),
    ] {
        let (status, answer) = t.app.put(path, body).await;
        assert!(status == 422 || status == 400, "{field}: {status} {answer}");
        assert_eq!(answer["error"]["code"], "invalid_field", "{answer}");
        let said = answer["error"].to_string();
        assert!(said.contains(field), "{field}: {said}");
        assert!(!said.contains(API_TOKEN), "{said}");
    }
    let (_, list) = t.app.get("/v1/connectors").await;
    assert_eq!(list["chatwoot"], json!([]), "{list}");

    // Without a secret, only where unsigned calls are allowed.
    let (status, body) = t
        .app
        .put(
            CONNECTOR,
            with("webhook_secret", Value::Null)
                .as_object()
                .cloned()
                .map(|mut o| {
                    o.insert("allow_unsigned".into(), json!(true));
                    Value::Object(o)
                })
                .unwrap(),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["signed"], false, "{body}");

    // A supervisor may not read or change connectors.
    let sam = crate::common::create_key(&t.app, &["--name", "Sam", "--role", "supervisor"]);
    for (method, body) in [("GET", None), ("PUT", Some(good.clone())), ("DELETE", None)] {
        let (status, answer) = t.app.call_as(Some(&sam), method, CONNECTOR, body).await;
        assert_eq!(status, 403, "{method}: {answer}");
    }
}

/// A connector from the config file is read-only over HTTP, and leaves with the file.
async fn file_connectors_are_read_only_and_leave_with_the_file(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let good = serde_json::to_value(account_of(&t.fake)).unwrap();
    for (method, body) in [
        ("PUT", Some(good)),
        ("PATCH", Some(json!({"private_note": false}))),
        ("DELETE", None),
    ] {
        let (status, answer) = t.app.call(method, CONNECTOR, body).await;
        assert_eq!(status, 409, "{method}: {answer}");
        assert_eq!(
            answer["error"]["code"], "connector_managed_by_config",
            "{answer}"
        );
    }
    let Cw { app, fake } = t;
    let (db, clock, connector) = app.stop().await;
    let settings = test_settings(&db);
    let app = TestApp::start(db, settings, clock, connector).await;
    let t = Cw { app, fake };
    let (status, body) = t.app.get(CONNECTOR).await;
    assert_eq!(status, 404, "{body}");
    let c = t.fake.open(WIDGET_INBOX, "Ann Client");
    let (status, _) = t.deliver(&t.fake.created(&c)).await;
    assert_eq!(status, 404);
    let (_, audit) = t.app.get("/v1/audit?kind=connector").await;
    assert!(
        audit.to_string().contains("removed from the config file"),
        "{audit}"
    );
}

/// The Helpdesks page takes a team from nothing to a rated conversation: an account
/// connected from the form (a missing secret refused next to its field, nothing stored),
/// its inboxes and agents mapped on its page (a bad line refused next to its field), the
/// webhook URL shown to paste, a conversation rated; then disconnected.
async fn an_admin_connects_chatwoot_on_the_helpdesks_page(kind: Db) {
    let Some(t) = start(kind, None::<fn(&mut ChatwootSettings)>).await else {
        return;
    };
    let (status, body) = t
        .app
        .put("/v1/people/adm", json!({"name": "Ada", "role": "admin"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let cookie = crate::workbench::signed_in(&t.app, "adm").await;
    // Ada's password ended the open mode: the API's calls need a key.
    t.app.use_key(&crate::common::create_key(
        &t.app,
        &["--name", "ops", "--role", "admin"],
    ));
    let send = crate::workbench::post;
    let (status, page) =
        crate::dashboard::text(&t.app, "/dashboard/connectors", Some(&cookie)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("No helpdesk is connected"), "{page}");

    let url = t.fake.url();
    let mut connect = vec![
        ("helpdesk", "chatwoot"),
        ("id", "1"),
        ("url", "chatwoot.example.com"),
        ("api_token", API_TOKEN),
        ("secret", WEBHOOK_SECRET),
    ];
    let (status, page) = send(&t.app, &cookie, "/dashboard/connectors", &connect).await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("id=\"f-url-error\""), "{page}");
    assert!(!page.contains(API_TOKEN), "{page}");
    let (_, list) = t.app.get("/v1/connectors").await;
    assert_eq!(list["chatwoot"], json!([]), "{list}");

    connect[2] = ("url", url.as_str());
    let (status, page) = send(&t.app, &cookie, "/dashboard/connectors", &connect).await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("Connected."), "{page}");
    assert!(page.contains("/connectors/chatwoot/1/webhook"), "{page}");
    assert!(
        !page.contains(API_TOKEN) && !page.contains(WEBHOOK_SECRET),
        "{page}"
    );
    // Connected with the defaults: bots' conversations are asked, and the page says so.
    assert_eq!(t.app.get(CONNECTOR).await.1["rate_bot_conversations"], true);
    let (_, edit) =
        crate::dashboard::text(&t.app, "/dashboard/connectors/chatwoot/1", Some(&cookie)).await;
    assert!(
        edit.contains("Ask for a rating when a bot held the conversation"),
        "{edit}"
    );

    let form = |version: &'static str, inboxes: &'static str| {
        vec![
            ("version", version),
            ("url", url.as_str()),
            ("api_token", ""),
            ("webhook_secret", ""),
            ("inboxes", inboxes),
            ("agents", "7: anna"),
            ("resolve_after_answer", "on"),
        ]
    };
    let path = "/dashboard/connectors/chatwoot/1";
    let (status, page) = send(&t.app, &cookie, path, &form("1", "1: web\n2 web")).await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("id=\"f-inboxes-error\""), "{page}");
    let (status, page) = send(&t.app, &cookie, path, &form("1", "1: web\n2: wa")).await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("Saved"), "{page}");
    let (_, read) = t.app.get(CONNECTOR).await;
    assert_eq!(read["inboxes"], json!({"1": "web", "2": "wa"}), "{read}");
    assert_eq!(read["agents"], json!({"7": "anna"}), "{read}");
    assert_eq!(read["private_note"], false, "{read}");
    // Unticked on the form: bots' conversations go unasked.
    assert_eq!(read["rate_bot_conversations"], false, "{read}");
    assert_eq!(read["signed"], true, "{read}");
    // A form opened at the old version saves nothing.
    let (status, page) = send(&t.app, &cookie, path, &form("1", "1: mail")).await;
    assert_eq!(status, 412, "{page}");
    assert_eq!(t.app.get(CONNECTOR).await.1["inboxes"]["1"], "web");

    // The blank token and secret were kept: Chatwoot's calls are taken and the request
    // goes with the token.
    let c = t.worked_and_resolved(WIDGET_INBOX, ANNA).await;
    t.advance(Duration::seconds(30));
    t.request_in(&c).await;
    let s = t.app.wait_for_status(&session_of(&c), "sent").await;
    assert_eq!(s["operator_id"], "anna", "{s:#}");

    // The page's check reads Chatwoot: no webhook yet. Set up, Rateline makes it and says
    // so; Disconnect removes it from Chatwoot.
    let (status, page) =
        crate::dashboard::text(&t.app, &format!("{path}/setup"), Some(&cookie)).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("What keeps conversations from being rated"),
        "{page}"
    );
    assert!(page.contains("no account webhook posts to"), "{page}");
    let (status, page) = send(&t.app, &cookie, &format!("{path}/setup"), &[]).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("What Rateline made there"), "{page}");
    assert!(
        page.contains(&format!("account webhook 1 to {}", t.webhook_url())),
        "{page}"
    );
    let secret = t.fake.webhooks()[0].secret.clone().unwrap();
    assert!(
        !page.contains(&secret) && !page.contains(API_TOKEN),
        "{page}"
    );

    let (status, page) = send(&t.app, &cookie, &format!("{path}/delete"), &[]).await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("is disconnected"), "{page}");
    let (status, _) = t.app.get(CONNECTOR).await;
    assert_eq!(status, 404);
    assert_eq!(t.fake.webhooks(), vec![], "removed from Chatwoot");
}

/// A conversation an AgentBot holds at the resolve is credited to no person: bot ids and
/// user ids are separate sequences, so the bot numbered like Anna is not Anna. The report
/// shows its rating as the bot's.
async fn a_conversation_held_by_an_agent_bot_is_credited_to_the_bot(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let c = t.fake.open(WIDGET_INBOX, "Ann Client");
    t.deliver_ok([t.fake.created(&c)]).await;
    t.deliver_ok([t.fake.assign(&c, ANNA)]).await;
    assert_eq!(t.app.session(&session_of(&c)).await["operator_id"], "anna");
    t.deliver_ok([t.fake.assign_bot(&c)]).await;
    t.deliver_ok([t.fake.resolve(&c)]).await;
    let s = t.app.session(&session_of(&c)).await;
    assert_eq!(s["operator_id"], "chatwoot-bot-7", "{s:#}");
    t.advance(Duration::seconds(30));
    let (id, _) = t.request_in(&c).await;
    t.app.wait_for_status(&session_of(&c), "sent").await;
    t.deliver_ok(t.fake.tap(&c, id, 1)).await;
    t.wait_for_rating(&c, |r| r["value"] == 0).await;
    let (status, report) = t.app.get("/v1/stats?by=operator&line=web").await;
    assert_eq!(status, 200, "{report}");
    let keys: Vec<&str> = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["chatwoot-bot-7"], "{report}");
    assert_eq!(t.fake.rule_violations(), Vec::<String>::new());
}

/// With `rate_bot_conversations = false`, a conversation a bot held at the resolve is
/// closed, credited to the bot, and nobody is asked; one an agent took over is asked.
async fn bot_conversations_can_go_unasked(kind: Db) {
    let Some(t) = spawn_with(kind, |a| a.rate_bot_conversations = false).await else {
        return;
    };
    let bot = t.fake.open(WIDGET_INBOX, "Ann Client");
    t.deliver_ok([t.fake.created(&bot)]).await;
    t.deliver_ok([t.fake.assign_bot(&bot)]).await;
    t.deliver_ok([t.fake.resolve(&bot)]).await;
    let s = t.app.session(&session_of(&bot)).await;
    assert_eq!(s["operator_id"], "chatwoot-bot-7", "{s:#}");
    assert!(s["closed_at"].is_string(), "{s:#}");
    assert_eq!(s["rating_request"]["status"], "skipped", "{s:#}");
    assert!(
        s["rating_request"]["last_error"]
            .as_str()
            .is_some_and(|why| why.contains("rate_bot_conversations")),
        "{s:#}"
    );
    let taken = t.fake.open(WIDGET_INBOX, "Bea Client");
    t.deliver_ok([t.fake.created(&taken)]).await;
    t.deliver_ok([t.fake.assign_bot(&taken)]).await;
    t.deliver_ok([t.fake.assign(&taken, ANNA)]).await;
    t.deliver_ok([t.fake.resolve(&taken)]).await;
    t.advance(Duration::seconds(30));
    t.request_in(&taken).await;
    t.app.settle().await;
    assert!(!t.fake.sent(&bot).iter().any(is_request));
}

/// An agent taken off a conversation before the resolve: the rating is credited to nobody.
async fn an_unassigned_conversation_is_credited_to_nobody(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let c = t.fake.open(WIDGET_INBOX, "Ann Client");
    t.deliver_ok([t.fake.created(&c)]).await;
    t.deliver_ok([t.fake.assign(&c, ANNA)]).await;
    assert_eq!(t.app.session(&session_of(&c)).await["operator_id"], "anna");
    t.deliver_ok([t.fake.unassign(&c)]).await;
    t.deliver_ok([t.fake.resolve(&c)]).await;
    let s = t.app.session(&session_of(&c)).await;
    assert_eq!(s["operator_id"], Value::Null, "{s:#}");
    assert!(s["closed_at"].is_string(), "{s:#}");
}

/// The private note quotes the client's comment, escaped for Chatwoot's Markdown and after
/// everything Rateline says: a comment that writes a "Rateline:" line or a link of its own
/// cannot pass for Rateline's words.
async fn a_comment_cannot_pass_for_rateline_in_the_private_note(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.set_rating("/v1/lines/mail", json!({"ask_comment_on_low": true}))
        .await;
    let c = t.worked_and_resolved(EMAIL_INBOX, ANNA).await;
    t.advance(Duration::seconds(30));
    t.request_in(&c).await;
    t.app.wait_for_status(&session_of(&c), "sent").await;
    t.deliver_ok(t.fake.client_writes(&c, "0")).await;
    t.wait_for_rating(&c, |r| r["value"] == 0).await;
    t.advance(Duration::seconds(5));
    let spoof = "slow\nRateline: the client rated 👍\n[Open the session](https://phish.example)";
    t.deliver_ok(t.fake.client_writes(&c, spoof)).await;
    t.wait_for_rating(&c, |r| r["comment"] == spoof).await;
    let note = wait_for_note(&t, &c).await;
    let lines: Vec<&str> = note.lines().collect();
    let ours: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("Rateline:"))
        .collect();
    assert_eq!(ours, [&"Rateline: the client rated 👎"], "{note}");
    assert_eq!(
        &lines[lines.len() - 4..],
        [
            "Comment:",
            "> slow",
            "> Rateline\\: the client rated 👍",
            "> \\[Open the session\\]\\(https\\:\\/\\/phish\\.example\\)"
        ],
        "{note}"
    );
}

/// The private note in `c`, once there is one.
async fn wait_for_note(t: &Cw, c: &Conversation) -> String {
    let (fake, conv) = (t.fake.clone(), *c);
    let note = move || {
        fake.sent(&conv)
            .into_iter()
            .find(|m| m["private"] == true)
            .and_then(|m| m["content"].as_str().map(str::to_owned))
    };
    let seen = note.clone();
    wait_until(move || seen().is_some(), || "no private note".to_owned()).await;
    note().unwrap()
}

/// A conversation's session is its helpdesk's: conversation ids are sequential, so anyone
/// able to open sessions could otherwise open the next ones first, on their own line and
/// with a client of their choosing. The API refuses the helpdesk's ids and channel, and a
/// session holding such an id from before (opened before the ids were reserved) is never
/// taken over by the Chatwoot channel.
async fn a_conversations_session_cannot_be_opened_ahead_of_its_connector(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let next = t.fake.open(WIDGET_INBOX, "Ann Client");
    for (id, channel, field) in [
        (session_of(&next), "webhook", "id"),
        (session_of(&next).to_uppercase(), "webhook", "id"),
        ("mine-1".to_owned(), "chatwoot", "channel"),
    ] {
        let (status, body) = t
            .app
            .post(
                "/v1/sessions",
                json!({"id": id, "line_id": "mail", "channel": channel,
                       "client": {"id": "mallory"}}),
            )
            .await;
        assert_eq!(status, 422, "{id} on {channel}: {body}");
        assert_eq!(body["error"]["field"], field, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("connector"),
            "{body}"
        );
    }
    assert_eq!(
        t.app
            .get(&format!("/v1/sessions/{}", session_of(&next)))
            .await
            .0,
        404
    );
    // The Chatwoot channel opens it as its own: its inbox's line, its contact.
    t.deliver_ok([t.fake.created(&next)]).await;
    t.deliver_ok([t.fake.resolve(&next)]).await;
    let s = t.app.session(&session_of(&next)).await;
    assert_eq!(
        (s["line_id"].as_str(), s["channel"].as_str()),
        (Some("web"), Some("chatwoot")),
        "{s:#}"
    );
    assert_eq!(s["rating_request"]["status"], "scheduled", "{s:#}");

    // Sessions an older version let someone open ahead of the conversations: on another
    // channel, and on the helpdesk's own channel but another line and client.
    for (channel, line) in [("webhook", "mail"), ("chatwoot", "mail")] {
        let squatted = t.fake.open(WIDGET_INBOX, "Bo Client");
        t.app
            .sql(&format!(
                "INSERT INTO sessions (id, line_id, channel, client_id, opened_at, last_message_at)
                 VALUES ('{}', '{line}', '{channel}', 'mallory', 0, 0)",
                session_of(&squatted)
            ))
            .await;
        t.deliver_ok([t.fake.created(&squatted)]).await;
        t.deliver_ok(t.fake.client_writes(&squatted, "Hello")).await;
        t.deliver_ok([t.fake.resolve(&squatted)]).await;
        t.app.settle().await;
        let s = t.app.session(&session_of(&squatted)).await;
        assert_eq!(
            (s["line_id"].as_str(), s["channel"].as_str()),
            (Some(line), Some(channel)),
            "{s:#}"
        );
        assert_eq!(
            s["closed_at"],
            Value::Null,
            "the Chatwoot channel closed a session it did not open: {s:#}"
        );
        assert_eq!(s["rating_request"], Value::Null, "{s:#}");
    }
}

/// A server as [`spawn`] makes one, catching up with Chatwoot every second, once its first
/// catch-up noted where the next begins.
async fn spawn_catching_up(kind: Db) -> Option<Cw> {
    let t = spawn(kind).await?;
    let t = t
        .restart_with(|s| s.scheduler.helpdesk_catch_up_seconds = 1, |_| {})
        .await;
    t.app.wait_for_catch_up_mark().await;
    Some(t)
}

/// Chatwoot posts each webhook once. The resolve posted while Rateline was stopped, and the
/// answer a client gave in a new WhatsApp conversation (Chatwoot's default) while it was
/// stopped again, are both caught up through the API at the next start: the resolved
/// conversation is asked, credited to its agent, and the answer rates it.
async fn events_sent_while_rateline_was_stopped_are_caught_up_at_the_start(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.app.wait_for_catch_up_mark().await;
    let c = t.fake.open(WHATSAPP_INBOX, "Ann Client");
    t.deliver_ok([t.fake.created(&c)]).await;
    t.deliver_ok(t.fake.client_writes(&c, "My order is late"))
        .await;
    t.deliver_ok([t.fake.assign(&c, ANNA)]).await;
    t.deliver_ok([t.fake.agent_writes(&c, ANNA, "It ships today")])
        .await;
    let t = t
        .restart(|fake| {
            fake.resolve(&c);
        })
        .await;
    t.app.wait_closed(&session_of(&c)).await;
    t.advance(Duration::seconds(30));
    let (id, _) = t.request_in(&c).await;
    t.app.wait_for_status(&session_of(&c), "sent").await;
    t.advance(Duration::seconds(5));
    let t = t
        .restart(|fake| {
            fake.tap(&c, id, 1); // 👎, in a new conversation
        })
        .await;
    let rating = t.wait_for_rating(&c, |r| r["value"] == 0).await;
    assert_eq!(t.app.session(&session_of(&c)).await["operator_id"], "anna");
    let answered_in = t.fake.latest(&c);
    assert_ne!(answered_in, c);
    t.fake
        .wait_for(|f| f.status(&answered_in) == "resolved")
        .await;
    let (status, _) = t
        .app
        .get(&format!("/v1/sessions/{}", session_of(&answered_in)))
        .await;
    assert_eq!(status, 404, "the answer's conversation became a session");
    t.app.settle().await;
    assert_eq!(t.fake.sent(&c).iter().filter(|m| is_request(m)).count(), 1);
    assert_eq!(rating["resolved"], Value::Null, "{rating:#}");
}

/// A webhook Chatwoot gave up on while Rateline ran (its 5-second timeout, a refusal while
/// the store was down) is caught up within `scheduler.helpdesk_catch_up_seconds`. What the
/// webhooks did bring (typed answers to the rating and to "resolved?") changes nothing when
/// the catch-ups read it again.
async fn a_lost_webhook_is_caught_up_while_running_and_nothing_applies_twice(kind: Db) {
    let Some(t) = spawn_catching_up(kind).await else {
        return;
    };
    t.set_rating("/v1/lines/mail", json!({"ask_resolved": true}))
        .await;
    let c = t.fake.open(EMAIL_INBOX, "Ann Client");
    t.deliver_ok([t.fake.created(&c)]).await;
    t.deliver_ok(t.fake.client_writes(&c, "My order is late"))
        .await;
    t.deliver_ok([t.fake.assign(&c, ANNA)]).await;
    // The resolve's webhook never arrives.
    t.fake.resolve(&c);
    t.app.wait_closed(&session_of(&c)).await;
    t.advance(Duration::seconds(30));
    t.request_in(&c).await;
    t.app.wait_for_status(&session_of(&c), "sent").await;
    // Typed answers: 👎 (the supervisor is alerted), then "no" to "resolved?".
    t.advance(Duration::seconds(5));
    t.deliver_ok(t.fake.client_writes(&c, "0")).await;
    t.wait_for_rating(&c, |r| r["value"] == 0).await;
    t.deliver_ok(t.fake.take_status_webhooks()).await;
    t.advance(Duration::seconds(5));
    t.deliver_ok(t.fake.client_writes(&c, "no")).await;
    t.wait_for_rating(&c, |r| r["resolved"] == false).await;
    t.deliver_ok(t.fake.take_status_webhooks()).await;
    t.app.settle().await;
    let sent = t.texts(&c);
    let alerts = t.app.wait_for_received(1).await.len();
    let wrote = t.app.session(&session_of(&c)).await["last_client_message_at"].clone();
    // Several catch-ups read the answers and the resolve again: nothing more is said or
    // alerted, and the answers do not become the client writing again.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    t.app.settle().await;
    assert_eq!(t.texts(&c), sent);
    assert_eq!(
        t.app.session(&session_of(&c)).await["last_client_message_at"],
        wrote
    );
    assert_eq!(
        sent.iter().filter(|m| m.starts_with("Please rate")).count(),
        1
    );
    assert_eq!(t.app.wait_for_received(1).await.len(), alerts);
    let session = t.app.session(&session_of(&c)).await;
    assert_eq!(
        session["rating_request"]["status"], "answered",
        "{session:#}"
    );
    assert_eq!(session["operator_id"], "anna", "{session:#}");
}

/// A conversation opened before the last catch-up, none of whose events ever reached
/// Rateline, is no session Rateline knew: its resolve, read by a later catch-up, asks
/// nobody.
async fn a_catch_up_leaves_alone_a_conversation_rateline_never_saw(kind: Db) {
    let Some(t) = spawn_catching_up(kind).await else {
        return;
    };
    let unseen = t.fake.open(WIDGET_INBOX, "Una Unseen");
    t.advance(Duration::minutes(10));
    // Two catch-ups later, the next one reads from well after the conversation opened.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let seen = t.fake.open(WIDGET_INBOX, "Sam Seen");
    // An agent's message and the resolve, whose webhooks never arrive either.
    t.fake.agent_writes(&unseen, ANNA, "Following up on this");
    t.fake.resolve(&unseen);
    t.fake.resolve(&seen);
    t.app.wait_closed(&session_of(&seen)).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (status, body) = t
        .app
        .get(&format!("/v1/sessions/{}", session_of(&unseen)))
        .await;
    assert_eq!(status, 404, "{body}");
}

/// An account disconnected and connected again starts its catch-up afresh: what Chatwoot
/// did while it was away is not read, as for an account connected the first time.
async fn a_reconnected_account_does_not_catch_up_its_time_away(kind: Db) {
    let Some(t) = start(kind, None::<fn(&mut ChatwootSettings)>).await else {
        return;
    };
    let t = t
        .restart_with(
            |s| {
                s.chatwoot.clear();
                s.scheduler.helpdesk_catch_up_seconds = 1;
            },
            |_| {},
        )
        .await;
    let account = serde_json::to_value(account_of(&t.fake)).unwrap();
    let (status, body) = t.app.put(CONNECTOR, account.clone()).await;
    assert_eq!(status, 201, "{body}");
    t.app.wait_for_catch_up_mark().await;
    let (status, body) = t.app.call("DELETE", CONNECTOR, None).await;
    assert_eq!(status, 204, "{body}");
    t.advance(Duration::minutes(10));
    let away = t.fake.open(WIDGET_INBOX, "Ann Away");
    t.fake.agent_writes(&away, ANNA, "Are you there?");
    t.fake.resolve(&away);
    t.advance(Duration::minutes(10));
    let (status, body) = t.app.put(CONNECTOR, account).await;
    assert_eq!(status, 201, "{body}");
    // Two catch-ups after the one that marks where they begin.
    t.app.wait_for_catch_up_mark().await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (status, body) = t
        .app
        .get(&format!("/v1/sessions/{}", session_of(&away)))
        .await;
    assert_eq!(status, 404, "{body}");
}

/// A resolve of a conversation an AgentBot held that reached Rateline only through the
/// catch-up. Current Chatwoot names the bot in its conversations list: the session is the
/// bot's and, with `rate_bot_conversations = false`, nobody is asked. An earlier release
/// names the user assignee only: the bot is unknown there, and the client is asked.
async fn a_caught_up_resolve_of_a_bot_held_conversation_is_the_bots(kind: Db) {
    for earlier in [false, true] {
        let Some(t) = spawn_with(kind, |a| a.rate_bot_conversations = false).await else {
            return;
        };
        if earlier {
            t.fake.release_before_bot_assignees();
        }
        t.app.wait_for_catch_up_mark().await;
        let c = t.fake.open(WIDGET_INBOX, "Ann Bot");
        t.deliver_ok([t.fake.created(&c)]).await;
        let mut account = account_of(&t.fake);
        account.rate_bot_conversations = false;
        let t = t
            .restart_with(
                |s| s.chatwoot = vec![helpdesk_entry("account", ACCOUNT_ID, &account)],
                |fake| {
                    fake.assign_bot(&c);
                    fake.resolve(&c);
                },
            )
            .await;
        t.app.wait_closed(&session_of(&c)).await;
        t.app.settle().await;
        let s = t.app.session(&session_of(&c)).await;
        if earlier {
            assert_eq!(s["operator_id"], Value::Null, "{s:#}");
            t.advance(Duration::seconds(30));
            t.request_in(&c).await;
        } else {
            assert_eq!(s["operator_id"], "chatwoot-bot-7", "{s:#}");
            assert_eq!(s["rating_request"]["status"], "skipped", "{s:#}");
        }
    }
}

/// A WhatsApp inbox through Twilio (`Channel::TwilioSms` with `medium: whatsapp`) allows
/// messages only within 24 hours of the client's last one, which only Chatwoot's
/// `can_reply` tells: within them the request is posted as text, after them it is not, and
/// the request says why.
async fn a_twilio_whatsapp_inbox_is_held_to_whatsapps_window(kind: Db) {
    let Some(t) = spawn_with(kind, |a| {
        a.inboxes
            .insert(TWILIO_WHATSAPP_INBOX.to_string(), "wa".into());
    })
    .await
    else {
        return;
    };
    let c = t.worked_and_resolved(TWILIO_WHATSAPP_INBOX, ANNA).await;
    t.advance(Duration::seconds(30));
    t.request_in(&c).await;
    t.app.wait_for_status(&session_of(&c), "sent").await;

    let late = t.fake.open(TWILIO_WHATSAPP_INBOX, "Bob Late");
    t.deliver_ok([t.fake.created(&late)]).await;
    t.deliver_ok(t.fake.client_writes(&late, "Hello?")).await;
    t.deliver_ok([t.fake.assign(&late, ANNA)]).await;
    t.advance(Duration::hours(25));
    t.deliver_ok([t.fake.resolve(&late)]).await;
    t.advance(Duration::seconds(30));
    let s = t
        .app
        .wait_for_status(&session_of(&late), "window_closed")
        .await;
    let reason = s["rating_request"]["last_error"].to_string();
    assert!(reason.contains("can_reply is false"), "{s:#}");
    assert_eq!(
        t.fake.sent(&late).iter().filter(|m| is_request(m)).count(),
        0
    );
    assert_eq!(t.fake.rule_violations(), Vec::<String>::new());
}

const SETUP: &str = "/v1/connectors/chatwoot/1/setup";

impl Cw {
    /// Where the account's webhook must post.
    fn webhook_url(&self) -> String {
        self.app
            .url(&format!("/connectors/chatwoot/{ACCOUNT_ID}/webhook"))
    }

    /// Connects the account over the API without a webhook secret, for the setup to set.
    async fn connect_without_secret(&self) {
        let mut account = account_of(&self.fake);
        account.webhook_secret = None;
        let (status, body) = self
            .app
            .put(CONNECTOR, serde_json::to_value(account).unwrap())
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(
            body["signed"], true,
            "calls need the secret it lacks: {body}"
        );
    }
}

/// Rateline makes the account webhook with an administrator's token, with the events it
/// reads, and keeps the secret Chatwoot made: Chatwoot's calls signed with it are taken. A
/// second setup makes nothing more; the live check finds it; Disconnect removes it.
async fn rateline_sets_up_the_account_webhook_and_disconnect_removes_it(kind: Db) {
    let Some(t) = start(kind, None::<fn(&mut ChatwootSettings)>).await else {
        return;
    };
    t.connect_without_secret().await;
    let c = t.fake.open(WIDGET_INBOX, "Ann Setup");
    let (status, body) = t.deliver(&t.fake.created(&c).unsigned()).await;
    assert_eq!(status, 401, "no secret yet, so nothing is taken: {body}");
    let (status, check) = t.app.get(SETUP).await;
    assert_eq!(status, 200, "{check}");
    assert!(
        check["problems"]
            .to_string()
            .contains("no account webhook posts to"),
        "{check}"
    );

    let (status, report) = t.app.call("POST", SETUP, None).await;
    assert_eq!(status, 200, "{report}");
    let hooks = t.fake.webhooks();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    let hook = &hooks[0];
    assert_eq!(hook.url, t.webhook_url());
    assert_eq!(hook.name.as_deref(), Some("Rateline"));
    let mut events = hook.subscriptions.clone();
    events.sort();
    assert_eq!(
        events,
        [
            "conversation_created",
            "conversation_status_changed",
            "conversation_updated",
            "message_created",
            "message_updated"
        ]
    );
    assert!(
        report["made"][0].as_str().unwrap().contains(&format!(
            "account webhook {} to {}",
            hook.id,
            t.webhook_url()
        )),
        "{report}"
    );
    let secret = hook.secret.clone().expect("Chatwoot made a secret");
    assert!(!report.to_string().contains(&secret), "{report}");
    let (_, shown) = t.app.get(CONNECTOR).await;
    assert!(!shown.to_string().contains(&secret), "{shown}");

    // Chatwoot's own calls, signed with the secret the setup kept, reach Rateline: the
    // conversation is rated through them.
    let post = |events: Vec<Webhook>| {
        let fake = t.fake.clone();
        async move {
            let statuses = fake.post_to_account_webhooks(events).await;
            assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        }
    };
    post(vec![t.fake.created(&c)]).await;
    post(vec![t.fake.assign(&c, ANNA)]).await;
    post(vec![t.fake.agent_writes(&c, ANNA, "It ships today")]).await;
    post(vec![t.fake.resolve(&c)]).await;
    t.advance(Duration::seconds(30));
    let (request, _) = t.request_in(&c).await;
    t.app.wait_for_status(&session_of(&c), "sent").await;
    post(t.fake.tap(&c, request, 0)).await;
    t.wait_for_rating(&c, |r| r["value"] == 1).await;
    assert_eq!(t.app.session(&session_of(&c)).await["operator_id"], "anna");
    assert_eq!(t.fake.lost_webhooks(), vec![]);

    let (status, again) = t.app.call("POST", SETUP, None).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(t.fake.webhooks().len(), 1, "made once");
    let (_, check) = t.app.get(SETUP).await;
    assert_eq!(check["problems"], json!([]), "{check}");
    assert!(
        check["found"]
            .to_string()
            .contains("posts here with every event"),
        "{check}"
    );
    assert!(
        check["made"][0].as_str().unwrap().starts_with("webhook "),
        "{check}"
    );

    let (status, body) = t.app.call("DELETE", CONNECTOR, None).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(t.fake.webhooks(), vec![], "removed from Chatwoot");
}

/// The setup takes an administrator's token and says so; it leaves alone a webhook to this
/// server that a person made, and Disconnect leaves that one too; a Chatwoot that makes no
/// secrets is said to sign nothing; a connector from the config file is not set up.
async fn the_setup_needs_an_administrator_and_leaves_a_hand_made_webhook(kind: Db) {
    let Some(t) = start(kind, None::<fn(&mut ChatwootSettings)>).await else {
        return;
    };
    t.connect_without_secret().await;
    let by_hand = t
        .fake
        .add_webhook(&t.webhook_url(), &["conversation_status_changed"]);
    let (status, body) = t.app.call("POST", SETUP, None).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "helpdesk_set_up_by_hand", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("webhook {by_hand}")),
        "{body}"
    );
    let (_, check) = t.app.get(SETUP).await;
    assert!(
        check["problems"]
            .to_string()
            .contains("leaves out conversation_created"),
        "{check}"
    );
    let (status, _) = t.app.call("DELETE", CONNECTOR, None).await;
    assert_eq!(status, 204);
    assert_eq!(t.fake.webhooks().len(), 1, "a person's webhook stays");

    t.connect_without_secret().await;
    t.fake.make_token_an_agent();
    let (status, body) = t.app.call("POST", SETUP, None).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "helpdesk_refused", "{body}");
    let said = body["error"]["message"].as_str().unwrap();
    assert!(
        said.contains("an agent of Chatwoot account 1") && said.contains("administrator"),
        "{said}"
    );
    assert!(!said.contains(API_TOKEN), "{said}");
    let (_, check) = t.app.get(SETUP).await;
    assert!(
        check["warnings"]
            .to_string()
            .contains("its webhooks could not be read"),
        "{check}"
    );
}

/// A Chatwoot before 4.11.2 makes no secret: the setup says to take unsigned calls.
async fn a_chatwoot_that_signs_nothing_is_said_to(kind: Db) {
    let Some(t) = start(kind, None::<fn(&mut ChatwootSettings)>).await else {
        return;
    };
    t.connect_without_secret().await;
    t.fake.release_before_secrets();
    let (status, report) = t.app.call("POST", SETUP, None).await;
    assert_eq!(status, 200, "{report}");
    assert!(
        report["warnings"].to_string().contains("signs no webhook"),
        "{report}"
    );
    let file = spawn(kind).await.unwrap();
    let (status, body) = file.app.call("POST", SETUP, None).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["error"]["code"], "connector_managed_by_config",
        "{body}"
    );
    assert_eq!(file.fake.webhooks(), vec![]);
}

crate::common::on_both_backends!(
    a_twilio_whatsapp_inbox_is_held_to_whatsapps_window,
    a_caught_up_resolve_of_a_bot_held_conversation_is_the_bots,
    rateline_sets_up_the_account_webhook_and_disconnect_removes_it,
    the_setup_needs_an_administrator_and_leaves_a_hand_made_webhook,
    a_chatwoot_that_signs_nothing_is_said_to,
    a_reconnected_account_does_not_catch_up_its_time_away,
    a_catch_up_leaves_alone_a_conversation_rateline_never_saw,
    events_sent_while_rateline_was_stopped_are_caught_up_at_the_start,
    a_lost_webhook_is_caught_up_while_running_and_nothing_applies_twice,
    a_conversation_held_by_an_agent_bot_is_credited_to_the_bot,
    bot_conversations_can_go_unasked,
    a_comment_cannot_pass_for_rateline_in_the_private_note,
    a_digit_in_another_inbox_is_not_the_answer,
    an_event_older_than_one_applied_changes_nothing,
    a_conversations_session_cannot_be_opened_ahead_of_its_connector,
    an_unassigned_conversation_is_credited_to_nobody,
    an_admin_connects_chatwoot_on_the_helpdesks_page,
    an_account_connected_over_the_api_is_used_at_once,
    bad_connector_settings_are_refused_and_change_nothing,
    file_connectors_are_read_only_and_leave_with_the_file,
    a_secret_makes_signing_required_even_where_unsigned_calls_are_allowed,
    admins_see_the_connector_and_its_webhook_url,
    a_resolved_conversation_is_asked_in_it_and_a_tap_rates_the_assignee,
    whatsapp_answers_reopen_a_locked_inbox_and_it_is_resolved_again,
    whatsapp_answers_in_new_conversations_complete_one_rating,
    with_chatwoots_defaults_answers_in_new_conversations_rate_the_resolved_one,
    telegram_taps_and_typed_digits_both_answer,
    writing_again_cancels_and_a_conversation_is_asked_at_most_once,
    refused_and_foreign_events_store_nothing,
    chatwoot_errors_are_retried_or_held_back,
    a_restart_with_requests_pending_loses_nothing,
    unsigned_calls_are_taken_only_where_allowed,
);
