//! Retention policies and where they apply.

use serde::{Deserialize, Serialize};

use crate::period::Period;

/// A named retention policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Name, unique (lowercase letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// How long it keeps mail.
    pub period: Period,
    /// Version: 1 when created, one more at each change.
    pub version: u32,
}

/// What a policy is assigned to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Target {
    /// Everything no other assignment reaches.
    Default,
    /// Every mailbox of a domain (lowercase domain name).
    Domain(String),
    /// Every mailbox of the users in a group.
    Group(String),
    /// One mailbox (lowercase address).
    Mailbox(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Default => f.write_str("default"),
            Target::Domain(d) => write!(f, "domain {d}"),
            Target::Group(g) => write!(f, "group {g}"),
            Target::Mailbox(m) => write!(f, "mailbox {m}"),
        }
    }
}

/// A policy assigned to a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// What the policy applies to.
    pub target: Target,
    /// The policy's name.
    pub policy: String,
}

/// All policies and assignments in force.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyBook {
    /// The policies, by name.
    pub policies: Vec<Policy>,
    /// Their assignments.
    pub assignments: Vec<Assignment>,
}

impl PolicyBook {
    /// The policy named `name`.
    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.name == name)
    }

    /// The assignments that reach a mailbox of `domain` owned by users in `groups`.
    pub fn assignments_for<'a>(
        &'a self,
        address: &'a str,
        domain: &'a str,
        groups: &'a [String],
    ) -> impl Iterator<Item = &'a Assignment> + 'a {
        self.assignments.iter().filter(move |a| match &a.target {
            Target::Default => false,
            Target::Domain(d) => d.eq_ignore_ascii_case(domain),
            Target::Group(g) => groups.iter().any(|x| x == g),
            Target::Mailbox(m) => m.eq_ignore_ascii_case(address),
        })
    }

    /// The default assignment, if any.
    pub fn default_assignment(&self) -> Option<&Assignment> {
        self.assignments
            .iter()
            .find(|a| a.target == Target::Default)
    }
}
