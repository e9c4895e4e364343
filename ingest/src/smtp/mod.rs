//! The SMTP and LMTP receiver: how journal sources hand messages to Coffer.
//!
//! - [`proto`]: the protocol as a pure, byte-fed state machine ([`SmtpSession`]), tested
//!   without sockets (the split of Stalwart's `imap-proto` and `imap`).
//! - [`session`]: the thin tokio driver: listener, allowlist, session limit, timeouts,
//!   STARTTLS (rustls), graceful shutdown, and the [`DeliverySink`] seam through which
//!   messages reach the volume. A `250` is written only after the sink reports the
//!   message durable.
//! - [`access`]: the client address allowlist ([`Cidr`]).
//! - [`delivery`]: the [`DeliverySink`] into the journaling pipeline, AUTH against journal
//!   tokens, and starting a listener.
//!
//! Logs carry session ids, sizes, counts, reply codes, timings, client IPs and HELO
//! names; never envelope addresses, never content.

pub mod access;
pub(crate) mod data;
pub mod delivery;
pub mod proto;
pub mod session;

#[cfg(test)]
mod proto_tests;
#[cfg(test)]
mod session_tests;

pub use access::Cidr;
pub use proto::{
    Action, AuthPolicy, CloseReason, ConnectionInfo, Credentials, DeliveryOutcome, PermFailure,
    Reply, SmtpConfig, SmtpSession, TempFailure, Transaction,
};
pub use session::{
    Authenticator, BoxFuture, Delivery, DeliverySink, Exposure, Protocol, SessionSummary,
    SmtpServerConfig, run_listener, serve_connection, tls_config, tls_config_from_pem,
};
