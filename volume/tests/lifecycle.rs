//! Volume lifecycle on real files: append (also concurrently), segment rolls, reopen,
//! read back, checkpoints, proofs against signed tree heads, sealing, verification.

use std::sync::Arc;
use std::time::Duration;

use coffer_volume::merkle::leaf_hash;
use coffer_volume::{
    ArchiveKey, RecordKind, SignedTreeHead, Volume, VolumeConfig, VolumeState, verify_consistency,
    verify_inclusion, verify_volume,
};

fn config() -> VolumeConfig {
    VolumeConfig {
        segment_size_limit: 8 * 1024,
        checkpoint_every: 10,
        checkpoint_interval: Duration::from_secs(3600),
        zstd_level: 3,
        ..VolumeConfig::default()
    }
}

fn message(i: usize) -> Vec<u8> {
    format!(
        "From: a{i}@example.com\r\nSubject: test {i}\r\n\r\n{}\r\n",
        "body text ".repeat(i % 50 + 1)
    )
    .into_bytes()
}

#[test]
fn append_reopen_read_seal_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = ArchiveKey::generate().expect("key");
    let vdir = dir.path().join("2026");
    let (volume, report) = Volume::create(&vdir, "mail", 2026, &key, config()).expect("create");
    assert_eq!(report.torn_tail, None);
    let mut seqs = Vec::new();
    for i in 0..45 {
        let a = volume
            .append(
                RecordKind::Message,
                format!("{{\"n\":{i}}}").into_bytes(),
                Some(&message(i)),
            )
            .expect("append");
        seqs.push(a.seq);
    }
    // Checkpoints were interleaved every 10 records: sequence numbers stay dense.
    assert!(seqs.windows(2).all(|w| w[1] > w[0]));
    let last = volume.last_seq();
    assert!(last > 45, "checkpoints add records");
    assert!(
        volume.stats().segments > 1,
        "small segment limit must roll segments"
    );
    drop(volume);

    let (volume, report) = Volume::open_writer(&vdir, &key, config()).expect("reopen");
    assert_eq!(report.torn_tail, None);
    assert_eq!(volume.last_seq(), last);
    for (i, seq) in seqs.iter().enumerate() {
        let r = volume.read(*seq).expect("read");
        assert_eq!(r.content, message(i));
        assert_eq!(r.meta, format!("{{\"n\":{i}}}").into_bytes());
        assert_eq!(r.header.kind, RecordKind::Message);
    }
    let head = volume.checkpoint().expect("checkpoint").expect("head");
    let public = key.public_key();
    head.verify_signature(&public).expect("signature");
    let root = head.root_bytes().expect("root");
    for seq in [1, seqs[20], head.tree_size] {
        let proof = volume.inclusion_proof(seq, head.tree_size).expect("proof");
        let leaf = leaf_hash(&volume.record_hash(seq).expect("hash"));
        verify_inclusion(seq - 1, head.tree_size, &leaf, &proof, &root).expect("inclusion");
    }
    let more = volume
        .append(
            RecordKind::Message,
            b"{}".to_vec(),
            Some(b"Subject: x\r\n\r\nx"),
        )
        .expect("append");
    let sealed = volume.seal().expect("seal");
    assert_eq!(
        sealed.tree_size,
        more.seq + 2,
        "the seal record follows the last append and the checkpoint that ended its commit"
    );
    let proof = volume
        .consistency_proof(head.tree_size, sealed.tree_size)
        .expect("consistency");
    verify_consistency(
        head.tree_size,
        sealed.tree_size,
        &root,
        &sealed.root_bytes().expect("root"),
        &proof,
    )
    .expect("consistency verifies");
    assert!(
        volume
            .append(RecordKind::Message, Vec::new(), Some(b"x"))
            .is_err(),
        "sealed volumes take no records"
    );
    assert_eq!(volume.manifest().state, VolumeState::Sealed);

    let report = verify_volume(&vdir, &public);
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.unsigned_records, 0);
    assert_eq!(report.messages, 46);
    let other = ArchiveKey::generate().expect("key").public_key();
    assert!(
        !verify_volume(&vdir, &other).is_intact(),
        "another key must not verify"
    );

    // A sealed volume reopens read-only and refuses appends.
    let (reopened, _) = Volume::open_writer(&vdir, &key, config()).expect("reopen sealed");
    assert!(
        reopened
            .append(RecordKind::Message, Vec::new(), Some(b"x"))
            .is_err()
    );
    let seal_file = std::fs::read(vdir.join("SEAL")).expect("SEAL");
    assert_eq!(
        SignedTreeHead::from_canonical_json(&seal_file).expect("parse"),
        sealed
    );
}

#[test]
fn concurrent_appends_share_fsyncs_and_all_land() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = ArchiveKey::generate().expect("key");
    let vdir = dir.path().join("2026");
    let (volume, _) =
        Volume::create(&vdir, "mail", 2026, &key, VolumeConfig::default()).expect("create");
    let volume = Arc::new(volume);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let volume = Arc::clone(&volume);
            std::thread::spawn(move || {
                (0..50)
                    .map(|i| {
                        let body = message(t * 1000 + i);
                        let a = volume
                            .append(RecordKind::Message, Vec::new(), Some(&body))
                            .expect("append");
                        (a.seq, body)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        all.extend(t.join().expect("thread"));
    }
    assert_eq!(all.len(), 400);
    let (volume, _) = Volume::open_read_only(&vdir).expect("read only");
    for (seq, body) in all {
        assert_eq!(volume.read(seq).expect("read").content, body);
    }
    assert!(verify_volume(&vdir, &key.public_key()).is_intact());
}

#[test]
fn timed_checkpoint_covers_recent_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = ArchiveKey::generate().expect("key");
    let vdir = dir.path().join("2026");
    let mut cfg = config();
    cfg.checkpoint_interval = Duration::from_millis(200);
    let (volume, _) = Volume::create(&vdir, "mail", 2026, &key, cfg).expect("create");
    volume
        .append(
            RecordKind::Message,
            Vec::new(),
            Some(b"Subject: a\r\n\r\na"),
        )
        .expect("append");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while volume.latest_tree_head().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "no timed checkpoint within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(volume.latest_tree_head().expect("head").tree_size, 1);
}

/// FORMAT.md "Sealing": a crash after the `SEAL` file but before the manifest says
/// sealed is an unfinished seal (a note), not damage; the writer finishes it when it
/// next opens the volume. A manifest saying `disposed` (reserved) is a problem.
#[test]
fn a_crash_between_the_sealing_steps_is_unfinished_not_damaged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = ArchiveKey::generate().expect("key");
    let vdir = dir.path().join("2026");
    let (volume, _) = Volume::create(&vdir, "mail", 2026, &key, config()).expect("create");
    for i in 0..3 {
        volume
            .append(RecordKind::Message, b"{}".to_vec(), Some(&message(i)))
            .expect("append");
    }
    volume.seal().expect("seal");
    drop(volume);
    let sealed = std::fs::read(vdir.join("VOLUME")).expect("manifest");
    // The manifest as it was before step 3, segments as before step 4.
    let mut manifest = coffer_volume::Manifest::load(&vdir).expect("manifest");
    manifest.state = VolumeState::Open;
    manifest.sealed_us = None;
    std::fs::write(vdir.join("VOLUME"), manifest.to_json()).expect("write");
    for entry in std::fs::read_dir(&vdir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "seg") {
            let mut perm = std::fs::metadata(&path).expect("meta").permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o600);
            std::fs::set_permissions(&path, perm).expect("chmod");
        }
    }
    let report = verify_volume(&vdir, &key.public_key());
    assert!(report.is_intact(), "{:?}", report.problems);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("sealing did not finish")),
        "{:?}",
        report.notes
    );
    // The writer finishes sealing when it opens the volume.
    let (volume, _) = Volume::open_writer(&vdir, &key, config()).expect("reopen");
    assert_eq!(volume.manifest().state, VolumeState::Sealed);
    drop(volume);
    let report = verify_volume(&vdir, &key.public_key());
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_ne!(
        std::fs::read(vdir.join("VOLUME")).expect("manifest"),
        sealed
    );

    let mut disposed = coffer_volume::Manifest::load(&vdir).expect("manifest");
    disposed.state = VolumeState::Disposed;
    std::fs::write(vdir.join("VOLUME"), disposed.to_json()).expect("write");
    let report = verify_volume(&vdir, &key.public_key());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.what.contains("`disposed` is reserved")),
        "{:?}",
        report.problems
    );
}

/// FORMAT.md "Key transitions": after a rotation, proofs and `verify --since` checks
/// accept the old and the new public key alike (the documents carry the transitions).
#[test]
fn proofs_across_a_key_rotation_verify_with_the_old_and_the_new_key() {
    use coffer_volume::proof::{ConsistencyProof, InclusionProof};
    let dir = tempfile::tempdir().expect("tempdir");
    let (old, new) = (
        ArchiveKey::generate().expect("key"),
        ArchiveKey::generate().expect("key"),
    );
    let vdir = dir.path().join("2026");
    let (volume, _) = Volume::create(&vdir, "mail", 2026, &old, config()).expect("create");
    for i in 0..3 {
        volume
            .append(RecordKind::Message, b"{}".to_vec(), Some(&message(i)))
            .expect("append");
    }
    let held = volume.latest_tree_head().expect("head");
    volume.append_key_transition(&new).expect("transition");
    drop(volume);
    assert!(
        Volume::open_writer(&vdir, &old, config()).is_err(),
        "the old key signs no more"
    );
    let (volume, _) = Volume::open_writer(&vdir, &new, config()).expect("reopen");
    volume
        .append(RecordKind::Message, b"{}".to_vec(), Some(&message(9)))
        .expect("append");
    let head = volume.latest_tree_head().expect("head");
    assert_eq!(head.key, new.fingerprint());
    let inclusion = coffer_volume::inclusion_document(&volume, 1, head.clone(), true)
        .expect("inclusion")
        .to_json();
    let consistency = coffer_volume::consistency_document(&volume, held.tree_size, None)
        .expect("consistency")
        .to_json();
    for key in [old.public_key(), new.public_key()] {
        InclusionProof::from_json(&inclusion)
            .expect("parse")
            .verify(&key, None)
            .expect("inclusion verifies");
        ConsistencyProof::from_json(&consistency)
            .expect("parse")
            .verify(&key, &held)
            .expect("consistency verifies");
        assert!(coffer_volume::check_since(&volume, &key, &held).extends());
        let report = verify_volume(&vdir, &key);
        assert!(report.is_intact(), "{:?}", report.problems);
    }
    let stranger = ArchiveKey::generate().expect("key").public_key();
    assert!(
        InclusionProof::from_json(&inclusion)
            .expect("parse")
            .verify(&stranger, None)
            .is_err()
    );
    assert!(!verify_volume(&vdir, &stranger).is_intact());
}
