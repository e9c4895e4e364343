//! The `VOLUME` manifest: the identity and state of a volume directory.
//!
//! Stored as canonical compact JSON (re-serialising the parsed manifest must give the
//! same bytes, so no byte can change without detection). Its fixed fields (volume id,
//! year, key fingerprint, creation time, purpose) are committed by the genesis hash that
//! stands before record 1, so changing them breaks the chain; the state fields are
//! checked against the `SEAL` file and the seal record.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::merkle::Hash;
use crate::treehead::strict_hex;

/// File name of the manifest in a volume directory.
pub const MANIFEST_FILE: &str = "VOLUME";
/// File name of the final signed tree head of a sealed volume.
pub const SEAL_FILE: &str = "SEAL";
/// Manifest format version written by this build.
pub const MANIFEST_VERSION: u32 = 1;

/// Lifecycle state of a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeState {
    /// Takes appends.
    Open,
    /// Final tree head written; read-only.
    Sealed,
    /// Removed by disposition; only the certificate remains.
    Disposed,
}

impl VolumeState {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeState::Open => "open",
            VolumeState::Sealed => "sealed",
            VolumeState::Disposed => "disposed",
        }
    }
}

/// The manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Manifest format version.
    pub format_version: u32,
    /// What the volume holds: `mail` or `audit`.
    pub purpose: String,
    /// Random volume id, 32 lowercase hex digits.
    pub volume_id: String,
    /// Calendar year (UTC) of the receive times of its records.
    pub year: i32,
    /// Fingerprint of the signing key.
    pub key: String,
    /// Creation time, microseconds since the Unix epoch.
    pub created_us: i64,
    /// Current state.
    pub state: VolumeState,
    /// Sealing time (the time of the final tree head), when sealed.
    pub sealed_us: Option<i64>,
}

impl Manifest {
    /// The volume id as bytes.
    pub fn volume_id_bytes(&self) -> Result<[u8; 16]> {
        strict_hex(&self.volume_id, "volume_id")
    }

    /// The hash that stands before record 1: SHA-256 of a label and every fixed field,
    /// so that no record can be moved to another volume, and no fixed manifest field can
    /// change, without breaking the chain.
    pub fn genesis_hash(&self) -> Hash {
        let mut h = Sha256::new();
        h.update(b"coffer-volume-genesis-v1\0");
        h.update(self.volume_id.as_bytes());
        h.update(self.year.to_le_bytes());
        h.update((self.key.len() as u32).to_le_bytes());
        h.update(self.key.as_bytes());
        h.update(self.created_us.to_le_bytes());
        h.update((self.purpose.len() as u32).to_le_bytes());
        h.update(self.purpose.as_bytes());
        h.finalize().into()
    }

    /// Canonical JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads and checks a manifest file.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let bytes = std::fs::read(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let bad = |detail: String| Error::Manifest {
            path: path.clone(),
            detail,
        };
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let version = value.get("format_version").and_then(|v| v.as_u64());
        if version != Some(u64::from(MANIFEST_VERSION)) {
            return Err(Error::Incompatible {
                path,
                detail: format!(
                    "manifest format version {version:?}; this build reads version {MANIFEST_VERSION}"
                ),
            });
        }
        let manifest: Manifest =
            serde_json::from_value(value).map_err(|e| bad(format!("invalid manifest: {e}")))?;
        if manifest.to_json() != bytes {
            return Err(bad(
                "manifest is not in canonical form (edited by hand or damaged)".into(),
            ));
        }
        manifest.volume_id_bytes().map_err(|e| bad(e.to_string()))?;
        Ok(manifest)
    }

    /// Writes the manifest atomically.
    pub fn store(&self, dir: &Path) -> Result<()> {
        crate::fsutil::write_atomic(&dir.join(MANIFEST_FILE), &self.to_json())
    }
}
