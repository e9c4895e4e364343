//! Reading zip containers within the attachment's byte budget: opening an archive,
//! finding entries, and decompressing an entry to memory or streaming it as XML. Used by
//! the zip-based formats (`ooxml`, `odf`) and by generic zip archives (`archive`); this
//! module knows nothing about any of them.
//!
//! Zip-bomb guards: one byte [`Budget`] per attachment covers every entry decompressed
//! from every archive in it, office documents included. An entry whose *declared* size
//! exceeds what is left is not opened; while reading, a [`BudgetReader`] counts the
//! bytes the decompressor *actually* produces and stops at the limit, so a header that
//! lies does not help. Entries are decompressed in memory only: nothing is ever written
//! to disk.

use std::cell::Cell;
use std::io::{self, Cursor, Read};
use std::rc::Rc;
use std::time::Instant;

use zip::ZipArchive;
use zip::result::ZipError;

use super::sink::TextSink;
use super::xml::{self, XmlEvent, XmlStop};
use super::{Ctx, ExtractError, Format, Limit};

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
