//! The Meta channels' inbound side: `GET /channels/meta/webhook` answers Meta's
//! verification; `POST` takes Messenger, Instagram and WhatsApp events.
//!
//! A POST is checked against `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the
//! app secret, in constant time) before anything is parsed: a bad or missing signature is
//! a 401 and nothing is stored. Every client message reopens Meta's 24-hour window for
//! that client; a tapped button (quick reply, postback, reply button, list row, template
//! quick reply) or a text reply answers the client's request; WhatsApp statuses move a
//! request to `delivered`, or end it when the message failed after it was accepted.
//! Handling is idempotent, so Meta's redeliveries change nothing.
//!
//! The folder holds the channels whole: [`receive`] (the webhook) and [`send`] (a
//! `ChannelAdapter` per channel). The Graph API is `rateline_adapters::meta`.

pub mod receive;
pub mod send;

pub use receive::Meta;
pub use send::MetaAdapter;
