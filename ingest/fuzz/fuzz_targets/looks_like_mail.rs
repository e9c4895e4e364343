//! Fuzz target: the "is this mail at all?" heuristic.
#![no_main]

use coffer_ingest::import::looks_like_mail;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = looks_like_mail(data);
});
