//! A process's memory of whether a table has any row that matters (any active
//! subscription, any queued digest), so that hot writes skip a statement when it has none,
//! and of rows read by key that change rarely ([`Cached`]: the lines opens read). A reading
//! is trusted for [`GATE_TTL`]; a change made through this process makes it stale at once.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

use sqlx::Row;

/// How long a process trusts what it last read about whether any subscription is active.
/// A subscription made through another process gets events from at most this long after.
pub const GATE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether any subscription is active (or, for the digests, any digest is queued), as
/// last read, and how many times a change made here has made that reading stale.
#[derive(Debug, Default)]
pub(crate) struct Gate(Mutex<GateState>);

#[derive(Debug, Default)]
struct GateState {
    read: Option<(Instant, bool)>,
    /// Raised by every change here: a reading started before it is not kept.
    generation: u64,
}

impl Gate {
    /// The fresh reading, or the generation a new one starts at.
    fn fresh(&self) -> Result<bool, u64> {
        let held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match held.read {
            Some((at, any)) if at.elapsed() < GATE_TTL => Ok(any),
            _ => Err(held.generation),
        }
    }

    /// Keeps a reading started at `generation`, unless a change came since.
    fn set(&self, any: bool, generation: u64) {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if held.generation == generation {
            held.read = Some((Instant::now(), any));
        }
    }

    /// The reading, fresh or else read now with `count` (a `SELECT` of one count `n`): true
    /// when it counts anything. When the store cannot say, it answers true.
    pub(crate) async fn read(&self, pool: &sqlx::AnyPool, count: &'static str) -> bool {
        let generation = match self.fresh() {
            Ok(any) => return any,
            Err(generation) => generation,
        };
        match sqlx::query(count)
            .fetch_one(pool)
            .await
            .and_then(|row| row.try_get::<i64, _>("n"))
        {
            Ok(n) => {
                self.set(n > 0, generation);
                n > 0
            }
            Err(_) => true,
        }
    }

    pub(crate) fn forget(&self) {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        held.read = None;
        held.generation += 1;
    }
}

/// Rows by key as last read, each with when, and how many times a change made here has made
/// the readings stale.
#[derive(Debug)]
pub(crate) struct Cached<K, V>(Mutex<CachedRows<K, V>>);

#[derive(Debug)]
struct CachedRows<K, V> {
    rows: HashMap<K, (Instant, V)>,
    /// Raised by every change here: a reading started before it is not kept.
    generation: u64,
}

impl<K, V> Default for Cached<K, V> {
    fn default() -> Self {
        Self(Mutex::new(CachedRows {
            rows: HashMap::new(),
            generation: 0,
        }))
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Cached<K, V> {
    fn held(&self) -> std::sync::MutexGuard<'_, CachedRows<K, V>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Row `key` if read less than [`GATE_TTL`] ago, else the generation a reading starts at.
    pub(crate) fn fresh(&self, key: &K) -> Result<V, u64> {
        let held = self.held();
        match held.rows.get(key) {
            Some((at, row)) if at.elapsed() < GATE_TTL => Ok(row.clone()),
            _ => Err(held.generation),
        }
    }

    /// Keeps `row` under `key`, read from generation `generation`, unless a change came since.
    pub(crate) fn keep(&self, key: &K, row: &V, generation: u64) {
        let mut held = self.held();
        if held.generation == generation {
            held.rows.insert(key.clone(), (Instant::now(), row.clone()));
        }
    }

    /// Forgets every row: one was changed here.
    pub(crate) fn forget(&self) {
        let mut held = self.held();
        held.generation += 1;
        held.rows.clear();
    }
}
