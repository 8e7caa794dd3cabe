//! Rate limits: per client address on the public endpoints, per API key on `/v1`. A
//! refused call gets 429 with `Retry-After` and changes nothing.
//!
//! The limits here are one call a minute with a small burst, so no test depends on how
//! fast the machine sends its requests.

use crate::common::{Db, spawn_app_with};
use serde_json::{Value, json};

async fn get(app: &crate::common::TestApp, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut req = app.http.get(app.url(path));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    req.send().await.unwrap()
}

async fn public_endpoints_are_limited_per_address(kind: Db) {
    let Some(app) = spawn_app_with(kind, |s| {
        s.limits.public_per_minute = 1;
        s.limits.public_burst = 3;
    })
    .await
    else {
        return;
    };
    for _ in 0..3 {
        assert_eq!(get(&app, "/widget.js", None).await.status(), 200);
    }
    let refused = get(&app, "/widget.js", None).await;
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1")
    );
    // The same address's platform webhook shares the bucket: refused, nothing stored.
    let r = app
        .http
        .post(app.url("/channels/telegram/webhook"))
        .json(&json!({"update_id": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    // The API is not a public endpoint: it has its own, per-key limits.
    for _ in 0..10 {
        assert_eq!(get(&app, "/v1/stats", None).await.status(), 200);
    }
}

async fn each_api_key_has_its_own_budget(kind: Db) {
    let Some(app) = spawn_app_with(kind, |s| {
        s.limits.key_per_minute = 1;
        s.limits.key_burst = 2;
    })
    .await
    else {
        return;
    };
    let key = |name: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rateline"))
            .args(["keys", "create", "--name", name, "--role", "admin"])
            .env("RATELINE__DATABASE__URL", &app.db.url)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let (a, b) = (key("a"), key("b"));
    for _ in 0..2 {
        assert_eq!(get(&app, "/v1/stats", Some(&a)).await.status(), 200);
    }
    let line = json!({"name": "Support"});
    let r = app
        .http
        .put(app.url("/v1/lines/support"))
        .bearer_auth(&a)
        .json(&line)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("API key '"),
        "{body}"
    );
    // Nothing the refused call asked for happened; another key is not held back.
    let r = get(&app, "/v1/lines/support", Some(&b)).await;
    assert_eq!(r.status(), 404);
}

crate::common::on_both_backends!(
    public_endpoints_are_limited_per_address,
    each_api_key_has_its_own_budget,
);
