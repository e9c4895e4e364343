//! Walking the PATH arguments of `coffer import`: classify each path and yield messages.
//!
//! [`walk`] returns a [`Walker`], an iterator of `Result<ImportItem, Rejected>` that does
//! its I/O lazily, one file at a time, in a deterministic order: the arguments in the order
//! given, directory entries sorted by name, depth first.
//!
//! Each path is classified like this (symbolic links are followed):
//! - **A directory that is a Maildir** (at least two of `cur/`, `new/`, `tmp/`): its
//!   messages and those of its Maildir++ subfolders, in [`maildir`](super::maildir)
//!   order. Within each folder, the other entries beside `cur/`, `new/` and `tmp/` are
//!   classified like any path below: files that are mail (hand-made and tool-made
//!   Maildirs keep messages there) are archived, other files rejected with their
//!   reason, and subdirectories walked (Dovecot's `fs` layout nests Maildirs that way).
//!   The files of `tmp/` (deliveries in progress) are skipped and listed; the mail
//!   store's own bookkeeping files (`dovecot-uidlist`, `dovecot.index*`,
//!   `subscriptions`, `maildirsize`, ...: the list is in [`maildir`](super::maildir))
//!   are not mail and are passed over without a word.
//! - **Any other directory**: its entries, sorted, recursively. Hidden entries (names
//!   starting with `.`) are skipped and listed, except Maildir++ folders inside a
//!   Maildir, the bookkeeping files above and paths given explicitly as arguments.
//! - **A gzip- or zstd-compressed file** (`.gz`, as mailing-list archives are published:
//!   pipermail's `2024-January.txt.gz`, `mbox.gz` exports; `.zst`), recognised by its
//!   first bytes: decompressed while it is read (every member or frame of the file), then
//!   classified by its content like any other file below. Offsets in rejections are then
//!   offsets in the decompressed stream; a corrupt or truncated stream is a rejection with
//!   its reason, after the messages before it. Maildir message files stored compressed
//!   (Dovecot's `zlib` plugin, gzip or zstd) are decompressed too. Other compressed
//!   formats (xz, bzip2) are rejected as binary: decompress them first.
//! - **A regular file whose first non-empty line starts with `From `**: an mbox file, read
//!   by [`MboxReader`](super::MboxReader). A single `.eml` saved with an envelope line in
//!   front is thus a one-message mbox, and the `From ` line is not archived.
//! - **An Apple Mail `.emlx` file** (also `.partial.emlx`): a line with the message's
//!   length in bytes, the message, then a property list of Apple Mail's flags. The message
//!   is what is archived; the length line and the property list are Apple Mail's storage,
//!   as an mbox's `From ` line is the mbox's. An `.emlx` file whose first line is not a
//!   length is read whole, like any other file. A `.partial.emlx` holds the message
//!   without the attachments Apple Mail keeps beside it (`*.emlxpart`, `Attachments/`):
//!   those files are not messages and are rejected as such, so import such a mailbox
//!   from Apple Mail's own export (`Mailbox > Export Mailbox…`, an mbox) to keep them.
//! - **Any other regular file**, whatever its extension: one message. It is rejected if
//!   [`looks_like_mail`](super::looks_like_mail) says it is not mail, or if it is larger
//!   than the cap (then a plain file is not read at all; a compressed one is read up to
//!   the cap, and its size is reported as one byte over it).
//! - Anything else (FIFO, socket, device) is rejected, as are paths that do not exist,
//!   broken links and unreadable files.
//!
//! Every message, from whatever container, passes the same [`looks_like_mail`] test.
//!
//! A directory reached a second time (a symbolic-link loop, or two links to one folder) is
//! skipped, counted in [`WalkStats::skipped_revisits`] and listed; it is not a rejection,
//! since its messages were already yielded once.
//!
//! Every path the walk meets is thus accounted for: yielded as a message, yielded as a
//! rejection with its reason, or listed in [`Walker::skipped`] with its reason — except
//! a mail store's bookkeeping files, which are not mail by definition.
//!
//! [`looks_like_mail`]: super::looks_like_mail

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;

use super::maildir::{self, MaildirEntry, MaildirItem, MaildirWalk};
use super::mbox::{MboxOptions, MboxReader};
use super::sniff::looks_like_mail;
use super::{ImportItem, Location, RejectReason, Rejected, SkipReason, Skipped, SourceRef};

/// Read buffer for files: large enough that mbox scanning is not syscall-bound.
const READ_BUFFER: usize = 256 * 1024;

/// A file being read: as it is on disk, or decompressed.
type FileReader = Box<dyn BufRead + Send>;

/// How a file is compressed, told by its first bytes (whatever its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    Gzip,
    Zstd,
}

impl Compression {
    fn of(head: &[u8]) -> Option<Compression> {
        // RFC 1952: ID1, ID2, CM = deflate; RFC 8878: the zstd frame magic number.
        if head.starts_with(b"\x1f\x8b\x08") {
            Some(Compression::Gzip)
        } else if head.starts_with(b"\x28\xb5\x2f\xfd") {
            Some(Compression::Zstd)
        } else {
            None
        }
    }

    /// The decompressed stream of `reader`: every gzip member, every zstd frame.
    fn decoder<'a>(
        self,
        reader: impl BufRead + Send + 'a,
    ) -> io::Result<Box<dyn BufRead + Send + 'a>> {
        Ok(match self {
            Compression::Gzip => Box::new(BufReader::with_capacity(
                READ_BUFFER,
                MultiGzDecoder::new(reader),
            )),
            Compression::Zstd => Box::new(BufReader::with_capacity(
                READ_BUFFER,
                zstd::stream::read::Decoder::with_buffer(reader)?,
            )),
        })
    }
}

/// Options for [`walk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WalkOptions {
    /// How mbox files are split; its `max_message_bytes` caps every message, from any
    /// source.
    pub mbox: MboxOptions,
}

/// Counters for the import summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WalkStats {
    /// Regular files opened (single messages, mbox files, Maildir message files).
    pub files: u64,
    /// Of those, mbox files.
    pub mbox_files: u64,
    /// Maildir roots walked.
    pub maildirs: u64,
    /// Plain directories walked.
    pub directories: u64,
    /// Hidden entries skipped (listed in [`Walker::skipped`]).
    pub skipped_hidden: u64,
    /// Directories skipped because they had been walked already (listed in
    /// [`Walker::skipped`]).
    pub skipped_revisits: u64,
}

/// Identity of a directory, to walk each one once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum DirKey {
    #[cfg(unix)]
    Inode(u64, u64),
    #[cfg(not(unix))]
    Path(PathBuf),
}

/// A pending piece of work; the top of the stack is the current one.
enum Work {
    /// Paths to visit in order (the arguments, or a directory's sorted entries).
    List {
        entries: std::vec::IntoIter<PathBuf>,
        explicit: bool,
    },
    /// An mbox file being split.
    Mbox {
        path: PathBuf,
        reader: Box<MboxReader<FileReader>>,
        messages: u64,
    },
    /// A Maildir being walked.
    Maildir(MaildirWalk),
}

/// The iterator returned by [`walk`]. See the module docs.
pub struct Walker {
    stack: Vec<Work>,
    visited: HashSet<DirKey>,
    options: WalkOptions,
    stats: WalkStats,
    skipped: Vec<Skipped>,
}

/// Walks the given paths; see the module docs for the classification and order.
pub fn walk<I, P>(paths: I, options: WalkOptions) -> Walker
where
    I: IntoIterator<Item = P>,
    P: Into<PathBuf>,
{
    let paths: Vec<PathBuf> = paths.into_iter().map(Into::into).collect();
    Walker {
        stack: vec![Work::List {
            entries: paths.into_iter(),
            explicit: true,
        }],
        visited: HashSet::new(),
        options,
        stats: WalkStats::default(),
        skipped: Vec::new(),
    }
}

impl Walker {
    /// Counters so far.
    pub fn stats(&self) -> WalkStats {
        self.stats
    }

    /// The paths skipped so far, in walk order, each with its reason.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Takes the list of [`Self::skipped`] paths.
    pub fn take_skipped(&mut self) -> Vec<Skipped> {
        std::mem::take(&mut self.skipped)
    }

    fn skip(&mut self, path: PathBuf, reason: SkipReason) {
        match reason {
            SkipReason::Hidden => self.stats.skipped_hidden += 1,
            SkipReason::Revisited => self.stats.skipped_revisits += 1,
            SkipReason::MaildirTmp => {}
        }
        self.skipped.push(Skipped { path, reason });
    }

    /// The per-message size cap.
    fn cap(&self) -> u64 {
        self.options.mbox.max_message_bytes
    }

    /// Classifies one path; yields an item or a rejection, or pushes work and yields
    /// nothing.
    fn visit(&mut self, path: PathBuf, explicit: bool) -> Option<Result<ImportItem, Rejected>> {
        let hidden = path
            .file_name()
            .is_some_and(|name| name.as_encoded_bytes().starts_with(b"."));
        if hidden && !explicit {
            self.skip(path, SkipReason::Hidden);
            return None;
        }
        let metadata = match fs::metadata(&path) {
            Ok(metadata) => metadata,
            Err(error) => {
                let reason = if error.kind() == io::ErrorKind::NotFound
                    && fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink())
                {
                    RejectReason::BrokenSymlink
                } else {
                    RejectReason::from_io(&error)
                };
                return Some(Err(reject(path, reason)));
            }
        };
        if metadata.is_dir() {
            return self.visit_dir(path, &metadata);
        }
        if !metadata.is_file() {
            return Some(Err(reject(path, RejectReason::NotRegularFile)));
        }
        self.stats.files += 1;
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) => return Some(Err(reject(path, RejectReason::from_io(&error)))),
        };
        let mut plain = BufReader::with_capacity(READ_BUFFER, file);
        let compression = match plain.fill_buf() {
            Ok(head) => Compression::of(head),
            Err(error) => return Some(Err(reject(path, RejectReason::from_io(&error)))),
        };
        // The size on disk bounds a plain file's message; a compressed one is bounded
        // while it is read (`read_single_message` never reads past the cap).
        let (mut reader, len): (FileReader, u64) = match compression {
            Some(kind) => match kind.decoder(plain) {
                Ok(decoded) => (decoded, 0),
                Err(error) => return Some(Err(reject(path, RejectReason::from_io(&error)))),
            },
            None => (Box::new(plain), metadata.len()),
        };
        let starts_with_from = match reader.fill_buf() {
            Ok(head) => starts_like_mbox(head),
            Err(error) => return Some(Err(reject(path, RejectReason::from_io(&error)))),
        };
        if starts_with_from {
            self.stats.mbox_files += 1;
            self.stack.push(Work::Mbox {
                path,
                reader: Box::new(MboxReader::new(reader, self.options.mbox)),
                messages: 0,
            });
            return None;
        }
        Some(read_single_message(
            reader,
            len,
            self.cap(),
            SourceRef::file(path),
        ))
    }

    /// A directory: a Maildir, or a folder to recurse into.
    fn visit_dir(
        &mut self,
        path: PathBuf,
        metadata: &fs::Metadata,
    ) -> Option<Result<ImportItem, Rejected>> {
        if !self.visited.insert(dir_key(metadata, &path)) {
            tracing::debug!(
                revisits = self.stats.skipped_revisits + 1,
                "directory already walked, skipped"
            );
            self.skip(path, SkipReason::Revisited);
            return None;
        }
        if maildir::is_maildir(&path) {
            // Everything in it, other Maildir++ folders and nested folders included,
            // comes through `MaildirWalk`.
            let walk = match MaildirWalk::new(&path) {
                Ok(walk) => walk,
                Err(error) => return Some(Err(reject(path, RejectReason::from_io(&error)))),
            };
            self.stats.maildirs += 1;
            self.stack.push(Work::Maildir(walk));
        } else {
            let entries = match list_dir(&path) {
                Ok(entries) => entries,
                Err(error) => return Some(Err(reject(path, RejectReason::from_io(&error)))),
            };
            self.stats.directories += 1;
            self.stack.push(Work::List {
                entries: entries.into_iter(),
                explicit: false,
            });
        }
        None
    }

    /// One Maildir message file.
    fn read_maildir_entry(&mut self, entry: MaildirEntry) -> Result<ImportItem, Rejected> {
        self.stats.files += 1;
        let source = SourceRef {
            path: entry.path,
            location: Location::Maildir {
                folder: entry.folder,
                subdir: entry.subdir,
                flags: entry.flags,
            },
        };
        let opened = File::open(&source.path).and_then(|file| {
            let len = file.metadata()?.len();
            Ok((file, len))
        });
        match opened {
            // Read straight into the message's buffer: a BufReader in between would
            // read each file into its own buffer first and copy it from there.
            Ok((file, len)) => read_single_message(file, len, self.cap(), source),
            Err(error) => Err(Rejected {
                source,
                reason: RejectReason::from_io(&error),
            }),
        }
    }
}

impl Iterator for Walker {
    type Item = Result<ImportItem, Rejected>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let top = self.stack.last_mut()?;
            match top {
                Work::List { entries, explicit } => {
                    let explicit = *explicit;
                    match entries.next() {
                        Some(path) => {
                            if let Some(item) = self.visit(path, explicit) {
                                return Some(item);
                            }
                        }
                        None => {
                            self.stack.pop();
                        }
                    }
                }
                Work::Mbox {
                    path,
                    reader,
                    messages,
                } => match reader.next() {
                    None => {
                        tracing::debug!(
                            messages = *messages,
                            bytes = reader.bytes_read(),
                            "mbox file done"
                        );
                        self.stack.pop();
                    }
                    Some(Ok(message)) => {
                        *messages += 1;
                        let source = SourceRef {
                            path: path.clone(),
                            location: Location::Mbox {
                                index: message.index,
                                offset: message.offset,
                            },
                        };
                        return Some(match looks_like_mail(&message.raw) {
                            Ok(()) => Ok(ImportItem {
                                source,
                                raw: message.raw,
                                mbox_from: Some(message.from_line),
                            }),
                            Err(reason) => Err(Rejected {
                                source,
                                reason: reason.into(),
                            }),
                        });
                    }
                    Some(Err(error)) => {
                        *messages += 1;
                        let (index, offset) = match &error {
                            super::MboxError::Oversized { index, offset, .. }
                            | super::MboxError::EmptyMessage { index, offset } => (*index, *offset),
                            super::MboxError::Io { offset, .. } => (*messages - 1, *offset),
                            super::MboxError::NotMbox => (0, 0),
                        };
                        let source = SourceRef {
                            path: path.clone(),
                            location: Location::Mbox { index, offset },
                        };
                        if error.is_fatal() {
                            self.stack.pop();
                        }
                        return Some(Err(Rejected {
                            source,
                            reason: error.into(),
                        }));
                    }
                },
                Work::Maildir(walk) => match walk.next() {
                    None => {
                        self.stack.pop();
                    }
                    Some(Ok(MaildirItem::Message(entry))) => {
                        return Some(self.read_maildir_entry(entry));
                    }
                    Some(Ok(MaildirItem::Other(path))) => {
                        if let Some(item) = self.visit(path, false) {
                            return Some(item);
                        }
                    }
                    Some(Ok(MaildirItem::Skipped(Skipped { path, reason }))) => {
                        self.skip(path, reason);
                    }
                    Some(Err((path, error))) => {
                        return Some(Err(reject(path, RejectReason::from_io(&error))));
                    }
                },
            }
        }
    }
}

/// Reads one whole-file message (at most `cap` bytes), decompressed if it was stored
/// compressed (a Maildir entry of Dovecot's `zlib` plugin), and checks that it is mail.
fn read_single_message(
    reader: impl Read,
    len: u64,
    cap: u64,
    source: SourceRef,
) -> Result<ImportItem, Rejected> {
    let read = read_capped(reader, len, cap).and_then(|raw| match Compression::of(&raw) {
        Some(kind) => {
            let decoded = kind
                .decoder(&raw[..])
                .map_err(|e| RejectReason::from_io(&e))?;
            read_capped(decoded, 0, cap)
        }
        None => Ok(raw),
    });
    let raw = match read {
        Ok(raw) => emlx_message(&source.path, raw),
        Err(reason) => return Err(Rejected { source, reason }),
    };
    match looks_like_mail(&raw) {
        Ok(()) => Ok(ImportItem {
            source,
            raw,
            mbox_from: None,
        }),
        Err(reason) => Err(Rejected {
            source,
            reason: reason.into(),
        }),
    }
}

/// The message inside an Apple Mail `.emlx` file (see the module docs); any other file's
/// bytes as they are. The announced length is trusted only when Apple Mail's property
/// list (or the end of the file) follows it; otherwise the message runs to where the
/// property list starts, or to the end: never a byte of the message lost, never a byte
/// of the property list archived as message.
fn emlx_message(path: &Path, raw: Vec<u8>) -> Vec<u8> {
    if !path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("emlx"))
    {
        return raw;
    }
    let Some(eol) = raw.iter().position(|&b| b == b'\n') else {
        return raw;
    };
    let announced = std::str::from_utf8(&raw[..eol]).ok().map(str::trim);
    let Some(len) = announced.and_then(|l| l.parse::<usize>().ok()) else {
        return raw;
    };
    let start = eol + 1;
    let is_plist = |rest: &[u8]| {
        let rest = rest.trim_ascii_start();
        rest.is_empty() || rest.starts_with(b"<?xml") || rest.starts_with(b"<plist")
    };
    let end = match start.checked_add(len) {
        Some(end) if end <= raw.len() && is_plist(&raw[end..]) => end,
        _ => memchr::memmem::rfind(&raw[start..], b"<?xml")
            .map(|at| start + at)
            .filter(|&at| is_plist(&raw[at..]))
            .unwrap_or(raw.len()),
    };
    raw[start..end].to_vec()
}

/// Reads at most `cap` bytes; `len`, when known (the size on disk), is checked first.
fn read_capped(reader: impl Read, len: u64, cap: u64) -> Result<Vec<u8>, RejectReason> {
    if len > cap {
        return Err(RejectReason::Oversized { size: len, cap });
    }
    let mut raw = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // The file may grow while we read it: never read past the cap.
    reader
        .take(cap.saturating_add(1))
        .read_to_end(&mut raw)
        .map_err(|error| RejectReason::from_io(&error))?;
    if raw.len() as u64 > cap {
        return Err(RejectReason::Oversized {
            size: raw.len() as u64,
            cap,
        });
    }
    Ok(raw)
}

/// Sum of the sizes of the regular files under `paths` (for a progress bar's total):
/// what a walk will read, before it reads it. Links are followed as the walk follows
/// them; depth is bounded like the walk's.
pub fn total_bytes(paths: &[std::path::PathBuf]) -> u64 {
    fn size(path: &Path, depth: u32) -> u64 {
        let Ok(meta) = std::fs::metadata(path) else {
            return 0;
        };
        if meta.is_file() {
            return meta.len();
        }
        if !meta.is_dir() || depth > 64 {
            return 0;
        }
        std::fs::read_dir(path)
            .map(|entries| entries.flatten().map(|e| size(&e.path(), depth + 1)).sum())
            .unwrap_or(0)
    }
    paths.iter().map(|p| size(p, 0)).sum()
}

/// Whether a file's first bytes make it an mbox: the first non-empty line starts with
/// `From `.
pub fn starts_like_mbox(head: &[u8]) -> bool {
    let mut rest = head;
    loop {
        if let Some(after) = rest.strip_prefix(b"\r\n") {
            rest = after;
        } else if let Some(after) = rest.strip_prefix(b"\n") {
            rest = after;
        } else {
            return rest.starts_with(b"From ");
        }
    }
}

/// A directory's entries, sorted by file name bytes.
fn list_dir(path: &Path) -> io::Result<Vec<PathBuf>> {
    let mut entries = fs::read_dir(path)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<io::Result<Vec<_>>>()?;
    entries.sort_by(|a, b| {
        let a = a
            .file_name()
            .map(|n| n.as_encoded_bytes())
            .unwrap_or_default();
        let b = b
            .file_name()
            .map(|n| n.as_encoded_bytes())
            .unwrap_or_default();
        a.cmp(b)
    });
    Ok(entries)
}

fn reject(path: PathBuf, reason: RejectReason) -> Rejected {
    Rejected {
        source: SourceRef::file(path),
        reason,
    }
}

#[cfg(unix)]
fn dir_key(metadata: &fs::Metadata, _path: &Path) -> DirKey {
    use std::os::unix::fs::MetadataExt;
    DirKey::Inode(metadata.dev(), metadata.ino())
}

#[cfg(not(unix))]
fn dir_key(_metadata: &fs::Metadata, path: &Path) -> DirKey {
    DirKey::Path(fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::NotMailReason;

    fn write(path: &Path, content: &[u8]) {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(path, content).expect("write");
    }

    fn collect(paths: &[PathBuf]) -> (Vec<ImportItem>, Vec<Rejected>, WalkStats) {
        let mut walker = walk(paths.iter().cloned(), WalkOptions::default());
        let (mut items, mut rejected) = (Vec::new(), Vec::new());
        for result in walker.by_ref() {
            match result {
                Ok(item) => items.push(item),
                Err(r) => rejected.push(r),
            }
        }
        (items, rejected, walker.stats())
    }

    fn name(path: &Path) -> String {
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string()
    }

    const MAIL: &[u8] = b"From: a@example.com\nSubject: x\n\nbody\n";

    #[test]
    fn classifies_eml_mbox_maildir_and_folders() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(&root.join("a.eml"), MAIL);
        write(&root.join("noext"), b"Subject: no extension\n\nx\n");
        write(
            &root.join("box.mbox"),
            b"From a Mon Jan  1 00:00:00 2024\nSubject: 1\n\none\n\nFrom b Mon Jan  1 00:00:01 2024\nSubject: 2\n\ntwo\n",
        );
        write(&root.join("sub/deeper/c.eml"), MAIL);
        write(&root.join("Maildir/cur/1.x:2,S"), b"Subject: md\n\nm\n");
        fs::create_dir_all(root.join("Maildir/new")).expect("mkdir");
        write(&root.join("Maildir/dovecot-uidlist"), b"3 V1 N2\n");
        write(
            &root.join("Maildir/.Sent/cur/2.y:2,RS"),
            b"Subject: sent\n\ns\n",
        );
        fs::create_dir_all(root.join("Maildir/.Sent/new")).expect("mkdir");
        write(&root.join(".hidden.eml"), MAIL);
        write(&root.join(".git/config"), b"[core]\n");

        let (items, rejected, stats) = collect(&[root.to_path_buf()]);
        assert!(rejected.is_empty(), "{rejected:?}");
        let sources: Vec<String> = items
            .iter()
            .map(|i| match &i.source.location {
                Location::File => name(&i.source.path),
                Location::Mbox { index, .. } => format!("{}#{index}", name(&i.source.path)),
                Location::Maildir { folder, flags, .. } => format!("maildir:{folder}:{flags}"),
            })
            .collect();
        assert_eq!(
            sources,
            [
                "maildir::S",
                "maildir:Sent:RS",
                "a.eml",
                "box.mbox#0",
                "box.mbox#1",
                "noext",
                "c.eml"
            ]
        );
        assert_eq!(items[3].raw, b"Subject: 1\n\none\n");
        assert!(items[3].mbox_from.is_some());
        assert_eq!(items[2].raw, MAIL);
        assert_eq!(stats.mbox_files, 1);
        assert_eq!(stats.maildirs, 1);
        assert_eq!(stats.skipped_hidden, 2);
        assert_eq!(stats.files, 6);
    }

    /// Issue 22, item 10: a hand-made Maildir keeps messages beside `cur/` and `new/`;
    /// they are archived, a note there is rejected with its reason, and what the walk
    /// does not read (a delivery in `tmp/`, hidden files, a hidden folder) is listed
    /// with its reason. Only the store's bookkeeping files pass without a word.
    #[test]
    fn every_file_of_a_hand_made_maildir_is_accounted_for() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("Maildir");
        write(&root.join("cur/1.a:2,S"), MAIL);
        fs::create_dir_all(root.join("new")).expect("mkdir");
        write(&root.join("tmp/2.b"), b"Subject: half delivered\n\n");
        write(&root.join("0001.eml"), b"Subject: beside cur\n\none\n");
        write(&root.join("0002"), b"Subject: beside cur too\n\ntwo\n");
        write(&root.join("notes.txt"), b"remember the milk\n");
        write(&root.join(".DS_Store"), b"\0\0\0\x01Bud1");
        write(&root.join("cur/.keep"), b"");
        write(&root.join(".Trash/cur/3.c:2,ST"), b"Subject: trash\n\n");
        fs::create_dir_all(root.join(".Trash/new")).expect("mkdir");
        write(
            &root.join(".Trash/0003.eml"),
            b"Subject: beside Trash cur\n\n",
        );
        write(&root.join(".notes/todo"), b"Subject: hidden folder\n\n");
        write(&root.join("dovecot-uidlist"), b"3 V1 N2\n");
        write(&root.join("dovecot.index.cache"), b"\0\x01");
        write(&root.join(".Trash/maildirfolder"), b"");

        let mut walker = walk([root.clone()], WalkOptions::default());
        let (mut items, mut rejected) = (Vec::new(), Vec::new());
        for result in walker.by_ref() {
            match result {
                Ok(item) => items.push(item),
                Err(r) => rejected.push(r),
            }
        }
        let archived: Vec<(String, bool)> = items
            .iter()
            .map(|i| {
                let in_maildir = matches!(i.source.location, Location::Maildir { .. });
                (name(&i.source.path), in_maildir)
            })
            .collect();
        assert_eq!(
            archived,
            [
                ("1.a:2,S".to_string(), true),
                ("0001.eml".to_string(), false),
                ("0002".to_string(), false),
                ("3.c:2,ST".to_string(), true),
                ("0003.eml".to_string(), false),
            ]
        );
        let rejected: Vec<(String, &str)> = rejected
            .iter()
            .map(|r| (name(&r.source.path), r.reason.code()))
            .collect();
        assert_eq!(rejected, [("notes.txt".to_string(), "not_mail")]);
        let skipped: Vec<(String, &str)> = walker
            .skipped()
            .iter()
            .map(|s| (name(&s.path), s.reason.code()))
            .collect();
        assert_eq!(
            skipped,
            [
                (".keep".to_string(), "hidden"),
                (".DS_Store".to_string(), "hidden"),
                (".notes".to_string(), "hidden"),
                ("2.b".to_string(), "maildir_tmp"),
            ]
        );
        assert_eq!(walker.stats().skipped_hidden, 3);
        assert!(walker.skipped()[3].to_string().contains("tmp/"));
    }

    #[test]
    fn rejects_non_mail_with_reasons() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(&root.join("empty.eml"), b"");
        write(&root.join("image.png"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
        write(&root.join("notes.txt"), b"just some text\n");
        write(&root.join("nul.eml"), b"From: a\0\0\0\n\n");
        let missing = root.join("missing.eml");
        let (items, rejected, _) = collect(&[root.to_path_buf(), missing]);
        assert!(items.is_empty());
        let reasons: Vec<(String, RejectReason)> = rejected
            .into_iter()
            .map(|r| (name(&r.source.path), r.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                (
                    "empty.eml".to_string(),
                    RejectReason::NotMail(NotMailReason::Empty)
                ),
                (
                    "image.png".to_string(),
                    RejectReason::NotMail(NotMailReason::BinaryFormat {
                        format: "PNG image"
                    })
                ),
                (
                    "notes.txt".to_string(),
                    RejectReason::NotMail(NotMailReason::NoHeaderLine)
                ),
                (
                    "nul.eml".to_string(),
                    RejectReason::NotMail(NotMailReason::NulInHeaders { offset: 7 })
                ),
                ("missing.eml".to_string(), RejectReason::NotFound),
            ]
        );
    }

    fn gzip(content: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(content).expect("gzip");
        encoder.finish().expect("gzip")
    }

    #[test]
    fn gzip_files_are_read_decompressed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let mbox = b"From a Mon Jan  1 00:00:00 2024\nSubject: 1\n\none\n\n\
                     From b Mon Jan  1 00:00:01 2024\nSubject: 2\n\ntwo\n";
        write(&root.join("1-2024-January.txt.gz"), &gzip(mbox));
        write(&root.join("2-message.eml.gz"), &gzip(MAIL));
        // Two gzip members, as `cat a.gz b.gz` makes: both are read.
        let mut members = gzip(b"From c Mon Jan  1 00:00:02 2024\nSubject: 3\n\nthree\n\n");
        members.extend(gzip(
            b"From d Mon Jan  1 00:00:03 2024\nSubject: 4\n\nfour\n",
        ));
        write(&root.join("3-members.mbox.gz"), &members);
        // Cut short: the messages before the cut, then the reason.
        let long: Vec<u8> = (0..200)
            .flat_map(|i| {
                format!(
                    "From x Mon Jan  1 00:00:00 2024\nSubject: m{i}\n\n{}\n\n",
                    "w ".repeat(200)
                )
                .into_bytes()
            })
            .collect();
        let whole = gzip(&long);
        write(&root.join("4-truncated.mbox.gz"), &whole[..whole.len() / 2]);
        // Garbage after a gzip header; and a gzip of something that is not mail.
        write(
            &root.join("5-corrupt.gz"),
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage, not deflate",
        );
        write(&root.join("6-binary.gz"), &gzip(b"\x00\x01\x02\x03 binary"));
        write(
            &root.join("7-zstd.mbox.zst"),
            &zstd::encode_all(
                &b"From e Mon Jan  1 00:00:04 2024\nSubject: 5\n\nfive\n"[..],
                3,
            )
            .expect("zstd"),
        );

        let (items, rejected, _) = collect(&[root.to_path_buf()]);
        let subjects: Vec<String> = items
            .iter()
            .filter(|i| !name(&i.source.path).starts_with('4'))
            .map(|i| String::from_utf8_lossy(&i.raw).into_owned())
            .collect();
        assert_eq!(
            subjects,
            [
                "Subject: 1\n\none\n",
                "Subject: 2\n\ntwo\n",
                std::str::from_utf8(MAIL).expect("utf-8"),
                "Subject: 3\n\nthree\n",
                "Subject: 4\n\nfour\n",
                "Subject: 5\n\nfive\n"
            ]
        );
        let truncated = items
            .iter()
            .filter(|i| name(&i.source.path).starts_with('4'))
            .count();
        assert!((1..200).contains(&truncated), "{truncated}");
        let reasons: Vec<(String, String)> = rejected
            .iter()
            .map(|r| (name(&r.source.path), r.reason.to_string()))
            .collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert_eq!(reasons[0].0, "4-truncated.mbox.gz");
        assert_eq!(reasons[1].0, "5-corrupt.gz");
        assert_eq!(reasons[2].0, "6-binary.gz");
        assert!(reasons[0].1.contains("deflate"), "{reasons:?}");
        assert!(reasons[1].1.contains("deflate"), "{reasons:?}");
        assert!(reasons[2].1.starts_with("not mail"), "{reasons:?}");
    }

    #[test]
    fn apple_mail_emlx_files_yield_the_message_without_length_line_and_plist() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let plist = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n<dict><key>flags</key><integer>8590195713</integer></dict>\n</plist>\n";
        let emlx = |message: &[u8]| {
            [
                format!("{}       \n", message.len()).as_bytes(),
                message,
                plist,
            ]
            .concat()
        };
        write(&root.join("1.emlx"), &emlx(MAIL));
        write(
            &root.join("2.partial.emlx"),
            &emlx(b"Subject: partial\r\n\r\nbody\r\n"),
        );
        // Not a length on the first line: the file as it is.
        write(&root.join("3.emlx"), MAIL);
        // A wrong length: the message runs to the property list, whether the length is too
        // short (no body byte lost) or too long (no plist byte archived).
        let wrong = |len: usize| [format!("{len}\n").as_bytes(), MAIL, plist].concat();
        write(&root.join("4.emlx"), &wrong(MAIL.len() - 5));
        write(&root.join("5.emlx"), &wrong(MAIL.len() + 40));
        let (items, rejected, _) = collect(&[root.to_path_buf()]);
        assert!(rejected.is_empty(), "{rejected:?}");
        let raws: Vec<&[u8]> = items.iter().map(|i| i.raw.as_slice()).collect();
        assert_eq!(
            raws,
            [MAIL, b"Subject: partial\r\n\r\nbody\r\n", MAIL, MAIL, MAIL]
        );
    }

    /// Dovecot's `zlib` plugin stores Maildir message files compressed (gzip or zstd).
    #[test]
    fn compressed_maildir_entries_are_read_decompressed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("Maildir");
        fs::create_dir_all(root.join("new")).expect("mkdir");
        write(&root.join("cur/1.a:2,S"), &gzip(MAIL));
        write(
            &root.join("cur/2.b:2,S"),
            &zstd::encode_all(MAIL, 3).expect("zstd"),
        );
        write(&root.join("cur/3.c:2,S"), MAIL);
        write(&root.join("cur/4.d:2,S"), &gzip(b"\x00 not mail"));
        let (items, rejected, _) = collect(&[root]);
        assert_eq!(items.len(), 3, "{rejected:?}");
        assert!(items.iter().all(|i| i.raw == MAIL));
        assert_eq!(rejected.len(), 1);
        assert!(rejected[0].reason.to_string().starts_with("not mail"));
    }

    #[test]
    fn explicit_hidden_path_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(".secret.eml");
        write(&path, MAIL);
        let (items, rejected, _) = collect(&[path]);
        assert_eq!(items.len(), 1);
        assert!(rejected.is_empty());
    }

    #[test]
    fn oversized_file_is_rejected_unread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big.eml");
        let mut content = MAIL.to_vec();
        content.extend(std::iter::repeat_n(b'x', 5000));
        write(&path, &content);
        let options = WalkOptions {
            mbox: MboxOptions {
                max_message_bytes: 1000,
                ..MboxOptions::default()
            },
        };
        let results: Vec<_> = walk([path], options).collect();
        assert!(matches!(
            &results[..],
            [Err(Rejected {
                reason: RejectReason::Oversized { cap: 1000, .. },
                ..
            })]
        ));
    }

    #[test]
    fn mbox_rejections_carry_offsets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("box");
        write(
            &path,
            b"From a Mon Jan  1 00:00:00 2024\n\nFrom b Mon Jan  1 00:00:00 2024\nnot a header\n\nFrom c Mon Jan  1 00:00:00 2024\nSubject: ok\n\n",
        );
        let results: Vec<_> = walk([path], WalkOptions::default()).collect();
        assert_eq!(results.len(), 3);
        match &results[0] {
            Err(r) => {
                assert_eq!(r.reason, RejectReason::EmptyMessage);
                assert_eq!(
                    r.source.location,
                    Location::Mbox {
                        index: 0,
                        offset: 0
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        match &results[1] {
            Err(r) => {
                assert_eq!(r.reason, RejectReason::NotMail(NotMailReason::NoHeaderLine));
                assert_eq!(
                    r.source.location,
                    Location::Mbox {
                        index: 1,
                        offset: 33
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(results[2].is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_and_broken_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(&root.join("a/m.eml"), MAIL);
        std::os::unix::fs::symlink(root.join("a"), root.join("a/loop")).expect("symlink");
        std::os::unix::fs::symlink(root.join("nowhere"), root.join("broken")).expect("symlink");
        let mut walker = walk([root.to_path_buf()], WalkOptions::default());
        let (items, rejected): (Vec<_>, Vec<_>) = walker.by_ref().partition(Result::is_ok);
        let rejected: Vec<Rejected> = rejected.into_iter().filter_map(Result::err).collect();
        let stats = walker.stats();
        assert_eq!(items.len(), 1);
        assert_eq!(stats.skipped_revisits, 1);
        assert_eq!(
            walker.skipped(),
            [Skipped {
                path: root.join("a/loop"),
                reason: SkipReason::Revisited
            }]
        );
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].reason, RejectReason::BrokenSymlink);
    }

    #[cfg(unix)]
    #[test]
    fn fifo_is_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("pipe");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !status.is_ok_and(|s| s.success()) {
            return; // no mkfifo here
        }
        let results: Vec<_> = walk([fifo], WalkOptions::default()).collect();
        assert!(matches!(
            &results[..],
            [Err(Rejected {
                reason: RejectReason::NotRegularFile,
                ..
            })]
        ));
    }

    #[test]
    fn starts_like_mbox_rules() {
        assert!(starts_like_mbox(b"From a b\n"));
        assert!(starts_like_mbox(b"\r\n\nFrom a b\n"));
        assert!(!starts_like_mbox(b"From: a\n"));
        assert!(!starts_like_mbox(b""));
    }

    /// Peak memory of the process, from `/proc/self/status` (Linux).
    #[cfg(target_os = "linux")]
    fn peak_rss_bytes() -> Option<u64> {
        let status = fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    /// Writes a 2 GiB mbox (4 KB to 6 MB messages, plus one 300 MB message over the
    /// default 150 MiB cap) and walks it, holding each item only as long as a pipeline
    /// stage would. Run alone: `cargo test -p coffer-ingest --lib -- --ignored
    /// import::walk::tests::two_gib_mbox_walks_in_bounded_memory --nocapture`.
    #[cfg(target_os = "linux")]
    #[test]
    #[ignore = "writes 2 GiB to a temporary directory; run alone to measure peak memory"]
    fn two_gib_mbox_walks_in_bounded_memory() {
        use std::io::Write;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big.mbox");
        let mut out = io::BufWriter::with_capacity(1 << 20, File::create(&path).expect("create"));
        let line = [b'x'; 76];
        let mut total = 0u64;
        let mut count = 0u64;
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        while total < 2 * 1024 * 1024 * 1024 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let lines = if count == 7 {
                300 * 1024 * 1024 / 77 // the oversized one
            } else if rng.is_multiple_of(100) {
                (rng % (6 * 1024 * 1024 / 77)) as usize
            } else {
                50 + (rng % 30) as usize
            };
            let header = format!(
                "From a@example.com Mon Jan  1 00:00:00 2024\nFrom: a@example.com\nSubject: m{count}\n\n"
            );
            out.write_all(header.as_bytes()).expect("write");
            total += header.len() as u64;
            for _ in 0..lines {
                out.write_all(&line).expect("write");
                out.write_all(b"\n").expect("write");
            }
            out.write_all(b"\n").expect("write");
            total += lines as u64 * 77 + 1;
            count += 1;
        }
        out.flush().expect("flush");
        drop(out);
        let before = peak_rss_bytes().unwrap_or(0);
        let started = std::time::Instant::now();
        let (mut items, mut rejected, mut bytes) = (0u64, 0u64, 0u64);
        for result in walk([&path], WalkOptions::default()) {
            match result {
                Ok(item) => {
                    items += 1;
                    bytes += item.raw.len() as u64;
                }
                Err(_) => rejected += 1,
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let peak = peak_rss_bytes().unwrap_or(0);
        println!(
            "{count} messages, {total} bytes: {items} items ({bytes} bytes), {rejected} rejected, \
             {seconds:.1} s ({:.0} MB/s), peak RSS {} MiB (before walking {} MiB)",
            total as f64 / seconds / 1e6,
            peak >> 20,
            before >> 20
        );
        assert_eq!(rejected, 1);
        assert_eq!(items + rejected, count);
        assert!(peak < 256 * 1024 * 1024, "peak RSS {peak} bytes");
    }
}
