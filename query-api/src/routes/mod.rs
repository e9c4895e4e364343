//! One module per resource; each exposes `fn router()` returning its routes with their
//! OpenAPI descriptions.

pub(crate) mod audit;
pub(crate) mod domains;
pub(crate) mod groups;
pub(crate) mod ingest;
pub(crate) mod messages;
pub(crate) mod search;
pub(crate) mod session;
pub(crate) mod system;
pub(crate) mod tokens;
pub(crate) mod users;
pub(crate) mod volumes;

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
