//! How often a person hears of low ratings: every one at once, a digest every so many
//! minutes, or every one up to so many an hour and then a digest; and the quiet hours, in
//! the person's own zone, that hold their alerts and digests until they end.
//!
//! The choice is the person's own (`PUT /v1/people/{id}/alert-pace`, "Your account"): it
//! is kept apart from `notify`, which admins set.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::Invalid;

/// How a person's low-rating alerts are paced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaceMode {
    /// Every low rating at once, in its own message.
    #[default]
    Each,
    /// One message every `digest_minutes`, naming each rating that came meanwhile.
    Digest,
    /// Every low rating at once, up to `per_hour` in the last hour on each address; the
    /// rest in a digest every `digest_minutes`.
    Capped,
}

/// `PUT /v1/people/{id}/alert-pace`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertPace {
    /// How the person's alerts reach them: each at once (`each`, the default), in digests
    /// (`digest`), or at once up to `per_hour` and the rest in digests (`capped`).
    #[serde(default)]
    pub mode: PaceMode,
    /// Minutes between two digests to one address: 5..=1440.
    #[serde(default = "default_digest_minutes")]
    #[schema(example = 30, minimum = 5, maximum = 1440)]
    pub digest_minutes: u32,
    /// For `capped`: the most alerts sent one by one to an address in an hour, 1..=500.
    #[serde(default = "default_per_hour")]
    #[schema(example = 10, minimum = 1, maximum = 500)]
    pub per_hour: u32,
    /// Hours, in the person's time zone, in which nothing reaches them: what comes then
    /// waits in a digest sent when they end. Unset: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    /// A supervisor's or admin's weekly report by e-mail: their lines and each operator on
    /// them, against the week before, every Monday at [`WEEKLY_REPORT_AT`] in their zone.
    #[serde(default)]
    pub weekly_report: bool,
}

/// When the weekly report goes, local time on Mondays: the start of a working week.
pub const WEEKLY_REPORT_AT: NaiveTime = match NaiveTime::from_hms_opt(8, 0, 0) {
    Some(t) => t,
    None => panic!("08:00 is a time"),
};

/// The week a weekly report sent at `now` covers, in `zone`: the Monday before this week's
/// and this week's Monday (local midnights), and when this week's report is due (this
/// Monday at [`WEEKLY_REPORT_AT`]).
pub fn report_week(
    now: DateTime<Utc>,
    zone: chrono_tz::Tz,
) -> (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>) {
    use chrono::Datelike;
    let today = now.with_timezone(&zone).date_naive();
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let local = |d: chrono::NaiveDateTime| {
        zone.from_local_datetime(&d)
            .earliest()
            // In a gap (the clock moved forward over it, as some zones do at midnight):
            // an hour later, which is after it.
            .or_else(|| {
                zone.from_local_datetime(&(d + Duration::hours(1)))
                    .earliest()
            })
            .map_or_else(|| Utc.from_utc_datetime(&d), |t| t.to_utc())
    };
    let midnight = |d: chrono::NaiveDate| local(d.and_time(NaiveTime::MIN));
    (
        midnight(monday - Duration::days(7)),
        midnight(monday),
        local(monday.and_time(WEEKLY_REPORT_AT)),
    )
}

/// From `from` to `to`, local times `HH:MM`; over midnight when `to` is earlier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// When the quiet hours start, local `HH:MM`.
    #[schema(example = "22:00")]
    pub from: String,
    /// When the quiet hours end, local `HH:MM`: earlier than `from` when they span midnight,
    /// never the same.
    #[schema(example = "07:00")]
    pub to: String,
}

fn default_digest_minutes() -> u32 {
    30
}

fn default_per_hour() -> u32 {
    10
}

impl Default for AlertPace {
    fn default() -> Self {
        AlertPace {
            mode: PaceMode::Each,
            digest_minutes: default_digest_minutes(),
            per_hour: default_per_hour(),
            quiet_hours: None,
            weekly_report: false,
        }
    }
}

/// A local `HH:MM`.
fn clock(field: &str, s: &str) -> Result<NaiveTime, Invalid> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| {
        Invalid::new(
            field,
            format!("{s:?} is not a time of day: write it as HH:MM, such as 22:00"),
        )
    })
}

impl AlertPace {
    /// Checks the ranges and the quiet hours' times.
    pub fn validate(&self) -> Result<(), Invalid> {
        if !(5..=1440).contains(&self.digest_minutes) {
            return Err(Invalid::new(
                "digest_minutes",
                format!(
                    "must be 5 to 1440 minutes (a day), got {}",
                    self.digest_minutes
                ),
            ));
        }
        if !(1..=500).contains(&self.per_hour) {
            return Err(Invalid::new(
                "per_hour",
                format!("must be 1 to 500, got {}", self.per_hour),
            ));
        }
        if let Some(q) = &self.quiet_hours {
            let (from, to) = (
                clock("quiet_hours.from", &q.from)?,
                clock("quiet_hours.to", &q.to)?,
            );
            if from == to {
                return Err(Invalid::new(
                    "quiet_hours.to",
                    "must differ from quiet_hours.from; leave quiet_hours out for none",
                ));
            }
        }
        Ok(())
    }

    /// The least time between two digests to one address.
    pub fn digest_every(&self) -> Duration {
        Duration::minutes(i64::from(self.digest_minutes))
    }

    /// Whether an alert to one of the person's addresses, due at `due`, is held for a
    /// digest, and the earliest that digest may then be due: in quiet hours, until they end;
    /// in `digest` mode, at once; in `capped` mode, once `sent_alone` (the alerts sent alone
    /// to that address in the last hour, which only `capped` reads) reaches `per_hour`.
    /// `None`: it goes alone.
    pub fn holds<Z: TimeZone>(
        &self,
        due: DateTime<Utc>,
        zone: &Z,
        sent_alone: i64,
    ) -> Option<DateTime<Utc>> {
        if let Some(end) = self.quiet_until(due, zone) {
            return Some(end);
        }
        match self.mode {
            PaceMode::Each => None,
            PaceMode::Digest => Some(due),
            PaceMode::Capped => (sent_alone >= i64::from(self.per_hour)).then_some(due),
        }
    }

    /// When the quiet hours `at` falls in end, in `zone`; `None` when `at` is not in them.
    pub fn quiet_until<Z: TimeZone>(&self, at: DateTime<Utc>, zone: &Z) -> Option<DateTime<Utc>> {
        let q = self.quiet_hours.as_ref()?;
        let (from, to) = (clock("", &q.from).ok()?, clock("", &q.to).ok()?);
        let local = at.with_timezone(zone).naive_local();
        let now = local.time();
        let quiet = if from < to {
            from <= now && now < to
        } else {
            now >= from || now < to
        };
        if !quiet {
            return None;
        }
        let day = if now < to {
            local.date()
        } else {
            local.date().succ_opt()?
        };
        let end = day.and_time(to);
        // A clock that skips the end (a change to summer time) ends them an hour later.
        let ends = zone.from_local_datetime(&end).earliest().or_else(|| {
            zone.from_local_datetime(&(end + Duration::hours(1)))
                .earliest()
        })?;
        Some(ends.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weekly_report_covers_last_week_and_is_due_on_monday_morning() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        // Saturday 2026-11-21 in Berlin: the week before this one began on the 9th.
        let (from, to, due) = report_week(at("2026-11-21T09:00:00Z"), chrono_tz::Europe::Berlin);
        assert_eq!(from, at("2026-11-08T23:00:00Z"));
        assert_eq!(to, at("2026-11-15T23:00:00Z"));
        assert_eq!(due, at("2026-11-16T07:00:00Z"));
        // Monday 07:30 in Berlin is still the week that began that morning.
        let (from, _, due) = report_week(at("2026-11-23T06:30:00Z"), chrono_tz::Europe::Berlin);
        assert_eq!(from, at("2026-11-15T23:00:00Z"));
        assert_eq!(due, at("2026-11-23T07:00:00Z"));
    }

    fn pace(from: &str, to: &str) -> AlertPace {
        AlertPace {
            quiet_hours: Some(QuietHours {
                from: from.into(),
                to: to.into(),
            }),
            ..AlertPace::default()
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn quiet_hours_over_midnight_end_the_next_morning_in_the_persons_zone() {
        let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        let p = pace("22:00", "07:00");
        // 23:30 in Berlin (UTC+1 in November): quiet until 07:00 Berlin, 06:00 UTC.
        assert_eq!(
            p.quiet_until(at("2026-11-27T22:30:00Z"), &berlin),
            Some(at("2026-11-28T06:00:00Z"))
        );
        // 05:00 Berlin: the same night.
        assert_eq!(
            p.quiet_until(at("2026-11-28T04:00:00Z"), &berlin),
            Some(at("2026-11-28T06:00:00Z"))
        );
        // 07:00 Berlin exactly, and noon: awake.
        assert_eq!(p.quiet_until(at("2026-11-28T06:00:00Z"), &berlin), None);
        assert_eq!(p.quiet_until(at("2026-11-28T11:00:00Z"), &berlin), None);
    }

    #[test]
    fn quiet_hours_within_a_day_and_none_without_them() {
        let p = pace("12:00", "13:30");
        assert_eq!(
            p.quiet_until(at("2026-11-28T12:10:00Z"), &Utc),
            Some(at("2026-11-28T13:30:00Z"))
        );
        assert_eq!(p.quiet_until(at("2026-11-28T13:30:00Z"), &Utc), None);
        assert_eq!(
            AlertPace::default().quiet_until(at("2026-11-28T12:10:00Z"), &Utc),
            None
        );
    }

    #[test]
    fn each_pace_holds_an_alert_for_a_digest_when_it_should() {
        let due = at("2026-11-28T12:10:00Z");
        let with = |mode| AlertPace {
            mode,
            per_hour: 3,
            ..AlertPace::default()
        };
        assert_eq!(with(PaceMode::Each).holds(due, &Utc, 99), None);
        assert_eq!(with(PaceMode::Digest).holds(due, &Utc, 0), Some(due));
        // Capped: alone while fewer than per_hour went alone in the last hour.
        assert_eq!(with(PaceMode::Capped).holds(due, &Utc, 2), None);
        assert_eq!(with(PaceMode::Capped).holds(due, &Utc, 3), Some(due));
        // Quiet hours hold every pace until they end.
        assert_eq!(
            pace("12:00", "13:30").holds(due, &Utc, 0),
            Some(at("2026-11-28T13:30:00Z"))
        );
    }

    #[test]
    fn a_pace_out_of_range_or_an_unreadable_time_names_its_field() {
        let bad = [
            (
                AlertPace {
                    digest_minutes: 1,
                    ..AlertPace::default()
                },
                "digest_minutes",
            ),
            (
                AlertPace {
                    per_hour: 0,
                    ..AlertPace::default()
                },
                "per_hour",
            ),
            (pace("10pm", "07:00"), "quiet_hours.from"),
            (pace("07:00", "07:00"), "quiet_hours.to"),
        ];
        for (p, field) in bad {
            assert_eq!(p.validate().unwrap_err().field, field, "{p:?}");
        }
        assert!(pace("22:00", "07:00").validate().is_ok());
    }

    /// The description states the ranges `validate` takes, so a generated client sends none
    /// it refuses: each bound is taken and the number past it is not.
    #[test]
    fn the_description_states_the_ranges_validate_takes() {
        use utoipa::PartialSchema;
        let described = serde_json::to_value(AlertPace::schema()).expect("a schema");
        for (field, set) in [
            (
                "digest_minutes",
                (|p: &mut AlertPace, n| p.digest_minutes = n) as fn(&mut AlertPace, u32),
            ),
            ("per_hour", |p: &mut AlertPace, n| p.per_hour = n),
        ] {
            let property = &described["properties"][field];
            let bound =
                |b: &str| u32::try_from(property[b].as_u64().expect("a bound")).expect("a u32");
            let (min, max) = (bound("minimum"), bound("maximum"));
            for (n, taken) in [(min - 1, false), (min, true), (max, true), (max + 1, false)] {
                let mut p = AlertPace::default();
                set(&mut p, n);
                assert_eq!(p.validate().is_ok(), taken, "{field} = {n}");
            }
        }
    }
}
