//! A stored message as one recipient received it: what a custodian (a user reading their
//! own archive) is shown, downloads and exports.
//!
//! The archive keeps the evidence — the message as journaled, a journal report with its
//! full recipient list, or a sender's copy whose `Bcc:` names everyone — and officers
//! see exactly that. A custodian sees the message as it reached them:
//! - a journal report is replaced by the original message it carries (the report lists
//!   every recipient, Bcc and expanded distribution lists included);
//! - unless the custodian sent it (their address in `From:` or `Sender:`), the header
//!   fields that name hidden recipients are removed: `Bcc:` and `Resent-Bcc:` always, and
//!   the delivery fields (`Delivered-To:`, `X-Original-To:`, `Envelope-To:`,
//!   `X-Envelope-To:`, `X-Rcpt-To:`, `Apparently-To:`) unless they name the custodian.
//!
//! Only whole header fields are removed (with their folded continuation lines); every
//! other byte stays as stored. Pure functions over bytes.

use std::borrow::Cow;

use coffer_model::RecipientView;

use crate::import::sniff::{field_name, header_block};
use crate::journal::{JournalOutcome, unwrap_journal_report};

/// How far into a message its header block is looked for.
const HEADER_LIMIT: usize = 1024 * 1024;

/// Header fields naming hidden recipients, removed unless the viewer sent the message.
const ALWAYS_HIDDEN: [&[u8]; 2] = [b"bcc", b"resent-bcc"];

/// Delivery fields, removed unless they name the viewer.
const DELIVERY_FIELDS: [&[u8]; 6] = [
    b"delivered-to",
    b"x-original-to",
    b"envelope-to",
    b"x-envelope-to",
    b"x-rcpt-to",
    b"apparently-to",
];

/// The bytes of `stored` that a caller with `view` may see (see the module docs).
pub fn as_received<'a>(stored: &'a [u8], view: &RecipientView) -> Cow<'a, [u8]> {
    let RecipientView::Own(own) = view else {
        return Cow::Borrowed(stored);
    };
    let message: Cow<'a, [u8]> = match unwrap_journal_report(stored) {
        JournalOutcome::Unwrapped(report) => Cow::Owned(report.original.into_owned()),
        JournalOutcome::NotJournal | JournalOutcome::Malformed { .. } => Cow::Borrowed(stored),
    };
    let names_own = |value: &[u8]| {
        let value = String::from_utf8_lossy(value).to_ascii_lowercase();
        own.iter().any(|address| value.contains(address.as_str()))
    };
    let fields = header_fields(&message);
    let sent_it = fields.iter().any(|field| {
        matches!(field.name.as_slice(), b"from" | b"sender") && names_own(field.bytes)
    });
    if sent_it {
        return message;
    }
    let hidden = |field: &HeaderField<'_>| {
        ALWAYS_HIDDEN.contains(&field.name.as_slice())
            || (DELIVERY_FIELDS.contains(&field.name.as_slice()) && !names_own(field.bytes))
    };
    if !fields.iter().any(hidden) {
        return message;
    }
    let header_len: usize = fields.iter().map(|f| f.bytes.len()).sum();
    let mut out = Vec::with_capacity(message.len());
    for field in fields.iter().filter(|f| !hidden(f)) {
        out.extend_from_slice(field.bytes);
    }
    out.extend_from_slice(&message[header_len..]);
    Cow::Owned(out)
}

/// One header field: its lowercased name (empty for lines that are not a field) and its
/// bytes, folded continuation lines and line endings included.
struct HeaderField<'a> {
    name: Vec<u8>,
    bytes: &'a [u8],
}

/// The header fields of `message`, in order, covering its header block exactly.
fn header_fields(message: &[u8]) -> Vec<HeaderField<'_>> {
    let block = header_block(message, HEADER_LIMIT);
    // (name, start, end) of each field, continuation lines joined to the field before.
    let mut spans: Vec<(Vec<u8>, usize, usize)> = Vec::new();
    let mut start = 0;
    while start < block.len() {
        let end = memchr::memchr(b'\n', &block[start..]).map_or(block.len(), |p| start + p + 1);
        let line = &block[start..end];
        match spans.last_mut() {
            Some(last) if matches!(line.first(), Some(b' ' | b'\t')) => last.2 = end,
            _ => spans.push((
                field_name(line).unwrap_or_default().to_ascii_lowercase(),
                start,
                end,
            )),
        }
        start = end;
    }
    spans
        .into_iter()
        .map(|(name, start, end)| HeaderField {
            name,
            bytes: &block[start..end],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENT_COPY: &[u8] = b"From: Ann <ann@example.com>\r\nTo: bob@example.com\r\n\
Bcc: carol@example.com,\r\n dave@example.com\r\nDelivered-To: carol@example.com\r\n\
Delivered-To: bob@example.com\r\nSubject: Plan\r\n\r\nThe plan.\r\nBcc: not a header\r\n";

    #[test]
    fn officers_see_the_stored_bytes() {
        assert_eq!(as_received(SENT_COPY, &RecipientView::All), SENT_COPY);
    }

    #[test]
    fn a_recipient_sees_no_bcc_and_only_their_own_delivery_fields() {
        let bob = as_received(SENT_COPY, &RecipientView::own(["bob@example.com"]));
        assert_eq!(
            bob.as_ref(),
            &b"From: Ann <ann@example.com>\r\nTo: bob@example.com\r\n\
Delivered-To: bob@example.com\r\nSubject: Plan\r\n\r\nThe plan.\r\nBcc: not a header\r\n"[..]
        );
        // Carol was Bcc'd: she still does not learn of dave.
        let carol = as_received(SENT_COPY, &RecipientView::own(["carol@example.com"]));
        let text = String::from_utf8_lossy(&carol);
        assert!(!text.contains("dave@"), "{text}");
        assert!(text.contains("Delivered-To: carol@example.com"), "{text}");
    }

    #[test]
    fn the_sender_sees_their_own_bcc() {
        let ann = as_received(SENT_COPY, &RecipientView::own(["ann@example.com"]));
        assert_eq!(ann.as_ref(), SENT_COPY);
    }

    #[test]
    fn headers_only_and_lf_messages_work() {
        let lf = b"To: bob@example.com\nBcc: eve@example.com\n";
        assert_eq!(
            as_received(lf, &RecipientView::own(["bob@example.com"])).as_ref(),
            b"To: bob@example.com\n"
        );
        assert_eq!(
            as_received(b"", &RecipientView::own(["bob@example.com"])).as_ref(),
            b""
        );
    }
}
