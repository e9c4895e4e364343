//! Attachment text extraction (being built).
