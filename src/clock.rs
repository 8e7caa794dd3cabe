//! Time as a dependency.
//!
//! Everything that asks "what time is it" or "wake me at" goes through a [`Clock`], so tests
//! drive a [`ManualClock`] and check a 3-second delay or a 72-hour answer window exactly and
//! instantly, while the server runs on [`SystemClock`].

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// Midnight starting `day` in `zone`: where the zone skipped that midnight (summer time
/// starting at 00:00, or a whole day, as Samoa's 2011-12-30), the first instant whose wall
/// clock reads at or after it.
pub fn midnight(zone: chrono_tz::Tz, day: chrono::NaiveDate) -> DateTime<Utc> {
    use chrono::TimeZone;
    let local = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    match zone.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.with_timezone(&Utc)
        }
        chrono::LocalResult::None => {
            // Offsets lie within a day of UTC; the wall clock only moves forward across the
            // gap, so the first instant at or after midnight is found by halving, to the
            // second.
            let at = |s: i64| DateTime::from_timestamp(s, 0).expect("within chrono's range");
            let around = local.and_utc().timestamp();
            let (mut before, mut after) = (around - 26 * 3600, around + 26 * 3600);
            while after - before > 1 {
                let mid = before + (after - before) / 2;
                if at(mid).with_timezone(&zone).naive_local() >= local {
                    after = mid;
                } else {
                    before = mid;
                }
            }
            at(after)
        }
    }
}

/// The whole days in `zone` that cover `from`..`to`: `from` back to its day's midnight, `to`
/// on to the next midnight unless it is one. Either may be open.
pub fn whole_days(
    zone: chrono_tz::Tz,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let day_of = |t: DateTime<Utc>| t.with_timezone(&zone).date_naive();
    let from = from.map(|t| midnight(zone, day_of(t)));
    let to = to.map(|t| {
        let start = midnight(zone, day_of(t));
        if start == t {
            t
        } else {
            midnight(zone, day_of(t).succ_opt().unwrap_or(day_of(t)))
        }
    });
    (from, to)
}

/// A source of the current time that can also wait for a moment to come.
#[async_trait]
pub trait Clock: Send + Sync + 'static {
    /// What time it is, by this clock.
    fn now(&self) -> DateTime<Utc>;

    /// Returns once `now() >= at`.
    async fn sleep_until(&self, at: DateTime<Utc>);
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep_until(&self, at: DateTime<Utc>) {
        let wait = (at - Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
    }
}

/// A clock that moves only when told to: for tests and for reasoning about time exactly.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
    moved: watch::Sender<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock standing at `start` until [`ManualClock::advance`] moves it.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
            moved: watch::channel(start).0,
        }
    }

    /// Moves time forward and wakes everyone sleeping until a moment now reached.
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.now.lock().expect("clock lock");
        *now += by;
        self.moved.send_replace(*now);
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().expect("clock lock")
    }

    async fn sleep_until(&self, at: DateTime<Utc>) {
        let mut moved = self.moved.subscribe();
        // `wait_for` checks the current value first, so a moment already past returns at once.
        let _ = moved.wait_for(|now| *now >= at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn whole_days_cover_a_window_in_the_zone() {
        let zone: chrono_tz::Tz = "Europe/Moscow".parse().unwrap();
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // 09:00:00.000 to .001 UTC is 12:00 in Moscow: the whole Moscow day.
        let (from, to) = whole_days(
            zone,
            Some(t("2026-11-21T09:00:00Z")),
            Some(t("2026-11-21T09:00:00.001Z")),
        );
        assert_eq!(from, Some(t("2026-11-20T21:00:00Z")));
        assert_eq!(to, Some(t("2026-11-21T21:00:00Z")));
        // A midnight stays as it is; an open end stays open.
        let (from, to) = whole_days(zone, None, Some(t("2026-11-21T21:00:00Z")));
        assert_eq!((from, to), (None, Some(t("2026-11-21T21:00:00Z"))));
    }

    #[tokio::test]
    async fn a_manual_sleeper_wakes_only_when_time_reaches_its_moment() {
        let clock = ManualClock::new(Utc::now());
        let at = clock.now() + chrono::Duration::seconds(3);
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep_until(at).await }
        });
        clock.advance(chrono::Duration::seconds(2));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!sleeper.is_finished());
        clock.advance(chrono::Duration::seconds(1));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .unwrap()
            .unwrap();
    }
}
