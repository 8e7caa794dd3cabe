//! The fake Chatwoot checked over plain HTTP and its webhooks checked with an HMAC of the test's
//! own, so that a Chatwoot test failing points at Rateline and not at a fake that is wrong
//! about Chatwoot.

use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, KeyInit, Mac};
use rateline_testkit::chatwoot::{
    ACCOUNT_ID, ANNA, API_TOKEN, API_USER, BORIS, Conversation, EMAIL_INBOX, FakeChatwoot, Fault,
    OTHER_INBOX, SMS_INBOX, TELEGRAM_INBOX, TWILIO_WHATSAPP_INBOX, WEBHOOK_SECRET, WHATSAPP_INBOX,
    WIDGET_INBOX, Webhook,
};
use serde_json::{Value, json};
use sha2::Sha256;

fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
}

async fn fake_at_noon() -> FakeChatwoot {
    let fake = FakeChatwoot::start().await;
    fake.set_now(noon());
    fake
}

struct Answer {
    status: u16,
    retry_after: Option<String>,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }
}

async fn call(
    fake: &FakeChatwoot,
    get: bool,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", fake.url());
    let mut request = if get {
        client.get(url)
    } else {
        client.post(url)
    };
    if let Some(token) = token {
        request = request.header("api_access_token", token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let resp = request.send().await.expect("the fake answers");
    Answer {
        status: resp.status().as_u16(),
        retry_after: resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned()),
        text: resp.text().await.unwrap(),
    }
}

fn conversation_path(id: u64, action: &str) -> String {
    format!("/api/v1/accounts/{ACCOUNT_ID}/conversations/{id}/{action}")
}

async fn post_message(fake: &FakeChatwoot, c: &Conversation, body: &Value) -> Answer {
    call(
        fake,
        false,
        &conversation_path(c.id, "messages"),
        Some(API_TOKEN),
        Some(body),
    )
    .await
}

async fn toggle_status(fake: &FakeChatwoot, c: &Conversation, body: &Value) -> Answer {
    call(
        fake,
        false,
        &conversation_path(c.id, "toggle_status"),
        Some(API_TOKEN),
        Some(body),
    )
    .await
}

/// A rating prompt with these `(title, value)` items.
fn prompt(items: &[(&str, &str)]) -> Value {
    let items: Vec<Value> = items
        .iter()
        .map(|(title, value)| json!({"title": title, "value": value}))
        .collect();
    json!({
        "content": "How did we do?",
        "message_type": "outgoing",
        "private": false,
        "content_type": "input_select",
        "content_attributes": {"items": items},
    })
}

fn five_stars() -> Value {
    prompt(&[
        ("1 star", "rate:1"),
        ("2 stars", "rate:2"),
        ("3 stars", "rate:3"),
        ("4 stars", "rate:4"),
        ("5 stars", "rate:5"),
    ])
}

/// Checks `X-Chatwoot-Signature` the way Rateline must: HMAC-SHA256 keyed with `secret` over
/// "{X-Chatwoot-Timestamp}.{raw body}", compared in constant time.
fn signature_ok(secret: &str, webhook: &Webhook) -> bool {
    let (Some(timestamp), Some(signature)) = (
        webhook.header("x-chatwoot-timestamp"),
        webhook.header("x-chatwoot-signature"),
    ) else {
        return false;
    };
    let Some(tag) = signature
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&webhook.body);
    mac.verify_slice(&tag).is_ok()
}

fn event(webhook: &Webhook) -> String {
    webhook.json()["event"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_token_and_the_account_are_checked() {
    let fake = fake_at_noon().await;
    let inboxes = format!("/api/v1/accounts/{ACCOUNT_ID}/inboxes");

    let none = call(&fake, true, "/api/v1/profile", None, None).await;
    let wrong = call(&fake, true, "/api/v1/profile", Some("cw-other"), None).await;
    let profile = call(&fake, true, "/api/v1/profile", Some(API_TOKEN), None).await;
    let listed = call(&fake, true, &inboxes, Some(API_TOKEN), None).await;
    let elsewhere = call(
        &fake,
        true,
        "/api/v1/accounts/2/inboxes",
        Some(API_TOKEN),
        None,
    )
    .await;

    assert_eq!((none.status, wrong.status), (401, 401));
    assert_eq!(none.json(), json!({"error": "Invalid Access Token"}));
    assert_eq!(wrong.json(), json!({"error": "Invalid Access Token"}));
    assert_eq!(profile.status, 200, "{}", profile.text);
    let user = profile.json();
    assert_eq!(user["id"], API_USER);
    assert_eq!(user["accounts"][0]["id"], ACCOUNT_ID);
    assert!(user["email"].is_string() && user["name"].is_string());
    assert_eq!(listed.status, 200);
    let listed = listed.json();
    let kinds: Vec<(u64, &str, bool)> = listed["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            // Chatwoot's default (`db/schema.rb`).
            assert_eq!(i["lock_to_single_conversation"], false, "{i}");
            (
                i["id"].as_u64().unwrap(),
                i["channel_type"].as_str().unwrap(),
                i["csat_survey_enabled"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (WIDGET_INBOX, "Channel::WebWidget", false),
            (WHATSAPP_INBOX, "Channel::Whatsapp", false),
            (TELEGRAM_INBOX, "Channel::Telegram", false),
            (EMAIL_INBOX, "Channel::Email", false),
            (OTHER_INBOX, "Channel::WebWidget", false),
            (SMS_INBOX, "Channel::Sms", false),
            (TWILIO_WHATSAPP_INBOX, "Channel::TwilioSms", false),
        ]
    );
    assert_eq!(listed["payload"][0]["name"], "Website");
    assert_eq!(listed["payload"][4]["name"], "Unmapped");
    assert_eq!(elsewhere.status, 401);

    fake.revoke_token();
    let revoked = call(&fake, true, "/api/v1/profile", Some(API_TOKEN), None).await;
    let c = fake.open(WIDGET_INBOX, "Ann");
    let post = post_message(&fake, &c, &json!({"content": "hi"})).await;
    assert_eq!((revoked.status, post.status), (401, 401));
    assert_eq!(revoked.json(), json!({"error": "Invalid Access Token"}));
    assert!(fake.sent(&c).is_empty());
    assert!(fake.rule_violations().is_empty());
}

#[tokio::test]
async fn an_unknown_conversation_is_404() {
    let fake = fake_at_noon().await;
    let known = fake.open(WIDGET_INBOX, "Ann");
    let unknown = Conversation {
        id: known.id + 1000,
        contact: known.contact,
    };

    let missing = post_message(&fake, &unknown, &json!({"content": "hi"})).await;
    let toggled = toggle_status(&fake, &unknown, &json!({"status": "resolved"})).await;
    let garbled = call(
        &fake,
        false,
        &format!("/api/v1/accounts/{ACCOUNT_ID}/conversations/abc/messages"),
        Some(API_TOKEN),
        Some(&json!({"content": "hi"})),
    )
    .await;

    assert_eq!(
        (missing.status, toggled.status, garbled.status),
        (404, 404, 404)
    );
    assert_eq!(
        missing.json(),
        json!({"error": "Resource could not be found"})
    );
    assert!(fake.rule_violations().is_empty());
    assert!(fake.take_status_webhooks().is_empty());
}

#[tokio::test]
async fn messages_chatwoot_refuses_are_422_and_violations() {
    let fake = fake_at_noon().await;
    let c = fake.open(WIDGET_INBOX, "Ann");
    let mut no_items = five_stars();
    no_items["content_attributes"]["items"] = json!([]);
    let mut extra_key = five_stars();
    extra_key["content_attributes"]["items"][0]["description"] = "one".into();
    let mut untitled = five_stars();
    untitled["content_attributes"]["items"][2]["title"] = "".into();

    let empty = post_message(
        &fake,
        &c,
        &json!({"content": "", "message_type": "outgoing"}),
    )
    .await;
    let itemless = post_message(&fake, &c, &no_items).await;
    let omitted = post_message(
        &fake,
        &c,
        &json!({"content": "Rate us", "content_type": "input_select"}),
    )
    .await;
    let extra = post_message(&fake, &c, &extra_key).await;
    let blank_title = post_message(&fake, &c, &untitled).await;
    let incoming = post_message(
        &fake,
        &c,
        &json!({"content": "hi", "message_type": "incoming"}),
    )
    .await;

    let statuses = [&empty, &itemless, &omitted, &extra, &blank_title, &incoming].map(|a| a.status);
    assert_eq!(statuses, [422; 6]);
    let error = |a: &Answer| a.json()["error"].as_str().unwrap().to_owned();
    assert!(error(&empty).contains("content"), "{}", empty.text);
    assert!(
        error(&itemless).contains("At least one item"),
        "{}",
        itemless.text
    );
    assert!(
        error(&omitted).contains("At least one item"),
        "{}",
        omitted.text
    );
    assert!(error(&extra).contains("invalid keys"), "{}", extra.text);
    assert!(
        error(&blank_title).contains("items[2].title"),
        "{}",
        blank_title.text
    );
    assert_eq!(
        error(&incoming),
        "Incoming messages are only allowed in Api inboxes"
    );
    let violations = fake.rule_violations();
    assert_eq!(violations.len(), 6, "{violations:#?}");
    assert!(violations[0].starts_with(&format!("POST {}: ", conversation_path(c.id, "messages"))));
    assert!(fake.sent(&c).is_empty());
}

#[tokio::test]
async fn a_fault_answers_the_next_call_once() {
    let fake = fake_at_noon().await;
    let c = fake.open(TELEGRAM_INBOX, "Ann");
    fake.fail_next(Fault::RateLimited { retry_after: 30 });
    fake.fail_next(Fault::ServerError);
    fake.fail_next(Fault::Unauthorized);
    let hello = json!({"content": "hello", "message_type": "outgoing"});

    // A call refused for its token uses up no fault.
    let no_token = call(
        &fake,
        false,
        &conversation_path(c.id, "messages"),
        None,
        Some(&hello),
    )
    .await;
    let throttled = post_message(&fake, &c, &hello).await;
    let failed = post_message(&fake, &c, &hello).await;
    let refused = post_message(&fake, &c, &hello).await;
    let taken = post_message(&fake, &c, &hello).await;

    assert_eq!(no_token.status, 401);
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.retry_after.as_deref(), Some("30"));
    assert_eq!(failed.status, 500);
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json(), json!({"error": "Invalid Access Token"}));
    assert_eq!(taken.status, 200, "{}", taken.text);
    assert_eq!(fake.sent(&c), [hello]);
    assert!(fake.rule_violations().is_empty());
    let statuses: Vec<u16> = fake.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [401, 429, 500, 401, 200]);
}

#[tokio::test]
async fn a_prompt_tapped_on_the_widget_updates_the_same_message() {
    let fake = fake_at_noon().await;
    let c = fake.open(WIDGET_INBOX, "Ann");
    let _ = fake.client_writes(&c, "my order is late");
    let _ = fake.resolve(&c);

    let posted = post_message(&fake, &c, &five_stars()).await;

    assert_eq!(posted.status, 200, "{}", posted.text);
    let message = posted.json();
    let id = message["id"].as_u64().unwrap();
    assert_eq!(message["message_type"], 1);
    assert_eq!(message["conversation_id"], c.id);
    assert_eq!(message["content_type"], "input_select");
    assert_eq!(message["private"], false);
    assert!(message["created_at"].is_i64());
    assert_eq!(fake.sent(&c), [five_stars()]);
    assert_eq!(fake.sent_ids(&c), [id]);
    assert_eq!(
        fake.status(&c),
        "resolved",
        "an outgoing message reopens nothing"
    );

    let tapped = fake.tap(&c, id, 4);

    assert_eq!(tapped.len(), 1);
    let updated = tapped[0].json();
    assert_eq!(updated["event"], "message_updated");
    assert_eq!(updated["id"], id);
    assert_eq!(updated["message_type"], "outgoing");
    assert_eq!(
        updated["content_attributes"]["submitted_values"],
        json!([{"title": "5 stars", "value": "rate:5"}])
    );
    assert_eq!(
        updated["content_attributes"]["items"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(updated["conversation"]["id"], c.id);
    assert_eq!(updated["conversation"]["status"], "resolved");
    assert_eq!(fake.status(&c), "resolved");
    assert!(fake.rule_violations().is_empty());
}

#[tokio::test]
async fn a_tap_on_whatsapp_is_the_title_and_reopens_a_locked_inboxs_conversation() {
    let fake = fake_at_noon().await;
    fake.lock_to_single_conversation(WHATSAPP_INBOX, true);
    let c = fake.open(WHATSAPP_INBOX, "Bob");
    let _ = fake.client_writes(&c, "hello");
    let _ = fake.resolve(&c);
    let posted = post_message(&fake, &c, &five_stars()).await;
    let id = posted.json()["id"].as_u64().unwrap();

    let tapped = fake.tap(&c, id, 3);

    let events: Vec<String> = tapped.iter().map(event).collect();
    assert_eq!(events, ["conversation_status_changed", "message_created"]);
    let reopened = tapped[0].json();
    assert_eq!(reopened["id"], c.id);
    assert_eq!(
        reopened["changed_attributes"],
        json!([{"status": {"previous_value": "resolved", "current_value": "open"}}])
    );
    let reply = tapped[1].json();
    assert_eq!(reply["message_type"], "incoming");
    assert_eq!(reply["content"], "4 stars");
    assert_ne!(reply["id"], id);
    assert_eq!(reply["sender"]["id"], c.contact);
    assert_eq!(reply["sender"]["type"], "contact");
    assert_eq!(reply["conversation"]["status"], "open");
    assert_eq!(reply["conversation"]["channel"], "Channel::Whatsapp");
    assert_eq!(fake.status(&c), "open");
    assert_eq!(fake.latest(&c), c);
    assert!(fake.rule_violations().is_empty());
}

/// Chatwoot's default: a message after the resolve goes into a new conversation of the same
/// contact and inbox (`Whatsapp::IncomingMessageBaseService#set_conversation`), announced by
/// its `conversation_created`; the resolved one stays resolved. The next message goes into
/// the new one while it is open.
#[tokio::test]
async fn without_the_lock_a_message_after_the_resolve_opens_a_new_conversation() {
    let fake = fake_at_noon().await;
    for inbox in [WHATSAPP_INBOX, TELEGRAM_INBOX, SMS_INBOX] {
        let c = fake.open(inbox, "Bob");
        let _ = fake.client_writes(&c, "hello");
        let _ = fake.resolve(&c);

        let hooks = fake.client_writes(&c, "4");

        let events: Vec<String> = hooks.iter().map(event).collect();
        assert_eq!(events, ["conversation_created", "message_created"]);
        let new = fake.latest(&c);
        assert_ne!(new.id, c.id);
        assert_eq!(hooks[0].json()["id"], new.id);
        assert_eq!(hooks[0].json()["status"], "open");
        assert_eq!(hooks[0].json()["meta"]["sender"]["id"], c.contact);
        assert_eq!(hooks[1].json()["conversation"]["id"], new.id);
        assert_eq!(hooks[1].json()["content"], "4");
        assert_eq!(fake.status(&c), "resolved");
        // While it is open, the next message joins it.
        let next = fake.client_writes(&c, "and more");
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].json()["conversation"]["id"], new.id);
        assert_eq!(fake.all(&c), [c, new]);
    }
    // The web widget keeps its conversation, and reopens it.
    let w = fake.open(WIDGET_INBOX, "Wanda");
    let _ = fake.client_writes(&w, "hello");
    let _ = fake.resolve(&w);
    let hooks = fake.client_writes(&w, "again");
    assert_eq!(event(&hooks[0]), "conversation_status_changed");
    assert_eq!(fake.latest(&w), w);
}

#[tokio::test]
async fn a_tap_on_telegram_is_the_value() {
    let fake = fake_at_noon().await;
    let c = fake.open(TELEGRAM_INBOX, "Cleo");
    let posted = post_message(&fake, &c, &five_stars()).await;
    let id = posted.json()["id"].as_u64().unwrap();

    let tapped = fake.tap(&c, id, 0);

    assert_eq!(
        tapped.len(),
        1,
        "an open conversation has no status to change"
    );
    let reply = tapped[0].json();
    assert_eq!(reply["event"], "message_created");
    assert_eq!(reply["message_type"], "incoming");
    assert_eq!(reply["content"], "rate:1");
    assert_eq!(reply["conversation"]["channel"], "Channel::Telegram");
    // Telegram taps stay tappable: a second one is another message.
    let again = fake.tap(&c, id, 1);
    assert_eq!(again[0].json()["content"], "rate:2");
}

#[tokio::test]
#[should_panic(expected = "the widget offers its options once")]
async fn a_widget_prompt_is_answered_once() {
    let fake = fake_at_noon().await;
    let c = fake.open(WIDGET_INBOX, "Ann");
    let posted = post_message(&fake, &c, &five_stars()).await;
    let id = posted.json()["id"].as_u64().unwrap();
    let _ = fake.tap(&c, id, 4);
    let _ = fake.tap(&c, id, 3);
}

#[tokio::test]
#[should_panic(expected = "private note")]
async fn a_private_note_cannot_be_tapped() {
    let fake = fake_at_noon().await;
    let c = fake.open(WIDGET_INBOX, "Ann");
    let mut note = five_stars();
    note["private"] = true.into();
    let posted = post_message(&fake, &c, &note).await;
    let id = posted.json()["id"].as_u64().unwrap();
    let _ = fake.tap(&c, id, 0);
}

#[tokio::test]
async fn webhooks_are_signed_over_the_timestamp_and_the_raw_body() {
    let fake = fake_at_noon().await;
    let c = fake.open(WIDGET_INBOX, "Ann");

    let created = fake.created(&c);
    let written = fake.client_writes(&c, "<3 & thanks").pop().unwrap();

    for webhook in [&created, &written] {
        assert!(signature_ok(WEBHOOK_SECRET, webhook), "{webhook:?}");
        assert_eq!(
            webhook.header("X-Chatwoot-Timestamp"),
            Some(noon().timestamp().to_string().as_str())
        );
        assert_eq!(webhook.header("content-type"), Some("application/json"));
    }
    let delivery = |w: &Webhook| w.header("X-Chatwoot-Delivery").unwrap().to_owned();
    assert_ne!(delivery(&created), delivery(&written));
    assert_eq!(delivery(&created).len(), 36, "a UUID");
    // Rails escapes these in JSON: only the raw bytes carry the signature.
    let raw = String::from_utf8(written.body.clone()).unwrap();
    assert!(raw.contains(r"\u003c3 \u0026 thanks"), "{raw}");
    assert_eq!(written.json()["content"], "<3 & thanks");

    let stale = written.stale(600);
    assert!(signature_ok(WEBHOOK_SECRET, &stale));
    assert_eq!(
        stale.header("X-Chatwoot-Timestamp"),
        Some((noon().timestamp() - 600).to_string().as_str())
    );
    assert_ne!(
        stale.header("X-Chatwoot-Signature"),
        written.header("X-Chatwoot-Signature")
    );
    assert_eq!(
        (&stale.body, delivery(&stale)),
        (&written.body, delivery(&written))
    );

    let tampered = written.tampered();
    assert!(!signature_ok(WEBHOOK_SECRET, &tampered));
    assert_eq!(tampered.headers, written.headers);
    assert_ne!(tampered.body, written.body);
    assert_eq!(tampered.json()["content"], "<3 & thanks (altered)");
    let tampered_created = created.tampered();
    assert!(!signature_ok(WEBHOOK_SECRET, &tampered_created));
    assert_eq!(tampered_created.json()["event"], "conversation_created");

    let unsigned = written.unsigned();
    assert_eq!(unsigned.body, written.body);
    for name in [
        "X-Chatwoot-Signature",
        "X-Chatwoot-Timestamp",
        "X-Chatwoot-Delivery",
    ] {
        assert_eq!(unsigned.header(name), None);
    }
    assert!(!signature_ok(WEBHOOK_SECRET, &unsigned));
    assert!(signature_ok(
        WEBHOOK_SECRET,
        &unsigned.signed_with(WEBHOOK_SECRET)
    ));

    let forged = written.signed_with("not-the-secret");
    assert!(!signature_ok(WEBHOOK_SECRET, &forged));
    assert!(signature_ok("not-the-secret", &forged));
}

#[tokio::test]
async fn toggle_status_changes_the_status_and_queues_a_webhook() {
    let fake = fake_at_noon().await;
    let c = fake.open(WHATSAPP_INBOX, "Bob");

    let resolved = toggle_status(&fake, &c, &json!({"status": "resolved"})).await;

    assert_eq!(resolved.status, 200, "{}", resolved.text);
    assert_eq!(
        resolved.json(),
        json!({
            "meta": {},
            "payload": {"success": true, "conversation_id": c.id, "current_status": "resolved"},
        })
    );
    assert_eq!(fake.status(&c), "resolved");
    let queued = fake.take_status_webhooks();
    assert_eq!(queued.len(), 1);
    assert!(signature_ok(WEBHOOK_SECRET, &queued[0]));
    let payload = queued[0].json();
    assert_eq!(payload["event"], "conversation_status_changed");
    assert_eq!(payload["id"], c.id);
    assert_eq!(payload["status"], "resolved");
    assert_eq!(
        payload["changed_attributes"],
        json!([{"status": {"previous_value": "open", "current_value": "resolved"}}])
    );
    assert!(fake.take_status_webhooks().is_empty());

    // No change, no event.
    let again = toggle_status(&fake, &c, &json!({"status": "resolved"})).await;
    assert_eq!(again.status, 200);
    assert!(fake.take_status_webhooks().is_empty());
    // Without a status, Chatwoot toggles.
    let toggled = toggle_status(&fake, &c, &json!({})).await;
    assert_eq!(toggled.json()["payload"]["current_status"], "open");
    assert_eq!(fake.take_status_webhooks().len(), 1);

    let invalid = toggle_status(&fake, &c, &json!({"status": "closed"})).await;
    assert_eq!(invalid.status, 422);
    assert_eq!(fake.status(&c), "open");
    let violations = fake.rule_violations();
    assert_eq!(violations.len(), 1);
    assert!(
        violations[0].contains("'closed' is not a valid status"),
        "{violations:?}"
    );
}

#[tokio::test]
async fn rendering_limits_are_violations_not_errors() {
    let fake = fake_at_noon().await;
    let whatsapp = fake.open(WHATSAPP_INBOX, "Bob");
    let telegram = fake.open(TELEGRAM_INBOX, "Cleo");
    let email = fake.open(EMAIL_INBOX, "Dan");
    let long_button = "Very satisfied indeed"; // 21 characters
    let row_title = "Very satisfied indeed!!!"; // 24 characters
    let eleven: Vec<(String, String)> = (1..=11)
        .map(|i| (format!("{i}"), format!("rate:{i}")))
        .collect();
    let eleven: Vec<(&str, &str)> = eleven
        .iter()
        .map(|(t, v)| (t.as_str(), v.as_str()))
        .collect();
    let long_value = "x".repeat(65);

    let buttons = post_message(
        &fake,
        &whatsapp,
        &prompt(&[(long_button, "5"), ("Meh", "3")]),
    )
    .await;
    let list = post_message(
        &fake,
        &whatsapp,
        &prompt(&[(row_title, "5"), ("b", "4"), ("c", "3"), ("d", "2")]),
    )
    .await;
    let too_many = post_message(&fake, &whatsapp, &prompt(&eleven)).await;
    let callback = post_message(&fake, &telegram, &prompt(&[("5 stars", &long_value)])).await;
    let mailed = post_message(&fake, &email, &five_stars()).await;
    let mut note = five_stars();
    note["private"] = true.into();
    let noted = post_message(&fake, &email, &note).await;

    let statuses = [&buttons, &list, &too_many, &callback, &mailed, &noted].map(|a| a.status);
    assert_eq!(statuses, [200; 6]);
    let violations = fake.rule_violations();
    assert_eq!(violations.len(), 4, "{violations:#?}");
    assert!(
        violations[0].contains("at most 20 characters"),
        "{}",
        violations[0]
    );
    assert!(violations[0].contains(long_button), "{}", violations[0]);
    assert!(violations[1].contains("10 rows"), "{}", violations[1]);
    assert!(violations[2].contains("64 bytes"), "{}", violations[2]);
    assert!(
        violations[3].contains("Channel::Email"),
        "{}",
        violations[3]
    );
    // Chatwoot took them all: they are stored as posted.
    assert_eq!(fake.sent(&whatsapp).len(), 3);
    assert_eq!(fake.sent(&email), [five_stars(), note]);
}

#[tokio::test]
#[should_panic(expected = "broke a rendering rule")]
async fn a_prompt_that_broke_a_rendering_rule_cannot_be_tapped() {
    let fake = fake_at_noon().await;
    let c = fake.open(WHATSAPP_INBOX, "Bob");
    let posted = post_message(&fake, &c, &prompt(&[("Very satisfied indeed", "5")])).await;
    let id = posted.json()["id"].as_u64().unwrap();
    let _ = fake.tap(&c, id, 0);
}

#[tokio::test]
async fn events_are_shaped_like_chatwoots() {
    let fake = fake_at_noon().await;
    let c = fake.open(WHATSAPP_INBOX, "Bob");

    let created = fake.created(&c).json();
    assert_eq!(created["event"], "conversation_created");
    assert_eq!(created["id"], c.id);
    assert_eq!(created["inbox_id"], WHATSAPP_INBOX);
    assert_eq!(created["channel"], "Channel::Whatsapp");
    assert_eq!(created["status"], "open");
    assert_eq!(created["created_at"], noon().timestamp());
    assert!(created["updated_at"].is_f64());
    assert_eq!(created["messages"], json!([]));
    assert_eq!(created["contact_inbox"]["contact_id"], c.contact);
    assert_eq!(created["meta"]["sender"]["id"], c.contact);
    assert_eq!(created["meta"]["sender"]["type"], "contact");
    assert_eq!(created["meta"]["sender"]["name"], "Bob");
    assert_eq!(created["meta"]["assignee"], Value::Null);
    // No client message yet: WhatsApp's window is not open.
    assert_eq!(created["can_reply"], false);

    let written = fake.client_writes(&c, "hi");
    assert_eq!(written.len(), 1);
    let message = written[0].json();
    assert_eq!(message["event"], "message_created");
    assert_eq!(message["created_at"], "2026-11-21T12:00:00.000Z");
    assert_eq!(message["account"]["id"], ACCOUNT_ID);
    assert_eq!(message["inbox"]["id"], WHATSAPP_INBOX);
    assert_eq!(message["private"], false);
    assert_eq!(message["content_type"], "text");
    let conversation = &message["conversation"];
    assert_eq!(conversation["can_reply"], true);
    assert_eq!(conversation["messages"][0]["id"], message["id"]);
    assert_eq!(conversation["messages"][0]["conversation_id"], c.id);
    assert_eq!(conversation["messages"][0]["message_type"], 0);

    let assigned = fake.assign(&c, BORIS).json();
    assert_eq!(assigned["event"], "conversation_updated");
    assert_eq!(
        assigned["changed_attributes"],
        json!([{"assignee_id": {"previous_value": null, "current_value": BORIS}}])
    );
    assert_eq!(assigned["meta"]["assignee"]["name"], "Boris Agent");
    assert_eq!(assigned["meta"]["assignee"]["type"], "user");

    let _ = fake.resolve(&c);
    let answered = fake.agent_writes(&c, ANNA, "Anything else?").json();
    assert_eq!(answered["message_type"], "outgoing");
    assert_eq!(answered["sender"]["id"], ANNA);
    assert_eq!(answered["sender"]["name"], "Anna Agent");
    assert_eq!(answered["sender"]["type"], "user");
    assert_eq!(
        fake.status(&c),
        "resolved",
        "an agent's message reopens nothing"
    );
    let reopened = fake.reopen(&c).json();
    assert_eq!(reopened["event"], "conversation_status_changed");
    assert_eq!(reopened["status"], "open");

    let posted = post_message(&fake, &c, &json!({"content": "Thanks!", "private": false})).await;
    let id = posted.json()["id"].as_u64().unwrap();
    let echo = fake.echo(&c, id).json();
    assert_eq!(
        (echo["event"].as_str(), echo["id"].as_u64()),
        (Some("message_created"), Some(id))
    );
    assert_eq!(echo["sender"]["id"], API_USER);

    let same_inbox = fake
        .created(&fake.open_for(WHATSAPP_INBOX, c.contact))
        .json();
    assert_ne!(same_inbox["id"], c.id);
    assert_eq!(same_inbox["contact_inbox"], created["contact_inbox"]);
    assert_eq!(same_inbox["contact_inbox"]["source_id"], "15550100301");
    let again = fake.open_for(TELEGRAM_INBOX, c.contact);
    assert_eq!(again.contact, c.contact);
    assert_ne!(again.id, c.id);
    let other = fake.open(WHATSAPP_INBOX, "Bob");
    assert_ne!(other.contact, c.contact, "a new contact each time");
    let ids = [c.id, again.id, other.id];
    assert!(ids.iter().all(|id| *id != c.contact), "{ids:?}");
}

#[test]
fn the_signature_matches_a_known_vector() {
    // Computed with `openssl dgst -sha256 -hmac cw-test-webhook-secret` over the same bytes.
    assert_eq!(
        rateline_testkit::chatwoot::sign(
            WEBHOOK_SECRET,
            noon().timestamp(),
            br#"{"event":"ping"}"#
        ),
        "sha256=b7ddcd17089a4107888d836c3e9736c0af2eaa0ee6595eaeb594e73f7ebd2c04"
    );
}

/// `GET …/conversations?status=all&sort_by=last_activity_at_desc` pages 25 conversations,
/// the latest activity first (a status change moves it, as its activity message does); the
/// API's shape puts the channel in `meta` and names the assigned entity, an AgentBot too (a
/// release before that named the user assignee only).
#[tokio::test]
async fn conversations_are_listed_by_latest_activity_25_a_page() {
    let fake = fake_at_noon().await;
    let mut opened = Vec::new();
    for i in 0..30 {
        fake.set_now(noon() + chrono::Duration::seconds(i));
        opened.push(fake.open(WIDGET_INBOX, &format!("Client {i}")));
    }
    fake.set_now(noon() + chrono::Duration::minutes(5));
    let _ = fake.resolve(&opened[3]);
    let _ = fake.assign_bot(&opened[4]);
    let list = |page: u32, status: &'static str| {
        let fake = fake.clone();
        async move {
            let path = format!(
                "/api/v1/accounts/{ACCOUNT_ID}/conversations?status={status}&assignee_type=all\
                 &sort_by=last_activity_at_desc&page={page}"
            );
            let answer = call(&fake, true, &path, Some(API_TOKEN), None).await;
            assert_eq!(answer.status, 200, "{}", answer.text);
            answer.json()["data"]["payload"].as_array().unwrap().clone()
        }
    };
    let first = list(1, "all").await;
    assert_eq!(first.len(), 25);
    assert_eq!(
        first[0]["id"], opened[3].id,
        "the resolve is the latest activity"
    );
    assert_eq!(first[0]["status"], "resolved");
    assert_eq!(first[0]["meta"]["channel"], "Channel::WebWidget");
    assert!(first[0].get("channel").is_none());
    assert!(first[0]["last_activity_at"].is_i64());
    assert!(first[0]["updated_at"].is_f64());
    assert_eq!(first[1]["id"], opened[29].id);
    let second = list(2, "all").await;
    assert_eq!(second.len(), 5);
    let bot_held = first
        .iter()
        .chain(&second)
        .find(|c| c["id"] == opened[4].id)
        .unwrap();
    // A current Chatwoot names the AgentBot holding it; an earlier one names no assignee.
    assert_eq!(bot_held["meta"]["assignee_type"], "AgentBot", "{bot_held}");
    assert_eq!(bot_held["meta"]["assignee"]["id"], 7, "{bot_held}");
    fake.release_before_bot_assignees();
    let again: Vec<Value> = [list(1, "all").await, list(2, "all").await].concat();
    let earlier = again.iter().find(|c| c["id"] == opened[4].id).unwrap();
    assert!(
        earlier["meta"].get("assignee").is_none() && earlier["meta"].get("assignee_type").is_none(),
        "an earlier release names no AgentBot: {earlier}"
    );
    // `status` defaults to open; `resolved` lists only those.
    let resolved = list(1, "resolved").await;
    assert_eq!(resolved.len(), 1);
    let path = format!("/api/v1/accounts/{ACCOUNT_ID}/conversations");
    let open = call(&fake, true, &path, Some(API_TOKEN), None).await.json();
    assert_eq!(open["data"]["payload"].as_array().unwrap().len(), 25);
    assert!(
        open["data"]["payload"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "open")
    );
    let nobody = call(&fake, true, &path, None, None).await;
    assert_eq!(nobody.status, 401);
}

/// `GET …/messages` gives the latest 20 oldest first, and the 20 before `before`; a message
/// is the API's shape: `message_type` its number, `created_at` unix seconds.
#[tokio::test]
async fn messages_are_listed_20_at_a_time_oldest_first() {
    let fake = fake_at_noon().await;
    let c = fake.open(WIDGET_INBOX, "Bob");
    for i in 0..25 {
        let _ = fake.client_writes(&c, &format!("m{i}"));
    }
    let _ = fake.agent_writes(&c, ANNA, "reply");
    let path = conversation_path(c.id, "messages");
    let latest = call(&fake, true, &path, Some(API_TOKEN), None).await.json();
    let latest = latest["payload"].as_array().unwrap();
    assert_eq!(latest.len(), 20);
    assert_eq!(latest[0]["content"], "m6");
    assert_eq!(latest[19]["content"], "reply");
    assert_eq!(latest[19]["message_type"], 1);
    assert_eq!(latest[18]["message_type"], 0);
    assert_eq!(latest[18]["sender"]["type"], "contact");
    assert!(latest[18]["created_at"].is_i64());
    let before = format!("{path}?before={}", latest[0]["id"]);
    let older = call(&fake, true, &before, Some(API_TOKEN), None)
        .await
        .json();
    let older: Vec<&str> = older["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(older, ["m0", "m1", "m2", "m3", "m4", "m5"]);
}

/// The account webhooks API answers in Chatwoot's shapes, for administrators only, and
/// refuses what Chatwoot's model refuses. Each webhook gets the events it subscribes to,
/// once, signed with its own secret at the fake's now; a refused call, or one past
/// `WEBHOOK_TIMEOUT`, is lost and never tried again.
#[tokio::test]
async fn account_webhooks_get_each_event_once_and_lose_what_fails() {
    use std::sync::{Arc, Mutex};
    type Received = Arc<Mutex<(u16, u64, Vec<(axum::http::HeaderMap, Vec<u8>)>)>>;
    let received: Received = Arc::new(Mutex::new((503, 0, Vec::new())));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            |axum::extract::State(r): axum::extract::State<Received>,
             headers: axum::http::HeaderMap,
             body: axum::body::Bytes| async move {
                let (status, delay) = {
                    let mut r = r.lock().unwrap();
                    r.2.push((headers, body.to_vec()));
                    (r.0, r.1)
                };
                tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                axum::http::StatusCode::from_u16(status).unwrap()
            },
        )
        .with_state(received.clone()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, app).into_future());

    let fake = fake_at_noon().await;
    let hooks = format!("/api/v1/accounts/{ACCOUNT_ID}/webhooks");
    let made = call(
        &fake,
        false,
        &hooks,
        Some(API_TOKEN),
        Some(&json!({"webhook": {"url": url, "name": "R",
                                 "subscriptions": ["conversation_status_changed"]}})),
    )
    .await;
    assert_eq!(made.status, 200, "{}", made.text);
    let hook = &made.json()["payload"]["webhook"];
    assert_eq!(hook["url"], url);
    let secret = hook["secret"].as_str().unwrap().to_owned();
    for (body, said) in [
        (json!({"url": url}), "Url has already been taken"),
        (json!({"url": "not a url"}), "Url is invalid"),
        (
            json!({"url": "https://8.8.8.8/x", "subscriptions": ["nope"]}),
            "Subscriptions Invalid events",
        ),
    ] {
        let refused = call(&fake, false, &hooks, Some(API_TOKEN), Some(&body)).await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert_eq!(refused.json()["message"], said);
    }
    let listed = call(&fake, true, &hooks, Some(API_TOKEN), None).await;
    assert_eq!(
        listed.json()["payload"]["webhooks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let c = fake.open(WIDGET_INBOX, "Ann Hooks");
    let statuses = fake
        .post_to_account_webhooks([fake.created(&c), fake.resolve(&c)])
        .await;
    assert_eq!(
        statuses,
        [503],
        "only the resolve is subscribed to, and tried once"
    );
    {
        let r = received.lock().unwrap();
        assert_eq!(r.2.len(), 1);
        let (headers, body) = &r.2[0];
        let timestamp = headers["x-chatwoot-timestamp"].to_str().unwrap();
        assert_eq!(timestamp, noon().timestamp().to_string());
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(body);
        let tag = hex::decode(
            headers["x-chatwoot-signature"]
                .to_str()
                .unwrap()
                .strip_prefix("sha256=")
                .unwrap(),
        )
        .unwrap();
        assert!(
            mac.verify_slice(&tag).is_ok(),
            "signed with the webhook's secret"
        );
    }
    assert_eq!(fake.lost_webhooks().len(), 1);

    {
        let mut r = received.lock().unwrap();
        (r.0, r.1) = (200, 600);
    }
    fake.set_webhook_timeout(std::time::Duration::from_millis(200));
    let statuses = fake.post_to_account_webhooks([fake.reopen(&c)]).await;
    assert_eq!(statuses, [0], "no answer within WEBHOOK_TIMEOUT");
    assert_eq!(fake.lost_webhooks().len(), 2);
    assert_eq!(received.lock().unwrap().2.len(), 2, "never tried again");

    fake.make_token_an_agent();
    let refused = call(&fake, true, &hooks, Some(API_TOKEN), None).await;
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.json()["error"],
        "You are not authorized to do this action"
    );
}
