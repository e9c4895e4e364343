//! The SMTP/LMTP receiver as a pure state machine: bytes in, [`Action`]s out. No tokio,
//! no sockets, no clock, no logging.
//!
//! # Brief overview
//!
//! [`SmtpSession`] is built from an [`SmtpConfig`] and a [`ConnectionInfo`]. The driver
//! writes [`SmtpSession::greeting`], then hands every chunk read from the client to
//! [`SmtpSession::feed`] and carries out the returned actions in order:
//!
//! - [`Action::Reply`]: write these bytes (replies may be batched until the next read,
//!   which is what PIPELINING expects);
//! - [`Action::StartTls`]: the `220` has been queued just before; flush it, run the TLS
//!   handshake, then call [`SmtpSession::tls_established`];
//! - [`Action::Authenticate`]: check the credentials, then call
//!   [`SmtpSession::authentication_result`];
//! - [`Action::Deliver`]: the end of DATA was reached; make the message durable, then call
//!   [`SmtpSession::delivered`] with the [`DeliveryOutcome`];
//! - [`Action::Close`]: flush and close the connection.
//!
//! While an `Authenticate`, `Deliver` or `StartTls` is outstanding the machine consumes
//! no input: pipelined bytes that arrived with the DATA stay buffered and are processed
//! by the call that resolves it. The driver must not feed more while waiting.
//!
//! Commands are parsed with smtp-proto's `Request::parse`, one complete line at a time;
//! line splitting, the line-length limit and the DATA phase are ours.
//!
//! # Decisions
//!
//! - **Line endings in commands**: `LF` ends a command line; a `CR` before it is
//!   dropped. Bare-`LF` clients (scripts, `nc`) work.
//! - **Line endings in DATA**: a line starts at the beginning of the content or after
//!   `CRLF`, nowhere else. Only `CRLF . CRLF` (or `. CRLF` as the first line) ends the
//!   data; `LF . LF`, `LF . CRLF` and `CRLF . LF` are content, as in Postfix's
//!   `smtpd_forbid_bare_newline = normalize`, so Coffer never disagrees with the sending
//!   MTA about where a message ends (SMTP smuggling). A leading dot is removed only at
//!   such a line start. Bare `LF` and `CR` in content are stored byte for byte, not
//!   normalised. A client ending DATA with a bare `LF . LF` meets the data timeout.
//! - **Line length**: [`SmtpConfig::max_line_length`] bytes including the line ending
//!   (default 4096; RFC 5321's minimum is 512, ESMTP parameters need more). A longer
//!   line is answered once with `500 5.5.2 Line too long` and skipped up to its `LF`;
//!   never more than the limit is buffered. DATA lines are not limited (archive everything).
//! - **Size**: `SIZE=` above [`SmtpConfig::max_message_size`] gets `552 5.3.4` at MAIL.
//!   Content past the limit is read to its end but discarded, then `552 5.3.4`
//!   (one per recipient in LMTP); memory never exceeds the limit.
//! - **Memory**: message content draws from a [`MemoryBudget`] shared with every other
//!   session and journal source ([`SmtpSession::with_memory_budget`]; see
//!   [`crate::budget`]). `DATA` reserves the declared `SIZE=` (or a first 64 KiB) and is
//!   answered `452 4.3.1` when that does not fit; content that outgrows what the budget
//!   can give is read to its end but discarded, then `452 4.3.1` (one per recipient in
//!   LMTP). The message's memory is given back once its delivery is answered.
//! - **Recipients**: past [`SmtpConfig::max_recipients`], `452 4.5.3` (the client sends
//!   the rest in another transaction, RFC 5321 §4.5.3.1.10). Every address is accepted:
//!   this is an archive, not a mailbox server.
//! - **Errors**: each syntax, sequence or authentication error counts; at
//!   [`SmtpConfig::max_errors`] the session ends with `421 4.7.0`.
//! - **STARTTLS** is advertised only when TLS is available and not yet active; bytes the
//!   client pipelined after `STARTTLS` are discarded (the plaintext command injection of
//!   CVE-2011-0411), and after the handshake all state is reset (RFC 3207 §4.2).
//! - **AUTH PLAIN** is advertised and accepted only over TLS and when the
//!   [`AuthPolicy`] allows it; `AuthPolicy::Required` makes MAIL answer `530 5.7.0` until
//!   the client has authenticated. No proxy authorisation: an authzid other than the
//!   username is refused. The session remembers whom the driver's check named (for
//!   Coffer, the journal token's name, not the user name the client typed) and hands it
//!   on with every message ([`Transaction::authenticated_as`]).
//! - **LMTP** (RFC 2033): LHLO instead of EHLO/HELO (which get `500`), and after DATA one
//!   reply per accepted recipient, in RCPT order.
//! - Extensions advertised: PIPELINING, SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES,
//!   HELP, and STARTTLS / AUTH PLAIN as above. Not implemented: CHUNKING/BDAT,
//!   BINARYMIME, DSN (DSN parameters are accepted and ignored), EXPN (`502`), VRFY (`252`).
//! - Replies never echo addresses or other client text.

use std::fmt;
use std::net::SocketAddr;

use base64::Engine as _;
use smtp_proto::{
    AUTH_PLAIN, Error as ParseError, MAIL_BODY_8BITMIME, MAIL_BODY_BINARYMIME, MAIL_SMTPUTF8,
    Request,
};

use super::data::DataReceiver;
use crate::budget::{BufferFull, DATA_FIRST_RESERVATION, MemoryBudget, MessageBuffer, Reservation};

/// Default maximum command line length in bytes, including the line ending.
pub const DEFAULT_MAX_LINE_LENGTH: usize = 4096;
/// Smallest accepted [`SmtpConfig::max_line_length`] (RFC 5321 §4.5.3.1.4).
pub const MIN_LINE_LENGTH: usize = 512;

/// Protocol settings of a listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// The name announced in the greeting and in EHLO/LHLO replies (no spaces or
    /// control characters; others are dropped).
    pub hostname: String,
    /// Speak LMTP (RFC 2033) instead of SMTP.
    pub lmtp: bool,
    /// Largest message accepted, in bytes of content after dot-unstuffing.
    pub max_message_size: u64,
    /// Most recipients in one transaction.
    pub max_recipients: usize,
    /// Longest command line, in bytes including the line ending.
    pub max_line_length: usize,
    /// Errors tolerated before the session is closed with `421`.
    pub max_errors: u32,
    /// Whether STARTTLS can be offered. The tokio driver sets this from its TLS
    /// configuration.
    pub tls_available: bool,
    /// Whether AUTH PLAIN is offered (over TLS only) or required.
    pub auth: AuthPolicy,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            hostname: "localhost".to_owned(),
            lmtp: false,
            max_message_size: 64 * 1024 * 1024,
            max_recipients: 1000,
            max_line_length: DEFAULT_MAX_LINE_LENGTH,
            max_errors: 20,
            tls_available: false,
            auth: AuthPolicy::Disabled,
        }
    }
}

impl SmtpConfig {
    /// Checks the settings; returns what is wrong, if anything.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.hostname.is_empty() || !self.hostname.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("hostname must be non-empty printable ASCII without spaces");
        }
        if self.max_line_length < MIN_LINE_LENGTH {
            return Err("max_line_length must be at least 512");
        }
        if self.max_message_size == 0 {
            return Err("max_message_size must be positive");
        }
        if self.max_recipients == 0 {
            return Err("max_recipients must be positive");
        }
        if self.max_errors == 0 {
            return Err("max_errors must be positive");
        }
        Ok(())
    }
}

/// Whether SMTP AUTH is offered. AUTH is only ever offered over TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthPolicy {
    /// AUTH is not offered.
    #[default]
    Disabled,
    /// AUTH PLAIN is offered over TLS; unauthenticated clients may still send.
    Optional,
    /// AUTH PLAIN is offered over TLS and MAIL is refused (`530`) until it succeeded.
    Required,
}

/// What the machine knows about the connection when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The client's address, when known.
    pub peer: Option<SocketAddr>,
    /// Whether the connection is already encrypted (implicit TLS).
    pub tls_active: bool,
}

/// One SMTP reply (possibly multi-line), ready for the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    code: u16,
    wire: Vec<u8>,
}

impl Reply {
    /// A one-line reply: `code` and `text` (text already carries the enhanced code).
    fn line(code: u16, text: &str) -> Self {
        let mut wire = Vec::with_capacity(text.len() + 6);
        wire.extend_from_slice(code.to_string().as_bytes());
        wire.push(b' ');
        wire.extend(text.bytes().filter(|&b| b != b'\r' && b != b'\n'));
        wire.extend_from_slice(b"\r\n");
        Self { code, wire }
    }

    /// A multi-line reply, one `code-text` line per item and `code text` for the last.
    fn multi(code: u16, lines: &[String]) -> Self {
        let mut wire = Vec::new();
        for (index, text) in lines.iter().enumerate() {
            wire.extend_from_slice(code.to_string().as_bytes());
            wire.push(if index + 1 == lines.len() { b' ' } else { b'-' });
            wire.extend(text.bytes().filter(|&b| b != b'\r' && b != b'\n'));
            wire.extend_from_slice(b"\r\n");
        }
        Self { code, wire }
    }

    /// `554 5.7.1`: the client address is not allowed (sent instead of the greeting).
    pub fn access_denied(hostname: &str) -> Self {
        Self::line(
            554,
            &format!("5.7.1 {} Access denied", clean_hostname(hostname)),
        )
    }

    /// `421 4.7.0`: too many concurrent sessions (sent instead of the greeting).
    pub fn too_many_sessions(hostname: &str) -> Self {
        Self::line(
            421,
            &format!(
                "4.7.0 {} Too many concurrent sessions, try again later",
                clean_hostname(hostname)
            ),
        )
    }

    /// The three-digit reply code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The reply as sent, CRLF-terminated.
    pub fn as_bytes(&self) -> &[u8] {
        &self.wire
    }

    /// The reply as sent, CRLF-terminated.
    pub fn into_bytes(self) -> Vec<u8> {
        self.wire
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Replies carry no client data, so they are safe to show.
        write!(f, "Reply({:?})", String::from_utf8_lossy(&self.wire))
    }
}

/// What the driver must do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Write this reply.
    Reply(Reply),
    /// Flush the replies so far (the last is `220`), run the TLS server handshake, then
    /// call [`SmtpSession::tls_established`] (or close on failure).
    StartTls,
    /// Check these credentials, then call [`SmtpSession::authentication_result`] with
    /// the name of the principal they belong to (or `None`).
    Authenticate(Credentials),
    /// The end of DATA: make the message durable, then call [`SmtpSession::delivered`].
    Deliver(Transaction),
    /// Flush the replies so far and close the connection.
    Close,
}

/// Credentials from AUTH PLAIN. `Debug` shows no secret and no name.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The authentication identity (the user name).
    pub username: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username_len", &self.username.len())
            .finish_non_exhaustive()
    }
}

/// A received message with its envelope. `Debug` shows sizes and counts only.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Transaction {
    /// MAIL FROM; `None` for the null reverse-path `<>`.
    pub mail_from: Option<String>,
    /// Every accepted RCPT TO, in order (duplicates kept).
    pub rcpt_to: Vec<String>,
    /// The EHLO/HELO/LHLO name given in this session.
    pub helo: Option<String>,
    /// The message content, dot-unstuffed, line endings as received.
    pub data: Vec<u8>,
    /// `BODY=8BITMIME` was declared.
    pub body_8bit: bool,
    /// `SMTPUTF8` was declared.
    pub smtputf8: bool,
    /// The `SIZE=` the client declared, if any.
    pub size_declared: Option<u64>,
    /// The principal the client authenticated as (the name the driver's credential
    /// check returned: a journal token's name), when it did.
    pub authenticated_as: Option<String>,
}

impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("null_sender", &self.mail_from.is_none())
            .field("recipients", &self.rcpt_to.len())
            .field("helo", &self.helo)
            .field("bytes", &self.data.len())
            .field("body_8bit", &self.body_8bit)
            .field("smtputf8", &self.smtputf8)
            .field("size_declared", &self.size_declared)
            .field("authenticated", &self.authenticated_as.is_some())
            .finish()
    }
}

/// Why a delivery failed temporarily; each maps to one fixed reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TempFailure {
    /// Disk full or quota: `452 4.3.1 Insufficient system storage`.
    Storage,
    /// The pipeline is saturated or shutting down: `451 4.3.2`.
    Unavailable,
    /// Anything else (fsync failed, internal error, timeout): `451 4.3.0`.
    Internal,
}

/// Why a delivery failed permanently; each maps to one fixed reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermFailure {
    /// Refused by policy: `550 5.7.1`.
    Policy,
    /// The content cannot be accepted: `554 5.6.0`.
    Content,
    /// Anything else: `554 5.0.0`.
    Other,
}

/// The result of a delivery, given to [`SmtpSession::delivered`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Durable: `250 2.0.0 Ok: queued as <queue_id>`.
    Accepted {
        /// An id for the sender's logs (printable ASCII is kept, the rest dropped).
        queue_id: String,
    },
    /// Not stored; the client should retry: `451`/`452`.
    TempFail(TempFailure),
    /// Not stored; the client should not retry: `550`/`554`.
    PermFail(PermFailure),
    /// One outcome per accepted recipient, in RCPT order (LMTP). Missing entries count
    /// as `TempFail(Internal)`, nested `PerRecipient` too. Over SMTP, where one reply
    /// covers all recipients, the worst outcome wins: any temporary failure gives the
    /// temporary reply (the client retries; deduplication absorbs the copies already
    /// stored), else any permanent failure gives the permanent reply.
    PerRecipient(Vec<DeliveryOutcome>),
}

impl DeliveryOutcome {
    /// The outcome for an error of class `code`: the one place where Coffer's error
    /// classes become SMTP outcomes. Anything that is not the client's fault is
    /// temporary, so the client retries rather than bounces.
    pub fn from_error_code(code: coffer_model::ErrorCode) -> Self {
        use coffer_model::ErrorCode;
        match code {
            ErrorCode::InvalidInput => Self::PermFail(PermFailure::Content),
            ErrorCode::Forbidden | ErrorCode::Unauthenticated => {
                Self::PermFail(PermFailure::Policy)
            }
            ErrorCode::Unavailable => Self::TempFail(TempFailure::Unavailable),
            ErrorCode::NotFound
            | ErrorCode::Conflict
            | ErrorCode::Corruption
            | ErrorCode::Internal => Self::TempFail(TempFailure::Internal),
        }
    }

    /// Whether the message was stored (for every recipient, for `PerRecipient`).
    pub fn is_accepted(&self) -> bool {
        match self {
            Self::Accepted { .. } => true,
            Self::TempFail(_) | Self::PermFail(_) => false,
            Self::PerRecipient(outcomes) => {
                !outcomes.is_empty() && outcomes.iter().all(Self::is_accepted)
            }
        }
    }

    /// The single reply for this outcome (the worst one for `PerRecipient`).
    fn reply(&self) -> Reply {
        match self {
            Self::Accepted { queue_id } => {
                let id: String = queue_id
                    .chars()
                    .filter(|c| c.is_ascii_graphic())
                    .take(64)
                    .collect();
                Reply::line(250, &format!("2.0.0 Ok: queued as {id}"))
            }
            Self::TempFail(TempFailure::Storage) => {
                Reply::line(452, "4.3.1 Insufficient system storage, try again later")
            }
            Self::TempFail(TempFailure::Unavailable) => {
                Reply::line(451, "4.3.2 System not accepting messages, try again later")
            }
            Self::TempFail(TempFailure::Internal) => {
                Reply::line(451, "4.3.0 Local error in processing, try again later")
            }
            Self::PermFail(PermFailure::Policy) => {
                Reply::line(550, "5.7.1 Message refused by policy")
            }
            Self::PermFail(PermFailure::Content) => {
                Reply::line(554, "5.6.0 Message content refused")
            }
            Self::PermFail(PermFailure::Other) => Reply::line(554, "5.0.0 Transaction failed"),
            Self::PerRecipient(outcomes) => {
                let worst = outcomes
                    .iter()
                    .map(Self::flatten)
                    .max_by_key(|outcome| match outcome {
                        Self::Accepted { .. } => 0,
                        Self::PermFail(_) => 1,
                        _ => 2,
                    })
                    .unwrap_or(Self::TempFail(TempFailure::Internal));
                worst.reply()
            }
        }
    }

    /// A nested `PerRecipient` is a sink bug: treat it as an internal failure.
    fn flatten(&self) -> Self {
        match self {
            Self::PerRecipient(_) => Self::TempFail(TempFailure::Internal),
            other => other.clone(),
        }
    }
}

/// Why the driver ends a session itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client was silent too long: `421 4.4.2`.
    Timeout,
    /// The server is shutting down: `421 4.3.2`.
    Shutdown,
}

/// Where the session is.
#[derive(Debug)]
enum Phase {
    /// Reading command lines.
    Command,
    /// `334` sent after `AUTH PLAIN`; reading the client's response line.
    AuthResponse,
    /// Reading message content.
    Data(DataReceiver),
    /// Waiting for [`SmtpSession::authentication_result`].
    AwaitAuth,
    /// Waiting for [`SmtpSession::delivered`].
    AwaitDelivery,
    /// Waiting for [`SmtpSession::tls_established`].
    AwaitTls,
    /// `Close` was emitted; input is ignored.
    Closed,
}

/// The envelope being built between MAIL and the end of DATA.
#[derive(Debug, Default)]
struct Envelope {
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
    rcpt_refused: usize,
    body_8bit: bool,
    smtputf8: bool,
    size_declared: Option<u64>,
}

/// One SMTP or LMTP session: feed it bytes, carry out its actions.
#[derive(Debug)]
pub struct SmtpSession {
    config: SmtpConfig,
    hostname: String,
    tls_active: bool,
    helo: Option<String>,
    authenticated_as: Option<String>,
    envelope: Option<Envelope>,
    /// Recipients of the transaction being delivered (LMTP needs one reply each).
    delivering_recipients: usize,
    /// Where message content draws its memory from.
    memory: MemoryBudget,
    /// The memory of the message being delivered, given back once it is answered.
    delivering_memory: Option<Reservation>,
    phase: Phase,
    /// Bytes received but not consumed yet.
    input: Vec<u8>,
    /// Skipping the rest of an over-long command line.
    discarding_line: bool,
    errors: u32,
}

impl SmtpSession {
    /// A new session in its initial state (the greeting not yet sent).
    pub fn new(config: &SmtpConfig, info: ConnectionInfo) -> Self {
        Self {
            hostname: clean_hostname(&config.hostname),
            config: config.clone(),
            tls_active: info.tls_active,
            helo: None,
            authenticated_as: None,
            envelope: None,
            delivering_recipients: 0,
            memory: MemoryBudget::unlimited(),
            delivering_memory: None,
            phase: Phase::Command,
            input: Vec::new(),
            discarding_line: false,
            errors: 0,
        }
    }

    /// The session with message content drawn from `budget` (shared with the other
    /// sessions and journal sources) instead of an unbounded one of its own.
    pub fn with_memory_budget(mut self, budget: MemoryBudget) -> Self {
        self.memory = budget;
        self
    }

    /// The `220` greeting to send first.
    pub fn greeting(&self) -> Reply {
        let service = if self.config.lmtp { "LMTP" } else { "ESMTP" };
        Reply::line(220, &format!("{} {service} Coffer ready", self.hostname))
    }

    /// Processes bytes from the client and returns what to do, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.input.is_empty() {
            let used = self.process(bytes, &mut actions);
            self.keep_unconsumed(&bytes[used..]);
        } else {
            let mut pending = std::mem::take(&mut self.input);
            pending.extend_from_slice(bytes);
            let used = self.process(&pending, &mut actions);
            pending.drain(..used);
            self.keep_unconsumed(&pending);
        }
        actions
    }

    /// Resolves an [`Action::Deliver`]; returns the replies (one per recipient in LMTP)
    /// and whatever pipelined input then produces.
    pub fn delivered(&mut self, outcome: DeliveryOutcome) -> Vec<Action> {
        if !matches!(self.phase, Phase::AwaitDelivery) {
            return Vec::new();
        }
        let mut actions = Vec::new();
        let recipients = std::mem::take(&mut self.delivering_recipients);
        self.delivering_memory = None;
        if self.config.lmtp {
            for index in 0..recipients {
                let reply = match &outcome {
                    DeliveryOutcome::PerRecipient(outcomes) => outcomes
                        .get(index)
                        .map(DeliveryOutcome::flatten)
                        .unwrap_or(DeliveryOutcome::TempFail(TempFailure::Internal))
                        .reply(),
                    whole => whole.reply(),
                };
                actions.push(Action::Reply(reply));
            }
        } else {
            actions.push(Action::Reply(outcome.reply()));
        }
        self.phase = Phase::Command;
        self.resume(&mut actions);
        actions
    }

    /// Resolves an [`Action::Authenticate`]: `principal` names whom the credentials
    /// belong to (it becomes [`Transaction::authenticated_as`] of every later message of
    /// the session), `None` refuses them.
    pub fn authentication_result(&mut self, principal: Option<String>) -> Vec<Action> {
        if !matches!(self.phase, Phase::AwaitAuth) {
            return Vec::new();
        }
        self.phase = Phase::Command;
        let mut actions = Vec::new();
        match principal {
            Some(name) => {
                self.authenticated_as = Some(name);
                push(&mut actions, reply(235, "2.7.0 Authentication successful"));
            }
            None => self.error(
                &mut actions,
                Reply::line(535, "5.7.8 Authentication credentials invalid"),
            ),
        }
        self.resume(&mut actions);
        actions
    }

    /// Resolves an [`Action::StartTls`] after a successful handshake: the session starts
    /// over (the client must EHLO again), now encrypted.
    pub fn tls_established(&mut self) -> Vec<Action> {
        if !matches!(self.phase, Phase::AwaitTls) {
            return Vec::new();
        }
        self.tls_active = true;
        self.helo = None;
        self.authenticated_as = None;
        self.envelope = None;
        self.input.clear();
        self.discarding_line = false;
        self.phase = Phase::Command;
        Vec::new()
    }

    /// Ends the session from the driver's side: a `421` and [`Action::Close`].
    pub fn close_with(&mut self, reason: CloseReason) -> Vec<Action> {
        if matches!(self.phase, Phase::Closed) {
            return Vec::new();
        }
        self.phase = Phase::Closed;
        self.input = Vec::new();
        let text = match reason {
            CloseReason::Timeout => format!("4.4.2 {} Timeout, closing connection", self.hostname),
            CloseReason::Shutdown => {
                format!(
                    "4.3.2 {} Service shutting down, try again later",
                    self.hostname
                )
            }
        };
        vec![Action::Reply(Reply::line(421, &text)), Action::Close]
    }

    /// Whether message content is being received (the driver applies the data timeout).
    pub fn is_receiving_data(&self) -> bool {
        matches!(self.phase, Phase::Data(_))
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// Whether the connection is encrypted.
    pub fn tls_active(&self) -> bool {
        self.tls_active
    }

    /// Errors counted so far.
    pub fn errors(&self) -> u32 {
        self.errors
    }

    /// Bytes held in memory for this session (unconsumed input and message content).
    pub fn buffered_bytes(&self) -> usize {
        let data = match &self.phase {
            Phase::Data(receiver) => receiver.held(),
            _ => 0,
        };
        self.input.capacity() + data
    }

    /// Keeps unconsumed bytes, unless the session can no longer use them.
    fn keep_unconsumed(&mut self, rest: &[u8]) {
        if matches!(self.phase, Phase::Closed) {
            self.input = Vec::new();
        } else {
            self.input.extend_from_slice(rest);
        }
    }

    /// Processes buffered input after an outstanding action was resolved.
    fn resume(&mut self, actions: &mut Vec<Action>) {
        let pending = std::mem::take(&mut self.input);
        let used = self.process(&pending, actions);
        self.keep_unconsumed(&pending[used..]);
    }

    /// Consumes as much of `buf` as the current phase allows; returns the bytes used.
    fn process(&mut self, buf: &[u8], actions: &mut Vec<Action>) -> usize {
        let mut pos = 0;
        loop {
            match &mut self.phase {
                Phase::Closed | Phase::AwaitTls => return buf.len(),
                Phase::AwaitAuth | Phase::AwaitDelivery => return pos,
                Phase::Data(receiver) => {
                    let (used, done) = receiver.ingest(&buf[pos..]);
                    pos += used;
                    if !done {
                        return pos;
                    }
                    self.end_of_data(actions);
                }
                Phase::Command | Phase::AuthResponse => {
                    let rest = &buf[pos..];
                    let newline = memchr::memchr(b'\n', rest);
                    if self.discarding_line {
                        match newline {
                            Some(offset) => {
                                pos += offset + 1;
                                self.discarding_line = false;
                                continue;
                            }
                            None => return buf.len(),
                        }
                    }
                    match newline {
                        Some(offset) if offset < self.config.max_line_length => {
                            pos += offset + 1;
                            self.line(&rest[..=offset], actions);
                        }
                        Some(offset) => {
                            pos += offset + 1;
                            self.line_too_long(actions);
                        }
                        None if rest.len() >= self.config.max_line_length => {
                            self.line_too_long(actions);
                            self.discarding_line = true;
                            return buf.len();
                        }
                        None => return pos,
                    }
                }
            }
        }
    }

    fn line_too_long(&mut self, actions: &mut Vec<Action>) {
        if matches!(self.phase, Phase::AuthResponse) {
            self.phase = Phase::Command;
        }
        self.error(actions, reply(500, "5.5.2 Line too long"));
    }

    /// Handles one complete line (ending in LF) in the command phases.
    fn line(&mut self, line: &[u8], actions: &mut Vec<Action>) {
        if matches!(self.phase, Phase::AuthResponse) {
            self.phase = Phase::Command;
            let response = trim_line_end(line);
            if response == b"*" {
                self.error(actions, reply(501, "5.0.0 Authentication cancelled"));
            } else {
                self.auth_plain(response, actions);
            }
            return;
        }
        match Request::parse(&mut line.iter()) {
            Ok(request) => self.command(request, line, actions),
            Err(error) => {
                let reply = match error {
                    ParseError::UnknownCommand => reply(500, "5.5.1 Command unrecognized"),
                    ParseError::InvalidSenderAddress => {
                        reply(501, "5.1.7 Bad sender address syntax")
                    }
                    ParseError::InvalidRecipientAddress => {
                        reply(501, "5.1.3 Bad recipient address syntax")
                    }
                    ParseError::SyntaxError { syntax } => {
                        Reply::line(501, &format!("5.5.4 Syntax: {syntax}"))
                    }
                    ParseError::InvalidParameter { param } => {
                        Reply::line(501, &format!("5.5.4 Invalid {param} parameter"))
                    }
                    ParseError::UnsupportedParameter { .. } => {
                        reply(555, "5.5.4 Unsupported parameter")
                    }
                    ParseError::NeedsMoreData { .. }
                    | ParseError::ResponseTooLong
                    | ParseError::InvalidResponse { .. } => reply(501, "5.5.2 Syntax error"),
                };
                self.error(actions, reply);
            }
        }
    }

    fn command(
        &mut self,
        request: Request<std::borrow::Cow<'_, str>>,
        line: &[u8],
        actions: &mut Vec<Action>,
    ) {
        match request {
            Request::Ehlo { .. } | Request::Helo { .. } if self.config.lmtp => {
                self.error(actions, reply(500, "5.5.1 This is LMTP: use LHLO"));
            }
            Request::Lhlo { .. } if !self.config.lmtp => {
                self.error(actions, reply(500, "5.5.1 Command unrecognized"));
            }
            Request::Ehlo { host } | Request::Lhlo { host } => {
                self.helo = Some(host.into_owned());
                self.envelope = None;
                actions.push(Action::Reply(self.ehlo_reply()));
            }
            Request::Helo { host } => {
                self.helo = Some(host.into_owned());
                self.envelope = None;
                actions.push(Action::Reply(Reply::line(250, &self.hostname)));
            }
            Request::Mail { from } => self.mail(from, line, actions),
            Request::Rcpt { to } => self.rcpt(to.address, line, actions),
            Request::Data => self.data(actions),
            Request::Rset => {
                self.envelope = None;
                push(actions, reply(250, "2.0.0 Ok"));
            }
            Request::Noop { .. } => push(actions, reply(250, "2.0.0 Ok")),
            Request::Quit => {
                actions.push(Action::Reply(Reply::line(
                    221,
                    &format!("2.0.0 {} Bye", self.hostname),
                )));
                actions.push(Action::Close);
                self.phase = Phase::Closed;
            }
            Request::Vrfy { .. } => push(
                actions,
                reply(
                    252,
                    "2.5.0 Cannot VRFY user, but will accept message and attempt delivery",
                ),
            ),
            Request::Help { .. } => {
                let mut commands = String::from(if self.config.lmtp {
                    "LHLO"
                } else {
                    "EHLO HELO"
                });
                commands.push_str(" MAIL RCPT DATA RSET NOOP QUIT VRFY HELP");
                if self.starttls_offered() {
                    commands.push_str(" STARTTLS");
                }
                if self.auth_offered() {
                    commands.push_str(" AUTH");
                }
                actions.push(Action::Reply(Reply::line(
                    214,
                    &format!("2.0.0 Commands: {commands}"),
                )));
            }
            Request::StartTls => self.starttls(actions),
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, &initial_response, actions),
            Request::Expn { .. }
            | Request::Bdat { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => {
                self.error(actions, reply(502, "5.5.1 Command not implemented"));
            }
        }
    }

    fn starttls_offered(&self) -> bool {
        self.config.tls_available && !self.tls_active
    }

    fn auth_offered(&self) -> bool {
        self.tls_active
            && self.config.auth != AuthPolicy::Disabled
            && self.authenticated_as.is_none()
    }

    fn ehlo_reply(&self) -> Reply {
        let mut lines = vec![
            self.hostname.clone(),
            "PIPELINING".to_owned(),
            format!("SIZE {}", self.config.max_message_size),
            "8BITMIME".to_owned(),
            "SMTPUTF8".to_owned(),
            "ENHANCEDSTATUSCODES".to_owned(),
        ];
        if self.starttls_offered() {
            lines.push("STARTTLS".to_owned());
        }
        if self.auth_offered() {
            lines.push("AUTH PLAIN".to_owned());
        }
        lines.push("HELP".to_owned());
        Reply::multi(250, &lines)
    }

    fn mail(
        &mut self,
        from: smtp_proto::MailFrom<std::borrow::Cow<'_, str>>,
        line: &[u8],
        actions: &mut Vec<Action>,
    ) {
        if self.helo.is_none() {
            let text = if self.config.lmtp {
                "5.5.1 Send LHLO first"
            } else {
                "5.5.1 Send EHLO or HELO first"
            };
            return self.error(actions, reply(503, text));
        }
        if self.envelope.is_some() {
            return self.error(actions, reply(503, "5.5.1 Nested MAIL command"));
        }
        if self.config.auth == AuthPolicy::Required && self.authenticated_as.is_none() {
            let text = if self.tls_active || !self.config.tls_available {
                "5.7.0 Authentication required"
            } else {
                "5.7.0 Must issue a STARTTLS command first"
            };
            return self.error(actions, reply(530, text));
        }
        if from.flags & MAIL_BODY_BINARYMIME != 0 {
            return self.error(actions, reply(555, "5.5.4 BODY=BINARYMIME not supported"));
        }
        let size = from.size as u64;
        if size > self.config.max_message_size {
            push(
                actions,
                reply(552, "5.3.4 Message size exceeds fixed maximum message size"),
            );
            return;
        }
        let mail_from = if from.address.is_empty() {
            mentions_postmaster(line).then(|| "postmaster".to_owned())
        } else {
            Some(from.address.into_owned())
        };
        self.envelope = Some(Envelope {
            mail_from,
            rcpt_to: Vec::new(),
            rcpt_refused: 0,
            body_8bit: from.flags & MAIL_BODY_8BITMIME != 0,
            smtputf8: from.flags & MAIL_SMTPUTF8 != 0,
            size_declared: (size > 0).then_some(size),
        });
        push(actions, reply(250, "2.1.0 Sender Ok"));
    }

    fn rcpt(&mut self, address: std::borrow::Cow<'_, str>, line: &[u8], actions: &mut Vec<Action>) {
        let max_recipients = self.config.max_recipients;
        let Some(envelope) = self.envelope.as_mut() else {
            return self.error(actions, reply(503, "5.5.1 Need MAIL command first"));
        };
        let address = if address.is_empty() {
            // smtp-proto maps both `<>` and `<postmaster>` to "".
            if !mentions_postmaster(line) {
                envelope.rcpt_refused += 1;
                return self.error(actions, reply(501, "5.1.3 Bad recipient address syntax"));
            }
            "postmaster".to_owned()
        } else {
            address.into_owned()
        };
        if envelope.rcpt_to.len() >= max_recipients {
            envelope.rcpt_refused += 1;
            push(actions, reply(452, "4.5.3 Too many recipients"));
            return;
        }
        envelope.rcpt_to.push(address);
        push(actions, reply(250, "2.1.5 Recipient Ok"));
    }

    fn data(&mut self, actions: &mut Vec<Action>) {
        let Some(envelope) = self.envelope.as_ref() else {
            return self.error(actions, reply(503, "5.5.1 Need MAIL command first"));
        };
        if envelope.rcpt_to.is_empty() {
            let reply = if envelope.rcpt_refused > 0 {
                reply(554, "5.5.1 No valid recipients")
            } else {
                reply(503, "5.5.1 Need RCPT command first")
            };
            return self.error(actions, reply);
        }
        // What the client declared is reserved now (SIZE above the limit was refused at
        // MAIL), so that a message that cannot fit is refused before it is sent.
        let expected = envelope
            .size_declared
            .unwrap_or(DATA_FIRST_RESERVATION)
            .min(self.config.max_message_size);
        match MessageBuffer::new(&self.memory, self.config.max_message_size, expected) {
            Ok(buffer) => {
                self.phase = Phase::Data(DataReceiver::new(buffer));
                push(
                    actions,
                    reply(354, "Start mail input; end with <CRLF>.<CRLF>"),
                );
            }
            Err(_) => actions.push(Action::Reply(
                DeliveryOutcome::TempFail(TempFailure::Storage).reply(),
            )),
        }
    }

    fn end_of_data(&mut self, actions: &mut Vec<Action>) {
        let Phase::Data(receiver) = std::mem::replace(&mut self.phase, Phase::Command) else {
            return;
        };
        let Some(envelope) = self.envelope.take() else {
            return;
        };
        if let Some(refused) = receiver.refused() {
            let replies = if self.config.lmtp {
                envelope.rcpt_to.len()
            } else {
                1
            };
            let refusal = match refused {
                BufferFull::TooLarge => {
                    reply(552, "5.3.4 Message size exceeds fixed maximum message size")
                }
                BufferFull::OverBudget => DeliveryOutcome::TempFail(TempFailure::Storage).reply(),
            };
            for _ in 0..replies {
                push(actions, refusal.clone());
            }
            return;
        }
        let (data, memory) = receiver.into_data();
        self.delivering_memory = Some(memory);
        self.delivering_recipients = envelope.rcpt_to.len();
        self.phase = Phase::AwaitDelivery;
        actions.push(Action::Deliver(Transaction {
            mail_from: envelope.mail_from,
            rcpt_to: envelope.rcpt_to,
            helo: self.helo.clone(),
            data,
            body_8bit: envelope.body_8bit,
            smtputf8: envelope.smtputf8,
            size_declared: envelope.size_declared,
            authenticated_as: self.authenticated_as.clone(),
        }));
    }

    fn starttls(&mut self, actions: &mut Vec<Action>) {
        if self.tls_active {
            return self.error(actions, reply(503, "5.5.1 TLS already active"));
        }
        if !self.config.tls_available {
            return self.error(actions, reply(502, "5.5.1 STARTTLS not available"));
        }
        push(actions, reply(220, "2.0.0 Ready to start TLS"));
        actions.push(Action::StartTls);
        self.phase = Phase::AwaitTls;
    }

    fn auth(&mut self, mechanism: u64, initial_response: &str, actions: &mut Vec<Action>) {
        if self.config.auth == AuthPolicy::Disabled {
            return self.error(actions, reply(503, "5.5.1 Authentication not enabled"));
        }
        if !self.tls_active {
            return self.error(
                actions,
                reply(
                    538,
                    "5.7.11 Encryption required for requested authentication mechanism",
                ),
            );
        }
        if self.helo.is_none() {
            return self.error(actions, reply(503, "5.5.1 Send EHLO first"));
        }
        if self.authenticated_as.is_some() {
            return self.error(actions, reply(503, "5.5.1 Already authenticated"));
        }
        if self.envelope.is_some() {
            return self.error(
                actions,
                reply(503, "5.5.1 AUTH not allowed during a transaction"),
            );
        }
        if mechanism != AUTH_PLAIN {
            return self.error(
                actions,
                reply(504, "5.5.4 Unrecognized authentication type"),
            );
        }
        if initial_response.is_empty() {
            self.phase = Phase::AuthResponse;
            actions.push(Action::Reply(Reply::line(334, "")));
            return;
        }
        let response = if initial_response == "=" {
            ""
        } else {
            initial_response
        };
        self.auth_plain(response.as_bytes(), actions);
    }

    /// Decodes an AUTH PLAIN response (RFC 4616) and asks the driver to check it.
    fn auth_plain(&mut self, response: &[u8], actions: &mut Vec<Action>) {
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        let Ok(decoded) = engine.decode(response) else {
            return self.error(actions, reply(501, "5.5.2 Cannot decode response"));
        };
        let mut parts = decoded.split(|&b| b == 0);
        let (Some(authzid), Some(username), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return self.error(actions, reply(501, "5.5.2 Malformed PLAIN response"));
        };
        let (Ok(authzid), Ok(username), Ok(password)) = (
            std::str::from_utf8(authzid),
            std::str::from_utf8(username),
            std::str::from_utf8(password),
        ) else {
            return self.error(actions, reply(501, "5.5.2 Malformed PLAIN response"));
        };
        if username.is_empty() || (!authzid.is_empty() && authzid != username) {
            return self.error(
                actions,
                Reply::line(535, "5.7.8 Authentication credentials invalid"),
            );
        }
        self.phase = Phase::AwaitAuth;
        actions.push(Action::Authenticate(Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
        }));
    }

    /// Emits an error reply and counts it; at the limit, closes with `421`.
    fn error(&mut self, actions: &mut Vec<Action>, reply: Reply) {
        actions.push(Action::Reply(reply));
        self.errors += 1;
        if self.errors >= self.config.max_errors {
            actions.push(Action::Reply(Reply::line(
                421,
                &format!(
                    "4.7.0 {} Too many errors, closing connection",
                    self.hostname
                ),
            )));
            actions.push(Action::Close);
            self.phase = Phase::Closed;
        }
    }
}

/// A one-line reply.
fn reply(code: u16, text: &str) -> Reply {
    Reply::line(code, text)
}

/// Queues a reply.
fn push(actions: &mut Vec<Action>, reply: Reply) {
    actions.push(Action::Reply(reply));
}

/// Keeps only printable ASCII; never empty.
fn clean_hostname(hostname: &str) -> String {
    let cleaned: String = hostname.chars().filter(|c| c.is_ascii_graphic()).collect();
    if cleaned.is_empty() {
        "localhost".to_owned()
    } else {
        cleaned
    }
}

/// Strips the trailing LF and an optional CR.
fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Whether the path between `<` and `>` on a MAIL/RCPT line is `postmaster`.
fn mentions_postmaster(line: &[u8]) -> bool {
    let Some(start) = memchr::memchr(b'<', line) else {
        return false;
    };
    let Some(len) = memchr::memchr(b'>', &line[start..]) else {
        return false;
    };
    line[start + 1..start + len].eq_ignore_ascii_case(b"postmaster")
}
