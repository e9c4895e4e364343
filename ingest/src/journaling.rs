//! Journaling: the SMTP/LMTP delivery sink that turns a received message into an archive
//! commit, and answers the sender only from the commit's outcome.
//!
//! `250` (LMTP: one `250` per recipient) is given only after [`Archive::commit`]
//! returned, i.e. after the record is fsynced; a full disk gives `452`, any other storage
//! trouble `451` (the sender retries, deduplication absorbs what was stored already), a
//! saturated pipeline `451`. Messages that no archiving rule admits are answered `250`
//! (delivery is complete from the sender's point of view: the archive decided not to
//! keep it), counted, and reported to the `on_excluded` hook for the audit trail.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Semaphore;

use crate::archive::{Archive, ArchiveError, Incoming, Outcome};
use crate::parse::MailboxPolicy;
use crate::smtp::{BoxFuture, Delivery, DeliveryOutcome, DeliverySink, TempFailure};

/// A journaled message the rules excluded (for the audit trail: no content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    /// How it arrived (`smtp`, `lmtp`, `http`).
    pub protocol: String,
    /// Whether it was classified internal.
    pub internal: bool,
    /// How many mailboxes' rules refused it.
    pub refused: usize,
    /// Its size in bytes.
    pub size: u64,
}

/// Counters exported as metrics.
#[derive(Debug, Default)]
pub struct JournalCounters {
    /// Messages stored as new.
    pub archived: AtomicU64,
    /// Duplicates (including journal copies linked to an archived message).
    pub duplicates: AtomicU64,
    /// Messages excluded by the archiving rules.
    pub excluded: AtomicU64,
    /// Deliveries answered with a temporary failure.
    pub temp_failures: AtomicU64,
}

/// The hook called for every excluded message.
pub type ExclusionHook = Arc<dyn Fn(Exclusion) + Send + Sync>;

/// Delivers journaled messages into the archive.
pub struct ArchiveSink {
    archive: Arc<Archive>,
    in_flight: Arc<Semaphore>,
    on_excluded: Option<ExclusionHook>,
    counters: Arc<JournalCounters>,
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
            on_excluded: None,
            counters: Arc::new(JournalCounters::default()),
        }
    }

    /// Calls `hook` for every message the rules exclude.
    pub fn with_exclusion_hook(mut self, hook: ExclusionHook) -> Self {
        self.on_excluded = Some(hook);
        self
    }

    /// The counters.
    pub fn counters(&self) -> Arc<JournalCounters> {
        Arc::clone(&self.counters)
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

    /// Archives one message through the shared pipeline (bounded concurrency, counters,
    /// exclusion hook): journaled mail as [`ArchiveSink::ingest`] builds it, or an import
    /// sent through the server (`coffer import --server`). Returns once durable.
    pub async fn submit(&self, incoming: Incoming) -> Result<Outcome, ArchiveError> {
        let Ok(_permit) = self.in_flight.clone().try_acquire_owned() else {
            return Err(ArchiveError::Applier("ingest pipeline saturated".into()));
        };
        let archive = Arc::clone(&self.archive);
        let protocol = incoming.source.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let analyzed = archive.analyze(incoming);
            archive.commit(vec![analyzed]).pop()
        })
        .await
        .map_err(|e| ArchiveError::Applier(format!("ingest task failed: {e}")))?
        .unwrap_or_else(|| Err(ArchiveError::Applier("no outcome".into())));
        match &outcome {
            Ok(Outcome::Archived { .. }) => {
                self.counters.archived.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Outcome::Linked { .. } | Outcome::Duplicate { .. }) => {
                self.counters.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Outcome::Excluded {
                internal,
                refused,
                size,
            }) => {
                self.counters.excluded.fetch_add(1, Ordering::Relaxed);
                if let Some(hook) = &self.on_excluded {
                    hook(Exclusion {
                        protocol,
                        internal: *internal,
                        refused: *refused,
                        size: *size,
                    });
                }
            }
            Err(_) => {
                self.counters.temp_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        outcome
    }
}

impl DeliverySink for ArchiveSink {
    fn deliver(&self, delivery: Delivery) -> BoxFuture<'_, DeliveryOutcome> {
        Box::pin(async move {
            let envelope = delivery.envelope();
            let session = delivery.session_id;
            let bytes = delivery.transaction.data.len();
            match self.ingest(delivery.transaction.data, envelope, None).await {
                Ok(outcome) => {
                    let queue_id = outcome
                        .id()
                        .map_or_else(|| "excluded".to_string(), |id| id.to_string());
                    tracing::debug!(session, bytes, id = %queue_id, "journaled message accepted");
                    DeliveryOutcome::Accepted { queue_id }
                }
                Err(e) => {
                    tracing::warn!(session, bytes, error = %e, "journaled message not accepted; sender will retry");
                    refusal(&e)
                }
            }
        })
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
