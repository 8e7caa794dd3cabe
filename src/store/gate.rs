//! A process's memory of whether a table has any row that matters (any active
//! subscription, any queued digest), so that hot writes skip a statement when it has none.
//! The reading is trusted for [`GATE_TTL`]; a change made through this process makes it
//! stale at once.

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
