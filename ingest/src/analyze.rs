//! Stage 1 of the pipeline, pure CPU on any thread: a message's bytes become what the
//! writer needs — SHA-256, the parsed [`MessageDoc`] (participants, dates, text,
//! attachment text, flags), its mailboxes, the custody metadata — and, when it will be
//! stored, its compressed volume record ([`Analyzer::prepare`]).
//!
//! Nothing here touches a disk, a database or a lock; the caller picks the thread (rayon
//! for imports, the blocking pool for SMTP and HTTP).

use coffer_extract::ExtractLimits;
use coffer_model::{Envelope, MessageDoc, Sha256};
use std::sync::Arc;

use coffer_volume::{Prepared, RecordKind, VolumeSet};
use sha2::Digest;

use crate::error::Result;
use crate::meta::{META_VERSION, MessageMeta};
use crate::parse::{MailboxPolicy, assign_mailboxes, build_doc};

/// One message to ingest.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The original bytes.
    pub raw: Vec<u8>,
    /// `import`, `smtp`, `lmtp`, `http`.
    pub source: String,
    /// The SMTP envelope, if journaled.
    pub envelope: Option<Envelope>,
    /// Where the message came from: an imported file, or who delivered it
    /// ([`crate::journaling::DeliveredBy::origin`]).
    pub origin: Option<String>,
    /// How to pick its mailboxes.
    pub policy: MailboxPolicy,
    /// Journaled (SMTP/LMTP/HTTP): archiving rules apply, and journal copies of the same
    /// message are recognised by their identity, not only by their exact bytes.
    pub journaled: bool,
}

/// A message analysed and ready to commit.
#[derive(Debug, Clone)]
pub struct Analyzed {
    pub(crate) raw: Vec<u8>,
    pub(crate) sha256: Sha256,
    pub(crate) received_us: i64,
    pub(crate) doc: MessageDoc,
    pub(crate) meta: MessageMeta,
    pub(crate) prepared: Option<Prepared>,
    pub(crate) journaled: bool,
}

impl Analyzed {
    /// SHA-256 of the original bytes.
    pub fn sha256(&self) -> Sha256 {
        self.sha256
    }
    /// Size of the original bytes.
    pub fn raw_len(&self) -> u64 {
        self.raw.len() as u64
    }
    /// The parsed document (id not yet assigned).
    pub fn doc(&self) -> &MessageDoc {
        &self.doc
    }
    /// Whether the record is already compressed.
    pub fn is_prepared(&self) -> bool {
        self.prepared.is_some()
    }
}

/// Settings of the analysis stage.
#[derive(Debug, Clone)]
pub struct Analyzer {
    /// Attachment extraction bounds; `None` leaves attachment text out (`--defer-index`:
    /// the index catches up later and extracts then).
    pub extract: Option<ExtractLimits>,
    /// The archive's own journal addresses (lowercased): envelope recipients of
    /// journaled mail that are not participants.
    pub journal_addresses: Vec<String>,
    /// zstd level of new records compressed without a dictionary.
    pub zstd_level: i32,
    /// The mail volumes: a record is prepared by the volume of its receive year, which
    /// compresses it with its dictionary and learns from it (`None`: plain zstd at
    /// `zstd_level`).
    pub volumes: Option<Arc<VolumeSet>>,
}

impl Analyzer {
    /// Hashes, parses, assigns mailboxes and builds the custody metadata. Pure CPU.
    pub fn analyze(&self, incoming: Incoming) -> Analyzed {
        let received_us = crate::clock::now_us();
        let sha256 = Sha256(sha2::Sha256::digest(&incoming.raw).into());
        let mut meta = MessageMeta {
            v: META_VERSION,
            source: incoming.source,
            mailboxes: Vec::new(),
            envelope: incoming.envelope,
            origin: incoming.origin,
            journal_addresses: if incoming.journaled {
                self.journal_addresses.clone()
            } else {
                Vec::new()
            },
        };
        let mut doc = build_doc(
            &incoming.raw,
            sha256,
            received_us / 1_000_000,
            &meta,
            self.extract.as_ref(),
        );
        meta.mailboxes = assign_mailboxes(&doc, &incoming.policy);
        doc.mailboxes = meta.mailboxes.clone();
        Analyzed {
            journaled: incoming.journaled,
            raw: incoming.raw,
            sha256,
            received_us,
            doc,
            meta,
            prepared: None,
        }
    }

    /// Compresses the volume record (skipped when already done). Pure CPU.
    ///
    /// Skipped too while the message's year has no volume yet: only a volume compresses
    /// with its dictionary and feeds its trainer, so the first batch of a new year is
    /// left to the commit stage, which creates the volume first (otherwise a bulk
    /// import's first few hundred messages of every year would be stored without a
    /// dictionary, at twice the size).
    pub fn prepare(&self, analyzed: &mut Analyzed) -> Result<()> {
        if analyzed.prepared.is_none() {
            let year = crate::clock::year_of(analyzed.received_us);
            if let Some(volumes) = &self.volumes
                && volumes.get(year)?.is_none()
            {
                return Ok(());
            }
            analyzed.prepared = Some(self.record(analyzed)?);
        }
        Ok(())
    }

    /// The compressed volume record, taken from `analyzed` when [`Analyzer::prepare`]
    /// made it already, else made now.
    pub(crate) fn take_prepared(&self, analyzed: &mut Analyzed) -> Result<Prepared> {
        match analyzed.prepared.take() {
            Some(prepared) => Ok(prepared),
            None => self.record(analyzed),
        }
    }

    fn record(&self, analyzed: &Analyzed) -> Result<Prepared> {
        // Only a volume that exists already: analysing a message must not create a
        // year's volume the writer may never write to (a duplicate, an exclusion).
        let year = crate::clock::year_of(analyzed.received_us);
        if let Some(volume) = match &self.volumes {
            Some(volumes) => volumes.get(year)?,
            None => None,
        } {
            return Ok(volume.prepare(
                RecordKind::Message,
                analyzed.received_us,
                analyzed.meta.to_bytes(),
                Some(&analyzed.raw),
                Some(analyzed.sha256.0),
            )?);
        }
        Ok(Prepared::new(
            RecordKind::Message,
            analyzed.received_us,
            analyzed.meta.to_bytes(),
            Some(&analyzed.raw),
            Some(analyzed.sha256.0),
            self.zstd_level,
        )?)
    }
}
