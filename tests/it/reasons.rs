//! Reasons for a low rating through the API: the line's list and its limits, answers that
//! name them (and refusals that change nothing), the alert that waits for them and says
//! them, and the report by reason. The channels' own ways of asking are tested with each
//! channel (`telegram.rs`, `meta.rs`).

use crate::common::{Db, TestApp, spawn_app};
use crate::dashboard::text;
use crate::people::close_with_a_key;
use crate::workbench::{post as send, signed_in};
use serde_json::{Value, json};

const REASONS: &str = r#"[{"id": "slow", "text": "Waited too long"},
                         {"id": "rude", "text": "Rude"},
                         {"id": "unsolved", "text": "Not solved"}]"#;

fn reasons() -> Value {
    serde_json::from_str(REASONS).unwrap()
}

async fn answer(app: &TestApp, body: Value) -> (u16, Value) {
    app.post("/v1/ratings", body).await
}

async fn a_line_lists_reasons_and_answers_may_name_only_those(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    // The list's limits, each refusal naming its field and changing nothing.
    app.line("support", json!({"delay_seconds": 0})).await;
    for (low_reasons, field) in [
        (
            json!([{"id": "Slow", "text": "x"}]),
            "rating.low_reasons[0].id",
        ),
        (
            json!([{"id": "slow", "text": "x"}, {"id": "slow", "text": "y"}]),
            "rating.low_reasons[1].id",
        ),
        (
            json!([{"id": "slow", "text": "Waited far far too long"}]),
            "rating.low_reasons[0].text",
        ),
        (
            json!(
                (0..9)
                    .map(|i| json!({"id": format!("r{i}"), "text": "x"}))
                    .collect::<Vec<_>>()
            ),
            "rating.low_reasons",
        ),
    ] {
        let (status, body) = app
            .call(
                "PATCH",
                "/v1/lines/support",
                Some(json!({"rating": {"low_reasons": low_reasons}})),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    let (_, line) = app.get("/v1/lines/support").await;
    assert_eq!(line["rating"]["low_reasons"], json!([]), "{line}");
    app.line(
        "support",
        json!({"delay_seconds": 0, "low_reasons": reasons()}),
    )
    .await;

    let request = app.sent_request("s-1", "support", "op-1").await;
    // Refused: a reason the line does not list, and reasons with a rating that is not low.
    let (status, body) = answer(
        &app,
        json!({"request_id": request, "value": 0, "reasons": ["slow", "late"]}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "reasons[1]", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("slow, rude, unsolved"),
        "{body}"
    );
    let (status, body) = answer(
        &app,
        json!({"request_id": request, "value": 1, "reasons": ["slow"]}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "reasons", "{body}");
    assert_eq!(app.session("s-1").await["rating"], Value::Null);

    // The rating first, its reasons after: each once, in the line's order, kept in the
    // history.
    let (status, body) = answer(&app, json!({"request_id": request, "value": 0})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["reasons"], Value::Null, "not answered yet: {body}");
    let (status, body) = answer(
        &app,
        json!({"request_id": request, "value": 0, "reasons": ["unsolved", "slow", "slow"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reasons"], json!(["slow", "unsolved"]), "{body}");
    assert_eq!(body["changes"], 0, "reasons are not a change of the rating");
    let history = body["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{body}");
    assert_eq!(history[0]["reasons"], Value::Null);
    assert_eq!(history[1]["reasons"], json!(["slow", "unsolved"]));
    // The same again changes nothing; a comment later keeps them.
    let (status, again) = answer(
        &app,
        json!({"request_id": request, "value": 0, "reasons": ["slow", "unsolved"]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(again["history"].as_array().unwrap().len(), 2, "{again}");
    let (_, commented) = answer(
        &app,
        json!({"request_id": request, "value": 0, "comment": "an hour on hold"}),
    )
    .await;
    assert_eq!(commented["reasons"], json!(["slow", "unsolved"]));
    assert_eq!(
        app.session("s-1").await["rating"]["reasons"],
        json!(["slow", "unsolved"])
    );
}

/// The report by reason counts each low rating once under every reason it gives, leaves
/// out voided ratings and ratings no longer low, and gives each reason's share of the low
/// ratings; `reason=` narrows any grouping to one reason.
async fn the_report_groups_and_filters_low_ratings_by_reason(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    app.line(
        "support",
        json!({"delay_seconds": 0, "low_reasons": reasons(), "max_changes": 5}),
    )
    .await;
    app.line(
        "sales",
        json!({"delay_seconds": 0, "low_reasons": reasons()}),
    )
    .await;
    let given: [(&str, &str, &str, Value); 6] = [
        ("s-1", "support", "op-1", json!(["slow"])),
        ("s-2", "support", "op-1", json!(["slow", "rude"])),
        ("s-3", "support", "op-2", json!([])),
        ("s-4", "sales", "op-2", json!(["rude"])),
        ("s-5", "support", "op-2", json!(["slow"])),
        ("s-6", "support", "op-1", Value::Null),
    ];
    let mut ratings = Vec::new();
    for (session, line, operator, reasons) in given {
        let request = app.sent_request(session, line, operator).await;
        let (status, body) = answer(
            &app,
            json!({"request_id": request, "value": 0, "reasons": reasons}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        ratings.push((request, body["id"].as_str().unwrap().to_owned()));
    }
    // s-5 is raised to 👍 (its reasons stay with it, no longer counted); s-4 is voided.
    let (status, body) = answer(&app, json!({"request_id": ratings[4].0, "value": 1})).await;
    assert_eq!(status, 200, "{body}");
    let (status, appeal) = app
        .post(
            &format!("/v1/ratings/{}/appeal", ratings[3].1),
            json!({"reason": "the product was out of stock"}),
        )
        .await;
    assert_eq!(status, 201, "{appeal}");
    let decision = format!("/v1/appeals/{}/decision", appeal["id"].as_str().unwrap());
    assert_eq!(app.post(&decision, json!({"approve": true})).await.0, 200);

    let app = &app;
    let report = |query: &str| {
        let path = format!("/v1/stats?{query}");
        async move {
            let (status, body) = app.get(&path).await;
            assert_eq!(status, 200, "{path}: {body}");
            body["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| {
                    (
                        g["key"].as_str().unwrap().to_owned(),
                        g["low"].as_i64().unwrap(),
                        g["share_of_low"].as_f64().unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    // Low and counted: s-1, s-2, s-3, s-6 (four). slow: s-1, s-2; rude: s-2.
    assert_eq!(
        report("by=reason").await,
        [("rude".to_owned(), 1, 0.25), ("slow".to_owned(), 2, 0.5)]
    );
    // The same as the whole report counts them.
    let (_, all) = app.get("/v1/stats").await;
    assert_eq!(all["groups"][0]["low"], 4, "{all}");
    // One reason, by operator: of op-1's three low ratings two say slow; op-2's one does not.
    assert_eq!(
        report("by=operator&reason=slow").await,
        [("op-1".to_owned(), 2, 2.0 / 3.0)]
    );
    assert_eq!(report("by=reason&line=sales").await, []);
    assert_eq!(
        report("by=reason&operator=op-1&reason=rude").await,
        [("rude".to_owned(), 1, 1.0 / 3.0)]
    );
    // CSV has the reason report's own columns.
    let (status, csv) = app.get("/v1/stats?by=reason&format=csv").await;
    assert_eq!(status, 200);
    assert_eq!(
        csv.as_str().unwrap_or_default(),
        "key,low,share_of_low\nrude,1,0.2500\nslow,2,0.5000\n",
        "{csv}"
    );
    let (status, body) = app.get("/v1/stats?by=why").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("reason"),
        "{body}"
    );
}

/// An admin lists a line's reasons on its page (a refusal shown next to the field); the
/// dashboard shows why ratings were low, by the reasons' texts, and a session's page the
/// reasons its client gave. A reworded reason keeps its counts: they are kept by id.
async fn the_dashboard_sets_reasons_and_shows_why_low(kind: Db) {
    let Some(app) = spawn_app(kind).await else {
        return;
    };
    app.line(
        "support",
        json!({"delay_seconds": 0, "low_reasons": reasons()}),
    )
    .await;
    for (session, given) in [("s-1", json!(["slow", "rude"])), ("s-2", json!(["slow"]))] {
        let request = app.sent_request(session, "support", "op-1").await;
        let (status, body) = answer(
            &app,
            json!({"request_id": request, "value": 0, "reasons": given}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = app
        .put("/v1/people/adm", json!({"name": "Ada", "role": "admin"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let key = close_with_a_key(&app).await;
    let ada = signed_in(&app, "adm").await;

    let (status, page) = text(&app, "/dashboard?line=support", Some(&ada)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(r#"<h2 id="why-low">Why low</h2>"#), "{page}");
    assert!(
        page.contains("<tr><td>Waited too long</td><td>2</td><td>100.0%</td></tr>")
            && page.contains("<tr><td>Rude</td><td>1</td><td>50.0%</td></tr>"),
        "{page}"
    );
    let (_, session) = text(&app, "/dashboard/sessions/s-1", Some(&ada)).await;
    assert!(
        session.contains("Reasons: Waited too long, Rude"),
        "{session}"
    );

    // The line's page: one reason per line as "id: text".
    let stored = || async {
        let (status, line) = app
            .call_as(Some(&key), "GET", "/v1/lines/support", None)
            .await;
        assert_eq!(status, 200, "{line}");
        line
    };
    let version = stored().await["version"].to_string();
    let save = |typed: &'static str| {
        let (app, ada, version) = (&app, &ada, &version);
        async move {
            let changes: &[(&str, &[&str])] = &[
                ("rating.delay_seconds", &["0"]),
                ("rating.low_reasons", &[typed]),
            ];
            send(
                app,
                ada,
                "/dashboard/lines/support",
                &crate::settings_pages::form(version, changes),
            )
            .await
        }
    };
    let (_, form_page) = text(&app, "/dashboard/lines/support", Some(&ada)).await;
    assert!(
        form_page.contains("slow: Waited too long\nrude: Rude\nunsolved: Not solved"),
        "{form_page}"
    );
    for (typed, says) in [
        ("slow: Waited too long\nrude", "has no ':'"),
        (
            "slow: Waited too long\nrude: Rude, and far too curt",
            "must be 1 to 20 characters",
        ),
    ] {
        let (status, page) = save(typed).await;
        assert_eq!(status, 422, "{page}");
        let next_to_field = page
            .split(r#"id="f-rating-low_reasons-error""#)
            .nth(1)
            .unwrap_or_else(|| panic!("no message next to the field: {page}"));
        assert!(
            next_to_field[..200.min(next_to_field.len())].contains(says),
            "{page}"
        );
    }
    assert_eq!(stored().await["rating"]["low_reasons"], reasons());
    let (status, page) = save("slow: Waited too long\nrude: Impolite").await;
    assert_eq!(status, 303, "{page}");
    assert_eq!(
        stored().await["rating"]["low_reasons"],
        json!([{"id": "slow", "text": "Waited too long"}, {"id": "rude", "text": "Impolite"}])
    );
    let (_, page) = text(&app, "/dashboard?line=support", Some(&ada)).await;
    assert!(
        page.contains("<tr><td>Impolite</td><td>1</td><td>50.0%</td></tr>"),
        "{page}"
    );
}

crate::common::on_both_backends!(
    the_dashboard_sets_reasons_and_shows_why_low,
    a_line_lists_reasons_and_answers_may_name_only_those,
    the_report_groups_and_filters_low_ratings_by_reason,
);
