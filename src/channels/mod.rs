//! Every channel, whole: a folder each (Telegram, Meta's three, Chatwoot, Zammad, Rocket.Chat) with its
//! `ChannelAdapter` (`send`) and its way in (`receive`: the platform's webhook or poller,
//! turning taps and replies into answers), a file for those that go one way (the
//! `webhook` channel's adapter, the web chat widget's way in), and what several share: the
//! dialogue that asks one message at a time, the helpdesks' base, and the catch-up that
//! runs each helpdesk's. Each platform's protocol is the `rateline-adapters` crate's.

pub mod catch_up;
pub mod chatwoot;
pub mod dialogue;
pub mod helpdesk;
pub mod meta;
pub mod rocketchat;
pub mod telegram;
pub mod webchat;
pub mod webhook;
pub mod zammad;

use subtle::ConstantTimeEq;

/// After a rating (or its last follow-up), a text from the client within this long may
/// answer the next follow-up: the comment, or the reasons by number.
pub const FOLLOW_UP_WINDOW: chrono::Duration = chrono::Duration::minutes(10);

/// The ids of the line's reasons whose bits `picked` sets (bit `i`: reason `i`), in the
/// line's order.
pub fn picked_reasons(line: &rateline_domain::RatingSettings, picked: u8) -> Vec<String> {
    line.low_reasons
        .iter()
        .enumerate()
        .filter(|(i, _)| *i < 8 && picked & (1u8 << i) != 0)
        .map(|(_, r)| r.id.clone())
        .collect()
}

/// The ids of the line's reasons a client typed by their numbers ("1 3"), in the line's
/// order; `None` when the text is not a list of their numbers.
pub fn typed_reasons(line: &rateline_domain::RatingSettings, text: &str) -> Option<Vec<String>> {
    let reasons = &line.low_reasons;
    let numbers = rateline_adapters::text::parse_reason_numbers(reasons.len(), text)?;
    Some(numbers.into_iter().map(|i| reasons[i].id.clone()).collect())
}

/// Whether `given` is the configured secret, in constant time. Digests of equal length are
/// compared, so not even the secret's length leaks.
pub fn secret_matches(expected: &str, given: &[u8]) -> bool {
    let digest = |b: &[u8]| <sha2::Sha256 as sha2::Digest>::digest(b);
    bool::from(digest(expected.as_bytes()).ct_eq(&digest(given)))
}

/// A client's text as a comment: control characters out (line breaks and tabs kept), cut
/// to the longest comment kept.
fn comment_of(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .take(rateline_domain::MAX_COMMENT_CHARS)
        .collect()
}
