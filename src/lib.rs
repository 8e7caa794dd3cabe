//! Rateline: asks a client to rate a closed chat in the channel it used, stores the answer,
//! and reports quality by operator, line, channel and period.
//!
//! The layers, outside in: [`cli`] and [`http`] take requests; [`engine`] validates them
//! and runs Rateline's operations on the [`store`]; the [`scheduler`] turns due rating
//! requests into sends through the channel adapters (the `rateline-adapters` crate);
//! [`channels`] takes the answers that platforms deliver (Telegram taps and replies);
//! [`alerts`] are the sinks low-rating alerts leave through; [`dashboard`] shows the
//! report to supervisors. [`startup`] wires them into one process.

pub mod alerts;
pub mod auth;
pub mod channels;
pub mod cli;
pub mod clock;
pub mod dashboard;
pub mod demo;
pub mod domain;
pub mod engine;
pub mod http;
pub mod metrics;
pub mod policy;
pub mod recipients;
pub mod report;
pub mod scheduler;
pub mod settings;
pub mod startup;
pub mod store;
pub mod telemetry;
