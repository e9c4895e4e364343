//! Fuzz target: whole SMTP/LMTP sessions through the protocol state machine.
//! The body is `coffer_ingest::fuzzing::smtp`; `cargo test -p coffer-ingest` runs it over the seed corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer_ingest::fuzzing::smtp(data));
