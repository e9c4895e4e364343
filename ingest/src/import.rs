//! Import readers (being built).
