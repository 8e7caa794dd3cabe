//! The scheduler's loop: one process's [`Scheduler`], its passes over the queue, and the
//! state its sends share ([`Inner`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::Duration;
use rateline_adapters::ChannelAdapter;
use rateline_domain::{Channel, RequestStatus};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::alerts::AlertSinks;
use crate::clock::Clock;
use crate::engine::{Engine, Wake};
use crate::events::EventPoster;
use crate::metrics::Metrics;
use crate::settings::SchedulerSettings;
use crate::store::{Backend, JobKind, Store, StoreError};

use super::housekeeping::{fold_rollup, forget_expired_sign_ins, purge_old, write_key_uses};
use super::notify;
use super::retry::RetryPolicy;

/// The adapters of the channels this server sends on.
#[derive(Clone, Default)]
pub struct Adapters(HashMap<Channel, Arc<dyn ChannelAdapter>>);

impl Adapters {
    /// These adapters and `adapter`, which replaces any other of its channel.
    pub fn with(mut self, adapter: Arc<dyn ChannelAdapter>) -> Self {
        self.0.insert(adapter.channel(), adapter);
        self
    }

    pub(super) fn get(&self, channel: Channel) -> Option<&Arc<dyn ChannelAdapter>> {
        self.0.get(&channel)
    }
}

/// The scheduler of one process.
pub struct Scheduler {
    inner: Arc<Inner>,
    /// `retention.days`: purge what closed longer ago, every hour.
    retention_days: Option<u32>,
}

pub(super) struct Inner {
    pub(super) engine: Engine,
    pub(super) store: Store,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) wake: Arc<Wake>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) adapters: Adapters,
    pub(super) sinks: Arc<AlertSinks>,
    pub(super) events: EventPoster,
    pub(super) settings: SchedulerSettings,
    pub(super) retry: RetryPolicy,
    /// This process's name on the leases it takes.
    pub(super) owner: String,
    pub(super) answer_url: String,
}

/// How many idle sessions one pass closes; the rest wait for the next pass, right after.
const IDLE_BATCH: i64 = 100;

/// How much longer than `send_timeout` the scheduler waits for an adapter before it gives up.
pub(super) const SEND_TIMEOUT_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a woken scheduler waits before it claims, so that closes arriving together are
/// sent together. It adds at most this much lateness.
const WAKE_DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(5);

impl Scheduler {
    /// A scheduler that works `store`'s durable queue: claims, outcomes, expiries, the
    /// report's folds. Those statements are the queue's own mechanics; what changes a
    /// session goes through `engine` (idle closes).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        engine: Engine,
        store: Store,
        clock: Arc<dyn Clock>,
        wake: Arc<Wake>,
        metrics: Arc<Metrics>,
        adapters: Adapters,
        sinks: Arc<AlertSinks>,
        events: EventPoster,
        settings: SchedulerSettings,
        answer_url: String,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                engine,
                store,
                clock,
                wake,
                metrics,
                adapters,
                sinks,
                events,
                retry: RetryPolicy::new(&settings),
                settings,
                owner: uuid::Uuid::now_v7().to_string(),
                answer_url,
            }),
            retention_days: None,
        }
    }

    /// Purges sessions closed more than `days` ago, at the start and every hour after.
    pub fn keeping(mut self, days: Option<u32>) -> Self {
        self.retention_days = days;
        self
    }

    /// Runs until `stop`, then finishes the sends in flight and returns.
    pub async fn run(self, stop: CancellationToken) {
        let inner = self.inner;
        let mut helpers = JoinSet::new();
        if let Some(days) = self.retention_days {
            helpers.spawn(purge_old(inner.engine.clone(), days, stop.child_token()));
        }
        if inner.store.backend() == Backend::Postgres {
            let own = stop.child_token();
            helpers.spawn(notify::publish(
                inner.wake.clone(),
                inner.store.clone(),
                inner.owner.clone(),
                own.clone(),
            ));
            helpers.spawn(notify::listen(
                inner.wake.clone(),
                inner.store.clone(),
                inner.owner.clone(),
                own,
            ));
        }
        helpers.spawn(write_key_uses(inner.engine.clone(), stop.child_token()));
        helpers.spawn(forget_expired_sign_ins(
            inner.store.clone(),
            stop.child_token(),
        ));
        helpers.spawn(fold_rollup(
            inner.store.clone(),
            std::time::Duration::from_secs(inner.settings.report_fold_seconds),
            stop.child_token(),
        ));
        let permits = Arc::new(Semaphore::new(inner.settings.concurrency as usize));
        let mut sends = JoinSet::new();
        // When expiries and idle closes are next due, in ms; the first pass looks at once.
        let mut housekeeping = i64::MIN;
        tracing::info!(owner = %inner.owner, "scheduler started");
        while !stop.is_cancelled() {
            while sends.try_join_next().is_some() {}
            match inner
                .pass(&permits, &mut sends, &mut housekeeping, &stop)
                .await
            {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    // The database is down or hiccuped: nothing was half-done, look again soon.
                    tracing::warn!(error = %e, "scheduler pass failed; retrying in 1 s");
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                        _ = stop.cancelled() => {}
                    }
                }
            }
        }
        tracing::info!(
            in_flight = sends.len(),
            "scheduler stopping: finishing sends in flight"
        );
        while sends.join_next().await.is_some() {}
        helpers.shutdown().await;
        // The key uses of the last minute, which the helper's next tick would have written.
        if let Err(e) = inner.engine.write_key_uses().await {
            tracing::warn!(error = %e, "could not note when keys were last used");
        }
        tracing::info!("scheduler stopped");
    }
}

impl Inner {
    /// One pass. Returns true when there may be more due right now.
    ///
    /// `housekeeping` is when expiries and idle closes are next due (ms); those queries run
    /// only then, so a busy stream of sends does not pay for them on every pass.
    ///
    /// One piece: one pass's steps in the order they run (expiries, idle closes, digests
    /// gathered, requests claimed, then each kind of job, then the sleep), each with the
    /// slots the one before left.
    async fn pass(
        self: &Arc<Self>,
        permits: &Arc<Semaphore>,
        sends: &mut JoinSet<()>,
        housekeeping: &mut i64,
        stop: &CancellationToken,
    ) -> Result<bool, StoreError> {
        self.wake.awake();
        self.metrics.scheduler_passes.inc();
        let now = self.clock.now();
        *housekeeping = (*housekeeping).min(self.wake.take_housekeeping());
        let mut idle_left = false;
        if now.timestamp_millis() >= *housekeeping {
            let expired = self.store.requests().expire_unanswered(now).await?;
            for _ in 0..expired {
                self.metrics.transition(RequestStatus::Expired);
            }
            let idle = self.store.sessions().idle(now, IDLE_BATCH).await?;
            for id in &idle {
                match self.engine.close_idle(id).await {
                    Ok(_) => tracing::info!(session_id = %id, "closed for inactivity"),
                    Err(crate::engine::EngineError::Store(e)) => return Err(e),
                    Err(e) => {
                        tracing::warn!(session_id = %id, error = %e, "could not close an idle session")
                    }
                }
            }
            idle_left = idle.len() as i64 == IDLE_BATCH;
            if now.timestamp_millis() >= self.wake.weekly_due() {
                let next = self
                    .store
                    .digests()
                    .plan_weekly_reports(self.engine.zone(), now)
                    .await?;
                self.wake.weekly_at(next);
            }
            let gathered = self.store.digests().gather(now).await?;
            if gathered > 0 {
                tracing::debug!(
                    ratings = gathered,
                    "ratings gathered into operators' digests"
                );
            }
        }

        // Claim only as many as can be sent now, so a claim never waits out its lease in memory.
        let first = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = stop.cancelled() => return Ok(false),
        };
        let mut held = vec![first];
        while held.len() < self.settings.batch_size as usize {
            match permits.clone().try_acquire_owned() {
                Ok(p) => held.push(p),
                Err(_) => break,
            }
        }
        // Waiting for a free slot may have taken a while: the lease starts now, not at the
        // top of the pass, or it could end before the send even begins.
        let lease = Duration::from_std(self.settings.lease()).unwrap_or(Duration::MAX);
        let claimed_at = Instant::now();
        let claimed = self
            .store
            .requests()
            .claim_due(&self.owner, self.clock.now(), lease, held.len() as i64)
            .await?;
        let mut spare = held.into_iter();
        for (request, permit) in claimed.into_iter().zip(spare.by_ref()) {
            let me = self.clone();
            sends.spawn(async move {
                me.send(request, claimed_at).await;
                drop(permit);
            });
        }
        // Alerts, responses, reminders and events take the slots rating requests left.
        for kind in [
            JobKind::Alert,
            JobKind::Response,
            JobKind::Reminder,
            JobKind::Event,
            JobKind::Digest,
        ] {
            if spare.len() == 0 {
                break;
            }
            // With no active subscription no event can be claimed, and with no digest
            // queued none can: no query for them.
            if (kind == JobKind::Event && !self.store.events().wanted().await)
                || (kind == JobKind::Digest && !self.store.digests().pending().await)
            {
                continue;
            }
            let jobs = self
                .store
                .jobs()
                .claim_due(
                    kind,
                    &self.owner,
                    self.clock.now(),
                    lease,
                    spare.len() as i64,
                )
                .await?;
            for (job, permit) in jobs.into_iter().zip(spare.by_ref()) {
                let me = self.clone();
                sends.spawn(async move {
                    if job.kind == JobKind::Event {
                        me.send_event(job, claimed_at).await;
                    } else {
                        me.send_job(job, claimed_at).await;
                    }
                    drop(permit);
                });
            }
        }
        if spare.len() == 0 || idle_left {
            return Ok(true);
        }
        drop(spare);

        let due = self.store.requests().next_wake().await?;
        let weekly = self.wake.weekly_due();
        let due = crate::store::NextWake {
            housekeeping: [
                due.housekeeping,
                chrono::DateTime::from_timestamp_millis(weekly),
            ]
            .into_iter()
            .flatten()
            .min(),
            ..due
        };
        *housekeeping = due.housekeeping.map_or(i64::MAX, |t| t.timestamp_millis());
        let next = match (due.send, due.housekeeping) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.wake.plan(next);
        let sleep = async {
            match next {
                Some(t) => self.clock.sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            _ = self.wake.woken() => {
                // Woken by a new request: wait a moment so a burst of closes is claimed in
                // one batch instead of one pass (and five round trips) per close.
                tokio::select! {
                    _ = tokio::time::sleep(WAKE_DEBOUNCE) => {}
                    _ = stop.cancelled() => {}
                }
            }
            _ = stop.cancelled() => {}
        }
        Ok(false)
    }

    /// Writes an outcome, retrying while the database is away: giving up would let the
    /// lease run out and the message be sent a second time. `None` when the lease ran out
    /// first (another claim may have sent it again by then).
    pub(super) async fn persist<T, F, Fut>(&self, claimed_at: Instant, write: F) -> Option<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let give_up = claimed_at + self.settings.lease();
        let mut wait = std::time::Duration::from_millis(100);
        loop {
            match write().await {
                Ok(done) => return Some(done),
                Err(e) if Instant::now() < give_up => {
                    tracing::warn!(error = %e, "could not record the send outcome; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(5));
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not record the send outcome; it will be sent again");
                    return None;
                }
            }
        }
    }
}
