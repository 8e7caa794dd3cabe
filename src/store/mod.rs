//! The store: every SQL statement Rateline runs, for SQLite and PostgreSQL alike.
//!
//! One SQL text serves both backends through sqlx's Any driver: times are BIGINT
//! milliseconds, flags are 0/1 BIGINTs, and the few places where the dialects differ
//! (`FOR UPDATE SKIP LOCKED`, LISTEN/NOTIFY) branch on [`Backend`]. Every write that must
//! be all-or-nothing (a close and the request it schedules, an answer and its history row)
//! runs in one transaction, so a crash or a lost database never leaves half of it behind.
//!
//! SQLite is the embedded default: one file in WAL mode, written through a single
//! connection (SQLite has one writer anyway; one connection also rules out lock upgrades
//! failing with SQLITE_BUSY). The reports, the inbox, the audit log and the API key checks
//! read on connections of their own (`READERS` in `base`, read-only): WAL lets them read
//! the last commit while the writer writes, so a report does not wait for the writer's
//! connection.
//! PostgreSQL is the production store, shared by any number of `rateline serve` processes;
//! there every read and write shares one pool.

mod alerts;
mod audit;
mod base;
mod breakdown;
mod digests;
mod erasure;
mod error;
mod events;
mod export;
mod filter;
mod followup;
mod gate;
mod helpdesk;
mod helpdesks;
mod inbox;
mod jobs;
mod keys;
mod lines;
mod notify;
mod outbox;
mod passwords;
mod people;
mod ratings;
mod report;
mod requests;
mod retention;
mod rollup;
mod rows;
mod sessions;
mod sign_ins;
mod sql;
mod webchat;
mod writer;

pub use alerts::{
    AlertDelivery, AlertFilter, AlertPlan, AlertRecord, Count, Thread, Unanswered, UnansweredRating,
};
pub use audit::{AuditFilter, AuditRecord, FieldChange};
pub use base::{
    Alerts, AuditLog, Backend, Digests, Events, FollowUps, Helpdesks, Inbox, Jobs, Keys, Lines,
    People, Ratings, Reports, Requests, Retention, Sessions, Store, WebChat, default_writers,
    redact_url, sqlite_file,
};
pub use breakdown::{Breakdown, Funnel, LowRating};
pub use digests::{
    BURST_WINDOW, DIGEST_COMMENT_CHARS, DIGEST_EVERY, DIGEST_LISTS, DigestDelivery, DigestKind,
    DigestRating, WeekOfLine,
};
pub use erasure::{ERASED_PREFIX, Erased};
pub use error::{Result, StoreError};
pub use events::{EventDelivery, EventResult, Recorded, SWITCH_OFF_AFTER_DAYS, SubscriptionRecord};
pub use export::ExportedRating;
pub use filter::{Grouping, ReportFilter};
pub use followup::{
    AppealFilter, AppealOutcome, AppealRecord, AppealedRating, Delivery, EvaluationRecord,
    ResponseDelivery, ResponseRecord, ResponseWrite,
};
pub use gate::GATE_TTL;
pub use helpdesk::MadeInHelpdesk;
pub use helpdesks::StoredHelpdesk;
pub use inbox::{
    AlertCounts, Assignee, Closure, Handling, InboxAppeal, InboxFilter, InboxItem, InboxPage,
    InboxResponse, InboxSort, InboxState, RatingKind, RatingPlace,
};
pub use jobs::{ClaimedJob, JobKind, JobResult};
pub use keys::{KeyRecord, NewKey, StoredKey};
pub use notify::{NOTIFY_CHANNEL, Others};
pub use outbox::EVENT_VERSION;
pub use passwords::{Invitation, PersonSignIn};
pub use people::{Directory, PersonRecord};
pub use ratings::{AnswerTarget, RatingOutcome, RatingPolicy, RatingRevision};
pub use report::{HandOvers, ReportGroup};
pub use requests::{ClaimedRequest, NextWake, PlatformStatus, SendResult};
pub use retention::Purged;
pub use rows::LineRecord;
pub use rows::{Counted, RatingRecord, RequestRecord};
pub use sessions::{
    BeforeStored, CloseResult, CloseTiming, MessageResult, SessionRecord, SessionView,
};
pub use sign_ins::SignIns;
