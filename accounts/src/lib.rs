//! Coffer's accounts: people, journal API tokens and sessions as the administrator
//! manages them and as callers prove who they are. Shared by the HTTP API, the SMTP/LMTP
//! listener (AUTH with a journal token) and the command line, so all apply the same
//! rules: validation of usernames, roles, mailboxes, domains and passwords; Argon2id
//! hashing; bearer tokens; authentication of a token to a [`Principal`] with its role
//! and content scope; bulk import from CSV.
//!
//! - [`admin`]: every privileged change — users, tokens, groups, rules, domains — with
//!   its audit entry, whoever makes it ([`Administration`]).
//! - [`users`]: the user rules ([`UserSpec`], [`UserChange`]), [`scope_of`].
//! - [`validate`]: the field rules.
//! - [`password`]: Argon2id hashing and generated passwords.
//! - [`token`]: bearer tokens and [`authenticate`].
//! - [`csv_import`]: many users from a CSV file.
//!
//! The role table itself ([`coffer_model::allows`]) lives in `coffer-model`; this crate
//! decides who a caller *is*, never what a role may do.
//!
//! # Rules
//! - Usernames: 1–64 characters of `a-z 0-9 . _ @ -`, lowercased, starting with a
//!   letter or digit.
//! - Roles: `admin`, `officer`, `auditor`, `user` (`journal` is for API tokens only).
//! - A `user` owns at least one mailbox address (aliases welcome) and no domains; an
//!   `officer` has at least one domain (or `*` for every domain) and no mailboxes;
//!   admins and auditors have neither (they see no content).
//! - Passwords: 10 to 1024 characters; when none is given one is generated (20
//!   characters, ~120 bits) and returned once.
//! - Archiving rule: `internal`, `external`, `both` (default) or `none`.
//!
//! # Hashing
//! Argon2id with OWASP's parameters by default (19 MiB, 2 passes, 1 lane — the argon2
//! crate's defaults); [`PasswordParams::fast_insecure`] exists for tests only. Hashes are
//! PHC strings, so verification always uses the parameters stored with the hash.
//!
//! # Tokens
//! A bearer token is 32 random bytes, base64url without padding, after a prefix that
//! says what it is: `cs_` for a login session, `cj_` for a journal API token. Only the
//! SHA-256 of a token is stored.
//!
//! # CSV import
//! Header (first line, column order free, names case-insensitive):
//! `username,role,password,mailboxes,domains,groups,archiving_rule`; only `username`
//! and `role` are required. List fields are `;`-separated. An empty password is
//! generated and reported once. Each bad row is reported with its line number; good
//! rows are applied.

pub mod admin;
pub mod csv_import;
pub mod password;
pub mod token;
pub mod users;
pub mod validate;

use coffer_model::ErrorCode;

pub use admin::{Actor, Administration};
pub use csv_import::ImportReport;
pub use password::{
    MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, PasswordParams, generate_password, hash_password,
    hash_password_blocking, verify_password, verify_password_blocking,
};
pub use token::{JOURNAL_PREFIX, Principal, SESSION_PREFIX, authenticate, new_token, token_hash};
pub use users::{Created, UserChange, UserSpec, create_user, scope_of};
pub use validate::{
    ARCHIVING_RULES, parse_person_role, validate_domain, validate_mailbox, validate_name,
    validate_password, validate_rule,
};

/// Errors of account management.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Input that breaks a rule (the message says which).
    #[error("{0}")]
    Invalid(String),
    /// The catalog refused or failed.
    #[error(transparent)]
    Catalog(#[from] coffer_catalog::Error),
    /// Hashing failed (parameters, randomness).
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// Nobody may make this change (an administrator widening their own powers).
    #[error("{0}")]
    Forbidden(String),
    /// The audit trail could not record the change: nothing was changed.
    #[error(transparent)]
    Audit(#[from] coffer_audit::Error),
}

impl AccountError {
    /// The coarse class of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            AccountError::Invalid(_) => ErrorCode::InvalidInput,
            AccountError::Catalog(e) => e.code(),
            AccountError::Hash(_) => ErrorCode::Internal,
            AccountError::Forbidden(_) => ErrorCode::Forbidden,
            AccountError::Audit(e) if e.code() == ErrorCode::Corruption => ErrorCode::Corruption,
            AccountError::Audit(_) => ErrorCode::Unavailable,
        }
    }
}
