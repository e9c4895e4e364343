//! Fuzz target: ODT, ODS and ODP text extraction.
//! The body is `coffer_extract::fuzzing::odf`; `cargo test -p coffer-extract` runs it over the seed corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer_extract::fuzzing::odf(data));
