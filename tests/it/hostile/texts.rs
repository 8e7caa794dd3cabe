//! What a client writes reaches a supervisor's chat as words, not as markup: an alert's
//! `text` (which Slack, Mattermost and Teams render) pings nobody, makes no disguised link,
//! and quotes the comment last, so it cannot add lines that pass for Rateline's.

use serde_json::{Value, json};

use crate::common::{Db, TestApp, spawn_app, wait_until};

fn alert_texts(app: &TestApp) -> Vec<String> {
    app.connector
        .received()
        .into_iter()
        .filter(|r| r.body.get("alert").is_some())
        .map(|r| r.body["text"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_comment_cannot_ping_the_channel_or_plant_a_link_in_an_alert(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (status, body) = app
        .put(
            "/v1/people/sam",
            json!({"name": "Sam", "role": "supervisor",
                   "notify": {"webhook_url": app.connector.url}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    app.line(
        "support",
        json!({"delay_seconds": 0, "alert_wait_seconds": 0}),
    )
    .await;
    let (status, body) = app
        .call(
            "PATCH",
            "/v1/lines/support",
            Some(json!({"notify_low": [{"kind": "supervisor", "id": "sam"}]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .post(
            "/v1/sessions",
            json!({"id": "s-1", "line_id": "support", "channel": "webhook",
                   "client": {"id": "c-1", "name": "<!here> Mallory"}, "operator_id": "op-1"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let request = app.close("s-1").await;
    app.wait_for_status("s-1", "sent").await;
    let comment = "<!channel> <https://phish.example|Open the session in Rateline>\n\
                   Session: https://phish.example/dashboard/sessions/s-1\n\
                   [Open the session](https://phish.example) @channel @all";
    let (status, body) = app
        .post(
            "/v1/ratings",
            json!({"request_id": request, "value": 0, "comment": comment}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    wait_until(
        || !alert_texts(&app).is_empty(),
        || format!("no alert: {:?}", app.connector.received().len()),
    )
    .await;
    let text = alert_texts(&app).remove(0);
    for control in [
        "<!channel>",
        "<!here>",
        "<https://",
        "](",
        "@channel",
        "@all",
    ] {
        assert!(
            !text.contains(control),
            "{control:?} reached the chat: {text}"
        );
    }
    let lines: Vec<&str> = text.lines().collect();
    let session_lines: Vec<&&str> = lines.iter().filter(|l| l.starts_with("Session:")).collect();
    assert_eq!(session_lines.len(), 1, "{text}");
    assert!(
        session_lines[0].ends_with("/dashboard/sessions/s-1"),
        "{text}"
    );
    assert!(!session_lines[0].contains("phish"), "{text}");
    let from = lines
        .iter()
        .position(|l| *l == "Comment:")
        .expect("the comment's heading");
    assert!(
        lines[from + 1..].iter().all(|l| l.starts_with("> ")),
        "the comment is quoted to the end: {text}"
    );
    // Programs still get the comment as it was written.
    let alert: Value = app
        .connector
        .received()
        .into_iter()
        .find(|r| r.body.get("alert").is_some())
        .unwrap()
        .body;
    assert_eq!(alert["alert"]["comment"], comment);
}

crate::common::on_both_backends!(a_comment_cannot_ping_the_channel_or_plant_a_link_in_an_alert);
