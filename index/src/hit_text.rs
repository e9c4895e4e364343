//! Where a hit's snippet text comes from when the stored preview is not enough.
//!
//! The index does not keep a second copy of the mail (issue 24): it stores, per
//! message, only what a hit shows plus a short preview of the body
//! ([`crate::BODY_PREVIEW_BYTES`]) and of the attachment text
//! ([`crate::ATTACHMENT_PREVIEW_BYTES`]). When the query's words are in neither
//! preview, the body text of the hits *shown* is read back from the volume through a
//! [`HitText`] source, which whoever owns the volumes installs with
//! [`crate::IndexSet::set_hit_text`] (the index never depends on the volume crate).
//! Without a source, or when it has nothing (a disposed message, an offline volume), the
//! hit keeps a plain snippet of the preview. A body is read back only when its postings
//! hold one of the query's words (or a word starting with one of its prefixes): a hit
//! that matched in attachment text, the subject or an address is never read back for
//! nothing.

use coffer_model::MessageId;

/// Largest message (raw bytes) whose body is read back for a snippet: reading a
/// message back parses all of it, attachments included, and a page of large messages
/// must not make a search slow. Larger messages show the highlighted preview or a plain
/// one.
pub const MAX_READ_BACK_BYTES: u64 = 256 * 1024;

/// The body text of an archived message: as it was indexed, or text holding only words
/// the index holds for it (Coffer's source reduces an HTML body by a tag stripper
/// instead of rendering it again).
pub trait HitText: Send + Sync {
    /// The body text of message `id`, or `None` when it cannot be read (disposed,
    /// offline, damaged). Blocking; called only for the hits of the requested page.
    fn body(&self, id: MessageId) -> Option<String>;
}
