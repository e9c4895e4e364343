//! Retention end to end with the real binary: policies of 1 year, 7 years and forever
//! assigned to the default, a group and a mailbox (from the command line, beside the
//! running server); mail dated years back and current mail journaled over HTTP; a legal
//! hold on one custodian placed by an officer; why each message is kept
//! (`coffer retention show` and the API); a shortening proposed by one administrator,
//! refused to its proposer and approved by a second; the report; roles; the audit trail.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

fn message(from: &str, to: &str, date: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{subject}@retention.test>\r\n\r\nBody of {subject}.\r\n"
    )
    .into_bytes()
}

fn cli_json(data: &Path, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&cli(data, args)).expect("json output")
}

#[test]
fn policies_holds_approval_and_report_end_to_end() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
    let addr = server.addr;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    // People: a second administrator, two officers of different domains, an auditor,
    // two users (one in the group "legal").
    let password = "retention-test-password-1";
    for args in [
        vec!["user", "add", "admin2", "--role", "admin"],
        vec![
            "user",
            "add",
            "oscar",
            "--role",
            "officer",
            "--domain",
            "corp.example",
        ],
        vec![
            "user",
            "add",
            "olga",
            "--role",
            "officer",
            "--domain",
            "other.example",
        ],
        vec!["user", "add", "audrey", "--role", "auditor"],
        vec![
            "user",
            "add",
            "ursula",
            "--role",
            "user",
            "--mailbox",
            "ursula@corp.example",
        ],
        vec![
            "user",
            "add",
            "victor",
            "--role",
            "user",
            "--mailbox",
            "victor@corp.example",
            "--group",
            "legal",
        ],
    ] {
        let mut cmd = coffer(&data);
        cmd.args(&args).arg("--password-stdin");
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("spawn");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin
                .write_all(password.as_bytes())
                .expect("write password");
        }
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let journal = cli_json(&data, &["token", "create", "--name", "mx", "--json"])["token"]
        .as_str()
        .expect("token")
        .to_string();

    // Policies from the command line: default 1 year, group legal 7 years, bob forever.
    cli(&data, &["retention", "policy", "set", "short", "1y"]);
    cli(&data, &["retention", "policy", "set", "long", "7y"]);
    cli(&data, &["retention", "policy", "set", "keep", "forever"]);
    assert!(cli(&data, &["retention", "assign", "--default", "short"]).contains("applied"));
    assert!(cli(&data, &["retention", "assign", "--group", "legal", "long"]).contains("applied"));
    assert!(
        cli(
            &data,
            &[
                "retention",
                "assign",
                "--mailbox",
                "bob@corp.example",
                "keep"
            ]
        )
        .contains("applied")
    );
    // A bad period and an unknown policy are refused with the reason.
    let out = run(coffer(&data).args(["retention", "policy", "set", "bad", "7 weeks"]));
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("not a retention period"),
        "{}",
        stderr(&out)
    );
    let out =
        run(coffer(&data).args(["retention", "assign", "--domain", "corp.example", "nosuch"]));
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("no policy"), "{}", stderr(&out));

    let ids = runtime.block_on(async {
        let mut ids = Vec::new();
        for (rcpt, date, subject) in [
            (
                "ursula@corp.example",
                "Wed, 15 Jan 2020 10:00:00 +0000",
                "ursula-old",
            ),
            (
                "victor@corp.example",
                "Wed, 15 Jan 2020 10:00:00 +0000",
                "victor-old",
            ),
            (
                "bob@corp.example",
                "Wed, 15 Jan 2020 10:00:00 +0000",
                "bob-old",
            ),
            (
                "carol@corp.example",
                "Wed, 15 Jan 2020 10:00:00 +0000",
                "carol-old",
            ),
            (
                "carol@corp.example",
                "Mon, 30 Nov 2026 10:00:00 +0000",
                "carol-new",
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
                &message("sender@outside.example", rcpt, date, subject),
            )
            .await;
            assert_eq!(r.status, 201, "{}", r.text());
            ids.push(r.json()["id"].as_str().expect("id").to_string());
        }
        let admin = login(addr, "admin", ADMIN_PASSWORD).await;
        wait_applied(
            addr,
            &admin,
            &ids.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .await;
        ids
    });
    let [ursula_old, victor_old, bob_old, carol_old, carol_new] =
        <[String; 5]>::try_from(ids).expect("five ids");

    let show = |id: &str| cli_json(&data, &["retention", "show", id, "--json"]);
    let s = show(&ursula_old);
    assert_eq!(s["eligible"], true, "{s}");
    assert_eq!(s["because"]["policy"], "short", "{s}");
    assert_eq!(s["keep_until"], "2021-01-15T10:00:00Z", "{s}");
    let s = show(&victor_old);
    assert_eq!(
        s["because"]["policy"], "long",
        "the group's longer policy wins: {s}"
    );
    assert_eq!(s["because"]["mailbox"], "victor@corp.example", "{s}");
    assert_eq!(s["keep_until"], "2027-01-15T10:00:00Z", "{s}");
    assert_eq!(s["eligible"], false, "{s}");
    let s = show(&bob_old);
    assert_eq!(s["because"]["policy"], "keep", "{s}");
    assert!(s["keep_until"].is_null(), "forever: {s}");
    assert_eq!(show(&carol_old)["eligible"], true);
    assert_eq!(show(&carol_new)["eligible"], false);
    // The text form says why in words.
    let text = cli(&data, &["retention", "show", &victor_old]);
    assert!(
        text.contains(
            "policy long v1 assigned to group legal, through mailbox victor@corp.example"
        ),
        "{text}"
    );

    runtime.block_on(async {
        let login = |u: &'static str, p: &'static str| async move {
            let r = http::json(addr, "POST", "/api/v1/session", None, &serde_json::json!({"username": u, "password": p})).await;
            assert_eq!(r.status, 200, "{}", r.text());
            r.json()["token"].as_str().expect("token").to_string()
        };
        let admin = login("admin", ADMIN_PASSWORD).await;
        let admin2 = login("admin2", password).await;
        let oscar = login("oscar", password).await;
        let olga = login("olga", password).await;
        let audrey = login("audrey", password).await;
        let ursula = login("ursula", password).await;

        // Roles: a user reads no policies; an admin and an auditor place no holds.
        assert_eq!(http::get(addr, "/api/v1/retention/policies", Some(&ursula)).await.status, 403);
        let hold = serde_json::json!({"name": "Matter 42", "reason": "litigation hold, case 42", "custodians": ["ursula@corp.example"]});
        assert_eq!(http::json(addr, "POST", "/api/v1/holds", Some(&admin), &hold).await.status, 403);
        assert_eq!(http::json(addr, "POST", "/api/v1/holds", Some(&audrey), &hold).await.status, 403);
        // An officer of other.example cannot hold corp.example's custodians, nor the
        // whole archive by query.
        let r = http::json(addr, "POST", "/api/v1/holds", Some(&olga), &hold).await;
        assert_eq!(r.status, 403, "{}", r.text());
        let r = http::json(addr, "POST", "/api/v1/holds", Some(&olga), &serde_json::json!({"name": "wide", "reason": "r", "query": "subject:old"})).await;
        assert_eq!(r.status, 403, "{}", r.text());
        // A hold naming nothing, and one with a bad query, are refused.
        let r = http::json(addr, "POST", "/api/v1/holds", Some(&oscar), &serde_json::json!({"name": "empty", "reason": "r"})).await;
        assert_eq!(r.status, 400, "{}", r.text());
        let r = http::json(addr, "POST", "/api/v1/holds", Some(&oscar), &serde_json::json!({"name": "badq", "reason": "r", "custodians": ["ursula@corp.example"], "query": "subject:(unclosed"})).await;
        assert_eq!(r.status, 400, "{}", r.text());
        // Oscar holds ursula's mail.
        let r = http::json(addr, "POST", "/api/v1/holds", Some(&oscar), &hold).await;
        assert_eq!(r.status, 201, "{}", r.text());
        let hold_id = r.json()["id"].as_i64().expect("hold id");
        // And carol's by a query (subject) as well.
        let r = http::json(addr, "POST", "/api/v1/holds", Some(&oscar), &serde_json::json!({"name": "Matter 43", "reason": "regulator request", "custodians": ["carol@corp.example"], "query": "subject:carol-old"})).await;
        assert_eq!(r.status, 201, "{}", r.text());
        // Olga does not see corp.example's holds; the auditor sees both.
        let r = http::get(addr, "/api/v1/holds", Some(&olga)).await;
        assert_eq!(r.json()["holds"].as_array().expect("holds").len(), 0, "{}", r.text());
        assert_eq!(http::get(addr, &format!("/api/v1/holds/{hold_id}"), Some(&olga)).await.status, 404);
        let r = http::get(addr, "/api/v1/holds", Some(&audrey)).await;
        assert_eq!(r.json()["holds"].as_array().expect("holds").len(), 2, "{}", r.text());

        // Held now: ursula's old message (custodian) and carol's old one (custodian and
        // query, once the index has it); carol's new one matches the custodian only.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = http::get(addr, &format!("/api/v1/retention/messages/{carol_old}"), Some(&audrey)).await;
            assert_eq!(r.status, 200, "{}", r.text());
            if r.json()["eligible"] == false {
                assert_eq!(r.json()["held_by"][0]["name"], "Matter 43", "{}", r.text());
                break;
            }
            assert!(Instant::now() < deadline, "the query hold never covered the message: {}", r.text());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let r = http::get(addr, &format!("/api/v1/retention/messages/{ursula_old}"), Some(&oscar)).await;
        assert_eq!(r.json()["eligible"], false, "{}", r.text());
        assert_eq!(r.json()["held_by"][0]["id"], hold_id, "{}", r.text());
        let r = http::get(addr, &format!("/api/v1/retention/messages/{carol_new}"), Some(&oscar)).await;
        assert!(r.json()["held_by"].as_array().expect("held_by").is_empty(), "{}", r.text());
        // Olga's scope does not reach corp.example's messages: 404, not an explanation.
        assert_eq!(http::get(addr, &format!("/api/v1/retention/messages/{ursula_old}"), Some(&olga)).await.status, 404);

        // Shortening "long" to 1 year: a proposal, which its proposer cannot approve.
        let r = http::json(addr, "PUT", "/api/v1/retention/policies/long", Some(&admin), &serde_json::json!({"period": "1y"})).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["outcome"], "proposed", "{}", r.text());
        let proposal = r.json()["proposal"].as_i64().expect("proposal");
        let r = http::get(addr, &format!("/api/v1/retention/messages/{victor_old}"), Some(&audrey)).await;
        assert_eq!(r.json()["eligible"], false, "not applied before approval: {}", r.text());
        let r = http::request(addr, "POST", &format!("/api/v1/retention/proposals/{proposal}/approve"), Some(&admin), None, b"").await;
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(r.text().contains("second administrator"), "{}", r.text());
        let r = http::request(addr, "POST", &format!("/api/v1/retention/proposals/{proposal}/approve"), Some(&admin2), None, b"").await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["state"], "approved");
        let r = http::get(addr, &format!("/api/v1/retention/messages/{victor_old}"), Some(&audrey)).await;
        assert_eq!(r.json()["eligible"], true, "{}", r.text());
        assert_eq!(r.json()["because"]["version"], 2, "{}", r.text());
        // Lengthening needs nobody else.
        let r = http::json(addr, "PUT", "/api/v1/retention/policies/long", Some(&admin), &serde_json::json!({"period": "10y"})).await;
        assert_eq!(r.json()["outcome"], "applied", "{}", r.text());
        let page = http::get(addr, "/api/v1/retention/policies", Some(&audrey)).await.json();
        let versions: Vec<(String, Option<String>)> = page["versions"]
            .as_array()
            .expect("versions")
            .iter()
            .filter(|v| v["name"] == "long")
            .map(|v| (v["period"].as_str().expect("period").to_string(), v["approved_by"].as_str().map(str::to_string)))
            .collect();
        assert_eq!(
            versions,
            vec![("7y".into(), None), ("1y".into(), Some("admin2".into())), ("10y".into(), None)]
        );

        // The release of a hold is explicit, with a reason.
        let r = http::json(addr, "POST", &format!("/api/v1/holds/{hold_id}/release"), Some(&oscar), &serde_json::json!({"reason": ""})).await;
        assert_eq!(r.status, 400, "{}", r.text());
        let r = http::json(addr, "POST", &format!("/api/v1/holds/{hold_id}/release"), Some(&oscar), &serde_json::json!({"reason": "case settled"})).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["in_force"], false);
        let r = http::get(addr, &format!("/api/v1/retention/messages/{ursula_old}"), Some(&audrey)).await;
        assert_eq!(r.json()["eligible"], true, "{}", r.text());

        // The report: per year and policy.
        let r = http::get(addr, "/api/v1/retention/report", Some(&audrey)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let report = r.json();
        let line = |policy: &str| {
            report["lines"]
                .as_array()
                .expect("lines")
                .iter()
                .find(|l| l["policy"] == policy)
                .cloned()
                .unwrap_or_else(|| panic!("no line for {policy}: {report}"))
        };
        // short: ursula-old (eligible), carol-old (held), carol-new (kept).
        let short = line("short");
        assert_eq!((short["kept"].as_u64(), short["held"].as_u64(), short["eligible"].as_u64()), (Some(2), Some(1), Some(1)), "{report}");
        assert_eq!(line("long")["kept"], 1, "{report}");
        assert_eq!(line("keep")["kept"], 1, "{report}");
        assert_eq!(report["holds_in_force"].as_array().expect("holds").len(), 1, "{report}");

        // The audit trail has every change, with who made it.
        let r = http::get(addr, "/api/v1/audit?limit=1000", Some(&audrey)).await;
        let entries = r.json()["entries"].as_array().expect("entries").clone();
        let has = |actor_prefix: &str, action: &str, outcome: &str| {
            entries.iter().any(|e| {
                e["actor"].as_str().is_some_and(|a| a.starts_with(actor_prefix))
                    && e["action"] == action
                    && e["outcome"] == outcome
            })
        };
        assert!(has("local:", "retention.policy.set", "success"));
        assert!(has("local:", "retention.assign", "success"));
        assert!(has("local:", "retention.assign", "failure"), "the unknown policy was refused and audited");
        assert!(has("admin", "retention.propose", "success"));
        assert!(has("admin", "retention.approve", "failure"), "the proposer's own approval was refused");
        assert!(has("admin2", "retention.approve", "success"));
        assert!(has("oscar", "hold.place", "success"));
        assert!(has("olga", "hold.place", "failure"));
        assert!(has("oscar", "hold.release", "success"));
    });

    // The report from the shell beside the running server agrees.
    let report = cli_json(&data, &["retention", "report", "--json"]);
    assert_eq!(
        report["holds_in_force"].as_array().expect("holds").len(),
        1,
        "{report}"
    );
    stop_server(server);

    // With the server stopped, the command line works on the data directory itself.
    let text = cli(&data, &["retention", "policy", "list"]);
    assert!(text.contains("long") && text.contains("10y"), "{text}");
    let s = show(&bob_old);
    assert_eq!(s["because"]["policy"], "keep", "{s}");
}
