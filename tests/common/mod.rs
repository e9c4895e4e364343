//! Helpers for the end-to-end tests: run the real `coffer` binary against a temporary
//! data directory.

#![allow(dead_code, unreachable_pub, unused_imports)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::Digest;

mod server;
mod smtp_client;
pub use server::*;
pub use smtp_client::SmtpClient;

/// The built binary.
pub fn coffer_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_coffer"))
}

/// A `coffer` command with `--data-dir`.
pub fn coffer(data_dir: &Path) -> Command {
    let mut c = Command::new(coffer_bin());
    c.arg("--data-dir").arg(data_dir).env("COFFER_LOG", "warn");
    c
}

/// Runs and returns the output, printing stderr on failure to spawn.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run coffer")
}

/// Stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// SHA-256 hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.eml` fixture under testdata/eml/<suites>, sorted.
pub fn eml_fixtures(suites: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for suite in suites {
        let dir = repo().join("testdata/eml").join(suite);
        for e in std::fs::read_dir(&dir).expect("fixture dir") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "eml") {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no fixtures found in {suites:?}");
    out
}

/// Parses `coffer import --json` output.
pub fn import_summary(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "import --json output is not JSON ({e}): {}\n{}",
            stdout(o),
            stderr(o)
        )
    })
}
