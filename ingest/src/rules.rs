//! Archiving rules (being built).
