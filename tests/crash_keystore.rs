//! The data-key store under SIGKILL of the real binary (issue 26): the wrapped data keys
//! of encrypted message records are appended to `keys/data-keys/keys.log` and made
//! durable before the records they encrypt; a disposition rewrites the log without the
//! destroyed keys (`keys.log.new`, fsync, rename).
//!
//! - Killed during SMTP and HTTP ingest, repeatedly: every acknowledged message reads
//!   back in full after the restart (its key was durable before its record), the key
//!   log holds whole entries only, and `coffer verify` passes.
//! - Killed during a disposition's key destruction — before it, with the new log
//!   written but not renamed (also with that file torn), after it, and at a random
//!   moment while mail keeps arriving — the store opens afterwards with either every
//!   key or the destroyed ones gone (never damaged, never a mix), the next start
//!   finishes the run, and every message not disposed of reads back.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

const PASSWORD: &str = "keystore-crash-password-1";

fn add_user(data: &Path, args: &[&str]) {
    common::add_user(data, args, PASSWORD);
}

/// (live keys, tombstones) of the key log, after checking its header and that it holds
/// whole, type-valid entries only.
fn key_log(data: &Path) -> (usize, usize) {
    let log = std::fs::read(data.join("keys/data-keys/keys.log")).expect("key log");
    assert_eq!(&log[..8], b"COFFKEYS", "header");
    let entries = &log[32..];
    assert_eq!(
        entries.len() % 69,
        0,
        "whole entries only: {} bytes",
        entries.len()
    );
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

fn message(to: &str, date: &str, token: &str) -> Vec<u8> {
    format!(
        "From: sender@outside.example\r\nTo: {to}\r\nSubject: keys {token}\r\nDate: {date}\r\nMessage-ID: <{token}@keystore.test>\r\n\r\nThe body of {token} says zanzibar{token}.\r\n"
    )
    .into_bytes()
}

/// Journals one message over HTTP; its id once acknowledged (`None` when the server is
/// gone or refused).
async fn submit(
    addr: std::net::SocketAddr,
    journal: &str,
    rcpt: &str,
    body: Vec<u8>,
) -> Option<String> {
    let journal = journal.to_string();
    let path = format!(
        "/api/v1/messages?mail_from=sender%40outside.example&rcpt={}",
        rcpt.replace('@', "%40")
    );
    // The client panics on a dead connection: inside a task, that is "not acknowledged".
    let r = tokio::spawn(async move {
        http::request(
            addr,
            "POST",
            &path,
            Some(&journal),
            Some("message/rfc822"),
            &body,
        )
        .await
    })
    .await
    .ok()?;
    (r.status == 201)
        .then(|| r.json()["id"].as_str().map(str::to_string))
        .flatten()
}

/// Reads `id` back in full as `token` (the officer), expecting `word` in it.
async fn reads_back(addr: std::net::SocketAddr, token: &str, id: &str, word: &str) {
    let r = http::get(addr, &format!("/api/v1/messages/{id}/raw"), Some(token)).await;
    assert_eq!(r.status, 200, "{id}: {}", r.text());
    assert!(r.text().contains(word), "{id} lacks {word}");
}

/// First start: an officer, a second administrator, a journal token, a 1-year default
/// policy. Returns the journal token.
fn set_up(data: &Path) -> String {
    add_user(data, &["user", "add", "admin2", "--role", "admin"]);
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
    );
    cli(data, &["retention", "policy", "set", "short", "1y"]);
    cli(data, &["retention", "assign", "--default", "short"]);
    let out: serde_json::Value =
        serde_json::from_str(&cli(data, &["token", "create", "--name", "mx", "--json"]))
            .expect("json");
    out["token"].as_str().expect("token").to_string()
}

#[test]
fn every_acknowledged_message_reads_back_after_sigkill_during_ingest() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_nanos() as u64;
    eprintln!("key store crash seed {seed}");
    let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
    let journal = set_up(&data);
    drop(server);
    // id (HTTP) or SMTP token → the word its body holds.
    let mut acked_http: BTreeMap<String, String> = BTreeMap::new();
    let mut acked_smtp: Vec<String> = Vec::new();
    for round in 0..3u32 {
        let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
        let (addr, smtp) = (server.addr, server.smtp.expect("smtp"));
        let smtp_acked: Arc<Mutex<Vec<String>>> = Arc::default();
        let smtp_thread = {
            let smtp_acked = Arc::clone(&smtp_acked);
            std::thread::spawn(move || {
                let Ok(mut client) = SmtpClient::connect(smtp) else {
                    return;
                };
                for n in 0.. {
                    let token = format!("smtpr{round}n{n}");
                    let body = message(
                        "bob@corp.example",
                        "Mon, 30 Nov 2026 10:00:00 +0000",
                        &token,
                    );
                    match client.send("sender@outside.example", &["bob@corp.example"], &body) {
                        Ok(250) => smtp_acked.lock().expect("lock").push(token),
                        _ => return,
                    }
                }
            })
        };
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let kill_after = Duration::from_millis(300 + (seed >> 33) % 700);
        let http_acked = runtime.block_on(async {
            let submitters: Vec<_> = (0..3u32)
                .map(|c| {
                    let journal = journal.clone();
                    tokio::spawn(async move {
                        let mut acked = Vec::new();
                        for n in 0.. {
                            let token = format!("httpr{round}c{c}n{n}");
                            let body = message(
                                "carol@corp.example",
                                "Mon, 30 Nov 2026 10:00:00 +0000",
                                &token,
                            );
                            match submit(addr, &journal, "carol@corp.example", body).await {
                                Some(id) => acked.push((id, token)),
                                None => return acked,
                            }
                        }
                        acked
                    })
                })
                .collect();
            tokio::time::sleep(kill_after).await;
            kill_server(server);
            let mut acked = Vec::new();
            for s in submitters {
                acked.extend(s.await.unwrap_or_default());
            }
            acked
        });
        let _ = smtp_thread.join();
        let smtp_now = smtp_acked.lock().expect("lock").clone();
        eprintln!(
            "round {round}: killed after {kill_after:?}: {} HTTP and {} SMTP messages acknowledged",
            http_acked.len(),
            smtp_now.len()
        );
        acked_http.extend(http_acked);
        acked_smtp.extend(smtp_now);
        // Whole entries only, and at least one key per acknowledged message.
        let (live, destroyed) = key_log(&data);
        assert_eq!(destroyed, 0);
        assert!(
            live >= acked_http.len() + acked_smtp.len(),
            "round {round}: {live} keys for {} acknowledged messages",
            acked_http.len() + acked_smtp.len()
        );
    }
    assert!(
        acked_http.len() + acked_smtp.len() > 20,
        "too few acknowledged messages to prove anything"
    );
    // Restart: every acknowledged message decrypts (HTTP by id; SMTP found by search).
    let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
    runtime.block_on(async {
        let oscar = login(server.addr, "oscar", PASSWORD).await;
        for (id, token) in &acked_http {
            reads_back(server.addr, &oscar, id, &format!("zanzibar{token}")).await;
        }
        for token in &acked_smtp {
            let r = http::get(
                server.addr,
                &format!("/api/v1/search?q=zanzibar{token}"),
                Some(&oscar),
            )
            .await;
            let hits = r.json()["hits"].as_array().cloned().unwrap_or_default();
            assert_eq!(hits.len(), 1, "{token}: {}", r.text());
            let id = hits[0]["id"].as_str().expect("id").to_string();
            reads_back(server.addr, &oscar, &id, &format!("zanzibar{token}")).await;
        }
    });
    stop_server(server);
    let out = run(coffer(&data).arg("verify"));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn key_destruction_killed_at_any_step_leaves_every_key_or_the_destroyed_ones_gone() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_nanos() as u64;
    eprintln!("key destruction crash seed {seed}");
    // (pause variable, step, tear the unrenamed new log)
    let cases: [(&str, &str, bool); 5] = [
        ("COFFER_PAUSE_DISPOSITION", "certified", false),
        ("COFFER_PAUSE_KEYSTORE", "rewritten", false),
        ("COFFER_PAUSE_KEYSTORE", "rewritten", true),
        ("COFFER_PAUSE_DISPOSITION", "keys", false),
        ("", "random", false),
    ];
    for (var, step, tear) in cases {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        let env: Vec<(&str, &str)> = if var.is_empty() {
            Vec::new()
        } else {
            vec![(var, step)]
        };
        let server =
            COFFER.start_server_with_env(&data, &["--local-domain", "corp.example"], "warn", &env);
        let journal = set_up(&data);
        let addr = server.addr;
        // Four expired messages (2019) and four current ones.
        let (old, new, during) = runtime.block_on(async {
            let mut old = BTreeMap::new();
            let mut new = BTreeMap::new();
            for n in 0..4 {
                let token = format!("old{n}");
                let id = submit(
                    addr,
                    &journal,
                    "carol@corp.example",
                    message(
                        "carol@corp.example",
                        "Sun, 03 Mar 2019 09:00:00 +0000",
                        &token,
                    ),
                )
                .await
                .expect("acknowledged");
                old.insert(id, token);
                let token = format!("new{n}");
                let id = submit(
                    addr,
                    &journal,
                    "dave@corp.example",
                    message(
                        "dave@corp.example",
                        "Mon, 30 Nov 2026 10:00:00 +0000",
                        &token,
                    ),
                )
                .await
                .expect("acknowledged");
                new.insert(id, token);
            }
            let admin = login(addr, "admin", ADMIN_PASSWORD).await;
            let admin2 = login(addr, "admin2", PASSWORD).await;
            let submitted: Vec<&str> = old.keys().chain(new.keys()).map(String::as_str).collect();
            wait_applied(addr, &admin, &submitted).await;
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
            assert_eq!(r.json()["total"], 4, "{}", r.text());
            // Mail keeps arriving while the run executes.
            let journal2 = journal.clone();
            let feeder = tokio::spawn(async move {
                let mut acked = BTreeMap::new();
                for n in 0.. {
                    let token = format!("during{n}");
                    match submit(
                        addr,
                        &journal2,
                        "erin@corp.example",
                        message(
                            "erin@corp.example",
                            "Mon, 30 Nov 2026 10:00:00 +0000",
                            &token,
                        ),
                    )
                    .await
                    {
                        Some(id) => {
                            acked.insert(id, token);
                        }
                        None => return acked,
                    }
                }
                acked
            });
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
            if step == "random" {
                // Approved (recorded), then killed anywhere in the execution, or after.
                for _ in 0..100 {
                    let r = http::get(addr, "/api/v1/dispositions/1", Some(&admin)).await;
                    if r.json()["state"] != "proposed" {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                tokio::time::sleep(Duration::from_millis(seed % 150)).await;
            } else {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            if step != "random" {
                assert!(!approve.is_finished(), "{step}: paused");
            }
            kill_server(server);
            let during = feeder.await.unwrap_or_default();
            (old, new, during)
        });
        let new_log = data.join("keys/data-keys/keys.log.new");
        if tear {
            let bytes = std::fs::read(&new_log).expect("the rewritten log, not yet renamed");
            std::fs::write(&new_log, &bytes[..bytes.len() / 2 + 7]).expect("tear");
        }
        let between = cli(&data, &["disposition", "show", "1", "--json"]);
        // After the kill: whole entries; every key, or the four destroyed ones gone.
        let (live, destroyed) = key_log(&data);
        let keys = old.len() + new.len() + during.len();
        assert!(
            (destroyed == 0 && live >= keys) || (destroyed == 4 && live >= keys - 4),
            "{step} (torn {tear}): {live} live, {destroyed} destroyed, {keys} acknowledged"
        );
        match step {
            "certified" | "rewritten" => assert_eq!(destroyed, 0, "{step}"),
            "keys" => assert_eq!(destroyed, 4, "{step}"),
            _ => {}
        }
        // The next start opens the store (a leftover new log is dropped), finishes
        // the run, and every message not disposed of reads back.
        let server = start_server(
            &data,
            &["--local-domain", "corp.example"],
            "info,tantivy=warn",
        );
        assert!(
            std::fs::symlink_metadata(&new_log).is_err(),
            "{step}: keys.log.new left behind"
        );
        let shown: serde_json::Value =
            serde_json::from_str(&cli(&data, &["disposition", "show", "1", "--json"]))
                .expect("json");
        if shown["state"] != "executed" {
            let log = stop_server(server);
            panic!(
                "{step}: the restart did not finish the run: {shown}\nbefore the restart: {between}\n{log}"
            );
        }
        assert_eq!(shown["disposed"], 4, "{step}: {shown}");
        runtime.block_on(async {
            let oscar = login(server.addr, "oscar", PASSWORD).await;
            for (id, token) in new.iter().chain(&during) {
                reads_back(server.addr, &oscar, id, &format!("zanzibar{token}")).await;
            }
            for id in old.keys() {
                let r = http::get(
                    server.addr,
                    &format!("/api/v1/messages/{id}/raw"),
                    Some(&oscar),
                )
                .await;
                assert_eq!(r.status, 404, "{step}: {id}: {}", r.text());
            }
        });
        stop_server(server);
        let (live, destroyed) = key_log(&data);
        assert_eq!(destroyed, 4, "{step}");
        assert!(live >= new.len() + during.len(), "{step}");
        let out = run(coffer(&data).arg("verify"));
        assert_eq!(out.status.code(), Some(0), "{step}: {}", stdout(&out));
        eprintln!(
            "{step} (torn {tear}): {} messages arrived during the run",
            during.len()
        );
    }
}
