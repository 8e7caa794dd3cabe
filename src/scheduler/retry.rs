//! When to try a failed send again: exponential backoff with jitter, computed by `backon`.
//!
//! Retries are rows in the store, not a loop in memory, so only the delay is needed here:
//! the n-th delay of backon's schedule. A platform's own `retry_after` wins over it.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::{DateTime, Utc};

use crate::settings::SchedulerSettings;

/// The backoff schedule a deployment configured.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    builder: ExponentialBuilder,
    max_attempts: u32,
    /// Events: the same start, no end, at most [`EVENT_RETRY_MAX`] apart.
    events: ExponentialBuilder,
}

/// The longest wait between two tries of an event. Events are tried until their
/// subscription is switched off, so the wait stops growing here.
pub const EVENT_RETRY_MAX: Duration = Duration::from_secs(3600);

impl RetryPolicy {
    /// The policy `s` sets: exponential backoff with jitter, from `retry_min_millis` up to
    /// `retry_max_seconds`, at most `max_attempts` tries; events are tried without a limit.
    pub fn new(s: &SchedulerSettings) -> Self {
        let builder = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(s.retry_min_millis))
            .with_max_delay(Duration::from_secs(s.retry_max_seconds))
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(s.max_attempts as usize);
        let events = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(s.retry_min_millis))
            .with_max_delay(EVENT_RETRY_MAX)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times();
        Self {
            builder,
            max_attempts: s.max_attempts,
            events,
        }
    }

    /// The wait before an event's try `attempts + 1`: it is always tried again.
    pub fn event_delay_after(&self, attempts: u32) -> Duration {
        self.events
            .build()
            .nth(attempts.saturating_sub(1) as usize)
            .unwrap_or(EVENT_RETRY_MAX)
            .min(EVENT_RETRY_MAX)
    }

    /// The wait before attempt `attempts + 1`, or `None` when `attempts` tries were the last.
    pub fn delay_after(&self, attempts: u32) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        self.builder
            .build()
            .nth(attempts.saturating_sub(1) as usize)
    }
}

impl RetryPolicy {
    /// When to try again after a transient failure at `now` (the platform's `after`, else
    /// the backoff), or why not: the attempts are used up, or the try would pass `deadline`.
    pub fn next_try(
        &self,
        now: DateTime<Utc>,
        attempts: u32,
        after: Option<Duration>,
        deadline: DateTime<Utc>,
        reason: &str,
    ) -> Result<DateTime<Utc>, String> {
        let gave_up = || format!("gave up after {attempts} attempts: {reason}");
        if attempts >= self.max_attempts {
            return Err(gave_up());
        }
        let wait = after
            .or_else(|| self.delay_after(attempts))
            .ok_or_else(gave_up)?;
        // A platform's Retry-After may be absurdly large: past the deadline either way.
        before_deadline(now, wait, deadline).ok_or_else(|| {
            format!(
                "the next try (in {} s) would pass the send deadline {}: {reason}",
                wait.as_secs(),
                rfc3339(deadline)
            )
        })
    }
}

/// When a send a rate limit held back comes back to the queue, or why it will not.
pub(super) fn held_back_until(
    now: DateTime<Utc>,
    after: Duration,
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
    wait: Duration,
    deadline: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    chrono::Duration::from_std(wait)
        .ok()
        .and_then(|w| now.checked_add_signed(w))
        .filter(|at| *at <= deadline)
}

/// A time as the logs and refusals write it.
pub(super) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_stay_capped_and_stop_after_the_last_attempt() {
        let s = SchedulerSettings {
            retry_min_millis: 1000,
            retry_max_seconds: 8,
            max_attempts: 6,
            ..SchedulerSettings::default()
        };
        let p = RetryPolicy::new(&s);
        let first = p.delay_after(1).unwrap();
        // Jitter adds up to one more base delay.
        assert!(
            first >= Duration::from_secs(1) && first <= Duration::from_secs(2),
            "{first:?}"
        );
        let third = p.delay_after(3).unwrap();
        assert!(third >= Duration::from_secs(4), "{third:?}");
        for n in 1..6 {
            assert!(p.delay_after(n).unwrap() <= Duration::from_secs(16));
        }
        assert_eq!(p.delay_after(6), None);
    }

    #[test]
    fn events_are_tried_again_forever_at_most_an_hour_apart() {
        let s = SchedulerSettings {
            retry_min_millis: 1000,
            max_attempts: 3,
            ..SchedulerSettings::default()
        };
        let p = RetryPolicy::new(&s);
        let first = p.event_delay_after(1);
        assert!(first >= Duration::from_secs(1) && first <= Duration::from_secs(2));
        // Past the requests' last attempt, and far past the point where it stops growing.
        assert!(p.event_delay_after(5) >= Duration::from_secs(16));
        assert_eq!(p.event_delay_after(500), EVENT_RETRY_MAX);
    }
}
