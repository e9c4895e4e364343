//! Disposition end to end with the real binary (issue 26): mail dated years back and
//! current mail under policies of 1 year, 7 years and forever, a legal hold on one
//! custodian placed from the shell (`coffer hold`); a disposition run proposed by one
//! administrator, refused to that same administrator and approved by a second; the
//! expired, unheld messages gone from search, view and raw, their data keys gone from
//! the key store (tombstones in their place); everything else untouched; `coffer verify`
//! and a standalone `verify --volume` intact and naming the disposed records; the signed
//! certificate verified offline with the public key (and a tampered copy refused).
//!
//! And a SIGKILL in the middle of a run — after the certificate, before the keys are
//! destroyed; after the keys, before index and catalog are cleaned — leaves each message
//! readable or certified as disposed, and the next start finishes the run.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

fn message(to: &str, date: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: sender@outside.example\r\nTo: {to}\r\nSubject: about {subject}-topic\r\nDate: {date}\r\nMessage-ID: <{subject}@disposition.test>\r\n\r\nThe body of {subject} says zanzibar{subject}, and quux{subject}quux.\r\n"
    )
    .into_bytes()
}

fn cli_json(data: &Path, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&cli(data, args)).expect("json output")
}

const PASSWORD: &str = "disposition-test-password-1";

/// Tombstones (destroyed keys) and live keys in the key log.
fn key_log_counts(data: &Path) -> (usize, usize) {
    let log = std::fs::read(data.join("keys/data-keys/keys.log")).expect("key log");
    assert_eq!(&log[..8], b"COFFKEYS");
    let entries = &log[32..];
    assert_eq!(entries.len() % 69, 0, "whole entries only");
    let (mut live, mut destroyed) = (0, 0);
    for e in entries.chunks(69) {
        match e[0] {
            1 => live += 1,
            2 => destroyed += 1,
            t => panic!("entry type {t}"),
        }
    }
    (live, destroyed)
}

struct Archive {
    journal: String,
    /// subject → id
    ids: std::collections::BTreeMap<String, String>,
}

/// Users, policies, a hold from the shell, and mail journaled over HTTP. Returns the
/// archive; the server keeps running.
fn populate(data: &Path, server: &Server, runtime: &tokio::runtime::Runtime) -> Archive {
    add_user(
        data,
        &["user", "add", "admin2", "--role", "admin"],
        PASSWORD,
    );
    add_user(
        data,
        &[
            "user",
            "add",
            "oscar",
            "--role",
            "officer",
            "--domain",
            "corp.example",
        ],
        PASSWORD,
    );
    add_user(
        data,
        &["user", "add", "audrey", "--role", "auditor"],
        PASSWORD,
    );
    let journal = cli_json(data, &["token", "create", "--name", "mx", "--json"])["token"]
        .as_str()
        .expect("token")
        .to_string();
    cli(data, &["retention", "policy", "set", "short", "1y"]);
    cli(data, &["retention", "policy", "set", "long", "7y"]);
    cli(data, &["retention", "policy", "set", "keep", "forever"]);
    cli(data, &["retention", "assign", "--default", "short"]);
    cli(
        data,
        &[
            "retention",
            "assign",
            "--mailbox",
            "victor@corp.example",
            "long",
        ],
    );
    cli(
        data,
        &[
            "retention",
            "assign",
            "--mailbox",
            "bob@corp.example",
            "keep",
        ],
    );
    // A hold on ursula, from the shell (through the running server's socket).
    let placed = cli(
        data,
        &[
            "hold",
            "place",
            "Matter 7",
            "--reason",
            "litigation, case 7",
            "--custodian",
            "ursula@corp.example",
        ],
    );
    assert!(placed.contains("in force"), "{placed}");
    let addr = server.addr;
    let ids = runtime.block_on(async {
        let mut ids = std::collections::BTreeMap::new();
        for (rcpt, date, subject) in [
            (
                "carol@corp.example",
                "Wed, 15 Jan 2020 10:00:00 +0000",
                "carolold",
            ),
            (
                "dave@corp.example",
                "Sun, 03 Mar 2019 09:00:00 +0000",
                "daveold",
            ),
            (
                "ursula@corp.example",
                "Wed, 15 Jan 2020 10:00:00 +0000",
                "ursulaold",
            ),
            (
                "victor@corp.example",
                "Wed, 15 Jan 2020 10:00:00 +0000",
                "victorold",
            ),
            (
                "bob@corp.example",
                "Wed, 15 Jan 2020 10:00:00 +0000",
                "bobold",
            ),
            (
                "carol@corp.example",
                "Mon, 30 Nov 2026 10:00:00 +0000",
                "carolnew",
            ),
        ] {
            let r = http::request(
                addr,
                "POST",
                &format!(
                    "/api/v1/messages?mail_from=sender%40outside.example&rcpt={}",
                    rcpt.replace('@', "%40")
                ),
                Some(&journal),
                Some("message/rfc822"),
                &message(rcpt, date, subject),
            )
            .await;
            assert_eq!(r.status, 201, "{}", r.text());
            ids.insert(
                subject.to_string(),
                r.json()["id"].as_str().expect("id").to_string(),
            );
        }
        ids
    });
    Archive { journal, ids }
}

/// Waits until a search by `token` for `word` finds `n` messages.
async fn search_count(addr: std::net::SocketAddr, token: &str, word: &str) -> u64 {
    let r = http::get(addr, &format!("/api/v1/search?q={word}"), Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["total"].as_u64().expect("total")
}

async fn indexed(addr: std::net::SocketAddr, token: &str, word: &str) {
    for _ in 0..100 {
        if search_count(addr, token, word).await > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{word} never became searchable");
}

#[test]
fn a_run_proposed_approved_and_certified_shreds_only_expired_unheld_mail() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let archive = populate(&data, &server, &runtime);
    let addr = server.addr;
    let id = |s: &str| archive.ids[s].clone();
    let (live_before, destroyed_before) = key_log_counts(&data);
    assert_eq!(destroyed_before, 0);
    assert!(live_before >= 6, "one data key per archived message");

    let cert_path = tmp.path().join("certificate.json");
    runtime.block_on(async {
        let admin = login(addr, "admin", ADMIN_PASSWORD).await;
        let admin2 = login(addr, "admin2", PASSWORD).await;
        let oscar = login(addr, "oscar", PASSWORD).await;
        let audrey = login(addr, "audrey", PASSWORD).await;
        indexed(addr, &oscar, "zanzibarcarolnew").await;
        for s in ["carolold", "daveold", "ursulaold"] {
            indexed(addr, &oscar, &format!("zanzibar{s}")).await;
        }
        // Roles: an officer and an auditor propose nothing; they read runs.
        assert_eq!(
            http::request(
                addr,
                "POST",
                "/api/v1/dispositions",
                Some(&oscar),
                None,
                b""
            )
            .await
            .status,
            403
        );
        assert_eq!(
            http::request(
                addr,
                "POST",
                "/api/v1/dispositions",
                Some(&audrey),
                None,
                b""
            )
            .await
            .status,
            403
        );
        let r = http::request(
            addr,
            "POST",
            "/api/v1/dispositions",
            Some(&admin),
            None,
            b"",
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let run = r.json();
        assert_eq!(run["state"], "proposed", "{run}");
        assert_eq!(run["proposed_by"], "admin", "{run}");
        assert_eq!(run["total"], 2, "carolold and daveold only: {run}");
        let counts = run["counts"].as_array().expect("counts");
        assert_eq!(counts.len(), 1, "{run}");
        assert_eq!(counts[0]["policy"], "short");
        assert_eq!(counts[0]["messages"], 2);
        let run_id = run["id"].as_i64().expect("id");
        // The proposer cannot approve it.
        let r = http::request(
            addr,
            "POST",
            &format!("/api/v1/dispositions/{run_id}/approve"),
            Some(&admin),
            None,
            b"",
        )
        .await;
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(r.text().contains("second person"), "{}", r.text());
        // The auditor reads it; a user-less role cannot approve.
        let r = http::get(
            addr,
            &format!("/api/v1/dispositions/{run_id}"),
            Some(&audrey),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            http::get(
                addr,
                &format!("/api/v1/dispositions/{run_id}/certificate"),
                Some(&audrey)
            )
            .await
            .status,
            404
        );
        // A second administrator approves: the server executes it.
        let r = http::request(
            addr,
            "POST",
            &format!("/api/v1/dispositions/{run_id}/approve"),
            Some(&admin2),
            None,
            b"",
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let run = r.json();
        assert_eq!(run["state"], "executed", "{run}");
        assert_eq!(run["decided_by"], "admin2", "{run}");
        assert_eq!(run["disposed"], 2, "{run}");
        // Gone from search, view and raw.
        for s in ["carolold", "daveold"] {
            assert_eq!(
                search_count(addr, &oscar, &format!("zanzibar{s}")).await,
                0,
                "{s}"
            );
            let r = http::get(addr, &format!("/api/v1/messages/{}", id(s)), Some(&oscar)).await;
            assert_eq!(r.status, 404, "{s}: {}", r.text());
            let r = http::get(
                addr,
                &format!("/api/v1/messages/{}/raw", id(s)),
                Some(&oscar),
            )
            .await;
            assert_eq!(r.status, 404, "{s}: {}", r.text());
        }
        // Held, unexpired and kept-for-ever mail untouched.
        for s in ["ursulaold", "victorold", "bobold", "carolnew"] {
            assert_eq!(
                search_count(addr, &oscar, &format!("zanzibar{s}")).await,
                1,
                "{s}"
            );
            let r = http::get(
                addr,
                &format!("/api/v1/messages/{}/raw", id(s)),
                Some(&oscar),
            )
            .await;
            assert_eq!(r.status, 200, "{s}: {}", r.text());
            assert!(r.text().contains(&format!("zanzibar{s}")), "{s}");
        }
        // The certificate, for the auditor.
        let r = http::get(
            addr,
            &format!("/api/v1/dispositions/{run_id}/certificate"),
            Some(&audrey),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        std::fs::write(&cert_path, r.text()).expect("save certificate");
        let cert = r.json();
        assert_eq!(cert["proposed_by"], "admin");
        assert_eq!(cert["approved_by"], "admin2");
        assert_eq!(cert["count"], 2);
        let certified: Vec<&str> = cert["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|r| r["id"].as_str().expect("id"))
            .collect();
        assert!(
            certified.contains(&id("carolold").as_str())
                && certified.contains(&id("daveold").as_str()),
            "{cert}"
        );
        assert_eq!(
            cert["holds_checked"].as_array().expect("holds").len(),
            1,
            "{cert}"
        );
        // The audit trail holds it too.
        let r = http::get(
            addr,
            "/api/v1/audit?action=disposition.certify",
            Some(&audrey),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            r.text()
                .contains(&cert["records_root"].as_str().expect("root").to_string()),
            "{}",
            r.text()
        );
        // Nothing left to propose.
        let r = http::request(
            addr,
            "POST",
            "/api/v1/dispositions",
            Some(&admin),
            None,
            b"",
        )
        .await;
        assert_eq!(r.status, 400, "{}", r.text());
    });
    let _ = archive.journal;

    // The data keys are gone from the key store: two tombstones, two fewer keys.
    let (live, destroyed) = key_log_counts(&data);
    assert_eq!(destroyed, 2);
    assert_eq!(live, live_before - 2);
    // The auditors' report counts them as disposed.
    let report = cli_json(&data, &["retention", "report", "--json"]);
    let disposed: u64 = report["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter(|l| l["policy"] == "short")
        .map(|l| l["disposed"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(disposed, 2, "{report}");
    // The shell's view of the run and its certificate (through the server).
    let shown = cli_json(&data, &["disposition", "show", "1", "--json"]);
    assert_eq!(shown["state"], "executed", "{shown}");
    let from_cli = cli(&data, &["disposition", "certificate", "1"]);
    assert_eq!(
        from_cli.trim_end(),
        std::fs::read_to_string(&cert_path)
            .expect("cert")
            .trim_end()
    );
    drop(server);

    // `coffer show` of a disposed message: refused, saying why.
    let out = run(coffer(&data).args(["show", &id("carolold")]));
    assert_ne!(out.status.code(), Some(0));
    // The certificate verifies offline with the public key; a changed byte does not.
    let public = data.join("keys/archive.pub");
    let out = run(coffer(&data)
        .args(["disposition", "verify"])
        .arg(&cert_path)
        .arg("--public-key")
        .arg(&public));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("2 record(s) disposed of"),
        "{}",
        stdout(&out)
    );
    let tampered = tmp.path().join("tampered.json");
    let text = std::fs::read_to_string(&cert_path).expect("cert");
    std::fs::write(
        &tampered,
        text.replacen("\"policy\":\"short\"", "\"policy\":\"long\"", 1),
    )
    .expect("write");
    let out = run(coffer(&data)
        .args(["disposition", "verify"])
        .arg(&tampered)
        .arg("--public-key")
        .arg(&public));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));

    // `coffer verify`: intact, the disposed records listed as disposed, the catalog
    // consistent with the volumes.
    let out = run(coffer(&data).args(["verify", "--json"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(report["intact"], true);
    let mail = report["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["messages"].as_u64().unwrap_or(0) > 0)
        .expect("mail volume")
        .clone();
    let disposed: Vec<u64> = mail["disposed"]
        .as_array()
        .expect("disposed")
        .iter()
        .map(|d| d["seq"].as_u64().expect("seq"))
        .collect();
    let seq_of = |s: &str| {
        id(s)
            .rsplit('-')
            .next()
            .expect("seq")
            .parse::<u64>()
            .expect("seq")
    };
    assert_eq!(
        disposed,
        vec![seq_of("carolold"), seq_of("daveold")],
        "{mail}"
    );
    assert_eq!(mail["encrypted"], 6, "{mail}");
    assert_eq!(mail["decrypted"], 4, "{mail}");
    let text = cli(&data, &["verify"]);
    assert!(text.contains("disposed: record"), "{text}");
    // A copied volume verified alone: intact (the chain covers the stored bytes).
    let year = id("carolold").split('-').next().expect("year").to_string();
    let out = run(coffer(&data)
        .args(["verify", "--volume"])
        .arg(data.join("volumes").join(&year))
        .arg("--public-key")
        .arg(&public));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("encrypted content"),
        "{}",
        stdout(&out)
    );
    // ... and with the run's certificate it names the disposed records; a tampered
    // certificate fails the verification.
    let out = run(coffer(&data)
        .args(["verify", "--json", "--volume"])
        .arg(data.join("volumes").join(&year))
        .arg("--public-key")
        .arg(&public)
        .arg("--certificate")
        .arg(&cert_path));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let alone: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let listed: Vec<u64> = alone["volumes"][0]["disposed"]
        .as_array()
        .expect("disposed")
        .iter()
        .map(|d| d["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(
        listed,
        vec![seq_of("carolold"), seq_of("daveold")],
        "{alone}"
    );
    let out = run(coffer(&data)
        .args(["verify", "--volume"])
        .arg(data.join("volumes").join(&year))
        .arg("--public-key")
        .arg(&public)
        .arg("--certificate")
        .arg(&tampered));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    // The disposed content — a body word and the subject, neither of which the test
    // searched for (searches are audited with their words) — is nowhere in plain text
    // on disk: not in the volumes (encrypted), the index (purged and merged), the
    // catalog (rows removed, zeroed, log checkpointed) or the audit trail.
    // (The check can see: a kept message's row, with its content hash, is in the
    // catalog file as it is. The catalog keeps no subjects at all since issue 24.)
    let kept = message(
        "carol@corp.example",
        "Mon, 30 Nov 2026 10:00:00 +0000",
        "carolnew",
    );
    let kept_sha = hex::decode(sha256_hex(&kept)).expect("hex");
    assert!(
        std::fs::read(data.join("catalog.sqlite"))
            .expect("catalog")
            .windows(kept_sha.len())
            .any(|w| w == kept_sha),
        "the kept message's row is in the catalog"
    );
    for entry in walk(&data) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        for needle in [
            &b"quuxcarololdquux"[..],
            &b"quuxdaveoldquux"[..],
            &b"carolold-topic"[..],
            &b"daveold-topic"[..],
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} holds disposed text",
                entry.display()
            );
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// SIGKILL at each step of an execution: never a message neither readable nor
/// certified; the next start finishes the run.
#[test]
fn a_run_killed_midway_is_finished_by_the_next_start() {
    for (var, step) in [
        ("COFFER_PAUSE_DISPOSITION", "certified"),
        ("COFFER_PAUSE_KEYSTORE", "rewritten"),
        ("COFFER_PAUSE_DISPOSITION", "keys"),
    ] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        let server = COFFER.start_server_with_env(
            &data,
            &["--local-domain", "corp.example"],
            "warn",
            &[(var, step)],
        );
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let archive = populate(&data, &server, &runtime);
        let addr = server.addr;
        let carol = archive.ids["carolold"].clone();
        runtime.block_on(async {
            let admin = login(addr, "admin", ADMIN_PASSWORD).await;
            let admin2 = login(addr, "admin2", PASSWORD).await;
            let r = http::request(
                addr,
                "POST",
                "/api/v1/dispositions",
                Some(&admin),
                None,
                b"",
            )
            .await;
            assert_eq!(r.status, 201, "{}", r.text());
            // The approval hangs at the pause: the server is killed there.
            let approve = http::request(
                addr,
                "POST",
                "/api/v1/dispositions/1/approve",
                Some(&admin2),
                None,
                b"",
            );
            assert!(
                tokio::time::timeout(Duration::from_secs(5), approve)
                    .await
                    .is_err(),
                "{step}: paused"
            );
        });
        kill_server(server);
        // Between the crash and the next start: readable, or certified (or both).
        let run_state = cli_json(&data, &["disposition", "show", "1", "--json"]);
        let certified = run_state["certified"] == true;
        let readable = run(coffer(&data).args(["show", &carol])).status.code() == Some(0);
        assert!(
            readable || certified,
            "{step}: {carol} neither readable nor certified: {run_state}"
        );
        match step {
            "certified" | "rewritten" => assert!(readable && certified, "{step}: {run_state}"),
            _ => assert!(!readable && certified, "{step}: {run_state}"),
        }
        // The next start finishes it.
        let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
        let run_state = cli_json(&data, &["disposition", "show", "1", "--json"]);
        assert_eq!(run_state["state"], "executed", "{step}: {run_state}");
        assert_eq!(run_state["disposed"], 2, "{step}: {run_state}");
        runtime.block_on(async {
            let oscar = login(server.addr, "oscar", PASSWORD).await;
            let r = http::get(
                server.addr,
                &format!("/api/v1/messages/{carol}"),
                Some(&oscar),
            )
            .await;
            assert_eq!(r.status, 404, "{step}: {}", r.text());
            assert_eq!(
                search_count(server.addr, &oscar, "zanzibarcarolold").await,
                0,
                "{step}"
            );
            indexed(server.addr, &oscar, "zanzibarursulaold").await;
        });
        drop(server);
        assert_eq!(key_log_counts(&data).1, 2, "{step}");
        let out = run(coffer(&data).args(["verify"]));
        assert_eq!(out.status.code(), Some(0), "{step}: {}", stdout(&out));
    }
}

/// Issue 26: a copy of a message that arrives while a run shreds that message — after
/// the certificate, before its key is destroyed and its catalog rows removed — is not
/// deduplicated against it (a link or a "duplicate", acknowledged, then unreadable once
/// the key is gone) but stored anew with its own key: readable after the run, whether
/// the run finishes in the same process or after a SIGKILL and a restart. Delivered
/// three ways: the same envelope over HTTP (was a duplicate), new mailboxes through
/// `mode=import` (was a link) and over SMTP.
#[test]
fn a_copy_arriving_while_its_original_is_shredded_is_stored_anew() {
    for crash in [false, true] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        let release = tmp.path().join("release");
        let release_text = release.to_string_lossy().to_string();
        let mut env = vec![("COFFER_PAUSE_DISPOSITION", "certified")];
        if !crash {
            env.push(("COFFER_PAUSE_DISPOSITION_RELEASE", release_text.as_str()));
        }
        let server =
            COFFER.start_server_with_env(&data, &["--local-domain", "corp.example"], "warn", &env);
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let archive = populate(&data, &server, &runtime);
        let addr = server.addr;
        let smtp = server.smtp.expect("smtp");
        let (carol, dave) = (
            archive.ids["carolold"].clone(),
            archive.ids["daveold"].clone(),
        );
        let (again, imported) = runtime.block_on(async {
            let admin = login(addr, "admin", ADMIN_PASSWORD).await;
            let admin2 = login(addr, "admin2", PASSWORD).await;
            let r = http::request(
                addr,
                "POST",
                "/api/v1/dispositions",
                Some(&admin),
                None,
                b"",
            )
            .await;
            assert_eq!(r.status, 201, "{}", r.text());
            assert_eq!(r.json()["total"], 2, "{}", r.text());
            let approve = tokio::spawn(async move {
                http::request(
                    addr,
                    "POST",
                    "/api/v1/dispositions/1/approve",
                    Some(&admin2),
                    None,
                    b"",
                )
                .await
            });
            // Paused once certified: the certificate names both, no key is destroyed yet.
            let certified = wait_until_certified(addr, &admin, 1).await;
            assert!(
                certified,
                "crash {crash}: the run never reached its certificate"
            );
            // The same message, the same envelope, over HTTP.
            let r = http::request(
                addr,
                "POST",
                "/api/v1/messages?mail_from=sender%40outside.example&rcpt=carol%40corp.example",
                Some(&archive.journal),
                Some("message/rfc822"),
                &message(
                    "carol@corp.example",
                    "Wed, 15 Jan 2020 10:00:00 +0000",
                    "carolold",
                ),
            )
            .await;
            assert!(matches!(r.status, 200 | 201), "{}", r.text());
            let again = r.json()["id"].as_str().expect("id").to_string();
            // The other one imported over HTTP into a mailbox it did not have.
            let r = http::request(
                addr,
                "POST",
                "/api/v1/messages?mode=import&mailbox=erin%40corp.example",
                Some(&archive.journal),
                Some("message/rfc822"),
                &message(
                    "dave@corp.example",
                    "Sun, 03 Mar 2019 09:00:00 +0000",
                    "daveold",
                ),
            )
            .await;
            assert!(matches!(r.status, 200 | 201), "{}", r.text());
            let imported = r.json()["id"].as_str().expect("id").to_string();
            // And the first again over SMTP, for another mailbox.
            let bytes = message(
                "carol@corp.example",
                "Wed, 15 Jan 2020 10:00:00 +0000",
                "carolold",
            );
            let code = tokio::task::spawn_blocking(move || {
                SmtpClient::connect(smtp)
                    .expect("smtp")
                    .send("sender@outside.example", &["frank@corp.example"], &bytes)
                    .expect("send")
            })
            .await
            .expect("smtp task");
            assert_eq!(code, 250);
            if crash {
                assert!(
                    tokio::time::timeout(Duration::from_millis(300), approve)
                        .await
                        .is_err(),
                    "paused"
                );
            } else {
                std::fs::write(&release, b"go").expect("release");
                let r = approve.await.expect("approve task");
                assert_eq!(r.status, 200, "{}", r.text());
                assert_eq!(r.json()["state"], "executed", "{}", r.text());
                assert_eq!(r.json()["disposed"], 2, "{}", r.text());
            }
            (again, imported)
        });
        let server = if crash {
            kill_server(server);
            let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
            let run_state = cli_json(&data, &["disposition", "show", "1", "--json"]);
            assert_eq!(run_state["state"], "executed", "{run_state}");
            assert_eq!(run_state["disposed"], 2, "{run_state}");
            server
        } else {
            server
        };
        let addr = server.addr;
        runtime.block_on(async {
            let oscar = login(addr, "oscar", PASSWORD).await;
            // The originals are gone ...
            for id in [&carol, &dave] {
                let r = http::get(addr, &format!("/api/v1/messages/{id}/raw"), Some(&oscar)).await;
                assert_eq!(r.status, 404, "crash {crash}: {id}: {}", r.text());
            }
            // ... the copies acknowledged meanwhile read back, in full.
            for (id, word) in [(&again, "zanzibarcarolold"), (&imported, "zanzibardaveold")] {
                let r = http::get(addr, &format!("/api/v1/messages/{id}"), Some(&oscar)).await;
                assert_eq!(r.status, 200, "crash {crash}: {id}: {}", r.text());
                let r = http::get(addr, &format!("/api/v1/messages/{id}/raw"), Some(&oscar)).await;
                assert_eq!(r.status, 200, "crash {crash}: {id}: {}", r.text());
                assert!(r.text().contains(word), "crash {crash}: {id}");
            }
            // One message each, searchable, the SMTP copy's mailbox with the first.
            indexed(addr, &oscar, "zanzibardaveold").await;
            indexed(addr, &oscar, "zanzibarcarolold").await;
            assert_eq!(search_count(addr, &oscar, "zanzibarcarolold").await, 1);
            // (The link's mailbox reaches the index with its next commit.)
            let mut found = serde_json::Value::Null;
            for _ in 0..100 {
                let r = http::get(
                    addr,
                    "/api/v1/search?q=mailbox:frank@corp.example%20zanzibarcarolold",
                    Some(&oscar),
                )
                .await;
                found = r.json();
                if found["total"] == 1 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(found["total"], 1, "crash {crash}: {found}");
        });
        drop(server);
        let out = run(coffer(&data).args(["verify"]));
        assert_eq!(
            out.status.code(),
            Some(0),
            "crash {crash}: {}",
            stdout(&out)
        );
    }
}

/// A run killed after its certificate, then `coffer import` (which holds the data
/// directory while the server is down) brings a copy of a certified message for a new
/// mailbox: the import stores it anew instead of linking it to the doomed original, so
/// the next start disposes of everything the certificate names (nothing has to be kept
/// against it) and the imported copy reads back.
#[test]
fn an_offline_import_between_a_crash_and_the_restart_stores_its_copy_anew() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = COFFER.start_server_with_env(
        &data,
        &["--local-domain", "corp.example"],
        "warn",
        &[("COFFER_PAUSE_DISPOSITION", "certified")],
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let archive = populate(&data, &server, &runtime);
    let addr = server.addr;
    let dave = archive.ids["daveold"].clone();
    runtime.block_on(async {
        let admin = login(addr, "admin", ADMIN_PASSWORD).await;
        let admin2 = login(addr, "admin2", PASSWORD).await;
        let r = http::request(
            addr,
            "POST",
            "/api/v1/dispositions",
            Some(&admin),
            None,
            b"",
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text());
        tokio::spawn(async move {
            http::request(
                addr,
                "POST",
                "/api/v1/dispositions/1/approve",
                Some(&admin2),
                None,
                b"",
            )
            .await
        });
        let certified = wait_until_certified(addr, &admin, 1).await;
        assert!(certified, "the run never reached its certificate");
    });
    kill_server(server);
    let copy = tmp.path().join("copy.eml");
    std::fs::write(
        &copy,
        message(
            "dave@corp.example",
            "Sun, 03 Mar 2019 09:00:00 +0000",
            "daveold",
        ),
    )
    .expect("write copy");
    let copy_path = copy.to_string_lossy().to_string();
    let summary = cli_json(
        &data,
        &[
            "import",
            &copy_path,
            "--mailbox",
            "erin@corp.example",
            "--json",
        ],
    );
    assert_eq!(summary["archived"], 1, "stored anew, not linked: {summary}");
    let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
    let run_state = cli_json(&data, &["disposition", "show", "1", "--json"]);
    assert_eq!(run_state["state"], "executed", "{run_state}");
    assert_eq!(run_state["disposed"], 2, "nothing withdrawn: {run_state}");
    let addr = server.addr;
    runtime.block_on(async {
        let oscar = login(addr, "oscar", PASSWORD).await;
        let r = http::get(addr, &format!("/api/v1/messages/{dave}/raw"), Some(&oscar)).await;
        assert_eq!(r.status, 404, "the original is disposed of: {}", r.text());
        indexed(addr, &oscar, "zanzibardaveold").await;
        let r = http::get(addr, "/api/v1/search?q=zanzibardaveold", Some(&oscar)).await;
        let hits = r.json();
        assert_eq!(hits["total"], 1, "{hits}");
        let id = hits["hits"][0]["id"].as_str().expect("id").to_string();
        assert_ne!(id, dave);
        let r = http::get(addr, &format!("/api/v1/messages/{id}/raw"), Some(&oscar)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.text().contains("zanzibardaveold"));
    });
    drop(server);
    let out = run(coffer(&data).args(["verify"]));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}
