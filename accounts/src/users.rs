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
#[derive(Debug, Clone)]
pub(crate) struct Validated {
    pub(crate) username: String,
    pub(crate) role: Role,
    pub(crate) password: Option<String>,
    pub(crate) mailboxes: Vec<String>,
    pub(crate) domains: Vec<String>,
    pub(crate) groups: Vec<String>,
    pub(crate) archiving_rule: String,
}

impl Validated {
    /// What the audit trail records of the new account (never the password).
    pub(crate) fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "role": self.role,
            "mailboxes": self.mailboxes,
            "domains": self.domains,
            "groups": self.groups,
            "archiving_rule": self.archiving_rule,
            "password_generated": self.password.is_none(),
        })
    }
}

pub(crate) fn validate_spec(spec: &UserSpec) -> Result<Validated, AccountError> {
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

/// Hashes (on a blocking thread) and stores a validated user.
pub(crate) async fn store_user(
    catalog: &Catalog,
    v: Validated,
    params: PasswordParams,
    now: i64,
) -> Result<Created, AccountError> {
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

/// Validates, hashes and stores a new user, **without an audit entry**: the audited
/// path is [`crate::admin::Administration`]; this one serves first start-up (which
/// audits itself) and test set-ups.
pub async fn create_user(
    catalog: &Catalog,
    spec: &UserSpec,
    params: PasswordParams,
    now: i64,
) -> Result<Created, AccountError> {
    store_user(catalog, validate_spec(spec)?, params, now).await
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

/// A validated change of an existing user: the catalog update (without the password
/// hash, made when it is applied) and the new password.
#[derive(Debug, Clone)]
pub(crate) struct PlannedUpdate {
    /// The user as it is now.
    pub(crate) current: UserRecord,
    pub(crate) update: UserUpdate,
    pub(crate) password: Option<String>,
}

impl PlannedUpdate {
    /// What the audit trail records of the change (never the password).
    pub(crate) fn describe(&self) -> serde_json::Value {
        let mut detail = serde_json::Map::new();
        let u = &self.update;
        if let Some(role) = u.role {
            detail.insert("role".into(), serde_json::json!(role));
        }
        for (name, list) in [
            ("mailboxes", &u.mailboxes),
            ("domains", &u.domains),
            ("groups", &u.groups),
        ] {
            if let Some(list) = list {
                detail.insert(name.into(), serde_json::json!(list));
            }
        }
        if let Some(disabled) = u.disabled {
            detail.insert("disabled".into(), serde_json::json!(disabled));
        }
        if let Some(rule) = &u.archiving_rule {
            detail.insert("archiving_rule".into(), serde_json::json!(rule));
        }
        if self.password.is_some() {
            detail.insert("password_changed".into(), serde_json::json!(true));
        }
        serde_json::Value::Object(detail)
    }

    /// Whether the change widens or narrows who the user is or what they see: role,
    /// mailboxes, domains (what nobody may do to their own account).
    pub(crate) fn changes_role_or_scope(&self) -> bool {
        let u = &self.update;
        u.role.is_some_and(|r| r != self.current.role)
            || u.mailboxes
                .as_ref()
                .is_some_and(|m| *m != self.current.mailboxes)
            || u.domains
                .as_ref()
                .is_some_and(|d| *d != self.current.domains)
    }
}

/// Validates a change against the user as stored; the result must still satisfy the
/// role rules.
pub(crate) async fn plan_update(
    catalog: &Catalog,
    username: &str,
    change: &UserChange,
) -> Result<PlannedUpdate, AccountError> {
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
    if let Some(p) = &change.password {
        validate_password(p)?;
    }
    let archiving_rule = change
        .archiving_rule
        .as_deref()
        .map(validate_rule)
        .transpose()?;
    Ok(PlannedUpdate {
        update: UserUpdate {
            password_hash: None,
            role: change.role.as_ref().map(|_| role),
            mailboxes,
            domains,
            groups,
            disabled: change.disabled,
            archiving_rule,
        },
        password: change.password.clone(),
        current,
    })
}

/// Applies a planned change (hashing a new password on a blocking thread).
pub(crate) async fn apply_update(
    catalog: &Catalog,
    planned: PlannedUpdate,
    params: PasswordParams,
    now: i64,
) -> Result<UserRecord, AccountError> {
    let mut update = planned.update;
    if let Some(password) = planned.password {
        update.password_hash = Some(hash_password_blocking(password, params).await?);
    }
    Ok(catalog
        .update_user(&planned.current.username, &update, now)
        .await?)
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
