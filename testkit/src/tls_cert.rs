//! A self-signed certificate for `localhost`, written as PEM files, for servers under
//! test that read their certificate from files (`[smtp] tls_cert` and `tls_key` in
//! coffer.toml) and for clients that trust it.

use std::path::{Path, PathBuf};

/// The files [`write_localhost_cert`] wrote.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The certificate (PEM), also what a client trusts.
    pub cert_pem: PathBuf,
    /// Its private key (PKCS#8 PEM).
    pub key_pem: PathBuf,
}

/// Generates a self-signed certificate for `localhost` and writes it and its key into
/// `dir` as `localhost-cert.pem` and `localhost-key.pem`.
pub fn write_localhost_cert(dir: &Path) -> CertFiles {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("self-signed certificate");
    let files = CertFiles {
        cert_pem: dir.join("localhost-cert.pem"),
        key_pem: dir.join("localhost-key.pem"),
    };
    std::fs::write(&files.cert_pem, certified.cert.pem()).expect("write the certificate");
    std::fs::write(&files.key_pem, certified.signing_key.serialize_pem()).expect("write the key");
    files
}
