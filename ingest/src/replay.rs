//! Start-up replay: the derived views catch up with the volumes.
//!
//! The volumes are the write-ahead log (DESIGN.md, principle 1). The catalog and each
//! year's index record the last volume sequence they applied; at start-up every durable
//! record past either mark is read back, derived again and applied, so a crash anywhere
//! between the fsync and the views loses nothing. An index year found damaged is
//! cleared and rebuilt from its volume; [`Rebuild`] drops a view on purpose first
//! (`coffer recatalog`, `coffer reindex`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use coffer_catalog::{Applied, ApplyBatch};
use coffer_model::MessageDoc;
use std::sync::Arc;

use crate::applier::AppliedViews;
use crate::error::Result;
use crate::views::{Derived, DerivedViews, MAIL};

/// Records derived and applied per step.
const REPLAY_CHUNK: u64 = 256;

/// What to rebuild from scratch before replaying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rebuild {
    /// Nothing: replay only what the derived views miss.
    #[default]
    Nothing,
    /// The catalog (`coffer recatalog`).
    Catalog,
    /// The index of one year (`coffer reindex --year`).
    IndexYear(i32),
    /// The catalog and every index year (`coffer reindex`).
    Everything,
}

/// Drops what `rebuild` names, so that [`catch_up`] rebuilds it from the volumes.
pub(crate) async fn clear(views: &DerivedViews, rebuild: Rebuild) -> Result<()> {
    match rebuild {
        Rebuild::Nothing => {}
        Rebuild::Catalog => views.catalog.clear_derived(MAIL).await?,
        Rebuild::IndexYear(year) => views.index.clear_year(year)?,
        Rebuild::Everything => {
            views.catalog.clear_derived(MAIL).await?;
            for year in views.index.years() {
                views.index.clear_year(year)?;
            }
        }
    }
    Ok(())
}

/// Replays every durable record that the catalog or the index has not applied yet, per
/// volume year; damaged index years are cleared and rebuilt. `progress` gets the number
/// of records processed so far. Returns, per year, the last sequence both views now hold.
pub(crate) async fn catch_up(
    views: &DerivedViews,
    settings: &AppliedViews,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<BTreeMap<i32, u64>> {
    let mut processed = 0u64;
    let mut applied = BTreeMap::new();
    for year in views.volumes.years()? {
        let Some(volume) = views.volumes.get_online(year)? else {
            continue;
        };
        if let Some(coffer_index::YearStatus::NeedsRebuild { reason }) =
            views.index.year_status(year)
        {
            tracing::warn!(year, reason = %reason, "index year needs a rebuild; rebuilding from the volume");
            views.index.clear_year(year)?;
        }
        let durable = volume.last_seq();
        let catalog_hw = views.catalog.high_water(MAIL, year).await?;
        let index_hw = if views.index_deferred() {
            durable
        } else {
            views.index.high_water(year).unwrap_or(0)
        };
        let start = catalog_hw.min(index_hw) + 1;
        if start <= durable {
            tracing::info!(
                year,
                from = start,
                to = durable,
                "replaying volume records into the derived views"
            );
        }
        // Commit the index as the applier does (every `index_commit_docs` documents or
        // `index_commit_interval`) and at the end: each commit writes a segment, and
        // committing every chunk made a 50,000-message rebuild spend a third of its CPU
        // merging ~200 small segments. The high-water mark in each commit keeps a crash
        // mid-way correct: the next start replays from it.
        let mut uncommitted_docs = 0u64;
        let mut last_commit = Instant::now();
        let mut seq = start;
        while seq <= durable {
            let end = (seq + REPLAY_CHUNK - 1).min(durable);
            let derived = {
                let (views, volume) = (views.clone(), volume.clone());
                tokio::task::spawn_blocking(move || views.derive_range(&volume, year, seq, end))
                    .await??
            };
            if end > catalog_hw {
                let items: Vec<Applied> = derived
                    .iter()
                    .filter(|(s, _)| *s > catalog_hw)
                    .map(|(_, d)| d.to_applied())
                    .collect();
                views
                    .catalog
                    .apply(&ApplyBatch {
                        purpose: MAIL,
                        year,
                        up_to_seq: end,
                        items,
                    })
                    .await?;
            }
            if end > index_hw {
                uncommitted_docs +=
                    index_chunk(views, year, seq.max(index_hw + 1), end, index_hw, derived).await?;
            }
            let commit_due = end == durable
                || uncommitted_docs >= settings.index_commit_docs
                || last_commit.elapsed() >= settings.index_commit_interval;
            if end > index_hw && !views.index_deferred() && commit_due {
                views.commit_index(year, end).await?;
                uncommitted_docs = 0;
                last_commit = Instant::now();
            }
            processed += end - seq + 1;
            progress(processed);
            seq = end + 1;
        }
        applied.insert(year, durable);
    }
    Ok(applied)
}

/// Indexes the replayed records `from..=to` that the index had not applied; returns how
/// many records it covered.
async fn index_chunk(
    views: &DerivedViews,
    year: i32,
    from: u64,
    to: u64,
    index_hw: u64,
    derived: Vec<(u64, Derived)>,
) -> Result<u64> {
    let catalog_mailboxes = views.catalog.mailboxes_in_range(year, from, to).await?;
    // A link whose message is replayed in this same chunk needs no work of its own: the
    // message is indexed with the catalog's mailboxes, which already include the link's
    // (journal copies arrive close together, so this spares most re-reads of linked
    // messages).
    let indexed_here: HashSet<u64> = derived
        .iter()
        .filter(|(s, d)| *s > index_hw && matches!(d, Derived::Message(_)))
        .map(|(s, _)| *s)
        .collect();
    let mut link_targets = Vec::new();
    let mut documents = Vec::new();
    let mut covered = 0u64;
    for (s, d) in derived {
        if s <= index_hw {
            continue;
        }
        match d {
            Derived::Message(doc) => documents.push(doc),
            Derived::Link { target, .. } => {
                if target.year != year || !indexed_here.contains(&target.seq) {
                    link_targets.push(target);
                }
            }
        }
        covered += 1;
    }
    let index = Arc::clone(&views.index);
    tokio::task::spawn_blocking(move || -> Result<()> {
        for doc in &documents {
            index_replayed(&index, doc, &catalog_mailboxes)?;
        }
        Ok(())
    })
    .await??;
    views.reindex_messages(&link_targets).await?;
    Ok(covered)
}

/// Adds a replayed message to the index, with its mailboxes as the catalog knows them
/// (links included): `catalog_mailboxes` holds them for the chunk being replayed (one
/// query per chunk, not per message).
fn index_replayed(
    index: &coffer_index::IndexSet,
    doc: &Arc<MessageDoc>,
    catalog_mailboxes: &HashMap<u64, Vec<String>>,
) -> Result<()> {
    match catalog_mailboxes.get(&doc.id.seq) {
        // Links added mailboxes after the message record.
        Some(mailboxes) if *mailboxes != doc.mailboxes => {
            let mut doc = doc.as_ref().clone();
            doc.mailboxes = mailboxes.clone();
            index.add(&doc)?;
        }
        _ => index.add(doc)?,
    }
    Ok(())
}
