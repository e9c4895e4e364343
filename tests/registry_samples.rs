//! Real mail from the package registries, end to end with the real binary: every `.eml`
//! sample shipped in the mail-parser crate's source (`resources/eml`: RFC examples,
//! legacy, malformed and third-party mail, and its Maildir messages) and every message
//! of CPython's `test/test_email/data` (`msg_*.txt`) goes through `coffer import`.
//!
//! Each sample must be archived (flagged when malformed) or rejected with a reason,
//! never lost and never crash the import; `coffer verify` must pass; the index must hold
//! every archived message (no lag); and every sample whose header block carries a plain
//! Message-ID (read here by a header scan of our own, not by mail-parser) must be found
//! by a `message-id:` search.
//!
//! `scripts/check-real-mail` compares query totals over the same samples (when present)
//! and the SpamAssassin corpus with counts computed by Python; this test checks each
//! message on its own, runs with the unit tests, and fails when the samples are missing.
//!
//! The mail-parser samples come with the build (cargo unpacks the crate's source into
//! `$CARGO_HOME/registry/src`). CPython's come with Python's own test package or with
//! Debian's `libpython3.11-testsuite`, which `.ci/run` installs.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use common::*;

/// The version of `name` in the workspace's Cargo.lock.
fn locked_version(name: &str) -> String {
    let lock = fs::read_to_string(repo().join("Cargo.lock")).expect("Cargo.lock");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{name}\"") {
            let version = lines.next().expect("version line");
            return version
                .trim_start_matches("version = \"")
                .trim_end_matches('"')
                .to_string();
        }
    }
    panic!("{name} is not in Cargo.lock");
}

/// The unpacked source of mail-parser in cargo's registry.
fn mail_parser_source() -> PathBuf {
    let version = locked_version("mail-parser");
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .expect("CARGO_HOME or HOME");
    let registry = cargo_home.join("registry/src");
    for index in fs::read_dir(&registry).expect("cargo registry sources") {
        let candidate = index
            .expect("entry")
            .path()
            .join(format!("mail-parser-{version}"));
        if candidate.join("resources").is_dir() {
            return candidate;
        }
    }
    panic!(
        "mail-parser {version} sources not found under {}",
        registry.display()
    );
}

/// CPython's `test/test_email/data`: Python's own test package, else Debian's.
fn cpython_email_data() -> PathBuf {
    let mut candidates = Vec::new();
    if let Ok(out) = std::process::Command::new("python3")
        .args([
            "-c",
            "import os, test; print(os.path.dirname(test.__file__))",
        ])
        .output()
    {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !dir.is_empty() {
            candidates.push(PathBuf::from(dir).join("test_email/data"));
        }
    }
    if let Ok(entries) = fs::read_dir("/usr/lib") {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with("python3") {
                candidates.push(entry.path().join("test/test_email/data"));
            }
        }
    }
    candidates
        .into_iter()
        .find(|dir| dir.join("msg_01.txt").is_file())
        .expect("CPython's test/test_email/data (apt-get install libpython3.11-testsuite)")
}

/// Every file under `dir` (recursively) that `keep` accepts, sorted.
fn files_under(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if keep(&path) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The first Message-ID of the header block, unfolded, if it is one plain `<id>` that a
/// quoted query can carry.
fn plain_message_id(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let mut unfolded: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = unfolded.last_mut() {
                last.push_str(line);
            }
        } else {
            unfolded.push(line.to_string());
        }
    }
    let value = unfolded.iter().find_map(|field| {
        let (name, value) = field.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("message-id")
            .then(|| value.trim().to_string())
    })?;
    let plain = value.starts_with('<')
        && value.ends_with('>')
        && value.len() > 2
        && value.matches('<').count() == 1
        && value.contains('@')
        && value
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\');
    plain.then_some(value)
}

/// Every registry sample: mail-parser's `resources/eml` and `resources/maildir`, then
/// CPython's `msg_*.txt`; fails when either set is missing.
fn registry_samples() -> Vec<PathBuf> {
    let parser = mail_parser_source().join("resources");
    let mut samples = files_under(&parser.join("eml"), &|p| {
        p.extension().is_some_and(|x| x == "eml")
    });
    samples.extend(files_under(&parser.join("maildir"), &|p| p.is_file()));
    let parser_samples = samples.len();
    samples.extend(files_under(&cpython_email_data(), &|p| {
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        name.starts_with("msg_") && name.ends_with(".txt")
    }));
    assert!(
        parser_samples >= 100 && samples.len() >= parser_samples + 40,
        "{parser_samples} mail-parser samples, {} in all",
        samples.len()
    );
    samples
}

/// A snippet read back from a volume finds its words where the index found them: the
/// body text built from the MIME fields alone is the indexed body of every sample,
/// malformed ones included, and the text a snippet is read back from (HTML by the tag
/// stripper alone) shows only words the index holds.
#[test]
fn registry_samples_read_back_the_indexed_body() {
    for sample in registry_samples() {
        let raw = fs::read(&sample).expect("read sample");
        let doc = coffer_ingest::parse::build_doc(
            &raw,
            coffer_model::Sha256::default(),
            1_800_000_000,
            &coffer_ingest::meta::MessageMeta::default(),
            None, // attachment text: not part of the body
        );
        assert_eq!(
            coffer_ingest::parse::body_text(&raw),
            doc.body,
            "{}",
            sample.display()
        );
        // The read-back text shows no word the index does not hold for the message.
        let snippet = coffer_ingest::parse::snippet_text(&raw);
        let missing = coffer_extract::words_missing_from(&snippet, &doc.body);
        assert!(missing.is_empty(), "{}: {missing:?}", sample.display());
    }
}

#[test]
fn registry_samples_are_archived_verified_and_found() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let inbox = tmp.path().join("samples");
    fs::create_dir_all(&inbox).expect("mkdir");

    let samples = registry_samples();

    // One flat folder of `.eml` files, each named after its origin.
    let mut message_ids: BTreeMap<String, String> = BTreeMap::new();
    for (i, sample) in samples.iter().enumerate() {
        let raw = fs::read(sample).expect("read sample");
        let name = format!("{i:03}.eml");
        if let Some(id) = plain_message_id(&raw) {
            message_ids.insert(name.clone(), id);
        }
        fs::write(inbox.join(&name), raw).expect("copy sample");
    }
    assert!(message_ids.len() >= 50, "{} Message-IDs", message_ids.len());

    let out = run(coffer(&data).arg("import").arg(&inbox).args([
        "--local-domain",
        "example.com",
        "--json",
    ]));
    let summary = import_summary(&out);
    let count = |key: &str| summary[key].as_u64().expect(key);
    let rejected = summary["rejected"].as_array().expect("rejected");
    // 1 says "some input was rejected".
    let status = if rejected.is_empty() { 0 } else { 1 };
    assert_eq!(
        out.status.code(),
        Some(status),
        "{summary}\n{}",
        stderr(&out)
    );
    assert_eq!(
        summary["failed"].as_array().map(Vec::len),
        Some(0),
        "{summary}"
    );
    assert_eq!(count("files"), samples.len() as u64, "{summary}");
    assert_eq!(
        count("archived") + count("duplicates"),
        count("messages"),
        "{summary}"
    );
    // A file that starts like an mbox may hold several messages; none may vanish.
    assert!(
        count("messages") + rejected.len() as u64 >= samples.len() as u64,
        "every sample archived, a duplicate, or rejected: {summary}"
    );
    for rejection in rejected {
        assert!(
            !rejection["reason"].as_str().unwrap_or_default().is_empty(),
            "{rejection}"
        );
        let path = rejection["path"].as_str().unwrap_or_default();
        let file = Path::new(path).file_name().unwrap_or_default();
        assert!(
            !message_ids.contains_key(&*file.to_string_lossy()),
            "a sample with a Message-ID was rejected: {rejection}"
        );
    }
    assert!(count("archived") >= 120, "{summary}");

    let verify = run(coffer(&data).arg("verify"));
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));

    let list = run(coffer(&data).args(["volume", "list", "--json"]));
    let volumes: serde_json::Value = serde_json::from_slice(&list.stdout).expect("list json");
    for volume in volumes["volumes"].as_array().expect("volumes") {
        assert_eq!(volume["index_lag"].as_u64(), Some(0), "{volume}");
    }

    let mut missing = Vec::new();
    for (file, id) in &message_ids {
        let query = format!("message-id:\"{id}\"");
        let found = run(coffer(&data)
            .arg("search")
            .arg(&query)
            .args(["--json", "--limit", "1"]));
        assert_eq!(found.status.code(), Some(0), "{query}: {}", stderr(&found));
        let result: serde_json::Value = serde_json::from_slice(&found.stdout).expect("search json");
        if result["total"].as_u64() == Some(0) {
            missing.push(format!("{file} {id}"));
        }
    }
    assert!(missing.is_empty(), "not found by Message-ID: {missing:#?}");
}
