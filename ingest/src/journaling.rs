//! Journaling: the one pipeline that SMTP/LMTP deliveries and HTTP submissions go
//! through — bounded concurrency, analyse, archiving rules, deduplication, commit — with
//! the audit entry of excluded mail and the ingest metrics, so every journal source
//! behaves the same.
//!
//! An acknowledgement (`250`, `201`) is given only after [`Writer::commit`] returned,
//! i.e. after the record is fsynced; a full disk gives `452`, any other storage trouble
//! `451` (the sender retries, deduplication absorbs what was stored already), a
//! saturated pipeline `451`. Messages no archiving rule admits come back as
//! [`Outcome::Excluded`]: answered as delivered, and recorded in the audit trail (rule
//! outcome, size; no content) *before* the answer — an exclusion that cannot be audited
//! fails, so the sender retries.
//!
//! Message content in flight, from the first byte a source receives until the journal
//! has answered, is held within one [`MemoryBudget`] shared by all sources (see
//! [`crate::budget`]): past it, SMTP answers `452` and HTTP `503`, both temporary.
//!
//! Every record of a journaled message says who handed it over ([`DeliveredBy`]): the
//! journal token (`token:NAME`, HTTP and SMTP AUTH) or, for an SMTP/LMTP client that did
//! not authenticate, its address (`client:ADDRESS`), in the custody metadata's `origin`.
//!
//! [`Writer::commit`]: crate::writer::Writer::commit

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use coffer_audit::{AuditEntry, AuditLog, Outcome as AuditOutcome};
use coffer_model::Envelope;
use tokio::sync::Semaphore;

use crate::analyze::Incoming;
use crate::archive::Archive;
use crate::budget::{DEFAULT_MEMORY_BUDGET, MemoryBudget};
use crate::error::{IngestError, Result};
use crate::metrics::IngestMetrics;
use crate::parse::MailboxPolicy;
use crate::smtp::{DeliveryOutcome, TempFailure};
use crate::writer::Outcome;

/// How a journaled message reached Coffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// SMTP (RFC 5321).
    Smtp,
    /// LMTP (RFC 2033).
    Lmtp,
    /// `POST /api/v1/messages`.
    Http,
}

impl Source {
    /// `smtp`, `lmtp` or `http`: the envelope's protocol, the audit actor of SMTP
    /// deliveries and the metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Smtp => "smtp",
            Source::Lmtp => "lmtp",
            Source::Http => "http",
        }
    }
}

/// Who handed a journaled message over: what the custody metadata of its record keeps
/// as `origin`, and whom the audit trail names if the message is excluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveredBy {
    /// A journal token: HTTP submissions, and SMTP/LMTP sessions that authenticated
    /// with AUTH. Holds the token's name.
    Token(String),
    /// An SMTP/LMTP client that did not authenticate (admitted by its address).
    Client(IpAddr),
}

impl DeliveredBy {
    /// The custody metadata's `origin`: `token:NAME` or `client:ADDRESS`.
    pub fn origin(&self) -> String {
        match self {
            DeliveredBy::Token(name) => format!("token:{name}"),
            DeliveredBy::Client(addr) => format!("client:{}", addr.to_canonical()),
        }
    }

    /// The audit actor: the token's name, or the protocol for an unauthenticated client.
    fn actor(&self, source: Source) -> String {
        match self {
            DeliveredBy::Token(name) => name.clone(),
            DeliveredBy::Client(_) => source.as_str().to_owned(),
        }
    }
}

/// One journaled message as a source hands it over.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The raw message.
    pub raw: Vec<u8>,
    /// Its envelope (`protocol` should be [`Source::as_str`]).
    pub envelope: Envelope,
    /// How it arrived.
    pub source: Source,
    /// Who delivered it: recorded in the custody metadata (`origin`), and named by the
    /// audit trail if the message is excluded.
    pub delivered_by: DeliveredBy,
    /// The client's address, for the audit trail.
    pub client: String,
}

/// Delivers journaled messages into the archive.
pub struct Journal {
    archive: Arc<Archive>,
    audit: AuditLog,
    metrics: IngestMetrics,
    in_flight: Arc<Semaphore>,
    memory: MemoryBudget,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("in_flight", &self.in_flight.available_permits())
            .field("memory", &self.memory)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// A journal over `archive`; at most `max_in_flight` messages are processed at once
    /// (beyond that, senders get `451`/`503` and retry), and the content its sources hold
    /// in memory shares a budget of [`DEFAULT_MEMORY_BUDGET`] bytes
    /// ([`Self::with_memory_budget`]).
    pub fn new(
        archive: Arc<Archive>,
        audit: AuditLog,
        metrics: IngestMetrics,
        max_in_flight: usize,
    ) -> Self {
        let memory = MemoryBudget::with_metrics(DEFAULT_MEMORY_BUDGET, &metrics);
        Self {
            archive,
            audit,
            metrics,
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
            memory,
        }
    }

    /// The same journal with a memory budget of `bytes` for the message content its
    /// sources hold (see [`crate::budget`]).
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.memory = MemoryBudget::with_metrics(bytes, &self.metrics);
        self
    }

    /// The memory budget every journal source draws from while it receives a message
    /// and until the journal has answered for it: SMTP/LMTP sessions (through
    /// [`crate::smtp::DeliverySink::memory_budget`]) and HTTP submissions.
    pub fn memory_budget(&self) -> &MemoryBudget {
        &self.memory
    }

    /// The archive.
    pub fn archive(&self) -> &Arc<Archive> {
        &self.archive
    }

    /// Archives one journaled message: analyse, apply the rules, deduplicate, commit;
    /// audits an exclusion; counts and times it. Returns once durable (or audited).
    pub async fn deliver(&self, submission: Submission) -> Result<Outcome> {
        let Submission {
            raw,
            envelope,
            source,
            delivered_by,
            client,
        } = submission;
        let size = raw.len() as u64;
        let actor = delivered_by.actor(source);
        let incoming = Incoming {
            raw,
            source: envelope.protocol.clone(),
            envelope: Some(envelope),
            origin: Some(delivered_by.origin()),
            policy: MailboxPolicy::LocalDomains(self.archive.local_domains()),
            journaled: true,
        };
        let outcome = self.run(source, incoming).await?;
        if let Outcome::Excluded {
            internal, refused, ..
        } = outcome
        {
            let entry =
                AuditEntry::new(actor, "message.excluded", "", AuditOutcome::Success, client)
                    .with_detail(serde_json::json!({
                        "internal": internal,
                        "refused": refused,
                        "size": size,
                    }));
            if let Err(e) = self.audit.record(entry).await {
                // Not stored and not audited: the sender must retry.
                tracing::error!(error = %e, "could not audit an excluded message");
                self.metrics.message(source.as_str(), "failed");
                return Err(e.into());
            }
        }
        Ok(outcome)
    }

    /// Archives one message imported through the server (`coffer import --server`): the
    /// same bounded pipeline, without archiving rules. Returns once durable.
    pub async fn import(&self, incoming: Incoming) -> Result<Outcome> {
        self.run(Source::Http, incoming).await
    }

    async fn run(&self, source: Source, incoming: Incoming) -> Result<Outcome> {
        let label = source.as_str();
        let Ok(_permit) = self.in_flight.clone().try_acquire_owned() else {
            self.metrics.message(label, "failed");
            return Err(IngestError::Saturated);
        };
        let started = Instant::now();
        let outcome = self.archive.ingest(incoming).await;
        self.metrics.latency(label, started.elapsed());
        let what = match &outcome {
            Ok(Outcome::Archived { .. }) => "archived",
            Ok(Outcome::Linked { .. } | Outcome::Duplicate { .. }) => "duplicate",
            Ok(Outcome::Excluded { .. }) => "excluded",
            Err(_) => "failed",
        };
        self.metrics.message(label, what);
        outcome
    }
}

/// The SMTP answer to a message the archive could not take: `452` when the disk is
/// full, otherwise by the error's class (temporary unless it is the client's fault).
pub fn refusal(error: &IngestError) -> DeliveryOutcome {
    if error.is_storage_full() {
        DeliveryOutcome::TempFail(TempFailure::Storage)
    } else {
        DeliveryOutcome::from_error_code(error.code())
    }
}
