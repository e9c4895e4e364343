//! Passwords: Argon2id hashing with OWASP's parameters (PHC strings, so verification
//! always uses the parameters stored with the hash) and generated passwords.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::AccountError;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted (Argon2 cost does not depend on it, but bodies should be small).
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// Argon2id cost parameters for new hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl Default for PasswordParams {
    /// OWASP's Argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Self {
            m_kib: Params::DEFAULT_M_COST,
            t: Params::DEFAULT_T_COST,
            p: Params::DEFAULT_P_COST,
        }
    }
}

impl PasswordParams {
    /// Tiny parameters that make tests fast. Never for production.
    pub const fn fast_insecure() -> Self {
        Self {
            m_kib: 64,
            t: 1,
            p: 1,
        }
    }
}

/// Hashes a password with Argon2id into a PHC string. CPU-heavy: call from a
/// blocking thread ([`hash_password_blocking`]).
pub fn hash_password(password: &str, params: PasswordParams) -> Result<String, AccountError> {
    let params = Params::new(params.m_kib, params.t, params.p, None)
        .map_err(|e| AccountError::Hash(e.to_string()))?;
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    hasher
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string (parameters taken from the string).
pub fn verify_password(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// [`hash_password`] on a blocking thread.
pub async fn hash_password_blocking(
    password: String,
    params: PasswordParams,
) -> Result<String, AccountError> {
    tokio::task::spawn_blocking(move || hash_password(&password, params))
        .await
        .map_err(|e| AccountError::Hash(e.to_string()))?
}

/// [`verify_password`] on a blocking thread.
pub async fn verify_password_blocking(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .unwrap_or(false)
}

/// A random password: 20 characters of base64url (120 bits).
pub fn generate_password() -> String {
    let mut bytes = [0u8; 15];
    rand::fill(&mut bytes[..]);
    URL_SAFE_NO_PAD.encode(bytes)
}
