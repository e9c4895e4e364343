//! A real Postfix instance journaling to Coffer with `always_bcc`: internal, external and
//! Bcc traffic, archiving rules set per group, then what each user's archive shows.
//!
//! The test writes its own Postfix configuration directory (own queue, own ports on
//! 127.0.0.1, no chroot) and starts it with `postfix -c DIR start`; it never touches the
//! machine's MTA. Postfix routes the local domain's mail and the journal copy to the same
//! next hop, Coffer, so one delivery carries every envelope recipient, Bcc included.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::json;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

struct Postfix {
    dir: std::path::PathBuf,
}

impl Postfix {
    /// The test's own set-up: `always_bcc` to Coffer, and the local domain's mail sent to
    /// Coffer too (so one delivery carries every envelope recipient).
    fn start(dir: &Path, listen_port: u16, coffer_smtp: std::net::SocketAddr) -> Postfix {
        let next_hop = format!("smtp:[{}]:{}", coffer_smtp.ip(), coffer_smtp.port());
        let journaling = format!(
            "always_bcc = journal@archive.test
transport_maps = inline:{{ archive.test={next_hop}, corp.example={next_hop}, other.example=discard: }}
"
        );
        Self::start_with(dir, listen_port, &journaling)
    }

    /// Postfix with the given journaling lines of main.cf.
    fn start_with(dir: &Path, listen_port: u16, journaling: &str) -> Postfix {
        let conf = dir.join("etc");
        std::fs::create_dir_all(&conf).expect("mkdir");
        let main_cf = format!(
            "compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.corp.example
mydomain = corp.example
myorigin = corp.example
mydestination =
mynetworks = 127.0.0.0/8
relay_domains = corp.example, other.example
{journaling}smtp_host_lookup = native
smtp_dns_support_level = disabled
smtputf8_enable = no
biff = no
maillog_file = {log}
maillog_file_prefixes = {dir}
default_destination_concurrency_limit = 4
",
            queue = dir.join("queue").display(),
            data = dir.join("data").display(),
            log = dir.join("maillog").display(),
            dir = dir.display(),
        );
        std::fs::write(conf.join("main.cf"), main_cf).expect("main.cf");
        let master_cf = format!(
            "127.0.0.1:{listen_port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"
        );
        std::fs::write(conf.join("master.cf"), master_cf).expect("master.cf");
        for sub in ["queue", "data"] {
            std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
        }
        // Postfix's daemons drop to the `postfix` user: they must be able to reach the
        // queue (temporary directories are created 0700) and own their data directory.
        use std::os::unix::fs::PermissionsExt;
        let mut ancestor = Some(dir);
        while let Some(d) =
            ancestor.filter(|d| d.starts_with(std::env::temp_dir()) && *d != std::env::temp_dir())
        {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            ancestor = d.parent();
        }
        let chown = Command::new("chown")
            .arg("postfix")
            .arg(dir.join("data"))
            .status()
            .expect("chown");
        assert!(
            chown.success(),
            "chown postfix (the test runs as root, as CI does)"
        );
        let out = Command::new("/usr/sbin/postfix")
            .arg("-c")
            .arg(&conf)
            .arg("start")
            .output()
            .expect("postfix is installed (.ci/run installs it)");
        assert!(
            out.status.success(),
            "postfix start: {}{}\nmaillog:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(dir.join("maillog")).unwrap_or_default()
        );
        Postfix {
            dir: dir.to_path_buf(),
        }
    }

    fn flush(&self) {
        let _ = Command::new("/usr/sbin/postfix")
            .arg("-c")
            .arg(self.dir.join("etc"))
            .arg("flush")
            .output();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("/usr/sbin/postfix")
            .arg("-c")
            .arg(self.dir.join("etc"))
            .arg("stop")
            .output();
    }
}

async fn subjects(addr: std::net::SocketAddr, token: &str) -> Vec<String> {
    let r = http::get(addr, "/api/v1/search?q=*&limit=100&sort=date", Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut out: Vec<String> = r.json()["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .filter_map(|h| h["subject"].as_str().map(str::to_string))
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_always_bcc_journaling_with_group_rules() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    // The always_bcc target is the archive's own address, not a participant.
    std::fs::write(
        data.join("coffer.toml"),
        "journal_addresses = [\"journal@archive.test\"]\n",
    )
    .expect("config");
    let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
    let addr = server.addr;
    let admin = login(addr, "admin", ADMIN_PASSWORD).await;
    for (user, group) in [
        ("alice", None),
        ("bob", Some("sales")),
        ("frank", None),
        ("carol", Some("legal")),
        ("dave", Some("legal")),
    ] {
        let r = http::json(
            addr,
            "POST",
            "/api/v1/users",
            Some(&admin),
            &json!({
                "username": user, "password": format!("{user}-password-123"), "role": "user",
                "mailboxes": [format!("{user}@corp.example")],
            }),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let _ = group;
    }
    // sales archives external mail only; legal archives nothing.
    for (group, rule, members) in [
        ("sales", "external", vec!["bob"]),
        ("legal", "none", vec!["carol", "dave"]),
    ] {
        let r = http::json(
            addr,
            "POST",
            "/api/v1/groups",
            Some(&admin),
            &json!({"name": group, "archiving_rule": rule, "members": members}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let postfix_port = free_port();
    let postfix = Postfix::start(
        &tmp.path().join("postfix"),
        postfix_port,
        server.smtp.expect("smtp"),
    );
    let mx: std::net::SocketAddr = format!("127.0.0.1:{postfix_port}").parse().expect("addr");
    let send = |from: &str, to: &[&str], bcc: &[&str], subject: &str| {
        let mut client = SmtpClient::connect(mx).expect("connect to postfix");
        let message = format!(
            "From: {from}\r\nTo: {}\r\nSubject: {subject}\r\nMessage-ID: <{}@test>\r\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\n\r\n{subject} body\r\n",
            to.join(", "),
            subject.replace(' ', "-")
        );
        let rcpts: Vec<&str> = to.iter().chain(bcc).copied().collect();
        assert_eq!(
            client.send(from, &rcpts, message.as_bytes()).expect("send"),
            250
        );
        let _ = client.command("QUIT");
    };
    send(
        "alice@corp.example",
        &["bob@corp.example"],
        &[],
        "internal note",
    );
    send(
        "x@other.example",
        &["bob@corp.example"],
        &["frank@corp.example"],
        "external offer",
    );
    send(
        "carol@corp.example",
        &["dave@corp.example"],
        &[],
        "legal privileged",
    );
    send(
        "alice@corp.example",
        &["x@other.example"],
        &["frank@corp.example"],
        "outbound proposal",
    );

    // Postfix delivers asynchronously: wait until Coffer has seen all four journal copies.
    let expected_deliveries = 4;
    let mut seen = 0;
    for _ in 0..300 {
        postfix.flush();
        let metrics = http::get(addr, "/metrics", None).await.text();
        seen = metrics
            .lines()
            .filter(|l| l.starts_with("coffer_ingest_messages_total{source=\"smtp\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>();
        if seen >= expected_deliveries {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        seen >= expected_deliveries,
        "Postfix delivered {seen} of {expected_deliveries}; maillog:\n{}",
        postfix.log()
    );
    tokio::time::sleep(Duration::from_millis(1500)).await; // the index commits within a second

    let view = |user: &'static str| async move {
        subjects(
            addr,
            &login(addr, user, &format!("{user}-password-123")).await,
        )
        .await
    };
    assert_eq!(
        view("alice").await,
        vec!["internal note", "outbound proposal"]
    );
    assert_eq!(
        view("bob").await,
        vec!["external offer"],
        "sales keeps external mail only"
    );
    assert_eq!(
        view("frank").await,
        vec!["external offer", "outbound proposal"],
        "Bcc recipient"
    );
    assert!(view("carol").await.is_empty(), "legal keeps nothing");
    assert!(view("dave").await.is_empty(), "legal keeps nothing");
    // The excluded message is in the audit trail, without content.
    let audit = http::get(addr, "/api/v1/audit?action=message.excluded", Some(&admin)).await;
    let audit_text = audit.text();
    assert!(
        audit.json()["total"].as_u64().unwrap_or(0) >= 1,
        "{audit_text}"
    );
    assert!(
        !audit_text.contains("legal privileged"),
        "no content in the audit trail"
    );
    drop(postfix);
    stop_server(server);
    assert_eq!(run(coffer(&data).arg("verify")).status.code(), Some(0));
}

/// The production set-up of the README: Postfix delivers mail as usual (here to a
/// `discard:` stand-in for the mailbox server) and sends one journal copy to Coffer with
/// `recipient_bcc_maps`, encoding each local recipient — Bcc included — in the journal
/// address's extension (`journal+bob=corp.example@archive.test`). Coffer decodes the
/// recipients, so every one of them has the message in their archive, and no mail is
/// taken away from the mailbox server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_recipient_bcc_maps_journaling_keeps_mail_flowing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(
        data.join("coffer.toml"),
        "journal_addresses = [\"journal@archive.test\"]\n",
    )
    .expect("config");
    let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
    let addr = server.addr;
    let admin = login(addr, "admin", ADMIN_PASSWORD).await;
    for user in ["bob", "frank"] {
        let r = http::json(
            addr,
            "POST",
            "/api/v1/users",
            Some(&admin),
            &json!({
                "username": user, "password": format!("{user}-password-123"), "role": "user",
                "mailboxes": [format!("{user}@corp.example")],
            }),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let coffer_smtp = server.smtp.expect("smtp");
    let next_hop = format!("smtp:[{}]:{}", coffer_smtp.ip(), coffer_smtp.port());
    let postfix_dir = tmp.path().join("postfix");
    std::fs::create_dir_all(postfix_dir.join("etc")).expect("mkdir");
    std::fs::write(
        postfix_dir.join("etc/journal_rcpt"),
        "/^(.+)@(corp\\.example)$/ journal+${1}=${2}@archive.test\n",
    )
    .expect("journal_rcpt");
    let journaling = format!(
        "recipient_bcc_maps = regexp:{map}
transport_maps = inline:{{ archive.test={next_hop}, corp.example=discard:mailbox-server, other.example=discard: }}
",
        map = postfix_dir.join("etc/journal_rcpt").display()
    );
    let postfix_port = free_port();
    let postfix = Postfix::start_with(&postfix_dir, postfix_port, &journaling);
    let mx: std::net::SocketAddr = format!("127.0.0.1:{postfix_port}").parse().expect("addr");
    let mut client = SmtpClient::connect(mx).expect("connect to postfix");
    let message = "From: x@other.example\r\nTo: bob@corp.example\r\nSubject: quarterly plan\r\n\
Message-ID: <plan-rbm@test>\r\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\n\r\nThe plan.\r\n";
    assert_eq!(
        client
            .send(
                "x@other.example",
                &["bob@corp.example", "frank@corp.example"],
                message.as_bytes()
            )
            .expect("send"),
        250
    );
    let _ = client.command("QUIT");
    // Wait until Coffer has the journal copy and the mailbox server its two deliveries.
    let mut archived = false;
    for _ in 0..300 {
        postfix.flush();
        let metrics = http::get(addr, "/metrics", None).await.text();
        archived = metrics.lines().any(|l| {
            l.starts_with("coffer_ingest_messages_total{source=\"smtp\",outcome=\"archived\"}")
        });
        let log = postfix.log();
        if archived && log.matches("mailbox-server").count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        archived,
        "no journal copy reached Coffer; maillog:\n{}",
        postfix.log()
    );
    let log = postfix.log();
    assert!(
        log.contains("to=<bob@corp.example>") && log.contains("to=<frank@corp.example>"),
        "the mail itself still went to the mailbox server: {log}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await; // the index commits within a second
    for user in ["bob", "frank"] {
        let token = login(addr, user, &format!("{user}-password-123")).await;
        assert_eq!(
            subjects(addr, &token).await,
            vec!["quarterly plan"],
            "{user} (frank only in Bcc) has the message"
        );
    }
    drop(postfix);
    stop_server(server);
}
