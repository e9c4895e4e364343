//! The byte layout of one volume record: encoding, decoding and hashing, pure functions
//! over byte slices (no I/O). `FORMAT.md` documents the same layout for auditors.
//!
//! ```text
//! // { magic "CFRC" | version u8 | kind u8 | codec u8 | reserved u8 | seq u64 |
//! //   received_us i64 | meta_len u32 | raw_len u32 | stored_len u32 |
//! //   content_sha256 [32] | prev_hash [32] | header_crc32 u32 }      = 104-byte header
//! // | record_hash [32] = SHA-256(header[0..100] ‖ meta)
//! // | meta [meta_len] | stored content [stored_len]
//! ```
//!
//! All integers are little-endian. The record hash commits to every header field
//! (kind, sequence, receive time, lengths, codec, the SHA-256 of the original content
//! and the previous record's hash) and to the metadata. It commits to the stored
//! (compressed) content through `content_sha256`: a reader decompresses and checks it.
//! So an exported original, its header and its metadata verify against the chain
//! without the compressed form. The CRC over the header lets recovery tell a torn write
//! from a damaged header before it trusts any length field.

use sha2::{Digest, Sha256};

use crate::merkle::Hash;

/// Magic bytes at the start of every record.
pub const RECORD_MAGIC: [u8; 4] = *b"CFRC";
/// Record format version written by this code.
pub const RECORD_VERSION: u8 = 1;
/// Record format versions this code reads.
pub const SUPPORTED_RECORD_VERSIONS: std::ops::RangeInclusive<u8> = 1..=1;
/// Length of the fixed header, CRC included.
pub const HEADER_LEN: usize = 104;
/// Bytes covered by the header CRC and by the record hash.
const HASHED_HEADER_LEN: usize = 100;
/// Header plus record hash: what must be read before the metadata.
pub const PREFIX_LEN: usize = HEADER_LEN + 32;
/// Largest metadata section accepted (readers distrust lengths).
pub const MAX_META_LEN: u32 = 16 * 1024 * 1024;

/// What a record holds. The volume does not interpret application payloads; it only
/// needs to know which records are its own (dictionaries, checkpoints, seals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordKind {
    /// An archived message: custody metadata plus the original bytes.
    Message = 1,
    /// Extra mailbox links for an already archived message (no content).
    Link = 2,
    /// An audit trail entry (no content).
    Audit = 3,
    /// A message the pipeline decided not to store, recorded without content.
    Rejection = 4,
    /// A zstd dictionary used by later records of the volume.
    Dictionary = 16,
    /// A signed tree head over all records before it.
    Checkpoint = 32,
    /// The final signed tree head; nothing may follow it.
    Seal = 33,
}

impl RecordKind {
    /// Decodes a kind byte.
    pub fn from_u8(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => Self::Message,
            2 => Self::Link,
            3 => Self::Audit,
            4 => Self::Rejection,
            16 => Self::Dictionary,
            32 => Self::Checkpoint,
            33 => Self::Seal,
            _ => return None,
        })
    }

    /// Lowercase name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Link => "link",
            Self::Audit => "audit",
            Self::Rejection => "rejection",
            Self::Dictionary => "dictionary",
            Self::Checkpoint => "checkpoint",
            Self::Seal => "seal",
        }
    }
}

/// How the content is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Codec {
    /// Stored as is (also used for records without content).
    None = 0,
    /// One zstd frame.
    Zstd = 1,
    /// One zstd frame compressed with a dictionary of this volume; the frame header
    /// names the dictionary id, which is that of an earlier `Dictionary` record.
    ZstdDictionary = 2,
}

impl Codec {
    /// Decodes a codec byte.
    pub fn from_u8(byte: u8) -> Option<Self> {
        Some(match byte {
            0 => Self::None,
            1 => Self::Zstd,
            2 => Self::ZstdDictionary,
            _ => return None,
        })
    }
}

/// The decoded fixed header of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    /// Record kind.
    pub kind: RecordKind,
    /// Content codec.
    pub codec: Codec,
    /// Sequence number, dense from 1 within a volume.
    pub seq: u64,
    /// Receive time, microseconds since the Unix epoch (UTC).
    pub received_us: i64,
    /// Length of the metadata section.
    pub meta_len: u32,
    /// Length of the original (uncompressed) content.
    pub raw_len: u32,
    /// Length of the stored content section.
    pub stored_len: u32,
    /// SHA-256 of the original content.
    pub content_sha256: Hash,
    /// Hash of the previous record (or the volume's genesis hash for seq 1).
    pub prev_hash: Hash,
}

/// Why bytes are not a valid record header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Fewer bytes than a header.
    #[error("truncated header ({0} of {HEADER_LEN} bytes)")]
    Truncated(usize),
    /// Wrong magic.
    #[error("bad record magic {0:02x?}")]
    BadMagic([u8; 4]),
    /// A version this code does not read.
    #[error(
        "unsupported record format version {0} (this build reads {SUPPORTED_RECORD_VERSIONS:?})"
    )]
    UnsupportedVersion(u8),
    /// The header CRC does not match.
    #[error("header checksum mismatch")]
    BadChecksum,
    /// Unknown kind byte.
    #[error("unknown record kind {0}")]
    UnknownKind(u8),
    /// Unknown codec byte.
    #[error("unknown content codec {0}")]
    UnknownCodec(u8),
    /// A length field is out of bounds.
    #[error("metadata length {0} exceeds the limit")]
    MetaTooLarge(u32),
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn hash_at(b: &[u8], at: usize) -> Hash {
    let mut a = [0u8; 32];
    a.copy_from_slice(&b[at..at + 32]);
    a
}

impl RecordHeader {
    /// Encodes the header (CRC included).
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&RECORD_MAGIC);
        b[4] = RECORD_VERSION;
        b[5] = self.kind as u8;
        b[6] = self.codec as u8;
        b[7] = 0;
        b[8..16].copy_from_slice(&self.seq.to_le_bytes());
        b[16..24].copy_from_slice(&self.received_us.to_le_bytes());
        b[24..28].copy_from_slice(&self.meta_len.to_le_bytes());
        b[28..32].copy_from_slice(&self.raw_len.to_le_bytes());
        b[32..36].copy_from_slice(&self.stored_len.to_le_bytes());
        b[36..68].copy_from_slice(&self.content_sha256);
        b[68..100].copy_from_slice(&self.prev_hash);
        let crc = crc32fast::hash(&b[..HASHED_HEADER_LEN]);
        b[100..104].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a header from the first [`HEADER_LEN`] bytes of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Self, HeaderError> {
        if bytes.len() < HEADER_LEN {
            return Err(HeaderError::Truncated(bytes.len()));
        }
        let b = &bytes[..HEADER_LEN];
        let magic = [b[0], b[1], b[2], b[3]];
        if magic != RECORD_MAGIC {
            return Err(HeaderError::BadMagic(magic));
        }
        if crc32fast::hash(&b[..HASHED_HEADER_LEN]) != u32_at(b, 100) {
            return Err(HeaderError::BadChecksum);
        }
        if !SUPPORTED_RECORD_VERSIONS.contains(&b[4]) {
            return Err(HeaderError::UnsupportedVersion(b[4]));
        }
        let kind = RecordKind::from_u8(b[5]).ok_or(HeaderError::UnknownKind(b[5]))?;
        let codec = Codec::from_u8(b[6]).ok_or(HeaderError::UnknownCodec(b[6]))?;
        let meta_len = u32_at(b, 24);
        if meta_len > MAX_META_LEN {
            return Err(HeaderError::MetaTooLarge(meta_len));
        }
        Ok(Self {
            kind,
            codec,
            seq: u64_at(b, 8),
            received_us: u64_at(b, 16) as i64,
            meta_len,
            raw_len: u32_at(b, 28),
            stored_len: u32_at(b, 32),
            content_sha256: hash_at(b, 36),
            prev_hash: hash_at(b, 68),
        })
    }

    /// Total length of the record on disk.
    pub fn record_len(&self) -> u64 {
        PREFIX_LEN as u64 + u64::from(self.meta_len) + u64::from(self.stored_len)
    }
}

/// The record hash: SHA-256 over the hashed part of the encoded header and the metadata.
pub fn record_hash(encoded_header: &[u8; HEADER_LEN], meta: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(&encoded_header[..HASHED_HEADER_LEN]);
    h.update(meta);
    h.finalize().into()
}

/// SHA-256 of a byte string.
pub fn sha256(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

/// Encodes a whole record. Returns the bytes and the record hash.
pub fn encode_record(header: &RecordHeader, meta: &[u8], stored: &[u8]) -> (Vec<u8>, Hash) {
    debug_assert_eq!(header.meta_len as usize, meta.len());
    debug_assert_eq!(header.stored_len as usize, stored.len());
    let encoded = header.encode();
    let hash = record_hash(&encoded, meta);
    let mut out = Vec::with_capacity(PREFIX_LEN + meta.len() + stored.len());
    out.extend_from_slice(&encoded);
    out.extend_from_slice(&hash);
    out.extend_from_slice(meta);
    out.extend_from_slice(stored);
    (out, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RecordHeader {
        RecordHeader {
            kind: RecordKind::Message,
            codec: Codec::Zstd,
            seq: 7,
            received_us: 1_700_000_000_000_000,
            meta_len: 3,
            raw_len: 10,
            stored_len: 4,
            content_sha256: [1; 32],
            prev_hash: [2; 32],
        }
    }

    #[test]
    fn header_round_trips() {
        let h = sample();
        assert_eq!(RecordHeader::decode(&h.encode()), Ok(h));
    }

    #[test]
    fn any_flipped_header_byte_is_detected() {
        let h = sample();
        let good = h.encode();
        for i in 0..HEADER_LEN {
            for bit in 0..8 {
                let mut bad = good;
                bad[i] ^= 1 << bit;
                assert!(RecordHeader::decode(&bad).is_err(), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn hash_commits_to_meta_and_header() {
        let h = sample();
        let (bytes, hash) = encode_record(&h, b"abc", b"wxyz");
        assert_eq!(bytes.len() as u64, h.record_len());
        let mut other = h.clone();
        other.seq = 8;
        assert_ne!(encode_record(&other, b"abc", b"wxyz").1, hash);
        assert_ne!(encode_record(&h, b"abd", b"wxyz").1, hash);
        assert_eq!(
            encode_record(&h, b"abc", b"0000").1,
            hash,
            "stored bytes are covered through content_sha256"
        );
    }

    #[test]
    fn truncated_and_junk_headers_are_errors_not_panics() {
        for n in 0..HEADER_LEN {
            assert_eq!(
                RecordHeader::decode(&vec![0u8; n]),
                Err(HeaderError::Truncated(n))
            );
        }
        assert!(matches!(
            RecordHeader::decode(&[0xffu8; 200]),
            Err(HeaderError::BadMagic(_))
        ));
    }
}
