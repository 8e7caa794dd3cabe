//! The fake Telegram Bot API checked over plain HTTP, so that a Telegram channel test failing
//! points at Rateline and not at a fake that is wrong about Telegram.

use rateline_testkit::telegram::{ChatState, FakeBotApi, Fault, TOKEN};
use serde_json::{Value, json};

const ANN: i64 = 7001;

async fn fake_with_ann() -> FakeBotApi {
    let fake = FakeBotApi::start().await;
    fake.add_chat(ANN, "Ann");
    fake
}

async fn call(fake: &FakeBotApi, method: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/bot{TOKEN}/{method}", fake.url()))
        .json(&body)
        .send()
        .await
        .expect("the fake answers");
    (
        resp.status().as_u16(),
        resp.json().await.expect("a JSON envelope"),
    )
}

fn stars(data: [&str; 2]) -> Value {
    json!({"inline_keyboard": [[
        {"text": "★", "callback_data": data[0]},
        {"text": "★★", "callback_data": data[1]},
    ]]})
}

async fn send_rating_request(fake: &FakeBotApi) -> i64 {
    let (status, body) = call(
        fake,
        "sendMessage",
        json!({"chat_id": ANN, "text": "Rate us", "reply_markup": stars(["r:1", "r:2"])}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["result"]["message_id"].as_i64().unwrap()
}

#[tokio::test]
async fn a_keyboard_message_is_sent_and_stored() {
    let fake = fake_with_ann().await;
    let (status, body) = call(
        &fake,
        "sendMessage",
        json!({"chat_id": ANN.to_string(), "text": "Rate us", "reply_markup": stars(["r:1", "r:2"])}),
    )
    .await;

    assert_eq!(status, 200, "{body}");
    let message = &body["result"];
    assert_eq!(message["message_id"], 1);
    assert_eq!(
        message["chat"],
        json!({"id": ANN, "type": "private", "first_name": "Ann"})
    );
    assert_eq!(message["from"]["is_bot"], true);
    assert_eq!(message["reply_markup"], stars(["r:1", "r:2"]));
    let stored = fake.messages(ANN);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].text, "Rate us");
    assert_eq!(
        fake.button_data(ANN, 1),
        [("★".into(), "r:1".into()), ("★★".into(), "r:2".into())]
    );
    assert!(fake.rule_violations().is_empty());
}

#[tokio::test]
async fn callback_data_over_64_bytes_breaks_a_rule() {
    let fake = fake_with_ann().await;
    let long = "x".repeat(65);
    let (status, body) = call(
        &fake,
        "sendMessage",
        json!({"chat_id": ANN, "text": "Rate us", "reply_markup": stars(["r:1", &long])}),
    )
    .await;

    assert_eq!(status, 400);
    assert_eq!(body["description"], "Bad Request: BUTTON_DATA_INVALID");
    assert_eq!(body["error_code"], 400);
    assert_eq!(body["ok"], false);
    let violations = fake.rule_violations();
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].method, "sendMessage");
    assert!(fake.messages(ANN).is_empty());
}

#[tokio::test]
async fn chats_refuse_as_telegram_does_without_counting_as_violations() {
    let fake = fake_with_ann().await;
    let (status, body) = call(&fake, "sendMessage", json!({"chat_id": 404, "text": "hi"})).await;
    assert_eq!(
        (status, body["description"].as_str()),
        (400, Some("Bad Request: chat not found"))
    );

    fake.set_chat_state(ANN, ChatState::Blocked);
    let (status, body) = call(&fake, "sendMessage", json!({"chat_id": ANN, "text": "hi"})).await;
    assert_eq!(
        (status, body["description"].as_str()),
        (403, Some("Forbidden: bot was blocked by the user"))
    );

    assert!(fake.rule_violations().is_empty());
    assert!(fake.messages(ANN).is_empty());
}

#[tokio::test]
async fn an_edit_that_changes_nothing_is_not_modified() {
    let fake = fake_with_ann().await;
    let id = send_rating_request(&fake).await;
    let thanks = json!({"chat_id": ANN, "message_id": id, "text": "Thanks!"});

    let (status, body) = call(&fake, "editMessageText", thanks.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["result"]["edit_date"].is_i64());
    assert!(body["result"].get("reply_markup").is_none(), "{body}");
    assert_eq!(fake.messages(ANN)[0].reply_markup, None);

    let (status, body) = call(&fake, "editMessageText", thanks).await;
    assert_eq!(status, 400);
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .starts_with("Bad Request: message is not modified"),
        "{body}"
    );
    assert_eq!(fake.rule_violations().len(), 1);
}

#[tokio::test]
async fn a_callback_query_is_answered_once() {
    let fake = fake_with_ann().await;
    let id = send_rating_request(&fake).await;
    let update = fake.tap(ANN, id, "r:2");
    let query = &update["callback_query"];
    assert_eq!(query["message"]["reply_markup"], stars(["r:1", "r:2"]));
    assert_eq!(query["from"]["id"], ANN);
    let answer = json!({"callback_query_id": query["id"], "text": "Thanks!"});

    let (status, body) = call(&fake, "answerCallbackQuery", answer.clone()).await;
    assert_eq!((status, &body["result"]), (200, &json!(true)));
    let (status, body) = call(&fake, "answerCallbackQuery", answer).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["description"],
        "Bad Request: query is too old and response timeout expired or query ID is invalid"
    );

    let query_id = query["id"].as_str().unwrap().to_owned();
    assert_eq!(
        fake.answered_callbacks(),
        [(query_id, Some("Thanks!".into()))]
    );
}

#[tokio::test]
async fn a_long_poll_returns_a_tap_and_the_offset_confirms_it() {
    let fake = fake_with_ann().await;
    let id = send_rating_request(&fake).await;
    let poll = tokio::spawn({
        let fake = fake.clone();
        async move { call(&fake, "getUpdates", json!({"timeout": 5})).await }
    });
    fake.wait_for(|f| f.calls().iter().any(|c| c.method == "getUpdates"))
        .await;
    let tap = fake.tap(ANN, id, "r:1");

    let (status, body) = poll.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!([tap]));
    let next = tap["update_id"].as_i64().unwrap() + 1;
    let (_, body) = call(&fake, "getUpdates", json!({"offset": next})).await;
    assert_eq!(body["result"], json!([]));
    let (_, body) = call(&fake, "getUpdates", json!({"offset": 0})).await;
    assert_eq!(
        body["result"],
        json!([]),
        "confirmed updates are gone for good"
    );
}

#[tokio::test]
async fn a_second_poller_terminates_the_first() {
    let fake = fake_with_ann().await;
    let first = tokio::spawn({
        let fake = fake.clone();
        async move { call(&fake, "getUpdates", json!({"timeout": 5})).await }
    });
    // On this single-threaded runtime a poll is registered by the time its call is recorded.
    fake.wait_for(|f| !f.calls().is_empty()).await;

    let (status, _) = call(&fake, "getUpdates", json!({"timeout": 0})).await;
    assert_eq!(status, 200);
    let (status, body) = first.await.unwrap();
    assert_eq!(status, 409);
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .starts_with("Conflict: terminated by other getUpdates request"),
        "{body}"
    );
}

#[tokio::test]
async fn a_second_message_within_a_second_hits_flood_control() {
    let fake = fake_with_ann().await;
    send_rating_request(&fake).await;
    let (status, body) = call(
        &fake,
        "sendMessage",
        json!({"chat_id": ANN, "text": "again"}),
    )
    .await;

    assert_eq!(status, 429);
    assert_eq!(body["description"], "Too Many Requests: retry after 1");
    assert_eq!(body["parameters"], json!({"retry_after": 1}));
    assert_eq!(fake.rule_violations().len(), 1);
}

#[tokio::test]
async fn an_injected_fault_answers_once() {
    let fake = fake_with_ann().await;
    fake.fail_next("sendMessage", Fault::server_error());

    let (status, body) = call(&fake, "sendMessage", json!({"chat_id": ANN, "text": "hi"})).await;
    assert_eq!((status, &body["description"]), (502, &json!("Bad Gateway")));
    // The faulted call sent nothing, so flood control does not hold the retry back.
    send_rating_request(&fake).await;

    assert!(fake.rule_violations().is_empty());
    assert_eq!(fake.calls().len(), 2);
    assert_eq!(fake.messages(ANN).len(), 1);
}

#[tokio::test]
async fn a_wrong_token_or_method_is_refused() {
    let fake = fake_with_ann().await;
    let resp = reqwest::Client::new()
        .post(format!("{}/bot1:wrong/getMe", fake.url()))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);

    let (status, body) = call(&fake, "sendMessages", json!({})).await;
    assert_eq!(
        (status, &body["description"]),
        (404, &json!("Not Found: method not found"))
    );
}

#[tokio::test]
async fn method_names_ignore_case_as_teloxide_needs() {
    let fake = fake_with_ann().await;
    fake.fail_next("sendMessage", Fault::too_many(3));

    // teloxide's spelling.
    let (status, body) = call(&fake, "SendMessage", json!({"chat_id": ANN, "text": "hi"})).await;
    assert_eq!(
        (status, &body["parameters"]["retry_after"]),
        (429, &json!(3))
    );
    let (status, body) = call(&fake, "GetMe", json!({})).await;
    assert_eq!(
        (status, &body["result"]["username"]),
        (200, &json!("rateline_test_bot"))
    );

    let methods: Vec<_> = fake.calls().into_iter().map(|c| c.method).collect();
    assert_eq!(methods, ["sendMessage", "getMe"]);
}

/// teloxide posts `setWebhook` as multipart/form-data (it could carry a certificate), every
/// value as text; this body is shaped the way reqwest builds it.
fn webhook_form(fields: &[(&str, &str)]) -> (String, String) {
    let boundary = "3f1d0c2e9a7b4c55-a0b1c2d3e4f5a6b7";
    let mut body = String::new();
    for (name, value) in fields {
        body += &format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        );
    }
    body += &format!("--{boundary}--\r\n");
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_form(fake: &FakeBotApi, method: &str, fields: &[(&str, &str)]) -> (u16, Value) {
    let (content_type, body) = webhook_form(fields);
    let resp = reqwest::Client::new()
        .post(format!("{}/bot{TOKEN}/{method}", fake.url()))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("the fake answers");
    (
        resp.status().as_u16(),
        resp.json().await.expect("a JSON envelope"),
    )
}

#[tokio::test]
async fn a_webhook_is_set_from_a_multipart_form_and_stops_polling() {
    let fake = fake_with_ann().await;
    let (status, body) = post_form(
        &fake,
        "SetWebhook",
        &[
            ("url", "https://rateline.example/telegram"),
            ("secret_token", "not allowed!"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["description"],
        "Bad Request: secret token contains unallowed characters"
    );
    assert_eq!(fake.webhook(), None);

    let (status, body) = post_form(
        &fake,
        "SetWebhook",
        &[
            ("url", "https://rateline.example/telegram"),
            ("secret_token", "s3cret_-token"),
            ("drop_pending_updates", "true"),
        ],
    )
    .await;
    assert_eq!((status, &body["result"]), (200, &json!(true)));
    assert_eq!(
        fake.webhook(),
        Some((
            "https://rateline.example/telegram".into(),
            Some("s3cret_-token".into())
        ))
    );
    let (status, body) = call(&fake, "getUpdates", json!({})).await;
    assert_eq!(status, 409);
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("while webhook is active"),
        "{body}"
    );

    let (status, _) = call(&fake, "deleteWebhook", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(fake.webhook(), None);
}

#[tokio::test]
async fn a_reply_names_a_message_of_the_chat() {
    let fake = fake_with_ann().await;
    let first = send_rating_request(&fake).await;
    // Past the one-message-a-second flood control of the chat.
    let wait = || tokio::time::sleep(std::time::Duration::from_millis(1100));
    wait().await;
    let (status, body) = call(
        &fake,
        "sendMessage",
        json!({"chat_id": ANN, "text": "re", "reply_parameters": {"message_id": 99}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["description"],
        "Bad Request: message to be replied not found"
    );
    let (status, body) = call(
        &fake,
        "sendMessage",
        json!({"chat_id": ANN, "text": "re", "reply_parameters": {"message_id": first}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["reply_to_message"]["message_id"], first);
    assert_eq!(fake.messages(ANN)[1].reply_to, Some(first));
    wait().await;
    // With allow_sending_without_reply, a reply to a message that is gone is sent as none.
    let (status, body) = call(
        &fake,
        "sendMessage",
        json!({"chat_id": ANN, "text": "re", "reply_parameters":
               {"message_id": 99, "allow_sending_without_reply": true}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"].get("reply_to_message"), None);
    assert_eq!(fake.messages(ANN)[2].reply_to, None);
}
