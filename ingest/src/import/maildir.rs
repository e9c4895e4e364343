//! Maildir reading: which directories are Maildirs, which files in them are messages, and
//! in which order.
//!
//! - A directory is a Maildir when it has at least two of `cur/`, `new/` and `tmp/`
//!   (archives and copies often drop the empty `tmp/`, sometimes `new/`).
//! - Messages are the regular files in `cur/` and `new/`; `tmp/` holds deliveries in
//!   progress and is ignored, as are hidden files (`.` names) and anything that is not a
//!   regular file.
//! - Maildir++ subfolders are the hidden directories of the root whose names start with a
//!   dot (`.Sent`, `.Archive.2019`) and that are Maildirs themselves; their folder name is
//!   the directory name without the leading dot (`Archive.2019`). The root folder's name is
//!   the empty string.
//! - Order is deterministic: folders by name (root first), and within a folder the files of
//!   `new/` and `cur/` together, by the number their unique name starts with (the delivery
//!   time in seconds, by Maildir convention), then by file name, then `new/` before `cur/`.
//! - Flags are the letters after the `2,` info marker (`:2,FRS`; `;` and `!` are accepted
//!   as the separator too, as some tools write them on file systems without `:`).
//!
//! Listing holds one folder's file names in memory at a time, not the whole tree.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

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

/// Whether `dir` looks like a Maildir (at least two of `cur/`, `new/`, `tmp/`).
pub fn is_maildir(dir: &Path) -> bool {
    ["cur", "new", "tmp"]
        .iter()
        .filter(|sub| fs::metadata(dir.join(sub)).is_ok_and(|m| m.is_dir()))
        .count()
        >= 2
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
        let Some(folder) = name.strip_prefix('.') else {
            continue;
        };
        if folder.is_empty() || folder == "." {
            continue;
        }
        let path = entry.path();
        if fs::metadata(&path).is_ok_and(|m| m.is_dir()) && is_maildir(&path) {
            folders.push((folder.to_string(), path));
        }
    }
    folders.sort();
    Ok(folders)
}

/// The message files of one folder (`cur/` and `new/` of `dir`), in the documented order.
/// A missing `cur/` or `new/` counts as empty.
pub fn list_folder(dir: &Path, folder: &str) -> io::Result<Vec<MaildirEntry>> {
    let mut keyed: Vec<((u64, OsString, MaildirSubdir), MaildirEntry)> = Vec::new();
    for subdir in [MaildirSubdir::New, MaildirSubdir::Cur] {
        let sub_path = dir.join(match subdir {
            MaildirSubdir::New => "new",
            MaildirSubdir::Cur => "cur",
        });
        let entries = match fs::read_dir(&sub_path) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if name.as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let path = entry.path();
            // Follows symlinks: a linked message file is still a message.
            if !fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                continue;
            }
            let name_bytes = name.as_encoded_bytes();
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
    Ok(keyed.into_iter().map(|(_, entry)| entry).collect())
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
    current: std::vec::IntoIter<MaildirEntry>,
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
    /// A message file, or a folder that could not be listed (`(folder path, error)`).
    type Item = Result<MaildirEntry, (PathBuf, io::Error)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(entry) = self.current.next() {
                return Some(Ok(entry));
            }
            let (name, path) = self.folders.next()?;
            match list_folder(&path, &name) {
                Ok(entries) => self.current = entries.into_iter(),
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

    #[test]
    fn lists_cur_and_new_sorted_and_ignores_tmp_and_hidden() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        fs::create_dir_all(root.join("tmp")).expect("mkdir");
        touch(&root.join("tmp/1.partial"), b"Subject: partial\n\n");
        touch(&root.join("cur/200.b.host:2,S"), b"Subject: b\n\n");
        touch(&root.join("new/100.a.host"), b"Subject: a\n\n");
        touch(&root.join("cur/30.c.host:2,RS"), b"Subject: c\n\n");
        touch(&root.join("cur/.hidden"), b"Subject: hidden\n\n");
        fs::create_dir_all(root.join("cur/subdir")).expect("mkdir");
        let entries = list_folder(root, "").expect("list");
        let names: Vec<_> = entries
            .iter()
            .map(|e| {
                e.path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        assert_eq!(names, ["30.c.host:2,RS", "100.a.host", "200.b.host:2,S"]);
        assert_eq!(entries[0].flags, "RS");
        assert_eq!(entries[1].subdir, MaildirSubdir::New);
        assert_eq!(entries[2].subdir, MaildirSubdir::Cur);
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
        touch(&root.join(".Archive.2019/new/3.arch"), b"Subject: arch\n\n");
        fs::create_dir_all(root.join(".Archive.2019/tmp")).expect("mkdir");
        // Not Maildirs: a hidden dir without cur/new, and a dovecot index file.
        fs::create_dir_all(root.join(".notes")).expect("mkdir");
        touch(&root.join("dovecot.index"), b"\0\0");
        let walked: Vec<_> = MaildirWalk::new(root)
            .expect("walk")
            .map(|e| e.expect("entry"))
            .map(|e| (e.folder, e.flags))
            .collect();
        assert_eq!(
            walked,
            [
                (String::new(), "S".to_string()),
                ("Archive.2019".to_string(), String::new()),
                ("Sent".to_string(), "S".to_string()),
            ]
        );
    }
}
