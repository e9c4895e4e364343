//! Signed heads at every group commit, the offline proof documents, and `--since`
//! checks, on real volume files:
//! - every append returns with a durable signed head covering it, also under concurrent
//!   appends; the head sink sees each head only once it is durable, in order;
//! - an inclusion proof document verifies with the public key and the original bytes,
//!   and fails after any one byte of the document or of the message changes;
//! - a consistency document and `check_since` prove growth from a held head, and name
//!   the sizes when the volume was cut;
//! - verification's verdict on incomplete tails (an all-zero remainder is a torn write).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use coffer_volume::proof::{ConsistencyProof, INCLUSION_FORMAT, InclusionProof};
use coffer_volume::{
    ArchiveKey, HeadSink, RecordKind, SignedTreeHead, Volume, VolumeConfig, check_since,
    consistency_document, signed_head_at, verify_volume,
};

fn message(i: usize) -> Vec<u8> {
    format!(
        "From: a{i}@example.com\r\nSubject: test {i}\r\n\r\n{}\r\n",
        "body text ".repeat(i % 30 + 1)
    )
    .into_bytes()
}

fn config() -> VolumeConfig {
    VolumeConfig {
        checkpoint_interval: Duration::from_secs(3600),
        ..VolumeConfig::default()
    }
}

#[test]
fn every_append_returns_under_a_durable_signed_head_and_the_sink_sees_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = ArchiveKey::generate().expect("key");
    let seen: Arc<Mutex<Vec<(String, SignedTreeHead)>>> = Arc::default();
    let sink_seen = Arc::clone(&seen);
    let with_sink = VolumeConfig {
        head_sink: Some(HeadSink::new(move |purpose, head| {
            sink_seen
                .lock()
                .expect("lock")
                .push((purpose.to_string(), head.clone()));
        })),
        ..config()
    };
    let vdir = dir.path().join("2026");
    let (volume, _) = Volume::create(&vdir, "mail", 2026, &key, with_sink).expect("create");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let volume = volume.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let a = volume
                        .append(
                            RecordKind::Message,
                            b"{}".to_vec(),
                            Some(&message(t * 100 + i)),
                        )
                        .expect("append");
                    let head = volume.latest_tree_head().expect("a head");
                    assert!(
                        head.tree_size >= a.seq,
                        "record {} acknowledged under head {}",
                        a.seq,
                        head.tree_size
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let last = volume.last_seq();
    assert_eq!(
        volume.kind(last).expect("kind"),
        RecordKind::Checkpoint,
        "the last commit ends with its signed head"
    );
    let seen = seen.lock().expect("lock").clone();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|(p, _)| p == "mail"));
    assert!(
        seen.windows(2).all(|w| w[0].1.tree_size < w[1].1.tree_size),
        "heads published in order"
    );
    let newest = &seen.last().expect("head").1;
    assert_eq!(Some(newest), volume.latest_tree_head().as_ref());
    assert_eq!(newest.tree_size + 1, last);
    drop(volume);
    let report = verify_volume(&vdir, &key.public_key());
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.unsigned_records, 0);
    assert_eq!(report.messages, 100);

    // Reopening does not add a checkpoint for the checkpoint record itself.
    let (volume, _) = Volume::open_writer(&vdir, &key, config()).expect("reopen");
    volume
        .append(RecordKind::Message, b"{}".to_vec(), Some(&message(1)))
        .expect("append");
    assert_eq!(volume.last_seq(), last + 2, "one message, one checkpoint");
}

#[test]
fn without_head_every_commit_records_wait_for_the_count_or_the_timer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = ArchiveKey::generate().expect("key");
    let config = VolumeConfig {
        head_every_commit: false,
        ..config()
    };
    let (volume, _) =
        Volume::create(&dir.path().join("2026"), "mail", 2026, &key, config).expect("create");
    for i in 0..5 {
        volume
            .append(RecordKind::Message, b"{}".to_vec(), Some(&message(i)))
            .expect("append");
    }
    assert_eq!(volume.last_seq(), 5);
    assert!(volume.latest_tree_head().is_none());
}

fn proof_document(volume: &Volume, seq: u64, with_record: bool) -> InclusionProof {
    let head = volume.latest_tree_head().expect("head");
    let (header, meta) = volume.read_meta(seq).expect("meta");
    InclusionProof {
        format: INCLUSION_FORMAT.to_string(),
        message_id: format!("2026-{seq}"),
        year: 2026,
        content_sha256: with_record.then(|| hex::encode(header.content_sha256)),
        record_header: with_record.then(|| hex::encode(header.encode())),
        record_meta: with_record.then(|| hex::encode(&meta)),
        record_prev: with_record.then(|| header.proof_prev()).flatten(),
        record_hash: hex::encode(volume.record_hash(seq).expect("hash")),
        leaf_index: seq - 1,
        tree_size: head.tree_size,
        audit_path: volume
            .inclusion_proof(seq, head.tree_size)
            .expect("path")
            .iter()
            .map(hex::encode)
            .collect(),
        tree_head: head,
        key_transitions: Vec::new(),
    }
}

#[test]
fn an_inclusion_proof_rejects_any_changed_byte_of_itself_or_the_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = ArchiveKey::generate().expect("key");
    let public = key.public_key();
    let (volume, _) =
        Volume::create(&dir.path().join("2026"), "mail", 2026, &key, config()).expect("create");
    let mut seqs = Vec::new();
    for i in 0..7 {
        let meta = format!("{{\"v\":1,\"mailboxes\":[\"m{i}@example.com\"]}}").into_bytes();
        seqs.push(
            volume
                .append(RecordKind::Message, meta, Some(&message(i)))
                .expect("append")
                .seq,
        );
    }
    let seq = seqs[3];
    let original = message(3);
    let document = proof_document(&volume, seq, true);
    let bytes = document.to_json();
    let parsed = InclusionProof::from_json(&bytes).expect("parse");
    let verdict = parsed.verify(&public, Some(&original)).expect("verifies");
    assert_eq!(verdict.message_id, format!("2026-{seq}"));
    assert!(verdict.message_checked);
    let mut with_newline = bytes.clone();
    with_newline.push(b'\n');
    InclusionProof::from_json(&with_newline)
        .expect("a trailing newline is allowed")
        .verify(&public, Some(&original))
        .expect("verifies");

    // Every byte of the document, changed to two other values: rejected.
    for at in 0..bytes.len() {
        for replacement in [b'0', b'7', b'a', b'f', b'"', b' '] {
            if bytes[at] == replacement {
                continue;
            }
            let mut changed = bytes.clone();
            changed[at] = replacement;
            let accepted = InclusionProof::from_json(&changed)
                .and_then(|p| p.verify(&public, Some(&original)))
                .is_ok();
            assert!(
                !accepted,
                "byte {at} ({:?} -> {:?}) changed and still accepted",
                bytes[at] as char, replacement as char
            );
        }
    }
    // Every byte of the message, flipped: rejected.
    for at in 0..original.len() {
        let mut changed = original.clone();
        changed[at] ^= 0x01;
        assert!(
            document.verify(&public, Some(&changed)).is_err(),
            "byte {at}"
        );
    }
    let mut longer = original.clone();
    longer.push(b'\n');
    assert!(document.verify(&public, Some(&longer)).is_err());
    // Another key: rejected.
    let other = ArchiveKey::generate().expect("key");
    assert!(
        document
            .verify(&other.public_key(), Some(&original))
            .is_err()
    );

    // Without the record (what roles without content access get): proves the record
    // hash only, and cannot bind a message file.
    let bare = proof_document(&volume, seq, false);
    let verdict = bare.verify(&public, None).expect("verifies");
    assert_eq!(verdict.content_sha256, None);
    assert!(bare.verify(&public, Some(&original)).is_err());
    let mut half = bare.clone();
    half.content_sha256 = document.content_sha256.clone();
    assert!(half.verify(&public, None).is_err(), "unbound content hash");
}

#[test]
fn consistency_documents_and_since_checks_name_the_sizes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = ArchiveKey::generate().expect("key");
    let public = key.public_key();
    let vdir = dir.path().join("2026");
    let (volume, _) = Volume::create(&vdir, "mail", 2026, &key, config()).expect("create");
    for i in 0..5 {
        volume
            .append(RecordKind::Message, b"{}".to_vec(), Some(&message(i)))
            .expect("append");
    }
    let held = volume.latest_tree_head().expect("head");
    for i in 5..17 {
        volume
            .append(RecordKind::Message, b"{}".to_vec(), Some(&message(i)))
            .expect("append");
    }
    let newest = volume.latest_tree_head().expect("head");
    assert!(newest.tree_size > held.tree_size);

    // The document from the held size to the newest head, and to an older signed head.
    let doc = consistency_document(&volume, held.tree_size, None).expect("proof");
    let parsed = ConsistencyProof::from_json(&doc.to_json()).expect("parse");
    parsed.verify(&public, &held).expect("extends");
    assert_eq!(parsed.to, newest.tree_size);
    let middle = signed_head_at(&volume, held.tree_size + 2)
        .expect("read")
        .expect("a head every commit");
    let doc = consistency_document(&volume, held.tree_size, Some(middle.tree_size)).expect("proof");
    doc.verify(&public, &held).expect("extends");
    assert!(
        consistency_document(&volume, held.tree_size, Some(held.tree_size + 1)).is_err(),
        "a checkpoint record is not itself a head size"
    );
    // A held head of another size than the proof's start: rejected.
    let mut wrong = doc.clone();
    wrong.from = held.tree_size + 2;
    assert!(wrong.verify(&public, &held).is_err());

    let report = check_since(&volume, &public, &held);
    assert!(report.extends(), "{:?}", report.problems);
    assert_eq!(report.current_size, newest.tree_size);
    drop(volume);

    // The same volume cut back below the held head (its later checkpoints gone too).
    let cut = dir.path().join("cut");
    std::fs::create_dir_all(&cut).expect("mkdir");
    for name in ["VOLUME", "000001.seg"] {
        std::fs::copy(vdir.join(name), cut.join(name)).expect("copy");
    }
    let (reader, _) = Volume::open_read_only(&vdir).expect("open");
    let stats = reader.stats();
    assert_eq!(stats.segments, 1);
    let bytes = std::fs::read(vdir.join("000001.seg")).expect("read");
    let mut offset = coffer_volume::segment::SEGMENT_HEADER_LEN as usize;
    for _ in 0..3 {
        let h = coffer_volume::RecordHeader::decode(&bytes[offset..]).expect("header");
        offset += h.record_len() as usize;
    }
    std::fs::write(cut.join("000001.seg"), &bytes[..offset]).expect("cut");
    let (cut_volume, _) = Volume::open_read_only(&cut).expect("open cut");
    let report = check_since(&cut_volume, &public, &held);
    assert!(!report.extends());
    assert!(
        report.problems[0].contains(&format!(
            "holds 3 records but the held head covers {}",
            held.tree_size
        )),
        "{:?}",
        report.problems
    );
    // From the inside, the cut volume is intact (a boundary cut); the verdict says what
    // it cannot know.
    let inside = verify_volume(&cut, &public);
    assert!(inside.is_intact(), "{:?}", inside.problems);
    assert!(
        inside.notes.iter().any(|n| n.contains("verify --since")),
        "{:?}",
        inside.notes
    );
}

#[test]
fn an_all_zero_remainder_of_an_open_volume_is_a_torn_write_not_damage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = ArchiveKey::generate().expect("key");
    let vdir = dir.path().join("2026");
    let (volume, _) = Volume::create(&vdir, "mail", 2026, &key, config()).expect("create");
    for i in 0..3 {
        volume
            .append(RecordKind::Message, b"{}".to_vec(), Some(&message(i)))
            .expect("append");
    }
    drop(volume);
    let segment = vdir.join("000001.seg");
    let mut bytes = std::fs::read(&segment).expect("read");
    bytes.extend(std::iter::repeat_n(0u8, 4096));
    std::fs::write(&segment, &bytes).expect("write");
    let report = verify_volume(&vdir, &key.public_key());
    assert!(report.is_intact(), "{:?}", report.problems);
    assert!(
        report.notes.iter().any(|n| n.contains("torn write")),
        "{:?}",
        report.notes
    );
    // Non-zero junk in the same place is damage.
    let n = bytes.len();
    bytes[n - 10] = 1;
    std::fs::write(&segment, &bytes).expect("write");
    assert!(!verify_volume(&vdir, &key.public_key()).is_intact());
}
