//! Accounts, sessions, API tokens and audit rows on a real SQLite file (and on
//! PostgreSQL when `COFFER_TEST_POSTGRES_URL` is set).

use coffer_catalog::audit::{AuditFilter, AuditRow};
use coffer_catalog::users::{ALL_DOMAINS, NewUser, UserUpdate};
use coffer_catalog::{Catalog, Error};
use coffer_model::Role;

fn new_user(
    name: &str,
    role: Role,
    mailboxes: &[&str],
    domains: &[&str],
    groups: &[&str],
) -> NewUser {
    NewUser {
        username: name.into(),
        password_hash: format!("$argon2id$fake${name}"),
        role,
        mailboxes: mailboxes.iter().map(|s| s.to_string()).collect(),
        domains: domains.iter().map(|s| s.to_string()).collect(),
        groups: groups.iter().map(|s| s.to_string()).collect(),
        archiving_rule: "both".into(),
    }
}

#[tokio::test]
async fn sqlite_accounts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cat = Catalog::open_sqlite(&dir.path().join("catalog.sqlite"))
        .await
        .expect("sqlite");
    scenarios(&cat, "").await;
}

#[tokio::test]
async fn postgres_accounts() {
    // Never a silent pass: without a database this test is filtered out by
    // `scripts/test` (and reported as skipped), or fails here saying why.
    let url = std::env::var("COFFER_TEST_POSTGRES_URL").expect(
        "COFFER_TEST_POSTGRES_URL is not set: run scripts/test (it skips the postgres_ tests without a database) or set it",
    );
    let cat = Catalog::connect(&url).await.expect("postgres");
    // Unique names per run: the database is shared between runs.
    let suffix = format!("-{}", std::process::id());
    scenarios(&cat, &suffix).await;
}

async fn scenarios(cat: &Catalog, sfx: &str) {
    let alice = format!("alice{sfx}");
    let olga = format!("olga{sfx}");
    let team = format!("team{sfx}");
    let created = cat
        .create_user(
            &new_user(
                &alice.to_uppercase(),
                Role::User,
                &["Alice@Example.com", "a@example.com"],
                &[],
                &[&team],
            ),
            100,
        )
        .await
        .expect("create");
    assert_eq!(created.username, alice);
    assert_eq!(
        created.mailboxes,
        vec!["a@example.com", "alice@example.com"]
    );
    assert_eq!(created.groups, vec![team.clone()]);
    assert!(matches!(
        cat.create_user(&new_user(&alice, Role::User, &[], &[], &[]), 100)
            .await,
        Err(Error::Conflict(_))
    ));
    let officer = cat
        .create_user(
            &new_user(
                &olga,
                Role::Officer,
                &[],
                &[ALL_DOMAINS, "example.com"],
                &[],
            ),
            100,
        )
        .await
        .expect("officer");
    assert_eq!(officer.domains, vec!["*", "example.com"]);
    let creds = cat
        .credentials(&alice)
        .await
        .expect("creds")
        .expect("exists");
    assert_eq!(creds.role, Role::User);
    assert!(!creds.disabled);
    assert!(
        cat.credentials(&format!("nobody{sfx}"))
            .await
            .expect("creds")
            .is_none()
    );
    let listed = cat.list_users().await.expect("list");
    let a = listed
        .iter()
        .find(|u| u.username == alice)
        .expect("alice listed");
    assert_eq!(a.mailboxes.len(), 2);
    assert_eq!(a.groups, vec![team.clone()]);

    // Sessions: valid, expired, revoked, disabled user.
    let token = [7u8; 32];
    let mut t2 = [8u8; 32];
    t2[..sfx.len().min(32)].copy_from_slice(&sfx.as_bytes()[..sfx.len().min(32)]);
    let mut t1 = token;
    t1[..sfx.len().min(32)].copy_from_slice(&sfx.as_bytes()[..sfx.len().min(32)]);
    cat.create_session(&t1, created.id, 1000, 2000)
        .await
        .expect("session");
    assert_eq!(
        cat.session_user(&t1, 1500, 1_000_000)
            .await
            .expect("s")
            .map(|u| u.id),
        Some(created.id)
    );
    assert!(
        cat.session_user(&t1, 2000, 1_000_000)
            .await
            .expect("s")
            .is_none(),
        "expired"
    );
    // Inactivity: used at 1500, so alive until 1500 + idle; unused past it, ended.
    assert!(
        cat.session_user(&t1, 1600, 200).await.expect("s").is_some(),
        "used 100 s ago"
    );
    assert!(
        cat.session_user(&t1, 1801, 200).await.expect("s").is_none(),
        "unused for longer than the inactivity timeout"
    );
    assert!(cat.revoke_session(&t1).await.expect("revoke"));
    assert!(
        cat.session_user(&t1, 1500, 1_000_000)
            .await
            .expect("s")
            .is_none(),
        "revoked"
    );
    cat.create_session(&t2, created.id, 1000, 2000)
        .await
        .expect("session");
    let updated = cat
        .update_user(
            &alice,
            &UserUpdate {
                disabled: Some(true),
                ..Default::default()
            },
            1100,
        )
        .await
        .expect("disable");
    assert!(updated.disabled);
    assert!(
        cat.session_user(&t2, 1500, 1_000_000)
            .await
            .expect("s")
            .is_none(),
        "disabled user"
    );
    let updated = cat
        .update_user(
            &alice,
            &UserUpdate {
                disabled: Some(false),
                mailboxes: Some(vec![format!("b{sfx}@example.com")]),
                ..Default::default()
            },
            1100,
        )
        .await
        .expect("update");
    assert_eq!(updated.mailboxes, vec![format!("b{sfx}@example.com")]);
    assert!(
        cat.session_user(&t2, 1500, 1_000_000)
            .await
            .expect("s")
            .is_none(),
        "disabling revoked the session for good"
    );
    assert!(matches!(
        cat.update_user(&format!("ghost{sfx}"), &UserUpdate::default(), 1)
            .await,
        Err(Error::NotFound(_))
    ));

    // Archiving rules of mailbox owners: the user's rule and their groups' rules.
    let rules = cat
        .archiving_rules(&[
            format!("B{sfx}@example.com"),
            format!("nobody{sfx}@example.com"),
        ])
        .await
        .expect("rules");
    assert_eq!(rules.len(), 1, "{rules:?}");
    let owner = rules
        .get(&format!("b{sfx}@example.com"))
        .expect("owned mailbox");
    assert_eq!(
        (owner.user.as_str(), owner.groups.as_slice()),
        ("both", &["both".to_string()][..])
    );

    // API tokens.
    let mut th = [9u8; 32];
    th[..sfx.len().min(32)].copy_from_slice(&sfx.as_bytes()[..sfx.len().min(32)]);
    let tok = cat
        .create_api_token(&format!("mx{sfx}"), &th, Role::Journal, 5)
        .await
        .expect("token");
    assert_eq!(
        cat.api_token(&th).await.expect("t").map(|t| t.name),
        Some(tok.name.clone())
    );
    assert!(matches!(
        cat.create_api_token(&format!("mx{sfx}"), &[1; 32], Role::Journal, 5)
            .await,
        Err(Error::Conflict(_))
    ));
    assert!(cat.revoke_api_token(&tok.name).await.expect("revoke"));
    assert!(cat.api_token(&th).await.expect("t").is_none());

    // Groups and domains.
    let g = cat
        .create_group(
            &format!("ops{sfx}"),
            "internal",
            std::slice::from_ref(&olga),
            5,
        )
        .await
        .expect("group");
    assert_eq!(g.members, vec![olga.clone()]);
    assert!(matches!(
        cat.create_group(&format!("ops{sfx}"), "both", &[], 5).await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        cat.create_group(&format!("x{sfx}"), "both", &[format!("ghost{sfx}")], 5)
            .await,
        Err(Error::NotFound(_))
    ));
    assert!(
        cat.delete_group(&format!("ops{sfx}"))
            .await
            .expect("delete")
    );
    assert!(
        !cat.delete_group(&format!("ops{sfx}"))
            .await
            .expect("delete again")
    );
    let d = cat
        .add_domain(&format!("Example{sfx}.com"), 5)
        .await
        .expect("domain");
    assert_eq!(d.name, format!("example{sfx}.com"));
    assert!(matches!(
        cat.add_domain(&d.name, 5).await,
        Err(Error::Conflict(_))
    ));
    assert!(
        cat.list_domains()
            .await
            .expect("domains")
            .iter()
            .any(|x| x.name == d.name)
    );
    assert!(cat.delete_domain(&d.name).await.expect("delete"));

    // Audit rows: idempotent apply, high-water, filters, newest first.
    cat.clear_derived("audit").await.expect("clear");
    let row = |seq: u64, actor: &str, action: &str, t: i64| AuditRow {
        year: 2026,
        seq,
        time_us: t,
        actor: actor.into(),
        action: action.into(),
        target: "2026-1".into(),
        outcome: "success".into(),
        client: "127.0.0.1".into(),
        detail: "{}".into(),
    };
    let rows = vec![
        row(1, "olga", "search", 10),
        row(2, "olga", "message.view", 20),
        row(4, "amy", "message.raw", 30),
    ];
    cat.apply_audit(2026, 4, &rows).await.expect("apply");
    cat.apply_audit(2026, 4, &rows).await.expect("replay");
    assert_eq!(cat.high_water("audit", 2026).await.expect("hw"), 4);
    let all = AuditFilter {
        limit: 10,
        ..Default::default()
    };
    let (total, entries) = cat.audit_entries(&all).await.expect("all");
    assert_eq!(total, 3);
    assert_eq!(
        entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![4, 2, 1]
    );
    let f = AuditFilter {
        actor: Some("olga".into()),
        limit: 1,
        ..Default::default()
    };
    let (total, entries) = cat.audit_entries(&f).await.expect("actor");
    assert_eq!((total, entries.len(), entries[0].seq), (2, 1, 2));
    let f = AuditFilter {
        action: Some("message.".into()),
        from_us: Some(15),
        to_us: Some(30),
        limit: 10,
        ..Default::default()
    };
    let (total, entries) = cat.audit_entries(&f).await.expect("prefix+range");
    assert_eq!((total, entries[0].seq), (1, 2));
    cat.clear_derived("audit").await.expect("clear");
    assert_eq!(cat.audit_entries(&all).await.expect("none").0, 0);
    assert_eq!(cat.high_water("audit", 2026).await.expect("hw"), 0);
}
