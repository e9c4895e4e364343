//! The byte layout of one volume record: encoding, decoding and hashing, pure functions
//! over byte slices (no I/O). `FORMAT.md` documents the same layout for auditors.
//!
//! Three record versions are read; version 3 is written.
//!
//! ```text
//! // version 1: { magic "CFRC" | version=1 u8 | kind u8 | codec u8 | reserved u8 | seq u64 |
//! //   received_us i64 | meta_len u32 | raw_len u32 | stored_len u32 |
//! //   content_sha256 [32] | prev_hash [32] | header_crc32 u32 }      = 104-byte header
//! // version 2: { magic "CFRC" | version=2 u8 | kind u8 | codec u8 | flags u8 | seq u64 |
//! //   received_us i64 | meta_len u32 | raw_len u32 | stored_len u32 | dict_ref u64 |
//! //   content_sha256 [32] | stored_sha256 [32] | prev_hash [32] | header_crc32 u32 }
//! //                                                                  = 144-byte header
//! // then, both: record_hash [32] = SHA-256(header without its CRC ‖ meta)
//! //   | meta [meta_len] | stored content [stored_len]
//! // version 3: { magic "CFRC" | version=3 u8 | kind u8 | codec u8 | flags u8 |
//! //   received_us i64 | seq, meta_len, raw_len, stored_len, dict_ref as LEB128 |
//! //   content_sha256 [32] | stored_sha256 [32] | header_crc32 u32 }  = 89..=119 bytes
//! // then record_hash [32] = SHA-256(header without its CRC ‖ prev_hash ‖ meta)
//! //   | meta [meta_len] | stored content [stored_len]
//! ```
//!
//! Version 3 stores no previous hash: a reader walks the chain in order and knows it,
//! and an inclusion proof of a version-3 record carries it. So the chain is as strong
//! as before (the record hash still commits to the previous one), for 32 bytes less,
//! and the integer fields take the bytes their values need.
//!
//! All integers are little-endian. The record hash commits to every header field
//! (kind, sequence, receive time, lengths, codec, the SHA-256 of the original content
//! and the previous record's hash; in version 2 also the flags, the dictionary
//! reference and the SHA-256 of the stored bytes) and to the metadata. Version 1
//! commits to the stored (compressed) content only through `content_sha256`: a reader
//! decompresses and checks it. Version 2 also names the SHA-256 of the stored bytes, so
//! they can be checked without decompressing (and, once content can be encrypted,
//! without the key). Either way an exported original, its header and its metadata
//! verify against the chain without the compressed form. The CRC over the header lets
//! recovery tell a torn write from a damaged header before it trusts any length field.

use sha2::{Digest, Sha256};

use crate::merkle::Hash;

/// Magic bytes at the start of every record.
pub const RECORD_MAGIC: [u8; 4] = *b"CFRC";
/// Record format version written by this code.
pub const RECORD_VERSION: u8 = 3;
/// Record format versions this code reads.
pub const SUPPORTED_RECORD_VERSIONS: std::ops::RangeInclusive<u8> = 1..=3;
/// Length of a version-1 fixed header, CRC included.
pub const HEADER_LEN_V1: usize = 104;
/// Length of a version-1 header plus record hash: what precedes the metadata.
pub const PREFIX_LEN_V1: usize = HEADER_LEN_V1 + 32;
/// Length of a version-2 fixed header, CRC included.
pub const HEADER_LEN_V2: usize = 144;
/// Length of a version-2 header plus record hash: what precedes the metadata.
pub const PREFIX_LEN_V2: usize = HEADER_LEN_V2 + 32;
/// Length of the fixed part of a version-3 header before its integers (magic, version,
/// kind, codec, flags, receive time).
pub const FIXED_LEN_V3: usize = 16;
/// The shortest version-3 header (every integer one byte), CRC included.
pub const MIN_HEADER_LEN_V3: usize = FIXED_LEN_V3 + 5 + 64 + 4;
/// The longest version-3 header (u64 integers of 10 bytes, u32 of 5), CRC included.
pub const MAX_HEADER_LEN_V3: usize = FIXED_LEN_V3 + 10 + 5 + 5 + 5 + 10 + 64 + 4;
/// The longest header of any supported version.
pub const MAX_HEADER_LEN: usize = HEADER_LEN_V2;
/// The longest header plus record hash of any supported version.
pub const MAX_PREFIX_LEN: usize = PREFIX_LEN_V2;
/// Largest metadata section accepted (readers distrust lengths).
pub const MAX_META_LEN: u32 = 16 * 1024 * 1024;
/// Version-2 flag bit 0: the content is encrypted with its own data key (per-message
/// crypto-shredding, [`crate::crypt`]). Only message records carry it.
pub const FLAG_CONTENT_ENCRYPTED: u8 = 0x01;
/// Every flag bit this build knows.
pub const KNOWN_FLAGS: u8 = FLAG_CONTENT_ENCRYPTED;

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
    /// The signing key changes: a statement signed by the old key and the new one
    /// (`crate::transition`); later tree heads are signed by the new key.
    KeyTransition = 34,
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
            34 => Self::KeyTransition,
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
            Self::KeyTransition => "key-transition",
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
    /// One zstd frame compressed with a dictionary of this volume: the header's
    /// dictionary reference names the earlier `Dictionary` record (version 2 only).
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

/// The decoded header of a record (any version).
///
/// Version 3 does not store `prev_hash`: [`RecordHeader::decode`] leaves it zero and the
/// reader, which walks the chain, sets it (a [`crate::Volume`] does before it hands a
/// header out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    /// Record format version (1, 2 or 3); [`RecordHeader::encode`] writes this version.
    pub version: u8,
    /// Record kind.
    pub kind: RecordKind,
    /// Content codec.
    pub codec: Codec,
    /// Version 2: flag bits ([`FLAG_CONTENT_ENCRYPTED`]); always 0 in version 1.
    pub flags: u8,
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
    /// Version 2: sequence number of the dictionary record the content was compressed
    /// with (codec 2), 0 for none. Always 0 in version 1.
    pub dict_ref: u64,
    /// SHA-256 of the original content.
    pub content_sha256: Hash,
    /// Versions 2 and 3: SHA-256 of the stored bytes. `None` in version 1.
    pub stored_sha256: Option<Hash>,
    /// Hash of the previous record (or the volume's genesis hash for seq 1). Stored in
    /// versions 1 and 2; in version 3 only covered by the record hash (see the type).
    pub prev_hash: Hash,
}

/// Why bytes are not a valid record header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Fewer bytes than a header.
    #[error("truncated header ({0} of {1} bytes)")]
    Truncated(usize, usize),
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
    /// A flag this build does not read, the encrypted-content flag on a record that is
    /// not a message, or a non-zero reserved byte in version 1.
    #[error(
        "record flags {0:#04x} are not supported by this build (bit 0 = encrypted content, on message records only)"
    )]
    UnsupportedFlags(u8),
    /// A version-3 integer is not minimal LEB128 or does not fit its field.
    #[error("record header field {0} is not a valid integer")]
    BadInteger(&'static str),
    /// The codec and the dictionary reference disagree (codec 2 needs an earlier
    /// record, other codecs none; version 1 has no dictionaries).
    #[error("codec {codec} with dictionary reference {dict_ref} in record {seq}")]
    BadDictionaryRef {
        /// The codec byte.
        codec: u8,
        /// The dictionary reference.
        dict_ref: u64,
        /// The record's sequence number.
        seq: u64,
    },
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

/// Length of the header of `version` (CRC included), if this build reads it: exact for
/// versions 1 and 2, the shortest possible for version 3 (see [`header_len_from`]).
pub fn header_len(version: u8) -> Option<usize> {
    match version {
        1 => Some(HEADER_LEN_V1),
        2 => Some(HEADER_LEN_V2),
        3 => Some(MIN_HEADER_LEN_V3),
        _ => None,
    }
}

/// How long the header that starts `bytes` is, as far as these bytes tell: `Some(Ok(len))`
/// once known (CRC included; not yet checked), `Some(Err(at_least))` when more bytes are
/// needed to tell, `None` for a version this build does not read. For version 3 the
/// integers after byte 16 decide; a malformed one yields a length the decoder then
/// refuses.
pub fn header_len_from(bytes: &[u8]) -> Option<Result<usize, usize>> {
    let Some(&version) = bytes.get(4) else {
        return Some(Err(5));
    };
    match version {
        1 => Some(Ok(HEADER_LEN_V1)),
        2 => Some(Ok(HEADER_LEN_V2)),
        3 => {
            let mut at = FIXED_LEN_V3;
            for _ in 0..5 {
                let mut len = 0;
                loop {
                    let Some(&b) = bytes.get(at + len) else {
                        return Some(Err((at + len + 1).max(MIN_HEADER_LEN_V3)));
                    };
                    len += 1;
                    if b & 0x80 == 0 || len == 10 {
                        break;
                    }
                }
                at += len;
            }
            Some(Ok(at + 64 + 4))
        }
        _ => None,
    }
}

/// Appends `value` as unsigned LEB128 (7 bits per byte, low first, high bit = more).
fn put_leb128(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn leb128_len(value: u64) -> usize {
    (64 - value.max(1).leading_zeros() as usize).div_ceil(7)
}

/// Reads a minimal unsigned LEB128 of at most `max` bits at `*at`.
fn get_leb128(b: &[u8], at: &mut usize, max: u32, what: &'static str) -> Result<u64, HeaderError> {
    let mut value: u128 = 0;
    let mut shift = 0u32;
    loop {
        let byte = *b.get(*at).ok_or(HeaderError::BadInteger(what))?;
        *at += 1;
        value |= u128::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            // Minimal (no trailing zero group except for the value 0) and in range.
            if (byte == 0 && shift > 0) || value >> max != 0 {
                return Err(HeaderError::BadInteger(what));
            }
            return u64::try_from(value).map_err(|_| HeaderError::BadInteger(what));
        }
        shift += 7;
        if shift >= max.div_ceil(7) * 7 {
            return Err(HeaderError::BadInteger(what));
        }
    }
}

impl RecordHeader {
    /// Length of this header on disk, CRC included.
    pub fn header_len(&self) -> usize {
        match self.version {
            1 => HEADER_LEN_V1,
            2 => HEADER_LEN_V2,
            _ => {
                FIXED_LEN_V3
                    + leb128_len(self.seq)
                    + leb128_len(u64::from(self.meta_len))
                    + leb128_len(u64::from(self.raw_len))
                    + leb128_len(u64::from(self.stored_len))
                    + leb128_len(self.dict_ref)
                    + 64
                    + 4
            }
        }
    }

    /// Length of header plus record hash: the offset of the metadata in the record.
    pub fn prefix_len(&self) -> usize {
        self.header_len() + 32
    }

    /// Encodes the header (CRC included) in its version's layout.
    pub fn encode(&self) -> Vec<u8> {
        if self.version >= 3 {
            return self.encode_v3();
        }
        let mut b = vec![0u8; self.header_len()];
        b[0..4].copy_from_slice(&RECORD_MAGIC);
        b[4] = self.version;
        b[5] = self.kind as u8;
        b[6] = self.codec as u8;
        b[7] = if self.version == 1 { 0 } else { self.flags };
        b[8..16].copy_from_slice(&self.seq.to_le_bytes());
        b[16..24].copy_from_slice(&self.received_us.to_le_bytes());
        b[24..28].copy_from_slice(&self.meta_len.to_le_bytes());
        b[28..32].copy_from_slice(&self.raw_len.to_le_bytes());
        b[32..36].copy_from_slice(&self.stored_len.to_le_bytes());
        let crc_at = if self.version == 1 {
            b[36..68].copy_from_slice(&self.content_sha256);
            b[68..100].copy_from_slice(&self.prev_hash);
            100
        } else {
            b[36..44].copy_from_slice(&self.dict_ref.to_le_bytes());
            b[44..76].copy_from_slice(&self.content_sha256);
            b[76..108].copy_from_slice(&self.stored_sha256.unwrap_or_default());
            b[108..140].copy_from_slice(&self.prev_hash);
            140
        };
        let crc = crc32fast::hash(&b[..crc_at]);
        b[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
        b
    }

    fn encode_v3(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(MAX_HEADER_LEN_V3);
        b.extend_from_slice(&RECORD_MAGIC);
        b.extend_from_slice(&[self.version, self.kind as u8, self.codec as u8, self.flags]);
        b.extend_from_slice(&self.received_us.to_le_bytes());
        put_leb128(&mut b, self.seq);
        put_leb128(&mut b, u64::from(self.meta_len));
        put_leb128(&mut b, u64::from(self.raw_len));
        put_leb128(&mut b, u64::from(self.stored_len));
        put_leb128(&mut b, self.dict_ref);
        b.extend_from_slice(&self.content_sha256);
        b.extend_from_slice(&self.stored_sha256.unwrap_or_default());
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// The previous record's hash as an inclusion proof carries it (`record_prev`): hex
    /// for a version-3 record, whose header does not hold it; `None` otherwise.
    pub fn proof_prev(&self) -> Option<String> {
        (self.version >= 3).then(|| hex::encode(self.prev_hash))
    }

    /// Decodes and checks a header from the start of `bytes` (which may hold more).
    /// A version-3 header's `prev_hash` is left zero (it is not stored).
    pub fn decode(bytes: &[u8]) -> Result<Self, HeaderError> {
        if bytes.len() < 5 {
            return Err(HeaderError::Truncated(bytes.len(), HEADER_LEN_V1));
        }
        let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
        if magic != RECORD_MAGIC {
            return Err(HeaderError::BadMagic(magic));
        }
        let version = bytes[4];
        let len = match header_len_from(bytes) {
            None => return Err(HeaderError::UnsupportedVersion(version)),
            Some(Err(at_least)) => return Err(HeaderError::Truncated(bytes.len(), at_least)),
            Some(Ok(len)) => len,
        };
        if bytes.len() < len {
            return Err(HeaderError::Truncated(bytes.len(), len));
        }
        if version >= 3 {
            return Self::decode_v3(&bytes[..len]);
        }
        let b = &bytes[..len];
        let crc_at = len - 4;
        if crc32fast::hash(&b[..crc_at]) != u32_at(b, crc_at) {
            return Err(HeaderError::BadChecksum);
        }
        let kind = RecordKind::from_u8(b[5]).ok_or(HeaderError::UnknownKind(b[5]))?;
        let codec = Codec::from_u8(b[6]).ok_or(HeaderError::UnknownCodec(b[6]))?;
        let flags = b[7];
        let flags_ok = flags == 0
            || (version >= 2
                && flags & !KNOWN_FLAGS == 0
                && (flags & FLAG_CONTENT_ENCRYPTED == 0 || kind == RecordKind::Message));
        if !flags_ok {
            return Err(HeaderError::UnsupportedFlags(flags));
        }
        let meta_len = u32_at(b, 24);
        if meta_len > MAX_META_LEN {
            return Err(HeaderError::MetaTooLarge(meta_len));
        }
        let seq = u64_at(b, 8);
        let (dict_ref, content_sha256, stored_sha256, prev_hash) = if version == 1 {
            (0, hash_at(b, 36), None, hash_at(b, 68))
        } else {
            (
                u64_at(b, 36),
                hash_at(b, 44),
                Some(hash_at(b, 76)),
                hash_at(b, 108),
            )
        };
        let dictionary_ok = match codec {
            Codec::ZstdDictionary => version >= 2 && dict_ref != 0 && dict_ref < seq,
            Codec::None | Codec::Zstd => dict_ref == 0,
        };
        if !dictionary_ok || (kind == RecordKind::Dictionary && codec == Codec::ZstdDictionary) {
            return Err(HeaderError::BadDictionaryRef {
                codec: codec as u8,
                dict_ref,
                seq,
            });
        }
        Ok(Self {
            version,
            kind,
            codec,
            flags,
            seq,
            received_us: u64_at(b, 16) as i64,
            meta_len,
            raw_len: u32_at(b, 28),
            stored_len: u32_at(b, 32),
            dict_ref,
            content_sha256,
            stored_sha256,
            prev_hash,
        })
    }

    fn decode_v3(b: &[u8]) -> Result<Self, HeaderError> {
        let crc_at = b.len() - 4;
        if crc32fast::hash(&b[..crc_at]) != u32_at(b, crc_at) {
            return Err(HeaderError::BadChecksum);
        }
        let kind = RecordKind::from_u8(b[5]).ok_or(HeaderError::UnknownKind(b[5]))?;
        let codec = Codec::from_u8(b[6]).ok_or(HeaderError::UnknownCodec(b[6]))?;
        let flags = b[7];
        if flags & !KNOWN_FLAGS != 0
            || (flags & FLAG_CONTENT_ENCRYPTED != 0 && kind != RecordKind::Message)
        {
            return Err(HeaderError::UnsupportedFlags(flags));
        }
        let mut at = FIXED_LEN_V3;
        let seq = get_leb128(b, &mut at, 64, "sequence")?;
        let small = |at: &mut usize, what| {
            get_leb128(b, at, 32, what).map(|v| u32::try_from(v).unwrap_or(u32::MAX))
        };
        let meta_len = small(&mut at, "metadata length")?;
        let raw_len = small(&mut at, "original length")?;
        let stored_len = small(&mut at, "stored length")?;
        let dict_ref = get_leb128(b, &mut at, 64, "dict_ref")?;
        if at + 68 != b.len() {
            return Err(HeaderError::BadInteger("dict_ref"));
        }
        if meta_len > MAX_META_LEN {
            return Err(HeaderError::MetaTooLarge(meta_len));
        }
        let dictionary_ok = match codec {
            Codec::ZstdDictionary => dict_ref != 0 && dict_ref < seq,
            Codec::None | Codec::Zstd => dict_ref == 0,
        };
        if !dictionary_ok || (kind == RecordKind::Dictionary && codec == Codec::ZstdDictionary) {
            return Err(HeaderError::BadDictionaryRef {
                codec: codec as u8,
                dict_ref,
                seq,
            });
        }
        Ok(Self {
            version: 3,
            kind,
            codec,
            flags,
            seq,
            received_us: u64_at(b, 8) as i64,
            meta_len,
            raw_len,
            stored_len,
            dict_ref,
            content_sha256: hash_at(b, at),
            stored_sha256: Some(hash_at(b, at + 32)),
            prev_hash: [0; 32],
        })
    }

    /// Whether the content is encrypted with its own data key.
    pub fn is_encrypted(&self) -> bool {
        self.flags & FLAG_CONTENT_ENCRYPTED != 0
    }

    /// Total length of the record on disk.
    pub fn record_len(&self) -> u64 {
        self.prefix_len() as u64 + u64::from(self.meta_len) + u64::from(self.stored_len)
    }
}

/// The record hash: SHA-256 over the encoded header without its CRC and the metadata;
/// in version 3 (byte 4 of the header) with the previous record's hash between them.
/// `encoded_header` is exactly the header (104 bytes in version 1, 144 in version 2,
/// 89 to 119 in version 3). Versions 1 and 2 hold the previous hash in the header, so
/// `prev_hash` is not used for them.
pub fn record_hash(encoded_header: &[u8], prev_hash: &Hash, meta: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(&encoded_header[..encoded_header.len() - 4]);
    if encoded_header.get(4).is_some_and(|v| *v >= 3) {
        h.update(prev_hash);
    }
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
    let hash = record_hash(&encoded, &header.prev_hash, meta);
    let mut out = Vec::with_capacity(encoded.len() + 32 + meta.len() + stored.len());
    out.extend_from_slice(&encoded);
    out.extend_from_slice(&hash);
    out.extend_from_slice(meta);
    out.extend_from_slice(stored);
    (out, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(version: u8) -> RecordHeader {
        RecordHeader {
            version,
            kind: RecordKind::Message,
            codec: if version == 1 {
                Codec::Zstd
            } else {
                Codec::ZstdDictionary
            },
            flags: if version == 1 {
                0
            } else {
                FLAG_CONTENT_ENCRYPTED
            },
            seq: 7,
            received_us: 1_700_000_000_000_000,
            meta_len: 3,
            raw_len: 10,
            stored_len: 4,
            dict_ref: if version == 1 { 0 } else { 3 },
            content_sha256: [1; 32],
            stored_sha256: (version >= 2).then_some([3; 32]),
            prev_hash: [2; 32],
        }
    }

    #[test]
    fn header_round_trips_in_every_version() {
        for version in [1, 2, 3] {
            let mut h = sample(version);
            let encoded = h.encode();
            assert_eq!(encoded.len(), h.header_len());
            assert_eq!(header_len_from(&encoded), Some(Ok(encoded.len())));
            if version < 3 {
                assert_eq!(encoded.len(), header_len(version).expect("known version"));
            } else {
                // Not stored: the reader knows it from the chain.
                h.prev_hash = [0; 32];
            }
            assert_eq!(RecordHeader::decode(&encoded), Ok(h));
        }
        // Version 3 integers take the bytes they need.
        let mut big = sample(3);
        big.seq = u64::MAX;
        big.dict_ref = u64::MAX - 1;
        big.raw_len = u32::MAX;
        big.stored_len = u32::MAX;
        big.meta_len = MAX_META_LEN;
        let encoded = big.encode();
        assert_eq!(encoded.len(), 16 + 10 + 4 + 5 + 5 + 10 + 68);
        assert!(encoded.len() <= MAX_HEADER_LEN_V3);
        big.prev_hash = [0; 32];
        assert_eq!(RecordHeader::decode(&encoded), Ok(big));
        assert_eq!(sample(3).encode().len(), MIN_HEADER_LEN_V3);
    }

    /// Version 3 integers are minimal LEB128 within their field's range: any other
    /// spelling of the same header is refused even with a correct CRC.
    #[test]
    fn version_3_integers_must_be_minimal_and_in_range() {
        let h = sample(3);
        let good = h.encode();
        let with_seq = |seq: &[u8]| {
            let mut b = good[..16].to_vec();
            b.extend_from_slice(seq);
            b.extend_from_slice(&good[17..good.len() - 4]);
            let crc = crc32fast::hash(&b);
            b.extend_from_slice(&crc.to_le_bytes());
            b
        };
        // seq 7 as one byte decodes; as two (0x87 0x00) it is not minimal.
        assert!(RecordHeader::decode(&with_seq(&[7])).is_ok());
        assert_eq!(
            RecordHeader::decode(&with_seq(&[0x87, 0x00])),
            Err(HeaderError::BadInteger("sequence"))
        );
        // 11 bytes for a u64, or a value past 2^64.
        let mut long = vec![0xff; 10];
        long.push(0x01);
        assert!(RecordHeader::decode(&with_seq(&long)).is_err());
        let mut over = vec![0xff; 9];
        over.push(0x02);
        assert_eq!(
            RecordHeader::decode(&with_seq(&over)),
            Err(HeaderError::BadInteger("sequence"))
        );
        // A metadata length past u32 (five bytes, high bits set).
        let mut b = good[..17].to_vec();
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x1f]);
        b.extend_from_slice(&good[18..good.len() - 4]);
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(
            RecordHeader::decode(&b),
            Err(HeaderError::BadInteger("metadata length"))
        );
    }

    #[test]
    fn any_flipped_header_byte_is_detected() {
        for version in [1, 2, 3] {
            let good = sample(version).encode();
            for i in 0..good.len() {
                for bit in 0..8 {
                    let mut bad = good.clone();
                    bad[i] ^= 1 << bit;
                    assert!(
                        RecordHeader::decode(&bad).is_err(),
                        "v{version} byte {i} bit {bit}"
                    );
                }
            }
        }
    }

    /// Bytes whose CRC is right but whose fields break a rule must still be refused:
    /// unknown flags, encrypted content outside a message, dictionary references.
    #[test]
    fn reserved_flags_and_bad_dictionary_references_are_refused() {
        let reencode = |mut b: Vec<u8>| {
            let at = b.len() - 4;
            let crc = crc32fast::hash(&b[..at]);
            b[at..].copy_from_slice(&crc.to_le_bytes());
            b
        };
        for version in [2, 3] {
            for flags in [0x02, 0x80, 0x81] {
                let mut b = sample(version).encode();
                b[7] = flags;
                assert_eq!(
                    RecordHeader::decode(&reencode(b)),
                    Err(HeaderError::UnsupportedFlags(flags))
                );
            }
        }
        // Encrypted content only on message records.
        let mut dict = sample(2);
        dict.kind = RecordKind::Checkpoint;
        dict.codec = Codec::None;
        dict.dict_ref = 0;
        assert_eq!(
            RecordHeader::decode(&dict.encode()),
            Err(HeaderError::UnsupportedFlags(FLAG_CONTENT_ENCRYPTED))
        );
        dict.flags = 0;
        assert!(RecordHeader::decode(&dict.encode()).is_ok());
        let mut v1 = sample(1).encode();
        v1[7] = 1;
        assert_eq!(
            RecordHeader::decode(&reencode(v1)),
            Err(HeaderError::UnsupportedFlags(1))
        );
        let cases = [
            (Codec::ZstdDictionary, 0, RecordKind::Message), // no dictionary named
            (Codec::ZstdDictionary, 7, RecordKind::Message), // itself
            (Codec::ZstdDictionary, 9, RecordKind::Message), // a later record
            (Codec::Zstd, 3, RecordKind::Message),           // a dictionary without codec 2
            (Codec::ZstdDictionary, 3, RecordKind::Dictionary), // a dictionary of a dictionary
        ];
        for (codec, dict_ref, kind) in cases {
            for version in [2, 3] {
                let mut h = sample(version);
                h.codec = codec;
                h.dict_ref = dict_ref;
                h.kind = kind;
                h.flags = 0;
                assert!(
                    matches!(
                        RecordHeader::decode(&h.encode()),
                        Err(HeaderError::BadDictionaryRef { .. })
                    ),
                    "{codec:?} {dict_ref} {kind:?}"
                );
            }
        }
        let mut v1 = sample(1);
        v1.codec = Codec::ZstdDictionary;
        v1.dict_ref = 3;
        let b = v1.encode();
        assert!(matches!(
            RecordHeader::decode(&b),
            Err(HeaderError::BadDictionaryRef { .. })
        ));
    }

    #[test]
    fn hash_commits_to_meta_and_header() {
        for version in [1, 2, 3] {
            let h = sample(version);
            let (bytes, hash) = encode_record(&h, b"abc", b"wxyz");
            assert_eq!(bytes.len() as u64, h.record_len());
            let mut other = h.clone();
            other.seq = 8;
            assert_ne!(encode_record(&other, b"abc", b"wxyz").1, hash);
            assert_ne!(encode_record(&h, b"abd", b"wxyz").1, hash);
            assert_eq!(
                encode_record(&h, b"abc", b"0000").1,
                hash,
                "stored bytes are covered through the header's hashes"
            );
        }
        for version in [2, 3] {
            let h = sample(version);
            let mut other = h.clone();
            other.stored_sha256 = Some([4; 32]);
            assert_ne!(
                encode_record(&other, b"abc", b"wxyz").1,
                encode_record(&h, b"abc", b"wxyz").1
            );
            other = h.clone();
            other.dict_ref = 4;
            assert_ne!(
                encode_record(&other, b"abc", b"wxyz").1,
                encode_record(&h, b"abc", b"wxyz").1
            );
        }
        // Version 3 stores no previous hash, but its record hash covers it.
        let h = sample(3);
        let mut other = h.clone();
        other.prev_hash = [9; 32];
        let (a, ha) = encode_record(&h, b"abc", b"wxyz");
        let (b, hb) = encode_record(&other, b"abc", b"wxyz");
        assert_eq!(a[..h.header_len()], b[..h.header_len()]);
        assert_ne!(ha, hb);
        assert_eq!(record_hash(&a[..h.header_len()], &h.prev_hash, b"abc"), ha);
        assert_eq!(a.len(), h.header_len() + 32 + 3 + 4);
    }

    #[test]
    fn truncated_and_junk_headers_are_errors_not_panics() {
        for version in [1, 2, 3] {
            let good = sample(version).encode();
            for n in 0..good.len() {
                assert!(RecordHeader::decode(&good[..n]).is_err(), "v{version} {n}");
            }
        }
        for n in 0..5 {
            assert!(matches!(
                RecordHeader::decode(&vec![0u8; n]),
                Err(HeaderError::Truncated(..))
            ));
        }
        assert!(matches!(
            RecordHeader::decode(&[0xffu8; 200]),
            Err(HeaderError::BadMagic(_))
        ));
        let mut future = sample(2).encode();
        future[4] = 4;
        assert_eq!(
            RecordHeader::decode(&future),
            Err(HeaderError::UnsupportedVersion(4))
        );
    }
}
