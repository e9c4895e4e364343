//! Bcc stays private (issue 22, item 1), through the real server on 127.0.0.1:0 with
//! messages journaled through the real pipeline: a user who was only in To: learns
//! nothing of who else received the message in Bcc or as an envelope-only recipient —
//! not from the message view, the raw download, the attachments, the search hits, nor
//! from `bcc:`, `envelope:`, `mailbox:`, `participant:` or plain-word queries — for
//! plain mail (a sender's copy with a `Bcc:` header) and for an Exchange journal report
//! (whose text lists every recipient). The Bcc recipient sees their own copy; officers
//! see the evidence as stored.

mod common;

use coffer_query_api::ApiConfig;
use common::TestServer;
use common::http;

/// Journals `raw` over HTTP with envelope recipients `rcpt`; returns the message id.
async fn journal(server: &TestServer, raw: &[u8], rcpt: &[&str]) -> String {
    let mut path = "/api/v1/messages?mail_from=ann%40corp.example".to_string();
    for r in rcpt {
        path.push_str(&format!("&rcpt={}", r.replace('@', "%40")));
    }
    let r = http::request(
        server.addr,
        "POST",
        &path,
        Some(server.token("journal")),
        Some("message/rfc822"),
        raw,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_string();
    server.archive.flush().await.expect("flush");
    server.archive.index().refresh().expect("refresh");
    id
}

async fn hits(server: &TestServer, who: &str, query: &str) -> Vec<serde_json::Value> {
    let q: String = query
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let r = http::get(
        server.addr,
        &format!("/api/v1/search?q={q}"),
        Some(server.token(who)),
    )
    .await;
    assert_eq!(r.status, 200, "{who} {query}: {}", r.text());
    r.json()["hits"].as_array().cloned().unwrap_or_default()
}

/// A sender's copy: To bob, Bcc carl, delivered to carl too (his Delivered-To).
fn senders_copy() -> Vec<u8> {
    b"From: Ann <ann@outside.example>\r\nTo: Bob <bob@corp.example>\r\n\
Bcc: Carl <carl@corp.example>\r\nDelivered-To: carl@corp.example\r\n\
Subject: Merger\r\nDate: Tue, 3 Nov 2026 10:00:00 +0000\r\nMessage-ID: <mkmerger@test>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain\r\n\r\nmkmerger terms attached.\r\n\
--b1\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"terms.txt\"\r\n\r\n\
mkmerger term sheet\r\n--b1--\r\n"
        .to_vec()
}

/// An Exchange journal report (testdata/eml/journal/001.eml) moved into the test's
/// domain: bob in To, carl in Bcc.
fn journal_report() -> Vec<u8> {
    let path = coffer_testkit::repo_root().join("testdata/eml/journal/001.eml");
    let text = String::from_utf8(std::fs::read(path).expect("fixture")).expect("utf-8");
    text.replace("frank@contoso.com", "carl@corp.example")
        .replace("@contoso.com", "@corp.example")
        .into_bytes()
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other["email"].as_str().unwrap_or_default().to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_to_recipient_learns_nothing_of_bcc_recipients() {
    let server = TestServer::start(ApiConfig::default()).await;
    let plain = journal(
        &server,
        &senders_copy(),
        &["bob@corp.example", "carl@corp.example"],
    )
    .await;
    let report = journal(&server, &journal_report(), &["journal@archive.example"]).await;
    for id in [&plain, &report] {
        // The message view: bob's own mailbox only, no Bcc.
        let view = http::get(
            server.addr,
            &format!("/api/v1/messages/{id}"),
            Some(server.token("bob")),
        )
        .await;
        assert_eq!(view.status, 200, "{}", view.text());
        let body = view.json();
        assert_eq!(
            strings(&body["mailboxes"]),
            vec!["bob@corp.example"],
            "{body}"
        );
        assert!(strings(&body["bcc"]).is_empty(), "{body}");
        assert!(!view.text().contains("carl"), "{id}: {}", view.text());
        // The raw download: the original (not the journal report), no Bcc, no one
        // else's delivery header.
        let raw = http::get(
            server.addr,
            &format!("/api/v1/messages/{id}/raw"),
            Some(server.token("bob")),
        )
        .await;
        assert_eq!(raw.status, 200);
        let raw_text = String::from_utf8_lossy(&raw.body).to_string();
        assert!(
            !raw_text.to_ascii_lowercase().contains("carl@"),
            "{id}: {raw_text}"
        );
        assert!(
            !raw_text.contains("X-MS-Journal-Report"),
            "{id}: {raw_text}"
        );
        assert!(raw_text.contains("bob@corp.example"), "{id}: {raw_text}");
        // Attachments come from the message as bob received it.
        for (n, attachment) in body["attachments"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let a = http::get(
                server.addr,
                &format!("/api/v1/messages/{id}/attachments/{n}"),
                Some(server.token("bob")),
            )
            .await;
            assert_eq!(a.status, 200, "{attachment}");
            assert!(!String::from_utf8_lossy(&a.body).contains("carl@"));
        }
    }
    // The report's attachment for bob is not the original (which would list carl's
    // Bcc): bob's view of the report has no message/rfc822 part at all.
    let report_view = http::get(
        server.addr,
        &format!("/api/v1/messages/{report}"),
        Some(server.token("bob")),
    )
    .await
    .json();
    assert!(
        report_view["attachments"]
            .as_array()
            .is_none_or(|a| a.iter().all(|x| x["content_type"] != "message/rfc822")),
        "{report_view}"
    );
    // Search: hits list bob's mailbox only; no query tells whether carl was a
    // recipient.
    for query in ["mkmerger", "figures"] {
        let found = hits(&server, "bob", query).await;
        assert_eq!(found.len(), 1, "{query}");
        assert_eq!(strings(&found[0]["mailboxes"]), vec!["bob@corp.example"]);
    }
    for query in [
        "bcc:carl@corp.example",
        "envelope:carl@corp.example",
        "mailbox:carl@corp.example",
        "participant:carl@corp.example",
        "carl@corp.example",
        "carl",
        "bcc:corp.example",
        "bcc:carl*",
        "envelope:corp.example",
        "mailbox:corp.example",
    ] {
        assert!(
            hits(&server, "bob", query).await.is_empty(),
            "{query} answers for bob (an oracle for carl's Bcc)"
        );
    }
    // bob's own addresses still match where he is: bob is not a Bcc recipient.
    assert!(
        hits(&server, "bob", "bcc:bob@corp.example")
            .await
            .is_empty()
    );
    let to_bob: Vec<String> = hits(&server, "bob", "to:bob@corp.example")
        .await
        .iter()
        .map(|h| h["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        to_bob.contains(&plain) && to_bob.contains(&report),
        "{to_bob:?}"
    );
    // carl, the Bcc recipient, finds both by his own address and sees only himself.
    let carls = hits(&server, "carl", "bcc:carl@corp.example").await;
    assert_eq!(carls.len(), 2);
    for hit in &carls {
        assert_eq!(strings(&hit["mailboxes"]), vec!["carl@corp.example"]);
    }
    let carl_raw = http::get(
        server.addr,
        &format!("/api/v1/messages/{plain}/raw"),
        Some(server.token("carl")),
    )
    .await;
    let carl_text = String::from_utf8_lossy(&carl_raw.body).to_string();
    assert!(!carl_text.contains("Bcc:"), "{carl_text}");
    assert!(
        carl_text.contains("Delivered-To: carl@corp.example"),
        "{carl_text}"
    );
    // An officer sees the evidence as stored: the report itself, every mailbox, Bcc.
    let officer = http::get(
        server.addr,
        &format!("/api/v1/messages/{plain}"),
        Some(server.token("olga")),
    )
    .await
    .json();
    assert_eq!(
        strings(&officer["mailboxes"]),
        vec!["bob@corp.example", "carl@corp.example"]
    );
    assert_eq!(strings(&officer["bcc"]), vec!["carl@corp.example"]);
    let officer_raw = http::get(
        server.addr,
        &format!("/api/v1/messages/{report}/raw"),
        Some(server.token("olga")),
    )
    .await;
    assert_eq!(officer_raw.body, journal_report());
    assert_eq!(
        hits(&server, "olga", "bcc:carl@corp.example").await.len(),
        2
    );
}
