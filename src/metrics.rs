//! Prometheus metrics, one registry per running server (tests run several in one process).

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// Every metric Rateline exports at `/metrics`.
pub struct Metrics {
    registry: Registry,
    /// HTTP responses by status code.
    pub http_responses: Family<Labels, Counter>,
    /// Rating requests entering each status, as this process moved them.
    pub request_transitions: Family<Labels, Counter>,
    /// Send outcomes by channel and outcome.
    pub send_outcomes: Family<Labels, Counter>,
    /// Alert and response sends by kind (`alert`, `response`), sink or channel, and outcome.
    pub job_outcomes: Family<Labels, Counter>,
    /// How long one send took, by channel.
    pub send_duration: Family<Labels, Histogram>,
    /// sent − due for every accepted request.
    pub lateness: Histogram,
    /// Scheduler passes: flat while nothing is due, since the scheduler sleeps, never polls.
    pub scheduler_passes: Counter,
    /// Requests scheduled or being sent, read from the database (see [`Metrics::queue_depth_stale`]).
    pub queue_depth: Gauge,
    /// Refused credentials (API keys, dashboard sign-ins) by reason: `malformed`,
    /// `unknown`, `revoked`, `person_deactivated`, `wrong_password`, `throttled`.
    pub auth_failures: Family<Labels, Counter>,
    /// Connections open now.
    pub connections_open: Gauge,
    /// Connections refused at a cap, by reason (`server_busy`, `address_busy`).
    pub connections_refused: Family<Labels, Counter>,
    /// Connections closed for sending no request head in time (idle, or too slow).
    pub connections_timed_out: Counter,
    /// Connections not in a request closed to make room for a new one (the server full).
    pub connections_evicted: Counter,
    queue_depth_read: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("rateline");
        let http_responses = Family::<Labels, Counter>::default();
        registry.register(
            "http_responses",
            "HTTP responses by status",
            http_responses.clone(),
        );
        let request_transitions = Family::<Labels, Counter>::default();
        registry.register(
            "rating_requests",
            "Rating requests that entered each status in this process",
            request_transitions.clone(),
        );
        let send_outcomes = Family::<Labels, Counter>::default();
        registry.register(
            "send_outcomes",
            "Send outcomes by channel",
            send_outcomes.clone(),
        );
        let job_outcomes = Family::<Labels, Counter>::default();
        registry.register(
            "followup_sends",
            "Low-rating alert and response sends by kind, sink or channel, and outcome",
            job_outcomes.clone(),
        );
        let send_duration = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        registry.register(
            "send_duration_seconds",
            "Time one send took, by channel",
            send_duration.clone(),
        );
        let lateness = Histogram::new(exponential_buckets(0.001, 2.0, 20));
        registry.register(
            "send_lateness_seconds",
            "Time between a request's due time and the platform accepting it",
            lateness.clone(),
        );
        let scheduler_passes = Counter::default();
        registry.register(
            "scheduler_passes",
            "Scheduler passes (each looks at the store once)",
            scheduler_passes.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Rating requests scheduled or being sent",
            queue_depth.clone(),
        );
        let auth_failures = Family::<Labels, Counter>::default();
        registry.register(
            "auth_failures",
            "Refused API keys and sign-ins, by reason (malformed, unknown, revoked, person_deactivated, wrong_password, throttled)",
            auth_failures.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "connections_open",
            "HTTP connections open now",
            connections_open.clone(),
        );
        let connections_refused = Family::<Labels, Counter>::default();
        registry.register(
            "connections_refused",
            "HTTP connections refused at a cap, by reason (server_busy, address_busy)",
            connections_refused.clone(),
        );
        let connections_timed_out = Counter::default();
        registry.register(
            "connections_timed_out",
            "HTTP connections closed for sending no request head in time",
            connections_timed_out.clone(),
        );
        let connections_evicted = Counter::default();
        registry.register(
            "connections_evicted",
            "HTTP connections not in a request closed to make room for a new one",
            connections_evicted.clone(),
        );
        Self {
            registry,
            auth_failures,
            connections_open,
            connections_refused,
            connections_timed_out,
            connections_evicted,
            http_responses,
            request_transitions,
            send_outcomes,
            job_outcomes,
            send_duration,
            lateness,
            scheduler_passes,
            queue_depth,
            queue_depth_read: std::sync::Mutex::new(None),
        }
    }
}

/// How long a queue depth read from the database is served before it is read again:
/// counting a million pending rows on every scrape would cost more than it tells.
const QUEUE_DEPTH_TTL: std::time::Duration = std::time::Duration::from_secs(5);

impl Metrics {
    /// Whether the queue depth should be read again now; if so, the caller reads it.
    pub fn queue_depth_stale(&self) -> bool {
        let mut read = self.queue_depth_read.lock().expect("metrics lock");
        let stale = read.is_none_or(|at| at.elapsed() >= QUEUE_DEPTH_TTL);
        if stale {
            *read = Some(std::time::Instant::now());
        }
        stale
    }

    /// A refused credential.
    pub fn auth_failure(&self, reason: &'static str) {
        self.auth_failures
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }

    /// Counts a rating request entering `status`.
    pub fn transition(&self, status: rateline_domain::RequestStatus) {
        self.request_transitions
            .get_or_create(&vec![("status", status.as_str().to_owned())])
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
