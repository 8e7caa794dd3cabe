//! The inbound side of channels that deliver updates: platforms' webhooks and pollers
//! that turn taps and replies into answers. Sending lives in the `rateline-adapters` crate.

pub mod telegram;
