//! Telegram's inbound side: taps on rating buttons and text replies become answers.
//!
//! Updates arrive on `POST /channels/telegram/webhook` (from Telegram, or forwarded by a
//! contact center that owns the bot's webhook), or from a long-polling loop when
//! `telegram.mode = "polling"`. Either way they go through [`Telegram::handle`], which
//! stores first and talks to the Bot API after: an update that could not be stored (the
//! database is away) is refused with a 503, and Telegram delivers it again.
//!
//! Who may answer: only the client the request was sent to, in the chat it was sent to.
//! A button names its request and value under a MAC (see `rateline_adapters::telegram`),
//! so a tap on someone else's card or forged callback data changes nothing.
//!
//! The folder holds the channel whole: [`receive`] (the webhook and the poller) and
//! [`send`] (the `ChannelAdapter`). The Bot API is `rateline_adapters::telegram`.

pub mod receive;
pub mod send;

pub use receive::{Telegram, bot, check_token};
pub use send::TelegramAdapter;
