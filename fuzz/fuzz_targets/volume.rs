//! Fuzz target: a volume opened, read, verified and recovered from fuzzed segment files.
//! The body is `coffer_volume::fuzzing::volume`; `cargo test -p coffer-volume` runs it over the seed corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer_volume::fuzzing::volume(data));
