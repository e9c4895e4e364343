//! Integrity an auditor can prove (issue 25), through the real binary:
//! - a SIGKILL right after a `250` leaves a signed tree head covering that message;
//! - an auditor keeps a head from the API, more mail arrives, `verify --since` passes;
//!   then a copy of the volume (a) truncated together with its later checkpoints and
//!   (b) rewritten and re-signed with the archive's own key — which still verifies from
//!   the inside — fails `verify --since`, naming the sizes;
//! - a proof from the API passes `coffer proof verify` (with the original message) and
//!   fails after any one byte of the proof, the message or the head changes;
//! - after `coffer key rotate`, volumes and integrity reports verify with the old public
//!   key (through the key chain) and forged chains fail; a rotation SIGKILLed after any
//!   of its steps verifies and is finished by the next start;
//! - `coffer serve` timestamps its heads with an RFC 3161 authority (`openssl ts`).

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use coffer_volume::record::{PREFIX_LEN_V1, RecordHeader};
use coffer_volume::segment::SegmentHeader;
use coffer_volume::{ArchiveKey, Prepared, RecordKind, Volume, VolumeConfig};
use common::*;
use serde_json::json;

const YEAR_DIRS: &str = "volumes";

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: sender@corp.example\r\nTo: bob@corp.example\r\nSubject: integrity {n}\r\nMessage-ID: <integrity{n}@test>\r\n\r\nbody {n} {}\r\n",
        "lorem ipsum ".repeat(20 + n)
    )
    .into_bytes()
}

fn send(smtp: std::net::SocketAddr, range: std::ops::Range<usize>) {
    let mut client = SmtpClient::connect(smtp).expect("smtp connect");
    for n in range {
        let code = client
            .send("sender@corp.example", &["bob@corp.example"], &message(n))
            .expect("smtp send");
        assert_eq!(code, 250, "message {n} acknowledged");
    }
}

/// The only mail volume's directory.
fn mail_volume(data: &Path) -> PathBuf {
    let root = data.join(YEAR_DIRS);
    let mut years: Vec<PathBuf> = fs::read_dir(&root)
        .expect("volumes dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("VOLUME").is_file())
        .collect();
    assert_eq!(years.len(), 1, "one mail volume: {years:?}");
    years.remove(0)
}

fn verify_json(args: &[&str], data: &Path) -> (Option<i32>, serde_json::Value) {
    let out = run(coffer(data).arg("verify").args(args).arg("--json"));
    let text = stdout(&out);
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("verify --json: {e}: {text} {}", stderr(&out)));
    (out.status.code(), value)
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        fs::copy(e.path(), &target).expect("copy");
        let mut perm = fs::metadata(&target).expect("meta").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o600);
        fs::set_permissions(&target, perm).expect("chmod");
    }
}

/// Byte offsets of every record in a single-segment volume, in order.
fn record_offsets(segment: &Path) -> Vec<(u64, RecordHeader)> {
    let bytes = fs::read(segment).expect("segment");
    let mut offset = coffer_volume::segment::SEGMENT_HEADER_LEN as usize;
    let mut out = Vec::new();
    // A record is at least a version-1 prefix long; its header says how long it is.
    while offset + PREFIX_LEN_V1 <= bytes.len() {
        let header = RecordHeader::decode(&bytes[offset..]).expect("header");
        out.push((offset as u64, header.clone()));
        offset += header.record_len() as usize;
    }
    out
}

/// What whoever holds the data directory and the key can do: rebuild the volume with
/// one message changed, through Coffer's own writer, every checkpoint re-signed.
fn rewrite_and_resign(original: &Path, forged: &Path, key: &ArchiveKey, change_seq: u64) {
    // The forger has the data directory: its key store reads the encrypted content.
    let data = original
        .parent()
        .and_then(Path::parent)
        .expect("data directory");
    let keys = coffer_keystore::KeyStore::open_reader(
        &data.join("keys/data-keys"),
        &data.join("keys/kek"),
    )
    .expect("key store");
    let (source, _) = Volume::open_read_only_with(
        original,
        Some(std::sync::Arc::new(keys) as std::sync::Arc<dyn coffer_volume::ContentKeys>),
    )
    .expect("open original");
    fs::create_dir_all(forged).expect("mkdir");
    fs::copy(original.join("VOLUME"), forged.join("VOLUME")).expect("manifest");
    let manifest = source.manifest();
    let header = SegmentHeader {
        segment_no: 1,
        volume_id: manifest.volume_id_bytes().expect("id"),
        first_seq: 1,
    };
    fs::write(forged.join("000001.seg"), header.encode()).expect("segment");
    let (writer, _) =
        Volume::open_writer(forged, key, VolumeConfig::default()).expect("open forged");
    for seq in 1..=source.last_seq() {
        let record = source.read(seq).expect("read");
        if matches!(
            record.header.kind,
            RecordKind::Checkpoint | RecordKind::Seal
        ) {
            continue;
        }
        let mut content = record.content.clone();
        if seq == change_seq {
            let at = content.len() - 5;
            content[at] ^= 0x20;
        }
        let prepared = Prepared::new(
            record.header.kind,
            record.header.received_us,
            record.meta.clone(),
            (!content.is_empty()).then_some(content.as_slice()),
            None,
            1,
        )
        .expect("prepare");
        let appended = writer.write_prepared(prepared).expect("write");
        writer.sync_to(appended.seq).expect("sync");
    }
}

async fn login(server: &Server, user: &str, password: &str) -> String {
    let r = http::json(
        server.addr,
        "POST",
        "/api/v1/session",
        None,
        &json!({"username": user, "password": password}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["token"].as_str().expect("token").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_right_after_a_250_leaves_a_signed_head_covering_the_message() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
    let smtp = server.smtp.expect("smtp");
    send(smtp, 0..3);
    kill_server(server);
    // The files as the kill left them (no restart, no recovery).
    let volume = mail_volume(&data);
    let key = data.join("keys/archive.pub");
    let (code, report) = verify_json(
        &[
            "--volume",
            volume.to_str().expect("utf-8"),
            "--public-key",
            key.to_str().expect("utf-8"),
        ],
        &data,
    );
    assert_eq!(code, Some(0), "{report}");
    let v = &report["volumes"][0];
    assert_eq!(v["messages"], 3, "{v}");
    assert_eq!(
        v["unsigned_records"], 0,
        "every acknowledged record is signed: {v}"
    );
    assert_eq!(v["signed_records"], v["records"], "{v}");
    let records = record_offsets(&volume.join("000001.seg"));
    let last = &records.last().expect("records").1;
    assert_eq!(
        last.kind,
        RecordKind::Checkpoint,
        "the last commit ends signed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_since_proves_growth_and_names_the_sizes_of_a_cut_or_rewritten_volume() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
    let smtp = server.smtp.expect("smtp");
    send(smtp, 0..6);
    let admin = login(&server, "admin", ADMIN_PASSWORD).await;
    let volumes = http::get(server.addr, "/api/v1/volumes", Some(&admin)).await;
    let year = volumes.json()["volumes"][0]["year"].as_i64().expect("year");
    // The auditor keeps the head, as served (canonical bytes).
    let head = http::get(
        server.addr,
        &format!("/api/v1/volumes/{year}/tree-head"),
        Some(&admin),
    )
    .await;
    assert_eq!(head.status, 200, "{}", head.text());
    let held_path = tmp.path().join("held-head.json");
    fs::write(&held_path, &head.body).expect("keep head");
    let held: serde_json::Value = head.json();
    let held_size = held["tree_size"].as_u64().expect("size");
    assert!(held_size >= 6, "{held}");

    send(smtp, 6..12);
    // The server proves the growth itself, too.
    let proof = http::get(
        server.addr,
        &format!("/api/v1/volumes/{year}/consistency?from={held_size}"),
        Some(&admin),
    )
    .await;
    assert_eq!(proof.status, 200, "{}", proof.text());
    let proof_path = tmp.path().join("consistency.json");
    fs::write(&proof_path, &proof.body).expect("proof");
    let public = data.join("keys/archive.pub");
    let checked = run(COFFER
        .command(tmp.path())
        .args(["proof", "verify"])
        .arg(&proof_path)
        .arg("--public-key")
        .arg(&public)
        .arg("--since")
        .arg(&held_path));
    assert_eq!(checked.status.code(), Some(0), "{}", stdout(&checked));
    // The audit trail's own volumes have heads too.
    let audit_head = http::get(
        server.addr,
        &format!("/api/v1/audit/volumes/{year}/tree-head"),
        Some(&admin),
    )
    .await;
    assert_eq!(audit_head.status, 200, "{}", audit_head.text());
    stop_server(server);

    let out = run(coffer(&data).arg("verify").arg("--since").arg(&held_path));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("extends the held head"),
        "{}",
        stdout(&out)
    );

    let volume = mail_volume(&data);
    let public_s = public.to_str().expect("utf-8");
    let held_s = held_path.to_str().expect("utf-8");

    // (a) The last records cut off together with their checkpoints: still "intact"
    // from the inside, but not an extension of the held head.
    let cut = tmp.path().join("cut");
    copy_dir(&volume, &cut);
    let records = record_offsets(&cut.join("000001.seg"));
    let keep = 3usize;
    let segment = fs::OpenOptions::new()
        .write(true)
        .open(cut.join("000001.seg"))
        .expect("open");
    segment.set_len(records[keep].0).expect("truncate");
    drop(segment);
    let (code, report) = verify_json(
        &[
            "--volume",
            cut.to_str().expect("utf-8"),
            "--public-key",
            public_s,
        ],
        &data,
    );
    assert_eq!(
        code,
        Some(0),
        "a cut at a record boundary verifies inside: {report}"
    );
    let (code, report) = verify_json(
        &[
            "--volume",
            cut.to_str().expect("utf-8"),
            "--public-key",
            public_s,
            "--since",
            held_s,
        ],
        &data,
    );
    assert_eq!(code, Some(1), "{report}");
    let problems = report["since"]["problems"].to_string();
    assert!(
        problems.contains(&format!(
            "holds {keep} records but the held head covers {held_size}"
        )),
        "{problems}"
    );

    // (b) One message rewritten and everything re-signed with the archive's own key.
    let forged = tmp.path().join("forged");
    let (key, created) = ArchiveKey::load_or_create(&data.join("keys")).expect("key");
    assert!(!created);
    let first_message = records
        .iter()
        .find(|(_, h)| h.kind == RecordKind::Message)
        .expect("a message")
        .1
        .seq;
    rewrite_and_resign(&volume, &forged, &key, first_message);
    let (code, report) = verify_json(
        &[
            "--volume",
            forged.to_str().expect("utf-8"),
            "--public-key",
            public_s,
        ],
        &data,
    );
    assert_eq!(
        code,
        Some(0),
        "the forgery verifies from the inside: {report}"
    );
    let (code, report) = verify_json(
        &[
            "--volume",
            forged.to_str().expect("utf-8"),
            "--public-key",
            public_s,
            "--since",
            held_s,
        ],
        &data,
    );
    assert_eq!(code, Some(1), "{report}");
    let problems = report["since"]["problems"].to_string();
    assert!(
        problems.contains(&format!(
            "records 1..={held_size} no longer form the tree of the held head (size {held_size})"
        )),
        "{problems}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proof_verify_accepts_an_api_proof_and_rejects_any_changed_byte() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
    let smtp = server.smtp.expect("smtp");
    send(smtp, 0..4);
    let admin = login(&server, "admin", ADMIN_PASSWORD).await;
    let r = http::json(
        server.addr,
        "POST",
        "/api/v1/users",
        Some(&admin),
        &json!({"username": "officer", "password": "officer-password-1", "role": "officer", "domains": ["*"]}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let officer = login(&server, "officer", "officer-password-1").await;
    // Indexing follows the acknowledgement: wait until all four are searchable.
    let mut hits = None;
    for _ in 0..100 {
        let r = http::get(
            server.addr,
            "/api/v1/search?q=subject:integrity&sort=date-asc",
            Some(&officer),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        if r.json()["total"] == 4 {
            hits = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let hits = hits.expect("four messages searchable");
    let id = hits.json()["hits"][1]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let proof = http::get(
        server.addr,
        &format!("/api/v1/messages/{id}/proof"),
        Some(&officer),
    )
    .await;
    assert_eq!(proof.status, 200, "{}", proof.text());
    let raw = http::get(
        server.addr,
        &format!("/api/v1/messages/{id}/raw"),
        Some(&officer),
    )
    .await;
    assert_eq!(raw.status, 200);
    stop_server(server);

    let dir = tmp.path().join("offline");
    fs::create_dir_all(&dir).expect("mkdir");
    let public = dir.join("archive.pub");
    fs::copy(data.join("keys/archive.pub"), &public).expect("public key");
    let proof_path = dir.join("proof.json");
    let message_path = dir.join("message.eml");
    fs::write(&message_path, &raw.body).expect("message");
    let check = |proof: &[u8], message: &[u8]| -> (Option<i32>, String) {
        fs::write(&proof_path, proof).expect("proof");
        fs::write(&message_path, message).expect("message");
        let out = run(COFFER
            .command(&dir.join("no-data-dir"))
            .args(["proof", "verify"])
            .arg(&proof_path)
            .arg("--public-key")
            .arg(&public)
            .arg("--message")
            .arg(&message_path));
        (out.status.code(), stdout(&out))
    };
    let (code, out) = check(&proof.body, &raw.body);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("valid inclusion proof"), "{out}");
    assert!(
        fs::symlink_metadata(dir.join("no-data-dir")).is_err(),
        "proof verify needs no data directory"
    );

    // Any one byte of the proof (sampled across the document, every byte of the tree
    // head's signature and root included) or of the message: rejected. Every position of
    // the proof is covered exhaustively, without a process each, by the volume crate's
    // tests (volume/tests/proofs.rs).
    let text = String::from_utf8(proof.body.clone()).expect("utf-8");
    let head_at = text.find("\"tree_head\"").expect("head");
    let mut positions: Vec<usize> = (0..proof.body.len()).step_by(53).collect();
    positions.extend((head_at..proof.body.len()).step_by(7));
    for at in positions {
        let mut changed = proof.body.clone();
        changed[at] = if changed[at] == b'0' { b'1' } else { b'0' };
        let (code, out) = check(&changed, &raw.body);
        assert_eq!(code, Some(1), "byte {at} of the proof changed: {out}");
    }
    for at in (0..raw.body.len()).step_by(97) {
        let mut changed = raw.body.clone();
        changed[at] ^= 0x01;
        let (code, out) = check(&proof.body, &changed);
        assert_eq!(code, Some(1), "byte {at} of the message changed: {out}");
    }
}

/// A minimal HTTP witness: answers 200 to every POST and keeps the bodies.
fn http_witness(listener: std::net::TcpListener) -> std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>> {
    use std::io::{BufRead, BufReader, Read, Write};
    let bodies: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>> = Default::default();
    let keep = std::sync::Arc::clone(&bodies);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let keep = std::sync::Arc::clone(&keep);
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().expect("clone");
                let mut reader = BufReader::new(stream);
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    let mut first = true;
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if first {
                            first = false;
                            continue;
                        }
                        let l = line.to_ascii_lowercase();
                        if let Some(v) = l.strip_prefix("content-length:") {
                            length = v.trim().parse().expect("length");
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0u8; length];
                    reader.read_exact(&mut body).expect("body");
                    keep.lock().expect("lock").push(body);
                    writer
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .expect("answer");
                }
            });
        }
    });
    bodies
}

/// Every signed tree head written in the volumes under `root` (checkpoint and seal
/// records), as canonical JSON.
fn heads_in(root: &Path) -> std::collections::BTreeSet<Vec<u8>> {
    let mut heads = std::collections::BTreeSet::new();
    for year in fs::read_dir(root).expect("dir") {
        let dir = year.expect("entry").path();
        if !dir.join("VOLUME").is_file() {
            continue;
        }
        let (volume, _) = Volume::open_read_only(&dir).expect("open");
        for seq in 1..=volume.last_seq() {
            if volume.kind(seq).expect("kind") == RecordKind::Checkpoint {
                heads.insert(volume.read_meta(seq).expect("meta").1);
            }
        }
    }
    heads
}

async fn metric(server: &Server, name: &str, witness: &str) -> Option<f64> {
    let text = http::get(server.addr, "/metrics", None).await.text();
    text.lines()
        .find(|l| l.starts_with(name) && l.contains(witness))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn witnesses_receive_every_head_and_a_stopped_one_never_blocks_acknowledgement() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let other_media = tmp.path().join("other-media");
    fs::create_dir_all(&other_media).expect("mkdir");
    fs::create_dir_all(&data).expect("mkdir");
    let heads_file = other_media.join("heads.jsonl");
    // An HTTP witness that is down: the port is reserved, nothing listens yet.
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let witness_addr = reserved.local_addr().expect("addr");
    drop(reserved);
    let witness_url = format!("http://{witness_addr}/heads");
    fs::write(
        data.join("coffer.toml"),
        format!(
            "[witness]\ntargets = [\"file:{}\", \"{witness_url}\"]\nretry_seconds = 0.1\nmax_retry_seconds = 0.5\n",
            heads_file.display()
        ),
    )
    .expect("config");
    let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
    let smtp = server.smtp.expect("smtp");
    let started = std::time::Instant::now();
    send(smtp, 0..10);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "acknowledgement does not wait for a witness"
    );
    // The stopped witness is retried and reported: in /metrics and the auditor's view.
    let mut failures = 0.0;
    for _ in 0..100 {
        failures = metric(&server, "coffer_witness_failures", &witness_url)
            .await
            .unwrap_or(0.0);
        if failures >= 2.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(failures >= 2.0, "retried: {failures}");
    assert_eq!(
        metric(&server, "coffer_witness_up", &witness_url).await,
        Some(0.0)
    );
    let admin = login(&server, "admin", ADMIN_PASSWORD).await;
    let view = http::get(server.addr, "/api/v1/witnesses", Some(&admin)).await;
    assert_eq!(view.status, 200, "{}", view.text());
    let view = view.json();
    let http_status = view["witnesses"]
        .as_array()
        .expect("witnesses")
        .iter()
        .find(|w| w["target"] == witness_url.as_str())
        .expect("http witness listed")
        .clone();
    assert!(http_status["last_error"].is_string(), "{http_status}");
    assert!(http_status["pending"].as_u64().expect("pending") > 0);

    // The witness comes back: everything waiting reaches it.
    let bodies = http_witness(std::net::TcpListener::bind(witness_addr).expect("rebind"));
    for _ in 0..200 {
        if metric(&server, "coffer_witness_pending_heads", &witness_url).await == Some(0.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        metric(&server, "coffer_witness_pending_heads", &witness_url).await,
        Some(0.0)
    );
    assert_eq!(
        metric(&server, "coffer_witness_up", &witness_url).await,
        Some(1.0)
    );
    stop_server(server);

    // Every head the volumes hold reached the file witness and the HTTP witness.
    let mut written = heads_in(&data.join("volumes"));
    written.extend(heads_in(&data.join("audit")));
    assert!(
        written.len() >= 10,
        "one head per commit: {}",
        written.len()
    );
    let in_file: std::collections::BTreeSet<Vec<u8>> = fs::read_to_string(&heads_file)
        .expect("heads file")
        .lines()
        .map(|l| l.as_bytes().to_vec())
        .collect();
    let over_http: std::collections::BTreeSet<Vec<u8>> =
        bodies.lock().expect("lock").iter().cloned().collect();
    let missing_file: Vec<_> = written.difference(&in_file).collect();
    assert!(
        missing_file.is_empty(),
        "{} heads not in the file",
        missing_file.len()
    );
    let missing_http: Vec<_> = written.difference(&over_http).collect();
    assert!(
        missing_http.is_empty(),
        "{} heads not posted",
        missing_http.len()
    );
}

/// Runs `coffer report verify` on `bytes` (written to `path`) with `public`.
fn report_verify(path: &Path, bytes: &[u8], public: &Path) -> (Option<i32>, String) {
    fs::write(path, bytes).expect("report");
    let out = run(COFFER
        .command(&path.with_extension("no-data-dir"))
        .args(["report", "verify"])
        .arg(path)
        .arg("--public-key")
        .arg(public));
    (out.status.code(), stdout(&out))
}

/// Audit entries of `action` (as the auditor reads them).
async fn audit_entries(server: &Server, token: &str, action: &str) -> Vec<serde_json::Value> {
    let r = http::get(
        server.addr,
        &format!("/api/v1/audit?action={action}"),
        Some(token),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["entries"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditor_runs_verification_and_gets_a_signed_report_that_fails_when_tampered() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    fs::create_dir_all(&data).expect("mkdir");
    let heads_file = tmp.path().join("other-media-heads.jsonl");
    fs::write(
        data.join("coffer.toml"),
        format!("[witness]\ntargets = [\"file:{}\"]\n", heads_file.display()),
    )
    .expect("config");
    let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
    let smtp = server.smtp.expect("smtp");
    send(smtp, 0..3);
    let admin = login(&server, "admin", ADMIN_PASSWORD).await;
    let r = http::json(
        server.addr,
        "POST",
        "/api/v1/users",
        Some(&admin),
        &json!({"username": "auditor", "password": "auditor-password-1", "role": "auditor"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let auditor = login(&server, "auditor", "auditor-password-1").await;
    let year = http::get(server.addr, "/api/v1/volumes", Some(&auditor))
        .await
        .json()["volumes"][0]["year"]
        .as_i64()
        .expect("year");
    // The file witness has taken the newest head before the report is asked for.
    for _ in 0..100 {
        let r = http::get(server.addr, "/api/v1/witnesses", Some(&auditor)).await;
        if r.json()["witnesses"][0]["pending"] == 0
            && r.json()["witnesses"][0]["published"][format!("mail-{year}")].is_u64()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Running verification is the auditor's (capability table): others are refused.
    let path = format!("/api/v1/volumes/{year}/verify");
    let denied = http::request(server.addr, "POST", &path, Some(&admin), None, b"").await;
    assert_eq!(denied.status, 403, "{}", denied.text());
    let mail = http::request(server.addr, "POST", &path, Some(&auditor), None, b"").await;
    assert_eq!(mail.status, 200, "{}", mail.text());
    let doc = mail.json();
    let report = &doc["report"];
    assert_eq!(report["format"], "coffer-integrity-report-v1", "{doc}");
    assert_eq!(report["scope"], format!("mail {year}"));
    assert_eq!(report["requested_by"], "auditor");
    assert_eq!(report["intact"], true, "{doc}");
    let volume = &report["volumes"][0];
    assert_eq!(volume["purpose"], "mail");
    assert_eq!(volume["messages"], 3, "{volume}");
    assert_eq!(volume["result"], "intact");
    assert_eq!(volume["unsigned_records"], 0);
    let head = &volume["last_signed_head"];
    // An open volume's newest head is in its last record, a checkpoint over the
    // records before it.
    assert_eq!(
        head["tree_size"].as_u64().map(|n| n + 1),
        volume["records"].as_u64(),
        "{volume}"
    );
    assert_eq!(
        volume["witnessed"][0]["tree_size"], head["tree_size"],
        "{volume}"
    );
    assert!(
        volume["witnessed"][0]["last_success_us"].is_i64(),
        "{volume}"
    );
    assert_eq!(report["witnesses"][0]["observed"], true);
    let fingerprint = doc["key"].as_str().expect("key").to_string();
    assert_eq!(head["key"], fingerprint.as_str());

    let audit_run = http::request(
        server.addr,
        "POST",
        "/api/v1/audit/verify",
        Some(&auditor),
        None,
        b"",
    )
    .await;
    assert_eq!(audit_run.status, 200, "{}", audit_run.text());
    let audit_doc = audit_run.json();
    assert_eq!(audit_doc["report"]["scope"], "audit");
    assert_eq!(audit_doc["report"]["intact"], true, "{audit_doc}");
    assert_eq!(audit_doc["report"]["volumes"][0]["purpose"], "audit");
    assert!(audit_doc["report"]["volumes"][0]["records"].as_u64() > Some(0));

    // The command line writes the same kind of report (through the running server's
    // socket for its audit entry).
    let cli_report = tmp.path().join("cli-report.json");
    let out = run(coffer(&data).arg("verify").arg("--report").arg(&cli_report));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{} {}",
        stdout(&out),
        stderr(&out)
    );

    // Every run is in the audit trail, naming the report's signature.
    let runs = audit_entries(&server, &auditor, "volume.verify").await;
    let signatures: Vec<&str> = runs
        .iter()
        .filter_map(|e| e["detail"]["report_signature"].as_str())
        .collect();
    assert!(
        signatures.contains(&doc["signature"].as_str().expect("sig")),
        "{runs:?}"
    );
    let cli_doc: serde_json::Value =
        serde_json::from_slice(&fs::read(&cli_report).expect("cli report")).expect("json");
    assert!(
        signatures.contains(&cli_doc["signature"].as_str().expect("sig")),
        "{runs:?}"
    );
    assert!(
        runs.iter()
            .any(|e| e["actor"].as_str().is_some_and(|a| a.starts_with("local:")))
    );
    let audit_runs = audit_entries(&server, &auditor, "audit.verify").await;
    assert_eq!(audit_runs.len(), 1, "{audit_runs:?}");
    assert_eq!(audit_runs[0]["actor"], "auditor");
    stop_server(server);

    // Offline: only the public key.
    let offline = tmp.path().join("offline");
    fs::create_dir_all(&offline).expect("mkdir");
    let public = offline.join("archive.pub");
    fs::copy(data.join("keys/archive.pub"), &public).expect("public key");
    let report_path = offline.join("report.json");
    for body in [
        &mail.body,
        &audit_run.body,
        &fs::read(&cli_report).expect("cli"),
    ] {
        let (code, out) = report_verify(&report_path, body, &public);
        assert_eq!(code, Some(0), "{out}");
        assert!(out.starts_with("valid integrity report"), "{out}");
    }
    let cli_scope = &cli_doc["report"];
    assert_eq!(cli_scope["scope"], "all");
    assert_eq!(
        cli_scope["volumes"].as_array().map(Vec::len),
        Some(2),
        "{cli_doc}"
    );
    assert_eq!(cli_scope["witnesses"][0]["observed"], false);

    // A tampered report is rejected: a changed count, a changed verdict, a changed
    // signature, a key that is not the archive's.
    let text = String::from_utf8(mail.body.clone()).expect("utf-8");
    let tampered = [
        text.replacen("\"messages\":3", "\"messages\":2", 1),
        text.replacen(
            "\"requested_by\":\"auditor\"",
            "\"requested_by\":\"auditor2\"",
            1,
        ),
        {
            let sig = doc["signature"].as_str().expect("sig");
            let flipped = format!(
                "{}{}",
                if sig.starts_with('0') { "1" } else { "0" },
                &sig[1..]
            );
            text.replacen(sig, &flipped, 1)
        },
        text.replacen("{\"report\":{", "{\"report\":{ ", 1),
    ];
    for bad in &tampered {
        assert_ne!(bad, &text);
        let (code, out) = report_verify(&report_path, bad.as_bytes(), &public);
        assert_eq!(code, Some(1), "accepted a tampered report: {out}");
        assert!(out.starts_with("INVALID integrity report"), "{out}");
    }
    // A report signed with another key is refused by the archive's public key.
    let other = ArchiveKey::generate().expect("key");
    let mut forged: coffer_volume::SignedReport =
        serde_json::from_slice(&mail.body).expect("parse");
    forged.report.volumes[0].messages = 2;
    let forged = forged.report.sign(&other);
    let (code, out) = report_verify(&report_path, &forged.to_json(), &public);
    assert_eq!(code, Some(1), "{out}");
}

/// Appends to a copy of a volume what a thief holding only a key of their own could
/// write: a key transition from the archive's key to theirs, signed by their key in
/// both places, then a checkpoint signed by their key. Records are encoded by hand
/// (FORMAT.md), chained and hashed correctly: only the signatures are wrong.
fn append_forged_transition(dir: &Path, archive_public: &[u8; 32], thief: &ArchiveKey) {
    use coffer_volume::record::{Codec, RecordHeader, encode_record, sha256};
    let (volume, _) = Volume::open_read_only(dir).expect("open copy");
    let manifest = volume.manifest();
    let volume_id = manifest.volume_id_bytes().expect("id");
    let mut tree = coffer_volume::merkle::MerkleTree::new();
    let mut last = volume.genesis_hash();
    for seq in 1..=volume.last_seq() {
        last = volume.record_hash(seq).expect("hash");
        tree.push(&last);
    }
    let mut seq = volume.last_seq();
    drop(volume);
    let segment = dir.join("000001.seg");
    let mut bytes = fs::read(&segment).expect("segment");
    let mut append = |kind: RecordKind, meta: Vec<u8>, time_us: i64, prev: [u8; 32]| {
        seq += 1;
        let empty = sha256(b"");
        let header = RecordHeader {
            version: 2,
            kind,
            codec: Codec::None,
            flags: 0,
            seq,
            received_us: time_us,
            meta_len: meta.len() as u32,
            raw_len: 0,
            stored_len: 0,
            dict_ref: 0,
            content_sha256: empty,
            stored_sha256: Some(empty),
            prev_hash: prev,
        };
        let (record, hash) = encode_record(&header, &meta, b"");
        bytes.extend_from_slice(&record);
        hash
    };
    let time_us = manifest.created_us + 1_000_000;
    let size = tree.len();
    let root = tree.root();
    let mut forged = coffer_volume::KeyTransition::sign(
        thief,
        thief,
        &volume_id,
        manifest.year,
        size,
        &root,
        &last,
        time_us,
    );
    forged.old_key = hex::encode(archive_public);
    let hash = append(RecordKind::KeyTransition, forged.to_json(), time_us, last);
    tree.push(&hash);
    let head = coffer_volume::SignedTreeHead::sign(
        thief,
        &volume_id,
        manifest.year,
        tree.len(),
        &tree.root(),
        &hash,
        time_us + 1,
    );
    append(RecordKind::Checkpoint, head.to_json(), time_us + 1, hash);
    fs::write(&segment, bytes).expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_verifies_with_the_old_and_the_new_public_key_and_a_forged_transition_fails()
{
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let key_mount = tmp.path().join("key-mount");
    fs::create_dir_all(&data).expect("mkdir");
    let key_path = key_mount.join("archive.key");
    fs::write(
        data.join("coffer.toml"),
        format!("[keys]\nsigning_key = \"{}\"\n", key_path.display()),
    )
    .expect("config");
    let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
    send(server.smtp.expect("smtp"), 0..3);
    stop_server(server);
    assert!(
        key_path.is_file(),
        "the private key is where the configuration says"
    );
    assert!(
        fs::symlink_metadata(data.join("keys/archive.key")).is_err(),
        "no private key in the data directory"
    );
    let old_public = tmp.path().join("old.pub");
    fs::copy(data.join("keys/archive.pub"), &old_public).expect("old public key");
    // An auditor keeps a head signed by the old key, and a copy of the volume as it was.
    let (code, before) = verify_json(&[], &data);
    assert_eq!(code, Some(0), "{before}");
    let held = tmp.path().join("held.json");
    fs::write(
        &held,
        serde_json::from_value::<coffer_volume::SignedTreeHead>(
            before["volumes"][0]["last_signed_head"].clone(),
        )
        .expect("head")
        .to_json(),
    )
    .expect("held");
    let volume = mail_volume(&data);
    let before_copy = tmp.path().join("before-copy");
    copy_dir(&volume, &before_copy);

    let out = run(coffer(&data).args(["key", "rotate"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{} {}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("key transitions written to 2 volume(s)"),
        "{}",
        stdout(&out)
    );
    let new_public = tmp.path().join("new.pub");
    fs::copy(data.join("keys/archive.pub"), &new_public).expect("new public key");
    assert_ne!(
        fs::read(&old_public).expect("old"),
        fs::read(&new_public).expect("new")
    );

    // More mail, signed by the new key.
    let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
    send(server.smtp.expect("smtp"), 3..6);
    stop_server(server);

    let (code, report) = verify_json(&[], &data);
    assert_eq!(
        code,
        Some(0),
        "with the data directory's (new) key: {report}"
    );
    let new_head = &report["volumes"][0]["last_signed_head"];
    let new_fingerprint = new_head["key"].as_str().expect("key").to_string();
    assert_ne!(
        before["volumes"][0]["last_signed_head"]["key"],
        new_head["key"]
    );
    for public in [&old_public, &new_public] {
        let p = public.to_str().expect("utf-8");
        let (code, report) = verify_json(
            &[
                "--volume",
                volume.to_str().expect("utf-8"),
                "--public-key",
                p,
            ],
            &data,
        );
        assert_eq!(code, Some(0), "{p}: {report}");
        assert_eq!(report["volumes"][0]["messages"], 6);
        // A head kept before the rotation still proves growth across it.
        let (code, report) = verify_json(
            &[
                "--volume",
                volume.to_str().expect("utf-8"),
                "--public-key",
                p,
                "--since",
                held.to_str().expect("utf-8"),
            ],
            &data,
        );
        assert_eq!(code, Some(0), "since, {p}: {report}");
    }

    // An integrity report signed by the new key carries the key chain: the auditor who
    // kept the old public key verifies it (`coffer report verify`), and so does the new.
    let report_path = tmp.path().join("report.json");
    let out = run(coffer(&data)
        .arg("verify")
        .arg("--report")
        .arg(&report_path));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{} {}",
        stdout(&out),
        stderr(&out)
    );
    let report_bytes = fs::read(&report_path).expect("report");
    let doc: coffer_volume::SignedReport =
        serde_json::from_slice(&report_bytes).expect("report json");
    assert_eq!(doc.key, new_fingerprint);
    assert_eq!(doc.report.key_transitions.len(), 1, "one link: old → new");
    let checked = tmp.path().join("checked.json");
    for public in [&old_public, &new_public] {
        let (code, out) = report_verify(&checked, &report_bytes, public);
        assert_eq!(code, Some(0), "{}: {out}", public.display());
        assert!(out.starts_with("valid integrity report"), "{out}");
    }
    let (_, out) = report_verify(&checked, &report_bytes, &old_public);
    assert!(
        out.contains(&format!(
            "signed by {new_fingerprint} reached through 1 key transition(s)"
        )),
        "{out}"
    );
    // A report a thief signed with their own key, with a chain from the archive's old
    // key to theirs that only they signed: refused with the old public key (and with
    // the new one, which is not in that chain).
    let thief = ArchiveKey::generate().expect("key");
    let old_raw = coffer_volume::PublicKey::load(&old_public)
        .expect("old public")
        .to_bytes();
    let link = &doc.report.key_transitions[0];
    let mut forged_link = coffer_volume::KeyTransition::sign(
        &thief,
        &thief,
        &hex::decode(&link.volume_id)
            .expect("hex")
            .try_into()
            .expect("16"),
        link.year,
        link.tree_size,
        &hex::decode(&link.root)
            .expect("hex")
            .try_into()
            .expect("32"),
        &hex::decode(&link.chain_head)
            .expect("hex")
            .try_into()
            .expect("32"),
        link.time_us,
    );
    forged_link.old_key = hex::encode(old_raw);
    let mut forged = doc.report.clone();
    forged.key_transitions = vec![forged_link];
    let forged = forged.sign(&thief).to_json();
    for public in [&old_public, &new_public] {
        let (code, out) = report_verify(&checked, &forged, public);
        assert_eq!(code, Some(1), "forged chain accepted: {out}");
        assert!(out.starts_with("INVALID integrity report"), "{out}");
    }

    // A transition the thief signed with their own key alone fails, whichever key the
    // verifier trusts.
    let thief = ArchiveKey::generate().expect("key");
    let old_key = coffer_volume::PublicKey::load(&old_public).expect("old public");
    append_forged_transition(&before_copy, &old_key.to_bytes(), &thief);
    let thief_public = tmp.path().join("thief.pub");
    fs::write(&thief_public, hex::encode(thief.public_key().to_bytes())).expect("thief pub");
    for public in [&old_public, &thief_public] {
        let (code, report) = verify_json(
            &[
                "--volume",
                before_copy.to_str().expect("utf-8"),
                "--public-key",
                public.to_str().expect("utf-8"),
            ],
            &data,
        );
        assert_eq!(code, Some(1), "forged transition accepted: {report}");
        let problems = report["volumes"][0]["problems"].to_string();
        assert!(
            problems.contains("the old key's signature does not verify"),
            "{problems}"
        );
    }
}

/// The fingerprint of a public key file.
fn fingerprint_of(public: &Path) -> String {
    coffer_volume::PublicKey::load(public)
        .expect("public key")
        .fingerprint()
        .to_string()
}

/// Runs `coffer key rotate` until it reports `step` (COFFER_PAUSE_AFTER), then SIGKILLs it.
fn rotate_killed_after(data: &Path, step: &str) {
    use std::io::{BufRead, BufReader};
    let mut child = coffer(data)
        .args(["key", "rotate"])
        .env("COFFER_PAUSE_AFTER", step)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn key rotate");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("key rotate ended before {step}"))
            .expect("line");
        if line == step {
            break;
        }
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_killed_after_any_step_verifies_and_the_next_start_finishes_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    fs::create_dir_all(&data).expect("mkdir");
    let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
    send(server.smtp.expect("smtp"), 0..2);
    stop_server(server);
    let keys = data.join("keys");
    let first_public = tmp.path().join("first.pub");
    fs::copy(keys.join("archive.pub"), &first_public).expect("first public key");
    let staged = keys.join("archive.key.new");
    let mut sent = 2;
    // Each round is one rotation killed right after a step, then finished — by the
    // server's start, or by running `key rotate` again — and used.
    for (step, finish_by_rerun) in [
        ("staged", false),
        ("transition", true),
        ("volume", false),
        ("public", true),
        ("installed", false),
    ] {
        let before = fingerprint_of(&keys.join("archive.pub"));
        rotate_killed_after(&data, step);
        assert_eq!(
            fs::symlink_metadata(&staged).is_ok(),
            step != "installed",
            "after {step}: KEY.new marks a rotation under way"
        );
        // Whatever the step, the archive verifies: with archive.pub as it is now, and
        // the mail volume with the very first public key (through the chain).
        let (code, report) = verify_json(&[], &data);
        assert_eq!(code, Some(0), "verify after a kill at {step}: {report}");
        let volume = mail_volume(&data);
        let (code, report) = verify_json(
            &[
                "--volume",
                volume.to_str().expect("utf-8"),
                "--public-key",
                first_public.to_str().expect("utf-8"),
            ],
            &data,
        );
        assert_eq!(code, Some(0), "first key after a kill at {step}: {report}");

        if finish_by_rerun {
            let out = run(coffer(&data).args(["key", "rotate"]));
            assert_eq!(
                out.status.code(),
                Some(0),
                "{} {}",
                stdout(&out),
                stderr(&out)
            );
            assert!(
                stdout(&out).contains("finished the key rotation an earlier run began"),
                "{}",
                stdout(&out)
            );
        }
        // The server starts (finishing the rotation when still under way) and takes mail.
        let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
        send(server.smtp.expect("smtp"), sent..sent + 1);
        sent += 1;
        stop_server(server);
        assert!(
            fs::symlink_metadata(&staged).is_err(),
            "after {step}: the rotation was finished"
        );
        let now = fingerprint_of(&keys.join("archive.pub"));
        assert_ne!(now, before, "after {step}: rolled forward to the new key");
        let private = ArchiveKey::load(&keys.join("archive.key")).expect("key");
        assert_eq!(
            private.fingerprint(),
            now,
            "after {step}: key and archive.pub agree"
        );
        let (code, report) = verify_json(&[], &data);
        assert_eq!(code, Some(0), "verify after finishing {step}: {report}");
        assert_eq!(report["volumes"][0]["messages"], sent as u64, "{report}");
        assert_eq!(report["volumes"][0]["unsigned_records"], 0, "{report}");
    }
    // Five rotations later the first public key still verifies every mail volume.
    let (code, report) = verify_json(
        &[
            "--volume",
            mail_volume(&data).to_str().expect("utf-8"),
            "--public-key",
            first_public.to_str().expect("utf-8"),
        ],
        &data,
    );
    assert_eq!(code, Some(0), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coffer_serve_timestamps_its_heads_with_an_rfc3161_authority() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let tsa_dir = tmp.path().join("tsa");
    let tokens = tmp.path().join("tokens");
    fs::create_dir_all(&data).expect("mkdir");
    fs::create_dir_all(&tsa_dir).expect("mkdir");
    let tsa = coffer_testkit::tsa::timestamp_authority(&tsa_dir).await;
    fs::write(
        data.join("coffer.toml"),
        format!(
            "[witness]\ntimestamp_authority = \"http://{tsa}/\"\ntokens_dir = \"{}\"\n",
            tokens.display()
        ),
    )
    .expect("config");
    let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
    send(server.smtp.expect("smtp"), 0..3);
    // The newest signed head of the mail volume (after the last acknowledgement).
    let (code, report) = verify_json(&[], &data);
    assert_eq!(code, Some(0), "{report}");
    let head = &report["volumes"][0]["last_signed_head"];
    let (year, size) = (
        head["year"].as_i64().expect("year"),
        head["tree_size"].as_u64().expect("size"),
    );
    let base = tokens.join(format!("mail-{year}-{size}"));
    let started = std::time::Instant::now();
    while fs::symlink_metadata(base.with_extension("tsr")).is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "no timestamp token for the newest head (size {size}) in {}",
            tokens.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    stop_server(server);
    // Every token kept verifies with openssl against the head kept beside it, and every
    // kept head is a head the archive's public key verifies.
    let public = coffer_volume::PublicKey::load(&data.join("keys/archive.pub")).expect("pub");
    let mut checked = 0;
    for entry in fs::read_dir(&tokens).expect("tokens") {
        let token = entry.expect("entry").path();
        if token.extension().and_then(|e| e.to_str()) != Some("tsr") {
            continue;
        }
        let json = token.with_extension("json");
        let kept =
            coffer_volume::SignedTreeHead::from_canonical_json(&fs::read(&json).expect("head"))
                .expect("a canonical head");
        kept.verify_signature(&public)
            .expect("signed by the archive");
        let verify = std::process::Command::new("openssl")
            .args(["ts", "-verify", "-data"])
            .arg(&json)
            .arg("-in")
            .arg(&token)
            .arg("-CAfile")
            .arg(tsa_dir.join("ca.crt"))
            .arg("-untrusted")
            .arg(tsa_dir.join("tsa.crt"))
            .output()
            .expect("openssl ts -verify");
        assert!(
            verify.status.success(),
            "{}: {}",
            token.display(),
            String::from_utf8_lossy(&verify.stderr)
        );
        checked += 1;
    }
    assert!(
        checked >= 2,
        "tokens for the mail and the audit heads: {checked}"
    );
    assert!(
        fs::read_dir(&tokens).expect("tokens").any(|e| e
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .starts_with("audit-")),
        "the audit trail's heads are timestamped too"
    );
}
