//! What a volume's records name, as deleting a whole disposed volume must know it
//! (issue 26; `coffer_volume::disposal`): the mailboxes in its custody metadata (a
//! legal hold on one of them keeps the volume), and its link records whose target is
//! a message that is not disposed of (deleting the volume would drop mailboxes of a
//! live message). Read from the record metadata, which disposition leaves in place.

use std::collections::BTreeSet;

use coffer_model::MessageId;
use coffer_volume::{RecordKind, VolumeSet};

use crate::error::{IngestError, Result};
use crate::meta::{LinkMeta, MessageMeta};

/// What the records of one volume name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeContents {
    /// Every mailbox its message and link records name (lowercase).
    pub mailboxes: BTreeSet<String>,
    /// Link records whose target is a message not disposed of: (the link, its target).
    pub live_links: Vec<(MessageId, MessageId)>,
}

/// Reads [`VolumeContents`] of `year`'s volume (online) from its record metadata.
/// `volumes` must reach the key store (to tell disposed targets). Blocking.
pub fn volume_contents(volumes: &VolumeSet, year: i32) -> Result<VolumeContents> {
    let volume = volumes
        .get(year)?
        .ok_or_else(|| IngestError::NoSuchMessage(format!("no volume for {year}")))?;
    let mut out = VolumeContents::default();
    for seq in 1..=volume.last_seq() {
        let kind = volume.kind(seq)?;
        if !matches!(kind, RecordKind::Message | RecordKind::Link) {
            continue;
        }
        let (_, meta) = volume.read_meta(seq)?;
        if kind == RecordKind::Message {
            let meta = MessageMeta::from_bytes(&meta)?;
            out.mailboxes
                .extend(meta.mailboxes.iter().map(|m| m.to_ascii_lowercase()));
            continue;
        }
        let link = LinkMeta::from_bytes(&meta)?;
        out.mailboxes
            .extend(link.mailboxes.iter().map(|m| m.to_ascii_lowercase()));
        let target_disposed = match volumes.get(link.target.year)? {
            Some(v) => v.disposed(link.target.seq)?.is_some(),
            // Its volume was deleted already: every message of it was disposed of.
            None => true,
        };
        if !target_disposed {
            out.live_links
                .push((MessageId::new(year, seq), link.target));
        }
    }
    Ok(out)
}
