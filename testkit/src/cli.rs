//! Running the real `coffer` binary against a temporary data directory, for end-to-end
//! tests: the binary is a parameter ([`Coffer::new`]`(env!("CARGO_BIN_EXE_coffer"))` in
//! the tests of the root package, the only place that path is known), and the output
//! helpers every such test needs.

use std::path::Path;
use std::process::{Command, Output};

use sha2::Digest;

/// The `coffer` binary under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coffer {
    bin: &'static str,
}

impl Coffer {
    /// The binary at `bin` (a test passes `env!("CARGO_BIN_EXE_coffer")`).
    pub const fn new(bin: &'static str) -> Coffer {
        Coffer { bin }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        Path::new(self.bin)
    }

    /// A `coffer` command with `--data-dir` and `COFFER_LOG=warn`.
    pub fn command(&self, data_dir: &Path) -> Command {
        let mut c = Command::new(self.bin);
        c.arg("--data-dir").arg(data_dir).env("COFFER_LOG", "warn");
        c
    }
}

/// Runs and returns the output; panics when the command cannot be started.
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

/// SHA-256 as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Parses `coffer import --json` output; panics with both streams when it is not JSON.
pub fn import_summary(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "import --json output is not JSON ({e}): {}\n{}",
            stdout(o),
            stderr(o)
        )
    })
}
