//! One module per command; each parses nothing itself (clap did) and holds only wiring
//! and presentation.

pub mod audit;
pub mod disposition;
pub mod docs;
pub mod domain;
pub mod import;
pub mod key;
pub mod proof;
pub mod rebuild;
pub mod report;
pub mod retention;
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

use anyhow::Result;
use coffer_ingest::{Archive, ArchiveOptions, DataDir};
use coffer_volume::{HeadSink, VolumeConfig};

use crate::config::Config;

/// How `coffer serve` names itself in the data directory's lock file (other commands
/// recognise a running server by it).
pub use coffer_query_api::local::SERVE_HOLDER;

/// Where the archive's private signing key is: `[keys] signing_key` of `coffer.toml`,
/// else `DATA/keys/archive.key`.
pub fn signing_key_path(data_dir: &Path, config: &Config) -> std::path::PathBuf {
    DataDir::new(data_dir)
        .with_signing_key(config.keys.signing_key.clone())
        .signing_key()
}

/// Opens the archive for writing (takes the data directory lock; replays what the
/// derived views miss). `holder` names this process in the lock file.
pub async fn open_archive(data_dir: &Path, holder: &str) -> Result<(Arc<Archive>, Config)> {
    open_archive_with(data_dir, holder, false).await
}

/// [`open_archive`] with every new signed tree head of the mail volumes handed to
/// `head_sink` (the witnesses of `coffer serve`).
pub async fn open_archive_publishing(
    data_dir: &Path,
    holder: &str,
    head_sink: Option<HeadSink>,
) -> Result<(Arc<Archive>, Config)> {
    open_archive_inner(data_dir, holder, false, head_sink).await
}

/// [`open_archive`], optionally deferring indexing (`import --defer-index`).
pub async fn open_archive_with(
    data_dir: &Path,
    holder: &str,
    defer_index: bool,
) -> Result<(Arc<Archive>, Config)> {
    open_archive_inner(data_dir, holder, defer_index, None).await
}

async fn open_archive_inner(
    data_dir: &Path,
    holder: &str,
    defer_index: bool,
    head_sink: Option<HeadSink>,
) -> Result<(Arc<Archive>, Config)> {
    let config = Config::load(data_dir)?;
    let options = ArchiveOptions {
        volume: {
            let mut volume = VolumeConfig {
                head_sink,
                ..VolumeConfig::default()
            };
            volume.dictionary.enabled = config.volumes.dictionaries;
            volume
        },
        catalog_url: config.catalog_url.clone(),
        holder: holder.to_string(),
        defer_index,
        local_domains: config.local_domains.clone(),
        journal_addresses: config.journal_addresses.clone(),
        kek_file: config.kek_file(data_dir),
        ..ArchiveOptions::default()
    };
    let options = if holder == SERVE_HOLDER {
        // A search stops working when its request times out, not only answering.
        let mut options = options;
        options.index.search_time_limit =
            Some(coffer_query_api::ApiConfig::default().request_timeout);
        options
    } else {
        options.bulk()
    };
    let dir = DataDir::new(data_dir).with_signing_key(config.keys.signing_key.clone());
    let archive = Archive::open(dir, options).await?;
    if holder != SERVE_HOLDER {
        // A disposition run interrupted after its certificate: what this writer brings
        // of its messages is stored anew, never linked to them (the server finishes the
        // run at its next start; `coffer_retention::runs::certified_in_flight`).
        let in_flight = coffer_retention::runs::certified_in_flight(archive.catalog()).await?;
        if !in_flight.is_empty() {
            archive.writer().fence_disposal(&in_flight).await?;
        }
    }
    Ok((archive, config))
}
