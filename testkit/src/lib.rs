//! Coffer's test kit: what tests and benchmarks share, kept out of the production crates.
//!
//! A dev-dependency only (DESIGN.md, "Workspace layout"): no production crate may list
//! it under `[dependencies]`. It may depend on any crate of the workspace, so a crate's
//! unit tests (`src/`) can use from it only what does not carry that crate's own types
//! (bytes, strings, plain numbers); tests that need both live in the crate's `tests/`
//! directory, as integration tests.
//!
//! Generators (all seeded and deterministic, through the one [`rng::SplitMix64`]):
//! - [`doc_corpus`]: a synthetic corpus of message documents (Zipf vocabulary, people,
//!   dates, attachments with text) and queries over it by class;
//! - [`mail_corpus`]: that corpus rendered as raw RFC 5322 mail with real attachments,
//!   and written as a Maildir or an mbox file;
//! - [`sample_files`]: real PDF, DOCX and XLSX files carrying a given text;
//! - [`import_edge_cases`]: mbox files and Maildir trees full of edge cases, with what an
//!   import must produce for each.
//!
//! Fixtures: [`eml`] (the hand-written corpus in `testdata/eml/`), [`fixture_messages`]
//! (query-api's messages and its authorization matrix).
//!
//! The real-server harness of the end-to-end tests (`tests/` of the root package):
//! [`cli`] runs a given `coffer` binary, [`server`] runs `coffer serve` on ephemeral
//! ports and kills it when dropped (also when a test panics), [`smtp_client`] and
//! [`http`] talk to it, [`tls_proxy`] puts HTTPS in front of it as a deployment does,
//! [`tls_cert`] writes a certificate for its STARTTLS.
//!
//! Benchmarks: [`index_bench`] (index throughput and query latency per class, for
//! `examples/index_bench.rs`) and the `coffer-bench` binary (`src/bin/coffer-bench.rs`:
//! `corpus`, `import`, `search`), which replaced `coffer bench` in the shipped binary.

pub mod cli;
pub mod doc_corpus;
pub mod eml;
pub mod fixture_messages;
pub mod fuzz_seeds;
pub mod http;
pub mod import_edge_cases;
pub mod index_bench;
pub mod mail_corpus;
pub mod rng;
pub mod sample_files;
pub mod server;
pub mod smtp_client;
pub mod tls_cert;
pub mod tls_proxy;
pub mod tsa;

use std::path::{Path, PathBuf};

/// The repository root (the workspace directory holding `testdata/`).
pub fn repo_root() -> PathBuf {
    let testkit = Path::new(env!("CARGO_MANIFEST_DIR"));
    testkit.parent().unwrap_or(testkit).to_path_buf()
}

/// Total size of the files under `dir` (0 for what cannot be read).
pub fn directory_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(m) if m.is_dir() => directory_bytes(&entry.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
