//! The load itself: the close workers that share a [`Plan`], each opening a session and
//! closing it through the HTTP API (on an open schedule when `--rate` is set) and keeping
//! the request id and due time the close scheduled, plus the JSON call they all use. With
//! `--webchat-every N`, every Nth session is a web chat: after its close the worker plays
//! the widget (a token, the live connection until the card comes, the acknowledgement and
//! the answer), as [`widget`] says.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// What one close left behind.
pub struct Closed {
    pub request_id: String,
    pub due_at: DateTime<Utc>,
    pub close_ms: f64,
}

/// What one close worker did: the closes it made and the errors it met.
#[derive(Default)]
pub struct WorkerResult {
    pub closed: Vec<Closed>,
    /// For each web chat close, ms from the close's answer to the card's answer accepted.
    pub cards: Vec<f64>,
    pub errors: Vec<String>,
}

/// One JSON call to the API (no body when `body` is null): the response body, or the
/// method, URL, status and body of a failure.
pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: &Value,
) -> Result<Value, String> {
    let mut req = http.request(method.clone(), url);
    if !body.is_null() {
        req = req.json(body);
    }
    let r = req
        .send()
        .await
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!("{method} {url}: {status} {v}"));
    }
    Ok(v)
}

/// What the close workers share.
pub struct Plan {
    pub http: reqwest::Client,
    /// The servers' API roots; close `i` goes to `apis[i % len]`.
    pub apis: Vec<String>,
    /// Prefix of this run's session ids.
    pub run: String,
    /// The next close to make.
    pub next: AtomicUsize,
    /// Closes accepted so far.
    pub done: AtomicUsize,
    /// How many closes to make in all.
    pub n: usize,
    /// Target closes per second; 0 for as fast as the workers go.
    pub rate: f64,
    /// When the close phase began.
    pub start: Instant,
    /// Every this many closes one is a web chat answered through the widget; 0: none.
    pub webchat_every: usize,
}

/// Takes the next close of the plan until there are none left: opens the session on
/// `bench` (even) or `bench1` (odd), then closes it and times the close call.
pub async fn worker(plan: Arc<Plan>) -> WorkerResult {
    let Plan {
        http, apis, run, ..
    } = &*plan;
    let mut out = WorkerResult::default();
    loop {
        let i = plan.next.fetch_add(1, Ordering::Relaxed);
        if i >= plan.n {
            return out;
        }
        if plan.rate > 0.0 {
            // Close i is due at start + i/rate: an open schedule, bounded by the workers.
            let at = plan.start + Duration::from_secs_f64(i as f64 / plan.rate);
            tokio::time::sleep_until(at.into()).await;
        }
        let api = &apis[i % apis.len()];
        let id = format!("{run}-{i}");
        let webchat = plan.webchat_every > 0 && i % plan.webchat_every == plan.webchat_every - 1;
        // A web chat's card is due at once, so the widget's wait is Rateline's alone.
        let line = if i.is_multiple_of(2) || webchat {
            "bench"
        } else {
            "bench1"
        };
        let channel = if webchat { "webchat" } else { "webhook" };
        let opened = call(
            http,
            reqwest::Method::POST,
            &format!("{api}/v1/sessions"),
            &json!({
                "id": id, "line_id": line, "channel": channel,
                "client": {"id": format!("client-{i}")},
                "operator_id": format!("op-{}", i % 20),
            }),
        )
        .await;
        if let Err(e) = opened {
            out.errors.push(e);
            continue;
        }
        let t = Instant::now();
        let closed = call(
            http,
            reqwest::Method::POST,
            &format!("{api}/v1/sessions/{id}/close"),
            &json!({"closed_by": "operator"}),
        )
        .await;
        let close_ms = t.elapsed().as_secs_f64() * 1000.0;
        if webchat {
            let t = Instant::now();
            let answered = match closed {
                Ok(_) => widget(http, api, &id).await,
                Err(e) => Err(e),
            };
            match answered {
                Ok(()) => {
                    out.cards.push(t.elapsed().as_secs_f64() * 1000.0);
                    plan.done.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => out.errors.push(e),
            }
            continue;
        }
        match closed {
            Ok(v) => {
                let r = &v["rating_request"];
                let due = r["due_at"]
                    .as_str()
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
                match (r["id"].as_str(), due) {
                    (Some(rid), Some(due)) => {
                        out.closed.push(Closed {
                            request_id: rid.to_owned(),
                            due_at: due.with_timezone(&Utc),
                            close_ms,
                        });
                        plan.done.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => out
                        .errors
                        .push(format!("close of {id} scheduled no request: {v}")),
                }
            }
            Err(e) => out.errors.push(e),
        }
    }
}

/// Plays the widget of web chat session `id` after its close, as a page would: a token
/// (`POST /v1/sessions/{id}/webchat-token`), the live connection (`GET /webchat/events`)
/// until its `card` event, the acknowledgement (`POST /webchat/ack`), and a 👍 with
/// "resolved" (`POST /webchat/answer`, which must answer 201).
async fn widget(http: &reqwest::Client, api: &str, id: &str) -> Result<(), String> {
    let minted = call(
        http,
        reqwest::Method::POST,
        &format!("{api}/v1/sessions/{id}/webchat-token"),
        &Value::Null,
    )
    .await?;
    let token = minted["token"]
        .as_str()
        .ok_or("a token without its token")?;
    let url = format!("{api}/webchat/events");
    let mut events = http
        .get(&url)
        .query(&[("token", token)])
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !events.status().is_success() {
        return Err(format!("GET {url}: {}", events.status()));
    }
    // Server-sent events: blocks apart by a blank line, `event:` and `data:` lines in each.
    let mut text = String::new();
    let request_id = loop {
        let chunk = events
            .chunk()
            .await
            .map_err(|e| format!("reading {url}: {e}"))?
            .ok_or_else(|| format!("{url} ended before a card"))?;
        text.push_str(&String::from_utf8_lossy(&chunk));
        let card = text.split("\n\n").find_map(|block| {
            if !block.lines().any(|l| l == "event: card") {
                return None;
            }
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            let card: Value = serde_json::from_str(data).ok()?;
            card["request_id"].as_str().map(str::to_owned)
        });
        if let Some(request_id) = card {
            break request_id;
        }
    };
    drop(events);
    call(
        http,
        reqwest::Method::POST,
        &format!("{api}/webchat/ack"),
        &json!({"token": token, "request_id": request_id}),
    )
    .await?;
    call(
        http,
        reqwest::Method::POST,
        &format!("{api}/webchat/answer"),
        &json!({"token": token, "request_id": request_id, "value": 1, "resolved": true}),
    )
    .await?;
    Ok(())
}
