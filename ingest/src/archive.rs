//! The archive as the ingest paths see it: one writable data directory, its volumes, and
//! the views derived from them, wired into the pipeline's stages.
//!
//! ```text
//! Incoming ─► Analyzer ─► Writer::commit ─► (fsync, ack) ─► Applier ─► catalog + index
//!             analyze.rs   writer.rs                        applier.rs  (views.rs)
//!                          dedup.rs                         replay.rs at start-up
//! ```
//!
//! [`Archive::open`] takes the data directory ([`data_dir`](crate::data_dir): lock, key),
//! opens the volumes (recovery), the catalog and the index, replays whatever the derived
//! views miss ([`replay`](crate::replay)), and starts the applier. [`Archive::shutdown`]
//! applies everything durable, commits the index and signs a final checkpoint in each open
//! volume. Everything here is async; the blocking work of each stage runs on the
//! blocking pool in batches.

use std::sync::Arc;

use coffer_catalog::Catalog;
use coffer_extract::ExtractLimits;
use coffer_index::{IndexOptions, IndexSet};
use coffer_keystore::KeyStore;
use coffer_volume::{ArchiveKey, ContentKeys, VolumeConfig, VolumeSet, VolumeState};

use crate::analyze::{Analyzed, Analyzer, Incoming};
use crate::applier::{AppliedViews, Applier};
use crate::data_dir::{DataDir, WritableDataDir};
use crate::dedup::Pending;
use crate::error::Result;
use crate::hit_text::VolumeHitText;
use crate::replay::{self, Rebuild};
use crate::views::{DerivedViews, MAIL};
use crate::writer::{Outcome, Writer};

/// Tunables of the archive.
#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    /// Volume writer settings.
    pub volume: VolumeConfig,
    /// Attachment extraction bounds.
    pub extract: ExtractLimits,
    /// The catalog URL; `None` means the embedded SQLite file.
    pub catalog_url: Option<String>,
    /// How the applier keeps the index and batches catalog transactions.
    pub applied: AppliedViews,
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
    /// The key-encryption key file of the data-key store (default `keys/kek` in the
    /// data directory; `[keys] kek_file` in coffer.toml).
    pub kek_file: Option<std::path::PathBuf>,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        Self {
            volume: VolumeConfig::default(),
            extract: ExtractLimits::default(),
            catalog_url: None,
            applied: AppliedViews::default(),
            holder: "coffer".into(),
            rebuild: Rebuild::Nothing,
            defer_index: false,
            local_domains: Vec::new(),
            journal_addresses: Vec::new(),
            index: IndexOptions::default(),
            kek_file: None,
        }
    }
}

impl ArchiveOptions {
    /// Options of a bulk command (`import`, `reindex`, `recatalog`, ...): a large index
    /// writer ([`IndexOptions::bulk`]) that commits rarely. Each commit waits for every
    /// indexing thread and writes a segment that must later be merged; nobody is waiting
    /// to search, and the final flush commits the rest. (With the server's policy, a
    /// commit every second, a 50,000-message `coffer reindex` wrote ~40 small segments
    /// and took 57 s instead of 37 s.) The applier gathers up to a second of records into
    /// each catalog transaction (109 → 16 transactions for 50,000 messages).
    pub fn bulk(self) -> Self {
        Self {
            applied: AppliedViews {
                index_commit_docs: 200_000,
                index_commit_interval: std::time::Duration::from_secs(60),
                apply_gather: std::time::Duration::from_secs(1),
            },
            index: IndexOptions::bulk(),
            ..self
        }
    }
}

/// The archive writer over one data directory.
pub struct Archive {
    data_dir: WritableDataDir,
    views: DerivedViews,
    writer: Writer,
    applier: Arc<Applier>,
    key_store: Arc<KeyStore>,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Archive({})", self.data_dir.dir().root().display())
    }
}

impl Archive {
    /// Opens the archive for writing: lock, key (created on first use), volumes,
    /// catalog, index; replays whatever the derived views miss; starts the applier.
    pub async fn open(data_dir: DataDir, options: ArchiveOptions) -> Result<Arc<Self>> {
        Self::open_with_progress(data_dir, options, &mut |_| {}).await
    }

    /// [`Archive::open`], reporting replay progress (records processed).
    pub async fn open_with_progress(
        data_dir: DataDir,
        options: ArchiveOptions,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<Arc<Self>> {
        let (data_dir, volumes, index, key_store) = {
            let holder = options.holder.clone();
            let (volume_config, index_options) = (options.volume.clone(), options.index.clone());
            let kek_file = options.kek_file.clone();
            tokio::task::spawn_blocking(move || -> Result<_> {
                let data_dir = data_dir.open_for_writing(&holder)?;
                let key_store = Arc::new(data_dir.dir().open_key_store(kek_file.as_deref())?);
                let volumes = VolumeSet::writer(
                    &data_dir.dir().volumes(),
                    MAIL,
                    data_dir.key().clone(),
                    volume_config,
                )?
                .with_content_keys(Arc::clone(&key_store) as Arc<dyn ContentKeys>);
                let index = IndexSet::open_with(&data_dir.dir().index(), index_options)?;
                Ok((data_dir, volumes, index, key_store))
            })
            .await??
        };
        let catalog = data_dir
            .dir()
            .open_catalog(options.catalog_url.as_deref())
            .await?;
        let volumes = Arc::new(volumes);
        index.set_hit_text(Arc::new(VolumeHitText::new(Arc::clone(&volumes))));
        let views = DerivedViews {
            volumes,
            catalog: Arc::new(catalog),
            index: Arc::new(index),
            extract: (!options.defer_index).then(|| options.extract.clone()),
        };
        replay::clear(&views, options.rebuild).await?;
        let applied = replay::catch_up(&views, &options.applied, progress).await?;
        let pending = Arc::new(tokio::sync::Mutex::new(Pending::default()));
        let applier = Arc::new(Applier::start(
            views.clone(),
            Arc::clone(&pending),
            options.applied.clone(),
            applied,
        ));
        let analyzer = Analyzer {
            extract: views.extract.clone(),
            journal_addresses: options
                .journal_addresses
                .iter()
                .map(|a| a.trim().to_ascii_lowercase())
                .collect(),
            zstd_level: options.volume.zstd_level,
            volumes: Some(Arc::clone(&views.volumes)),
        };
        let writer = Writer::new(
            Arc::clone(&views.volumes),
            Arc::clone(&views.catalog),
            analyzer,
            pending,
            &options.local_domains,
            Arc::clone(&applier),
        );
        Ok(Arc::new(Self {
            data_dir,
            views,
            writer,
            applier,
            key_store,
        }))
    }

    /// The data directory.
    pub fn data_dir(&self) -> &DataDir {
        self.data_dir.dir()
    }

    /// The signing key.
    pub fn key(&self) -> &ArchiveKey {
        self.data_dir.key()
    }

    /// The data-key store of the mail volumes' encrypted content.
    pub fn key_store(&self) -> &Arc<KeyStore> {
        &self.key_store
    }

    /// The mail volumes.
    pub fn volumes(&self) -> &Arc<VolumeSet> {
        &self.views.volumes
    }

    /// The catalog.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.views.catalog
    }

    /// The index.
    pub fn index(&self) -> &Arc<IndexSet> {
        &self.views.index
    }

    /// The writer (rules, dedup, append, group commit).
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// The local domains (lowercased): their participants are mailboxes, and they define
    /// internal mail.
    pub fn local_domains(&self) -> Vec<String> {
        self.writer.local_domains()
    }

    /// Replaces the local domains (the configuration plus the domains the administrator
    /// manages; `coffer serve` refreshes them).
    pub fn set_local_domains(&self, domains: &[String]) {
        self.writer.set_local_domains(domains);
    }

    /// Stage 1 on the calling thread (CPU only): see [`Analyzer::analyze`].
    pub fn analyze(&self, incoming: Incoming) -> Analyzed {
        self.writer.analyzer().analyze(incoming)
    }

    /// Analyses one message on the blocking pool and commits it: the whole pipeline for
    /// a single message (SMTP, HTTP). Returns once durable.
    pub async fn ingest(self: &Arc<Self>, incoming: Incoming) -> Result<Outcome> {
        let archive = Arc::clone(self);
        let analyzed = tokio::task::spawn_blocking(move || archive.analyze(incoming)).await?;
        self.writer
            .commit(vec![analyzed])
            .await
            .pop()
            .unwrap_or(Err(crate::error::IngestError::ShuttingDown))
    }

    /// Waits until every record written so far is applied to the catalog and the index
    /// (and the index committed), or the applier failed.
    pub async fn flush(&self) -> Result<()> {
        let volumes = Arc::clone(&self.views.volumes);
        let targets = tokio::task::spawn_blocking(move || -> Result<Vec<(i32, u64)>> {
            let mut targets = Vec::new();
            for year in volumes.years()? {
                if let Some(volume) = volumes.get_online(year)? {
                    targets.push((year, volume.last_seq()));
                }
            }
            Ok(targets)
        })
        .await??;
        self.applier.flush(&targets).await
    }

    /// Signs a checkpoint in every open volume that has records not yet covered by one,
    /// so everything accepted so far is under a signed tree head.
    pub async fn checkpoint_all(&self) -> Result<()> {
        let volumes = Arc::clone(&self.views.volumes);
        tokio::task::spawn_blocking(move || -> Result<()> {
            for year in volumes.years()? {
                if let Some(volume) = volumes.get_online(year)?
                    && volume.manifest().state == VolumeState::Open
                {
                    volume.checkpoint()?;
                }
            }
            Ok(())
        })
        .await?
    }

    /// Stops the applier after applying everything durable, commits the index, and
    /// signs a final checkpoint in each open volume.
    pub async fn shutdown(&self) -> Result<()> {
        let checkpointed = self.checkpoint_all().await;
        let flushed = self.flush().await.and(checkpointed);
        self.applier.stop().await;
        // The catalog's WAL back into its file (issue 24: several MB after an import).
        if let Err(e) = self.views.catalog.checkpoint_wal().await {
            tracing::warn!(error = %e, "catalog WAL checkpoint failed; the WAL stays until the next one");
        }
        flushed
    }
}
