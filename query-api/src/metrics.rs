//! Prometheus metrics, through `prometheus-client` (text exposition format 0.0.4, each
//! metric's samples grouped under its own `# TYPE` line, as parsers require).
//!
//! Series this crate records:
//! - `coffer_http_requests_total{route,status}` and
//!   `coffer_http_request_duration_seconds{route}` (histogram), by matched route
//!   template, never by raw path or query;
//! - `coffer_auth_failures_total{reason}` (`login`, `throttled`, `token`, `forbidden`);
//! - `coffer_audit_write_failures_total`;
//! - gauges computed at scrape time ([`YearGauges`]): archived messages and records per
//!   volume year, index lag (records durable in a volume but not yet committed to the
//!   index), catalog lag; and, when witnesses are configured, each witness's state
//!   (`coffer_witness_up`, `_pending_heads`, `_failures`, `_dropped_heads`,
//!   `_last_success_timestamp_seconds`, labelled `witness`).
//!
//! The ingest series (`coffer_ingest_messages_total`, `coffer_ingest_duration_seconds`)
//! are recorded by `coffer-ingest` ([`IngestMetrics`]) into the same registry.

use std::time::Duration;

use coffer_ingest::metrics::{IngestMetrics, latency_histogram};
use coffer_ingest::witness::{WitnessStatus, Witnesses};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Reasons counted in `coffer_auth_failures_total` (always exposed, zero included).
const AUTH_FAILURE_REASONS: [&str; 4] = ["login", "throttled", "token", "forbidden"];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct YearLabels {
    year: i32,
}

/// Per-year values computed at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct YearGauges {
    /// The volume year.
    pub year: i32,
    /// Message records in the volume.
    pub messages: u64,
    /// Durable records in the volume.
    pub records: u64,
    /// Durable records not yet committed to the index.
    pub index_lag: u64,
    /// Durable records not yet applied to the catalog.
    pub catalog_lag: u64,
}

/// A scrape-time gauge of one witness: name, help, and how to read it.
type WitnessGauge = (&'static str, &'static str, fn(&WitnessStatus) -> i64);

/// A scrape-time gauge: name, help, and how to read it from [`YearGauges`].
type YearGauge = (&'static str, &'static str, fn(&YearGauges) -> u64);

/// The process's metrics registry and the HTTP layer's series.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    auth_failures: Family<ReasonLabels, Counter>,
    audit_failures: Counter,
    witnesses: std::sync::OnceLock<std::sync::Arc<Witnesses>>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WitnessLabels {
    witness: String,
}

impl Metrics {
    /// A registry holding the HTTP series and `ingest`'s.
    pub fn new(ingest: &IngestMetrics) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        let auth_failures = Family::<ReasonLabels, Counter>::default();
        let audit_failures = Counter::default();
        registry.register(
            "coffer_http_requests",
            "HTTP requests by route template and status",
            requests.clone(),
        );
        registry.register(
            "coffer_http_request_duration_seconds",
            "HTTP request latency by route template",
            latency.clone(),
        );
        registry.register(
            "coffer_auth_failures",
            "Failed logins, bad tokens, throttled logins and denied requests",
            auth_failures.clone(),
        );
        for reason in AUTH_FAILURE_REASONS {
            drop(auth_failures.get_or_create(&ReasonLabels { reason }));
        }
        registry.register(
            "coffer_audit_write_failures",
            "Audit entries that could not be written (the request failed)",
            audit_failures.clone(),
        );
        ingest.register(&mut registry);
        Self {
            registry,
            requests,
            latency,
            auth_failures,
            audit_failures,
            witnesses: std::sync::OnceLock::new(),
        }
    }

    /// Reports the witnesses' state at every scrape (`coffer_witness_*`).
    pub fn set_witnesses(&self, witnesses: std::sync::Arc<Witnesses>) {
        let _ = self.witnesses.set(witnesses);
    }

    fn witness_gauges(&self, scrape: &mut Registry) {
        let Some(witnesses) = self.witnesses.get() else {
            return;
        };
        let status = witnesses.status();
        let gauges: [WitnessGauge; 5] = [
            (
                "coffer_witness_up",
                "1 when the witness's last attempt succeeded (or none failed yet), else 0",
                |s| i64::from(s.last_error.is_none()),
            ),
            (
                "coffer_witness_pending_heads",
                "Signed tree heads waiting for the witness",
                |s| i64::try_from(s.pending).unwrap_or(i64::MAX),
            ),
            (
                "coffer_witness_failures",
                "Failed publications to the witness so far (each is retried)",
                |s| i64::try_from(s.failures).unwrap_or(i64::MAX),
            ),
            (
                "coffer_witness_dropped_heads",
                "Heads dropped from a full queue (newer heads superseded them)",
                |s| i64::try_from(s.dropped).unwrap_or(i64::MAX),
            ),
            (
                "coffer_witness_last_success_timestamp_seconds",
                "When the witness last took a head (Unix seconds; 0: never)",
                |s| s.last_success_us.map_or(0, |us| us / 1_000_000),
            ),
        ];
        for (name, help, value) in gauges {
            let family = Family::<WitnessLabels, Gauge>::default();
            for s in &status {
                family
                    .get_or_create(&WitnessLabels {
                        witness: s.target.clone(),
                    })
                    .set(value(s));
            }
            scrape.register(name, help, family);
        }
    }

    /// Records one finished request.
    pub fn request(&self, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Records an authentication or authorization failure (`login`, `throttled`,
    /// `token`, `forbidden`).
    pub fn auth_failure(&self, reason: &'static str) {
        self.auth_failures
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Records a failed audit write.
    pub fn audit_failure(&self) {
        self.audit_failures.inc();
    }

    /// The exposition text, with the scrape-time gauges of each volume year.
    pub fn render(&self, years: &[YearGauges]) -> String {
        let mut scrape = Registry::default();
        let gauges: [YearGauge; 4] = [
            (
                "coffer_archived_messages",
                "Message records in each mail volume (ingest count, every source)",
                |g| g.messages,
            ),
            (
                "coffer_volume_records",
                "Durable records in each mail volume",
                |g| g.records,
            ),
            (
                "coffer_index_lag_records",
                "Durable volume records not yet committed to the search index",
                |g| g.index_lag,
            ),
            (
                "coffer_catalog_lag_records",
                "Durable volume records not yet applied to the catalog",
                |g| g.catalog_lag,
            ),
        ];
        for (name, help, value) in gauges {
            let family = Family::<YearLabels, Gauge>::default();
            for g in years {
                family
                    .get_or_create(&YearLabels { year: g.year })
                    .set(i64::try_from(value(g)).unwrap_or(i64::MAX));
            }
            scrape.register(name, help, family);
        }
        self.witness_gauges(&mut scrape);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &scrape);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges_grouped_by_metric() {
        let ingest = IngestMetrics::default();
        let m = Metrics::new(&ingest);
        m.request("/api/v1/search", 200, Duration::from_millis(3));
        m.request("/api/v1/search", 200, Duration::from_millis(30));
        m.auth_failure("login");
        ingest.message("http", "archived");
        ingest.latency("smtp", Duration::from_millis(12));
        let text = m.render(&[
            YearGauges {
                year: 2026,
                index_lag: 3,
                ..YearGauges::default()
            },
            YearGauges {
                year: 2025,
                index_lag: 1,
                ..YearGauges::default()
            },
        ]);
        assert!(
            text.contains("coffer_http_requests_total{route=\"/api/v1/search\",status=\"200\"} 2")
        );
        assert!(text.contains(
            "coffer_http_request_duration_seconds_bucket{le=\"0.005\",route=\"/api/v1/search\"} 1"
        ) || text.contains(
            "coffer_http_request_duration_seconds_bucket{route=\"/api/v1/search\",le=\"0.005\"} 1"
        ), "{text}");
        assert!(
            text.contains("coffer_http_request_duration_seconds_count{route=\"/api/v1/search\"} 2")
        );
        assert!(text.contains("coffer_auth_failures_total{reason=\"login\"} 1"));
        assert!(text.contains("coffer_auth_failures_total{reason=\"token\"} 0"));
        assert!(
            text.contains("coffer_ingest_messages_total{source=\"http\",outcome=\"archived\"} 1")
        );
        assert!(text.contains("coffer_index_lag_records{year=\"2026\"} 3"));
        assert!(text.contains("coffer_index_lag_records{year=\"2025\"} 1"));
        // Each metric's samples follow its own TYPE line: the second year's gauges are
        // not interleaved with other metrics.
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
        let mut names: Vec<&str> = types
            .iter()
            .filter_map(|l| l.split_whitespace().nth(2))
            .collect();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a metric declared twice: {text}");
        let index_lag: Vec<usize> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.starts_with("coffer_index_lag_records{"))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(index_lag.len(), 2);
        assert_eq!(index_lag[1], index_lag[0] + 1, "{text}");
    }
}
