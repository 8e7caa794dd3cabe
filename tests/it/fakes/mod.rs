//! The test kit's stand-ins checked against the rules of what they stand in for, so that a
//! scenario passing against them has kept those rules.

mod bot_api;
mod chatwoot;
mod graph_api;
mod rocketchat;
mod smtp;
mod zammad;
mod zammad_rules;
