//! `coffer reindex` rebuilds the index from the volumes alone, and the rebuilt index
//! answers every search exactly as the one that ingest built live.
//!
//! Live ingest builds each index document from the message it is archiving (with what
//! the pipeline knows: envelope, journal unwrapping, mailboxes); a rebuild derives it
//! again from the volume record and the catalog. Were the two ever to differ, a rebuilt
//! archive would silently answer differently from the one it replaced (DESIGN.md
//! principle 1: derived views are rebuildable from the volumes). This test imports a
//! generated corpus with real PDF, DOCX and XLSX attachments plus every fixture suite
//! (RFC, charsets, malformed, journal reports; their `.json` expectation files are
//! rejected as not mail), runs a battery of queries over every field, reindexes, and
//! compares every total and every hit field for field (snippets included). Nothing
//! here is a journal copy, so no link record is replayed: that path has its own test
//! (`a_rebuild_keeps_mailboxes_added_by_links_in_every_replay_chunk`, ingest/tests).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use coffer_testkit::mail_corpus::{CorpusFormat, MailCorpus, write_corpus};
use common::*;

/// Queries over every indexed field and operator family; each is compared whole.
const QUERIES: &[&str] = &[
    "*",
    "has:attachment",
    "-has:attachment",
    "from:corp.example",
    "to:corp.example",
    "cc:corp.example",
    "bcc:contoso.com",
    "envelope:contoso.com",
    "participant:corp.example",
    "participant:contoso.com",
    "mailbox:corp.example",
    "size>20k",
    "size<4k",
    "during:2024",
    "after:2025-06-01",
    "which",
    "the",
    "body:which",
    "subject:re",
    "attachment:the",
    "filename:pdf",
    "filename:xlsx",
    "\"of the\"",
    "attachment:\"of the\"",
    "wh*",
    "which OR report",
    "the AND NOT which",
];

/// The JSON of `coffer search QUERY --json`, with hits ordered by id (relevance ties may
/// order differently in differently built segments; the set and each hit must not).
fn answer(data: &Path, query: &str) -> serde_json::Value {
    let out = run(coffer(data).args(["search", query, "--json", "--limit", "1000"]));
    assert_eq!(out.status.code(), Some(0), "{query}: {}", stderr(&out));
    let mut value: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{query}: not JSON ({e}): {}", stdout(&out)));
    let hits = value["hits"].as_array_mut().expect("hits");
    hits.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    let total = value["total"].as_u64().expect("total");
    assert!(total < 1000, "{query}: {total} hits do not fit one page");
    value
}

fn answers(data: &Path) -> BTreeMap<&'static str, serde_json::Value> {
    QUERIES.iter().map(|q| (*q, answer(data, q))).collect()
}

#[test]
fn reindex_answers_every_query_as_live_ingest_did() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let corpus = tmp.path().join("corpus");
    write_corpus(
        &MailCorpus::new(300, 3),
        CorpusFormat::Maildir,
        &corpus,
        |_| {},
    )
    .expect("corpus written");

    let mut import = coffer(&data);
    import.args([
        "import",
        "--json",
        "--local-domain",
        "corp.example",
        "--local-domain",
        "contoso.com",
    ]);
    import.arg(&corpus);
    for suite in ["rfc", "charset", "malformed", "journal"] {
        import.arg(repo().join("testdata/eml").join(suite));
    }
    let imported = run(&mut import);
    let summary = import_summary(&imported);
    assert!(
        summary["archived"].as_u64().expect("archived") >= 300,
        "{summary}"
    );

    let live = answers(&data);
    // The battery must look at something: attachments, their text and names, phrases.
    for query in [
        "*",
        "has:attachment",
        "attachment:the",
        "\"of the\"",
        "filename:pdf",
    ] {
        assert!(
            live[query]["total"].as_u64().expect("total") > 0,
            "{query} matches nothing: the comparison would prove little"
        );
    }

    // A query may start with `-` on the command line (not taken for an option).
    let total = |query: &str| live[query]["total"].as_u64().expect("total");
    assert_eq!(
        total("has:attachment") + total("-has:attachment"),
        total("*")
    );

    let reindexed = run(coffer(&data).arg("reindex"));
    assert_eq!(reindexed.status.code(), Some(0), "{}", stderr(&reindexed));
    let rebuilt = answers(&data);
    for query in QUERIES {
        assert_eq!(
            rebuilt[query], live[query],
            "{query}: the rebuilt index answers differently"
        );
    }
}
