//! The SMTP and LMTP listeners of `coffer serve`: settings from flags and `[smtp]` in
//! coffer.toml, turned into [`SmtpServerConfig`] (STARTTLS from the configured
//! certificate, AUTH PLAIN against journal API tokens), started with deliveries into the
//! journaling pipeline shared with HTTP submissions.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use coffer_catalog::Catalog;
use coffer_ingest::journaling::Journal;
use coffer_ingest::smtp::delivery::{JournalSink, JournalTokens, spawn_listener};
use coffer_ingest::smtp::{AuthPolicy, Cidr, SmtpConfig, SmtpServerConfig, tls_config_from_pem};
use tokio::sync::watch;

use crate::config::SmtpFileConfig;

/// Builds the listener settings from `[smtp]`.
pub fn server_config(
    file: &SmtpFileConfig,
    lmtp: bool,
    catalog: Arc<Catalog>,
) -> Result<SmtpServerConfig> {
    let mut proto = SmtpConfig {
        hostname: file.hostname.clone().unwrap_or_else(|| "coffer".into()),
        lmtp,
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
        config.authenticator = Some(Arc::new(JournalTokens::new(catalog)));
    }
    config.validate()?;
    Ok(config)
}

/// Binds and starts one listener; prints `coffer: <smtp|lmtp> listening on ADDR`. Fails
/// when the address is reachable from other hosts and neither AUTH is required nor
/// `allowed_clients` names the sending mail servers (checked by ingest once bound).
pub async fn start(
    listen: &str,
    config: SmtpServerConfig,
    journal: Arc<Journal>,
    stopping: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>> {
    let name = if config.protocol.lmtp { "lmtp" } else { "smtp" };
    let sink = Arc::new(JournalSink::new(journal));
    let (bound, handle) = spawn_listener(listen, config, sink, stopping)
        .await
        .with_context(|| format!("{name} listener on {listen} ([smtp] in coffer.toml)"))?;
    crate::outln!("coffer: {name} listening on {bound}");
    Ok(handle)
}
