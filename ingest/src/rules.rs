//! Archiving rules: which journaled messages are kept, and for which mailboxes.
//!
//! For each user or group an administrator chooses to archive **internal** mail only,
//! **external** mail only, **both** (the default) or **none**. Local domains define
//! internal: a message is internal when its sender and every recipient are in local
//! domains; otherwise it is external.
//!
//! A mailbox's effective rule: the rule set on its user, if any; otherwise the rules of
//! the user's groups, where a message is admitted if any group's rule admits it (when
//! groups disagree, keeping the mail is the safe side for an archive); otherwise — no
//! user, or a user with no rule in any of their groups — **both**.
//!
//! A message is stored when at least one of its mailboxes' effective rules admits it,
//! and is linked only to those mailboxes. [`evaluate`] is a pure function;
//! [`rules_from_catalog`] reads the rules the administrator set on users and groups.
//!
//! In the catalog the stored value `both` is the default and means "no restriction set":
//! on a user it defers to the groups, on a group it adds nothing. So `none` on a user
//! excludes their journaled mail; `none` on a group excludes it for members whose own
//! rule is the default, unless another of their groups admits it. A mailbox no user owns,
//! or a catalog that cannot be read, gets the default: archive (the safe side for an
//! archive; the failure is logged).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use coffer_catalog::Catalog;
use serde::{Deserialize, Serialize};

/// What to archive for a user or group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// Only mail whose sender and recipients are all in local domains.
    Internal,
    /// Only mail with a sender or a recipient outside the local domains.
    External,
    /// Everything.
    Both,
    /// Nothing.
    None,
}

impl Rule {
    /// Whether this rule admits a message of this direction.
    pub fn admits(self, internal: bool) -> bool {
        match self {
            Rule::Both => true,
            Rule::None => false,
            Rule::Internal => internal,
            Rule::External => !internal,
        }
    }

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Internal => "internal",
            Rule::External => "external",
            Rule::Both => "both",
            Rule::None => "none",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Rule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "internal" => Ok(Rule::Internal),
            "external" => Ok(Rule::External),
            "both" => Ok(Rule::Both),
            "none" => Ok(Rule::None),
            other => Err(format!(
                "unknown archiving rule {other:?} (internal, external, both or none)"
            )),
        }
    }
}

/// The rules that apply to one mailbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxRules {
    /// The rule set on the mailbox's user, if any.
    pub user: Option<Rule>,
    /// The rules of the user's groups (those that set one).
    pub groups: Vec<Rule>,
}

impl MailboxRules {
    /// Whether the mailbox keeps a message of this direction.
    pub fn admits(&self, internal: bool) -> bool {
        match (self.user, self.groups.is_empty()) {
            (Some(rule), _) => rule.admits(internal),
            (None, false) => self.groups.iter().any(|r| r.admits(internal)),
            (None, true) => Rule::Both.admits(internal),
        }
    }
}

/// Whether a message is internal: its sender and every recipient are in local domains.
/// A message with no known sender counts as external.
pub fn is_internal<'a>(
    sender: Option<&str>,
    recipients: impl IntoIterator<Item = &'a str>,
    local_domains: &[String],
) -> bool {
    let local = |address: &str| {
        address.rsplit_once('@').is_some_and(|(_, d)| {
            local_domains
                .iter()
                .any(|l| l.eq_ignore_ascii_case(d.trim()))
        })
    };
    let Some(sender) = sender else { return false };
    local(sender) && recipients.into_iter().all(local)
}

/// The decision for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the message is internal.
    pub internal: bool,
    /// The mailboxes whose rules admit it (store and link to these).
    pub admitted: Vec<String>,
    /// The mailboxes whose rules refuse it.
    pub refused: Vec<String>,
}

impl Decision {
    /// Whether the message is stored at all: some mailbox admits it, or it has no
    /// mailbox that could refuse it.
    pub fn stored(&self) -> bool {
        !self.admitted.is_empty() || self.refused.is_empty()
    }
}

/// Applies the rules to a message's mailboxes. `rules` maps a mailbox to its rules;
/// mailboxes not in the map get the default (both). A message without any mailbox is
/// stored (nothing refuses it): the archive keeps what it cannot attribute.
pub fn evaluate(
    mailboxes: &[String],
    internal: bool,
    rules: &BTreeMap<String, MailboxRules>,
) -> Decision {
    let mut admitted = Vec::new();
    let mut refused = Vec::new();
    for mailbox in mailboxes {
        let admits = rules.get(mailbox).is_none_or(|r| r.admits(internal));
        if admits {
            admitted.push(mailbox.clone());
        } else {
            refused.push(mailbox.clone());
        }
    }
    Decision {
        internal,
        admitted,
        refused,
    }
}

/// The rules of each of these mailboxes as the catalog's users and groups set them;
/// mailboxes missing from the answer get the default (both). A catalog that cannot be
/// read gives the default for all (archiving is the safe side) and is logged.
pub async fn rules_from_catalog(
    catalog: &Catalog,
    mailboxes: &[String],
) -> BTreeMap<String, MailboxRules> {
    let set = |rule: &str| rule.parse::<Rule>().ok().filter(|r| *r != Rule::Both);
    match catalog.archiving_rules(mailboxes).await {
        Ok(found) => found
            .into_iter()
            .map(|(mailbox, owner)| {
                let rules = MailboxRules {
                    user: set(&owner.user),
                    groups: owner.groups.iter().filter_map(|g| set(g)).collect(),
                };
                (mailbox, rules)
            })
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "archiving rules unreadable; archiving by default");
            BTreeMap::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains() -> Vec<String> {
        vec!["corp.example".into()]
    }

    #[test]
    fn internal_means_sender_and_all_recipients_local() {
        let d = domains();
        assert!(is_internal(
            Some("a@corp.example"),
            ["b@corp.example", "c@CORP.example"],
            &d
        ));
        assert!(!is_internal(
            Some("a@corp.example"),
            ["b@corp.example", "x@other.org"],
            &d
        ));
        assert!(!is_internal(Some("x@other.org"), ["b@corp.example"], &d));
        assert!(!is_internal(None, ["b@corp.example"], &d));
        assert!(!is_internal(
            Some("a@corp.example.evil"),
            ["b@corp.example"],
            &d
        ));
    }

    #[test]
    fn rule_table() {
        for (rule, internal, external) in [
            (Rule::Both, true, true),
            (Rule::Internal, true, false),
            (Rule::External, false, true),
            (Rule::None, false, false),
        ] {
            assert_eq!(rule.admits(true), internal, "{rule}");
            assert_eq!(rule.admits(false), external, "{rule}");
            assert_eq!(rule.as_str().parse::<Rule>(), Ok(rule));
        }
        assert!("sometimes".parse::<Rule>().is_err());
    }

    #[test]
    fn user_rule_wins_then_any_group_then_both() {
        let user_none = MailboxRules {
            user: Some(Rule::None),
            groups: vec![Rule::Both],
        };
        assert!(!user_none.admits(true));
        let groups = MailboxRules {
            user: None,
            groups: vec![Rule::Internal, Rule::None],
        };
        assert!(groups.admits(true));
        assert!(!groups.admits(false));
        assert!(MailboxRules::default().admits(false));
    }

    #[test]
    fn evaluate_links_only_admitting_mailboxes() {
        let mut rules = BTreeMap::new();
        rules.insert(
            "a@corp.example".to_string(),
            MailboxRules {
                user: Some(Rule::External),
                groups: vec![],
            },
        );
        rules.insert(
            "b@corp.example".to_string(),
            MailboxRules {
                user: Some(Rule::None),
                groups: vec![],
            },
        );
        let mailboxes = vec![
            "a@corp.example".to_string(),
            "b@corp.example".to_string(),
            "c@corp.example".to_string(),
        ];
        let internal = evaluate(&mailboxes, true, &rules);
        assert_eq!(internal.admitted, vec!["c@corp.example"]);
        assert_eq!(internal.refused, vec!["a@corp.example", "b@corp.example"]);
        let external = evaluate(&mailboxes, false, &rules);
        assert_eq!(external.admitted, vec!["a@corp.example", "c@corp.example"]);
        let only_b = evaluate(&["b@corp.example".to_string()], false, &rules);
        assert!(!only_b.stored());
        assert!(evaluate(&[], false, &rules).stored());
    }
}
