//! What the helpdesk channels (Chatwoot, Zammad) share, each in its own channel folder's
//! terms: their accounts (instances) as this process reads them ([`registry`]), where a
//! session's messages go ([`route`], for the adapters), what their webhooks share
//! ([`receive`]), and the report of a helpdesk's side set up by Rateline ([`setup`]).
//! The calls to their APIs share `rateline_adapters::helpdesk`.

pub mod receive;
pub mod registry;
pub mod route;
pub mod setup;

pub use receive::*;
pub use registry::{HELPDESKS_TTL, Registry};
pub use route::{route, window_closed};
