//! Waking the scheduler: it sleeps until the next due time and is woken early only when
//! something new is due sooner than it planned to look.
//!
//! Within one process that is a [`Notify`]. On PostgreSQL the other `rateline serve`
//! processes sharing the database hear it through LISTEN/NOTIFY on the `rateline_wake`
//! channel; notifications are coalesced (at most one per 10 ms), so a burst of closes costs
//! one NOTIFY, not one per close.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// The channel Rateline processes NOTIFY each other on.
pub const NOTIFY_CHANNEL: &str = "rateline_wake";

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
}

impl Default for Wake {
    fn default() -> Self {
        Self {
            local: Notify::new(),
            remote: Notify::new(),
            planned: AtomicI64::new(i64::MIN),
            housekeeping: AtomicI64::new(i64::MAX),
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

    /// Takes the earliest housekeeping moment announced since the last call.
    pub(super) fn take_housekeeping(&self) -> i64 {
        self.housekeeping.swap(i64::MAX, Ordering::AcqRel)
    }

    /// The scheduler is awake and looking: every new due time must wake it again after.
    pub(super) fn awake(&self) {
        self.planned.store(i64::MIN, Ordering::Release);
    }

    /// The scheduler will sleep until `t` (or for ever).
    pub(super) fn plan(&self, t: Option<DateTime<Utc>>) {
        let ms = t.map_or(i64::MAX, |t| t.timestamp_millis());
        self.planned.store(ms, Ordering::Release);
    }

    pub(super) async fn woken(&self) {
        self.local.notified().await;
    }

    /// Wakes this process's scheduler, whatever it planned (a NOTIFY from another process).
    fn poke(&self) {
        self.local.notify_one();
    }
}

/// Sends one NOTIFY per burst of local wake-ups, until `stop`.
pub async fn publish(
    wake: std::sync::Arc<Wake>,
    store: Store,
    owner: String,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = wake.remote.notified() => {}
            _ = stop.cancelled() => return,
        }
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(NOTIFY_CHANNEL)
            .bind(owner.clone())
            .execute(store.pool())
            .await;
        if let Err(e) = sent {
            // The others still wake at their own planned time; this only costs latency.
            tracing::warn!(error = %e, "could not NOTIFY the other schedulers");
        }
        // Every NOTIFY is a commit under a global lock: at most one per interval, however
        // many closes asked for one meanwhile (they collapse into the next).
        tokio::select! {
            _ = tokio::time::sleep(NOTIFY_INTERVAL) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// The shortest time between two NOTIFYs of one process.
const NOTIFY_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

/// Wakes this process when another one NOTIFYs, until `stop`. Reconnects by itself.
pub async fn listen(
    wake: std::sync::Arc<Wake>,
    store: Store,
    owner: String,
    stop: CancellationToken,
) {
    loop {
        let listener = async {
            let mut l = PgListener::connect(store.url()).await?;
            l.listen(NOTIFY_CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        };
        let mut listener = tokio::select! {
            l = listener => match l {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN failed; retrying in 1 s");
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                        _ = stop.cancelled() => return,
                    }
                }
            },
            _ = stop.cancelled() => return,
        };
        loop {
            tokio::select! {
                n = listener.recv() => match n {
                    Ok(n) if n.payload() != owner => wake.poke(),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
                        // A wake may have been missed while disconnected: look now.
                        wake.poke();
                        break;
                    }
                },
                _ = stop.cancelled() => return,
            }
        }
    }
}
