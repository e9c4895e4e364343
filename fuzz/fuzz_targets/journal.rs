//! Fuzz target: Exchange journal report recognition and unwrapping.
//! The body is `coffer_ingest::fuzzing::journal`; `cargo test -p coffer-ingest` runs it over the seed corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer_ingest::fuzzing::journal(data));
