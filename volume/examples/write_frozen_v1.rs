//! Writes the frozen version-1 volume fixture (`testdata/v1/`) with today's writer: a
//! small sealed volume holding records of every kind the format defines, signed with
//! a committed test-only key, and `expected.json` describing every byte of it.
//!
//! The fixture is written once and then never again: once committed it is what proves
//! that archives written by format version 1 stay readable. This program therefore
//! refuses to write into a directory that already holds the volume. A new format
//! version gets a new directory (`testdata/v2/`), written by a new generator.
//!
//! ```text
//! cargo run -p coffer-volume --example write_frozen_v1 [-- DIR]
//! ```
//!
//! Since record version 2 (issue 24) today's writer writes version-2 records, so this
//! program no longer reproduces `testdata/v1` byte for byte (it was run at f242d7a or
//! earlier); it stays as the record of how that fixture was made. The frozen version-2
//! fixture (`testdata/v2/`) has its own, deterministic generator (`tests/frozen_v2.rs`).
//!
//! `DIR` defaults to `volume/testdata/v1`. The test key is read from
//! `DIR/TEST-ONLY-archive.key` when present, and generated (and written there) when not.

#[path = "../tests/frozen_schema/mod.rs"]
mod frozen_schema;

use std::error::Error as StdError;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use coffer_volume::keys::{PRIVATE_KEY_FILE, PUBLIC_KEY_FILE};
use coffer_volume::merkle::leaf_hash;
use coffer_volume::record::{PREFIX_LEN_V1 as PREFIX_LEN, RecordHeader, sha256};
use coffer_volume::segment::SEGMENT_HEADER_LEN;
use coffer_volume::{ArchiveKey, Prepared, RecordKind, Volume, VolumeConfig};
use frozen_schema::{
    ConsistencyProof, EXPECTED_FILE, Expected, ExpectedRecord, FileDigest, FormatVersions,
    InclusionProof, KeyInfo, TreeInfo, VOLUME_DIR, VolumeInfo, utc_text,
};

type Result<T> = std::result::Result<T, Box<dyn StdError>>;

/// What to append, in order.
enum Step {
    /// A record with a fixed receive time, metadata and (possibly empty) content.
    Record {
        kind: RecordKind,
        received_us: i64,
        meta: String,
        content: Vec<u8>,
    },
    /// A checkpoint (a signed tree head over every record before it).
    Checkpoint,
}

/// 2026-01-05T08:30:00Z and the other fixed receive times, in microseconds.
const RECEIVED_MESSAGE_1: i64 = 1_767_601_800_000_000;
const RECEIVED_MESSAGE_2: i64 = 1_767_601_875_250_000; // 2026-01-05T08:31:15.25Z
const RECEIVED_LINK: i64 = 1_767_603_600_000_000; // 2026-01-05T09:00:00Z
const RECEIVED_AUDIT: i64 = 1_767_693_600_000_000; // 2026-01-06T10:00:00Z
const RECEIVED_REJECTION: i64 = 1_767_697_200_000_000; // 2026-01-06T11:00:00Z
const RECEIVED_DICTIONARY: i64 = 1_767_744_000_000_000; // 2026-01-07T00:00:00Z
const RECEIVED_MESSAGE_3: i64 = 1_771_070_400_000_000; // 2026-02-14T12:00:00Z
const RECEIVED_MESSAGE_4: i64 = 1_798_761_599_999_999; // 2026-12-31T23:59:59.999999Z

fn message_1() -> Vec<u8> {
    b"Return-Path: <alice@example.com>\r\n\
Received: from mail.example.com (mail.example.com [192.0.2.10])\r\n\
\tby archive.example.org with ESMTP; Mon, 5 Jan 2026 08:29:59 +0000\r\n\
From: Alice Example <alice@example.com>\r\n\
To: Bob Example <bob@example.org>\r\n\
Subject: Quarterly figures\r\n\
Date: Mon, 5 Jan 2026 09:29:58 +0100\r\n\
Message-ID: <frozen-v1-1@example.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
Bob,\r\n\
\r\n\
the figures for the quarter are in the shared folder. Gr\xc3\xbc\xc3\x9fe!\r\n\
\r\n\
Alice\r\n"
        .to_vec()
}

fn message_2() -> Vec<u8> {
    b"From: Carol Example <carol@example.net>\r\n\
To: Dave Example <dave@example.org>\r\n\
Subject: Signed contract\r\n\
Date: Sun, 4 Jan 2026 17:02:11 -0500\r\n\
Message-ID: <frozen-v1-2@example.net>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"frozen-v1-boundary\"\r\n\
\r\n\
--frozen-v1-boundary\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
The signed contract is attached.\r\n\
--frozen-v1-boundary\r\n\
Content-Type: text/plain; name=\"contract.txt\"\r\n\
Content-Disposition: attachment; filename=\"contract.txt\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
VGhpcyBjb250cmFjdCBpcyBhIHRlc3QgZml4dHVyZSBhbmQgYmluZHMgbm9ib2R5Lgo=\r\n\
--frozen-v1-boundary--\r\n"
        .to_vec()
}

fn message_3() -> Vec<u8> {
    let mut m = b"From: News <news@example.com>\r\n\
To: bob@example.org\r\n\
Subject: Weekly digest\r\n\
Date: Sat, 14 Feb 2026 11:59:00 +0000\r\n\
Message-ID: <frozen-v1-3@example.com>\r\n\
\r\n"
        .to_vec();
    for week in 1..=20 {
        m.extend_from_slice(
            format!("Item {week}: nothing new happened this week, as in every week before.\r\n")
                .as_bytes(),
        );
    }
    m
}

fn message_4() -> Vec<u8> {
    b"From: Bob Example <bob@example.org>\r\n\
To: Alice Example <alice@example.com>\r\n\
Subject: Last one of the year\r\n\
Date: Thu, 31 Dec 2026 23:59:58 +0000\r\n\
Message-ID: <frozen-v1-4@example.org>\r\n\
\r\n\
Happy new year.\r\n"
        .to_vec()
}

/// Raw-content zstd dictionary bytes: the kind exists in version 1, but no version-1
/// record is compressed with a dictionary (codec 2 is reserved).
fn dictionary() -> Vec<u8> {
    b"From: To: Cc: Subject: Date: Message-ID: MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: \r\n"
        .to_vec()
}

fn steps() -> Vec<Step> {
    let message_1 = message_1();
    let link_meta = format!(
        r#"{{"v":1,"target":"2026-1","sha256":"{}","mailboxes":["dave@example.org"],"source":"smtp","envelope":{{"protocol":"smtp","mail_from":"alice@example.com","rcpt_to":["dave@example.org"],"client_addr":"192.0.2.10","helo":"mail.example.com","tls":true}}}}"#,
        hex::encode(sha256(&message_1))
    );
    vec![
        Step::Record {
            kind: RecordKind::Message,
            received_us: RECEIVED_MESSAGE_1,
            meta: r#"{"v":1,"source":"smtp","mailboxes":["alice@example.com","bob@example.org"],"envelope":{"protocol":"smtp","mail_from":"alice@example.com","rcpt_to":["bob@example.org"],"client_addr":"192.0.2.10","helo":"mail.example.com","tls":true}}"#.into(),
            content: message_1,
        },
        Step::Record {
            kind: RecordKind::Message,
            received_us: RECEIVED_MESSAGE_2,
            meta: r#"{"v":1,"source":"import","mailboxes":["carol@example.net","dave@example.org"],"origin":"contracts.mbox#0"}"#.into(),
            content: message_2(),
        },
        Step::Record {
            kind: RecordKind::Link,
            received_us: RECEIVED_LINK,
            meta: link_meta,
            content: Vec::new(),
        },
        Step::Checkpoint,
        Step::Record {
            kind: RecordKind::Audit,
            received_us: RECEIVED_AUDIT,
            meta: r#"{"v":1,"time_us":1767693600000000,"actor":"olga","action":"message.view","target":"2026-1","outcome":"success","client":"127.0.0.1","detail":{}}"#.into(),
            content: Vec::new(),
        },
        Step::Record {
            kind: RecordKind::Rejection,
            received_us: RECEIVED_REJECTION,
            meta: r#"{"v":1,"rule":"exclude-bulk","size":2048}"#.into(),
            content: Vec::new(),
        },
        Step::Record {
            kind: RecordKind::Dictionary,
            received_us: RECEIVED_DICTIONARY,
            meta: String::new(),
            content: dictionary(),
        },
        Step::Record {
            kind: RecordKind::Message,
            received_us: RECEIVED_MESSAGE_3,
            meta: r#"{"v":1,"source":"lmtp","mailboxes":["bob@example.org"],"envelope":{"protocol":"lmtp","mail_from":"news@example.com","rcpt_to":["bob@example.org"],"tls":false}}"#.into(),
            content: message_3(),
        },
        Step::Checkpoint,
        Step::Record {
            kind: RecordKind::Message,
            received_us: RECEIVED_MESSAGE_4,
            meta: r#"{"v":1,"source":"http","mailboxes":["alice@example.com","bob@example.org"]}"#.into(),
            content: message_4(),
        },
    ]
}

fn main() -> Result<()> {
    let out = std::env::args_os()
        .nth(1)
        .map_or_else(frozen_schema::fixture_dir, PathBuf::from);
    let volume_dir = out.join(VOLUME_DIR);
    if fs::symlink_metadata(&volume_dir).is_ok() {
        return Err(format!(
            "{} exists: the version-1 fixture is frozen and must never be rewritten \
             (a new format version gets a new directory)",
            volume_dir.display()
        )
        .into());
    }
    fs::create_dir_all(&out)?;
    let key = test_key(&out)?;
    write_volume(&volume_dir, &key)?;
    let expected = describe(&out, &key)?;
    let mut json = serde_json::to_vec_pretty(&expected)?;
    json.push(b'\n');
    fs::write(out.join(EXPECTED_FILE), json)?;
    println!(
        "wrote {} ({} records)",
        out.display(),
        expected.records.len()
    );
    Ok(())
}

/// The committed test key, or a new one written next to the fixture.
fn test_key(out: &Path) -> Result<ArchiveKey> {
    let keys = tempfile::tempdir()?;
    let committed_private = out.join(frozen_schema::PRIVATE_KEY_FILE);
    let committed_public = out.join(frozen_schema::PUBLIC_KEY_FILE);
    if fs::symlink_metadata(&committed_private).is_ok() {
        fs::copy(&committed_private, keys.path().join(PRIVATE_KEY_FILE))?;
    }
    let (key, _) = ArchiveKey::load_or_create(keys.path())?;
    fs::copy(keys.path().join(PRIVATE_KEY_FILE), &committed_private)?;
    fs::copy(keys.path().join(PUBLIC_KEY_FILE), &committed_public)?;
    Ok(key)
}

/// Appends every step with its fixed receive time, then seals.
fn write_volume(dir: &Path, key: &ArchiveKey) -> Result<()> {
    let config = VolumeConfig {
        // Small enough that the records fill three segments (the seal record alone
        // in the last).
        segment_size_limit: 2500,
        // Checkpoints only where the steps put them.
        checkpoint_every: 1000,
        checkpoint_interval: Duration::from_secs(24 * 3600),
        ..VolumeConfig::default()
    };
    let (volume, _) = Volume::create(dir, "mail", 2026, key, config)?;
    for step in steps() {
        match step {
            Step::Record {
                kind,
                received_us,
                meta,
                content,
            } => {
                let content = (!content.is_empty()).then_some(content.as_slice());
                let prepared = Prepared::new(
                    kind,
                    received_us,
                    meta.into_bytes(),
                    content,
                    None,
                    volume.zstd_level(),
                )?;
                let appended = volume.write_prepared(prepared)?;
                volume.sync_to(appended.seq)?;
            }
            Step::Checkpoint => {
                volume.checkpoint()?;
            }
        }
    }
    volume.seal()?;
    Ok(())
}

/// Reads the written fixture back and describes every byte of it.
fn describe(out: &Path, key: &ArchiveKey) -> Result<Expected> {
    let dir = out.join(VOLUME_DIR);
    let (volume, _) = Volume::open_read_only(&dir)?;
    let manifest = volume.manifest();
    let size = volume.last_seq();
    let stats = volume.stats();

    let mut records = Vec::new();
    let mut checkpoint_sizes = Vec::new();
    for no in 1..=stats.segments {
        let segment = coffer_volume::segment::segment_file_name(no);
        let bytes = fs::read(dir.join(&segment))?;
        let mut offset = SEGMENT_HEADER_LEN as usize;
        while offset < bytes.len() {
            let header = RecordHeader::decode(&bytes[offset..])?;
            let record = volume.read(header.seq)?;
            let meta_start = offset + PREFIX_LEN;
            let meta = &bytes[meta_start..meta_start + header.meta_len as usize];
            if matches!(header.kind, RecordKind::Checkpoint) {
                checkpoint_sizes.push(header.seq - 1);
            }
            records.push(ExpectedRecord {
                seq: header.seq,
                kind: header.kind.name().to_string(),
                kind_byte: header.kind as u8,
                codec_byte: header.codec as u8,
                segment: segment.clone(),
                offset: offset as u64,
                record_len: header.record_len(),
                received_us: header.received_us,
                received_utc: utc_text(header.received_us),
                meta_text: String::from_utf8(meta.to_vec())?,
                meta_sha256: hex::encode(sha256(meta)),
                content_len: header.raw_len,
                stored_len: header.stored_len,
                content_sha256: hex::encode(sha256(&record.content)),
                prev_hash: hex::encode(header.prev_hash),
                record_hash: hex::encode(record.hash),
                leaf_hash: hex::encode(leaf_hash(&record.hash)),
            });
            offset += header.record_len() as usize;
        }
    }

    let root = volume.root_at(size)?;
    let inclusion_proofs = (1..=size)
        .map(|seq| {
            Ok(InclusionProof {
                seq,
                leaf_index: seq - 1,
                tree_size: size,
                path: volume
                    .inclusion_proof(seq, size)?
                    .iter()
                    .map(hex::encode)
                    .collect(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let consistency_proofs = checkpoint_sizes
        .iter()
        .map(|&old_size| {
            Ok(ConsistencyProof {
                old_size,
                old_root: hex::encode(volume.root_at(old_size)?),
                new_size: size,
                new_root: hex::encode(root),
                path: volume
                    .consistency_proof(old_size, size)?
                    .iter()
                    .map(hex::encode)
                    .collect(),
            })
        })
        .collect::<Result<Vec<_>>>()?;

    let mut files = Vec::new();
    let mut names = vec![
        frozen_schema::PRIVATE_KEY_FILE.to_string(),
        frozen_schema::PUBLIC_KEY_FILE.to_string(),
    ];
    let mut volume_files: Vec<String> = fs::read_dir(&dir)?
        .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_>>()?;
    volume_files.sort();
    names.extend(volume_files.iter().map(|f| format!("{VOLUME_DIR}/{f}")));
    for name in names {
        let bytes = fs::read(out.join(&name))?;
        files.push(FileDigest {
            path: name,
            bytes: bytes.len() as u64,
            sha256: hex::encode(sha256(&bytes)),
        });
    }

    let signatures = records
        .iter()
        .filter(|r| r.kind == "checkpoint" || r.kind == "seal")
        .count() as u64
        + 1;
    Ok(Expected {
        about: vec![
            "A sealed Coffer volume written by format version 1 (volume/FORMAT.md), frozen: \
             every version-1 reader must read and verify it exactly as described here."
                .into(),
            "Hashes and byte strings are lowercase hex; times are microseconds since the \
             Unix epoch, UTC (the *_utc fields say the same in text)."
                .into(),
            "The signing key is a TEST-ONLY key committed next to this file; never use it \
             for anything else."
                .into(),
            "records[].meta_text is the whole metadata section (UTF-8 JSON, or empty), \
             byte for byte. A record's content is the zstd frame at offset + 136 + the \
             metadata length, stored_len bytes long (codec_byte 1; nothing when 0), which \
             decompresses to content_len bytes with SHA-256 content_sha256."
                .into(),
            "The records cover every kind version 1 defines: message (with zstd content), \
             link, audit and rejection (metadata only), dictionary (content and empty \
             metadata; no record uses it, as codec 2 is reserved), checkpoint and seal. \
             Metadata is opaque to the volume format; here it illustrates what Coffer \
             writes."
                .into(),
            "The other records have fixed receive times; checkpoint and seal records carry \
             their tree head's signing time (the clock when the fixture was written, as do \
             created_us and sealed_us), so receive times are not in sequence order: \
             version 1 neither requires nor checks that."
                .into(),
            "Signatures cover the binary tree-head message of FORMAT.md, \"Signed tree \
             head\"; tree.signatures counts every checkpoint and seal record plus the SEAL \
             file."
                .into(),
        ],
        format: FormatVersions {
            spec: "volume/FORMAT.md".into(),
            segment_version: coffer_volume::segment::SEGMENT_VERSION,
            record_version: coffer_volume::record::RECORD_VERSION,
            manifest_version: manifest.format_version,
            tree_head_version: coffer_volume::treehead::TREE_HEAD_VERSION,
        },
        public_key: KeyInfo {
            file: frozen_schema::PUBLIC_KEY_FILE.into(),
            raw: hex::encode(key.public_key().to_bytes()),
            fingerprint: key.fingerprint().to_string(),
        },
        volume: VolumeInfo {
            dir: VOLUME_DIR.into(),
            volume_id: manifest.volume_id.clone(),
            year: manifest.year,
            purpose: manifest.purpose.clone(),
            created_us: manifest.created_us,
            state: manifest.state.as_str().into(),
            sealed_us: manifest.sealed_us,
            genesis_hash: hex::encode(manifest.genesis_hash()),
            segments: stats.segments,
        },
        files,
        records,
        tree: TreeInfo {
            size,
            root: hex::encode(root),
            chain_head: hex::encode(volume.record_hash(size)?),
            signatures,
        },
        inclusion_proofs,
        consistency_proofs,
    })
}
