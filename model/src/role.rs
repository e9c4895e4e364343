//! Roles, THE capability table (who may do what; DESIGN.md, "Roles") and search scopes.
//!
//! [`allows`] is the only place that says which role has which [`Capability`]: the HTTP
//! layer checks every request against it, the SMTP listener checks journal tokens against
//! it, and the command line reads it to explain refusals.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a principal may do (see DESIGN.md, "Roles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages domains, users, groups, rules and policies; sees no content.
    Admin,
    /// Searches and exports across the mailboxes of their domains; manages holds.
    Officer,
    /// Verifies integrity and reads the audit trail; sees no content.
    Auditor,
    /// Reads their own mailboxes.
    User,
    /// A mail server submitting journaled messages.
    Journal,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Officer,
        Role::Auditor,
        Role::User,
        Role::Journal,
    ];

    /// The lowercase name used in the API, the catalog and the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Officer => "officer",
            Role::Auditor => "auditor",
            Role::User => "user",
            Role::Journal => "journal",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim().to_ascii_lowercase();
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Role::ALL.into_iter().map(Role::as_str).collect();
                let (last, rest) = names.split_last().expect("there are roles");
                format!(
                    "unknown role {name:?} (expected {} or {last})",
                    rest.join(", ")
                )
            })
    }
}

/// What an action needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Manage domains, users, groups (admin).
    ManageAccounts,
    /// Search and read message content in scope (officer, user).
    ReadContent,
    /// Inclusion proofs (officer in scope; admin and auditor by id, without content).
    ReadProofs,
    /// List volumes (admin, officer, auditor).
    ReadVolumes,
    /// Run a verification (auditor).
    RunVerification,
    /// Read the audit trail (admin, auditor; officer: own actions only).
    ReadAudit,
    /// Submit journaled messages (journal tokens, over HTTP or SMTP/LMTP AUTH).
    SubmitMessages,
    /// End one's own session (every person).
    OwnSession,
    /// Set retention policies and their assignments, approve shortenings (admin).
    ManageRetention,
    /// Read policies, why a message is kept, the retention report (admin, officer,
    /// auditor).
    ReadRetention,
    /// Place and release legal holds (officer).
    ManageHolds,
    /// Read legal holds (officer: of their domains; auditor: all).
    ReadHolds,
    /// Propose, approve and reject disposition runs (four eyes: the approver must be
    /// another person than the proposer; `coffer-retention` checks that).
    ManageDispositions,
    /// Read disposition runs and their signed certificates.
    ReadDispositions,
}

impl Capability {
    /// Every capability (what the web UI asks about a role: [`allows`] for each).
    pub const ALL: [Capability; 14] = [
        Capability::ManageAccounts,
        Capability::ReadContent,
        Capability::ReadProofs,
        Capability::ReadVolumes,
        Capability::RunVerification,
        Capability::ReadAudit,
        Capability::SubmitMessages,
        Capability::OwnSession,
        Capability::ManageRetention,
        Capability::ReadRetention,
        Capability::ManageHolds,
        Capability::ReadHolds,
        Capability::ManageDispositions,
        Capability::ReadDispositions,
    ];

    /// The name used as the audit action of a denied request.
    pub fn name(self) -> &'static str {
        match self {
            Capability::ManageAccounts => "accounts.manage",
            Capability::ReadContent => "content.read",
            Capability::ReadProofs => "proof.read",
            Capability::ReadVolumes => "volumes.read",
            Capability::RunVerification => "volumes.verify",
            Capability::ReadAudit => "audit.read",
            Capability::SubmitMessages => "messages.submit",
            Capability::OwnSession => "session",
            Capability::ManageRetention => "retention.manage",
            Capability::ReadRetention => "retention.read",
            Capability::ManageHolds => "holds.manage",
            Capability::ReadHolds => "holds.read",
            Capability::ManageDispositions => "dispositions.manage",
            Capability::ReadDispositions => "dispositions.read",
        }
    }
}

/// Whether `role` has `capability`: the one role table.
pub fn allows(role: Role, capability: Capability) -> bool {
    use Capability as C;
    use Role as R;
    match capability {
        C::ManageAccounts => role == R::Admin,
        C::ReadContent => matches!(role, R::Officer | R::User),
        C::ReadProofs => matches!(role, R::Officer | R::Auditor | R::Admin),
        C::ReadVolumes => matches!(role, R::Admin | R::Officer | R::Auditor),
        C::RunVerification => role == R::Auditor,
        C::ReadAudit => matches!(role, R::Admin | R::Auditor | R::Officer),
        C::SubmitMessages => role == R::Journal,
        C::OwnSession => matches!(role, R::Admin | R::Officer | R::Auditor | R::User),
        C::ManageRetention => role == R::Admin,
        C::ReadRetention => matches!(role, R::Admin | R::Officer | R::Auditor),
        C::ManageHolds => role == R::Officer,
        C::ReadHolds => matches!(role, R::Officer | R::Auditor),
        C::ManageDispositions => role == R::Admin,
        C::ReadDispositions => matches!(role, R::Admin | R::Officer | R::Auditor),
    }
}

/// Which messages a search or lookup may return.
///
/// A message is in scope when the scope is `All`, or when one of its mailboxes is in
/// `mailboxes`, or when the domain of one of its mailboxes is in `domains`. Addresses
/// and domains are compared lowercased. An empty restricted scope matches nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// Every message (officers with an unrestricted scope, the command line).
    All,
    /// Only messages with a mailbox in one of these addresses or domains.
    Restricted {
        /// Mailbox addresses, lowercased.
        mailboxes: BTreeSet<String>,
        /// Mailbox domains, lowercased.
        domains: BTreeSet<String>,
    },
}

impl Scope {
    /// A scope limited to the given mailbox addresses.
    pub fn mailboxes<I: IntoIterator<Item = S>, S: AsRef<str>>(addresses: I) -> Self {
        Scope::Restricted {
            mailboxes: addresses
                .into_iter()
                .map(|a| a.as_ref().to_ascii_lowercase())
                .collect(),
            domains: BTreeSet::new(),
        }
    }

    /// A scope limited to the given mailbox domains.
    pub fn domains<I: IntoIterator<Item = S>, S: AsRef<str>>(domains: I) -> Self {
        Scope::Restricted {
            mailboxes: BTreeSet::new(),
            domains: domains
                .into_iter()
                .map(|d| d.as_ref().to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether a message with these mailboxes is in scope.
    pub fn admits<'a, I: IntoIterator<Item = &'a str>>(&self, message_mailboxes: I) -> bool {
        match self {
            Scope::All => true,
            Scope::Restricted { mailboxes, domains } => message_mailboxes.into_iter().any(|m| {
                let m = m.to_ascii_lowercase();
                let domain = m.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
                mailboxes.contains(&m) || domains.contains(domain)
            }),
        }
    }
}

/// Which of a message's hidden recipients — Bcc and envelope-only recipients, other
/// archive mailboxes, delivery headers naming them — a caller may learn.
///
/// A custodian sees a message as they received it: their own addresses among its
/// recipients, no one else's Bcc. An officer sees everything (the journal report is the
/// evidence).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RecipientView {
    /// Every recipient.
    #[default]
    All,
    /// Only these addresses (lowercased) of the caller's own.
    Own(BTreeSet<String>),
}

impl RecipientView {
    /// Only `addresses` (lowercased here).
    pub fn own<I: IntoIterator<Item = S>, S: AsRef<str>>(addresses: I) -> Self {
        RecipientView::Own(
            addresses
                .into_iter()
                .map(|a| a.as_ref().trim().to_ascii_lowercase())
                .collect(),
        )
    }

    /// Whether the caller may learn that `address` is a (hidden) recipient.
    pub fn shows(&self, address: &str) -> bool {
        match self {
            RecipientView::All => true,
            RecipientView::Own(own) => own.contains(&address.trim().to_ascii_lowercase()),
        }
    }

    /// `addresses` without those the caller may not learn.
    pub fn visible(&self, addresses: Vec<String>) -> Vec<String> {
        match self {
            RecipientView::All => addresses,
            RecipientView::Own(_) => addresses.into_iter().filter(|a| self.shows(a)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_admits_by_mailbox_or_domain() {
        let s = Scope::mailboxes(["Alice@Example.com"]);
        assert!(s.admits(["alice@example.com"]));
        assert!(!s.admits(["bob@example.com"]));
        let d = Scope::domains(["example.com"]);
        assert!(d.admits(["x@bob.com", "BOB@EXAMPLE.COM"]));
        assert!(!d.admits(["x@example.com.evil"]));
        assert!(!Scope::mailboxes(Vec::<String>::new()).admits(["a@b"]));
        assert!(Scope::All.admits(std::iter::empty()));
    }

    #[test]
    fn recipient_view_shows_only_own_addresses() {
        let own = RecipientView::own(["Ann@Example.com"]);
        assert!(own.shows("ann@example.com"));
        assert!(!own.shows("bob@example.com"));
        assert_eq!(
            own.visible(vec!["bob@example.com".into(), "ann@example.com".into()]),
            vec!["ann@example.com".to_string()]
        );
        assert!(RecipientView::All.shows("anyone@example.com"));
    }

    #[test]
    fn roles_parse() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
            assert_eq!(
                format!(" {} ", r.as_str().to_uppercase()).parse::<Role>(),
                Ok(r)
            );
        }
        assert_eq!(
            "root".parse::<Role>(),
            Err("unknown role \"root\" (expected admin, officer, auditor, user or journal)".into())
        );
    }

    #[test]
    fn all_lists_every_role_once() {
        // No wildcard: a new role does not compile until it is counted here, which is
        // the reminder to add it to `Role::ALL`.
        const VARIANTS: usize = 5;
        let _exhaustive = |role: Role| match role {
            Role::Admin | Role::Officer | Role::Auditor | Role::User | Role::Journal => (),
        };
        let distinct: std::collections::BTreeSet<&str> =
            Role::ALL.into_iter().map(Role::as_str).collect();
        assert_eq!(distinct.len(), VARIANTS);
    }
}
