//! A directory of yearly volumes (`<root>/<year>/`), opened or created on demand.
//!
//! Used for the mail volumes (`<data>/volumes/`) and for the audit trail
//! (`<data>/audit/`), which reuses the same machinery with purpose `audit`. A sealed
//! volume may live elsewhere (moved to secondary storage, [`crate::location`]); an absent
//! one is offline ([`Error::Offline`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::crypt::ContentKeys;

use crate::error::{Error, Result};
use crate::keys::ArchiveKey;
use crate::location::{LOCATION_FILE, Placement, placement};
use crate::manifest::MANIFEST_FILE;
use crate::volume::{RecoveryReport, Volume, VolumeConfig};

/// Yearly volumes under one root directory.
#[derive(Debug)]
pub struct VolumeSet {
    root: PathBuf,
    purpose: String,
    key: Option<ArchiveKey>,
    config: VolumeConfig,
    open: Mutex<BTreeMap<i32, Volume>>,
    recoveries: Mutex<Vec<(i32, RecoveryReport)>>,
}

impl VolumeSet {
    /// A writable set: volumes are opened for writing (with recovery) and created on
    /// first use of a year.
    pub fn writer(
        root: &Path,
        purpose: &str,
        key: ArchiveKey,
        config: VolumeConfig,
    ) -> Result<Self> {
        std::fs::create_dir_all(root).map_err(|source| Error::Io {
            path: root.to_path_buf(),
            source,
        })?;
        Ok(Self {
            root: root.to_path_buf(),
            purpose: purpose.to_string(),
            key: Some(key),
            config,
            open: Mutex::new(BTreeMap::new()),
            recoveries: Mutex::new(Vec::new()),
        })
    }

    /// This set with a key store: encrypted content is read with it, and (writable
    /// sets) message content is encrypted with a new data key per record.
    pub fn with_content_keys(mut self, keys: Arc<dyn ContentKeys>) -> Self {
        self.config.content_keys = Some(keys);
        self
    }

    /// The key store this set reads (and encrypts) content with.
    pub fn content_keys(&self) -> Option<&Arc<dyn ContentKeys>> {
        self.config.content_keys.as_ref()
    }

    /// A read-only set: nothing is created or modified.
    pub fn reader(root: &Path, purpose: &str) -> Self {
        Self {
            root: root.to_path_buf(),
            purpose: purpose.to_string(),
            key: None,
            config: VolumeConfig::default(),
            open: Mutex::new(BTreeMap::new()),
            recoveries: Mutex::new(Vec::new()),
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The year directory of `year` (where its volume is, or its `LOCATION` file).
    pub fn year_dir(&self, year: i32) -> PathBuf {
        self.root.join(year.to_string())
    }

    /// The directory of `year`'s volume: its year directory, or where it was moved
    /// ([`crate::location`]).
    pub fn dir_for(&self, year: i32) -> PathBuf {
        let year_dir = self.year_dir(year);
        match placement(&year_dir) {
            Ok(Some(p)) => p.dir().to_path_buf(),
            _ => year_dir,
        }
    }

    /// Where `year`'s volume is, if it has one.
    pub fn placement(&self, year: i32) -> Result<Option<Placement>> {
        placement(&self.year_dir(year))
    }

    /// Years that have a volume directory with a manifest, ascending.
    pub fn years(&self) -> Result<Vec<i32>> {
        let mut years = Vec::new();
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(years),
            Err(source) => {
                return Err(Error::Io {
                    path: self.root.clone(),
                    source,
                });
            }
        };
        for entry in entries {
            let entry = entry.map_err(|source| Error::Io {
                path: self.root.clone(),
                source,
            })?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name.len() == 4
                && name.bytes().all(|b| b.is_ascii_digit())
                && (std::fs::symlink_metadata(entry.path().join(MANIFEST_FILE)).is_ok()
                    || std::fs::symlink_metadata(entry.path().join(LOCATION_FILE)).is_ok())
                && let Ok(year) = name.parse()
            {
                years.push(year);
            }
        }
        years.sort_unstable();
        Ok(years)
    }

    /// The volume of `year`, if it exists (opened on first use).
    pub fn get(&self, year: i32) -> Result<Option<Volume>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = open.get(&year) {
            return Ok(Some(v.clone()));
        }
        // A moved volume is sealed, maybe on read-only media: it is only ever read.
        let (dir, moved) = match self.placement(year)? {
            None => return Ok(None),
            Some(Placement::Local(dir)) => (dir, false),
            Some(Placement::Moved { to, present: true }) => (to, true),
            Some(Placement::Moved { to, present: false }) => {
                return Err(Error::Offline { year, location: to });
            }
        };
        let (volume, report) = match &self.key {
            Some(key) if !moved => Volume::open_writer(&dir, key, self.config.clone())?,
            _ => Volume::open_read_only_with(&dir, self.config.content_keys.clone())?,
        };
        if report.torn_tail.is_some() {
            self.recoveries
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((year, report));
        }
        open.insert(year, volume.clone());
        Ok(Some(volume))
    }

    /// [`VolumeSet::get`], with an offline volume (moved to absent storage) as `None`:
    /// for work that goes over every volume it can reach (flushes, checkpoints,
    /// start-up replay), which an unmounted disk must not stop.
    pub fn get_online(&self, year: i32) -> Result<Option<Volume>> {
        match self.get(year) {
            Err(Error::Offline { year, location }) => {
                tracing::warn!(year, location = %location.display(), "volume is offline; skipped");
                Ok(None)
            }
            other => other,
        }
    }

    /// The volume of `year`, created if missing (writable sets only).
    pub fn get_or_create(&self, year: i32) -> Result<Volume> {
        if let Some(v) = self.get(year)? {
            return Ok(v);
        }
        let Some(key) = &self.key else {
            return Err(Error::ReadOnly(self.year_dir(year)));
        };
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = open.get(&year) {
            return Ok(v.clone());
        }
        let (volume, _) = Volume::create(
            &self.year_dir(year),
            &self.purpose,
            year,
            key,
            self.config.clone(),
        )?;
        open.insert(year, volume.clone());
        Ok(volume)
    }

    /// The key transitions of every volume of this set that can be opened (offline and
    /// unreadable volumes are skipped; volumes are opened as [`VolumeSet::get`] does), by year, each in record order: the archive's
    /// key history as far as these volumes record it.
    pub fn key_transitions(&self) -> Vec<crate::transition::KeyTransition> {
        let mut out = Vec::new();
        for year in self.years().unwrap_or_default() {
            if let Ok(Some(volume)) = self.get_online(year) {
                out.extend(volume.key_transitions());
            }
        }
        out
    }

    /// Torn tails truncated (or seen) while opening volumes, drained.
    pub fn take_recoveries(&self) -> Vec<(i32, RecoveryReport)> {
        std::mem::take(&mut *self.recoveries.lock().unwrap_or_else(|p| p.into_inner()))
    }
}
