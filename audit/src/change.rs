//! Who makes a privileged change, and the one path every such change takes so that the
//! change and its audit entry are one outcome — used by account administration
//! (`coffer-accounts`) and retention administration (`coffer-retention`) alike.
//!
//! 1. The change is validated completely first; a refused change is recorded as
//!    `failure` with the reason ([`AuditLog::refused`]) and nothing is changed.
//! 2. The change is recorded — fsynced — **before** it is applied
//!    ([`AuditLog::record_then_apply`]); if the audit trail cannot record it, nothing is
//!    changed.
//! 3. The change is applied. Should applying fail after all, a second entry records that
//!    the change recorded in step 2 did not happen.
//!
//! A crash between steps 2 and 3 leaves an entry for a change that was never applied (the
//! catalog shows what is true): the safe side for an audit trail.

use std::fmt::Display;
use std::future::Future;

use serde_json::json;

use crate::{AuditEntry, AuditLog, Error, Outcome};

/// Who makes a change, as the audit trail names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The audit trail's actor: a username, or `local:OSUSER` for the command line.
    pub name: String,
    /// The client address, or `local` for the command line.
    pub client: String,
    /// The account the actor is logged in as, if a person with an account (what may
    /// not change its own powers, nor approve their own proposal).
    pub account: Option<String>,
}

impl Actor {
    /// A person logged in to the API.
    pub fn person(username: &str, client: &str) -> Self {
        Self {
            name: username.to_string(),
            client: client.to_string(),
            account: Some(username.to_string()),
        }
    }

    /// The operating-system user running the command line on the server's host.
    pub fn local(os_user: &str) -> Self {
        Self {
            name: format!("local:{os_user}"),
            client: "local".to_string(),
            account: None,
        }
    }

    /// An entry by this actor.
    pub fn entry(&self, action: &str, target: &str, outcome: Outcome) -> AuditEntry {
        AuditEntry::new(
            self.name.clone(),
            action,
            target,
            outcome,
            self.client.clone(),
        )
    }
}

impl AuditLog {
    /// Step 1 of the [module docs](self): records a refused change, then gives back the
    /// reason.
    pub async fn refused<T, E>(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        error: E,
    ) -> Result<T, E>
    where
        E: From<Error> + Display,
    {
        let entry = actor
            .entry(action, target, Outcome::Failure)
            .with_detail(json!({ "error": error.to_string() }));
        self.record(entry).await?;
        Err(error)
    }

    /// Steps 2 and 3 of the [module docs](self): the intent, durable, then `apply`, and a
    /// failure entry should applying fail.
    pub async fn record_then_apply<T, E>(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        detail: serde_json::Value,
        apply: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E>
    where
        E: From<Error> + Display,
    {
        let entry = actor
            .entry(action, target, Outcome::Success)
            .with_detail(detail);
        self.record(entry).await?;
        match apply.await {
            Ok(done) => Ok(done),
            Err(error) => {
                let entry = actor
                    .entry(action, target, Outcome::Failure)
                    .with_detail(json!({ "error": error.to_string(), "not_applied": true }));
                if let Err(audit) = self.record(entry).await {
                    tracing::error!(action, error = %audit, "could not audit a change that failed after it was recorded");
                }
                Err(error)
            }
        }
    }
}
