//! What every handler shares: the engine, the channels, the limits, the settings a
//! request needs.

use std::sync::Arc;

use super::limits::Limits;
use super::open_mode::OpenMode;
use crate::engine::Engine;
use crate::metrics::Metrics;

/// What every handler shares, behind one `Arc`: axum gives every middleware and extractor of
/// every request a clone of it, and a clone of the parts themselves (the engine's and the
/// store's handles, the outbound policy, the sinks) took a dozen of the server's CPU per
/// hundred on the API path (see the performance log, 2026-11-26).
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    /// The state of a running server, from its parts.
    pub fn new(parts: AppParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct AppParts {
    /// Every operation handlers call.
    pub engine: Engine,
    /// The server's Prometheus registry, which `GET /metrics` shows.
    pub metrics: Arc<Metrics>,
    /// The Telegram channel, when `[telegram]` is configured.
    pub telegram: Option<Arc<crate::channels::telegram::Telegram>>,
    /// The Meta channels, when `[meta]` is configured.
    pub meta: Option<Arc<crate::channels::meta::Meta>>,
    /// The Chatwoot channel: every connected account.
    pub chatwoot: Arc<crate::channels::chatwoot::Chatwoot>,
    /// The Zammad channel: every connected instance.
    pub zammad: Arc<crate::channels::zammad::Zammad>,
    /// The Rocket.Chat channel: every connected server.
    pub rocketchat: Arc<crate::channels::rocketchat::RocketChat>,
    /// The web chat widget's endpoints.
    pub webchat: Arc<crate::channels::webchat::Webchat>,
    /// Whether the server is still in the open mode (no credential yet).
    pub open_mode: Arc<OpenMode>,
    /// The request rate limits (`[limits]`), per address and per key.
    pub limits: Arc<Limits>,
    /// How long a dashboard sign-in lasts unused (`dashboard.sign_in_idle_minutes`).
    pub sign_in_idle_minutes: u32,
    /// The dashboard's zone for people without their own (`server.time_zone`).
    pub time_zone: chrono_tz::Tz,
}

impl AppState {
    /// The address people reach `path` at: `server.public_url` and the path.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.webchat.public_url().trim_end_matches('/'))
    }
}
