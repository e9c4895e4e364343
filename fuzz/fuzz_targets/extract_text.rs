//! Fuzz target: plain text and CSV decoding.
//! The body is `coffer_extract::fuzzing::text`; `cargo test -p coffer-extract` runs it over the seed corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer_extract::fuzzing::text(data));
