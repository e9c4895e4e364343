//! The authorization matrix, generated over every endpoint × caller × message owner,
//! against a real server on 127.0.0.1:0 with fixtures ingested through the real archive.
//!
//! Expected statuses come from an independent statement of DESIGN.md's role table and
//! the scope rules (below), not from the code under test. Every mismatch is collected
//! and printed; the test fails on any. A separate count asserts that no request for a
//! message outside the caller's scope succeeded (zero cross-user or cross-domain
//! successes), and that denials and out-of-scope attempts are in the audit trail.

mod common;

use std::collections::BTreeSet;

use coffer_query_api::ApiConfig;
use common::http::{self, Resp};
use common::{PEOPLE, TestServer};

/// Callers: every person, the journal token, and no token.
fn callers() -> Vec<&'static str> {
    let mut c: Vec<&str> = PEOPLE.iter().map(|p| p.0).collect();
    c.push("journal");
    c.push("anonymous");
    c
}

fn role(caller: &str) -> &'static str {
    match caller {
        "journal" => "journal",
        "anonymous" => "anonymous",
        other => PEOPLE
            .iter()
            .find(|p| p.0 == other)
            .map(|p| p.1)
            .expect("person"),
    }
}

/// Which fixture owners a content reader may see (the scope rules, restated).
fn visible(caller: &str, owner: &str) -> bool {
    match caller {
        // alice: her address, her alias, Bcc-only and envelope-only copies; never
        // another user's, her group-mate's, or another domain's.
        "alice" => matches!(owner, "own" | "alias" | "bcc" | "envelope"),
        "bob" => owner == "group",
        "carl" => owner == "other_user",
        "carol" => owner == "other_domain",
        "nomail" => false,
        "olga" => owner != "other_domain",
        "otto" => owner == "other_domain",
        "ada" => true,
        _ => false,
    }
}

fn content_status(caller: &str, owner: &str) -> u16 {
    match role(caller) {
        "anonymous" => 401,
        "user" | "officer" if visible(caller, owner) => 200,
        "user" | "officer" => 404,
        _ => 403,
    }
}

fn proof_status(caller: &str, owner: &str) -> u16 {
    match role(caller) {
        "anonymous" => 401,
        "admin" | "auditor" => 200,
        "officer" if visible(caller, owner) => 200,
        "officer" => 404,
        _ => 403,
    }
}

/// Status for endpoints that do not concern one message.
fn general_status(caller: &str, allowed: &[&str], success: u16) -> u16 {
    let r = role(caller);
    if r == "anonymous" {
        401
    } else if allowed.contains(&r) {
        success
    } else {
        403
    }
}

const MARKERS: [(&str, &str); 7] = [
    ("own", "mkown"),
    ("alias", "mkalias"),
    ("bcc", "mkbcc"),
    ("envelope", "mkenvelope"),
    ("other_user", "mkcarl"),
    ("group", "mkbob"),
    ("other_domain", "mkcarol"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix() {
    let server = TestServer::start(ApiConfig::default()).await;
    let addr = server.addr;
    let mut failures: Vec<String> = Vec::new();
    let mut cross_scope_successes = 0;
    let mut checks = 0;
    let mut check = |what: String, got: &Resp, want: u16, failures: &mut Vec<String>| {
        checks += 1;
        if got.status != want {
            failures.push(format!(
                "{what}: got {} want {want}: {}",
                got.status,
                got.text()
            ));
        }
        if got.status != 401 && got.status != 405 {
            // Every answer, error or not, has our JSON shape or is a download.
            let ct = got.header("content-type").unwrap_or("");
            if got.status >= 400 && !ct.starts_with("application/json") {
                failures.push(format!("{what}: error without a JSON body ({ct})"));
            }
        }
    };

    for caller in callers() {
        let token = (caller != "anonymous").then(|| server.token(caller).to_string());
        let token = token.as_deref();
        // Per message: view, raw, attachment, proof, and a search for its marker.
        for (owner, marker) in MARKERS {
            let id = server.id(owner);
            for suffix in ["", "/raw", "/attachments/0"] {
                let r = http::get(addr, &format!("/api/v1/messages/{id}{suffix}"), token).await;
                let want = content_status(caller, owner);
                check(
                    format!("{caller} GET message{suffix} of {owner}"),
                    &r,
                    want,
                    &mut failures,
                );
                if r.status == 200 && !visible(caller, owner) {
                    cross_scope_successes += 1;
                }
            }
            // The HTML body for the UI's frame: refused like the view; where the view is
            // allowed, 200 or (a message without HTML) 404.
            let r = http::get(addr, &format!("/api/v1/messages/{id}/html"), token).await;
            let want = match content_status(caller, owner) {
                200 if r.status == 404 => 404,
                other => other,
            };
            check(
                format!("{caller} GET message/html of {owner}"),
                &r,
                want,
                &mut failures,
            );
            if r.status == 200 && !visible(caller, owner) {
                cross_scope_successes += 1;
            }
            let r = http::get(addr, &format!("/api/v1/messages/{id}/proof"), token).await;
            check(
                format!("{caller} GET proof of {owner}"),
                &r,
                proof_status(caller, owner),
                &mut failures,
            );
            if r.status == 200
                && matches!(role(caller), "user" | "officer")
                && !visible(caller, owner)
            {
                cross_scope_successes += 1;
            }
            let r = http::get(addr, &format!("/api/v1/search?q={marker}"), token).await;
            let want =
                content_status(caller, "own").min(if matches!(role(caller), "user" | "officer") {
                    200
                } else {
                    999
                });
            check(format!("{caller} search {owner}"), &r, want, &mut failures);
            if r.status == 200 {
                let total = r.json()["total"].as_u64().unwrap_or(u64::MAX);
                let expected = u64::from(visible(caller, owner));
                if total != expected {
                    failures.push(format!(
                        "{caller} search {owner}: {total} hits, want {expected}"
                    ));
                }
                if total > 0 && !visible(caller, owner) {
                    cross_scope_successes += 1;
                }
            }
        }
        // A query that tries to escape the scope with mailbox: and OR.
        if matches!(role(caller), "user" | "officer") {
            let r = http::get(
                addr,
                "/api/v1/search?q=mailbox%3Acarol%40other.example%20OR%20lorem&limit=50",
                token,
            )
            .await;
            check(format!("{caller} escaping search"), &r, 200, &mut failures);
            if r.status == 200 {
                for hit in r.json()["hits"].as_array().cloned().unwrap_or_default() {
                    let id = hit["id"].as_str().unwrap_or("");
                    let owner = server
                        .ids
                        .iter()
                        .find(|(_, v)| v.as_str() == id)
                        .map(|(k, _)| *k)
                        .unwrap_or("?");
                    if !visible(caller, owner) {
                        cross_scope_successes += 1;
                        failures.push(format!("{caller} escaping search returned {owner}"));
                    }
                }
            }
        }
        // The calendar of the personal archive: content readers only, counted inside
        // their scope (every fixture is dated November 2026).
        let r = http::get(addr, "/api/v1/calendar?year=2026", token).await;
        check(
            format!("{caller} GET calendar"),
            &r,
            general_status(caller, &["user", "officer"], 200),
            &mut failures,
        );
        if r.status == 200 {
            let seen = MARKERS
                .iter()
                .filter(|(owner, _)| visible(caller, owner))
                .count() as u64;
            let want = if seen == 0 {
                serde_json::json!({"total": 0, "years": [], "months": []})
            } else {
                serde_json::json!({
                    "total": seen,
                    "years": [{"year": 2026, "messages": seen}],
                    "months": [{"month": 11, "messages": seen}],
                })
            };
            if r.json() != want {
                if r.json()["total"].as_u64().unwrap_or(0) > seen {
                    cross_scope_successes += 1;
                }
                failures.push(format!("{caller} calendar: {} want {want}", r.text()));
            }
        }
        // Unknown id: same 404 as out of scope for readers.
        let r = http::get(addr, "/api/v1/messages/2026-99999", token).await;
        let want = match role(caller) {
            "anonymous" => 401,
            "user" | "officer" => 404,
            _ => 403,
        };
        check(
            format!("{caller} GET unknown message"),
            &r,
            want,
            &mut failures,
        );

        // Account management (admin only). Names are per caller so admin's writes succeed.
        let admin = ["admin"];
        let new_user = serde_json::json!({ "username": format!("new-{caller}"), "password": "long enough password", "role": "auditor" });
        let r = http::json(addr, "POST", "/api/v1/users", token, &new_user).await;
        check(
            format!("{caller} POST users"),
            &r,
            general_status(caller, &admin, 201),
            &mut failures,
        );
        let r = http::get(addr, "/api/v1/users", token).await;
        check(
            format!("{caller} GET users"),
            &r,
            general_status(caller, &admin, 200),
            &mut failures,
        );
        let r = http::get(addr, "/api/v1/users/carl", token).await;
        check(
            format!("{caller} GET user"),
            &r,
            general_status(caller, &admin, 200),
            &mut failures,
        );
        let change =
            serde_json::json!({ "mailboxes": ["carl@corp.example", "carl2@corp.example"] });
        let r = http::json(addr, "PATCH", "/api/v1/users/carl", token, &change).await;
        check(
            format!("{caller} PATCH user"),
            &r,
            general_status(caller, &admin, 200),
            &mut failures,
        );
        let r = http::request(addr, "DELETE", "/api/v1/users/new-adm", token, None, b"").await;
        check(
            format!("{caller} DELETE user"),
            &r,
            general_status(caller, &admin, 200),
            &mut failures,
        );
        let group = serde_json::json!({ "name": format!("g-{caller}"), "members": ["alice"] });
        let r = http::json(addr, "POST", "/api/v1/groups", token, &group).await;
        check(
            format!("{caller} POST groups"),
            &r,
            general_status(caller, &admin, 201),
            &mut failures,
        );
        let r = http::get(addr, "/api/v1/groups", token).await;
        check(
            format!("{caller} GET groups"),
            &r,
            general_status(caller, &admin, 200),
            &mut failures,
        );
        let rule = serde_json::json!({ "archiving_rule": "external" });
        let r = http::json(addr, "PATCH", "/api/v1/groups/g-adm", token, &rule).await;
        check(
            format!("{caller} PATCH group"),
            &r,
            general_status(caller, &admin, 204),
            &mut failures,
        );
        let r = http::request(addr, "DELETE", "/api/v1/groups/g-adm", token, None, b"").await;
        check(
            format!("{caller} DELETE group"),
            &r,
            general_status(caller, &admin, 204),
            &mut failures,
        );
        let domain = serde_json::json!({ "name": format!("d-{caller}.example") });
        let r = http::json(addr, "POST", "/api/v1/domains", token, &domain).await;
        check(
            format!("{caller} POST domains"),
            &r,
            general_status(caller, &admin, 201),
            &mut failures,
        );
        let r = http::get(addr, "/api/v1/domains", token).await;
        check(
            format!("{caller} GET domains"),
            &r,
            general_status(caller, &admin, 200),
            &mut failures,
        );
        let r = http::request(
            addr,
            "DELETE",
            "/api/v1/domains/d-adm.example",
            token,
            None,
            b"",
        )
        .await;
        check(
            format!("{caller} DELETE domain"),
            &r,
            general_status(caller, &admin, 204),
            &mut failures,
        );

        // Journal tokens and CSV import (administrator only).
        let spec = serde_json::json!({ "name": format!("t-{caller}") });
        let r = http::json(addr, "POST", "/api/v1/tokens", token, &spec).await;
        check(
            format!("{caller} POST tokens"),
            &r,
            general_status(caller, &admin, 201),
            &mut failures,
        );
        let r = http::get(addr, "/api/v1/tokens", token).await;
        check(
            format!("{caller} GET tokens"),
            &r,
            general_status(caller, &admin, 200),
            &mut failures,
        );
        let r = http::request(addr, "DELETE", "/api/v1/tokens/t-adm", token, None, b"").await;
        check(
            format!("{caller} DELETE token"),
            &r,
            general_status(caller, &admin, 204),
            &mut failures,
        );
        let csv = format!("username,role,mailboxes\ncsv-{caller},user,csv-{caller}@corp.example\n");
        let r = http::request(
            addr,
            "POST",
            "/api/v1/users/import",
            token,
            Some("text/csv"),
            csv.as_bytes(),
        )
        .await;
        check(
            format!("{caller} POST users/import"),
            &r,
            general_status(caller, &admin, 200),
            &mut failures,
        );

        // Retention policies (admin changes; admin, officer, auditor read), the report,
        // why a message is kept (officers only within their scope), legal holds
        // (officers place, officers and auditors read).
        let r = http::get(addr, "/api/v1/retention/policies", token).await;
        check(
            format!("{caller} GET retention policies"),
            &r,
            general_status(caller, &["admin", "officer", "auditor"], 200),
            &mut failures,
        );
        let r = http::json(
            addr,
            "PUT",
            &format!("/api/v1/retention/policies/p-{caller}"),
            token,
            &serde_json::json!({"period": "10y"}),
        )
        .await;
        check(
            format!("{caller} PUT retention policy"),
            &r,
            general_status(caller, &["admin"], 200),
            &mut failures,
        );
        let r = http::get(addr, "/api/v1/retention/report", token).await;
        check(
            format!("{caller} GET retention report"),
            &r,
            general_status(caller, &["admin", "officer", "auditor"], 200),
            &mut failures,
        );
        for owner in ["own", "other_domain"] {
            let id = server.id(owner);
            let r = http::get(addr, &format!("/api/v1/retention/messages/{id}"), token).await;
            let expected = match role(caller) {
                "officer" if !visible(caller, owner) => 404,
                _ => general_status(caller, &["admin", "officer", "auditor"], 200),
            };
            check(
                format!("{caller} GET retention of {owner}"),
                &r,
                expected,
                &mut failures,
            );
        }
        let hold = serde_json::json!({
            "name": format!("hold-{caller}"),
            "reason": "matter",
            "custodians": ["alice@corp.example"],
        });
        let r = http::json(addr, "POST", "/api/v1/holds", token, &hold).await;
        let expected = match caller {
            // An officer of other.example cannot hold corp.example's custodian.
            "otto" => 403,
            _ => general_status(caller, &["officer"], 201),
        };
        check(format!("{caller} POST hold"), &r, expected, &mut failures);
        let r = http::get(addr, "/api/v1/holds", token).await;
        check(
            format!("{caller} GET holds"),
            &r,
            general_status(caller, &["officer", "auditor"], 200),
            &mut failures,
        );

        // Disposition runs: administrators propose (nothing is eligible here: 400),
        // administrators, officers and auditors read.
        let r = http::request(addr, "POST", "/api/v1/dispositions", token, None, b"").await;
        check(
            format!("{caller} POST disposition"),
            &r,
            general_status(caller, &["admin"], 400),
            &mut failures,
        );
        let r = http::get(addr, "/api/v1/dispositions", token).await;
        check(
            format!("{caller} GET dispositions"),
            &r,
            general_status(caller, &["admin", "officer", "auditor"], 200),
            &mut failures,
        );
        let r = http::get(addr, "/api/v1/dispositions/999/certificate", token).await;
        check(
            format!("{caller} GET disposition certificate"),
            &r,
            general_status(caller, &["admin", "officer", "auditor"], 404),
            &mut failures,
        );
        let r = http::request(
            addr,
            "POST",
            "/api/v1/dispositions/999/approve",
            token,
            None,
            b"",
        )
        .await;
        check(
            format!("{caller} POST disposition approve"),
            &r,
            general_status(caller, &["admin"], 404),
            &mut failures,
        );

        // Volumes, verification, audit trail.
        let r = http::get(addr, "/api/v1/volumes", token).await;
        check(
            format!("{caller} GET volumes"),
            &r,
            general_status(caller, &["admin", "officer", "auditor"], 200),
            &mut failures,
        );
        let year = server
            .id("own")
            .split('-')
            .next()
            .unwrap_or("2026")
            .to_string();
        let r = http::request(
            addr,
            "POST",
            &format!("/api/v1/volumes/{year}/verify"),
            token,
            None,
            b"",
        )
        .await;
        check(
            format!("{caller} POST verify"),
            &r,
            general_status(caller, &["auditor"], 200),
            &mut failures,
        );
        let r = http::get(addr, "/api/v1/audit", token).await;
        check(
            format!("{caller} GET audit"),
            &r,
            general_status(caller, &["admin", "auditor", "officer"], 200),
            &mut failures,
        );
        if r.status == 200 && role(caller) == "officer" {
            let actors: BTreeSet<String> = r.json()["entries"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e["actor"].as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            if actors.iter().any(|a| a != caller) {
                failures.push(format!("{caller} read others' audit entries: {actors:?}"));
            }
        }

        // Journal submission (journal tokens only); unique bytes per caller.
        let raw = common::message(
            "ext@outside.example",
            "alice@corp.example",
            "",
            "Journal",
            &format!("mkjournal{caller}"),
        );
        let r = http::request(
            addr,
            "POST",
            "/api/v1/messages?rcpt=alice%40corp.example",
            token,
            Some("message/rfc822"),
            &raw,
        )
        .await;
        check(
            format!("{caller} POST messages"),
            &r,
            general_status(caller, &["journal"], 201),
            &mut failures,
        );

        // Ending a session: with a fresh session so the matrix token stays valid.
        let own_token = if matches!(role(caller), "anonymous" | "journal") {
            token.map(String::from)
        } else {
            Some(server.login(caller).await)
        };
        let r = http::request(
            addr,
            "DELETE",
            "/api/v1/session",
            own_token.as_deref(),
            None,
            b"",
        )
        .await;
        check(
            format!("{caller} DELETE session"),
            &r,
            general_status(caller, &["admin", "officer", "auditor", "user"], 204),
            &mut failures,
        );
        if r.status == 204 {
            let again = http::get(addr, "/api/v1/volumes", own_token.as_deref()).await;
            check(
                format!("{caller} revoked token"),
                &again,
                401,
                &mut failures,
            );
        }

        // Public endpoints.
        for path in ["/healthz", "/metrics", "/api/v1/openapi.json"] {
            let r = http::get(addr, path, token).await;
            check(format!("{caller} GET {path}"), &r, 200, &mut failures);
        }
    }

    assert!(checks > 500, "the matrix ran {checks} checks");
    assert_eq!(
        cross_scope_successes, 0,
        "requests outside the caller's scope succeeded"
    );
    assert!(
        failures.is_empty(),
        "{} of {checks} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Denials and out-of-scope attempts are audited.
    let auditor = server.token("aud");
    let denied = http::get(
        addr,
        "/api/v1/audit?action=content.read&actor=adm",
        Some(auditor),
    )
    .await
    .json();
    assert!(
        denied["total"].as_u64().unwrap_or(0) >= 7,
        "admin's content attempts audited as denied: {denied}"
    );
    assert!(
        denied["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .all(|e| e["outcome"] == "denied")
    );
    let probes = http::get(
        addr,
        "/api/v1/audit?actor=alice&action=message.view",
        Some(auditor),
    )
    .await
    .json();
    let outcomes: Vec<&str> = probes["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["outcome"].as_str())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "not_found").count(),
        4,
        "alice's out-of-scope views audited: {probes}"
    );
    assert_eq!(outcomes.iter().filter(|o| **o == "success").count(), 4);
}
