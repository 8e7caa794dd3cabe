//! The line's `survey` rules as pure decisions: whether a close's request is skipped, and
//! why. The store gathers the facts inside the close's transaction (the one it reads, the
//! client's last ask, only when a rule needs it) and records what these functions decide.

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use super::{Across, SurveyRules};

/// A close as the survey's rules judge it.
#[derive(Debug, Clone, Copy)]
pub struct SurveyedClose<'a> {
    /// The session closed: `survey.sample_percent` decides by its id, so the same session always
    /// falls the same way.
    pub session_id: &'a str,
    /// The client was erased before this close: there is nobody to ask.
    pub client_erased: bool,
    /// Messages the client wrote in the session.
    pub client_messages: i64,
    /// The close's tags.
    pub tags: &'a [String],
    /// The caller's own reason to skip, if any.
    pub skip: Option<&'a str>,
    /// When the session closed: where `survey.min_days_between` counts back from.
    pub closed_at: DateTime<Utc>,
}

impl SurveyRules {
    /// The first rule that skips `close`'s request, of those that need nothing but the
    /// close, by name and with what it saw; `None` when they all ask. The cheap rules go
    /// first; [`SurveyRules::asks_since`] says whether the last one needs the client's
    /// history.
    pub fn skips(&self, close: &SurveyedClose<'_>) -> Option<String> {
        if close.client_erased {
            return Some("skipped: the client was erased".into());
        }
        if let Some(why) = close.skip {
            return Some(why.to_owned());
        }
        if let Some(tag) = close.tags.iter().find(|t| self.skip_tags.contains(t)) {
            return Some(format!(
                "skipped by survey.skip_tags: the close is tagged '{tag}'"
            ));
        }
        let fewest = i64::from(self.min_client_messages);
        if close.client_messages < fewest {
            return Some(format!(
                "skipped by survey.min_client_messages: the client wrote {} message(s), fewer than {fewest}",
                close.client_messages
            ));
        }
        if !in_sample(close.session_id, self.sample_percent) {
            return Some(format!(
                "skipped by survey.sample_percent: the session is not in the {}% asked",
                self.sample_percent
            ));
        }
        None
    }

    /// Since when an earlier ask of the same client (on this line, or on any, as `across`
    /// says) skips a close at `closed_at`; `None` when `min_days_between` is off and the
    /// client's history need not be read.
    pub fn asks_since(&self, closed_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        (self.min_days_between > 0)
            .then(|| closed_at - Duration::days(i64::from(self.min_days_between)))
    }

    /// Why a close is skipped when the client was asked after a close at `asked_at`, within
    /// [`SurveyRules::asks_since`].
    pub fn skipped_as_asked(&self, asked_at: DateTime<Utc>) -> String {
        let scope = match self.across {
            Across::Line => "on this line",
            Across::All => "on any line",
        };
        format!(
            "skipped by survey.min_days_between: the client was asked {scope} after a close at \
             {}, less than {} day(s) before",
            asked_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            self.min_days_between
        )
    }
}

/// Whether session `id` is in a `percent` sample: decided by a hash of the id, so the same
/// session is always in or out, and sessions fall in evenly.
fn in_sample(id: &str, percent: u32) -> bool {
    if percent >= 100 {
        return true;
    }
    let digest = <sha2::Sha256 as sha2::Digest>::digest(id.as_bytes());
    let mut first = [0_u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % 100 < u64::from(percent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close<'a>(tags: &'a [String], client_messages: i64) -> SurveyedClose<'a> {
        SurveyedClose {
            session_id: "s-1",
            client_erased: false,
            client_messages,
            tags,
            skip: None,
            closed_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
        }
    }

    #[test]
    fn a_sample_takes_about_its_share_and_always_the_same_sessions() {
        let ids: Vec<String> = (0..10_000).map(|i| format!("session-{i}")).collect();
        for percent in [1, 10, 50, 90] {
            let taken = ids.iter().filter(|id| in_sample(id, percent)).count();
            let expected = 100 * percent as usize;
            assert!(
                taken.abs_diff(expected) < 250,
                "{taken} of 10000 at {percent}%"
            );
        }
        assert!(ids.iter().all(|id| in_sample(id, 100)));
        let once: Vec<bool> = ids.iter().map(|id| in_sample(id, 30)).collect();
        let again: Vec<bool> = ids.iter().map(|id| in_sample(id, 30)).collect();
        assert_eq!(once, again);
    }

    #[test]
    fn the_defaults_ask_everyone() {
        let rules = SurveyRules::default();
        assert_eq!(rules.skips(&close(&["vip".into()], 0)), None);
        assert_eq!(rules.asks_since(close(&[], 0).closed_at), None);
    }

    #[test]
    fn the_first_rule_that_skips_names_itself_and_what_it_saw() {
        let rules = SurveyRules {
            skip_tags: vec!["spam".into()],
            min_client_messages: 2,
            ..SurveyRules::default()
        };
        let tagged = ["spam".to_owned()];
        assert_eq!(
            rules.skips(&close(&tagged, 0)).as_deref(),
            Some("skipped by survey.skip_tags: the close is tagged 'spam'"),
            "the tag is judged before the messages"
        );
        assert_eq!(
            rules.skips(&close(&[], 1)).as_deref(),
            Some(
                "skipped by survey.min_client_messages: the client wrote 1 message(s), \
                 fewer than 2"
            )
        );
        assert_eq!(rules.skips(&close(&[], 2)), None);
        let erased = SurveyedClose {
            client_erased: true,
            skip: Some("the caller's reason"),
            ..close(&tagged, 0)
        };
        assert_eq!(
            rules.skips(&erased).as_deref(),
            Some("skipped: the client was erased"),
            "an erased client is never asked, whatever the caller says"
        );
        let asked = SurveyedClose {
            skip: Some("the caller's reason"),
            ..close(&tagged, 0)
        };
        assert_eq!(rules.skips(&asked).as_deref(), Some("the caller's reason"));
    }

    #[test]
    fn an_earlier_ask_within_the_days_skips_and_says_where_it_looked() {
        let rules = SurveyRules {
            min_days_between: 7,
            across: Across::All,
            ..SurveyRules::default()
        };
        let at = close(&[], 0).closed_at;
        assert_eq!(rules.asks_since(at), Some(at - Duration::days(7)));
        assert_eq!(
            rules.skipped_as_asked(at - Duration::days(2)),
            "skipped by survey.min_days_between: the client was asked on any line after a \
             close at 2027-01-13T08:00:00Z, less than 7 day(s) before"
        );
    }
}
