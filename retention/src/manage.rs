//! Retention administration over the catalog and the audit trail: policies and their
//! assignments (versioned; a change that shortens retention waits for a second
//! administrator), legal holds (placed and released by officers), why one message is kept
//! ([`RetentionAdmin::explain`]) and the auditors' report ([`RetentionAdmin::report`]).
//!
//! Every change goes through [`coffer_audit::AuditLog::record_then_apply`]: validated
//! first (a refusal is audited), recorded durably, then applied — the change and its
//! entry are one outcome, whoever makes it (API or command line).
//!
//! # What needs a second administrator
//! A change that can make existing mail eligible sooner:
//! - a policy's period made shorter (when the policy is assigned to anything);
//! - an assignment pointed at a shorter policy than the target had — its previous
//!   assignment, or the default policy for a target that had none;
//! - an assignment removed when the target then falls to a shorter default;
//! - the default pointed at a shorter policy.
//!
//! Such a change is stored as a *proposal* and applied only when a different person
//! approves it (the proposer cannot). The first decision on an archive with no policy
//! at all (mail kept for ever, fail-safe) needs no approval: nobody had decided before,
//! and no mail can be destroyed without a disposition run, which needs four eyes itself.
//!
//! # Holds and officers' domains
//! A hold records the domains of the officer who placed it. An officer whose scope is
//! restricted must name custodians, all in their domains (a hold by query alone covers
//! the whole archive); an officer of every domain (`*`) may place any hold. An officer
//! sees the holds whose domains or custodians meet theirs; auditors see every hold.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use coffer_audit::{Actor, AuditLog};
use coffer_catalog::Catalog;
use coffer_catalog::retention::{
    AssignmentRecord, HoldRecord, MessageRetentionRow, NewHold, PolicyRecord, PolicyVersionRecord,
    ProposalRecord,
};
use coffer_index::IndexSet;
use coffer_model::{ErrorCode, MessageFlags, MessageId};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    Decision, Hold, HoldScope, MailboxFacts, MessageFacts, Period, Policy, PolicyBook, Target,
    decide,
};

/// Errors of retention administration.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// The request is malformed or breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// The caller may not do this (proposer approving, hold outside their domains).
    #[error("{0}")]
    Forbidden(String),
    /// No such policy, proposal, hold or message.
    #[error("{0}")]
    NotFound(String),
    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] coffer_catalog::Error),
    /// The audit trail failed (nothing was changed).
    #[error(transparent)]
    Audit(#[from] coffer_audit::Error),
    /// The index failed (evaluating a hold's query).
    #[error(transparent)]
    Index(#[from] coffer_index::Error),
}

impl RetentionError {
    /// The coarse class of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            RetentionError::Invalid(_) => ErrorCode::InvalidInput,
            RetentionError::Forbidden(_) => ErrorCode::Forbidden,
            RetentionError::NotFound(_) => ErrorCode::NotFound,
            RetentionError::Catalog(e) => e.code(),
            RetentionError::Audit(e) if e.code() == ErrorCode::Corruption => ErrorCode::Corruption,
            RetentionError::Audit(_) => ErrorCode::Unavailable,
            RetentionError::Index(e) => e.code(),
        }
    }
}

type Result<T> = std::result::Result<T, RetentionError>;

/// A change to policies or assignments, as proposed and as applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum PolicyChange {
    /// Create a policy or change its period.
    SetPolicy {
        /// Name.
        name: String,
        /// The new period.
        period: Period,
    },
    /// Assign a policy to a target.
    Assign {
        /// What.
        target: Target,
        /// Which policy.
        policy: String,
    },
    /// Remove a target's assignment.
    Unassign {
        /// What.
        target: Target,
    },
}

impl PolicyChange {
    fn summary(&self) -> String {
        match self {
            PolicyChange::SetPolicy { name, period } => format!("policy {name} keeps {period}"),
            PolicyChange::Assign { target, policy } => format!("{target} under policy {policy}"),
            PolicyChange::Unassign { target } => format!("{target} loses its assignment"),
        }
    }

    fn action(&self) -> &'static str {
        match self {
            PolicyChange::SetPolicy { .. } => "retention.policy.set",
            PolicyChange::Assign { .. } => "retention.assign",
            PolicyChange::Unassign { .. } => "retention.unassign",
        }
    }

    fn target_text(&self) -> String {
        match self {
            PolicyChange::SetPolicy { name, .. } => name.clone(),
            PolicyChange::Assign { target, .. } | PolicyChange::Unassign { target } => {
                target.to_string()
            }
        }
    }
}

/// What became of a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ChangeOutcome {
    /// Applied now.
    Applied,
    /// It shortens retention: stored as a proposal for a second administrator.
    Proposed {
        /// The proposal's id.
        proposal: i64,
    },
}

/// Policies, assignments, their history and pending proposals.
#[derive(Debug, Clone)]
pub struct PolicyListing {
    /// Policies in force.
    pub policies: Vec<PolicyRecord>,
    /// Assignments in force.
    pub assignments: Vec<AssignmentRecord>,
    /// Every version of every policy.
    pub versions: Vec<PolicyVersionRecord>,
    /// Every proposal, newest first.
    pub proposals: Vec<ProposalRecord>,
}

/// A new legal hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldSpec {
    /// Name (the matter).
    pub name: String,
    /// Why.
    pub reason: String,
    /// What it covers.
    #[serde(flatten)]
    pub scope: HoldScope,
}

/// A legal hold with its bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldEntry {
    /// The hold as the engine sees it.
    pub hold: Hold,
    /// Why it was placed.
    pub reason: String,
    /// The placing officer's domains.
    pub domains: Vec<String>,
    /// Who placed it.
    pub placed_by: String,
    /// Who released it.
    pub released_by: Option<String>,
    /// Why it was released.
    pub release_reason: Option<String>,
}

/// Why one message is kept until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The message.
    pub id: MessageId,
    /// Its date and the facts the engine used.
    pub facts: MessageFacts,
    /// The verdict.
    pub decision: Decision,
    /// The names of the holds covering it (same order as `decision.held_by`).
    pub hold_names: Vec<String>,
}

/// One line of the retention report: a year and the policy that decides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReportLine {
    /// Volume (receive) year.
    pub year: i32,
    /// The deciding policy (`(none)` when none applies, `(unknown NAME)` for an
    /// assignment naming a missing policy).
    pub policy: String,
    /// Messages kept (not yet expired, or held).
    pub kept: u64,
    /// Of those, held by a legal hold.
    pub held: u64,
    /// Expired and unheld: a disposition run may remove them.
    pub eligible: u64,
    /// Disposed of already.
    pub disposed: u64,
    /// The earliest moment a kept, unheld message becomes eligible (Unix seconds).
    pub next_eligible: Option<i64>,
}

/// The auditors' retention report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// When it was computed (Unix seconds).
    pub generated: i64,
    /// Per year and policy.
    pub lines: Vec<ReportLine>,
    /// Holds in force.
    pub holds_in_force: Vec<i64>,
}

/// Retention administration (see the [module docs](self)).
#[derive(Clone)]
pub struct RetentionAdmin {
    catalog: Arc<Catalog>,
    audit: AuditLog,
    index: Option<Arc<IndexSet>>,
}

impl std::fmt::Debug for RetentionAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetentionAdmin").finish_non_exhaustive()
    }
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Current time in Unix microseconds.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Checks a policy name: 1 to 64 of `a-z 0-9 . _ -`, starting with a letter or digit.
fn policy_name(name: &str) -> Result<String> {
    let name = name.trim().to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(name)
    } else {
        Err(RetentionError::Invalid(format!(
            "policy name {name:?} must be 1 to 64 characters of a-z 0-9 . _ -, starting with a letter or digit"
        )))
    }
}

/// Normalises a target (lowercase names; a mailbox needs an `@`).
fn checked_target(target: &Target) -> Result<Target> {
    let bad = |what: &str, v: &str| RetentionError::Invalid(format!("{what} {v:?} is not valid"));
    Ok(match target {
        Target::Default => Target::Default,
        Target::Domain(d) => {
            let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
            if d.is_empty() || d.contains('@') || d.contains(char::is_whitespace) {
                return Err(bad("domain", &d));
            }
            Target::Domain(d)
        }
        Target::Group(g) => {
            let g = g.trim().to_ascii_lowercase();
            if g.is_empty() {
                return Err(bad("group", &g));
            }
            Target::Group(g)
        }
        Target::Mailbox(m) => {
            let m = m.trim().to_ascii_lowercase();
            if !m.contains('@') || m.contains(char::is_whitespace) {
                return Err(bad("mailbox", &m));
            }
            Target::Mailbox(m)
        }
    })
}

fn target_parts(target: &Target) -> (&'static str, String) {
    match target {
        Target::Default => ("default", String::new()),
        Target::Domain(d) => ("domain", d.clone()),
        Target::Group(g) => ("group", g.clone()),
        Target::Mailbox(m) => ("mailbox", m.clone()),
    }
}

fn target_of(record: &AssignmentRecord) -> Option<Target> {
    Some(match record.target_kind.as_str() {
        "default" => Target::Default,
        "domain" => Target::Domain(record.target.clone()),
        "group" => Target::Group(record.target.clone()),
        "mailbox" => Target::Mailbox(record.target.clone()),
        _ => return None,
    })
}

/// The engine's book from the stored rows. A period that does not parse leaves its
/// policy out, so assignments to it keep mail (unknown policy: fail-safe).
pub fn book_of(policies: &[PolicyRecord], assignments: &[AssignmentRecord]) -> PolicyBook {
    PolicyBook {
        policies: policies
            .iter()
            .filter_map(|p| {
                Some(Policy {
                    name: p.name.clone(),
                    period: p.period.parse().ok()?,
                    version: u32::try_from(p.version).ok()?,
                })
            })
            .collect(),
        assignments: assignments
            .iter()
            .filter_map(|a| {
                Some(crate::Assignment {
                    target: target_of(a)?,
                    policy: a.policy.clone(),
                })
            })
            .collect(),
    }
}

fn entry_of(record: HoldRecord) -> HoldEntry {
    // A scope that does not parse covers everything it could: an empty custodian list
    // and no query or dates would cover nothing, so a damaged row holds all mail.
    let scope: HoldScope = serde_json::from_str(&record.scope).unwrap_or(HoldScope {
        custodians: Vec::new(),
        query: None,
        from: Some(i64::MIN),
        until: None,
    });
    HoldEntry {
        hold: Hold {
            id: record.id,
            name: record.name,
            scope,
            placed_us: record.placed_us,
            released_us: record.released_us,
        },
        reason: record.reason,
        domains: serde_json::from_str(&record.domains).unwrap_or_else(|_| vec!["*".into()]),
        placed_by: record.placed_by,
        released_by: record.released_by,
        release_reason: record.release_reason,
    }
}

fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

impl HoldEntry {
    /// Whether an officer of `domains` (`*`: all) sees this hold.
    pub fn visible_to(&self, domains: &[String]) -> bool {
        if domains.iter().any(|d| d == "*") {
            return true;
        }
        self.domains.iter().any(|d| d == "*" || domains.contains(d))
            || self
                .hold
                .scope
                .custodians
                .iter()
                .any(|c| domains.iter().any(|d| d == domain_of(c)))
    }
}

impl RetentionAdmin {
    /// Administration over `catalog`, recording into `audit`; `index` evaluates holds
    /// defined by a query (without it, such holds are taken to cover every message: the
    /// safe side).
    pub fn new(catalog: Arc<Catalog>, audit: AuditLog, index: Option<Arc<IndexSet>>) -> Self {
        Self {
            catalog,
            audit,
            index,
        }
    }

    /// The policies and assignments in force, as the engine reads them.
    pub async fn book(&self) -> Result<PolicyBook> {
        let policies = self.catalog.retention_policies().await?;
        let assignments = self.catalog.retention_assignments().await?;
        Ok(book_of(&policies, &assignments))
    }

    /// Policies, assignments, versions and proposals.
    pub async fn listing(&self) -> Result<PolicyListing> {
        Ok(PolicyListing {
            policies: self.catalog.retention_policies().await?,
            assignments: self.catalog.retention_assignments().await?,
            versions: self.catalog.retention_policy_versions().await?,
            proposals: self.catalog.retention_proposals().await?,
        })
    }

    /// Validates a change against the book; whether it shortens retention.
    fn check(&self, book: &PolicyBook, change: &PolicyChange) -> Result<(PolicyChange, bool)> {
        let period_of = |name: &str| book.policy(name).map(|p| p.period);
        let assigned_to = |target: &Target| {
            book.assignments
                .iter()
                .find(|a| &a.target == target)
                .map(|a| a.policy.clone())
        };
        let default_period = book.default_assignment().and_then(|a| period_of(&a.policy));
        match change {
            PolicyChange::SetPolicy { name, period } => {
                let name = policy_name(name)?;
                let shorter = match period_of(&name) {
                    Some(old) => {
                        crate::disposition::shortens(&old, period)
                            && book.assignments.iter().any(|a| a.policy == name)
                    }
                    None => false,
                };
                Ok((
                    PolicyChange::SetPolicy {
                        name,
                        period: *period,
                    },
                    shorter,
                ))
            }
            PolicyChange::Assign { target, policy } => {
                let target = checked_target(target)?;
                let policy = policy_name(policy)?;
                let Some(new) = period_of(&policy) else {
                    return Err(RetentionError::NotFound(format!("no policy {policy:?}")));
                };
                let before = match assigned_to(&target) {
                    Some(old) => period_of(&old),
                    None if target == Target::Default => None,
                    None => default_period,
                };
                let shorter = before.is_some_and(|old| crate::disposition::shortens(&old, &new));
                Ok((PolicyChange::Assign { target, policy }, shorter))
            }
            PolicyChange::Unassign { target } => {
                let target = checked_target(target)?;
                let Some(old) = assigned_to(&target) else {
                    return Err(RetentionError::NotFound(format!(
                        "{target} has no assignment"
                    )));
                };
                let after = if target == Target::Default {
                    None
                } else {
                    default_period
                };
                let shorter = match (period_of(&old), after) {
                    (Some(old), Some(after)) => crate::disposition::shortens(&old, &after),
                    _ => false,
                };
                Ok((PolicyChange::Unassign { target }, shorter))
            }
        }
    }

    /// Applies a validated change.
    async fn apply(
        &self,
        change: &PolicyChange,
        by: &str,
        approved_by: Option<&str>,
    ) -> Result<()> {
        let now = now_secs();
        match change {
            PolicyChange::SetPolicy { name, period } => {
                self.catalog
                    .set_retention_policy(name, &period.to_string(), by, approved_by, now)
                    .await?;
            }
            PolicyChange::Assign { target, policy } => {
                let (kind, name) = target_parts(target);
                self.catalog
                    .assign_retention(&AssignmentRecord {
                        target_kind: kind.to_string(),
                        target: name,
                        policy: policy.clone(),
                        assigned: now,
                        assigned_by: approved_by
                            .map_or_else(|| by.to_string(), |a| format!("{by}+{a}")),
                    })
                    .await?;
            }
            PolicyChange::Unassign { target } => {
                let (kind, name) = target_parts(target);
                self.catalog.unassign_retention(kind, &name).await?;
            }
        }
        Ok(())
    }

    /// Makes a change: applied now, or proposed when it shortens retention.
    pub async fn change(&self, actor: &Actor, change: PolicyChange) -> Result<ChangeOutcome> {
        let action = change.action();
        let target = change.target_text();
        let book = self.book().await?;
        let (change, shorter) = match self.check(&book, &change) {
            Ok(checked) => checked,
            Err(e) => return self.audit.refused(actor, action, &target, e).await,
        };
        let detail = serde_json::to_value(&change).unwrap_or_default();
        if shorter {
            let summary = change.summary();
            let text = serde_json::to_string(&change).unwrap_or_default();
            let proposal = self
                .audit
                .record_then_apply(
                    actor,
                    "retention.propose",
                    &target,
                    json!({ "change": detail, "shortens": true }),
                    async {
                        Ok::<_, RetentionError>(
                            self.catalog
                                .create_retention_proposal(&text, &summary, &actor.name, now_secs())
                                .await?,
                        )
                    },
                )
                .await?;
            return Ok(ChangeOutcome::Proposed {
                proposal: proposal.id,
            });
        }
        self.audit
            .record_then_apply(actor, action, &target, detail, async {
                self.apply(&change, &actor.name, None).await
            })
            .await?;
        Ok(ChangeOutcome::Applied)
    }

    /// Approves (`approve`) or rejects a pending proposal; an approved one is applied,
    /// validated again against the policies now in force.
    pub async fn decide(&self, actor: &Actor, id: i64, approve: bool) -> Result<ProposalRecord> {
        let action = if approve {
            "retention.approve"
        } else {
            "retention.reject"
        };
        let target = id.to_string();
        let checked = async {
            let proposal = self
                .catalog
                .retention_proposal(id)
                .await?
                .ok_or_else(|| RetentionError::NotFound(format!("no proposal {id}")))?;
            if proposal.state != "pending" {
                return Err(RetentionError::Invalid(format!(
                    "proposal {id} is {}, not pending",
                    proposal.state
                )));
            }
            if approve && proposal.proposed_by == actor.name {
                return Err(RetentionError::Forbidden(format!(
                    "a change that shortens retention needs a second administrator: {} proposed it and cannot approve it",
                    proposal.proposed_by
                )));
            }
            let change: PolicyChange = serde_json::from_str(&proposal.change).map_err(|e| {
                RetentionError::Invalid(format!("proposal {id} cannot be read: {e}"))
            })?;
            if approve {
                let book = self.book().await?;
                self.check(&book, &change)?;
            }
            Ok((proposal, change))
        };
        let (proposal, change) = match checked.await {
            Ok(x) => x,
            Err(e) => return self.audit.refused(actor, action, &target, e).await,
        };
        let detail = json!({ "change": serde_json::to_value(&change).unwrap_or_default(), "proposed_by": proposal.proposed_by });
        self.audit
            .record_then_apply(actor, action, &target, detail, async {
                let state = if approve { "approved" } else { "rejected" };
                if !self
                    .catalog
                    .decide_retention_proposal(id, state, &actor.name, now_secs())
                    .await?
                {
                    return Err(RetentionError::Invalid(format!(
                        "proposal {id} was decided meanwhile"
                    )));
                }
                if approve {
                    self.apply(&change, &proposal.proposed_by, Some(&actor.name))
                        .await?;
                }
                Ok(())
            })
            .await?;
        self.catalog
            .retention_proposal(id)
            .await?
            .ok_or_else(|| RetentionError::NotFound(format!("no proposal {id}")))
    }

    /// Every hold (released ones included).
    pub async fn holds(&self) -> Result<Vec<HoldEntry>> {
        Ok(self
            .catalog
            .holds()
            .await?
            .into_iter()
            .map(entry_of)
            .collect())
    }

    /// Places a hold for an officer of `domains` (`*`: all).
    pub async fn place_hold(
        &self,
        actor: &Actor,
        spec: HoldSpec,
        domains: &[String],
    ) -> Result<HoldEntry> {
        let target = spec.name.trim().to_string();
        let checked = async {
            let name = spec.name.trim().to_string();
            if name.is_empty() || name.len() > 200 {
                return Err(RetentionError::Invalid(
                    "a hold needs a name of 1 to 200 characters".into(),
                ));
            }
            if spec.reason.trim().is_empty() {
                return Err(RetentionError::Invalid(
                    "a hold needs a reason (the matter, the request)".into(),
                ));
            }
            let mut scope = spec.scope.clone();
            scope.custodians = scope
                .custodians
                .iter()
                .map(|c| c.trim().to_ascii_lowercase())
                .filter(|c| !c.is_empty())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            if let Some(c) = scope.custodians.iter().find(|c| !c.contains('@')) {
                return Err(RetentionError::Invalid(format!(
                    "custodian {c:?} is not a mailbox address"
                )));
            }
            scope.query = scope
                .query
                .map(|q| q.trim().to_string())
                .filter(|q| !q.is_empty());
            if let Some(q) = &scope.query {
                coffer_index::query::parse_query(q)
                    .map_err(|e| RetentionError::Invalid(format!("the hold's query: {e}")))?;
            }
            if let (Some(from), Some(until)) = (scope.from, scope.until)
                && from >= until
            {
                return Err(RetentionError::Invalid(
                    "a hold's date range must end after it starts".into(),
                ));
            }
            if scope.is_empty() {
                return Err(RetentionError::Invalid(
                    "a hold must name custodians, a query or a date range".into(),
                ));
            }
            if !domains.iter().any(|d| d == "*") {
                if scope.custodians.is_empty() {
                    return Err(RetentionError::Forbidden(
                        "an officer of some domains must name the custodians of the hold".into(),
                    ));
                }
                if let Some(c) = scope
                    .custodians
                    .iter()
                    .find(|c| !domains.iter().any(|d| d == domain_of(c)))
                {
                    return Err(RetentionError::Forbidden(format!(
                        "custodian {c} is outside your domains"
                    )));
                }
            }
            Ok((name, scope))
        };
        let (name, scope) = match checked.await {
            Ok(x) => x,
            Err(e) => return self.audit.refused(actor, "hold.place", &target, e).await,
        };
        let new = NewHold {
            name: name.clone(),
            reason: spec.reason.trim().to_string(),
            scope: serde_json::to_string(&scope).unwrap_or_default(),
            domains: serde_json::to_string(domains).unwrap_or_default(),
            placed_by: actor.name.clone(),
            placed_us: now_us(),
        };
        let detail = json!({ "scope": scope, "domains": domains });
        let record = self
            .audit
            .record_then_apply(actor, "hold.place", &name, detail, async {
                Ok::<_, RetentionError>(self.catalog.create_hold(&new).await?)
            })
            .await?;
        Ok(entry_of(record))
    }

    /// Releases a hold in force, for an officer of `domains`.
    pub async fn release_hold(
        &self,
        actor: &Actor,
        id: i64,
        reason: &str,
        domains: &[String],
    ) -> Result<HoldEntry> {
        let target = id.to_string();
        let checked = async {
            let hold = self
                .catalog
                .hold(id)
                .await?
                .map(entry_of)
                .filter(|h| h.visible_to(domains))
                .ok_or_else(|| RetentionError::NotFound(format!("no hold {id}")))?;
            if hold.hold.released_us.is_some() {
                return Err(RetentionError::Invalid(format!(
                    "hold {id} is released already"
                )));
            }
            if reason.trim().is_empty() {
                return Err(RetentionError::Invalid("a release needs a reason".into()));
            }
            Ok(hold)
        };
        let hold = match checked.await {
            Ok(h) => h,
            Err(e) => return self.audit.refused(actor, "hold.release", &target, e).await,
        };
        let detail = json!({ "name": hold.hold.name, "reason": reason.trim() });
        self.audit
            .record_then_apply(actor, "hold.release", &target, detail, async {
                if self
                    .catalog
                    .release_hold(id, &actor.name, now_us(), reason.trim())
                    .await?
                {
                    Ok(())
                } else {
                    Err(RetentionError::Invalid(format!(
                        "hold {id} was released meanwhile"
                    )))
                }
            })
            .await?;
        self.catalog
            .hold(id)
            .await?
            .map(entry_of)
            .ok_or_else(|| RetentionError::NotFound(format!("no hold {id}")))
    }

    /// The messages each query hold in force covers by its query (`None`: could not be
    /// evaluated — no index — so the hold is taken to match every message).
    async fn query_matches(
        &self,
        holds: &[Hold],
        now_us: i64,
    ) -> Result<BTreeMap<i64, Option<BTreeSet<MessageId>>>> {
        let mut out = BTreeMap::new();
        for hold in holds.iter().filter(|h| h.in_force(now_us)) {
            let Some(query) = hold.scope.query.clone() else {
                continue;
            };
            let matched = match &self.index {
                Some(index) => {
                    let index = Arc::clone(index);
                    let ids = tokio::task::spawn_blocking(move || index.matching_ids(&query))
                        .await
                        .map_err(|e| RetentionError::Invalid(format!("hold query task: {e}")))??;
                    Some(ids)
                }
                None => None,
            };
            out.insert(hold.id, matched);
        }
        Ok(out)
    }

    /// The engine's facts for a catalog row.
    async fn facts(&self, rows: &[MessageRetentionRow]) -> Result<Vec<MessageFacts>> {
        let mut addresses: Vec<String> = rows
            .iter()
            .flat_map(|r| r.mailboxes.iter().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        addresses.sort();
        let groups = self.catalog.groups_of_mailboxes(&addresses).await?;
        Ok(rows
            .iter()
            .map(|r| MessageFacts {
                date: r.date,
                date_unreliable: r.flags & i64::from(MessageFlags::DATE_UNRELIABLE.0) != 0,
                received: r.received,
                mailboxes: r
                    .mailboxes
                    .iter()
                    .map(|m| MailboxFacts {
                        address: m.clone(),
                        domain: domain_of(m).to_string(),
                        groups: groups.get(m).cloned().unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect())
    }

    /// Why message `id` is kept until when, at `now_us`.
    pub async fn explain(&self, id: MessageId, now_us: i64) -> Result<Option<Explanation>> {
        let Some(row) = self.catalog.retention_row(id).await? else {
            return Ok(None);
        };
        let book = self.book().await?;
        let holds: Vec<Hold> = self.holds().await?.into_iter().map(|h| h.hold).collect();
        let matches = self.query_matches(&holds, now_us).await?;
        let facts = self
            .facts(std::slice::from_ref(&row))
            .await?
            .pop()
            .ok_or_else(|| RetentionError::NotFound(format!("no message {id}")))?;
        let decision = decide(&facts, &book, &holds, now_us, |h| {
            matches
                .get(&h.id)
                .is_none_or(|m| m.as_ref().is_none_or(|ids| ids.contains(&id)))
        });
        let hold_names = decision
            .held_by
            .iter()
            .filter_map(|h| holds.iter().find(|x| x.id == *h).map(|x| x.name.clone()))
            .collect();
        Ok(Some(Explanation {
            id,
            facts,
            decision,
            hold_names,
        }))
    }

    /// Decides every message of `years` at `now_us`, page by page, calling `each`.
    pub async fn decide_all(
        &self,
        years: &[i32],
        now_us: i64,
        mut each: impl FnMut(MessageId, &Decision),
    ) -> Result<Vec<i64>> {
        const PAGE: u64 = 2_000;
        let book = self.book().await?;
        let holds: Vec<Hold> = self.holds().await?.into_iter().map(|h| h.hold).collect();
        let matches = self.query_matches(&holds, now_us).await?;
        for &year in years {
            let mut after = 0;
            loop {
                let rows = self.catalog.retention_rows(year, after, PAGE).await?;
                let Some(last) = rows.last() else {
                    break;
                };
                after = last.id.seq;
                let facts = self.facts(&rows).await?;
                for (row, facts) in rows.iter().zip(&facts) {
                    let decision = decide(facts, &book, &holds, now_us, |h| {
                        matches
                            .get(&h.id)
                            .is_none_or(|m| m.as_ref().is_none_or(|ids| ids.contains(&row.id)))
                    });
                    each(row.id, &decision);
                }
            }
        }
        let mut in_force: Vec<i64> = holds
            .iter()
            .filter(|h| h.in_force(now_us))
            .map(|h| h.id)
            .collect();
        in_force.sort_unstable();
        Ok(in_force)
    }

    /// The auditors' report at `now_us`.
    pub async fn report(&self, now_us: i64) -> Result<Report> {
        let mut years: Vec<i32> = self.catalog.message_counts().await?.into_keys().collect();
        years.sort_unstable();
        let mut lines: BTreeMap<(i32, String), ReportLine> = BTreeMap::new();
        let holds_in_force = self
            .decide_all(&years, now_us, |id, decision| {
                let policy = match &decision.because {
                    crate::KeptBecause::Policy { policy, .. } => policy.clone(),
                    crate::KeptBecause::NoPolicy => "(none)".to_string(),
                    crate::KeptBecause::UnknownPolicy { policy, .. } => {
                        format!("(unknown {policy})")
                    }
                };
                let line = lines
                    .entry((id.year, policy.clone()))
                    .or_insert_with(|| ReportLine {
                        year: id.year,
                        policy,
                        ..ReportLine::default()
                    });
                if decision.eligible {
                    line.eligible += 1;
                } else {
                    line.kept += 1;
                    if !decision.held_by.is_empty() {
                        line.held += 1;
                    } else if let Some(until) = decision.keep_until {
                        line.next_eligible =
                            Some(line.next_eligible.map_or(until, |n: i64| n.min(until)));
                    }
                }
            })
            .await?;
        // Disposed messages are no longer in the catalog: their counts come from the
        // certificates of the runs that disposed of them.
        for run in self.catalog.disposition_runs().await? {
            let Some(cert) = run
                .certificate
                .as_deref()
                .filter(|_| run.state == "executed" || run.state == "executing")
                .and_then(|c| serde_json::from_str::<crate::runs::Certificate>(c).ok())
            else {
                continue;
            };
            for c in cert.counts {
                let line = lines
                    .entry((c.year, c.policy.clone()))
                    .or_insert_with(|| ReportLine {
                        year: c.year,
                        policy: c.policy,
                        ..ReportLine::default()
                    });
                line.disposed += c.messages;
            }
        }
        Ok(Report {
            generated: now_us.div_euclid(1_000_000),
            lines: lines.into_values().collect(),
            holds_in_force,
        })
    }
}
