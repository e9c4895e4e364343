//! Fuzz target: attached messages, attachments extracted recursively.
//! The body is `coffer_extract::fuzzing::message`; `cargo test -p coffer-extract` runs it over the seed corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer_extract::fuzzing::message(data));
