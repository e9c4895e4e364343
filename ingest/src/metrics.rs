//! What ingest counts, for Prometheus: messages by source and outcome, and how long an
//! acknowledgement takes.
//!
//! Recorded through `prometheus-client` types, registered into the process's one
//! [`Registry`] by whoever wires the process (`coffer serve`), and exposed by the HTTP
//! layer at `/metrics`. Ingest and the HTTP layer thus share the interface
//! (`prometheus-client`) without depending on each other.
//!
//! - `coffer_ingest_messages_total{source,outcome}`: `source` is `smtp`, `lmtp` or
//!   `http`; `outcome` is `archived`, `duplicate`, `excluded` or `failed`;
//! - `coffer_ingest_duration_seconds{source}` (histogram): from the end of a message's
//!   content (SMTP: the final dot; HTTP: the body) to the acknowledgement being ready;
//! - `coffer_ingest_memory_bytes` (gauge): journaled message content held in memory now,
//!   out of the journal's memory budget ([`crate::budget`]);
//! - `coffer_ingest_memory_refusals_total`: messages refused for now (SMTP `452`, HTTP
//!   `503`) because that budget was exhausted.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Latency histogram bucket bounds, seconds (shared by every latency Coffer records).
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A latency histogram with [`LATENCY_BUCKETS`].
pub fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    source: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: &'static str,
}

/// Ingest counters. Cheap to clone; clones count into the same series.
#[derive(Debug, Clone)]
pub struct IngestMetrics {
    messages: Family<OutcomeLabels, Counter>,
    duration: Family<SourceLabels, Histogram, fn() -> Histogram>,
    memory_in_use: Gauge,
    memory_refusals: Counter,
}

impl Default for IngestMetrics {
    fn default() -> Self {
        Self {
            messages: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            memory_in_use: Gauge::default(),
            memory_refusals: Counter::default(),
        }
    }
}

impl IngestMetrics {
    /// Registers the series in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "coffer_ingest_messages",
            "Messages submitted to this process, by source and outcome",
            self.messages.clone(),
        );
        registry.register(
            "coffer_ingest_duration_seconds",
            "Time from the end of a message's content to its acknowledgement (fsynced), by source",
            self.duration.clone(),
        );
        registry.register(
            "coffer_ingest_memory_bytes",
            "Journaled message content held in memory, out of the journal's memory budget",
            self.memory_in_use.clone(),
        );
        registry.register(
            "coffer_ingest_memory_refusals",
            "Messages refused for now (SMTP 452, HTTP 503) because the memory budget was exhausted",
            self.memory_refusals.clone(),
        );
    }

    /// The series a [`crate::budget::MemoryBudget`] counts into: bytes in use, refusals.
    pub(crate) fn memory_series(&self) -> (Gauge, Counter) {
        (self.memory_in_use.clone(), self.memory_refusals.clone())
    }

    /// Counts one message of `source` (`smtp`, `lmtp`, `http`) with `outcome`
    /// (`archived`, `duplicate`, `excluded`, `failed`).
    pub fn message(&self, source: &'static str, outcome: &'static str) {
        self.messages
            .get_or_create(&OutcomeLabels { source, outcome })
            .inc();
    }

    /// Records how long accepting one message of `source` took.
    pub fn latency(&self, source: &'static str, elapsed: Duration) {
        self.duration
            .get_or_create(&SourceLabels { source })
            .observe(elapsed.as_secs_f64());
    }
}
