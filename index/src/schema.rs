//! The tantivy schema of a yearly index, and how a [`MessageDoc`] becomes an index
//! document. Every yearly index has exactly this schema; an index on disk with any other
//! schema is reported as needing a rebuild.
//!
//! Stored fields are only what a search hit shows (ids, dates, display addresses,
//! subject, mailboxes, attachment count) plus short previews of the body
//! ([`BODY_PREVIEW_BYTES`]) and of attachment text ([`ATTACHMENT_PREVIEW_BYTES`]) and
//! the body's length; the full text is indexed, not stored: the volume holds the
//! message, and a snippet whose words lie beyond the preview is made from the body read
//! back from it (see `hit_text`). Until issue 24 the index stored 32 KB of body and
//! 16 KB of attachment text per message, half the index's bytes (8.0 of 16.9 MB on the
//! SpamAssassin corpus) and a second copy of most mail.

use coffer_model::{Address, MessageDoc, MessageFlags};
use tantivy::TantivyDocument;
use tantivy::schema::{
    Field, INDEXED, IndexRecordOption, NumericOptions, STORED, Schema, TextFieldIndexing,
    TextOptions,
};

use crate::analysis;

/// Stored prefix of the body: a plain snippet is at most
/// [`crate::snippet::SNIPPET_CHARS`] characters, and a match in the first few hundred
/// bytes needs no read-back. 768 rather than 512 (December 2026, release builds, same
/// session): on SpamAssassin `please` read back 3 bodies per page instead of 8 (0.18
/// against 0.73 ms; 0.12 before issue 24) for an index of 0.346 × the raw mail instead of
/// 0.33 ×; 1 KiB would have taken it to 0.358–0.361 ×, past issue 24's 0.35 ×, and
/// neither a higher zstd level (19) nor 8 KiB store blocks bring 1 KiB within it
/// (0.353–0.358 ×; README, "Search latency with snippets read back"). Previews are per
/// document: an index holding shorter ones needs no rebuild.
pub const BODY_PREVIEW_BYTES: usize = 768;
/// Stored prefix of the attachment text (all attachments together): attachment text is
/// not read back for snippets (that would mean extracting the attachment again), so a
/// match past it shows a plain snippet.
pub const ATTACHMENT_PREVIEW_BYTES: usize = 2 * 1024;
/// Most display recipients stored for a hit's `to` list.
pub const MAX_STORED_RECIPIENTS: usize = 50;

/// Field names, shared by the schema and fast-field lookups.
pub(crate) mod names {
    pub(crate) const SEQ: &str = "seq";
    pub(crate) const DATE: &str = "date";
    pub(crate) const RECEIVED: &str = "received";
    pub(crate) const SIZE: &str = "size";
}

/// Handles of every field of the schema.
#[derive(Debug, Clone)]
pub(crate) struct Fields {
    pub(crate) seq: Field,
    pub(crate) from: Field,
    pub(crate) to: Field,
    pub(crate) cc: Field,
    pub(crate) bcc: Field,
    pub(crate) envelope: Field,
    pub(crate) participant: Field,
    pub(crate) subject: Field,
    pub(crate) body: Field,
    pub(crate) attachment: Field,
    pub(crate) filename: Field,
    pub(crate) message_id: Field,
    pub(crate) mailbox: Field,
    pub(crate) mailbox_domain: Field,
    pub(crate) flag: Field,
    pub(crate) received: Field,
    pub(crate) date: Field,
    pub(crate) header_date: Field,
    pub(crate) size: Field,
    pub(crate) has_attachment: Field,
    pub(crate) attachment_count: Field,
    pub(crate) from_display: Field,
    pub(crate) to_display: Field,
    pub(crate) body_preview: Field,
    pub(crate) body_bytes: Field,
    pub(crate) attachment_preview: Field,
}

/// The schema and its field handles.
#[derive(Debug, Clone)]
pub(crate) struct IndexSchema {
    pub(crate) schema: Schema,
    pub(crate) fields: Fields,
}

fn indexed_text(analyzer: &str, record: IndexRecordOption, fieldnorms: bool) -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(analyzer)
            .set_index_option(record)
            .set_fieldnorms(fieldnorms),
    )
}

impl IndexSchema {
    pub(crate) fn build() -> IndexSchema {
        let mut builder = Schema::builder();
        let positions = IndexRecordOption::WithFreqsAndPositions;
        let address = || indexed_text(analysis::ADDRESS, positions, true);
        let text = || indexed_text(analysis::TEXT, positions, true);
        let text_grams = || indexed_text(analysis::TEXT_GRAMS, positions, true);
        let raw = || indexed_text(analysis::RAW, IndexRecordOption::Basic, false);
        // Unix seconds as plain i64 fast fields: tantivy's DateTime counts nanoseconds
        // and cannot hold the absurd dates (year 9999) that real headers carry.
        let seconds = || NumericOptions::default().set_fast();

        let seq = builder.add_u64_field(
            names::SEQ,
            NumericOptions::default()
                .set_indexed()
                .set_fast()
                .set_stored(),
        );
        let from = builder.add_text_field("from", address());
        let to = builder.add_text_field("to", address());
        let cc = builder.add_text_field("cc", address());
        let bcc = builder.add_text_field("bcc", address());
        let envelope = builder.add_text_field("envelope", address());
        let participant = builder.add_text_field("participant", address());
        let subject = builder.add_text_field("subject", text_grams().set_stored());
        let body = builder.add_text_field("body", text_grams());
        let attachment = builder.add_text_field("attachment", text());
        let filename = builder.add_text_field("filename", text());
        let message_id = builder.add_text_field("message_id", raw());
        let mailbox = builder.add_text_field("mailbox", raw().set_stored());
        let mailbox_domain = builder.add_text_field("mailbox_domain", raw());
        let flag = builder.add_text_field("flag", raw());
        let received = builder.add_i64_field(names::RECEIVED, seconds().set_stored());
        let date = builder.add_i64_field(names::DATE, seconds());
        let header_date = builder.add_i64_field("header_date", STORED);
        // Stored too: a hit reads its body back from the volume only for messages up to
        // `MAX_READ_BACK_BYTES`.
        let size = builder.add_u64_field(
            names::SIZE,
            NumericOptions::default().set_fast().set_stored(),
        );
        let has_attachment = builder.add_bool_field("has_attachment", INDEXED);
        let attachment_count = builder.add_u64_field("attachment_count", STORED);
        let from_display = builder.add_text_field("from_display", STORED);
        let to_display = builder.add_text_field("to_display", STORED);
        let body_preview = builder.add_text_field("body_preview", STORED);
        let body_bytes = builder.add_u64_field("body_bytes", STORED);
        let attachment_preview = builder.add_text_field("attachment_preview", STORED);
        IndexSchema {
            schema: builder.build(),
            fields: Fields {
                seq,
                from,
                to,
                cc,
                bcc,
                envelope,
                participant,
                subject,
                body,
                attachment,
                filename,
                message_id,
                mailbox,
                mailbox_domain,
                flag,
                received,
                date,
                header_date,
                size,
                has_attachment,
                attachment_count,
                from_display,
                to_display,
                body_preview,
                body_bytes,
                attachment_preview,
            },
        }
    }

    /// The index document for `doc`.
    pub(crate) fn document(&self, doc: &MessageDoc) -> TantivyDocument {
        let f = &self.fields;
        let mut out = TantivyDocument::new();
        out.add_u64(f.seq, doc.id.seq);

        add_addresses(&mut out, f.from, &doc.from);
        add_addresses(&mut out, f.to, &doc.to);
        add_addresses(&mut out, f.cc, &doc.cc);
        add_addresses(&mut out, f.bcc, &doc.bcc);
        let in_to_or_cc = |email: &str| {
            doc.to
                .iter()
                .chain(&doc.cc)
                .any(|a| a.email.trim().eq_ignore_ascii_case(email.trim()))
        };
        for recipient in &doc.envelope_recipients {
            out.add_text(f.envelope, recipient);
            if !in_to_or_cc(recipient) {
                out.add_text(f.bcc, recipient);
            }
        }
        // `participant` holds only the participants that no other address field holds
        // (Sender, Delivered-To): queries for a participant (and plain words) search it
        // together with from, to, cc, bcc and envelope. Indexing every address a second
        // time here doubled each message's address terms; dropping that (in the same
        // commit as in-memory office XML) took a 1,500-message import from 10.245G to
        // 9.983G instructions (callgrind).
        add_addresses(&mut out, f.participant, &doc.sender);
        for delivered_to in &doc.delivered_to {
            out.add_text(f.participant, delivered_to);
        }

        if let Some(subject) = &doc.subject {
            out.add_text(f.subject, subject);
        }
        out.add_text(f.body, &doc.body);
        let mut excerpt = String::new();
        for attachment in &doc.attachments {
            if let Some(name) = &attachment.filename {
                out.add_text(f.filename, name);
            }
            if let Some(text) = &attachment.text {
                out.add_text(f.attachment, text);
                if excerpt.len() < ATTACHMENT_PREVIEW_BYTES {
                    if !excerpt.is_empty() {
                        excerpt.push_str("\n…\n");
                    }
                    excerpt.push_str(truncate(text, ATTACHMENT_PREVIEW_BYTES - excerpt.len()));
                }
            }
        }
        if let Some(message_id) = &doc.message_id {
            out.add_text(f.message_id, message_id_term(message_id));
        }
        for mailbox in &doc.mailboxes {
            let mailbox = analysis::raw_term(mailbox);
            if let Some((_, domain)) = mailbox.rsplit_once('@') {
                out.add_text(f.mailbox_domain, domain);
            }
            out.add_text(f.mailbox, &mailbox);
        }
        for (flag, name) in MessageFlags::NAMES {
            if doc.flags.contains(flag) {
                out.add_text(f.flag, name);
            }
        }
        out.add_i64(f.received, doc.received);
        out.add_i64(f.date, doc.date.unwrap_or(doc.received));
        if let Some(date) = doc.date {
            out.add_i64(f.header_date, date);
        }
        out.add_u64(f.size, doc.size);
        out.add_bool(f.has_attachment, !doc.attachments.is_empty());
        out.add_u64(f.attachment_count, doc.attachments.len() as u64);
        out.add_text(f.from_display, display_list(&doc.from));
        for recipient in doc.to.iter().take(MAX_STORED_RECIPIENTS) {
            out.add_text(f.to_display, display(recipient));
        }
        out.add_text(f.body_preview, truncate(&doc.body, BODY_PREVIEW_BYTES));
        out.add_u64(f.body_bytes, doc.body.len() as u64);
        if !excerpt.is_empty() {
            out.add_text(f.attachment_preview, excerpt);
        }
        out
    }
}

/// Each address as its own value: the display name (with `@` neutralized so a name
/// cannot pose as an address) and the address.
fn add_addresses(out: &mut TantivyDocument, field: Field, addresses: &[Address]) {
    for address in addresses {
        if let Some(name) = address.name.as_deref().filter(|n| !n.trim().is_empty()) {
            out.add_text(field, name.replace('@', " "));
        }
        if !address.email.trim().is_empty() {
            out.add_text(field, address.email.trim());
        }
    }
}

/// `Name <address>`, or the address alone.
fn display(address: &Address) -> String {
    match address
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        Some(name) => format!("{name} <{}>", address.email.trim()),
        None => address.email.trim().to_string(),
    }
}

fn display_list(addresses: &[Address]) -> String {
    addresses.iter().map(display).collect::<Vec<_>>().join(", ")
}

/// A Message-ID as indexed and as queried: without angle brackets, lowercased.
pub(crate) fn message_id_term(value: &str) -> String {
    let trimmed = value.trim();
    let inner = trimmed
        .strip_prefix('<')
        .map(|rest| rest.strip_suffix('>').unwrap_or(rest))
        .unwrap_or(trimmed);
    analysis::raw_term(inner)
}

/// The longest prefix of `text` of at most `max` bytes that ends on a char boundary.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }

    #[test]
    fn message_ids_lose_brackets_and_case() {
        assert_eq!(
            message_id_term(" <ABC.123@Mail.Example> "),
            "abc.123@mail.example"
        );
        assert_eq!(message_id_term("abc@x"), "abc@x");
    }
}
