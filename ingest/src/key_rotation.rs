//! Replacing the archive's signing key (`coffer key rotate`) so that a crash at any
//! point leaves a data directory that verifies, and that the next writer — `coffer
//! serve` starting, any command opening the archive for writing, or `coffer key rotate`
//! run again — finishes rotating. Nothing needs fixing by hand.
//!
//! The files (`KEY` is the private key's path, `keys/archive.key` or `[keys]
//! signing_key`; `PUB` is `keys/archive.pub`), in this order, each step durable (file
//! and directory fsynced) before the next:
//!
//! 1. **staged**: the old key is copied to `KEY.retired-FP` and `keys/archive-FP.pub`
//!    (FP: the old fingerprint's hex), then the new private key is written to `KEY.new`
//!    (through `KEY.new.tmp` and a rename, so `KEY.new` is always a whole key). From
//!    here on **`KEY.new` existing means a rotation is under way**, to be finished.
//! 2. **transition**, **volume**: every open mail and audit volume still signed by the
//!    old key gets a key-transition record (signed by both keys), then a checkpoint
//!    signed by the new key; a volume already handed over only gets the checkpoint if
//!    it lacks one (a crash between the two).
//! 3. **public**: `PUB` becomes the new public key (atomic replace).
//! 4. **installed**: `KEY.new` is renamed over `KEY`. The rotation is complete.
//!
//! What a crash leaves, and why it is safe: before step 1 completes, no `KEY.new` (a
//! `KEY.new.tmp` is garbage, deleted): nothing happened. After it, the old key is still
//! `KEY` and `PUB`; volumes are handed over one by one, and each verifies with either
//! key (its transition is signed by both; until `PUB` changes every volume verifies
//! with the old public key through its chain). `PUB` changes only when every open
//! volume is handed over, so the new public key verifies them all too. The final rename
//! is atomic. [`finish_interrupted`] resumes at step 2 whenever `KEY.new` exists:
//! every step is idempotent.

use std::path::{Path, PathBuf};

use coffer_volume::{ArchiveKey, Manifest, Volume, VolumeConfig, VolumeSet, VolumeState};

use crate::data_dir::DataDir;
use crate::error::{IngestError, Result};

/// What a rotation did.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// Fingerprint of the key replaced.
    pub old: String,
    /// Fingerprint of the key now in use.
    pub new: String,
    /// Volumes that got a key transition in this run.
    pub rotated: Vec<PathBuf>,
    /// Where the old private key is kept (to be moved offline or destroyed).
    pub retired: PathBuf,
    /// Whether this run finished a rotation an earlier one began.
    pub resumed: bool,
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// The fingerprint's hex part (file names).
fn short(fingerprint: &str) -> &str {
    fingerprint.strip_prefix("sha256:").unwrap_or(fingerprint)
}

fn present(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

fn sync_parent(path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|source| IngestError::Io {
            path: dir.to_path_buf(),
            source,
        })
}

/// `KEY.new`: the staged new key.
pub fn staged_key(dir: &DataDir) -> PathBuf {
    with_suffix(&dir.signing_key(), ".new")
}

/// Rotates the signing key, or finishes the rotation an interrupted run began (then
/// no new key is made). The caller holds the data-directory lock. `step` is told the
/// name of every step once it is durable (`staged`, `transition`, `volume`, `public`,
/// `installed`).
pub fn rotate(dir: &DataDir, step: &mut dyn FnMut(&str)) -> Result<Rotation> {
    if let Some(done) = finish_interrupted(dir, step)? {
        return Ok(done);
    }
    let key_path = dir.signing_key();
    let old = ArchiveKey::load(&key_path)?;
    let new = ArchiveKey::generate()?;
    let retired = retire(dir, &old)?;
    let staged = staged_key(dir);
    let _ = std::fs::remove_file(with_suffix(&staged, ".tmp"));
    new.write_private_atomic(&staged)?;
    step("staged");
    let rotated = complete(dir, &old, &new, step)?;
    Ok(Rotation {
        old: old.fingerprint().to_string(),
        new: new.fingerprint().to_string(),
        rotated,
        retired,
        resumed: false,
    })
}

/// Finishes a rotation that a crash interrupted (when `KEY.new` exists); `None` when
/// none was under way. Called by [`DataDir::open_for_writing`] before the key is
/// loaded, with the lock held, so every writer finishes it; a leftover `KEY.new.tmp`
/// (a crash before the staged key was whole) is deleted.
pub fn finish_interrupted(dir: &DataDir, step: &mut dyn FnMut(&str)) -> Result<Option<Rotation>> {
    let staged = staged_key(dir);
    let _ = std::fs::remove_file(with_suffix(&staged, ".tmp"));
    if !present(&staged) {
        return Ok(None);
    }
    let old = ArchiveKey::load(&dir.signing_key())?;
    let new = ArchiveKey::load(&staged)?;
    tracing::warn!(
        old = %old.fingerprint(),
        new = %new.fingerprint(),
        "finishing a key rotation that was interrupted"
    );
    let retired = retire(dir, &old)?;
    let rotated = complete(dir, &old, &new, step)?;
    Ok(Some(Rotation {
        old: old.fingerprint().to_string(),
        new: new.fingerprint().to_string(),
        rotated,
        retired,
        resumed: true,
    }))
}

/// Keeps the old key: `KEY.retired-FP` and `keys/archive-FP.pub` (idempotent).
fn retire(dir: &DataDir, old: &ArchiveKey) -> Result<PathBuf> {
    let key_path = dir.signing_key();
    let retired = with_suffix(&key_path, &format!(".retired-{}", short(old.fingerprint())));
    if !present(&retired) {
        old.write_private_atomic(&retired)?;
    }
    old.public_key_file(
        &dir.keys(),
        &format!("archive-{}.pub", short(old.fingerprint())),
    )?;
    Ok(retired)
}

/// Steps 2–4 (idempotent).
fn complete(
    dir: &DataDir,
    old: &ArchiveKey,
    new: &ArchiveKey,
    step: &mut dyn FnMut(&str),
) -> Result<Vec<PathBuf>> {
    let mut rotated = Vec::new();
    for root in [dir.volumes(), dir.audit()] {
        let set = VolumeSet::reader(&root, "");
        for year in set.years()? {
            let volume_dir = set.dir_for(year);
            if hand_over(&volume_dir, old, new, step)? {
                rotated.push(volume_dir);
            }
            step("volume");
        }
    }
    new.write_public(&dir.keys())?;
    step("public");
    let key_path = dir.signing_key();
    std::fs::rename(staged_key(dir), &key_path).map_err(|source| IngestError::Io {
        path: key_path.clone(),
        source,
    })?;
    sync_parent(&key_path)?;
    step("installed");
    Ok(rotated)
}

/// Hands one volume over from `old` to `new` (a transition, then a checkpoint by the
/// new key); a volume already handed over gets the checkpoint if it lacks one. Sealed
/// volumes keep their key. Returns whether a transition was written.
fn hand_over(
    volume_dir: &Path,
    old: &ArchiveKey,
    new: &ArchiveKey,
    step: &mut dyn FnMut(&str),
) -> Result<bool> {
    let manifest = match Manifest::load(volume_dir) {
        Ok(m) => m,
        // A moved volume's year directory holds only LOCATION; moved volumes are sealed.
        Err(_) if !present(&volume_dir.join(coffer_volume::MANIFEST_FILE)) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    if manifest.state != VolumeState::Open {
        return Ok(false);
    }
    let (read, _) = Volume::open_read_only(volume_dir)?;
    let in_use = read.key_in_use();
    drop(read);
    let wrote = if in_use == new.fingerprint() {
        false
    } else {
        let (volume, _) = Volume::open_writer(volume_dir, old, VolumeConfig::default())?;
        volume.append_key_transition(new)?;
        step("transition");
        true
    };
    let (volume, _) = Volume::open_writer(volume_dir, new, VolumeConfig::default())?;
    volume.checkpoint()?;
    Ok(wrote)
}
