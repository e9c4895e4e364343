//! Types that more than one Coffer crate needs, and nothing else.
//!
//! - [`MessageId`]: the stable, URL-safe id of an archived message (`<year>-<sequence>`).
//! - [`Sha256`]: a SHA-256 digest with a hex form.
//! - [`Role`], [`Capability`] and [`allows`] (THE role table), and [`Scope`]: who a
//!   caller is, what they may do and which mailboxes they may see; [`RecipientView`]:
//!   whose hidden recipients (Bcc) they may learn.
//! - [`MessageDoc`]: what the ingest pipeline extracts from a message for the catalog and
//!   the index (participants, subject, body text, attachment text, flags).
//! - [`Envelope`]: the SMTP envelope (or import provenance) kept with a message.
//! - [`ErrorCode`]: the coarse error classes every crate maps its errors to; only the
//!   HTTP layer and the SMTP session turn them into status or reply codes.
//!
//! This crate is pure: no I/O, no async.

mod doc;
mod id;
mod role;

pub use doc::{Address, AttachmentDoc, Envelope, MessageDoc, MessageFlags};
pub use id::{MessageId, ParseIdError, Sha256};
pub use role::{Capability, RecipientView, Role, Scope, allows};

/// Coarse error classes. Each crate's error type maps itself to one of these
/// (`fn code(&self) -> ErrorCode`); one `match` in the HTTP layer maps them to statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The request or input is malformed (400 / SMTP 5xx).
    InvalidInput,
    /// The thing asked for does not exist, or is outside the caller's scope (404).
    NotFound,
    /// The request conflicts with existing state (409).
    Conflict,
    /// The caller is not authenticated (401).
    Unauthenticated,
    /// The caller is authenticated but may not do this (403).
    Forbidden,
    /// A temporary condition: disk full, pipeline saturated, writer failed (503 / SMTP 451).
    Unavailable,
    /// Stored data failed an integrity check (500, reported precisely).
    Corruption,
    /// Anything else (500, details only in the logs).
    Internal,
}
