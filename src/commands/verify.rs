//! `coffer verify`: every volume of the data directory (mail and audit), then the catalog
//! against the mail volumes (every catalog message must be a message record of its volume
//! with the same SHA-256); or, with `--volume`, one copied volume alone.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use coffer_ingest::DataDir;
use coffer_ingest::consistency::{CatalogCheck, check_catalog as check_catalog_against};
use coffer_volume::{PublicKey, VerifyReport, verify_volume};
use serde::Serialize;

use crate::output;

/// Arguments of `coffer verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Verify this volume directory alone (no data directory or database needed).
    #[arg(long, requires = "public_key")]
    volume: Option<PathBuf>,
    /// The archive's public key (keys/archive.pub) for --volume.
    #[arg(long)]
    public_key: Option<PathBuf>,
    /// Print the reports as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Summary {
    intact: bool,
    volumes: Vec<VerifyReport>,
    catalog: Vec<CatalogCheck>,
}

/// Cross-checks the catalog's message rows against the (already verified) volumes.
async fn check_catalog(data_dir: &Path) -> Result<Vec<CatalogCheck>> {
    let config = crate::config::Config::load(data_dir)?;
    let dir = DataDir::new(data_dir);
    if config.catalog_url.is_none() && std::fs::symlink_metadata(dir.catalog_file()).is_err() {
        return Ok(Vec::new());
    }
    let catalog = dir.open_catalog(config.catalog_url.as_deref()).await?;
    let volumes = Arc::new(coffer_volume::VolumeSet::reader(
        &dir.volumes(),
        coffer_ingest::MAIL,
    ));
    let checks = check_catalog_against(&catalog, volumes).await;
    catalog.close().await;
    Ok(checks?)
}

/// Verifies and prints; exit status 0 only when everything is intact.
pub async fn run(data_dir: &Path, args: VerifyArgs) -> Result<i32> {
    let json = args.json;
    let standalone = args.volume.is_some();
    let data_dir = data_dir.to_path_buf();
    let data_dir_for_catalog = data_dir.clone();
    let reports = tokio::task::spawn_blocking(move || -> Result<Vec<VerifyReport>> {
        if let Some(dir) = args.volume {
            let key_path = args
                .public_key
                .context("--public-key is required with --volume")?;
            let key = PublicKey::load(&key_path)?;
            return Ok(vec![verify_volume(&dir, &key)]);
        }
        let key_path = data_dir
            .join("keys")
            .join(coffer_volume::keys::PUBLIC_KEY_FILE);
        let key = PublicKey::load(&key_path)
            .with_context(|| "the archive public key (is this a Coffer data directory?)")?;
        let mut reports = Vec::new();
        for root in [data_dir.join("volumes"), data_dir.join("audit")] {
            let set = coffer_volume::VolumeSet::reader(&root, "");
            for year in set.years()? {
                reports.push(verify_volume(&set.dir_for(year), &key));
            }
        }
        Ok(reports)
    });
    let reports = reports.await.context("verification panicked")??;
    let catalog = if standalone {
        Vec::new()
    } else {
        check_catalog(&data_dir_for_catalog).await?
    };
    let intact = reports.iter().all(VerifyReport::is_intact)
        && catalog.iter().all(|c| c.problems.is_empty());
    if json {
        output::print_json(&Summary {
            intact,
            volumes: reports,
            catalog,
        })?;
    } else {
        if reports.is_empty() {
            crate::outln!("no volumes found");
        }
        for r in &reports {
            let name = r.dir.display();
            if r.is_intact() {
                crate::outln!(
                    "{name}: intact — {} records ({} messages), {} signatures verified, root {}",
                    r.records,
                    r.messages,
                    r.signatures_verified,
                    r.root
                );
            } else {
                crate::outln!("{name}: DAMAGED — {} problem(s)", r.problems.len());
                for p in &r.problems {
                    crate::outln!("  {p}");
                }
            }
            if r.unsigned_records > 0 {
                crate::outln!(
                    "  note: the last {} record(s) are not yet covered by a signed checkpoint",
                    r.unsigned_records
                );
            }
            for n in &r.notes {
                crate::outln!("  note: {n}");
            }
        }
        for c in &catalog {
            if c.problems.is_empty() {
                crate::outln!(
                    "catalog {}: {} messages, every one a message record of the volume with the same SHA-256 (applied up to record {} of {})",
                    c.year,
                    c.catalog_messages,
                    c.applied_up_to,
                    c.volume_records
                );
            } else {
                crate::outln!(
                    "catalog {}: INCONSISTENT — {} problem(s)",
                    c.year,
                    c.problems.len()
                );
                for p in c.problems.iter().take(50) {
                    crate::outln!("  {p}");
                }
            }
        }
    }
    Ok(if intact { 0 } else { 1 })
}
