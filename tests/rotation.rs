//! Year rotation and secondary storage end to end with the real binary: a simulated clock
//! (`COFFER_CLOCK_FILE`) crosses the year boundary while the server runs and the old
//! year's volume is sealed; `volume move` is killed (SIGKILL) after each of its steps and
//! run again, losing nothing; the moved volume is read from its new place; absent, it is
//! listed offline, searches name it and its messages answer 503; `volume attach` brings it
//! back after verifying it.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

fn volume_list(data: &Path) -> serde_json::Value {
    let out = run(coffer(data).args(["volume", "list", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listing: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    listing["volumes"].clone()
}

fn state_of(list: &serde_json::Value, year: i64) -> String {
    list.as_array()
        .expect("rows")
        .iter()
        .find(|r| r["year"] == year)
        .map(|r| r["state"].as_str().expect("state").to_string())
        .unwrap_or_default()
}

fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: a@outside.example\r\nTo: ann@corp.example\r\nSubject: {subject}\r\nDate: Thu, 31 Dec 2026 23:00:00 +0000\r\nMessage-ID: <{subject}@rotation.test>\r\n\r\nBody {subject}\r\n"
    )
    .into_bytes()
}

#[test]
fn the_year_boundary_seals_and_a_killed_move_loses_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let secondary = tmp.path().join("secondary");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(
        data.join("coffer.toml"),
        "local_domains = [\"corp.example\"]\n[rotation]\nseal_after_days = 1\ncheck_seconds = 1\n",
    )
    .expect("config");
    let clock = tmp.path().join("clock");
    std::fs::write(&clock, "2026-12-31T23:59:00Z").expect("clock");
    let clock_var = clock.display().to_string();
    let server =
        COFFER.start_server_with_env(&data, &[], "warn", &[("COFFER_CLOCK_FILE", &clock_var)]);
    let addr = server.addr;
    let journal = {
        let out = run(coffer(&data).args(["token", "create", "--name", "mx", "--json"]));
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")["token"]
            .as_str()
            .expect("token")
            .to_string()
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let submit = |subject: &str| {
        runtime.block_on(async {
            let r = http::request(
                addr,
                "POST",
                "/api/v1/messages?mail_from=a%40outside.example&rcpt=ann%40corp.example",
                Some(&journal),
                Some("message/rfc822"),
                &message(subject),
            )
            .await;
            assert_eq!(r.status, 201, "{}", r.text());
            r.json()["id"].as_str().expect("id").to_string()
        })
    };
    let old = submit("last-of-2026");
    assert!(old.starts_with("2026-"), "{old}");
    // New Year, then the grace day: the next message opens 2027, and 2026 is sealed.
    std::fs::write(&clock, "2027-01-01T00:00:30Z").expect("clock");
    let new = submit("first-of-2027");
    assert!(new.starts_with("2027-"), "{new}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        state_of(&volume_list(&data), 2026),
        "open",
        "still within the grace day"
    );
    std::fs::write(&clock, "2027-01-02T00:00:31Z").expect("clock");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = volume_list(&data);
        if state_of(&list, 2026) == "sealed" {
            assert_eq!(state_of(&list, 2027), "open", "{list}");
            break;
        }
        assert!(Instant::now() < deadline, "2026 was never sealed: {list}");
        std::thread::sleep(Duration::from_millis(300));
    }
    stop_server(server);

    let original = message("last-of-2026");
    let sha = sha256_hex(&original);
    let raw_is_there = || {
        let out = run(coffer(&data).args(["show", "--raw", &sha]));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(out.stdout == original, "the original bytes");
    };
    // The move, killed right after each step, then run again: nothing is lost.
    for step in ["copied", "verified", "located"] {
        let mut child = coffer(&data)
            .args(["volume", "move", "2026"])
            .arg(&secondary)
            .env("COFFER_PAUSE_AFTER", step)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn move");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        loop {
            let line = lines
                .next()
                .expect("the move printed its step")
                .expect("line");
            if line == step {
                break;
            }
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        raw_is_there();
        let verify = run(coffer(&data).arg("verify"));
        assert_eq!(
            verify.status.code(),
            Some(0),
            "after a kill at {step}: {}",
            stdout(&verify)
        );
    }
    let out = run(coffer(&data)
        .args(["volume", "move", "2026"])
        .arg(&secondary));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let list = volume_list(&data);
    let row = list
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["year"] == 2026)
        .expect("2026")
        .clone();
    assert_eq!(row["state"], "sealed", "{list}");
    assert!(
        row["location"].as_str().expect("location").starts_with(
            secondary
                .canonicalize()
                .expect("canonical")
                .to_str()
                .expect("utf-8")
        ),
        "{row}"
    );
    assert!(
        std::fs::symlink_metadata(data.join("volumes/2026/MANIFEST")).is_err(),
        "the original is gone"
    );
    raw_is_there();

    // The secondary storage goes away: offline, named by searches, 503 for its messages.
    let away = tmp.path().join("unmounted");
    std::fs::rename(secondary.join("2026"), &away).expect("unmount");
    assert_eq!(state_of(&volume_list(&data), 2026), "offline");
    let server = start_server(&data, &[], "warn");
    let addr = server.addr;
    runtime.block_on(async {
        let login = http::json(addr, "POST", "/api/v1/session", None, &serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD})).await;
        let admin = login.json()["token"].as_str().expect("token").to_string();
        let r = http::json(addr, "POST", "/api/v1/users", Some(&admin), &serde_json::json!({"username": "oscar", "password": "officer-password-1", "role": "officer", "domains": ["*"]})).await;
        assert_eq!(r.status, 201, "{}", r.text());
        let login = http::json(addr, "POST", "/api/v1/session", None, &serde_json::json!({"username": "oscar", "password": "officer-password-1"})).await;
        let oscar = login.json()["token"].as_str().expect("token").to_string();
        let r = http::get(addr, "/api/v1/search?q=subject%3Alast-of-2026", Some(&oscar)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["offline_years"], serde_json::json!([2026]), "{}", r.text());
        let r = http::get(addr, &format!("/api/v1/messages/{old}/raw"), Some(&oscar)).await;
        assert_eq!(r.status, 503, "{}", r.text());
        assert!(r.text().contains("offline"), "{}", r.text());
        let r = http::get(addr, &format!("/api/v1/messages/{new}/raw"), Some(&oscar)).await;
        assert_eq!(r.status, 200, "the online year still serves: {}", r.text());
        // The volume list omits nothing: the offline year is there, marked offline.
        let r = http::get(addr, "/api/v1/volumes", Some(&admin)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let volumes = r.json()["volumes"].as_array().expect("volumes").clone();
        let offline = volumes.iter().find(|v| v["year"] == 2026).expect("2026 listed");
        assert_eq!(offline["online"], false, "{offline}");
        assert!(offline["location"].as_str().expect("location").ends_with("2026"), "{offline}");
        assert!(volumes.iter().any(|v| v["online"] == true), "{r:?}", r = r.text());
    });
    stop_server(server);

    // Attach verifies first: a damaged copy is refused, the good one brought back.
    let damaged = tmp.path().join("damaged");
    std::fs::create_dir_all(&damaged).expect("mkdir");
    for e in std::fs::read_dir(&away).expect("dir") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), damaged.join(e.file_name())).expect("copy");
    }
    let seg = damaged.join("000001.seg");
    let mut bytes = std::fs::read(&seg).expect("segment");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&seg, bytes).expect("damage");
    let out = run(coffer(&data).args(["volume", "attach"]).arg(&damaged));
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("does not verify"), "{}", stderr(&out));
    let out = run(coffer(&data).args(["volume", "attach"]).arg(&away));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(state_of(&volume_list(&data), 2026), "sealed");
    raw_is_there();
    let verify = run(coffer(&data).arg("verify"));
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
}
