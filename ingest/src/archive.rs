//! The archive as the ingest paths see it: one writer over the data directory that
//! accepts messages into the yearly volumes, deduplicates them, and keeps the catalog
//! and the index up to date.
//!
//! # Stages
//! 1. [`Archive::analyze`] (any thread, CPU only): SHA-256, parse into a
//!    [`MessageDoc`], assign mailboxes, build the custody metadata.
//! 2. [`Archive::prepare`] (any thread, CPU only): compress the volume record.
//! 3. [`Archive::commit`] (blocking): under the dedup lock, decide for each message
//!    whether it is new, a duplicate, or a duplicate that brings new mailboxes (a small
//!    link record), write the records, release the lock, then wait for the group-commit
//!    fsync. Only then does it return — the acknowledgement.
//! 4. The applier thread applies durable records to the catalog and the index in
//!    sequence order per volume, moving each one's high-water mark; records of another
//!    kind (checkpoints) just advance it.
//!
//! # Deduplication identity
//! A message is identified by the SHA-256 of its bytes. The lookup covers the catalog
//! and the records written but not yet applied (`pending`), so two concurrent copies of
//! the same bytes are never both stored.
//!
//! # Start-up
//! [`Archive::open`] takes the data directory lock, opens the key, volumes (recovery),
//! catalog and index, and replays every durable record that either derived view has not
//! applied yet ([`Archive::catch_up`]); an index year found damaged is cleared and
//! rebuilt from its volume.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{Datelike, TimeZone, Utc};
use coffer_catalog::{Applied, ApplyBatch, Catalog};
use coffer_extract::ExtractLimits;
use coffer_index::{IndexOptions, IndexSet};
use coffer_model::{Envelope, ErrorCode, MessageDoc, MessageId, Sha256};
use coffer_volume::{
    ArchiveKey, DataDirLock, Prepared, RecordKind, Volume, VolumeConfig, VolumeSet,
};
use sha2::Digest;

use crate::meta::{LinkMeta, META_VERSION, MessageMeta};
use crate::parse::{MailboxPolicy, assign_mailboxes, build_doc};

/// Purpose name of the mail volumes.
pub const MAIL: &str = "mail";

/// Most records written but not yet applied to the catalog and index before writers
/// wait for the applier.
const MAX_APPLY_BACKLOG: usize = 4_096;

/// Records the applier gathers into one catalog transaction while writers keep adding
/// more, when [`ArchiveOptions::apply_gather`] allows (bulk commands); below
/// [`MAX_APPLY_BACKLOG`] by more than one import batch, so writers never wait for a
/// batch that is still gathering.
///
/// Why gather: the catalog's `sha256` and `identity` indexes have random keys (digests),
/// and message ids sort as text (`2026-10` before `2026-9`), so each transaction dirties
/// pages all over those B-trees, and SQLite writes every dirtied page to its WAL at
/// commit and copies it back at the next checkpoint. Applying whatever was queued made a
/// 50,000-message import commit 109 transactions of ~460 messages, each rewriting most
/// of those index pages (commits and checkpoints: 3.4% of the import's CPU, perf); with
/// gathering it commits 16.
const APPLY_BATCH: usize = 3_072;
const _: () = assert!(APPLY_BATCH + crate::importer::BATCH_MESSAGES <= MAX_APPLY_BACKLOG);

/// How long the applier waits for writers to add records to a batch still smaller than
/// [`APPLY_BATCH`]: it stops as soon as a wait brings nothing new (writers are idle or
/// slow), when someone waits in [`Archive::flush`], and after
/// [`ArchiveOptions::apply_gather`] in all. Longer than the time a bulk import takes to
/// write one batch (about 150 ms).
const APPLY_GATHER_STEP: Duration = Duration::from_millis(250);

/// Errors of the archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A volume error.
    #[error(transparent)]
    Volume(#[from] coffer_volume::Error),
    /// A catalog error.
    #[error(transparent)]
    Catalog(#[from] coffer_catalog::Error),
    /// An index error.
    #[error(transparent)]
    Index(#[from] coffer_index::Error),
    /// Filesystem trouble outside the volumes.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The background applier stopped.
    #[error("archive applier stopped: {0}")]
    Applier(String),
}

impl ArchiveError {
    /// Whether the disk (or quota) is full: SMTP answers `452`, HTTP `507`.
    pub fn is_storage_full(&self) -> bool {
        match self {
            ArchiveError::Volume(coffer_volume::Error::Io { source, .. })
            | ArchiveError::Io { source, .. } => coffer_volume::is_storage_full(source),
            _ => false,
        }
    }

    /// The coarse class of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ArchiveError::Volume(e) => e.code(),
            ArchiveError::Catalog(e) => e.code(),
            ArchiveError::Index(e) => e.code(),
            ArchiveError::Io { source, .. } if coffer_volume::is_storage_full(source) => {
                ErrorCode::Unavailable
            }
            ArchiveError::Io { .. } => ErrorCode::Internal,
            ArchiveError::Applier(_) => ErrorCode::Unavailable,
        }
    }
}

/// Where the archiving rules of mailboxes come from (the catalog, in `coffer serve`).
pub trait RuleSource: Send + Sync {
    /// The rules of each of these mailboxes; missing ones get the default (both).
    fn rules_for(&self, mailboxes: &[String]) -> BTreeMap<String, crate::rules::MailboxRules>;
}

/// Result with [`ArchiveError`].
pub type Result<T, E = ArchiveError> = std::result::Result<T, E>;

/// Data directory layout.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// A data directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    /// The root.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `<root>/volumes`: the yearly mail volumes.
    pub fn volumes(&self) -> PathBuf {
        self.root.join("volumes")
    }
    /// `<root>/keys`: the archive key pair.
    pub fn keys(&self) -> PathBuf {
        self.root.join("keys")
    }
    /// `<root>/index`: the yearly search indexes.
    pub fn index(&self) -> PathBuf {
        self.root.join("index")
    }
    /// `<root>/catalog.sqlite`: the embedded catalog.
    pub fn catalog_file(&self) -> PathBuf {
        self.root.join("catalog.sqlite")
    }
    /// `<root>/audit`: the audit trail volumes.
    pub fn audit(&self) -> PathBuf {
        self.root.join("audit")
    }
}

/// Tunables of the archive.
#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    /// Volume writer settings.
    pub volume: VolumeConfig,
    /// Attachment extraction bounds.
    pub extract: ExtractLimits,
    /// The catalog URL; `None` means the embedded SQLite file.
    pub catalog_url: Option<String>,
    /// Commit the index when this many documents are waiting...
    pub index_commit_docs: u64,
    /// ... or when the oldest waiting document is this old.
    pub index_commit_interval: Duration,
    /// What this process is, for the lock file (`coffer serve`, `coffer import`).
    pub holder: String,
    /// Derived views to drop and rebuild from the volumes before starting.
    pub rebuild: Rebuild,
    /// Local domains, for telling internal from external mail (archiving rules).
    pub local_domains: Vec<String>,
    /// The archive's own journal addresses (e.g. Postfix's `always_bcc` target): envelope
    /// recipients that are not participants of the message.
    pub journal_addresses: Vec<String>,
    /// Leave the index behind (no attachment extraction, no indexing): it catches up at
    /// the next start or `coffer reindex`. For bulk migrations; search lags meanwhile.
    pub defer_index: bool,
    /// Index writer tuning ([`IndexOptions::bulk`] for bulk commands).
    pub index: IndexOptions,
    /// Longest the applier gathers records into one catalog transaction while writers
    /// keep adding more (see [`APPLY_BATCH`]). Zero (the default, the server's) applies
    /// whatever is queued at once, so a message is in the catalog (`coffer show`, the
    /// API) moments after it is acknowledged; bulk commands gather for up to a second.
    pub apply_gather: Duration,
}

/// What [`Archive::open`] rebuilds from scratch before replaying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rebuild {
    /// Nothing: replay only what the derived views miss.
    #[default]
    Nothing,
    /// The catalog (`coffer recatalog`).
    Catalog,
    /// The index of one year (`coffer reindex --year`).
    IndexYear(i32),
    /// The catalog and every index year (`coffer reindex`).
    Everything,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        Self {
            volume: VolumeConfig::default(),
            extract: ExtractLimits::default(),
            catalog_url: None,
            index_commit_docs: 20_000,
            index_commit_interval: Duration::from_secs(1),
            holder: "coffer".into(),
            rebuild: Rebuild::Nothing,
            defer_index: false,
            local_domains: Vec::new(),
            journal_addresses: Vec::new(),
            index: IndexOptions::default(),
            apply_gather: Duration::ZERO,
        }
    }
}

/// One message to ingest.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The original bytes.
    pub raw: Vec<u8>,
    /// `import`, `smtp`, `lmtp`, `http`.
    pub source: String,
    /// The SMTP envelope, if journaled.
    pub envelope: Option<Envelope>,
    /// Where an imported message came from.
    pub origin: Option<String>,
    /// How to pick its mailboxes.
    pub policy: MailboxPolicy,
    /// Journaled (SMTP/LMTP/HTTP): archiving rules apply, and journal copies of the same
    /// message are recognised by their identity, not only by their exact bytes.
    pub journaled: bool,
}

/// A message analysed and ready to commit.
#[derive(Debug, Clone)]
pub struct Analyzed {
    raw: Vec<u8>,
    sha256: Sha256,
    received_us: i64,
    doc: MessageDoc,
    meta: MessageMeta,
    prepared: Option<Prepared>,
    journaled: bool,
}

impl Analyzed {
    /// SHA-256 of the original bytes.
    pub fn sha256(&self) -> Sha256 {
        self.sha256
    }
    /// Size of the original bytes.
    pub fn raw_len(&self) -> u64 {
        self.raw.len() as u64
    }
    /// The parsed document (id not yet assigned).
    pub fn doc(&self) -> &MessageDoc {
        &self.doc
    }
    /// Whether the record is already compressed.
    pub fn is_prepared(&self) -> bool {
        self.prepared.is_some()
    }
}

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored as a new message.
    Archived {
        /// Its id.
        id: MessageId,
        /// Bytes its record takes in the volume.
        stored_bytes: u64,
    },
    /// Already archived; a link record added these mailboxes.
    Linked {
        /// The archived message.
        id: MessageId,
        /// The mailboxes added.
        added: Vec<String>,
    },
    /// Already archived with all its mailboxes: nothing written.
    Duplicate {
        /// The archived message.
        id: MessageId,
    },
    /// No mailbox's archiving rule admits it: not stored (the caller records it in the
    /// audit trail — rule outcome, time, size; no content).
    Excluded {
        /// Whether the message was classified internal.
        internal: bool,
        /// How many mailboxes refused it.
        refused: usize,
        /// Its size in bytes.
        size: u64,
    },
}

impl Outcome {
    /// The message id.
    pub fn id(&self) -> Option<MessageId> {
        match self {
            Outcome::Archived { id, .. }
            | Outcome::Linked { id, .. }
            | Outcome::Duplicate { id } => Some(*id),
            Outcome::Excluded { .. } => None,
        }
    }
}

struct PendingMessage {
    id: MessageId,
    mailboxes: BTreeSet<String>,
    /// The last record (message or link) that changed it, not yet applied.
    record: (i32, u64),
    /// Its identity, when registered in `Pending::by_identity`.
    identity: Option<Sha256>,
}

#[derive(Default)]
struct Pending {
    by_sha: HashMap<Sha256, PendingMessage>,
    /// Identity → SHA-256 of the pending message that has it.
    by_identity: HashMap<Sha256, Sha256>,
}

enum Offer {
    Message(Arc<MessageDoc>),
    Link {
        target: MessageId,
        sha256: Sha256,
        mailboxes: Vec<String>,
    },
}

#[derive(Default)]
struct ApplierQueue {
    offers: BTreeMap<(i32, u64), Offer>,
    shutdown: bool,
    failed: Option<String>,
    /// Last applied sequence per year (both views).
    applied: BTreeMap<i32, u64>,
    /// Callers of [`Archive::flush`] waiting for the applier (it then applies at once).
    flushing: usize,
}

struct ApplierShared {
    queue: Mutex<ApplierQueue>,
    wake: Condvar,
    applied_cv: Condvar,
}

/// The archive writer over one data directory.
pub struct Archive {
    data_dir: DataDir,
    _lock: DataDirLock,
    key: ArchiveKey,
    volumes: VolumeSet,
    catalog: Arc<Catalog>,
    index: Arc<IndexSet>,
    runtime: tokio::runtime::Handle,
    options: ArchiveOptions,
    pending: Mutex<Pending>,
    rules: Mutex<Option<Arc<dyn RuleSource>>>,
    local_domains: std::sync::RwLock<Vec<String>>,
    applier: Arc<ApplierShared>,
    applier_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Archive({})", self.data_dir.root().display())
    }
}

fn normalize_domains(domains: &[String]) -> Vec<String> {
    let mut out: Vec<String> = domains
        .iter()
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// UTC year of a time in microseconds.
pub fn year_of(micros: i64) -> i32 {
    Utc.timestamp_micros(micros)
        .single()
        .map_or(1970, |t| t.year())
}

/// Now, in microseconds since the epoch.
pub fn now_us() -> i64 {
    Utc::now().timestamp_micros()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Waits on `cv` for at most `timeout`, giving the guard back (a poisoned lock is taken
/// over, as in [`lock`]).
fn wait<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>, timeout: Duration) -> MutexGuard<'a, T> {
    cv.wait_timeout(guard, timeout)
        .map(|(g, _)| g)
        .unwrap_or_else(|p| p.into_inner().0)
}

/// Opens the catalog for a data directory (embedded SQLite unless a URL is given).
pub async fn open_catalog(data_dir: &DataDir, url: Option<&str>) -> Result<Catalog> {
    Ok(match url {
        Some(url) => Catalog::connect(url).await?,
        None => Catalog::open_sqlite(&data_dir.catalog_file()).await?,
    })
}

impl Archive {
    /// Opens the archive for writing: lock, key (created on first use), volumes,
    /// catalog, index, then replays whatever the derived views miss. Must be called
    /// from a blocking context inside a tokio runtime (e.g. `spawn_blocking`), since it
    /// drives async catalog calls itself.
    pub fn open(data_dir: DataDir, options: ArchiveOptions) -> Result<Arc<Self>> {
        Self::open_with_progress(data_dir, options, &mut |_| {})
    }

    /// [`Archive::open`], reporting replay progress (records processed).
    pub fn open_with_progress(
        data_dir: DataDir,
        options: ArchiveOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Arc<Self>> {
        let runtime = tokio::runtime::Handle::current();
        std::fs::create_dir_all(data_dir.root()).map_err(|source| ArchiveError::Io {
            path: data_dir.root().to_path_buf(),
            source,
        })?;
        let lock = DataDirLock::acquire(data_dir.root(), &options.holder)?;
        let (key, created) = ArchiveKey::load_or_create(&data_dir.keys())?;
        if created {
            tracing::info!(fingerprint = %key.fingerprint(), "created the archive signing key");
        }
        let volumes = VolumeSet::writer(
            &data_dir.volumes(),
            MAIL,
            key.clone(),
            options.volume.clone(),
        )?;
        let catalog =
            Arc::new(runtime.block_on(open_catalog(&data_dir, options.catalog_url.as_deref()))?);
        let index = Arc::new(IndexSet::open_with(
            &data_dir.index(),
            options.index.clone(),
        )?);
        let applier = Arc::new(ApplierShared {
            queue: Mutex::new(ApplierQueue::default()),
            wake: Condvar::new(),
            applied_cv: Condvar::new(),
        });
        let local_domains = normalize_domains(&options.local_domains);
        let archive = Arc::new(Self {
            data_dir,
            _lock: lock,
            key,
            volumes,
            catalog,
            index,
            runtime,
            options,
            pending: Mutex::new(Pending::default()),
            rules: Mutex::new(None),
            local_domains: std::sync::RwLock::new(local_domains),
            applier,
            applier_thread: Mutex::new(None),
        });
        match archive.options.rebuild {
            Rebuild::Nothing => {}
            Rebuild::Catalog => archive
                .runtime
                .block_on(archive.catalog.clear_derived(MAIL))?,
            Rebuild::IndexYear(year) => archive.index.clear_year(year)?,
            Rebuild::Everything => {
                archive
                    .runtime
                    .block_on(archive.catalog.clear_derived(MAIL))?;
                for year in archive.index.years() {
                    archive.index.clear_year(year)?;
                }
            }
        }
        archive.catch_up(progress)?;
        let worker = Arc::clone(&archive);
        let handle = std::thread::Builder::new()
            .name("archive-applier".into())
            .spawn(move || worker.applier_loop())
            .map_err(|source| ArchiveError::Io {
                path: PathBuf::from("<thread>"),
                source,
            })?;
        *lock_thread(&archive.applier_thread) = Some(handle);
        Ok(archive)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &DataDir {
        &self.data_dir
    }

    /// The signing key.
    pub fn key(&self) -> &ArchiveKey {
        &self.key
    }

    /// The mail volumes.
    pub fn volumes(&self) -> &VolumeSet {
        &self.volumes
    }

    /// The catalog.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// The index.
    pub fn index(&self) -> &Arc<IndexSet> {
        &self.index
    }

    fn extract_limits(&self) -> Option<&ExtractLimits> {
        (!self.options.defer_index).then_some(&self.options.extract)
    }

    /// Stage 1: hash, parse, assign mailboxes, build metadata. Pure CPU.
    pub fn analyze(&self, incoming: Incoming) -> Analyzed {
        let received_us = now_us();
        let sha256 = Sha256(sha2::Sha256::digest(&incoming.raw).into());
        let mut meta = MessageMeta {
            v: META_VERSION,
            source: incoming.source,
            mailboxes: Vec::new(),
            envelope: incoming.envelope,
            origin: incoming.origin,
            journal_addresses: if incoming.journaled {
                self.options
                    .journal_addresses
                    .iter()
                    .map(|a| a.trim().to_ascii_lowercase())
                    .collect()
            } else {
                Vec::new()
            },
        };
        let mut doc = build_doc(
            &incoming.raw,
            sha256,
            received_us / 1_000_000,
            &meta,
            self.extract_limits(),
        );
        meta.mailboxes = assign_mailboxes(&doc, &incoming.policy);
        doc.mailboxes = meta.mailboxes.clone();
        Analyzed {
            journaled: incoming.journaled,
            raw: incoming.raw,
            sha256,
            received_us,
            doc,
            meta,
            prepared: None,
        }
    }

    /// Stage 2: compress the record. Pure CPU; skipped for known duplicates.
    pub fn prepare(&self, analyzed: &mut Analyzed) -> Result<()> {
        if analyzed.prepared.is_none() {
            analyzed.prepared = Some(Prepared::new(
                RecordKind::Message,
                analyzed.received_us,
                analyzed.meta.to_bytes(),
                Some(&analyzed.raw),
                Some(analyzed.sha256.0),
                self.options.volume.zstd_level,
            )?);
        }
        Ok(())
    }

    /// Which of these digests the catalog already holds (an optimisation before
    /// [`Archive::prepare`]: known messages need no compression). Blocking.
    pub fn known(&self, digests: &[Sha256]) -> Result<BTreeSet<Sha256>> {
        let found = self
            .runtime
            .block_on(self.catalog.find_by_sha256(digests))?;
        Ok(found.into_keys().collect())
    }

    /// Stage 3: dedup, write, fsync. Returns one result per message, in order, only
    /// once every written record is durable. Blocking.
    pub fn commit(&self, batch: Vec<Analyzed>) -> Vec<Result<Outcome>> {
        let mut results: Vec<Option<Result<Outcome>>> = (0..batch.len()).map(|_| None).collect();
        let mut offers: Vec<((i32, u64), Offer)> = Vec::new();
        let mut to_sync: BTreeMap<i32, (Volume, u64)> = BTreeMap::new();
        let years: Vec<i32> = batch.iter().map(|a| year_of(a.received_us)).collect();
        {
            let mut pending = lock(&self.pending);
            let digests: Vec<Sha256> = batch.iter().map(|a| a.sha256).collect();
            let known = match self.runtime.block_on(self.catalog.find_by_sha256(&digests)) {
                Ok(k) => k,
                Err(e) => {
                    let code = e.to_string();
                    return batch
                        .iter()
                        .map(|_| {
                            Err(ArchiveError::Applier(format!(
                                "catalog lookup failed: {code}"
                            )))
                        })
                        .collect();
                }
            };
            for (i, mut item) in batch.into_iter().enumerate() {
                let year = years[i];
                if item.journaled
                    && let Some(excluded) = self.apply_rules(&mut item)
                {
                    results[i] = Some(Ok(excluded));
                    continue;
                }
                let existing = match self.find_existing(&pending, &known, &item) {
                    Ok(e) => e,
                    Err(e) => {
                        results[i] = Some(Err(e));
                        continue;
                    }
                };
                let result = match existing {
                    Some((id, have)) => {
                        let added: Vec<String> = item
                            .meta
                            .mailboxes
                            .iter()
                            .filter(|m| !have.contains(*m))
                            .cloned()
                            .collect();
                        if added.is_empty() {
                            Ok(Outcome::Duplicate { id })
                        } else {
                            self.write_link(
                                &mut pending,
                                &mut to_sync,
                                &mut offers,
                                year,
                                id,
                                &item,
                                have,
                                added,
                            )
                        }
                    }
                    None => {
                        self.write_message(&mut pending, &mut to_sync, &mut offers, year, &mut item)
                    }
                };
                results[i] = Some(result);
            }
        }
        // Group commit: one fsync per touched volume, shared with concurrent callers.
        let mut failed_years: BTreeMap<i32, String> = BTreeMap::new();
        for (year, (volume, seq)) in &to_sync {
            if let Err(e) = volume.sync_to(*seq) {
                tracing::error!(year, error = %e, "volume sync failed; nothing written to it in this batch is acknowledged");
                failed_years.insert(*year, e.to_string());
            }
        }
        if !failed_years.is_empty() {
            offers.retain(|((year, _), _)| !failed_years.contains_key(year));
            for (result, year) in results.iter_mut().zip(&years) {
                let written = matches!(
                    result,
                    Some(Ok(Outcome::Archived { .. } | Outcome::Linked { .. }))
                );
                if let (true, Some(reason)) = (written, failed_years.get(year)) {
                    *result = Some(Err(ArchiveError::Volume(
                        coffer_volume::Error::WriterFailed(reason.clone()),
                    )));
                }
            }
        }
        if !offers.is_empty() {
            let mut q = lock(&self.applier.queue);
            for (key, offer) in offers {
                q.offers.insert(key, offer);
            }
            self.applier.wake.notify_all();
            // Backpressure: the derived views may lag, but not without bound (offered
            // documents hold text in memory). What was written is durable already; this
            // only delays the next batch until the applier catches up.
            while q.offers.len() > MAX_APPLY_BACKLOG && q.failed.is_none() && !q.shutdown {
                q = wait(&self.applier.applied_cv, q, Duration::from_millis(100));
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(ArchiveError::Applier("message not processed".into())))
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn write_link(
        &self,
        pending: &mut Pending,
        to_sync: &mut BTreeMap<i32, (Volume, u64)>,
        offers: &mut Vec<((i32, u64), Offer)>,
        year: i32,
        target: MessageId,
        item: &Analyzed,
        have: BTreeSet<String>,
        added: Vec<String>,
    ) -> Result<Outcome> {
        let meta = LinkMeta {
            v: META_VERSION,
            target,
            sha256: item.sha256,
            mailboxes: added.clone(),
            source: item.meta.source.clone(),
            envelope: item.meta.envelope.clone(),
            origin: item.meta.origin.clone(),
        };
        let prepared = Prepared::new(
            RecordKind::Link,
            item.received_us,
            meta.to_bytes(),
            None,
            None,
            0,
        )?;
        let volume = self.volumes.get_or_create(year)?;
        let appended = volume.write_prepared(prepared)?;
        let entry = to_sync.entry(year).or_insert_with(|| (volume.clone(), 0));
        entry.1 = entry.1.max(appended.seq);
        let mut mailboxes = have;
        mailboxes.extend(added.iter().cloned());
        pending.by_sha.insert(
            item.sha256,
            PendingMessage {
                id: target,
                mailboxes,
                record: (year, appended.seq),
                identity: None,
            },
        );
        offers.push((
            (year, appended.seq),
            Offer::Link {
                target,
                sha256: item.sha256,
                mailboxes: added.clone(),
            },
        ));
        Ok(Outcome::Linked { id: target, added })
    }

    fn write_message(
        &self,
        pending: &mut Pending,
        to_sync: &mut BTreeMap<i32, (Volume, u64)>,
        offers: &mut Vec<((i32, u64), Offer)>,
        year: i32,
        item: &mut Analyzed,
    ) -> Result<Outcome> {
        self.prepare(item)?;
        let Some(prepared) = item.prepared.take() else {
            return Err(ArchiveError::Applier("record was not prepared".into()));
        };
        let stored_bytes = prepared.stored_len();
        let volume = self.volumes.get_or_create(year)?;
        let appended = volume.write_prepared(prepared)?;
        let entry = to_sync.entry(year).or_insert_with(|| (volume.clone(), 0));
        entry.1 = entry.1.max(appended.seq);
        let id = MessageId::new(year, appended.seq);
        let mut doc = std::mem::take(&mut item.doc);
        doc.id = id;
        if let Some(identity) = doc.identity {
            pending.by_identity.insert(identity, item.sha256);
        }
        pending.by_sha.insert(
            item.sha256,
            PendingMessage {
                id,
                mailboxes: item.meta.mailboxes.iter().cloned().collect(),
                record: (year, appended.seq),
                identity: doc.identity,
            },
        );
        offers.push(((year, appended.seq), Offer::Message(Arc::new(doc))));
        Ok(Outcome::Archived { id, stored_bytes })
    }

    /// The archived (or pending) message this one duplicates: same bytes, or — for
    /// journaled mail — same identity (a journal copy with other trace headers).
    fn find_existing(
        &self,
        pending: &Pending,
        known: &HashMap<Sha256, coffer_catalog::KnownMessage>,
        item: &Analyzed,
    ) -> Result<Option<(MessageId, BTreeSet<String>)>> {
        if let Some(p) = pending.by_sha.get(&item.sha256) {
            return Ok(Some((p.id, p.mailboxes.clone())));
        }
        if let Some(k) = known.get(&item.sha256) {
            return Ok(Some((k.id, k.mailboxes.iter().cloned().collect())));
        }
        let Some(identity) = item.doc.identity.filter(|_| item.journaled) else {
            return Ok(None);
        };
        if let Some(p) = pending
            .by_identity
            .get(&identity)
            .and_then(|sha| pending.by_sha.get(sha))
        {
            return Ok(Some((p.id, p.mailboxes.clone())));
        }
        let found = self
            .runtime
            .block_on(self.catalog.find_by_identity(&identity))?;
        Ok(found.map(|k| (k.id, k.mailboxes.into_iter().collect())))
    }

    /// Applies the archiving rules to a journaled message: keeps only the mailboxes whose
    /// rules admit it, or returns [`Outcome::Excluded`] when none does.
    fn apply_rules(&self, item: &mut Analyzed) -> Option<Outcome> {
        let source = lock(&self.rules).clone()?;
        let recipients: Vec<&str> = item
            .doc
            .to
            .iter()
            .chain(&item.doc.cc)
            .chain(&item.doc.bcc)
            .map(|a| a.email.as_str())
            .chain(item.doc.envelope_recipients.iter().map(String::as_str))
            .collect();
        let sender = item.doc.from.first().map(|a| a.email.as_str());
        let internal = crate::rules::is_internal(sender, recipients, &self.local_domains());
        let rules = source.rules_for(&item.meta.mailboxes);
        let decision = crate::rules::evaluate(&item.meta.mailboxes, internal, &rules);
        if !decision.stored() {
            return Some(Outcome::Excluded {
                internal,
                refused: decision.refused.len(),
                size: item.raw.len() as u64,
            });
        }
        if !decision.refused.is_empty() {
            item.meta.mailboxes = decision.admitted.clone();
            item.doc.mailboxes = decision.admitted;
            item.prepared = None;
        }
        None
    }

    /// The local domains (lowercased): their participants are mailboxes, and they define
    /// internal mail.
    pub fn local_domains(&self) -> Vec<String> {
        self.local_domains
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the local domains (the configuration plus the domains the administrator
    /// manages; `coffer serve` refreshes them).
    pub fn set_local_domains(&self, domains: &[String]) {
        *self
            .local_domains
            .write()
            .unwrap_or_else(|p| p.into_inner()) = normalize_domains(domains);
    }

    /// Installs the source of archiving rules (journaled mail only).
    pub fn set_rule_source(&self, source: Arc<dyn RuleSource>) {
        *lock(&self.rules) = Some(source);
    }

    /// Blocks until every record written so far is applied to the catalog and the
    /// index (and the index committed), or the applier failed.
    pub fn flush(&self) -> Result<()> {
        let targets: Vec<(i32, u64)> = {
            let years = self.volumes.years()?;
            let mut t = Vec::new();
            for y in years {
                if let Some(v) = self.volumes.get(y)? {
                    t.push((y, v.last_seq()));
                }
            }
            t
        };
        let mut q = lock(&self.applier.queue);
        q.flushing += 1;
        let waited = loop {
            if let Some(f) = &q.failed {
                break Err(ArchiveError::Applier(f.clone()));
            }
            let done = targets
                .iter()
                .all(|(y, s)| q.applied.get(y).copied().unwrap_or(0) >= *s);
            if done && q.offers.is_empty() {
                break Ok(());
            }
            self.applier.wake.notify_all();
            q = wait(&self.applier.applied_cv, q, Duration::from_millis(200));
        };
        q.flushing -= 1;
        drop(q);
        waited?;
        for (year, _) in targets {
            if self.options.defer_index {
                break;
            }
            let applied = lock(&self.applier.queue)
                .applied
                .get(&year)
                .copied()
                .unwrap_or(0);
            if self.index.high_water(year).unwrap_or(0) < applied {
                self.index.commit(year, applied)?;
            }
        }
        Ok(())
    }

    /// Signs a checkpoint in every open volume that has records not yet covered by one,
    /// so everything accepted so far is under a signed tree head.
    pub fn checkpoint_all(&self) -> Result<()> {
        for year in self.volumes.years()? {
            if let Some(volume) = self.volumes.get(year)?
                && volume.manifest().state == coffer_volume::VolumeState::Open
            {
                volume.checkpoint()?;
            }
        }
        Ok(())
    }

    /// Stops the applier after applying everything durable, commits the index, and
    /// signs a final checkpoint in each open volume.
    pub fn shutdown(&self) -> Result<()> {
        let checkpointed = self.checkpoint_all();
        let flushed = self.flush().and(checkpointed);
        lock(&self.applier.queue).shutdown = true;
        self.applier.wake.notify_all();
        if let Some(handle) = lock_thread(&self.applier_thread).take() {
            let _ = handle.join();
        }
        flushed
    }

    /// Replays every durable record that the catalog or the index has not applied yet,
    /// per volume year; damaged index years are cleared and rebuilt. `progress` gets
    /// the number of records processed so far. Blocking.
    pub fn catch_up(&self, progress: &mut dyn FnMut(u64)) -> Result<()> {
        let mut processed = 0u64;
        for year in self.volumes.years()? {
            let Some(volume) = self.volumes.get(year)? else {
                continue;
            };
            if let Some(coffer_index::YearStatus::NeedsRebuild { reason }) =
                self.index.year_status(year)
            {
                tracing::warn!(year, reason = %reason, "index year needs a rebuild; rebuilding from the volume");
                self.index.clear_year(year)?;
            }
            let durable = volume.last_seq();
            let catalog_hw = self.runtime.block_on(self.catalog.high_water(MAIL, year))?;
            let index_hw = if self.options.defer_index {
                durable
            } else {
                self.index.high_water(year).unwrap_or(0)
            };
            let start = catalog_hw.min(index_hw) + 1;
            if start <= durable {
                tracing::info!(
                    year,
                    from = start,
                    to = durable,
                    "replaying volume records into the derived views"
                );
            }
            // Commit the index as the applier does (every `index_commit_docs` documents
            // or `index_commit_interval`) and at the end: each commit writes a segment,
            // and committing every chunk made a 50,000-message rebuild spend a third of
            // its CPU merging ~200 small segments. The high-water mark in each commit
            // keeps a crash mid-way correct: the next start replays from it.
            let mut uncommitted_docs = 0u64;
            let mut last_commit = Instant::now();
            let mut seq = start;
            while seq <= durable {
                let end = (seq + 255).min(durable);
                let derived = self.derive_range(&volume, year, seq, end)?;
                let catalog_items: Vec<Applied> = derived
                    .iter()
                    .filter(|(s, _)| *s > catalog_hw)
                    .map(|(_, d)| d.to_applied())
                    .collect();
                if end > catalog_hw {
                    self.runtime.block_on(self.catalog.apply(&ApplyBatch {
                        purpose: MAIL,
                        year,
                        up_to_seq: end,
                        items: catalog_items,
                    }))?;
                }
                if end > index_hw {
                    let catalog_mailboxes = self.runtime.block_on(
                        self.catalog
                            .mailboxes_in_range(year, seq.max(index_hw + 1), end),
                    )?;
                    // A link whose message is replayed in this same chunk needs no work
                    // of its own: the message is indexed with the catalog's mailboxes,
                    // which already include the link's (journal copies arrive close
                    // together, so this spares most re-reads of linked messages).
                    let indexed_here: HashSet<u64> = derived
                        .iter()
                        .filter(|(s, d)| *s > index_hw && matches!(d, Derived::Message(_)))
                        .map(|(s, _)| *s)
                        .collect();
                    let mut link_targets = Vec::new();
                    for (s, d) in &derived {
                        if *s <= index_hw {
                            continue;
                        }
                        match d {
                            Derived::Message(doc) => {
                                self.index_replayed(doc, &catalog_mailboxes)?
                            }
                            Derived::Link { target, .. } => {
                                if target.year != year || !indexed_here.contains(&target.seq) {
                                    link_targets.push(*target);
                                }
                            }
                        }
                        uncommitted_docs += 1;
                    }
                    self.reindex_messages(&link_targets)?;
                }
                let commit_due = end == durable
                    || uncommitted_docs >= self.options.index_commit_docs
                    || last_commit.elapsed() >= self.options.index_commit_interval;
                if end > index_hw && !self.options.defer_index && commit_due {
                    self.index.commit(year, end)?;
                    uncommitted_docs = 0;
                    last_commit = Instant::now();
                }
                processed += end - seq + 1;
                progress(processed);
                seq = end + 1;
            }
            lock(&self.applier.queue).applied.insert(year, durable);
        }
        Ok(())
    }

    /// Derives the catalog/index changes of records `from..=to` of a volume, reading
    /// and parsing message records in parallel.
    fn derive_range(
        &self,
        volume: &Volume,
        year: i32,
        from: u64,
        to: u64,
    ) -> Result<Vec<(u64, Derived)>> {
        use rayon::prelude::*;
        let seqs: Vec<u64> = (from..=to).collect();
        let derived: Vec<Result<Option<(u64, Derived)>>> = seqs
            .par_iter()
            .map(|&seq| {
                Ok(match volume.kind(seq)? {
                    RecordKind::Message => {
                        let doc = self.read_message_doc(volume, MessageId::new(year, seq))?;
                        Some((seq, Derived::Message(Arc::new(doc))))
                    }
                    RecordKind::Link => {
                        let (_, meta) = volume.read_meta(seq)?;
                        match LinkMeta::from_bytes(&meta) {
                            Ok(link) => Some((seq, Derived::Link { target: link.target, mailboxes: link.mailboxes })),
                            Err(e) => {
                                tracing::warn!(year, seq, error = %e, "unreadable link metadata; skipped");
                                None
                            }
                        }
                    }
                    _ => None,
                })
            })
            .collect();
        let mut out = Vec::with_capacity(derived.len());
        for d in derived {
            if let Some(x) = d? {
                out.push(x);
            }
        }
        Ok(out)
    }

    /// The index document of message record `id` of `volume`, derived from the
    /// record alone (its mailboxes are those the record's metadata names).
    fn read_message_doc(&self, volume: &Volume, id: MessageId) -> Result<MessageDoc> {
        let record = volume.read(id.seq)?;
        let meta = MessageMeta::from_bytes(&record.meta).unwrap_or_else(|e| {
            tracing::warn!(year = id.year, seq = id.seq, error = %e, "unreadable message metadata; indexing without mailboxes");
            MessageMeta::default()
        });
        let mut doc = build_doc(
            &record.content,
            Sha256(record.header.content_sha256),
            record.header.received_us.div_euclid(1_000_000),
            &meta,
            self.extract_limits(),
        );
        doc.id = id;
        Ok(doc)
    }

    /// Adds a replayed message to the index, with its mailboxes as the catalog knows
    /// them (links included): `catalog_mailboxes` holds them for the chunk being
    /// replayed ([`Catalog::mailboxes_in_range`]; one query per chunk, not per message).
    fn index_replayed(
        &self,
        doc: &Arc<MessageDoc>,
        catalog_mailboxes: &HashMap<u64, Vec<String>>,
    ) -> Result<()> {
        match catalog_mailboxes.get(&doc.id.seq) {
            // Links added mailboxes after the message record.
            Some(mailboxes) if *mailboxes != doc.mailboxes => {
                let mut doc = doc.as_ref().clone();
                doc.mailboxes = mailboxes.clone();
                self.index.add(&doc)?;
            }
            _ => self.index.add(doc)?,
        }
        Ok(())
    }

    /// Re-derives messages from their volume records and replaces their index
    /// documents, with the mailboxes the catalog now has (used when link records add
    /// mailboxes). Records are read and parsed in parallel and the mailboxes come from
    /// one catalog query per few ids: done one by one, 50,000 journal copies took a
    /// minute to apply.
    fn reindex_messages(&self, targets: &[MessageId]) -> Result<()> {
        use rayon::prelude::*;
        let mut targets = targets.to_vec();
        targets.sort();
        targets.dedup();
        if targets.is_empty() {
            return Ok(());
        }
        let mailboxes = self
            .runtime
            .block_on(self.catalog.mailboxes_of_many(&targets))?;
        let docs: Vec<Result<Option<MessageDoc>>> = targets
            .par_iter()
            .map(|&id| {
                let Some(volume) = self.volumes.get(id.year)? else {
                    return Ok(None);
                };
                let mut doc = self.read_message_doc(&volume, id)?;
                doc.mailboxes = mailboxes.get(&id).cloned().unwrap_or_default();
                Ok(Some(doc))
            })
            .collect();
        for doc in docs {
            if let Some(doc) = doc? {
                self.index.replace(&doc)?;
            }
        }
        Ok(())
    }

    fn applier_loop(self: Arc<Self>) {
        let mut uncommitted: BTreeMap<i32, (u64, Instant)> = BTreeMap::new();
        loop {
            let mut work: Vec<YearWork> = Vec::new();
            {
                let mut q = lock(&self.applier.queue);
                if q.shutdown && q.offers.is_empty() {
                    break;
                }
                if q.offers.is_empty() {
                    let timeout = if uncommitted.is_empty() {
                        Duration::from_secs(1)
                    } else {
                        Duration::from_millis(100)
                    };
                    q = wait(&self.applier.wake, q, timeout);
                }
                let gathering = Instant::now();
                let mut gathered = q.offers.len();
                while gathered > 0
                    && gathered < APPLY_BATCH
                    && q.flushing == 0
                    && !q.shutdown
                    && gathering.elapsed() < self.options.apply_gather
                {
                    q = wait(&self.applier.wake, q, APPLY_GATHER_STEP);
                    if q.offers.len() <= gathered {
                        break;
                    }
                    gathered = q.offers.len();
                }
                let mut years: BTreeSet<i32> = q.offers.keys().map(|(y, _)| *y).collect();
                // Years whose last records have no offers (checkpoints) must advance too.
                years.extend(self.volumes.years().unwrap_or_default());
                for year in years {
                    let mut next = q.applied.get(&year).copied().unwrap_or(0) + 1;
                    let durable = self
                        .volumes
                        .get(year)
                        .ok()
                        .flatten()
                        .map_or(0, |v| v.last_seq());
                    let mut items = Vec::new();
                    while next <= durable {
                        if let Some(offer) = q.offers.remove(&(year, next)) {
                            items.push((next, offer));
                        } else if self.is_underived(year, next) {
                            // checkpoints and other records without derived rows
                        } else {
                            break;
                        }
                        next += 1;
                    }
                    let last = next - 1;
                    if last > q.applied.get(&year).copied().unwrap_or(0) {
                        work.push((year, last, items));
                    }
                }
            }
            for (year, last, items) in work {
                if let Err(e) = self.apply_offers(year, last, items, &mut uncommitted) {
                    tracing::error!(year, error = %e, "applying records to the catalog and index failed; they will be replayed at the next start");
                    lock(&self.applier.queue).failed = Some(e.to_string());
                    self.applier.applied_cv.notify_all();
                    return;
                }
                lock(&self.applier.queue).applied.insert(year, last);
                self.applier.applied_cv.notify_all();
            }
            let due: Vec<(i32, u64)> = uncommitted
                .iter()
                .filter(|(_, (docs, since))| {
                    *docs >= self.options.index_commit_docs
                        || since.elapsed() >= self.options.index_commit_interval
                })
                .map(|(y, _)| {
                    (
                        *y,
                        lock(&self.applier.queue)
                            .applied
                            .get(y)
                            .copied()
                            .unwrap_or(0),
                    )
                })
                .collect();
            for (year, hw) in due {
                if let Err(e) = self.index.commit(year, hw) {
                    tracing::error!(year, error = %e, "index commit failed");
                    lock(&self.applier.queue).failed = Some(e.to_string());
                    self.applier.applied_cv.notify_all();
                    return;
                }
                uncommitted.remove(&year);
            }
        }
        for (year, _) in uncommitted {
            let hw = lock(&self.applier.queue)
                .applied
                .get(&year)
                .copied()
                .unwrap_or(0);
            if let Err(e) = self.index.commit(year, hw) {
                tracing::error!(year, error = %e, "final index commit failed");
            }
        }
    }

    fn is_underived(&self, year: i32, seq: u64) -> bool {
        self.volumes
            .get(year)
            .ok()
            .flatten()
            .and_then(|v| v.kind(seq).ok())
            .is_some_and(|k| !matches!(k, RecordKind::Message | RecordKind::Link))
    }

    fn apply_offers(
        &self,
        year: i32,
        last: u64,
        items: Vec<(u64, Offer)>,
        uncommitted: &mut BTreeMap<i32, (u64, Instant)>,
    ) -> Result<()> {
        let mut applied = Vec::with_capacity(items.len());
        let mut shas: Vec<(Sha256, (i32, u64))> = Vec::new();
        for (seq, offer) in &items {
            match offer {
                Offer::Message(doc) => {
                    shas.push((doc.sha256, (year, *seq)));
                    applied.push(Applied::Message(Arc::clone(doc)));
                }
                Offer::Link {
                    target,
                    sha256,
                    mailboxes,
                } => {
                    shas.push((*sha256, (year, *seq)));
                    applied.push(Applied::Link {
                        target: *target,
                        mailboxes: mailboxes.clone(),
                    });
                }
            }
        }
        self.runtime.block_on(self.catalog.apply(&ApplyBatch {
            purpose: MAIL,
            year,
            up_to_seq: last,
            items: applied,
        }))?;
        {
            let mut pending = lock(&self.pending);
            for (sha, record) in shas {
                if pending.by_sha.get(&sha).is_none_or(|p| p.record != record) {
                    continue;
                }
                let identity = pending.by_sha.remove(&sha).and_then(|p| p.identity);
                if let Some(identity) =
                    identity.filter(|i| pending.by_identity.get(i) == Some(&sha))
                {
                    pending.by_identity.remove(&identity);
                }
            }
        }
        if self.options.defer_index {
            return Ok(());
        }
        let mut docs = 0u64;
        let mut link_targets = Vec::new();
        for (_, offer) in items {
            match offer {
                Offer::Message(doc) => self.index.add(&doc)?,
                Offer::Link { target, .. } => link_targets.push(target),
            }
            docs += 1;
        }
        // After the messages: a link may target a message of this same batch.
        self.reindex_messages(&link_targets)?;
        let entry = uncommitted.entry(year).or_insert((0, Instant::now()));
        entry.0 += docs.max(1);
        Ok(())
    }
}

fn lock_thread(
    m: &Mutex<Option<std::thread::JoinHandle<()>>>,
) -> MutexGuard<'_, Option<std::thread::JoinHandle<()>>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Records of one year ready to apply: the year, the last sequence they reach, and the
/// offered derived changes among them.
type YearWork = (i32, u64, Vec<(u64, Offer)>);

/// A derived change from one record, during replay.
enum Derived {
    Message(Arc<MessageDoc>),
    Link {
        target: MessageId,
        mailboxes: Vec<String>,
    },
}

impl Derived {
    fn to_applied(&self) -> Applied {
        match self {
            Derived::Message(doc) => Applied::Message(Arc::clone(doc)),
            Derived::Link { target, mailboxes } => Applied::Link {
                target: *target,
                mailboxes: mailboxes.clone(),
            },
        }
    }
}
