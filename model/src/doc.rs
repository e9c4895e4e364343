//! What Coffer knows about one archived message, extracted once by the ingest pipeline
//! and consumed by the catalog and the index.

use serde::{Deserialize, Serialize};

use crate::{MessageId, Sha256};

/// A mailbox address as it appeared in a header: display name (if any) and address.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Address {
    /// Display name, decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The address (`local@domain`), lowercased and trimmed.
    pub email: String,
}

/// An attachment (or a non-body leaf part) of a message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AttachmentDoc {
    /// The file name from Content-Disposition or Content-Type, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// The MIME type, lowercased (`application/pdf`).
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: u64,
    /// Extracted text, bounded; `None` when the type carries no text or extraction failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// The SMTP envelope of a message, or the provenance of an imported one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Envelope {
    /// How it arrived: `smtp`, `lmtp`, `http`, `import`.
    #[serde(default)]
    pub protocol: String,
    /// MAIL FROM (reverse path), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_from: Option<String>,
    /// Every RCPT TO, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rcpt_to: Vec<String>,
    /// The client's IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_addr: Option<String>,
    /// EHLO/HELO/LHLO name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helo: Option<String>,
    /// Whether the session was encrypted.
    #[serde(default)]
    pub tls: bool,
}

/// Bit flags recorded for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageFlags(pub u32);

impl MessageFlags {
    /// The bytes could not be parsed as RFC 5322 (archived raw).
    pub const MALFORMED: MessageFlags = MessageFlags(1);
    /// Text of at least one attachment could not be extracted.
    pub const ATTACHMENT_TEXT_NOT_EXTRACTED: MessageFlags = MessageFlags(1 << 1);
    /// The message is a journal report wrapping the original.
    pub const JOURNAL_REPORT: MessageFlags = MessageFlags(1 << 2);
    /// The message looked like a journal report but could not be unwrapped.
    pub const JOURNAL_MALFORMED: MessageFlags = MessageFlags(1 << 3);
    /// The Date header was missing or absurd; the date comes from Received or receipt.
    pub const DATE_UNRELIABLE: MessageFlags = MessageFlags(1 << 4);
    /// A part had a transfer-encoding or charset problem.
    pub const ENCODING_PROBLEM: MessageFlags = MessageFlags(1 << 5);

    /// Every flag with its stable name, for display and the API.
    pub const NAMES: [(MessageFlags, &'static str); 6] = [
        (Self::MALFORMED, "malformed"),
        (
            Self::ATTACHMENT_TEXT_NOT_EXTRACTED,
            "attachment-text-not-extracted",
        ),
        (Self::JOURNAL_REPORT, "journal-report"),
        (Self::JOURNAL_MALFORMED, "journal-malformed"),
        (Self::DATE_UNRELIABLE, "date-unreliable"),
        (Self::ENCODING_PROBLEM, "encoding-problem"),
    ];

    /// The flags that mark a problem reading the message (every flag but
    /// [`Self::JOURNAL_REPORT`], which only says what the message is): what import
    /// summaries count as "flagged".
    pub const PROBLEMS: MessageFlags = MessageFlags(
        Self::MALFORMED.0
            | Self::ATTACHMENT_TEXT_NOT_EXTRACTED.0
            | Self::JOURNAL_MALFORMED.0
            | Self::DATE_UNRELIABLE.0
            | Self::ENCODING_PROBLEM.0,
    );

    /// Whether any problem flag ([`Self::PROBLEMS`]) is set.
    pub fn has_problem(self) -> bool {
        self.0 & Self::PROBLEMS.0 != 0
    }

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: MessageFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Sets the bits of `other`.
    pub fn insert(&mut self, other: MessageFlags) {
        self.0 |= other.0;
    }

    /// The names of the set flags.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .filter(|(f, _)| self.contains(*f))
            .map(|(_, n)| *n)
            .collect()
    }
}

/// Everything the catalog and the index need from one message. Built by the ingest
/// pipeline from the raw bytes and the custody metadata of its volume record, so it can
/// always be rebuilt from the volume alone.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MessageDoc {
    /// Stable id (`year-seq` of the volume record).
    pub id: MessageId,
    /// SHA-256 of the original bytes.
    pub sha256: Sha256,
    /// Identity across journal copies (SHA-256 of the message without transport header
    /// fields; see `coffer_ingest::identity`), when the message has author-side headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Sha256>,
    /// When the archive received it (Unix seconds, UTC): decides the volume year.
    pub received: i64,
    /// The message's own date (Date header, or newest Received when the header is
    /// missing or absurd), Unix seconds; what search and retention use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<i64>,
    /// The Message-ID header, without angle brackets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// From.
    pub from: Vec<Address>,
    /// Sender.
    pub sender: Vec<Address>,
    /// To.
    pub to: Vec<Address>,
    /// Cc.
    pub cc: Vec<Address>,
    /// Bcc (as a header: rare outside sent copies; see `envelope_recipients`).
    pub bcc: Vec<Address>,
    /// Delivered-To and X-Original-To addresses.
    pub delivered_to: Vec<String>,
    /// Envelope recipients (RCPT TO, or a journal report's recipient list), lowercased.
    pub envelope_recipients: Vec<String>,
    /// Subject, decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Body text: text/plain parts, and HTML parts converted to text.
    pub body: String,
    /// Attachments with their extracted text.
    pub attachments: Vec<AttachmentDoc>,
    /// Mailboxes (lowercased addresses) the message belongs to.
    pub mailboxes: Vec<String>,
    /// Size of the original bytes.
    pub size: u64,
    /// Flags.
    pub flags: MessageFlags,
}

impl Default for MessageId {
    fn default() -> Self {
        MessageId::new(1970, 0)
    }
}

impl MessageDoc {
    /// Every participant address (From, Sender, To, Cc, Bcc, Delivered-To, envelope
    /// recipients), lowercased, deduplicated, in first-seen order.
    pub fn participants(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let headers = self
            .from
            .iter()
            .chain(&self.sender)
            .chain(&self.to)
            .chain(&self.cc)
            .chain(&self.bcc)
            .map(|a| a.email.as_str());
        for email in headers
            .chain(self.delivered_to.iter().map(String::as_str))
            .chain(self.envelope_recipients.iter().map(String::as_str))
        {
            let email = email.trim().to_ascii_lowercase();
            if !email.is_empty() && !out.contains(&email) {
                out.push(email);
            }
        }
        out
    }
}
