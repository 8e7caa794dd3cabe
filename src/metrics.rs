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
    /// How long one send took, by channel.
    pub send_duration: Family<Labels, Histogram>,
    /// sent − due for every accepted request.
    pub lateness: Histogram,
    /// Requests scheduled or being sent, read from the database at each scrape.
    pub queue_depth: Gauge,
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
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Rating requests scheduled or being sent",
            queue_depth.clone(),
        );
        Self {
            registry,
            http_responses,
            request_transitions,
            send_outcomes,
            send_duration,
            lateness,
            queue_depth,
        }
    }
}

impl Metrics {
    pub fn transition(&self, status: crate::domain::RequestStatus) {
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
