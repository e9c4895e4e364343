//! Integrity reports: what an auditor takes away from a verification run, signed by the
//! archive key so that it can be shown to a third party and checked offline with the
//! public key alone (`coffer report verify REPORT.json --public-key archive.pub`).
//!
//! A report (`coffer-integrity-report-v1`) lists, per volume verified, the record and
//! message counts, the Merkle root, the newest signed tree head, what each witness last
//! took of that volume, the verdict and every problem; and the state of every witness.
//! The signed document is `{"report":{...},"key":"sha256:...","signature":"<hex>"}`:
//! an ed25519 signature, by the key the fingerprint names, over exactly the canonical
//! compact JSON bytes of `report` (the bytes between `{"report":` and `,"key":`).
//! Documents are canonical JSON like every other Coffer artifact (FORMAT.md, "Proofs"),
//! so one changed byte either breaks the canonical form or the signature.
//!
//! Who runs the check that produced a report, and when, is in the report
//! (`requested_by`, `generated_us`); the server and the command line also record every
//! run in the audit trail. Everything here is pure: values in, bytes or verdict out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::keys::{ArchiveKey, PublicKey};
use crate::transition::{KeyTransition, chain_to, follow_chain};
use crate::treehead::{SignedTreeHead, strict_hex};
use crate::verify::{Problem, VerifyReport};

/// The `format` of an integrity report.
pub const REPORT_FORMAT: &str = "coffer-integrity-report-v1";

/// What a verification run found, volume by volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrityReport {
    /// Always [`REPORT_FORMAT`].
    pub format: String,
    /// What was verified: `mail YEAR`, `audit` (every audit volume) or `all`.
    pub scope: String,
    /// When the report was made, microseconds since the Unix epoch.
    pub generated_us: i64,
    /// Who asked for it (a user name, or `local:OSUSER` on the command line).
    pub requested_by: String,
    /// True when every volume is intact.
    pub intact: bool,
    /// One entry per volume, mail volumes first, then audit volumes, by year.
    pub volumes: Vec<VolumeIntegrity>,
    /// The state of every configured witness, as the process that made the report knows
    /// it (the server tracks publications; the command line only lists the targets).
    pub witnesses: Vec<WitnessState>,
    /// The key chain from the archive's older keys to the key that signed the report
    /// (FORMAT.md, "Integrity reports"): key-transition statements of the archive's
    /// volumes, oldest first, the last one's new key the signing key. An auditor who
    /// holds an older public key follows it to the signing key. Omitted when the
    /// signing key was never rotated to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_transitions: Vec<KeyTransition>,
}

/// The verdict on one volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeIntegrity {
    /// `mail` or `audit` (the manifest's purpose; empty when unreadable).
    pub purpose: String,
    /// The volume's year.
    pub year: i32,
    /// The volume id (empty when the manifest is unreadable).
    pub volume_id: String,
    /// `open`, `sealed` or `disposed` (empty when unreadable).
    pub state: String,
    /// Records read.
    pub records: u64,
    /// Message records.
    pub messages: u64,
    /// Checkpoint, seal and `SEAL` signatures verified.
    pub signatures_verified: u64,
    /// Records covered by the newest signed tree head.
    pub signed_records: u64,
    /// Records after it.
    pub unsigned_records: u64,
    /// Merkle root over every record read, hex.
    pub root: String,
    /// The newest signed tree head that verified; absent when none did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_signed_head: Option<SignedTreeHead>,
    /// What each witness last took of this volume (tree size, and when that witness
    /// last took any head).
    pub witnessed: Vec<Witnessed>,
    /// `intact` or `damaged`.
    pub result: String,
    /// Every problem, with file, byte offset and sequence number.
    pub problems: Vec<Problem>,
    /// Observations that are not failures (unsigned tail, torn write, open volume).
    pub notes: Vec<String>,
}

/// One witness's publication of one volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Witnessed {
    /// The witness (`file:/path`, a URL, `syslog`).
    pub target: String,
    /// The tree size of the newest head of this volume it took.
    pub tree_size: u64,
    /// When it last took a head (of any volume), µs since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_us: Option<i64>,
}

/// The state of one witness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessState {
    /// The witness (`file:/path`, a URL, `syslog`).
    pub target: String,
    /// Whether the publication state below was observed (true in a server's report;
    /// false on the command line, which publishes nothing and lists the targets only).
    pub observed: bool,
    /// When it last took a head, µs since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_us: Option<i64>,
    /// Newest tree size it took, per volume (`PURPOSE-YEAR`).
    pub published: BTreeMap<String, u64>,
    /// Heads waiting for it.
    pub pending: u64,
    /// Heads dropped from its queue while it was down (newer heads superseded them).
    pub dropped: u64,
    /// Failed publications so far (each retried).
    pub failures: u64,
    /// The last failure, when the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl WitnessState {
    /// A configured witness whose publications this process did not observe (the
    /// command line: only the server publishes and knows how far each witness got).
    pub fn unobserved(target: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            observed: false,
            last_success_us: None,
            published: BTreeMap::new(),
            pending: 0,
            dropped: 0,
            failures: 0,
            last_error: None,
        }
    }
}

/// A report with its detached signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedReport {
    /// The report.
    pub report: IntegrityReport,
    /// Fingerprint of the key that signed it.
    pub key: String,
    /// ed25519 signature over the canonical JSON of `report`, 128 hex digits.
    pub signature: String,
}

/// Why a signed report does not verify.
#[derive(Debug, thiserror::Error)]
pub enum ReportCheckError {
    /// Not JSON of the report's shape.
    #[error("not an integrity report: {0}")]
    NotJson(serde_json::Error),
    /// Valid JSON, but not byte for byte the canonical form.
    #[error("report is not in canonical form (was it edited?)")]
    NotCanonical,
    /// Another `format` than this build reads.
    #[error("unsupported report format {0:?}")]
    Format(String),
    /// Signed by another key than the one given.
    #[error("signed by key {signed_by} but verifying with key {verifying_with}")]
    WrongKey {
        /// The fingerprint the report names.
        signed_by: String,
        /// The fingerprint of the key given to check it.
        verifying_with: String,
    },
    /// The key chain it carries does not lead from the trusted key to the signing key.
    #[error("key chain: {0}")]
    KeyChain(String),
    /// The signature is malformed or does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// The report contradicts itself (`intact` against the volumes' results).
    #[error("{0}")]
    Inconsistent(String),
}

impl VolumeIntegrity {
    /// The entry for one verified volume: `report` is what [`crate::verify_volume`]
    /// found, `year` the year it was verified as (used when the manifest is unreadable),
    /// `witnesses` the witness states (their publications of this volume are picked out).
    pub fn from_verification(report: &VerifyReport, year: i32, witnesses: &[WitnessState]) -> Self {
        let purpose = report.purpose.clone().unwrap_or_default();
        let key = format!("{purpose}-{}", report.year.unwrap_or(year));
        Self {
            year: report.year.unwrap_or(year),
            volume_id: report.volume_id.clone().unwrap_or_default(),
            state: report
                .state
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            records: report.records,
            messages: report.messages,
            signatures_verified: report.signatures_verified,
            signed_records: report.signed_records,
            unsigned_records: report.unsigned_records,
            root: report.root.clone(),
            last_signed_head: report.last_signed_head.clone(),
            witnessed: witnesses
                .iter()
                .filter_map(|w| {
                    w.published.get(&key).map(|size| Witnessed {
                        target: w.target.clone(),
                        tree_size: *size,
                        last_success_us: w.last_success_us,
                    })
                })
                .collect(),
            result: if report.is_intact() {
                "intact"
            } else {
                "damaged"
            }
            .to_string(),
            problems: report.problems.clone(),
            notes: report.notes.clone(),
            purpose,
        }
    }
}

impl IntegrityReport {
    /// A report over `volumes` (`intact` is derived from them).
    pub fn new(
        scope: impl Into<String>,
        generated_us: i64,
        requested_by: impl Into<String>,
        volumes: Vec<VolumeIntegrity>,
        witnesses: Vec<WitnessState>,
    ) -> Self {
        Self {
            format: REPORT_FORMAT.to_string(),
            scope: scope.into(),
            generated_us,
            requested_by: requested_by.into(),
            intact: volumes.iter().all(|v| v.result == "intact"),
            volumes,
            witnesses,
            key_transitions: Vec::new(),
        }
    }

    /// What an audit entry records of a run: per volume its verdict, records, root and
    /// number of problems (the report itself is handed to whoever asked).
    pub fn audit_detail(&self, signature: &str) -> serde_json::Value {
        serde_json::json!({
            "scope": self.scope,
            "intact": self.intact,
            "volumes": self.volumes.iter().map(|v| serde_json::json!({
                "purpose": v.purpose, "year": v.year, "records": v.records, "root": v.root,
                "result": v.result, "problems": v.problems.len(),
            })).collect::<Vec<_>>(),
            "report_signature": signature,
        })
    }

    /// Canonical compact JSON: the bytes the signature covers.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Signs the report with the archive key, carrying the key chain that leads to it
    /// from the older keys `known` transitions record (every key transition of the
    /// archive's mail and audit volumes: [`crate::VolumeSet::key_transitions`]).
    pub fn sign_with_chain(mut self, key: &ArchiveKey, known: &[KeyTransition]) -> SignedReport {
        self.key_transitions = chain_to(key.fingerprint(), known);
        self.sign(key)
    }

    /// Signs the report with the archive key (as it is: without adding a key chain).
    pub fn sign(self, key: &ArchiveKey) -> SignedReport {
        let signature = hex::encode(key.sign(&self.to_json()));
        SignedReport {
            report: self,
            key: key.fingerprint().to_string(),
            signature,
        }
    }
}

impl SignedReport {
    /// Canonical compact JSON of the whole document (what is served and written).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a signed report (canonical form only; one trailing newline allowed).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ReportCheckError> {
        let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let doc: Self = serde_json::from_slice(body).map_err(ReportCheckError::NotJson)?;
        if doc.to_json() != body {
            return Err(ReportCheckError::NotCanonical);
        }
        Ok(doc)
    }

    /// Checks the format, the key and the signature with `public_key` — directly, or
    /// through the report's key chain when `public_key` is an older key of the archive
    /// — and that the report's `intact` agrees with its volumes.
    pub fn verify(&self, public_key: &PublicKey) -> Result<(), ReportCheckError> {
        if self.report.format != REPORT_FORMAT {
            return Err(ReportCheckError::Format(self.report.format.clone()));
        }
        if self.report.key_transitions.is_empty() && self.key != public_key.fingerprint() {
            return Err(ReportCheckError::WrongKey {
                signed_by: self.key.clone(),
                verifying_with: public_key.fingerprint().to_string(),
            });
        }
        let public_key = &follow_chain(public_key, &self.report.key_transitions, &self.key)
            .map_err(ReportCheckError::KeyChain)?;
        let signature: [u8; 64] =
            strict_hex(&self.signature, "signature").map_err(|_| ReportCheckError::BadSignature)?;
        if !public_key.verify(&self.report.to_json(), &signature) {
            return Err(ReportCheckError::BadSignature);
        }
        let all_intact = self.report.volumes.iter().all(|v| v.result == "intact");
        if self.report.intact != all_intact {
            return Err(ReportCheckError::Inconsistent(format!(
                "the report says intact = {} but its volumes say {all_intact}",
                self.report.intact
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> IntegrityReport {
        let volume = VolumeIntegrity {
            purpose: "mail".into(),
            year: 2026,
            volume_id: "00".repeat(16),
            state: "open".into(),
            records: 3,
            messages: 2,
            signatures_verified: 1,
            signed_records: 3,
            unsigned_records: 0,
            root: "ab".repeat(32),
            last_signed_head: None,
            witnessed: vec![],
            result: "intact".into(),
            problems: vec![],
            notes: vec!["ünïcode \"quoted\"".into()],
        };
        IntegrityReport::new("mail 2026", 42, "auditor", vec![volume], vec![])
    }

    #[test]
    fn signed_report_round_trips_and_verifies() {
        let key = ArchiveKey::generate().expect("key");
        let signed = sample().sign(&key);
        let bytes = signed.to_json();
        let parsed = SignedReport::from_json(&bytes).expect("parse");
        assert_eq!(parsed, signed);
        parsed.verify(&key.public_key()).expect("verifies");
        let mut with_newline = bytes.clone();
        with_newline.push(b'\n');
        SignedReport::from_json(&with_newline).expect("one newline allowed");
        // The signature covers exactly the bytes of `report` inside the document.
        let report_json = signed.report.to_json();
        assert!(bytes.starts_with(b"{\"report\":"));
        assert_eq!(&bytes[10..10 + report_json.len()], &report_json[..]);
    }

    #[test]
    fn any_change_is_rejected() {
        let key = ArchiveKey::generate().expect("key");
        let public = key.public_key();
        let bytes = sample().sign(&key).to_json();
        let text = String::from_utf8(bytes.clone()).expect("utf8");
        for (from, to) in [
            ("\"records\":3", "\"records\":4"),
            ("\"intact\":true", "\"intact\":false"),
            ("\"result\":\"intact\"", "\"result\":\"damaged\""),
            ("\"generated_us\":42", "\"generated_us\":43"),
            (
                "\"requested_by\":\"auditor\"",
                "\"requested_by\":\"auditoR\"",
            ),
        ] {
            let changed = text.replacen(from, to, 1);
            assert_ne!(changed, text, "{from}");
            let verdict =
                SignedReport::from_json(changed.as_bytes()).and_then(|d| d.verify(&public));
            assert!(verdict.is_err(), "{from} -> {to} accepted");
        }
        let spaced = text.replacen("{\"report\":", "{ \"report\":", 1);
        assert!(matches!(
            SignedReport::from_json(spaced.as_bytes()),
            Err(ReportCheckError::NotCanonical)
        ));
        let other = ArchiveKey::generate().expect("key");
        let doc = SignedReport::from_json(&bytes).expect("parse");
        assert!(matches!(
            doc.verify(&other.public_key()),
            Err(ReportCheckError::WrongKey { .. })
        ));
        // Forged with another key but naming the archive key's fingerprint.
        let mut forged = sample().sign(&other);
        forged.key = key.fingerprint().to_string();
        assert!(matches!(
            forged.verify(&public),
            Err(ReportCheckError::BadSignature)
        ));
    }

    #[test]
    fn an_older_key_follows_the_carried_chain_and_a_forged_chain_fails() {
        let (a, b, c) = (
            ArchiveKey::generate().expect("key"),
            ArchiveKey::generate().expect("key"),
            ArchiveKey::generate().expect("key"),
        );
        let ab = KeyTransition::sign(&a, &b, &[1; 16], 2026, 5, &[2; 32], &[3; 32], 7);
        // The same hand-over recorded by a second volume, and the next one.
        let ab_audit = KeyTransition::sign(&a, &b, &[9; 16], 2026, 2, &[2; 32], &[3; 32], 7);
        let bc = KeyTransition::sign(&b, &c, &[9; 16], 2026, 4, &[4; 32], &[5; 32], 8);
        let known = [bc.clone(), ab.clone(), ab_audit];
        let signed = sample().sign_with_chain(&c, &known);
        assert_eq!(signed.report.key_transitions, vec![ab.clone(), bc.clone()]);
        let parsed = SignedReport::from_json(&signed.to_json()).expect("canonical");
        for trusted in [&a, &b, &c] {
            parsed
                .verify(&trusted.public_key())
                .expect("follows the chain");
        }
        let stranger = ArchiveKey::generate().expect("key");
        assert!(matches!(
            parsed.verify(&stranger.public_key()),
            Err(ReportCheckError::KeyChain(_))
        ));
        // Never rotated: no chain, exactly as before.
        assert!(
            sample()
                .sign_with_chain(&a, &known)
                .report
                .key_transitions
                .is_empty()
        );

        // A thief holding only their own key: a link from the archive's key b to theirs,
        // signed by the thief for both ends, does not verify.
        let mut forged_link = KeyTransition::sign(
            &stranger, &stranger, &[1; 16], 2026, 9, &[2; 32], &[3; 32], 7,
        );
        forged_link.old_key = hex::encode(b.public_key().to_bytes());
        let mut forged = sample();
        forged.key_transitions = vec![ab.clone(), forged_link];
        let forged = forged.sign(&stranger);
        assert!(matches!(
            forged.verify(&a.public_key()),
            Err(ReportCheckError::KeyChain(_))
        ));
        // A chain with a gap (a → b, then c → ...) fails; so does one ending elsewhere.
        let mut gap = sample();
        gap.key_transitions = vec![
            ab.clone(),
            KeyTransition::sign(&c, &stranger, &[1; 16], 2026, 9, &[2; 32], &[3; 32], 7),
        ];
        assert!(gap.sign(&stranger).verify(&a.public_key()).is_err());
        let mut short = sample();
        short.key_transitions = vec![ab];
        assert!(short.sign(&c).verify(&a.public_key()).is_err());
        // Changing a transition inside the signed report breaks the signature.
        let text = String::from_utf8(signed.to_json()).expect("utf8");
        let changed = text.replacen("\"tree_size\":5", "\"tree_size\":6", 1);
        assert_ne!(changed, text);
        assert!(
            SignedReport::from_json(changed.as_bytes())
                .and_then(|d| d.verify(&a.public_key()))
                .is_err()
        );
    }
}
