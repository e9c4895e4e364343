//! The archive's ed25519 signing key, its public key file and its fingerprint.
//!
//! Layout under the data directory:
//! - `keys/archive.key`: the private key, PKCS#8 PEM, mode 0600 (directory 0700);
//! - `keys/archive.pub`: the public key, SubjectPublicKeyInfo PEM, given to auditors
//!   (`openssl pkey -pubin -in keys/archive.pub -text` reads it).
//!
//! The private key may live elsewhere (`[keys] signing_key` in `coffer.toml`: another
//! mount, or a file owned by another user): [`ArchiveKey::load_or_create_at`]. The key
//! can be replaced by a new one (`coffer key rotate`): each writable volume then records
//! a key transition signed by both ([`crate::transition`]).
//!
//! The fingerprint is `sha256:` followed by the first 16 bytes (32 hex digits) of the
//! SHA-256 of the raw 32-byte public key. It is stored in every volume manifest and
//! every signed tree head, and shown by `coffer volume list`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand::TryRng;

use crate::error::{Error, Result};
use crate::record::sha256;

/// File name of the private key inside the keys directory.
pub const PRIVATE_KEY_FILE: &str = "archive.key";
/// File name of the public key inside the keys directory.
pub const PUBLIC_KEY_FILE: &str = "archive.pub";

/// The archive's signing key.
#[derive(Clone)]
pub struct ArchiveKey {
    signing: SigningKey,
    fingerprint: String,
}

impl std::fmt::Debug for ArchiveKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ArchiveKey({})", self.fingerprint)
    }
}

/// A public key that verifies the archive's signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    fingerprint: String,
}

/// Why text is not an ed25519 public key (carried by [`Error::PublicKey`]).
#[derive(Debug, thiserror::Error)]
pub enum PublicKeyError {
    /// A PEM block that is not an ed25519 SubjectPublicKeyInfo.
    #[error("not an ed25519 public key PEM: {0}")]
    NotPem(ed25519_dalek::pkcs8::spki::Error),
    /// Neither a PEM block nor 64 hex digits.
    #[error("not a PEM public key nor 64 hex digits")]
    NeitherPemNorHex,
    /// 32 bytes that are not a valid ed25519 public key.
    #[error("invalid ed25519 key: {0}")]
    NotOnCurve(ed25519_dalek::SignatureError),
}

/// Random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    rand::rngs::SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| Error::Key {
            path: PathBuf::new(),
            detail: format!("no randomness from the operating system: {e}"),
        })?;
    Ok(bytes)
}

/// The fingerprint of a raw ed25519 public key.
pub fn fingerprint(public_key: &[u8; 32]) -> String {
    format!("sha256:{}", hex::encode(&sha256(public_key)[..16]))
}

impl ArchiveKey {
    /// Loads the key from `keys_dir`, creating a new one (and the public key file) when
    /// none exists. Returns the key and whether it was created.
    pub fn load_or_create(keys_dir: &Path) -> Result<(Self, bool)> {
        Self::load_or_create_at(&keys_dir.join(PRIVATE_KEY_FILE), keys_dir)
    }

    /// Loads the private key at `private_path` (which may be outside the data directory:
    /// `[keys] signing_key`), creating it when none exists; the public key file is
    /// `keys_dir/archive.pub`, written when missing, refused when it names another key.
    pub fn load_or_create_at(private_path: &Path, keys_dir: &Path) -> Result<(Self, bool)> {
        match fs::read_to_string(private_path) {
            Ok(pem) => {
                let signing = SigningKey::from_pkcs8_pem(&pem).map_err(|e| Error::Key {
                    path: private_path.to_path_buf(),
                    detail: format!("not a PKCS#8 ed25519 private key: {e}"),
                })?;
                let key = Self::from_signing(signing);
                // Recreate the public key file if it went missing; never overwrite a
                // different one silently.
                let public_path = keys_dir.join(PUBLIC_KEY_FILE);
                match PublicKey::load(&public_path) {
                    Ok(public) if public.fingerprint == key.fingerprint => {}
                    Ok(_) => {
                        return Err(Error::Key {
                            path: public_path,
                            detail: "public key file does not match the private key".into(),
                        });
                    }
                    Err(Error::Io { ref source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound =>
                    {
                        key.write_public(keys_dir)?;
                    }
                    Err(e) => return Err(e),
                }
                Ok((key, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate()?;
                key.write_private(private_path)?;
                key.write_public(keys_dir)?;
                crate::fsutil::sync_dir(keys_dir)?;
                Ok((key, true))
            }
            Err(source) => Err(Error::Io {
                path: private_path.to_path_buf(),
                source,
            }),
        }
    }

    /// Loads an existing private key (PKCS#8 PEM) from `path`; never creates one.
    pub fn load(path: &Path) -> Result<Self> {
        let pem = fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let signing = SigningKey::from_pkcs8_pem(&pem).map_err(|e| Error::Key {
            path: path.to_path_buf(),
            detail: format!("not a PKCS#8 ed25519 private key: {e}"),
        })?;
        Ok(Self::from_signing(signing))
    }

    /// Generates a new key from the operating system's random source.
    pub fn generate() -> Result<Self> {
        let mut secret = [0u8; 32];
        rand::rngs::SysRng
            .try_fill_bytes(&mut secret)
            .map_err(|e| Error::Key {
                path: PathBuf::new(),
                detail: format!("no randomness from the operating system: {e}"),
            })?;
        Ok(Self::from_signing(SigningKey::from_bytes(&secret)))
    }

    /// A key from a fixed secret (the fuzz fixture's).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn from_secret(secret: [u8; 32]) -> Self {
        Self::from_seed(secret)
    }

    /// The key whose 32-byte ed25519 secret (RFC 8032 seed) is `seed`: deterministic
    /// keys for the published test vectors (`testdata/v2/`). A real archive's key comes
    /// from [`ArchiveKey::generate`]; a seed anyone can read protects nothing.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self::from_signing(SigningKey::from_bytes(&seed))
    }

    fn from_signing(signing: SigningKey) -> Self {
        let fingerprint = fingerprint(&signing.verifying_key().to_bytes());
        Self {
            signing,
            fingerprint,
        }
    }

    /// Writes the private key to `private_path` (a new file, mode 0600; its directory is
    /// created with mode 0700 when missing) and syncs it.
    pub fn write_private(&self, private_path: &Path) -> Result<()> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        let dir = private_path.parent().unwrap_or(Path::new("."));
        if fs::symlink_metadata(dir).is_err() {
            fs::create_dir_all(dir).map_err(io(dir))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
        }
        let pem = self
            .signing
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| Error::Key {
                path: private_path.to_path_buf(),
                detail: format!("cannot encode key: {e}"),
            })?;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(private_path)
            .map_err(io(private_path))?;
        file.write_all(pem.as_bytes()).map_err(io(private_path))?;
        file.sync_all().map_err(io(private_path))?;
        crate::fsutil::sync_dir(dir)
    }

    /// Writes the private key to `private_path` atomically, replacing what is there: a
    /// temporary file `PATH.tmp` (mode 0600) fsynced, renamed over `private_path`, the
    /// directory fsynced. A crash leaves the old file (or none) or the whole new one,
    /// never a part; a leftover `PATH.tmp` is garbage. Used for staged keys (`coffer key
    /// rotate`), whose presence must mean a complete key.
    pub fn write_private_atomic(&self, private_path: &Path) -> Result<()> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        let dir = private_path.parent().unwrap_or(Path::new("."));
        let mut tmp_name = private_path.as_os_str().to_os_string();
        tmp_name.push(".tmp");
        let tmp = PathBuf::from(tmp_name);
        let pem = self
            .signing
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| Error::Key {
                path: private_path.to_path_buf(),
                detail: format!("cannot encode key: {e}"),
            })?;
        {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(io(&tmp))?;
            file.write_all(pem.as_bytes()).map_err(io(&tmp))?;
            file.sync_all().map_err(io(&tmp))?;
        }
        fs::rename(&tmp, private_path).map_err(io(private_path))?;
        crate::fsutil::sync_dir(dir)
    }

    /// Writes `keys_dir/archive.pub` (atomically; the directory is created, 0700, when
    /// missing).
    pub fn write_public(&self, keys_dir: &Path) -> Result<()> {
        if fs::symlink_metadata(keys_dir).is_err() {
            let io = |source| Error::Io {
                path: keys_dir.to_path_buf(),
                source,
            };
            fs::create_dir_all(keys_dir).map_err(io)?;
            fs::set_permissions(keys_dir, fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
        self.write_public_file(keys_dir)
    }

    fn write_public_file(&self, keys_dir: &Path) -> Result<()> {
        self.public_key_file(keys_dir, PUBLIC_KEY_FILE)
    }

    /// Writes the public key (SubjectPublicKeyInfo PEM) to `dir/name`, atomically.
    pub fn public_key_file(&self, dir: &Path, name: &str) -> Result<()> {
        let public_path = dir.join(name);
        let pem = self
            .signing
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| Error::Key {
                path: public_path.clone(),
                detail: format!("{e}"),
            })?;
        crate::fsutil::write_atomic(&public_path, pem.as_bytes())
    }

    /// The key's fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key: self.signing.verifying_key(),
            fingerprint: self.fingerprint.clone(),
        }
    }

    /// Signs a message.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }
}

impl PublicKey {
    /// Loads a public key file: SubjectPublicKeyInfo PEM, or 64 hex digits.
    pub fn load(path: &Path) -> Result<Self> {
        let text = fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::decode(&text).map_err(|problem| Error::PublicKey {
            path: Some(path.to_path_buf()),
            problem,
        })
    }

    /// Parses a public key: SubjectPublicKeyInfo PEM, or 64 hex digits.
    pub fn parse(text: &str) -> Result<Self> {
        Self::decode(text).map_err(|problem| Error::PublicKey {
            path: None,
            problem,
        })
    }

    fn decode(text: &str) -> std::result::Result<Self, PublicKeyError> {
        let text = text.trim();
        let key = if text.starts_with("-----BEGIN") {
            VerifyingKey::from_public_key_pem(text).map_err(PublicKeyError::NotPem)?
        } else {
            let mut raw = [0u8; 32];
            hex::decode_to_slice(text, &mut raw).map_err(|_| PublicKeyError::NeitherPemNorHex)?;
            VerifyingKey::from_bytes(&raw).map_err(PublicKeyError::NotOnCurve)?
        };
        Ok(Self {
            fingerprint: fingerprint(&key.to_bytes()),
            key,
        })
    }

    /// The key's fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The raw 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Verifies a signature (strict: rejects malleable and small-order forms).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(bytes) = <[u8; 64]>::try_from(signature) else {
            return false;
        };
        self.key
            .verify_strict(message, &Signature::from_bytes(&bytes))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_key_reloads_with_0600_and_verifies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = dir.path().join("keys");
        let (key, created) = ArchiveKey::load_or_create(&keys).expect("create");
        assert!(created);
        let mode = fs::metadata(keys.join(PRIVATE_KEY_FILE))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (again, created) = ArchiveKey::load_or_create(&keys).expect("load");
        assert!(!created);
        assert_eq!(again.fingerprint(), key.fingerprint());
        let public = PublicKey::load(&keys.join(PUBLIC_KEY_FILE)).expect("pub");
        let sig = key.sign(b"hello");
        assert!(public.verify(b"hello", &sig));
        assert!(!public.verify(b"hellp", &sig));
        assert!(!public.verify(b"hello", &sig[..63]));
        let hex_form = PublicKey::parse(&hex::encode(public.to_bytes())).expect("hex");
        assert_eq!(hex_form, public);
    }

    #[test]
    fn unreadable_public_keys_name_the_problem_and_the_file() {
        let e = PublicKey::parse("not a key").unwrap_err();
        assert!(matches!(
            e,
            Error::PublicKey {
                path: None,
                problem: PublicKeyError::NeitherPemNorHex
            }
        ));
        assert_eq!(e.to_string(), "not a PEM public key nor 64 hex digits");
        let e = PublicKey::parse("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
            .unwrap_err();
        assert!(e.to_string().starts_with("not an ed25519 public key PEM: "));

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("archive.pub");
        fs::write(&path, "zz").expect("write");
        let e = PublicKey::load(&path).unwrap_err();
        assert!(matches!(
            &e,
            Error::PublicKey { path: Some(p), problem: PublicKeyError::NeitherPemNorHex } if *p == path
        ));
        assert_eq!(
            e.to_string(),
            format!(
                "key {}: not a PEM public key nor 64 hex digits",
                path.display()
            )
        );
    }
}
