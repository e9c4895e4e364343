//! Stage 3: the writer — archiving rules, deduplication, append, group commit, and the
//! acknowledgement.
//!
//! [`Writer::commit`] takes a batch of [`Analyzed`] messages and returns one outcome per
//! message, **only once every record it wrote is fsynced** (that return is the
//! acknowledgement: `250`, `201`, a counted import). In order:
//! 1. without any lock: apply the archiving rules of journaled mail's mailboxes; then,
//!    on the blocking pool, compress and encrypt the records of the messages the catalog
//!    does not hold yet and make their data keys durable (one shared key-log fsync) —
//!    the slow part, so concurrent commits (SMTP sessions) do it side by side;
//! 2. under the dedup lock, ask the catalog which digests (and, for journaled mail,
//!    which identities) it already holds (async, awaited — no runtime bridge);
//! 3. still under the lock, on the blocking pool: decide for each message whether it is
//!    new, a duplicate, or a duplicate that brings new mailboxes (a small link record),
//!    and append the records (page-cache writes, in batch order, so later messages of
//!    the batch see the earlier ones);
//! 4. release the lock and wait for the group-commit fsync of every touched volume
//!    (concurrent commits share one fsync);
//! 5. offer the durable records' derived changes to the [`applier`](crate::applier).
//!
//! A volume whose fsync fails acknowledges nothing written to it in that batch.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use coffer_catalog::{Catalog, KnownMessage};
use coffer_model::{MessageFlags, MessageId, Sha256};
use coffer_volume::{Prepared, RecordKind, Volume, VolumeSet};
use tokio::sync::OwnedMutexGuard;

use crate::analyze::{Analyzed, Analyzer};
use crate::applier::{Applier, Offer};
use crate::clock::year_of;
use crate::dedup::{Pending, PendingMessage};
use crate::error::{IngestError, Result};
use crate::meta::{LinkMeta, META_VERSION};
use crate::rules::{MailboxRules, evaluate, is_internal, rules_from_catalog};
use crate::views::Derived;

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored as a new message.
    Archived {
        /// Its id.
        id: MessageId,
        /// Bytes its record takes in the volume.
        stored_bytes: u64,
        /// What reading it found ([`MessageFlags::has_problem`]: "flagged").
        flags: MessageFlags,
    },
    /// Already archived; a link record added these mailboxes.
    Linked {
        /// The archived message.
        id: MessageId,
        /// The mailboxes added.
        added: Vec<String>,
    },
    /// Already archived with all its mailboxes: nothing written.
    Duplicate {
        /// The archived message.
        id: MessageId,
    },
    /// No mailbox's archiving rule admits it: not stored (the journal pipeline records
    /// it in the audit trail — rule outcome, time, size; no content).
    Excluded {
        /// Whether the message was classified internal.
        internal: bool,
        /// How many mailboxes refused it.
        refused: usize,
        /// Its size in bytes.
        size: u64,
    },
}

impl Outcome {
    /// The message id.
    pub fn id(&self) -> Option<MessageId> {
        match self {
            Outcome::Archived { id, .. }
            | Outcome::Linked { id, .. }
            | Outcome::Duplicate { id } => Some(*id),
            Outcome::Excluded { .. } => None,
        }
    }
}

/// The writer over the mail volumes.
pub struct Writer {
    volumes: Arc<VolumeSet>,
    catalog: Arc<Catalog>,
    analyzer: Analyzer,
    pending: Arc<tokio::sync::Mutex<Pending>>,
    local_domains: std::sync::RwLock<Vec<String>>,
    applier: Arc<Applier>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("volumes", &self.volumes.root())
            .finish_non_exhaustive()
    }
}

/// What the catalog knows about a batch, looked up before the blocking part.
struct Known {
    by_sha: HashMap<Sha256, KnownMessage>,
    by_identity: HashMap<Sha256, KnownMessage>,
}

/// Lowercases, trims, sorts and deduplicates domain names.
pub(crate) fn normalize_domains(domains: &[String]) -> Vec<String> {
    let mut out: Vec<String> = domains
        .iter()
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

impl Writer {
    pub(crate) fn new(
        volumes: Arc<VolumeSet>,
        catalog: Arc<Catalog>,
        analyzer: Analyzer,
        pending: Arc<tokio::sync::Mutex<Pending>>,
        local_domains: &[String],
        applier: Arc<Applier>,
    ) -> Self {
        Self {
            volumes,
            catalog,
            analyzer,
            pending,
            local_domains: std::sync::RwLock::new(normalize_domains(local_domains)),
            applier,
        }
    }

    /// The analysis stage's settings (for callers that analyse on their own threads).
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// The local domains (lowercased): their participants are mailboxes, and they define
    /// internal mail.
    pub fn local_domains(&self) -> Vec<String> {
        self.local_domains
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the local domains (the configuration plus the domains the administrator
    /// manages; `coffer serve` refreshes them).
    pub fn set_local_domains(&self, domains: &[String]) {
        *self
            .local_domains
            .write()
            .unwrap_or_else(|p| p.into_inner()) = normalize_domains(domains);
    }

    /// Which of these digests the catalog already holds (lets an importer skip
    /// compressing known messages).
    pub async fn known(&self, digests: &[Sha256]) -> Result<BTreeSet<Sha256>> {
        let found = self.catalog.find_by_sha256(digests).await?;
        Ok(found.into_keys().collect())
    }

    /// Fences messages a disposition run is about to shred: from the moment this takes
    /// the dedup lock, a copy of one of them is stored in full, as a new message with
    /// its own data key — never a link to it, never a "duplicate" of it — so no
    /// acknowledgement given from then on points at content whose key the run destroys.
    ///
    /// Returns once every record written before the fence (a link that adds mailboxes
    /// to one of them, say) is applied to the catalog, so a run that decides its
    /// messages after this sees every mailbox that was acknowledged for them. The fence
    /// stays until [`Writer::lift_disposal`] (or the process ends: a run found
    /// `executing` at start-up fences again before anything is served).
    pub async fn fence_disposal(&self, ids: &[MessageId]) -> Result<()> {
        self.pending.lock().await.fence(ids);
        let volumes = Arc::clone(&self.volumes);
        let targets = tokio::task::spawn_blocking(move || -> Result<Vec<(i32, u64)>> {
            let mut targets = Vec::new();
            for year in volumes.years()? {
                if let Some(volume) = volumes.get_online(year)? {
                    // Written, not only durable: a commit that passed the dedup lock
                    // before the fence may still wait for its fsync.
                    targets.push((year, volume.last_written_seq()));
                }
            }
            Ok(targets)
        })
        .await??;
        self.applier.applied_through(&targets).await
    }

    /// Lifts the fence of [`Writer::fence_disposal`] from `ids`: their disposition is
    /// over (the catalog no longer lists them) or they are kept.
    pub async fn lift_disposal(&self, ids: &[MessageId]) {
        self.pending.lock().await.lift(ids);
    }

    /// Rules, dedup, append, fsync: one outcome per message, in order, returned only
    /// once every written record is durable (see the module docs).
    pub async fn commit(&self, mut batch: Vec<Analyzed>) -> Vec<Result<Outcome>> {
        // Outside the dedup lock: the archiving rules (they read the catalog only), then
        // the slow part — compressing and encrypting new messages' records and making
        // their data keys durable — so concurrent commits do it side by side, and one
        // commit's key-log fsync overlaps the volume fsync of the commit before it.
        let mut excluded: Vec<Option<Outcome>> = Vec::with_capacity(batch.len());
        for item in &mut batch {
            excluded.push(if item.journaled {
                self.apply_rules(item).await
            } else {
                None
            });
        }
        let count = batch.len();
        let batch = match self.prepare_outside_lock(batch, &excluded).await {
            Ok(batch) => batch,
            Err(e) => {
                let e = Arc::new(IngestError::Task(e));
                return (0..count)
                    .map(|_| Err(IngestError::Batch(Arc::clone(&e))))
                    .collect();
            }
        };
        let pending = Arc::clone(&self.pending).lock_owned().await;
        let known = match self.look_up(&pending, &batch).await {
            Ok(known) => known,
            Err(e) => {
                let e = Arc::new(e);
                return batch
                    .iter()
                    .map(|_| Err(IngestError::Batch(Arc::clone(&e))))
                    .collect();
            }
        };
        let years: Vec<i32> = batch.iter().map(|a| year_of(a.received_us)).collect();
        let volumes = Arc::clone(&self.volumes);
        let analyzer = self.analyzer.clone();
        let written = tokio::task::spawn_blocking(move || {
            write_batch(&volumes, &analyzer, pending, &known, batch, excluded, years)
        })
        .await;
        let Written {
            mut results,
            mut offers,
            to_sync,
            years,
        } = match written {
            Ok(written) => written,
            Err(e) => {
                // Unknown what was written: acknowledge nothing (the sender retries;
                // dedup absorbs what was stored).
                let e = Arc::new(IngestError::Task(e));
                return (0..count)
                    .map(|_| Err(IngestError::Batch(Arc::clone(&e))))
                    .collect();
            }
        };
        // Group commit: one fsync per touched volume, shared with concurrent callers.
        let synced = tokio::task::spawn_blocking(move || {
            let mut failed: BTreeMap<i32, Arc<IngestError>> = BTreeMap::new();
            for (year, (volume, seq)) in &to_sync {
                if let Err(e) = volume.sync_to(*seq) {
                    tracing::error!(year, error = %e, "volume sync failed; nothing written to it in this batch is acknowledged");
                    failed.insert(*year, Arc::new(e.into()));
                }
            }
            failed
        })
        .await;
        let failed_years = match synced {
            Ok(failed) => failed,
            Err(e) => {
                // Unknown whether anything is durable: acknowledge nothing written.
                let e = Arc::new(IngestError::Task(e));
                years.iter().map(|y| (*y, Arc::clone(&e))).collect()
            }
        };
        if !failed_years.is_empty() {
            offers.retain(|((year, _), _)| !failed_years.contains_key(year));
            for (result, year) in results.iter_mut().zip(&years) {
                let written = matches!(
                    result,
                    Ok(Outcome::Archived { .. } | Outcome::Linked { .. })
                );
                if let (true, Some(reason)) = (written, failed_years.get(year)) {
                    *result = Err(IngestError::Batch(Arc::clone(reason)));
                }
            }
        }
        self.applier.offer(offers).await;
        results
    }

    /// Step 1: what the catalog already holds of this batch (by content hash, and by
    /// identity for journaled mail the hashes did not find).
    async fn look_up(&self, pending: &Pending, batch: &[Analyzed]) -> Result<Known> {
        let digests: Vec<Sha256> = batch.iter().map(|a| a.sha256).collect();
        let by_sha = self.catalog.find_by_sha256(&digests).await?;
        let mut by_identity = HashMap::new();
        for item in batch {
            let Some(identity) = item.doc.identity.filter(|_| item.journaled) else {
                continue;
            };
            if by_sha.contains_key(&item.sha256)
                || pending.by_sha(&item.sha256).is_some()
                || pending.by_identity(&identity).is_some()
                || by_identity.contains_key(&identity)
            {
                continue;
            }
            if let Some(found) = self.catalog.find_by_identity(&identity).await? {
                by_identity.insert(identity, found);
            }
        }
        Ok(Known {
            by_sha,
            by_identity,
        })
    }

    /// Prepares (compresses, encrypts) the records of the batch's messages that are
    /// not excluded, not prepared yet and not already in the catalog, and makes every
    /// prepared record's data key durable — all before the dedup lock. A failure here
    /// is not final: the locked stage prepares again and reports the error for that
    /// message, and the volume makes the key durable again before writing the record.
    async fn prepare_outside_lock(
        &self,
        mut batch: Vec<Analyzed>,
        excluded: &[Option<Outcome>],
    ) -> std::result::Result<Vec<Analyzed>, tokio::task::JoinError> {
        let wanted: Vec<bool> = batch
            .iter()
            .zip(excluded)
            .map(|(a, e)| e.is_none() && !a.is_prepared())
            .collect();
        let digests: Vec<Sha256> = batch
            .iter()
            .zip(&wanted)
            .filter(|(_, w)| **w)
            .map(|(a, _)| a.sha256)
            .collect();
        // Duplicates are not compressed (nor given a data key); a failed lookup only
        // means compressing them all.
        let known = if digests.is_empty() {
            BTreeSet::new()
        } else {
            self.known(&digests).await.unwrap_or_default()
        };
        let analyzer = self.analyzer.clone();
        let volumes = Arc::clone(&self.volumes);
        tokio::task::spawn_blocking(move || {
            for (item, wanted) in batch.iter_mut().zip(wanted) {
                if wanted && !known.contains(&item.sha256) {
                    let _ = analyzer.prepare(item);
                }
            }
            if let Some(keys) = volumes.content_keys() {
                for id in batch
                    .iter()
                    .filter_map(|a| a.prepared.as_ref().and_then(|p| p.key_id()))
                {
                    if keys.make_durable(&id).is_err() {
                        break;
                    }
                }
            }
            batch
        })
        .await
    }

    /// Applies the archiving rules to a journaled message: keeps only the mailboxes whose
    /// rules admit it, or returns [`Outcome::Excluded`] when none does.
    async fn apply_rules(&self, item: &mut Analyzed) -> Option<Outcome> {
        let recipients: Vec<&str> = item
            .doc
            .to
            .iter()
            .chain(&item.doc.cc)
            .chain(&item.doc.bcc)
            .map(|a| a.email.as_str())
            .chain(item.doc.envelope_recipients.iter().map(String::as_str))
            .collect();
        let sender = item.doc.from.first().map(|a| a.email.as_str());
        let internal = is_internal(sender, recipients, &self.local_domains());
        let rules: BTreeMap<String, MailboxRules> =
            rules_from_catalog(&self.catalog, &item.meta.mailboxes).await;
        let decision = evaluate(&item.meta.mailboxes, internal, &rules);
        if !decision.stored() {
            return Some(Outcome::Excluded {
                internal,
                refused: decision.refused.len(),
                size: item.raw.len() as u64,
            });
        }
        if !decision.refused.is_empty() {
            item.meta.mailboxes = decision.admitted.clone();
            item.doc.mailboxes = decision.admitted;
            item.prepared = None;
        }
        None
    }
}

/// What the blocking part of a commit wrote.
struct Written {
    results: Vec<Result<Outcome>>,
    offers: Vec<((i32, u64), Offer)>,
    to_sync: BTreeMap<i32, (Volume, u64)>,
    years: Vec<i32>,
}

/// Step 2 (blocking, under the dedup lock, which it releases before returning).
fn write_batch(
    volumes: &VolumeSet,
    analyzer: &Analyzer,
    mut pending: OwnedMutexGuard<Pending>,
    known: &Known,
    batch: Vec<Analyzed>,
    excluded: Vec<Option<Outcome>>,
    years: Vec<i32>,
) -> Written {
    let mut out = Written {
        results: Vec::with_capacity(batch.len()),
        offers: Vec::new(),
        to_sync: BTreeMap::new(),
        years: years.clone(),
    };
    for ((mut item, excluded), year) in batch.into_iter().zip(excluded).zip(years) {
        if let Some(excluded) = excluded {
            out.results.push(Ok(excluded));
            continue;
        }
        let result = match find_existing(&pending, known, &item) {
            Some((id, have)) => {
                let added: Vec<String> = item
                    .meta
                    .mailboxes
                    .iter()
                    .filter(|m| !have.contains(*m))
                    .cloned()
                    .collect();
                if added.is_empty() {
                    Ok(Outcome::Duplicate { id })
                } else {
                    write_link(
                        volumes,
                        &mut pending,
                        &mut out,
                        year,
                        id,
                        &item,
                        have,
                        added,
                    )
                }
            }
            None => write_message(volumes, analyzer, &mut pending, &mut out, year, &mut item),
        };
        out.results.push(result);
    }
    drop(pending);
    out
}

/// The archived (or pending) message this one duplicates: same bytes, or — for
/// journaled mail — same identity (a journal copy with other trace headers).
fn find_existing(
    pending: &Pending,
    known: &Known,
    item: &Analyzed,
) -> Option<(MessageId, BTreeSet<String>)> {
    // A message a disposition run is shredding is no target (see `Writer::fence_disposal`).
    let live = |id: MessageId| !pending.is_disposing(id);
    if let Some(p) = pending.by_sha(&item.sha256).filter(|p| live(p.id)) {
        return Some((p.id, p.mailboxes.clone()));
    }
    if let Some(k) = known.by_sha.get(&item.sha256).filter(|k| live(k.id)) {
        return Some((k.id, k.mailboxes.iter().cloned().collect()));
    }
    let identity = item.doc.identity.filter(|_| item.journaled)?;
    if let Some(p) = pending.by_identity(&identity).filter(|p| live(p.id)) {
        return Some((p.id, p.mailboxes.clone()));
    }
    known
        .by_identity
        .get(&identity)
        .filter(|k| live(k.id))
        .map(|k| (k.id, k.mailboxes.iter().cloned().collect()))
}

fn append(volumes: &VolumeSet, out: &mut Written, year: i32, prepared: Prepared) -> Result<u64> {
    let volume = volumes.get_or_create(year)?;
    let appended = volume.write_prepared(prepared)?;
    let entry = out
        .to_sync
        .entry(year)
        .or_insert_with(|| (volume.clone(), 0));
    entry.1 = entry.1.max(appended.seq);
    Ok(appended.seq)
}

#[allow(clippy::too_many_arguments)]
fn write_link(
    volumes: &VolumeSet,
    pending: &mut Pending,
    out: &mut Written,
    year: i32,
    target: MessageId,
    item: &Analyzed,
    have: BTreeSet<String>,
    added: Vec<String>,
) -> Result<Outcome> {
    let meta = LinkMeta {
        v: META_VERSION,
        target,
        sha256: item.sha256,
        mailboxes: added.clone(),
        source: item.meta.source.clone(),
        envelope: item.meta.envelope.clone(),
        origin: item.meta.origin.clone(),
    };
    let prepared = Prepared::new(
        RecordKind::Link,
        item.received_us,
        meta.to_bytes(),
        None,
        None,
        0,
    )?;
    let seq = append(volumes, out, year, prepared)?;
    let mut mailboxes = have;
    mailboxes.extend(added.iter().cloned());
    pending.insert(
        item.sha256,
        PendingMessage {
            id: target,
            mailboxes,
            record: (year, seq),
            identity: None,
        },
    );
    out.offers.push((
        (year, seq),
        Derived::Link {
            target,
            sha256: item.sha256,
            mailboxes: added.clone(),
            via: MessageId::new(year, seq),
        },
    ));
    Ok(Outcome::Linked { id: target, added })
}

fn write_message(
    volumes: &VolumeSet,
    analyzer: &Analyzer,
    pending: &mut Pending,
    out: &mut Written,
    year: i32,
    item: &mut Analyzed,
) -> Result<Outcome> {
    let prepared = analyzer.take_prepared(item)?;
    let stored_bytes = prepared.stored_len();
    let seq = append(volumes, out, year, prepared)?;
    let id = MessageId::new(year, seq);
    let flags = item.doc.flags;
    let mut doc = std::mem::take(&mut item.doc);
    doc.id = id;
    pending.insert(
        item.sha256,
        PendingMessage {
            id,
            mailboxes: item.meta.mailboxes.iter().cloned().collect(),
            record: (year, seq),
            identity: doc.identity,
        },
    );
    out.offers
        .push(((year, seq), Derived::Message(Arc::new(doc))));
    Ok(Outcome::Archived {
        id,
        stored_bytes,
        flags,
    })
}
