//! `coffer recatalog` and `coffer reindex`: rebuild derived views from the volumes.

use std::path::Path;

use anyhow::Result;
use clap::Args;
use coffer_ingest::{Archive, ArchiveOptions, DataDir, Rebuild};

use crate::config::Config;
use crate::output;

/// Arguments of `coffer reindex`.
#[derive(Debug, Args)]
pub struct ReindexArgs {
    /// Rebuild only this year's index (the catalog is left as is).
    #[arg(long)]
    year: Option<i32>,
}

/// `coffer recatalog`.
pub async fn recatalog(data_dir: &Path) -> Result<i32> {
    rebuild(data_dir, Rebuild::Catalog, "recataloging").await
}

/// `coffer reindex [--year Y]`.
pub async fn reindex(data_dir: &Path, args: ReindexArgs) -> Result<i32> {
    let what = match args.year {
        Some(year) => Rebuild::IndexYear(year),
        None => Rebuild::Everything,
    };
    rebuild(data_dir, what, "reindexing").await
}

async fn rebuild(data_dir: &Path, what: Rebuild, label: &'static str) -> Result<i32> {
    let config = Config::load(data_dir)?;
    let options = ArchiveOptions {
        catalog_url: config.catalog_url.clone(),
        holder: format!("coffer {label}"),
        rebuild: what,
        kek_file: config.kek_file(data_dir),
        ..ArchiveOptions::default()
    }
    .bulk();
    let dir = DataDir::new(data_dir).with_signing_key(config.keys.signing_key.clone());
    let started = std::time::Instant::now();
    let bar = output::progress_bar(None, label);
    let progress = bar.clone();
    let mut records = 0;
    let archive = Archive::open_with_progress(dir, options, &mut |n| {
        records = n;
        progress.set_position(n);
    })
    .await?;
    archive.shutdown().await?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    crate::outln!("{label} done: {records} records replayed in {secs:.1} s");
    Ok(0)
}
