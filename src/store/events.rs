//! Event subscriptions and the events on their way to them (docs/events.md).
//!
//! Events are written by the change they tell about (see the `outbox` module). The
//! scheduler claims them like its other jobs, except that one is claimed only when no
//! earlier event of its subscription and request is still queued (events about one rating
//! arrive in order, see `jobs`), and that a delivered event is deleted rather than kept.

use chrono::{DateTime, Utc};
use rateline_domain::{EventType, Secret, SubscriptionSettings};
use serde::Serialize;
use sqlx::Row;

use super::base::Events;
use super::error::{Result, StoreError};
use super::jobs::ClaimedJob;
use super::sql::{ms, opt_time, time};

/// How long a subscription may fail without a single success before it is switched off.
pub const SWITCH_OFF_AFTER_DAYS: i64 = 3;

/// A subscription as the API shows it: never its secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubscriptionRecord {
    /// The subscription's id, as its creator chose it.
    pub id: String,
    /// Where its events are POSTed.
    pub url: String,
    /// The events it takes.
    pub events: Vec<EventType>,
    /// `null`: every line.
    pub lines: Option<Vec<String>>,
    /// `false`: switched off after failing for days; a `PUT` switches it back on.
    pub active: bool,
    /// When the first try of the oldest event still waiting after a failure failed: how
    /// long it has been failing. `null` when no waiting event has failed.
    pub failing_since: Option<DateTime<Utc>>,
    /// What that event's last try got (never the secret).
    pub last_error: Option<String>,
    /// When an event last reached it; `null` before the first.
    pub last_delivered_at: Option<DateTime<Utc>>,
    /// When it was switched off for failing; `null` while it is on.
    pub switched_off_at: Option<DateTime<Utc>>,
    /// Events waiting for it.
    pub queued: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last written, or switched off.
    pub updated_at: DateTime<Utc>,
}

/// A claimed event with where it goes.
#[derive(Debug, Clone)]
pub struct EventDelivery {
    /// The event's id, the same for every subscription: its `Idempotency-Key`.
    pub event_id: String,
    /// The subscription it goes to.
    pub subscription_id: String,
    /// The event's type, e.g. `rating.created`.
    pub kind: String,
    /// Where it is POSTed: the subscription's URL.
    pub url: String,
    /// The subscription's secret, which signs the body.
    pub secret: Secret,
    /// The body, as written when the event happened.
    pub payload: String,
}

/// What became of a delivery.
#[derive(Debug, Clone)]
pub enum EventResult {
    /// The subscriber took it (a 2xx).
    Delivered,
    /// Failed; tried again at `at` unless the subscription has failed for too long.
    Failed {
        /// When to try again.
        at: DateTime<Utc>,
        /// What the try got, never the secret.
        error: String,
    },
}

/// What recording a delivery's outcome did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// This claim no longer held the lease: nothing was written.
    Stale,
    /// The outcome was written.
    Done,
    /// The subscription has failed for [`SWITCH_OFF_AFTER_DAYS`] and was switched off now.
    SwitchedOff,
}

/// A subscription's columns, and what its waiting events say: how many, and the oldest that
/// failed (derived, so an event that goes away takes its failure with it).
const SUBSCRIPTION_COLUMNS: &str = "s.id, s.url, s.events, s.lines, s.active, \
    s.last_delivered_at, s.switched_off_at, s.created_at, s.updated_at, \
    (SELECT COUNT(*) FROM event_deliveries d WHERE d.subscription_id = s.id) AS queued, \
    (SELECT MIN(d.first_failed_at) FROM event_deliveries d \
     WHERE d.subscription_id = s.id) AS failing_since, \
    (SELECT d.last_error FROM event_deliveries d \
     WHERE d.subscription_id = s.id AND d.first_failed_at IS NOT NULL \
     ORDER BY d.first_failed_at, d.seq LIMIT 1) AS last_error";

impl SubscriptionRecord {
    /// Its settings as a `PUT` would give them, the secret left out (so the stored one stays).
    pub fn settings(&self) -> SubscriptionSettings {
        SubscriptionSettings {
            url: self.url.clone(),
            secret: None,
            events: self.events.clone(),
            lines: self.lines.clone(),
        }
    }
}

fn read_subscription(row: &sqlx::any::AnyRow) -> Result<SubscriptionRecord> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("subscription: {e}"));
    Ok(SubscriptionRecord {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        events: serde_json::from_str(&row.try_get::<String, _>("events")?).map_err(corrupt)?,
        lines: row
            .try_get::<Option<String>, _>("lines")?
            .map(|l| serde_json::from_str(&l))
            .transpose()
            .map_err(corrupt)?,
        active: row.try_get::<i64, _>("active")? == 1,
        failing_since: opt_time(row.try_get("failing_since")?),
        last_error: row.try_get("last_error")?,
        last_delivered_at: opt_time(row.try_get("last_delivered_at")?),
        switched_off_at: opt_time(row.try_get("switched_off_at")?),
        queued: row.try_get("queued")?,
        created_at: time(row.try_get("created_at")?),
        updated_at: time(row.try_get("updated_at")?),
    })
}

impl Events<'_> {
    /// Every subscription, or the one with `id`, with how many events wait for each.
    pub async fn subscriptions(self, id: Option<&str>) -> Result<Vec<SubscriptionRecord>> {
        let filter = if id.is_some() { "WHERE s.id = $1" } else { "" };
        let sql =
            format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s {filter} ORDER BY s.id");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(id) = id {
            q = q.bind(id.to_owned());
        }
        q.fetch_all(&self.0.pool)
            .await?
            .iter()
            .map(read_subscription)
            .collect()
    }

    /// Creates or replaces subscription `id` and switches it on; a `secret` left out keeps
    /// the stored one. Its waiting events are due at once; when it was switched off, their
    /// failures are forgotten (its days of failures count anew). Returns the record before
    /// the change (`None`: it is new), or an error naming `secret` when a new subscription
    /// has none. Two admins writing one subscription at once: the later write stands.
    pub async fn put_subscription(
        self,
        id: &str,
        s: &SubscriptionSettings,
        now: DateTime<Utc>,
    ) -> Result<Result<Option<SubscriptionRecord>, rateline_domain::Invalid>> {
        let before = self.subscriptions(Some(id)).await?.pop();
        let events = serde_json::to_string(&s.events).expect("event names serialise");
        let lines = s
            .lines
            .as_ref()
            .map(|l| serde_json::to_string(l).expect("ids serialise"));
        let mut tx = self.0.pool.begin().await?;
        let written = match &s.secret {
            Some(secret) => sqlx::query(
                "INSERT INTO subscriptions (id, url, secret, events, lines, active, created_at,
                                            updated_at)
                 VALUES ($1, $2, $3, $4, $5, 1, $6, $6)
                 ON CONFLICT (id) DO UPDATE
                 SET url = $2, secret = $3, events = $4, lines = $5, active = 1,
                     switched_off_at = NULL, updated_at = $6",
            )
            .bind(id)
            .bind(&s.url)
            .bind(secret)
            .bind(&events)
            .bind(lines)
            .bind(ms(now)),
            None => sqlx::query(
                "UPDATE subscriptions
                 SET url = $2, events = $3, lines = $4, active = 1, switched_off_at = NULL,
                     updated_at = $5
                 WHERE id = $1",
            )
            .bind(id)
            .bind(&s.url)
            .bind(&events)
            .bind(lines)
            .bind(ms(now)),
        }
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if written == 0 {
            return Ok(Err(rateline_domain::Invalid::new(
                "secret",
                "is required for a new subscription: at least 16 characters that sign its events",
            )));
        }
        let was_off = before.as_ref().is_some_and(|b| !b.active);
        sqlx::query(
            "UPDATE event_deliveries
             SET run_at = $2, first_failed_at = CASE WHEN $3 = 1 THEN NULL ELSE first_failed_at END
             WHERE subscription_id = $1 AND status = 'pending'",
        )
        .bind(id)
        .bind(ms(now))
        .bind(i64::from(was_off))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.0.events.forget();
        Ok(Ok(before))
    }

    /// Deletes a subscription and the events waiting for it; whether it existed.
    pub async fn delete_subscription(self, id: &str) -> Result<bool> {
        let mut tx = self.0.pool.begin().await?;
        sqlx::query("DELETE FROM event_deliveries WHERE subscription_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let gone = sqlx::query("DELETE FROM subscriptions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        tx.commit().await?;
        self.0.events.forget();
        Ok(gone)
    }

    /// A claimed delivery's event and where it goes; `None` when it is gone (its
    /// subscription was deleted meanwhile).
    pub async fn event_delivery(self, id: &str) -> Result<Option<EventDelivery>> {
        let Some(row) = sqlx::query(
            "SELECT d.event_id, d.subscription_id, d.type, d.payload, s.url, s.secret
             FROM event_deliveries d JOIN subscriptions s ON s.id = d.subscription_id
             WHERE d.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.0.pool)
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(EventDelivery {
            event_id: row.try_get("event_id")?,
            subscription_id: row.try_get("subscription_id")?,
            kind: row.try_get("type")?,
            url: row.try_get("url")?,
            secret: Secret(row.try_get("secret")?),
            payload: row.try_get("payload")?,
        }))
    }

    /// Records a delivery's outcome if this claim still holds the lease: a delivered event
    /// is deleted; a failed one waits for its next try (and the later events of its request
    /// with it), and its subscription is switched off once one of its waiting events has
    /// failed for [`SWITCH_OFF_AFTER_DAYS`].
    pub async fn record_event_result(
        self,
        job: &ClaimedJob,
        owner: &str,
        subscription_id: &str,
        result: &EventResult,
        now: DateTime<Utc>,
    ) -> Result<Recorded> {
        let mut tx = self.0.pool.begin().await?;
        const HELD: &str = "id = $1 AND status = 'sending' AND lease_owner = $2 AND attempts = $3";
        let recorded = match result {
            EventResult::Delivered => {
                let held = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM event_deliveries WHERE {HELD}"
                )))
                .bind(&job.id)
                .bind(owner)
                .bind(i64::from(job.attempts))
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !held {
                    return Ok(Recorded::Stale);
                }
                sqlx::query("UPDATE subscriptions SET last_delivered_at = $2 WHERE id = $1")
                    .bind(subscription_id)
                    .bind(ms(now))
                    .execute(&mut *tx)
                    .await?;
                Recorded::Done
            }
            EventResult::Failed { at, error } => {
                let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE event_deliveries
                     SET status = 'pending', run_at = $4, last_error = $5, lease_owner = NULL,
                         first_failed_at = COALESCE(first_failed_at, $6), updated_at = $6
                     WHERE {HELD}
                     RETURNING order_key, seq"
                )))
                .bind(&job.id)
                .bind(owner)
                .bind(i64::from(job.attempts))
                .bind(ms(*at))
                .bind(error)
                .bind(ms(now))
                .fetch_optional(&mut *tx)
                .await?
                else {
                    return Ok(Recorded::Stale);
                };
                // The request's later events wait for this one: not due before it, so no
                // pass looks at them meanwhile.
                sqlx::query(
                    "UPDATE event_deliveries SET run_at = $4
                     WHERE subscription_id = $1 AND order_key = $2 AND seq > $3
                       AND status = 'pending' AND run_at < $4",
                )
                .bind(subscription_id)
                .bind(row.try_get::<String, _>("order_key")?)
                .bind(row.try_get::<i64, _>("seq")?)
                .bind(ms(*at))
                .execute(&mut *tx)
                .await?;
                let cutoff = now - chrono::Duration::days(SWITCH_OFF_AFTER_DAYS);
                let off = sqlx::query(
                    "UPDATE subscriptions SET active = 0, switched_off_at = $2, updated_at = $2
                     WHERE id = $1 AND active = 1
                       AND EXISTS (SELECT 1 FROM event_deliveries
                                   WHERE subscription_id = $1 AND first_failed_at <= $3)",
                )
                .bind(subscription_id)
                .bind(ms(now))
                .bind(ms(cutoff))
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if off {
                    // Kept, not due: no pass looks at them until it is switched on.
                    sqlx::query(
                        "UPDATE event_deliveries SET run_at = NULL
                         WHERE subscription_id = $1 AND status = 'pending'",
                    )
                    .bind(subscription_id)
                    .execute(&mut *tx)
                    .await?;
                    Recorded::SwitchedOff
                } else {
                    Recorded::Done
                }
            }
        };
        tx.commit().await?;
        if recorded == Recorded::SwitchedOff {
            self.0.events.forget();
        }
        Ok(recorded)
    }

    /// Subscriptions that are switched off or failing now, for the dashboard.
    pub async fn troubled_subscriptions(self) -> Result<Vec<SubscriptionRecord>> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s
             WHERE s.active = 0
                OR EXISTS (SELECT 1 FROM event_deliveries d
                           WHERE d.subscription_id = s.id AND d.first_failed_at IS NOT NULL)
             ORDER BY s.id"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.0.pool)
            .await?
            .iter()
            .map(read_subscription)
            .collect()
    }
}
