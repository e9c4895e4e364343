//! The derived views — catalog rows and index documents — and how they are made from
//! volume records alone. Shared by the [`applier`](crate::applier) (records as they are
//! written) and [`replay`](crate::replay) (records the views missed, at start-up).
//!
//! Reading and parsing records is CPU and disk work: the `derive_*` and `read_*`
//! functions are blocking and parallel (rayon); the `async` ones await the catalog and
//! run their blocking part on the blocking pool.

use std::collections::HashMap;
use std::sync::Arc;

use coffer_catalog::{Applied, Catalog};
use coffer_extract::ExtractLimits;
use coffer_index::IndexSet;
use coffer_model::{MessageDoc, MessageId, Sha256};
use coffer_volume::{RecordKind, Volume, VolumeSet};
use rayon::prelude::*;

use crate::error::Result;
use crate::hit_text::record_doc;
use crate::meta::LinkMeta;

/// Purpose name of the mail volumes (and of their high-water marks in the catalog).
pub const MAIL: &str = "mail";

/// A derived change from one record.
#[derive(Debug, Clone)]
pub(crate) enum Derived {
    /// A message record: its index document (and catalog row).
    Message(Arc<MessageDoc>),
    /// A link record: more mailboxes for an archived message.
    Link {
        /// The message.
        target: MessageId,
        /// Its content hash (dedup bookkeeping).
        sha256: Sha256,
        /// The mailboxes added.
        mailboxes: Vec<String>,
        /// The link record itself.
        via: MessageId,
    },
}

impl Derived {
    /// The catalog change.
    pub(crate) fn to_applied(&self) -> Applied {
        match self {
            Derived::Message(doc) => Applied::Message(Arc::clone(doc)),
            Derived::Link {
                target,
                mailboxes,
                via,
                ..
            } => Applied::Link {
                target: *target,
                mailboxes: mailboxes.clone(),
                via: *via,
            },
        }
    }
}

/// The volumes and the views derived from them.
#[derive(Clone)]
pub(crate) struct DerivedViews {
    pub(crate) volumes: Arc<VolumeSet>,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) index: Arc<IndexSet>,
    /// Attachment extraction bounds; `None` when indexing is deferred.
    pub(crate) extract: Option<ExtractLimits>,
}

impl DerivedViews {
    /// Whether the index is left behind (`--defer-index`).
    pub(crate) fn index_deferred(&self) -> bool {
        self.extract.is_none()
    }

    /// Derives the changes of records `from..=to` of a volume, reading and parsing
    /// message records in parallel. Blocking.
    pub(crate) fn derive_range(
        &self,
        volume: &Volume,
        year: i32,
        from: u64,
        to: u64,
    ) -> Result<Vec<(u64, Derived)>> {
        let seqs: Vec<u64> = (from..=to).collect();
        let derived: Vec<Result<Option<(u64, Derived)>>> = seqs
            .par_iter()
            .map(|&seq| {
                Ok(match volume.kind(seq)? {
                    RecordKind::Message => {
                        match self.read_message_doc(volume, MessageId::new(year, seq)) {
                            Ok(doc) => Some((seq, Derived::Message(Arc::new(doc)))),
                            // Disposed of: its content is gone, and with it every
                            // derived row (the disposition removed them; a rebuild
                            // does not bring them back).
                            Err(crate::error::IngestError::Volume(
                                coffer_volume::Error::Disposed { .. },
                            )) => None,
                            Err(e) => return Err(e),
                        }
                    }
                    RecordKind::Link => {
                        let (_, meta) = volume.read_meta(seq)?;
                        match LinkMeta::from_bytes(&meta) {
                            Ok(link) if self.is_disposed(link.target)? => None,
                            Ok(link) => Some((
                                seq,
                                Derived::Link {
                                    target: link.target,
                                    sha256: link.sha256,
                                    mailboxes: link.mailboxes,
                                    via: MessageId::new(year, seq),
                                },
                            )),
                            Err(e) => {
                                tracing::warn!(year, seq, error = %e, "unreadable link metadata; skipped");
                                None
                            }
                        }
                    }
                    _ => None,
                })
            })
            .collect();
        let mut out = Vec::with_capacity(derived.len());
        for d in derived {
            if let Some(x) = d? {
                out.push(x);
            }
        }
        Ok(out)
    }

    /// The index document of message record `id` of `volume`, derived from the record
    /// alone (its mailboxes are those the record's metadata names). Blocking.
    pub(crate) fn read_message_doc(&self, volume: &Volume, id: MessageId) -> Result<MessageDoc> {
        let record = volume.read(id.seq)?;
        Ok(record_doc(&record, id, self.extract.as_ref()))
    }

    /// Whether message `id` was disposed of (its data key destroyed). Blocking.
    pub(crate) fn is_disposed(&self, id: MessageId) -> Result<bool> {
        Ok(match self.volumes.get(id.year)? {
            Some(volume) if id.seq >= 1 && id.seq <= volume.last_seq() => {
                volume.disposed(id.seq)?.is_some()
            }
            // No volume for its year: deleted whole once every message in it was
            // disposed of (`coffer volume delete`).
            None => true,
            _ => false,
        })
    }

    /// Whether record `seq` of `year` has no derived rows (checkpoints, seals): the
    /// high-water marks move past it without work. Blocking (reads a record header).
    pub(crate) fn is_underived(&self, year: i32, seq: u64) -> bool {
        self.volumes
            .get(year)
            .ok()
            .flatten()
            .and_then(|v| v.kind(seq).ok())
            .is_some_and(|k| !matches!(k, RecordKind::Message | RecordKind::Link))
    }

    /// Re-derives messages from their volume records and replaces their index
    /// documents, with the mailboxes the catalog now has (used when link records add
    /// mailboxes). Records are read and parsed in parallel and the mailboxes come from
    /// one catalog query per few ids: done one by one, 50,000 journal copies took a
    /// minute to apply.
    pub(crate) async fn reindex_messages(&self, targets: &[MessageId]) -> Result<()> {
        let mut targets = targets.to_vec();
        targets.sort();
        targets.dedup();
        if targets.is_empty() {
            return Ok(());
        }
        let mailboxes = self.catalog.mailboxes_of_many(&targets).await?;
        let views = self.clone();
        tokio::task::spawn_blocking(move || views.replace_documents(&targets, &mailboxes)).await?
    }

    /// The blocking part of [`DerivedViews::reindex_messages`].
    fn replace_documents(
        &self,
        targets: &[MessageId],
        mailboxes: &HashMap<MessageId, Vec<String>>,
    ) -> Result<()> {
        let docs: Vec<Result<Option<MessageDoc>>> = targets
            .par_iter()
            .map(|&id| {
                let Some(volume) = self.volumes.get(id.year)? else {
                    return Ok(None);
                };
                let mut doc = match self.read_message_doc(&volume, id) {
                    Ok(doc) => doc,
                    Err(crate::error::IngestError::Volume(coffer_volume::Error::Disposed {
                        ..
                    })) => return Ok(None),
                    Err(e) => return Err(e),
                };
                doc.mailboxes = mailboxes.get(&id).cloned().unwrap_or_default();
                Ok(Some(doc))
            })
            .collect();
        for doc in docs {
            if let Some(doc) = doc? {
                self.index.replace(&doc)?;
            }
        }
        Ok(())
    }

    /// Commits the index of `year` with its high-water mark, on the blocking pool.
    pub(crate) async fn commit_index(&self, year: i32, high_water: u64) -> Result<()> {
        let index = Arc::clone(&self.index);
        tokio::task::spawn_blocking(move || index.commit(year, high_water)).await??;
        Ok(())
    }
}
