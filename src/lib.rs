//! Rateline: asks a client to rate a closed chat in the channel it used, stores the answer,
//! and reports quality by operator, line, channel and period.
//!
//! The modules form layers, each using only those below it (`tests/it/architecture.rs`
//! checks; `docs/architecture.md` draws them), bottom first:
//!
//! - the `rateline-domain` crate (`domain/`: the words, channels, scales, lines, people,
//!   sessions, ratings and their statuses, and the rules that validate them), below this
//!   crate and the adapters; then [`clock`];
//! - [`store`] (every SQL statement) and [`metrics`];
//! - [`settings`], [`report`] (the report's table and CSV), [`telemetry`], [`alerts`] (the
//!   sinks low-rating alerts leave through) and [`policy`] (what a caller may do);
//! - [`engine`]: Rateline's operations, the one way to the store for everything above;
//! - [`scheduler`] (turns due rating requests into sends through the channel adapters of
//!   the `rateline-adapters` crate) and [`channels`] (the answers platforms deliver);
//! - [`http`] (the API and the platforms' webhooks), then [`dashboard`] (the pages);
//! - [`startup`] wires them into one process; [`demo`] and [`cli`] sit on top.

pub mod alerts;
pub mod channels;
pub mod cli;
pub mod clock;
pub mod dashboard;
pub mod demo;
pub mod engine;
pub mod events;
pub mod http;
pub mod metrics;
pub mod policy;
pub mod report;
pub mod scheduler;
pub mod settings;
pub mod startup;
pub mod store;
pub mod telemetry;
