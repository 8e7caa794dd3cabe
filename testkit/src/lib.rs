//! Rateline's test kit: local stand-ins for the platforms and people Rateline talks to, each
//! strict where the real one is and checked by a self-test of its own (`tests/it/fakes/`).
//! The tests and the load generator (`examples/loadgen`) share them.
//!
//! - [`telegram`]: a Telegram Bot API;
//! - [`meta`]: Meta's Graph API (Messenger, Instagram, WhatsApp) and its webhooks;
//! - [`chatwoot`]: the Chatwoot helpdesk's Application API and its account webhooks;
//! - [`zammad`]: the Zammad helpdesk's REST API and its triggers' webhooks;
//! - [`rocketchat`]: Rocket.Chat's REST API and its Omnichannel webhook;
//! - [`smtp`]: an SMTP server on loopback that alert e-mail goes to;
//! - [`connector`]: a contact center on the `webhook` channel;
//! - [`browser`]: Debian's headless Chromium through chromedriver.

// Test support: a fake that cannot go on panics, which fails the test using it.
#![allow(clippy::unwrap_used)]

pub mod browser;
pub mod chatwoot;
pub mod connector;
pub mod meta;
pub mod rocketchat;
pub mod scaffold;
pub mod smtp;
pub mod telegram;
pub mod zammad;
pub mod zammad_rules;

use std::time::Duration;

/// The WebDriver client the browser tests drive Chromium with.
pub use fantoccini;

/// Waits (in real time, polling every 20 ms, up to 10 s) until `done` holds; past that,
/// panics with `state()`. The cap only guards against a hang: a slow machine passes.
pub async fn wait_until(mut done: impl FnMut() -> bool, state: impl FnOnce() -> String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        if tokio::time::Instant::now() >= deadline {
            panic!("{}", state());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
