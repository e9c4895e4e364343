//! Why a query was rejected, and where: the error a user sees in the UI, the API and
//! the command line, so the message must say precisely what to change.

use std::fmt;

/// A query that cannot be parsed. `position` is a character offset (not a byte offset)
/// into the query text, so a UI can put a caret under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// Character offset of the problem (0-based).
    pub position: usize,
    /// What is wrong, in words (no trailing period).
    pub message: String,
}

impl QueryError {
    pub(crate) fn new(position: usize, message: impl Into<String>) -> QueryError {
        QueryError {
            position,
            message: message.into(),
        }
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at position {}: {}", self.position, self.message)
    }
}

impl std::error::Error for QueryError {}
