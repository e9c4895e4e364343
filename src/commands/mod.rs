//! One module per command; each parses nothing itself (clap did) and holds only wiring
//! and presentation.

pub mod import;
pub mod rebuild;
pub mod show;
pub mod verify;
pub mod volume;

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use coffer_ingest::archive::{Archive, ArchiveOptions, DataDir};

use crate::config::Config;

/// Opens the archive for writing (takes the data directory lock; replays what the
/// derived views miss). `holder` names this process in the lock file.
pub async fn open_archive(data_dir: &Path, holder: &str) -> Result<(Arc<Archive>, Config)> {
    let config = Config::load(data_dir)?;
    let options = ArchiveOptions {
        catalog_url: config.catalog_url.clone(),
        holder: holder.to_string(),
        ..ArchiveOptions::default()
    };
    let dir = DataDir::new(data_dir);
    let archive = tokio::task::spawn_blocking(move || Archive::open(dir, options))
        .await
        .context("archive start-up panicked")??;
    Ok((archive, config))
}
