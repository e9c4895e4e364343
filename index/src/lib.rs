//! Coffer's full-text index (placeholder; being built).

pub mod extract;
pub mod query;
