//! The fake Graph API and the Meta webhook builders checked over plain HTTP, so that a Meta
//! channel test failing points at Rateline and not at a fake that is wrong about Meta.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use hmac::{Hmac, KeyInit, Mac};
use rateline_testkit::meta::{
    APP_SECRET, FakeGraphApi, Fault, IG_ID, IG_TOKEN, MetaChannel, PAGE_ID, PAGE_TOKEN, VERSION,
    WA_BUSINESS_ID, WA_PHONE_ID, WA_TOKEN, messenger_batch, sign, sign_with,
};
use serde_json::{Value, json};
use sha2::Sha256;

use MetaChannel::{Instagram, Messenger, Whatsapp};

/// A Messenger PSID.
const ANN: &str = "1134343043305865";
/// A WhatsApp number, written as a contact center might.
const BOB: &str = "+250 788 123 456";
const BOB_WA_ID: &str = "250788123456";

fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
}

async fn fake_at_noon() -> FakeGraphApi {
    let fake = FakeGraphApi::start().await;
    fake.set_now(noon());
    fake
}

async fn send(fake: &FakeGraphApi, channel: MetaChannel, body: &Value) -> (u16, Value) {
    let (id, token) = match channel {
        Messenger => (PAGE_ID, PAGE_TOKEN),
        Instagram => (IG_ID, IG_TOKEN),
        Whatsapp => (WA_PHONE_ID, WA_TOKEN),
    };
    post(
        fake,
        &format!("/{VERSION}/{id}/messages"),
        Some(token),
        body,
    )
    .await
}

async fn post(fake: &FakeGraphApi, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", fake.url()))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let resp = request.send().await.expect("the fake answers");
    (
        resp.status().as_u16(),
        resp.json().await.expect("a JSON body"),
    )
}

/// A Messenger rating request with `n` quick replies.
fn quick_replies(user: &str, n: usize) -> Value {
    let replies: Vec<Value> = (1..=n)
        .map(|i| json!({"content_type": "text", "title": format!("{i} ★"), "payload": format!("RATE:{i}")}))
        .collect();
    json!({
        "recipient": {"id": user},
        "messaging_type": "RESPONSE",
        "message": {"text": "How did we do?", "quick_replies": replies},
    })
}

/// A WhatsApp list with sections of `rows` rows each.
fn list(rows: &[usize]) -> Value {
    let mut next = 0;
    let sections: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(s, &n)| {
            let rows: Vec<Value> = (0..n)
                .map(|_| {
                    next += 1;
                    json!({"id": format!("rate:{next}"), "title": format!("{next} stars"), "description": "tap to rate"})
                })
                .collect();
            json!({"title": format!("Section {s}"), "rows": rows})
        })
        .collect();
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": BOB,
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": "How did we do?"},
            "action": {"button": "Rate", "sections": sections},
        },
    })
}

fn reply_buttons(n: usize) -> Value {
    let buttons: Vec<Value> = (1..=n)
        .map(|i| json!({"type": "reply", "reply": {"id": format!("rate:{i}"), "title": format!("{i} stars")}}))
        .collect();
    json!({
        "messaging_product": "whatsapp",
        "to": BOB,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "How did we do?"},
            "action": {"buttons": buttons},
        },
    })
}

fn template(index: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "to": BOB,
        "type": "template",
        "template": {
            "name": "rating_request",
            "language": {"code": "en_US"},
            "components": [{
                "type": "button",
                "sub_type": "quick_reply",
                "index": index,
                "parameters": [{"type": "payload", "payload": "RATE:5"}],
            }],
        },
    })
}

/// Checks a signature the way Rateline must: HMAC-SHA256 over the raw bytes, in constant time.
fn signature_ok(body: &str, header: &str) -> bool {
    let Some(tag) = header
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    mac.verify_slice(&tag).is_ok()
}

fn error_code(body: &Value) -> (i64, Option<i64>) {
    (
        body["error"]["code"].as_i64().expect("an error code"),
        body["error"]["error_subcode"].as_i64(),
    )
}

#[tokio::test]
async fn a_quick_reply_request_inside_the_window_is_sent_and_stored() {
    let fake = fake_at_noon().await;
    fake.user_wrote(Messenger, ANN, noon() - TimeDelta::hours(23));
    let request = quick_replies(ANN, 5);

    let (status, body) = send(&fake, Messenger, &request).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["recipient_id"], ANN);
    let mid = body["message_id"].as_str().unwrap();
    assert!(mid.starts_with("m_"), "{mid}");
    assert_eq!(fake.sent(Messenger, ANN), [request]);
    assert_eq!(fake.last_message_id(Messenger, ANN).as_deref(), Some(mid));
    assert!(fake.rule_violations().is_empty());
}

#[tokio::test]
async fn too_many_quick_replies_or_a_long_title_break_a_rule() {
    let fake = fake_at_noon().await;
    fake.user_wrote(Messenger, ANN, noon());
    let mut long_title = quick_replies(ANN, 5);
    long_title["message"]["quick_replies"][2]["title"] = "x".repeat(21).into();

    let (fourteen, too_many) = send(&fake, Messenger, &quick_replies(ANN, 14)).await;
    let (long, too_long) = send(&fake, Messenger, &long_title).await;

    assert_eq!((fourteen, error_code(&too_many)), (400, (100, None)));
    assert!(
        too_many["error"]["message"]
            .as_str()
            .unwrap()
            .contains("quick_replies"),
        "{too_many}"
    );
    assert_eq!((long, error_code(&too_long)), (400, (100, None)));
    assert!(
        too_long["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[2][title]"),
        "{too_long}"
    );
    assert_eq!(too_long["error"]["type"], "OAuthException");
    let violations = fake.rule_violations();
    assert_eq!(violations.len(), 2);
    assert!(violations.iter().all(|c| c.error_code == Some(100)));
    assert!(fake.sent(Messenger, ANN).is_empty());
}

#[tokio::test]
async fn outside_the_window_a_send_is_refused_as_a_violation() {
    let fake = fake_at_noon().await;
    fake.user_wrote(
        Messenger,
        ANN,
        noon() - TimeDelta::hours(24) - TimeDelta::seconds(1),
    );
    fake.add_user(Instagram, "ig-never-wrote");

    let (late, late_body) = send(&fake, Messenger, &quick_replies(ANN, 5)).await;
    let (never, never_body) = send(&fake, Instagram, &quick_replies("ig-never-wrote", 5)).await;

    assert_eq!((late, error_code(&late_body)), (400, (10, Some(2018278))));
    assert_eq!(
        late_body["error"]["message"],
        "(#10) This message is sent outside of allowed window."
    );
    assert_eq!((never, error_code(&never_body)), (400, (10, Some(2018278))));
    assert_eq!(fake.rule_violations().len(), 2);

    // The user writing again opens the window, whatever the webhook carried.
    let _ = fake.inbound().messenger_text(ANN, "hello again");
    let (status, body) = send(&fake, Messenger, &quick_replies(ANN, 5)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(fake.sent(Messenger, ANN).len(), 1);
}

#[tokio::test]
async fn message_tags_need_a_tag_and_keep_their_own_windows() {
    let fake = fake_at_noon().await;
    fake.user_wrote(Messenger, ANN, noon() - TimeDelta::days(6));
    fake.user_wrote(Instagram, "ig-user", noon() - TimeDelta::days(6));
    let tagged = |user: &str, tag: Option<&str>| {
        let mut request = quick_replies(user, 5);
        request["messaging_type"] = "MESSAGE_TAG".into();
        if let Some(tag) = tag {
            request["tag"] = tag.into();
        }
        request
    };

    let (untagged, _) = send(&fake, Messenger, &tagged(ANN, None)).await;
    let (agent, _) = send(&fake, Messenger, &tagged(ANN, Some("HUMAN_AGENT"))).await;
    let (ig_update, _) = send(&fake, Instagram, &tagged("ig-user", Some("ACCOUNT_UPDATE"))).await;
    fake.set_now(noon() + TimeDelta::days(2));
    let (agent_late, late_body) = send(&fake, Messenger, &tagged(ANN, Some("HUMAN_AGENT"))).await;

    assert_eq!((untagged, agent, ig_update), (400, 200, 400));
    assert_eq!(error_code(&late_body), (10, Some(2018278)));
    assert_eq!(agent_late, 400);
    assert_eq!(fake.rule_violations().len(), 3);
}

#[tokio::test]
async fn unknown_and_unavailable_users_are_refused_without_a_violation() {
    let fake = fake_at_noon().await;
    fake.user_wrote(Messenger, ANN, noon());
    fake.set_user_unavailable(Messenger, ANN, true);

    let (unknown, unknown_body) = send(&fake, Messenger, &quick_replies("999", 5)).await;
    let (blocked, blocked_body) = send(&fake, Messenger, &quick_replies(ANN, 5)).await;

    assert_eq!(
        (unknown, error_code(&unknown_body)),
        (400, (100, Some(2018001)))
    );
    assert_eq!(
        (blocked, error_code(&blocked_body)),
        (400, (551, Some(1545041)))
    );
    assert!(fake.rule_violations().is_empty());
    assert_eq!(fake.calls().len(), 2);
}

#[tokio::test]
async fn a_whatsapp_list_takes_ten_rows_at_most() {
    let fake = fake_at_noon().await;
    fake.user_wrote(Whatsapp, BOB, noon() - TimeDelta::hours(1));

    let (eleven, refused) = send(&fake, Whatsapp, &list(&[6, 5])).await;
    let (five, accepted) = send(&fake, Whatsapp, &list(&[5])).await;

    assert_eq!((eleven, error_code(&refused)), (400, (131009, None)));
    assert_eq!(
        refused["error"]["message"],
        "(#131009) Parameter value is not valid"
    );
    let details = refused["error"]["error_data"]["details"].as_str().unwrap();
    assert!(details.contains("10 rows"), "{details}");
    assert_eq!(fake.rule_violations().len(), 1);

    assert_eq!(five, 200, "{accepted}");
    assert_eq!(accepted["messaging_product"], "whatsapp");
    assert_eq!(
        accepted["contacts"],
        json!([{"input": BOB, "wa_id": BOB_WA_ID}])
    );
    let wamid = accepted["messages"][0]["id"].as_str().unwrap();
    assert!(wamid.starts_with("wamid."), "{wamid}");
    assert_eq!(
        fake.last_message_id(Whatsapp, BOB_WA_ID).as_deref(),
        Some(wamid)
    );
}

#[tokio::test]
async fn four_reply_buttons_or_repeated_titles_break_a_rule() {
    let fake = fake_at_noon().await;
    fake.user_wrote(Whatsapp, BOB, noon());
    let mut repeated = reply_buttons(2);
    repeated["interactive"]["action"]["buttons"][1]["reply"]["title"] = "1 stars".into();

    let (four, _) = send(&fake, Whatsapp, &reply_buttons(4)).await;
    let (twice, _) = send(&fake, Whatsapp, &repeated).await;
    let (three, body) = send(&fake, Whatsapp, &reply_buttons(3)).await;

    assert_eq!((four, twice, three), (400, 400, 200), "{body}");
    let violations = fake.rule_violations();
    assert_eq!(violations.len(), 2);
    assert!(violations.iter().all(|c| c.error_code == Some(131009)));
    assert_eq!(fake.sent(Whatsapp, BOB).len(), 1);
}

#[tokio::test]
async fn only_a_template_goes_out_after_the_window_closes() {
    let fake = fake_at_noon().await;
    fake.user_wrote(Whatsapp, BOB, noon() - TimeDelta::days(3));
    fake.add_template("rating_request", "en_US", 5);
    let mut unknown = template("0");
    unknown["template"]["name"] = "no_such_template".into();

    let (text, text_body) = send(&fake, Whatsapp, &reply_buttons(3)).await;
    let (in_range, in_range_body) = send(&fake, Whatsapp, &template("4")).await;
    let (past, _) = send(&fake, Whatsapp, &template("5")).await;
    let (missing, missing_body) = send(&fake, Whatsapp, &unknown).await;

    assert_eq!((text, error_code(&text_body)), (400, (131047, None)));
    assert_eq!(
        text_body["error"]["error_data"]["details"],
        "Message failed to send because more than 24 hours have passed since the customer last \
         replied to this number"
    );
    assert_eq!(in_range, 200, "{in_range_body}");
    assert_eq!(past, 400);
    assert_eq!((missing, error_code(&missing_body)), (400, (132001, None)));
    let violations: Vec<_> = fake
        .rule_violations()
        .into_iter()
        .map(|c| c.error_code)
        .collect();
    assert_eq!(violations, [Some(131047), Some(131009)]);
    assert_eq!(fake.sent(Whatsapp, BOB), [template("4")]);
}

#[tokio::test]
async fn an_async_window_failure_queues_a_signed_failed_status() {
    let fake = fake_at_noon().await;
    fake.user_wrote(Whatsapp, BOB, noon() - TimeDelta::days(2));
    fake.whatsapp_window_errors_async(true);

    let (status, body) = send(&fake, Whatsapp, &list(&[5])).await;

    assert_eq!(status, 200, "{body}");
    let wamid = body["messages"][0]["id"].as_str().unwrap();
    let statuses = fake.take_async_statuses();
    assert_eq!(statuses.len(), 1);
    let (raw, signature) = &statuses[0];
    assert!(
        signature_ok(raw, signature),
        "{signature} does not sign {raw}"
    );
    let payload: Value = serde_json::from_str(raw).unwrap();
    assert_eq!(payload["object"], "whatsapp_business_account");
    assert_eq!(payload["entry"][0]["id"], WA_BUSINESS_ID);
    let change = &payload["entry"][0]["changes"][0];
    assert_eq!(change["field"], "messages");
    assert_eq!(change["value"]["metadata"]["phone_number_id"], WA_PHONE_ID);
    let failed = &change["value"]["statuses"][0];
    assert_eq!(failed["id"], wamid);
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["recipient_id"], BOB_WA_ID);
    assert_eq!(failed["timestamp"], noon().timestamp().to_string());
    assert_eq!(failed["errors"][0]["code"], 131047);
    // It reached no one, and it still broke the window rule.
    assert!(fake.sent(Whatsapp, BOB).is_empty());
    let violations = fake.rule_violations();
    assert_eq!(violations.len(), 1);
    assert_eq!(
        (violations[0].status, violations[0].error_code),
        (200, Some(131047))
    );
    assert!(fake.take_async_statuses().is_empty());
}

#[tokio::test]
async fn a_wrong_token_or_path_is_refused() {
    let fake = fake_at_noon().await;
    fake.user_wrote(Messenger, ANN, noon());
    let request = quick_replies(ANN, 5);
    let page = format!("/{VERSION}/{PAGE_ID}/messages");

    let (wrong, wrong_body) = post(&fake, &page, Some(IG_TOKEN), &request).await;
    let (none, _) = post(&fake, &page, None, &request).await;
    let (old, old_body) = post(
        &fake,
        &format!("/v19.0/{PAGE_ID}/messages"),
        Some(PAGE_TOKEN),
        &request,
    )
    .await;

    assert_eq!((wrong, error_code(&wrong_body)), (401, (190, None)));
    assert_eq!(
        wrong_body["error"],
        json!({
            "message": "Invalid OAuth access token - Cannot parse access token",
            "type": "OAuthException",
            "code": 190,
            "fbtrace_id": "A1b2C3",
        })
    );
    assert_eq!(none, 401);
    assert_eq!((old, error_code(&old_body).0), (400, 100));
    assert!(
        old_body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Unsupported post request"),
        "{old_body}"
    );
    assert!(fake.rule_violations().is_empty());
    assert!(fake.sent(Messenger, ANN).is_empty());
    assert!(fake.calls().iter().all(|c| c.channel == Some(Messenger)));
}

#[tokio::test]
async fn an_injected_fault_answers_once() {
    let fake = fake_at_noon().await;
    fake.user_wrote(Messenger, ANN, noon());
    fake.fail_next(Messenger, Fault::rate_limited(613));
    fake.fail_next(Messenger, Fault::invalid_token());
    fake.fail_next(Whatsapp, Fault::server_error());

    let (first, first_body) = send(&fake, Messenger, &quick_replies(ANN, 5)).await;
    let (second, second_body) = send(&fake, Messenger, &quick_replies(ANN, 5)).await;
    let (third, _) = send(&fake, Messenger, &quick_replies(ANN, 5)).await;

    assert_eq!((first, error_code(&first_body)), (429, (613, None)));
    assert_eq!((second, error_code(&second_body)), (401, (190, None)));
    assert_eq!(third, 200);
    assert_eq!(fake.sent(Messenger, ANN).len(), 1);
    let codes: Vec<_> = fake.calls().into_iter().map(|c| c.error_code).collect();
    assert_eq!(codes, [Some(613), Some(190), None]);
    assert!(fake.rule_violations().is_empty());
}

#[tokio::test]
async fn a_hanging_fault_never_answers() {
    let fake = fake_at_noon().await;
    fake.user_wrote(Messenger, ANN, noon());
    fake.fail_next(Messenger, Fault::Hang);
    let hanging = {
        let fake = fake.clone();
        tokio::spawn(async move { send(&fake, Messenger, &quick_replies(ANN, 5)).await })
    };

    fake.wait_for(|f| f.calls().len() == 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    assert!(!hanging.is_finished());
    assert_eq!(fake.calls()[0].status, 0);
    hanging.abort();
    let (status, _) = send(&fake, Messenger, &quick_replies(ANN, 5)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn webhooks_are_shaped_and_signed_like_metas() {
    let fake = fake_at_noon().await;

    let (raw, signature) = fake.inbound().messenger_quick_reply(ANN, "5 ★", "RATE:5");
    let (again, _) = fake.inbound().messenger_quick_reply(ANN, "5 ★", "RATE:5");
    let (replayed, _) = fake
        .inbound()
        .with_mid("m_replayed")
        .messenger_quick_reply(ANN, "5 ★", "RATE:5");

    assert!(signature_ok(&raw, &signature));
    let payload: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(payload["object"], "page");
    assert_eq!(payload["entry"][0]["id"], PAGE_ID);
    assert_eq!(payload["entry"][0]["time"], noon().timestamp_millis());
    let event = &payload["entry"][0]["messaging"][0];
    assert_eq!(event["sender"]["id"], ANN);
    assert_eq!(event["recipient"]["id"], PAGE_ID);
    assert_eq!(event["timestamp"], noon().timestamp_millis());
    assert_eq!(event["message"]["text"], "5 ★");
    assert_eq!(event["message"]["quick_reply"]["payload"], "RATE:5");
    let mid = |raw: &str| {
        let payload: Value = serde_json::from_str(raw).unwrap();
        payload["entry"][0]["messaging"][0]["message"]["mid"].clone()
    };
    assert_ne!(mid(&raw), mid(&again));
    assert_eq!(mid(&replayed), "m_replayed");

    let (echo, _) = fake.inbound().messenger_echo(ANN, "Thanks!");
    let echo: Value = serde_json::from_str(&echo).unwrap();
    let echo = &echo["entry"][0]["messaging"][0];
    assert_eq!(
        (&echo["sender"]["id"], &echo["message"]["is_echo"]),
        (&json!(PAGE_ID), &json!(true))
    );

    let (ig, _) = fake.inbound().instagram_text("ig-user", "hi");
    let ig: Value = serde_json::from_str(&ig).unwrap();
    assert_eq!(
        (&ig["object"], &ig["entry"][0]["id"]),
        (&json!("instagram"), &json!(IG_ID))
    );

    let events = vec![
        fake.inbound().messenger_text_event(ANN, "one"),
        fake.inbound()
            .messenger_quick_reply_event(ANN, "5 ★", "RATE:5"),
        fake.inbound()
            .messenger_postback_event(ANN, "5 ★", "RATE:5"),
    ];
    let (batch, batch_signature) = messenger_batch(events);
    assert!(signature_ok(&batch, &batch_signature));
    let batch: Value = serde_json::from_str(&batch).unwrap();
    let entries = batch["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["messaging"].as_array().unwrap().len(), 2);
    assert_eq!(entries[1]["messaging"][0]["postback"]["payload"], "RATE:5");

    let written = noon() - TimeDelta::minutes(5);
    let (wa, wa_signature) = fake
        .inbound()
        .at(written)
        .whatsapp_list_reply(BOB, "rate:5", "5 stars", "wamid.42");
    assert!(signature_ok(&wa, &wa_signature));
    let wa: Value = serde_json::from_str(&wa).unwrap();
    let value = &wa["entry"][0]["changes"][0]["value"];
    assert_eq!(value["metadata"]["phone_number_id"], WA_PHONE_ID);
    assert_eq!(value["contacts"][0]["wa_id"], BOB_WA_ID);
    let message = &value["messages"][0];
    assert_eq!(message["from"], BOB_WA_ID);
    assert_eq!(message["timestamp"], written.timestamp().to_string());
    assert_eq!(message["type"], "interactive");
    assert_eq!(message["interactive"]["type"], "list_reply");
    assert_eq!(message["interactive"]["list_reply"]["id"], "rate:5");
    assert_eq!(message["context"]["id"], "wamid.42");

    // Bob's reply opened his window: a free-form message may follow.
    let (status, body) = send(&fake, Whatsapp, &reply_buttons(3)).await;
    assert_eq!(status, 200, "{body}");
}

/// The `value` of the only change in a WhatsApp webhook, after checking its signature.
fn whatsapp_value((raw, signature): (String, String)) -> Value {
    assert!(signature_ok(&raw, &signature));
    let payload: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(payload["entry"][0]["id"], WA_BUSINESS_ID);
    payload["entry"][0]["changes"][0]["value"].clone()
}

#[tokio::test]
async fn whatsapp_replies_and_statuses_are_shaped_like_metas() {
    let fake = fake_at_noon().await;

    let button = whatsapp_value(
        fake.inbound()
            .whatsapp_button_reply(BOB, "rate:5", "5 stars", "wamid.7"),
    );
    let template = whatsapp_value(
        fake.inbound()
            .whatsapp_template_button(BOB, "RATE:5", "5 stars", "wamid.8"),
    );
    let text = whatsapp_value(fake.inbound().whatsapp_text(BOB, "thanks"));
    let delivered =
        whatsapp_value(
            fake.inbound()
                .whatsapp_status("wamid.7", "delivered", BOB, None),
        );
    let failed =
        whatsapp_value(
            fake.inbound()
                .whatsapp_status("wamid.8", "failed", BOB, Some(131026)),
        );

    let button = &button["messages"][0];
    assert_eq!(
        button["interactive"],
        json!({"type": "button_reply", "button_reply": {"id": "rate:5", "title": "5 stars"}})
    );
    assert_eq!(button["context"]["id"], "wamid.7");
    assert_eq!(button["timestamp"], noon().timestamp().to_string());
    let template = &template["messages"][0];
    assert_eq!(template["type"], "button");
    assert_eq!(
        template["button"],
        json!({"payload": "RATE:5", "text": "5 stars"})
    );
    assert_eq!(template["context"]["id"], "wamid.8");
    let text = &text["messages"][0];
    assert_eq!(
        (&text["type"], &text["text"]["body"]),
        (&json!("text"), &json!("thanks"))
    );
    assert!(text.get("context").is_none());
    assert_ne!(button["id"], text["id"]);
    let delivered = &delivered["statuses"][0];
    assert_eq!(
        (
            &delivered["id"],
            &delivered["status"],
            &delivered["recipient_id"]
        ),
        (&json!("wamid.7"), &json!("delivered"), &json!(BOB_WA_ID))
    );
    assert!(delivered.get("errors").is_none());
    assert_eq!(failed["statuses"][0]["errors"][0]["code"], 131026);
}

#[test]
fn the_signature_matches_known_vectors() {
    // HMAC-SHA256 vectors from courier's `TestSigning`, checked with openssl.
    assert_eq!(
        sign_with("sesame", "hello world"),
        "sha256=f39034b29165ec6a5104d9aef27266484ab26c8caa7bca8bcb2dd02e8be61b17"
    );
    assert_eq!(
        sign_with("sesame", "hello world2"),
        "sha256=60905fdf409d0b4f721e99f6f25b31567a68a6b45e933d814e17a246be4c5a53"
    );
    assert_eq!(sign("{}"), sign_with(APP_SECRET, "{}"));
}
