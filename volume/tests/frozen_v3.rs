//! Test vectors of record version 3 for independent verifiers (FORMAT.md, "Test
//! vectors"), in `testdata/v3/`: a tiny sealed volume that **mixes record versions** —
//! record 1 is version 1, record 2 version 2, every later record version 3 (no stored
//! previous hash, LEB128 integers) — with zstd with and without a volume dictionary,
//! stored raw, encrypted content and binary custody metadata, whose signing key changes
//! half-way through (a key-transition record, kind 34, from key A to key B); the
//! TEST-ONLY data keys of its encrypted records, its signed tree heads, an inclusion
//! proof of a version-3 record (which carries `record_prev`) and a consistency proof
//! across the key change, and a signed integrity report that carries the key chain.
//! The same layout as `testdata/v2/` (`frozen_v2.rs`), so the two can be compared.
//!
//! Every file is made by [`generate`] below from fixed seeds, times and ids — nothing
//! random, no clock — out of the format's own pure encoders (record header, segment
//! header, manifest, Merkle tree, tree-head and transition signatures, content
//! encryption) and the library's proof and report builders. So:
//!
//! - `generated_vectors_are_the_committed_bytes` regenerates them and requires the
//!   committed files to be exactly these bytes (and no others);
//! - `todays_reader_verifies_the_v3_vectors` reads the committed files only, with
//!   today's reader and verifier, against `expected.json`, with either public key, with
//!   and without the data keys, and shows that changed bytes are caught.
//!
//! The committed files are never rewritten: they are what any implementation, this one
//! included, must keep accepting. Written once by
//! `COFFER_WRITE_V3_VECTORS=1 cargo nextest run -p coffer-volume -E 'test(/frozen_v3/)'`
//! (which writes only when `testdata/v3/2026/` does not exist).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use coffer_volume::crypt::{ContentKey, ContentKeys, KeyId, KeyLookup};
use coffer_volume::merkle::{MerkleTree, leaf_hash};
use coffer_volume::proof::{ConsistencyProof, InclusionProof};
use coffer_volume::record::{Codec, FLAG_CONTENT_ENCRYPTED, RecordHeader, encode_record, sha256};
use coffer_volume::segment::SegmentHeader;
use coffer_volume::{
    ArchiveKey, Hash, IntegrityReport, KeyTransition, Manifest, PublicKey, RecordKind,
    SignedReport, SignedTreeHead, Volume, VolumeIntegrity, VolumeState, consistency_document,
    inclusion_document, newest_head, signed_head_at, verify_volume, verify_volume_with,
};
use serde_json::json;

const ENV_WRITE: &str = "COFFER_WRITE_V3_VECTORS";
const YEAR: i32 = 2026;

fn committed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/v3")
}

/// SHA-256 of a label: every fixed secret and id of the vectors.
fn seed(label: &str) -> [u8; 32] {
    sha256(label.as_bytes())
}

fn key_a() -> ArchiveKey {
    ArchiveKey::from_seed(seed("coffer test vector v3: signing key A"))
}

fn key_b() -> ArchiveKey {
    ArchiveKey::from_seed(seed("coffer test vector v3: signing key B"))
}

fn volume_id() -> [u8; 16] {
    seed("coffer test vector v3: volume id")[..16]
        .try_into()
        .expect("16")
}

/// The data key of the record with this sequence number (TEST-ONLY).
fn data_key(seq: u64) -> ContentKey {
    let id: KeyId = seed(&format!("coffer test vector v3: data key id {seq}"))[..16]
        .try_into()
        .expect("16");
    ContentKey {
        id,
        key: seed(&format!("coffer test vector v3: data key {seq}")),
    }
}

// Fixed times, µs since the epoch (UTC).
const CREATED: i64 = 1_772_438_400_000_000; // 2026-03-02T08:00:00Z
const T_MESSAGE_1: i64 = 1_772_442_000_000_000; // 2026-03-02T09:00:00Z
const T_MESSAGE_2: i64 = 1_772_442_330_500_000; // 2026-03-02T09:05:30.5Z
const T_LINK: i64 = 1_772_442_600_000_000; // 2026-03-02T09:10:00Z
const T_DICTIONARY: i64 = 1_772_445_600_000_000; // 2026-03-02T10:00:00Z
const T_MESSAGE_5: i64 = 1_772_535_600_000_000; // 2026-03-03T11:00:00Z
const T_CHECKPOINT_6: i64 = 1_772_535_600_000_001;
const T_REJECTION: i64 = 1_772_625_600_000_000; // 2026-03-04T12:00:00Z
const T_TRANSITION: i64 = 1_780_299_000_000_000; // 2026-06-01T07:30:00Z
const T_MESSAGE_9: i64 = 1_781_481_600_000_000; // 2026-06-15T00:00:00Z
const T_CHECKPOINT_10: i64 = 1_781_481_600_000_001;
const T_MESSAGE_11: i64 = 1_781_973_900_000_000; // 2026-06-20T16:45:00Z
const T_SEAL_RECORD: i64 = 1_798_758_000_000_000; // 2026-12-31T23:00:00Z
const T_SEAL_FILE: i64 = 1_798_758_001_000_000; // 2026-12-31T23:00:01Z
const T_REPORT: i64 = 1_798_848_000_000_000; // 2027-01-02T00:00:00Z

/// zstd level of message content (as the writer's, FORMAT.md "Compression").
const LEVEL: i32 = 6;

fn message(n: u32, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Alice Example <alice@example.com>\r\nTo: Bob Example <bob@example.org>\r\n\
Subject: {subject}\r\nDate: Mon, 2 Mar 2026 09:00:00 +0000\r\n\
Message-ID: <vector-v3-{n}@example.com>\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn messages() -> BTreeMap<u64, Vec<u8>> {
    BTreeMap::from([
        (
            1,
            message(
                1,
                "Quarterly figures",
                "The figures are in the shared folder.",
            ),
        ),
        (
            2,
            message(
                2,
                "Encrypted at rest",
                "This content is encrypted with its own data key. Grüße!",
            ),
        ),
        (
            5,
            message(
                5,
                "Dictionary and key",
                "Compressed with the volume dictionary, then encrypted.",
            ),
        ),
        (
            9,
            message(9, "After the key change", "Signed by key B from here on."),
        ),
        (
            11,
            message(
                11,
                "Stored raw",
                "Codec 0: the stored bytes are the original.",
            ),
        ),
    ])
}

/// Unsigned LEB128 length, then the bytes (FORMAT.md, binary custody metadata `str`).
fn put_str(out: &mut Vec<u8>, s: &str) {
    let mut n = s.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(s.as_bytes());
}

fn put_strs(out: &mut Vec<u8>, items: &[&str]) {
    out.push(items.len() as u8);
    for s in items {
        put_str(out, s);
    }
}

/// Binary custody metadata of a message (FORMAT.md, "Metadata of Coffer's record kinds").
fn message_meta(source: &str, mailboxes: &[&str], smtp: bool) -> Vec<u8> {
    let mut m = vec![0x02];
    put_str(&mut m, source);
    put_strs(&mut m, mailboxes);
    m.push(0); // origin: none
    put_strs(&mut m, &[]); // journal addresses
    envelope(&mut m, smtp);
    m
}

fn envelope(m: &mut Vec<u8>, smtp: bool) {
    if !smtp {
        m.push(0);
        return;
    }
    m.push(1);
    put_str(m, "smtp");
    m.push(1);
    put_str(m, "alice@example.com");
    put_strs(m, &["bob@example.org"]);
    m.push(1);
    put_str(m, "192.0.2.10");
    m.push(1);
    put_str(m, "mail.example.com");
    m.push(1); // tls
}

/// Builds segments record by record.
struct Builder {
    volume_id: [u8; 16],
    segments: Vec<Vec<u8>>,
    seq: u64,
    prev: Hash,
    tree: MerkleTree,
    records: Vec<serde_json::Value>,
    dictionary: Option<(u64, Vec<u8>)>,
}

struct Content<'a> {
    kind: RecordKind,
    received_us: i64,
    meta: Vec<u8>,
    original: &'a [u8],
    codec: Codec,
    /// Sequence number of the dictionary (codec 2).
    dict_ref: u64,
    encrypt: Option<ContentKey>,
}

impl Builder {
    fn new(manifest: &Manifest) -> Self {
        let volume_id = manifest.volume_id_bytes().expect("id");
        let mut b = Self {
            volume_id,
            segments: Vec::new(),
            seq: 0,
            prev: manifest.genesis_hash(),
            tree: MerkleTree::new(),
            records: Vec::new(),
            dictionary: None,
        };
        b.new_segment();
        b
    }

    fn new_segment(&mut self) {
        let header = SegmentHeader {
            segment_no: self.segments.len() as u32 + 1,
            volume_id: self.volume_id,
            first_seq: self.seq + 1,
        };
        self.segments.push(header.encode().to_vec());
    }

    fn push(&mut self, c: Content<'_>) -> Hash {
        self.seq += 1;
        let compressed = match c.codec {
            Codec::None => c.original.to_vec(),
            Codec::Zstd => zstd::bulk::Compressor::new(if c.kind == RecordKind::Dictionary {
                9
            } else {
                LEVEL
            })
            .expect("zstd")
            .compress(c.original)
            .expect("compress"),
            Codec::ZstdDictionary => {
                let (_, dict) = self.dictionary.as_ref().expect("a dictionary first");
                zstd::bulk::Compressor::with_dictionary(LEVEL, dict)
                    .expect("zstd")
                    .compress(c.original)
                    .expect("compress")
            }
        };
        let content_sha256 = sha256(c.original);
        let (stored, flags) = match &c.encrypt {
            Some(key) => (
                coffer_volume::crypt::encrypt(&compressed, key, &content_sha256),
                FLAG_CONTENT_ENCRYPTED,
            ),
            None => (compressed, 0),
        };
        // Record 1 in version 1, record 2 in version 2, the rest in version 3.
        let version = match self.seq {
            1 => 1,
            2 => 2,
            _ => 3,
        };
        let header = RecordHeader {
            version,
            kind: c.kind,
            codec: c.codec,
            flags,
            seq: self.seq,
            received_us: c.received_us,
            meta_len: c.meta.len() as u32,
            raw_len: c.original.len() as u32,
            stored_len: stored.len() as u32,
            dict_ref: c.dict_ref,
            content_sha256,
            stored_sha256: (version >= 2).then(|| sha256(&stored)),
            prev_hash: self.prev,
        };
        let (bytes, hash) = encode_record(&header, &c.meta, &stored);
        let segment_no = self.segments.len();
        let segment = self.segments.last_mut().expect("segment");
        self.records.push(json!({
            "seq": self.seq,
            "version": version,
            "header_len": header.header_len(),
            "kind": c.kind as u8,
            "codec": c.codec as u8,
            "flags": flags,
            "dict_ref": c.dict_ref,
            "segment": format!("{segment_no:06}.seg"),
            "offset": segment.len(),
            "length": bytes.len(),
            "received_us": c.received_us,
            "meta_len": c.meta.len(),
            "raw_len": c.original.len(),
            "stored_len": stored.len(),
            "content_sha256": hex::encode(content_sha256),
            "stored_sha256": (version >= 2).then(|| hex::encode(sha256(&stored))),
            "prev_hash": hex::encode(self.prev),
            "record_hash": hex::encode(hash),
            "leaf_hash": hex::encode(leaf_hash(&hash)),
        }));
        segment.extend_from_slice(&bytes);
        if c.kind == RecordKind::Dictionary {
            self.dictionary = Some((self.seq, c.original.to_vec()));
        }
        self.prev = hash;
        self.tree.push(&hash);
        hash
    }

    fn head(&self, key: &ArchiveKey, time_us: i64) -> SignedTreeHead {
        SignedTreeHead::sign(
            key,
            &self.volume_id,
            YEAR,
            self.seq,
            &self.tree.root(),
            &self.prev,
            time_us,
        )
    }

    /// A checkpoint (or seal) record holding a head over every record before it.
    fn head_record(&mut self, kind: RecordKind, key: &ArchiveKey, time_us: i64) {
        let head = self.head(key, time_us);
        self.push(Content {
            kind,
            received_us: time_us,
            meta: head.to_json(),
            original: &[],
            codec: Codec::None,
            dict_ref: 0,
            encrypt: None,
        });
    }

    fn transition(&mut self, old: &ArchiveKey, new: &ArchiveKey, time_us: i64) -> KeyTransition {
        let t = KeyTransition::sign(
            old,
            new,
            &self.volume_id,
            YEAR,
            self.seq,
            &self.tree.root(),
            &self.prev,
            time_us,
        );
        self.push(Content {
            kind: RecordKind::KeyTransition,
            received_us: time_us,
            meta: t.to_json(),
            original: &[],
            codec: Codec::None,
            dict_ref: 0,
            encrypt: None,
        });
        t
    }
}

/// A zstd dictionary trained (deterministically) from mail-like samples.
fn trained_dictionary() -> Vec<u8> {
    let samples: Vec<Vec<u8>> = (0..64)
        .map(|i| {
            message(
                100 + i,
                &format!("Status report {i}"),
                &format!(
                    "Dear team,\r\n\r\nplease find the status report number {i} below.\r\nAll systems nominal; nothing to report for week {}.\r\n\r\nKind regards,\r\nOperations",
                    i % 52
                ),
            )
        })
        .collect();
    zstd::dict::from_samples(&samples, 1024).expect("train a dictionary")
}

/// Every vector file: relative path → bytes.
fn generate() -> BTreeMap<String, Vec<u8>> {
    let (a, b) = (key_a(), key_b());
    let messages = messages();
    let mut manifest = Manifest {
        format_version: 1,
        purpose: "mail".into(),
        volume_id: hex::encode(volume_id()),
        year: YEAR,
        key: a.fingerprint().to_string(),
        created_us: CREATED,
        state: VolumeState::Open,
        sealed_us: None,
    };
    let mut v = Builder::new(&manifest);
    let smtp_meta = message_meta("smtp", &["bob@example.org"], true);
    let message_content = |v: &mut Builder, seq: u64, received_us, codec, encrypt: bool| {
        let dict_ref = if codec == Codec::ZstdDictionary {
            v.dictionary.as_ref().expect("dictionary").0
        } else {
            0
        };
        v.push(Content {
            kind: RecordKind::Message,
            received_us,
            meta: if seq == 11 {
                message_meta("import", &["bob@example.org", "carol@example.org"], false)
            } else {
                smtp_meta.clone()
            },
            original: &messages[&seq],
            codec,
            dict_ref,
            encrypt: encrypt.then(|| data_key(seq)),
        });
    };
    message_content(&mut v, 1, T_MESSAGE_1, Codec::Zstd, false);
    message_content(&mut v, 2, T_MESSAGE_2, Codec::Zstd, true);
    // 3: a link adding a mailbox to message 2026-1 (binary link metadata).
    let mut link = vec![0x02];
    link.extend_from_slice(&YEAR.to_le_bytes());
    link.extend_from_slice(&1u64.to_le_bytes());
    link.extend_from_slice(&sha256(&messages[&1]));
    put_strs(&mut link, &["dave@example.org"]);
    put_str(&mut link, "smtp");
    link.push(0); // origin
    envelope(&mut link, true);
    v.push(Content {
        kind: RecordKind::Link,
        received_us: T_LINK,
        meta: link,
        original: &[],
        codec: Codec::None,
        dict_ref: 0,
        encrypt: None,
    });
    // 4: the volume's dictionary.
    let dictionary = trained_dictionary();
    let dict_id = u32::from_le_bytes(dictionary[4..8].try_into().expect("4"));
    v.push(Content {
        kind: RecordKind::Dictionary,
        received_us: T_DICTIONARY,
        meta: format!(
            r#"{{"v":1,"dict_id":{dict_id},"level":{LEVEL},"samples":64,"sample_bytes":0}}"#
        )
        .into_bytes(),
        original: &dictionary,
        codec: Codec::Zstd,
        dict_ref: 0,
        encrypt: None,
    });
    message_content(&mut v, 5, T_MESSAGE_5, Codec::ZstdDictionary, true);
    v.head_record(RecordKind::Checkpoint, &a, T_CHECKPOINT_6); // 6: head of size 5, key A
    v.push(Content {
        kind: RecordKind::Rejection,
        received_us: T_REJECTION,
        meta: br#"{"v":1,"rule":3,"size":2048,"source":"smtp"}"#.to_vec(),
        original: &[],
        codec: Codec::None,
        dict_ref: 0,
        encrypt: None,
    }); // 7
    let transition = v.transition(&a, &b, T_TRANSITION); // 8: A → B over 7 records
    v.new_segment();
    message_content(&mut v, 9, T_MESSAGE_9, Codec::ZstdDictionary, false);
    v.head_record(RecordKind::Checkpoint, &b, T_CHECKPOINT_10); // 10: size 9, key B
    message_content(&mut v, 11, T_MESSAGE_11, Codec::None, false);
    v.head_record(RecordKind::Seal, &b, T_SEAL_RECORD); // 12: size 11, key B
    let seal = v.head(&b, T_SEAL_FILE); // SEAL: size 12
    manifest.state = VolumeState::Sealed;
    manifest.sealed_us = Some(T_SEAL_FILE);

    let mut files = BTreeMap::new();
    files.insert("2026/VOLUME".to_string(), manifest.to_json());
    for (i, segment) in v.segments.iter().enumerate() {
        files.insert(format!("2026/{:06}.seg", i + 1), segment.clone());
    }
    files.insert("2026/SEAL".to_string(), seal.to_json());
    let pem = |k: &ArchiveKey| {
        let dir = tempfile::tempdir().expect("tmp");
        k.public_key_file(dir.path(), "k.pub").expect("pub");
        std::fs::read(dir.path().join("k.pub")).expect("read")
    };
    files.insert("TEST-ONLY-key-A.pub".into(), pem(&a));
    files.insert("TEST-ONLY-key-B.pub".into(), pem(&b));
    let data_keys: BTreeMap<String, String> = [2u64, 5]
        .iter()
        .map(|seq| {
            let k = data_key(*seq);
            (hex::encode(k.id), hex::encode(k.key))
        })
        .collect();
    files.insert(
        "TEST-ONLY-data-keys.json".into(),
        with_newline(serde_json::to_vec(&data_keys).expect("json")),
    );
    files.insert(
        "transition-A-B.json".into(),
        with_newline(transition.to_json()),
    );

    // What the library makes of these files: heads, proofs, a report.
    let tmp = tempfile::tempdir().expect("tmp");
    for (name, bytes) in &files {
        let path = tmp.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write");
    }
    let dir = tmp.path().join("2026");
    let (volume, _) = Volume::open_read_only(&dir).expect("open the generated volume");
    let sealed = newest_head(&volume).expect("read").expect("SEAL");
    assert_eq!(sealed, seal);
    let head_5 = signed_head_at(&volume, 5).expect("read").expect("head 5");
    let head_9 = signed_head_at(&volume, 9).expect("read").expect("head 9");
    files.insert("head-5.json".into(), with_newline(head_5.to_json()));
    files.insert("head-9.json".into(), with_newline(head_9.to_json()));
    files.insert("seal-head.json".into(), with_newline(seal.to_json()));
    files.insert("message-2026-5.eml".into(), messages[&5].clone());
    files.insert(
        "inclusion-2026-5.json".into(),
        with_newline(
            inclusion_document(&volume, 5, seal.clone(), true)
                .expect("proof")
                .to_json(),
        ),
    );
    files.insert(
        "consistency-5-12.json".into(),
        with_newline(
            consistency_document(&volume, 5, None)
                .expect("proof")
                .to_json(),
        ),
    );
    let verified = verify_volume(&dir, &a.public_key());
    assert!(verified.is_intact(), "{:?}", verified.problems);
    let report = IntegrityReport::new(
        "mail 2026",
        T_REPORT,
        "test-vector",
        vec![VolumeIntegrity::from_verification(&verified, YEAR, &[])],
        vec![],
    )
    .sign_with_chain(&b, &volume.key_transitions());
    files.insert("report.json".into(), with_newline(report.to_json()));

    let records = std::mem::take(&mut v.records);
    let expected = json!({
        "volume_dir": "2026",
        "format_versions": {"manifest": 1, "segment_header": 1, "record": [1, 2, 3]},
        "genesis_key": a.fingerprint(),
        "keys": [
            {"file": "TEST-ONLY-key-A.pub", "fingerprint": a.fingerprint(),
             "raw": hex::encode(a.public_key().to_bytes()), "in_use_for_records": "1..=8"},
            {"file": "TEST-ONLY-key-B.pub", "fingerprint": b.fingerprint(),
             "raw": hex::encode(b.public_key().to_bytes()), "in_use_for_records": "9..=12 and SEAL"},
        ],
        "genesis_hash": hex::encode(manifest.genesis_hash()),
        "tree_size": v.seq,
        "root": hex::encode(v.tree.root()),
        "chain_head": hex::encode(v.prev),
        "verdict": {
            "result": "intact",
            "records": v.seq,
            "messages": messages.len(),
            "encrypted": 2,
            "decrypted_with_data_keys": 2,
            "signatures_verified": verified.signatures_verified,
            "signed_records": verified.signed_records,
            "unsigned_records": 0,
        },
        "report": {"signed_by": b.fingerprint(), "key_transitions": 1, "intact": true},
    });
    // Pretty, with one record per line (to stay small and readable).
    let pretty = serde_json::to_string_pretty(&expected).expect("json");
    let mut text = pretty
        .trim_end()
        .strip_suffix('}')
        .expect("an object")
        .trim_end()
        .to_string();
    text.push_str(",\n  \"records\": [\n");
    let lines: Vec<String> = records.iter().map(|r| format!("    {r}")).collect();
    text.push_str(&lines.join(",\n"));
    text.push_str("\n  ]\n}\n");
    files.insert("expected.json".into(), text.into_bytes());
    files
}

fn with_newline(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.push(b'\n');
    bytes
}

/// Every file under `dir`, relative path → bytes (README and .gitattributes excluded:
/// they are written by hand).
fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(dir)
                .expect("under")
                .to_string_lossy()
                .into_owned();
            if rel != "README.md" && rel != ".gitattributes" {
                out.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

#[test]
fn generated_vectors_are_the_committed_bytes() {
    let generated = generate();
    let dir = committed_dir();
    if std::env::var_os(ENV_WRITE).is_some() && std::fs::symlink_metadata(dir.join("2026")).is_err()
    {
        for (name, bytes) in &generated {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, bytes).expect("write vector");
        }
    }
    let committed = files_under(&dir);
    assert_eq!(
        committed.keys().collect::<Vec<_>>(),
        generated.keys().collect::<Vec<_>>(),
        "the files of testdata/v3 (write them once: see this file's docs)"
    );
    for (name, bytes) in &generated {
        assert!(
            committed[name] == *bytes,
            "{name} differs from what the generator makes"
        );
    }
    for (name, bytes) in &committed {
        let limit = if name == "expected.json" {
            12_288
        } else {
            8192
        };
        assert!(
            bytes.len() <= limit,
            "{name} is {} bytes: keep vectors small",
            bytes.len()
        );
    }
}

/// The TEST-ONLY data keys of `TEST-ONLY-data-keys.json`.
#[derive(Debug)]
struct VectorKeys(Mutex<BTreeMap<KeyId, [u8; 32]>>);

impl ContentKeys for VectorKeys {
    fn new_key(&self) -> Result<ContentKey, String> {
        Err("read-only".into())
    }
    fn make_durable(&self, _: &KeyId) -> Result<(), String> {
        Ok(())
    }
    fn lookup(&self, id: &KeyId) -> Result<KeyLookup, String> {
        Ok(match self.0.lock().expect("lock").get(id) {
            Some(key) => KeyLookup::Found(ContentKey { id: *id, key: *key }),
            None => KeyLookup::Missing,
        })
    }
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(committed_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn public(name: &str) -> PublicKey {
    PublicKey::load(&committed_dir().join(name)).expect("public key")
}

#[test]
fn todays_reader_verifies_the_v3_vectors() {
    let expected: serde_json::Value = serde_json::from_slice(&read("expected.json")).expect("json");
    let dir = committed_dir().join("2026");
    let (a, b) = (public("TEST-ONLY-key-A.pub"), public("TEST-ONLY-key-B.pub"));
    assert_eq!(expected["keys"][0]["fingerprint"], a.fingerprint());
    assert_eq!(expected["keys"][1]["fingerprint"], b.fingerprint());

    // The whole volume, with either key of its chain, without the data keys.
    for key in [&a, &b] {
        let report = verify_volume(&dir, key);
        assert!(
            report.is_intact(),
            "{}: {:?}",
            key.fingerprint(),
            report.problems
        );
        assert_eq!(
            report.records,
            expected["tree_size"].as_u64().expect("size")
        );
        assert_eq!(report.root, expected["root"].as_str().expect("root"));
        assert_eq!(
            Some(report.messages),
            expected["verdict"]["messages"].as_u64()
        );
        assert_eq!(
            Some(report.encrypted),
            expected["verdict"]["encrypted"].as_u64()
        );
        assert_eq!(report.decrypted, 0);
        assert_eq!(
            Some(report.signatures_verified),
            expected["verdict"]["signatures_verified"].as_u64()
        );
        assert_eq!(report.unsigned_records, 0);
    }
    // With the data keys every encrypted record is decrypted and checked.
    let keys: BTreeMap<String, String> =
        serde_json::from_slice(&read("TEST-ONLY-data-keys.json")).expect("keys");
    let keys = VectorKeys(Mutex::new(
        keys.iter()
            .map(|(id, k)| {
                (
                    hex::decode(id).expect("hex").try_into().expect("16"),
                    hex::decode(k).expect("hex").try_into().expect("32"),
                )
            })
            .collect(),
    ));
    let report = verify_volume_with(&dir, &a, Some(&keys));
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(
        Some(report.decrypted),
        expected["verdict"]["decrypted_with_data_keys"].as_u64()
    );

    // Record by record, as expected.json lists them.
    let (volume, _) = Volume::open_read_only(&dir).expect("open");
    assert_eq!(hex::encode(volume.genesis_hash()), expected["genesis_hash"]);
    for r in expected["records"].as_array().expect("records") {
        let seq = r["seq"].as_u64().expect("seq");
        let (header, meta) = volume.read_meta(seq).expect("record");
        assert_eq!(
            u64::from(header.version),
            r["version"].as_u64().expect("version"),
            "record {seq}"
        );
        assert_eq!(
            header.header_len() as u64,
            r["header_len"].as_u64().expect("header_len")
        );
        assert_eq!(
            u64::from(header.kind as u8),
            r["kind"].as_u64().expect("kind")
        );
        assert_eq!(
            u64::from(header.codec as u8),
            r["codec"].as_u64().expect("codec")
        );
        assert_eq!(u64::from(header.flags), r["flags"].as_u64().expect("flags"));
        assert_eq!(header.dict_ref, r["dict_ref"].as_u64().expect("dict_ref"));
        assert_eq!(meta.len() as u64, r["meta_len"].as_u64().expect("meta_len"));
        assert_eq!(hex::encode(header.content_sha256), r["content_sha256"]);
        assert_eq!(hex::encode(header.prev_hash), r["prev_hash"]);
        assert_eq!(
            hex::encode(volume.record_hash(seq).expect("hash")),
            r["record_hash"]
        );
    }
    let transitions = volume.key_transitions();
    assert_eq!(transitions.len(), 1);
    let statement = read("transition-A-B.json");
    let transition = KeyTransition::from_canonical_json(statement.strip_suffix(b"\n").expect("nl"))
        .expect("canonical");
    assert_eq!(transition, transitions[0]);
    let (old, new) = transition.verify().expect("both signatures");
    assert_eq!((&old, &new), (&a, &b));

    // Heads, proofs and the report, with either key.
    let head = |name: &str| {
        SignedTreeHead::from_canonical_json(read(name).strip_suffix(b"\n").expect("nl"))
            .expect("head")
    };
    let (head_5, head_9, seal) = (
        head("head-5.json"),
        head("head-9.json"),
        head("seal-head.json"),
    );
    head_5.verify_signature(&a).expect("key A signed size 5");
    head_9.verify_signature(&b).expect("key B signed size 9");
    seal.verify_signature(&b).expect("key B sealed");
    assert_eq!(seal.root, expected["root"].as_str().expect("root"));
    let eml = read("message-2026-5.eml");
    let inclusion = read("inclusion-2026-5.json");
    let consistency = read("consistency-5-12.json");
    let report = read("report.json");
    for key in [&a, &b] {
        let verdict = InclusionProof::from_json(&inclusion)
            .expect("parse")
            .verify(key, Some(&eml))
            .expect("inclusion proof");
        assert_eq!(
            (verdict.message_id.as_str(), verdict.tree_size),
            ("2026-5", 12)
        );
        ConsistencyProof::from_json(&consistency)
            .expect("parse")
            .verify(key, &head_5)
            .expect("consistency proof");
        SignedReport::from_json(&report)
            .expect("parse")
            .verify(key)
            .expect("report follows the chain");
    }
    // Record 5 is of version 3: its proof must carry the previous record's hash, and
    // only the right one verifies.
    let proof = InclusionProof::from_json(&inclusion).expect("parse");
    assert_eq!(
        proof.record_prev.as_deref(),
        expected["records"][3]["record_hash"].as_str(),
        "record_prev is the hash of record 4"
    );
    let mut without = proof.clone();
    without.record_prev = None;
    assert!(without.verify(&a, Some(&eml)).is_err());
    let mut wrong = proof.clone();
    wrong.record_prev = expected["records"][2]["record_hash"]
        .as_str()
        .map(str::to_string);
    assert!(wrong.verify(&a, Some(&eml)).is_err());
    let stranger = ArchiveKey::from_seed([7; 32]).public_key();
    assert!(
        SignedReport::from_json(&report)
            .expect("parse")
            .verify(&stranger)
            .is_err()
    );
    assert!(!verify_volume(&dir, &stranger).problems.is_empty());

    // One changed byte anywhere in a record is caught.
    let tmp = tempfile::tempdir().expect("tmp");
    let copy = tmp.path().join("2026");
    std::fs::create_dir_all(&copy).expect("mkdir");
    for entry in std::fs::read_dir(&dir).expect("dir") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, copy.join(path.file_name().expect("name"))).expect("copy");
    }
    let segment = copy.join("000001.seg");
    let original = std::fs::read(&segment).expect("segment");
    for at in (40..original.len()).step_by(97) {
        let mut changed = original.clone();
        changed[at] ^= 0x01;
        std::fs::write(&segment, &changed).expect("write");
        let report = verify_volume(&copy, &a);
        assert!(
            !report.is_intact(),
            "byte {at} of 000001.seg changed and accepted"
        );
    }
}

/// The data keys of `TEST-ONLY-data-keys.json`, by key id.
fn vector_keys() -> BTreeMap<KeyId, [u8; 32]> {
    let keys: BTreeMap<String, String> =
        serde_json::from_slice(&read("TEST-ONLY-data-keys.json")).expect("keys");
    keys.iter()
        .map(|(id, k)| {
            (
                hex::decode(id).expect("hex").try_into().expect("16"),
                hex::decode(k).expect("hex").try_into().expect("32"),
            )
        })
        .collect()
}

/// Every message record read through [`Volume::read_authenticated`] (search snippets:
/// encrypted content trusted on its tag, without the two SHA-256 passes) as through
/// [`Volume::read`], and a changed ciphertext byte fails both reads of that record only.
#[test]
fn authenticated_reads_equal_full_reads_and_fail_on_a_changed_ciphertext_byte() {
    let keys = vector_keys();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("2026");
    std::fs::create_dir(&dir).expect("dir");
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(committed_dir().join("2026")).expect("dir") {
        let path = entry.expect("entry").path();
        let copy = dir.join(path.file_name().expect("name"));
        std::fs::copy(&path, &copy).expect("copy");
        if copy.extension().is_some_and(|e| e == "seg") {
            segments.push(copy);
        }
    }
    let open = |dir: &Path| {
        let keys: std::sync::Arc<dyn ContentKeys> =
            std::sync::Arc::new(VectorKeys(Mutex::new(vector_keys())));
        Volume::open_read_only_with(dir, Some(keys))
            .expect("open")
            .0
    };
    let volume = open(&dir);
    let mut encrypted = 0;
    for seq in 1..=volume.last_seq() {
        let (header, _) = volume.read_meta(seq).expect("header");
        if header.kind != coffer_volume::record::RecordKind::Message {
            continue;
        }
        encrypted += usize::from(header.is_encrypted());
        let full = volume.read(seq).expect("read");
        let authenticated = volume.read_authenticated(seq).expect("read");
        assert_eq!(full.content, authenticated.content, "record {seq}");
        assert_eq!(full.hash, authenticated.hash, "record {seq}");
    }
    assert!(encrypted > 0, "the vectors hold encrypted messages");
    drop(volume);

    // Change one byte of the ciphertext that follows a data key's id in a segment.
    let (segment, at) = segments
        .iter()
        .find_map(|path| {
            let bytes = std::fs::read(path).expect("segment");
            keys.keys().find_map(|id| {
                bytes
                    .windows(id.len())
                    .position(|w| w == id)
                    .map(|at| (path.clone(), at + id.len() + 1))
            })
        })
        .expect("an encrypted record");
    let mut bytes = std::fs::read(&segment).expect("segment");
    bytes[at] ^= 0x40;
    std::fs::write(&segment, &bytes).expect("write");
    let volume = open(&dir);
    let mut failed = Vec::new();
    for seq in 1..=volume.last_seq() {
        let (header, _) = volume.read_meta(seq).expect("header");
        if header.kind != coffer_volume::record::RecordKind::Message {
            continue;
        }
        match (volume.read(seq), volume.read_authenticated(seq)) {
            (Ok(_), Ok(_)) => {}
            (Err(_), Err(_)) => failed.push(seq),
            (full, authenticated) => panic!(
                "record {seq}: read {:?}, read_authenticated {:?}",
                full.err(),
                authenticated.err()
            ),
        }
    }
    assert_eq!(failed.len(), 1, "{failed:?}");
}
