//! Maildir reading: which directories are Maildirs, what each entry of a Maildir folder
//! is, and in which order the walk meets them.
//!
//! - A directory is a Maildir when it has at least two of `cur/`, `new/` and `tmp/`
//!   (archives and copies often drop the empty `tmp/`, sometimes `new/`).
//! - Messages are the regular files in `cur/` and `new/` whose names do not start with a
//!   dot (the Maildir definition of a message file).
//! - Maildir++ subfolders are the hidden directories of the root whose names start with a
//!   dot (`.Sent`, `.Archive.2019`) and that are Maildirs themselves; their folder name is
//!   the directory name without the leading dot (`Archive.2019`). The root folder's name is
//!   the empty string.
//! - Everything else is accounted for ([`MaildirItem`]): files in `tmp/` (deliveries in
//!   progress) and hidden entries are listed as skipped with their reason; other
//!   entries beside `cur/`, `new/` and `tmp/` (messages that hand-made and tool-made
//!   Maildirs keep there, notes, nested folders as Dovecot's `fs` layout has them) and
//!   entries of `cur/` and `new/` that are not regular files are handed back to the walk,
//!   which classifies them like any other path: mail is archived, the rest rejected with
//!   its reason.
//! - Only a mail store's own bookkeeping files at a folder's top level are passed over
//!   without a word ([`is_mail_store_file`]): Dovecot's (`dovecot-uidlist`,
//!   `dovecot-uidvalidity*`, `dovecot-keywords`, `dovecot-acl`, `dovecot.index*`,
//!   `dovecot.list.index*`, `dovecot.mailbox.log`, any other `dovecot-*` and `dovecot.*`,
//!   `subscriptions`), Maildir++'s (`maildirfolder`, `maildirsize`), Courier's
//!   (`courierimap*`, `courierpop3dsizelist`) and isync/mbsync's (`.uidvalidity`,
//!   `.mbsyncstate*`, `.isyncuidmap.db`).
//! - Order is deterministic: folders by name (root first). Within a folder: the files of
//!   `new/` and `cur/` together, by the number their unique name starts with (the
//!   delivery time in seconds, by Maildir convention), then by file name, then `new/`
//!   before `cur/`; then the hidden entries of `new/` and `cur/`; then the folder's own
//!   entries by name (the contents of `tmp/` in its place).
//! - Flags are the letters after the `2,` info marker (`:2,FRS`; `;` and `!` are accepted
//!   as the separator too, as some tools write them on file systems without `:`).
//!
//! Listing holds one folder's file names in memory at a time, not the whole tree.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{SkipReason, Skipped};

/// The subdirectory a message file was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MaildirSubdir {
    /// `new/`: delivered, not yet seen by a mail client.
    New,
    /// `cur/`: seen by a mail client.
    Cur,
}

/// One message file of a Maildir folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaildirEntry {
    /// Full path of the message file.
    pub path: PathBuf,
    /// Maildir++ folder name (`""` for the root folder, `Sent`, `Archive.2019`).
    pub folder: String,
    /// Whether the file is in `new/` or `cur/`.
    pub subdir: MaildirSubdir,
    /// The flag letters after `:2,` (e.g. `"FRS"`), empty when there are none.
    pub flags: String,
}

/// What the walk of a Maildir meets (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaildirItem {
    /// A message file in `cur/` or `new/`.
    Message(MaildirEntry),
    /// An entry that is not part of the Maildir's structure: to be classified like any
    /// other path (a file read as a message or an mbox, a directory walked).
    Other(PathBuf),
    /// Not read, and why.
    Skipped(Skipped),
}

/// Whether `dir` looks like a Maildir (at least two of `cur/`, `new/`, `tmp/`).
pub fn is_maildir(dir: &Path) -> bool {
    ["cur", "new", "tmp"]
        .iter()
        .filter(|sub| fs::metadata(dir.join(sub)).is_ok_and(|m| m.is_dir()))
        .count()
        >= 2
}

/// Whether `name`, at the top level of a Maildir folder, is a mail store's own
/// bookkeeping (index, UID list, quota, subscriptions) rather than mail: the documented
/// list of the module docs.
pub fn is_mail_store_file(name: &[u8]) -> bool {
    const EXACT: [&[u8]; 6] = [
        b"subscriptions",
        b"maildirfolder",
        b"maildirsize",
        b"courierpop3dsizelist",
        b".uidvalidity",
        b".isyncuidmap.db",
    ];
    EXACT.contains(&name)
        || name.starts_with(b"dovecot-")
        || name.starts_with(b"dovecot.")
        || name.starts_with(b"courierimap")
        || name.starts_with(b".mbsyncstate")
}

/// The Maildir++ subfolders of a Maildir root, sorted by name: `(folder name, path)`.
pub fn subfolders(root: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let mut folders = Vec::new();
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if let Some(folder) = maildir_plus_plus_folder(name, &entry.path()) {
            folders.push((folder.to_string(), entry.path()));
        }
    }
    folders.sort();
    Ok(folders)
}

/// The Maildir++ folder name of the root's entry `name` at `path`, if it is one.
fn maildir_plus_plus_folder<'a>(name: &'a str, path: &Path) -> Option<&'a str> {
    let folder = name.strip_prefix('.')?;
    if folder.is_empty() || folder == "." {
        return None;
    }
    (fs::metadata(path).is_ok_and(|m| m.is_dir()) && is_maildir(path)).then_some(folder)
}

/// Everything the walk meets in one folder at `dir` (named `folder`; `""` and
/// `is_root` for the root, whose hidden Maildir++ folders are walked as folders of
/// their own), in the documented order. A missing `cur/`, `new/` or `tmp/` counts as
/// empty.
pub fn list_folder(dir: &Path, folder: &str, is_root: bool) -> io::Result<Vec<MaildirItem>> {
    let mut keyed: Vec<((u64, OsString, MaildirSubdir), MaildirEntry)> = Vec::new();
    let mut hidden = Vec::new();
    let mut others = Vec::new();
    for subdir in [MaildirSubdir::New, MaildirSubdir::Cur] {
        let sub_path = dir.join(match subdir {
            MaildirSubdir::New => "new",
            MaildirSubdir::Cur => "cur",
        });
        for (name, path) in sorted_entries(&sub_path)? {
            let name_bytes = name.as_encoded_bytes();
            if name_bytes.starts_with(b".") {
                hidden.push(skipped(path, SkipReason::Hidden));
                continue;
            }
            // Follows symlinks: a linked message file is still a message. Anything else
            // (a directory, a broken link, a FIFO) is the walk's to classify.
            if !fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                others.push(MaildirItem::Other(path));
                continue;
            }
            let entry = MaildirEntry {
                flags: flags_of(name_bytes),
                path,
                folder: folder.to_string(),
                subdir,
            };
            keyed.push(((leading_number(name_bytes), name, subdir), entry));
        }
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut items: Vec<MaildirItem> = keyed
        .into_iter()
        .map(|(_, entry)| MaildirItem::Message(entry))
        .collect();
    items.extend(hidden);
    items.extend(others);
    for (name, path) in sorted_entries(dir)? {
        let name_bytes = name.as_encoded_bytes();
        match name_bytes {
            b"cur" | b"new" => {}
            b"tmp" => items.extend(
                sorted_entries(&path)?
                    .into_iter()
                    .map(|(_, path)| skipped(path, SkipReason::MaildirTmp)),
            ),
            _ if is_mail_store_file(name_bytes) => {}
            _ if name_bytes.starts_with(b".") => {
                let is_folder = is_root
                    && name
                        .to_str()
                        .and_then(|name| maildir_plus_plus_folder(name, &path))
                        .is_some();
                if !is_folder {
                    items.push(skipped(path, SkipReason::Hidden));
                }
            }
            _ => items.push(MaildirItem::Other(path)),
        }
    }
    Ok(items)
}

/// The entries of `dir` sorted by name (none when it does not exist).
fn sorted_entries(dir: &Path) -> io::Result<Vec<(OsString, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut listed = entries
        .map(|entry| entry.map(|e| (e.file_name(), e.path())))
        .collect::<io::Result<Vec<_>>>()?;
    listed.sort_by(|a, b| a.0.as_encoded_bytes().cmp(b.0.as_encoded_bytes()));
    Ok(listed)
}

fn skipped(path: PathBuf, reason: SkipReason) -> MaildirItem {
    MaildirItem::Skipped(Skipped { path, reason })
}

/// The number a Maildir unique name starts with (delivery time), or `u64::MAX` when it
/// does not start with a digit (such names sort after the conventional ones).
fn leading_number(name: &[u8]) -> u64 {
    let digits = name.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return u64::MAX;
    }
    std::str::from_utf8(&name[..digits])
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(u64::MAX)
}

/// Flag letters from a Maildir file name: what follows `:2,` (or `;2,`, `!2,`).
pub fn flags_of(name: &[u8]) -> String {
    let marker = name
        .windows(3)
        .rposition(|w| matches!(w[0], b':' | b';' | b'!') && w[1] == b'2' && w[2] == b',');
    match marker {
        Some(pos) => name[pos + 3..]
            .iter()
            .filter(|b| b.is_ascii_alphabetic())
            .map(|&b| char::from(b))
            .collect(),
        None => String::new(),
    }
}

/// Lazily walks a Maildir root and its Maildir++ subfolders, one folder listed at a time.
pub struct MaildirWalk {
    folders: std::vec::IntoIter<(String, PathBuf)>,
    current: std::vec::IntoIter<MaildirItem>,
}

impl MaildirWalk {
    /// Starts a walk of the Maildir at `root`. Fails only when the root's subfolders
    /// cannot be listed.
    pub fn new(root: &Path) -> io::Result<MaildirWalk> {
        let mut folders = vec![(String::new(), root.to_path_buf())];
        folders.extend(subfolders(root)?);
        Ok(MaildirWalk {
            folders: folders.into_iter(),
            current: Vec::new().into_iter(),
        })
    }
}

impl Iterator for MaildirWalk {
    /// What the walk met, or a folder that could not be listed (`(folder path, error)`).
    type Item = Result<MaildirItem, (PathBuf, io::Error)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.current.next() {
                return Some(Ok(item));
            }
            let (name, path) = self.folders.next()?;
            match list_folder(&path, &name, name.is_empty()) {
                Ok(items) => self.current = items.into_iter(),
                Err(error) => return Some(Err((path, error))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path, content: &[u8]) {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(path, content).expect("write");
    }

    #[test]
    fn flags_parsing() {
        assert_eq!(flags_of(b"1700000000.M1P2.host:2,FRS"), "FRS");
        assert_eq!(flags_of(b"1700000000.M1P2.host!2,S"), "S");
        assert_eq!(flags_of(b"1700000000.M1P2.host;2,"), "");
        assert_eq!(flags_of(b"1700000000.M1P2.host"), "");
        assert_eq!(flags_of(b"1700000000.M1P2.host,S=1234:2,T"), "T");
    }

    #[test]
    fn detects_maildir_with_two_of_three() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        assert!(!is_maildir(root));
        fs::create_dir(root.join("cur")).expect("mkdir");
        assert!(!is_maildir(root));
        fs::create_dir(root.join("new")).expect("mkdir");
        assert!(is_maildir(root));
    }

    /// The messages of `items`, as (file name, flags, subdir).
    fn messages(items: &[MaildirItem]) -> Vec<(String, String, MaildirSubdir)> {
        items
            .iter()
            .filter_map(|item| match item {
                MaildirItem::Message(entry) => {
                    Some((name_of(&entry.path), entry.flags.clone(), entry.subdir))
                }
                _ => None,
            })
            .collect()
    }

    fn name_of(path: &Path) -> String {
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string()
    }

    /// Everything else in `items`, as readable strings.
    fn others(items: &[MaildirItem]) -> Vec<String> {
        items
            .iter()
            .filter_map(|item| match item {
                MaildirItem::Message(_) => None,
                MaildirItem::Other(path) => Some(format!("other {}", name_of(path))),
                MaildirItem::Skipped(skipped) => Some(format!(
                    "skipped {} {}",
                    name_of(&skipped.path),
                    skipped.reason.code()
                )),
            })
            .collect()
    }

    #[test]
    fn lists_messages_sorted_and_accounts_for_everything_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        touch(&root.join("tmp/1.partial"), b"Subject: partial\n\n");
        touch(&root.join("cur/200.b.host:2,S"), b"Subject: b\n\n");
        touch(&root.join("new/100.a.host"), b"Subject: a\n\n");
        touch(&root.join("cur/30.c.host:2,RS"), b"Subject: c\n\n");
        touch(&root.join("cur/.hidden"), b"Subject: hidden\n\n");
        fs::create_dir_all(root.join("cur/subdir")).expect("mkdir");
        // Beside cur/ and new/: a message, a note, the store's bookkeeping.
        touch(&root.join("loose.eml"), b"Subject: loose\n\n");
        touch(&root.join("notes.txt"), b"remember the milk\n");
        touch(&root.join("dovecot-uidlist"), b"3 V1 N2\n");
        touch(&root.join("dovecot.index.log"), b"\x01\x02");
        touch(&root.join("maildirsize"), b"0S\n");
        touch(&root.join(".uidvalidity"), b"1\n");
        touch(&root.join(".DS_Store"), b"\0\0");
        let items = list_folder(root, "", true).expect("list");
        assert_eq!(
            messages(&items),
            [
                ("30.c.host:2,RS".into(), "RS".into(), MaildirSubdir::Cur),
                ("100.a.host".into(), String::new(), MaildirSubdir::New),
                ("200.b.host:2,S".into(), "S".into(), MaildirSubdir::Cur),
            ]
        );
        assert_eq!(
            others(&items),
            [
                "skipped .hidden hidden",
                "other subdir",
                "skipped .DS_Store hidden",
                "other loose.eml",
                "other notes.txt",
                "skipped 1.partial maildir_tmp",
            ]
        );
    }

    #[test]
    fn mail_store_bookkeeping_names() {
        for name in [
            "dovecot-uidlist",
            "dovecot-uidlist.lock",
            "dovecot-uidvalidity",
            "dovecot-uidvalidity.5f3e2a1b",
            "dovecot-keywords",
            "dovecot.index",
            "dovecot.index.cache",
            "dovecot.list.index.log",
            "dovecot.mailbox.log",
            "subscriptions",
            "maildirfolder",
            "maildirsize",
            "courierimapuiddb",
            "courierimapkeywords",
            ".uidvalidity",
            ".mbsyncstate",
            ".mbsyncstate.journal",
        ] {
            assert!(is_mail_store_file(name.as_bytes()), "{name}");
        }
        for name in [
            "dovecot",
            "notes.txt",
            "1700000000.M1.host",
            ".DS_Store",
            "cur",
        ] {
            assert!(!is_mail_store_file(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn walks_maildir_plus_plus_subfolders() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        touch(&root.join("cur/1.root:2,S"), b"Subject: root\n\n");
        touch(&root.join(".Sent/cur/2.sent:2,S"), b"Subject: sent\n\n");
        fs::create_dir_all(root.join(".Sent/new")).expect("mkdir");
        touch(&root.join(".Sent/maildirfolder"), b"");
        touch(&root.join(".Sent/3.loose"), b"Subject: loose in Sent\n\n");
        touch(&root.join(".Archive.2019/new/3.arch"), b"Subject: arch\n\n");
        fs::create_dir_all(root.join(".Archive.2019/tmp")).expect("mkdir");
        // Not Maildirs: a hidden dir without cur/new (skipped), and a dovecot index file
        // (bookkeeping).
        fs::create_dir_all(root.join(".notes")).expect("mkdir");
        touch(&root.join("dovecot.index"), b"\0\0");
        let walked: Vec<String> = MaildirWalk::new(root)
            .expect("walk")
            .map(|item| match item.expect("item") {
                MaildirItem::Message(e) => format!("message {}:{}", e.folder, e.flags),
                MaildirItem::Other(path) => format!("other {}", name_of(&path)),
                MaildirItem::Skipped(s) => {
                    format!("skipped {} {}", name_of(&s.path), s.reason.code())
                }
            })
            .collect();
        assert_eq!(
            walked,
            [
                "message :S",
                "skipped .notes hidden",
                "message Archive.2019:",
                "message Sent:S",
                "other 3.loose",
            ]
        );
    }
}
