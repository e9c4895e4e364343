//! Indexes a synthetic corpus and measures query latency per class.
//!
//! `cargo run --release -p coffer-testkit --example index_bench -- [MESSAGES] [DIR] [QUERIES_PER_CLASS]`
//! (defaults: 200000, a temporary directory, 200). An existing DIR with an index is
//! reused (only latency is measured).

use std::path::PathBuf;

use coffer_index::IndexSet;
use coffer_testkit::directory_bytes;
use coffer_testkit::doc_corpus::{Corpus, CorpusSpec};
use coffer_testkit::index_bench::{ingest, query_latency};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let messages: u64 = args.next().map_or(Ok(200_000), |a| a.parse())?;
    let temp = tempfile::tempdir()?;
    let dir = args
        .next()
        .map_or_else(|| temp.path().to_path_buf(), PathBuf::from);
    let per_class: usize = args.next().map_or(Ok(200), |a| a.parse())?;
    let corpus = Corpus::new(CorpusSpec {
        messages,
        ..CorpusSpec::default()
    });
    let existing = std::fs::read_dir(&dir)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if !existing {
        let set = IndexSet::open(&dir)?;
        let report = ingest(&set, &corpus, 20_000)?;
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "reusing {} ({} bytes)",
            dir.display(),
            directory_bytes(&dir)
        );
    }
    // A fresh read-only open, as `coffer search` or a restarted server would see it.
    let started = std::time::Instant::now();
    let threads: usize = std::env::var("SEARCH_THREADS").map_or(Ok(2), |t| t.parse())?;
    let options = coffer_index::IndexOptions {
        search_threads: threads,
        ..Default::default()
    };
    let set = IndexSet::open_read_only_with(&dir, options)?;
    println!("open: {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    let reports = query_latency(&set, &corpus, per_class, 20)?;
    println!(
        "{:<24} {:>8} {:>9} {:>9} {:>9} {:>12}",
        "class", "queries", "p50 ms", "p99 ms", "max ms", "mean total"
    );
    for r in &reports {
        println!(
            "{:<24} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>12.0}   slowest: {}{}",
            r.class,
            r.queries,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.mean_total,
            r.slowest_query,
            r.mean_scope_messages
                .map(|n| format!(" (scope: {n:.0} messages)"))
                .unwrap_or_default()
        );
    }
    Ok(())
}
