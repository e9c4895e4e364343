//! Bearer tokens — `cs_` login sessions and `cj_` journal API tokens, of which only the
//! SHA-256 is stored — and [`authenticate`], which turns a presented token into the
//! [`Principal`] behind it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_catalog::Catalog;
use coffer_model::{Role, Scope};
use sha2::Digest;

use crate::users::scope_of;

/// Prefix of login session tokens.
pub const SESSION_PREFIX: &str = "cs_";
/// Prefix of journal API tokens.
pub const JOURNAL_PREFIX: &str = "cj_";
/// A new bearer token with `prefix`, and the SHA-256 to store.
pub fn new_token(prefix: &str) -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes[..]);
    let token = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = token_hash(&token);
    (token, hash)
}

/// The SHA-256 under which a token is stored.
pub fn token_hash(token: &str) -> [u8; 32] {
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// Who presented a token: a person (login session) or a journal source (API token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// User id, or API token id for journal tokens; what logs carry.
    pub id: i64,
    /// Username or token name; what the audit trail names.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Content scope ([`scope_of`]; journal tokens see no content).
    pub scope: Scope,
}

/// The principal behind `token` at time `now` (Unix seconds): a live login session of an
/// enabled user (not expired, used within the last `session_idle` seconds), or a journal
/// API token that is not revoked. `None` for anything else (unknown prefix, unknown,
/// expired, idle or revoked token).
pub async fn authenticate(
    catalog: &Catalog,
    token: &str,
    now: i64,
    session_idle: i64,
) -> Result<Option<Principal>, coffer_catalog::Error> {
    let hash = token_hash(token);
    if token.starts_with(SESSION_PREFIX) {
        Ok(catalog
            .session_user(&hash, now, session_idle)
            .await?
            .map(|user| Principal {
                id: user.id,
                scope: scope_of(&user),
                name: user.username,
                role: user.role,
            }))
    } else if token.starts_with(JOURNAL_PREFIX) {
        Ok(catalog
            .api_token(&hash)
            .await?
            .filter(|t| !t.revoked)
            .map(|t| Principal {
                id: t.id,
                name: t.name,
                role: t.role,
                scope: Scope::mailboxes(Vec::<String>::new()),
            }))
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::*;

    #[test]
    fn hashes_verify_and_tokens_are_distinct() {
        let phc =
            hash_password("correct horse battery", PasswordParams::fast_insecure()).expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(verify_password("correct horse battery", &phc));
        assert!(!verify_password("wrong horse battery", &phc));
        assert!(!verify_password("x", "not a phc string"));
        let (a, ha) = new_token(SESSION_PREFIX);
        let (b, _) = new_token(SESSION_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with("cs_") && a.len() == 3 + 43);
        assert_eq!(token_hash(&a), ha);
        assert_eq!(generate_password().len(), 20);
        let production = PasswordParams::default();
        assert_eq!(
            (production.m_kib, production.t, production.p),
            (19 * 1024, 2, 1)
        );
    }
}
