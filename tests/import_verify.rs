//! End-to-end: import real `.eml` fixtures and generated mbox/Maildir trees with the
//! real binary, then verify, list, show (byte-identical), re-import (all duplicates),
//! tamper (verify fails naming the record), verify a copied volume standalone, show a
//! message acknowledged but not yet in the catalog, and check that a second writer is
//! refused.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use coffer_ingest::import::MboxFlavor;
use coffer_testkit::import_edge_cases::{
    Expected, generate_mbox_edge_cases, write_maildir_edge_cases,
};
use common::*;

#[test]
fn eml_fixtures_import_verify_show_reimport_and_tamper() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let mail = eml_fixtures(&["rfc", "charset", "malformed", "journal"]);
    let notmail = eml_fixtures(&["notmail"]).len()
        + fs::read_dir(repo().join("testdata/eml/notmail"))
            .expect("dir")
            .filter(|e| {
                e.as_ref().is_ok_and(|e| {
                    e.path()
                        .extension()
                        .is_some_and(|x| x != "eml" && x != "json")
                })
            })
            .count();
    let mut args: Vec<String> = mail.iter().map(|p| p.display().to_string()).collect();
    let notmail_dir = repo().join("testdata/eml/notmail");
    for e in fs::read_dir(&notmail_dir).expect("dir") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x != "json") {
            args.push(p.display().to_string());
        }
    }
    let out = run(coffer(&data).arg("import").args(&args).args([
        "--local-domain",
        "example.com",
        "--json",
    ]));
    let summary = import_summary(&out);
    let unique: BTreeSet<String> = mail
        .iter()
        .map(|p| sha256_hex(&fs::read(p).expect("read")))
        .collect();
    assert_eq!(summary["archived"], unique.len() as u64, "{summary}");
    assert_eq!(summary["duplicates"], (mail.len() - unique.len()) as u64);
    assert_eq!(
        summary["rejected"].as_array().expect("rejected").len(),
        notmail,
        "{summary}"
    );
    assert!(
        summary["flagged"].as_u64().expect("flagged") >= 1,
        "malformed fixtures must be flagged"
    );
    assert_eq!(out.status.code(), Some(1), "some input was rejected");
    let raw_bytes: u64 = mail
        .iter()
        .map(|p| fs::metadata(p).expect("meta").len())
        .sum();
    assert_eq!(summary["raw_bytes"], raw_bytes);

    let verify = run(coffer(&data).arg("verify"));
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}{}",
        stdout(&verify),
        stderr(&verify)
    );

    // Every fixture comes back byte for byte, looked up by its SHA-256.
    for path in &mail {
        let original = fs::read(path).expect("read");
        let shown = run(coffer(&data).args(["show", "--raw", &sha256_hex(&original)]));
        assert_eq!(
            shown.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            stderr(&shown)
        );
        assert!(
            shown.stdout == original,
            "{} not byte-identical",
            path.display()
        );
    }
    let meta = run(coffer(&data).args([
        "show",
        "--json",
        &sha256_hex(&fs::read(&mail[0]).expect("read")),
    ]));
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout).expect("show json");
    assert_eq!(meta["source"], "import");

    let list = run(coffer(&data).args(["volume", "list", "--json"]));
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).expect("list json");
    let row = &list["volumes"][0];
    assert_eq!(row["messages"], unique.len() as u64);
    // Capacity figures (issue 24): the ratio, the index and the catalog sizes.
    let ratio = row["ratio"].as_f64().expect("ratio");
    assert!(ratio > 0.0 && ratio < 1.5, "{row}");
    assert!(
        row["index_bytes"].as_u64().expect("index bytes") > 0,
        "{row}"
    );
    assert!(
        list["catalog_bytes"].as_u64().expect("catalog bytes") > 0,
        "{list}"
    );
    assert_eq!(row["index_lag"], 0, "{row}");
    assert!(
        row["key_fingerprint"]
            .as_str()
            .expect("fp")
            .starts_with("sha256:")
    );

    // A second import: everything is a duplicate, nothing is written.
    let again = import_summary(&run(coffer(&data).arg("import").args(&args).args([
        "--local-domain",
        "example.com",
        "--json",
    ])));
    assert_eq!(again["archived"], 0);
    assert_eq!(again["duplicates"], mail.len() as u64);
    let list2: serde_json::Value =
        serde_json::from_slice(&run(coffer(&data).args(["volume", "list", "--json"])).stdout)
            .expect("json");
    assert_eq!(list2["volumes"][0]["messages"], row["messages"]);

    // The catalog is checked against the volumes too: a row whose hash no longer
    // matches its record makes verification fail.
    {
        edit_catalog(&data, async |catalog| {
            // The catalog's key is year * 10^10 + seq (migration 0015).
            sqlx::query("UPDATE messages SET sha256 = $1 WHERE id % 10000000000 = 1")
                .bind(vec![0u8; 32])
                .execute(catalog.pool())
                .await
                .expect("update");
        });
        let broken = run(coffer(&data).arg("verify"));
        assert_eq!(broken.status.code(), Some(1), "{}", stdout(&broken));
        assert!(
            stdout(&broken).contains("INCONSISTENT"),
            "{}",
            stdout(&broken)
        );
        run(coffer(&data).arg("recatalog"));
        let repaired = run(coffer(&data).arg("verify"));
        assert_eq!(
            repaired.status.code(),
            Some(0),
            "recatalog rebuilds it: {}",
            stdout(&repaired)
        );
    }

    // A copied volume verifies on its own with the public key.
    let year = row["year"].as_i64().expect("year");
    let copy = tmp.path().join("copy");
    fs::create_dir_all(&copy).expect("mkdir");
    for e in fs::read_dir(data.join("volumes").join(year.to_string())).expect("dir") {
        let e = e.expect("entry");
        fs::copy(e.path(), copy.join(e.file_name())).expect("copy");
    }
    let standalone = run(coffer(&tmp.path().join("nowhere"))
        .args(["verify", "--volume"])
        .arg(&copy)
        .arg("--public-key")
        .arg(data.join("keys/archive.pub")));
    assert_eq!(standalone.status.code(), Some(0), "{}", stdout(&standalone));

    // Tamper with one byte of a message in the copy: verification fails, naming it.
    let seg = copy.join("000001.seg");
    let mut bytes = fs::read(&seg).expect("read");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    fs::write(&seg, &bytes).expect("write");
    let damaged = run(coffer(&tmp.path().join("nowhere"))
        .args(["verify", "--volume"])
        .arg(&copy)
        .arg("--public-key")
        .arg(data.join("keys/archive.pub")));
    assert_eq!(damaged.status.code(), Some(1));
    let text = stdout(&damaged);
    assert!(
        text.contains("DAMAGED") && text.contains("000001.seg") && text.contains("record"),
        "{text}"
    );
}

/// Runs `edit` on the archive's SQLite catalog from outside Coffer, then closes it.
fn edit_catalog(data: &Path, edit: impl AsyncFnOnce(&coffer_catalog::Catalog)) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let catalog = coffer_catalog::Catalog::open_sqlite(&data.join("catalog.sqlite"))
            .await
            .expect("catalog");
        edit(&catalog).await;
        catalog.close().await;
    });
}

#[test]
fn show_finds_a_message_acknowledged_but_not_yet_in_the_catalog() {
    // A server acknowledges a message once its volume record is fsynced and applies it to
    // the catalog moments later. The catalog is put back to that in-between state here:
    // the newest message's row removed and the high-water mark set before its record.
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let fixtures = eml_fixtures(&["rfc"]);
    let out = run(coffer(&data).arg("import").args(&fixtures).args([
        "--local-domain",
        "example.com",
        "--json",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut newest: Option<(u64, i32, Vec<u8>)> = None;
    for path in &fixtures {
        let original = fs::read(path).expect("read");
        let shown = run(coffer(&data).args(["show", "--json", &sha256_hex(&original)]));
        assert_eq!(shown.status.code(), Some(0), "{}", stderr(&shown));
        let meta: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("json");
        let id = meta["id"].as_str().expect("id").to_string();
        let (year, seq) = id.split_once('-').expect("YEAR-SEQ");
        let (year, seq): (i32, u64) = (year.parse().expect("year"), seq.parse().expect("seq"));
        if newest.as_ref().is_none_or(|(s, _, _)| seq > *s) {
            newest = Some((seq, year, original));
        }
    }
    let (seq, year, original) = newest.expect("some message");
    let id = format!("{year}-{seq}");
    let set_applied = |applied: u64| {
        edit_catalog(&data, async |catalog| {
            sqlx::query(
                "UPDATE high_water SET applied_seq = $1 WHERE purpose = 'mail' AND year = $2",
            )
            .bind(i64::try_from(applied).expect("seq"))
            .bind(i64::from(year))
            .execute(catalog.pool())
            .await
            .expect("update");
        });
    };
    let key = i64::from(year) * 10_000_000_000 + i64::try_from(seq).expect("seq");
    edit_catalog(&data, async |catalog| {
        for sql in [
            "DELETE FROM message_links WHERE message = $1",
            "DELETE FROM messages WHERE id = $1",
        ] {
            sqlx::query(sql)
                .bind(key)
                .execute(catalog.pool())
                .await
                .expect("delete");
        }
    });
    set_applied(seq - 1);
    let sha = sha256_hex(&original);
    let raw = run(coffer(&data).args(["show", "--raw", &sha]));
    assert_eq!(raw.status.code(), Some(0), "{}", stderr(&raw));
    assert!(raw.stdout == original, "the original bytes");
    let meta = run(coffer(&data).args(["show", "--json", &sha]));
    assert_eq!(meta.status.code(), Some(0), "{}", stderr(&meta));
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout).expect("json");
    assert_eq!(meta["id"], id.as_str());
    assert_eq!(meta["sha256"], sha.as_str());
    // Records the catalog has applied are not searched again: with the high-water mark
    // back past the record (and the row still missing), the message is not found.
    set_applied(seq);
    let applied = run(coffer(&data).args(["show", "--raw", &sha]));
    assert_eq!(applied.status.code(), Some(2), "{}", stderr(&applied));
    assert!(
        stderr(&applied).contains("no archived message"),
        "{}",
        stderr(&applied)
    );
    // Bytes in no record at all are still "not archived".
    let unknown = run(coffer(&data).args(["show", "--raw", &sha256_hex(b"never archived")]));
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("no archived message"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn generated_mbox_and_maildir_edge_cases() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let mut expected_messages: Vec<Vec<u8>> = Vec::new();
    let mut expected_rejections = 0usize;
    for (i, (flavor, no_final_newline)) in [
        (MboxFlavor::Mboxrd, false),
        (MboxFlavor::Mboxrd, true),
        (MboxFlavor::Mboxo, false),
    ]
    .into_iter()
    .enumerate()
    {
        let generated = generate_mbox_edge_cases(100 + i as u64, 40, flavor, no_final_newline);
        let path = tmp.path().join(format!("box{i}.mbox"));
        fs::write(&path, &generated.bytes).expect("write");
        for e in generated.expected {
            match e {
                Expected::Message(b) => expected_messages.push(b),
                Expected::Rejected(_) => expected_rejections += 1,
            }
        }
        let flavor_arg = if flavor == MboxFlavor::Mboxo {
            "mboxo"
        } else {
            "mboxrd"
        };
        let out = run(coffer(&data).arg("import").arg(&path).args([
            "--mbox-flavor",
            flavor_arg,
            "--json",
            "--mailbox",
            "archive@example.com",
        ]));
        let s = import_summary(&out);
        assert!(s["failed"].as_array().expect("failed").is_empty(), "{s}");
    }
    let maildir = tmp.path().join("Maildir");
    let generated = write_maildir_edge_cases(&maildir, 7, 30).expect("maildir");
    let out = run(coffer(&data).arg("import").arg(&maildir).args([
        "--json",
        "--mailbox",
        "archive@example.com",
    ]));
    let s = import_summary(&out);
    assert_eq!(
        s["rejected"].as_array().expect("rejected").len(),
        generated.rejected.len(),
        "{s}"
    );
    // Issue 22, item 10: what was not read is listed with its reason, and the messages
    // kept beside cur/ and new/ are archived.
    let skipped: Vec<String> = s["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|entry| {
            assert!(
                !entry["reason"].as_str().unwrap_or_default().is_empty(),
                "{entry}"
            );
            entry["path"].as_str().expect("path").to_string()
        })
        .collect();
    let expected_skipped: Vec<String> = generated
        .skipped
        .iter()
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert_eq!(skipped, expected_skipped, "{s}");
    expected_messages.extend(generated.messages.iter().map(|m| m.raw.clone()));
    expected_messages.extend(generated.loose.iter().map(|(_, raw)| raw.clone()));
    let _ = expected_rejections;

    // Every expected message is archived byte for byte.
    for raw in &expected_messages {
        let shown = run(coffer(&data).args(["show", "--raw", &sha256_hex(raw)]));
        assert_eq!(shown.status.code(), Some(0), "{}", stderr(&shown));
        assert!(shown.stdout == *raw);
    }
    let unique: BTreeSet<String> = expected_messages.iter().map(|r| sha256_hex(r)).collect();
    let list: serde_json::Value =
        serde_json::from_slice(&run(coffer(&data).args(["volume", "list", "--json"])).stdout)
            .expect("json");
    assert_eq!(list["volumes"][0]["messages"], unique.len() as u64);
    assert_eq!(run(coffer(&data).arg("verify")).status.code(), Some(0));
}

#[test]
fn a_second_writer_is_refused_naming_the_holder() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    fs::create_dir_all(&data).expect("mkdir");
    let _lock =
        coffer_volume::DataDirLock::acquire(&data, "coffer serve (test holder)").expect("lock");
    let fixture = eml_fixtures(&["rfc"]).remove(0);
    let out = run(coffer(&data).arg("import").arg(&fixture));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("in use by another Coffer process") && err.contains("test holder"),
        "{err}"
    );
    // The holder is a server: the import says how to go through it instead.
    assert!(err.contains("coffer import --server"), "{err}");
    // Readers still work beside the writer.
    assert_eq!(
        run(coffer(&data).args(["volume", "list"])).status.code(),
        Some(0)
    );
}

#[test]
fn a_second_writer_beside_a_bulk_command_gets_no_server_hint() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    fs::create_dir_all(&data).expect("mkdir");
    let _lock = coffer_volume::DataDirLock::acquire(&data, "coffer reindex").expect("lock");
    let fixture = eml_fixtures(&["rfc"]).remove(0);
    let out = run(coffer(&data).arg("import").arg(&fixture));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("coffer reindex"), "{err}");
    assert!(!err.contains("--server"), "{err}");
}

/// Issue 22, item 10, through the real binary, locally and through a server: in a
/// hand-made Maildir the message kept beside `cur/` is archived, the note there is
/// rejected with its reason, the hidden file and the unfinished delivery in `tmp/` are
/// listed as skipped with theirs, and Dovecot's bookkeeping passes without a word.
#[test]
fn a_hand_made_maildir_is_accounted_for_file_by_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let maildir = tmp.path().join("Maildir");
    let in_cur = b"From: a@example.com\r\nSubject: in cur\r\n\r\none\r\n".to_vec();
    let beside = b"From: b@example.com\r\nSubject: beside cur\r\n\r\ntwo\r\n".to_vec();
    for (path, content) in [
        ("cur/1700000000.M1.host:2,S", &in_cur[..]),
        ("0001.eml", &beside[..]),
        ("notes.txt", &b"remember the milk\n"[..]),
        (".DS_Store", &b"\0\0\0\x01Bud1"[..]),
        (
            "tmp/1700000001.M2.host",
            &b"Subject: half delivered\r\n"[..],
        ),
        ("dovecot-uidlist", &b"3 V1700000000 N2\n"[..]),
    ] {
        let path = maildir.join(path);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, content).expect("write");
    }
    fs::create_dir_all(maildir.join("new")).expect("mkdir");

    let out = run(coffer(&data)
        .arg("import")
        .arg(&maildir)
        .args(["--mailbox", "archive@example.com"]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let printed = stdout(&out);
    for line in [
        "archived          2",
        "rejected          1",
        "notes.txt: not mail",
        "skipped           2",
        ".DS_Store: hidden",
        "tmp/1700000001.M2.host: in a Maildir's tmp/",
    ] {
        assert!(printed.contains(line), "{line:?} missing in\n{printed}");
    }
    assert!(!printed.contains("dovecot-uidlist"), "{printed}");
    for raw in [&in_cur, &beside] {
        let shown = run(coffer(&data).args(["show", "--raw", &sha256_hex(raw)]));
        assert!(shown.stdout == *raw, "{}", stderr(&shown));
    }

    // Through a running server: the same summary (all duplicates now).
    let token = run(coffer(&data).args(["token", "create", "--name", "importer", "--json"]));
    assert!(token.status.success(), "{}", stderr(&token));
    let token = serde_json::from_slice::<serde_json::Value>(&token.stdout).expect("json")["token"]
        .as_str()
        .expect("token")
        .to_string();
    let server = start_server(&data, &[], "warn");
    let url = format!("http://{}", server.addr);
    let summary = import_summary(&run(coffer(&data)
        .arg("import")
        .args(["--server", &url, "--token", &token, "--json"])
        .arg(&maildir)));
    assert_eq!(summary["duplicates"], 2, "{summary}");
    assert_eq!(summary["rejected"].as_array().map(Vec::len), Some(1));
    let skipped: Vec<&str> = summary["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .filter_map(|entry| entry["path"].as_str())
        .collect();
    assert_eq!(skipped.len(), 2, "{summary}");
    assert!(skipped[0].ends_with(".DS_Store") && skipped[1].ends_with("1700000001.M2.host"));
    stop_server(server);
}

#[test]
fn catalog_edits_that_records_do_not_back_fail_verification() {
    // An SQL edit of the catalog must not pass verification: an inserted mailbox link
    // (it would give a user a foreign message), a removed one (it would hide a message
    // from its owner) and a deleted audit row (it would hide an entry from GET
    // /api/v1/audit). Each is named.
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let fixtures = repo().join("testdata/eml/rfc");
    let out = run(coffer(&data).arg("import").arg(&fixtures).args([
        "--mailbox",
        "owner@corp.example",
        "--json",
    ]));
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    // A shell search leaves an audit entry.
    let searched = run(coffer(&data).args(["search", "anything"]));
    assert_eq!(searched.status.code(), Some(0), "{}", stderr(&searched));
    let verify = run(coffer(&data).arg("verify"));
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
    let audit = run(coffer(&data).args(["audit", "verify"]));
    assert_eq!(audit.status.code(), Some(0), "{}", stdout(&audit));
    assert!(
        stdout(&audit).contains("audit rows match their records"),
        "{}",
        stdout(&audit)
    );

    let (year, seq, unlinked): (i64, i64, i64) = {
        let mut found = (0, 0);
        let mut unlinked = 0;
        edit_catalog(&data, async |catalog| {
            use sqlx::Row;
            let row = sqlx::query(
                "SELECT id / 10000000000, id % 10000000000 FROM messages ORDER BY id LIMIT 1",
            )
            .fetch_one(catalog.pool())
            .await
            .expect("a message");
            found = (row.try_get(0).expect("year"), row.try_get(1).expect("seq"));
            sqlx::query("INSERT INTO mailboxes (address, domain) VALUES ('mallory@corp.example', 'corp.example')")
                .execute(catalog.pool())
                .await
                .expect("insert mailbox");
            // A link the message record would name: one more id in the row's list.
            sqlx::query(
                "UPDATE messages SET mailboxes = COALESCE(mailboxes || ',', '') || \
                 (SELECT CAST(id AS TEXT) FROM mailboxes WHERE address = 'mallory@corp.example') \
                 WHERE id = $1",
            )
            .bind(found.0 * 10_000_000_000 + found.1)
            .execute(catalog.pool())
            .await
            .expect("insert link");
            // The next message's link moves from its owner (whom its record names) to
            // mallory: the owner's link is missing, though the message has one.
            let row =
                sqlx::query("SELECT id % 10000000000 FROM messages ORDER BY id LIMIT 1 OFFSET 1")
                    .fetch_one(catalog.pool())
                    .await
                    .expect("a second message");
            unlinked = row.try_get(0).expect("seq");
            sqlx::query(
                "UPDATE messages SET mailboxes = \
                 (SELECT CAST(id AS TEXT) FROM mailboxes WHERE address = 'mallory@corp.example') \
                 WHERE id = $1",
            )
            .bind(found.0 * 10_000_000_000 + unlinked)
            .execute(catalog.pool())
            .await
            .expect("move the link");
            sqlx::query("DELETE FROM audit WHERE action = 'search'")
                .execute(catalog.pool())
                .await
                .expect("delete audit row");
        });
        (found.0, found.1, unlinked)
    };
    let verify = run(coffer(&data).arg("verify"));
    assert_eq!(verify.status.code(), Some(1), "{}", stdout(&verify));
    assert!(
        stdout(&verify).contains(&format!(
            "catalog link {year}-{seq} -> mallory@corp.example is named by no volume record"
        )),
        "{}",
        stdout(&verify)
    );
    assert!(
        stdout(&verify).contains(&format!(
            "record {year}-{unlinked} links {year}-{unlinked} to owner@corp.example; the catalog does not"
        )),
        "{}",
        stdout(&verify)
    );
    let audit = run(coffer(&data).args(["audit", "verify"]));
    assert_eq!(audit.status.code(), Some(1), "{}", stdout(&audit));
    assert!(
        stdout(&audit).contains("(search by local:")
            && stdout(&audit).contains("has no catalog row"),
        "{}",
        stdout(&audit)
    );
    // Access decisions rely only on links a record backs: the inserted link gives
    // mallory nothing, while the real owner still reads the message.
    {
        let server = start_server(&data, &[], "warn");
        let addr = server.addr;
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let admin = http::json(addr, "POST", "/api/v1/session", None, &serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD})).await;
            let admin = admin.json()["token"].as_str().expect("token").to_string();
            for (name, mailbox) in [("mallory", "mallory@corp.example"), ("owner", "owner@corp.example")] {
                let r = http::json(addr, "POST", "/api/v1/users", Some(&admin), &serde_json::json!({"username": name, "password": "user-password-123", "role": "user", "mailboxes": [mailbox]})).await;
                assert_eq!(r.status, 201, "{}", r.text());
            }
            let login = |u: &'static str| async move {
                let r = http::json(addr, "POST", "/api/v1/session", None, &serde_json::json!({"username": u, "password": "user-password-123"})).await;
                r.json()["token"].as_str().expect("token").to_string()
            };
            let mallory = login("mallory").await;
            let owner = login("owner").await;
            let r = http::get(addr, &format!("/api/v1/messages/{year}-{seq}/raw"), Some(&mallory)).await;
            assert_eq!(r.status, 404, "a hand-made link opens nothing: {}", r.text());
            let r = http::get(addr, &format!("/api/v1/messages/{year}-{seq}/raw"), Some(&owner)).await;
            assert_eq!(r.status, 200, "{}", r.text());
        });
        stop_server(server);
    }
    // Rebuilding the derived views from the volumes repairs both.
    run(coffer(&data).arg("recatalog"));
    let verify = run(coffer(&data).arg("verify"));
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
}

/// `[volumes] dictionaries = false` (for organisations whose disposition must leave
/// nothing of a message's text behind, not even in a shared dictionary): the same
/// import trains dictionaries by default and none with the switch, and both verify.
/// Every message of the generated corpus comes back byte for byte through the records
/// compressed with the dictionaries (issue 24: the round trip through the new codec).
#[test]
fn compression_dictionaries_can_be_switched_off() {
    use coffer_testkit::mail_corpus::{CorpusFormat, MailCorpus, write_corpus};
    let tmp = tempfile::tempdir().expect("tempdir");
    let maildir = tmp.path().join("Maildir");
    // Text messages of a few KB, well past the samples the first dictionary needs.
    let corpus = MailCorpus::new(300, 3).text_only();
    write_corpus(&corpus, CorpusFormat::Maildir, &maildir, |_| {}).expect("corpus");
    for (name, config, trained) in [
        ("default", "", true),
        ("off", "[volumes]\ndictionaries = false\n", false),
    ] {
        let data = tmp.path().join(name);
        fs::create_dir_all(&data).expect("mkdir");
        fs::write(data.join("coffer.toml"), config).expect("config");
        let out = run(coffer(&data).arg("import").arg(&maildir).arg("--json"));
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let out = run(coffer(&data).args(["volume", "list", "--json"]));
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let dictionaries: u64 = list["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .map(|v| v["dictionaries"].as_u64().expect("a count"))
            .sum();
        assert_eq!(
            dictionaries > 0,
            trained,
            "{name}: {dictionaries} dictionaries"
        );
        let out = run(coffer(&data).arg("verify"));
        assert!(out.status.success(), "{name}: {}", stdout(&out));
        if trained {
            let mut files = 0;
            for sub in ["cur", "new"] {
                let Ok(entries) = fs::read_dir(maildir.join(sub)) else {
                    continue;
                };
                for entry in entries {
                    let original = fs::read(entry.expect("entry").path()).expect("read");
                    let shown = run(coffer(&data).args(["show", "--raw", &sha256_hex(&original)]));
                    assert_eq!(shown.status.code(), Some(0), "{}", stderr(&shown));
                    assert!(shown.stdout == original, "{name}: a message changed");
                    files += 1;
                }
            }
            assert_eq!(files, 300);
        }
    }
}
