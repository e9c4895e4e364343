//! What a disposition run must satisfy before it executes.
//!
//! A run is proposed as a list of eligible messages (with counts per policy and year) at
//! a moment when a given set of holds was in force. It executes only when:
//! - a second, different person approves it (four eyes), and
//! - the holds are the ones it was proposed under: a hold placed (or changed) after the
//!   proposal invalidates it, because the list was computed without it. A release does
//!   not invalidate it (the list only holds back less than it could; a new proposal
//!   picks the released mail up).
//!
//! And every message is decided again at execution: one that is no longer eligible
//! (held since, policy lengthened) is skipped, never removed.

use serde::{Deserialize, Serialize};

use crate::hold::Hold;

/// Why a proposed run may not execute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum Refusal {
    /// The approver proposed it.
    #[error("a disposition run needs a second person: {0} proposed it and cannot approve it")]
    SamePerson(String),
    /// Holds were placed after the proposal.
    #[error("legal holds placed since the proposal ({0:?}); propose the run again")]
    HoldsChanged(Vec<i64>),
    /// It was already approved, executed or withdrawn.
    #[error("the run is {0}, not proposed")]
    NotProposed(String),
}

/// The holds a proposal was computed under: the ids in force, and the newest placement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldSnapshot {
    /// Ids of the holds in force at proposal time.
    pub in_force: Vec<i64>,
}

impl HoldSnapshot {
    /// The snapshot of `holds` at `now_us`.
    pub fn take(holds: &[Hold], now_us: i64) -> Self {
        let mut in_force: Vec<i64> = holds
            .iter()
            .filter(|h| h.in_force(now_us))
            .map(|h| h.id)
            .collect();
        in_force.sort_unstable();
        Self { in_force }
    }

    /// The holds in force at `now_us` that the snapshot does not know.
    pub fn new_since(&self, holds: &[Hold], now_us: i64) -> Vec<i64> {
        let mut new: Vec<i64> = holds
            .iter()
            .filter(|h| h.in_force(now_us) && self.in_force.binary_search(&h.id).is_err())
            .map(|h| h.id)
            .collect();
        new.sort_unstable();
        new
    }
}

/// Checks that `approver` may approve a run proposed by `proposer` under `snapshot`, with
/// `holds` as they are now.
pub fn may_approve(
    proposer: &str,
    approver: &str,
    snapshot: &HoldSnapshot,
    holds: &[Hold],
    now_us: i64,
) -> Result<(), Refusal> {
    if proposer.eq_ignore_ascii_case(approver) {
        return Err(Refusal::SamePerson(proposer.to_string()));
    }
    let new = snapshot.new_since(holds, now_us);
    if !new.is_empty() {
        return Err(Refusal::HoldsChanged(new));
    }
    Ok(())
}

/// Whether changing a policy from `old` to `new` shortens it — then it needs a second
/// administrator's approval when mail it applies to exists.
pub fn shortens(old: &crate::Period, new: &crate::Period) -> bool {
    !new.at_least(old)
}
