//! Crash test: concurrent SMTP clients sending while the server is killed with SIGKILL at
//! random moments, restarted, repeatedly. Every message that got `250` must be present
//! and searchable after the restart, and the volumes must verify.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_server_killed_at_random_moments_keeps_every_acknowledged_message() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_nanos() as u64;
    eprintln!("crash test seed {seed}");
    let mut acknowledged_total = 0usize;
    for round in 0..4u32 {
        let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
        let smtp = server.smtp.expect("smtp");
        let acked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
        let clients: Vec<_> = (0..6u32)
            .map(|c| {
                let acked = Arc::clone(&acked);
                std::thread::spawn(move || {
                    let Ok(mut client) = SmtpClient::connect(smtp) else { return };
                    for n in 0.. {
                        let token = format!("crashr{round}c{c}n{n}");
                        let message = format!(
                            "From: sender{c}@corp.example\r\nTo: bob@corp.example\r\nSubject: crash {token}\r\nMessage-ID: <{token}@test>\r\n\r\nbody {token} {}\r\n",
                            "lorem ipsum ".repeat(50 + (n as usize % 200))
                        );
                        match client.send(&format!("sender{c}@corp.example"), &["bob@corp.example"], message.as_bytes()) {
                            Ok(250) => {
                                acked.lock().expect("lock").insert(token);
                            }
                            Ok(_) | Err(_) => return,
                        }
                    }
                })
            })
            .collect();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        tokio::time::sleep(Duration::from_millis(400 + (seed >> 33) % 1500)).await;
        kill_server(server);
        for c in clients {
            let _ = c.join();
        }
        let acked: BTreeSet<String> = acked.lock().expect("lock").clone();
        acknowledged_total += acked.len();
        eprintln!(
            "round {round}: {} messages acknowledged before the kill",
            acked.len()
        );

        // Restart: recovery truncates any torn tail, the derived views catch up.
        let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
        let r = http::json(server.addr, "POST", "/api/v1/users", None, &json!({})).await;
        assert_eq!(r.status, 401);
        let login = http::json(
            server.addr,
            "POST",
            "/api/v1/session",
            None,
            &json!({"username": "admin", "password": ADMIN_PASSWORD}),
        )
        .await;
        let admin = login.json()["token"].as_str().expect("token").to_string();
        if round == 0 {
            let r = http::json(server.addr, "POST", "/api/v1/users", Some(&admin), &json!({"username": "officer", "password": "officer-password-1", "role": "officer", "domains": ["*"]})).await;
            assert_eq!(r.status, 201, "{}", r.text());
        }
        let login = http::json(
            server.addr,
            "POST",
            "/api/v1/session",
            None,
            &json!({"username": "officer", "password": "officer-password-1"}),
        )
        .await;
        let officer = login.json()["token"].as_str().expect("token").to_string();
        let r = http::get(
            server.addr,
            &format!("/api/v1/search?q=subject:crashr{round}*&limit=0"),
            Some(&officer),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let total = r.json()["total"].as_u64().expect("total") as usize;
        assert!(
            total >= acked.len(),
            "round {round}: {total} searchable, {} acknowledged",
            acked.len()
        );
        for token in acked.iter().step_by(7) {
            let r = http::get(
                server.addr,
                &format!("/api/v1/search?q=subject:{token}"),
                Some(&officer),
            )
            .await;
            assert_eq!(
                r.json()["total"],
                1,
                "round {round}: acknowledged message {token} not found after restart"
            );
        }
        stop_server(server);
        let verify = run(coffer(&data).arg("verify"));
        assert_eq!(
            verify.status.code(),
            Some(0),
            "round {round}: {}",
            stdout(&verify)
        );
    }
    assert!(
        acknowledged_total > 20,
        "too few acknowledged messages to prove anything ({acknowledged_total})"
    );
}
