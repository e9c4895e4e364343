//! `coffer user ...` and `coffer token ...`: accounts and journal API tokens from the
//! shell, with the same rules as the HTTP API and an audit entry for every change,
//! through [`LocalAdmin`]: directly when no server runs, through the running server's
//! local admin socket otherwise. The actor is `local:OSUSER`.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use coffer_accounts::{UserChange, UserSpec};
use coffer_query_api::local::LocalAdmin;
use coffer_query_api::views::UserView;

use crate::config::Config;
use crate::output;

/// `coffer user ...`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (password from --password-stdin, else generated and printed once).
    Add(AddArgs),
    /// List users.
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create users from a CSV file: header username,role,password,mailboxes,domains,groups,archiving_rule
    /// (only username and role required; lists ;-separated; empty password = generated).
    Import {
        /// The CSV file.
        file: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable a user (accounts are never deleted); their sessions end.
    Disable {
        /// Login name.
        username: String,
    },
    /// Set a new password (from --password-stdin, else generated and printed once).
    Passwd {
        /// Login name.
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// Arguments of `coffer user add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Login name.
    username: String,
    /// The role.
    #[arg(long, value_parser = ["admin", "officer", "auditor", "user"])]
    role: String,
    /// A mailbox address the user owns (repeatable; role user).
    #[arg(long = "mailbox", value_name = "ADDR")]
    mailboxes: Vec<String>,
    /// A domain in the officer's scope (repeatable; `*` for every domain).
    #[arg(long = "domain", value_name = "DOMAIN")]
    domains: Vec<String>,
    /// A group to join (repeatable; created when missing).
    #[arg(long = "group", value_name = "NAME")]
    groups: Vec<String>,
    /// Which journaled mail is archived for this user (default: both).
    #[arg(long, value_parser = ["internal", "external", "both", "none"])]
    archiving_rule: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// Print the user as JSON.
    #[arg(long)]
    json: bool,
}

/// `coffer token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a journal API token for a mail server (printed once).
    Create {
        /// A name for the token (the audit trail's actor for its submissions).
        #[arg(long)]
        name: String,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List tokens (never their secrets).
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token.
    Revoke {
        /// Its name.
        name: String,
    },
}

/// Opens the data directory for an account change: directly when no server runs, else
/// through the server's admin socket (see [`coffer_query_api::local`]).
async fn admin(data_dir: &Path, holder: &str) -> Result<LocalAdmin> {
    let config = Config::load(data_dir)?;
    Ok(LocalAdmin::open(
        data_dir,
        config.catalog_url.as_deref(),
        config.keys.signing_key.as_deref(),
        holder,
    )
    .await?)
}

fn read_password_line() -> Result<String> {
    if std::io::stdin().is_terminal() {
        eprint!("password: ");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn print_user(user: &UserView) {
    let scope = match user.role.as_str() {
        "user" => user.mailboxes.join(", "),
        "officer" => format!("domains: {}", user.domains.join(", ")),
        _ => "-".into(),
    };
    let state = if user.disabled { " (disabled)" } else { "" };
    println!(
        "{:<24} {:<8} {}{}{}",
        user.username,
        user.role,
        scope,
        state,
        if user.groups.is_empty() {
            String::new()
        } else {
            format!("  groups: {}", user.groups.join(", "))
        }
    );
}

/// Runs a `coffer user` command.
pub async fn run_user(data_dir: &Path, command: UserCommand) -> Result<i32> {
    match command {
        UserCommand::Add(args) => {
            let password = if args.password_stdin {
                Some(read_password_line()?)
            } else {
                None
            };
            let spec = UserSpec {
                username: args.username,
                password,
                role: args.role,
                mailboxes: args.mailboxes,
                domains: args.domains,
                groups: args.groups,
                archiving_rule: args.archiving_rule,
            };
            let admin = admin(data_dir, "coffer user").await?;
            let created = admin.create_user(&spec).await;
            admin.close().await?;
            let created = created?;
            if args.json {
                output::print_json(&created)?;
            } else {
                print_user(&created);
                if let Some(p) = &created.password {
                    println!("password (shown once): {p}");
                }
            }
            Ok(0)
        }
        UserCommand::List { json } => {
            let admin = admin(data_dir, "coffer user").await?;
            let users = admin.list_users().await;
            admin.close().await?;
            let users = users?;
            if json {
                output::print_json(&users)?;
            } else {
                for u in &users {
                    print_user(u);
                }
            }
            Ok(0)
        }
        UserCommand::Import { file, json } => {
            let input =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let admin = admin(data_dir, "coffer user import").await?;
            let report = admin.import_users(input).await;
            admin.close().await?;
            let report = report?;
            if json {
                output::print_json(&report)?;
            } else {
                for c in &report.created {
                    match &c.password {
                        Some(p) => println!(
                            "created {} ({}), password (shown once): {p}",
                            c.username, c.role
                        ),
                        None => println!("created {} ({})", c.username, c.role),
                    }
                }
                for row in &report.errors {
                    eprintln!("{}:{}: {}", file.display(), row.line, row.error);
                }
                println!(
                    "{} user(s) created, {} bad row(s)",
                    report.created.len(),
                    report.errors.len()
                );
            }
            Ok(if report.errors.is_empty() { 0 } else { 1 })
        }
        UserCommand::Disable { username } => {
            let change = UserChange {
                disabled: Some(true),
                ..UserChange::default()
            };
            let admin = admin(data_dir, "coffer user").await?;
            let user = admin.update_user(&username, &change).await;
            admin.close().await?;
            print_user(&user?);
            Ok(0)
        }
        UserCommand::Passwd {
            username,
            password_stdin,
        } => {
            let (password, generated) = if password_stdin {
                let password = read_password_line()?;
                // Refused before anything is opened or recorded.
                coffer_accounts::validate_password(&password)?;
                (password, false)
            } else {
                (coffer_accounts::generate_password(), true)
            };
            let change = UserChange {
                password: Some(password.clone()),
                ..UserChange::default()
            };
            let admin = admin(data_dir, "coffer user").await?;
            let user = admin.update_user(&username, &change).await;
            admin.close().await?;
            let user = user?;
            if generated {
                println!("password of {} (shown once): {password}", user.username);
            } else {
                println!("password of {} changed", user.username);
            }
            Ok(0)
        }
    }
}

/// Runs a `coffer token` command.
pub async fn run_token(data_dir: &Path, command: TokenCommand) -> Result<i32> {
    let admin = admin(data_dir, "coffer token").await?;
    let result = token(&admin, command).await;
    admin.close().await?;
    result
}

async fn token(admin: &LocalAdmin, command: TokenCommand) -> Result<i32> {
    match command {
        TokenCommand::Create { name, json } => {
            let created = admin.create_token(&name).await?;
            if json {
                output::print_json(&created)?;
            } else {
                println!(
                    "journal token {} (shown once; send it as `Authorization: Bearer ...`):",
                    created.name
                );
                println!("{}", created.token.as_deref().unwrap_or_default());
            }
        }
        TokenCommand::List { json } => {
            let tokens = admin.list_tokens().await?;
            if json {
                output::print_json(&tokens)?;
            } else {
                for t in &tokens {
                    let state = if t.revoked { "revoked" } else { "active" };
                    println!(
                        "{:<24} {:<8} {:<8} created {}",
                        t.name, t.role, state, t.created
                    );
                }
            }
        }
        TokenCommand::Revoke { name } => {
            admin.revoke_token(&name).await?;
            println!("revoked {}", name.trim());
        }
    }
    Ok(0)
}
