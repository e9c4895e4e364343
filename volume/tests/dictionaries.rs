//! Records with per-volume dictionaries (issue 24): every message reads back
//! byte for byte; a copied volume verifies on its own (its dictionaries are records);
//! a reopened writer keeps using its dictionary; a volume begun in version 1 (the
//! frozen fixture) continues in version 3 and verifies; a flipped byte anywhere in a
//! dictionary record or a record compressed with one is found; a torn tail anywhere in
//! them is truncated and nothing before it is lost.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use coffer_volume::record::{Codec, RecordHeader};
use coffer_volume::{
    ArchiveKey, DictionaryConfig, Manifest, PublicKey, RecordKind, Volume, VolumeConfig,
    VolumeState, verify_volume,
};

/// Dictionaries after 24 KiB of content, drift windows of 6 KiB.
fn config() -> VolumeConfig {
    VolumeConfig {
        checkpoint_every: 50,
        checkpoint_interval: Duration::from_secs(3600),
        dictionary: DictionaryConfig {
            sample_bytes: 24 * 1024,
            max_size: 8 * 1024,
            window_bytes: 6 * 1024,
            ..DictionaryConfig::default()
        },
        ..VolumeConfig::default()
    }
}

/// Business-like mail; from message 300 on, another "company" writes quite differently
/// (the drift that should bring a second dictionary).
fn message(i: u64) -> Vec<u8> {
    if i < 300 {
        format!(
            "Received: from mx{0}.acme.example (mx{0}.acme.example [198.51.100.{1}])\r\n\
             From: Sales Team <sales{1}@acme.example>\r\nTo: orders@customer.example\r\n\
             Subject: Quote {0} for your order\r\nMessage-ID: <q{0}@acme.example>\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             Dear customer,\r\n\r\nplease find our quote {0} for {1} units below. Delivery \
             within {2} working days.\r\n\r\nKind regards,\r\nAcme Sales\r\n",
            i,
            i % 97,
            i % 13
        )
        .into_bytes()
    } else {
        format!(
            "Return-Path: <noreply@ticketing.example.org>\r\nX-Ticket-Id: T-{0:08}\r\n\
             Date: Tue, 3 Mar 2026 10:{1:02}:00 +0100\r\nFrom: \"Help Desk\" <help@ticketing.example.org>\r\n\
             Subject: [Ticket T-{0:08}] Status changed to {2}\r\nContent-Type: text/html; charset=iso-8859-1\r\n\r\n\
             <html><body><table><tr><td>Ticket</td><td>T-{0:08}</td></tr><tr><td>Status</td>\
             <td>{2}</td></tr></table><p>Reply above this line.</p></body></html>\r\n",
            i,
            i % 60,
            ["open", "pending", "resolved", "closed"][(i % 4) as usize]
        )
        .into_bytes()
    }
}

fn key(dir: &Path) -> ArchiveKey {
    ArchiveKey::load_or_create(&dir.join("keys"))
        .expect("key")
        .0
}

fn public_key(dir: &Path) -> PublicKey {
    PublicKey::load(&dir.join("keys").join(coffer_volume::keys::PUBLIC_KEY_FILE))
        .expect("public key")
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        fs::copy(e.path(), &target).expect("copy");
        fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).expect("chmod");
    }
}

/// Appends messages `range` and returns (seq, original) of each.
fn fill(v: &Volume, range: std::ops::Range<u64>) -> Vec<(u64, Vec<u8>)> {
    range
        .map(|i| {
            let m = message(i);
            let a = v
                .append(RecordKind::Message, vec![2, 0], Some(&m))
                .expect("append");
            (a.seq, m)
        })
        .collect()
}

fn codecs(v: &Volume) -> Vec<(u64, RecordKind, Codec, u64)> {
    (1..=v.last_seq())
        .map(|seq| {
            let (h, _) = v.read_meta(seq).expect("meta");
            (seq, h.kind, h.codec, h.dict_ref)
        })
        .collect()
}

#[test]
fn dictionary_records_round_trip_and_a_copied_volume_verifies_alone() {
    let tmp = tempfile::tempdir().expect("tmp");
    let key = key(tmp.path());
    let vdir = tmp.path().join("volumes/2026");
    let (v, _) = Volume::create(&vdir, "mail", 2026, &key, config()).expect("create");
    let written = fill(&v, 0..600);
    let all = codecs(&v);
    let dictionaries: Vec<u64> = all
        .iter()
        .filter(|(_, k, _, _)| *k == RecordKind::Dictionary)
        .map(|(s, ..)| *s)
        .collect();
    assert!(
        dictionaries.len() >= 2,
        "a first dictionary and one after the drift: {dictionaries:?}"
    );
    assert_eq!(v.stats().dictionaries, dictionaries.len() as u64);
    let with_dict = all
        .iter()
        .filter(|(_, _, c, _)| *c == Codec::ZstdDictionary)
        .count();
    assert!(
        with_dict > 400,
        "most messages use a dictionary: {with_dict}"
    );
    for (seq, kind, codec, dict_ref) in &all {
        if *codec == Codec::ZstdDictionary {
            assert!(
                dictionaries.contains(dict_ref),
                "record {seq} names {dict_ref}"
            );
            assert!(dict_ref < seq);
            assert_eq!(*kind, RecordKind::Message);
        }
    }
    for (seq, original) in &written {
        let r = v.read(*seq).expect("read");
        assert_eq!(&r.content, original, "record {seq}");
        assert_eq!(r.header.version, 3);
    }
    // Smaller than the same messages without dictionaries.
    let raw: usize = written.iter().map(|(_, m)| m.len()).sum();
    let stats = v.stats();
    assert_eq!(stats.raw_bytes, raw as u64);
    v.seal().expect("seal");
    drop(v);

    let copy = tmp.path().join("elsewhere/2026");
    copy_dir(&vdir, &copy);
    let report = verify_volume(&copy, &public_key(tmp.path()));
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.messages, 600);
    let (ro, _) = Volume::open_read_only(&copy).expect("open copy");
    for (seq, original) in written.iter().rev().step_by(7) {
        assert_eq!(&ro.read(*seq).expect("read").content, original);
    }
}

#[test]
fn a_reopened_writer_keeps_its_dictionary() {
    let tmp = tempfile::tempdir().expect("tmp");
    let key = key(tmp.path());
    let vdir = tmp.path().join("2026");
    let (v, _) = Volume::create(&vdir, "mail", 2026, &key, config()).expect("create");
    fill(&v, 0..150);
    let dict = codecs(&v)
        .iter()
        .rev()
        .find(|(_, k, ..)| *k == RecordKind::Dictionary)
        .map(|(s, ..)| *s)
        .expect("a dictionary");
    drop(v);
    let (v, _) = Volume::open_writer(&vdir, &key, config()).expect("reopen");
    let more = fill(&v, 150..160);
    for (seq, original) in &more {
        let r = v.read(*seq).expect("read");
        assert_eq!(r.header.codec, Codec::ZstdDictionary);
        assert_eq!(r.header.dict_ref, dict);
        assert_eq!(&r.content, original);
    }
    let report = verify_volume(&vdir, &public_key(tmp.path()));
    assert!(report.is_intact(), "{:?}", report.problems);
}

/// The frozen version-1 fixture without its seal, continued by today's writer.
#[test]
fn a_version_1_volume_continues_in_version_3_and_verifies() {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/v1");
    let tmp = tempfile::tempdir().expect("tmp");
    let vdir = tmp.path().join("2026");
    copy_dir(&fixture.join("2026"), &vdir);
    // Records 1–10 are in the first two segments; the seal record is alone in the third.
    fs::remove_file(vdir.join("000003.seg")).expect("rm seal segment");
    fs::remove_file(vdir.join("SEAL")).expect("rm SEAL");
    let mut manifest = Manifest::load(&vdir).expect("manifest");
    manifest.state = VolumeState::Open;
    manifest.sealed_us = None;
    manifest.store(&vdir).expect("store");
    let keys = tmp.path().join("keys");
    fs::create_dir_all(&keys).expect("keys dir");
    fs::copy(
        fixture.join("TEST-ONLY-archive.key"),
        keys.join(coffer_volume::keys::PRIVATE_KEY_FILE),
    )
    .expect("fixture key");
    let key = ArchiveKey::load_or_create(&keys).expect("fixture key").0;
    let (v, _) = Volume::open_writer(&vdir, &key, config()).expect("open v1 volume");
    assert_eq!(v.last_seq(), 10);
    let old: Vec<Vec<u8>> = (1..=10)
        .map(|seq| v.read(seq).expect("v1 record").content)
        .collect();
    let written = fill(&v, 0..200);
    v.seal().expect("seal");
    let versions: Vec<u8> = (1..=v.last_seq())
        .map(|seq| v.read_meta(seq).expect("meta").0.version)
        .collect();
    assert!(versions[..10].iter().all(|x| *x == 1), "{versions:?}");
    assert!(versions[10..].iter().all(|x| *x == 3), "{versions:?}");
    assert!(
        codecs(&v)
            .iter()
            .any(|(_, _, c, _)| *c == Codec::ZstdDictionary)
    );
    for (seq, original) in &written {
        assert_eq!(&v.read(*seq).expect("read").content, original);
    }
    for (i, content) in old.iter().enumerate() {
        assert_eq!(&v.read(i as u64 + 1).expect("read").content, content);
    }
    let public = PublicKey::load(&fixture.join("TEST-ONLY-archive.pub")).expect("pub");
    let report = verify_volume(&vdir, &public);
    assert!(report.is_intact(), "{:?}", report.problems);
}

/// Where each record starts: (segment path, offset, length, header).
fn layout(vdir: &Path) -> Vec<(PathBuf, usize, usize, RecordHeader)> {
    let mut out = Vec::new();
    let mut segments: Vec<PathBuf> = fs::read_dir(vdir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segments.sort();
    for seg in segments {
        let bytes = fs::read(&seg).expect("segment");
        let mut off = coffer_volume::segment::SEGMENT_HEADER_LEN as usize;
        while off < bytes.len() {
            let h = RecordHeader::decode(&bytes[off..]).expect("header");
            let len = h.record_len() as usize;
            out.push((seg.clone(), off, len, h));
            off += len;
        }
    }
    out
}

#[test]
fn a_flipped_byte_in_a_dictionary_or_a_record_using_it_is_found() {
    let tmp = tempfile::tempdir().expect("tmp");
    let key = key(tmp.path());
    let public = public_key(tmp.path());
    let vdir = tmp.path().join("2026");
    let (v, _) = Volume::create(&vdir, "mail", 2026, &key, config()).expect("create");
    fill(&v, 0..90);
    v.seal().expect("seal");
    drop(v);
    let records = layout(&vdir);
    let (dseg, doff, dlen, dhead) = records
        .iter()
        .find(|r| r.3.kind == RecordKind::Dictionary)
        .cloned()
        .expect("dictionary record");
    let (mseg, moff, mlen, mhead) = records
        .iter()
        .find(|r| r.3.codec == Codec::ZstdDictionary)
        .cloned()
        .expect("codec 2 record");
    for (seg, off, len, head) in [(dseg, doff, dlen, dhead), (mseg, moff, mlen, mhead)] {
        let good = fs::read(&seg).expect("segment");
        // Every byte of the header, hash and metadata; every 13th of the content.
        let positions: Vec<usize> = (0..len)
            .filter(|i| *i < 200 || i % 13 == 0 || *i == len - 1)
            .collect();
        for i in positions {
            let copy = tmp.path().join("flipped");
            let _ = fs::remove_dir_all(&copy);
            copy_dir(&vdir, &copy);
            let mut bytes = good.clone();
            bytes[off + i] ^= 0x20;
            fs::write(copy.join(seg.file_name().expect("name")), &bytes).expect("write");
            let report = verify_volume(&copy, &public);
            assert!(
                report.problems.iter().any(|p| p.seq == Some(head.seq)),
                "{} record {}: byte {i} flipped, found {:?}",
                head.kind.name(),
                head.seq,
                report.problems
            );
        }
    }
}

#[test]
fn a_torn_tail_in_a_dictionary_or_a_record_using_it_is_truncated() {
    let tmp = tempfile::tempdir().expect("tmp");
    let key = key(tmp.path());
    let vdir = tmp.path().join("2026");
    let (v, _) = Volume::create(&vdir, "mail", 2026, &key, config()).expect("create");
    // Stop right after the first message compressed with the first dictionary.
    let mut i = 0;
    loop {
        fill(&v, i..i + 1);
        i += 1;
        // The newest message record (a checkpoint follows each commit).
        let last = (1..=v.last_seq())
            .rev()
            .map(|s| v.read_meta(s).expect("meta").0)
            .find(|h| h.kind == RecordKind::Message)
            .expect("a message");
        if last.codec == Codec::ZstdDictionary {
            break;
        }
        assert!(i < 1000, "no dictionary was trained");
    }
    drop(v);
    let records = layout(&vdir);
    let dict_at = records
        .iter()
        .position(|r| r.3.kind == RecordKind::Dictionary)
        .expect("dictionary");
    let (seg, start, _, _) = records[dict_at].clone();
    let good = fs::read(&seg).expect("segment");
    let kept = dict_at; // records before the dictionary
    let step = ((good.len() - start) / 300).max(1);
    for cut in (start..good.len()).step_by(step) {
        let copy = tmp.path().join("torn");
        let _ = fs::remove_dir_all(&copy);
        copy_dir(&vdir, &copy);
        fs::write(copy.join(seg.file_name().expect("name")), &good[..cut]).expect("write");
        let (v, report) = Volume::open_writer(&copy, &key, config()).expect("recovers");
        assert!(
            report.torn_tail.is_some() || cut == start,
            "cut at {cut}: nothing reported"
        );
        assert!(v.last_seq() >= kept as u64, "cut at {cut}");
        for seq in 1..=v.last_seq() {
            v.read(seq).expect("every kept record reads");
        }
        // The writer carries on (with or without the cut dictionary).
        fill(&v, 1000..1003);
        drop(v);
        let report = verify_volume(&copy, &public_key(tmp.path()));
        assert!(report.is_intact(), "cut at {cut}: {:?}", report.problems);
    }
}
