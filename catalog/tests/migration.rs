//! Migrations 0015 (integer message keys) and 0016 (links packed into the message row),
//! both issue 24, convert a catalog written by 0014 in place, on SQLite and on
//! PostgreSQL (when `COFFER_TEST_POSTGRES_URL` is set; the test creates and drops a
//! database of its own there): messages and links keep their meaning, the provenance of
//! each link survives (a link record's, the message record's, or none from before
//! 0012), the rows of a disposed message do not come back, and the authoritative tables
//! (users, audit mirror, dispositions, high-water marks) are kept.

use std::collections::HashMap;

use coffer_catalog::{Applied, ApplyBatch, Catalog};
use coffer_model::{MessageDoc, MessageId, Sha256};
use sqlx::AnyPool;

/// The last migration before integer keys.
const BEFORE: i64 = 14;

fn sha(n: u8) -> Vec<u8> {
    vec![n; 32]
}

/// Writes a catalog as 0014 left it: four messages of two years (one of them disposed
/// of: its rows are gone already), links from the message records, from a link record
/// and from before provenance was kept, plus rows of the authoritative tables.
async fn seed(pool: &AnyPool) {
    let messages: [(&str, i64, i64, u8, Option<u8>); 3] = [
        ("2025-1", 2025, 1, 1, Some(11)),
        ("2026-9", 2026, 9, 2, None),
        ("2026-10", 2026, 10, 3, Some(13)),
    ];
    for (id, year, seq, digest, identity) in messages {
        sqlx::query(
            "INSERT INTO messages (id, year, seq, sha256, message_id, date, received, sender, \
             subject, size, attachments, flags, identity) \
             VALUES ($1, $2, $3, $4, 'm@x', $5, $6, 'a@corp.example', 'secret subject', $7, 1, 4, $8)",
        )
        .bind(id)
        .bind(year)
        .bind(seq)
        .bind(sha(digest))
        .bind(1_700_000_000 + seq)
        .bind(1_760_000_000 + seq)
        .bind(1000 + seq)
        .bind(identity.map(sha))
        .execute(pool)
        .await
        .expect("message row");
    }
    for address in ["alice", "bob", "carol"] {
        sqlx::query("INSERT INTO mailboxes (address, domain) VALUES ($1, 'corp.example')")
            .bind(format!("{address}@corp.example"))
            .execute(pool)
            .await
            .expect("mailbox");
    }
    // (message, mailbox, via year, via seq)
    let links: [(&str, &str, Option<i64>, Option<i64>); 5] = [
        ("2025-1", "alice", Some(2025), Some(1)), // the message record itself
        ("2025-1", "bob", Some(2026), Some(11)),  // a link record of the next year
        ("2026-9", "carol", None, None),          // applied before 0012
        ("2026-10", "alice", Some(2026), Some(10)),
        ("2026-10", "carol", Some(2026), Some(12)),
    ];
    for (message, mailbox, via_year, via_seq) in links {
        sqlx::query(
            "INSERT INTO message_mailboxes (message, mailbox, via_year, via_seq) \
             SELECT $1, id, $3, $4 FROM mailboxes WHERE address = $2",
        )
        .bind(message)
        .bind(format!("{mailbox}@corp.example"))
        .bind(via_year)
        .bind(via_seq)
        .execute(pool)
        .await
        .expect("link");
    }
    for sql in [
        "INSERT INTO high_water (purpose, year, applied_seq) VALUES ('mail', 2025, 5), ('mail', 2026, 12), ('audit', 2026, 3)",
        "INSERT INTO users (username, password_hash, role, created) VALUES ('kept', 'hash', 'officer', 1)",
        "INSERT INTO audit (year, seq, time_us, actor, action, target, outcome, client, detail) \
         VALUES (2026, 1, 5, 'kept', 'message.view', '2026-10', 'success', 'local', '{}')",
        "INSERT INTO disposition_runs (state, proposed_by, proposed_us, holds, counts, total, items) \
         VALUES ('executed', 'kept', 1, '[]', '[]', 1, '[[2025,2,\"short\"]]')",
    ] {
        sqlx::query(sql).execute(pool).await.expect(sql);
    }
}

/// What the converted catalog must answer.
async fn check(cat: &Catalog) {
    let row = cat
        .message(MessageId::new(2025, 1))
        .await
        .expect("q")
        .expect("2025-1 is kept");
    assert_eq!(row.sha256, Sha256(sha(1).try_into().expect("32")));
    assert_eq!(
        (row.date, row.received, row.size, row.attachments, row.flags),
        (Some(1_700_000_001), 1_760_000_001, 1001, 1, 4)
    );
    assert_eq!(
        row.mailboxes,
        vec!["alice@corp.example", "bob@corp.example"]
    );
    assert!(
        cat.message(MessageId::new(2025, 2))
            .await
            .expect("q")
            .is_none(),
        "a disposed message does not come back"
    );

    // Provenance: the message record, a link record, and "none" read as the message record.
    let expect = |pairs: &[(&str, MessageId)]| -> HashMap<String, MessageId> {
        pairs.iter().map(|(a, id)| (a.to_string(), *id)).collect()
    };
    assert_eq!(
        cat.link_provenance(MessageId::new(2025, 1))
            .await
            .expect("q"),
        expect(&[
            ("alice@corp.example", MessageId::new(2025, 1)),
            ("bob@corp.example", MessageId::new(2026, 11)),
        ])
    );
    assert_eq!(
        cat.link_provenance(MessageId::new(2026, 9))
            .await
            .expect("q"),
        expect(&[("carol@corp.example", MessageId::new(2026, 9))])
    );
    assert_eq!(
        cat.link_provenance(MessageId::new(2026, 10))
            .await
            .expect("q"),
        expect(&[
            ("alice@corp.example", MessageId::new(2026, 10)),
            ("carol@corp.example", MessageId::new(2026, 12)),
        ])
    );

    // The layout of 0016: the links the message records name (and those from before
    // provenance was kept) are the message row's list of mailbox ids; only the links
    // named by link records have rows.
    let id_of = |address: &str| {
        let address = format!("{address}@corp.example");
        async move {
            sqlx::query_scalar::<_, i64>("SELECT id FROM mailboxes WHERE address = $1")
                .bind(address)
                .fetch_one(cat.pool())
                .await
                .expect("mailbox id")
        }
    };
    let (alice, bob, carol) = (
        id_of("alice").await,
        id_of("bob").await,
        id_of("carol").await,
    );
    let lists: Vec<(i64, Option<String>)> =
        sqlx::query_as("SELECT id, mailboxes FROM messages ORDER BY id")
            .fetch_all(cat.pool())
            .await
            .expect("lists");
    assert_eq!(
        lists,
        vec![
            (2025_0000000001, Some(alice.to_string())),
            (2026_0000000009, Some(carol.to_string())),
            (2026_0000000010, Some(alice.to_string())),
        ]
    );
    let link_rows: Vec<(i64, i64, i64)> =
        sqlx::query_as("SELECT message, mailbox, via FROM message_links ORDER BY message")
            .fetch_all(cat.pool())
            .await
            .expect("links");
    assert_eq!(
        link_rows,
        vec![
            (2025_0000000001, bob, 2026_0000000011),
            (2026_0000000010, carol, 2026_0000000012),
        ]
    );

    // Keys in (year, seq) order, per year: 2026-9 before 2026-10.
    let hashes: Vec<u64> = cat
        .message_hashes(2026)
        .await
        .expect("q")
        .into_iter()
        .map(|(seq, _)| seq)
        .collect();
    assert_eq!(hashes, vec![9, 10]);
    let counts = cat.message_counts().await.expect("counts");
    assert_eq!(counts, HashMap::from([(2025, 1), (2026, 2)]));
    let in_range = cat.mailboxes_in_range(2026, 1, u64::MAX).await.expect("q");
    assert_eq!(in_range[&9], vec!["carol@corp.example"]);
    assert_eq!(
        in_range[&10],
        vec!["alice@corp.example", "carol@corp.example"]
    );
    let rows = cat.retention_rows(2026, 9, 10).await.expect("q");
    assert_eq!(
        rows.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![MessageId::new(2026, 10)]
    );

    // Dedup lookups through the 8-byte prefixes, the full value compared.
    let digest = Sha256(sha(3).try_into().expect("32"));
    let mut near_miss = digest;
    near_miss.0[31] = 0;
    let found = cat
        .find_by_sha256(&[digest, near_miss])
        .await
        .expect("find");
    assert_eq!(
        found.len(),
        1,
        "a digest sharing only its prefix is not a match"
    );
    assert_eq!(found[&digest].id, MessageId::new(2026, 10));
    assert!(
        cat.message_by_sha256(&near_miss)
            .await
            .expect("q")
            .is_none()
    );
    let identity = Sha256(sha(13).try_into().expect("32"));
    assert_eq!(
        cat.find_by_identity(&identity)
            .await
            .expect("q")
            .map(|k| k.id),
        Some(MessageId::new(2026, 10))
    );
    let mut other_identity = identity;
    other_identity.0[31] = 0;
    assert!(
        cat.find_by_identity(&other_identity)
            .await
            .expect("q")
            .is_none()
    );

    // The authoritative tables and the high-water marks are as they were.
    assert_eq!(cat.high_water("mail", 2026).await.expect("hw"), 12);
    assert_eq!(cat.high_water("audit", 2026).await.expect("hw"), 3);
    for (table, n) in [("users", 1), ("audit", 1), ("disposition_runs", 1)] {
        let count: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(cat.pool())
                .await
                .expect("count");
        assert_eq!(count, n, "{table}");
    }

    // The converted catalog goes on: a new message and a link record.
    let doc = MessageDoc {
        id: MessageId::new(2026, 13),
        sha256: Sha256([42; 32]),
        received: 1_770_000_000,
        size: 10,
        mailboxes: vec!["dave@corp.example".into()],
        ..Default::default()
    };
    cat.apply(&ApplyBatch {
        purpose: "mail",
        year: 2026,
        up_to_seq: 14,
        items: vec![
            Applied::Message(std::sync::Arc::new(doc)),
            Applied::Link {
                target: MessageId::new(2026, 9),
                mailboxes: vec!["Alice@corp.example".into()],
                via: MessageId::new(2026, 14),
            },
        ],
    })
    .await
    .expect("apply");
    assert_eq!(
        cat.mailboxes_of(MessageId::new(2026, 9)).await.expect("q"),
        vec!["alice@corp.example", "carol@corp.example"]
    );
    assert_eq!(
        cat.link_provenance(MessageId::new(2026, 9))
            .await
            .expect("q")["alice@corp.example"],
        MessageId::new(2026, 14)
    );
    assert_eq!(
        cat.find_by_sha256(&[Sha256([42; 32])]).await.expect("q")[&Sha256([42; 32])].mailboxes,
        vec!["dave@corp.example"]
    );
    let removed = cat
        .remove_disposed(&[MessageId::new(2026, 9)])
        .await
        .expect("remove");
    assert_eq!(removed, 1);
    assert!(
        cat.mailboxes_of(MessageId::new(2026, 9))
            .await
            .expect("q")
            .is_empty()
    );
}

/// Migrates `url` to 0014, seeds it, then lets [`Catalog::connect`] run 0015 and 0016.
async fn migrate_seeded(url: &str, postgres: bool) -> Catalog {
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(url).await.expect("connect");
    let migrator = if postgres {
        sqlx::migrate!("migrations/postgres")
    } else {
        sqlx::migrate!("migrations/sqlite")
    };
    assert!(migrator.iter().any(|m| m.version > BEFORE), "0015 exists");
    migrator
        .run_to(BEFORE, &pool)
        .await
        .expect("migrate to 0014");
    seed(&pool).await;
    pool.close().await;
    Catalog::connect(url).await.expect("migrate to the newest")
}

#[tokio::test]
async fn sqlite_migration_to_integer_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("catalog.sqlite");
    let cat = migrate_seeded(&format!("sqlite://{}?mode=rwc", path.display()), false).await;
    check(&cat).await;
    // No text of the old rows stays behind in the file (the old tables' pages were
    // zeroed and given back).
    cat.close().await;
    let bytes = std::fs::read(&path).expect("read");
    assert!(
        !bytes
            .windows(b"secret subject".len())
            .any(|w| w == b"secret subject"),
        "a subject of the old rows is still in the file"
    );
}

#[tokio::test]
async fn postgres_migration_to_integer_keys() {
    // Never a silent pass: without a database this test is filtered out by
    // `scripts/test` (and reported as skipped), or fails here saying why.
    let url = std::env::var("COFFER_TEST_POSTGRES_URL").expect(
        "COFFER_TEST_POSTGRES_URL is not set: run scripts/test (it skips the postgres_ tests without a database) or set it",
    );
    sqlx::any::install_default_drivers();
    let (server, _) = url.rsplit_once('/').expect("a database in the URL");
    let name = format!("coffer_migration_{}", std::process::id());
    let admin = AnyPool::connect(&url).await.expect("connect");
    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    sqlx::query(sqlx::AssertSqlSafe(drop.clone()))
        .execute(&admin)
        .await
        .expect("drop");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create");
    let cat = migrate_seeded(&format!("{server}/{name}"), true).await;
    check(&cat).await;
    cat.close().await;
    sqlx::query(sqlx::AssertSqlSafe(drop))
        .execute(&admin)
        .await
        .expect("drop");
}
