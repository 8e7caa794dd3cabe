//! Group commit (src/store/writer.rs): concurrent writes share transactions, each caller
//! hears its own result, and a write that fails does not take its neighbours with it.

use std::time::Duration;

use crate::common::{Db, TestDb};
use chrono::Utc;
use rateline::store::{Store, StoreError};
use rateline_domain::{LineSettings, ManagedBy, NewSession};
use serde_json::json;
use sqlx::{Connection, Row};

/// How many opens run at once in each test.
const OPENS: usize = 30;

async fn store(db: &TestDb) -> Store {
    let store = Store::connect(&db.url, 16).await.expect("connect");
    store.migrate().await.expect("migrate");
    let line: LineSettings = serde_json::from_value(json!({"name": "Support"})).unwrap();
    store
        .upsert_line("support", &line, ManagedBy::Api, None, Utc::now())
        .await
        .unwrap();
    store
}

fn session(id: &str, line: &str) -> NewSession {
    serde_json::from_value(json!({
        "id": id, "line_id": line, "channel": "webhook", "client": {"id": format!("c-{id}")}
    }))
    .unwrap()
}

/// Opens `sessions` all at once, each from a task of its own.
async fn open_all(
    store: &Store,
    sessions: Vec<NewSession>,
) -> Vec<Result<Option<String>, StoreError>> {
    let tasks: Vec<_> = sessions
        .into_iter()
        .map(|s| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .insert_session(&s, Utc::now(), None)
                    .await
                    .map(|r| r.map(|r| r.id))
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    results
}

/// Sessions in the database, read through a connection of the test's own.
async fn stored_sessions(db: &TestDb) -> i64 {
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    sqlx::query("SELECT COUNT(*) AS n FROM sessions")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

/// Among concurrent opens, one names a line that does not exist (the database refuses it:
/// a foreign key) and one id comes twice. Every good open is stored and answered as such,
/// the bad one alone fails, and of the twins exactly one is new.
async fn each_write_hears_its_own_result(kind: Db) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let store = store(&db).await;
    let mut sessions: Vec<_> = (0..OPENS)
        .map(|i| session(&format!("s-{i}"), "support"))
        .collect();
    sessions.insert(OPENS / 2, session("bad", "no-such-line"));
    sessions.push(session("s-0", "support"));
    let results = open_all(&store, sessions).await;

    let bad = &results[OPENS / 2];
    assert!(
        matches!(bad, Err(StoreError::Other(_))),
        "the open on a missing line fails on its own: {bad:?}"
    );
    let good: Vec<_> = results
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != OPENS / 2)
        .map(|(_, r)| r.as_ref().expect("a good open succeeds"))
        .collect();
    let new: Vec<_> = good.iter().filter_map(|r| r.as_deref()).collect();
    assert_eq!(new.len(), OPENS, "each id is new once: {new:?}");
    assert_eq!(good.iter().filter(|r| r.is_none()).count(), 1, "the twin");
    assert_eq!(stored_sessions(&db).await, OPENS as i64);
}

/// PostgreSQL: opens that queue while the writers are busy commit together. The line's row
/// is locked, so each writer's first open waits on its foreign-key check while the rest
/// queue; once it is released, each writer commits what queued in one transaction. Rows
/// inserted by one transaction share its id (`xmin`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_queue_behind_a_busy_batch_commit_together() {
    let Some(db) = TestDb::new(Db::Postgres).await else {
        return;
    };
    let store = store(&db).await;
    let mut locker = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    sqlx::query("SELECT 1 FROM lines WHERE id = 'support' FOR UPDATE")
        .execute(&mut locker)
        .await
        .unwrap();

    let opens = {
        let store = store.clone();
        let sessions = (0..OPENS)
            .map(|i| session(&format!("q-{i}"), "support"))
            .collect();
        tokio::spawn(async move { open_all(&store, sessions).await })
    };
    // Wait until every open has reached the writers (none can finish while the line is
    // locked) and the number of writers waiting on the lock has settled: each writer with
    // work waits on its first open, and what it did not take queues behind it.
    let mut watcher = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (mut blocked, mut steady) = (0, 0);
    while steady < 10 {
        let now_blocked: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
        let now_blocked = now_blocked as usize;
        let settled = now_blocked > 0 && store.unfinished_writes() == OPENS;
        steady = if settled && now_blocked == blocked {
            steady + 1
        } else {
            0
        };
        blocked = now_blocked;
        assert!(
            tokio::time::Instant::now() < deadline,
            "{blocked} writers blocked, {} writes unfinished, of {OPENS}",
            store.unfinished_writes()
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();

    let results = opens.await.unwrap();
    assert!(
        results.iter().all(|r| matches!(r, Ok(Some(_)))),
        "{results:?}"
    );
    let transactions: i64 =
        sqlx::query("SELECT COUNT(DISTINCT xmin::text) AS n FROM sessions WHERE id LIKE 'q-%'")
            .fetch_one(&mut watcher)
            .await
            .unwrap()
            .try_get("n")
            .unwrap();
    assert!(
        transactions as usize <= 2 * blocked && (transactions as usize) < OPENS,
        "{OPENS} opens took {transactions} transactions with {blocked} writers busy"
    );
}

crate::common::on_both_backends!(each_write_hears_its_own_result);
