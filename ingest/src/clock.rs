//! Receive times: what "now" is for the archive, and which volume year a time falls in
//! (volumes hold the messages received in one calendar year, UTC).

use chrono::{Datelike, TimeZone, Utc};

/// UTC year of a time in microseconds since the epoch.
pub fn year_of(micros: i64) -> i32 {
    Utc.timestamp_micros(micros)
        .single()
        .map_or(1970, |t| t.year())
}

/// Now, in microseconds since the epoch.
pub fn now_us() -> i64 {
    Utc::now().timestamp_micros()
}
