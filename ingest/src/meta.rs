//! Custody metadata stored in the volume record next to the original bytes.
//!
//! This is what the archive knew about a message when it accepted it and cannot learn
//! again from the bytes: how it arrived (envelope or import origin) and which mailboxes
//! it was assigned to. Everything else (subject, participants, text) is derived from the
//! bytes whenever the catalog or the index is rebuilt.

use coffer_model::{Envelope, MessageId, Sha256};
use serde::{Deserialize, Serialize};

use crate::error::IngestError;

/// Version of the metadata encoding.
pub const META_VERSION: u32 = 1;

/// Metadata of a message record (kind 1).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MessageMeta {
    /// Encoding version.
    pub v: u32,
    /// How the message arrived: `import`, `smtp`, `lmtp`, `http`.
    pub source: String,
    /// Mailboxes the message was assigned to (lowercased addresses).
    pub mailboxes: Vec<String>,
    /// SMTP envelope (journaling) or nothing (import).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<Envelope>,
    /// Where an imported message came from (file path, mbox offset, Maildir folder), or
    /// who handed a journaled one over: `token:NAME` (HTTP, SMTP/LMTP with AUTH) or
    /// `client:ADDRESS` (SMTP/LMTP without AUTH). Records written before origins were
    /// kept for SMTP have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Envelope recipients that are the archive's own journal addresses (the target of
    /// an `always_bcc`, say): kept in the envelope for custody, but not participants.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub journal_addresses: Vec<String>,
}

/// Metadata of a link record (kind 2): mailboxes added to an archived message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkMeta {
    /// Encoding version.
    pub v: u32,
    /// The message gaining mailboxes.
    pub target: MessageId,
    /// SHA-256 of its original bytes (a cross-check).
    pub sha256: Sha256,
    /// The added mailboxes.
    pub mailboxes: Vec<String>,
    /// How the duplicate arrived.
    pub source: String,
    /// The duplicate's envelope, if journaled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<Envelope>,
    /// Where the duplicate came from, or who delivered it (as [`MessageMeta::origin`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl MessageMeta {
    /// Encodes as JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes; an unreadable metadata section yields an empty one (the record's bytes
    /// remain authoritative and are still verified by the volume).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IngestError> {
        serde_json::from_slice(bytes).map_err(|source| IngestError::Metadata {
            what: "message",
            source,
        })
    }
}

impl LinkMeta {
    /// Encodes as JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IngestError> {
        serde_json::from_slice(bytes).map_err(|source| IngestError::Metadata {
            what: "link",
            source,
        })
    }
}
