//! The hand-written mail corpus in `testdata/eml/` (see its README): where it is and
//! which fixtures a suite holds, for ingest's golden tests and the end-to-end tests.
//!
//! Each fixture `NNN.<ext>` (mostly `.eml`; `notmail/` also holds other files) sits next
//! to its sidecar `NNN.json` of expected values. A suite without fixtures is an error:
//! a test that silently ran nothing would pass.

use std::fs;
use std::path::PathBuf;

use serde_json::Value;

/// `testdata/eml` of the repository.
pub fn corpus_dir() -> PathBuf {
    crate::repo_root().join("testdata/eml")
}

/// `(fixture, sidecar)` pairs of a suite, sorted by file name: every file except
/// sidecars (`.json`), mismatch reports (`.failed`) and notes (`.md`). Panics when the
/// suite holds none, or a fixture has no sidecar.
pub fn fixtures_with_sidecars(suite: &str) -> Vec<(PathBuf, Value)> {
    let dir = corpus_dir().join(suite);
    let mut entries: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x != "json" && x != "failed" && x != "md")
        })
        .collect();
    entries.sort();
    let pairs: Vec<(PathBuf, Value)> = entries
        .into_iter()
        .map(|path| {
            let sidecar = path.with_extension("json");
            let text = fs::read_to_string(&sidecar)
                .unwrap_or_else(|e| panic!("missing sidecar {}: {e}", sidecar.display()));
            let value: Value = serde_json::from_str(&text).expect("sidecar is JSON");
            (path, value)
        })
        .collect();
    assert!(
        !pairs.is_empty(),
        "Did not find any fixtures to run in folder {}.",
        dir.display()
    );
    pairs
}

/// Every `.eml` fixture of the given suites, sorted. Panics when there is none.
pub fn eml_fixtures(suites: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for suite in suites {
        let dir = corpus_dir().join(suite);
        for e in fs::read_dir(&dir).expect("fixture dir") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "eml") {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no fixtures found in {suites:?}");
    out
}
