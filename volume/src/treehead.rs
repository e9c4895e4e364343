//! Signed tree heads: what checkpoint and seal records, and the `SEAL` file, hold.
//!
//! A tree head states: in volume `volume_id` (year `year`), the first `tree_size` records
//! form a Merkle tree with root `root`, and record `tree_size` has hash `chain_head`,
//! at time `time_us`; signed with the archive key `key`. The signature covers
//! [`SignedTreeHead::signed_message`], a fixed binary encoding (documented in FORMAT.md),
//! not the JSON, so any JSON formatting can be re-checked against the canonical form.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys::{ArchiveKey, PublicKey};
use crate::merkle::Hash;

/// Version of the tree head encoding.
pub const TREE_HEAD_VERSION: u32 = 1;

/// What is wrong with a signed tree head (carried by [`Error::TreeHead`]; malformed hex
/// fields are [`Error::Hex`], naming the field).
#[derive(Debug, thiserror::Error)]
pub enum TreeHeadError {
    /// An encoding version this build does not read.
    #[error("unsupported tree head version {0}")]
    UnsupportedVersion(u32),
    /// The head names another signing key than the one it is checked with.
    #[error("signed by key {signed_by} but verifying with key {verifying_with}")]
    WrongKey {
        /// The fingerprint the head names.
        signed_by: String,
        /// The fingerprint of the key given to check it.
        verifying_with: String,
    },
    /// The ed25519 signature does not verify over the fields.
    #[error("signature does not verify")]
    BadSignature,
    /// The bytes are not a tree head's JSON.
    #[error("not a valid tree head: {0}")]
    NotJson(serde_json::Error),
    /// Valid JSON, but not byte for byte the canonical form.
    #[error("tree head is not in canonical form")]
    NotCanonical,
}

/// A signed statement of a volume's Merkle root and chain head at some size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedTreeHead {
    /// Encoding version.
    pub version: u32,
    /// The volume id, 32 lowercase hex digits.
    pub volume_id: String,
    /// The volume's year.
    pub year: i32,
    /// Number of records covered.
    pub tree_size: u64,
    /// Merkle root, lowercase hex.
    pub root: String,
    /// Hash of record `tree_size` (the chain head), lowercase hex; the genesis hash
    /// when `tree_size` is 0.
    pub chain_head: String,
    /// Signing time, microseconds since the Unix epoch.
    pub time_us: i64,
    /// Fingerprint of the signing key.
    pub key: String,
    /// ed25519 signature over [`SignedTreeHead::signed_message`], lowercase hex.
    pub signature: String,
}

impl SignedTreeHead {
    /// Builds and signs a tree head.
    pub fn sign(
        key: &ArchiveKey,
        volume_id: &[u8; 16],
        year: i32,
        tree_size: u64,
        root: &Hash,
        chain_head: &Hash,
        time_us: i64,
    ) -> Self {
        let message = signed_message(volume_id, year, tree_size, root, chain_head, time_us);
        Self {
            version: TREE_HEAD_VERSION,
            volume_id: hex::encode(volume_id),
            year,
            tree_size,
            root: hex::encode(root),
            chain_head: hex::encode(chain_head),
            time_us,
            key: key.fingerprint().to_string(),
            signature: hex::encode(key.sign(&message)),
        }
    }

    /// The bytes the signature covers, or why the fields are malformed.
    pub fn signed_message(&self) -> Result<Vec<u8>> {
        let volume_id: [u8; 16] = strict_hex(&self.volume_id, "volume_id")?;
        let root: Hash = strict_hex(&self.root, "root")?;
        let chain_head: Hash = strict_hex(&self.chain_head, "chain_head")?;
        Ok(signed_message(
            &volume_id,
            self.year,
            self.tree_size,
            &root,
            &chain_head,
            self.time_us,
        ))
    }

    /// The root as bytes.
    pub fn root_bytes(&self) -> Result<Hash> {
        strict_hex(&self.root, "root")
    }

    /// The chain head as bytes.
    pub fn chain_head_bytes(&self) -> Result<Hash> {
        strict_hex(&self.chain_head, "chain_head")
    }

    /// Checks the version, the key fingerprint and the signature.
    pub fn verify_signature(&self, public_key: &PublicKey) -> Result<()> {
        if self.version != TREE_HEAD_VERSION {
            return Err(TreeHeadError::UnsupportedVersion(self.version).into());
        }
        if self.key != public_key.fingerprint() {
            return Err(TreeHeadError::WrongKey {
                signed_by: self.key.clone(),
                verifying_with: public_key.fingerprint().to_string(),
            }
            .into());
        }
        let message = self.signed_message()?;
        let signature: [u8; 64] = strict_hex(&self.signature, "signature")?;
        if public_key.verify(&message, &signature) {
            Ok(())
        } else {
            Err(TreeHeadError::BadSignature.into())
        }
    }

    /// Canonical JSON (compact, fixed field order).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses canonical JSON; any other byte form is rejected, so a changed byte can
    /// never leave a tree head "equivalent".
    pub fn from_canonical_json(bytes: &[u8]) -> Result<Self> {
        let head: Self = serde_json::from_slice(bytes).map_err(TreeHeadError::NotJson)?;
        if head.to_json() != bytes {
            return Err(TreeHeadError::NotCanonical.into());
        }
        Ok(head)
    }
}

/// `"coffer-tree-head-v1\0" ‖ volume_id[16] ‖ year i32 ‖ tree_size u64 ‖ root[32] ‖
/// chain_head[32] ‖ time_us i64`, integers little-endian.
pub fn signed_message(
    volume_id: &[u8; 16],
    year: i32,
    tree_size: u64,
    root: &Hash,
    chain_head: &Hash,
    time_us: i64,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(20 + 16 + 4 + 8 + 64 + 8);
    m.extend_from_slice(b"coffer-tree-head-v1\0");
    m.extend_from_slice(volume_id);
    m.extend_from_slice(&year.to_le_bytes());
    m.extend_from_slice(&tree_size.to_le_bytes());
    m.extend_from_slice(root);
    m.extend_from_slice(chain_head);
    m.extend_from_slice(&time_us.to_le_bytes());
    m
}

/// Decodes lowercase hex of exactly N bytes (uppercase is rejected: one canonical form).
/// `what` names the field in the error.
pub fn strict_hex<const N: usize>(text: &str, what: &'static str) -> Result<[u8; N]> {
    let not_hex = || Error::Hex {
        what,
        digits: 2 * N,
    };
    if text.len() != 2 * N
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(not_hex());
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).map_err(|_| not_hex())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_canonical_form() {
        let key = ArchiveKey::generate().expect("key");
        let head = SignedTreeHead::sign(&key, &[7; 16], 2026, 3, &[0xab; 32], &[2; 32], 42);
        assert!(matches!(head.verify_signature(&key.public_key()), Ok(())));
        let json = head.to_json();
        assert_eq!(
            SignedTreeHead::from_canonical_json(&json).expect("canonical"),
            head
        );
        let mut spaced = b" ".to_vec();
        spaced.extend_from_slice(&json);
        assert!(SignedTreeHead::from_canonical_json(&spaced).is_err());
        let mut tampered = head.clone();
        tampered.tree_size = 4;
        assert!(tampered.verify_signature(&key.public_key()).is_err());
        let mut upper = head.clone();
        upper.root = upper.root.to_uppercase();
        assert!(upper.verify_signature(&key.public_key()).is_err());
        let other = ArchiveKey::generate().expect("key");
        assert!(head.verify_signature(&other.public_key()).is_err());
    }

    #[test]
    fn errors_are_typed_and_keep_their_messages() {
        let key = ArchiveKey::generate().expect("key");
        let head = SignedTreeHead::sign(&key, &[7; 16], 2026, 3, &[0xab; 32], &[2; 32], 42);
        let mut tampered = head.clone();
        tampered.tree_size = 4;
        let e = tampered.verify_signature(&key.public_key()).unwrap_err();
        assert!(matches!(e, Error::TreeHead(TreeHeadError::BadSignature)));
        assert_eq!(e.to_string(), "signature does not verify");

        let mut upper = head.clone();
        upper.root = upper.root.to_uppercase();
        let e = upper.verify_signature(&key.public_key()).unwrap_err();
        assert!(matches!(
            e,
            Error::Hex {
                what: "root",
                digits: 64
            }
        ));
        assert_eq!(e.to_string(), "root is not 64 lowercase hex digits");

        let other = ArchiveKey::generate().expect("key");
        let e = head.verify_signature(&other.public_key()).unwrap_err();
        assert!(matches!(e, Error::TreeHead(TreeHeadError::WrongKey { .. })));
        assert_eq!(
            e.to_string(),
            format!(
                "signed by key {} but verifying with key {}",
                key.fingerprint(),
                other.fingerprint()
            )
        );

        let mut future = head.clone();
        future.version = 2;
        let e = future.verify_signature(&key.public_key()).unwrap_err();
        assert_eq!(e.to_string(), "unsupported tree head version 2");

        let mut spaced = b" ".to_vec();
        spaced.extend_from_slice(&head.to_json());
        let e = SignedTreeHead::from_canonical_json(&spaced).unwrap_err();
        assert!(matches!(e, Error::TreeHead(TreeHeadError::NotCanonical)));
        assert_eq!(e.to_string(), "tree head is not in canonical form");
        let e = SignedTreeHead::from_canonical_json(b"{").unwrap_err();
        assert!(matches!(e, Error::TreeHead(TreeHeadError::NotJson(_))));
        assert!(e.to_string().starts_with("not a valid tree head: "));
    }
}
