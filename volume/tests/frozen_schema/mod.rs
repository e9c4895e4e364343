//! The schema of `testdata/v1/expected.json`, shared by the test that checks the frozen
//! version-1 volume (`tests/frozen_v1.rs`) and the example that wrote it once
//! (`examples/write_frozen_v1.rs`), so the two cannot disagree about a field.
//!
//! Every hash and byte string is lowercase hex; every time is microseconds since the
//! Unix epoch (UTC), with the same instant as text beside it for the reader.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The fixture directory of format version 1.
pub(crate) fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/v1")
}

/// The volume directory inside the fixture directory (named like a data directory's
/// `volumes/2026`).
pub(crate) const VOLUME_DIR: &str = "2026";
/// The test-only private key that signed the fixture (PKCS#8 PEM).
pub(crate) const PRIVATE_KEY_FILE: &str = "TEST-ONLY-archive.key";
/// Its public key (SubjectPublicKeyInfo PEM), what an auditor is given.
pub(crate) const PUBLIC_KEY_FILE: &str = "TEST-ONLY-archive.pub";
/// The expectations file.
pub(crate) const EXPECTED_FILE: &str = "expected.json";

/// `expected.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Expected {
    /// What the file is and how to use it, for a reader without the Rust code.
    pub(crate) about: Vec<String>,
    /// The format versions the fixture was written with.
    pub(crate) format: FormatVersions,
    /// The key that verifies every signature.
    pub(crate) public_key: KeyInfo,
    /// The manifest's content and the genesis hash derived from it.
    pub(crate) volume: VolumeInfo,
    /// Every committed file of the fixture except this one, with its length and SHA-256.
    pub(crate) files: Vec<FileDigest>,
    /// Every record, in sequence order.
    pub(crate) records: Vec<ExpectedRecord>,
    /// The final tree (the one the `SEAL` file signs).
    pub(crate) tree: TreeInfo,
    /// An inclusion proof of every record in the final tree.
    pub(crate) inclusion_proofs: Vec<InclusionProof>,
    /// A consistency proof from each checkpoint's tree to the final tree.
    pub(crate) consistency_proofs: Vec<ConsistencyProof>,
}

/// Format versions.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FormatVersions {
    /// Where the byte layout is written down.
    pub(crate) spec: String,
    /// Segment header version (byte 8 of every segment file).
    pub(crate) segment_version: u8,
    /// Record format version (byte 4 of every record).
    pub(crate) record_version: u8,
    /// `format_version` of the manifest.
    pub(crate) manifest_version: u32,
    /// `version` of every signed tree head.
    pub(crate) tree_head_version: u32,
}

/// The signing key.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyInfo {
    /// The public key file (SubjectPublicKeyInfo PEM).
    pub(crate) file: String,
    /// The raw 32-byte ed25519 public key.
    pub(crate) raw: String,
    /// `sha256:` + the first 16 bytes of SHA-256 of the raw key, as in the manifest and
    /// every tree head.
    pub(crate) fingerprint: String,
}

/// The manifest (`VOLUME`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VolumeInfo {
    /// The volume directory, relative to the fixture directory.
    pub(crate) dir: String,
    /// 16 bytes.
    pub(crate) volume_id: String,
    /// The year of every receive time.
    pub(crate) year: i32,
    /// `mail` or `audit`.
    pub(crate) purpose: String,
    /// Creation time.
    pub(crate) created_us: i64,
    /// `sealed`.
    pub(crate) state: String,
    /// Sealing time (= the `SEAL` file's `time_us`).
    pub(crate) sealed_us: Option<i64>,
    /// The previous hash of record 1, derived from the manifest (FORMAT.md, "Manifest").
    pub(crate) genesis_hash: String,
    /// Number of segment files.
    pub(crate) segments: u32,
}

/// One committed file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileDigest {
    /// Path relative to the fixture directory.
    pub(crate) path: String,
    /// Length in bytes.
    pub(crate) bytes: u64,
    /// SHA-256 of the whole file.
    pub(crate) sha256: String,
}

/// One record, as stored and as read back.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectedRecord {
    /// Sequence number (dense from 1).
    pub(crate) seq: u64,
    /// Kind name (`message`, `link`, `audit`, `rejection`, `dictionary`, `checkpoint`,
    /// `seal`).
    pub(crate) kind: String,
    /// Kind byte (record byte 5).
    pub(crate) kind_byte: u8,
    /// Codec byte (record byte 6): 0 none, 1 zstd.
    pub(crate) codec_byte: u8,
    /// Segment file holding the record.
    pub(crate) segment: String,
    /// Byte offset of the record in that file.
    pub(crate) offset: u64,
    /// Total length of the record (136 + metadata + stored content).
    pub(crate) record_len: u64,
    /// Receive time (for checkpoint and seal records: the tree head's signing time).
    pub(crate) received_us: i64,
    /// The same instant as text.
    pub(crate) received_utc: String,
    /// The whole metadata section, byte for byte, as text: every record of the fixture
    /// has UTF-8 JSON metadata (a tree head for checkpoints and seals) or none.
    pub(crate) meta_text: String,
    /// SHA-256 of the metadata section.
    pub(crate) meta_sha256: String,
    /// Length of the original content.
    pub(crate) content_len: u32,
    /// Length of the stored (compressed) content.
    pub(crate) stored_len: u32,
    /// SHA-256 of the original content (of the empty string when there is none).
    pub(crate) content_sha256: String,
    /// The previous record's hash (the genesis hash for record 1).
    pub(crate) prev_hash: String,
    /// The record hash: SHA-256 of header bytes 0..100 and the metadata.
    pub(crate) record_hash: String,
    /// The Merkle leaf hash: SHA-256(0x00 ‖ record hash).
    pub(crate) leaf_hash: String,
}

/// The final tree.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TreeInfo {
    /// Number of records (the seal record included).
    pub(crate) size: u64,
    /// RFC 6962 Merkle root over the record hashes.
    pub(crate) root: String,
    /// Hash of the last record.
    pub(crate) chain_head: String,
    /// Signatures a full verification checks: every checkpoint and seal record, and the
    /// `SEAL` file.
    pub(crate) signatures: u64,
}

/// An inclusion proof (RFC 9162 2.1.3).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InclusionProof {
    /// The record.
    pub(crate) seq: u64,
    /// Leaf index = seq - 1.
    pub(crate) leaf_index: u64,
    /// The tree the proof is for.
    pub(crate) tree_size: u64,
    /// The audit path, from the leaf upwards.
    pub(crate) path: Vec<String>,
}

/// A consistency proof (RFC 9162 2.1.4).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsistencyProof {
    /// The older tree size (a checkpoint's `tree_size`).
    pub(crate) old_size: u64,
    /// Its root (as signed in that checkpoint).
    pub(crate) old_root: String,
    /// The newer tree size.
    pub(crate) new_size: u64,
    /// Its root.
    pub(crate) new_root: String,
    /// The proof hashes.
    pub(crate) path: Vec<String>,
}

/// An instant in microseconds since the Unix epoch as `YYYY-MM-DDThh:mm:ss.ffffffZ`
/// (proleptic Gregorian calendar, UTC; H. Hinnant's `civil_from_days`).
pub(crate) fn utc_text(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let second_of_day = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}
