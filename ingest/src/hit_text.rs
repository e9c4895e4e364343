//! A search hit's body text, read back from its volume record: the index keeps only a
//! short preview of each message (issue 24), and a snippet whose words lie past it is
//! made from this text. The text is built by [`snippet_text`], which assembles the body
//! as [`build_doc`] does when it indexes the message but skips the rest of the document,
//! so the words found are where the index found them: the same text for plain-text
//! bodies, and for HTML bodies the tag stripper's text, every word of which the index
//! holds (tested over every fixture, the registry samples and by property test).
//!
//! Reading back decrypts and decompresses one record (encrypted content authenticated by
//! its tag, other content checked against its SHA-256);
//! it happens only for the hits of the page shown, and only for messages up to
//! [`coffer_index::MAX_READ_BACK_BYTES`]. A disposed message, an offline volume or a
//! damaged record has no text: the hit shows its preview. Nothing read here is logged.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use coffer_extract::ExtractLimits;
use coffer_index::HitText;
use coffer_model::{MessageDoc, MessageId, Sha256};
use coffer_volume::{ContentKeys, Record, VolumeSet};

use crate::data_dir::DataDir;
use crate::meta::MessageMeta;
use crate::parse::{build_doc, snippet_text};
use crate::reader::read_message_for_snippet;
use crate::views::MAIL;

/// The index document of a message record, derived from the record alone (its
/// mailboxes are those the record's metadata names); attachment text only within
/// `extract`.
pub(crate) fn record_doc(
    record: &Record,
    id: MessageId,
    extract: Option<&ExtractLimits>,
) -> MessageDoc {
    let meta = MessageMeta::from_bytes(&record.meta).unwrap_or_else(|e| {
        tracing::warn!(year = id.year, seq = id.seq, error = %e, "unreadable message metadata; indexing without mailboxes");
        MessageMeta::default()
    });
    let mut doc = build_doc(
        &record.content,
        Sha256(record.header.content_sha256),
        record.header.received_us.div_euclid(1_000_000),
        &meta,
        extract,
    );
    doc.id = id;
    doc
}

/// Where the volumes come from: those of a running archive, or a data directory opened
/// on first use (a `coffer search` that needs no read-back never opens the key store).
enum Volumes {
    Open(Arc<VolumeSet>),
    Lazy(Box<LazyVolumes>),
}

/// A data directory's volumes, opened on first use.
struct LazyVolumes {
    data_dir: DataDir,
    kek_file: Option<PathBuf>,
    opened: OnceLock<Option<VolumeSet>>,
}

/// [`HitText`] over the mail volumes of a data directory.
pub struct VolumeHitText {
    volumes: Volumes,
}

impl VolumeHitText {
    /// Over the volumes an archive already has open (their content keys installed).
    pub fn new(volumes: Arc<VolumeSet>) -> Self {
        Self {
            volumes: Volumes::Open(volumes),
        }
    }

    /// Over the volumes of `data_dir`, opened read-only with its data-key store (KEK at
    /// `kek_file`, default `keys/kek`) when a body is first needed.
    pub fn reader(data_dir: DataDir, kek_file: Option<PathBuf>) -> Self {
        Self {
            volumes: Volumes::Lazy(Box::new(LazyVolumes {
                data_dir,
                kek_file,
                opened: OnceLock::new(),
            })),
        }
    }

    fn volumes(&self) -> Option<&VolumeSet> {
        match &self.volumes {
            Volumes::Open(volumes) => Some(volumes),
            Volumes::Lazy(lazy) => lazy
                .opened
                .get_or_init(|| {
                    let keys = lazy
                        .data_dir
                        .read_key_store(lazy.kek_file.as_deref())
                        .map_err(|e| tracing::warn!(error = %e, "data-key store unreadable; snippets from previews only"))
                        .ok()?;
                    Some(
                        VolumeSet::reader(&lazy.data_dir.volumes(), MAIL)
                            .with_content_keys(Arc::new(keys) as Arc<dyn ContentKeys>),
                    )
                })
                .as_ref(),
        }
    }
}

impl HitText for VolumeHitText {
    fn body(&self, id: MessageId) -> Option<String> {
        let record = read_message_for_snippet(self.volumes()?, id).ok()?;
        Some(snippet_text(&record.content))
    }
}
