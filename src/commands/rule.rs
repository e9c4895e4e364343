//! `coffer rule ...`: archiving rules of users and groups from the shell (the same
//! settings as `archiving_rule` in the API and in `coffer user import`). A rule decides
//! whose mail is archived, so every change is audited, like `coffer user`'s, through
//! [`LocalAdmin`] (directly, or through a running server's admin socket).

use std::path::Path;

use anyhow::{Result, bail};
use clap::Subcommand;
use coffer_accounts::UserChange;
use coffer_query_api::local::LocalAdmin;

use crate::config::Config;

/// `coffer rule ...`.
#[derive(Debug, Subcommand)]
pub enum RuleCommand {
    /// Set the archiving rule of a user or a group: internal, external, both or none.
    Set {
        /// The user.
        #[arg(long, conflicts_with = "group", required_unless_present = "group")]
        user: Option<String>,
        /// The group.
        #[arg(long)]
        group: Option<String>,
        /// Which journaled mail is archived (both: no restriction).
        #[arg(value_parser = ["internal", "external", "both", "none"])]
        rule: String,
    },
    /// List the users and groups whose rule is not the default.
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a rule command.
pub async fn run(data_dir: &Path, command: RuleCommand) -> Result<i32> {
    let config = Config::load(data_dir)?;
    let admin = LocalAdmin::open(
        data_dir,
        config.catalog_url.as_deref(),
        config.keys.signing_key.as_deref(),
        "coffer rule",
    )
    .await?;
    let result = rule(&admin, command).await;
    admin.close().await?;
    result
}

async fn rule(admin: &LocalAdmin, command: RuleCommand) -> Result<i32> {
    match command {
        RuleCommand::Set { user, group, rule } => {
            match (user, group) {
                (Some(user), None) => {
                    let change = UserChange {
                        archiving_rule: Some(rule),
                        ..UserChange::default()
                    };
                    let updated = admin.update_user(&user, &change).await?;
                    crate::outln!(
                        "user {}: archiving rule {}",
                        updated.username,
                        updated.archiving_rule
                    );
                }
                (None, Some(group)) => {
                    admin.set_group_rule(&group, &rule).await?;
                    crate::outln!("group {}: archiving rule {}", group.trim(), rule.trim());
                }
                _ => bail!("give --user or --group"),
            }
            eprintln!(
                "note: applies to journaled mail received from now on (a running server reads rules per message)"
            );
        }
        RuleCommand::List { json } => {
            let users: Vec<_> = admin
                .list_users()
                .await?
                .into_iter()
                .filter(|u| u.archiving_rule != "both")
                .collect();
            let groups: Vec<_> = admin
                .list_groups()
                .await?
                .into_iter()
                .filter(|g| g.archiving_rule != "both")
                .collect();
            if json {
                let rules: Vec<serde_json::Value> =
                    users
                        .iter()
                        .map(|u| serde_json::json!({"user": u.username, "rule": u.archiving_rule}))
                        .chain(groups.iter().map(
                            |g| serde_json::json!({"group": g.name, "rule": g.archiving_rule}),
                        ))
                        .collect();
                crate::output::print_json(&rules)?;
            } else {
                for user in &users {
                    crate::outln!("user  {:<24} {}", user.username, user.archiving_rule);
                }
                for group in &groups {
                    crate::outln!("group {:<24} {}", group.name, group.archiving_rule);
                }
            }
        }
    }
    Ok(0)
}
