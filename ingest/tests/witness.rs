//! Witnesses take every signed tree head, in order, and a failing one is retried while
//! publishing never waits (issue 25, item 2): a file witness, an HTTP witness that is
//! down and comes back, a syslog collector, and RFC 3161 timestamps from a local
//! authority made with `openssl ts`, whose tokens `openssl ts -verify` accepts.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use coffer_ingest::witness::{WitnessConfig, WitnessTarget, Witnesses};
use coffer_volume::{ArchiveKey, SignedTreeHead};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

fn heads(n: u64) -> Vec<SignedTreeHead> {
    let key = ArchiveKey::generate().expect("key");
    (1..=n)
        .map(|size| {
            SignedTreeHead::sign(
                &key,
                &[0x42; 16],
                2026,
                size,
                &[size as u8; 32],
                &[size as u8 + 1; 32],
                1_700_000_000_000_000 + size as i64,
            )
        })
        .collect()
}

fn config(dir: &Path, targets: Vec<WitnessTarget>) -> WitnessConfig {
    WitnessConfig {
        targets,
        timestamp_authority: None,
        tokens_dir: dir.join("tokens"),
        retry: Duration::from_millis(50),
        max_retry: Duration::from_millis(200),
        interval: None,
    }
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A minimal HTTP server: answers each request with `status()`, recording the bodies
/// of the requests it answered 200.
async fn http_witness(accept: Arc<AtomicBool>, bodies: Arc<Mutex<Vec<Vec<u8>>>>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let (accept, bodies) = (Arc::clone(&accept), Arc::clone(&bodies));
            tokio::spawn(async move {
                let mut raw = Vec::new();
                let mut buf = [0u8; 4096];
                let body = loop {
                    let Ok(n) = stream.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    raw.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&raw).to_string();
                    let Some(end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let length: usize = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if raw.len() >= end + 4 + length {
                        break raw[end + 4..end + 4 + length].to_vec();
                    }
                };
                let ok = accept.load(Ordering::SeqCst);
                if ok {
                    bodies.lock().await.push(body);
                }
                let status = if ok {
                    "200 OK"
                } else {
                    "503 Service Unavailable"
                };
                let _ = stream
                    .write_all(
                        format!(
                            "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    )
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_head_reaches_every_witness_and_a_down_one_catches_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("witness.jsonl");
    let accept = Arc::new(AtomicBool::new(false));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let http = http_witness(Arc::clone(&accept), Arc::clone(&bodies)).await;
    let syslog = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    syslog
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let witnesses = Witnesses::start(config(
        dir.path(),
        vec![
            WitnessTarget::File(file.clone()),
            WitnessTarget::Http(format!("http://{http}/heads")),
            WitnessTarget::Syslog(Some(syslog.local_addr().expect("addr").to_string())),
        ],
    ));
    let heads = heads(5);
    let started = Instant::now();
    for head in &heads {
        witnesses.publish("mail", head);
    }
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "publishing never waits for a witness"
    );
    // The file and syslog witnesses take every head, in order.
    until("the file witness", || {
        std::fs::read_to_string(&file).is_ok_and(|t| t.lines().count() == heads.len())
    })
    .await;
    let lines: Vec<String> = std::fs::read_to_string(&file)
        .expect("file")
        .lines()
        .map(str::to_string)
        .collect();
    for (line, head) in lines.iter().zip(&heads) {
        assert_eq!(line.as_bytes(), head.to_json().as_slice());
        SignedTreeHead::from_canonical_json(line.as_bytes()).expect("a canonical head");
    }
    for head in &heads {
        let mut buf = [0u8; 8192];
        let n = syslog.recv(&mut buf).expect("syslog message");
        let message = String::from_utf8_lossy(&buf[..n]);
        assert!(
            message.contains(&String::from_utf8_lossy(&head.to_json()).to_string()),
            "{message}"
        );
    }
    // The HTTP witness is down: its failures are counted and the heads wait for it.
    until("failures reported", || {
        witnesses
            .status()
            .iter()
            .any(|s| s.target.starts_with("http") && s.failures > 0 && s.pending == heads.len())
    })
    .await;
    // It comes back and takes all of them, in order.
    accept.store(true, Ordering::SeqCst);
    until("the HTTP witness catches up", || {
        witnesses
            .status()
            .iter()
            .all(|s| s.pending == 0 && s.last_error.is_none())
    })
    .await;
    let taken = bodies.lock().await.clone();
    assert_eq!(taken.len(), heads.len());
    for (body, head) in taken.iter().zip(&heads) {
        assert_eq!(body, &head.to_json());
    }
    let http_status = witnesses
        .status()
        .into_iter()
        .find(|s| s.target.starts_with("http"))
        .expect("http status");
    assert_eq!(http_status.published.get("mail-2026"), Some(&5));
    assert!(http_status.last_success_us.is_some());
    witnesses.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_are_timestamped_by_an_rfc3161_authority() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tsa_dir = dir.path().join("tsa");
    std::fs::create_dir_all(&tsa_dir).expect("mkdir");
    let tsa = coffer_testkit::tsa::timestamp_authority(&tsa_dir).await;
    let file = dir.path().join("witness.jsonl");
    let witnesses = Witnesses::start(WitnessConfig {
        timestamp_authority: Some(format!("http://{tsa}/")),
        ..config(dir.path(), vec![WitnessTarget::File(file.clone())])
    });
    let heads = heads(2);
    for head in &heads {
        witnesses.publish("audit", head);
    }
    until("both heads witnessed", || {
        std::fs::read_to_string(&file).is_ok_and(|t| t.lines().count() == 2)
    })
    .await;
    until("both heads timestamped", || {
        heads.iter().all(|h| {
            std::fs::symlink_metadata(
                dir.path()
                    .join("tokens")
                    .join(format!("audit-2026-{}.tsr", h.tree_size)),
            )
            .is_ok()
        })
    })
    .await;
    let status = witnesses.status();
    assert_eq!(
        status.len(),
        2,
        "the file witness and the authority: {status:?}"
    );
    assert_eq!(status[1].target, format!("timestamp:http://{tsa}/"));
    for head in &heads {
        let base = dir
            .path()
            .join("tokens")
            .join(format!("audit-2026-{}", head.tree_size));
        let json = base.with_extension("json");
        let token = base.with_extension("tsr");
        assert_eq!(std::fs::read(&json).expect("head kept"), head.to_json());
        // The token verifies with openssl against the head's bytes and the CA.
        let verify = Command::new("openssl")
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
            "{}{}",
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        );
        // A changed head does not verify against its token.
        let mut changed = std::fs::read(&json).expect("json");
        changed[10] ^= 1;
        let altered = dir.path().join("altered.json");
        std::fs::write(&altered, &changed).expect("altered");
        let refused = Command::new("openssl")
            .args(["ts", "-verify", "-data"])
            .arg(&altered)
            .arg("-in")
            .arg(&token)
            .arg("-CAfile")
            .arg(tsa_dir.join("ca.crt"))
            .arg("-untrusted")
            .arg(tsa_dir.join("tsa.crt"))
            .output()
            .expect("openssl ts -verify");
        assert!(!refused.status.success());
    }
    witnesses.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_interval_only_the_newest_head_of_each_volume_leaves_per_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("witness.jsonl");
    let interval = Duration::from_millis(400);
    let witnesses = Witnesses::start(WitnessConfig {
        interval: Some(interval),
        ..config(dir.path(), vec![WitnessTarget::File(file.clone())])
    });
    let lines = || {
        std::fs::read_to_string(&file)
            .unwrap_or_default()
            .lines()
            .map(|l| SignedTreeHead::from_canonical_json(l.as_bytes()).expect("a head"))
            .collect::<Vec<_>>()
    };
    let mail = heads(7);
    let audit = heads(2);
    let started = Instant::now();
    for head in &mail[..5] {
        witnesses.publish("mail", head);
    }
    witnesses.publish("audit", &audit[0]);
    // Older than what is held: never replaces the newer head.
    witnesses.publish("mail", &mail[1]);
    tokio::time::sleep(interval / 4).await;
    if started.elapsed() < interval {
        assert!(
            lines().is_empty(),
            "nothing leaves before the interval ends"
        );
    }
    until("the first interval's heads", || lines().len() >= 2).await;
    let first = lines();
    assert_eq!(first.len(), 2, "one head per volume: {first:?}");
    let sizes: Vec<u64> = first.iter().map(|h| h.tree_size).collect();
    assert!(
        sizes.contains(&5),
        "the newest mail head (size 5): {sizes:?}"
    );
    assert!(sizes.contains(&1), "the audit head: {sizes:?}");
    // The next interval carries the newest of what came since, and nothing else.
    witnesses.publish("mail", &mail[5]);
    witnesses.publish("mail", &mail[6]);
    until("the second interval's head", || lines().len() >= 3).await;
    tokio::time::sleep(interval * 2).await;
    let all = lines();
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(all[2].tree_size, 7);
    let status = witnesses.status();
    assert_eq!(status[0].published.get("mail-2026"), Some(&7));
    witnesses.stop();
}
