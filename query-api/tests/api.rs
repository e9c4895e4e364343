//! HTTP behaviour against a real server on 127.0.0.1:0: error shapes, sessions
//! (expiry, revocation), login throttling, content (exact raw bytes, sanitized HTML,
//! attachment headers), proofs that verify, journal submission, the audit trail, and
//! the OpenAPI document in step with the routes.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use coffer_query_api::ApiConfig;
use coffer_query_api::throttle::ThrottleConfig;
use common::http;
use common::{PASSWORD, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_one_json_shape() {
    let server = TestServer::start(ApiConfig::default()).await;
    let addr = server.addr;
    let olga = server.token("olga");
    let shape = |r: &http::Resp, status: u16, code: &str| {
        assert_eq!(r.status, status, "{}", r.text());
        assert!(
            r.header("content-type")
                .unwrap_or("")
                .starts_with("application/json")
        );
        let body = r.json();
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        body
    };
    // Malformed JSON, wrong type, unknown field, wrong content type.
    let r = http::request(
        addr,
        "POST",
        "/api/v1/session",
        None,
        Some("application/json"),
        b"{\"username\": ",
    )
    .await;
    shape(&r, 400, "invalid_input");
    let r = http::request(
        addr,
        "POST",
        "/api/v1/session",
        None,
        Some("application/json"),
        b"{\"username\": 1, \"password\": \"x\"}",
    )
    .await;
    shape(&r, 400, "invalid_input");
    let r = http::request(
        addr,
        "POST",
        "/api/v1/session",
        None,
        Some("application/json"),
        b"{\"username\": \"a\", \"password\": \"b\", \"x\": 1}",
    )
    .await;
    shape(&r, 400, "invalid_input");
    let r = http::request(
        addr,
        "POST",
        "/api/v1/session",
        None,
        Some("text/plain"),
        b"{}",
    )
    .await;
    shape(&r, 415, "unsupported_media_type");
    // Unknown routes and methods.
    shape(
        &http::get(addr, "/api/v1/nothing-here", Some(olga)).await,
        404,
        "no_route",
    );
    shape(
        &http::get(addr, "/nothing-here", None).await,
        404,
        "no_route",
    );
    shape(
        &http::request(addr, "PUT", "/api/v1/search", Some(olga), None, b"").await,
        405,
        "method_not_allowed",
    );
    // A bad query: 400 with the parser's message (position included).
    let body = shape(
        &http::get(addr, "/api/v1/search?q=%28unclosed", Some(olga)).await,
        400,
        "invalid_query",
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("position"),
        "{body}"
    );
    let body = shape(
        &http::get(addr, "/api/v1/search?q=", Some(olga)).await,
        400,
        "invalid_query",
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("empty query"),
        "{body}"
    );
    // Bad parameters.
    shape(
        &http::get(addr, "/api/v1/search?q=x&limit=lots", Some(olga)).await,
        400,
        "invalid_input",
    );
    shape(
        &http::get(addr, "/api/v1/search?q=x&limit=5000", Some(olga)).await,
        400,
        "invalid_input",
    );
    shape(
        &http::get(addr, "/api/v1/messages/not-an-id", Some(olga)).await,
        400,
        "invalid_input",
    );
    // Authentication.
    let r = http::get(addr, "/api/v1/search?q=x", None).await;
    shape(&r, 401, "unauthenticated");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    shape(
        &http::get(addr, "/api/v1/search?q=x", Some("cs_forged")).await,
        401,
        "unauthenticated",
    );
    shape(
        &http::get(addr, "/api/v1/search?q=x", Some("garbage")).await,
        401,
        "unauthenticated",
    );
    // Validation and conflicts in account management.
    let adm = server.token("adm");
    let r = http::json(
        addr,
        "POST",
        "/api/v1/users",
        Some(adm),
        &serde_json::json!({"username": "x y", "role": "user", "mailboxes": ["a@corp.example"]}),
    )
    .await;
    shape(&r, 400, "invalid_input");
    let r = http::json(
        addr,
        "POST",
        "/api/v1/users",
        Some(adm),
        &serde_json::json!({"username": "alice", "role": "user", "mailboxes": ["a@corp.example"]}),
    )
    .await;
    shape(&r, 409, "conflict");
    shape(
        &http::get(addr, "/api/v1/users/ghost", Some(adm)).await,
        404,
        "not_found",
    );
    // Every response says nosniff and no-store.
    let r = http::get(addr, "/healthz", None).await;
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.header("x-request-id").is_some());
}

/// Sessions end after the inactivity timeout as well as at their absolute expiry, and a
/// person changes their own password (the current one checked; the change audited).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_end_and_people_change_their_own_password() {
    let config = ApiConfig {
        session_idle: Duration::from_secs(1),
        ..ApiConfig::default()
    };
    let server = TestServer::start(config).await;
    let addr = server.addr;
    let token = server.login("olga").await;
    assert_eq!(
        http::get(addr, "/api/v1/volumes", Some(&token))
            .await
            .status,
        200
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        http::get(addr, "/api/v1/volumes", Some(&token))
            .await
            .status,
        401,
        "unused for longer than the inactivity timeout"
    );

    let server = TestServer::start(ApiConfig::default()).await;
    let addr = server.addr;
    let bob = server.token("bob").to_string();
    let change = |current: &str, new: &str| serde_json::json!({ "current": current, "new": new });
    let wrong = http::json(
        addr,
        "POST",
        "/api/v1/session/password",
        Some(&bob),
        &change("not my password", "a brand new password"),
    )
    .await;
    assert_eq!(wrong.status, 401, "{}", wrong.text());
    let short = http::json(
        addr,
        "POST",
        "/api/v1/session/password",
        Some(&bob),
        &change(PASSWORD, "short"),
    )
    .await;
    assert_eq!(short.status, 400, "{}", short.text());
    let done = http::json(
        addr,
        "POST",
        "/api/v1/session/password",
        Some(&bob),
        &change(PASSWORD, "a brand new password"),
    )
    .await;
    assert_eq!(done.status, 204, "{}", done.text());
    let login = |password: &'static str| async move {
        http::json(
            addr,
            "POST",
            "/api/v1/session",
            None,
            &serde_json::json!({"username": "bob", "password": password}),
        )
        .await
        .status
    };
    assert_eq!(login(PASSWORD).await, 401);
    assert_eq!(login("a brand new password").await, 200);
    let audit = http::get(
        addr,
        "/api/v1/audit?action=user.update&actor=bob",
        Some(server.token("aud")),
    )
    .await
    .json();
    assert!(
        audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["outcome"] == "success" && e["detail"]["password_changed"] == true),
        "{audit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_and_are_revoked() {
    let config = ApiConfig {
        session_ttl: Duration::from_secs(1),
        ..ApiConfig::default()
    };
    let server = TestServer::start(config).await;
    let addr = server.addr;
    let token = server.login("olga").await;
    assert!(token.starts_with("cs_"));
    assert_eq!(
        http::get(addr, "/api/v1/volumes", Some(&token))
            .await
            .status,
        200
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        http::get(addr, "/api/v1/volumes", Some(&token))
            .await
            .status,
        401,
        "expired"
    );

    let token = server.login("olga").await;
    let r = http::request(addr, "DELETE", "/api/v1/session", Some(&token), None, b"").await;
    assert_eq!(r.status, 204);
    assert_eq!(
        http::get(addr, "/api/v1/volumes", Some(&token))
            .await
            .status,
        401,
        "revoked"
    );

    // Disabling a user ends their sessions at once.
    let server = TestServer::start(ApiConfig::default()).await;
    let addr = server.addr;
    let carl = server.token("carl").to_string();
    assert_eq!(
        http::get(addr, "/api/v1/search?q=lorem", Some(&carl))
            .await
            .status,
        200
    );
    let r = http::request(
        addr,
        "DELETE",
        "/api/v1/users/carl",
        Some(server.token("adm")),
        None,
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["disabled"], true);
    assert_eq!(
        http::get(addr, "/api/v1/search?q=lorem", Some(&carl))
            .await
            .status,
        401
    );
    let r = http::json(
        addr,
        "POST",
        "/api/v1/session",
        None,
        &serde_json::json!({"username": "carl", "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status, 401, "a disabled user cannot log in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_and_audited() {
    let config = ApiConfig {
        throttle: ThrottleConfig {
            base_delay: Duration::from_secs(30),
            ..ThrottleConfig::default()
        },
        ..ApiConfig::default()
    };
    let server = TestServer::start(config).await;
    let addr = server.addr;
    let login = |user: &'static str, password: &'static str| async move {
        http::json(
            addr,
            "POST",
            "/api/v1/session",
            None,
            &serde_json::json!({"username": user, "password": password}),
        )
        .await
    };
    for i in 0..5 {
        let r = login("alice", "wrong password!").await;
        assert_eq!(r.status, 401, "attempt {i}: {}", r.text());
        assert_eq!(r.json()["error"]["message"], "invalid username or password");
    }
    // The sixth attempt is refused before the password is checked, even a right one.
    let r = login("alice", PASSWORD).await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "throttled");
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=30).contains(&retry), "{retry}");
    // Other users are not affected (an address is throttled across accounts only when
    // it fails on many accounts).
    assert_eq!(login("bob", PASSWORD).await.status, 200);
    // An unknown user gets the same answer as a wrong password.
    let r = login("nobody-at-all", "whatever pass").await;
    assert_eq!(
        (r.status, r.json()["error"]["message"].clone()),
        (401, serde_json::json!("invalid username or password"))
    );

    // Failures are summarised per account and client: the first at once, the rest in one
    // entry with a count when the window ends (here: forced, as at shutdown).
    let audit = http::get(
        addr,
        "/api/v1/audit?action=login&actor=alice",
        Some(server.token("aud")),
    )
    .await
    .json();
    let entries = audit["entries"].as_array().expect("entries");
    let failures: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e["outcome"] == "failure")
        .collect();
    assert_eq!(failures.len(), 1, "only the first failure so far: {audit}");
    assert_eq!(failures[0]["detail"]["count"], 1);
    server
        .state
        .flush_login_failures(true)
        .await
        .expect("summaries");
    let audit = http::get(
        addr,
        "/api/v1/audit?action=login&actor=alice",
        Some(server.token("aud")),
    )
    .await
    .json();
    let entries = audit["entries"].as_array().expect("entries");
    let summary = entries
        .iter()
        .find(|e| e["detail"]["summary"] == true)
        .expect("a summary entry");
    assert_eq!(summary["outcome"], "failure");
    assert_eq!(
        summary["detail"]["count"], 5,
        "4 more wrong passwords and 1 throttled attempt: {audit}"
    );
    assert_eq!(summary["detail"]["reasons"]["throttled"], 1);
    assert_eq!(summary["detail"]["reasons"]["invalid credentials"], 4);
    let anon = http::get(
        addr,
        "/api/v1/audit?action=login&actor=anonymous",
        Some(server.token("aud")),
    )
    .await
    .json();
    assert_eq!(
        anon["total"], 1,
        "unknown usernames are recorded as anonymous: {anon}"
    );
    let metrics = http::get(addr, "/metrics", None).await.text();
    assert!(
        metrics.contains("coffer_auth_failures_total{reason=\"login\"} 6"),
        "{metrics}"
    );
    assert!(
        metrics.contains("coffer_auth_failures_total{reason=\"throttled\"} 1"),
        "{metrics}"
    );
}

/// A burst of 32 parallel wrong passwords for one account: the attempts are counted
/// before any password is checked, so at most the free allowance is checked and the
/// rest are refused at once; the burst does not lock another account out from the same
/// address, and it leaves two audit entries, not 32.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_burst_checks_at_most_the_limit_and_locks_out_nobody_else() {
    let server = TestServer::start(ApiConfig::default()).await;
    let addr = server.addr;
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..32 {
        burst.spawn(async move {
            http::json(
                addr,
                "POST",
                "/api/v1/session",
                None,
                &serde_json::json!({"username": "carl", "password": "wrong password!"}),
            )
            .await
            .status
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = burst.join_next().await {
        statuses.push(status.expect("join"));
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (5, 27), "{statuses:?}");
    let bob = http::json(
        addr,
        "POST",
        "/api/v1/session",
        None,
        &serde_json::json!({"username": "bob", "password": PASSWORD}),
    )
    .await;
    assert_eq!(bob.status, 200, "{}", bob.text());
    server
        .state
        .flush_login_failures(true)
        .await
        .expect("summaries");
    let audit = http::get(
        addr,
        "/api/v1/audit?action=login&actor=carl",
        Some(server.token("aud")),
    )
    .await
    .json();
    let failures: Vec<&serde_json::Value> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["outcome"] == "failure")
        .collect();
    assert_eq!(failures.len(), 2, "{audit}");
    let counted: u64 = failures
        .iter()
        .map(|e| e["detail"]["count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(counted, 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_raw_attachments_proofs_and_audit() {
    let server = TestServer::start(ApiConfig::default()).await;
    let addr = server.addr;
    let alice = server.token("alice");
    let id = server.id("own");

    // The view: metadata, text, sanitized HTML (no script, no remote image), attachments.
    let view = http::get(addr, &format!("/api/v1/messages/{id}"), Some(alice)).await;
    assert_eq!(view.status, 200, "{}", view.text());
    let v = view.json();
    assert_eq!(v["id"], id);
    assert_eq!(v["subject"], "Own mail");
    assert_eq!(v["from"][0]["email"], "ext@outside.example");
    assert!(v["text"].as_str().unwrap_or("").contains("mkown"));
    let html = v["html"].as_str().expect("html");
    assert!(html.contains("Hello mkown"), "{html}");
    assert!(
        !html.contains("tracker.example") && !html.contains("script"),
        "{html}"
    );
    assert_eq!(v["attachments"][0]["filename"], "report-mkown.pdf");
    assert_eq!(v["attachments"][0]["content_type"], "application/pdf");
    assert_eq!(v["mailboxes"], serde_json::json!(["alice@corp.example"]));

    // Raw: exactly the original bytes.
    let raw = http::get(addr, &format!("/api/v1/messages/{id}/raw"), Some(alice)).await;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.header("content-type"), Some("message/rfc822"));
    assert_eq!(&raw.body, server.raws.get("own").expect("raw"));

    // Attachment: decoded, as a download, with its type and nosniff.
    let att = http::get(
        addr,
        &format!("/api/v1/messages/{id}/attachments/0"),
        Some(alice),
    )
    .await;
    assert_eq!(att.status, 200);
    assert_eq!(att.header("content-type"), Some("application/pdf"));
    assert!(
        att.header("content-disposition")
            .unwrap_or("")
            .starts_with("attachment; filename=\"report-mkown.pdf\"")
    );
    assert_eq!(att.header("x-content-type-options"), Some("nosniff"));
    assert!(att.body.starts_with(b"%PDF-1.4"));
    assert_eq!(
        http::get(
            addr,
            &format!("/api/v1/messages/{id}/attachments/1"),
            Some(alice)
        )
        .await
        .status,
        404
    );

    // Proof: the offline proof document verifies with the public key and the original
    // bytes, exactly as served (canonical bytes).
    let olga = server.token("olga");
    let proof = http::get(addr, &format!("/api/v1/messages/{id}/proof"), Some(olga)).await;
    assert_eq!(proof.status, 200, "{}", proof.text());
    let public = server.archive.key().public_key();
    let document =
        coffer_volume::proof::InclusionProof::from_json(&proof.body).expect("canonical proof");
    let raw = server.raws.get("own").expect("raw");
    let verdict = document.verify(&public, Some(raw)).expect("proof verifies");
    assert_eq!(verdict.message_id, id);
    assert_eq!(
        verdict.content_sha256.as_deref(),
        Some(hex::encode(coffer_volume::record::sha256(raw)).as_str())
    );
    let mut other = raw.clone();
    other.push(b'x');
    assert!(document.verify(&public, Some(&other)).is_err());
    // An auditor gets the proof without the record header and custody metadata
    // (participant addresses): it proves the record hash only.
    let p = http::get(
        addr,
        &format!("/api/v1/messages/{id}/proof"),
        Some(server.token("aud")),
    )
    .await;
    let bare = coffer_volume::proof::InclusionProof::from_json(&p.body).expect("proof");
    assert!(bare.record_meta.is_none() && bare.record_header.is_none());
    assert_eq!(bare.record_hash, document.record_hash);
    assert!(
        bare.verify(&public, None)
            .expect("verifies")
            .content_sha256
            .is_none()
    );

    // Search results carry hits; the search is audited with query text and count.
    let r = http::get(addr, "/api/v1/search?q=lorem&sort=date_desc", Some(alice)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["total"], 4);
    let audit = http::get(addr, "/api/v1/audit?actor=alice", Some(server.token("aud")))
        .await
        .json();
    let entries = audit["entries"].as_array().expect("entries");
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "search",
        "message.view",
        "message.raw",
        "message.attachment",
        "login",
    ] {
        assert!(actions.contains(&action), "{action} audited: {actions:?}");
    }
    let search = entries
        .iter()
        .find(|e| e["action"] == "search")
        .expect("search entry");
    assert_eq!(search["detail"]["query"], "lorem");
    assert_eq!(search["detail"]["results"], 4);
    assert_eq!(search["client"], "127.0.0.1");
    let viewed = entries
        .iter()
        .find(|e| e["action"] == "message.view")
        .expect("view entry");
    assert_eq!(viewed["target"], id);
    // Entries never carry message content.
    let text = audit.to_string();
    for secret in [
        "Own mail",
        "Body text",
        "ext@outside.example",
        "report-mkown.pdf",
    ] {
        assert!(!text.contains(secret), "{secret} in the audit trail");
    }
    // Time filters.
    let none = http::get(
        addr,
        "/api/v1/audit?actor=alice&to=2000-01-01",
        Some(server.token("aud")),
    )
    .await
    .json();
    assert_eq!(none["total"], 0);
    let bad = http::get(
        addr,
        "/api/v1/audit?from=yesterday",
        Some(server.token("aud")),
    )
    .await;
    assert_eq!(bad.status, 400);
}

/// Issue 22, item 9: journal bodies draw from the journal's one memory budget (the one
/// SMTP/LMTP sessions share). When it cannot hold a body, declared or growing chunk by
/// chunk, the answer is 503 with `Retry-After`; once memory is free the same message is
/// taken, and its memory is given back after the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_submission_over_the_memory_budget_is_503_with_retry_after() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = TestServer::start(ApiConfig::default()).await;
    let addr = server.addr;
    let journal = server.token("journal");
    let budget = server.state.journal().memory_budget().clone();
    let raw = common::message(
        "ext@outside.example",
        "carl@corp.example",
        "",
        "Over budget",
        "mkoverbudget",
    );
    let path = "/api/v1/messages?mail_from=ext%40outside.example&rcpt=carl%40corp.example";
    // Other messages in flight hold all of the budget but 100 bytes.
    let held = budget
        .try_reserve(budget.limit() - budget.in_use() - 100)
        .expect("reserve");

    let r = http::request(
        addr,
        "POST",
        path,
        Some(journal),
        Some("message/rfc822"),
        &raw,
    )
    .await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(r.json()["error"]["code"], "unavailable");

    // A chunked body: the first chunk fits, the second does not.
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Authorization: Bearer {journal}\r\nContent-Type: message/rfc822\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    );
    let mut request = head.into_bytes();
    for chunk in raw.chunks(64).take(3) {
        request.extend(format!("{:x}\r\n", chunk.len()).bytes());
        request.extend(chunk);
        request.extend(b"\r\n");
    }
    stream.write_all(&request).await.expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 5"), "{answer}");

    drop(held);
    let r = http::request(
        addr,
        "POST",
        path,
        Some(journal),
        Some("message/rfc822"),
        &raw,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(budget.in_use(), 0);
}

/// A journal body larger than `max_message_body` is 413 and holds no memory after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_submission_over_the_size_limit_is_413() {
    let server = TestServer::start(ApiConfig {
        max_message_body: 100,
        ..ApiConfig::default()
    })
    .await;
    let raw = common::message(
        "ext@outside.example",
        "carl@corp.example",
        "",
        "Big",
        "mkbig",
    );
    assert!(raw.len() > 100);
    let r = http::request(
        server.addr,
        "POST",
        "/api/v1/messages",
        Some(server.token("journal")),
        Some("message/rfc822"),
        &raw,
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(server.state.journal().memory_budget().in_use(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_submission_is_acknowledged_after_commit() {
    let server = TestServer::start(ApiConfig::default()).await;
    let addr = server.addr;
    let journal = server.token("journal");
    let raw = common::message(
        "ext@outside.example",
        "undisclosed-recipients:;",
        "",
        "Journaled",
        "mkjournaled",
    );
    let path = "/api/v1/messages?mail_from=ext%40outside.example&rcpt=carl%40corp.example&rcpt=bob%40corp.example";
    let r = http::request(
        addr,
        "POST",
        path,
        Some(journal),
        Some("message/rfc822"),
        &raw,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let body = r.json();
    assert_eq!(body["duplicate"], false);
    let id = body["id"].as_str().expect("id").to_string();
    // Acknowledged means durable: the record is in the volume now.
    let (year, seq) = id.split_once('-').expect("id");
    let volume = server
        .archive
        .volumes()
        .get(year.parse().expect("year"))
        .expect("volume")
        .expect("exists");
    assert_eq!(
        volume
            .read(seq.parse().expect("seq"))
            .expect("record")
            .content,
        raw
    );
    // The same bytes again: the same id, flagged duplicate.
    let again = http::request(
        addr,
        "POST",
        path,
        Some(journal),
        Some("message/rfc822"),
        &raw,
    )
    .await;
    assert_eq!(
        (
            again.status,
            again.json()["id"].as_str().map(String::from),
            again.json()["duplicate"].clone()
        ),
        (201, Some(id.clone()), serde_json::json!(true))
    );
    // Envelope recipients became mailboxes: carl can read it, alice cannot.
    server.archive.flush().await.expect("flush");
    assert_eq!(
        http::get(
            addr,
            &format!("/api/v1/messages/{id}"),
            Some(server.token("carl"))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        http::get(
            addr,
            &format!("/api/v1/messages/{id}"),
            Some(server.token("alice"))
        )
        .await
        .status,
        404
    );
    // Archiving rules of users and groups apply to journaled mail: carl archives
    // nothing; carol's group archives internal mail only (this one is external).
    let adm = server.token("adm");
    let r = http::json(
        addr,
        "PATCH",
        "/api/v1/users/carl",
        Some(adm),
        &serde_json::json!({"archiving_rule": "none"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = http::json(addr, "POST", "/api/v1/groups", Some(adm), &serde_json::json!({"name": "internal-only", "members": ["carol"], "archiving_rule": "internal"})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    for (rcpt, marker) in [
        ("carl%40corp.example", "mkexcluded1"),
        ("carol%40other.example", "mkexcluded2"),
    ] {
        let raw = common::message(
            "ext@outside.example",
            "undisclosed-recipients:;",
            "",
            "Excluded",
            marker,
        );
        let r = http::request(
            addr,
            "POST",
            &format!("/api/v1/messages?rcpt={rcpt}"),
            Some(journal),
            None,
            &raw,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["excluded"], true, "{}", r.text());
    }
    let excluded = http::get(
        addr,
        "/api/v1/audit?action=message.excluded",
        Some(server.token("aud")),
    )
    .await
    .json();
    assert_eq!(excluded["total"], 2, "{excluded}");
    // Empty body, unknown parameter.
    assert_eq!(
        http::request(addr, "POST", "/api/v1/messages", Some(journal), None, b"")
            .await
            .status,
        400
    );
    assert_eq!(
        http::request(
            addr,
            "POST",
            "/api/v1/messages?x=1",
            Some(journal),
            None,
            b"x"
        )
        .await
        .status,
        400
    );
    let metrics = http::get(addr, "/metrics", None).await.text();
    assert!(
        metrics.contains("coffer_ingest_messages_total{source=\"http\",outcome=\"archived\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("coffer_index_lag_records{year="),
        "{metrics}"
    );
    assert!(
        metrics.contains("coffer_http_request_duration_seconds_bucket{route=\"/api/v1/messages\""),
        "{metrics}"
    );
}

/// Every (method, path) the API serves, as the matrix in `authz.rs` exercises them.
const ENDPOINTS: [(&str, &str); 58] = [
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/openapi.json"),
    ("POST", "/api/v1/session"),
    ("DELETE", "/api/v1/session"),
    ("POST", "/api/v1/users"),
    ("GET", "/api/v1/users"),
    ("GET", "/api/v1/users/{username}"),
    ("PATCH", "/api/v1/users/{username}"),
    ("DELETE", "/api/v1/users/{username}"),
    ("POST", "/api/v1/groups"),
    ("GET", "/api/v1/groups"),
    ("PATCH", "/api/v1/groups/{name}"),
    ("DELETE", "/api/v1/groups/{name}"),
    ("POST", "/api/v1/domains"),
    ("GET", "/api/v1/domains"),
    ("DELETE", "/api/v1/domains/{name}"),
    ("POST", "/api/v1/tokens"),
    ("GET", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens/{name}"),
    ("POST", "/api/v1/users/import"),
    ("POST", "/api/v1/session/password"),
    ("GET", "/api/v1/session"),
    ("POST", "/api/v1/session/cookie"),
    ("GET", "/api/v1/search"),
    ("GET", "/api/v1/calendar"),
    ("GET", "/api/v1/messages/{id}"),
    ("GET", "/api/v1/messages/{id}/html"),
    ("GET", "/api/v1/messages/{id}/raw"),
    ("GET", "/api/v1/messages/{id}/attachments/{n}"),
    ("GET", "/api/v1/messages/{id}/proof"),
    ("POST", "/api/v1/messages"),
    ("GET", "/api/v1/volumes"),
    ("POST", "/api/v1/volumes/{year}/verify"),
    ("POST", "/api/v1/audit/verify"),
    ("GET", "/api/v1/retention/policies"),
    ("PUT", "/api/v1/retention/policies/{name}"),
    ("PUT", "/api/v1/retention/assignments"),
    ("DELETE", "/api/v1/retention/assignments"),
    ("POST", "/api/v1/retention/proposals/{id}/approve"),
    ("POST", "/api/v1/retention/proposals/{id}/reject"),
    ("GET", "/api/v1/retention/messages/{id}"),
    ("GET", "/api/v1/retention/report"),
    ("GET", "/api/v1/holds"),
    ("POST", "/api/v1/holds"),
    ("GET", "/api/v1/holds/{id}"),
    ("POST", "/api/v1/holds/{id}/release"),
    ("GET", "/api/v1/dispositions"),
    ("POST", "/api/v1/dispositions"),
    ("GET", "/api/v1/dispositions/{id}"),
    ("POST", "/api/v1/dispositions/{id}/approve"),
    ("POST", "/api/v1/dispositions/{id}/reject"),
    ("GET", "/api/v1/dispositions/{id}/certificate"),
    ("GET", "/api/v1/volumes/{year}/tree-head"),
    ("GET", "/api/v1/volumes/{year}/consistency"),
    ("GET", "/api/v1/audit/volumes/{year}/tree-head"),
    ("GET", "/api/v1/audit/volumes/{year}/consistency"),
    ("GET", "/api/v1/witnesses"),
];
const AUDIT_ENDPOINT: (&str, &str) = ("GET", "/api/v1/audit");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_routes() {
    let server = TestServer::start(ApiConfig::default()).await;
    let addr = server.addr;
    let r = http::get(addr, "/api/v1/openapi.json", None).await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert!(
        doc["openapi"].as_str().unwrap_or("").starts_with("3."),
        "{}",
        doc["openapi"]
    );
    let mut documented: BTreeSet<(String, String)> = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if [
                "get", "post", "put", "patch", "delete", "head", "options", "trace",
            ]
            .contains(&method.as_str())
            {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let expected: BTreeSet<(String, String)> = ENDPOINTS
        .iter()
        .chain([&AUDIT_ENDPOINT])
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented, expected,
        "the OpenAPI document and the endpoint list differ"
    );
    // Every documented (method, path) is routed (never the 404/405 fallbacks), and the
    // other methods on the same path are not.
    for (method, path) in &documented {
        let concrete = path
            .replace("{id}", server.id("own"))
            .replace("{n}", "0")
            .replace(
                "{year}",
                server.id("own").split('-').next().unwrap_or("2026"),
            )
            .replace("{username}", "carl")
            .replace("{name}", "nothing.example");
        // A body only where the method takes one: a server answers a GET (the public
        // OpenAPI document, say) without reading a body it does not expect, and closing a
        // connection with unread bytes resets it, sometimes before the answer is read.
        let takes_body = matches!(method.as_str(), "POST" | "PUT" | "PATCH");
        let r = http::request(
            addr,
            method,
            &concrete,
            Some("cs_invalid"),
            takes_body.then_some("application/json"),
            if takes_body { b"{}" } else { b"" },
        )
        .await;
        let code = if r.status >= 400 && r.body.starts_with(b"{") {
            r.json()["error"]["code"].as_str().map(String::from)
        } else {
            None
        };
        assert!(
            !matches!(code.as_deref(), Some("no_route" | "method_not_allowed")),
            "{method} {path} is documented but not routed ({})",
            r.status
        );
        for other in ["GET", "POST", "PATCH", "DELETE"] {
            if !documented.contains(&(other.to_string(), path.clone())) {
                let r = http::request(addr, other, &concrete, None, None, b"").await;
                assert_eq!(r.status, 405, "{other} {path} is routed but not documented");
            }
        }
    }
}

/// `/metrics` parses with the official Prometheus client's parser (scripts/check-metrics)
/// with every family typed — from the running server, and for two volume years, whose
/// per-year gauges once interleaved so that parsers read the second group as `unknown`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_with_a_real_prometheus_parser() {
    let server = TestServer::start(ApiConfig::default()).await;
    let served = http::get(server.addr, "/metrics", None).await;
    assert_eq!(served.status, 200);
    let ingest = coffer_ingest::metrics::IngestMetrics::default();
    let metrics = coffer_query_api::Metrics::new(&ingest);
    metrics.request("/api/v1/search", 200, Duration::from_millis(4));
    let two_years = metrics.render(&[
        coffer_query_api::YearGauges {
            year: 2025,
            messages: 10,
            records: 12,
            index_lag: 0,
            catalog_lag: 0,
        },
        coffer_query_api::YearGauges {
            year: 2026,
            messages: 3,
            records: 4,
            index_lag: 1,
            catalog_lag: 0,
        },
    ]);
    let script = coffer_testkit::repo_root().join("scripts/check-metrics");
    for (what, text) in [("served", served.text()), ("two years", two_years)] {
        let mut child = std::process::Command::new(&script)
            .args([
                "coffer_http_requests",
                "coffer_auth_failures",
                "coffer_archived_messages",
                "coffer_index_lag_records",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("scripts/check-metrics (needs python3 and prometheus-client)");
        {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())
                .expect("write");
        }
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{what}: {}\n{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `/metrics` can require a token of its own (issue 22, item 7).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_require_a_token() {
    let server = TestServer::start(ApiConfig {
        metrics_token: Some("m-secret-token".into()),
        ..ApiConfig::default()
    })
    .await;
    assert_eq!(http::get(server.addr, "/metrics", None).await.status, 401);
    assert_eq!(
        http::get(server.addr, "/metrics", Some("wrong"))
            .await
            .status,
        401
    );
    let ok = http::get(server.addr, "/metrics", Some("m-secret-token")).await;
    assert_eq!(ok.status, 200);
    assert!(ok.text().contains("coffer_http_requests_total"));
    // Moved to a listener of its own: the API's answers 404.
    let moved = TestServer::start(ApiConfig {
        metrics_on_main: false,
        ..ApiConfig::default()
    })
    .await;
    assert_eq!(http::get(moved.addr, "/metrics", None).await.status, 404);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let service = coffer_query_api::metrics_router(moved.state.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, service).await;
    });
    assert_eq!(http::get(addr, "/metrics", None).await.status, 200);
    task.abort();
}
