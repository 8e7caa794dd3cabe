//! The fake Rocket.Chat checked over plain HTTP, and its webhook checked by a receiver of the
//! test's own, so that a Rocket.Chat test failing points at Rateline and not at a fake that
//! is wrong about Rocket.Chat. Each check names the behaviour of Rocket.Chat's source it
//! holds the fake to (see `testkit/src/rocketchat.rs`).

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use rateline_adapters::rocketchat::{Closer, HandedOverFrom, Kind, parse_event};
use rateline_testkit::rocketchat::{ADMIN, ANNA, BORIS, FakeRocketChat, Fault, RATINGS};
use reqwest::Method;
use serde_json::{Value, json};

fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
}

async fn fake_at_noon() -> FakeRocketChat {
    let fake = FakeRocketChat::start().await;
    fake.set_now(noon());
    fake
}

/// A call to the fake's REST API as user `id`, with their personal access token.
async fn call(
    fake: &FakeRocketChat,
    id: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", fake.url()))
        .header("X-User-Id", id)
        .header("X-Auth-Token", fake.token_of(id));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the fake answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A `POST` of `body` to the fake's REST API as user `id`.
async fn post(fake: &FakeRocketChat, id: &str, path: &str, body: Value) -> (u16, Value) {
    call(fake, id, Method::POST, path, Some(body)).await
}

/// What the test's receiver got: each call's headers and body.
type Received = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

/// A receiver on loopback answering each call with the next of `statuses` (200 once they
/// run out), with `reply` as the body of a 200.
async fn receiver(statuses: Vec<u16>, reply: &'static str) -> (String, Received) {
    let got: Received = Arc::default();
    let queue = Arc::new(Mutex::new(
        statuses
            .into_iter()
            .collect::<std::collections::VecDeque<_>>(),
    ));
    let kept = got.clone();
    let app = axum::Router::new().route(
        "/rocketchat",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let kept = kept.clone();
            let queue = queue.clone();
            async move {
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                kept.lock().unwrap().push((headers, body));
                let status = queue.lock().unwrap().pop_front().unwrap_or(200);
                let status = axum::http::StatusCode::from_u16(status).unwrap();
                (status, if status == 200 { reply } else { "" })
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/rocketchat", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, app).into_future());
    (url, got)
}

/// Every webhook switch on, the URL set, and a secret.
fn wire(fake: &FakeRocketChat, url: &str, secret: &str) {
    fake.set_setting("Livechat_webhookUrl", json!(url));
    fake.set_setting("Livechat_secret_token", json!(secret));
    for switch in [
        "Livechat_webhook_on_forward",
        "Livechat_webhook_on_close",
        "Livechat_webhook_on_visitor_message",
        "Livechat_webhook_on_agent_message",
    ] {
        fake.set_setting(switch, json!(true));
    }
}

#[tokio::test]
async fn on_its_defaults_rocket_chat_posts_nothing() {
    // `omnichannel.ts`: the URL is empty and every "Send request on…" switch is off.
    let fake = fake_at_noon().await;
    let room = fake.open_widget("Ada", "hello");
    fake.agent_takes(&room, ANNA);
    fake.agent_writes(&room, ANNA, "hi Ada");
    fake.agent_closes(&room, ANNA, "done");
    assert!(fake.pending().is_empty());
    assert_eq!(fake.deliver().await, Vec::<u16>::new());

    // A URL alone still sends nothing: each event has its switch.
    let (url, got) = receiver(vec![], "").await;
    fake.set_setting("Livechat_webhookUrl", json!(url));
    let room = fake.open_widget("Bea", "hello");
    fake.agent_takes(&room, ANNA);
    fake.agent_closes(&room, ANNA, "done");
    assert!(fake.deliver().await.is_empty());
    assert!(got.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_hand_over_and_a_close_are_posted_in_rocket_chats_shape() {
    let fake = fake_at_noon().await;
    let (url, got) = receiver(vec![], "").await;
    wire(&fake, &url, "s3cret");
    let room = fake.open_widget("Ada", "my order is late");
    fake.agent_takes(&room, ANNA);
    fake.agent_writes(&room, ANNA, "it ships today");
    fake.agent_forwards(&room, RATINGS).unwrap();
    fake.agent_writes(&room, RATINGS, "How did we do? Reply 1 to 5");
    fake.visitor_writes(&room, "5");
    fake.agent_closes(&room, RATINGS, "Rated 5/5");
    assert_eq!(fake.deliver().await, vec![200; 6]);

    let got = got.lock().unwrap();
    let kinds: Vec<Kind> = got
        .iter()
        .map(|(_, b)| parse_event(b.to_string().as_bytes()).unwrap().kind())
        .collect();
    assert_eq!(
        kinds,
        [
            Kind::Message,
            Kind::Message,
            Kind::Forwarded,
            Kind::Message,
            Kind::Message,
            Kind::Closed
        ]
    );
    for (headers, _) in got.iter() {
        assert_eq!(headers["x-rocketchat-livechat-token"], "s3cret");
        assert_eq!(headers["content-type"], "application/json");
    }
    // A Message carries the one message; the visitor's has no agentId, an agent's has.
    let first = parse_event(got[0].1.to_string().as_bytes()).unwrap();
    assert_eq!(first.messages.len(), 1);
    assert!(first.messages[0].from_visitor());
    let second = parse_event(got[1].1.to_string().as_bytes()).unwrap();
    assert_eq!(second.messages[0].agent_id.as_deref(), Some(ANNA));
    // The hand-over names the agent before; it carries the history so far.
    let forwarded = parse_event(got[2].1.to_string().as_bytes()).unwrap();
    let Some(HandedOverFrom::Agent(before)) = forwarded.handed_over_from() else {
        panic!("{:?}", got[2].1);
    };
    assert_eq!(before.id, ANNA);
    assert_eq!(forwarded.served_by.unwrap().id, RATINGS);
    assert_eq!(forwarded.messages.len(), 2);
    // The close: who, when, and the comment as the closing message.
    let closed = parse_event(got[5].1.to_string().as_bytes()).unwrap();
    assert_eq!(closed.closer, Some(Closer::User));
    assert_eq!(closed.closed_by.unwrap().id, RATINGS);
    assert_eq!(closed.closed_at, Some(noon()));
    let last = closed.messages.last().unwrap();
    assert!(last.closing);
    assert_eq!(last.msg.as_deref(), Some("Rated 5/5"));
    // No `LivechatSessionClosed` exists.
    assert!(
        got.iter()
            .all(|(_, b)| b["type"] != "LivechatSessionClosed")
    );
}

#[tokio::test]
async fn without_a_secret_the_token_header_is_not_sent() {
    let fake = fake_at_noon().await;
    let (url, got) = receiver(vec![], "").await;
    wire(&fake, &url, "");
    fake.open_widget("Ada", "hello");
    assert_eq!(fake.deliver().await, vec![200]);
    let got = got.lock().unwrap();
    assert!(got[0].0.get("x-rocketchat-livechat-token").is_none());
}

#[tokio::test]
async fn only_a_200_counts_and_its_body_comes_back_as_crm_data() {
    // `webhooks.ts`, `sendRequest`: a 5xx or a 429 is tried again four timeouts later, five
    // tries in all; any other status is dropped; a 200's body is the room's `crmData`.
    let fake = fake_at_noon().await;
    let (url, got) = receiver(vec![500, 429], r#"{"stored":true}"#).await;
    wire(&fake, &url, "s");
    let room = fake.open_widget("Ada", "hello");
    assert_eq!(fake.deliver().await, vec![500]);
    // Not due yet: 19 s later, nothing is tried.
    fake.set_now(noon() + TimeDelta::seconds(19));
    assert!(fake.deliver().await.is_empty());
    fake.set_now(noon() + TimeDelta::seconds(20));
    assert_eq!(fake.deliver().await, vec![429]);
    fake.set_now(noon() + TimeDelta::seconds(40));
    assert_eq!(fake.deliver().await, vec![200]);
    assert_eq!(fake.crm_data(&room).as_deref(), Some(r#"{"stored":true}"#));
    // The next event carries it back, as a string.
    fake.agent_takes(&room, ANNA);
    fake.agent_writes(&room, ANNA, "hi");
    assert_eq!(fake.deliver().await, vec![200]);
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(got[3].1["crmData"], r#"{"stored":true}"#);
}

#[tokio::test]
async fn five_tries_then_the_event_is_lost_and_a_4xx_is_dropped_at_once() {
    let fake = fake_at_noon().await;
    let (url, _) = receiver(vec![503; 6], "").await;
    wire(&fake, &url, "s");
    fake.open_widget("Ada", "hello");
    let mut statuses = Vec::new();
    for n in 0..6 {
        fake.set_now(noon() + TimeDelta::seconds(20 * n));
        statuses.extend(fake.deliver().await);
    }
    assert_eq!(statuses, vec![503; 5]);
    assert!(fake.pending().is_empty());

    let (url, got) = receiver(vec![401, 201], "").await;
    fake.set_setting("Livechat_webhookUrl", json!(url));
    fake.open_widget("Bea", "hello");
    fake.open_widget("Cem", "hello");
    assert_eq!(fake.deliver().await, vec![401, 201]);
    fake.set_now(noon() + TimeDelta::hours(1));
    assert!(fake.deliver().await.is_empty());
    assert_eq!(got.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_receiver_that_cannot_be_reached_is_tried_again_and_a_restart_loses_it() {
    let fake = fake_at_noon().await;
    // Nothing listens there once the listener is dropped: a network error, thrown and retried.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/rocketchat", listener.local_addr().unwrap());
    drop(listener);
    wire(&fake, &url, "s");
    fake.set_setting("Livechat_http_timeout", json!(500));
    fake.open_widget("Ada", "hello");
    assert_eq!(fake.deliver().await, vec![0]);
    assert_eq!(fake.pending().len(), 1, "held for a retry");
    // The retry lives in Rocket.Chat's memory only.
    fake.restart();
    fake.set_now(noon() + TimeDelta::seconds(2));
    assert!(fake.deliver().await.is_empty());
}

#[tokio::test]
async fn closing_needs_a_comment_by_default_and_a_closed_room_stays_closed() {
    let fake = fake_at_noon().await;
    let room = fake.open_widget("Ada", "hello");
    fake.agent_takes(&room, RATINGS);
    let close = |comment: Option<&str>| {
        let mut body = json!({"rid": room.id});
        if let Some(c) = comment {
            body["comment"] = json!(c);
        }
        body
    };
    let (status, body) = post(
        &fake,
        RATINGS,
        "/api/v1/livechat/room.closeByUser",
        close(None),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("error-comment-is-required"))
    );
    assert!(fake.is_open(&room));
    assert_eq!(
        fake.rule_violations(),
        [
            "POST /api/v1/livechat/room.closeByUser: a close without the comment Rocket.Chat asks for by default"
        ]
    );
    let (status, _) = post(
        &fake,
        RATINGS,
        "/api/v1/livechat/room.closeByUser",
        close(Some("Rated 4/5")),
    )
    .await;
    assert_eq!(status, 200);
    assert!(!fake.is_open(&room));
    assert_eq!(fake.closing_comment(&room).as_deref(), Some("Rated 4/5"));
    let (status, body) = post(
        &fake,
        RATINGS,
        "/api/v1/livechat/room.closeByUser",
        close(Some("again")),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("error-room-already-closed"))
    );

    // With the setting off, no comment is needed.
    fake.set_setting(
        "Livechat_request_comment_when_closing_conversation",
        json!(false),
    );
    let other = fake.open_widget("Bea", "hello");
    fake.agent_takes(&other, RATINGS);
    let (status, _) = post(
        &fake,
        RATINGS,
        "/api/v1/livechat/room.closeByUser",
        json!({"rid": other.id}),
    )
    .await;
    assert_eq!(status, 200);
    // Someone who does not serve the room needs close-others-livechat-room.
    let third = fake.open_widget("Cem", "hello");
    fake.agent_takes(&third, ANNA);
    let (status, body) = post(
        &fake,
        RATINGS,
        "/api/v1/livechat/room.closeByUser",
        json!({"rid": third.id}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("error-not-authorized"))
    );
}

/// `resolveChatTags` (`apps/meteor/app/livechat/server/lib/LivechatTyped.ts`): a close
/// made through the REST API is a `clientAction`, so in a department that asks for tags it
/// needs tags of its own and the department's closing tags to add; the room keeps both.
/// Agents read a department with `view-l-room` (`rest/departments.ts`).
#[tokio::test]
async fn a_department_that_asks_for_tags_refuses_a_close_without_them() {
    let fake = fake_at_noon().await;
    let (status, body) = call(
        &fake,
        ANNA,
        Method::GET,
        "/api/v1/livechat/department/dep-support",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["department"]["requestTagBeforeClosingChat"], false);
    let (_, body) = call(
        &fake,
        ANNA,
        Method::GET,
        "/api/v1/livechat/department/dep-none",
        None,
    )
    .await;
    assert_eq!(body["department"], Value::Null, "{body}");

    let close = "/api/v1/livechat/room.closeByUser";
    fake.set_department_tags("dep-support", true, &[]);
    let room = fake.open_widget("Ada", "hello");
    fake.agent_takes(&room, RATINGS);
    for tags in [json!(null), json!(["mine"])] {
        let (status, body) = post(
            &fake,
            RATINGS,
            close,
            json!({"rid": room.id, "comment": "done", "tags": tags}),
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("error-tags-must-be-assigned-before-closing-chat")),
            "no closing tags in the department: {tags}"
        );
    }
    fake.set_department_tags("dep-support", true, &["rated", "web"]);
    let (status, _) = post(
        &fake,
        RATINGS,
        close,
        json!({"rid": room.id, "comment": "done"}),
    )
    .await;
    assert_eq!(status, 400, "a close without tags of its own");
    let (status, body) = post(
        &fake,
        RATINGS,
        close,
        json!({"rid": room.id, "comment": "done", "tags": ["rated"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(fake.tags_of(&room), ["rated", "web"]);
}

/// `forwardRoomToDepartment` (`apps/meteor/app/livechat/server/lib/Helper.ts`): to a
/// department without an available agent a forward is refused, unless offline agents may
/// take forwarded chats; with one, the default routing gives it the chat.
#[tokio::test]
async fn a_department_takes_a_forward_only_with_an_agent_available() {
    let fake = fake_at_noon().await;
    let room = fake.open_widget("Ada", "hello");
    fake.agent_takes(&room, RATINGS);
    fake.set_available(ANNA, false);
    let forward = json!({"roomId": room.id, "departmentId": "dep-support"});
    let path = "/api/v1/livechat/room.forward";
    let (status, body) = post(&fake, ADMIN, path, forward.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("error-no-agents-online-in-department"))
    );
    assert_eq!(fake.served_by(&room), Some(RATINGS));
    fake.set_available(BORIS, true);
    let (status, body) = post(&fake, ADMIN, path, forward.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(fake.served_by(&room), Some(BORIS));

    // With offline agents allowed, the chat waits in the department's queue.
    let other = fake.open_widget("Bea", "hello");
    fake.agent_takes(&other, RATINGS);
    fake.set_available(BORIS, false);
    fake.set_setting(
        "Livechat_allow_forward_inquiry_to_offline_department_agents",
        json!(true),
    );
    let forward = json!({"roomId": other.id, "departmentId": "dep-support"});
    let (status, _) = post(&fake, ADMIN, path, forward).await;
    assert_eq!(status, 200);
    assert_eq!(fake.served_by(&other), None);
}

#[tokio::test]
async fn after_the_close_the_visitors_next_message_opens_a_new_room() {
    // `lib/rooms.ts`: a closed room is never reopened; the widget drops it at the close.
    let fake = fake_at_noon().await;
    let widget = fake.open_widget("Ada", "hello");
    fake.agent_takes(&widget, ANNA);
    fake.agent_closes(&widget, ANNA, "done");
    // An agent's message still goes into the closed room, but the widget shows nothing.
    let (status, _) = post(
        &fake,
        ANNA,
        "/api/v1/chat.sendMessage",
        json!({"message": {"rid": widget.id, "msg": "How did we do?"}}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(fake.shown_to_visitor(&widget).is_empty());
    let next = fake.visitor_writes(&widget, "4");
    assert_ne!(next.id, widget.id);
    assert!(fake.is_open(&next));
    assert_eq!(
        fake.served_by(&next),
        None,
        "the new room waits in the queue"
    );
    assert_eq!(fake.rooms_of_visitor(&widget).len(), 2);

    // By SMS the agent's message after the close is texted.
    let sms = fake.open_sms("+250788123456", "hello");
    fake.agent_takes(&sms, ANNA);
    fake.agent_closes(&sms, ANNA, "done");
    let (status, _) = post(
        &fake,
        ANNA,
        "/api/v1/chat.sendMessage",
        json!({"message": {"rid": sms.id, "msg": "How did we do?"}}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(fake.shown_to_visitor(&sms), ["How did we do?"]);
    let answer = fake.visitor_writes(&sms, "5");
    assert_ne!(answer.id, sms.id);
}

#[tokio::test]
async fn forwarding_needs_the_permission_and_an_available_agent() {
    let fake = fake_at_noon().await;
    let room = fake.open_widget("Ada", "hello");
    fake.agent_takes(&room, ANNA);
    let forward = |to: &str| json!({"roomId": room.id, "userId": to});
    // `permissions.ts`: transfer-livechat-guest is the managers', monitors' and admins'.
    let (status, body) = post(
        &fake,
        RATINGS,
        "/api/v1/livechat/room.forward",
        forward(ANNA),
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .ends_with("[error-unauthorized]")
    );
    let (status, body) = post(
        &fake,
        ADMIN,
        "/api/v1/livechat/room.forward",
        forward(BORIS),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("error-user-is-offline"))
    );
    let (status, body) = post(&fake, ADMIN, "/api/v1/livechat/room.forward", forward(ANNA)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("error-selected-agent-room-agent-are-same"))
    );
    let (status, _) = post(
        &fake,
        ADMIN,
        "/api/v1/livechat/room.forward",
        forward(RATINGS),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(fake.served_by(&room), Some(RATINGS));
    // Given the manager's role, the Ratings user may hand the room back.
    fake.set_roles(
        RATINGS,
        &["bot", "livechat-agent", "livechat-manager", "user"],
    );
    let (status, _) = post(
        &fake,
        RATINGS,
        "/api/v1/livechat/room.forward",
        forward(ANNA),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(fake.served_by(&room), Some(ANNA));
}

#[tokio::test]
async fn the_eleventh_call_a_minute_is_refused_unless_the_role_bypasses_the_limit() {
    // `api.ts`: 10 calls a minute per route and address; admin, bot and app bypass it.
    let fake = fake_at_noon().await;
    for _ in 0..10 {
        assert_eq!(
            call(&fake, ANNA, Method::GET, "/api/v1/me", None).await.0,
            200
        );
    }
    let client = reqwest::Client::new();
    let response = client
        .get(format!("{}/api/v1/me", fake.url()))
        .header("X-User-Id", ANNA)
        .header("X-Auth-Token", fake.token_of(ANNA))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["x-ratelimit-limit"], "10");
    assert_eq!(response.headers()["x-ratelimit-remaining"], "0");
    let reset = (noon() + TimeDelta::seconds(60))
        .timestamp_millis()
        .to_string();
    assert_eq!(response.headers()["x-ratelimit-reset"], reset.as_str());
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .ends_with("[error-too-many-requests]")
    );
    // Another route has its own count; a minute later the route takes calls again.
    let (status, _) = call(
        &fake,
        ANNA,
        Method::GET,
        "/api/v1/rooms.info?roomId=none",
        None,
    )
    .await;
    assert_eq!(status, 400);
    fake.set_now(noon() + TimeDelta::seconds(60));
    assert_eq!(
        call(&fake, ANNA, Method::GET, "/api/v1/me", None).await.0,
        200
    );
    // The Ratings user has the bot role: never counted.
    for _ in 0..15 {
        assert_eq!(
            call(&fake, RATINGS, Method::GET, "/api/v1/me", None)
                .await
                .0,
            200
        );
    }
    // Without it, it is.
    fake.set_roles(RATINGS, &["livechat-agent", "user"]);
    for _ in 0..10 {
        call(&fake, RATINGS, Method::GET, "/api/v1/me", None).await;
    }
    assert_eq!(
        call(&fake, RATINGS, Method::GET, "/api/v1/me", None)
            .await
            .0,
        429
    );
}

#[tokio::test]
async fn a_call_without_a_valid_token_is_401_and_faults_come_in_rocket_chats_words() {
    let fake = fake_at_noon().await;
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/me", fake.url()))
        .header("X-User-Id", ANNA)
        .header("X-Auth-Token", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "You must be logged in to do this.");
    let (status, me) = call(&fake, RATINGS, Method::GET, "/api/v1/me", None).await;
    assert_eq!(status, 200);
    assert_eq!(me["roles"], json!(["bot", "livechat-agent", "user"]));
    fake.fail_next(Fault::ServerError);
    assert_eq!(
        call(&fake, RATINGS, Method::GET, "/api/v1/me", None)
            .await
            .0,
        500
    );
    fake.revoke_token();
    assert_eq!(
        call(&fake, RATINGS, Method::GET, "/api/v1/me", None)
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn rooms_closed_since_a_time_are_listed_for_managers() {
    let fake = fake_at_noon().await;
    let early = fake.open_widget("Ada", "hello");
    fake.agent_takes(&early, ANNA);
    fake.agent_closes(&early, ANNA, "done");
    fake.set_now(noon() + TimeDelta::hours(1));
    let late = fake.open_widget("Bea", "hello");
    fake.agent_takes(&late, ANNA);
    fake.agent_closes(&late, ANNA, "done");
    let since = json!({"start": (noon() + TimeDelta::minutes(30)).to_rfc3339()}).to_string();
    let path = format!(
        "/api/v1/livechat/rooms?open=false&closedAt={}",
        url::form_urlencoded::byte_serialize(since.as_bytes()).collect::<String>()
    );
    let (status, body) = call(&fake, ADMIN, Method::GET, &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["total"], 1);
    assert_eq!(body["rooms"][0]["_id"], late.id);
    assert_eq!(body["rooms"][0]["open"], false);
    // An agent without view-livechat-rooms may not list them.
    assert_eq!(call(&fake, ANNA, Method::GET, &path, None).await.0, 403);
    let (status, info) = call(
        &fake,
        ADMIN,
        Method::GET,
        &format!("/api/v1/rooms.info?roomId={}", early.id),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(info["room"]["source"]["type"], "widget");
}
