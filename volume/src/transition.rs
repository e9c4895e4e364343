//! Key transitions: how a volume changes signing key without breaking what it proves.
//!
//! `coffer key rotate` appends to every writable volume a key-transition record
//! (kind 34) whose metadata is a [`KeyTransition`]: at tree size `tree_size` (every
//! record before it; root and chain head as in a tree head), at `time_us`, the key
//! `old_key` hands over to `new_key`. The statement is signed by **both** keys, over the
//! same bytes ([`KeyTransition::signed_message`]); tree heads after it are signed by the
//! new key. So a chain of keys runs from the key named in the manifest (the genesis
//! key, committed by the genesis hash) through each transition, every link vouched for
//! by both of its ends; a verifier that trusts any one key of the chain can check every
//! signature of the volume ([`KeyChain`]). A transition signed only by the new key (a
//! thief's) or only by the old one does not verify.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys::{ArchiveKey, PublicKey, fingerprint};
use crate::merkle::Hash;
use crate::treehead::strict_hex;

/// Version of the key-transition encoding.
pub const TRANSITION_VERSION: u32 = 1;

/// A signed statement that a volume's signing key changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyTransition {
    /// Encoding version.
    pub version: u32,
    /// The volume id, 32 lowercase hex digits.
    pub volume_id: String,
    /// The volume's year.
    pub year: i32,
    /// Records before the transition record.
    pub tree_size: u64,
    /// Merkle root over them, hex.
    pub root: String,
    /// Hash of record `tree_size` (the genesis hash when 0), hex.
    pub chain_head: String,
    /// When, microseconds since the Unix epoch (the record's receive time).
    pub time_us: i64,
    /// The raw 32-byte ed25519 public key handing over, 64 hex digits.
    pub old_key: String,
    /// The raw 32-byte ed25519 public key taking over, 64 hex digits.
    pub new_key: String,
    /// The old key's signature over [`KeyTransition::signed_message`], 128 hex digits.
    pub old_signature: String,
    /// The new key's signature over the same bytes, 128 hex digits.
    pub new_signature: String,
}

/// `"coffer-key-transition-v1\0" ‖ volume_id[16] ‖ year i32 ‖ tree_size u64 ‖ root[32] ‖
/// chain_head[32] ‖ time_us i64 ‖ old_key[32] ‖ new_key[32]`, integers little-endian.
#[allow(clippy::too_many_arguments)]
fn message(
    volume_id: &[u8; 16],
    year: i32,
    tree_size: u64,
    root: &Hash,
    chain_head: &Hash,
    time_us: i64,
    old_key: &[u8; 32],
    new_key: &[u8; 32],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(25 + 16 + 4 + 8 + 64 + 8 + 64);
    m.extend_from_slice(b"coffer-key-transition-v1\0");
    m.extend_from_slice(volume_id);
    m.extend_from_slice(&year.to_le_bytes());
    m.extend_from_slice(&tree_size.to_le_bytes());
    m.extend_from_slice(root);
    m.extend_from_slice(chain_head);
    m.extend_from_slice(&time_us.to_le_bytes());
    m.extend_from_slice(old_key);
    m.extend_from_slice(new_key);
    m
}

impl KeyTransition {
    /// Builds the statement and signs it with both keys.
    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        old: &ArchiveKey,
        new: &ArchiveKey,
        volume_id: &[u8; 16],
        year: i32,
        tree_size: u64,
        root: &Hash,
        chain_head: &Hash,
        time_us: i64,
    ) -> Self {
        let (old_raw, new_raw) = (old.public_key().to_bytes(), new.public_key().to_bytes());
        let m = message(
            volume_id, year, tree_size, root, chain_head, time_us, &old_raw, &new_raw,
        );
        Self {
            version: TRANSITION_VERSION,
            volume_id: hex::encode(volume_id),
            year,
            tree_size,
            root: hex::encode(root),
            chain_head: hex::encode(chain_head),
            time_us,
            old_key: hex::encode(old_raw),
            new_key: hex::encode(new_raw),
            old_signature: hex::encode(old.sign(&m)),
            new_signature: hex::encode(new.sign(&m)),
        }
    }

    /// The bytes both signatures cover, or why a field is malformed.
    pub fn signed_message(&self) -> Result<Vec<u8>> {
        Ok(message(
            &strict_hex(&self.volume_id, "volume_id")?,
            self.year,
            self.tree_size,
            &strict_hex(&self.root, "root")?,
            &strict_hex(&self.chain_head, "chain_head")?,
            self.time_us,
            &strict_hex(&self.old_key, "old_key")?,
            &strict_hex(&self.new_key, "new_key")?,
        ))
    }

    /// Fingerprint of the old key.
    pub fn old_fingerprint(&self) -> Result<String> {
        Ok(fingerprint(&strict_hex(&self.old_key, "old_key")?))
    }

    /// Fingerprint of the new key.
    pub fn new_fingerprint(&self) -> Result<String> {
        Ok(fingerprint(&strict_hex(&self.new_key, "new_key")?))
    }

    /// Checks the version and both signatures; returns (old key, new key).
    pub fn verify(&self) -> Result<(PublicKey, PublicKey)> {
        let bad = |detail: &str| Error::Transition(detail.to_string());
        if self.version != TRANSITION_VERSION {
            return Err(bad(&format!(
                "unsupported key transition version {}",
                self.version
            )));
        }
        let m = self.signed_message()?;
        let old = PublicKey::parse(&self.old_key)?;
        let new = PublicKey::parse(&self.new_key)?;
        if old == new {
            return Err(bad("a key transition to the same key"));
        }
        let old_sig: [u8; 64] = strict_hex(&self.old_signature, "old_signature")?;
        let new_sig: [u8; 64] = strict_hex(&self.new_signature, "new_signature")?;
        if !old.verify(&m, &old_sig) {
            return Err(bad("the old key's signature does not verify"));
        }
        if !new.verify(&m, &new_sig) {
            return Err(bad("the new key's signature does not verify"));
        }
        Ok((old, new))
    }

    /// Canonical compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses canonical JSON (any other byte form is rejected).
    pub fn from_canonical_json(bytes: &[u8]) -> Result<Self> {
        let t: Self = serde_json::from_slice(bytes)
            .map_err(|e| Error::Transition(format!("not a key transition: {e}")))?;
        if t.to_json() != bytes {
            return Err(Error::Transition(
                "key transition is not in canonical form".into(),
            ));
        }
        Ok(t)
    }
}

/// The signing keys of a volume, in order: the genesis key, then each key it was
/// rotated to.
#[derive(Debug, Clone)]
pub struct KeyChain {
    keys: Vec<PublicKey>,
}

impl KeyChain {
    /// The chain from the manifest's key fingerprint `genesis` through `transitions`
    /// (in record order), anchored at `trusted`: every transition must verify (both
    /// signatures) and hand over from the key before it, and `trusted` must be one of
    /// the keys. Without transitions the chain is `trusted` alone, which must then be
    /// the genesis key.
    pub fn build(
        genesis: &str,
        transitions: &[KeyTransition],
        trusted: &PublicKey,
    ) -> std::result::Result<Self, String> {
        let mut keys: Vec<PublicKey> = Vec::new();
        let mut current = genesis.to_string();
        for (i, t) in transitions.iter().enumerate() {
            let (old, new) = t
                .verify()
                .map_err(|e| format!("key transition {}: {e}", i + 1))?;
            if old.fingerprint() != current {
                return Err(format!(
                    "key transition {} hands over from key {}, but the key in use was {current}",
                    i + 1,
                    old.fingerprint()
                ));
            }
            if keys.is_empty() {
                keys.push(old);
            }
            current = new.fingerprint().to_string();
            keys.push(new);
        }
        if keys.is_empty() {
            if trusted.fingerprint() != genesis {
                return Err(format!(
                    "volume is signed with key {genesis} but the given public key is {}",
                    trusted.fingerprint()
                ));
            }
            keys.push(trusted.clone());
        }
        if !keys.iter().any(|k| k == trusted) {
            return Err(format!(
                "the given public key {} is not a key of this volume's chain ({})",
                trusted.fingerprint(),
                keys.iter()
                    .map(PublicKey::fingerprint)
                    .collect::<Vec<_>>()
                    .join(" → ")
            ));
        }
        Ok(Self { keys })
    }

    /// The genesis key.
    pub fn genesis(&self) -> &PublicKey {
        &self.keys[0]
    }

    /// The key of the chain with this fingerprint.
    pub fn key(&self, fingerprint: &str) -> Option<&PublicKey> {
        self.keys.iter().find(|k| k.fingerprint() == fingerprint)
    }

    /// Every key, genesis first.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }
}

/// The chain of key transitions that ends at the key with fingerprint `signer`, taken
/// from `known` (the transitions of any volumes, in any order, duplicates allowed):
/// oldest link first, each link's new key the next link's old key, the last link's new
/// key `signer`. Only transitions whose two signatures verify are used; the walk goes
/// back as far as `known` reaches. Empty when `signer` was never rotated to.
pub fn chain_to(signer: &str, known: &[KeyTransition]) -> Vec<KeyTransition> {
    let mut chain: Vec<KeyTransition> = Vec::new();
    let mut seen = vec![signer.to_string()];
    let mut current = signer.to_string();
    while let Some(link) = known.iter().find(|t| {
        t.new_fingerprint().ok().as_deref() == Some(current.as_str())
            && t.verify().is_ok()
            && t.old_fingerprint().is_ok_and(|old| !seen.contains(&old))
    }) {
        current = link.old_fingerprint().unwrap_or_default();
        seen.push(current.clone());
        chain.push(link.clone());
    }
    chain.reverse();
    chain
}

/// Follows `chain` (oldest link first, as [`chain_to`] builds it) from the key an
/// auditor trusts to the key with fingerprint `signer`, and returns that key. Every
/// link must verify (both signatures) and hand over from the previous link's new key,
/// `trusted` must be one of the chain's keys and the last new key must be `signer`.
/// Without links, `signer` must be `trusted` itself.
pub fn follow_chain(
    trusted: &PublicKey,
    chain: &[KeyTransition],
    signer: &str,
) -> std::result::Result<PublicKey, String> {
    let mut keys: Vec<PublicKey> = vec![];
    for (i, link) in chain.iter().enumerate() {
        let (old, new) = link
            .verify()
            .map_err(|e| format!("key transition {} of the chain: {e}", i + 1))?;
        match keys.last() {
            None => keys.push(old),
            Some(previous) if *previous == old => {}
            Some(previous) => {
                return Err(format!(
                    "key transition {} hands over from key {}, but the chain had reached {}",
                    i + 1,
                    old.fingerprint(),
                    previous.fingerprint()
                ));
            }
        }
        keys.push(new);
    }
    let Some(last) = keys.last() else {
        return if trusted.fingerprint() == signer {
            Ok(trusted.clone())
        } else {
            Err(format!(
                "signed by key {signer} but verifying with key {} (and no key transitions lead from it)",
                trusted.fingerprint()
            ))
        };
    };
    if last.fingerprint() != signer {
        return Err(format!(
            "the key chain ends at key {}, not at the signing key {signer}",
            last.fingerprint()
        ));
    }
    if !keys.iter().any(|k| k == trusted) {
        return Err(format!(
            "the given public key {} is not a key of the chain ({})",
            trusted.fingerprint(),
            keys.iter()
                .map(PublicKey::fingerprint)
                .collect::<Vec<_>>()
                .join(" → ")
        ));
    }
    Ok(last.clone())
}

/// The key to verify the volume in `dir` with, for an auditor (or `coffer verify` in
/// the data directory) who trusts `trusted`, the archive's current key, when that volume
/// may be older than the key: a volume sealed before a rotation holds no transition to
/// it. When `trusted` is a key of the volume's own chain, it is `trusted`. Otherwise
/// the archive's chain to `trusted` — [`chain_to`] over `archive_transitions`, the
/// transitions of every volume of the archive, each link signed by both of its keys —
/// authenticates the archive's older keys, and the one the volume names (its genesis
/// key or a key it was rotated to) is returned. Falls back to `trusted` (which then
/// fails verification, naming the keys) when none matches.
pub fn key_for_volume(
    dir: &std::path::Path,
    trusted: &PublicKey,
    archive_transitions: &[KeyTransition],
) -> PublicKey {
    key_for_volume_with(
        dir,
        trusted,
        || archive_transitions.to_vec(),
        || {
            crate::volume::Volume::open_read_only(dir)
                .map(|(volume, _)| volume.key_transitions())
                .unwrap_or_default()
        },
    )
}

/// [`key_for_volume`] with the transitions asked for only when they are needed: the
/// volume's own (`volume_transitions`; a caller that has the volume open passes them
/// from there) when its manifest names another key than `trusted`, the archive's
/// (`archive_transitions`) when not even those lead to `trusted`. Finding transitions
/// reads every record header of a volume, and a volume whose manifest names the trusted
/// key (every volume of an archive whose key never changed) needs none.
pub fn key_for_volume_with(
    dir: &std::path::Path,
    trusted: &PublicKey,
    archive_transitions: impl FnOnce() -> Vec<KeyTransition>,
    volume_transitions: impl FnOnce() -> Vec<KeyTransition>,
) -> PublicKey {
    let Ok(manifest) = crate::manifest::Manifest::load(dir) else {
        return trusted.clone();
    };
    if manifest.key == trusted.fingerprint() {
        return trusted.clone();
    }
    let mut named = vec![manifest.key.clone()];
    named.extend(
        volume_transitions()
            .iter()
            .filter_map(|t| t.new_fingerprint().ok()),
    );
    if named.iter().any(|fp| fp == trusted.fingerprint()) {
        return trusted.clone();
    }
    let chain = chain_to(trusted.fingerprint(), &archive_transitions());
    for link in chain.iter().rev() {
        if let Ok((old, _)) = link.verify()
            && named.iter().any(|fp| fp == old.fingerprint())
        {
            return old;
        }
    }
    trusted.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_signatures_are_required_and_the_chain_accepts_any_of_its_keys() {
        let (a, b, c) = (
            ArchiveKey::generate().expect("key"),
            ArchiveKey::generate().expect("key"),
            ArchiveKey::generate().expect("key"),
        );
        let ab = KeyTransition::sign(&a, &b, &[1; 16], 2026, 5, &[2; 32], &[3; 32], 7);
        let bc = KeyTransition::sign(&b, &c, &[1; 16], 2026, 9, &[4; 32], &[5; 32], 8);
        let json = ab.to_json();
        assert_eq!(
            KeyTransition::from_canonical_json(&json).expect("parse"),
            ab
        );
        ab.verify().expect("verifies");
        for trusted in [&a, &b, &c] {
            let chain = KeyChain::build(
                a.fingerprint(),
                &[ab.clone(), bc.clone()],
                &trusted.public_key(),
            )
            .expect("chain");
            assert_eq!(chain.genesis(), &a.public_key());
            assert_eq!(chain.keys().len(), 3);
        }
        let stranger = ArchiveKey::generate().expect("key");
        assert!(
            KeyChain::build(
                a.fingerprint(),
                std::slice::from_ref(&ab),
                &stranger.public_key()
            )
            .is_err()
        );
        assert!(
            KeyChain::build(a.fingerprint(), std::slice::from_ref(&bc), &b.public_key()).is_err(),
            "gap"
        );
        // Forged: the thief holds only the new key and signs for both ends.
        let mut forged = KeyTransition::sign(&c, &c, &[1; 16], 2026, 5, &[2; 32], &[3; 32], 7);
        forged.old_key = ab.old_key.clone();
        assert!(forged.verify().is_err());
        let mut only_new = ab.clone();
        only_new.old_signature = ab.new_signature.clone();
        assert!(only_new.verify().is_err());
        let mut changed = ab.clone();
        changed.tree_size = 6;
        assert!(changed.verify().is_err());
    }

    #[test]
    fn a_volume_sealed_before_a_rotation_verifies_through_the_archive_chain() {
        use crate::{RecordKind, Volume, VolumeConfig, verify_volume};
        let tmp = tempfile::tempdir().expect("tmp");
        let (a, b) = (
            ArchiveKey::generate().expect("key"),
            ArchiveKey::generate().expect("key"),
        );
        let (old_dir, new_dir) = (tmp.path().join("2025"), tmp.path().join("2026"));
        let (old, _) =
            Volume::create(&old_dir, "mail", 2025, &a, VolumeConfig::default()).expect("create");
        old.append(RecordKind::Audit, b"{}".to_vec(), None)
            .expect("append");
        old.seal().expect("seal");
        drop(old);
        let (current, _) =
            Volume::create(&new_dir, "mail", 2026, &a, VolumeConfig::default()).expect("create");
        current
            .append(RecordKind::Audit, b"{}".to_vec(), None)
            .expect("append");
        current.append_key_transition(&b).expect("rotate");
        drop(current);
        let (current, _) =
            Volume::open_writer(&new_dir, &b, VolumeConfig::default()).expect("reopen");
        current.checkpoint().expect("checkpoint");
        let archive = current.key_transitions();
        drop(current);

        let trusted = b.public_key();
        assert!(
            !verify_volume(&old_dir, &trusted).is_intact(),
            "the sealed volume holds no transition to the new key"
        );
        let key = key_for_volume(&old_dir, &trusted, &archive);
        assert_eq!(
            key,
            a.public_key(),
            "authenticated by the 2026 volume's transition"
        );
        assert!(verify_volume(&old_dir, &key).is_intact());
        assert_eq!(key_for_volume(&new_dir, &trusted, &archive), trusted);
        // Without the archive's transitions, or with a forged one, no older key is trusted.
        assert_eq!(key_for_volume(&old_dir, &trusted, &[]), trusted);
        let thief = ArchiveKey::generate().expect("key");
        let mut forged =
            KeyTransition::sign(&thief, &thief, &[1; 16], 2026, 1, &[2; 32], &[3; 32], 7);
        forged.old_key = hex::encode(a.public_key().to_bytes());
        forged.new_key = hex::encode(b.public_key().to_bytes());
        assert_eq!(key_for_volume(&old_dir, &trusted, &[forged]), trusted);
    }
}
