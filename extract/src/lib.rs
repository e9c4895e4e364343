//! Coffer's attachment text extraction: turns the bytes of an attachment into bounded
//! plain text for the `attachment` field of the index, without ever panicking, hanging or
//! using unbounded memory on hostile input.
//!
//! A crate of its own (DESIGN.md, "Workspace layout"): it depends on nothing of Coffer's
//! but `coffer-model`. Its users are the ingest pipeline (`coffer_ingest::parse`, which
//! puts the text into the message document the index receives) and the rendered message
//! view of the API (`coffer_query_api::render`, through [`message_parser`]).
//!
//! # Brief overview
//!
//! - [`extract_text`] is the one entry point: content type, file name and bytes in,
//!   [`Extracted`] text out (or `None` for types that carry no text, such as images).
//! - [`ExtractLimits`] bounds every resource: input size, output characters, nesting
//!   depth of zip archives and attached messages, zip entries, bytes decompressed from
//!   archives, bytes decoded from PDF streams, wall-clock time and abandoned threads.
//! - [`ExtractError`] says why nothing usable came out. The caller flags the message
//!   "attachment text not extracted" (`MessageFlags::ATTACHMENT_TEXT_NOT_EXTRACTED`) and
//!   archives it anyway; extraction never blocks archiving.
//! - [`html_to_text`] is also used by the ingest pipeline for `text/html` bodies.
//!
//! # Formats and how they are recognised
//!
//! Detection (module `detect`) trusts magic bytes first (mail clients often send
//! `application/octet-stream`), then the declared content type, then the file extension,
//! then content sniffing. Zip containers are told apart by their entries
//! (`word/document.xml`, `xl/workbook.xml`, `ppt/presentation.xml`, ODF `mimetype`).
//!
//! | format | how |
//! |---|---|
//! | PDF | `pdf-extract`, after our own guards (see module `pdf`) |
//! | DOCX, PPTX, XLSX | zip + streaming `quick-xml`, our code (see module `ooxml`) |
//! | ODT, ODS, ODP | zip + streaming `quick-xml` over `content.xml` (see module `odf`) |
//! | HTML | `html2text`, with a streaming tag stripper for pathological nesting |
//! | text, CSV | charset from the content type, BOM or UTF-8 validity; windows-1252 fallback |
//! | message/rfc822 | `mail-parser`: headers, body text, then each attachment recursively |
//! | zip | each entry by its own detected type, recursively; names are only text |
//!
//! Modules import in one direction: the dispatcher here (`Ctx::extract`) calls the
//! format readers (`pdf`, `archive`, `html`, `text`, `message`); `archive` tells the
//! zip-based formats apart and hands them to `ooxml` or `odf`; all of them use the
//! shared helpers (`unzip` for zip entries within the byte budget, `xml`, `sink`,
//! `detect`), which import no reader.
//!
//! XLSX and ODS are read with our own streaming code rather than `calamine`: calamine
//! cannot be cancelled, keeps whole sheets in memory and opens the zip with its own
//! reader, which would escape the byte budget that guards against zip bombs.
//!
//! # Resource bounds and isolation
//!
//! Every call runs on a helper thread (named [`EXTRACT_THREAD_NAME`], with a large stack,
//! kept for later calls when it answers in time) inside `catch_unwind`; the caller waits
//! at most [`ExtractLimits::timeout`]. Our own
//! extractors check the deadline cooperatively and stop. Third-party code that cannot be
//! interrupted (`pdf-extract`, `html2text`) may overrun: the caller then gets
//! [`ExtractError::TimedOut`] and the thread is *abandoned* — it keeps running until the
//! library returns and then exits on its own; the next call gets another helper, so an
//! abandoned thread never holds up later work. Only that uninterruptible code is capped:
//! while [`ExtractLimits::max_abandoned_threads`] threads are abandoned, PDFs fail fast
//! with [`ExtractError::Overloaded`] (counted in [`overload_refusals`]) and HTML is read
//! by the streaming stripper alone, while every other format, read by our own code that
//! stops at the deadline, is extracted as usual (details in the `run` module).
//!
//! Panics on extraction threads are not printed by the default panic hook (a panic
//! message from a parser can quote document bytes); a chaining hook installed on first
//! use silences them there and forwards every other thread's panics to the previous hook.
//! Logs carry only formats, sizes, counts and timings, never text or names. `pdf-extract`
//! and `lopdf` log through the `log` crate and can quote document content: the binary
//! must silence the targets in [`SILENCED_LOG_TARGETS`].
//!
//! Blocking: [`extract_text`] blocks the calling thread for up to the timeout; call it
//! from `spawn_blocking` in async code.

mod archive;
mod detect;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod html;
mod message;
mod odf;
mod ooxml;
mod pdf;
mod run;
mod sink;
mod text;
mod unzip;
mod xml;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::{Duration, Instant};

use coffer_model::ErrorCode;

pub use html::{html_to_snippet_text, html_to_text, words_missing_from};
pub use run::{EXTRACT_THREAD_NAME, abandoned_threads, overload_refusals};
pub use text::{decode as decode_text, is_utf8_or_ascii};

use sink::TextSink;

/// The mail parser every part of Coffer reads messages with (indexing, attached messages,
/// the rendered view), so that they all see the same text: mail-parser's defaults, plus
/// windows-1252 for text parts that declare no charset and are not UTF-8 (the vendored
/// crate's `with_windows_1252_for_undeclared_text`; `decode_text` makes the same choice).
pub fn message_parser() -> mail_parser::MessageParser {
    mail_parser::MessageParser::new().with_windows_1252_for_undeclared_text()
}

/// `log` targets of third-party extractors that may quote document content in their
/// messages. The binary must turn them off in its subscriber filter
/// (e.g. `pdf_extract=off,lopdf=off`), since DESIGN.md principle 5 forbids content in logs.
pub const SILENCED_LOG_TARGETS: &[&str] = &["pdf_extract", "lopdf", "html2text", "html5ever"];

/// Bounds for one call of [`extract_text`]. [`Default`] gives values suited to
/// e-mail attachments on a small server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractLimits {
    /// Largest input accepted, in bytes (default 64 MiB). Larger inputs fail with
    /// [`ExtractError::InputTooLarge`] without being looked at.
    pub max_input_bytes: usize,
    /// Most characters of text returned per attachment (default 1,000,000); the text is
    /// cut there and [`Extracted::truncated`] is set.
    pub max_text_chars: usize,
    /// Deepest nesting of zip archives and attached messages (default 3). The attachment
    /// itself is depth 0; a zip entry or a message attachment is one deeper. Parts below
    /// the limit are skipped (their names are still listed) and counted in
    /// [`Extracted::skipped_parts`].
    pub max_depth: u32,
    /// Most entries looked at per zip archive (default 10,000); the rest are skipped and
    /// counted.
    pub max_archive_entries: usize,
    /// Most bytes decompressed from all zip archives of one attachment together,
    /// office documents included (default 256 MiB). Checked against the declared sizes
    /// before reading and against the bytes actually produced while reading, so a
    /// lying header does not help a zip bomb.
    pub max_archive_bytes: u64,
    /// Most bytes that the streams of one PDF may decode to, counted over every stream
    /// before the PDF library sees the file (default 256 MiB).
    pub max_pdf_decoded_bytes: u64,
    /// Wall-clock bound per attachment (default 20 s).
    pub timeout: Duration,
    /// Abandoned extraction threads (still running after a timeout) beyond which code
    /// that cannot be interrupted is no longer entered (default 4): PDFs fail with
    /// [`ExtractError::Overloaded`] and HTML is read by the streaming stripper, while the
    /// other formats are extracted as usual.
    pub max_abandoned_threads: usize,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        ExtractLimits {
            max_input_bytes: 64 * 1024 * 1024,
            max_text_chars: 1_000_000,
            max_depth: 3,
            max_archive_entries: 10_000,
            max_archive_bytes: 256 * 1024 * 1024,
            max_pdf_decoded_bytes: 256 * 1024 * 1024,
            timeout: Duration::from_secs(20),
            max_abandoned_threads: 4,
        }
    }
}

/// The formats the extractor recognises (including some it recognises but cannot read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Portable Document Format.
    Pdf,
    /// Office Open XML word processing (Word 2007+).
    Docx,
    /// Office Open XML spreadsheet (Excel 2007+).
    Xlsx,
    /// Office Open XML presentation (PowerPoint 2007+).
    Pptx,
    /// OpenDocument text.
    Odt,
    /// OpenDocument spreadsheet.
    Ods,
    /// OpenDocument presentation.
    Odp,
    /// HTML or XHTML.
    Html,
    /// Plain text (also XML, JSON, calendar and similar textual types).
    Text,
    /// Comma- or tab-separated values.
    Csv,
    /// An attached e-mail message (`message/rfc822`).
    Message,
    /// A zip archive.
    Zip,
    /// A legacy binary MS Office or Outlook file (OLE2 compound file): not supported.
    LegacyOffice,
    /// Rich Text Format: not supported.
    Rtf,
    /// gzip, bzip2, xz, 7z or rar: not supported.
    OtherArchive,
}

impl Format {
    /// A short stable lowercase name (`pdf`, `docx`, ...), for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Docx => "docx",
            Format::Xlsx => "xlsx",
            Format::Pptx => "pptx",
            Format::Odt => "odt",
            Format::Ods => "ods",
            Format::Odp => "odp",
            Format::Html => "html",
            Format::Text => "text",
            Format::Csv => "csv",
            Format::Message => "message",
            Format::Zip => "zip",
            Format::LegacyOffice => "legacy-office",
            Format::Rtf => "rtf",
            Format::OtherArchive => "other-archive",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which bound an input ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// [`ExtractLimits::max_archive_bytes`].
    ArchiveBytes,
    /// [`ExtractLimits::max_archive_entries`] (a central directory that cannot be
    /// trusted is refused outright).
    ArchiveEntries,
    /// [`ExtractLimits::max_depth`].
    Depth,
    /// [`ExtractLimits::max_pdf_decoded_bytes`].
    PdfDecodedBytes,
    /// A PDF whose forms draw themselves, nest too deeply or are drawn too many times,
    /// or whose page tree loops: the PDF library would recurse without end.
    PdfStructure,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::ArchiveBytes => "archive bytes",
            Limit::ArchiveEntries => "archive entries",
            Limit::Depth => "nesting depth",
            Limit::PdfDecodedBytes => "pdf decoded bytes",
            Limit::PdfStructure => "pdf structure",
        })
    }
}

/// Why an attachment's text could not be extracted. Messages never contain document
/// content or names, so they may be logged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// The input is larger than [`ExtractLimits::max_input_bytes`].
    #[error("input of {size} bytes exceeds the limit of {limit} bytes")]
    InputTooLarge {
        /// Input size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The wall-clock bound was reached.
    #[error("{format} extraction timed out after {limit:?}")]
    TimedOut {
        /// The format being extracted (the outermost one when the caller gave up waiting).
        format: Format,
        /// The bound.
        limit: Duration,
    },
    /// Too many extraction threads are abandoned after timeouts: a format read by code
    /// that cannot be interrupted (PDF) is refused until some of them finish.
    #[error("extraction refused: {abandoned} extraction threads still running after timeouts")]
    Overloaded {
        /// Abandoned threads still running.
        abandoned: usize,
    },
    /// The input ran into a resource bound.
    #[error("{format} exceeds the {limit} limit")]
    LimitExceeded {
        /// The format being extracted.
        format: Format,
        /// The bound.
        limit: Limit,
    },
    /// The input is not a valid file of its format.
    #[error("{format} is malformed: {reason}")]
    Malformed {
        /// The format being extracted.
        format: Format,
        /// What was wrong, in general terms (never document content).
        reason: &'static str,
    },
    /// The file is encrypted or password protected.
    #[error("{format} is encrypted")]
    Encrypted {
        /// The format.
        format: Format,
    },
    /// A format that carries text but that Coffer cannot read (legacy Office, RTF,
    /// non-zip archives).
    #[error("{format} is not supported")]
    Unsupported {
        /// The format.
        format: Format,
    },
    /// The extractor panicked; the panic was caught.
    #[error("{format} extractor panicked")]
    Panicked {
        /// The format being extracted.
        format: Format,
    },
    /// The helper thread could not be started.
    #[error("could not start an extraction thread")]
    Spawn(#[source] std::io::Error),
}

impl ExtractError {
    /// The coarse error class: [`ErrorCode::Unavailable`] for timeouts, overload and
    /// thread start failures (retrying later may succeed), [`ErrorCode::InvalidInput`]
    /// for everything about the input itself.
    pub fn code(&self) -> ErrorCode {
        match self {
            ExtractError::TimedOut { .. }
            | ExtractError::Overloaded { .. }
            | ExtractError::Spawn(_) => ErrorCode::Unavailable,
            _ => ErrorCode::InvalidInput,
        }
    }

    /// Whether this error ends the whole attachment rather than one nested part
    /// (time is shared by all parts).
    fn is_fatal(&self) -> bool {
        matches!(self, ExtractError::TimedOut { .. })
    }
}

/// Text extracted from one attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The text: paragraphs, rows and slides separated by newlines, table cells by tabs.
    /// Control characters are removed. For archives and attached messages, each nested
    /// part's name (or a message's headers) comes before its text.
    pub text: String,
    /// The detected format of the attachment itself.
    pub format: Format,
    /// The text was cut at [`ExtractLimits::max_text_chars`].
    pub truncated: bool,
    /// Nested parts (archive entries, message attachments) skipped because of a limit:
    /// depth, entries or bytes, or a PDF refused while too many threads are abandoned.
    pub skipped_parts: u32,
    /// Nested parts whose extraction failed (malformed, encrypted, unsupported, panic).
    pub failed_parts: u32,
}

impl Extracted {
    /// True when all the text of every part is in [`Extracted::text`]. When false, the
    /// caller should flag the message as it does for an error.
    pub fn is_complete(&self) -> bool {
        !self.truncated && self.skipped_parts == 0 && self.failed_parts == 0
    }
}

/// Extracts the text of one attachment.
///
/// `content_type` is the declared MIME type (parameters such as `charset` are used),
/// `filename` the declared name (used only for its extension). Returns `Ok(None)` for
/// types that carry no text (images, audio, video, unknown binary data). Never panics;
/// returns within about [`ExtractLimits::timeout`] whatever the input.
pub fn extract_text(
    content_type: &str,
    filename: Option<&str>,
    data: &[u8],
    limits: &ExtractLimits,
) -> Result<Option<Extracted>, ExtractError> {
    if data.len() > limits.max_input_bytes {
        return Err(ExtractError::InputTooLarge {
            size: data.len(),
            limit: limits.max_input_bytes,
        });
    }
    let hint = detect::Hint::new(content_type, filename);
    let Some(format) = detect::detect(&hint, data) else {
        tracing::debug!(bytes = data.len(), "attachment carries no text");
        return Ok(None);
    };
    if let Some(unsupported) = detect::unsupported(format) {
        return Err(unsupported);
    }
    let started = Instant::now();
    let owned = data.to_vec();
    let thread_limits = limits.clone();
    let result = run::run_isolated(format, data.len(), limits, move |deadline| {
        let mut ctx = Ctx::new(format, &thread_limits, deadline);
        ctx.extract(format, &hint, &owned, 0)?;
        Ok(Extracted {
            truncated: ctx.sink.truncated(),
            skipped_parts: ctx.skipped_parts,
            failed_parts: ctx.failed_parts,
            format: ctx.format,
            text: ctx.sink.into_text(),
        })
    });
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match &result {
        Ok(extracted) => tracing::debug!(
            format = format.as_str(),
            bytes = data.len(),
            chars = extracted.text.len(),
            truncated = extracted.truncated,
            skipped = extracted.skipped_parts,
            failed = extracted.failed_parts,
            elapsed_ms,
            "attachment text extracted"
        ),
        Err(error) => tracing::info!(
            format = format.as_str(),
            bytes = data.len(),
            elapsed_ms,
            error = %error,
            "attachment text not extracted"
        ),
    }
    result.map(Some)
}

/// State shared by all parts of one attachment while it is extracted (on the helper
/// thread): the bounds, the deadline, the output and the counters.
struct Ctx {
    /// The attachment's format, refined from the entries for zip containers.
    format: Format,
    limits: ExtractLimits,
    deadline: Instant,
    sink: TextSink,
    archive_budget: unzip::Budget,
    skipped_parts: u32,
    failed_parts: u32,
}

impl Ctx {
    fn new(format: Format, limits: &ExtractLimits, deadline: Instant) -> Ctx {
        Ctx {
            format,
            limits: limits.clone(),
            deadline,
            sink: TextSink::new(limits.max_text_chars),
            archive_budget: unzip::Budget::new(limits.max_archive_bytes, deadline),
            skipped_parts: 0,
            failed_parts: 0,
        }
    }

    /// Fails with [`ExtractError::TimedOut`] once the deadline has passed.
    fn check_deadline(&self, format: Format) -> Result<(), ExtractError> {
        if Instant::now() >= self.deadline {
            Err(ExtractError::TimedOut {
                format,
                limit: self.limits.timeout,
            })
        } else {
            Ok(())
        }
    }

    /// Whether extraction should stop: the text is full.
    fn done(&self) -> bool {
        self.sink.is_full()
    }

    /// Extracts a nested part (archive entry, message attachment) at `depth`, recording
    /// failures in the counters instead of failing the whole attachment. Only fatal
    /// errors (timeout) are returned.
    fn nested(&mut self, hint: &detect::Hint, data: &[u8], depth: u32) -> Result<(), ExtractError> {
        let Some(format) = detect::detect(hint, data) else {
            return Ok(());
        };
        if let Some(error) = detect::unsupported(format) {
            tracing::debug!(format = format.as_str(), error = %error, "nested part not extracted");
            self.failed_parts = self.failed_parts.saturating_add(1);
            return Ok(());
        }
        match self.extract(format, hint, data, depth) {
            Ok(()) => Ok(()),
            Err(error) if error.is_fatal() => Err(error),
            Err(error @ (ExtractError::LimitExceeded { .. } | ExtractError::Overloaded { .. })) => {
                tracing::debug!(format = format.as_str(), error = %error, "nested part skipped");
                self.skipped_parts = self.skipped_parts.saturating_add(1);
                Ok(())
            }
            Err(error) => {
                tracing::debug!(format = format.as_str(), error = %error, "nested part failed");
                self.failed_parts = self.failed_parts.saturating_add(1);
                Ok(())
            }
        }
    }

    /// Extracts `data` as `format` into the sink.
    fn extract(
        &mut self,
        format: Format,
        hint: &detect::Hint,
        data: &[u8],
        depth: u32,
    ) -> Result<(), ExtractError> {
        self.check_deadline(format)?;
        match format {
            Format::Pdf => pdf::extract(self, data),
            Format::Docx
            | Format::Xlsx
            | Format::Pptx
            | Format::Odt
            | Format::Ods
            | Format::Odp
            | Format::Zip => archive::extract(self, format, data, depth),
            Format::Html => {
                html::extract(self, hint, data);
                Ok(())
            }
            Format::Text | Format::Csv => {
                text::extract(self, hint, data);
                Ok(())
            }
            Format::Message => message::extract(self, data, depth),
            Format::LegacyOffice | Format::Rtf | Format::OtherArchive => {
                Err(ExtractError::Unsupported { format })
            }
        }
    }
}
