//! End-to-end SMTP/LMTP with clients nobody on the project wrote: `swaks` for protocol
//! cases, Postfix's `smtp-source` as a load generator, against the real `coffer serve`.
//! What each user's archive then shows is checked through the HTTP API.

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

fn swaks(addr: std::net::SocketAddr, args: &[&str]) -> (bool, String) {
    let out = Command::new("swaks")
        .args([
            "--server",
            &addr.to_string(),
            "--helo",
            "mx.test",
            "--timeout",
            "20",
        ])
        .args(args)
        .output()
        .expect("swaks is installed (Debian package swaks; .ci/run installs it)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

async fn search(addr: std::net::SocketAddr, token: &str, q: &str) -> serde_json::Value {
    let path = format!(
        "/api/v1/search?q={}",
        q.replace(' ', "%20").replace(':', "%3A")
    );
    let r = http::get(addr, &path, Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// Polls until the search finds `expected` messages (the index commits within a second).
async fn search_until(
    addr: std::net::SocketAddr,
    token: &str,
    q: &str,
    expected: u64,
) -> serde_json::Value {
    for _ in 0..100 {
        let r = search(addr, token, q).await;
        if r["total"].as_u64() == Some(expected) {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    search(addr, token, q).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_protocol_cases_and_personal_archives() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(data.join("coffer.toml"), "local_domains = [\"corp.example\"]\n[smtp]\nmax_message_size = 20000\nmax_recipients = 5\n")
        .expect("config");
    let server = start_server(&data, &["--lmtp", "127.0.0.1:0"], "warn");
    let smtp = server.smtp.expect("smtp");
    let addr = server.addr;

    // Plain delivery, with PIPELINING.
    let (ok, out) = swaks(
        smtp,
        &[
            "--pipeline",
            "--from",
            "alice@corp.example",
            "--to",
            "bob@corp.example",
            "--header",
            "Subject: pipelined hello",
            "--body",
            "first message",
        ],
    );
    assert!(ok && out.contains("250 2.0.0 Ok: queued as"), "{out}");

    // Bcc: frank is only in the envelope.
    let (ok, out) = swaks(
        smtp,
        &[
            "--from",
            "alice@corp.example",
            "--to",
            "bob@corp.example,frank@corp.example",
            "--header",
            "To: bob@corp.example",
            "--header",
            "Subject: quarterly plan",
            "--body",
            "the quarterly plan is attached",
        ],
    );
    assert!(ok, "{out}");

    // Dot-stuffing: lines that start with dots arrive intact.
    let message = "From: alice@corp.example\r\nTo: bob@corp.example\r\nSubject: dots\r\nMessage-ID: <dots@corp.example>\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n";
    let file = tmp.path().join("dots.eml");
    std::fs::write(&file, message).expect("write");
    let (ok, out) = swaks(
        smtp,
        &[
            "--from",
            "alice@corp.example",
            "--to",
            "bob@corp.example",
            "--data",
            &format!("@{}", file.display()),
        ],
    );
    assert!(ok, "{out}");
    let id = out
        .lines()
        .find_map(|l| l.split("queued as ").nth(1))
        .expect("queued as")
        .trim()
        .to_string();
    let shown = run(coffer(&data).args(["show", "--raw", &id]));
    // swaks ends the data with one more CRLF before the terminating dot; everything it
    // dot-stuffed must come back unstuffed, byte for byte.
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout),
        format!("{message}\r\n"),
        "stored bytes differ from what was sent"
    );

    // Too large: 552, nothing stored.
    let big = "x".repeat(30_000);
    let (ok, out) = swaks(
        smtp,
        &[
            "--from",
            "alice@corp.example",
            "--to",
            "bob@corp.example",
            "--body",
            &big,
        ],
    );
    assert!(!ok && out.contains("552"), "{out}");
    // Too many recipients: the sixth is refused with 452.
    let (_, out) = swaks(
        smtp,
        &[
            "--from",
            "alice@corp.example",
            "--to",
            "a@corp.example,b@corp.example,c@corp.example,d@corp.example,e@corp.example,f@corp.example",
            "--body",
            "six",
        ],
    );
    assert!(out.contains("452"), "{out}");
    // Commands out of order.
    let mut raw = std::net::TcpStream::connect(smtp).expect("connect");
    {
        use std::io::{BufRead, BufReader, Write};
        let mut reader = BufReader::new(raw.try_clone().expect("clone"));
        let mut line = String::new();
        reader.read_line(&mut line).expect("greeting");
        raw.write_all(b"HELO x\r\nDATA\r\nRCPT TO:<bob@corp.example>\r\nQUIT\r\n")
            .expect("write");
        let mut replies = String::new();
        for _ in 0..4 {
            line.clear();
            reader.read_line(&mut line).expect("reply");
            replies.push_str(&line);
        }
        assert!(replies.matches("503").count() >= 2, "{replies}");
    }

    // LMTP: one reply per recipient.
    let lmtp = server.lmtp.expect("lmtp");
    let (ok, out) = swaks(
        lmtp,
        &[
            "--protocol",
            "LMTP",
            "--from",
            "carol@corp.example",
            "--to",
            "bob@corp.example,frank@corp.example",
            "--header",
            "Subject: over lmtp",
            "--body",
            "lmtp body",
        ],
    );
    assert!(ok && out.matches("250 2.0.0").count() >= 2, "{out}");

    // What each user's archive shows.
    let admin = login(addr, "admin", ADMIN_PASSWORD).await;
    for (user, mailbox) in [
        ("frank", "frank@corp.example"),
        ("bob", "bob@corp.example"),
        ("eve", "eve@corp.example"),
    ] {
        let r = http::json(addr, "POST", "/api/v1/users", Some(&admin), &json!({"username": user, "password": format!("{user}-password-123"), "role": "user", "mailboxes": [mailbox]})).await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let frank = login(addr, "frank", "frank-password-123").await;
    let bob = login(addr, "bob", "bob-password-123").await;
    let eve = login(addr, "eve", "eve-password-123").await;
    let r = search_until(addr, &frank, "quarterly", 1).await;
    assert_eq!(r["total"], 1, "frank (Bcc) finds the plan: {r}");
    assert_eq!(search_until(addr, &frank, "lmtp", 1).await["total"], 1);
    assert_eq!(
        search(addr, &frank, "pipelined").await["total"],
        0,
        "frank was not a recipient"
    );
    assert_eq!(search_until(addr, &bob, "pipelined", 1).await["total"], 1);
    for q in ["quarterly", "pipelined", "lmtp", "dots", "*"] {
        assert_eq!(
            search(addr, &eve, q).await["total"],
            0,
            "eve sees nothing ({q})"
        );
    }
    stop_server(server);
    assert_eq!(run(coffer(&data).arg("verify")).status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_source_load_is_all_acknowledged_and_counted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
    let smtp = server.smtp.expect("smtp");
    let messages = 300;
    let out = Command::new("/usr/sbin/smtp-source")
        .args([
            "-c",
            "-m",
            &messages.to_string(),
            "-s",
            "16",
            "-l",
            "5000",
            "-f",
            "load@corp.example",
            "-t",
            "bob@corp.example",
        ])
        .arg(smtp.to_string())
        .output()
        .expect("smtp-source is installed (Debian package postfix; .ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metrics = http::get(server.addr, "/metrics", None).await.text();
    let count = |outcome: &str| -> u64 {
        metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "coffer_ingest_messages_total{{source=\"smtp\",outcome=\"{outcome}\"}}"
                ))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(
        count("archived") + count("duplicate"),
        messages,
        "{metrics}"
    );
    assert_eq!(count("failed"), 0);
    stop_server(server);
    assert_eq!(run(coffer(&data).arg("verify")).status.code(), Some(0));
}

/// `import --server` speaks HTTPS (through a TLS-terminating proxy, as deployed), trusting
/// a private certificate given with `--ca-cert`; plain HTTP is refused unless the server
/// is on loopback, so a journal token never crosses a network in clear.
#[test]
fn import_through_a_server_over_https() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = start_server(&data, &["--local-domain", "example.com"], "warn");
    let token_out = run(coffer(&data).args(["token", "create", "--name", "importer"]));
    assert_eq!(token_out.status.code(), Some(0), "{}", stderr(&token_out));
    let token = stdout(&token_out)
        .split_whitespace()
        .find(|w| w.starts_with("cj_"))
        .expect("token printed")
        .to_string();
    let proxy = coffer_testkit::tls_proxy::TlsProxy::start(server.addr, tmp.path());
    let fixtures = eml_fixtures(&["rfc"]);
    let import = |extra: &[&str], url: &str| {
        run(coffer(&data)
            .arg("import")
            .args(["--server", url, "--token", &token, "--json"])
            .args(extra)
            .args(&fixtures))
    };
    let ca = proxy.ca_pem.to_string_lossy().to_string();
    let out = import(&["--ca-cert", &ca], &proxy.url());
    let summary = import_summary(&out);
    let unique: std::collections::BTreeSet<String> = fixtures
        .iter()
        .map(|p| sha256_hex(&std::fs::read(p).expect("read")))
        .collect();
    assert_eq!(summary["archived"], unique.len() as u64, "{summary}");
    assert_eq!(out.status.code(), Some(0));
    // Without the proxy's certificate the server is not trusted: nothing is sent.
    let untrusted = import_summary(&import(&[], &proxy.url()));
    assert_eq!(untrusted["archived"], 0, "{untrusted}");
    assert_eq!(
        untrusted["failed"].as_array().map(Vec::len),
        Some(fixtures.len()),
        "{untrusted}"
    );
    // Plain HTTP to a non-loopback address is refused before anything is read.
    let clear = import(&[], "http://192.0.2.1:8080");
    assert_eq!(clear.status.code(), Some(2));
    assert!(
        stderr(&clear).contains("must not cross a network in clear"),
        "{}",
        stderr(&clear)
    );
    drop(proxy);
    stop_server(server);
}

#[test]
fn import_through_a_running_server() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = start_server(&data, &["--local-domain", "example.com"], "warn");
    let token_out = run(coffer(&data).args(["token", "create", "--name", "importer"]));
    assert_eq!(token_out.status.code(), Some(0), "{}", stderr(&token_out));
    let token = stdout(&token_out)
        .split_whitespace()
        .find(|w| w.starts_with("cj_"))
        .expect("token printed")
        .to_string();
    let fixtures = eml_fixtures(&["rfc", "charset"]);
    let url = format!("http://{}", server.addr);
    let out = run(coffer(&data)
        .arg("import")
        .args(["--server", &url, "--token", &token, "--json"])
        .args(&fixtures));
    let summary = import_summary(&out);
    let unique: std::collections::BTreeSet<String> = fixtures
        .iter()
        .map(|p| sha256_hex(&std::fs::read(p).expect("read")))
        .collect();
    assert_eq!(summary["archived"], unique.len() as u64, "{summary}");
    assert_eq!(out.status.code(), Some(0));
    // The same again: all duplicates.
    let again = import_summary(&run(coffer(&data)
        .arg("import")
        .args(["--server", &url, "--token", &token, "--json"])
        .args(&fixtures)));
    assert_eq!(again["archived"], 0);
    assert_eq!(again["duplicates"], fixtures.len() as u64);
    // A bad token is refused for every message, nothing is archived.
    let bad = run(coffer(&data)
        .arg("import")
        .args(["--server", &url, "--token", "cj_nope", "--json"])
        .arg(&fixtures[0]));
    assert_eq!(bad.status.code(), Some(2));
    for path in &fixtures {
        let original = std::fs::read(path).expect("read");
        let shown = run(coffer(&data).args(["show", "--raw", &sha256_hex(&original)]));
        assert!(
            shown.stdout == original,
            "{}: status {:?}, stderr {}",
            path.display(),
            shown.status.code(),
            stderr(&shown)
        );
    }
    stop_server(server);
}

/// The message id in swaks' transcript of `250 2.0.0 Ok: queued as ID`.
fn queued_id(transcript: &str) -> String {
    transcript
        .lines()
        .find_map(|line| line.split("Ok: queued as ").nth(1))
        .map(|id| id.trim().to_string())
        .unwrap_or_else(|| panic!("no queue id in {transcript}"))
}

/// `coffer show ID --json`'s `origin`.
fn origin_of(data: &std::path::Path, id: &str) -> serde_json::Value {
    let out = run(coffer(data).args(["show", id, "--json"]));
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")["origin"].clone()
}

/// Issue 22, item 8: each journaled record says who delivered it. A session that
/// authenticated (AUTH PLAIN over STARTTLS, with a journal token) records the token's
/// name; one that did not records the client's address; `coffer show` prints it.
#[test]
fn smtp_records_the_token_or_client_that_delivered_each_message() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let cert = coffer_testkit::tls_cert::write_localhost_cert(tmp.path());
    std::fs::write(
        data.join("coffer.toml"),
        format!(
            "local_domains = [\"corp.example\"]\n[smtp]\nauth = \"optional\"\ntls_cert = {:?}\ntls_key = {:?}\n",
            cert.cert_pem.display().to_string(),
            cert.key_pem.display().to_string()
        ),
    )
    .expect("config");
    let out = run(coffer(&data).args(["token", "create", "--name", "mx-relay", "--json"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let token = serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")["token"]
        .as_str()
        .expect("token")
        .to_string();
    let server = start_server(&data, &[], "warn");
    let smtp = server.smtp.expect("smtp");
    let message = |subject: &str| {
        [
            "--from",
            "alice@corp.example",
            "--to",
            "bob@corp.example",
            "--header",
        ]
        .into_iter()
        .map(str::to_string)
        .chain([format!("Subject: {subject}")])
        .collect::<Vec<_>>()
    };
    let with = |extra: &[&str], subject: &str| {
        let mut args: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        args.extend(message(subject));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        swaks(smtp, &args)
    };

    let (ok, authenticated) = with(
        &[
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            "journal",
            "--auth-password",
            &token,
        ],
        "authenticated",
    );
    assert!(ok, "{authenticated}");
    let (ok, anonymous) = with(&[], "from an allowed client");
    assert!(ok, "{anonymous}");
    let (ok, refused) = with(
        &[
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            "journal",
            "--auth-password",
            "cft_not-a-token",
        ],
        "wrong token",
    );
    assert!(!ok && refused.contains("535 5.7.8"), "{refused}");

    assert_eq!(
        origin_of(&data, &queued_id(&authenticated)),
        serde_json::json!("token:mx-relay")
    );
    assert_eq!(
        origin_of(&data, &queued_id(&anonymous)),
        serde_json::json!("client:127.0.0.1")
    );
    let shown = run(coffer(&data).args(["show", &queued_id(&authenticated)]));
    assert!(
        stdout(&shown).contains("origin       token:mx-relay"),
        "{}",
        stdout(&shown)
    );
    stop_server(server);
}

/// Issue 22, item 8: `coffer serve` refuses an SMTP listener that other hosts can reach
/// when it would take mail from anyone there, and says which settings fix it.
#[test]
fn smtp_on_a_non_loopback_address_needs_auth_or_allowed_clients() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let out = run(coffer(&data)
        .args(["serve", "--http", "127.0.0.1:0", "--smtp", "0.0.0.0:0"])
        .env("COFFER_ADMIN_PASSWORD", ADMIN_PASSWORD));
    assert!(!out.status.success(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("not a loopback address")
            && err.contains("allowed_clients")
            && err.contains("auth = \"required\"")
            && err.contains("[smtp]"),
        "{err}"
    );

    // Naming the mail servers' network is enough.
    std::fs::write(
        data.join("coffer.toml"),
        "[smtp]\nallowed_clients = [\"192.0.2.0/24\"]\n",
    )
    .expect("config");
    let mut child = coffer_testkit::server::KillOnDrop::new(
        coffer(&data)
            .args(["serve", "--http", "127.0.0.1:0", "--smtp", "0.0.0.0:0"])
            .env("COFFER_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn serve"),
    );
    let lines = std::io::BufRead::lines(std::io::BufReader::new(
        child.stdout.take().expect("stdout"),
    ));
    let printed: Vec<String> = lines
        .map_while(Result::ok)
        .take_while(|line| !line.starts_with("coffer: listening on http://"))
        .collect();
    assert!(
        printed
            .iter()
            .any(|line| line.starts_with("coffer: smtp listening on 0.0.0.0:")),
        "{printed:?}"
    );
}

/// A local import and an import through a server of the same files report the same
/// summary, field for field but the time (issue 23, item 2): flagged messages and stored
/// bytes included.
#[test]
fn local_and_server_imports_report_the_same_summary() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fixtures = eml_fixtures(&["rfc", "charset", "malformed", "journal"]);
    let local_data = tmp.path().join("local");
    let local = import_summary(&run(coffer(&local_data)
        .args(["import", "--json", "--local-domain", "example.com"])
        .args(&fixtures)));
    let remote_data = tmp.path().join("remote");
    let server = start_server(&remote_data, &["--local-domain", "example.com"], "warn");
    let token_out = run(coffer(&remote_data).args(["token", "create", "--name", "imp", "--json"]));
    let token =
        serde_json::from_slice::<serde_json::Value>(&token_out.stdout).expect("json")["token"]
            .as_str()
            .expect("token")
            .to_string();
    let url = format!("http://{}", server.addr);
    let remote = import_summary(&run(coffer(&remote_data)
        .args(["import", "--json", "--server", &url, "--token", &token])
        .args(&fixtures)));
    stop_server(server);
    let without_time = |mut v: serde_json::Value| {
        v.as_object_mut().expect("object").remove("seconds");
        v
    };
    assert!(local["flagged"].as_u64().unwrap_or(0) > 0, "{local}");
    assert!(local["stored_bytes"].as_u64().unwrap_or(0) > 0, "{local}");
    assert_eq!(without_time(local), without_time(remote));
}
