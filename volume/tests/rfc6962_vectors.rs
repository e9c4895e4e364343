//! Checks the Merkle proof verifiers (and the proofs the tree produces) against the
//! independent RFC 6962 vectors of transparency-dev/merkle in `testdata/rfc6962`.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use coffer_volume::merkle::{MerkleTree, leaf_hash};
use coffer_volume::{verify_consistency, verify_inclusion};
use serde_json::Value;

fn vector_files(kind: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("vector dir {}: {e}", dir.display()))
        {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/rfc6962")
            .join(kind),
        &mut out,
    );
    out.sort();
    out
}

fn b64(v: &Value) -> Vec<u8> {
    match v.as_str() {
        Some(s) => STANDARD.decode(s).expect("base64"),
        None => Vec::new(),
    }
}

fn proof(v: &Value) -> Vec<Vec<u8>> {
    v.as_array()
        .map(|a| a.iter().map(b64).collect())
        .unwrap_or_default()
}

/// The numbered folders (0-4) hold proofs over the reference tree; `additional` and
/// `single-entry` use arbitrary hashes.
fn built_on_reference_leaves(path: &Path) -> bool {
    let parent = path
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("");
    parent.len() == 1 && parent.as_bytes()[0].is_ascii_digit()
}

fn load(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json")
}

/// The reference leaves the vectors are built on.
fn reference_tree() -> MerkleTree {
    let leaves: [&[u8]; 8] = [
        b"",
        &[0x00],
        &[0x10],
        &[0x20, 0x21],
        &[0x30, 0x31],
        &[0x40, 0x41, 0x42, 0x43],
        &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
        &[
            0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
            0x6e, 0x6f,
        ],
    ];
    let mut t = MerkleTree::new();
    for l in leaves {
        t.push_leaf_hash(leaf_hash(l));
    }
    t
}

#[test]
fn inclusion_vectors() {
    let files = vector_files("inclusion");
    assert!(
        files.len() > 30,
        "expected the inclusion vectors, found {}",
        files.len()
    );
    let tree = reference_tree();
    let mut happy = 0;
    for path in files {
        let v = load(&path);
        let index = v["leafIdx"].as_u64().expect("leafIdx");
        let size = v["treeSize"].as_u64().expect("treeSize");
        let got = verify_inclusion(
            index,
            size,
            &b64(&v["leafHash"]),
            &proof(&v["proof"]),
            &b64(&v["root"]),
        );
        let want_err = v["wantErr"].as_bool().expect("wantErr");
        assert_eq!(got.is_err(), want_err, "{}: {got:?}", path.display());
        if !want_err && built_on_reference_leaves(&path) {
            // Our tree must produce exactly the published proof and root.
            assert_eq!(
                tree.inclusion_proof(index, size).expect("proof"),
                proof(&v["proof"])
                    .iter()
                    .map(|p| <[u8; 32]>::try_from(p.as_slice()).expect("32"))
                    .collect::<Vec<_>>(),
                "{}",
                path.display()
            );
            assert_eq!(tree.root_at(size).expect("root").to_vec(), b64(&v["root"]));
            happy += 1;
        }
    }
    assert!(
        happy >= 3,
        "too few happy-path vectors compared with the tree ({happy})"
    );
}

#[test]
fn consistency_vectors() {
    let files = vector_files("consistency");
    assert!(
        files.len() > 30,
        "expected the consistency vectors, found {}",
        files.len()
    );
    let tree = reference_tree();
    let mut happy = 0;
    for path in files {
        let v = load(&path);
        let size1 = v["size1"].as_u64().expect("size1");
        let size2 = v["size2"].as_u64().expect("size2");
        let got = verify_consistency(
            size1,
            size2,
            &b64(&v["root1"]),
            &b64(&v["root2"]),
            &proof(&v["proof"]),
        );
        let want_err = v["wantErr"].as_bool().expect("wantErr");
        assert_eq!(got.is_err(), want_err, "{}: {got:?}", path.display());
        if !want_err && built_on_reference_leaves(&path) {
            let ours = tree.consistency_proof(size1, size2).expect("proof");
            let theirs = proof(&v["proof"]);
            assert_eq!(
                ours.iter().map(|h| h.to_vec()).collect::<Vec<_>>(),
                theirs,
                "{}",
                path.display()
            );
            happy += 1;
        }
    }
    assert!(
        happy >= 3,
        "too few happy-path vectors compared with the tree ({happy})"
    );
}
