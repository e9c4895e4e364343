//! Retention tables (policies with versions, assignments, proposals, holds) and the
//! retention facts of messages, on a real SQLite file and on PostgreSQL when
//! `COFFER_TEST_POSTGRES_URL` is set.

use coffer_catalog::retention::{AssignmentRecord, NewHold};
use coffer_catalog::users::NewUser;
use coffer_catalog::{Applied, ApplyBatch, Catalog};
use coffer_model::{MessageDoc, MessageId, Role, Sha256};

#[tokio::test]
async fn sqlite_retention() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cat = Catalog::open_sqlite(&dir.path().join("catalog.sqlite"))
        .await
        .expect("sqlite");
    scenarios(&cat, "").await;
}

#[tokio::test]
async fn postgres_retention() {
    let url = std::env::var("COFFER_TEST_POSTGRES_URL").expect(
        "COFFER_TEST_POSTGRES_URL is not set: run scripts/test (it skips the postgres_ tests without a database) or set it",
    );
    let cat = Catalog::connect(&url).await.expect("postgres");
    scenarios(&cat, &format!("-{}", std::process::id())).await;
}

async fn scenarios(cat: &Catalog, sfx: &str) {
    let long = format!("long{sfx}");
    // Versions count up and are all kept, with who approved a shortening.
    let v1 = cat
        .set_retention_policy(&long, "7y", "admin", None, 100)
        .await
        .expect("create");
    assert_eq!(v1.version, 1);
    let v2 = cat
        .set_retention_policy(&long, "1y", "admin", Some("admin2"), 200)
        .await
        .expect("change");
    assert_eq!((v2.version, v2.period.as_str()), (2, "1y"));
    let policy = cat
        .retention_policies()
        .await
        .expect("policies")
        .into_iter()
        .find(|p| p.name == long)
        .expect("stored");
    assert_eq!((policy.version, policy.updated), (2, 200));
    let versions: Vec<_> = cat
        .retention_policy_versions()
        .await
        .expect("versions")
        .into_iter()
        .filter(|v| v.name == long)
        .map(|v| (v.version, v.period, v.approved_by))
        .collect();
    assert_eq!(
        versions,
        vec![
            (1, "7y".into(), None),
            (2, "1y".into(), Some("admin2".into()))
        ]
    );

    // Assignments replace per target and can be removed.
    let group = format!("legal{sfx}");
    let mut a = AssignmentRecord {
        target_kind: "group".into(),
        target: group.clone(),
        policy: "short".into(),
        assigned: 1,
        assigned_by: "admin".into(),
    };
    cat.assign_retention(&a).await.expect("assign");
    a.policy = long.clone();
    cat.assign_retention(&a).await.expect("reassign");
    let mine: Vec<_> = cat
        .retention_assignments()
        .await
        .expect("assignments")
        .into_iter()
        .filter(|x| x.target == group)
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].policy, long);
    assert!(
        cat.unassign_retention("group", &group)
            .await
            .expect("unassign")
    );
    assert!(
        !cat.unassign_retention("group", &group)
            .await
            .expect("again")
    );

    // A proposal is decided once.
    let p = cat
        .create_retention_proposal("{}", "shorten", "admin", 300)
        .await
        .expect("propose");
    assert_eq!(p.state, "pending");
    assert!(
        cat.decide_retention_proposal(p.id, "approved", "admin2", 301)
            .await
            .expect("decide")
    );
    assert!(
        !cat.decide_retention_proposal(p.id, "rejected", "admin3", 302)
            .await
            .expect("decided")
    );
    let p = cat
        .retention_proposal(p.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        (p.state.as_str(), p.decided_by.as_deref()),
        ("approved", Some("admin2"))
    );

    // Holds: unique names, released once.
    let name = format!("Matter{sfx}");
    let hold = NewHold {
        name: name.clone(),
        reason: "case".into(),
        scope: r#"{"custodians":["a@corp.example"]}"#.into(),
        domains: r#"["corp.example"]"#.into(),
        placed_by: "oscar".into(),
        placed_us: 1_000,
    };
    let h = cat.create_hold(&hold).await.expect("place");
    assert!(matches!(
        cat.create_hold(&hold).await,
        Err(coffer_catalog::Error::Conflict(_))
    ));
    assert!(
        cat.release_hold(h.id, "oscar", 2_000, "settled")
            .await
            .expect("release")
    );
    assert!(
        !cat.release_hold(h.id, "oscar", 3_000, "again")
            .await
            .expect("released")
    );
    let h = cat.hold(h.id).await.expect("read").expect("exists");
    assert_eq!(
        (h.released_us, h.release_reason.as_deref()),
        (Some(2_000), Some("settled"))
    );

    // Facts: date, flags, mailboxes, and the groups of the mailboxes' owners.
    let owner = format!("vic{sfx}");
    let address = format!("vic{sfx}@corp.example");
    cat.create_user(
        &NewUser {
            username: owner.clone(),
            password_hash: "$argon2id$fake".into(),
            role: Role::User,
            mailboxes: vec![address.clone()],
            domains: vec![],
            groups: vec![],
            archiving_rule: "both".into(),
        },
        1,
    )
    .await
    .expect("user");
    cat.create_group(&group, "both", std::slice::from_ref(&owner), 1)
        .await
        .expect("group");
    let year = 1990 + (std::process::id() % 500) as i32;
    let id = MessageId::new(year, 1);
    let mut sha = [0x5a; 32];
    sha[..4].copy_from_slice(&std::process::id().to_be_bytes());
    let doc = MessageDoc {
        id,
        sha256: Sha256(sha),
        date: Some(1_000),
        received: 2_000,
        flags: coffer_model::MessageFlags::DATE_UNRELIABLE,
        mailboxes: vec![address.clone()],
        ..MessageDoc::default()
    };
    cat.apply(&ApplyBatch {
        purpose: "mail",
        year,
        up_to_seq: 1,
        items: vec![Applied::Message(std::sync::Arc::new(doc))],
    })
    .await
    .expect("apply");
    let row = cat.retention_row(id).await.expect("row").expect("exists");
    assert_eq!((row.date, row.received), (Some(1_000), 2_000));
    assert_eq!(row.mailboxes, vec![address.clone()]);
    let rows = cat.retention_rows(year, 0, 10).await.expect("rows");
    assert_eq!(rows, vec![row]);
    let groups = cat
        .groups_of_mailboxes(std::slice::from_ref(&address))
        .await
        .expect("groups");
    assert_eq!(groups.get(&address), Some(&vec![group.clone()]));
}
