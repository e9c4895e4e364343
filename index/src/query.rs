//! The query language (being built).
