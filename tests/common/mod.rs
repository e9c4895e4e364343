//! The binary these end-to-end tests run. The harness itself (running `coffer`,
//! `coffer serve` on ephemeral ports, an SMTP and an HTTP client, the `testdata/eml`
//! fixtures) is `coffer_testkit`; only this package knows where its binary is.

#![allow(dead_code, unreachable_pub, unused_imports)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub use coffer_testkit::cli::{Coffer, import_summary, run, sha256_hex, stderr, stdout};
pub use coffer_testkit::eml::eml_fixtures;
pub use coffer_testkit::http;
pub use coffer_testkit::http::login;
pub use coffer_testkit::server::{ADMIN_PASSWORD, Server, kill_server, stop_server};
pub use coffer_testkit::smtp_client::SmtpClient;

/// The `coffer` binary of this build.
pub const COFFER: Coffer = Coffer::new(env!("CARGO_BIN_EXE_coffer"));

/// A `coffer` command with `--data-dir`.
pub fn coffer(data_dir: &Path) -> Command {
    COFFER.command(data_dir)
}

/// `coffer serve` on ephemeral ports (see [`Coffer::start_server`]); killed when dropped.
pub fn start_server(data: &Path, extra: &[&str], log: &str) -> Server {
    COFFER.start_server(data, extra, log)
}

/// The repository root.
pub fn repo() -> PathBuf {
    coffer_testkit::repo_root()
}

/// Runs a `coffer` command that must succeed; its stdout.
pub fn cli(data: &Path, args: &[&str]) -> String {
    let out = run(coffer(data).args(args));
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

/// Runs `coffer user add|passwd …` with the password on standard input; it must succeed.
pub fn add_user(data: &Path, args: &[&str], password: &str) {
    use std::io::Write;
    let mut child = coffer(data)
        .args(args)
        .arg("--password-stdin")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(password.as_bytes())
        .expect("password");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Polls disposition run `run` until it is `executing` (certified, keys not all
/// destroyed yet, or paused there), for at most ten seconds; whether it got there.
pub async fn wait_until_certified(addr: std::net::SocketAddr, session: &str, run: u64) -> bool {
    for _ in 0..200 {
        let r = http::get(addr, &format!("/api/v1/dispositions/{run}"), Some(session)).await;
        if r.json()["state"] == "executing" {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// Waits until the running server has applied every message of `ids` to its catalog
/// (`session`: an administrator's), for at most twenty seconds. Its applier runs moments
/// behind the acknowledgement (the `201`), so a question about a message right after it
/// (why it is kept, whether a disposition run takes it) may find nothing yet: seen under
/// the load of the full test run.
pub async fn wait_applied(addr: std::net::SocketAddr, session: &str, ids: &[&str]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    for id in ids {
        loop {
            let r = http::get(
                addr,
                &format!("/api/v1/retention/messages/{id}"),
                Some(session),
            )
            .await;
            if r.status == 200 {
                break;
            }
            assert_eq!(r.status, 404, "{id}: {}", r.text());
            assert!(
                std::time::Instant::now() < deadline,
                "message {id} was never applied"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
