//! The results of a run: lateness and close-call percentiles from what the workers and the
//! connector recorded, the server's own numbers parsed from its `/metrics` exposition, the
//! summary lines, and the Markdown table row that goes into the benchmark notes.

use std::path::Path;
use std::process::ExitStatus;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::connector::Connector;
use crate::load::Closed;
use crate::server::log_summary;
use crate::{Args, Db};

/// Everything a run measured, for [`print`].
pub struct Outcome<'a> {
    pub args: &'a Args,
    pub backend: Db,
    /// The closes the server accepted, with the requests they scheduled.
    pub closed: &'a [Closed],
    /// For each web chat close, ms from the close's answer to the card's answer.
    pub cards: &'a mut [f64],
    pub errors: &'a [String],
    /// Whether `--wait-seconds` ran out before every request reached the connector.
    pub timed_out: bool,
    /// How long the close phase took.
    pub phase: Duration,
    /// When the close phase began, on the wall clock the arrivals are stamped with.
    pub phase_start_wall: DateTime<Utc>,
    pub connector: &'a Connector,
    /// The server's `/metrics` exposition at the end (empty if it could not be read).
    pub metrics: &'a str,
    pub pid: u32,
    /// RSS in MB after the settle time with the seeded backlog (seed mode only).
    pub idle_rss: Option<f64>,
    pub rss_end: f64,
    /// Peak RSS (VmHWM) in MB.
    pub hwm: f64,
    pub stopped: &'a anyhow::Result<(Duration, ExitStatus)>,
    pub log: &'a Path,
}

/// Prints the summary lines and the table; returns how many of the run's requests reached
/// the connector.
pub fn print(o: Outcome<'_>) -> usize {
    let Outcome {
        args,
        backend,
        closed,
        cards,
        errors,
        timed_out,
        phase,
        phase_start_wall,
        connector,
        metrics,
        pid,
        idle_rss,
        rss_end,
        hwm,
        stopped,
        log,
    } = o;
    let expected = closed.len();

    // The numbers.
    let arrivals = connector.arrivals.lock().expect("arrivals lock").clone();
    let mut lateness = Vec::with_capacity(closed.len());
    let mut early = 0usize;
    let mut last_arrival: Option<DateTime<Utc>> = None;
    for c in closed {
        if let Some(a) = arrivals.get(&c.request_id) {
            let late = (*a - c.due_at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0;
            if late < 0.0 {
                early += 1;
            }
            lateness.push(late.max(0.0));
            last_arrival = Some(last_arrival.map_or(*a, |l| l.max(*a)));
        }
    }
    lateness.sort_by(f64::total_cmp);
    let mut close_ms: Vec<f64> = closed.iter().map(|c| c.close_ms).collect();
    close_ms.sort_by(f64::total_cmp);
    let delivered = lateness.len();
    let unexpected = arrivals.len() - delivered;
    let closes_per_s = (closed.len() + cards.len()) as f64 / phase.as_secs_f64();
    cards.sort_by(f64::total_cmp);
    let delivery_span = last_arrival.map(|l| (l - phase_start_wall).as_seconds_f64());
    let delivered_per_s = delivery_span.map_or(0.0, |s| delivered as f64 / s);

    if args.closes > 0 {
        println!(
            "close phase: {} closes in {:.2} s → {closes_per_s:.1} closes/s accepted; {} errors; \
             close call p50 {:.1} ms, p99 {:.1} ms",
            closed.len() + cards.len(),
            phase.as_secs_f64(),
            errors.len(),
            pct(&close_ms, 0.50),
            pct(&close_ms, 0.99),
        );
        for e in errors.iter().take(5) {
            println!("  error: {e}");
        }
        if !cards.is_empty() {
            println!(
                "web chat: {} cards shown, acknowledged and answered through the widget's \
                 endpoints; from the close's answer to the card's, p50 {:.1} ms, p99 {:.1} ms",
                cards.len(),
                pct(cards, 0.50),
                pct(cards, 0.99),
            );
        }
        println!(
            "deliveries: {delivered}/{expected}{} in {:.2} s from the first close → \
             {delivered_per_s:.1} requests/s delivered",
            if timed_out { " (TIMED OUT)" } else { "" },
            delivery_span.unwrap_or(f64::NAN),
        );
        println!(
            "lateness (arrival − due_at, clamped at 0): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
             {early} arrived before due",
            pct(&lateness, 0.50),
            pct(&lateness, 0.99),
            lateness.last().copied().unwrap_or(f64::NAN),
        );
    }
    println!(
        "connector: {} duplicates, {} bad signatures, {unexpected} unexpected request ids; \
         answers accepted {}, refused {}, 409-before-sent retries {}",
        connector.duplicates.load(Ordering::Relaxed),
        connector.bad_signatures.load(Ordering::Relaxed),
        connector.answers_accepted.load(Ordering::Relaxed),
        connector.answers_refused.load(Ordering::Relaxed),
        connector.answers_early_409.load(Ordering::Relaxed),
    );
    if let (Some(sum), Some(count)) = (
        metric(metrics, "rateline_send_lateness_seconds_sum"),
        metric(metrics, "rateline_send_lateness_seconds_count"),
    ) && count > 0.0
    {
        let whose = if args.servers > 1 {
            " (the first server's sends only)"
        } else {
            ""
        };
        println!(
            "server's own view{whose}: {count:.0} sends accepted, mean lateness (accepted − due) \
             {:.1} ms",
            sum / count * 1000.0
        );
    }
    println!("server pid {pid}: peak RSS (VmHWM) {hwm:.1} MB, RSS at the end {rss_end:.1} MB");
    match stopped {
        Ok((took, status)) => println!(
            "server stopped on SIGTERM in {:.2} s with {status}",
            took.as_secs_f64()
        ),
        Err(e) => println!("server stop: {e:#}"),
    }
    let (warns, errs, samples) = log_summary(log);
    println!("server log: {warns} warnings, {errs} errors");
    for s in &samples {
        println!("  {}", s.chars().take(300).collect::<String>());
    }

    println!();
    println!(
        "| backend | closes | target rate | concurrency | pending seeded | closes/s | requests/s \
         | lateness p50 ms | p99 ms | max ms | peak RSS MB | idle RSS MB | duplicates |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {} | {:.0} | {:.0} | {} | {} | {} | {:.0} | {} | {} |",
        backend.name(),
        closed.len() + cards.len(),
        if args.rate > 0.0 {
            format!("{}", args.rate)
        } else {
            "max".into()
        },
        args.concurrency,
        args.seed_pending,
        closes_per_s,
        delivered_per_s,
        ms(pct(&lateness, 0.50)),
        ms(pct(&lateness, 0.99)),
        ms(lateness.last().copied().unwrap_or(f64::NAN)),
        hwm,
        idle_rss.map_or("–".into(), |r| format!("{r:.0}")),
        connector.duplicates.load(Ordering::Relaxed),
    );
    delivered
}

/// The value of the first sample of `name` in a Prometheus text exposition.
pub fn metric(exposition: &str, name: &str) -> Option<f64> {
    exposition
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
}

/// A number of ms for the table, or "–" when there is none.
fn ms(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.0}")
    } else {
        "–".into()
    }
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Prints what PostgreSQL wrote a close, table by table: the figure deliverable work on the
/// store's rows is measured by (`docs/performance.md`).
pub fn print_writes(tables: &[crate::database::TableWrites], commits: i64, closes: usize) {
    if closes == 0 {
        return;
    }
    let per = |n: i64| n as f64 / closes as f64;
    println!("rows written a close (pg_stat_user_tables; updates: all / without index entries):");
    let mut total = 0.0;
    for t in tables {
        let all = per(t.inserted + t.updated + t.deleted);
        total += all;
        println!(
            "  {:<22} {all:>5.2}: inserted {:.2}, updated {:.2} / {:.2}, deleted {:.2}",
            t.table,
            per(t.inserted),
            per(t.updated),
            per(t.hot),
            per(t.deleted)
        );
    }
    println!("  {:<22} {total:>5.2}", "all tables");
    println!("transactions committed a close: {:.2}", per(commits));
}
