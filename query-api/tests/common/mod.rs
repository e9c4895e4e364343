//! The test harness: a real server on 127.0.0.1:0 over a temporary data directory,
//! with fixtures ingested through the real archive (so mailboxes are assigned by the
//! real pipeline) and accounts created through the real account rules.

#![allow(dead_code, unreachable_pub, unused_imports)]

pub use coffer_testkit::fixture_messages::{fixtures, message};
pub use coffer_testkit::http;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use coffer_accounts::{self as accounts, JOURNAL_PREFIX, PasswordParams, UserSpec};
use coffer_audit::AuditLog;
use coffer_ingest::journaling::Journal;
use coffer_ingest::metrics::IngestMetrics;
use coffer_ingest::parse::MailboxPolicy;
use coffer_ingest::{Archive, ArchiveOptions, DataDir, Incoming, Outcome};
use coffer_model::{Envelope, Role};
use coffer_query_api::{ApiConfig, AppState, Metrics};
use coffer_volume::VolumeConfig;

pub const LOCAL_DOMAINS: [&str; 2] = ["corp.example", "other.example"];
pub const PASSWORD: &str = "correct horse battery staple";

/// People of the matrix: (username, role, mailboxes, domains, groups).
pub type Person = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);
pub const PEOPLE: [Person; 10] = [
    ("adm", "admin", &[], &[], &[]),
    ("aud", "auditor", &[], &[], &[]),
    ("olga", "officer", &[], &["corp.example"], &[]),
    ("otto", "officer", &[], &["other.example"], &[]),
    ("ada", "officer", &[], &["*"], &[]),
    (
        "alice",
        "user",
        &["alice@corp.example", "ally@corp.example"],
        &[],
        &["team"],
    ),
    ("bob", "user", &["bob@corp.example"], &[], &["team"]),
    ("carl", "user", &["carl@corp.example"], &[], &[]),
    ("carol", "user", &["carol@other.example"], &[], &[]),
    ("nomail", "user", &["nobody@corp.example"], &[], &[]),
];

pub struct TestServer {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub archive: Arc<Archive>,
    pub audit: AuditLog,
    pub state: AppState,
    /// Message id by fixture name.
    pub ids: BTreeMap<&'static str, String>,
    /// Raw bytes by fixture name.
    pub raws: BTreeMap<&'static str, Vec<u8>>,
    /// Session token by username, and `journal` for the journal API token.
    pub tokens: BTreeMap<String, String>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Starts a server with the fixtures and people, each logged in.
    pub async fn start(config: ApiConfig) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::new(dir.path());
        let options = ArchiveOptions {
            holder: "test".into(),
            local_domains: LOCAL_DOMAINS.iter().map(|s| s.to_string()).collect(),
            ..ArchiveOptions::default()
        };
        let archive = Archive::open(data, options).await.expect("archive");
        let audit = AuditLog::open(
            &dir.path().join("audit"),
            archive.key().clone(),
            archive.catalog().clone(),
            VolumeConfig::default(),
        )
        .await
        .expect("audit");
        // Fixtures, through the real pipeline.
        let mut ids = BTreeMap::new();
        let mut raws = BTreeMap::new();
        for f in fixtures() {
            let incoming = Incoming {
                raw: f.raw.clone(),
                source: if f.rcpt.is_empty() {
                    "import".into()
                } else {
                    "smtp".into()
                },
                envelope: (!f.rcpt.is_empty()).then(|| Envelope {
                    protocol: "smtp".into(),
                    mail_from: Some("ext@outside.example".into()),
                    rcpt_to: f.rcpt.iter().map(|s| s.to_string()).collect(),
                    ..Envelope::default()
                }),
                origin: None,
                policy: MailboxPolicy::LocalDomains(
                    LOCAL_DOMAINS.iter().map(|s| s.to_string()).collect(),
                ),
                journaled: !f.rcpt.is_empty(),
            };
            let outcome = archive.ingest(incoming).await.expect("commit");
            let Outcome::Archived { id, .. } = outcome else {
                panic!("fixture {} not archived: {outcome:?}", f.name)
            };
            ids.insert(f.name, id.to_string());
            raws.insert(f.name, f.raw);
        }
        archive.flush().await.expect("flush");
        archive.index().refresh().expect("refresh");

        let catalog = archive.catalog().clone();
        for (name, role, mailboxes, domains, groups) in PEOPLE {
            let spec = UserSpec {
                username: name.into(),
                password: Some(PASSWORD.into()),
                role: role.into(),
                mailboxes: mailboxes.iter().map(|s| s.to_string()).collect(),
                domains: domains.iter().map(|s| s.to_string()).collect(),
                groups: groups.iter().map(|s| s.to_string()).collect(),
                archiving_rule: None,
            };
            accounts::create_user(&catalog, &spec, PasswordParams::fast_insecure(), 0)
                .await
                .expect("user");
        }
        let (journal, hash) = accounts::new_token(JOURNAL_PREFIX);
        catalog
            .create_api_token("mx1", &hash, Role::Journal, 0)
            .await
            .expect("token");

        let config = ApiConfig {
            password: PasswordParams::fast_insecure(),
            local_domains: LOCAL_DOMAINS.iter().map(|s| s.to_string()).collect(),
            ..config
        };
        let ingest_metrics = IngestMetrics::default();
        let metrics = Arc::new(Metrics::new(&ingest_metrics));
        let pipeline = Arc::new(Journal::new(
            archive.clone(),
            audit.clone(),
            ingest_metrics,
            256,
        ));
        let state = AppState::new(pipeline, audit.clone(), config, metrics).expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let service = coffer_query_api::router(state.clone())
            .into_make_service_with_connect_info::<SocketAddr>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, service).await;
        });
        let mut server = TestServer {
            addr,
            dir,
            archive,
            audit,
            state,
            ids,
            raws,
            tokens: BTreeMap::new(),
            task,
        };
        for (name, ..) in PEOPLE {
            let token = server.login(name).await;
            server.tokens.insert(name.to_string(), token);
        }
        server.tokens.insert("journal".into(), journal);
        server
    }

    /// Logs in and returns a fresh session token.
    pub async fn login(&self, username: &str) -> String {
        http::login(self.addr, username, PASSWORD).await
    }

    pub fn token(&self, who: &str) -> &str {
        self.tokens
            .get(who)
            .map(String::as_str)
            .expect("known caller")
    }

    pub fn id(&self, fixture: &str) -> &str {
        self.ids
            .get(fixture)
            .map(String::as_str)
            .expect("known fixture")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
