//! Crash test: `coffer import` killed with SIGKILL at random moments, repeatedly. After
//! every kill the volumes verify and hold at least every message the importer had
//! reported durable; the import is then resumed, and in the end every message of the
//! corpus is archived exactly once (no loss, no double storage across restarts).

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use coffer_testkit::mail_corpus::MailCorpus;
use common::*;

fn volume_messages(data: &std::path::Path) -> u64 {
    let out = run(coffer(data).args(["volume", "list", "--json"]));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("volume list json");
    list["volumes"].as_array().map_or(0, |a| {
        a.iter().map(|v| v["messages"].as_u64().unwrap_or(0)).sum()
    })
}

#[test]
fn import_killed_at_random_moments_loses_nothing_and_stores_nothing_twice() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let corpus = MailCorpus::new(2_000, 77);
    let maildir = tmp.path().join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).expect("mkdir");
    }
    let mut digests = std::collections::BTreeSet::new();
    for i in 0..corpus.len() {
        let raw = corpus.message(i);
        digests.insert(sha256_hex(&raw));
        std::fs::write(
            maildir
                .join("cur")
                .join(format!("{:010}.{i}.test:2,S", 1_700_000_000 + i)),
            raw,
        )
        .expect("write");
    }
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_nanos() as u64;
    eprintln!("crash test seed {seed}");
    let mut acknowledged = 0u64;
    for round in 0..5 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = Duration::from_millis(300 + (seed >> 33) % 2_000);
        let mut child = coffer(&data)
            .arg("import")
            .arg(&maildir)
            .args(["--progress-json", "--local-domain", "corp.example"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn import");
        std::thread::sleep(delay);
        let _ = child.kill();
        let child_out = child.stdout.take().expect("stdout");
        let _ = child.wait();
        let mut round_archived = 0;
        for line in BufReader::new(child_out).lines() {
            let line = line.expect("line");
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && let Some(a) = v["archived"].as_u64()
            {
                round_archived = round_archived.max(a);
            }
        }
        acknowledged += round_archived;
        let stored = volume_messages(&data);
        eprintln!(
            "round {round}: killed after {delay:?}; {acknowledged} acknowledged, {stored} stored"
        );
        assert!(
            stored >= acknowledged,
            "round {round}: {stored} messages in volumes, {acknowledged} acknowledged"
        );
        let verify = run(coffer(&data).arg("verify"));
        assert_eq!(
            verify.status.code(),
            Some(0),
            "round {round}: {}",
            stdout(&verify)
        );
    }
    let finish = run(coffer(&data).arg("import").arg(&maildir).args([
        "--json",
        "--local-domain",
        "corp.example",
    ]));
    let summary = import_summary(&finish);
    assert_eq!(finish.status.code(), Some(0), "{summary}");
    assert_eq!(
        volume_messages(&data),
        digests.len() as u64,
        "every message exactly once"
    );
    for sha in digests.iter().step_by(97) {
        let shown = run(coffer(&data).args(["show", "--json", sha]));
        assert_eq!(shown.status.code(), Some(0), "{sha}: {}", stderr(&shown));
    }
    assert_eq!(run(coffer(&data).arg("verify")).status.code(), Some(0));
    let list: serde_json::Value =
        serde_json::from_slice(&run(coffer(&data).args(["volume", "list", "--json"])).stdout)
            .expect("json");
    assert_eq!(
        list["volumes"][0]["index_lag"], 0,
        "the index caught up: {list}"
    );
}
