//! Where a yearly index's bytes go, per field: term dictionary, postings, positions,
//! field norms and fast fields, and the document store, summed over its segments
//! (tantivy's own `Searcher::space_usage`). Issue 24 sets the index at most 0.35 × the
//! raw mail; on short business mail it is 0.58 ×, and this says which fields make it.
//!
//! ```text
//! cargo run -p coffer-index --example space_usage -- DATA_DIR/index/YEAR [RAW_BYTES]
//! ```
//!
//! With `RAW_BYTES` (the raw mail's size), each line also shows bytes per raw byte.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tantivy::Index;
use tantivy::space_usage::PerFieldSpaceUsage;

fn add(into: &mut BTreeMap<String, [u64; 5]>, usage: &PerFieldSpaceUsage, column: usize) {
    for field in usage.fields() {
        into.entry(field.field_name().to_string()).or_default()[column] +=
            field.total().get_bytes();
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .expect("usage: space_usage INDEX_YEAR_DIR [RAW_BYTES]"),
    );
    let raw: Option<f64> = args
        .next()
        .map(|r| r.parse().expect("RAW_BYTES is a number"));
    let index = Index::open_in_dir(&dir).expect("an index directory");
    let searcher = index.reader().expect("reader").searcher();
    let usage = searcher.space_usage().expect("space usage");
    let mut fields: BTreeMap<String, [u64; 5]> = BTreeMap::new();
    let (mut store, mut docs) = (0, 0u64);
    for segment in usage.segments() {
        add(&mut fields, segment.termdict(), 0);
        add(&mut fields, segment.postings(), 1);
        add(&mut fields, segment.positions(), 2);
        add(&mut fields, segment.fieldnorms(), 3);
        add(&mut fields, segment.fast_fields(), 4);
        store += segment.store().total().get_bytes();
        docs += u64::from(segment.num_docs());
    }
    let mb = |b: u64| b as f64 / 1e6;
    let ratio = |b: u64| raw.map_or(String::new(), |r| format!("{:8.4}", b as f64 / r));
    println!(
        "{docs} documents, {:.2} MB in all {}",
        mb(usage.total().get_bytes()),
        ratio(usage.total().get_bytes())
    );
    println!(
        "{:<20} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} × raw",
        "field", "terms", "postings", "positions", "norms", "fast", "total MB", "B/doc"
    );
    let mut rows: Vec<_> = fields.into_iter().collect();
    rows.sort_by_key(|(_, c)| std::cmp::Reverse(c.iter().sum::<u64>()));
    for (name, c) in rows {
        let total: u64 = c.iter().sum();
        if total == 0 {
            continue;
        }
        println!(
            "{name:<20} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.1} {}",
            mb(c[0]),
            mb(c[1]),
            mb(c[2]),
            mb(c[3]),
            mb(c[4]),
            mb(total),
            total as f64 / docs.max(1) as f64,
            ratio(total)
        );
    }
    println!(
        "{:<20} {:>59.3} {:>9.1} {}",
        "document store",
        mb(store),
        store as f64 / docs.max(1) as f64,
        ratio(store)
    );
}
