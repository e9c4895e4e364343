//! `coffer key rotate`: replaces the archive's signing key. Every writable volume (mail
//! and audit) gets a key-transition record signed by the old key and the new one, then
//! a checkpoint signed by the new key; sealed volumes keep the key they were sealed
//! with (their chain ends there). Runs with the data directory locked: stop `coffer
//! serve` first (the command says so when it is running).
//!
//! Files, in this order (a crash anywhere can be resumed by running it again):
//! 1. the new private key is written beside the current one as `KEY.new` (reused when
//!    it exists: an interrupted rotation resumes with the same key);
//! 2. each writable volume still signed by the old key gets its transition and a
//!    checkpoint (a volume already handed over is skipped);
//! 3. the old private key is kept as `KEY.retired-FINGERPRINT` (move it offline or
//!    destroy it: see the README), `KEY.new` replaces `KEY`, `keys/archive.pub` becomes
//!    the new public key and the old one stays as `keys/archive-FINGERPRINT.pub`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use coffer_ingest::DataDir;
use coffer_volume::{ArchiveKey, DataDirLock, Manifest, Volume, VolumeConfig, VolumeState};

use crate::config::Config;

/// `coffer key ...`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Replace the signing key (server stopped): every writable volume records a key
    /// transition signed by the old and the new key.
    Rotate,
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

/// Hands one volume over from `old` to `new`; returns whether a transition was written.
fn rotate_volume(dir: &Path, old: &ArchiveKey, new: &ArchiveKey) -> Result<bool> {
    let manifest = Manifest::load(dir)?;
    if manifest.state != VolumeState::Open {
        return Ok(false);
    }
    let (read, _) = Volume::open_read_only(dir)?;
    let in_use = read.key_in_use();
    drop(read);
    if in_use == new.fingerprint() {
        return Ok(false);
    }
    let (volume, _) = Volume::open_writer(dir, old, VolumeConfig::default())
        .with_context(|| format!("opening {} with the current key", dir.display()))?;
    volume.append_key_transition(new)?;
    drop(volume);
    let (volume, _) = Volume::open_writer(dir, new, VolumeConfig::default())
        .with_context(|| format!("reopening {} with the new key", dir.display()))?;
    volume.checkpoint()?;
    Ok(true)
}

/// Runs `coffer key ...`.
pub fn run(data_dir: &Path, command: KeyCommand) -> Result<i32> {
    let KeyCommand::Rotate = command;
    let config = Config::load(data_dir)?;
    let dir = DataDir::new(data_dir).with_signing_key(config.keys.signing_key.clone());
    let _lock = DataDirLock::acquire(data_dir, "coffer key rotate")
        .context("key rotation needs the data directory to itself (stop coffer serve first)")?;
    let key_path = dir.signing_key();
    let old = ArchiveKey::load(&key_path).context("the current signing key")?;
    let staged = with_suffix(&key_path, ".new");
    let new = match ArchiveKey::load(&staged) {
        Ok(key) => key,
        Err(_) => {
            let key = ArchiveKey::generate()?;
            key.write_private(&staged)?;
            key
        }
    };
    let mut rotated = Vec::new();
    for root in [dir.volumes(), dir.audit()] {
        let set = coffer_volume::VolumeSet::reader(&root, "");
        for year in set.years()? {
            let volume_dir = set.dir_for(year);
            if rotate_volume(&volume_dir, &old, &new)? {
                rotated.push(volume_dir.display().to_string());
            }
        }
    }
    let retired = with_suffix(&key_path, &format!(".retired-{}", short(old.fingerprint())));
    if std::fs::symlink_metadata(&retired).is_err() {
        old.write_private(&retired)?;
    }
    old.public_key_file(
        &dir.keys(),
        &format!("archive-{}.pub", short(old.fingerprint())),
    )?;
    std::fs::rename(&staged, &key_path)
        .with_context(|| format!("replacing {}", key_path.display()))?;
    new.write_public(&dir.keys())?;
    crate::outln!(
        "signing key rotated: {} → {}; key transitions written to {} volume(s){}",
        old.fingerprint(),
        new.fingerprint(),
        rotated.len(),
        if rotated.is_empty() {
            String::new()
        } else {
            format!(": {}", rotated.join(", "))
        }
    );
    crate::outln!(
        "the old private key is kept at {} — move it offline or destroy it; keys/archive.pub is the new public key (the old one stays as keys/archive-{}.pub); either verifies every volume",
        retired.display(),
        short(old.fingerprint())
    );
    Ok(0)
}
