//! Where a volume lives, and moving sealed volumes to secondary storage and back.
//!
//! A volume normally lives in its year directory under the volume root
//! (`volumes/2019/`). `coffer volume move 2019 /mnt/archive` puts it on secondary storage
//! (`/mnt/archive/2019/`) and leaves in the year directory only a `LOCATION` file naming
//! the new directory, so the volume set still knows the year and where to look. When that
//! directory is absent (the media unmounted), the volume is *offline*: listed as such, and
//! reads of it fail with [`Error::Offline`] naming the location.
//!
//! # A move loses nothing, whatever step a crash interrupts
//! 1. The sealed volume's files are copied into `DEST/YEAR.partial/`, each fsynced, then
//!    the directory is renamed to `DEST/YEAR` and `DEST` fsynced. A crash leaves a
//!    partial copy that the next attempt removes; the original is untouched.
//! 2. The copy is verified with the archive's public key and must hold the same records
//!    and root as the original; otherwise the move stops and the copy is left for
//!    inspection (the original is still in place).
//! 3. `LOCATION` is written atomically (temporary file, fsync, rename, directory fsync):
//!    from here on readers use the copy. A crash before it: the original is in use.
//! 4. The original files are removed from the year directory (then fsynced). A crash in
//!    the middle leaves some of them beside `LOCATION`; they are ignored by readers and
//!    removed by the next `move` or `attach` of the year.
//!
//! `coffer volume attach DIR` brings a volume directory (the moved copy, remounted
//! somewhere, or a restored backup) back: it is verified first, must be a sealed volume
//! of this archive's key, and `LOCATION` is pointed at it.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil::{sync_dir, write_atomic};
use crate::keys::PublicKey;
use crate::manifest::{MANIFEST_FILE, Manifest, VolumeState};
use crate::verify::{VerifyReport, verify_volume};

/// The file in a year directory naming where its volume was moved.
pub const LOCATION_FILE: &str = "LOCATION";

/// Where a year's volume is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// In its year directory.
    Local(PathBuf),
    /// Moved: the directory named by `LOCATION`, and whether it is present now.
    Moved {
        /// The volume directory on secondary storage.
        to: PathBuf,
        /// Whether its manifest can be found there now.
        present: bool,
    },
}

impl Placement {
    /// The directory holding the volume.
    pub fn dir(&self) -> &Path {
        match self {
            Placement::Local(d) => d,
            Placement::Moved { to, .. } => to,
        }
    }
}

/// Where the volume of a year directory is; `None` when there is none.
pub fn placement(year_dir: &Path) -> Result<Option<Placement>> {
    let location = year_dir.join(LOCATION_FILE);
    match fs::read_to_string(&location) {
        Ok(text) => {
            let to = PathBuf::from(text.trim());
            let present = fs::symlink_metadata(to.join(MANIFEST_FILE)).is_ok();
            Ok(Some(Placement::Moved { to, present }))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if fs::symlink_metadata(year_dir.join(MANIFEST_FILE)).is_ok() {
                Ok(Some(Placement::Local(year_dir.to_path_buf())))
            } else {
                Ok(None)
            }
        }
        Err(source) => Err(Error::Io {
            path: location,
            source,
        }),
    }
}

/// What a move or an attach did.
#[derive(Debug, Clone)]
pub struct Relocated {
    /// The year.
    pub year: i32,
    /// Where the volume is now.
    pub to: PathBuf,
    /// The verification of the volume at its new place.
    pub report: VerifyReport,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Removes what a move left in a year directory beside its `LOCATION` (step 4 cut short).
fn remove_leftovers(year_dir: &Path) -> Result<()> {
    let mut removed = false;
    for entry in fs::read_dir(year_dir).map_err(io(year_dir))? {
        let entry = entry.map_err(io(year_dir))?;
        if entry.file_name() == LOCATION_FILE {
            continue;
        }
        let path = entry.path();
        if entry.file_type().map_err(io(&path))?.is_dir() {
            fs::remove_dir_all(&path).map_err(io(&path))?;
        } else {
            fs::remove_file(&path).map_err(io(&path))?;
        }
        removed = true;
    }
    if removed {
        sync_dir(year_dir)?;
    }
    Ok(())
}

/// Copies every file of `from` into `to` (created), fsyncing each, then `to`.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).map_err(io(to))?;
    for entry in fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let source = entry.path();
        if !entry.file_type().map_err(io(&source))?.is_file() {
            continue;
        }
        let target = to.join(entry.file_name());
        fs::copy(&source, &target).map_err(io(&source))?;
        fs::File::open(&target)
            .and_then(|f| f.sync_all())
            .map_err(io(&target))?;
    }
    sync_dir(to)
}

/// A verification that must pass before a volume is (re)placed: intact, sealed, signed
/// with `public_key`.
fn verified(dir: &Path, public_key: &PublicKey) -> Result<VerifyReport> {
    let report = verify_volume(dir, public_key);
    if !report.is_intact() {
        let first = report
            .problems
            .first()
            .map_or_else(String::new, |p| format!(": {p}"));
        return Err(Error::Relocation(format!(
            "{} does not verify ({} problem(s){first})",
            dir.display(),
            report.problems.len()
        )));
    }
    if report.state != Some(VolumeState::Sealed) {
        return Err(Error::Relocation(format!(
            "{} is not a sealed volume",
            dir.display()
        )));
    }
    Ok(report)
}

/// Moves the sealed volume of `year_dir` into `dest_root/YEAR` (see the
/// [module docs](self)). `pause` is called after each step with its name (`copied`,
/// `verified`, `located`), for tests that interrupt a move.
pub fn move_volume(
    year_dir: &Path,
    dest_root: &Path,
    public_key: &PublicKey,
    mut pause: impl FnMut(&str),
) -> Result<Relocated> {
    let current = placement(year_dir)?
        .ok_or_else(|| Error::Relocation(format!("no volume in {}", year_dir.display())))?;
    let source = match current {
        Placement::Local(dir) => dir,
        Placement::Moved { to, present } => {
            // Step 4 cut short: the switch is done; finish removing the original.
            let wanted = fs::canonicalize(dest_root)
                .ok()
                .map(|d| d.join(year_dir.file_name().unwrap_or_default()));
            if present && wanted.as_deref() == Some(to.as_path()) {
                remove_leftovers(year_dir)?;
                let report = verified(&to, public_key)?;
                return Ok(Relocated {
                    year: report.year.unwrap_or_default(),
                    to,
                    report,
                });
            }
            return Err(Error::Relocation(format!(
                "the volume was moved to {} already (bring it back with `coffer volume attach`)",
                to.display()
            )));
        }
    };
    let manifest = Manifest::load(&source)?;
    let original = verified(&source, public_key)?;
    fs::create_dir_all(dest_root).map_err(io(dest_root))?;
    let dest_root = fs::canonicalize(dest_root).map_err(io(dest_root))?;
    let target = dest_root.join(manifest.year.to_string());
    if fs::canonicalize(&source).ok() == fs::canonicalize(&target).ok() {
        return Err(Error::Relocation(format!(
            "{} is where the volume is already",
            target.display()
        )));
    }
    let same = |copy: &VerifyReport| copy.records == original.records && copy.root == original.root;
    let copy = if fs::symlink_metadata(&target).is_ok() {
        // Step 2 or 3 cut short: a complete copy is there; it is used only if it is
        // this volume, verified.
        match verified(&target, public_key) {
            Ok(copy) if same(&copy) => copy,
            _ => {
                return Err(Error::Relocation(format!(
                    "{} exists and is not a verified copy of this volume; move it away",
                    target.display()
                )));
            }
        }
    } else {
        let partial = dest_root.join(format!("{}.partial", manifest.year));
        if fs::symlink_metadata(&partial).is_ok() {
            fs::remove_dir_all(&partial).map_err(io(&partial))?;
        }
        copy_dir(&source, &partial)?;
        fs::rename(&partial, &target).map_err(io(&target))?;
        sync_dir(&dest_root)?;
        pause("copied");
        let copy = verified(&target, public_key)?;
        if !same(&copy) {
            return Err(Error::Relocation(format!(
                "the copy at {} holds {} records with root {}, the original {} with root {}; the original stays in use",
                target.display(),
                copy.records,
                copy.root,
                original.records,
                original.root
            )));
        }
        copy
    };
    pause("verified");
    write_atomic(
        &year_dir.join(LOCATION_FILE),
        target.display().to_string().as_bytes(),
    )?;
    pause("located");
    remove_leftovers(year_dir)?;
    Ok(Relocated {
        year: manifest.year,
        to: target,
        report: copy,
    })
}

/// Attaches the volume directory `dir` as its year's volume under `volume_root` (see the
/// [module docs](self)): verified first; refused when the year has a volume in place.
pub fn attach_volume(volume_root: &Path, dir: &Path, public_key: &PublicKey) -> Result<Relocated> {
    let dir = fs::canonicalize(dir).map_err(io(dir))?;
    let manifest = Manifest::load(&dir)?;
    let report = verified(&dir, public_key)?;
    let year_dir = volume_root.join(manifest.year.to_string());
    match placement(&year_dir)? {
        Some(Placement::Local(_)) => {
            return Err(Error::Relocation(format!(
                "year {} has its volume in {} already",
                manifest.year,
                year_dir.display()
            )));
        }
        Some(Placement::Moved { .. }) => remove_leftovers(&year_dir)?,
        None => {
            fs::create_dir_all(&year_dir).map_err(io(&year_dir))?;
            sync_dir(volume_root)?;
        }
    }
    write_atomic(
        &year_dir.join(LOCATION_FILE),
        dir.display().to_string().as_bytes(),
    )?;
    Ok(Relocated {
        year: manifest.year,
        to: dir,
        report,
    })
}
