//! The floor under the load generator: a server that speaks the part of Rateline's API that
//! `examples/loadgen` uses, with none of Rateline behind it.
//!
//! It keeps lines in memory, answers an open with 201 and a close with a request id and due
//! time, sends each request to the line's connector at its due time (signed, as the
//! `webhook` channel does) from an in-memory timer, and takes answers with 201. Nothing is
//! stored, nothing survives a crash, nothing is retried. Run the load generator against it
//! and what it measures is what the HTTP exchanges of a close (open, close, the signed send
//! and half an answer, each parsed as JSON) cost on this machine, with the load generator
//! and the connector sharing its cores: no server of this shape can close faster here.
//!
//! ```text
//! cargo build --release --example null_server --example loadgen
//! target/release/examples/loadgen --server target/release/examples/null_server --closes 20000
//! ```
//!
//! It reads the address from `RATELINE__SERVER__ADDR` like `rateline serve`, takes the
//! `serve` argument, and exits on SIGTERM.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use chrono::Utc;
use serde_json::{Value, json};

#[derive(Clone)]
struct Line {
    delay: Duration,
    url: String,
    secret: String,
}

struct Null {
    lines: RwLock<HashMap<String, Line>>,
    /// The line of each open session.
    sessions: RwLock<HashMap<String, (String, Value)>>,
    next: AtomicU64,
    http: reqwest::Client,
    answer_url: String,
}

#[tokio::main]
async fn main() {
    let addr = std::env::var("RATELINE__SERVER__ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .expect("binding the address");
    let state = Arc::new(Null {
        lines: RwLock::default(),
        sessions: RwLock::default(),
        next: AtomicU64::new(0),
        http: reqwest::Client::new(),
        answer_url: format!("http://{addr}/v1/ratings"),
    });
    let app = Router::new()
        .route("/readyz", get(|| async { "ok" }))
        .route("/metrics", get(|| async { "" }))
        .route("/v1/lines/{id}", put(put_line))
        .route("/v1/sessions", post(open))
        .route("/v1/sessions/{id}/close", post(close))
        .route(
            "/v1/ratings",
            post(|Json(_): Json<Value>| async { (StatusCode::CREATED, Json(json!({}))) }),
        )
        .with_state(state);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            term.recv().await;
        })
        .await
        .expect("serving");
}

async fn put_line(
    State(s): State<Arc<Null>>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> StatusCode {
    let line = Line {
        delay: Duration::from_secs(body["rating"]["delay_seconds"].as_u64().unwrap_or(0)),
        url: body["webhook"]["url"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        secret: body["webhook"]["secret"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    };
    s.lines.write().expect("lines").insert(id, line);
    StatusCode::OK
}

async fn open(State(s): State<Arc<Null>>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let id = body["id"].as_str().unwrap_or_default().to_owned();
    let line = body["line_id"].as_str().unwrap_or_default().to_owned();
    let client = body["client"].clone();
    s.sessions
        .write()
        .expect("sessions")
        .insert(id.clone(), (line, client));
    (StatusCode::CREATED, Json(json!({"id": id})))
}

async fn close(
    State(s): State<Arc<Null>>,
    Path(id): Path<String>,
    Json(_): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let Some((line_id, client)) = s.sessions.write().expect("sessions").remove(&id) else {
        return (StatusCode::NOT_FOUND, Json(json!({})));
    };
    let Some(line) = s.lines.read().expect("lines").get(&line_id).cloned() else {
        return (StatusCode::NOT_FOUND, Json(json!({})));
    };
    let request_id = format!("null-{}", s.next.fetch_add(1, Ordering::Relaxed));
    let due = Utc::now() + chrono::Duration::from_std(line.delay).unwrap_or_default();
    let body = json!({
        "request_id": request_id, "session_id": id, "line_id": line_id, "client": client,
        "scale": "binary", "text": "Please rate the quality of service",
        "answer_url": s.answer_url,
    });
    let send = s.clone();
    tokio::spawn(async move {
        tokio::time::sleep(line.delay).await;
        let body = serde_json::to_vec(&body).expect("JSON");
        let signature = rateline_adapters::webhook::sign(line.secret.as_bytes(), &body);
        let _ = send
            .http
            .post(&line.url)
            .header(rateline_adapters::webhook::SIGNATURE_HEADER, signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
    });
    (
        StatusCode::ACCEPTED,
        Json(
            json!({"rating_request": {"id": request_id, "status": "scheduled", "due_at": due.to_rfc3339()}}),
        ),
    )
}
