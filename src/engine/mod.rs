//! The engine: Rateline's operations on lines, people, sessions and ratings.
//!
//! HTTP handlers, the CLI and the scheduler all come through here. It validates what the
//! outside sends (once, with messages that say how to fix it), asks the store to do the
//! all-or-nothing write, and wakes the scheduler when a new request is due sooner than
//! the scheduler planned to look.

mod audit;
mod config;
mod connectors;
mod followup;
mod inbox;
mod keys;
mod lookups;
mod passwords;
mod probes;
mod reach;
mod signals;
mod subscriptions;
mod wake;

pub use config::group_not_found;
pub use connectors::ConnectorRecord;
pub use followup::{ResponseGuard, rating_not_found};
pub use inbox::{Export, Inbox, InboxChoices};
pub use keys::{KeyRefusal, KeyRequest, MAX_KEY_LINES, Minted, mint};
pub use passwords::{INVITATION_HOURS, MIN_PASSWORD_CHARS, NewInvitation, invitation_path};
pub use probes::TestAlert;
pub use reach::{AlertReach, RecipientReach, Sinks};
pub use signals::SessionSignals;
pub use subscriptions::subscription_not_found;
pub use wake::Wake;

use rateline_domain::ErrorCode;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use rateline_adapters::outbound::Policy;
use rateline_domain::{
    Channel, ClosedBy, Id, Invalid, MessageFrom, NewSession, RatingAnswer, check_id,
};

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::store::{
    AlertPlan, CloseResult, CloseTiming, Grouping, LineRecord, MessageResult, RatingOutcome,
    RatingPolicy, RatingRecord, RatingRevision, ReportFilter, ReportGroup, SessionRecord,
    SessionView, Store, StoreError,
};

/// Why an operation changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{message}")]
    NotFound { code: ErrorCode, message: String },
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("{message}")]
    Conflict { code: ErrorCode, message: String },
    #[error("{message}")]
    Gone { code: ErrorCode, message: String },
    /// Another system (a helpdesk) refused or did not answer what this needed.
    #[error("{message}")]
    Elsewhere { code: ErrorCode, message: String },
    /// The caller may not do this (see [`crate::policy`]).
    #[error(transparent)]
    Forbidden(#[from] crate::policy::Forbidden),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// A rating the engine stored, with every version, and whether it was the first answer.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub rating: RatingRecord,
    pub history: Vec<RatingRevision>,
    pub created: bool,
    /// False when the same answer came again: nothing was written.
    pub changed: bool,
}

/// Times that clients may send are accepted this far in the future (clock skew), no further.
const MAX_FUTURE_SKEW: Duration = Duration::minutes(5);

/// Every operation of Rateline, for the API, the dashboard, the CLI and the channels'
/// webhooks: each takes the caller (who may do what), validates the input once, asks the
/// store for the all-or-nothing write and wakes the scheduler when something falls due
/// sooner. Cheap to clone: every part is shared.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    clock: Arc<dyn Clock>,
    wake: Arc<Wake>,
    metrics: Arc<Metrics>,
    send_deadline: Duration,
    /// The channels this server sends on: `webhook` always, the others once configured.
    channels: Arc<[Channel]>,
    signals: Arc<SessionSignals>,
    /// Where outbound calls may go: URLs are checked against it when they are stored.
    policy: Policy,
    /// The alert sinks this deployment has, for "who will hear about a low rating".
    sinks: Sinks,
    /// Sends an admin's test requests to a line's connector, as the scheduler would.
    connector: Arc<rateline_adapters::webhook::WebhookAdapter>,
    /// Where a person's test alert goes: set once the sinks exist, since they are made
    /// after the engine (they sign with a key the store keeps).
    alert_sinks: Arc<std::sync::OnceLock<probes::AlertSending>>,
    /// The zone of people without their own (`server.time_zone`): their quiet hours'.
    zone: chrono_tz::Tz,
    /// When each key was last used, not written yet (see [`Engine::write_key_uses`]).
    key_uses:
        Arc<std::sync::Mutex<std::collections::HashMap<String, chrono::DateTime<chrono::Utc>>>>,
}

/// What an engine is configured with, from the settings.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// A request not sent this long after its due time ends `failed`.
    pub send_deadline: std::time::Duration,
    /// The channels this server sends on.
    pub channels: Vec<Channel>,
    pub policy: Policy,
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
        // The helpdesk connectors always run; their accounts come and go while it does.
        channels.extend([Channel::Chatwoot, Channel::Zammad]);
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
            connector: Arc::new(rateline_adapters::webhook::WebhookAdapter::new(
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

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Opens a session; the same id again returns the stored session unchanged.
    #[tracing::instrument(skip(self, new), fields(session_id = %new.id, line_id = %new.line_id))]
    pub async fn open_session(&self, mut new: NewSession) -> Result<(SessionRecord, bool)> {
        new.validate()?;
        if new.channel == Channel::Whatsapp {
            new.client.id = whatsapp_number(&new.client.id)?;
        }
        let now = self.now();
        // Within the allowed skew a time from the future is taken as now, so that a close
        // made at once (dated now) does not come before it.
        let opened_at = self.event_time("opened_at", new.opened_at, now)?.min(now);
        // The same id again is the stored session, whatever the line or the server's
        // channels allow now; the store looks for it only when the open is refused (or
        // conflicts), so a new session costs no lookup.
        let line = match self.admit(&new).await {
            Ok(line) => line,
            Err(refused) => {
                return match self.store.get_session(&new.id).await? {
                    Some(existing) => Ok((existing, false)),
                    None => Err(refused),
                };
            }
        };
        let Some(session) = self
            .store
            .insert_session(&new, opened_at, line.settings.auto_close_minutes)
            .await?
        else {
            // The same id again: the stored session, unchanged.
            return Ok((self.session(&new.id).await?, false));
        };
        if let Some(m) = line.settings.auto_close_minutes {
            self.wake
                .housekeeping_at(opened_at + Duration::minutes(i64::from(m)));
        }
        Ok((session, true))
    }

    /// The line a new session opens on, once the session fits it and this server.
    async fn admit(&self, new: &NewSession) -> Result<LineRecord> {
        let line = self.line(&new.line_id).await?;
        if !line.settings.active {
            return Err(EngineError::Conflict {
                code: ErrorCode::LineRetired,
                message: format!(
                    "line '{}' is retired (active: false) and takes no new sessions; its history \
                     and reports stay. An admin turns it back on with PATCH /v1/lines/{} \
                     {{\"active\": true}}",
                    line.id, line.id
                ),
            });
        }
        if !self.channels.contains(&new.channel) {
            return Err(Invalid::new(
                "channel",
                format!(
                    "the {} channel is not enabled on this server; enabled: {}",
                    new.channel,
                    self.channels
                        .iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .into());
        }
        if new.client.id.starts_with(crate::store::ERASED_PREFIX) {
            return Err(Invalid::new(
                "client.id",
                format!(
                    "ids starting with '{}' name erased clients; send the client's own id",
                    crate::store::ERASED_PREFIX
                ),
            )
            .into());
        }
        // The canonical form only: taps and replies are matched to the session by the id
        // Telegram sends, so "+436432850" would never be answerable.
        if new.channel == Channel::Telegram
            && new.client.id.parse::<i64>().map_or(true, |id| {
                id <= 0 || id.to_string() != new.client.id.as_str()
            })
        {
            return Err(Invalid::new(
                "client.id",
                format!(
                    "'{}' is not a Telegram chat id: on the telegram channel client.id is the \
                     client's private chat id, a positive integer such as 436432850",
                    new.client.id
                ),
            )
            .into());
        }
        if new.channel == Channel::Webhook && line.settings.webhook.is_none() {
            return Err(Invalid::new(
                "channel",
                format!(
                    "line '{}' has no webhook connector; set webhook.url and webhook.secret with PUT /v1/lines/{}",
                    line.id, line.id
                ),
            )
            .into());
        }
        Ok(line)
    }

    pub async fn session(&self, id: &str) -> Result<SessionRecord> {
        known_session(id)?;
        self.store
            .get_session(id)
            .await?
            .ok_or_else(|| session_not_found(id))
    }

    /// Records a client or operator message.
    #[tracing::instrument(skip(self))]
    pub async fn record_message(
        &self,
        session_id: &str,
        from: MessageFrom,
        at: Option<DateTime<Utc>>,
    ) -> Result<MessageResult> {
        known_session(session_id)?;
        let now = self.now();
        // Within the allowed skew a time from the future is taken as now: it must not
        // stretch Meta's 24-hour window.
        let at = self.event_time("at", at, now)?.min(now);
        let result = self
            .store
            .record_message(session_id, from, at, now)
            .await?
            .ok_or_else(|| session_not_found(session_id))?
            .map_err(|stored| {
                Invalid::new(
                    "at",
                    format!(
                        "{} is before the session opened ({}); a message belongs to its session",
                        rfc3339(at),
                        rfc3339(stored.opened_at)
                    ),
                )
            })?;
        if let Some(id) = &result.cancelled_request {
            tracing::info!(request_id = %id, "client wrote again before the request was due: cancelled");
            // The reopened session may close for inactivity again: let the scheduler look.
            self.wake.housekeeping_at(now);
            self.metrics
                .transition(rateline_domain::RequestStatus::Cancelled);
            self.signals.raise(session_id);
        }
        Ok(result)
    }

    /// Closes a session and schedules its rating request, or skips it when a rule of the
    /// line's `survey` holds (`tags` are the close's, for `survey.skip_tags`). Closing twice
    /// changes nothing.
    #[tracing::instrument(skip(self))]
    pub async fn close_session(
        &self,
        session_id: &str,
        by: ClosedBy,
        at: Option<DateTime<Utc>>,
        tags: &[String],
    ) -> Result<CloseResult> {
        known_session(session_id)?;
        rateline_domain::check_tags("tags", tags)?;
        let now = self.now();
        let closed_at = self.event_time("at", at, now)?;
        self.close(session_id, by, closed_at, now, tags, CloseMode::Asked)
            .await
    }

    /// Closes a session now without asking its client, for the reason `why` a connector's
    /// own setting gives (the request ends `skipped` with it).
    pub async fn close_session_unasked(
        &self,
        session_id: &str,
        by: ClosedBy,
        tags: &[String],
        why: &str,
    ) -> Result<CloseResult> {
        known_session(session_id)?;
        rateline_domain::check_tags("tags", tags)?;
        let now = self.now();
        self.close(session_id, by, now, now, tags, CloseMode::Unasked(why))
            .await
    }

    /// Closes a session whose inactivity deadline passed, unless a message came meanwhile.
    pub async fn close_idle(&self, session_id: &str) -> Result<CloseResult> {
        let now = self.now();
        self.close(
            session_id,
            ClosedBy::Timeout,
            now,
            now,
            &[],
            CloseMode::IfIdle,
        )
        .await
    }

    async fn close(
        &self,
        session_id: &str,
        by: ClosedBy,
        closed_at: DateTime<Utc>,
        now: DateTime<Utc>,
        tags: &[String],
        mode: CloseMode<'_>,
    ) -> Result<CloseResult> {
        let timing = CloseTiming {
            closed_at,
            now,
            send_deadline: self.send_deadline,
        };
        let (only_if_idle, skip) = match mode {
            CloseMode::Asked => (false, None),
            CloseMode::IfIdle => (true, None),
            CloseMode::Unasked(why) => (false, Some(why)),
        };
        let result = self
            .store
            .close_session(session_id, by, timing, only_if_idle, tags, skip)
            .await?
            .ok_or_else(|| session_not_found(session_id))?
            .map_err(|stored| {
                let (what, when) = if closed_at < stored.opened_at {
                    ("the session opened", stored.opened_at)
                } else {
                    ("the session's last message", stored.last_message_at)
                };
                Invalid::new(
                    "at",
                    format!(
                        "{} is before {what} ({}); a close comes after everything in its session",
                        rfc3339(closed_at),
                        rfc3339(when)
                    ),
                )
            })?;
        if result.newly_closed {
            self.signals.raise(session_id);
        }
        // A Meta request that would be due after the 24-hour window has closed, with no
        // template allowed to stand in, ended `window_closed` in the close itself.
        if result.newly_closed
            && let Some(r) = &result.request
            && matches!(
                r.status,
                rateline_domain::RequestStatus::Skipped
                    | rateline_domain::RequestStatus::WindowClosed
            )
        {
            if r.status == rateline_domain::RequestStatus::WindowClosed {
                tracing::info!(request_id = %r.id, reason = ?r.last_error, "request not scheduled: window closed");
                self.events_queued().await;
            }
            self.metrics.transition(r.status);
        }
        if result.newly_closed
            && let Some(r) = &result.request
            && r.status == rateline_domain::RequestStatus::Scheduled
        {
            self.metrics.transition(r.status);
            self.wake.due_at(r.due_at);
        }
        Ok(result)
    }

    /// Stores a client's answer under the line's scale, answer window and change policy.
    ///
    /// One piece: the answer checked, the one store call, then one match over its
    /// outcomes, each arm what the caller is told (and what wakes or is sent).
    #[tracing::instrument(skip(self, answer), fields(request_id = %answer.request_id))]
    pub async fn submit_rating(&self, mut answer: RatingAnswer) -> Result<Submitted> {
        check_id("request_id", &answer.request_id)
            .map_err(|_| request_not_found(&answer.request_id))?;
        let (scale, line) = self
            .store
            .answer_context(&answer.request_id)
            .await?
            .ok_or_else(|| request_not_found(&answer.request_id))?;
        answer.validate(scale)?;
        if let Some(given) = &answer.reasons {
            if !scale.is_low(answer.value, line.rating.low_threshold) {
                return Err(rateline_domain::Invalid::new(
                    "reasons",
                    "are given only with a low rating: send them with its value, or leave them out",
                )
                .into());
            }
            answer.reasons = Some(line.rating.reasons_of("reasons", given)?);
        }
        let policy = RatingPolicy {
            scale,
            low_threshold: line.rating.low_threshold,
            max_changes: line.rating.max_changes,
            change_window: Duration::days(i64::from(line.rating.change_window_days)),
            grace: Duration::hours(i64::from(line.rating.lowered_grace_hours)),
        };
        let notify_operator = line.rating.notify_operator;
        let alerts = AlertPlan {
            delay: Duration::seconds(i64::from(line.rating.alert_delay_seconds)),
            wait: Duration::seconds(i64::from(line.rating.alert_wait_seconds)),
            awaits_comment: line.rating.ask_comment_on_low,
            awaits_reasons: !line.rating.low_reasons.is_empty(),
            operators_see_ratings: line.rating.operators_see_ratings,
            notify_operator: line.rating.notify_operator,
            recipients: line.notify_low,
            burst_over: line.rating.alert_burst_over,
            zone: self.zone,
        };
        let id = &answer.request_id;
        let now = self.now();
        // A rating that became low made its alerts, and a comment may have released them:
        // the scheduler looks again, and sends them when due.
        let alert_due = |rating: &RatingRecord| {
            if rating.low {
                self.wake.due_at(now);
            }
        };
        let outcome = self
            .store
            .submit_rating(&answer, policy, &alerts, now)
            .await?;
        if matches!(
            outcome,
            RatingOutcome::Created(..) | RatingOutcome::Changed(..)
        ) {
            self.events_queued().await;
        }
        match outcome {
            RatingOutcome::Created(rating, history) => {
                self.metrics
                    .transition(rateline_domain::RequestStatus::Answered);
                // The operator's digest is gathered with the scheduler's housekeeping.
                if notify_operator {
                    self.wake.housekeeping_at(now);
                }
                alert_due(&rating);
                Ok(Submitted {
                    rating,
                    history,
                    created: true,
                    changed: true,
                })
            }
            RatingOutcome::Changed(rating, history) => {
                alert_due(&rating);
                Ok(Submitted {
                    rating,
                    history,
                    created: false,
                    changed: true,
                })
            }
            RatingOutcome::Unchanged(rating, history) => Ok(Submitted {
                rating,
                history,
                created: false,
                changed: false,
            }),
            RatingOutcome::NotFound => Err(request_not_found(id)),
            RatingOutcome::NotAnswerable(status) => Err(EngineError::Conflict {
                code: ErrorCode::RequestNotAnswerable,
                message: match status {
                    rateline_domain::RequestStatus::Scheduled => {
                        format!(
                            "request '{id}' has not been sent yet; answer it once the client has seen it"
                        )
                    }
                    other => format!("request '{id}' is {other} and takes no answer"),
                },
            }),
            RatingOutcome::WindowClosed(end) => Err(EngineError::Gone {
                code: ErrorCode::AnswerWindowClosed,
                message: format!(
                    "request '{id}' could be answered until {} (the line's answer_window_hours); the answer was not stored",
                    end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            }),
            RatingOutcome::ChangeLimitReached(max) => Err(EngineError::Conflict {
                code: ErrorCode::ChangeLimitReached,
                message: format!(
                    "the rating of request '{id}' was changed {max} time(s) already, the line's rating.max_changes"
                ),
            }),
            RatingOutcome::ChangeWindowClosed(until) => Err(EngineError::Conflict {
                code: ErrorCode::ChangeWindowClosed,
                message: format!(
                    "the rating of request '{id}' could be changed until {} (the line's rating.change_window_days)",
                    until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            }),
        }
    }

    /// A web chat widget showed request `id` of `session_id` (see `Store::widget_showed`).
    pub async fn widget_showed(
        &self,
        id: &str,
        session_id: &str,
    ) -> Result<Option<rateline_domain::RequestStatus>> {
        let outcome = self.store.widget_showed(id, session_id, self.now()).await?;
        Ok(outcome.map(|(status, changed)| {
            if changed {
                // What this call did, whatever an answer made of it since.
                self.metrics
                    .transition(rateline_domain::RequestStatus::Delivered);
            }
            status
        }))
    }

    /// Session `id` whole, whoever asks: callers go through [`Engine::session_view_for`],
    /// which leaves out what the caller may not see.
    async fn session_view(&self, id: &str) -> Result<SessionView> {
        known_session(id)?;
        self.store
            .session_view(id)
            .await?
            .ok_or_else(|| session_not_found(id))
    }

    pub async fn report(&self, filter: &ReportFilter, by: Grouping) -> Result<Vec<ReportGroup>> {
        Ok(self.store.report(filter, by, self.now()).await?)
    }

    /// A client-supplied time, or now; refused when it lies in the future or before 1970.
    fn event_time(
        &self,
        field: &str,
        at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>> {
        match at {
            Some(t) if t > now + MAX_FUTURE_SKEW => Err(Invalid::new(
                field,
                format!(
                    "{} is in the future (server time {}); send the time the event happened, or omit it",
                    t.to_rfc3339(),
                    now.to_rfc3339()
                ),
            )
            .into()),
            // Reports count periods in days since 1970; nothing Rateline hears of is older.
            Some(t) if t.timestamp_millis() < 0 => Err(Invalid::new(
                field,
                format!(
                    "{} is before 1970-01-01; send the time the event happened, or omit it",
                    t.to_rfc3339()
                ),
            )
            .into()),
            Some(t) => Ok(t),
            None => Ok(now),
        }
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An id Rateline would never accept names no session (nor line): answered as not found,
/// without asking the database, which may refuse such text outright.
fn known_session(id: &str) -> Result<()> {
    check_id("session_id", id).map_err(|_| session_not_found(id))
}

fn line_not_found(id: &str) -> EngineError {
    EngineError::NotFound {
        code: ErrorCode::LineNotFound,
        message: format!("line '{id}' does not exist; create it with PUT /v1/lines/{id}"),
    }
}

/// The answer for a session that does not exist, or that the caller may not see.
pub fn session_not_found(id: &str) -> EngineError {
    EngineError::NotFound {
        code: ErrorCode::SessionNotFound,
        message: format!("session '{id}' does not exist; open it with POST /v1/sessions"),
    }
}

/// The answer for a rating request that does not exist, or that the caller may not see.
pub fn request_not_found(id: &str) -> EngineError {
    EngineError::NotFound {
        code: ErrorCode::RequestNotFound,
        message: format!("rating request '{id}' does not exist; use the request_id Rateline sent"),
    }
}

/// A client's id on `channel` in the form Rateline keeps it: a WhatsApp number's digits,
/// any other id composed (NFC) and checked.
pub(crate) fn client_id(channel: Channel, id: &str) -> Result<String> {
    if channel == Channel::Whatsapp {
        return Ok(whatsapp_number(id)?.into_string());
    }
    let id = rateline_domain::normalize_id(id);
    check_id("client.id", &id)?;
    Ok(id)
}

/// A WhatsApp client as WhatsApp's webhooks name them: the phone number's digits, so
/// "+250-788-123-456" and "250788123456" are the same client.
fn whatsapp_number(id: &str) -> Result<Id> {
    let digits: String = id
        .chars()
        .filter(|c| !matches!(c, '+' | '-' | '(' | ')' | '.'))
        .collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(Invalid::new(
            "client.id",
            format!(
                "'{id}' is not a phone number: on the whatsapp channel client.id is the client's \
                 number in international form, such as 250788123456"
            ),
        )
        .into());
    }
    Ok(Id::parse("client.id", &digits)?)
}

/// How a close goes: as the line's rules say, only if the session is still idle, or without
/// asking for the caller's reason.
enum CloseMode<'a> {
    Asked,
    IfIdle,
    Unasked(&'a str),
}
