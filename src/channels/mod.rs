//! The inbound side of channels that deliver updates: platforms' webhooks and pollers
//! that turn taps and replies into answers (Telegram, and Messenger, Instagram and
//! WhatsApp through Meta's webhook). Sending lives in the `rateline-adapters` crate.

pub mod meta;
pub mod telegram;
