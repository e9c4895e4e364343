//! Test vectors for independent verifiers (FORMAT.md, "Proofs"): proof documents made
//! from the frozen version-1 volume in `testdata/v1/` (signed with its committed
//! TEST-ONLY key) and kept in `testdata/proofs/`. This test regenerates every document
//! from the volume and requires the committed bytes to be exactly today's, checks each
//! with the public key, and checks that changed bytes are rejected — so the vectors are
//! both what Coffer produces and what it accepts.
//!
//! `COFFER_WRITE_PROOF_VECTORS=1 cargo test -p coffer-volume --test proof_vectors`
//! writes them (once; they are never rewritten, like the volume they come from).

use std::path::{Path, PathBuf};

use coffer_volume::proof::{ConsistencyProof, InclusionProof};
use coffer_volume::{
    PublicKey, SignedTreeHead, Volume, consistency_document, inclusion_document, newest_head,
    signed_head_at,
};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// (file name, bytes) of every vector.
fn vectors() -> Vec<(&'static str, Vec<u8>)> {
    let (volume, _) = Volume::open_read_only(&testdata().join("v1/2026")).expect("open v1");
    let seal = newest_head(&volume).expect("SEAL").expect("sealed");
    let held = signed_head_at(&volume, 3)
        .expect("read")
        .expect("checkpoint record 4 signs size 3");
    let middle = signed_head_at(&volume, 8)
        .expect("read")
        .expect("checkpoint record 9 signs size 8");
    let message = volume.read(8).expect("record 8");
    vec![
        ("head-3.json", held.to_json()),
        ("head-8.json", middle.to_json()),
        ("seal-head.json", seal.to_json()),
        ("message-2026-8.eml", message.content),
        (
            "inclusion-2026-8.json",
            inclusion_document(&volume, 8, seal.clone(), true)
                .expect("proof")
                .to_json(),
        ),
        (
            "inclusion-2026-8-bare.json",
            inclusion_document(&volume, 8, seal.clone(), false)
                .expect("proof")
                .to_json(),
        ),
        (
            "inclusion-2026-1-at-3.json",
            inclusion_document(&volume, 1, held.clone(), true)
                .expect("proof")
                .to_json(),
        ),
        (
            "consistency-3-8.json",
            consistency_document(&volume, 3, Some(8))
                .expect("proof")
                .to_json(),
        ),
        (
            "consistency-3-11.json",
            consistency_document(&volume, 3, None)
                .expect("proof")
                .to_json(),
        ),
    ]
}

fn public_key() -> PublicKey {
    PublicKey::load(&testdata().join("v1/TEST-ONLY-archive.pub")).expect("public key")
}

#[test]
fn committed_vectors_are_todays_documents() {
    let dir = testdata().join("proofs");
    let write = std::env::var_os("COFFER_WRITE_PROOF_VECTORS").is_some();
    for (name, bytes) in vectors() {
        let path = dir.join(name);
        if write && std::fs::symlink_metadata(&path).is_err() {
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(&path, &bytes).expect("write vector");
        }
        let committed = std::fs::read(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (write them: see this file's docs)", path.display())
        });
        assert_eq!(
            committed, bytes,
            "{name} differs from what the volume gives today"
        );
    }
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(testdata().join("proofs").join(name)).expect("vector")
}

#[test]
fn committed_vectors_verify_and_changed_bytes_do_not() {
    let public = public_key();
    let message = read("message-2026-8.eml");
    let held = SignedTreeHead::from_canonical_json(&read("head-3.json")).expect("head");
    held.verify_signature(&public).expect("signed");

    let proof = read("inclusion-2026-8.json");
    let verdict = InclusionProof::from_json(&proof)
        .expect("parse")
        .verify(&public, Some(&message))
        .expect("verifies");
    assert_eq!(verdict.message_id, "2026-8");
    assert_eq!(verdict.tree_size, 11);
    InclusionProof::from_json(&read("inclusion-2026-1-at-3.json"))
        .expect("parse")
        .verify(&public, None)
        .expect("verifies");
    let bare = InclusionProof::from_json(&read("inclusion-2026-8-bare.json")).expect("parse");
    assert_eq!(bare.verify(&public, None).expect("ok").content_sha256, None);

    for name in ["consistency-3-8.json", "consistency-3-11.json"] {
        ConsistencyProof::from_json(&read(name))
            .expect("parse")
            .verify(&public, &held)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // Checked against the wrong held head: rejected.
    let other = SignedTreeHead::from_canonical_json(&read("head-8.json")).expect("head");
    assert!(
        ConsistencyProof::from_json(&read("consistency-3-11.json"))
            .expect("parse")
            .verify(&public, &other)
            .is_err()
    );

    for at in 0..proof.len() {
        let mut changed = proof.clone();
        changed[at] = if changed[at] == b'1' { b'2' } else { b'1' };
        let ok = InclusionProof::from_json(&changed)
            .and_then(|p| p.verify(&public, Some(&message)))
            .is_ok();
        assert!(!ok, "inclusion proof byte {at} changed and accepted");
    }
    let consistency = read("consistency-3-11.json");
    for at in 0..consistency.len() {
        let mut changed = consistency.clone();
        changed[at] = if changed[at] == b'1' { b'2' } else { b'1' };
        let ok = ConsistencyProof::from_json(&changed)
            .and_then(|p| p.verify(&public, &held))
            .is_ok();
        assert!(!ok, "consistency proof byte {at} changed and accepted");
    }
}
