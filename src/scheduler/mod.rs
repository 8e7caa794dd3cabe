//! The durable scheduler: turns due rating requests into sends, and sends into statuses.
//!
//! One pass: expire requests whose answer window ended, close idle sessions, claim a batch
//! of due requests (a lease, see [`crate::store`]) and hand each to its channel's adapter
//! in its own task; then, with the slots left, due low-rating alerts (to their sinks, see
//! [`crate::alerts`]) and responses on their way to clients (through the session's channel). When nothing more is due, it sleeps until the earliest `run_at` in the
//! store, or until [`Wake`] says something new is due sooner; it never polls.
//!
//! Delivery is at least once: a request is sent once, except that one whose send was in
//! flight when the process died is sent again when its lease runs out. Connectors get the
//! request id as an idempotency key for that case.

mod events;
mod housekeeping;
mod jobs;
mod notify;
mod requests;
mod retry;
mod run;

pub use retry::RetryPolicy;
pub use run::{Adapters, Scheduler};
