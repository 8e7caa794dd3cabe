//! `[scheduler]`: how the durable queue claims, sends and retries.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the scheduler sends: see docs/delivery.md.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerSettings {
    /// The most requests claimed in one batch.
    pub batch_size: u32,
    /// The most sends in flight at once in this process.
    pub concurrency: u32,
    /// How long a claim lasts; a crashed holder's requests are sent again after it.
    pub lease_seconds: u64,
    /// A send that takes longer is abandoned and retried.
    pub send_timeout_seconds: u64,
    /// A request not sent this long after its due time ends `failed` instead of arriving late.
    pub send_deadline_seconds: u64,
    /// Tries before a request ends `failed`.
    pub max_attempts: u32,
    /// The first backoff; it doubles with each retry, with jitter.
    pub retry_min_millis: u64,
    /// The longest backoff.
    pub retry_max_seconds: u64,
    /// How often the report's change log is folded into its per-day rollup. Reports read
    /// both, so this bounds how many unfolded changes a report sums, not how fresh it is.
    pub report_fold_seconds: u64,
    /// How often the helpdesks' conversations (tickets) are read through their APIs, for
    /// events their webhooks did not bring; once at the start too.
    pub helpdesk_catch_up_seconds: u64,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            batch_size: 128,
            concurrency: 256,
            lease_seconds: 60,
            send_timeout_seconds: 10,
            send_deadline_seconds: 900,
            max_attempts: 10,
            retry_min_millis: 1000,
            retry_max_seconds: 300,
            report_fold_seconds: 5,
            helpdesk_catch_up_seconds: 180,
        }
    }
}

impl SchedulerSettings {
    /// What is wrong with `[scheduler]`, as sentences.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let s = self;
        if s.lease_seconds <= s.send_timeout_seconds {
            problems.push(format!(
                "scheduler.lease_seconds ({}) must exceed scheduler.send_timeout_seconds ({}), \
                 or a slow send would be claimed twice",
                s.lease_seconds, s.send_timeout_seconds
            ));
        }
        if s.batch_size == 0
            || s.concurrency == 0
            || s.max_attempts == 0
            || s.report_fold_seconds == 0
            || s.helpdesk_catch_up_seconds == 0
        {
            problems.push(
                "scheduler.batch_size, scheduler.concurrency, scheduler.max_attempts, \
                 scheduler.report_fold_seconds and scheduler.helpdesk_catch_up_seconds must be \
                 at least 1"
                    .into(),
            );
        }
        problems
    }

    /// How long a claim lasts before another holder may take the work (`lease_seconds`).
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds)
    }
    /// How long one send may take before it is abandoned and retried (`send_timeout_seconds`).
    pub fn send_timeout(&self) -> Duration {
        Duration::from_secs(self.send_timeout_seconds)
    }
    /// How late after its due time a request may still be sent (`send_deadline_seconds`).
    pub fn send_deadline(&self) -> Duration {
        Duration::from_secs(self.send_deadline_seconds)
    }
}
