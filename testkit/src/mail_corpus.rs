//! A deterministic synthetic mail corpus as raw RFC 5322 bytes, for benchmarks and
//! large tests (never committed: generated on demand from a seed), and [`write_corpus`],
//! which writes it as a Maildir or an mbox file (`coffer-bench corpus`).
//!
//! People, vocabulary (Zipf-distributed words), subjects, bodies and dates come from the
//! document corpus ([`crate::doc_corpus::Corpus`]), so the import benchmark and
//! the search benchmark talk about the same mail. This module renders each document as
//! a real message: headers (Received, From, To, Cc, Subject, Date, Message-ID, MIME),
//! a quoted-printable or 8-bit text body, and for about 15% of messages one or two
//! attachments in base64. File sizes are log-normal (median about 60 KB) with a tail up
//! to 8 MB, so most messages are a few KB and a few are several MB.
//!
//! Attachments are rendered as what they claim to be, with the document's attachment
//! text (200–2,000 words) and nothing more, as in real mail:
//! - PDF, DOCX and XLSX are real files ([`crate::sample_files`]): the text in the
//!   format's own structures, the rest of the drawn size an embedded image, so import
//!   runs the real extractors and indexes a realistic amount of text;
//! - text files (`.txt`, a third of them `.csv` rows) are as large as their text;
//! - images and other binary files (`.jpg`, `.bin`) carry pseudo-random bytes, which
//!   compress like the already-compressed images and archives of real mail.
//!
//! (Earlier versions filled text attachments to the drawn size by repeating the text:
//! 17 KB of attachment text per message on average, up to 1M characters in one file,
//! twelve times the body text. No real document carries its file size in text.)

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{TimeZone, Utc};
use coffer_ingest::import::{MboxFlavor, write_mbox_message};
use coffer_model::MessageDoc;
use rayon::prelude::*;

use crate::doc_corpus::{Corpus, CorpusSpec};
use crate::rng::SplitMix64;
use crate::sample_files;

/// Largest generated attachment.
pub const MAX_ATTACHMENT_BYTES: usize = 8 * 1024 * 1024;

/// A raw-mail corpus.
#[derive(Debug, Clone)]
pub struct MailCorpus {
    docs: Corpus,
    seed: u64,
    text_only: bool,
}

impl MailCorpus {
    /// A corpus of `messages` messages over `years` receive years ending this year.
    pub fn new(messages: u64, seed: u64) -> Self {
        let spec = CorpusSpec {
            messages,
            seed,
            ..CorpusSpec::default()
        };
        Self {
            docs: Corpus::new(spec),
            seed,
            text_only: false,
        }
    }

    /// The same corpus without attachments (a few KB per message): for load tests that
    /// need many messages rather than many bytes.
    pub fn text_only(mut self) -> Self {
        self.text_only = true;
        self
    }

    /// Number of messages.
    pub fn len(&self) -> u64 {
        self.docs.spec().messages
    }

    /// Whether the corpus is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The document message `i` is rendered from.
    pub fn doc(&self, i: u64) -> MessageDoc {
        self.docs.doc(i)
    }

    /// Message `i`, rendered.
    pub fn message(&self, i: u64) -> Vec<u8> {
        let mut doc = self.docs.doc(i);
        if self.text_only {
            doc.attachments.clear();
        }
        let mut rng = SplitMix64::new(self.seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xC0FF);
        render(&doc, i, &mut rng)
    }
}

fn rfc2822(t: i64) -> String {
    Utc.timestamp_opt(t, 0).single().map_or_else(
        || "Thu, 01 Jan 1970 00:00:00 +0000".into(),
        |d| d.to_rfc2822(),
    )
}

fn mailbox(a: &coffer_model::Address) -> String {
    match &a.name {
        Some(n) => format!("\"{n}\" <{}>", a.email),
        None => format!("<{}>", a.email),
    }
}

/// Renders one document as an RFC 5322 message.
fn render(doc: &MessageDoc, i: u64, rng: &mut SplitMix64) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096 + doc.body.len());
    let received = doc.received;
    let hops = 1 + (rng.next_u64() % 3) as i64;
    for hop in 0..hops {
        let _ = write!(
            out,
            "Received: from mx{hop}.relay.example (mx{hop}.relay.example [192.0.2.{}])\r\n\tby mail.corp.example with ESMTPS id {:016x}\r\n\tfor <{}>; {}\r\n",
            (i + hop as u64) % 250 + 1,
            rng.next_u64(),
            doc.to
                .first()
                .map_or("undisclosed@corp.example", |a| a.email.as_str()),
            rfc2822(received - hop * 3)
        );
    }
    let from = doc.from.first().map(mailbox).unwrap_or_default();
    let to: Vec<String> = doc.to.iter().map(mailbox).collect();
    let cc: Vec<String> = doc.cc.iter().map(mailbox).collect();
    let _ = write!(out, "From: {from}\r\nTo: {}\r\n", to.join(",\r\n\t"));
    if !cc.is_empty() {
        let _ = write!(out, "Cc: {}\r\n", cc.join(",\r\n\t"));
    }
    let subject: Vec<&str> = doc
        .subject
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let _ = write!(out, "Subject: {}\r\n", subject.join(" "));
    if let Some(date) = doc.date {
        let _ = write!(out, "Date: {}\r\n", rfc2822(date));
    }
    if let Some(id) = &doc.message_id {
        let _ = write!(out, "Message-ID: <{id}>\r\n");
    }
    let _ = write!(
        out,
        "MIME-Version: 1.0\r\nX-Mailer: Coffer corpus generator\r\n"
    );
    let attachments = if doc.attachments.is_empty() {
        0
    } else {
        doc.attachments.len()
    };
    let body = wrap(&doc.body, 76);
    if attachments == 0 {
        let _ = write!(
            out,
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
        );
        return out;
    }
    let boundary = format!("=_coffer_{:016x}", rng.next_u64());
    let _ = write!(
        out,
        "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\nThis is a multi-part message in MIME format.\r\n\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    );
    for attachment in &doc.attachments {
        // Log-normal file size, median ~60 KB, capped.
        let size =
            ((60_000.0 * (1.3 * rng.normal()).exp()) as usize).clamp(512, MAX_ATTACHMENT_BYTES);
        let name = attachment
            .filename
            .clone()
            .unwrap_or_else(|| "file.bin".into());
        let (extension, stem) = match name.rsplit_once('.') {
            Some((stem, extension)) => (extension.to_ascii_lowercase(), stem.to_string()),
            None => (String::new(), name.clone()),
        };
        let (name, content_type, bytes) = match (&attachment.text, extension.as_str()) {
            // A document: its text in the format's own structures, the rest of its
            // size an embedded image.
            (Some(text), "pdf" | "docx" | "xlsx") => {
                let mut image = vec![0u8; size.saturating_sub(text.len() * 2)];
                rng.fill(&mut image);
                if image.len() >= 3 {
                    image[..3].copy_from_slice(&[0xFF, 0xD8, 0xFF]);
                }
                let file = match extension.as_str() {
                    "pdf" => sample_files::pdf(text, &image),
                    "docx" => sample_files::docx(text, &image),
                    _ => sample_files::xlsx(text, &image),
                };
                (name, attachment.content_type.clone(), file)
            }
            // Plain text is as large as its text: a third as CSV rows.
            (Some(text), _) => {
                if rng.next_u64().is_multiple_of(3) {
                    let words: Vec<&str> = text.split_whitespace().collect();
                    let mut csv = Vec::with_capacity(text.len() * 2);
                    for row in words.chunks(3) {
                        let _ = write!(
                            csv,
                            "{},{},{}\r\n",
                            row[0],
                            rng.next_u64() % 100_000,
                            row[1..].join(" ")
                        );
                    }
                    (format!("{stem}.csv"), "text/csv".to_string(), csv)
                } else {
                    let wrapped = wrap(text, 76);
                    (
                        format!("{stem}.txt"),
                        "text/plain".to_string(),
                        wrapped.into_bytes(),
                    )
                }
            }
            // Images and other binary files: pseudo-random bytes, which compress like
            // the already-compressed images and archives of real mail.
            (None, _) => {
                let mut bytes = vec![0u8; size];
                rng.fill(&mut bytes);
                if rng.next_u64().is_multiple_of(2) {
                    bytes[..3].copy_from_slice(&[0xFF, 0xD8, 0xFF]);
                    (format!("{stem}.jpg"), "image/jpeg".to_string(), bytes)
                } else {
                    (
                        format!("{stem}.bin"),
                        "application/octet-stream".to_string(),
                        bytes,
                    )
                }
            }
        };
        let _ = write!(
            out,
            "--{boundary}\r\nContent-Type: {content_type}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        );
        let encoded = STANDARD.encode(&bytes);
        for line in encoded.as_bytes().chunks(76) {
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
    }
    let _ = write!(out, "--{boundary}--\r\n");
    out
}

/// How [`write_corpus`] lays a corpus out on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorpusFormat {
    /// A Maildir: one file per message in `cur/` (seen), named in corpus order.
    Maildir,
    /// One mbox file (mboxrd quoting).
    Mbox,
}

impl CorpusFormat {
    /// `maildir` or `mbox`.
    pub fn as_str(self) -> &'static str {
        match self {
            CorpusFormat::Maildir => "maildir",
            CorpusFormat::Mbox => "mbox",
        }
    }
}

impl std::str::FromStr for CorpusFormat {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "maildir" => Ok(CorpusFormat::Maildir),
            "mbox" => Ok(CorpusFormat::Mbox),
            other => Err(format!("unknown corpus format {other:?} (maildir or mbox)")),
        }
    }
}

/// Writes every message of `corpus` to `out` as a Maildir (`cur/` files; the directory
/// is created) or as one mbox file, rendering in parallel, in chunks, and calling
/// `on_progress` with the number of messages written after each chunk. Returns the
/// number of raw message bytes written (without mbox `From ` lines and quoting).
pub fn write_corpus(
    corpus: &MailCorpus,
    format: CorpusFormat,
    out: &Path,
    mut on_progress: impl FnMut(u64),
) -> io::Result<u64> {
    let messages = corpus.len();
    let mut total = 0u64;
    let mut mbox = match format {
        CorpusFormat::Mbox => {
            if let Some(parent) = out.parent() {
                fs::create_dir_all(parent)?;
            }
            Some(BufWriter::with_capacity(1 << 20, File::create(out)?))
        }
        CorpusFormat::Maildir => {
            for sub in ["cur", "new", "tmp"] {
                fs::create_dir_all(out.join(sub))?;
            }
            None
        }
    };
    let chunk = 2_000u64;
    let mut start = 0;
    while start < messages {
        let end = (start + chunk).min(messages);
        let rendered: Vec<(u64, Vec<u8>)> = (start..end)
            .into_par_iter()
            .map(|i| (i, corpus.message(i)))
            .collect();
        for (i, raw) in rendered {
            total += raw.len() as u64;
            match mbox.as_mut() {
                Some(w) => write_mbox_message(
                    w,
                    b"From bench@corp.example Thu Jan  1 00:00:00 2026",
                    &raw,
                    MboxFlavor::Mboxrd,
                )?,
                None => fs::write(
                    out.join("cur")
                        .join(format!("{:010}.{i}.bench:2,S", 1_700_000_000 + i)),
                    &raw,
                )?,
            }
        }
        on_progress(end);
        start = end;
    }
    if let Some(mut w) = mbox {
        w.flush()?;
    }
    Ok(total)
}

/// Wraps text at `width` columns with CRLF line ends.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / width * 2);
    let mut line = 0;
    for word in text.split_whitespace() {
        if line > 0 && line + 1 + word.len() > width {
            out.push_str("\r\n");
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_extract::ExtractLimits;
    use coffer_ingest::parse::build_doc;

    #[test]
    fn messages_are_deterministic_and_parse_back() {
        let corpus = MailCorpus::new(200, 42);
        let mut with_attachments = 0;
        let mut extracted_formats = std::collections::BTreeSet::new();
        for i in 0..200 {
            let raw = corpus.message(i);
            assert_eq!(
                raw,
                MailCorpus::new(200, 42).message(i),
                "message {i} is not deterministic"
            );
            let doc = build_doc(
                &raw,
                Default::default(),
                1_900_000_000,
                &Default::default(),
                Some(&ExtractLimits::default()),
            );
            let source = corpus.doc(i);
            let normalized = source
                .subject
                .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "));
            assert_eq!(doc.subject, normalized.filter(|s| !s.is_empty()));
            assert_eq!(
                doc.from.first().map(|a| &a.email),
                source.from.first().map(|a| &a.email)
            );
            assert_eq!(doc.attachments.len(), source.attachments.len());
            if !doc.attachments.is_empty() {
                with_attachments += 1;
            }
            // Every attachment with text gives all of it back through its extractor,
            // whatever format it was rendered as.
            for (got, want) in doc.attachments.iter().zip(&source.attachments) {
                let Some(want_text) = &want.text else {
                    continue;
                };
                let got_text = got.text.as_deref().unwrap_or_default();
                let got_words: std::collections::HashSet<&str> = got_text
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .collect();
                for word in want_text
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                {
                    assert!(
                        got_words.contains(word),
                        "message {i}: {:?} lost {word:?}",
                        got.filename
                    );
                }
                extracted_formats.insert(
                    got.filename
                        .clone()
                        .unwrap_or_default()
                        .rsplit('.')
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
        assert!(with_attachments > 10, "{with_attachments}");
        for format in ["pdf", "docx", "xlsx", "txt", "csv"] {
            assert!(
                extracted_formats.contains(format),
                "{format}: {extracted_formats:?}"
            );
        }
    }
}
