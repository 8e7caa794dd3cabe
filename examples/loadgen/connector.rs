//! The local webhook receiver that plays the contact center: it checks the signature of
//! each rating request the server sends, records when each request id first arrived,
//! counts duplicates, and answers a share of the requests through their `answer_url`
//! after a random delay, as a client tapping a button would. The serving and the signature
//! check are the test kit's connector's (`rateline_testkit::connector`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::{Args, SECRET};

/// Plays the contact center: receives the signed requests and answers some of them.
pub struct Connector {
    http: reqwest::Client,
    answer_fraction: f64,
    answer_ms: std::ops::RangeInclusive<u64>,
    /// First arrival of each request id.
    pub arrivals: Mutex<HashMap<String, DateTime<Utc>>>,
    pub unique: AtomicUsize,
    pub duplicates: AtomicU64,
    pub bad_signatures: AtomicU64,
    pub answers_in_flight: AtomicU64,
    pub answers_accepted: AtomicU64,
    pub answers_refused: AtomicU64,
    /// 409 "not sent yet": the answer came before the server recorded the send.
    pub answers_early_409: AtomicU64,
}

/// Takes one rating request from the server: verify, record the first arrival, maybe answer.
async fn receive(c: Arc<Connector>, headers: HeaderMap, body: Bytes) -> Response {
    receive_one(c, headers, body).await.into_response()
}

async fn receive_one(c: Arc<Connector>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let arrived = Utc::now();
    if !rateline_testkit::connector::signed(SECRET, &headers, &body) {
        c.bad_signatures.fetch_add(1, Ordering::Relaxed);
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let (Some(id), Some(answer_url)) = (req["request_id"].as_str(), req["answer_url"].as_str())
    else {
        return StatusCode::BAD_REQUEST;
    };
    let first = {
        let mut arrivals = c.arrivals.lock().expect("arrivals lock");
        if arrivals.contains_key(id) {
            false
        } else {
            arrivals.insert(id.to_owned(), arrived);
            true
        }
    };
    if !first {
        c.duplicates.fetch_add(1, Ordering::Relaxed);
        return StatusCode::OK;
    }
    c.unique.fetch_add(1, Ordering::Relaxed);
    if rand::random_bool(c.answer_fraction) {
        c.answers_in_flight.fetch_add(1, Ordering::Relaxed);
        let c = c.clone();
        let answer = json!({"request_id": id, "value": i64::from(rand::random_bool(0.8))});
        let url = answer_url.to_owned();
        tokio::spawn(async move {
            // A client takes a moment to tap.
            let wait = rand::random_range(c.answer_ms.clone());
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let mut tries = 0;
            loop {
                tries += 1;
                match c.http.post(&url).json(&answer).send().await {
                    Ok(r) if r.status().is_success() => {
                        c.answers_accepted.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Ok(r) if r.status() == StatusCode::CONFLICT && tries < 20 => {
                        c.answers_early_409.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    _ => {
                        c.answers_refused.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
            c.answers_in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }
    StatusCode::OK
}

/// Serves the connector on a free local port; returns it and the URL lines should post to.
pub async fn start_connector(args: &Args) -> anyhow::Result<(Arc<Connector>, String)> {
    let connector = Arc::new(Connector {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        answer_fraction: args.answer_fraction,
        answer_ms: args.answer_min_ms..=args.answer_max_ms,
        arrivals: Mutex::new(HashMap::new()),
        unique: AtomicUsize::new(0),
        duplicates: AtomicU64::new(0),
        bad_signatures: AtomicU64::new(0),
        answers_in_flight: AtomicU64::new(0),
        answers_accepted: AtomicU64::new(0),
        answers_refused: AtomicU64::new(0),
        answers_early_409: AtomicU64::new(0),
    });
    let url = rateline_testkit::connector::serve(connector.clone(), receive).await;
    Ok((connector, url))
}
