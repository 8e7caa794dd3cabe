//! Sessions: opening one, a message in it, and its close, which schedules the rating
//! request as the line's rules say.

use chrono::{DateTime, Duration, Utc};
use rateline_domain::{Channel, ClosedBy, ErrorCode, Invalid, MessageFrom, NewSession, SessionId};

use super::base::Engine;
use super::error::{EngineError, Result, session_not_found};
use super::ids::whatsapp_number;
use crate::store::{
    CloseResult, CloseTiming, LineRecord, MessageResult, SessionRecord, SessionView,
};

/// Times that clients may send are accepted this far in the future (clock skew), no further.
const MAX_FUTURE_SKEW: Duration = Duration::minutes(5);

/// How a close goes: as the line's rules say, only if the session is still idle, or without
/// asking for the caller's reason.
enum CloseMode<'a> {
    Asked,
    IfIdle,
    Unasked(&'a str),
}

impl Engine {
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
                return match self.store.sessions().get(&new.id).await? {
                    Some(existing) => Ok((existing, false)),
                    None => Err(refused),
                };
            }
        };
        let Some(session) = self
            .store
            .sessions()
            .insert(&new, opened_at, line.settings.auto_close_minutes)
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
        let line = self
            .store
            .lines()
            .for_open(&new.line_id)
            .await?
            .ok_or_else(|| super::error::line_not_found(&new.line_id))?;
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

    /// Session `id`, whoever asks (callers that must hide it check the caller first).
    pub async fn session(&self, id: &SessionId) -> Result<SessionRecord> {
        self.store
            .sessions()
            .get(id)
            .await?
            .ok_or_else(|| session_not_found(id))
    }

    /// Records a client or operator message.
    #[tracing::instrument(skip(self))]
    pub async fn record_message(
        &self,
        session_id: &SessionId,
        from: MessageFrom,
        at: Option<DateTime<Utc>>,
    ) -> Result<MessageResult> {
        let now = self.now();
        // Within the allowed skew a time from the future is taken as now: it must not
        // stretch Meta's 24-hour window.
        let at = self.event_time("at", at, now)?.min(now);
        let result = self
            .store
            .sessions()
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

    /// The client wrote something other than an answer to the session's sent request: the
    /// request ends `cancelled` and the session is open again (see
    /// `store::Sessions::withdraw_request`). Whether a request was waiting.
    pub async fn withdraw_request(&self, session_id: &SessionId) -> Result<bool> {
        let now = self.now();
        let Some(id) = self
            .store
            .sessions()
            .withdraw_request(session_id, now)
            .await?
        else {
            return Ok(false);
        };
        tracing::info!(request_id = %id, "the client wrote something other than an answer: cancelled");
        self.wake.housekeeping_at(now);
        self.metrics
            .transition(rateline_domain::RequestStatus::Cancelled);
        self.signals.raise(session_id);
        Ok(true)
    }

    /// Closes a session and schedules its rating request, or skips it when a rule of the
    /// line's `survey` holds (`tags` are the close's, for `survey.skip_tags`). Closing twice
    /// changes nothing.
    #[tracing::instrument(skip(self))]
    pub async fn close_session(
        &self,
        session_id: &SessionId,
        by: ClosedBy,
        at: Option<DateTime<Utc>>,
        tags: &[String],
    ) -> Result<CloseResult> {
        rateline_domain::check_tags("tags", tags)?;
        let now = self.now();
        let closed_at = self.event_time("at", at, now)?;
        self.close(session_id, by, closed_at, now, tags, CloseMode::Asked)
            .await
    }

    /// Closes a session now without asking its client, for the reason `why` a helpdesk's
    /// own setting gives (the request ends `skipped` with it).
    pub async fn close_session_unasked(
        &self,
        session_id: &SessionId,
        by: ClosedBy,
        tags: &[String],
        why: &str,
    ) -> Result<CloseResult> {
        rateline_domain::check_tags("tags", tags)?;
        let now = self.now();
        self.close(session_id, by, now, now, tags, CloseMode::Unasked(why))
            .await
    }

    /// Closes a session whose inactivity deadline passed, unless a message came meanwhile.
    pub async fn close_idle(&self, session_id: &SessionId) -> Result<CloseResult> {
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
        session_id: &SessionId,
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
            .sessions()
            .close(session_id, by, timing, only_if_idle, tags, skip)
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
    /// Session `id` whole, whoever asks: callers go through [`Engine::session_view_for`],
    /// which leaves out what the caller may not see.
    pub(super) async fn session_view(&self, id: &SessionId) -> Result<SessionView> {
        self.store
            .sessions()
            .view(id)
            .await?
            .ok_or_else(|| session_not_found(id))
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
