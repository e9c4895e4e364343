//! Archiving rules from the accounts in the catalog, for the archive writer
//! ([`coffer_ingest::archive::RuleSource`]; `coffer serve` installs it).
//!
//! A mailbox's rules are those of the user owning it and of that user's groups. The
//! stored value `both` is the default and means "no restriction set": on a user it
//! defers to the groups, on a group it adds nothing. So `none` on a user excludes their
//! journaled mail; `none` on a group excludes it for members whose own rule is the
//! default, unless another of their groups admits it. A mailbox no user owns, or a
//! catalog that cannot be read, gets the default: archive (the safe side for an archive;
//! the failure is logged).

use std::collections::BTreeMap;
use std::sync::Arc;

use coffer_catalog::Catalog;
use coffer_ingest::archive::RuleSource;
use coffer_ingest::rules::{MailboxRules, Rule};

/// Rules read from the catalog's users and groups.
#[derive(Debug)]
pub struct CatalogRules {
    catalog: Arc<Catalog>,
    runtime: tokio::runtime::Handle,
}

impl CatalogRules {
    /// Rules from `catalog`; queries run on `runtime` (the archive calls from blocking
    /// threads).
    pub fn new(catalog: Arc<Catalog>, runtime: tokio::runtime::Handle) -> Self {
        Self { catalog, runtime }
    }
}

fn set(rule: &str) -> Option<Rule> {
    rule.parse::<Rule>().ok().filter(|r| *r != Rule::Both)
}

impl RuleSource for CatalogRules {
    fn rules_for(&self, mailboxes: &[String]) -> BTreeMap<String, MailboxRules> {
        match self
            .runtime
            .block_on(self.catalog.archiving_rules(mailboxes))
        {
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
}
