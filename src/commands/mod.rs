//! One module per command; each parses nothing itself (clap did) and holds only wiring
//! and presentation.

pub mod audit;
pub mod import;
pub mod import_remote;
pub mod rebuild;
pub mod rule;
pub mod search;
pub mod serve;
pub mod show;
pub mod smtp;
pub mod user;
pub mod verify;
pub mod volume;

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use coffer_index::IndexOptions;
use coffer_ingest::archive::{Archive, ArchiveOptions, DataDir};

use crate::config::Config;

/// How `coffer serve` names itself in the data directory's lock file (other commands
/// recognise a running server by it).
pub const SERVE_HOLDER: &str = "coffer serve";

/// Opens the archive for writing (takes the data directory lock; replays what the
/// derived views miss). `holder` names this process in the lock file.
pub async fn open_archive(data_dir: &Path, holder: &str) -> Result<(Arc<Archive>, Config)> {
    open_archive_with(data_dir, holder, false).await
}

/// [`open_archive`], optionally deferring indexing (`import --defer-index`).
pub async fn open_archive_with(
    data_dir: &Path,
    holder: &str,
    defer_index: bool,
) -> Result<(Arc<Archive>, Config)> {
    let config = Config::load(data_dir)?;
    let options = ArchiveOptions {
        catalog_url: config.catalog_url.clone(),
        holder: holder.to_string(),
        defer_index,
        local_domains: config.local_domains.clone(),
        journal_addresses: config.journal_addresses.clone(),
        ..ArchiveOptions::default()
    };
    let options = if holder == SERVE_HOLDER {
        options
    } else {
        bulk(options)
    };
    let dir = DataDir::new(data_dir);
    let archive = tokio::task::spawn_blocking(move || Archive::open(dir, options))
        .await
        .context("archive start-up panicked")??;
    Ok((archive, config))
}

/// Options of a bulk command (`import`, `reindex`, `recatalog`, ...): a large index
/// writer ([`IndexOptions::bulk`]) that commits rarely. Each commit waits for every
/// indexing thread and writes a segment that must later be merged; nobody is waiting
/// to search, and the final flush commits the rest. (With the server's policy, a commit
/// every second, a 50,000-message `coffer reindex` wrote ~40 small segments and took
/// 57 s instead of 37 s.) The applier gathers up to a second of records into each
/// catalog transaction (`ArchiveOptions::apply_gather`: 109 → 16 transactions for
/// 50,000 messages).
pub fn bulk(options: ArchiveOptions) -> ArchiveOptions {
    ArchiveOptions {
        index_commit_docs: 200_000,
        index_commit_interval: std::time::Duration::from_secs(60),
        index: IndexOptions::bulk(),
        apply_gather: std::time::Duration::from_secs(1),
        ..options
    }
}
