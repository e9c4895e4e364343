//! Fuzz entry points for the volume reader: a volume whose segment files come from the
//! fuzzer (torn, damaged or hostile) is opened read-only, read record by record, verified,
//! and opened for writing (recovery) then appended to and reopened. The `fuzz/` crate at
//! the repository root calls [`volume`] from its `volume` target; the unit tests below run
//! it over the seed corpus on every `cargo test` (so the harness cannot rot) and write that
//! corpus for `scripts/fuzz`.
//!
//! Built with the `fuzzing` feature (and in tests) only.
//!
//! # Input
//!
//! The first byte selects the mode; the rest is interpreted by it:
//!
//! - bit 0 clear — **raw**: the rest is the bytes of the segment files themselves (two
//!   files when bit 1 is set: a little-endian `u16` length of the first, then it, then the
//!   second). Seeds are real segment files of a volume with the fixture's identity, so
//!   mutations start from records whose checksums and chain are right.
//! - bit 0 set — **structured**: the rest describes records that the harness encodes with
//!   correct checksums, hashes and chain links unless a record's flags ask for one of them to
//!   be wrong, so the fuzzer reaches what lies behind them (lengths, codecs, kinds, content,
//!   signed tree heads) as a writer with the volume's key could forge it. See [`Builder`].
//! - bit 2 set: after the read-only checks, also open for writing (recovery truncates a
//!   torn tail), append a record, and check that the volume reopens with exactly the
//!   records recovery kept plus the new one.
//!
//! The volume lives in a directory under the system's temporary directory (`TMPDIR`),
//! one per process, with a fixed key, volume id and creation time so that seeds written by
//! one process are valid volumes for another.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use crate::keys::ArchiveKey;
use crate::manifest::{MANIFEST_FILE, MANIFEST_VERSION, Manifest, VolumeState};
use crate::merkle::{Hash, MerkleTree};
use crate::record::{
    Codec, HEADER_LEN_V1 as HEADER_LEN, RecordHeader, RecordKind, encode_record, sha256,
};
use crate::segment::{SegmentHeader, segment_path};
use crate::treehead::SignedTreeHead;
use crate::verify::verify_volume;
use crate::volume::{Volume, VolumeConfig};

/// The fixture volume's id.
const VOLUME_ID: [u8; 16] = *b"coffer-fuzz-vol!";
/// The fixture volume's year.
const YEAR: i32 = 2024;
/// The fixture volume's creation time.
const CREATED_US: i64 = 1_700_000_000_000_000;
/// The fixture key's secret (a test key; it signs nothing that leaves the fuzzer).
const KEY_SECRET: [u8; 32] = [0x42; 32];

/// Mode bits of the first input byte.
const STRUCTURED: u8 = 1;
const TWO_SEGMENTS: u8 = 2;
const WRITER: u8 = 4;

struct Fixture {
    dir: PathBuf,
    key: ArchiveKey,
    manifest: Manifest,
}

/// The per-process fixture, behind a lock: tests call the entry point from several
/// threads and every call rewrites the same files.
fn fixture() -> &'static Mutex<Fixture> {
    static FIXTURE: OnceLock<Mutex<Fixture>> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = ArchiveKey::from_secret(KEY_SECRET);
        let manifest = Manifest {
            format_version: MANIFEST_VERSION,
            purpose: "fuzz".into(),
            volume_id: hex::encode(VOLUME_ID),
            year: YEAR,
            key: key.fingerprint().to_string(),
            created_us: CREATED_US,
            state: VolumeState::Open,
            sealed_us: None,
        };
        let dir = std::env::temp_dir().join(format!("coffer-volume-fuzz-{}", std::process::id()));
        Mutex::new(Fixture { dir, key, manifest })
    })
}

impl Fixture {
    /// Empties the volume directory and writes the manifest and `segments`.
    fn reset(&self, segments: &[Vec<u8>]) {
        let _ = std::fs::remove_dir_all(&self.dir);
        std::fs::create_dir_all(&self.dir).expect("fuzz volume directory");
        std::fs::write(self.dir.join(MANIFEST_FILE), self.manifest.to_json())
            .expect("fuzz volume manifest");
        for (index, bytes) in segments.iter().enumerate() {
            let no = u32::try_from(index + 1).unwrap_or(u32::MAX);
            std::fs::write(segment_path(&self.dir, no), bytes).expect("fuzz segment");
        }
    }
}

/// The entry point of the `volume` fuzz target.
pub fn volume(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fixture = fixture().lock().unwrap_or_else(|p| p.into_inner());
    let segments = if mode & STRUCTURED != 0 {
        Builder::new(&fixture).build(rest)
    } else if mode & TWO_SEGMENTS != 0 && rest.len() >= 2 {
        let first = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        vec![rest[2..2 + first].to_vec(), rest[2 + first..].to_vec()]
    } else {
        vec![rest.to_vec()]
    };
    fixture.reset(&segments);
    check(&fixture, mode & WRITER != 0);
    let _ = std::fs::remove_dir_all(&fixture.dir);
}

/// Opens, reads and verifies the volume in the fixture directory, then (with `writer`)
/// recovers, appends and reopens it, checking what must hold whatever the bytes.
fn check(fixture: &Fixture, writer: bool) {
    let dir = &fixture.dir;
    let read_only = Volume::open_read_only(dir);
    if let Ok((volume, _)) = &read_only {
        read_everything(volume);
    }
    let report = verify_volume(dir, &fixture.key.public_key());
    if report.is_intact() {
        // Whatever verification accepts, the reader opens with the same records.
        let (volume, _) = read_only.as_ref().expect("a verified volume opens");
        assert_eq!(
            volume.last_seq(),
            report.records,
            "records of a verified volume"
        );
    }
    if !writer {
        return;
    }
    let Ok((volume, _)) = Volume::open_writer(dir, &fixture.key, VolumeConfig::default()) else {
        return;
    };
    let kept = volume.last_seq();
    if volume.manifest().state != VolumeState::Open {
        return;
    }
    let appended = volume
        .append(
            RecordKind::Message,
            b"{}".to_vec(),
            Some(b"appended after recovery"),
        )
        .expect("append after recovery");
    assert_eq!(appended.seq, kept + 1);
    // The commit ends with a signed head: a checkpoint record may follow the message.
    let durable = volume.last_seq();
    assert!(durable == kept + 1 || volume.kind(durable).ok() == Some(RecordKind::Checkpoint));
    drop(volume);
    let (reopened, recovery) = Volume::open_read_only(dir).expect("reopen after append");
    assert_eq!(
        recovery.torn_tail, None,
        "nothing torn after a clean append"
    );
    assert_eq!(reopened.last_seq(), durable);
    let record = reopened.read(kept + 1).expect("read the appended record");
    assert_eq!(record.content, b"appended after recovery");
    if report.is_intact() {
        // Recovery and an append keep an intact volume intact.
        let after = verify_volume(dir, &fixture.key.public_key());
        assert!(
            after.is_intact(),
            "intact volume damaged by an append: {:?}",
            after.problems
        );
    }
}

/// Reads every record, its metadata and kind, and the proofs of the volume.
fn read_everything(volume: &Volume) {
    let last = volume.last_seq();
    for seq in 1..=last {
        let _ = volume.read(seq);
        let _ = volume.read_meta(seq);
        let _ = volume.kind(seq);
    }
    let _ = volume.read(last + 1);
    if last > 0 {
        let _ = volume.inclusion_proof(1, last);
        let _ = volume.consistency_proof(1, last);
        let _ = volume.root_at(last);
    }
}

/// Reads the structured input: records the harness encodes, each starting with
/// a flags byte.
///
/// ```text
/// record := flags u8 | kind u8 | codec u8 | meta_len u8 | meta | content_len u16le | content
///           [raw_len u32le      if flags & LIE_RAW_LEN]
///           [seq u64le          if flags & LIE_SEQ]
///           [cut u16le          if flags & TORN: the record is cut to this many bytes,
///                                and the input ends]
/// ```
///
/// Kind and codec bytes are written as given (unknown values included), but for the
/// codec's high bit. Codec 1 (zstd) compresses the content unless that bit is set; other
/// codecs store it as is. Checkpoint and seal records
/// (kinds 32 and 33) with `SIGN` carry a tree head over the records before them, signed
/// with the fixture key, instead of the metadata given.
struct Builder<'a> {
    fixture: &'a Fixture,
    segments: Vec<Vec<u8>>,
    hashes: Vec<Hash>,
    tree: MerkleTree,
}

const NEW_SEGMENT: u8 = 1;
const BAD_CRC: u8 = 2;
const BAD_HASH: u8 = 4;
const LIE_SEQ: u8 = 8;
const BAD_PREV: u8 = 16;
const LIE_RAW_LEN: u8 = 32;
const SIGN: u8 = 64;
const TORN: u8 = 128;

/// A cursor over the input.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.0.split_at(n.min(self.0.len()));
        self.0 = tail;
        head
    }

    fn u8(&mut self) -> Option<u8> {
        self.bytes(1).first().copied()
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let got = self.bytes(N);
        out[..got.len()].copy_from_slice(got);
        out
    }
}

impl<'a> Builder<'a> {
    fn new(fixture: &'a Fixture) -> Self {
        Self {
            fixture,
            segments: Vec::new(),
            hashes: Vec::new(),
            tree: MerkleTree::new(),
        }
    }

    fn start_segment(&mut self) {
        let header = SegmentHeader {
            segment_no: u32::try_from(self.segments.len() + 1).unwrap_or(u32::MAX),
            volume_id: VOLUME_ID,
            first_seq: self.hashes.len() as u64 + 1,
        };
        self.segments.push(header.encode().to_vec());
    }

    fn build(mut self, data: &[u8]) -> Vec<Vec<u8>> {
        self.start_segment();
        let mut input = Input(data);
        while let Some(flags) = input.u8() {
            let [kind, codec, meta_len] = input.array::<3>();
            let mut meta = input.bytes(usize::from(meta_len)).to_vec();
            let content_len = u16::from_le_bytes(input.array::<2>());
            let content = input.bytes(usize::from(content_len));
            let raw_len = if flags & LIE_RAW_LEN != 0 {
                u32::from_le_bytes(input.array::<4>())
            } else {
                content.len() as u32
            };
            let next_seq = self.hashes.len() as u64 + 1;
            let seq = if flags & LIE_SEQ != 0 {
                u64::from_le_bytes(input.array::<8>())
            } else {
                next_seq
            };
            let chain_head = self
                .hashes
                .last()
                .copied()
                .unwrap_or_else(|| self.fixture.manifest.genesis_hash());
            if flags & SIGN != 0 && matches!(kind, 32 | 33) {
                let size = self.hashes.len() as u64;
                let root = self.tree.root_at(size).unwrap_or_default();
                let head = SignedTreeHead::sign(
                    &self.fixture.key,
                    &VOLUME_ID,
                    YEAR,
                    size,
                    &root,
                    &chain_head,
                    CREATED_US + 1,
                );
                meta = head.to_json();
            }
            // The high bit of the codec byte stores the content as given (a zstd frame
            // of the fuzzer's making under codec 1); otherwise codec 1 compresses it.
            let (codec, as_given) = (codec & 0x7f, codec & 0x80 != 0);
            let stored = if codec == Codec::Zstd as u8 && !as_given {
                zstd::bulk::compress(content, 1).unwrap_or_default()
            } else {
                content.to_vec()
            };
            let mut prev_hash = chain_head;
            if flags & BAD_PREV != 0 {
                prev_hash[0] ^= 1;
            }
            // Version-1 records: the layout the byte offsets below address.
            let header = RecordHeader {
                version: 1,
                dict_ref: 0,
                flags: 0,
                stored_sha256: None,
                kind: RecordKind::Message,
                codec: Codec::None,
                seq,
                received_us: CREATED_US,
                meta_len: meta.len() as u32,
                raw_len,
                stored_len: stored.len() as u32,
                content_sha256: sha256(content),
                prev_hash,
            };
            let (mut bytes, _) = encode_record(&header, &meta, &stored);
            // Kind and codec as given, then the CRC and the record hash recomputed.
            bytes[5] = kind;
            bytes[6] = codec;
            let crc = crc32fast::hash(&bytes[..HEADER_LEN - 4]);
            bytes[HEADER_LEN - 4..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
            let mut encoded = [0u8; HEADER_LEN];
            encoded.copy_from_slice(&bytes[..HEADER_LEN]);
            let hash = crate::record::record_hash(&encoded, &prev_hash, &meta);
            bytes[HEADER_LEN..HEADER_LEN + 32].copy_from_slice(&hash);
            if flags & BAD_CRC != 0 {
                bytes[HEADER_LEN - 1] ^= 1;
            }
            if flags & BAD_HASH != 0 {
                bytes[HEADER_LEN] ^= 1;
            }
            if flags & NEW_SEGMENT != 0 && !self.hashes.is_empty() {
                self.start_segment();
            }
            let torn = flags & TORN != 0;
            if torn {
                let cut = usize::from(u16::from_le_bytes(input.array::<2>()));
                bytes.truncate(cut);
            }
            if let Some(segment) = self.segments.last_mut() {
                segment.extend_from_slice(&bytes);
            }
            if torn {
                break;
            }
            self.hashes.push(hash);
            self.tree.push(&hash);
        }
        self.segments
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Writes `seeds` to `$COFFER_FUZZ_SEEDS/<target>/` when that variable is set
    /// (`scripts/fuzz` does, to build the seed corpus).
    fn write_seeds(target: &str, seeds: &[Vec<u8>]) {
        let Some(root) = std::env::var_os("COFFER_FUZZ_SEEDS") else {
            return;
        };
        let dir = Path::new(&root).join(target);
        std::fs::create_dir_all(&dir).expect("seed directory");
        for seed in seeds {
            let name = hex::encode(&sha256(seed)[..8]);
            std::fs::write(dir.join(format!("seed-{name}")), seed).expect("write seed");
        }
    }

    /// A real volume with the fixture's identity, written by the real writer: its
    /// segment files, in order.
    fn real_segments(messages: &[&[u8]], segment_size_limit: u64, seal: bool) -> Vec<Vec<u8>> {
        let fixture = fixture().lock().unwrap_or_else(|p| p.into_inner());
        fixture.reset(&[SegmentHeader {
            segment_no: 1,
            volume_id: VOLUME_ID,
            first_seq: 1,
        }
        .encode()
        .to_vec()]);
        let config = VolumeConfig {
            segment_size_limit,
            checkpoint_every: 3,
            ..VolumeConfig::default()
        };
        let (volume, _) = Volume::open_writer(&fixture.dir, &fixture.key, config).expect("open");
        for (index, message) in messages.iter().enumerate() {
            let kind = if index % 4 == 3 {
                RecordKind::Link
            } else {
                RecordKind::Message
            };
            volume
                .append(
                    kind,
                    format!("{{\"n\":{index}}}").into_bytes(),
                    Some(message),
                )
                .expect("append");
        }
        if seal {
            volume.seal().expect("seal");
        }
        drop(volume);
        let mut segments = Vec::new();
        for no in 1.. {
            match std::fs::read(segment_path(&fixture.dir, no)) {
                Ok(bytes) => segments.push(bytes),
                Err(_) => break,
            }
        }
        let _ = std::fs::remove_dir_all(&fixture.dir);
        segments
    }

    /// Message fixtures of the repository (`testdata/eml`).
    fn eml_fixtures() -> Vec<Vec<u8>> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/eml");
        let mut files = Vec::new();
        for group in ["rfc", "journal", "malformed", "charset"] {
            let mut names: Vec<_> = std::fs::read_dir(root.join(group))
                .expect("testdata/eml")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect();
            names.sort();
            files.extend(
                names
                    .iter()
                    .map(|p| std::fs::read(p).expect("read fixture")),
            );
        }
        files
    }

    /// A structured record (see [`Builder`]).
    fn record(flags: u8, kind: u8, codec: u8, meta: &[u8], content: &[u8]) -> Vec<u8> {
        let mut out = vec![flags, kind, codec, meta.len() as u8];
        out.extend_from_slice(meta);
        out.extend_from_slice(&(content.len() as u16).to_le_bytes());
        out.extend_from_slice(content);
        out
    }

    fn seeds() -> Vec<Vec<u8>> {
        let emls = eml_fixtures();
        let small: Vec<&[u8]> = emls.iter().take(6).map(Vec::as_slice).collect();
        let mut seeds = Vec::new();
        for (mode, segments) in [
            (WRITER, real_segments(&small, 256 * 1024 * 1024, false)),
            (0, real_segments(&small[..2], 256 * 1024 * 1024, true)),
        ] {
            let one = segments.concat();
            seeds.push([&[mode][..], &one].concat());
            // Torn at a few places: inside the last record, inside a header.
            for cut in [1, 40, 200] {
                if one.len() > cut {
                    seeds.push([&[mode | WRITER][..], &one[..one.len() - cut]].concat());
                }
            }
            seeds.push([&[mode | WRITER][..], &one, &[0u8; 700]].concat());
        }
        let two = real_segments(&small, 2048, false);
        if two.len() >= 2 {
            let first = u16::try_from(two[0].len()).unwrap_or(u16::MAX);
            let rest = two[1..].concat();
            seeds.push(
                [
                    &[TWO_SEGMENTS | WRITER][..],
                    &first.to_le_bytes(),
                    &two[0],
                    &rest,
                ]
                .concat(),
            );
        }
        let meta = br#"{"n":1}"#;
        let mut structured = Vec::new();
        for (index, eml) in small.iter().enumerate() {
            let cut = &eml[..eml.len().min(3000)];
            structured.extend(record(0, 1, (index % 2) as u8, meta, cut));
        }
        structured.extend(record(SIGN, 32, 0, b"", b""));
        structured.extend(record(0, 3, 0, meta, b""));
        structured.extend(record(SIGN, 33, 0, b"", b""));
        seeds.push([&[STRUCTURED | WRITER][..], &structured].concat());
        let mut lying = record(LIE_RAW_LEN, 1, 1, meta, b"short content");
        lying.extend_from_slice(&1_000_000u32.to_le_bytes());
        seeds.push([&[STRUCTURED][..], &lying].concat());
        let frame = zstd::bulk::compress(small[0], 3).expect("compress");
        let mut given = record(0, 1, 0x81, meta, &frame);
        given.extend(record(LIE_RAW_LEN, 1, 0x81, meta, &frame));
        given.extend_from_slice(&(small[0].len() as u32).to_le_bytes());
        seeds.push([&[STRUCTURED | WRITER][..], &given].concat());
        let mut torn = record(NEW_SEGMENT, 1, 1, meta, small[0]);
        torn.extend(record(NEW_SEGMENT | TORN, 1, 1, meta, small[1]));
        torn.extend_from_slice(&150u16.to_le_bytes());
        seeds.push(
            [
                &[STRUCTURED | WRITER][..],
                &record(0, 1, 0, meta, b"x"),
                &torn,
            ]
            .concat(),
        );
        // Found by the fuzzer: the only record is numbered 0 and its content is zeros to
        // the end of the open volume's last segment (past a 512-byte block, as a torn
        // write leaves it). Verification took it for a torn write and called the volume
        // intact; the reader refused to open it.
        let mut misnumbered = record(LIE_SEQ, 1, 0x81, b"", &[0u8; 1024]);
        misnumbered.extend_from_slice(&0u64.to_le_bytes());
        seeds.push([&[STRUCTURED][..], &misnumbered].concat());
        seeds
    }

    #[test]
    fn seeds_run_clean() {
        let seeds = seeds();
        assert!(seeds.len() > 10);
        for seed in &seeds {
            volume(seed);
        }
        write_seeds("volume", &seeds);
    }
}
