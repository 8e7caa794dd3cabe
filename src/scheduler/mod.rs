//! The durable scheduler: turns due rating requests into sends, and sends into statuses.
//!
//! One pass: expire requests whose answer window ended, close idle sessions, claim a batch
//! of due requests (a lease, see [`crate::store`]) and hand each to its channel's adapter
//! in its own task; then, with the slots left, due low-rating alerts (to their sinks, see
//! [`crate::alerts`]) and responses on their way to clients (through the session's channel). When nothing more is due, it sleeps until the earliest `run_at` in the
//! store, or until [`Wake`] says something new is due sooner; it never polls.
//!
//! Delivery is at least once: a request is sent once, except that one whose send was in
//! flight when the process died is sent again when its lease runs out. Connectors get the
//! request id as an idempotency key for that case.

mod notify;
mod retry;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use rateline_adapters::{
    ChannelAdapter, OutgoingRequest, OutgoingText, SendOutcome, TemplateRef, TextKind,
    WebhookTarget,
};
use rateline_domain::Channel;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use rateline_domain::RequestStatus;
pub use retry::RetryPolicy;

use crate::alerts::AlertSinks;
use crate::clock::Clock;
use crate::engine::{Engine, Wake};
use crate::events::EventPoster;
use crate::metrics::Metrics;
use crate::settings::SchedulerSettings;
use crate::store::{
    Backend, ClaimedJob, ClaimedRequest, EventResult, JobKind, JobResult, Recorded, SendResult,
    Store, StoreError,
};

/// Folds the report's changes every `every` (`scheduler.report_fold_seconds`) until `stop`.
async fn fold_rollup(store: Store, every: std::time::Duration, stop: CancellationToken) {
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.cancelled() => return,
        }
        match store.fold_rollup().await {
            Ok(n) => tracing::debug!(changes = n, "report changes folded"),
            // Nothing is lost: the changes stay in the log and are counted from there.
            Err(e) => tracing::warn!(error = %e, "could not fold the report's changes"),
        }
    }
}

/// Forgets dashboard sign-ins that expired, every hour until `stop`. They are refused once
/// expired whether or not this has run; it only keeps the table small. Sign-ins expire on
/// the wall clock, as browsers' cookies do.
async fn forget_expired_sign_ins(store: Store, stop: CancellationToken) {
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
async fn write_key_uses(engine: Engine, stop: CancellationToken) {
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
async fn purge_old(engine: Engine, days: u32, stop: CancellationToken) {
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

/// The adapters of the channels this server sends on.
#[derive(Clone, Default)]
pub struct Adapters(HashMap<Channel, Arc<dyn ChannelAdapter>>);

impl Adapters {
    pub fn with(mut self, adapter: Arc<dyn ChannelAdapter>) -> Self {
        self.0.insert(adapter.channel(), adapter);
        self
    }

    fn get(&self, channel: Channel) -> Option<&Arc<dyn ChannelAdapter>> {
        self.0.get(&channel)
    }
}

/// The scheduler of one process.
pub struct Scheduler {
    inner: Arc<Inner>,
    /// `retention.days`: purge what closed longer ago, every hour.
    retention_days: Option<u32>,
}

struct Inner {
    engine: Engine,
    store: Store,
    clock: Arc<dyn Clock>,
    wake: Arc<Wake>,
    metrics: Arc<Metrics>,
    adapters: Adapters,
    sinks: Arc<AlertSinks>,
    events: EventPoster,
    settings: SchedulerSettings,
    retry: RetryPolicy,
    /// This process's name on the leases it takes.
    owner: String,
    answer_url: String,
}

/// How many idle sessions one pass closes; the rest wait for the next pass, right after.
const IDLE_BATCH: i64 = 100;

/// How much longer than `send_timeout` the scheduler waits for an adapter before it gives up.
const SEND_TIMEOUT_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

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
            let expired = self.store.expire_unanswered(now).await?;
            for _ in 0..expired {
                self.metrics.transition(RequestStatus::Expired);
            }
            let idle = self.store.idle_sessions(now, IDLE_BATCH).await?;
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
                    .plan_weekly_reports(self.engine.zone(), now)
                    .await?;
                self.wake.weekly_at(next);
            }
            let gathered = self.store.gather_notices(now).await?;
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
            .claim_due_requests(&self.owner, self.clock.now(), lease, held.len() as i64)
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
            JobKind::Notice,
        ] {
            if spare.len() == 0 {
                break;
            }
            // With no active subscription no event can be claimed, and with no digest
            // queued none can: no query for them.
            if (kind == JobKind::Event && !self.store.events_wanted().await)
                || (kind == JobKind::Notice && !self.store.notices_pending().await)
            {
                continue;
            }
            let jobs = self
                .store
                .claim_due_jobs(
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

        let due = self.store.next_wake().await?;
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

    #[tracing::instrument(skip_all, fields(request_id = %c.id, session_id = %c.session_id, line_id = %c.line_id, channel = %c.channel, attempt = c.attempts))]
    async fn send(&self, c: ClaimedRequest, claimed_at: Instant) {
        if c.reclaimed {
            tracing::warn!("the previous holder's lease ran out mid-send: sending again");
        }
        let now = self.clock.now();
        let result = if now > c.send_deadline_at {
            SendResult::Final {
                status: RequestStatus::Failed,
                error: format!(
                    "not sent by the send deadline {} (due {}); Rateline does not send requests late",
                    rfc3339(c.send_deadline_at),
                    rfc3339(c.due_at)
                ),
            }
        } else if let Some(adapter) = self.adapters.get(c.channel) {
            let outgoing = self.outgoing(&c, false);
            let started = Instant::now();
            // Adapters enforce the send timeout on their own calls; this outer limit, a
            // little longer so it never races theirs, only catches an adapter that hangs.
            let limit = self.settings.send_timeout() + SEND_TIMEOUT_GRACE;
            let outcome = match tokio::time::timeout(limit, adapter.send(&outgoing)).await {
                Ok(o) => o,
                Err(_) => SendOutcome::Retry {
                    after: None,
                    reason: format!(
                        "the send took longer than {} s",
                        self.settings.send_timeout_seconds
                    ),
                },
            };
            let labels = vec![("channel", c.channel.as_str().to_owned())];
            self.metrics
                .send_duration
                .get_or_create(&labels)
                .observe(started.elapsed().as_secs_f64());
            self.metrics
                .send_outcomes
                .get_or_create(&vec![
                    ("channel", c.channel.as_str().to_owned()),
                    ("outcome", outcome.label().to_owned()),
                ])
                .inc();
            self.result_of(&c, outcome)
        } else {
            SendResult::Final {
                status: RequestStatus::Failed,
                error: format!("the {} channel is not enabled on this server", c.channel),
            }
        };
        self.record(&c, result, claimed_at).await;
    }

    fn outgoing(&self, c: &ClaimedRequest, reminder: bool) -> OutgoingRequest {
        let line = &c.line;
        OutgoingRequest {
            request_id: c.id.clone(),
            session_id: c.session_id.clone(),
            line_id: c.line_id.clone(),
            client: c.client.clone(),
            scale: c.scale,
            text: line.rating.request_text.clone(),
            language: line.rating.language.clone(),
            answer_url: self.answer_url.clone(),
            attempt: c.attempts,
            last_client_message_at: c.last_client_message_at,
            now: self.clock.now(),
            whatsapp_template: line.whatsapp_template.as_ref().map(|t| TemplateRef {
                name: t.name.clone(),
                language: t.language.clone(),
                values: t.values(c.scale),
            }),
            webhook: webhook_target(line),
            follow_ups: rateline_adapters::FollowUps::of(&line.rating, c.scale),
            reminder,
        }
    }

    /// What an adapter's outcome means for the request, under the retry policy and deadline.
    fn result_of(&self, c: &ClaimedRequest, outcome: SendOutcome) -> SendResult {
        let now = self.clock.now();
        match outcome {
            SendOutcome::Accepted {
                platform_message_id,
            } => {
                let late = (now - c.due_at).to_std().unwrap_or_default();
                self.metrics.lateness.observe(late.as_secs_f64());
                SendResult::Sent {
                    platform_message_id,
                    expires_at: now + Duration::hours(i64::from(c.line.rating.answer_window_hours)),
                    remind_at: c
                        .line
                        .rating
                        .reminder_after_minutes
                        .map(|m| now + Duration::minutes(i64::from(m))),
                }
            }
            SendOutcome::Retry { after, reason } => {
                match self.next_try(c.attempts, after, c.send_deadline_at, &reason) {
                    Ok(at) => SendResult::RetryAt { at, error: reason },
                    Err(error) => SendResult::Final {
                        status: RequestStatus::Failed,
                        error,
                    },
                }
            }
            SendOutcome::Undeliverable { reason } => SendResult::Final {
                status: RequestStatus::Undeliverable,
                error: reason,
            },
            SendOutcome::WindowClosed { reason } => SendResult::Final {
                status: RequestStatus::WindowClosed,
                error: reason,
            },
            SendOutcome::Failed { reason } => {
                tracing::error!(%reason, "send failed for a reason retrying cannot fix");
                SendResult::Final {
                    status: RequestStatus::Failed,
                    error: reason,
                }
            }
            SendOutcome::Defer { after, reason } => {
                match held_back_until(now, after, c.send_deadline_at, &reason) {
                    Ok(at) => SendResult::Deferred { at, reason },
                    Err(error) => SendResult::Final {
                        status: RequestStatus::Failed,
                        error,
                    },
                }
            }
            other => SendResult::Final {
                status: RequestStatus::Failed,
                error: format!("unknown send outcome {other:?}"),
            },
        }
    }

    /// Writes the result, retrying while the database is away: giving up would let the
    /// lease run out and the request be sent a second time.
    async fn record(&self, c: &ClaimedRequest, result: SendResult, claimed_at: Instant) {
        let status = match &result {
            SendResult::Sent { .. } => RequestStatus::Sent,
            SendResult::RetryAt { at, error } => {
                // Every failed send is a warning, so an operator sees it before retries run out.
                tracing::warn!(retry_at = %rfc3339(*at), %error, "send failed; will retry");
                RequestStatus::Scheduled
            }
            SendResult::Deferred { at, reason } => {
                tracing::debug!(retry_at = %rfc3339(*at), %reason, "send held back");
                RequestStatus::Scheduled
            }
            SendResult::Final { status, error } => {
                tracing::warn!(%status, %error, "request ended without reaching the client");
                *status
            }
        };
        let recorded = self
            .persist(claimed_at, || {
                self.store
                    .record_send_result(c, &self.owner, &result, self.clock.now())
            })
            .await;
        match recorded {
            Some(true) => {
                self.metrics.transition(status);
                // The pass that claimed this request planned its sleep around the
                // lease; a retry or an answer window may end sooner than that.
                match &result {
                    SendResult::RetryAt { at, .. } | SendResult::Deferred { at, .. } => {
                        self.wake.due_at(*at)
                    }
                    SendResult::Sent { expires_at, .. } => self.wake.housekeeping_at(*expires_at),
                    // Its end may be an event for a subscription.
                    SendResult::Final { .. } => self.engine.events_queued().await,
                }
            }
            Some(false) => tracing::info!(
                "the request changed while it was being sent (answered, or its lease \
                 ran out and another scheduler holds it); it is left as it is"
            ),
            None => {}
        }
    }

    /// Writes an outcome, retrying while the database is away: giving up would let the
    /// lease run out and the message be sent a second time. `None` when the lease ran out
    /// first (another claim may have sent it again by then).
    async fn persist<T, F, Fut>(&self, claimed_at: Instant, write: F) -> Option<T>
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

    /// Sends one alert or response and records the outcome.
    #[tracing::instrument(skip_all, fields(kind = job.kind.as_str(), id = %job.id, attempt = job.attempts))]
    async fn send_job(&self, job: ClaimedJob, claimed_at: Instant) {
        if job.reclaimed {
            tracing::warn!("the previous holder's lease ran out mid-send: sending again");
        }
        let now = self.clock.now();
        let deadline =
            job.since + Duration::from_std(self.settings.send_deadline()).unwrap_or(Duration::MAX);
        let (via, outcome, carried_comment) = if now > deadline {
            (
                "deadline".to_owned(),
                SendOutcome::Failed {
                    reason: format!(
                        "not sent by the send deadline {}; Rateline does not send late",
                        rfc3339(deadline)
                    ),
                },
                false,
            )
        } else {
            let limit = self.settings.send_timeout() + SEND_TIMEOUT_GRACE;
            match tokio::time::timeout(limit, self.deliver(&job, now)).await {
                Ok(Ok(sent)) => sent,
                Ok(Err(e)) => (
                    "store".to_owned(),
                    SendOutcome::Retry {
                        after: None,
                        reason: format!("could not read what to send: {e}"),
                    },
                    false,
                ),
                Err(_) => (
                    "timeout".to_owned(),
                    SendOutcome::Retry {
                        after: None,
                        reason: format!(
                            "the send took longer than {} s",
                            self.settings.send_timeout_seconds
                        ),
                    },
                    false,
                ),
            }
        };
        self.metrics
            .job_outcomes
            .get_or_create(&vec![
                ("kind", job.kind.as_str().to_owned()),
                ("via", via),
                ("outcome", outcome.label().to_owned()),
            ])
            .inc();
        let result = self.job_result(&job, outcome, carried_comment, deadline);
        match &result {
            JobResult::Final { status, error } => {
                tracing::warn!(%status, %error, "ended without reaching its recipient")
            }
            JobResult::RetryAt { at, error } => {
                tracing::warn!(retry_at = %rfc3339(*at), %error, "send failed; will retry")
            }
            JobResult::Sent { .. } | JobResult::Deferred { .. } => {}
        }
        let recorded = self
            .persist(claimed_at, || {
                self.store
                    .record_job_result(&job, &self.owner, &result, self.clock.now())
            })
            .await;
        match (recorded, &result) {
            (Some(true), JobResult::RetryAt { at, .. } | JobResult::Deferred { at }) => {
                self.wake.due_at(*at)
            }
            // A failed alert and a sent response may be events for a subscription.
            (Some(true), JobResult::Final { .. } | JobResult::Sent { .. }) => {
                self.engine.events_queued().await
            }
            (Some(false), _) => tracing::info!(
                "it changed while being sent (edited and queued again, or its lease ran out); \
                 left as it is"
            ),
            _ => {}
        }
    }

    /// Posts one event to its subscription and records the outcome: delivered, or tried
    /// again after the backoff (never given up on: its subscription is switched off instead
    /// when it has failed for days, see [`crate::store::SWITCH_OFF_AFTER_DAYS`]).
    #[tracing::instrument(skip_all, fields(kind = "event", id = %job.id, attempt = job.attempts))]
    async fn send_event(&self, job: ClaimedJob, claimed_at: Instant) {
        if job.reclaimed {
            tracing::warn!("the previous holder's lease ran out mid-send: sending again");
        }
        let delivery = match self.store.event_delivery(&job.id).await {
            Ok(Some(d)) => d,
            // Its subscription was deleted meanwhile, and the event with it.
            Ok(None) => return,
            Err(e) => {
                // Tried again when the lease runs out.
                tracing::warn!(error = %e, "could not read the event to send");
                return;
            }
        };
        let limit = self.settings.send_timeout() + SEND_TIMEOUT_GRACE;
        let outcome = tokio::time::timeout(limit, self.events.post(&delivery))
            .await
            .unwrap_or_else(|_| SendOutcome::Retry {
                after: None,
                reason: format!(
                    "the send took longer than {} s",
                    self.settings.send_timeout_seconds
                ),
            });
        self.metrics
            .job_outcomes
            .get_or_create(&vec![
                ("kind", "event".to_owned()),
                ("via", "webhook".to_owned()),
                ("outcome", outcome.label().to_owned()),
            ])
            .inc();
        let now = self.clock.now();
        let result = match outcome {
            SendOutcome::Accepted { .. } => EventResult::Delivered,
            other => {
                let (after, error) = match other {
                    SendOutcome::Retry { after, reason } => (after, reason),
                    SendOutcome::Defer { after, reason } => (Some(after), reason),
                    SendOutcome::Undeliverable { reason }
                    | SendOutcome::WindowClosed { reason }
                    | SendOutcome::Failed { reason }
                    | SendOutcome::Skipped { reason } => (None, reason),
                    unknown => (None, format!("unknown send outcome {unknown:?}")),
                };
                let wait = after
                    .map(|a| a.min(retry::EVENT_RETRY_MAX))
                    .unwrap_or_else(|| self.retry.event_delay_after(job.attempts));
                let at = now + Duration::from_std(wait).unwrap_or(Duration::hours(1));
                tracing::warn!(
                    subscription = %delivery.subscription_id,
                    retry_at = %rfc3339(at),
                    %error,
                    "event not delivered; will retry"
                );
                EventResult::Failed { at, error }
            }
        };
        let recorded = self
            .persist(claimed_at, || {
                self.store.record_event_result(
                    &job,
                    &self.owner,
                    &delivery.subscription_id,
                    &result,
                    self.clock.now(),
                )
            })
            .await;
        match (recorded, &result) {
            (Some(Recorded::SwitchedOff), _) => tracing::warn!(
                subscription = %delivery.subscription_id,
                days = crate::store::SWITCH_OFF_AFTER_DAYS,
                "subscription switched off: it has failed for days without a success; \
                 a PUT of /v1/subscriptions/{{id}} switches it back on"
            ),
            (Some(Recorded::Done), EventResult::Failed { at, .. }) => self.wake.due_at(*at),
            // The next event of the same rating may be sent now.
            (Some(Recorded::Done), EventResult::Delivered) => self.wake.due_at(now),
            _ => {}
        }
    }

    /// Sends a job through its sink or channel; returns which, the outcome, and whether it
    /// said the client's comment (an alert that did needs no follow-up).
    async fn deliver(
        &self,
        job: &ClaimedJob,
        now: DateTime<Utc>,
    ) -> Result<(String, SendOutcome, bool), StoreError> {
        match job.kind {
            JobKind::Alert => {
                let Some(alert) = self.store.alert_delivery(&job.id).await? else {
                    return Ok(("none".into(), gone("alert"), false));
                };
                let telegram = self.adapters.get(Channel::Telegram);
                let outcome = self.sinks.send(&alert, telegram, now).await;
                let carried = alert.thread.is_none() && alert.comment.is_some();
                Ok((alert.sink, outcome, carried))
            }
            JobKind::Response => {
                let Some(r) = self.store.response_delivery(&job.id).await? else {
                    return Ok(("none".into(), gone("response"), false));
                };
                let via = r.channel.as_str().to_owned();
                let Some(adapter) = self.adapters.get(r.channel) else {
                    let reason = format!("the {} channel is not enabled on this server", r.channel);
                    return Ok((via, SendOutcome::Failed { reason }, false));
                };
                let message = OutgoingText {
                    id: r.key,
                    kind: TextKind::Response,
                    session_id: r.session_id,
                    line_id: r.line_id,
                    to: r.client,
                    text: r.text,
                    last_client_message_at: r.last_client_message_at,
                    now,
                    webhook: webhook_target(&r.line),
                    reply_to: None,
                };
                Ok((via, adapter.send_text(&message).await, false))
            }
            JobKind::Reminder => {
                let Some((request, status, expires_at)) =
                    self.store.reminder_target(&job.id).await?
                else {
                    return Ok(("none".into(), gone("request"), false));
                };
                let via = request.channel.as_str().to_owned();
                if let Some(reason) = no_reminder(&request, status, expires_at, now) {
                    return Ok((via, SendOutcome::Skipped { reason }, false));
                }
                let Some(adapter) = self.adapters.get(request.channel) else {
                    let reason = format!(
                        "the {} channel is not enabled on this server",
                        request.channel
                    );
                    return Ok((via, SendOutcome::Failed { reason }, false));
                };
                let mut outgoing = self.outgoing(&request, true);
                // Only the request itself may fall back to a template outside the window.
                outgoing.whatsapp_template = None;
                Ok((via, adapter.send(&outgoing).await, false))
            }
            JobKind::Notice => {
                let zone = self.engine.zone();
                let Some(notice) = self.store.notice_delivery(&job.id, zone, now).await? else {
                    return Ok(("none".into(), gone("notice"), false));
                };
                if let Some(why) = &notice.withdrawn {
                    let reason = format!("withdrawn: {why}");
                    return Ok((notice.sink, SendOutcome::Skipped { reason }, false));
                }
                // The person's quiet hours hold it until they end.
                if let Some(end) = notice.quiet_until {
                    let after = (end - now).to_std().unwrap_or_default();
                    let reason = "held for the person's quiet hours".to_owned();
                    return Ok((notice.sink, SendOutcome::Defer { after, reason }, false));
                }
                // One such digest sent (or being sent ahead of this one) less than its pace
                // ago holds this one back for the rest of it.
                if let Some(next) = notice.last_sent_at.map(|t| t + notice.every)
                    && now < next
                {
                    let after = (next - now).to_std().unwrap_or_default();
                    let reason = format!(
                        "a digest went to this address less than {} minutes ago",
                        notice.every.num_minutes()
                    );
                    return Ok((notice.sink, SendOutcome::Defer { after, reason }, false));
                }
                let weekly = matches!(notice.kind, crate::store::DigestKind::Weekly { .. });
                if notice.ratings.is_empty() && !weekly {
                    let reason = "its ratings are no longer in the store".to_owned();
                    return Ok((notice.sink, SendOutcome::Skipped { reason }, false));
                }
                let telegram = self.adapters.get(Channel::Telegram);
                let outcome = self.sinks.send_notice(&notice, telegram, now).await;
                Ok((notice.sink, outcome, false))
            }
            JobKind::Event => unreachable!("events are sent by send_event"),
        }
    }

    /// What a job's outcome means under the retry policy and its deadline.
    fn job_result(
        &self,
        job: &ClaimedJob,
        outcome: SendOutcome,
        carried_comment: bool,
        deadline: DateTime<Utc>,
    ) -> JobResult {
        let now = self.clock.now();
        // Alerts and digests end `failed` whatever the reason; a response to a client keeps
        // the channel's reason, as a rating request does.
        let ended = |status: &'static str, error: String| JobResult::Final {
            status: if matches!(job.kind, JobKind::Alert | JobKind::Notice) {
                "failed"
            } else {
                status
            },
            error,
        };
        match outcome {
            SendOutcome::Accepted {
                platform_message_id,
            } => JobResult::Sent {
                platform_message_id,
                carried_comment,
            },
            SendOutcome::Skipped { reason } => JobResult::Final {
                status: "skipped",
                error: reason,
            },
            SendOutcome::Retry { after, reason } => {
                match self.next_try(job.attempts, after, deadline, &reason) {
                    Ok(at) => JobResult::RetryAt { at, error: reason },
                    Err(error) => ended("failed", error),
                }
            }
            SendOutcome::Defer { after, reason } => {
                match held_back_until(now, after, deadline, &reason) {
                    Ok(at) => JobResult::Deferred { at },
                    Err(error) => ended("failed", error),
                }
            }
            SendOutcome::Undeliverable { reason } => ended("undeliverable", reason),
            SendOutcome::WindowClosed { reason } => ended("window_closed", reason),
            SendOutcome::Failed { reason } => ended("failed", reason),
            other => ended("failed", format!("unknown send outcome {other:?}")),
        }
    }
}

/// Why a request's reminder is not to be sent now, if it is not: the request was
/// answered or ended, its answer window closed, or (Meta's channels) the client's 24-hour
/// window did.
fn no_reminder(
    request: &ClaimedRequest,
    status: RequestStatus,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<String> {
    if !matches!(status, RequestStatus::Sent | RequestStatus::Delivered) {
        return Some(format!("not sent: the request is {status} now"));
    }
    if expires_at.is_some_and(|end| end <= now) {
        return Some("not sent: the request's answer window has closed".into());
    }
    let window_open = request
        .last_client_message_at
        .is_some_and(|last| rateline_domain::meta_window_open(last, now));
    if request.channel.is_meta() && !window_open {
        return Some("not sent: the client's 24-hour window on Meta's channel has closed".into());
    }
    None
}

fn gone(what: &str) -> SendOutcome {
    SendOutcome::Failed {
        reason: format!("the {what} is no longer in the store"),
    }
}

fn webhook_target(line: &rateline_domain::LineSettings) -> Option<WebhookTarget> {
    line.webhook.as_ref().and_then(|w| {
        Some(WebhookTarget {
            url: w.url.clone(),
            secret: w.secret.clone()?,
        })
    })
}

impl Inner {
    /// When to try again after a transient failure (the platform's `after`, else the
    /// backoff), or why not: the attempts are used up, or the try would pass `deadline`.
    fn next_try(
        &self,
        attempts: u32,
        after: Option<std::time::Duration>,
        deadline: DateTime<Utc>,
        reason: &str,
    ) -> Result<DateTime<Utc>, String> {
        let gave_up = || format!("gave up after {attempts} attempts: {reason}");
        if attempts >= self.settings.max_attempts {
            return Err(gave_up());
        }
        let wait = after
            .or_else(|| self.retry.delay_after(attempts))
            .ok_or_else(gave_up)?;
        // A platform's Retry-After may be absurdly large: past the deadline either way.
        before_deadline(self.clock.now(), wait, deadline).ok_or_else(|| {
            format!(
                "the next try (in {} s) would pass the send deadline {}: {reason}",
                wait.as_secs(),
                rfc3339(deadline)
            )
        })
    }
}

/// When a send a rate limit held back comes back to the queue, or why it will not.
fn held_back_until(
    now: DateTime<Utc>,
    after: std::time::Duration,
    deadline: DateTime<Utc>,
    reason: &str,
) -> Result<DateTime<Utc>, String> {
    before_deadline(now, after, deadline).ok_or_else(|| {
        format!(
            "held back by {reason} past the send deadline {}",
            rfc3339(deadline)
        )
    })
}

/// `now + wait`, unless that passes `deadline` (or overflows).
fn before_deadline(
    now: DateTime<Utc>,
    wait: std::time::Duration,
    deadline: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    Duration::from_std(wait)
        .ok()
        .and_then(|w| now.checked_add_signed(w))
        .filter(|at| *at <= deadline)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
