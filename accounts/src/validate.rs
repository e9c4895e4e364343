//! The rules every account field must follow, wherever it comes from (API body, command
//! line, CSV row): names, domains, mailbox addresses, passwords, archiving rules, roles.

use coffer_catalog::users::ALL_DOMAINS;
use coffer_model::Role;

use crate::AccountError;
use crate::password::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};

/// Archiving rules a user or group may carry.
pub const ARCHIVING_RULES: [&str; 4] = ["internal", "external", "both", "none"];

pub(crate) fn invalid(message: impl Into<String>) -> AccountError {
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
