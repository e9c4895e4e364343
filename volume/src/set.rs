//! A directory of yearly volumes (`<root>/<year>/`), opened or created on demand.
//!
//! Used for the mail volumes (`<data>/volumes/`) and for the audit trail
//! (`<data>/audit/`), which reuses the same machinery with purpose `audit`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::keys::ArchiveKey;
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

    /// The directory of `year`'s volume.
    pub fn dir_for(&self, year: i32) -> PathBuf {
        self.root.join(year.to_string())
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
                && std::fs::symlink_metadata(entry.path().join(MANIFEST_FILE)).is_ok()
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
        let dir = self.dir_for(year);
        if std::fs::symlink_metadata(dir.join(MANIFEST_FILE)).is_err() {
            return Ok(None);
        }
        let (volume, report) = match &self.key {
            Some(key) => Volume::open_writer(&dir, key, self.config.clone())?,
            None => Volume::open_read_only(&dir)?,
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

    /// The volume of `year`, created if missing (writable sets only).
    pub fn get_or_create(&self, year: i32) -> Result<Volume> {
        if let Some(v) = self.get(year)? {
            return Ok(v);
        }
        let Some(key) = &self.key else {
            return Err(Error::ReadOnly(self.dir_for(year)));
        };
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = open.get(&year) {
            return Ok(v.clone());
        }
        let (volume, _) = Volume::create(
            &self.dir_for(year),
            &self.purpose,
            year,
            key,
            self.config.clone(),
        )?;
        open.insert(year, volume.clone());
        Ok(volume)
    }

    /// Torn tails truncated (or seen) while opening volumes, drained.
    pub fn take_recoveries(&self) -> Vec<(i32, RecoveryReport)> {
        std::mem::take(&mut *self.recoveries.lock().unwrap_or_else(|p| p.into_inner()))
    }
}
