//! The catalog checked against the volumes it is derived from (`coffer verify`), in both
//! directions, up to the catalog's high-water mark of each volume:
//! - every message row is a message record of its volume with the same SHA-256, and
//!   every message record has its row;
//! - every mailbox link of the catalog (which decides who may read a message) is named
//!   by a record — the message record's own metadata or a link record targeting the
//!   message — and every mailbox a record names is linked.
//!
//! The volumes are verified on their own first (chain, tree, signatures); this check
//! makes sure the derived view tells the same story, so an SQL edit of the catalog (a
//! link inserted to give someone a foreign message, a row deleted) is named.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use coffer_catalog::Catalog;
use coffer_model::{MessageId, Sha256};
use coffer_volume::{RecordKind, VolumeSet};
use serde::Serialize;

use crate::error::Result;
use crate::meta::{LinkMeta, MessageMeta};
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
    /// Mailbox links of the year's messages in the catalog.
    pub catalog_links: u64,
    /// What does not match, one line each, naming the message, record or link.
    pub problems: Vec<String>,
}

/// What the records of the volumes say the catalog must hold.
#[derive(Default)]
struct Expected {
    /// Per year: message record seq → SHA-256.
    messages: BTreeMap<i32, BTreeMap<u64, Sha256>>,
    /// Per message: the mailboxes records name, with the record that names each.
    links: BTreeMap<MessageId, BTreeMap<String, MessageId>>,
    /// Problems found while reading.
    problems: BTreeMap<i32, Vec<String>>,
    /// Message records disposed of (data key destroyed): the catalog must not list them,
    /// nor any link to them.
    disposed: BTreeSet<MessageId>,
}

/// Reads the message and link records `1..=up_to` of one volume.
fn read_expected(
    volumes: &VolumeSet,
    year: i32,
    up_to: u64,
    expected: &mut Expected,
) -> Result<()> {
    let problems = expected.problems.entry(year).or_default();
    let volume = match volumes.get(year) {
        Ok(Some(volume)) => volume,
        Ok(None) => {
            problems.push(format!("volume {year} vanished while being checked"));
            return Ok(());
        }
        Err(e @ coffer_volume::Error::Offline { .. }) => {
            problems.push(format!("{e}: its catalog rows were not checked"));
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let last = volume.last_seq();
    if up_to > last {
        problems.push(format!(
            "the catalog claims records up to {year}-{up_to}, the volume ends at {year}-{last}"
        ));
    }
    let messages = expected.messages.entry(year).or_default();
    for seq in 1..=up_to.min(last) {
        let record = MessageId::new(year, seq);
        // A record that cannot be read is named (volume verification says why) and the
        // check goes on: one damaged record must not hide the state of the others.
        let kind = match volume.kind(seq) {
            Ok(kind) => kind,
            Err(e) => {
                problems.push(format!("record {record} could not be read: {e}"));
                continue;
            }
        };
        if !matches!(kind, RecordKind::Message | RecordKind::Link) {
            continue;
        }
        let (header, meta) = match volume.read_meta(seq) {
            Ok(x) => x,
            Err(e) => {
                problems.push(format!("record {record} could not be read: {e}"));
                continue;
            }
        };
        if kind == RecordKind::Message {
            match volume.disposed_with(seq, &header) {
                Ok(Some(_)) => {
                    expected.disposed.insert(record);
                    continue;
                }
                Ok(None) => {}
                Err(e) => problems.push(format!("record {record}: {e}")),
            }
            messages.insert(seq, Sha256(header.content_sha256));
            match MessageMeta::from_bytes(&meta) {
                Ok(meta) => {
                    let links = expected.links.entry(record).or_default();
                    for m in meta.mailboxes {
                        links.entry(m.to_ascii_lowercase()).or_insert(record);
                    }
                }
                Err(e) => problems.push(format!("record {record}: {e}")),
            }
        } else {
            match LinkMeta::from_bytes(&meta) {
                Ok(link) if expected.disposed.contains(&link.target) => {}
                // Its target's volume was deleted whole (every message disposed of).
                Ok(link) if matches!(volumes.get(link.target.year), Ok(None)) => {}
                Ok(link) => {
                    let links = expected.links.entry(link.target).or_default();
                    for m in link.mailboxes {
                        links.entry(m.to_ascii_lowercase()).or_insert(record);
                    }
                }
                Err(e) => problems.push(format!("record {record}: {e}")),
            }
        }
    }
    Ok(())
}

/// Checks the catalog of `catalog` against the mail volumes in `volumes`.
pub async fn check_catalog(
    catalog: &Catalog,
    volumes: Arc<VolumeSet>,
) -> Result<Vec<CatalogCheck>> {
    let years = {
        let volumes = Arc::clone(&volumes);
        tokio::task::spawn_blocking(move || volumes.years()).await??
    };
    let mut applied = BTreeMap::new();
    for &year in &years {
        applied.insert(year, catalog.high_water(MAIL, year).await?);
    }
    let expected = {
        let volumes = Arc::clone(&volumes);
        let applied = applied.clone();
        tokio::task::spawn_blocking(move || -> Result<Expected> {
            let mut expected = Expected::default();
            for (year, up_to) in applied {
                read_expected(&volumes, year, up_to, &mut expected)?;
            }
            Ok(expected)
        })
        .await??
    };
    let mut checks = Vec::new();
    for year in years {
        let applied_up_to = applied.get(&year).copied().unwrap_or(0);
        let mut problems = expected.problems.get(&year).cloned().unwrap_or_default();
        let rows: BTreeMap<u64, Sha256> = catalog.message_hashes(year).await?.into_iter().collect();
        let no_messages = BTreeMap::new();
        let records = expected.messages.get(&year).unwrap_or(&no_messages);
        for (seq, sha) in &rows {
            match records.get(seq) {
                Some(r) if r == sha => {}
                Some(_) => problems.push(format!(
                    "catalog message {year}-{seq}: SHA-256 differs from the volume record"
                )),
                None if *seq > applied_up_to => problems.push(format!(
                    "catalog message {year}-{seq} is past the catalog's own high-water mark {applied_up_to}"
                )),
                None if expected.disposed.contains(&MessageId::new(year, *seq)) => {
                    problems.push(format!(
                        "catalog message {year}-{seq} was disposed of, yet the catalog still lists it"
                    ))
                }
                None => problems.push(format!(
                    "catalog message {year}-{seq} is not a message record of the volume"
                )),
            }
        }
        for seq in records.keys() {
            if !rows.contains_key(seq) {
                problems.push(format!(
                    "volume record {year}-{seq} is a message the catalog does not list"
                ));
            }
        }
        let links = catalog.mailboxes_in_range(year, 1, i64::MAX as u64).await?;
        let mut catalog_links = 0u64;
        for (seq, mailboxes) in &links {
            let id = MessageId::new(year, *seq);
            let named = expected.links.get(&id);
            for mailbox in mailboxes {
                catalog_links += 1;
                if !named.is_some_and(|n| n.contains_key(mailbox)) {
                    problems.push(format!(
                        "catalog link {id} -> {mailbox} is named by no volume record (it would give {mailbox} this message)"
                    ));
                }
            }
        }
        for (id, named) in expected
            .links
            .range(MessageId::new(year, 0)..=MessageId::new(year, u64::MAX))
        {
            if !rows.contains_key(&id.seq) {
                continue; // reported above as a missing message
            }
            // A message has a few mailboxes: a scan of its links beats a set of them all.
            let linked = links.get(&id.seq);
            for (mailbox, record) in named {
                if !linked.is_some_and(|l| l.iter().any(|m| m == mailbox)) {
                    problems.push(format!(
                        "record {record} links {id} to {mailbox}; the catalog does not"
                    ));
                }
            }
        }
        let volume_records = {
            let volumes = Arc::clone(&volumes);
            tokio::task::spawn_blocking(move || -> Result<u64> {
                Ok(volumes.get_online(year)?.map_or(0, |v| v.last_seq()))
            })
            .await??
        };
        checks.push(CatalogCheck {
            year,
            catalog_messages: rows.len() as u64,
            volume_records,
            applied_up_to,
            catalog_links,
            problems,
        });
    }
    Ok(checks)
}

/// Whether record `via` names `mailbox` as a mailbox of message `target`: the message
/// record's own metadata (`via == target`), or a link record targeting it. An access
/// decision asks this before it lets a link of the catalog open a message (blocking:
/// reads one record's metadata). `false` for anything that cannot be read.
pub fn record_names(volumes: &VolumeSet, via: MessageId, target: MessageId, mailbox: &str) -> bool {
    let Ok(Some(volume)) = volumes.get(via.year) else {
        return false;
    };
    let Ok((header, meta)) = volume.read_meta(via.seq) else {
        return false;
    };
    let named = |mailboxes: &[String]| mailboxes.iter().any(|m| m.eq_ignore_ascii_case(mailbox));
    match header.kind {
        RecordKind::Message if via == target => {
            MessageMeta::from_bytes(&meta).is_ok_and(|m| named(&m.mailboxes))
        }
        RecordKind::Link => {
            LinkMeta::from_bytes(&meta).is_ok_and(|l| l.target == target && named(&l.mailboxes))
        }
        _ => false,
    }
}
