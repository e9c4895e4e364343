//! Fuzz target: the SMTP DATA reader (end of data, dot-unstuffing).
//! The body is `coffer_ingest::fuzzing::smtp_data`; `cargo test -p coffer-ingest` runs it over the seed corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer_ingest::fuzzing::smtp_data(data));
