//! `coffer domain add|list|remove`: the organisation's own domains — their participants
//! become mailboxes. They live in the catalog (like the API's `/api/v1/domains`), every
//! change audited, through [`LocalAdmin`] (directly, or through a running server).

use std::path::Path;

use anyhow::Result;
use clap::Subcommand;
use coffer_query_api::local::LocalAdmin;

use crate::config::Config;
use crate::output;

/// `coffer domain ...`.
#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Add a local domain (mail of its addresses is assigned to their mailboxes).
    Add {
        /// The domain (`example.com`).
        name: String,
    },
    /// List the local domains.
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a local domain (nothing archived changes).
    Remove {
        /// The domain.
        name: String,
    },
}

/// Runs a domain command.
pub async fn run(data_dir: &Path, command: DomainCommand) -> Result<i32> {
    let config = Config::load(data_dir)?;
    let admin = LocalAdmin::open(
        data_dir,
        config.catalog_url.as_deref(),
        config.keys.signing_key.as_deref(),
        "coffer domain",
    )
    .await?;
    let result = domain(&admin, command).await;
    admin.close().await?;
    result
}

async fn domain(admin: &LocalAdmin, command: DomainCommand) -> Result<i32> {
    match command {
        DomainCommand::Add { name } => {
            let added = admin.add_domain(&name).await?;
            crate::outln!("added {}", added.name);
        }
        DomainCommand::List { json } => {
            let domains = admin.list_domains().await?;
            if json {
                output::print_json(&domains)?;
            } else {
                for d in &domains {
                    crate::outln!(
                        "{:<32} {} mailboxes, since {}",
                        d.name,
                        d.mailboxes,
                        d.created
                    );
                }
            }
        }
        DomainCommand::Remove { name } => {
            admin.delete_domain(&name).await?;
            crate::outln!("removed {}", name.trim());
        }
    }
    Ok(0)
}
