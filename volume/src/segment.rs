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
    pub fn decode(b: &[u8]) -> std::result::Result<Self, String> {
        if b.len() < SEGMENT_HEADER_LEN as usize {
            return Err(format!(
                "segment header truncated ({} of {SEGMENT_HEADER_LEN} bytes)",
                b.len()
            ));
        }
        if b[0..8] != SEGMENT_MAGIC {
            return Err("bad segment magic".into());
        }
        if b[8] != SEGMENT_VERSION {
            return Err(format!("unsupported segment version {}", b[8]));
        }
        if b[9..12] != [0, 0, 0] {
            return Err("reserved segment header bytes are not zero".into());
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
