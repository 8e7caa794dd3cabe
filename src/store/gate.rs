//! A process's memory of whether a table has any row that matters (any active
//! subscription, any queued digest), so that hot writes skip a statement when it has none,
//! and of rows read by key that change rarely ([`Cached`]: the lines opens read). A reading
//! is trusted for [`GATE_TTL`]; a change made through this process makes it stale at once.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

use sqlx::Row;

/// How long a process trusts what it last read: whether any subscription is active, a line
/// an open read. A subscription made through another process gets events from at most this
/// long after, and a line changed there reaches opens here as late.
pub const GATE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether any subscription is active (or, for the digests, any digest is queued), as
/// last read: one row of a [`Cached`] map, with no key.
#[derive(Debug, Default)]
pub(crate) struct Gate(Cached<(), bool>);

impl Gate {
    /// The reading, fresh or else read now with `count` (a `SELECT` of one count `n`): true
    /// when it counts anything. When the store cannot say, it answers true.
    pub(crate) async fn read(&self, pool: &sqlx::AnyPool, count: &'static str) -> bool {
        let generation = match self.0.fresh(&()) {
            Ok(any) => return any,
            Err(generation) => generation,
        };
        match sqlx::query(count)
            .fetch_one(pool)
            .await
            .and_then(|row| row.try_get::<i64, _>("n"))
        {
            Ok(n) => {
                self.0.keep(&(), &(n > 0), generation);
                n > 0
            }
            Err(_) => true,
        }
    }

    /// Forgets the reading: a change was made here.
    pub(crate) fn forget(&self) {
        self.0.forget();
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
