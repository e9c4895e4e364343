//! Journaling through the real archive (real volumes, SQLite catalog and index in a
//! temporary data directory): journal reports are unwrapped with their Bcc recipients as
//! mailboxes, journal copies of one message are stored once, genuinely different
//! messages never merge, and archiving rules decide what is kept and for whom.

use std::collections::BTreeMap;
use std::sync::Arc;

use coffer_index::{SearchRequest, Sort};
use coffer_ingest::archive::{Archive, ArchiveOptions, DataDir, Outcome, Rebuild, RuleSource};
use coffer_ingest::journaling::ArchiveSink;
use coffer_ingest::rules::{MailboxRules, Rule};
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
    let data = DataDir::new(dir);
    tokio::task::spawn_blocking(move || Archive::open(data, options))
        .await
        .expect("join")
        .expect("open")
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
    let archive = Arc::clone(archive);
    tokio::task::spawn_blocking(move || archive.flush().expect("flush"))
        .await
        .expect("join");
}

async fn search(archive: &Arc<Archive>, query: &str, scope: Scope) -> Vec<String> {
    let archive = Arc::clone(archive);
    let query = query.to_string();
    tokio::task::spawn_blocking(move || {
        archive.flush().expect("flush");
        let r = archive
            .index()
            .search(&SearchRequest {
                query,
                scope,
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
    let sink = ArchiveSink::new(Arc::clone(&archive), 64);
    let report = fixture("001.eml");
    let outcome = sink
        .ingest(
            report.clone(),
            envelope("journal@contoso.com", &["journal@archive.example"]),
            None,
        )
        .await
        .expect("ingest");
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
    assert_eq!(
        row.sender.as_deref(),
        Some("alice@contoso.com"),
        "views present the original, not the report"
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
    archive.shutdown().expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_copies_are_linked_and_different_messages_never_merge() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = open(tmp.path()).await;
    let sink = ArchiveSink::new(Arc::clone(&archive), 64);
    let body = "From: Alice <alice@contoso.com>\r\nTo: bob@contoso.com\r\nSubject: Plan\r\n\
                Date: Tue, 3 Mar 2026 10:00:00 +0000\r\nMessage-ID: <plan-1@contoso.com>\r\n\r\nThe plan.\r\n";
    let copy1 = format!("Received: from mx1 by archive; Tue, 3 Mar 2026 10:00:01 +0000\r\n{body}");
    let copy2 = format!(
        "Received: from mx2 by archive; Tue, 3 Mar 2026 10:00:09 +0000\r\nDelivered-To: carol@contoso.com\r\n{body}"
    );
    let first = sink
        .ingest(
            copy1.into_bytes(),
            envelope("alice@contoso.com", &["bob@contoso.com"]),
            None,
        )
        .await
        .expect("1");
    let second = sink
        .ingest(
            copy2.into_bytes(),
            envelope("alice@contoso.com", &["carol@contoso.com"]),
            None,
        )
        .await
        .expect("2");
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
    let third = sink
        .ingest(
            different.into_bytes(),
            envelope("alice@contoso.com", &["bob@contoso.com"]),
            None,
        )
        .await
        .expect("3");
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
    archive.shutdown().expect("shutdown");
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
    let sink = ArchiveSink::new(Arc::clone(&archive), 64);
    let message = |n: usize| {
        format!(
            "From: Alice <alice@contoso.com>\r\nTo: bob@contoso.com\r\nSubject: Note {n}\r\n\
             Date: Tue, 3 Mar 2026 10:00:00 +0000\r\nMessage-ID: <note-{n}@contoso.com>\r\n\r\nQuarterly note {n}.\r\n"
        )
    };
    let mut ids = Vec::new();
    // More than one replay chunk (256 records).
    for n in 0..300 {
        let outcome = sink
            .ingest(
                message(n).into_bytes(),
                envelope("alice@contoso.com", &["bob@contoso.com"]),
                None,
            )
            .await
            .expect("ingest");
        let Outcome::Archived { id, .. } = outcome else {
            panic!("{outcome:?}")
        };
        ids.push(id);
    }
    let mut linked = Vec::new();
    for n in [3, 290] {
        let copy = format!("Delivered-To: carol@contoso.com\r\n{}", message(n));
        let outcome = sink
            .ingest(
                copy.into_bytes(),
                envelope("alice@contoso.com", &["carol@contoso.com"]),
                None,
            )
            .await
            .expect("copy");
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
    archive.shutdown().expect("shutdown");
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
            sort: Sort::DateDesc,
            limit: 1,
            offset: 0,
        })
        .expect("search")
        .total;
    assert_eq!(total, 300, "bob's mailbox after the rebuild");
    archive.shutdown().expect("shutdown");
}

#[derive(Default)]
struct FixedRules(BTreeMap<String, MailboxRules>);

impl RuleSource for FixedRules {
    fn rules_for(&self, mailboxes: &[String]) -> BTreeMap<String, MailboxRules> {
        mailboxes
            .iter()
            .filter_map(|m| self.0.get(m).map(|r| (m.clone(), r.clone())))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archiving_rules_keep_and_link_only_what_they_admit() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = open(tmp.path()).await;
    let mut rules = BTreeMap::new();
    rules.insert(
        "bob@contoso.com".to_string(),
        MailboxRules {
            user: Some(Rule::External),
            groups: vec![],
        },
    );
    rules.insert(
        "carol@contoso.com".to_string(),
        MailboxRules {
            user: None,
            groups: vec![Rule::None],
        },
    );
    rules.insert(
        "alice@contoso.com".to_string(),
        MailboxRules {
            user: Some(Rule::None),
            groups: vec![],
        },
    );
    archive.set_rule_source(Arc::new(FixedRules(rules)));
    let sink = ArchiveSink::new(Arc::clone(&archive), 64);
    let message = |from: &str, to: &str, n: u32| {
        format!("From: {from}\r\nTo: {to}\r\nSubject: m{n}\r\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\nMessage-ID: <r{n}@x>\r\n\r\nhello {n}\r\n").into_bytes()
    };
    // Internal, alice (none) -> bob (external only) and carol (group: none): nobody keeps it.
    let internal = sink
        .ingest(
            message("alice@contoso.com", "bob@contoso.com, carol@contoso.com", 1),
            envelope("alice@contoso.com", &[]),
            None,
        )
        .await
        .expect("1");
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
    let external = sink
        .ingest(
            message(
                "x@fabrikam.com",
                "bob@contoso.com, dave@contoso.com, carol@contoso.com",
                2,
            ),
            envelope("x@fabrikam.com", &[]),
            None,
        )
        .await
        .expect("2");
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
    archive.shutdown().expect("shutdown");
}
