//! Coffer's retention engine: how long each message is kept and why, which legal holds
//! stop its clock, and whether a disposition run may remove it.
//!
//! The engine is pure (no I/O, no clock of its own): [`manage`] gathers the facts — a
//! message's date and flags, its mailboxes with their domains and groups, the policies
//! and their assignments, the holds in force and which of them a message falls under —
//! and the engine decides. Everything that decides whether mail may be destroyed lives
//! here, in one place, tested as a table.
//!
//! Rules (DESIGN.md principle 7, issue 26):
//! - A policy is a duration (days or years) or "forever". It is assigned to domains,
//!   groups and mailboxes; one policy may be the default for everything else.
//! - Every policy that applies to any of a message's mailboxes — the mailbox's own, its
//!   owners' groups', its domain's — counts, and the **longest** wins. The default
//!   applies only when no assignment reaches any of the message's mailboxes.
//! - The period counts from the message date, or from the receive time when the date is
//!   flagged unreliable (or missing).
//! - Anything uncertain keeps the message: no policy at all (and no default), an
//!   assignment naming an unknown policy, a date that cannot be computed.
//! - A legal hold beats every policy: a held message is never eligible.
//!
//! - [`Period`]: a retention duration and the date it ends.
//! - [`PolicyBook`]: policies and assignments; which apply to a message.
//! - [`Hold`]: a legal hold's scope and whether it covers a message.
//! - [`decide`]: the verdict for one message, with its reasons ([`Decision`]).
//! - [`disposition`]: what a disposition run must satisfy (four eyes, holds unchanged).
//! - [`manage`]: the I/O around the engine — policies, assignments, proposals and holds
//!   stored in the catalog, every change audited; explanations and the report.
//! - [`rotation`]: sealing a year's volume once the year and a grace period are over.
//! - [`runs`]: disposition runs — propose, approve (four eyes), execute by
//!   crypto-shredding, and the signed certificate.
//! - [`volumes`]: deleting a whole sealed volume once every message in it is disposed
//!   of (no hold covering it, no link into kept mail), keeping its evidence.

pub mod disposition;
mod hold;
pub mod manage;
mod period;
mod policy;
pub mod rotation;
pub mod runs;
mod verdict;
pub mod volumes;

pub use hold::{Hold, HoldScope};
pub use period::{ParsePeriodError, Period};
pub use policy::{Assignment, Policy, PolicyBook, Target};
pub use verdict::{Decision, KeptBecause, MailboxFacts, MessageFacts, decide};
