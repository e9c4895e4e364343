//! The index benchmark: indexes a [`Corpus`] into an [`IndexSet`] (throughput and size)
//! and measures query latency per query class (p50/p99), for the `index_bench` example.
//! [`nearest_rank`] is also the percentile of `coffer-bench search`.

use std::time::{Duration, Instant};

use coffer_index::{IndexSet, Result, SearchRequest, Sort};
use coffer_model::{MessageDoc, Scope};
use serde::Serialize;

use crate::doc_corpus::{Corpus, QUERY_CLASSES};

/// Result of [`ingest`].
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    /// Messages indexed.
    pub docs: u64,
    /// Time spent in `add` and `commit` (generation excluded).
    pub indexing_seconds: f64,
    /// Messages per second of indexing time.
    pub docs_per_second: f64,
    /// Sum of the messages' estimated raw sizes.
    pub raw_bytes: u64,
    /// Bytes on disk under the index directory after the final merge.
    pub index_bytes: u64,
    /// `index_bytes / docs`.
    pub index_bytes_per_doc: f64,
    /// `index_bytes / raw_bytes`.
    pub index_to_raw_ratio: f64,
}

/// Generates and indexes the whole corpus in batches of `batch` messages, committing
/// each batch (generation is not timed), then closes the writers (waiting for merges).
pub fn ingest(set: &IndexSet, corpus: &Corpus, batch: u64) -> Result<IngestReport> {
    let batch = batch.max(1);
    let mut timed = Duration::ZERO;
    let mut raw_bytes = 0;
    let mut next = 0;
    let mut high_water: std::collections::BTreeMap<i32, u64> = Default::default();
    while next < corpus.spec().messages {
        let end = (next + batch).min(corpus.spec().messages);
        let docs: Vec<MessageDoc> = (next..end).map(|i| corpus.doc(i)).collect();
        let started = Instant::now();
        for doc in &docs {
            set.add(doc)?;
            raw_bytes += doc.size;
            let entry = high_water.entry(doc.id.year).or_default();
            *entry = (*entry).max(doc.id.seq);
        }
        for (year, seq) in &high_water {
            if set.pending(*year) > 0 {
                set.commit(*year, *seq)?;
            }
        }
        timed += started.elapsed();
        next = end;
    }
    let started = Instant::now();
    for year in set.years() {
        set.close_writer(year)?;
    }
    timed += started.elapsed();
    let index_bytes = crate::directory_bytes(set.dir());
    let docs = corpus.spec().messages;
    Ok(IngestReport {
        docs,
        indexing_seconds: timed.as_secs_f64(),
        docs_per_second: docs as f64 / timed.as_secs_f64().max(1e-9),
        raw_bytes,
        index_bytes,
        index_bytes_per_doc: index_bytes as f64 / docs.max(1) as f64,
        index_to_raw_ratio: index_bytes as f64 / raw_bytes.max(1) as f64,
    })
}

/// The `p` quantile (0..=1) of ascending `sorted` by the nearest-rank method; 0 when
/// empty.
pub fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Latency of one query class.
#[derive(Debug, Clone, Serialize)]
pub struct ClassReport {
    /// The class (one of [`QUERY_CLASSES`]).
    pub class: String,
    /// Queries measured.
    pub queries: usize,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
    /// Slowest, milliseconds.
    pub max_ms: f64,
    /// Mean exact total of matching messages.
    pub mean_total: f64,
    /// The slowest query (synthetic text, safe to print).
    pub slowest_query: String,
    /// For scoped classes: mean number of messages in the scope.
    pub mean_scope_messages: Option<f64>,
}

/// Runs `per_class` queries of each class (after a warm-up with other queries of the
/// same classes), each a full [`IndexSet::search`] for a first page of `limit` hits by
/// relevance with snippets, and reports latency percentiles.
pub fn query_latency(
    set: &IndexSet,
    corpus: &Corpus,
    per_class: usize,
    limit: usize,
) -> Result<Vec<ClassReport>> {
    for class in QUERY_CLASSES {
        for (query, scope) in corpus.queries(class, 10, 1) {
            set.search(&request(query, scope, limit))?;
        }
    }
    let mut reports = Vec::new();
    for class in QUERY_CLASSES {
        let mut times = Vec::with_capacity(per_class);
        let mut totals = 0u64;
        let mut slowest = (0.0, String::new());
        let mut scope_messages = 0u64;
        let mut scoped_queries = 0u64;
        for (query, scope) in corpus.queries(class, per_class, 2) {
            if matches!(scope, Scope::Restricted { .. }) {
                // Not timed: how many messages the scope holds.
                scope_messages += set.search(&request("*".into(), scope.clone(), 0))?.total;
                scoped_queries += 1;
            }
            let started = Instant::now();
            let results = set.search(&request(query.clone(), scope, limit))?;
            let ms = started.elapsed().as_secs_f64() * 1e3;
            times.push(ms);
            totals += results.total;
            if ms > slowest.0 {
                slowest = (ms, query);
            }
        }
        times.sort_by(f64::total_cmp);
        let percentile = |p: f64| nearest_rank(&times, p);
        reports.push(ClassReport {
            class: class.to_string(),
            queries: times.len(),
            p50_ms: percentile(0.50),
            p99_ms: percentile(0.99),
            max_ms: times.last().copied().unwrap_or_default(),
            mean_total: totals as f64 / times.len().max(1) as f64,
            slowest_query: slowest.1,
            mean_scope_messages: (scoped_queries > 0)
                .then(|| scope_messages as f64 / scoped_queries as f64),
        });
    }
    Ok(reports)
}

fn request(query: String, scope: Scope, limit: usize) -> SearchRequest {
    SearchRequest {
        query,
        scope,
        recipients: coffer_model::RecipientView::All,
        sort: Sort::Relevance,
        limit,
        offset: 0,
    }
}
