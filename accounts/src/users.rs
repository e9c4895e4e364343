//! Users as the administrator creates and changes them: validation of the whole
//! account (role and its fields), hashing, storage; and the content scope a user's role
//! and fields give them.

use coffer_catalog::Catalog;
use coffer_catalog::users::{ALL_DOMAINS, NewUser, UserRecord, UserUpdate};
use coffer_model::{Role, Scope};
use serde::Deserialize;

use crate::AccountError;
use crate::password::{PasswordParams, generate_password, hash_password_blocking};
use crate::validate::{
    invalid, parse_person_role, validate_domain, validate_mailbox, validate_name,
    validate_password, validate_rule,
};

/// A user as the administrator describes it (API body, command line, CSV row).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// The content scope of a user account: a `user` their own mailbox addresses (aliases
/// included), an `officer` the mailboxes of their domains (or all with `*`); admins,
/// auditors and journal tokens see none. Groups grant nothing.
pub fn scope_of(user: &UserRecord) -> Scope {
    match user.role {
        Role::User => Scope::mailboxes(&user.mailboxes),
        Role::Officer if user.domains.iter().any(|d| d == ALL_DOMAINS) => Scope::All,
        Role::Officer => Scope::domains(&user.domains),
        Role::Admin | Role::Auditor | Role::Journal => Scope::mailboxes(Vec::<String>::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
