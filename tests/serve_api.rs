//! End-to-end with the real binary: `coffer serve` on 127.0.0.1:0 over a temporary data
//! directory, driven over HTTP and by the account commands beside it.
//!
//! - Log scrubbing: the server runs with `COFFER_LOG=debug`; after ingest (HTTP
//!   journal), search, view, raw and attachment downloads, its whole stderr must not
//!   contain any subject, body text, participant address, password or token.
//! - The audit trail verifies, and `coffer audit verify` fails, naming the record, once
//!   a byte of an audit segment is changed.
//! - `coffer user import` applies good CSV rows and reports bad ones by line number.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

fn start(data: &Path) -> Server {
    start_server(data, &[], "debug")
}

fn stop(server: Server) -> String {
    stop_server(server)
}

/// A journaled message whose every piece of content is unique, so a leak is findable.
/// Its body's distinctive words lie past the index's stored preview, so their snippet
/// is made from the body read back from the (encrypted) volume record.
fn secret_message() -> Vec<u8> {
    let filler = "The usual weekly figures follow, in the usual order. ".repeat(20);
    assert!(filler.len() > coffer_index::BODY_PREVIEW_BYTES);
    "From: Zebedee Quux <zebedee.quux@sender-secret.example>\r\n\
To: Ulrike Vantablack <ulrike.vantablack@corp.example>\r\n\
Cc: cc.person.secret@corp.example\r\n\
Subject: Merger codename ThunderPelican\r\n\
Date: Tue, 3 Nov 2026 10:00:00 +0000\r\n\
Message-ID: <secret-msgid-1@sender-secret.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n\
--zz\r\nContent-Type: text/plain\r\n\r\nConfidential body. FILLER about the GlimmerQuokka acquisition.\r\n\
--zz\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"plan-XylophoneOtter.txt\"\r\n\r\n\
Attachment text SaffronWombat.\r\n--zz--\r\n"
        .replace("FILLER", &filler)
        .into_bytes()
}

const SECRETS: [&str; 10] = [
    "ThunderPelican",
    "GlimmerQuokka",
    "XylophoneOtter",
    "SaffronWombat",
    "zebedee.quux",
    "sender-secret.example",
    "ulrike.vantablack",
    "Vantablack",
    "cc.person.secret",
    "secret-msgid-1",
];

#[test]
fn serve_logs_no_content_and_the_audit_trail_detects_tampering() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(
        data.join("coffer.toml"),
        "local_domains = [\"corp.example\"]\n",
    )
    .expect("config");
    let server = start(&data);
    assert!(
        server
            .stdout
            .iter()
            .any(|l| l.contains("created the admin account")),
        "{:?}",
        server.stdout
    );
    let addr = server.addr;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    // A journal token from the command line, beside the running server.
    let out = run(coffer(&data).args(["token", "create", "--name", "mx1", "--json"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("not written to the audit trail"),
        "the change goes through the server's admin socket, audited: {}",
        stderr(&out)
    );
    let journal = serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")["token"]
        .as_str()
        .expect("token")
        .to_string();

    let (officer_password, user_password, admin_token, officer_token, user_token, tokens) = runtime.block_on(async {
        let admin = http::json(addr, "POST", "/api/v1/session", None, &serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD})).await;
        assert_eq!(admin.status, 200, "{}", admin.text());
        let admin = admin.json()["token"].as_str().expect("token").to_string();
        let officer_password = "officer-password-9q2w";
        let user_password = "user-password-4r5t";
        for body in [
            serde_json::json!({"username": "olga", "password": officer_password, "role": "officer", "domains": ["corp.example"]}),
            serde_json::json!({"username": "ulrike", "password": user_password, "role": "user", "mailboxes": ["ulrike.vantablack@corp.example"]}),
        ] {
            let r = http::json(addr, "POST", "/api/v1/users", Some(&admin), &body).await;
            assert_eq!(r.status, 201, "{}", r.text());
        }
        // Ingest over HTTP (201 after fsync).
        let r = http::request(
            addr,
            "POST",
            "/api/v1/messages?mail_from=zebedee.quux%40sender-secret.example&rcpt=ulrike.vantablack%40corp.example",
            Some(&journal),
            Some("message/rfc822"),
            &secret_message(),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let id = r.json()["id"].as_str().expect("id").to_string();
        let login = |u: &'static str, p: &'static str| async move {
            let r = http::json(addr, "POST", "/api/v1/session", None, &serde_json::json!({"username": u, "password": p})).await;
            assert_eq!(r.status, 200, "{}", r.text());
            r.json()["token"].as_str().expect("token").to_string()
        };
        let officer = login("olga", officer_password).await;
        let user = login("ulrike", user_password).await;
        // A failed login with a password that must not be logged either.
        let r = http::json(addr, "POST", "/api/v1/session", None, &serde_json::json!({"username": "ulrike", "password": "WrongPassword-KumquatZ"})).await;
        assert_eq!(r.status, 401);
        // Search (until the index has it), view, raw, attachment — as the user and the officer.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = http::get(addr, "/api/v1/search?q=GlimmerQuokka%20from%3Azebedee.quux%40sender-secret.example", Some(&user)).await;
            assert_eq!(r.status, 200, "{}", r.text());
            if r.json()["total"] == 1 {
                assert!(r.text().contains("ThunderPelican"), "the hit carries the subject");
                let snippet = r.json()["hits"][0]["snippet"].as_str().expect("snippet").to_string();
                assert!(
                    snippet.contains("the <b>GlimmerQuokka</b> acquisition"),
                    "the words past the stored preview are highlighted from the volume: {snippet}"
                );
                break;
            }
            assert!(Instant::now() < deadline, "the message never became searchable");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for token in [&user, &officer] {
            for suffix in ["", "/raw", "/attachments/0"] {
                let r = http::get(addr, &format!("/api/v1/messages/{id}{suffix}"), Some(token)).await;
                assert_eq!(r.status, 200, "{suffix}: {}", r.text());
            }
        }
        let r = http::get(addr, &format!("/api/v1/messages/{id}/attachments/0"), Some(&user)).await;
        assert!(r.text().contains("SaffronWombat"));
        // A denied request and an out-of-scope id, for the audit trail.
        let denied = http::get(addr, "/api/v1/search?q=x", Some(&admin)).await;
        assert_eq!(denied.status, 403);
        // The refusal says why: the caller's role, the capability, who has it.
        assert!(
            denied.text().contains("the admin role does not have content.read (roles that do: officer, user)"),
            "{}",
            denied.text()
        );
        assert_eq!(http::get(addr, "/api/v1/messages/2026-999", Some(&user)).await.status, 404);
        let metrics = http::get(addr, "/metrics", None).await.text();
        assert!(metrics.contains("coffer_archived_messages{year="), "{metrics}");
        (officer_password, user_password, admin.clone(), officer, user, vec![admin, journal.clone()])
    });

    let logs = stop(server);
    assert!(
        logs.contains("DEBUG") || logs.contains("debug"),
        "debug logging was on: {logs}"
    );
    assert!(
        logs.contains("journal submission stored"),
        "the ingest was logged (by id and size): {logs}"
    );
    let mut leaks: Vec<&str> = SECRETS
        .iter()
        .copied()
        .filter(|s| logs.contains(s))
        .collect();
    for secret in [
        ADMIN_PASSWORD,
        officer_password,
        user_password,
        "WrongPassword-KumquatZ",
    ] {
        if logs.contains(secret) {
            leaks.push("a password");
        }
    }
    for token in tokens
        .iter()
        .chain([&admin_token, &officer_token, &user_token])
    {
        if logs.contains(token.as_str()) || logs.contains(&token[3..]) {
            leaks.push("a token");
        }
    }
    assert!(
        leaks.is_empty(),
        "content or secrets in the logs: {leaks:?}"
    );

    // `coffer search` reads the body back the same way (the data-key store opened read-only).
    let out = run(coffer(&data).args(["search", "--json", "GlimmerQuokka"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("the <b>GlimmerQuokka</b> acquisition"),
        "{}",
        stdout(&out)
    );

    // The audit trail verifies; the server signed a final checkpoint at shutdown.
    let out = run(coffer(&data).args(["audit", "verify"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("intact"), "{}", stdout(&out));
    assert!(
        !stdout(&out).contains("not yet covered"),
        "{}",
        stdout(&out)
    );

    // Tamper: change one byte of one entry (olga -> olgb) in the audit segment.
    let year_dir = std::fs::read_dir(data.join("audit"))
        .expect("audit dir")
        .next()
        .expect("a year")
        .expect("entry")
        .path();
    let segment = year_dir.join("000001.seg");
    let mut bytes = std::fs::read(&segment).expect("segment");
    let at = bytes
        .windows(6)
        .position(|w| w == b"\"olga\"")
        .expect("an entry by olga");
    bytes[at + 4] = b'b';
    std::fs::write(&segment, &bytes).expect("write");
    let out = run(coffer(&data).args(["audit", "verify"]));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("DAMAGED"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(", record "),
        "the damaged record is named: {}",
        stdout(&out)
    );
}

#[test]
fn csv_import_applies_good_rows_and_reports_bad_ones() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let csv = tmp.path().join("users.csv");
    std::fs::write(
        &csv,
        "username,role,password,mailboxes,domains,groups\n\
         olga,officer,officer-password-1,,corp.example;other.example,compliance\n\
         amy,auditor,,,,\n\
         ulrike,user,user-password-123,ulrike@corp.example;u.v@corp.example,,team\n\
         bad role,user,user-password-123,x@corp.example,,\n\
         noboxes,user,user-password-123,,,\n\
         olga,auditor,officer-password-1,,,\n\
         ivan,wizard,user-password-123,,,\n\
         short,user,abc,s@corp.example,,\n\
         carol,user,user-password-123,carol@other.example,,team\n",
    )
    .expect("csv");
    let out = run(coffer(&data).args(["user", "import"]).arg(&csv));
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(
        out.status.code(),
        Some(1),
        "bad rows make the exit status 1: {so}{se}"
    );
    for line in [5, 6, 7, 8, 9] {
        assert!(
            se.contains(&format!("users.csv:{line}: ")),
            "line {line} reported: {se}"
        );
    }
    for line in [2, 3, 4, 10] {
        assert!(
            !se.contains(&format!("users.csv:{line}: ")),
            "line {line} is good: {se}"
        );
    }
    assert!(so.contains("4 user(s) created, 5 bad row(s)"), "{so}");
    assert!(
        so.contains("created amy (auditor), password (shown once): "),
        "generated password printed once: {so}"
    );

    let out = run(coffer(&data).args(["user", "list", "--json"]));
    assert!(out.status.success());
    let users: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let names: Vec<&str> = users
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|u| u["username"].as_str())
        .collect();
    assert_eq!(names, ["amy", "carol", "olga", "ulrike"]);
    let olga = &users[2];
    assert_eq!(olga["role"], "officer");
    assert_eq!(
        olga["domains"],
        serde_json::json!(["corp.example", "other.example"])
    );
    assert_eq!(
        users[3]["mailboxes"],
        serde_json::json!(["u.v@corp.example", "ulrike@corp.example"])
    );
    assert_eq!(users[3]["groups"], serde_json::json!(["team"]));

    // No server was running: the CLI took the lock and audited each creation.
    let out = run(coffer(&data).args(["audit", "verify", "--json"]));
    assert!(out.status.success(), "{}", stdout(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        report["volumes"][0]["records"].as_u64().map(|n| n >= 4),
        Some(true),
        "{report}"
    );

    // `user add` with a password on stdin, and a rule violation.
    let mut child = coffer(&data)
        .args([
            "user",
            "add",
            "dave",
            "--role",
            "user",
            "--mailbox",
            "dave@corp.example",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"dave-password-123\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    assert!(
        !stdout(&out).contains("password"),
        "no password printed when given: {}",
        stdout(&out)
    );
    let out = run(coffer(&data).args(["user", "add", "eve", "--role", "officer"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("an officer needs at least one domain"),
        "{}",
        stderr(&out)
    );
}

/// Every privileged change from the shell is audited whatever the path (issue 22,
/// item 2): account, token and rule changes and shell reads of content made while a
/// server runs go through its admin socket and appear in `GET /api/v1/audit` with the
/// operating-system user as actor; a refused change says so and is not "applied"; an
/// administrator cannot widen their own role or scope over the API.
#[test]
fn shell_changes_and_reads_beside_a_running_server_are_audited() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
    let addr = server.addr;
    let actor = format!(
        "local:{}",
        String::from_utf8(
            std::process::Command::new("id")
                .arg("-un")
                .output()
                .expect("id")
                .stdout
        )
        .expect("utf-8")
        .trim()
    );
    let ok = |args: &[&str]| {
        let out = run(coffer(&data).args(args));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        out
    };
    ok(&[
        "user",
        "add",
        "ursula",
        "--role",
        "user",
        "--mailbox",
        "ursula@corp.example",
    ]);
    ok(&[
        "user", "add", "oscar", "--role", "officer", "--domain", "*", "--group", "legal",
    ]);
    ok(&["token", "create", "--name", "mx9"]);
    ok(&["token", "revoke", "mx9"]);
    ok(&["rule", "set", "--user", "ursula", "none"]);
    ok(&["rule", "set", "--group", "legal", "external"]);
    ok(&["user", "disable", "ursula"]);
    ok(&["search", "anything"]);
    // A refused change: nothing created, and nothing claims it was applied.
    let mut refused = coffer(&data);
    refused
        .args([
            "user",
            "add",
            "ann",
            "--role",
            "user",
            "--mailbox",
            "ann@corp.example",
        ])
        .arg("--password-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = refused.spawn().expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"short\n").expect("write");
    }
    let refused = child.wait_with_output().expect("wait");
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        !stderr(&refused).contains("applied"),
        "{}",
        stderr(&refused)
    );
    assert!(
        stderr(&refused).contains("10 to 1024"),
        "{}",
        stderr(&refused)
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let login = http::json(
            addr,
            "POST",
            "/api/v1/session",
            None,
            &serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}),
        )
        .await;
        let token = login.json()["token"].as_str().expect("token").to_string();
        let trail = http::get(
            addr,
            &format!(
                "/api/v1/audit?actor={}&limit=100",
                actor.replace(':', "%3A")
            ),
            Some(&token),
        )
        .await;
        assert_eq!(trail.status, 200, "{}", trail.text());
        let entries = trail.json()["entries"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let seen: Vec<(String, String, String)> = entries
            .iter()
            .map(|e| {
                (
                    e["action"].as_str().unwrap_or_default().to_string(),
                    e["target"].as_str().unwrap_or_default().to_string(),
                    e["outcome"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        for (action, target, outcome) in [
            ("user.create", "ursula", "success"),
            ("user.create", "oscar", "success"),
            ("token.create", "mx9", "success"),
            ("token.revoke", "mx9", "success"),
            ("user.update", "ursula", "success"),
            ("group.update", "legal", "success"),
            ("search", "", "success"),
        ] {
            assert!(
                seen.contains(&(action.into(), target.into(), outcome.into())),
                "{action} {target} {outcome} missing from {seen:?}"
            );
        }
        assert!(
            seen.iter()
                .filter(|(_, target, _)| target == "ann")
                .all(|(_, _, outcome)| outcome == "failure"),
            "a refused change is audited as refused, never as done: {seen:?}"
        );
        let ann = http::get(addr, "/api/v1/users/ann", Some(&token)).await;
        assert_eq!(ann.status, 404, "the refused user was not created");
        // An administrator cannot change their own role or scope, nor disable themselves.
        for change in [
            serde_json::json!({"role": "officer", "domains": ["*"]}),
            serde_json::json!({"disabled": true}),
        ] {
            let r = http::json(addr, "PATCH", "/api/v1/users/admin", Some(&token), &change).await;
            assert_eq!(r.status, 403, "{}", r.text());
        }
    });
    stop_server(server);
}

/// Local access (issue 22, item 6): under a permissive umask (022) everything `serve` and
/// `import` create in the data directory is for its owner alone (files 0600 or
/// stricter, directories 0700), and the generated admin password goes to a 0600 file
/// whose path is printed — never to stdout itself.
#[test]
fn the_data_directory_is_private_under_umask_022() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let mut child = coffer_testkit::server::KillOnDrop::new(
        std::process::Command::new("sh")
            .arg("-c")
            .arg("umask 022; exec \"$0\" --data-dir \"$1\" serve --http 127.0.0.1:0 --smtp off")
            .arg(common::COFFER.path())
            .arg(&data)
            .env("COFFER_LOG", "warn")
            .env_remove("COFFER_ADMIN_PASSWORD")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn"),
    );
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut printed = Vec::new();
    let addr: std::net::SocketAddr = loop {
        let line = lines.next().expect("serve exited").expect("line");
        printed.push(line.clone());
        if let Some(rest) = line.strip_prefix("coffer: listening on http://") {
            break rest.parse().expect("address");
        }
    };
    let announcement = printed
        .iter()
        .find(|l| l.contains("created the admin account"))
        .expect("the admin account is announced");
    let password_file = data.join("initial-admin-password");
    assert!(
        announcement.contains(&password_file.display().to_string()),
        "{announcement}"
    );
    let password = std::fs::read_to_string(&password_file).expect("password file");
    assert!(
        !printed.iter().any(|l| l.contains(password.trim())),
        "the password itself is not printed: {printed:?}"
    );
    // The password in the file works.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let status = runtime.block_on(async {
        http::json(
            addr,
            "POST",
            "/api/v1/session",
            None,
            &serde_json::json!({"username": "admin", "password": password.trim()}),
        )
        .await
        .status
    });
    assert_eq!(status, 200);
    let server = Server {
        child,
        addr,
        smtp: None,
        lmtp: None,
        stdout: printed,
        data: data.clone(),
    };
    stop_server(server);
    let fixture = eml_fixtures(&["rfc"]).remove(0);
    let import = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 022; exec \"$0\" --data-dir \"$1\" import --mailbox a@corp.example \"$2\"")
        .arg(common::COFFER.path())
        .arg(&data)
        .arg(&fixture)
        .output()
        .expect("import");
    assert_eq!(import.status.code(), Some(0), "{}", stderr(&import));
    let mut checked = 0;
    let mut stack = vec![data.clone()];
    while let Some(dir) = stack.pop() {
        let mode = std::fs::metadata(&dir).expect("dir").permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", dir.display());
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let entry = entry.expect("entry");
            let meta = entry.metadata().expect("meta");
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                assert_eq!(mode & 0o077, 0, "{} is {mode:o}", entry.path().display());
                checked += 1;
            }
        }
    }
    assert!(
        checked > 10,
        "volumes, index, catalog, keys, audit: {checked} files"
    );
}
