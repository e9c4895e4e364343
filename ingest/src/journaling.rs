//! Journaling: the one pipeline that SMTP/LMTP deliveries and HTTP submissions go
//! through — bounded concurrency, analyse, archiving rules, deduplication, commit — and
//! the mapping of archive errors to SMTP answers.
//!
//! An acknowledgement (`250`, `201`) is given only after [`Archive::commit`] returned, i.e.
//! after the record is fsynced; a full disk gives `452`, any other storage trouble `451`
//! (the sender retries, deduplication absorbs what was stored already), a saturated
//! pipeline `451`. Messages no archiving rule admits come back as
//! [`Outcome::Excluded`]; the caller answers them as delivered and audits them (the SMTP
//! adapter lives with the listener wiring, next to the audit trail and the metrics).

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::archive::{Archive, ArchiveError, Incoming, Outcome};
use crate::parse::MailboxPolicy;
use crate::smtp::{DeliveryOutcome, TempFailure};

/// Delivers journaled messages into the archive.
pub struct ArchiveSink {
    archive: Arc<Archive>,
    in_flight: Arc<Semaphore>,
}

impl std::fmt::Debug for ArchiveSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveSink")
            .field("in_flight", &self.in_flight.available_permits())
            .finish()
    }
}

impl ArchiveSink {
    /// A sink over `archive`; at most `max_in_flight` messages are processed at once
    /// (beyond that, senders get `451` and retry).
    pub fn new(archive: Arc<Archive>, max_in_flight: usize) -> Self {
        Self {
            archive,
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
        }
    }

    /// Archives one journaled message (SMTP, LMTP or HTTP): analyse, apply the rules,
    /// deduplicate, commit. Returns once durable.
    pub async fn ingest(
        &self,
        raw: Vec<u8>,
        envelope: coffer_model::Envelope,
        origin: Option<String>,
    ) -> Result<Outcome, ArchiveError> {
        let incoming = Incoming {
            raw,
            source: envelope.protocol.clone(),
            envelope: Some(envelope),
            origin,
            policy: MailboxPolicy::LocalDomains(self.archive.local_domains()),
            journaled: true,
        };
        self.submit(incoming).await
    }

    /// Archives one message through the shared pipeline (bounded concurrency): journaled
    /// mail as [`ArchiveSink::ingest`] builds it, or an import
    /// sent through the server (`coffer import --server`). Returns once durable.
    pub async fn submit(&self, incoming: Incoming) -> Result<Outcome, ArchiveError> {
        let Ok(_permit) = self.in_flight.clone().try_acquire_owned() else {
            return Err(ArchiveError::Applier("ingest pipeline saturated".into()));
        };
        let archive = Arc::clone(&self.archive);
        tokio::task::spawn_blocking(move || {
            let analyzed = archive.analyze(incoming);
            archive.commit(vec![analyzed]).pop()
        })
        .await
        .map_err(|e| ArchiveError::Applier(format!("ingest task failed: {e}")))?
        .unwrap_or_else(|| Err(ArchiveError::Applier("no outcome".into())))
    }
}

/// The SMTP answer to a message the archive could not take: `452` when the disk is
/// full, otherwise by the error's class (temporary unless it is the client's fault).
pub fn refusal(error: &ArchiveError) -> DeliveryOutcome {
    if error.is_storage_full() {
        DeliveryOutcome::TempFail(TempFailure::Storage)
    } else {
        DeliveryOutcome::from_error_code(error.code())
    }
}
