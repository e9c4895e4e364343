//! Coffer's volumes: immutable, hash-chained, append-only yearly files of records, the
//! source of truth of the archive. This crate knows nothing about email: a record is a
//! kind, a receive time, opaque metadata and opaque content.
//!
//! - [`record`]: the byte layout of a record (pure encode/decode/hash).
//! - [`codec`]: zstd content, per-volume dictionaries and their trainer.
//! - [`crypt`]: encrypted content (one data key per message, for crypto-shredding) and
//!   the [`ContentKeys`] trait through which the key store is reached.
//! - [`merkle`]: RFC 6962 / 9162 Merkle trees, inclusion and consistency proofs and
//!   their verifiers.
//! - [`Volume`]: create, open (with recovery), append with group commit, checkpoint,
//!   seal, read, prove.
//! - [`verify_volume`]: full verification from the files and the public key alone;
//!   [`check_since`]: does the volume still extend a head kept outside the host.
//! - [`proof`]: the offline proof documents (inclusion, consistency) and their checks.
//! - [`report`]: signed integrity reports (what a verification run found), checkable
//!   offline.
//! - [`ArchiveKey`] / [`PublicKey`]: the ed25519 signing key and its public half.
//! - [`SignedTreeHead`]: what checkpoints, seals and the `SEAL` file hold; [`HeadSink`]:
//!   where each new durable head is handed (witnesses).
//! - [`VolumeSet`]: a directory of yearly volumes; [`DataDirLock`]: one writer per
//!   data directory.
//! - [`location`]: secondary storage (move, attach); [`disposal`]: deleting a sealed
//!   volume whose every message record is disposed of, keeping its manifest, final
//!   signed tree head and a record of what it held.
//!
//! The byte layout is documented in `FORMAT.md` next to this crate.
//!
//! Invariants: records are only appended; sequence numbers are dense from 1; record
//! `n`'s previous hash is record `n-1`'s hash (the genesis hash for record 1); an
//! append is acknowledged only once fsynced; a volume never opens for writing past a
//! damaged record.

pub mod codec;
pub mod crypt;
pub mod disposal;
mod error;
mod fsutil;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod heads;
pub mod keys;
pub mod location;
mod lock;
pub mod manifest;
pub mod merkle;
pub mod proof;
pub mod record;
pub mod report;
pub mod segment;
mod set;
mod since;
pub mod transition;
pub mod treehead;
mod verify;
mod volume;

pub use codec::DictionaryConfig;
pub use crypt::{ContentKey, ContentKeys, KeyId, KeyLookup};
pub use error::{Error, Result, is_storage_full};
pub use heads::HeadSink;
pub use keys::{ArchiveKey, PublicKey, PublicKeyError};
pub use location::{LOCATION_FILE, Placement, Relocated, attach_volume, move_volume};
pub use lock::{DataDirLock, LOCK_FILE};
pub use manifest::{MANIFEST_FILE, Manifest, SEAL_FILE, VolumeState};
pub use merkle::{Hash, ProofError, ProofRangeError, verify_consistency, verify_inclusion};
pub use record::{RecordHeader, RecordKind};
pub use report::{IntegrityReport, SignedReport, VolumeIntegrity, WitnessState};
pub use segment::SegmentHeaderError;
pub use set::VolumeSet;
pub use since::{
    ConsistencyRequestError, SinceReport, check_since, consistency_document, inclusion_document,
    newest_head, signed_head_at,
};
pub use transition::{
    KeyChain, KeyTransition, chain_to, follow_chain, key_for_volume, key_for_volume_with,
};
pub use treehead::{SignedTreeHead, TreeHeadError};
pub use verify::{DisposedRecord, Problem, VerifyReport, verify_volume, verify_volume_with};
pub use volume::{
    Appended, MAX_CONTENT_LEN, Prepared, Record, RecoveryReport, TornTail, Volume, VolumeConfig,
    VolumeStats,
};
