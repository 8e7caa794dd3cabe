//! `rateline demo`: the whole loop on a temporary SQLite database, in a few seconds.
//!
//! It starts the engine on a free port and a local connector (the `webhook` channel) that
//! plays the clients: it checks each request's signature, shows it, and answers through
//! `POST /v1/ratings` the way a client would — or does not answer at all. Then it closes a
//! few dozen sessions on two lines with three operators, waits for the answers and prints
//! the report.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::settings::Settings;
use crate::startup::Application;
use crate::store::{Grouping, ReportFilter, Store};

/// What `rateline demo` takes: how many sessions, and the seed of the clients' answers.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// How many sessions to close.
    #[arg(long, default_value_t = 36)]
    sessions: usize,
    /// Seed for the clients' answers, to replay a run.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

const SECRET: &str = "demo-connector-secret";
const OPERATORS: [&str; 3] = ["ana", "ben", "chloe"];

struct Connector {
    http: reqwest::Client,
    rng: Mutex<StdRng>,
    answered: Mutex<usize>,
}

/// One piece: the demo's script, a day of a contact center, step by step in the order it prints
/// them.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let db = dir.path().join("demo.db");
    println!(
        "Rateline demo: a temporary SQLite database at {}",
        db.display()
    );

    // The connector: where the engine posts rating requests, standing in for a contact center.
    let connector = Arc::new(Connector {
        http: reqwest::Client::new(),
        rng: Mutex::new(StdRng::seed_from_u64(args.seed)),
        answered: Mutex::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let connector_url = format!("http://{}/rating-requests", listener.local_addr()?);
    let stop = CancellationToken::new();
    let app = Router::new()
        .route("/rating-requests", post(receive))
        .with_state(connector.clone());
    tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .into_future(),
    );

    let mut settings = Settings::load(None)?;
    settings.database.url = format!("sqlite://{}", db.display());
    settings.server.addr = "127.0.0.1:0".into();
    // The demo's connector runs on this machine, which the outbound policy refuses unless
    // its network is allowed.
    settings.outbound.allowed_networks = vec!["127.0.0.0/8".into()];
    let engine = Application::build(settings).await?;
    let api = format!("http://{}", engine.addr());
    println!("engine listening on {api}; connector at {connector_url}\n");
    let server = tokio::spawn(engine.run_until_stopped(stop.clone()));

    let http = reqwest::Client::new();
    for (id, name, scale) in [
        ("support", "Support", "binary"),
        ("sales", "Sales", "five_star"),
    ] {
        put(
            &http,
            &format!("{api}/v1/lines/{id}"),
            json!({
                "name": name,
                "rating": {"scale": scale, "delay_seconds": 1},
                "webhook": {"url": connector_url, "secret": SECRET},
            }),
        )
        .await?;
    }
    for op in OPERATORS {
        put(
            &http,
            &format!("{api}/v1/people/{op}"),
            json!({"name": op, "role": "operator"}),
        )
        .await?;
    }
    println!(
        "two lines (support: 👍/👎, sales: 1–5 ★), operators {}\n",
        OPERATORS.join(", ")
    );

    let mut sessions = Vec::new();
    for i in 0..args.sessions {
        let id = format!("s-{i:03}");
        let line = if i % 2 == 0 { "support" } else { "sales" };
        let op = OPERATORS[i % 3];
        send(
            &http,
            &format!("{api}/v1/sessions"),
            json!({
                "id": id, "line_id": line, "channel": "webhook",
                "client": {"id": format!("client-{i}"), "name": format!("Client {i}")},
                "operator_id": op,
            }),
        )
        .await?;
        send(
            &http,
            &format!("{api}/v1/sessions/{id}/messages"),
            json!({"from": "client"}),
        )
        .await?;
        let closed = send(
            &http,
            &format!("{api}/v1/sessions/{id}/close"),
            json!({"closed_by": "operator"}),
        )
        .await?;
        println!(
            "closed {id} on {line} by {op}: request {} due at {}",
            closed["rating_request"]["status"].as_str().unwrap_or("-"),
            closed["rating_request"]["due_at"].as_str().unwrap_or("-"),
        );
        // Every ninth client writes again at once: the conversation was not over.
        if i % 9 == 4 {
            let r = send(
                &http,
                &format!("{api}/v1/sessions/{id}/messages"),
                json!({"from": "client"}),
            )
            .await?;
            if r["cancelled_request_id"].is_string() {
                println!(
                    "  {id}: the client wrote again before the request was due, so it was cancelled"
                );
            }
        }
        sessions.push(id);
    }

    // Wait until every request has ended or been answered; clients answer within a second.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut open = 0;
        for id in &sessions {
            let s: Value = http
                .get(format!("{api}/v1/sessions/{id}"))
                .send()
                .await?
                .json()
                .await?;
            let status = s["rating_request"]["status"].as_str().unwrap_or("");
            if matches!(status, "scheduled" | "sending") {
                open += 1;
            }
        }
        if open == 0 {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{open} requests were still not sent after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Give the last clients time to answer.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    println!("\n{} clients answered.\n", *connector.answered.lock().await);

    stop.cancel();
    server.await??;
    let store = Store::connect(&format!("sqlite://{}", db.display()), 1).await?;
    for (title, by) in [
        ("By operator", Grouping::Operator),
        ("By line", Grouping::Line),
        ("Overall", Grouping::All),
    ] {
        let groups = store
            .reports()
            .report(&ReportFilter::default(), by, chrono::Utc::now())
            .await?;
        println!(
            "{title}:\n{}",
            crate::report::table(&groups, crate::report::Columns::All)
        );
    }
    store.close().await;
    println!(
        "Run `rateline serve` to start Rateline on ./rateline.db; GET /openapi.json describes the API."
    );
    Ok(())
}

/// The connector's endpoint: check the signature, then let the "client" answer, or not.
async fn receive(State(c): State<Arc<Connector>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signed = headers
        .get(rateline_adapters::webhook::SIGNATURE_HEADER)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| rateline_adapters::webhook::verify(SECRET.as_bytes(), &body, h));
    if !signed {
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let (answers, value, wait) = {
        let mut rng = c.rng.lock().await;
        let five = req["scale"] == "five_star";
        let value: i64 = if five {
            *[5, 5, 4, 4, 4, 3, 2, 1, 5, 4]
                .get(rng.random_range(0..10))
                .unwrap_or(&5)
        } else {
            i64::from(rng.random_bool(0.8))
        };
        (rng.random_bool(0.8), value, rng.random_range(50..600))
    };
    let shown = if req["scale"] == "five_star" {
        "★".repeat(value as usize)
    } else if value == 1 {
        "👍".into()
    } else {
        "👎".into()
    };
    if answers {
        let c = c.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let answer = json!({"request_id": req["request_id"], "value": value});
            let url = req["answer_url"].as_str().unwrap_or_default();
            if let Ok(r) = c.http.post(url).json(&answer).send().await
                && r.status().is_success()
            {
                *c.answered.lock().await += 1;
                println!(
                    "  {} ({}) rated {shown}",
                    req["client"]["name"].as_str().unwrap_or("?"),
                    req["session_id"].as_str().unwrap_or("?")
                );
            }
        });
    }
    StatusCode::OK
}

async fn put(http: &reqwest::Client, url: &str, body: Value) -> anyhow::Result<Value> {
    check(http.put(url).json(&body).send().await?).await
}

async fn send(http: &reqwest::Client, url: &str, body: Value) -> anyhow::Result<Value> {
    check(http.post(url).json(&body).send().await?).await
}

async fn check(r: reqwest::Response) -> anyhow::Result<Value> {
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("the engine answered {status}: {body}");
    }
    Ok(body)
}
