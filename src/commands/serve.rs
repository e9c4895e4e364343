//! `coffer serve`: the HTTP API (and, next to it, the SMTP/LMTP listeners) over one
//! data directory.
//!
//! Start-up: create the data directory, open the archive (takes the writer lock,
//! replays the derived views), open the audit trail (replays its catalog rows), create
//! the `admin` account on first start (password from `COFFER_ADMIN_PASSWORD`, or
//! generated and printed once on stdout), bind, print `coffer: listening on
//! http://ADDR` on stdout, serve until SIGINT or SIGTERM, then drain requests, stop the
//! applier, and sign final checkpoints in the mail and audit volumes.

use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use coffer_audit::{AuditLog, audit_dir};
use coffer_ingest::budget::DEFAULT_MEMORY_BUDGET;
use coffer_ingest::journaling::Journal;
use coffer_ingest::metrics::IngestMetrics;
use coffer_ingest::smtp::SmtpConfig;
use coffer_ingest::witness::{WitnessConfig, WitnessTarget, Witnesses};
use coffer_query_api::{ApiConfig, AppState, Metrics};
use coffer_volume::{HeadSink, VolumeConfig};
use tokio::sync::watch;

use crate::config::Config;

/// Default HTTP listen address.
const DEFAULT_HTTP: &str = "127.0.0.1:8080";
/// Default SMTP listen address.
const DEFAULT_SMTP: &str = "127.0.0.1:2525";
/// Most journaled messages (HTTP and SMTP together) processed at once; beyond that
/// senders are told to retry (HTTP 503, SMTP 451).
const MAX_INGEST_IN_FLIGHT: usize = 256;

/// Arguments of `coffer serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// HTTP listen address (default: [http] listen in coffer.toml, else 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    http: Option<String>,
    /// Password of the admin account created on first start (default: generated and
    /// printed once).
    #[arg(
        long,
        env = "COFFER_ADMIN_PASSWORD",
        hide_env_values = true,
        hide = true
    )]
    admin_password: Option<String>,
    /// SMTP listen address (default: [smtp] listen, else 127.0.0.1:2525); `off` disables.
    #[arg(long, value_name = "ADDR")]
    smtp: Option<String>,
    /// LMTP listen address (default: [smtp] lmtp; off unless set).
    #[arg(long, value_name = "ADDR")]
    lmtp: Option<String>,
    /// A local domain (repeatable): added to the catalog's local domains at start (as with
    /// `coffer domain add`; audited) if it is not there yet.
    #[arg(long = "local-domain", value_name = "DOMAIN")]
    local_domains: Vec<String>,
}

/// Starts the witnesses of `[witness]`, if any are configured.
fn start_witnesses(
    data_dir: &Path,
    config: &crate::config::WitnessFileConfig,
) -> Result<Option<Arc<Witnesses>>> {
    if config.targets.is_empty() && config.timestamp_authority.is_none() {
        return Ok(None);
    }
    let targets = config
        .targets
        .iter()
        .map(|t| t.parse::<WitnessTarget>().map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()
        .context("[witness] targets")?;
    let seconds = |s: Option<f64>, default: f64| {
        Duration::try_from_secs_f64(s.unwrap_or(default)).context("[witness] retry seconds")
    };
    let tokens_dir = config
        .tokens_dir
        .as_ref()
        .map_or_else(|| data_dir.join("witness-tokens"), std::path::PathBuf::from);
    Ok(Some(Witnesses::start(WitnessConfig {
        targets,
        timestamp_authority: config.timestamp_authority.clone(),
        tokens_dir,
        retry: seconds(config.retry_seconds, 1.0)?,
        max_retry: seconds(config.max_retry_seconds, 300.0)?,
        interval: config
            .interval_seconds
            .map(|s| Duration::try_from_secs_f64(s).context("[witness] interval_seconds"))
            .transpose()?
            .filter(|d| !d.is_zero()),
    })))
}

/// Hands the newest signed head of every volume of `set` to the witnesses.
fn publish_newest(witnesses: &Witnesses, purpose: &str, set: &coffer_volume::VolumeSet) {
    let Ok(years) = set.years() else { return };
    for year in years {
        match set
            .get(year)
            .map(|v| v.map(|v| coffer_volume::newest_head(&v)))
        {
            Ok(Some(Ok(Some(head)))) => witnesses.publish(purpose, &head),
            Ok(_) => {}
            Err(e) => tracing::warn!(year, purpose, error = %e, "no head to publish"),
        }
    }
}

/// Serves until a signal; exit status 0 after a clean shutdown.
pub async fn run(data_dir: &Path, args: ServeArgs) -> Result<i32> {
    coffer_ingest::DataDir::new(data_dir).create_private()?;
    let witnesses = start_witnesses(data_dir, &Config::load(data_dir)?.witness)?;
    let head_sink = witnesses.as_ref().map(|w| {
        let w = Arc::clone(w);
        HeadSink::new(move |purpose, head| w.publish(purpose, head))
    });
    let (archive, mut config) =
        super::open_archive_publishing(data_dir, super::SERVE_HOLDER, head_sink.clone()).await?;
    config
        .local_domains
        .extend(args.local_domains.iter().cloned());
    let audit = AuditLog::open(
        &audit_dir(data_dir),
        archive.key().clone(),
        archive.catalog().clone(),
        VolumeConfig {
            head_sink,
            ..VolumeConfig::default()
        },
    )
    .await
    .context("opening the audit trail")?;
    if let Some(w) = &witnesses {
        // What the witnesses may have missed while the server was down: the newest head
        // of every volume (it extends every earlier one).
        let (mail, audit_volumes, w) = (archive.clone(), audit.clone(), Arc::clone(w));
        tokio::task::spawn_blocking(move || {
            publish_newest(&w, "mail", mail.volumes());
            publish_newest(&w, "audit", audit_volumes.volumes());
        })
        .await
        .context("start-up panicked")?;
    }
    let api_config = api_config(&config)?;

    let ingest_metrics = IngestMetrics::default();
    let metrics = Arc::new(Metrics::new(&ingest_metrics));
    if let Some(w) = &witnesses {
        metrics.set_witnesses(Arc::clone(w));
    }
    let journal = Arc::new(
        Journal::new(
            archive.clone(),
            audit.clone(),
            ingest_metrics,
            MAX_INGEST_IN_FLIGHT,
        )
        .with_memory_budget(journal_memory_budget(&config)?),
    );
    let state = {
        let (journal, audit) = (journal.clone(), audit.clone());
        tokio::task::spawn_blocking(move || AppState::new(journal, audit, api_config, metrics))
            .await
            .context("start-up panicked")??
    };
    if let Some(w) = &witnesses {
        state.set_witnesses(Arc::clone(w));
    }
    ensure_admin(&state, data_dir, args.admin_password).await?;
    seed_domains(&state, &config.local_domains).await?;
    // Disposition runs approved while no server ran, or cut short by a crash: finished
    // before anything is served (every step is idempotent).
    match state.dispositions().resume().await {
        Ok(runs) if !runs.is_empty() => {
            tracing::info!(?runs, "disposition runs executed at start-up")
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "a disposition run could not be executed; it stays approved")
        }
    }
    let listen = args
        .http
        .or(config.http.listen.clone())
        .unwrap_or_else(|| DEFAULT_HTTP.to_string());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let bound = listener.local_addr()?;
    state
        .refresh_local_domains()
        .await
        .context("reading the local domains")?;

    let (shutdown, stopping) = watch::channel(false);
    let http = {
        let mut stopping = stopping.clone();
        let service = coffer_query_api::router(state.clone())
            .into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move {
            axum::serve(listener, service)
                .with_graceful_shutdown(async move {
                    let _ = stopping.wait_for(|stop| *stop).await;
                })
                .await
        })
    };
    let mut tasks: Vec<tokio::task::JoinHandle<()>> =
        vec![tokio::spawn(state.clone().housekeeping(stopping.clone()))];
    tasks.push(tokio::spawn(rotate(
        archive.clone(),
        config.rotation.clone(),
        stopping.clone(),
    )));
    tasks.push(
        coffer_query_api::local::serve_admin_socket(state.clone(), data_dir, stopping.clone())
            .await
            .context("starting the local admin socket")?,
    );
    let smtp_listen = args
        .smtp
        .or(config.smtp.listen.clone())
        .unwrap_or_else(|| DEFAULT_SMTP.to_string());
    let lmtp_listen = args.lmtp.or(config.smtp.lmtp.clone());
    for (listen, lmtp) in [(Some(smtp_listen), false), (lmtp_listen, true)] {
        let Some(listen) = listen.filter(|l| l != "off") else {
            continue;
        };
        let smtp_config =
            super::smtp::server_config(&config.smtp, lmtp, archive.catalog().clone())?;
        let task =
            super::smtp::start(&listen, smtp_config, journal.clone(), stopping.clone()).await?;
        tasks.push(task);
    }
    if let Some(listen) = &config.http.metrics_listen {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding the metrics listener on {listen}"))?;
        crate::outln!(
            "coffer: metrics listening on http://{}",
            listener.local_addr()?
        );
        let service = coffer_query_api::metrics_router(state.clone());
        let mut stopping = stopping.clone();
        tasks.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            };
            if let Err(e) = axum::serve(listener, service)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "metrics listener stopped");
            }
        }));
    }
    // Printed last: scripts and tests wait for this line before talking to the server.
    crate::outln!("coffer: listening on http://{bound}");

    wait_for_signal().await;
    tracing::info!("shutting down");
    let _ = shutdown.send(true);
    match tokio::time::timeout(Duration::from_secs(30), http).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "http server failed"),
        Ok(Err(e)) => tracing::error!(error = %e, "http task panicked"),
        Err(_) => tracing::warn!("requests still running after 30 s; stopping anyway"),
    }
    for task in tasks {
        let _ = task.await;
    }
    if let Err(e) = state.flush_login_failures(true).await {
        tracing::error!(error = %e, "could not record the failed logins' summary");
    }
    drop(state);
    drop(journal);
    let checkpointed = {
        let audit = audit.clone();
        tokio::task::spawn_blocking(move || audit.checkpoint())
            .await
            .context("shutdown panicked")?
    };
    archive.shutdown().await?;
    checkpointed?;
    if let Some(w) = witnesses {
        // The final heads: a few seconds for the witnesses to take them; what is left is
        // published at the next start.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while w.status().iter().any(|s| s.pending > 0) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        w.stop();
    }
    println!("coffer: stopped");
    Ok(0)
}

/// `journal_memory_budget`, checked to hold at least one message of the largest size
/// accepted (a smaller budget would refuse such a message on every retry).
fn journal_memory_budget(config: &Config) -> Result<usize> {
    let Some(bytes) = config.journal_memory_budget else {
        return Ok(DEFAULT_MEMORY_BUDGET);
    };
    let largest = [
        config
            .smtp
            .max_message_size
            .unwrap_or(SmtpConfig::default().max_message_size),
        config
            .http
            .max_message_size
            .unwrap_or(ApiConfig::default().max_message_body as u64),
    ]
    .into_iter()
    .max()
    .unwrap_or(0);
    if bytes < largest {
        bail!(
            "journal_memory_budget = {bytes} in coffer.toml is smaller than the largest message accepted ({largest} bytes, [smtp] or [http] max_message_size)"
        );
    }
    usize::try_from(bytes).context("journal_memory_budget does not fit in memory")
}

fn api_config(config: &Config) -> Result<ApiConfig> {
    let defaults = ApiConfig::default();
    let trusted_proxies = config
        .http
        .trusted_proxies
        .iter()
        .map(|c| {
            c.parse()
                .map_err(|e| anyhow::anyhow!("[http] trusted_proxies {c:?}: {e}"))
        })
        .collect::<Result<_>>()?;
    Ok(ApiConfig {
        session_ttl: config.http.session_hours.map_or(defaults.session_ttl, |h| {
            Duration::from_secs(h.saturating_mul(3600))
        }),
        session_idle: config
            .http
            .session_idle_minutes
            .map_or(defaults.session_idle, |m| {
                Duration::from_secs(m.saturating_mul(60))
            }),
        max_message_body: config
            .http
            .max_message_size
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(defaults.max_message_body),
        trusted_proxies,
        metrics_token: config.http.metrics_token.clone(),
        metrics_on_main: config.http.metrics_listen.is_none(),
        local_domains: config.local_domains.clone(),
        ..defaults
    })
}

/// Local domains live in the catalog (`coffer domain`, `/api/v1/domains`); those named by
/// `--local-domain` or `local_domains` in coffer.toml are added there at start when
/// missing (audited, actor `coffer serve`).
async fn seed_domains(state: &AppState, domains: &[String]) -> Result<()> {
    let known: std::collections::BTreeSet<String> = state
        .catalog()
        .list_domains()
        .await?
        .into_iter()
        .map(|d| d.name)
        .collect();
    let actor = coffer_accounts::Actor {
        name: super::SERVE_HOLDER.to_string(),
        client: "local".to_string(),
        account: None,
    };
    for domain in domains {
        let name = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() || known.contains(&name) {
            continue;
        }
        state
            .administration()
            .add_domain(&actor, &name)
            .await
            .with_context(|| format!("adding the local domain {name:?}"))?;
    }
    Ok(())
}

/// File, in the data directory, that receives the generated admin password (0600).
const INITIAL_ADMIN_PASSWORD: &str = "initial-admin-password";

/// Creates `admin` when no administrator exists (first start). A generated password is
/// written once to a file only the data directory's owner can read — never to stdout,
/// which service managers keep in their logs — and the file's path is printed.
async fn ensure_admin(state: &AppState, data_dir: &Path, password: Option<String>) -> Result<()> {
    let generated = password.is_none();
    let actor = coffer_accounts::Actor {
        name: super::SERVE_HOLDER.to_string(),
        client: "local".to_string(),
        account: None,
    };
    let created = match state.administration().ensure_admin(&actor, password).await {
        Ok(Some(created)) => created,
        Ok(None) => return Ok(()),
        Err(coffer_accounts::AccountError::Invalid(m)) => bail!("COFFER_ADMIN_PASSWORD: {m}"),
        Err(e) => return Err(e.into()),
    };
    match created.generated_password {
        Some(p) if generated => {
            use std::io::Write;
            let path = data_dir.join(INITIAL_ADMIN_PASSWORD);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("writing {}", path.display()))?;
            writeln!(file, "{p}").with_context(|| format!("writing {}", path.display()))?;
            file.sync_all()
                .with_context(|| format!("writing {}", path.display()))?;
            println!(
                "coffer: created the admin account; its password is in {} (readable by this user only; change it and delete the file)",
                path.display()
            );
        }
        _ => println!(
            "coffer: created the admin account with the password from COFFER_ADMIN_PASSWORD"
        ),
    }
    Ok(())
}

async fn wait_for_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// Year rotation: at start and every `check_seconds`, seals the mail volumes whose year
/// and grace period are over (`coffer_retention::rotation`), until `stopping`.
async fn rotate(
    archive: std::sync::Arc<coffer_ingest::Archive>,
    config: crate::config::RotationConfig,
    mut stopping: watch::Receiver<bool>,
) {
    let grace = config.seal_after_days.unwrap_or(7);
    let every = Duration::from_secs(config.check_seconds.unwrap_or(3600).max(1));
    loop {
        let now = coffer_ingest::clock::now_us();
        if let Err(e) = archive.flush().await {
            tracing::error!(error = %e, "rotation: could not flush before sealing");
        } else {
            let volumes = archive.volumes().clone();
            match tokio::task::spawn_blocking(move || {
                coffer_retention::rotation::seal_due(&volumes, now, grace)
            })
            .await
            {
                Ok(Ok(sealed)) => {
                    for (year, head) in sealed {
                        tracing::info!(
                            year,
                            records = head.tree_size,
                            "rotation: sealed the volume of a past year"
                        );
                    }
                }
                Ok(Err(e)) => tracing::error!(error = %e, "rotation: sealing failed"),
                Err(e) => tracing::error!(error = %e, "rotation task panicked"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopping.wait_for(|stop| *stop) => return,
        }
    }
}
