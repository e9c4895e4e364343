//! Zip containers: generic zip archives (each entry extracted by its own type, one level
//! deeper) and the zip-based office formats, which are told apart by their entries.
//!
//! Zip-bomb guards: one byte [`Budget`] per attachment covers every entry decompressed
//! from every archive in it, office documents included. An entry whose *declared* size
//! exceeds what is left is not opened; while reading, a [`BudgetReader`] counts the
//! bytes the decompressor *actually* produces and stops at the limit, so a header that
//! lies does not help. Entries are decompressed in memory only: nothing is ever written
//! to disk, and entry names (which may contain `..` or absolute paths) are used only as
//! text and for their extension.

use std::cell::Cell;
use std::io::{self, Cursor, Read};
use std::rc::Rc;
use std::time::Instant;

use zip::ZipArchive;
use zip::result::ZipError;

use super::detect::Hint;
use super::sink::TextSink;
use super::xml::{self, XmlEvent, XmlStop};
use super::{Ctx, ExtractError, Format, Limit, odf, ooxml};

/// An archive over an in-memory attachment.
pub(super) type Zip<'d> = ZipArchive<Cursor<&'d [u8]>>;

/// The bytes still allowed to be decompressed for one attachment, shared by every
/// reader (hence `Rc<Cell<_>>`: readers live while handlers write to the sink).
#[derive(Debug, Clone)]
pub(super) struct Budget {
    inner: Rc<BudgetState>,
}

#[derive(Debug)]
struct BudgetState {
    left: Cell<u64>,
    exceeded: Cell<bool>,
    timed_out: Cell<bool>,
    deadline: Instant,
}

impl Budget {
    pub(super) fn new(bytes: u64, deadline: Instant) -> Budget {
        Budget {
            inner: Rc::new(BudgetState {
                left: Cell::new(bytes),
                exceeded: Cell::new(false),
                timed_out: Cell::new(false),
                deadline,
            }),
        }
    }

    fn left(&self) -> u64 {
        self.inner.left.get()
    }

    /// Classifies a read failure: budget, deadline, or the data itself.
    fn error(&self, format: Format, ctx_timeout: std::time::Duration) -> ExtractError {
        if self.inner.timed_out.get() {
            ExtractError::TimedOut {
                format,
                limit: ctx_timeout,
            }
        } else if self.inner.exceeded.get() {
            ExtractError::LimitExceeded {
                format,
                limit: Limit::ArchiveBytes,
            }
        } else {
            ExtractError::Malformed {
                format,
                reason: "corrupt archive entry",
            }
        }
    }
}

/// Counts decompressed bytes against the [`Budget`] and checks the deadline.
struct BudgetReader<R> {
    inner: R,
    budget: Budget,
}

impl<R: Read> Read for BudgetReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let state = &self.budget.inner;
        if Instant::now() >= state.deadline {
            state.timed_out.set(true);
            return Err(io::Error::other("extraction deadline passed"));
        }
        let left = state.left.get();
        // Ask for one byte more than allowed, to tell "exactly at the limit" from "over".
        let allowed = usize::try_from(left.saturating_add(1)).unwrap_or(usize::MAX);
        let want = buf.len().min(allowed);
        let read = self.inner.read(&mut buf[..want])?;
        let read_u64 = u64::try_from(read).unwrap_or(u64::MAX);
        if read_u64 > left {
            state.exceeded.set(true);
            state.left.set(0);
            return Err(io::Error::other("archive byte budget exceeded"));
        }
        state.left.set(left - read_u64);
        Ok(read)
    }
}

/// Opens a zip archive over `data`.
pub(super) fn open(data: &[u8], format: Format) -> Result<Zip<'_>, ExtractError> {
    ZipArchive::new(Cursor::new(data)).map_err(|error| match error {
        ZipError::UnsupportedArchive(_) => ExtractError::Malformed {
            format,
            reason: "unsupported zip archive",
        },
        _ => ExtractError::Malformed {
            format,
            reason: "not a readable zip archive",
        },
    })
}

/// The index of the entry called `name` (exact, then ASCII case-insensitive: OPC part
/// names are case-insensitive).
pub(super) fn find(zip: &Zip<'_>, name: &str) -> Option<usize> {
    zip.index_for_name(name).or_else(|| {
        zip.file_names()
            .position(|entry| entry.is_ok_and(|entry| entry.eq_ignore_ascii_case(name)))
    })
}

/// The names of all entries (lossy), in central-directory order.
pub(super) fn names(zip: &Zip<'_>) -> Vec<String> {
    zip.file_names_raw()
        .map(|raw| String::from_utf8_lossy(raw).into_owned())
        .collect()
}

/// Streams the XML entry at `index` through `on_event`, within the budget and deadline.
pub(super) fn read_xml(
    ctx: &mut Ctx,
    zip: &mut Zip<'_>,
    index: usize,
    format: Format,
    mut on_event: impl FnMut(XmlEvent<'_>, &mut TextSink) -> bool,
) -> Result<(), ExtractError> {
    let budget = ctx.archive_budget.clone();
    let timeout = ctx.limits.timeout;
    let entry = open_entry(zip, index, &budget, format)?;
    let declared = entry.size();
    let reader = BudgetReader {
        inner: entry,
        budget: budget.clone(),
    };
    let sink = &mut ctx.sink;
    let walked = xml::walk_read(
        reader,
        declared,
        xml::IN_MEMORY_BYTES,
        ctx.deadline,
        |event| on_event(event, sink),
    );
    match walked {
        Ok(()) => Ok(()),
        Err(XmlStop::Deadline) => Err(ExtractError::TimedOut {
            format,
            limit: timeout,
        }),
        Err(XmlStop::Malformed) => Err(budget.error(format, timeout)),
    }
}

/// Reads the whole entry at `index` into memory, within the budget and deadline.
pub(super) fn read_bytes(
    ctx: &Ctx,
    zip: &mut Zip<'_>,
    index: usize,
    format: Format,
) -> Result<Vec<u8>, ExtractError> {
    let budget = ctx.archive_budget.clone();
    let entry = open_entry(zip, index, &budget, format)?;
    let declared = entry.size();
    let mut bytes = Vec::with_capacity(usize::try_from(declared.min(1 << 20)).unwrap_or(0));
    BudgetReader {
        inner: entry,
        budget: budget.clone(),
    }
    .read_to_end(&mut bytes)
    .map_err(|_| budget.error(format, ctx.limits.timeout))?;
    Ok(bytes)
}

/// Opens an entry after checking its declared size against the budget.
fn open_entry<'z, 'd>(
    zip: &'z mut Zip<'d>,
    index: usize,
    budget: &Budget,
    format: Format,
) -> Result<zip::read::ZipFile<'z, Cursor<&'d [u8]>>, ExtractError> {
    let entry = zip.by_index(index).map_err(|error| match error {
        ZipError::UnsupportedArchive(message) if message.contains("assword") => {
            ExtractError::Encrypted { format }
        }
        ZipError::UnsupportedArchive(_) => ExtractError::Malformed {
            format,
            reason: "unsupported zip compression",
        },
        _ => ExtractError::Malformed {
            format,
            reason: "corrupt archive entry",
        },
    })?;
    if entry.encrypted() {
        return Err(ExtractError::Encrypted { format });
    }
    if entry.size() > budget.left() {
        return Err(ExtractError::LimitExceeded {
            format,
            limit: Limit::ArchiveBytes,
        });
    }
    Ok(entry)
}

/// Extracts a zip-based attachment: confirms which format it is from its entries,
/// then hands it to the right extractor.
pub(super) fn extract(
    ctx: &mut Ctx,
    declared: Format,
    data: &[u8],
    depth: u32,
) -> Result<(), ExtractError> {
    let mut zip = open(data, declared)?;
    let format = classify(&mut zip, declared, ctx)?;
    if depth == 0 {
        ctx.format = format;
    }
    match format {
        Format::Docx => ooxml::docx(ctx, &mut zip),
        Format::Xlsx => ooxml::xlsx(ctx, &mut zip),
        Format::Pptx => ooxml::pptx(ctx, &mut zip),
        Format::Odt | Format::Ods | Format::Odp => odf::extract(ctx, &mut zip, format),
        _ => extract_archive(ctx, &mut zip, depth),
    }
}

/// The format of a zip container, from its entries; `declared` breaks ties.
fn classify(zip: &mut Zip<'_>, declared: Format, ctx: &Ctx) -> Result<Format, ExtractError> {
    let has = |zip: &Zip<'_>, name: &str| find(zip, name).is_some();
    if has(zip, "word/document.xml") {
        return Ok(Format::Docx);
    }
    if has(zip, "xl/workbook.xml") {
        return Ok(Format::Xlsx);
    }
    if has(zip, "ppt/presentation.xml") {
        return Ok(Format::Pptx);
    }
    if let Some(index) = find(zip, "mimetype")
        && zip.by_index(index).is_ok_and(|entry| entry.size() <= 256)
    {
        let mimetype = read_bytes(ctx, zip, index, declared)?;
        let format = match mimetype.trim_ascii() {
            b"application/vnd.oasis.opendocument.text"
            | b"application/vnd.oasis.opendocument.text-template" => Some(Format::Odt),
            b"application/vnd.oasis.opendocument.spreadsheet"
            | b"application/vnd.oasis.opendocument.spreadsheet-template" => Some(Format::Ods),
            b"application/vnd.oasis.opendocument.presentation"
            | b"application/vnd.oasis.opendocument.presentation-template" => Some(Format::Odp),
            _ => None,
        };
        if let Some(format) = format {
            return Ok(format);
        }
    }
    if matches!(declared, Format::Odt | Format::Ods | Format::Odp) && has(zip, "content.xml") {
        return Ok(declared);
    }
    if declared != Format::Zip {
        return Err(ExtractError::Malformed {
            format: declared,
            reason: "zip container without the parts of its format",
        });
    }
    Ok(Format::Zip)
}

/// A generic archive: lists each entry's name, then its text (one level deeper).
fn extract_archive(ctx: &mut Ctx, zip: &mut Zip<'_>, depth: u32) -> Result<(), ExtractError> {
    let entries = zip.len();
    let looked_at = entries.min(ctx.limits.max_archive_entries);
    if looked_at < entries {
        ctx.skipped_parts = ctx
            .skipped_parts
            .saturating_add(u32::try_from(entries - looked_at).unwrap_or(u32::MAX));
    }
    let child_depth = depth.saturating_add(1);
    for index in 0..looked_at {
        ctx.check_deadline(Format::Zip)?;
        if ctx.done() {
            return Ok(());
        }
        let (name, is_dir) = match zip.by_index_raw(index) {
            Ok(entry) => (
                String::from_utf8_lossy(entry.name_raw()).into_owned(),
                entry.is_dir(),
            ),
            Err(_) => {
                ctx.failed_parts = ctx.failed_parts.saturating_add(1);
                continue;
            }
        };
        if is_dir {
            continue;
        }
        ctx.sink.newline();
        ctx.sink.push(&name);
        ctx.sink.newline();
        let hint = Hint::from_name(&name);
        if hint
            .extension
            .as_deref()
            .is_some_and(super::detect::no_text_extension)
        {
            // Known to carry no text (images, media): not worth decompressing.
            continue;
        }
        if child_depth > ctx.limits.max_depth {
            ctx.skipped_parts = ctx.skipped_parts.saturating_add(1);
            continue;
        }
        let bytes = match read_bytes(ctx, zip, index, Format::Zip) {
            Ok(bytes) => bytes,
            Err(error) if error.is_fatal() => return Err(error),
            Err(ExtractError::LimitExceeded { .. }) => {
                ctx.skipped_parts = ctx.skipped_parts.saturating_add(1);
                continue;
            }
            Err(_) => {
                ctx.failed_parts = ctx.failed_parts.saturating_add(1);
                continue;
            }
        };
        ctx.nested(&hint, &bytes, child_depth)?;
    }
    Ok(())
}
