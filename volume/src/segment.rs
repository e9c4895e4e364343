//! Segment files: the 40-byte segment header, file naming, and positioned reads.
//!
//! ```text
//! // { magic "COFFSEG\0" | version u8 | reserved [3] = 0 | segment_no u32 |
//! //   volume_id [16] | first_seq u64 }                                  = 40 bytes
//! ```
//! followed by records back to back. Segment files are named `000001.seg`,
//! `000002.seg`, ... (six digits, so they sort), numbered densely from 1.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Magic at the start of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"COFFSEG\0";
/// Segment header version.
pub const SEGMENT_VERSION: u8 = 1;
/// Length of the segment header.
pub const SEGMENT_HEADER_LEN: u64 = 40;

/// Why bytes are not a valid segment header (carried by [`Error::SegmentHeader`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentHeaderError {
    /// Fewer bytes than a header.
    #[error("segment header truncated ({0} of {SEGMENT_HEADER_LEN} bytes)")]
    Truncated(usize),
    /// The file does not start with [`SEGMENT_MAGIC`]; holds the bytes found.
    #[error("bad segment magic")]
    BadMagic([u8; 8]),
    /// A segment header version this build does not read.
    #[error("unsupported segment version {0}")]
    UnsupportedVersion(u8),
    /// The reserved bytes 9..12 are not zero.
    #[error("reserved segment header bytes are not zero")]
    ReservedNotZero,
}

/// The decoded segment header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Segment number (1-based, matches the file name).
    pub segment_no: u32,
    /// The volume id.
    pub volume_id: [u8; 16],
    /// Sequence number of the first record in the segment.
    pub first_seq: u64,
}

impl SegmentHeader {
    /// Encodes the header.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN as usize] {
        let mut b = [0u8; SEGMENT_HEADER_LEN as usize];
        b[0..8].copy_from_slice(&SEGMENT_MAGIC);
        b[8] = SEGMENT_VERSION;
        b[12..16].copy_from_slice(&self.segment_no.to_le_bytes());
        b[16..32].copy_from_slice(&self.volume_id);
        b[32..40].copy_from_slice(&self.first_seq.to_le_bytes());
        b
    }

    /// Decodes a header; the error says what is wrong.
    pub fn decode(b: &[u8]) -> Result<Self> {
        if b.len() < SEGMENT_HEADER_LEN as usize {
            return Err(SegmentHeaderError::Truncated(b.len()).into());
        }
        let mut magic = [0u8; 8];
        magic.copy_from_slice(&b[0..8]);
        if magic != SEGMENT_MAGIC {
            return Err(SegmentHeaderError::BadMagic(magic).into());
        }
        if b[8] != SEGMENT_VERSION {
            return Err(SegmentHeaderError::UnsupportedVersion(b[8]).into());
        }
        if b[9..12] != [0, 0, 0] {
            return Err(SegmentHeaderError::ReservedNotZero.into());
        }
        let mut no = [0u8; 4];
        no.copy_from_slice(&b[12..16]);
        let mut volume_id = [0u8; 16];
        volume_id.copy_from_slice(&b[16..32]);
        let mut first = [0u8; 8];
        first.copy_from_slice(&b[32..40]);
        Ok(Self {
            segment_no: u32::from_le_bytes(no),
            volume_id,
            first_seq: u64::from_le_bytes(first),
        })
    }
}

/// The file name of segment `no`.
pub fn segment_file_name(no: u32) -> String {
    format!("{no:06}.seg")
}

/// The path of segment `no` in `dir`.
pub fn segment_path(dir: &Path, no: u32) -> PathBuf {
    dir.join(segment_file_name(no))
}

/// Lists the segment files of a volume directory, in order, checking that they are
/// numbered densely from 1.
pub fn list_segments(dir: &Path) -> Result<Vec<u32>> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut numbers = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".seg") else {
            continue;
        };
        if stem.len() == 6
            && stem.bytes().all(|b| b.is_ascii_digit())
            && let Ok(no) = stem.parse::<u32>()
        {
            numbers.push(no);
        }
    }
    numbers.sort_unstable();
    for (i, no) in numbers.iter().enumerate() {
        let expected = i as u32 + 1;
        if *no != expected {
            return Err(Error::Corruption {
                volume: dir.to_path_buf(),
                segment: segment_file_name(expected),
                offset: 0,
                seq: None,
                detail: format!(
                    "segment {} is missing (found {})",
                    segment_file_name(expected),
                    segment_file_name(*no)
                ),
            });
        }
    }
    Ok(numbers)
}

/// Reads up to `len` bytes at `offset` (fewer at end of file).
pub fn read_at_most(file: &File, path: &Path, offset: u64, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SegmentHeader {
        SegmentHeader {
            segment_no: 2,
            volume_id: [9; 16],
            first_seq: 17,
        }
    }

    #[test]
    fn header_round_trips() {
        let h = sample();
        assert_eq!(SegmentHeader::decode(&h.encode()).expect("decode"), h);
    }

    #[test]
    fn bad_headers_are_typed_errors_with_their_messages() {
        let good = sample().encode();
        let cases: [(Vec<u8>, SegmentHeaderError, &str); 4] = [
            (
                good[..39].to_vec(),
                SegmentHeaderError::Truncated(39),
                "segment header truncated (39 of 40 bytes)",
            ),
            (
                [b"COFFSEX\0".as_slice(), &good[8..]].concat(),
                SegmentHeaderError::BadMagic(*b"COFFSEX\0"),
                "bad segment magic",
            ),
            (
                [&good[..8], &[2u8], &good[9..]].concat(),
                SegmentHeaderError::UnsupportedVersion(2),
                "unsupported segment version 2",
            ),
            (
                [&good[..10], &[1u8], &good[11..]].concat(),
                SegmentHeaderError::ReservedNotZero,
                "reserved segment header bytes are not zero",
            ),
        ];
        for (bytes, kind, message) in cases {
            let e = SegmentHeader::decode(&bytes).unwrap_err();
            assert!(matches!(&e, Error::SegmentHeader(k) if *k == kind), "{e:?}");
            assert_eq!(e.to_string(), message);
        }
    }
}
