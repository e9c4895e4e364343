//! Coffer's audit trail (DESIGN principle 6): who did what, when, from where, to which
//! target, with which outcome — never message content.
//!
//! # Storage
//! Each [`AuditEntry`] is one [`RecordKind::Audit`] record (JSON metadata, no content)
//! in its own set of yearly volumes under `<data>/audit/` (purpose `audit`), written
//! with the same machinery as the mail: hash chain, group commit, signed checkpoints,
//! the archive's signing key. [`AuditLog::record`] returns only once the record is
//! fsynced, so callers audit content access *before* serving the content.
//!
//! # Catalog rows
//! The catalog's `audit` table is a derived view for filtering (`GET /api/v1/audit`):
//! after each append, and on [`AuditLog::open`], every durable audit record past the
//! catalog's high-water mark (purpose `audit`) is applied together with the new mark
//! in one transaction, exactly like the mail catalog; [`AuditLog::rebuild_catalog`]
//! recreates the rows from the volumes alone.
//!
//! # Verification
//! [`verify`] checks every audit volume from the files and the public key alone (chain,
//! Merkle tree, checkpoint signatures); [`cross_check::check_catalog`] checks the
//! catalog's rows against the records in both directions; `coffer audit verify` prints
//! both.
//!
//! # What an entry may hold
//! Actor (username, token name or `anonymous`), action, target (message id, username,
//! year...), outcome, client address and a JSON `detail` with ids, hashes, counts and,
//! for searches, the query text (which the issue requires). Never subjects, bodies or
//! participant addresses taken from messages.
//!
//! The writer must be the process that holds the data-directory lock
//! ([`coffer_volume::DataDirLock`]); this crate does not take it.

pub mod change;
pub mod cross_check;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{Datelike, TimeZone, Utc};
use coffer_catalog::Catalog;
use coffer_catalog::audit::{AUDIT, AuditRow};
use coffer_model::ErrorCode;
use coffer_volume::{
    ArchiveKey, PublicKey, RecordKind, VerifyReport, VolumeConfig, VolumeSet, verify_volume,
};
use serde::{Deserialize, Serialize};

pub use change::Actor;

/// Version of the audit record encoding.
pub const AUDIT_VERSION: u32 = 1;

/// Records read per catalog transaction during replay.
const REPLAY_BATCH: u64 = 1000;

/// Errors of the audit trail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The audit volumes failed.
    #[error(transparent)]
    Volume(#[from] coffer_volume::Error),
    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] coffer_catalog::Error),
    /// A blocking task panicked or was cancelled.
    #[error("audit task failed: {0}")]
    Task(String),
}

impl Error {
    /// The coarse class of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Volume(e) => e.code(),
            Error::Catalog(e) => e.code(),
            Error::Task(_) => ErrorCode::Internal,
        }
    }
}

/// Result with the audit [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How an audited request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Success,
    /// Tried and failed (wrong password, verification found damage, bad input).
    Failure,
    /// Refused by the role check (403).
    Denied,
    /// The target does not exist or is outside the caller's scope (404).
    NotFound,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
            Outcome::NotFound => "not_found",
        }
    }
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Encoding version ([`AUDIT_VERSION`]).
    pub v: u32,
    /// When, Unix microseconds (set by [`AuditLog::record`]).
    pub time_us: i64,
    /// Who: a username, an API token name, `anonymous`, or a command (`coffer serve`).
    pub actor: String,
    /// What: `login`, `logout`, `search`, `message.view`, `message.raw`,
    /// `message.attachment`, `message.proof`, `user.create`, `volume.verify`, ...
    pub action: String,
    /// On what: a message id, a username, a year; empty when nothing.
    pub target: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The client address (`127.0.0.1`, or `cli` for the command line).
    pub client: String,
    /// Further facts (ids, hashes, counts, query text); never message content.
    #[serde(default)]
    pub detail: serde_json::Value,
}

impl AuditEntry {
    /// An entry with an empty detail; the time is set when it is recorded.
    pub fn new(
        actor: impl Into<String>,
        action: impl Into<String>,
        target: impl Into<String>,
        outcome: Outcome,
        client: impl Into<String>,
    ) -> Self {
        Self {
            v: AUDIT_VERSION,
            time_us: 0,
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            outcome,
            client: client.into(),
            detail: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// The same entry with this detail object.
    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    fn to_row(&self, year: i32, seq: u64) -> AuditRow {
        AuditRow {
            year,
            seq,
            time_us: self.time_us,
            actor: self.actor.clone(),
            action: self.action.clone(),
            target: self.target.clone(),
            outcome: self.outcome.as_str().to_string(),
            client: self.client.clone(),
            detail: self.detail.to_string(),
        }
    }
}

/// Where a recorded entry went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// Audit volume year.
    pub year: i32,
    /// Record sequence number.
    pub seq: u64,
}

struct Inner {
    volumes: VolumeSet,
    catalog: Arc<Catalog>,
    /// Per year, the last sequence applied to the catalog; the lock serialises appliers.
    applied: tokio::sync::Mutex<BTreeMap<i32, u64>>,
    /// Whether a background apply is scheduled (coalesces the catalog writes of many
    /// concurrent records into one transaction).
    apply_scheduled: std::sync::atomic::AtomicBool,
}

/// The audit trail writer. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditLog({})", self.inner.volumes.root().display())
    }
}

fn year_of(micros: i64) -> i32 {
    Utc.timestamp_micros(micros)
        .single()
        .map_or(1970, |t| t.year())
}

fn now_us() -> i64 {
    Utc::now().timestamp_micros()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Task(e.to_string()))?
}

impl AuditLog {
    /// Opens the audit volumes under `dir` for writing (the caller holds the data
    /// directory lock) and replays into the catalog whatever it has not applied.
    pub async fn open(
        dir: &Path,
        key: ArchiveKey,
        catalog: Arc<Catalog>,
        config: VolumeConfig,
    ) -> Result<Self> {
        let dir = dir.to_path_buf();
        let volumes = blocking(move || Ok(VolumeSet::writer(&dir, AUDIT, key, config)?)).await?;
        let log = Self {
            inner: Arc::new(Inner {
                volumes,
                catalog,
                applied: tokio::sync::Mutex::new(BTreeMap::new()),
                apply_scheduled: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        log.catch_up().await?;
        for (year, report) in log.inner.volumes.take_recoveries() {
            if let Some(torn) = report.torn_tail {
                tracing::warn!(year, segment = %torn.segment, offset = torn.offset, bytes = torn.bytes, "audit volume had a torn tail; truncated");
            }
        }
        Ok(log)
    }

    /// The audit volumes (tree heads and proofs are read from them).
    pub fn volumes(&self) -> &VolumeSet {
        &self.inner.volumes
    }

    /// The audit volume directory.
    pub fn dir(&self) -> &Path {
        self.inner.volumes.root()
    }

    /// Records an entry: appends it (fsynced, group commit) to the audit volume of the
    /// current year and returns once it is durable. Its catalog row (a derived view) is
    /// written by a background task that coalesces concurrent records; readers call
    /// [`AuditLog::catch_up`] first, so a query always sees every durable entry.
    pub async fn record(&self, mut entry: AuditEntry) -> Result<Receipt> {
        entry.v = AUDIT_VERSION;
        entry.time_us = now_us();
        let year = year_of(entry.time_us);
        let meta = serde_json::to_vec(&entry).map_err(|e| Error::Task(e.to_string()))?;
        let inner = Arc::clone(&self.inner);
        let seq = blocking(move || {
            let volume = inner.volumes.get_or_create(year)?;
            Ok(volume.append(RecordKind::Audit, meta, None)?.seq)
        })
        .await?;
        self.schedule_apply();
        Ok(Receipt { year, seq })
    }

    /// Starts a background catch-up unless one is already pending.
    fn schedule_apply(&self) {
        use std::sync::atomic::Ordering;
        if self.inner.apply_scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let log = self.clone();
        tokio::spawn(async move {
            // Cleared before applying: a record made during the apply schedules another.
            log.inner.apply_scheduled.store(false, Ordering::Release);
            if let Err(e) = log.catch_up().await {
                tracing::error!(error = %e, "audit rows not applied to the catalog; they are replayed at the next query or start");
            }
        });
    }

    /// Applies every durable record of every year past the catalog's marks.
    pub async fn catch_up(&self) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        let years = blocking(move || Ok(inner.volumes.years()?)).await?;
        for year in years {
            self.apply_year(year).await?;
        }
        Ok(())
    }

    /// Drops the catalog's audit rows and rebuilds them from the volumes.
    pub async fn rebuild_catalog(&self) -> Result<()> {
        let mut applied = self.inner.applied.lock().await;
        self.inner.catalog.clear_derived(AUDIT).await?;
        applied.clear();
        drop(applied);
        self.catch_up().await
    }

    async fn apply_year(&self, year: i32) -> Result<()> {
        let mut applied = self.inner.applied.lock().await;
        let mut from = match applied.get(&year) {
            Some(seq) => *seq,
            None => self.inner.catalog.high_water(AUDIT, year).await?,
        };
        let inner = Arc::clone(&self.inner);
        let volume = blocking(move || Ok(inner.volumes.get(year)?)).await?;
        let Some(volume) = volume else { return Ok(()) };
        let durable = volume.last_seq();
        while from < durable {
            let to = durable.min(from + REPLAY_BATCH);
            let reader = volume.clone();
            let rows = blocking(move || read_rows(&reader, year, from + 1, to)).await?;
            self.inner.catalog.apply_audit(year, to, &rows).await?;
            from = to;
            applied.insert(year, to);
        }
        applied.insert(year, from.max(durable));
        Ok(())
    }

    /// Signs a checkpoint in every open audit volume with uncovered records. Blocking.
    pub fn checkpoint(&self) -> Result<()> {
        for year in self.inner.volumes.years()? {
            if let Some(volume) = self.inner.volumes.get(year)?
                && volume.manifest().state == coffer_volume::VolumeState::Open
            {
                volume.checkpoint()?;
            }
        }
        Ok(())
    }
}

/// Reads audit records `from..=to` of a volume as catalog rows; other kinds
/// (checkpoints) contribute nothing. An unreadable entry becomes a row that says so,
/// so the gap is visible rather than silent.
fn read_rows(
    volume: &coffer_volume::Volume,
    year: i32,
    from: u64,
    to: u64,
) -> Result<Vec<AuditRow>> {
    let mut rows = Vec::new();
    for seq in from..=to {
        if volume.kind(seq)? != RecordKind::Audit {
            continue;
        }
        let (header, meta) = volume.read_meta(seq)?;
        match serde_json::from_slice::<AuditEntry>(&meta) {
            Ok(entry) => rows.push(entry.to_row(year, seq)),
            Err(e) => {
                tracing::warn!(year, seq, error = %e, "unreadable audit record metadata");
                let mut entry = AuditEntry::new("?", "unreadable", "", Outcome::Failure, "");
                entry.time_us = header.received_us;
                rows.push(entry.to_row(year, seq));
            }
        }
    }
    Ok(rows)
}

/// Verifies every audit volume under `dir` with the archive's public key: one report
/// per year, each naming any damaged record. Blocking.
pub fn verify(dir: &Path, public_key: &PublicKey) -> Result<Vec<VerifyReport>> {
    let set = VolumeSet::reader(dir, AUDIT);
    Ok(set
        .years()?
        .into_iter()
        .map(|year| verify_volume(&set.dir_for(year), public_key))
        .collect())
}

/// `<data>/audit`: where the audit volumes of a data directory live.
pub fn audit_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("audit")
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_catalog::audit::AuditFilter;

    async fn setup() -> (tempfile::TempDir, ArchiveKey, Arc<Catalog>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (key, _) = ArchiveKey::load_or_create(&dir.path().join("keys")).expect("key");
        let catalog = Arc::new(
            Catalog::open_sqlite(&dir.path().join("catalog.sqlite"))
                .await
                .expect("catalog"),
        );
        (dir, key, catalog)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_are_durable_applied_replayed_and_verifiable() {
        let (dir, key, catalog) = setup().await;
        let audit_dir = dir.path().join("audit");
        let log = AuditLog::open(
            &audit_dir,
            key.clone(),
            catalog.clone(),
            VolumeConfig::default(),
        )
        .await
        .expect("open");
        let mut tasks = Vec::new();
        for i in 0..20 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let entry = AuditEntry::new("olga", "search", "", Outcome::Success, "127.0.0.1")
                    .with_detail(serde_json::json!({ "query": format!("q{i}"), "results": i }));
                log.record(entry).await.expect("record")
            }));
        }
        for t in tasks {
            t.await.expect("join");
        }
        let all = AuditFilter {
            limit: 100,
            ..Default::default()
        };
        log.catch_up().await.expect("catch up");
        let (total, rows) = catalog.audit_entries(&all).await.expect("rows");
        assert_eq!(total, 20);
        assert!(
            rows.iter()
                .all(|r| r.actor == "olga" && r.outcome == "success")
        );
        tokio::task::spawn_blocking({
            let log = log.clone();
            move || log.checkpoint()
        })
        .await
        .expect("join")
        .expect("checkpoint");

        // The catalog loses its rows; a reopen replays them from the volume.
        catalog.clear_derived(AUDIT).await.expect("clear");
        drop(log);
        let log = AuditLog::open(
            &audit_dir,
            key.clone(),
            catalog.clone(),
            VolumeConfig::default(),
        )
        .await
        .expect("reopen");
        assert_eq!(catalog.audit_entries(&all).await.expect("rows").0, 20);
        log.record(AuditEntry::new(
            "amy",
            "login",
            "amy",
            Outcome::Failure,
            "10.0.0.1",
        ))
        .await
        .expect("record");
        log.catch_up().await.expect("catch up");
        assert_eq!(catalog.audit_entries(&all).await.expect("rows").0, 21);

        let reports = verify(&audit_dir, &key.public_key()).expect("verify");
        assert_eq!(reports.len(), 1);
        assert!(reports[0].is_intact(), "{:?}", reports[0].problems);
        assert_eq!(reports[0].messages, 0);
    }
}
