//! The inbound side of channels that deliver updates: platforms' webhooks and pollers
//! that turn taps and replies into answers (Telegram, and Messenger, Instagram and
//! WhatsApp through Meta's webhook), and the web chat widget's own endpoints. Sending
//! lives in the `rateline-adapters` crate.

pub mod meta;
pub mod telegram;
pub mod webchat;

use subtle::ConstantTimeEq;

/// Whether `given` is the configured secret, in constant time. Digests of equal length are
/// compared, so not even the secret's length leaks.
pub fn secret_matches(expected: &str, given: &[u8]) -> bool {
    let digest = |b: &[u8]| <sha2::Sha256 as sha2::Digest>::digest(b);
    bool::from(digest(expected.as_bytes()).ct_eq(&digest(given)))
}
