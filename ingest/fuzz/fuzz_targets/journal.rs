//! Fuzz target: journal report recognition and unwrapping, on raw bytes and on bytes put
//! behind a journal report's header so that the MIME paths are reached.
#![no_main]

use coffer_ingest::journal::{JournalOutcome, unwrap_journal_report};
use libfuzzer_sys::fuzz_target;

const PREFIX: &[u8] =
    b"X-MS-Journal-Report:\r\nContent-Type: multipart/mixed; boundary=jr\r\n\r\n--jr\r\n";

fuzz_target!(|data: &[u8]| {
    check(data);
    check(&[PREFIX, data].concat());
});

fn check(raw: &[u8]) {
    if let JournalOutcome::Unwrapped(report) = unwrap_journal_report(raw) {
        assert!(!report.recipients.is_empty());
        if let Some(range) = report.original_range {
            assert_eq!(raw.get(range), Some(report.original.as_ref()));
        }
    }
}
