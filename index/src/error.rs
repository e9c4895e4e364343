//! The index crate's error type, and how each error maps to a coarse
//! [`ErrorCode`] for the HTTP layer and the command line.
//!
//! Messages never contain message content: at most a year, a path, a count, or (for a
//! rejected query) the user's own query text, which is returned to that user and never
//! logged.

use std::path::PathBuf;

use coffer_model::ErrorCode;

use crate::query::QueryError;

/// Result with the index [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong with the index.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The query text is not a valid query.
    #[error("invalid query {0}")]
    Query(#[from] QueryError),
    /// A search request is out of bounds (limit, offset) or otherwise unusable.
    #[error("invalid search request: {0}")]
    InvalidRequest(String),
    /// A document cannot be indexed as given (e.g. an out-of-range year).
    #[error("invalid document: {0}")]
    InvalidDocument(String),
    /// A yearly index is missing, damaged or incompatible and must be rebuilt from the
    /// volumes. Searches refuse to answer rather than silently missing that year.
    #[error(
        "index for {year} needs a rebuild: {reason} (`coffer reindex --year {year}` rebuilds it \
         from the volume; `coffer serve` and `coffer import` do so when they start)"
    )]
    NeedsRebuild {
        /// The year.
        year: i32,
        /// What is wrong.
        reason: String,
    },
    /// There is no index directory where one was expected (read-only open).
    #[error("no index at {}", .0.display())]
    NoIndex(PathBuf),
    /// The set was opened read-only.
    #[error("index at {} is open read-only", .0.display())]
    ReadOnly(PathBuf),
    /// Another process holds the writer lock of a yearly index.
    #[error("index for {year} is locked by another writer")]
    Locked {
        /// The year.
        year: i32,
    },
    /// Documents were added since the last commit of that year.
    #[error("index for {year} has {pending} uncommitted documents")]
    Uncommitted {
        /// The year.
        year: i32,
        /// How many documents.
        pending: u64,
    },
    /// An I/O error on a named path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Stored index data failed a check while in use.
    #[error("index for {year} is corrupted: {detail}")]
    Corruption {
        /// The year.
        year: i32,
        /// What was found.
        detail: String,
    },
    /// The search ran past its time limit and was stopped.
    #[error("the search took longer than its time limit and was stopped; narrow the query")]
    TimedOut,
    /// Any other tantivy failure.
    #[error("index engine error: {0}")]
    Engine(#[from] tantivy::TantivyError),
}

impl Error {
    /// The coarse class of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Query(_) | Error::InvalidRequest(_) | Error::InvalidDocument(_) => {
                ErrorCode::InvalidInput
            }
            Error::NeedsRebuild { .. } | Error::NoIndex(_) | Error::Locked { .. } => {
                ErrorCode::Unavailable
            }
            Error::Uncommitted { .. } => ErrorCode::Conflict,
            Error::TimedOut => ErrorCode::Unavailable,
            Error::ReadOnly(_) => ErrorCode::Forbidden,
            Error::Io { .. } => ErrorCode::Unavailable,
            Error::Corruption { .. } => ErrorCode::Corruption,
            Error::Engine(error) => match error {
                tantivy::TantivyError::DataCorruption(_) => ErrorCode::Corruption,
                tantivy::TantivyError::LockFailure(..) => ErrorCode::Unavailable,
                tantivy::TantivyError::IoError(_) => ErrorCode::Unavailable,
                _ => ErrorCode::Internal,
            },
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    /// Converts a tantivy error seen while using `year`, classifying corruption.
    pub(crate) fn engine(year: i32) -> impl FnOnce(tantivy::TantivyError) -> Error {
        move |error| match error {
            e if crate::limits::timed_out(&e) => Error::TimedOut,
            tantivy::TantivyError::DataCorruption(corruption) => Error::Corruption {
                year,
                detail: format!("{corruption:?}"),
            },
            tantivy::TantivyError::LockFailure(..) => Error::Locked { year },
            other => Error::Engine(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let query = Error::from(crate::query::parse_query("").expect_err("empty"));
        assert_eq!(query.code(), ErrorCode::InvalidInput);
        assert_eq!(
            query.to_string(),
            "invalid query at position 0: empty query"
        );
        let rebuild = Error::NeedsRebuild {
            year: 2024,
            reason: "meta.json missing".into(),
        };
        assert_eq!(rebuild.code(), ErrorCode::Unavailable);
    }
}
