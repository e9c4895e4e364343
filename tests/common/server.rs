//! `coffer serve` as a child process on ephemeral ports, for end-to-end tests.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

/// The admin password every test server starts with.
pub const ADMIN_PASSWORD: &str = "admin-password-e2e-7f3k";

/// A running server.
pub struct Server {
    /// The child process.
    pub child: Child,
    /// HTTP address.
    pub addr: SocketAddr,
    /// SMTP address, when started with SMTP.
    pub smtp: Option<SocketAddr>,
    /// LMTP address, when started with LMTP.
    pub lmtp: Option<SocketAddr>,
    /// What it printed before it was ready.
    pub stdout: Vec<String>,
    /// The data directory.
    pub data: PathBuf,
}

/// Starts `coffer serve` with HTTP and SMTP on ephemeral ports (plus `extra` args) and
/// waits for its "listening" line. `log` is the `COFFER_LOG` filter.
pub fn start_server(data: &Path, extra: &[&str], log: &str) -> Server {
    let mut child = super::coffer(data)
        .args(["serve", "--http", "127.0.0.1:0", "--smtp", "127.0.0.1:0"])
        .args(extra)
        .env("COFFER_LOG", log)
        .env("COFFER_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut stdout = Vec::new();
    let (mut smtp, mut lmtp) = (None, None);
    let addr = loop {
        let Some(line) = lines.next() else {
            let mut err = String::new();
            let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
            panic!("serve exited before listening: {stdout:?}\n{err}");
        };
        let line = line.expect("line");
        stdout.push(line.clone());
        if let Some(rest) = line.strip_prefix("coffer: smtp listening on ") {
            smtp = Some(rest.parse().expect("smtp address"));
        }
        if let Some(rest) = line.strip_prefix("coffer: lmtp listening on ") {
            lmtp = Some(rest.parse().expect("lmtp address"));
        }
        if let Some(rest) = line.strip_prefix("coffer: listening on http://") {
            break rest.parse().expect("address");
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        addr,
        smtp,
        lmtp,
        stdout,
        data: data.to_path_buf(),
    }
}

/// SIGTERM, wait for a clean exit, and return stderr.
pub fn stop_server(mut server: Server) -> String {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut stderr = String::new();
    server
        .child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let exit = server.child.wait().expect("wait");
    assert!(
        exit.success(),
        "serve exited with {exit}; stderr:\n{stderr}"
    );
    stderr
}

/// SIGKILL, no questions asked.
pub fn kill_server(mut server: Server) {
    let _ = server.child.kill();
    let _ = server.child.wait();
}
