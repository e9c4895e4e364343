//! Fuzz target: the mbox splitter, every flavour and separator rule.
//! The body is `coffer_ingest::fuzzing::mbox`; `cargo test -p coffer-ingest` runs it over the seed corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer_ingest::fuzzing::mbox(data));
