//! `coffer verify`: every volume of the data directory, or one copied volume.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
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
}

/// Verifies and prints; exit status 0 only when everything is intact.
pub async fn run(data_dir: &Path, args: VerifyArgs) -> Result<i32> {
    let json = args.json;
    let data_dir = data_dir.to_path_buf();
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
    let intact = reports.iter().all(VerifyReport::is_intact);
    if json {
        output::print_json(&Summary {
            intact,
            volumes: reports,
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
    }
    Ok(if intact { 0 } else { 1 })
}
