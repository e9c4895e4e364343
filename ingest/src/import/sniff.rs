//! Is this input mail at all? A cheap, pure heuristic over the first bytes of a file.
//!
//! [`looks_like_mail`] decides between "mail, perhaps badly broken" (archive it, raw, and let
//! the parser flag what is wrong) and "not mail at all" (reject it with a precise
//! [`NotMailReason`]). It must never reject real mail, however malformed, so it only looks
//! at what every message has: a header block at the top.
//!
//! The rules, in order:
//! 1. An empty input is [`NotMailReason::Empty`]; one made only of whitespace is
//!    [`NotMailReason::Blank`].
//! 2. A file that starts with the magic number of a well-known binary format (PNG, JPEG,
//!    GIF, PDF, ZIP/Office, gzip, bzip2, xz, zstd, 7z, RAR, ELF, PE, OLE2 (Outlook `.msg`),
//!    SQLite, ...) is [`NotMailReason::BinaryFormat`], naming the format.
//! 3. The header block is the text before the first empty line (a UTF-8 byte-order mark and
//!    leading empty lines are tolerated), looked at up to [`SNIFF_LIMIT`] bytes. A NUL byte
//!    in it is [`NotMailReason::NulInHeaders`]; many other control bytes (more than 2 %,
//!    ESC excepted because ISO-2022-JP uses it) are [`NotMailReason::ControlBytes`].
//! 4. Its first line must be a header field (`Name: value`, the name made of printable
//!    ASCII), or an mbox `From ` line followed by one; otherwise
//!    [`NotMailReason::NoHeaderLine`].
//! 5. At least one field must be one that mail carries ([`is_mail_field_name`]: `From`,
//!    `To`, `Subject`, `Date`, `Message-ID`, `Received`, `Return-Path`, `MIME-Version`,
//!    `Content-*`, `X-*`, ...); a text file that merely starts with `Note: ...` is
//!    [`NotMailReason::NoMailHeaders`].
//!
//! Reasons carry offsets and counts only, never bytes of the input, so they can be logged
//! and shown in the import summary.

/// How many bytes of the header block [`looks_like_mail`] examines at most.
pub const SNIFF_LIMIT: usize = 64 * 1024;

/// Why an input is not mail at all. Shown to the operator in the import summary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotMailReason {
    /// The input has no bytes.
    #[error("empty file")]
    Empty,
    /// The input is only spaces, tabs and line breaks.
    #[error("only whitespace, no header lines")]
    Blank,
    /// The input starts with the signature of a known binary format.
    #[error("binary file ({format}), not an RFC 5322 message")]
    BinaryFormat {
        /// Name of the detected format, e.g. `"PNG image"`.
        format: &'static str,
    },
    /// A NUL byte inside the header block.
    #[error("NUL byte in the header block at byte {offset}")]
    NulInHeaders {
        /// Byte offset of the first NUL from the start of the input.
        offset: usize,
    },
    /// Too many control bytes in the header block: binary data, not text.
    #[error("binary data in the header block ({count} control bytes in the first {scanned} bytes)")]
    ControlBytes {
        /// Number of control bytes found.
        count: usize,
        /// Number of bytes examined.
        scanned: usize,
    },
    /// The first line is not a header field (`Name: value`).
    #[error("no header lines: the first line is not a header field")]
    NoHeaderLine,
    /// There are `Name: value` lines, but none is a field that mail carries.
    #[error("no mail header field (From, To, Subject, Date, Message-ID, Received, ...)")]
    NoMailHeaders,
}

/// Signatures of common non-mail formats, checked against the first bytes.
const MAGIC: &[(&[u8], &str)] = &[
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"%PDF-", "PDF document"),
    (b"PK\x03\x04", "ZIP archive or Office document"),
    (b"PK\x05\x06", "ZIP archive"),
    (b"\x1f\x8b", "gzip archive"),
    (b"BZh", "bzip2 archive"),
    (b"\xfd7zXZ\x00", "xz archive"),
    (b"\x28\xb5\x2f\xfd", "zstd archive"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"Rar!\x1a\x07", "RAR archive"),
    (b"\x7fELF", "ELF executable"),
    (b"MZ", "Windows executable"),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "OLE2 compound file (Outlook .msg or legacy Office)",
    ),
    (b"SQLite format 3\x00", "SQLite database"),
    (b"!BDN", "Outlook PST/OST file"),
    (b"RIFF", "RIFF media file"),
    (b"OggS", "Ogg media file"),
    (b"ID3", "MP3 audio"),
    (b"\x00\x00\x01\x00", "icon image"),
    (b"II*\x00", "TIFF image"),
    (b"MM\x00*", "TIFF image"),
    (b"BM", "bitmap image"),
];

/// Decides whether `raw` is an RFC 5322 message (possibly malformed) or not mail at all.
///
/// Pure and cheap: it reads at most [`SNIFF_LIMIT`] bytes of the header block. See the
/// module docs for the rules.
pub fn looks_like_mail(raw: &[u8]) -> Result<(), NotMailReason> {
    if raw.is_empty() {
        return Err(NotMailReason::Empty);
    }
    if let Some(format) = binary_format(raw) {
        return Err(NotMailReason::BinaryFormat { format });
    }
    let start = skip_bom_and_blank_lines(raw);
    if start >= raw.len() || raw[start..].iter().all(|b| b.is_ascii_whitespace()) {
        return Err(NotMailReason::Blank);
    }
    let block = header_block(&raw[start..], SNIFF_LIMIT);
    if let Some(pos) = memchr::memchr(0, block) {
        return Err(NotMailReason::NulInHeaders {
            offset: start + pos,
        });
    }
    let control = block
        .iter()
        .filter(|&&b| (b < 0x20 && !matches!(b, b'\t' | b'\r' | b'\n' | 0x1b | 0x0c)) || b == 0x7f)
        .count();
    if control >= 4 && control * 50 > block.len() {
        return Err(NotMailReason::ControlBytes {
            count: control,
            scanned: block.len(),
        });
    }

    let mut lines = block.split(|&b| b == b'\n').map(trim_cr);
    let mut first = lines.next().unwrap_or_default();
    if first.starts_with(b"From ") {
        // An mbox envelope line left in front of a single message.
        first = lines.next().unwrap_or_default();
    }
    if field_name(first).is_none() {
        return Err(NotMailReason::NoHeaderLine);
    }
    let mail_field = std::iter::once(first)
        .chain(lines)
        .filter_map(field_name)
        .any(is_mail_field_name);
    if !mail_field {
        return Err(NotMailReason::NoMailHeaders);
    }
    Ok(())
}

/// The name of a known binary format if `raw` starts with its signature.
///
/// Signatures shorter than four bytes that are printable ASCII (`MZ`, `BM`, `ID3`, `BZh`)
/// count only when the first line is not a header field, so that a message whose first
/// field happens to start with those letters is not mistaken for a binary file.
fn binary_format(raw: &[u8]) -> Option<&'static str> {
    let (magic, name) = MAGIC.iter().find(|(magic, _)| raw.starts_with(magic))?;
    if magic.len() < 4 && magic.iter().all(u8::is_ascii_graphic) {
        let first_line = raw.split(|&b| b == b'\n').next().unwrap_or_default();
        if field_name(trim_cr(first_line)).is_some() {
            return None;
        }
    }
    Some(name)
}

/// Offset of the first byte after a UTF-8 byte-order mark and any empty lines.
fn skip_bom_and_blank_lines(raw: &[u8]) -> usize {
    let mut pos = if raw.starts_with(b"\xef\xbb\xbf") {
        3
    } else {
        0
    };
    loop {
        match raw.get(pos..) {
            Some([b'\n', ..]) => pos += 1,
            Some([b'\r', b'\n', ..]) => pos += 2,
            _ => return pos,
        }
    }
}

/// The header block of `raw`: everything before the first empty line (LF or CRLF),
/// at most `limit` bytes. Without an empty line the whole input (up to `limit`) is taken.
pub(crate) fn header_block(raw: &[u8], limit: usize) -> &[u8] {
    let window = &raw[..raw.len().min(limit)];
    if window.starts_with(b"\n") || window.starts_with(b"\r\n") {
        return &[];
    }
    let mut search = 0;
    while let Some(pos) = memchr::memchr(b'\n', &window[search..]) {
        let newline = search + pos;
        match window.get(newline + 1..) {
            Some([b'\n', ..]) | Some([b'\r', b'\n', ..]) => return &window[..=newline],
            _ => search = newline + 1,
        }
    }
    window
}

/// `line` without a trailing `\r`.
pub(crate) fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// If `line` is a header field (`name ":" ...`, RFC 5322 ftext name, optionally followed
/// by blanks before the colon as obsolete syntax allows), its name.
pub(crate) fn field_name(line: &[u8]) -> Option<&[u8]> {
    let colon = memchr::memchr(b':', line)?;
    let name = &line[..colon];
    let name_end = name
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |p| p + 1);
    let name = &name[..name_end];
    let valid = !name.is_empty()
        && name.len() <= 256
        && name.iter().all(|&b| (33..=126).contains(&b) && b != b':');
    valid.then_some(name)
}

/// Whether a header field name is one that e-mail carries (RFC 5322, MIME, transport,
/// list and authentication fields, and any `X-` field).
pub fn is_mail_field_name(name: &[u8]) -> bool {
    const NAMES: &[&str] = &[
        "from",
        "to",
        "cc",
        "bcc",
        "sender",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "received",
        "return-path",
        "delivered-to",
        "envelope-to",
        "mime-version",
        "comments",
        "keywords",
        "thread-topic",
        "thread-index",
        "importance",
        "priority",
        "organization",
        "user-agent",
        "dkim-signature",
        "domainkey-signature",
        "authentication-results",
        "received-spf",
        "precedence",
        "auto-submitted",
        "disposition-notification-to",
        "errors-to",
        "apparently-to",
        "newsgroups",
        "path",
        "status",
        "lines",
    ];
    const PREFIXES: &[&str] = &["x-", "content-", "resent-", "list-", "arc-", "accept-"];
    let lower = name.to_ascii_lowercase();
    NAMES.iter().any(|n| lower == n.as_bytes())
        || PREFIXES.iter().any(|p| lower.starts_with(p.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_message() {
        assert_eq!(
            looks_like_mail(b"From: a@b.c\r\nSubject: hi\r\n\r\nbody\r\n"),
            Ok(())
        );
        assert_eq!(looks_like_mail(b"Subject: only\n\nbody"), Ok(()));
        assert_eq!(looks_like_mail(b"Received: from x\n by y\nX: z\n"), Ok(()));
        assert_eq!(looks_like_mail(b"Return-Path: <>\n"), Ok(()));
    }

    #[test]
    fn accepts_mbox_from_line_bom_and_leading_blank_lines() {
        assert_eq!(
            looks_like_mail(b"From a@b Mon Jan  1 00:00:00 2024\nFrom: a@b\n\nx"),
            Ok(())
        );
        assert_eq!(looks_like_mail(b"\xef\xbb\xbfDate: now\n\nx"), Ok(()));
        assert_eq!(looks_like_mail(b"\r\n\nMessage-ID: <x@y>\n"), Ok(()));
    }

    #[test]
    fn accepts_garbage_after_a_valid_first_field() {
        let raw = b"From: a@b\nthis is not a header\n\x01 weird\nSubject: x\n\nbody";
        assert_eq!(looks_like_mail(raw), Ok(()));
        // Obsolete syntax: blanks before the colon.
        assert_eq!(looks_like_mail(b"Subject : x\n\n"), Ok(()));
        // ISO-2022-JP raw bytes use ESC in headers.
        assert_eq!(looks_like_mail(b"Subject: \x1b$B$3$s\x1b(B\n\n"), Ok(()));
    }

    #[test]
    fn rejects_empty_and_blank() {
        assert_eq!(looks_like_mail(b""), Err(NotMailReason::Empty));
        assert_eq!(looks_like_mail(b"\n\r\n  \t\n"), Err(NotMailReason::Blank));
    }

    #[test]
    fn rejects_binary_formats() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert!(matches!(
            looks_like_mail(png),
            Err(NotMailReason::BinaryFormat {
                format: "PNG image"
            })
        ));
        assert!(matches!(
            looks_like_mail(b"PK\x03\x04\x14\0"),
            Err(NotMailReason::BinaryFormat { .. })
        ));
        assert!(matches!(
            looks_like_mail(b"%PDF-1.7\n"),
            Err(NotMailReason::BinaryFormat { .. })
        ));
        assert!(matches!(
            looks_like_mail(b"MZ\x90\0\x03"),
            Err(NotMailReason::BinaryFormat { .. })
        ));
        // A header that merely starts like a short signature is still mail.
        assert_eq!(looks_like_mail(b"BMW-Campaign: x\nSubject: y\n\n"), Ok(()));
    }

    #[test]
    fn rejects_nul_and_control_bytes() {
        assert_eq!(
            looks_like_mail(b"From: a\0b\n\n"),
            Err(NotMailReason::NulInHeaders { offset: 7 })
        );
        let junk: Vec<u8> = b"Subject: x\n"
            .iter()
            .copied()
            .chain((0..100).map(|i| (i % 8) as u8 + 1))
            .collect();
        assert!(matches!(
            looks_like_mail(&junk),
            Err(NotMailReason::ControlBytes { .. })
        ));
        // NUL in the body is fine (binary attachments sent as 8bit exist).
        assert_eq!(looks_like_mail(b"From: a\n\nbody\0\0"), Ok(()));
    }

    #[test]
    fn rejects_text_without_headers() {
        assert_eq!(
            looks_like_mail(b"Hello world\nsecond line\n"),
            Err(NotMailReason::NoHeaderLine)
        );
        // `{"json"` is a valid RFC 5322 field name, but not one that mail carries.
        assert_eq!(
            looks_like_mail(b"{\"json\": true}\n"),
            Err(NotMailReason::NoMailHeaders)
        );
        assert_eq!(
            looks_like_mail(b"<html>\n"),
            Err(NotMailReason::NoHeaderLine)
        );
        assert_eq!(
            looks_like_mail(b"Note: buy milk\nTodo: eggs\n"),
            Err(NotMailReason::NoMailHeaders)
        );
        assert_eq!(
            looks_like_mail(b"From nobody\nplain text\n"),
            Err(NotMailReason::NoHeaderLine)
        );
    }

    #[test]
    fn header_block_bounds() {
        let raw = b"A: 1\r\nB: 2\r\n folded\r\n\r\nbody: no\r\n";
        assert_eq!(header_block(raw, 1000), b"A: 1\r\nB: 2\r\n folded\r\n");
        assert_eq!(header_block(raw, 4), b"A: 1");
        assert_eq!(header_block(b"\nbody", 100), b"");
        assert_eq!(header_block(b"A: 1", 100), b"A: 1");
    }
}
