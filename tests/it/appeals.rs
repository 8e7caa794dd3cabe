//! Appeals that get decided: the header counts the open appeals a person may decide; a line
//! can let its supervisors decide its appeals; nobody decides an appeal they made; and the
//! queue's card shows what the decider weighs (the rating, comment, client and response).

use crate::common::{Db, create_key, spawn_app};
use crate::dashboard::text;
use crate::workbench::{post, signed_in};
use serde_json::json;

async fn a_line_lets_its_supervisors_decide_its_appeals(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line(
        "support",
        json!({"delay_seconds": 0, "supervisors_decide_appeals": true}),
    )
    .await;
    app.line("sales", json!({"delay_seconds": 0})).await;
    for (id, body) in [
        (
            "sup-olga",
            json!({"name": "Olga", "role": "supervisor", "lines": ["support", "sales"]}),
        ),
        (
            "op-1",
            json!({"name": "Ben", "role": "operator", "lines": ["support", "sales"]}),
        ),
    ] {
        let (status, body) = app.put(&format!("/v1/people/{id}"), body).await;
        assert_eq!(status, 201, "{body}");
    }
    app.low_rating("s1", "support", "op-1", "the app crashed")
        .await;
    app.low_rating("s2", "sales", "op-1", "too expensive").await;
    app.low_rating("s3", "support", "op-1", "no answer").await;
    let rating = async |s: &str| {
        app.session(s).await["rating"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (g1, g2, g3) = (rating("s1").await, rating("s2").await, rating("s3").await);
    let (status, body) = app
        .put(
            &format!("/v1/ratings/{g1}/response"),
            json!({"text": "We are fixing it"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let admin = crate::people::close_with_a_key(&app).await;
    app.use_key(&admin);
    let ben = create_key(
        &app,
        &["--name", "Ben", "--role", "operator", "--person", "op-1"],
    );
    let mut appeal = std::collections::HashMap::new();
    for (s, g) in [("s1", &g1), ("s2", &g2)] {
        let (status, body) = app
            .call_as(
                Some(&ben),
                "POST",
                &format!("/v1/ratings/{g}/appeal"),
                Some(json!({"reason": "the outage, not me"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        appeal.insert(s, body["id"].as_str().unwrap().to_owned());
    }

    // Olga may decide support's appeal, not sales': the header counts one, and the queue
    // offers one form, on a card with the rating, its comment, the client and the response.
    let olga = signed_in(&app, "sup-olga").await;
    let (status, queue) = text(&app, "/dashboard/appeals", Some(&olga)).await;
    assert_eq!(status, 200, "{queue}");
    assert!(
        queue.contains(r#"<span id="to-decide">1</span>"#),
        "{queue}"
    );
    assert_eq!(queue.matches("Void the rating?").count(), 1, "{queue}");
    for part in [
        "thumbs down from Ann",
        "the app crashed",
        "The response: We are fixing it",
        "too expensive",
    ] {
        assert!(queue.contains(part), "{part} missing: {queue}");
    }
    let (status, page) = post(
        &app,
        &olga,
        &format!("/dashboard/appeals/{}/decision", appeal["s2"]),
        &[("approve", "yes")],
    )
    .await;
    assert_eq!(status, 303, "{page}");
    assert!(
        page.contains("Nothing changed") && page.contains("needs an admin"),
        "{page}"
    );
    let (status, page) = post(
        &app,
        &olga,
        &format!("/dashboard/appeals/{}/decision", appeal["s1"]),
        &[
            ("approve", "no"),
            ("note", "a known outage does not void it"),
        ],
    )
    .await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("The appeal was rejected"), "{page}");
    assert!(
        !page.contains(r#"id="to-decide""#),
        "none left for Olga: {page}"
    );

    // Olga appeals s3 herself: she may not decide it, an admin may.
    let (status, page) = post(
        &app,
        &olga,
        "/dashboard/sessions/s3/appeal",
        &[("reason", "the client wrote to the wrong shop")],
    )
    .await;
    assert_eq!(status, 303, "{page}");
    assert!(
        !page.contains("Decide the appeal"),
        "her own appeal: {page}"
    );
    let (_, list) = app.get("/v1/appeals?status=open").await;
    let own = list["appeals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rating_id"] == g3.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, page) = post(
        &app,
        &olga,
        &format!("/dashboard/appeals/{own}/decision"),
        &[("approve", "yes")],
    )
    .await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("made by you"), "{page}");
    let (status, body) = app
        .post(
            &format!("/v1/appeals/{own}/decision"),
            json!({"approve": true}),
        )
        .await;
    assert_eq!(status, 200, "an admin decides it: {body}");

    // Over the API too: a supervisor's key decides on support, not on sales.
    let key = create_key(
        &app,
        &["--name", "Sue", "--role", "supervisor", "--lines", "sales"],
    );
    let (status, body) = app
        .call_as(
            Some(&key),
            "POST",
            &format!("/v1/appeals/{}/decision", appeal["s2"]),
            Some(json!({"approve": false})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("supervisors_decide_appeals")
    );
}

crate::common::on_both_backends!(a_line_lets_its_supervisors_decide_its_appeals);

/// Each person who may decide a new appeal hears of it through their own addresses, at
/// most once a minute; the operator who made it, and those who may not decide, do not.
async fn the_deciders_hear_of_a_new_appeal(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let hook = crate::common::Connector::start().await;
    app.line(
        "support",
        json!({"delay_seconds": 0, "supervisors_decide_appeals": true}),
    )
    .await;
    app.line("sales", json!({"delay_seconds": 0})).await;
    let notify = json!({"webhook_url": hook.url, "webhook_secret": crate::common::SECRET});
    for (id, role, lines) in [
        ("adam", "admin", json!([])),
        ("sue", "supervisor", json!(["support"])),
        ("sid", "supervisor", json!(["sales"])),
        ("op-1", "operator", json!(["support", "sales"])),
    ] {
        let (status, body) = app
            .put(
                &format!("/v1/people/{id}"),
                json!({"name": id, "role": role, "lines": lines, "notify": notify}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    app.low_rating("s1", "support", "op-1", "rude").await;
    app.low_rating("s2", "sales", "op-1", "slow").await;
    let rating = app.session("s1").await["rating"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = crate::people::close_with_a_key(&app).await;
    app.use_key(&admin);
    let ben = create_key(
        &app,
        &["--name", "Ben", "--role", "operator", "--person", "op-1"],
    );
    let (status, body) = app
        .call_as(
            Some(&ben),
            "POST",
            &format!("/v1/ratings/{rating}/appeal"),
            Some(json!({"reason": "The client was rude first"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let got = hook.wait_for(2).await;
    app.settle().await;
    let got_now = hook.received();
    assert_eq!(got_now.len(), 2, "{got:?}");
    let mut told: Vec<&str> = got_now
        .iter()
        .map(|r| r.body["digest"]["recipient"].as_str().unwrap())
        .collect();
    told.sort();
    assert_eq!(told, ["adam", "sue"], "the admin and the line's supervisor");
    for r in &got_now {
        assert_eq!(r.body["event"], "appeal_digest");
        assert_eq!(r.body["digest"]["ratings"][0]["session_id"], "s1");
        let text = r.body["text"].as_str().unwrap();
        assert!(text.starts_with("1 appeal of a rating to decide"), "{text}");
        assert!(text.contains("/dashboard/appeals"), "{text}");
    }
}

crate::common::on_both_backends!(the_deciders_hear_of_a_new_appeal);
