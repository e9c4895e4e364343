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
//!   `503`) because that budget was exhausted;
//! - `coffer_extract_threads_abandoned` (gauge) and
//!   `coffer_extract_overload_refusals_total`: attachment extraction threads still
//!   running after a timeout, and PDFs refused while they are too many (read from
//!   `coffer_extract` at each scrape; the messages are flagged "attachment text not
//!   extracted").

use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
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
        registry.register_collector(Box::new(ExtractThreads));
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

/// Attachment extraction's own counters (process-wide, kept by `coffer_extract`), read
/// at each scrape.
#[derive(Debug)]
struct ExtractThreads;

impl Collector for ExtractThreads {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let abandoned =
            ConstGauge::new(i64::try_from(coffer_extract::abandoned_threads()).unwrap_or(i64::MAX));
        abandoned.encode(encoder.encode_descriptor(
            "coffer_extract_threads_abandoned",
            "Attachment extraction threads still running after a timeout",
            None,
            abandoned.metric_type(),
        )?)?;
        let refused = ConstCounter::new(coffer_extract::overload_refusals());
        refused.encode(encoder.encode_descriptor(
            "coffer_extract_overload_refusals",
            "PDF attachments not extracted because too many extraction threads were abandoned",
            None,
            refused.metric_type(),
        )?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Registry;

    use super::IngestMetrics;

    #[test]
    fn registered_series_are_exposed() {
        let mut registry = Registry::default();
        IngestMetrics::default().register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        for series in [
            "coffer_ingest_memory_bytes 0",
            "coffer_ingest_memory_refusals_total 0",
            "# TYPE coffer_extract_threads_abandoned gauge",
            "# TYPE coffer_extract_overload_refusals counter",
            "coffer_extract_overload_refusals_total ",
        ] {
            assert!(text.contains(series), "{series} missing in {text}");
        }
    }
}
