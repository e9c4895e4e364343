//! Offline proofs: the documented JSON an auditor keeps and checks with nothing but the
//! archive's public key (`coffer proof verify`), no data directory and no server.
//!
//! - [`InclusionProof`] (`coffer-inclusion-proof-v1`): one record (a message) is leaf
//!   `leaf_index` of the tree a signed tree head signs; with the record header and
//!   metadata it also binds the SHA-256 of the original message bytes, so an exported
//!   `.eml` verifies against it.
//! - [`ConsistencyProof`] (`coffer-consistency-proof-v1`): the tree of a later signed
//!   head extends the tree of an earlier one (RFC 9162 2.1.4), so nothing the earlier
//!   head covered was changed or removed.
//!
//! Both are canonical compact JSON (field order as below, no whitespace, lowercase hex;
//! one trailing newline allowed in a file): any byte changed is either malformed, not
//! canonical, or a value the check rejects. FORMAT.md, section "Proofs", is the spec.
//! Everything here is pure: bytes in, verdict out.

use serde::{Deserialize, Serialize};

use crate::keys::PublicKey;
use crate::merkle::{Hash, ProofError, leaf_hash, verify_consistency, verify_inclusion};
use crate::record::{RecordHeader, header_len_from, record_hash, sha256};
use crate::transition::{KeyChain, KeyTransition};
use crate::treehead::{SignedTreeHead, strict_hex};

/// The `format` of an inclusion proof.
pub const INCLUSION_FORMAT: &str = "coffer-inclusion-proof-v1";
/// The `format` of a consistency proof.
pub const CONSISTENCY_FORMAT: &str = "coffer-consistency-proof-v1";

/// Why a proof does not verify.
#[derive(Debug, thiserror::Error)]
pub enum ProofCheckError {
    /// Not JSON of the expected shape.
    #[error("not a proof document: {0}")]
    NotJson(serde_json::Error),
    /// Valid JSON, but not byte for byte the canonical form.
    #[error("proof is not in canonical form (was it edited?)")]
    NotCanonical,
    /// Another `format` than this build reads.
    #[error("unsupported proof format {0:?}")]
    Format(String),
    /// The signed tree head does not verify (signature, key or encoding).
    #[error("signed tree head: {0}")]
    TreeHead(#[source] crate::Error),
    /// A field disagrees with another or with the head.
    #[error("{0}")]
    Mismatch(String),
    /// A hex field is malformed.
    #[error("{0}")]
    Hex(#[source] crate::Error),
    /// The Merkle proof does not lead to the signed root.
    #[error("Merkle proof: {0}")]
    Merkle(#[from] ProofError),
}

type Result<T, E = ProofCheckError> = std::result::Result<T, E>;

/// An inclusion proof of one record against a signed tree head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    /// Always [`INCLUSION_FORMAT`].
    pub format: String,
    /// `YEAR-SEQUENCE` of the record (Coffer's message id).
    pub message_id: String,
    /// The volume's year (equals the head's).
    pub year: i32,
    /// SHA-256 of the original content, hex; present with `record_header`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_sha256: Option<String>,
    /// The record's header (104 bytes in version 1, 144 in version 2, 89 to 134 in
    /// version 3), hex; present when the proof binds the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_header: Option<String>,
    /// The record's metadata, hex; present with `record_header`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_meta: Option<String>,
    /// The previous record's hash, hex: present with `record_header` exactly when the
    /// header is of version 3, which does not hold it but whose record hash covers it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_prev: Option<String>,
    /// The record hash, hex.
    pub record_hash: String,
    /// Leaf index (sequence number − 1).
    pub leaf_index: u64,
    /// Size of the tree the proof leads to (equals the head's).
    pub tree_size: u64,
    /// Audit path, hex, from the leaf upwards (RFC 9162 2.1.3).
    pub audit_path: Vec<String>,
    /// The signed tree head whose root the path leads to.
    pub tree_head: SignedTreeHead,
    /// The volume's key transitions up to the head (omitted when none): they lead from
    /// any key of the chain the verifier trusts to the key that signed the head.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_transitions: Vec<KeyTransition>,
}

/// What a verified inclusion proof establishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InclusionVerdict {
    /// The record's id.
    pub message_id: String,
    /// Tree size of the signed head.
    pub tree_size: u64,
    /// Signing time of the head (µs since the epoch).
    pub head_time_us: i64,
    /// Key fingerprint that signed the head.
    pub key: String,
    /// The content SHA-256 the proof binds (None: record hash only).
    pub content_sha256: Option<String>,
    /// Whether a message file was compared with it.
    pub message_checked: bool,
}

fn canonical<T: Serialize + for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let value: T = serde_json::from_slice(body).map_err(ProofCheckError::NotJson)?;
    if serde_json::to_vec(&value).map_err(ProofCheckError::NotJson)? != body {
        return Err(ProofCheckError::NotCanonical);
    }
    Ok(value)
}

fn hex_field<const N: usize>(text: &str, what: &'static str) -> Result<[u8; N]> {
    strict_hex(text, what).map_err(ProofCheckError::Hex)
}

fn hex_vec(text: &str, what: &str) -> Result<Vec<u8>> {
    let lower = text
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    match hex::decode(text) {
        Ok(v) if lower => Ok(v),
        _ => Err(ProofCheckError::Mismatch(format!(
            "{what} is not lowercase hex"
        ))),
    }
}

fn path_hashes(path: &[String]) -> Result<Vec<Hash>> {
    path.iter()
        .map(|p| hex_field::<32>(p, "audit path hash"))
        .collect()
}

impl InclusionProof {
    /// Canonical JSON (what the API serves and `coffer proof verify` reads).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a proof document (canonical form only).
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        canonical(bytes)
    }

    /// Checks the proof with `public_key` (and, when given, the original message bytes):
    /// the head's signature, every field against the others, the audit path against the
    /// signed root, and — when the record header is included — the record hash
    /// recomputed from header and metadata and the content SHA-256 it commits to.
    pub fn verify(
        &self,
        public_key: &PublicKey,
        message: Option<&[u8]>,
    ) -> Result<InclusionVerdict> {
        if self.format != INCLUSION_FORMAT {
            return Err(ProofCheckError::Format(self.format.clone()));
        }
        let head = &self.tree_head;
        head.verify_signature(&head_key(public_key, head, &self.key_transitions)?)
            .map_err(ProofCheckError::TreeHead)?;
        let mismatch = |what: String| Err(ProofCheckError::Mismatch(what));
        if self.tree_size != head.tree_size {
            return mismatch(format!(
                "proof is for tree size {} but the head signs size {}",
                self.tree_size, head.tree_size
            ));
        }
        if self.year != head.year {
            return mismatch(format!(
                "proof names year {} but the head is of year {}",
                self.year, head.year
            ));
        }
        let expected_id = format!("{}-{}", self.year, self.leaf_index + 1);
        if self.message_id != expected_id {
            return mismatch(format!(
                "message id {} is not leaf {} of year {} (expected {expected_id})",
                self.message_id, self.leaf_index, self.year
            ));
        }
        let record: Hash = hex_field(&self.record_hash, "record_hash")?;
        let root = head.root_bytes().map_err(ProofCheckError::Hex)?;
        let path = path_hashes(&self.audit_path)?;
        verify_inclusion(
            self.leaf_index,
            self.tree_size,
            &leaf_hash(&record),
            &path,
            &root,
        )?;
        let content_sha256 = match (&self.record_header, &self.record_meta, &self.content_sha256) {
            (None, None, None) if self.record_prev.is_some() => {
                return mismatch("record_prev comes only with record_header".into());
            }
            (None, None, None) => None,
            (Some(header), Some(meta), Some(content)) => {
                let bytes = hex_vec(header, "record_header")?;
                // The header's version (byte 4), and in version 3 its integers, say how
                // long it is (FORMAT.md).
                let expected = header_len_from(&bytes).and_then(Result::ok);
                if expected != Some(bytes.len()) {
                    return mismatch(format!(
                        "record_header is {} bytes, not a record header of a known version",
                        bytes.len()
                    ));
                }
                let encoded = bytes.as_slice();
                let decoded = RecordHeader::decode(encoded)
                    .map_err(|e| ProofCheckError::Mismatch(format!("record_header: {e}")))?;
                let meta = hex_vec(meta, "record_meta")?;
                if decoded.seq != self.leaf_index + 1 {
                    return mismatch(format!(
                        "record header is of record {}, the proof of leaf {}",
                        decoded.seq, self.leaf_index
                    ));
                }
                if decoded.meta_len as usize != meta.len() {
                    return mismatch("record_meta length differs from the header's".into());
                }
                let prev: Hash = match (&self.record_prev, decoded.version >= 3) {
                    (Some(prev), true) => hex_field(prev, "record_prev")?,
                    (None, false) => [0; 32],
                    (None, true) => {
                        return mismatch(
                            "record_prev is missing: a version-3 record hash covers the previous record's hash".into(),
                        );
                    }
                    (Some(_), false) => {
                        return mismatch(format!(
                            "record_prev is only for version-3 records, this header is of version {}",
                            decoded.version
                        ));
                    }
                };
                if record_hash(encoded, &prev, &meta) != record {
                    return mismatch(
                        "record hash does not match the record header and metadata".into(),
                    );
                }
                let claimed: Hash = hex_field(content, "content_sha256")?;
                if claimed != decoded.content_sha256 {
                    return mismatch(
                        "content_sha256 differs from the one in the record header".into(),
                    );
                }
                if let Some(message) = message
                    && (u64::try_from(message.len()).ok() != Some(u64::from(decoded.raw_len))
                        || sha256(message) != claimed)
                {
                    return mismatch(format!(
                        "the message file ({} bytes, SHA-256 {}) is not the archived original ({} bytes, SHA-256 {content})",
                        message.len(),
                        hex::encode(sha256(message)),
                        decoded.raw_len
                    ));
                }
                Some(content.clone())
            }
            _ => {
                return mismatch(
                    "content_sha256, record_header and record_meta come together or not at all"
                        .into(),
                );
            }
        };
        if message.is_some() && content_sha256.is_none() {
            return mismatch(
                "this proof carries no record header, so it cannot bind a message file".into(),
            );
        }
        Ok(InclusionVerdict {
            message_id: self.message_id.clone(),
            tree_size: self.tree_size,
            head_time_us: head.time_us,
            key: head.key.clone(),
            content_sha256,
            message_checked: message.is_some(),
        })
    }
}

/// A consistency proof between two signed tree heads of one volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    /// Always [`CONSISTENCY_FORMAT`].
    pub format: String,
    /// The volume id (equals both heads').
    pub volume_id: String,
    /// The volume's year.
    pub year: i32,
    /// The older tree size.
    pub from: u64,
    /// The newer tree size.
    pub to: u64,
    /// The root of the older tree, hex (compare with the head you hold).
    pub from_root: String,
    /// RFC 9162 2.1.4 consistency proof, hex.
    pub proof: Vec<String>,
    /// The signed head of size `to`.
    pub tree_head: SignedTreeHead,
    /// The volume's key transitions up to `tree_head` (omitted when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_transitions: Vec<KeyTransition>,
}

impl ConsistencyProof {
    /// Canonical JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a proof document (canonical form only).
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        canonical(bytes)
    }

    /// Checks that the signed head of size `to` extends `held` (a head the auditor kept,
    /// of size `from`): both signatures, the volume, and the proof.
    pub fn verify(&self, public_key: &PublicKey, held: &SignedTreeHead) -> Result<()> {
        if self.format != CONSISTENCY_FORMAT {
            return Err(ProofCheckError::Format(self.format.clone()));
        }
        held.verify_signature(&head_key(public_key, held, &self.key_transitions)?)
            .map_err(ProofCheckError::TreeHead)?;
        self.tree_head
            .verify_signature(&head_key(
                public_key,
                &self.tree_head,
                &self.key_transitions,
            )?)
            .map_err(ProofCheckError::TreeHead)?;
        let new = &self.tree_head;
        if held.volume_id != self.volume_id || new.volume_id != self.volume_id {
            return Err(ProofCheckError::Mismatch(
                "the heads and the proof are of different volumes".into(),
            ));
        }
        if held.year != self.year || new.year != self.year {
            return Err(ProofCheckError::Mismatch(
                "the heads and the proof are of different years".into(),
            ));
        }
        if held.tree_size != self.from || new.tree_size != self.to {
            return Err(ProofCheckError::Mismatch(format!(
                "proof is from size {} to {}, the heads are of sizes {} and {}",
                self.from, self.to, held.tree_size, new.tree_size
            )));
        }
        if held.root != self.from_root {
            return Err(ProofCheckError::Mismatch(format!(
                "at size {} the volume's root is {} but the held head signs {}",
                self.from, self.from_root, held.root
            )));
        }
        check_extends(held, new, &self.proof)
    }
}

/// The key to check `head` with: `trusted` itself when the document carries no key
/// transitions; else the key of the chain the transitions form (each signed by both of
/// its keys, of the head's volume) that the head names — provided `trusted` is in it.
fn head_key(
    trusted: &PublicKey,
    head: &SignedTreeHead,
    transitions: &[KeyTransition],
) -> Result<PublicKey> {
    let Some(first) = transitions.first() else {
        return Ok(trusted.clone());
    };
    if transitions
        .iter()
        .any(|t| t.volume_id != head.volume_id || t.year != head.year)
    {
        return Err(ProofCheckError::Mismatch(
            "a key transition of another volume".into(),
        ));
    }
    let genesis = first.old_fingerprint().map_err(ProofCheckError::Hex)?;
    let chain =
        KeyChain::build(&genesis, transitions, trusted).map_err(ProofCheckError::Mismatch)?;
    chain.key(&head.key).cloned().ok_or_else(|| {
        ProofCheckError::Mismatch(format!(
            "the head is signed by key {}, which is not in the key chain",
            head.key
        ))
    })
}

/// Checks with a consistency proof that `new` extends `old` (sizes, roots). A proof
/// from the empty tree is trivially consistent; equal sizes need equal roots.
pub fn check_extends(old: &SignedTreeHead, new: &SignedTreeHead, proof: &[String]) -> Result<()> {
    if new.tree_size < old.tree_size {
        return Err(ProofCheckError::Mismatch(format!(
            "the newer head (size {}) is smaller than the held head (size {})",
            new.tree_size, old.tree_size
        )));
    }
    let old_root = old.root_bytes().map_err(ProofCheckError::Hex)?;
    let new_root = new.root_bytes().map_err(ProofCheckError::Hex)?;
    if old.tree_size == 0 {
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(ProofError::WrongLength(proof.len()).into())
        };
    }
    let path = path_hashes(proof)?;
    verify_consistency(old.tree_size, new.tree_size, &old_root, &new_root, &path)?;
    Ok(())
}
