//! Coffer's ingest: everything between a message arriving and its record being durable
//! in a volume, plus keeping the catalog and the index in step with the volumes.
//!
//! - [`archive`]: the archive writer — analyse, deduplicate, write, group-commit, and
//!   the applier that feeds the catalog and the index in volume order; start-up replay.
//! - [`parse`]: raw bytes to a [`coffer_model::MessageDoc`] (participants, dates, text,
//!   attachment text, flags) and mailbox assignment.
//! - [`meta`]: the custody metadata stored with each record.
//! - [`import`]: readers for `.eml` files, mbox files, Maildir folders and trees of them.
//! - [`importer`]: the parallel import pipeline with progress and a summary.
//! - [`smtp`]: the SMTP/LMTP receiver (pure state machine plus tokio driver).
//! - [`journal`]: Exchange / Microsoft 365 journal report unwrapping.
//! - [`rules`]: archiving rules (internal / external / both / none).

pub mod archive;
#[cfg(test)]
mod fuzz;
pub mod identity;
pub mod import;
pub mod importer;
pub mod journal;
pub mod journaling;
pub mod meta;
pub mod parse;
pub mod rules;
pub mod smtp;
