//! Archives written by format version 1 stay readable: today's reader opens the frozen
//! volume in `testdata/v1/` read-only, verifies it completely with the committed public
//! key, reads every record back exactly as `expected.json` describes it, proves every
//! record into the sealed tree, and still names the place of a single flipped byte.
//! The committed bytes themselves are pinned by their SHA-256s, so the fixture cannot
//! drift. (How it was written, and why it is never rewritten: `testdata/v1/README.md`.)

mod frozen_schema;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use coffer_volume::merkle::leaf_hash;
use coffer_volume::record::{PREFIX_LEN_V1 as PREFIX_LEN, RecordHeader, sha256};
use coffer_volume::{
    PublicKey, SignedTreeHead, Volume, VolumeState, verify_consistency, verify_inclusion,
    verify_volume,
};
use frozen_schema::{
    EXPECTED_FILE, Expected, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, VOLUME_DIR, fixture_dir, utc_text,
};

fn expected() -> Expected {
    let path = fixture_dir().join(EXPECTED_FILE);
    let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn volume_dir(expected: &Expected) -> PathBuf {
    fixture_dir().join(&expected.volume.dir)
}

fn public_key(expected: &Expected) -> PublicKey {
    PublicKey::load(&fixture_dir().join(&expected.public_key.file)).expect("public key")
}

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Every listed file has its committed length and SHA-256, and the volume directory
/// holds nothing else.
fn assert_files_unchanged(expected: &Expected) {
    assert!(!expected.files.is_empty(), "expected.json lists no files");
    for file in &expected.files {
        let path = fixture_dir().join(&file.path);
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(bytes.len() as u64, file.bytes, "length of {}", file.path);
        assert_eq!(
            hex::encode(sha256(&bytes)),
            file.sha256,
            "SHA-256 of {}",
            file.path
        );
    }
    let listed: BTreeSet<String> = expected.files.iter().map(|f| f.path.clone()).collect();
    for key_file in [PRIVATE_KEY_FILE, PUBLIC_KEY_FILE] {
        assert!(listed.contains(key_file), "{key_file} is not pinned");
    }
    let dir = volume_dir(expected);
    for entry in fs::read_dir(&dir).expect("read volume dir") {
        let name = entry.expect("entry").file_name();
        let path = format!("{}/{}", expected.volume.dir, name.to_string_lossy());
        assert!(listed.contains(&path), "{path} is not in expected.json");
    }
}

#[test]
fn committed_bytes_match_their_sha256s() {
    assert_files_unchanged(&expected());
}

#[test]
fn fixture_verifies_completely_with_the_committed_public_key() {
    let expected = expected();
    assert_eq!(expected.volume.dir, VOLUME_DIR);
    assert_eq!(expected.public_key.file, PUBLIC_KEY_FILE);
    let key = public_key(&expected);
    assert_eq!(key.fingerprint(), expected.public_key.fingerprint);
    assert_eq!(hex::encode(key.to_bytes()), expected.public_key.raw);

    let report = verify_volume(&volume_dir(&expected), &key);
    assert!(report.is_intact(), "{:?}", report.problems);
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    assert_eq!(report.year, Some(expected.volume.year));
    assert_eq!(report.state, Some(VolumeState::Sealed));
    assert_eq!(report.records, expected.tree.size);
    assert_eq!(
        report.messages,
        expected
            .records
            .iter()
            .filter(|r| r.kind == "message")
            .count() as u64
    );
    assert_eq!(report.signatures_verified, expected.tree.signatures);
    assert_eq!(report.unsigned_records, 0);
    assert_eq!(report.root, expected.tree.root);
}

#[test]
fn every_record_reads_back_exactly_as_expected() {
    let expected = expected();
    let dir = volume_dir(&expected);
    let (volume, recovery) = Volume::open_read_only(&dir).expect("open read-only");
    assert_eq!(recovery.torn_tail, None);

    let manifest = volume.manifest();
    assert_eq!(manifest.format_version, expected.format.manifest_version);
    assert_eq!(manifest.volume_id, expected.volume.volume_id);
    assert_eq!(manifest.year, expected.volume.year);
    assert_eq!(manifest.purpose, expected.volume.purpose);
    assert_eq!(manifest.key, expected.public_key.fingerprint);
    assert_eq!(manifest.created_us, expected.volume.created_us);
    assert_eq!(manifest.state.as_str(), expected.volume.state);
    assert_eq!(manifest.sealed_us, expected.volume.sealed_us);
    assert_eq!(
        hex::encode(volume.genesis_hash()),
        expected.volume.genesis_hash
    );
    assert_eq!(volume.stats().segments, expected.volume.segments);
    assert_eq!(volume.last_seq(), expected.tree.size);
    assert_eq!(expected.records.len() as u64, expected.tree.size);

    for (index, want) in expected.records.iter().enumerate() {
        let seq = want.seq;
        assert_eq!(
            seq,
            index as u64 + 1,
            "records are listed in sequence order"
        );
        let record = volume
            .read(seq)
            .unwrap_or_else(|e| panic!("record {seq}: {e}"));
        let header = &record.header;
        let what = format!("record {seq}");
        assert_eq!(header.seq, seq, "{what}");
        assert_eq!(header.kind.name(), want.kind, "{what}");
        assert_eq!(header.kind as u8, want.kind_byte, "{what}");
        assert_eq!(header.codec as u8, want.codec_byte, "{what}");
        assert_eq!(header.received_us, want.received_us, "{what}");
        assert_eq!(utc_text(header.received_us), want.received_utc, "{what}");
        assert_eq!(record.meta, want.meta_text.as_bytes(), "{what}");
        assert_eq!(
            hex::encode(sha256(&record.meta)),
            want.meta_sha256,
            "{what}"
        );
        assert_eq!(header.meta_len as usize, record.meta.len(), "{what}");
        assert_eq!(header.raw_len, want.content_len, "{what}");
        assert_eq!(record.content.len(), want.content_len as usize, "{what}");
        assert_eq!(header.stored_len, want.stored_len, "{what}");
        assert_eq!(
            hex::encode(sha256(&record.content)),
            want.content_sha256,
            "{what}"
        );
        assert_eq!(
            hex::encode(header.content_sha256),
            want.content_sha256,
            "{what}"
        );
        assert_eq!(hex::encode(header.prev_hash), want.prev_hash, "{what}");
        assert_eq!(hex::encode(record.hash), want.record_hash, "{what}");
        assert_eq!(
            hex::encode(volume.record_hash(seq).expect("hash")),
            want.record_hash,
            "{what}"
        );
        assert_eq!(
            hex::encode(leaf_hash(&record.hash)),
            want.leaf_hash,
            "{what}"
        );
        assert_eq!(header.record_len(), want.record_len, "{what}");
        let previous = match index {
            0 => &expected.volume.genesis_hash,
            _ => &expected.records[index - 1].record_hash,
        };
        assert_eq!(&want.prev_hash, previous, "{what}: chain");

        // The same record at its place in its segment file, read as raw bytes.
        let segment = fs::read(dir.join(&want.segment)).expect("segment");
        let at = usize::try_from(want.offset).expect("offset");
        let raw = &segment[at..at + want.record_len as usize];
        assert_eq!(
            RecordHeader::decode(raw).expect("header"),
            *header,
            "{what}"
        );
        assert_eq!(raw[4], expected.format.record_version, "{what}");
        assert_eq!(
            hex::encode(&raw[104..PREFIX_LEN]),
            want.record_hash,
            "{what}"
        );
        assert_eq!(
            &raw[PREFIX_LEN..PREFIX_LEN + record.meta.len()],
            record.meta.as_slice(),
            "{what}"
        );
    }

    let last = expected.records.last().expect("records");
    assert_eq!(expected.tree.chain_head, last.record_hash);
    assert_eq!(
        hex::encode(volume.root_at(expected.tree.size).expect("root")),
        expected.tree.root
    );
    let seal = SignedTreeHead::from_canonical_json(
        &fs::read(dir.join(coffer_volume::SEAL_FILE)).expect("SEAL"),
    )
    .expect("SEAL parses");
    assert_eq!(seal.version, expected.format.tree_head_version);
    assert_eq!(seal.tree_size, expected.tree.size);
    assert_eq!(seal.root, expected.tree.root);
    assert_eq!(seal.chain_head, expected.tree.chain_head);
    assert_eq!(Some(seal.time_us), expected.volume.sealed_us);
    // The newest tree head in the records is the seal record's (over every record
    // before it); the SEAL file's covers the seal record too.
    assert_eq!(last.kind, "seal");
    let seal_record: SignedTreeHead =
        serde_json::from_str(&last.meta_text).expect("seal record tree head");
    assert_eq!(seal_record.tree_size, expected.tree.size - 1);
    assert_eq!(volume.latest_tree_head(), Some(seal_record));

    // Opening and reading changed nothing.
    assert_files_unchanged(&expected);
}

#[test]
fn committed_proofs_are_todays_proofs_and_verify() {
    let expected = expected();
    let (volume, _) = Volume::open_read_only(&volume_dir(&expected)).expect("open");
    let root = unhex(&expected.tree.root);
    assert_eq!(
        expected.inclusion_proofs.len() as u64,
        expected.tree.size,
        "one inclusion proof per record"
    );
    for proof in &expected.inclusion_proofs {
        let path: Vec<Vec<u8>> = proof.path.iter().map(|h| unhex(h)).collect();
        let today: Vec<Vec<u8>> = volume
            .inclusion_proof(proof.seq, proof.tree_size)
            .expect("inclusion proof")
            .iter()
            .map(|h| h.to_vec())
            .collect();
        assert_eq!(path, today, "inclusion proof of record {}", proof.seq);
        let leaf = unhex(&expected.records[(proof.seq - 1) as usize].leaf_hash);
        verify_inclusion(proof.leaf_index, proof.tree_size, &leaf, &path, &root)
            .unwrap_or_else(|e| panic!("record {}: {e}", proof.seq));
    }
    let checkpoints = expected
        .records
        .iter()
        .filter(|r| r.kind == "checkpoint")
        .count();
    assert!(checkpoints > 0, "the fixture has a checkpoint");
    assert_eq!(expected.consistency_proofs.len(), checkpoints);
    for proof in &expected.consistency_proofs {
        let checkpoint = &expected.records[proof.old_size as usize];
        assert_eq!(checkpoint.kind, "checkpoint");
        let signed: SignedTreeHead =
            serde_json::from_str(&checkpoint.meta_text).expect("checkpoint tree head");
        assert_eq!(signed.tree_size, proof.old_size);
        assert_eq!(
            signed.root, proof.old_root,
            "the checkpoint signed this root"
        );
        let path: Vec<Vec<u8>> = proof.path.iter().map(|h| unhex(h)).collect();
        let today: Vec<Vec<u8>> = volume
            .consistency_proof(proof.old_size, proof.new_size)
            .expect("consistency proof")
            .iter()
            .map(|h| h.to_vec())
            .collect();
        assert_eq!(path, today, "consistency proof from {}", proof.old_size);
        verify_consistency(
            proof.old_size,
            proof.new_size,
            &unhex(&proof.old_root),
            &unhex(&proof.new_root),
            &path,
        )
        .unwrap_or_else(|e| panic!("consistency from {}: {e}", proof.old_size));
    }
}

fn copy_fixture(expected: &Expected, to: &Path) -> PathBuf {
    let copy = to.join(&expected.volume.dir);
    fs::create_dir_all(&copy).expect("mkdir");
    for entry in fs::read_dir(volume_dir(expected)).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = copy.join(entry.file_name());
        fs::copy(entry.path(), &target).expect("copy");
        fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    copy
}

fn flip(path: &Path, offset: u64) {
    let mut bytes = fs::read(path).expect("read");
    bytes[usize::try_from(offset).expect("offset")] ^= 0x01;
    fs::write(path, bytes).expect("write");
}

#[test]
fn a_flipped_byte_in_a_copy_fails_verification_naming_the_place() {
    let expected = expected();
    let key = public_key(&expected);
    // A metadata byte of each record, and the last byte of each content section.
    let mut places = Vec::new();
    for record in &expected.records {
        places.push((record, PREFIX_LEN as u64));
        if record.stored_len > 0 {
            places.push((record, record.record_len - 1));
        }
    }
    for (record, within) in places {
        let tmp = tempfile::tempdir().expect("tempdir");
        let copy = copy_fixture(&expected, tmp.path());
        flip(&copy.join(&record.segment), record.offset + within);
        let report = verify_volume(&copy, &key);
        assert!(
            !report.is_intact(),
            "record {} byte {within}: damage not found",
            record.seq
        );
        assert!(
            report.problems.iter().any(|p| p.file == record.segment
                && p.offset == Some(record.offset)
                && p.seq == Some(record.seq)),
            "record {} byte {within}: no problem names {} at byte {}: {:?}",
            record.seq,
            record.segment,
            record.offset,
            report.problems
        );
    }

    let tmp = tempfile::tempdir().expect("tempdir");
    let copy = copy_fixture(&expected, tmp.path());
    // One bit of the first hex digit of the root in the SEAL file.
    let seal_path = copy.join(coffer_volume::SEAL_FILE);
    let seal_text = fs::read_to_string(&seal_path).expect("SEAL");
    let root_at = seal_text.find(&expected.tree.root).expect("root in SEAL") as u64;
    flip(&seal_path, root_at);
    let report = verify_volume(&copy, &key);
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.file == coffer_volume::SEAL_FILE),
        "{:?}",
        report.problems
    );
}
