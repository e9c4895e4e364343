//! Import readers: turn `coffer import PATH...` arguments into raw messages to archive.
//!
//! # Brief overview
//! - [`walk()`] takes the PATH arguments and yields, lazily and in a deterministic order,
//!   `Result<`[`ImportItem`]`, `[`Rejected`]`>`: each message's raw bytes with a
//!   [`SourceRef`] saying where it came from, or a rejection with a precise
//!   [`RejectReason`]. It classifies each path (see [`walk`](mod@walk)): an mbox file, a
//!   single-message file (`.eml` or anything else that looks like mail), a Maildir, or a
//!   plain folder to recurse into. What it does not read by rule (hidden files, a
//!   Maildir's `tmp/`, folders reached twice) it lists as [`Skipped`], with the reason.
//! - [`mbox`]: the streaming mbox splitter ([`MboxReader`]) over any `BufRead`, with
//!   bounded memory, mboxrd/mboxo quoting ([`MboxFlavor`]) and per-message size caps; and
//!   [`write_mbox_message`], its inverse.
//! - [`maildir`]: which directories are Maildirs, their Maildir++ subfolders, message files
//!   in `cur/` and `new/`, flags, order.
//! - [`sniff`]: [`looks_like_mail`], the pure "is this mail at all?" heuristic that tells
//!   malformed mail (archived raw and flagged downstream) from input that is not mail
//!   (rejected).
//!
//! Nothing here touches a volume or the catalog: the pipeline consumes these items.
//!
//! # Invariants
//! - `ImportItem::raw` is exactly what should be archived: a single-message file's bytes
//!   untouched; an mbox message without its `From ` line, unquoted per the flavour; a
//!   Maildir file's bytes untouched.
//! - No input makes these readers panic, and no message is held in memory beyond
//!   [`MboxOptions::max_message_bytes`] (default [`DEFAULT_MAX_MESSAGE_BYTES`]); bigger
//!   ones are rejected as [`RejectReason::Oversized`] without being read into memory.
//! - Logs carry counts, offsets and sizes only: never paths, addresses or content.

use std::fmt;
use std::io;
use std::path::PathBuf;

pub mod maildir;
pub mod mbox;
pub mod sniff;
pub mod walk;

pub use maildir::{MaildirEntry, MaildirItem, MaildirSubdir};
pub use mbox::{
    DEFAULT_MAX_MESSAGE_BYTES, FromLine, MboxError, MboxFlavor, MboxMessage, MboxOptions,
    MboxReader, SeparatorRule, strip_mbox_from_line, write_mbox_message,
};
pub use sniff::{NotMailReason, looks_like_mail};
pub use walk::{WalkOptions, WalkStats, Walker, total_bytes, walk};

/// Where a message (or a rejected input) came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRef {
    /// The file (or directory, for a folder that could not be read).
    pub path: PathBuf,
    /// Where inside it.
    pub location: Location,
}

/// Where inside [`SourceRef::path`] a message sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The whole file (or directory).
    File,
    /// A message of an mbox file.
    Mbox {
        /// Position in the file, from 0.
        index: u64,
        /// Byte offset of its `From ` line (for a read error: where reading stopped).
        offset: u64,
    },
    /// A message file of a Maildir.
    Maildir {
        /// Maildir++ folder name (`""` for the root folder).
        folder: String,
        /// `new/` or `cur/`.
        subdir: MaildirSubdir,
        /// Flag letters from the file name (`"FRS"`).
        flags: String,
    },
}

impl SourceRef {
    /// A reference to a whole file or directory.
    pub fn file(path: impl Into<PathBuf>) -> SourceRef {
        SourceRef {
            path: path.into(),
            location: Location::File,
        }
    }
}

impl fmt::Display for SourceRef {
    /// For the operator's summary (not for logs): `path`, `path (mbox message #3 at byte
    /// 1234)`, `path (maildir folder "Sent")`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        match &self.location {
            Location::File => Ok(()),
            Location::Mbox { index, offset } => {
                write!(f, " (mbox message #{index} at byte {offset})")
            }
            Location::Maildir { folder, .. } if folder.is_empty() => Ok(()),
            Location::Maildir { folder, .. } => write!(f, " (maildir folder {folder:?})"),
        }
    }
}

/// One message to archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportItem {
    /// Where it came from.
    pub source: SourceRef,
    /// The exact bytes to archive.
    pub raw: Vec<u8>,
    /// For a message out of an mbox file, its `From ` line (envelope sender and delivery
    /// date, a fallback when the Date header is missing or absurd).
    pub mbox_from: Option<FromLine>,
}

/// An input that was not archived, and why. Listed in the import summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// What was rejected.
    pub source: SourceRef,
    /// Why.
    pub reason: RejectReason,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.reason)
    }
}

impl std::error::Error for Rejected {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.reason)
    }
}

/// A path the walk did not read, by rule, and why. Listed in the import summary
/// (`skipped`), so that every file given to `import` is accounted for: archived,
/// rejected with its reason, or skipped with its reason. Only a mail store's own
/// bookkeeping files are passed over without a word (see [`maildir`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The file or directory (a directory stands for everything under it).
    pub path: PathBuf,
    /// Why.
    pub reason: SkipReason,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// Why a path was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Its name starts with a dot (name it as an argument to import it).
    Hidden,
    /// In a Maildir's `tmp/`: a delivery not finished, not a message yet.
    MaildirTmp,
    /// A directory reached again (a link to a folder walked already): its messages were
    /// taken the first time.
    Revisited,
}

impl SkipReason {
    /// A short, stable, machine-readable code (`hidden`, `maildir_tmp`, `revisited`).
    pub fn code(self) -> &'static str {
        match self {
            SkipReason::Hidden => "hidden",
            SkipReason::MaildirTmp => "maildir_tmp",
            SkipReason::Revisited => "revisited",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SkipReason::Hidden => "hidden (name starts with a dot); give its path to import it",
            SkipReason::MaildirTmp => {
                "in a Maildir's tmp/: a delivery that never finished, not a message yet; \
                 give its path to import it"
            }
            SkipReason::Revisited => "directory already walked (reached again through a link)",
        })
    }
}

/// Why an input was rejected. The text never contains message content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    /// The input is not mail at all.
    #[error("not mail: {0}")]
    NotMail(#[from] NotMailReason),
    /// The message is bigger than the configured cap.
    #[error("message is {size} bytes, over the {cap}-byte limit")]
    Oversized {
        /// Its size in bytes.
        size: u64,
        /// The cap.
        cap: u64,
    },
    /// An mbox separator with no message after it.
    #[error("empty message in mbox")]
    EmptyMessage,
    /// The path does not exist.
    #[error("no such file or directory")]
    NotFound,
    /// A symbolic link whose target does not exist.
    #[error("broken symbolic link")]
    BrokenSymlink,
    /// Permission denied.
    #[error("permission denied")]
    PermissionDenied,
    /// A FIFO, socket or device.
    #[error("not a regular file or directory")]
    NotRegularFile,
    /// Any other I/O error (the operating system's message, which holds no content).
    #[error("read error: {0}")]
    Io(String),
}

impl RejectReason {
    /// A short, stable, machine-readable code (`not_mail`, `oversized`, ...) for JSON
    /// summaries and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::NotMail(_) => "not_mail",
            RejectReason::Oversized { .. } => "oversized",
            RejectReason::EmptyMessage => "empty_message",
            RejectReason::NotFound => "not_found",
            RejectReason::BrokenSymlink => "broken_symlink",
            RejectReason::PermissionDenied => "permission_denied",
            RejectReason::NotRegularFile => "not_regular_file",
            RejectReason::Io(_) => "io_error",
        }
    }

    /// The reason for an I/O error.
    pub fn from_io(error: &io::Error) -> RejectReason {
        match error.kind() {
            io::ErrorKind::NotFound => RejectReason::NotFound,
            io::ErrorKind::PermissionDenied => RejectReason::PermissionDenied,
            _ => RejectReason::Io(error.to_string()),
        }
    }
}

impl From<MboxError> for RejectReason {
    fn from(error: MboxError) -> RejectReason {
        match error {
            MboxError::NotMbox => RejectReason::NotMail(NotMailReason::NoHeaderLine),
            MboxError::Oversized { size, cap, .. } => RejectReason::Oversized { size, cap },
            MboxError::EmptyMessage { .. } => RejectReason::EmptyMessage,
            MboxError::Io { source, .. } => RejectReason::from_io(&source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ref_display() {
        let mbox = SourceRef {
            path: PathBuf::from("/a/b.mbox"),
            location: Location::Mbox {
                index: 3,
                offset: 1234,
            },
        };
        assert_eq!(mbox.to_string(), "/a/b.mbox (mbox message #3 at byte 1234)");
        let rejected = Rejected {
            source: SourceRef::file("/x.png"),
            reason: RejectReason::NotMail(NotMailReason::BinaryFormat {
                format: "PNG image",
            }),
        };
        assert_eq!(
            rejected.to_string(),
            "/x.png: not mail: binary file (PNG image), not an RFC 5322 message"
        );
        assert_eq!(rejected.reason.code(), "not_mail");
    }
}
