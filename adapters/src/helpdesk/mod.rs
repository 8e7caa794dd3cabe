//! What the helpdesk channels (Chatwoot, Zammad) share on their way out: how a call to a
//! helpdesk's API is told as a [`SendOutcome`](crate::SendOutcome) ([`calls`]), and where a
//! session's messages go, read from the server's store through a [`HelpdeskBook`]
//! ([`route`]).

pub mod calls;
pub mod route;

pub use calls::{Callee, HOLD_ON_UNAUTHORIZED, Removed, call_json, outcome_of, remove};
pub use route::{HelpdeskBook, route, window_closed};
