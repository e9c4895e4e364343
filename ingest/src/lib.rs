//! Coffer's ingest (being built).

pub mod import;
pub mod journal;
pub mod rules;
pub mod smtp;
