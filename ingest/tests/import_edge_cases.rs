//! The mbox and Maildir readers against the seeded edge-case generators of
//! `coffer_testkit::import_edge_cases`: every generated message reads back as exactly the
//! bytes (or the rejection) the generator says an import must produce.

use std::io::Cursor;

use coffer_ingest::import::{
    ImportItem, Location, MboxFlavor, MboxOptions, MboxReader, RejectReason, WalkOptions, walk,
};
use coffer_testkit::import_edge_cases::{
    Expected, GeneratedMbox, generate_mbox_edge_cases, write_maildir_edge_cases,
};

fn read(generated: &GeneratedMbox) -> Vec<Expected> {
    let options = MboxOptions {
        flavor: generated.flavor,
        ..MboxOptions::default()
    };
    MboxReader::new(Cursor::new(generated.bytes.clone()), options)
        .map(|r| match r {
            Ok(m) => Expected::Message(m.raw),
            Err(e) => Expected::Rejected(RejectReason::from(e).code()),
        })
        .collect()
}

#[test]
fn generated_mboxes_read_back_as_expected() {
    for flavor in [MboxFlavor::Mboxrd, MboxFlavor::Mboxo, MboxFlavor::Raw] {
        for (seed, no_final_newline) in [(1, false), (2, true), (3, true)] {
            let generated = generate_mbox_edge_cases(seed, 40, flavor, no_final_newline);
            assert_eq!(generated.expected.len(), 40);
            assert_eq!(
                read(&generated),
                generated.expected,
                "{flavor:?} seed {seed}"
            );
        }
    }
}

#[test]
fn generation_is_deterministic() {
    let a = generate_mbox_edge_cases(7, 30, MboxFlavor::Mboxrd, true);
    let b = generate_mbox_edge_cases(7, 30, MboxFlavor::Mboxrd, true);
    assert_eq!(a, b);
    let c = generate_mbox_edge_cases(8, 30, MboxFlavor::Mboxrd, true);
    assert_ne!(a.bytes, c.bytes);
    assert!(a.bytes.windows(7).any(|w| w == b"\n>From "));
    assert!(a.bytes.windows(2).any(|w| w == b"\r\n"));
    assert!(!a.bytes.ends_with(b"\n"));
}

#[test]
fn generated_maildir_walks_as_expected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let generated = write_maildir_edge_cases(dir.path(), 42, 25).expect("write");
    let mut in_maildir: Vec<ImportItem> = Vec::new();
    let mut loose = Vec::new();
    let mut rejected = Vec::new();
    let mut walker = walk([dir.path()], WalkOptions::default());
    for result in walker.by_ref() {
        match result {
            Ok(item) if item.source.location == Location::File => {
                loose.push((item.source.path, item.raw));
            }
            Ok(item) => in_maildir.push(item),
            Err(r) => rejected.push((r.source.path, r.reason.code())),
        }
    }
    assert_eq!(rejected, generated.rejected);
    assert_eq!(loose, generated.loose);
    let skipped: Vec<_> = walker
        .skipped()
        .iter()
        .map(|s| (s.path.clone(), s.reason.code()))
        .collect();
    assert_eq!(skipped, generated.skipped);
    assert_eq!(in_maildir.len(), generated.messages.len());
    for (item, expected) in in_maildir.iter().zip(&generated.messages) {
        assert_eq!(item.raw, expected.raw);
        assert_eq!(item.source.path, expected.path);
        assert_eq!(
            item.source.location,
            Location::Maildir {
                folder: expected.folder.clone(),
                subdir: expected.subdir,
                flags: expected.flags.clone(),
            }
        );
    }
}
