//! The per-address limits against clients that change address: an IPv6 client counts by
//! its /64, however many of its addresses it uses, and guessers flooding the password hash
//! from a few addresses cannot hold a real sign-in back for more than a second.
//!
//! The server trusts 127.0.0.1 as its proxy, so each call's `X-Forwarded-For` is the client
//! the limits count (as behind a load balancer).

use std::time::Duration;

use serde_json::json;

use crate::common::{Db, TestApp, spawn_app_with};
use crate::people::{close_with_a_key, give_password};

const PASSWORD: &str = "a long enough password";

/// A call from `client` (as the proxy names it); its status.
async fn from(client: &str, req: reqwest::RequestBuilder) -> u16 {
    req.header("x-forwarded-for", client)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_client_is_limited_by_its_slash_64_whatever_address_it_takes() {
    let Some(app) = spawn_app_with(Db::Sqlite, |s| {
        s.server.trusted_proxies = vec!["127.0.0.1/32".into()];
        s.limits.failed_auth_burst = 5;
        s.limits.failed_auth_per_minute = 1;
        s.limits.public_burst = 20;
        s.limits.public_per_minute = 1;
    })
    .await
    else {
        return;
    };
    close_with_a_key(&app).await;
    let wrong =
        "Bearer rl_00000000_0000000000000000000000000000000000000000000000000000000000000000";
    let mut statuses = Vec::new();
    for n in 1..=8 {
        let req = app
            .http
            .get(app.url("/v1/stats"))
            .header("authorization", wrong);
        statuses.push(from(&format!("2001:db8:1:2::{n:x}"), req).await);
    }
    // The burst of five, the refusal past it, then held off: one client, eight addresses.
    assert_eq!(statuses, [401, 401, 401, 401, 401, 401, 429, 429]);
    // The next /64 is another client.
    let req = app
        .http
        .get(app.url("/v1/stats"))
        .header("authorization", wrong);
    assert_eq!(from("2001:db8:1:3::1", req).await, 401);

    // The public endpoints' limit counts the same way.
    let mut limited = 0;
    for n in 1..=30 {
        let req = app.http.get(app.url("/widget.js"));
        if from(&format!("2001:db8:5:6:{n:x}::1"), req).await == 429 {
            limited += 1;
        }
    }
    assert_eq!(limited, 10, "a burst of 20 for the whole /64");
    let req = app.http.get(app.url("/widget.js"));
    assert_eq!(from("2001:db8:5:7::1", req).await, 200);
}

/// `person`'s sign-in with `password` from `client`: the status.
async fn sign_in_from(app: &TestApp, client: &str, person: &str, password: &str) -> u16 {
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirects
        .post(app.url("/dashboard/login"))
        .header("x-forwarded-for", client)
        .header("sec-fetch-site", "same-origin")
        .form(&[("person", person), ("password", password)])
        .send()
        .await
        .unwrap();
    resp.status().as_u16()
}

/// Four addresses keep two hundred wrong passwords in flight; a real sign-in from another
/// address waits behind at most one hash of each, not behind the two hundred. Judged by
/// order, not by time: how many guesses were answered before the real sign-in was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessers_cannot_hold_a_real_sign_in_back() {
    let Some(app) = spawn_app_with(Db::Sqlite, |s| {
        s.server.trusted_proxies = vec!["127.0.0.1/32".into()];
        // The guessers are not held off here: the hash queue alone is tested.
        s.limits.failed_auth_per_minute = 0;
        s.limits.public_burst = 100_000;
    })
    .await
    else {
        return;
    };
    app.put(
        "/v1/people/sup",
        json!({"name": "Sam", "role": "supervisor"}),
    )
    .await;
    let admin = close_with_a_key(&app).await;
    give_password(&app, Some(&admin), "sup", PASSWORD).await;
    assert_eq!(
        sign_in_from(&app, "198.51.100.1", "sup", PASSWORD).await,
        303
    );

    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut guesses = Vec::new();
    for guesser in 1..=4 {
        for n in 0..50 {
            let app = (app.base.clone(), app.http.clone());
            let answered = answered.clone();
            guesses.push(tokio::spawn(async move {
                let status = app
                    .1
                    .post(format!("{}/dashboard/login", app.0))
                    .header("x-forwarded-for", format!("203.0.113.{guesser}"))
                    .header("sec-fetch-site", "same-origin")
                    .form(&[("person", "sup"), ("password", &format!("guess {n}"))])
                    .send()
                    .await
                    .map(|r| r.status().as_u16());
                answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                status
            }));
        }
    }
    // The guesses are queued at the hash.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = answered.load(std::sync::atomic::Ordering::SeqCst);
    let status = sign_in_from(&app, "198.51.100.9", "sup", PASSWORD).await;
    let ahead = answered.load(std::sync::atomic::Ordering::SeqCst) - before;
    assert_eq!(status, 303);
    let mut refused = 0;
    for g in guesses {
        if g.await.unwrap().unwrap() == 401 {
            refused += 1;
        }
    }
    assert_eq!(refused, 200, "every guess was checked, and refused");
    // In turn with the four guessers it waits behind a hash or two of each; in one queue
    // it would wait behind every guess queued before it (nearly all 200).
    assert!(
        ahead <= 20,
        "{ahead} guesses were answered while the real sign-in waited ({before} before it came)"
    );
}
