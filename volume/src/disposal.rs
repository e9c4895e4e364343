//! Deleting a whole sealed volume whose every message record is disposed of (issue 26).
//!
//! Disposition is per message (crypto-shredding: the volume's bytes stay, the data keys
//! go). Once every message record of a sealed year is disposed of, the volume holds
//! nothing but ciphertext no key opens and the custody metadata (mailboxes, envelopes)
//! of messages that no longer exist; it may then be deleted as a whole. What an auditor
//! needs to see that the year existed, what it held and that it was disposed of stays:
//!
//! ```text
//! <evidence root>/YEAR/VOLUME     the volume's manifest, byte for byte
//! <evidence root>/YEAR/SEAL       its final signed tree head, byte for byte (verifies
//!                                 with the archive's public key; its root is the Merkle
//!                                 root over every record hash of the year)
//! <evidence root>/YEAR/DISPOSED   canonical JSON (VolumeEvidence): volume id, records,
//!                                 messages, root, when and by whom it was deleted, and
//!                                 every disposed record (seq, record hash, content
//!                                 SHA-256, the disposition run that destroyed its key)
//! ```
//!
//! The disposition certificates that name each record stay in the audit trail. Whether
//! a volume may be deleted (no hold covers it, no link elsewhere points into it) is
//! decided above this crate (`coffer-retention`); this module only refuses anything
//! that is not a sealed, intact volume every message record of which is disposed of.
//!
//! # A crash at any step leaves the volume, or the evidence and no volume
//! 1. The evidence is written to `YEAR.partial/` (each file fsynced), renamed to `YEAR/`,
//!    the evidence root fsynced. A crash before the rename leaves the volume in use and a
//!    partial directory the next attempt replaces.
//! 2. The volume's year directory is renamed to `.deleting-YEAR` (and a moved volume's
//!    directory on secondary storage likewise), the parent fsynced: from here on the
//!    volume set no longer lists the year.
//! 3. The renamed directories are removed and their parents fsynced. A crash in between
//!    leaves `.deleting-YEAR`, which no reader looks at and the next deletion (of any
//!    year, or this one again: [`finish_interrupted`]) removes.
//!
//! Evidence beside a volume still in place is that of an interrupted deletion (step 1
//! done, step 2 not): the volume is in force, listings show it, not the evidence.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::crypt::ContentKeys;
use crate::error::{Error, Result};
use crate::fsutil::sync_dir;
use crate::keys::PublicKey;
use crate::location::{Placement, placement};
use crate::manifest::{MANIFEST_FILE, SEAL_FILE, VolumeState};
use crate::verify::{DisposedRecord, VerifyReport, verify_volume_with};

/// The evidence file of a deleted volume.
pub const EVIDENCE_FILE: &str = "DISPOSED";
/// Its format name.
pub const EVIDENCE_FORMAT: &str = "coffer-disposed-volume-v1";

/// What stays of a deleted volume (the `DISPOSED` file; see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeEvidence {
    /// [`EVIDENCE_FORMAT`].
    pub format: String,
    /// The year.
    pub year: i32,
    /// The volume id.
    pub volume_id: String,
    /// Records the volume held (its final tree size).
    pub records: u64,
    /// Message records, every one disposed of.
    pub messages: u64,
    /// Merkle root over every record hash (hex), as in `SEAL`.
    pub root: String,
    /// When it was deleted (Unix µs).
    pub deleted_us: i64,
    /// Who deleted it.
    pub deleted_by: String,
    /// The disposed records.
    pub disposed: Vec<DisposedRecordEvidence>,
}

/// One disposed record in [`VolumeEvidence`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisposedRecordEvidence {
    /// Sequence number.
    pub seq: u64,
    /// Record hash (hex).
    pub record_hash: String,
    /// Content SHA-256 (hex).
    pub content_sha256: String,
    /// What destroyed its key (the disposition run).
    pub by: String,
}

impl From<&DisposedRecord> for DisposedRecordEvidence {
    fn from(d: &DisposedRecord) -> Self {
        Self {
            seq: d.seq,
            record_hash: d.record_hash.clone(),
            content_sha256: d.content_sha256.clone(),
            by: d.by.clone(),
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn refuse(what: String) -> Error {
    Error::Relocation(what)
}

/// Checks that the volume of `year_dir` may be deleted: present, intact (verified with
/// `public_key`, decrypting with `keys`), a sealed mail volume with its `SEAL`, and
/// every message record in it disposed of. Returns the verification.
pub fn check_deletable(
    year_dir: &Path,
    public_key: &PublicKey,
    keys: &dyn ContentKeys,
) -> Result<VerifyReport> {
    let dir = match placement(year_dir)? {
        None => {
            return Err(refuse(format!("no volume in {}", year_dir.display())));
        }
        Some(Placement::Moved { to, present: false }) => {
            return Err(refuse(format!(
                "the volume is offline ({} is not present): attach it first",
                to.display()
            )));
        }
        Some(p) => p.dir().to_path_buf(),
    };
    let report = verify_volume_with(&dir, public_key, Some(keys));
    if !report.is_intact() {
        let first = report
            .problems
            .first()
            .map_or_else(String::new, |p| format!(": {p}"));
        return Err(refuse(format!(
            "{} does not verify ({} problem(s){first}); nothing is deleted",
            dir.display(),
            report.problems.len()
        )));
    }
    if report.state != Some(VolumeState::Sealed) || report.last_signed_head.is_none() {
        return Err(refuse(format!(
            "{} is not sealed: only a sealed volume may be deleted",
            dir.display()
        )));
    }
    if report.purpose.as_deref() != Some("mail") {
        return Err(refuse(format!("{} is not a mail volume", dir.display())));
    }
    let disposed = report.disposed.len() as u64;
    if disposed != report.messages {
        return Err(refuse(format!(
            "{} of its {} message records are not disposed of ({} unencrypted)",
            report.messages - disposed,
            report.messages,
            report.messages - report.encrypted
        )));
    }
    Ok(report)
}

/// Removes what an interrupted deletion left under the volume root `root`
/// (`.deleting-*`: a volume already renamed away).
pub fn finish_interrupted(root: &Path) -> Result<()> {
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(root)(e)),
    };
    let mut removed = false;
    for entry in entries {
        let entry = entry.map_err(io(root))?;
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(".deleting-")
        {
            let path = entry.path();
            fs::remove_dir_all(&path).map_err(io(&path))?;
            removed = true;
        }
    }
    if removed {
        sync_dir(root)?;
    }
    Ok(())
}

/// Renames `dir` out of the way (`.deleting-YEAR` beside it), then removes it.
fn unlink(dir: &Path, year: i32, pause: &mut impl FnMut(&str)) -> Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    let doomed = parent.join(format!(".deleting-{year}"));
    if fs::symlink_metadata(&doomed).is_ok() {
        fs::remove_dir_all(&doomed).map_err(io(&doomed))?;
    }
    fs::rename(dir, &doomed).map_err(io(dir))?;
    sync_dir(parent)?;
    pause("unlinked");
    fs::remove_dir_all(&doomed).map_err(io(&doomed))?;
    sync_dir(parent)
}

/// Deletes the volume of `year_dir` that [`check_deletable`] passed (`report`),
/// leaving its evidence under `evidence_root/YEAR` (see the [module docs](self)).
/// `pause` is called after the steps `recorded` and `unlinked` (crash tests).
pub fn delete_volume(
    year_dir: &Path,
    evidence_root: &Path,
    report: &VerifyReport,
    deleted_by: &str,
    deleted_us: i64,
    mut pause: impl FnMut(&str),
) -> Result<VolumeEvidence> {
    let volume_root = year_dir.parent().unwrap_or(Path::new("."));
    finish_interrupted(volume_root)?;
    let current = placement(year_dir)?
        .ok_or_else(|| refuse(format!("no volume in {}", year_dir.display())))?;
    let dir = current.dir().to_path_buf();
    let year = report
        .year
        .ok_or_else(|| refuse("the volume's year is unknown".into()))?;
    let evidence = VolumeEvidence {
        format: EVIDENCE_FORMAT.into(),
        year,
        volume_id: report.volume_id.clone().unwrap_or_default(),
        records: report.records,
        messages: report.messages,
        root: report.root.clone(),
        deleted_us,
        deleted_by: deleted_by.to_string(),
        disposed: report.disposed.iter().map(Into::into).collect(),
    };
    fs::create_dir_all(evidence_root).map_err(io(evidence_root))?;
    let target = evidence_root.join(year.to_string());
    let partial = evidence_root.join(format!("{year}.partial"));
    if fs::symlink_metadata(&partial).is_ok() {
        fs::remove_dir_all(&partial).map_err(io(&partial))?;
    }
    fs::create_dir_all(&partial).map_err(io(&partial))?;
    for name in [MANIFEST_FILE, SEAL_FILE] {
        let (from, to) = (dir.join(name), partial.join(name));
        fs::copy(&from, &to).map_err(io(&from))?;
        fs::File::open(&to)
            .and_then(|f| f.sync_all())
            .map_err(io(&to))?;
    }
    let json = serde_json::to_vec(&evidence).map_err(|e| refuse(e.to_string()))?;
    let file = partial.join(EVIDENCE_FILE);
    fs::write(&file, &json)
        .and_then(|()| fs::File::open(&file)?.sync_all())
        .map_err(io(&file))?;
    sync_dir(&partial)?;
    if fs::symlink_metadata(&target).is_ok() {
        // The evidence of an earlier, interrupted deletion of this same volume.
        fs::remove_dir_all(&target).map_err(io(&target))?;
    }
    fs::rename(&partial, &target).map_err(io(&target))?;
    sync_dir(evidence_root)?;
    pause("recorded");
    if let Placement::Moved { to, .. } = &current {
        // The year directory (its LOCATION) first: then the copy on secondary storage.
        unlink(year_dir, year, &mut pause)?;
        unlink(to, year, &mut pause)?;
    } else {
        unlink(&dir, year, &mut pause)?;
    }
    Ok(evidence)
}

/// The evidence of the deleted volume of `year`, if it was deleted.
pub fn deleted_volume(evidence_root: &Path, year: i32) -> Result<Option<VolumeEvidence>> {
    Ok(deleted_volumes(evidence_root)?
        .into_iter()
        .find(|e| e.year == year))
}

/// The evidence of every deleted volume under `evidence_root`, by year.
pub fn deleted_volumes(evidence_root: &Path) -> Result<Vec<VolumeEvidence>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(evidence_root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io(evidence_root)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io(evidence_root))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name.parse::<i32>().is_err() {
            continue;
        }
        let file = entry.path().join(EVIDENCE_FILE);
        let bytes = fs::read(&file).map_err(io(&file))?;
        let evidence: VolumeEvidence =
            serde_json::from_slice(&bytes).map_err(|e| Error::Corruption {
                volume: entry.path(),
                segment: EVIDENCE_FILE.into(),
                offset: 0,
                seq: None,
                detail: e.to_string(),
            })?;
        out.push(evidence);
    }
    out.sort_by_key(|e| e.year);
    Ok(out)
}
