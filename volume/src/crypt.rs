//! Encrypted record content, for per-message crypto-shredding (issue 26, `FORMAT.md`
//! "Encrypted content"): each message's content is compressed, then encrypted with its
//! own random 256-bit data key, so destroying that one key makes that one message
//! unrecoverable while the record, its hashes and the chain stay as they are.
//!
//! The volume only knows the byte layout and the cipher; where data keys live, how they
//! are wrapped and how they are destroyed is the key store's business, reached through
//! the [`ContentKeys`] trait (implemented by the `coffer-keystore` crate).
//!
//! Stored bytes of an encrypted record (flag bit 0 set):
//!
//! ```text
//! key_id [16] ‖ ChaCha20-Poly1305(key, nonce = 12 zero bytes,
//!                                 aad = "coffer-content-v1\0" ‖ content_sha256,
//!                                 plaintext = the compressed content) ‖ tag [16]
//! ```
//!
//! A data key encrypts exactly one content, once, so the fixed nonce never repeats
//! under a key. The associated data binds the ciphertext to the plaintext's SHA-256 in
//! the header: stored bytes moved to another record do not decrypt there.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};

use crate::merkle::Hash;

/// Length of a key id.
pub const KEY_ID_LEN: usize = 16;
/// Bytes the encryption adds to the compressed content: the key id and the tag.
pub const ENCRYPTION_OVERHEAD: usize = KEY_ID_LEN + 16;
const AAD_PREFIX: &[u8] = b"coffer-content-v1\0";

/// The id of a data key: 16 random bytes, stored at the start of the encrypted content.
pub type KeyId = [u8; KEY_ID_LEN];

/// One record's data key.
#[derive(Clone, PartialEq, Eq)]
pub struct ContentKey {
    /// Its id.
    pub id: KeyId,
    /// The 256-bit ChaCha20-Poly1305 key.
    pub key: [u8; 32],
}

impl std::fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ContentKey({})", hex::encode(self.id))
    }
}

/// What the key store knows of a key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLookup {
    /// The key: the content can be read.
    Found(ContentKey),
    /// The key was destroyed on purpose (by a disposition): the text says by what.
    Destroyed(String),
    /// The key store does not know the id: keys were lost (or the record is foreign).
    Missing,
}

/// Where data keys come from and go: the key store. Errors are text (the store names
/// its file and what failed); the volume wraps them in [`crate::Error::KeyStore`].
pub trait ContentKeys: Send + Sync + std::fmt::Debug {
    /// A fresh key for one record, recorded in the store; it may not be durable until
    /// [`ContentKeys::make_durable`] returns for it.
    fn new_key(&self) -> Result<ContentKey, String>;
    /// Makes the key `id` (and every key handed out before it) durable. A record
    /// encrypted with a key is written only after this returned, so no durable record
    /// ever names a key that a crash could lose.
    fn make_durable(&self, id: &KeyId) -> Result<(), String>;
    /// The key `id`, or why there is none.
    fn lookup(&self, id: &KeyId) -> Result<KeyLookup, String>;
    /// What destroyed the key `id`, when it was destroyed: [`ContentKeys::lookup`]
    /// without reading or unwrapping a live key (a store that can tell more cheaply, as
    /// Coffer's does from its index, overrides it; `coffer verify` asks it for every
    /// message record).
    fn destroyed(&self, id: &KeyId) -> Result<Option<String>, String> {
        Ok(match self.lookup(id)? {
            KeyLookup::Destroyed(by) => Some(by),
            KeyLookup::Found(_) | KeyLookup::Missing => None,
        })
    }
}

fn aad(content_sha256: &Hash) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_PREFIX.len() + 32);
    aad.extend_from_slice(AAD_PREFIX);
    aad.extend_from_slice(content_sha256);
    aad
}

/// Encrypts compressed content with `key`: the stored bytes of an encrypted record.
pub fn encrypt(compressed: &[u8], key: &ContentKey, content_sha256: &Hash) -> Vec<u8> {
    let cipher = ChaCha20Poly1305::new(&key.key.into());
    let nonce = Nonce::from([0u8; 12]);
    let aad = aad(content_sha256);
    // Encryption with a valid key cannot fail but for a length beyond 256 GiB, which a
    // record (at most 4 GiB) never reaches.
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: compressed,
                aad: &aad,
            },
        )
        .unwrap_or_default();
    let mut out = Vec::with_capacity(KEY_ID_LEN + sealed.len());
    out.extend_from_slice(&key.id);
    out.extend_from_slice(&sealed);
    out
}

/// The key id an encrypted record's stored bytes name.
pub fn key_id_of(stored: &[u8]) -> Option<KeyId> {
    stored.get(..KEY_ID_LEN)?.try_into().ok()
}

/// Decrypts the stored bytes of an encrypted record with `key`: the compressed content.
pub fn decrypt(stored: &[u8], key: &ContentKey, content_sha256: &Hash) -> Result<Vec<u8>, String> {
    if stored.len() < ENCRYPTION_OVERHEAD {
        return Err("encrypted content shorter than its key id and tag".into());
    }
    if stored[..KEY_ID_LEN] != key.id {
        return Err("encrypted content names another data key".into());
    }
    let cipher = ChaCha20Poly1305::new(&key.key.into());
    let nonce = Nonce::from([0u8; 12]);
    let aad = aad(content_sha256);
    cipher
        .decrypt(
            &nonce,
            Payload {
                msg: &stored[KEY_ID_LEN..],
                aad: &aad,
            },
        )
        .map_err(|_| "encrypted content fails authentication with its data key".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let key = ContentKey {
            id: [7; 16],
            key: [9; 32],
        };
        let sha = [1; 32];
        let stored = encrypt(b"compressed bytes", &key, &sha);
        assert_eq!(stored.len(), 16 + ENCRYPTION_OVERHEAD);
        assert_eq!(key_id_of(&stored), Some([7; 16]));
        assert_eq!(decrypt(&stored, &key, &sha).unwrap(), b"compressed bytes");
        // Another content hash (the bytes moved to another record): refused.
        assert!(decrypt(&stored, &key, &[2; 32]).is_err());
        // Another key with the same id: refused.
        let other = ContentKey {
            id: [7; 16],
            key: [8; 32],
        };
        assert!(decrypt(&stored, &other, &sha).is_err());
        // A flipped bit anywhere: refused.
        for i in 16..stored.len() {
            let mut bad = stored.clone();
            bad[i] ^= 1;
            assert!(decrypt(&bad, &key, &sha).is_err(), "byte {i}");
        }
    }
}
