//! The verdict for one message: kept until when, and why; held by what; eligible for
//! disposition or not.

use serde::{Deserialize, Serialize};

use crate::hold::Hold;
use crate::policy::{PolicyBook, Target};

/// One mailbox a message is linked to, with what policies may be assigned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxFacts {
    /// The address (lowercase).
    pub address: String,
    /// Its domain (lowercase).
    pub domain: String,
    /// The groups of the users who own it.
    pub groups: Vec<String>,
}

/// What the engine needs to know about a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageFacts {
    /// The message's own date (Unix seconds), if it has one.
    pub date: Option<i64>,
    /// Whether that date is flagged unreliable.
    pub date_unreliable: bool,
    /// Receive time (Unix seconds).
    pub received: i64,
    /// The mailboxes it is linked to.
    pub mailboxes: Vec<MailboxFacts>,
}

impl MessageFacts {
    /// The moment the retention clock counts from: the message date, or the receive time
    /// when the date is unreliable or missing.
    pub fn clock_start(&self) -> i64 {
        match self.date {
            Some(d) if !self.date_unreliable => d,
            _ => self.received,
        }
    }
}

/// Why a message is kept as long as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum KeptBecause {
    /// A policy decides: the longest that applies.
    Policy {
        /// The policy's name.
        policy: String,
        /// Its version.
        version: u32,
        /// What it is assigned to.
        target: Target,
        /// The mailbox through which it applies (none for the default).
        mailbox: Option<String>,
    },
    /// No policy applies and there is no default: kept (fail-safe).
    NoPolicy,
    /// An assignment names a policy that does not exist: kept (fail-safe).
    UnknownPolicy {
        /// The missing policy's name.
        policy: String,
        /// What the assignment is for.
        target: Target,
    },
}

/// The verdict for one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The moment the clock counts from (Unix seconds).
    pub clock_start: i64,
    /// Kept until this moment (Unix seconds); `None`: kept for ever (a "forever" policy,
    /// no policy, or an uncertainty).
    pub keep_until: Option<i64>,
    /// Why.
    pub because: KeptBecause,
    /// The holds in force that cover it (ids).
    pub held_by: Vec<i64>,
    /// Whether a disposition run may remove it now: its period has ended and no hold
    /// covers it.
    pub eligible: bool,
}

/// Decides for one message at `now_us`. `query_matches(hold)` says whether the message
/// matched that hold's query (the index answers it; it is only asked for holds with one).
pub fn decide(
    facts: &MessageFacts,
    book: &PolicyBook,
    holds: &[Hold],
    now_us: i64,
    mut query_matches: impl FnMut(&Hold) -> bool,
) -> Decision {
    let start = facts.clock_start();
    let (keep_until, because) = retention(facts, book, start);
    let mailboxes: Vec<&str> = facts.mailboxes.iter().map(|m| m.address.as_str()).collect();
    let held_by: Vec<i64> = holds
        .iter()
        .filter(|h| h.in_force(now_us))
        .filter(|h| {
            let matched = h.scope.query.is_some() && query_matches(h);
            h.covers(&mailboxes, Some(start), matched)
        })
        .map(|h| h.id)
        .collect();
    let now = now_us.div_euclid(1_000_000);
    let expired = keep_until.is_some_and(|until| until <= now);
    Decision {
        clock_start: start,
        keep_until,
        eligible: expired && held_by.is_empty(),
        because,
        held_by,
    }
}

/// The longest retention that applies, and why; `None` keeps for ever.
fn retention(facts: &MessageFacts, book: &PolicyBook, start: i64) -> (Option<i64>, KeptBecause) {
    let mut reached: Vec<(&crate::policy::Assignment, Option<&str>)> = Vec::new();
    for m in &facts.mailboxes {
        for a in book.assignments_for(&m.address, &m.domain, &m.groups) {
            reached.push((a, Some(m.address.as_str())));
        }
    }
    if reached.is_empty() {
        match book.default_assignment() {
            Some(a) => reached.push((a, None)),
            None => return (None, KeptBecause::NoPolicy),
        }
    }
    // Longest wins; "forever" (no end) beats every end; the first found among equals
    // (mailbox order, then assignment order) is named.
    let mut best: Option<(Option<i64>, KeptBecause)> = None;
    for (assignment, mailbox) in reached {
        let Some(policy) = book.policy(&assignment.policy) else {
            return (
                None,
                KeptBecause::UnknownPolicy {
                    policy: assignment.policy.clone(),
                    target: assignment.target.clone(),
                },
            );
        };
        let end = policy.period.end(start);
        let longer = match &best {
            None => true,
            Some((None, _)) => false,
            Some((Some(b), _)) => end.is_none_or(|e| e > *b),
        };
        if longer {
            best = Some((
                end,
                KeptBecause::Policy {
                    policy: policy.name.clone(),
                    version: policy.version,
                    target: assignment.target.clone(),
                    mailbox: mailbox.map(str::to_string),
                },
            ));
        }
    }
    best.unwrap_or((None, KeptBecause::NoPolicy))
}
