//! Receive times: what "now" is for the archive, and which volume year a time falls in
//! (volumes hold the messages received in one calendar year, UTC).
//!
//! # A simulated clock for tests and drills
//! When `COFFER_CLOCK_FILE` names a file, "now" is the time written in it (RFC 3339 or
//! Unix seconds), read again at each call, so a test or a rehearsal can move an archive
//! across a year boundary and watch the old year's volume be sealed and rotated. The
//! variable is for test and staging systems only: it decides the receive times written
//! into volumes. An unreadable file falls back to the real clock.

use std::sync::OnceLock;

use chrono::{Datelike, TimeZone, Utc};

/// The environment variable naming the simulated clock's file.
pub const CLOCK_FILE_VAR: &str = "COFFER_CLOCK_FILE";

/// UTC year of a time in microseconds since the epoch.
pub fn year_of(micros: i64) -> i32 {
    Utc.timestamp_micros(micros)
        .single()
        .map_or(1970, |t| t.year())
}

fn simulated() -> Option<i64> {
    static FILE: OnceLock<Option<std::path::PathBuf>> = OnceLock::new();
    let path = FILE.get_or_init(|| std::env::var_os(CLOCK_FILE_VAR).map(Into::into));
    let text = std::fs::read_to_string(path.as_ref()?).ok()?;
    let text = text.trim();
    if let Ok(secs) = text.parse::<i64>() {
        return secs.checked_mul(1_000_000);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_micros())
}

/// Now, in microseconds since the epoch (the simulated clock when one is set).
pub fn now_us() -> i64 {
    simulated().unwrap_or_else(|| Utc::now().timestamp_micros())
}
