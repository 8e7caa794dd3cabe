//! The telegram channel end to end: the real server, a real database, and a fake Bot API
//! that enforces Telegram's rules (button data size, keyboard shape, text length, rate
//! limits, "message is not modified", stale callback queries) on every call.
//!
//! Updates are shaped like Telegram's own and reach the server the way Telegram sends
//! them: POSTed to `/channels/telegram/webhook` with the secret header, or fetched by the
//! server's long poll.

use std::time::Duration;

use crate::common::{Db, TestApp, start_time, test_settings};
use rateline::clock::ManualClock;
use rateline::settings::{Settings, TelegramMode, TelegramSettings};
use rateline_testkit::telegram::{ChatState, FakeBotApi, Fault, StoredMessage, TOKEN};
use serde_json::{Value, json};

const WEBHOOK_SECRET: &str = "rateline-test-webhook-secret_1";
const ANN: i64 = 436_432_850;
const BOB: i64 = 512_004_311;

/// A server whose telegram channel talks to a fake Bot API.
struct TgApp {
    app: TestApp,
    bot: FakeBotApi,
}

fn telegram_settings(bot: &FakeBotApi) -> TelegramSettings {
    TelegramSettings {
        token: TOKEN.into(),
        api_url: bot.url(),
        webhook_secret: Some(WEBHOOK_SECRET.into()),
        webhook_url: None,
        mode: TelegramMode::Webhook,
        callback_secret: None,
        max_per_second: 25,
        poll_timeout_seconds: 1,
    }
}

async fn spawn(kind: Db) -> Option<TgApp> {
    spawn_with(kind, |_| {}).await
}

async fn spawn_with(kind: Db, tweak: impl FnOnce(&mut Settings)) -> Option<TgApp> {
    let db = crate::common::TestDb::new(kind).await?;
    let bot = FakeBotApi::start().await;
    bot.add_chat(ANN, "Ann");
    bot.add_chat(BOB, "Bob");
    let mut settings = test_settings(&db);
    settings.telegram = Some(telegram_settings(&bot));
    // teloxide waits 10 s after a 5xx before it returns; the send timeout cuts that short.
    settings.scheduler.send_timeout_seconds = 2;
    tweak(&mut settings);
    let clock = ManualClock::new(start_time());
    let connector = crate::common::Connector::start().await;
    let app = TestApp::start(db, settings, clock, connector).await;
    Some(TgApp { app, bot })
}

impl TgApp {
    /// A telegram line (no connector) with `rating` settings; due at once unless told.
    async fn line(&self, id: &str, rating: Value) {
        let mut rating = rating;
        if rating.get("delay_seconds").is_none() {
            rating["delay_seconds"] = json!(0);
        }
        let (status, body) = self
            .app
            .put(
                &format!("/v1/lines/{id}"),
                json!({"name": id, "rating": rating}),
            )
            .await;
        assert!(status == 201 || status == 200, "PUT line: {status} {body}");
    }

    async fn open(&self, session: &str, line: &str, chat: i64) {
        let (status, body) = self
            .app
            .post(
                "/v1/sessions",
                json!({"id": session, "line_id": line, "channel": "telegram",
                       "client": {"id": chat.to_string(), "name": "Ann"}, "operator_id": "op-1"}),
            )
            .await;
        assert_eq!(status, 201, "open: {body}");
    }

    /// Opens and closes a session, and waits for its card to reach the chat.
    async fn rated_card(&self, session: &str, line: &str, chat: i64) -> StoredMessage {
        let before = self.cards(chat).len();
        self.open(session, line, chat).await;
        self.app.close(session).await;
        self.bot
            .wait_for(|b| cards_in(b, chat).len() > before)
            .await;
        self.app.wait_for_status(session, "sent").await;
        self.cards(chat).pop().unwrap()
    }

    fn cards(&self, chat: i64) -> Vec<StoredMessage> {
        cards_in(&self.bot, chat)
    }

    fn message(&self, chat: i64, id: i64) -> StoredMessage {
        self.bot
            .messages(chat)
            .into_iter()
            .find(|m| m.message_id == id)
            .expect("the message exists")
    }

    /// The callback data of the button labelled `label` on a message.
    fn button(&self, chat: i64, message_id: i64, label: &str) -> String {
        self.bot
            .button_data(chat, message_id)
            .into_iter()
            .find(|(text, _)| text == label)
            .unwrap_or_else(|| panic!("no button {label:?} on message {message_id}"))
            .1
    }

    /// Delivers an update as Telegram's webhook call would.
    async fn deliver(&self, update: &Value) -> (u16, Value) {
        self.deliver_with(update, Some(WEBHOOK_SECRET)).await
    }

    async fn deliver_with(&self, update: &Value, secret: Option<&str>) -> (u16, Value) {
        let mut req = self
            .app
            .http
            .post(self.app.url("/channels/telegram/webhook"))
            .json(update);
        if let Some(s) = secret {
            req = req.header("X-Telegram-Bot-Api-Secret-Token", s);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn tap(&self, chat: i64, message_id: i64, data: &str) {
        let update = self.bot.tap(chat, message_id, data);
        let (status, body) = self.deliver(&update).await;
        assert_eq!(status, 200, "{body}");
    }

    async fn say(&self, chat: i64, text: &str) {
        let update = self.bot.text(chat, text);
        let (status, body) = self.deliver(&update).await;
        assert_eq!(status, 200, "{body}");
    }

    async fn rating(&self, session: &str) -> Value {
        self.app.session(session).await["rating"].clone()
    }

    fn last_toast(&self) -> Option<String> {
        self.bot
            .answered_callbacks()
            .last()
            .and_then(|(_, t)| t.clone())
    }

    /// Rule violations other than "message is not modified", which a repeated tap may
    /// provoke by design (the edit is idempotent and that answer is treated as success).
    fn violations(&self) -> Vec<String> {
        self.bot
            .rule_violations()
            .into_iter()
            .filter(|c| {
                !c.description
                    .as_deref()
                    .unwrap_or("")
                    .contains("message is not modified")
            })
            .map(|c| format!("{} {:?}", c.method, c.description))
            .collect()
    }
}

/// The bot's messages in a chat that carry Rateline's rating question.
fn cards_in(bot: &FakeBotApi, chat: i64) -> Vec<StoredMessage> {
    bot.messages(chat)
        .into_iter()
        .filter(|m| m.text.starts_with("Please rate") || m.text.starts_with("How did we do"))
        .collect()
}

fn labels(bot: &FakeBotApi, chat: i64, id: i64) -> Vec<String> {
    bot.button_data(chat, id)
        .into_iter()
        .map(|(t, _)| t)
        .collect()
}

async fn binary_card_is_rated_by_a_tap(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("support", json!({"scale": "binary"})).await;
    let card = t.rated_card("s-1", "support", ANN).await;

    assert_eq!(labels(&t.bot, ANN, card.message_id), ["👍", "👎"]);
    let session = t.app.session("s-1").await;
    assert_eq!(
        session["rating_request"]["platform_message_id"],
        json!(card.message_id.to_string())
    );

    let up = t.button(ANN, card.message_id, "👍");
    t.tap(ANN, card.message_id, &up).await;
    let rating = t.rating("s-1").await;
    assert_eq!(
        (rating["value"].clone(), rating["changes"].clone()),
        (json!(1), json!(0))
    );
    assert_eq!(t.app.request_status("s-1").await, "answered");
    assert_eq!(
        t.last_toast().as_deref(),
        Some("Thank you for your rating!")
    );
    let edited = t.message(ANN, card.message_id);
    assert_eq!(edited.reply_markup, None, "the buttons are gone");
    assert!(edited.text.contains("Your rating: 👍"), "{}", edited.text);
    assert!(
        edited.text.contains("Thank you for your rating!"),
        "{}",
        edited.text
    );

    // The same tap again (a double tap, a second device): nothing changes, nothing fails.
    t.tap(ANN, card.message_id, &up).await;
    let again = t.rating("s-1").await;
    assert_eq!(again["history"].as_array().unwrap().len(), 1, "{again}");
    assert_eq!(
        t.bot.answered_callbacks().len(),
        2,
        "both taps got their toast"
    );
    assert_eq!(t.violations(), Vec::<String>::new());
}

async fn five_star_card_asks_the_follow_ups(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line(
        "support",
        json!({"scale": "five_star", "request_text": "How did we do?", "ask_resolved": true,
               "ask_comment_on_low": true, "low_threshold": 2}),
    )
    .await;
    let card = t.rated_card("s-1", "support", ANN).await;
    assert_eq!(
        labels(&t.bot, ANN, card.message_id),
        ["1 ★", "2 ★", "3 ★", "4 ★", "5 ★"]
    );

    let two = t.button(ANN, card.message_id, "2 ★");
    t.tap(ANN, card.message_id, &two).await;
    let asked = t.message(ANN, card.message_id);
    assert!(asked.text.contains("Your rating: 2 ★"), "{}", asked.text);
    assert!(
        asked.text.ends_with("Was your issue resolved?"),
        "{}",
        asked.text
    );
    assert_eq!(labels(&t.bot, ANN, card.message_id), ["Yes", "No"]);

    let no = t.button(ANN, card.message_id, "No");
    t.tap(ANN, card.message_id, &no).await;
    let prompt = t.message(ANN, card.message_id);
    assert_eq!(prompt.reply_markup, None);
    assert!(prompt.text.contains("What went wrong?"), "{}", prompt.text);

    // The next text from the chat is the comment; the one after it is conversation.
    t.say(ANN, "The operator closed the chat before answering")
        .await;
    t.say(ANN, "and another thing").await;
    let rating = t.rating("s-1").await;
    assert_eq!(rating["value"], 2);
    assert_eq!(rating["resolved"], false);
    assert_eq!(
        rating["comment"],
        "The operator closed the chat before answering"
    );
    assert_eq!(rating["changes"], 0, "follow-ups are not changes of mind");
    let replies: Vec<String> = t.bot.messages(ANN).into_iter().map(|m| m.text).collect();
    assert!(
        replies
            .iter()
            .any(|r| r.contains("your comment was passed on")),
        "{replies:?}"
    );
    assert_eq!(t.violations(), Vec::<String>::new());
}

/// After a low rating the card offers the line's reasons: a tap ticks or unticks one (only
/// the card changes), "Done" answers with those ticked, and the comment question follows.
/// A client who types instead picks by number; prose is the comment.
async fn reasons_are_picked_with_toggles_or_by_number(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line(
        "support",
        json!({"scale": "binary", "ask_comment_on_low": true,
               "low_reasons": [{"id": "slow", "text": "Waited too long"},
                               {"id": "rude", "text": "Rude"},
                               {"id": "unsolved", "text": "Not solved"}]}),
    )
    .await;
    let card = t.rated_card("s-1", "support", ANN).await;
    let down = t.button(ANN, card.message_id, "👎");
    t.tap(ANN, card.message_id, &down).await;
    let asked = t.message(ANN, card.message_id);
    assert!(
        asked.text.contains("Choose all that apply"),
        "{}",
        asked.text
    );
    assert_eq!(
        labels(&t.bot, ANN, card.message_id),
        ["Waited too long", "Rude", "Not solved", "Done"]
    );
    for (_, data) in t.bot.button_data(ANN, card.message_id) {
        assert!(data.len() <= 64, "{data} is over Telegram's 64 bytes");
    }
    // Tick two, untick one: the card shows it; nothing is stored until "Done".
    let slow = t.button(ANN, card.message_id, "Waited too long");
    t.tap(ANN, card.message_id, &slow).await;
    let unsolved = t.button(ANN, card.message_id, "Not solved");
    t.tap(ANN, card.message_id, &unsolved).await;
    let rude = t.button(ANN, card.message_id, "Rude");
    t.tap(ANN, card.message_id, &rude).await;
    let rude_again = t.button(ANN, card.message_id, "✓ Rude");
    t.tap(ANN, card.message_id, &rude_again).await;
    assert_eq!(
        labels(&t.bot, ANN, card.message_id),
        ["✓ Waited too long", "Rude", "✓ Not solved", "Done"]
    );
    assert_eq!(t.rating("s-1").await["reasons"], Value::Null);
    let done = t.button(ANN, card.message_id, "Done");
    t.tap(ANN, card.message_id, &done).await;
    let rating = t.rating("s-1").await;
    assert_eq!(rating["reasons"], json!(["slow", "unsolved"]), "{rating}");
    let card_now = t.message(ANN, card.message_id);
    assert_eq!(card_now.reply_markup, None);
    assert!(
        card_now
            .text
            .contains("Reasons: Waited too long, Not solved"),
        "{}",
        card_now.text
    );
    assert!(
        card_now.text.contains("What went wrong?"),
        "{}",
        card_now.text
    );
    // An old toggle tapped after "Done" changes nothing.
    t.tap(ANN, card.message_id, &rude).await;
    assert_eq!(
        t.rating("s-1").await["reasons"],
        json!(["slow", "unsolved"])
    );
    t.say(ANN, "nobody read my messages").await;
    assert_eq!(t.rating("s-1").await["comment"], "nobody read my messages");

    // Typed: "3 1" picks by number, in the line's order.
    t.rated_card("s-2", "support", BOB).await;
    t.say(BOB, "👎").await;
    t.say(BOB, "3 1").await;
    assert_eq!(
        t.rating("s-2").await["reasons"],
        json!(["slow", "unsolved"])
    );
    // Prose where numbers were asked is the comment, and no reason is picked.
    let carol = 300_200_100;
    t.bot.add_chat(carol, "Carol");
    t.rated_card("s-3", "support", carol).await;
    t.say(carol, "👎").await;
    t.say(carol, "it took two days").await;
    let rating = t.rating("s-3").await;
    assert_eq!(rating["reasons"], json!([]), "{rating}");
    assert_eq!(rating["comment"], "it took two days");
    assert_eq!(t.violations(), Vec::<String>::new());
}

/// The reminder is the card again, with the same buttons; a tap on it answers the request.
async fn a_reminder_sends_the_card_again(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("support", json!({"reminder_after_minutes": 30}))
        .await;
    let card = t.rated_card("s-1", "support", ANN).await;
    // Telegram takes one message a second per chat: let that second pass first.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    t.app.advance(chrono::Duration::minutes(30));
    t.bot.wait_for(|b| cards_in(b, ANN).len() == 2).await;
    let again = t.cards(ANN).pop().unwrap();
    assert_ne!(again.message_id, card.message_id);
    assert_eq!(
        labels(&t.bot, ANN, again.message_id),
        labels(&t.bot, ANN, card.message_id)
    );
    let up = t.button(ANN, again.message_id, "👍");
    t.tap(ANN, again.message_id, &up).await;
    let rating = t.rating("s-1").await;
    assert_eq!(
        (&rating["value"], &rating["after_reminder"]),
        (&json!(1), &json!(true))
    );
    assert_eq!(t.violations(), Vec::<String>::new());
}

async fn a_comment_comes_only_within_ten_minutes(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("support", json!({"ask_comment_on_low": true})).await;
    let card = t.rated_card("s-1", "support", ANN).await;
    let down = t.button(ANN, card.message_id, "👎");
    t.tap(ANN, card.message_id, &down).await;
    t.app.advance(chrono::Duration::minutes(11));
    t.say(ANN, "too late to be a comment").await;
    assert_eq!(t.rating("s-1").await["comment"], Value::Null);
}

/// Telegram delivers an update again when the first delivery was not acknowledged in time:
/// the text that gave a low rating must not come back as its comment.
async fn a_repeated_text_answer_is_not_its_own_comment(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line(
        "support",
        json!({"scale": "five_star", "ask_comment_on_low": true}),
    )
    .await;
    t.rated_card("s-1", "support", ANN).await;
    // Dated by the server's (manual) clock, as Telegram's and the server's clocks agree.
    let mut update = t.bot.text(ANN, "1");
    update["message"]["date"] = json!(rateline::clock::Clock::now(&t.app.clock).timestamp());
    for _ in 0..2 {
        assert_eq!(t.deliver(&update).await.0, 200);
    }
    let rating = t.rating("s-1").await;
    assert_eq!(rating["value"], 1);
    assert_eq!(rating["comment"], Value::Null, "{rating}");
    assert_eq!(rating["history"].as_array().unwrap().len(), 1);
}

async fn a_second_tap_changes_the_rating_within_the_policy(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("support", json!({"max_changes": 1})).await;
    let card = t.rated_card("s-1", "support", ANN).await;
    let down = t.button(ANN, card.message_id, "👎");
    let up = t.button(ANN, card.message_id, "👍");
    t.tap(ANN, card.message_id, &down).await;
    t.tap(ANN, card.message_id, &up).await;
    let rating = t.rating("s-1").await;
    assert_eq!(
        (rating["value"].clone(), rating["changes"].clone()),
        (json!(1), json!(1))
    );
    assert!(
        t.message(ANN, card.message_id)
            .text
            .contains("Your rating: 👍")
    );

    // A third answer is past the line's max_changes: refused with a toast, nothing stored.
    t.tap(ANN, card.message_id, &down).await;
    assert_eq!(
        t.last_toast().as_deref(),
        Some("Your rating can no longer be changed.")
    );
    assert_eq!(t.rating("s-1").await["value"], 1);
    assert!(
        t.message(ANN, card.message_id)
            .text
            .contains("Your rating: 👍")
    );
}

async fn foreign_and_forged_taps_store_nothing(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("support", json!({})).await;
    let ann = t.rated_card("s-ann", "support", ANN).await;
    let bob = t.rated_card("s-bob", "support", BOB).await;
    let ann_up = t.button(ANN, ann.message_id, "👍");

    // Bob taps a button on Ann's card (say, in a shared screen or a forwarded message).
    let update = t.bot.tap_as(BOB, "Bob", ANN, ann.message_id, &ann_up);
    assert_eq!(t.deliver(&update).await.0, 200);
    assert_eq!(
        t.last_toast().as_deref(),
        Some("This rating request is not yours.")
    );

    // Bob replays Ann's button data on his own card: the data names Ann's request.
    t.tap(BOB, bob.message_id, &ann_up).await;
    assert_eq!(
        t.last_toast().as_deref(),
        Some("This rating request is not yours.")
    );

    // Ann edits the data to give another value: the MAC no longer matches.
    let forged = ann_up.replacen(":1:", ":0:", 1);
    assert_ne!(forged, ann_up);
    t.tap(ANN, ann.message_id, &forged).await;
    assert_eq!(
        t.last_toast().as_deref(),
        Some("This button is no longer valid.")
    );
    // And data that is not Rateline's at all.
    t.tap(ANN, ann.message_id, "K0ktLokvzsgvj6+oKquqACIA").await;
    assert_eq!(
        t.last_toast().as_deref(),
        Some("This button is no longer valid.")
    );

    for s in ["s-ann", "s-bob"] {
        assert_eq!(t.app.request_status(s).await, "sent");
        assert_eq!(t.rating(s).await, Value::Null);
    }
    assert_eq!(
        labels(&t.bot, ANN, ann.message_id),
        ["👍", "👎"],
        "the card is untouched"
    );
}

async fn text_replies_answer_an_open_request(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("binary", json!({})).await;
    t.line(
        "stars",
        json!({"scale": "five_star", "request_text": "How did we do?"}),
    )
    .await;

    let card = t.rated_card("s-1", "binary", ANN).await;
    t.say(ANN, "hello, one more question").await;
    assert_eq!(
        t.rating("s-1").await,
        Value::Null,
        "conversation is not an answer"
    );
    t.say(ANN, "👍").await;
    assert_eq!(t.rating("s-1").await["value"], 1);
    let old = t.message(ANN, card.message_id);
    assert_eq!(old.reply_markup, None, "the card's buttons are gone");
    let last = t.bot.messages(ANN).pop().unwrap();
    assert!(
        last.text.contains("Thank you for your rating!"),
        "{}",
        last.text
    );

    let _ = t.rated_card("s-2", "stars", BOB).await;
    t.say(BOB, "4").await;
    assert_eq!(t.rating("s-2").await["value"], 4);
    // Once answered, digits are conversation again.
    t.say(BOB, "5").await;
    assert_eq!(t.rating("s-2").await["value"], 4);
    assert_eq!(t.violations(), Vec::<String>::new());
}

/// The thanks after an answer right on the card's heels waits out the chat's one-a-second
/// slot, however short the send timeout is set.
async fn a_reply_right_after_the_card_waits_for_the_chats_slot(kind: Db) {
    let Some(t) = spawn_with(kind, |s| s.scheduler.send_timeout_seconds = 1).await else {
        return;
    };
    t.line("binary", json!({})).await;
    let card = t.rated_card("s-1", "binary", ANN).await;
    t.say(ANN, "👍").await;
    assert_eq!(t.rating("s-1").await["value"], 1);
    let messages = t.bot.messages(ANN);
    let last = messages.last().unwrap();
    assert_ne!(
        last.message_id, card.message_id,
        "no reply came after the card"
    );
    assert!(
        last.text.contains("Thank you for your rating!"),
        "{}",
        last.text
    );
    assert_eq!(t.violations(), Vec::<String>::new());
}

/// Each refusal Telegram gives for good ends the request with its reason, never retried.
async fn refusals_for_good_end_undeliverable(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("support", json!({})).await;
    let cases = [
        (ChatState::Blocked, "bot was blocked by the user"),
        (ChatState::Deactivated, "user is deactivated"),
        (
            ChatState::NeverStarted,
            "bot can't initiate conversation with a user",
        ),
    ];
    for (i, (state, reason)) in cases.into_iter().enumerate() {
        let chat = 700_000 + i as i64;
        t.bot.add_chat(chat, "Client");
        t.bot.set_chat_state(chat, state);
        let session = format!("s-{i}");
        t.open(&session, "support", chat).await;
        t.app.close(&session).await;
        let s = t.app.wait_for_status(&session, "undeliverable").await;
        let error = s["rating_request"]["last_error"].as_str().unwrap();
        assert!(error.contains(reason), "{error}");
        assert!(!error.contains(TOKEN), "the token reached an error");
    }
    // A chat Telegram does not know.
    t.open("s-unknown", "support", 999_999).await;
    t.app.close("s-unknown").await;
    let s = t.app.wait_for_status("s-unknown", "undeliverable").await;
    assert!(
        s["rating_request"]["last_error"]
            .as_str()
            .unwrap()
            .contains("chat not found")
    );
    t.app.settle().await;
    let sends = t
        .bot
        .calls()
        .into_iter()
        .filter(|c| c.method == "sendMessage")
        .count();
    assert_eq!(sends, 4, "one try each, no retries");
}

async fn flood_control_and_outages_are_retried(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("support", json!({})).await;

    // 429: the request waits exactly the retry_after Telegram named.
    t.bot.fail_next("sendMessage", Fault::too_many(30));
    t.open("s-429", "support", ANN).await;
    t.app.close("s-429").await;
    t.bot
        .wait_for(|b| b.calls().iter().any(|c| c.status == 429))
        .await;
    let s = t.app.wait_for_status("s-429", "scheduled").await;
    assert!(
        s["rating_request"]["last_error"]
            .as_str()
            .unwrap()
            .contains("retry after 30")
    );
    t.app.advance(chrono::Duration::seconds(29));
    t.app.settle().await;
    assert_eq!(
        t.app.request_status("s-429").await,
        "scheduled",
        "not before retry_after"
    );
    // The per-chat limit (one message a second) runs on real time, which the manual clock
    // does not move: let a real second pass, as 30 would have.
    tokio::time::sleep(Duration::from_secs(1)).await;
    t.app.advance(chrono::Duration::seconds(1));
    t.app.wait_for_status("s-429", "sent").await;

    // The token refused mid-run (revoked in @BotFather): the channel is down, the request
    // is held back without using an attempt rather than failed with the whole queue.
    t.bot.fail_next(
        "sendMessage",
        Fault::Api {
            status: 401,
            description: "Unauthorized".into(),
            retry_after: None,
        },
    );
    // Another chat: Ann was just written to, and her chat's one-a-second limit would hold
    // this send back in real time, which the manual clock does not follow.
    let carol = 600_001;
    t.bot.add_chat(carol, "Carol");
    t.open("s-401", "support", carol).await;
    t.app.close("s-401").await;
    t.bot
        .wait_for(|b| b.calls().iter().any(|c| c.status == 401))
        .await;
    let held = t.app.wait_for_status("s-401", "scheduled").await;
    assert_eq!(held["rating_request"]["attempts"], 0, "{held}");
    // A real second too: the refused try used Carol's one-a-second slot.
    tokio::time::sleep(Duration::from_secs(1)).await;
    t.app.advance(chrono::Duration::seconds(62));
    t.app.wait_for_status("s-401", "sent").await;

    // No answer at all: the send timeout (2 s here) ends the try, retried with backoff.
    let dave = 600_002;
    t.bot.add_chat(dave, "Dave");
    t.bot.fail_next("sendMessage", Fault::Hang);
    t.open("s-hang", "support", dave).await;
    t.app.close("s-hang").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let s = loop {
        let s = t.app.session("s-hang").await;
        if s["rating_request"]["attempts"] == 1 && s["rating_request"]["status"] == "scheduled" {
            break s;
        }
        assert!(tokio::time::Instant::now() < deadline, "never retried: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        s["rating_request"]["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("timed out"),
        "{s}"
    );

    // 5xx: retried with the engine's backoff (1 s in tests, with jitter below 2 s).
    t.bot.fail_next("sendMessage", Fault::server_error());
    t.open("s-502", "support", BOB).await;
    t.app.close("s-502").await;
    t.bot
        .wait_for(|b| b.calls().iter().any(|c| c.status == 502))
        .await;
    t.app.wait_for_status("s-502", "scheduled").await;
    t.app.advance(chrono::Duration::seconds(2));
    t.app.wait_for_status("s-502", "sent").await;
    let s = t.app.session("s-502").await;
    assert_eq!(s["rating_request"]["attempts"], 2, "{s}");
}

async fn the_webhook_refuses_calls_without_the_secret(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("support", json!({})).await;
    let card = t.rated_card("s-1", "support", ANN).await;
    let up = t.button(ANN, card.message_id, "👍");
    let update = t.bot.tap(ANN, card.message_id, &up);

    let (status, body) = t.deliver_with(&update, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "bad_webhook_secret");
    assert!(!body.to_string().contains(WEBHOOK_SECRET));
    let (status, _) = t
        .deliver_with(&update, Some("rateline-test-webhook-secret_2"))
        .await;
    assert_eq!(status, 401);
    assert_eq!(t.rating("s-1").await, Value::Null, "nothing stored");
    assert!(t.bot.answered_callbacks().is_empty());

    // Not an update at all: a clear 400. An update kind Rateline does not use: 200.
    let (status, body) = t.deliver(&json!({"hello": "world"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a Telegram Update")
    );
    let member = t.bot.raw_update(json!({"my_chat_member": {
        "chat": {"id": ANN, "type": "private", "first_name": "Ann"},
        "from": {"id": ANN, "is_bot": false, "first_name": "Ann"},
        "date": 1_763_715_600,
        "old_chat_member": {"status": "member", "user": {"id": 123456, "is_bot": true, "first_name": "Rateline Test"}},
        "new_chat_member": {"status": "kicked", "until_date": 0, "user": {"id": 123456, "is_bot": true, "first_name": "Rateline Test"}}
    }}));
    assert_eq!(t.deliver(&member).await.0, 200);
    let (status, _) = t
        .deliver(&json!({"update_id": 77, "future_kind": {"x": 1}}))
        .await;
    assert_eq!(
        status, 200,
        "an unknown kind is ignored, never retried by Telegram"
    );
    assert_eq!(t.rating("s-1").await, Value::Null);
}

async fn sessions_on_telegram_name_a_chat(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("support", json!({})).await;
    let (status, body) = t
        .app
        .post(
            "/v1/sessions",
            json!({"id": "s-1", "line_id": "support", "channel": "telegram", "client": {"id": "ann@example.com"}}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "client.id");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("chat id")
    );
    assert_eq!(t.app.get("/v1/sessions/s-1").await.0, 404);
    // Only the form Telegram sends back: taps are matched to the session by it.
    for id in ["+436432850", "0436432850", "-100123"] {
        let (status, body) = t
            .app
            .post(
                "/v1/sessions",
                json!({"id": "s-2", "line_id": "support", "channel": "telegram", "client": {"id": id}}),
            )
            .await;
        assert_eq!(status, 422, "{id}: {body}");
    }
}

/// A send the rate limiter would hold longer than a quarter of the send timeout goes back
/// to the queue without using up an attempt.
async fn a_send_held_back_keeps_its_attempt(kind: Db) {
    let Some(t) = spawn_with(kind, |s| s.telegram.as_mut().unwrap().max_per_second = 1).await
    else {
        return;
    };
    t.line("support", json!({})).await;
    t.open("s-ann", "support", ANN).await;
    t.open("s-bob", "support", BOB).await;
    t.app.close("s-ann").await;
    t.app.close("s-bob").await;
    // One message a second in all and 0.5 s to wait (send timeout 2 s): one of the two is
    // sent, the other held back.
    t.bot
        .wait_for(|b| b.calls().iter().any(|c| c.method == "sendMessage"))
        .await;
    let said_why = |s: &Value| {
        s["rating_request"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("rate limit"))
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (sent, held) = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never one sent, one held back"
        );
        let ann = t.app.session("s-ann").await;
        let bob = t.app.session("s-bob").await;
        match (
            ann["rating_request"]["status"].as_str(),
            bob["rating_request"]["status"].as_str(),
        ) {
            // Held back, not merely not claimed yet: why it waits shows on the request.
            (Some("sent"), Some("scheduled")) if said_why(&bob) => break ("s-ann", bob),
            (Some("scheduled"), Some("sent")) if said_why(&ann) => break ("s-bob", ann),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    assert_eq!(held["rating_request"]["attempts"], 0, "{held}");
    let held_id = if sent == "s-ann" { "s-bob" } else { "s-ann" };
    // Held back for the wait plus up to half the send timeout, spread so held-back
    // requests do not all come back at once.
    tokio::time::sleep(Duration::from_secs(1)).await;
    t.app.advance(chrono::Duration::seconds(2));
    let done = t.app.wait_for_status(held_id, "sent").await;
    assert_eq!(done["rating_request"]["attempts"], 1, "{done}");
    assert_eq!(t.violations(), Vec::<String>::new());
}

/// A supervisor's response sent to the client arrives in the chat as a plain message, with
/// no rating buttons, and its delivery is recorded on the rating.
async fn a_response_reaches_the_client_as_a_plain_message(kind: Db) {
    let Some(t) = spawn(kind).await else { return };
    t.line("support", json!({"scale": "binary"})).await;
    let card = t.rated_card("s-1", "support", ANN).await;
    let down = t.button(ANN, card.message_id, "👎");
    t.tap(ANN, card.message_id, &down).await;
    let rating = t.rating("s-1").await["id"].as_str().unwrap().to_owned();
    let before = t.bot.messages(ANN).len();

    let text = "Sorry about today — a supervisor will call you back.";
    let (status, body) = t
        .app
        .put(
            &format!("/v1/ratings/{rating}/response"),
            json!({"text": text, "send_to_client": true}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // The thank-you edit just took the chat's one message a second, so the response is held
    // back a moment on the server's clock (see `a_send_held_back_keeps_its_attempt`).
    tokio::time::sleep(Duration::from_secs(1)).await;
    t.app.advance(chrono::Duration::seconds(2));
    t.bot.wait_for(|b| b.messages(ANN).len() > before).await;
    let sent = t.bot.messages(ANN).pop().unwrap();
    assert_eq!(sent.text, text);
    assert_eq!(sent.reply_markup, None, "a response has no buttons");
    let delivery = loop {
        let d = t.rating("s-1").await["response"]["delivery"].clone();
        if d["status"] != "pending" && d["status"] != "sending" {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(delivery["status"], "sent", "{delivery}");
    assert_eq!(delivery["attempts"], 1, "held back, not failed: {delivery}");
    assert_eq!(t.bot.messages(ANN).len(), before + 1, "sent once");
    assert_eq!(t.violations(), Vec::<String>::new());
}

crate::common::on_both_backends!(
    a_response_reaches_the_client_as_a_plain_message,
    a_send_held_back_keeps_its_attempt,
    a_repeated_text_answer_is_not_its_own_comment,
    binary_card_is_rated_by_a_tap,
    five_star_card_asks_the_follow_ups,
    a_comment_comes_only_within_ten_minutes,
    reasons_are_picked_with_toggles_or_by_number,
    a_reminder_sends_the_card_again,
    a_second_tap_changes_the_rating_within_the_policy,
    foreign_and_forged_taps_store_nothing,
    text_replies_answer_an_open_request,
    a_reply_right_after_the_card_waits_for_the_chats_slot,
    refusals_for_good_end_undeliverable,
    flood_control_and_outages_are_retried,
    the_webhook_refuses_calls_without_the_secret,
    sessions_on_telegram_name_a_chat,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_mode_takes_updates_without_a_public_url() {
    let Some(t) = spawn_with(Db::Sqlite, |s| {
        let tg = s.telegram.as_mut().unwrap();
        tg.mode = TelegramMode::Polling;
        tg.webhook_secret = None;
    })
    .await
    else {
        return;
    };
    t.line("support", json!({})).await;
    let card = t.rated_card("s-1", "support", ANN).await;
    let up = t.button(ANN, card.message_id, "👍");
    // Queued for getUpdates only; nothing is POSTed to the server.
    t.bot.tap(ANN, card.message_id, &up);
    t.app.wait_for_status("s-1", "answered").await;
    assert_eq!(t.rating("s-1").await["value"], 1);
    assert!(t.bot.calls().iter().any(|c| c.method == "deleteWebhook"));
    // Without a secret the webhook endpoint takes nothing.
    let update = t.bot.text(ANN, "1");
    assert_eq!(t.deliver(&update).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_registers_the_webhook_with_its_secret() {
    let Some(t) = spawn_with(Db::Sqlite, |s| {
        s.telegram.as_mut().unwrap().webhook_url =
            Some("https://rateline.example/channels/telegram/webhook".into());
    })
    .await
    else {
        return;
    };
    assert_eq!(
        t.bot.webhook(),
        Some((
            "https://rateline.example/channels/telegram/webhook".into(),
            Some(WEBHOOK_SECRET.into())
        ))
    );
    let call = t
        .bot
        .calls()
        .into_iter()
        .find(|c| c.method == "setWebhook")
        .unwrap();
    assert!(
        call.body.to_string().contains("callback_query"),
        "asks for taps: {}",
        call.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_keep_to_telegrams_rate_limits() {
    let Some(t) = spawn_with(Db::Sqlite, |s| {
        s.telegram.as_mut().unwrap().max_per_second = 4;
        s.scheduler.send_timeout_seconds = 10;
    })
    .await
    else {
        return;
    };
    t.line("support", json!({})).await;
    // Three requests to one chat, and five to others, all due at the same moment.
    for i in 0..3 {
        t.open(&format!("ann-{i}"), "support", ANN).await;
    }
    for i in 0..5 {
        let chat = 800_000 + i;
        t.bot.add_chat(chat, "Client");
        t.open(&format!("other-{i}"), "support", chat).await;
    }
    for i in 0..3 {
        t.app.close(&format!("ann-{i}")).await;
    }
    for i in 0..5 {
        t.app.close(&format!("other-{i}")).await;
    }
    // Sends the limiter holds back for long go back to the queue for a while; let the
    // manual clock follow real time until every request is out.
    let sessions: Vec<String> = (0..3)
        .map(|i| format!("ann-{i}"))
        .chain((0..5).map(|i| format!("other-{i}")))
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut waiting = 0;
        for s in &sessions {
            if t.app.request_status(s).await != "sent" {
                waiting += 1;
            }
        }
        if waiting == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{waiting} never sent"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        t.app.advance(chrono::Duration::milliseconds(100));
    }
    assert_eq!(t.violations(), Vec::<String>::new(), "no 429 from the fake");
    let sends: Vec<_> = t
        .bot
        .calls()
        .into_iter()
        .filter(|c| c.method == "sendMessage" && c.status == 200)
        .collect();
    assert_eq!(sends.len(), 8);
    // Four a second in all: consecutive sends at least ~250 ms apart (less scheduling slack).
    for pair in sends.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= Duration::from_millis(200), "sends {gap:?} apart");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_stops_the_server_at_start() {
    let db = crate::common::TestDb::new(Db::Sqlite).await.unwrap();
    let bot = FakeBotApi::start().await;
    let mut settings = test_settings(&db);
    let mut tg = telegram_settings(&bot);
    tg.token = "123456:WRONG-token-zzzzzzzz".into();
    settings.telegram = Some(tg);
    let err = rateline::startup::Application::build(settings)
        .await
        .err()
        .expect("a refused token is a startup error");
    let message = err.to_string();
    assert!(message.contains("telegram.token was refused"), "{message}");
    assert!(
        !message.contains("WRONG-token"),
        "the token reached the error: {message}"
    );
}

#[test]
fn check_config_asks_telegram_about_the_token() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bot = rt.block_on(FakeBotApi::start());
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("r.db").display());
    let migrated = std::process::Command::new(env!("CARGO_BIN_EXE_rateline"))
        .arg("migrate")
        .env("RATELINE__DATABASE__URL", &db)
        .output()
        .unwrap();
    assert!(migrated.status.success());
    let run = |token: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_rateline"))
            .arg("check-config")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "RATELINE__DATABASE__URL",
                format!("sqlite://{}", dir.path().join("r.db").display()),
            )
            .env("RATELINE__TELEGRAM__TOKEN", token)
            .env("RATELINE__TELEGRAM__API_URL", bot.url())
            .env("RATELINE__TELEGRAM__WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("RATELINE__OUTBOUND__ALLOWED_NETWORKS", "127.0.0.0/8")
            .output()
            .unwrap()
    };
    let good = run(TOKEN);
    let out = String::from_utf8_lossy(&good.stdout).to_string();
    assert_eq!(good.status.code(), Some(0), "{out}");
    assert!(out.contains("@rateline_test_bot"), "{out}");

    let bad = run("123456:WRONG-token-zzzzzzzz");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&bad.stdout),
        String::from_utf8_lossy(&bad.stderr)
    );
    assert_eq!(bad.status.code(), Some(1), "{out}");
    assert!(out.contains("telegram.token was refused"), "{out}");
    assert!(
        !out.contains("WRONG-token"),
        "the token reached the output: {out}"
    );
}
