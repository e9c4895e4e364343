//! Coffer's ingest: everything between a message arriving and its record being durable
//! in a volume, plus keeping the catalog and the index in step with the volumes.
//!
//! The pipeline, one stage per module (see [`archive`] for the picture):
//! - [`data_dir`]: the data directory — layout, writer lock, signing key.
//! - [`analyze`]: stage 1, pure CPU — SHA-256, parse into a [`coffer_model::MessageDoc`],
//!   mailboxes, custody metadata ([`meta`]), the compressed record.
//! - [`writer`]: stages 2–3 — archiving rules ([`rules`]), deduplication, append, group
//!   commit, the acknowledgement.
//! - [`applier`]: stage 4 — catalog and index from durable records, high-water marks;
//!   [`replay`] does the same at start-up for what the views missed.
//! - [`archive`]: the stages wired over one data directory.
//!
//! Sources, all ending in the same pipeline:
//! - [`journaling`]: journaled mail (SMTP/LMTP and HTTP) — bounded concurrency, one
//!   memory budget for content in flight ([`budget`]), audit of excluded mail, metrics
//!   ([`metrics`]).
//! - [`smtp`]: the SMTP/LMTP receiver (pure state machine plus tokio driver) and its
//!   delivery into [`journaling`].
//! - [`journal`]: Exchange / Microsoft 365 journal report unwrapping.
//! - [`import`] and [`importer`]: `.eml`, mbox, Maildir readers and the parallel import;
//!   [`remote`]: the same import through a running server.
//! - [`parse`]: raw bytes to a document; [`identity`]: the identity of journal copies.
//! - [`reader`]: messages read back by id or content hash; [`as_received`]: what a
//!   custodian is shown of one (no one else's Bcc); [`consistency`]: the catalog
//!   checked against the volumes; [`volume_contents`]: what a volume's records name,
//!   for deleting a wholly disposed volume.

pub mod analyze;
pub mod applier;
pub mod archive;
pub mod as_received;
pub mod budget;
pub mod clock;
pub mod consistency;
pub mod data_dir;
mod dedup;
pub mod error;
#[cfg(test)]
mod fuzz;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod hit_text;
pub mod identity;
pub mod import;
pub mod importer;
pub mod journal;
pub mod journaling;
pub mod key_rotation;
pub mod meta;
pub mod metrics;
pub mod parse;
pub mod reader;
pub mod remote;
pub mod replay;
pub mod rules;
pub mod smtp;
mod views;
pub mod volume_contents;
pub mod witness;
pub mod writer;

pub use analyze::{Analyzed, Analyzer, Incoming};
pub use archive::{Archive, ArchiveOptions};
pub use data_dir::DataDir;
pub use error::{IngestError, Result};
pub use replay::Rebuild;
pub use views::MAIL;
pub use writer::Outcome;
