//! The identity of a message across journal copies.
//!
//! A journaling mail system may send the archive the same message more than once: once
//! per recipient server, or once per journal rule, each copy with its own trace header
//! fields (`Received`, `Return-Path`, `Delivered-To`, authentication results, Exchange
//! transport headers). The SHA-256 of the bytes differs between such copies, so it cannot
//! recognise them; yet two genuinely different messages must never be merged.
//!
//! **Identity** = SHA-256 over:
//! - every header field of the message *except* fields that relays add in transit
//!   ([`is_transport_field`]), in their original order, each as its unfolded
//!   `name:value` with the name lowercased, line endings normalised to LF and runs of
//!   whitespace in the value collapsed;
//! - a separator;
//! - the body bytes exactly, with line endings normalised to LF (a relay may convert
//!   CRLF/LF; it may not change anything else).
//!
//! For a journal report the identity is that of the unwrapped original. Two messages
//! share an identity only when their author-side headers (From, To, Cc, Subject, Date,
//! Message-ID, MIME structure, ...) and their bodies are identical byte for byte: then
//! they are the same message, delivered twice. A message without any author-side header
//! field (malformed input) gets no identity and is deduplicated by its exact bytes only.

use sha2::{Digest, Sha256};

use coffer_model::Sha256 as Digest32;

/// Header fields added or rewritten by relays, ignored by [`identity`]. Matched
/// case-insensitively; entries ending in `*` are prefixes.
const TRANSPORT_FIELDS: &[&str] = &[
    "received",
    "x-received",
    "return-path",
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "x-envelope-to",
    "x-envelope-from",
    "authentication-results",
    "arc-*",
    "received-spf",
    "x-spam-*",
    "x-virus-*",
    "x-forwarded-*",
    "x-ms-exchange-*",
    "x-ms-journal-report",
    "x-ms-has-attach",
    "x-ms-tnef-correlator",
    "x-ms-office365-*",
    "x-microsoft-antispam*",
    "x-forefront-*",
    "x-eopattributedmessage",
    "x-originating-ip",
    "x-google-smtp-source",
    "x-gm-message-state",
    "x-mailgun-*",
    "x-barracuda-*",
    "x-proofpoint-*",
    "x-mimecast-*",
    "x-cmae-*",
    "dkim-filter",
    "x-coffer-*",
];

/// Whether a header field name is one relays add in transit.
pub fn is_transport_field(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase();
    TRANSPORT_FIELDS.iter().any(|f| match f.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == *f,
    })
}

/// The identity of a message (see the module docs), or `None` when it has no
/// author-side header field at all.
pub fn identity(raw: &[u8]) -> Option<Digest32> {
    let (header_end, body_start) = split_header(raw);
    let header = &raw[..header_end];
    let mut hasher = Sha256::new();
    let mut fields = 0usize;
    for (name, value) in fields_of(header) {
        if is_transport_field(&name) {
            continue;
        }
        fields += 1;
        hasher.update(name.to_ascii_lowercase().as_bytes());
        hasher.update(b":");
        let collapsed: Vec<&[u8]> = value
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
            .collect();
        hasher.update(collapsed.join(&b' '));
        hasher.update(b"\n");
    }
    if fields == 0 {
        return None;
    }
    hasher.update(b"\n--coffer-identity-body--\n");
    hash_body_lf(&mut hasher, &raw[body_start.min(raw.len())..]);
    Some(Digest32(hasher.finalize().into()))
}

/// Bytes of LF-normalised body gathered before each hash update.
const BODY_CHUNK: usize = 64 * 1024;

/// Feeds `body` to `hasher` with every CRLF as LF. A body without CRLF (mail stored with
/// Unix line endings: Maildir, mbox) is hashed as it is, without a copy. Otherwise lines
/// are gathered into chunks of [`BODY_CHUNK`] bytes: hashing line by line (two updates per
/// 76-byte base64 line) took more CPU than the hashing itself.
fn hash_body_lf(hasher: &mut Sha256, body: &[u8]) {
    if memchr::memmem::find(body, b"\r\n").is_none() {
        hasher.update(body);
        return;
    }
    let mut chunk = Vec::with_capacity(BODY_CHUNK + 1024);
    let mut start = 0;
    for newline in memchr::memchr_iter(b'\n', body) {
        let line_end = if newline > start && body[newline - 1] == b'\r' {
            newline - 1
        } else {
            newline
        };
        chunk.extend_from_slice(&body[start..line_end]);
        chunk.push(b'\n');
        start = newline + 1;
        if chunk.len() >= BODY_CHUNK {
            hasher.update(&chunk);
            chunk.clear();
        }
    }
    chunk.extend_from_slice(&body[start..]);
    hasher.update(&chunk);
}

/// (end of the header block, start of the body).
fn split_header(raw: &[u8]) -> (usize, usize) {
    let mut i = 0;
    while i < raw.len() {
        let line_end = raw[i..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(raw.len(), |p| i + p);
        let line = &raw[i..line_end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return (i, (line_end + 1).min(raw.len()));
        }
        i = line_end + 1;
    }
    (raw.len(), raw.len())
}

/// Unfolded header fields as (name, value bytes).
fn fields_of(header: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for line in header.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            if let Some(last) = out.last_mut() {
                last.1.push(b' ');
                last.1.extend_from_slice(line);
            }
            continue;
        }
        if let Some(colon) = line.iter().position(|b| *b == b':') {
            let name = String::from_utf8_lossy(&line[..colon]).trim().to_string();
            out.push((name, line[colon + 1..].to_vec()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The line-by-line body hashing identities were first computed with: the oracle
    /// for [`hash_body_lf`], whose output must never change (identities are stored).
    fn hash_body_lf_by_line(hasher: &mut Sha256, body: &[u8]) {
        let mut start = 0;
        for (i, b) in body.iter().enumerate() {
            if *b == b'\n' {
                let line_end = if i > start && body[i - 1] == b'\r' {
                    i - 1
                } else {
                    i
                };
                hasher.update(&body[start..line_end]);
                hasher.update(b"\n");
                start = i + 1;
            }
        }
        hasher.update(&body[start..]);
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn chunked_body_hashing_equals_line_by_line(
            pieces in proptest::collection::vec(
                prop_oneof![
                    Just(b"\r\n".to_vec()),
                    Just(b"\n".to_vec()),
                    Just(b"\r".to_vec()),
                    Just(b"\r\r\n".to_vec()),
                    proptest::collection::vec(any::<u8>(), 0..100),
                    // Long lines cross the chunk boundary.
                    (1usize..40_000).prop_map(|n| vec![b'x'; n]),
                ],
                0..40,
            )
        ) {
            let body = pieces.concat();
            let mut chunked = Sha256::new();
            hash_body_lf(&mut chunked, &body);
            let mut by_line = Sha256::new();
            hash_body_lf_by_line(&mut by_line, &body);
            prop_assert_eq!(chunked.finalize(), by_line.finalize());
        }
    }

    const MESSAGE: &str = "From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: Budget\r\n\
        Date: Tue, 3 Mar 2026 10:00:00 +0000\r\nMessage-ID: <m1@example.com>\r\n\r\nThe budget is 42.\r\n";

    #[test]
    fn journal_copies_with_different_trace_headers_share_an_identity() {
        let a = format!(
            "Received: from a by b; Tue, 3 Mar 2026 10:00:01 +0000\r\nReturn-Path: <alice@example.com>\r\n{MESSAGE}"
        );
        let b = format!(
            "Received: from c by d; Tue, 3 Mar 2026 10:00:05 +0000\r\nX-MS-Exchange-Organization-AuthAs: Internal\r\nDelivered-To: bob@example.com\r\nAuthentication-Results: mx; spf=pass\r\n{}",
            MESSAGE.replace("\r\n", "\n")
        );
        assert_eq!(identity(a.as_bytes()), identity(b.as_bytes()));
        assert!(identity(a.as_bytes()).is_some());
    }

    #[test]
    fn genuinely_different_messages_never_share_an_identity() {
        let base = identity(MESSAGE.as_bytes());
        for changed in [
            MESSAGE.replace("42", "43"),
            MESSAGE.replace("Budget", "budget"),
            MESSAGE.replace("m1@", "m2@"),
            MESSAGE.replace("10:00:00", "10:00:01"),
            MESSAGE.replace("bob@", "carol@"),
            MESSAGE.replace(
                "To: bob@example.com\r\n",
                "To: bob@example.com\r\nCc: carol@example.com\r\n",
            ),
            MESSAGE.replace("is 42.\r\n", "is 42.\r\n\r\n"),
        ] {
            assert_ne!(identity(changed.as_bytes()), base, "{changed}");
        }
    }

    #[test]
    fn folding_and_whitespace_do_not_matter_but_transport_only_messages_have_none() {
        let folded = MESSAGE.replace("Subject: Budget", "Subject:\r\n Budget");
        assert_eq!(identity(folded.as_bytes()), identity(MESSAGE.as_bytes()));
        assert_eq!(identity(b"Received: x\r\n\r\nbody"), None);
        assert_eq!(identity(b""), None);
    }
}
