//! Deleting a whole sealed volume whose every message is disposed of (issue 26, item 4),
//! end to end with the real binary: mail received in 2024 and 2025 (a simulated clock)
//! dated 2019, a hold on one custodian of 2025; a disposition run shreds everything
//! unheld. `coffer volume delete` then refuses an unsealed volume, a volume with a kept
//! (held) message, and a volume a legal hold covers; once the hold is released it
//! deletes 2024 (killed after writing its evidence, the volume stays in force; killed
//! after renaming it away, the next deletion finishes): the volume is gone, its manifest, final signed tree head (which still
//! verifies with the public key) and `DISPOSED` record stay, the deletion is in the
//! audit trail, `volume list` shows the year as deleted, `coffer verify` passes and the
//! server starts and serves the kept mail as before.

mod common;

use std::path::Path;

use common::*;

const PASSWORD: &str = "volume-delete-password-1";

/// Runs a command that must fail; its stderr.
fn refused(data: &Path, args: &[&str]) -> String {
    let out = run(coffer(data).args(args));
    assert_ne!(out.status.code(), Some(0), "{args:?}: {}", stdout(&out));
    stderr(&out)
}

fn add_user(data: &Path, args: &[&str]) {
    common::add_user(data, args, PASSWORD);
}

fn message(to: &str, token: &str) -> Vec<u8> {
    format!(
        "From: sender@outside.example\r\nTo: {to}\r\nSubject: old {token}\r\nDate: Sun, 03 Mar 2019 09:00:00 +0000\r\nMessage-ID: <{token}@volume-delete.test>\r\n\r\nThe body of {token} says zanzibar{token}.\r\n"
    )
    .into_bytes()
}

async fn submit(addr: std::net::SocketAddr, journal: &str, rcpt: &str, body: &[u8]) -> String {
    let r = http::request(
        addr,
        "POST",
        &format!(
            "/api/v1/messages?mail_from=sender%40outside.example&rcpt={}",
            rcpt.replace('@', "%40")
        ),
        Some(journal),
        Some("message/rfc822"),
        body,
    )
    .await;
    assert!(matches!(r.status, 200 | 201), "{}", r.text());
    r.json()["id"].as_str().expect("id").to_string()
}

fn volume_row(data: &Path, year: i64) -> serde_json::Value {
    let listing: serde_json::Value =
        serde_json::from_str(&cli(data, &["volume", "list", "--json"])).expect("json");
    listing["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["year"] == year)
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_sealed_volume_whose_every_message_is_disposed_of_is_deleted_leaving_its_evidence() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let clock = tmp.path().join("clock");
    std::fs::write(&clock, "2024-06-01T10:00:00Z").expect("clock");
    let clock_var = clock.display().to_string();
    let server = COFFER.start_server_with_env(
        &data,
        &["--local-domain", "corp.example"],
        "warn",
        &[("COFFER_CLOCK_FILE", &clock_var)],
    );
    add_user(&data, &["user", "add", "admin2", "--role", "admin"]);
    add_user(
        &data,
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
    cli(&data, &["retention", "policy", "set", "short", "1y"]);
    cli(&data, &["retention", "assign", "--default", "short"]);
    cli(
        &data,
        &[
            "hold",
            "place",
            "Matter 9",
            "--reason",
            "litigation, case 9",
            "--custodian",
            "ursula@corp.example",
        ],
    );
    let journal: serde_json::Value =
        serde_json::from_str(&cli(&data, &["token", "create", "--name", "mx", "--json"]))
            .expect("json");
    let journal = journal["token"].as_str().expect("token").to_string();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let addr = server.addr;
    let (held, gone) = runtime.block_on(async {
        // Received in 2024: two messages, and a copy of one for another mailbox (a link).
        let a = submit(
            addr,
            &journal,
            "carol@corp.example",
            &message("carol@corp.example", "carol24"),
        )
        .await;
        let b = submit(
            addr,
            &journal,
            "dave@corp.example",
            &message("dave@corp.example", "dave24"),
        )
        .await;
        let linked = submit(
            addr,
            &journal,
            "erin@corp.example",
            &message("carol@corp.example", "carol24"),
        )
        .await;
        assert_eq!(linked, a, "a link record to the first");
        // Received in 2025: one held, one not.
        std::fs::write(&clock, "2025-06-01T10:00:00Z").expect("clock");
        let held = submit(
            addr,
            &journal,
            "ursula@corp.example",
            &message("ursula@corp.example", "ursula25"),
        )
        .await;
        let c = submit(
            addr,
            &journal,
            "carol@corp.example",
            &message("carol@corp.example", "carol25"),
        )
        .await;
        assert!(
            a.starts_with("2024-") && held.starts_with("2025-"),
            "{a} {held}"
        );
        // A disposition run shreds all but the held one.
        let admin = login(addr, "admin", ADMIN_PASSWORD).await;
        let admin2 = login(addr, "admin2", PASSWORD).await;
        wait_applied(addr, &admin, &[&a, &b, &held, &c]).await;
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
        assert_eq!(r.json()["total"], 3, "{}", r.text());
        let r = http::request(
            addr,
            "POST",
            "/api/v1/dispositions/1/approve",
            Some(&admin2),
            None,
            b"",
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["disposed"], 3, "{}", r.text());
        (held, vec![a, b, c])
    });
    // Only with the server stopped.
    let err = refused(&data, &["volume", "delete", "2024"]);
    assert!(err.contains("stop"), "{err}");
    stop_server(server);
    // Not sealed: kept.
    let err = refused(&data, &["volume", "delete", "2024"]);
    assert!(err.contains("not sealed"), "{err}");
    cli(&data, &["volume", "seal", "2024"]);
    cli(&data, &["volume", "seal", "2025"]);
    // 2025 still holds a kept (held) message.
    let err = refused(&data, &["volume", "delete", "2025"]);
    assert!(err.contains("not disposed of"), "{err}");
    // A hold on a custodian its records name keeps 2024 too, until released.
    cli(
        &data,
        &[
            "hold",
            "place",
            "Matter 10",
            "--reason",
            "erin's old mail",
            "--custodian",
            "erin@corp.example",
        ],
    );
    let err = refused(&data, &["volume", "delete", "2024"]);
    assert!(err.contains("legal hold"), "{err}");
    let holds: serde_json::Value =
        serde_json::from_str(&cli(&data, &["hold", "list", "--json"])).expect("json");
    let erin_hold = holds["holds"]
        .as_array()
        .expect("holds")
        .iter()
        .find(|h| h["name"] == "Matter 10")
        .expect("the hold")["id"]
        .as_i64()
        .expect("id")
        .to_string();
    cli(
        &data,
        &["hold", "release", &erin_hold, "--reason", "case closed"],
    );
    assert_eq!(volume_row(&data, 2024)["state"], "sealed");
    let before = volume_row(&data, 2024);

    // Killed after its evidence is written: the volume is still in force. Killed once
    // it is renamed away: it is gone, and the next `volume delete` finishes.
    let evidence = data.join("disposed-volumes/2024");
    let doomed = data.join("volumes/.deleting-2024");
    for step in ["recorded", "unlinked"] {
        let mut child = coffer(&data)
            .args(["volume", "delete", "2024"])
            .env("COFFER_PAUSE_VOLUME_DELETE", step)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        let reached = || match step {
            "recorded" => std::fs::symlink_metadata(evidence.join("DISPOSED")).is_ok(),
            _ => std::fs::symlink_metadata(&doomed).is_ok(),
        };
        let started = std::time::Instant::now();
        while !reached() {
            assert!(started.elapsed().as_secs() < 60, "{step} never reached");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        child.kill().expect("kill");
        child.wait().expect("wait");
        if step == "recorded" {
            assert_eq!(volume_row(&data, 2024)["state"], "sealed", "{step}");
            let out = run(coffer(&data).args(["verify"]));
            assert_eq!(out.status.code(), Some(0), "{step}: {}", stdout(&out));
        } else {
            assert!(std::fs::symlink_metadata(data.join("volumes/2024")).is_err());
            assert_eq!(volume_row(&data, 2024)["state"], "deleted", "{step}");
        }
    }

    // Deleted (the interrupted deletion finished).
    let deleted: serde_json::Value =
        serde_json::from_str(&cli(&data, &["volume", "delete", "2024", "--json"])).expect("json");
    assert!(
        std::fs::symlink_metadata(&doomed).is_err(),
        "the renamed volume is removed"
    );
    assert_eq!(deleted["year"], 2024, "{deleted}");
    assert_eq!(deleted["messages"], 2, "{deleted}");
    assert_eq!(deleted["records"], before["records"], "{deleted}");
    assert_eq!(deleted["root"], before["root_hash"], "{deleted}");
    assert_eq!(deleted["disposed"].as_array().expect("disposed").len(), 2);
    assert!(
        std::fs::symlink_metadata(data.join("volumes/2024")).is_err(),
        "the volume directory is gone"
    );
    // Its evidence stays: the manifest, the final signed tree head (verifies with the
    // public key, and its root is the one the volume had), the DISPOSED record.
    let seal = std::fs::read(evidence.join("SEAL")).expect("SEAL kept");
    let head =
        coffer_volume::SignedTreeHead::from_canonical_json(&seal).expect("a signed tree head");
    let public =
        coffer_volume::PublicKey::load(&data.join("keys/archive.pub")).expect("public key");
    head.verify_signature(&public)
        .expect("the final tree head verifies");
    assert_eq!(head.tree_size, before["records"].as_u64().expect("records"));
    assert_eq!(head.root, before["root_hash"].as_str().expect("root"));
    assert!(
        std::fs::read_to_string(evidence.join("VOLUME"))
            .expect("VOLUME kept")
            .contains("\"year\":2024")
    );
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(evidence.join("DISPOSED")).expect("DISPOSED"))
            .expect("json");
    assert_eq!(record, deleted);
    // Listed as deleted; deleting it again changes nothing; the archive verifies.
    let row = volume_row(&data, 2024);
    assert_eq!(row["state"], "deleted", "{row}");
    let again: serde_json::Value =
        serde_json::from_str(&cli(&data, &["volume", "delete", "2024", "--json"])).expect("json");
    assert_eq!(again, deleted);
    let out = run(coffer(&data).args(["verify"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );

    // The server starts; kept mail reads as before; the deletion is audited.
    let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
    runtime.block_on(async {
        let oscar = login(server.addr, "oscar", PASSWORD).await;
        let r = http::get(
            server.addr,
            &format!("/api/v1/messages/{held}/raw"),
            Some(&oscar),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.text().contains("zanzibarursula25"));
        for id in &gone {
            let r = http::get(server.addr, &format!("/api/v1/messages/{id}"), Some(&oscar)).await;
            assert_eq!(r.status, 404, "{id}: {}", r.text());
        }
        let admin = login(server.addr, "admin", ADMIN_PASSWORD).await;
        let r = http::get(
            server.addr,
            "/api/v1/audit?action=volume.delete",
            Some(&admin),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let text = r.text();
        assert!(
            text.contains(before["root_hash"].as_str().expect("root")),
            "{text}"
        );
        assert!(
            text.contains("legal hold"),
            "the refusals are audited too: {text}"
        );
    });
    stop_server(server);
}
