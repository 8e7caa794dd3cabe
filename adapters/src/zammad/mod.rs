//! The Zammad channel's way out: Zammad's REST API ([`api`]), and the adapter that posts a
//! session's rating request and the supervisor's response into its ticket, in the
//! ticket's own channel ([`send`]). What Zammad's webhooks mean is the server's to decide
//! (`src/channels/zammad/` there).

pub mod api;
pub mod send;

pub use api::*;
pub use send::{Instance, ZammadAdapter, article_to, to_customer};
