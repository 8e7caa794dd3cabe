//! The fresh database each run gets: a SQLite file in a temporary directory, or a new
//! PostgreSQL database `rateline_bench_<random>` that is dropped at the end; and, for
//! `--seed-pending`, the bulk insert of requests due in an hour straight into its tables.

use anyhow::Context;
use chrono::Utc;
use serde_json::json;
use sqlx::Connection;

use crate::{Args, Db, SECRET};

/// The database of one run, and the temporary directory that holds its files.
pub struct Database {
    pub kind: Db,
    pub url: String,
    /// Holds the SQLite file and the server log; removed on drop.
    pub dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl Database {
    pub async fn create(args: &Args) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("rateline-loadgen-")
            .tempdir()
            .context("creating a temporary directory")?;
        match args.database {
            Db::Sqlite => Ok(Self {
                kind: Db::Sqlite,
                url: format!("sqlite://{}", dir.path().join("bench.db").display()),
                dir,
                pg_name: None,
            }),
            Db::Postgres => {
                let name = format!("rateline_bench_{:08x}", rand::random::<u32>());
                let mut admin = sqlx::postgres::PgConnection::connect(&args.pg_admin_url)
                    .await
                    .with_context(|| format!("connecting to {}", args.pg_admin_url))?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .with_context(|| format!("creating database {name}"))?;
                admin.close().await.ok();
                let mut url = reqwest::Url::parse(&args.pg_admin_url)
                    .context("--pg-admin-url is not a URL")?;
                url.set_path(&name);
                Ok(Self {
                    kind: Db::Postgres,
                    url: url.to_string(),
                    dir,
                    pg_name: Some(name),
                })
            }
        }
    }

    pub fn label(&self) -> String {
        match &self.pg_name {
            Some(n) => format!("postgres ({n})"),
            None => format!("sqlite ({})", self.dir.path().join("bench.db").display()),
        }
    }

    pub async fn drop_it(&self, args: &Args) -> anyhow::Result<()> {
        if let Some(name) = &self.pg_name {
            let mut admin = sqlx::postgres::PgConnection::connect(&args.pg_admin_url).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await?;
            admin.close().await.ok();
        }
        Ok(())
    }

    /// Rows inserted, updated and deleted in each table since the database was made, and the
    /// transactions committed, from `pg_stat_user_tables` and `pg_stat_database` (PostgreSQL
    /// only). Read after the servers stopped: a backend reports its counts as it exits, and
    /// the statistics are read from a fresh snapshot.
    pub async fn writes(&self) -> anyhow::Result<Option<(Vec<TableWrites>, i64)>> {
        if self.pg_name.is_none() {
            return Ok(None);
        }
        let mut c = sqlx::postgres::PgConnection::connect(&self.url).await?;
        // The migrations' own rows (settings, a few lines) are counted too; next to
        // 20,000 closes they are noise.
        let rows: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT relname::text, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del
             FROM pg_stat_user_tables
             WHERE n_tup_ins + n_tup_upd + n_tup_del > 0
             ORDER BY n_tup_ins + n_tup_upd + n_tup_del DESC",
        )
        .fetch_all(&mut c)
        .await?;
        let (commits,): (i64,) = sqlx::query_as(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
        )
        .fetch_one(&mut c)
        .await?;
        c.close().await.ok();
        let tables = rows
            .into_iter()
            .map(|(table, inserted, updated, hot, deleted)| TableWrites {
                table,
                inserted,
                updated,
                hot,
                deleted,
            })
            .collect();
        Ok(Some((tables, commits)))
    }

    /// Inserts `m` requests due in an hour (plus i ms), each with its closed session, on a
    /// line of its own whose connector is `connector_url`. Run after `rateline migrate`.
    pub async fn seed(&self, m: u64, connector_url: &str) -> anyhow::Result<()> {
        let now = Utc::now().timestamp_millis();
        let due = now + 3_600_000;
        let deadline = 900_000_i64; // the default scheduler.send_deadline_seconds
        let settings = json!({
            "name": "Seeded backlog",
            "rating": {"scale": "binary", "delay_seconds": 0},
            "webhook": {"url": connector_url, "secret": SECRET},
        })
        .to_string();
        let m = i64::try_from(m).context("--seed-pending is too large")?;
        match self.kind {
            Db::Postgres => {
                let mut c = sqlx::postgres::PgConnection::connect(&self.url).await?;
                let mut tx = c.begin().await?;
                sqlx::query(
                    "INSERT INTO lines (id, settings, managed_by, updated_at)
                     VALUES ('seed', $1, 'api', $2)",
                )
                .bind(&settings)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO sessions (id, line_id, channel, client_id, client_name,
                        operator_id, opened_at, last_message_at, last_client_message_at,
                        auto_close_minutes, auto_close_at, closed_at, closed_by)
                     SELECT 'seed-s-' || i, 'seed', 'webhook', 'seed-c-' || i, NULL,
                        'op-' || (i % 50), $1, $1, NULL, NULL, NULL, $1, 'operator'
                     FROM generate_series(1::bigint, $2::bigint) AS i",
                )
                .bind(now)
                .bind(m)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO rating_requests (id, session_id, line_id, channel, operator_id,
                        client_id, scale, status, due_at, run_at, send_deadline_at, expires_at,
                        attempts, lease_owner, last_error, platform_message_id, created_at,
                        sent_at, delivered_at, answered_at, finished_at, updated_at)
                     SELECT 'seed-r-' || i, 'seed-s-' || i, 'seed', 'webhook', 'op-' || (i % 50),
                        'seed-c-' || i, 'binary', 'scheduled', $1 + i, $1 + i, $1 + i + $3, NULL,
                        0, NULL, NULL, NULL, $4, NULL, NULL, NULL, NULL, $4
                     FROM generate_series(1::bigint, $2::bigint) AS i",
                )
                .bind(due)
                .bind(m)
                .bind(deadline)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                // Each waits in the scheduler's queue, as a close would have put it there.
                sqlx::query(
                    "INSERT INTO request_queue (request_id, run_at)
                     SELECT 'seed-r-' || i, $1 + i FROM generate_series(1::bigint, $2::bigint) AS i",
                )
                .bind(due)
                .bind(m)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                // What autovacuum would do shortly after a bulk load, done now so the
                // server's plans do not depend on when it gets round to it.
                sqlx::raw_sql("ANALYZE").execute(&mut c).await?;
                c.close().await.ok();
            }
            Db::Sqlite => {
                let mut c = sqlx::sqlite::SqliteConnection::connect(&self.url).await?;
                let mut tx = c.begin().await?;
                sqlx::query(
                    "INSERT INTO lines (id, settings, managed_by, updated_at)
                     VALUES ('seed', ?1, 'api', ?2)",
                )
                .bind(&settings)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?2)
                     INSERT INTO sessions (id, line_id, channel, client_id, client_name,
                        operator_id, opened_at, last_message_at, last_client_message_at,
                        auto_close_minutes, auto_close_at, closed_at, closed_by)
                     SELECT 'seed-s-' || i, 'seed', 'webhook', 'seed-c-' || i, NULL,
                        'op-' || (i % 50), ?1, ?1, NULL, NULL, NULL, ?1, 'operator'
                     FROM seq",
                )
                .bind(now)
                .bind(m)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?2)
                     INSERT INTO rating_requests (id, session_id, line_id, channel, operator_id,
                        client_id, scale, status, due_at, run_at, send_deadline_at, expires_at,
                        attempts, lease_owner, last_error, platform_message_id, created_at,
                        sent_at, delivered_at, answered_at, finished_at, updated_at)
                     SELECT 'seed-r-' || i, 'seed-s-' || i, 'seed', 'webhook', 'op-' || (i % 50),
                        'seed-c-' || i, 'binary', 'scheduled', ?1 + i, ?1 + i, ?1 + i + ?3, NULL,
                        0, NULL, NULL, NULL, ?4, NULL, NULL, NULL, NULL, ?4
                     FROM seq",
                )
                .bind(due)
                .bind(m)
                .bind(deadline)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?2)
                     INSERT INTO request_queue (request_id, run_at)
                     SELECT 'seed-r-' || i, ?1 + i FROM seq",
                )
                .bind(due)
                .bind(m)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                c.close().await.ok();
            }
        }
        Ok(())
    }
}

/// What PostgreSQL's statistics say one run wrote, table by table.
pub struct TableWrites {
    pub table: String,
    pub inserted: i64,
    pub updated: i64,
    /// Updates that wrote no index entry (heap-only tuples).
    pub hot: i64,
    pub deleted: i64,
}
