//! One module per resource; each exposes `fn router()` returning its routes with their
//! OpenAPI descriptions.

pub(crate) mod audit;
pub(crate) mod calendar;
pub(crate) mod dispositions;
pub(crate) mod domains;
pub(crate) mod groups;
pub(crate) mod holds;
pub(crate) mod ingest;
pub(crate) mod messages;
pub(crate) mod retention;
pub(crate) mod search;
pub(crate) mod session;
pub(crate) mod system;
pub(crate) mod tokens;
pub(crate) mod users;
pub(crate) mod volumes;

use crate::error::ApiError;

/// Unix seconds as RFC 3339 (UTC).
pub(crate) fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map_or_else(
        || secs.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

/// Unix microseconds as RFC 3339 with microseconds (UTC).
pub(crate) fn rfc3339_us(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us).map_or_else(
        || us.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    )
}

/// A time given as RFC 3339, `YYYY-MM-DD` (midnight UTC) or Unix seconds, in Unix
/// microseconds; `what` names the parameter in the error.
pub(crate) fn parse_time(what: &str, value: &str) -> Result<i64, ApiError> {
    if let Ok(secs) = value.trim().parse::<i64>() {
        return secs
            .checked_mul(1_000_000)
            .ok_or_else(|| ApiError::BadRequest(format!("{what}: out of range")));
    }
    chrono::DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.timestamp_micros())
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map(|d| {
                d.and_hms_opt(0, 0, 0)
                    .map_or(0, |t| t.and_utc().timestamp_micros())
            })
        })
        .map_err(|_| {
            ApiError::BadRequest(format!(
                "{what}: expected RFC 3339, YYYY-MM-DD or Unix seconds"
            ))
        })
}
