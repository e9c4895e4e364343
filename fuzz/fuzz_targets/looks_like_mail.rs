//! Fuzz target: the "is this mail at all?" heuristic.
//! The body is `coffer_ingest::fuzzing::looks_like_mail_target`; `cargo test -p coffer-ingest` runs it over the seed corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer_ingest::fuzzing::looks_like_mail_target(data));
