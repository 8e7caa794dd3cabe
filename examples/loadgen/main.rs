//! Load generator: drives N closes through the HTTP API of a `rateline serve` child process,
//! with rating delays of 0 and 1 s, to a local connector that answers, and prints closes/s
//! accepted, requests/s delivered and the lateness of the deliveries (arrival − due).
//!
//! ```text
//! cargo build --release --bin rateline --example loadgen
//! target/release/examples/loadgen --database sqlite --closes 20000
//! target/release/examples/loadgen --database postgres --closes 20000 --rate 500
//! target/release/examples/loadgen --database postgres --seed-pending 1000000 --closes 0
//! target/release/examples/loadgen --database postgres --servers 2 --closes 20000
//! target/release/examples/loadgen --database sqlite --webchat-every 4 --closes 20000
//! ```
//!
//! Each run uses a fresh database (a file in a temporary directory, or a new PostgreSQL
//! database `rateline_bench_<random>` that is dropped at the end) and its own free port.
//! With `--seed-pending M` it first migrates the database with `rateline migrate`, inserts
//! M requests due in an hour directly with SQL, starts the server, lets it settle and
//! reports its memory with that backlog; the closes then run on top of the backlog. With
//! `--servers N` it starts N servers on the one PostgreSQL database, as a deployment behind
//! a load balancer would run, and the closes take turns between them. At the end it prints
//! the servers' CPU time a close, read from `/proc`.
//!
//! The pieces: [`database`] makes the fresh database and seeds the backlog, [`connector`]
//! is the webhook receiver that plays the contact center, [`server`] runs the `rateline`
//! child process, [`load`] makes the closes, and [`report`] turns what was measured into
//! the printed summary and table. [`run`] here puts them together.

mod connector;
mod database;
mod load;
mod report;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};

use crate::connector::start_connector;
use crate::database::Database;
use crate::load::{Plan, call, worker};
use crate::report::metric;
use crate::server::{cpu_seconds, memory_mb, migrate, start_server};

/// The webhook secret of the bench lines and of the seeded one.
const SECRET: &str = "bench-secret-0123456789";
const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The store the server runs on.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Db {
    Sqlite,
    Postgres,
}

impl Db {
    fn name(self) -> &'static str {
        match self {
            Db::Sqlite => "sqlite",
            Db::Postgres => "postgres",
        }
    }
}

/// Drives closes through a `rateline serve` child process and measures the deliveries.
#[derive(Parser)]
#[command(name = "loadgen")]
struct Args {
    /// The store the server runs on: a fresh SQLite file or a fresh PostgreSQL database.
    #[arg(long, value_enum, default_value = "sqlite")]
    database: Db,
    /// How many sessions to open and close.
    #[arg(long, default_value_t = 20_000)]
    closes: usize,
    /// Target closes per second; 0 closes as fast as the concurrency allows.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// HTTP calls in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The rateline binary to start.
    #[arg(long, default_value = "target/release/rateline")]
    server: PathBuf,
    /// Requests (due in an hour) to insert with SQL before the server starts.
    #[arg(long, default_value_t = 0)]
    seed_pending: u64,
    /// The rating delays of the two lines the sessions alternate between, in seconds. With
    /// delays past the run (e.g. `3600,3600`) nothing is sent: the API path alone is measured.
    #[arg(long, value_delimiter = ',', default_values_t = [0, 1])]
    delay_seconds: Vec<u32>,
    /// The share of requests the connector answers through `answer_url`.
    #[arg(long, default_value_t = 0.5)]
    answer_fraction: f64,
    /// The least a client takes to answer after the request arrives, in ms.
    #[arg(long, default_value_t = 50)]
    answer_min_ms: u64,
    /// The most a client takes to answer after the request arrives, in ms.
    #[arg(long, default_value_t = 500)]
    answer_max_ms: u64,
    /// Seconds to let the server settle after start before reading its memory (seed mode).
    #[arg(long, default_value_t = 5)]
    settle_seconds: u64,
    /// Seconds to wait for the connector to see every request after the last close.
    #[arg(long, default_value_t = 120)]
    wait_seconds: u64,
    /// PostgreSQL maintenance database the bench database is created from.
    #[arg(long, default_value = PG_ADMIN_URL)]
    pg_admin_url: String,
    /// Copy the server's log (stderr) here; by default it lives in the temporary directory.
    #[arg(long)]
    server_log: Option<PathBuf>,
    /// `rateline serve` processes sharing the database (PostgreSQL only); the closes take
    /// turns between them, a session's open and close going to the same one.
    #[arg(long, default_value_t = 1)]
    servers: usize,
    /// Every this many closes one is a web chat session, answered through the widget's
    /// endpoints after its close (see the `load` module); 0: none.
    #[arg(long, default_value_t = 0)]
    webchat_every: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if !(0.0..=1.0).contains(&args.answer_fraction)
        || args.rate < 0.0
        || args.concurrency == 0
        || args.answer_min_ms > args.answer_max_ms
        || args.delay_seconds.len() != 2
        || args.servers == 0
        || (args.servers > 1 && args.database != Db::Postgres)
    {
        eprintln!(
            "error: --answer-fraction must be 0..=1, --rate ≥ 0, --concurrency ≥ 1, \
             --answer-min-ms ≤ --answer-max-ms, --delay-seconds two numbers (A,B) and \
             --servers ≥ 1 (more than one only with --database postgres)"
        );
        return ExitCode::FAILURE;
    }
    let db = match Database::create(&args).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = tokio::select! {
        r = run(&args, &db) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    // Whatever happened, the bench database goes (a server still running was killed on drop).
    if let Err(e) = db.drop_it(&args).await {
        eprintln!("warning: could not remove the bench database: {e:#}");
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// One run: connector, optional seeded backlog, server, lines, the close phase, the wait
/// for the deliveries, the server stopped, and the report.
async fn run(args: &Args, db: &Database) -> anyhow::Result<()> {
    if !args.server.is_file() {
        bail!(
            "no server binary at {}; build it with `cargo build --release --bin rateline` or pass --server",
            args.server.display()
        );
    }
    let rate = if args.rate > 0.0 {
        format!("{} closes/s", args.rate)
    } else {
        "unlimited".into()
    };
    println!(
        "rateline loadgen: {}, {} closes, rate {rate}, concurrency {}, connector answers {:.0}%",
        db.label(),
        args.closes,
        args.concurrency,
        args.answer_fraction * 100.0
    );
    let (connector, connector_url) = start_connector(args).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(args.concurrency)
        .build()?;

    if args.seed_pending > 0 {
        migrate(args, db).await?;
        let t = Instant::now();
        db.seed(args.seed_pending, &connector_url)
            .await
            .context("seeding the pending requests")?;
        println!(
            "seeded {} pending requests (due in 1 h) in {:.1} s",
            args.seed_pending,
            t.elapsed().as_secs_f64()
        );
    }

    let started = Instant::now();
    let server = start_server(args, db, &http, 0).await?;
    println!(
        "server pid {} ready at {} in {:.2} s",
        server.pid,
        server.api,
        started.elapsed().as_secs_f64()
    );
    // The others start once the first has migrated the database.
    let mut others = Vec::new();
    for i in 1..args.servers {
        let other = start_server(args, db, &http, i).await?;
        println!("server pid {} ready at {}", other.pid, other.api);
        others.push(other);
    }
    let mut idle_rss = None;
    if args.seed_pending > 0 {
        tokio::time::sleep(Duration::from_secs(args.settle_seconds)).await;
        let (rss, hwm) = memory_mb(server.pid).context("reading the server's memory")?;
        println!(
            "with {} pending, after {} s: server RSS {rss:.1} MB (peak {hwm:.1} MB)",
            args.seed_pending, args.settle_seconds
        );
        idle_rss = Some(rss);
        // The server reads the seeded rows as its own, and counts them as queued.
        let seeded = call(
            &http,
            reqwest::Method::GET,
            &format!("{}/v1/sessions/seed-s-1", server.api),
            &Value::Null,
        )
        .await
        .map_err(anyhow::Error::msg)?;
        let t = Instant::now();
        let metrics = http
            .get(format!("{}/metrics", server.api))
            .send()
            .await?
            .text()
            .await?;
        println!(
            "seeded request reads back as '{}'; /metrics reports queue depth {} (scrape took {:.0} ms)",
            seeded["rating_request"]["status"].as_str().unwrap_or("?"),
            metric(&metrics, "rateline_queue_depth").map_or("?".into(), |d| d.to_string()),
            t.elapsed().as_secs_f64() * 1000.0
        );
    }

    for (id, delay) in [
        ("bench", args.delay_seconds[0]),
        ("bench1", args.delay_seconds[1]),
    ] {
        let name = format!("Bench, {delay} s delay");
        call(
            &http,
            reqwest::Method::PUT,
            &format!("{}/v1/lines/{id}", server.api),
            &json!({
                "name": name,
                "rating": {"scale": "binary", "delay_seconds": delay},
                "webhook": {"url": connector_url, "secret": SECRET},
            }),
        )
        .await
        .map_err(anyhow::Error::msg)?;
    }

    // The close phase.
    let phase_start_wall = Utc::now();
    let phase_start = Instant::now();
    let plan = Arc::new(Plan {
        http: http.clone(),
        apis: std::iter::once(&server)
            .chain(&others)
            .map(|s| s.api.clone())
            .collect(),
        run: format!("b{:06x}", rand::random::<u32>() & 0xff_ffff),
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        n: args.closes,
        rate: args.rate,
        start: phase_start,
        webchat_every: args.webchat_every,
    });
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.min(args.closes.max(1)) {
        workers.spawn(worker(plan.clone()));
    }
    let progress = {
        let plan = plan.clone();
        let connector = connector.clone();
        let n = args.closes;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            tick.tick().await;
            loop {
                tick.tick().await;
                eprintln!(
                    "  … {:.0} s: {}/{n} closed, {} delivered",
                    phase_start.elapsed().as_secs_f64(),
                    plan.done.load(Ordering::Relaxed),
                    connector.unique.load(Ordering::Relaxed)
                );
            }
        })
    };
    let mut closed = Vec::with_capacity(args.closes);
    let mut cards = Vec::new();
    let mut errors = Vec::new();
    while let Some(r) = workers.join_next().await {
        let r = r.context("a close worker panicked")?;
        closed.extend(r.closed);
        cards.extend(r.cards);
        errors.extend(r.errors);
    }
    let phase = phase_start.elapsed();

    // Wait for every request of ours to reach the connector.
    let wait_until = Instant::now() + Duration::from_secs(args.wait_seconds);
    let expected = closed.len();
    let mine_delivered = || {
        let arrivals = connector.arrivals.lock().expect("arrivals lock");
        closed
            .iter()
            .filter(|c| arrivals.contains_key(&c.request_id))
            .count()
    };
    let mut timed_out = false;
    loop {
        if connector.unique.load(Ordering::Relaxed) >= expected && mine_delivered() >= expected {
            break;
        }
        if Instant::now() > wait_until {
            timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    progress.abort();
    // Let the answers in flight land, so the server's write path is part of the run.
    let answers_until = Instant::now() + Duration::from_secs(15);
    while connector.answers_in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < answers_until
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The server's own view, as a cross-check.
    let metrics = http
        .get(format!("{}/metrics", server.api))
        .send()
        .await
        .ok();
    let metrics = match metrics {
        Some(r) => r.text().await.unwrap_or_default(),
        None => String::new(),
    };
    let (rss_end, hwm) = memory_mb(server.pid).context("reading the server's memory")?;
    let cpu: f64 = std::iter::once(&server)
        .chain(&others)
        .filter_map(|s| cpu_seconds(s.pid))
        .sum();
    let closes = closed.len() + cards.len();
    if closes > 0 {
        println!(
            "server CPU over the whole run: {:.3} ms a close ({} process{}, summed)",
            cpu * 1000.0 / closes as f64,
            args.servers,
            if args.servers == 1 { "" } else { "es" }
        );
    }
    for other in others {
        let (pid, memory) = (other.pid, memory_mb(other.pid));
        match (other.stop().await, memory) {
            (Ok((took, status)), Some((rss, hwm))) => println!(
                "server pid {pid}: peak RSS {hwm:.1} MB, at the end {rss:.1} MB; stopped in \
                 {:.2} s with {status}",
                took.as_secs_f64()
            ),
            (Err(e), _) => println!("server pid {pid} stop: {e:#}"),
            (Ok(_), None) => println!("server pid {pid}: memory unreadable"),
        }
    }
    let log = server.log.clone();
    let pid = server.pid;
    let stopped = server.stop().await;
    if let Some(to) = &args.server_log {
        std::fs::copy(&log, to)
            .with_context(|| format!("copying the server log to {}", to.display()))?;
    }

    let delivered = report::print(report::Outcome {
        args,
        backend: db.kind,
        closed: &closed,
        cards: &mut cards,
        errors: &errors,
        timed_out,
        phase,
        phase_start_wall,
        connector: &connector,
        metrics: &metrics,
        pid,
        idle_rss,
        rss_end,
        hwm,
        stopped: &stopped,
        log: &log,
    });
    stopped?;
    match db.writes().await {
        Ok(Some((tables, commits))) => report::print_writes(&tables, commits, closes),
        Ok(None) => {}
        Err(e) => println!("PostgreSQL's write counts unreadable: {e:#}"),
    }
    if timed_out {
        bail!(
            "only {delivered} of {expected} requests reached the connector within {} s",
            args.wait_seconds
        );
    }
    Ok(())
}
