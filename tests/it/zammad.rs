//! The Zammad channel end to end: the real server and database, a fake Zammad that
//! enforces its REST API's auth, shapes and errors and what each channel's customer sees,
//! and trigger webhooks shaped and signed like Zammad's.

use crate::common::{Db, TestApp, start_time, test_settings};
use chrono::Duration;
use rateline::clock::ManualClock;
use rateline_domain::ZammadSettings;
use rateline_testkit::wait_until;
use rateline_testkit::zammad::{
    AGENT_ANNA, AGENT_BORIS, API_TOKEN, FakeZammad, Fault, FollowUp, OTHER_GROUP, SALES_GROUP,
    SUPPORT_GROUP, Ticket, WEBHOOK_TOKEN, Webhook,
};
use serde_json::{Value, json};

const INSTANCE: &str = "helpdesk";

struct Zm {
    app: TestApp,
    fake: FakeZammad,
}

fn instance(fake: &FakeZammad) -> serde_json::Value {
    crate::common::helpdesk_entry("instance", INSTANCE, &settings_of(fake))
}

fn settings_of(fake: &FakeZammad) -> ZammadSettings {
    ZammadSettings {
        url: fake.url(),
        api_token: Some(API_TOKEN.into()),
        webhook_token: Some(WEBHOOK_TOKEN.into()),
        allow_unsigned: false,
        groups: [
            (SUPPORT_GROUP.to_string(), "support".to_owned()),
            (SALES_GROUP.to_string(), "sales".to_owned()),
        ]
        .into(),
        agents: [(AGENT_ANNA.to_string(), "anna".to_owned())].into(),
        internal_note: true,
        close_after_answer: true,
    }
}

async fn spawn(kind: Db) -> Option<Zm> {
    start(kind, true).await
}

/// A server with the lines `support` and `sales` and a supervisor `sup` alerted on each;
/// the instance in the config file when `in_file`, else none connected.
async fn start(kind: Db, in_file: bool) -> Option<Zm> {
    let db = crate::common::TestDb::new(kind).await?;
    let fake = FakeZammad::start().await;
    fake.set_now(start_time());
    let mut settings = test_settings(&db);
    if in_file {
        settings.zammad = vec![instance(&fake)];
    }
    settings.scheduler.send_timeout_seconds = 2;
    let clock = ManualClock::new(start_time());
    let connector = crate::common::Connector::start().await;
    let app = TestApp::start(db, settings, clock, connector).await;
    let t = Zm { app, fake };
    let (status, body) = t
        .app
        .put(
            "/v1/people/sup",
            json!({"name": "Sam", "role": "supervisor",
                   "notify": {"webhook_url": t.app.connector.url}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for line in ["support", "sales"] {
        let (status, body) = t
            .app
            .put(
                &format!("/v1/lines/{line}"),
                json!({"name": line, "rating": {"delay_seconds": 30, "alert_wait_seconds": 0,
                                                "scale": "five_star"},
                       "notify_low": [{"kind": "supervisor", "id": "sup"}]}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    Some(t)
}

fn session_of(t: &Ticket) -> String {
    format!("zammad-{INSTANCE}-{}", t.id)
}

impl Zm {
    fn advance(&self, d: Duration) {
        self.app.advance(d);
        self.fake.set_now(self.fake.now() + d);
    }

    async fn deliver(&self, hook: &Webhook) -> (u16, Value) {
        let resp = hook
            .post_to(
                &self
                    .app
                    .url(&format!("/connectors/zammad/{INSTANCE}/webhook")),
            )
            .await;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn deliver_ok(&self, hooks: impl IntoIterator<Item = Webhook>) {
        for hook in hooks {
            let (status, body) = self.deliver(&hook).await;
            assert_eq!(status, 200, "{body}");
        }
    }

    /// Stops Rateline, lets `meanwhile` play Zammad (whose trigger's five tries all fail
    /// while Rateline is stopped), and starts Rateline again on the same database.
    async fn restart(self, meanwhile: impl FnOnce(&FakeZammad)) -> Zm {
        let Zm { app, fake } = self;
        let (db, clock, connector) = app.stop().await;
        meanwhile(&fake);
        let mut settings = test_settings(&db);
        settings.zammad = vec![instance(&fake)];
        settings.scheduler.send_timeout_seconds = 2;
        let app = TestApp::start(db, settings, clock, connector).await;
        Zm { app, fake }
    }

    /// What Zammad's trigger fires for the changes Rateline made through the API.
    async fn deliver_echoes(&self) {
        self.deliver_ok(self.fake.take_webhooks()).await;
    }

    /// A ticket opened by the customer on `via`, assigned, answered and closed.
    async fn worked_and_closed(&self, group: u64, via: &str, agent: u64) -> Ticket {
        let t = self.fake.open(group, "Ann Customer", via);
        self.deliver_ok([self.fake.created(&t)]).await;
        self.deliver_ok([self.fake.assign(&t, agent)]).await;
        self.deliver_ok([self.fake.agent_writes(&t, agent, "It ships today.")])
            .await;
        self.deliver_ok([self.fake.close(&t)]).await;
        t
    }

    /// A ticket worked and closed on `via`, whose request was then sent: the echoes of
    /// Rateline's own article delivered.
    async fn asked(&self, group: u64, via: &str) -> Ticket {
        let ticket = self.worked_and_closed(group, via, AGENT_ANNA).await;
        self.advance(Duration::seconds(30));
        self.request_in(&ticket).await;
        self.app.wait_for_status(&session_of(&ticket), "sent").await;
        self.deliver_echoes().await;
        ticket
    }

    /// The customer of `asked` writes `text` on `via` after its close, and Zammad files it
    /// in a new ticket of `group`: that ticket, its creation delivered.
    async fn writes_in_a_new_ticket(
        &self,
        group: u64,
        asked: &Ticket,
        via: &str,
        text: &str,
    ) -> Ticket {
        let new = self.fake.open_with(group, asked.customer, via, text);
        self.deliver_ok([self.fake.created(&new)]).await;
        new
    }

    /// Asserts that ticket `answer`, filed for an answer, never became a session.
    async fn is_no_session(&self, answer: &Ticket) {
        let (status, _) = self
            .app
            .get(&format!("/v1/sessions/{}", session_of(answer)))
            .await;
        assert_eq!(
            status, 404,
            "the answer's ticket became a session of its own"
        );
    }

    /// How many requests were posted in the ticket.
    fn requests_in(&self, t: &Ticket) -> usize {
        self.fake
            .articles(t)
            .iter()
            .filter(|a| is_request(a))
            .count()
    }

    /// The request's article in the ticket, once it was posted.
    async fn request_in(&self, t: &Ticket) -> Value {
        let fake = self.fake.clone();
        let ticket = *t;
        wait_until(
            || fake.articles(&ticket).iter().any(is_request),
            || {
                format!(
                    "no request in ticket {}: {:?}",
                    ticket.id,
                    fake.articles(&ticket)
                )
            },
        )
        .await;
        self.fake.articles(t).into_iter().find(is_request).unwrap()
    }

    async fn rating(&self, t: &Ticket) -> Value {
        self.app.session(&session_of(t)).await["rating"].clone()
    }

    async fn wait_for_rating(&self, t: &Ticket, what: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let r = self.rating(t).await;
            if what(&r) {
                return r;
            }
            assert!(tokio::time::Instant::now() < deadline, "rating: {r:#}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

fn is_request(a: &Value) -> bool {
    a["body"]
        .as_str()
        .is_some_and(|b| b.starts_with("Please rate the quality of service"))
}

/// E-mail: the request is posted into the closed ticket after the line's delay, as an
/// e-mail to the customer; their reply (quoting the question) rates the owner at the close,
/// a low one alerts, the ticket the reply reopened is closed again, and an internal note
/// tells agents.
async fn a_closed_ticket_is_asked_in_it_and_the_reply_rates_the_owner(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let ticket = t
        .worked_and_closed(SUPPORT_GROUP, "email", AGENT_ANNA)
        .await;
    let session = t.app.session(&session_of(&ticket)).await;
    assert_eq!(
        session["rating_request"]["status"], "scheduled",
        "{session:#}"
    );
    assert_eq!(session["operator_id"], "anna", "{session:#}");
    assert_eq!(session["line_id"], "support");
    t.app.settle().await;
    assert!(!t.fake.articles(&ticket).iter().any(is_request));
    t.advance(Duration::seconds(30));
    let request = t.request_in(&ticket).await;
    assert_eq!(request["type"], "email", "{request}");
    assert_eq!(request["internal"], false, "{request}");
    assert_eq!(request["to"], "ann.customer@example.com", "{request}");
    assert!(
        request["body"]
            .as_str()
            .unwrap()
            .contains("Reply with a number from 1"),
        "{request}"
    );
    t.app.wait_for_status(&session_of(&ticket), "sent").await;
    t.deliver_echoes().await;

    t.advance(Duration::seconds(60));
    t.deliver_ok([t.fake.customer_writes(
        &ticket,
        "2\n\nOn Sat, 21 Nov 2026, Support wrote:\n> Please rate the quality of service",
    )])
    .await;
    let rating = t.wait_for_rating(&ticket, |r| r["value"] == 2).await;
    assert_eq!(rating["low"], true, "{rating:#}");
    t.wait_for_rating(&ticket, |r| r["alerts"][0]["status"] == "sent")
        .await;
    // The reply reopened the ticket; Rateline closed it again.
    assert_eq!(t.fake.state(&ticket), "closed");
    let note = t
        .fake
        .articles(&ticket)
        .into_iter()
        .find(|a| a["internal"] == true)
        .expect("an internal note");
    assert!(
        note["body"].as_str().unwrap().contains("rated 2 ★"),
        "{note}"
    );
    t.deliver_echoes().await;
    let session = t.app.session(&session_of(&ticket)).await;
    assert_eq!(
        session["rating_request"]["status"], "answered",
        "{session:#}"
    );
    assert_eq!(t.fake.rule_violations(), Vec::<String>::new());
}

/// A team that closes tickets under a state of its own naming (`solved`, of type `closed`)
/// is asked as one that uses `closed`: the state's type makes the close, not its name. The
/// ticket the answer reopened is closed again, into `closed`.
async fn a_state_of_type_closed_under_another_name_is_a_close(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let ticket = t.fake.open(SUPPORT_GROUP, "Ann Customer", "email");
    t.deliver_ok([t.fake.created(&ticket)]).await;
    t.deliver_ok([t.fake.assign(&ticket, AGENT_ANNA)]).await;
    t.deliver_ok([t.fake.agent_writes(&ticket, AGENT_ANNA, "It ships today.")])
        .await;
    t.deliver_ok([t.fake.solve(&ticket)]).await;
    let session = t.app.session(&session_of(&ticket)).await;
    assert!(session["closed_at"].is_string(), "{session:#}");
    assert_eq!(
        session["rating_request"]["status"], "scheduled",
        "{session:#}"
    );
    t.advance(Duration::seconds(30));
    t.request_in(&ticket).await;
    t.app.wait_for_status(&session_of(&ticket), "sent").await;
    t.deliver_echoes().await;
    t.advance(Duration::seconds(60));
    t.deliver_ok([t.fake.customer_writes(&ticket, "4")]).await;
    t.wait_for_rating(&ticket, |r| r["value"] == 4).await;
    assert_eq!(t.fake.state(&ticket), "closed");
    assert_eq!(t.fake.rule_violations(), Vec::<String>::new());
}

/// Telegram: after the close Zammad files the customer's answer in a new ticket; it is
/// taken as the answer, that ticket is closed and never rated itself. A later new ticket
/// that is no answer (the comment could be any text) stays a ticket of its own.
async fn a_telegram_answer_in_a_new_ticket_answers_the_old_one(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let (status, body) = t
        .app
        .call(
            "PATCH",
            "/v1/lines/support",
            Some(json!({"rating": {"ask_comment_on_low": true}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ticket = t
        .worked_and_closed(SUPPORT_GROUP, "telegram personal-message", AGENT_ANNA)
        .await;
    t.advance(Duration::seconds(30));
    let request = t.request_in(&ticket).await;
    assert_eq!(request["type"], "telegram personal-message", "{request}");
    t.app.wait_for_status(&session_of(&ticket), "sent").await;
    t.deliver_echoes().await;

    let answer = t
        .writes_in_a_new_ticket(SUPPORT_GROUP, &ticket, "telegram personal-message", "2")
        .await;
    t.wait_for_rating(&ticket, |r| r["value"] == 2).await;
    assert_eq!(t.fake.state(&answer), "closed");
    t.deliver_echoes().await;
    // The comment is asked in the old ticket; a new problem is not taken as it.
    assert!(
        t.fake
            .articles(&ticket)
            .iter()
            .any(|a| a["body"].as_str().unwrap().contains("What went wrong")),
        "{:?}",
        t.fake.articles(&ticket)
    );
    t.advance(Duration::seconds(5));
    let next = t.fake.open_with(
        SUPPORT_GROUP,
        ticket.customer,
        "telegram personal-message",
        "My new parcel never came",
    );
    t.deliver_ok([t.fake.created(&next)]).await;
    let (status, _) = t
        .app
        .get(&format!("/v1/sessions/{}", session_of(&next)))
        .await;
    assert_eq!(status, 200, "a new problem is a ticket of its own");
    assert!(t.rating(&ticket).await["comment"].is_null());
    assert_eq!(t.fake.state(&next), "new");
    t.advance(Duration::seconds(60));
    t.app.settle().await;
    t.is_no_session(&answer).await;
    assert!(t.fake.articles(&answer).iter().all(|a| !is_request(a)));
    assert_eq!(t.fake.rule_violations(), Vec::<String>::new());
}

/// E-mail in a group that files a follow-up to a closed ticket in a new ticket
/// (`follow_up_possible`: `new_ticket`, or `new_ticket_after_certain_time` once its days
/// passed): the customer's reply is taken as the answer, quoted text and all, the new ticket
/// is closed and never rated itself. Within the days, the reply reopens the ticket as usual.
async fn an_email_answer_filed_in_a_new_ticket_answers_the_old_one(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.fake
        .set_follow_up_possible(SUPPORT_GROUP, FollowUp::NewTicket);
    t.fake
        .set_follow_up_possible(SALES_GROUP, FollowUp::NewTicketAfterDays(3));
    let ticket = t.asked(SUPPORT_GROUP, "email").await;
    let answer = t
        .writes_in_a_new_ticket(
            SUPPORT_GROUP,
            &ticket,
            "email",
            "4\n\nOn Friday, Support wrote:\n> Please rate the quality of service",
        )
        .await;
    t.wait_for_rating(&ticket, |r| r["value"] == 4).await;
    assert_eq!(t.fake.state(&answer), "closed");
    t.deliver_echoes().await;
    t.is_no_session(&answer).await;
    let session = t.app.session(&session_of(&ticket)).await;
    assert_eq!(
        session["rating_request"]["status"], "answered",
        "{session:#}"
    );

    // Within the group's three days the reply reopens the ticket, and is the answer there.
    let within = t.asked(SALES_GROUP, "email").await;
    t.advance(Duration::days(2));
    t.deliver_ok([t.fake.customer_writes(&within, "5")]).await;
    t.wait_for_rating(&within, |r| r["value"] == 5).await;
    assert_eq!(t.fake.rule_violations(), Vec::<String>::new());
}

/// The customer writing again before the request is due cancels it; reopened and closed
/// again, the ticket is asked then, and once.
async fn writing_again_cancels_and_a_ticket_is_asked_at_most_once(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let ticket = t
        .worked_and_closed(SUPPORT_GROUP, "email", AGENT_ANNA)
        .await;
    t.advance(Duration::seconds(10));
    t.deliver_ok([t.fake.customer_writes(&ticket, "One more question, please")])
        .await;
    let session = t.app.session(&session_of(&ticket)).await;
    assert_eq!(
        session["rating_request"]["status"], "cancelled",
        "{session:#}"
    );
    t.deliver_ok([t.fake.close(&ticket)]).await;
    t.advance(Duration::seconds(30));
    t.request_in(&ticket).await;
    t.app.wait_for_status(&session_of(&ticket), "sent").await;
    t.deliver_echoes().await;
    t.advance(Duration::seconds(5));
    t.deliver_ok([t.fake.customer_writes(&ticket, "4")]).await;
    t.wait_for_rating(&ticket, |r| r["value"] == 4).await;
    t.deliver_echoes().await;

    t.deliver_ok([t.fake.reopen(&ticket)]).await;
    t.deliver_ok([t.fake.customer_writes(&ticket, "Thanks again!")])
        .await;
    t.deliver_ok([t.fake.close(&ticket)]).await;
    t.advance(Duration::seconds(60));
    t.app.settle().await;
    let asked = t
        .fake
        .articles(&ticket)
        .iter()
        .filter(|a| is_request(a))
        .count();
    assert_eq!(asked, 1);
}

/// A call older than one applied (Zammad retries a failed delivery while newer ones go
/// through) neither re-credits the ticket nor closes it again; its article still counts.
async fn a_call_older_than_one_applied_changes_nothing(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let ticket = t.fake.open(SUPPORT_GROUP, "Ann Customer", "email");
    t.deliver_ok([t.fake.created(&ticket)]).await;
    let to_anna = t.fake.assign(&ticket, AGENT_ANNA);
    t.advance(Duration::seconds(1));
    let to_boris = t.fake.assign(&ticket, AGENT_BORIS);
    t.deliver_ok([to_boris]).await;
    crate::common::assert_stale(t.deliver(&to_anna).await);
    let boris = t.app.session(&session_of(&ticket)).await["operator_id"].clone();
    assert_ne!(boris, "anna", "re-credited by a stale call");

    t.advance(Duration::seconds(1));
    let closed = t.fake.close(&ticket);
    t.advance(Duration::seconds(1));
    let reopened = t.fake.reopen(&ticket);
    t.deliver_ok([reopened]).await;
    crate::common::assert_stale(t.deliver(&closed).await);
    t.advance(Duration::seconds(60));
    t.app.settle().await;
    let session = t.app.session(&session_of(&ticket)).await;
    assert_eq!(
        session["closed_at"],
        Value::Null,
        "closed by a stale call: {session:#}"
    );

    t.deliver_ok([t.fake.close(&ticket)]).await;
    let session = t.app.session(&session_of(&ticket)).await;
    assert!(session["closed_at"].is_string(), "{session:#}");
    assert_eq!(session["operator_id"], boris);
}

/// Forged and unsigned calls and an unknown instance store nothing; an unmapped group is
/// let go with its reason; an article from someone else in the ticket is not the answer.
async fn refused_and_foreign_calls_store_nothing(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let ticket = t.fake.open(SUPPORT_GROUP, "Ann Customer", "email");
    let created = t.fake.created(&ticket);
    for hook in [
        created.signed_with("not-the-token"),
        created.tampered(),
        created.unsigned(),
    ] {
        let (status, body) = t.deliver(&hook).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"]["code"], "bad_signature", "{body}");
    }
    let resp = created
        .post_to(&t.app.url("/connectors/zammad/elsewhere/webhook"))
        .await;
    assert_eq!(resp.status().as_u16(), 404);
    let (status, _) = t
        .app
        .get(&format!("/v1/sessions/{}", session_of(&ticket)))
        .await;
    assert_eq!(status, 404, "a refused call opened a session");

    let other = t.fake.open(OTHER_GROUP, "Olga Other", "email");
    let (status, body) = t.deliver(&t.fake.created(&other)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["applied"], false, "{body}");
    assert!(
        body["ignored"].as_str().unwrap().contains("zammad-3"),
        "{body}"
    );

    let asked = t.worked_and_closed(SALES_GROUP, "email", AGENT_BORIS).await;
    assert_eq!(
        t.app.session(&session_of(&asked)).await["operator_id"],
        "zammad-8"
    );
    t.advance(Duration::seconds(30));
    t.request_in(&asked).await;
    t.app.wait_for_status(&session_of(&asked), "sent").await;
    t.deliver_echoes().await;
    t.advance(Duration::seconds(5));
    t.deliver_ok([t.fake.another_customer_writes(&asked, "1")])
        .await;
    t.app.settle().await;
    assert!(t.rating(&asked).await.is_null());
    assert_eq!(t.app.request_status(&session_of(&asked)).await, "sent");
}

/// 429 and 5xx are retried; a 401 holds the request back without using its attempts.
async fn zammad_errors_are_retried_or_held_back(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let ticket = t
        .worked_and_closed(SUPPORT_GROUP, "email", AGENT_ANNA)
        .await;
    t.fake.fail_next(Fault::ServerError);
    t.advance(Duration::seconds(30));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let s = t.app.session(&session_of(&ticket)).await;
        // The attempt is counted when it is claimed: it is over once the request is
        // back in the queue for its retry.
        if s["rating_request"]["attempts"] == 1 && s["rating_request"]["status"] != "sending" {
            assert_eq!(s["rating_request"]["status"], "scheduled", "{s:#}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{s:#}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    t.fake.fail_next(Fault::RateLimited { retry_after: 5 });
    t.advance(Duration::seconds(60));
    t.app.settle().await;
    t.advance(Duration::seconds(60));
    t.request_in(&ticket).await;
    let s = t.app.wait_for_status(&session_of(&ticket), "sent").await;
    assert_eq!(s["rating_request"]["attempts"], 3, "{s:#}");

    let held = t
        .worked_and_closed(SUPPORT_GROUP, "email", AGENT_ANNA)
        .await;
    t.fake.fail_next(Fault::Unauthorized);
    t.advance(Duration::seconds(30));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let s = t.app.session(&session_of(&held)).await;
        if s["rating_request"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("api_token"))
        {
            assert_eq!(s["rating_request"]["attempts"], 0, "{s:#}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{s:#}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    t.advance(Duration::minutes(5));
    t.request_in(&held).await;
    t.app.wait_for_status(&session_of(&held), "sent").await;
}

/// A restart with a request pending loses nothing.
async fn a_restart_with_requests_pending_loses_nothing(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let ticket = t
        .worked_and_closed(SUPPORT_GROUP, "email", AGENT_ANNA)
        .await;
    let Zm { app, fake } = t;
    let (db, clock, connector) = app.stop().await;
    clock.advance(Duration::seconds(45));
    fake.set_now(fake.now() + Duration::seconds(45));
    let mut settings = test_settings(&db);
    settings.zammad = vec![instance(&fake)];
    let app = TestApp::start(db, settings, clock, connector).await;
    let t = Zm { app, fake };
    t.request_in(&ticket).await;
    t.app.wait_for_status(&session_of(&ticket), "sent").await;
    t.app.settle().await;
    assert_eq!(t.requests_in(&ticket), 1);
}

/// An instance connected over the API takes its trigger's calls at once and asks in the
/// ticket; the token is never shown; a changed group mapping applies to the next ticket;
/// disconnected, its calls are refused.
async fn an_instance_connected_over_the_api_is_used_at_once(kind: Db) {
    let Some(t) = start(kind, false).await else {
        return;
    };
    let path = format!("/v1/connectors/zammad/{INSTANCE}");
    let (status, body) = t
        .app
        .put(&path, serde_json::to_value(settings_of(&t.fake)).unwrap())
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["groups"][SUPPORT_GROUP.to_string()],
        "support",
        "{body}"
    );
    let text = body.to_string();
    assert!(
        !text.contains(API_TOKEN) && !text.contains(WEBHOOK_TOKEN),
        "{text}"
    );

    let ticket = t
        .worked_and_closed(SUPPORT_GROUP, "email", AGENT_ANNA)
        .await;
    t.advance(Duration::seconds(30));
    t.request_in(&ticket).await;
    let s = t.app.wait_for_status(&session_of(&ticket), "sent").await;
    assert_eq!(s["line_id"], "support", "{s:#}");
    assert_eq!(s["operator_id"], "anna", "{s:#}");

    // The support group now goes to sales: the next ticket is rated there.
    let patch = json!({"groups": {SUPPORT_GROUP.to_string(): "sales"}});
    let (status, body) = t.app.call("PATCH", &path, Some(patch)).await;
    assert_eq!(status, 200, "{body}");
    let next = t
        .worked_and_closed(SUPPORT_GROUP, "email", AGENT_ANNA)
        .await;
    assert_eq!(t.app.session(&session_of(&next)).await["line_id"], "sales");

    let (status, body) = t.app.call("DELETE", &path, None).await;
    assert_eq!(status, 204, "{body}");
    let other = t.fake.open(SUPPORT_GROUP, "Ben Customer", "email");
    let (status, body) = t.deliver(&t.fake.created(&other)).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "connector_not_found", "{body}");
}

/// A ticket logged from a phone call reaches the customer nowhere in its own channel, so it
/// is asked by e-mail at the address Zammad knows; a ticket whose owner was taken off before
/// the close is credited to nobody; forgetting the customer clears the address Rateline kept.
async fn a_phone_ticket_is_asked_by_email_and_an_unowned_one_credits_nobody(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let ticket = t.fake.open(SUPPORT_GROUP, "Ann Customer", "phone");
    t.deliver_ok([t.fake.created(&ticket)]).await;
    t.deliver_ok([t.fake.assign(&ticket, AGENT_ANNA)]).await;
    assert_eq!(
        t.app.session(&session_of(&ticket)).await["operator_id"],
        "anna"
    );
    t.deliver_ok([t.fake.unassign(&ticket, AGENT_ANNA)]).await;
    t.deliver_ok([t.fake.close(&ticket)]).await;
    let session = t.app.session(&session_of(&ticket)).await;
    assert_eq!(session["operator_id"], Value::Null, "{session:#}");
    t.advance(Duration::seconds(30));
    let request = t.request_in(&ticket).await;
    assert_eq!(request["type"], "email", "{request}");
    assert_eq!(request["to"], "ann.customer@example.com", "{request}");
    t.app.wait_for_status(&session_of(&ticket), "sent").await;
    assert!(
        t.fake.rule_violations().is_empty(),
        "{:?}",
        t.fake.rule_violations()
    );

    let client = format!("{INSTANCE}-{}", ticket.customer);
    let (status, body) = t
        .app
        .call("DELETE", &format!("/v1/clients/zammad/{client}"), None)
        .await;
    assert!(status == 200 || status == 204, "{body}");
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&t.app.db.url).await.unwrap();
    let kept: Vec<Option<String>> =
        sqlx::query_scalar("SELECT address FROM helpdesk_conversations WHERE session_id = $1")
            .bind(session_of(&ticket))
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert_eq!(kept, vec![None], "the e-mail address outlived the erasure");
}

/// Zammad gives up on a trigger's call after five tries in about two minutes. The close
/// made while Rateline was stopped, and the Telegram answer that Zammad filed in a new ticket
/// while it was stopped again, are both caught up through the API at the next start: the
/// closed ticket is asked, credited to its owner, and the answer rates it.
async fn calls_zammad_gave_up_on_are_caught_up_at_the_start(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.app.wait_for_catch_up_mark().await;
    let ticket = t
        .fake
        .open(SUPPORT_GROUP, "Ann Customer", "telegram personal-message");
    t.deliver_ok([t.fake.created(&ticket)]).await;
    t.deliver_ok([t.fake.assign(&ticket, AGENT_ANNA)]).await;
    t.deliver_ok([t.fake.agent_writes(&ticket, AGENT_ANNA, "It ships today.")])
        .await;
    let t = t
        .restart(|fake| {
            fake.close(&ticket);
        })
        .await;
    t.app.wait_closed(&session_of(&ticket)).await;
    t.advance(Duration::seconds(30));
    let request = t.request_in(&ticket).await;
    assert_eq!(request["type"], "telegram personal-message", "{request}");
    t.app.wait_for_status(&session_of(&ticket), "sent").await;
    t.advance(Duration::seconds(5));
    let mut answer = None;
    let t = t
        .restart(|fake| {
            fake.take_webhooks();
            answer = Some(fake.open_with(
                SUPPORT_GROUP,
                ticket.customer,
                "telegram personal-message",
                "4",
            ));
        })
        .await;
    let answer = answer.unwrap();
    t.wait_for_rating(&ticket, |r| r["value"] == 4).await;
    let session = t.app.session(&session_of(&ticket)).await;
    assert_eq!(session["operator_id"], "anna", "{session:#}");
    let fake = t.fake.clone();
    wait_until(
        || fake.state(&answer) == "closed",
        || "the answer's ticket was not closed".into(),
    )
    .await;
    t.is_no_session(&answer).await;
    t.app.settle().await;
    assert_eq!(t.requests_in(&ticket), 1);
}

/// A WhatsApp ticket (Zammad 6.3 and later) is asked in WhatsApp. Zammad refuses an agent's
/// WhatsApp reply on a closed ticket, so Rateline opens it for the request and closes it
/// again; the customer's answer, which Zammad files in a new ticket, rates the owner, and the
/// follow-up goes out the same way. Nothing breaks a rule of Zammad's or Meta's.
async fn a_whatsapp_ticket_is_asked_in_whatsapp(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let ticket = t
        .worked_and_closed(SUPPORT_GROUP, "whatsapp message", AGENT_ANNA)
        .await;
    t.advance(Duration::seconds(30));
    let request = t.request_in(&ticket).await;
    assert_eq!(request["type"], "whatsapp message", "{request}");
    assert_eq!(request["internal"], false, "{request}");
    t.app.wait_for_status(&session_of(&ticket), "sent").await;
    assert_eq!(t.fake.state(&ticket), "closed");
    t.deliver_echoes().await;
    t.advance(Duration::seconds(5));
    let answer = t
        .writes_in_a_new_ticket(SUPPORT_GROUP, &ticket, "whatsapp message", "2")
        .await;
    t.wait_for_rating(&ticket, |r| r["value"] == 2).await;
    assert_eq!(
        t.app.session(&session_of(&ticket)).await["operator_id"],
        "anna"
    );
    let fake = t.fake.clone();
    wait_until(
        || fake.state(&answer) == "closed",
        || "the answer's ticket was not closed".into(),
    )
    .await;
    t.deliver_echoes().await;
    t.is_no_session(&answer).await;
    t.app.settle().await;
    assert_eq!(t.fake.state(&ticket), "closed");
    assert_eq!(t.requests_in(&ticket), 1);
    assert_eq!(t.fake.rule_violations(), Vec::<String>::new());
}

/// Meta takes a WhatsApp message only within 24 hours of the customer's last one, and
/// Zammad sends it anyway (its check is in the browser only): Rateline does not post a
/// request past the window, and says why.
async fn a_whatsapp_request_past_metas_window_is_not_posted(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    let ticket = t
        .fake
        .open(SUPPORT_GROUP, "Ann Customer", "whatsapp message");
    t.deliver_ok([t.fake.created(&ticket)]).await;
    t.deliver_ok([t.fake.assign(&ticket, AGENT_ANNA)]).await;
    t.advance(Duration::hours(25));
    t.deliver_ok([t.fake.close(&ticket)]).await;
    t.advance(Duration::seconds(30));
    let session = t
        .app
        .wait_for_status(&session_of(&ticket), "window_closed")
        .await;
    let reason = session["rating_request"]["last_error"].to_string();
    assert!(reason.contains("24 hours"), "{session:#}");
    assert_eq!(t.requests_in(&ticket), 0);
    assert_eq!(t.fake.state(&ticket), "closed");
}

const ZAMMAD_CONNECTOR: &str = "/v1/connectors/zammad/helpdesk";
const ZAMMAD_SETUP: &str = "/v1/connectors/zammad/helpdesk/setup";

impl Zm {
    /// Runs the trigger jobs Zammad queued, each of which must reach Rateline.
    async fn fired(&self) {
        let statuses = self.fake.deliver_due().await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    }

    /// Connects the instance over the API without a webhook token, for the setup to make.
    async fn connect_without_token(&self) {
        let mut s = settings_of(&self.fake);
        s.webhook_token = None;
        let (status, body) = self
            .app
            .put(ZAMMAD_CONNECTOR, serde_json::to_value(s).unwrap())
            .await;
        assert_eq!(status, 201, "{body}");
    }
}

/// A Zammad with no webhook and no trigger, set up by Rateline, rates a closed e-mail
/// ticket, a Telegram ticket, a WhatsApp ticket and the e-mail follow-up of a `new_ticket`
/// group, through the calls its own triggers queue; Disconnect removes the triggers and
/// then the webhook, in the order Zammad allows.
async fn a_zammad_set_up_by_rateline_from_nothing_rates_its_tickets(kind: Db) {
    let Some(t) = start(kind, false).await else {
        return;
    };
    t.connect_without_token().await;
    let (status, report) = t.app.call("POST", ZAMMAD_SETUP, None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["made"].as_array().unwrap().len(), 3, "{report}");
    let hooks = t.fake.admin_records("webhooks");
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!(
        hooks[0]["endpoint"],
        t.app.url(&format!("/connectors/zammad/{INSTANCE}/webhook"))
    );
    let token = hooks[0]["signature_token"].as_str().unwrap().to_owned();
    assert!(token.len() >= 32, "{token}");
    assert!(!report.to_string().contains(&token), "{report}");
    let (_, shown) = t.app.get(ZAMMAD_CONNECTOR).await;
    assert!(!shown.to_string().contains(&token), "{shown}");
    let triggers = t.fake.admin_records("triggers");
    assert_eq!(triggers.len(), 2, "{triggers:?}");
    let (status, again) = t.app.call("POST", ZAMMAD_SETUP, None).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(t.fake.admin_records("triggers").len(), 2, "made once");
    let (_, check) = t.app.get(ZAMMAD_SETUP).await;
    assert_eq!(check["problems"], json!([]), "{check}");
    assert!(
        check["found"]
            .to_string()
            .contains("on every ticket update"),
        "{check}"
    );

    t.fake
        .set_follow_up_possible(SALES_GROUP, FollowUp::NewTicket);
    for (n, (group, via, in_new_ticket)) in [
        (SUPPORT_GROUP, "email", false),
        (SUPPORT_GROUP, "telegram personal-message", true),
        (SUPPORT_GROUP, "whatsapp message", true),
        (SALES_GROUP, "email", true),
    ]
    .into_iter()
    .enumerate()
    {
        let ticket = t.fake.open(group, &format!("Customer{n} Setup"), via);
        t.fired().await;
        t.fake.assign(&ticket, AGENT_ANNA);
        t.fired().await;
        t.fake.agent_writes(&ticket, AGENT_ANNA, "It ships today.");
        t.fired().await;
        t.fake.close(&ticket);
        t.fired().await;
        t.advance(Duration::seconds(30));
        t.request_in(&ticket).await;
        t.app.wait_for_status(&session_of(&ticket), "sent").await;
        t.fired().await;
        t.advance(Duration::seconds(5));
        if in_new_ticket {
            let answer = t.fake.open_with(group, ticket.customer, via, "4");
            t.fired().await;
            t.wait_for_rating(&ticket, |r| r["value"] == 4).await;
            t.is_no_session(&answer).await;
        } else {
            t.fake.customer_writes(&ticket, "4");
            t.fired().await;
            t.wait_for_rating(&ticket, |r| r["value"] == 4).await;
        }
        assert_eq!(
            t.app.session(&session_of(&ticket)).await["operator_id"],
            "anna",
            "{via}"
        );
        t.app.settle().await;
        t.fired().await;
    }
    assert_eq!(t.fake.dropped_jobs().len(), 0);

    let (status, body) = t.app.call("DELETE", ZAMMAD_CONNECTOR, None).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(t.fake.admin_records("triggers"), Vec::<Value>::new());
    assert_eq!(t.fake.admin_records("webhooks"), Vec::<Value>::new());
    assert_eq!(t.fake.rule_violations(), Vec::<String>::new());
}

/// The trigger the guide gave before (`ticket.action` is a list) never fires in Zammad, and
/// the live check says so; a selective one sends no close, and the check says that too. A
/// token without the admin rights gets a refusal that names them, and nothing is made.
async fn the_zammad_check_finds_triggers_that_never_fire(kind: Db) {
    let Some(t) = start(kind, false).await else {
        return;
    };
    t.connect_without_token().await;
    t.fake.make_token_an_agent();
    let (status, body) = t.app.call("POST", ZAMMAD_SETUP, None).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "helpdesk_refused", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("admin.webhook and admin.trigger"),
        "{body}"
    );
    assert!(!body.to_string().contains(API_TOKEN), "{body}");

    let t = start(kind, true).await.unwrap();
    let url = t.app.url(&format!("/connectors/zammad/{INSTANCE}/webhook"));
    let hook = t.fake.make(
        "webhooks",
        &json!({"name": "Rateline", "endpoint": url, "signature_token": WEBHOOK_TOKEN}),
    );
    let list = t.fake.make(
        "triggers",
        &json!({"name": "Rateline", "activator": "action", "execution_condition_mode": "always",
                "condition": {"ticket.action": {"operator": "is", "value": ["create", "update"]}},
                "perform": {"notification.webhook": {"webhook_id": hook["id"].to_string()}},
                "active": true}),
    );
    let ticket = t.fake.open(SUPPORT_GROUP, "Ann List", "email");
    t.fake.close(&ticket);
    assert!(
        t.fake.queued_jobs().is_empty(),
        "a list never equals the action"
    );
    let (_, check) = t.app.get(ZAMMAD_SETUP).await;
    assert!(
        check["problems"]
            .to_string()
            .contains("compares Action with a list"),
        "{check}"
    );

    let selective = t.fake.make(
        "triggers",
        &json!({"name": "Rateline updated",
                "condition": {"ticket.action": {"operator": "is", "value": "update"}},
                "perform": {"notification.webhook": {"webhook_id": hook["id"].to_string()}}}),
    );
    assert_eq!(
        selective["execution_condition_mode"], "selective",
        "Zammad's default"
    );
    t.fake.reopen(&ticket);
    assert!(
        t.fake.queued_jobs().is_empty(),
        "a state change alone, selective"
    );
    t.fake.agent_writes(&ticket, AGENT_ANNA, "Still there?");
    assert_eq!(t.fake.queued_jobs().len(), 1, "an article, selective");
    let (_, check) = t.app.get(ZAMMAD_SETUP).await;
    assert!(
        check["problems"]
            .to_string()
            .contains("only when an article is added"),
        "{check}"
    );
    assert!(list["id"].is_u64());
    // Set up by hand: Rateline's setup leaves it be.
    let (status, body) = t.app.call("POST", ZAMMAD_SETUP, None).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["error"]["code"], "connector_managed_by_config",
        "{body}"
    );
}

crate::common::on_both_backends!(
    a_zammad_set_up_by_rateline_from_nothing_rates_its_tickets,
    the_zammad_check_finds_triggers_that_never_fire,
    a_whatsapp_ticket_is_asked_in_whatsapp,
    a_whatsapp_request_past_metas_window_is_not_posted,
    calls_zammad_gave_up_on_are_caught_up_at_the_start,
    a_call_older_than_one_applied_changes_nothing,
    an_email_answer_filed_in_a_new_ticket_answers_the_old_one,
    a_state_of_type_closed_under_another_name_is_a_close,
    a_phone_ticket_is_asked_by_email_and_an_unowned_one_credits_nobody,
    an_instance_connected_over_the_api_is_used_at_once,
    a_closed_ticket_is_asked_in_it_and_the_reply_rates_the_owner,
    a_telegram_answer_in_a_new_ticket_answers_the_old_one,
    writing_again_cancels_and_a_ticket_is_asked_at_most_once,
    refused_and_foreign_calls_store_nothing,
    zammad_errors_are_retried_or_held_back,
    a_restart_with_requests_pending_loses_nothing,
);
