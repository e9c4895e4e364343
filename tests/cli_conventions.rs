//! Command-line conventions (issue 23, item 5): no escape codes in piped output or logs,
//! `NO_COLOR` honoured on a terminal, enumerated choices in `--help`, shell completions
//! and man pages generated from the command-line definitions, the lock's holder cleared
//! on a clean stop.

mod common;

use std::process::Command;

use common::*;

/// A data directory holding one message whose body has the word `quarterly`.
fn archive() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    let eml = tmp.path().join("m.eml");
    std::fs::write(
        &eml,
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: Plan\r\n\
         Date: Tue, 3 Mar 2026 10:00:00 +0000\r\n\r\nThe quarterly plan.\r\n",
    )
    .expect("eml");
    let out = run(coffer(&tmp.path().join("data"))
        .args(["import", "--mailbox", "b@example.com"])
        .arg(&eml));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    tmp
}

#[test]
fn piped_output_and_logs_carry_no_escape_codes() {
    let tmp = archive();
    let data = tmp.path().join("data");
    let out = run(coffer(&data).args(["search", "quarterly"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("quarterly"), "{}", stdout(&out));
    assert!(!out.stdout.contains(&0x1b), "escape codes in piped output");
    // Logs (stderr, a pipe here) at a verbose level carry none either.
    let out = run(coffer(&data)
        .env("COFFER_LOG", "debug")
        .args(["search", "from:"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !out.stderr.contains(&0x1b),
        "escape codes in logs: {}",
        stderr(&out)
    );
    // Clean stop: the lock file's holder line is cleared.
    let lock = std::fs::read_to_string(data.join("LOCK")).expect("LOCK");
    assert_eq!(lock, "", "the holder is cleared after a clean stop");
}

#[test]
fn bold_on_a_terminal_only_and_never_under_no_color() {
    let tmp = archive();
    let data = tmp.path().join("data");
    // `script` gives the command a terminal.
    let on_terminal = |no_color: bool| {
        let mut command = Command::new("script");
        command
            .args(["-qec"])
            .arg(format!(
                "{} --data-dir {} search quarterly",
                COFFER.path().display(),
                data.display()
            ))
            .arg("/dev/null")
            .env("COFFER_LOG", "warn");
        if no_color {
            command.env("NO_COLOR", "1");
        } else {
            command.env_remove("NO_COLOR");
        }
        let out = command.output().expect("script (util-linux)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    assert!(
        on_terminal(false).windows(4).any(|w| w == b"\x1b[1m"),
        "highlights are bold on a terminal"
    );
    assert!(
        !on_terminal(true).contains(&0x1b),
        "NO_COLOR turns them off"
    );
}

#[test]
fn help_lists_choices_and_completions_and_man_pages_are_generated() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let help = run(coffer(&data).args(["search", "--help"]));
    assert!(
        stdout(&help).contains("[possible values: relevance, date-desc, date-asc, date]"),
        "{}",
        stdout(&help)
    );
    let help = run(coffer(&data).args(["user", "add", "--help"]));
    assert!(
        stdout(&help).contains("possible values: admin, officer, auditor, user"),
        "{}",
        stdout(&help)
    );
    for shell in ["bash", "zsh", "fish"] {
        let script = run(coffer(&data).args(["completions", shell]));
        assert_eq!(script.status.code(), Some(0));
        assert!(stdout(&script).contains("import"), "{shell}");
    }
    let man = run(coffer(&data).arg("man"));
    assert!(stdout(&man).contains(".TH coffer 1"), "{}", stdout(&man));
    let dir = tmp.path().join("man");
    let out = run(coffer(&data).args(["man", "--dir"]).arg(&dir));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for page in [
        "coffer.1",
        "coffer-import.1",
        "coffer-user-add.1",
        "coffer-domain-add.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page)).expect(page);
        assert!(text.contains(".TH"), "{page}");
    }
}
