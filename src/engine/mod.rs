//! The engine: Rateline's operations on lines, people, sessions and ratings.
//!
//! HTTP handlers, the CLI and the scheduler all come through here. It validates what the
//! outside sends (once, with messages that say how to fix it), asks the store to do the
//! all-or-nothing write, and wakes the scheduler when a new request is due sooner than
//! the scheduler planned to look.
mod audit;
mod base;
mod config;
mod error;
mod followup;
mod helpdesks;
mod ids;
mod inbox;
mod keys;
mod lookups;
mod passwords;
mod probes;
mod ratings;
mod reach;
mod sessions;
mod signals;
mod subscriptions;
mod wake;

pub use base::{Engine, EngineSettings, Sinks};
pub use config::group_not_found;
pub use error::{
    EngineError, Result, line_not_found, person_not_found, request_not_found, session_not_found,
};
pub use followup::{ResponseGuard, rating_not_found};
pub use helpdesks::HelpdeskRecord;
pub use ids::{known_line, known_person, known_request, known_session};
pub use inbox::{Export, Inbox, InboxChoices};
pub use keys::{KeyRefusal, KeyRequest, MAX_KEY_LINES, Minted, mint};
pub use passwords::{INVITATION_HOURS, MIN_PASSWORD_CHARS, NewInvitation, invitation_path};
pub use probes::TestAlert;
pub use ratings::Submitted;
pub use reach::{AlertReach, RecipientReach};
pub use signals::SessionSignals;
pub use subscriptions::subscription_not_found;
pub use wake::Wake;
