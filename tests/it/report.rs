//! The report against numbers computed by hand, through the API and the `rateline stats` CLI.

use crate::common::{Db, Reply, TestApp, spawn_app, spawn_app_with};
use chrono::Duration;
use serde_json::{Value, json};

/// Closes `session` on `line` for `op`, waits for the send and answers with `values` in turn
/// (the later ones are changes); `None` leaves it unanswered.
async fn rated(app: &TestApp, session: &str, line: &str, op: &str, values: &[i64]) {
    app.open(session, line, op).await;
    let r = app.close(session).await;
    app.wait_for_status(session, "sent").await;
    for v in values {
        let (status, body) = app
            .post("/v1/ratings", json!({"request_id": r, "value": v}))
            .await;
        assert!(status == 201 || status == 200, "{body}");
    }
}

/// The fixture, and what each number should be:
///
/// | session | line    | op  | day | outcome               |
/// |---------|---------|-----|-----|-----------------------|
/// | s1      | support | a   | 21  | 👍                    |
/// | s2      | support | a   | 21  | 👎 (low)              |
/// | s3      | support | a   | 21  | sent, unanswered      |
/// | s4      | support | a   | 21  | cancelled, never sent |
/// | s5      | sales   | a   | 21  | 5★                    |
/// | s6      | sales   | b   | 21  | 2★ (low)              |
/// | s9      | support | b   | 21  | undeliverable         |
/// | s7      | sales   | b   | 22  | 4★                    |
/// | s8      | sales   | b   | 22  | 3★ changed to 1★ (low)|
async fn fixture(app: &TestApp) {
    app.line("support", json!({"delay_seconds": 0})).await;
    app.line(
        "sales",
        json!({"delay_seconds": 0, "scale": "five_star", "low_threshold": 2}),
    )
    .await;
    rated(app, "s1", "support", "a", &[1]).await;
    rated(app, "s2", "support", "a", &[0]).await;
    rated(app, "s3", "support", "a", &[]).await;
    app.line("support", json!({"delay_seconds": 60})).await;
    app.open("s4", "support", "a").await;
    app.close("s4").await;
    app.advance(Duration::seconds(1));
    app.post("/v1/sessions/s4/messages", json!({"from": "client"}))
        .await;
    assert_eq!(app.request_status("s4").await, "cancelled");
    app.line("support", json!({"delay_seconds": 0})).await;
    rated(app, "s5", "sales", "a", &[5]).await;
    rated(app, "s6", "sales", "b", &[2]).await;
    app.connector.reply_with([Reply::Status(404)]);
    app.open("s9", "support", "b").await;
    app.close("s9").await;
    app.wait_for_status("s9", "undeliverable").await;
    app.advance(Duration::days(1));
    rated(app, "s7", "sales", "b", &[4]).await;
    rated(app, "s8", "sales", "b", &[3, 1]).await;
}

fn groups(v: &Value) -> Vec<Value> {
    v["groups"].as_array().expect("groups").clone()
}

fn row(
    key: &str,
    sent: i64,
    answered: i64,
    average: Option<f64>,
    csat_num: i64,
    low: i64,
) -> Value {
    json!({
        "key": key, "sent": sent, "answered": answered,
        "response_rate": if sent > 0 { Some(answered as f64 / sent as f64) } else { None },
        "average": average,
        "csat": if answered > 0 { Some(csat_num as f64 / answered as f64) } else { None },
        "low": low,
        // No supervisor evaluated these sessions.
        "evaluated": 0, "evaluation_average": null,
    })
}

async fn the_report_matches_numbers_computed_by_hand(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    fixture(&app).await;

    let (_, all) = app.get("/v1/stats").await;
    assert_eq!(groups(&all), vec![row("all", 7, 6, Some(3.0), 3, 3)]);

    let (_, by_op) = app.get("/v1/stats?by=operator").await;
    assert_eq!(
        groups(&by_op),
        vec![
            row("a", 4, 3, Some(5.0), 2, 1),
            row("b", 3, 3, Some(7.0 / 3.0), 1, 2)
        ]
    );

    let (_, by_line) = app.get("/v1/stats?by=line").await;
    assert_eq!(
        groups(&by_line),
        vec![
            row("sales", 4, 4, Some(3.0), 2, 2),
            row("support", 3, 2, None, 1, 1)
        ]
    );

    let (_, by_day) = app.get("/v1/stats?by=day").await;
    assert_eq!(
        groups(&by_day),
        vec![
            row("2026-11-21", 5, 4, Some(3.5), 2, 2),
            row("2026-11-22", 2, 2, Some(2.5), 1, 1)
        ]
    );

    // 09:00 UTC is 22:00 the day before in Pago Pago (UTC−11): each day moves back one.
    let (status, by_day) = app
        .get("/v1/stats?by=day&time_zone=Pacific/Pago_Pago")
        .await;
    assert_eq!(status, 200, "{by_day}");
    assert_eq!(
        groups(&by_day),
        vec![
            row("2026-11-20", 5, 4, Some(3.5), 2, 2),
            row("2026-11-21", 2, 2, Some(2.5), 1, 1)
        ]
    );
    let (_, by_week) = app
        .get("/v1/stats?by=week&time_zone=Pacific/Pago_Pago")
        .await;
    assert_eq!(
        groups(&by_week),
        vec![row("2026-11-16", 7, 6, Some(3.0), 3, 3)]
    );
    let (status, body) = app.get("/v1/stats?by=day&time_zone=Mars/Olympus").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("is not a time zone")),
        "{body}"
    );

    let (_, by_channel) = app.get("/v1/stats?by=channel&channel=webhook").await;
    assert_eq!(
        groups(&by_channel),
        vec![row("webhook", 7, 6, Some(3.0), 3, 3)]
    );

    let (_, filtered) = app.get("/v1/stats?line=sales&from=2026-11-22").await;
    assert_eq!(groups(&filtered), vec![row("all", 2, 2, Some(2.5), 1, 1)]);
    let (_, filtered) = app
        .get("/v1/stats?operator=a&to=2026-11-21T09:00:00Z")
        .await;
    assert_eq!(groups(&filtered), Vec::<Value>::new(), "`to` is exclusive");
    let (_, none) = app.get("/v1/stats?channel=telegram").await;
    assert_eq!(groups(&none), Vec::<Value>::new());

    let (status, summary) = app.get("/v1/operators/b/summary?from=2026-11-21").await;
    assert_eq!(status, 200);
    assert_eq!(summary["sent"], 3);
    assert_eq!(summary["average"], json!(7.0 / 3.0));
    assert_eq!(summary["low"], 2);

    let csv = app
        .http
        .get(app.url("/v1/stats?by=line"))
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert_eq!(
        csv,
        "key,sent,answered,response_rate,average,csat,low,evaluated,evaluation_average\n\
         sales,4,4,1.0000,3.0000,0.5000,2,0,\n\
         support,3,2,0.6667,,0.5000,1,0,\n"
    );

    // The CLI reads the same database and prints the same CSV.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rateline"))
        .args(["stats", "--by", "line", "--format", "csv"])
        .env("RATELINE__DATABASE__URL", &app.db.url)
        .output()
        .expect("rateline stats runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), csv);
}

/// An operator id that a spreadsheet would run as a formula is written as text in every
/// CSV: the API's, the dashboard's export and `rateline stats`.
async fn csv_cells_never_start_a_formula(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    for (session, op) in [("s-1", "=1+2"), ("s-2", "@SUM(1+1)*cmd|x!A0")] {
        app.rated(session, "support", op, 1).await;
    }
    let api = app
        .http
        .get(app.url("/v1/stats?by=operator&format=csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let export = app
        .http
        .get(app.url("/dashboard/export.csv?table=operators"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rateline"))
        .args(["stats", "--by", "operator", "--format", "csv"])
        .env("RATELINE__DATABASE__URL", &app.db.url)
        .output()
        .expect("rateline stats runs");
    let cli = String::from_utf8(out.stdout).unwrap();
    for (what, csv) in [("api", &api), ("export", &export), ("cli", &cli)] {
        let keys: Vec<String> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().trim_matches('"').to_owned())
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(sorted, ["'=1+2", "'@SUM(1+1)*cmd|x!A0"], "{what}: {csv}");
    }
}

async fn bad_report_parameters_are_named(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    for (query, needle) in [
        (
            "by=month",
            "by: unknown grouping 'month': use operator, line, channel, day, week or reason",
        ),
        ("from=yesterday", "from: \"yesterday\" is not a time"),
        ("channel=fax", "channel: unknown channel 'fax'"),
        ("lines=x", "unknown query parameter 'lines'"),
    ] {
        let (status, body) = app.get(&format!("/v1/stats?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(needle),
            "{query}: {body}"
        );
    }
}

/// The report sums a per-day rollup for whole days and reads the rows for partial ones:
/// both must give the same numbers, whether the changes are still in the log or folded.
async fn whole_days_and_partial_days_count_alike(db: Db) {
    // The server folds only when the test says so.
    let Some(app) = spawn_app_with(db, |s| s.scheduler.report_fold_seconds = 3600).await else {
        return;
    };
    fixture(&app).await;
    // Besides the fixture (days 21 and 22): a voided rating, a lowered one in its grace
    // period, a session reopened by the client and closed again, and one still waiting.
    app.line(
        "graced",
        json!({"delay_seconds": 0, "scale": "five_star", "lowered_grace_hours": 24}),
    )
    .await;
    rated(&app, "s10", "graced", "a", &[5, 2]).await;
    rated(&app, "s11", "graced", "b", &[1]).await;
    rated(&app, "s14", "graced", "b", &[1]).await;
    let (_, s11) = app.get("/v1/sessions/s11").await;
    let rating = s11["rating"]["id"].as_str().expect("rating id").to_owned();
    let (status, appeal) = app
        .post(
            &format!("/v1/ratings/{rating}/appeal"),
            json!({"reason": "not the operator's doing"}),
        )
        .await;
    assert_eq!(status, 201, "{appeal}");
    let decision = format!("/v1/appeals/{}/decision", appeal["id"].as_str().unwrap());
    let (status, body) = app.post(&decision, json!({"approve": true})).await;
    assert_eq!(status, 200, "{body}");
    app.line("support", json!({"delay_seconds": 600})).await;
    app.open("s12", "support", "c").await;
    app.close("s12").await;
    app.advance(Duration::seconds(1));
    app.post("/v1/sessions/s12/messages", json!({"from": "client"}))
        .await;
    assert_eq!(app.session("s12").await["closed_at"], Value::Null);
    app.close("s12").await;
    app.open("s13", "support", "c").await;
    app.close("s13").await;

    let store = rateline::store::Store::connect(&app.db.url, 1)
        .await
        .expect("the test's database");
    let now = rateline::clock::Clock::now(&app.clock);
    let at = |day: u32, ms: i64| {
        Some(
            chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, day, 0, 0, 0).unwrap()
                + Duration::milliseconds(ms),
        )
    };
    use rateline::store::{Grouping, ReportFilter};
    let filters = |from, to| {
        [
            ReportFilter::default(),
            ReportFilter {
                line: Some("sales".into()),
                ..Default::default()
            },
            ReportFilter {
                operator: Some("b".into()),
                ..Default::default()
            },
        ]
        .map(|f| ReportFilter { from, to, ..f })
    };
    // Everything the report, the funnel and the distribution say for a period.
    let read = |from, to| {
        let store = store.clone();
        async move {
            let mut out = Vec::new();
            for f in filters(from, to) {
                for by in [
                    Grouping::All,
                    Grouping::Operator,
                    Grouping::Line,
                    Grouping::Channel,
                    Grouping::Day,
                    Grouping::Week,
                ] {
                    out.push(format!(
                        "{by:?} {:?}",
                        store.reports().report(&f, by, now).await.unwrap()
                    ));
                }
                out.push(format!(
                    "{:?}",
                    store.reports().breakdown(&f, now).await.unwrap()
                ));
            }
            out
        }
    };
    let mut folded = 0;
    for round in ["in the log", "folded"] {
        for day in [21, 22] {
            // [midnight, next midnight) is a whole day; [midnight + 1 ms, next midnight)
            // is no whole day, so read from the rows. Nothing happened at midnight.
            assert_eq!(
                read(at(day, 0), at(day + 1, 0)).await,
                read(at(day, 1), at(day + 1, 0)).await,
                "day {day}, {round}"
            );
        }
        // Day 21 from the rows, day 22 from the rollup.
        assert_eq!(
            read(at(21, 0), at(23, 0)).await,
            read(at(21, 1), at(23, 0)).await,
            "{round}"
        );
        // Day 21 from the rollup, the morning of day 22 from the rows; then all rows.
        let noon = 12 * 3_600_000;
        assert_eq!(
            read(at(21, 0), at(22, noon)).await,
            read(at(21, 1), at(22, noon)).await,
            "{round}"
        );
        assert_eq!(
            read(None, None).await,
            read(at(21, 0), at(23, 0)).await,
            "{round}"
        );
        folded += store.reports().fold_rollup().await.unwrap();
    }
    assert!(folded > 0, "nothing was folded");
    assert_eq!(store.reports().fold_rollup().await.unwrap(), 0);

    // And the numbers are the ones expected: the lowered 5★ counted as 5 for now, the
    // first answer 1★ not yet, the voided one not at all.
    let (_, all) = app.get("/v1/stats?line=graced").await;
    assert_eq!(groups(&all), vec![row("all", 3, 1, Some(5.0), 1, 0)]);
    let funnel = store
        .reports()
        .breakdown(&ReportFilter::default(), now)
        .await
        .unwrap()
        .funnel;
    assert_eq!(
        (funnel.closed, funnel.requested, funnel.answered),
        // s4 was reopened by its client; s12 too, then closed again (counted once, with
        // its cancelled request and its new one). s11 is answered, its rating voided.
        (13, 15, 9)
    );
    // Past the grace period both count as given.
    app.advance(Duration::hours(25));
    let (_, all) = app.get("/v1/stats?line=graced").await;
    assert_eq!(groups(&all), vec![row("all", 3, 2, Some(1.5), 0, 2)]);
    store.close().await;
}

/// `GET /v1/stats/trend` compares a period with the one as long before it, as the Quality
/// page does, and names what is missing.
async fn the_trend_compares_a_period_with_the_one_before(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    // The 21st: 2 of 10 👍. The 22nd: 9 of 10.
    for i in 0..10 {
        rated(&app, &format!("a{i}"), "support", "a", &[i64::from(i < 2)]).await;
    }
    app.advance(Duration::days(1));
    for i in 0..10 {
        rated(&app, &format!("b{i}"), "support", "a", &[i64::from(i < 9)]).await;
    }
    let (status, t) = app
        .get("/v1/stats/trend?from=2026-11-22&to=2026-11-23")
        .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["previous_from"], "2026-11-21T00:00:00Z", "{t}");
    assert_eq!(t["previous_to"], "2026-11-22T00:00:00Z", "{t}");
    assert_eq!(t["now"]["answered"], 10, "{t}");
    assert_eq!(t["before"]["low"], 8, "{t}");
    let csat = &t["csat_change"];
    assert!(
        (csat["difference"].as_f64().unwrap() - 0.7).abs() < 1e-9,
        "{t}"
    );
    assert_eq!(csat["beyond_noise"], true, "{t}");
    assert!(csat["low"].as_f64().unwrap() > 0.0, "{t}");
    assert_eq!(t["low_share_change"]["beyond_noise"], true, "{t}");
    // A period with nothing before it has no change.
    let (_, t) = app
        .get("/v1/stats/trend?from=2026-11-21&to=2026-11-23")
        .await;
    assert_eq!(t["before"], Value::Null, "{t}");
    assert_eq!(t["csat_change"], Value::Null, "{t}");
    for (query, says) in [
        ("from=2026-11-22", "both are needed"),
        ("from=2026-11-22&to=2026-11-22", "is not after from"),
        ("from=0157-05-29&to=2026-11-28", "before 1970-01-01"),
        ("from=2026-11-22&to=2026-11-23&by=day", "by"),
    ] {
        let (status, body) = app.get(&format!("/v1/stats/trend?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains(says),
            "{query}: {body}"
        );
    }
}

/// A zone's days over ratings years apart: the hours each day gives to its neighbour are
/// read a few hundred days a query, since SQLite refuses an expression of a thousand.
async fn a_zones_days_over_years_of_ratings(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    rated(&app, "s1", "support", "a", &[1]).await;
    let first = app.get("/v1/stats?by=day").await.1;
    app.advance(Duration::days(1500));
    rated(&app, "s2", "support", "a", &[0]).await;
    let (status, body) = app.get("/v1/stats?by=day&time_zone=Europe/Berlin").await;
    assert_eq!(status, 200, "{body}");
    let days = groups(&body);
    assert_eq!(days.len(), 2, "{body}");
    assert_eq!(days[0]["key"], groups(&first)[0]["key"], "{body}");
    assert_eq!(
        (days[0]["answered"].clone(), days[1]["answered"].clone()),
        (json!(1), json!(1))
    );
}

crate::common::on_both_backends!(
    a_zones_days_over_years_of_ratings,
    the_trend_compares_a_period_with_the_one_before,
    csv_cells_never_start_a_formula,
    the_report_matches_numbers_computed_by_hand,
    bad_report_parameters_are_named,
    whole_days_and_partial_days_count_alike,
);

/// On a SQLite file the report reads on connections of its own: it answers while a close
/// waits for the file's write lock, held here by another program.
#[tokio::test]
async fn on_sqlite_a_report_answers_while_a_close_waits_for_the_write_lock() {
    use sqlx::Connection;
    let app = spawn_app(Db::Sqlite).await.expect("SQLite needs nothing");
    app.line("support", json!({"delay_seconds": 0})).await;
    rated(&app, "s1", "support", "a", &[1]).await;
    app.open("s2", "support", "a").await;

    let mut other = sqlx::SqliteConnection::connect(&app.db.url)
        .await
        .expect("another program opens the file");
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .expect("it takes the write lock");
    let close = app.post("/v1/sessions/s2/close", json!({"closed_by": "operator"}));
    tokio::pin!(close);
    // Time for the close to reach the writer, which then holds its connection while it
    // waits for the lock (up to SQLite's busy timeout, 5 s).
    tokio::select! {
        (status, body) = &mut close => {
            panic!("the close answered while the write lock was held: {status} {body}")
        }
        () = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
    }
    let (status, report) = tokio::select! {
        r = app.get("/v1/stats") => r,
        (status, _) = &mut close => {
            panic!("the report waited for the close to give up or finish (it answered {status})")
        }
    };
    assert_eq!(status, 200, "{report}");
    assert_eq!(groups(&report), vec![row("all", 1, 1, None, 1, 0)]);

    sqlx::raw_sql("ROLLBACK")
        .execute(&mut other)
        .await
        .expect("it lets go");
    let (status, body) = close.await;
    assert_eq!(
        status, 202,
        "the close is taken once the lock is free: {body}"
    );
}
