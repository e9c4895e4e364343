//! Message ids and SHA-256 digests.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The stable id of an archived message: the receive year of the volume holding its
/// record and the record's sequence number in that volume, written `2026-42`.
///
/// Volumes are append-only and never renumbered, so an id never changes and never
/// points at another message. The form uses only digits and `-`, so it is URL-safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageId {
    /// Receive year (UTC) of the volume.
    pub year: i32,
    /// Sequence number of the message record in that volume (dense, from 1).
    pub seq: u64,
}

impl MessageId {
    /// Builds an id from its parts.
    pub fn new(year: i32, seq: u64) -> Self {
        Self { year, seq }
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.year, self.seq)
    }
}

/// A string that is not a valid id or digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseIdError(String);

impl FromStr for MessageId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseIdError(format!("not a message id (expected YEAR-SEQUENCE): {s:?}"));
        let (year, seq) = s.split_once('-').ok_or_else(bad)?;
        if year.len() != 4 || seq.is_empty() || seq.len() > 20 || seq.starts_with('0') {
            return Err(bad());
        }
        if !year.bytes().chain(seq.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let year = year.parse().map_err(|_| bad())?;
        let seq = seq.parse().map_err(|_| bad())?;
        Ok(Self { year, seq })
    }
}

impl TryFrom<String> for MessageId {
    type Error = ParseIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<MessageId> for String {
    fn from(id: MessageId) -> String {
        id.to_string()
    }
}

/// A SHA-256 digest. Displays and parses as 64 lowercase hex digits.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    /// The digest as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({})", self.to_hex())
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for Sha256 {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        if s.len() != 64 {
            return Err(ParseIdError(format!(
                "not a SHA-256 hex digest (need 64 hex digits): {s:?}"
            )));
        }
        hex::decode_to_slice(s, &mut out)
            .map_err(|_| ParseIdError(format!("not a SHA-256 hex digest: {s:?}")))?;
        Ok(Self(out))
    }
}

impl TryFrom<String> for Sha256 {
    type Error = ParseIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Sha256> for String {
    fn from(d: Sha256) -> String {
        d.to_hex()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_round_trips_and_rejects_junk() {
        let id = MessageId::new(2026, 42);
        assert_eq!(id.to_string(), "2026-42");
        assert_eq!("2026-42".parse::<MessageId>(), Ok(id));
        for bad in [
            "", "2026", "2026-", "-1", "2026-042", "26-1", "2026-1x", "2026--1", "x026-1",
        ] {
            assert!(bad.parse::<MessageId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn sha256_hex_round_trips() {
        let d = Sha256([0xab; 32]);
        assert_eq!(d.to_hex().parse::<Sha256>(), Ok(d));
        assert!("abc".parse::<Sha256>().is_err());
        assert!("zz".repeat(32).parse::<Sha256>().is_err());
    }
}
