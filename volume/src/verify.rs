//! Full verification of a volume directory, needing only its files and the public key:
//! every record's header, hash and content, the hash chain, the Merkle tree at every
//! checkpoint, every signature, the seal record and the `SEAL` file, and the manifest.
//!
//! Verification never stops at the first problem when it can go on: it reports each
//! problem with the file, byte offset and sequence number, so an auditor knows exactly
//! which record is damaged. Chain and tree checks use the hashes the records claim, so
//! one damaged record is reported once, not as a cascade.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::codec::{VolumeDictionary, check_dictionary, decompress};
use crate::crypt::{ContentKeys, KeyLookup, decrypt, key_id_of};
use crate::keys::PublicKey;
use crate::manifest::{MANIFEST_FILE, Manifest, SEAL_FILE, VolumeState};
use crate::merkle::{Hash, MerkleTree};
use crate::record::{
    Codec, HEADER_LEN_V1, MAX_PREFIX_LEN, RecordHeader, RecordKind, header_len, header_len_from,
    record_hash, sha256,
};
use crate::segment::{SEGMENT_HEADER_LEN, SegmentHeader, segment_file_name, segment_path};
use crate::transition::{KeyChain, KeyTransition};
use crate::treehead::SignedTreeHead;

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    /// The file (`000003.seg`, `VOLUME`, `SEAL`).
    pub file: String,
    /// Byte offset in that file, when it applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// The record's sequence number, when it applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// What is wrong.
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(o) = self.offset {
            write!(f, " at byte {o}")?;
        }
        if let Some(s) = self.seq {
            write!(f, ", record {s}")?;
        }
        write!(f, ": {}", self.what)
    }
}

/// The result of verifying one volume.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The volume directory.
    pub dir: PathBuf,
    /// The year, when the manifest could be read.
    pub year: Option<i32>,
    /// The manifest's purpose (`mail`, `audit`), when it could be read.
    pub purpose: Option<String>,
    /// The volume id, when the manifest could be read.
    pub volume_id: Option<String>,
    /// The manifest state, when it could be read.
    pub state: Option<VolumeState>,
    /// Records read.
    pub records: u64,
    /// Message records.
    pub messages: u64,
    /// Checkpoint and seal signatures verified.
    pub signatures_verified: u64,
    /// Merkle root over all records, hex.
    pub root: String,
    /// Records after the last signed tree head (not yet covered by a signature).
    pub unsigned_records: u64,
    /// Records covered by the last signed tree head (the checkpoint or seal record that
    /// holds it included).
    pub signed_records: u64,
    /// The newest signed tree head that verified (the `SEAL` file of a sealed volume),
    /// what an auditor keeps for `verify --since`.
    pub last_signed_head: Option<SignedTreeHead>,
    /// Message records whose content is encrypted with a data key of their own.
    pub encrypted: u64,
    /// Of those, records whose content was decrypted and checked against its SHA-256
    /// (only with the key store: a copied volume verified alone checks the stored
    /// bytes of an encrypted record against the chain, not its plaintext).
    pub decrypted: u64,
    /// Records disposed of: their data key was destroyed on purpose (key store only).
    /// Their place in the chain and the tree verifies like any other record's.
    pub disposed: Vec<DisposedRecord>,
    /// Problems found; empty means intact.
    pub problems: Vec<Problem>,
    /// Observations that are not failures (e.g. a torn tail an open volume will drop).
    pub notes: Vec<String>,
}

/// A record whose content was disposed of (its data key destroyed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisposedRecord {
    /// The record's sequence number.
    pub seq: u64,
    /// Its record hash, hex.
    pub record_hash: String,
    /// SHA-256 of the content it held, hex.
    pub content_sha256: String,
    /// What destroyed the key (the disposition run).
    pub by: String,
}

impl VerifyReport {
    /// True when nothing is wrong.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

struct Verifier<'a> {
    dir: &'a Path,
    /// The key the caller trusts: the genesis key or any key of the volume's chain.
    public_key: &'a PublicKey,
    /// The key signing at the current position (the genesis key, then each key a
    /// transition hands over to); `None` when no chain leads to the trusted key.
    current_key: Option<PublicKey>,
    manifest: Option<Manifest>,
    volume_id: Option<[u8; 16]>,
    tree: MerkleTree,
    hashes: Vec<Hash>,
    report: VerifyReport,
    sealed_at: Option<u64>,
    last_signed: u64,
    /// Dictionary records whose content verified, by sequence number.
    dictionaries: std::collections::HashMap<u64, std::sync::Arc<VolumeDictionary>>,
    /// The key store, when verifying an archive's own volumes.
    keys: Option<&'a dyn ContentKeys>,
}

/// Verifies the volume in `dir` with `public_key`. Never fails: every problem,
/// including unreadable files, is in the report.
pub fn verify_volume(dir: &Path, public_key: &PublicKey) -> VerifyReport {
    verify_volume_with(dir, public_key, None)
}

/// [`verify_volume`], decrypting encrypted content with the key store `keys`: its
/// plaintext is checked against its SHA-256, a record whose key was destroyed is listed
/// as disposed, and one whose key is missing is a problem.
pub fn verify_volume_with(
    dir: &Path,
    public_key: &PublicKey,
    keys: Option<&dyn ContentKeys>,
) -> VerifyReport {
    let mut v = Verifier {
        keys,
        dir,
        public_key,
        current_key: None,
        manifest: None,
        volume_id: None,
        tree: MerkleTree::new(),
        hashes: Vec::new(),
        report: VerifyReport {
            dir: dir.to_path_buf(),
            year: None,
            purpose: None,
            volume_id: None,
            state: None,
            records: 0,
            messages: 0,
            signatures_verified: 0,
            root: String::new(),
            unsigned_records: 0,
            signed_records: 0,
            last_signed_head: None,
            encrypted: 0,
            decrypted: 0,
            disposed: Vec::new(),
            problems: Vec::new(),
            notes: Vec::new(),
        },
        sealed_at: None,
        last_signed: 0,
        dictionaries: std::collections::HashMap::new(),
    };
    v.run();
    v.report.root = hex::encode(v.tree.root());
    v.report.records = v.hashes.len() as u64;
    v.report.unsigned_records = v.report.records - v.last_signed.min(v.report.records);
    v.report.signed_records = v.last_signed.min(v.report.records);
    if v.report.unsigned_records > 0 {
        let (n, s) = (v.report.unsigned_records, v.report.signed_records);
        v.report.notes.push(format!(
            "the last {n} record(s) come after the last signed tree head (which covers {s}): writers sign every group commit, so they were never acknowledged (a commit cut short by a crash), or the volume was cut after them"
        ));
    }
    if v.report.state == Some(VolumeState::Open) && v.report.is_intact() {
        v.report.notes.push(
            "an open volume proves its own records, not that none were cut from its end: check it against a tree head kept outside (verify --since HEAD.json)".into(),
        );
    }
    v.report
}

impl Verifier<'_> {
    fn problem(
        &mut self,
        file: &str,
        offset: Option<u64>,
        seq: Option<u64>,
        what: impl Into<String>,
    ) {
        self.report.problems.push(Problem {
            file: file.to_string(),
            offset,
            seq,
            what: what.into(),
        });
    }

    fn run(&mut self) {
        match Manifest::load(self.dir) {
            Ok(m) => {
                if m.key == self.public_key.fingerprint() {
                    self.current_key = Some(self.public_key.clone());
                } else {
                    // A later key of the chain: find the genesis key through the key
                    // transitions, each signed by both of its keys.
                    let transitions = crate::volume::Volume::open_read_only(self.dir)
                        .map(|(v, _)| v.key_transitions())
                        .unwrap_or_default();
                    match KeyChain::build(&m.key, &transitions, self.public_key) {
                        Ok(chain) => self.current_key = Some(chain.genesis().clone()),
                        Err(what) => self.problem(MANIFEST_FILE, None, None, what),
                    }
                }
                self.report.year = Some(m.year);
                self.report.purpose = Some(m.purpose.clone());
                self.report.volume_id = Some(m.volume_id.clone());
                self.report.state = Some(m.state);
                self.volume_id = m.volume_id_bytes().ok();
                self.manifest = Some(m);
            }
            Err(e) => self.problem(MANIFEST_FILE, None, None, e.to_string()),
        }
        let segments = match list_segment_numbers(self.dir) {
            Ok(s) => s,
            Err(what) => {
                self.problem("", None, None, what);
                return;
            }
        };
        if segments.is_empty() {
            self.problem(&segment_file_name(1), None, None, "no segment files");
        }
        for (i, no) in segments.iter().enumerate() {
            if *no != i as u32 + 1 {
                let what = format!("segment {} is missing", segment_file_name(i as u32 + 1));
                self.problem(&segment_file_name(i as u32 + 1), None, None, what);
                return;
            }
        }
        let last = segments.len() as u32;
        for no in segments {
            self.verify_segment(no, no == last);
        }
        self.verify_end();
    }

    fn expected_prev(&self) -> Option<Hash> {
        match self.hashes.last() {
            Some(h) => Some(*h),
            None => self.manifest.as_ref().map(Manifest::genesis_hash),
        }
    }

    fn verify_segment(&mut self, no: u32, is_last: bool) {
        let name = segment_file_name(no);
        let path = segment_path(self.dir, no);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) => return self.problem(&name, None, None, format!("cannot open: {e}")),
        };
        let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut head = [0u8; SEGMENT_HEADER_LEN as usize];
        if let Err(e) = reader.read_exact(&mut head) {
            return self.problem(
                &name,
                Some(0),
                None,
                format!("segment header unreadable: {e}"),
            );
        }
        let expected_first = self.hashes.len() as u64 + 1;
        match SegmentHeader::decode(&head) {
            Err(e) => self.problem(&name, Some(0), None, e.to_string()),
            Ok(h) => {
                if h.segment_no != no {
                    self.problem(
                        &name,
                        Some(0),
                        None,
                        format!("segment header names segment {}", h.segment_no),
                    );
                }
                if self.volume_id.is_some_and(|id| id != h.volume_id) {
                    self.problem(&name, Some(0), None, "segment header names another volume");
                }
                if h.first_seq != expected_first {
                    let what = format!(
                        "segment header says it starts at record {}, expected {expected_first}",
                        h.first_seq
                    );
                    self.problem(&name, Some(0), None, what);
                }
            }
        }
        let mut offset = SEGMENT_HEADER_LEN;
        while offset < file_len {
            let seq = self.hashes.len() as u64 + 1;
            let remaining = file_len - offset;
            // The version byte (offset 4) says how long the header is.
            let mut prefix = [0u8; MAX_PREFIX_LEN];
            let first = (remaining as usize).min(5);
            if reader.read_exact(&mut prefix[..first]).is_err() {
                return self.problem(&name, Some(offset), Some(seq), "unreadable record");
            }
            // Version 3: its integers (from byte 16) say how long it is; read until
            // they are known (or the segment ends).
            let mut n = first;
            let wanted = loop {
                match header_len_from(&prefix[..n]) {
                    Some(Ok(len)) => break len + 32,
                    Some(Err(at_least)) if n < 5 || at_least > remaining as usize => break n,
                    Some(Err(at_least)) => {
                        let to = at_least.min(MAX_PREFIX_LEN);
                        if reader.read_exact(&mut prefix[n..to]).is_err() {
                            return self.problem(
                                &name,
                                Some(offset),
                                Some(seq),
                                "unreadable record",
                            );
                        }
                        n = to;
                    }
                    None => break n,
                }
            };
            let (from, n) = (n, (remaining as usize).min(wanted.max(n)));
            if reader.read_exact(&mut prefix[from..n]).is_err() {
                return self.problem(&name, Some(offset), Some(seq), "unreadable record");
            }
            let header = match RecordHeader::decode(&prefix[..n]) {
                Ok(h) => h,
                Err(e) => {
                    let open_tail = is_last
                        && self
                            .manifest
                            .as_ref()
                            .is_some_and(|m| m.state == VolumeState::Open);
                    let needed = if n >= 5 {
                        header_len(prefix[4]).unwrap_or(HEADER_LEN_V1)
                    } else {
                        HEADER_LEN_V1
                    };
                    let cut = matches!(e, crate::record::HeaderError::Truncated(..));
                    // The Recovery rules: fewer bytes than a header, or nothing but zeros
                    // up to the end of the last segment, is a torn write.
                    let all_zero = open_tail
                        && prefix[..n].iter().all(|b| *b == 0)
                        && rest_is_zero(&mut reader);
                    // Too few bytes left for any header, or only zeros: torn. (`n` may
                    // be short of `needed` only because the version byte was unknown.)
                    if open_tail && (cut || (remaining as usize) < needed || all_zero) {
                        self.report.notes.push(format!(
                            "{name}: {remaining} bytes of an incomplete record at byte {offset} (a torn write; the writer drops it at its next start)"
                        ));
                    } else {
                        self.problem(
                            &name,
                            Some(offset),
                            Some(seq),
                            format!("record header: {e}; the rest of this segment cannot be read"),
                        );
                    }
                    return;
                }
            };
            if remaining < header.record_len() {
                let open_tail = is_last
                    && self
                        .manifest
                        .as_ref()
                        .is_some_and(|m| m.state == VolumeState::Open);
                if open_tail {
                    self.report.notes.push(format!(
                        "{name}: record {seq} at byte {offset} is incomplete ({remaining} of {} bytes; a torn write the writer drops at its next start)",
                        header.record_len()
                    ));
                } else {
                    self.problem(
                        &name,
                        Some(offset),
                        Some(seq),
                        format!(
                            "record is cut short ({remaining} of {} bytes)",
                            header.record_len()
                        ),
                    );
                }
                return;
            }
            let mut meta = vec![0u8; header.meta_len as usize];
            let mut stored = vec![0u8; header.stored_len as usize];
            if reader.read_exact(&mut meta).is_err() || reader.read_exact(&mut stored).is_err() {
                return self.problem(&name, Some(offset), Some(seq), "unreadable record body");
            }
            let open_tail = is_last
                && self
                    .manifest
                    .as_ref()
                    .is_some_and(|m| m.state == VolumeState::Open);
            // A zero-filled content is a torn write only under a header that the
            // writer wrote whole: its sequence number, chain link and record hash hold,
            // as the reader requires before it drops such a tail. Otherwise the record is
            // checked below and its problems are reported (found by the volume fuzz
            // target: a record numbered 0 with zeroed content passed as a torn tail, and
            // the volume that verification called intact did not open).
            if open_tail
                && self.header_is_sound(seq, &header, &prefix[..n], &meta)
                && offset + header.record_len() == file_len
                && crate::volume::zero_filled_to_end(
                    &stored,
                    offset + header.record_len() - stored.len() as u64,
                    file_len,
                )
                && !(if header.is_encrypted() {
                    header.stored_sha256 == Some(sha256(&stored))
                } else {
                    decompress(header.codec, &stored, header.raw_len, None)
                        .is_ok_and(|c| sha256(&c) == header.content_sha256)
                })
            {
                self.report.notes.push(format!(
                    "{name}: record {seq} at byte {offset} ends in zeros where its content should be (a torn write the writer drops at its next start)"
                ));
                return;
            }
            self.verify_record(&name, offset, seq, &header, &prefix[..n], &meta, &stored);
            offset += header.record_len();
        }
    }

    /// Whether record `seq`'s header is the one a writer appended: its sequence number,
    /// its previous-hash link (versions 1 and 2) and its record hash hold. With no
    /// manifest (no genesis hash) a first version-3 record cannot be checked: not sound.
    fn header_is_sound(&self, seq: u64, header: &RecordHeader, prefix: &[u8], meta: &[u8]) -> bool {
        self.expected_prev().is_some()
            && prefix.len() >= header.prefix_len()
            && self.header_failures(seq, header, prefix, meta).is_empty()
    }

    /// The checks of record `seq`'s header that fail, each said as a problem: its
    /// sequence number, its previous-hash link (versions 1 and 2) and its record hash.
    /// Without a manifest there is no genesis hash: the link is not checked, nor the
    /// record hash of a version-3 record (which chains through it). `prefix` holds the
    /// whole header and record hash.
    fn header_failures(
        &self,
        seq: u64,
        header: &RecordHeader,
        prefix: &[u8],
        meta: &[u8],
    ) -> Vec<String> {
        let mut failures = Vec::new();
        if header.seq != seq {
            failures.push(format!(
                "sequence number {} where {seq} was expected",
                header.seq
            ));
        }
        let expected_prev = self.expected_prev();
        if let Some(prev) = expected_prev
            && header.version < 3
            && header.prev_hash != prev
        {
            failures.push("previous-hash link broken (a record was removed, inserted, reordered or changed before this one)".into());
        }
        // Version 3 chains through the record hash itself (its header holds no previous
        // hash): a record removed, inserted, reordered or changed before this one shows
        // here.
        let header_len = header.header_len();
        let checkable = header.version < 3 || expected_prev.is_some();
        let computed = record_hash(
            &prefix[..header_len],
            &expected_prev.unwrap_or_default(),
            meta,
        );
        if checkable && computed[..] != prefix[header_len..header.prefix_len()] {
            failures.push(if header.version < 3 {
                "record hash does not match the header and metadata".into()
            } else {
                "record hash does not match the header, the previous record's hash and the metadata (this record or the chain before it was changed)".into()
            });
        }
        failures
    }

    #[allow(clippy::too_many_arguments)]
    fn verify_record(
        &mut self,
        name: &str,
        offset: u64,
        seq: u64,
        header: &RecordHeader,
        prefix: &[u8],
        meta: &[u8],
        stored: &[u8],
    ) {
        // Without a manifest there is no genesis hash to start from (reported).
        for failure in self.header_failures(seq, header, prefix, meta) {
            self.problem(name, Some(offset), Some(seq), failure);
        }
        let header_len = header.header_len();
        let mut claimed = [0u8; 32];
        claimed.copy_from_slice(&prefix[header_len..header.prefix_len()]);
        if let Some(expected) = header.stored_sha256
            && sha256(stored) != expected
        {
            self.problem(
                name,
                Some(offset),
                Some(seq),
                "stored bytes do not match their SHA-256",
            );
        }
        let dict = match header.codec {
            Codec::ZstdDictionary => self.dictionaries.get(&header.dict_ref).cloned(),
            Codec::None | Codec::Zstd => None,
        };
        let mut decrypted = None;
        if header.is_encrypted() {
            self.report.encrypted += 1;
            let Some(keys) = self.keys else {
                return self.finish_record(name, offset, seq, header, meta, claimed);
            };
            let looked_up = match key_id_of(stored) {
                Some(id) => keys.lookup(&id),
                None => Err("encrypted content shorter than its key id".into()),
            };
            match looked_up {
                Ok(KeyLookup::Found(key)) => match decrypt(stored, &key, &header.content_sha256) {
                    Ok(plain) => decrypted = Some(plain),
                    Err(what) => {
                        self.problem(name, Some(offset), Some(seq), what);
                        return self.finish_record(name, offset, seq, header, meta, claimed);
                    }
                },
                Ok(KeyLookup::Destroyed(by)) => {
                    self.report.disposed.push(DisposedRecord {
                        seq,
                        record_hash: hex::encode(claimed),
                        content_sha256: hex::encode(header.content_sha256),
                        by,
                    });
                    return self.finish_record(name, offset, seq, header, meta, claimed);
                }
                Ok(KeyLookup::Missing) => {
                    self.problem(
                        name,
                        Some(offset),
                        Some(seq),
                        "the data key of this encrypted record is missing from the key store (and no disposition destroyed it)",
                    );
                    return self.finish_record(name, offset, seq, header, meta, claimed);
                }
                Err(what) => {
                    self.problem(name, Some(offset), Some(seq), format!("key store: {what}"));
                    return self.finish_record(name, offset, seq, header, meta, claimed);
                }
            }
        }
        let stored = decrypted.as_deref().unwrap_or(stored);
        let decompressed = if header.codec == Codec::ZstdDictionary && dict.is_none() {
            Err(format!(
                "content names dictionary record {}, which is not an intact dictionary record of this volume",
                header.dict_ref
            ))
        } else {
            decompress(header.codec, stored, header.raw_len, dict.as_deref())
        };
        match decompressed {
            Ok(content) => {
                if header.is_encrypted() {
                    self.report.decrypted += 1;
                }
                if sha256(&content) != header.content_sha256 {
                    self.problem(
                        name,
                        Some(offset),
                        Some(seq),
                        "content does not match its SHA-256",
                    );
                } else if header.kind == RecordKind::Dictionary {
                    // Not a zstd dictionary (version 1 allowed any content) is no
                    // problem by itself; a record naming it as its dictionary is.
                    if let Ok(dict) = check_dictionary(&content)
                        .and_then(|_| VolumeDictionary::for_reading(seq, &content))
                    {
                        self.dictionaries.insert(seq, std::sync::Arc::new(dict));
                    }
                }
            }
            Err(what) => self.problem(name, Some(offset), Some(seq), what),
        }
        self.finish_record(name, offset, seq, header, meta, claimed);
    }

    /// The checks every record gets whatever its content: nothing after the seal, tree
    /// heads, and its place in the chain and the tree.
    fn finish_record(
        &mut self,
        name: &str,
        offset: u64,
        seq: u64,
        header: &RecordHeader,
        meta: &[u8],
        claimed: Hash,
    ) {
        if self.sealed_at.is_some() {
            self.problem(
                name,
                Some(offset),
                Some(seq),
                "record after the seal record",
            );
        }
        match header.kind {
            RecordKind::Message => self.report.messages += 1,
            RecordKind::KeyTransition => {
                self.verify_transition_record(name, offset, seq, header.received_us, meta);
            }
            RecordKind::Checkpoint | RecordKind::Seal => {
                self.verify_tree_head_record(name, offset, seq, header.received_us, meta);
                if header.kind == RecordKind::Seal {
                    self.sealed_at = Some(seq);
                }
            }
            _ => {}
        }
        self.hashes.push(claimed);
        self.tree.push(&claimed);
    }

    fn verify_tree_head_record(
        &mut self,
        name: &str,
        offset: u64,
        seq: u64,
        received_us: i64,
        meta: &[u8],
    ) {
        let head = match SignedTreeHead::from_canonical_json(meta) {
            Ok(h) => h,
            Err(e) => return self.problem(name, Some(offset), Some(seq), e.to_string()),
        };
        if head.tree_size != seq - 1 {
            let what = format!(
                "tree head covers {} records, expected {}",
                head.tree_size,
                seq - 1
            );
            return self.problem(name, Some(offset), Some(seq), what);
        }
        if head.time_us != received_us {
            let what = format!(
                "tree head time {} differs from its record's receive time {received_us}",
                head.time_us
            );
            self.problem(name, Some(offset), Some(seq), what);
        }
        let problems = self.check_tree_head(&head);
        if problems.is_empty() {
            self.report.last_signed_head = Some(head);
        }
        for what in problems {
            self.problem(name, Some(offset), Some(seq), what);
        }
        self.last_signed = seq;
    }

    /// A key-transition record: a statement over the records before it, signed by the
    /// key in use and the new one; from here on heads are signed by the new key.
    fn verify_transition_record(
        &mut self,
        name: &str,
        offset: u64,
        seq: u64,
        received_us: i64,
        meta: &[u8],
    ) {
        let t = match KeyTransition::from_canonical_json(meta) {
            Ok(t) => t,
            Err(e) => return self.problem(name, Some(offset), Some(seq), e.to_string()),
        };
        let mut problems = Vec::new();
        if t.tree_size != seq - 1 {
            problems.push(format!(
                "key transition covers {} records, expected {}",
                t.tree_size,
                seq - 1
            ));
        }
        if t.time_us != received_us {
            problems.push("key transition time differs from its record's receive time".into());
        }
        if let Some(m) = &self.manifest
            && (t.volume_id != m.volume_id || t.year != m.year)
        {
            problems.push("key transition names another volume".into());
        }
        if t.tree_size == seq - 1 {
            let root = self.tree.root_at(t.tree_size).ok().map(hex::encode);
            if root.as_deref() != Some(t.root.as_str()) {
                problems.push("key transition root does not match the records".into());
            }
            let chain_head = if t.tree_size == 0 {
                self.manifest.as_ref().map(Manifest::genesis_hash)
            } else {
                self.hashes.get((t.tree_size - 1) as usize).copied()
            };
            if chain_head.map(hex::encode).as_deref() != Some(t.chain_head.as_str()) {
                problems.push("key transition chain head does not match the records".into());
            }
        }
        match t.verify() {
            Ok((old, new)) => {
                match &self.current_key {
                    Some(current) if *current == old => {
                        self.report.signatures_verified += 2;
                    }
                    Some(current) => problems.push(format!(
                        "key transition hands over from key {}, but the key in use is {}",
                        old.fingerprint(),
                        current.fingerprint()
                    )),
                    None => problems.push("no trusted key to check this transition".into()),
                }
                if problems.is_empty() {
                    self.current_key = Some(new);
                }
            }
            Err(e) => problems.push(format!("key transition: {e}")),
        }
        for what in problems {
            self.problem(name, Some(offset), Some(seq), what);
        }
    }

    /// Checks a tree head against the records read so far (tree_size ≤ records read).
    fn check_tree_head(&mut self, head: &SignedTreeHead) -> Vec<String> {
        let mut problems = Vec::new();
        match &self.current_key {
            Some(key) => match head.verify_signature(key) {
                Ok(()) => self.report.signatures_verified += 1,
                Err(e) => problems.push(e.to_string()),
            },
            None => problems.push("no trusted key to check this signature".into()),
        }
        if let Some(m) = &self.manifest
            && (head.volume_id != m.volume_id || head.year != m.year)
        {
            problems.push("tree head names another volume".into());
        }
        match (self.tree.root_at(head.tree_size), head.root_bytes()) {
            (Ok(root), Ok(claimed)) if root == claimed => {}
            (Ok(_), Ok(_)) => problems.push("Merkle root does not match the records".into()),
            (Err(e), _) => problems.push(e.to_string()),
            (_, Err(e)) => problems.push(e.to_string()),
        }
        let chain_head = if head.tree_size == 0 {
            self.manifest.as_ref().map(Manifest::genesis_hash)
        } else {
            self.hashes.get((head.tree_size - 1) as usize).copied()
        };
        match head.chain_head_bytes() {
            Ok(claimed) if Some(claimed) == chain_head => {}
            Ok(_) => problems.push("chain head does not match the records".into()),
            Err(e) => problems.push(e.to_string()),
        }
        problems
    }

    fn verify_end(&mut self) {
        let seal_path = self.dir.join(SEAL_FILE);
        let seal_file = match std::fs::read(&seal_path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                self.problem(SEAL_FILE, None, None, format!("unreadable: {e}"));
                None
            }
        };
        let state = self.manifest.as_ref().map(|m| m.state);
        if state == Some(VolumeState::Disposed) {
            self.problem(
                MANIFEST_FILE,
                None,
                None,
                "manifest state `disposed` is reserved (no version writes it; disposition is per message)",
            );
        }
        let records = self.hashes.len() as u64;
        match (self.sealed_at, &seal_file) {
            (Some(seal_seq), Some(bytes)) => {
                match SignedTreeHead::from_canonical_json(bytes) {
                    Err(e) => self.problem(SEAL_FILE, None, None, e.to_string()),
                    Ok(head) => {
                        if head.tree_size != records || head.tree_size != seal_seq {
                            let what = format!(
                                "SEAL covers {} records but the volume has {records} (seal record {seal_seq})",
                                head.tree_size
                            );
                            self.problem(SEAL_FILE, None, None, what);
                        } else {
                            let problems = self.check_tree_head(&head);
                            if problems.is_empty() {
                                self.report.last_signed_head = Some(head.clone());
                            }
                            for what in problems {
                                self.problem(SEAL_FILE, None, None, what);
                            }
                            self.last_signed = records;
                        }
                        if self.manifest.as_ref().is_some_and(|m| {
                            (m.state != VolumeState::Open || m.sealed_us.is_some())
                                && m.sealed_us != Some(head.time_us)
                        }) {
                            self.problem(
                                MANIFEST_FILE,
                                None,
                                None,
                                "sealing time does not match the SEAL file",
                            );
                        }
                    }
                }
                let unfinished = state == Some(VolumeState::Open)
                    && self
                        .manifest
                        .as_ref()
                        .is_some_and(|m| m.sealed_us.is_none());
                if unfinished {
                    // A crash between writing SEAL and the manifest: the SEAL file was
                    // checked above; the writer finishes sealing when it next opens.
                    self.report.notes.push(format!(
                        "seal record {seal_seq} and the SEAL file are written but sealing did not finish (the manifest still says open; the writer finishes it at its next start)"
                    ));
                } else if state.is_some_and(|s| s != VolumeState::Sealed) {
                    self.problem(
                        MANIFEST_FILE,
                        None,
                        None,
                        "volume has a seal but the manifest does not say sealed",
                    );
                }
            }
            (Some(seal_seq), None) => {
                if state == Some(VolumeState::Sealed) {
                    self.problem(SEAL_FILE, None, None, "SEAL file is missing");
                } else {
                    self.report.notes.push(format!(
                        "seal record {seal_seq} is written but sealing did not finish (no SEAL file)"
                    ));
                }
            }
            (None, Some(_)) => {
                self.problem(SEAL_FILE, None, None, "SEAL file present but the volume has no seal record (records were removed from its end)");
            }
            (None, None) => {
                if state == Some(VolumeState::Sealed) {
                    self.problem(
                        MANIFEST_FILE,
                        None,
                        None,
                        "manifest says sealed but there is no seal record and no SEAL file",
                    );
                } else if self
                    .manifest
                    .as_ref()
                    .is_some_and(|m| m.sealed_us.is_some())
                {
                    self.problem(MANIFEST_FILE, None, None, "open volume has a sealing time");
                }
            }
        }
    }
}

/// Whether everything left in `reader` is zero bytes (an error counts as not zero).
fn rest_is_zero(reader: &mut impl Read) -> bool {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) if buf[..n].iter().all(|b| *b == 0) => {}
            _ => return false,
        }
    }
}

fn list_segment_numbers(dir: &Path) -> Result<Vec<u32>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut numbers = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(".seg")
            && stem.len() == 6
            && stem.bytes().all(|b| b.is_ascii_digit())
            && let Ok(no) = stem.parse()
        {
            numbers.push(no);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}
