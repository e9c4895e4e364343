//! The data directory: where everything of one archive lives, who may write it, and
//! the signing key.
//!
//! ```text
//! <root>/LOCK             one writer at a time (flock; names the holder)
//! <root>/keys/            archive.key (private, 0600; or where `[keys] signing_key`
//!                         says, outside the data directory) and archive.pub
//! <root>/volumes/<year>/  the mail volumes: the source of truth
//! <root>/catalog.sqlite   the embedded catalog (unless a catalog URL is configured)
//! <root>/index/<year>/    the search index of each receive year
//! <root>/audit/<year>/    the audit trail's own volumes
//! <root>/coffer.toml      configuration (read by the binary)
//! ```
//!
//! [`DataDir`] only names paths; [`DataDir::open_for_writing`] creates the directory
//! (0700, and tightens a looser existing one),
//! takes the writer lock and loads (or, on first use, creates) the signing key, giving a
//! [`WritableDataDir`] that the archive holds for as long as it writes.

use std::path::{Path, PathBuf};

use coffer_catalog::Catalog;
use coffer_volume::{ArchiveKey, DataDirLock};

use crate::error::{IngestError, Result};

/// Data directory layout.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
    /// The private signing key's path when configured outside (`[keys] signing_key`).
    signing_key: Option<PathBuf>,
}

impl DataDir {
    /// A data directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            signing_key: None,
        }
    }

    /// The same directory with the private signing key at `path` instead of
    /// `keys/archive.key` (`None`: the default). The public key stays in `keys/`.
    pub fn with_signing_key(mut self, path: Option<PathBuf>) -> Self {
        self.signing_key = path;
        self
    }

    /// Where the private signing key is: the configured path, else `keys/archive.key`.
    pub fn signing_key(&self) -> PathBuf {
        self.signing_key
            .clone()
            .unwrap_or_else(|| self.keys().join(coffer_volume::keys::PRIVATE_KEY_FILE))
    }
    /// The root.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `<root>/volumes`: the yearly mail volumes.
    pub fn volumes(&self) -> PathBuf {
        self.root.join("volumes")
    }
    /// `<root>/disposed-volumes`: what stays of each deleted volume (its manifest, final
    /// signed tree head and `DISPOSED` record; `coffer_volume::disposal`).
    pub fn disposed_volumes(&self) -> PathBuf {
        self.root.join("disposed-volumes")
    }
    /// `<root>/keys`: the archive key pair.
    pub fn keys(&self) -> PathBuf {
        self.root.join("keys")
    }
    /// `<root>/keys/data-keys`: the data keys of encrypted message records
    /// (`coffer_keystore`).
    pub fn data_keys(&self) -> PathBuf {
        self.keys().join("data-keys")
    }
    /// `<root>/keys/kek`: where the key-encryption key is unless `coffer.toml` puts it
    /// elsewhere (`[keys] kek_file`).
    pub fn default_kek_file(&self) -> PathBuf {
        self.keys().join("kek")
    }
    /// Opens the data-key store for writing (creating it, and the KEK, on first use).
    pub fn open_key_store(&self, kek_file: Option<&Path>) -> Result<coffer_keystore::KeyStore> {
        let default = self.default_kek_file();
        coffer_keystore::KeyStore::open_writer(&self.data_keys(), kek_file.unwrap_or(&default))
            .map_err(key_store_error)
    }
    /// Opens the data-key store read-only (a command beside a running server).
    pub fn read_key_store(&self, kek_file: Option<&Path>) -> Result<coffer_keystore::KeyStore> {
        let default = self.default_kek_file();
        coffer_keystore::KeyStore::open_reader(&self.data_keys(), kek_file.unwrap_or(&default))
            .map_err(key_store_error)
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
    /// Bytes of `<root>/index/YYYY`, the search index of one year (0 when absent).
    pub fn index_bytes(&self, year: i32) -> u64 {
        disk_bytes(&self.index().join(format!("{year:04}")))
    }
    /// Bytes of the embedded catalog with its write-ahead log and shared memory
    /// (`None` when the catalog is not an SQLite file here, e.g. PostgreSQL).
    pub fn catalog_bytes(&self) -> Option<u64> {
        let main = self.catalog_file();
        let len = std::fs::symlink_metadata(&main).ok()?.len();
        let side = ["-wal", "-shm"]
            .iter()
            .map(|suffix| {
                let mut name = main.clone().into_os_string();
                name.push(suffix);
                std::fs::symlink_metadata(PathBuf::from(name)).map_or(0, |m| m.len())
            })
            .sum::<u64>();
        Some(len + side)
    }

    /// Creates the directory (mode 0700) if needed; an existing one readable or
    /// searchable by others is tightened to 0700, with a warning: everything inside —
    /// the mail, the catalog, the password hashes — is for its owner alone.
    pub fn create_private(&self) -> Result<()> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let io = |source| IngestError::Io {
            path: self.root.clone(),
            source,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .map_err(io)?;
        let mode = std::fs::metadata(&self.root)
            .map_err(io)?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                mode = format!("{mode:o}"),
                "the data directory was open to other users; restricted to its owner (0700)"
            );
            std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(0o700))
                .map_err(io)?;
        }
        Ok(())
    }

    /// Opens the catalog of this data directory: the embedded SQLite file, or the
    /// database at `url` (PostgreSQL for several nodes).
    pub async fn open_catalog(&self, url: Option<&str>) -> Result<Catalog> {
        Ok(match url {
            Some(url) => Catalog::connect(url).await?,
            None => Catalog::open_sqlite(&self.catalog_file()).await?,
        })
    }

    /// Creates the directory if needed, takes the writer lock (failing at once, naming
    /// the holder, when another process has it; `holder` names this one) and loads the
    /// signing key, creating it on first use (finishing a key rotation a crash
    /// interrupted first: [`crate::key_rotation`]).
    pub fn open_for_writing(self, holder: &str) -> Result<WritableDataDir> {
        self.create_private()?;
        let lock = DataDirLock::acquire(&self.root, holder)?;
        // A key rotation a crash interrupted is finished before the key is loaded
        // (`key_rotation`): the volumes may already be handed over to the staged key.
        if let Some(done) = crate::key_rotation::finish_interrupted(&self, &mut |_| {})? {
            tracing::warn!(old = %done.old, new = %done.new, volumes = done.rotated.len(), "finished an interrupted key rotation");
        }
        let (key, created) = ArchiveKey::load_or_create_at(&self.signing_key(), &self.keys())?;
        if created {
            tracing::info!(fingerprint = %key.fingerprint(), "created the archive signing key");
        }
        Ok(WritableDataDir {
            dir: self,
            key,
            _lock: lock,
        })
    }
}

/// A data directory this process writes: the lock is held until this is dropped.
#[derive(Debug)]
pub struct WritableDataDir {
    dir: DataDir,
    key: ArchiveKey,
    _lock: DataDirLock,
}

impl WritableDataDir {
    /// The layout.
    pub fn dir(&self) -> &DataDir {
        &self.dir
    }

    /// The signing key.
    pub fn key(&self) -> &ArchiveKey {
        &self.key
    }
}

/// A key store error as an ingest error.
pub fn key_store_error(e: coffer_keystore::Error) -> IngestError {
    IngestError::Volume(coffer_volume::Error::KeyStore(e.to_string()))
}

/// Bytes of the regular files under `path` (recursively; symlinks not followed; 0 when
/// it does not exist). For capacity figures, not for anything that must be exact.
pub fn disk_bytes(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_file() {
        return meta.len();
    }
    if !meta.is_dir() {
        return 0;
    }
    std::fs::read_dir(path).map_or(0, |entries| {
        entries.flatten().map(|e| disk_bytes(&e.path())).sum()
    })
}
