//! Accounts as the administrator manages them, shared by the HTTP API and the command
//! line so both apply the same rules: validation of usernames, roles, mailboxes,
//! domains and passwords; Argon2id hashing; bearer-token generation; bulk import from
//! CSV.
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

use std::io::Read;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_catalog::Catalog;
use coffer_catalog::users::{ALL_DOMAINS, NewUser, UserRecord, UserUpdate};
use coffer_model::{ErrorCode, Role};
use serde::Deserialize;
use sha2::Digest;

/// Prefix of login session tokens.
pub const SESSION_PREFIX: &str = "cs_";
/// Prefix of journal API tokens.
pub const JOURNAL_PREFIX: &str = "cj_";
/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted (Argon2 cost does not depend on it, but bodies should be small).
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// Archiving rules a user or group may carry.
pub const ARCHIVING_RULES: [&str; 4] = ["internal", "external", "both", "none"];

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
}

impl AccountError {
    /// The coarse class of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            AccountError::Invalid(_) => ErrorCode::InvalidInput,
            AccountError::Catalog(e) => e.code(),
            AccountError::Hash(_) => ErrorCode::Internal,
        }
    }
}

impl From<AccountError> for crate::error::ApiError {
    fn from(e: AccountError) -> Self {
        crate::error::ApiError::from_code(e.code(), e.to_string())
    }
}

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

/// A random password: 20 characters of base64url (120 bits).
pub fn generate_password() -> String {
    let mut bytes = [0u8; 15];
    rand::fill(&mut bytes[..]);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A user as the administrator describes it (API body, command line, CSV row).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// Login name.
    pub username: String,
    /// Password; generated (and returned once) when absent.
    #[serde(default)]
    pub password: Option<String>,
    /// `admin`, `officer`, `auditor` or `user`.
    pub role: String,
    /// Mailbox addresses the user owns (role `user`).
    #[serde(default)]
    pub mailboxes: Vec<String>,
    /// Domains in the officer's scope (`*` for all; role `officer`).
    #[serde(default)]
    pub domains: Vec<String>,
    /// Groups to join (created when missing).
    #[serde(default)]
    pub groups: Vec<String>,
    /// `internal`, `external`, `both` (default) or `none`.
    #[serde(default)]
    pub archiving_rule: Option<String>,
}

fn invalid(message: impl Into<String>) -> AccountError {
    AccountError::Invalid(message.into())
}

/// Checks a login or group name.
pub fn validate_name(what: &str, name: &str) -> Result<String, AccountError> {
    let name = name.trim().to_ascii_lowercase();
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._@-".contains(&b));
    let starts_ok = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > 64 || !ok_chars || !starts_ok {
        return Err(invalid(format!(
            "{what} must be 1 to 64 characters of a-z 0-9 . _ @ -, starting with a letter or digit"
        )));
    }
    Ok(name)
}

/// Checks a domain name (or `*` when `allow_all`).
pub fn validate_domain(domain: &str, allow_all: bool) -> Result<String, AccountError> {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    if allow_all && domain == ALL_DOMAINS {
        return Ok(domain);
    }
    let labels_ok = domain.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if domain.len() > 253 || !domain.contains('.') || !labels_ok {
        return Err(invalid("not a domain name (expected e.g. example.com)"));
    }
    Ok(domain)
}

/// Checks a mailbox address.
pub fn validate_mailbox(address: &str) -> Result<String, AccountError> {
    let address = address.trim().to_ascii_lowercase();
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err(invalid("a mailbox must be an address (local@domain)"));
    };
    if local.is_empty()
        || address.len() > 254
        || address.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid("a mailbox must be an address (local@domain)"));
    }
    validate_domain(domain, false)
        .map_err(|_| invalid("a mailbox must be an address (local@domain)"))?;
    Ok(address)
}

/// Checks a password's length.
pub fn validate_password(password: &str) -> Result<(), AccountError> {
    let n = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
        return Err(invalid(format!(
            "a password must have {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

/// Checks an archiving rule.
pub fn validate_rule(rule: &str) -> Result<String, AccountError> {
    let rule = rule.trim().to_ascii_lowercase();
    if ARCHIVING_RULES.contains(&rule.as_str()) {
        Ok(rule)
    } else {
        Err(invalid(
            "archiving_rule must be internal, external, both or none",
        ))
    }
}

/// Parses a role given to a person (not `journal`).
pub fn parse_person_role(role: &str) -> Result<Role, AccountError> {
    match role.parse::<Role>() {
        Ok(Role::Journal) => Err(invalid(
            "role journal is for API tokens (coffer token create)",
        )),
        Ok(role) => Ok(role),
        Err(e) => Err(invalid(e)),
    }
}

/// Checks that mailboxes and domains fit the role.
fn check_role_fields(
    role: Role,
    mailboxes: &[String],
    domains: &[String],
) -> Result<(), AccountError> {
    match role {
        Role::User if mailboxes.is_empty() => Err(invalid("a user needs at least one mailbox")),
        Role::User if !domains.is_empty() => Err(invalid("a user has mailboxes, not domains")),
        Role::Officer if domains.is_empty() => Err(invalid(
            "an officer needs at least one domain (or * for every domain)",
        )),
        Role::Officer if !mailboxes.is_empty() => {
            Err(invalid("an officer has domains, not mailboxes"))
        }
        Role::Admin | Role::Auditor if !mailboxes.is_empty() || !domains.is_empty() => Err(
            invalid("admins and auditors see no content: no mailboxes or domains"),
        ),
        _ => Ok(()),
    }
}

/// A validated user, ready to hash and store.
struct Validated {
    username: String,
    role: Role,
    password: Option<String>,
    mailboxes: Vec<String>,
    domains: Vec<String>,
    groups: Vec<String>,
    archiving_rule: String,
}

fn validate_spec(spec: &UserSpec) -> Result<Validated, AccountError> {
    let username = validate_name("username", &spec.username)?;
    let role = parse_person_role(&spec.role)?;
    let mailboxes = spec
        .mailboxes
        .iter()
        .map(|m| validate_mailbox(m))
        .collect::<Result<Vec<_>, _>>()?;
    let domains = spec
        .domains
        .iter()
        .map(|d| validate_domain(d, true))
        .collect::<Result<Vec<_>, _>>()?;
    let groups = spec
        .groups
        .iter()
        .map(|g| validate_name("group name", g))
        .collect::<Result<Vec<_>, _>>()?;
    check_role_fields(role, &mailboxes, &domains)?;
    if let Some(p) = &spec.password {
        validate_password(p)?;
    }
    let archiving_rule = validate_rule(spec.archiving_rule.as_deref().unwrap_or("both"))?;
    Ok(Validated {
        username,
        role,
        password: spec.password.clone(),
        mailboxes,
        domains,
        groups,
        archiving_rule,
    })
}

/// A created user and, when the password was generated, that password (shown once).
#[derive(Debug, Clone)]
pub struct Created {
    /// The stored user.
    pub user: UserRecord,
    /// The generated password, if one was generated.
    pub generated_password: Option<String>,
}

/// Validates, hashes (on a blocking thread) and stores a new user.
pub async fn create_user(
    catalog: &Catalog,
    spec: &UserSpec,
    params: PasswordParams,
    now: i64,
) -> Result<Created, AccountError> {
    let v = validate_spec(spec)?;
    let (password, generated) = match v.password {
        Some(p) => (p, None),
        None => {
            let p = generate_password();
            (p.clone(), Some(p))
        }
    };
    let password_hash = hash_password_blocking(password, params).await?;
    let user = catalog
        .create_user(
            &NewUser {
                username: v.username,
                password_hash,
                role: v.role,
                mailboxes: v.mailboxes,
                domains: v.domains,
                groups: v.groups,
                archiving_rule: v.archiving_rule,
            },
            now,
        )
        .await?;
    Ok(Created {
        user,
        generated_password: generated,
    })
}

/// Changes to a user as the administrator describes them; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    /// New password.
    #[serde(default)]
    pub password: Option<String>,
    /// New role.
    #[serde(default)]
    pub role: Option<String>,
    /// New mailbox list.
    #[serde(default)]
    pub mailboxes: Option<Vec<String>>,
    /// New domain list.
    #[serde(default)]
    pub domains: Option<Vec<String>>,
    /// New group list.
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    /// Disable (true) or re-enable (false); disabling ends every session.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// New archiving rule.
    #[serde(default)]
    pub archiving_rule: Option<String>,
}

/// Validates and applies a change; the result must still satisfy the role rules.
pub async fn update_user(
    catalog: &Catalog,
    username: &str,
    change: &UserChange,
    params: PasswordParams,
    now: i64,
) -> Result<UserRecord, AccountError> {
    let Some(current) = catalog.user_by_name(username).await? else {
        return Err(AccountError::Catalog(coffer_catalog::Error::NotFound(
            format!("no user {:?}", username.trim().to_ascii_lowercase()),
        )));
    };
    let role = match &change.role {
        Some(r) => parse_person_role(r)?,
        None => current.role,
    };
    let mailboxes = match &change.mailboxes {
        Some(list) => Some(
            list.iter()
                .map(|m| validate_mailbox(m))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let domains = match &change.domains {
        Some(list) => Some(
            list.iter()
                .map(|d| validate_domain(d, true))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let groups = match &change.groups {
        Some(list) => Some(
            list.iter()
                .map(|g| validate_name("group name", g))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    check_role_fields(
        role,
        mailboxes.as_ref().unwrap_or(&current.mailboxes),
        domains.as_ref().unwrap_or(&current.domains),
    )?;
    let password_hash = match &change.password {
        Some(p) => {
            validate_password(p)?;
            Some(hash_password_blocking(p.clone(), params).await?)
        }
        None => None,
    };
    let archiving_rule = change
        .archiving_rule
        .as_deref()
        .map(validate_rule)
        .transpose()?;
    let update = UserUpdate {
        password_hash,
        role: change.role.as_ref().map(|_| role),
        mailboxes,
        domains,
        groups,
        disabled: change.disabled,
        archiving_rule,
    };
    Ok(catalog.update_user(username, &update, now).await?)
}

/// The outcome of a CSV import.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Users created, with generated passwords where none was given.
    pub created: Vec<Created>,
    /// Bad rows: line number (1 = the header) and what is wrong.
    pub errors: Vec<(u64, String)>,
}

const CSV_COLUMNS: [&str; 7] = [
    "username",
    "role",
    "password",
    "mailboxes",
    "domains",
    "groups",
    "archiving_rule",
];

/// Imports users from CSV (see the [module docs](self) for the header). A header that
/// lacks `username` or `role`, or names an unknown column, fails the whole file.
pub async fn import_csv(
    catalog: &Catalog,
    input: impl Read,
    params: PasswordParams,
    now: i64,
) -> Result<ImportReport, AccountError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| invalid(format!("line 1: unreadable CSV header: {e}")))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    for h in &headers {
        if !CSV_COLUMNS.contains(&h.as_str()) {
            return Err(invalid(format!(
                "line 1: unknown column {h:?} (expected {})",
                CSV_COLUMNS.join(",")
            )));
        }
    }
    for required in ["username", "role"] {
        if !headers.iter().any(|h| h == required) {
            return Err(invalid(format!(
                "line 1: the header has no {required:?} column"
            )));
        }
    }
    let mut report = ImportReport::default();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                report.errors.push((line, format!("unreadable CSV: {e}")));
                // A broken quote can swallow the rest; stop rather than guess.
                if !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. }) {
                    break;
                }
                continue;
            }
        }
        let line = record.position().map_or(line, csv::Position::line);
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() != headers.len() {
            report.errors.push((
                line,
                format!("expected {} fields, found {}", headers.len(), record.len()),
            ));
            continue;
        }
        let mut spec = UserSpec::default();
        for (name, value) in headers.iter().zip(record.iter()) {
            let list = || {
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            };
            match name.as_str() {
                "username" => spec.username = value.to_string(),
                "role" => spec.role = value.to_string(),
                "password" => spec.password = (!value.is_empty()).then(|| value.to_string()),
                "mailboxes" => spec.mailboxes = list(),
                "domains" => spec.domains = list(),
                "groups" => spec.groups = list(),
                "archiving_rule" => {
                    spec.archiving_rule = (!value.is_empty()).then(|| value.to_string())
                }
                _ => {}
            }
        }
        match create_user(catalog, &spec, params, now).await {
            Ok(created) => report.created.push(created),
            Err(AccountError::Invalid(m)) => report.errors.push((line, m)),
            Err(AccountError::Catalog(
                e @ (coffer_catalog::Error::Conflict(_) | coffer_catalog::Error::NotFound(_)),
            )) => report.errors.push((line, e.to_string())),
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn validation_rules() {
        assert_eq!(
            validate_name("username", " Alice.B ").expect("ok"),
            "alice.b"
        );
        for bad in ["", "-x", "a b", "ä", &"x".repeat(65)] {
            assert!(validate_name("username", bad).is_err(), "{bad}");
        }
        assert_eq!(
            validate_mailbox("Bob@Example.COM").expect("ok"),
            "bob@example.com"
        );
        for bad in [
            "bob",
            "@example.com",
            "bob@",
            "bob@localhost",
            "b ob@example.com",
        ] {
            assert!(validate_mailbox(bad).is_err(), "{bad}");
        }
        assert!(validate_domain("*", true).is_ok());
        assert!(validate_domain("*", false).is_err());
        assert!(validate_password("short").is_err());
        assert!(parse_person_role("journal").is_err());
        let spec = |role: &str, m: &[&str], d: &[&str]| UserSpec {
            username: "x".into(),
            role: role.into(),
            mailboxes: m.iter().map(|s| s.to_string()).collect(),
            domains: d.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        assert!(validate_spec(&spec("user", &["a@example.com"], &[])).is_ok());
        assert!(validate_spec(&spec("user", &[], &[])).is_err());
        assert!(validate_spec(&spec("officer", &[], &["*"])).is_ok());
        assert!(validate_spec(&spec("officer", &["a@example.com"], &["example.com"])).is_err());
        assert!(validate_spec(&spec("auditor", &[], &["example.com"])).is_err());
        assert!(validate_spec(&spec("admin", &[], &[])).is_ok());
    }
}
