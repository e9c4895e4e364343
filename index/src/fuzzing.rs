//! Fuzz entry point for the query language: any text is parsed; a parsed query prints
//! in its canonical form, which parses back to the same tree, and compiles into a tantivy
//! query (as an officer and as a user with hidden recipients) and a highlighter. The
//! `fuzz/` crate at the repository root calls [`query`] from its `query` target; the unit
//! test below runs it over the seed corpus on every `cargo test` (so the harness cannot
//! rot) and writes that corpus for `scripts/fuzz`.
//!
//! Built with the `fuzzing` feature (and in tests) only.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use crate::compile::{IndexedFields, compile};
use crate::query::{MAX_QUERY_CHARS, parse_query};
use crate::schema::IndexSchema;
use crate::snippet::Highlighter;

/// Text the highlighter looks for the query's words in.
const SNIPPET_TEXT: &str = "Quarterly budget review: Alice sent the Q3 plan to bob@example.com \
     on 2024-03-31; café, naïve, 東京都 and straße appear too, as do numbers like 10:30 and 1.5M.";

/// The entry point of the `query` fuzz target (bytes are read as UTF-8, lossily).
pub fn query(data: &[u8]) {
    let input = String::from_utf8_lossy(data);
    let ast = match parse_query(&input) {
        Ok(ast) => ast,
        Err(error) => {
            assert!(
                error.position <= input.chars().count(),
                "error position {} past the end",
                error.position
            );
            return;
        }
    };
    let printed = ast.to_string();
    if printed.chars().count() <= MAX_QUERY_CHARS {
        let reparsed = parse_query(&printed);
        assert_eq!(
            reparsed.as_ref().ok(),
            Some(&ast),
            "canonical form {printed:?}"
        );
    }
    static SCHEMA: OnceLock<IndexSchema> = OnceLock::new();
    let schema = SCHEMA.get_or_init(IndexSchema::build);
    let hidden: BTreeSet<String> = ["bob@example.com".to_string()].into();
    for (indexed, hidden) in [
        (IndexedFields::ALL, None),
        (IndexedFields::ALL, Some(&hidden)),
        (IndexedFields::NONE, Some(&hidden)),
    ] {
        let mut prefixes = Vec::new();
        let _ = compile(&ast, &schema.fields, indexed, hidden, &mut prefixes);
    }
    let _ = Highlighter::new(&ast).snippet(SNIPPET_TEXT);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Writes `seeds` for `scripts/fuzz` (see [`coffer_testkit::fuzz_seeds`]).
    fn write_seeds(target: &str, seeds: &[Vec<u8>]) {
        coffer_testkit::fuzz_seeds::write(target, seeds);
    }

    /// One query per row of the language's table (`query` module docs), the edge cases
    /// it decides, and the subjects of the repository's message fixtures (`testdata/eml`).
    fn seeds() -> Vec<Vec<u8>> {
        let mut queries: Vec<String> = [
            "budget",
            "\"exact phrase\" \"q3 \\\"plan\\\"\"",
            "bud* 東京 café",
            "from:alice@example.com to:bob cc:example.com bcc:carol envelope:dave@x.org participant:eve",
            "subject:\"quarterly report\" body:plan* attachment:invoice filename:report.pdf",
            "mailbox:alice@example.com mailbox:example.com message-id:<abc@example.com>",
            "from:(alice OR bob) has:attachment",
            "after:2024 before:2024-03 during:2024-03-31",
            "size>1M size>=10k size<1.5M size<=2G",
            "flag:malformed flag:attachment-text-not-extracted",
            "*",
            "a b AND c OR d",
            "NOT a -b -(c OR d) -from:x -\"phrase\"",
            "((a OR b) (c OR (d e)))",
            "10:30 \"re:budget\" frmo:alice",
            "- ... \"\" () a* 2024-02-30 size>1X",
            // Found by the fuzzer (the canonical form did not parse back): 32 negations
            // under an AND that precedence adds.
            "--------------------------------JaN\u{a7}uaRy nH--",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/eml");
        for group in ["rfc", "charset", "journal", "malformed"] {
            let mut paths: Vec<_> = std::fs::read_dir(root.join(group))
                .expect("testdata/eml")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect();
            paths.sort();
            for path in paths {
                let bytes = std::fs::read(&path).expect("read fixture");
                let text = String::from_utf8_lossy(&bytes);
                if let Some(subject) = text.lines().find_map(|line| line.strip_prefix("Subject:")) {
                    queries.push(format!("subject:({})", subject.trim()));
                    queries.push(subject.trim().to_string());
                }
            }
        }
        queries.into_iter().map(String::into_bytes).collect()
    }

    #[test]
    fn seeds_run_clean() {
        let seeds = seeds();
        assert!(seeds.len() > 20);
        for seed in &seeds {
            query(seed);
        }
        write_seeds("query", &seeds);
    }
}
