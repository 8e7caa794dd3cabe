//! How fast the report and the dashboard answer over a big store: seeds N ratings (one
//! million by default) straight into a fresh database, then times every query the
//! dashboard and `GET /v1/stats` make, each the median of five runs.
//!
//! ```sh
//! cargo run --release --example report_bench -- --database postgres
//! cargo run --release --example report_bench -- --database sqlite --ratings 1000000
//! ```
//!
//! The rows: 8 requests in 7 answered, one in 16 expired and one in 16 undeliverable;
//! four lines (two binary, two five-star), five channels, 200 operators (each on one line
//! and every channel), 90 days.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{TimeZone, Utc};
use clap::{Parser, ValueEnum};
use rateline::store::{
    Assignee, Grouping, Handling, InboxFilter, InboxState, RatingKind, ReportFilter, Store,
};
use rateline_domain::{LineSettings, ManagedBy};
use sqlx::Connection;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Db {
    Sqlite,
    Postgres,
}

#[derive(Parser)]
struct Args {
    #[arg(long, value_enum, default_value = "sqlite")]
    database: Db,
    /// Ratings to seed.
    #[arg(long, default_value_t = 1_000_000)]
    ratings: i64,
    /// A PostgreSQL superuser URL: the run creates its own database and drops it after.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pg_admin_url: String,
}

const DAY_MS: i64 = 86_400_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let pg_name = format!("rateline_report_bench_{:08x}", rand::random::<u32>());
    let url = match args.database {
        Db::Sqlite => format!("sqlite://{}", dir.path().join("bench.db").display()),
        Db::Postgres => {
            let mut admin = sqlx::postgres::PgConnection::connect(&args.pg_admin_url).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {pg_name}")))
                .execute(&mut admin)
                .await?;
            let mut url = reqwest::Url::parse(&args.pg_admin_url)?;
            url.set_path(&pg_name);
            url.to_string()
        }
    };
    let result = run(&args, &url).await;
    if args.database == Db::Postgres {
        let mut admin = sqlx::postgres::PgConnection::connect(&args.pg_admin_url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await?;
    }
    result
}

async fn run(args: &Args, url: &str) -> anyhow::Result<()> {
    let store = Store::connect(url, 4).await?;
    store.migrate().await?;
    let start = Utc
        .with_ymd_and_hms(2026, 8, 1, 0, 0, 0)
        .single()
        .context("the seed's start")?;
    for (i, scale) in ["binary", "binary", "five_star", "five_star"]
        .iter()
        .enumerate()
    {
        let settings: LineSettings =
            serde_json::from_value(serde_json::json!({"name": format!("Line {i}"),
                "rating": {"scale": scale}}))?;
        store
            .lines()
            .upsert(&format!("line-{i}"), &settings, ManagedBy::Api, None, start)
            .await?;
    }
    // 8 requests for every 7 ratings.
    let requests = args.ratings * 8 / 7;
    let seeding = Instant::now();
    seed(
        &store,
        args.database,
        url,
        requests,
        start.timestamp_millis(),
    )
    .await?;
    println!(
        "seeded {requests} sessions and requests, {} ratings, in {:.0?}",
        args.ratings,
        seeding.elapsed()
    );
    sizes(args.database, url, args.ratings).await?;

    let now = start + chrono::Duration::days(91);
    let week = ReportFilter {
        from: Some(start + chrono::Duration::days(60)),
        to: Some(start + chrono::Duration::days(67)),
        ..ReportFilter::default()
    };
    let line = ReportFilter {
        line: Some("line-2".into()),
        ..ReportFilter::default()
    };
    let operator = ReportFilter {
        operator: Some("op-17".into()),
        ..ReportFilter::default()
    };
    let all = ReportFilter::default();
    println!("| query | filter | median of 5 |");
    println!("| --- | --- | --- |");
    for (name, f) in [
        ("everything", &all),
        ("one line", &line),
        ("one operator", &operator),
        ("one week", &week),
    ] {
        for by in [
            Grouping::All,
            Grouping::Operator,
            Grouping::Day,
            Grouping::Week,
        ] {
            let t =
                median(|| async { store.reports().report(f, by, now).await.map(|_| ()) }).await?;
            println!("| report by {by:?} | {name} | {} ms |", t.as_millis());
        }
        // The chart of a viewer in another zone than UTC counts the rows, not the rollup.
        let berlin = ReportFilter {
            zone: Some(chrono_tz::Europe::Berlin),
            ..f.clone()
        };
        let t = median(|| async {
            store
                .reports()
                .report(&berlin, Grouping::Day, now)
                .await
                .map(|_| ())
        })
        .await?;
        println!(
            "| report by Day, Europe/Berlin | {name} | {} ms |",
            t.as_millis()
        );
        let t = median(|| async { store.reports().breakdown(f, now).await.map(|_| ()) }).await?;
        println!(
            "| funnel and distribution | {name} | {} ms |",
            t.as_millis()
        );
        // What an operator's profile lists below its numbers: always one operator's.
        let profile = ReportFilter {
            operator: Some("op-17".into()),
            ..f.clone()
        };
        let t = median(|| async {
            store
                .reports()
                .low_ratings(&profile, &[], 20)
                .await
                .map(|_| ())
        })
        .await?;
        println!(
            "| an operator's 20 newest low ratings | {name} | {} ms |",
            t.as_millis()
        );
    }
    inbox(&store, now).await?;
    bulk_close(&store, now).await?;
    export(&store).await?;
    store.close().await;
    Ok(())
}

/// The inbox of low ratings (`/dashboard/inbox`, `GET /v1/ratings`): its first page, a page
/// twenty deep, and the unanswered count every dashboard page shows.
async fn inbox(store: &Store, now: chrono::DateTime<Utc>) -> anyhow::Result<()> {
    let page = |f: InboxFilter| InboxFilter {
        limit: 50,
        page: 1,
        ..f
    };
    let everything = page(InboxFilter::default());
    println!(
        "low ratings in the store: {}",
        store.inbox().count(&everything).await?
    );
    let deep = InboxFilter {
        page: 21,
        ..everything.clone()
    };
    for (name, f) in [
        ("everything", everything.clone()),
        (
            "one line",
            page(InboxFilter {
                line: Some("line-2".into()),
                ..InboxFilter::default()
            }),
        ),
        (
            "a supervisor's two lines",
            page(InboxFilter {
                lines: Some(vec!["line-1".into(), "line-2".into()]),
                ..InboxFilter::default()
            }),
        ),
        (
            "one operator",
            page(InboxFilter {
                operator: Some("op-17".into()),
                ..InboxFilter::default()
            }),
        ),
        ("twenty pages deep", deep),
        (
            "2 ★ only",
            page(InboxFilter {
                value: Some(2),
                ..InboxFilter::default()
            }),
        ),
        (
            "a reason",
            page(InboxFilter {
                reason: Some("rude".into()),
                ..InboxFilter::default()
            }),
        ),
        (
            "with a comment",
            page(InboxFilter {
                has_comment: Some(true),
                ..InboxFilter::default()
            }),
        ),
        (
            "words in the comment",
            page(InboxFilter {
                text: Some("waited 42".into()),
                ..InboxFilter::default()
            }),
        ),
        (
            "assigned to nobody",
            page(InboxFilter {
                assignee: Some(Assignee::Nobody),
                ..InboxFilter::default()
            }),
        ),
        (
            "a supervisor's two lines, unanswered",
            page(InboxFilter {
                lines: Some(vec!["line-1".into(), "line-2".into()]),
                state: Some(InboxState::Unanswered),
                ..InboxFilter::default()
            }),
        ),
    ] {
        let t = median(|| async { store.inbox().page(&f, now).await.map(|_| ()) }).await?;
        println!("| inbox, 50 low ratings | {name} | {} ms |", t.as_millis());
    }
    let unanswered = InboxFilter {
        state: Some(InboxState::Unanswered),
        ..InboxFilter::default()
    };
    let t = median(|| async { store.inbox().count(&unanswered).await.map(|_| ()) }).await?;
    println!(
        "| the unanswered count (every page's header) | everything | {} ms |",
        t.as_millis()
    );
    // What `/dashboard/inbox` runs for one view: the page and the header's count, side by
    // side, for an admin and for a supervisor of two lines.
    for (name, lines) in [
        ("everything", None),
        (
            "a supervisor's two lines",
            Some(vec!["line-1".to_owned(), "line-2".to_owned()]),
        ),
    ] {
        let f = page(InboxFilter {
            lines: lines.clone(),
            ..InboxFilter::default()
        });
        let count = InboxFilter {
            lines,
            ..unanswered.clone()
        };
        let t = median(|| async {
            let (a, b) = tokio::join!(store.inbox().page(&f, now), store.inbox().count(&count));
            a.and(b).map(|_| ())
        })
        .await?;
        println!(
            "| the inbox page's queries (page and count, side by side) | {name} | {} ms |",
            t.as_millis()
        );
    }
    Ok(())
}

/// A bulk close of 50 (the inbox's first page, ticked and closed with a note), as the
/// action runs it: where each rating is, then the close of all in one transaction. Each of
/// the five runs closes the next page's 50, so none closes what is closed already.
async fn bulk_close(store: &Store, now: chrono::DateTime<Utc>) -> anyhow::Result<()> {
    let open = InboxFilter {
        state: Some(InboxState::Unanswered),
        limit: 50,
        page: 1,
        ..InboxFilter::default()
    };
    let mut times = Vec::new();
    for _ in 0..5 {
        let ids: Vec<String> = store
            .inbox()
            .page(&open, now)
            .await?
            .items
            .into_iter()
            .map(|i| i.rating_id)
            .collect();
        let started = Instant::now();
        store.inbox().rating_places(&ids).await?;
        let note = Handling::Close(Some("called back, sorted".into()));
        let closed = store
            .inbox()
            .handle_ratings(&ids, &note, Some("sup-1"), now)
            .await?;
        times.push(started.elapsed());
        anyhow::ensure!(closed == 50, "closed {closed} of the 50 ticked");
    }
    times.sort();
    println!(
        "| a bulk close of 50 (where they are, then the close) | everything | {} ms |",
        times[2].as_millis()
    );
    Ok(())
}

/// Every allocation of this process counted: the bytes held now and the most held since
/// the last reset. RSS would not show the export's memory: the seeding before it leaves the
/// allocator holding far more than the export needs.
struct Counting;

static HELD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; only counts are kept.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        use std::sync::atomic::Ordering::Relaxed;
        let held = HELD.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(held, Relaxed);
        // SAFETY: the caller's layout, as GlobalAlloc requires.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        HELD.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The export of every rating, as CSV: the store's stream, each row written by the `csv`
/// crate into nothing. Its time, and the most memory it held above what was held before.
async fn export(store: &Store) -> anyhow::Result<()> {
    let all = InboxFilter {
        show: RatingKind::All,
        ..InboxFilter::default()
    };
    let before = HELD.load(std::sync::atomic::Ordering::Relaxed);
    PEAK.store(before, std::sync::atomic::Ordering::Relaxed);
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let started = Instant::now();
    let writing = tokio::spawn(async move {
        let mut out = csv::Writer::from_writer(std::io::sink());
        let mut rows = 0u64;
        while let Some(r) = rx.recv().await {
            let r: rateline::store::ExportedRating = r;
            out.write_record([
                r.rated_at.to_rfc3339(),
                r.line_id,
                r.operator_name.or(r.operator_id).unwrap_or_default(),
                r.client_name.unwrap_or(r.client_id),
                r.channel,
                r.value.to_string(),
                r.resolved.map(|b| b.to_string()).unwrap_or_default(),
                r.reasons.join(";"),
                r.comment.unwrap_or_default(),
                r.state.to_owned(),
                r.response.unwrap_or_default(),
                r.appeal.unwrap_or_default(),
                r.evaluation.map(|e| e.to_string()).unwrap_or_default(),
            ])?;
            rows += 1;
        }
        out.flush()?;
        anyhow::Ok(rows)
    });
    let sent = store.reports().each_rating(&all, &tx).await?;
    drop(tx);
    let written = writing.await??;
    let took = started.elapsed();
    let grew = PEAK
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(before);
    anyhow::ensure!(sent == written, "sent {sent}, wrote {written}");
    println!(
        "| the export of every rating as CSV ({written} rows) | everything | {} ms, at most {:.1} MiB held above the start |",
        took.as_millis(),
        grew as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

async fn median<F, Fut>(f: F) -> anyhow::Result<Duration>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), rateline::store::StoreError>>,
{
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        f().await.context("a report query")?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok(times[2])
}

/// Inserts `n` closed sessions with a request each, and the ratings, in three statements
/// over a number series (PostgreSQL's generate_series, SQLite's recursive CTE).
/// What the seeded store takes on disk, table by table with its indexes and TOAST, and a
/// rating's share of it (PostgreSQL; a SQLite store is the one file's size).
async fn sizes(db: Db, url: &str, ratings: i64) -> anyhow::Result<()> {
    if db == Db::Sqlite {
        return Ok(());
    }
    let mut conn = sqlx::postgres::PgConnection::connect(url).await?;
    sqlx::query("VACUUM ANALYZE").execute(&mut conn).await?;
    let rows: Vec<(String, i64, i64, f32)> = sqlx::query_as(
        "SELECT c.relname::text, pg_table_size(c.oid), pg_indexes_size(c.oid), c.reltuples
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND pg_total_relation_size(c.oid) > 65536
         ORDER BY pg_total_relation_size(c.oid) DESC",
    )
    .fetch_all(&mut conn)
    .await?;
    println!("| table | rows | table | indexes | bytes a rating |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let mb = |b: i64| format!("{:.0} MB", b as f64 / 1_048_576.0);
    let mut total = 0;
    for (name, table, indexes, tuples) in rows {
        total += table + indexes;
        println!(
            "| {name} | {tuples:.0} | {} | {} | {} |",
            mb(table),
            mb(indexes),
            (table + indexes) / ratings.max(1)
        );
    }
    println!("| all | | {} | | {} |", mb(total), total / ratings.max(1));
    Ok(())
}

async fn seed(store: &Store, db: Db, url: &str, n: i64, start: i64) -> anyhow::Result<()> {
    let series = match db {
        Db::Postgres => format!("(SELECT i FROM generate_series(1, {n}) AS g(i)) AS s"),
        Db::Sqlite => format!(
            "(WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {n}) \
             SELECT i FROM c) AS s"
        ),
    };
    let concat = |parts: &[&str]| parts.join(" || ");
    let t = format!("({start} + (s.i * {}) / {n})", 90 * DAY_MS);
    let line = concat(&["'line-'", "CAST(s.i % 4 AS TEXT)"]);
    let operator = concat(&["'op-'", "CAST(s.i % 200 AS TEXT)"]);
    // Each operator works one line (as 200 % 4 == 0 makes it) and every channel of it.
    let channel = "CASE (s.i / 7) % 5 WHEN 0 THEN 'telegram' WHEN 1 THEN 'webchat' \
                   WHEN 2 THEN 'whatsapp' WHEN 3 THEN 'messenger' ELSE 'webhook' END";
    let scale = "CASE WHEN s.i % 4 < 2 THEN 'binary' ELSE 'five_star' END";
    let status = "CASE WHEN s.i % 8 <> 0 THEN 'answered' \
                  WHEN s.i % 16 = 0 THEN 'expired' ELSE 'undeliverable' END";
    let sent = format!("CASE WHEN s.i % 16 = 8 THEN NULL ELSE {t} + 3000 END");
    let delivered =
        format!("CASE WHEN (s.i / 7) % 5 IN (1, 2) AND s.i % 16 <> 8 THEN {t} + 4000 END");
    // 👍 eight times in ten; stars spread evenly over 1..5.
    let thumb = "CASE WHEN (s.i * 7) % 10 < 8 THEN 1 ELSE 0 END";
    let stars = "(1 + (s.i * 7) % 5)";
    let statements = [
        format!(
            "INSERT INTO sessions (id, line_id, channel, client_id, operator_id, opened_at,
                 last_message_at, last_client_message_at, closed_at, closed_by)
             SELECT {sid}, {line}, {channel}, {cid}, {operator}, {t} - 600000, {t}, {t}, {t},
                    'operator' FROM {series}",
            sid = concat(&["'s-'", "CAST(s.i AS TEXT)"]),
            cid = concat(&["'c-'", "CAST(s.i AS TEXT)"]),
        ),
        format!(
            "INSERT INTO rating_requests (id, session_id, line_id, channel, operator_id,
                 client_id, scale, status, due_at, send_deadline_at, attempts, created_at,
                 sent_at, delivered_at, answered_at, finished_at, updated_at)
             SELECT {rid}, {sid}, {line}, {channel}, {operator}, {cid}, {scale}, {status},
                    {t} + 3000, {t} + 3600000, 1, {t}, {sent}, {delivered},
                    CASE WHEN s.i % 8 <> 0 THEN {t} + 60000 END, {t} + 60000, {t} + 60000
             FROM {series}",
            rid = concat(&["'r-'", "CAST(s.i AS TEXT)"]),
            sid = concat(&["'s-'", "CAST(s.i AS TEXT)"]),
            cid = concat(&["'c-'", "CAST(s.i AS TEXT)"]),
        ),
        format!(
            "INSERT INTO ratings (id, request_id, session_id, line_id, operator_id, channel,
                 value, positive, low, changes, created_at, updated_at, counts_from, comment)
             SELECT {gid}, {rid}, {sid}, {line}, {operator}, {channel},
                    CASE WHEN s.i % 4 < 2 THEN {thumb} ELSE {stars} END,
                    CASE WHEN s.i % 4 < 2 THEN {thumb} WHEN {stars} >= 4 THEN 1 ELSE 0 END,
                    CASE WHEN s.i % 4 < 2 THEN 1 - {thumb} WHEN {stars} <= 2 THEN 1 ELSE 0 END,
                    0, {t} + 60000, {t} + 60000, {t} + 60000,
                    CASE WHEN s.i % 3 = 0 THEN 'waited ' || CAST(s.i % 97 AS TEXT) || ' minutes' END
             FROM {series}
             WHERE s.i % 8 <> 0",
            gid = concat(&["'g-'", "CAST(s.i AS TEXT)"]),
            rid = concat(&["'r-'", "CAST(s.i AS TEXT)"]),
            sid = concat(&["'s-'", "CAST(s.i AS TEXT)"]),
        ),
        // A reason on one low rating in five, the way a line's reasons are given.
        "INSERT INTO rating_reasons (rating_id, reason)
         SELECT g.id, CASE WHEN g.value = 0 THEN 'slow' ELSE 'rude' END
         FROM ratings g WHERE g.low = 1 AND g.created_at % 5 = 0"
            .to_owned(),
    ];
    let pool = sqlx::AnyPool::connect(url).await?;
    for sql in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .context("seeding")?;
    }
    // The triggers logged every row as a change; a running server folds them every few
    // seconds, and so does this, once.
    let folding = Instant::now();
    let folded = store.reports().fold_rollup().await?;
    println!("folded {folded} changes in {:.0?}", folding.elapsed());
    // Fresh planner statistics and the folded changes' dead rows vacuumed, as a database
    // that has been running would have them (autovacuum sees to both).
    let analyze = match db {
        Db::Postgres => "VACUUM ANALYZE",
        Db::Sqlite => "ANALYZE",
    };
    sqlx::raw_sql(analyze).execute(&pool).await?;
    pool.close().await;
    Ok(())
}
