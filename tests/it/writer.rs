//! Group commit (src/store/writer.rs): concurrent writes share transactions, each caller
//! hears its own result, and a write that fails does not take its neighbours with it.

use std::time::Duration;

use crate::common::{Db, TestDb};
use chrono::Utc;
use rateline::store::{JobKind, Store, StoreError};
use rateline_domain::{LineId, LineSettings, ManagedBy, NewSession, RequestId, SessionId};
use serde_json::json;
use sqlx::{Connection, Row};

/// How many opens run at once in each test.
const OPENS: usize = 30;

async fn store(db: &TestDb) -> Store {
    // Several writers, as across a network, so that batches queue behind each other.
    let store = Store::connect_with(&db.url, 16, Some(4))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let line: LineSettings = serde_json::from_value(json!({"name": "Support"})).unwrap();
    store
        .lines()
        .upsert("support", &line, ManagedBy::Api, None, Utc::now())
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
                    .sessions()
                    .insert(&s, Utc::now(), None)
                    .await
                    .map(|r| r.map(|r| r.id.into_string()))
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    results
}

/// Opens `sessions` all at once, and checks that each is opened anew.
async fn open_each(store: &Store, sessions: Vec<NewSession>) {
    let results = open_all(store, sessions).await;
    assert!(
        results.iter().all(|r| matches!(r, Ok(Some(_)))),
        "{results:?}"
    );
}

/// A connection of the test's own that holds the writers' first batches, so that later
/// writes queue behind them, in a transaction that stands until the test rolls it back: on
/// PostgreSQL it holds the rows `locks` select `FOR UPDATE`; on SQLite the database's write
/// lock (`BEGIN IMMEDIATE`), which the writer waits for (its `busy_timeout`, 5 s).
async fn lock_rows(db: &TestDb, locks: &[&str]) -> sqlx::AnyConnection {
    let mut locker = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    if db.kind == Db::Sqlite {
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut locker)
            .await
            .unwrap();
        return locker;
    }
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    for lock in locks {
        sqlx::query(sqlx::AssertSqlSafe(*lock))
            .execute(&mut locker)
            .await
            .unwrap();
    }
    locker
}

/// Sessions in the database, read through a connection of the test's own.
async fn stored_sessions(db: &TestDb) -> usize {
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    count(&mut conn, "SELECT COUNT(*) AS n FROM sessions").await
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
    assert_eq!(stored_sessions(&db).await, OPENS);
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
    let mut locker = lock_rows(
        &db,
        &["SELECT 1 FROM lines WHERE id = 'support' FOR UPDATE"],
    )
    .await;

    let opens = {
        let store = store.clone();
        let sessions = (0..OPENS)
            .map(|i| session(&format!("q-{i}"), "support"))
            .collect();
        tokio::spawn(async move { open_all(&store, sessions).await })
    };
    // Wait until every open has reached the writers (none can finish while the line is
    // locked) and the number of writers waiting on the lock has settled.
    let blocked = until_queued(&db, &store, OPENS).await;
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();

    let results = opens.await.unwrap();
    assert!(
        results.iter().all(|r| matches!(r, Ok(Some(_)))),
        "{results:?}"
    );
    let mut watcher = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    let transactions = count(
        &mut watcher,
        "SELECT COUNT(DISTINCT xmin::text) AS n FROM sessions WHERE id LIKE 'q-%'",
    )
    .await;
    assert!(
        transactions <= 2 * blocked && transactions < OPENS,
        "{OPENS} opens took {transactions} transactions with {blocked} writers busy"
    );
}

/// Waits until at least `writes` writes are queued or in a batch and the writers blocked on
/// locks have settled (each writer's first batch waits; what it did not take queues behind
/// it); how many writers are blocked.
async fn until_queued(db: &TestDb, store: &Store, writes: usize) -> usize {
    if db.kind == Db::Sqlite {
        // One writer, its first batch waiting for the database's write lock.
        until_unfinished(store, writes).await;
        return 1;
    }
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
        let settled = now_blocked > 0 && store.unfinished_writes() >= writes;
        steady = if settled && now_blocked == blocked {
            steady + 1
        } else {
            0
        };
        blocked = now_blocked;
        assert!(
            tokio::time::Instant::now() < deadline,
            "{blocked} writers blocked, {} writes unfinished, of {writes}",
            store.unfinished_writes()
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    blocked
}

/// The report read from the rollup (no period: whole days) says what the rows say (a
/// period of less than a day around `at`, which the report reads from the rows), before
/// the rollup's changes are folded and after: the triggers counted what each set wrote.
async fn rollup_counts_as_the_rows(store: &Store, at: chrono::DateTime<Utc>) {
    use rateline::store::{Grouping, ReportFilter};
    let rows = ReportFilter {
        from: Some(at - chrono::Duration::hours(1)),
        to: Some(at + chrono::Duration::hours(1)),
        ..Default::default()
    };
    let read = |f: ReportFilter| async move {
        let mut out = Vec::new();
        for by in [Grouping::All, Grouping::Channel] {
            out.push(format!(
                "{:?}",
                store.reports().report(&f, by, at).await.unwrap()
            ));
        }
        out.push(format!(
            "{:?}",
            store.reports().breakdown(&f, at).await.unwrap()
        ));
        out
    };
    let from_rows = read(rows).await;
    assert_eq!(read(ReportFilter::default()).await, from_rows, "in the log");
    assert!(
        store.reports().fold_rollup().await.unwrap() > 0,
        "nothing to fold"
    );
    assert_eq!(read(ReportFilter::default()).await, from_rows, "folded");
}

/// Closes `ids` (a session and its close time) while every session's row is locked, so
/// each writer's first close waits and the others queue behind it (at least `queued`),
/// then lets them go; each close's result, and how many writers were blocked.
async fn close_queued(
    db: &TestDb,
    store: &Store,
    ids: &[(String, chrono::DateTime<Utc>)],
    queued: usize,
) -> (
    Vec<Option<Result<rateline::store::CloseResult, rateline::store::BeforeStored>>>,
    usize,
) {
    use rateline::store::CloseTiming;
    use rateline_domain::ClosedBy;
    let mut locker = lock_rows(db, &["SELECT 1 FROM sessions FOR UPDATE"]).await;
    let closes: Vec<_> = ids
        .iter()
        .cloned()
        .map(|(id, closed_at)| {
            let store = store.clone();
            let timing = CloseTiming {
                closed_at,
                now: closed_at,
                send_deadline: chrono::Duration::hours(1),
            };
            tokio::spawn(async move {
                store
                    .sessions()
                    .close(&sid(&id), ClosedBy::Operator, timing, false, &[], None)
                    .await
            })
        })
        .collect();
    let blocked = until_queued(db, store, queued).await;
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    let mut results = Vec::new();
    for c in closes {
        results.push(c.await.unwrap().expect("no close fails"));
    }
    (results, blocked)
}

/// Closes that queue while the writers are busy commit in batches, and each caller still
/// hears its own close: a session closed twice in one batch is newly closed once (the
/// second close finds its request), a session that does not exist is not found, a close
/// dated before the open changes nothing and says so, and every other session gets its
/// request. Their sends' outcomes, recorded at once, are each recorded.
async fn closes_in_one_batch_each_hear_their_own_result(kind: Db) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let store = store(&db).await;
    let opened = Utc::now();
    let sessions = (0..OPENS)
        .map(|i| session(&format!("c-{i}"), "support"))
        .collect();
    open_each(&store, sessions).await;
    let mut ids: Vec<(String, chrono::DateTime<Utc>)> = (0..OPENS)
        .map(|i| (format!("c-{i}"), opened + chrono::Duration::seconds(5)))
        .collect();
    ids.push(("c-1".into(), opened + chrono::Duration::seconds(6)));
    ids.push(("ghost".into(), opened + chrono::Duration::seconds(5)));
    ids.push(("c-2".into(), opened - chrono::Duration::hours(1)));
    // The ghost's close, whose row no lock holds, and the early one, whose row fails the
    // close's condition and so is passed over without waiting for its lock, each finish at
    // once when they come first in a batch. On SQLite every write waits for the database's
    // write lock, those two as well.
    let queued = if kind == Db::Sqlite {
        ids.len()
    } else {
        ids.len() - 2
    };
    let (results, blocked) = close_queued(&db, &store, &ids, queued).await;

    let newly = |i: usize| match &results[i] {
        Some(Ok(r)) => (r.newly_closed, r.request.as_ref().map(|q| q.id.clone())),
        other => panic!("close {i} of {:?}: {other:?}", ids[i]),
    };
    let twice = (newly(1), newly(OPENS));
    assert!(
        twice.0.0 != twice.1.0 && twice.0.1.is_some() && twice.0.1 == twice.1.1,
        "c-1 is closed once, and both closes name its one request: {twice:?}"
    );
    assert!(
        results[OPENS + 1].is_none(),
        "ghost: {:?}",
        results[OPENS + 1]
    );
    let early = &results[OPENS + 2];
    assert!(
        matches!(early, Some(Err(_))) || matches!(early, Some(Ok(r)) if !r.newly_closed),
        "a close before the open changes nothing: {early:?}"
    );
    for i in (0..OPENS).filter(|i| *i != 1) {
        let (new, request) = newly(i);
        assert!(request.is_some(), "c-{i} has its request");
        assert!(new || i == 2, "c-{i} is newly closed");
    }
    let mut watcher = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    let requests = count(&mut watcher, "SELECT COUNT(*) AS n FROM rating_requests").await;
    assert_eq!(requests, OPENS, "one request a session");
    if kind == Db::Postgres {
        let transactions = request_transactions(&db).await;
        assert!(
            transactions <= 2 * blocked && transactions < OPENS,
            "{OPENS} closes took {transactions} transactions with {blocked} writers busy"
        );
    }
    let at = opened + chrono::Duration::seconds(5);
    rollup_counts_as_the_rows(&store, at).await;

    // One claim takes every request in one statement; their outcomes, queued behind a held
    // writer, run in sets: accepted, final, and to be tried again.
    let later = at + chrono::Duration::minutes(30);
    let claimed = store
        .requests()
        .claim_due("test", later, chrono::Duration::minutes(1), 100)
        .await
        .unwrap();
    assert_eq!(claimed.len(), OPENS, "every request is due");
    let mut locker = lock_rows(&db, &["SELECT 1 FROM rating_requests FOR UPDATE"]).await;
    let outcomes: Vec<_> = claimed
        .into_iter()
        .enumerate()
        .map(|(i, claim)| {
            use rateline::store::SendResult;
            let result = match i % 3 {
                0 => SendResult::Sent {
                    platform_message_id: None,
                    expires_at: later + chrono::Duration::days(1),
                    remind_at: None,
                },
                1 => SendResult::Final {
                    status: rateline_domain::RequestStatus::Undeliverable,
                    error: "blocked".into(),
                },
                _ => SendResult::RetryAt {
                    at: later + chrono::Duration::minutes(1),
                    error: "timeout".into(),
                },
            };
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .requests()
                    .record_send_result(&claim, "test", &result, later)
                    .await
            })
        })
        .collect();
    until_queued(&db, &store, OPENS).await;
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    for o in outcomes {
        assert!(o.await.unwrap().unwrap(), "the claim still holds");
    }
    let statuses: Vec<(String, i64)> = sqlx::query(
        "SELECT status, COUNT(*) AS n FROM rating_requests GROUP BY status ORDER BY status",
    )
    .fetch_all(&mut watcher)
    .await
    .unwrap()
    .iter()
    .map(|row| (row.try_get("status").unwrap(), row.try_get("n").unwrap()))
    .collect();
    let third = OPENS as i64 / 3;
    assert_eq!(
        statuses,
        [
            ("scheduled".to_owned(), third),
            ("sent".to_owned(), third),
            ("undeliverable".to_owned(), third)
        ],
        "each outcome recorded"
    );
    let queued = count(
        &mut watcher,
        "SELECT COUNT(*) AS n FROM request_queue WHERE lease_owner IS NULL",
    )
    .await;
    assert_eq!(
        queued as i64, third,
        "only the retries wait in the queue, their leases let go"
    );
    rollup_counts_as_the_rows(&store, at).await;
    assert!(store.write_sets() > 0, "writes ran as sets");
    assert_eq!(store.rerun_batches(), 0, "every set ran as one");
}

/// Closes `id` at `at`, from a task of its own.
fn close_later(
    store: &Store,
    id: String,
    at: chrono::DateTime<Utc>,
) -> tokio::task::JoinHandle<
    Result<Option<Result<rateline::store::CloseResult, rateline::store::BeforeStored>>, StoreError>,
> {
    let store = store.clone();
    let timing = rateline::store::CloseTiming {
        closed_at: at,
        now: at,
        send_deadline: chrono::Duration::hours(1),
    };
    tokio::spawn(async move {
        store
            .sessions()
            .close(
                &sid(&id),
                rateline_domain::ClosedBy::Operator,
                timing,
                false,
                &[],
                None,
            )
            .await
    })
}

/// PostgreSQL: one client's sessions closed in one batch on a line that asks at most once a
/// week: within a writer's batch the rule sees the requests before it, as one after the
/// other, so of each writer's closes one is asked and the rest are skipped. Other clients'
/// closes, whose rows are locked, hold each writer's first batch, so the client's closes
/// queue into batches with no request of theirs committed yet. (Closes in different writers'
/// transactions cannot see each other: docs/api.md.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_closed_twice_in_one_batch_is_asked_once_where_the_line_says_so() {
    const DECOYS: usize = 40;
    let Some(db) = TestDb::new(Db::Postgres).await else {
        return;
    };
    let store = store(&db).await;
    let line: LineSettings =
        serde_json::from_value(json!({"name": "Weekly", "survey": {"min_days_between": 7}}))
            .unwrap();
    store
        .lines()
        .upsert("weekly", &line, ManagedBy::Api, None, Utc::now())
        .await
        .unwrap();
    let opened = Utc::now();
    let mut sessions: Vec<NewSession> = (0..DECOYS)
        .map(|i| session(&format!("d-{i}"), "support"))
        .collect();
    sessions.extend((0..OPENS).map(|i| {
        serde_json::from_value(json!({
            "id": format!("w-{i}"), "line_id": "weekly", "channel": "webhook",
            "client": {"id": "the-same-client"}
        }))
        .unwrap()
    }));
    open_each(&store, sessions).await;
    let mut locker = lock_rows(
        &db,
        &["SELECT 1 FROM sessions WHERE id LIKE 'd-%' FOR UPDATE"],
    )
    .await;
    let at = opened + chrono::Duration::seconds(5);
    let decoys: Vec<_> = (0..DECOYS)
        .map(|i| close_later(&store, format!("d-{i}"), at))
        .collect();
    let blocked = until_queued(&db, &store, DECOYS).await;
    let closes: Vec<_> = (0..OPENS)
        .map(|i| close_later(&store, format!("w-{i}"), at))
        .collect();
    until_queued(&db, &store, DECOYS + OPENS).await;
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    for d in decoys {
        d.await.unwrap().expect("a decoy closes");
    }
    let mut statuses = Vec::new();
    for c in closes {
        match c.await.unwrap() {
            Ok(Some(Ok(c))) => {
                statuses.push(c.request.unwrap().status.as_str().to_owned());
            }
            other => panic!("{other:?}"),
        }
    }
    let asked = statuses.iter().filter(|s| *s == "scheduled").count();
    assert!(
        (1..=blocked).contains(&asked),
        "{asked} asked with {blocked} writers: {statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| *s == "skipped").count(),
        OPENS - asked,
        "{statuses:?}"
    );
}

crate::common::on_both_backends!(
    each_write_hears_its_own_result,
    closes_in_one_batch_each_hear_their_own_result,
    values_that_look_like_array_syntax_come_back_as_they_went_in,
    an_open_and_its_close_in_one_batch_keep_their_order,
    answers_in_one_batch_each_hear_their_own_result,
    a_stored_word_that_no_longer_reads_is_named_as_corrupt,
);

/// Channels, statuses, owners and ids are bound and read as their own types: a session
/// reads back with the channel and client it went in with. A row whose word no longer
/// parses (written by hand, or by a newer version) fails the read as corrupt, naming the
/// type and the text, rather than as a failing database.
async fn a_stored_word_that_no_longer_reads_is_named_as_corrupt(kind: Db) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let store = store(&db).await;
    store
        .sessions()
        .insert(&session("kept", "support"), Utc::now(), None)
        .await
        .unwrap();
    let kept = store
        .sessions()
        .get(&SessionId::stored("kept".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.channel, rateline_domain::Channel::Webhook);
    assert_eq!(kept.client.id, "c-kept");

    let line: LineSettings = serde_json::from_value(json!({"name": "Sales"})).unwrap();
    store
        .lines()
        .upsert("sales", &line, ManagedBy::Api, None, Utc::now())
        .await
        .unwrap();
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    sqlx::query("UPDATE lines SET managed_by = 'terraform' WHERE id = 'sales'")
        .execute(&mut conn)
        .await
        .unwrap();
    let support = store
        .lines()
        .get(&line_id("support"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(support.managed_by, ManagedBy::Api);
    match store.lines().get(&line_id("sales")).await {
        Err(StoreError::Corrupt(message)) => {
            assert!(
                message.contains(r#"a stored ManagedBy "terraform""#),
                "{message}"
            );
            assert!(
                message.contains("unknown managed_by 'terraform'"),
                "{message}"
            );
        }
        other => panic!("a corrupt owner must read as corrupt, not {other:?}"),
    }
}

/// A set's rows travel as array literals (PostgreSQL) or JSON (SQLite), so values that look
/// like either's syntax (quotes, backslashes, commas, braces, the word NULL, an empty
/// string) must come back as they went in. Opens and closes queued behind locks run as
/// sets; every session, client name, missing operator and request reads back exactly.
async fn values_that_look_like_array_syntax_come_back_as_they_went_in(kind: Db) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let store = store(&db).await;
    let awkward = [
        r#"a"b"#,
        r"back\slash",
        r#"\""#,
        "a,b",
        "{x}",
        "{",
        "}",
        "NULL",
        "null",
        "",
        " ",
        "two words",
        "ünï 日本 🙂",
        "tab\there",
        "line\nbreak",
        "'",
        "(1,2)",
        r#"{"a":1}"#,
    ];
    let sessions: Vec<NewSession> = awkward
        .iter()
        .enumerate()
        .map(|(i, v)| {
            // Ids hold no whitespace; names may.
            let id = v.replace(char::is_whitespace, "_");
            serde_json::from_value(json!({
                "id": format!("{id}#{i}"), "line_id": "support", "channel": "webhook",
                "client": {"id": format!("c{id}"), "name": v},
                "operator_id": (i % 2 == 0).then(|| format!(r#"op"{{,}}\{i}"#)),
            }))
            .unwrap()
        })
        .collect();
    let mut locker = lock_rows(
        &db,
        &["SELECT 1 FROM lines WHERE id = 'support' FOR UPDATE"],
    )
    .await;
    let opens = {
        let (store, sessions) = (store.clone(), sessions.clone());
        tokio::spawn(async move { open_all(&store, sessions).await })
    };
    until_queued(&db, &store, awkward.len()).await;
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    let opened = opens.await.unwrap();
    for (s, result) in sessions.iter().zip(&opened) {
        assert_eq!(result.as_ref().unwrap().as_deref(), Some(s.id.as_str()));
    }

    let closed_at = Utc::now() + chrono::Duration::seconds(1);
    let ids: Vec<_> = sessions
        .iter()
        .map(|s| (s.id.to_string(), closed_at))
        .collect();
    let (closes, _) = close_queued(&db, &store, &ids, ids.len()).await;
    for (s, close) in sessions.iter().zip(&closes) {
        let stored = store.sessions().get(&s.id).await.unwrap().unwrap();
        assert_eq!(stored.client.id.as_str(), s.client.id.as_str());
        assert_eq!(stored.client.name, s.client.name, "{:?}", s.id);
        assert_eq!(stored.operator_id.as_deref(), s.operator_id.as_deref());
        assert!(stored.closed_at.is_some(), "{:?} is closed", s.id);
        let request = match close {
            Some(Ok(r)) => r.request.clone().expect("a request"),
            other => panic!("{:?}: {other:?}", s.id),
        };
        assert_eq!(request.session_id, s.id.as_str());
        assert_eq!(request.operator_id.as_deref(), s.operator_id.as_deref());
    }
    assert!(store.write_sets() > 0, "writes ran as sets");
    assert_eq!(store.rerun_batches(), 0, "every set ran as one");
    if kind == Db::Postgres {
        let transactions = request_transactions(&db).await;
        assert!(
            transactions < awkward.len(),
            "the closes ran in sets: {transactions} transactions for {} closes",
            awkward.len()
        );
    }
}

/// PostgreSQL: how many transactions wrote the requests (rows one transaction wrote share
/// its id, `xmin`).
async fn request_transactions(db: &TestDb) -> usize {
    let mut watcher = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    count(
        &mut watcher,
        "SELECT COUNT(DISTINCT xmin::text) AS n FROM rating_requests",
    )
    .await
}

/// Waits until at least `writes` writes are unfinished (blocked on locks, or queued behind
/// writes that are).
async fn until_unfinished(store: &Store, writes: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.unfinished_writes() < writes {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} writes unfinished, of {writes}",
            store.unfinished_writes()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A client that opens a session and closes it without waiting for the open's answer has
/// both in one writer's queue, behind other sessions' closes. The closes of a batch run as
/// one set, but a close never runs before its own session's open: every session is opened
/// and then closed, none is left open with its close answered 404.
async fn an_open_and_its_close_in_one_batch_keep_their_order(kind: Db) {
    use rateline::store::CloseTiming;
    use rateline_domain::ClosedBy;
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let store = store(&db).await;
    let waiting: Vec<_> = (0..OPENS)
        .map(|i| session(&format!("w-{i}"), "support"))
        .collect();
    open_each(&store, waiting).await;
    // Every writer's first batch waits on a lock: a close on its session, an open on the
    // line's (its foreign key); what comes after queues behind it.
    let mut locker = lock_rows(
        &db,
        &[
            "SELECT 1 FROM sessions FOR UPDATE",
            "SELECT 1 FROM lines FOR UPDATE",
        ],
    )
    .await;
    let now = Utc::now();
    let timing = CloseTiming {
        closed_at: now + chrono::Duration::seconds(1),
        now: now + chrono::Duration::seconds(1),
        send_deadline: chrono::Duration::hours(1),
    };
    let close = |id: String| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .sessions()
                .close(&sid(&id), ClosedBy::Operator, timing, false, &[], None)
                .await
        })
    };
    let earlier: Vec<_> = (0..OPENS).map(|i| close(format!("w-{i}"))).collect();
    until_unfinished(&store, OPENS).await;
    let mut pairs = Vec::new();
    for j in 0..OPENS {
        let open = {
            let (store, s) = (store.clone(), session(&format!("x-{j}"), "support"));
            tokio::spawn(async move { store.sessions().insert(&s, now, None).await })
        };
        until_unfinished(&store, OPENS + 2 * j + 1).await;
        pairs.push((open, close(format!("x-{j}"))));
        until_unfinished(&store, OPENS + 2 * j + 2).await;
    }
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();

    for (i, c) in earlier.into_iter().enumerate() {
        let closed = c.await.unwrap().unwrap();
        assert!(
            matches!(closed, Some(Ok(ref r)) if r.newly_closed),
            "w-{i}: {closed:?}"
        );
    }
    for (j, (open, close)) in pairs.into_iter().enumerate() {
        assert!(
            matches!(open.await.unwrap(), Ok(Some(_))),
            "x-{j} is opened"
        );
        let closed = close.await.unwrap().unwrap();
        assert!(
            matches!(closed, Some(Ok(ref r)) if r.newly_closed && r.request.is_some()),
            "x-{j} is closed after its open: {closed:?}"
        );
    }
    rollup_counts_as_the_rows(&store, timing.closed_at).await;
    assert!(store.write_sets() > 0, "writes ran as sets");
    assert_eq!(store.rerun_batches(), 0, "every set ran as one");
}

/// Answers that queue while the writers are busy commit in batches, first answers as sets,
/// and each caller hears what it would hear alone. First answers are stored with their
/// operator's digest note and their event, a low one with its alert and its reasons; a
/// second answer queued behind a first changes the rating (lowered: now with an alert) or
/// finds it unchanged; answers to a request that does not exist, was never delivered or has
/// expired change nothing and say why. The report from the rollup still says what the rows
/// say.
async fn answers_in_one_batch_each_hear_their_own_result(kind: Db) {
    use rateline::store::{AlertPlan, RatingOutcome, RatingPolicy, SendResult};
    use rateline_domain::{RatingAnswer, Recipient, RequestStatus, Scale};
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let store = store(&db).await;
    let opened = Utc::now();
    let sessions = (0..OPENS)
        .map(|i| {
            serde_json::from_value(json!({
                "id": format!("a-{i}"), "line_id": "support", "channel": "webhook",
                "client": {"id": format!("c-{i}")}, "operator_id": "ben"
            }))
            .unwrap()
        })
        .collect();
    open_each(&store, sessions).await;
    let subscription = serde_json::from_value(json!({
        "url": "http://127.0.0.1:9/events", "secret": "a-secret-of-sixteen",
        "events": ["rating.created", "rating.changed"]
    }))
    .unwrap();
    store
        .events()
        .put_subscription("crm", &subscription, Utc::now())
        .await
        .unwrap()
        .unwrap();
    let at = opened + chrono::Duration::seconds(5);
    let mut requests = Vec::new();
    for i in 0..OPENS {
        let timing = rateline::store::CloseTiming {
            closed_at: at,
            now: at,
            send_deadline: chrono::Duration::hours(1),
        };
        let closed = store
            .sessions()
            .close(
                &sid(&format!("a-{i}")),
                rateline_domain::ClosedBy::Operator,
                timing,
                false,
                &[],
                None,
            )
            .await;
        match closed {
            Ok(Some(Ok(c))) => requests.push(c.request.expect("asked").id),
            other => panic!("a-{i}: {other:?}"),
        }
    }
    // Every request is sent but the first (undeliverable) and the second (expired by the
    // time the answers come).
    let later = at + chrono::Duration::minutes(30);
    let answered_at = later + chrono::Duration::minutes(1);
    for claim in store
        .requests()
        .claim_due("test", later, chrono::Duration::minutes(1), 100)
        .await
        .unwrap()
    {
        let result = if claim.id == requests[0] {
            SendResult::Final {
                status: RequestStatus::Undeliverable,
                error: "blocked".into(),
            }
        } else {
            let expires_at = if claim.id == requests[1] {
                later
            } else {
                later + chrono::Duration::days(1)
            };
            SendResult::Sent {
                platform_message_id: None,
                expires_at,
                remind_at: None,
            }
        };
        assert!(
            store
                .requests()
                .record_send_result(&claim, "test", &result, later)
                .await
                .unwrap()
        );
    }

    let answer = |request: &str, value: i64, low: bool, reasons: bool| {
        let answer: RatingAnswer = serde_json::from_value(json!({
            "request_id": request, "value": value,
            "comment": low.then_some("slow"),
            "reasons": reasons.then(|| vec!["wait"]),
        }))
        .unwrap();
        let policy = RatingPolicy {
            scale: Scale::FiveStar,
            low_threshold: 2,
            max_changes: 3,
            change_window: chrono::Duration::days(1),
            grace: chrono::Duration::zero(),
        };
        let alerts = AlertPlan {
            recipients: vec![Recipient::Supervisor { id: "olga".into() }],
            notify_operator: true,
            ..Default::default()
        };
        let store = store.clone();
        tokio::spawn(async move {
            store
                .ratings()
                .submit(&answer, policy, &alerts, answered_at)
                .await
        })
    };
    let mut locker = lock_rows(&db, &["SELECT 1 FROM rating_requests FOR UPDATE"]).await;
    // On SQLite an answer reads before it writes, and a transaction that has read does not
    // wait for the write lock (it could deadlock): an open, which writes first, holds the
    // writer instead, and the answers queue behind it.
    let plug = (kind == Db::Sqlite).then(|| {
        let (store, s) = (store.clone(), session("plug", "support"));
        tokio::spawn(async move { store.sessions().insert(&s, opened, None).await })
    });
    if plug.is_some() {
        until_unfinished(&store, 1).await;
    }
    // Low (1 star) where i is even, with reasons where it is a multiple of four; 5 stars
    // otherwise.
    let value = |i: usize| if i.is_multiple_of(2) { 1 } else { 5 };
    let mut firsts: Vec<_> = (0..OPENS)
        .map(|i| {
            answer(
                &requests[i],
                value(i),
                i.is_multiple_of(2),
                i.is_multiple_of(4),
            )
        })
        .collect();
    firsts.push(answer("ghost", 5, false, false));
    // The ghost's answer, whose row no lock holds, finishes at once on PostgreSQL; on SQLite
    // it waits behind the plug with the rest.
    let queued = if kind == Db::Sqlite {
        firsts.len() + 1
    } else {
        firsts.len() - 1
    };
    until_queued(&db, &store, queued).await;
    // Second answers, each queued behind its request's first: 3 the same again, 5 lowered.
    let mut seconds = Vec::new();
    for (request, value) in [(3, 5), (5, 2)] {
        let queued = store.unfinished_writes();
        seconds.push(answer(&requests[request], value, value < 3, false));
        until_unfinished(&store, queued + 1).await;
    }
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    if let Some(plug) = plug {
        assert!(
            matches!(plug.await.unwrap(), Ok(Some(_))),
            "the plug is opened"
        );
    }

    let mut outcomes = Vec::new();
    for a in firsts.into_iter().chain(seconds) {
        outcomes.push(a.await.unwrap().expect("no answer fails"));
    }
    assert!(
        matches!(
            outcomes[0],
            RatingOutcome::NotAnswerable(RequestStatus::Undeliverable)
        ),
        "undeliverable: {:?}",
        outcomes[0]
    );
    assert!(
        matches!(outcomes[1], RatingOutcome::WindowClosed(end)
            if end.timestamp_millis() == later.timestamp_millis()),
        "expired: {:?}",
        outcomes[1]
    );
    assert!(
        matches!(outcomes[OPENS], RatingOutcome::NotFound),
        "ghost: {:?}",
        outcomes[OPENS]
    );
    for i in 2..OPENS {
        match &outcomes[i] {
            RatingOutcome::Created(r, history) => {
                assert_eq!(r.request_id, requests[i]);
                assert_eq!((r.value, r.low), (value(i), i.is_multiple_of(2)), "a-{i}");
                assert_eq!(r.reasons.is_some(), i.is_multiple_of(4), "a-{i}");
                assert_eq!(history.len(), 1, "a-{i}");
            }
            other => panic!("a-{i}: {other:?}"),
        }
    }
    assert!(
        matches!(&outcomes[OPENS + 1], RatingOutcome::Unchanged(r, h) if r.value == 5 && h.len() == 1),
        "the same again: {:?}",
        outcomes[OPENS + 1]
    );
    assert!(
        matches!(&outcomes[OPENS + 2], RatingOutcome::Changed(r, h)
            if r.value == 2 && r.low && r.changes == 1 && h.len() == 2),
        "lowered: {:?}",
        outcomes[OPENS + 2]
    );

    // What the store holds says the same, and the first answers shared transactions.
    let mut watcher = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    let answered = OPENS - 2;
    assert_eq!(
        count(
            &mut watcher,
            "SELECT COUNT(*) AS n FROM rating_requests WHERE status = 'answered'"
        )
        .await,
        answered
    );
    assert_eq!(
        count(&mut watcher, "SELECT COUNT(*) AS n FROM rating_history").await,
        answered + 1,
        "one version each, and the lowered rating's second"
    );
    let low = (2..OPENS).filter(|i| i.is_multiple_of(2)).count() + 1;
    assert_eq!(
        count(
            &mut watcher,
            "SELECT COUNT(*) AS n FROM ratings g WHERE g.low = 1
             AND (SELECT COUNT(*) FROM alerts a WHERE a.rating_id = g.id) = 1"
        )
        .await,
        low,
        "each low rating has its one alert"
    );
    assert_eq!(
        count(&mut watcher, "SELECT COUNT(*) AS n FROM alerts").await,
        low
    );
    assert_eq!(
        count(
            &mut watcher,
            "SELECT COUNT(*) AS n FROM rating_reasons WHERE reason = 'wait'"
        )
        .await,
        (2..OPENS).filter(|i| i.is_multiple_of(4)).count()
    );
    assert_eq!(
        count(
            &mut watcher,
            "SELECT COUNT(*) AS n FROM operator_notice_ratings"
        )
        .await,
        answered,
        "each first answer is noted for the operator's digest"
    );
    assert_eq!(
        count(
            &mut watcher,
            "SELECT COUNT(*) AS n FROM event_deliveries WHERE type = 'rating.created'"
        )
        .await,
        answered
    );
    assert_eq!(
        count(
            &mut watcher,
            "SELECT COUNT(*) AS n FROM event_deliveries WHERE type = 'rating.changed'"
        )
        .await,
        1
    );
    assert!(store.write_sets() > 0, "writes ran as sets");
    assert_eq!(store.rerun_batches(), 0, "every set ran as one");
    if kind == Db::Postgres {
        let transactions = count(
            &mut watcher,
            "SELECT COUNT(DISTINCT xmin::text) AS n FROM rating_history WHERE revision = 0",
        )
        .await;
        assert!(
            transactions < answered / 2,
            "{answered} first answers took {transactions} transactions"
        );
        // Rows one statement inserted share their transaction and command id.
        let together = count(
            &mut watcher,
            "SELECT MAX(n) AS n FROM (SELECT COUNT(*) AS n FROM rating_history
                                      WHERE revision = 0 GROUP BY xmin::text, cmin::text) s",
        )
        .await;
        assert!(
            together > 1,
            "the first answers of a batch are inserted as one set"
        );
    }
    rollup_counts_as_the_rows(&store, at).await;
}

/// `sql`'s one number, `n`, read through a connection of the test's own.
async fn count(conn: &mut sqlx::AnyConnection, sql: &'static str) -> usize {
    let n: i64 = sqlx::query(sql)
        .fetch_one(conn)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    n as usize
}

/// On a SQLite file the reads around the writes run on the readers' connections: the line
/// an open is made on, the request and line an answer is judged by (by its id, in its
/// conversation, on its channel, or as the widget's card), whether a rating came from the
/// widget, the scheduler's next
/// wake, its claims of alerts, responses and reminders when none is due, and the queue
/// depth `/metrics` shows each answer while the writer's one connection waits for the
/// file's write lock (held here by another program), instead of queueing behind it and
/// making its next batch wait for them.
#[tokio::test]
async fn on_sqlite_the_reads_around_writes_answer_while_the_writer_waits_for_the_lock() {
    let Some(db) = TestDb::new(Db::Sqlite).await else {
        return;
    };
    let store = store(&db).await;
    let mut locker = lock_rows(&db, &[]).await;
    let open = {
        let store = store.clone();
        tokio::spawn(async move { open_all(&store, vec![session("s-1", "support")]).await })
    };
    until_queued(&db, &store, 1).await;
    // Each read in turn, raced against the open: it must answer while the open waits.
    macro_rules! before_the_open {
        ($what:literal, $read:expr) => {
            tokio::select! {
                r = $read => r.expect($what),
                () = tokio::time::sleep(Duration::from_secs(3)) => {
                    panic!("{} waited for the writer's connection", $what)
                }
            }
        };
    }
    let support = line_id("support");
    let line = before_the_open!("the line", store.lines().get(&support));
    assert_eq!(line.expect("the line is stored").id, "support");
    let no_such = RequestId::stored("no-such".into());
    let context = before_the_open!(
        "an answer's context",
        store.ratings().answer_context(&no_such)
    );
    assert!(context.is_none(), "no such request");
    let target = before_the_open!(
        "an answer's request by its id",
        store.ratings().answer_target(&no_such)
    );
    assert!(target.is_none(), "no such request");
    let s1 = sid("s-1");
    let target = before_the_open!(
        "a reply's request in its conversation",
        store.ratings().session_answer_target(&s1)
    );
    assert!(target.is_none(), "s-1 is not open yet");
    let target = before_the_open!(
        "a text reply's request on its channel",
        store
            .ratings()
            .latest_answer_target(rateline_domain::Channel::Telegram, "c-1")
    );
    assert!(target.is_none(), "nothing was sent to c-1");
    let card = before_the_open!("the widget's card", store.webchat().webchat_target(&s1));
    assert!(card.is_none(), "s-1 has no web chat request");
    let rated = before_the_open!(
        "whether a rating came from the widget",
        store.webchat().rated_on_webchat("no-such")
    );
    assert!(!rated, "no such rating");
    let wake = before_the_open!("the next wake", store.requests().next_wake());
    assert_eq!(wake.send, None, "nothing is queued");
    let depth = before_the_open!("the queue depth", store.requests().queue_depth());
    assert_eq!(depth, 0);
    let lease = chrono::Duration::seconds(60);
    for kind in [JobKind::Alert, JobKind::Response, JobKind::Reminder] {
        let claim = store
            .jobs()
            .claim_due(kind, "scheduler", Utc::now(), lease, 10);
        let claimed = before_the_open!("a claim with nothing due", claim);
        assert!(claimed.is_empty(), "nothing is due");
    }
    assert_eq!(store.unfinished_writes(), 1, "the open still waits");

    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    let results = open.await.unwrap();
    assert!(matches!(results[..], [Ok(Some(_))]), "{results:?}");
}

/// A session id the test made, as the store's operations take it.
fn sid(text: &str) -> rateline_domain::SessionId {
    rateline_domain::SessionId::parse("id", text).unwrap()
}

/// A line's id as the store takes it.
fn line_id(id: &str) -> LineId {
    LineId::stored(id.to_owned())
}
