//! `coffer serve` as a child process on ephemeral ports, for end-to-end tests.
//!
//! The child belongs to the [`Server`] value: dropping it (at the end of a test, or while
//! a failing test unwinds) kills and reaps the process, so no test leaves a server
//! running. [`stop_server`] stops it cleanly instead and checks that it exited well.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use crate::cli::Coffer;

/// The admin password every test server starts with.
pub const ADMIN_PASSWORD: &str = "admin-password-e2e-7f3k";

/// A child process that is killed (SIGKILL) and reaped when dropped, unless it has
/// already been waited for.
#[derive(Debug)]
pub struct KillOnDrop(Child);

impl KillOnDrop {
    /// Takes ownership of `child`.
    pub fn new(child: Child) -> KillOnDrop {
        KillOnDrop(child)
    }
}

impl Deref for KillOnDrop {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // After a successful wait both are no-ops (std keeps the exit status and sends
        // no signal to a reaped process, whose id may have been reused).
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    /// The child process (killed when the server is dropped).
    pub child: KillOnDrop,
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

impl Coffer {
    /// Starts `coffer serve` with HTTP and SMTP on ephemeral ports (plus `extra` args) and
    /// waits for its "listening" line. `log` is the `COFFER_LOG` filter. Panics when the
    /// server exits before listening (with what it printed).
    pub fn start_server(&self, data: &Path, extra: &[&str], log: &str) -> Server {
        self.start_server_with_env(data, extra, log, &[])
    }

    /// [`Coffer::start_server`] with more environment variables for the server.
    pub fn start_server_with_env(
        &self,
        data: &Path,
        extra: &[&str],
        log: &str,
        env: &[(&str, &str)],
    ) -> Server {
        let child = self
            .command(data)
            .args(["serve", "--http", "127.0.0.1:0", "--smtp", "127.0.0.1:0"])
            .args(extra)
            .envs(env.iter().copied())
            .env("COFFER_LOG", log)
            .env("COFFER_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let mut child = KillOnDrop::new(child);
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
pub fn kill_server(server: Server) {
    drop(server);
}
