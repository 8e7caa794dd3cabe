//! Rateline's black-box tests, in one binary so the harness and the server compile once.
//!
//! Each module is a surface seen from outside: the real server on port 0 against a fresh
//! database per test (a SQLite file in a temp dir, or a new PostgreSQL database), a manual
//! clock, and local stand-ins for the platforms from the test kit (`testkit/`). Most
//! scenarios run on both stores, as `name::sqlite` and `name::postgres`. The durability and
//! connection tests run the real binary; the browser tests drive Debian's headless Chromium.
//! `docs/testing.md` says what each module covers.

// Tests: a step that cannot go on panics, which is the failure reported.
#![allow(clippy::unwrap_used)]

mod common;

mod alerts;
mod api;
mod appeals;
mod architecture;
mod auth;
mod changes;
mod chatwoot;
mod cli;
mod connections;
mod dashboard;
mod dashboard_browser;
mod digests;
mod docs;
mod durability;
mod erasure;
mod exports;
mod fakes;
mod hostile;
mod inbox;
mod limits;
mod meta;
mod outbound;
mod pace;
mod people;
mod quickstart;
mod reasons;
mod reminders;
mod replies;
mod report;
mod requests;
mod retention;
mod rocketchat;
mod rocketchat_chats;
mod secrets;
mod settings_browser;
mod settings_pages;
mod subscriptions;
mod survey;
mod telegram;
mod webchat;
mod webchat_browser;
mod workbench;
mod workbench_browser;
mod writer;
mod zammad;
