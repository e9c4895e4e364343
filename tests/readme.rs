//! The README's deployment walkthrough, run literally (issue 23): every shell block marked
//! `<!-- readme-test -->` in README.md is taken from the README at test time — not copied
//! here — and run, in order, in one bash session on a fresh data directory: serve, sign in
//! with curl, create an officer, a user and a journal token over the API, import through
//! the server with the local domain the README adds, send a message with swaks, and find
//! everything as the officer.
//!
//! What the test changes, and only that: the example ports become free ones, `cargo
//! install` is skipped (the built binary is put first on the PATH instead), `$HOME` is a
//! temporary directory holding the mbox the README imports, and between blocks it waits
//! for the server to listen (and for the index to commit before the searches).

mod common;

use std::process::Command;

/// The shell blocks of README.md marked `<!-- readme-test -->`, in order.
fn marked_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "<!-- readme-test -->" {
            continue;
        }
        let fence = lines.next().unwrap_or_default();
        assert_eq!(
            fence.trim(),
            "```sh",
            "a marked block must be a ```sh block"
        );
        let mut block = String::new();
        for line in lines.by_ref() {
            if line.trim() == "```" {
                break;
            }
            block.push_str(line);
            block.push('\n');
        }
        blocks.push(block);
    }
    blocks
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// An mbox of messages between people of example.com (what the README imports).
fn old_mbox(messages: usize) -> String {
    (0..messages)
        .map(|n| {
            format!(
                "From ann@example.com Mon Feb  5 09:00:00 2024\n\
                 From: Ann <ann@example.com>\nTo: carl@example.com\nSubject: Old note {n}\n\
                 Date: Mon, 5 Feb 2024 09:00:{n:02} +0000\nMessage-ID: <old-{n}@example.com>\n\n\
                 Archived note number {n}.\n\n"
            )
        })
        .collect()
}

#[test]
fn the_readme_deployment_walkthrough_works_as_written() {
    let readme = std::fs::read_to_string(common::repo().join("README.md")).expect("README.md");
    let blocks = marked_blocks(&readme);
    assert!(
        blocks.len() >= 4,
        "the README marks its serve, sign-in, import and search blocks: {blocks:?}"
    );
    let home = tempfile::tempdir().expect("home");
    std::fs::create_dir_all(home.path().join("mail")).expect("mkdir");
    let imported = 6;
    std::fs::write(home.path().join("mail/old.mbox"), old_mbox(imported)).expect("mbox");
    let (http, smtp) = (free_port(), free_port());
    let ready = format!(
        "for _ in $(seq 300); do curl -sf http://127.0.0.1:{http}/healthz >/dev/null && break; sleep 0.1; done\n"
    );
    // Whatever happens, the server the first block starts in the background goes with
    // the script (it holds the output pipe open otherwise).
    let mut script = String::from("trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n");
    for (i, block) in blocks.iter().enumerate() {
        let block = block
            .replace("127.0.0.1:8080", &format!("127.0.0.1:{http}"))
            .replace("127.0.0.1:2525", &format!("127.0.0.1:{smtp}"));
        for line in block.lines() {
            if line.trim_start().starts_with("cargo install") {
                continue;
            }
            script.push_str(line);
            script.push('\n');
        }
        script.push_str(&ready);
        if i + 2 == blocks.len() {
            // Before the searches: the index commits within a second of a delivery.
            script.push_str("sleep 2\n");
        }
    }
    // Stop the server the first block started, as a service manager would (SIGTERM).
    script.push_str("kill %1\nwait\n");
    let bin_dir = common::COFFER
        .path()
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("timeout")
        .args(["300", "bash", "-euo", "pipefail", "-c", &script])
        .env("HOME", home.path())
        .env("PATH", path)
        .env("COFFER_LOG", "warn")
        .env_remove("COFFER_DATA_DIR")
        .env_remove("COFFER_ADMIN_PASSWORD")
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "the walkthrough failed\nscript:\n{script}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // The two searches print their totals last: the swaks message, and everything.
    let totals: Vec<u64> = stdout
        .lines()
        .rev()
        .filter_map(|l| l.trim().parse().ok())
        .take(2)
        .collect();
    assert_eq!(
        totals,
        vec![imported as u64 + 1, 1],
        "officer's totals (everything, then the contract)\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
}
