//! Tests of the tokio driver over real loopback TCP, with an in-test sink that records
//! deliveries: a whole session, acknowledgement only after the sink, temporary
//! failures, timeouts, the session limit, the allowlist, STARTTLS with a self-signed
//! certificate (rcgen) and AUTH PLAIN, LMTP, and graceful shutdown.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;

use super::access::Cidr;
use super::proto::{AuthPolicy, Credentials, DeliveryOutcome, SmtpConfig, TempFailure};
use super::session::{
    Authenticator, BoxFuture, Delivery, DeliverySink, Protocol, SmtpServerConfig, run_listener,
    tls_config, tls_config_from_pem,
};
use crate::budget::MemoryBudget;

/// Every client read is bounded, so a broken server fails the test instead of hanging.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Records deliveries and answers with a fixed outcome, optionally only after a gate
/// opens.
struct RecordingSink {
    deliveries: Mutex<Vec<Delivery>>,
    outcome: DeliveryOutcome,
    gate: Option<Arc<Semaphore>>,
    memory: MemoryBudget,
}

impl RecordingSink {
    fn new(outcome: DeliveryOutcome) -> Arc<Self> {
        Arc::new(Self {
            deliveries: Mutex::new(Vec::new()),
            outcome,
            gate: None,
            memory: MemoryBudget::unlimited(),
        })
    }

    fn accepting() -> Arc<Self> {
        Self::new(DeliveryOutcome::Accepted {
            queue_id: "2026-42".to_owned(),
        })
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }
}

impl DeliverySink for RecordingSink {
    fn deliver(&self, delivery: Delivery) -> BoxFuture<'_, DeliveryOutcome> {
        Box::pin(async move {
            if let Some(gate) = &self.gate {
                let _permit = gate.acquire().await;
            }
            self.deliveries.lock().unwrap().push(delivery);
            self.outcome.clone()
        })
    }

    fn memory_budget(&self) -> MemoryBudget {
        self.memory.clone()
    }
}

/// Accepts `journal` / `secret`, as the principal `mx1` (a journal token's name).
struct FixedPassword;

impl Authenticator for FixedPassword {
    fn authenticate(&self, credentials: Credentials) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move {
            (credentials.username == "journal" && credentials.password == "secret")
                .then(|| "mx1".to_owned())
        })
    }
}

fn server_config() -> SmtpServerConfig {
    let mut config = SmtpServerConfig::new(SmtpConfig {
        hostname: "archive.test".to_owned(),
        max_message_size: 100_000,
        ..SmtpConfig::default()
    });
    config.command_timeout = Duration::from_secs(10);
    config.data_timeout = Duration::from_secs(10);
    config.shutdown_grace = Duration::from_secs(5);
    config
}

/// A running listener.
struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), crate::IngestError>>,
}

impl Server {
    async fn start(config: SmtpServerConfig, sink: Arc<dyn DeliverySink>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run_listener(listener, Arc::new(config), sink, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn connect(&self) -> Client<TcpStream> {
        Client::new(TcpStream::connect(self.addr).await.unwrap())
    }

    async fn shutdown(mut self) -> Result<(), crate::IngestError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(CLIENT_TIMEOUT, self.task)
            .await
            .expect("listener stops")
            .expect("listener task")
    }
}

/// A minimal SMTP client.
struct Client<S> {
    stream: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    fn new(stream: S) -> Self {
        Self {
            stream: BufReader::new(stream),
        }
    }

    /// Reads one (possibly multi-line) reply: its code and full text.
    async fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let read = tokio::time::timeout(CLIENT_TIMEOUT, self.stream.read_line(&mut line))
                .await
                .expect("reply in time")
                .expect("read");
            assert!(read > 0, "connection closed; got so far {text:?}");
            text.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                let code = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
                return (code, text);
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).await.unwrap();
        self.stream.get_mut().flush().await.unwrap();
    }

    async fn command(&mut self, line: &str) -> (u16, String) {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Whether the server closed the connection (EOF) within the client timeout.
    async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        matches!(
            tokio::time::timeout(CLIENT_TIMEOUT, self.stream.read_to_end(&mut rest)).await,
            Ok(Ok(_))
        )
    }

    fn into_inner(self) -> S {
        assert!(self.stream.buffer().is_empty(), "unread bytes before TLS");
        self.stream.into_inner()
    }
}

async fn send_message<S: AsyncRead + AsyncWrite + Unpin>(client: &mut Client<S>) -> (u16, String) {
    assert_eq!(client.command("MAIL FROM:<alice@example.org>").await.0, 250);
    assert_eq!(client.command("RCPT TO:<bob@example.net>").await.0, 250);
    assert_eq!(client.command("DATA").await.0, 354);
    client.send(b"Subject: hi\r\n\r\n..dot\r\n.\r\n").await;
    client.reply().await
}

#[tokio::test]
async fn smtp_driver_real_session() {
    let sink = RecordingSink::accepting();
    let server = Server::start(server_config(), sink.clone()).await;
    let mut client = server.connect().await;
    let (code, greeting) = client.reply().await;
    assert_eq!(code, 220);
    assert!(greeting.starts_with("220 archive.test ESMTP"));
    let (code, ehlo) = client.command("EHLO client.example").await;
    assert_eq!(code, 250);
    assert!(ehlo.contains("250-PIPELINING\r\n") && ehlo.contains("250-SIZE 100000\r\n"));
    assert!(!ehlo.contains("STARTTLS"), "no TLS configured: {ehlo}");

    let (code, text) = send_message(&mut client).await;
    assert_eq!(code, 250, "{text}");
    assert!(text.contains("queued as 2026-42"));

    // The same again, pipelined in one write (as swaks --pipe and Postfix do).
    client
        .send(b"MAIL FROM:<>\r\nRCPT TO:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n")
        .await;
    for expected in [250, 250, 250, 354] {
        assert_eq!(client.reply().await.0, expected);
    }
    client.send(b"x\r\n.\r\nQUIT\r\n").await;
    assert_eq!(client.reply().await.0, 250);
    assert_eq!(client.reply().await.0, 221);
    assert!(client.closed().await);

    let deliveries = sink.deliveries();
    assert_eq!(deliveries.len(), 2);
    let first = &deliveries[0];
    assert_eq!(first.transaction.data, b"Subject: hi\r\n\r\n.dot\r\n");
    assert_eq!(first.protocol, Protocol::Smtp);
    assert!(!first.tls);
    assert_eq!(first.client_addr.ip().to_string(), "127.0.0.1");
    let envelope = first.envelope();
    assert_eq!(envelope.protocol, "smtp");
    assert_eq!(envelope.mail_from.as_deref(), Some("alice@example.org"));
    assert_eq!(envelope.rcpt_to, ["bob@example.net".to_owned()]);
    assert_eq!(envelope.helo.as_deref(), Some("client.example"));
    assert_eq!(envelope.client_addr.as_deref(), Some("127.0.0.1"));
    assert_eq!(deliveries[1].transaction.mail_from, None);
    assert_eq!(deliveries[1].transaction.rcpt_to.len(), 2);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn smtp_driver_replies_250_only_after_the_sink_resolves() {
    let gate = Arc::new(Semaphore::new(0));
    let sink = Arc::new(RecordingSink {
        deliveries: Mutex::new(Vec::new()),
        outcome: DeliveryOutcome::Accepted {
            queue_id: "1".to_owned(),
        },
        gate: Some(gate.clone()),
        memory: MemoryBudget::unlimited(),
    });
    let server = Server::start(server_config(), sink.clone()).await;
    let mut client = server.connect().await;
    client.reply().await;
    client.command("EHLO c").await;
    client.command("MAIL FROM:<a@b.c>").await;
    client.command("RCPT TO:<d@e.f>").await;
    assert_eq!(client.command("DATA").await.0, 354);
    client.send(b"body\r\n.\r\n").await;

    let mut line = String::new();
    let early = tokio::time::timeout(
        Duration::from_millis(300),
        client.stream.read_line(&mut line),
    )
    .await;
    assert!(early.is_err(), "replied before the sink resolved: {line:?}");
    assert!(sink.deliveries().is_empty());

    gate.add_permits(1);
    let (code, _) = client.reply().await;
    assert_eq!(code, 250);
    assert_eq!(sink.deliveries().len(), 1);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn smtp_driver_tempfail_gives_451_or_452() {
    for (failure, expected) in [
        (TempFailure::Internal, "451 4.3.0 "),
        (TempFailure::Storage, "452 4.3.1 "),
    ] {
        let sink = RecordingSink::new(DeliveryOutcome::TempFail(failure));
        let server = Server::start(server_config(), sink.clone()).await;
        let mut client = server.connect().await;
        client.reply().await;
        client.command("EHLO c").await;
        let (_, text) = send_message(&mut client).await;
        assert!(text.starts_with(expected), "{failure:?}: {text}");
        assert_eq!(client.command("QUIT").await.0, 221);
        server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn smtp_driver_slow_sink_times_out_with_451() {
    let sink = Arc::new(RecordingSink {
        deliveries: Mutex::new(Vec::new()),
        outcome: DeliveryOutcome::Accepted {
            queue_id: "1".to_owned(),
        },
        gate: Some(Arc::new(Semaphore::new(0))),
        memory: MemoryBudget::unlimited(),
    });
    let mut config = server_config();
    config.delivery_timeout = Duration::from_millis(200);
    let server = Server::start(config, sink).await;
    let mut client = server.connect().await;
    client.reply().await;
    client.command("EHLO c").await;
    let (code, text) = send_message(&mut client).await;
    assert_eq!(code, 451, "{text}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn smtp_driver_command_timeout() {
    let mut config = server_config();
    config.command_timeout = Duration::from_millis(300);
    let server = Server::start(config, RecordingSink::accepting()).await;
    let mut client = server.connect().await;
    assert_eq!(client.reply().await.0, 220);
    let started = std::time::Instant::now();
    let (code, text) = client.reply().await;
    assert_eq!(code, 421);
    assert!(text.starts_with("421 4.4.2 "), "{text}");
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(client.closed().await);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn smtp_driver_data_timeout() {
    let mut config = server_config();
    config.data_timeout = Duration::from_millis(300);
    let sink = RecordingSink::accepting();
    let server = Server::start(config, sink.clone()).await;
    let mut client = server.connect().await;
    client.reply().await;
    client.command("EHLO c").await;
    client.command("MAIL FROM:<a@b.c>").await;
    client.command("RCPT TO:<d@e.f>").await;
    assert_eq!(client.command("DATA").await.0, 354);
    client.send(b"Subject: never finished\r\n").await;
    let (code, text) = client.reply().await;
    assert_eq!(code, 421, "{text}");
    assert!(text.starts_with("421 4.4.2 "));
    assert!(client.closed().await);
    assert!(sink.deliveries().is_empty());
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn smtp_driver_session_limit() {
    let mut config = server_config();
    config.max_sessions = 1;
    let server = Server::start(config, RecordingSink::accepting()).await;
    let mut first = server.connect().await;
    assert_eq!(first.reply().await.0, 220);

    let mut second = server.connect().await;
    let (code, text) = second.reply().await;
    assert_eq!(code, 421);
    assert!(text.starts_with("421 4.7.0 "), "{text}");
    assert!(second.closed().await);

    // Once the first session ends, its slot is free again.
    assert_eq!(first.command("QUIT").await.0, 221);
    assert!(first.closed().await);
    let mut admitted = false;
    for _ in 0..50 {
        let mut third = server.connect().await;
        if third.reply().await.0 == 220 {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(admitted);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn smtp_driver_allowlist_denial() {
    let mut config = server_config();
    config.allowed_clients = vec!["10.0.0.0/8".parse::<Cidr>().unwrap()];
    let sink = RecordingSink::accepting();
    let server = Server::start(config, sink.clone()).await;
    let mut client = server.connect().await;
    let (code, text) = client.reply().await;
    assert_eq!(code, 554);
    assert!(text.starts_with("554 5.7.1 "), "{text}");
    assert!(client.closed().await);
    assert!(sink.deliveries().is_empty());
    server.shutdown().await.unwrap();
}

/// A message body of `bytes` bytes in 80-byte lines, ended with the end of data.
fn body_of(bytes: usize) -> Vec<u8> {
    let mut body = b"Subject: big\r\n\r\n".to_vec();
    while body.len() < bytes {
        body.extend_from_slice(&[b'x'; 78]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b".\r\n");
    body
}

/// Issue 22, item 9: the sessions of a listener share the sink's memory budget. A
/// declared size that does not fit is refused at DATA, content that outgrows what is
/// left is read to its end and refused at the end of data, both with `452 4.3.1`, and
/// the memory of a delivered message is given back once it is answered.
#[tokio::test]
async fn smtp_driver_sessions_share_one_memory_budget() {
    let budget = MemoryBudget::new(160_000);
    let sink = Arc::new(RecordingSink {
        deliveries: Mutex::new(Vec::new()),
        outcome: DeliveryOutcome::Accepted {
            queue_id: "1".to_owned(),
        },
        gate: None,
        memory: budget.clone(),
    });
    let server = Server::start(server_config(), sink.clone()).await;

    let mut first = server.connect().await;
    first.reply().await;
    first.command("EHLO first").await;
    assert_eq!(first.command("MAIL FROM:<a@b.c> SIZE=90000").await.0, 250);
    assert_eq!(first.command("RCPT TO:<d@e.f>").await.0, 250);
    assert_eq!(first.command("DATA").await.0, 354);
    assert_eq!(
        budget.in_use(),
        90_000,
        "the declared size is reserved at DATA"
    );

    let mut second = server.connect().await;
    second.reply().await;
    second.command("EHLO second").await;
    assert_eq!(second.command("MAIL FROM:<a@b.c> SIZE=80000").await.0, 250);
    assert_eq!(second.command("RCPT TO:<d@e.f>").await.0, 250);
    let (code, text) = second.command("DATA").await;
    assert_eq!(code, 452, "{text}");
    assert!(text.starts_with("452 4.3.1 "), "{text}");
    assert_eq!(second.command("RSET").await.0, 250);
    // Without a declared size the first 64 KiB fit; the rest of 80 KB does not.
    assert_eq!(second.command("MAIL FROM:<a@b.c>").await.0, 250);
    assert_eq!(second.command("RCPT TO:<d@e.f>").await.0, 250);
    assert_eq!(second.command("DATA").await.0, 354);
    second.send(&body_of(80_000)).await;
    let (code, text) = second.reply().await;
    assert_eq!(code, 452, "{text}");
    assert!(text.starts_with("452 4.3.1 "), "{text}");
    assert_eq!(
        budget.in_use(),
        90_000,
        "the refused message's memory is given back"
    );

    first.send(&body_of(85_000)).await;
    assert_eq!(first.reply().await.0, 250);
    assert_eq!(
        budget.in_use(),
        0,
        "a delivered message's memory is given back"
    );
    // Now the second sender's retry fits.
    assert_eq!(second.command("MAIL FROM:<a@b.c> SIZE=80000").await.0, 250);
    assert_eq!(second.command("RCPT TO:<d@e.f>").await.0, 250);
    assert_eq!(second.command("DATA").await.0, 354);
    second.send(&body_of(80_000)).await;
    assert_eq!(second.reply().await.0, 250);
    assert_eq!(sink.deliveries().len(), 2);
    assert_eq!(budget.in_use(), 0);
    server.shutdown().await.unwrap();
}

/// Issue 22, item 8: on an address other hosts can reach, a listener must require AUTH
/// or name the clients it takes mail from; loopback addresses take any settings.
#[test]
fn smtp_exposure_needs_auth_or_an_allowlist_off_loopback() {
    use super::session::Exposure;
    let wildcard: SocketAddr = "0.0.0.0:25".parse().unwrap();
    let interface: SocketAddr = "[2001:db8::25]:25".parse().unwrap();
    let exposure = |config: &SmtpServerConfig, addr| match config.validate_exposure(addr) {
        Ok(()) => None,
        Err(crate::IngestError::SmtpExposed { exposure, .. }) => Some(exposure),
        Err(other) => panic!("{other}"),
    };

    let default = server_config();
    for loopback in ["127.0.0.1:25", "[::1]:25", "[::ffff:127.0.0.1]:25"] {
        assert_eq!(exposure(&default, loopback.parse().unwrap()), None);
    }
    assert_eq!(
        exposure(&default, wildcard),
        Some(Exposure::LoopbackClientsOnly)
    );
    assert_eq!(
        exposure(&default, interface),
        Some(Exposure::LoopbackClientsOnly)
    );

    let mut everybody = server_config();
    everybody.allowed_clients = vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()];
    assert_eq!(exposure(&everybody, wildcard), Some(Exposure::AnyClient));
    everybody.protocol.auth = AuthPolicy::Optional;
    assert_eq!(
        exposure(&everybody, wildcard),
        Some(Exposure::AnyClient),
        "optional AUTH still takes unauthenticated mail"
    );
    everybody.protocol.auth = AuthPolicy::Required;
    assert_eq!(exposure(&everybody, wildcard), None);

    let mut listed = server_config();
    listed.allowed_clients = vec![
        "127.0.0.1".parse().unwrap(),
        "192.0.2.0/24".parse().unwrap(),
    ];
    assert_eq!(exposure(&listed, wildcard), None);
    assert_eq!(exposure(&listed, interface), None);

    let message = crate::IngestError::SmtpExposed {
        protocol: "smtp",
        addr: wildcard,
        exposure: Exposure::AnyClient,
    }
    .to_string();
    for setting in ["allowed_clients", "auth = \"required\"", "0.0.0.0:25"] {
        assert!(message.contains(setting), "{message}");
    }
}

/// The listener itself refuses to serve on the wildcard address with the default
/// (loopback-only) allowlist and no AUTH, before accepting anyone.
#[tokio::test]
async fn smtp_listener_refuses_an_exposed_address() {
    let listener = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let result = run_listener(
        listener,
        Arc::new(server_config()),
        RecordingSink::accepting(),
        std::future::pending::<()>(),
    )
    .await;
    assert!(
        matches!(result, Err(crate::IngestError::SmtpExposed { .. })),
        "{result:?}"
    );
}

/// A self-signed certificate for `localhost`: (chain, key, certificate DER).
fn self_signed() -> (
    Vec<rustls::pki_types::CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
    (vec![certified.cert.der().clone()], key.into())
}

fn tls_client(cert: &rustls::pki_types::CertificateDer<'static>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn smtp_driver_starttls_and_auth() {
    let (chain, key) = self_signed();
    let connector = tls_client(&chain[0]);
    let mut config = server_config();
    config.tls = Some(tls_config(chain, key).unwrap());
    config.authenticator = Some(Arc::new(FixedPassword));
    config.protocol.auth = AuthPolicy::Required;
    let sink = RecordingSink::accepting();
    let server = Server::start(config, sink.clone()).await;

    let mut client = server.connect().await;
    client.reply().await;
    let (_, ehlo) = client.command("EHLO client.example").await;
    assert!(ehlo.contains("250-STARTTLS\r\n"), "{ehlo}");
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    assert_eq!(client.command("MAIL FROM:<a@b.c>").await.0, 530);
    assert_eq!(client.command("STARTTLS").await.0, 220);

    let plain = client.into_inner();
    let server_name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio::time::timeout(CLIENT_TIMEOUT, connector.connect(server_name, plain))
        .await
        .unwrap()
        .unwrap();
    let mut client = Client::new(tls);
    let (_, ehlo) = client.command("EHLO client.example").await;
    assert!(ehlo.contains("250-AUTH PLAIN\r\n"), "{ehlo}");
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    let wrong = base64::engine::general_purpose::STANDARD.encode("\0journal\0wrong");
    assert_eq!(client.command(&format!("AUTH PLAIN {wrong}")).await.0, 535);
    let right = base64::engine::general_purpose::STANDARD.encode("\0journal\0secret");
    assert_eq!(client.command(&format!("AUTH PLAIN {right}")).await.0, 235);
    let (code, text) = send_message(&mut client).await;
    assert_eq!(code, 250, "{text}");
    assert_eq!(client.command("QUIT").await.0, 221);

    let deliveries = sink.deliveries();
    assert_eq!(deliveries.len(), 1);
    assert!(deliveries[0].tls);
    // The principal the authenticator named reaches the sink (issue 22, item 8).
    assert_eq!(
        deliveries[0].transaction.authenticated_as.as_deref(),
        Some("mx1")
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn smtp_driver_failed_tls_handshake_closes() {
    let (chain, key) = self_signed();
    let mut config = server_config();
    config.tls = Some(tls_config(chain, key).unwrap());
    let server = Server::start(config, RecordingSink::accepting()).await;
    let mut client = server.connect().await;
    client.reply().await;
    client.command("EHLO c").await;
    assert_eq!(client.command("STARTTLS").await.0, 220);
    // Plaintext instead of a ClientHello: the server gives up on the connection.
    client.send(b"EHLO c\r\n").await;
    assert!(client.closed().await);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn lmtp_driver_per_recipient_replies() {
    let mut config = server_config();
    config.protocol.lmtp = true;
    let sink = RecordingSink::new(DeliveryOutcome::PerRecipient(vec![
        DeliveryOutcome::Accepted {
            queue_id: "1".to_owned(),
        },
        DeliveryOutcome::TempFail(TempFailure::Storage),
    ]));
    let server = Server::start(config, sink.clone()).await;
    let mut client = server.connect().await;
    let (_, greeting) = client.reply().await;
    assert!(greeting.contains("LMTP"));
    assert_eq!(client.command("LHLO c").await.0, 250);
    client
        .send(b"MAIL FROM:<a@b.c>\r\nRCPT TO:<r1@e.f>\r\nRCPT TO:<r2@e.f>\r\nDATA\r\n")
        .await;
    for expected in [250, 250, 250, 354] {
        assert_eq!(client.reply().await.0, expected);
    }
    client.send(b"x\r\n.\r\n").await;
    assert_eq!(client.reply().await.0, 250);
    assert_eq!(client.reply().await.0, 452);
    assert_eq!(sink.deliveries()[0].protocol, Protocol::Lmtp);
    assert_eq!(sink.deliveries()[0].envelope().protocol, "lmtp");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn smtp_driver_graceful_shutdown() {
    let sink = RecordingSink::accepting();
    let server = Server::start(server_config(), sink.clone()).await;
    let addr = server.addr;

    let mut idle = server.connect().await;
    idle.reply().await;
    idle.command("EHLO idle").await;

    let mut busy = server.connect().await;
    busy.reply().await;
    busy.command("EHLO busy").await;
    busy.command("MAIL FROM:<a@b.c>").await;
    busy.command("RCPT TO:<d@e.f>").await;
    assert_eq!(busy.command("DATA").await.0, 354);
    busy.send(b"Subject: in flight\r\n").await;

    let stopping = tokio::spawn(server.shutdown());

    // The idle session is told to go away.
    let (code, text) = idle.reply().await;
    assert_eq!(code, 421, "{text}");
    assert!(text.starts_with("421 4.3.2 "));
    assert!(idle.closed().await);

    // The session in DATA finishes its message, gets its 250, then the 421.
    busy.send(b"\r\nbody\r\n.\r\n").await;
    assert_eq!(busy.reply().await.0, 250);
    assert_eq!(busy.reply().await.0, 421);
    assert!(busy.closed().await);
    assert_eq!(sink.deliveries().len(), 1);

    tokio::time::timeout(CLIENT_TIMEOUT, stopping)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
}

#[tokio::test]
async fn smtp_driver_config_validation() {
    let mut config = server_config();
    config.protocol.auth = AuthPolicy::Optional;
    assert!(matches!(
        config.validate(),
        Err(crate::IngestError::SmtpConfig(_))
    ));
    config.authenticator = Some(Arc::new(FixedPassword));
    assert!(matches!(
        config.validate(),
        Err(crate::IngestError::SmtpConfig(_))
    ));
    let (chain, key) = self_signed();
    config.tls = Some(tls_config(chain, key).unwrap());
    assert!(config.validate().is_ok());
    config.protocol.hostname = "bad host".to_owned();
    assert!(config.validate().is_err());

    // An invalid configuration stops the listener before it accepts anything.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = run_listener(
        listener,
        Arc::new(config),
        RecordingSink::accepting(),
        std::future::pending(),
    )
    .await;
    assert!(result.is_err());
}

#[test]
fn smtp_tls_config_from_pem() {
    let (chain, key) = self_signed();
    let pem = |label: &str, der: &[u8]| {
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|chunk| std::str::from_utf8(chunk).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    };
    let cert_pem = pem("CERTIFICATE", chain[0].as_ref());
    let key_pem = pem("PRIVATE KEY", key.secret_der());
    assert!(tls_config_from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).is_ok());
    assert!(matches!(
        tls_config_from_pem(b"", key_pem.as_bytes()),
        Err(crate::IngestError::TlsConfig(_))
    ));
    assert!(matches!(
        tls_config_from_pem(cert_pem.as_bytes(), b"junk"),
        Err(crate::IngestError::TlsConfig(_))
    ));
}
