//! Every privileged change — users, journal tokens, groups, archiving rules, domains —
//! through one path that leaves an audit entry, whoever makes it (the HTTP API, the
//! command line beside a stopped server, the command line through a running server's
//! local admin socket).
//!
//! # A change and its audit entry are one outcome
//! 1. The change is validated completely first — field rules, role rules, whether its
//!    target exists or its name is free. A refused change is audited as `failure` (with
//!    the reason) and nothing is changed.
//! 2. The change is recorded in the audit trail — fsynced — **before** it is applied. If
//!    the audit trail cannot record it, nothing is changed.
//! 3. The change is applied. Should applying fail after all (the database went away, a
//!    concurrent change took the name), a second entry records the failure: the change
//!    recorded in step 2 did not happen.
//!
//! So no change is ever applied without an entry. The one window left: a crash between
//! steps 2 and 3 leaves an entry for a change that was never applied (the catalog shows
//! what is true); that is the safe side for an audit trail.
//!
//! # Nobody changes their own powers
//! An administrator cannot change their own role, mailboxes or domains, nor disable their
//! own account: widening one's own scope takes a second administrator.

use std::io::Read;
use std::sync::Arc;

pub use coffer_audit::Actor;
use coffer_audit::AuditLog;
use coffer_catalog::Catalog;
use coffer_catalog::sessions::ApiTokenRecord;
use coffer_catalog::users::{DomainRecord, GroupRecord, UserRecord};
use coffer_model::Role;
use serde_json::json;

use crate::AccountError;
use crate::csv_import::{ImportReport, read_rows};
use crate::password::PasswordParams;
use crate::token::{JOURNAL_PREFIX, new_token};
use crate::users::{
    Created, UserChange, UserSpec, apply_update, plan_update, store_user, validate_spec,
};
use crate::validate::{validate_domain, validate_name, validate_rule};

/// Audited account administration over one catalog and audit trail.
#[derive(Clone)]
pub struct Administration {
    catalog: Arc<Catalog>,
    audit: AuditLog,
    params: PasswordParams,
}

impl std::fmt::Debug for Administration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Administration").finish_non_exhaustive()
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Administration {
    /// Administration over `catalog`, recording into `audit`; new passwords are hashed
    /// with `params`.
    pub fn new(catalog: Arc<Catalog>, audit: AuditLog, params: PasswordParams) -> Self {
        Self {
            catalog,
            audit,
            params,
        }
    }

    /// The catalog.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Records a refused change, then gives back the reason.
    async fn refused<T>(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        error: AccountError,
    ) -> Result<T, AccountError> {
        self.audit.refused(actor, action, target, error).await
    }

    /// The intent, durable, then `apply` (see [`coffer_audit::change`]).
    async fn record_then_apply<T>(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        detail: serde_json::Value,
        apply: impl Future<Output = Result<T, AccountError>>,
    ) -> Result<T, AccountError> {
        self.audit
            .record_then_apply(actor, action, target, detail, apply)
            .await
    }

    /// First start: creates the `admin` account when no administrator exists (password
    /// `password`, or generated and returned once), audited as done by `actor` (the
    /// server). `None` when an administrator exists already.
    pub async fn ensure_admin(
        &self,
        actor: &Actor,
        password: Option<String>,
    ) -> Result<Option<Created>, AccountError> {
        if self.catalog.has_admin().await? || self.catalog.user_id("admin").await?.is_some() {
            return Ok(None);
        }
        let spec = UserSpec {
            username: "admin".into(),
            password,
            role: "admin".into(),
            ..UserSpec::default()
        };
        self.create_user(actor, &spec).await.map(Some)
    }

    /// Creates a user (password generated and returned once when absent).
    pub async fn create_user(
        &self,
        actor: &Actor,
        spec: &UserSpec,
    ) -> Result<Created, AccountError> {
        let target = spec.username.trim().to_ascii_lowercase();
        let validated = match validate_spec(spec) {
            Ok(v) => v,
            Err(e) => return self.refused(actor, "user.create", &target, e).await,
        };
        if self.catalog.user_id(&validated.username).await?.is_some() {
            let e = AccountError::Catalog(coffer_catalog::Error::Conflict(format!(
                "user {:?} exists",
                validated.username
            )));
            return self.refused(actor, "user.create", &target, e).await;
        }
        let detail = validated.describe();
        let username = validated.username.clone();
        self.record_then_apply(
            actor,
            "user.create",
            &username,
            detail,
            store_user(&self.catalog, validated, self.params, now()),
        )
        .await
    }

    /// Changes a user (absent fields stay; lists are replaced).
    pub async fn update_user(
        &self,
        actor: &Actor,
        username: &str,
        change: &UserChange,
    ) -> Result<UserRecord, AccountError> {
        let target = username.trim().to_ascii_lowercase();
        let planned = match plan_update(&self.catalog, username, change).await {
            Ok(p) => p,
            Err(e) => return self.refused(actor, "user.update", &target, e).await,
        };
        if actor.account.as_deref() == Some(target.as_str()) {
            let own = if planned.changes_role_or_scope() {
                Some("an administrator cannot change their own role, mailboxes or domains")
            } else if planned.update.disabled == Some(true) {
                Some("an administrator cannot disable their own account")
            } else {
                None
            };
            if let Some(reason) = own {
                let e = AccountError::Forbidden(reason.into());
                return self.refused(actor, "user.update", &target, e).await;
            }
        }
        let detail = planned.describe();
        self.record_then_apply(
            actor,
            "user.update",
            &target,
            detail,
            apply_update(&self.catalog, planned, self.params, now()),
        )
        .await
    }

    /// Creates users from CSV (see the [crate docs](crate)): each good row through
    /// [`Administration::create_user`] (so each is audited); bad rows are reported with
    /// their line number and what is wrong.
    pub async fn import_csv(
        &self,
        actor: &Actor,
        input: impl Read,
    ) -> Result<ImportReport, AccountError> {
        let rows = read_rows(input)?;
        let mut report = ImportReport {
            created: Vec::new(),
            errors: rows.errors,
        };
        for (line, spec) in rows.specs {
            match self.create_user(actor, &spec).await {
                Ok(created) => report.created.push(created),
                Err(AccountError::Invalid(m)) => report.errors.push((line, m)),
                Err(AccountError::Catalog(
                    e @ (coffer_catalog::Error::Conflict(_) | coffer_catalog::Error::NotFound(_)),
                )) => report.errors.push((line, e.to_string())),
                Err(e) => return Err(e),
            }
        }
        report.errors.sort_by_key(|(line, _)| *line);
        Ok(report)
    }

    /// Creates a journal API token; returns the token (shown once) and its record.
    pub async fn create_token(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<(String, ApiTokenRecord), AccountError> {
        let target = name.trim().to_ascii_lowercase();
        let name = match validate_name("token name", name) {
            Ok(n) => n,
            Err(e) => return self.refused(actor, "token.create", &target, e).await,
        };
        if self
            .catalog
            .list_api_tokens()
            .await?
            .iter()
            .any(|t| t.name == name)
        {
            let e = AccountError::Catalog(coffer_catalog::Error::Conflict(format!(
                "a token named {name:?} exists (names stay taken after revocation)"
            )));
            return self.refused(actor, "token.create", &target, e).await;
        }
        let (token, hash) = new_token(JOURNAL_PREFIX);
        let record = self
            .record_then_apply(
                actor,
                "token.create",
                &name,
                json!({ "role": "journal" }),
                async {
                    Ok(self
                        .catalog
                        .create_api_token(&name, &hash, Role::Journal, now())
                        .await?)
                },
            )
            .await?;
        Ok((token, record))
    }

    /// Revokes a journal API token.
    pub async fn revoke_token(&self, actor: &Actor, name: &str) -> Result<(), AccountError> {
        let name = name.trim().to_string();
        let live = self
            .catalog
            .list_api_tokens()
            .await?
            .iter()
            .any(|t| t.name == name && !t.revoked);
        if !live {
            let e = AccountError::Catalog(coffer_catalog::Error::NotFound(format!(
                "no active token named {name:?}"
            )));
            return self.refused(actor, "token.revoke", &name, e).await;
        }
        self.record_then_apply(actor, "token.revoke", &name, json!({}), async {
            if self.catalog.revoke_api_token(&name).await? {
                Ok(())
            } else {
                Err(AccountError::Catalog(coffer_catalog::Error::NotFound(
                    format!("no active token named {name:?}"),
                )))
            }
        })
        .await
    }

    /// Creates a group with these members.
    pub async fn create_group(
        &self,
        actor: &Actor,
        name: &str,
        rule: Option<&str>,
        members: &[String],
    ) -> Result<GroupRecord, AccountError> {
        let target = name.trim().to_ascii_lowercase();
        let checked = async {
            let name = validate_name("group name", name)?;
            let rule = validate_rule(rule.unwrap_or("both"))?;
            if self.group(&name).await?.is_some() {
                return Err(AccountError::Catalog(coffer_catalog::Error::Conflict(
                    format!("group {name:?} exists"),
                )));
            }
            for member in members {
                if self.catalog.user_id(member).await?.is_none() {
                    return Err(AccountError::Catalog(coffer_catalog::Error::NotFound(
                        format!("no user {:?}", member.trim().to_ascii_lowercase()),
                    )));
                }
            }
            Ok((name, rule))
        };
        let (name, rule) = match checked.await {
            Ok(checked) => checked,
            Err(e) => return self.refused(actor, "group.create", &target, e).await,
        };
        let detail = json!({ "members": members, "archiving_rule": rule });
        self.record_then_apply(actor, "group.create", &name, detail, async {
            Ok(self
                .catalog
                .create_group(&name, &rule, members, now())
                .await?)
        })
        .await
    }

    async fn group(&self, name: &str) -> Result<Option<GroupRecord>, AccountError> {
        Ok(self
            .catalog
            .list_groups()
            .await?
            .into_iter()
            .find(|g| g.name == name))
    }

    /// Sets a group's archiving rule.
    pub async fn set_group_rule(
        &self,
        actor: &Actor,
        name: &str,
        rule: &str,
    ) -> Result<(), AccountError> {
        let name = name.trim().to_ascii_lowercase();
        let checked = async {
            let rule = validate_rule(rule)?;
            if self.group(&name).await?.is_none() {
                return Err(AccountError::Catalog(coffer_catalog::Error::NotFound(
                    format!("no group {name:?}"),
                )));
            }
            Ok(rule)
        };
        let rule = match checked.await {
            Ok(rule) => rule,
            Err(e) => return self.refused(actor, "group.update", &name, e).await,
        };
        self.record_then_apply(
            actor,
            "group.update",
            &name,
            json!({ "archiving_rule": rule }),
            async {
                if self.catalog.set_group_rule(&name, &rule).await? {
                    Ok(())
                } else {
                    Err(AccountError::Catalog(coffer_catalog::Error::NotFound(
                        format!("no group {name:?}"),
                    )))
                }
            },
        )
        .await
    }

    /// Deletes a group (its members stay).
    pub async fn delete_group(&self, actor: &Actor, name: &str) -> Result<(), AccountError> {
        let name = name.trim().to_ascii_lowercase();
        if self.group(&name).await?.is_none() {
            let e = AccountError::Catalog(coffer_catalog::Error::NotFound(format!(
                "no group {name:?}"
            )));
            return self.refused(actor, "group.delete", &name, e).await;
        }
        self.record_then_apply(actor, "group.delete", &name, json!({}), async {
            if self.catalog.delete_group(&name).await? {
                Ok(())
            } else {
                Err(AccountError::Catalog(coffer_catalog::Error::NotFound(
                    format!("no group {name:?}"),
                )))
            }
        })
        .await
    }

    /// Adds a local domain (its participants become mailboxes).
    pub async fn add_domain(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<DomainRecord, AccountError> {
        let target = name.trim().to_ascii_lowercase();
        let checked = async {
            let name = validate_domain(name, false)?;
            if self
                .catalog
                .list_domains()
                .await?
                .iter()
                .any(|d| d.name == name)
            {
                return Err(AccountError::Catalog(coffer_catalog::Error::Conflict(
                    format!("domain {name:?} exists"),
                )));
            }
            Ok(name)
        };
        let name = match checked.await {
            Ok(name) => name,
            Err(e) => return self.refused(actor, "domain.create", &target, e).await,
        };
        self.record_then_apply(actor, "domain.create", &name, json!({}), async {
            Ok(self.catalog.add_domain(&name, now()).await?)
        })
        .await
    }

    /// Removes a local domain.
    pub async fn delete_domain(&self, actor: &Actor, name: &str) -> Result<(), AccountError> {
        let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
        if !self
            .catalog
            .list_domains()
            .await?
            .iter()
            .any(|d| d.name == name)
        {
            let e = AccountError::Catalog(coffer_catalog::Error::NotFound(format!(
                "no domain {name:?}"
            )));
            return self.refused(actor, "domain.delete", &name, e).await;
        }
        self.record_then_apply(actor, "domain.delete", &name, json!({}), async {
            if self.catalog.delete_domain(&name).await? {
                Ok(())
            } else {
                Err(AccountError::Catalog(coffer_catalog::Error::NotFound(
                    format!("no domain {name:?}"),
                )))
            }
        })
        .await
    }
}
