//! From raw bytes to a [`MessageDoc`]: parsing with mail-parser, participants, the
//! message date, body text, attachments and their extracted text, flags.
//!
//! This is the one function that turns a volume record into what the catalog and the
//! index store, used alike when a message arrives and when `recatalog`/`reindex`
//! rebuild from the volumes, so the derived views never depend on how a message came in.
//! It is pure apart from attachment extraction's time bound, and never panics: input
//! that mail-parser cannot make sense of yields a doc flagged `malformed`.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use coffer_extract::{
    ExtractLimits, decode_text, extract_text, html_to_snippet_text, html_to_text, is_utf8_or_ascii,
    message_parser,
};
use coffer_model::{Address, AttachmentDoc, MessageDoc, MessageFlags, Sha256};
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::{HeaderValue, Message, MessagePart, MimeHeaders, PartType};

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
                    .filter_map(|r| journal_recipient(&r, &meta.journal_addresses))
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

/// What an envelope recipient of a journaled message says about the message's real
/// recipients, given the archive's own journal addresses:
/// - an ordinary address is a recipient (kept as it is);
/// - a journal address itself names nobody (`None`): Postfix's `always_bcc` target;
/// - a journal address with an extension that encodes a recipient —
///   `journal+bob=example.com@archive.example` for `journal@archive.example` — names that
///   recipient (`bob@example.com`): what Postfix's `recipient_bcc_maps` produces with a
///   rule such as `/^(.+)@(example\.com)$/ journal+$1=$2@archive.example`, one journal
///   copy per local recipient, Bcc recipients included, while the mail itself is
///   delivered as usual. The last `=` separates the local part from the domain.
pub fn journal_recipient(rcpt: &str, journal_addresses: &[String]) -> Option<String> {
    if rcpt.is_empty() || journal_addresses.iter().any(|j| j == rcpt) {
        return None;
    }
    let Some((local, domain)) = rcpt.rsplit_once('@') else {
        return Some(rcpt.to_string());
    };
    let Some((base, extension)) = local.split_once('+') else {
        return Some(rcpt.to_string());
    };
    let journal = format!("{base}@{domain}");
    if !journal_addresses.contains(&journal) {
        return Some(rcpt.to_string());
    }
    match extension.rsplit_once('=') {
        Some((user, recipient_domain)) if !user.is_empty() && recipient_domain.contains('.') => {
            Some(normalize_address(&format!("{user}@{recipient_domain}")))
        }
        // A journal address with an extension that encodes no recipient names nobody.
        _ => None,
    }
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
    let parsed = message_parser().parse(bytes);
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
    doc.subject = subject_of(message);
    doc.message_id = message
        .message_id()
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty());
    doc.date = message_date(message, received, &mut doc.flags);

    let (body, body_parts) = body_of(message, html_to_text);
    doc.body = body;
    if message.parts.iter().any(|p| p.is_encoding_problem) {
        doc.flags.insert(MessageFlags::ENCODING_PROBLEM);
    }
    for (index, part) in message.attachments().enumerate() {
        if !body_parts.contains(&index) {
            doc.attachments
                .push(attachment(part, limits, &mut doc.flags));
        }
    }
}

/// The body text of a parsed message, as the index holds it when `html_to_text` is
/// [`coffer_extract::html_to_text`], and the attachment parts whose text it is (a text
/// part mail-parser could not decode, when there is no other body).
fn body_of(message: &Message<'_>, html_to_text: fn(&str) -> String) -> (String, Vec<usize>) {
    let mut body = String::new();
    for part in message.text_bodies() {
        let text = match (&part.body, recovered_text(message, part)) {
            (PartType::Html(_), Some(recovered)) => html_to_text(&recovered),
            (PartType::Html(html), None) => html_to_text(html),
            (PartType::Text(_), Some(recovered)) => recovered,
            (PartType::Text(text), None) => text.to_string(),
            _ => continue,
        };
        append_bounded(&mut body, &text);
    }
    if body.is_empty() {
        for part in message.html_bodies() {
            if let PartType::Html(html) = &part.body {
                let recovered = recovered_text(message, part);
                append_bounded(
                    &mut body,
                    &html_to_text(recovered.as_deref().unwrap_or(html)),
                );
            }
        }
    }
    // A text part mail-parser could not decode is kept as an attachment of still-encoded
    // text, and so is a part typed `text` alone; when there is no other body, their text
    // is the body.
    let mut body_parts = Vec::new();
    if body.is_empty() {
        for (index, part) in message.attachments().enumerate() {
            let Some(html) = inline_text_kind(part) else {
                continue;
            };
            // Also `Content-Type: text` without a subtype, which RFC 2045 (5.2) says to
            // read as text/plain (seen in real mail).
            let bytes = match recovered_contents(part) {
                Some(bytes) => bytes,
                None if part.content_type().is_some_and(|ct| ct.subtype().is_none()) => {
                    part.contents().to_vec()
                }
                None => continue,
            };
            let charset = part.content_type().and_then(|ct| ct.attribute("charset"));
            let text = decode_text(&bytes, charset).into_owned();
            append_bounded(&mut body, &if html { html_to_text(&text) } else { text });
            body_parts.push(index);
        }
    }
    // A body part without any header field is text/plain in US-ASCII (RFC 2046, 5.1.1)
    // and mail clients show it inline; mail-parser files it as an attachment. Seen in
    // real mail (SpamAssassin): a mailing list's footer after a multipart's last
    // boundary, which was never closed. A blank one stays as it was.
    for (index, part) in message.attachments().enumerate() {
        let headerless_text = part.headers.is_empty()
            && matches!(part.body, PartType::Binary(_) | PartType::Text(_))
            && !part.contents().iter().all(u8::is_ascii_whitespace);
        if headerless_text && !body_parts.contains(&index) {
            append_bounded(&mut body, &decode_text(part.contents(), None));
            body_parts.push(index);
        }
    }
    (body, body_parts)
}

/// The body text of stored message bytes exactly as [`build_doc`] indexes it (the
/// original inside a journal report), without the rest of the document — addresses,
/// identity, attachments. Snippets read back with [`snippet_text`]; this exact form is
/// what the tests hold both the index and the read-back to.
pub fn body_text(raw: &[u8]) -> String {
    body_with(raw, html_to_text)
}

/// The body text a search snippet is read back from: [`body_text`], except that an HTML
/// body is reduced to text by the tag stripper alone ([`html_to_snippet_text`]), whose
/// words are all words the index holds for the message. Rendering HTML as the index does
/// took 0.3–0.7 ms per read-back on real spam, ten times the rest of the read-back.
pub fn snippet_text(raw: &[u8]) -> String {
    body_with(raw, html_to_snippet_text)
}

fn body_with(raw: &[u8], html_to_text: fn(&str) -> String) -> String {
    let parse_input = with_final_newline(raw);
    let report = match unwrap_journal_report(&parse_input) {
        JournalOutcome::Unwrapped(report) => Some(report),
        JournalOutcome::Malformed { .. } | JournalOutcome::NotJournal => None,
    };
    let original = report.as_ref().map(|r| with_final_newline(&r.original));
    let bytes: &[u8] = original.as_deref().unwrap_or(&parse_input);
    // Only the MIME fields decide which parts are body and how they decode; every other
    // field is kept raw instead of parsed (Received, addresses and dates were a tenth of
    // a read-back's time).
    message_parser()
        .with_mime_headers()
        .parse(bytes)
        .filter(|m| has_header_fields(m))
        .map(|m| body_of(&m, html_to_text).0)
        .unwrap_or_default()
}

/// Lenient base64: characters outside the alphabet are skipped by the caller, padding is
/// optional, stray trailing bits are allowed.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The decoded content of a base64 or quoted-printable part mail-parser gave up on.
/// mail-parser then keeps the still-encoded bytes and flags the part (seen in real mail:
/// a base64 part whose closing boundary is missing, so the decoder never finds its end;
/// quoted-printable with a stray `==`). `None` for parts that decoded fine and for other
/// transfer encodings.
fn recovered_contents(part: &MessagePart<'_>) -> Option<Vec<u8>> {
    recover_encoded(part, part.contents())
}

/// The text of a body part mail-parser gave up decoding: it keeps a lone text/plain
/// part's still-encoded text as the body (upstream's `malformed/018.eml`), which would
/// index base64 as words. Seen in real mail (SpamAssassin): a base64 body followed by a
/// mailing list's footer in plain text. The part's raw body is decoded as
/// [`recovered_contents`] decodes attachments, then read with its charset, as a mail
/// client shows it. `None` when the part decoded fine or cannot be recovered.
fn recovered_text(message: &Message<'_>, part: &MessagePart<'_>) -> Option<String> {
    let raw = message
        .raw_message
        .get(part.raw_body_offset() as usize..part.raw_end_offset() as usize)?;
    let bytes = recover_encoded(part, raw)?;
    let charset = part.content_type().and_then(|ct| ct.attribute("charset"));
    Some(decode_text(&bytes, charset).into_owned())
}

/// `encoded` (the body of `part`, flagged as an encoding problem) decoded by its transfer
/// encoding, leniently; `None` for a part without the flag or of another encoding.
fn recover_encoded(part: &MessagePart<'_>, encoded: &[u8]) -> Option<Vec<u8>> {
    if !part.is_encoding_problem {
        return None;
    }
    let encoding = part.content_transfer_encoding()?.trim();
    if encoding.eq_ignore_ascii_case("quoted-printable") {
        // Robust mode keeps what is not a valid escape as it is.
        return quoted_printable::decode(encoded, quoted_printable::ParseMode::Robust).ok();
    }
    if !encoding.eq_ignore_ascii_case("base64") {
        return None;
    }
    // Characters outside the alphabet are ignored and the first `=` ends the data, as
    // RFC 2045 (6.8) allows ("the occurrence of any '=' characters may be taken as
    // evidence that the end of the data has been reached"); Python's email package
    // stops there too, so text appended after a padded body is not decoded as base64.
    let mut encoded: Vec<u8> = encoded
        .iter()
        .copied()
        .take_while(|b| *b != b'=')
        .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
        .collect();
    if encoded.len() % 4 == 1 {
        encoded.pop();
    }
    LENIENT_BASE64.decode(&encoded).ok()
}

/// For an inline (not attached, unnamed) text/plain or text/html part: whether it is HTML.
fn inline_text_kind(part: &MessagePart<'_>) -> Option<bool> {
    let content_type = part.content_type()?;
    let attached = part
        .content_disposition()
        .is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"));
    if attached
        || part.attachment_name().is_some()
        || !content_type.ctype().eq_ignore_ascii_case("text")
    {
        return None;
    }
    match content_type.subtype() {
        Some(sub) if sub.eq_ignore_ascii_case("html") => Some(true),
        Some(sub) if sub.eq_ignore_ascii_case("plain") => Some(false),
        None => Some(false),
        Some(_) => None,
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
    let recovered = recovered_contents(part);
    let contents = recovered.as_deref().unwrap_or_else(|| part.contents());
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
    if let Some(t) = header_date(message).filter(|t| plausible(*t)) {
        return Some(t);
    }
    flags.insert(MessageFlags::DATE_UNRELIABLE);
    message
        .received_all()
        .filter_map(|r| r.date())
        .map(|d| d.to_timestamp())
        .filter(|t| plausible(*t))
        .max()
}

/// Date header forms mail-parser does not read, with a numeric zone, tried in order on the
/// normalized value (see [`normalize_date`]). Real mail has them: full month names
/// (`5 February 2001`; chrono's `%B` reads abbreviations too) and day, month and year
/// joined by dashes (`5-Feb-2001`).
const ZONED_DATE_FORMATS: &[&str] = &["%d %B %Y %H:%M:%S %z", "%d %B %Y %H:%M %z"];

/// Date header forms without a zone, tried after [`ZONED_DATE_FORMATS`]. Real mail has
/// them (seen in the SpamAssassin corpus): no zone, as RFC 5322's `-0000` ("local time
/// unknown") taken as UTC, and C's `asctime` form.
const ZONELESS_DATE_FORMATS: &[&str] = &[
    "%d %B %Y %H:%M:%S",
    "%d %B %Y %H:%M",
    "%A %B %e %H:%M:%S %Y",
];

/// The Date header as Unix seconds. A three-digit year is 1900 + year (RFC 5322 §4.3,
/// obs-year): mailers with a Y2K bug wrote 2002 as `102`, often as `0102`.
fn header_date(message: &Message<'_>) -> Option<i64> {
    if let Some(date) = message.date() {
        let mut date = *date;
        if (100..=999).contains(&date.year) {
            date.year += 1900;
        }
        if date.is_valid() {
            return Some(date.to_timestamp());
        }
    }
    let text = normalize_date(message.header_raw("Date")?);
    ZONED_DATE_FORMATS
        .iter()
        .find_map(|format| {
            chrono::DateTime::parse_from_str(&text, format)
                .ok()
                .map(|d| d.timestamp())
        })
        .or_else(|| {
            ZONELESS_DATE_FORMATS.iter().find_map(|format| {
                chrono::NaiveDateTime::parse_from_str(&text, format)
                    .ok()
                    .map(|d| d.and_utc().timestamp())
            })
        })
}

/// A Date header value for the fallback formats: whitespace collapsed to single spaces, a
/// leading `Weekday,` dropped (chrono would reject a date whose weekday is wrong; the date
/// itself says which day it is), a trailing comment such as `(PST)` dropped, and
/// `5-Feb-2001` written `5 Feb 2001`.
fn normalize_date(raw: &str) -> String {
    let mut words: Vec<String> = raw.split_whitespace().map(str::to_string).collect();
    if words.first().is_some_and(|w| {
        w.strip_suffix(',')
            .is_some_and(|day| !day.is_empty() && day.chars().all(char::is_alphabetic))
    }) {
        words.remove(0);
    }
    if words.last().is_some_and(|w| w.ends_with(')'))
        && let Some(open) = words.iter().rposition(|w| w.starts_with('('))
    {
        words.truncate(open);
    }
    let dashed_date = |w: &str| {
        let parts: Vec<&str> = w.split('-').collect();
        parts.len() == 3
            && parts[0].len() <= 2
            && parts[0].bytes().all(|b| b.is_ascii_digit())
            && parts[1].len() >= 3
            && parts[1].bytes().all(|b| b.is_ascii_alphabetic())
            && parts[2].len() >= 2
            && parts[2].bytes().all(|b| b.is_ascii_digit())
    };
    words
        .into_iter()
        .map(|w| {
            if dashed_date(&w) {
                w.replace('-', " ")
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn addresses(value: Option<&mail_parser::Address<'_>>) -> Vec<Address> {
    let Some(value) = value else {
        return Vec::new();
    };
    value
        .iter()
        .filter_map(|a| {
            let (name, email) = read_mailbox(a)?;
            let email = normalize_address(&email);
            if email.is_empty() {
                return None;
            }
            Some(Address { name, email })
        })
        .collect()
}

/// One mailbox of an address header as Coffer reads it: the display name (trimmed, if
/// any) and the address as written (lowercased when its `@` was spelled out), or `None`
/// when there is no address. An address with
/// its `@` spelled out is read as an address (see `spelled_out_address`). Indexing and the
/// rendered message view both read addresses through this.
pub fn read_mailbox(addr: &mail_parser::Addr<'_>) -> Option<(Option<String>, String)> {
    let name = addr
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    match addr.address.as_deref() {
        Some(address) => {
            let address =
                spelled_out_address(address).map_or_else(|| address.to_string(), |(a, _)| a);
            Some((name.map(str::to_string), address))
        }
        // mail-parser reads `alice at example.com (Alice Smith)` as a name alone.
        None => spelled_out_address(name?).map(|(address, comment)| (comment, address)),
    }
}

/// An address with its `@` spelled out, `alice at example.com (Alice Smith)`: how the
/// text archives of Mailman 2 (pipermail), a large share of the public mail on the web,
/// write every From header. Read as `alice@example.com` with the comment as display
/// name, so that such an archive is searchable by sender like any other mail. Only the
/// exact shape `LOCAL at DOMAIN [(comment)]`, with a local part of address characters and
/// a dotted domain, is read; anything else stays what it was (a value without an
/// address, or an address as written).
fn spelled_out_address(text: &str) -> Option<(String, Option<String>)> {
    let text = text.trim();
    let (head, comment) = match text.strip_suffix(')').and_then(|t| t.split_once('(')) {
        Some((head, comment)) => (head, Some(comment.trim()).filter(|c| !c.is_empty())),
        None => (text, None),
    };
    let mut words = head.split_whitespace();
    let (Some(local), Some(at), Some(domain), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return None;
    };
    let local_ok = local
        .chars()
        .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let domain_ok = domain.contains('.')
        && !domain.starts_with(['.', '-'])
        && !domain.ends_with(['.', '-'])
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-');
    (at.eq_ignore_ascii_case("at") && local_ok && domain_ok).then(|| {
        (
            format!("{local}@{domain}").to_lowercase(),
            comment.map(str::to_string),
        )
    })
}

/// The Subject as Coffer reads it (trimmed; `None` when empty): mail-parser's, except
/// raw 8-bit bytes (see `raw_8bit_subject`). Indexing and the rendered view both use it.
pub fn subject_of(message: &Message<'_>) -> Option<String> {
    raw_8bit_subject(message)
        .or_else(|| message.subject().map(|s| s.trim().to_string()))
        .filter(|s| !s.is_empty())
}

/// The Subject when the sender's client wrote it in raw 8-bit bytes that are not UTF-8
/// (no encoded words): mail-parser made each such byte a U+FFFD. Decoded as mail clients
/// do, with the charset the message declares for its text, or windows-1252 when it
/// declares none (or only US-ASCII or UTF-8, which such bytes cannot be). `None` for every
/// other Subject, which mail-parser reads.
fn raw_8bit_subject(message: &Message<'_>) -> Option<String> {
    let header = message
        .headers()
        .iter()
        .rev()
        .find(|h| h.name == mail_parser::HeaderName::Subject)?;
    let raw = message
        .raw_message
        .get(header.offset_start as usize..header.offset_end as usize)?;
    if std::str::from_utf8(raw).is_ok() || memchr::memmem::find(raw, b"=?").is_some() {
        return None;
    }
    // The first charset of a text part that 8-bit bytes can be in and that can be decoded;
    // US-ASCII and UTF-8 cannot be such bytes, and an unknown name (`unknown-8bit`) says
    // nothing: then windows-1252.
    let charset = message
        .parts
        .iter()
        .filter_map(|part| part.content_type())
        .filter(|ct| ct.ctype().eq_ignore_ascii_case("text"))
        .find_map(|ct| {
            ct.attribute("charset").filter(|c| {
                let c = c.trim();
                !is_utf8_or_ascii(c) && charset_decoder(c.as_bytes()).is_some()
            })
        });
    let text = decode_text(raw, charset);
    Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
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

/// Lowercases and trims an address, removing angle brackets and the whitespace that the
/// obsolete syntax allows around the `@` (RFC 5322 §4.4: `bob @ example.com`).
pub fn normalize_address(address: &str) -> String {
    let address = address
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    // The last `@` separates the domain; a quoted local part (`"a @ b"@example.com`, where
    // spaces are part of the mailbox) is left as it is.
    match address.rsplit_once('@') {
        Some((local, domain))
            if !local.contains('"')
                && (local.ends_with(char::is_whitespace)
                    || domain.starts_with(char::is_whitespace)) =>
        {
            format!("{}@{}", local.trim_end(), domain.trim_start()).to_lowercase()
        }
        _ => address.to_lowercase(),
    }
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
mod journal_recipient_tests {
    use super::journal_recipient;

    #[test]
    fn journal_addresses_name_nobody_or_the_recipient_they_encode() {
        let journal = vec!["journal@archive.example".to_string()];
        let r = |rcpt: &str| journal_recipient(rcpt, &journal);
        assert_eq!(r("bob@example.com").as_deref(), Some("bob@example.com"));
        assert_eq!(r("journal@archive.example"), None);
        assert_eq!(
            r("journal+bob=example.com@archive.example").as_deref(),
            Some("bob@example.com")
        );
        assert_eq!(
            r("journal+a.b+tag=sub.example.com@archive.example").as_deref(),
            Some("a.b+tag@sub.example.com")
        );
        assert_eq!(r("journal+nothing@archive.example"), None);
        assert_eq!(
            r("other+bob=example.com@archive.example").as_deref(),
            Some("other+bob=example.com@archive.example"),
            "not a journal address: an ordinary recipient"
        );
        assert_eq!(r(""), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc_of(raw: &str) -> MessageDoc {
        doc_of_bytes(raw.as_bytes())
    }

    fn doc_of_bytes(raw: &[u8]) -> MessageDoc {
        build_doc(
            raw,
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
    fn whitespace_around_the_at_sign_is_not_part_of_the_address() {
        let d = doc_of(
            "From: alice\t@ example.com\r\nTo: bob @ example.com, Carol <carol @Example.org>\r\n\r\nx\r\n",
        );
        assert_eq!(d.from[0].email, "alice@example.com");
        let to: Vec<&str> = d.to.iter().map(|a| a.email.as_str()).collect();
        assert_eq!(to, ["bob@example.com", "carol@example.org"]);
        assert_eq!(
            normalize_address(" <Dave@Example.com> "),
            "dave@example.com"
        );
        assert_eq!(
            normalize_address("\"a @ b\"@Example.com"),
            "\"a @ b\"@example.com",
            "quoted local part"
        );
        assert_eq!(normalize_address("a@b @ example.com"), "a@b@example.com");
    }

    #[test]
    fn addresses_with_the_at_spelled_out_are_read_as_addresses() {
        // Mailman 2's text archives (pipermail) write every From header this way.
        let d = doc_of(
            "From: alice at Example.com (Alice Smith)\r\nTo: Bob <bob.jones at example.org>, \
             carol at mail.example.net\r\nCc: Meet me at example.com, Team at localhost, \
             Undisclosed recipients\r\nSubject: s\r\n\r\nx\r\n",
        );
        assert_eq!(
            d.from,
            vec![Address {
                name: Some("Alice Smith".into()),
                email: "alice@example.com".into()
            }]
        );
        assert_eq!(
            d.to,
            vec![
                Address {
                    name: Some("Bob".into()),
                    email: "bob.jones@example.org".into()
                },
                Address {
                    name: None,
                    email: "carol@mail.example.net".into()
                }
            ]
        );
        // Other shapes are not taken for addresses: more words, no dotted domain, no `at`.
        assert!(d.cc.is_empty(), "{:?}", d.cc);
        for text in [
            "alice at example..com",
            "alice at .example.com",
            "alice at example.com extra",
            "al(ice at example.com",
            "alice in example.com",
        ] {
            assert_eq!(spelled_out_address(text), None, "{text}");
        }
        let local = assign_mailboxes(&d, &MailboxPolicy::LocalDomains(vec!["example.com".into()]));
        assert_eq!(local, vec!["alice@example.com"]);
    }

    #[test]
    fn text_without_a_declared_charset_is_utf8_or_else_windows_1252() {
        let body_of = |raw: &[u8]| doc_of_bytes(raw).body;
        // Undeclared 8-bit text (old mailing-list archives): windows-1252, not U+FFFD.
        let latin = b"From: a@example.com\r\n\r\nthe caf\xe9 in M\xfcnchen \x93quoted\x94\r\n";
        assert_eq!(body_of(latin).trim(), "the café in München “quoted”");
        let typed = b"From: a@example.com\r\nContent-Type: text/plain\r\n\r\ncaf\xe9\r\n";
        assert_eq!(body_of(typed).trim(), "café");
        // Undeclared UTF-8 stays UTF-8.
        assert_eq!(
            body_of("From: a@example.com\r\n\r\nGrüße, 東京\r\n".as_bytes()).trim(),
            "Grüße, 東京"
        );
        // A declared charset wins; declared UTF-8 that is not UTF-8 stays lossy.
        let declared = b"From: a@example.com\r\nContent-Type: text/plain; charset=iso-8859-2\r\n\r\n\xb3\xf3d\xbc\r\n";
        assert_eq!(body_of(declared).trim(), "łódź");
        let lying =
            b"From: a@example.com\r\nContent-Type: text/plain; charset=utf-8\r\n\r\ncaf\xe9\r\n";
        assert_eq!(body_of(lying).trim(), "caf\u{fffd}");
    }

    #[test]
    fn raw_8bit_subjects_are_read_with_the_message_charset() {
        let subject_of = |raw: &[u8]| doc_of_bytes(raw).subject;
        // No charset anywhere: windows-1252.
        let latin = b"From: a@example.com\r\nSubject: na\xefve caf\xe9\r\n\tfolded\r\n\r\nx\r\n";
        assert_eq!(subject_of(latin).as_deref(), Some("naïve café folded"));
        // The charset the message declares for its text (raw GB2312, as in old spam).
        let chinese = b"From: a@example.com\r\nSubject: \xc4\xe3\xba\xc3\r\n\
Content-Type: text/plain; charset=gb2312\r\n\r\n\xc4\xe3\xba\xc3\r\n";
        assert_eq!(subject_of(chinese).as_deref(), Some("你好"));
        // The first text charset that can hold 8-bit bytes, past US-ASCII parts; an unknown
        // charset name says nothing (windows-1252).
        let russian = b"From: a@example.com\r\nSubject: \xf0\xd2\xc9\xd7\xc5\xd4\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
hi\r\n--b\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n\xf0\xd2\xc9\xd7\xc5\xd4\r\n--b--\r\n";
        assert_eq!(subject_of(russian).as_deref(), Some("Привет"));
        let unknown = b"From: a@example.com\r\nSubject: caf\xe9\r\n\
Content-Type: text/plain; charset=unknown-8bit\r\n\r\ncaf\xe9\r\n";
        assert_eq!(subject_of(unknown).as_deref(), Some("café"));
        // UTF-8 and encoded words are mail-parser's.
        assert_eq!(
            subject_of("From: a@example.com\r\nSubject: Grüße\r\n\r\nx\r\n".as_bytes()).as_deref(),
            Some("Grüße")
        );
        let encoded = b"From: a@example.com\r\nSubject: =?iso-8859-1?q?caf=e9?=\r\n\r\nx\r\n";
        assert_eq!(subject_of(encoded).as_deref(), Some("café"));
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
    fn real_world_date_forms_are_read() {
        let date = |header: &str| {
            let d = doc_of(&format!(
                "Received: from x by y; Wed, 4 Mar 2026 10:00:00 +0000\r\nFrom: a@b.c\r\n\
                 Date: {header}\r\n\r\nx\r\n"
            ));
            (d.date, d.flags.contains(MessageFlags::DATE_UNRELIABLE))
        };
        // 2002-08-23 19:27:52 UTC.
        let expected = (Some(1_030_130_872), false);
        assert_eq!(date("Fri, 23 Aug 2002 19:27:52 +0000"), expected);
        assert_eq!(date("Fri, 23 Aug 2002 19:27:52"), expected, "no zone: UTC");
        assert_eq!(date("23 Aug 2002 19:27:52"), expected);
        assert_eq!(date("Fri Aug 23 19:27:52 2002"), expected, "asctime");
        assert_eq!(date("Fri, 23 Aug 0102 19:27:52 +0000"), expected, "Y2K bug");
        assert_eq!(date("Fri, 23 Aug 102 19:27:52 +0000"), expected);
        // Forms mail-parser does not read, with their zones applied.
        assert_eq!(
            date("Fri, 23 August 2002 12:27:52 -0700"),
            expected,
            "month name"
        );
        assert_eq!(date("Friday, 23 August 2002 21:27:52 +0200"), expected);
        assert_eq!(
            date("Fri, 23-Aug-2002 12:27:52 -0700 (PDT)"),
            expected,
            "dashes"
        );
        assert_eq!(date("23-Aug-2002 19:27:52"), expected);
        assert_eq!(
            date("Fri, 23 August 2002 12:27:52 -07:00"),
            expected,
            "zone -07:00"
        );
        assert_eq!(date("23 August 2002 19:27"), (Some(1_030_130_820), false));
        assert_eq!(
            date("Mon, 23 August 2002 19:27:52 +0000"),
            expected,
            "wrong weekday"
        );
        // Not a date at all: the newest Received date, flagged.
        assert_eq!(
            date("2002/09/14 Sat 02:29:32 CDT"),
            (Some(1_772_618_400), true)
        );
    }

    #[test]
    fn a_base64_text_part_without_its_closing_boundary_is_still_the_body() {
        // Seen in real mail (SpamAssassin corpus): multipart/mixed, one base64 text/html
        // part, a blank line before the base64, no closing boundary.
        let html = "<html><body><p>Please read this message &amp; reply</p></body></html>";
        let encoded = base64::engine::general_purpose::STANDARD.encode(html);
        let d = doc_of(&format!(
            "From: a@b.c\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
             --XX\r\nContent-Type: text/html; charset=\"iso-8859-1\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n\r\n{}\r\n{}\r\n",
            &encoded[..40],
            &encoded[40..]
        ));
        assert!(
            d.body.contains("Please read this message & reply"),
            "{:?}",
            d.body
        );
        assert!(d.attachments.is_empty(), "{:?}", d.attachments);
        assert!(d.flags.contains(MessageFlags::ENCODING_PROBLEM));
    }

    /// Seen in real mail (SpamAssassin): a lone base64 text/plain body with a mailing
    /// list's footer appended in plain text. mail-parser gives up on the base64 and keeps
    /// the encoded text as the body; the body is its decoded text (in its charset) up to
    /// the padding, not base64 "words", and the read-back text is the same.
    #[test]
    fn a_lone_base64_text_body_followed_by_plain_text_is_decoded() {
        use base64::Engine as _;
        // "交友 贺卡 www.njchina.com!" in GB2312.
        let gb2312 = b"\xbd\xbb\xd3\xd1 \xba\xd8\xbf\xa8 www.njchina.com!\r\n";
        let encoded = base64::engine::general_purpose::STANDARD.encode(gb2312);
        assert!(encoded.ends_with('='), "{encoded}");
        let raw = format!(
            "From: a@b.c\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"GB2312\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--End--\r\n\r\n\
             ------\r\nlist footer https://lists.example.net/listinfo\r\n"
        );
        let d = doc_of(&raw);
        // Exactly the text: the footer is neither decoded as base64 nor kept.
        assert_eq!(
            d.body.trim_end(),
            "交友 贺卡 www.njchina.com!",
            "{:?}",
            d.body
        );
        assert!(d.flags.contains(MessageFlags::ENCODING_PROBLEM));
        assert_eq!(body_text(raw.as_bytes()), d.body);
        assert_eq!(snippet_text(raw.as_bytes()), d.body);

        // The same as HTML, without padding: the text after it is read as base64 and
        // ignored where it is not, as before; the HTML's own words are all there.
        let html = "<html><body><p>Programimiz yeni surum</p></body></html>\r\n";
        let encoded = base64::engine::general_purpose::STANDARD.encode(html);
        let encoded = encoded.trim_end_matches('=');
        let d = doc_of(&format!(
            "From: a@b.c\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n\r\n-----\r\nfooter\r\n"
        ));
        assert!(d.body.contains("Programimiz yeni surum"), "{:?}", d.body);
    }

    /// Seen in real mail (SpamAssassin): a list footer after a multipart's last
    /// boundary, never closed, is a part without header fields: text/plain (RFC 2046,
    /// 5.1.1), so body, not an attachment.
    #[test]
    fn a_part_without_header_fields_is_body_text() {
        let raw = "From: a@b.c\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XX\"\n\n\
                   --XX\nContent-Type: text/plain\n\nfirst part\n\n\
                   --XX\nContent-Type: application/octet-stream; name=\"a.bin\"\n\
                   Content-Disposition: attachment; filename=\"a.bin\"\n\nAAAA\n\
                   --XX\n\n\n----\nlist footer words\n";
        let d = doc_of(raw);
        assert!(d.body.starts_with("first part"), "{:?}", d.body);
        assert!(d.body.contains("list footer words"), "{:?}", d.body);
        assert_eq!(d.attachments.len(), 1, "{:?}", d.attachments);
        assert_eq!(body_text(raw.as_bytes()), d.body);
        assert_eq!(snippet_text(raw.as_bytes()), d.body);
    }

    /// Seen in real mail (SpamAssassin `easy_ham`, `Date: ... 16:50:54 UT`): a Date
    /// field ending in a one- or two-letter zone lost its line break to the zone parser
    /// (vendored mail-parser, `obs_zone`), and the next field or the body's first
    /// paragraph was swallowed by the Date field: unsearchable, and missing from the
    /// rendered view.
    #[test]
    fn a_short_zone_name_ends_the_date_field_where_its_line_ends() {
        for zone in ["UT", "Z", "A", "GMT", "EDT"] {
            for eol in ["\n", "\r\n"] {
                let raw = format!(
                    "From: a@b.c{eol}Date: Sun, 25 Aug 2002 16:50:54 {zone}{eol}\
                     Subject: kept subject{eol}{eol}first paragraph{eol}{eol}second{eol}"
                );
                let d = doc_of(&raw);
                assert_eq!(d.subject.as_deref(), Some("kept subject"), "{zone} {eol:?}");
                assert!(
                    d.body.starts_with("first paragraph"),
                    "{zone} {eol:?}: {:?}",
                    d.body
                );
                assert_eq!(body_text(raw.as_bytes()), d.body);
                let raw = format!(
                    "From: a@b.c{eol}Date: Sun, 25 Aug 2002 16:50:54 {zone}{eol}{eol}\
                     first paragraph{eol}{eol}second{eol}"
                );
                let d = doc_of(&raw);
                assert!(
                    d.body.starts_with("first paragraph"),
                    "{zone} {eol:?}: {:?}",
                    d.body
                );
                let date = d.date.expect("a date");
                assert_eq!(
                    date,
                    1_030_294_254 - if zone == "EDT" { -4 * 3600 } else { 0 }
                );
            }
        }
    }

    #[test]
    fn quoted_printable_mail_parser_rejects_is_still_decoded() {
        // Seen in real mail: a stray "==" makes mail-parser keep the encoded text.
        let d = doc_of(
            "From: a@b.c\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=\"XX\"\r\n\r\n\
             --XX\r\nContent-Type: text/html; charset=us-ascii\r\n\
             Content-Transfer-Encoding: quoted-printable\r\n\r\n\
             <p>Political System =3D good ==\r\nspecial=\r\nized</p>\r\n--XX--\r\n",
        );
        assert!(d.body.contains("Political System = good"), "{:?}", d.body);
        assert!(d.body.contains("specialized"), "{:?}", d.body);
        assert!(d.attachments.is_empty(), "{:?}", d.attachments);
    }

    #[test]
    fn a_text_part_without_subtype_is_plain_text() {
        let d = doc_of(
            "From: a@b.c\r\nMIME-Version: 1.0\r\nContent-Type: text; charset=us-ascii\r\n\
             Content-Transfer-Encoding: 7bit\r\n\r\nThis message has no subtype.\r\n",
        );
        assert!(
            d.body.contains("This message has no subtype."),
            "{:?}",
            d.body
        );
        assert!(d.attachments.is_empty(), "{:?}", d.attachments);
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        /// MIME skeletons with random pieces: broken encodings, missing boundaries,
        /// odd content types and dates, to reach the recovery paths.
        fn mimeish() -> impl Strategy<Value = Vec<u8>> {
            crate::fuzz::pieces_after(
                b"From: a@b.c\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n",
                &[
                    b"--XX\r\n",
                    b"--XX--\r\n",
                    b"Content-Type: text/html; charset=gb2312\r\n",
                    b"Content-Type: text\r\n",
                    b"Content-Type: text/plain; name=a.txt\r\n",
                    b"Content-Type: message/rfc822\r\n",
                    b"Content-Disposition: attachment\r\n",
                    b"Content-Transfer-Encoding: base64\r\n",
                    b"Content-Transfer-Encoding: quoted-printable\r\n",
                    b"Date: Fri, 23 Aug 0102 19:27:52\r\n",
                    b"\r\n",
                    b"PGh0bWw+PGJvZHk+aGk8L2JvZHk+PC9odG1sPg==\r\n",
                    b"a ==\r\n=3D=\r\n<p>x</p><!-- y\r\n",
                ],
                30,
                32,
            )
        }

        proptest! {
            #![proptest_config(crate::fuzz::config())]

            #[test]
            fn any_input_becomes_a_document(raw in prop_oneof![proptest::collection::vec(any::<u8>(), 0..2048), mimeish()]) {
                let doc = build_doc(
                    &raw,
                    Sha256::default(),
                    1_800_000_000,
                    &MessageMeta::default(),
                    Some(&ExtractLimits::default()),
                );
                prop_assert_eq!(doc.size, raw.len() as u64);
                prop_assert!(doc.body.len() <= MAX_BODY_CHARS + 4);
                // The read-back path finds the body the index holds.
                prop_assert_eq!(&body_text(&raw), &doc.body);
                prop_assert_eq!(coffer_extract::words_missing_from(&snippet_text(&raw), &doc.body), Vec::<String>::new());
            }
        }
    }

    /// An HTML body is read back for a snippet by the tag stripper alone: not the
    /// rendering the index holds, but only words it holds, the query's among them.
    #[test]
    fn an_html_body_is_read_back_as_stripped_text_of_indexed_words() {
        let raw = "From: a@b.c\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
                   <html><body><p>Quarterly <b>figures</b> &amp; notes</p>\
                   <table><tr><td>north</td><td>south</td></tr></table>\
                   <p>The zanzibar clause is at the end.</p></body></html>\r\n";
        let doc = doc_of(raw);
        let snippet = snippet_text(raw.as_bytes());
        assert_ne!(snippet, doc.body, "the index holds html2text's rendering");
        assert_eq!(body_text(raw.as_bytes()), doc.body);
        assert!(snippet.contains("The zanzibar clause"), "{snippet:?}");
        assert!(snippet.contains("figures & notes"), "{snippet:?}");
        assert_eq!(
            coffer_extract::words_missing_from(&snippet, &doc.body),
            Vec::<String>::new()
        );
    }

    /// The read-back text of a plain-text body is the indexed body; of an HTML body, the
    /// tag stripper's text, every word of which the index holds.
    #[test]
    fn body_text_is_the_indexed_body_for_every_fixture() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/eml");
        let mut checked = 0;
        let mut journal_reports = 0;
        for dir in std::fs::read_dir(&root).unwrap() {
            let dir = dir.unwrap().path();
            if !dir.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&dir).unwrap() {
                let path = file.unwrap().path();
                if path.extension().is_some_and(|e| e == "json" || e == "md") {
                    continue;
                }
                let raw = std::fs::read(&path).unwrap();
                let doc = doc_of_bytes(&raw);
                assert_eq!(body_text(&raw), doc.body, "{}", path.display());
                let snippet = snippet_text(&raw);
                assert_eq!(
                    coffer_extract::words_missing_from(&snippet, &doc.body),
                    Vec::<String>::new(),
                    "{}",
                    path.display()
                );
                checked += 1;
                if doc.flags.contains(MessageFlags::JOURNAL_REPORT) {
                    journal_reports += 1;
                }
            }
        }
        assert!(checked >= 30, "only {checked} fixtures");
        assert!(journal_reports > 0, "no journal report among the fixtures");
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
