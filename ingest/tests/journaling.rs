//! Journaling through the real archive (real volumes, SQLite catalog and index in a
//! temporary data directory): journal reports are unwrapped with their Bcc recipients as
//! mailboxes, journal copies of one message are stored once, genuinely different
//! messages never merge, and archiving rules decide what is kept and for whom.

use std::sync::Arc;

use coffer_accounts::{PasswordParams, UserSpec};
use coffer_audit::{AuditLog, audit_dir};
use coffer_index::{SearchRequest, Sort};
use coffer_ingest::journaling::{DeliveredBy, Journal, Source, Submission};
use coffer_ingest::metrics::IngestMetrics;
use coffer_ingest::{Archive, ArchiveOptions, DataDir, Outcome, Rebuild};
use coffer_model::{Envelope, MessageFlags, Scope};

const LOCAL: &str = "contoso.com";

async fn open(dir: &std::path::Path) -> Arc<Archive> {
    open_with(dir, Rebuild::Nothing).await
}

/// [`open`], rebuilding the derived views as `coffer recatalog`/`reindex` ask.
async fn open_with(dir: &std::path::Path, rebuild: Rebuild) -> Arc<Archive> {
    let options = ArchiveOptions {
        local_domains: vec![LOCAL.into()],
        rebuild,
        ..ArchiveOptions::default()
    };
    Archive::open(DataDir::new(dir), options)
        .await
        .expect("open")
}

/// The journaling pipeline over `archive`, with its audit trail.
async fn journal(archive: &Arc<Archive>) -> Journal {
    let audit = AuditLog::open(
        &audit_dir(archive.data_dir().root()),
        archive.key().clone(),
        archive.catalog().clone(),
        coffer_volume::VolumeConfig::default(),
    )
    .await
    .expect("audit");
    Journal::new(Arc::clone(archive), audit, IngestMetrics::default(), 64)
}

/// Journals one message as an SMTP delivery would.
async fn deliver(journal: &Journal, raw: Vec<u8>, envelope: Envelope) -> Outcome {
    journal
        .deliver(Submission {
            raw,
            envelope,
            source: Source::Smtp,
            delivered_by: DeliveredBy::Client([127, 0, 0, 1].into()),
            client: "127.0.0.1".into(),
        })
        .await
        .expect("deliver")
}

fn envelope(from: &str, to: &[&str]) -> Envelope {
    Envelope {
        protocol: "smtp".into(),
        mail_from: Some(from.into()),
        rcpt_to: to.iter().map(|s| s.to_string()).collect(),
        client_addr: Some("127.0.0.1".into()),
        helo: Some("mx.test".into()),
        tls: false,
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata/eml/journal")
            .join(name),
    )
    .expect("fixture")
}

/// Waits until the catalog and index have applied everything durable.
async fn flushed(archive: &Arc<Archive>) {
    archive.flush().await.expect("flush");
}

async fn search(archive: &Arc<Archive>, query: &str, scope: Scope) -> Vec<String> {
    archive.flush().await.expect("flush");
    let archive = Arc::clone(archive);
    let query = query.to_string();
    tokio::task::spawn_blocking(move || {
        let r = archive
            .index()
            .search(&SearchRequest {
                query,
                scope,
                recipients: coffer_model::RecipientView::All,
                sort: Sort::DateDesc,
                limit: 100,
                offset: 0,
            })
            .expect("search");
        r.hits.into_iter().map(|h| h.id.to_string()).collect()
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_report_is_unwrapped_and_bcc_recipient_gets_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = open(tmp.path()).await;
    let sink = journal(&archive).await;
    let report = fixture("001.eml");
    let outcome = deliver(
        &sink,
        report.clone(),
        envelope("journal@contoso.com", &["journal@archive.example"]),
    )
    .await;
    let Outcome::Archived { id, .. } = outcome else {
        panic!("expected archived, got {outcome:?}")
    };
    flushed(&archive).await;
    let row = archive
        .catalog()
        .message(id)
        .await
        .expect("q")
        .expect("row");
    let hit_from = {
        let archive = Arc::clone(&archive);
        tokio::task::spawn_blocking(move || {
            let found = archive
                .index()
                .search(&SearchRequest {
                    query: "figures".into(),
                    scope: Scope::All,
                    recipients: coffer_model::RecipientView::All,
                    sort: Sort::DateDesc,
                    limit: 10,
                    offset: 0,
                })
                .expect("search");
            found.hits.into_iter().map(|h| h.from).collect::<Vec<_>>()
        })
        .await
        .expect("join")
    };
    assert!(
        hit_from.len() == 1 && hit_from[0].contains("alice@contoso.com"),
        "views present the original, not the report: {hit_from:?}"
    );
    assert!(MessageFlags(row.flags).contains(MessageFlags::JOURNAL_REPORT));
    assert!(
        row.mailboxes.contains(&"frank@contoso.com".to_string()),
        "Bcc recipient is a mailbox: {:?}",
        row.mailboxes
    );
    assert!(row.mailboxes.contains(&"bob@contoso.com".to_string()));
    assert!(
        !row.mailboxes.iter().any(|m| m.ends_with("fabrikam.com")),
        "external recipients are not mailboxes"
    );
    // The record keeps the report exactly as received.
    let volume = archive
        .volumes()
        .get(id.year)
        .expect("vol")
        .expect("exists");
    assert_eq!(volume.read(id.seq).expect("read").content, report);
    // Frank finds it in his personal archive; Bob's scope does not leak to others.
    assert_eq!(
        search(&archive, "figures", Scope::mailboxes(["frank@contoso.com"])).await,
        vec![id.to_string()]
    );
    assert!(
        search(&archive, "figures", Scope::mailboxes(["eve@contoso.com"]))
            .await
            .is_empty()
    );
    archive.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_copies_are_linked_and_different_messages_never_merge() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = open(tmp.path()).await;
    let sink = journal(&archive).await;
    let body = "From: Alice <alice@contoso.com>\r\nTo: bob@contoso.com\r\nSubject: Plan\r\n\
                Date: Tue, 3 Mar 2026 10:00:00 +0000\r\nMessage-ID: <plan-1@contoso.com>\r\n\r\nThe plan.\r\n";
    let copy1 = format!("Received: from mx1 by archive; Tue, 3 Mar 2026 10:00:01 +0000\r\n{body}");
    let copy2 = format!(
        "Received: from mx2 by archive; Tue, 3 Mar 2026 10:00:09 +0000\r\nDelivered-To: carol@contoso.com\r\n{body}"
    );
    let first = deliver(
        &sink,
        copy1.into_bytes(),
        envelope("alice@contoso.com", &["bob@contoso.com"]),
    )
    .await;
    let second = deliver(
        &sink,
        copy2.into_bytes(),
        envelope("alice@contoso.com", &["carol@contoso.com"]),
    )
    .await;
    let Outcome::Archived { id, .. } = first else {
        panic!("{first:?}")
    };
    match second {
        Outcome::Linked { id: linked, added } => {
            assert_eq!(linked, id);
            assert_eq!(added, vec!["carol@contoso.com"]);
        }
        other => panic!("second journal copy must be linked, got {other:?}"),
    }
    // A different message (one changed word) is stored separately.
    let different = format!(
        "Received: from mx1 by archive; Tue, 3 Mar 2026 10:00:01 +0000\r\n{}",
        body.replace("The plan.", "The plan!")
    );
    let third = deliver(
        &sink,
        different.into_bytes(),
        envelope("alice@contoso.com", &["bob@contoso.com"]),
    )
    .await;
    assert!(
        matches!(third, Outcome::Archived { id: other, .. } if other != id),
        "{third:?}"
    );
    flushed(&archive).await;
    let row = archive
        .catalog()
        .message(id)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(
        row.mailboxes,
        vec!["alice@contoso.com", "bob@contoso.com", "carol@contoso.com"]
    );
    assert_eq!(
        search(&archive, "plan", Scope::mailboxes(["carol@contoso.com"])).await,
        vec![id.to_string()]
    );
    archive.shutdown().await.expect("shutdown");
}

/// `coffer reindex` replays the volume in chunks and takes each message's mailboxes
/// from the rebuilt catalog, one query per chunk: mailboxes that journal copies added
/// later (link records) must survive the rebuild in both chunks, and nobody gains any.
/// Message 290's link falls in its own chunk and is skipped, so only the catalog lookup
/// gives it carol; message 3's link falls in the next chunk and re-indexes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_keeps_mailboxes_added_by_links_in_every_replay_chunk() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = open(tmp.path()).await;
    let sink = journal(&archive).await;
    let message = |n: usize| {
        format!(
            "From: Alice <alice@contoso.com>\r\nTo: bob@contoso.com\r\nSubject: Note {n}\r\n\
             Date: Tue, 3 Mar 2026 10:00:00 +0000\r\nMessage-ID: <note-{n}@contoso.com>\r\n\r\nQuarterly note {n}.\r\n"
        )
    };
    let mut ids = Vec::new();
    // More than one replay chunk (256 records).
    for n in 0..300 {
        let outcome = deliver(
            &sink,
            message(n).into_bytes(),
            envelope("alice@contoso.com", &["bob@contoso.com"]),
        )
        .await;
        let Outcome::Archived { id, .. } = outcome else {
            panic!("{outcome:?}")
        };
        ids.push(id);
    }
    let mut linked = Vec::new();
    for n in [3, 290] {
        let copy = format!("Delivered-To: carol@contoso.com\r\n{}", message(n));
        let outcome = deliver(
            &sink,
            copy.into_bytes(),
            envelope("alice@contoso.com", &["carol@contoso.com"]),
        )
        .await;
        assert!(matches!(outcome, Outcome::Linked { .. }), "{outcome:?}");
        linked.push(ids[n].to_string());
    }
    linked.sort();
    flushed(&archive).await;
    let mut before = search(
        &archive,
        "quarterly",
        Scope::mailboxes(["carol@contoso.com"]),
    )
    .await;
    before.sort();
    assert_eq!(before, linked);
    drop(sink);
    archive.shutdown().await.expect("shutdown");
    drop(archive);

    let archive = open_with(tmp.path(), Rebuild::Everything).await;
    let mut after = search(
        &archive,
        "quarterly",
        Scope::mailboxes(["carol@contoso.com"]),
    )
    .await;
    after.sort();
    assert_eq!(after, linked, "carol's mailbox after the rebuild");
    let total = archive
        .index()
        .search(&SearchRequest {
            query: "quarterly".into(),
            scope: Scope::mailboxes(["bob@contoso.com"]),
            recipients: coffer_model::RecipientView::All,
            sort: Sort::DateDesc,
            limit: 1,
            offset: 0,
        })
        .expect("search")
        .total;
    assert_eq!(total, 300, "bob's mailbox after the rebuild");
    archive.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archiving_rules_keep_and_link_only_what_they_admit() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = open(tmp.path()).await;
    // The rules an administrator sets: bob archives external mail only, carol's group
    // archives nothing (and carol sets no rule of her own), alice archives nothing.
    let catalog = archive.catalog().clone();
    let person = |name: &str, rule: &str, groups: &[&str]| UserSpec {
        username: name.into(),
        role: "user".into(),
        password: Some("a long enough password".into()),
        mailboxes: vec![format!("{name}@contoso.com")],
        groups: groups.iter().map(|g| g.to_string()).collect(),
        archiving_rule: Some(rule.into()),
        ..UserSpec::default()
    };
    for spec in [
        person("bob", "external", &[]),
        person("carol", "both", &["quiet"]),
        person("alice", "none", &[]),
    ] {
        coffer_accounts::create_user(&catalog, &spec, PasswordParams::fast_insecure(), 0)
            .await
            .expect("user");
    }
    assert!(
        catalog
            .set_group_rule("quiet", "none")
            .await
            .expect("group rule")
    );
    let sink = journal(&archive).await;
    let message = |from: &str, to: &str, n: u32| {
        format!("From: {from}\r\nTo: {to}\r\nSubject: m{n}\r\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\nMessage-ID: <r{n}@x>\r\n\r\nhello {n}\r\n").into_bytes()
    };
    // Internal, alice (none) -> bob (external only) and carol (group: none): nobody keeps it.
    let internal = deliver(
        &sink,
        message("alice@contoso.com", "bob@contoso.com, carol@contoso.com", 1),
        envelope("alice@contoso.com", &[]),
    )
    .await;
    assert!(
        matches!(
            internal,
            Outcome::Excluded {
                internal: true,
                refused: 3,
                ..
            }
        ),
        "{internal:?}"
    );
    flushed(&archive).await;
    assert!(
        archive
            .catalog()
            .message_counts()
            .await
            .expect("counts")
            .is_empty(),
        "an excluded message is not stored"
    );
    // External mail to bob and dave (no rule: both): kept, linked to bob and dave only.
    let external = deliver(
        &sink,
        message(
            "x@fabrikam.com",
            "bob@contoso.com, dave@contoso.com, carol@contoso.com",
            2,
        ),
        envelope("x@fabrikam.com", &[]),
    )
    .await;
    let Outcome::Archived { id, .. } = external else {
        panic!("{external:?}")
    };
    flushed(&archive).await;
    let row = archive
        .catalog()
        .message(id)
        .await
        .expect("q")
        .expect("row");
    assert_eq!(row.mailboxes, vec!["bob@contoso.com", "dave@contoso.com"]);
    assert!(
        search(&archive, "hello", Scope::mailboxes(["carol@contoso.com"]))
            .await
            .is_empty()
    );
    assert_eq!(
        search(&archive, "hello", Scope::mailboxes(["dave@contoso.com"])).await,
        vec![id.to_string()]
    );
    // Imports ignore journaling rules (they are explicit).
    archive.shutdown().await.expect("shutdown");
}

/// Issue 22, item 8: an SMTP/LMTP delivery's record says who delivered it: the journal
/// token the session authenticated with (`token:NAME`), or else the client's address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_deliveries_record_the_token_or_client_that_delivered_them() {
    use coffer_ingest::meta::MessageMeta;
    use coffer_ingest::smtp::delivery::JournalSink;
    use coffer_ingest::smtp::{Delivery, DeliveryOutcome, DeliverySink, Protocol, Transaction};

    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = open(tmp.path()).await;
    let sink = JournalSink::new(Arc::new(journal(&archive).await));
    let mut origins = Vec::new();
    for (subject, authenticated_as, protocol) in [
        ("authenticated", Some("mx1".to_owned()), Protocol::Smtp),
        ("allowed by address", None, Protocol::Lmtp),
    ] {
        let delivery = Delivery {
            transaction: Transaction {
                mail_from: Some("alice@contoso.com".into()),
                rcpt_to: vec!["bob@contoso.com".into()],
                helo: Some("mx.test".into()),
                data: format!("From: alice@contoso.com\r\nTo: bob@contoso.com\r\nSubject: {subject}\r\n\r\nbody\r\n")
                    .into_bytes(),
                authenticated_as,
                ..Transaction::default()
            },
            session_id: 1,
            client_addr: "[::ffff:192.0.2.7]:40000".parse().expect("address"),
            tls: true,
            protocol,
            received_at: chrono::Utc::now(),
        };
        let DeliveryOutcome::Accepted { queue_id } = sink.deliver(delivery).await else {
            panic!("not accepted")
        };
        let id: coffer_model::MessageId = queue_id.parse().expect("a message id");
        let record = archive
            .volumes()
            .get(id.year)
            .expect("volume")
            .expect("exists")
            .read(id.seq)
            .expect("record");
        let meta = MessageMeta::from_bytes(&record.meta).expect("metadata");
        origins.push(meta.origin);
    }
    assert_eq!(
        origins,
        [
            Some("token:mx1".to_string()),
            Some("client:192.0.2.7".to_string())
        ]
    );
    archive.shutdown().await.expect("shutdown");
}
