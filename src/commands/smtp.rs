//! The SMTP and LMTP listeners of `coffer serve`: settings from flags and `[smtp]` in
//! coffer.toml, STARTTLS from the configured certificate, AUTH PLAIN against journal API
//! tokens, and the journaling sink shared with HTTP submissions.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use coffer_audit::{AuditEntry, AuditLog, Outcome};
use coffer_catalog::Catalog;
use coffer_ingest::journaling::ArchiveSink;
use coffer_ingest::smtp::{
    AuthPolicy, Authenticator, BoxFuture, Cidr, Credentials, Delivery, DeliveryOutcome,
    DeliverySink, SmtpConfig, SmtpServerConfig, run_listener, tls_config_from_pem,
};
use coffer_model::Role;
use coffer_query_api::Metrics;
use tokio::sync::watch;

use crate::config::SmtpFileConfig;

/// Which protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// SMTP (RFC 5321).
    Smtp,
    /// LMTP (RFC 2033).
    Lmtp,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::Smtp => "smtp",
            Protocol::Lmtp => "lmtp",
        }
    }
}

/// Builds the listener settings from `[smtp]`.
pub fn server_config(
    file: &SmtpFileConfig,
    protocol: Protocol,
    catalog: Arc<Catalog>,
) -> Result<SmtpServerConfig> {
    let mut proto = SmtpConfig {
        hostname: file.hostname.clone().unwrap_or_else(|| "coffer".into()),
        lmtp: protocol == Protocol::Lmtp,
        ..SmtpConfig::default()
    };
    if let Some(n) = file.max_message_size {
        proto.max_message_size = n;
    }
    if let Some(n) = file.max_recipients {
        proto.max_recipients = n;
    }
    proto.auth = match file.auth.as_deref().unwrap_or("disabled") {
        "disabled" => AuthPolicy::Disabled,
        "optional" => AuthPolicy::Optional,
        "required" => AuthPolicy::Required,
        other => bail!("[smtp] auth = {other:?}: use disabled, optional or required"),
    };
    let mut config = SmtpServerConfig::new(proto);
    if let Some(n) = file.max_sessions {
        config.max_sessions = n;
    }
    if !file.allowed_clients.is_empty() {
        config.allowed_clients = file
            .allowed_clients
            .iter()
            .map(|c| {
                c.parse::<Cidr>()
                    .map_err(|e| anyhow::anyhow!("[smtp] allowed_clients {c:?}: {e}"))
            })
            .collect::<Result<_>>()?;
    }
    match (&file.tls_cert, &file.tls_key) {
        (Some(cert), Some(key)) => {
            let cert = std::fs::read(cert).with_context(|| format!("[smtp] tls_cert {cert}"))?;
            let key = std::fs::read(key).with_context(|| format!("[smtp] tls_key {key}"))?;
            config.tls = Some(tls_config_from_pem(&cert, &key)?);
        }
        (None, None) => {}
        _ => bail!("[smtp] needs both tls_cert and tls_key"),
    }
    if config.protocol.auth != AuthPolicy::Disabled {
        config.authenticator = Some(Arc::new(TokenAuthenticator { catalog }));
    }
    config.validate()?;
    Ok(config)
}

/// AUTH PLAIN: the password is a journal API token (`coffer token create`); the user
/// name is not checked beyond being present.
struct TokenAuthenticator {
    catalog: Arc<Catalog>,
}

impl Authenticator for TokenAuthenticator {
    fn authenticate(&self, credentials: Credentials) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let hash = coffer_query_api::accounts::token_hash(&credentials.password);
            matches!(self.catalog.api_token(&hash).await, Ok(Some(t)) if !t.revoked && t.role == Role::Journal)
        })
    }
}

/// The SMTP/LMTP delivery adapter: hands each message to the journaling pipeline shared
/// with HTTP submissions, answers from its outcome, counts and times it per protocol, and
/// audits messages the archiving rules exclude (an exclusion it cannot audit is refused
/// with a temporary failure, so the sender retries).
struct JournalDelivery {
    inner: Arc<ArchiveSink>,
    metrics: Arc<Metrics>,
    audit: AuditLog,
    protocol: Protocol,
}

impl DeliverySink for JournalDelivery {
    fn deliver(&self, delivery: Delivery) -> BoxFuture<'_, DeliveryOutcome> {
        Box::pin(async move {
            let client = delivery.client_addr.ip().to_string();
            let envelope = delivery.envelope();
            let size = delivery.transaction.data.len() as u64;
            let source = self.protocol.name();
            let started = std::time::Instant::now();
            let outcome = self
                .inner
                .ingest(delivery.transaction.data, envelope, None)
                .await;
            self.metrics.ingest_latency(source, started.elapsed());
            match outcome {
                Ok(coffer_ingest::archive::Outcome::Excluded {
                    internal, refused, ..
                }) => {
                    self.metrics.ingest(source, "excluded");
                    let entry =
                        AuditEntry::new(source, "message.excluded", "", Outcome::Success, &client)
                            .with_detail(serde_json::json!({
                                "internal": internal,
                                "refused": refused,
                                "size": size,
                            }));
                    if let Err(e) = self.audit.record(entry).await {
                        // Not stored and not audited: make the sender retry instead.
                        tracing::error!(error = %e, "could not audit an excluded message");
                        return DeliveryOutcome::from_error_code(
                            coffer_model::ErrorCode::Unavailable,
                        );
                    }
                    DeliveryOutcome::Accepted {
                        queue_id: "excluded".into(),
                    }
                }
                Ok(outcome) => {
                    let what =
                        if matches!(outcome, coffer_ingest::archive::Outcome::Archived { .. }) {
                            "archived"
                        } else {
                            "duplicate"
                        };
                    self.metrics.ingest(source, what);
                    DeliveryOutcome::Accepted {
                        queue_id: outcome.id().map(|i| i.to_string()).unwrap_or_default(),
                    }
                }
                Err(e) => {
                    self.metrics.ingest(source, "failed");
                    tracing::warn!(bytes = size, error = %e, "journaled message not accepted; the sender will retry");
                    coffer_ingest::journaling::refusal(&e)
                }
            }
        })
    }
}

/// Binds and starts one listener; prints `coffer: <protocol> listening on ADDR`.
pub async fn start(
    listen: &str,
    protocol: Protocol,
    config: SmtpServerConfig,
    sink: Arc<ArchiveSink>,
    metrics: Arc<Metrics>,
    audit: AuditLog,
    mut stopping: watch::Receiver<bool>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {} on {listen}", protocol.name()))?;
    let bound = listener.local_addr()?;
    crate::outln!("coffer: {} listening on {bound}", protocol.name());
    let sink: Arc<dyn DeliverySink> = Arc::new(JournalDelivery {
        inner: sink,
        metrics,
        audit,
        protocol,
    });
    let config = Arc::new(config);
    let handle = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        };
        if let Err(e) = run_listener(listener, config, sink, shutdown).await {
            tracing::error!(protocol = protocol.name(), error = %e, "listener stopped");
        }
    });
    Ok((bound, handle))
}
