//! Settings: built-in defaults, then a TOML file, then `RATELINE__SECTION__KEY` variables
//! (the `config` crate's convention), deserialised into typed structs. Any setting can
//! also come from a file of its own, `RATELINE__SECTION__KEY_FILE=/path`: the way container
//! platforms hand secrets out, kept out of the environment and the config file.
//!
//! With no file and no variables, Rateline runs on SQLite at `./rateline.db` and listens on
//! `127.0.0.1:8080`.

mod configured;
mod load;
mod outbound;
mod platforms;
mod scheduler;
mod server;

pub use configured::{ConfiguredHelpdesks, ConfiguredLine, ConfiguredPeople};
pub use load::{Settings, every_key};
pub use outbound::{AlertSettings, OutboundSettings, SmtpSettings};
pub use platforms::{MetaSettings, TelegramMode, TelegramSettings, WebchatSettings};
pub use scheduler::SchedulerSettings;
pub use server::{
    DashboardSettings, DatabaseSettings, LimitSettings, LogFormat, LogSettings, MIN_RETENTION_DAYS,
    RetentionSettings, ServerSettings,
};
