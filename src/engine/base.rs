//! The engine itself: what it holds (the store, the clock, the wake-up, the metrics and
//! the settings it runs with) and how it is made. Its operations live in the rooms beside.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rateline_adapters::ChannelAdapter;
use rateline_adapters::outbound::Policy;
use rateline_domain::Channel;

use super::error::Result;
use super::signals::SessionSignals;
use super::wake::Wake;
use crate::alerts::AlertSinks;
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::store::Store;

/// Every operation of Rateline, for the API, the dashboard, the CLI and the channels'
/// webhooks: each takes the caller (who may do what), validates the input once, asks the
/// store for the all-or-nothing write and wakes the scheduler when something falls due
/// sooner. Cheap to clone: every part is shared.
#[derive(Clone)]
pub struct Engine {
    pub(super) store: Store,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) wake: Arc<Wake>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) send_deadline: Duration,
    /// The channels this server sends on: `webhook` always, the others once configured.
    pub(super) channels: Arc<[Channel]>,
    pub(super) signals: Arc<SessionSignals>,
    /// Where outbound calls may go: URLs are checked against it when they are stored.
    pub(super) policy: Policy,
    /// The alert sinks this deployment has, for "who will hear about a low rating".
    pub(super) sinks: Sinks,
    /// Sends an admin's test requests to a line's connector, as the scheduler would.
    pub(super) connector: Arc<rateline_adapters::webhook::ConnectorClient>,
    /// Where a person's test alert goes: set once the sinks exist, since they are made
    /// after the engine (they sign with a key the store keeps).
    pub(super) alert_sinks: Arc<std::sync::OnceLock<AlertSending>>,
    /// The zone of people without their own (`server.time_zone`): their quiet hours'.
    pub(super) zone: chrono_tz::Tz,
    /// When each key was last used, not written yet (see [`Engine::write_key_uses`]).
    pub(super) key_uses:
        Arc<std::sync::Mutex<std::collections::HashMap<String, chrono::DateTime<chrono::Utc>>>>,
}

/// What an engine is configured with, from the settings.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// A request not sent this long after its due time ends `failed`.
    pub send_deadline: std::time::Duration,
    /// The channels this server sends on.
    pub channels: Vec<Channel>,
    /// Where outbound calls may go (`[outbound]`).
    pub policy: Policy,
    /// The alert sinks configured besides webhooks.
    pub sinks: Sinks,
    /// How long one call to a platform or connector may take.
    pub send_timeout: std::time::Duration,
    /// The zone of people without their own (`server.time_zone`).
    pub zone: chrono_tz::Tz,
}

impl EngineSettings {
    /// The engine's settings from the server's.
    pub fn of(settings: &crate::settings::Settings) -> Result<Self, String> {
        let mut channels = vec![Channel::Webhook, Channel::Webchat];
        if settings.telegram.is_some() {
            channels.push(Channel::Telegram);
        }
        if let Some(m) = &settings.meta {
            channels.extend(m.accounts().into_iter().map(|(c, _, _)| c));
        }
        // The helpdesks' channels always run; their helpdesks come and go while they do.
        channels.extend([Channel::Chatwoot, Channel::Zammad, Channel::RocketChat]);
        Ok(Self {
            send_deadline: settings.scheduler.send_deadline(),
            channels,
            policy: settings.outbound_policy()?,
            sinks: Sinks::of(settings),
            send_timeout: settings.scheduler.send_timeout(),
            zone: settings.server.zone(),
        })
    }
}

impl Engine {
    /// An engine on `store`, run by `clock`, waking the scheduler through `wake`.
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        wake: Arc<Wake>,
        metrics: Arc<Metrics>,
        settings: EngineSettings,
    ) -> Self {
        Self {
            store,
            clock,
            wake,
            metrics,
            send_deadline: Duration::from_std(settings.send_deadline).unwrap_or(Duration::MAX),
            channels: settings.channels.into(),
            signals: Arc::default(),
            connector: Arc::new(rateline_adapters::webhook::ConnectorClient::new(
                &settings.policy,
                settings.send_timeout,
            )),
            policy: settings.policy,
            sinks: settings.sinks,
            alert_sinks: Arc::default(),
            zone: settings.zone,
            key_uses: Arc::default(),
        }
    }

    /// An engine for a command that runs once (`rateline stats`, `keys`, `check-config`):
    /// the wall clock, and nothing to wake.
    pub fn for_command(store: Store, settings: &crate::settings::Settings) -> Result<Self, String> {
        Ok(Self::new(
            store,
            Arc::new(crate::clock::SystemClock),
            Arc::new(Wake::default()),
            Arc::new(Metrics::default()),
            EngineSettings::of(settings)?,
        ))
    }

    /// The zone of people without their own (`server.time_zone`).
    pub fn zone(&self) -> chrono_tz::Tz {
        self.zone
    }

    /// Raised when a session closes or its client writes: what a web chat widget waits on.
    pub fn signals(&self) -> &SessionSignals {
        &self.signals
    }

    /// The clock every due time and window is read from.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// The time now, by the engine's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// The alert sinks this deployment has configured besides webhooks, which always work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sinks {
    /// `[smtp]` is set: alerts can go to e-mail addresses.
    pub email: bool,
    /// `[telegram]` is set: the bot can send alerts to Telegram chats.
    pub telegram: bool,
}

impl Sinks {
    /// The sinks `settings` configure.
    pub fn of(settings: &crate::settings::Settings) -> Self {
        Self {
            email: settings.smtp.is_some(),
            telegram: settings.telegram.is_some(),
        }
    }
}

/// The sinks a test alert is sent through: the scheduler's own.
pub(super) struct AlertSending {
    pub(super) sinks: Arc<AlertSinks>,
    pub(super) telegram: Option<Arc<dyn ChannelAdapter>>,
}
