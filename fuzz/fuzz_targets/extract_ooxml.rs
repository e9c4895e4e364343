//! Fuzz target: DOCX, XLSX and PPTX text extraction.
//! The body is `coffer_extract::fuzzing::ooxml`; `cargo test -p coffer-extract` runs it over the seed corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer_extract::fuzzing::ooxml(data));
