//! Fuzz target: the query language parser, canonical printer and compiler.
//! The body is `coffer_index::fuzzing::query`; `cargo test -p coffer-index` runs it over the seed corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer_index::fuzzing::query(data));
