//! From raw bytes to a [`MessageDoc`]: parsing with mail-parser, participants, the
//! message date, body text, attachments and their extracted text, flags.
//!
//! This is the one function that turns a volume record into what the catalog and the
//! index store, used alike when a message arrives and when `recatalog`/`reindex`
//! rebuild from the volumes, so the derived views never depend on how a message came in.
//! It is pure apart from attachment extraction's time bound, and never panics: input
//! that mail-parser cannot make sense of yields a doc flagged `malformed`.

use coffer_index::extract::{ExtractLimits, extract_text, html_to_text};
use coffer_model::{Address, AttachmentDoc, MessageDoc, MessageFlags, Sha256};
use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders, PartType};

use crate::identity::identity;
use crate::journal::{JournalOutcome, unwrap_journal_report};
use crate::meta::MessageMeta;

/// Most characters of body text kept for the index.
pub const MAX_BODY_CHARS: usize = 2_000_000;
/// Earliest plausible message date (1980-01-01): anything earlier is "absurd".
const EARLIEST_PLAUSIBLE: i64 = 315_532_800;
/// How far after receipt a Date header may lie before it is "absurd" (clock skew).
const FUTURE_TOLERANCE_SECS: i64 = 2 * 86_400;

/// Builds the document for one message. `received` is the receive time (Unix seconds);
/// `sha256` the digest of `raw`. The id is left at its default for the caller to set.
/// Attachment text is extracted within `limits`; `None` skips extraction (when the index
/// is deferred, nothing needs the text).
pub fn build_doc(
    raw: &[u8],
    sha256: Sha256,
    received: i64,
    meta: &MessageMeta,
    limits: Option<&ExtractLimits>,
) -> MessageDoc {
    let mut doc = MessageDoc {
        sha256,
        received,
        size: raw.len() as u64,
        mailboxes: meta.mailboxes.clone(),
        envelope_recipients: meta
            .envelope
            .as_ref()
            .map(|e| {
                e.rcpt_to
                    .iter()
                    .map(|r| normalize_address(r))
                    .filter(|r| !r.is_empty() && !meta.journal_addresses.contains(r))
                    .collect()
            })
            .unwrap_or_default(),
        ..MessageDoc::default()
    };
    // mail-parser drops a last header line that has no line ending; parse a copy that
    // ends with one (the stored bytes are never changed).
    let parse_input = &*with_final_newline(raw);
    match unwrap_journal_report(parse_input) {
        JournalOutcome::Unwrapped(report) => {
            // Search, views and exports present the original; the report's recipient
            // list (Bcc and distribution-list members included) is its envelope.
            doc.flags.insert(MessageFlags::JOURNAL_REPORT);
            for r in &report.recipients {
                for address in std::iter::once(&r.address)
                    .chain(&r.expanded_from)
                    .chain(&r.forwarded_from)
                {
                    let address = normalize_address(address);
                    if address.contains('@') && !doc.envelope_recipients.contains(&address) {
                        doc.envelope_recipients.push(address);
                    }
                }
            }
            let original = with_final_newline(&report.original);
            doc.identity = identity(&original);
            parse_into(&mut doc, &original, received, limits);
            if let Some(sender) = report
                .sender
                .as_deref()
                .map(normalize_address)
                .filter(|s| s.contains('@'))
                && !doc
                    .from
                    .iter()
                    .chain(&doc.sender)
                    .any(|a| a.email == sender)
            {
                doc.sender.push(Address {
                    name: None,
                    email: sender,
                });
            }
        }
        JournalOutcome::Malformed { .. } => {
            doc.flags.insert(MessageFlags::JOURNAL_MALFORMED);
            doc.identity = identity(parse_input);
            parse_into(&mut doc, parse_input, received, limits);
        }
        JournalOutcome::NotJournal => {
            doc.identity = identity(parse_input);
            parse_into(&mut doc, parse_input, received, limits);
        }
    }
    doc
}

/// The bytes with a line ending at the end (mail-parser drops a last header line without
/// one); borrowed when they already end in one.
fn with_final_newline(raw: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if raw.ends_with(b"\n") {
        std::borrow::Cow::Borrowed(raw)
    } else {
        std::borrow::Cow::Owned([raw, b"\r\n"].concat())
    }
}

fn parse_into(doc: &mut MessageDoc, bytes: &[u8], received: i64, limits: Option<&ExtractLimits>) {
    let parsed = MessageParser::default().parse(bytes);
    let Some(message) = parsed.filter(|m| has_header_fields(m)) else {
        doc.flags.insert(MessageFlags::MALFORMED);
        doc.flags.insert(MessageFlags::DATE_UNRELIABLE);
        return;
    };
    fill_from_message(doc, &message, received, limits);
}

/// Whether mail-parser found at least one header field (otherwise the bytes are not a
/// message, however liberal the parser was).
fn has_header_fields(message: &Message<'_>) -> bool {
    !message.headers().is_empty()
}

fn fill_from_message(
    doc: &mut MessageDoc,
    message: &Message<'_>,
    received: i64,
    limits: Option<&ExtractLimits>,
) {
    doc.from = addresses(message.from());
    doc.sender = addresses(message.sender());
    doc.to = addresses(message.to());
    doc.cc = addresses(message.cc());
    doc.bcc = addresses(message.bcc());
    for name in ["Delivered-To", "X-Original-To"] {
        for value in message.header_values(name) {
            if let Some(text) = header_text(value) {
                let address = normalize_address(&text);
                if address.contains('@') && !doc.delivered_to.contains(&address) {
                    doc.delivered_to.push(address);
                }
            }
        }
    }
    doc.subject = message
        .subject()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    doc.message_id = message
        .message_id()
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty());
    doc.date = message_date(message, received, &mut doc.flags);

    let mut body = String::new();
    for part in message.text_bodies() {
        let text = match &part.body {
            PartType::Html(html) => html_to_text(html),
            PartType::Text(text) => text.to_string(),
            _ => continue,
        };
        append_bounded(&mut body, &text);
    }
    if body.is_empty() {
        for part in message.html_bodies() {
            if let PartType::Html(html) = &part.body {
                append_bounded(&mut body, &html_to_text(html));
            }
        }
    }
    doc.body = body;
    if message.parts.iter().any(|p| p.is_encoding_problem) {
        doc.flags.insert(MessageFlags::ENCODING_PROBLEM);
    }
    for part in message.attachments() {
        doc.attachments
            .push(attachment(part, limits, &mut doc.flags));
    }
}

fn attachment(
    part: &mail_parser::MessagePart<'_>,
    limits: Option<&ExtractLimits>,
    flags: &mut MessageFlags,
) -> AttachmentDoc {
    let content_type = part
        .content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_string(),
        })
        .unwrap_or_else(|| "application/octet-stream".to_string())
        .to_ascii_lowercase();
    let filename = part.attachment_name().map(str::to_string);
    let contents = part.contents();
    // Pass the declared charset on so text attachments decode correctly.
    let declared = part
        .content_type()
        .and_then(|ct| ct.attribute("charset"))
        .map(|cs| format!("{content_type}; charset={cs}"))
        .unwrap_or_else(|| content_type.clone());
    let Some(limits) = limits else {
        return AttachmentDoc {
            filename,
            content_type,
            size: contents.len() as u64,
            text: None,
        };
    };
    let text = match extract_text(&declared, filename.as_deref(), contents, limits) {
        Ok(Some(extracted)) => {
            if !extracted.is_complete() {
                flags.insert(MessageFlags::ATTACHMENT_TEXT_NOT_EXTRACTED);
            }
            Some(extracted.text).filter(|t| !t.is_empty())
        }
        Ok(None) => None,
        Err(error) => {
            tracing::debug!(bytes = contents.len(), code = ?error.code(), "attachment text not extracted");
            flags.insert(MessageFlags::ATTACHMENT_TEXT_NOT_EXTRACTED);
            None
        }
    };
    AttachmentDoc {
        filename,
        content_type,
        size: contents.len() as u64,
        text,
    }
}

/// The message's own date: the Date header when plausible, else the newest Received
/// date, else none (search then uses the receive time). Flags `DATE_UNRELIABLE` when the
/// header was missing or absurd.
fn message_date(message: &Message<'_>, received: i64, flags: &mut MessageFlags) -> Option<i64> {
    let plausible = |t: i64| (EARLIEST_PLAUSIBLE..=received + FUTURE_TOLERANCE_SECS).contains(&t);
    if let Some(date) = message.date().filter(|d| d.is_valid()) {
        let t = date.to_timestamp();
        if plausible(t) {
            return Some(t);
        }
    }
    flags.insert(MessageFlags::DATE_UNRELIABLE);
    message
        .received_all()
        .filter_map(|r| r.date())
        .map(|d| d.to_timestamp())
        .filter(|t| plausible(*t))
        .max()
}

fn addresses(value: Option<&mail_parser::Address<'_>>) -> Vec<Address> {
    let Some(value) = value else {
        return Vec::new();
    };
    value
        .iter()
        .filter_map(|a| {
            let email = normalize_address(a.address.as_deref()?);
            if email.is_empty() {
                return None;
            }
            let name = a
                .name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string);
            Some(Address { name, email })
        })
        .collect()
}

fn header_text(value: &HeaderValue<'_>) -> Option<String> {
    match value {
        HeaderValue::Text(t) => Some(t.to_string()),
        HeaderValue::Address(a) => a
            .first()
            .and_then(|a| a.address.as_deref())
            .map(str::to_string),
        HeaderValue::TextList(list) => list.first().map(|t| t.to_string()),
        _ => None,
    }
}

/// Lowercases and trims an address, removing angle brackets.
pub fn normalize_address(address: &str) -> String {
    address
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_lowercase()
}

fn append_bounded(body: &mut String, text: &str) {
    if body.len() >= MAX_BODY_CHARS {
        return;
    }
    if !body.is_empty() {
        body.push('\n');
    }
    let room = MAX_BODY_CHARS - body.len();
    if text.len() <= room {
        body.push_str(text);
    } else {
        let mut cut = room;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        body.push_str(&text[..cut]);
    }
}

/// The mailboxes of a message under a policy: every participant (From, Sender, To, Cc,
/// Bcc, Delivered-To, X-Original-To, envelope recipients) whose domain is a local
/// domain, or a fixed list (`import --mailbox`).
pub fn assign_mailboxes(doc: &MessageDoc, policy: &MailboxPolicy) -> Vec<String> {
    match policy {
        MailboxPolicy::Fixed(list) => {
            let mut out: Vec<String> = list.iter().map(|m| normalize_address(m)).collect();
            out.sort();
            out.dedup();
            out
        }
        MailboxPolicy::LocalDomains(domains) => {
            let mut out: Vec<String> = doc
                .participants()
                .into_iter()
                .filter(|a| {
                    a.rsplit_once('@')
                        .is_some_and(|(_, d)| domains.iter().any(|l| l.eq_ignore_ascii_case(d)))
                })
                .collect();
            out.sort();
            out.dedup();
            out
        }
    }
}

/// How an ingested message is assigned to mailboxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxPolicy {
    /// Every message goes to these mailboxes.
    Fixed(Vec<String>),
    /// Participants in these (lowercased) domains are the mailboxes.
    LocalDomains(Vec<String>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc_of(raw: &str) -> MessageDoc {
        build_doc(
            raw.as_bytes(),
            Sha256::default(),
            1_800_000_000,
            &MessageMeta::default(),
            Some(&ExtractLimits::default()),
        )
    }

    #[test]
    fn participants_subject_date_and_body() {
        let d = doc_of(
            "From: \"Alice A\" <Alice@Example.com>\r\nTo: bob@example.com, Carol <carol@other.org>\r\n\
             Cc: dave@example.com\r\nDelivered-To: bob@example.com\r\nSubject: =?utf-8?q?Caf=C3=A9?=\r\n\
             Date: Tue, 3 Mar 2026 10:00:00 +0000\r\nMessage-ID: <abc@example.com>\r\n\r\nHello world\r\n",
        );
        assert_eq!(d.from[0].email, "alice@example.com");
        assert_eq!(d.from[0].name.as_deref(), Some("Alice A"));
        assert_eq!(d.to.len(), 2);
        assert_eq!(d.subject.as_deref(), Some("Café"));
        assert_eq!(d.date, Some(1_772_532_000));
        assert_eq!(d.message_id.as_deref(), Some("abc@example.com"));
        assert!(d.body.contains("Hello world"));
        assert_eq!(d.delivered_to, vec!["bob@example.com"]);
        assert!(!d.flags.contains(MessageFlags::MALFORMED));
        let local = assign_mailboxes(&d, &MailboxPolicy::LocalDomains(vec!["example.com".into()]));
        assert_eq!(
            local,
            vec!["alice@example.com", "bob@example.com", "dave@example.com"]
        );
    }

    #[test]
    fn absurd_date_falls_back_to_received_header() {
        let d = doc_of(
            "Received: from x by y; Wed, 4 Mar 2026 10:00:00 +0000\r\nFrom: a@b.c\r\n\
             Date: Mon, 1 Jan 1900 00:00:00 +0000\r\n\r\nx\r\n",
        );
        assert!(d.flags.contains(MessageFlags::DATE_UNRELIABLE));
        assert_eq!(d.date, Some(1_772_618_400));
    }

    #[test]
    fn garbage_is_flagged_malformed_not_dropped() {
        let d = doc_of("\u{1}\u{2}\u{3} no headers here at all");
        assert!(d.flags.contains(MessageFlags::MALFORMED));
        assert_eq!(
            d.size,
            "\u{1}\u{2}\u{3} no headers here at all".len() as u64
        );
    }
}
