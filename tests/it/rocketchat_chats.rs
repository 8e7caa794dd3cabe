//! The Rocket.Chat channel end to end: the real server and database, and the fake
//! Rocket.Chat, whose agents and visitors the tests play and whose webhook posts what
//! Rocket.Chat would, by its rules (only a 200 counts; retries in memory; no order).

use crate::common::{Db, TestApp, start_time, test_settings};
use chrono::Duration;
use rateline::clock::ManualClock;
use rateline_domain::RocketChatSettings;
use rateline_testkit::rocketchat::{ANNA, BORIS, FakeRocketChat, RATINGS, RoomRef, SUPPORT};
use rateline_testkit::wait_until;
use serde_json::{Value, json};

const SERVER: &str = "main";
const SECRET: &str = "hook-secret-of-rocketchat";

struct Rc {
    app: TestApp,
    fake: FakeRocketChat,
}

fn settings_of(fake: &FakeRocketChat) -> RocketChatSettings {
    RocketChatSettings {
        url: fake.url(),
        user_id: RATINGS.into(),
        api_token: Some(fake.token_of(RATINGS)),
        webhook_token: Some(SECRET.into()),
        allow_unsigned: false,
        departments: [(SUPPORT.to_owned(), "support".to_owned())].into(),
        agents: Default::default(),
    }
}

/// A server with the line `support` (five stars, "resolved?" asked, 30 s delay) and its
/// supervisor; the fake's Ratings user holds the roles the guide names, and its webhook
/// posts the three events Rateline needs to this server, with the Secret Token.
async fn spawn(kind: Db) -> Option<Rc> {
    spawn_with(kind, true).await
}

/// [`spawn`], with the server in the config file when `in_file`, else none connected and
/// the webhook not yet pointed anywhere.
async fn spawn_with(kind: Db, in_file: bool) -> Option<Rc> {
    let db = crate::common::TestDb::new(kind).await?;
    let fake = FakeRocketChat::start().await;
    fake.set_now(start_time());
    fake.set_roles(
        RATINGS,
        &["bot", "livechat-agent", "livechat-manager", "user"],
    );
    let clock = ManualClock::new(start_time());
    let app = if in_file {
        start_app(db, &fake, clock, None).await
    } else {
        let mut settings = test_settings(&db);
        settings.scheduler.send_timeout_seconds = 2;
        let connector = crate::common::Connector::start().await;
        TestApp::start(db, settings, clock, connector).await
    };
    let t = Rc { app, fake };
    if in_file {
        // The catch-up at the start applies a hand-over it finds, credited to nobody (the
        // room's list entry does not say who handed it over): it has run before any chat
        // here is handed over, and the next runs minutes later.
        t.app.wait_for_catch_up_mark().await;
    }
    let (status, body) = t
        .app
        .put(
            "/v1/people/sup",
            json!({"name": "Sam", "role": "supervisor",
                   "notify": {"webhook_url": t.app.connector.url}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = t
        .app
        .put(
            "/v1/lines/support",
            json!({"name": "Support", "rating": {"delay_seconds": 30, "alert_wait_seconds": 0,
                                                 "scale": "five_star", "ask_resolved": true},
                   "notify_low": [{"kind": "supervisor", "id": "sup"}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    Some(t)
}

async fn start_app(
    db: crate::common::TestDb,
    fake: &FakeRocketChat,
    clock: ManualClock,
    connector: Option<crate::common::Connector>,
) -> TestApp {
    let mut settings = test_settings(&db);
    settings.rocketchat = vec![crate::common::helpdesk_entry(
        "server",
        SERVER,
        &settings_of(fake),
    )];
    settings.scheduler.send_timeout_seconds = 2;
    let connector = match connector {
        Some(c) => c,
        None => crate::common::Connector::start().await,
    };
    let app = TestApp::start(db, settings, clock, connector).await;
    point_webhook(fake, &app);
    app
}

/// Sets Omnichannel → Webhooks as the guide says, for `app`'s address.
fn point_webhook(fake: &FakeRocketChat, app: &TestApp) {
    let url = app.url(&format!("/connectors/rocketchat/{SERVER}/webhook"));
    fake.set_setting("Livechat_webhookUrl", json!(url));
    fake.set_setting("Livechat_secret_token", json!(SECRET));
    for switch in [
        "Livechat_webhook_on_forward",
        "Livechat_webhook_on_visitor_message",
        "Livechat_webhook_on_close",
    ] {
        fake.set_setting(switch, json!(true));
    }
}

fn session_of(room: &RoomRef) -> String {
    format!("rocketchat-{SERVER}-{}", room.id)
}

impl Rc {
    fn advance(&self, d: Duration) {
        self.app.advance(d);
        self.fake.set_now(self.fake.now() + d);
    }

    /// Posts what Rocket.Chat has waiting; every call is taken.
    async fn deliver(&self) {
        let statuses = self.fake.deliver().await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    }

    /// The visitor of `room` writes `text`, and Rocket.Chat posts it; the room it went to.
    async fn visitor_says(&self, room: &RoomRef, text: &str) -> RoomRef {
        let to = self.fake.visitor_writes(room, text);
        self.deliver().await;
        to
    }

    /// A widget chat Anna worked and handed to the Ratings user, delivered.
    async fn handed_over(&self) -> RoomRef {
        let room = self.fake.open_widget("Ada Visitor", "My parcel is late");
        self.fake.agent_takes(&room, ANNA);
        self.fake.agent_writes(&room, ANNA, "It ships today.");
        self.fake.agent_forwards(&room, RATINGS).unwrap();
        self.deliver().await;
        room
    }

    /// A chat handed over and asked: the question is shown in the room.
    async fn asked(&self) -> RoomRef {
        let room = self.handed_over().await;
        self.app.wait_closed(&session_of(&room)).await;
        self.advance(Duration::seconds(30));
        self.app.wait_for_status(&session_of(&room), "sent").await;
        self.wait_shown(&room, |shown| shown.iter().any(|m| is_question(m)))
            .await;
        room
    }

    async fn wait_shown(&self, room: &RoomRef, what: impl Fn(&[String]) -> bool) {
        let fake = self.fake.clone();
        let room = room.clone();
        wait_until(
            || what(&fake.shown_to_visitor(&room)),
            || format!("the visitor was shown {:?}", fake.shown_to_visitor(&room)),
        )
        .await;
    }

    async fn wait_served_by(&self, room: &RoomRef, agent: &str) {
        let fake = self.fake.clone();
        let room = room.clone();
        wait_until(
            || fake.served_by(&room) == Some(agent),
            || format!("the chat is served by {:?}", fake.served_by(&room)),
        )
        .await;
    }

    async fn wait_room_closed(&self, room: &RoomRef) {
        let fake = self.fake.clone();
        let room = room.clone();
        wait_until(|| !fake.is_open(&room), || "the room is still open".into()).await;
    }

    async fn rating(&self, room: &RoomRef) -> Value {
        self.app.session(&session_of(room)).await["rating"].clone()
    }

    async fn restart(self, meanwhile: impl FnOnce(&FakeRocketChat)) -> Rc {
        let Rc { app, fake } = self;
        let (db, clock, connector) = app.stop().await;
        meanwhile(&fake);
        let app = start_app(db, &fake, clock, Some(connector)).await;
        Rc { app, fake }
    }
}

fn is_question(m: &str) -> bool {
    m.starts_with("Please rate the quality of service")
}

/// The primary flow: Anna hands the widget chat to the Ratings user; after the line's delay
/// the question is shown in the still-open room, the visitor's typed answer and "yes" rate
/// Anna, and the room is closed with the rating as its comment. Nothing broke a rule of
/// Rocket.Chat's, and the webhook's answers left no `crmData` behind.
async fn a_handed_over_chat_is_rated_in_the_room_and_closed(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let room = t.asked().await;
    let session = t.app.session(&session_of(&room)).await;
    assert_eq!(session["operator_id"], "anna", "{session:#}");
    assert_eq!(session["line_id"], "support", "{session:#}");
    assert!(t.fake.is_open(&room), "asked in the open room");
    t.fake.visitor_writes(&room, "5");
    // Delivered twice (a try that timed out on Rocket.Chat's side): applied once, so the
    // answer read again is not taken for the visitor writing something else.
    let answer = t.fake.take_pending();
    for event in answer.iter().chain(&answer) {
        assert_eq!(t.fake.post_event(event.clone()).await, 200);
    }
    t.wait_shown(&room, |shown| shown.len() >= 3).await;
    assert!(t.fake.is_open(&room), "\"resolved?\" is still to come");
    t.visitor_says(&room, "yes").await;
    t.wait_room_closed(&room).await;
    let rating = t.rating(&room).await;
    assert_eq!(
        (rating["value"].as_i64(), rating["resolved"].as_bool()),
        (Some(5), Some(true)),
        "{rating:#}"
    );
    assert_eq!(t.fake.closing_comment(&room).as_deref(), Some("Rated 5 ★"));
    assert_eq!(t.fake.served_by(&room), Some(RATINGS), "never handed back");
    assert_eq!(t.fake.crm_data(&room).as_deref(), Some(""));
    assert!(
        t.fake.rule_violations().is_empty(),
        "{:?}",
        t.fake.rule_violations()
    );
}

/// A visitor who writes something else than an answer was not done: the chat goes back to
/// Anna and the request ends `cancelled`; when she hands it over again the chat is asked
/// again, as any conversation that went on after its close.
async fn a_message_that_is_no_answer_hands_the_chat_back(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let room = t.asked().await;
    t.visitor_says(&room, "Wait, one more question about the invoice")
        .await;
    t.wait_served_by(&room, ANNA).await;
    t.app.wait_for_status(&session_of(&room), "cancelled").await;
    assert!(t.fake.is_open(&room));
    let session = t.app.session(&session_of(&room)).await;
    assert!(session["closed_at"].is_null(), "{session:#}");
    assert!(t.rating(&room).await.is_null());

    // Handed over again once Anna is done, the chat is over now: asked again after the
    // line's delay, and rated.
    t.advance(Duration::seconds(60));
    t.fake.agent_writes(&room, ANNA, "The invoice is attached.");
    t.fake.agent_forwards(&room, RATINGS).unwrap();
    t.deliver().await;
    t.app.wait_closed(&session_of(&room)).await;
    t.advance(Duration::seconds(30));
    t.wait_shown(&room, |shown| {
        shown.iter().filter(|m| is_question(m)).count() == 2
    })
    .await;
    t.visitor_says(&room, "4").await;
    t.visitor_says(&room, "yes").await;
    t.wait_room_closed(&room).await;
    assert_eq!(t.rating(&room).await["value"], 4);
}

/// The visitor writes again while Anna, who handed the chat over, is offline: nobody else
/// in Support is available either, so the chat stays with the Ratings user. Once Boris is
/// available, the next catch-up gives the chat to Support, whose routing gives it to him.
async fn a_chat_taken_back_while_its_agent_is_offline_goes_to_the_department(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let room = t.asked().await;
    t.fake.set_available(ANNA, false);
    t.visitor_says(&room, "Wait, one more question about the invoice")
        .await;
    t.app.wait_for_status(&session_of(&room), "cancelled").await;
    assert_eq!(t.fake.served_by(&room), Some(RATINGS), "nobody to take it");
    let t = t.restart(|fake| fake.set_available(BORIS, true)).await;
    t.wait_served_by(&room, BORIS).await;
    assert!(t.fake.is_open(&room));
}

/// No answer within the line's window: the request expires, and the catch-up closes the
/// room it held, saying so in the closing comment.
async fn an_unanswered_chat_expires_and_is_closed(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let room = t.asked().await;
    t.advance(Duration::days(8));
    t.app.wait_for_status(&session_of(&room), "expired").await;
    let t = t.restart(|_| {}).await;
    t.wait_room_closed(&room).await;
    let comment = t.fake.closing_comment(&room).unwrap_or_default();
    assert!(comment.starts_with("No rating"), "{comment}");
}

/// An SMS chat Anna closed without the hand-over: the question is texted into the closed
/// room; the visitor's reply opens a new room, where it is read as the answer, and that
/// room is closed so that it leaves the agents' queue. It never becomes a session.
async fn an_sms_chat_closed_by_the_agent_is_answered_from_a_new_room(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let room = t.fake.open_sms("+15550100", "Is my order on its way?");
    t.fake.agent_takes(&room, ANNA);
    t.fake.agent_writes(&room, ANNA, "Yes, tomorrow.");
    t.fake.agent_closes(&room, ANNA, "answered");
    t.deliver().await;
    t.app.wait_closed(&session_of(&room)).await;
    t.advance(Duration::seconds(30));
    t.app.wait_for_status(&session_of(&room), "sent").await;
    t.wait_shown(&room, |shown| shown.iter().any(|m| is_question(m)))
        .await;
    let answer = t.fake.visitor_writes(&room, "4");
    assert_ne!(answer.id, room.id, "a closed room stays closed");
    t.deliver().await;
    let fake = t.fake.clone();
    let a = answer.clone();
    wait_until(
        || !fake.shown_to_visitor(&a).is_empty(),
        || "nothing said in the new room".into(),
    )
    .await;
    t.visitor_says(&answer, "yes").await;
    t.wait_room_closed(&answer).await;
    let rating = t.rating(&room).await;
    assert_eq!(rating["value"], 4, "{rating:#}");
    let session = t.app.session(&session_of(&room)).await;
    assert_eq!(session["operator_id"], "anna", "{session:#}");
    let (status, _) = t
        .app
        .get(&format!("/v1/sessions/{}", session_of(&answer)))
        .await;
    assert_eq!(status, 404, "the answer's room became a session of its own");
}

/// A widget chat closed without the hand-over cannot be reached: the widget drops a closed
/// room. The request ends `undeliverable`, saying why and what agents do instead, and
/// nothing is written in the room. The report counts it against Anna beside a chat she
/// handed over and one its visitor ended: one of her three.
async fn a_widget_chat_closed_without_the_hand_over_is_undeliverable(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let room = t.fake.open_widget("Ada Visitor", "Hi");
    t.fake.agent_takes(&room, ANNA);
    t.fake.agent_closes(&room, ANNA, "done");
    t.deliver().await;
    t.app.wait_closed(&session_of(&room)).await;
    t.advance(Duration::seconds(30));
    let session = t
        .app
        .wait_for_status(&session_of(&room), "undeliverable")
        .await;
    let why = session["rating_request"]["last_error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        why.contains("hand the chat to the Ratings user"),
        "{session:#}"
    );
    assert_eq!(session["operator_id"], "anna");
    assert!(
        t.fake
            .shown_to_visitor(&room)
            .iter()
            .all(|m| !is_question(m))
    );

    let handed = t.handed_over().await;
    t.app.wait_closed(&session_of(&handed)).await;
    // A chat its visitor ended first is not held against the agent.
    let left = t.fake.open_widget("Bo Visitor", "Hi");
    t.fake.agent_takes(&left, ANNA);
    t.fake.visitor_closes(&left);
    t.deliver().await;
    t.app.wait_closed(&session_of(&left)).await;
    let (status, report) = t.app.get("/v1/stats/hand-overs?line=support").await;
    assert_eq!(status, 200, "{report}");
    let share = 1.0 / 3.0;
    assert_eq!(
        report["operators"],
        json!([{"operator": "anna", "chats": 3, "closed_without_hand_over": 1, "share": share}]),
        "{report}"
    );
    let (status, page) = crate::dashboard::text(&t.app, "/dashboard", None).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Rocket.Chat: chats closed without the hand-over"),
        "{page}"
    );
    assert!(page.contains("33"), "{page}");
}

/// A visitor who closes the widget while the Ratings user holds the chat is not asked: the
/// widget shows nothing written in a closed room. The request ends `undeliverable`, saying
/// why, and the chat counts among Anna's, not against her. A close lost while Rateline was
/// down (and with a restart of Rocket.Chat) is caught up the same way.
async fn a_visitor_who_leaves_before_the_question_is_not_asked(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let room = t.handed_over().await;
    t.app.wait_closed(&session_of(&room)).await;
    t.fake.visitor_closes(&room);
    t.deliver().await;
    let lost = t.handed_over().await;
    t.app.wait_closed(&session_of(&lost)).await;
    let t = t
        .restart(|fake| {
            fake.visitor_closes(&lost);
            fake.restart();
        })
        .await;
    t.app
        .wait_count(
            "SELECT COUNT(*) FROM helpdesk_conversations WHERE medium = 'closed_by_visitor'",
            2,
        )
        .await;
    t.advance(Duration::seconds(30));
    for r in [&room, &lost] {
        let session = t.app.wait_for_status(&session_of(r), "undeliverable").await;
        let why = session["rating_request"]["last_error"]
            .as_str()
            .unwrap_or_default();
        assert!(why.contains("the visitor closed the chat"), "{session:#}");
        assert!(
            t.fake.shown_to_visitor(r).iter().all(|m| !is_question(m)),
            "{:?}",
            t.fake.shown_to_visitor(r)
        );
    }
    let (status, report) = t.app.get("/v1/stats/hand-overs?line=support").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["operators"],
        json!([{"operator": "anna", "chats": 2, "closed_without_hand_over": 0, "share": 0.0}]),
        "{report}"
    );
}

/// A department that asks for tags before the close: the Ratings user closes the rated chat
/// with the department's own closing tags, which Rocket.Chat would add anyway. One with no
/// closing tags refuses every close made through the API: the check names the step in
/// Rocket.Chat's words, and the rated chat stays with the Ratings user until it is taken.
async fn a_department_that_asks_for_tags_is_closed_with_its_own(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.fake.set_department_tags(SUPPORT, true, &[]);
    let setup = format!("/v1/connectors/rocketchat/{SERVER}/setup");
    let (status, report) = t.app.get(&setup).await;
    assert_eq!(status, 200, "{report}");
    // The Ratings user may not read whether a chat handed back can wait in its
    // department's queue: the check says whom to ask.
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains(
            "the Ratings user may not read \
             Livechat_allow_forward_inquiry_to_offline_department_agents"
        ),
        "{report:#}"
    );
    let problems = report["problems"].to_string();
    assert!(
        problems.contains(
            "Omnichannel → Departments → Support, add a tag under Conversation closing tags"
        ),
        "{report:#}"
    );
    let room = t.asked().await;
    t.visitor_says(&room, "5").await;
    t.visitor_says(&room, "yes").await;
    t.app.wait_for_status(&session_of(&room), "answered").await;
    t.app.settle().await;
    assert!(t.fake.is_open(&room), "a close Rocket.Chat refuses");
    assert_eq!(t.fake.served_by(&room), Some(RATINGS));

    t.fake.set_department_tags(SUPPORT, true, &["rated"]);
    let (_, report) = t.app.get(&setup).await;
    assert_eq!(report["problems"], json!([]), "{report:#}");
    assert!(
        report["found"].to_string().contains("closing tags (rated)"),
        "{report:#}"
    );
    let tagged = t.asked().await;
    t.visitor_says(&tagged, "4").await;
    t.visitor_says(&tagged, "yes").await;
    t.wait_room_closed(&tagged).await;
    assert_eq!(t.fake.tags_of(&tagged), ["rated"]);
    assert_eq!(
        t.fake.closing_comment(&tagged).as_deref(),
        Some("Rated 4 ★")
    );
}

/// Rocket.Chat holds its retries in memory: a hand-over posted while Rateline was down, and
/// lost with a restart of Rocket.Chat, is caught up at the next start from the rooms the
/// Ratings user holds, and the chat is asked.
async fn a_hand_over_lost_while_rateline_was_down_is_caught_up(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let mut lost = None;
    let t = t
        .restart(|fake| {
            let room = fake.open_widget("Ada Visitor", "My parcel is late");
            fake.agent_takes(&room, ANNA);
            fake.agent_forwards(&room, RATINGS).unwrap();
            fake.restart();
            lost = Some(room);
        })
        .await;
    let room = lost.unwrap();
    t.app.wait_closed(&session_of(&room)).await;
    t.advance(Duration::seconds(30));
    t.app.wait_for_status(&session_of(&room), "sent").await;
    t.wait_shown(&room, |shown| shown.iter().any(|m| is_question(m)))
        .await;
}

/// Rocket.Chat does not wait for one call before the next: the visitor's message written
/// after the hand-over can come first. It is held, answered 200, and applied once the
/// hand-over arrives: the client wrote after the hand-over, so the chat goes back.
async fn a_message_before_its_hand_over_is_held_until_it_arrives(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let room = t.fake.open_widget("Ada Visitor", "My parcel is late");
    t.fake.agent_takes(&room, ANNA);
    t.deliver().await;
    t.fake.agent_forwards(&room, RATINGS).unwrap();
    t.advance(Duration::seconds(1));
    t.fake.visitor_writes(&room, "Actually, one more thing");
    let mut pending = t.fake.take_pending();
    assert_eq!(
        pending
            .iter()
            .map(|p| p.kind().to_owned())
            .collect::<Vec<_>>(),
        ["LivechatSessionForwarded", "Message"]
    );
    pending.reverse();
    let message = pending.remove(0);
    assert_eq!(t.fake.post_event(message).await, 200);
    // Held without the visitor's token, a credential.
    let held = t
        .app
        .count(&format!(
            "SELECT COUNT(*) FROM helpdesk_held_events WHERE body LIKE '%{}%'",
            room.visitor_token
        ))
        .await;
    assert_eq!(held, 0, "the visitor's token was stored");
    assert_eq!(
        t.app
            .count("SELECT COUNT(*) FROM helpdesk_held_events")
            .await,
        1
    );
    assert_eq!(t.fake.post_event(pending.remove(0)).await, 200);
    t.app.wait_for_status(&session_of(&room), "cancelled").await;
    t.wait_served_by(&room, ANNA).await;
    assert_eq!(
        t.app
            .count("SELECT COUNT(*) FROM helpdesk_held_events")
            .await,
        0
    );
}

/// A call without the Secret Token, or with another, is refused (and Rocket.Chat drops it:
/// a 4xx is not retried); nothing is stored.
async fn a_forged_or_missing_token_is_refused_and_stores_nothing(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    for token in ["", "not-the-secret"] {
        t.fake.set_setting("Livechat_secret_token", json!(token));
        let room = t.fake.open_widget("Ada Visitor", "Hi");
        t.fake.agent_takes(&room, ANNA);
        t.fake.agent_forwards(&room, RATINGS).unwrap();
        let statuses = t.fake.deliver().await;
        assert_eq!(statuses, [401, 401], "{token:?}");
        assert!(t.fake.pending().is_empty(), "a 4xx is dropped, not retried");
    }
    let url = t
        .app
        .url(&format!("/connectors/rocketchat/{SERVER}/webhook"));
    let refused = reqwest::Client::new()
        .post(&url)
        .header("X-RocketChat-Livechat-Token", "not-the-secret")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let said = refused.text().await.unwrap();
    assert!(said.contains("Secret Token"), "{said}");
    assert!(!said.contains(SECRET), "{said}");
    assert_eq!(t.app.count("SELECT COUNT(*) FROM sessions").await, 0);

    // A body as large as a long chat's history is read only once the token is checked.
    let huge = vec![b' '; 5 * 1024 * 1024];
    let client = reqwest::Client::new();
    let post = |token: &'static str| {
        client
            .post(&url)
            .header("X-RocketChat-Livechat-Token", token)
            .header("Content-Type", "application/json")
            .body(huge.clone())
            .send()
    };
    // Refused without reading the body, the server may close the connection while the
    // client still writes it: the client then sees the write fail instead of the status.
    let refused = |sent: reqwest::Result<reqwest::Response>, status: u16| match sent {
        Ok(r) => assert_eq!(r.status(), status),
        Err(e) => assert!(e.is_request(), "{e}"),
    };
    refused(post("not-the-secret").await, 401);
    refused(post(SECRET).await, 413);
    assert_eq!(t.app.count("SELECT COUNT(*) FROM sessions").await, 0);
    // A long chat's hand-over, far above `server.body_limit_bytes`, is taken.
    t.fake.set_setting("Livechat_secret_token", json!(SECRET));
    let room = t.fake.open_widget("Ada Visitor", "Hi");
    t.fake.agent_takes(&room, ANNA);
    for n in 0..400 {
        t.fake
            .agent_writes(&room, ANNA, &format!("{n}: {}", "long answer ".repeat(40)));
    }
    t.fake.agent_forwards(&room, RATINGS).unwrap();
    let event = t.fake.take_pending().pop().unwrap();
    assert!(event.body.to_string().len() > 128 * 1024);
    assert_eq!(t.fake.post_event(event).await, 200);
    t.app.wait_closed(&session_of(&room)).await;
}

/// Without the `bot` role the Ratings user is held to 10 calls a minute per route: the
/// 11th question waits for the reset Rocket.Chat names, is not failed, and goes out then.
async fn the_rate_limit_without_the_bot_role_delays_and_loses_nothing(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.fake
        .set_roles(RATINGS, &["livechat-agent", "livechat-manager", "user"]);
    let mut rooms = Vec::new();
    for _ in 0..11 {
        rooms.push(t.handed_over().await);
    }
    t.advance(Duration::seconds(30));
    // Ten go out within the minute, whichever they are; the eleventh waits.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let waiting = loop {
        let mut sent = 0;
        let mut waiting = Vec::new();
        for room in &rooms {
            match t.app.request_status(&session_of(room)).await.as_str() {
                "sent" => sent += 1,
                _ => waiting.push(room.clone()),
            }
        }
        let limited = match waiting.as_slice() {
            [one] => {
                let s = t.app.session(&session_of(one)).await;
                s["rating_request"]["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("give the Ratings user the bot role"))
            }
            _ => false,
        };
        if sent == 10 && limited {
            break waiting;
        }
        assert!(tokio::time::Instant::now() < deadline, "{sent} sent");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let s = t.app.session(&session_of(&waiting[0])).await;
    assert_eq!(s["rating_request"]["status"], "scheduled", "{s:#}");
    assert_eq!(s["rating_request"]["attempts"], 0, "no attempt used: {s:#}");
    t.advance(Duration::seconds(61));
    t.app
        .wait_for_status(&session_of(&waiting[0]), "sent")
        .await;
}

/// An admin connects a Rocket.Chat server on the Helpdesks page: without the Ratings user's
/// id the form says so next to the field and nothing is stored; with it the server is
/// connected, its page shows the webhook URL and never the token or Secret Token, and the
/// check names each step left on Rocket.Chat's Webhooks page until the administrator takes
/// them. Then a chat handed over is asked.
async fn an_admin_connects_rocketchat_on_the_helpdesks_page(kind: Db) {
    let Some(t) = spawn_with(kind, false).await else {
        return;
    };
    let (status, body) = t
        .app
        .put("/v1/people/adm", json!({"name": "Ada", "role": "admin"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let cookie = crate::workbench::signed_in(&t.app, "adm").await;
    t.app.use_key(&crate::common::create_key(
        &t.app,
        &["--name", "ops", "--role", "admin"],
    ));
    let send = crate::workbench::post;
    let url = t.fake.url();
    let token = t.fake.token_of(RATINGS);
    let mut connect = vec![
        ("helpdesk", "rocketchat"),
        ("id", SERVER),
        ("url", url.as_str()),
        ("api_token", token.as_str()),
        ("secret", SECRET),
        ("user_id", ""),
    ];
    let (status, page) = send(&t.app, &cookie, "/dashboard/connectors", &connect).await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("id=\"f-user_id-error\""), "{page}");
    assert!(!page.contains(&token) && !page.contains(SECRET), "{page}");
    let (_, list) = t.app.get("/v1/connectors").await;
    assert_eq!(list["rocketchat"], json!([]), "{list}");

    connect[5] = ("user_id", RATINGS);
    let (status, page) = send(&t.app, &cookie, "/dashboard/connectors", &connect).await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("Connected."), "{page}");
    assert!(
        page.contains("/connectors/rocketchat/main/webhook"),
        "{page}"
    );
    assert!(!page.contains(&token) && !page.contains(SECRET), "{page}");
    let (status, read) = t.app.get("/v1/connectors/rocketchat/main").await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["user_id"], RATINGS, "{read}");
    assert_eq!(read["has_api_token"], true, "{read}");
    assert!(
        read.get("api_token").is_none() && read.get("webhook_token").is_none(),
        "{read}"
    );
    let (status, body) = t
        .app
        .call(
            "PATCH",
            "/v1/connectors/rocketchat/main",
            Some(json!({"departments": {SUPPORT: "support"}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let path = "/dashboard/connectors/rocketchat/main/setup";
    let (status, page) = crate::dashboard::text(&t.app, path, Some(&cookie)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("reached as ratings"), "{page}");
    assert!(
        page.contains("Omnichannel → Webhooks: set Webhook URL to"),
        "{page}"
    );
    assert!(page.contains("add Visitor message"), "{page}");
    point_webhook(&t.fake, &t.app);
    let (status, page) = crate::dashboard::text(&t.app, path, Some(&cookie)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("the webhook posts to"), "{page}");
    assert!(!page.contains("Omnichannel → Webhooks: set"), "{page}");
    assert!(!page.contains(&token) && !page.contains(SECRET), "{page}");

    let room = t.asked().await;
    assert_eq!(
        t.app.session(&session_of(&room)).await["operator_id"],
        "anna"
    );
}

crate::common::on_both_backends!(
    an_admin_connects_rocketchat_on_the_helpdesks_page,
    a_handed_over_chat_is_rated_in_the_room_and_closed,
    a_message_that_is_no_answer_hands_the_chat_back,
    an_unanswered_chat_expires_and_is_closed,
    an_sms_chat_closed_by_the_agent_is_answered_from_a_new_room,
    a_widget_chat_closed_without_the_hand_over_is_undeliverable,
    a_hand_over_lost_while_rateline_was_down_is_caught_up,
    a_visitor_who_leaves_before_the_question_is_not_asked,
    a_department_that_asks_for_tags_is_closed_with_its_own,
    a_chat_taken_back_while_its_agent_is_offline_goes_to_the_department,
    a_message_before_its_hand_over_is_held_until_it_arrives,
    a_forged_or_missing_token_is_refused_and_stores_nothing,
    the_rate_limit_without_the_bot_role_delays_and_loses_nothing,
);
