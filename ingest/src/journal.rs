//! Recognising and unwrapping Exchange / Microsoft 365 envelope journal reports.
//!
//! A journaling Exchange server does not send the archive the message itself: it sends a
//! *journal report*, a new message that carries the envelope (the real sender and every
//! real recipient, including Bcc and distribution-list members) and has the original
//! message attached unaltered. [`unwrap_journal_report`] is a pure function over the raw
//! bytes that tells the three cases apart ([`JournalOutcome`]):
//! - [`JournalOutcome::NotJournal`]: an ordinary message;
//! - [`JournalOutcome::Unwrapped`]: a report, with its envelope ([`JournalReport`]) and the
//!   exact bytes of the attached original;
//! - [`JournalOutcome::Malformed`]: it says it is a report but cannot be unwrapped; the
//!   caller archives it as received and flags it.
//!
//! The record in the volume always keeps the report's bytes exactly as received; search,
//! views and exports present the unwrapped original with the report's recipients as
//! envelope metadata.
//!
//! # The format followed
//! Microsoft's *[MS-XJRNL]: Journal Record Message File Format*, section 2.1
//! "Envelope-Part Structure", and the Exchange 2007/2010 documentation "Understanding
//! Journal Reports" (TechNet bb331962, bb738122):
//! - The report carries the header field `X-MS-Journal-Report` (its value is empty or
//!   unspecified). Inside an Exchange organisation's transport the same marker is named
//!   `X-MS-Exchange-Organization-Journal-Report`; both are recognised, at the top level
//!   only.
//! - It is a `multipart/mixed` message whose first body part is the *envelope part*: text
//!   lines `Field: value`, one value per line, in the report's charset:
//!   `Sender:` (the reverse-path), optional `On-Behalf-Of:`, `Subject:` and `Message-ID:`
//!   (either order), optional `Label:`, `Mailbox:`, `SentUtc:`, `ReceivedUtc:`, and one or
//!   more recipient specifications:
//!   `("To" / "Cc" / "Bcc" / "Recipient") ":" SP forward-path [", " ("Expanded" / "Forwarded") ":" SP original-forward-path]`.
//!   `Expanded:` names the distribution group the recipient was expanded from;
//!   `Forwarded:` the recipient whose mail was redirected to this one. `Recipient:` is the
//!   "basic" field used when Exchange cannot verify how the recipient was addressed
//!   ([`RecipientKind::Unknown`]).
//! - The original message is attached as a `message/rfc822` part (Exchange Online sends it
//!   with `Content-Transfer-Encoding: binary`).
//!
//! Field names are matched case-insensitively (`Message-Id` and `Message-ID` both occur),
//! lines may end in LF or CRLF, and lines that are not fields are ignored.
//! Exchange 2003's older report format (`Content-Identifier: ExJournalReport`, no
//! `X-MS-Journal-Report`) is not unwrapped: such a report is [`JournalOutcome::NotJournal`]
//! and is archived as a message of its own.
//!
//! # Decisions
//! - **The original's bytes**: when the attachment is not transfer-encoded (7bit, 8bit,
//!   binary), [`JournalReport::original`] borrows exactly the bytes between the part's
//!   header block and the CRLF that precedes the next boundary delimiter (that CRLF belongs
//!   to the delimiter, RFC 2046 §5.1.1), and [`JournalReport::original_range`] says where
//!   they sit in the report. When it is base64 or quoted-printable encoded, `original` holds
//!   the decoded bytes and `original_range` is `None`.
//! - **Malformed** ([`JournalMalformed`]) when the report is not multipart, has no envelope
//!   part, no `Sender:` line, no recipient line, no `message/rfc822` part, or an attached
//!   original that is empty or not a message. MS-XJRNL makes `Subject:` and `Message-ID:`
//!   mandatory too, but their absence does not stop unwrapping: it is recorded as a
//!   [`JournalAnomaly`], as are unknown envelope lines, a `Message-ID:` that differs from
//!   the original's, extra `message/rfc822` parts and a missing closing boundary.
//! - Only one level is unwrapped: a journal report journaled again yields the inner report
//!   as the original.
//!
//! Nothing here logs addresses or subjects; debug logs carry counts and sizes only.

use std::borrow::Cow;
use std::ops::Range;

use mail_parser::{Encoding, MessageParser, MessagePart, MimeHeaders, PartType};

use crate::import::sniff::{field_name, header_block, trim_cr};

/// Header fields that mark a journal report (top level only).
const JOURNAL_MARKERS: [&[u8]; 2] = [
    b"x-ms-journal-report",
    b"x-ms-exchange-organization-journal-report",
];

/// How far into a message the header block is searched for the marker.
const HEADER_SCAN_LIMIT: usize = 256 * 1024;

/// The result of [`unwrap_journal_report`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalOutcome<'a> {
    /// Not a journal report: archive and present the message as it is.
    NotJournal,
    /// A journal report, unwrapped.
    Unwrapped(JournalReport<'a>),
    /// Claims to be a journal report but cannot be unwrapped: archive as received, flag.
    Malformed {
        /// What is wrong.
        reason: JournalMalformed,
    },
}

/// The envelope and original message of a journal report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalReport<'a> {
    /// The envelope sender (`Sender:`), without angle brackets; `None` for the null
    /// reverse-path `<>` (bounces).
    pub sender: Option<String>,
    /// `On-Behalf-Of:`, when the message was sent on behalf of someone.
    pub on_behalf_of: Option<String>,
    /// `Subject:` as written in the envelope part (content: never log it).
    pub subject: Option<String>,
    /// `Message-ID:` of the original, without angle brackets.
    pub message_id: Option<String>,
    /// Every recipient line, in order.
    pub recipients: Vec<JournalRecipient>,
    /// The original message's bytes (see the module docs).
    pub original: Cow<'a, [u8]>,
    /// Where `original` sits in the report, when it is there verbatim.
    pub original_range: Option<Range<usize>>,
    /// Deviations from the documented format that did not stop unwrapping.
    pub anomalies: Vec<JournalAnomaly>,
}

impl JournalReport<'_> {
    /// The same report, owning its bytes.
    pub fn into_owned(self) -> JournalReport<'static> {
        JournalReport {
            sender: self.sender,
            on_behalf_of: self.on_behalf_of,
            subject: self.subject,
            message_id: self.message_id,
            recipients: self.recipients,
            original: Cow::Owned(self.original.into_owned()),
            original_range: self.original_range,
            anomalies: self.anomalies,
        }
    }
}

/// One recipient line of the envelope part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRecipient {
    /// The recipient's address, without angle brackets.
    pub address: String,
    /// How it was addressed.
    pub kind: RecipientKind,
    /// The distribution group it was expanded from (`, Expanded: dl@...`).
    pub expanded_from: Option<String>,
    /// The recipient whose mail was forwarded to it (`, Forwarded: user@...`).
    pub forwarded_from: Option<String>,
}

/// How a journaled recipient was addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecipientKind {
    /// `To:`
    To,
    /// `Cc:`
    Cc,
    /// `Bcc:`
    Bcc,
    /// `Recipient:` (Exchange could not verify the addressing).
    Unknown,
}

/// A deviation from the documented format that did not prevent unwrapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JournalAnomaly {
    /// No `Subject:` line in the envelope part.
    MissingSubject,
    /// No `Message-ID:` line in the envelope part.
    MissingMessageId,
    /// The envelope's `Message-ID:` differs from the attached original's.
    MessageIdMismatch,
    /// Envelope lines `Name: value` with a name that is not in the format (count).
    UnknownEnvelopeFields(usize),
    /// Recipient lines with a `, Name: value` suffix other than Expanded/Forwarded (count).
    UnknownRecipientAttributes(usize),
    /// More than one `message/rfc822` part; the first was taken (count of the others).
    ExtraOriginals(usize),
    /// The report's closing MIME boundary is missing (it may be truncated).
    MissingClosingBoundary,
    /// The parser met an encoding problem inside the attached original's part.
    OriginalEncodingProblem,
}

/// Why a journal report could not be unwrapped. Holds no message content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum JournalMalformed {
    /// The MIME parser could not read the report at all.
    #[error("journal report could not be parsed")]
    Unparseable,
    /// The report is not a multipart message.
    #[error("journal report is not multipart")]
    NotMultipart,
    /// No text part with the envelope before the attached original.
    #[error("journal report has no envelope part")]
    NoEnvelopePart,
    /// The envelope part has no `Sender:` line.
    #[error("journal report envelope has no Sender line")]
    NoSender,
    /// The envelope part has no To/Cc/Bcc/Recipient line.
    #[error("journal report envelope lists no recipients")]
    NoRecipients,
    /// No `message/rfc822` part.
    #[error("journal report has no attached message/rfc822 original")]
    NoOriginal,
    /// The attached original is empty.
    #[error("the original attached to the journal report is empty")]
    OriginalEmpty,
    /// The attached original could not be read as a message.
    #[error("the original attached to the journal report is not a readable message")]
    OriginalUnreadable,
}

/// Whether `raw`'s top-level header block has an `X-MS-Journal-Report` (or
/// `X-MS-Exchange-Organization-Journal-Report`) field. Cheap: no MIME parsing.
pub fn is_journal_report(raw: &[u8]) -> bool {
    let block = header_block(raw, HEADER_SCAN_LIMIT);
    block
        .split(|&b| b == b'\n')
        .filter(|line| !line.starts_with(b" ") && !line.starts_with(b"\t"))
        .filter_map(|line| field_name(trim_cr(line)))
        .any(|name| {
            JOURNAL_MARKERS
                .iter()
                .any(|marker| name.eq_ignore_ascii_case(marker))
        })
}

/// Recognises and unwraps an Exchange / Microsoft 365 envelope journal report. Pure; never
/// panics on any input. See the module docs for the format and the decisions.
pub fn unwrap_journal_report(raw: &[u8]) -> JournalOutcome<'_> {
    if !is_journal_report(raw) {
        return JournalOutcome::NotJournal;
    }
    match unwrap(raw) {
        Ok(report) => {
            tracing::debug!(
                recipients = report.recipients.len(),
                original_bytes = report.original.len(),
                anomalies = report.anomalies.len(),
                "journal report unwrapped"
            );
            JournalOutcome::Unwrapped(report)
        }
        Err(reason) => {
            tracing::debug!(bytes = raw.len(), "journal report malformed");
            JournalOutcome::Malformed { reason }
        }
    }
}

/// The envelope part's fields.
#[derive(Default)]
struct Envelope {
    sender: Option<Option<String>>,
    on_behalf_of: Option<String>,
    subject: Option<String>,
    message_id: Option<String>,
    recipients: Vec<JournalRecipient>,
    unknown_fields: usize,
    unknown_attributes: usize,
}

/// Parses with mail-parser, turning a panic into `None`.
///
/// mail-parser 0.11.9 has `debug_assert!`s that crafted MIME reaches (an empty
/// `message/rfc822` nested in another, found by the proptest below): in builds with debug
/// assertions they panic. Release builds compile them out; this guard keeps debug builds
/// and tests from crashing on such input too.
fn parse_guarded(raw: &[u8]) -> Option<mail_parser::Message<'_>> {
    std::panic::catch_unwind(|| MessageParser::new().parse(raw))
        .ok()
        .flatten()
}

fn unwrap(raw: &[u8]) -> Result<JournalReport<'_>, JournalMalformed> {
    let message = parse_guarded(raw).ok_or(JournalMalformed::Unparseable)?;
    let root = message.parts.first().ok_or(JournalMalformed::Unparseable)?;
    let children = root.sub_parts().ok_or(JournalMalformed::NotMultipart)?;
    let parts: Vec<&MessagePart<'_>> = children
        .iter()
        .filter_map(|&id| message.parts.get(id as usize))
        .collect();

    let original_positions: Vec<usize> = parts
        .iter()
        .enumerate()
        .filter(|(_, part)| is_rfc822(part))
        .map(|(pos, _)| pos)
        .collect();
    let Some(&original_pos) = original_positions.first() else {
        return Err(JournalMalformed::NoOriginal);
    };
    let envelope_text = parts[..original_pos]
        .iter()
        .find(|part| is_plain_text(part))
        .and_then(|part| match &part.body {
            PartType::Text(text) => Some(text.as_ref()),
            _ => None,
        })
        .ok_or(JournalMalformed::NoEnvelopePart)?;
    let envelope = parse_envelope(envelope_text);
    let sender = envelope.sender.clone().ok_or(JournalMalformed::NoSender)?;
    if envelope.recipients.is_empty() {
        return Err(JournalMalformed::NoRecipients);
    }

    let original_part = parts[original_pos];
    let (original, original_range, nested) = match &original_part.body {
        PartType::Message(nested) => {
            if original_part.encoding == Encoding::None {
                let range = original_part.offset_body as usize..original_part.offset_end as usize;
                let bytes = raw
                    .get(range.clone())
                    .ok_or(JournalMalformed::OriginalUnreadable)?;
                (Cow::Borrowed(bytes), Some(range), nested)
            } else {
                (Cow::Owned(nested.raw_message.to_vec()), None, nested)
            }
        }
        _ => return Err(JournalMalformed::OriginalUnreadable),
    };
    if original.iter().all(u8::is_ascii_whitespace) {
        return Err(JournalMalformed::OriginalEmpty);
    }

    let mut anomalies = Vec::new();
    if envelope.subject.is_none() {
        anomalies.push(JournalAnomaly::MissingSubject);
    }
    match (&envelope.message_id, nested.message_id()) {
        (None, _) => anomalies.push(JournalAnomaly::MissingMessageId),
        (Some(envelope_id), Some(original_id)) if envelope_id.trim() != original_id.trim() => {
            anomalies.push(JournalAnomaly::MessageIdMismatch);
        }
        _ => {}
    }
    if envelope.unknown_fields > 0 {
        anomalies.push(JournalAnomaly::UnknownEnvelopeFields(
            envelope.unknown_fields,
        ));
    }
    if envelope.unknown_attributes > 0 {
        anomalies.push(JournalAnomaly::UnknownRecipientAttributes(
            envelope.unknown_attributes,
        ));
    }
    if original_positions.len() > 1 {
        anomalies.push(JournalAnomaly::ExtraOriginals(original_positions.len() - 1));
    }
    if original_part.is_encoding_problem {
        anomalies.push(JournalAnomaly::OriginalEncodingProblem);
    }
    if let Some(boundary) = root.content_type().and_then(|ct| ct.attribute("boundary")) {
        let close = [b"--", boundary.as_bytes(), b"--"].concat();
        if memchr::memmem::find(raw, &close).is_none() {
            anomalies.push(JournalAnomaly::MissingClosingBoundary);
        }
    }

    Ok(JournalReport {
        sender,
        on_behalf_of: envelope.on_behalf_of,
        subject: envelope.subject,
        message_id: envelope.message_id,
        recipients: envelope.recipients,
        original,
        original_range,
        anomalies,
    })
}

/// Whether a part is the attached original (`message/rfc822`, or RFC 6532's
/// `message/global`).
fn is_rfc822(part: &MessagePart<'_>) -> bool {
    part.is_content_type("message", "rfc822") || part.is_content_type("message", "global")
}

/// Whether a part is plain text (explicitly, or by default without a Content-Type).
fn is_plain_text(part: &MessagePart<'_>) -> bool {
    match part.content_type() {
        None => matches!(part.body, PartType::Text(_)),
        Some(_) => part.is_content_type("text", "plain"),
    }
}

/// Parses the envelope part's lines.
fn parse_envelope(text: &str) -> Envelope {
    let mut envelope = Envelope::default();
    for line in text.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            continue;
        }
        let value = value.trim();
        let kind = match name.to_ascii_lowercase().as_str() {
            "sender" => {
                if envelope.sender.is_none() {
                    let address = strip_angle(value);
                    envelope.sender = Some((!address.is_empty()).then(|| address.to_string()));
                }
                continue;
            }
            "on-behalf-of" => {
                envelope.on_behalf_of = Some(strip_angle(value).to_string());
                continue;
            }
            "subject" => {
                if envelope.subject.is_none() {
                    envelope.subject = Some(value.to_string());
                }
                continue;
            }
            "message-id" => {
                if envelope.message_id.is_none() {
                    envelope.message_id = Some(strip_angle(value).to_string());
                }
                continue;
            }
            "label" | "mailbox" | "sentutc" | "receivedutc" => continue,
            "to" => RecipientKind::To,
            "cc" => RecipientKind::Cc,
            "bcc" => RecipientKind::Bcc,
            "recipient" => RecipientKind::Unknown,
            _ => {
                envelope.unknown_fields += 1;
                continue;
            }
        };
        let mut segments = value.split(',');
        let address = strip_angle(segments.next().unwrap_or_default());
        if address.is_empty() {
            continue;
        }
        let mut recipient = JournalRecipient {
            address: address.to_string(),
            kind,
            expanded_from: None,
            forwarded_from: None,
        };
        for segment in segments {
            let segment = segment.trim();
            match segment.split_once(':') {
                Some((attr, source)) if attr.trim().eq_ignore_ascii_case("expanded") => {
                    recipient.expanded_from = Some(strip_angle(source).to_string());
                }
                Some((attr, source)) if attr.trim().eq_ignore_ascii_case("forwarded") => {
                    recipient.forwarded_from = Some(strip_angle(source).to_string());
                }
                _ => envelope.unknown_attributes += 1,
            }
        }
        envelope.recipients.push(recipient);
    }
    envelope
}

/// `value` trimmed, without one pair of surrounding angle brackets.
fn strip_angle(value: &str) -> &str {
    let value = value.trim();
    value
        .strip_prefix('<')
        .and_then(|v| v.strip_suffix('>'))
        .map_or(value, str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(envelope: &str, original_part: &str) -> String {
        format!(
            "From: Microsoft Outlook <journal@contoso.com>\r\n\
             To: archive@archive.example\r\n\
             Subject: Quarterly numbers\r\n\
             X-MS-Journal-Report:\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"jr\"\r\n\
             \r\n\
             --jr\r\n\
             Content-Type: text/plain; charset=\"us-ascii\"\r\n\
             Content-Transfer-Encoding: 7bit\r\n\
             \r\n\
             {envelope}\r\n\
             --jr\r\n\
             {original_part}\r\n\
             --jr--\r\n"
        )
    }

    const ORIGINAL: &str = "From: Alice <alice@contoso.com>\r\n\
                            To: Team <team@contoso.com>\r\n\
                            Subject: Quarterly numbers\r\n\
                            Message-ID: <abc@contoso.com>\r\n\
                            \r\n\
                            Numbers attached.\r\n";

    const ENVELOPE: &str = "Sender: alice@contoso.com\r\n\
                            Subject: Quarterly numbers\r\n\
                            Message-Id: <abc@contoso.com>\r\n\
                            To: bob@contoso.com\r\n\
                            To: carol@contoso.com, Expanded: team@contoso.com\r\n\
                            Cc: dave@fabrikam.com, Forwarded: erin@contoso.com\r\n\
                            Bcc: frank@contoso.com\r\n\
                            Recipient: grace@contoso.com\r\n";

    fn binary_original() -> String {
        format!(
            "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: binary\r\n\r\n{ORIGINAL}"
        )
    }

    #[test]
    fn not_journal() {
        assert_eq!(
            unwrap_journal_report(ORIGINAL.as_bytes()),
            JournalOutcome::NotJournal
        );
        assert_eq!(unwrap_journal_report(b""), JournalOutcome::NotJournal);
        // The marker in the body does not count.
        let body = b"Subject: x\r\n\r\nX-MS-Journal-Report: no\r\n";
        assert_eq!(unwrap_journal_report(body), JournalOutcome::NotJournal);
    }

    #[test]
    fn unwraps_recipients_and_original_bytes() {
        let raw = report(ENVELOPE, &binary_original());
        let JournalOutcome::Unwrapped(report) = unwrap_journal_report(raw.as_bytes()) else {
            panic!("expected unwrapped");
        };
        assert_eq!(report.sender.as_deref(), Some("alice@contoso.com"));
        assert_eq!(report.message_id.as_deref(), Some("abc@contoso.com"));
        assert_eq!(report.subject.as_deref(), Some("Quarterly numbers"));
        let summary: Vec<_> = report
            .recipients
            .iter()
            .map(|r| {
                (
                    r.address.as_str(),
                    r.kind,
                    r.expanded_from.as_deref(),
                    r.forwarded_from.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("bob@contoso.com", RecipientKind::To, None, None),
                (
                    "carol@contoso.com",
                    RecipientKind::To,
                    Some("team@contoso.com"),
                    None
                ),
                (
                    "dave@fabrikam.com",
                    RecipientKind::Cc,
                    None,
                    Some("erin@contoso.com")
                ),
                ("frank@contoso.com", RecipientKind::Bcc, None, None),
                ("grace@contoso.com", RecipientKind::Unknown, None, None),
            ]
        );
        // Exactly the original: the CRLF before `--jr--` belongs to the delimiter.
        assert_eq!(report.original.as_ref(), ORIGINAL.as_bytes());
        let range = report.original_range.clone().expect("verbatim");
        assert_eq!(&raw.as_bytes()[range], ORIGINAL.as_bytes());
        assert!(report.anomalies.is_empty(), "{:?}", report.anomalies);
        assert!(matches!(report.into_owned().original, Cow::Owned(_)));
    }

    #[test]
    fn base64_original_is_decoded() {
        use base64_encode as encode;
        let part = format!(
            "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
            encode(ORIGINAL.as_bytes())
        );
        let raw = report(ENVELOPE, &part);
        let JournalOutcome::Unwrapped(report) = unwrap_journal_report(raw.as_bytes()) else {
            panic!("expected unwrapped");
        };
        assert_eq!(report.original.as_ref(), ORIGINAL.as_bytes());
        assert_eq!(report.original_range, None);
    }

    #[test]
    fn malformed_cases() {
        let cases = [
            (
                report("Subject: x\r\nTo: a@b", &binary_original()),
                JournalMalformed::NoSender,
            ),
            (
                report("Sender: a@b\r\nSubject: x", &binary_original()),
                JournalMalformed::NoRecipients,
            ),
            (
                report(ENVELOPE, "Content-Type: text/plain\r\n\r\nno original"),
                JournalMalformed::NoOriginal,
            ),
            (
                "Subject: x\r\nX-MS-Journal-Report:\r\n\r\nSender: a@b\r\nTo: c@d\r\n".to_string(),
                JournalMalformed::NotMultipart,
            ),
            (
                report(ENVELOPE, "Content-Type: message/rfc822\r\n\r\n"),
                JournalMalformed::OriginalEmpty,
            ),
        ];
        for (raw, expected) in cases {
            match unwrap_journal_report(raw.as_bytes()) {
                JournalOutcome::Malformed { reason } => assert_eq!(reason, expected),
                other => panic!("expected {expected:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn anomalies_are_recorded() {
        let envelope = "Sender: <>\r\nMessage-ID: <other@contoso.com>\r\nTo: <bob@contoso.com>, Weird: x\r\nFoo: bar\r\n";
        let raw = report(envelope, &binary_original());
        let raw = raw.replace("--jr--\r\n", "");
        let JournalOutcome::Unwrapped(report) = unwrap_journal_report(raw.as_bytes()) else {
            panic!("expected unwrapped");
        };
        assert_eq!(report.sender, None);
        assert_eq!(report.recipients[0].address, "bob@contoso.com");
        for anomaly in [
            JournalAnomaly::MissingSubject,
            JournalAnomaly::MessageIdMismatch,
            JournalAnomaly::UnknownEnvelopeFields(1),
            JournalAnomaly::UnknownRecipientAttributes(1),
            JournalAnomaly::MissingClosingBoundary,
        ] {
            assert!(
                report.anomalies.contains(&anomaly),
                "{anomaly:?} in {:?}",
                report.anomalies
            );
        }
    }

    #[test]
    fn organization_header_and_lf_lines() {
        let raw = report(ENVELOPE, &binary_original())
            .replace(
                "X-MS-Journal-Report:",
                "X-MS-Exchange-Organization-Journal-Report: 1",
            )
            .replace("\r\n", "\n");
        let JournalOutcome::Unwrapped(report) = unwrap_journal_report(raw.as_bytes()) else {
            panic!("expected unwrapped");
        };
        assert_eq!(report.recipients.len(), 5);
        assert!(report.original.starts_with(b"From: Alice"));
        assert!(report.original.ends_with(b"Numbers attached.\n"));
    }

    /// Found by the proptest: mail-parser debug-asserts on an empty message/rfc822 nested in
    /// another one.
    #[test]
    fn regression_nested_empty_rfc822_does_not_panic() {
        let raw = b"X-MS-Journal-Report:\r\nContent-Type: multipart/mixed; boundary=jr\r\n\r\n--jr\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n\r\n--jr--\r\n";
        assert!(matches!(
            unwrap_journal_report(raw),
            JournalOutcome::Malformed { .. }
        ));
    }

    /// Minimal base64 for tests (the crate has no base64 dependency).
    fn base64_encode(data: &[u8]) -> String {
        const TABLE: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for (i, chunk) in data.chunks(3).enumerate() {
            if i > 0 && i % 19 == 0 {
                out.push_str("\r\n");
            }
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for j in 0..4 {
                if j <= chunk.len() {
                    out.push(char::from(TABLE[(n >> (18 - 6 * j)) as usize & 63]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        /// A journal report skeleton with random pieces, to reach the deep states.
        fn reportish() -> impl Strategy<Value = Vec<u8>> {
            crate::fuzz::pieces_after(
                b"X-MS-Journal-Report:\r\nContent-Type: multipart/mixed; boundary=jr\r\n\r\n",
                &[
                    b"--jr\r\n",
                    b"--jr--\r\n",
                    b"Content-Type: message/rfc822\r\n",
                    b"Content-Type: text/plain\r\n",
                    b"Content-Transfer-Encoding: base64\r\n",
                    b"\r\n",
                    b"Sender: a@b\r\nTo: c@d, Expanded: e@f\r\n",
                    b"From: x@y\r\nSubject: s\r\n",
                ],
                30,
                32,
            )
        }

        proptest! {
            #![proptest_config(crate::fuzz::config())]

            #[test]
            fn never_panics(raw in prop_oneof![proptest::collection::vec(any::<u8>(), 0..2048), reportish()]) {
                if let JournalOutcome::Unwrapped(report) = unwrap_journal_report(&raw) {
                    prop_assert!(!report.recipients.is_empty());
                    if let Some(range) = report.original_range {
                        prop_assert_eq!(raw.get(range), Some(report.original.as_ref()));
                    }
                }
                let _ = is_journal_report(&raw);
                let _ = crate::import::looks_like_mail(&raw);
            }
        }
    }
}
