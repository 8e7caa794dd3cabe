//! Sending a claimed rating request through its channel's adapter, and recording what
//! became of it.

use std::time::Instant;

use chrono::Duration;
use rateline_adapters::{OutgoingRequest, SendOutcome, TemplateRef, WebhookTarget};
use rateline_domain::RequestStatus;

use crate::store::{ClaimedRequest, SendResult};

use super::retry::{held_back_until, rfc3339};
use super::run::{Inner, SEND_TIMEOUT_GRACE};

impl Inner {
    #[tracing::instrument(skip_all, fields(request_id = %c.id, session_id = %c.session_id, line_id = %c.line_id, channel = %c.channel, attempt = c.attempts))]
    pub(super) async fn send(&self, c: ClaimedRequest, claimed_at: Instant) {
        if c.reclaimed {
            tracing::warn!("the previous holder's lease ran out mid-send: sending again");
        }
        let now = self.clock.now();
        let result = if now > c.send_deadline_at {
            SendResult::Final {
                status: RequestStatus::Failed,
                error: format!(
                    "not sent by the send deadline {} (due {}); Rateline does not send requests late",
                    rfc3339(c.send_deadline_at),
                    rfc3339(c.due_at)
                ),
            }
        } else if let Some(adapter) = self.adapters.get(c.channel) {
            let outgoing = self.outgoing(&c, false);
            let started = Instant::now();
            // Adapters enforce the send timeout on their own calls; this outer limit, a
            // little longer so it never races theirs, only catches an adapter that hangs.
            let limit = self.settings.send_timeout() + SEND_TIMEOUT_GRACE;
            let outcome = match tokio::time::timeout(limit, adapter.send(&outgoing)).await {
                Ok(o) => o,
                Err(_) => SendOutcome::Retry {
                    after: None,
                    reason: format!(
                        "the send took longer than {} s",
                        self.settings.send_timeout_seconds
                    ),
                },
            };
            let labels = vec![("channel", c.channel.as_str().to_owned())];
            self.metrics
                .send_duration
                .get_or_create(&labels)
                .observe(started.elapsed().as_secs_f64());
            self.metrics
                .send_outcomes
                .get_or_create(&vec![
                    ("channel", c.channel.as_str().to_owned()),
                    ("outcome", outcome.label().to_owned()),
                ])
                .inc();
            self.result_of(&c, outcome)
        } else {
            SendResult::Final {
                status: RequestStatus::Failed,
                error: format!("the {} channel is not enabled on this server", c.channel),
            }
        };
        self.record(&c, result, claimed_at).await;
    }

    pub(super) fn outgoing(&self, c: &ClaimedRequest, reminder: bool) -> OutgoingRequest {
        let line = &c.line;
        OutgoingRequest {
            request_id: c.id.clone(),
            session_id: c.session_id.clone(),
            line_id: c.line_id.clone(),
            client: c.client.clone(),
            scale: c.scale,
            text: line.rating.request_text.clone(),
            language: line.rating.language.clone(),
            answer_url: self.answer_url.clone(),
            attempt: c.attempts,
            last_client_message_at: c.last_client_message_at,
            now: self.clock.now(),
            whatsapp_template: line.whatsapp_template.as_ref().map(|t| TemplateRef {
                name: t.name.clone(),
                language: t.language.clone(),
                values: t.values(c.scale),
            }),
            webhook: webhook_target(line),
            follow_ups: rateline_adapters::FollowUps::of(&line.rating, c.scale),
            reminder,
        }
    }

    /// What an adapter's outcome means for the request, under the retry policy and deadline.
    pub(super) fn result_of(&self, c: &ClaimedRequest, outcome: SendOutcome) -> SendResult {
        let now = self.clock.now();
        match outcome {
            SendOutcome::Accepted {
                platform_message_id,
            } => {
                let late = (now - c.due_at).to_std().unwrap_or_default();
                self.metrics.lateness.observe(late.as_secs_f64());
                SendResult::Sent {
                    platform_message_id,
                    expires_at: now + Duration::hours(i64::from(c.line.rating.answer_window_hours)),
                    remind_at: c
                        .line
                        .rating
                        .reminder_after_minutes
                        .map(|m| now + Duration::minutes(i64::from(m))),
                }
            }
            SendOutcome::Retry { after, reason } => {
                match self.retry.next_try(
                    self.clock.now(),
                    c.attempts,
                    after,
                    c.send_deadline_at,
                    &reason,
                ) {
                    Ok(at) => SendResult::RetryAt { at, error: reason },
                    Err(error) => SendResult::Final {
                        status: RequestStatus::Failed,
                        error,
                    },
                }
            }
            SendOutcome::Undeliverable { reason } => SendResult::Final {
                status: RequestStatus::Undeliverable,
                error: reason,
            },
            SendOutcome::WindowClosed { reason } => SendResult::Final {
                status: RequestStatus::WindowClosed,
                error: reason,
            },
            SendOutcome::Failed { reason } => {
                tracing::error!(%reason, "send failed for a reason retrying cannot fix");
                SendResult::Final {
                    status: RequestStatus::Failed,
                    error: reason,
                }
            }
            SendOutcome::Defer { after, reason } => {
                match held_back_until(now, after, c.send_deadline_at, &reason) {
                    Ok(at) => SendResult::Deferred { at, reason },
                    Err(error) => SendResult::Final {
                        status: RequestStatus::Failed,
                        error,
                    },
                }
            }
            other => SendResult::Final {
                status: RequestStatus::Failed,
                error: format!("unknown send outcome {other:?}"),
            },
        }
    }

    /// Writes the result, retrying while the database is away: giving up would let the
    /// lease run out and the request be sent a second time.
    pub(super) async fn record(&self, c: &ClaimedRequest, result: SendResult, claimed_at: Instant) {
        let status = match &result {
            SendResult::Sent { .. } => RequestStatus::Sent,
            SendResult::RetryAt { at, error } => {
                // Every failed send is a warning, so an operator sees it before retries run out.
                tracing::warn!(retry_at = %rfc3339(*at), %error, "send failed; will retry");
                RequestStatus::Scheduled
            }
            SendResult::Deferred { at, reason } => {
                tracing::debug!(retry_at = %rfc3339(*at), %reason, "send held back");
                RequestStatus::Scheduled
            }
            SendResult::Final { status, error } => {
                tracing::warn!(%status, %error, "request ended without reaching the client");
                *status
            }
        };
        let recorded = self
            .persist(claimed_at, || {
                self.store
                    .requests()
                    .record_send_result(c, &self.owner, &result, self.clock.now())
            })
            .await;
        match recorded {
            Some(true) => {
                self.metrics.transition(status);
                // The pass that claimed this request planned its sleep around the
                // lease; a retry or an answer window may end sooner than that.
                match &result {
                    SendResult::RetryAt { at, .. } | SendResult::Deferred { at, .. } => {
                        self.wake.due_at(*at)
                    }
                    SendResult::Sent { expires_at, .. } => self.wake.housekeeping_at(*expires_at),
                    // Its end may be an event for a subscription.
                    SendResult::Final { .. } => self.engine.events_queued().await,
                }
            }
            Some(false) => tracing::info!(
                "the request changed while it was being sent (answered, or its lease \
                 ran out and another scheduler holds it); it is left as it is"
            ),
            None => {}
        }
    }
}

pub(super) fn webhook_target(line: &rateline_domain::LineSettings) -> Option<WebhookTarget> {
    line.webhook.as_ref().and_then(|w| {
        Some(WebhookTarget {
            url: w.url.clone(),
            secret: w.secret.clone()?,
        })
    })
}
