//! The Rocket.Chat channel's REST calls (`rateline_adapters::rocketchat`) against the fake
//! Rocket.Chat: what each of Rocket.Chat's answers becomes for the scheduler. The scenarios
//! through the server are `rocketchat_chats`.

use chrono::{TimeDelta, TimeZone, Utc};
use rateline_adapters::SendOutcome;
use rateline_adapters::rocketchat::{
    NEEDED_SWITCHES, OFFLINE_FORWARD, RocketChatApi, RoomInfo, Source,
};
use rateline_testkit::rocketchat::{ADMIN, ANNA, BORIS, FakeRocketChat, Fault, RATINGS, SUPPORT};
use serde_json::json;

/// The fake at a fixed noon, and the API as the Ratings user.
async fn ratings_user() -> (FakeRocketChat, RocketChatApi) {
    let fake = FakeRocketChat::start().await;
    fake.set_now(Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap());
    let api = api_as(&fake, RATINGS);
    (fake, api)
}

fn api_as(fake: &FakeRocketChat, user: &str) -> RocketChatApi {
    let token = fake.token_of(user);
    RocketChatApi::new(&fake.url(), "main", user, &token, reqwest::Client::new())
}

fn reason(outcome: &SendOutcome) -> &str {
    outcome.reason().unwrap_or_default()
}

#[tokio::test]
async fn the_token_names_its_user_and_a_wrong_one_says_how_to_fix_it() {
    let (fake, api) = ratings_user().await;
    let me = api.me().await.unwrap();
    assert_eq!((me.id.as_str(), me.username.as_str()), (RATINGS, "ratings"));
    assert_eq!(me.roles, ["bot", "livechat-agent", "user"]);

    let wrong = RocketChatApi::new(
        &fake.url(),
        "main",
        RATINGS,
        "not-the-token",
        reqwest::Client::new(),
    );
    let refused = wrong.me().await.unwrap_err();
    assert!(refused.contains("Rocket.Chat server 'main' refused the personal access token on GET /api/v1/me (HTTP 401)"), "{refused}");
    assert!(refused.contains("Personal Access Tokens"), "{refused}");
    assert!(!refused.contains("not-the-token"), "{refused}");
    // A write with it holds sends back without using an attempt.
    let room = fake.open_widget("Ada", "hello");
    let held = wrong.send_message(&room.id, "How did we do?").await;
    assert!(matches!(held, SendOutcome::Defer { .. }), "{held:?}");
}

#[tokio::test]
async fn a_message_in_the_room_is_accepted_with_its_id() {
    let (fake, api) = ratings_user().await;
    let room = fake.open_widget("Ada", "hello");
    fake.agent_takes(&room, ANNA);
    fake.agent_forwards(&room, RATINGS).unwrap();
    let sent = api
        .send_message(&room.id, "How did we do? Reply 1 to 5")
        .await;
    let SendOutcome::Accepted {
        platform_message_id: Some(id),
    } = sent
    else {
        panic!("{sent:?}");
    };
    assert!(id.starts_with("msg-"), "{id}");
    assert_eq!(
        fake.shown_to_visitor(&room),
        ["How did we do? Reply 1 to 5"]
    );
    // A room Rocket.Chat does not have: undeliverable, naming it.
    let gone = api.send_message("no-such-room", "hello").await;
    assert!(
        matches!(gone, SendOutcome::Undeliverable { .. }),
        "{gone:?}"
    );
    assert!(reason(&gone).contains("no room no-such-room"), "{gone:?}");
    // A room served by someone else, without view-livechat-rooms: Rocket.Chat's code.
    let other = fake.open_widget("Bea", "hello");
    fake.agent_takes(&other, ANNA);
    let refused = api.send_message(&other.id, "hello").await;
    assert!(matches!(refused, SendOutcome::Failed { .. }), "{refused:?}");
    assert!(
        reason(&refused).contains("error-not-allowed"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn closing_sends_the_comment_rocket_chat_asks_for_and_a_closed_room_is_as_asked() {
    let (fake, api) = ratings_user().await;
    let room = fake.open_widget("Ada", "hello");
    fake.agent_takes(&room, RATINGS);
    let closed = api.close_room(&room.id, "Rated 4/5").await;
    assert!(matches!(closed, SendOutcome::Accepted { .. }), "{closed:?}");
    assert!(!fake.is_open(&room));
    assert_eq!(fake.closing_comment(&room).as_deref(), Some("Rated 4/5"));
    let again = api.close_room(&room.id, "Rated 4/5").await;
    assert!(matches!(again, SendOutcome::Accepted { .. }), "{again:?}");
    assert!(
        fake.rule_violations().is_empty(),
        "{:?}",
        fake.rule_violations()
    );
}

#[tokio::test]
async fn handing_back_needs_the_managers_role_and_an_available_agent() {
    let (fake, api) = ratings_user().await;
    let room = fake.open_widget("Ada", "hello");
    fake.agent_takes(&room, ANNA);
    fake.agent_forwards(&room, RATINGS).unwrap();
    // On Rocket.Chat's defaults the bot and livechat-agent roles cannot forward.
    let refused = api.forward(&room.id, ANNA).await;
    assert!(matches!(refused, SendOutcome::Failed { .. }), "{refused:?}");
    assert!(reason(&refused).contains("HTTP 403"), "{refused:?}");
    assert!(
        reason(&refused).contains("livechat-manager role"),
        "{refused:?}"
    );
    fake.set_roles(
        RATINGS,
        &["bot", "livechat-agent", "livechat-manager", "user"],
    );
    let offline = api.forward(&room.id, BORIS).await;
    assert!(
        reason(&offline).contains("error-user-is-offline"),
        "{offline:?}"
    );
    let handed = api.forward(&room.id, ANNA).await;
    assert!(matches!(handed, SendOutcome::Accepted { .. }), "{handed:?}");
    assert_eq!(fake.served_by(&room), Some(ANNA));
}

#[tokio::test]
async fn without_the_bot_role_the_eleventh_call_a_minute_waits_for_the_reset() {
    // On the real clock: the reset Rocket.Chat names is a minute after the first call.
    let fake = FakeRocketChat::start().await;
    let api = api_as(&fake, RATINGS);
    fake.set_roles(RATINGS, &["livechat-agent", "user"]);
    let room = fake.open_widget("Ada", "hello");
    fake.agent_takes(&room, RATINGS);
    for n in 0..10 {
        let sent = api.send_message(&room.id, &format!("message {n}")).await;
        assert!(matches!(sent, SendOutcome::Accepted { .. }), "{sent:?}");
    }
    let limited = api.send_message(&room.id, "one too many").await;
    // Deferred: nothing was done, so no attempt is used up.
    let SendOutcome::Defer { after, .. } = &limited else {
        panic!("{limited:?}");
    };
    assert!(
        (50..=60).contains(&after.as_secs()),
        "about a minute, not the engine's backoff: {after:?}"
    );
    assert!(
        reason(&limited).contains("give the Ratings user the bot role"),
        "{limited:?}"
    );
}

#[tokio::test]
async fn rocket_chats_faults_are_retried() {
    let (fake, api) = ratings_user().await;
    let room = fake.open_widget("Ada", "hello");
    fake.agent_takes(&room, RATINGS);
    fake.fail_next(Fault::ServerError);
    let failed = api.send_message(&room.id, "hello").await;
    assert!(matches!(failed, SendOutcome::Retry { .. }), "{failed:?}");
    assert!(api.send_message(&room.id, "hello").await.reason().is_none());
}

#[tokio::test]
async fn the_rooms_closed_since_a_time_are_listed_for_a_manager_only() {
    let (fake, api) = ratings_user().await;
    let noon = fake.now();
    let early = fake.open_widget("Ada", "hello");
    fake.agent_takes(&early, ANNA);
    fake.agent_closes(&early, ANNA, "done");
    fake.set_now(noon + TimeDelta::hours(1));
    let late = fake.open_widget("Bea", "hello");
    fake.agent_takes(&late, ANNA);
    fake.agent_closes(&late, ANNA, "done");
    let refused = api
        .rooms_closed_since(noon + TimeDelta::minutes(30), 0)
        .await
        .unwrap_err();
    assert!(refused.contains("(HTTP 403)"), "{refused}");
    assert!(refused.contains("livechat-manager role"), "{refused}");
    let page = api_as(&fake, ADMIN)
        .rooms_closed_since(noon + TimeDelta::minutes(30), 0)
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.rooms[0]["_id"], json!(late.id));
}

#[tokio::test]
async fn a_rooms_source_is_read_from_rocket_chat_since_the_webhook_leaves_it_out() {
    let (fake, api) = ratings_user().await;
    let widget = fake.open_widget("Ada", "hello");
    let sms = fake.open_sms("+250788123456", "hello");
    fake.agent_takes(&sms, ANNA);
    fake.agent_closes(&sms, ANNA, "done");
    assert_eq!(
        api.room(&widget.id).await.unwrap(),
        RoomInfo {
            open: true,
            source: Source::Widget,
            department: Some(SUPPORT.into()),
        }
    );
    assert_eq!(
        api.room(&sms.id).await.unwrap(),
        RoomInfo {
            open: false,
            source: Source::Sms,
            department: Some(SUPPORT.into()),
        }
    );
    let missing = api.room("no-such-room").await.unwrap_err();
    assert!(missing.contains("error-room-not-found"), "{missing}");
}

/// Reading a setting takes `view-privileged-setting` (developer.rocket.chat, "Get
/// Setting"), an administrator's right: the Ratings user is told it may not, not failed.
#[tokio::test]
async fn a_setting_is_read_only_with_the_administrators_right() {
    let (fake, api) = ratings_user().await;
    assert_eq!(api.setting(OFFLINE_FORWARD).await, Ok(None));
    let admin = api_as(&fake, ADMIN);
    assert_eq!(admin.setting(OFFLINE_FORWARD).await, Ok(Some(json!(false))));
    fake.set_setting(
        "Livechat_allow_forward_inquiry_to_offline_department_agents",
        json!(true),
    );
    assert_eq!(admin.setting(OFFLINE_FORWARD).await, Ok(Some(json!(true))));
    let missing = admin.setting("No_such_setting").await.unwrap_err();
    assert!(missing.contains("HTTP 404"), "{missing}");
}

#[tokio::test]
async fn the_webhook_settings_name_each_step_left_and_never_the_secret() {
    let (fake, api) = ratings_user().await;
    // On Rocket.Chat's defaults the Ratings user may not read them: the refusal says why.
    let refused = api.webhook_settings().await.unwrap_err();
    assert!(refused.contains("(HTTP 403)"), "{refused}");
    assert!(refused.contains("livechat-manager role"), "{refused}");
    fake.set_roles(
        RATINGS,
        &["bot", "livechat-agent", "livechat-manager", "user"],
    );
    let url = "https://rateline.example.com/connectors/rocketchat/main/webhook";
    // On the defaults: the URL, the secret and the three switches are left to set.
    let steps = api
        .webhook_settings()
        .await
        .unwrap()
        .steps(url, "the-secret");
    assert_eq!(steps.len(), 5, "{steps:#?}");
    assert!(
        steps[0].ends_with(&format!("set Webhook URL to {url} (it is empty).")),
        "{steps:#?}"
    );
    assert!(steps[1].contains("Secret Token"), "{steps:#?}");
    assert!(steps[1].contains("(it is empty)"), "{steps:#?}");
    // Each switch as Rocket.Chat's Webhooks page offers it.
    for (step, option) in steps[2..]
        .iter()
        .zip(["Forwarding", "Visitor message", "Chat close"])
    {
        assert!(
            step.contains(&format!("under Send Request on, add {option},")),
            "{step}"
        );
    }
    // Set as the steps say: none is left.
    fake.set_setting("Livechat_webhookUrl", json!(url));
    fake.set_setting("Livechat_secret_token", json!("the-secret"));
    for (switch, _, _) in NEEDED_SWITCHES {
        fake.set_setting(switch, json!(true));
    }
    let settings = api.webhook_settings().await.unwrap();
    assert_eq!(settings.steps(url, "the-secret"), Vec::<String>::new());
    // Another secret: said to differ, and never shown.
    fake.set_setting("Livechat_secret_token", json!("another-secret"));
    let settings = api.webhook_settings().await.unwrap();
    let steps = settings.steps(url, "the-secret");
    assert_eq!(steps.len(), 1, "{steps:#?}");
    assert!(steps[0].contains("(it differs)"), "{steps:#?}");
    assert!(!format!("{settings:?} {steps:?}").contains("another-secret"));
}
