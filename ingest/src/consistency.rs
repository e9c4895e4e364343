//! The catalog checked against the volumes it is derived from (`coffer verify`): every
//! message row of the catalog must be a message record of its volume with the same
//! SHA-256. The volumes are verified on their own first (chain, tree, signatures); this
//! check makes sure the derived view tells the same story.

use std::sync::Arc;

use coffer_catalog::Catalog;
use coffer_volume::{RecordKind, VolumeSet};
use serde::Serialize;

use crate::error::Result;
use crate::views::MAIL;

/// The catalog checked against one mail volume.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogCheck {
    /// The volume year.
    pub year: i32,
    /// Message rows the catalog has for the year.
    pub catalog_messages: u64,
    /// Durable records in the volume.
    pub volume_records: u64,
    /// The catalog's high-water mark for the year.
    pub applied_up_to: u64,
    /// What does not match, one line each, naming the message.
    pub problems: Vec<String>,
}

/// Checks every message row of `catalog` against the mail volumes in `volumes`.
pub async fn check_catalog(
    catalog: &Catalog,
    volumes: Arc<VolumeSet>,
) -> Result<Vec<CatalogCheck>> {
    let years = {
        let volumes = Arc::clone(&volumes);
        tokio::task::spawn_blocking(move || volumes.years()).await??
    };
    let mut checks = Vec::new();
    for year in years {
        let rows = catalog.message_hashes(year).await?;
        let applied_up_to = catalog.high_water(MAIL, year).await?;
        let volumes = Arc::clone(&volumes);
        let check = tokio::task::spawn_blocking(move || -> Result<CatalogCheck> {
            let mut problems = Vec::new();
            let Some(volume) = volumes.get(year)? else {
                problems.push(format!("volume {year} vanished while being checked"));
                return Ok(CatalogCheck {
                    year,
                    catalog_messages: rows.len() as u64,
                    volume_records: 0,
                    applied_up_to,
                    problems,
                });
            };
            for (seq, sha) in &rows {
                match volume.read_meta(*seq) {
                    Ok((header, _))
                        if header.kind == RecordKind::Message && header.content_sha256 == sha.0 => {
                    }
                    Ok((header, _)) if header.kind != RecordKind::Message => {
                        problems.push(format!(
                            "catalog message {year}-{seq} is a {} record in the volume",
                            header.kind.name()
                        ));
                    }
                    Ok(_) => problems.push(format!(
                        "catalog message {year}-{seq}: SHA-256 differs from the volume record"
                    )),
                    Err(e) => problems.push(format!("catalog message {year}-{seq}: {e}")),
                }
            }
            Ok(CatalogCheck {
                year,
                catalog_messages: rows.len() as u64,
                volume_records: volume.last_seq(),
                applied_up_to,
                problems,
            })
        })
        .await??;
        checks.push(check);
    }
    Ok(checks)
}
