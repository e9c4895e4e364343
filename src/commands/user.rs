//! `coffer user ...` and `coffer token ...`: accounts and journal API tokens from the
//! shell, with the same rules as the HTTP API (`coffer_query_api::accounts`).
//!
//! These commands need only the catalog, so they work beside a running server (SQLite
//! in WAL mode, or PostgreSQL). Their changes are written to the audit trail when this
//! process can take the data-directory lock (no server running); when a server holds
//! it, the change is applied and a note says it is not in the audit trail — make
//! changes through the API (`/api/v1/users`) to have them audited while serving.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use coffer_accounts::{self as accounts, JOURNAL_PREFIX, PasswordParams, UserChange, UserSpec};
use coffer_audit::{AuditEntry, AuditLog, Outcome, audit_dir};
use coffer_catalog::Catalog;
use coffer_catalog::users::UserRecord;
use coffer_ingest::DataDir;
use coffer_model::Role;
use coffer_volume::{ArchiveKey, DataDirLock, VolumeConfig};
use serde::Serialize;

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
    /// admin, officer, auditor or user.
    #[arg(long)]
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
    /// internal, external, both (default) or none.
    #[arg(long)]
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

/// The audit trail of a command-line change, when this process may write it.
struct CliAudit {
    log: Option<(AuditLog, DataDirLock)>,
}

impl CliAudit {
    async fn open(data_dir: &Path, catalog: Arc<Catalog>, holder: &str) -> Result<Self> {
        let lock = match DataDirLock::acquire(data_dir, holder) {
            Ok(lock) => lock,
            Err(e) => {
                eprintln!(
                    "note: the data directory is in use ({e}); this change is applied but not written to the audit \
                     trail — use the HTTP API (/api/v1/users) to have account changes audited while the server runs"
                );
                return Ok(Self { log: None });
            }
        };
        let keys = data_dir.join("keys");
        let key = tokio::task::spawn_blocking(move || ArchiveKey::load_or_create(&keys))
            .await
            .context("opening the archive key panicked")??
            .0;
        let log =
            AuditLog::open(&audit_dir(data_dir), key, catalog, VolumeConfig::default()).await?;
        Ok(Self {
            log: Some((log, lock)),
        })
    }

    async fn record(
        &self,
        action: &str,
        target: &str,
        outcome: Outcome,
        detail: serde_json::Value,
    ) -> Result<()> {
        if let Some((log, _)) = &self.log {
            log.record(
                AuditEntry::new("cli", action, target, outcome, "local").with_detail(detail),
            )
            .await?;
        }
        Ok(())
    }

    async fn close(self) -> Result<()> {
        if let Some((log, lock)) = self.log {
            tokio::task::spawn_blocking(move || log.checkpoint())
                .await
                .context("checkpoint panicked")??;
            drop(lock);
        }
        Ok(())
    }
}

async fn catalog(data_dir: &Path) -> Result<Arc<Catalog>> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let config = Config::load(data_dir)?;
    Ok(Arc::new(
        DataDir::new(data_dir)
            .open_catalog(config.catalog_url.as_deref())
            .await?,
    ))
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

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn describe(user: &UserRecord) -> serde_json::Value {
    serde_json::json!({ "role": user.role, "mailboxes": user.mailboxes, "domains": user.domains, "groups": user.groups })
}

#[derive(Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    user: &'a UserRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
}

fn print_user(user: &UserRecord) {
    let scope = match user.role {
        Role::User => user.mailboxes.join(", "),
        Role::Officer => format!("domains: {}", user.domains.join(", ")),
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
    let params = PasswordParams::default();
    let catalog = catalog(data_dir).await?;
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
            let audit = CliAudit::open(data_dir, catalog.clone(), "coffer user").await?;
            let created = accounts::create_user(&catalog, &spec, params, now()).await?;
            audit
                .record(
                    "user.create",
                    &created.user.username,
                    Outcome::Success,
                    describe(&created.user),
                )
                .await?;
            audit.close().await?;
            if args.json {
                output::print_json(&Shown {
                    user: &created.user,
                    password: created.generated_password.as_deref(),
                })?;
            } else {
                print_user(&created.user);
                if let Some(p) = &created.generated_password {
                    println!("password (shown once): {p}");
                }
            }
            Ok(0)
        }
        UserCommand::List { json } => {
            let users = catalog.list_users().await?;
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
            let input = std::fs::File::open(&file)
                .with_context(|| format!("opening {}", file.display()))?;
            let audit = CliAudit::open(data_dir, catalog.clone(), "coffer user import").await?;
            let report =
                accounts::import_csv(&catalog, std::io::BufReader::new(input), params, now())
                    .await?;
            for c in &report.created {
                audit
                    .record(
                        "user.create",
                        &c.user.username,
                        Outcome::Success,
                        describe(&c.user),
                    )
                    .await?;
            }
            audit.close().await?;
            if json {
                #[derive(Serialize)]
                struct Row<'a> {
                    line: u64,
                    error: &'a str,
                }
                let created: Vec<Shown<'_>> = report
                    .created
                    .iter()
                    .map(|c| Shown {
                        user: &c.user,
                        password: c.generated_password.as_deref(),
                    })
                    .collect();
                let errors: Vec<Row<'_>> = report
                    .errors
                    .iter()
                    .map(|(line, error)| Row { line: *line, error })
                    .collect();
                output::print_json(&serde_json::json!({ "created": created, "errors": errors }))?;
            } else {
                for c in &report.created {
                    match &c.generated_password {
                        Some(p) => println!(
                            "created {} ({}), password (shown once): {p}",
                            c.user.username, c.user.role
                        ),
                        None => println!("created {} ({})", c.user.username, c.user.role),
                    }
                }
                for (line, error) in &report.errors {
                    eprintln!("{}:{line}: {error}", file.display());
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
            let audit = CliAudit::open(data_dir, catalog.clone(), "coffer user").await?;
            let change = UserChange {
                disabled: Some(true),
                ..UserChange::default()
            };
            let user = accounts::update_user(&catalog, &username, &change, params, now()).await?;
            audit
                .record(
                    "user.update",
                    &user.username,
                    Outcome::Success,
                    serde_json::json!({ "disabled": true }),
                )
                .await?;
            audit.close().await?;
            print_user(&user);
            Ok(0)
        }
        UserCommand::Passwd {
            username,
            password_stdin,
        } => {
            let (password, generated) = if password_stdin {
                (read_password_line()?, false)
            } else {
                (accounts::generate_password(), true)
            };
            let audit = CliAudit::open(data_dir, catalog.clone(), "coffer user").await?;
            let change = UserChange {
                password: Some(password.clone()),
                ..UserChange::default()
            };
            let user = accounts::update_user(&catalog, &username, &change, params, now()).await?;
            let detail = serde_json::json!({ "password_changed": true });
            audit
                .record("user.update", &user.username, Outcome::Success, detail)
                .await?;
            audit.close().await?;
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
    let catalog = catalog(data_dir).await?;
    match command {
        TokenCommand::Create { name, json } => {
            let name = accounts::validate_name("token name", &name)?;
            let audit = CliAudit::open(data_dir, catalog.clone(), "coffer token").await?;
            let (token, hash) = accounts::new_token(JOURNAL_PREFIX);
            let record = catalog
                .create_api_token(&name, &hash, Role::Journal, now())
                .await?;
            audit
                .record(
                    "token.create",
                    &record.name,
                    Outcome::Success,
                    serde_json::json!({ "role": "journal" }),
                )
                .await?;
            audit.close().await?;
            if json {
                output::print_json(
                    &serde_json::json!({ "name": record.name, "role": "journal", "token": token }),
                )?;
            } else {
                println!(
                    "journal token {} (shown once; send it as `Authorization: Bearer ...`):",
                    record.name
                );
                println!("{token}");
            }
            Ok(0)
        }
        TokenCommand::List { json } => {
            let tokens = catalog.list_api_tokens().await?;
            if json {
                output::print_json(&tokens)?;
            } else {
                for t in &tokens {
                    let state = if t.revoked { "revoked" } else { "active" };
                    println!(
                        "{:<24} {:<8} {:<8} created {}",
                        t.name,
                        t.role,
                        state,
                        output::time(t.created)
                    );
                }
            }
            Ok(0)
        }
        TokenCommand::Revoke { name } => {
            let audit = CliAudit::open(data_dir, catalog.clone(), "coffer token").await?;
            if !catalog.revoke_api_token(&name).await? {
                anyhow::bail!("no active token named {name:?}");
            }
            audit
                .record(
                    "token.revoke",
                    name.trim(),
                    Outcome::Success,
                    serde_json::json!({}),
                )
                .await?;
            audit.close().await?;
            println!("revoked {}", name.trim());
            Ok(0)
        }
    }
}
