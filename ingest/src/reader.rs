//! Reading archived messages back: a message record by id, and the message with given
//! original bytes (by SHA-256), including one acknowledged moments ago whose record is
//! durable but not yet applied to the catalog.
//!
//! Read-only: a [`Reader`] needs no lock and works beside a running server (the command
//! line's `coffer show`); the HTTP layer reads records of its own archive the same way.

use std::str::FromStr;
use std::sync::Arc;

use coffer_catalog::Catalog;
use coffer_model::{MessageId, Sha256};
use coffer_volume::{Record, RecordKind, VolumeSet};

use crate::data_dir::DataDir;
use crate::error::{IngestError, Result};
use crate::views::MAIL;

/// Receive years whose volumes are searched for records not yet in the catalog: the
/// newest two (a message acknowledged moments ago was received this year, or last year
/// just after New Year). Older volumes are complete in the catalog once a server has
/// started, and opening one reads every record header.
const UNAPPLIED_YEARS: usize = 2;

/// The message record `id` of `volumes` (its content verified against its SHA-256 on
/// read). Blocking.
pub fn read_message(volumes: &VolumeSet, id: MessageId) -> Result<Record> {
    read_message_with(volumes, id, coffer_volume::Volume::read)
}

/// [`read_message`] for a search snippet: encrypted content is taken as authenticated by
/// its tag, without hashing it again ([`coffer_volume::Volume::read_authenticated`]).
pub(crate) fn read_message_for_snippet(volumes: &VolumeSet, id: MessageId) -> Result<Record> {
    read_message_with(volumes, id, coffer_volume::Volume::read_authenticated)
}

fn read_message_with(
    volumes: &VolumeSet,
    id: MessageId,
    read: impl FnOnce(&coffer_volume::Volume, u64) -> coffer_volume::Result<Record>,
) -> Result<Record> {
    let volume = volumes
        .get(id.year)?
        .ok_or_else(|| IngestError::NoSuchMessage(format!("no volume for year {}", id.year)))?;
    let record = read(&volume, id.seq)?;
    if record.header.kind != RecordKind::Message {
        return Err(IngestError::NotAMessage {
            id,
            kind: record.header.kind.name(),
        });
    }
    Ok(record)
}

/// Read-only access to the messages of a data directory.
#[derive(Debug)]
pub struct Reader {
    catalog: Arc<Catalog>,
    volumes: Arc<VolumeSet>,
}

impl Reader {
    /// Opens the catalog (embedded, or at `catalog_url`), the volumes of `data_dir` and
    /// its data-key store (KEK at `kek_file`, default `keys/kek`) for reading.
    pub async fn open(
        data_dir: &DataDir,
        catalog_url: Option<&str>,
        kek_file: Option<&std::path::Path>,
    ) -> Result<Self> {
        let keys: Arc<dyn coffer_volume::ContentKeys> =
            Arc::new(data_dir.read_key_store(kek_file)?);
        Ok(Self {
            catalog: Arc::new(data_dir.open_catalog(catalog_url).await?),
            volumes: Arc::new(VolumeSet::reader(&data_dir.volumes(), MAIL).with_content_keys(keys)),
        })
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// A message id (`2026-42`) or the SHA-256 (64 hex digits) of original bytes, as the
    /// id of an archived message.
    pub async fn resolve(&self, id_or_sha256: &str) -> Result<MessageId> {
        if let Ok(id) = MessageId::from_str(id_or_sha256) {
            return Ok(id);
        }
        let sha = Sha256::from_str(id_or_sha256).map_err(|_| {
            IngestError::NoSuchMessage(format!(
                "{id_or_sha256:?} is neither a message id (YEAR-SEQUENCE) nor a SHA-256 hex digest"
            ))
        })?;
        self.message_with_sha256(sha).await?.ok_or_else(|| {
            IngestError::NoSuchMessage(format!("no archived message has SHA-256 {sha}"))
        })
    }

    /// The message whose original bytes have SHA-256 `sha`: the catalog's, or else one
    /// whose record is durable in a volume but not yet applied to the catalog (past the
    /// catalog's high-water mark for that year). A server acknowledges a message once its
    /// record is fsynced and applies it to the catalog moments later, so without the
    /// second look a message acknowledged a moment ago would be "not archived".
    pub async fn message_with_sha256(&self, sha: Sha256) -> Result<Option<MessageId>> {
        // The high-water marks are read before the catalog is asked: a record applied in
        // between is then in the catalog, or at or past the mark read, never in neither.
        let volumes = Arc::clone(&self.volumes);
        let years = tokio::task::spawn_blocking(move || volumes.years()).await??;
        let mut marks = Vec::new();
        for year in years.into_iter().rev().take(UNAPPLIED_YEARS) {
            marks.push((year, self.catalog.high_water(MAIL, year).await?));
        }
        if let Some(row) = self.catalog.message_by_sha256(&sha).await? {
            return Ok(Some(row.id));
        }
        for (year, applied) in marks {
            let volumes = Arc::clone(&self.volumes);
            let found = tokio::task::spawn_blocking(move || -> Result<Option<u64>> {
                let Some(volume) = volumes.get(year)? else {
                    return Ok(None);
                };
                for seq in applied + 1..=volume.last_seq() {
                    if volume.kind(seq)? == RecordKind::Message
                        && volume.read_meta(seq)?.0.content_sha256 == sha.0
                    {
                        return Ok(Some(seq));
                    }
                }
                Ok(None)
            })
            .await??;
            if let Some(seq) = found {
                return Ok(Some(MessageId { year, seq }));
            }
        }
        Ok(None)
    }

    /// The message record `id`.
    pub async fn record(&self, id: MessageId) -> Result<Record> {
        let volumes = Arc::clone(&self.volumes);
        tokio::task::spawn_blocking(move || read_message(&volumes, id)).await?
    }
}
