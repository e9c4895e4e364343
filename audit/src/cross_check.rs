//! The audit trail's catalog rows checked against the audit volumes, in both directions
//! (`coffer audit verify`): every durable audit record up to the catalog's high-water
//! mark must have its row, equal in every field, and every row must be an audit record.
//! The rows are what `GET /api/v1/audit` shows: a row deleted or edited with SQL would
//! hide or rewrite an entry while the volumes stay intact, so the volumes decide.

use std::collections::BTreeMap;
use std::path::Path;

use coffer_catalog::Catalog;
use coffer_catalog::audit::{AUDIT, AuditRow};
use coffer_volume::VolumeSet;
use serde::Serialize;

use crate::{Result, read_rows};

/// The catalog's audit rows of one year checked against its audit volume.
#[derive(Debug, Clone, Serialize)]
pub struct RowCheck {
    /// The audit volume year.
    pub year: i32,
    /// Catalog rows of the year.
    pub catalog_rows: u64,
    /// The catalog's high-water mark for the year (records past it are not applied yet).
    pub applied_up_to: u64,
    /// What does not match, one line each, naming the record or row.
    pub problems: Vec<String>,
}

/// Checks every audit row of `catalog` against the audit volumes under `dir`.
pub async fn check_catalog(dir: &Path, catalog: &Catalog) -> Result<Vec<RowCheck>> {
    let set = VolumeSet::reader(dir, AUDIT);
    let mut years = set.years()?;
    for year in catalog.audit_years().await? {
        if !years.contains(&year) {
            years.push(year);
        }
    }
    years.sort_unstable();
    let mut checks = Vec::new();
    for year in years {
        let rows: BTreeMap<u64, AuditRow> = catalog
            .audit_rows(year)
            .await?
            .into_iter()
            .map(|r| (r.seq, r))
            .collect();
        let applied_up_to = catalog.high_water(AUDIT, year).await?;
        let volume = set.get(year)?;
        let mut problems = Vec::new();
        let records: BTreeMap<u64, AuditRow> = match &volume {
            Some(volume) => {
                let last = applied_up_to.min(volume.last_seq());
                if applied_up_to > volume.last_seq() {
                    problems.push(format!(
                        "the catalog claims audit records up to {year}-{applied_up_to}, the volume ends at {year}-{}",
                        volume.last_seq()
                    ));
                }
                if last == 0 {
                    BTreeMap::new()
                } else {
                    match read_rows(volume, year, 1, last) {
                        Ok(rows) => rows.into_iter().map(|r| (r.seq, r)).collect(),
                        Err(e) => {
                            // A damaged volume (verification names the record) cannot
                            // decide about its rows: say so rather than compare.
                            problems.push(format!(
                                "audit volume {year} could not be read to check its catalog rows: {e}"
                            ));
                            checks.push(RowCheck {
                                year,
                                catalog_rows: rows.len() as u64,
                                applied_up_to,
                                problems,
                            });
                            continue;
                        }
                    }
                }
            }
            None => {
                problems.push(format!(
                    "audit volume {year} is missing but the catalog has its rows"
                ));
                BTreeMap::new()
            }
        };
        for (seq, record) in &records {
            match rows.get(seq) {
                None => problems.push(format!(
                    "audit record {year}-{seq} ({} by {}) has no catalog row: the audit trail shown would hide it",
                    record.action, record.actor
                )),
                Some(row) if row != record => problems.push(format!(
                    "catalog row {year}-{seq} differs from its audit record ({})",
                    differing_fields(row, record).join(", ")
                )),
                Some(_) => {}
            }
        }
        for seq in rows.keys() {
            if !records.contains_key(seq) {
                problems.push(format!(
                    "catalog row {year}-{seq} is not an audit record of the volume"
                ));
            }
        }
        checks.push(RowCheck {
            year,
            catalog_rows: rows.len() as u64,
            applied_up_to,
            problems,
        });
    }
    Ok(checks)
}

fn differing_fields(a: &AuditRow, b: &AuditRow) -> Vec<&'static str> {
    let mut out = Vec::new();
    if a.time_us != b.time_us {
        out.push("time");
    }
    if a.actor != b.actor {
        out.push("actor");
    }
    if a.action != b.action {
        out.push("action");
    }
    if a.target != b.target {
        out.push("target");
    }
    if a.outcome != b.outcome {
        out.push("outcome");
    }
    if a.client != b.client {
        out.push("client");
    }
    if a.detail != b.detail {
        out.push("detail");
    }
    out
}
