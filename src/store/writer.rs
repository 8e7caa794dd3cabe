//! Group commit: the writes every close makes (open, close, a send's outcome, the answer),
//! from many concurrent callers, share one transaction and one commit.
//!
//! Every write kind has one path: its set statements, whatever the batch holds of it, one
//! write or [`MAX_BATCH`]. A write alone is a set of one, through the same statement text.
//! Rows are written one at a time only for the rare cases, in the function named here:
//!
//! | write | key | as a set (`store/…`) | row by row, the rare cases |
//! | --- | --- | --- | --- |
//! | open | session | `open_sessions` (`sessions.rs`): one `INSERT … SELECT` | none |
//! | close | session | `close_sessions` (`sessions.rs`): one `UPDATE` of the sessions, one `INSERT` of the requests, one of their queue rows | `not_closed` (the session closed already, gone, or the close dated too early); a request whose line's `survey.min_days_between` reads the client's earlier ones; `finish_close`'s event of a request the window ended |
//! | send's outcome | request | `record_send_results` (`requests.rs`): acceptances as one `DELETE` of their leases and one `UPDATE` | `record_unsent`: a retry, a deferral, a final failure; a reminder where the line asks one |
//! | answer | request | `submit_ratings` (`ratings.rs`): first answers as one `SELECT … FOR UPDATE` and one `INSERT` each into `ratings` and `rating_history`, one `UPDATE` of the requests | `change_or_refuse`: a change, a refusal, an unknown request; what follows a first answer where it applies (reasons, alerts, the digest, the event) |
//!
//! A second write of one key in one set (a session closed twice, a request answered twice)
//! runs as a set of its own after the first set, so it sees the first one's rows.
//!
//! Each write is queued with the function that runs its statements. A writer task takes
//! what has queued (up to [`MAX_BATCH`]), runs each write's statements in turn on one
//! connection inside one transaction, commits, and only then answers every caller: a 2xx
//! still means the write is on disk. Under light load a batch holds one write and costs
//! what it did before; under heavy load the transaction's fixed costs (BEGIN, COMMIT and
//! its WAL flush or fsync) are paid once per batch instead of once per write, and a batch
//! grows exactly as fast as writes arrive while the one before it runs, so nothing waits
//! on a timer. On PostgreSQL a busy writer also keeps its connection from batch to batch
//! (see [`write_batches`]).
//!
//! The writes of one key in a batch run in the order they were queued, so each sees the
//! ones before it (writes of different keys may run in another order: see sets, below). A write
//! must change nothing when it returns an error or an outcome that refuses (its
//! statements run in the batch's transaction, which commits whatever they did).
//!
//! Several writers may run at once on PostgreSQL (`database.writers`; by default two for a
//! server on the same machine, four across a network), each with a queue of its own, and a write
//! goes to the writer its key (a session or request id) picks. Two batches that locked
//! rows in opposite orders would deadlock, and PostgreSQL only breaks a deadlock after
//! `deadlock_timeout` (1 s): with four writers taking writes from one shared queue, a
//! load test saw p99 lateness jump from 90 ms to a second. Writes that lock the same
//! rows are those of one session: its open and close (keyed by the session), and its
//! request's send outcome and answers (keyed by the request, which is only claimed or
//! answered once the close that made it has committed). Each key's writes run in one
//! writer, in order, so batches of different writers never wait on each other's rows.
//!
//! Writes of one kind in a batch run as one set, at the place of the first of them: one
//! statement over all their rows (for answers, one for each table they touch), passed as
//! arrays on PostgreSQL and as JSON on SQLite, with one statement text whatever the set's
//! size (see [`Writer::write`] and `sql::SetRows`).
//! On SQLite a set saves less database work than on PostgreSQL, but each statement is a
//! round trip to the thread sqlx runs the connection on. Every write of a batch is in
//! flight at once, none answered yet, so running a kind's writes together, before or after
//! the others, is an order their callers could have seen. Only a write whose key has a
//! write of another kind before it still to run is left for a later set, so one session's
//! open still runs before its close.
//!
//! When a batch fails, nothing of it was committed. If the database is unavailable, every
//! caller hears so (503). Otherwise the failure belongs to one write, and one write must
//! not fail its neighbours: each write is run again alone, in its own transaction, and
//! answers with its own result.

use std::any::{Any, TypeId};
use std::future::Future;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{AnyConnection, AnyPool, Connection};
use tokio::sync::{mpsc, oneshot};

use super::error::{Result, StoreError};

/// A connection taken from the store's pool.
type Pooled = PoolConnection<sqlx::Any>;

/// The most writes one transaction takes. Past a few dozen the fixed costs are already
/// spread thin, while a longer transaction holds its row locks longer.
const MAX_BATCH: usize = 64;

/// Writes waiting for each writer, beyond which callers wait to queue (back-pressure).
const QUEUE: usize = 1024;

/// How long a writer keeps its PostgreSQL connection with nothing to write (see
/// [`write_batches`]).
const LINGER: Duration = Duration::from_millis(100);

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs writes of one kind on `conn` (inside a transaction) as one set, one write or many:
/// each write's result, in the order of `args`.
pub(crate) type SetStatements<A, T> =
    for<'c> fn(&'c mut AnyConnection, &'c [&'c A]) -> BoxFuture<'c, Result<Vec<T>>>;

/// Whether each of `args` is the first of its key in them: the set runs those, and
/// [`run_later`] the others.
pub(crate) fn first_of_each<A>(args: &[&A], key: impl Fn(&A) -> &str) -> Vec<bool> {
    let mut seen = std::collections::HashSet::new();
    args.iter().map(|a| seen.insert(key(a))).collect()
}

/// Runs again, as a set of their own, the writes of `args` that were not the first of
/// their key in it (a session closed twice, a request answered twice), once the set has
/// run the first ones, and puts their results in their places in `results`.
pub(crate) async fn run_later<A, T>(
    conn: &mut AnyConnection,
    args: &[&A],
    first: &[bool],
    results: &mut [T],
    set: SetStatements<A, T>,
) -> Result<()> {
    let later: Vec<&A> = args
        .iter()
        .zip(first)
        .filter(|(_, first)| !**first)
        .map(|(a, _)| *a)
        .collect();
    if later.is_empty() {
        return Ok(());
    }
    let mut done = set(conn, &later).await?.into_iter();
    for (result, first) in results.iter_mut().zip(first) {
        if !*first && let Some(d) = done.next() {
            *result = d;
        }
    }
    Ok(())
}

/// The writers' queues; a write goes to the one its key picks.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    queues: Arc<[mpsc::Sender<Box<dyn Job>>]>,
    /// Writes handed in and not yet answered, queued or in a batch.
    unfinished: Arc<AtomicUsize>,
    /// What the writers did: for tests and for a look at a running store.
    stats: Arc<Stats>,
}

/// Counts of what the writers did since the store was opened.
#[derive(Debug, Default)]
struct Stats {
    /// Sets of two or more writes run by their set statements.
    sets: AtomicUsize,
    /// Batches that failed and whose writes were run again one by one.
    rerun: AtomicUsize,
}

/// One write counted as unfinished until it is answered or its caller gives up.
struct Unfinished<'a>(&'a AtomicUsize);

impl<'a> Unfinished<'a> {
    fn count(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Writer {
    /// Starts `writers` writer tasks on `pool`. They end when every `Writer` clone is gone.
    /// With `keep`, each keeps its connection while writes keep coming (see
    /// [`write_batches`]); a pool of one connection that other writes share must not.
    pub(crate) fn start(pool: AnyPool, writers: usize, keep: bool) -> Self {
        let stats = Arc::<Stats>::default();
        let queues = (0..writers.max(1))
            .map(|_| {
                let (queue, rx) = mpsc::channel(QUEUE);
                let linger = keep.then_some(LINGER);
                tokio::spawn(write_batches(pool.clone(), rx, stats.clone(), linger));
                queue
            })
            .collect();
        Self {
            queues,
            stats,
            unfinished: Arc::default(),
        }
    }

    /// Writes queued or being committed: not yet answered.
    pub(crate) fn unfinished(&self) -> usize {
        self.unfinished.load(Ordering::Relaxed)
    }

    /// Batches that failed as a whole and had their writes run again one by one.
    pub(crate) fn rerun(&self) -> usize {
        self.stats.rerun.load(Ordering::Relaxed)
    }

    /// Sets of two or more writes run by their set statements (a batch that failed and ran
    /// again counts the sets it ran before it failed).
    pub(crate) fn sets(&self) -> usize {
        self.stats.sets.load(Ordering::Relaxed)
    }

    /// Queues a write under `key` (the session or request whose rows it changes) and
    /// waits until it is committed (or failed). It runs by `set`, with the writes of the
    /// same `set` in its batch or, alone, as a set of one.
    pub(crate) async fn write<A, T>(
        &self,
        key: &str,
        args: A,
        set: SetStatements<A, T>,
    ) -> Result<T>
    where
        A: Send + Sync + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        // A fixed hasher: the same key picks the same writer for the life of the process.
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
        let job = Box::new(Queued {
            args,
            set,
            key: hash,
            done: None,
            reply,
        });
        let queue = &self.queues[(hash % self.queues.len() as u64) as usize];
        let _unfinished = Unfinished::count(&self.unfinished);
        if queue.send(job).await.is_err() {
            return Err(StoreError::Unavailable(sqlx::Error::PoolClosed));
        }
        // A writer that panicked dropped the reply: the write's transaction rolled back.
        answer
            .await
            .unwrap_or(Err(StoreError::Unavailable(sqlx::Error::WorkerCrashed)))
    }
}

/// What writes that run as one set share: their type and their set statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SetKind(TypeId, usize);

/// Runs the writes of one [`SetKind`] as one set; each keeps its own result.
type SetRunner =
    for<'c> fn(&'c mut AnyConnection, &'c mut [&'c mut Box<dyn Job>]) -> BoxFuture<'c, Result<()>>;

/// A queued write, its type erased so writes of every kind share one queue.
trait Job: Send {
    /// The set it runs in, and what runs it; its result waits in the job until
    /// [`Job::answer`].
    fn set(&self) -> (SetKind, SetRunner);
    /// Its key's hash: writes of one key keep their order.
    fn key(&self) -> u64;
    fn as_any(&mut self) -> &mut dyn Any;
    /// Answers the caller: with the result it ran to, or with `failure`.
    fn answer(self: Box<Self>, failure: Option<StoreError>);
}

struct Queued<A, T> {
    args: A,
    set: SetStatements<A, T>,
    key: u64,
    done: Option<T>,
    reply: oneshot::Sender<Result<T>>,
}

impl<A: Send + Sync + 'static, T: Send + 'static> Job for Queued<A, T> {
    fn set(&self) -> (SetKind, SetRunner) {
        let kind = SetKind(TypeId::of::<Self>(), self.set as usize);
        (kind, run_set::<A, T>)
    }

    fn key(&self) -> u64 {
        self.key
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }

    fn answer(self: Box<Self>, failure: Option<StoreError>) {
        let result = match (failure, self.done) {
            (Some(e), _) => Err(e),
            (None, Some(done)) => Ok(done),
            (None, None) => Err(StoreError::Corrupt(
                "a write was answered before it ran".into(),
            )),
        };
        // The caller may have gone (its client hung up): the write stands all the same.
        let _ = self.reply.send(result);
    }
}

/// One writer task: takes what has queued, commits it as one batch, answers, repeats.
///
/// With a `linger`, the task keeps the connection its last batch committed on, and gives
/// it back to the pool only once nothing has come to write for that long. Taking a
/// connection from sqlx's pool and giving it back cost a round trip to the database each
/// (sqlx checks the connection as it returns), and a batch under load is a few writes.
/// A kept connection that failed is given back (the pool closes it), and the next batch
/// takes another.
async fn write_batches(
    pool: AnyPool,
    mut rx: mpsc::Receiver<Box<dyn Job>>,
    stats: Arc<Stats>,
    linger: Option<Duration>,
) {
    let mut kept: Option<Pooled> = None;
    loop {
        let mut batch = Vec::new();
        let first = match (linger, kept.is_some()) {
            (Some(linger), true) => match tokio::time::timeout(linger, rx.recv()).await {
                Ok(job) => job,
                Err(_) => {
                    kept = None;
                    rx.recv().await
                }
            },
            _ => rx.recv().await,
        };
        match first {
            Some(job) => batch.push(job),
            None => return,
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // A panic in one batch drops its callers' replies (they see an error) and its
        // connection, and must not stop the writer.
        let pool = pool.clone();
        let committed = tokio::spawn(commit(pool, kept.take(), batch, stats.clone())).await;
        kept = committed.ok().flatten().filter(|_| linger.is_some());
    }
}

/// Commits `batch` in one transaction, on `kept` if there is one, and answers each write;
/// see the module docs for what happens when that fails. Gives back the connection the
/// batch committed on, or `None` when it failed.
async fn commit(
    pool: AnyPool,
    kept: Option<Pooled>,
    mut batch: Vec<Box<dyn Job>>,
    stats: Arc<Stats>,
) -> Option<Pooled> {
    let mut kept = kept;
    let (conn, outcome) = loop {
        let reused = kept.is_some();
        let mut conn = match kept.take() {
            Some(conn) => conn,
            None => match pool.acquire().await {
                Ok(conn) => conn,
                Err(e) => {
                    answer_all(batch, e.into());
                    return None;
                }
            },
        };
        let mut began = false;
        let outcome = run_together(&mut conn, &mut batch, &stats, &mut began).await;
        // A kept connection the database dropped since the last batch fails at `BEGIN`,
        // before anything ran: the batch runs again on one from the pool, which checks it
        // as it hands it out, so a restart costs no write a 503.
        if reused && !began && outcome.is_err() {
            continue;
        }
        break (conn, outcome);
    };
    let failure = match outcome {
        Ok(()) => {
            for job in batch {
                job.answer(None);
            }
            return Some(conn);
        }
        Err(e) => e,
    };
    // The connection may be what failed: the pool checks it as it takes it back.
    drop(conn);
    if batch.len() == 1 || matches!(failure, StoreError::Unavailable(_)) {
        answer_all(batch, failure);
        return None;
    }
    tracing::debug!(error = %failure, writes = batch.len(), "a batch failed; running its writes one by one");
    stats.rerun.fetch_add(1, Ordering::Relaxed);
    for mut job in batch {
        let mut one = [job];
        let outcome = match pool.acquire().await {
            Ok(mut conn) => run_together(&mut conn, &mut one, &stats, &mut false).await,
            Err(e) => Err(e.into()),
        };
        [job] = one;
        job.answer(outcome.err());
    }
    None
}

/// Answers every write of `batch` with `failure`.
fn answer_all(batch: Vec<Box<dyn Job>>, failure: StoreError) {
    let message = match &failure {
        StoreError::Unavailable(e) => e.to_string(),
        other => other.to_string(),
    };
    let mut failure = Some(failure);
    for job in batch {
        let e = failure.take().unwrap_or_else(|| same_failure(&message));
        job.answer(Some(e));
    }
}

/// The failure of a batch, for each of its writes but the first (sqlx errors do not clone).
fn same_failure(message: &str) -> StoreError {
    StoreError::Unavailable(sqlx::Error::Io(std::io::Error::other(message.to_owned())))
}

/// Runs `batch` in one transaction on `conn` and commits it; `began` tells whether its
/// `BEGIN` went through.
async fn run_together(
    conn: &mut AnyConnection,
    batch: &mut [Box<dyn Job>],
    stats: &Stats,
    began: &mut bool,
) -> Result<()> {
    let mut tx = conn.begin().await?;
    *began = true;
    let kinds: Vec<(SetKind, SetRunner)> = batch.iter().map(|job| job.set()).collect();
    let mut ran = vec![false; batch.len()];
    for first in 0..batch.len() {
        if ran[first] {
            continue;
        }
        let (kind, runner) = kinds[first];
        // This write and every later one of its kind, as one set, but for a write whose
        // key has a write of another kind before it still to run: it waits for a later set,
        // so that one session's open still runs before its close.
        let mut members: Vec<&mut Box<dyn Job>> = Vec::new();
        let mut held = std::collections::HashSet::new();
        for (i, job) in batch.iter_mut().enumerate().skip(first) {
            if ran[i] {
                continue;
            }
            if kinds[i].0 == kind && !held.contains(&job.key()) {
                ran[i] = true;
                members.push(job);
            } else {
                held.insert(job.key());
            }
        }
        if members.len() > 1 {
            stats.sets.fetch_add(1, Ordering::Relaxed);
        }
        runner(&mut tx, &mut members).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Runs `jobs`, all `Queued<A, T>` of one set, by their set statements.
fn run_set<'c, A: Send + Sync + 'static, T: Send + 'static>(
    conn: &'c mut AnyConnection,
    jobs: &'c mut [&'c mut Box<dyn Job>],
) -> BoxFuture<'c, Result<()>> {
    Box::pin(async move {
        let mut queued: Vec<&mut Queued<A, T>> = jobs
            .iter_mut()
            .map(|job| {
                job.as_any()
                    .downcast_mut::<Queued<A, T>>()
                    .expect("a set holds writes of one type")
            })
            .collect();
        let set = queued[0].set;
        let args: Vec<&A> = queued.iter().map(|q| &q.args).collect();
        let results = set(conn, &args).await?;
        drop(args);
        if results.len() != queued.len() {
            return Err(StoreError::Corrupt(format!(
                "a set of {} writes gave {} results",
                queued.len(),
                results.len()
            )));
        }
        for (q, result) in queued.iter_mut().zip(results) {
            q.done = Some(result);
        }
        Ok(())
    })
}
