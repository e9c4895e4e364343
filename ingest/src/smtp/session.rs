//! The tokio driver around [`SmtpSession`]: sockets, timeouts, TLS, limits, shutdown.
//!
//! # Brief overview
//!
//! - [`run_listener`] accepts connections on a [`TcpListener`] until its shutdown future
//!   resolves. Per connection it checks the client address against
//!   [`SmtpServerConfig::allowed_clients`] (`554 5.7.1` and close when not listed) and the
//!   session limit [`SmtpServerConfig::max_sessions`] (`421 4.7.0` and close when full),
//!   then runs [`serve_connection`] on its own task. It refuses to start on an address
//!   other hosts can reach unless AUTH is required or the allowlist names the senders'
//!   networks ([`SmtpServerConfig::validate_exposure`]).
//! - [`serve_connection`] drives one session over any `AsyncRead + AsyncWrite` stream:
//!   it writes the machine's replies (batched per read, as PIPELINING wants), applies the
//!   command and data timeouts (`421 4.4.2`), upgrades to TLS on STARTTLS
//!   (tokio-rustls, [`SmtpServerConfig::tls`]), checks AUTH PLAIN credentials through the
//!   [`Authenticator`], and hands each message to the [`DeliverySink`]. Message content
//!   is received into the sink's [`DeliverySink::memory_budget`], shared by all sessions.
//! - **Acknowledgement**: the reply to the end of DATA is written only after
//!   [`DeliverySink::deliver`] has resolved. `250` only for
//!   [`DeliveryOutcome::Accepted`], which the sink returns only once the message is
//!   durable; `451`/`452` on [`DeliveryOutcome::TempFail`]. A sink that takes longer than
//!   [`SmtpServerConfig::delivery_timeout`] counts as `451 4.3.0`.
//! - **Shutdown**: the listener stops accepting, then every session is told to stop. A
//!   session waiting for a command gets `421 4.3.2` and is closed; a session receiving a
//!   message or waiting for its delivery finishes it (the reply is written) first. After
//!   [`SmtpServerConfig::shutdown_grace`] the remaining sessions are aborted; a client
//!   that got no reply retries, and deduplication absorbs a copy that was stored anyway.
//!
//! TLS configurations built by [`tls_config`] / [`tls_config_from_pem`] name the
//! aws-lc-rs crypto provider explicitly, so no process-wide default is needed.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::timeout;
use tracing::{Instrument, debug, info, warn};

use super::access::Cidr;
use super::proto::{
    Action, CloseReason, ConnectionInfo, Credentials, DeliveryOutcome, Reply, SmtpConfig,
    SmtpSession, TempFailure, Transaction,
};
use crate::budget::MemoryBudget;
use crate::error::IngestError;

/// A boxed, sendable future (the seams below are object-safe without `async_trait`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Bytes read from the socket at a time.
const READ_BUFFER: usize = 64 * 1024;
/// How long a refusal (`554`, `421`) may take to write.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);

/// Where received messages go: the seam between the receiver and the volume.
pub trait DeliverySink: Send + Sync + 'static {
    /// Stores one message. Return [`DeliveryOutcome::Accepted`] only once it is durable
    /// (fsynced): the client is told `250` from that alone.
    fn deliver(&self, delivery: Delivery) -> BoxFuture<'_, DeliveryOutcome>;

    /// The memory budget the sessions receive message content into, until the sink has
    /// answered for it (the journal's, shared with its other sources).
    fn memory_budget(&self) -> MemoryBudget;
}

/// Checks AUTH PLAIN credentials.
pub trait Authenticator: Send + Sync + 'static {
    /// The name of the principal `credentials` belong to (for Coffer, the journal
    /// token's name), or `None` when they are not valid. The name is recorded with every
    /// message of the session. Slow checks (password hashing) belong on a blocking
    /// thread.
    fn authenticate(&self, credentials: Credentials) -> BoxFuture<'_, Option<String>>;
}

/// The protocol a message arrived by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// SMTP (RFC 5321).
    Smtp,
    /// LMTP (RFC 2033).
    Lmtp,
}

impl Protocol {
    /// `"smtp"` or `"lmtp"`, as recorded in the envelope.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Smtp => "smtp",
            Self::Lmtp => "lmtp",
        }
    }
}

/// One received message with everything known about how it arrived. `Debug` shows no
/// address and no content.
#[derive(Clone)]
pub struct Delivery {
    /// Envelope and content.
    pub transaction: Transaction,
    /// The session it arrived in (for logs).
    pub session_id: u64,
    /// The client's address.
    pub client_addr: SocketAddr,
    /// Whether the session was encrypted when DATA ended.
    pub tls: bool,
    /// SMTP or LMTP.
    pub protocol: Protocol,
    /// When the end of DATA was received.
    pub received_at: DateTime<Utc>,
}

impl Delivery {
    /// The envelope to store with the message.
    pub fn envelope(&self) -> coffer_model::Envelope {
        coffer_model::Envelope {
            protocol: self.protocol.as_str().to_owned(),
            mail_from: self.transaction.mail_from.clone(),
            rcpt_to: self.transaction.rcpt_to.clone(),
            client_addr: Some(self.client_addr.ip().to_string()),
            helo: self.transaction.helo.clone(),
            tls: self.tls,
        }
    }
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("transaction", &self.transaction)
            .field("session_id", &self.session_id)
            .field("tls", &self.tls)
            .field("protocol", &self.protocol)
            .field("received_at", &self.received_at)
            .finish_non_exhaustive()
    }
}

/// Settings of one listener (SMTP or LMTP).
#[derive(Clone)]
pub struct SmtpServerConfig {
    /// Protocol settings. `tls_available` is ignored: it follows [`Self::tls`].
    pub protocol: SmtpConfig,
    /// The TLS server configuration; STARTTLS is offered only when set.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Checks AUTH PLAIN credentials; required unless the auth policy is `Disabled`.
    pub authenticator: Option<Arc<dyn Authenticator>>,
    /// Client addresses allowed to connect. Empty allows nobody; the default is
    /// loopback only; `0.0.0.0/0` and `::/0` allow everybody.
    pub allowed_clients: Vec<Cidr>,
    /// Most sessions at once; more get `421 4.7.0`.
    pub max_sessions: usize,
    /// Longest wait for a command line (and for a write or the TLS handshake).
    pub command_timeout: Duration,
    /// Longest wait between two reads of message content.
    pub data_timeout: Duration,
    /// Longest wait for the sink; past it the client gets `451 4.3.0`.
    pub delivery_timeout: Duration,
    /// How long shutdown waits for sessions before aborting them.
    pub shutdown_grace: Duration,
}

impl SmtpServerConfig {
    /// Defaults around `protocol`: loopback clients only, 256 sessions, 5 min command
    /// timeout (RFC 5321 §4.5.3.2.7), 3 min data timeout, 2 min delivery timeout, 30 s
    /// shutdown grace, no TLS, no authenticator.
    pub fn new(protocol: SmtpConfig) -> Self {
        Self {
            protocol,
            tls: None,
            authenticator: None,
            allowed_clients: Cidr::loopback(),
            max_sessions: 256,
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(180),
            delivery_timeout: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(30),
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), IngestError> {
        self.protocol.validate().map_err(IngestError::SmtpConfig)?;
        if self.protocol.auth != super::proto::AuthPolicy::Disabled {
            if self.authenticator.is_none() {
                return Err(IngestError::SmtpConfig(
                    "AUTH enabled without an authenticator",
                ));
            }
            if self.tls.is_none() {
                return Err(IngestError::SmtpConfig(
                    "AUTH enabled without TLS (AUTH is only offered over TLS)",
                ));
            }
        }
        if self.max_sessions == 0 {
            return Err(IngestError::SmtpConfig("max_sessions must be positive"));
        }
        let timeouts = [
            self.command_timeout,
            self.data_timeout,
            self.delivery_timeout,
        ];
        if timeouts.iter().any(Duration::is_zero) {
            return Err(IngestError::SmtpConfig("timeouts must be positive"));
        }
        Ok(())
    }

    /// Checks that a listener bound to `addr` does not take mail from just anyone. On a
    /// loopback address any settings do. On any other address (the wildcard `0.0.0.0`
    /// and `::` included) AUTH must be required ([`AuthPolicy::Required`]; [`Self::validate`]
    /// makes sure it is offered only over TLS), or [`Self::allowed_clients`] must name
    /// the networks of the sending mail servers: a list that admits only loopback
    /// clients (the default) or every address (`0.0.0.0/0`, `::/0`) does not.
    ///
    /// [`AuthPolicy::Required`]: super::proto::AuthPolicy::Required
    pub fn validate_exposure(&self, addr: SocketAddr) -> Result<(), IngestError> {
        if addr.ip().to_canonical().is_loopback()
            || self.protocol.auth == super::proto::AuthPolicy::Required
        {
            return Ok(());
        }
        let exposure = if self.allowed_clients.iter().any(Cidr::is_everything) {
            Exposure::AnyClient
        } else if self.allowed_clients.iter().all(Cidr::is_loopback_only) {
            Exposure::LoopbackClientsOnly
        } else {
            return Ok(());
        };
        Err(IngestError::SmtpExposed {
            protocol: self.protocol_kind().as_str(),
            addr,
            exposure,
        })
    }

    fn protocol_kind(&self) -> Protocol {
        if self.protocol.lmtp {
            Protocol::Lmtp
        } else {
            Protocol::Smtp
        }
    }
}

impl std::fmt::Debug for SmtpServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpServerConfig")
            .field("protocol", &self.protocol)
            .field("tls", &self.tls.is_some())
            .field("authenticator", &self.authenticator.is_some())
            .field("allowed_clients", &self.allowed_clients)
            .field("max_sessions", &self.max_sessions)
            .field("command_timeout", &self.command_timeout)
            .field("data_timeout", &self.data_timeout)
            .field("delivery_timeout", &self.delivery_timeout)
            .field("shutdown_grace", &self.shutdown_grace)
            .finish()
    }
}

/// Why a listener on a non-loopback address was refused
/// ([`SmtpServerConfig::validate_exposure`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// `allowed_clients` admits every address and AUTH is not required: anyone who can
    /// reach the port could put mail into the archive.
    AnyClient,
    /// `allowed_clients` admits only loopback clients (the default) and AUTH is not
    /// required: the address serves no one and was most likely opened by mistake.
    LoopbackClientsOnly,
}

impl std::fmt::Display for Exposure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Exposure::AnyClient => {
                "allowed_clients admits every address and AUTH is not required, so anyone \
                 could put mail into the archive"
            }
            Exposure::LoopbackClientsOnly => {
                "allowed_clients admits loopback clients only (the default) and AUTH is not \
                 required"
            }
        })
    }
}

/// What one session did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionSummary {
    /// Messages acknowledged with `250` (all recipients, in LMTP).
    pub messages_accepted: u64,
    /// Messages handed to the sink that it did not accept.
    pub messages_refused: u64,
    /// Content bytes of the accepted messages.
    pub bytes_accepted: u64,
    /// Whether the session ended encrypted.
    pub tls: bool,
    /// Protocol errors the client made.
    pub errors: u32,
}

/// A server TLS configuration from a certificate chain and key, with the aws-lc-rs
/// provider and rustls' safe default protocol versions.
pub fn tls_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, IngestError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| IngestError::TlsConfig(error.to_string()))?
        .with_no_client_auth()
        .with_single_cert(cert_chain, key)
        .map_err(|error| IngestError::TlsConfig(error.to_string()))?;
    Ok(Arc::new(config))
}

/// [`tls_config`] from PEM: a certificate chain (leaf first) and a private key
/// (PKCS#8, PKCS#1 or SEC1).
pub fn tls_config_from_pem(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, IngestError> {
    let chain = CertificateDer::pem_slice_iter(cert_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| IngestError::TlsConfig(format!("certificate: {error}")))?;
    if chain.is_empty() {
        return Err(IngestError::TlsConfig("no certificate found".to_owned()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|error| IngestError::TlsConfig(format!("private key: {error}")))?;
    tls_config(chain, key)
}

/// A process-wide session id, unique across listeners.
fn next_session_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Accepts connections until `shutdown` resolves, then shuts down gracefully (see the
/// module docs). Returns an error only for an invalid configuration.
pub async fn run_listener(
    listener: TcpListener,
    config: Arc<SmtpServerConfig>,
    sink: Arc<dyn DeliverySink>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), IngestError> {
    config.validate()?;
    let local_addr = listener.local_addr().map_err(IngestError::Connection)?;
    config.validate_exposure(local_addr)?;
    let protocol = config.protocol_kind();
    info!(
        addr = %local_addr,
        protocol = protocol.as_str(),
        max_sessions = config.max_sessions,
        tls = config.tls.is_some(),
        "smtp listener started"
    );
    let permits = Arc::new(Semaphore::new(config.max_sessions));
    let (stop_sender, stop_receiver) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // EMFILE and friends: back off instead of spinning.
                        warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let session_id = next_session_id();
                if !Cidr::any_contains(&config.allowed_clients, peer.ip()) {
                    warn!(session = session_id, client = %peer.ip(), code = 554, "client not allowed");
                    tasks.spawn(refuse(stream, Reply::access_denied(&config.protocol.hostname)));
                    continue;
                }
                let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                    warn!(
                        session = session_id,
                        max_sessions = config.max_sessions,
                        code = 421,
                        "session limit reached"
                    );
                    tasks.spawn(refuse(stream, Reply::too_many_sessions(&config.protocol.hostname)));
                    continue;
                };
                if let Err(error) = stream.set_nodelay(true) {
                    debug!(session = session_id, %error, "cannot set TCP_NODELAY");
                }
                let config = Arc::clone(&config);
                let sink = Arc::clone(&sink);
                let mut stop = stop_receiver.clone();
                let span = tracing::info_span!(
                    "smtp_session",
                    session = session_id,
                    protocol = protocol.as_str()
                );
                tasks.spawn(
                    async move {
                        let _permit = permit;
                        let stopping = async move {
                            if stop.wait_for(|stopping| *stopping).await.is_err() {
                                std::future::pending::<()>().await;
                            }
                        };
                        let result =
                            serve_connection(stream, peer, session_id, &config, sink.as_ref(), stopping)
                                .await;
                        if let Err(error) = result {
                            debug!(%error, "session ended with an error");
                        }
                    }
                    .instrument(span),
                );
            }
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(error) = joined
                    && error.is_panic()
                {
                    tracing::error!("smtp session task panicked");
                }
            }
        }
    }

    drop(listener);
    info!(
        protocol = protocol.as_str(),
        sessions = tasks.len(),
        "smtp listener stopping"
    );
    // Receivers may all be gone already; that is fine.
    let _ = stop_sender.send(true);
    let drained = timeout(config.shutdown_grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            sessions = tasks.len(),
            "aborting smtp sessions after the shutdown grace period"
        );
        tasks.shutdown().await;
    }
    info!(protocol = protocol.as_str(), "smtp listener stopped");
    Ok(())
}

/// Writes a refusal in place of the greeting and closes.
async fn refuse(mut stream: TcpStream, reply: Reply) {
    let _ = timeout(REFUSAL_TIMEOUT, async {
        stream.write_all(reply.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

/// Serves one connection until the client quits, a limit closes it, or `shutdown`
/// resolves (then the session ends at its next command, see the module docs). The
/// allowlist and session limit are [`run_listener`]'s business, not checked here.
pub async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    session_id: u64,
    config: &SmtpServerConfig,
    sink: &dyn DeliverySink,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<SessionSummary, IngestError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let started = Instant::now();
    let mut protocol_config = config.protocol.clone();
    protocol_config.tls_available = config.tls.is_some();
    let mut session = SmtpSession::new(
        &protocol_config,
        ConnectionInfo {
            peer: Some(peer),
            tls_active: false,
        },
    )
    .with_memory_budget(sink.memory_budget());
    debug!(session = session_id, client = %peer.ip(), "session started");
    let shutdown = std::pin::pin!(shutdown);
    let mut driver = Driver {
        config,
        sink,
        peer,
        session_id,
        protocol: config.protocol_kind(),
        shutdown,
        shutdown_fired: false,
        summary: SessionSummary::default(),
    };

    let greeting = vec![Action::Reply(session.greeting())];
    let result = match driver.drive(stream, &mut session, greeting).await {
        Ok(Exit::Closed) => Ok(()),
        Ok(Exit::StartTls(stream)) => driver.upgrade(stream, &mut session).await,
        Err(error) => Err(error),
    };

    driver.summary.tls = session.tls_active();
    driver.summary.errors = session.errors();
    let summary = driver.summary;
    debug!(
        session = session_id,
        accepted = summary.messages_accepted,
        refused = summary.messages_refused,
        bytes = summary.bytes_accepted,
        errors = summary.errors,
        tls = summary.tls,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "session ended"
    );
    result.map(|()| summary)
}

/// How [`Driver::drive`] ended.
enum Exit<T> {
    /// The session is over.
    Closed,
    /// STARTTLS was accepted: the plain stream, to be upgraded.
    StartTls(T),
}

/// What a read produced.
enum ReadEvent {
    Bytes(usize),
    Eof,
    Timeout,
    Shutdown,
    Failed(io::Error),
}

/// The per-connection state of the tokio side.
struct Driver<'a, F: Future<Output = ()> + Send> {
    config: &'a SmtpServerConfig,
    sink: &'a dyn DeliverySink,
    peer: SocketAddr,
    session_id: u64,
    protocol: Protocol,
    shutdown: Pin<&'a mut F>,
    shutdown_fired: bool,
    summary: SessionSummary,
}

impl<F: Future<Output = ()> + Send> Driver<'_, F> {
    /// Runs the TLS handshake on `stream`, then the rest of the session over TLS.
    async fn upgrade<S>(&mut self, stream: S, session: &mut SmtpSession) -> Result<(), IngestError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let Some(tls) = &self.config.tls else {
            return Err(IngestError::SmtpConfig(
                "STARTTLS accepted without a TLS configuration",
            ));
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(tls));
        let handshake_started = Instant::now();
        let stream = match timeout(self.config.command_timeout, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                debug!(session = self.session_id, %error, "tls handshake failed");
                return Err(IngestError::TlsHandshake(error));
            }
            Err(_) => {
                debug!(session = self.session_id, "tls handshake timed out");
                return Err(IngestError::TlsHandshake(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "tls handshake timed out",
                )));
            }
        };
        debug!(
            session = self.session_id,
            elapsed_ms = handshake_started.elapsed().as_millis() as u64,
            "tls established"
        );
        let actions = session.tls_established();
        match self.drive(stream, session, actions).await? {
            Exit::Closed => Ok(()),
            // The machine never offers STARTTLS twice.
            Exit::StartTls(_) => Ok(()),
        }
    }

    /// Carries out actions and feeds reads until the session closes or asks for TLS.
    async fn drive<T>(
        &mut self,
        mut io: T,
        session: &mut SmtpSession,
        initial: Vec<Action>,
    ) -> Result<Exit<T>, IngestError>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let mut pending = std::collections::VecDeque::from(initial);
        let mut out = Vec::new();
        let mut buffer = vec![0u8; READ_BUFFER];
        loop {
            while let Some(action) = pending.pop_front() {
                match action {
                    Action::Reply(reply) => out.extend_from_slice(reply.as_bytes()),
                    Action::Close => {
                        self.flush(&mut io, &mut out).await?;
                        let _ = timeout(REFUSAL_TIMEOUT, io.shutdown()).await;
                        return Ok(Exit::Closed);
                    }
                    Action::StartTls => {
                        self.flush(&mut io, &mut out).await?;
                        return Ok(Exit::StartTls(io));
                    }
                    Action::Authenticate(credentials) => {
                        self.flush(&mut io, &mut out).await?;
                        let principal = match &self.config.authenticator {
                            Some(authenticator) => authenticator.authenticate(credentials).await,
                            None => None,
                        };
                        debug!(
                            session = self.session_id,
                            accepted = principal.is_some(),
                            "authentication"
                        );
                        pending.extend(session.authentication_result(principal));
                    }
                    Action::Deliver(transaction) => {
                        self.flush(&mut io, &mut out).await?;
                        let actions = self.deliver(transaction, session).await;
                        pending.extend(actions);
                    }
                }
            }
            self.flush(&mut io, &mut out).await?;

            if self.shutdown_fired && !session.is_receiving_data() {
                pending.extend(session.close_with(CloseReason::Shutdown));
                continue;
            }
            match self.read(&mut io, &mut buffer, session).await {
                ReadEvent::Bytes(count) => pending.extend(session.feed(&buffer[..count])),
                ReadEvent::Eof => {
                    if session.is_receiving_data() {
                        debug!(session = self.session_id, "client disconnected during DATA");
                    }
                    return Ok(Exit::Closed);
                }
                ReadEvent::Timeout => {
                    debug!(
                        session = self.session_id,
                        in_data = session.is_receiving_data(),
                        code = 421,
                        "timeout"
                    );
                    pending.extend(session.close_with(CloseReason::Timeout));
                }
                ReadEvent::Shutdown => {
                    pending.extend(session.close_with(CloseReason::Shutdown));
                }
                ReadEvent::Failed(error) => return Err(IngestError::Connection(error)),
            }
        }
    }

    /// One read, bounded by the command or data timeout; while waiting for a command,
    /// shutdown interrupts it.
    async fn read<T>(&mut self, io: &mut T, buffer: &mut [u8], session: &SmtpSession) -> ReadEvent
    where
        T: AsyncRead + Unpin,
    {
        let in_data = session.is_receiving_data();
        let limit = if in_data {
            self.config.data_timeout
        } else {
            self.config.command_timeout
        };
        let read = timeout(limit, io.read(buffer));
        let result = if in_data || self.shutdown_fired {
            read.await
        } else {
            tokio::select! {
                result = read => result,
                () = self.shutdown.as_mut() => {
                    self.shutdown_fired = true;
                    return ReadEvent::Shutdown;
                }
            }
        };
        match result {
            Err(_elapsed) => ReadEvent::Timeout,
            Ok(Ok(0)) => ReadEvent::Eof,
            Ok(Ok(count)) => ReadEvent::Bytes(count),
            Ok(Err(error)) => ReadEvent::Failed(error),
        }
    }

    /// Hands a message to the sink and returns the machine's replies to the outcome.
    async fn deliver(
        &mut self,
        transaction: Transaction,
        session: &mut SmtpSession,
    ) -> Vec<Action> {
        let bytes = transaction.data.len() as u64;
        let recipients = transaction.rcpt_to.len();
        let delivery = Delivery {
            transaction,
            session_id: self.session_id,
            client_addr: self.peer,
            tls: session.tls_active(),
            protocol: self.protocol,
            received_at: Utc::now(),
        };
        let started = Instant::now();
        let outcome = match timeout(self.config.delivery_timeout, self.sink.deliver(delivery)).await
        {
            Ok(outcome) => outcome,
            Err(_) => {
                warn!(
                    session = self.session_id,
                    timeout_ms = self.config.delivery_timeout.as_millis() as u64,
                    "delivery timed out"
                );
                DeliveryOutcome::TempFail(TempFailure::Internal)
            }
        };
        if outcome.is_accepted() {
            self.summary.messages_accepted += 1;
            self.summary.bytes_accepted += bytes;
        } else {
            self.summary.messages_refused += 1;
        }
        let actions = session.delivered(outcome);
        let code = actions.iter().find_map(|action| match action {
            Action::Reply(reply) => Some(reply.code()),
            _ => None,
        });
        info!(
            session = self.session_id,
            bytes,
            recipients,
            code,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "message delivery"
        );
        actions
    }

    /// Writes the queued replies, bounded by the command timeout.
    async fn flush<T>(&self, io: &mut T, out: &mut Vec<u8>) -> Result<(), IngestError>
    where
        T: AsyncWrite + Unpin,
    {
        if out.is_empty() {
            return Ok(());
        }
        let write = async {
            io.write_all(out).await?;
            io.flush().await
        };
        match timeout(self.config.command_timeout, write).await {
            Ok(result) => result.map_err(IngestError::Connection)?,
            Err(_) => {
                return Err(IngestError::Connection(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "write timed out",
                )));
            }
        }
        out.clear();
        Ok(())
    }
}
