//! Seeded, deterministic generators of mbox files and Maildir trees full of edge cases, with
//! what an import must yield for each, for ingest's tests of its readers and for
//! end-to-end tests of `coffer import`.
//!
//! - [`generate_mbox_edge_cases`] returns the bytes of an mbox file and, per message in
//!   file order, the exact bytes the import must archive or the rejection it must report.
//!   The cases cycle through: LF and CRLF messages (mixed in one file), body lines
//!   `From ...` after an empty line (quoted by the writer), `>From `/`>>From ` lines (for
//!   mboxrd), unquoted `From ` lines not after an empty line, 8-bit and UTF-8 text, RFC 2047
//!   headers, a message ending in an empty line, a 20 KB line, a base64 attachment, a
//!   headers-only message, an empty message (rejected), and optionally a last message
//!   without a final newline.
//! - [`write_maildir_edge_cases`] writes a Maildir with `cur/`, `new/`, `tmp/`, Maildir++
//!   subfolders, flags, messages kept beside `cur/` and `new/` (archived), a note there
//!   and a zero-byte message (rejected), files the import skips and lists (in `tmp/`,
//!   hidden) and Dovecot's bookkeeping (passed over), and returns what the import must
//!   make of each, in walk order.
//!
//! The same seed always gives the same bytes ([`SplitMix64`], no global state).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use coffer_ingest::import::mbox::needs_quote;
use coffer_ingest::import::{MaildirSubdir, MboxFlavor, write_mbox_message};

use crate::rng::SplitMix64;

/// What the import must produce for one message of a generated mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// These exact bytes are archived.
    Message(Vec<u8>),
    /// The message is rejected with this
    /// [`RejectReason::code`](coffer_ingest::import::RejectReason::code).
    Rejected(&'static str),
}

/// A generated mbox file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedMbox {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// The flavour to read it with.
    pub flavor: MboxFlavor,
    /// Per message, in file order, what the import must produce.
    pub expected: Vec<Expected>,
}

/// Number of distinct message kinds the generators cycle through.
const KINDS: usize = 11;

/// Kind index of the empty message.
const KIND_EMPTY: usize = 9;

/// Builds the message of `kind` (see the module docs) with the given line ending.
fn message(
    rng: &mut SplitMix64,
    index: usize,
    kind: usize,
    crlf: bool,
    allow_gt_from: bool,
) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = vec![
        format!("From: Sender {index} <sender{index}@example.com>").into_bytes(),
        format!("To: rcpt{}@example.org", rng.below(1000)).into_bytes(),
        format!(
            "Date: Mon, {} Jan 2024 10:{:02}:00 +0000",
            1 + index % 28,
            index % 60
        )
        .into_bytes(),
        format!("Message-ID: <gen-{index}-{}@example.com>", rng.next_u64()).into_bytes(),
    ];
    let mut body: Vec<Vec<u8>> = Vec::new();
    match kind {
        1 => {
            lines.push(b"Subject: CRLF message".to_vec());
            body.push(b"line one".to_vec());
            body.push(b"line two".to_vec());
        }
        2 => {
            lines.push(b"Subject: From line after a blank line".to_vec());
            body.push(b"before".to_vec());
            body.push(Vec::new());
            body.push(b"From someone@example.com Mon Jan  1 00:00:00 2024".to_vec());
            body.push(b"after".to_vec());
        }
        3 if allow_gt_from => {
            lines.push(b"Subject: quoted From lines".to_vec());
            body.push(Vec::new());
            body.push(b">From quoted once in the original".to_vec());
            body.push(b">>From quoted twice".to_vec());
            body.push(b"> From with a space is not quoting".to_vec());
        }
        4 => {
            lines.push(b"Subject: =?UTF-8?B?w4lsw6h2ZSDmnbHkuqwg2KfZhNi52LHYqNmK2Kk=?=".to_vec());
            lines.push(b"Content-Type: text/plain; charset=iso-8859-1".to_vec());
            lines.push(b"Content-Transfer-Encoding: 8bit".to_vec());
            body.push(b"Caf\xe9 cr\xe8me br\xfbl\xe9e".to_vec());
        }
        5 => {
            lines.push(b"Subject: From not after a blank line".to_vec());
            body.push(b"text".to_vec());
            body.push(b"From here on, no blank line before".to_vec());
        }
        6 => {
            lines.push(b"Subject: ends with an empty line".to_vec());
            body.push(b"text".to_vec());
            body.push(Vec::new());
        }
        7 => {
            lines.push(b"Subject: long line".to_vec());
            let len = 20_000 + rng.below(1000);
            body.push(vec![b'L'; len]);
        }
        8 => {
            lines.push(b"MIME-Version: 1.0".to_vec());
            lines.push(b"Subject: attachment".to_vec());
            lines.push(b"Content-Type: multipart/mixed; boundary=\"b1\"".to_vec());
            body.push(b"--b1".to_vec());
            body.push(b"Content-Type: text/plain".to_vec());
            body.push(Vec::new());
            body.push(b"see attachment".to_vec());
            body.push(b"--b1".to_vec());
            body.push(b"Content-Type: application/octet-stream; name=\"a.bin\"".to_vec());
            body.push(b"Content-Transfer-Encoding: base64".to_vec());
            body.push(Vec::new());
            body.push(b"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_vec());
            body.push(b"--b1--".to_vec());
        }
        KIND_EMPTY => return Vec::new(),
        10 => {
            lines.push(b"Subject: headers only".to_vec());
            let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
            return lines
                .iter()
                .flat_map(|l| [l.as_slice(), eol].concat())
                .collect();
        }
        _ => {
            lines.push(format!("Subject: plain message {index}").into_bytes());
            body.push(b"Hello.".to_vec());
        }
    }
    let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    let mut out = Vec::new();
    for line in &lines {
        out.extend_from_slice(line);
        out.extend_from_slice(eol);
    }
    out.extend_from_slice(eol);
    for line in &body {
        out.extend_from_slice(line);
        out.extend_from_slice(eol);
    }
    out
}

/// Generates an mbox file of `count` messages written with `flavor`'s quoting (mboxrd
/// quoting for [`MboxFlavor::Raw`]) and what reading it with `flavor` must yield.
///
/// For [`MboxFlavor::Mboxo`] no message has an original `>From ` line (mboxo cannot
/// round-trip those). With `count >= 11` every kind appears at least once. When
/// `no_final_newline` is set, the last message is written without its final line ending
/// and the blank line after it.
pub fn generate_mbox_edge_cases(
    seed: u64,
    count: usize,
    flavor: MboxFlavor,
    no_final_newline: bool,
) -> GeneratedMbox {
    let mut rng = SplitMix64::new(seed);
    let write_flavor = match flavor {
        MboxFlavor::Raw => MboxFlavor::Mboxrd,
        other => other,
    };
    let mut bytes = Vec::new();
    let mut expected = Vec::with_capacity(count);
    for index in 0..count {
        let kind = if index < KINDS {
            index
        } else {
            rng.below(KINDS)
        };
        let crlf = kind == 1 || rng.percent(25);
        let allow_gt_from = flavor != MboxFlavor::Mboxo;
        let mut raw = message(&mut rng, index, kind, crlf, allow_gt_from);
        let last = index + 1 == count;
        let from_line = format!(
            "From sender{index}@example.com Mon Jan  1 {:02}:{:02}:{:02} 2024",
            index / 3600 % 24,
            index / 60 % 60,
            index % 60
        );
        if last && no_final_newline && !raw.is_empty() {
            while raw.last() == Some(&b'\n') || raw.last() == Some(&b'\r') {
                raw.pop();
            }
            let mut written = Vec::new();
            // Cannot fail: writing to a Vec, with a valid From line.
            let _ = write_mbox_message(&mut written, from_line.as_bytes(), &raw, write_flavor);
            // Drop the line ending and blank line the writer added.
            let eol_len = if crlf { 2 } else { 1 };
            written.truncate(written.len().saturating_sub(2 * eol_len));
            bytes.extend_from_slice(&written);
        } else {
            let _ = write_mbox_message(&mut bytes, from_line.as_bytes(), &raw, write_flavor);
        }
        if raw.is_empty() {
            expected.push(Expected::Rejected("empty_message"));
        } else if flavor == MboxFlavor::Raw {
            expected.push(Expected::Message(quote_all(&raw, write_flavor)));
        } else {
            expected.push(Expected::Message(raw));
        }
    }
    GeneratedMbox {
        bytes,
        flavor,
        expected,
    }
}

/// `raw` with every line quoted as the writer of `flavor` quotes it.
fn quote_all(raw: &[u8], flavor: MboxFlavor) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 16);
    let mut rest = raw;
    while !rest.is_empty() {
        let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |p| p + 1);
        if needs_quote(&rest[..end], flavor) {
            out.push(b'>');
        }
        out.extend_from_slice(&rest[..end]);
        rest = &rest[end..];
    }
    out
}

/// A message written by [`write_maildir_edge_cases`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedMaildirMessage {
    /// Its file.
    pub path: PathBuf,
    /// Maildir++ folder name (`""` for the root).
    pub folder: String,
    /// `new/` or `cur/`.
    pub subdir: MaildirSubdir,
    /// Flag letters in its name.
    pub flags: String,
    /// Its bytes (archived unchanged).
    pub raw: Vec<u8>,
}

/// What [`write_maildir_edge_cases`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedMaildir {
    /// The messages in `cur/` and `new/`, in the order the import walks them.
    pub messages: Vec<GeneratedMaildirMessage>,
    /// Messages kept beside a folder's `cur/` and `new/`, as hand-made Maildirs have
    /// them: archived as files (path, bytes), in walk order.
    pub loose: Vec<(PathBuf, Vec<u8>)>,
    /// Files the import must reject, with the reason code, in walk order.
    pub rejected: Vec<(PathBuf, &'static str)>,
    /// Files the import must not read but list as skipped, with the reason code
    /// ([`SkipReason::code`](coffer_ingest::import::SkipReason::code)), in walk order.
    pub skipped: Vec<(PathBuf, &'static str)>,
    /// A mail store's bookkeeping files, which the import passes over without a word.
    pub ignored: Vec<PathBuf>,
}

/// Writes a Maildir at `root` (created if needed) with `count` messages spread over the
/// root folder and the Maildir++ subfolders `.Archive.2019` and `.Sent`, two more kept
/// beside `cur/` and `new/`, files to skip, bookkeeping to pass over, and a zero-byte
/// message and a note to reject.
pub fn write_maildir_edge_cases(
    root: &Path,
    seed: u64,
    count: usize,
) -> io::Result<GeneratedMaildir> {
    const FOLDERS: [(&str, &str); 3] = [
        ("", ""),
        ("Archive.2019", ".Archive.2019"),
        ("Sent", ".Sent"),
    ];
    const FLAGS: [&str; 5] = ["", "S", "RS", "FS", "DFRST"];
    let mut rng = SplitMix64::new(seed);
    let mut per_folder: Vec<Vec<GeneratedMaildirMessage>> = vec![Vec::new(); FOLDERS.len()];
    let mut ignored = Vec::new();
    for (_, dir) in FOLDERS {
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(root.join(dir).join(sub))?;
        }
    }
    for index in 0..count {
        let folder_index = rng.below(FOLDERS.len());
        let (folder, dir) = FOLDERS[folder_index];
        let mut kind = rng.below(KINDS);
        if kind == KIND_EMPTY {
            kind = 0;
        }
        let crlf = rng.percent(30);
        let raw = message(&mut rng, index, kind, crlf, true);
        let time = 1_700_000_000 + index as u64;
        let (subdir, name, flags) = if rng.percent(30) {
            (
                MaildirSubdir::New,
                format!("{time}.M{index}P{seed}.gen"),
                String::new(),
            )
        } else {
            let flags = FLAGS[rng.below(FLAGS.len())].to_string();
            (
                MaildirSubdir::Cur,
                format!("{time}.M{index}P{seed}.gen:2,{flags}"),
                flags,
            )
        };
        let sub = match subdir {
            MaildirSubdir::New => "new",
            MaildirSubdir::Cur => "cur",
        };
        let path = root.join(dir).join(sub).join(name);
        fs::write(&path, &raw)?;
        per_folder[folder_index].push(GeneratedMaildirMessage {
            path,
            folder: folder.to_string(),
            subdir,
            flags,
            raw,
        });
    }
    // Not messages yet, or hidden: never read, but listed as skipped (walk order: the
    // hidden files of cur/ after the messages, the folder's own entries by name, tmp/
    // last of them).
    let mut skipped = Vec::new();
    for (path, content, reason) in [
        (root.join("cur/.DS_Store"), &b"\0\0\0\x01Bud1"[..], "hidden"),
        (
            root.join("tmp/1699999999.M0P0.gen"),
            &b"Subject: half delivered\n"[..],
            "maildir_tmp",
        ),
    ] {
        fs::write(&path, content)?;
        skipped.push((path, reason));
    }
    // The mail server's bookkeeping: passed over.
    for (path, content) in [
        (root.join("dovecot-uidlist"), &b"3 V1700000000 N1\n"[..]),
        (root.join("subscriptions"), &b"Sent\nArchive.2019\n"[..]),
        (root.join(".Sent/maildirfolder"), &b""[..]),
        (root.join(".Sent/dovecot.index.log"), &b"\x01\x02\0\0"[..]),
    ] {
        fs::write(&path, content)?;
        ignored.push(path);
    }
    // Messages beside cur/ and new/ (hand-made Maildirs): archived as files.
    let mut loose = Vec::new();
    for (index, path) in [
        (count, root.join("0001.saved.eml")),
        (count + 1, root.join(".Sent/0002.saved")),
    ] {
        let raw = message(&mut rng, index, 0, false, true);
        fs::write(&path, &raw)?;
        loose.push((path, raw));
    }
    // An empty message file (a crashed delivery copied over) and a note beside cur/:
    // rejected, in walk order (the root's messages, then its own entries by name).
    let empty = root.join("cur/1800000000.M0P0.empty:2,S");
    fs::write(&empty, b"")?;
    let note = root.join("notes.txt");
    fs::write(
        &note,
        b"remember to export the archive before the migration\n",
    )?;
    let rejected = vec![(empty, "not_mail"), (note, "not_mail")];
    // Walk order: folders by name, root first; by time within a folder.
    let messages = per_folder.into_iter().flatten().collect();
    Ok(GeneratedMaildir {
        messages,
        loose,
        rejected,
        skipped,
        ignored,
    })
}
