//! Where the SMTP/LMTP listener meets the archive: every received message goes into the
//! [`Journal`] (the pipeline HTTP submissions share), AUTH PLAIN is checked against
//! journal API tokens, and [`spawn_listener`] binds and starts one listener.
//!
//! Each record says who delivered it: `token:NAME` when the session authenticated with
//! a journal token, `client:ADDRESS` otherwise ([`DeliveredBy`]).
//!
//! The reply follows the journal's outcome: `250` once the record is fsynced (or the
//! exclusion audited), `452` when the disk is full, `451` for other temporary trouble.

use std::net::SocketAddr;
use std::sync::Arc;

use coffer_catalog::Catalog;
use coffer_model::{Capability, allows};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::proto::{Credentials, DeliveryOutcome};
use super::session::{
    Authenticator, BoxFuture, Delivery, DeliverySink, Protocol, SmtpServerConfig, run_listener,
};
use crate::budget::MemoryBudget;
use crate::error::{IngestError, Result};
use crate::journaling::{DeliveredBy, Journal, Source, Submission, refusal};
use crate::writer::Outcome;

impl From<Protocol> for Source {
    fn from(protocol: Protocol) -> Self {
        match protocol {
            Protocol::Smtp => Source::Smtp,
            Protocol::Lmtp => Source::Lmtp,
        }
    }
}

/// Hands received messages to the journaling pipeline.
#[derive(Debug)]
pub struct JournalSink {
    journal: Arc<Journal>,
}

impl JournalSink {
    /// A sink into `journal`.
    pub fn new(journal: Arc<Journal>) -> Self {
        Self { journal }
    }
}

impl DeliverySink for JournalSink {
    fn deliver(&self, delivery: Delivery) -> BoxFuture<'_, DeliveryOutcome> {
        Box::pin(async move {
            let source = Source::from(delivery.protocol);
            let size = delivery.transaction.data.len();
            let client = delivery.client_addr.ip();
            let delivered_by = match delivery.transaction.authenticated_as.clone() {
                Some(token) => DeliveredBy::Token(token),
                None => DeliveredBy::Client(client),
            };
            let submission = Submission {
                envelope: delivery.envelope(),
                client: client.to_string(),
                raw: delivery.transaction.data,
                source,
                delivered_by,
            };
            match self.journal.deliver(submission).await {
                Ok(Outcome::Excluded { .. }) => DeliveryOutcome::Accepted {
                    queue_id: "excluded".into(),
                },
                Ok(outcome) => DeliveryOutcome::Accepted {
                    queue_id: outcome.id().map(|i| i.to_string()).unwrap_or_default(),
                },
                Err(e) => {
                    tracing::warn!(bytes = size, error = %e, "journaled message not accepted; the sender will retry");
                    refusal(&e)
                }
            }
        })
    }

    fn memory_budget(&self) -> MemoryBudget {
        self.journal.memory_budget().clone()
    }
}

/// AUTH PLAIN: the password is a journal API token (`coffer token create`) whose role
/// may submit messages ([`coffer_model::allows`]); the user name is not checked beyond
/// being present. The session's principal is the token's name, which every message of
/// the session then carries into its custody metadata (`origin` = `token:NAME`).
#[derive(Debug)]
pub struct JournalTokens {
    catalog: Arc<Catalog>,
}

impl JournalTokens {
    /// Tokens from `catalog`.
    pub fn new(catalog: Arc<Catalog>) -> Self {
        Self { catalog }
    }
}

impl Authenticator for JournalTokens {
    fn authenticate(&self, credentials: Credentials) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move {
            let now = chrono::Utc::now().timestamp();
            // Journal tokens have no inactivity timeout (the role check below refuses a
            // login session anyway).
            match coffer_accounts::authenticate(&self.catalog, &credentials.password, now, 0).await
            {
                Ok(Some(principal)) if allows(principal.role, Capability::SubmitMessages) => {
                    Some(principal.name)
                }
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "could not check an AUTH token");
                    None
                }
            }
        })
    }
}

/// Binds `listen` and serves `config` on it until `stopping` turns true; returns the
/// bound address and the listener's task. Fails, before serving anyone, when the bound
/// address is reachable from other hosts and the settings would take mail from any
/// client there ([`SmtpServerConfig::validate_exposure`]).
pub async fn spawn_listener(
    listen: &str,
    config: SmtpServerConfig,
    sink: Arc<dyn DeliverySink>,
    mut stopping: watch::Receiver<bool>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    config.validate()?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| IngestError::Io {
            path: listen.into(),
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| IngestError::Io {
        path: listen.into(),
        source,
    })?;
    config.validate_exposure(bound)?;
    let config = Arc::new(config);
    let handle = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        };
        if let Err(e) = run_listener(listener, config, sink, shutdown).await {
            tracing::error!(error = %e, "smtp listener stopped");
        }
    });
    Ok((bound, handle))
}
