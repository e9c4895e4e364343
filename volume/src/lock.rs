//! One writer per data directory: an exclusive advisory lock on `<data>/LOCK`.
//!
//! The lock is an OS file lock (`flock`), so it disappears with the process, even on
//! SIGKILL: no stale-lock cleanup is ever needed. The lock file holds a line saying who
//! holds it (pid, command, start time) so a second writer can name the holder.
//! Readers (`coffer verify`) do not take it. A clean stop clears the holder line.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// File name of the lock inside the data directory.
pub const LOCK_FILE: &str = "LOCK";

/// Holds the data directory's writer lock until dropped.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Takes the lock or fails at once with [`Error::Locked`] naming the holder.
    /// `holder` describes this process (e.g. `coffer serve`).
    pub fn acquire(data_dir: &Path, holder: &str) -> Result<Self> {
        let path = data_dir.join(LOCK_FILE);
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = text.trim();
                let holder = if holder.is_empty() {
                    "holder unknown".to_string()
                } else {
                    holder.to_string()
                };
                return Err(Error::Locked { path, holder });
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(io(source)),
        }
        let line = format!(
            "pid {} ({holder}), since {}\n",
            std::process::id(),
            chrono_like_now()
        );
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(line.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(Self { _file: file, path })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DataDirLock {
    /// A clean stop clears the holder line (the lock itself goes with the file handle).
    /// The file stays: deleting it could let two processes lock two different files of
    /// the same name (one still holding the deleted one).
    fn drop(&mut self) {
        let _ = self._file.set_len(0);
    }
}

/// Seconds since the epoch as `unix:<secs>`; avoids a date dependency here.
fn chrono_like_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("unix time {secs}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_writer_fails_naming_the_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lock = DataDirLock::acquire(dir.path(), "coffer serve").expect("first");
        match DataDirLock::acquire(dir.path(), "coffer import") {
            Err(Error::Locked { holder, .. }) => {
                assert!(holder.contains("coffer serve"), "{holder}");
                assert!(holder.contains(&std::process::id().to_string()));
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(lock);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(LOCK_FILE)).expect("lock file"),
            "",
            "a clean stop clears the holder"
        );
        DataDirLock::acquire(dir.path(), "coffer import").expect("free again");
    }
}
