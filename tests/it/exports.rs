//! Every rating exportable: `GET /v1/ratings/export` and the inbox's download links write the
//! ratings the filters match, one row each (CSV) or one JSON object a line (NDJSON), with
//! names, the comment unless flagged, the response, the appeal and the evaluation; times in
//! the reader's zone; streamed; named for what they hold; within the caller's reach.

use crate::common::{Db, TestApp, create_key, spawn_app};
use crate::inbox::fixture;
use serde_json::{Value, json};

/// `GET path` with `key` (the open mode without), and optionally a sign-in cookie: the
/// status, the headers and the body.
async fn download(
    app: &TestApp,
    key: Option<&str>,
    cookie: Option<&str>,
    path: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = app.http.get(app.url(path));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    (status, headers, resp.text().await.unwrap())
}

/// The CSV's rows, each as column → value.
fn rows(csv: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            header
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn file_of(headers: &reqwest::header::HeaderMap) -> String {
    headers["content-disposition"].to_str().unwrap().to_owned()
}

async fn every_rating_exports_as_csv_and_ndjson(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let ids = fixture(&app).await;
    let (status, body) = app
        .put(
            "/v1/sessions/s5/evaluation",
            json!({"stars": 2, "comment": "slow replies"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // The low ratings, oldest first, streamed (no length known ahead), as a CSV file.
    let (status, headers, csv) = download(&app, None, None, "/v1/ratings/export").await;
    assert_eq!(status, 200, "{csv}");
    assert!(headers.get("content-length").is_none(), "{headers:?}");
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        file_of(&headers),
        r#"attachment; filename="ratings-low.csv""#
    );
    let all = rows(&csv);
    let sessions: Vec<&str> = all.iter().map(|r| r["session_id"].as_str()).collect();
    assert_eq!(sessions, ["s1", "s2", "s4", "s5"], "{csv}");
    assert_eq!(all[0]["comment"], "slow");
    assert_eq!(all[0]["operator"], "Ben");
    assert_eq!(all[0]["client"], "Ann");
    assert_eq!(all[0]["resolved"], "false");
    assert_eq!(all[0]["state"], "unanswered");
    assert_eq!(all[0]["rating_id"], ids["s1"].as_str());
    assert!(all[0]["rated_at"].ends_with("+00:00"), "UTC here: {csv}");
    assert_eq!(all[1]["response"], "Sorry, we will call you back");
    assert_eq!(all[1]["state"], "handled");
    assert_eq!(
        (
            all[2]["comment"].as_str(),
            all[2]["comment_flagged"].as_str()
        ),
        ("", "true")
    );
    assert_eq!(
        (all[3]["value"].as_str(), all[3]["evaluation"].as_str()),
        ("2", "2")
    );

    // All ratings, as NDJSON: the 👍 too, which has no state.
    let (status, headers, ndjson) = download(
        &app,
        None,
        None,
        "/v1/ratings/export?show=all&format=ndjson",
    )
    .await;
    assert_eq!(status, 200, "{ndjson}");
    assert_eq!(headers["content-type"], "application/x-ndjson");
    assert_eq!(
        file_of(&headers),
        r#"attachment; filename="ratings-all.ndjson""#
    );
    let objects: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 5, "{ndjson}");
    let thumbs_up = objects.iter().find(|o| o["session_id"] == "s3").unwrap();
    assert_eq!(
        (&thumbs_up["low"], &thumbs_up["state"]),
        (&json!(false), &json!("none"))
    );
    let (_, _, praise) = download(&app, None, None, "/v1/ratings/export?show=praise").await;
    assert_eq!(rows(&praise).len(), 1, "{praise}");
    // The list has the same kinds.
    let (_, list) = app.get("/v1/ratings?show=praise").await;
    assert_eq!(list["ratings"][0]["session_id"], "s3", "{list}");

    // Refused before a byte is written: a format, a state for ratings that have none.
    for (query, names) in [
        ("?format=xml", "format"),
        ("?show=all&state=unanswered", "state"),
        ("?page=2", "page"),
    ] {
        let (status, _, body) =
            download(&app, None, None, &format!("/v1/ratings/export{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(names), "{query}: {body}");
    }

    // A supervisor exports their lines only, and the file says which line.
    let sales = create_key(
        &app,
        &["--name", "Sam", "--role", "supervisor", "--lines", "sales"],
    );
    let (_, _, csv) = download(&app, Some(&sales), None, "/v1/ratings/export").await;
    let sessions: Vec<String> = rows(&csv).iter().map(|r| r["session_id"].clone()).collect();
    assert_eq!(sessions, ["s4", "s5"]);
    let (status, _, body) =
        download(&app, Some(&sales), None, "/v1/ratings/export?line=support").await;
    assert_eq!(status, 403, "{body}");
    let (_, headers, _) = download(
        &app,
        Some(&sales),
        None,
        "/v1/ratings/export?line=sales&from=2026-11-01",
    )
    .await;
    assert_eq!(
        file_of(&headers),
        r#"attachment; filename="ratings-low-sales-from-2026-11-01.csv""#
    );

    // From the inbox page: its filters, in the viewer's zone.
    let (status, body) = app
        .put(
            "/v1/people/sup-olga",
            json!({"name": "Olga", "role": "supervisor", "lines": ["support", "sales"],
                   "time_zone": "Asia/Tokyo"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let key = crate::people::close_with_a_key(&app).await;
    app.use_key(&key);
    let olga = crate::workbench::signed_in(&app, "sup-olga").await;
    let (_, page) = crate::dashboard::text(&app, "/dashboard/inbox?line=sales", Some(&olga)).await;
    assert!(
        page.contains(r#"href="/dashboard/inbox/export?line=sales&amp;format=csv""#),
        "{page}"
    );
    let (status, headers, csv) = download(
        &app,
        None,
        Some(&olga),
        "/dashboard/inbox/export?line=sales&format=csv",
    )
    .await;
    assert_eq!(status, 200, "{csv}");
    assert_eq!(
        file_of(&headers),
        r#"attachment; filename="ratings-low-sales.csv""#
    );
    let all = rows(&csv);
    assert_eq!(all.len(), 2, "{csv}");
    assert!(all[0]["rated_at"].ends_with("+09:00"), "Olga's zone: {csv}");
}

crate::common::on_both_backends!(every_rating_exports_as_csv_and_ndjson);
