//! The ingest crate's one error type.
//!
//! Errors of the crates below keep their own typed variants (a volume's
//! [`coffer_volume::Error::Corruption`] names the file, offset and record), so callers can
//! tell a full disk from damage from a refused input. [`IngestError::code`] gives the
//! coarse class that the HTTP layer and the SMTP session turn into a status or reply.

use std::path::PathBuf;
use std::sync::Arc;

use coffer_model::ErrorCode;

/// Result with [`IngestError`].
pub type Result<T, E = IngestError> = std::result::Result<T, E>;

/// Everything that can go wrong between a message arriving and its record being durable
/// and applied.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A volume error (I/O, corruption, sealed volume, failed writer).
    #[error(transparent)]
    Volume(#[from] coffer_volume::Error),
    /// A catalog error.
    #[error(transparent)]
    Catalog(#[from] coffer_catalog::Error),
    /// An index error.
    #[error(transparent)]
    Index(#[from] coffer_index::Error),
    /// The audit trail could not record what had to be recorded.
    #[error(transparent)]
    Audit(#[from] coffer_audit::Error),
    /// Filesystem trouble outside the volumes.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The applier (catalog and index from volume records) stopped after this error;
    /// what is durable is replayed at the next start.
    #[error("the archive applier stopped: {0}")]
    ApplierStopped(Arc<IngestError>),
    /// A failure shared by every message of a batch (a catalog lookup, a volume's fsync):
    /// nothing of the batch written to that volume is acknowledged.
    #[error("{0}")]
    Batch(Arc<IngestError>),
    /// A record's custody metadata (JSON, written by Coffer) does not decode: the record
    /// bytes are intact (the volume verified them) but their metadata is unreadable.
    #[error("{what} metadata: {detail}")]
    Metadata {
        /// `message` or `link`.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// No archived message answers to what was asked (the reason says what).
    #[error("{0}")]
    NoSuchMessage(String),
    /// The id names a record that is not a message (a checkpoint, a link, ...).
    #[error("{id} is a {kind} record, not a message")]
    NotAMessage {
        /// The id asked for.
        id: coffer_model::MessageId,
        /// The record's kind.
        kind: &'static str,
    },
    /// The archive is shutting down and takes no more messages.
    #[error("the archive is shutting down")]
    ShuttingDown,
    /// Too many messages are being processed at once; the sender should retry.
    #[error("the ingest pipeline is saturated")]
    Saturated,
    /// A blocking task of the pipeline panicked or was cancelled.
    #[error("ingest task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The SMTP/LMTP listener settings are unusable.
    #[error("invalid smtp configuration: {0}")]
    SmtpConfig(&'static str),
    /// The SMTP/LMTP listener would take mail from any client on an address that other
    /// hosts can reach ([`SmtpServerConfig::validate_exposure`]).
    ///
    /// [`SmtpServerConfig::validate_exposure`]: crate::smtp::SmtpServerConfig::validate_exposure
    #[error(
        "{protocol} listens on {addr}, which is not a loopback address, but {exposure}: \
         set allowed_clients to the networks of the mail servers that journal to Coffer, \
         or auth = \"required\" (AUTH PLAIN over STARTTLS with a journal token; needs \
         tls_cert and tls_key)"
    )]
    SmtpExposed {
        /// `smtp` or `lmtp`.
        protocol: &'static str,
        /// The bound address.
        addr: std::net::SocketAddr,
        /// What is wrong.
        exposure: crate::smtp::session::Exposure,
    },
    /// The TLS certificate or key could not be loaded.
    #[error("invalid tls certificate or key: {0}")]
    TlsConfig(String),
    /// The TLS handshake after STARTTLS failed or timed out.
    #[error("tls handshake failed: {0}")]
    TlsHandshake(std::io::Error),
    /// Reading from or writing to an SMTP/LMTP client failed.
    #[error("connection error: {0}")]
    Connection(#[source] std::io::Error),
    /// Talking to a remote Coffer server (`import --server`) failed.
    #[error("{0}")]
    Remote(#[from] crate::remote::RemoteError),
}

impl IngestError {
    /// Whether the disk (or quota) is full: SMTP answers `452`, HTTP `507`.
    pub fn is_storage_full(&self) -> bool {
        match self {
            IngestError::Volume(coffer_volume::Error::Io { source, .. })
            | IngestError::Io { source, .. } => coffer_volume::is_storage_full(source),
            IngestError::ApplierStopped(inner) | IngestError::Batch(inner) => {
                inner.is_storage_full()
            }
            _ => false,
        }
    }

    /// The coarse class of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            IngestError::Volume(e) => e.code(),
            IngestError::Catalog(e) => e.code(),
            IngestError::Index(e) => e.code(),
            // The audit trail must not fail open, but its trouble is temporary for the
            // sender unless its data is damaged.
            IngestError::Audit(e) if e.code() == ErrorCode::Corruption => ErrorCode::Corruption,
            IngestError::Audit(_) => ErrorCode::Unavailable,
            IngestError::Io { source, .. } if coffer_volume::is_storage_full(source) => {
                ErrorCode::Unavailable
            }
            IngestError::Io { .. } | IngestError::Task(_) => ErrorCode::Internal,
            IngestError::ApplierStopped(_)
            | IngestError::ShuttingDown
            | IngestError::Saturated
            | IngestError::TlsHandshake(_)
            | IngestError::Connection(_) => ErrorCode::Unavailable,
            IngestError::SmtpConfig(_)
            | IngestError::SmtpExposed { .. }
            | IngestError::TlsConfig(_) => ErrorCode::InvalidInput,
            IngestError::NoSuchMessage(_) | IngestError::NotAMessage { .. } => ErrorCode::NotFound,
            IngestError::Metadata { .. } => ErrorCode::Corruption,
            IngestError::Batch(inner) => inner.code(),
            IngestError::Remote(e) => e.code(),
        }
    }
}
