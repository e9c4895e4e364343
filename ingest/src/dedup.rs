//! Deduplication state that the catalog cannot know yet: messages whose records are
//! written (and maybe acknowledged) but not yet applied to the catalog.
//!
//! A message is identified by the SHA-256 of its bytes and, for journaled mail, also by
//! its identity (a journal copy with other trace headers). The writer looks here before
//! the catalog, so two concurrent copies of the same bytes are never both stored; the
//! applier forgets an entry once the catalog holds the record that last changed it.
//!
//! It also holds the **disposal fence**: the ids of messages a disposition run is about
//! to shred (see [`Writer::fence_disposal`](crate::writer::Writer::fence_disposal)). A
//! copy of one of them is never deduplicated against it — no link, no "duplicate" —
//! but stored in full with its own data key, so nothing acknowledged from then on
//! points at content whose key the run destroys.

use std::collections::{BTreeSet, HashMap, HashSet};

use coffer_model::{MessageId, Sha256};

/// A written but not yet applied message.
#[derive(Debug, Clone)]
pub(crate) struct PendingMessage {
    /// Its id.
    pub(crate) id: MessageId,
    /// Its mailboxes, links written so far included.
    pub(crate) mailboxes: BTreeSet<String>,
    /// The last record (message or link) that changed it, not yet applied.
    pub(crate) record: (i32, u64),
    /// Its identity, when registered in `by_identity`.
    pub(crate) identity: Option<Sha256>,
}

/// Written, not yet applied messages by content hash and by identity.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    by_sha: HashMap<Sha256, PendingMessage>,
    /// Identity → SHA-256 of the pending message that has it.
    by_identity: HashMap<Sha256, Sha256>,
    /// Messages being disposed of: never a dedup target.
    disposing: HashSet<MessageId>,
}

impl Pending {
    /// The pending message with these bytes.
    pub(crate) fn by_sha(&self, sha: &Sha256) -> Option<&PendingMessage> {
        self.by_sha.get(sha)
    }

    /// The pending message with this identity.
    pub(crate) fn by_identity(&self, identity: &Sha256) -> Option<&PendingMessage> {
        self.by_identity
            .get(identity)
            .and_then(|sha| self.by_sha.get(sha))
    }

    /// Whether message `id` is being disposed of (fenced: never a dedup target).
    pub(crate) fn is_disposing(&self, id: MessageId) -> bool {
        self.disposing.contains(&id)
    }

    /// Fences `ids`: from now on no copy is deduplicated against them.
    pub(crate) fn fence(&mut self, ids: &[MessageId]) {
        self.disposing.extend(ids.iter().copied());
    }

    /// Lifts the fence of `ids` (their disposition finished: the catalog no longer
    /// knows them, or a run decided to keep them).
    pub(crate) fn lift(&mut self, ids: &[MessageId]) {
        for id in ids {
            self.disposing.remove(id);
        }
    }

    /// Records a written message or link.
    pub(crate) fn insert(&mut self, sha: Sha256, message: PendingMessage) {
        if let Some(identity) = message.identity {
            self.by_identity.insert(identity, sha);
        }
        self.by_sha.insert(sha, message);
    }

    /// Forgets `sha` if `record` is still the last record that changed it (the catalog
    /// now holds it); a later link keeps the entry until that link is applied too.
    pub(crate) fn applied(&mut self, sha: &Sha256, record: (i32, u64)) {
        if self.by_sha.get(sha).is_none_or(|p| p.record != record) {
            return;
        }
        let identity = self.by_sha.remove(sha).and_then(|p| p.identity);
        if let Some(identity) = identity.filter(|i| self.by_identity.get(i) == Some(sha)) {
            self.by_identity.remove(&identity);
        }
    }
}
