//! The Chatwoot channel's way out: Chatwoot's application API ([`api`]), and the adapter
//! that posts a session's rating request and the supervisor's response into the
//! conversation the client already sees ([`send`]). What Chatwoot's webhooks mean is the
//! server's to decide (`src/channels/chatwoot/` there).

pub mod api;
pub mod send;

pub use api::*;
pub use send::{Account, ChatwootAdapter};
