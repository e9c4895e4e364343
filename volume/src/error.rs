//! The volume crate's error type: the one enum its fallible operations return, with a
//! typed variant (and, where a class has several causes, a kind enum) for each class of
//! problem, so that callers match on what went wrong instead of parsing messages. Only
//! the pure checkers an auditor also runs on bare bytes keep their own small enums
//! ([`crate::record::HeaderError`], [`crate::merkle::ProofError`]).

use std::path::PathBuf;

use coffer_model::ErrorCode;

use crate::keys::PublicKeyError;
use crate::segment::SegmentHeaderError;
use crate::treehead::TreeHeadError;

/// Result with the volume [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong with a volume.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Stored bytes failed an integrity check. Names the place precisely.
    #[error("volume {}: corruption in {segment} at byte {offset}{}: {detail}", volume.display(), seq.map(|s| format!(" (record {s})")).unwrap_or_default())]
    Corruption {
        /// The volume directory.
        volume: PathBuf,
        /// The segment (or other) file name.
        segment: String,
        /// Byte offset in that file.
        offset: u64,
        /// The record's sequence number, when known.
        seq: Option<u64>,
        /// What is wrong.
        detail: String,
    },
    /// A format version this build does not read.
    #[error("{}: {detail}", path.display())]
    Incompatible {
        /// The file.
        path: PathBuf,
        /// What was found and what is supported.
        detail: String,
    },
    /// A manifest or tree head file that cannot be read.
    #[error("{}: {detail}", path.display())]
    Manifest {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A key file problem.
    #[error("key {}: {detail}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The volume is sealed (or disposed) and takes no more records.
    #[error("volume {} is sealed; it takes no more records", .0.display())]
    Sealed(PathBuf),
    /// The volume was moved to secondary storage that is not present now
    /// ([`crate::location`]); it can be attached again once the storage is back.
    #[error("volume {year} is offline: it was moved to {}, which is not present (mount it, or `coffer volume attach DIR`)", location.display())]
    Offline {
        /// The volume year.
        year: i32,
        /// Where the volume was moved.
        location: PathBuf,
    },
    /// A volume move or attach that cannot be done as asked.
    #[error("{0}")]
    Relocation(String),
    /// The volume was opened read-only.
    #[error("volume {} is open read-only", .0.display())]
    ReadOnly(PathBuf),
    /// An earlier write or fsync failed; the writer refuses all further work and must be
    /// reopened (which runs recovery). Nothing after the failure was acknowledged.
    #[error("volume writer stopped after an earlier failure: {0}")]
    WriterFailed(String),
    /// No such record (yet).
    #[error("volume {}: no record {seq}", volume.display())]
    NoRecord {
        /// The volume directory.
        volume: PathBuf,
        /// The sequence number asked for.
        seq: u64,
    },
    /// Input larger than a record can hold.
    #[error("{what} of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its length.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// A record prepared with a dictionary this volume does not hold (a programming
    /// error: records are prepared by the volume they are written to).
    #[error("volume {}: {detail}", volume.display())]
    Dictionary {
        /// The volume directory.
        volume: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The data directory is locked by another writer.
    #[error("data directory {} is in use by another Coffer process ({holder}); stop it first or use a read-only command", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// Who holds it (pid, command, start time), as written in the lock file.
        holder: String,
    },
    /// The record's content was disposed of: its data key was destroyed (crypto-shredding).
    #[error("volume {}: record {seq} was disposed of ({by}); its content no longer exists", volume.display())]
    Disposed {
        /// The volume directory.
        volume: PathBuf,
        /// The record.
        seq: u64,
        /// What destroyed its key (the disposition run).
        by: String,
    },
    /// The key store failed, or a data key that must exist is not in it.
    #[error("key store: {0}")]
    KeyStore(String),
    /// A proof was asked for sizes the tree cannot answer.
    #[error("{0}")]
    ProofRange(#[from] crate::merkle::ProofRangeError),
    /// Bytes that are not a valid segment header. Readers of a volume report a bad
    /// header they find in a file as [`Error::Corruption`], naming the file.
    #[error(transparent)]
    SegmentHeader(#[from] SegmentHeaderError),
    /// A signed tree head that is not valid JSON, not in canonical form, or whose
    /// signature does not verify. Verification of a volume reports the same problems
    /// with the record or file they were found in.
    #[error(transparent)]
    TreeHead(#[from] TreeHeadError),
    /// A key transition that is malformed, not canonical, or whose signatures do not
    /// verify.
    #[error("{0}")]
    Transition(String),
    /// Text that must be a fixed number of lowercase hex digits and is not.
    #[error("{what} is not {digits} lowercase hex digits")]
    Hex {
        /// What was being decoded (`volume_id`, `root`, `chain_head`, `signature`).
        what: &'static str,
        /// How many hex digits it must have.
        digits: usize,
    },
    /// Text (or a key file) that is not an ed25519 public key.
    #[error("{}{problem}", path.as_ref().map(|p| format!("key {}: ", p.display())).unwrap_or_default())]
    PublicKey {
        /// The key file, when the key was read from one.
        path: Option<PathBuf>,
        /// What is wrong with it.
        problem: PublicKeyError,
    },
}

impl Error {
    /// The coarse class of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Io { source, .. } if is_storage_full(source) => ErrorCode::Unavailable,
            Error::Io { .. } | Error::Key { .. } | Error::PublicKey { .. } => ErrorCode::Internal,
            Error::Corruption { .. } | Error::Manifest { .. } | Error::SegmentHeader(_) => {
                ErrorCode::Corruption
            }
            Error::Incompatible { .. } | Error::Dictionary { .. } => ErrorCode::Internal,
            Error::Sealed(_) | Error::ReadOnly(_) | Error::Locked { .. } => ErrorCode::Conflict,
            Error::WriterFailed(_) | Error::Offline { .. } => ErrorCode::Unavailable,
            Error::Relocation(_) => ErrorCode::Conflict,
            Error::NoRecord { .. } | Error::Disposed { .. } => ErrorCode::NotFound,
            Error::KeyStore(_) => ErrorCode::Internal,
            // A bare tree head or hex error reaches a caller only when the caller handed
            // the text in (a tree head to check, say); what the crate finds wrong in its
            // own files it reports as corruption of that file.
            Error::TooLarge { .. }
            | Error::ProofRange(_)
            | Error::TreeHead(_)
            | Error::Transition(_)
            | Error::Hex { .. } => ErrorCode::InvalidInput,
        }
    }
}

/// Whether an I/O error means the disk is full (the sender should retry later).
pub fn is_storage_full(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}
