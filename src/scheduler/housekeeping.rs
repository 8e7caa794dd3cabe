//! The scheduler's periodic chores beside the queue: folding the report's changes,
//! forgetting expired sign-ins, writing when keys were last used, and purging what
//! `retention.days` no longer keeps.

use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::store::Store;

/// Folds the report's changes every `every` (`scheduler.report_fold_seconds`) until `stop`.
pub(super) async fn fold_rollup(store: Store, every: std::time::Duration, stop: CancellationToken) {
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.cancelled() => return,
        }
        match store.reports().fold_rollup().await {
            Ok(n) => tracing::debug!(changes = n, "report changes folded"),
            // Nothing is lost: the changes stay in the log and are counted from there.
            Err(e) => tracing::warn!(error = %e, "could not fold the report's changes"),
        }
    }
}

/// Forgets dashboard sign-ins that expired, every hour until `stop`. They are refused once
/// expired whether or not this has run; it only keeps the table small. Sign-ins expire on
/// the wall clock, as browsers' cookies do.
pub(super) async fn forget_expired_sign_ins(store: Store, stop: CancellationToken) {
    let every = std::time::Duration::from_secs(3600);
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.cancelled() => return,
        }
        match store
            .sign_ins()
            .delete_expired_sign_ins(chrono::Utc::now())
            .await
        {
            Ok(n) => tracing::debug!(sign_ins = n, "expired sign-ins forgotten"),
            Err(e) => tracing::warn!(error = %e, "could not forget expired sign-ins"),
        }
    }
}

/// Writes when each API key was last used, every minute until `stop` (the scheduler writes
/// the last minute's when it stops).
pub(super) async fn write_key_uses(engine: Engine, stop: CancellationToken) {
    let every = std::time::Duration::from_secs(60);
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.cancelled() => return,
        }
        if let Err(e) = engine.write_key_uses().await {
            tracing::warn!(error = %e, "could not note when keys were last used; trying again in a minute");
        }
    }
}

/// Purges what `retention.days` no longer keeps, at the start and every hour until `stop`.
/// Several processes may run it at once: each deletes what is still there.
pub(super) async fn purge_old(engine: Engine, days: u32, stop: CancellationToken) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.cancelled() => return,
        }
        match engine.purge_older_than(days).await {
            Ok(p) if p.sessions > 0 => tracing::info!(
                sessions = p.sessions,
                requests = p.requests,
                ratings = p.ratings,
                days,
                "purged what retention.days no longer keeps"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not purge old sessions; trying again in an hour")
            }
        }
    }
}
