//! Waking the scheduler: it sleeps until the next due time and is woken early only when
//! something new is due sooner than it planned to look. The engine says when something is
//! due; the scheduler listens. Within one process that is a [`Notify`]; the scheduler also
//! passes wake-ups to and from other processes sharing a PostgreSQL database
//! (`crate::scheduler`'s `notify` module).

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

/// Shared between the engine (which says "something is due at t") and the scheduler.
#[derive(Debug)]
pub struct Wake {
    local: Notify,
    remote: Notify,
    /// When the scheduler means to look next, in ms; `i64::MIN` while it is awake, so
    /// nothing scheduled during a pass is missed.
    planned: AtomicI64,
    /// The earliest housekeeping moment announced since the scheduler last looked, in ms.
    housekeeping: AtomicI64,
    /// When the next weekly report falls due, in ms: the scheduler plans them then, with
    /// its housekeeping; `i64::MIN` to plan them at the next pass.
    weekly: AtomicI64,
}

impl Default for Wake {
    fn default() -> Self {
        Self {
            local: Notify::new(),
            remote: Notify::new(),
            planned: AtomicI64::new(i64::MIN),
            housekeeping: AtomicI64::new(i64::MAX),
            weekly: AtomicI64::new(i64::MIN),
        }
    }
}

impl Wake {
    /// Something is due at `t`: wake the scheduler if it planned to sleep past it.
    pub fn due_at(&self, t: DateTime<Utc>) {
        let planned = self.planned.load(Ordering::Acquire);
        if planned == i64::MIN || t.timestamp_millis() < planned {
            self.local.notify_one();
            self.remote.notify_one();
        }
    }

    /// Housekeeping is due at `t` (an idle session's close, an answer window's end): the
    /// scheduler runs those queries only when one is due.
    pub fn housekeeping_at(&self, t: DateTime<Utc>) {
        self.housekeeping
            .fetch_min(t.timestamp_millis(), Ordering::AcqRel);
        self.due_at(t);
    }

    /// When the scheduler plans the weekly reports next, in ms.
    pub fn weekly_due(&self) -> i64 {
        self.weekly.load(Ordering::Acquire)
    }

    /// The next weekly report falls due at `t` (never, with `None`).
    pub fn weekly_at(&self, t: Option<DateTime<Utc>>) {
        self.weekly.store(
            t.map_or(i64::MAX, |t| t.timestamp_millis()),
            Ordering::Release,
        );
    }

    /// Someone asked for the weekly report or stopped: plan them again at `now`.
    pub fn replan_weekly(&self, now: DateTime<Utc>) {
        self.weekly.store(i64::MIN, Ordering::Release);
        self.housekeeping_at(now);
    }

    /// Takes the earliest housekeeping moment announced since the last call.
    pub fn take_housekeeping(&self) -> i64 {
        self.housekeeping.swap(i64::MAX, Ordering::AcqRel)
    }

    /// The scheduler is awake and looking: every new due time must wake it again after.
    pub fn awake(&self) {
        self.planned.store(i64::MIN, Ordering::Release);
    }

    /// The scheduler will sleep until `t` (or for ever).
    pub fn plan(&self, t: Option<DateTime<Utc>>) {
        let ms = t.map_or(i64::MAX, |t| t.timestamp_millis());
        self.planned.store(ms, Ordering::Release);
    }

    /// Returns when the scheduler should look again: something came due sooner than it planned.
    pub async fn woken(&self) {
        self.local.notified().await;
    }

    /// Waits until a wake-up should be passed on to the other processes.
    pub async fn to_pass_on(&self) {
        self.remote.notified().await;
    }

    /// Wakes this process's scheduler, whatever it planned (a NOTIFY from another process).
    pub fn poke(&self) {
        self.local.notify_one();
    }
}
