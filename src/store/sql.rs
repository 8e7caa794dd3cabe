//! SQL pieces every part of the store shares: how times are stored, placeholder lists,
//! and the join that finds a client's last message. A leaf: it uses nothing of the store.

use chrono::{DateTime, TimeZone, Utc};

/// Milliseconds since the epoch, the stored form of a time.
pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The time a stored millisecond count stands for.
pub(crate) fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

pub(crate) fn opt_time(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.map(time)
}

/// `$1, $2, …, $n` starting after `offset` placeholders: for `IN (…)` lists of ids.
pub(crate) fn placeholders(offset: usize, n: usize) -> String {
    (1..=n)
        .map(|i| format!("${}", offset + i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Joins a session `s` to its client's platform-reported last message `w`.
pub(crate) const WINDOW_JOIN: &str =
    "LEFT JOIN client_windows w ON w.channel = s.channel AND w.client_id = s.client_id";

/// The later of the two last-message times (either may be NULL).
pub(crate) const WINDOW_START: &str =
    "CASE WHEN w.last_message_at IS NULL THEN s.last_client_message_at
          WHEN s.last_client_message_at IS NULL OR s.last_client_message_at < w.last_message_at
          THEN w.last_message_at ELSE s.last_client_message_at END";
