//! The Rocket.Chat Omnichannel channel: an agent done with a chat hands it to the Ratings
//! user Rateline drives, instead of closing it; Rateline asks in the still-open room, reads
//! the typed answer from the webhook's `Message` events, thanks the visitor and closes the
//! room with a comment. docs/channels/rocketchat.md is the team's guide.
//!
//! - A room is one session, `rocketchat-{server}-{room}`, opened at the hand-over (a
//!   `LivechatSessionForwarded` to the Ratings user) on the line its department maps to,
//!   and closed there: the line's delay starts. The operator is the agent who handed it
//!   over (`oldServedBy`), or for a hand-over through a department the last agent who wrote.
//! - The visitor's messages in a room the Ratings user holds answer (a digit or emoji,
//!   "yes"/"no", the reasons' numbers, the comment: the widget shows no buttons). Anything
//!   else hands the chat back to its operator and ends the request `cancelled`: the client
//!   was not done. Once the rating is complete, or its window ends, the room is closed.
//! - A room closed without the hand-over is a session too, asked only where a closed room
//!   still reaches its visitor: by SMS (the answer comes in the visitor's next room, which
//!   is closed once read). The website widget drops a closed room, so such a request ends
//!   `undeliverable`, saying why.
//! - Rocket.Chat posts its events without waiting for one another: a visitor's message to
//!   the Ratings user that arrives before the hand-over is held (in the store) until the
//!   hand-over is applied. Its retries live in its memory, so the catch-up reads the rooms
//!   the Ratings user holds and those closed since the last pass.
//!
//! The folder holds the channel whole: [`receive`] (the webhook), [`send`] (the
//! `ChannelAdapter`), `setup` (the live check of Rocket.Chat's side) and `catch_up`. The
//! platform's protocol is `rateline_adapters::rocketchat`.

mod catch_up;
pub mod receive;
pub mod send;
mod setup;

pub use receive::RocketChat;
pub use send::{RocketChatAdapter, Server};
