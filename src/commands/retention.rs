//! `coffer retention policy|assign|unassign|approve|reject|show|report`: retention
//! policies and where they apply, changes that shorten retention and their approval by a
//! second administrator, why one message is kept, and the auditors' report — the same
//! operations as `/api/v1/retention`, through [`LocalAdmin`] (directly, or through a
//! running server), audited as `local:OSUSER`.

use std::path::Path;
use std::str::FromStr;

use anyhow::Result;
use clap::{Args, Subcommand};
use coffer_model::MessageId;
use coffer_query_api::local::LocalAdmin;
use coffer_query_api::views::ChangeView;

use crate::config::Config;
use crate::output;

/// `coffer retention ...`.
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Policies: set (create or change a period), list.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Assign a policy to the default, a domain, a group or a mailbox.
    Assign {
        /// What the policy applies to.
        #[command(flatten)]
        target: TargetArgs,
        /// The policy.
        policy: String,
    },
    /// Remove the assignment of the default, a domain, a group or a mailbox.
    Unassign {
        /// What loses its assignment.
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Approve a proposed change that shortens retention (not its proposer).
    Approve {
        /// The proposal's id (`coffer retention policy list` shows them).
        id: i64,
    },
    /// Reject a proposed change.
    Reject {
        /// The proposal's id.
        id: i64,
    },
    /// Why a message is kept until when: policy, mailbox, holds.
    Show {
        /// The message id (YEAR-SEQ).
        id: String,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Per year and policy: messages kept, held, eligible and disposed; holds in force.
    Report {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `coffer retention policy ...`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Create a policy or change its period (a shortening waits for a second admin).
    Set {
        /// The policy's name.
        name: String,
        /// How long it keeps mail: `90d`, `7y` or `forever`.
        period: String,
    },
    /// Policies, assignments, pending proposals and the history of versions.
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// What a policy is assigned to: exactly one of these.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct TargetArgs {
    /// Everything no other assignment reaches.
    #[arg(long)]
    default: bool,
    /// Every mailbox of a domain.
    #[arg(long, value_name = "DOMAIN")]
    domain: Option<String>,
    /// Every mailbox of the users in a group.
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,
    /// One mailbox.
    #[arg(long, value_name = "ADDR")]
    mailbox: Option<String>,
}

impl TargetArgs {
    fn parts(&self) -> (&'static str, Option<&str>) {
        if let Some(d) = &self.domain {
            ("domain", Some(d))
        } else if let Some(g) = &self.group {
            ("group", Some(g))
        } else if let Some(m) = &self.mailbox {
            ("mailbox", Some(m))
        } else {
            ("default", None)
        }
    }
}

/// Runs a retention command.
pub async fn run(data_dir: &Path, command: RetentionCommand) -> Result<i32> {
    let config = Config::load(data_dir)?;
    let admin = LocalAdmin::open(
        data_dir,
        config.catalog_url.as_deref(),
        config.keys.signing_key.as_deref(),
        "coffer retention",
    )
    .await?;
    let result = retention(&admin, command).await;
    admin.close().await?;
    result
}

fn print_change(change: &ChangeView) {
    match change.proposal {
        Some(id) => crate::outln!(
            "proposed as #{id}: it shortens retention, so a second administrator approves it (coffer retention approve {id})"
        ),
        None => crate::outln!("applied"),
    }
}

async fn retention(admin: &LocalAdmin, command: RetentionCommand) -> Result<i32> {
    match command {
        RetentionCommand::Policy(PolicyCommand::Set { name, period }) => {
            print_change(&admin.set_retention_policy(&name, &period).await?);
        }
        RetentionCommand::Policy(PolicyCommand::List { json }) => {
            let page = admin.retention_policies().await?;
            if json {
                output::print_json(&page)?;
                return Ok(0);
            }
            crate::outln!("policies:");
            for p in &page.policies {
                crate::outln!(
                    "  {:<24} {:<8} v{} ({} {})",
                    p.name,
                    p.period,
                    p.version,
                    p.updated_by,
                    p.updated
                );
            }
            crate::outln!("assignments:");
            for a in &page.assignments {
                let target = if a.kind == "default" {
                    "default".to_string()
                } else {
                    format!("{} {}", a.kind, a.name)
                };
                crate::outln!("  {target:<40} {}", a.policy);
            }
            let pending: Vec<_> = page
                .proposals
                .iter()
                .filter(|p| p.state == "pending")
                .collect();
            if !pending.is_empty() {
                crate::outln!("awaiting approval:");
                for p in pending {
                    crate::outln!(
                        "  #{:<5} {} (proposed by {}, {})",
                        p.id,
                        p.summary,
                        p.proposed_by,
                        p.proposed
                    );
                }
            }
        }
        RetentionCommand::Assign { target, policy } => {
            let (kind, name) = target.parts();
            print_change(&admin.assign_retention(kind, name, Some(&policy)).await?);
        }
        RetentionCommand::Unassign { target } => {
            let (kind, name) = target.parts();
            print_change(&admin.assign_retention(kind, name, None).await?);
        }
        RetentionCommand::Approve { id } => {
            let p = admin.decide_retention(id, true).await?;
            crate::outln!("approved #{}: {}", p.id, p.summary);
        }
        RetentionCommand::Reject { id } => {
            let p = admin.decide_retention(id, false).await?;
            crate::outln!("rejected #{}: {}", p.id, p.summary);
        }
        RetentionCommand::Show { id, json } => {
            let id = MessageId::from_str(&id)?;
            let e = admin.explain_retention(id).await?;
            if json {
                output::print_json(&e)?;
                return Ok(0);
            }
            crate::outln!("message     {}", e.id);
            crate::outln!("counted from {}", e.clock_start);
            match &e.keep_until {
                Some(until) => crate::outln!("kept until  {until}"),
                None => crate::outln!("kept until  for ever"),
            }
            crate::outln!("because     {}", because(&e.because));
            for h in &e.held_by {
                crate::outln!("held by     #{} {}", h.id, h.name);
            }
            crate::outln!(
                "eligible    {}",
                if e.eligible {
                    "yes: a disposition run may remove it"
                } else {
                    "no"
                }
            );
        }
        RetentionCommand::Report { json } => {
            let r = admin.retention_report().await?;
            if json {
                output::print_json(&r)?;
                return Ok(0);
            }
            crate::outln!(
                "{:<6} {:<24} {:>9} {:>9} {:>9} {:>9}  next eligible",
                "year",
                "policy",
                "kept",
                "held",
                "eligible",
                "disposed"
            );
            for l in &r.lines {
                crate::outln!(
                    "{:<6} {:<24} {:>9} {:>9} {:>9} {:>9}  {}",
                    l.year,
                    l.policy,
                    l.kept,
                    l.held,
                    l.eligible,
                    l.disposed,
                    l.next_eligible.as_deref().unwrap_or("-")
                );
            }
            crate::outln!("holds in force: {:?}", r.holds_in_force);
        }
    }
    Ok(0)
}

/// One line for the reason a message is kept.
fn because(value: &serde_json::Value) -> String {
    let get = |k: &str| value.get(k).and_then(|v| v.as_str()).unwrap_or("");
    match get("reason") {
        "policy" => {
            let target = value.get("target").map_or(String::new(), |t| {
                let kind = t.get("kind").and_then(|v| v.as_str()).unwrap_or("");
                match t.get("name").and_then(|v| v.as_str()) {
                    Some(name) => format!("{kind} {name}"),
                    None => kind.to_string(),
                }
            });
            let via = match get("mailbox") {
                "" => String::new(),
                m => format!(", through mailbox {m}"),
            };
            format!(
                "policy {} v{} assigned to {target}{via}",
                get("policy"),
                value.get("version").and_then(|v| v.as_u64()).unwrap_or(0)
            )
        }
        "no_policy" => "no policy applies and there is no default: kept (fail-safe)".into(),
        "unknown_policy" => format!(
            "an assignment names the missing policy {}: kept (fail-safe)",
            get("policy")
        ),
        other => other.to_string(),
    }
}
