//! Custody metadata stored in the volume record next to the original bytes.
//!
//! This is what the archive knew about a message when it accepted it and cannot learn
//! again from the bytes: how it arrived (envelope or import origin) and which mailboxes
//! it was assigned to. Everything else (subject, participants, text) is derived from the
//! bytes whenever the catalog or the index is rebuilt.

use coffer_model::{Envelope, MessageId, Sha256};
use serde::{Deserialize, Serialize};

use crate::error::IngestError;

/// Version of the metadata encoding written: 2, the compact binary form ([`binary`]).
/// Version 1 was JSON; both are read.
pub const META_VERSION: u32 = 2;

/// Metadata of a message record (kind 1).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MessageMeta {
    /// Encoding version.
    pub v: u32,
    /// How the message arrived: `import`, `smtp`, `lmtp`, `http`.
    pub source: String,
    /// Mailboxes the message was assigned to (lowercased addresses).
    pub mailboxes: Vec<String>,
    /// SMTP envelope (journaling) or nothing (import).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<Envelope>,
    /// Where an imported message came from (file path, mbox offset, Maildir folder), or
    /// who handed a journaled one over: `token:NAME` (HTTP, SMTP/LMTP with AUTH) or
    /// `client:ADDRESS` (SMTP/LMTP without AUTH). Records written before origins were
    /// kept for SMTP have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Envelope recipients that are the archive's own journal addresses (the target of
    /// an `always_bcc`, say): kept in the envelope for custody, but not participants.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub journal_addresses: Vec<String>,
}

/// Metadata of a link record (kind 2): mailboxes added to an archived message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkMeta {
    /// Encoding version.
    pub v: u32,
    /// The message gaining mailboxes.
    pub target: MessageId,
    /// SHA-256 of its original bytes (a cross-check).
    pub sha256: Sha256,
    /// The added mailboxes.
    pub mailboxes: Vec<String>,
    /// How the duplicate arrived.
    pub source: String,
    /// The duplicate's envelope, if journaled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<Envelope>,
    /// Where the duplicate came from, or who delivered it (as [`MessageMeta::origin`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl MessageMeta {
    /// Encodes in the compact binary form (encoding 2, see [`binary`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = binary::Writer::new();
        w.str(&self.source);
        w.strs(&self.mailboxes);
        w.opt_str(self.origin.as_deref());
        w.strs(&self.journal_addresses);
        write_envelope(&mut w, self.envelope.as_ref());
        w.finish()
    }

    /// Decodes either encoding: JSON (version 1, starts with `{`) or binary (2). The
    /// caller decides what an unreadable section means (the record's bytes remain
    /// authoritative and are still verified by the volume).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IngestError> {
        let err = |detail: String| IngestError::Metadata {
            what: "message",
            detail,
        };
        if bytes.first() == Some(&b'{') {
            return serde_json::from_slice(bytes).map_err(|e| err(e.to_string()));
        }
        let mut r = binary::Reader::new(bytes).map_err(err)?;
        let decoded = (|| -> Result<Self, String> {
            let source = r.str()?;
            let mailboxes = r.strs()?;
            let origin = r.opt_str()?;
            let journal_addresses = r.strs()?;
            let envelope = read_envelope(&mut r)?;
            r.end()?;
            Ok(Self {
                v: binary::VERSION.into(),
                source,
                mailboxes,
                envelope,
                origin,
                journal_addresses,
            })
        })();
        decoded.map_err(err)
    }
}

impl LinkMeta {
    /// Encodes in the compact binary form (encoding 2, see [`binary`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = binary::Writer::new();
        w.raw(&self.target.year.to_le_bytes());
        w.raw(&self.target.seq.to_le_bytes());
        w.raw(&self.sha256.0);
        w.strs(&self.mailboxes);
        w.str(&self.source);
        w.opt_str(self.origin.as_deref());
        write_envelope(&mut w, self.envelope.as_ref());
        w.finish()
    }

    /// Decodes either encoding (JSON version 1, binary 2).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IngestError> {
        let err = |detail: String| IngestError::Metadata {
            what: "link",
            detail,
        };
        if bytes.first() == Some(&b'{') {
            return serde_json::from_slice(bytes).map_err(|e| err(e.to_string()));
        }
        let mut r = binary::Reader::new(bytes).map_err(err)?;
        let decoded = (|| -> Result<Self, String> {
            let year = i32::from_le_bytes(r.array::<4>()?);
            let seq = u64::from_le_bytes(r.array::<8>()?);
            let sha256 = Sha256(r.array::<32>()?);
            let mailboxes = r.strs()?;
            let source = r.str()?;
            let origin = r.opt_str()?;
            let envelope = read_envelope(&mut r)?;
            r.end()?;
            Ok(Self {
                v: binary::VERSION.into(),
                target: MessageId::new(year, seq),
                sha256,
                mailboxes,
                source,
                envelope,
                origin,
            })
        })();
        decoded.map_err(err)
    }
}

/// The envelope section of either kind's binary metadata: a marker byte (0 none, 1 an
/// envelope follows), then protocol, MAIL FROM, RCPT TO, client address, HELO and TLS.
fn write_envelope(w: &mut binary::Writer, envelope: Option<&Envelope>) {
    match envelope {
        None => w.byte(0),
        Some(e) => {
            w.byte(1);
            w.str(&e.protocol);
            w.opt_str(e.mail_from.as_deref());
            w.strs(&e.rcpt_to);
            w.opt_str(e.client_addr.as_deref());
            w.opt_str(e.helo.as_deref());
            w.byte(u8::from(e.tls));
        }
    }
}

/// Reads what [`write_envelope`] wrote.
fn read_envelope(r: &mut binary::Reader<'_>) -> Result<Option<Envelope>, String> {
    Ok(match r.byte()? {
        0 => None,
        1 => Some(Envelope {
            protocol: r.str()?,
            mail_from: r.opt_str()?,
            rcpt_to: r.strs()?,
            client_addr: r.opt_str()?,
            helo: r.opt_str()?,
            tls: r.bool()?,
        }),
        other => return Err(format!("envelope marker {other}")),
    })
}

/// The compact binary encoding of custody metadata (encoding 2; encoding 1 was JSON).
///
/// ```text
/// // 0x02 | fields in a fixed order per kind, each one of:
/// //   str     = varint length (LEB128, ≤ 16 MiB) ‖ UTF-8 bytes
/// //   opt str = 0x00 | 0x01 ‖ str
/// //   strs    = varint count ‖ str*
/// //   bool    = 0x00 | 0x01
/// ```
///
/// JSON spent ~45 bytes per message on key names and quoting, on every record of the
/// volume; this spends one byte per length. Nothing after the last field is allowed.
pub mod binary {
    /// The first byte of binary metadata (JSON metadata starts with `{`).
    pub const VERSION: u8 = 2;
    const MAX_LEN: u64 = 16 * 1024 * 1024;

    /// Builds binary metadata.
    #[derive(Debug)]
    pub struct Writer(Vec<u8>);

    impl Default for Writer {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Writer {
        /// Starts with the version byte.
        pub fn new() -> Self {
            Self(vec![VERSION])
        }
        /// One byte.
        pub fn byte(&mut self, b: u8) {
            self.0.push(b);
        }
        /// Bytes as they are (fixed-size fields).
        pub fn raw(&mut self, b: &[u8]) {
            self.0.extend_from_slice(b);
        }
        /// An unsigned LEB128 varint.
        pub fn varint(&mut self, mut n: u64) {
            loop {
                let low = (n & 0x7f) as u8;
                n >>= 7;
                if n == 0 {
                    self.0.push(low);
                    return;
                }
                self.0.push(low | 0x80);
            }
        }
        /// A length-prefixed string.
        pub fn str(&mut self, s: &str) {
            self.varint(s.len() as u64);
            self.0.extend_from_slice(s.as_bytes());
        }
        /// An optional string.
        pub fn opt_str(&mut self, s: Option<&str>) {
            match s {
                None => self.byte(0),
                Some(s) => {
                    self.byte(1);
                    self.str(s);
                }
            }
        }
        /// A counted list of strings.
        pub fn strs(&mut self, list: &[String]) {
            self.varint(list.len() as u64);
            for s in list {
                self.str(s);
            }
        }
        /// The encoded bytes.
        pub fn finish(self) -> Vec<u8> {
            self.0
        }
    }

    /// Reads binary metadata; every error is a short description.
    #[derive(Debug)]
    pub struct Reader<'a> {
        bytes: &'a [u8],
        at: usize,
    }

    impl<'a> Reader<'a> {
        /// Checks the version byte.
        pub fn new(bytes: &'a [u8]) -> Result<Self, String> {
            match bytes.first() {
                Some(&VERSION) => Ok(Self { bytes, at: 1 }),
                Some(other) => Err(format!("unknown metadata encoding {other}")),
                None => Err("empty metadata".into()),
            }
        }
        fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
            let end = self
                .at
                .checked_add(n)
                .filter(|end| *end <= self.bytes.len())
                .ok_or_else(|| format!("metadata cut short at byte {}", self.at))?;
            let out = &self.bytes[self.at..end];
            self.at = end;
            Ok(out)
        }
        /// One byte.
        pub fn byte(&mut self) -> Result<u8, String> {
            Ok(self.take(1)?[0])
        }
        /// A boolean byte (0 or 1).
        pub fn bool(&mut self) -> Result<bool, String> {
            match self.byte()? {
                0 => Ok(false),
                1 => Ok(true),
                other => Err(format!("boolean byte {other}")),
            }
        }
        /// A fixed-size field.
        pub fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
            let mut out = [0u8; N];
            out.copy_from_slice(self.take(N)?);
            Ok(out)
        }
        /// An unsigned LEB128 varint of at most 64 bits.
        pub fn varint(&mut self) -> Result<u64, String> {
            let mut n = 0u64;
            for shift in (0..64).step_by(7) {
                let b = self.byte()?;
                n |= u64::from(b & 0x7f) << shift;
                if b & 0x80 == 0 {
                    return Ok(n);
                }
            }
            Err("varint longer than 64 bits".into())
        }
        /// A length-prefixed UTF-8 string.
        pub fn str(&mut self) -> Result<String, String> {
            let len = self.varint()?;
            if len > MAX_LEN {
                return Err(format!("string of {len} bytes"));
            }
            let bytes = self.take(len as usize)?;
            String::from_utf8(bytes.to_vec()).map_err(|_| "string is not UTF-8".to_string())
        }
        /// An optional string.
        pub fn opt_str(&mut self) -> Result<Option<String>, String> {
            match self.byte()? {
                0 => Ok(None),
                1 => Ok(Some(self.str()?)),
                other => Err(format!("option marker {other}")),
            }
        }
        /// A counted list of strings.
        pub fn strs(&mut self) -> Result<Vec<String>, String> {
            let count = self.varint()?;
            if count > MAX_LEN {
                return Err(format!("list of {count} strings"));
            }
            let mut out = Vec::new();
            for _ in 0..count {
                out.push(self.str()?);
            }
            Ok(out)
        }
        /// Nothing may follow the last field.
        pub fn end(&self) -> Result<(), String> {
            if self.at == self.bytes.len() {
                Ok(())
            } else {
                Err(format!(
                    "{} bytes after the last field",
                    self.bytes.len() - self.at
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> MessageMeta {
        MessageMeta {
            v: 2,
            source: "smtp".into(),
            mailboxes: vec!["a@example.com".into(), "b@example.com".into()],
            envelope: Some(Envelope {
                protocol: "smtp".into(),
                mail_from: Some("x@example.net".into()),
                rcpt_to: vec!["journal@example.com".into()],
                client_addr: Some("192.0.2.1".into()),
                helo: Some("mx.example.net".into()),
                tls: true,
            }),
            origin: Some("token:journal".into()),
            journal_addresses: vec!["journal@example.com".into()],
        }
    }

    #[test]
    fn binary_metadata_round_trips_and_is_smaller_than_json() {
        for meta in [
            full(),
            MessageMeta {
                v: 2,
                source: "import".into(),
                ..MessageMeta::default()
            },
        ] {
            let bytes = meta.to_bytes();
            assert_eq!(bytes[0], binary::VERSION);
            assert_eq!(MessageMeta::from_bytes(&bytes).expect("decodes"), meta);
            let json = serde_json::to_vec(&meta).expect("json");
            assert!(
                bytes.len() * 3 < json.len() * 2,
                "{} vs {}",
                bytes.len(),
                json.len()
            );
        }
        let link = LinkMeta {
            v: 2,
            target: MessageId::new(2026, 17),
            sha256: Sha256([7; 32]),
            mailboxes: vec!["c@example.com".into()],
            source: "import".into(),
            envelope: full().envelope,
            origin: None,
        };
        assert_eq!(
            LinkMeta::from_bytes(&link.to_bytes()).expect("decodes"),
            link
        );
    }

    #[test]
    fn version_1_json_metadata_still_reads() {
        let json =
            br#"{"v":1,"source":"import","mailboxes":["a@example.com"],"origin":"/m/1.eml"}"#;
        let meta = MessageMeta::from_bytes(json).expect("decodes");
        assert_eq!(meta.v, 1);
        assert_eq!(meta.mailboxes, vec!["a@example.com".to_string()]);
        assert_eq!(meta.origin.as_deref(), Some("/m/1.eml"));
    }

    #[test]
    fn damaged_binary_metadata_is_an_error_not_a_panic() {
        let good = full().to_bytes();
        for n in 0..good.len() {
            assert!(MessageMeta::from_bytes(&good[..n]).is_err(), "cut at {n}");
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(MessageMeta::from_bytes(&longer).is_err());
        let mut bad = good;
        bad[0] = 3;
        assert!(MessageMeta::from_bytes(&bad).is_err());
        assert!(
            MessageMeta::from_bytes(&[
                2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
            ])
            .is_err()
        );
    }
}
