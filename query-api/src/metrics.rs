//! Prometheus metrics in the text exposition format, hand-rolled (a few counters and
//! one histogram do not justify a metrics framework).
//!
//! - `coffer_http_requests_total{route,status}` and
//!   `coffer_http_request_duration_seconds{route}` (histogram), by matched route
//!   template, never by raw path or query;
//! - `coffer_auth_failures_total{reason}` (`login`, `throttled`, `token`, `forbidden`);
//! - `coffer_ingest_messages_total{source,outcome}` (HTTP journal submissions; other
//!   listeners in the process may count theirs through [`Metrics::ingest`]);
//! - `coffer_audit_write_failures_total`;
//! - gauges computed at scrape time by the caller ([`Gauge`]): archived messages and
//!   records per volume year, index lag (records durable in a volume but not yet
//!   committed to the index), catalog lag.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Histogram bucket bounds, seconds.
const BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Counters shared by the HTTP layer (and any listener of the same process).
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    auth_failures: Mutex<BTreeMap<&'static str, u64>>,
    ingest: Mutex<BTreeMap<(String, &'static str), u64>>,
    ingest_latency: Mutex<BTreeMap<String, Histogram>>,
    audit_failures: AtomicU64,
}

impl Histogram {
    fn observe(&mut self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }

    /// Writes the `_bucket`, `_sum` and `_count` lines of one labelled series.
    fn render(&self, out: &mut String, name: &str, label: &str, value: &str) {
        for (i, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{label}=\"{value}\",le=\"{bound}\"}} {}",
                self.counts[i]
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{label}=\"{value}\",le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{{label}=\"{value}\"}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{label}=\"{value}\"}} {}", self.count);
    }
}

/// A value computed at scrape time.
#[derive(Debug, Clone)]
pub struct Gauge {
    /// Metric name.
    pub name: &'static str,
    /// Help text.
    pub help: &'static str,
    /// Labels.
    pub labels: Vec<(&'static str, String)>,
    /// Value.
    pub value: f64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Records one finished request.
    pub fn request(&self, route: &str, status: u16, elapsed: Duration) {
        *lock(&self.requests)
            .entry((route.to_string(), status))
            .or_insert(0) += 1;
        lock(&self.latency)
            .entry(route.to_string())
            .or_default()
            .observe(elapsed);
    }

    /// Records how long accepting one message took, from the end of its content (SMTP:
    /// the final dot; HTTP: the body) to the acknowledgement being ready.
    pub fn ingest_latency(&self, source: &str, elapsed: Duration) {
        lock(&self.ingest_latency)
            .entry(source.to_string())
            .or_default()
            .observe(elapsed);
    }

    /// Records an authentication or authorization failure.
    pub fn auth_failure(&self, reason: &'static str) {
        *lock(&self.auth_failures).entry(reason).or_insert(0) += 1;
    }

    /// Records one ingested message (`outcome`: archived, duplicate, rejected, failed).
    pub fn ingest(&self, source: &str, outcome: &'static str) {
        *lock(&self.ingest)
            .entry((source.to_string(), outcome))
            .or_insert(0) += 1;
    }

    /// Records a failed audit write.
    pub fn audit_failure(&self) {
        self.audit_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text, with the scrape-time gauges.
    pub fn render(&self, gauges: &[Gauge]) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP coffer_http_requests_total HTTP requests by route template and status."
        );
        let _ = writeln!(out, "# TYPE coffer_http_requests_total counter");
        for ((route, status), n) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "coffer_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        let _ = writeln!(
            out,
            "# HELP coffer_http_request_duration_seconds HTTP request latency by route template."
        );
        let _ = writeln!(out, "# TYPE coffer_http_request_duration_seconds histogram");
        for (route, h) in lock(&self.latency).iter() {
            h.render(
                &mut out,
                "coffer_http_request_duration_seconds",
                "route",
                &escape(route),
            );
        }
        let _ = writeln!(
            out,
            "# HELP coffer_auth_failures_total Failed logins, bad tokens, throttled logins and denied requests."
        );
        let _ = writeln!(out, "# TYPE coffer_auth_failures_total counter");
        for reason in ["login", "throttled", "token", "forbidden"] {
            let n = lock(&self.auth_failures).get(reason).copied().unwrap_or(0);
            let _ = writeln!(out, "coffer_auth_failures_total{{reason=\"{reason}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP coffer_ingest_messages_total Messages submitted to this process, by source and outcome."
        );
        let _ = writeln!(out, "# TYPE coffer_ingest_messages_total counter");
        for ((source, outcome), n) in lock(&self.ingest).iter() {
            let _ = writeln!(
                out,
                "coffer_ingest_messages_total{{source=\"{}\",outcome=\"{outcome}\"}} {n}",
                escape(source)
            );
        }
        let _ = writeln!(
            out,
            "# HELP coffer_ingest_duration_seconds Time from the end of a message's content to its acknowledgement (fsynced), by source."
        );
        let _ = writeln!(out, "# TYPE coffer_ingest_duration_seconds histogram");
        for (source, h) in lock(&self.ingest_latency).iter() {
            h.render(
                &mut out,
                "coffer_ingest_duration_seconds",
                "source",
                &escape(source),
            );
        }
        let _ = writeln!(
            out,
            "# HELP coffer_audit_write_failures_total Audit entries that could not be written (the request failed)."
        );
        let _ = writeln!(out, "# TYPE coffer_audit_write_failures_total counter");
        let _ = writeln!(
            out,
            "coffer_audit_write_failures_total {}",
            self.audit_failures.load(Ordering::Relaxed)
        );
        let mut seen: Vec<&str> = Vec::new();
        for g in gauges {
            if !seen.contains(&g.name) {
                seen.push(g.name);
                let _ = writeln!(out, "# HELP {} {}", g.name, g.help);
                let _ = writeln!(out, "# TYPE {} gauge", g.name);
            }
            let labels: Vec<String> = g
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = writeln!(out, "{}{{{}}} {}", g.name, labels.join(","), g.value);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::default();
        m.request("/api/v1/search", 200, Duration::from_millis(3));
        m.request("/api/v1/search", 200, Duration::from_millis(30));
        m.auth_failure("login");
        m.ingest("http", "archived");
        m.ingest_latency("smtp", Duration::from_millis(12));
        let text = m.render(&[Gauge {
            name: "coffer_index_lag_records",
            help: "lag",
            labels: vec![("year", "2026".into())],
            value: 3.0,
        }]);
        assert!(
            text.contains("coffer_http_requests_total{route=\"/api/v1/search\",status=\"200\"} 2")
        );
        assert!(text.contains(
            "coffer_http_request_duration_seconds_bucket{route=\"/api/v1/search\",le=\"0.005\"} 1"
        ));
        assert!(
            text.contains("coffer_http_request_duration_seconds_count{route=\"/api/v1/search\"} 2")
        );
        assert!(text.contains("coffer_auth_failures_total{reason=\"login\"} 1"));
        assert!(
            text.contains("coffer_ingest_messages_total{source=\"http\",outcome=\"archived\"} 1")
        );
        assert!(text.contains("coffer_index_lag_records{year=\"2026\"} 3"));
        assert!(
            text.contains("coffer_ingest_duration_seconds_bucket{source=\"smtp\",le=\"0.02\"} 1")
        );
        assert!(
            text.contains("coffer_ingest_duration_seconds_bucket{source=\"smtp\",le=\"0.01\"} 0")
        );
    }
}
