//! `coffer audit verify`: checks the audit trail's volumes (`<data>/audit`) from the
//! files and the archive's public key alone — hash chain, Merkle tree, checkpoint
//! signatures — and names every damaged record; then checks the catalog's audit rows
//! (what `GET /api/v1/audit` shows) against those records in both directions, so a row
//! deleted or edited with SQL is named. Exit status 0 only when both are intact.

use std::path::Path;

use anyhow::{Context, Result};
use clap::Subcommand;
use coffer_volume::{PublicKey, VerifyReport};
use serde::Serialize;

use crate::output;

/// `coffer audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the audit trail (exit status 0 only when intact).
    Verify {
        /// Print the reports as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize)]
struct Summary<'a> {
    intact: bool,
    volumes: &'a [VerifyReport],
    catalog: &'a [coffer_audit::cross_check::RowCheck],
}

/// Runs a `coffer audit` command.
pub async fn run(data_dir: &Path, command: AuditCommand) -> Result<i32> {
    let AuditCommand::Verify { json } = command;
    let key_path = data_dir
        .join("keys")
        .join(coffer_volume::keys::PUBLIC_KEY_FILE);
    let dir = coffer_audit::audit_dir(data_dir);
    let reports = tokio::task::spawn_blocking(move || -> Result<Vec<VerifyReport>> {
        let key = PublicKey::load(&key_path)
            .context("the archive public key (is this a Coffer data directory?)")?;
        Ok(coffer_audit::verify(&dir, &key)?)
    })
    .await
    .context("verification panicked")??;
    let rows = match check_rows(data_dir).await {
        Ok(rows) => rows,
        Err(e) => vec![coffer_audit::cross_check::RowCheck {
            year: 0,
            catalog_rows: 0,
            applied_up_to: 0,
            problems: vec![format!(
                "the catalog's audit rows could not be checked: {e:#}"
            )],
        }],
    };
    let intact =
        reports.iter().all(VerifyReport::is_intact) && rows.iter().all(|c| c.problems.is_empty());
    if json {
        output::print_json(&Summary {
            intact,
            volumes: &reports,
            catalog: &rows,
        })?;
    } else {
        if reports.is_empty() {
            println!("no audit volumes found");
        }
        for r in &reports {
            let name = r.dir.display();
            if r.is_intact() {
                println!(
                    "{name}: intact — {} records, {} signatures verified, root {}",
                    r.records, r.signatures_verified, r.root
                );
            } else {
                println!("{name}: DAMAGED — {} problem(s)", r.problems.len());
                for p in &r.problems {
                    println!("  {p}");
                }
            }
            if r.unsigned_records > 0 {
                println!(
                    "  note: the last {} record(s) are not yet covered by a signed checkpoint",
                    r.unsigned_records
                );
            }
            for n in &r.notes {
                println!("  note: {n}");
            }
        }
        for c in &rows {
            if c.problems.is_empty() {
                println!(
                    "catalog {}: {} audit rows match their records",
                    c.year, c.catalog_rows
                );
            } else {
                println!("catalog {}: {} problem(s)", c.year, c.problems.len());
                for p in &c.problems {
                    println!("  {p}");
                }
            }
        }
    }
    Ok(if intact { 0 } else { 1 })
}

/// The catalog's audit rows checked against the audit records.
async fn check_rows(data_dir: &Path) -> Result<Vec<coffer_audit::cross_check::RowCheck>> {
    let config = crate::config::Config::load(data_dir)?;
    let catalog = coffer_ingest::DataDir::new(data_dir)
        .open_catalog(config.catalog_url.as_deref())
        .await?;
    let rows =
        coffer_audit::cross_check::check_catalog(&coffer_audit::audit_dir(data_dir), &catalog)
            .await;
    catalog.close().await;
    Ok(rows?)
}
