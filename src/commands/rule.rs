//! `coffer rule ...`: archiving rules of users and groups from the shell (the same
//! settings as `archiving_rule` in the API and in `coffer user import`).
//!
//! Like `coffer user`, this needs only the catalog and works beside a running server.

use std::path::Path;

use anyhow::{Result, bail};
use clap::Subcommand;
use coffer_accounts::validate_rule;
use coffer_catalog::users::UserUpdate;
use coffer_ingest::DataDir;

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
        /// internal, external, both (default: no restriction) or none.
        rule: String,
    },
    /// List the users and groups whose rule is not the default.
    List,
}

/// Runs a rule command.
pub async fn run(data_dir: &Path, command: RuleCommand) -> Result<i32> {
    let config = Config::load(data_dir)?;
    let catalog = DataDir::new(data_dir)
        .open_catalog(config.catalog_url.as_deref())
        .await?;
    match command {
        RuleCommand::Set { user, group, rule } => {
            let rule = validate_rule(&rule)?;
            match (user, group) {
                (Some(user), None) => {
                    let update = UserUpdate {
                        archiving_rule: Some(rule.clone()),
                        ..UserUpdate::default()
                    };
                    catalog
                        .update_user(&user, &update, chrono::Utc::now().timestamp())
                        .await?;
                    crate::outln!("user {user}: archiving rule {rule}");
                }
                (None, Some(group)) => {
                    if !catalog.set_group_rule(&group, &rule).await? {
                        bail!(
                            "no group {group:?} (create it with the API or `coffer user add --group`)"
                        );
                    }
                    crate::outln!("group {group}: archiving rule {rule}");
                }
                _ => bail!("give --user or --group"),
            }
            eprintln!(
                "note: applies to journaled mail received from now on (a running server reads rules per message)"
            );
        }
        RuleCommand::List => {
            for user in catalog.list_users().await? {
                if user.archiving_rule != "both" {
                    crate::outln!("user  {:<24} {}", user.username, user.archiving_rule);
                }
            }
            for group in catalog.list_groups().await? {
                if group.archiving_rule != "both" {
                    crate::outln!("group {:<24} {}", group.name, group.archiving_rule);
                }
            }
        }
    }
    catalog.close().await;
    Ok(0)
}
