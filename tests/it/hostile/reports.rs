//! An operator's own report is no finer than whole days: a line that keeps ratings from its
//! operators (`rating.operators_see_ratings` off) cannot be read one session at a time
//! through a report over a moment around its close, a zone of the operator's choosing, or
//! asking again once the next rating has come.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::common::{Db, TestApp, create_key, spawn_app, start_time};
use crate::people::close_with_a_key;

/// `t`, for a query.
fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
        .replace('+', "%2B")
}

/// Closes and rates session `id` on `support` (op-1's) with `value` and `reasons`, now.
async fn rated(app: &TestApp, id: &str, value: i64, reasons: &[&str]) {
    let request = app.sent_request(id, "support", "op-1").await;
    let mut answer = json!({"request_id": request, "value": value});
    if !reasons.is_empty() {
        answer["reasons"] = json!(reasons);
    }
    let (status, body) = app.post("/v1/ratings", answer).await;
    assert_eq!(status, 201, "{body}");
}

async fn an_operators_report_cannot_single_out_a_hidden_rating(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line(
        "support",
        json!({"delay_seconds": 0, "scale": "five_star", "operators_see_ratings": false,
               "low_reasons": [{"id": "slow", "text": "Slow"}, {"id": "rude", "text": "Rude"}]}),
    )
    .await;
    let (status, body) = app
        .put(
            "/v1/people/op-1",
            json!({"name": "Olga", "role": "operator", "lines": ["support"],
                   "time_zone": "Europe/Moscow"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // 21 November, 09:00 UTC: a 1 ★ for being slow; at 11:00 a 2 ★ for rudeness and a 5 ★.
    let first_close = start_time();
    rated(&app, "s-1", 1, &["slow"]).await;
    app.advance(Duration::hours(2));
    rated(&app, "s-2", 2, &["rude"]).await;
    rated(&app, "s-3", 5, &[]).await;
    let admin = close_with_a_key(&app).await;
    app.use_key(&admin);
    let olga = create_key(
        &app,
        &["--name", "Olga", "--role", "operator", "--person", "op-1"],
    );
    let around = format!(
        "from={}&to={}",
        at(first_close - Duration::milliseconds(1)),
        at(first_close + Duration::milliseconds(1))
    );
    let get = |path: String| {
        let (app, olga) = (&app, &olga);
        async move {
            let (status, body) = app.call_as(Some(olga), "GET", &path, None).await;
            assert_eq!(status, 200, "{path}: {body}");
            body
        }
    };
    // The day is still going on: nothing of it yet.
    let today = get(format!("/v1/stats?{around}")).await;
    assert_eq!(today["groups"], json!([]), "{today}");
    // The next day, a rating of that day does not show until it has ended.
    app.advance(Duration::hours(20));
    rated(&app, "s-4", 4, &[]).await;
    let all = get("/v1/stats".to_owned()).await;
    assert_eq!(all["groups"][0]["answered"], 3, "{all}");
    let all = get(format!("/v1/stats?{around}")).await;
    assert_eq!(all["groups"][0]["answered"], 3, "the whole day: {all}");
    assert_eq!(all["groups"][0]["low"], 2, "{all}");
    let reasons = get(format!("/v1/stats?by=reason&{around}")).await;
    let keys: Vec<&str> = reasons["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 2, "both reasons of the day: {reasons}");
    let summary: Value = get(format!("/v1/operators/op-1/summary?{around}")).await;
    assert_eq!(summary["answered"], 3, "{summary}");
    // The report's own days, in UTC, whatever zone the operator picked (Moscow here).
    assert_eq!(summary["from"], "2026-11-21T00:00:00Z", "{summary}");
    assert_eq!(summary["to"], "2026-11-22T00:00:00Z", "{summary}");
    // The dashboard counts the same way, and says why.
    let (status, cookie) = crate::dashboard::sign_in(&app, &olga).await;
    assert_eq!(status, 303, "{cookie}");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let (status, page) = crate::dashboard::text(&app, "/dashboard", Some(&cookie)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(r#"id="whole-days""#), "{page}");
}

crate::common::on_both_backends!(an_operators_report_cannot_single_out_a_hidden_rating);
