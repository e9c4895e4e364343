//! `coffer key rotate`: replaces the archive's signing key. Every writable volume (mail
//! and audit) gets a key-transition record signed by the old key and the new one, then
//! a checkpoint signed by the new key; sealed volumes keep the key they were sealed
//! with (their chain ends there). Runs with the data directory locked: stop `coffer
//! serve` first (the command says so when it is running).
//!
//! The steps and why a crash at any of them is safe are in `coffer_ingest::key_rotation`:
//! a rotation a crash interrupted is finished by running this again or by the next
//! start of anything that writes the archive (`coffer serve`, `coffer import`).

use std::path::Path;

use anyhow::{Context, Result};
use clap::Subcommand;
use coffer_ingest::DataDir;
use coffer_ingest::key_rotation::rotate;
use coffer_volume::DataDirLock;

use crate::config::Config;

/// Set to a step name (`staged`, `transition`, `volume`, `public`, `installed`):
/// `key rotate` stops right after that step (its first occurrence) and waits to be
/// killed (crash drills and tests).
const PAUSE_VAR: &str = "COFFER_PAUSE_AFTER";

/// `coffer key ...`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Replace the signing key (server stopped): every writable volume records a key
    /// transition signed by the old and the new key.
    Rotate,
}

/// The fingerprint's hex part (file names).
fn short(fingerprint: &str) -> &str {
    fingerprint.strip_prefix("sha256:").unwrap_or(fingerprint)
}

/// Runs `coffer key ...`.
pub fn run(data_dir: &Path, command: KeyCommand) -> Result<i32> {
    let KeyCommand::Rotate = command;
    let config = Config::load(data_dir)?;
    let dir = DataDir::new(data_dir).with_signing_key(config.keys.signing_key.clone());
    let _lock = DataDirLock::acquire(data_dir, "coffer key rotate")
        .context("key rotation needs the data directory to itself (stop coffer serve first)")?;
    let pause_after = std::env::var(PAUSE_VAR).ok();
    let done = rotate(&dir, &mut |step| {
        if pause_after.as_deref() == Some(step) {
            crate::outln!("{step}");
            loop {
                std::thread::park();
            }
        }
    })?;
    if done.resumed {
        crate::outln!("finished the key rotation an earlier run began (it was interrupted)");
    }
    crate::outln!(
        "signing key rotated: {} → {}; key transitions written to {} volume(s){}",
        done.old,
        done.new,
        done.rotated.len(),
        if done.rotated.is_empty() {
            String::new()
        } else {
            format!(
                ": {}",
                done.rotated
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    crate::outln!(
        "the old private key is kept at {} — move it offline or destroy it; keys/archive.pub is the new public key (the old one stays as keys/archive-{}.pub); either verifies every volume",
        done.retired.display(),
        short(&done.old)
    );
    Ok(0)
}
