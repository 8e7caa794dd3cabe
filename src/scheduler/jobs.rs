//! Sending a claimed alert, response, reminder or digest through its sink or channel, and
//! recording what became of it.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use rateline_adapters::{OutgoingText, SendOutcome, TextKind};
use rateline_domain::{Channel, RequestStatus};

use crate::store::{ClaimedJob, ClaimedRequest, JobKind, JobResult, StoreError};

use super::requests::webhook_target;
use super::retry::{held_back_until, rfc3339};
use super::run::{Inner, SEND_TIMEOUT_GRACE};

impl Inner {
    /// Sends one alert or response and records the outcome.
    #[tracing::instrument(skip_all, fields(kind = job.kind.as_str(), id = %job.id, attempt = job.attempts))]
    pub(super) async fn send_job(&self, job: ClaimedJob, claimed_at: Instant) {
        if job.reclaimed {
            tracing::warn!("the previous holder's lease ran out mid-send: sending again");
        }
        let now = self.clock.now();
        let deadline =
            job.since + Duration::from_std(self.settings.send_deadline()).unwrap_or(Duration::MAX);
        let (via, outcome, carried_comment) = if now > deadline {
            (
                "deadline".to_owned(),
                SendOutcome::Failed {
                    reason: format!(
                        "not sent by the send deadline {}; Rateline does not send late",
                        rfc3339(deadline)
                    ),
                },
                false,
            )
        } else {
            let limit = self.settings.send_timeout() + SEND_TIMEOUT_GRACE;
            match tokio::time::timeout(limit, self.deliver(&job, now)).await {
                Ok(Ok(sent)) => sent,
                Ok(Err(e)) => (
                    "store".to_owned(),
                    SendOutcome::Retry {
                        after: None,
                        reason: format!("could not read what to send: {e}"),
                    },
                    false,
                ),
                Err(_) => (
                    "timeout".to_owned(),
                    SendOutcome::Retry {
                        after: None,
                        reason: format!(
                            "the send took longer than {} s",
                            self.settings.send_timeout_seconds
                        ),
                    },
                    false,
                ),
            }
        };
        self.metrics
            .job_outcomes
            .get_or_create(&vec![
                ("kind", job.kind.as_str().to_owned()),
                ("via", via),
                ("outcome", outcome.label().to_owned()),
            ])
            .inc();
        let result = self.job_result(&job, outcome, carried_comment, deadline);
        match &result {
            JobResult::Final { status, error } => {
                tracing::warn!(%status, %error, "ended without reaching its recipient")
            }
            JobResult::RetryAt { at, error } => {
                tracing::warn!(retry_at = %rfc3339(*at), %error, "send failed; will retry")
            }
            JobResult::Sent { .. } | JobResult::Deferred { .. } => {}
        }
        let recorded = self
            .persist(claimed_at, || {
                self.store
                    .jobs()
                    .record_result(&job, &self.owner, &result, self.clock.now())
            })
            .await;
        match (recorded, &result) {
            (Some(true), JobResult::RetryAt { at, .. } | JobResult::Deferred { at }) => {
                self.wake.due_at(*at)
            }
            // A failed alert and a sent response may be events for a subscription.
            (Some(true), JobResult::Final { .. } | JobResult::Sent { .. }) => {
                self.engine.events_queued().await
            }
            (Some(false), _) => tracing::info!(
                "it changed while being sent (edited and queued again, or its lease ran out); \
                 left as it is"
            ),
            _ => {}
        }
    }

    /// Sends a job through its sink or channel; returns which, the outcome, and whether it
    /// said the client's comment (an alert that did needs no follow-up).
    pub(super) async fn deliver(
        &self,
        job: &ClaimedJob,
        now: DateTime<Utc>,
    ) -> Result<(String, SendOutcome, bool), StoreError> {
        match job.kind {
            JobKind::Alert => {
                let Some(alert) = self.store.alerts().delivery(&job.id).await? else {
                    return Ok(("none".into(), gone("alert"), false));
                };
                let telegram = self.adapters.get(Channel::Telegram);
                let outcome = self.sinks.send(&alert, telegram, now).await;
                let carried = alert.thread.is_none() && alert.comment.is_some();
                Ok((alert.sink, outcome, carried))
            }
            JobKind::Response => {
                let Some(r) = self.store.follow_ups().response_delivery(&job.id).await? else {
                    return Ok(("none".into(), gone("response"), false));
                };
                let via = r.channel.as_str().to_owned();
                let Some(adapter) = self.adapters.get(r.channel) else {
                    let reason = format!("the {} channel is not enabled on this server", r.channel);
                    return Ok((via, SendOutcome::Failed { reason }, false));
                };
                let message = OutgoingText {
                    id: r.key,
                    kind: TextKind::Response,
                    session_id: r.session_id,
                    line_id: r.line_id.into_string(),
                    to: r.client,
                    text: r.text,
                    last_client_message_at: r.last_client_message_at,
                    now,
                    webhook: webhook_target(&r.line),
                    reply_to: None,
                };
                Ok((via, adapter.send_text(&message).await, false))
            }
            JobKind::Reminder => {
                let Some((request, status, expires_at)) =
                    self.store.requests().reminder_target(&job.id).await?
                else {
                    return Ok(("none".into(), gone("request"), false));
                };
                let via = request.channel.as_str().to_owned();
                if let Some(reason) = no_reminder(&request, status, expires_at, now) {
                    return Ok((via, SendOutcome::Skipped { reason }, false));
                }
                let Some(adapter) = self.adapters.get(request.channel) else {
                    let reason = format!(
                        "the {} channel is not enabled on this server",
                        request.channel
                    );
                    return Ok((via, SendOutcome::Failed { reason }, false));
                };
                let mut outgoing = self.outgoing(&request, true);
                // Only the request itself may fall back to a template outside the window.
                outgoing.whatsapp_template = None;
                Ok((via, adapter.send(&outgoing).await, false))
            }
            JobKind::Digest => self.deliver_digest(job, now).await,
            JobKind::Event => unreachable!("events are sent by send_event"),
        }
    }

    /// Sends a digest, unless it was withdrawn, the person's quiet hours hold it, or one went
    /// to the same address less than its pace ago.
    async fn deliver_digest(
        &self,
        job: &ClaimedJob,
        now: DateTime<Utc>,
    ) -> Result<(String, SendOutcome, bool), StoreError> {
        let zone = self.engine.zone();
        let Some(digest) = self.store.digests().delivery(&job.id, zone, now).await? else {
            return Ok(("none".into(), gone("digest"), false));
        };
        if let Some(why) = &digest.withdrawn {
            let reason = format!("withdrawn: {why}");
            return Ok((digest.sink, SendOutcome::Skipped { reason }, false));
        }
        // The person's quiet hours hold it until they end.
        if let Some(end) = digest.quiet_until {
            let after = (end - now).to_std().unwrap_or_default();
            let reason = "held for the person's quiet hours".to_owned();
            return Ok((digest.sink, SendOutcome::Defer { after, reason }, false));
        }
        // One such digest sent (or being sent ahead of this one) less than its pace
        // ago holds this one back for the rest of it.
        if let Some(next) = digest.last_sent_at.map(|t| t + digest.every)
            && now < next
        {
            let after = (next - now).to_std().unwrap_or_default();
            let reason = format!(
                "a digest went to this address less than {} minutes ago",
                digest.every.num_minutes()
            );
            return Ok((digest.sink, SendOutcome::Defer { after, reason }, false));
        }
        let weekly = matches!(digest.kind, crate::store::DigestKind::Weekly { .. });
        if digest.ratings.is_empty() && !weekly {
            let reason = "its ratings are no longer in the store".to_owned();
            return Ok((digest.sink, SendOutcome::Skipped { reason }, false));
        }
        let telegram = self.adapters.get(Channel::Telegram);
        let outcome = self.sinks.send_digest(&digest, telegram, now).await;
        Ok((digest.sink, outcome, false))
    }

    /// What a job's outcome means under the retry policy and its deadline.
    pub(super) fn job_result(
        &self,
        job: &ClaimedJob,
        outcome: SendOutcome,
        carried_comment: bool,
        deadline: DateTime<Utc>,
    ) -> JobResult {
        let now = self.clock.now();
        // Alerts and digests end `failed` whatever the reason; a response to a client keeps
        // the channel's reason, as a rating request does.
        let ended = |status: &'static str, error: String| JobResult::Final {
            status: if matches!(job.kind, JobKind::Alert | JobKind::Digest) {
                "failed"
            } else {
                status
            },
            error,
        };
        match outcome {
            SendOutcome::Accepted {
                platform_message_id,
            } => JobResult::Sent {
                platform_message_id,
                carried_comment,
            },
            SendOutcome::Skipped { reason } => JobResult::Final {
                status: "skipped",
                error: reason,
            },
            SendOutcome::Retry { after, reason } => {
                match self
                    .retry
                    .next_try(self.clock.now(), job.attempts, after, deadline, &reason)
                {
                    Ok(at) => JobResult::RetryAt { at, error: reason },
                    Err(error) => ended("failed", error),
                }
            }
            SendOutcome::Defer { after, reason } => {
                match held_back_until(now, after, deadline, &reason) {
                    Ok(at) => JobResult::Deferred { at },
                    Err(error) => ended("failed", error),
                }
            }
            SendOutcome::Undeliverable { reason } => ended("undeliverable", reason),
            SendOutcome::WindowClosed { reason } => ended("window_closed", reason),
            SendOutcome::Failed { reason } => ended("failed", reason),
            other => ended("failed", format!("unknown send outcome {other:?}")),
        }
    }
}

/// Why a request's reminder is not to be sent now, if it is not: the request was
/// answered or ended, its answer window closed, or (Meta's channels) the client's 24-hour
/// window did.
fn no_reminder(
    request: &ClaimedRequest,
    status: RequestStatus,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<String> {
    if !matches!(status, RequestStatus::Sent | RequestStatus::Delivered) {
        return Some(format!("not sent: the request is {status} now"));
    }
    if expires_at.is_some_and(|end| end <= now) {
        return Some("not sent: the request's answer window has closed".into());
    }
    let window_open = request
        .last_client_message_at
        .is_some_and(|last| rateline_domain::meta_window_open(last, now));
    if request.channel.is_meta() && !window_open {
        return Some("not sent: the client's 24-hour window on Meta's channel has closed".into());
    }
    None
}

fn gone(what: &str) -> SendOutcome {
    SendOutcome::Failed {
        reason: format!("the {what} is no longer in the store"),
    }
}
