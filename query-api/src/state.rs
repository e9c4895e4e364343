//! What every handler shares: the archive (volumes, catalog, index), the audit trail,
//! the settings, the login throttle and the metrics.

use std::sync::Arc;
use std::time::Duration;

use coffer_audit::AuditLog;
use coffer_catalog::Catalog;
use coffer_index::IndexSet;
use coffer_ingest::Archive;
use coffer_ingest::journaling::Journal;
use coffer_ingest::witness::{WitnessStatus, Witnesses};
use coffer_volume::PublicKey;

use crate::login_failures::LoginFailures;
use crate::metrics::Metrics;
use crate::throttle::{Throttle, ThrottleConfig};
use coffer_accounts::{self as accounts, Administration, PasswordParams};
use coffer_ingest::smtp::Cidr;
use coffer_retention::manage::RetentionAdmin;
use coffer_retention::runs::{BoxFuture, DedupFence, Dispositions, Executor};

/// Settings of the HTTP API (from `coffer.toml` and flags, resolved by the binary).
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// How long a login session lasts at most.
    pub session_ttl: Duration,
    /// A session unused for this long ends (the inactivity timeout).
    pub session_idle: Duration,
    /// Argon2id parameters for new password hashes.
    pub password: PasswordParams,
    /// Largest JSON body.
    pub max_json_body: usize,
    /// Largest journal submission (raw message).
    pub max_message_body: usize,
    /// Longest a request may take before it is answered 408.
    pub request_timeout: Duration,
    /// Reverse proxies whose `X-Forwarded-For` is believed: for a request from one of
    /// them, the client is the right-most address of the header that is not itself one
    /// of them. Empty: the header is ignored.
    pub trusted_proxies: Vec<Cidr>,
    /// Local domains (their participants become mailboxes of journal submissions),
    /// in addition to the domains table.
    pub local_domains: Vec<String>,
    /// Failed-login throttling.
    pub throttle: ThrottleConfig,
    /// Most passwords checked at once (Argon2id takes 19 MiB each).
    pub max_password_checks: usize,
    /// A bearer token `/metrics` requires (none: open, like `/healthz`).
    pub metrics_token: Option<String>,
    /// Whether `/metrics` is served on the API's listener (off when it has a listener of
    /// its own).
    pub metrics_on_main: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(12 * 3600),
            session_idle: Duration::from_secs(30 * 60),
            password: PasswordParams::default(),
            max_json_body: 1024 * 1024,
            max_message_body: 64 * 1024 * 1024,
            request_timeout: Duration::from_secs(120),
            trusted_proxies: Vec::new(),
            local_domains: Vec::new(),
            throttle: ThrottleConfig::default(),
            max_password_checks: 4,
            metrics_token: None,
            metrics_on_main: true,
        }
    }
}

/// The archive writer's dedup fence, for disposition runs (`coffer_retention` does not
/// depend on `coffer_ingest`).
struct WriterFence(Arc<Archive>);

impl DedupFence for WriterFence {
    fn fence<'a>(
        &'a self,
        ids: &'a [coffer_model::MessageId],
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.0
                .writer()
                .fence_disposal(ids)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn lift<'a>(&'a self, ids: &'a [coffer_model::MessageId]) -> BoxFuture<'a, ()> {
        Box::pin(self.0.writer().lift_disposal(ids))
    }
}

struct Inner {
    journal: Arc<Journal>,
    administration: Administration,
    retention: RetentionAdmin,
    dispositions: Dispositions,
    audit: AuditLog,
    config: ApiConfig,
    throttle: Throttle,
    login_failures: LoginFailures,
    password_checks: tokio::sync::Semaphore,
    metrics: Arc<Metrics>,
    public_key: PublicKey,
    /// A hash verified against when the username is unknown, so the answer takes as
    /// long as for a known user.
    dummy_hash: String,
    /// The witnesses of `coffer serve`, when configured.
    witnesses: std::sync::OnceLock<Arc<Witnesses>>,
}

/// The shared state of the router. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("archive", self.inner.journal.archive())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State over the journaling pipeline (and through it the archive) and the audit
    /// trail. Hashes one dummy password (blocking for the configured Argon2 cost).
    pub fn new(
        journal: Arc<Journal>,
        audit: AuditLog,
        config: ApiConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Self, accounts::AccountError> {
        let dummy_hash = accounts::hash_password(&accounts::generate_password(), config.password)?;
        let public_key = journal.archive().key().public_key();
        let throttle = Throttle::new(config.throttle);
        let password_checks = tokio::sync::Semaphore::new(config.max_password_checks.max(1));
        let retention = RetentionAdmin::new(
            Arc::clone(journal.archive().catalog()),
            audit.clone(),
            Some(Arc::clone(journal.archive().index())),
        );
        let archive = journal.archive();
        let dispositions = Dispositions::new(
            retention.clone(),
            Arc::clone(archive.catalog()),
            audit.clone(),
            Some(Executor {
                volumes: Arc::clone(archive.volumes()),
                keys: Arc::clone(archive.key_store()),
                index: Arc::clone(archive.index()),
                signing: archive.key().clone(),
                fence: Arc::new(WriterFence(Arc::clone(archive))),
            }),
        );
        let administration = Administration::new(
            Arc::clone(journal.archive().catalog()),
            audit.clone(),
            config.password,
        );
        Ok(Self {
            inner: Arc::new(Inner {
                administration,
                retention,
                dispositions,
                journal,
                audit,
                config,
                throttle,
                login_failures: LoginFailures::default(),
                password_checks,
                metrics,
                public_key,
                dummy_hash,
                witnesses: std::sync::OnceLock::new(),
            }),
        })
    }

    /// The archive writer.
    pub fn archive(&self) -> &Arc<Archive> {
        self.inner.journal.archive()
    }

    /// Account administration (every change audited before it is applied).
    pub fn administration(&self) -> &Administration {
        &self.inner.administration
    }

    /// Retention administration: policies, holds, explanations, the report.
    pub fn retention(&self) -> &RetentionAdmin {
        &self.inner.retention
    }

    /// Disposition runs: proposals, approvals, execution, certificates.
    pub fn dispositions(&self) -> &Dispositions {
        &self.inner.dispositions
    }

    /// The journaling pipeline shared by HTTP submissions and the SMTP/LMTP listeners.
    pub fn journal(&self) -> &Arc<Journal> {
        &self.inner.journal
    }

    /// Sets the archive's local domains to the configured ones plus the domains table;
    /// called at start-up, after domain changes, and periodically by `coffer serve`.
    pub async fn refresh_local_domains(&self) -> Result<(), coffer_catalog::Error> {
        let mut domains = self.inner.config.local_domains.clone();
        domains.extend(
            self.catalog()
                .list_domains()
                .await?
                .into_iter()
                .map(|d| d.name),
        );
        self.archive().set_local_domains(&domains);
        Ok(())
    }

    /// The catalog.
    pub fn catalog(&self) -> &Arc<Catalog> {
        self.archive().catalog()
    }

    /// The index.
    pub fn index(&self) -> &Arc<IndexSet> {
        self.archive().index()
    }

    /// The audit trail.
    pub fn audit(&self) -> &AuditLog {
        &self.inner.audit
    }

    /// The settings.
    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    /// The login throttle.
    pub fn throttle(&self) -> &Throttle {
        &self.inner.throttle
    }

    /// The slots for checking passwords.
    pub(crate) fn password_checks(&self) -> &tokio::sync::Semaphore {
        &self.inner.password_checks
    }

    /// Counts a failed or throttled login for the audit trail; the first of a window is
    /// recorded at once, the rest summarised ([`crate::login_failures`]).
    pub(crate) async fn login_failed(
        &self,
        actor: &str,
        client: &str,
        reason: &'static str,
    ) -> Result<(), coffer_audit::Error> {
        if let Some(entry) =
            self.inner
                .login_failures
                .failed(actor, client, reason, std::time::Instant::now())
        {
            self.audit().record(entry).await?;
        }
        Ok(())
    }

    /// Writes the summaries of failed logins whose window has ended (all of them with
    /// `all`, at shutdown).
    pub async fn flush_login_failures(&self, all: bool) -> Result<(), coffer_audit::Error> {
        for entry in self
            .inner
            .login_failures
            .due(std::time::Instant::now(), all)
        {
            self.audit().record(entry).await?;
        }
        Ok(())
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// The archive's public key (to verify tree heads and volumes).
    pub fn public_key(&self) -> &PublicKey {
        &self.inner.public_key
    }

    /// Reports these witnesses in the auditor's view (`GET /api/v1/witnesses`).
    pub fn set_witnesses(&self, witnesses: Arc<Witnesses>) {
        let _ = self.inner.witnesses.set(witnesses);
    }

    /// The witnesses' state (empty when none are configured).
    pub fn witness_status(&self) -> Vec<WitnessStatus> {
        self.inner
            .witnesses
            .get()
            .map(|w| w.status())
            .unwrap_or_default()
    }

    /// Periodic upkeep until `stopping` turns true: the local domains are re-read every
    /// 10 seconds (domains added by the administrator reach SMTP too); expired sessions
    /// are deleted every 10 minutes. `coffer serve` runs it as a task.
    pub async fn housekeeping(self, mut stopping: tokio::sync::watch::Receiver<bool>) {
        let mut last_purge: Option<std::time::Instant> = None;
        loop {
            if let Err(e) = self.refresh_local_domains().await {
                tracing::warn!(error = %e, "could not re-read the local domains");
            }
            if let Err(e) = self.flush_login_failures(false).await {
                tracing::error!(error = %e, "could not record the failed logins' summary");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                _ = stopping.wait_for(|stop| *stop) => return,
            }
            if last_purge.is_some_and(|t| t.elapsed() < Duration::from_secs(600)) {
                continue;
            }
            last_purge = Some(std::time::Instant::now());
            match self.catalog().purge_expired_sessions(now_secs()).await {
                Ok(n) if n > 0 => tracing::info!(sessions = n, "expired sessions deleted"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not delete expired sessions"),
            }
        }
    }

    pub(crate) fn dummy_hash(&self) -> &str {
        &self.inner.dummy_hash
    }
}

/// Now, Unix seconds.
pub(crate) fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}
